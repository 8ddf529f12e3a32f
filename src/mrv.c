/*-------------------------------------------------------------------------
 *
 * mrv.c
 *	  The C core of the MRV room (监测、报告与核查): the tiered review
 *	  (国家—省—市三级联审) enforced by a trigger on carbonmkt.mrv_review, the
 *	  verification guard (conflict of interest, Decree 775), the guard that
 *	  keeps confirmed emissions immutable, the assessment of the reasons for
 *	  national review and the deterministic re-review sample draw.
 *
 * Every rule number (sample share, deviation threshold, deposit deadline and
 * tolerances) is read from carbonmkt.mrv_rule through saved SPI plans; none
 * is hard-coded here.  See doc/mrv.md.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/mrv.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#if PG_VERSION_NUM >= 140000
#include "common/cryptohash.h"
#endif
#include "common/sha2.h"

#include "carbonmkt.h"

/* SQLSTATEs of the MRV room (doc/mrv.md) */
#define ERRCODE_CARBONMKT_UNKNOWN_PARTICIPANT	MAKE_SQLSTATE('C','M','0','0','2')
#define ERRCODE_MRV_TIER_ORDER					MAKE_SQLSTATE('C','M','1','0','6')
#define ERRCODE_MRV_WRONG_AUTHORITY				MAKE_SQLSTATE('C','M','1','0','7')
#define ERRCODE_MRV_CONFLICT_OF_INTEREST		MAKE_SQLSTATE('C','M','1','0','8')
#define ERRCODE_MRV_STATE						MAKE_SQLSTATE('C','M','1','1','0')
#define ERRCODE_MRV_STALE_VERSION				MAKE_SQLSTATE('C','M','1','1','1')
#define ERRCODE_MRV_CONFIRMED_IMMUTABLE			MAKE_SQLSTATE('C','M','1','1','2')
#define ERRCODE_MRV_NO_RULE						MAKE_SQLSTATE('C','M','1','1','3')
#define ERRCODE_MRV_UNKNOWN_OBJECT				MAKE_SQLSTATE('C','M','1','1','5')

/* the draw is a whole number of millionths: (hash mod DRAW_SCALE) / DRAW_SCALE */
#define DRAW_SCALE		1000000
#define DRAW_DIGITS		6

PG_FUNCTION_INFO_V1(mrv_sample_draw);
PG_FUNCTION_INFO_V1(mrv_assess);
PG_FUNCTION_INFO_V1(mrv_review_guard);
PG_FUNCTION_INFO_V1(mrv_verification_guard);
PG_FUNCTION_INFO_V1(mrv_confirmed_guard);

/* Tiers in review order, and the participant kind that reviews each. */
#define MRV_NTIERS		3
#define TIER_CITY		0
#define TIER_PROVINCE	1
#define TIER_NATIONAL	2
static const char *const tier_names[MRV_NTIERS] = {"city", "province", "national"};
static const char *const tier_kinds[MRV_NTIERS] =
{"city_authority", "provincial_authority", "national_authority"};

static int
tier_index(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < MRV_NTIERS; i++)
		if (strcmp(name, tier_names[i]) == 0)
			return i;
	return -1;
}

/* ----------------------------------------------------------------
 *		Small helpers
 * ----------------------------------------------------------------
 */

/*
 * The room's statements, prepared and kept on first use (mrv_plan).
 */
typedef enum MrvPlan
{
	PLAN_ASSESS_REPORT,
	PLAN_ASSESS_RULE,
	PLAN_ASSESS_SEED,
	PLAN_ASSESS_DEPOSIT,
	PLAN_REVIEW_LOCK,
	PLAN_PARTICIPANT,
	PLAN_REVIEW_ADVANCE,
	PLAN_EVENT,
	PLAN_VERIFY_LOCK,
	PLAN_VERIFY_CONFLICT,
	PLAN_REOPENING,
	MRV_NPLANS
} MrvPlan;

static struct
{
	const char *sql;
	int			nargs;
	Oid			argtypes[7];
}			mrv_plan_def[MRV_NPLANS] =
{
	[PLAN_ASSESS_REPORT] = {
		"SELECT r.participant_id, r.year, u.province::text, u.sector, "
		"       coalesce(r.verified_t, r.emissions_t), r.findings::text, "
		"       EXISTS (SELECT 1 FROM carbonmkt.mrv_national_naming n "
		"                WHERE n.participant_id = r.participant_id AND n.year = r.year), "
		"       EXISTS (SELECT 1 FROM carbonmkt.mrv_reopening o WHERE o.report_id = r.report_id) "
		"  FROM carbonmkt.mrv_report r "
		"  JOIN carbonmkt.participant u ON u.participant_id = r.participant_id "
		" WHERE r.report_id = $1",
		1, {INT8OID}
	},
	[PLAN_ASSESS_RULE] = {
		"SELECT jurisdiction, from_year, review_sample_share, deviation_threshold, "
		"       deposit_due_days, deposit_missing_tolerance, deposit_late_tolerance "
		"  FROM carbonmkt.mrv_rule "
		" WHERE jurisdiction IN ($1, 'CN') AND from_year <= $2 "
		"   AND coalesce((to_jsonb(mrv_rule) ->> 'until_year')::int, $2) >= $2 "	/* until_year: 0.2.0 */
		" ORDER BY jurisdiction = 'CN', from_year DESC LIMIT 1",
		2, {TEXTOID, INT4OID}
	},
	[PLAN_ASSESS_SEED] = {
		"SELECT seed FROM carbonmkt.mrv_sample_seed WHERE year = $1",
		1, {INT4OID}
	},
	/*
	 * $1 unit, $2 year, $3 sector, $4 deposit_due_days, $5 annual figure.
	 * Returns the sum of the latest version of each month's emissions
	 * deposit, the deviation |annual - sum| / annual (NULL when the
	 * annual figure is 0 and the sum is not), the months with a required
	 * parameter never deposited although due, and the months first
	 * deposited late.
	 */
	[PLAN_ASSESS_DEPOSIT] = {
		"WITH req AS ("
		"  SELECT sp.parameter, sp.counts_to_emissions "
		"    FROM carbonmkt.mrv_sector_parameter sp "
		"   WHERE sp.sector = $3 AND sp.from_year <= $2 "
		"     AND coalesce((to_jsonb(sp) ->> 'until_year')::int, $2) >= $2), "	/* until_year: 0.2.0 */
		"dep AS ("
		"  SELECT d.month, d.parameter, d.version, d.value, d.late "
		"    FROM carbonmkt.mrv_deposit d "
		"   WHERE d.participant_id = $1 AND d.year = $2), "
		"monthly AS ("
		"  SELECT sum(l.value) AS s FROM ("
		"    SELECT DISTINCT ON (dep.month) dep.value "
		"      FROM dep JOIN req USING (parameter) "
		"     WHERE req.counts_to_emissions "
		"     ORDER BY dep.month, dep.version DESC) l) "
		"SELECT m.s, "
		"       CASE WHEN $5 IS NULL THEN NULL "
		"            WHEN $5 = 0 THEN CASE WHEN coalesce(m.s, 0) = 0 THEN 0::numeric END "
		"            ELSE round(abs($5 - coalesce(m.s, 0)) / $5, 6) END, "
		"       (SELECT count(*)::int FROM generate_series(1, 12) AS mo(n) "
		"         WHERE carbonmkt.mrv_deposit_due($2, mo.n, $4) < carbonmkt.business_date() "
		"           AND EXISTS (SELECT 1 FROM req WHERE NOT EXISTS ("
		"                 SELECT 1 FROM dep WHERE dep.month = mo.n AND dep.parameter = req.parameter))), "
		"       (SELECT count(DISTINCT dep.month)::int FROM dep JOIN req USING (parameter) "
		"         WHERE dep.version = 1 AND dep.late) "
		"  FROM monthly m",
		5, {INT8OID, INT4OID, TEXTOID, INT4OID, INT8OID}
	},
	/* the report (locked), its unit, and the reviewer ($2) in one statement */
	[PLAN_REVIEW_LOCK] = {
		"SELECT r.status::text, r.pending_tier::text, r.data_version, r.participant_id, "
		"       r.compiled_by, r.verifier_id, r.estimator_id, "
		"       cardinality(r.national_reasons) > 0, "
		"       array_to_string(r.national_reasons, ', '), "
		"       u.province::text, u.city::text, r.return_reason, "
		"       a.participant_id IS NOT NULL, a.kind::text, a.province::text, a.city::text "
		"  FROM carbonmkt.mrv_report r "
		"  JOIN carbonmkt.participant u ON u.participant_id = r.participant_id "
		"  LEFT JOIN carbonmkt.participant a ON a.participant_id = $2 "
		" WHERE r.report_id = $1 FOR UPDATE OF r",
		2, {INT8OID, INT8OID}
	},
	[PLAN_PARTICIPANT] = {
		"SELECT kind::text, province::text, city::text "
		"  FROM carbonmkt.participant WHERE participant_id = $1",
		1, {INT8OID}
	},
	[PLAN_REVIEW_ADVANCE] = {
		"UPDATE carbonmkt.mrv_report "
		"   SET status = $2::carbonmkt.mrv_report_status, "
		"       pending_tier = $3::carbonmkt.mrv_tier, "
		"       return_reason = $4, state_since = $5 "
		" WHERE report_id = $1",
		5, {INT8OID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID}
	},
	[PLAN_EVENT] = {
		"INSERT INTO carbonmkt.mrv_report_event "
		"       (report_id, data_version, event, tier, actor_id, at, detail) "
		"VALUES ($1, $2, $3, $4::carbonmkt.mrv_tier, $5, $6, $7)",
		7, {INT8OID, INT4OID, TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TEXTOID}
	},
	[PLAN_VERIFY_LOCK] = {
		"SELECT r.status::text, r.estimated, r.estimator_id, r.year, u.province::text "
		"  FROM carbonmkt.mrv_report r "
		"  JOIN carbonmkt.participant u ON u.participant_id = r.participant_id "
		" WHERE r.report_id = $1 FOR UPDATE OF r",
		1, {INT8OID}
	},
	[PLAN_VERIFY_CONFLICT] = {
		"SELECT r.report_id "
		"  FROM carbonmkt.mrv_report r "
		"  JOIN carbonmkt.participant u ON u.participant_id = r.participant_id "
		" WHERE r.compiled_by = $1 AND u.province = $2 AND r.year = $3 "
		" ORDER BY r.report_id LIMIT 1",
		3, {INT8OID, TEXTOID, INT4OID}
	},
	[PLAN_REOPENING] = {
		"SELECT 1 FROM carbonmkt.mrv_reopening "
		" WHERE participant_id = $1 AND year = $2 AND old_confirmed_at = $3",
		3, {INT8OID, INT4OID, TIMESTAMPTZOID}
	},
};

static SPIPlanPtr mrv_plans[MRV_NPLANS];

static SPIPlanPtr
mrv_plan(MrvPlan id)
{
	if (mrv_plans[id] == NULL)
		mrv_plans[id] = carbonmkt_keep_plan(mrv_plan_def[id].sql, mrv_plan_def[id].nargs,
											 mrv_plan_def[id].argtypes, 0);
	return mrv_plans[id];
}

/*
 * Run a saved SELECT plan; returns the number of rows (at most "limit",
 * 0 for no limit).
 */
static uint64
mrv_select(MrvPlan plan, Datum *args, const char *nulls, long limit,
		   const char *what)
{
	int			ret = SPI_execute_plan(mrv_plan(plan), args, nulls, false, limit);

	if (ret != SPI_OK_SELECT)
		elog(ERROR, "%s failed: %s", what, SPI_result_code_string(ret));
	return SPI_processed;
}

static void
mrv_modify(MrvPlan plan, Datum *args, const char *nulls, int expected_ret,
		   const char *what)
{
	int			ret = SPI_execute_plan(mrv_plan(plan), args, nulls, false, 0);

	if (ret != expected_ret)
		elog(ERROR, "%s failed: %s", what, SPI_result_code_string(ret));
}

/* Column n (1-based) of row 0 of the last SPI result. */
static Datum
spi_col(int n, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n, isnull);
}

/* Column n of row 0 as a C string (output function), NULL for SQL NULL. */
static char *
spi_str(int n)
{
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n);
}

static int64
spi_int8(int n, bool *isnull)
{
	Datum		d = spi_col(n, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

static int32
spi_int4(int n)
{
	bool		isnull;
	Datum		d = spi_col(n, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/* Attribute of a trigger tuple by name. */
static Datum
tuple_attr(HeapTuple tuple, TupleDesc tupdesc, const char *name, bool *isnull)
{
	int			attnum = SPI_fnumber(tupdesc, name);

	if (attnum <= 0)
		elog(ERROR, "column \"%s\" not found in the trigger's relation", name);
	return heap_getattr(tuple, attnum, tupdesc, isnull);
}

static void
require_not_null(bool isnull, const char *column, Relation rel)
{
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("null value in column \"%s\" of relation \"%s\" violates not-null constraint",
						column, RelationGetRelationName(rel))));
}

static void
check_trigger(FunctionCallInfo fcinfo, const char *name, bool insert_only)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager", name)));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		(insert_only && !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event)) ||
		(!insert_only && TRIGGER_FIRED_BY_INSERT(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired BEFORE %s FOR EACH ROW", name,
						insert_only ? "INSERT" : "UPDATE OR DELETE")));
}

/* ----------------------------------------------------------------
 *		The re-review sample draw (抽查复查)
 * ----------------------------------------------------------------
 */

/*
 * sample_draw_millionths
 *		SHA-256 of the UTF-8 bytes of "<seed>:<participant_id>"; the first 8
 *		bytes as an unsigned big-endian integer, modulo DRAW_SCALE.
 */
static uint32
sample_draw_millionths(const char *seed, int64 participant_id)
{
	StringInfoData buf;
	char	   *utf8;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	uint64		u = 0;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s:" INT64_FORMAT, seed, participant_id);
	utf8 = pg_server_to_any(buf.data, buf.len, PG_UTF8);

#if PG_VERSION_NUM >= 140000
	{
		pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

		if (ctx == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		if (pg_cryptohash_init(ctx) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) utf8, strlen(utf8)) < 0 ||
			pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		{
			pg_cryptohash_free(ctx);
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not compute SHA-256 hash of the sample seed")));
		}
		pg_cryptohash_free(ctx);
	}
#else
	{
		pg_sha256_ctx ctx;

		pg_sha256_init(&ctx);
		pg_sha256_update(&ctx, (const uint8 *) utf8, strlen(utf8));
		pg_sha256_final(&ctx, digest);
	}
#endif

	for (int i = 0; i < 8; i++)
		u = (u << 8) | digest[i];
	return (uint32) (u % DRAW_SCALE);
}

static Datum
millionths_numeric(uint32 m)
{
	char		s[32];

	snprintf(s, sizeof(s), "0.%0*u", DRAW_DIGITS, m);
	return DirectFunctionCall3(numeric_in, CStringGetDatum(s),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/*
 * mrv_sample_draw(seed text, participant_id bigint) RETURNS numeric
 *		A unit's draw in [0, 1) with six decimals; the unit is in the
 *		re-review sample when the draw is below the rule's share.
 */
Datum
mrv_sample_draw(PG_FUNCTION_ARGS)
{
	char	   *seed = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		participant_id = PG_GETARG_INT64(1);

	PG_RETURN_DATUM(millionths_numeric(sample_draw_millionths(seed, participant_id)));
}

/* ----------------------------------------------------------------
 *		Assessment: the reasons for national review
 * ----------------------------------------------------------------
 */

/* result columns of carbonmkt.mrv_assessment */
enum
{
	A_REASONS,
	A_NAMED,
	A_PROBLEMS,
	A_SAMPLE_DRAW,
	A_SAMPLE_SHARE,
	A_ANNUAL_T,
	A_MONTHLY_SUM_T,
	A_DEVIATION,
	A_DEVIATION_THRESHOLD,
	A_MONTHS_MISSING,
	A_MISSING_TOLERANCE,
	A_MONTHS_LATE,
	A_LATE_TOLERANCE,
	A_REOPENED,
	A_RULE_JURISDICTION,
	A_RULE_FROM_YEAR,
	A_NATTS
};

/*
 * mrv_assess(report_id bigint) RETURNS carbonmkt.mrv_assessment
 *		Why the report needs national review (RULES.md 4, Art. 29), from the
 *		rule in force for its province and year.
 */
Datum
mrv_assess(PG_FUNCTION_ARGS)
{
	int64		report_id = PG_GETARG_INT64(0);
	TupleDesc	tupdesc;
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext spicxt;
	Datum		values[A_NATTS];
	bool		nulls[A_NATTS];
	Datum		args[5];
	char		argnulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		participant_id;
	int32		year;
	char	   *province;
	char	   *sector;
	int64		annual = 0;
	bool		annual_null;
	char	   *findings;
	bool		named;
	bool		reopened;
	bool		problems;
	char	   *seed;
	Datum		share;
	Datum		threshold;
	int32		due_days;
	int32		missing_tolerance;
	int32		late_tolerance;
	int32		months_missing;
	int32		months_late;
	Datum		draw;
	bool		sampled;
	bool		deviates = false;
	Datum		reasons[7];
	int			nreasons = 0;
	HeapTuple	result;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "mrv_assess must return carbonmkt.mrv_assessment");
	tupdesc = BlessTupleDesc(tupdesc);
	if (tupdesc->natts != A_NATTS)
		elog(ERROR, "carbonmkt.mrv_assessment has %d columns, expected %d", tupdesc->natts, A_NATTS);
	memset(nulls, 0, sizeof(nulls));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	spicxt = CurrentMemoryContext;

	/* the report and its unit */
	args[0] = Int64GetDatum(report_id);
	if (mrv_select(PLAN_ASSESS_REPORT, args, NULL, 1, "reading the report") != 1)
		ereport(ERROR,
				(errcode(ERRCODE_MRV_UNKNOWN_OBJECT),
				 errmsg("report " INT64_FORMAT " does not exist", report_id)));
	participant_id = spi_int8(1, &isnull);
	year = spi_int4(2);
	province = spi_str(3);
	sector = spi_str(4);
	annual = spi_int8(5, &annual_null);
	findings = spi_str(6);
	named = DatumGetBool(spi_col(7, &isnull));
	reopened = DatumGetBool(spi_col(8, &isnull));
	problems = findings != NULL && strcmp(findings, "problems") == 0;

	/* the rule in force */
	args[0] = CStringGetTextDatum(province ? province : "");
	args[1] = Int32GetDatum(year);
	if (mrv_select(PLAN_ASSESS_RULE, args, NULL, 1, "reading carbonmkt.mrv_rule") != 1)
		ereport(ERROR,
				(errcode(ERRCODE_MRV_NO_RULE),
				 errmsg("no MRV rule for province %s and year %d", province ? province : "(none)", year),
				 errhint("carbonmkt.mrv_rule has no row in force for the year ('CN' or the province): the national authority (or the province for its own) loads it with carbonmkt.set_rule('mrv_rule', ...); doc/rules.md.")));
	values[A_RULE_JURISDICTION] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	values[A_RULE_FROM_YEAR] = Int32GetDatum(spi_int4(2));
	/* a number the sources do not give is NULL until an authority sets it: refused */
	for (int c = 3; c <= 7; c++)
	{
		(void) spi_col(c, &isnull);
		if (isnull)
		{
			char	   *rj = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			ereport(ERROR,
					(errcode(ERRCODE_MRV_NO_RULE),
					 errmsg("no %s for province %s and year %d: mrv_rule (jurisdiction %s, from_year %d) has none",
							SPI_fname(SPI_tuptable->tupdesc, c), province ? province : "(none)", year,
							rj ? rj : "?", spi_int4(2)),
					 errdetail("The sources give no number for it: carbonmkt ships none."),
					 errhint("The national authority (or the province for its own rule) sets it with carbonmkt.amend_rule('mrv_rule', ...); doc/rules.md.")));
		}
	}
	share = spi_col(3, &isnull);
	threshold = spi_col(4, &isnull);
	due_days = spi_int4(5);
	missing_tolerance = spi_int4(6);
	late_tolerance = spi_int4(7);
	/* keep the rule's values: the next SPI call frees this result */
	MemoryContextSwitchTo(callercxt);
	values[A_RULE_JURISDICTION] = datumCopy(values[A_RULE_JURISDICTION], false, -1);
	share = datumCopy(share, false, -1);
	threshold = datumCopy(threshold, false, -1);
	MemoryContextSwitchTo(spicxt);

	/* the year's seed and this unit's draw */
	args[0] = Int32GetDatum(year);
	if (mrv_select(PLAN_ASSESS_SEED, args, NULL, 1, "reading carbonmkt.mrv_sample_seed") != 1)
		ereport(ERROR,
				(errcode(ERRCODE_MRV_NO_RULE),
				 errmsg("no re-review sample seed is recorded for %d", year),
				 errdetail("The random re-review sample (Art. 29(3)) is drawn from the year's recorded seed."),
				 errhint("The national authority records it with carbonmkt.record_sample_seed() before review starts.")));
	seed = spi_str(1);
	MemoryContextSwitchTo(callercxt);
	draw = millionths_numeric(sample_draw_millionths(seed, participant_id));
	MemoryContextSwitchTo(spicxt);
	sampled = DatumGetBool(DirectFunctionCall2(numeric_lt, draw, share));

	/* monthly deposits against the annual figure */
	args[0] = Int64GetDatum(participant_id);
	args[1] = Int32GetDatum(year);
	args[2] = CStringGetTextDatum(sector ? sector : "");
	args[3] = Int32GetDatum(due_days);
	args[4] = Int64GetDatum(annual);
	argnulls[4] = annual_null ? 'n' : ' ';
	if (mrv_select(PLAN_ASSESS_DEPOSIT, args, argnulls, 1, "reading carbonmkt.mrv_deposit") != 1)
		elog(ERROR, "the deposit assessment returned no row");
	{
		bool		sum_null;
		bool		dev_null;
		Datum		sum = spi_col(1, &sum_null);
		Datum		dev = spi_col(2, &dev_null);

		MemoryContextSwitchTo(callercxt);
		values[A_MONTHLY_SUM_T] = sum_null ? (Datum) 0 : datumCopy(sum, false, -1);
		nulls[A_MONTHLY_SUM_T] = sum_null;
		values[A_DEVIATION] = dev_null ? (Datum) 0 : datumCopy(dev, false, -1);
		nulls[A_DEVIATION] = dev_null;
		MemoryContextSwitchTo(spicxt);
		if (!annual_null)
			deviates = dev_null ||
				DatumGetBool(DirectFunctionCall2(numeric_gt, values[A_DEVIATION], threshold));
	}
	months_missing = spi_int4(3);
	months_late = spi_int4(4);

	/* the reasons, in a fixed order */
	MemoryContextSwitchTo(callercxt);
	if (named)
		reasons[nreasons++] = CStringGetTextDatum("named");
	if (problems)
		reasons[nreasons++] = CStringGetTextDatum("verification_problems");
	if (sampled)
		reasons[nreasons++] = CStringGetTextDatum("random_sample");
	if (deviates)
		reasons[nreasons++] = CStringGetTextDatum("deviation");
	if (months_missing > missing_tolerance)
		reasons[nreasons++] = CStringGetTextDatum("deposits_missing");
	if (months_late > late_tolerance)
		reasons[nreasons++] = CStringGetTextDatum("deposits_late");
	if (reopened)
		reasons[nreasons++] = CStringGetTextDatum("reopened");

	values[A_REASONS] = PointerGetDatum(construct_array(reasons, nreasons, TEXTOID, -1, false, TYPALIGN_INT));
	values[A_NAMED] = BoolGetDatum(named);
	values[A_PROBLEMS] = BoolGetDatum(problems);
	values[A_SAMPLE_DRAW] = draw;
	values[A_SAMPLE_SHARE] = share;
	values[A_ANNUAL_T] = Int64GetDatum(annual);
	nulls[A_ANNUAL_T] = annual_null;
	values[A_DEVIATION_THRESHOLD] = threshold;
	values[A_MONTHS_MISSING] = Int32GetDatum(months_missing);
	values[A_MISSING_TOLERANCE] = Int32GetDatum(missing_tolerance);
	values[A_MONTHS_LATE] = Int32GetDatum(months_late);
	values[A_LATE_TOLERANCE] = Int32GetDatum(late_tolerance);
	values[A_REOPENED] = BoolGetDatum(reopened);
	result = heap_form_tuple(tupdesc, values, nulls);
	MemoryContextSwitchTo(spicxt);

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_DATUM(HeapTupleGetDatum(result));
}

/* ----------------------------------------------------------------
 *		The tiered review trigger (三级联审)
 * ----------------------------------------------------------------
 */

/* The reviewer (or verifier) participant: kind, province, city. */
typedef struct MrvParty
{
	char	   *kind;
	char	   *province;
	char	   *city;
} MrvParty;

static void
read_party(int64 participant_id, MrvParty *party)
{
	Datum		args[1];

	args[0] = Int64GetDatum(participant_id);
	if (mrv_select(PLAN_PARTICIPANT, args, NULL, 1, "reading the participant") != 1)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_UNKNOWN_PARTICIPANT),
				 errmsg("participant " INT64_FORMAT " does not exist", participant_id)));
	party->kind = spi_str(1);
	party->province = spi_str(2);
	party->city = spi_str(3);
}

static bool
str_eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static const char *
null_str(const char *s)
{
	return s ? s : "(none)";
}

/*
 * mrv_review_guard()
 *		BEFORE INSERT FOR EACH ROW trigger of carbonmkt.mrv_review.
 *
 * The report row is locked FOR UPDATE first, so two reviews of one report
 * (or a review and a correction) serialise: the second sees the report as the
 * first left it.  Then, in this order: the report must be under review
 * (CM110; CM106 when every required tier already approved), the reviewer
 * must be an authority of the row's tier and of the unit's city or province
 * (CM107) and not the unit, its compiler or its verifier (CM108), the
 * reviewed data version must be the current one (CM111), and the tier must be
 * the one the report waits for (CM106: already approved, or a later tier
 * skipping it).  An approval moves the report to the next required tier, or
 * to 'approved'; a rejection returns it to the unit with the reason.
 */
Datum
mrv_review_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	tupdesc;
	HeapTuple	tuple;
	bool		isnull;
	int64		report_id;
	int32		version;
	char	   *tier_name;
	int			tier;
	int64		reviewer_id;
	char	   *decision;
	char	   *reason;
	Datum		reviewed_at;
	bool		approve;
	char	   *status;
	char	   *pending_name;
	int			pending;
	int32		current_version;
	int64		unit_id;
	int64		compiled_by;
	int64		verifier_id;
	int64		estimator_id;
	bool		compiled_null;
	bool		verifier_null;
	bool		estimator_null;
	bool		national_required;
	char	   *national_reasons;
	char	   *unit_province;
	char	   *unit_city;
	MrvParty	reviewer;
	bool		reviewer_found;
	int			next;
	Datum		args[7];
	char		argnulls[7];

	check_trigger(fcinfo, "mrv_review_guard", true);
	rel = trigdata->tg_relation;
	tupdesc = RelationGetDescr(rel);
	tuple = trigdata->tg_trigtuple;

	report_id = DatumGetInt64(tuple_attr(tuple, tupdesc, "report_id", &isnull));
	require_not_null(isnull, "report_id", rel);
	version = DatumGetInt32(tuple_attr(tuple, tupdesc, "data_version", &isnull));
	require_not_null(isnull, "data_version", rel);
	tier_name = SPI_getvalue(tuple, tupdesc, SPI_fnumber(tupdesc, "tier"));
	require_not_null(tier_name == NULL, "tier", rel);
	tier = tier_index(tier_name);
	if (tier < 0)
		elog(ERROR, "unknown review tier \"%s\"", tier_name);
	reviewer_id = DatumGetInt64(tuple_attr(tuple, tupdesc, "reviewer_id", &isnull));
	require_not_null(isnull, "reviewer_id", rel);
	decision = SPI_getvalue(tuple, tupdesc, SPI_fnumber(tupdesc, "decision"));
	require_not_null(decision == NULL, "decision", rel);
	reason = SPI_getvalue(tuple, tupdesc, SPI_fnumber(tupdesc, "reason"));
	reviewed_at = tuple_attr(tuple, tupdesc, "reviewed_at", &isnull);
	require_not_null(isnull, "reviewed_at", rel);
	approve = strcmp(decision, "approve") == 0;
	if (!approve && strcmp(decision, "reject") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a review decision is approve or reject: got \"%s\"", decision)));
	if (!approve)
	{
		const char *p = reason;

		while (p && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
			p++;
		if (p == NULL || *p == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a rejection needs a reason"),
					 errhint("The reason goes back to the unit with the report.")));
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* lock the report: reviews and corrections of one report serialise here */
	args[0] = Int64GetDatum(report_id);
	args[1] = Int64GetDatum(reviewer_id);
	if (mrv_select(PLAN_REVIEW_LOCK, args, NULL, 1, "locking the report") != 1)
		ereport(ERROR,
				(errcode(ERRCODE_MRV_UNKNOWN_OBJECT),
				 errmsg("report " INT64_FORMAT " does not exist", report_id)));
	status = spi_str(1);
	pending_name = spi_str(2);
	pending = tier_index(pending_name);
	current_version = spi_int4(3);
	unit_id = spi_int8(4, &isnull);
	compiled_by = spi_int8(5, &compiled_null);
	verifier_id = spi_int8(6, &verifier_null);
	estimator_id = spi_int8(7, &estimator_null);
	national_required = DatumGetBool(spi_col(8, &isnull));
	national_reasons = spi_str(9);
	unit_province = spi_str(10);
	unit_city = spi_str(11);
	reviewer_found = DatumGetBool(spi_col(13, &isnull));
	reviewer.kind = spi_str(14);
	reviewer.province = spi_str(15);
	reviewer.city = spi_str(16);

	/* 1. the report must be under review */
	if (strcmp(status, "in_review") != 0)
	{
		if (strcmp(status, "approved") == 0 || strcmp(status, "confirmed") == 0)
		{
			if (tier == TIER_NATIONAL && !national_required)
				ereport(ERROR,
						(errcode(ERRCODE_MRV_TIER_ORDER),
						 errmsg("report " INT64_FORMAT " needs no national review", report_id),
						 errdetail("None of the reasons for national review holds; the city and province tiers approved data version %d and the report is %s.",
								   current_version, status)));
			ereport(ERROR,
					(errcode(ERRCODE_MRV_TIER_ORDER),
					 errmsg("the %s tier already approved report " INT64_FORMAT, tier_names[tier], report_id),
					 errdetail("Every required tier approved data version %d; the report is %s.",
							   current_version, status),
					 errhint("Nobody approves the same tier twice.")));
		}
		ereport(ERROR,
				(errcode(ERRCODE_MRV_STATE),
				 errmsg("report " INT64_FORMAT " is not under review: it is %s", report_id, status),
				 strcmp(status, "returned") == 0 ?
				 errdetail("It was returned to the unit: %s", null_str(spi_str(12))) :
				 strcmp(status, "appealed") == 0 ?
				 errdetail("An appeal of its verification waits for the provincial authority.") :
				 errdetail("It waits for verification.")));
	}

	/* 2. the reviewer: an authority of this tier and of the unit's jurisdiction */
	if (!reviewer_found)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_UNKNOWN_PARTICIPANT),
				 errmsg("participant " INT64_FORMAT " does not exist", reviewer_id)));
	if (!str_eq(reviewer.kind, tier_kinds[tier]))
		ereport(ERROR,
				(errcode(ERRCODE_MRV_WRONG_AUTHORITY),
				 errmsg("participant " INT64_FORMAT " (%s) may not review at the %s tier",
						reviewer_id, reviewer.kind, tier_names[tier]),
				 errdetail("The %s tier is reviewed by a %s.", tier_names[tier], tier_kinds[tier]),
				 errhint("The three tiers (三级联审) are the city, provincial and national authorities.")));
	if (tier == TIER_CITY && !str_eq(reviewer.city, unit_city))
		ereport(ERROR,
				(errcode(ERRCODE_MRV_WRONG_AUTHORITY),
				 errmsg("participant " INT64_FORMAT " is the city authority of %s, not of %s where unit " INT64_FORMAT " is",
						reviewer_id, null_str(reviewer.city), null_str(unit_city), unit_id),
				 errdetail("A report is reviewed by the authorities of the unit's own city and province.")));
	if (tier == TIER_PROVINCE && !str_eq(reviewer.province, unit_province))
		ereport(ERROR,
				(errcode(ERRCODE_MRV_WRONG_AUTHORITY),
				 errmsg("participant " INT64_FORMAT " is the provincial authority of %s, not of %s where unit " INT64_FORMAT " is",
						reviewer_id, null_str(reviewer.province), null_str(unit_province), unit_id),
				 errdetail("A report is reviewed by the authorities of the unit's own city and province.")));
	if (reviewer_id == unit_id ||
		(!compiled_null && reviewer_id == compiled_by) ||
		(!verifier_null && reviewer_id == verifier_id) ||
		(!estimator_null && reviewer_id == estimator_id))
		ereport(ERROR,
				(errcode(ERRCODE_MRV_CONFLICT_OF_INTEREST),
				 errmsg("participant " INT64_FORMAT " may not review report " INT64_FORMAT ": it %s it",
						reviewer_id, report_id,
						reviewer_id == unit_id ? "owns" :
						(!compiled_null && reviewer_id == compiled_by) ? "compiled" :
						"verified or estimated"),
				 errhint("Nobody reviews a report their own organisation compiled or verified.")));

	/* 3. the data reviewed must be the current data */
	if (version != current_version)
		ereport(ERROR,
				(errcode(ERRCODE_MRV_STALE_VERSION),
				 errmsg("report " INT64_FORMAT " changed while it was reviewed: the review is of data version %d, the current version is %d",
						report_id, version, current_version),
				 errhint("Review the current data again.")));

	/* 4. the tier must be the one the report waits for */
	if (tier < pending)
		ereport(ERROR,
				(errcode(ERRCODE_MRV_TIER_ORDER),
				 errmsg("the %s tier already approved report " INT64_FORMAT, tier_names[tier], report_id),
				 errdetail("Data version %d waits for %s review.", current_version, pending_name),
				 errhint("Nobody approves the same tier twice.")));
	if (tier > pending)
		ereport(ERROR,
				(errcode(ERRCODE_MRV_TIER_ORDER),
				 errmsg("report " INT64_FORMAT " waits for %s review: the %s tier may not skip it",
						report_id, pending_name, tier_names[tier]),
				 errdetail("Every report passes city, then province%s%s%s.",
						   national_required ? ", then national (required: " : "",
						   national_required ? national_reasons : "",
						   national_required ? ")" : "")));

	/* 5. move the report on */
	if (!approve)
		next = -1;
	else if (tier == TIER_CITY)
		next = TIER_PROVINCE;
	else if (tier == TIER_PROVINCE && national_required)
		next = TIER_NATIONAL;
	else
		next = -1;

	memset(argnulls, ' ', sizeof(argnulls));
	args[0] = Int64GetDatum(report_id);
	args[1] = CStringGetTextDatum(!approve ? "returned" : next >= 0 ? "in_review" : "approved");
	args[2] = next >= 0 ? CStringGetTextDatum(tier_names[next]) : (Datum) 0;
	argnulls[2] = next >= 0 ? ' ' : 'n';
	args[3] = approve ? (Datum) 0 : CStringGetTextDatum(reason);
	argnulls[3] = approve ? 'n' : ' ';
	args[4] = reviewed_at;
	mrv_modify(PLAN_REVIEW_ADVANCE, args, argnulls, SPI_OK_UPDATE, "moving the report on");

	memset(argnulls, ' ', sizeof(argnulls));
	args[0] = Int64GetDatum(report_id);
	args[1] = Int32GetDatum(version);
	args[2] = CStringGetTextDatum(approve ? "approved" : "rejected");
	args[3] = CStringGetTextDatum(tier_names[tier]);
	args[4] = Int64GetDatum(reviewer_id);
	args[5] = reviewed_at;
	if (!approve)
		args[6] = CStringGetTextDatum(reason);
	else if (next >= 0)
		args[6] = CStringGetTextDatum(psprintf("next: %s review", tier_names[next]));
	else
		args[6] = CStringGetTextDatum("every required tier approved; waiting for confirmation");
	mrv_modify(PLAN_EVENT, args, argnulls, SPI_OK_INSERT, "logging the review");

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	return PointerGetDatum(tuple);
}

/* ----------------------------------------------------------------
 *		The verification guard (核查; Decree 775 conflict of interest)
 * ----------------------------------------------------------------
 */

/*
 * mrv_verification_guard()
 *		BEFORE INSERT FOR EACH ROW trigger of carbonmkt.mrv_verification:
 *		who may verify or estimate which report.  The workflow functions
 *		(carbonmkt.verify_report, estimate_emissions) then move the report.
 */
Datum
mrv_verification_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	tupdesc;
	HeapTuple	tuple;
	bool		isnull;
	int64		report_id;
	int64		verifier_id;
	char	   *kind;
	bool		estimate;
	char	   *status;
	bool		estimated;
	int64		estimator_id;
	bool		estimator_null;
	int32		year;
	char	   *province;
	MrvParty	verifier;
	Datum		args[3];

	check_trigger(fcinfo, "mrv_verification_guard", true);
	rel = trigdata->tg_relation;
	tupdesc = RelationGetDescr(rel);
	tuple = trigdata->tg_trigtuple;

	report_id = DatumGetInt64(tuple_attr(tuple, tupdesc, "report_id", &isnull));
	require_not_null(isnull, "report_id", rel);
	verifier_id = DatumGetInt64(tuple_attr(tuple, tupdesc, "verifier_id", &isnull));
	require_not_null(isnull, "verifier_id", rel);
	kind = SPI_getvalue(tuple, tupdesc, SPI_fnumber(tupdesc, "kind"));
	require_not_null(kind == NULL, "kind", rel);
	estimate = strcmp(kind, "estimate") == 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	args[0] = Int64GetDatum(report_id);
	if (mrv_select(PLAN_VERIFY_LOCK, args, NULL, 1, "locking the report") != 1)
		ereport(ERROR,
				(errcode(ERRCODE_MRV_UNKNOWN_OBJECT),
				 errmsg("report " INT64_FORMAT " does not exist", report_id)));
	status = spi_str(1);
	estimated = DatumGetBool(spi_col(2, &isnull));
	estimator_id = spi_int8(3, &estimator_null);
	year = spi_int4(4);
	province = spi_str(5);

	if (strcmp(status, "appealed") == 0 || strcmp(status, "confirmed") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_MRV_STATE),
				 errmsg("report " INT64_FORMAT " cannot be %s: it is %s", report_id,
						estimate ? "estimated" : "verified", status),
				 strcmp(status, "appealed") == 0 ?
				 errdetail("An appeal of its verification waits for the provincial authority.") :
				 errdetail("Its emissions are confirmed; only a national re-opening changes them.")));
	if (estimate && !estimated)
		ereport(ERROR,
				(errcode(ERRCODE_MRV_STATE),
				 errmsg("report " INT64_FORMAT " was reported by its unit: only a report of a unit that failed to report is estimated", report_id),
				 errhint("Art. 40: the provincial authority appoints the estimator (carbonmkt.appoint_estimator).")));
	if (!estimate && estimated)
		ereport(ERROR,
				(errcode(ERRCODE_MRV_STATE),
				 errmsg("report " INT64_FORMAT " is an estimate (Art. 40): the appointed verifier estimates it, nobody verifies it", report_id)));

	read_party(verifier_id, &verifier);
	if (!str_eq(verifier.kind, "service_firm"))
		ereport(ERROR,
				(errcode(ERRCODE_MRV_WRONG_AUTHORITY),
				 errmsg("participant " INT64_FORMAT " (%s) is not a technical service firm (技术服务机构)",
						verifier_id, verifier.kind),
				 errdetail("Verification and Art. 40 estimates are made by technical service firms.")));
	if (estimate && (estimator_null || estimator_id != verifier_id))
		ereport(ERROR,
				(errcode(ERRCODE_MRV_WRONG_AUTHORITY),
				 errmsg("service firm " INT64_FORMAT " is not the verifier appointed to estimate report " INT64_FORMAT,
						verifier_id, report_id),
				 errdetail("The provincial authority appointed participant " INT64_FORMAT ".", estimator_id)));

	args[0] = Int64GetDatum(verifier_id);
	args[1] = CStringGetTextDatum(province ? province : "");
	args[2] = Int32GetDatum(year);
	if (mrv_select(PLAN_VERIFY_CONFLICT, args, NULL, 1, "checking the conflict of interest") == 1)
	{
		bool		n;
		int64		compiled = spi_int8(1, &n);

		ereport(ERROR,
				(errcode(ERRCODE_MRV_CONFLICT_OF_INTEREST),
				 errmsg("conflict of interest: service firm " INT64_FORMAT " compiled report " INT64_FORMAT " in province %s for %d and may not %s reports there",
						verifier_id, compiled, null_str(province), year, estimate ? "estimate" : "verify"),
				 errhint("Decree 775: a technical service firm may not both compile annual reports and technically review them in the same province.")));
	}

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	return PointerGetDatum(tuple);
}

/* ----------------------------------------------------------------
 *		Confirmed emissions are immutable (经确认排放量)
 * ----------------------------------------------------------------
 */

/*
 * mrv_confirmed_guard()
 *		BEFORE UPDATE OR DELETE FOR EACH ROW trigger of
 *		carbonmkt.confirmed_emission.  The one way out is a DELETE by
 *		carbonmkt.reopen_emissions(): its SET clause makes
 *		carbonmkt.acting_room 'mrv' (a superuser-only GUC), and it records the
 *		re-opening of exactly this row before deleting it.
 */
Datum
mrv_confirmed_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	tupdesc;
	HeapTuple	tuple;
	bool		isnull;
	int64		participant_id;
	int32		year;
	const char *room;
	bool		deleting;

	check_trigger(fcinfo, "mrv_confirmed_guard", false);
	rel = trigdata->tg_relation;
	tupdesc = RelationGetDescr(rel);
	tuple = trigdata->tg_trigtuple;
	deleting = TRIGGER_FIRED_BY_DELETE(trigdata->tg_event);
	participant_id = DatumGetInt64(tuple_attr(tuple, tupdesc, "participant_id", &isnull));
	year = DatumGetInt32(tuple_attr(tuple, tupdesc, "year", &isnull));

	room = GetConfigOption("carbonmkt.acting_room", true, false);
	if (deleting && room != NULL && strcmp(room, "mrv") == 0)
	{
		Datum		args[3];
		uint64		found;

		args[0] = Int64GetDatum(participant_id);
		args[1] = Int32GetDatum(year);
		args[2] = tuple_attr(tuple, tupdesc, "confirmed_at", &isnull);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		found = isnull ? 0 : mrv_select(PLAN_REOPENING, args, NULL, 1, "reading carbonmkt.mrv_reopening");
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
		if (found == 1)
			return PointerGetDatum(tuple);
	}

	ereport(ERROR,
			(errcode(ERRCODE_MRV_CONFIRMED_IMMUTABLE),
			 errmsg("confirmed emissions are immutable"),
			 errdetail("Attempted %s of the confirmed emissions of unit " INT64_FORMAT " for %d.",
					   deleting ? "DELETE" : "UPDATE", participant_id, year),
			 errhint("Only a recorded national re-opening (carbonmkt.reopen_emissions) changes confirmed emissions.")));
	PG_RETURN_NULL();			/* keep the compiler quiet */
}
