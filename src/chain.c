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
 * ----------------------------------------------------------------
 */

typedef struct VerifyState
{
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
} VerifyState;

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
 * verify_journal
 *		Stream the journal in (account_id, seq) order and check every link.
 */
static void
verify_journal(VerifyState *vs)
{
	static const uint8 genesis[CHAIN_HASH_LEN] = {0};
	SPIPlanPtr	plan;
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

	plan = SPI_prepare("SELECT * FROM carbonmkt.journal ORDER BY account_id, seq",
					   0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);

	rowcxt = AllocSetContextCreate(spicxt, "verify_chains row",
								   ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		SPITupleTable *tuptable;

		SPI_cursor_fetch(portal, true, VERIFY_BATCH_ROWS);
		if (SPI_processed == 0)
			break;
		tuptable = SPI_tuptable;

		if (!layout_ready)
		{
			chain_layout_init(&layout, tuptable->tupdesc, spicxt);
			values = palloc(tuptable->tupdesc->natts * sizeof(Datum));
			isnull = palloc(tuptable->tupdesc->natts * sizeof(bool));
			layout_ready = true;
		}

		for (uint64 r = 0; r < SPI_processed; r++)
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

			CHECK_FOR_INTERRUPTS();
			oldcxt = MemoryContextSwitchTo(rowcxt);

			heap_deform_tuple(tuptable->vals[r], tuptable->tupdesc, values, isnull);
			account_id = DatumGetInt64(values[layout.account_id_att - 1]);
			entry_id = DatumGetInt64(values[layout.entry_id_att - 1]);
			seq = DatumGetInt64(values[layout.seq_att - 1]);
			stored_prev = getattr_bytea(values, isnull, layout.prev_hash_att);
			stored_hash = getattr_bytea(values, isnull, layout.hash_att);

			if (have_prev && account_id == prev_account)
			{
				expected_seq = prev_seq + 1;
				expected_prev = prev_hash;
				expected_prev_len = prev_hash_len;
			}
			else
			{
				expected_seq = 1;
				expected_prev = genesis;
				expected_prev_len = CHAIN_HASH_LEN;
			}

			/* A missing predecessor makes its link uncheckable: report the gap. */
			if (seq != expected_seq)
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
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
	MemoryContextDelete(rowcxt);
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
 * verify_chains() -> TABLE (problem text, account_id bigint, entry_id bigint,
 *							 detail text)
 *		Every inconsistency of the journal chains, the account heads and the
 *		day seals; no rows when all is well.  All queries run on the
 *		caller's snapshot, so the three checks see one state.
 */
Datum
verify_chains(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	VerifyState vs;

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

	verify_journal(&vs);

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

	verify_query(&vs,
				 "SELECT 'seal_mismatch'::text, NULL::bigint, NULL::bigint, "
				 "format('day seal of %s records digest %s over %s accounts and %s entries, "
				 "recomputed digest %s over %s accounts and %s entries', "
				 "to_char(s.business_date, 'YYYY-MM-DD'), '\\x' || encode(s.digest, 'hex'), "
				 "s.accounts, s.entries, '\\x' || encode(h.digest, 'hex'), h.accounts, h.entries) "
				 "FROM carbonmkt.day_seal s "
				 "CROSS JOIN LATERAL carbonmkt.heads_digest(s.business_date) h "
				 "WHERE (s.digest, s.accounts, s.entries) IS DISTINCT FROM "
				 "(h.digest, h.accounts, h.entries) "
				 "ORDER BY s.business_date");

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
