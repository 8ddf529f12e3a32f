/*-------------------------------------------------------------------------
 *
 * settlement.c
 *	  The registry's unified settlement (统一交收) of a market batch: one
 *	  posting that spends and releases many order holds and credits the
 *	  receiving accounts, set-based.
 *
 * The national rules settle exchange trades by "逐笔全额清算、统一交收":
 * every trade is cleared gross (the market computes, trade by trade, what
 * each order's hold gives up and what each party receives), and the
 * settlement of the whole batch is then made together, delivery versus
 * payment.  carbonmkt.settle_batch() is that second step on the registry's
 * side.  It takes, in arrays,
 *
 *	- per hold: the quantity spent from it and whether what remains is
 *	  released (the order ended);
 *	- per receiving account and asset: the net credit;
 *
 * checks everything the per-call path (transfer_from_hold, release_hold)
 * checks, and writes one posting: every hold with one UPDATE, every holding
 * with one statement, and every journal row with one INSERT -- one row per
 * hold (its spend and release, so each hold's history stays on the journal)
 * and one per receiving account and asset.  The journal rows go through the
 * chain trigger (journal_chain, src/chain.c) like every other row, which
 * sets seq, prev_hash and hash and advances each account's head; the rows of
 * one account are consecutive.  When no other trigger may fire for the rows
 * (chain_can_defer), the batch registers its accounts with the
 * heads it read under their locks, the trigger advances them in memory and
 * one UPDATE writes each account's head once after the INSERT (deferred
 * heads, src/chain.c); otherwise the trigger writes each head as it goes.
 *
 * Only the market room may call it (carbonmkt.acting_room = 'market'): the
 * market has authorised the orders behind the holds by its own rules.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/settlement.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "carbonmkt.h"
#include "chain.h"
#include "posting.h"

/* SQLSTATEs of the registry (doc/registry.md) */
#define ERRCODE_CM_UNKNOWN_ACCOUNT	MAKE_SQLSTATE('C','M','0','0','1')
#define ERRCODE_CM_ACCOUNT_STATE	MAKE_SQLSTATE('C','M','0','0','3')
#define ERRCODE_CM_INSUFFICIENT		MAKE_SQLSTATE('C','M','0','0','4')
#define ERRCODE_CM_KIND_INSTRUMENT	MAKE_SQLSTATE('C','M','0','0','5')
#define ERRCODE_CM_HOLD				MAKE_SQLSTATE('C','M','0','0','8')
#define ERRCODE_CM_UNBALANCED		MAKE_SQLSTATE('C','M','0','1','3')

PG_FUNCTION_INFO_V1(carbonmkt_settle_batch);

/* instruments, in the order of the enum carbonmkt.instrument */
#define INSTR_CEA	0
#define INSTR_CCER	1
#define INSTR_CNY	2
#define NUM_INSTR	3

static const char *const instr_label[NUM_INSTR] = {"CEA", "CCER", "CNY"};

/* account kinds that can appear, with what each may hold */
#define MAX_KINDS	16

/* an asset of one account: the key of a holding */
typedef struct AssetKey
{
	int64		account;
	int			instr;
	int32		vintage;
	const char *project;
} AssetKey;

/* a holding touched by the batch */
typedef struct Holding
{
	AssetKey	key;
	int64		balance;
	int64		held;
	bool		exists;			/* a row of carbonmkt.holding (else inserted) */
} Holding;

/* a hold of the batch, as given and as read under the account locks */
typedef struct BatchHold
{
	int64		hold_id;
	int64		spent;
	bool		release;
	int			arg_index;		/* position in the arguments (for messages) */
	/* read */
	bool		found;
	AssetKey	asset;
	int64		remaining;
	char	   *reason;
	char	   *status;
	/* result */
	int64		released;
	const char *new_status;
} BatchHold;

/* a credit of the batch */
typedef struct BatchCredit
{
	AssetKey	asset;
	int64		amount;
} BatchCredit;

/* a journal row to write */
typedef struct JRow
{
	AssetKey	asset;
	int			order;			/* 0 hold rows, 1 credit rows */
	int64		hold_id;		/* 0 for a credit */
	const char *kind;
	int64		amount;
	int64		held_change;
	int64		balance_after;
	int64		held_after;
} JRow;

/* an account of the batch, locked */
typedef struct BatchAccount
{
	int64		account_id;
	char	   *kind;
	char	   *status;
	bool		debited;		/* a hold of it is spent */
	bool		credited;
	/* its chain head, read under the lock (for deferred heads) */
	int64		head_seq;
	bytea	   *head_hash;		/* NULL if null */
	ItemPointerData tid;		/* the locked row version */
} BatchAccount;

/* ----------------------------------------------------------------
 *		Saved plans
 * ----------------------------------------------------------------
 */

typedef enum SettlePlan
{
	SP_LOCK,
	SP_HOLDS,
	SP_KINDS,
	SP_HOLDINGS,
	SP_WRITE_HOLDS,
	SP_WRITE_HOLDINGS,
	SP_WRITE_JOURNAL,
	NUM_SETTLE_PLANS
} SettlePlan;

typedef struct SettlePlanDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[14];
} SettlePlanDef;

static const SettlePlanDef settle_plan_defs[NUM_SETTLE_PLANS] = {
	/* every account of the batch, locked in account_id order (the registry's fixed order) */
	[SP_LOCK] = {"SELECT a.account_id, a.kind::text, a.status::text, a.head_seq, a.head_hash, a.ctid "
		"FROM carbonmkt.account a "
		"WHERE a.account_id IN (SELECT h.account_id FROM carbonmkt.hold h WHERE h.hold_id = ANY ($1) "
		"UNION SELECT unnest($2::int8[])) "
		"ORDER BY a.account_id FOR NO KEY UPDATE OF a", 2, {INT8ARRAYOID, INT8ARRAYOID}},
	[SP_HOLDS] = {"SELECT h.hold_id, h.account_id, h.instrument::text, h.vintage, h.project, h.remaining, "
		"h.reason::text, h.status::text FROM carbonmkt.hold h WHERE h.hold_id = ANY ($1)",
	1, {INT8ARRAYOID}},
	[SP_KINDS] = {"SELECT k.kind::text, k.instrument::text FROM carbonmkt.account_kind_instrument k", 0, {0}},
	[SP_HOLDINGS] = {"SELECT h.account_id, h.instrument::text, h.vintage, h.project, h.balance, h.held "
		"FROM unnest($1::int8[], $2::text[], $3::int4[], $4::text[]) AS k(a, i, v, p) "
		"JOIN carbonmkt.holding h ON h.account_id = k.a AND h.instrument = k.i::carbonmkt.instrument "
		"AND h.vintage = k.v AND h.project = k.p", 4, {INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID}},
	[SP_WRITE_HOLDS] = {"UPDATE carbonmkt.hold h SET remaining = u.rem, "
		"status = u.st::carbonmkt.hold_status, "
		"ended_posting = CASE WHEN u.st <> 'active' THEN $1 END "
		"FROM unnest($2::int8[], $3::int8[], $4::text[]) AS u(id, rem, st) "
		"WHERE h.hold_id = u.id AND h.status = 'active'", 4, {INT8OID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID}},
	/* the holdings, as computed under the locks: updated, or inserted when new */
	[SP_WRITE_HOLDINGS] = {"WITH v AS (SELECT * FROM unnest($1::int8[], $2::text[], $3::int4[], $4::text[], "
		"$5::int8[], $6::int8[], $7::bool[]) AS v(a, i, vi, p, bal, hld, old)), "
		"u AS (UPDATE carbonmkt.holding h SET balance = v.bal, held = v.hld FROM v "
		"WHERE v.old AND h.account_id = v.a AND h.instrument = v.i::carbonmkt.instrument "
		"AND h.vintage = v.vi AND h.project = v.p RETURNING 1), "
		"n AS (INSERT INTO carbonmkt.holding (account_id, instrument, vintage, project, balance, held) "
		"SELECT v.a, v.i::carbonmkt.instrument, v.vi, v.p, v.bal, v.hld FROM v WHERE NOT v.old RETURNING 1) "
		"SELECT (SELECT count(*) FROM u) + (SELECT count(*) FROM n)",
	7, {INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID, BOOLARRAYOID}},
	/* the chain trigger sets seq, prev_hash and hash, row by row in this order */
	[SP_WRITE_JOURNAL] = {"INSERT INTO carbonmkt.journal (posting_id, account_id, seq, kind, instrument, vintage, "
		"project, amount, held_change, balance_after, held_after, hold_id, business_date, recorded_at, memo, "
		"prev_hash, hash) "
		"SELECT $1, u.a, 0, u.k::carbonmkt.entry_kind, u.i::carbonmkt.instrument, u.v, u.p, u.am, u.hc, "
		"u.ba, u.ha, nullif(u.h, 0), $2, $3, $4, '\\x', '\\x' "
		"FROM unnest($5::int8[], $6::text[], $7::text[], $8::int4[], $9::text[], $10::int8[], $11::int8[], "
		"$12::int8[], $13::int8[], $14::int8[]) WITH ORDINALITY AS u(a, k, i, v, p, am, hc, ba, ha, h, n) "
		"ORDER BY u.n",
	14, {INT8OID, DATEOID, TIMESTAMPTZOID, TEXTOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT4ARRAYOID,
	TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}},
};

static SPIPlanPtr settle_plans[NUM_SETTLE_PLANS];

static SPIPlanPtr
settle_plan(SettlePlan id)
{
	if (settle_plans[id] == NULL)
	{
		const SettlePlanDef *d = &settle_plan_defs[id];

		settle_plans[id] = carbonmkt_keep_plan(d->sql, d->nargs, (Oid *) d->argtypes,
											   CURSOR_OPT_GENERIC_PLAN);
	}
	return settle_plans[id];
}

static uint64
settle_run(SettlePlan id, Datum *values, const char *nulls, int expect)
{
	int			ret = SPI_execute_plan(settle_plan(id), values, nulls, false, 0);

	if (ret != expect)
		elog(ERROR, "settle_batch: statement %d failed: %s", (int) id, SPI_result_code_string(ret));
	return SPI_processed;
}

/* ----------------------------------------------------------------
 *		Small helpers
 * ----------------------------------------------------------------
 */

static int
instr_code(const char *label)
{
	for (int i = 0; i < NUM_INSTR; i++)
		if (strcmp(label, instr_label[i]) == 0)
			return i;
	elog(ERROR, "settle_batch: unknown instrument \"%s\"", label);
	return -1;					/* keep compiler quiet */
}

/* "1,234 t" or "12.34 CNY", like carbonmkt.format_quantity() */
static char *
fmt_qty(int instr, int64 q)
{
	char		digits[32];
	char		out[48];
	int			len;
	int			o = 0;
	uint64		u = q < 0 ? -(uint64) q : (uint64) q;
	int			frac = -1;

	if (instr == INSTR_CNY)
	{
		frac = (int) (u % 100);
		u /= 100;
	}
	len = snprintf(digits, sizeof(digits), UINT64_FORMAT, u);
	if (q < 0)
		out[o++] = '-';
	for (int i = 0; i < len; i++)
	{
		if (i > 0 && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	if (frac >= 0)
		return psprintf("%s.%02d CNY", out, frac);
	return psprintf("%s t", out);
}

/* "CEA 2024", "CCER P 2024", "CNY", like carbonmkt.format_asset() */
static char *
fmt_asset(const AssetKey *k)
{
	if (k->instr == INSTR_CNY)
		return pstrdup("CNY");
	if (k->instr == INSTR_CCER)
		return psprintf("CCER %s %d", k->project, k->vintage);
	return psprintf("CEA %d", k->vintage);
}

static int
cmp_asset_only(const AssetKey *a, const AssetKey *b)
{
	if (a->instr != b->instr)
		return a->instr < b->instr ? -1 : 1;
	if (a->vintage != b->vintage)
		return a->vintage < b->vintage ? -1 : 1;
	return strcmp(a->project, b->project);
}

static int
cmp_key(const AssetKey *a, const AssetKey *b)
{
	if (a->account != b->account)
		return a->account < b->account ? -1 : 1;
	return cmp_asset_only(a, b);
}

static int
cmp_holding(const void *a, const void *b)
{
	return cmp_key(&((const Holding *) a)->key, &((const Holding *) b)->key);
}

static int
cmp_hold(const void *a, const void *b)
{
	int64		x = ((const BatchHold *) a)->hold_id;
	int64		y = ((const BatchHold *) b)->hold_id;

	return x < y ? -1 : x > y ? 1 : 0;
}

static int
cmp_credit(const void *a, const void *b)
{
	return cmp_key(&((const BatchCredit *) a)->asset, &((const BatchCredit *) b)->asset);
}

static int
cmp_jrow(const void *a, const void *b)
{
	const JRow *x = (const JRow *) a;
	const JRow *y = (const JRow *) b;

	if (x->asset.account != y->asset.account)
		return x->asset.account < y->asset.account ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	if (x->hold_id != y->hold_id)
		return x->hold_id < y->hold_id ? -1 : 1;
	return cmp_asset_only(&x->asset, &y->asset);
}

/* the holding of a key in a sorted array, or NULL */
static Holding *
find_holding(Holding *h, int n, const AssetKey *k)
{
	Holding		probe;

	memset(&probe, 0, sizeof(probe));
	probe.key = *k;
	return (Holding *) bsearch(&probe, h, n, sizeof(Holding), cmp_holding);
}

static BatchAccount *
find_account(BatchAccount *a, int n, int64 id)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (a[mid].account_id == id)
			return &a[mid];
		if (a[mid].account_id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

static int64
add_or_raise(int64 a, int64 b, const char *what)
{
	int64		r;

	if (pg_add_s64_overflow(a, b, &r))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("settlement batch: %s is out of range", what)));
	return r;
}

/*
 * array_arg
 *		The elements of an array argument, which must be one-dimensional and
 *		hold no NULL.  Returns the number of elements.
 */
static int
array_arg(FunctionCallInfo fcinfo, int argno, const char *name, Datum **elems)
{
	ArrayType  *arr;
	Oid			elemtype;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	bool	   *nulls;
	int			n;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("settlement batch: %s must not be NULL", name),
				 errhint("Pass an empty array for none.")));
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("settlement batch: %s must be a one-dimensional array", name)));
	elemtype = ARR_ELEMTYPE(arr);
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign, elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("settlement batch: %s[%d] is NULL", name, i + 1)));
	return n;
}

static void
same_length(int n, int m, const char *a, const char *b)
{
	if (n != m)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("settlement batch: %s has %d elements but %s has %d", b, m, a, n),
				 errhint("Give one element per hold in hold_ids, spent and release_rest, and one per credit in the credit arrays.")));
}

static Datum
int8_array_datum(const int64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
int4_array_datum(const int32 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
}

static Datum
text_array_datum(const char *const *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static Datum
bool_array_datum(const bool *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = BoolGetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, BOOLOID, 1, true, TYPALIGN_CHAR));
}

/*
 * request_text
 *		The canonical text a retry with the same client reference is compared
 *		with: the counts, the memo and a SHA-256 over every hold and credit in
 *		argument order.
 */
static char *
request_text(BatchHold *holds, int nholds, BatchCredit *credits, int ncredits, const char *memo)
{
	StringInfoData buf;
	pg_cryptohash_ctx *ctx;
	uint8		digest[32];
	char		hex[65];

	initStringInfo(&buf);
	for (int i = 0; i < nholds; i++)
		appendStringInfo(&buf, "hold " INT64_FORMAT " " INT64_FORMAT " %c\n",
						 holds[i].hold_id, holds[i].spent, holds[i].release ? 't' : 'f');
	for (int i = 0; i < ncredits; i++)
		appendStringInfo(&buf, "credit " INT64_FORMAT " %s %d %s " INT64_FORMAT "\n",
						 credits[i].asset.account, instr_label[credits[i].asset.instr],
						 credits[i].asset.vintage, credits[i].asset.project, credits[i].amount);
	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) buf.data, buf.len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
	{
		const char *msg = pg_cryptohash_error(ctx);

		pg_cryptohash_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256 hash: %s", msg)));
	}
	pg_cryptohash_free(ctx);
	hex_encode((const char *) digest, sizeof(digest), hex);
	hex[64] = '\0';
	return psprintf("settle_batch(holds=%d,credits=%d,sha256=%s,memo=%s)", nholds, ncredits, hex,
					memo ? memo : "");
}

/* ----------------------------------------------------------------
 *		carbonmkt.settle_batch()
 * ----------------------------------------------------------------
 */

/*
 * carbonmkt.settle_batch(hold_ids bigint[], spent bigint[], release_rest boolean[],
 *						  credit_accounts bigint[], credit_instruments instrument[],
 *						  credit_vintages int[], credit_projects text[], credit_amounts bigint[],
 *						  reference text, memo text) -> posting id
 */
Datum
carbonmkt_settle_batch(PG_FUNCTION_ARGS)
{
	LOCAL_FCINFO(roomcinfo, 0);
	Datum		room;
	Datum	   *a_hold,
			   *a_spent,
			   *a_release,
			   *a_cacc,
			   *a_cinstr,
			   *a_cvint,
			   *a_cproj,
			   *a_camt;
	int			nholds,
				ncredits,
				n;
	text	   *reference = PG_ARGISNULL(8) ? NULL : PG_GETARG_TEXT_PP(8);
	char	   *memo = PG_ARGISNULL(9) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(9));
	BatchHold  *holds;
	BatchCredit *credits;
	BatchAccount *accounts;
	int			naccounts;
	Holding    *holdings;
	int			nholdings;
	JRow	   *rows;
	int			nrows;
	int64		posting_id;
	TimestampTz ts;
	DateADT		bdate;
	bool		isnull;
	Oid			instr_out;
	bool		instr_varlena;
	bool		may_hold[MAX_KINDS][NUM_INSTR];
	char	   *kind_name[MAX_KINDS];
	int			nkinds = 0;
	MemoryContext callercxt = CurrentMemoryContext;

	/* 1. the market room only */
	InitFunctionCallInfoData(*roomcinfo, NULL, 0, InvalidOid, NULL, NULL);
	room = carbonmkt_acting_room(roomcinfo);
	if (roomcinfo->isnull || strcmp(TextDatumGetCString(room), "market") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only the market room may settle a batch"),
				 errdetail("carbonmkt.acting_room is %s.",
						   roomcinfo->isnull ? "not set" : TextDatumGetCString(room)),
				 errhint("The market's SECURITY DEFINER functions carry SET carbonmkt.acting_room = 'market' (doc/registry.md, \"Rooms that post\").")));

	/* 2. the arguments */
	nholds = array_arg(fcinfo, 0, "hold_ids", &a_hold);
	n = array_arg(fcinfo, 1, "spent", &a_spent);
	same_length(nholds, n, "hold_ids", "spent");
	n = array_arg(fcinfo, 2, "release_rest", &a_release);
	same_length(nholds, n, "hold_ids", "release_rest");
	ncredits = array_arg(fcinfo, 3, "credit_accounts", &a_cacc);
	n = array_arg(fcinfo, 4, "credit_instruments", &a_cinstr);
	same_length(ncredits, n, "credit_accounts", "credit_instruments");
	n = array_arg(fcinfo, 5, "credit_vintages", &a_cvint);
	same_length(ncredits, n, "credit_accounts", "credit_vintages");
	n = array_arg(fcinfo, 6, "credit_projects", &a_cproj);
	same_length(ncredits, n, "credit_accounts", "credit_projects");
	n = array_arg(fcinfo, 7, "credit_amounts", &a_camt);
	same_length(ncredits, n, "credit_accounts", "credit_amounts");
	if (nholds == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("settlement batch: no holds given"),
				 errhint("A batch spends or releases at least one hold.")));

	holds = palloc0(sizeof(BatchHold) * nholds);
	for (int i = 0; i < nholds; i++)
	{
		holds[i].hold_id = DatumGetInt64(a_hold[i]);
		holds[i].spent = DatumGetInt64(a_spent[i]);
		holds[i].release = DatumGetBool(a_release[i]);
		holds[i].arg_index = i + 1;
		if (holds[i].spent < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("settlement batch: spent[%d] of hold " INT64_FORMAT " is negative: " INT64_FORMAT,
							i + 1, holds[i].hold_id, holds[i].spent)));
		if (holds[i].spent == 0 && !holds[i].release)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("settlement batch: hold " INT64_FORMAT " is neither spent nor released",
							holds[i].hold_id),
					 errhint("Leave a hold the batch does not touch out of the arrays.")));
	}

	getTypeOutputInfo(ARR_ELEMTYPE(PG_GETARG_ARRAYTYPE_P(4)), &instr_out, &instr_varlena);
	credits = palloc0(sizeof(BatchCredit) * Max(ncredits, 1));
	for (int i = 0; i < ncredits; i++)
	{
		BatchCredit *c = &credits[i];

		c->asset.account = DatumGetInt64(a_cacc[i]);
		c->asset.instr = instr_code(OidOutputFunctionCall(instr_out, a_cinstr[i]));
		c->asset.vintage = DatumGetInt32(a_cvint[i]);
		c->asset.project = TextDatumGetCString(a_cproj[i]);
		c->amount = DatumGetInt64(a_camt[i]);
		if (c->amount <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("settlement batch: the credit of %s to account " INT64_FORMAT " must be positive: %s",
							fmt_asset(&c->asset), c->asset.account, fmt_qty(c->asset.instr, c->amount)),
					 errhint("A batch credits each receiving account the net it receives; what an account pays leaves through its holds.")));
	}

	/* 3. the posting: idempotency and the sealed-day rule */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (posting_open("settle_batch", reference,
					 reference ? request_text(holds, nholds, credits, ncredits, memo) : NULL,
					 &posting_id, &ts, &bdate))
	{
		/* the same batch again: the original posting, nothing moves */
		SPI_finish();
		PG_RETURN_INT64(posting_id);
	}

	/* no hold twice, no credit twice */
	qsort(holds, nholds, sizeof(BatchHold), cmp_hold);
	for (int i = 1; i < nholds; i++)
		if (holds[i].hold_id == holds[i - 1].hold_id)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("settlement batch: hold " INT64_FORMAT " is given twice (elements %d and %d)",
							holds[i].hold_id, Min(holds[i].arg_index, holds[i - 1].arg_index),
							Max(holds[i].arg_index, holds[i - 1].arg_index)),
					 errhint("Give each hold once, with the sum of what it spends.")));
	qsort(credits, ncredits, sizeof(BatchCredit), cmp_credit);
	for (int i = 1; i < ncredits; i++)
		if (cmp_key(&credits[i].asset, &credits[i - 1].asset) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("settlement batch: account " INT64_FORMAT " is credited %s twice",
							credits[i].asset.account, fmt_asset(&credits[i].asset)),
					 errhint("Give each receiving account and asset once, with its net credit.")));

	/* 4. lock every account of the batch in account_id order */
	{
		int64	   *ids = palloc(sizeof(int64) * nholds);
		int64	   *cids = palloc(sizeof(int64) * Max(ncredits, 1));
		Datum		v[2];
		SPITupleTable *tt;
		MemoryContext old;
		Datum		d;

		for (int i = 0; i < nholds; i++)
			ids[i] = holds[i].hold_id;
		for (int i = 0; i < ncredits; i++)
			cids[i] = credits[i].asset.account;
		v[0] = int8_array_datum(ids, nholds);
		v[1] = int8_array_datum(cids, ncredits);
		naccounts = (int) settle_run(SP_LOCK, v, NULL, SPI_OK_SELECT);
		tt = SPI_tuptable;
		old = MemoryContextSwitchTo(callercxt);
		accounts = palloc0(sizeof(BatchAccount) * Max(naccounts, 1));
		for (int i = 0; i < naccounts; i++)
		{
			accounts[i].account_id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			accounts[i].kind = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
			accounts[i].status = SPI_getvalue(tt->vals[i], tt->tupdesc, 3);
			accounts[i].head_seq = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &isnull));
			if (isnull)
				accounts[i].head_seq = -1;
			d = SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull);
			accounts[i].head_hash = isnull ? NULL : DatumGetByteaPCopy(d);
			d = SPI_getbinval(tt->vals[i], tt->tupdesc, 6, &isnull);
			if (isnull)
				ItemPointerSetInvalid(&accounts[i].tid);
			else
				ItemPointerCopy((ItemPointer) DatumGetPointer(d), &accounts[i].tid);
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(tt);

		/* 5. the holds, under their accounts' locks */
		n = (int) settle_run(SP_HOLDS, v, NULL, SPI_OK_SELECT);
		tt = SPI_tuptable;
		old = MemoryContextSwitchTo(callercxt);
		for (int i = 0; i < n; i++)
		{
			BatchHold	probe;
			BatchHold  *h;

			memset(&probe, 0, sizeof(probe));
			probe.hold_id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			h = bsearch(&probe, holds, nholds, sizeof(BatchHold), cmp_hold);
			if (h == NULL)
				elog(ERROR, "settle_batch: hold " INT64_FORMAT " was not asked for", probe.hold_id);
			h->found = true;
			h->asset.account = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
			h->asset.instr = instr_code(SPI_getvalue(tt->vals[i], tt->tupdesc, 3));
			h->asset.vintage = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &isnull));
			h->asset.project = SPI_getvalue(tt->vals[i], tt->tupdesc, 5);
			h->remaining = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 6, &isnull));
			h->reason = SPI_getvalue(tt->vals[i], tt->tupdesc, 7);
			h->status = SPI_getvalue(tt->vals[i], tt->tupdesc, 8);
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(tt);

		/* which kind holds what (a handful of rows) */
		n = (int) settle_run(SP_KINDS, NULL, NULL, SPI_OK_SELECT);
		tt = SPI_tuptable;
		memset(may_hold, 0, sizeof(may_hold));
		old = MemoryContextSwitchTo(callercxt);
		for (int i = 0; i < n; i++)
		{
			char	   *k = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
			int			instr = instr_code(SPI_getvalue(tt->vals[i], tt->tupdesc, 2));
			int			j;

			for (j = 0; j < nkinds; j++)
				if (strcmp(kind_name[j], k) == 0)
					break;
			if (j == nkinds)
			{
				if (nkinds == MAX_KINDS)
					elog(ERROR, "settle_batch: too many account kinds");
				kind_name[nkinds++] = k;
			}
			may_hold[j][instr] = true;
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(tt);
	}

	/* 6. the rules of each hold and account */
	for (int i = 0; i < nholds; i++)
	{
		BatchHold  *h = &holds[i];
		BatchAccount *acc;

		if (!h->found)
			ereport(ERROR,
					(errcode(ERRCODE_CM_HOLD),
					 errmsg("hold " INT64_FORMAT " does not exist", h->hold_id)));
		if (strcmp(h->status, "active") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CM_HOLD),
					 errmsg("hold " INT64_FORMAT " is already %s", h->hold_id, h->status),
					 errdetail("A hold is released or consumed exactly once.")));
		if (strcmp(h->reason, "order") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CM_HOLD),
					 errmsg("hold " INT64_FORMAT " is a %s hold; a market batch settles order holds only",
							h->hold_id, h->reason),
					 errhint("Pledges and judicial freezes are released by the registry (release_hold).")));
		if (h->asset.instr == INSTR_CCER)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("hold " INT64_FORMAT " freezes %s: a batch settles CEA and CNY only",
							h->hold_id, fmt_asset(&h->asset)),
					 errhint("CCER moves by serial block: settle it with transfer_from_hold().")));
		if (h->spent > h->remaining)
			ereport(ERROR,
					(errcode(ERRCODE_CM_INSUFFICIENT),
					 errmsg("hold " INT64_FORMAT " has %s remaining, requested %s", h->hold_id,
							fmt_qty(h->asset.instr, h->remaining), fmt_qty(h->asset.instr, h->spent)),
					 errdetail("Account " INT64_FORMAT ", %s.", h->asset.account, fmt_asset(&h->asset))));
		h->released = h->release ? h->remaining - h->spent : 0;
		h->new_status = h->remaining == h->spent ? "consumed" : h->release ? "released" : "active";
		acc = find_account(accounts, naccounts, h->asset.account);
		if (acc == NULL)
			elog(ERROR, "settle_batch: account " INT64_FORMAT " of hold " INT64_FORMAT " was not locked",
				 h->asset.account, h->hold_id);
		if (h->spent > 0)
			acc->debited = true;
	}
	for (int i = 0; i < ncredits; i++)
	{
		BatchAccount *acc = find_account(accounts, naccounts, credits[i].asset.account);

		if (acc == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_CM_UNKNOWN_ACCOUNT),
					 errmsg("account " INT64_FORMAT " does not exist", credits[i].asset.account)));
		acc->credited = true;
		if (credits[i].asset.instr == INSTR_CCER)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the credit to account " INT64_FORMAT " is %s: a batch settles CEA and CNY only",
							acc->account_id, fmt_asset(&credits[i].asset)),
					 errhint("CCER moves by serial block: settle it with transfer_from_hold().")));
	}
	for (int i = 0; i < naccounts; i++)
	{
		BatchAccount *acc = &accounts[i];

		if (!acc->debited && !acc->credited)
			continue;			/* only holds released: as release_hold, any status */
		if (strcmp(acc->kind, "cancellation") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_CM_ACCOUNT_STATE),
					 errmsg("account " INT64_FORMAT " is the cancellation account", acc->account_id),
					 errdetail("Retired units never move, and units reach it only by surrender or cancellation.")));
		if (strcmp(acc->status, "closed") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_CM_ACCOUNT_STATE),
					 errmsg("account " INT64_FORMAT " is closed", acc->account_id)));
		if (acc->debited && strcmp(acc->status, "frozen") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_CM_ACCOUNT_STATE),
					 errmsg("account " INT64_FORMAT " is frozen", acc->account_id),
					 errdetail("Nothing can leave a frozen account.")));
	}

	/* every asset an account takes part in must be one its kind may hold */
	{
		AssetKey   *chk = palloc(sizeof(AssetKey) * (nholds + ncredits));
		int			nchk = 0;

		for (int i = 0; i < nholds; i++)
			if (holds[i].spent > 0)
				chk[nchk++] = holds[i].asset;
		for (int i = 0; i < ncredits; i++)
			chk[nchk++] = credits[i].asset;
		for (int i = 0; i < nchk; i++)
		{
			BatchAccount *acc = find_account(accounts, naccounts, chk[i].account);
			int			j;

			for (j = 0; j < nkinds; j++)
				if (strcmp(kind_name[j], acc->kind) == 0)
					break;
			if (j == nkinds || !may_hold[j][chk[i].instr])
				ereport(ERROR,
						(errcode(ERRCODE_CM_KIND_INSTRUMENT),
						 errmsg("account " INT64_FORMAT " (kind %s) cannot hold %s", acc->account_id, acc->kind,
								instr_label[chk[i].instr]),
						 errhint("See carbonmkt.account_kind_instrument for the instruments each account kind holds.")));
		}
	}

	/*
	 * 7. The batch balances per asset, to the tonne and the fen: what the
	 * holds give up is what the receiving accounts get.
	 */
	{
		typedef struct AssetSum
		{
			AssetKey	asset;
			int64		spent;
			int64		credited;
		} AssetSum;
		AssetSum   *sums = palloc0(sizeof(AssetSum) * (nholds + ncredits));
		int			nsums = 0;

		for (int pass = 0; pass < 2; pass++)
		{
			int			count = pass == 0 ? nholds : ncredits;

			for (int i = 0; i < count; i++)
			{
				AssetKey	k = pass == 0 ? holds[i].asset : credits[i].asset;
				int64		amt = pass == 0 ? holds[i].spent : credits[i].amount;
				int			j;

				if (pass == 0 && amt == 0)
					continue;
				k.account = 0;
				for (j = 0; j < nsums; j++)
					if (cmp_asset_only(&sums[j].asset, &k) == 0)
						break;
				if (j == nsums)
					sums[nsums++].asset = k;
				if (pass == 0)
					sums[j].spent = add_or_raise(sums[j].spent, amt, "the sum spent");
				else
					sums[j].credited = add_or_raise(sums[j].credited, amt, "the sum credited");
			}
		}
		for (int j = 0; j < nsums; j++)
			if (sums[j].spent != sums[j].credited)
				ereport(ERROR,
						(errcode(ERRCODE_CM_UNBALANCED),
						 errmsg("settlement batch does not balance in %s: holds give up %s, accounts receive %s",
								fmt_asset(&sums[j].asset), fmt_qty(sums[j].asset.instr, sums[j].spent),
								fmt_qty(sums[j].asset.instr, sums[j].credited)),
						 errdetail("Unified settlement (统一交收) moves, per asset, exactly what the holds give up to the receiving accounts."),
						 errhint("Every fee is a credit to the exchange's clearing account; what a party pays leaves through its order's hold.")));
	}

	/* 8. the holdings, read under the locks */
	{
		Holding    *all = palloc(sizeof(Holding) * (nholds + ncredits));
		int			nall = 0;
		int64	   *ka;
		const char **ki;
		int32	   *kv;
		const char **kp;
		Datum		v[4];
		SPITupleTable *tt;

		for (int i = 0; i < nholds; i++)
			all[nall++].key = holds[i].asset;
		for (int i = 0; i < ncredits; i++)
			all[nall++].key = credits[i].asset;
		qsort(all, nall, sizeof(Holding), cmp_holding);
		nholdings = 0;
		for (int i = 0; i < nall; i++)
			if (nholdings == 0 || cmp_key(&all[i].key, &all[nholdings - 1].key) != 0)
			{
				all[nholdings] = all[i];
				all[nholdings].balance = 0;
				all[nholdings].held = 0;
				all[nholdings].exists = false;
				nholdings++;
			}
		holdings = all;

		ka = palloc(sizeof(int64) * nholdings);
		ki = palloc(sizeof(char *) * nholdings);
		kv = palloc(sizeof(int32) * nholdings);
		kp = palloc(sizeof(char *) * nholdings);
		for (int i = 0; i < nholdings; i++)
		{
			ka[i] = holdings[i].key.account;
			ki[i] = instr_label[holdings[i].key.instr];
			kv[i] = holdings[i].key.vintage;
			kp[i] = holdings[i].key.project;
		}
		v[0] = int8_array_datum(ka, nholdings);
		v[1] = text_array_datum(ki, nholdings);
		v[2] = int4_array_datum(kv, nholdings);
		v[3] = text_array_datum(kp, nholdings);
		n = (int) settle_run(SP_HOLDINGS, v, NULL, SPI_OK_SELECT);
		tt = SPI_tuptable;
		for (int i = 0; i < n; i++)
		{
			AssetKey	k;
			Holding    *h;
			char	   *instr = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
			char	   *project = SPI_getvalue(tt->vals[i], tt->tupdesc, 4);

			k.account = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			k.instr = instr_code(instr);
			k.vintage = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
			k.project = project;
			h = find_holding(holdings, nholdings, &k);
			if (h == NULL)
				elog(ERROR, "settle_batch: holding of account " INT64_FORMAT " was not asked for", k.account);
			h->balance = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull));
			h->held = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 6, &isnull));
			h->exists = true;
		}
		SPI_freetuptable(tt);
	}

	/* 9. the journal rows in account order, with the running balances */
	nrows = 0;
	rows = palloc(sizeof(JRow) * (nholds + ncredits));
	for (int i = 0; i < nholds; i++)
	{
		JRow	   *r = &rows[nrows++];

		r->asset = holds[i].asset;
		r->order = 0;
		r->hold_id = holds[i].hold_id;
		r->kind = holds[i].spent > 0 ? "debit" : "release";
		r->amount = -holds[i].spent;
		r->held_change = -(holds[i].spent + holds[i].released);
	}
	for (int i = 0; i < ncredits; i++)
	{
		JRow	   *r = &rows[nrows++];

		r->asset = credits[i].asset;
		r->order = 1;
		r->hold_id = 0;
		r->kind = "credit";
		r->amount = credits[i].amount;
		r->held_change = 0;
	}
	qsort(rows, nrows, sizeof(JRow), cmp_jrow);
	for (int i = 0; i < nrows; i++)
	{
		JRow	   *r = &rows[i];
		Holding    *h = find_holding(holdings, nholdings, &r->asset);

		h->balance = add_or_raise(h->balance, r->amount, "a balance");
		h->held = add_or_raise(h->held, r->held_change, "a held quantity");
		if (h->balance < 0 || h->held < 0 || h->held > h->balance)
			ereport(ERROR,
					(errcode(ERRCODE_CM_INSUFFICIENT),
					 errmsg("settlement batch would leave account " INT64_FORMAT " with %s balance %s, held %s",
							r->asset.account, fmt_asset(&r->asset), fmt_qty(r->asset.instr, h->balance),
							fmt_qty(r->asset.instr, h->held)),
					 errdetail("No balance, held quantity or available quantity (balance - held) may be negative."),
					 errhint("The holding and the account's active holds disagree; run carbonmkt.verify_ledger().")));
		r->balance_after = h->balance;
		r->held_after = h->held;
	}

	/* 10. write: the holds, the holdings, the journal */
	{
		int64	   *id = palloc(sizeof(int64) * nholds);
		int64	   *rem = palloc(sizeof(int64) * nholds);
		const char **st = palloc(sizeof(char *) * nholds);
		Datum		v[14];

		for (int i = 0; i < nholds; i++)
		{
			id[i] = holds[i].hold_id;
			rem[i] = holds[i].remaining - holds[i].spent;
			st[i] = holds[i].new_status;
		}
		v[0] = Int64GetDatum(posting_id);
		v[1] = int8_array_datum(id, nholds);
		v[2] = int8_array_datum(rem, nholds);
		v[3] = text_array_datum(st, nholds);
		if (settle_run(SP_WRITE_HOLDS, v, NULL, SPI_OK_UPDATE) != (uint64) nholds)
			elog(ERROR, "settle_batch: %d holds to change but " UINT64_FORMAT " were updated",
				 nholds, SPI_processed);
	}
	{
		int64	   *ka = palloc(sizeof(int64) * nholdings);
		const char **ki = palloc(sizeof(char *) * nholdings);
		int32	   *kv = palloc(sizeof(int32) * nholdings);
		const char **kp = palloc(sizeof(char *) * nholdings);
		int64	   *bal = palloc(sizeof(int64) * nholdings);
		int64	   *hld = palloc(sizeof(int64) * nholdings);
		bool	   *old = palloc(sizeof(bool) * nholdings);
		Datum		v[7];
		int64		written;

		for (int i = 0; i < nholdings; i++)
		{
			ka[i] = holdings[i].key.account;
			ki[i] = instr_label[holdings[i].key.instr];
			kv[i] = holdings[i].key.vintage;
			kp[i] = holdings[i].key.project;
			bal[i] = holdings[i].balance;
			hld[i] = holdings[i].held;
			old[i] = holdings[i].exists;
		}
		v[0] = int8_array_datum(ka, nholdings);
		v[1] = text_array_datum(ki, nholdings);
		v[2] = int4_array_datum(kv, nholdings);
		v[3] = text_array_datum(kp, nholdings);
		v[4] = int8_array_datum(bal, nholdings);
		v[5] = int8_array_datum(hld, nholdings);
		v[6] = bool_array_datum(old, nholdings);
		settle_run(SP_WRITE_HOLDINGS, v, NULL, SPI_OK_SELECT);
		written = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (written != nholdings)
			elog(ERROR, "settle_batch: %d holdings to write but " INT64_FORMAT " were written",
				 nholdings, written);
		SPI_freetuptable(SPI_tuptable);
	}
	{
		int64	   *ja = palloc(sizeof(int64) * nrows);
		const char **jk = palloc(sizeof(char *) * nrows);
		const char **ji = palloc(sizeof(char *) * nrows);
		int32	   *jv = palloc(sizeof(int32) * nrows);
		const char **jp = palloc(sizeof(char *) * nrows);
		int64	   *jam = palloc(sizeof(int64) * nrows);
		int64	   *jhc = palloc(sizeof(int64) * nrows);
		int64	   *jba = palloc(sizeof(int64) * nrows);
		int64	   *jha = palloc(sizeof(int64) * nrows);
		int64	   *jh = palloc(sizeof(int64) * nrows);
		Datum		v[14];
		char		nulls[14];
		static const char *const row_kinds[3] = {"debit", "release", "credit"};
		bool		defer;

		for (int i = 0; i < nrows; i++)
		{
			ja[i] = rows[i].asset.account;
			jk[i] = rows[i].kind;
			ji[i] = instr_label[rows[i].asset.instr];
			jv[i] = rows[i].asset.vintage;
			jp[i] = rows[i].asset.project;
			jam[i] = rows[i].amount;
			jhc[i] = rows[i].held_change;
			jba[i] = rows[i].balance_after;
			jha[i] = rows[i].held_after;
			jh[i] = rows[i].hold_id;
		}
		memset(nulls, ' ', sizeof(nulls));
		v[0] = Int64GetDatum(posting_id);
		v[1] = DateADTGetDatum(bdate);
		v[2] = TimestampTzGetDatum(ts);
		if (memo)
			v[3] = CStringGetTextDatum(memo);
		else
			nulls[3] = 'n';
		v[4] = int8_array_datum(ja, nrows);
		v[5] = text_array_datum(jk, nrows);
		v[6] = text_array_datum(ji, nrows);
		v[7] = int4_array_datum(jv, nrows);
		v[8] = text_array_datum(jp, nrows);
		v[9] = int8_array_datum(jam, nrows);
		v[10] = int8_array_datum(jhc, nrows);
		v[11] = int8_array_datum(jba, nrows);
		v[12] = int8_array_datum(jha, nrows);
		v[13] = int8_array_datum(jh, nrows);

		/*
		 * Deferred heads (chain.c, "What this backend knows about chain
		 * heads"): when no trigger but the chain's can run while the rows go
		 * in, the trigger advances each account's head in memory and
		 * chain_defer_finish() writes all of them with one UPDATE, once
		 * per account instead of once per row.  The accounts were locked
		 * and their heads read above (step 4), in account_id order, and
		 * nothing has appended to them since.  Otherwise each row's head is
		 * written as it goes, as for any journal row.
		 */
		defer = chain_can_defer(row_kinds, lengthof(row_kinds));
		if (defer)
		{
			chain_defer_begin(posting_id);
			for (int i = 0; i < naccounts; i++)
				if (accounts[i].head_hash != NULL && accounts[i].head_seq >= 0)
					(void) chain_defer_add(accounts[i].account_id, accounts[i].head_seq,
											  accounts[i].head_hash, &accounts[i].tid);
		}
		if (settle_run(SP_WRITE_JOURNAL, v, nulls, SPI_OK_INSERT) != (uint64) nrows)
			elog(ERROR, "settle_batch: %d journal rows to write but " UINT64_FORMAT " were inserted",
				 nrows, SPI_processed);
		if (defer)
			chain_defer_finish();
	}

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_INT64(posting_id);
}
