/*-------------------------------------------------------------------------
 *
 * chain.c
 *	  The registry's hash chain (链式存证): the canonical payload of a
 *	  journal row and its SHA-256 chain hash, the chain heads (the append
 *	  trigger's body and the heads of every account), and the verification
 *	  of the chains, the account heads and the day seals.
 *
 * Every journal row carries seq (1, 2, 3 ... per account), prev_hash (the
 * hash of the account's previous entry, 32 zero bytes for the first) and
 * hash = SHA-256(prev_hash || UTF-8 canonical payload).  The head of each
 * chain (head_seq, head_hash) lives in the account row, so appending an
 * entry locks nothing but that one account row.  This file is the one
 * owner of the heads: the journal_chain trigger (a thin wrapper in
 * src/registry.c) appends through chain_append(), and the posting engine
 * (src/posting.c) tells it what it locked and when a posting's heads are
 * written after its legs (chain_defer_*, src/chain.h).  Data flows one
 * way, SQL function -> posting -> chain: this file calls nothing of the
 * posting engine's.  The payload format is described at
 * journal_payload_build() and in doc/registry.md, "The journal hash chain".
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/chain.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

#if PG_VERSION_NUM >= 140000
#include "common/cryptohash.h"
#endif
#include "common/sha2.h"
#ifdef USE_OPENSSL
#include <openssl/evp.h>
#endif

#include "carbonmkt.h"
#include "chain.h"

/* SQLSTATE of the registry room (doc/registry.md) */
#define ERRCODE_CARBONMKT_UNKNOWN_ACCOUNT		MAKE_SQLSTATE('C','M','0','0','1')

#define VERIFY_BATCH_ROWS		1000

PG_FUNCTION_INFO_V1(journal_payload);
PG_FUNCTION_INFO_V1(journal_hash);
PG_FUNCTION_INFO_V1(verify_chains);
PG_FUNCTION_INFO_V1(verify_chains_since);

/* ----------------------------------------------------------------
 *		SHA-256
 * ----------------------------------------------------------------
 */

/*
 * chain_sha_create, chain_sha_restart, chain_sha_update, chain_sha_final,
 * chain_sha_free
 *		One SHA-256 digest computed piecewise, with a context that may be
 *		started again for the next digest (chain.h).
 *
 * With OpenSSL 3 the context is OpenSSL's own, started again with a digest
 * implementation fetched once per backend: pg_cryptohash_init() passes
 * EVP_sha256(), which makes OpenSSL fetch the implementation from its
 * provider store (under a lock) at every start, a cost per journal row for
 * the verification pass.  The context is freed by chain_sha_free() or,
 * after an error, when the memory context it was created in goes away.
 */
#if defined(USE_OPENSSL) && OPENSSL_VERSION_NUMBER >= 0x30000000L
#define CHAIN_SHA_EVP 1
#endif

struct ChainSha
{
#ifdef CHAIN_SHA_EVP
	EVP_MD_CTX *evp;
	MemoryContextCallback cb;
#elif PG_VERSION_NUM >= 140000
	pg_cryptohash_ctx *ctx;
#else
	pg_sha256_ctx ctx;
#endif
};

static void
chain_sha_fail(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("could not compute SHA-256 hash")));
}

#ifdef CHAIN_SHA_EVP
static EVP_MD *chain_sha_md = NULL;

static void
chain_sha_release(void *arg)
{
	ChainSha   *sha = (ChainSha *) arg;

	if (sha->evp != NULL)
		EVP_MD_CTX_free(sha->evp);
	sha->evp = NULL;
}
#endif

ChainSha *
chain_sha_create(void)
{
	ChainSha   *sha = palloc0(sizeof(ChainSha));

#ifdef CHAIN_SHA_EVP
	if (chain_sha_md == NULL)
	{
		chain_sha_md = EVP_MD_fetch(NULL, "SHA256", NULL);
		if (chain_sha_md == NULL)
			chain_sha_fail();
	}
	sha->evp = EVP_MD_CTX_new();
	if (sha->evp == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	sha->cb.func = chain_sha_release;
	sha->cb.arg = sha;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &sha->cb);
#elif PG_VERSION_NUM >= 140000
	sha->ctx = pg_cryptohash_create(PG_SHA256);
	if (sha->ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
#endif
	chain_sha_restart(sha);
	return sha;
}

void
chain_sha_restart(ChainSha *sha)
{
#ifdef CHAIN_SHA_EVP
	if (EVP_DigestInit_ex2(sha->evp, chain_sha_md, NULL) != 1)
		chain_sha_fail();
#elif PG_VERSION_NUM >= 140000
	if (pg_cryptohash_init(sha->ctx) < 0)
		chain_sha_fail();
#else
	pg_sha256_init(&sha->ctx);
#endif
}

void
chain_sha_update(ChainSha *sha, const void *data, size_t len)
{
#ifdef CHAIN_SHA_EVP
	if (EVP_DigestUpdate(sha->evp, data, len) != 1)
		chain_sha_fail();
#elif PG_VERSION_NUM >= 140000
	if (pg_cryptohash_update(sha->ctx, (const uint8 *) data, len) < 0)
		chain_sha_fail();
#else
	pg_sha256_update(&sha->ctx, (const uint8 *) data, len);
#endif
}

void
chain_sha_final(ChainSha *sha, uint8 *out)
{
#ifdef CHAIN_SHA_EVP
	if (EVP_DigestFinal_ex(sha->evp, out, NULL) != 1)
		chain_sha_fail();
#elif PG_VERSION_NUM >= 140000
	if (pg_cryptohash_final(sha->ctx, out, CHAIN_HASH_LEN) < 0)
		chain_sha_fail();
#else
	pg_sha256_final(&sha->ctx, out);
#endif
}

/* The struct itself stays until its memory context goes (the callback reads it). */
void
chain_sha_free(ChainSha *sha)
{
#ifdef CHAIN_SHA_EVP
	chain_sha_release(sha);
#elif PG_VERSION_NUM >= 140000
	pg_cryptohash_free(sha->ctx);
	sha->ctx = NULL;
#endif
}

/*
 * chain_sha256
 *		out = SHA-256(a || b).  out must have room for CHAIN_HASH_LEN bytes.
 *		With OpenSSL 3, one context kept for the backend's life serves every
 *		call (a journal row's hash, twice per transfer).
 */
void
chain_sha256(const uint8 *a, size_t alen, const uint8 *b, size_t blen,
			 uint8 *out)
{
#ifdef CHAIN_SHA_EVP
	static ChainSha *sha = NULL;

	if (sha == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		sha = chain_sha_create();
		MemoryContextSwitchTo(oldcxt);
	}
	else
		chain_sha_restart(sha);
	chain_sha_update(sha, a, alen);
	chain_sha_update(sha, b, blen);
	chain_sha_final(sha, out);
#elif PG_VERSION_NUM >= 140000
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, a, alen) < 0 ||
		pg_cryptohash_update(ctx, b, blen) < 0 ||
		pg_cryptohash_final(ctx, out, CHAIN_HASH_LEN) < 0)
	{
#if PG_VERSION_NUM >= 150000
		const char *msg = pg_cryptohash_error(ctx);
#else
		const char *msg = "cryptohash failure";
#endif

		pg_cryptohash_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256 hash: %s", msg)));
	}
	pg_cryptohash_free(ctx);
#else
	pg_sha256_ctx ctx;

	pg_sha256_init(&ctx);
	pg_sha256_update(&ctx, a, alen);
	pg_sha256_update(&ctx, b, blen);
	pg_sha256_final(&ctx, out);
#endif
}

/*
 * chain_hex_text
 *		"\x" followed by the lower-case hex digits of len bytes, palloc'd.
 */
char *
chain_hex_text(const uint8 *bytes, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char	   *result = palloc(len * 2 + 3);
	char	   *p = result;

	*p++ = '\\';
	*p++ = 'x';
	for (size_t i = 0; i < len; i++)
	{
		*p++ = digits[bytes[i] >> 4];
		*p++ = digits[bytes[i] & 0x0F];
	}
	*p = '\0';
	return result;
}

/* ----------------------------------------------------------------
 *		Canonical payload of a journal row
 * ----------------------------------------------------------------
 */

/* The fields of the payload, in payload order. */
static const char *const payload_fields[] = {
	"entry_id", "posting_id", "account_id", "seq", "kind", "instrument",
	"vintage", "project", "block", "amount", "held_change", "balance_after",
	"held_after", "counterparty", "hold_id", "period", "business_date",
	"recorded_at", "memo"
};

#define PAYLOAD_NFIELDS lengthof(payload_fields)

StaticAssertDecl(lengthof(payload_fields) == CHAIN_PAYLOAD_NFIELDS,
				 "payload_fields and CHAIN_PAYLOAD_NFIELDS disagree");


/*
 * chain_journal_attnum
 *		The attribute number of a journal column, or ERROR 42703.
 */
int
chain_journal_attnum(TupleDesc tupdesc, const char *name)
{
	int			attnum = SPI_fnumber(tupdesc, name);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("journal row has no column \"%s\"", name)));
	return attnum;
}

/*
 * chain_layout_init
 *		Fill *layout for rows of tupdesc; output functions live in cxt.
 */
void
chain_layout_init(JournalLayout *layout, TupleDesc tupdesc, MemoryContext cxt)
{
	for (int i = 0; i < PAYLOAD_NFIELDS; i++)
	{
		int			attnum = chain_journal_attnum(tupdesc, payload_fields[i]);
		Oid			typid = TupleDescAttr(tupdesc, attnum - 1)->atttypid;

		layout->attnums[i] = attnum;
		layout->typids[i] = typid;
		switch (typid)
		{
			case INT8OID:
			case INT4OID:
			case TEXTOID:
			case DATEOID:
			case TIMESTAMPTZOID:
				break;
			default:
				{
					Oid			outfunc;
					bool		isvarlena;

					getTypeOutputInfo(typid, &outfunc, &isvarlena);
					fmgr_info_cxt(outfunc, &layout->outfuncs[i], cxt);
				}
				break;
		}
	}
	layout->entry_id_att = chain_journal_attnum(tupdesc, "entry_id");
	layout->posting_id_att = chain_journal_attnum(tupdesc, "posting_id");
	layout->account_id_att = chain_journal_attnum(tupdesc, "account_id");
	layout->kind_att = chain_journal_attnum(tupdesc, "kind");
	layout->seq_att = chain_journal_attnum(tupdesc, "seq");
	layout->prev_hash_att = chain_journal_attnum(tupdesc, "prev_hash");
	layout->hash_att = chain_journal_attnum(tupdesc, "hash");
}

/*
 * format_date
 *		YYYY-MM-DD (proleptic Gregorian, at least four year digits), whatever
 *		DateStyle says.  Dates before 0001-01-01 get " BC" as in ISO output.
 */
static void
format_date(char *buf, size_t size, DateADT date)
{
	int			year,
				month,
				day;

	if (DATE_IS_NOBEGIN(date))
		snprintf(buf, size, "-infinity");
	else if (DATE_IS_NOEND(date))
		snprintf(buf, size, "infinity");
	else
	{
		j2date(date + POSTGRES_EPOCH_JDATE, &year, &month, &day);
		if (year > 0 && year <= 9999 && size > 10)
		{
			/* "%04d-%02d-%02d" without snprintf: once per journal row */
			buf[0] = '0' + year / 1000;
			buf[1] = '0' + year / 100 % 10;
			buf[2] = '0' + year / 10 % 10;
			buf[3] = '0' + year % 10;
			buf[4] = '-';
			buf[5] = '0' + month / 10;
			buf[6] = '0' + month % 10;
			buf[7] = '-';
			buf[8] = '0' + day / 10;
			buf[9] = '0' + day % 10;
			buf[10] = '\0';
		}
		else if (year > 0)
			snprintf(buf, size, "%04d-%02d-%02d", year, month, day);
		else
			snprintf(buf, size, "%04d-%02d-%02d BC", 1 - year, month, day);
	}
}

/*
 * format_epoch_usec
 *		Microseconds since 1970-01-01 00:00:00 UTC, whatever TimeZone says.
 */
static void
format_epoch_usec(char *buf, size_t size, TimestampTz ts)
{
	const int64 offset = (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;

	if (TIMESTAMP_IS_NOBEGIN(ts))
		snprintf(buf, size, "-infinity");
	else if (TIMESTAMP_IS_NOEND(ts))
		snprintf(buf, size, "infinity");
	else if (ts >= 0 && size > MAXINT8LEN)
		buf[pg_ulltoa_n((uint64) ts + (uint64) offset, buf)] = '\0';
	else if (ts >= 0)
		snprintf(buf, size, UINT64_FORMAT, (uint64) ts + (uint64) offset);
	else
		snprintf(buf, size, INT64_FORMAT, ts + offset);
}

/*
 * journal_payload_build
 *		Append the canonical payload of a journal row (deformed into
 *		values/isnull, indexed by attnum - 1) to buf, in the server encoding.
 *
 *		For each field of payload_fields, in order, one line
 *			<field>=<n>:<value>\n		or, for NULL,	<field>=\N\n
 *		where value is: integers in decimal; text (project, memo) as stored;
 *		business_date as YYYY-MM-DD; recorded_at as Unix-epoch microseconds
 *		in decimal; anything else (the enums kind and instrument, the ccer
 *		block) by its type's output function.  n is the length in bytes of
 *		the UTF-8 encoding of value.
 */
static void
journal_payload_build(StringInfo buf, const JournalLayout *layout,
					  const Datum *values, const bool *isnull)
{
	static int	field_len[PAYLOAD_NFIELDS];

	if (field_len[0] == 0)
		for (int i = 0; i < PAYLOAD_NFIELDS; i++)
			field_len[i] = strlen(payload_fields[i]);

	for (int i = 0; i < PAYLOAD_NFIELDS; i++)
	{
		int			att = layout->attnums[i] - 1;
		Datum		value = values[att];
		char		numbuf[64];
		const char *str;
		int			len;
		const char *utf8;
		int			utf8len;
		char	   *p;

		if (isnull[att])
		{
			enlargeStringInfo(buf, field_len[i] + 4);
			p = buf->data + buf->len;
			memcpy(p, payload_fields[i], field_len[i]);
			memcpy(p + field_len[i], "=\\N\n", 4);
			buf->len += field_len[i] + 4;
			buf->data[buf->len] = '\0';
			continue;
		}

		switch (layout->typids[i])
		{
			case INT8OID:
				len = pg_lltoa(DatumGetInt64(value), numbuf);
				str = numbuf;
				break;
			case INT4OID:
				len = pg_ltoa(DatumGetInt32(value), numbuf);
				str = numbuf;
				break;
			case TEXTOID:
				{
					text	   *t = DatumGetTextPP(value);

					str = VARDATA_ANY(t);
					len = VARSIZE_ANY_EXHDR(t);
				}
				break;
			case DATEOID:
				format_date(numbuf, sizeof(numbuf), DatumGetDateADT(value));
				str = numbuf;
				len = strlen(str);
				break;
			case TIMESTAMPTZOID:
				format_epoch_usec(numbuf, sizeof(numbuf), DatumGetTimestampTz(value));
				str = numbuf;
				len = strlen(str);
				break;
			default:
				str = OutputFunctionCall((FmgrInfo *) &layout->outfuncs[i], value);
				len = strlen(str);
				break;
		}

		utf8 = pg_server_to_any(str, len, PG_UTF8);
		utf8len = (utf8 == str) ? len : (int) strlen(utf8);

		/* <field>=<utf8len>:<value>\n, room made once */
		enlargeStringInfo(buf, field_len[i] + 1 + MAXINT8LEN + 1 + len + 1);
		p = buf->data + buf->len;
		memcpy(p, payload_fields[i], field_len[i]);
		p += field_len[i];
		*p++ = '=';
		p += pg_ltoa(utf8len, p);
		*p++ = ':';
		memcpy(p, str, len);
		p += len;
		*p++ = '\n';
		*p = '\0';
		buf->len = p - buf->data;
	}
}

/*
 * chain_entry_hash
 *		out = SHA-256(prev || UTF-8 payload of the row).
 */
void
chain_entry_hash(const JournalLayout *layout, const Datum *values,
				 const bool *isnull, const uint8 *prev, size_t prevlen,
				 uint8 *out)
{
	StringInfoData buf;
	const char *utf8;
	size_t		utf8len;

	initStringInfo(&buf);
	journal_payload_build(&buf, layout, values, isnull);
	utf8 = pg_server_to_any(buf.data, buf.len, PG_UTF8);
	utf8len = (utf8 == buf.data) ? (size_t) buf.len : strlen(utf8);
	chain_sha256(prev, prevlen, (const uint8 *) utf8, utf8len, out);
	if (utf8 != buf.data)
		pfree((char *) utf8);
	pfree(buf.data);
}

/*
 * chain_entry_payload
 *		Append the canonical payload of a row to buf, in the server encoding
 *		(for callers that hash many rows with one SHA-256 context).
 */
void
chain_entry_payload(StringInfo buf, const JournalLayout *layout,
					const Datum *values, const bool *isnull)
{
	journal_payload_build(buf, layout, values, isnull);
}

/*
 * deform_journal_arg
 *		Deform a carbonmkt.journal composite argument; sets up *layout.
 */
static void
deform_journal_arg(HeapTupleHeader rec, JournalLayout *layout,
				   Datum **values, bool **isnull)
{
	TupleDesc	tupdesc;
	HeapTupleData tuple;

	tupdesc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(rec),
									 HeapTupleHeaderGetTypMod(rec));
	tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = rec;

	chain_layout_init(layout, tupdesc, CurrentMemoryContext);
	*values = palloc(tupdesc->natts * sizeof(Datum));
	*isnull = palloc(tupdesc->natts * sizeof(bool));
	heap_deform_tuple(&tuple, tupdesc, *values, *isnull);
	ReleaseTupleDesc(tupdesc);
}

/*
 * journal_payload(carbonmkt.journal) -> text
 */
Datum
journal_payload(PG_FUNCTION_ARGS)
{
	JournalLayout layout;
	Datum	   *values;
	bool	   *isnull;
	StringInfoData buf;

	deform_journal_arg(PG_GETARG_HEAPTUPLEHEADER(0), &layout, &values, &isnull);
	initStringInfo(&buf);
	journal_payload_build(&buf, &layout, values, isnull);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/*
 * journal_hash(prev bytea, carbonmkt.journal) -> bytea
 *		SHA-256(prev || UTF-8 payload).  The row's own prev_hash is not used.
 */
Datum
journal_hash(PG_FUNCTION_ARGS)
{
	bytea	   *prev = PG_GETARG_BYTEA_PP(0);
	JournalLayout layout;
	Datum	   *values;
	bool	   *isnull;
	bytea	   *result;

	deform_journal_arg(PG_GETARG_HEAPTUPLEHEADER(1), &layout, &values, &isnull);
	result = palloc(VARHDRSZ + CHAIN_HASH_LEN);
	SET_VARSIZE(result, VARHDRSZ + CHAIN_HASH_LEN);
	chain_entry_hash(&layout, values, isnull,
						 (const uint8 *) VARDATA_ANY(prev), VARSIZE_ANY_EXHDR(prev),
						 (uint8 *) VARDATA(result));
	PG_RETURN_BYTEA_P(result);
}

/* ----------------------------------------------------------------
 *		Chain heads
 *
 * This module owns the heads of the chains: the trigger that appends a
 * journal row to its account's chain (chain_append, behind journal_chain
 * in registry.c), the head each account's row carries, what this
 * backend knows about them, and the deferred heads of a posting (the
 * posting engine, src/posting.c, begins, registers and finishes them).
 * It calls nothing of the posting engine's.
 * ----------------------------------------------------------------
 */

/*
 * What this backend knows about chain heads.
 *
 * The trigger needs the head (seq, hash) of the account it appends to, with
 * the account row locked, and must leave the new head in the row.  Reading
 * and writing the row costs two statements per journal row; two kinds of
 * knowledge save them.
 *
 * 1. chain_heads: the head of an account as this transaction last read it
 * under the row lock or wrote it, and the TID of that row version.  Every
 * path that locks an account row for a posting (chain_head_locked) or
 * advances a head (write_head, chain_defer_finish) records it here, so
 * in a transaction the entry is never older than the row: it is what the
 * trigger, the C posting path and the PL/pgSQL one all take the head from,
 * in whatever order they post.  An entry holds while no subtransaction has
 * rolled back since it was recorded: until then every subtransaction that
 * ended did commit, so what the entry says is still in the row and the
 * row is still locked by this transaction (its lock passed to the parent).
 * A rollback of any subtransaction, a new transaction or any relcache
 * invalidation (TRUNCATE, DDL) forgets everything.  The TID takes the next
 * head update straight to the row version instead of walking a long HOT
 * chain when one transaction posts to one account many times.
 *
 * 2. chain_posting: the accounts of a posting that posting.c is making
 * with deferred heads (chain_defer_begin/_add): when no trigger on the
 * journal but this one may fire for the posting's rows and no room's
 * trigger runs when a posting writes its other tables
 * (chain_can_defer), nothing but the posting's own legs can be
 * appended until it ends, so the trigger only advances the heads in memory
 * and the posting's statement (or chain_defer_finish) writes all of them
 * at once.  Otherwise the posting registers nothing: its legs go through
 * the trigger one by one, each head written as it advances, and anything a
 * room's trigger appends in between simply advances the same entries.  Any
 * append to an account of a deferred posting by another path (a nested
 * subtransaction, say) marks it disturbed; from then on the trigger reads
 * the row again and, should the row lag behind the posting's legs, takes
 * the head from the account's last journal row, which under the lock is
 * the truth.
 *
 * A posting may have any number of accounts: the market's unified
 * settlement (settle_batch, src/settlement.c) registers every account of a
 * batch, thousands of them, and inserts all its journal rows with one
 * statement.  The accounts are kept sorted by account_id (the order every
 * posting locks them in, so registering is an append) and found by binary
 * search, after a look at the one found last (the legs of one account are
 * consecutive).  Up to CHAIN_POSTING_MAX of them live in the static
 * chain_posting itself, so the posting path of posting.c never allocates;
 * beyond that they move to chain_posting_cxt, which is reset when the
 * posting ends: when it finishes, when its subtransaction rolls back and at
 * the end of the transaction, whichever comes first.  chain_defer_finish
 * writes the heads of up to two accounts with one statement of parameters
 * and of more with one UPDATE over arrays (unnest), so a batch writes each
 * account's head once however many legs it appended.  Nothing else changes:
 * a posting still lives in one subtransaction, and the rules above about
 * rollbacks and disturbed accounts hold for every account of it.
 */
#define CHAIN_CACHE_SIZE	4096	/* a power of two */
#define CHAIN_POSTING_MAX	4		/* accounts kept without allocating */

typedef struct ChainHead
{
	int64		account_id;		/* hash key */
	uint64		generation;		/* chain_generation when recorded */
	LocalTransactionId lxid;
	uint64		aborts;			/* chain_subxact_aborts when recorded */
	bool		written;		/* this transaction wrote the row's head */
	int64		seq;
	uint8		hash[CHAIN_HASH_LEN];
	ItemPointerData tid;		/* invalid when not known */
} ChainHead;

typedef struct ChainPostingAccount
{
	int64		account_id;
	int64		seq;
	uint8		hash[CHAIN_HASH_LEN];
	ItemPointerData tid;		/* the row version locked by the posting */
	bool		pending;		/* appended to; the row's head lags */
	bool		disturbed;		/* appended to by another path meanwhile */
	bool		written_before; /* this transaction wrote the row before */
	int64		written_seq;	/* head the posting's statement wrote, or -1 */
} ChainPostingAccount;

typedef struct ChainPosting
{
	LocalTransactionId lxid;	/* InvalidLocalTransactionId: none */
	SubTransactionId subxid;
	int64		posting_id;		/* its posting row, inserted by its statement */
	int			n;
	int			cap;			/* room in acc */
	int			last;			/* the entry found last (a hint) */
	ChainPostingAccount *acc;	/* sorted by account_id: fixed, or palloc'd
								 * in chain_posting_cxt */
	ChainPostingAccount fixed[CHAIN_POSTING_MAX];
} ChainPosting;

/*
 * A fixed, direct-mapped table in static memory: an entry that another
 * account takes over is simply forgotten (the knowledge is only ever a
 * shortcut), and nothing here ever allocates.
 */
static ChainHead chain_heads[CHAIN_CACHE_SIZE];
static uint64 chain_generation = 1;
static uint64 chain_subxact_aborts = 0;
static ChainPosting chain_posting;
static MemoryContext chain_posting_cxt = NULL;

/*
 * The layout of journal rows, for the relation descriptor it was built for.
 * A relcache invalidation drops it, and one can arrive while chain_append()
 * is using it (its SPI statements take locks, and a room's trigger on the
 * account row may run DDL): while any chain_append() has it pinned, a
 * dropped layout's context is only retired, and freed once none has, or at
 * the end of the transaction.
 */
static JournalLayout *chain_layout = NULL;
static TupleDesc chain_layout_desc = NULL;
static MemoryContext chain_layout_cxt = NULL;
static MemoryContext chain_layout_retired = NULL;
static int	chain_layout_pins = 0;

static bool chain_callback_registered = false;
static Oid	journal_relid = InvalidOid;

static SPIPlanPtr head_select_plan = NULL;
static SPIPlanPtr posting_exists_plan = NULL;
static SPIPlanPtr head_last_entry_plan = NULL;
static SPIPlanPtr head_update_plan = NULL;
static SPIPlanPtr head_update_tid_plan = NULL;
static SPIPlanPtr head_update_two_plan = NULL;
static SPIPlanPtr head_update_two_id_plan = NULL;
static SPIPlanPtr head_update_many_plan = NULL;
static SPIPlanPtr head_update_many_tid_plan = NULL;

/*
 * chain_layout_drop
 *		Forget the layout: free it, or retire it while a chain_append() may
 *		still read it.
 */
static void
chain_layout_drop(void)
{
	chain_layout = NULL;
	chain_layout_desc = NULL;
	if (chain_layout_cxt == NULL)
		return;
	if (chain_layout_pins > 0)
	{
		if (chain_layout_retired == NULL)
			chain_layout_retired = AllocSetContextCreate(TopMemoryContext,
														 "carbonmkt retired journal layouts",
														 ALLOCSET_SMALL_SIZES);
		MemoryContextSetParent(chain_layout_cxt, chain_layout_retired);
		chain_layout_cxt = NULL;
	}
	else
		MemoryContextReset(chain_layout_cxt);
}

/* no chain_append() reads a layout any more: free the retired ones */
static void
chain_layout_unpin_all(void)
{
	chain_layout_pins = 0;
	if (chain_layout_retired != NULL)
		MemoryContextReset(chain_layout_retired);
}

static void
chain_cache_forget(Datum arg, Oid relid)
{
	/* entries go stale; the table itself is dropped at a safe point */
	chain_generation++;
	chain_layout_drop();
	journal_relid = InvalidOid;
}

/*
 * chain_posting_end
 *		Forget the posting being made, and free its accounts if they
 *		outgrew the static array.
 */
static void
chain_posting_end(void)
{
	chain_posting.lxid = InvalidLocalTransactionId;
	chain_posting.n = 0;
	chain_posting.last = 0;
	if (chain_posting.acc != chain_posting.fixed)
	{
		chain_posting.acc = chain_posting.fixed;
		chain_posting.cap = CHAIN_POSTING_MAX;
		if (chain_posting_cxt != NULL)
			MemoryContextReset(chain_posting_cxt);
	}
}

/* a subtransaction that rolls back takes what it wrote with it */
static void
chain_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	chain_subxact_aborts++;
	if (chain_posting.lxid == MyProc->lxid && chain_posting.subxid == mySubid)
		chain_posting_end();
}

/* no posting outlives its transaction (one that failed never finished) */
static void
chain_xact_callback(XactEvent event, void *arg)
{
	if (chain_posting.lxid != InvalidLocalTransactionId ||
		chain_posting.acc != chain_posting.fixed)
		chain_posting_end();
	/* (a trigger that failed never unpinned its layout) */
	if (chain_layout_pins > 0)
		chain_layout_unpin_all();
}

static void
chain_cache_init(void)
{
	if (!chain_callback_registered)
	{
		chain_cache_forget((Datum) 0, InvalidOid);
		chain_posting.acc = chain_posting.fixed;
		chain_posting.cap = CHAIN_POSTING_MAX;
		chain_posting_end();
		CacheRegisterRelcacheCallback(chain_cache_forget, (Datum) 0);
		RegisterSubXactCallback(chain_subxact_callback, NULL);
		RegisterXactCallback(chain_xact_callback, NULL);
		chain_callback_registered = true;
	}
}

/*
 * chain_head_slot
 *		The slot of an account (its fields say nothing unless account_id
 *		matches and the entry is current).
 */
static ChainHead *
chain_head_slot(int64 account_id)
{
	ChainHead  *h;

	chain_cache_init();
	h = &chain_heads[hash_bytes_uint32((uint32) account_id ^ (uint32) (account_id >> 32)) &
					 (CHAIN_CACHE_SIZE - 1)];
	if (h->account_id != account_id)
	{
		h->account_id = account_id;
		h->generation = 0;
	}
	return h;
}

/* the entry was recorded by this transaction (a hint, for TIDs) */
static bool
chain_head_current(const ChainHead *h)
{
	return h->generation == chain_generation &&
		h->lxid != InvalidLocalTransactionId && h->lxid == MyProc->lxid;
}

/* the entry is the account's head now, under this transaction's lock */
static bool
chain_head_valid(const ChainHead *h, int64 account_id)
{
	return h->account_id == account_id && chain_head_current(h) &&
		h->aborts == chain_subxact_aborts;
}

/*
 * chain_head_store
 *		Record an account's head as just read under the row lock or written
 *		(written: this transaction wrote it into the row).
 */
static void
chain_head_store(int64 account_id, int64 seq, const uint8 *hash,
				 const ItemPointerData *tid, bool written)
{
	ChainHead  *h = chain_head_slot(account_id);

	h->written = written || (chain_head_current(h) && h->written);
	h->generation = chain_generation;
	h->lxid = MyProc->lxid;
	h->aborts = chain_subxact_aborts;
	h->seq = seq;
	memcpy(h->hash, hash, CHAIN_HASH_LEN);
	if (tid != NULL && ItemPointerIsValid(tid))
		ItemPointerCopy(tid, &h->tid);
	else
		ItemPointerSetInvalid(&h->tid);
}

/*
 * chain_head_tid
 *		The TID of the version of an account row that this transaction last
 *		locked or wrote, if known: a hint (the row may have moved on since).
 */
bool
chain_head_tid(int64 account_id, ItemPointer tid)
{
	ChainHead  *h = chain_head_slot(account_id);

	if (!chain_head_current(h) || !ItemPointerIsValid(&h->tid))
		return false;
	ItemPointerCopy(&h->tid, tid);
	return true;
}

/*
 * chain_head_locked
 *		A posting (posting.c) has just locked an account row FOR NO KEY
 *		UPDATE and read its head and TID: record them, so that whatever
 *		appends to the account next, in this transaction, starts from them
 *		(a head that is not 32 bytes long, which only tampering makes, is
 *		left to the trigger to read).
 */
void
chain_head_locked(int64 account_id, int64 seq, const bytea *hash,
				  const ItemPointerData *tid)
{
	if (hash == NULL || VARSIZE_ANY_EXHDR(hash) != CHAIN_HASH_LEN)
	{
		chain_head_slot(account_id)->generation = 0;
		return;
	}
	chain_head_store(account_id, seq, (const uint8 *) VARDATA_ANY(hash), tid, false);
}

/*
 * chain_posting_search
 *		Binary search of the posting's accounts: whether account_id is one,
 *		and its index, or where it would go.
 */
static bool
chain_posting_search(int64 account_id, int *pos)
{
	int			lo = 0;
	int			hi = chain_posting.n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int64		id = chain_posting.acc[mid].account_id;

		if (id == account_id)
		{
			*pos = mid;
			return true;
		}
		if (id < account_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return false;
}

/* the entry of an account in the posting being made, if any */
static ChainPostingAccount *
chain_posting_account(int64 account_id)
{
	int			pos;

	if (chain_posting.lxid == InvalidLocalTransactionId ||
		chain_posting.lxid != MyProc->lxid)
		return NULL;
	/* the legs of one account come one after another */
	if (chain_posting.last < chain_posting.n &&
		chain_posting.acc[chain_posting.last].account_id == account_id)
		return &chain_posting.acc[chain_posting.last];
	if (!chain_posting_search(account_id, &pos))
		return NULL;
	chain_posting.last = pos;
	return &chain_posting.acc[pos];
}

/*
 * chain_defer_begin
 *		Start the journal legs of a posting (posting.c) whose heads are
 *		written after its legs (chain_can_defer() said so), in the
 *		current subtransaction.  posting_id is its posting row, which is in
 *		already or is inserted by the statement that inserts the legs.  Any
 *		earlier posting's state is forgotten: a posting always finishes
 *		(chain_defer_finish) or fails, and a failure rolls back its
 *		subtransaction with everything it appended.
 */
void
chain_defer_begin(int64 posting_id)
{
	chain_cache_init();
	chain_posting_end();
	chain_posting.lxid = MyProc->lxid;
	chain_posting.subxid = GetCurrentSubTransactionId();
	chain_posting.posting_id = posting_id;
}

/*
 * no_user_trigger
 *		Whether a table has no enabled trigger (internal ones aside) firing on
 *		the event, but the one named.
 */
static bool
no_user_trigger(const char *relname, int16 event, const char *allowed)
{
	Oid			relid = get_relname_relid(relname, get_namespace_oid("carbonmkt", false));
	Relation	rel;
	bool		none = true;

	if (!OidIsValid(relid))
		elog(ERROR, "table carbonmkt.%s does not exist", relname);
	rel = table_open(relid, AccessShareLock);
	for (int i = 0; rel->trigdesc != NULL && i < rel->trigdesc->numtriggers; i++)
	{
		const Trigger *t = &rel->trigdesc->triggers[i];

		if (!t->tgisinternal && t->tgenabled != TRIGGER_DISABLED && (t->tgtype & event) &&
			(allowed == NULL || strcmp(t->tgname, allowed) != 0))
			none = false;
	}
	table_close(rel, NoLock);
	return none;
}

/* ----------------------------------------------------------------
 *		Which journal rows the other triggers on the journal fire for
 *
 * A posting may write its heads after its legs only when no trigger on
 * the journal but journal_chain can run while the legs go in.  A room's
 * trigger that fires only for some entry kinds, as the compliance room's
 * BEFORE INSERT ... WHEN (NEW.kind = 'surrender') does, is no reason to
 * write each head as it goes for a posting none of whose rows it fires for
 * (a transfer's debit and credit).  So the WHEN clause of every INSERT
 * trigger on the journal is read, once per relcache state, for the entry
 * kinds it can let through:
 *
 *		NEW.kind = 'k' (either side), NEW.kind IN ('k', ...) and
 *		NEW.kind = ANY ('{k,...}'): those kinds (a NULL one: none);
 *		a AND b: the kinds both let through (a condition on anything else
 *		lets every kind through);
 *		a OR b: the kinds either lets through;
 *		anything else (NOT, <>, a cast of kind, a function, no WHEN clause at
 *		all): every kind.
 *
 * This errs only one way: a clause it cannot read counts as firing for
 * every row.  Statement-level INSERT triggers count as firing for every
 * posting.  Whether a trigger fires at all follows its enabled state and
 * session_replication_role, as the trigger manager decides it.
 * ----------------------------------------------------------------
 */
#define JOURNAL_TRIGGERS_MAX	16
#define JOURNAL_KINDS_MAX		16

typedef struct KindSet
{
	bool		any;			/* every kind (or cannot tell) */
	int			n;
	Oid			kinds[JOURNAL_KINDS_MAX];	/* else only these (pg_enum OIDs) */
} KindSet;

typedef struct JournalTrigger
{
	char		tgenabled;
	bool		is_chain;		/* journal_chain itself */
	bool		for_row;
	KindSet		kinds;			/* the kinds its WHEN clause lets through */
	NameData	labels[JOURNAL_KINDS_MAX];	/* their labels */
} JournalTrigger;

static struct
{
	uint64		generation;		/* chain_generation when read; 0: never */
	Oid			relid;
	bool		too_many;		/* more triggers than room: defer nothing */
	int			n;
	JournalTrigger trig[JOURNAL_TRIGGERS_MAX];
} journal_triggers;

/* whether the trigger manager fires a trigger of this tgenabled state now */
static bool
trigger_fires_now(char tgenabled)
{
	switch (tgenabled)
	{
		case TRIGGER_FIRES_ON_ORIGIN:
			return SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA;
		case TRIGGER_FIRES_ON_REPLICA:
			return SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA;
		case TRIGGER_FIRES_ALWAYS:
			return true;
		default:
			return false;
	}
}

static bool
kindset_has(const KindSet *s, Oid kind)
{
	if (s->any)
		return true;
	for (int i = 0; i < s->n; i++)
		if (s->kinds[i] == kind)
			return true;
	return false;
}

static void
kindset_add(KindSet *s, Oid kind)
{
	if (s->any || kindset_has(s, kind))
		return;
	if (s->n >= JOURNAL_KINDS_MAX)
		s->any = true;
	else
		s->kinds[s->n++] = kind;
}

/* NEW.kind of the journal row, in a stored trigger WHEN clause */
static bool
is_new_kind(Node *node, AttrNumber kind_att)
{
	while (node != NULL && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return node != NULL && IsA(node, Var) &&
		((Var *) node)->varno == PRS2_NEW_VARNO &&
		((Var *) node)->varattno == kind_att &&
		((Var *) node)->varlevelsup == 0;
}

static Const *
as_const(Node *node)
{
	while (node != NULL && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return node != NULL && IsA(node, Const) ? (Const *) node : NULL;
}

/*
 * qual_kinds
 *		The entry kinds for which a trigger's WHEN clause may be true (see
 *		above).
 */
static void
qual_kinds(Node *node, AttrNumber kind_att, Oid kind_type, KindSet *out)
{
	out->any = true;
	out->n = 0;
	if (node == NULL)
		return;
	if (IsA(node, BoolExpr) && ((BoolExpr *) node)->boolop == AND_EXPR)
	{
		ListCell   *lc;

		foreach(lc, ((BoolExpr *) node)->args)
		{
			KindSet		arg;
			KindSet		both;

			qual_kinds(lfirst(lc), kind_att, kind_type, &arg);
			if (arg.any)
				continue;
			if (out->any)
			{
				*out = arg;
				continue;
			}
			both.any = false;
			both.n = 0;
			for (int i = 0; i < out->n; i++)
				if (kindset_has(&arg, out->kinds[i]))
					both.kinds[both.n++] = out->kinds[i];
			*out = both;
		}
	}
	else if (IsA(node, BoolExpr) && ((BoolExpr *) node)->boolop == OR_EXPR)
	{
		ListCell   *lc;

		out->any = false;
		foreach(lc, ((BoolExpr *) node)->args)
		{
			KindSet		arg;

			qual_kinds(lfirst(lc), kind_att, kind_type, &arg);
			if (arg.any)
			{
				out->any = true;
				out->n = 0;
				return;
			}
			for (int i = 0; i < arg.n; i++)
				kindset_add(out, arg.kinds[i]);
		}
	}
	else if (IsA(node, OpExpr) && list_length(((OpExpr *) node)->args) == 2)
	{
		OpExpr	   *op = (OpExpr *) node;
		Node	   *l = linitial(op->args);
		Node	   *r = lsecond(op->args);
		Const	   *c = NULL;

		if (get_opcode(op->opno) != F_ENUM_EQ)
			return;
		if (is_new_kind(l, kind_att))
			c = as_const(r);
		else if (is_new_kind(r, kind_att))
			c = as_const(l);
		if (c == NULL || c->consttype != kind_type)
			return;
		out->any = false;
		if (!c->constisnull)
			kindset_add(out, DatumGetObjectId(c->constvalue));
	}
	else if (IsA(node, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *sa = (ScalarArrayOpExpr *) node;
		Node	   *array;
		KindSet		set;

		if (!sa->useOr || list_length(sa->args) != 2 ||
			get_opcode(sa->opno) != F_ENUM_EQ ||
			!is_new_kind(linitial(sa->args), kind_att))
			return;
		array = lsecond(sa->args);
		set.any = false;
		set.n = 0;
		if (IsA(array, ArrayExpr))
		{
			ListCell   *lc;

			foreach(lc, ((ArrayExpr *) array)->elements)
			{
				Const	   *c = as_const(lfirst(lc));

				if (c == NULL || c->consttype != kind_type)
					return;
				if (!c->constisnull)
					kindset_add(&set, DatumGetObjectId(c->constvalue));
			}
		}
		else if (as_const(array) != NULL)
		{
			Const	   *c = as_const(array);
			Datum	   *elems;
			bool	   *nulls;
			int			nelems;
			int16		typlen;
			bool		typbyval;
			char		typalign;

			if (c->constisnull)
			{
				*out = set;		/* = ANY (NULL) is never true */
				return;
			}
			if (get_element_type(c->consttype) != kind_type)
				return;
			get_typlenbyvalalign(kind_type, &typlen, &typbyval, &typalign);
			deconstruct_array(DatumGetArrayTypeP(c->constvalue), kind_type,
							  typlen, typbyval, typalign, &elems, &nulls, &nelems);
			for (int i = 0; i < nelems; i++)
				if (!nulls[i])
					kindset_add(&set, DatumGetObjectId(elems[i]));
		}
		else
			return;
		*out = set;
	}
}

/*
 * journal_triggers_read
 *		Read the INSERT triggers of the journal (rel, locked) unless they were
 *		read since the last relcache invalidation.
 */
static void
journal_triggers_read(Relation rel)
{
	const TriggerDesc *td = rel->trigdesc;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	AttrNumber	kind_att;
	Oid			kind_type;
	uint64		generation;

	chain_cache_init();
	if (journal_triggers.generation == chain_generation &&
		journal_triggers.relid == RelationGetRelid(rel))
		return;
	generation = chain_generation;
	journal_triggers.generation = 0;
	journal_triggers.relid = RelationGetRelid(rel);
	journal_triggers.too_many = false;
	journal_triggers.n = 0;
	kind_att = chain_journal_attnum(tupdesc, "kind");
	kind_type = TupleDescAttr(tupdesc, kind_att - 1)->atttypid;

	for (int i = 0; td != NULL && i < td->numtriggers; i++)
	{
		const Trigger *t = &td->triggers[i];
		JournalTrigger *jt;

		if (t->tgisinternal || !TRIGGER_FOR_INSERT(t->tgtype))
			continue;
		if (journal_triggers.n >= JOURNAL_TRIGGERS_MAX)
		{
			journal_triggers.too_many = true;
			break;
		}
		jt = &journal_triggers.trig[journal_triggers.n++];
		jt->tgenabled = t->tgenabled;
		jt->is_chain = strcmp(t->tgname, "journal_chain") == 0;
		jt->for_row = TRIGGER_FOR_ROW(t->tgtype);
		if (jt->for_row && t->tgqual != NULL)
			qual_kinds((Node *) stringToNode(t->tgqual), kind_att, kind_type, &jt->kinds);
		else
		{
			jt->kinds.any = true;
			jt->kinds.n = 0;
		}
		for (int k = 0; !jt->kinds.any && k < jt->kinds.n; k++)
		{
			HeapTuple	tup = SearchSysCache1(ENUMOID, ObjectIdGetDatum(jt->kinds.kinds[k]));

			if (!HeapTupleIsValid(tup))
			{
				/* not a label of the type after all: cannot tell */
				jt->kinds.any = true;
				break;
			}
			namestrcpy(&jt->labels[k], NameStr(((Form_pg_enum) GETSTRUCT(tup))->enumlabel));
			ReleaseSysCache(tup);
		}
	}
	/* an invalidation taken in meanwhile makes the next call read again */
	journal_triggers.generation = generation;
}

/*
 * journal_others_may_fire
 *		Whether an INSERT trigger of the journal other than journal_chain
 *		fires now for a row of this kind (by label, or else by pg_enum OID);
 *		journal_triggers_read() first.
 */
static bool
journal_others_may_fire(const char *label, Oid kind)
{
	if (journal_triggers.too_many)
		return true;
	for (int i = 0; i < journal_triggers.n; i++)
	{
		const JournalTrigger *jt = &journal_triggers.trig[i];

		if (jt->is_chain || !trigger_fires_now(jt->tgenabled))
			continue;
		if (jt->kinds.any)
			return true;
		for (int k = 0; k < jt->kinds.n; k++)
			if (label != NULL ? strcmp(NameStr(jt->labels[k]), label) == 0 :
				jt->kinds.kinds[k] == kind)
				return true;
	}
	return false;
}

/* whether journal_chain fires now; journal_triggers_read() first */
static bool
journal_chain_fires(void)
{
	for (int i = 0; i < journal_triggers.n; i++)
		if (journal_triggers.trig[i].is_chain &&
			trigger_fires_now(journal_triggers.trig[i].tgenabled))
			return true;
	return false;
}

/*
 * chain_can_defer
 *		Whether a posting whose journal rows have these entry kinds may leave
 *		the heads to be written after its legs are in: true when
 *		carbonmkt.journal's journal_chain trigger fires and no other INSERT
 *		trigger on it may fire for a row of these kinds (internal
 *		foreign-key triggers aside; see "Which journal rows the other
 *		triggers on the journal fire for"), and no room's trigger runs when a
 *		posting writes its posting row, holdings, hold or heads (nothing,
 *		then, can post or read a head in between).  Takes the lock an INSERT
 *		into the journal takes, which blocks CREATE/ALTER/DROP TRIGGER on it
 *		until the end of the transaction, so the answer holds for the
 *		posting; the other tables are looked at again after any relcache
 *		invalidation (a trigger created on them meanwhile makes the posting
 *		fail with an error, never write a wrong head).
 */
bool
chain_can_defer(const char *const *kinds, int nkinds)
{
	static uint64 others_generation = 0;
	static bool others_quiet = false;
	Relation	rel;
	bool		quiet;

	chain_cache_init();
	if (others_generation != chain_generation)
	{
		others_quiet = no_user_trigger("posting", TRIGGER_TYPE_INSERT, NULL) &&
			no_user_trigger("account", TRIGGER_TYPE_UPDATE, "account_rules") &&
			no_user_trigger("holding", TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE, NULL) &&
			no_user_trigger("hold", TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE, NULL);
		others_generation = chain_generation;
	}
	if (!others_quiet)
		return false;
	if (!OidIsValid(journal_relid))
	{
		Oid			relid = get_relname_relid("journal", get_namespace_oid("carbonmkt", false));

		if (!OidIsValid(relid))
			elog(ERROR, "table carbonmkt.journal does not exist");
		journal_relid = relid;
	}
	rel = table_open(journal_relid, RowExclusiveLock);
	journal_triggers_read(rel);
	quiet = journal_chain_fires();
	for (int i = 0; quiet && i < nkinds; i++)
		quiet = !journal_others_may_fire(kinds[i], InvalidOid);
	table_close(rel, NoLock);
	return quiet;
}

/*
 * chain_defer_add
 *		Register an account of a posting begun by chain_defer_begin(): its
 *		row has been locked FOR NO KEY UPDATE in this transaction, and
 *		seq/hash/tid were read under that lock.  If anything advanced the
 *		head since (chain_heads knows), the posting starts from there.
 *		Returns whether this transaction wrote the row's head before.  An
 *		account that cannot be registered simply takes the trigger's
 *		ordinary path.
 */
bool
chain_defer_add(int64 account_id, int64 seq, const bytea *hash,
				const ItemPointerData *tid)
{
	ChainPostingAccount *a;
	ChainHead  *h;
	int			pos;

	if (chain_posting.lxid != MyProc->lxid ||
		chain_posting.subxid != GetCurrentSubTransactionId() ||
		chain_posting_search(account_id, &pos))
		return false;
	h = chain_head_slot(account_id);
	if (!chain_head_valid(h, account_id))
	{
		if (VARSIZE_ANY_EXHDR(hash) != CHAIN_HASH_LEN)
			return false;
		chain_head_store(account_id, seq, (const uint8 *) VARDATA_ANY(hash), tid, false);
	}
	if (chain_posting.n == chain_posting.cap)
	{
		/* more accounts than the static array holds: into the context */
		int			cap;
		ChainPostingAccount *grown;

		if ((Size) chain_posting.cap * 4 > MaxAllocSize / sizeof(ChainPostingAccount))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("a posting cannot have more than %d accounts", chain_posting.cap)));
		cap = chain_posting.cap * 4;
		if (chain_posting_cxt == NULL)
			chain_posting_cxt = AllocSetContextCreate(TopMemoryContext,
													  "carbonmkt chain posting",
													  ALLOCSET_DEFAULT_SIZES);
		grown = MemoryContextAlloc(chain_posting_cxt, cap * sizeof(ChainPostingAccount));
		memcpy(grown, chain_posting.acc, chain_posting.n * sizeof(ChainPostingAccount));
		if (chain_posting.acc != chain_posting.fixed)
			pfree(chain_posting.acc);
		chain_posting.acc = grown;
		chain_posting.cap = cap;
	}
	/* in account_id order (registering in that order appends) */
	if (pos < chain_posting.n)
		memmove(&chain_posting.acc[pos + 1], &chain_posting.acc[pos],
				(chain_posting.n - pos) * sizeof(ChainPostingAccount));
	chain_posting.n++;
	chain_posting.last = pos;
	a = &chain_posting.acc[pos];
	a->written_before = h->written;
	a->account_id = account_id;
	a->seq = h->seq;
	memcpy(a->hash, h->hash, CHAIN_HASH_LEN);
	ItemPointerCopy(&h->tid, &a->tid);
	a->pending = false;
	a->disturbed = false;
	a->written_seq = -1;
	return a->written_before;
}

/*
 * posting_head_account
 *		The posting's entry of an account whose head its statement is now
 *		writing: the legs must be in (the trigger advanced the head), in this
 *		subtransaction, and the trigger must have left the writing to the
 *		posting.
 */
static ChainPostingAccount *
posting_head_account(int64 account_id)
{
	ChainPostingAccount *a = chain_posting_account(account_id);

	if (a == NULL || a->disturbed || !a->pending ||
		chain_posting.subxid != GetCurrentSubTransactionId())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no journal head of account " INT64_FORMAT " is waiting to be written",
						account_id),
				 errdetail("Only a posting of the registry writes the heads its legs advanced, after the legs.")));
	a->written_seq = a->seq;
	return a;
}

/*
 * chain_deferred_head
 *		The head a deferred posting's legs advanced an account's chain to,
 *		for the statement of the posting that writes it into the account row
 *		(carbonmkt._posting_head_seq/_hash, src/registry.c); ERROR 55000
 *		unless that head is waiting to be written.  hash has room for
 *		CHAIN_HASH_LEN bytes.
 */
void
chain_deferred_head(int64 account_id, int64 *seq, uint8 *hash)
{
	ChainPostingAccount *a = posting_head_account(account_id);

	*seq = a->seq;
	if (hash != NULL)
		memcpy(hash, a->hash, CHAIN_HASH_LEN);
}

static void
prepare_head_plans(void)
{
	if (posting_exists_plan == NULL)
	{
		Oid			argtypes[1] = {INT8OID};

		posting_exists_plan =
			carbonmkt_keep_lookup_plan("SELECT 1 FROM carbonmkt.posting WHERE posting_id = $1",
									   1, argtypes);
	}
	if (head_select_plan == NULL)
	{
		Oid			argtypes[1] = {INT8OID};

		head_select_plan =
			carbonmkt_keep_lookup_plan("SELECT head_seq, head_hash, ctid FROM carbonmkt.account "
							   "WHERE account_id = $1 FOR NO KEY UPDATE",
							   1, argtypes);
	}
	if (head_last_entry_plan == NULL)
	{
		Oid			argtypes[1] = {INT8OID};

		head_last_entry_plan =
			carbonmkt_keep_lookup_plan("SELECT seq, hash FROM carbonmkt.journal "
							   "WHERE account_id = $1 ORDER BY seq DESC LIMIT 1",
							   1, argtypes);
	}
	if (head_update_plan == NULL)
	{
		Oid			argtypes[3] = {INT8OID, INT8OID, BYTEAOID};

		head_update_plan =
			carbonmkt_keep_lookup_plan("UPDATE carbonmkt.account SET head_seq = $2, head_hash = $3 "
							   "WHERE account_id = $1 RETURNING ctid",
							   3, argtypes);
	}
	if (head_update_tid_plan == NULL)
	{
		Oid			argtypes[4] = {INT8OID, INT8OID, BYTEAOID, TIDOID};

		head_update_tid_plan =
			carbonmkt_keep_lookup_plan("UPDATE carbonmkt.account SET head_seq = $2, head_hash = $3 "
							   "WHERE ctid = $4 AND account_id + 0 = $1 RETURNING ctid",
							   4, argtypes);
	}
	if (head_update_two_plan == NULL)
	{
		Oid			argtypes[8] = {INT8OID, INT8OID, BYTEAOID, TIDOID,
		INT8OID, INT8OID, BYTEAOID, TIDOID};

		head_update_two_plan =
			carbonmkt_keep_lookup_plan("UPDATE carbonmkt.account a SET head_seq = v.seq, head_hash = v.hash "
							   "FROM (VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)) v(account_id, seq, hash, tid) "
							   "WHERE a.ctid = v.tid AND a.account_id + 0 = v.account_id "
							   "RETURNING a.account_id, a.ctid",
							   8, argtypes);
	}
	if (head_update_two_id_plan == NULL)
	{
		Oid			argtypes[8] = {INT8OID, INT8OID, BYTEAOID, TIDOID,
		INT8OID, INT8OID, BYTEAOID, TIDOID};

		head_update_two_id_plan =
			carbonmkt_keep_lookup_plan("UPDATE carbonmkt.account a SET head_seq = v.seq, head_hash = v.hash "
							   "FROM (VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)) v(account_id, seq, hash, tid) "
							   "WHERE a.account_id = v.account_id "
							   "RETURNING a.account_id, a.ctid",
							   8, argtypes);
	}
	if (head_update_many_plan == NULL)
	{
		Oid			argtypes[3] = {INT8ARRAYOID, INT8ARRAYOID, BYTEAARRAYOID};

		head_update_many_plan =
			carbonmkt_keep_lookup_plan("UPDATE carbonmkt.account a SET head_seq = v.seq, head_hash = v.hash "
							   "FROM unnest($1, $2, $3) v(account_id, seq, hash) "
							   "WHERE a.account_id = v.account_id "
							   "RETURNING a.account_id, a.ctid",
							   3, argtypes);
	}
	if (head_update_many_tid_plan == NULL)
	{
		Oid			argtypes[4] = {INT8ARRAYOID, INT8ARRAYOID, BYTEAARRAYOID, TIDARRAYOID};

		head_update_many_tid_plan =
			carbonmkt_keep_lookup_plan("UPDATE carbonmkt.account a SET head_seq = v.seq, head_hash = v.hash "
							   "FROM unnest($1, $2, $3, $4) v(account_id, seq, hash, tid) "
							   "WHERE a.ctid = v.tid AND a.account_id + 0 = v.account_id "
							   "RETURNING a.account_id, a.ctid",
							   4, argtypes);
	}
}

/*
 * head_from_journal
 *		An account's head as its last journal row says (genesis without one).
 *		Under the row lock this is the truth whatever this transaction rolled
 *		back.  Call within SPI; hash must have room for CHAIN_HASH_LEN bytes.
 */
static void
head_from_journal(int64 account_id, int64 *seq, uint8 *hash)
{
	Datum		args[1];
	int			ret;

	args[0] = Int64GetDatum(account_id);
	ret = SPI_execute_plan(head_last_entry_plan, args, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading the last journal entry of account " INT64_FORMAT " failed: %s",
			 account_id, SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		*seq = 0;
		memset(hash, 0, CHAIN_HASH_LEN);
	}
	else
	{
		bool		null_seq;
		bool		null_hash;
		Datum		d_seq = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null_seq);
		Datum		d_hash = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &null_hash);
		bytea	   *h;

		if (null_seq || null_hash)
			elog(ERROR, "the last journal entry of account " INT64_FORMAT " has no seq or hash", account_id);
		h = DatumGetByteaPP(d_hash);
		if (VARSIZE_ANY_EXHDR(h) != CHAIN_HASH_LEN)
			elog(ERROR, "the last journal entry of account " INT64_FORMAT " has a hash of %d bytes",
				 account_id, (int) VARSIZE_ANY_EXHDR(h));
		*seq = DatumGetInt64(d_seq);
		memcpy(hash, VARDATA_ANY(h), CHAIN_HASH_LEN);
	}
}

/*
 * write_head
 *		Write an account's head into its row: straight at the row version
 *		that holds it when that is known (ours, locked), else by key; and
 *		remember it.  Call within SPI.
 */
static void
write_head(int64 account_id, int64 seq, const uint8 *hash, const ItemPointerData *tid,
		   ItemPointer new_tid)
{
	Datum		args[4];
	bytea	   *h = palloc(VARHDRSZ + CHAIN_HASH_LEN);
	int			ret = SPI_OK_UPDATE_RETURNING;
	bool		null_tid;
	Datum		d_tid;

	SET_VARSIZE(h, VARHDRSZ + CHAIN_HASH_LEN);
	memcpy(VARDATA(h), hash, CHAIN_HASH_LEN);
	args[0] = Int64GetDatum(account_id);
	args[1] = Int64GetDatum(seq);
	args[2] = PointerGetDatum(h);
	SPI_processed = 0;
	if (tid != NULL && ItemPointerIsValid(tid))
	{
		args[3] = PointerGetDatum(tid);
		ret = SPI_execute_plan(head_update_tid_plan, args, NULL, false, 1);
	}
	if (ret == SPI_OK_UPDATE_RETURNING && SPI_processed == 0)
		ret = SPI_execute_plan(head_update_plan, args, NULL, false, 0);
	if (ret != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
		elog(ERROR, "advancing the head of account " INT64_FORMAT " failed: %s",
			 account_id, SPI_result_code_string(ret));
	d_tid = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null_tid);
	chain_head_store(account_id, seq, hash,
					 null_tid ? NULL : (ItemPointer) DatumGetPointer(d_tid), true);
	if (new_tid != NULL)
	{
		if (null_tid)
			ItemPointerSetInvalid(new_tid);
		else
			ItemPointerCopy((ItemPointer) DatumGetPointer(d_tid), new_tid);
	}
}

/*
 * write_heads_many
 *		Write the heads of more than two accounts of the posting with one
 *		UPDATE over arrays: straight at the locked row versions when this
 *		transaction wrote any of the rows before (see chain_defer_finish),
 *		by key otherwise; a row version that moved on after all, by key.
 *		Call within SPI.
 */
static void
write_heads_many(ChainPostingAccount **acc, int n)
{
	Datum	   *ids = palloc(n * sizeof(Datum));
	Datum	   *seqs = palloc(n * sizeof(Datum));
	Datum	   *hashes = palloc(n * sizeof(Datum));
	Datum	   *tids = palloc(n * sizeof(Datum));
	Datum		args[4];
	bool		by_tid = false;
	int			ret;

	for (int k = 0; k < n; k++)
	{
		bytea	   *h = palloc(VARHDRSZ + CHAIN_HASH_LEN);

		SET_VARSIZE(h, VARHDRSZ + CHAIN_HASH_LEN);
		memcpy(VARDATA(h), acc[k]->hash, CHAIN_HASH_LEN);
		ids[k] = Int64GetDatum(acc[k]->account_id);
		seqs[k] = Int64GetDatum(acc[k]->seq);
		hashes[k] = PointerGetDatum(h);
		tids[k] = PointerGetDatum(&acc[k]->tid);
		by_tid |= acc[k]->written_before && ItemPointerIsValid(&acc[k]->tid);
	}
	args[0] = PointerGetDatum(construct_array(ids, n, INT8OID, sizeof(int64),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[1] = PointerGetDatum(construct_array(seqs, n, INT8OID, sizeof(int64),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(hashes, n, BYTEAOID, -1, false, TYPALIGN_INT));
	if (by_tid)
		args[3] = PointerGetDatum(construct_array(tids, n, TIDOID, sizeof(ItemPointerData),
												  false, TYPALIGN_SHORT));
	ret = SPI_execute_plan(by_tid ? head_update_many_tid_plan : head_update_many_plan,
						   args, NULL, false, 0);
	if (ret != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "advancing the heads of a posting failed: %s",
			 SPI_result_code_string(ret));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
													 SPI_tuptable->tupdesc, 1, &isnull));
		Datum		d_tid = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull);
		ChainPostingAccount *a = chain_posting_account(id);

		if (a == NULL || !a->pending)
			elog(ERROR, "the head of account " INT64_FORMAT " was written twice", id);
		chain_head_store(id, a->seq, a->hash, (ItemPointer) DatumGetPointer(d_tid), true);
		a->pending = false;
	}
	for (int k = 0; k < n; k++)
		if (acc[k]->pending)
		{
			write_head(acc[k]->account_id, acc[k]->seq, acc[k]->hash, NULL, NULL);
			acc[k]->pending = false;
		}
}

/*
 * chain_defer_finish
 *		Write the heads of the posting's accounts (those it appended to) into
 *		their rows, two with one statement of parameters and more with one
 *		statement over arrays, and end the posting.  Call within SPI, in the
 *		subtransaction of chain_defer_begin().
 */
void
chain_defer_finish(void)
{
	ChainPostingAccount *fast_few[CHAIN_POSTING_MAX];
	ChainPostingAccount **fast = fast_few;
	int			nfast = 0;

	if (chain_posting.lxid != MyProc->lxid ||
		chain_posting.subxid != GetCurrentSubTransactionId())
		return;					/* a nested posting finished it; nothing waits */
	prepare_head_plans();
	if (chain_posting.n > CHAIN_POSTING_MAX)
		fast = palloc(chain_posting.n * sizeof(ChainPostingAccount *));

	for (int i = 0; i < chain_posting.n; i++)
	{
		ChainPostingAccount *a = &chain_posting.acc[i];

		if (a->disturbed)
		{
			int64		seq;
			uint8		hash[CHAIN_HASH_LEN];

			/* whatever happened meanwhile, the journal has the truth */
			head_from_journal(a->account_id, &seq, hash);
			write_head(a->account_id, seq, hash, NULL, NULL);
		}
		else if (a->pending && a->written_seq == a->seq)
		{
			/* the posting's statement wrote it (the row version is new) */
			a->pending = false;
			chain_head_store(a->account_id, a->seq, a->hash, NULL, true);
		}
		else if (a->pending)
			fast[nfast++] = a;
	}

	if (nfast > 2)
		write_heads_many(fast, nfast);
	else if (nfast == 1)
		write_head(fast[0]->account_id, fast[0]->seq, fast[0]->hash, &fast[0]->tid, NULL);
	else if (nfast == 2)
	{
		Datum		args[8];
		char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
		int			ret;
		bool		done[2] = {false, false};

		for (int k = 0; k < 2; k++)
		{
			bytea	   *h = palloc(VARHDRSZ + CHAIN_HASH_LEN);

			SET_VARSIZE(h, VARHDRSZ + CHAIN_HASH_LEN);
			memcpy(VARDATA(h), fast[k]->hash, CHAIN_HASH_LEN);
			args[4 * k] = Int64GetDatum(fast[k]->account_id);
			args[4 * k + 1] = Int64GetDatum(fast[k]->seq);
			args[4 * k + 2] = PointerGetDatum(h);
			args[4 * k + 3] = PointerGetDatum(&fast[k]->tid);
			if (!ItemPointerIsValid(&fast[k]->tid))
				nulls[4 * k + 3] = 'n';
		}
		/*
		 * Straight at the locked row versions when this transaction wrote
		 * either row before (a long HOT chain to walk by key); by key
		 * otherwise, which spares a TID scan's relation-size lookup.
		 */
		ret = SPI_execute_plan(fast[0]->written_before || fast[1]->written_before ?
							   head_update_two_plan : head_update_two_id_plan,
							   args, nulls, false, 0);
		if (ret != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "advancing the heads of a posting failed: %s",
				 SPI_result_code_string(ret));
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
														 SPI_tuptable->tupdesc, 1, &isnull));
			Datum		d_tid = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull);

			for (int k = 0; k < 2; k++)
				if (!done[k] && fast[k]->account_id == id)
				{
					chain_head_store(id, fast[k]->seq, fast[k]->hash,
									 (ItemPointer) DatumGetPointer(d_tid), true);
					done[k] = true;
				}
		}
		/* a row version that moved on after all: by key */
		for (int k = 0; k < 2; k++)
			if (!done[k])
				write_head(fast[k]->account_id, fast[k]->seq, fast[k]->hash, NULL, NULL);
	}
	chain_posting_end();
}

/*
 * chain_defer_pending
 *		The heads of the posting begun by chain_defer_begin() that its legs
 *		advanced and that wait to be written, for a posting that writes them
 *		itself, row by row (posting.c, insert_legs_direct): up to max, in
 *		account_id order, each with the row version the posting locked.
 *		Returns -1 when they cannot be written that way (not this
 *		subtransaction's posting, an account appended to by another path
 *		meanwhile, a row version not known, more than max); then, as for
 *		any head chain_defer_written() was not told of, chain_defer_finish()
 *		writes them.
 */
int
chain_defer_pending(ChainPendingHead *out, int max)
{
	int			n = 0;

	if (chain_posting.lxid != MyProc->lxid ||
		chain_posting.subxid != GetCurrentSubTransactionId())
		return -1;
	for (int i = 0; i < chain_posting.n; i++)
	{
		ChainPostingAccount *a = &chain_posting.acc[i];

		if (a->disturbed)
			return -1;
		if (!a->pending)
			continue;
		if (n == max || !ItemPointerIsValid(&a->tid))
			return -1;
		out[n].account_id = a->account_id;
		out[n].seq = a->seq;
		memcpy(out[n].hash, a->hash, CHAIN_HASH_LEN);
		ItemPointerCopy(&a->tid, &out[n].tid);
		n++;
	}
	return n;
}

/*
 * chain_defer_written
 *		The head of an account that chain_defer_pending() returned is now in
 *		its row, at row version tid: record it (chain_heads), and the
 *		posting no longer waits for it.
 */
void
chain_defer_written(int64 account_id, const ItemPointerData *tid)
{
	ChainPostingAccount *a = chain_posting_account(account_id);

	if (a == NULL || a->disturbed || !a->pending ||
		chain_posting.subxid != GetCurrentSubTransactionId())
		elog(ERROR, "no journal head of account " INT64_FORMAT " is waiting to be written",
			 account_id);
	chain_head_store(account_id, a->seq, a->hash, tid, true);
	a->pending = false;
	a->written_seq = a->seq;
	ItemPointerCopy(tid, &a->tid);
}

/*
 * journal_only_trigger
 *		True when no INSERT trigger of the journal but journal_chain fires for
 *		a row of this entry kind (internal foreign-key checks aside): then
 *		nothing else can append to the journal, or read a head, while a
 *		posting inserts its legs.  journal_triggers_read() first.
 */
static bool
journal_only_trigger(bool kind_null, Datum kind)
{
	return !kind_null && !journal_others_may_fire(NULL, DatumGetObjectId(kind));
}

/*
 * chain_layout_for
 *		The journal layout for a relation descriptor, built once per backend
 *		(and again after a relcache invalidation).  The caller pins it
 *		(chain_layout_pins) for as long as it reads it.
 */
static const JournalLayout *
chain_layout_for(TupleDesc tupdesc)
{
	chain_cache_init();
	while (chain_layout == NULL || chain_layout_desc != tupdesc)
	{
		MemoryContext oldcxt;
		MemoryContext cxt;
		JournalLayout *layout;

		chain_layout_drop();
		if (chain_layout_cxt == NULL)
			chain_layout_cxt = AllocSetContextCreate(TopMemoryContext,
													 "carbonmkt journal layout",
													 ALLOCSET_SMALL_SIZES);
		cxt = chain_layout_cxt;

		/*
		 * Building it looks types and functions up, which may take locks and
		 * with them invalidations: one drops the layout being built.  Pinned
		 * meanwhile, so its memory is only retired (freed once unpinned);
		 * built again if that happened.
		 */
		chain_layout_pins++;
		oldcxt = MemoryContextSwitchTo(cxt);
		layout = palloc(sizeof(JournalLayout));
		chain_layout_init(layout, tupdesc, cxt);
		MemoryContextSwitchTo(oldcxt);
		chain_layout_pins--;
		if (chain_layout_cxt == cxt)
		{
			chain_layout = layout;
			chain_layout_desc = tupdesc;
		}
	}
	return chain_layout;
}

/*
 * require_posting
 *		Every journal row belongs to a posting row (journal.posting_id has no
 *		foreign key: this trigger checks it, see registry.sql).  Postings are
 *		append-only and never deleted, so the row needs no lock.  Call within
 *		SPI, after prepare_head_plans().
 */
static void
require_posting(int64 posting_id)
{
	Datum		args[1];
	int			ret;

	args[0] = Int64GetDatum(posting_id);
	ret = SPI_execute_plan(posting_exists_plan, args, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "looking up posting " INT64_FORMAT " failed: %s",
			 posting_id, SPI_result_code_string(ret));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("posting " INT64_FORMAT " does not exist", posting_id),
				 errdetail("A journal entry must belong to a posting of carbonmkt.posting.")));
}

/*
 * chain_append
 *		The body of journal_chain, the BEFORE INSERT FOR EACH ROW trigger on
 *		carbonmkt.journal (its wrapper is in registry.c): sets seq,
 *		prev_hash and hash from the account's chain head and advances the
 *		head.  The account row is locked FOR NO KEY UPDATE until the end of
 *		the transaction, which serialises appends to one account and nothing
 *		else.  What this backend already knows (see "What this backend knows
 *		about chain heads") spares reading and writing the row.
 */
HeapTuple
chain_append(TriggerData *trigdata)
{
	TupleDesc	tupdesc;
	HeapTuple	tuple;
	const JournalLayout *layout;
	Datum	   *values;
	bool	   *isnull;
	int64		account_id;
	int64		head_seq;
	int64		new_seq;
	bytea	   *head_hash;
	bytea	   *new_hash;
	ItemPointerData head_tid;
	ChainPostingAccount *posting;
	bool		in_posting;
	bool		posting_known;
	bool		defer = false;
	MemoryContext callercxt = CurrentMemoryContext;
	int			cols[3];
	Datum		newvals[3];
	bool		newnulls[3] = {false, false, false};


	tupdesc = RelationGetDescr(trigdata->tg_relation);
	tuple = trigdata->tg_trigtuple;
	/* (this may take invalidations: before the layout is taken) */
	journal_triggers_read(trigdata->tg_relation);
	layout = chain_layout_for(tupdesc);
	/* (SPI below may take invalidations: the layout stays until unpinned) */
	chain_layout_pins++;

	values = palloc(tupdesc->natts * sizeof(Datum));
	isnull = palloc(tupdesc->natts * sizeof(bool));
	heap_deform_tuple(tuple, tupdesc, values, isnull);

	if (isnull[layout->account_id_att - 1])
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("null value in column \"account_id\" of relation \"%s\" violates not-null constraint",
						RelationGetRelationName(trigdata->tg_relation))));
	account_id = DatumGetInt64(values[layout->account_id_att - 1]);
	/* a row with its hash already set is history: only a restore writes it */
	if (!isnull[layout->hash_att - 1] &&
		VARSIZE_ANY_EXHDR(DatumGetByteaPP(values[layout->hash_att - 1])) == CHAIN_HASH_LEN)
		carbonmkt_refuse_history(account_id);

	head_hash = palloc(VARHDRSZ + CHAIN_HASH_LEN);
	SET_VARSIZE(head_hash, VARHDRSZ + CHAIN_HASH_LEN);
	ItemPointerSetInvalid(&head_tid);

	posting = chain_posting_account(account_id);
	in_posting = posting != NULL && !posting->disturbed &&
		chain_posting.subxid == GetCurrentSubTransactionId();
	if (in_posting)
	{
		/* a leg of the posting being made: the head is in memory */
		head_seq = posting->seq;
		memcpy(VARDATA(head_hash), posting->hash, CHAIN_HASH_LEN);
		ItemPointerCopy(&posting->tid, &head_tid);
		defer = journal_only_trigger(isnull[layout->kind_att - 1], values[layout->kind_att - 1]);
		/* the posting's statement inserts (or inserted) its posting row */
		posting_known = isnull[layout->posting_id_att - 1] ||
			DatumGetInt64(values[layout->posting_id_att - 1]) == chain_posting.posting_id;
		if (!posting_known)
		{
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			prepare_head_plans();
			require_posting(DatumGetInt64(values[layout->posting_id_att - 1]));
			if (SPI_finish() != SPI_OK_FINISH)
				elog(ERROR, "SPI_finish failed");
		}
	}
	else
	{
		ChainHead  *cached;
		bool		row_lags = false;

		if (posting != NULL)
		{
			/* the posting's view of this account is no longer complete */
			row_lags = posting->pending || posting->disturbed;
			posting->disturbed = true;
		}

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		prepare_head_plans();
		cached = chain_head_slot(account_id);

		if (!row_lags && chain_head_valid(cached, account_id))
		{
			/* locked by this transaction, head known (see chain_heads) */
			head_seq = cached->seq;
			memcpy(VARDATA(head_hash), cached->hash, CHAIN_HASH_LEN);
			ItemPointerCopy(&cached->tid, &head_tid);
		}
		else
		{
			Datum		args[1];
			int			ret;
			bool		null_seq;
			bool		null_hash;
			bool		null_tid;
			Datum		d_seq;
			Datum		d_hash;
			Datum		d_tid;

			args[0] = Int64GetDatum(account_id);
			ret = SPI_execute_plan(head_select_plan, args, NULL, false, 1);
			if (ret != SPI_OK_SELECT)
				elog(ERROR, "reading the head of account " INT64_FORMAT " failed: %s",
					 account_id, SPI_result_code_string(ret));
			if (SPI_processed != 1)
				ereport(ERROR,
						(errcode(ERRCODE_CARBONMKT_UNKNOWN_ACCOUNT),
						 errmsg("account " INT64_FORMAT " does not exist", account_id),
						 errdetail("A journal entry must belong to an account of carbonmkt.account.")));

			d_seq = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null_seq);
			d_hash = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &null_hash);
			d_tid = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &null_tid);
			if (null_seq || null_hash)
				elog(ERROR, "account " INT64_FORMAT " has a null chain head", account_id);
			if (!null_tid)
				ItemPointerCopy((ItemPointer) DatumGetPointer(d_tid), &head_tid);
			if (row_lags)
				head_from_journal(account_id, &head_seq, (uint8 *) VARDATA(head_hash));
			else
			{
				MemoryContext spicxt = MemoryContextSwitchTo(callercxt);

				head_seq = DatumGetInt64(d_seq);
				/* whatever the row holds (a tampered head may not be 32 bytes) */
				head_hash = DatumGetByteaPCopy(d_hash);
				MemoryContextSwitchTo(spicxt);
			}
		}
		/* (a null posting_id is refused by its NOT NULL constraint) */
		if (!isnull[layout->posting_id_att - 1])
			require_posting(DatumGetInt64(values[layout->posting_id_att - 1]));
	}

	if (pg_add_s64_overflow(head_seq, 1, &new_seq))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("journal sequence of account " INT64_FORMAT " is out of range", account_id)));

	/* Compute the new row's chain columns in the caller's context. */
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(callercxt);

		values[layout->seq_att - 1] = Int64GetDatum(new_seq);
		isnull[layout->seq_att - 1] = false;
		values[layout->prev_hash_att - 1] = PointerGetDatum(head_hash);
		isnull[layout->prev_hash_att - 1] = false;

		new_hash = palloc(VARHDRSZ + CHAIN_HASH_LEN);
		SET_VARSIZE(new_hash, VARHDRSZ + CHAIN_HASH_LEN);
		chain_entry_hash(layout, values, isnull,
							 (const uint8 *) VARDATA(head_hash),
							 VARSIZE(head_hash) - VARHDRSZ,
							 (uint8 *) VARDATA(new_hash));
		MemoryContextSwitchTo(oldcxt);
	}

	if (defer)
	{
		/* the posting writes the head when all its legs are in */
		posting->seq = new_seq;
		memcpy(posting->hash, VARDATA(new_hash), CHAIN_HASH_LEN);
		posting->pending = true;
	}
	else if (in_posting)
	{
		ItemPointerData new_tid;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		prepare_head_plans();
		write_head(account_id, new_seq, (const uint8 *) VARDATA(new_hash), &head_tid,
				   &new_tid);
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
		/* (looked up again: the statement ran triggers, which may post) */
		posting = chain_posting_account(account_id);
		if (posting != NULL)
		{
			ItemPointerCopy(&new_tid, &posting->tid);
			posting->seq = new_seq;
			memcpy(posting->hash, VARDATA(new_hash), CHAIN_HASH_LEN);
			posting->pending = false;
		}
	}
	else
	{
		write_head(account_id, new_seq, (const uint8 *) VARDATA(new_hash), &head_tid, NULL);
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
	}

	cols[0] = layout->seq_att;
	newvals[0] = Int64GetDatum(new_seq);
	cols[1] = layout->prev_hash_att;
	newvals[1] = PointerGetDatum(head_hash);
	cols[2] = layout->hash_att;
	newvals[2] = PointerGetDatum(new_hash);

	if (--chain_layout_pins == 0 && chain_layout_retired != NULL)
		chain_layout_unpin_all();
	return heap_modify_tuple_by_cols(tuple, tupdesc, 3, cols, newvals, newnulls);
}

/* ----------------------------------------------------------------
 *		Verification
 *
 * One pass over the journal in (account_id, seq) order checks every link
 * and hash and, at the same time, rebuilds the heads digest of every day
 * seal: for each seal k, an account's head is its entry of greatest seq
 * dated on or before the seal's day, so each entry is a candidate for the
 * first seal on or after its date and every later one.  Per account the
 * candidates are kept per seal and folded into each seal's running SHA-256
 * when the account ends, in account_id order as heads_digest() writes its
 * lines.  The pass costs O(entries + accounts x seals) instead of one
 * journal scan per seal.
 *
 * The incremental check (verify_chains_since) streams only the entries
 * dated after a day (normally the last seal's); the first new entry of an
 * account is linked to its predecessor, looked up by key, and that
 * predecessor (or, for an account without new entries, its head) is the
 * account's head on that day: the seals from that day on are rebuilt from
 * those heads and the new entries alone.  Their entry counts are then the
 * heads' seq numbers plus the new entries, exact for gap-free chains.
 * ----------------------------------------------------------------
 */

typedef struct VerifyState
{
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
} VerifyState;

/* The seals being rebuilt, in date order, and one account's candidates. */
typedef struct SealRebuild
{
	int			n;
	DateADT    *dates;
	bytea	  **stored_digest;
	int32	   *stored_accounts;
	int64	   *stored_entries;
	ChainSha  **ctx;
	int32	   *accounts;
	int64	   *entries;
	/* the current account's candidates per seal */
	bool	   *cand_set;
	int64	   *cand_seq;
	uint8	   *cand_hash;		/* n * CHAIN_HASH_LEN */
	int64	   *cand_count;		/* entries of the account first counted at seal k */
	bool		account_any;
} SealRebuild;

static void
emit_problem(VerifyState *vs, const char *problem, int64 account_id,
			 bool account_null, int64 entry_id, bool entry_null,
			 const char *detail)
{
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	values[0] = CStringGetTextDatum(problem);
	values[1] = Int64GetDatum(account_id);
	nulls[1] = account_null;
	values[2] = Int64GetDatum(entry_id);
	nulls[2] = entry_null;
	values[3] = CStringGetTextDatum(detail);
	tuplestore_putvalues(vs->tupstore, vs->tupdesc, values, nulls);
}

static bytea *
getattr_bytea(const Datum *values, const bool *isnull, int attnum)
{
	if (isnull[attnum - 1])
	{
		bytea	   *empty = palloc(VARHDRSZ);

		SET_VARSIZE(empty, VARHDRSZ);
		return empty;
	}
	return DatumGetByteaPP(values[attnum - 1]);
}

static bool
bytes_equal(const uint8 *a, size_t alen, const uint8 *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/*
 * seals_load
 *		Read the seals dated on or after since (all when !has_since) into *sr.
 *		Call within SPI; everything is allocated in the caller's context cxt.
 */
static void
seals_load(SealRebuild *sr, bool has_since, DateADT since, MemoryContext cxt)
{
	Oid			argtypes[1] = {DATEOID};
	Datum		args[1];
	int			ret;
	MemoryContext oldcxt;

	args[0] = DateADTGetDatum(since);
	ret = SPI_execute_with_args(has_since ?
								"SELECT business_date, digest, accounts, entries "
								"FROM carbonmkt.day_seal WHERE business_date >= $1 "
								"ORDER BY business_date" :
								"SELECT business_date, digest, accounts, entries "
								"FROM carbonmkt.day_seal ORDER BY business_date",
								has_since ? 1 : 0, argtypes, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading the day seals failed: %s", SPI_result_code_string(ret));

	oldcxt = MemoryContextSwitchTo(cxt);
	sr->n = (int) SPI_processed;
	sr->dates = palloc0(sizeof(DateADT) * (sr->n + 1));
	sr->stored_digest = palloc0(sizeof(bytea *) * (sr->n + 1));
	sr->stored_accounts = palloc0(sizeof(int32) * (sr->n + 1));
	sr->stored_entries = palloc0(sizeof(int64) * (sr->n + 1));
	sr->ctx = palloc0(sizeof(ChainSha *) * (sr->n + 1));
	sr->accounts = palloc0(sizeof(int32) * (sr->n + 1));
	sr->entries = palloc0(sizeof(int64) * (sr->n + 1));
	sr->cand_set = palloc0(sizeof(bool) * (sr->n + 1));
	sr->cand_seq = palloc0(sizeof(int64) * (sr->n + 1));
	sr->cand_hash = palloc0(CHAIN_HASH_LEN * (sr->n + 1));
	sr->cand_count = palloc0(sizeof(int64) * (sr->n + 1));
	sr->account_any = false;
	for (int k = 0; k < sr->n; k++)
	{
		HeapTuple	tup = SPI_tuptable->vals[k];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;

		d = SPI_getbinval(tup, desc, 1, &isnull);
		sr->dates[k] = DatumGetDateADT(d);
		d = SPI_getbinval(tup, desc, 2, &isnull);
		sr->stored_digest[k] = isnull ? NULL : DatumGetByteaPCopy(d);
		d = SPI_getbinval(tup, desc, 3, &isnull);
		sr->stored_accounts[k] = isnull ? -1 : DatumGetInt32(d);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		sr->stored_entries[k] = isnull ? -1 : DatumGetInt64(d);
		sr->ctx[k] = chain_sha_create();
	}
	MemoryContextSwitchTo(oldcxt);
	SPI_freetuptable(SPI_tuptable);
}

/* The first seal dated on or after date (sr->n when there is none). */
static int
seals_index(const SealRebuild *sr, DateADT date)
{
	int			lo = 0,
				hi = sr->n;

	/* entries arrive in date order: the last seal is the usual answer */
	if (sr->n == 0 || date > sr->dates[sr->n - 1])
		return sr->n;
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (sr->dates[mid] < date)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* An entry (or a head) of the current account, counted count times. */
static void
seals_candidate(SealRebuild *sr, int k, int64 seq, const uint8 *hash, size_t hashlen,
				int64 count)
{
	if (k >= sr->n)
		return;
	sr->account_any = true;
	sr->cand_count[k] += count;
	if (!sr->cand_set[k] || seq > sr->cand_seq[k])
	{
		sr->cand_set[k] = true;
		sr->cand_seq[k] = seq;
		memset(sr->cand_hash + (size_t) k * CHAIN_HASH_LEN, 0, CHAIN_HASH_LEN);
		memcpy(sr->cand_hash + (size_t) k * CHAIN_HASH_LEN, hash,
			   Min(hashlen, CHAIN_HASH_LEN));
	}
}

/*
 * seals_account_end
 *		Fold the current account's heads into every seal, as heads_digest()
 *		writes them: one line <account_id>:<seq>:<hex of hash> per seal on or
 *		after the account's first entry.
 */
static void
seals_account_end(SealRebuild *sr, int64 account_id)
{
	static const char digits[] = "0123456789abcdef";
	bool		have = false;
	int64		seq = 0;
	const uint8 *hash = NULL;
	int64		count = 0;
	char		line[64 + 2 * CHAIN_HASH_LEN];
	int			linelen = 0;

	if (!sr->account_any)
		return;
	for (int k = 0; k < sr->n; k++)
	{
		count += sr->cand_count[k];
		if (sr->cand_set[k] && (!have || sr->cand_seq[k] > seq))
		{
			char	   *p;

			have = true;
			seq = sr->cand_seq[k];
			hash = sr->cand_hash + (size_t) k * CHAIN_HASH_LEN;
			p = line;
			p += pg_lltoa(account_id, p);
			*p++ = ':';
			p += pg_lltoa(seq, p);
			*p++ = ':';
			for (int i = 0; i < CHAIN_HASH_LEN; i++)
			{
				*p++ = digits[hash[i] >> 4];
				*p++ = digits[hash[i] & 0x0F];
			}
			*p++ = '\n';
			linelen = p - line;
		}
		sr->cand_set[k] = false;
		sr->cand_count[k] = 0;
		if (have)
		{
			chain_sha_update(sr->ctx[k], line, linelen);
			sr->accounts[k]++;
		}
		sr->entries[k] += count;
	}
	sr->account_any = false;
}

/* Compare every rebuilt seal with its row. */
static void
seals_report(VerifyState *vs, SealRebuild *sr)
{
	for (int k = 0; k < sr->n; k++)
	{
		uint8		digest[CHAIN_HASH_LEN];
		bool		same;
		char		datebuf[MAXDATELEN + 1];

		chain_sha_final(sr->ctx[k], digest);
		chain_sha_free(sr->ctx[k]);
		sr->ctx[k] = NULL;
		same = sr->stored_digest[k] != NULL &&
			bytes_equal((const uint8 *) VARDATA_ANY(sr->stored_digest[k]),
						VARSIZE_ANY_EXHDR(sr->stored_digest[k]),
						digest, CHAIN_HASH_LEN) &&
			sr->stored_accounts[k] == sr->accounts[k] &&
			sr->stored_entries[k] == sr->entries[k];
		if (same)
			continue;
		format_date(datebuf, sizeof(datebuf), sr->dates[k]);
		emit_problem(vs, "seal_mismatch", 0, true, 0, true,
					 psprintf("day seal of %s records digest %s over %d accounts and " INT64_FORMAT
							  " entries, recomputed digest %s over %d accounts and " INT64_FORMAT " entries",
							  datebuf,
							  sr->stored_digest[k] == NULL ? "NULL" :
							  chain_hex_text((const uint8 *) VARDATA_ANY(sr->stored_digest[k]),
											 VARSIZE_ANY_EXHDR(sr->stored_digest[k])),
							  sr->stored_accounts[k], sr->stored_entries[k],
							  chain_hex_text(digest, CHAIN_HASH_LEN),
							  sr->accounts[k], sr->entries[k]));
	}
}

/*
 * The accounts' heads, streamed in account_id order for the incremental
 * check (an account without new entries has its head where it was).
 */
typedef struct HeadCursor
{
	Portal		portal;
	SPITupleTable *batch;
	uint64		pos;
	bool		done;
} HeadCursor;

static bool
head_cursor_next(HeadCursor *hc, int64 *account_id, int64 *seq, uint8 *hash, size_t *hashlen)
{
	bool		isnull;
	bytea	   *h;

	if (hc->done)
		return false;
	if (hc->batch == NULL || hc->pos >= hc->batch->numvals)
	{
		if (hc->batch != NULL)
			SPI_freetuptable(hc->batch);
		SPI_cursor_fetch(hc->portal, true, VERIFY_BATCH_ROWS);
		hc->batch = SPI_tuptable;
		hc->pos = 0;
		if (SPI_processed == 0)
		{
			hc->done = true;
			return false;
		}
	}
	*account_id = DatumGetInt64(SPI_getbinval(hc->batch->vals[hc->pos], hc->batch->tupdesc, 1, &isnull));
	*seq = DatumGetInt64(SPI_getbinval(hc->batch->vals[hc->pos], hc->batch->tupdesc, 2, &isnull));
	h = DatumGetByteaPP(SPI_getbinval(hc->batch->vals[hc->pos], hc->batch->tupdesc, 3, &isnull));
	*hashlen = Min(VARSIZE_ANY_EXHDR(h), CHAIN_HASH_LEN);
	memcpy(hash, VARDATA_ANY(h), *hashlen);
	hc->pos++;
	return true;
}

/*
 * verify_journal
 *		Stream the journal (the entries dated after since, when has_since) in
 *		(account_id, seq) order, check every link and hash, and rebuild the
 *		seals dated on or after since (all seals when !has_since).
 */
static void
verify_journal(VerifyState *vs, bool has_since, DateADT since, SealRebuild *srp)
{
	static const uint8 genesis[CHAIN_HASH_LEN] = {0};
	SPIPlanPtr	plan;
	SPIPlanPtr	pred_plan = NULL;
	Portal		portal;
	MemoryContext rowcxt;
	MemoryContext spicxt = CurrentMemoryContext;
	JournalLayout layout;
	bool		layout_ready = false;
	Datum	   *values = NULL;
	bool	   *isnull = NULL;
	bool		have_prev = false;
	int64		prev_account = 0;
	int64		prev_seq = 0;
	uint8	   *prev_hash = palloc(CHAIN_HASH_LEN);
	size_t		prev_hash_len = 0;
	size_t		prev_hash_cap = CHAIN_HASH_LEN;
	int			bd_att = 0;
	SealRebuild sr;
	HeadCursor	hc = {0};
	bool		hc_have = false;
	int64		hc_account = 0;
	int64		hc_seq = 0;
	uint8		hc_hash[CHAIN_HASH_LEN];
	size_t		hc_hashlen = 0;
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		sargs[1];
	Oid			sargtypes[1] = {DATEOID};

	seals_load(&sr, has_since, since, spicxt);

	sargs[0] = DateADTGetDatum(since);
	plan = SPI_prepare(has_since ?
					   "SELECT * FROM carbonmkt.journal WHERE business_date > $1 "
					   "ORDER BY account_id, seq" :
					   "SELECT * FROM carbonmkt.journal ORDER BY account_id, seq",
					   has_since ? 1 : 0, sargtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, has_since ? sargs : NULL, NULL, true);

	if (has_since)
	{
		SPIPlanPtr	hplan;

		pred_plan = SPI_prepare("SELECT hash FROM carbonmkt.journal "
								"WHERE account_id = $1 AND seq = $2", 2, argtypes);
		if (pred_plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		hplan = SPI_prepare("SELECT account_id, head_seq, head_hash FROM carbonmkt.account "
							"ORDER BY account_id", 0, NULL);
		if (hplan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		hc.portal = SPI_cursor_open(NULL, hplan, NULL, NULL, true);
	}

	rowcxt = AllocSetContextCreate(spicxt, "verify_chains row",
								   ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		SPITupleTable *tuptable;
		uint64		nrows;

		SPI_cursor_fetch(portal, true, VERIFY_BATCH_ROWS);
		nrows = SPI_processed;
		tuptable = SPI_tuptable;
		if (nrows == 0)
		{
			SPI_freetuptable(tuptable);
			break;
		}

		if (!layout_ready)
		{
			chain_layout_init(&layout, tuptable->tupdesc, spicxt);
			values = palloc(tuptable->tupdesc->natts * sizeof(Datum));
			isnull = palloc(tuptable->tupdesc->natts * sizeof(bool));
			bd_att = chain_journal_attnum(tuptable->tupdesc, "business_date");
			layout_ready = true;
		}

		for (uint64 r = 0; r < nrows; r++)
		{
			MemoryContext oldcxt;
			int64		account_id;
			int64		entry_id;
			int64		seq;
			int64		expected_seq;
			bytea	   *stored_prev;
			bytea	   *stored_hash;
			const uint8 *expected_prev;
			size_t		expected_prev_len;
			uint8		recomputed[CHAIN_HASH_LEN];
			bool		new_account;
			bool		check_link = true;

			CHECK_FOR_INTERRUPTS();
			oldcxt = MemoryContextSwitchTo(rowcxt);

			heap_deform_tuple(tuptable->vals[r], tuptable->tupdesc, values, isnull);
			account_id = DatumGetInt64(values[layout.account_id_att - 1]);
			entry_id = DatumGetInt64(values[layout.entry_id_att - 1]);
			seq = DatumGetInt64(values[layout.seq_att - 1]);
			stored_prev = getattr_bytea(values, isnull, layout.prev_hash_att);
			stored_hash = getattr_bytea(values, isnull, layout.hash_att);

			new_account = !have_prev || account_id != prev_account;
			if (new_account && have_prev)
				seals_account_end(&sr, prev_account);

			if (new_account && has_since)
			{
				/* accounts without new entries: their heads are the heads on since */
				for (;;)
				{
					if (!hc_have)
						hc_have = head_cursor_next(&hc, &hc_account, &hc_seq, hc_hash, &hc_hashlen);
					if (!hc_have || hc_account >= account_id)
						break;
					if (hc_seq > 0)
					{
						seals_candidate(&sr, 0, hc_seq, hc_hash, hc_hashlen, hc_seq);
						seals_account_end(&sr, hc_account);
					}
					hc_have = false;
				}
				if (hc_have && hc_account == account_id)
					hc_have = false;
			}

			if (!new_account && seq == prev_seq + 1)
			{
				expected_seq = seq;
				expected_prev = prev_hash;
				expected_prev_len = prev_hash_len;
			}
			else if (!new_account && !has_since)
			{
				expected_seq = prev_seq + 1;
				expected_prev = prev_hash;
				expected_prev_len = prev_hash_len;
			}
			else if (seq == 1 || !has_since)
			{
				expected_seq = 1;
				expected_prev = genesis;
				expected_prev_len = CHAIN_HASH_LEN;
			}
			else
			{
				/* the first new entry: its predecessor is older than since */
				Datum		pargs[2];
				int			ret;

				pargs[0] = Int64GetDatum(account_id);
				pargs[1] = Int64GetDatum(seq - 1);
				ret = SPI_execute_plan(pred_plan, pargs, NULL, true, 1);
				if (ret != SPI_OK_SELECT)
					elog(ERROR, "reading entry " INT64_FORMAT " of account " INT64_FORMAT " failed: %s",
						 seq - 1, account_id, SPI_result_code_string(ret));
				expected_seq = seq;
				if (SPI_processed == 1)
				{
					bool		pnull;
					bytea	   *ph = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
																   SPI_tuptable->tupdesc, 1,
																   &pnull));

					expected_prev_len = VARSIZE_ANY_EXHDR(ph);
					expected_prev = (const uint8 *) VARDATA_ANY(ph);
					/* the account's head on since */
					if (new_account)
						seals_candidate(&sr, 0, seq - 1, expected_prev, expected_prev_len, seq - 1);
				}
				else
				{
					emit_problem(vs, "seq_gap", account_id, false, entry_id, false,
								 psprintf("expected seq " INT64_FORMAT " before seq " INT64_FORMAT
										  ", found none", seq - 1, seq));
					check_link = false;
					expected_prev = genesis;
					expected_prev_len = CHAIN_HASH_LEN;
				}
			}

			/* A missing predecessor makes its link uncheckable: report the gap. */
			if (!check_link)
				;
			else if (seq != expected_seq)
				emit_problem(vs, "seq_gap", account_id, false, entry_id, false,
							 psprintf("expected seq " INT64_FORMAT ", found seq " INT64_FORMAT,
									  expected_seq, seq));
			else if (!bytes_equal((const uint8 *) VARDATA_ANY(stored_prev),
								  VARSIZE_ANY_EXHDR(stored_prev),
								  expected_prev, expected_prev_len))
				emit_problem(vs, "prev_hash_mismatch", account_id, false, entry_id, false,
							 psprintf("seq " INT64_FORMAT ": prev_hash is %s, the previous entry's hash is %s",
									  seq,
									  chain_hex_text((const uint8 *) VARDATA_ANY(stored_prev),
													 VARSIZE_ANY_EXHDR(stored_prev)),
									  chain_hex_text(expected_prev, expected_prev_len)));

			chain_entry_hash(&layout, values, isnull,
							 (const uint8 *) VARDATA_ANY(stored_prev),
							 VARSIZE_ANY_EXHDR(stored_prev), recomputed);
			if (!bytes_equal((const uint8 *) VARDATA_ANY(stored_hash),
							 VARSIZE_ANY_EXHDR(stored_hash),
							 recomputed, CHAIN_HASH_LEN))
				emit_problem(vs, "hash_mismatch", account_id, false, entry_id, false,
							 psprintf("seq " INT64_FORMAT ": stored hash is %s, recomputed %s",
									  seq,
									  chain_hex_text((const uint8 *) VARDATA_ANY(stored_hash),
													 VARSIZE_ANY_EXHDR(stored_hash)),
									  chain_hex_text(recomputed, CHAIN_HASH_LEN)));

			/* this entry is a head candidate of the seals on or after its day */
			if (!isnull[bd_att - 1])
				seals_candidate(&sr, seals_index(&sr, DatumGetDateADT(values[bd_att - 1])),
								seq, (const uint8 *) VARDATA_ANY(stored_hash),
								VARSIZE_ANY_EXHDR(stored_hash), 1);

			/* Carry this entry's stored hash to the next row. */
			prev_hash_len = VARSIZE_ANY_EXHDR(stored_hash);
			if (prev_hash_len > prev_hash_cap)
			{
				prev_hash = repalloc(prev_hash, prev_hash_len);
				prev_hash_cap = prev_hash_len;
			}
			memcpy(prev_hash, VARDATA_ANY(stored_hash), prev_hash_len);
			prev_seq = seq;
			prev_account = account_id;
			have_prev = true;

			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(rowcxt);
		}
		SPI_freetuptable(tuptable);
	}
	if (have_prev)
		seals_account_end(&sr, prev_account);

	/* the accounts after the last one with new entries */
	if (has_since)
	{
		for (;;)
		{
			if (!hc_have)
				hc_have = head_cursor_next(&hc, &hc_account, &hc_seq, hc_hash, &hc_hashlen);
			if (!hc_have)
				break;
			if (hc_seq > 0)
			{
				seals_candidate(&sr, 0, hc_seq, hc_hash, hc_hashlen, hc_seq);
				seals_account_end(&sr, hc_account);
			}
			hc_have = false;
		}
		if (hc.batch != NULL)
			SPI_freetuptable(hc.batch);
		SPI_cursor_close(hc.portal);
		SPI_freeplan(pred_plan);
	}

	SPI_cursor_close(portal);
	SPI_freeplan(plan);
	MemoryContextDelete(rowcxt);

	*srp = sr;
}

/*
 * verify_query
 *		Run a query returning (problem text, account_id bigint, entry_id
 *		bigint, detail text) with a cursor and emit its rows.
 */
static void
verify_query(VerifyState *vs, const char *sql)
{
	SPIPlanPtr	plan = SPI_prepare(sql, 0, NULL);
	Portal		portal;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, VERIFY_BATCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			Datum		values[4];
			bool		nulls[4];

			for (int c = 0; c < 4; c++)
				values[c] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc,
										  c + 1, &nulls[c]);
			tuplestore_putvalues(vs->tupstore, vs->tupdesc, values, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
}

/*
 * verify_prerequisites
 *		Before any check: the catalog has the seal chain (a catalog of 0.1.0,
 *		before ALTER EXTENSION carbonmkt UPDATE, has not: 55000 saying so
 *		rather than a missing column), and the login has staff scope
 *		(carbonmkt._require_scope(), 42501 for an unmapped staff login;
 *		doc/security.md).  Within SPI.
 */
static void
verify_prerequisites(void)
{
	bool		isnull;
	bool		has_seal_chain;
	bool		has_guard;

	if (SPI_execute("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a "
					"WHERE a.attrelid = 'carbonmkt.day_seal'::pg_catalog.regclass "
					"AND a.attname = 'seal_hash' AND NOT a.attisdropped), "
					"pg_catalog.to_regprocedure('carbonmkt._require_scope(text)') IS NOT NULL",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading the catalog of carbonmkt failed");
	has_seal_chain = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	has_guard = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (!has_seal_chain)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the carbonmkt catalog is older than its library and has no seal chain to verify; run ALTER EXTENSION carbonmkt UPDATE"),
				 errhint("See doc/operations.md, Upgrades.")));
	if (has_guard &&
		SPI_execute("SELECT carbonmkt._require_scope('verify the ledger')", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "the staff scope check failed");
}

/*
 * verify_chains() -> TABLE (problem text, account_id bigint, entry_id bigint,
 *							 detail text)
 *		Every inconsistency of the journal chains, the account heads and the
 *		day seals; no rows when all is well.  All queries run on the
 *		caller's snapshot, so the three checks see one state.
 */
static Datum
verify_chains_internal(FunctionCallInfo fcinfo, bool has_since, DateADT since)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	VerifyState vs;
	SealRebuild sr;

#if PG_VERSION_NUM >= 150000
	InitMaterializedSRF(fcinfo, 0);
#else
	{
		TupleDesc	tupdesc;
		MemoryContext oldcxt;

		if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
			(rsinfo->allowedModes & SFRM_Materialize) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("set-valued function called in context that cannot accept a set")));
		oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		rsinfo->returnMode = SFRM_Materialize;
		rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
		rsinfo->setDesc = tupdesc;
		MemoryContextSwitchTo(oldcxt);
	}
#endif
	vs.tupstore = rsinfo->setResult;
	vs.tupdesc = rsinfo->setDesc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	verify_prerequisites();

	verify_journal(&vs, has_since, since, &sr);

	verify_query(&vs,
				 "SELECT 'head_mismatch'::text, a.account_id, l.entry_id, "
				 "CASE WHEN l.seq IS NULL "
				 "THEN format('account head is seq %s hash %s, but the account has no entries "
				 "(expected seq 0 and the zero hash)', "
				 "a.head_seq, '\\x' || encode(a.head_hash, 'hex')) "
				 "ELSE format('account head is seq %s hash %s, last entry is seq %s hash %s', "
				 "a.head_seq, '\\x' || encode(a.head_hash, 'hex'), l.seq, "
				 "'\\x' || encode(l.hash, 'hex')) END "
				 "FROM carbonmkt.account a "
				 "CROSS JOIN (SELECT decode(repeat('00', 32), 'hex') AS genesis) g "
				 "LEFT JOIN LATERAL (SELECT j.entry_id, j.seq, j.hash FROM carbonmkt.journal j "
				 "WHERE j.account_id = a.account_id ORDER BY j.seq DESC LIMIT 1) l ON true "
				 "WHERE a.head_seq IS DISTINCT FROM coalesce(l.seq, 0) "
				 "OR a.head_hash IS DISTINCT FROM coalesce(l.hash, g.genesis) "
				 "ORDER BY a.account_id");

	seals_report(&vs, &sr);

	/*
	 * The seal chain: each seal links to the previous one's hash, and its own
	 * hash recomputes from its row.  A seal deleted from the middle breaks
	 * the next link; a deleted last seal, or a consistent rewrite of history
	 * and seals, needs the anchors published outside (verify_anchors()).
	 */
	verify_query(&vs,
				 "SELECT x.problem, NULL::bigint, NULL::bigint, x.detail FROM ("
				 "SELECT s.business_date, 1 AS o, 'seal_link_mismatch'::text AS problem, "
				 "format('day seal of %s links to %s, but %s', "
				 "to_char(s.business_date, 'YYYY-MM-DD'), '\\x' || encode(s.prev_seal, 'hex'), "
				 "CASE WHEN s.prev_date IS NULL "
				 "THEN 'it is the first seal (expected the zero hash)' "
				 "ELSE format('the previous seal (%s) hashes to %s', "
				 "to_char(s.prev_date, 'YYYY-MM-DD'), '\\x' || encode(s.prev_hash, 'hex')) END) AS detail "
				 "FROM (SELECT d.*, lag(d.seal_hash) OVER w AS prev_hash, "
				 "lag(d.business_date) OVER w AS prev_date "
				 "FROM carbonmkt.day_seal d WINDOW w AS (ORDER BY d.business_date)) s "
				 "WHERE s.prev_seal IS DISTINCT FROM "
				 "coalesce(s.prev_hash, decode(repeat('00', 32), 'hex')) "
				 "UNION ALL "
				 "SELECT s.business_date, 2, 'seal_hash_mismatch', "
				 "format('day seal of %s records seal hash %s, its row hashes to %s', "
				 "to_char(s.business_date, 'YYYY-MM-DD'), '\\x' || encode(s.seal_hash, 'hex'), "
				 "'\\x' || encode(carbonmkt.seal_hash(s.business_date, s.digest, s.accounts, "
				 "s.entries, s.prev_seal), 'hex')) "
				 "FROM carbonmkt.day_seal s "
				 "WHERE s.seal_hash IS DISTINCT FROM carbonmkt.seal_hash(s.business_date, s.digest, "
				 "s.accounts, s.entries, s.prev_seal)) x "
				 "ORDER BY x.business_date, x.o");

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");

	return (Datum) 0;
}

Datum
verify_chains(PG_FUNCTION_ARGS)
{
	return verify_chains_internal(fcinfo, false, 0);
}

/*
 * verify_chains_since(after date) -> TABLE (problem text, account_id bigint,
 *										 entry_id bigint, detail text)
 *		The incremental check: the links and hashes of the entries dated after
 *		`after` (each account's first one linked to its predecessor), every
 *		account head, the seals dated on or after `after` (rebuilt from the
 *		heads on that day and the new entries) and the whole seal chain.
 *		Everything written on or before `after` is taken as verified.
 */
Datum
verify_chains_since(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the day to verify from must not be NULL"),
				 errhint("Use carbonmkt.verify_chains() to check everything.")));
	return verify_chains_internal(fcinfo, true, PG_GETARG_DATEADT(0));
}
