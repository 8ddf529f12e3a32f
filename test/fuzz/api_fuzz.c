/*-------------------------------------------------------------------------
 *
 * api_fuzz.c
 *	  Fuzzer of carbonmkt's public SQL API: every public function, called
 *	  with random and mutated arguments under random logins.
 *
 * A libpq client.  It connects with the libpq environment (PGHOST, PGPORT,
 * PGDATABASE) to a database holding the security fixture
 * (test/security/fixture.sql): first as the environment's user (a
 * superuser), to read the catalog, then once as each login of the fixture.
 * The public functions are read from the catalog (schema carbonmkt, not
 * named _*, no trigger, no cstring or internal argument), so a new function
 * is fuzzed without any change here.  Each call draws a login, a function,
 * how many of its defaulted arguments to pass, and each argument from a
 * generator for its type: NULLs, boundaries (0, -1, int8 and int4 extremes,
 * 'infinity' dates, 1e400, NaN), the fixture's ids and those one off,
 * other parties' ids, long and odd text, enum labels, JSON with extreme or
 * wrongly typed values, and well-formed and extreme CCER blocks.
 *
 * Every call must end in success or in an API refusal.  A failure is:
 *	- a lost connection (a crashed backend; the test runner also checks the
 *	  server log);
 *	- SQLSTATE class XX (internal error), 58, 54 (stack depth), P0001 (RAISE
 *	  without the API's own code), 42 other than 42501 (a programming
 *	  error: unknown column, function, ambiguous name ...);
 *	- a raw error from a lower layer: a constraint's name or "null value in
 *	  column", "bigint out of range", "value too long", "division by zero",
 *	  "more than one row", an input-syntax error raised inside a function.
 * At the end, verify_ledger() (as the superuser) must return no rows.
 * Failures are grouped by function and kind, printed with one reproducing
 * call each, and the exit status is 1.  See doc/security.md.
 *
 * Usage: api_fuzz [--seed N] [--calls N] [--timeout-ms N] [--verbose]
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * test/fuzz/api_fuzz.c
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libpq-fe.h"

#define MAX_ARGS		16
#define MAX_FUNCS		1024
#define MAX_FAILS		256
#define MAX_CODES		64
#define LONG_TEXT		100000

static const char *const logins[] = {
	"cmsec_unit_a", "cmsec_unit_b", "cmsec_firm", "cmsec_norole", "cmsec_registry",
	"cmsec_exchange", "cmsec_settlement", "cmsec_bi", "cmsec_national", "cmsec_gd",
	"cmsec_hb", "cmsec_sz", "cmsec_loose", NULL		/* NULL: the superuser */
};
#define NLOGINS ((int) (sizeof(logins) / sizeof(logins[0])))

typedef struct Func
{
	char	   *name;			/* carbonmkt.f */
	char	   *signature;		/* regprocedure text */
	int			nargs;
	int			ndefaults;
	bool		variadic;		/* the last argument is VARIADIC */
	char	   *argtype[MAX_ARGS];	/* format_type */
	char	   *argname[MAX_ARGS];
	char	   *labels[MAX_ARGS];	/* enum labels, '|'-separated, or NULL */
	char	   *elemlabels[MAX_ARGS];	/* enum labels of an enum array's element */
	long		calls;
	long		ok;
} Func;

typedef struct Fail
{
	char	   *func;
	char	   *kind;
	char	   *example;
	long		count;
} Fail;

typedef struct Code
{
	char		code[6];
	long		count;
} Code;

static Func funcs[MAX_FUNCS];
static int	nfuncs;
static Fail fails[MAX_FAILS];
static int	nfails;
static Code codes[MAX_CODES];
static int	ncodes;
static PGconn *conns[NLOGINS];
static uint64_t rng_state;
static bool verbose = false;
static int	timeout_ms = 10000;
static long timeouts = 0;
static long crashes = 0;
static char *long_text;

/* xorshift64* */
static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static int
rnd_int(int n)
{
	return (int) (rnd() % (uint64_t) n);
}

static char *
xstrdup(const char *s)
{
	char	   *r = strdup(s ? s : "");

	if (r == NULL)
	{
		fprintf(stderr, "api_fuzz: out of memory\n");
		exit(2);
	}
	return r;
}

static PGconn *
connect_as(const char *login)
{
	const char *keys[3] = {"user", "application_name", NULL};
	const char *vals[3] = {login, "api_fuzz", NULL};
	PGconn	   *c;
	char		sql[64];
	PGresult   *res;

	if (login == NULL)
	{
		keys[0] = "application_name";
		vals[0] = "api_fuzz";
		keys[1] = NULL;
	}
	c = PQconnectdbParams(keys, vals, 1);
	for (int tries = 0; PQstatus(c) != CONNECTION_OK && tries < 120; tries++)
	{
		/* after a crash the server restarts: wait for it */
		struct timespec ts = {0, 500000000};

		PQfinish(c);
		nanosleep(&ts, NULL);
		c = PQconnectdbParams(keys, vals, 1);
	}
	if (PQstatus(c) != CONNECTION_OK)
	{
		fprintf(stderr, "api_fuzz: cannot connect as %s: %s", login ? login : "(superuser)", PQerrorMessage(c));
		exit(2);
	}
	snprintf(sql, sizeof(sql), "SET statement_timeout = %d", timeout_ms);
	res = PQexec(c, sql);
	PQclear(res);
	res = PQexec(c, "SET client_min_messages = error");
	PQclear(res);
	return c;
}

static void
load_functions(PGconn *c)
{
	PGresult   *res = PQexec(c,
							 "SELECT p.oid::regprocedure::text, 'carbonmkt.' || quote_ident(p.proname), p.pronargs, p.pronargdefaults, "
							 "  (SELECT string_agg(format_type(t, NULL), chr(1) ORDER BY i) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY x(t, i)), "
							 "  (SELECT string_agg(coalesce(n, ''), chr(1) ORDER BY i) FROM unnest(p.proargnames[1:p.pronargs]) WITH ORDINALITY x(n, i)), "
							 "  (SELECT string_agg(coalesce((SELECT string_agg(e.enumlabel, '|' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t), ''), chr(1) ORDER BY i) "
							 "     FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY x(t, i)), "
							 "  (SELECT string_agg(coalesce((SELECT string_agg(e.enumlabel, '|' ORDER BY e.enumsortorder) FROM pg_enum e "
							 "                               JOIN pg_type y ON y.typelem = e.enumtypid WHERE y.oid = t), ''), chr(1) ORDER BY i) "
							 "     FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY x(t, i)) "
							 ", p.provariadic <> 0 "
							 "FROM pg_proc p "
							 "WHERE p.pronamespace = 'carbonmkt'::regnamespace AND p.proname NOT LIKE '\\_%' "
							 "  AND p.prokind = 'f' AND p.prorettype <> 'trigger'::regtype "
							 "  AND NOT EXISTS (SELECT 1 FROM unnest(p.proargtypes) t WHERE t IN ('cstring'::regtype, 'internal'::regtype)) "
							 "ORDER BY 1");

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "api_fuzz: reading the catalog failed: %s", PQerrorMessage(c));
		exit(2);
	}
	for (int r = 0; r < PQntuples(res) && nfuncs < MAX_FUNCS; r++)
	{
		Func	   *f = &funcs[nfuncs];
		char	   *types = xstrdup(PQgetvalue(res, r, 4));
		char	   *names = xstrdup(PQgetvalue(res, r, 5));
		char	   *labels = xstrdup(PQgetvalue(res, r, 6));
		char	   *elabels = xstrdup(PQgetvalue(res, r, 7));
		char	   *pt = types,
				   *pn = names,
				   *pl = labels,
				   *pe = elabels;

		memset(f, 0, sizeof(*f));
		f->signature = xstrdup(PQgetvalue(res, r, 0));
		f->name = xstrdup(PQgetvalue(res, r, 1));
		f->nargs = atoi(PQgetvalue(res, r, 2));
		f->ndefaults = atoi(PQgetvalue(res, r, 3));
		f->variadic = PQgetvalue(res, r, 8)[0] == 't';
		if (f->nargs > MAX_ARGS)
			continue;
		for (int i = 0; i < f->nargs; i++)
		{
			char	   *e;

			e = strchr(pt, 1);
			if (e)
				*e = '\0';
			f->argtype[i] = pt;
			pt = e ? e + 1 : pt + strlen(pt);
			e = pn ? strchr(pn, 1) : NULL;
			if (e)
				*e = '\0';
			f->argname[i] = pn ? pn : "";
			pn = (pn && e) ? e + 1 : (pn ? pn + strlen(pn) : NULL);
			e = strchr(pl, 1);
			if (e)
				*e = '\0';
			f->labels[i] = *pl ? pl : NULL;
			pl = e ? e + 1 : pl + strlen(pl);
			e = strchr(pe, 1);
			if (e)
				*e = '\0';
			f->elemlabels[i] = *pe ? pe : NULL;
			pe = e ? e + 1 : pe + strlen(pe);
		}
		nfuncs++;
	}
	PQclear(res);
}

/* ----------------------------------------------------------------
 *		Argument generators: each returns a text literal or NULL
 * ----------------------------------------------------------------
 */
static char scratch[MAX_ARGS][512];

static const char *
pick(const char *const *pool, int n)
{
	return pool[rnd_int(n)];
}
#define PICK(pool) pick(pool, (int) (sizeof(pool) / sizeof(pool[0])))

static const char *
gen_int8(int slot)
{
	static const char *const pool[] = {
		NULL, "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "-1",
		"2024", "100", "10000", "9223372036854775807", "-9223372036854775808",
		"9223372036854775806", "4611686018427387904", "1000000000000", "99999999"
	};

	if (rnd_int(8) == 0)
	{
		snprintf(scratch[slot], sizeof(scratch[slot]), "%" PRId64, (int64_t) rnd());
		return scratch[slot];
	}
	return PICK(pool);
}

static const char *
gen_int4(int slot)
{
	static const char *const pool[] = {
		NULL, "0", "1", "2", "3", "6", "12", "13", "-1", "2005", "2023", "2024", "2025", "2100",
		"2101", "2147483647", "-2147483648", "2147483646", "1000000"
	};

	if (rnd_int(8) == 0)
	{
		snprintf(scratch[slot], sizeof(scratch[slot]), "%" PRId32, (int32_t) rnd());
		return scratch[slot];
	}
	return PICK(pool);
}

static const char *
gen_numeric(int slot)
{
	static const char *const pool[] = {
		NULL, "0", "1", "-1", "0.5", "1e20", "-1e20", "1e-20", "NaN", "1e400", "6000",
		"99999999999999999999.99", "0.000001", "Infinity", "-Infinity"
	};

	(void) slot;
	return PICK(pool);
}

static const char *
gen_text(int slot, const char *argname)
{
	static const char *const pool[] = {
		NULL, "", "x", " ", "CEA", "CCER", "CNY", "GD-OW-0042", "gd-ow-0042", "440000", "440300",
		"420000", "999999", "approve", "reject", "buy", "sell", "limit", "market", "CEA2024",
		"power", "cement", "order", "judicial", "'; SELECT 1; --", "\\", "碳排放权", "national",
		"cmsec_unit_a", "cmsec_norole", "postgres", "CCER:GD-OW-0042:2024:1-10",
		"91440300MA5F0000A", "000000000000000000", "x\ty", "%s%n", "NULL"
	};

	(void) argname;
	switch (rnd_int(12))
	{
		case 0:
			return long_text;
		case 1:
			{
				int			n = rnd_int(40);

				for (int i = 0; i < n; i++)
					scratch[slot][i] = (char) (32 + rnd_int(95));
				scratch[slot][n] = '\0';
				return scratch[slot];
			}
		case 2:
			{
				static const char alnum[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

				for (int i = 0; i < 18; i++)
					scratch[slot][i] = alnum[rnd_int((int) sizeof(alnum) - 1)];
				scratch[slot][18] = '\0';
				return scratch[slot];
			}
		default:
			return PICK(pool);
	}
}

static const char *
gen_date(int slot, bool ts)
{
	static const char *const dates[] = {
		NULL, "2024-01-01", "2024-12-31", "2025-02-28", "2025-03-01", "2025-12-31", "2023-06-30",
		"infinity", "-infinity", "4713-01-01 BC", "294276-12-31", "2005-01-01", "1999-12-31"
	};
	const char *d = PICK(dates);

	if (!ts || d == NULL || strchr(d, 'i') || strchr(d, 'B'))
		return d;
	snprintf(scratch[slot], sizeof(scratch[slot]), "%s 10:00:00+08", d);
	return scratch[slot];
}

static const char *
gen_jsonb(int slot)
{
	static const char *const pool[] = {
		NULL, "{}", "[]", "null", "1", "\"x\"", "{\"CO2\": 1000}", "{\"CO2\": -1}", "{\"CO2\": 1e400}",
		"{\"CO2\": 9223372036854775807}", "{\"CO2\": \"x\"}", "{\"CO2\": null}", "{\"XYZ\": 1}",
		"{\"CO2\": 812345.5, \"CF4\": 2.1}", "{\"emissions\": 1000}", "{\"emissions\": 1e20}",
		"{\"emissions\": -5}", "{\"emissions\": [1]}", "{\"fuel_consumption\": 1e400}",
		"{\"method\": \"calculation\"}", "{\"a\": {\"b\": {\"c\": [1, 2, {}]}}}", "[{\"CO2\": 1}]"
	};

	(void) slot;
	return PICK(pool);
}

static const char *
gen_enum(int slot, const char *labels)
{
	int			n = 1;
	const char *p;
	int			k;

	if (labels == NULL || rnd_int(10) == 0)
		return NULL;
	for (p = labels; *p; p++)
		if (*p == '|')
			n++;
	k = rnd_int(n);
	p = labels;
	while (k-- > 0)
		p = strchr(p, '|') + 1;
	snprintf(scratch[slot], sizeof(scratch[slot]), "%.*s",
			 (int) (strchr(p, '|') ? strchr(p, '|') - p : (long) strlen(p)), p);
	return scratch[slot];
}

static const char *
gen_ccer(int slot)
{
	static const char *const pool[] = {
		NULL, "CCER:GD-OW-0042:2024:1-10", "CCER:GD-OW-0042:2024:1-10000", "CCER:GD-OW-0042:2024:9990-10010",
		"CCER:GD-OW-0042:2024:1-9223372036854775807", "CCER:GD-OW-0042:2005:1-1",
		"CCER:GD-PV-0001:2025:100-200", "CCER:X:2024:5-5"
	};

	(void) slot;
	return PICK(pool);
}

static const char *gen_arg(const Func *f, int i, const char *type, int slot);

/* an array literal of zero to three elements of the element type */
static const char *
gen_array(const Func *f, int i, const char *type, int slot)
{
	char		elem[128];
	size_t		len = strlen(type);
	int			n;
	char		buf[512];
	size_t		used = 0;

	if (rnd_int(6) == 0)
		return NULL;
	snprintf(elem, sizeof(elem), "%.*s", (int) (len - 2), type);
	n = rnd_int(4);
	buf[used++] = '{';
	for (int k = 0; k < n; k++)
	{
		const char *v;

		if (strstr(elem, "carbonmkt.") && f->elemlabels[i])
			v = gen_enum(MAX_ARGS - 1, f->elemlabels[i]);
		else
			v = gen_arg(f, i, elem, MAX_ARGS - 1);
		if (v != NULL && strlen(v) > 100)
			v = "x";
		used += snprintf(buf + used, sizeof(buf) - used, "%s", k ? "," : "");
		if (v == NULL)
			used += snprintf(buf + used, sizeof(buf) - used, "NULL");
		else
		{
			buf[used++] = '"';
			for (const char *c = v; *c && used < sizeof(buf) - 8; c++)
			{
				if (*c == '"' || *c == '\\')
					buf[used++] = '\\';
				buf[used++] = *c;
			}
			buf[used++] = '"';
		}
		if (used >= sizeof(buf) - 160)
			break;
	}
	buf[used++] = '}';
	buf[used] = '\0';
	snprintf(scratch[slot], sizeof(scratch[slot]), "%s", buf);
	return scratch[slot];
}

static const char *
gen_arg(const Func *f, int i, const char *type, int slot)
{
	size_t		len = strlen(type);

	if (len > 2 && strcmp(type + len - 2, "[]") == 0)
		return gen_array(f, i, type, slot);
	if (rnd_int(12) == 0)
		return NULL;
	if (strcmp(type, "bigint") == 0)
		return gen_int8(slot);
	if (strcmp(type, "integer") == 0 || strcmp(type, "smallint") == 0)
		return gen_int4(slot);
	if (strcmp(type, "numeric") == 0 || strcmp(type, "double precision") == 0)
		return gen_numeric(slot);
	if (strcmp(type, "text") == 0 || strcmp(type, "name") == 0 ||
		strncmp(type, "character", 9) == 0)
		return gen_text(slot, f->argname[i]);
	if (strcmp(type, "boolean") == 0)
		return rnd_int(2) ? "true" : "false";
	if (strcmp(type, "date") == 0)
		return gen_date(slot, false);
	if (strncmp(type, "timestamp", 9) == 0)
		return gen_date(slot, true);
	if (strcmp(type, "jsonb") == 0 || strcmp(type, "json") == 0)
		return gen_jsonb(slot);
	if (strcmp(type, "carbonmkt.ccer") == 0)
		return gen_ccer(slot);
	if (strcmp(type, "carbonmkt.allowance") == 0)
		return rnd_int(2) ? "CEA2024:10t" : "CEA2100:9223372036854775807t";
	if (f->labels[i] != NULL)
		return gen_enum(slot, f->labels[i]);
	return NULL;				/* composite and other types: NULL only */
}

/* ----------------------------------------------------------------
 *		Oracle
 * ----------------------------------------------------------------
 */

static const char *const raw_patterns[] = {
	"violates not-null constraint", "null value in column", "violates check constraint",
	"violates foreign key constraint", "violates unique constraint", "duplicate key value",
	"violates exclusion constraint", "conflicting key value", "bigint out of range",
	"integer out of range", "smallint out of range", "numeric field overflow",
	"value out of range", "out of range for type", "value too long for type", "division by zero",
	"more than one row", "query returned no rows", "array subscript out of range", "cannot take logarithm",
	"date out of range", "timestamp out of range", "cannot be matched", "cannot cast",
	"could not determine", "cache lookup failed", NULL
};

/* patterns that are raw only when raised inside a function (not by our own literal) */
static const char *const inner_patterns[] = {
	"invalid input syntax for type", "invalid input value for enum", "malformed array literal",
	"cannot extract elements", "cannot get array length", "cannot call", "cannot cast jsonb", NULL
};

/*
 * The arithmetic of the allowance type answers as PostgreSQL's own arithmetic
 * does (division by zero 22012, overflow 22003 naming the type): these are
 * the API's own refusals there.
 */
static bool
accepted(const Func *f, const char *state, const char *msg)
{
	if (strncmp(f->name, "carbonmkt.div_", 14) == 0 && strcmp(state, "22012") == 0)
		return true;
	if (strstr(msg, "allowance") != NULL && strcmp(state, "22003") == 0)
		return true;
	return false;
}

static void
record_fail(const Func *f, const char *kind, const char *example)
{
	for (int i = 0; i < nfails; i++)
		if (strcmp(fails[i].func, f->signature) == 0 && strcmp(fails[i].kind, kind) == 0)
		{
			fails[i].count++;
			return;
		}
	if (nfails < MAX_FAILS)
	{
		fails[nfails].func = xstrdup(f->signature);
		fails[nfails].kind = xstrdup(kind);
		fails[nfails].example = xstrdup(example);
		fails[nfails].count = 1;
		nfails++;
	}
}

static void
count_code(const char *code)
{
	for (int i = 0; i < ncodes; i++)
		if (strcmp(codes[i].code, code) == 0)
		{
			codes[i].count++;
			return;
		}
	if (ncodes < MAX_CODES)
	{
		snprintf(codes[ncodes].code, sizeof(codes[ncodes].code), "%s", code);
		codes[ncodes].count = 1;
		ncodes++;
	}
}

/* the call as SQL with literals, to reproduce it */
static char *
call_text(const Func *f, int n, const char *const *vals, const char *login)
{
	size_t		cap = 1024;
	char	   *s = malloc(cap);
	size_t		used;

	if (s == NULL)
	{
		fprintf(stderr, "api_fuzz: out of memory\n");
		exit(2);
	}

	used = (size_t) snprintf(s, cap, "-- as %s\nSELECT %s(", login ? login : "(superuser)", f->name);
	for (int i = 0; i < n; i++)
	{
		const char *v = vals[i];
		size_t		need = (v ? (strlen(v) > 200 ? 40 : strlen(v) * 2) : 4) + strlen(f->argtype[i]) + 16;

		if (used + need + 8 >= cap)
		{
			char	   *grown;

			cap = (used + need) * 2;
			grown = realloc(s, cap);
			if (grown == NULL)
			{
				fprintf(stderr, "api_fuzz: out of memory\n");
				exit(2);
			}
			s = grown;
		}
		used += (size_t) snprintf(s + used, cap - used, "%s%s", i ? ", " : "",
								  (f->variadic && i == f->nargs - 1) ? "VARIADIC " : "");
		if (v == NULL)
			used += (size_t) snprintf(s + used, cap - used, "NULL");
		else if (strlen(v) > 200)
			used += (size_t) snprintf(s + used, cap - used, "repeat('x', %zu)", strlen(v));
		else
		{
			s[used++] = '\'';
			for (const char *c = v; *c; c++)
			{
				if (*c == '\'')
					s[used++] = '\'';
				s[used++] = *c;
			}
			s[used++] = '\'';
		}
		used += (size_t) snprintf(s + used, cap - used, "::%s", f->argtype[i]);
	}
	snprintf(s + used, cap - used, ")");
	return s;
}

static void
one_call(long callno)
{
	Func	   *f = &funcs[rnd_int(nfuncs)];
	int			who = rnd_int(NLOGINS * 10) < (NLOGINS - 1) * 10 + 3 ? rnd_int(NLOGINS - 1) : NLOGINS - 1;
	int			n = f->nargs - f->ndefaults + (f->ndefaults ? rnd_int(f->ndefaults + 1) : 0);
	const char *vals[MAX_ARGS];
	char		sql[4096];
	size_t		used;
	PGresult   *res;
	PGconn	   *c = conns[who];

	used = (size_t) snprintf(sql, sizeof(sql), "SELECT %s(", f->name);
	for (int i = 0; i < n; i++)
	{
		vals[i] = gen_arg(f, i, f->argtype[i], i);
		used += (size_t) snprintf(sql + used, sizeof(sql) - used, "%s%s$%d::%s", i ? ", " : "",
								  (f->variadic && i == f->nargs - 1) ? "VARIADIC " : "", i + 1, f->argtype[i]);
	}
	snprintf(sql + used, sizeof(sql) - used, ")");
	f->calls++;
	res = PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK)
	{
		f->ok++;
		count_code("00000");
	}
	else if (PQstatus(c) == CONNECTION_BAD)
	{
		char	   *ex = call_text(f, n, vals, logins[who]);

		crashes++;
		printf("lost connection (backend crash?) on:\n%s\n", ex);
		fflush(stdout);
		record_fail(f, "lost connection (backend crash?)", ex);
		free(ex);
		/* a crash ends every session: connect them all again */
		for (int i = 0; i < NLOGINS; i++)
		{
			PQfinish(conns[i]);
			conns[i] = connect_as(logins[i]);
		}
	}
	else
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		const char *ctx = PQresultErrorField(res, PG_DIAG_CONTEXT);
		const char *kind = NULL;
		char		kbuf[300];

		state = state ? state : "?????";
		msg = msg ? msg : "";
		count_code(state);
		if (strcmp(state, "57014") == 0)
		{
			timeouts++;
			kind = NULL;
			if (verbose)
				fprintf(stderr, "timeout: %s\n", f->signature);
		}
		else if (strncmp(state, "XX", 2) == 0 || strncmp(state, "58", 2) == 0 ||
				 strncmp(state, "54", 2) == 0 || strcmp(state, "P0001") == 0 ||
				 (strncmp(state, "42", 2) == 0 && strcmp(state, "42501") != 0))
			kind = state;
		else
		{
			for (int k = 0; raw_patterns[k] && !kind; k++)
				if (strstr(msg, raw_patterns[k]))
					kind = raw_patterns[k];
			for (int k = 0; inner_patterns[k] && !kind && ctx != NULL; k++)
				if (strstr(msg, inner_patterns[k]))
					kind = inner_patterns[k];
		}
		if (kind && accepted(f, state, msg))
			kind = NULL;
		if (kind)
		{
			char	   *ex = call_text(f, n, vals, logins[who]);
			size_t		exl = strlen(ex);
			char	   *full = malloc(exl + strlen(msg) + 64);

			sprintf(full, "%s\n  -> %s: %.*s", ex, state, 300, msg);
			snprintf(kbuf, sizeof(kbuf), "%s %s", state, kind);
			record_fail(f, kbuf, full);
			free(ex);
			free(full);
		}
	}
	PQclear(res);
	if (verbose && callno % 10000 == 0)
		fprintf(stderr, "api_fuzz: %ld calls\n", callno);
}

int
main(int argc, char **argv)
{
	uint64_t	seed = 20261207;
	long		calls = 5000;
	PGconn	   *su;
	PGresult   *res;
	int			rc = 0;
	long		ok = 0;
	time_t		t0 = time(NULL);

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
			calls = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
			timeout_ms = atoi(argv[++i]);
		else if (strcmp(argv[i], "--verbose") == 0)
			verbose = true;
		else
		{
			fprintf(stderr, "usage: api_fuzz [--seed N] [--calls N] [--timeout-ms N] [--verbose]\n");
			return 2;
		}
	}
	rng_state = seed ? seed : 1;
	long_text = malloc(LONG_TEXT + 1);
	memset(long_text, 'x', LONG_TEXT);
	long_text[LONG_TEXT] = '\0';

	su = connect_as(NULL);
	load_functions(su);
	for (int i = 0; i < NLOGINS; i++)
		conns[i] = logins[i] ? connect_as(logins[i]) : su;
	printf("api_fuzz: seed %" PRIu64 ", %ld calls over %d public functions, %d logins\n",
		   seed, calls, nfuncs, NLOGINS);
	fflush(stdout);

	for (long k = 1; k <= calls; k++)
		one_call(k);

	res = PQexec(conns[NLOGINS - 1], "SELECT problem || ': ' || coalesce(detail, '') FROM carbonmkt.verify_ledger()");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		printf("not ok - verify_ledger() failed: %s", PQerrorMessage(conns[NLOGINS - 1]));
		rc = 1;
	}
	else if (PQntuples(res) > 0)
	{
		printf("not ok - verify_ledger() reports %d problems, e.g. %s\n", PQntuples(res), PQgetvalue(res, 0, 0));
		rc = 1;
	}
	else
		printf("ok - verify_ledger() is empty\n");
	PQclear(res);

	for (int i = 0; i < nfuncs; i++)
		ok += funcs[i].ok;
	printf("api_fuzz: %ld calls in %ld s, %ld succeeded, %ld timed out (%d ms); outcomes by SQLSTATE:",
		   calls, (long) (time(NULL) - t0), ok, timeouts, timeout_ms);
	for (int i = 0; i < ncodes; i++)
		printf(" %s=%ld", codes[i].code, codes[i].count);
	printf("\n");
	{
		int			never = 0;

		for (int i = 0; i < nfuncs; i++)
			if (funcs[i].ok == 0)
				never++;
		printf("api_fuzz: %d of %d functions never succeeded (an argument pool may miss them)\n", never, nfuncs);
	}
	if (crashes)
	{
		printf("not ok - %ld lost connections\n", crashes);
		rc = 1;
	}
	if (nfails)
	{
		printf("not ok - %d functions x kinds of raw or internal errors:\n", nfails);
		for (int i = 0; i < nfails; i++)
			printf("\n%s: %s (%ld times), e.g.\n%s\n", fails[i].func, fails[i].kind, fails[i].count, fails[i].example);
		rc = 1;
	}
	else
		printf("ok - every refusal was the API's own\n");
	for (int i = 0; i < NLOGINS; i++)
		PQfinish(conns[i]);
	return rc;
}
