/*-------------------------------------------------------------------------
 *
 * compliance.c
 *	  The surrender rules of the compliance room (清缴履约, RULES.md 6),
 *	  enforced by a BEFORE INSERT trigger on carbonmkt.journal.
 *
 * Every surrender (清缴) reaches the ledger as a journal row of kind
 * 'surrender': the debit leg on the unit's account, tagged with the
 * compliance period it serves (the credit leg, kind 'retire', lands in the
 * cancellation account).  The trigger carbonmkt.compliance_surrender fires
 * for those rows only (WHEN (NEW.kind = 'surrender')), whichever function
 * inserted them, and refuses the row unless
 *
 *	 - the period exists and is open, or it is closed and the row corrects
 *	   the unit's sanctioned shortfall (carbonmkt._late_surrender: CEA, up to
 *	   what is not corrected yet; the fine stands, the allocation cut is
 *	   withdrawn in proportion where the penalty rule says so);
 *	 - the account is a key emitting unit's holding account, and the unit is
 *	   covered by the period (jurisdiction, sector) with confirmed emissions
 *	   for every year of it;
 *	 - CEA: the vintage is not later than the period, except the vintage
 *	   after it up to what the unit borrowed (预支) and has not used yet;
 *	 - CCER: the project is registered and eligible (vintage window,
 *	   excluded project types, not hosted by a key emitting unit), the unit's
 *	   CCER for the period stays within the offset cap on its basis and the
 *	   local share stays at or above its minimum;
 *	 - the unit's surrenders for the period do not exceed its obligation.
 *
 * All numbers come from rule tables and views (src/compliance.sql) read
 * with SPI plans prepared once per backend; nothing here is a policy
 * number.  Before checking, the trigger locks the unit's row of
 * carbonmkt.obligation (inserting it when missing) FOR UPDATE, and it
 * updates the running totals kept there under that lock, so two sessions
 * surrendering for one unit are serialised and can never exceed the cap or
 * the obligation together.  The period row is read FOR SHARE, so a
 * surrender and the closing of its period cannot interleave.  Under the
 * same lock it adds the row's tonnes to carbonmkt.surrender_detail (per
 * unit, period and asset), the summary the BI views read.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/compliance.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"
#include "utils/rel.h"

#include "carbonmkt.h"

/* SQLSTATEs of the compliance room: CM401-CM414 (doc/compliance.md) */
#define ERRCODE_CM_UNKNOWN_PERIOD		MAKE_SQLSTATE('C','M','4','0','1')
#define ERRCODE_CM_PERIOD_CLOSED		MAKE_SQLSTATE('C','M','4','0','2')
#define ERRCODE_CM_NOT_COVERED			MAKE_SQLSTATE('C','M','4','0','3')
#define ERRCODE_CM_NO_EMISSIONS			MAKE_SQLSTATE('C','M','4','0','4')
#define ERRCODE_CM_LATER_VINTAGE		MAKE_SQLSTATE('C','M','4','0','5')
#define ERRCODE_CM_CCER_INELIGIBLE		MAKE_SQLSTATE('C','M','4','0','6')
#define ERRCODE_CM_OFFSET_CAP			MAKE_SQLSTATE('C','M','4','0','7')
#define ERRCODE_CM_LOCAL_SHARE			MAKE_SQLSTATE('C','M','4','0','8')
#define ERRCODE_CM_BEYOND_OBLIGATION	MAKE_SQLSTATE('C','M','4','0','9')

PG_FUNCTION_INFO_V1(compliance_surrender);

/* The saved plans, prepared on first use in each backend. */
static SPIPlanPtr period_plan = NULL;
static SPIPlanPtr account_plan = NULL;
static SPIPlanPtr obligation_insert_plan = NULL;
static SPIPlanPtr obligation_lock_plan = NULL;
static SPIPlanPtr figures_plan = NULL;
static SPIPlanPtr project_plan = NULL;
static SPIPlanPtr obligation_update_plan = NULL;
static SPIPlanPtr detail_plan = NULL;
static SPIPlanPtr late_plan = NULL;

/*
 * Prepare and keep a plan.  custom: plan every execution with its parameter
 * values (CURSOR_OPT_CUSTOM_PLAN), for the one query whose best plan depends
 * on the size of the journal: a generic plan made while the journal is small
 * would scan it whole for every surrender later.
 */
static SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *argtypes, bool custom)
{
	return carbonmkt_keep_plan(sql, nargs, argtypes, custom ? CURSOR_OPT_CUSTOM_PLAN : 0);
}

static void
prepare_plans(void)
{
	Oid			int8_int4[2] = {INT8OID, INT4OID};
	Oid			int4[1] = {INT4OID};
	Oid			int8[1] = {INT8OID};
	Oid			text_int4[2] = {TEXTOID, INT4OID};
	Oid			update_args[7] = {INT8OID, INT4OID, INT8OID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID};
	Oid			detail_args[6] = {INT8OID, INT4OID, TEXTOID, INT4OID, TEXTOID, INT8OID};
	Oid			late_args[6] = {INT8OID, INT4OID, TEXTOID, INT4OID, INT8OID, TIMESTAMPTZOID};

	if (period_plan == NULL)
		period_plan = prepare_kept(
			"SELECT p.name, p.status = 'closed', p.first_year, p.last_year,"
			"       to_char(carbonmkt.business_date(p.closed_at), 'YYYY-MM-DD')"
			"  FROM carbonmkt.compliance_period p WHERE p.period = $1 FOR SHARE",
			1, int4, false);
	if (account_plan == NULL)
		account_plan = prepare_kept(
			"SELECT a.kind::text, a.participant_id, p.kind::text, p.name"
			"  FROM carbonmkt.account a"
			"  LEFT JOIN carbonmkt.participant p ON p.participant_id = a.participant_id"
			" WHERE a.account_id = $1",
			1, int8, false);
	if (obligation_insert_plan == NULL)
		obligation_insert_plan = prepare_kept(
			"INSERT INTO carbonmkt.obligation (participant_id, period) VALUES ($1, $2)"
			"    ON CONFLICT ON CONSTRAINT obligation_pkey DO NOTHING",
			2, int8_int4, false);
	if (obligation_lock_plan == NULL)
		obligation_lock_plan = prepare_kept(
			"SELECT o.surrendered_cea_t, o.surrendered_ccer_t, o.ccer_local_t, o.cea_borrowed_used_t"
			"  FROM carbonmkt.obligation o WHERE o.participant_id = $1 AND o.period = $2 FOR UPDATE",
			2, int8_int4, false);
	if (figures_plan == NULL)
		figures_plan = prepare_kept(
			"SELECT f.years, f.years_confirmed, f.emissions_t, f.obligation_t, f.borrowed_t,"
			"       replace(f.offset_basis::text, '_', ' '), f.offset_ratio_pct, f.offset_basis_t,"
			"       f.offset_cap_t, f.local_share_min, f.local_share_pct, f.province, f.jurisdiction"
			"  FROM carbonmkt._obligation_figures f WHERE f.participant_id = $1 AND f.period = $2",
			2, int8_int4, true);
	if (project_plan == NULL)
		project_plan = prepare_kept(
			"SELECT c.project IS NOT NULL, c.project_type, t.name_zh, c.province,"
			"       c.host_participant, h.kind = 'key_emitter', h.name,"
			"       r.ccer_min_vintage, r.ccer_min_vintage_by_age,"
			"       coalesce(c.project_type = ANY (r.excluded_types), false), r.exclude_covered_hosts,"
			"       r.jurisdiction"
			"  FROM carbonmkt._period_rules r"
			"  LEFT JOIN carbonmkt.ccer_project c ON c.project = $1"
			"  LEFT JOIN carbonmkt.ccer_project_type t ON t.code = c.project_type"
			"  LEFT JOIN carbonmkt.participant h ON h.participant_id = c.host_participant"
			" WHERE r.period = $2",
			2, text_int4, false);
	if (obligation_update_plan == NULL)
		obligation_update_plan = prepare_kept(
			"UPDATE carbonmkt.obligation"
			"   SET surrendered_cea_t = surrendered_cea_t + $3,"
			"       surrendered_ccer_t = surrendered_ccer_t + $4,"
			"       ccer_local_t = ccer_local_t + $5,"
			"       cea_borrowed_used_t = cea_borrowed_used_t + $6,"
			"       last_surrender_at = $7"
			" WHERE participant_id = $1 AND period = $2",
			7, update_args, false);
	if (detail_plan == NULL)
		detail_plan = prepare_kept(
			"INSERT INTO carbonmkt.surrender_detail AS d"
			"       (participant_id, period, instrument, vintage, project, tonnes)"
			"VALUES ($1, $2, $3::carbonmkt.instrument, $4, $5, $6)"
			"    ON CONFLICT ON CONSTRAINT surrender_detail_pkey"
			"    DO UPDATE SET tonnes = d.tonnes + excluded.tonnes",
			6, detail_args, false);
	if (late_plan == NULL)
		late_plan = prepare_kept(
			"SELECT carbonmkt._late_surrender($1, $2, $3, $4, $5, $6)",
			6, late_args, false);
}

/*
 * Format a quantity of tonnes for messages with thousands separators, like
 * carbonmkt.format_quantity(): "1,000,000 t".
 */
static char *
fmt_t(int64 v)
{
	char		digits[32];
	StringInfoData buf;
	uint64		mag;
	int			len;
	int			i;

	mag = (v < 0) ? (uint64) (-(v + 1)) + 1 : (uint64) v;
	snprintf(digits, sizeof(digits), UINT64_FORMAT, mag);
	len = strlen(digits);
	initStringInfo(&buf);
	if (v < 0)
		appendStringInfoChar(&buf, '-');
	for (i = 0; i < len; i++)
	{
		if (i > 0 && (len - i) % 3 == 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, digits[i]);
	}
	appendStringInfoString(&buf, " t");
	return buf.data;
}

/* Column n (1-based) of the first row of the last SPI result. */
static Datum
spi_col(int n, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n, isnull);
}

static int64
spi_int8(int n, bool *isnull)
{
	Datum		d = spi_col(n, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

static int32
spi_int4(int n, bool *isnull)
{
	Datum		d = spi_col(n, isnull);

	return *isnull ? 0 : DatumGetInt32(d);
}

static bool
spi_bool(int n)
{
	bool		isnull;
	Datum		d = spi_col(n, &isnull);

	return !isnull && DatumGetBool(d);
}

/* Text of column n, or "" when NULL; palloc'd in the SPI context. */
static char *
spi_text(int n)
{
	char	   *s = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n);

	return s ? s : "";
}

/* The value of a journal column of the new row. */
static Datum
journal_col(TriggerData *trigdata, const char *name, bool *isnull)
{
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
	int			attnum = SPI_fnumber(tupdesc, name);

	if (attnum <= 0)
		elog(ERROR, "carbonmkt.journal has no column \"%s\"", name);
	return heap_getattr(trigdata->tg_trigtuple, attnum, tupdesc, isnull);
}

static char *
journal_text(TriggerData *trigdata, const char *name)
{
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
	int			attnum = SPI_fnumber(tupdesc, name);
	char	   *s;

	if (attnum <= 0)
		elog(ERROR, "carbonmkt.journal has no column \"%s\"", name);
	s = SPI_getvalue(trigdata->tg_trigtuple, tupdesc, attnum);
	return s ? s : "";
}

/* ceil(share * n) for a numeric share, as int64 */
static int64
numeric_share_ceil(Datum share, int64 n)
{
	Datum		prod;

	prod = DirectFunctionCall2(numeric_mul, share,
							   DirectFunctionCall1(int8_numeric, Int64GetDatum(n)));
	return DatumGetInt64(DirectFunctionCall1(numeric_int8,
											 DirectFunctionCall1(numeric_ceil, prod)));
}

static void
run_plan(SPIPlanPtr plan, Datum *args, const char *nulls, int expect, const char *what)
{
	int			ret = SPI_execute_plan(plan, args, nulls, false, 0);

	if (ret != expect)
		elog(ERROR, "compliance: %s failed: %s", what, SPI_result_code_string(ret));
}

/*
 * compliance_surrender
 *		BEFORE INSERT FOR EACH ROW trigger of carbonmkt.journal, created with
 *		WHEN (NEW.kind = 'surrender').  Returns the row unchanged or raises.
 */
Datum
compliance_surrender(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	bool		isnull;
	int64		account_id;
	int64		amount;
	int64		qty;
	int32		vintage;
	int32		period;
	char	   *instrument;
	char	   *project;
	bool		is_ccer = false;
	Datum		recorded_at;
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	/* what the period and the unit look like */
	char	   *period_name;
	int32		first_year;
	int32		last_year;
	int64		participant_id;
	char	   *unit_name;
	int64		cea_t;
	int64		ccer_t;
	int64		local_t;
	int64		borrowed_used_t;
	int32		years;
	int32		years_confirmed;
	int64		obligation_t;
	int64		borrowed_t;
	char	   *basis_label;
	char	   *ratio_pct;
	int64		basis_t;
	int64		cap_t;
	bool		cap_null;
	bool		share_null;
	Datum		local_share;
	char	   *local_pct;
	char	   *unit_province;
	char	   *jurisdiction;
	bool		closed;
	char	   *closed_on;

	/* what this row adds */
	int64		add_cea = 0;
	int64		add_ccer = 0;
	int64		add_local = 0;
	int64		add_borrowed = 0;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager",
						"compliance_surrender")));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired BEFORE INSERT FOR EACH ROW",
						"compliance_surrender")));

	/* The row: which account, what, how much, for which period. */
	account_id = DatumGetInt64(journal_col(trigdata, "account_id", &isnull));
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("a surrender journal row needs its account")));
	amount = DatumGetInt64(journal_col(trigdata, "amount", &isnull));
	if (isnull || amount >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a surrender journal row must debit the surrendering account: amount " INT64_FORMAT,
						isnull ? 0 : amount),
				 errdetail("The cancellation account's side of a surrender is an entry of kind retire.")));
	if (amount == PG_INT64_MIN)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("surrender amount is out of range")));
	qty = -amount;
	vintage = DatumGetInt32(journal_col(trigdata, "vintage", &isnull));
	instrument = journal_text(trigdata, "instrument");
	project = journal_text(trigdata, "project");
	recorded_at = journal_col(trigdata, "recorded_at", &isnull);
	if (isnull)
		nulls[6] = 'n';
	{
		Datum		d = journal_col(trigdata, "period", &isnull);

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_CM_UNKNOWN_PERIOD),
					 errmsg("a surrender needs its compliance period"),
					 errdetail("Account " INT64_FORMAT " surrenders %s of %s without a period.",
							   account_id, fmt_t(qty), instrument),
					 errhint("Pass the period to surrender_cea() or surrender_ccer().")));
		period = DatumGetInt32(d);
	}
	if (strcmp(instrument, "CEA") == 0)
		is_ccer = false;
	else if (strcmp(instrument, "CCER") == 0)
		is_ccer = true;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("only CEA and CCER can be surrendered, not %s", instrument)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	prepare_plans();

	/* 1. The period: exists; open, or closed (read FOR SHARE: closing waits). */
	args[0] = Int32GetDatum(period);
	run_plan(period_plan, args, NULL, SPI_OK_SELECT, "reading the period");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_CM_UNKNOWN_PERIOD),
				 errmsg("compliance period %d does not exist", period),
				 errhint("Compliance periods are opened with carbonmkt.open_period().")));
	period_name = spi_text(1);
	first_year = spi_int4(3, &isnull);
	last_year = spi_int4(4, &isnull);
	closed = spi_bool(2);
	closed_on = spi_text(5);

	/* 2. The unit: a key emitting unit's holding account. */
	args[0] = Int64GetDatum(account_id);
	run_plan(account_plan, args, NULL, SPI_OK_SELECT, "reading the account");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE('C', 'M', '0', '0', '1')),
				 errmsg("account " INT64_FORMAT " does not exist", account_id)));
	participant_id = spi_int8(2, &isnull);
	if (strcmp(spi_text(1), "holding") != 0 || isnull || strcmp(spi_text(3), "key_emitter") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CM_NOT_COVERED),
				 errmsg("account " INT64_FORMAT " is not the holding account of a key emitting unit", account_id),
				 isnull ? errdetail("It is the %s account.", spi_text(1))
				 : errdetail("Account kind %s, owned by participant " INT64_FORMAT " of kind %s.",
							 spi_text(1), participant_id, spi_text(3)),
				 errhint("Only key emitting units (重点排放单位) surrender for a compliance period; other holders retire units (retire_cea, retire_ccer).")));
	unit_name = spi_text(4);

	/*
	 * 2a. A closed period takes only the correction of a sanctioned shortfall
	 * (改正), checked and recorded by carbonmkt._late_surrender under the
	 * unit's obligation and sanction locks.
	 */
	if (closed)
	{
		char		late_nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

		args[0] = Int64GetDatum(participant_id);
		args[1] = Int32GetDatum(period);
		args[2] = CStringGetTextDatum(instrument);
		args[3] = Int32GetDatum(vintage);
		args[4] = Int64GetDatum(qty);
		args[5] = recorded_at;
		if (nulls[6] == 'n')
			late_nulls[5] = 'n';
		run_plan(late_plan, args, late_nulls, SPI_OK_SELECT, "checking a correction");
		if (SPI_processed != 1 || !spi_bool(1))
			ereport(ERROR,
					(errcode(ERRCODE_CM_PERIOD_CLOSED),
					 errmsg("compliance period %d (%s) is closed", period, period_name),
					 errdetail("It was closed on %s; participant " INT64_FORMAT " (%s) has no shortfall to correct for it.",
							   closed_on, participant_id, unit_name),
					 errhint("After the close only a sanctioned shortfall can be made up (改正, carbonmkt.sanction).")));
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
		return PointerGetDatum(trigdata->tg_trigtuple);
	}

	/* 3. Lock the unit's obligation row: one surrender per unit at a time. */
	args[0] = Int64GetDatum(participant_id);
	args[1] = Int32GetDatum(period);
	run_plan(obligation_insert_plan, args, NULL, SPI_OK_INSERT, "creating the obligation row");
	run_plan(obligation_lock_plan, args, NULL, SPI_OK_SELECT, "locking the obligation row");
	if (SPI_processed != 1)
		elog(ERROR, "compliance: obligation row of participant " INT64_FORMAT " for period %d vanished",
			 participant_id, period);
	cea_t = spi_int8(1, &isnull);
	ccer_t = spi_int8(2, &isnull);
	local_t = spi_int8(3, &isnull);
	borrowed_used_t = spi_int8(4, &isnull);

	/* 4. The unit's figures: emissions, obligation, offset cap. */
	run_plan(figures_plan, args, NULL, SPI_OK_SELECT, "computing the obligation");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_CM_NOT_COVERED),
				 errmsg("participant " INT64_FORMAT " (%s) is not covered by compliance period %d",
						participant_id, unit_name, period),
				 errdetail("A period covers the key emitting units of its jurisdiction whose sector is covered by %d.",
						   last_year)));
	years = spi_int4(1, &isnull);
	years_confirmed = spi_int4(2, &isnull);
	(void) spi_col(3, &isnull);
	if (isnull)
	{
		if (first_year == last_year)
			ereport(ERROR,
					(errcode(ERRCODE_CM_NO_EMISSIONS),
					 errmsg("no confirmed emissions for participant " INT64_FORMAT " (%s) in %d",
							participant_id, unit_name, first_year),
					 errdetail("Compliance period %d needs the unit's confirmed emissions (经确认排放量) of %d.",
							   period, first_year),
					 errhint("The province confirms emissions (MRV) before the unit surrenders.")));
		ereport(ERROR,
				(errcode(ERRCODE_CM_NO_EMISSIONS),
				 errmsg("no confirmed emissions for participant " INT64_FORMAT " (%s) in %d-%d",
						participant_id, unit_name, first_year, last_year),
				 errdetail("Confirmed emissions (经确认排放量) exist for %d of the %d years of compliance period %d.",
						   years_confirmed, years, period),
				 errhint("The province confirms emissions (MRV) before the unit surrenders.")));
	}
	obligation_t = spi_int8(4, &isnull);
	borrowed_t = spi_int8(5, &isnull);
	basis_label = spi_text(6);
	ratio_pct = spi_text(7);
	basis_t = spi_int8(8, &isnull);
	cap_t = spi_int8(9, &cap_null);
	local_share = spi_col(10, &share_null);
	if (!share_null)
		local_share = datumCopy(local_share, false, -1);
	local_pct = spi_text(11);
	unit_province = spi_text(12);
	jurisdiction = spi_text(13);

	if (!is_ccer)
	{
		/* 5a. CEA: banking earlier vintages is fine, later ones only borrowed. */
		if (vintage > last_year)
		{
			int64		left = borrowed_t - borrowed_used_t;

			if (vintage != last_year + 1 || qty > left)
				ereport(ERROR,
						(errcode(ERRCODE_CM_LATER_VINTAGE),
						 errmsg("CEA vintage %d is later than compliance period %d (%s)",
								vintage, period, period_name),
						 errdetail("Allowances of %d or earlier (banked) may be surrendered; of %d only what was borrowed (预支) for the period: borrowed %s, already surrendered %s, requested %s.",
								   last_year, last_year + 1, fmt_t(borrowed_t), fmt_t(borrowed_used_t),
								   fmt_t(qty)),
						 errhint("Borrowing needs a hardship flag from the province (carbonmkt.borrow_allowances).")));
			add_borrowed = qty;
		}
		add_cea = qty;
	}
	else
	{
		bool		local;

		/* 5b. CCER: eligibility, each rule by name. */
		args[0] = CStringGetTextDatum(project);
		args[1] = Int32GetDatum(period);
		run_plan(project_plan, args, NULL, SPI_OK_SELECT, "reading the CCER project");
		if (SPI_processed != 1)
			elog(ERROR, "compliance: rules of period %d vanished", period);
		if (!spi_bool(1))
			ereport(ERROR,
					(errcode(ERRCODE_CM_CCER_INELIGIBLE),
					 errmsg("CCER %s %d is not eligible for period %d: project not registered",
							project, vintage, period),
					 errdetail("The project is not in the CCER project registry (carbonmkt.ccer_project), so its type and host cannot be checked."),
					 errhint("The national authority records projects with carbonmkt.register_ccer_project().")));
		{
			int32		min_v = spi_int4(8, &isnull);

			if (!isnull && vintage < min_v)
				ereport(ERROR,
						(errcode(ERRCODE_CM_CCER_INELIGIBLE),
						 errmsg("CCER %s %d is not eligible for period %d: vintage window, vintage %d is before %d",
								project, vintage, period, vintage, min_v),
						 errdetail("The offset rule of jurisdiction %s accepts reductions from %d on.",
								   spi_text(12), min_v)));
			min_v = spi_int4(9, &isnull);
			if (!isnull && vintage < min_v)
				ereport(ERROR,
						(errcode(ERRCODE_CM_CCER_INELIGIBLE),
						 errmsg("CCER %s %d is not eligible for period %d: vintage window, vintage %d is before %d",
								project, vintage, period, vintage, min_v),
						 errdetail("The offset rule of jurisdiction %s accepts vintages at most %d years before %d.",
								   spi_text(12), last_year - min_v, last_year)));
		}
		if (spi_bool(10))
			ereport(ERROR,
					(errcode(ERRCODE_CM_CCER_INELIGIBLE),
					 errmsg("CCER %s %d is not eligible for period %d: excluded project type %s (%s)",
							project, vintage, period, spi_text(2), spi_text(3)),
					 errdetail("The offset rule of jurisdiction %s excludes this project type.", spi_text(12))));
		if (spi_bool(11) && spi_bool(6))
			ereport(ERROR,
					(errcode(ERRCODE_CM_CCER_INELIGIBLE),
					 errmsg("CCER %s %d is not eligible for period %d: project inside a covered unit",
							project, vintage, period),
					 errdetail("The project is hosted by key emitting unit %s (%s); CCER from projects inside covered units cannot offset.",
							   spi_text(5), spi_text(7))));
		local = (strcmp(spi_text(4), unit_province) == 0);

		/* 6. The offset cap on its basis. */
		if (cap_null)
			ereport(ERROR,
					(errcode(ERRCODE_CM_OFFSET_CAP),
					 errmsg("no offset cap for participant " INT64_FORMAT " in period %d", participant_id, period),
					 errdetail("The offset basis (%s) of the unit is unknown.", basis_label)));
		if (ccer_t + qty > cap_t)
			ereport(ERROR,
					(errcode(ERRCODE_CM_OFFSET_CAP),
					 errmsg("offset %s exceeds the %s%% cap of %s (basis: %s %s)",
							fmt_t(ccer_t + qty), ratio_pct, fmt_t(cap_t), basis_label, fmt_t(basis_t)),
					 errdetail("Participant " INT64_FORMAT " (%s), period %d: %s of CCER surrendered before, %s now.",
							   participant_id, unit_name, period, fmt_t(ccer_t), fmt_t(qty)),
					 errhint("The offset ratio and its basis are rows of carbonmkt.offset_rule (jurisdiction %s).",
							 jurisdiction)));

		/* 7. The local share minimum, checked on the running totals. */
		if (!share_null)
		{
			int64		new_total = ccer_t + qty;
			int64		new_local = local_t + (local ? qty : 0);
			int64		need = numeric_share_ceil(local_share, new_total);

			if (new_local < need)
				ereport(ERROR,
						(errcode(ERRCODE_CM_LOCAL_SHARE),
						 errmsg("local CCER share below the %s%% minimum: %s local of %s CCER for period %d",
								local_pct, fmt_t(new_local), fmt_t(new_total), period),
						 errdetail("Project %s is in province %s, the unit in province %s; at least %s of the unit's CCER must be local.",
								   project, spi_text(4), unit_province, fmt_t(need)),
						 errhint("Surrender local CCER first (local_share_min of carbonmkt.offset_rule, jurisdiction %s).",
								 jurisdiction)));
		}
		add_ccer = qty;
		add_local = local ? qty : 0;
	}

	/* 8. Never beyond the remaining obligation. */
	if (cea_t + ccer_t + qty > obligation_t)
	{
		int64		remaining = obligation_t - cea_t - ccer_t;

		ereport(ERROR,
				(errcode(ERRCODE_CM_BEYOND_OBLIGATION),
				 errmsg("surrender of %s exceeds the remaining obligation of %s",
						fmt_t(qty), fmt_t(remaining < 0 ? 0 : remaining)),
				 errdetail("Participant " INT64_FORMAT " (%s), period %d: obligation %s, surrendered %s of CEA and %s of CCER.",
						   participant_id, unit_name, period, fmt_t(obligation_t), fmt_t(cea_t), fmt_t(ccer_t)),
				 errhint("Allowances beyond the obligation stay in the account and can be banked for later periods.")));
	}

	/* 9. Keep the running totals (under the row lock taken above). */
	args[0] = Int64GetDatum(participant_id);
	args[1] = Int32GetDatum(period);
	args[2] = Int64GetDatum(add_cea);
	args[3] = Int64GetDatum(add_ccer);
	args[4] = Int64GetDatum(add_local);
	args[5] = Int64GetDatum(add_borrowed);
	args[6] = recorded_at;
	run_plan(obligation_update_plan, args, nulls, SPI_OK_UPDATE, "updating the obligation");
	args[2] = CStringGetTextDatum(instrument);
	args[3] = Int32GetDatum(vintage);
	args[4] = CStringGetTextDatum(project);
	args[5] = Int64GetDatum(qty);
	run_plan(detail_plan, args, NULL, SPI_OK_INSERT, "recording the surrender detail");

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");

	return PointerGetDatum(trigdata->tg_trigtuple);
}
