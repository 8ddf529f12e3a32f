/*-------------------------------------------------------------------------
 *
 * operations.c
 *	  What keeps the registry safe from a DBA's ordinary tools: the drop
 *	  guard (DROP EXTENSION / DROP SCHEMA carbonmkt and TRUNCATE of a ledger
 *	  table are refused while the journal holds entries) and the refusal of
 *	  journal history written outside a restore.
 *
 *	  The SQL side (dump registration, the seeded-row snapshot, the restore
 *	  of changed seeded rows) is in src/operations.sql; the procedures are
 *	  in doc/operations.md.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/operations.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "carbonmkt.h"

#define ERRCODE_CARBONMKT_LEDGER_GUARD		MAKE_SQLSTATE('C','M','9','0','1')
#define ERRCODE_CARBONMKT_HISTORY			MAKE_SQLSTATE('C','M','9','0','2')

PG_FUNCTION_INFO_V1(carbonmkt_drop_guard);

/*
 * carbonmkt.allow_ledger_drop: a superuser who really means to destroy the
 * registry sets it for the one transaction (SET LOCAL); see
 * doc/operations.md, "The drop guard".
 */
static bool allow_ledger_drop = false;

/*
 * carbonmkt_operations_init
 *		Define the GUCs of this file; called by _PG_init.
 */
void
carbonmkt_operations_init(void)
{
	DefineCustomBoolVariable("carbonmkt.allow_ledger_drop",
							 "Lets DROP EXTENSION carbonmkt, DROP SCHEMA carbonmkt and TRUNCATE of a ledger table destroy a journal that holds entries.",
							 "Only superusers may set it; set it with SET LOCAL, for the one transaction that means it (doc/operations.md).",
							 &allow_ledger_drop,
							 false,
							 PGC_SUSET,
							 GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
}

/*
 * journal_entries
 *		The number of rows of carbonmkt.journal, or 0 when there is no such
 *		table (the extension is half dropped or not installed).
 */
static int64
journal_entries(void)
{
	Oid			nsp = get_namespace_oid("carbonmkt", true);
	int64		n = 0;
	int			ret;

	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("journal", nsp)))
		return 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute("SELECT count(*) FROM carbonmkt.journal", true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "counting the journal failed: %s", SPI_result_code_string(ret));
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		n = isnull ? 0 : DatumGetInt64(d);
	}
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	return n;
}

/*
 * carbonmkt_ledger_guard
 *		Refuse an operation that would destroy the journal ("drop extension
 *		carbonmkt", "truncate table carbonmkt.holding") while it holds
 *		entries, unless carbonmkt.allow_ledger_drop is on.  SQLSTATE CM901.
 */
void
carbonmkt_ledger_guard(const char *what)
{
	int64		n;

	if (allow_ledger_drop)
		return;
	n = journal_entries();
	if (n == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_CARBONMKT_LEDGER_GUARD),
			 errmsg("cannot %s while the journal holds " INT64_FORMAT " entries", what, n),
			 errdetail("The journal is the registry's legal record (注册登记); this would destroy it."),
			 errhint("Take a backup first (doc/operations.md).  A superuser who really means it runs "
					 "SET LOCAL carbonmkt.allow_ledger_drop = on in the same transaction.")));
}

/*
 * carbonmkt_refuse_history
 *		A journal row that arrives with its chain hash already set is
 *		history: only a restore writes it, with triggers off
 *		(session_replication_role = replica, a superuser's setting; the
 *		chain trigger then does not fire).  Anywhere else it is refused
 *		(SQLSTATE CM902) rather than silently chained again.
 */
void
carbonmkt_refuse_history(int64 account_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_CARBONMKT_HISTORY),
			 errmsg("journal entry of account " INT64_FORMAT " arrives with its chain hash set", account_id),
			 errdetail("Rows with seq, prev_hash and hash are journal history; only a restore writes them, as they were."),
			 errhint("Restore with session_replication_role = replica, e.g. PGOPTIONS='-c session_replication_role=replica' pg_restore ... (doc/operations.md).")));
}

/*
 * carbonmkt_drop_guard()
 *		ddl_command_start event trigger for DROP EXTENSION and DROP SCHEMA:
 *		runs the ledger guard when carbonmkt is among the objects dropped.
 *		(CREATE EVENT TRIGGER ... WHEN TAG IN ('DROP EXTENSION', 'DROP
 *		SCHEMA'), enabled ALWAYS, so a restore session does not bypass it.)
 */
Datum
carbonmkt_drop_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	DropStmt   *stmt;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by the event trigger manager",
						"carbonmkt_drop_guard")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (trigdata->parsetree == NULL || !IsA(trigdata->parsetree, DropStmt))
		PG_RETURN_VOID();
	stmt = (DropStmt *) trigdata->parsetree;
	if (stmt->removeType != OBJECT_EXTENSION && stmt->removeType != OBJECT_SCHEMA)
		PG_RETURN_VOID();
	foreach(lc, stmt->objects)
	{
		Node	   *obj = (Node *) lfirst(lc);

		if (IsA(obj, String) && strcmp(strVal(obj), "carbonmkt") == 0)
			carbonmkt_ledger_guard(stmt->removeType == OBJECT_EXTENSION ?
								   "drop extension carbonmkt" :
								   "drop schema carbonmkt");
	}
	PG_RETURN_VOID();
}
