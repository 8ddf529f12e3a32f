/*-------------------------------------------------------------------------
 *
 * chain.c
 *	  The registry's hash chain (链式存证): the canonical payload of a
 *	  journal row and its SHA-256 chain hash, and the verification of the
 *	  chains, the account heads and the day seals.
 *
 * Every journal row carries seq (1, 2, 3 ... per account), prev_hash (the
 * hash of the account's previous entry, 32 zero bytes for the first) and
 * hash = SHA-256(prev_hash || UTF-8 canonical payload).  The chain trigger
 * and the head bookkeeping (src/registry.c) call chain_layout_init() and
 * chain_entry_hash() (src/chain.h) to compute it; this file calls nothing
 * of theirs.  The payload format is described at journal_payload_build()
 * and in doc/registry.md, "The journal hash chain".
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/chain.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

#if PG_VERSION_NUM >= 140000
#include "common/cryptohash.h"
#endif
#include "common/sha2.h"

#include "carbonmkt.h"
#include "chain.h"

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
 * chain_sha256
 *		out = SHA-256(a || b).  out must have room for CHAIN_HASH_LEN bytes.
 */
void
chain_sha256(const uint8 *a, size_t alen, const uint8 *b, size_t blen,
			 uint8 *out)
{
#if PG_VERSION_NUM >= 140000
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
		if (year > 0)
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
	for (int i = 0; i < PAYLOAD_NFIELDS; i++)
	{
		int			att = layout->attnums[i] - 1;
		Datum		value = values[att];
		char		numbuf[64];
		const char *str;
		int			len;
		const char *utf8;
		int			utf8len;

		appendStringInfoString(buf, payload_fields[i]);
		if (isnull[att])
		{
			appendBinaryStringInfo(buf, "=\\N\n", 4);
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

		appendStringInfoChar(buf, '=');
		enlargeStringInfo(buf, 12);
		buf->len += pg_ltoa(utf8len, buf->data + buf->len);
		appendStringInfoChar(buf, ':');
		appendBinaryStringInfo(buf, str, len);
		appendStringInfoChar(buf, '\n');
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
	pg_cryptohash_ctx **ctx;
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

static pg_cryptohash_ctx *
seal_ctx_create(void)
{
#if PG_VERSION_NUM >= 140000
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	return ctx;
#else
	pg_sha256_ctx *ctx = palloc(sizeof(pg_sha256_ctx));

	pg_sha256_init(ctx);
	return (pg_cryptohash_ctx *) ctx;
#endif
}

static void
seal_ctx_update(pg_cryptohash_ctx *ctx, const char *data, size_t len)
{
#if PG_VERSION_NUM >= 140000
	if (pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256 hash")));
#else
	pg_sha256_update((pg_sha256_ctx *) ctx, (const uint8 *) data, len);
#endif
}

static void
seal_ctx_final(pg_cryptohash_ctx *ctx, uint8 *out)
{
#if PG_VERSION_NUM >= 140000
	if (pg_cryptohash_final(ctx, out, CHAIN_HASH_LEN) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256 hash")));
	pg_cryptohash_free(ctx);
#else
	pg_sha256_final((pg_sha256_ctx *) ctx, out);
#endif
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
	sr->ctx = palloc0(sizeof(pg_cryptohash_ctx *) * (sr->n + 1));
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
		sr->ctx[k] = seal_ctx_create();
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
			seal_ctx_update(sr->ctx[k], line, linelen);
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

		seal_ctx_final(sr->ctx[k], digest);
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
