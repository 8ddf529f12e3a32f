/*-------------------------------------------------------------------------
 *
 * load_gen.c
 *	  carbonmkt-load: command-line options and the deterministic order
 *	  stream.
 *
 * Order i of the stream is a pure function of (seed, i) and the options: it
 * has its own PRNG state derived from both, and draws a fixed number of
 * values in a fixed order whatever the options, so the same seed yields the
 * same set of orders with one connection or fifty, with or without
 * pipelining, and one option (say --invalid-share) does not reshuffle the
 * rest.  Only integer arithmetic is used, so the stream is the same on every
 * machine.  Two options break determinism on purpose and say so: --take-share
 * (the listing taken depends on which orders were accepted first) and
 * --duration (how many orders fit in the time).
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/cli/load_gen.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "load.h"

/* Defaults */
#define DEFAULT_CLIENTS			4
#define DEFAULT_ORDERS			1000
#define DEFAULT_DEPTH			64
#define DEFAULT_PRICE_FALLBACK	7500	/* fen: ≈75 CNY/t, mid-2025 (RULES.md 5) */
#define DEFAULT_SPREAD_BP		200 /* ±2% around the centre */
#define DEFAULT_MAX_LOT			99999	/* below the 100,000 t block threshold */
#define MAX_CLIENTS				1000
#define MAX_DEPTH				10000
#define MAX_PARTICIPANT_IDS		10000000L

/*
 * ==== THE PREVIOUS-CLOSE QUERY (price centre) ====
 * The one place that knows where the market publishes a product's previous
 * close.  $1 is the product code; the answer is one row with one numeric
 * column, CNY per tonne, or NULL when the product has none.  When the query
 * fails (say the function does not exist yet) or answers NULL, the
 * --price-fallback number is used, and the report says which.  --price-sql
 * replaces the query without recompiling.
 */
#define DEFAULT_PRICE_SQL \
	"SELECT carbonmkt.previous_close($1)"

/*
 * ==== THE FILLS QUERY ====
 * Run before and after the load; the difference is reported as fills (count)
 * and filled tonnes.  One row, two bigint columns.  On failure fills are
 * reported as NA.  --fills-sql replaces it.
 */
#define DEFAULT_FILLS_SQL \
	"SELECT count(*), coalesce(sum(quantity), 0) FROM carbonmkt.trade"

/*
 * ==== THE PARTICIPANTS QUERY ====
 * The participants orders are sent for (--participants all): key emitting
 * units (重点排放单位) with an open holding and an open cash account.
 * --participants-sql replaces it; it must answer one bigint column.
 */
#define DEFAULT_PARTICIPANTS_SQL \
	"SELECT p.participant_id FROM carbonmkt.participant p" \
	" WHERE p.kind = 'key_emitter'" \
	"   AND EXISTS (SELECT FROM carbonmkt.account a WHERE a.participant_id = p.participant_id" \
	"               AND a.kind = 'holding' AND a.status = 'open')" \
	"   AND EXISTS (SELECT FROM carbonmkt.account a WHERE a.participant_id = p.participant_id" \
	"               AND a.kind = 'cash' AND a.status = 'open')" \
	" ORDER BY p.participant_id"

/* ----------
 * Small helpers
 * ----------
 */
void
fatal(int status, const char *fmt,...)
{
	va_list		ap;

	fflush(stdout);
	fprintf(stderr, LOAD_NAME ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

void *
xmalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
		fatal(EXIT_FATAL, "out of memory");
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void	   *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		fatal(EXIT_FATAL, "out of memory");
	return p;
}

char *
xstrdup(const char *s)
{
	size_t		n = strlen(s) + 1;
	char	   *p = xmalloc(n);

	memcpy(p, s, n);
	return p;
}

double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Parse a non-negative decimal number into an integer scaled by
 * 10^decimals: parse_fixed("61.2", 2, ...) gives 6120.  More decimals than
 * that are an error unless round is set, in which case the value is rounded
 * half up (used for prices read from the database).
 */
bool
parse_fixed(const char *s, int decimals, bool round, int64_t *out)
{
	int64_t		v = 0;
	int			frac = -1;		/* digits after the point so far; -1: none */
	bool		any = false;
	bool		round_up = false;
	const char *p;

	if (s == NULL)
		return false;
	for (p = s; *p; p++)
	{
		if (*p == '.' && frac < 0)
		{
			frac = 0;
			continue;
		}
		if (*p < '0' || *p > '9')
			return false;
		any = true;
		if (frac >= decimals)
		{
			if (!round)
				return false;
			/* first dropped digit decides the rounding */
			if (frac == decimals)
				round_up = (*p >= '5');
			frac++;
			continue;
		}
		if (v > (INT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (*p - '0');
		if (frac >= 0)
			frac++;
	}
	if (!any)
		return false;
	if (frac < 0)
		frac = 0;
	for (; frac < decimals; frac++)
	{
		if (v > INT64_MAX / 10)
			return false;
		v *= 10;
	}
	if (round_up)
		v++;
	*out = v;
	return true;
}

static long
parse_long_opt(const char *name, const char *s, long min, long max)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max)
		fatal(EXIT_USAGE, "invalid value for %s: \"%s\" (an integer from %ld to %ld)",
			  name, s, min, max);
	return v;
}

/* --lot-range MIN-MAX: whole tonnes, 1 <= MIN <= MAX */
static void
parse_lot_range(const char *s, int64_t *lo, int64_t *hi)
{
	char	   *end;
	char	   *end2;
	long		a,
				b;

	errno = 0;
	a = strtol(s, &end, 10);
	if (errno || end == s || *end != '-')
		fatal(EXIT_USAGE, "invalid value for --lot-range: \"%s\" (MIN-MAX in tonnes, e.g. 1-100)", s);
	b = strtol(end + 1, &end2, 10);
	if (errno || end2 == end + 1 || *end2 || a < 1 || b < a || b > INT32_MAX)
		fatal(EXIT_USAGE, "invalid value for --lot-range: \"%s\" (MIN-MAX in tonnes, 1 <= MIN <= MAX)", s);
	*lo = a;
	*hi = b;
}

/* A share between 0 and 1 ("0.25"), kept in parts per million. */
static int
parse_share(const char *name, const char *s)
{
	int64_t		v;

	if (!parse_fixed(s, 6, false, &v) || v > PPM)
		fatal(EXIT_USAGE, "invalid value for %s: \"%s\" (a share from 0 to 1, at most 6 decimals)",
			  name, s);
	return (int) v;
}

static int64_t
parse_cny(const char *name, const char *s)
{
	int64_t		v;

	if (!parse_fixed(s, 2, false, &v) || v <= 0 || v > INT64_MAX / 1000)
		fatal(EXIT_USAGE, "invalid value for %s: \"%s\" (CNY, positive, at most 2 decimals)",
			  name, s);
	return v;
}

static void
add_participant(Options *opt, long *cap, int64_t id)
{
	if (opt->nparticipant_ids >= MAX_PARTICIPANT_IDS)
		fatal(EXIT_USAGE, "--participants: more than %ld ids", MAX_PARTICIPANT_IDS);
	if (opt->nparticipant_ids == *cap)
	{
		int64_t    *n;

		*cap = *cap ? *cap * 2 : 64;
		n = realloc(opt->participant_ids, *cap * sizeof(int64_t));
		if (n == NULL)
			fatal(EXIT_FATAL, "out of memory");
		opt->participant_ids = n;
	}
	opt->participant_ids[opt->nparticipant_ids++] = id;
}

/* --participants all | self | ID | FROM-TO, comma-separated */
static void
parse_participants(Options *opt, const char *s)
{
	char	   *copy;
	char	   *save = NULL;
	char	   *item;
	long		cap = 0;

	free(opt->participant_ids);
	opt->participant_ids = NULL;
	opt->nparticipant_ids = 0;
	if (strcmp(s, "all") == 0)
	{
		opt->participant_source = PARTICIPANTS_QUERY;
		return;
	}
	if (strcmp(s, "self") == 0)
	{
		opt->participant_source = PARTICIPANTS_SELF;
		return;
	}
	opt->participant_source = PARTICIPANTS_LIST;
	copy = xstrdup(s);
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save))
	{
		char	   *dash = strchr(item, '-');
		int64_t		from;
		int64_t		to;

		if (dash)
			*dash = '\0';
		if (!parse_fixed(item, 0, false, &from) || from < 1 ||
			(dash && (!parse_fixed(dash + 1, 0, false, &to) || to < from)))
			fatal(EXIT_USAGE, "invalid --participants \"%s\" (all, self, or ids and ranges FROM-TO, comma-separated)", s);
		if (!dash)
			to = from;
		if (to - from >= MAX_PARTICIPANT_IDS)
			fatal(EXIT_USAGE, "--participants: more than %ld ids", MAX_PARTICIPANT_IDS);
		for (int64_t id = from; id <= to; id++)
			add_participant(opt, &cap, id);
	}
	free(copy);
	if (opt->nparticipant_ids == 0)
		fatal(EXIT_USAGE, "--participants \"%s\" names no participant", s);
}

static void
parse_products(Options *opt, const char *s)
{
	char	   *copy = xstrdup(s);
	char	   *save = NULL;
	char	   *item;

	for (int i = 0; i < opt->nproducts; i++)
		free(opt->products[i]);
	free(opt->products);
	opt->products = xcalloc(strlen(s) / 2 + 1, sizeof(char *));
	opt->nproducts = 0;
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save))
	{
		for (int i = 0; i < opt->nproducts; i++)
			if (strcmp(opt->products[i], item) == 0)
				fatal(EXIT_USAGE, "--products names %s twice", item);
		opt->products[opt->nproducts++] = xstrdup(item);
	}
	free(copy);
	if (opt->nproducts == 0)
		fatal(EXIT_USAGE, "--products names no product");
}

static void
usage(void)
{
	printf(LOAD_NAME " generates realistic order flow for carbonmkt's market from many\n"
		   "connections (libpq), one transaction per order, and reports what the market said.\n\n"
		   "Usage: " LOAD_NAME " [OPTION]... [CONNINFO]\n\n"
		   "CONNINFO is a connection string or URI; without it the PG* environment is used.\n\n"
		   "Load:\n"
		   "  -c, --clients=N            connections (default %d)\n"
		   "  -n, --orders=N             orders in total (default %d unless --duration)\n"
		   "      --orders-per-client=N  orders per connection (total = N x clients)\n"
		   "  -T, --duration=S           stop taking new orders after S seconds\n"
		   "  -m, --mode=submit|queue    submit_order (match at once, default) or queue_order\n"
		   "      --process-queue[=each|all]\n"
		   "                             after a queue run: CALL carbonmkt.process_queue per\n"
		   "                             product, in parallel (each, default), or once (all)\n"
		   "      --pipeline[=DEPTH]     libpq pipeline mode, DEPTH orders in flight per\n"
		   "                             connection (default %d)\n"
		   "      --sync-every=N         orders per pipeline sync, i.e. per transaction (default 1;\n"
		   "                             an error rolls back its group, the others are resent)\n"
		   "      --set=NAME=VALUE       set a parameter on every connection, e.g.\n"
		   "                             --set carbonmkt.clock='2025-04-01 10:00+08' (repeatable)\n"
		   "  -r, --references           send client references (retries are then idempotent)\n"
		   "      --reference-prefix=P   references are P-SEED-INDEX (default \"load\")\n"
		   "      --retries=N            resends after a serialization failure, deadlock or lost\n"
		   "                             connection (default 3)\n\n"
		   "Order flow (deterministic per --seed):\n"
		   "  -s, --seed=N               PRNG seed (default 1)\n"
		   "  -p, --products=LIST        product codes, comma-separated (default CEA2024)\n"
		   "  -P, --participants=SPEC    all: key emitters with holding and cash accounts (default);\n"
		   "                             ids and ranges, e.g. 5-200,300; self: participant_id NULL\n"
		   "      --price-center=CNY     fixed price centre (default: the previous close, read with\n"
		   "                             --price-sql, else --price-fallback)\n"
		   "      --price-fallback=CNY   centre when there is no previous close (default %.2f)\n"
		   "      --spread=PCT           limit prices within +-PCT%% of the centre (default %.2f)\n"
		   "      --tick=CNY             price step (default 0.01)\n"
		   "      --buy-share=F          share of buy orders (default 0.5)\n"
		   "      --aggressive-share=F   share priced through the centre, likely to trade (default 0.3)\n"
		   "      --max-lot=T            largest lot in tonnes (default %d)\n"
		   "      --lot-range=MIN-MAX    lots uniform in MIN..MAX t instead of the realistic mix\n"
		   "      --invalid-share=F      share of deliberately bad orders: off-tick, out of band,\n"
		   "                             block-sized (default 0)\n"
		   "      --take-share=F         share naming a resting listing to take (default 0; the\n"
		   "                             listing depends on timing: not deterministic)\n"
		   "      --cancel-share=F       share cancelled 1-20 orders after acceptance (default 0)\n\n"
		   "Queries (see README.md):\n"
		   "      --price-sql=SQL        previous close of product $1 (default: %s)\n"
		   "      --fills-sql=SQL        fills count and tonnes, run before and after\n"
		   "      --participants-sql=SQL participant ids for --participants all\n\n"
		   "Output:\n"
		   "      --dry-run              print the SQL instead of sending it (no database needed)\n"
		   "      --progress=S           a progress line on stderr every S seconds\n"
		   "  -v, --verbose              every order and its outcome on stderr\n"
		   "  -q, --quiet                only the summary line\n"
		   "  -V, --version, -h, --help\n\n"
		   "The last line is a machine-readable summary: \"" LOAD_NAME " summary key=value ...\".\n"
		   "Exit status: 0 every order got an answer (market rejections, SQLSTATE class CM,\n"
		   "are answers); 1 errors of other classes or outcomes unknown; 2 bad usage;\n"
		   "3 could not connect or set up, or every connection was lost.\n",
		   DEFAULT_CLIENTS, DEFAULT_ORDERS, DEFAULT_DEPTH,
		   DEFAULT_PRICE_FALLBACK / 100.0, DEFAULT_SPREAD_BP / 100.0, DEFAULT_MAX_LOT,
		   DEFAULT_PRICE_SQL);
}

enum
{
	OPT_ORDERS_PER_CLIENT = 1000,
	OPT_PROCESS_QUEUE,
	OPT_PIPELINE,
	OPT_SYNC_EVERY,
	OPT_REFERENCE_PREFIX,
	OPT_RETRIES,
	OPT_PRICE_CENTER,
	OPT_PRICE_FALLBACK,
	OPT_SPREAD,
	OPT_TICK,
	OPT_BUY_SHARE,
	OPT_AGGRESSIVE_SHARE,
	OPT_MAX_LOT,
	OPT_LOT_RANGE,
	OPT_INVALID_SHARE,
	OPT_TAKE_SHARE,
	OPT_CANCEL_SHARE,
	OPT_PRICE_SQL,
	OPT_FILLS_SQL,
	OPT_PARTICIPANTS_SQL,
	OPT_DRY_RUN,
	OPT_PROGRESS,
	OPT_SET
};

void
parse_options(int argc, char **argv, Options *opt)
{
	static const struct option longopts[] = {
		{"clients", required_argument, NULL, 'c'},
		{"orders", required_argument, NULL, 'n'},
		{"orders-per-client", required_argument, NULL, OPT_ORDERS_PER_CLIENT},
		{"duration", required_argument, NULL, 'T'},
		{"mode", required_argument, NULL, 'm'},
		{"process-queue", optional_argument, NULL, OPT_PROCESS_QUEUE},
		{"pipeline", optional_argument, NULL, OPT_PIPELINE},
		{"sync-every", required_argument, NULL, OPT_SYNC_EVERY},
		{"references", no_argument, NULL, 'r'},
		{"reference-prefix", required_argument, NULL, OPT_REFERENCE_PREFIX},
		{"retries", required_argument, NULL, OPT_RETRIES},
		{"seed", required_argument, NULL, 's'},
		{"products", required_argument, NULL, 'p'},
		{"participants", required_argument, NULL, 'P'},
		{"price-center", required_argument, NULL, OPT_PRICE_CENTER},
		{"price-fallback", required_argument, NULL, OPT_PRICE_FALLBACK},
		{"spread", required_argument, NULL, OPT_SPREAD},
		{"tick", required_argument, NULL, OPT_TICK},
		{"buy-share", required_argument, NULL, OPT_BUY_SHARE},
		{"aggressive-share", required_argument, NULL, OPT_AGGRESSIVE_SHARE},
		{"max-lot", required_argument, NULL, OPT_MAX_LOT},
		{"lot-range", required_argument, NULL, OPT_LOT_RANGE},
		{"invalid-share", required_argument, NULL, OPT_INVALID_SHARE},
		{"take-share", required_argument, NULL, OPT_TAKE_SHARE},
		{"cancel-share", required_argument, NULL, OPT_CANCEL_SHARE},
		{"price-sql", required_argument, NULL, OPT_PRICE_SQL},
		{"fills-sql", required_argument, NULL, OPT_FILLS_SQL},
		{"participants-sql", required_argument, NULL, OPT_PARTICIPANTS_SQL},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
		{"set", required_argument, NULL, OPT_SET},
		{"progress", required_argument, NULL, OPT_PROGRESS},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int			c;
	int64_t		v;

	memset(opt, 0, sizeof(*opt));
	opt->clients = DEFAULT_CLIENTS;
	opt->orders = -1;
	opt->orders_per_client = -1;
	opt->participant_source = PARTICIPANTS_QUERY;
	opt->mode = MODE_SUBMIT;
	opt->process_queue = PROCESS_NONE;
	opt->price_fallback_fen = DEFAULT_PRICE_FALLBACK;
	opt->price_sql = DEFAULT_PRICE_SQL;
	opt->fills_sql = DEFAULT_FILLS_SQL;
	opt->participants_sql = DEFAULT_PARTICIPANTS_SQL;
	opt->spread_bp = DEFAULT_SPREAD_BP;
	opt->tick_fen = 1;
	opt->max_lot = DEFAULT_MAX_LOT;
	opt->buy_ppm = PPM / 2;
	opt->aggressive_ppm = PPM * 3 / 10;
	opt->seed = 1;
	opt->depth = 1;
	opt->sync_every = 1;
	opt->reference_prefix = "load";
	opt->retries = 3;

	while ((c = getopt_long(argc, argv, "c:n:T:m:rs:p:P:vqVh", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case 'c':
				opt->clients = (int) parse_long_opt("--clients", optarg, 1, MAX_CLIENTS);
				break;
			case 'n':
				opt->orders = parse_long_opt("--orders", optarg, 0, INT64_MAX / 4);
				break;
			case OPT_ORDERS_PER_CLIENT:
				opt->orders_per_client = parse_long_opt("--orders-per-client", optarg, 0,
														INT64_MAX / 4 / MAX_CLIENTS);
				break;
			case 'T':
				if (!parse_fixed(optarg, 3, false, &v) || v <= 0)
					fatal(EXIT_USAGE, "invalid value for --duration: \"%s\" (seconds, positive)", optarg);
				opt->duration = v / 1000.0;
				break;
			case 'm':
				if (strcmp(optarg, "submit") == 0)
					opt->mode = MODE_SUBMIT;
				else if (strcmp(optarg, "queue") == 0)
					opt->mode = MODE_QUEUE;
				else
					fatal(EXIT_USAGE, "invalid value for --mode: \"%s\" (submit or queue)", optarg);
				break;
			case OPT_PROCESS_QUEUE:
				if (optarg == NULL || strcmp(optarg, "each") == 0)
					opt->process_queue = PROCESS_EACH;
				else if (strcmp(optarg, "all") == 0)
					opt->process_queue = PROCESS_ALL;
				else
					fatal(EXIT_USAGE, "invalid value for --process-queue: \"%s\" (each or all)", optarg);
				break;
			case OPT_PIPELINE:
				opt->pipeline = true;
				opt->depth = optarg ? (int) parse_long_opt("--pipeline", optarg, 1, MAX_DEPTH)
					: DEFAULT_DEPTH;
				break;
			case OPT_SYNC_EVERY:
				opt->sync_every = (int) parse_long_opt("--sync-every", optarg, 1, MAX_DEPTH);
				break;
			case 'r':
				opt->references = true;
				break;
			case OPT_REFERENCE_PREFIX:
				if (*optarg == '\0' || strlen(optarg) > 64)
					fatal(EXIT_USAGE, "--reference-prefix must have 1 to 64 characters");
				opt->reference_prefix = optarg;
				break;
			case OPT_RETRIES:
				opt->retries = (int) parse_long_opt("--retries", optarg, 0, 1000);
				break;
			case 's':
				{
					char	   *end;

					errno = 0;
					opt->seed = strtoull(optarg, &end, 10);
					if (errno || *end || end == optarg || *optarg == '-')
						fatal(EXIT_USAGE, "invalid value for --seed: \"%s\" (an unsigned integer)", optarg);
				}
				break;
			case 'p':
				parse_products(opt, optarg);
				break;
			case 'P':
				parse_participants(opt, optarg);
				break;
			case OPT_PRICE_CENTER:
				opt->price_center_given = true;
				opt->price_center_fen = parse_cny("--price-center", optarg);
				break;
			case OPT_PRICE_FALLBACK:
				opt->price_fallback_fen = parse_cny("--price-fallback", optarg);
				break;
			case OPT_SPREAD:
				if (!parse_fixed(optarg, 2, false, &v) || v > 5000)
					fatal(EXIT_USAGE, "invalid value for --spread: \"%s\" (percent, 0 to 50, at most 2 decimals)", optarg);
				opt->spread_bp = v;
				break;
			case OPT_TICK:
				opt->tick_fen = parse_cny("--tick", optarg);
				break;
			case OPT_BUY_SHARE:
				opt->buy_ppm = parse_share("--buy-share", optarg);
				break;
			case OPT_AGGRESSIVE_SHARE:
				opt->aggressive_ppm = parse_share("--aggressive-share", optarg);
				break;
			case OPT_MAX_LOT:
				opt->max_lot = parse_long_opt("--max-lot", optarg, 1, INT32_MAX);
				break;
			case OPT_LOT_RANGE:
				parse_lot_range(optarg, &opt->lot_min, &opt->lot_max);
				break;
			case OPT_INVALID_SHARE:
				opt->invalid_ppm = parse_share("--invalid-share", optarg);
				break;
			case OPT_TAKE_SHARE:
				opt->take_ppm = parse_share("--take-share", optarg);
				break;
			case OPT_CANCEL_SHARE:
				opt->cancel_ppm = parse_share("--cancel-share", optarg);
				break;
			case OPT_PRICE_SQL:
				opt->price_sql = optarg;
				break;
			case OPT_FILLS_SQL:
				opt->fills_sql = optarg;
				break;
			case OPT_PARTICIPANTS_SQL:
				opt->participants_sql = optarg;
				opt->participants_sql_given = true;
				break;
			case OPT_DRY_RUN:
				opt->dry_run = true;
				break;
			case OPT_SET:
				{
					const char *eq = strchr(optarg, '=');

					if (eq == NULL || eq == optarg)
						fatal(EXIT_USAGE, "invalid value for --set: \"%s\" (NAME=VALUE)", optarg);
					opt->set_names = realloc(opt->set_names, (opt->nsets + 1) * sizeof(char *));
					opt->set_values = realloc(opt->set_values, (opt->nsets + 1) * sizeof(char *));
					if (opt->set_names == NULL || opt->set_values == NULL)
						fatal(EXIT_FATAL, "out of memory");
					opt->set_names[opt->nsets] = xmalloc(eq - optarg + 1);
					memcpy(opt->set_names[opt->nsets], optarg, eq - optarg);
					opt->set_names[opt->nsets][eq - optarg] = '\0';
					opt->set_values[opt->nsets++] = xstrdup(eq + 1);
				}
				break;
			case OPT_PROGRESS:
				if (!parse_fixed(optarg, 3, false, &v) || v <= 0)
					fatal(EXIT_USAGE, "invalid value for --progress: \"%s\" (seconds, positive)", optarg);
				opt->progress = v / 1000.0;
				break;
			case 'v':
				opt->verbose = true;
				break;
			case 'q':
				opt->quiet = true;
				break;
			case 'V':
				printf(LOAD_NAME " " LOAD_VERSION "\n");
				free_options(opt);
				exit(EXIT_DONE);
			case 'h':
				usage();
				free_options(opt);
				exit(EXIT_DONE);
			default:
				fprintf(stderr, "Try \"" LOAD_NAME " --help\" for more information.\n");
				free_options(opt);
				exit(EXIT_USAGE);
		}
	}
	if (optind < argc)
		opt->conninfo = argv[optind++];
	if (optind < argc)
		fatal(EXIT_USAGE, "too many arguments, first extra one \"%s\" (try --help)", argv[optind]);

	if (opt->nproducts == 0)
		parse_products(opt, "CEA2024");
	if (opt->orders >= 0 && opt->orders_per_client >= 0)
		fatal(EXIT_USAGE, "give --orders or --orders-per-client, not both");
	if (opt->orders_per_client >= 0)
		opt->orders = opt->orders_per_client * opt->clients;
	if (opt->orders < 0 && opt->duration == 0)
		opt->orders = DEFAULT_ORDERS;
	if (opt->sync_every > 1 && !opt->pipeline)
		fatal(EXIT_USAGE, "--sync-every needs --pipeline");
	if (opt->sync_every > opt->depth)
		opt->sync_every = opt->depth;
	if (opt->process_queue != PROCESS_NONE && opt->mode != MODE_QUEUE)
		fatal(EXIT_USAGE, "--process-queue needs --mode queue");
	if (opt->price_center_given && opt->price_center_fen % opt->tick_fen != 0)
		fatal(EXIT_USAGE, "--price-center must be a multiple of --tick");
	if (opt->dry_run && opt->orders < 0)
		fatal(EXIT_USAGE, "--dry-run needs a number of orders (--orders), not only --duration");
	if (opt->verbose && opt->quiet)
		fatal(EXIT_USAGE, "give --verbose or --quiet, not both");
}

void
free_options(Options *opt)
{
	for (int i = 0; i < opt->nsets; i++)
	{
		free(opt->set_names[i]);
		free(opt->set_values[i]);
	}
	free(opt->set_names);
	free(opt->set_values);
	opt->set_names = NULL;
	opt->set_values = NULL;
	opt->nsets = 0;
	for (int i = 0; i < opt->nproducts; i++)
		free(opt->products[i]);
	free(opt->products);
	free(opt->participant_ids);
	opt->products = NULL;
	opt->participant_ids = NULL;
	opt->nproducts = 0;
	opt->nparticipant_ids = 0;
}

/* ----------
 * The stream
 * ----------
 */

/* splitmix64: a small, well-mixed 64-bit generator; also used to derive seeds */
static uint64_t
next_u64(uint64_t *state)
{
	uint64_t	z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* uniform in [0, n), n > 0; the modulo bias is below 2^-40 for our n */
static int64_t
uniform(uint64_t *state, int64_t n)
{
	return (int64_t) (next_u64(state) % (uint64_t) n);
}

/*
 * Lot sizes (tonnes): mostly 100-5,000 t, a tail up to the block threshold,
 * a few odd lots.  Weights in per mille; within a bucket uniform, then most
 * lots rounded to 100 t or 10 t as traders do.
 */
static const struct
{
	int64_t		lo;
	int64_t		hi;
	int			weight;
}			lot_buckets[] = {
	{1, 99, 30},
	{100, 999, 400},
	{1000, 4999, 420},
	{5000, 19999, 110},
	{20000, 99999, 40},
};

static int64_t
round_to_tick(int64_t fen, int64_t tick)
{
	int64_t		r = (fen + tick / 2) / tick * tick;

	return r < tick ? tick : r;
}

void
generate_order(const Options *opt, const Market *mkt, long index, Order *o)
{
	uint64_t	st = opt->seed;
	int64_t		center;
	int64_t		band;
	int64_t		d;
	int64_t		q;
	int64_t		fen;
	bool		aggressive;
	int			bucket_draw;
	int			b;
	int64_t		in_bucket;
	int			rounding;
	bool		invalid;
	int			invalid_kind;
	int64_t		invalid_amount;
	bool		outward;
	int64_t		participant_draw;

	/* the order's own stream: a function of (seed, index) only */
	st = next_u64(&st) ^ ((uint64_t) index * UINT64_C(0xd1b54a32d192ed03));
	(void) next_u64(&st);

	/* every draw, always, in this order */
	o->index = index;
	o->product = (int) uniform(&st, opt->nproducts);
	participant_draw = uniform(&st, INT64_MAX);
	o->buy = uniform(&st, PPM) < opt->buy_ppm;
	aggressive = uniform(&st, PPM) < opt->aggressive_ppm;
	center = mkt->center_fen[o->product];
	band = center * opt->spread_bp / 10000;
	d = uniform(&st, band + 1) + uniform(&st, band + 1) - band;
	if (d < 0)
		d = -d;					/* folded triangle: most prices near the centre */
	bucket_draw = (int) uniform(&st, 1000);
	in_bucket = (int64_t) (next_u64(&st) >> 1);
	rounding = (int) uniform(&st, 100);
	invalid = uniform(&st, PPM) < opt->invalid_ppm;
	invalid_kind = (int) uniform(&st, 3);
	invalid_amount = uniform(&st, 1301);
	outward = uniform(&st, 2) == 0;
	o->take = uniform(&st, PPM) < opt->take_ppm;
	o->cancel = uniform(&st, PPM) < opt->cancel_ppm;
	o->cancel_delay = 1 + (int) uniform(&st, 20);

	o->participant = mkt->nparticipants > 0
		? mkt->participants[participant_draw % mkt->nparticipants] : 0;

	/* price: passive orders rest on their side of the centre */
	if (o->buy == aggressive)
		fen = center + d;
	else
		fen = center - d;
	fen = round_to_tick(fen, opt->tick_fen);

	/* lot */
	for (b = 0; b < (int) (sizeof(lot_buckets) / sizeof(lot_buckets[0])) - 1; b++)
	{
		if (bucket_draw < lot_buckets[b].weight)
			break;
		bucket_draw -= lot_buckets[b].weight;
	}
	q = lot_buckets[b].lo + in_bucket % (lot_buckets[b].hi - lot_buckets[b].lo + 1);
	if (q >= 1000 && rounding < 60)
		q = q / 100 * 100;
	else if (q >= 100 && rounding < 85)
		q = q / 10 * 10;
	if (opt->lot_max > 0)		/* --lot-range: uniform, from the same draw */
		q = opt->lot_min + in_bucket % (opt->lot_max - opt->lot_min + 1);
	if (q > opt->max_lot)
		q = opt->max_lot;

	o->invalid = INVALID_NONE;
	o->take_order_id = 0;
	o->price_li = fen * LI_PER_FEN;
	o->quantity = q;
	if (invalid)
	{
		o->invalid = (InvalidKind) (INVALID_OFF_TICK + invalid_kind);
		switch (o->invalid)
		{
			case INVALID_OFF_TICK:
				/* half a fen off the grid: 60.005 */
				o->price_li = fen * LI_PER_FEN + LI_PER_FEN / 2;
				break;
			case INVALID_OUT_OF_BAND:
				/* 12% to 25% away from the centre, beyond the ±10% limit */
				d = center * (1200 + invalid_amount) / 10000;
				fen = round_to_tick(outward ? center + d : center - d, opt->tick_fen);
				o->price_li = fen * LI_PER_FEN;
				break;
			case INVALID_OVERSIZE:
				/* block-sized, 100,000-230,000 t, sent to the listed mode */
				o->quantity = 100000 + invalid_amount * 100;
				break;
			case INVALID_NONE:
				break;
		}
		o->take = false;
	}
}

/* 61230 li -> "61.23"; 60005 li -> "60.005" */
void
format_price(int64_t price_li, char *buf, size_t len)
{
	if (price_li % LI_PER_FEN == 0)
		snprintf(buf, len, "%" PRId64 ".%02" PRId64,
				 price_li / LI_PER_YUAN, (price_li % LI_PER_YUAN) / LI_PER_FEN);
	else
		snprintf(buf, len, "%" PRId64 ".%03" PRId64,
				 price_li / LI_PER_YUAN, price_li % LI_PER_YUAN);
}

/* PREFIX-SEED-INDEX, or PREFIX-SEED-INDEX-cancel for the order's cancel */
void
format_reference(const Options *opt, long index, bool cancel, char *buf, size_t len)
{
	snprintf(buf, len, "%s-%" PRIu64 "-%ld%s", opt->reference_prefix, opt->seed, index,
			 cancel ? "-cancel" : "");
}

void
print_sql_literal(FILE *out, const char *s)
{
	fputc('\'', out);
	for (; *s; s++)
	{
		if (*s == '\'')
			fputc('\'', out);
		fputc(*s, out);
	}
	fputc('\'', out);
}

/* The order as one SQL statement (--dry-run, --verbose) */
void
print_order_sql(FILE *out, const Options *opt, const Order *o)
{
	char		price[32];
	char		ref[128];

	format_price(o->price_li, price, sizeof(price));
	fprintf(out, "SELECT carbonmkt.%s(", opt->mode == MODE_SUBMIT ? "submit_order" : "queue_order");
	print_sql_literal(out, opt->products[o->product]);
	fprintf(out, ", '%s', %" PRId64 ", %s, ", o->buy ? "buy" : "sell", o->quantity, price);
	if (o->take_order_id)
		fprintf(out, "%" PRId64 ", ", o->take_order_id);
	else
		fprintf(out, "NULL, ");
	if (opt->references)
	{
		format_reference(opt, o->index, false, ref, sizeof(ref));
		print_sql_literal(out, ref);
	}
	else
		fprintf(out, "NULL");
	if (o->participant)
		fprintf(out, ", %" PRId64 ");", o->participant);
	else
		fprintf(out, ", NULL);");
}
