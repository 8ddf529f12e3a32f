/*-------------------------------------------------------------------------
 *
 * dashboard_main.c
 *	  carbonmkt-dashboard: reads the bi_* views and writes one self-contained
 *	  HTML file (src/cli/README.md).
 *
 * One read-only REPEATABLE READ transaction (so it runs on a hot-standby
 * replica, and every figure comes from one snapshot); each data set is one
 * query over the bi_* views that returns JSON built by the server.  The page
 * template (dashboard.html, compiled in as dashboard_template.h) gets the
 * data and the chart library (ECharts, from node_modules/, installed by
 * `make deps`) inlined in place of its two markers; the file is written next
 * to its final name and renamed into place.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/cli/dashboard_main.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#include "dashboard_template.h"

#define PROG "carbonmkt-dashboard"

#ifndef CARBONMKT_ECHARTS_JS
#define CARBONMKT_ECHARTS_JS "node_modules/echarts/dist/echarts.min.js"
#endif

#define DATA_MARKER "/*@DATA@*/"
#define CHARTS_MARKER "/*@ECHARTS@*/"

typedef struct Options
{
	const char *conninfo;
	const char *output;
	const char *chart_js;
	const char *period;			/* NULL: the latest period with obligations */
	const char *product;		/* NULL: the CEA product with the most volume */
	int			shortfalls;
	bool		quiet;
} Options;

/* A growable string. */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
fatal(const char *fmt,...)
{
	va_list		ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
buf_add(Buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 4096;

		while (b->len + n + 1 > cap)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (b->data == NULL)
			fatal("out of memory");
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_puts(Buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/*
 * Appends text that goes inside a <script> element: "</" becomes "<\/" (the
 * same string or regular expression to JavaScript), so neither the data nor
 * the library can end the element early.
 */
static void
buf_add_script(Buf *b, const char *s, size_t n)
{
	size_t		start = 0;

	for (size_t i = 0; i + 1 < n; i++)
	{
		if (s[i] == '<' && s[i + 1] == '/')
		{
			buf_add(b, s + start, i + 1 - start);
			buf_puts(b, "\\");
			start = i + 1;
		}
	}
	buf_add(b, s + start, n - start);
}

static char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	Buf			b = {0};
	char		chunk[65536];
	size_t		n;

	if (f == NULL)
		fatal("cannot read the chart library \"%s\": %s\n"
			  "Run 'make deps' (it installs ECharts from npm into node_modules/), "
			  "or name the file with --chart-js.", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	if (ferror(f))
		fatal("error reading \"%s\": %s", path, strerror(errno));
	fclose(f);
	if (b.len == 0)
		fatal("the chart library \"%s\" is empty", path);
	*len = b.len;
	return b.data;
}

/* Runs a query that returns one row of one column (JSON or text); returns a copy. */
static char *
query_value(PGconn *conn, const char *what, const char *sql, int nparams, const char *const *params)
{
	/* every parameter is text, used or not (the queries cast what they use) */
	static const Oid types[] = {25, 25, 25};
	PGresult   *res = PQexecParams(conn, sql, nparams, nparams ? types : NULL, params, NULL, NULL, 0);
	char	   *v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fatal("reading %s failed: %s", what, PQerrorMessage(conn));
	if (PQntuples(res) != 1 || PQnfields(res) != 1)
		fatal("reading %s: expected one value, got %d rows", what, PQntuples(res));
	v = PQgetisnull(res, 0, 0) ? NULL : strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static void
command(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fatal("%s failed: %s", sql, PQerrorMessage(conn));
	PQclear(res);
}

/*
 * The data sets: name in the page's DATA object, query.  $1 is the period,
 * $2 the product of the OHLC chart, $3 the number of shortfalls shown.  Each
 * query reads only bi_* views and returns one JSON value.
 */
typedef struct DataSet
{
	const char *name;
	const char *sql;
} DataSet;

static const DataSet datasets[] = {
	{"as_of",
		"SELECT json_build_object('as_of', a.as_of, "
		"  'as_of_text', to_char(a.as_of AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS') || ' CST', "
		"  'replica', a.replica, 'business_date', a.business_date, 'market_clock', a.market_clock, "
		"  'database', a.database) "
		"FROM carbonmkt.bi_as_of a"},
	{"periods",
		"SELECT coalesce(json_agg(p ORDER BY p.period), '[]') FROM carbonmkt.bi_completion_by_period p"},
	{"provinces",
		"SELECT coalesce(json_agg(p ORDER BY p.completion_rate NULLS FIRST, p.province), '[]') "
		"FROM carbonmkt.bi_completion_by_province p WHERE p.period = $1::int"},
	{"sectors",
		"SELECT coalesce(json_agg(s ORDER BY s.sector), '[]') FROM carbonmkt.bi_completion_by_sector s "
		"WHERE s.period = $1::int"},
	{"shortfalls",
		"SELECT coalesce(json_agg(x ORDER BY x.remaining_t DESC, x.participant_id), '[]') FROM ("
		"  SELECT c.participant_id, c.unit_name, c.province_name, c.sector_name, c.obligation_t, c.surrendered_t, "
		"         c.remaining_t, c.completion_ratio, c.status "
		"    FROM carbonmkt.bi_compliance_status c WHERE c.period = $1::int AND c.remaining_t > 0 "
		"   ORDER BY c.remaining_t DESC, c.participant_id LIMIT $3::int) x"},
	{"supply",
		"SELECT coalesce(json_agg(s ORDER BY s.vintage), '[]') FROM carbonmkt.bi_allowance_supply s"},
	{"ccer",
		"SELECT coalesce(json_agg(c ORDER BY c.tonnes DESC, c.project_type), '[]') FROM carbonmkt.bi_ccer_use c "
		"WHERE c.period = $1::int"},
	{"quality",
		"SELECT coalesce(json_agg(x ORDER BY x.province), '[]') FROM ("
		"  SELECT coalesce(e.province, q.province) AS province, coalesce(e.province_name, q.province_name) AS province_name, "
		"         coalesce(e.confirmed_units - e.estimated_units, 0) AS confirmed, coalesce(e.estimated_units, 0) AS estimated, "
		"         coalesce(e.missing_units, 0) AS missing, coalesce(q.units_no_plan, 0) AS no_plan, "
		"         coalesce(q.reports_not_filed, 0) AS not_filed "
		"    FROM (SELECT * FROM carbonmkt.bi_emissions_coverage WHERE period = $1::int) e "
		"    FULL JOIN (SELECT * FROM carbonmkt.bi_data_quality WHERE year = $1::int) q ON q.province = e.province) x"},
	{"penalties",
		"SELECT coalesce(json_agg(p ORDER BY p.province), '[]') FROM carbonmkt.bi_penalties p WHERE p.period = $1::int"},
	{"prices",
		"SELECT coalesce(json_agg(json_build_object('price_date', h.price_date, 'average_price_cny', h.average_price_cny, "
		"  'volume_t', h.volume_t, 'price_source', h.price_source) ORDER BY h.price_date), '[]') "
		"FROM carbonmkt.bi_price_history h"},
	{"ohlc",
		"SELECT coalesce(json_agg(json_build_object('trade_date', d.trade_date, 'open_cny', d.open_cny, "
		"  'high_cny', d.high_cny, 'low_cny', d.low_cny, 'close_cny', d.close_cny, 'close_final', d.close_final, "
		"  'listed_volume_t', d.listed_volume_t, 'block_volume_t', d.block_volume_t, "
		"  'auction_volume_t', d.auction_volume_t, 'volume_t', d.volume_t, 'trades', d.trades) "
		"  ORDER BY d.trade_date), '[]') "
		"FROM carbonmkt.bi_market_daily d WHERE d.product = $2"},
};

/*
 * The product of the OHLC chart and the last close: the CEA product with the
 * most volume over all days (ties: the latest vintage).
 */
static const char *main_product_sql =
"SELECT d.product FROM carbonmkt.bi_market_daily d WHERE d.instrument = 'CEA' "
"GROUP BY d.product, d.vintage ORDER BY sum(d.volume_t) DESC, d.vintage DESC LIMIT 1";

/* The period shown: the latest with obligations, else the latest. */
static const char *period_sql =
"SELECT coalesce(max(period) FILTER (WHERE units_with_obligation > 0), max(period))::text "
"FROM carbonmkt.bi_completion_by_period";

static void
usage(FILE *f)
{
	fprintf(f,
			PROG " writes a self-contained HTML dashboard of the carbon market from carbonmkt's\n"
			"bi_* views (read-only: a hot-standby replica and a login with the carbonmkt_bi role will do).\n\n"
			"Usage: " PROG " [OPTION]... [CONNINFO]\n\n"
			"  -o, --output=FILE       the HTML file to write (default carbonmkt-dashboard.html)\n"
			"  -p, --period=N          the compliance period shown (default: the latest with obligations)\n"
			"      --product=CODE      the product of the daily OHLC chart and the last close\n"
			"                          (default: the CEA product with the most volume)\n"
			"      --shortfalls=N      how many of the worst shortfalls to show (default 15)\n"
			"      --chart-js=FILE     the ECharts build to inline (default: $CARBONMKT_ECHARTS_JS, else\n"
			"                          %s)\n"
			"  -q, --quiet             print nothing but errors\n"
			"  -h, --help              this help\n\n"
			"CONNINFO is a libpq connection string or URI; the PG* environment variables apply.\n"
			"SOURCE_DATE_EPOCH (seconds since 1970), if set, is the page's generation time.\n"
			"On success the last line printed is the absolute path of the file written.\n",
			CARBONMKT_ECHARTS_JS);
}

static void
parse_options(int argc, char **argv, Options *opt)
{
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"period", required_argument, NULL, 'p'},
		{"product", required_argument, NULL, 1},
		{"shortfalls", required_argument, NULL, 2},
		{"chart-js", required_argument, NULL, 3},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int			c;
	char	   *end;
	long		n;

	memset(opt, 0, sizeof(*opt));
	opt->conninfo = "";
	opt->output = "carbonmkt-dashboard.html";
	opt->chart_js = getenv("CARBONMKT_ECHARTS_JS");
	if (opt->chart_js == NULL || opt->chart_js[0] == '\0')
		opt->chart_js = CARBONMKT_ECHARTS_JS;
	opt->shortfalls = 15;

	while ((c = getopt_long(argc, argv, "o:p:qh", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case 'o':
				opt->output = optarg;
				break;
			case 'p':
				errno = 0;
				n = strtol(optarg, &end, 10);
				if (errno != 0 || *end != '\0' || end == optarg || n < 1900 || n > 2200)
					fatal("--period: \"%s\" is not a compliance period (a year such as 2024)", optarg);
				opt->period = optarg;
				break;
			case 1:
				opt->product = optarg;
				break;
			case 2:
				errno = 0;
				n = strtol(optarg, &end, 10);
				if (errno != 0 || *end != '\0' || end == optarg || n < 1 || n > 1000)
					fatal("--shortfalls: \"%s\" is not a number from 1 to 1000", optarg);
				opt->shortfalls = (int) n;
				break;
			case 3:
				opt->chart_js = optarg;
				break;
			case 'q':
				opt->quiet = true;
				break;
			case 'h':
				usage(stdout);
				exit(0);
			default:
				usage(stderr);
				exit(2);
		}
	}
	if (optind < argc)
		opt->conninfo = argv[optind++];
	if (optind < argc)
		fatal("too many arguments (first extra: \"%s\"); see --help", argv[optind]);
}

static char *
json_string(const char *s)
{
	Buf			b = {0};

	buf_puts(&b, "\"");
	for (const char *p = s; *p; p++)
	{
		char		tmp[8];

		if (*p == '"' || *p == '\\')
		{
			tmp[0] = '\\';
			tmp[1] = *p;
			buf_add(&b, tmp, 2);
		}
		else if ((unsigned char) *p < 0x20)
		{
			snprintf(tmp, sizeof(tmp), "\\u%04x", (unsigned char) *p);
			buf_puts(&b, tmp);
		}
		else
			buf_add(&b, p, 1);
	}
	buf_puts(&b, "\"");
	return b.data;
}

int
main(int argc, char **argv)
{
	Options		opt;
	PGconn	   *conn;
	Buf			data = {0};
	Buf			page = {0};
	char	   *period;
	char	   *product;
	char		shortfalls[16];
	char		generated[64];
	const char *params[3];
	char	   *charts;
	size_t		charts_len;
	const char *t = dashboard_template;
	const char *m1;
	const char *m2;
	char	   *tmp_path;
	char		resolved[PATH_MAX];
	FILE	   *f;
	time_t		now = time(NULL);
	const char *epoch = getenv("SOURCE_DATE_EPOCH");

	parse_options(argc, argv, &opt);

	/* the library first: no point reading the database without it */
	charts = read_file(opt.chart_js, &charts_len);

	conn = PQconnectdb(opt.conninfo);
	if (PQstatus(conn) != CONNECTION_OK)
		fatal("cannot connect: %s", PQerrorMessage(conn));
	/* one snapshot for every figure; read-only, so a hot standby serves it */
	command(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	command(conn, "SET LOCAL search_path = pg_catalog, pg_temp");

	period = opt.period ? strdup(opt.period) : query_value(conn, "the latest period", period_sql, 0, NULL);
	if (period == NULL)
		fatal("no compliance period in carbonmkt.bi_completion_by_period: nothing to show");
	product = opt.product ? strdup(opt.product) : query_value(conn, "the main product", main_product_sql, 0, NULL);
	snprintf(shortfalls, sizeof(shortfalls), "%d", opt.shortfalls);
	params[0] = period;
	params[1] = product ? product : "";
	params[2] = shortfalls;

	/* reproducible output: SOURCE_DATE_EPOCH (reproducible-builds.org) fixes the time stamp */
	if (epoch != NULL && epoch[0] != '\0')
		now = (time_t) strtoll(epoch, NULL, 10);
	strftime(generated, sizeof(generated), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
	buf_puts(&data, "{\"period\": ");
	buf_puts(&data, period);
	buf_puts(&data, ", \"product\": ");
	buf_puts(&data, product ? json_string(product) : "null");
	buf_puts(&data, ", \"generated_at\": ");
	buf_puts(&data, json_string(generated));
	for (size_t i = 0; i < sizeof(datasets) / sizeof(datasets[0]); i++)
	{
		char	   *v = query_value(conn, datasets[i].name, datasets[i].sql, 3, params);

		buf_puts(&data, ",\n\"");
		buf_puts(&data, datasets[i].name);
		buf_puts(&data, "\": ");
		buf_puts(&data, v ? v : "null");
		free(v);
	}
	buf_puts(&data, "}");
	command(conn, "COMMIT");
	PQfinish(conn);

	/* the page: the template with the data and the library in place of its markers */
	m1 = strstr(t, DATA_MARKER);
	m2 = strstr(t, CHARTS_MARKER);
	if (m1 == NULL || m2 == NULL || m2 < m1)
		fatal("the page template lacks its markers (a build problem)");
	buf_add(&page, t, m1 - t);
	buf_add_script(&page, data.data, data.len);
	buf_add(&page, m1 + strlen(DATA_MARKER), m2 - (m1 + strlen(DATA_MARKER)));
	buf_add_script(&page, charts, charts_len);
	buf_puts(&page, m2 + strlen(CHARTS_MARKER));

	tmp_path = malloc(strlen(opt.output) + 32);
	if (tmp_path == NULL)
		fatal("out of memory");
	sprintf(tmp_path, "%s.tmp.%ld", opt.output, (long) getpid());
	f = fopen(tmp_path, "wb");
	if (f == NULL)
		fatal("cannot write \"%s\": %s", tmp_path, strerror(errno));
	if (fwrite(page.data, 1, page.len, f) != page.len || fclose(f) != 0)
	{
		unlink(tmp_path);
		fatal("cannot write \"%s\": %s", tmp_path, strerror(errno));
	}
	if (rename(tmp_path, opt.output) != 0)
	{
		unlink(tmp_path);
		fatal("cannot rename \"%s\" to \"%s\": %s", tmp_path, opt.output, strerror(errno));
	}
	if (!opt.quiet)
	{
		if (realpath(opt.output, resolved) == NULL)
			snprintf(resolved, sizeof(resolved), "%s", opt.output);
		printf("%s: period %s, product %s, %zu bytes (data %zu, chart library %zu)\n%s\n",
			   PROG, period, product ? product : "(none)", page.len, data.len, charts_len, resolved);
	}
	free(charts);
	free(data.data);
	free(page.data);
	free(tmp_path);
	free(period);
	free(product);
	return 0;
}
