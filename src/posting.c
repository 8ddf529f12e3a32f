/*-------------------------------------------------------------------------
 *
 * posting.c
 *	  The registry's one posting engine: every posting that writes the journal
 *	  is made here -- issuance (签发) of CEA and CCER, cash deposit (入金) and
 *	  withdrawal (出金), transfers (转移) of every instrument, surrender (清缴)
 *	  and voluntary cancellation (注销), holds (冻结), their release and
 *	  settlement from them -- and the market's batch settlement, whose legs
 *	  settle_batch (src/settlement.c) hands to posting_batch().  Also who may
 *	  post (carbonmkt._authorize).  A posting runs as few statements as it
 *	  can, each an SPI plan prepared once per backend:
 *
 *		1. the posting row (idempotency key, sealed-day check), before any lock;
 *		2. one statement that locks the accounts in account_id order and reads
 *		   everything the checks need (kind, status, owner, whether the kind
 *		   may hold the instrument, the chain head);
 *		3. one guarded UPDATE ... RETURNING per holding (the guard is the
 *		   available-quantity rule, so no separate read); for CCER, the serial
 *		   blocks moved (ccer_block: lowest serials first, split and merged);
 *		4. the journal legs; the chain trigger is told the heads read in
 *		   step 2, so it does not read them again, and the heads are written
 *		   once after the legs (src/chain.c owns the heads): for a quick
 *		   posting without a statement, through the executor's row routines
 *		   (insert_legs_direct), otherwise one INSERT.
 *
 *	  Every rule, message and SQLSTATE is the API's (doc/registry.md); a
 *	  refusal changes nothing.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/posting.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_enum.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgtime.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/inval.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "carbonmkt.h"
#include "chain.h"
#include "posting.h"

/* SQLSTATEs of the registry room (doc/registry.md) */
#define ERRCODE_CARBONMKT_UNKNOWN_ACCOUNT		MAKE_SQLSTATE('C','M','0','0','1')
#define ERRCODE_CARBONMKT_ACCOUNT_STATE			MAKE_SQLSTATE('C','M','0','0','3')
#define ERRCODE_CARBONMKT_KIND_INSTRUMENT		MAKE_SQLSTATE('C','M','0','0','5')
#define ERRCODE_CARBONMKT_NO_ISSUANCE			MAKE_SQLSTATE('C','M','0','0','6')
#define ERRCODE_CARBONMKT_BLOCK_NOT_HELD		MAKE_SQLSTATE('C','M','0','1','0')
#define ERRCODE_CARBONMKT_INSUFFICIENT			MAKE_SQLSTATE('C','M','0','0','4')
#define ERRCODE_CARBONMKT_REFERENCE_REUSED		MAKE_SQLSTATE('C','M','0','0','7')
#define ERRCODE_CARBONMKT_HOLD					MAKE_SQLSTATE('C','M','0','0','8')
#define ERRCODE_CARBONMKT_DAY_SEALED			MAKE_SQLSTATE('C','M','0','1','2')
#define ERRCODE_CARBONMKT_MISSING_ARGUMENT		MAKE_SQLSTATE('C','M','9','0','4')

PG_FUNCTION_INFO_V1(carbonmkt_authorize);
PG_FUNCTION_INFO_V1(carbonmkt_rules_changed);
PG_FUNCTION_INFO_V1(carbonmkt_transfer);
PG_FUNCTION_INFO_V1(carbonmkt_transfer_cea);
PG_FUNCTION_INFO_V1(carbonmkt_transfer_cny);
PG_FUNCTION_INFO_V1(carbonmkt_surrender_cea);
PG_FUNCTION_INFO_V1(carbonmkt_cancel_cea);
PG_FUNCTION_INFO_V1(carbonmkt_hold);
PG_FUNCTION_INFO_V1(carbonmkt_release_hold);
PG_FUNCTION_INFO_V1(carbonmkt_transfer_from_hold);
PG_FUNCTION_INFO_V1(carbonmkt_transfer_ccer);
PG_FUNCTION_INFO_V1(carbonmkt_transfer_ccer_block);
PG_FUNCTION_INFO_V1(carbonmkt_surrender_ccer);
PG_FUNCTION_INFO_V1(carbonmkt_cancel_ccer);
PG_FUNCTION_INFO_V1(carbonmkt_retire_cea);
PG_FUNCTION_INFO_V1(carbonmkt_retire_ccer);
PG_FUNCTION_INFO_V1(carbonmkt_issue_cea);
PG_FUNCTION_INFO_V1(carbonmkt_issue_ccer);
PG_FUNCTION_INFO_V1(carbonmkt_deposit_cny);
PG_FUNCTION_INFO_V1(carbonmkt_withdraw_cny);
PG_FUNCTION_INFO_V1(carbonmkt_record_posting);

/* ----------------------------------------------------------------
 *		The registry's vocabulary, as enumerations
 * ----------------------------------------------------------------
 *
 * Names arrive from SQL (enum labels, the action of _authorize) and are
 * turned into these once, where they arrive; the posting path compares
 * these, never strings.
 */

/* instruments: enum Instrument (posting.h), in the order of enum carbonmkt.instrument */
static const char *const instrument_names[] = {"CEA", "CCER", "CNY", NULL};

/* what _authorize() is asked for (doc/registry.md, Access) */
typedef enum PostingAction
{
	ACTION_NONE,				/* NULL: no rule allows it */
	ACTION_OTHER,				/* a name no rule knows */
	ACTION_ISSUE,
	ACTION_CASH,
	ACTION_TRANSFER,
	ACTION_HOLD,
	ACTION_RELEASE,
	ACTION_SETTLE,
	ACTION_SURRENDER,
	ACTION_CANCEL
} PostingAction;

static const char *const action_names[] = {
	NULL, NULL, "issue", "cash", "transfer", "hold", "release", "settle", "surrender", "cancel"
};

/* why units are held, in the order of enum carbonmkt.hold_reason */
typedef enum HoldReason
{
	REASON_ORDER,
	REASON_PLEDGE,
	REASON_JUDICIAL,
	REASON_OTHER,
	REASON_PAID_LOCK,
	REASON_NONE					/* NULL */
} HoldReason;

static const char *const reason_names[] = {"order", "pledge", "judicial", "other", "paid_lock", NULL};

/* the journal's entry kinds a posting writes (enum carbonmkt.entry_kind) */
typedef enum EntryKind
{
	ENTRY_ISSUE,
	ENTRY_WITHDRAW,
	ENTRY_DEBIT,
	ENTRY_CREDIT,
	ENTRY_HOLD,
	ENTRY_RELEASE,
	ENTRY_SURRENDER,
	ENTRY_CANCEL,
	ENTRY_RETIRE,
	ENTRY_UNKNOWN
} EntryKind;

static const char *const entry_kind_names[] = {
	"issue", "withdraw", "debit", "credit", "hold", "release", "surrender", "cancel", "retire", NULL
};

/* account states (enum carbonmkt.account_status) and the kinds the rules name */
typedef enum AccountStatus
{
	STATUS_OPEN,
	STATUS_FROZEN,
	STATUS_CLOSED,
	STATUS_OTHER
} AccountStatus;

typedef enum AccountClass
{
	CLASS_ORDINARY,				/* holding, cash, clearing, ... */
	CLASS_AUTHORITY,			/* allocation, national_reserve: moved by their authority */
	CLASS_CANCELLATION			/* retired units: never move */
} AccountClass;

/* the index of name in names[0..n-1], or dflt (NULL matches nothing) */
static int
name_index(const char *name, const char *const *names, int n, int dflt)
{
	if (name != NULL)
		for (int i = 0; i < n; i++)
			if (names[i] != NULL && strcmp(name, names[i]) == 0)
				return i;
	return dflt;
}

static Instrument
instrument_of(const char *name)
{
	return (Instrument) name_index(name, instrument_names, INSTRUMENT_UNKNOWN, INSTRUMENT_UNKNOWN);
}

static PostingAction
action_of(const char *name)
{
	return name == NULL ? ACTION_NONE :
		(PostingAction) name_index(name, action_names, lengthof(action_names), ACTION_OTHER);
}

static HoldReason
reason_of(const char *name)
{
	return (HoldReason) name_index(name, reason_names, REASON_NONE, REASON_NONE);
}

static EntryKind
entry_kind_of(const char *name)
{
	return (EntryKind) name_index(name, entry_kind_names, ENTRY_UNKNOWN, ENTRY_UNKNOWN);
}

/* ----------------------------------------------------------------
 *		Saved plans
 * ----------------------------------------------------------------
 */

typedef enum PostingPlanId
{
	PLAN_POSTING_NEW_ID,		/* a posting without client reference, id drawn */
	PLAN_POSTING_NEW_REF,		/* with one; nothing if it is taken */
	PLAN_POSTING_FIND,			/* the posting of a client reference */
	PLAN_POSTING_NEW_REQUEST,	/* a posting recorded with its request */
	PLAN_ACCOUNT_READ,			/* an account, unlocked (authorisation) */
	PLAN_ACCOUNTS_LOCK,			/* lock one or two accounts, read them */
	PLAN_ACCOUNTS_LOCK_TID,		/* the same, at known row versions */
	PLAN_ACCOUNT_LOCK_ONE,		/* lock one account, read it */
	PLAN_ACCOUNT_LOCK_ONE_TID,	/* the same, at a known row version */
	PLAN_CALLER,				/* the login's participant */
	PLAN_CANCELLATION,			/* the cancellation account */
	PLAN_LEG_UPDATE,			/* guarded change of a holding */
	PLAN_LEGS_UPDATE_TWO,		/* the same for two accounts */
	PLAN_LEGS_UPDATE_TWO_TID,	/* the same, at known row versions */
	PLAN_LEG_INSERT,			/* first holding of an asset */
	NUM_POSTING_PLANS
} PostingPlanId;

typedef struct PostingPlanDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[24];
} PostingPlanDef;

/*
 * The statements.  Enum-typed values travel as text and are cast in SQL, so
 * no enum OID is ever cached here.  In the statements that go to a known row
 * version (ctid = ...), the key is compared as "column + 0", which no index
 * can serve, so that the planner always takes the TID scan.
 */
static const PostingPlanDef plan_defs[NUM_POSTING_PLANS] = {
	[PLAN_POSTING_NEW_ID] = {
		"INSERT INTO carbonmkt.posting (posting_id, operation, initiator, result, business_date, recorded_at) "
		"OVERRIDING SYSTEM VALUE VALUES ($1, $2, session_user, $3, $4, $5)",
		5, {INT8OID, TEXTOID, INT8OID, DATEOID, TIMESTAMPTZOID}
	},
	[PLAN_POSTING_NEW_REF] = {
		"INSERT INTO carbonmkt.posting AS p (operation, initiator, reference, request, business_date, recorded_at) "
		"SELECT $1, session_user, $4, $5, $2, $3 "
		"WHERE NOT EXISTS (SELECT 1 FROM carbonmkt.day_seal s WHERE s.business_date >= $2) "
		"ON CONFLICT (initiator, reference) WHERE reference IS NOT NULL DO NOTHING "
		"RETURNING p.posting_id",
		5, {TEXTOID, DATEOID, TIMESTAMPTZOID, TEXTOID, TEXTOID}
	},
	[PLAN_POSTING_FIND] = {
		"SELECT p.posting_id, p.operation, p.request, p.result FROM carbonmkt.posting p "
		"WHERE p.initiator = session_user AND p.reference = $1",
		1, {TEXTOID}
	},
	[PLAN_POSTING_NEW_REQUEST] = {
		"INSERT INTO carbonmkt.posting AS p (operation, initiator, request, business_date, recorded_at) "
		"VALUES ($1, session_user, $2, $3, $4) RETURNING p.posting_id",
		4, {TEXTOID, TEXTOID, DATEOID, TIMESTAMPTZOID}
	},
	[PLAN_ACCOUNT_READ] = {
		"SELECT a.account_id, a.kind::text, a.status::text, a.participant_id, a.province::text "
		"FROM carbonmkt.account a WHERE a.account_id = $1",
		1, {INT8OID}
	},
	[PLAN_ACCOUNTS_LOCK] = {
		"SELECT a.account_id, a.kind::text, a.status::text, a.participant_id, a.province::text, "
		"a.head_seq, a.head_hash, a.ctid "
		"FROM carbonmkt.account a WHERE a.account_id IN ($1, $2) "
		"ORDER BY a.account_id FOR NO KEY UPDATE OF a",
		2, {INT8OID, INT8OID}
	},
	[PLAN_ACCOUNTS_LOCK_TID] = {
		"SELECT a.account_id, a.kind::text, a.status::text, a.participant_id, a.province::text, "
		"a.head_seq, a.head_hash, a.ctid "
		"FROM carbonmkt.account a WHERE a.ctid = ANY ($3) AND a.account_id + 0 IN ($1, $2) "
		"ORDER BY a.account_id FOR NO KEY UPDATE OF a",
		3, {INT8OID, INT8OID, TIDARRAYOID}
	},
	[PLAN_ACCOUNT_LOCK_ONE] = {
		"SELECT a.account_id, a.kind::text, a.status::text, a.participant_id, a.province::text, "
		"a.head_seq, a.head_hash, a.ctid "
		"FROM carbonmkt.account a WHERE a.account_id = $1 FOR NO KEY UPDATE OF a",
		1, {INT8OID}
	},
	[PLAN_ACCOUNT_LOCK_ONE_TID] = {
		"SELECT a.account_id, a.kind::text, a.status::text, a.participant_id, a.province::text, "
		"a.head_seq, a.head_hash, a.ctid "
		"FROM carbonmkt.account a WHERE a.ctid = $2 AND a.account_id + 0 = $1 FOR NO KEY UPDATE OF a",
		2, {INT8OID, TIDOID}
	},
	[PLAN_CALLER] = {
		"SELECT l.participant_id, p.kind::text, p.province::text "
		"FROM carbonmkt.participant_login l "
		"LEFT JOIN carbonmkt.participant p ON p.participant_id = l.participant_id "
		"WHERE l.role_name = session_user",
		0, {InvalidOid}
	},
	[PLAN_CANCELLATION] = {
		"SELECT account_id FROM carbonmkt.account WHERE kind = 'cancellation'",
		0, {InvalidOid}
	},
	[PLAN_LEG_UPDATE] = {
		"UPDATE carbonmkt.holding SET balance = balance + $5, held = held + $6 "
		"WHERE account_id = $1 AND instrument = $2::carbonmkt.instrument AND vintage = $3 "
		"AND project = $4 AND balance + $5 >= held + $6 AND held + $6 >= 0 "
		"RETURNING account_id, balance, held, ctid",
		6, {INT8OID, TEXTOID, INT4OID, TEXTOID, INT8OID, INT8OID}
	},
	[PLAN_LEGS_UPDATE_TWO] = {
		"UPDATE carbonmkt.holding h SET balance = h.balance + v.amount, held = h.held + v.held_change "
		"FROM (VALUES ($1, $5, $6), ($7, $8, $9)) v(account_id, amount, held_change) "
		"WHERE h.account_id = v.account_id AND h.instrument = $2::carbonmkt.instrument "
		"AND h.vintage = $3 AND h.project = $4 "
		"AND h.balance + v.amount >= h.held + v.held_change AND h.held + v.held_change >= 0 "
		"RETURNING h.account_id, h.balance, h.held, h.ctid",
		9, {INT8OID, TEXTOID, INT4OID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID}
	},
	[PLAN_LEGS_UPDATE_TWO_TID] = {
		"UPDATE carbonmkt.holding h SET balance = h.balance + v.amount, held = h.held + v.held_change "
		"FROM (VALUES ($1, $5, $6, $10), ($7, $8, $9, $11)) v(account_id, amount, held_change, tid) "
		"WHERE h.ctid = v.tid AND h.account_id + 0 = v.account_id "
		"AND h.instrument = $2::carbonmkt.instrument AND h.vintage = $3 AND h.project = $4 "
		"AND h.balance + v.amount >= h.held + v.held_change AND h.held + v.held_change >= 0 "
		"RETURNING h.account_id, h.balance, h.held, h.ctid",
		11, {INT8OID, TEXTOID, INT4OID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
		TIDOID, TIDOID}
	},
	[PLAN_LEG_INSERT] = {
		"INSERT INTO carbonmkt.holding (account_id, instrument, vintage, project, balance, held) "
		"VALUES ($1, $2::carbonmkt.instrument, $3, $4, $5, $6) RETURNING account_id, balance, held, ctid",
		6, {INT8OID, TEXTOID, INT4OID, TEXTOID, INT8OID, INT8OID}
	},
};

static SPIPlanPtr posting_plans[NUM_POSTING_PLANS];

static SPIPlanPtr
posting_plan(PostingPlanId id)
{
	if (posting_plans[id] == NULL)
	{
		const PostingPlanDef *def = &plan_defs[id];

		posting_plans[id] = carbonmkt_keep_lookup_plan(def->sql, def->nargs,
													   (Oid *) def->argtypes);
	}
	return posting_plans[id];
}

/*
 * run_plan
 *		Execute a saved plan (nulls: ' ' or 'n' per argument, or NULL for none)
 *		and check that it returned the expected kind of result.
 */
static uint64
run_plan(PostingPlanId id, Datum *values, const char *nulls, int expected)
{
	int			ret = SPI_execute_plan(posting_plan(id), values, nulls, false, 0);

	if (ret != expected)
		elog(ERROR, "carbonmkt posting statement %d failed: %s",
			 (int) id, SPI_result_code_string(ret));
	return SPI_processed;
}

/* result column accessors for row r of SPI_tuptable (columns from 1) */
static Datum
col_datum(uint64 r, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, col, isnull);
}

static int64
col_int64(uint64 r, int col, bool *isnull)
{
	bool		n;
	Datum		d = col_datum(r, col, &n);

	if (isnull)
		*isnull = n;
	return n ? 0 : DatumGetInt64(d);
}

static char *
col_cstring(uint64 r, int col)
{
	bool		n;
	Datum		d = col_datum(r, col, &n);

	return n ? NULL : TextDatumGetCString(d);
}

/* ----------------------------------------------------------------
 *		Clock, identity
 * ----------------------------------------------------------------
 */

/* carbonmkt.clock_now() */
static TimestampTz
posting_clock_now(void)
{
	LOCAL_FCINFO(fcinfo, 0);

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	return DatumGetTimestampTz(carbonmkt_clock_now(fcinfo));
}

/*
 * carbonmkt.business_date(ts): the calendar date of ts in China Standard
 * Time, i.e. (ts AT TIME ZONE 'Asia/Shanghai')::date.
 */
static DateADT
posting_business_date(TimestampTz ts)
{
	static pg_tz *shanghai = NULL;
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	DateADT		result;

	if (TIMESTAMP_IS_NOBEGIN(ts))
	{
		DATE_NOBEGIN(result);
		return result;
	}
	if (TIMESTAMP_IS_NOEND(ts))
	{
		DATE_NOEND(result);
		return result;
	}
	if (shanghai == NULL)
	{
		shanghai = pg_tzset("Asia/Shanghai");
		if (shanghai == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("time zone \"%s\" not recognized", "Asia/Shanghai")));
	}
	if (timestamp2tm(ts, &tzoff, &tm, &fsec, NULL, shanghai) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
}

static bool catalog_has(const char *signature);

/*
 * carbonmkt._is_member(role): the login (session_user) is a superuser, or a
 * member of the role (pg_has_role(..., 'MEMBER')) and, for a staff role,
 * mapped to a party of a kind the role stands for (carbonmkt._is_member()
 * says, doc/security.md: staff scope fails closed).  PostgreSQL caches role
 * membership per backend, so a login that is no member (every participant)
 * costs no query.  Within SPI.
 */
static bool
login_is_member(const char *rolname)
{
	static int	has_staff_kinds = -1;	/* unknown, no (a 0.1.0 catalog), yes */
	static SPIPlanPtr plan = NULL;
	Oid			login = GetSessionUserId();
	Oid			role;
	Datum		args[1];
	bool		isnull;

	if (superuser_arg(login))
		return true;
	role = get_role_oid(rolname, true);
	if (!OidIsValid(role) || !is_member_of_role(login, role))
		return false;
	/* a catalog that has no mapping rule yet is asked again (ALTER EXTENSION UPDATE) */
	if (has_staff_kinds <= 0)
		has_staff_kinds = catalog_has("carbonmkt._staff_kinds(text)") ? 1 : 0;
	if (has_staff_kinds == 0)
		return true;
	if (plan == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};

		plan = carbonmkt_keep_plan("SELECT carbonmkt._is_member($1)", 1, argtypes, 0);
	}
	args[0] = CStringGetTextDatum(rolname);
	if (SPI_execute_plan(plan, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "checking the staff mapping of the login failed");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) && !isnull;
}

/*
 * The room posting through a SECURITY DEFINER function, as carbonmkt._acting_room()
 * says: true for the rooms that authorise their callers themselves.
 */
static bool
acting_room_authorises(void)
{
	LOCAL_FCINFO(fcinfo, 0);
	Datum		room;
	const char *name;

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	room = carbonmkt_acting_room(fcinfo);
	if (fcinfo->isnull)
		return false;
	name = TextDatumGetCString(room);
	return strcmp(name, "allocation") == 0 || strcmp(name, "market") == 0 ||
		strcmp(name, "compliance") == 0 || strcmp(name, "finance") == 0;
}

/* ----------------------------------------------------------------
 *		Rules read by every posting
 * ----------------------------------------------------------------
 */

/*
 * Which instruments each account kind may hold (account_kind_instrument)
 * and the last sealed business day (day_seal) change rarely and are read by
 * every posting, so each backend keeps them, read once.  Every change of
 * either table fires carbonmkt.rules_changed(), which sends a relcache
 * invalidation of the table; PostgreSQL delivers it to every backend (to
 * this one at its next command, to the others at their next transaction
 * or lock), and posting_forget() drops what was read.  As in any snapshot,
 * a seal committed while a posting is under way may be seen by the next.
 */
#define RULES_MAX_PAIRS 64

static bool rules_loaded = false;
static int	rules_npairs;
static char rules_kind[RULES_MAX_PAIRS][NAMEDATALEN];
static Instrument rules_instrument[RULES_MAX_PAIRS];
static bool rules_issue[RULES_MAX_PAIRS];
static bool rules_sealed_null;
static DateADT rules_sealed;

static Oid	posting_seq_relid = InvalidOid;
static bool posting_callback_registered = false;

static uint64 holding_hint_generation = 1;

static void
posting_forget(Datum arg, Oid relid)
{
	rules_loaded = false;
	holding_hint_generation++;
	posting_seq_relid = InvalidOid;
}

static void
posting_callback_init(void)
{
	if (!posting_callback_registered)
	{
		CacheRegisterRelcacheCallback(posting_forget, (Datum) 0);
		posting_callback_registered = true;
	}
}

/* read the rules (within SPI) */
static void
rules_load(void)
{
	uint64		n;
	bool		isnull;

	if (rules_loaded)
		return;
	posting_callback_init();
	if (SPI_execute("SELECT kind::text, instrument::text, may_issue FROM carbonmkt.account_kind_instrument",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading carbonmkt.account_kind_instrument failed");
	n = SPI_processed;
	if (n > RULES_MAX_PAIRS)
		elog(ERROR, "carbonmkt.account_kind_instrument has more than %d rows", RULES_MAX_PAIRS);
	for (uint64 r = 0; r < n; r++)
	{
		strlcpy(rules_kind[r], col_cstring(r, 1), NAMEDATALEN);
		rules_instrument[r] = instrument_of(col_cstring(r, 2));
		rules_issue[r] = DatumGetBool(col_datum(r, 3, &isnull)) && !isnull;
	}
	rules_npairs = (int) n;
	if (SPI_execute("SELECT max(business_date) FROM carbonmkt.day_seal", false, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "reading carbonmkt.day_seal failed");
	{
		Datum		d = col_datum(0, 1, &rules_sealed_null);

		rules_sealed = rules_sealed_null ? 0 : DatumGetDateADT(d);
	}
	rules_loaded = true;
}

/* whether an account kind may hold an instrument */
static bool
rules_may_hold(const char *kind, Instrument instrument)
{
	rules_load();
	for (int i = 0; i < rules_npairs; i++)
		if (rules_instrument[i] == instrument && strcmp(rules_kind[i], kind) == 0)
			return true;
	return false;
}

/* whether issuance may credit an account kind with an instrument */
static bool
rules_may_issue(const char *kind, Instrument instrument)
{
	rules_load();
	for (int i = 0; i < rules_npairs; i++)
		if (rules_instrument[i] == instrument && strcmp(rules_kind[i], kind) == 0)
			return rules_issue[i];
	return false;
}

/* whether business day bdate is sealed */
static bool
rules_day_sealed(DateADT bdate)
{
	rules_load();
	return !rules_sealed_null && bdate <= rules_sealed;
}

/*
 * carbonmkt.rules_changed() trigger: AFTER INSERT OR UPDATE OR DELETE OR
 * TRUNCATE FOR EACH STATEMENT on the rule tables the postings keep.
 */
Datum
carbonmkt_rules_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager",
						"carbonmkt_rules_changed")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

/* ----------------------------------------------------------------
 *		Accounts and who may move them
 * ----------------------------------------------------------------
 */

typedef struct AccountRow
{
	bool		found;
	int64		account_id;
	char	   *kind;
	char	   *status;
	AccountStatus status_code;	/* status, as an enumeration */
	AccountClass class;			/* what the rules make of the kind */
	bool		participant_null;
	int64		participant_id;
	char	   *province;		/* NULL when null */
	bool		may_hold;		/* locked reads only */
	int64		head_seq;
	bytea	   *head_hash;
	ItemPointerData tid;
} AccountRow;

static const char *
int64_text(int64 v, bool isnull)
{
	return isnull ? "<NULL>" : psprintf(INT64_FORMAT, v);
}

/* an action as the messages name it: "issue", "settle", "set up" ... */
static char *
action_words(const char *action)
{
	char	   *s = pstrdup(action);

	for (char *p = s; *p; p++)
		if (*p == '_')
			*p = ' ';
	return s;
}

/* status_code and class from the status and kind read */
static void
account_classify(AccountRow *a)
{
	static const char *const statuses[] = {"open", "frozen", "closed"};

	a->status_code = (AccountStatus) name_index(a->status, statuses, lengthof(statuses), STATUS_OTHER);
	if (strcmp(a->kind, "cancellation") == 0)
		a->class = CLASS_CANCELLATION;
	else if (strcmp(a->kind, "allocation") == 0 || strcmp(a->kind, "national_reserve") == 0)
		a->class = CLASS_AUTHORITY;
	else
		a->class = CLASS_ORDINARY;
}

/* fill *a from columns 1..5 of row r of SPI_tuptable */
static void
account_from_row(uint64 r, AccountRow *a)
{
	a->found = true;
	a->account_id = col_int64(r, 1, NULL);
	a->kind = col_cstring(r, 2);
	a->status = col_cstring(r, 3);
	a->participant_id = col_int64(r, 4, &a->participant_null);
	a->province = col_cstring(r, 5);
	account_classify(a);
	a->may_hold = false;
	a->head_hash = NULL;
	ItemPointerSetInvalid(&a->tid);
}

static void
account_read(int64 account_id, bool account_null, AccountRow *a)
{
	Datum		args[1];

	a->found = false;
	if (account_null)
		return;
	args[0] = Int64GetDatum(account_id);
	if (run_plan(PLAN_ACCOUNT_READ, args, NULL, SPI_OK_SELECT) == 1)
		account_from_row(0, a);
}

/*
 * authorize
 *		carbonmkt._authorize(account, action, reason): raise 42501 unless the
 *		login may perform the action on the account (doc/registry.md, Access);
 *		CM001 for an unknown account, CM003 for any attempt to move units out
 *		of the cancellation account.  a is the account as read (found or not).
 *		reason is a hold reason or NULL; action may be NULL (nothing matches).
 */
static void
authorize_named(int64 account_id, bool account_null, const AccountRow *a,
				PostingAction action, const char *action_name, HoldReason reason)
{
	bool		me_null = true;
	int64		me = 0;
	char	   *my_kind = NULL;
	char	   *my_prov = NULL;
	bool		is_issue = action == ACTION_ISSUE;
	bool		is_cash = action == ACTION_CASH;
	bool		authority_over;

	if (!a->found)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_UNKNOWN_ACCOUNT),
				 errmsg("account %s does not exist", int64_text(account_id, account_null))));
	/* retired units never move again, whoever asks (清缴/注销 are final) */
	if (a->class == CLASS_CANCELLATION && action != ACTION_NONE && !is_issue && !is_cash)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_ACCOUNT_STATE),
				 errmsg("units in the cancellation account " INT64_FORMAT " are retired and can never move",
						account_id),
				 errdetail("Refused action: %s.", action_words(action_name))));
	if (login_is_member("carbonmkt_registry"))
		return;

	/*
	 * a room's SECURITY DEFINER function (SET carbonmkt.acting_room =
	 * '<room>') has authorised its caller by the room's own rules before it
	 * posts
	 */
	if (acting_room_authorises())
		return;

	if (run_plan(PLAN_CALLER, NULL, NULL, SPI_OK_SELECT) >= 1)
	{
		me = col_int64(0, 1, &me_null);
		my_kind = col_cstring(0, 2);
		my_prov = col_cstring(0, 3);
	}
	/*
	 * Authority accounts fail closed (doc/security.md): only a login mapped
	 * to the national authority (any allocation account, the national
	 * reserve) or to a provincial authority (its own province's allocation
	 * account) issues into or moves them.  A city authority, and an
	 * authority login mapped to no authority, never create units.
	 */
	authority_over = false;
	if (my_kind != NULL && login_is_member("carbonmkt_authority"))
	{
		if (strcmp(my_kind, "national_authority") == 0)
			authority_over = a->class == CLASS_AUTHORITY;
		else if (strcmp(my_kind, "provincial_authority") == 0)
			authority_over = strcmp(a->kind, "allocation") == 0 &&
				a->province != NULL && my_prov != NULL && strcmp(a->province, my_prov) == 0;
	}

	if (is_issue)
	{
		/*
		 * a mapped national or provincial authority issuing into an account
		 * kind that receives no issuance hears so (CM006) further on
		 */
		if (authority_over ||
			(my_kind != NULL && login_is_member("carbonmkt_authority") &&
			 a->class != CLASS_AUTHORITY &&
			 (strcmp(my_kind, "national_authority") == 0 ||
			  strcmp(my_kind, "provincial_authority") == 0)))
			return;
	}
	else if (is_cash)
	{
		if (login_is_member("carbonmkt_settlement"))
			return;
	}
	else if (a->class == CLASS_AUTHORITY)
	{
		/* authority accounts move only by their authority */
		if (authority_over)
			return;
	}
	else if (reason == REASON_JUDICIAL || reason == REASON_PAID_LOCK)
	{
		/*
		 * judicial freezes are laid and lifted by the registry only; so are
		 * paid-allocation locks (or the finance room, above)
		 */
	}
	else if (reason == REASON_PLEDGE && action != ACTION_NONE && action != ACTION_HOLD)
	{
		/* a pledge is released or enforced by the registry only */
	}
	else if (((action == ACTION_HOLD && reason == REASON_ORDER) || action == ACTION_SETTLE) &&
			 login_is_member("carbonmkt_exchange"))
	{
		/* the exchange lays, settles and releases order holds, nothing else */
		return;
	}
	else if (!a->participant_null && !me_null && a->participant_id == me &&
			 (action == ACTION_TRANSFER || action == ACTION_HOLD || action == ACTION_RELEASE ||
			  action == ACTION_SURRENDER || action == ACTION_CANCEL))
		return;

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" may not %s on account " INT64_FORMAT,
					GetUserNameFromId(GetSessionUserId(), false),
					action_name ? action_words(action_name) : "<NULL>", account_id),
			 errdetail("The login acts for participant %s%s%s.",
					   me_null ? "(none)" : psprintf(INT64_FORMAT, me),
					   my_kind ? ", a " : "", my_kind ? my_kind : ""),
			 errhint("Participants move only their own accounts; authority accounts need a login mapped to their authority (doc/security.md).")));
}

/* authorize_named() for an action of the enumeration */
static void
authorize(int64 account_id, bool account_null, const AccountRow *a,
		  PostingAction action, HoldReason reason)
{
	authorize_named(account_id, account_null, a, action, action_names[action], reason);
}

/*
 * carbonmkt._authorize(account bigint, action text, reason hold_reason) -> void
 *		The SQL face of authorize(), for the rooms' own checks.
 */
Datum
carbonmkt_authorize(PG_FUNCTION_ARGS)
{
	bool		account_null = PG_ARGISNULL(0);
	int64		account_id = account_null ? 0 : PG_GETARG_INT64(0);
	char	   *action = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	HoldReason	reason = REASON_NONE;
	AccountRow	a;

	if (!PG_ARGISNULL(2))
		reason = reason_of(DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(2))));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	account_read(account_id, account_null, &a);
	authorize_named(account_id, account_null, &a, action_of(action), action, reason);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_VOID();
}

/*
 * lock_accounts
 *		Lock the accounts (one or two; a NULL id locks nothing) FOR NO KEY
 *		UPDATE in account_id order and read them, with whether their kind may
 *		hold the instrument.  rows[] receives them in account_id order;
 *		returns how many were found.
 */
/* fill rows[r] from row r of a lock statement */
static void
locked_row(uint64 r, AccountRow *row)
{
	bool		isnull;
	Datum		d;

	account_from_row(r, row);
	row->head_seq = col_int64(r, 6, &isnull);
	d = col_datum(r, 7, &isnull);
	row->head_hash = isnull ? NULL : DatumGetByteaPP(d);
	d = col_datum(r, 8, &isnull);
	if (!isnull)
		ItemPointerCopy((ItemPointer) DatumGetPointer(d), &row->tid);
	else
		ItemPointerSetInvalid(&row->tid);
	/* from here on the chain trigger knows this head (chain.c) */
	chain_head_locked(row->account_id, row->head_seq, row->head_hash, &row->tid);
}

/* lock one account (straight at the row version this transaction left, if known) */
static bool
lock_one_account(int64 account_id, AccountRow *row)
{
	ItemPointerData tid;
	Datum		args[2];

	args[0] = Int64GetDatum(account_id);
	if (chain_head_tid(account_id, &tid))
	{
		args[1] = PointerGetDatum(&tid);
		if (run_plan(PLAN_ACCOUNT_LOCK_ONE_TID, args, NULL, SPI_OK_SELECT) == 1)
		{
			locked_row(0, row);
			return true;
		}
	}
	if (run_plan(PLAN_ACCOUNT_LOCK_ONE, args, NULL, SPI_OK_SELECT) != 1)
		return false;
	locked_row(0, row);
	return true;
}

/*
 * lock_accounts
 *		Lock the accounts (one or two; a NULL id locks nothing) FOR NO KEY
 *		UPDATE in account_id order and read them, with whether their kind may
 *		hold the instrument.  rows[] receives them in account_id order;
 *		returns how many were found.
 *
 *		When this transaction has written these rows before, the locks go
 *		straight to the row versions it left: by key, PostgreSQL would visit
 *		every version the transaction made (a posting makes one per account,
 *		and none can be pruned before the transaction ends), so many
 *		postings to one account in one transaction would cost each more than
 *		the last.
 */
static int
lock_accounts(int64 first, bool first_null, int64 second, bool second_null,
			  Instrument instrument, AccountRow *rows)
{
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	uint64		n = 0;
	ItemPointerData tids[2];
	bool		hint[2];
	int			want;

	if (!first_null && !second_null && first == second)
		second_null = true;
	if (!first_null && !second_null && second < first)
	{
		int64		x = first;

		first = second;
		second = x;
	}
	else if (first_null && !second_null)
	{
		first = second;
		first_null = false;
		second_null = true;
	}
	want = (first_null ? 0 : 1) + (second_null ? 0 : 1);
	hint[0] = !first_null && chain_head_tid(first, &tids[0]);
	hint[1] = !second_null && chain_head_tid(second, &tids[1]);

	if (want == 2 && hint[0] != hint[1])
	{
		/* one row known, one not: one at a time, in account_id order */
		if (lock_one_account(first, &rows[n]))
			n++;
		if (lock_one_account(second, &rows[n]))
			n++;
	}
	else
	{
		args[0] = Int64GetDatum(first);
		nulls[0] = first_null ? 'n' : ' ';
		args[1] = Int64GetDatum(second);
		nulls[1] = second_null ? 'n' : ' ';
		if (want > 0 && hint[0] && (want == 1 || hint[1]))
		{
			Datum		td[2];

			td[0] = PointerGetDatum(&tids[0]);
			td[1] = PointerGetDatum(&tids[1]);
			args[2] = PointerGetDatum(construct_array_builtin(td, want, TIDOID));
			n = run_plan(PLAN_ACCOUNTS_LOCK_TID, args, nulls, SPI_OK_SELECT);
			if (n != (uint64) want)
				n = 0;			/* a row moved on: by key */
		}
		if (n == 0 && want > 0)
			n = run_plan(PLAN_ACCOUNTS_LOCK, args, nulls, SPI_OK_SELECT);
		if (n > 2)
			elog(ERROR, "locking accounts returned " UINT64_FORMAT " rows", n);
		for (uint64 r = 0; r < n; r++)
			locked_row(r, &rows[r]);
	}
	for (uint64 r = 0; r < n; r++)
		rows[r].may_hold = rules_may_hold(rows[r].kind, instrument);
	return (int) n;
}

static const AccountRow *
find_row(const AccountRow *rows, int n, int64 account_id, bool account_null)
{
	if (account_null)
		return NULL;
	for (int i = 0; i < n; i++)
		if (rows[i].account_id == account_id)
			return &rows[i];
	return NULL;
}

/*
 * lock_problem
 *		Whether the locked rows may take part in the posting (the checks of
 *		0.1.0's PL/pgSQL _lock_accounts()): an account whose kind cannot hold
 *		the instrument, a closed account, a frozen one that is debited, or an
 *		unknown one.
 */
static bool
lock_problem(const AccountRow *rows, int n, int64 debit, bool debit_null,
			 int64 credit, bool credit_null)
{
	int			wanted = 0;

	for (int i = 0; i < n; i++)
	{
		if (!rows[i].may_hold || rows[i].status_code == STATUS_CLOSED)
			return true;
		if (rows[i].status_code == STATUS_FROZEN && !debit_null &&
			rows[i].account_id == debit)
			return true;
	}
	if (!debit_null)
		wanted++;
	if (!credit_null && (debit_null || credit != debit))
		wanted++;
	return n != wanted;
}

/* ----------------------------------------------------------------
 *		Postings: idempotency and the sealed-day rule
 * ----------------------------------------------------------------
 */

typedef struct Posting
{
	const char *operation;
	TimestampTz ts;
	DateADT		bdate;
	bool		recorded;		/* the posting row is in (else the legs' statement
								 * inserts it) */
	bool		quick;			/* no room's trigger on the tables it writes:
								 * see posting_mode() */
	int64		posting_id;		/* 0 until check_sealed() */
	bool		replay;			/* the client reference was already used */
	bool		result_null;	/* the original posting's result, on replay */
	int64		result;
} Posting;

/*
 * raise_if_sealed
 *		CM012 when business day bdate is sealed.
 */
static void
raise_if_sealed(DateADT bdate)
{
	Oid			argtypes[1] = {DATEOID};
	Datum		args[1];
	char	   *day;
	char	   *sealed;

	args[0] = DateADTGetDatum(bdate);
	if (SPI_execute_with_args("SELECT to_char($1, 'YYYY-MM-DD'), to_char(max(s.business_date), 'YYYY-MM-DD') "
							  "FROM carbonmkt.day_seal s HAVING max(s.business_date) >= $1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the day seals failed");
	if (SPI_processed == 0)
		return;
	day = col_cstring(0, 1);
	sealed = col_cstring(0, 2);
	ereport(ERROR,
			(errcode(ERRCODE_CARBONMKT_DAY_SEALED),
			 errmsg("business day %s is sealed", day),
			 errdetail("Days up to %s are sealed; no posting may be dated on or before them.", sealed)));
}

/*
 * posting_begin
 *		Start a posting, as 0.1.0's PL/pgSQL _begin_posting() did: dated
 *		now by the extension's clock.  With a client reference, record it
 *		now, or find the one this login's reference made (p->replay);
 *		request, the canonical text of the request, is what a retry is
 *		compared with and is stored only then.  Without a reference the
 *		row is inserted with the journal legs (insert_legs), and the
 *		sealed-day rule is checked by check_sealed() on the first
 *		statement's reading, so it still wins over every later check, as
 *		it did when _begin_posting came first.
 */
static void
posting_begin(Posting *p, const char *operation, text *reference, const char *request)
{
	Datum		args[5];

	p->operation = operation;
	p->ts = posting_clock_now();
	p->bdate = posting_business_date(p->ts);
	p->recorded = false;
	p->posting_id = 0;
	p->replay = false;
	p->result_null = true;
	p->result = 0;
	if (reference == NULL)
		return;

	args[0] = CStringGetTextDatum(operation);
	args[1] = DateADTGetDatum(p->bdate);
	args[2] = TimestampTzGetDatum(p->ts);
	args[3] = PointerGetDatum(reference);
	args[4] = CStringGetTextDatum(request);
	for (;;)
	{
		Datum		find[1];

		find[0] = PointerGetDatum(reference);
		if (run_plan(PLAN_POSTING_FIND, find, NULL, SPI_OK_SELECT) == 1)
		{
			int64		old_id = col_int64(0, 1, NULL);
			char	   *old_operation = col_cstring(0, 2);
			char	   *old_request = col_cstring(0, 3);

			if (strcmp(old_operation, operation) != 0 ||
				(old_request != NULL && strcmp(old_request, request) != 0))
				ereport(ERROR,
						(errcode(ERRCODE_CARBONMKT_REFERENCE_REUSED),
						 errmsg("client reference \"%s\" was already used for a different request",
								text_to_cstring(reference)),
						 errdetail("Posting " INT64_FORMAT " was %s. This request is %s.",
								   old_id, old_request ? old_request : "", request),
						 errhint("Use a new client reference for a new request; resend the same request to get the original result.")));
			p->posting_id = old_id;
			p->recorded = true;
			p->replay = true;
			p->result = col_int64(0, 4, &p->result_null);
			return;
		}
		if (run_plan(PLAN_POSTING_NEW_REF, args, NULL, SPI_OK_INSERT_RETURNING) == 1)
		{
			p->posting_id = col_int64(0, 1, NULL);
			p->recorded = true;
			return;
		}
		raise_if_sealed(p->bdate);
		/* a concurrent session committed the same reference: look again */
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The posting id is drawn from posting's identity sequence when the posting
 * passes the sealed-day check, where _begin_posting inserted the row, so a
 * refused posting uses up an id exactly as before.  The row itself is
 * inserted with the journal legs (OVERRIDING SYSTEM VALUE).
 */
static void
reserve_posting_id(Posting *p)
{
	if (p->recorded)
		return;
	if (!OidIsValid(posting_seq_relid))
	{
		Oid			relid = get_relname_relid("posting", get_namespace_oid("carbonmkt", false));

		posting_callback_init();
		if (!OidIsValid(relid))
			elog(ERROR, "table carbonmkt.posting does not exist");
		posting_seq_relid = getIdentitySequence(relid, 1, false);
	}
	p->posting_id = nextval_internal(posting_seq_relid, false);
}

/*
 * check_sealed
 *		CM012 when the posting's business day is sealed (a posting recorded
 *		by posting_begin() was checked there), then draw its id and choose
 *		how the posting writes, for journal rows of the given entry kinds
 *		(kind2 NULL for a posting of one leg).
 */
static void posting_mode(Posting *p, const char *kind1, const char *kind2);

static void
check_sealed(Posting *p, const char *kind1, const char *kind2)
{
	if (!p->recorded)
	{
		if (rules_day_sealed(p->bdate))
		{
			raise_if_sealed(p->bdate);
			elog(ERROR, "the day seals changed while posting");
		}
		reserve_posting_id(p);
	}
	posting_mode(p, kind1, kind2);
}

/*
 * posting_mode
 *		How the posting writes.  When no room's trigger runs on the tables a
 *		posting writes, nor on the journal for rows of the posting's entry
 *		kinds (chain_can_defer()), nothing can run between its
 *		statements, and it writes in as few statements as it can: both
 *		holdings in one, then the journal legs with the posting row and the
 *		heads.  Otherwise another room's trigger may post, or read what this
 *		posting wrote, in the middle of it, so it writes in the order of the
 *		PL/pgSQL original: the posting row now (as _begin_posting did), then
 *		each leg's holding and journal row in turn (as _leg did), each head
 *		written by the chain trigger as it advances.
 */
static void
posting_mode(Posting *p, const char *kind1, const char *kind2)
{
	const char *kinds[2] = {kind1, kind2};

	p->quick = chain_can_defer(kinds, kind2 == NULL ? 1 : 2);
	if (!p->quick && !p->recorded)
	{
		Datum		args[5];
		char		nulls[5] = {' ', ' ', 'n', ' ', ' '};

		args[0] = Int64GetDatum(p->posting_id);
		args[1] = CStringGetTextDatum(p->operation);
		args[2] = (Datum) 0;
		args[3] = DateADTGetDatum(p->bdate);
		args[4] = TimestampTzGetDatum(p->ts);
		run_plan(PLAN_POSTING_NEW_ID, args, nulls, SPI_OK_INSERT);
		p->recorded = true;
	}
}

/* ----------------------------------------------------------------
 *		Legs
 * ----------------------------------------------------------------
 */

/* one account's side of a posting */
typedef struct Leg
{
	int64		account_id;
	bool		account_null;
	EntryKind	kind;
	int64		amount;			/* signed change of balance */
	int64		held_change;	/* signed change of held */
	int64		counterparty;
	bool		counterparty_null;
	int64		hold_id;
	bool		hold_null;
	const char *block;			/* CCER serial block (text), or NULL */
	/* set by apply_leg() */
	int64		balance_after;
	int64		held_after;
} Leg;

/* the asset of a posting */
typedef struct Asset
{
	const char *instrument;		/* its name, for SQL */
	Instrument	instr;
	int32		vintage;
	bool		vintage_null;
	text	   *project;
} Asset;

/* set the instrument of an asset (a label of enum carbonmkt.instrument, or NULL) */
static void
asset_instrument(Asset *asset, const char *name)
{
	asset->instr = instrument_of(name);
	asset->instrument = name;
}

/*
 * Where this transaction last left each holding row it changed: a hint that
 * takes the next change of the row straight to that version (see
 * lock_accounts), checked against the key.  Entries of another transaction,
 * or from before a relcache invalidation, say nothing.
 */
typedef struct HoldingHintKey
{
	int64		account_id;
	int32		vintage;
	char		instrument[8];
	char		project[CCER_MAX_PROJECT_LEN + 8];
} HoldingHintKey;

typedef struct HoldingHint
{
	HoldingHintKey key;
	uint64		generation;		/* 0: empty */
	LocalTransactionId lxid;
	ItemPointerData tid;
} HoldingHint;

/* direct-mapped, in static memory (an entry another key takes is forgotten) */
#define HOLDING_HINTS_SIZE	4096	/* a power of two */

static HoldingHint holding_hints[HOLDING_HINTS_SIZE];

static bool
holding_hint_key(HoldingHintKey *key, int64 account_id, const Asset *asset)
{
	const char *project;
	int			len;

	if (asset->vintage_null || asset->project == NULL)
		return false;
	project = VARDATA_ANY(asset->project);
	len = VARSIZE_ANY_EXHDR(asset->project);
	if (len >= (int) sizeof(key->project) || strlen(asset->instrument) >= sizeof(key->instrument))
		return false;
	memset(key, 0, sizeof(*key));
	key->account_id = account_id;
	key->vintage = asset->vintage;
	strlcpy(key->instrument, asset->instrument, sizeof(key->instrument));
	memcpy(key->project, project, len);
	return true;
}

static HoldingHint *
holding_hint_slot(const HoldingHintKey *key)
{
	return &holding_hints[hash_bytes((const unsigned char *) key, sizeof(*key)) &
						  (HOLDING_HINTS_SIZE - 1)];
}

/* the row version this transaction last left a holding at, if known */
static HoldingHint *
holding_hint(int64 account_id, const Asset *asset)
{
	HoldingHintKey key;
	HoldingHint *h;

	if (!holding_hint_key(&key, account_id, asset))
		return NULL;
	h = holding_hint_slot(&key);
	if (h->generation != holding_hint_generation || h->lxid != MyProc->lxid ||
		memcmp(&h->key, &key, sizeof(key)) != 0)
		return NULL;
	return h;
}

static void
holding_hint_store(int64 account_id, const Asset *asset, Datum tid)
{
	HoldingHintKey key;
	HoldingHint *h;

	if (!holding_hint_key(&key, account_id, asset))
		return;
	posting_callback_init();
	h = holding_hint_slot(&key);
	memcpy(&h->key, &key, sizeof(key));
	h->generation = holding_hint_generation;
	h->lxid = MyProc->lxid;
	ItemPointerCopy((ItemPointer) DatumGetPointer(tid), &h->tid);
}

/* the new balance and held of a leg, from row r of a holding change */
static void
leg_returned(Leg *leg, const Asset *asset, uint64 r)
{
	bool		isnull;
	Datum		tid;

	leg->balance_after = col_int64(r, 2, NULL);
	leg->held_after = col_int64(r, 3, NULL);
	tid = col_datum(r, 4, &isnull);
	if (!isnull)
		holding_hint_store(leg->account_id, asset, tid);
}

/*
 * apply_leg
 *		Change the holding of a leg, unless that would make available
 *		(balance - held) or held negative; insert the holding when a credit
 *		finds none.  Returns false when the holding would go negative or a
 *		debit finds no holding.
 */
static bool
apply_leg(Leg *leg, const Asset *asset)
{
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	args[0] = Int64GetDatum(leg->account_id);
	nulls[0] = leg->account_null ? 'n' : ' ';
	args[1] = CStringGetTextDatum(asset->instrument);
	args[2] = Int32GetDatum(asset->vintage);
	nulls[2] = asset->vintage_null ? 'n' : ' ';
	args[3] = PointerGetDatum(asset->project);
	nulls[3] = asset->project == NULL ? 'n' : ' ';
	args[4] = Int64GetDatum(leg->amount);
	args[5] = Int64GetDatum(leg->held_change);
	if (run_plan(PLAN_LEG_UPDATE, args, nulls, SPI_OK_UPDATE_RETURNING) != 1)
	{
		/* only a credit may find no holding: it makes the first */
		if (leg->amount <= 0 || leg->held_change != 0)
			return false;
		/* first units of this asset in the account */
		if (run_plan(PLAN_LEG_INSERT, args, nulls, SPI_OK_INSERT_RETURNING) != 1)
			elog(ERROR, "inserting a holding failed");
	}
	leg_returned(leg, asset, 0);
	return true;
}

/*
 * apply_two_legs
 *		apply_leg() for the two legs of a movement, debit first: one
 *		statement when they are on two different accounts (straight at the
 *		row versions this transaction left, when it changed both rows
 *		before).  Returns false when the debit is refused.
 */
static bool
apply_two_legs(Leg *legs, const Asset *asset)
{
	Datum		args[11];
	char		nulls[11] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		done[2] = {false, false};
	HoldingHint *hints[2];
	uint64		n;

	if (legs[0].account_null || legs[1].account_null ||
		legs[0].account_id == legs[1].account_id)
		return apply_leg(&legs[0], asset) && apply_leg(&legs[1], asset);

	args[0] = Int64GetDatum(legs[0].account_id);
	args[1] = CStringGetTextDatum(asset->instrument);
	args[2] = Int32GetDatum(asset->vintage);
	nulls[2] = asset->vintage_null ? 'n' : ' ';
	args[3] = PointerGetDatum(asset->project);
	nulls[3] = asset->project == NULL ? 'n' : ' ';
	args[4] = Int64GetDatum(legs[0].amount);
	args[5] = Int64GetDatum(legs[0].held_change);
	args[6] = Int64GetDatum(legs[1].account_id);
	args[7] = Int64GetDatum(legs[1].amount);
	args[8] = Int64GetDatum(legs[1].held_change);
	hints[0] = holding_hint(legs[0].account_id, asset);
	hints[1] = holding_hint(legs[1].account_id, asset);
	if (hints[0] != NULL && hints[1] != NULL)
	{
		args[9] = PointerGetDatum(&hints[0]->tid);
		args[10] = PointerGetDatum(&hints[1]->tid);
		n = run_plan(PLAN_LEGS_UPDATE_TWO_TID, args, nulls, SPI_OK_UPDATE_RETURNING);
	}
	else
		n = run_plan(PLAN_LEGS_UPDATE_TWO, args, nulls, SPI_OK_UPDATE_RETURNING);
	for (uint64 r = 0; r < n; r++)
	{
		int64		id = col_int64(r, 1, NULL);

		for (int k = 0; k < 2; k++)
			if (!done[k] && legs[k].account_id == id)
			{
				leg_returned(&legs[k], asset, r);
				done[k] = true;
			}
	}
	/* a leg not changed at its hint, or refused there: once more by key */
	if (!done[0] && !apply_leg(&legs[0], asset))
		return false;
	if (!done[1] && !apply_leg(&legs[1], asset))
		elog(ERROR, "crediting account " INT64_FORMAT " failed", legs[1].account_id);
	return true;
}

/*
 * The statement that appends the journal legs of a posting (one or two)
 * when the chain trigger leaves the heads to the posting
 * (chain_can_defer()): the journal INSERT, with two data-modifying
 * CTEs that PostgreSQL runs after it, once it has inserted every leg
 * (ExecPostprocessPlan): the posting row, when it is not in yet, and the
 * heads of the posting's accounts, as the trigger advanced them
 * (carbonmkt._posting_head_seq/_hash, which refuse to answer before the
 * trigger did).  One statement instead of three.  Parameters:
 *		$1  posting id
 *		$2  instrument, $3 vintage, $4 project, $5 period, $6 business date,
 *		$7  recorded at, $8 memo
 *		per leg, from $9 on, 9 each: account, entry kind, amount, held change,
 *		balance after, held after, counterparty, hold id, CCER block (text)
 *		then, with heads: the two accounts whose heads to write (the same one
 *		twice for one), and with TIDs the TIDs of their locked row versions
 *		then, with the posting: the operation and the result
 */
/*
 * The one statement head that appends to the journal: every posting's legs
 * (journal_plan) and a batch's rows (posting_batch) go in through it.  The
 * chain trigger (src/chain.c) sets seq, prev_hash and hash of every row.
 */
#define JOURNAL_INSERT \
	"INSERT INTO carbonmkt.journal (posting_id, account_id, seq, kind, instrument, " \
	"vintage, project, block, amount, held_change, balance_after, held_after, " \
	"counterparty, hold_id, period, business_date, recorded_at, memo, prev_hash, hash) "

#define LEG_NPARAMS		9
#define LEGS_BASE		9
#define LEGS_MAXARGS	(LEGS_BASE - 1 + 2 * LEG_NPARAMS + 5)

/* [legs - 1][inserts the posting][writes the heads][by TID] */
static SPIPlanPtr journal_plans[2][2][2][2];

static SPIPlanPtr
journal_plan(int nlegs, bool with_posting, bool with_heads, bool by_tid)
{
	SPIPlanPtr *slot = &journal_plans[nlegs - 1][with_posting][with_heads][by_tid];

	if (*slot == NULL)
	{
		StringInfoData sql;
		Oid			argtypes[LEGS_MAXARGS];
		int			nargs = 0;
		int			heads_arg = 0;
		int			operation_arg = 0;
		static const Oid shared[LEGS_BASE - 1] = {INT8OID, TEXTOID, INT4OID, TEXTOID, INT4OID,
		DATEOID, TIMESTAMPTZOID, TEXTOID};
		static const Oid leg[LEG_NPARAMS] = {INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID,
		INT8OID, INT8OID, INT8OID, TEXTOID};

		for (int i = 0; i < LEGS_BASE - 1; i++)
			argtypes[nargs++] = shared[i];
		for (int l = 0; l < nlegs; l++)
			for (int i = 0; i < LEG_NPARAMS; i++)
				argtypes[nargs++] = leg[i];
		if (with_heads)
		{
			heads_arg = nargs + 1;
			argtypes[nargs++] = INT8OID;
			argtypes[nargs++] = INT8OID;
			if (by_tid)
				argtypes[nargs++] = TIDARRAYOID;
		}
		if (with_posting)
		{
			operation_arg = nargs + 1;
			argtypes[nargs++] = TEXTOID;
			argtypes[nargs++] = INT8OID;
		}

		initStringInfo(&sql);
		if (with_posting || with_heads)
			appendStringInfoString(&sql, "WITH ");
		if (with_posting)
			appendStringInfo(&sql,
							 "p AS (INSERT INTO carbonmkt.posting (posting_id, operation, initiator, result, "
							 "business_date, recorded_at) OVERRIDING SYSTEM VALUE "
							 "VALUES ($1, $%d, session_user, $%d, $6, $7))%s ",
							 operation_arg, operation_arg + 1, with_heads ? "," : "");
		if (with_heads)
			appendStringInfo(&sql,
							 "h AS (UPDATE carbonmkt.account a "
							 "SET head_seq = carbonmkt._posting_head_seq(a.account_id), "
							 "head_hash = carbonmkt._posting_head_hash(a.account_id) "
							 "WHERE %sa.account_id IN ($%d, $%d)) ",
							 by_tid ? psprintf("a.ctid = ANY ($%d) AND ", heads_arg + 2) : "",
							 heads_arg, heads_arg + 1);
		appendStringInfoString(&sql, JOURNAL_INSERT "VALUES ");
		for (int l = 0; l < nlegs; l++)
		{
			int			b = LEGS_BASE + l * LEG_NPARAMS;

			appendStringInfo(&sql, "%s($1, $%d, 0, $%d::carbonmkt.entry_kind, $2::carbonmkt.instrument, "
							 "$3, $4, $%d::carbonmkt.ccer, $%d, $%d, $%d, $%d, $%d, $%d, $5, $6, $7, $8, "
							 "'\\x'::bytea, '\\x'::bytea)",
							 l > 0 ? ", " : "", b, b + 1, b + 8, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7);
		}
		*slot = carbonmkt_keep_lookup_plan(sql.data, nargs, argtypes);
		pfree(sql.data);
	}
	return *slot;
}

/* ----------------------------------------------------------------
 *		A quick posting's rows without a statement
 * ----------------------------------------------------------------
 *
 * The journal legs of a quick posting (posting_mode), its posting row and
 * the heads its legs advanced go in through the executor's row routines,
 * the way PostgreSQL's logical replication applies a row
 * (ExecSimpleRelationInsert/-Update, executor/execReplication.c): each row
 * gets its BEFORE and AFTER row triggers (the chain trigger sets seq,
 * prev_hash and hash of every leg and advances the heads in memory, as for
 * the statement), its NOT NULL and CHECK constraints, its index entries and
 * its WAL, exactly as an INSERT or UPDATE statement would give it.  What is
 * left out is the statement around the rows -- the saved plan's executor
 * start-up and shut-down, its expressions, the casts of the enum labels --
 * which cost more than the rows themselves (doc/performance.md, "Server
 * time").  Only where nothing could tell the difference: a quick posting
 * (no trigger of any room on these tables, nor another INSERT trigger on
 * the journal, fires: chain_can_defer), no CCER block, the posting's user
 * allowed to insert and update the tables without row-level security
 * applying (the API functions run as their owner), and tables whose
 * columns are the ones named here or take NULL; otherwise the statement
 * (journal_plan) does it.  Statement-level triggers: none fire on a quick
 * posting's tables (chain_can_defer).
 */

/* the columns the rows are made of, by name; any other must take NULL */
typedef enum DirectColumn
{
	DC_NULL = 0,				/* a column that takes NULL (or dropped) */
	/* journal */
	DC_J_ENTRY_ID, DC_J_POSTING_ID, DC_J_ACCOUNT_ID, DC_J_SEQ, DC_J_KIND, DC_J_INSTRUMENT,
	DC_J_VINTAGE, DC_J_PROJECT, DC_J_AMOUNT, DC_J_HELD_CHANGE, DC_J_BALANCE_AFTER,
	DC_J_HELD_AFTER, DC_J_COUNTERPARTY, DC_J_HOLD_ID, DC_J_PERIOD, DC_J_BUSINESS_DATE,
	DC_J_RECORDED_AT, DC_J_MEMO, DC_J_PREV_HASH, DC_J_HASH,
	/* posting */
	DC_P_POSTING_ID, DC_P_OPERATION, DC_P_INITIATOR, DC_P_RESULT, DC_P_BUSINESS_DATE,
	DC_P_RECORDED_AT,
	/* account */
	DC_A_ACCOUNT_ID, DC_A_HEAD_SEQ, DC_A_HEAD_HASH
} DirectColumn;

typedef struct DirectName
{
	const char *name;
	DirectColumn col;
} DirectName;

static const DirectName journal_columns[] = {
	{"entry_id", DC_J_ENTRY_ID}, {"posting_id", DC_J_POSTING_ID}, {"account_id", DC_J_ACCOUNT_ID},
	{"seq", DC_J_SEQ}, {"kind", DC_J_KIND}, {"instrument", DC_J_INSTRUMENT},
	{"vintage", DC_J_VINTAGE}, {"project", DC_J_PROJECT}, {"block", DC_NULL},
	{"amount", DC_J_AMOUNT}, {"held_change", DC_J_HELD_CHANGE},
	{"balance_after", DC_J_BALANCE_AFTER}, {"held_after", DC_J_HELD_AFTER},
	{"counterparty", DC_J_COUNTERPARTY}, {"hold_id", DC_J_HOLD_ID}, {"period", DC_J_PERIOD},
	{"business_date", DC_J_BUSINESS_DATE}, {"recorded_at", DC_J_RECORDED_AT},
	{"memo", DC_J_MEMO}, {"prev_hash", DC_J_PREV_HASH}, {"hash", DC_J_HASH}, {NULL, DC_NULL}
};
static const DirectName posting_columns[] = {
	{"posting_id", DC_P_POSTING_ID}, {"operation", DC_P_OPERATION},
	{"initiator", DC_P_INITIATOR}, {"reference", DC_NULL}, {"request", DC_NULL},
	{"result", DC_P_RESULT}, {"business_date", DC_P_BUSINESS_DATE},
	{"recorded_at", DC_P_RECORDED_AT}, {NULL, DC_NULL}
};
static const DirectName account_columns[] = {
	{"account_id", DC_A_ACCOUNT_ID}, {"head_seq", DC_A_HEAD_SEQ}, {"head_hash", DC_A_HEAD_HASH},
	{NULL, DC_NULL}
};

#define DIRECT_MAX_ATTS		64

/* a table's columns as the rows are made (rebuilt after any relcache invalidation) */
typedef struct DirectTable
{
	const char *relname;
	const DirectName *names;
	bool		keeps_others;	/* rows updated: the columns not named are kept */
	uint64		generation;		/* holding_hint_generation when built; 0: never */
	bool		usable;			/* the rows can be made without a statement */
	Oid			relid;
	int			natts;
	DirectColumn cols[DIRECT_MAX_ATTS];
	Oid			kind_type;		/* journal: the enum types of kind, instrument */
	Oid			instrument_type;
	Oid			identity_seq;	/* journal: entry_id's sequence */
	AttrNumber	head_seq_att;	/* account: head_seq, head_hash */
	AttrNumber	head_hash_att;
	AttrNumber	account_id_att;
} DirectTable;

static DirectTable direct_journal = {"journal", journal_columns, false};
static DirectTable direct_posting = {"posting", posting_columns, false};
static DirectTable direct_account = {"account", account_columns, true};

/*
 * direct_table
 *		Open a table of the posting for writing rows and say whether its rows
 *		can be made here: every column named or taking NULL (nullable, no
 *		default, identity or generated expression but the ones the statement
 *		leaves to them: entry_id's identity) -- or, in a table whose rows are
 *		updated, kept --, no generated column, the user allowed (mode) and no
 *		row-level security applying.  *rel is opened (RowExclusiveLock, the
 *		lock the statement takes) even when false is returned.
 */
static bool
direct_table(DirectTable *t, AclMode mode, Relation *rel)
{
	TupleDesc	desc;

	posting_callback_init();
	if (t->generation != holding_hint_generation)
	{
		t->usable = false;
		t->generation = 0;
		t->relid = get_relname_relid(t->relname, get_namespace_oid("carbonmkt", false));
		if (!OidIsValid(t->relid))
			elog(ERROR, "table carbonmkt.%s does not exist", t->relname);
	}
	*rel = table_open(t->relid, RowExclusiveLock);
	desc = RelationGetDescr(*rel);
	if (t->generation != holding_hint_generation)
	{
		bool		usable = desc->natts <= DIRECT_MAX_ATTS &&
			(*rel)->rd_rel->relkind == RELKIND_RELATION;

		t->natts = desc->natts;
		t->head_seq_att = t->head_hash_att = t->account_id_att = InvalidAttrNumber;
		t->identity_seq = InvalidOid;
		for (int i = 0; usable && i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			DirectColumn c = DC_NULL;
			bool		named = false;

			t->cols[i] = DC_NULL;
			if (att->attisdropped)
				continue;
			for (const DirectName *n = t->names; n->name != NULL; n++)
				if (strcmp(NameStr(att->attname), n->name) == 0)
				{
					c = n->col;
					named = true;
					break;
				}
			t->cols[i] = c;
			if (att->attgenerated != '\0')
				usable = false;
			else if (c == DC_J_ENTRY_ID)
			{
				/* drawn from its identity sequence, as the statement does */
				usable = att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS &&
					att->atttypid == INT8OID;
				if (usable)
					t->identity_seq = getIdentitySequence(t->relid, att->attnum, false);
			}
			else if (t->keeps_others && !named)
				continue;		/* an updated row keeps its other columns */
			else if (!named || c == DC_NULL)
				usable = !att->attnotnull && !att->atthasdef && att->attidentity == '\0';
			else if (c == DC_J_KIND)
				t->kind_type = att->atttypid;
			else if (c == DC_J_INSTRUMENT)
				t->instrument_type = att->atttypid;
			else if (c == DC_A_HEAD_SEQ)
				t->head_seq_att = att->attnum;
			else if (c == DC_A_HEAD_HASH)
				t->head_hash_att = att->attnum;
			else if (c == DC_A_ACCOUNT_ID)
				t->account_id_att = att->attnum;
		}
		t->usable = usable;
		t->generation = holding_hint_generation;
	}
	return t->usable &&
		pg_class_aclcheck(t->relid, GetUserId(), mode) == ACLCHECK_OK &&
		check_enable_rls(t->relid, InvalidOid, true) != RLS_ENABLED;
}

/* the OID of an enum label (the cast text -> enum of the statement) */
static Datum
enum_label_datum(Oid enumtype, const char *label)
{
	Oid			oid = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
									  ObjectIdGetDatum(enumtype), CStringGetDatum(label));

	if (!OidIsValid(oid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input value for enum %s: \"%s\"",
						format_type_be(enumtype), label)));
	return ObjectIdGetDatum(oid);
}

/* a result relation of the posting's executor state */
static ResultRelInfo *
direct_result_rel(EState *estate, Relation rel, Index rti)
{
	ResultRelInfo *rri = makeNode(ResultRelInfo);

	InitResultRelInfo(rri, rel, rti, NULL, 0);
	ExecOpenIndices(rri, false);
	/* where the AFTER triggers' events find it; closed by ExecCloseResultRelations */
	estate->es_opened_result_relations = lappend(estate->es_opened_result_relations, rri);
	return rri;
}

/*
 * direct_write_head
 *		Write one pending head into its account row, at the row version the
 *		posting locked; false (nothing written) when that version is not the
 *		row's latest (chain_defer_finish then writes it by key).
 */
static bool
direct_write_head(EState *estate, EPQState *epq, ResultRelInfo *rri,
				  const ChainPendingHead *h)
{
	Relation	rel = rri->ri_RelationDesc;
	TupleTableSlot *oldslot = table_slot_create(rel, &estate->es_tupleTable);
	TupleTableSlot *newslot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel),
													 &TTSOpsVirtual);
	ItemPointerData tid = h->tid;
	HeapTuple	tuple;
	bool		should_free;
	bool		latest;
	bytea	   *hash;

	if (!table_tuple_fetch_row_version(rel, &tid, SnapshotAny, oldslot))
		return false;
	tuple = ExecFetchSlotHeapTuple(oldslot, false, &should_free);
	/* the latest version, locked (not updated) by this transaction */
	latest = ItemPointerEquals(&tuple->t_data->t_ctid, &tid) &&
		!(tuple->t_data->t_infomask & HEAP_XMAX_INVALID) &&
		HeapTupleHeaderIsOnlyLocked(tuple->t_data);
	if (should_free)
		heap_freetuple(tuple);
	if (!latest)
		return false;
	slot_getallattrs(oldslot);
	if (oldslot->tts_isnull[direct_account.account_id_att - 1] ||
		DatumGetInt64(oldslot->tts_values[direct_account.account_id_att - 1]) != h->account_id)
		return false;

	hash = palloc(VARHDRSZ + CHAIN_HASH_LEN);
	SET_VARSIZE(hash, VARHDRSZ + CHAIN_HASH_LEN);
	memcpy(VARDATA(hash), h->hash, CHAIN_HASH_LEN);
	ExecClearTuple(newslot);
	memcpy(newslot->tts_values, oldslot->tts_values, sizeof(Datum) * oldslot->tts_nvalid);
	memcpy(newslot->tts_isnull, oldslot->tts_isnull, sizeof(bool) * oldslot->tts_nvalid);
	newslot->tts_values[direct_account.head_seq_att - 1] = Int64GetDatum(h->seq);
	newslot->tts_isnull[direct_account.head_seq_att - 1] = false;
	newslot->tts_values[direct_account.head_hash_att - 1] = PointerGetDatum(hash);
	newslot->tts_isnull[direct_account.head_hash_att - 1] = false;
	ExecStoreVirtualTuple(newslot);
	ExecSimpleRelationUpdate(rri, estate, epq, oldslot, newslot);
	chain_defer_written(h->account_id, &newslot->tts_tid);
	return true;
}

/*
 * insert_legs_direct
 *		insert_legs() of a quick posting without a statement (above): the
 *		legs, then the posting row when it is not in yet, then the heads.
 *		Returns false, having written nothing, when it cannot.
 */
static bool
insert_legs_direct(Posting *p, const Asset *asset, const Leg *legs, int nlegs,
				   bool period_null, int32 period, text *memo,
				   bool result_null, int64 result, bool with_posting)
{
	Relation	jrel;
	Relation	prel = NULL;
	Relation	arel;
	bool		usable;
	EState	   *estate;
	EPQState	epq;
	MemoryContext oldcxt;
	ResultRelInfo *jrri;
	ResultRelInfo *arri;
	TupleTableSlot *slot;
	RangeTblEntry *rtes[3];
	List	   *rtable = NIL;
	ChainPendingHead heads[2];
	int			nheads;
	Datum		instrument;

	for (int i = 0; i < nlegs; i++)
		if (legs[i].block != NULL || legs[i].account_null)
			return false;
	usable = direct_table(&direct_journal, ACL_INSERT, &jrel);
	usable &= direct_table(&direct_account, ACL_UPDATE, &arel);
	if (with_posting)
		usable &= direct_table(&direct_posting, ACL_INSERT, &prel);
	if (!usable)
	{
		table_close(jrel, NoLock);
		table_close(arel, NoLock);
		if (prel != NULL)
			table_close(prel, NoLock);
		return false;
	}

	/* as a statement would: see what the posting's statements wrote */
	CommandCounterIncrement();
	estate = CreateExecutorState();
	oldcxt = MemoryContextSwitchTo(estate->es_query_cxt);
	for (int r = 0; r < 3; r++)
	{
		Relation	rel = r == 0 ? jrel : r == 1 ? arel : prel;

		rtes[r] = makeNode(RangeTblEntry);
		rtes[r]->rtekind = RTE_RELATION;
		rtes[r]->relid = rel != NULL ? RelationGetRelid(rel) : InvalidOid;
		rtes[r]->relkind = RELKIND_RELATION;
		rtes[r]->rellockmode = RowExclusiveLock;
		rtable = lappend(rtable, rtes[r]);
	}
	/* the columns an UPDATE of the heads names (column triggers look at them) */
	rtes[1]->updatedCols =
		bms_add_member(bms_make_singleton(direct_account.head_seq_att - FirstLowInvalidHeapAttributeNumber),
					   direct_account.head_hash_att - FirstLowInvalidHeapAttributeNumber);
	ExecInitRangeTable(estate, rtable);
	estate->es_output_cid = GetCurrentCommandId(true);
	estate->es_snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : InvalidSnapshot;
	EvalPlanQualInit(&epq, estate, NULL, NIL, -1);
	AfterTriggerBeginQuery();

	/* the legs: the chain trigger advances the posting's heads in memory */
	jrri = direct_result_rel(estate, jrel, 1);
	slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(jrel), &TTSOpsVirtual);
	instrument = enum_label_datum(direct_journal.instrument_type, asset->instrument);
	for (int l = 0; l < nlegs; l++)
	{
		const Leg  *leg = &legs[l];

		ExecClearTuple(slot);
		for (int i = 0; i < direct_journal.natts; i++)
		{
			Datum		v = (Datum) 0;
			bool		n = false;

			switch (direct_journal.cols[i])
			{
				case DC_J_ENTRY_ID:
					v = Int64GetDatum(nextval_internal(direct_journal.identity_seq, false));
					break;
				case DC_J_POSTING_ID:
					v = Int64GetDatum(p->posting_id);
					break;
				case DC_J_ACCOUNT_ID:
					v = Int64GetDatum(leg->account_id);
					break;
				case DC_J_SEQ:
					v = Int64GetDatum(0);
					break;
				case DC_J_KIND:
					v = enum_label_datum(direct_journal.kind_type, entry_kind_names[leg->kind]);
					break;
				case DC_J_INSTRUMENT:
					v = instrument;
					break;
				case DC_J_VINTAGE:
					v = Int32GetDatum(asset->vintage);
					n = asset->vintage_null;
					break;
				case DC_J_PROJECT:
					v = PointerGetDatum(asset->project);
					n = asset->project == NULL;
					break;
				case DC_J_AMOUNT:
					v = Int64GetDatum(leg->amount);
					break;
				case DC_J_HELD_CHANGE:
					v = Int64GetDatum(leg->held_change);
					break;
				case DC_J_BALANCE_AFTER:
					v = Int64GetDatum(leg->balance_after);
					break;
				case DC_J_HELD_AFTER:
					v = Int64GetDatum(leg->held_after);
					break;
				case DC_J_COUNTERPARTY:
					v = Int64GetDatum(leg->counterparty);
					n = leg->counterparty_null;
					break;
				case DC_J_HOLD_ID:
					v = Int64GetDatum(leg->hold_id);
					n = leg->hold_null;
					break;
				case DC_J_PERIOD:
					v = Int32GetDatum(period);
					n = period_null;
					break;
				case DC_J_BUSINESS_DATE:
					v = DateADTGetDatum(p->bdate);
					break;
				case DC_J_RECORDED_AT:
					v = TimestampTzGetDatum(p->ts);
					break;
				case DC_J_MEMO:
					v = PointerGetDatum(memo);
					n = memo == NULL;
					break;
				case DC_J_PREV_HASH:
				case DC_J_HASH:
					/* '\x': the trigger sets them */
					v = PointerGetDatum(cstring_to_text_with_len("", 0));
					break;
				default:
					n = true;
					break;
			}
			slot->tts_values[i] = v;
			slot->tts_isnull[i] = n;
		}
		ExecStoreVirtualTuple(slot);
		ExecSimpleRelationInsert(jrri, estate, slot);
	}

	/* the posting row */
	if (with_posting)
	{
		ResultRelInfo *prri = direct_result_rel(estate, prel, 3);
		TupleTableSlot *pslot = ExecInitExtraTupleSlot(estate, RelationGetDescr(prel),
													   &TTSOpsVirtual);

		ExecClearTuple(pslot);
		for (int i = 0; i < direct_posting.natts; i++)
		{
			Datum		v = (Datum) 0;
			bool		n = false;

			switch (direct_posting.cols[i])
			{
				case DC_P_POSTING_ID:
					v = Int64GetDatum(p->posting_id);
					break;
				case DC_P_OPERATION:
					v = CStringGetTextDatum(p->operation);
					break;
				case DC_P_INITIATOR:
					v = CStringGetTextDatum(GetUserNameFromId(GetSessionUserId(), false));
					break;
				case DC_P_RESULT:
					v = Int64GetDatum(result);
					n = result_null;
					break;
				case DC_P_BUSINESS_DATE:
					v = DateADTGetDatum(p->bdate);
					break;
				case DC_P_RECORDED_AT:
					v = TimestampTzGetDatum(p->ts);
					break;
				default:
					n = true;
					break;
			}
			pslot->tts_values[i] = v;
			pslot->tts_isnull[i] = n;
		}
		ExecStoreVirtualTuple(pslot);
		ExecSimpleRelationInsert(prri, estate, pslot);
	}
	p->recorded = true;

	/* the heads, at the row versions the posting locked */
	nheads = chain_defer_pending(heads, lengthof(heads));
	if (nheads > 0)
	{
		arri = direct_result_rel(estate, arel, 2);
		for (int i = 0; i < nheads; i++)
			(void) direct_write_head(estate, &epq, arri, &heads[i]);
	}

	AfterTriggerEndQuery(estate);
	EvalPlanQualEnd(&epq);
	/* the indexes, and any relation the AFTER triggers opened */
	ExecCloseResultRelations(estate);
	ExecResetTupleTable(estate->es_tupleTable, false);
	MemoryContextSwitchTo(oldcxt);
	FreeExecutorState(estate);
	table_close(jrel, NoLock);
	table_close(arel, NoLock);
	if (prel != NULL)
		table_close(prel, NoLock);
	/* any head not written here (none, normally) */
	chain_defer_finish();
	return true;
}

/*
 * insert_legs
 *		Append the legs of a posting to the journal, in order, with the
 *		posting row when it is not in yet (result: what the posting returns,
 *		e.g. a hold id, or NULL), and leave the account heads right.  rows
 *		are the posting's accounts as locked (with their chain heads).  The
 *		chain trigger sets seq, prev_hash and hash of every leg: for a quick
 *		posting (posting_mode) from the heads registered here, advanced in
 *		memory and written after the legs; otherwise from what the trigger
 *		knows when the leg goes in (chain.c), which includes anything a
 *		room's trigger appended since the accounts were locked, each head
 *		written as it advances.
 */
static void
insert_legs(Posting *p, const Asset *asset, const Leg *legs, int nlegs,
			bool period_null, int32 period, text *memo, bool result_null, int64 result,
			const AccountRow *rows, int nrows)
{
	Datum		args[LEGS_MAXARGS];
	char		nulls[LEGS_MAXARGS];
	bool		defer = p->quick;
	bool		by_tid = false;
	bool		with_posting;
	bool		with_heads;
	int			nargs;
	int			ret;

	Assert(nlegs >= 1 && nlegs <= 2);
	Assert(p->posting_id != 0);
	if (defer)
	{
		/* the trigger advances these heads in memory; written below */
		chain_defer_begin(p->posting_id);
		for (int i = 0; i < nrows; i++)
			if (rows[i].head_hash != NULL)
				by_tid |= chain_defer_add(rows[i].account_id, rows[i].head_seq,
										  rows[i].head_hash, &rows[i].tid);
	}

	if (!defer && !p->recorded)
	{
		/*
		 * Another room's trigger will run while the legs go in: the posting
		 * row must be there before them, as it always was.
		 */
		Datum		pargs[5];
		char		pnulls[5] = {' ', ' ', ' ', ' ', ' '};

		pargs[0] = Int64GetDatum(p->posting_id);
		pargs[1] = CStringGetTextDatum(p->operation);
		pargs[2] = Int64GetDatum(result);
		pnulls[2] = result_null ? 'n' : ' ';
		pargs[3] = DateADTGetDatum(p->bdate);
		pargs[4] = TimestampTzGetDatum(p->ts);
		run_plan(PLAN_POSTING_NEW_ID, pargs, pnulls, SPI_OK_INSERT);
		p->recorded = true;
	}
	with_posting = !p->recorded;
	if (defer && insert_legs_direct(p, asset, legs, nlegs, period_null, period, memo,
									result_null, result, with_posting))
		return;

	memset(nulls, ' ', sizeof(nulls));
	args[0] = Int64GetDatum(p->posting_id);
	args[1] = CStringGetTextDatum(asset->instrument);
	args[2] = Int32GetDatum(asset->vintage);
	nulls[2] = asset->vintage_null ? 'n' : ' ';
	args[3] = PointerGetDatum(asset->project);
	nulls[3] = asset->project == NULL ? 'n' : ' ';
	args[4] = Int32GetDatum(period);
	nulls[4] = period_null ? 'n' : ' ';
	args[5] = DateADTGetDatum(p->bdate);
	args[6] = TimestampTzGetDatum(p->ts);
	args[7] = PointerGetDatum(memo);
	nulls[7] = memo == NULL ? 'n' : ' ';
	for (int i = 0; i < nlegs; i++)
	{
		int			b = LEGS_BASE - 1 + LEG_NPARAMS * i;

		args[b] = Int64GetDatum(legs[i].account_id);
		nulls[b] = legs[i].account_null ? 'n' : ' ';
		args[b + 1] = CStringGetTextDatum(entry_kind_names[legs[i].kind]);
		args[b + 2] = Int64GetDatum(legs[i].amount);
		args[b + 3] = Int64GetDatum(legs[i].held_change);
		args[b + 4] = Int64GetDatum(legs[i].balance_after);
		args[b + 5] = Int64GetDatum(legs[i].held_after);
		args[b + 6] = Int64GetDatum(legs[i].counterparty);
		nulls[b + 6] = legs[i].counterparty_null ? 'n' : ' ';
		args[b + 7] = Int64GetDatum(legs[i].hold_id);
		nulls[b + 7] = legs[i].hold_null ? 'n' : ' ';
		args[b + 8] = legs[i].block ? CStringGetTextDatum(legs[i].block) : (Datum) 0;
		nulls[b + 8] = legs[i].block ? ' ' : 'n';
	}
	nargs = LEGS_BASE - 1 + LEG_NPARAMS * nlegs;
	/*
	 * The heads are written by the statement itself, unless this transaction
	 * wrote these account rows before: chain_defer_finish() then writes
	 * them straight at the row versions, instead of walking their HOT chains.
	 */
	with_heads = defer && !by_tid;
	if (with_heads)
	{
		/* the accounts of the legs (never null here: their holdings changed) */
		args[nargs++] = Int64GetDatum(legs[0].account_id);
		args[nargs++] = Int64GetDatum(legs[nlegs - 1].account_id);
	}
	if (with_posting)
	{
		args[nargs++] = CStringGetTextDatum(p->operation);
		args[nargs] = Int64GetDatum(result);
		nulls[nargs++] = result_null ? 'n' : ' ';
	}

	ret = SPI_execute_plan(journal_plan(nlegs, with_posting, with_heads, false), args, nulls,
						   false, 0);
	if (ret != SPI_OK_INSERT || SPI_processed != (uint64) nlegs)
		elog(ERROR, "appending the journal legs of a posting failed: %s",
			 SPI_result_code_string(ret));
	p->recorded = true;
	/* any head the statement did not write */
	if (defer)
		chain_defer_finish();
}

static void refuse_into_cancellation(int64 account_id, const char *entry_kind,
									 const char *instrument);

/* only surrender and cancellation (retire legs) reach the cancellation account */
static void
check_sink(const Leg *legs, int nlegs, const Asset *asset, const AccountRow *rows, int nrows)
{
	for (int i = 0; i < nlegs; i++)
	{
		const AccountRow *r = find_row(rows, nrows, legs[i].account_id, legs[i].account_null);

		if (r != NULL && r->class == CLASS_CANCELLATION && legs[i].kind != ENTRY_RETIRE)
			refuse_into_cancellation(r->account_id, entry_kind_names[legs[i].kind],
									 asset->instrument);
	}
}

/*
 * post_legs
 *		Change the holdings of the legs and append them to the journal
 *		(posting_mode() says how).  Returns false, having changed nothing,
 *		when the first leg's holding would go negative (the caller refuses).
 */
static bool
post_legs(Posting *p, const Asset *asset, Leg *legs, int nlegs,
		  bool period_null, int32 period, text *memo,
		  const AccountRow *rows, int nrows)
{
	check_sink(legs, nlegs, asset, rows, nrows);
	if (p->quick)
	{
		if (!(nlegs == 2 ? apply_two_legs(legs, asset) : apply_leg(&legs[0], asset)))
			return false;
		insert_legs(p, asset, legs, nlegs, period_null, period, memo, true, 0, rows, nrows);
		return true;
	}
	for (int i = 0; i < nlegs; i++)
	{
		if (!apply_leg(&legs[i], asset))
		{
			if (i == 0)
				return false;
			elog(ERROR, "crediting account " INT64_FORMAT " failed", legs[i].account_id);
		}
		insert_legs(p, asset, &legs[i], 1, period_null, period, memo, true, 0, rows, nrows);
	}
	return true;
}

static char *format_asset_text(const Asset *asset);
static char *fmt_quantity(const char *instrument, int64 quantity, bool quantity_null);
static const char *raise_text(const char *s);

/* ----------------------------------------------------------------
 *		CCER serial blocks (项目减排量序列号)
 * ----------------------------------------------------------------
 */

/*
 * Where every CCER serial is (carbonmkt.ccer_block): a movement of CCER moves
 * whole blocks, lowest serials first, splitting the last one (or exactly the
 * block asked for, cut out of the block that holds it), and the blocks an
 * account receives are merged with the adjacent ones it holds.  Blocks go to
 * and from SQL as their text, cast there.
 */
typedef enum BlockPlanId
{
	BLK_OF_ACCOUNT,				/* an account's blocks of one lot, by serial */
	BLK_DELETE_TIDS,			/* delete taken blocks */
	BLK_INSERT,					/* put a block in an account */
	BLK_CUT,					/* the block of an account containing one */
	BLK_DELETE_ADJACENT,		/* an account's blocks adjacent to one */
	BLK_OVERLAP,				/* any block overlapping one */
	BLK_DELETE_EQUAL,			/* delete one block */
	NUM_BLOCK_PLANS
} BlockPlanId;

static const PostingPlanDef block_plan_defs[NUM_BLOCK_PLANS] = {
	[BLK_OF_ACCOUNT] = {
		"SELECT carbonmkt.first_serial(b.block), carbonmkt.last_serial(b.block), b.ctid "
		"FROM carbonmkt.ccer_block b WHERE b.account_id = $1 AND carbonmkt.project(b.block) = $2 "
		"AND carbonmkt.vintage(b.block) = $3 ORDER BY carbonmkt.first_serial(b.block) LIMIT $4",
		4, {INT8OID, TEXTOID, INT4OID, INT8OID}
	},
	[BLK_DELETE_TIDS] = {
		"DELETE FROM carbonmkt.ccer_block WHERE ctid = ANY ($1)",
		1, {TIDARRAYOID}
	},
	[BLK_INSERT] = {
		"INSERT INTO carbonmkt.ccer_block (block, account_id) VALUES ($1::carbonmkt.ccer, $2)",
		2, {TEXTOID, INT8OID}
	},
	[BLK_CUT] = {
		"DELETE FROM carbonmkt.ccer_block WHERE account_id = $1 "
		"AND block OPERATOR(carbonmkt.@>) $2::carbonmkt.ccer "
		"RETURNING carbonmkt.first_serial(block), carbonmkt.last_serial(block)",
		2, {INT8OID, TEXTOID}
	},
	[BLK_DELETE_ADJACENT] = {
		"DELETE FROM carbonmkt.ccer_block WHERE account_id = $1 "
		"AND block OPERATOR(carbonmkt.-|-) $2::carbonmkt.ccer "
		"RETURNING carbonmkt.first_serial(block), carbonmkt.last_serial(block)",
		2, {INT8OID, TEXTOID}
	},
	[BLK_OVERLAP] = {
		"SELECT block::text FROM carbonmkt.ccer_block WHERE block OPERATOR(carbonmkt.&&) $1::carbonmkt.ccer LIMIT 1",
		1, {TEXTOID}
	},
	[BLK_DELETE_EQUAL] = {
		"DELETE FROM carbonmkt.ccer_block WHERE block = $1::carbonmkt.ccer",
		1, {TEXTOID}
	},
};

static SPIPlanPtr block_plans[NUM_BLOCK_PLANS];

static uint64
run_block_plan(BlockPlanId id, Datum *values, const char *nulls, int expected)
{
	int			ret;

	if (block_plans[id] == NULL)
		block_plans[id] = carbonmkt_keep_lookup_plan(block_plan_defs[id].sql, block_plan_defs[id].nargs,
													 (Oid *) block_plan_defs[id].argtypes);
	ret = SPI_execute_plan(block_plans[id], values, nulls, false, 0);
	if (ret != expected)
		elog(ERROR, "carbonmkt block statement %d failed: %s", (int) id, SPI_result_code_string(ret));
	return SPI_processed;
}

/* serials first..last of the asset's lot */
typedef struct BlockPiece
{
	int64		first;
	int64		last;
} BlockPiece;

/* the canonical text of a block of the asset's lot (as ccer_out writes it) */
static char *
block_text(const Asset *asset, int64 first, int64 last)
{
	return psprintf("CCER:%s:%d:" INT64_FORMAT "-" INT64_FORMAT,
					text_to_cstring(asset->project), asset->vintage, first, last);
}

static void
block_insert(int64 account_id, const Asset *asset, int64 first, int64 last)
{
	Datum		args[2];

	args[0] = CStringGetTextDatum(block_text(asset, first, last));
	args[1] = Int64GetDatum(account_id);
	run_block_plan(BLK_INSERT, args, NULL, SPI_OK_INSERT);
}

/*
 * block_place
 *		Put serials first..last in an account, merged with the blocks there
 *		that are adjacent to them.
 */
static void
block_place(int64 account_id, const Asset *asset, int64 first, int64 last)
{
	Datum		args[2];
	uint64		n;

	args[0] = Int64GetDatum(account_id);
	args[1] = CStringGetTextDatum(block_text(asset, first, last));
	n = run_block_plan(BLK_DELETE_ADJACENT, args, NULL, SPI_OK_DELETE_RETURNING);
	for (uint64 r = 0; r < n; r++)
	{
		first = Min(first, col_int64(r, 1, NULL));
		last = Max(last, col_int64(r, 2, NULL));
	}
	block_insert(account_id, asset, first, last);
}

/*
 * block_cut
 *		Take exactly serials first..last out of the account's block that holds
 *		them all (CM010 when none does), leaving the rest of that block.
 */
static void
block_cut(int64 account_id, const Asset *asset, int64 first, int64 last)
{
	Datum		args[2];
	int64		have_first;
	int64		have_last;

	args[0] = Int64GetDatum(account_id);
	args[1] = CStringGetTextDatum(block_text(asset, first, last));
	if (run_block_plan(BLK_CUT, args, NULL, SPI_OK_DELETE_RETURNING) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_BLOCK_NOT_HELD),
				 errmsg("CCER block %s is not held by account " INT64_FORMAT,
						block_text(asset, first, last), account_id),
				 errhint("A block moves only from the account that holds all of its serials.")));
	have_first = col_int64(0, 1, NULL);
	have_last = col_int64(0, 2, NULL);
	if (have_first < first)
		block_insert(account_id, asset, have_first, first - 1);
	if (have_last > last)
		block_insert(account_id, asset, last + 1, have_last);
}

/*
 * block_take
 *		Take quantity tonnes of the asset out of an account, lowest serials
 *		first, splitting the last block taken; the pieces taken, in serial
 *		order, go to *pieces.  Returns how many.  The holding said the
 *		account has them: serial blocks that do not cover it are a broken
 *		ledger (XX000).
 */
static int
block_take(int64 account_id, const Asset *asset, int64 quantity, BlockPiece **pieces)
{
	Datum		args[4];
	uint64		n;
	int64		need = quantity;
	int			npieces = 0;
	Datum	   *tids;
	int64		tail_first = 0;
	int64		tail_last = -1;
	int64		limit = 8;

	/*
	 * The lowest blocks first: a few, and more only when they do not cover
	 * the quantity (an account's blocks of one lot are merged, so one
	 * usually does).
	 */
	args[0] = Int64GetDatum(account_id);
	args[1] = PointerGetDatum(asset->project);
	args[2] = Int32GetDatum(asset->vintage);
	for (;;)
	{
		int64		have = 0;

		args[3] = Int64GetDatum(limit);
		n = run_block_plan(BLK_OF_ACCOUNT, args, NULL, SPI_OK_SELECT);
		for (uint64 r = 0; r < n && have < quantity; r++)
			have += col_int64(r, 2, NULL) - col_int64(r, 1, NULL) + 1;
		if (have >= quantity || n < (uint64) limit)
			break;
		limit *= 8;
	}
	*pieces = palloc(sizeof(BlockPiece) * Max(n, 1));
	tids = palloc(sizeof(Datum) * Max(n, 1));
	for (uint64 r = 0; r < n && need > 0; r++)
	{
		int64		first = col_int64(r, 1, NULL);
		int64		last = col_int64(r, 2, NULL);
		bool		isnull;
		ItemPointer tid = palloc(sizeof(ItemPointerData));

		ItemPointerCopy((ItemPointer) DatumGetPointer(col_datum(r, 3, &isnull)), tid);
		tids[npieces] = PointerGetDatum(tid);
		if (last - first + 1 > need)
		{
			/* split: the head moves, the tail stays */
			tail_first = first + need;
			tail_last = last;
			last = first + need - 1;
		}
		(*pieces)[npieces].first = first;
		(*pieces)[npieces].last = last;
		npieces++;
		need -= last - first + 1;
	}
	if (need != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("CCER blocks of account " INT64_FORMAT " do not cover %s of %s", account_id,
						fmt_quantity("CCER", quantity, false), raise_text(format_asset_text(asset))),
				 errdetail("The holding and the serial blocks disagree; run carbonmkt.verify_ledger().")));
	args[0] = PointerGetDatum(construct_array_builtin(tids, npieces, TIDOID));
	if (run_block_plan(BLK_DELETE_TIDS, args, NULL, SPI_OK_DELETE) != (uint64) npieces)
		elog(ERROR, "taking the CCER blocks of account " INT64_FORMAT " failed", account_id);
	if (tail_last >= tail_first)
		block_insert(account_id, asset, tail_first, tail_last);
	return npieces;
}

/*
 * block_issue
 *		New serials first..last into an account: none may exist anywhere
 *		already (23P01); merged with the adjacent blocks the account holds.
 */
static void
block_issue(int64 account_id, const Asset *asset, int64 first, int64 last)
{
	Datum		args[1];
	char	   *text = block_text(asset, first, last);

	args[0] = CStringGetTextDatum(text);
	if (run_block_plan(BLK_OVERLAP, args, NULL, SPI_OK_SELECT) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXCLUSION_VIOLATION),
				 errmsg("CCER block %s overlaps serials already issued in block %s",
						text, col_cstring(0, 1)),
				 errdetail("No CCER serial may be issued twice.")));
	/* through the exclusion constraint (a concurrent issuance waits here) */
	block_insert(account_id, asset, first, last);
	run_block_plan(BLK_DELETE_EQUAL, args, NULL, SPI_OK_DELETE);
	block_place(account_id, asset, first, last);
}

/* ----------------------------------------------------------------
 *		Movements: the legs that move a quantity between two accounts
 * ----------------------------------------------------------------
 */

/*
 * available_covers
 *		Whether the account's available quantity of the asset (balance -
 *		held; for a spend from a hold, what is held) covers the quantity,
 *		read under the account lock.
 */
static bool
available_covers(int64 account_id, const Asset *asset, int64 quantity, bool from_hold)
{
	Oid			argtypes[4] = {INT8OID, TEXTOID, INT4OID, TEXTOID};
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	args[0] = Int64GetDatum(account_id);
	args[1] = CStringGetTextDatum(asset->instrument);
	args[2] = Int32GetDatum(asset->vintage);
	nulls[2] = asset->vintage_null ? 'n' : ' ';
	args[3] = PointerGetDatum(asset->project);
	nulls[3] = asset->project == NULL ? 'n' : ' ';
	if (SPI_execute_with_args("SELECT balance, held FROM carbonmkt.holding WHERE account_id = $1 "
							  "AND instrument = $2::carbonmkt.instrument AND vintage = $3 AND project = $4",
							  4, argtypes, args, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading a holding failed");
	if (SPI_processed != 1)
		return false;
	if (from_hold)
		return col_int64(0, 2, NULL) >= quantity && col_int64(0, 1, NULL) >= quantity;
	return col_int64(0, 1, NULL) - col_int64(0, 2, NULL) >= quantity;
}

/*
 * post_movement
 *		The legs that move quantity of an asset from one account to another,
 *		both locked (rows): a debit and a credit, or for CCER a debit and a
 *		credit per serial block moved (exact: exactly serials
 *		exact->first..last).  A spend from a hold (hold_null false) takes the
 *		quantity out of the sender's held as well.  Returns false, having
 *		changed nothing, when the sender's available quantity does not cover
 *		it (the caller refuses).
 */
static bool
post_movement(Posting *p, const Asset *asset, int64 from, bool from_null,
			  int64 to, bool to_null, int64 quantity,
			  EntryKind debit_kind, EntryKind credit_kind,
			  int64 hold_id, bool hold_null, bool period_null, int32 period, text *memo,
			  const BlockPiece *exact, const AccountRow *rows, int nrows)
{
	Leg			two[2];
	Leg		   *legs;
	BlockPiece *pieces;
	int			npieces;
	bool		ccer = asset->instr == INSTRUMENT_CCER;

	memset(two, 0, sizeof(two));
	two[0].account_id = from;
	two[0].account_null = from_null;
	two[0].kind = debit_kind;
	two[0].amount = -quantity;
	two[0].held_change = hold_null ? 0 : -quantity;
	two[0].counterparty = to;
	two[0].counterparty_null = to_null;
	two[0].hold_id = hold_id;
	two[0].hold_null = hold_null;
	two[1].account_id = to;
	two[1].account_null = to_null;
	two[1].kind = credit_kind;
	two[1].amount = quantity;
	two[1].counterparty = from;
	two[1].counterparty_null = from_null;
	two[1].hold_id = hold_id;
	two[1].hold_null = hold_null;
	if (!ccer)
		return post_legs(p, asset, two, 2, period_null, period, memo, rows, nrows);
	check_sink(two, 2, asset, rows, nrows);

	/*
	 * CCER.  Quick: both holdings change by the whole quantity in one
	 * statement (which is the availability check), and each leg's balance
	 * after is worked back from there.  Otherwise each leg changes its
	 * holding and goes into the journal in turn, as a room's trigger may
	 * look in between: availability is read first.
	 */
	if (p->quick)
	{
		if (!apply_two_legs(two, asset))
			return false;
	}
	else if (from_null || !available_covers(from, asset, quantity, !hold_null))
		return false;

	if (exact != NULL)
	{
		block_cut(from, asset, exact->first, exact->last);
		pieces = palloc(sizeof(BlockPiece));
		pieces[0] = *exact;
		npieces = 1;
	}
	else
		npieces = block_take(from, asset, quantity, &pieces);
	for (int i = 0; i < npieces; i++)
		block_place(to, asset, pieces[i].first, pieces[i].last);

	legs = palloc(sizeof(Leg) * 2 * npieces);
	{
		int64		later = quantity;	/* tonnes moved by this piece and the ones after it */

		for (int i = 0; i < npieces; i++)
		{
			int64		t = pieces[i].last - pieces[i].first + 1;
			Leg		   *d = &legs[2 * i];
			Leg		   *c = &legs[2 * i + 1];

			later -= t;
			*d = two[0];
			*c = two[1];
			d->amount = -t;
			d->held_change = hold_null ? 0 : -t;
			c->amount = t;
			d->block = c->block = block_text(asset, pieces[i].first, pieces[i].last);
			/* the holdings after this piece: the end state plus what later pieces move */
			d->balance_after = two[0].balance_after + later;
			d->held_after = two[0].held_after + (hold_null ? 0 : later);
			c->balance_after = two[1].balance_after - later;
			c->held_after = two[1].held_after;
		}
	}
	for (int i = 0; i < npieces; i++)
	{
		if (!p->quick)
		{
			if (!apply_leg(&legs[2 * i], asset))
				elog(ERROR, "debiting account " INT64_FORMAT " failed", from);
			insert_legs(p, asset, &legs[2 * i], 1, period_null, period, memo, true, 0, rows, nrows);
			if (!apply_leg(&legs[2 * i + 1], asset))
				elog(ERROR, "crediting account " INT64_FORMAT " failed", to);
			insert_legs(p, asset, &legs[2 * i + 1], 1, period_null, period, memo, true, 0, rows, nrows);
		}
		else
			insert_legs(p, asset, &legs[2 * i], 2, period_null, period, memo, true, 0, rows, nrows);
	}
	return true;
}

/* ----------------------------------------------------------------
 *		Transfers (转移), surrender (清缴), cancellation (注销)
 * ----------------------------------------------------------------
 */

typedef struct TransferRequest
{
	const char *operation;		/* transfer_cea, surrender_cea, ... */
	PostingAction action;		/* for authorize(): transfer, surrender, cancel */
	int64		from;
	bool		from_null;
	int64		to;
	bool		to_null;
	Asset		asset;
	int64		quantity;
	bool		quantity_null;
	EntryKind	debit_kind;
	EntryKind	credit_kind;
	int32		period;
	bool		period_null;
	text	   *reference;
	text	   *memo;
	const char *block;			/* CCER block text for the request, or NULL */
	bool		has_exact;		/* CCER: exactly these serials */
	BlockPiece	exact;
} TransferRequest;

/*
 * format_asset_text
 *		carbonmkt.format_asset(instrument, vintage, project) for the request
 *		text; NULL when it is NULL.
 */
static char *
format_asset_text(const Asset *asset)
{
	if (asset->instr == INSTRUMENT_CEA)
		return asset->vintage_null ? NULL : psprintf("CEA %d", asset->vintage);
	if (asset->instr == INSTRUMENT_CCER)
		return (asset->vintage_null || asset->project == NULL) ? NULL :
			psprintf("CCER %s %d", text_to_cstring(asset->project), asset->vintage);
	return pstrdup("CNY");
}

/* format()'s %s: NULL is the empty string */
static const char *
opt_int64(int64 v, bool isnull)
{
	return isnull ? "" : psprintf(INT64_FORMAT, v);
}

static const char *
opt_text(const char *s)
{
	return s ? s : "";
}

/*
 * The request text of a transfer, as _transfer() formats it:
 * <operation>(from=..,to=..,<asset>,quantity=..,period=..,block=..,memo=..)
 */
static char *
transfer_request_text(const TransferRequest *t)
{
	return psprintf("%s(from=%s,to=%s,%s,quantity=%s,period=%s,block=%s,memo=%s)",
					t->operation, opt_int64(t->from, t->from_null),
					opt_int64(t->to, t->to_null), opt_text(format_asset_text(&t->asset)),
					opt_int64(t->quantity, t->quantity_null),
					t->period_null ? "" : psprintf("%d", t->period),
					opt_text(t->block), t->memo ? text_to_cstring(t->memo) : "");
}

/*
 * fmt_quantity
 *		carbonmkt.format_quantity(instrument, quantity) for a message ("50,001 t",
 *		"1,234.56 CNY"); NULL when either is NULL.  Refusals only: one statement.
 */
static char *
fmt_quantity(const char *instrument, int64 quantity, bool quantity_null)
{
	Oid			argtypes[2] = {TEXTOID, INT8OID};
	Datum		args[2];

	if (instrument == NULL || quantity_null)
		return NULL;
	args[0] = CStringGetTextDatum(instrument);
	args[1] = Int64GetDatum(quantity);
	if (SPI_execute_with_args("SELECT carbonmkt.format_quantity($1::carbonmkt.instrument, $2)",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "formatting a quantity failed");
	return col_cstring(0, 1);
}

/* a value as RAISE prints it: NULL is <NULL> */
static const char *
raise_text(const char *s)
{
	return s ? s : "<NULL>";
}

/* quantities are positive (22023) */
static void
check_quantity(const char *instrument, int64 quantity, bool quantity_null)
{
	char	   *q;

	if (!quantity_null && quantity > 0)
		return;
	q = fmt_quantity(instrument, quantity, quantity_null);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("quantity must be positive: %s", q ? q : "NULL")));
}

/*
 * refuse_unavailable
 *		CM004: the sender's available quantity (balance - held) does not cover
 *		the debit, naming available and requested.  Called when the guarded
 *		change of the holding refused, under the account lock.
 */
static void
refuse_unavailable(int64 account_id, const Asset *asset, int64 quantity)
{
	Oid			argtypes[4] = {INT8OID, TEXTOID, INT4OID, TEXTOID};
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int64		balance = 0;
	int64		held = 0;

	args[0] = Int64GetDatum(account_id);
	args[1] = CStringGetTextDatum(asset->instrument);
	args[2] = Int32GetDatum(asset->vintage);
	nulls[2] = asset->vintage_null ? 'n' : ' ';
	args[3] = PointerGetDatum(asset->project);
	nulls[3] = asset->project == NULL ? 'n' : ' ';
	if (SPI_execute_with_args("SELECT balance, held FROM carbonmkt.holding WHERE account_id = $1 "
							  "AND instrument = $2::carbonmkt.instrument AND vintage = $3 AND project = $4",
							  4, argtypes, args, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading a holding failed");
	if (SPI_processed == 1)
	{
		balance = col_int64(0, 1, NULL);
		held = col_int64(0, 2, NULL);
	}
	if (balance - held >= quantity)
		elog(ERROR, "carbonmkt posting: the holding of account " INT64_FORMAT
			 " refused a debit it covers", account_id);
	{
		char	   *avail = fmt_quantity(asset->instrument, balance - held, false);
		char	   *req = fmt_quantity(asset->instrument, quantity, false);
		char	   *bal = fmt_quantity(asset->instrument, balance, false);
		char	   *hld = fmt_quantity(asset->instrument, held, false);

		/*
		 * free allowances locked until the unit has bought its paid share
		 * (有偿分配): the finance room says whose, the share and what is
		 * still to buy (an error path only: no saved plan)
		 */
		if (strcmp(asset->instrument, "CEA") == 0 && !asset->vintage_null &&
			SPI_execute_with_args("SELECT carbonmkt._paid_lock_detail($1, $3) "
								  "WHERE EXISTS (SELECT 1 FROM carbonmkt.hold h WHERE h.account_id = $1 "
								  "AND h.status = 'active' AND h.reason = 'paid_lock' "
								  "AND h.instrument = $2::carbonmkt.instrument AND h.vintage = $3)",
								  3, argtypes, args, nulls, false, 1) == SPI_OK_SELECT &&
			SPI_processed == 1)
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_INSUFFICIENT),
					 errmsg("insufficient available %s in account " INT64_FORMAT ": available %s, requested %s",
							raise_text(format_asset_text(asset)), account_id, avail, req),
					 errdetail("%s", col_cstring(0, 1)),
					 errhint("Buy the paid share (carbonmkt.buy_paid_allocation, or the paid allocation auction); the lock is lifted once it is bought.")));
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_INSUFFICIENT),
				 errmsg("insufficient available %s in account " INT64_FORMAT ": available %s, requested %s",
						raise_text(format_asset_text(asset)), account_id, avail, req),
				 errdetail("Balance %s, of which %s held.", bal, hld)));
	}
}

/*
 * refuse_accounts
 *		Why the locked accounts of a posting (rows, in account_id order) refuse
 *		it, as lock_problem() found: an account whose kind cannot hold the
 *		instrument (CM005), a closed account (CM003), a frozen one that is
 *		debited (CM003), the first in account order; else an unknown one
 *		(CM001, the lowest id).
 */
static void
refuse_accounts(const AccountRow *rows, int nrows, int64 debit, bool debit_null,
				int64 credit, bool credit_null, const char *instrument)
{
	int64		missing = 0;
	bool		any_missing = false;

	for (int i = 0; i < nrows; i++)
	{
		if (!rows[i].may_hold)
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_KIND_INSTRUMENT),
					 errmsg("account " INT64_FORMAT " (kind %s) cannot hold %s",
							rows[i].account_id, rows[i].kind, raise_text(instrument)),
					 errhint("See carbonmkt.account_kind_instrument for the instruments each account kind holds.")));
		if (rows[i].status_code == STATUS_CLOSED)
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_ACCOUNT_STATE),
					 errmsg("account " INT64_FORMAT " is closed", rows[i].account_id)));
		if (rows[i].status_code == STATUS_FROZEN && !debit_null && rows[i].account_id == debit)
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_ACCOUNT_STATE),
					 errmsg("account " INT64_FORMAT " is frozen", rows[i].account_id),
					 errdetail("Nothing can leave a frozen account.")));
	}
	if (!debit_null && find_row(rows, nrows, debit, false) == NULL)
	{
		missing = debit;
		any_missing = true;
	}
	if (!credit_null && find_row(rows, nrows, credit, false) == NULL &&
		(!any_missing || credit < missing))
	{
		missing = credit;
		any_missing = true;
	}
	if (any_missing)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_UNKNOWN_ACCOUNT),
				 errmsg("account " INT64_FORMAT " does not exist", missing)));
	elog(ERROR, "carbonmkt posting: the accounts refused the posting, but no rule says why");
}

/* a movement needs two accounts (22023) */
static void
check_same_account(const TransferRequest *t)
{
	if (!t->from_null && !t->to_null && t->from == t->to)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot move units from account " INT64_FORMAT " to itself", t->from)));
}

/*
 * post_transfer
 *		carbonmkt._transfer() for CEA and CNY: one posting that moves a
 *		quantity of one asset from one account to another.  The checks run in
 *		the order of the PL/pgSQL original, so the same refusal wins when
 *		several apply: quantity, vintage, client reference (a retry answers
 *		before anything else is checked), sealed day, same account,
 *		authorisation, account states, available quantity.
 */
static int64
post_transfer(const TransferRequest *t)
{
	Posting		p;
	bool		privileged;
	AccountRow	rows[2];
	int			nrows;
	const AccountRow *from_row;

	check_quantity(t->asset.instrument, t->quantity, t->quantity_null);
	if (t->to_null)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_MISSING_ARGUMENT),
				 errmsg("%s: the account to credit must not be NULL", t->operation)));
	/* a NULL lot would reach the holding and block look-ups (CM904) */
	if (t->asset.instr == INSTRUMENT_CCER && t->asset.project == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_MISSING_ARGUMENT),
				 errmsg("%s: argument project must not be NULL", t->operation)));
	if (t->asset.instr != INSTRUMENT_CNY && t->asset.vintage_null)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_MISSING_ARGUMENT),
				 errmsg("%s: argument vintage must not be NULL", t->operation)));
	if (t->asset.instr != INSTRUMENT_CNY)
		carbonmkt_check_vintage(t->asset.vintage, "allowance vintage");

	posting_begin(&p, t->operation, t->reference,
				  t->reference ? transfer_request_text(t) : NULL);
	if (p.replay)
		return p.posting_id;
	check_sealed(&p, entry_kind_names[t->debit_kind], entry_kind_names[t->credit_kind]);

	/*
	 * Who may move the sender's units.  The registry and the rooms may move
	 * any account's: for them it is enough to know that the account exists
	 * and is not the cancellation account, which the locked row tells.
	 * Anyone else is authorised before any lock is taken.
	 */
	privileged = login_is_member("carbonmkt_registry") || acting_room_authorises();
	if (!privileged)
	{
		AccountRow	a;

		account_read(t->from, t->from_null, &a);
		check_same_account(t);
		authorize(t->from, t->from_null, &a, t->action, REASON_NONE);
	}

	nrows = lock_accounts(t->from, t->from_null, t->to, t->to_null,
						  t->asset.instr, rows);
	from_row = find_row(rows, nrows, t->from, t->from_null);
	if (privileged)
	{
		AccountRow	missing = {0};

		check_same_account(t);
		authorize(t->from, t->from_null, from_row ? from_row : &missing, t->action, REASON_NONE);
	}
	if (lock_problem(rows, nrows, t->from, t->from_null, t->to, t->to_null))
		refuse_accounts(rows, nrows, t->from, t->from_null, t->to, t->to_null, t->asset.instrument);

	/*
	 * A quantity beyond half the int8 range is more than the sender holds
	 * (CM004), but the guarded change of the holdings would overflow the
	 * receiver's balance first (22003): ask before moving.
	 */
	if (t->quantity > PG_INT64_MAX / 2 && !t->from_null &&
		!available_covers(t->from, &t->asset, t->quantity, false))
		refuse_unavailable(t->from, &t->asset, t->quantity);
	if (!post_movement(&p, &t->asset, t->from, t->from_null, t->to, t->to_null, t->quantity,
					   t->debit_kind, t->credit_kind, 0, true, t->period_null, t->period, t->memo,
					   t->has_exact ? &t->exact : NULL, rows, nrows))
		refuse_unavailable(t->from, &t->asset, t->quantity);
	return p.posting_id;
}

static int64
cancellation_account(void)
{
	if (run_plan(PLAN_CANCELLATION, NULL, NULL, SPI_OK_SELECT) != 1)
		elog(ERROR, "the cancellation account is missing");
	return col_int64(0, 1, NULL);
}

/* CM003: only surrender and cancellation (retire entries) credit the cancellation account */
static void
refuse_into_cancellation(int64 account_id, const char *entry_kind, const char *instrument)
{
	ereport(ERROR,
			(errcode(ERRCODE_CARBONMKT_ACCOUNT_STATE),
			 errmsg("account " INT64_FORMAT " is the cancellation account: only surrender and cancellation reach it",
					account_id),
			 errdetail("Refused journal entry: %s of %s.", entry_kind, instrument),
			 errhint("Use carbonmkt.surrender_cea/surrender_ccer or retire_cea/retire_ccer.")));
}

static text *
opt_text_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n);
}

/*
 * carbonmkt._check_text(): CM903 when a memo or reference is longer than its
 * plausibility limit (a rule row, doc/security.md).  Within SPI.
 */
/*
 * catalog_has
 *		Whether the installed catalog has the function (regprocedure text).  A
 *		catalog of an older script version (0.1.0, before ALTER EXTENSION
 *		UPDATE) lacks the checks later versions added: the library then skips
 *		them rather than fail every posting (doc/operations.md, upgrades).
 */
static bool
catalog_has(const char *signature)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;

	args[0] = CStringGetTextDatum(signature);
	if (SPI_execute_with_args("SELECT pg_catalog.to_regprocedure($1) IS NOT NULL", 1, argtypes, args, NULL,
							  true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "looking up %s failed", signature);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) && !isnull;
}

static void
check_text_arg(const char *function, const char *argument, text *value)
{
	static SPIPlanPtr plan = NULL;
	Datum		args[3];

	if (value == NULL)
		return;
	if (plan == NULL && !catalog_has("carbonmkt._check_text(text,text,text)"))
		return;
	if (plan == NULL)
	{
		Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};

		plan = SPI_prepare("SELECT carbonmkt._check_text($1, $2, $3)", 3, argtypes);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "preparing the text limit check failed");
	}
	args[0] = CStringGetTextDatum(function);
	args[1] = CStringGetTextDatum(argument);
	args[2] = PointerGetDatum(value);
	if (SPI_execute_plan(plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "the text limit check failed");
}

static text *
empty_text(void)
{
	return cstring_to_text("");
}

/*
 * run_transfer
 *		post_transfer() inside its own SPI connection.
 */
static int64
run_transfer(TransferRequest *t)
{
	int64		posting_id;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	check_text_arg(t->operation, "reference", t->reference);
	check_text_arg(t->operation, "memo", t->memo);
	posting_id = post_transfer(t);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	return posting_id;
}

static void
transfer_init(TransferRequest *t, const char *operation, PostingAction action,
			  const char *instrument, EntryKind debit_kind, EntryKind credit_kind)
{
	memset(t, 0, sizeof(*t));
	t->operation = operation;
	t->action = action;
	asset_instrument(&t->asset, instrument);
	t->debit_kind = debit_kind;
	t->credit_kind = credit_kind;
	t->period_null = true;
	t->asset.vintage_null = false;
	t->asset.project = empty_text();
}

/*
 * transfer_cea(from_account, to_account, vintage, tonnes, reference, memo)
 */
Datum
carbonmkt_transfer_cea(PG_FUNCTION_ARGS)
{
	TransferRequest t;

	transfer_init(&t, "transfer_cea", ACTION_TRANSFER, "CEA", ENTRY_DEBIT, ENTRY_CREDIT);
	t.from_null = PG_ARGISNULL(0);
	t.from = t.from_null ? 0 : PG_GETARG_INT64(0);
	t.to_null = PG_ARGISNULL(1);
	t.to = t.to_null ? 0 : PG_GETARG_INT64(1);
	t.asset.vintage_null = PG_ARGISNULL(2);
	t.asset.vintage = t.asset.vintage_null ? 0 : PG_GETARG_INT32(2);
	t.quantity_null = PG_ARGISNULL(3);
	t.quantity = t.quantity_null ? 0 : PG_GETARG_INT64(3);
	t.reference = opt_text_arg(fcinfo, 4);
	t.memo = opt_text_arg(fcinfo, 5);
	PG_RETURN_INT64(run_transfer(&t));
}

/*
 * transfer_cny(from_account, to_account, fen, reference, memo)
 */
Datum
carbonmkt_transfer_cny(PG_FUNCTION_ARGS)
{
	TransferRequest t;

	transfer_init(&t, "transfer_cny", ACTION_TRANSFER, "CNY", ENTRY_DEBIT, ENTRY_CREDIT);
	t.from_null = PG_ARGISNULL(0);
	t.from = t.from_null ? 0 : PG_GETARG_INT64(0);
	t.to_null = PG_ARGISNULL(1);
	t.to = t.to_null ? 0 : PG_GETARG_INT64(1);
	t.asset.vintage = 0;
	t.quantity_null = PG_ARGISNULL(2);
	t.quantity = t.quantity_null ? 0 : PG_GETARG_INT64(2);
	t.reference = opt_text_arg(fcinfo, 3);
	t.memo = opt_text_arg(fcinfo, 4);
	PG_RETURN_INT64(run_transfer(&t));
}

/*
 * surrender_cea / retire_cea (account_id, vintage, tonnes, [period,] reference, memo):
 * into the cancellation account.
 */
static Datum
retire_cea(FunctionCallInfo fcinfo, bool surrender)
{
	TransferRequest t;
	int			a = 0;
	int64		posting_id;

	if (surrender)
		transfer_init(&t, "surrender_cea", ACTION_SURRENDER, "CEA", ENTRY_SURRENDER, ENTRY_RETIRE);
	else
		transfer_init(&t, "cancel_cea", ACTION_CANCEL, "CEA", ENTRY_CANCEL, ENTRY_RETIRE);
	t.from_null = PG_ARGISNULL(a);
	t.from = t.from_null ? 0 : PG_GETARG_INT64(a);
	a++;
	t.asset.vintage_null = PG_ARGISNULL(a);
	t.asset.vintage = t.asset.vintage_null ? 0 : PG_GETARG_INT32(a);
	a++;
	t.quantity_null = PG_ARGISNULL(a);
	t.quantity = t.quantity_null ? 0 : PG_GETARG_INT64(a);
	a++;
	if (surrender)
	{
		t.period_null = PG_ARGISNULL(a);
		t.period = t.period_null ? 0 : PG_GETARG_INT32(a);
		a++;
	}
	t.reference = opt_text_arg(fcinfo, a);
	t.memo = opt_text_arg(fcinfo, a + 1);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	t.to = cancellation_account();
	posting_id = post_transfer(&t);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_INT64(posting_id);
}

Datum
carbonmkt_surrender_cea(PG_FUNCTION_ARGS)
{
	return retire_cea(fcinfo, true);
}

/* retire_cea(); the symbol of 0.1.0's cancel_cea() likewise */
Datum
carbonmkt_retire_cea(PG_FUNCTION_ARGS)
{
	return retire_cea(fcinfo, false);
}

Datum
carbonmkt_cancel_cea(PG_FUNCTION_ARGS)
{
	return retire_cea(fcinfo, false);
}

/*
 * transfer_exact
 *		The exact CCER block of a request: its lot and serials (NULL: none).
 */
static void
transfer_exact(TransferRequest *t, Datum block)
{
	Ccer	   *c = DatumGetCcerP(block);

	t->asset.vintage = c->vintage;
	t->asset.vintage_null = false;
	t->asset.project = cstring_to_text(c->project);
	t->quantity = CcerTonnes(c);
	t->quantity_null = false;
	t->has_exact = true;
	t->exact.first = c->first_serial;
	t->exact.last = c->last_serial;
	t->block = block_text(&t->asset, c->first_serial, c->last_serial);
}

/* the project id of a CCER request, upper-cased (NULL stays NULL) */
static text *
project_arg(FunctionCallInfo fcinfo, int n)
{
	if (PG_ARGISNULL(n))
		return NULL;
	return DatumGetTextPP(DirectFunctionCall1Coll(upper, DEFAULT_COLLATION_OID,
												  PointerGetDatum(PG_GETARG_TEXT_PP(n))));
}

/*
 * transfer_ccer(from_account, to_account, project, vintage, tonnes, reference, memo)
 *		n tonnes of a CCER lot, lowest serials first.
 */
Datum
carbonmkt_transfer_ccer(PG_FUNCTION_ARGS)
{
	TransferRequest t;

	transfer_init(&t, "transfer_ccer", ACTION_TRANSFER, "CCER", ENTRY_DEBIT, ENTRY_CREDIT);
	t.from_null = PG_ARGISNULL(0);
	t.from = t.from_null ? 0 : PG_GETARG_INT64(0);
	t.to_null = PG_ARGISNULL(1);
	t.to = t.to_null ? 0 : PG_GETARG_INT64(1);
	t.asset.project = project_arg(fcinfo, 2);
	t.asset.vintage_null = PG_ARGISNULL(3);
	t.asset.vintage = t.asset.vintage_null ? 0 : PG_GETARG_INT32(3);
	t.quantity_null = PG_ARGISNULL(4);
	t.quantity = t.quantity_null ? 0 : PG_GETARG_INT64(4);
	t.reference = opt_text_arg(fcinfo, 5);
	t.memo = opt_text_arg(fcinfo, 6);
	PG_RETURN_INT64(run_transfer(&t));
}

/*
 * transfer_ccer_block(from_account, to_account, block, reference, memo)
 *		Exactly the serials of a block.
 */
Datum
carbonmkt_transfer_ccer_block(PG_FUNCTION_ARGS)
{
	TransferRequest t;

	transfer_init(&t, "transfer_ccer_block", ACTION_TRANSFER, "CCER", ENTRY_DEBIT, ENTRY_CREDIT);
	t.from_null = PG_ARGISNULL(0);
	t.from = t.from_null ? 0 : PG_GETARG_INT64(0);
	t.to_null = PG_ARGISNULL(1);
	t.to = t.to_null ? 0 : PG_GETARG_INT64(1);
	if (PG_ARGISNULL(2))
	{
		t.asset.vintage_null = true;
		t.asset.project = NULL;
		t.quantity_null = true;
	}
	else
		transfer_exact(&t, PG_GETARG_DATUM(2));
	t.reference = opt_text_arg(fcinfo, 3);
	t.memo = opt_text_arg(fcinfo, 4);
	PG_RETURN_INT64(run_transfer(&t));
}

/*
 * surrender_ccer / retire_ccer (account_id, project, vintage, tonnes, [period,] reference, memo):
 * lowest serials first, into the cancellation account.
 */
static Datum
retire_ccer(FunctionCallInfo fcinfo, bool surrender)
{
	TransferRequest t;
	int			a = 0;
	int64		posting_id;

	if (surrender)
		transfer_init(&t, "surrender_ccer", ACTION_SURRENDER, "CCER", ENTRY_SURRENDER, ENTRY_RETIRE);
	else
		transfer_init(&t, "cancel_ccer", ACTION_CANCEL, "CCER", ENTRY_CANCEL, ENTRY_RETIRE);
	t.from_null = PG_ARGISNULL(a);
	t.from = t.from_null ? 0 : PG_GETARG_INT64(a);
	a++;
	t.asset.project = project_arg(fcinfo, a);
	a++;
	t.asset.vintage_null = PG_ARGISNULL(a);
	t.asset.vintage = t.asset.vintage_null ? 0 : PG_GETARG_INT32(a);
	a++;
	t.quantity_null = PG_ARGISNULL(a);
	t.quantity = t.quantity_null ? 0 : PG_GETARG_INT64(a);
	a++;
	if (surrender)
	{
		t.period_null = PG_ARGISNULL(a);
		t.period = t.period_null ? 0 : PG_GETARG_INT32(a);
		a++;
	}
	t.reference = opt_text_arg(fcinfo, a);
	t.memo = opt_text_arg(fcinfo, a + 1);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	t.to = cancellation_account();
	posting_id = post_transfer(&t);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_INT64(posting_id);
}

Datum
carbonmkt_surrender_ccer(PG_FUNCTION_ARGS)
{
	return retire_ccer(fcinfo, true);
}

/* retire_ccer(); the symbol of 0.1.0's cancel_ccer() likewise */
Datum
carbonmkt_retire_ccer(PG_FUNCTION_ARGS)
{
	return retire_ccer(fcinfo, false);
}

Datum
carbonmkt_cancel_ccer(PG_FUNCTION_ARGS)
{
	return retire_ccer(fcinfo, false);
}

/*
 * carbonmkt._transfer(operation, action, from, to, instrument, vintage,
 *					   project, quantity, debit_kind, credit_kind, period,
 *					   reference, memo, exact ccer) -> posting id
 *		The generic movement of 0.1.0, whose public functions called it; 0.2.0
 *		calls post_transfer() directly.  Kept working for a 0.1.0 catalog.
 */
Datum
carbonmkt_transfer(PG_FUNCTION_ARGS)
{
	TransferRequest t;

	if (PG_ARGISNULL(4) || PG_ARGISNULL(8) || PG_ARGISNULL(9))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the instrument and the journal entry kinds of a movement must not be null")));
	memset(&t, 0, sizeof(t));
	t.operation = PG_ARGISNULL(0) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	t.action = action_of(PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)));
	t.from_null = PG_ARGISNULL(2);
	t.from = t.from_null ? 0 : PG_GETARG_INT64(2);
	t.to_null = PG_ARGISNULL(3);
	t.to = t.to_null ? 0 : PG_GETARG_INT64(3);
	asset_instrument(&t.asset, DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(4))));
	t.asset.vintage_null = PG_ARGISNULL(5);
	t.asset.vintage = t.asset.vintage_null ? 0 : PG_GETARG_INT32(5);
	t.asset.project = opt_text_arg(fcinfo, 6);
	t.quantity_null = PG_ARGISNULL(7);
	t.quantity = t.quantity_null ? 0 : PG_GETARG_INT64(7);
	t.debit_kind = entry_kind_of(DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(8))));
	t.credit_kind = entry_kind_of(DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(9))));
	if (t.debit_kind == ENTRY_UNKNOWN || t.credit_kind == ENTRY_UNKNOWN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a movement posts debit and credit entries of the kinds the registry knows")));
	t.period_null = PG_ARGISNULL(10);
	t.period = t.period_null ? 0 : PG_GETARG_INT32(10);
	t.reference = opt_text_arg(fcinfo, 11);
	t.memo = opt_text_arg(fcinfo, 12);
	if (!PG_ARGISNULL(13))
	{
		text	   *project = t.asset.project;

		transfer_exact(&t, PG_GETARG_DATUM(13));
		t.asset.project = project;
	}
	PG_RETURN_INT64(run_transfer(&t));
}

/* ----------------------------------------------------------------
 *		Issuance (签发), cash deposit (入金) and withdrawal (出金)
 * ----------------------------------------------------------------
 */

/*
 * post_single
 *		A posting of one leg on one account: units or cash created (issue,
 *		deposit: entry kind issue) or cash taken out (withdraw).  Checks, in
 *		order: quantity, vintage, client reference, sealed day,
 *		authorisation, account state, then may the kind receive issuance
 *		(CM006) and are the serials new (23P01), or is the cash available.
 */
static int64
post_single(const char *operation, int64 account_id, bool account_null, Asset *asset,
			int64 quantity, bool quantity_null, const BlockPiece *block, bool withdraw,
			text *reference, text *memo)
{
	Posting		p;
	AccountRow	a;
	AccountRow	rows[2];
	int			nrows;
	Leg			leg;
	bool		cash = asset->instr == INSTRUMENT_CNY;
	char	   *request = NULL;

	check_text_arg(operation, "reference", reference);
	check_text_arg(operation, "memo", memo);
	check_quantity(asset->instrument, quantity, quantity_null);
	if (!cash && asset->vintage_null)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_MISSING_ARGUMENT),
				 errmsg("%s: argument vintage must not be NULL", operation)));
	if (!cash && !asset->vintage_null)
		carbonmkt_check_vintage(asset->vintage, "allowance vintage");
	if (reference)
	{
		if (withdraw)
			request = psprintf("withdraw_cny(account=%s,fen=%s,memo=%s)",
							   opt_int64(account_id, account_null), opt_int64(quantity, quantity_null),
							   memo ? text_to_cstring(memo) : "");
		else
			request = psprintf("%s(account=%s,%s,quantity=%s,block=%s,memo=%s)", operation,
							   opt_int64(account_id, account_null), opt_text(format_asset_text(asset)),
							   opt_int64(quantity, quantity_null),
							   block ? block_text(asset, block->first, block->last) : "",
							   memo ? text_to_cstring(memo) : "");
	}
	posting_begin(&p, operation, reference, request);
	if (p.replay)
		return p.posting_id;
	check_sealed(&p, entry_kind_names[withdraw ? ENTRY_WITHDRAW : ENTRY_ISSUE], NULL);

	account_read(account_id, account_null, &a);
	authorize(account_id, account_null, &a, cash ? ACTION_CASH : ACTION_ISSUE, REASON_NONE);
	nrows = lock_accounts(account_id, account_null, 0, true, asset->instr, rows);
	if (withdraw ?
		lock_problem(rows, nrows, account_id, account_null, 0, true) :
		lock_problem(rows, nrows, 0, true, account_id, account_null))
	{
		if (withdraw)
			refuse_accounts(rows, nrows, account_id, account_null, 0, true, asset->instrument);
		refuse_accounts(rows, nrows, 0, true, account_id, account_null, asset->instrument);
	}
	if (!withdraw && !rules_may_issue(rows[0].kind, asset->instr))
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_NO_ISSUANCE),
				 errmsg("account " INT64_FORMAT " (kind %s) cannot receive issuance of %s",
						account_id, rows[0].kind, asset->instrument),
				 errhint("CEA is issued into the national reserve or a provincial allocation account, CCER into the national reserve, cash into cash accounts.")));
	if (!withdraw)
	{
		/* plausibility of the quantity, and no balance beyond int8 (doc/security.md) */
		static bool has_check_issue = false;
		Oid			argtypes[6] = {TEXTOID, INT8OID, TEXTOID, INT4OID, TEXTOID, INT8OID};
		Datum		args[6];

		args[0] = CStringGetTextDatum(operation);
		args[1] = Int64GetDatum(account_id);
		args[2] = CStringGetTextDatum(asset->instrument);
		args[3] = Int32GetDatum(asset->vintage);
		args[4] = PointerGetDatum(asset->project ? asset->project : empty_text());
		args[5] = Int64GetDatum(quantity);
		if (!has_check_issue)
			has_check_issue = catalog_has("carbonmkt._check_issue(text,bigint,carbonmkt.instrument,integer,text,bigint)");
		if (has_check_issue &&
			SPI_execute_with_args("SELECT carbonmkt._check_issue($1, $2, $3::carbonmkt.instrument, $4, $5, $6)",
								  6, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "the issuance check failed");
	}
	if (block)
		block_issue(account_id, asset, block->first, block->last);

	memset(&leg, 0, sizeof(leg));
	leg.account_id = account_id;
	leg.kind = withdraw ? ENTRY_WITHDRAW : ENTRY_ISSUE;
	leg.amount = withdraw ? -quantity : quantity;
	leg.counterparty_null = true;
	leg.hold_null = true;
	leg.block = block ? block_text(asset, block->first, block->last) : NULL;
	if (!post_legs(&p, asset, &leg, 1, true, 0, memo, rows, nrows))
		refuse_unavailable(account_id, asset, quantity);
	return p.posting_id;
}

/* run post_single() in its own SPI connection */
static Datum
run_single(const char *operation, FunctionCallInfo fcinfo, Asset *asset, int quantity_arg,
		   const BlockPiece *block, bool withdraw, int reference_arg)
{
	int64		posting_id;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	posting_id = post_single(operation, PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0), PG_ARGISNULL(0),
							 asset,
							 quantity_arg < 0 || PG_ARGISNULL(quantity_arg) ? 0 : PG_GETARG_INT64(quantity_arg),
							 quantity_arg < 0 || PG_ARGISNULL(quantity_arg),
							 block, withdraw,
							 opt_text_arg(fcinfo, reference_arg), opt_text_arg(fcinfo, reference_arg + 1));
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_INT64(posting_id);
}

/* issue_cea(account_id, vintage, tonnes, reference, memo) */
Datum
carbonmkt_issue_cea(PG_FUNCTION_ARGS)
{
	Asset		asset;

	asset_instrument(&asset, "CEA");
	asset.vintage_null = PG_ARGISNULL(1);
	asset.vintage = asset.vintage_null ? 0 : PG_GETARG_INT32(1);
	asset.project = empty_text();
	return run_single("issue_cea", fcinfo, &asset, 2, NULL, false, 3);
}

/* issue_ccer(account_id, block, reference, memo) */
Datum
carbonmkt_issue_ccer(PG_FUNCTION_ARGS)
{
	Asset		asset;
	BlockPiece	block;
	int64		posting_id;
	Ccer	   *c;

	asset_instrument(&asset, "CCER");
	if (PG_ARGISNULL(1))
	{
		asset.vintage_null = true;
		asset.vintage = 0;
		asset.project = NULL;
		return run_single("issue_ccer", fcinfo, &asset, -1, NULL, false, 2);
	}
	c = PG_GETARG_CCER_P(1);
	asset.vintage_null = false;
	asset.vintage = c->vintage;
	asset.project = cstring_to_text(c->project);
	block.first = c->first_serial;
	block.last = c->last_serial;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	posting_id = post_single("issue_ccer", PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0), PG_ARGISNULL(0),
							 &asset, CcerTonnes(c), false, &block, false,
							 opt_text_arg(fcinfo, 2), opt_text_arg(fcinfo, 3));
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_INT64(posting_id);
}

/* deposit_cny(account_id, fen, reference, memo) */
Datum
carbonmkt_deposit_cny(PG_FUNCTION_ARGS)
{
	Asset		asset;

	asset_instrument(&asset, "CNY");
	asset.vintage_null = false;
	asset.vintage = 0;
	asset.project = empty_text();
	return run_single("deposit_cny", fcinfo, &asset, 1, NULL, false, 2);
}

/* withdraw_cny(account_id, fen, reference, memo) */
Datum
carbonmkt_withdraw_cny(PG_FUNCTION_ARGS)
{
	Asset		asset;

	asset_instrument(&asset, "CNY");
	asset.vintage_null = false;
	asset.vintage = 0;
	asset.project = empty_text();
	return run_single("withdraw_cny", fcinfo, &asset, 1, NULL, true, 2);
}

/* ----------------------------------------------------------------
 *		Postings without legs
 * ----------------------------------------------------------------
 */

/*
 * posting_open
 *		Start a posting whose row goes in now: with a client reference, the
 *		one this login's reference made, if any (returns true: a replay,
 *		*posting_id the original); else a new posting dated now by the
 *		extension's clock, refused on a sealed day (CM012), its request
 *		stored.  For postings that write their legs themselves
 *		(settle_batch, src/settlement.c) or have none (a change of account
 *		status).  Call within SPI.
 */
bool
posting_open(const char *operation, text *reference, const char *request,
			 int64 *posting_id, TimestampTz *ts, DateADT *bdate)
{
	Posting		p;

	posting_begin(&p, operation, reference, request);
	*posting_id = p.posting_id;
	*ts = p.ts;
	*bdate = p.bdate;
	if (p.replay)
		return true;
	if (!p.recorded)
	{
		Datum		args[5];
		char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

		if (rules_day_sealed(p.bdate))
		{
			raise_if_sealed(p.bdate);
			elog(ERROR, "the day seals changed while posting");
		}
		args[0] = CStringGetTextDatum(operation);
		args[1] = request ? CStringGetTextDatum(request) : (Datum) 0;
		nulls[1] = request ? ' ' : 'n';
		args[2] = DateADTGetDatum(p.bdate);
		args[3] = TimestampTzGetDatum(p.ts);
		if (run_plan(PLAN_POSTING_NEW_REQUEST, args, nulls, SPI_OK_INSERT_RETURNING) != 1)
			elog(ERROR, "recording a posting failed");
		*posting_id = col_int64(0, 1, NULL);
	}
	return false;
}

/*
 * carbonmkt._record_posting(operation text, request text) -> posting id
 *		A posting without legs (set_account_status): recorded now, with its
 *		request, unless the day is sealed.
 */
Datum
carbonmkt_record_posting(PG_FUNCTION_ARGS)
{
	int64		posting_id;
	TimestampTz ts;
	DateADT		bdate;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the operation of a posting must not be null")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) posting_open(text_to_cstring(PG_GETARG_TEXT_PP(0)), NULL,
						PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)),
						&posting_id, &ts, &bdate);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_INT64(posting_id);
}

/* ----------------------------------------------------------------
 *		Batch postings: the market's unified settlement (统一交收)
 *
 * settle_batch (src/settlement.c) checks its arguments, opens its posting
 * (posting_open) and hands the batch -- per order hold what it spends and
 * whether the rest is released, per receiving account and asset the net
 * credit -- to posting_batch(), which makes the posting set-based: it
 * locks every account of the batch in account_id order, reads the holds,
 * checks every rule the per-call path (transfer_from_hold, release_hold)
 * checks and that the batch balances per asset, computes the holdings
 * with their running balances (no balance, held or available quantity
 * negative), and writes every hold with one UPDATE, every holding with
 * one statement and every journal row with one INSERT -- one row per
 * hold (its spend and release, so each hold's history stays on the
 * journal) and one per receiving account and asset, the rows of one
 * account consecutive.  The rows go through the chain trigger
 * (src/chain.c) like every other journal row; when no other trigger may
 * fire for them (chain_can_defer), the batch registers its accounts with
 * the heads read under their locks, the trigger advances them in memory
 * and one UPDATE writes each account's head once after the INSERT.
 * ----------------------------------------------------------------
 */

#define ERRCODE_CARBONMKT_UNBALANCED			MAKE_SQLSTATE('C','M','0','1','3')

/* a holding touched by the batch */
typedef struct BatchHolding
{
	PostingAsset key;
	int64		balance;
	int64		held;
	bool		exists;			/* a row of carbonmkt.holding (else inserted) */
} BatchHolding;

/* a journal row to write */
typedef struct BatchRow
{
	PostingAsset asset;
	int			order;			/* 0 hold rows, 1 credit rows */
	int64		hold_id;		/* 0 for a credit */
	const char *kind;
	int64		amount;
	int64		held_change;
	int64		balance_after;
	int64		held_after;
} BatchRow;

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

typedef enum BatchPlan
{
	BP_LOCK,
	BP_HOLDS,
	BP_HOLDINGS,
	BP_WRITE_HOLDS,
	BP_WRITE_HOLDINGS,
	BP_WRITE_JOURNAL,
	NUM_BATCH_PLANS
} BatchPlan;

typedef struct BatchPlanDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[14];
} BatchPlanDef;

/*
 * The arrays are walked with unnest() in a select list, in step, and not in
 * FROM: a function scan in FROM first copies each array's elements into a
 * tuplestore of its own (ten of them per journal row here), a select list
 * returns them as it reads them.  The row order the chain needs is kept by
 * ORDER BY over the elements' positions.
 */
static const BatchPlanDef batch_plan_defs[NUM_BATCH_PLANS] = {
	/*
	 * every account of the batch, locked in account_id order (the registry's
	 * fixed order): one scan of account_pkey for the array of their ids (the
	 * holds' accounts and the credited ones; the index scan sorts the array
	 * and skips repeated ids), which returns them in key order, so the rows
	 * are locked in that order without a sort.  The earlier shape (IN over a
	 * UNION) was planned generic as a hash join over a sequential scan of
	 * every account.
	 */
	[BP_LOCK] = {"SELECT a.account_id, a.kind::text, a.status::text, a.head_seq, a.head_hash, a.ctid "
		"FROM carbonmkt.account a "
		"WHERE a.account_id = ANY (ARRAY(SELECT h.account_id FROM carbonmkt.hold h "
		"WHERE h.hold_id = ANY ($1)) || $2) "
		"ORDER BY a.account_id FOR NO KEY UPDATE OF a", 2, {INT8ARRAYOID, INT8ARRAYOID}},
	[BP_HOLDS] = {"SELECT h.hold_id, h.account_id, h.instrument::text, h.vintage, h.project, h.remaining, "
		"h.reason::text, h.status::text FROM carbonmkt.hold h WHERE h.hold_id = ANY ($1)",
	1, {INT8ARRAYOID}},
	[BP_HOLDINGS] = {"SELECT h.account_id, h.instrument::text, h.vintage, h.project, h.balance, h.held "
		"FROM (SELECT unnest($1::int8[]) AS a, unnest($2::text[]) AS i, unnest($3::int4[]) AS v, "
		"unnest($4::text[]) AS p) AS k "
		"JOIN carbonmkt.holding h ON h.account_id = k.a AND h.instrument = k.i::carbonmkt.instrument "
		"AND h.vintage = k.v AND h.project = k.p", 4, {INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID}},
	[BP_WRITE_HOLDS] = {"UPDATE carbonmkt.hold h SET remaining = u.rem, "
		"status = u.st::carbonmkt.hold_status, "
		"ended_posting = CASE WHEN u.st <> 'active' THEN $1 END "
		"FROM (SELECT unnest($2::int8[]) AS id, unnest($3::int8[]) AS rem, unnest($4::text[]) AS st) AS u "
		"WHERE h.hold_id = u.id AND h.status = 'active'", 4, {INT8OID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID}},
	/* the holdings, as computed under the locks: updated, or inserted when new */
	[BP_WRITE_HOLDINGS] = {"WITH v AS (SELECT unnest($1::int8[]) AS a, unnest($2::text[]) AS i, "
		"unnest($3::int4[]) AS vi, unnest($4::text[]) AS p, unnest($5::int8[]) AS bal, "
		"unnest($6::int8[]) AS hld, unnest($7::bool[]) AS old), "
		"u AS (UPDATE carbonmkt.holding h SET balance = v.bal, held = v.hld FROM v "
		"WHERE v.old AND h.account_id = v.a AND h.instrument = v.i::carbonmkt.instrument "
		"AND h.vintage = v.vi AND h.project = v.p RETURNING 1), "
		"n AS (INSERT INTO carbonmkt.holding (account_id, instrument, vintage, project, balance, held) "
		"SELECT v.a, v.i::carbonmkt.instrument, v.vi, v.p, v.bal, v.hld FROM v WHERE NOT v.old RETURNING 1) "
		"SELECT (SELECT count(*) FROM u) + (SELECT count(*) FROM n)",
	7, {INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID, BOOLARRAYOID}},
	/* the chain trigger sets seq, prev_hash and hash, row by row in this order */
	[BP_WRITE_JOURNAL] = {JOURNAL_INSERT
		"SELECT $1, u.a, 0, u.k::carbonmkt.entry_kind, u.i::carbonmkt.instrument, u.v, u.p, "
		"NULL::carbonmkt.ccer, u.am, u.hc, u.ba, u.ha, NULL::bigint, nullif(u.h, 0), NULL::int, "
		"$2, $3, $4, '\\x', '\\x' "
		"FROM (SELECT unnest($5::int8[]) AS a, unnest($6::text[]) AS k, unnest($7::text[]) AS i, "
		"unnest($8::int4[]) AS v, unnest($9::text[]) AS p, unnest($10::int8[]) AS am, "
		"unnest($11::int8[]) AS hc, unnest($12::int8[]) AS ba, unnest($13::int8[]) AS ha, "
		"unnest($14::int8[]) AS h, generate_series(1, cardinality($5::int8[])) AS n) AS u "
		"ORDER BY u.n",
	14, {INT8OID, DATEOID, TIMESTAMPTZOID, TEXTOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT4ARRAYOID,
	TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}},
};

static SPIPlanPtr batch_plans[NUM_BATCH_PLANS];

/*
 * batch_plan
 *		The saved plan of a batch statement, generic.  Every statement reads
 *		and writes by key, so they are planned as lookups
 *		(carbonmkt_keep_lookup_plan: sequential scans off while planning),
 *		whatever the tables' size and statistics when the backend first
 *		settles.
 */
static SPIPlanPtr
batch_plan(BatchPlan id)
{
	if (batch_plans[id] == NULL)
	{
		const BatchPlanDef *d = &batch_plan_defs[id];

		batch_plans[id] = carbonmkt_keep_lookup_plan(d->sql, d->nargs, (Oid *) d->argtypes);
	}
	return batch_plans[id];
}

static uint64
batch_run(BatchPlan id, Datum *values, const char *nulls, int expect)
{
	int			ret = SPI_execute_plan(batch_plan(id), values, nulls, false, 0);

	if (ret != expect)
		elog(ERROR, "settle_batch: statement %d failed: %s", (int) id, SPI_result_code_string(ret));
	return SPI_processed;
}

/*
 * posting_instrument
 *		The instrument of a label of enum carbonmkt.instrument (ERROR for any
 *		other), and the label of an instrument.
 */
Instrument
posting_instrument(const char *label)
{
	for (int i = 0; i < INSTRUMENT_UNKNOWN; i++)
		if (strcmp(label, instrument_names[i]) == 0)
			return (Instrument) i;
	elog(ERROR, "settle_batch: unknown instrument \"%s\"", label);
	return INSTRUMENT_UNKNOWN;	/* keep compiler quiet */
}

const char *
posting_instrument_label(Instrument instr)
{
	switch (instr)
	{
		case INSTRUMENT_CEA:
		case INSTRUMENT_CCER:
		case INSTRUMENT_CNY:
			return instrument_names[instr];
		default:
			break;
	}
	elog(ERROR, "unknown instrument %d", (int) instr);
	return NULL;				/* keep compiler quiet */
}

/* "1,234 t" or "12.34 CNY", like carbonmkt.format_quantity() */
char *
posting_format_qty(Instrument instr, int64 q)
{
	char		digits[32];
	char		out[48];
	int			len;
	int			o = 0;
	uint64		u = q < 0 ? -(uint64) q : (uint64) q;
	int			frac = -1;

	if (instr == INSTRUMENT_CNY)
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
char *
posting_format_asset(const PostingAsset *k)
{
	if (k->instr == INSTRUMENT_CNY)
		return pstrdup("CNY");
	if (k->instr == INSTRUMENT_CCER)
		return psprintf("CCER %s %d", k->project, k->vintage);
	return psprintf("CEA %d", k->vintage);
}

static int
cmp_asset_only(const PostingAsset *a, const PostingAsset *b)
{
	if (a->instr != b->instr)
		return a->instr < b->instr ? -1 : 1;
	if (a->vintage != b->vintage)
		return a->vintage < b->vintage ? -1 : 1;
	return strcmp(a->project, b->project);
}

/* order of assets: by account, instrument, vintage, project */
int
posting_asset_cmp(const PostingAsset *a, const PostingAsset *b)
{
	if (a->account != b->account)
		return a->account < b->account ? -1 : 1;
	return cmp_asset_only(a, b);
}

static int
cmp_batch_holding(const void *a, const void *b)
{
	return posting_asset_cmp(&((const BatchHolding *) a)->key, &((const BatchHolding *) b)->key);
}

/* qsort/bsearch orders of a batch's holds (hold_id) and credits (asset) */
int
posting_batch_hold_cmp(const void *a, const void *b)
{
	int64		x = ((const PostingBatchHold *) a)->hold_id;
	int64		y = ((const PostingBatchHold *) b)->hold_id;

	return x < y ? -1 : x > y ? 1 : 0;
}

int
posting_batch_credit_cmp(const void *a, const void *b)
{
	return posting_asset_cmp(&((const PostingBatchCredit *) a)->asset,
							 &((const PostingBatchCredit *) b)->asset);
}

static int
cmp_batch_row(const void *a, const void *b)
{
	const BatchRow *x = (const BatchRow *) a;
	const BatchRow *y = (const BatchRow *) b;

	if (x->asset.account != y->asset.account)
		return x->asset.account < y->asset.account ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	if (x->hold_id != y->hold_id)
		return x->hold_id < y->hold_id ? -1 : 1;
	return cmp_asset_only(&x->asset, &y->asset);
}

/* the holding of a key in a sorted array, or NULL */
static BatchHolding *
find_batch_holding(BatchHolding *h, int n, const PostingAsset *k)
{
	BatchHolding probe;

	memset(&probe, 0, sizeof(probe));
	probe.key = *k;
	return (BatchHolding *) bsearch(&probe, h, n, sizeof(BatchHolding), cmp_batch_holding);
}

static BatchAccount *
find_batch_account(BatchAccount *a, int n, int64 id)
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
 * posting_batch
 *		Make the posting of a market batch (see above): posting_id, ts and
 *		bdate are its posting row's, opened by posting_open().  holds are
 *		sorted by hold_id and credits by asset, each given once (settle_batch
 *		checks both); the engine fills the rest of each hold.  Call within
 *		SPI; every refusal is an ERROR and changes nothing.
 */
void
posting_batch(int64 posting_id, TimestampTz ts, DateADT bdate, const char *memo,
			  PostingBatchHold *holds, int nholds,
			  PostingBatchCredit *credits, int ncredits)
{
	BatchAccount *accounts;
	int			naccounts;
	BatchHolding *holdings;
	int			nholdings;
	BatchRow   *rows;
	int			nrows;
	int			n;
	bool		isnull;
	MemoryContext callercxt = CurrentMemoryContext;

	for (int i = 1; i < nholds; i++)
		if (holds[i].hold_id <= holds[i - 1].hold_id)
			elog(ERROR, "posting_batch: the holds are not sorted and distinct");
	for (int i = 1; i < ncredits; i++)
		if (posting_asset_cmp(&credits[i].asset, &credits[i - 1].asset) <= 0)
			elog(ERROR, "posting_batch: the credits are not sorted and distinct");

	/* 1. lock every account of the batch in account_id order */
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
		naccounts = (int) batch_run(BP_LOCK, v, NULL, SPI_OK_SELECT);
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

		/* 2. the holds, under their accounts' locks */
		n = (int) batch_run(BP_HOLDS, v, NULL, SPI_OK_SELECT);
		tt = SPI_tuptable;
		old = MemoryContextSwitchTo(callercxt);
		for (int i = 0; i < n; i++)
		{
			PostingBatchHold	probe;
			PostingBatchHold  *h;

			memset(&probe, 0, sizeof(probe));
			probe.hold_id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			h = bsearch(&probe, holds, nholds, sizeof(PostingBatchHold), posting_batch_hold_cmp);
			if (h == NULL)
				elog(ERROR, "settle_batch: hold " INT64_FORMAT " was not asked for", probe.hold_id);
			h->found = true;
			h->asset.account = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
			h->asset.instr = posting_instrument(SPI_getvalue(tt->vals[i], tt->tupdesc, 3));
			h->asset.vintage = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &isnull));
			h->asset.project = SPI_getvalue(tt->vals[i], tt->tupdesc, 5);
			h->remaining = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 6, &isnull));
			h->reason = SPI_getvalue(tt->vals[i], tt->tupdesc, 7);
			h->status = SPI_getvalue(tt->vals[i], tt->tupdesc, 8);
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(tt);
	}

	/* 3. the rules of each hold and account */
	for (int i = 0; i < nholds; i++)
	{
		PostingBatchHold  *h = &holds[i];
		BatchAccount *acc;

		if (!h->found)
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_HOLD),
					 errmsg("hold " INT64_FORMAT " does not exist", h->hold_id)));
		if (strcmp(h->status, "active") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_HOLD),
					 errmsg("hold " INT64_FORMAT " is already %s", h->hold_id, h->status),
					 errdetail("A hold is released or consumed exactly once.")));
		if (strcmp(h->reason, "order") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_HOLD),
					 errmsg("hold " INT64_FORMAT " is a %s hold; a market batch settles order holds only",
							h->hold_id, h->reason),
					 errhint("Pledges and judicial freezes are released by the registry (release_hold).")));
		if (h->asset.instr == INSTRUMENT_CCER)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("hold " INT64_FORMAT " freezes %s: a batch settles CEA and CNY only",
							h->hold_id, posting_format_asset(&h->asset)),
					 errhint("CCER moves by serial block: settle it with transfer_from_hold().")));
		if (h->spent > h->remaining)
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_INSUFFICIENT),
					 errmsg("hold " INT64_FORMAT " has %s remaining, requested %s", h->hold_id,
							posting_format_qty(h->asset.instr, h->remaining), posting_format_qty(h->asset.instr, h->spent)),
					 errdetail("Account " INT64_FORMAT ", %s.", h->asset.account, posting_format_asset(&h->asset))));
		h->released = h->release ? h->remaining - h->spent : 0;
		h->new_status = h->remaining == h->spent ? "consumed" : h->release ? "released" : "active";
		acc = find_batch_account(accounts, naccounts, h->asset.account);
		if (acc == NULL)
			elog(ERROR, "settle_batch: account " INT64_FORMAT " of hold " INT64_FORMAT " was not locked",
				 h->asset.account, h->hold_id);
		if (h->spent > 0)
			acc->debited = true;
	}
	for (int i = 0; i < ncredits; i++)
	{
		BatchAccount *acc = find_batch_account(accounts, naccounts, credits[i].asset.account);

		if (acc == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_UNKNOWN_ACCOUNT),
					 errmsg("account " INT64_FORMAT " does not exist", credits[i].asset.account)));
		acc->credited = true;
		if (credits[i].asset.instr == INSTRUMENT_CCER)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the credit to account " INT64_FORMAT " is %s: a batch settles CEA and CNY only",
							acc->account_id, posting_format_asset(&credits[i].asset)),
					 errhint("CCER moves by serial block: settle it with transfer_from_hold().")));
	}
	for (int i = 0; i < naccounts; i++)
	{
		BatchAccount *acc = &accounts[i];

		if (!acc->debited && !acc->credited)
			continue;			/* only holds released: as release_hold, any status */
		if (strcmp(acc->kind, "cancellation") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_ACCOUNT_STATE),
					 errmsg("account " INT64_FORMAT " is the cancellation account", acc->account_id),
					 errdetail("Retired units never move, and units reach it only by surrender or cancellation.")));
		if (strcmp(acc->status, "closed") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_ACCOUNT_STATE),
					 errmsg("account " INT64_FORMAT " is closed", acc->account_id)));
		if (acc->debited && strcmp(acc->status, "frozen") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_ACCOUNT_STATE),
					 errmsg("account " INT64_FORMAT " is frozen", acc->account_id),
					 errdetail("Nothing can leave a frozen account.")));
	}

	/* every asset an account takes part in must be one its kind may hold */
	{
		PostingAsset *chk = palloc(sizeof(PostingAsset) * (nholds + ncredits));
		int			nchk = 0;

		for (int i = 0; i < nholds; i++)
			if (holds[i].spent > 0)
				chk[nchk++] = holds[i].asset;
		for (int i = 0; i < ncredits; i++)
			chk[nchk++] = credits[i].asset;
		/* which kind holds what: the rules every posting keeps (rules_load) */
		for (int i = 0; i < nchk; i++)
		{
			BatchAccount *acc = find_batch_account(accounts, naccounts, chk[i].account);

			if (!rules_may_hold(acc->kind, chk[i].instr))
				ereport(ERROR,
						(errcode(ERRCODE_CARBONMKT_KIND_INSTRUMENT),
						 errmsg("account " INT64_FORMAT " (kind %s) cannot hold %s", acc->account_id, acc->kind,
								instrument_names[chk[i].instr]),
						 errhint("See carbonmkt.account_kind_instrument for the instruments each account kind holds.")));
		}
	}

	/*
	 * 4. The batch balances per asset, to the tonne and the fen: what the
	 * holds give up is what the receiving accounts get.
	 */
	{
		typedef struct AssetSum
		{
			PostingAsset asset;
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
				PostingAsset k = pass == 0 ? holds[i].asset : credits[i].asset;
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
						(errcode(ERRCODE_CARBONMKT_UNBALANCED),
						 errmsg("settlement batch does not balance in %s: holds give up %s, accounts receive %s",
								posting_format_asset(&sums[j].asset), posting_format_qty(sums[j].asset.instr, sums[j].spent),
								posting_format_qty(sums[j].asset.instr, sums[j].credited)),
						 errdetail("Unified settlement (统一交收) moves, per asset, exactly what the holds give up to the receiving accounts."),
						 errhint("Every fee is a credit to the exchange's clearing account; what a party pays leaves through its order's hold.")));
	}

	/* 5. the holdings, read under the locks */
	{
		BatchHolding    *all = palloc(sizeof(BatchHolding) * (nholds + ncredits));
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
		qsort(all, nall, sizeof(BatchHolding), cmp_batch_holding);
		nholdings = 0;
		for (int i = 0; i < nall; i++)
			if (nholdings == 0 || posting_asset_cmp(&all[i].key, &all[nholdings - 1].key) != 0)
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
			ki[i] = instrument_names[holdings[i].key.instr];
			kv[i] = holdings[i].key.vintage;
			kp[i] = holdings[i].key.project;
		}
		v[0] = int8_array_datum(ka, nholdings);
		v[1] = text_array_datum(ki, nholdings);
		v[2] = int4_array_datum(kv, nholdings);
		v[3] = text_array_datum(kp, nholdings);
		n = (int) batch_run(BP_HOLDINGS, v, NULL, SPI_OK_SELECT);
		tt = SPI_tuptable;
		for (int i = 0; i < n; i++)
		{
			PostingAsset k;
			BatchHolding    *h;
			char	   *instr = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
			char	   *project = SPI_getvalue(tt->vals[i], tt->tupdesc, 4);

			k.account = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			k.instr = posting_instrument(instr);
			k.vintage = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
			k.project = project;
			h = find_batch_holding(holdings, nholdings, &k);
			if (h == NULL)
				elog(ERROR, "settle_batch: holding of account " INT64_FORMAT " was not asked for", k.account);
			h->balance = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull));
			h->held = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 6, &isnull));
			h->exists = true;
		}
		SPI_freetuptable(tt);
	}

	/* 6. the journal rows in account order, with the running balances */
	nrows = 0;
	rows = palloc(sizeof(BatchRow) * (nholds + ncredits));
	for (int i = 0; i < nholds; i++)
	{
		BatchRow	   *r = &rows[nrows++];

		r->asset = holds[i].asset;
		r->order = 0;
		r->hold_id = holds[i].hold_id;
		r->kind = holds[i].spent > 0 ? "debit" : "release";
		r->amount = -holds[i].spent;
		r->held_change = -(holds[i].spent + holds[i].released);
	}
	for (int i = 0; i < ncredits; i++)
	{
		BatchRow	   *r = &rows[nrows++];

		r->asset = credits[i].asset;
		r->order = 1;
		r->hold_id = 0;
		r->kind = "credit";
		r->amount = credits[i].amount;
		r->held_change = 0;
	}
	qsort(rows, nrows, sizeof(BatchRow), cmp_batch_row);
	for (int i = 0; i < nrows; i++)
	{
		BatchRow	   *r = &rows[i];
		BatchHolding    *h = find_batch_holding(holdings, nholdings, &r->asset);

		h->balance = add_or_raise(h->balance, r->amount, "a balance");
		h->held = add_or_raise(h->held, r->held_change, "a held quantity");
		if (h->balance < 0 || h->held < 0 || h->held > h->balance)
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_INSUFFICIENT),
					 errmsg("settlement batch would leave account " INT64_FORMAT " with %s balance %s, held %s",
							r->asset.account, posting_format_asset(&r->asset), posting_format_qty(r->asset.instr, h->balance),
							posting_format_qty(r->asset.instr, h->held)),
					 errdetail("No balance, held quantity or available quantity (balance - held) may be negative."),
					 errhint("The holding and the account's active holds disagree; run carbonmkt.verify_ledger().")));
		r->balance_after = h->balance;
		r->held_after = h->held;
	}

	/* 7. write: the holds, the holdings, the journal */
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
		if (batch_run(BP_WRITE_HOLDS, v, NULL, SPI_OK_UPDATE) != (uint64) nholds)
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
			ki[i] = instrument_names[holdings[i].key.instr];
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
		batch_run(BP_WRITE_HOLDINGS, v, NULL, SPI_OK_SELECT);
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
			ji[i] = instrument_names[rows[i].asset.instr];
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
		 * and their heads read above (step 1), in account_id order, and
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
		if (batch_run(BP_WRITE_JOURNAL, v, nulls, SPI_OK_INSERT) != (uint64) nrows)
			elog(ERROR, "settle_batch: %d journal rows to write but " UINT64_FORMAT " were inserted",
				 nrows, SPI_processed);
		if (defer)
			chain_defer_finish();
	}
}

/* ----------------------------------------------------------------
 *		Holds (冻结): hold, release_hold, transfer_from_hold
 * ----------------------------------------------------------------
 */

/* a hold as read, with its account (for who may touch it) */
typedef struct HoldRow
{
	bool		found;
	int64		hold_id;
	int64		account_id;
	char	   *instrument;
	Instrument	instr;
	int32		vintage;
	text	   *project;
	int64		quantity;
	int64		remaining;
	char	   *reason;
	HoldReason	reason_code;
	char	   *status;
	AccountRow	account;		/* unlocked read */
} HoldRow;

static SPIPlanPtr hold_find_plan = NULL;
static SPIPlanPtr hold_reread_plan = NULL;
static SPIPlanPtr hold_insert_plan = NULL;
static SPIPlanPtr hold_release_plan = NULL;
static SPIPlanPtr hold_consume_plan = NULL;
static SPIPlanPtr posting_result_plan = NULL;

static void
prepare_hold_plans(void)
{
	if (hold_find_plan == NULL)
	{
		Oid			argtypes[1] = {INT8OID};

		hold_find_plan = carbonmkt_keep_lookup_plan(
			"SELECT h.hold_id, h.account_id, h.instrument::text, h.vintage, h.project, h.quantity, "
			"h.remaining, h.reason::text, h.status::text, "
			"a.account_id, a.kind::text, a.status::text, a.participant_id, a.province::text "
			"FROM carbonmkt.hold h JOIN carbonmkt.account a ON a.account_id = h.account_id "
			"WHERE h.hold_id = $1", 1, argtypes);
	}
	if (hold_reread_plan == NULL)
	{
		Oid			argtypes[1] = {INT8OID};

		hold_reread_plan = carbonmkt_keep_lookup_plan(
			"SELECT h.remaining, h.status::text FROM carbonmkt.hold h WHERE h.hold_id = $1",
			1, argtypes);
	}
	if (hold_insert_plan == NULL)
	{
		Oid			argtypes[7] = {INT8OID, TEXTOID, INT4OID, TEXTOID, INT8OID, TEXTOID, INT8OID};

		hold_insert_plan = carbonmkt_keep_lookup_plan(
			"INSERT INTO carbonmkt.hold (account_id, instrument, vintage, project, quantity, remaining, "
			"reason, created_posting) VALUES ($1, $2::carbonmkt.instrument, $3, $4, $5, $5, "
			"$6::carbonmkt.hold_reason, $7) RETURNING hold_id", 7, argtypes);
	}
	if (hold_release_plan == NULL)
	{
		Oid			argtypes[2] = {INT8OID, INT8OID};

		hold_release_plan = carbonmkt_keep_lookup_plan(
			"UPDATE carbonmkt.hold SET status = 'released', ended_posting = $2 WHERE hold_id = $1",
			2, argtypes);
	}
	if (hold_consume_plan == NULL)
	{
		Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};

		hold_consume_plan = carbonmkt_keep_lookup_plan(
			"UPDATE carbonmkt.hold SET remaining = remaining - $2, "
			"status = CASE WHEN remaining = $2 THEN 'consumed'::carbonmkt.hold_status ELSE 'active' END, "
			"ended_posting = CASE WHEN remaining = $2 THEN $3 END WHERE hold_id = $1",
			3, argtypes);
	}
	if (posting_result_plan == NULL)
	{
		Oid			argtypes[2] = {INT8OID, INT8OID};

		posting_result_plan = carbonmkt_keep_lookup_plan(
			"UPDATE carbonmkt.posting SET result = $2 WHERE posting_id = $1", 2, argtypes);
	}
}

static void
hold_find(int64 hold_id, bool hold_null, HoldRow *h)
{
	Datum		args[1];
	bool		isnull;

	h->found = false;
	if (hold_null)
		return;
	prepare_hold_plans();
	args[0] = Int64GetDatum(hold_id);
	if (SPI_execute_plan(hold_find_plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading hold " INT64_FORMAT " failed", hold_id);
	if (SPI_processed != 1)
		return;
	h->found = true;
	h->hold_id = col_int64(0, 1, NULL);
	h->account_id = col_int64(0, 2, NULL);
	h->instrument = col_cstring(0, 3);
	h->instr = instrument_of(h->instrument);
	h->vintage = DatumGetInt32(col_datum(0, 4, &isnull));
	h->project = DatumGetTextPP(col_datum(0, 5, &isnull));
	h->quantity = col_int64(0, 6, NULL);
	h->remaining = col_int64(0, 7, NULL);
	h->reason = col_cstring(0, 8);
	h->reason_code = reason_of(h->reason);
	h->status = col_cstring(0, 9);
	h->account.found = true;
	h->account.account_id = col_int64(0, 10, NULL);
	h->account.kind = col_cstring(0, 11);
	h->account.status = col_cstring(0, 12);
	h->account.participant_id = col_int64(0, 13, &h->account.participant_null);
	h->account.province = col_cstring(0, 14);
	account_classify(&h->account);
	h->account.may_hold = false;
	h->account.head_hash = NULL;
	ItemPointerSetInvalid(&h->account.tid);
}

/* raise CM008: the hold does not exist */
static void
refuse_missing_hold(int64 hold_id, bool hold_null)
{
	ereport(ERROR,
			(errcode(ERRCODE_CARBONMKT_HOLD),
			 errmsg("hold %s does not exist", int64_text(hold_id, hold_null))));
}

/*
 * hold_reread
 *		carbonmkt._active_hold() once its account is locked: the hold as it
 *		stands under the lock, which must still be active (CM008).
 */
static void
hold_reread(HoldRow *h)
{
	Datum		args[1];

	args[0] = Int64GetDatum(h->hold_id);
	if (SPI_execute_plan(hold_reread_plan, args, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		refuse_missing_hold(h->hold_id, false);
	h->remaining = col_int64(0, 1, NULL);
	h->status = col_cstring(0, 2);
	if (strcmp(h->status, "active") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_HOLD),
				 errmsg("hold " INT64_FORMAT " is already %s", h->hold_id, h->status),
				 errdetail("A hold is released or consumed exactly once.")));
}

/* the action and reason authorize() is asked for on a hold's account */
static void
hold_action(const HoldRow *h, bool spend, PostingAction *action, HoldReason *reason)
{
	if (h->reason_code == REASON_ORDER)
		*action = ACTION_SETTLE;
	else
		*action = spend ? ACTION_TRANSFER : ACTION_RELEASE;
	*reason = (h->reason_code == REASON_JUDICIAL || h->reason_code == REASON_PLEDGE ||
			   h->reason_code == REASON_PAID_LOCK) ? h->reason_code : REASON_NONE;
}

/*
 * check_asset
 *		A well-formed asset for the instrument (22023; the vintage window,
 *		22003; a NULL vintage, CM904): CNY has no vintage or project, CEA a
 *		vintage and no project, CCER both.
 */
static void
check_asset(const Asset *asset)
{
	char	   *project = asset->project ? text_to_cstring(asset->project) : NULL;

	if (asset->instr == INSTRUMENT_CNY)
	{
		if ((!asset->vintage_null && asset->vintage != 0) || (project != NULL && project[0] != '\0'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cash (CNY) has no vintage or project: got vintage %s, project \"%s\"",
							asset->vintage_null ? "<NULL>" : psprintf("%d", asset->vintage),
							raise_text(project))));
		return;
	}
	if (asset->vintage_null)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_MISSING_ARGUMENT),
				 errmsg("hold: argument vintage must not be NULL for %s", asset->instrument)));
	carbonmkt_check_vintage(asset->vintage, "allowance vintage");
	if (asset->instr == INSTRUMENT_CEA && project != NULL && project[0] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("CEA has no project: got \"%s\"", project)));
	if (asset->instr == INSTRUMENT_CCER && project != NULL && project[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a CCER asset needs its project id")));
}

/*
 * hold(account_id, instrument, quantity, reason, vintage, project, reference, memo) -> hold id
 *		Freeze a quantity of an asset on an account: its held rises, its
 *		available falls.  A judicial freeze may be laid on a frozen account.
 */
Datum
carbonmkt_hold(PG_FUNCTION_ARGS)
{
	bool		account_null = PG_ARGISNULL(0);
	int64		account_id = account_null ? 0 : PG_GETARG_INT64(0);
	char	   *instrument = PG_ARGISNULL(1) ? NULL :
		DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(1)));
	bool		quantity_null = PG_ARGISNULL(2);
	int64		quantity = quantity_null ? 0 : PG_GETARG_INT64(2);
	char	   *reason = PG_ARGISNULL(3) ? NULL :
		DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(3)));
	Asset		asset;
	text	   *reference = opt_text_arg(fcinfo, 6);
	text	   *memo = opt_text_arg(fcinfo, 7);
	HoldReason	reason_code = reason_of(reason);
	bool		judicial = reason_code == REASON_JUDICIAL;
	Posting		p;
	bool		privileged;
	AccountRow	rows[2];
	int			nrows;
	Leg			leg;
	int64		hold_id;
	char	   *request = NULL;

	/* the project, upper-cased; '' for none */
	asset_instrument(&asset, instrument);
	asset.vintage_null = PG_ARGISNULL(4);
	asset.vintage = asset.vintage_null ? 0 : PG_GETARG_INT32(4);
	asset.project = PG_ARGISNULL(5) ? cstring_to_text("") :
		DatumGetTextPP(DirectFunctionCall1Coll(upper, DEFAULT_COLLATION_OID,
											   PointerGetDatum(PG_GETARG_TEXT_PP(5))));

	if (instrument == NULL || reason == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_MISSING_ARGUMENT),
				 errmsg("hold: argument %s must not be NULL", instrument == NULL ? "instrument" : "reason")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	prepare_hold_plans();
	check_text_arg("hold", "reference", reference);
	check_text_arg("hold", "memo", memo);

	check_quantity(instrument, quantity, quantity_null);
	check_asset(&asset);
	if (reference)
		request = psprintf("hold(account=%s,%s,quantity=%s,reason=%s,memo=%s)",
						   opt_int64(account_id, account_null), opt_text(format_asset_text(&asset)),
						   opt_int64(quantity, quantity_null), opt_text(reason),
						   memo ? text_to_cstring(memo) : "");
	posting_begin(&p, "hold", reference, request);
	if (p.replay)
	{
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
		if (p.result_null)
			PG_RETURN_NULL();
		PG_RETURN_INT64(p.result);
	}
	check_sealed(&p, entry_kind_names[ENTRY_HOLD], NULL);

	privileged = login_is_member("carbonmkt_registry") || acting_room_authorises();
	if (!privileged)
	{
		AccountRow	a;

		account_read(account_id, account_null, &a);
		authorize(account_id, account_null, &a, ACTION_HOLD, reason_code);
	}
	nrows = lock_accounts(account_id, account_null, 0, true, asset.instr, rows);
	if (instrument == NULL)
		for (int i = 0; i < nrows; i++)
			rows[i].may_hold = false;
	if (privileged)
	{
		AccountRow	missing = {0};

		authorize(account_id, account_null, nrows == 1 ? &rows[0] : &missing, ACTION_HOLD, reason_code);
	}
	/* a judicial freeze may be laid on a frozen account; other holds need it open */
	if (lock_problem(rows, nrows, account_id, account_null || judicial, account_id, account_null))
		refuse_accounts(rows, nrows, account_id, account_null || judicial, account_id, account_null,
						instrument);

	memset(&leg, 0, sizeof(leg));
	leg.account_id = account_id;
	leg.account_null = account_null;
	leg.kind = ENTRY_HOLD;
	leg.amount = 0;
	leg.held_change = quantity;
	leg.counterparty_null = true;
	/* beyond half the int8 range the held sum would overflow (22003) before the guard refuses */
	if (instrument == NULL ||
		(quantity > PG_INT64_MAX / 2 && !available_covers(account_id, &asset, quantity, false)) ||
		!apply_leg(&leg, &asset))
		refuse_unavailable(account_id, &asset, quantity);

	{
		Datum		args[7];
		char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

		args[0] = Int64GetDatum(account_id);
		args[1] = CStringGetTextDatum(instrument);
		args[2] = Int32GetDatum(asset.vintage);
		nulls[2] = asset.vintage_null ? 'n' : ' ';
		args[3] = PointerGetDatum(asset.project);
		args[4] = Int64GetDatum(quantity);
		args[5] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
		nulls[5] = reason ? ' ' : 'n';
		args[6] = Int64GetDatum(p.posting_id);
		if (SPI_execute_plan(hold_insert_plan, args, nulls, false, 0) != SPI_OK_INSERT_RETURNING ||
			SPI_processed != 1)
			elog(ERROR, "recording a hold failed");
		hold_id = col_int64(0, 1, NULL);
	}
	leg.hold_id = hold_id;
	leg.hold_null = false;
	if (p.recorded)
	{
		/* the posting row is in already: its result (what a retry returns) after the leg */
		Datum		args[2];

		insert_legs(&p, &asset, &leg, 1, true, 0, memo, true, 0, rows, nrows);
		args[0] = Int64GetDatum(p.posting_id);
		args[1] = Int64GetDatum(hold_id);
		if (SPI_execute_plan(posting_result_plan, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "recording the result of posting " INT64_FORMAT " failed", p.posting_id);
	}
	else
		insert_legs(&p, &asset, &leg, 1, true, 0, memo, false, hold_id, rows, nrows);

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_INT64(hold_id);
}

/*
 * release_hold(hold_id, reference, memo) -> posting id
 *		Free what remains of an active hold, exactly once.
 */
Datum
carbonmkt_release_hold(PG_FUNCTION_ARGS)
{
	bool		hold_null = PG_ARGISNULL(0);
	int64		hold_id = hold_null ? 0 : PG_GETARG_INT64(0);
	text	   *reference = opt_text_arg(fcinfo, 1);
	text	   *memo = opt_text_arg(fcinfo, 2);
	Posting		p;
	HoldRow		h;
	AccountRow	rows[2];
	int			nrows;
	Asset		asset;
	Leg			leg;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	prepare_hold_plans();
	check_text_arg("release_hold", "reference", reference);
	check_text_arg("release_hold", "memo", memo);

	posting_begin(&p, "release_hold", reference,
				  reference ? psprintf("release_hold(hold=%s,memo=%s)", opt_int64(hold_id, hold_null),
									   memo ? text_to_cstring(memo) : "") : NULL);
	if (p.replay)
	{
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
		PG_RETURN_INT64(p.posting_id);
	}
	check_sealed(&p, entry_kind_names[ENTRY_RELEASE], NULL);

	hold_find(hold_id, hold_null, &h);
	if (!h.found)
		refuse_missing_hold(hold_id, hold_null);
	{
		PostingAction action;
		HoldReason	reason;

		hold_action(&h, false, &action, &reason);
		authorize(h.account_id, false, &h.account, action, reason);
	}
	if (strcmp(h.reason, "judicial") == 0)
	{
		/* four-eyes: the login that laid a judicial freeze does not lift it */
		Oid			argtypes[1] = {INT8OID};
		Datum		args[1];

		args[0] = Int64GetDatum(h.hold_id);
		if (SPI_execute_with_args("SELECT carbonmkt._require_second_person("
								  "format('release judicial hold %s', $1), 'laid it', "
								  "(SELECT p.initiator FROM carbonmkt.hold h "
								  "JOIN carbonmkt.posting p ON p.posting_id = h.created_posting "
								  "WHERE h.hold_id = $1)::name, 'carbonmkt_registry')",
								  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "the four-eyes check of hold " INT64_FORMAT " failed", h.hold_id);
	}
	nrows = lock_accounts(h.account_id, false, 0, true, h.instr, rows);
	hold_reread(&h);

	asset_instrument(&asset, h.instrument);
	asset.vintage = h.vintage;
	asset.vintage_null = false;
	asset.project = h.project;
	memset(&leg, 0, sizeof(leg));
	leg.account_id = h.account_id;
	leg.kind = ENTRY_RELEASE;
	leg.amount = 0;
	leg.held_change = -h.remaining;
	leg.counterparty_null = true;
	leg.hold_id = h.hold_id;
	if (!post_legs(&p, &asset, &leg, 1, true, 0, memo, rows, nrows))
		elog(ERROR, "releasing hold " INT64_FORMAT " found its account's holding short", h.hold_id);
	{
		Datum		args[2];

		args[0] = Int64GetDatum(h.hold_id);
		args[1] = Int64GetDatum(p.posting_id);
		if (SPI_execute_plan(hold_release_plan, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "ending hold " INT64_FORMAT " failed", h.hold_id);
	}

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_INT64(p.posting_id);
}

/*
 * transfer_from_hold(hold_id, to_account, quantity, reference, memo) -> posting id
 *		Spend part or all of an active hold: move the quantity to another
 *		account (settlement); the hold is consumed when nothing remains.
 *		A CCER hold moves serial blocks, lowest serials first.
 */
Datum
carbonmkt_transfer_from_hold(PG_FUNCTION_ARGS)
{
	bool		hold_null = PG_ARGISNULL(0);
	int64		hold_id = hold_null ? 0 : PG_GETARG_INT64(0);
	bool		to_null = PG_ARGISNULL(1);
	int64		to = to_null ? 0 : PG_GETARG_INT64(1);
	bool		quantity_null = PG_ARGISNULL(2);
	int64		quantity = quantity_null ? 0 : PG_GETARG_INT64(2);
	text	   *reference = opt_text_arg(fcinfo, 3);
	text	   *memo = opt_text_arg(fcinfo, 4);
	Posting		p;
	HoldRow		h;
	AccountRow	rows[2];
	int			nrows;
	Asset		asset;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	prepare_hold_plans();
	check_text_arg("transfer_from_hold", "reference", reference);
	check_text_arg("transfer_from_hold", "memo", memo);

	hold_find(hold_id, hold_null, &h);
	if (h.found)
	{
		/* who may spend the hold, then where it may go */
		PostingAction action;
		HoldReason	reason;

		hold_action(&h, true, &action, &reason);
		authorize(h.account_id, false, &h.account, action, reason);
		if (to_null)
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_MISSING_ARGUMENT),
					 errmsg("transfer_from_hold needs the account to credit: to_account is NULL")));
		if (to == h.account_id)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot spend hold " INT64_FORMAT " into its own account " INT64_FORMAT,
							h.hold_id, to),
					 errhint("To free held units, use carbonmkt.release_hold().")));
		if (to == cancellation_account())
			refuse_into_cancellation(to, entry_kind_names[ENTRY_CREDIT], h.instrument);
	}
	posting_begin(&p, "transfer_from_hold", reference,
				  reference ? psprintf("transfer_from_hold(hold=%s,to=%s,quantity=%s,memo=%s)",
									   opt_int64(hold_id, hold_null), opt_int64(to, to_null),
									   opt_int64(quantity, quantity_null),
									   memo ? text_to_cstring(memo) : "") : NULL);
	if (p.replay)
	{
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
		PG_RETURN_INT64(p.posting_id);
	}
	check_sealed(&p, entry_kind_names[ENTRY_DEBIT], entry_kind_names[ENTRY_CREDIT]);
	if (!h.found)
		refuse_missing_hold(hold_id, hold_null);

	check_quantity(h.instrument, quantity, quantity_null);

	{
		PostingAction action;
		HoldReason	reason;

		hold_action(&h, true, &action, &reason);
		authorize(h.account_id, false, &h.account, action, reason);
	}
	if (h.reason_code == REASON_JUDICIAL || h.reason_code == REASON_PAID_LOCK)
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_HOLD),
				 errmsg("a %s hold cannot be spent; release it first", h.reason)));

	nrows = lock_accounts(h.account_id, false, to, to_null, h.instr, rows);
	if (lock_problem(rows, nrows, h.account_id, false, to, to_null))
		refuse_accounts(rows, nrows, h.account_id, false, to, to_null, h.instrument);
	hold_reread(&h);
	if (quantity > h.remaining)
	{
		Oid			argtypes[3] = {TEXTOID, INT8OID, INT8OID};
		Datum		args[3];

		args[0] = CStringGetTextDatum(h.instrument);
		args[1] = Int64GetDatum(h.remaining);
		args[2] = Int64GetDatum(quantity);
		if (SPI_execute_with_args("SELECT carbonmkt.format_quantity($1::carbonmkt.instrument, $2), "
								  "carbonmkt.format_quantity($1::carbonmkt.instrument, $3)",
								  3, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "formatting quantities failed");
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_INSUFFICIENT),
				 errmsg("hold " INT64_FORMAT " has %s remaining, requested %s",
						h.hold_id, col_cstring(0, 1), col_cstring(0, 2))));
	}

	asset_instrument(&asset, h.instrument);
	asset.vintage = h.vintage;
	asset.vintage_null = false;
	asset.project = h.project;
	if (!post_movement(&p, &asset, h.account_id, false, to, to_null, quantity, ENTRY_DEBIT, ENTRY_CREDIT,
					   h.hold_id, false, true, 0, memo, NULL, rows, nrows))
		elog(ERROR, "spending hold " INT64_FORMAT " found its account's holding short", h.hold_id);
	{
		Datum		args[3];

		args[0] = Int64GetDatum(h.hold_id);
		args[1] = Int64GetDatum(quantity);
		args[2] = Int64GetDatum(p.posting_id);
		if (SPI_execute_plan(hold_consume_plan, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "spending hold " INT64_FORMAT " failed", h.hold_id);
	}

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_INT64(p.posting_id);
}
