/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  verify_ledger() and verify_ledger_since(): every check of the ledger
 *	  that reads the journal, done in one pass over it.
 *
 * The journal is read once, in physical order: the full check scans the
 * table through the table access method (no SPI copy of each row); the
 * incremental check reads the entries dated after the day verified from
 * (a bitmap scan of the block-range index on business_date).  What does
 * not depend on order is checked as each entry is read:
 *	- its SHA-256 hash (chain_entry_payload() of src/chain.c, hashed with one
 *	  reused SHA-256 context);
 *	- its posting (a bitmap of the posting ids, read once), issuance only
 *	  into accounts whose kind may receive it, and its part in conservation
 *	  per asset (full check) or in its posting's balance (incremental check).
 * What does depend on order is checked in each account's seq order, with
 * per-account state (ordered_step()): its seq and link to the previous
 * entry, its candidacy as the account's head for the day seals (rebuilt as
 * verify_chains() in src/chain.c does), its running balance and held per
 * asset.  Entries are written in seq order, so an entry's turn nearly always
 * comes as it is read; one read before its predecessor waits in its
 * account's min-heap, and what still waits at the end (gaps) is checked in
 * seq order then.  Afterwards the holdings rebuilt from the journal are
 * compared with carbonmkt.holding, and the seal heads are folded account by
 * account in account_id order.  The checks that read small tables (heads,
 * seal chain, holdings against holds and CCER blocks) are SQL, run through
 * SPI.  Memory: per account its assets, its waiting entries and one seal
 * candidate per sealed day it has entries in.
 *
 * Results are the rows of the SQL implementations they replace, in the same
 * order of checks (doc/registry.md, "Verification"): chain problems in
 * (account_id, seq) order, head_mismatch, seal_mismatch, seal chain, then
 * running_balance_mismatch, balance_mismatch, negative_or_overheld,
 * held_mismatch, ccer_blocks_mismatch, conservation or posting_unbalanced,
 * unknown_posting and issue_outside_issuance_account.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/verify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "common/sha2.h"

#include "carbonmkt.h"
#include "chain.h"

PG_FUNCTION_INFO_V1(verify_ledger_full);
PG_FUNCTION_INFO_V1(verify_ledger_incremental);
PG_FUNCTION_INFO_V1(verify_chains_pass);
PG_FUNCTION_INFO_V1(verify_chains_since_pass);

#define VERIFY_FETCH_ROWS		10000

#ifdef HAVE_INT128
typedef int128 vsum;
#else
typedef int64 vsum;
#endif

/* One row of the result, kept until the pass is over. */
typedef struct Problem
{
	const char *problem;
	int64		account_id;
	bool		account_null;
	int64		entry_id;
	bool		entry_null;
	char	   *detail;
	int64		sort1;			/* order within its check */
	int64		sort2;
} Problem;

typedef struct ProblemList
{
	Problem    *items;
	int			n;
	int			max;
} ProblemList;

/* An asset (instrument, vintage, project), numbered on first sight. */
typedef struct AssetKey
{
	Oid			instrument;
	int32		vintage;
	int32		projlen;
	const char *project;
} AssetKey;

typedef struct AssetEntry
{
	AssetKey	key;
	int			asset_no;
} AssetEntry;

typedef struct AssetInfo
{
	Oid			instrument;
	int32		vintage;
	int32		projlen;
	char	   *project;		/* NUL-terminated copy */
	char	   *text;			/* carbonmkt.format_asset(), when asked */
	/* conservation (full check) */
	bool		any;
	bool		any_issue;
	vsum		issued;
	vsum		retired;
	vsum		withdrawn;
	vsum		holdings;
} AssetInfo;

/* One asset of an account: its running balance in seq order. */
typedef struct CurAsset
{
	int			asset_no;
	int			next;			/* the account's next asset (index), or -1 */
	bool		base_loaded;	/* incremental: balance before the new entries read */
	vsum		run_balance;
	vsum		run_held;
	int64		last_balance;
	int64		last_held;
} CurAsset;

/*
 * What the checks in seq order need of an entry.  prev and hash point into
 * the row while it is checked at once, into copies when it waits.
 */
typedef struct Rec
{
	int64		seq;
	int64		entry_id;
	int			asset;			/* CurAsset index */
	int			k;				/* seals_index() of its day, -1 without day */
	int64		amount;
	int64		held_change;
	int64		balance_after;
	int64		held_after;
	const uint8 *prev;
	size_t		prevlen;
	const uint8 *hash;
	size_t		hashlen;
} Rec;

/* An account's head candidate for the seals from seal k on (as in chain.c). */
typedef struct SealCand
{
	int			k;
	int64		seq;
	int64		count;
	size_t		hashlen;
	uint8		hash[CHAIN_HASH_LEN];
} SealCand;

/* Per account: where its chain is, its assets, what waits for its turn. */
typedef struct AcctState
{
	int64		account_id;		/* hash key */
	bool		known;			/* in carbonmkt.account */
	Oid			kind;
	bool		started;		/* its first entry in seq order is checked */
	int64		last_seq;
	uint8	   *last_hash;
	size_t		last_len;
	size_t		last_cap;
	int			first_asset;	/* CurAsset index, or -1 */
	Rec		   *stash;			/* entries read before their turn: a min-heap on seq */
	int			nstash;
	int			maxstash;
	SealCand   *cands;
	int			ncands;
	int			maxcands;
} AcctState;

/* An entry whose posting is checked once the new entries are read (incremental). */
typedef struct PostingRef
{
	int64		posting_id;
	int64		account_id;
	int64		entry_id;
} PostingRef;

/* What the journal says an (account, asset) holds. */
typedef struct Rebuilt
{
	int64		account_id;
	int			asset_no;
	vsum		balance;
	vsum		held;
} Rebuilt;

typedef struct HoldingKey
{
	int64		account_id;
	int32		asset_no;
	int32		pad;
} HoldingKey;

typedef struct HoldingEntry
{
	HoldingKey	key;
	int64		balance;
	int64		held;
	bool		matched;
} HoldingEntry;

typedef struct AccountEntry
{
	int64		account_id;
	Oid			kind;
} AccountEntry;

typedef struct PostingSumKey
{
	int64		posting_id;
	int32		asset_no;
	int32		pad;
} PostingSumKey;

typedef struct PostingSumEntry
{
	PostingSumKey key;
	vsum		total;
} PostingSumEntry;

/* The posting ids that exist: a bitmap over [lo, hi], or a sorted array. */
typedef struct PostingSet
{
	int64		lo;
	int64		hi;
	uint8	   *bits;
	int64	   *ids;
	int64		nids;
	int64		maxids;
	bool		empty;
} PostingSet;

/* The day seals being rebuilt (as in src/chain.c), and one account's candidates. */
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
	bool	   *cand_set;
	int64	   *cand_seq;
	uint8	   *cand_hash;
	int64	   *cand_count;
	bool		account_any;
} SealRebuild;

/* The accounts' heads in account_id order (incremental check). */
typedef struct HeadCursor
{
	Portal		portal;
	SPITupleTable *batch;
	uint64		pos;
	bool		done;
} HeadCursor;

typedef struct EnumLabel
{
	Oid			oid;
	char	   *label;
} EnumLabel;

/* Slots of the account cache in front of acct_tab (a power of 2). */
#define ACCT_CACHE_SLOTS	4096

typedef struct Pass
{
	bool		since_mode;
	bool		chains_only;	/* verify_chains(): chains, heads and seals only */
	DateADT		since;
	MemoryContext cxt;
	MemoryContext rowcxt;

	/* the journal's layout */
	JournalLayout layout;
	bool		layout_ready;
	int			a_entry,
				a_posting,
				a_account,
				a_seq,
				a_kind,
				a_instrument,
				a_vintage,
				a_project,
				a_amount,
				a_held_change,
				a_balance_after,
				a_held_after,
				a_business_date,
				a_prev_hash,
				a_hash;

	/* enum values and labels */
	EnumLabel  *labels;
	int			nlabels;
	Oid			k_issue;
	Oid			k_retire;
	Oid			k_withdraw;
	Oid			ak_cancellation;

	/* hashing */
	ChainSha   *sha;
	StringInfoData payload;

	/* chain state */
	HTAB	   *acct_tab;		/* AcctState per account with entries */
	AcctState  *acct_cache[ACCT_CACHE_SLOTS];	/* acct_tab's last entries, by id */
	SealRebuild sr;
	SPIPlanPtr	pred_plan;
	HeadCursor	hc;
	bool		hc_have;
	int64		hc_account;
	int64		hc_seq;
	uint8		hc_hash[CHAIN_HASH_LEN];
	size_t		hc_hashlen;

	/* the accounts' assets */
	CurAsset   *apool;
	int			napool;
	int			maxapool;

	/* assets */
	HTAB	   *asset_tab;
	AssetInfo  *assets;
	int			nassets;
	int			maxassets;
	SPIPlanPtr	base_plan;		/* incremental: balance before the new entries */
	Oid			instrument_type;

	/* accounts, issuance */
	HTAB	   *account_tab;
	Oid		   *may_issue_kind;
	Oid		   *may_issue_instrument;
	int			nmay_issue;

	/* holdings rebuilt */
	Rebuilt    *rebuilt;
	int64		nrebuilt;
	int64		maxrebuilt;
	int64	   *touched;
	int64		ntouched;
	int64		maxtouched;

	PostingSet postings;
	HTAB	   *posting_sums;	/* incremental */
	PostingRef *prefs;			/* incremental */
	int64		nprefs;
	int64		maxprefs;

	/* problems by check */
	ProblemList p_chain;
	ProblemList p_running;
	ProblemList p_balance;
	ProblemList p_unknown;
	ProblemList p_issue;
} Pass;

/* ----------------------------------------------------------------
 *		Small helpers
 * ----------------------------------------------------------------
 */

static void
problem_add(Pass *ps, ProblemList *pl, const char *problem, int64 account_id,
			bool account_null, int64 entry_id, bool entry_null, char *detail,
			int64 sort1, int64 sort2)
{
	Problem    *p;

	if (pl->n >= pl->max)
	{
		pl->max = pl->max == 0 ? 16 : pl->max * 2;
		pl->items = pl->items == NULL ?
			MemoryContextAlloc(ps->cxt, sizeof(Problem) * pl->max) :
			repalloc(pl->items, sizeof(Problem) * pl->max);
	}
	p = &pl->items[pl->n++];
	p->problem = problem;
	p->account_id = account_id;
	p->account_null = account_null;
	p->entry_id = entry_id;
	p->entry_null = entry_null;
	p->detail = MemoryContextStrdup(ps->cxt, detail);
	p->sort1 = sort1;
	p->sort2 = sort2;
}

static int
problem_cmp(const void *a, const void *b)
{
	const Problem *x = (const Problem *) a;
	const Problem *y = (const Problem *) b;

	if (x->sort1 != y->sort1)
		return x->sort1 < y->sort1 ? -1 : 1;
	if (x->sort2 != y->sort2)
		return x->sort2 < y->sort2 ? -1 : 1;
	return 0;
}

static void
emit_row(Tuplestorestate *ts, TupleDesc desc, const char *problem,
		 int64 account_id, bool account_null, int64 entry_id, bool entry_null,
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
	tuplestore_putvalues(ts, desc, values, nulls);
}

static void
emit_list(Tuplestorestate *ts, TupleDesc desc, ProblemList *pl, bool sorted)
{
	if (sorted && pl->n > 1)
		qsort(pl->items, pl->n, sizeof(Problem), problem_cmp);
	for (int i = 0; i < pl->n; i++)
	{
		Problem    *p = &pl->items[i];

		emit_row(ts, desc, p->problem, p->account_id, p->account_null,
				 p->entry_id, p->entry_null, p->detail);
	}
}

/*
 * emit_query
 *		Run a query returning (problem, account_id, entry_id, detail) and
 *		emit its rows; one optional bigint[] parameter.
 */
static void
emit_query(Tuplestorestate *ts, TupleDesc desc, const char *sql, Datum *arg)
{
	Oid			argtypes[1] = {INT8ARRAYOID};
	SPIPlanPtr	plan = SPI_prepare(sql, arg ? 1 : 0, argtypes);
	Portal		portal;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, arg, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, VERIFY_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			Datum		values[4];
			bool		nulls[4];

			for (int c = 0; c < 4; c++)
				values[c] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc,
										  c + 1, &nulls[c]);
			tuplestore_putvalues(ts, desc, values, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
}

/* Decimal text of a sum. */
static char *
vsum_text(vsum v)
{
	char		buf[64];
	char	   *p = buf + sizeof(buf) - 1;
	bool		neg = v < 0;

	*p = '\0';
#ifdef HAVE_INT128
	{
		uint128		u = neg ? -(uint128) v : (uint128) v;

		do
		{
			*--p = '0' + (int) (u % 10);
			u /= 10;
		} while (u != 0);
	}
#else
	{
		uint64		u = neg ? -(uint64) v : (uint64) v;

		do
		{
			*--p = '0' + (int) (u % 10);
			u /= 10;
		} while (u != 0);
	}
#endif
	if (neg)
		*--p = '-';
	return pstrdup(p);
}

static const char *
enum_label_of(Pass *ps, Oid oid)
{
	for (int i = 0; i < ps->nlabels; i++)
		if (ps->labels[i].oid == oid)
			return ps->labels[i].label;
	return NULL;
}

/*
 * verify_enum_out
 *		The output function of the journal's enum columns for the payload:
 *		enum_out() without its catalog lookup per row (the labels are read
 *		once per pass).  fn_extra is the Pass.
 */
static Datum
verify_enum_out(PG_FUNCTION_ARGS)
{
	Pass	   *ps = (Pass *) fcinfo->flinfo->fn_extra;
	Oid			oid = PG_GETARG_OID(0);
	const char *label = enum_label_of(ps, oid);

	if (label == NULL)
		return DirectFunctionCall1(enum_out, ObjectIdGetDatum(oid));
	return CStringGetDatum(label);
}

/* ----------------------------------------------------------------
 *		Day seals, rebuilt in the pass (as verify_chains() in src/chain.c)
 * ----------------------------------------------------------------
 */

static bool
bytes_equal(const uint8 *a, size_t alen, const uint8 *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

static void
format_date_iso(char *buf, size_t size, DateADT date)
{
	int			year,
				month,
				day;

	if (DATE_NOT_FINITE(date))
	{
		snprintf(buf, size, DATE_IS_NOBEGIN(date) ? "-infinity" : "infinity");
		return;
	}
	j2date(date + POSTGRES_EPOCH_JDATE, &year, &month, &day);
	if (year > 0)
		snprintf(buf, size, "%04d-%02d-%02d", year, month, day);
	else
		snprintf(buf, size, "%04d-%02d-%02d BC", 1 - year, month, day);
}

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
static inline int
seals_index(const SealRebuild *sr, DateADT date)
{
	int			lo = 0,
				hi = sr->n;

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

static inline void
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

/* Fold the account's heads into every seal, as heads_digest() writes them. */
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

static void
seals_report(Tuplestorestate *ts, TupleDesc desc, SealRebuild *sr)
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
		format_date_iso(datebuf, sizeof(datebuf), sr->dates[k]);
		emit_row(ts, desc, "seal_mismatch", 0, true, 0, true,
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
		SPI_cursor_fetch(hc->portal, true, VERIFY_FETCH_ROWS);
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

/* Accounts before account_id (all when !upto) without new entries: heads unchanged. */
static void
heads_until(Pass *ps, bool upto, int64 account_id)
{
	for (;;)
	{
		if (!ps->hc_have)
			ps->hc_have = head_cursor_next(&ps->hc, &ps->hc_account, &ps->hc_seq,
										   ps->hc_hash, &ps->hc_hashlen);
		if (!ps->hc_have || (upto && ps->hc_account >= account_id))
			break;
		if (ps->hc_seq > 0)
		{
			seals_candidate(&ps->sr, 0, ps->hc_seq, ps->hc_hash, ps->hc_hashlen, ps->hc_seq);
			seals_account_end(&ps->sr, ps->hc_account);
		}
		ps->hc_have = false;
	}
	if (upto && ps->hc_have && ps->hc_account == account_id)
		ps->hc_have = false;
}

/* ----------------------------------------------------------------
 *		Assets, accounts, postings
 * ----------------------------------------------------------------
 */

static uint32
asset_hash(const void *key, Size keysize)
{
	const AssetKey *k = (const AssetKey *) key;

	return hash_bytes((const unsigned char *) k->project, k->projlen) ^
		hash_uint32((uint32) k->instrument) ^ hash_uint32((uint32) k->vintage * 31u);
}

static int
asset_match(const void *key1, const void *key2, Size keysize)
{
	const AssetKey *a = (const AssetKey *) key1;
	const AssetKey *b = (const AssetKey *) key2;

	if (a->instrument != b->instrument || a->vintage != b->vintage ||
		a->projlen != b->projlen)
		return 1;
	return memcmp(a->project, b->project, a->projlen);
}

/* The number of an asset, numbering it on first sight. */
static int
asset_number(Pass *ps, Oid instrument, int32 vintage, const char *project, int projlen)
{
	AssetKey	key;
	AssetEntry *e;
	bool		found;

	key.instrument = instrument;
	key.vintage = vintage;
	key.projlen = projlen;
	key.project = project;
	e = hash_search(ps->asset_tab, &key, HASH_ENTER, &found);
	if (!found)
	{
		AssetInfo  *ai;

		if (ps->nassets >= ps->maxassets)
		{
			ps->maxassets *= 2;
			ps->assets = repalloc(ps->assets, sizeof(AssetInfo) * ps->maxassets);
		}
		ai = &ps->assets[ps->nassets];
		memset(ai, 0, sizeof(AssetInfo));
		ai->instrument = instrument;
		ai->vintage = vintage;
		ai->projlen = projlen;
		ai->project = MemoryContextAlloc(ps->cxt, projlen + 1);
		memcpy(ai->project, project, projlen);
		ai->project[projlen] = '\0';
		e->key.project = ai->project;
		e->asset_no = ps->nassets++;
	}
	return e->asset_no;
}

/* carbonmkt.format_asset() of an asset, asked once. */
static const char *
asset_text(Pass *ps, int asset_no)
{
	AssetInfo  *ai = &ps->assets[asset_no];

	if (ai->text == NULL)
	{
		Oid			argtypes[3] = {TEXTOID, INT4OID, TEXTOID};
		Datum		args[3];
		const char *label = enum_label_of(ps, ai->instrument);
		int			ret;
		bool		isnull;
		Datum		d;

		args[0] = CStringGetTextDatum(label ? label : "");
		args[1] = Int32GetDatum(ai->vintage);
		args[2] = CStringGetTextDatum(ai->project);
		ret = SPI_execute_with_args("SELECT carbonmkt.format_asset($1::carbonmkt.instrument, $2, $3)",
									3, argtypes, args, NULL, true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "format_asset failed: %s", SPI_result_code_string(ret));
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		ai->text = MemoryContextStrdup(ps->cxt, isnull ? "" : TextDatumGetCString(d));
		SPI_freetuptable(SPI_tuptable);
	}
	return ai->text;
}

static void
posting_set_add(PostingSet *pset, int64 id)
{
	if (id < pset->lo || id > pset->hi)
		return;
	if (pset->bits != NULL)
	{
		uint64		off = (uint64) (id - pset->lo);

		pset->bits[off >> 3] |= (uint8) (1 << (off & 7));
	}
	else
	{
		if (pset->nids >= pset->maxids)
		{
			pset->maxids *= 2;
			pset->ids = repalloc_huge(pset->ids, sizeof(int64) * pset->maxids);
		}
		pset->ids[pset->nids++] = id;
	}
}

static int
int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

static inline bool
posting_set_has(const PostingSet *pset, int64 id)
{
	if (pset->empty || id < pset->lo || id > pset->hi)
		return false;
	if (pset->bits != NULL)
	{
		uint64		off = (uint64) (id - pset->lo);

		return (pset->bits[off >> 3] & (1 << (off & 7))) != 0;
	}
	return bsearch(&id, pset->ids, pset->nids, sizeof(int64), int64_cmp) != NULL;
}

/* Room for the ids in [lo, hi]: a bitmap when it is at most 64 MB. */
static void
posting_set_init(Pass *ps, int64 lo, int64 hi)
{
	PostingSet *pset = &ps->postings;
	MemoryContext oldcxt = MemoryContextSwitchTo(ps->cxt);

	pset->lo = lo;
	pset->hi = hi;
	pset->empty = false;
	if ((uint64) (hi - lo) < (UINT64CONST(1) << 29))
		pset->bits = palloc_extended(((uint64) (hi - lo) >> 3) + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	else
	{
		pset->maxids = 1024;
		pset->ids = palloc(sizeof(int64) * pset->maxids);
	}
	MemoryContextSwitchTo(oldcxt);
}

static void
posting_set_done(PostingSet *pset)
{
	if (pset->ids != NULL && pset->nids > 1)
		qsort(pset->ids, pset->nids, sizeof(int64), int64_cmp);
}

/* Every posting id (full check): one scan of the posting table. */
static void
postings_load_all(Pass *ps, Oid nsp)
{
	int			ret;
	bool		n1,
				n2;
	int64		lo,
				hi;
	Oid			relid;
	Relation	rel;
	TableScanDesc scan;
	TupleTableSlot *slot;
	int			att;

	ret = SPI_execute("SELECT min(posting_id), max(posting_id) FROM carbonmkt.posting", true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading the posting ids failed: %s", SPI_result_code_string(ret));
	lo = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &n1));
	hi = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &n2));
	SPI_freetuptable(SPI_tuptable);
	if (n1 || n2)
	{
		ps->postings.empty = true;
		return;
	}
	posting_set_init(ps, lo, hi);

	relid = get_relname_relid("posting", nsp);
	if (!OidIsValid(relid))
		elog(ERROR, "carbonmkt.posting not found");
	rel = table_open(relid, AccessShareLock);
	att = chain_journal_attnum(RelationGetDescr(rel), "posting_id");
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, att, &isnull);

		CHECK_FOR_INTERRUPTS();
		if (!isnull)
			posting_set_add(&ps->postings, DatumGetInt64(d));
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, AccessShareLock);
	posting_set_done(&ps->postings);
}

/* The posting ids in [lo, hi] (incremental check): one index range read. */
static void
postings_load_range(Pass *ps, int64 lo, int64 hi)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2];
	SPIPlanPtr	plan;
	Portal		portal;

	posting_set_init(ps, lo, hi);
	args[0] = Int64GetDatum(lo);
	args[1] = Int64GetDatum(hi);
	plan = SPI_prepare("SELECT posting_id FROM carbonmkt.posting WHERE posting_id BETWEEN $1 AND $2",
					   2, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, args, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, VERIFY_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				posting_set_add(&ps->postings, DatumGetInt64(d));
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
	posting_set_done(&ps->postings);
}

/* Enum labels, account kinds and which kinds receive issuance of what. */
static void
load_catalog(Pass *ps)
{
	int			ret;
	HASHCTL		ctl;
	MemoryContext oldcxt;

	ret = SPI_execute("SELECT e.oid, e.enumlabel::text, t.typname::text FROM pg_catalog.pg_enum e "
					  "JOIN pg_catalog.pg_type t ON t.oid = e.enumtypid "
					  "WHERE t.typnamespace = 'carbonmkt'::regnamespace "
					  "AND t.typname IN ('entry_kind', 'instrument', 'account_kind')",
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading the enum labels failed: %s", SPI_result_code_string(ret));
	oldcxt = MemoryContextSwitchTo(ps->cxt);
	ps->labels = palloc0(sizeof(EnumLabel) * (SPI_processed + 1));
	ps->nlabels = (int) SPI_processed;
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		Oid			oid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		char	   *label = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
		char	   *type = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3, &isnull));

		ps->labels[r].oid = oid;
		ps->labels[r].label = label;
		if (strcmp(type, "entry_kind") == 0)
		{
			if (strcmp(label, "issue") == 0)
				ps->k_issue = oid;
			else if (strcmp(label, "retire") == 0)
				ps->k_retire = oid;
			else if (strcmp(label, "withdraw") == 0)
				ps->k_withdraw = oid;
		}
		else if (strcmp(type, "account_kind") == 0 && strcmp(label, "cancellation") == 0)
			ps->ak_cancellation = oid;
	}
	MemoryContextSwitchTo(oldcxt);
	SPI_freetuptable(SPI_tuptable);

	ret = SPI_execute("SELECT kind, instrument FROM carbonmkt.account_kind_instrument WHERE may_issue",
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading account_kind_instrument failed: %s", SPI_result_code_string(ret));
	ps->nmay_issue = (int) SPI_processed;
	ps->may_issue_kind = MemoryContextAlloc(ps->cxt, sizeof(Oid) * (SPI_processed + 1));
	ps->may_issue_instrument = MemoryContextAlloc(ps->cxt, sizeof(Oid) * (SPI_processed + 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;

		ps->may_issue_kind[r] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		ps->may_issue_instrument[r] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);

	/* accounts: id -> kind */
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(AccountEntry);
	ctl.hcxt = ps->cxt;
	ps->account_tab = hash_create("verify accounts", 1024, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	{
		SPIPlanPtr	plan = SPI_prepare("SELECT account_id, kind FROM carbonmkt.account", 0, NULL);
		Portal		portal;

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
		for (;;)
		{
			SPI_cursor_fetch(portal, true, VERIFY_FETCH_ROWS);
			if (SPI_processed == 0)
				break;
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				bool		isnull;
				int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
				Oid			kind = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
				AccountEntry *e = hash_search(ps->account_tab, &id, HASH_ENTER, NULL);

				e->kind = kind;
			}
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
		SPI_freeplan(plan);
	}
}

static bool
may_issue(Pass *ps, Oid kind, Oid instrument)
{
	for (int i = 0; i < ps->nmay_issue; i++)
		if (ps->may_issue_kind[i] == kind && ps->may_issue_instrument[i] == instrument)
			return true;
	return false;
}

/* ----------------------------------------------------------------
 *		The pass
 * ----------------------------------------------------------------
 */

static void
layout_prepare(Pass *ps, TupleDesc desc)
{
	chain_layout_init(&ps->layout, desc, ps->cxt);
	/* enum columns of the payload: labels from the pass, no catalog lookup per row */
	for (int i = 0; i < CHAIN_PAYLOAD_NFIELDS; i++)
	{
		Oid			typid = ps->layout.typids[i];

		if (typid != INT8OID && typid != INT4OID && typid != TEXTOID &&
			typid != DATEOID && typid != TIMESTAMPTZOID && type_is_enum(typid))
		{
			ps->layout.outfuncs[i].fn_addr = verify_enum_out;
			ps->layout.outfuncs[i].fn_extra = ps;
		}
	}
	ps->a_entry = ps->layout.entry_id_att - 1;
	ps->a_posting = ps->layout.posting_id_att - 1;
	ps->a_account = ps->layout.account_id_att - 1;
	ps->a_seq = ps->layout.seq_att - 1;
	ps->a_kind = ps->layout.kind_att - 1;
	ps->a_prev_hash = ps->layout.prev_hash_att - 1;
	ps->a_hash = ps->layout.hash_att - 1;
	ps->a_instrument = chain_journal_attnum(desc, "instrument") - 1;
	ps->a_vintage = chain_journal_attnum(desc, "vintage") - 1;
	ps->a_project = chain_journal_attnum(desc, "project") - 1;
	ps->a_amount = chain_journal_attnum(desc, "amount") - 1;
	ps->a_held_change = chain_journal_attnum(desc, "held_change") - 1;
	ps->a_balance_after = chain_journal_attnum(desc, "balance_after") - 1;
	ps->a_held_after = chain_journal_attnum(desc, "held_after") - 1;
	ps->a_business_date = chain_journal_attnum(desc, "business_date") - 1;
	ps->layout_ready = true;
}

/* The state of an account, made on its first entry. */
static AcctState *
acct_get(Pass *ps, int64 account_id)
{
	AcctState **slot = &ps->acct_cache[(uint64) account_id & (ACCT_CACHE_SLOTS - 1)];
	bool		found;
	AcctState  *as;

	/* a posting's legs alternate between a few accounts: a direct-mapped cache */
	if (*slot != NULL && (*slot)->account_id == account_id)
		return *slot;
	as = hash_search(ps->acct_tab, &account_id, HASH_ENTER, &found);
	*slot = as;
	if (!found)
	{
		AccountEntry *ae = hash_search(ps->account_tab, &account_id, HASH_FIND, NULL);

		as->known = ae != NULL;
		as->kind = ae ? ae->kind : InvalidOid;
		as->started = false;
		as->last_seq = 0;
		as->last_cap = CHAIN_HASH_LEN;
		as->last_hash = MemoryContextAlloc(ps->cxt, as->last_cap);
		as->last_len = 0;
		as->first_asset = -1;
		as->stash = NULL;
		as->nstash = 0;
		as->maxstash = 0;
		as->cands = NULL;
		as->ncands = 0;
		as->maxcands = 0;
	}
	return as;
}

/* The account's asset of an entry (a CurAsset index), numbering it on first sight. */
static int
acct_asset(Pass *ps, AcctState *as, Oid instrument, int32 vintage, Datum project_d)
{
	text	   *pt = DatumGetTextPP(project_d);
	const char *project = VARDATA_ANY(pt);
	int			projlen = VARSIZE_ANY_EXHDR(pt);
	int			i;
	CurAsset   *ca;

	for (i = as->first_asset; i >= 0; i = ps->apool[i].next)
	{
		AssetInfo  *ai = &ps->assets[ps->apool[i].asset_no];

		if (ai->instrument == instrument && ai->vintage == vintage &&
			ai->projlen == projlen && memcmp(ai->project, project, projlen) == 0)
			return i;
	}
	if (ps->napool >= ps->maxapool)
	{
		ps->maxapool *= 2;
		ps->apool = repalloc_huge(ps->apool, sizeof(CurAsset) * ps->maxapool);
	}
	i = ps->napool++;
	ca = &ps->apool[i];
	memset(ca, 0, sizeof(CurAsset));
	ca->asset_no = asset_number(ps, instrument, vintage, project, projlen);
	ca->next = as->first_asset;
	as->first_asset = i;
	return i;
}

/* An entry (or a head) of the account, counted count times, for the seals from k on. */
static void
acct_seal_candidate(Pass *ps, AcctState *as, int k, int64 seq, const uint8 *hash,
					size_t hashlen, int64 count)
{
	SealCand   *c = NULL;

	if (k < 0 || k >= ps->sr.n)
		return;
	/* entries come in date order: the last candidate is the usual one */
	for (int i = as->ncands - 1; i >= 0; i--)
		if (as->cands[i].k == k)
		{
			c = &as->cands[i];
			break;
		}
	if (c == NULL)
	{
		if (as->ncands >= as->maxcands)
		{
			as->maxcands = as->maxcands == 0 ? 4 : as->maxcands * 2;
			as->cands = as->cands == NULL ?
				MemoryContextAlloc(ps->cxt, sizeof(SealCand) * as->maxcands) :
				repalloc(as->cands, sizeof(SealCand) * as->maxcands);
		}
		c = &as->cands[as->ncands++];
		c->k = k;
		c->count = 0;
		c->seq = PG_INT64_MIN;
		c->hashlen = 0;
	}
	c->count += count;
	if (seq > c->seq)
	{
		c->seq = seq;
		c->hashlen = Min(hashlen, CHAIN_HASH_LEN);
		memcpy(c->hash, hash, c->hashlen);
	}
}

/*
 * pred_lookup
 *		The hash (palloc'd copy) and day of entry seq of an account; false
 *		when there is none.
 */
static bool
pred_lookup(Pass *ps, int64 account_id, int64 seq, uint8 **hash, size_t *hashlen,
			DateADT *day, bool *day_null)
{
	Datum		pargs[2];
	int			ret;
	bool		hnull;
	bytea	   *ph;

	pargs[0] = Int64GetDatum(account_id);
	pargs[1] = Int64GetDatum(seq);
	ret = SPI_execute_plan(ps->pred_plan, pargs, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading entry " INT64_FORMAT " of account " INT64_FORMAT " failed: %s",
			 seq, account_id, SPI_result_code_string(ret));
	if (SPI_processed != 1)
	{
		SPI_freetuptable(SPI_tuptable);
		return false;
	}
	ph = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &hnull));
	*hashlen = VARSIZE_ANY_EXHDR(ph);
	*hash = palloc(*hashlen + 1);
	memcpy(*hash, VARDATA_ANY(ph), *hashlen);
	*day = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, day_null));
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/*
 * ordered_step
 *		Check an entry of an account in seq order (as verify_chains() and the
 *		running balances do): its seq and link, its seal candidacy, its
 *		running balance.  first: the account's first entry in seq order.
 */
static void
ordered_step(Pass *ps, AcctState *as, const Rec *r, bool first)
{
	static const uint8 genesis[CHAIN_HASH_LEN] = {0};
	int64		account_id = as->account_id;
	int64		expected_seq;
	const uint8 *expected_prev;
	size_t		expected_prev_len;
	bool		check_link = true;
	bool		lookup = false;
	CurAsset   *ca;

	if (!first && r->seq == as->last_seq + 1)
	{
		expected_seq = r->seq;
		expected_prev = as->last_hash;
		expected_prev_len = as->last_len;
	}
	else if (!first && !ps->since_mode)
	{
		expected_seq = as->last_seq + 1;
		expected_prev = as->last_hash;
		expected_prev_len = as->last_len;
	}
	else if (r->seq == 1 || !ps->since_mode)
	{
		expected_seq = 1;
		expected_prev = genesis;
		expected_prev_len = CHAIN_HASH_LEN;
	}
	else
		lookup = true;

	if (lookup)
	{
		/* the entry before: older than the day (first entry) or missing */
		uint8	   *ph;
		size_t		phlen;
		DateADT		pday;
		bool		pday_null;

		expected_seq = r->seq;
		if (pred_lookup(ps, account_id, r->seq - 1, &ph, &phlen, &pday, &pday_null))
		{
			expected_prev = ph;
			expected_prev_len = phlen;
			/* the account's head on the day */
			if (first)
				acct_seal_candidate(ps, as, 0, r->seq - 1, ph, phlen, r->seq - 1);
		}
		else
		{
			problem_add(ps, &ps->p_chain, "seq_gap", account_id, false, r->entry_id, false,
						psprintf("expected seq " INT64_FORMAT " before seq " INT64_FORMAT
								 ", found none", r->seq - 1, r->seq),
						account_id, r->seq * 2);
			check_link = false;
			expected_prev = genesis;
			expected_prev_len = CHAIN_HASH_LEN;
		}
	}

	if (!check_link)
		;
	else if (r->seq != expected_seq)
		problem_add(ps, &ps->p_chain, "seq_gap", account_id, false, r->entry_id, false,
					psprintf("expected seq " INT64_FORMAT ", found seq " INT64_FORMAT,
							 expected_seq, r->seq), account_id, r->seq * 2);
	else if (!bytes_equal(r->prev, r->prevlen, expected_prev, expected_prev_len))
		problem_add(ps, &ps->p_chain, "prev_hash_mismatch", account_id, false, r->entry_id, false,
					psprintf("seq " INT64_FORMAT ": prev_hash is %s, the previous entry's hash is %s",
							 r->seq, chain_hex_text(r->prev, r->prevlen),
							 chain_hex_text(expected_prev, expected_prev_len)),
					account_id, r->seq * 2);

	/* a head candidate of the seals on or after its day */
	acct_seal_candidate(ps, as, r->k, r->seq, r->hash, r->hashlen, 1);

	if (r->hashlen > as->last_cap)
	{
		as->last_hash = repalloc(as->last_hash, r->hashlen);
		as->last_cap = r->hashlen;
	}
	memcpy(as->last_hash, r->hash, r->hashlen);
	as->last_len = r->hashlen;
	as->last_seq = r->seq;
	as->started = true;

	/* running balance and held of the asset */
	if (r->asset < 0)
		return;
	ca = &ps->apool[r->asset];
	if (!ca->base_loaded)
	{
		ca->base_loaded = true;
		if (ps->since_mode && r->seq > 1)
		{
			/* the balance after the asset's last entry before the new ones */
			AssetInfo  *ai = &ps->assets[ca->asset_no];
			Datum		args[5];
			int			ret;

			args[0] = Int64GetDatum(account_id);
			args[1] = Int64GetDatum(r->seq);
			args[2] = ObjectIdGetDatum(ai->instrument);
			args[3] = Int32GetDatum(ai->vintage);
			args[4] = PointerGetDatum(cstring_to_text_with_len(ai->project, ai->projlen));
			ret = SPI_execute_plan(ps->base_plan, args, NULL, true, 1);
			if (ret != SPI_OK_SELECT)
				elog(ERROR, "reading the balance before entry " INT64_FORMAT " of account " INT64_FORMAT " failed: %s",
					 r->seq, account_id, SPI_result_code_string(ret));
			if (SPI_processed == 1)
			{
				bool		isnull;

				ca->run_balance = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
				ca->run_held = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
			}
			SPI_freetuptable(SPI_tuptable);
		}
	}
	ca->run_balance += r->amount;
	ca->run_held += r->held_change;
	ca->last_balance = r->balance_after;
	ca->last_held = r->held_after;
	if (ca->run_balance != r->balance_after || ca->run_held != r->held_after)
		problem_add(ps, &ps->p_running, "running_balance_mismatch", account_id, false, r->entry_id, false,
					psprintf("%s: balance_after " INT64_FORMAT ", held_after " INT64_FORMAT
							 ", rebuilt %s and %s", asset_text(ps, ca->asset_no),
							 r->balance_after, r->held_after,
							 vsum_text(ca->run_balance), vsum_text(ca->run_held)),
					account_id, r->seq);
}

/* The stash of an account: a min-heap on seq. */
static void
stash_push(Pass *ps, AcctState *as, const Rec *r)
{
	Rec		   *c;
	uint8	   *copy;
	int			i;

	if (as->nstash >= as->maxstash)
	{
		as->maxstash = as->maxstash == 0 ? 8 : as->maxstash * 2;
		as->stash = as->stash == NULL ?
			MemoryContextAllocHuge(ps->cxt, sizeof(Rec) * as->maxstash) :
			repalloc_huge(as->stash, sizeof(Rec) * as->maxstash);
	}
	copy = MemoryContextAlloc(ps->cxt, r->prevlen + r->hashlen + 1);
	memcpy(copy, r->prev, r->prevlen);
	memcpy(copy + r->prevlen, r->hash, r->hashlen);
	i = as->nstash++;
	while (i > 0 && as->stash[(i - 1) / 2].seq > r->seq)
	{
		as->stash[i] = as->stash[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	c = &as->stash[i];
	*c = *r;
	c->prev = copy;
	c->hash = copy + r->prevlen;
}

static Rec
stash_pop(AcctState *as)
{
	Rec			top = as->stash[0];
	Rec			last = as->stash[--as->nstash];
	int			i = 0;

	for (;;)
	{
		int			child = 2 * i + 1;

		if (child >= as->nstash)
			break;
		if (child + 1 < as->nstash && as->stash[child + 1].seq < as->stash[child].seq)
			child++;
		if (as->stash[child].seq >= last.seq)
			break;
		as->stash[i] = as->stash[child];
		i = child;
	}
	if (as->nstash > 0)
		as->stash[i] = last;
	return top;
}

/* Check the entries that waited for the one just checked. */
static void
stash_drain(Pass *ps, AcctState *as)
{
	while (as->nstash > 0 && as->stash[0].seq == as->last_seq + 1)
	{
		Rec			r = stash_pop(as);

		ordered_step(ps, as, &r, false);
	}
}

/*
 * feed_row
 *		One journal entry, in whatever order the journal is read.  What does
 *		not depend on order is checked at once; the rest when the entry's turn
 *		in its account's seq order comes (at once, normally: entries are
 *		written in seq order).
 */
static void
feed_row(Pass *ps, Datum *values, bool *isnull)
{
	int64		account_id = DatumGetInt64(values[ps->a_account]);
	int64		posting_id = DatumGetInt64(values[ps->a_posting]);
	Oid			kind = DatumGetObjectId(values[ps->a_kind]);
	Oid			instrument = DatumGetObjectId(values[ps->a_instrument]);
	AcctState  *as = acct_get(ps, account_id);
	Rec			r;
	uint8		recomputed[CHAIN_HASH_LEN];
	const char *utf8;
	size_t		utf8len;
	int			asset_no;

	r.seq = DatumGetInt64(values[ps->a_seq]);
	r.entry_id = DatumGetInt64(values[ps->a_entry]);
	r.amount = DatumGetInt64(values[ps->a_amount]);
	r.held_change = DatumGetInt64(values[ps->a_held_change]);
	r.balance_after = DatumGetInt64(values[ps->a_balance_after]);
	r.held_after = DatumGetInt64(values[ps->a_held_after]);
	if (ps->chains_only)
	{
		r.asset = -1;
		asset_no = -1;
	}
	else
	{
		r.asset = acct_asset(ps, as, instrument, DatumGetInt32(values[ps->a_vintage]),
							 values[ps->a_project]);
		asset_no = ps->apool[r.asset].asset_no;
	}
	r.k = isnull[ps->a_business_date] ? -1 :
		seals_index(&ps->sr, DatumGetDateADT(values[ps->a_business_date]));
	r.prev = (const uint8 *) "";
	r.prevlen = 0;
	r.hash = (const uint8 *) "";
	r.hashlen = 0;
	if (!isnull[ps->a_prev_hash])
	{
		bytea	   *b = DatumGetByteaPP(values[ps->a_prev_hash]);

		r.prev = (const uint8 *) VARDATA_ANY(b);
		r.prevlen = VARSIZE_ANY_EXHDR(b);
	}
	if (!isnull[ps->a_hash])
	{
		bytea	   *b = DatumGetByteaPP(values[ps->a_hash]);

		r.hash = (const uint8 *) VARDATA_ANY(b);
		r.hashlen = VARSIZE_ANY_EXHDR(b);
	}

	/* its hash: SHA-256(stored prev_hash || UTF-8 payload), one context for the pass */
	resetStringInfo(&ps->payload);
	chain_entry_payload(&ps->payload, &ps->layout, values, isnull);
	utf8 = pg_server_to_any(ps->payload.data, ps->payload.len, PG_UTF8);
	utf8len = (utf8 == ps->payload.data) ? (size_t) ps->payload.len : strlen(utf8);
	chain_sha_restart(ps->sha);
	chain_sha_update(ps->sha, r.prev, r.prevlen);
	chain_sha_update(ps->sha, utf8, utf8len);
	chain_sha_final(ps->sha, recomputed);
	if (!bytes_equal(r.hash, r.hashlen, recomputed, CHAIN_HASH_LEN))
		problem_add(ps, &ps->p_chain, "hash_mismatch", account_id, false, r.entry_id, false,
					psprintf("seq " INT64_FORMAT ": stored hash is %s, recomputed %s",
							 r.seq, chain_hex_text(r.hash, r.hashlen),
							 chain_hex_text(recomputed, CHAIN_HASH_LEN)),
					account_id, r.seq * 2 + 1);

	/* conservation (full) or the posting's balance per asset (incremental) */
	if (ps->chains_only)
		;
	else if (!ps->since_mode)
	{
		if (as->known)
		{
			AssetInfo  *ai = &ps->assets[asset_no];

			ai->any = true;
			if (kind == ps->k_issue)
			{
				ai->issued += r.amount;
				ai->any_issue = true;
			}
			else if (kind == ps->k_retire)
				ai->retired += r.amount;
			else if (kind == ps->k_withdraw)
				ai->withdrawn -= r.amount;
			if (as->kind != ps->ak_cancellation)
				ai->holdings += r.amount;
		}
	}
	else if (kind != ps->k_issue && kind != ps->k_withdraw)
	{
		PostingSumKey key;
		PostingSumEntry *pe;
		bool		found;

		memset(&key, 0, sizeof(key));
		key.posting_id = posting_id;
		key.asset_no = asset_no;
		pe = hash_search(ps->posting_sums, &key, HASH_ENTER, &found);
		if (!found)
			pe->total = 0;
		pe->total += r.amount;
	}

	/* its posting: now (full), or once the new entries' postings are read */
	if (ps->chains_only)
		;
	else if (!ps->since_mode)
	{
		if (!posting_set_has(&ps->postings, posting_id))
			problem_add(ps, &ps->p_unknown, "unknown_posting", account_id, false, r.entry_id, false,
						psprintf("posting " INT64_FORMAT " does not exist", posting_id), r.entry_id, 0);
	}
	else
	{
		if (ps->nprefs >= ps->maxprefs)
		{
			ps->maxprefs *= 2;
			ps->prefs = repalloc_huge(ps->prefs, sizeof(PostingRef) * ps->maxprefs);
		}
		ps->prefs[ps->nprefs].posting_id = posting_id;
		ps->prefs[ps->nprefs].account_id = account_id;
		ps->prefs[ps->nprefs].entry_id = r.entry_id;
		ps->nprefs++;
	}

	/* issuance only where it may land */
	if (!ps->chains_only && kind == ps->k_issue && as->known &&
		!may_issue(ps, as->kind, instrument))
	{
		Oid			argtypes[2] = {TEXTOID, INT8OID};
		Datum		args[2];
		const char *ilabel = enum_label_of(ps, instrument);
		const char *klabel = enum_label_of(ps, as->kind);
		int			ret;
		bool		qnull;
		char	   *qty;

		args[0] = CStringGetTextDatum(ilabel ? ilabel : "");
		args[1] = Int64GetDatum(r.amount);
		ret = SPI_execute_with_args("SELECT carbonmkt.format_quantity($1::carbonmkt.instrument, $2)",
									2, argtypes, args, NULL, true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "format_quantity failed: %s", SPI_result_code_string(ret));
		qty = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &qnull));
		SPI_freetuptable(SPI_tuptable);
		problem_add(ps, &ps->p_issue, "issue_outside_issuance_account", account_id, false, r.entry_id, false,
					psprintf("%s issued into account " INT64_FORMAT " of kind %s, which cannot receive issuance of %s",
							 qty, account_id, klabel ? klabel : "", ilabel ? ilabel : ""),
					r.entry_id, 0);
	}

	/* its turn in the account's seq order */
	if (!as->started)
	{
		bool		start = false;

		if (r.seq == 1)
			start = true;
		else if (ps->since_mode)
		{
			/* the first new entry follows one dated on or before the day */
			uint8	   *ph;
			size_t		phlen;
			DateADT		pday;
			bool		pday_null;

			start = pred_lookup(ps, account_id, r.seq - 1, &ph, &phlen, &pday, &pday_null) &&
				!pday_null && pday <= ps->since;
		}
		if (start)
		{
			ordered_step(ps, as, &r, true);
			stash_drain(ps, as);
		}
		else
			stash_push(ps, as, &r);
	}
	else if (r.seq == as->last_seq + 1)
	{
		ordered_step(ps, as, &r, false);
		stash_drain(ps, as);
	}
	else
		stash_push(ps, as, &r);
}

/*
 * acct_finish
 *		After the journal is read: the account's waiting entries in seq order
 *		(gaps, or an account whose first entries are missing), its seal heads
 *		folded into the seals (call in account_id order), its holdings.
 */
static void
acct_finish(Pass *ps, AcctState *as)
{
	while (as->nstash > 0)
	{
		Rec			r = stash_pop(as);

		ordered_step(ps, as, &r, !as->started);
	}
	for (int i = 0; i < as->ncands; i++)
		seals_candidate(&ps->sr, as->cands[i].k, as->cands[i].seq, as->cands[i].hash,
						as->cands[i].hashlen, as->cands[i].count);
	seals_account_end(&ps->sr, as->account_id);

	for (int i = as->first_asset; i >= 0; i = ps->apool[i].next)
	{
		CurAsset   *ca = &ps->apool[i];
		Rebuilt    *rb;

		if (ps->nrebuilt >= ps->maxrebuilt)
		{
			ps->maxrebuilt *= 2;
			ps->rebuilt = repalloc_huge(ps->rebuilt, sizeof(Rebuilt) * ps->maxrebuilt);
		}
		rb = &ps->rebuilt[ps->nrebuilt++];
		rb->account_id = as->account_id;
		rb->asset_no = ca->asset_no;
		if (ps->since_mode)
		{
			rb->balance = ca->last_balance;
			rb->held = ca->last_held;
		}
		else
		{
			rb->balance = ca->run_balance;
			rb->held = ca->run_held;
		}
	}
	if (ps->ntouched >= ps->maxtouched)
	{
		ps->maxtouched *= 2;
		ps->touched = repalloc_huge(ps->touched, sizeof(int64) * ps->maxtouched);
	}
	ps->touched[ps->ntouched++] = as->account_id;
}

static int
acct_cmp(const void *a, const void *b)
{
	int64		x = (*(AcctState *const *) a)->account_id;
	int64		y = (*(AcctState *const *) b)->account_id;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* Every account with entries, in account_id order (and, incremental, the others' heads). */
static void
finish_accounts(Pass *ps)
{
	long		n = hash_get_num_entries(ps->acct_tab);
	AcctState **all = MemoryContextAllocHuge(ps->cxt, sizeof(AcctState *) * (n + 1));
	HASH_SEQ_STATUS status;
	AcctState  *as;
	long		i = 0;

	hash_seq_init(&status, ps->acct_tab);
	while ((as = hash_seq_search(&status)) != NULL)
		all[i++] = as;
	if (n > 1)
		qsort(all, n, sizeof(AcctState *), acct_cmp);
	for (i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (ps->since_mode)
			heads_until(ps, true, all[i]->account_id);
		acct_finish(ps, all[i]);
	}
	if (ps->since_mode)
		heads_until(ps, false, 0);
}

/* ----------------------------------------------------------------
 *		After the pass
 * ----------------------------------------------------------------
 */

static const char *const head_query =
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
"ORDER BY a.account_id";

static const char *const seal_chain_query =
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
"ORDER BY x.business_date, x.o";

/* 4-6: the holdings against themselves, the holds and the CCER blocks ($1: the accounts, or all) */
static const char *const negative_query_all =
"SELECT 'negative_or_overheld', h.account_id, NULL::bigint, "
"format('%s: balance %s, held %s', carbonmkt.format_asset(h.instrument, h.vintage, h.project), h.balance, h.held) "
"FROM carbonmkt.holding h WHERE h.balance < 0 OR h.held < 0 OR h.held > h.balance";
static const char *const negative_query_some =
"SELECT 'negative_or_overheld', h.account_id, NULL::bigint, "
"format('%s: balance %s, held %s', carbonmkt.format_asset(h.instrument, h.vintage, h.project), h.balance, h.held) "
"FROM carbonmkt.holding h JOIN unnest($1::bigint[]) t(account_id) USING (account_id) "
"WHERE h.balance < 0 OR h.held < 0 OR h.held > h.balance";
static const char *const held_query_all =
"SELECT 'held_mismatch', h.account_id, NULL::bigint, "
"format('%s: held %s, active holds %s', carbonmkt.format_asset(h.instrument, h.vintage, h.project), "
"h.held, coalesce(x.remaining, 0)) "
"FROM carbonmkt.holding h "
"LEFT JOIN (SELECT y.account_id, y.instrument, y.vintage, y.project, sum(y.remaining) AS remaining "
"FROM carbonmkt.hold y WHERE y.status = 'active' GROUP BY 1, 2, 3, 4) x "
"ON (h.account_id, h.instrument, h.vintage, h.project) = (x.account_id, x.instrument, x.vintage, x.project) "
"WHERE h.held <> coalesce(x.remaining, 0)";
static const char *const held_query_some =
"SELECT 'held_mismatch', h.account_id, NULL::bigint, "
"format('%s: held %s, active holds %s', carbonmkt.format_asset(h.instrument, h.vintage, h.project), "
"h.held, coalesce(x.remaining, 0)) "
"FROM carbonmkt.holding h JOIN unnest($1::bigint[]) t(account_id) USING (account_id) "
"LEFT JOIN LATERAL (SELECT sum(y.remaining) AS remaining FROM carbonmkt.hold y "
"WHERE y.account_id = h.account_id AND y.status = 'active' "
"AND (y.instrument, y.vintage, y.project) = (h.instrument, h.vintage, h.project)) x ON true "
"WHERE h.held <> coalesce(x.remaining, 0)";
static const char *const ccer_query_all =
"SELECT 'ccer_blocks_mismatch', coalesce(h.account_id, b.account_id), NULL::bigint, "
"format('CCER %s %s: holding %s t, blocks %s t', coalesce(h.project, b.project), coalesce(h.vintage, b.vintage), "
"coalesce(h.balance, 0), coalesce(b.tonnes, 0)) "
"FROM (SELECT * FROM carbonmkt.holding WHERE instrument = 'CCER') h "
"FULL JOIN (SELECT c.account_id, carbonmkt.project(c.block) AS project, carbonmkt.vintage(c.block) AS vintage, "
"sum(carbonmkt.tonnes(c.block)) AS tonnes "
"FROM carbonmkt.ccer_block c GROUP BY 1, 2, 3) b "
"ON (h.account_id, h.project, h.vintage) = (b.account_id, b.project, b.vintage) "
"WHERE coalesce(h.balance, 0) <> coalesce(b.tonnes, 0)";
static const char *const ccer_query_some =
"SELECT 'ccer_blocks_mismatch', coalesce(h.account_id, b.account_id), NULL::bigint, "
"format('CCER %s %s: holding %s t, blocks %s t', coalesce(h.project, b.project), coalesce(h.vintage, b.vintage), "
"coalesce(h.balance, 0), coalesce(b.tonnes, 0)) "
"FROM (SELECT x.* FROM carbonmkt.holding x JOIN unnest($1::bigint[]) t(account_id) USING (account_id) "
"WHERE x.instrument = 'CCER') h "
"FULL JOIN (SELECT c.account_id, carbonmkt.project(c.block) AS project, carbonmkt.vintage(c.block) AS vintage, "
"sum(carbonmkt.tonnes(c.block)) AS tonnes "
"FROM carbonmkt.ccer_block c JOIN unnest($1::bigint[]) t(account_id) USING (account_id) GROUP BY 1, 2, 3) b "
"ON (h.account_id, h.project, h.vintage) = (b.account_id, b.project, b.vintage) "
"WHERE coalesce(h.balance, 0) <> coalesce(b.tonnes, 0)";

/* The touched accounts as a bigint[] datum. */
static Datum
touched_array(Pass *ps)
{
	Datum	   *elems = palloc(sizeof(Datum) * (ps->ntouched + 1));

	for (int64 i = 0; i < ps->ntouched; i++)
		elems[i] = Int64GetDatum(ps->touched[i]);
	return PointerGetDatum(construct_array(elems, (int) ps->ntouched, INT8OID,
										   sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * 3. the holdings: against what the journal rebuilt (full check: both ways),
 *	  or against the last new entry of each asset (incremental check).
 */
static void
check_holdings(Pass *ps, Datum *touched)
{
	HASHCTL		ctl;
	HTAB	   *tab;
	SPIPlanPtr	plan;
	Portal		portal;
	Oid			argtypes[1] = {INT8ARRAYOID};

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(HoldingKey);
	ctl.entrysize = sizeof(HoldingEntry);
	ctl.hcxt = ps->cxt;
	tab = hash_create("verify holdings", Max(ps->nrebuilt, 1024), &ctl,
					  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	plan = SPI_prepare(touched ?
					   "SELECT h.account_id, h.instrument, h.vintage, h.project, h.balance, h.held "
					   "FROM carbonmkt.holding h JOIN unnest($1::bigint[]) t(account_id) USING (account_id)" :
					   "SELECT account_id, instrument, vintage, project, balance, held FROM carbonmkt.holding",
					   touched ? 1 : 0, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, touched, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, VERIFY_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			HoldingKey	key;
			HoldingEntry *he;
			text	   *pt;

			memset(&key, 0, sizeof(key));
			key.account_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			pt = DatumGetTextPP(SPI_getbinval(tup, desc, 4, &isnull));
			key.asset_no = asset_number(ps, DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull)),
										DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull)),
										VARDATA_ANY(pt), VARSIZE_ANY_EXHDR(pt));
			he = hash_search(tab, &key, HASH_ENTER, NULL);
			he->balance = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
			he->held = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
			he->matched = false;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);

	for (int64 i = 0; i < ps->nrebuilt; i++)
	{
		Rebuilt    *rb = &ps->rebuilt[i];
		HoldingKey	key;
		HoldingEntry *he;

		memset(&key, 0, sizeof(key));
		key.account_id = rb->account_id;
		key.asset_no = rb->asset_no;
		he = hash_search(tab, &key, HASH_FIND, NULL);
		if (he != NULL)
		{
			he->matched = true;
			if (he->balance == rb->balance && he->held == rb->held)
				continue;
		}
		problem_add(ps, &ps->p_balance, "balance_mismatch", rb->account_id, false, 0, true,
					psprintf("%s: holding %s/%s held, journal %s/%s held",
							 asset_text(ps, rb->asset_no),
							 he ? psprintf(INT64_FORMAT, he->balance) : "",
							 he ? psprintf(INT64_FORMAT, he->held) : "",
							 vsum_text(rb->balance), vsum_text(rb->held)),
					rb->account_id, rb->asset_no);
	}
	if (!ps->since_mode)
	{
		HASH_SEQ_STATUS status;
		HoldingEntry *he;

		hash_seq_init(&status, tab);
		while ((he = hash_seq_search(&status)) != NULL)
		{
			if (he->matched)
				continue;
			problem_add(ps, &ps->p_balance, "balance_mismatch", he->key.account_id, false, 0, true,
						psprintf("%s: holding " INT64_FORMAT "/" INT64_FORMAT " held, journal / held",
								 asset_text(ps, he->key.asset_no), he->balance, he->held),
						he->key.account_id, he->key.asset_no);
		}
	}
}

/* 7. conservation per asset (full check) */
static void
check_conservation(Pass *ps, Tuplestorestate *ts, TupleDesc desc)
{
	ProblemList pl = {0};

	for (int a = 0; a < ps->nassets; a++)
	{
		AssetInfo  *ai = &ps->assets[a];

		if (!ai->any || ai->issued - ai->retired - ai->withdrawn == ai->holdings)
			continue;
		problem_add(ps, &pl, "conservation", 0, true, 0, true,
					psprintf("%s: issued %s, retired %s, withdrawn %s, held outside cancellation %s",
							 asset_text(ps, a), ai->any_issue ? vsum_text(ai->issued) : "",
							 vsum_text(ai->retired), vsum_text(ai->withdrawn),
							 vsum_text(ai->holdings)), a, 0);
	}
	emit_list(ts, desc, &pl, true);
}

/* 7. every new posting balances per asset but for issue and withdraw entries (incremental) */
static void
check_postings_balance(Pass *ps, Tuplestorestate *ts, TupleDesc desc)
{
	ProblemList pl = {0};
	HASH_SEQ_STATUS status;
	PostingSumEntry *pe;

	hash_seq_init(&status, ps->posting_sums);
	while ((pe = hash_seq_search(&status)) != NULL)
	{
		if (pe->total == 0)
			continue;
		problem_add(ps, &pl, "posting_unbalanced", 0, true, 0, true,
					psprintf("posting " INT64_FORMAT ": its %s entries sum to %s", pe->key.posting_id,
							 asset_text(ps, pe->key.asset_no), vsum_text(pe->total)),
					pe->key.posting_id, pe->key.asset_no);
	}
	emit_list(ts, desc, &pl, true);
}

/* ----------------------------------------------------------------
 *		Reading the journal
 * ----------------------------------------------------------------
 */

/* Full check: the whole journal, in its physical order (a sequential scan). */
static void
read_all(Pass *ps, Relation rel)
{
	TableScanDesc scan;
	TupleTableSlot *slot = table_slot_create(rel, NULL);

	layout_prepare(ps, RelationGetDescr(rel));
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		MemoryContext oldcxt;

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		oldcxt = MemoryContextSwitchTo(ps->rowcxt);
		feed_row(ps, slot->tts_values, slot->tts_isnull);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(ps->rowcxt);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * Incremental check: the entries dated after the day (the block-range index
 * on business_date finds them), in physical order; then the postings they
 * name, read once.
 */
static void
read_since(Pass *ps)
{
	Oid			argtypes[1] = {DATEOID};
	Datum		args[1];
	SPIPlanPtr	plan;
	Portal		portal;
	Datum	   *values = NULL;
	bool	   *isnull = NULL;
	int64		lo = PG_INT64_MAX;
	int64		hi = PG_INT64_MIN;

	args[0] = DateADTGetDatum(ps->since);
	plan = SPI_prepare("SELECT * FROM carbonmkt.journal WHERE business_date > $1", 1, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, args, NULL, true);
	for (;;)
	{
		SPITupleTable *tuptable;
		uint64		nrows;

		SPI_cursor_fetch(portal, true, VERIFY_FETCH_ROWS);
		nrows = SPI_processed;
		tuptable = SPI_tuptable;
		if (nrows == 0)
		{
			SPI_freetuptable(tuptable);
			break;
		}
		if (!ps->layout_ready)
		{
			layout_prepare(ps, tuptable->tupdesc);
			values = MemoryContextAlloc(ps->cxt, sizeof(Datum) * tuptable->tupdesc->natts);
			isnull = MemoryContextAlloc(ps->cxt, sizeof(bool) * tuptable->tupdesc->natts);
		}
		for (uint64 r = 0; r < nrows; r++)
		{
			MemoryContext oldcxt;

			CHECK_FOR_INTERRUPTS();
			heap_deform_tuple(tuptable->vals[r], tuptable->tupdesc, values, isnull);
			oldcxt = MemoryContextSwitchTo(ps->rowcxt);
			feed_row(ps, values, isnull);
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(ps->rowcxt);
		}
		SPI_freetuptable(tuptable);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);

	/* every new entry belongs to a posting */
	if (ps->chains_only)
		return;
	for (int64 i = 0; i < ps->nprefs; i++)
	{
		lo = Min(lo, ps->prefs[i].posting_id);
		hi = Max(hi, ps->prefs[i].posting_id);
	}
	if (ps->nprefs > 0)
		postings_load_range(ps, lo, hi);
	else
		ps->postings.empty = true;
	for (int64 i = 0; i < ps->nprefs; i++)
	{
		PostingRef *pr = &ps->prefs[i];

		if (!posting_set_has(&ps->postings, pr->posting_id))
			problem_add(ps, &ps->p_unknown, "unknown_posting", pr->account_id, false, pr->entry_id, false,
						psprintf("posting " INT64_FORMAT " does not exist", pr->posting_id),
						pr->entry_id, 0);
	}
}

/*
 * require_scope
 *		The login must act for a party (doc/security.md, staff scope fails
 *		closed): carbonmkt._require_scope() raises 42501 for an unmapped or
 *		mis-mapped staff login, before anything is read.  Within SPI.
 */
static void
require_scope(void)
{
	bool		isnull;

	if (SPI_execute("SELECT pg_catalog.to_regprocedure('carbonmkt._require_scope(text)') IS NOT NULL",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading the catalog of carbonmkt failed");
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) &&
		SPI_execute("SELECT carbonmkt._require_scope('verify the ledger')", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "the scope check failed");
}

/*
 * verify_ledger_internal
 *		The pass and everything after it; results into the caller's
 *		materialized set.
 */
static void
verify_ledger_internal(FunctionCallInfo fcinfo, bool since_mode, DateADT since,
					   bool chains_only)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Tuplestorestate *ts;
	TupleDesc	desc;
	Pass	   *ps;
	Oid			nsp;
	Oid			relid;
	Relation	rel;
	MemoryContext cxt;
	HASHCTL		ctl;
	Datum		touched = (Datum) 0;

	InitMaterializedSRF(fcinfo, 0);
	ts = rsinfo->setResult;
	desc = rsinfo->setDesc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	require_scope();

	cxt = AllocSetContextCreate(CurrentMemoryContext, "verify_ledger", ALLOCSET_DEFAULT_SIZES);
	ps = MemoryContextAllocZero(cxt, sizeof(Pass));
	ps->cxt = cxt;
	ps->rowcxt = AllocSetContextCreate(cxt, "verify_ledger row", ALLOCSET_SMALL_SIZES);
	ps->since_mode = since_mode;
	ps->since = since;
	ps->chains_only = chains_only;
	ps->maxapool = 1024;
	ps->apool = MemoryContextAllocHuge(cxt, sizeof(CurAsset) * ps->maxapool);
	ps->maxprefs = 1024;
	ps->prefs = MemoryContextAllocHuge(cxt, sizeof(PostingRef) * ps->maxprefs);
	ps->maxassets = 64;
	ps->assets = MemoryContextAlloc(cxt, sizeof(AssetInfo) * ps->maxassets);
	ps->maxrebuilt = 1024;
	ps->rebuilt = MemoryContextAllocHuge(cxt, sizeof(Rebuilt) * ps->maxrebuilt);
	ps->maxtouched = 1024;
	ps->touched = MemoryContextAllocHuge(cxt, sizeof(int64) * ps->maxtouched);
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

		initStringInfo(&ps->payload);
		MemoryContextSwitchTo(oldcxt);
	}

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(AssetKey);
	ctl.entrysize = sizeof(AssetEntry);
	ctl.hash = asset_hash;
	ctl.match = asset_match;
	ctl.hcxt = cxt;
	ps->asset_tab = hash_create("verify assets", 256, &ctl,
								HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(AcctState);
	ctl.hcxt = cxt;
	ps->acct_tab = hash_create("verify account states", 1024, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (since_mode)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(PostingSumKey);
		ctl.entrysize = sizeof(PostingSumEntry);
		ctl.hcxt = cxt;
		ps->posting_sums = hash_create("verify postings", 4096, &ctl,
									   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	load_catalog(ps);
	seals_load(&ps->sr, since_mode, since, cxt);
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

		ps->sha = chain_sha_create();
		MemoryContextSwitchTo(oldcxt);
	}

	nsp = get_namespace_oid("carbonmkt", false);
	relid = get_relname_relid("journal", nsp);
	if (!OidIsValid(relid))
		elog(ERROR, "carbonmkt.journal not found");
	rel = table_open(relid, AccessShareLock);
	ps->a_instrument = chain_journal_attnum(RelationGetDescr(rel), "instrument") - 1;
	ps->instrument_type = TupleDescAttr(RelationGetDescr(rel), ps->a_instrument)->atttypid;
	{
		Oid			pred_types[2] = {INT8OID, INT8OID};

		ps->pred_plan = SPI_prepare("SELECT hash, business_date FROM carbonmkt.journal "
									"WHERE account_id = $1 AND seq = $2", 2, pred_types);
		if (ps->pred_plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	}

	if (since_mode)
	{
		Oid			base_types[5];
		SPIPlanPtr	hplan;

		base_types[0] = INT8OID;
		base_types[1] = INT8OID;
		base_types[2] = ps->instrument_type;
		base_types[3] = INT4OID;
		base_types[4] = TEXTOID;
		ps->base_plan = SPI_prepare("SELECT balance_after, held_after FROM carbonmkt.journal "
									"WHERE account_id = $1 AND seq < $2 AND instrument = $3 "
									"AND vintage = $4 AND project = $5 ORDER BY seq DESC LIMIT 1",
									5, base_types);
		hplan = SPI_prepare("SELECT account_id, head_seq, head_hash FROM carbonmkt.account "
							"ORDER BY account_id", 0, NULL);
		if (ps->base_plan == NULL || hplan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		read_since(ps);
		ps->hc.portal = SPI_cursor_open(NULL, hplan, NULL, NULL, true);
	}
	else
	{
		if (!chains_only)
			postings_load_all(ps, nsp);
		read_all(ps, rel);
	}
	finish_accounts(ps);
	if (since_mode)
	{
		if (ps->hc.batch != NULL)
			SPI_freetuptable(ps->hc.batch);
		SPI_cursor_close(ps->hc.portal);
	}
	table_close(rel, AccessShareLock);
	chain_sha_free(ps->sha);
	ps->sha = NULL;

	/* 1. chains, heads, seals, the seal chain */
	emit_list(ts, desc, &ps->p_chain, true);
	emit_query(ts, desc, head_query, NULL);
	seals_report(ts, desc, &ps->sr);
	emit_query(ts, desc, seal_chain_query, NULL);
	if (chains_only)
		goto done;
	/* 2. running balances */
	emit_list(ts, desc, &ps->p_running, true);
	/* 3. holdings */
	if (since_mode)
		touched = touched_array(ps);
	check_holdings(ps, since_mode ? &touched : NULL);
	emit_list(ts, desc, &ps->p_balance, true);
	/* 4-6. holdings against themselves, holds and CCER blocks */
	emit_query(ts, desc, since_mode ? negative_query_some : negative_query_all,
			   since_mode ? &touched : NULL);
	emit_query(ts, desc, since_mode ? held_query_some : held_query_all,
			   since_mode ? &touched : NULL);
	emit_query(ts, desc, since_mode ? ccer_query_some : ccer_query_all,
			   since_mode ? &touched : NULL);
	/* 7. conservation, or every new posting balanced */
	if (since_mode)
		check_postings_balance(ps, ts, desc);
	else
		check_conservation(ps, ts, desc);
	/* 8, 9. entries without posting, issuance outside issuance accounts */
	emit_list(ts, desc, &ps->p_unknown, true);
	emit_list(ts, desc, &ps->p_issue, true);

done:
	/* cxt is a child of SPI's procedure context: delete it first */
	MemoryContextDelete(cxt);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
}

/*
 * verify_ledger() -> TABLE (problem text, account_id bigint, entry_id bigint,
 *							 detail text)
 *		Everything: one row per problem, none when all is well.
 */
Datum
verify_ledger_full(PG_FUNCTION_ARGS)
{
	verify_ledger_internal(fcinfo, false, 0, false);
	return (Datum) 0;
}

/*
 * verify_ledger_since(sealed_day date DEFAULT NULL) -> TABLE (...)
 *		What was written after the day (NULL: the last sealed day; no seal:
 *		everything), the first new entry of each account linked to its
 *		predecessor and each asset's balance continued from its last earlier
 *		entry.
 */
Datum
verify_ledger_incremental(PG_FUNCTION_ARGS)
{
	DateADT		since;

	if (PG_ARGISNULL(0))
	{
		int			ret;
		bool		isnull;
		Datum		d;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		ret = SPI_execute("SELECT max(business_date) FROM carbonmkt.day_seal", true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "reading the last seal failed: %s", SPI_result_code_string(ret));
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			DATE_NOBEGIN(since);
		else
			since = DatumGetDateADT(d);
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
	}
	else
		since = PG_GETARG_DATEADT(0);
	verify_ledger_internal(fcinfo, true, since, false);
	return (Datum) 0;
}

/*
 * verify_chains() -> TABLE (problem text, account_id bigint, entry_id bigint,
 *							 detail text)
 *		The chain part of verify_ledger() alone, in the same pass: every
 *		chain, account head, day seal and the seal chain (the rows of
 *		verify_chains() in src/chain.c, kept there for 0.1.0 catalogs).
 */
Datum
verify_chains_pass(PG_FUNCTION_ARGS)
{
	verify_ledger_internal(fcinfo, false, 0, true);
	return (Datum) 0;
}

/*
 * verify_chains_since(sealed_day date) -> TABLE (...)
 *		The chain part of verify_ledger_since(sealed_day) alone.
 */
Datum
verify_chains_since_pass(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the day to verify from must not be NULL"),
				 errhint("Use carbonmkt.verify_chains() to check everything.")));
	verify_ledger_internal(fcinfo, true, PG_GETARG_DATEADT(0), true);
	return (Datum) 0;
}
