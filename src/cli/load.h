/*-------------------------------------------------------------------------
 *
 * load.h
 *	  Shared declarations of carbonmkt-load, the order-flow generator.
 *
 * carbonmkt-load is a libpq client: it opens many connections to a database
 * in which carbonmkt's market is installed and sends it a deterministic,
 * realistic stream of orders (carbonmkt.submit_order or queue_order), one
 * transaction per order, from one event loop over non-blocking connections,
 * optionally in libpq pipeline mode.  See src/cli/README.md.
 *
 *	load_gen.c		options, the deterministic order stream, SQL text
 *	load_run.c		connections, the event loop, outcomes and tallies
 *	load_main.c		set-up queries, the report, main()
 *
 * Money is integer: prices are held in li (厘, 0.001 CNY) so that a
 * deliberately off-tick price such as 60.005 can be represented; valid
 * prices are multiples of the tick (default 0.01 CNY = 10 li).  Quantities
 * are whole tonnes (int64).
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/cli/load.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CARBONMKT_LOAD_H
#define CARBONMKT_LOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "libpq-fe.h"

#define LOAD_NAME			"carbonmkt-load"
#define LOAD_VERSION		"0.2.0"

#define LI_PER_FEN			10		/* 1 fen = 0.01 CNY = 10 li */
#define LI_PER_YUAN			1000
#define PPM					1000000 /* shares are parts per million */

/* Exit statuses (documented in --help and README.md) */
#define EXIT_DONE			0	/* every order got a definite answer */
#define EXIT_TROUBLE		1	/* errors outside SQLSTATE class CM, or unknown outcomes */
#define EXIT_USAGE			2	/* bad command line */
#define EXIT_FATAL			3	/* could not connect or set up, or every connection lost */

typedef enum LoadMode
{
	MODE_SUBMIT,				/* carbonmkt.submit_order: match at once */
	MODE_QUEUE					/* carbonmkt.queue_order: hold, match later */
} LoadMode;

typedef enum ProcessQueue
{
	PROCESS_NONE,
	PROCESS_EACH,				/* CALL process_queue(product), products in parallel */
	PROCESS_ALL					/* one CALL process_queue() */
} ProcessQueue;

typedef enum ParticipantSource
{
	PARTICIPANTS_QUERY,			/* key emitters with holding and cash accounts */
	PARTICIPANTS_LIST,			/* ids from the command line */
	PARTICIPANTS_SELF			/* participant_id NULL: the login acts for itself */
} ParticipantSource;

typedef enum InvalidKind
{
	INVALID_NONE,
	INVALID_OFF_TICK,			/* price with a third decimal, e.g. 60.005 */
	INVALID_OUT_OF_BAND,		/* 12-25% away from the centre */
	INVALID_OVERSIZE			/* 100,000 t or more in the listed mode */
} InvalidKind;

typedef struct Options
{
	const char *conninfo;		/* NULL: the PG* environment */
	char	  **set_names;		/* --set NAME=VALUE, on every connection */
	char	  **set_values;
	int			nsets;
	int			clients;
	long		orders;			/* total; -1 when not given */
	long		orders_per_client;	/* -1 when not given */
	double		duration;		/* seconds; 0 = no time limit */
	char	  **products;
	int			nproducts;
	ParticipantSource participant_source;
	int64_t    *participant_ids;	/* PARTICIPANTS_LIST */
	long		nparticipant_ids;
	LoadMode	mode;
	ProcessQueue process_queue;
	bool		price_center_given;
	int64_t		price_center_fen;
	int64_t		price_fallback_fen;
	const char *price_sql;
	const char *fills_sql;
	const char *participants_sql;
	bool		participants_sql_given;	/* --participants-sql replaced the default */
	int64_t		spread_bp;		/* half-width of the price band, basis points */
	int64_t		tick_fen;
	int64_t		max_lot;
	int64_t		lot_min;		/* --lot-range: uniform lots in [lot_min, lot_max]; */
	int64_t		lot_max;		/* 0 and 0: the realistic lot mix */
	int			buy_ppm;
	int			aggressive_ppm;
	int			invalid_ppm;
	int			take_ppm;
	int			cancel_ppm;
	uint64_t	seed;
	bool		pipeline;
	int			depth;			/* orders in flight per connection */
	int			sync_every;		/* orders per pipeline sync (= per transaction) */
	bool		references;
	const char *reference_prefix;
	int			retries;
	bool		dry_run;
	double		progress;		/* seconds between progress lines; 0 = none */
	bool		verbose;
	bool		quiet;
} Options;

/* What the generator needs to know about the market. */
typedef struct Market
{
	int64_t    *center_fen;		/* per product */
	const char **center_source; /* per product: "given", "previous close", "fallback" */
	int64_t    *participants;	/* ids; empty when PARTICIPANTS_SELF */
	long		nparticipants;
} Market;

/* One order of the stream.  Its content depends only on (seed, index). */
typedef struct Order
{
	long		index;			/* position in the stream, 0-based */
	int			product;		/* index into Options.products */
	bool		buy;
	int64_t		quantity;		/* tonnes */
	int64_t		price_li;		/* limit price, 0.001 CNY */
	int64_t		participant;	/* 0: NULL (acting for itself) */
	int64_t		take_order_id;	/* 0: none; set at run time for takers */
	InvalidKind invalid;
	bool		take;			/* try to take a resting listing (摘牌) */
	bool		cancel;			/* cancel it later if it was accepted */
	int			cancel_delay;	/* ... after this many further orders */
} Order;

/* load_gen.c */
extern void fatal(int status, const char *fmt,...) __attribute__((format(printf, 2, 3), noreturn));
extern void *xmalloc(size_t n);
extern void *xcalloc(size_t n, size_t size);
extern char *xstrdup(const char *s);
extern double now_seconds(void);
extern void parse_options(int argc, char **argv, Options *opt);
extern void free_options(Options *opt);
extern bool parse_fixed(const char *s, int decimals, bool round, int64_t *out);
extern void generate_order(const Options *opt, const Market *mkt, long index, Order *o);
extern void format_price(int64_t price_li, char *buf, size_t len);
extern void format_reference(const Options *opt, long index, bool cancel, char *buf, size_t len);
extern void print_sql_literal(FILE *out, const char *s);
extern void print_order_sql(FILE *out, const Options *opt, const Order *o);

/* load_run.c */
typedef struct CodeCount
{
	char		code[6];
	long		count;
	char	   *example;		/* first message seen with this SQLSTATE */
} CodeCount;

typedef struct Tally
{
	long		sent;			/* distinct requests sent at least once */
	long		accepted;
	long		rejected;		/* errors of SQLSTATE class CM: market rules */
	long		errors;			/* other errors (after retries) */
	long		unknown;		/* outcome unknown: connection lost, no reference */
	int			ncodes;
	CodeCount  *codes;			/* rejected and errors, by SQLSTATE */
} Tally;

typedef struct RunStats
{
	Tally		orders;
	Tally		cancels;
	long		generated;		/* orders taken from the stream */
	long		unsent;			/* requests never sent: every connection lost */
	long		resent;			/* sends beyond the first: lost, rolled back with a group */
	long		retried;		/* resends after a serialization failure or deadlock */
	long		reconnects;
	long		takes;			/* orders that named a listing to take */
	long		notices;
	bool		interrupted;
	bool		all_lost;
	double		elapsed;		/* seconds, first send to last answer */
	double		process_elapsed;	/* seconds in CALL process_queue */
	long		process_calls;
	Tally		process;		/* the CALLs */
	/* latency histogram, microseconds, log-linear buckets */
	long		lat_count;
	long	   *lat_buckets;
} RunStats;

extern volatile int interrupt_count;

extern PGconn *connect_one(const Options *opt, bool quiet_failure);
extern void prepare_statements(const Options *opt, PGconn *conn);
extern void run_load(const Options *opt, const Market *mkt, PGconn *first, RunStats *st);
extern PGconn *idle_connection(void);
extern void run_process_queue(const Options *opt, RunStats *st);
extern void finish_connections(void);
extern double latency_percentile(const RunStats *st, double p);
extern void free_stats(RunStats *st);
extern void tally_code(Tally *t, const char *code, const char *message);

#endif							/* CARBONMKT_LOAD_H */
