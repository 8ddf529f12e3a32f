/*-------------------------------------------------------------------------
 *
 * carbonmkt.c
 *	  Module entry point, GUCs and helpers shared by every room of carbonmkt.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/carbonmkt.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/plancache.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "carbonmkt.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * carbonmkt.clock: when set (superuser only), the extension's clock is frozen
 * at this instant, so a business day can be replayed.  Empty means real time.
 */
static char *carbonmkt_clock = NULL;

/*
 * carbonmkt.acting_room: set only through the SET clause of a room's
 * SECURITY DEFINER function (e.g. SET carbonmkt.acting_room = 'market'), so
 * that the registry knows the posting comes from a room that has already
 * authorised its caller by its own rules (doc/registry.md, Access).  It is
 * PGC_SUSET, so no ordinary role can set it; the function-level SET is undone
 * when the function returns.
 */
static char *acting_room = NULL;

/*
 * Module load: define the GUCs.
 */
void
_PG_init(void)
{
	DefineCustomStringVariable("carbonmkt.clock",
							   "Freezes carbonmkt's business clock at this timestamptz (empty: real time).",
							   "Used to replay a business day; only superusers may set it.",
							   &carbonmkt_clock,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("carbonmkt.acting_room",
							   "The carbonmkt room whose SECURITY DEFINER function is posting to the registry.",
							   "Set only by the SET clause of a room's functions; only superusers may set it.",
							   &acting_room,
							   "",
							   PGC_SUSET,
							   GUC_NOT_IN_SAMPLE | GUC_NO_RESET_ALL,
							   NULL, NULL, NULL);
	carbonmkt_operations_init();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("carbonmkt");
#else
	EmitWarningsOnPlaceholders("carbonmkt");
#endif
}

/*
 * carbonmkt_check_vintage
 *		Raise 22003 unless the vintage lies in the window the types accept.
 *
 * "what" names the value being checked, e.g. "allowance vintage".
 */
void
carbonmkt_check_vintage(int32 vintage, const char *what)
{
	if (vintage < CARBONMKT_MIN_VINTAGE || vintage > CARBONMKT_MAX_VINTAGE)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s %d is out of range", what, vintage),
				 errdetail("Vintages must be between %d and %d.",
						   CARBONMKT_MIN_VINTAGE, CARBONMKT_MAX_VINTAGE)));
}

/*
 * carbonmkt_clock_now
 *		The extension's clock: carbonmkt.clock when set, else the real time.
 */
PG_FUNCTION_INFO_V1(carbonmkt_clock_now);
Datum
carbonmkt_clock_now(PG_FUNCTION_ARGS)
{
	if (carbonmkt_clock != NULL && carbonmkt_clock[0] != '\0')
		PG_RETURN_DATUM(DirectFunctionCall3(timestamptz_in,
											CStringGetDatum(carbonmkt_clock),
											ObjectIdGetDatum(InvalidOid),
											Int32GetDatum(-1)));
	PG_RETURN_TIMESTAMPTZ(GetCurrentTimestamp());
}

/*
 * carbonmkt_acting_room
 *		The room named by carbonmkt.acting_room, or NULL outside a room's
 *		function.  Calling it loads the module, so a placeholder value that a
 *		non-superuser set before the module was loaded is discarded first.
 */
PG_FUNCTION_INFO_V1(carbonmkt_acting_room);
Datum
carbonmkt_acting_room(PG_FUNCTION_ARGS)
{
	if (acting_room == NULL || acting_room[0] == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(acting_room));
}

/*
 * carbonmkt_keep_plan
 *		SPI_prepare a statement with the given cursor options (e.g.
 *		CURSOR_OPT_GENERIC_PLAN, CURSOR_OPT_CUSTOM_PLAN, or 0 for the default
 *		choice) and keep the plan for the life of the backend.  Every room's
 *		saved plans are made here; the caller must be connected to SPI.
 */
SPIPlanPtr
carbonmkt_keep_plan(const char *sql, int nargs, Oid *argtypes, int cursor_options)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed for \"%s\"", sql);
	return plan;
}

/*
 * carbonmkt_keep_lookup_plan
 *		SPI_prepare a statement and keep the plan for the life of the backend.
 *		The plan is generic (parameters are never looked at when planning):
 *		every statement prepared this way is a lookup by key, so it is
 *		planned with sequential scans disabled; otherwise a backend that
 *		first posts while a table is still empty (or analysed so) would keep
 *		a sequential scan of it until the next ANALYZE.
 */
SPIPlanPtr
carbonmkt_keep_lookup_plan(const char *sql, int nargs, Oid *argtypes)
{
	int			nestlevel = NewGUCNestLevel();
	SPIPlanPtr	plan;
	CachedPlan *cplan;

	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	plan = carbonmkt_keep_plan(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

	/* plan now, under this setting (else the first execution would) */
	cplan = SPI_plan_get_cached_plan(plan);
	if (cplan != NULL)
		ReleaseCachedPlan(cplan, CurrentResourceOwner);
	AtEOXact_GUC(true, nestlevel);

	return plan;
}
