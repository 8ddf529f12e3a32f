/*-------------------------------------------------------------------------
 *
 * matching.c
 *	  The market's matching engine (撮合) and its delivery-versus-payment
 *	  settlement: continuous listed agreement (挂牌协议交易) by price-time
 *	  priority, the queue procedure, block agreement fills and the uncross
 *	  of one-way bidding (单向竞价).
 *
 * One engine serves every entry point.  An Engine holds, in its own memory
 * context, the orders it touches (a hash by order id), the two sides of the
 * book as binary heaps in price-time order, and the fills it made.
 * Matching happens in memory; at the end engine_flush() plans the
 * settlement, writes every trade with one INSERT and every changed order
 * with one UPDATE (arrays through unnest), then settles.
 *
 *	- process_queue loads the day's whole book of a product once and matches
 *	  a batch of queued orders against it in order id sequence;
 *	- submit_order's matcher (_match_order) loads lazily: only the opposite
 *	  orders that cross the incoming limit, in price-time order, a chunk at a
 *	  time, so a deep book costs nothing for an order that does not reach it.
 *
 * Settlement goes through the registry's functions only, with saved plans.
 * A flush of CEA settles as the national rules do, "逐笔全额清算、统一交收"
 * (plan_unified, execute_unified): every fill is cleared gross in memory --
 * the seller's hold gives up the tonnes, the buyer's hold the value plus its
 * fee; the buyer's holding account gets the tonnes, the seller's cash
 * account the value minus its fee, the product's clearing account (the
 * exchange's) both fees -- and the whole flush then settles in one registry
 * posting, carbonmkt.settle_batch (src/settlement.c): per hold what it
 * spends and whether the rest is released (the order ended), per receiving
 * account the net credit.  CCER moves by serial block and keeps the per-call
 * path (plan_settlement, execute_settlement): transfer_from_hold per pair of
 * hold and receiving account, fees from the buy order's hold for one
 * incoming order and once per party's cash account for a batch, and
 * release_hold per ended order.  Everything commits or rolls back with the
 * trades.
 *
 * The caller holds the product's matcher lock: the row of
 * carbonmkt.product_day for the product and the business date, locked FOR
 * NO KEY UPDATE (engine_begin takes it again, which is a no-op then).
 *
 * Fees: every fill charges each side fee(N + n) - fee(N), where N is the
 * order's notional before the fill, n the fill's notional and fee(x) =
 * round(x * fee_rate) half up, so an order's fees are always fee(total
 * notional) -- never more than what its hold reserved at its limit price.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/matching.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "carbonmkt.h"

/* SQLSTATEs of the market room (doc/market.md) */
#define ERRCODE_CARBONMKT_MARKET_CLOSED		MAKE_SQLSTATE('C','M','3','0','2')
#define ERRCODE_CARBONMKT_ORDER_STATE		MAKE_SQLSTATE('C','M','3','1','0')

/* rows fetched per chunk when the book is loaded lazily */
#define LAZY_CHUNK			64
/* the fee rate is read as an integer number of 1e-8 */
#define FEE_SCALE			INT64CONST(100000000)

PG_FUNCTION_INFO_V1(market_match_order);
PG_FUNCTION_INFO_V1(market_process_queue);
PG_FUNCTION_INFO_V1(market_settle_fills);
PG_FUNCTION_INFO_V1(market_uncross_auction);
PG_FUNCTION_INFO_V1(market_rests_behind);

typedef enum OrderState
{
	OS_QUEUED,
	OS_OPEN,
	OS_FILLED,
	OS_CANCELLED,
	OS_EXPIRED
} OrderState;

static const char *const state_label[] = {"queued", "open", "filled", "cancelled", "expired"};

#define STATE_ENDED(s)	((s) >= OS_FILLED)

/*
 * One order as the engine sees it.  order_id is the hash key and must come
 * first.
 */
typedef struct MktOrder
{
	int64		order_id;
	int64		participant_id;
	int64		price;			/* limit price, fen per t */
	int64		quantity;
	int64		remaining;
	int64		priority;		/* time priority in the book, 0 until it rests */
	int64		take_order_id;	/* 摘牌 target, 0 for none */
	int64		hold_id;
	int64		hold_left;		/* what the hold still freezes: t or fen */
	int64		hold_left0;		/* hold_left when loaded */
	int64		notional;		/* fen traded so far */
	int64		fees;			/* fen of fees paid so far */
	int64		holding_account;
	int64		cash_account;
	int64		fees_now;		/* fees of this order's fills in this flush */
	int64		release;		/* to release from the hold at the flush */
	int64		auction_id;		/* 0 for none */
	int32		product_id;
	DateADT		business_date;
	bool		listed;			/* mode = listed */
	bool		buy;
	bool		dirty;
	OrderState	state;
	OrderState	state0;			/* state when loaded */
	const char *end_reason;
	int32		nfills;			/* fills of this order in this flush */
} MktOrder;

/* One side of the book: a binary heap, best order at v[0]. */
typedef struct Heap
{
	MktOrder  **v;
	int			n;
	int			cap;
	bool		bids;			/* best = highest price; else lowest */
} Heap;

typedef struct Fill
{
	MktOrder   *buy;
	MktOrder   *sell;
	int64		quantity;
	int64		price;
	int64		buy_fee;
	int64		sell_fee;
	int			aggressor;		/* 1 buy, 2 sell, 0 none */
} Fill;

/* An amount per account (fees a cash account pays); account is the key. */
typedef struct Credit
{
	int64		account;
	int64		amount;
} Credit;

typedef struct Engine
{
	MemoryContext cxt;
	int32		product_id;
	const char *mode;			/* trade_mode label of the fills */
	DateADT		bdate;
	TimestampTz now;
	char	   *code;
	char	   *instrument;		/* "CEA" or "CCER" */
	int32		vintage;
	char	   *project;
	int64		clearing;
	int64		fee_e8;			/* fee rate * 1e8 */
	int64	   *prio;			/* time priorities drawn from the sequence, unused */
	int			nprio;
	int			nextprio;
	bool		prio_seq;		/* false: a 0.1.0 catalog, the day's book_seq counts */
	int64		book_seq;		/* (0.1.0 catalog) */
	int64		book_seq0;
	Heap		bids;
	Heap		asks;
	HTAB	   *orders;
	bool		lazy;
	bool		more[2];		/* lazy: the table may hold more of this side */
	int64		key_price[2];	/* lazy: keyset of the last row loaded */
	int64		key_prio[2];
	int64		lazy_limit;		/* lazy: the incoming limit price */
	Fill	   *fills;
	int			nfills;
	int			maxfills;
	MktOrder  **dirty;
	int			ndirty;
	int			maxdirty;
	bool		batch;			/* fees collected per cash account (see settle) */
	/* statistics */
	int64		resting;
	int64		ended;
	int64		registry_calls;
	double		write_ms;
	double		settle_ms;
} Engine;

#define SIDE_BIDS	0
#define SIDE_ASKS	1

/* ----------------------------------------------------------------
 *		Saved plans
 * ----------------------------------------------------------------
 */

/*
 * The columns every order query returns, in this order; order_from_tuple()
 * reads them by position.
 */
#define ORDER_COLS \
	"o.order_id, o.participant_id, o.side = 'buy', o.price_fen, o.quantity, o.remaining, " \
	"coalesce(o.priority, 0), coalesce(o.take_order_id, 0), o.hold_id, o.hold_left, " \
	"o.filled_notional, o.fees_fen, o.holding_account, o.cash_account, o.status::text, " \
	"o.product_id, o.business_date, o.mode = 'listed', coalesce(o.auction_id, 0)"

typedef enum PlanId
{
	P_NOW,
	P_LOCK_DAY,
	P_PRODUCT,
	P_BOOK_ALL,
	P_CHUNK_ASKS,
	P_CHUNK_BIDS,
	P_QUEUE,
	P_ONE,
	P_AUCTION,
	P_AUCTION_BIDS,
	P_INSERT_TRADES,
	P_UPDATE_ORDERS,
	P_SET_SEQ,
	P_PRIORITY,
	P_BEST_BID,
	P_BEST_ASK,
	P_FROM_HOLD,
	P_CNY,
	P_RELEASE,
	P_SETTLE_BATCH,
	NUM_PLANS
} PlanId;

typedef struct PlanDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[13];
} PlanDef;



static const PlanDef plan_defs[NUM_PLANS] = {
	[P_NOW] = {"SELECT t, carbonmkt.business_date(t) FROM carbonmkt.clock_now() t", 0, {0}},
	[P_LOCK_DAY] = {"SELECT closed_at IS NOT NULL, book_seq, "
		"pg_catalog.to_regclass('carbonmkt.market_priority_seq') IS NOT NULL FROM carbonmkt.product_day "
		"WHERE product_id = $1 AND business_date = $2 FOR NO KEY UPDATE", 2, {INT4OID, DATEOID}},
	[P_PRODUCT] = {"SELECT p.code, p.instrument::text, p.vintage, p.project, p.clearing_account, "
		"(r.fee_rate * 100000000)::int8 "
		"FROM carbonmkt.product p, carbonmkt.market_rule_at($2::carbonmkt.trade_mode, $3, p.jurisdiction) r "
		"WHERE p.product_id = $1 AND r.mode IS NOT NULL", 3, {INT4OID, TEXTOID, DATEOID}},
	[P_BOOK_ALL] = {"SELECT " ORDER_COLS " FROM carbonmkt.market_order o "
		"WHERE o.product_id = $1 AND o.business_date = $2 AND o.mode = 'listed' AND o.status = 'open'",
	2, {INT4OID, DATEOID}},
	[P_CHUNK_ASKS] = {"SELECT " ORDER_COLS " FROM carbonmkt.market_order o "
		"WHERE o.product_id = $1 AND o.business_date = $2 AND o.mode = 'listed' AND o.status = 'open' "
		"AND o.side = 'sell' AND o.price_fen <= $3 AND (o.price_fen, o.priority) > ($4, $5) "
		"ORDER BY o.price_fen, o.priority LIMIT $6",
	6, {INT4OID, DATEOID, INT8OID, INT8OID, INT8OID, INT8OID}},
	[P_CHUNK_BIDS] = {"SELECT " ORDER_COLS " FROM carbonmkt.market_order o "
		"WHERE o.product_id = $1 AND o.business_date = $2 AND o.mode = 'listed' AND o.status = 'open' "
		"AND o.side = 'buy' AND o.price_fen >= $3 AND o.price_fen <= $4 "
		"AND (o.price_fen < $4 OR o.priority > $5) "
		"ORDER BY o.price_fen DESC, o.priority LIMIT $6",
	6, {INT4OID, DATEOID, INT8OID, INT8OID, INT8OID, INT8OID}},
	[P_QUEUE] = {"SELECT " ORDER_COLS " FROM carbonmkt.market_order o "
		"WHERE o.product_id = $1 AND o.status = 'queued' AND o.business_date = $2 AND o.mode = 'listed' "
		"ORDER BY o.order_id LIMIT $3", 3, {INT4OID, DATEOID, INT8OID}},
	[P_ONE] = {"SELECT " ORDER_COLS " FROM carbonmkt.market_order o WHERE o.order_id = $1", 1, {INT8OID}},
	[P_AUCTION] = {"SELECT a.product_id, a.clearing_rule = 'uniform', a.lot_order_id, a.status "
		"FROM carbonmkt.auction a WHERE a.auction_id = $1", 1, {INT8OID}},
	[P_AUCTION_BIDS] = {"SELECT " ORDER_COLS " FROM carbonmkt.market_order o "
		"WHERE o.auction_id = $1 AND o.status = 'open' AND o.order_id <> $2", 2, {INT8OID, INT8OID}},
	/* arrays walked by unnest() in a select list, not in FROM (see posting.c's batch plans) */
	[P_INSERT_TRADES] = {"WITH ins AS (INSERT INTO carbonmkt.trade (product_id, mode, business_date, executed_at, "
		"price_fen, quantity, buy_order_id, sell_order_id, buyer_id, seller_id, buyer_fee_fen, seller_fee_fen, aggressor) "
		"SELECT $1, $2::carbonmkt.trade_mode, $3, $4, u.p, u.q, u.b, u.s, u.bp, u.sp, u.bf, u.sf, "
		"(CASE u.a WHEN 1 THEN 'buy' WHEN 2 THEN 'sell' END)::carbonmkt.order_side "
		"FROM (SELECT unnest($5::int8[]) AS p, unnest($6::int8[]) AS q, unnest($7::int8[]) AS b, "
		"unnest($8::int8[]) AS s, unnest($9::int8[]) AS bp, unnest($10::int8[]) AS sp, unnest($11::int8[]) AS bf, "
		"unnest($12::int8[]) AS sf, unnest($13::int8[]) AS a, generate_series(1, cardinality($5::int8[])) AS n) AS u "
		"ORDER BY u.n "
		"RETURNING trade_id) SELECT min(trade_id) FROM ins",
	13, {INT4OID, TEXTOID, DATEOID, TIMESTAMPTZOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
	INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}},
	[P_UPDATE_ORDERS] = {"UPDATE carbonmkt.market_order o SET remaining = u.rem, "
		"status = u.st::carbonmkt.order_status, priority = nullif(u.prio, 0), hold_left = u.hl, "
		"filled_notional = u.nt, fees_fen = u.fe, "
		"ended_at = CASE WHEN u.st IN ('filled', 'cancelled', 'expired') THEN $2 END, "
		"end_reason = nullif(u.why, '') "
		"FROM (SELECT unnest($1::int8[]) AS id, unnest($3::int8[]) AS rem, unnest($4::text[]) AS st, "
		"unnest($5::int8[]) AS prio, unnest($6::int8[]) AS hl, unnest($7::int8[]) AS nt, unnest($8::int8[]) AS fe, "
		"unnest($9::text[]) AS why) AS u WHERE o.order_id = u.id",
	9, {INT8ARRAYOID, TIMESTAMPTZOID, INT8ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
	INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID}},
	[P_BEST_BID] = {"SELECT o.price_fen FROM carbonmkt.market_order o "
		"WHERE o.product_id = $1 AND o.business_date = $2 AND o.status = 'open' AND o.mode = 'listed' "
		"AND o.side = 'buy' ORDER BY o.price_fen DESC LIMIT 1", 2, {INT4OID, DATEOID}},
	[P_BEST_ASK] = {"SELECT o.price_fen FROM carbonmkt.market_order o "
		"WHERE o.product_id = $1 AND o.business_date = $2 AND o.status = 'open' AND o.mode = 'listed' "
		"AND o.side = 'sell' ORDER BY o.price_fen LIMIT 1", 2, {INT4OID, DATEOID}},
	[P_SET_SEQ] = {"UPDATE carbonmkt.product_day SET book_seq = $3 WHERE product_id = $1 AND business_date = $2",
	3, {INT4OID, DATEOID, INT8OID}},
	[P_PRIORITY] = {"SELECT nextval('carbonmkt.market_priority_seq') FROM generate_series(1, $1)", 1, {INT4OID}},
	[P_FROM_HOLD] = {"SELECT carbonmkt.transfer_from_hold($1, $2, $3, NULL, $4)", 4,
	{INT8OID, INT8OID, INT8OID, TEXTOID}},
	[P_CNY] = {"SELECT carbonmkt.transfer_cny($1, $2, $3, NULL, $4)", 4, {INT8OID, INT8OID, INT8OID, TEXTOID}},
	[P_RELEASE] = {"SELECT carbonmkt.release_hold($1, NULL, $2)", 2, {INT8OID, TEXTOID}},
	[P_SETTLE_BATCH] = {"SELECT carbonmkt.settle_batch($1, $2, $3, $4, $5::text[]::carbonmkt.instrument[], $6, $7, $8, "
		"NULL, $9)", 9, {INT8ARRAYOID, INT8ARRAYOID, BOOLARRAYOID, INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID,
	TEXTARRAYOID, INT8ARRAYOID, TEXTOID}},
};

static SPIPlanPtr plans[NUM_PLANS];

/*
 * plan
 *		The saved plan for a statement, prepared on first use in this backend.
 *		The lazy chunks of the book and its best prices are planned once, generic, with sorting
 *		disabled: they must walk the side's partial index (market_order_asks,
 *		market_order_bids) in price-time order.  Without statistics (a book
 *		that grew since the last ANALYZE) the planner would otherwise guess
 *		one open order per day and read the whole day's orders through
 *		market_order_day to sort them, for every incoming order.
 */
static SPIPlanPtr
plan(PlanId id)
{
	if (plans[id] == NULL)
	{
		const PlanDef *d = &plan_defs[id];

		if (id == P_CHUNK_ASKS || id == P_CHUNK_BIDS || id == P_BEST_BID || id == P_BEST_ASK)
		{
			int			nestlevel = NewGUCNestLevel();
			CachedPlan *cplan;

			(void) set_config_option("enable_sort", "off", PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
			plans[id] = carbonmkt_keep_plan(d->sql, d->nargs, (Oid *) d->argtypes, CURSOR_OPT_GENERIC_PLAN);
			cplan = SPI_plan_get_cached_plan(plans[id]);
			if (cplan != NULL)
				ReleaseCachedPlan(cplan, CurrentResourceOwner);
			AtEOXact_GUC(true, nestlevel);
		}
		else
			plans[id] = carbonmkt_keep_plan(d->sql, d->nargs, (Oid *) d->argtypes, 0);
	}
	return plans[id];
}

/*
 * run
 *		Execute a saved plan; check the result code.  Returns SPI_processed.
 */
static uint64
run(PlanId id, Datum *values, const char *nulls, long count, int expect)
{
	int			ret = SPI_execute_plan(plan(id), values, nulls, false, count);

	if (ret != expect)
		elog(ERROR, "market: statement %d failed: %s", (int) id, SPI_result_code_string(ret));
	return SPI_processed;
}

static int64
get_int8(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* ----------------------------------------------------------------
 *		Fees and overflow-checked arithmetic
 * ----------------------------------------------------------------
 */

/*
 * fee_of
 *		round(notional * fee_e8 / 1e8) half up, exactly, without overflow:
 *		notional = hi * 1e8 + lo, so the product is hi * fee_e8 (an integer)
 *		plus lo * fee_e8 / 1e8, whose rounding is the rounding of the whole.
 */
static int64
fee_of(int64 notional, int64 fee_e8)
{
	int64		hi = notional / FEE_SCALE;
	int64		lo = notional % FEE_SCALE;

	return hi * fee_e8 + (lo * fee_e8 + FEE_SCALE / 2) / FEE_SCALE;
}

static int64
mul_checked(int64 a, int64 b)
{
	int64		r;

	if (pg_mul_s64_overflow(a, b, &r))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("trade value %lld t x %lld fen is out of range", (long long) a, (long long) b)));
	return r;
}

static int64
add_checked(int64 a, int64 b)
{
	int64		r;

	if (pg_add_s64_overflow(a, b, &r))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("market amount %lld + %lld is out of range", (long long) a, (long long) b)));
	return r;
}

/* ----------------------------------------------------------------
 *		The book: binary heaps in price-time order
 * ----------------------------------------------------------------
 */

static inline bool
heap_before(const Heap *h, const MktOrder *a, const MktOrder *b)
{
	if (a->price != b->price)
		return h->bids ? a->price > b->price : a->price < b->price;
	return a->priority < b->priority;
}

static void
heap_push(Heap *h, MktOrder *o)
{
	int			i;

	if (h->n == h->cap)
	{
		h->cap = h->cap == 0 ? 256 : h->cap * 2;
		h->v = h->v == NULL ? palloc(sizeof(MktOrder *) * h->cap)
			: repalloc(h->v, sizeof(MktOrder *) * h->cap);
	}
	i = h->n++;
	while (i > 0)
	{
		int			parent = (i - 1) / 2;

		if (!heap_before(h, o, h->v[parent]))
			break;
		h->v[i] = h->v[parent];
		i = parent;
	}
	h->v[i] = o;
}

static void
heap_pop(Heap *h)
{
	MktOrder   *last;
	int			i = 0;

	Assert(h->n > 0);
	last = h->v[--h->n];
	if (h->n == 0)
		return;
	for (;;)
	{
		int			child = 2 * i + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n && heap_before(h, h->v[child + 1], h->v[child]))
			child++;
		if (!heap_before(h, h->v[child], last))
			break;
		h->v[i] = h->v[child];
		i = child;
	}
	h->v[i] = last;
}

/* ----------------------------------------------------------------
 *		Orders
 * ----------------------------------------------------------------
 */

static OrderState
parse_state(const char *s)
{
	for (int i = 0; i <= OS_EXPIRED; i++)
		if (strcmp(s, state_label[i]) == 0)
			return (OrderState) i;
	elog(ERROR, "market: unknown order status \"%s\"", s);
	return OS_QUEUED;			/* keep compiler quiet */
}

/*
 * order_from_tuple
 *		The engine's copy of the order in a row of ORDER_COLS.  An order the
 *		engine already holds is returned as it is: its state in memory is
 *		newer than the row.
 */
static MktOrder *
order_from_tuple(Engine *e, HeapTuple tup, TupleDesc desc, bool *fresh)
{
	int64		id = get_int8(tup, desc, 1);
	bool		found;
	MktOrder   *o;
	bool		isnull;
	char	   *st;

	o = (MktOrder *) hash_search(e->orders, &id, HASH_ENTER, &found);
	if (fresh)
		*fresh = !found;
	if (found)
		return o;
	o->participant_id = get_int8(tup, desc, 2);
	o->buy = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	o->price = get_int8(tup, desc, 4);
	o->quantity = get_int8(tup, desc, 5);
	o->remaining = get_int8(tup, desc, 6);
	o->priority = get_int8(tup, desc, 7);
	o->take_order_id = get_int8(tup, desc, 8);
	o->hold_id = get_int8(tup, desc, 9);
	o->hold_left = get_int8(tup, desc, 10);
	o->hold_left0 = o->hold_left;
	o->notional = get_int8(tup, desc, 11);
	o->fees = get_int8(tup, desc, 12);
	o->holding_account = get_int8(tup, desc, 13);
	o->cash_account = get_int8(tup, desc, 14);
	st = SPI_getvalue(tup, desc, 15);
	o->state = o->state0 = parse_state(st);
	pfree(st);
	o->product_id = DatumGetInt32(SPI_getbinval(tup, desc, 16, &isnull));
	o->business_date = DatumGetDateADT(SPI_getbinval(tup, desc, 17, &isnull));
	o->listed = DatumGetBool(SPI_getbinval(tup, desc, 18, &isnull));
	o->auction_id = get_int8(tup, desc, 19);
	o->fees_now = 0;
	o->release = 0;
	o->dirty = false;
	o->end_reason = NULL;
	o->nfills = 0;
	return o;
}

/*
 * load_orders
 *		Run an order query and take every row into the engine; open listed
 *		orders of this product and day go into the book when push is set.
 *		Returns the number of rows; *last the last order of the result.
 */
static uint64
load_orders(Engine *e, PlanId id, Datum *values, const char *nulls, bool push, MktOrder **last)
{
	uint64		n = run(id, values, nulls, 0, SPI_OK_SELECT);
	SPITupleTable *tt = SPI_tuptable;
	MemoryContext old = MemoryContextSwitchTo(e->cxt);

	if (last)
		*last = NULL;
	for (uint64 i = 0; i < n; i++)
	{
		bool		fresh;
		MktOrder   *o = order_from_tuple(e, tt->vals[i], tt->tupdesc, &fresh);

		if (push && fresh && o->state == OS_OPEN)
			heap_push(o->buy ? &e->bids : &e->asks, o);
		if (last)
			*last = o;
	}
	MemoryContextSwitchTo(old);
	SPI_freetuptable(tt);
	return n;
}

/*
 * find_order
 *		The order with this id, from memory or (lazy engines) the table.
 */
static MktOrder *
find_order(Engine *e, int64 order_id)
{
	MktOrder   *o = (MktOrder *) hash_search(e->orders, &order_id, HASH_FIND, NULL);

	if (o == NULL && e->lazy)
	{
		Datum		v[1] = {Int64GetDatum(order_id)};

		load_orders(e, P_ONE, v, NULL, false, &o);
	}
	return o;
}

static void
mark_dirty(Engine *e, MktOrder *o)
{
	if (o->dirty)
		return;
	if (e->ndirty == e->maxdirty)
	{
		e->maxdirty = e->maxdirty == 0 ? 256 : e->maxdirty * 2;
		e->dirty = e->dirty == NULL
			? MemoryContextAlloc(e->cxt, sizeof(MktOrder *) * e->maxdirty)
			: repalloc(e->dirty, sizeof(MktOrder *) * e->maxdirty);
	}
	e->dirty[e->ndirty++] = o;
	o->dirty = true;
}

/*
 * end_order
 *		The order leaves the book (or the queue): whatever its hold still
 *		freezes is released at the flush.
 */
static void
end_order(Engine *e, MktOrder *o, OrderState state, const char *reason)
{
	Assert(STATE_ENDED(state));
	if (STATE_ENDED(o->state))
		return;
	o->state = state;
	o->end_reason = reason;
	e->ended++;
	mark_dirty(e, o);
}

/*
 * fill
 *		quantity t of buy against sell at price: the order states, the fees,
 *		what each hold gives up and what each party receives.
 */
static void
fill(Engine *e, MktOrder *buy, MktOrder *sell, int64 quantity, int64 price, int aggressor)
{
	int64		notional = mul_checked(quantity, price);
	int64		buy_after = add_checked(buy->notional, notional);
	int64		sell_after = add_checked(sell->notional, notional);
	int64		buy_fee = fee_of(buy_after, e->fee_e8) - fee_of(buy->notional, e->fee_e8);
	int64		sell_fee = fee_of(sell_after, e->fee_e8) - fee_of(sell->notional, e->fee_e8);
	Fill	   *f;

	Assert(quantity > 0 && quantity <= buy->remaining && quantity <= sell->remaining);
	if (buy->participant_id == sell->participant_id)
		elog(ERROR, "market: self-trade between orders " INT64_FORMAT " and " INT64_FORMAT,
			 buy->order_id, sell->order_id);
	if (buy->hold_left < notional + buy_fee || sell->hold_left < quantity)
		elog(ERROR, "market: order " INT64_FORMAT " or " INT64_FORMAT " holds too little for a fill",
			 buy->order_id, sell->order_id);

	buy->remaining -= quantity;
	buy->notional = buy_after;
	buy->fees += buy_fee;
	buy->hold_left -= notional + buy_fee;
	buy->fees_now += buy_fee;
	buy->nfills++;
	sell->remaining -= quantity;
	sell->notional = sell_after;
	sell->fees += sell_fee;
	sell->hold_left -= quantity;
	sell->fees_now += sell_fee;
	sell->nfills++;
	mark_dirty(e, buy);
	mark_dirty(e, sell);

	if (e->nfills == e->maxfills)
	{
		e->maxfills = e->maxfills == 0 ? 256 : e->maxfills * 2;
		e->fills = e->fills == NULL
			? MemoryContextAlloc(e->cxt, sizeof(Fill) * e->maxfills)
			: repalloc(e->fills, sizeof(Fill) * e->maxfills);
	}
	f = &e->fills[e->nfills++];
	f->buy = buy;
	f->sell = sell;
	f->quantity = quantity;
	f->price = price;
	f->buy_fee = buy_fee;
	f->sell_fee = sell_fee;
	f->aggressor = aggressor;

	if (buy->remaining == 0)
		end_order(e, buy, OS_FILLED, "filled");
	if (sell->remaining == 0)
		end_order(e, sell, OS_FILLED, "filled");
}

/* ----------------------------------------------------------------
 *		Matching
 * ----------------------------------------------------------------
 */

/*
 * load_chunk
 *		Lazy engines: the next chunk of open opposite orders that cross the
 *		incoming limit, in price-time order, after the last one loaded.
 */
static void
load_chunk(Engine *e, int side)
{
	Datum		v[6];
	uint64		n;
	MktOrder   *last;

	v[0] = Int32GetDatum(e->product_id);
	v[1] = DateADTGetDatum(e->bdate);
	v[2] = Int64GetDatum(e->lazy_limit);
	v[3] = Int64GetDatum(e->key_price[side]);
	v[4] = Int64GetDatum(e->key_prio[side]);
	v[5] = Int64GetDatum(LAZY_CHUNK);
	n = load_orders(e, side == SIDE_ASKS ? P_CHUNK_ASKS : P_CHUNK_BIDS, v, NULL, true, &last);
	if (last)
	{
		e->key_price[side] = last->price;
		e->key_prio[side] = last->priority;
	}
	e->more[side] = (n == LAZY_CHUNK);
}

/*
 * best_opposite
 *		The best open order on the other side of the book, or NULL.  Orders
 *		that ended while in the heap are dropped here (lazy deletion).
 */
static MktOrder *
best_opposite(Engine *e, bool incoming_buy)
{
	int			side = incoming_buy ? SIDE_ASKS : SIDE_BIDS;
	Heap	   *h = incoming_buy ? &e->asks : &e->bids;

	for (;;)
	{
		while (h->n > 0 && h->v[0]->state != OS_OPEN)
			heap_pop(h);
		if (h->n > 0)
			return h->v[0];
		if (!e->lazy || !e->more[side])
			return NULL;
		load_chunk(e, side);
	}
}

static inline bool
crosses(const MktOrder *in, const MktOrder *resting)
{
	return in->buy ? in->price >= resting->price : in->price <= resting->price;
}

/*
 * next_priority
 *		The time priority of an order that comes to rest: the next value of
 *		carbonmkt.market_priority_seq, which every order that rests in a listed
 *		book draws (submit_order's orders that rest without matching draw it
 *		in SQL).  The sequence only grows, and an order that draws a value
 *		holds a lock on the book (shared or the matcher lock) until it
 *		commits, so a later value is a later order.  A batch draws them a
 *		chunk at a time; values drawn and not used are gaps, harmless.  On a
 *		0.1.0 catalog (no sequence yet; its SQL has no side-by-side entry) the
 *		counter of the day in product_day.book_seq gives them, as it did there.
 */
static int64
next_priority(Engine *e)
{
	if (!e->prio_seq)
		return ++e->book_seq;	/* a 0.1.0 catalog: the counter of the day */
	if (e->nextprio >= e->nprio)
	{
		int			want = e->lazy ? 1 : Min(Max(2 * e->nprio, 16), 4096);
		Datum		v[1];
		uint64		n;
		uint64		i;
		MemoryContext old;

		v[0] = Int32GetDatum(want);
		n = run(P_PRIORITY, v, NULL, 0, SPI_OK_SELECT);
		if (n != (uint64) want)
			elog(ERROR, "market: drew " UINT64_FORMAT " of %d priorities", n, want);
		old = MemoryContextSwitchTo(e->cxt);
		if (e->prio != NULL)
			pfree(e->prio);
		e->prio = palloc(sizeof(int64) * want);
		MemoryContextSwitchTo(old);
		for (i = 0; i < n; i++)
			e->prio[i] = get_int8(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		SPI_freetuptable(SPI_tuptable);
		e->nprio = want;
		e->nextprio = 0;
	}
	return e->prio[e->nextprio++];
}

/*
 * match_incoming
 *		One incoming listed order against the book.  It trades at the resting
 *		order's price, best price first and, at one price, the earliest
 *		first.  Self-trade prevention: a resting order of the same
 *		participant that would trade is cancelled (reason self_trade) and
 *		matching goes on.  A 摘牌 order trades with its listing only; what it
 *		cannot take is cancelled.  What remains of any other order rests.
 */
static void
match_incoming(Engine *e, MktOrder *in)
{
	int			aggressor = in->buy ? 1 : 2;

	CHECK_FOR_INTERRUPTS();
	Assert(in->state == OS_QUEUED);
	in->state = OS_OPEN;		/* it is live from here on */
	mark_dirty(e, in);

	if (in->take_order_id != 0)
	{
		MktOrder   *t = find_order(e, in->take_order_id);

		if (t == NULL || t->state != OS_OPEN || !t->listed || t->product_id != e->product_id ||
			t->business_date != e->bdate || t->buy == in->buy)
			end_order(e, in, OS_CANCELLED, "listing_unavailable");
		else if (t->participant_id == in->participant_id)
			end_order(e, in, OS_CANCELLED, "self_trade");
		else if (!crosses(in, t))
			end_order(e, in, OS_CANCELLED, "listing_price");
		else
		{
			fill(e, in->buy ? in : t, in->buy ? t : in, Min(in->remaining, t->remaining), t->price, aggressor);
			end_order(e, in, OS_CANCELLED, "take_remainder");	/* no-op when filled */
		}
		return;
	}

	while (in->remaining > 0)
	{
		MktOrder   *best = best_opposite(e, in->buy);

		if (best == NULL || !crosses(in, best))
			break;
		if (best->participant_id == in->participant_id)
		{
			end_order(e, best, OS_CANCELLED, "self_trade");
			continue;
		}
		fill(e, in->buy ? in : best, in->buy ? best : in, Min(in->remaining, best->remaining), best->price,
			 aggressor);
	}
	if (in->remaining > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(e->cxt);

		in->priority = next_priority(e);
		heap_push(in->buy ? &e->bids : &e->asks, in);
		MemoryContextSwitchTo(old);
		e->resting++;
	}
}

/* ----------------------------------------------------------------
 *		Engine set-up and flush
 * ----------------------------------------------------------------
 */

/*
 * engine_begin
 *		Connect to SPI, take the product's matcher lock for today and read the
 *		product and the rule of the mode.  The engine lives in its own memory
 *		context under the caller's, so it survives SPI calls.
 */
static Engine *
engine_begin(int32 product_id, const char *mode, bool lazy, bool batch)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "carbonmkt matching engine",
											  ALLOCSET_DEFAULT_SIZES);
	Engine	   *e = MemoryContextAllocZero(cxt, sizeof(Engine));
	HASHCTL		hc;
	Datum		v[3];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	MemoryContext old;

	e->cxt = cxt;
	e->product_id = product_id;
	e->mode = mode;
	e->lazy = lazy;
	e->batch = batch;
	e->bids.bids = true;
	e->more[SIDE_BIDS] = e->more[SIDE_ASKS] = lazy;
	e->key_price[SIDE_ASKS] = 0;
	e->key_prio[SIDE_ASKS] = 0;
	e->key_price[SIDE_BIDS] = PG_INT64_MAX;
	e->key_prio[SIDE_BIDS] = 0;

	memset(&hc, 0, sizeof(hc));
	hc.keysize = sizeof(int64);
	hc.entrysize = sizeof(MktOrder);
	hc.hcxt = cxt;
	e->orders = hash_create("carbonmkt orders", 1024, &hc, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	run(P_NOW, NULL, NULL, 1, SPI_OK_SELECT);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	e->now = DatumGetTimestampTz(SPI_getbinval(tup, desc, 1, &isnull));
	e->bdate = DatumGetDateADT(SPI_getbinval(tup, desc, 2, &isnull));
	SPI_freetuptable(SPI_tuptable);

	v[0] = Int32GetDatum(product_id);
	v[1] = DateADTGetDatum(e->bdate);
	if (run(P_LOCK_DAY, v, NULL, 1, SPI_OK_SELECT) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_MARKET_CLOSED),
				 errmsg("product %d has no book for %s", product_id,
						DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(e->bdate)))),
				 errhint("Orders enter through carbonmkt.submit_order() or carbonmkt.queue_order().")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	e->book_seq = e->book_seq0 = get_int8(tup, desc, 2);
	e->prio_seq = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	if (DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_MARKET_CLOSED),
				 errmsg("trading in product %d is closed for %s", product_id,
						DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(e->bdate))))));
	SPI_freetuptable(SPI_tuptable);

	v[1] = CStringGetTextDatum(mode);
	v[2] = DateADTGetDatum(e->bdate);
	if (run(P_PRODUCT, v, NULL, 1, SPI_OK_SELECT) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_MARKET_CLOSED),
				 errmsg("no %s rule applies to product %d on %s", mode, product_id,
						DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(e->bdate))))));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	old = MemoryContextSwitchTo(cxt);
	e->code = SPI_getvalue(tup, desc, 1);
	e->instrument = SPI_getvalue(tup, desc, 2);
	e->vintage = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	e->project = SPI_getvalue(tup, desc, 4);
	MemoryContextSwitchTo(old);
	e->clearing = get_int8(tup, desc, 5);
	/* a fee rate the exchange has not set is refused, never charged as 0 */
	(void) SPI_getbinval(tup, desc, 6, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_MARKET_CLOSED),
				 errmsg("no fee rate for %s trading of product %d on %s", mode, product_id,
						DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(e->bdate)))),
				 errhint("The exchange sets it with carbonmkt.amend_rule('market_rule', ...); doc/rules.md.")));
	e->fee_e8 = get_int8(tup, desc, 6);
	SPI_freetuptable(SPI_tuptable);
	return e;
}

static Datum
int8_array(const int64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
text_array(const char *const *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(v[i] ? v[i] : "");
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * write_trades
 *		One INSERT for every fill; returns the first trade id (0 for none).
 */
static int64
write_trades(Engine *e)
{
	int			n = e->nfills;
	int64	   *col[9];
	Datum		v[13];
	int64		first;

	if (n == 0)
		return 0;
	for (int c = 0; c < 9; c++)
		col[c] = palloc(sizeof(int64) * n);
	for (int i = 0; i < n; i++)
	{
		Fill	   *f = &e->fills[i];

		col[0][i] = f->price;
		col[1][i] = f->quantity;
		col[2][i] = f->buy->order_id;
		col[3][i] = f->sell->order_id;
		col[4][i] = f->buy->participant_id;
		col[5][i] = f->sell->participant_id;
		col[6][i] = f->buy_fee;
		col[7][i] = f->sell_fee;
		col[8][i] = f->aggressor;
	}
	v[0] = Int32GetDatum(e->product_id);
	v[1] = CStringGetTextDatum(e->mode);
	v[2] = DateADTGetDatum(e->bdate);
	v[3] = TimestampTzGetDatum(e->now);
	for (int c = 0; c < 9; c++)
		v[4 + c] = int8_array(col[c], n);
	run(P_INSERT_TRADES, v, NULL, 1, SPI_OK_SELECT);
	first = get_int8(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SPI_freetuptable(SPI_tuptable);
	return first;
}

/*
 * write_orders
 *		One UPDATE for every order that changed.
 */
static void
write_orders(Engine *e)
{
	int			n = e->ndirty;
	int64	   *id,
			   *rem,
			   *prio,
			   *hl,
			   *nt,
			   *fe;
	const char **st,
			  **why;
	Datum		v[9];

	if (n == 0)
		return;
	id = palloc(sizeof(int64) * n);
	rem = palloc(sizeof(int64) * n);
	prio = palloc(sizeof(int64) * n);
	hl = palloc(sizeof(int64) * n);
	nt = palloc(sizeof(int64) * n);
	fe = palloc(sizeof(int64) * n);
	st = palloc(sizeof(char *) * n);
	why = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
	{
		MktOrder   *o = e->dirty[i];

		id[i] = o->order_id;
		rem[i] = o->remaining;
		prio[i] = o->priority;
		hl[i] = o->hold_left;
		nt[i] = o->notional;
		fe[i] = o->fees;
		st[i] = state_label[o->state];
		why[i] = o->end_reason;
	}
	v[0] = int8_array(id, n);
	v[1] = TimestampTzGetDatum(e->now);
	v[2] = int8_array(rem, n);
	v[3] = text_array(st, n);
	v[4] = int8_array(prio, n);
	v[5] = int8_array(hl, n);
	v[6] = int8_array(nt, n);
	v[7] = int8_array(fe, n);
	v[8] = text_array(why, n);
	if (run(P_UPDATE_ORDERS, v, NULL, 0, SPI_OK_UPDATE) != (uint64) n)
		elog(ERROR, "market: %d orders changed but " UINT64_FORMAT " rows were updated", n, SPI_processed);
}

static int
cmp_credit(const void *a, const void *b)
{
	int64		x = ((const Credit *) a)->account;
	int64		y = ((const Credit *) b)->account;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * sorted_entries
 *		The entries of a hash, copied into an array and sorted by cmp (a
 *		stable lock order: accounts, or holds then accounts).
 */
static void *
sorted_entries(HTAB *hash, Size entrysize, int (*cmp) (const void *, const void *), int *n)
{
	long		count = hash_get_num_entries(hash);
	char	   *arr = palloc(entrysize * Max(count, 1));
	HASH_SEQ_STATUS seq;
	void	   *entry;
	int			i = 0;

	hash_seq_init(&seq, hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
		memcpy(arr + entrysize * i++, entry, entrysize);
	qsort(arr, i, entrysize, cmp);
	*n = i;
	return arr;
}

/* The credits of a hash in account order. */
static Credit *
sorted_credits(HTAB *credits, int *n)
{
	return (Credit *) sorted_entries(credits, sizeof(Credit), cmp_credit, n);
}

static void
registry_call(Engine *e, PlanId id, Datum *v)
{
	run(id, v, NULL, 1, SPI_OK_SELECT);
	SPI_freetuptable(SPI_tuptable);
	e->registry_calls++;
}

/* A direct delivery or payment from one hold to one account (the direct plan). */
typedef struct PairKey
{
	int64		hold_id;
	int64		account;
} PairKey;

typedef struct Pair
{
	PairKey		key;
	int64		amount;
	int64		order_id;		/* the order whose hold pays */
} Pair;

static void
add_pair(HTAB *pairs, int64 hold_id, int64 account, int64 amount, int64 order_id)
{
	PairKey		k;
	bool		found;
	Pair	   *p;

	if (amount == 0)
		return;
	memset(&k, 0, sizeof(k));
	k.hold_id = hold_id;
	k.account = account;
	p = (Pair *) hash_search(pairs, &k, HASH_ENTER, &found);
	p->amount = found ? add_checked(p->amount, amount) : amount;
	p->order_id = order_id;
}

static int
cmp_pair(const void *a, const void *b)
{
	const PairKey *x = &((const Pair *) a)->key;
	const PairKey *y = &((const Pair *) b)->key;

	if (x->hold_id != y->hold_id)
		return x->hold_id < y->hold_id ? -1 : 1;
	return x->account < y->account ? -1 : x->account > y->account ? 1 : 0;
}

/* The pairs of a hash in hold, then account order. */
static Pair *
sorted_pairs(HTAB *pairs, int *n)
{
	return (Pair *) sorted_entries(pairs, sizeof(Pair), cmp_pair, n);
}

static void
transfer_from_hold(Engine *e, int64 hold_id, int64 to, int64 amount, const char *memo)
{
	Datum		v[4];

	v[0] = Int64GetDatum(hold_id);
	v[1] = Int64GetDatum(to);
	v[2] = Int64GetDatum(amount);
	v[3] = CStringGetTextDatum(memo);
	registry_call(e, P_FROM_HOLD, v);
}

/*
 * The settlement of a flush, planned in memory before anything is written:
 * deliveries and payments are (hold, account) pairs spent with
 * transfer_from_hold, fee collections are per cash account (transfer_cny).
 */
typedef struct Settlement
{
	HTAB	   *deliveries;		/* sell order's hold -> buyer's holding account: t */
	HTAB	   *payments;		/* buy order's hold -> seller's cash / clearing account: fen */
	HTAB	   *collections;	/* cash account -> clearing account: fees, fen */
} Settlement;

static void
add_credit(HTAB *credits, int64 account, int64 amount)
{
	bool		found;
	Credit	   *c;

	if (amount == 0)
		return;
	c = (Credit *) hash_search(credits, &account, HASH_ENTER, &found);
	c->amount = found ? add_checked(c->amount, amount) : amount;
}

/*
 * plan_settlement
 *		Delivery versus payment for everything this engine filled, directly
 *		between the parties: each sell order's hold delivers to each buyer's
 *		holding account, each buy order's hold pays each seller's cash account
 *		(one registry call per pair of hold and receiving account).  Fees go
 *		to the product's clearing account (the exchange's), in one of two ways:
 *
 *		- one incoming order (submit_order, block acceptance): the buy order's
 *		  hold pays both fees to the clearing account and the seller receives
 *		  the price minus its fee -- the fewest calls;
 *		- a batch (process_queue, auction uncross): the seller receives the
 *		  whole price and each party pays its fees of the batch from its cash
 *		  account in one transfer (a buy order that ended first releases what
 *		  its hold still froze, fee included; one that stays open pays its fee
 *		  from its hold).  The clearing account then takes one posting per
 *		  party, not one per order: postings on one account within one
 *		  transaction get slower the more there are (doc/market.md).
 *
 *		Every order that ended releases what its hold still freezes.  The
 *		orders' hold_left become their final values here.
 */
static Settlement
plan_settlement(Engine *e)
{
	Settlement	st;
	HASHCTL		hc;

	memset(&hc, 0, sizeof(hc));
	hc.keysize = sizeof(PairKey);
	hc.entrysize = sizeof(Pair);
	hc.hcxt = CurrentMemoryContext;
	st.deliveries = hash_create("carbonmkt deliveries", 256, &hc, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	st.payments = hash_create("carbonmkt payments", 256, &hc, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	hc.keysize = sizeof(int64);
	hc.entrysize = sizeof(Credit);
	st.collections = hash_create("carbonmkt fee collections", 256, &hc, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	for (int i = 0; i < e->nfills; i++)
	{
		Fill	   *f = &e->fills[i];
		int64		notional = f->quantity * f->price;	/* checked in fill() */

		add_pair(st.deliveries, f->sell->hold_id, f->buy->holding_account, f->quantity, f->sell->order_id);
		if (e->batch)
		{
			add_pair(st.payments, f->buy->hold_id, f->sell->cash_account, notional, f->buy->order_id);
			add_credit(st.collections, f->sell->cash_account, f->sell_fee);
		}
		else
		{
			add_pair(st.payments, f->buy->hold_id, f->sell->cash_account, notional - f->sell_fee, f->buy->order_id);
			add_pair(st.payments, f->buy->hold_id, e->clearing, f->buy_fee + f->sell_fee, f->buy->order_id);
		}
	}
	for (int i = 0; i < e->ndirty; i++)
	{
		MktOrder   *o = e->dirty[i];
		bool		ended = STATE_ENDED(o->state);
		int64		unpaid = (e->batch && o->buy) ? o->fees_now : 0;	/* fees still in the hold */

		if (unpaid > 0 && !ended)
		{
			add_pair(st.payments, o->hold_id, e->clearing, unpaid, o->order_id);
			unpaid = 0;
		}
		if (ended)
		{
			o->release = o->hold_left + unpaid;
			o->hold_left = 0;
			add_credit(st.collections, o->cash_account, unpaid);
		}
	}
	return st;
}

static void
execute_settlement(Engine *e, Settlement *st)
{
	Pair	   *pr;
	Credit	   *cr;
	int			n;
	Datum		v[4];

	pr = sorted_pairs(st->deliveries, &n);
	for (int i = 0; i < n; i++)
		transfer_from_hold(e, pr[i].key.hold_id, pr[i].key.account, pr[i].amount,
						   psprintf("market order " INT64_FORMAT ": delivery", pr[i].order_id));
	pr = sorted_pairs(st->payments, &n);
	for (int i = 0; i < n; i++)
		transfer_from_hold(e, pr[i].key.hold_id, pr[i].key.account, pr[i].amount,
						   psprintf("market order " INT64_FORMAT ": %s", pr[i].order_id,
									pr[i].key.account == e->clearing ? "fees" : "payment"));
	for (int i = 0; i < e->ndirty; i++)
	{
		MktOrder   *o = e->dirty[i];

		if (o->release == 0)
			continue;
		v[0] = Int64GetDatum(o->hold_id);
		v[1] = CStringGetTextDatum(psprintf("market order " INT64_FORMAT " %s (%s)", o->order_id,
											state_label[o->state], o->end_reason));
		registry_call(e, P_RELEASE, v);
	}
	cr = sorted_credits(st->collections, &n);
	for (int i = 0; i < n; i++)
	{
		v[0] = Int64GetDatum(cr[i].account);
		v[1] = Int64GetDatum(e->clearing);
		v[2] = Int64GetDatum(cr[i].amount);
		v[3] = CStringGetTextDatum(psprintf("market %s %s: fees", e->code, e->mode));
		registry_call(e, P_CNY, v);
	}
}

/*
 * The unified settlement (统一交收) of a flush: every trade cleared gross in
 * memory, then one registry posting for all of them (carbonmkt.settle_batch,
 * src/settlement.c): what each order's hold gives up and whether the rest is
 * released, and what each receiving account gets, net.
 */
typedef struct Unified
{
	int			nholds;
	int64	   *hold_ids;
	int64	   *spent;
	bool	   *release;
	HTAB	   *units;			/* buyer's holding account -> t of the product */
	HTAB	   *cash;			/* seller's cash / the clearing account -> fen */
} Unified;

static bool
use_unified(const Engine *e)
{
	/*
	 * Every CEA flush, a single incoming order too (faster than the per-call
	 * path under market_continuous, doc/performance.md).  CCER moves by
	 * serial block: the per-call path (transfer_from_hold).
	 */
	return strcmp(e->instrument, "CEA") == 0;
}

/*
 * plan_unified
 *		Clear every fill gross: the buyer's hold pays value + the buyer's fee,
 *		the seller's hold delivers the tonnes; the buyer's holding account
 *		receives the tonnes, the seller's cash account value - the seller's
 *		fee, the product's clearing account both fees.  Every order that ended
 *		releases what its hold still freezes.  The orders' hold_left become
 *		their final values here (before the orders are written).
 */
static Unified
plan_unified(Engine *e)
{
	Unified		u;
	HASHCTL		hc;

	memset(&hc, 0, sizeof(hc));
	hc.keysize = sizeof(int64);
	hc.entrysize = sizeof(Credit);
	hc.hcxt = CurrentMemoryContext;
	u.units = hash_create("carbonmkt unit credits", 256, &hc, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	u.cash = hash_create("carbonmkt cash credits", 256, &hc, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (int i = 0; i < e->nfills; i++)
	{
		Fill	   *f = &e->fills[i];
		int64		notional = f->quantity * f->price;	/* checked in fill() */

		add_credit(u.units, f->buy->holding_account, f->quantity);
		add_credit(u.cash, f->sell->cash_account, notional - f->sell_fee);
		add_credit(u.cash, e->clearing, add_checked(f->buy_fee, f->sell_fee));
	}

	u.nholds = 0;
	u.hold_ids = palloc(sizeof(int64) * Max(e->ndirty, 1));
	u.spent = palloc(sizeof(int64) * Max(e->ndirty, 1));
	u.release = palloc(sizeof(bool) * Max(e->ndirty, 1));
	for (int i = 0; i < e->ndirty; i++)
	{
		MktOrder   *o = e->dirty[i];
		bool		ended = STATE_ENDED(o->state);
		int64		spent = o->hold_left0 - o->hold_left;

		if (ended)
		{
			o->release = o->hold_left;
			o->hold_left = 0;
		}
		if (spent == 0 && o->release == 0)
			continue;
		if (o->hold_id == 0)
			elog(ERROR, "market: order " INT64_FORMAT " has no hold to settle", o->order_id);
		u.hold_ids[u.nholds] = o->hold_id;
		u.spent[u.nholds] = spent;
		u.release[u.nholds] = ended;
		u.nholds++;
	}
	return u;
}

static void
execute_unified(Engine *e, Unified *u)
{
	Credit	   *units;
	Credit	   *cash;
	int			nunits;
	int			ncash;
	int			n;
	int64	   *acc;
	int64	   *amt;
	const char **instr;
	int32	   *vintage;
	const char **project;
	Datum		v[9];

	if (u->nholds == 0)
		return;
	units = sorted_credits(u->units, &nunits);
	cash = sorted_credits(u->cash, &ncash);
	n = nunits + ncash;
	acc = palloc(sizeof(int64) * Max(n, 1));
	amt = palloc(sizeof(int64) * Max(n, 1));
	instr = palloc(sizeof(char *) * Max(n, 1));
	vintage = palloc(sizeof(int32) * Max(n, 1));
	project = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < nunits; i++)
	{
		acc[i] = units[i].account;
		amt[i] = units[i].amount;
		instr[i] = e->instrument;
		vintage[i] = e->vintage;
		project[i] = e->project;
	}
	for (int i = 0; i < ncash; i++)
	{
		acc[nunits + i] = cash[i].account;
		amt[nunits + i] = cash[i].amount;
		instr[nunits + i] = "CNY";
		vintage[nunits + i] = 0;
		project[nunits + i] = "";
	}
	v[0] = int8_array(u->hold_ids, u->nholds);
	v[1] = int8_array(u->spent, u->nholds);
	{
		Datum	   *d = palloc(sizeof(Datum) * u->nholds);

		for (int i = 0; i < u->nholds; i++)
			d[i] = BoolGetDatum(u->release[i]);
		v[2] = PointerGetDatum(construct_array(d, u->nholds, BOOLOID, 1, true, TYPALIGN_CHAR));
	}
	v[3] = int8_array(acc, n);
	v[4] = text_array(instr, n);
	{
		Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

		for (int i = 0; i < n; i++)
			d[i] = Int32GetDatum(vintage[i]);
		v[5] = PointerGetDatum(construct_array(d, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
	}
	v[6] = text_array(project, n);
	v[7] = int8_array(amt, n);
	v[8] = CStringGetTextDatum(psprintf("market %s %s: unified settlement (统一交收) of %d trades",
										e->code, e->mode, e->nfills));
	registry_call(e, P_SETTLE_BATCH, v);
}

/*
 * engine_flush
 *		Plan the settlement, write the trades and the orders (on a 0.1.0
 *		catalog also the book's priority counter), settle.  Returns the first trade id (0 when
 *		nothing traded).
 */
static int64
engine_flush(Engine *e)
{
	instr_time	t0,
				t1,
				t2;
	int64		first;
	Settlement	st = {0};
	Unified		un = {0};

	INSTR_TIME_SET_CURRENT(t0);
	if (use_unified(e))
		un = plan_unified(e);
	else
		st = plan_settlement(e);
	first = write_trades(e);
	write_orders(e);
	if (!e->prio_seq && e->book_seq != e->book_seq0)
	{
		Datum		v[3];

		v[0] = Int32GetDatum(e->product_id);
		v[1] = DateADTGetDatum(e->bdate);
		v[2] = Int64GetDatum(e->book_seq);
		run(P_SET_SEQ, v, NULL, 0, SPI_OK_UPDATE);
	}
	INSTR_TIME_SET_CURRENT(t1);
	if (use_unified(e))
		execute_unified(e, &un);
	else
		execute_settlement(e, &st);
	INSTR_TIME_SET_CURRENT(t2);
	INSTR_TIME_SUBTRACT(t2, t1);
	INSTR_TIME_SUBTRACT(t1, t0);
	e->write_ms = INSTR_TIME_GET_MILLISEC(t1);
	e->settle_ms = INSTR_TIME_GET_MILLISEC(t2);
	return first;
}

static void
engine_end(Engine *e)
{
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	MemoryContextDelete(e->cxt);
}

/* ----------------------------------------------------------------
 *		SQL entry points
 * ----------------------------------------------------------------
 */

/*
 * _match_order(order_id bigint, product_id int): match one queued listed
 * order of that product at once (submit_order).  The book is read lazily.
 */
Datum
market_match_order(PG_FUNCTION_ARGS)
{
	int64		order_id = PG_GETARG_INT64(0);
	int32		product_id = PG_GETARG_INT32(1);
	Engine	   *e;
	MktOrder   *in;

	e = engine_begin(product_id, "listed", true, false);
	in = find_order(e, order_id);
	if (in == NULL || in->state != OS_QUEUED || !in->listed || in->business_date != e->bdate ||
		in->product_id != product_id)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_ORDER_STATE),
				 errmsg("order " INT64_FORMAT " is not a queued listed order of today", order_id)));
	e->lazy_limit = in->price;
	match_incoming(e, in);
	engine_flush(e);
	engine_end(e);
	PG_RETURN_VOID();
}

/*
 * _process_queue(product_id int, max_orders int): match the product's queued
 * listed orders of today in order id sequence against the whole book in
 * memory, then write and settle the batch.
 */
Datum
market_process_queue(PG_FUNCTION_ARGS)
{
	int32		product_id;
	int64		max_orders = PG_ARGISNULL(1) ? -1 : (int64) PG_GETARG_INT32(1);
	TupleDesc	tupdesc;
	Datum		result[10];
	bool		nulls[10] = {0};
	Engine	   *e;
	Datum		v[3];
	char		vnulls[3] = {' ', ' ', ' '};
	MktOrder  **queue;
	uint64		nqueue;
	instr_time	t0,
				t1,
				t2;
	double		load_ms,
				match_ms;
	const char *how;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("product_id must not be NULL")));
	product_id = PG_GETARG_INT32(0);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	INSTR_TIME_SET_CURRENT(t0);
	e = engine_begin(product_id, "listed", false, true);

	/* the whole open book of the day */
	v[0] = Int32GetDatum(product_id);
	v[1] = DateADTGetDatum(e->bdate);
	load_orders(e, P_BOOK_ALL, v, NULL, true, NULL);

	/* the queue, in order id sequence */
	v[2] = Int64GetDatum(max_orders);
	if (max_orders < 0)
		vnulls[2] = 'n';
	nqueue = run(P_QUEUE, v, vnulls, 0, SPI_OK_SELECT);
	queue = MemoryContextAlloc(e->cxt, sizeof(MktOrder *) * Max(nqueue, 1));
	{
		SPITupleTable *tt = SPI_tuptable;
		MemoryContext old = MemoryContextSwitchTo(e->cxt);

		for (uint64 i = 0; i < nqueue; i++)
			queue[i] = order_from_tuple(e, tt->vals[i], tt->tupdesc, NULL);
		MemoryContextSwitchTo(old);
		SPI_freetuptable(tt);
	}
	INSTR_TIME_SET_CURRENT(t1);

	for (uint64 i = 0; i < nqueue; i++)
		match_incoming(e, queue[i]);
	INSTR_TIME_SET_CURRENT(t2);

	engine_flush(e);

	INSTR_TIME_SUBTRACT(t2, t1);
	INSTR_TIME_SUBTRACT(t1, t0);
	load_ms = INSTR_TIME_GET_MILLISEC(t1);
	match_ms = INSTR_TIME_GET_MILLISEC(t2);
	result[0] = Int64GetDatum((int64) nqueue);
	result[1] = Int64GetDatum((int64) e->nfills);
	result[2] = Int64GetDatum(e->resting);
	result[3] = Int64GetDatum(e->ended);
	result[4] = Int64GetDatum(e->registry_calls);
	result[5] = Float8GetDatum(load_ms);
	result[6] = Float8GetDatum(match_ms);
	result[7] = Float8GetDatum(e->write_ms);
	result[8] = Float8GetDatum(e->settle_ms);
	how = use_unified(e) ? "unified, one posting" :
		e->batch ? "direct, fees per account" : "direct, fees from holds";
	engine_end(e);
	/* after SPI_finish: the text must live in the caller's memory context */
	result[9] = CStringGetTextDatum(how);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, result, nulls)));
}

/*
 * _settle_fills(mode, buy_orders[], sell_orders[], quantities[], prices[]):
 * fill given pairs of orders (block agreements) with the engine's fill and
 * settlement code.  Orders must be open or queued, of one product, on the
 * right sides.  Returns the first trade id.
 */
Datum
market_settle_fills(PG_FUNCTION_ARGS)
{
	char	   *mode = DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(0)));
	ArrayType  *arrs[4];
	int64	   *vals[4];
	int			n = -1;
	Engine	   *e;
	int64		first;

	for (int a = 0; a < 4; a++)
	{
		Datum	   *elems;
		bool	   *enulls;
		int			count;

		arrs[a] = PG_GETARG_ARRAYTYPE_P(a + 1);
		deconstruct_array(arrs[a], INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
						  &elems, &enulls, &count);
		if (n >= 0 && count != n)
			ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("fill arrays differ in length")));
		n = count;
		vals[a] = palloc(sizeof(int64) * Max(count, 1));
		for (int i = 0; i < count; i++)
		{
			if (enulls[i])
				ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("fill arrays must not contain NULL")));
			vals[a][i] = DatumGetInt64(elems[i]);
		}
	}
	if (n <= 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("no fills given")));

	{
		Datum		v[1] = {Int64GetDatum(vals[0][0])};
		int32		product_id;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (run(P_ONE, v, NULL, 1, SPI_OK_SELECT) != 1)
			ereport(ERROR, (errcode(ERRCODE_CARBONMKT_ORDER_STATE),
							errmsg("order " INT64_FORMAT " does not exist", vals[0][0])));
		product_id = (int32) get_int8(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 16);
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
		e = engine_begin(product_id, mode, true, false);
	}
	for (int i = 0; i < n; i++)
	{
		MktOrder   *buy,
				   *sell;

		buy = find_order(e, vals[0][i]);
		sell = find_order(e, vals[1][i]);
		if (buy == NULL || sell == NULL || !buy->buy || sell->buy ||
			buy->product_id != e->product_id || sell->product_id != e->product_id ||
			STATE_ENDED(buy->state) || STATE_ENDED(sell->state) ||
			vals[2][i] <= 0 || vals[2][i] > Min(buy->remaining, sell->remaining) || vals[3][i] <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_ORDER_STATE),
					 errmsg("cannot fill " INT64_FORMAT " t at " INT64_FORMAT " fen between orders " INT64_FORMAT
							" and " INT64_FORMAT, vals[2][i], vals[3][i], vals[0][i], vals[1][i]),
					 errdetail("Both orders must be live orders of one product, a buy and a sell, with that much remaining.")));
		if (buy->state == OS_QUEUED)
			buy->state = OS_OPEN;
		if (sell->state == OS_QUEUED)
			sell->state = OS_OPEN;
		fill(e, buy, sell, vals[2][i], vals[3][i], 0);
	}
	first = engine_flush(e);
	engine_end(e);
	PG_RETURN_INT64(first);
}

/*
 * _uncross_auction(auction_id): allocate a one-way bidding lot by price
 * (best for the announcer first) then time, at a uniform price (the
 * marginal accepted price) or pay-as-bid; settle; end the lot and every bid.
 */
Datum
market_uncross_auction(PG_FUNCTION_ARGS)
{
	int64		auction_id = PG_GETARG_INT64(0);
	int32		product_id;
	bool		uniform;
	int64		lot_id;
	Engine	   *e;
	MktOrder   *lot;
	Heap	   *bids;
	MktOrder  **won;
	int64	   *got;
	int			nwon = 0;
	int64		clearing = 0;
	int64		allocated = 0;
	TupleDesc	tupdesc;
	Datum		result[2];
	bool		nulls[2] = {0};
	bool		isnull;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	{
		Datum		v[1] = {Int64GetDatum(auction_id)};
		HeapTuple	tup;
		TupleDesc	desc;
		char	   *status;

		if (run(P_AUCTION, v, NULL, 1, SPI_OK_SELECT) != 1)
			ereport(ERROR, (errcode(MAKE_SQLSTATE('C', 'M', '3', '1', '4')),
							errmsg("auction " INT64_FORMAT " does not exist", auction_id)));
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		product_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		uniform = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
		lot_id = get_int8(tup, desc, 3);
		status = SPI_getvalue(tup, desc, 4);
		if (strcmp(status, "open") != 0)
			ereport(ERROR, (errcode(MAKE_SQLSTATE('C', 'M', '3', '1', '4')),
							errmsg("auction " INT64_FORMAT " is %s", auction_id, status)));
	}
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");

	e = engine_begin(product_id, "auction", true, true);
	lot = find_order(e, lot_id);
	if (lot == NULL || lot->state != OS_OPEN)
		ereport(ERROR, (errcode(ERRCODE_CARBONMKT_ORDER_STATE),
						errmsg("the lot order " INT64_FORMAT " of auction " INT64_FORMAT " is not open",
							   lot_id, auction_id)));
	{
		Datum		v[2] = {Int64GetDatum(auction_id), Int64GetDatum(lot_id)};

		/* a sell lot goes to the highest bids (a bids heap), a buy lot to the lowest offers */
		load_orders(e, P_AUCTION_BIDS, v, NULL, true, NULL);
	}
	bids = lot->buy ? &e->asks : &e->bids;

	won = palloc(sizeof(MktOrder *) * Max(bids->n, 1));
	got = palloc(sizeof(int64) * Max(bids->n, 1));
	while (bids->n > 0)
	{
		MktOrder   *b = bids->v[0];

		heap_pop(bids);
		if (b->state != OS_OPEN || b->buy == lot->buy || b->participant_id == lot->participant_id)
			continue;
		if (allocated < lot->remaining)
		{
			int64		q = Min(b->remaining, lot->remaining - allocated);

			won[nwon] = b;
			got[nwon++] = q;
			allocated += q;
			clearing = b->price;	/* the marginal accepted price so far */
		}
		else
			end_order(e, b, OS_EXPIRED, "not_allocated");
	}
	for (int i = 0; i < nwon; i++)
	{
		MktOrder   *b = won[i];
		int64		price = uniform ? clearing : b->price;

		fill(e, lot->buy ? lot : b, lot->buy ? b : lot, got[i], price, 0);
		end_order(e, b, OS_EXPIRED, "not_allocated");	/* no-op when filled */
	}
	end_order(e, lot, OS_EXPIRED, "unsold");	/* no-op when sold out */
	engine_flush(e);
	engine_end(e);

	result[0] = Int64GetDatum(allocated);
	result[1] = Int64GetDatum(clearing);
	nulls[1] = (nwon == 0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, result, nulls)));
}

/*
 * _rests_behind(product_id int, business_date date, side order_side, price_fen bigint):
 * whether a listed order at this price would rest at or behind the best
 * price of its side without reaching the other side: a buy at or below the
 * best bid and below the best ask, a sell at or above the best ask and above
 * the best bid.  False on an empty side (the order would set the best price).
 * Two such orders never cross each other, and neither moves a best price, so
 * _enter_order lets them enter side by side under a shared lock of the book.
 */
Datum
market_rests_behind(PG_FUNCTION_ARGS)
{
	int32		product_id = PG_GETARG_INT32(0);
	DateADT		bdate = PG_GETARG_DATEADT(1);
	char	   *side = DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(2)));
	int64		price = PG_GETARG_INT64(3);
	bool		buy = strcmp(side, "buy") == 0;
	Datum		v[2];
	int64		best[2] = {0, 0};
	bool		have[2] = {false, false};
	bool		result;

	v[0] = Int32GetDatum(product_id);
	v[1] = DateADTGetDatum(bdate);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (int s = SIDE_BIDS; s <= SIDE_ASKS; s++)
	{
		if (run(s == SIDE_BIDS ? P_BEST_BID : P_BEST_ASK, v, NULL, 1, SPI_OK_SELECT) == 1)
		{
			best[s] = get_int8(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			have[s] = true;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	if (buy)
		result = have[SIDE_BIDS] && price <= best[SIDE_BIDS] && (!have[SIDE_ASKS] || price < best[SIDE_ASKS]);
	else
		result = have[SIDE_ASKS] && price >= best[SIDE_ASKS] && (!have[SIDE_BIDS] || price > best[SIDE_BIDS]);
	PG_RETURN_BOOL(result);
}
