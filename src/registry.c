/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  The C core of the registry ledger (注册登记): unified social credit
 *	  codes, the chain trigger that appends to the per-account SHA-256 hash
 *	  chain of the journal and keeps the chain heads, and the append-only
 *	  guard.  Hashing, day seals and verification are src/chain.c.
 *
 * Journal chain: every journal row carries seq (1, 2, 3 ... per account),
 * prev_hash (the hash of the account's previous entry, 32 zero bytes for
 * the first) and hash = SHA-256(prev_hash || UTF-8 canonical payload).  The
 * head of each chain (head_seq, head_hash) lives in the account row, so
 * appending an entry locks nothing but that one account row.  The hash is
 * computed by chain_entry_hash() (src/chain.h); the payload format is
 * described in src/chain.c and doc/registry.md.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/registry.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "nodes/primnodes.h"
#include "parser/scansup.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/plancache.h"
#include "utils/resowner.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

#if PG_VERSION_NUM >= 140000
#include "common/cryptohash.h"
#endif
#include "common/sha2.h"

#include "carbonmkt.h"
#include "chain.h"
#include "posting.h"

/* SQLSTATEs of the registry room (doc/registry.md) */
#define ERRCODE_CARBONMKT_UNKNOWN_ACCOUNT		MAKE_SQLSTATE('C','M','0','0','1')
#define ERRCODE_CARBONMKT_INVALID_CREDIT_CODE	MAKE_SQLSTATE('C','M','0','0','9')
#define ERRCODE_CARBONMKT_APPEND_ONLY			MAKE_SQLSTATE('C','M','0','1','1')


PG_FUNCTION_INFO_V1(credit_code_check_char);
PG_FUNCTION_INFO_V1(valid_credit_code);
PG_FUNCTION_INFO_V1(check_credit_code);
PG_FUNCTION_INFO_V1(journal_chain);
PG_FUNCTION_INFO_V1(carbonmkt_posting_head_seq);
PG_FUNCTION_INFO_V1(carbonmkt_posting_head_hash);
PG_FUNCTION_INFO_V1(forbid_change);


/* ----------------------------------------------------------------
 *		Unified social credit code (统一社会信用代码, GB 32100-2015)
 * ----------------------------------------------------------------
 */

#define CREDIT_CODE_LEN		18
#define CREDIT_CODE_DETAIL	"A unified social credit code has 18 characters (GB 32100-2015)."
#define CREDIT_CODE_CHARS_DETAIL \
	"GB 32100-2015 uses the digits 0-9 and the upper-case letters A-H, J-N, P-R, T-U and W-Y; I, O, S, V and Z do not occur."

/* The 31 characters of the code, in the order of their values 0..30. */
static const char credit_code_alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/* Weights of positions 1..17: 3^(i-1) mod 31. */
static const int credit_code_weights[CREDIT_CODE_LEN - 1] =
{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};

typedef enum CreditCodeStatus
{
	CREDIT_CODE_OK,
	CREDIT_CODE_BAD_LENGTH,
	CREDIT_CODE_BAD_CHAR,
	CREDIT_CODE_BAD_CHECK
} CreditCodeStatus;

typedef struct CreditCode
{
	char	   *code;			/* trimmed, ASCII letters upper-cased */
	int			nbytes;			/* strlen(code) */
	int			nchars;			/* length in characters */
	CreditCodeStatus status;
	int			bad_position;	/* 1-based character position */
	char		bad_char[MAX_MULTIBYTE_CHAR_LEN + 1];
	char		check_char;		/* computed from the first 17 characters */
} CreditCode;

static int
credit_code_value(char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(credit_code_alphabet, c);
	return p ? (int) (p - credit_code_alphabet) : -1;
}

/*
 * credit_code_examine
 *		Normalise (trim ASCII white space, upper-case ASCII letters) and
 *		examine a code.  Never raises an error.  The accepted
 *		lengths are min_len..CREDIT_CODE_LEN characters.  When the status is OK
 *		or BAD_CHECK, check_char holds the check character of the first 17.
 */
static void
credit_code_examine(text *input, int min_len, CreditCode *cc)
{
	char	   *s = VARDATA_ANY(input);
	int			len = VARSIZE_ANY_EXHDR(input);
	int			pos;
	int			sum = 0;
	int			check;

	while (len > 0 && scanner_isspace(*s))
	{
		s++;
		len--;
	}
	while (len > 0 && scanner_isspace(s[len - 1]))
		len--;

	cc->code = palloc(len + 1);
	for (int i = 0; i < len; i++)
		cc->code[i] = pg_ascii_toupper((unsigned char) s[i]);
	cc->code[len] = '\0';
	cc->nbytes = len;
	cc->nchars = pg_mbstrlen_with_len(cc->code, len);
	cc->check_char = '\0';
	cc->bad_position = 0;
	cc->bad_char[0] = '\0';

	if (cc->nchars < min_len || cc->nchars > CREDIT_CODE_LEN)
	{
		cc->status = CREDIT_CODE_BAD_LENGTH;
		return;
	}

	pos = 0;
	for (int i = 0; i < len; pos++)
	{
		int			mblen = pg_mblen(cc->code + i);
		int			value = (mblen == 1) ? credit_code_value(cc->code[i]) : -1;

		if (value < 0)
		{
			mblen = Min(mblen, len - i);
			memcpy(cc->bad_char, cc->code + i, mblen);
			cc->bad_char[mblen] = '\0';
			cc->bad_position = pos + 1;
			cc->status = CREDIT_CODE_BAD_CHAR;
			return;
		}
		if (pos < CREDIT_CODE_LEN - 1)
			sum += value * credit_code_weights[pos];
		i += mblen;
	}

	check = 31 - sum % 31;
	if (check == 31)
		check = 0;
	cc->check_char = credit_code_alphabet[check];

	if (cc->nchars == CREDIT_CODE_LEN &&
		cc->code[CREDIT_CODE_LEN - 1] != cc->check_char)
		cc->status = CREDIT_CODE_BAD_CHECK;
	else
		cc->status = CREDIT_CODE_OK;
}

/*
 * credit_code_report
 *		Raise CM009 describing why cc is not acceptable.
 */
static void
credit_code_report(const CreditCode *cc, const char *expected_length)
{
	switch (cc->status)
	{
		case CREDIT_CODE_BAD_LENGTH:
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_INVALID_CREDIT_CODE),
					 errmsg("invalid unified social credit code \"%s\": wrong length %d, expected %s characters",
							cc->code, cc->nchars, expected_length),
					 errdetail(CREDIT_CODE_DETAIL)));
			break;
		case CREDIT_CODE_BAD_CHAR:
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_INVALID_CREDIT_CODE),
					 errmsg("invalid unified social credit code \"%s\": invalid character \"%s\" at position %d",
							cc->code, cc->bad_char, cc->bad_position),
					 errdetail(CREDIT_CODE_CHARS_DETAIL)));
			break;
		case CREDIT_CODE_BAD_CHECK:
			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_INVALID_CREDIT_CODE),
					 errmsg("invalid unified social credit code \"%s\": check character is \"%c\", expected \"%c\"",
							cc->code, cc->code[CREDIT_CODE_LEN - 1], cc->check_char),
					 errdetail("The 18th character is the check character computed from the first 17 as specified by GB 32100-2015.")));
			break;
		case CREDIT_CODE_OK:
			break;
	}
}

/*
 * credit_code_check_char(text) -> text
 *		The check character (18th) of a code, computed from its first 17
 *		characters.  Accepts 17 or 18 characters; with 18 the last one is
 *		only checked to be a character of the alphabet.
 */
Datum
credit_code_check_char(PG_FUNCTION_ARGS)
{
	CreditCode	cc;

	credit_code_examine(PG_GETARG_TEXT_PP(0), CREDIT_CODE_LEN - 1, &cc);
	if (cc.status == CREDIT_CODE_BAD_LENGTH || cc.status == CREDIT_CODE_BAD_CHAR)
		credit_code_report(&cc, "17 or 18");

	PG_RETURN_TEXT_P(cstring_to_text_with_len(&cc.check_char, 1));
}

/*
 * valid_credit_code(text) -> boolean
 *		True when check_credit_code() would accept the code.  Never errors.
 */
Datum
valid_credit_code(PG_FUNCTION_ARGS)
{
	CreditCode	cc;

	credit_code_examine(PG_GETARG_TEXT_PP(0), CREDIT_CODE_LEN, &cc);
	PG_RETURN_BOOL(cc.status == CREDIT_CODE_OK);
}

/*
 * check_credit_code(text) -> text
 *		The code trimmed and upper-cased, or error CM009.
 */
Datum
check_credit_code(PG_FUNCTION_ARGS)
{
	CreditCode	cc;

	credit_code_examine(PG_GETARG_TEXT_PP(0), CREDIT_CODE_LEN, &cc);
	if (cc.status != CREDIT_CODE_OK)
		credit_code_report(&cc, "18");

	PG_RETURN_TEXT_P(cstring_to_text_with_len(cc.code, cc.nbytes));
}


/* ----------------------------------------------------------------
 *		The chain trigger
 * ----------------------------------------------------------------
 */

/*
 * registry_keep_plan
 *		SPI_prepare a statement and keep the plan for the life of the backend.
 *		The plan is generic (parameters are never looked at when planning):
 *		every statement prepared this way is a lookup by key, so it is
 *		planned with sequential scans disabled; otherwise a backend that
 *		first posts while a table is still empty (or analysed so) would keep
 *		a sequential scan of it until the next ANALYZE.
 */
SPIPlanPtr
registry_keep_plan(const char *sql, int nargs, Oid *argtypes)
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

/*
 * What this backend knows about chain heads.
 *
 * The trigger needs the head (seq, hash) of the account it appends to, with
 * the account row locked, and must leave the new head in the row.  Reading
 * and writing the row costs two statements per journal row; two kinds of
 * knowledge save them.
 *
 * 1. chain_heads: the head of an account as this transaction last read it
 * under the row lock or wrote it, and the TID of that row version.  Every
 * path that locks an account row for a posting (registry_chain_locked) or
 * advances a head (write_head, registry_chain_finish) records it here, so
 * in a transaction the entry is never older than the row: it is what the
 * trigger, the C posting path and the PL/pgSQL one all take the head from,
 * in whatever order they post.  An entry holds while no subtransaction has
 * rolled back since it was recorded: until then every subtransaction that
 * ended did commit, so what the entry says is still in the row and the
 * row is still locked by this transaction (its lock passed to the parent).
 * A rollback of any subtransaction, a new transaction or any relcache
 * invalidation (TRUNCATE, DDL) forgets everything.  The TID takes the next
 * head update straight to the row version instead of walking a long HOT
 * chain when one transaction posts to one account many times.
 *
 * 2. chain_posting: the accounts of a posting that posting.c is making
 * with deferred heads (registry_chain_begin/_add): when no trigger on the
 * journal but this one may fire for the posting's rows and no room's
 * trigger runs when a posting writes its other tables
 * (registry_chain_can_defer), nothing but the posting's own legs can be
 * appended until it ends, so the trigger only advances the heads in memory
 * and the posting's statement (or registry_chain_finish) writes all of them
 * at once.  Otherwise the posting registers nothing: its legs go through
 * the trigger one by one, each head written as it advances, and anything a
 * room's trigger appends in between simply advances the same entries.  Any
 * append to an account of a deferred posting by another path (a nested
 * subtransaction, say) marks it disturbed; from then on the trigger reads
 * the row again and, should the row lag behind the posting's legs, takes
 * the head from the account's last journal row, which under the lock is
 * the truth.
 *
 * A posting may have any number of accounts: the market's unified
 * settlement (settle_batch, src/settlement.c) registers every account of a
 * batch, thousands of them, and inserts all its journal rows with one
 * statement.  The accounts are kept sorted by account_id (the order every
 * posting locks them in, so registering is an append) and found by binary
 * search, after a look at the one found last (the legs of one account are
 * consecutive).  Up to CHAIN_POSTING_MAX of them live in the static
 * chain_posting itself, so the posting path of posting.c never allocates;
 * beyond that they move to chain_posting_cxt, which is reset when the
 * posting ends: when it finishes, when its subtransaction rolls back and at
 * the end of the transaction, whichever comes first.  registry_chain_finish
 * writes the heads of up to two accounts with one statement of parameters
 * and of more with one UPDATE over arrays (unnest), so a batch writes each
 * account's head once however many legs it appended.  Nothing else changes:
 * a posting still lives in one subtransaction, and the rules above about
 * rollbacks and disturbed accounts hold for every account of it.
 */
#define CHAIN_CACHE_SIZE	4096	/* a power of two */
#define CHAIN_POSTING_MAX	4		/* accounts kept without allocating */

typedef struct ChainHead
{
	int64		account_id;		/* hash key */
	uint64		generation;		/* chain_generation when recorded */
	LocalTransactionId lxid;
	uint64		aborts;			/* chain_subxact_aborts when recorded */
	bool		written;		/* this transaction wrote the row's head */
	int64		seq;
	uint8		hash[CHAIN_HASH_LEN];
	ItemPointerData tid;		/* invalid when not known */
} ChainHead;

typedef struct ChainPostingAccount
{
	int64		account_id;
	int64		seq;
	uint8		hash[CHAIN_HASH_LEN];
	ItemPointerData tid;		/* the row version locked by the posting */
	bool		pending;		/* appended to; the row's head lags */
	bool		disturbed;		/* appended to by another path meanwhile */
	bool		written_before; /* this transaction wrote the row before */
	int64		written_seq;	/* head the posting's statement wrote, or -1 */
} ChainPostingAccount;

typedef struct ChainPosting
{
	LocalTransactionId lxid;	/* InvalidLocalTransactionId: none */
	SubTransactionId subxid;
	int64		posting_id;		/* its posting row, inserted by its statement */
	int			n;
	int			cap;			/* room in acc */
	int			last;			/* the entry found last (a hint) */
	ChainPostingAccount *acc;	/* sorted by account_id: fixed, or palloc'd
								 * in chain_posting_cxt */
	ChainPostingAccount fixed[CHAIN_POSTING_MAX];
} ChainPosting;

/*
 * A fixed, direct-mapped table in static memory: an entry that another
 * account takes over is simply forgotten (the knowledge is only ever a
 * shortcut), and nothing here ever allocates.
 */
static ChainHead chain_heads[CHAIN_CACHE_SIZE];
static uint64 chain_generation = 1;
static uint64 chain_subxact_aborts = 0;
static ChainPosting chain_posting;
static MemoryContext chain_posting_cxt = NULL;

/* The layout of journal rows, for the relation descriptor it was built for. */
static JournalLayout *chain_layout = NULL;
static TupleDesc chain_layout_desc = NULL;
static MemoryContext chain_layout_cxt = NULL;

static bool chain_callback_registered = false;
static Oid	journal_relid = InvalidOid;

static SPIPlanPtr head_select_plan = NULL;
static SPIPlanPtr posting_exists_plan = NULL;
static SPIPlanPtr head_last_entry_plan = NULL;
static SPIPlanPtr head_update_plan = NULL;
static SPIPlanPtr head_update_tid_plan = NULL;
static SPIPlanPtr head_update_two_plan = NULL;
static SPIPlanPtr head_update_two_id_plan = NULL;
static SPIPlanPtr head_update_many_plan = NULL;
static SPIPlanPtr head_update_many_tid_plan = NULL;

static void
chain_cache_forget(Datum arg, Oid relid)
{
	/* entries go stale; the table itself is dropped at a safe point */
	chain_generation++;
	chain_layout = NULL;
	chain_layout_desc = NULL;
	if (chain_layout_cxt != NULL)
		MemoryContextReset(chain_layout_cxt);
	journal_relid = InvalidOid;
}

/*
 * chain_posting_end
 *		Forget the posting being made, and free its accounts if they
 *		outgrew the static array.
 */
static void
chain_posting_end(void)
{
	chain_posting.lxid = InvalidLocalTransactionId;
	chain_posting.n = 0;
	chain_posting.last = 0;
	if (chain_posting.acc != chain_posting.fixed)
	{
		chain_posting.acc = chain_posting.fixed;
		chain_posting.cap = CHAIN_POSTING_MAX;
		if (chain_posting_cxt != NULL)
			MemoryContextReset(chain_posting_cxt);
	}
}

/* a subtransaction that rolls back takes what it wrote with it */
static void
chain_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	chain_subxact_aborts++;
	if (chain_posting.lxid == MyProc->lxid && chain_posting.subxid == mySubid)
		chain_posting_end();
}

/* no posting outlives its transaction (one that failed never finished) */
static void
chain_xact_callback(XactEvent event, void *arg)
{
	if (chain_posting.lxid != InvalidLocalTransactionId ||
		chain_posting.acc != chain_posting.fixed)
		chain_posting_end();
}

static void
chain_cache_init(void)
{
	if (!chain_callback_registered)
	{
		chain_cache_forget((Datum) 0, InvalidOid);
		chain_posting.acc = chain_posting.fixed;
		chain_posting.cap = CHAIN_POSTING_MAX;
		chain_posting_end();
		CacheRegisterRelcacheCallback(chain_cache_forget, (Datum) 0);
		RegisterSubXactCallback(chain_subxact_callback, NULL);
		RegisterXactCallback(chain_xact_callback, NULL);
		chain_callback_registered = true;
	}
}

/*
 * chain_head_slot
 *		The slot of an account (its fields say nothing unless account_id
 *		matches and the entry is current).
 */
static ChainHead *
chain_head_slot(int64 account_id)
{
	ChainHead  *h;

	chain_cache_init();
	h = &chain_heads[hash_bytes_uint32((uint32) account_id ^ (uint32) (account_id >> 32)) &
					 (CHAIN_CACHE_SIZE - 1)];
	if (h->account_id != account_id)
	{
		h->account_id = account_id;
		h->generation = 0;
	}
	return h;
}

/* the entry was recorded by this transaction (a hint, for TIDs) */
static bool
chain_head_current(const ChainHead *h)
{
	return h->generation == chain_generation &&
		h->lxid != InvalidLocalTransactionId && h->lxid == MyProc->lxid;
}

/* the entry is the account's head now, under this transaction's lock */
static bool
chain_head_valid(const ChainHead *h, int64 account_id)
{
	return h->account_id == account_id && chain_head_current(h) &&
		h->aborts == chain_subxact_aborts;
}

/*
 * chain_head_store
 *		Record an account's head as just read under the row lock or written
 *		(written: this transaction wrote it into the row).
 */
static void
chain_head_store(int64 account_id, int64 seq, const uint8 *hash,
				 const ItemPointerData *tid, bool written)
{
	ChainHead  *h = chain_head_slot(account_id);

	h->written = written || (chain_head_current(h) && h->written);
	h->generation = chain_generation;
	h->lxid = MyProc->lxid;
	h->aborts = chain_subxact_aborts;
	h->seq = seq;
	memcpy(h->hash, hash, CHAIN_HASH_LEN);
	if (tid != NULL && ItemPointerIsValid(tid))
		ItemPointerCopy(tid, &h->tid);
	else
		ItemPointerSetInvalid(&h->tid);
}

/*
 * registry_chain_tid
 *		The TID of the version of an account row that this transaction last
 *		locked or wrote, if known: a hint (the row may have moved on since).
 */
bool
registry_chain_tid(int64 account_id, ItemPointer tid)
{
	ChainHead  *h = chain_head_slot(account_id);

	if (!chain_head_current(h) || !ItemPointerIsValid(&h->tid))
		return false;
	ItemPointerCopy(&h->tid, tid);
	return true;
}

/*
 * registry_chain_locked
 *		A posting (posting.c) has just locked an account row FOR NO KEY
 *		UPDATE and read its head and TID: record them, so that whatever
 *		appends to the account next, in this transaction, starts from them
 *		(a head that is not 32 bytes long, which only tampering makes, is
 *		left to the trigger to read).
 */
void
registry_chain_locked(int64 account_id, int64 seq, const bytea *hash,
					  const ItemPointerData *tid)
{
	if (hash == NULL || VARSIZE_ANY_EXHDR(hash) != CHAIN_HASH_LEN)
	{
		chain_head_slot(account_id)->generation = 0;
		return;
	}
	chain_head_store(account_id, seq, (const uint8 *) VARDATA_ANY(hash), tid, false);
}

/*
 * chain_posting_search
 *		Binary search of the posting's accounts: whether account_id is one,
 *		and its index, or where it would go.
 */
static bool
chain_posting_search(int64 account_id, int *pos)
{
	int			lo = 0;
	int			hi = chain_posting.n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int64		id = chain_posting.acc[mid].account_id;

		if (id == account_id)
		{
			*pos = mid;
			return true;
		}
		if (id < account_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return false;
}

/* the entry of an account in the posting being made, if any */
static ChainPostingAccount *
chain_posting_account(int64 account_id)
{
	int			pos;

	if (chain_posting.lxid == InvalidLocalTransactionId ||
		chain_posting.lxid != MyProc->lxid)
		return NULL;
	/* the legs of one account come one after another */
	if (chain_posting.last < chain_posting.n &&
		chain_posting.acc[chain_posting.last].account_id == account_id)
		return &chain_posting.acc[chain_posting.last];
	if (!chain_posting_search(account_id, &pos))
		return NULL;
	chain_posting.last = pos;
	return &chain_posting.acc[pos];
}

/*
 * registry_chain_begin
 *		Start the journal legs of a posting (posting.c) whose heads are
 *		written after its legs (registry_chain_can_defer() said so), in the
 *		current subtransaction.  posting_id is its posting row, which is in
 *		already or is inserted by the statement that inserts the legs.  Any
 *		earlier posting's state is forgotten: a posting always finishes
 *		(registry_chain_finish) or fails, and a failure rolls back its
 *		subtransaction with everything it appended.
 */
void
registry_chain_begin(int64 posting_id)
{
	chain_cache_init();
	chain_posting_end();
	chain_posting.lxid = MyProc->lxid;
	chain_posting.subxid = GetCurrentSubTransactionId();
	chain_posting.posting_id = posting_id;
}

/*
 * no_user_trigger
 *		Whether a table has no enabled trigger (internal ones aside) firing on
 *		the event, but the one named.
 */
static bool
no_user_trigger(const char *relname, int16 event, const char *allowed)
{
	Oid			relid = get_relname_relid(relname, get_namespace_oid("carbonmkt", false));
	Relation	rel;
	bool		none = true;

	if (!OidIsValid(relid))
		elog(ERROR, "table carbonmkt.%s does not exist", relname);
	rel = table_open(relid, AccessShareLock);
	for (int i = 0; rel->trigdesc != NULL && i < rel->trigdesc->numtriggers; i++)
	{
		const Trigger *t = &rel->trigdesc->triggers[i];

		if (!t->tgisinternal && t->tgenabled != TRIGGER_DISABLED && (t->tgtype & event) &&
			(allowed == NULL || strcmp(t->tgname, allowed) != 0))
			none = false;
	}
	table_close(rel, NoLock);
	return none;
}

/* ----------------------------------------------------------------
 *		Which journal rows the other triggers on the journal fire for
 *
 * A posting may write its heads after its legs only when no trigger on
 * the journal but journal_chain can run while the legs go in.  A room's
 * trigger that fires only for some entry kinds, as the compliance room's
 * BEFORE INSERT ... WHEN (NEW.kind = 'surrender') does, is no reason to
 * write each head as it goes for a posting none of whose rows it fires for
 * (a transfer's debit and credit).  So the WHEN clause of every INSERT
 * trigger on the journal is read, once per relcache state, for the entry
 * kinds it can let through:
 *
 *		NEW.kind = 'k' (either side), NEW.kind IN ('k', ...) and
 *		NEW.kind = ANY ('{k,...}'): those kinds (a NULL one: none);
 *		a AND b: the kinds both let through (a condition on anything else
 *		lets every kind through);
 *		a OR b: the kinds either lets through;
 *		anything else (NOT, <>, a cast of kind, a function, no WHEN clause at
 *		all): every kind.
 *
 * This errs only one way: a clause it cannot read counts as firing for
 * every row.  Statement-level INSERT triggers count as firing for every
 * posting.  Whether a trigger fires at all follows its enabled state and
 * session_replication_role, as the trigger manager decides it.
 * ----------------------------------------------------------------
 */
#define JOURNAL_TRIGGERS_MAX	16
#define JOURNAL_KINDS_MAX		16

typedef struct KindSet
{
	bool		any;			/* every kind (or cannot tell) */
	int			n;
	Oid			kinds[JOURNAL_KINDS_MAX];	/* else only these (pg_enum OIDs) */
} KindSet;

typedef struct JournalTrigger
{
	char		tgenabled;
	bool		is_chain;		/* journal_chain itself */
	bool		for_row;
	KindSet		kinds;			/* the kinds its WHEN clause lets through */
	NameData	labels[JOURNAL_KINDS_MAX];	/* their labels */
} JournalTrigger;

static struct
{
	uint64		generation;		/* chain_generation when read; 0: never */
	Oid			relid;
	bool		too_many;		/* more triggers than room: defer nothing */
	int			n;
	JournalTrigger trig[JOURNAL_TRIGGERS_MAX];
} journal_triggers;

/* whether the trigger manager fires a trigger of this tgenabled state now */
static bool
trigger_fires_now(char tgenabled)
{
	switch (tgenabled)
	{
		case TRIGGER_FIRES_ON_ORIGIN:
			return SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA;
		case TRIGGER_FIRES_ON_REPLICA:
			return SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA;
		case TRIGGER_FIRES_ALWAYS:
			return true;
		default:
			return false;
	}
}

static bool
kindset_has(const KindSet *s, Oid kind)
{
	if (s->any)
		return true;
	for (int i = 0; i < s->n; i++)
		if (s->kinds[i] == kind)
			return true;
	return false;
}

static void
kindset_add(KindSet *s, Oid kind)
{
	if (s->any || kindset_has(s, kind))
		return;
	if (s->n >= JOURNAL_KINDS_MAX)
		s->any = true;
	else
		s->kinds[s->n++] = kind;
}

/* NEW.kind of the journal row, in a stored trigger WHEN clause */
static bool
is_new_kind(Node *node, AttrNumber kind_att)
{
	while (node != NULL && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return node != NULL && IsA(node, Var) &&
		((Var *) node)->varno == PRS2_NEW_VARNO &&
		((Var *) node)->varattno == kind_att &&
		((Var *) node)->varlevelsup == 0;
}

static Const *
as_const(Node *node)
{
	while (node != NULL && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return node != NULL && IsA(node, Const) ? (Const *) node : NULL;
}

/*
 * qual_kinds
 *		The entry kinds for which a trigger's WHEN clause may be true (see
 *		above).
 */
static void
qual_kinds(Node *node, AttrNumber kind_att, Oid kind_type, KindSet *out)
{
	out->any = true;
	out->n = 0;
	if (node == NULL)
		return;
	if (IsA(node, BoolExpr) && ((BoolExpr *) node)->boolop == AND_EXPR)
	{
		ListCell   *lc;

		foreach(lc, ((BoolExpr *) node)->args)
		{
			KindSet		arg;
			KindSet		both;

			qual_kinds(lfirst(lc), kind_att, kind_type, &arg);
			if (arg.any)
				continue;
			if (out->any)
			{
				*out = arg;
				continue;
			}
			both.any = false;
			both.n = 0;
			for (int i = 0; i < out->n; i++)
				if (kindset_has(&arg, out->kinds[i]))
					both.kinds[both.n++] = out->kinds[i];
			*out = both;
		}
	}
	else if (IsA(node, BoolExpr) && ((BoolExpr *) node)->boolop == OR_EXPR)
	{
		ListCell   *lc;

		out->any = false;
		foreach(lc, ((BoolExpr *) node)->args)
		{
			KindSet		arg;

			qual_kinds(lfirst(lc), kind_att, kind_type, &arg);
			if (arg.any)
			{
				out->any = true;
				out->n = 0;
				return;
			}
			for (int i = 0; i < arg.n; i++)
				kindset_add(out, arg.kinds[i]);
		}
	}
	else if (IsA(node, OpExpr) && list_length(((OpExpr *) node)->args) == 2)
	{
		OpExpr	   *op = (OpExpr *) node;
		Node	   *l = linitial(op->args);
		Node	   *r = lsecond(op->args);
		Const	   *c = NULL;

		if (get_opcode(op->opno) != F_ENUM_EQ)
			return;
		if (is_new_kind(l, kind_att))
			c = as_const(r);
		else if (is_new_kind(r, kind_att))
			c = as_const(l);
		if (c == NULL || c->consttype != kind_type)
			return;
		out->any = false;
		if (!c->constisnull)
			kindset_add(out, DatumGetObjectId(c->constvalue));
	}
	else if (IsA(node, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *sa = (ScalarArrayOpExpr *) node;
		Node	   *array;
		KindSet		set;

		if (!sa->useOr || list_length(sa->args) != 2 ||
			get_opcode(sa->opno) != F_ENUM_EQ ||
			!is_new_kind(linitial(sa->args), kind_att))
			return;
		array = lsecond(sa->args);
		set.any = false;
		set.n = 0;
		if (IsA(array, ArrayExpr))
		{
			ListCell   *lc;

			foreach(lc, ((ArrayExpr *) array)->elements)
			{
				Const	   *c = as_const(lfirst(lc));

				if (c == NULL || c->consttype != kind_type)
					return;
				if (!c->constisnull)
					kindset_add(&set, DatumGetObjectId(c->constvalue));
			}
		}
		else if (as_const(array) != NULL)
		{
			Const	   *c = as_const(array);
			Datum	   *elems;
			bool	   *nulls;
			int			nelems;
			int16		typlen;
			bool		typbyval;
			char		typalign;

			if (c->constisnull)
			{
				*out = set;		/* = ANY (NULL) is never true */
				return;
			}
			if (get_element_type(c->consttype) != kind_type)
				return;
			get_typlenbyvalalign(kind_type, &typlen, &typbyval, &typalign);
			deconstruct_array(DatumGetArrayTypeP(c->constvalue), kind_type,
							  typlen, typbyval, typalign, &elems, &nulls, &nelems);
			for (int i = 0; i < nelems; i++)
				if (!nulls[i])
					kindset_add(&set, DatumGetObjectId(elems[i]));
		}
		else
			return;
		*out = set;
	}
}

/*
 * journal_triggers_read
 *		Read the INSERT triggers of the journal (rel, locked) unless they were
 *		read since the last relcache invalidation.
 */
static void
journal_triggers_read(Relation rel)
{
	const TriggerDesc *td = rel->trigdesc;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	AttrNumber	kind_att;
	Oid			kind_type;
	uint64		generation;

	chain_cache_init();
	if (journal_triggers.generation == chain_generation &&
		journal_triggers.relid == RelationGetRelid(rel))
		return;
	generation = chain_generation;
	journal_triggers.generation = 0;
	journal_triggers.relid = RelationGetRelid(rel);
	journal_triggers.too_many = false;
	journal_triggers.n = 0;
	kind_att = chain_journal_attnum(tupdesc, "kind");
	kind_type = TupleDescAttr(tupdesc, kind_att - 1)->atttypid;

	for (int i = 0; td != NULL && i < td->numtriggers; i++)
	{
		const Trigger *t = &td->triggers[i];
		JournalTrigger *jt;

		if (t->tgisinternal || !TRIGGER_FOR_INSERT(t->tgtype))
			continue;
		if (journal_triggers.n >= JOURNAL_TRIGGERS_MAX)
		{
			journal_triggers.too_many = true;
			break;
		}
		jt = &journal_triggers.trig[journal_triggers.n++];
		jt->tgenabled = t->tgenabled;
		jt->is_chain = strcmp(t->tgname, "journal_chain") == 0;
		jt->for_row = TRIGGER_FOR_ROW(t->tgtype);
		if (jt->for_row && t->tgqual != NULL)
			qual_kinds((Node *) stringToNode(t->tgqual), kind_att, kind_type, &jt->kinds);
		else
		{
			jt->kinds.any = true;
			jt->kinds.n = 0;
		}
		for (int k = 0; !jt->kinds.any && k < jt->kinds.n; k++)
		{
			HeapTuple	tup = SearchSysCache1(ENUMOID, ObjectIdGetDatum(jt->kinds.kinds[k]));

			if (!HeapTupleIsValid(tup))
			{
				/* not a label of the type after all: cannot tell */
				jt->kinds.any = true;
				break;
			}
			namestrcpy(&jt->labels[k], NameStr(((Form_pg_enum) GETSTRUCT(tup))->enumlabel));
			ReleaseSysCache(tup);
		}
	}
	/* an invalidation taken in meanwhile makes the next call read again */
	journal_triggers.generation = generation;
}

/*
 * journal_others_may_fire
 *		Whether an INSERT trigger of the journal other than journal_chain
 *		fires now for a row of this kind (by label, or else by pg_enum OID);
 *		journal_triggers_read() first.
 */
static bool
journal_others_may_fire(const char *label, Oid kind)
{
	if (journal_triggers.too_many)
		return true;
	for (int i = 0; i < journal_triggers.n; i++)
	{
		const JournalTrigger *jt = &journal_triggers.trig[i];

		if (jt->is_chain || !trigger_fires_now(jt->tgenabled))
			continue;
		if (jt->kinds.any)
			return true;
		for (int k = 0; k < jt->kinds.n; k++)
			if (label != NULL ? strcmp(NameStr(jt->labels[k]), label) == 0 :
				jt->kinds.kinds[k] == kind)
				return true;
	}
	return false;
}

/* whether journal_chain fires now; journal_triggers_read() first */
static bool
journal_chain_fires(void)
{
	for (int i = 0; i < journal_triggers.n; i++)
		if (journal_triggers.trig[i].is_chain &&
			trigger_fires_now(journal_triggers.trig[i].tgenabled))
			return true;
	return false;
}

/*
 * registry_chain_can_defer
 *		Whether a posting whose journal rows have these entry kinds may leave
 *		the heads to be written after its legs are in: true when
 *		carbonmkt.journal's journal_chain trigger fires and no other INSERT
 *		trigger on it may fire for a row of these kinds (internal
 *		foreign-key triggers aside; see "Which journal rows the other
 *		triggers on the journal fire for"), and no room's trigger runs when a
 *		posting writes its posting row, holdings, hold or heads (nothing,
 *		then, can post or read a head in between).  Takes the lock an INSERT
 *		into the journal takes, which blocks CREATE/ALTER/DROP TRIGGER on it
 *		until the end of the transaction, so the answer holds for the
 *		posting; the other tables are looked at again after any relcache
 *		invalidation (a trigger created on them meanwhile makes the posting
 *		fail with an error, never write a wrong head).
 */
bool
registry_chain_can_defer(const char *const *kinds, int nkinds)
{
	static uint64 others_generation = 0;
	static bool others_quiet = false;
	Relation	rel;
	bool		quiet;

	chain_cache_init();
	if (others_generation != chain_generation)
	{
		others_quiet = no_user_trigger("posting", TRIGGER_TYPE_INSERT, NULL) &&
			no_user_trigger("account", TRIGGER_TYPE_UPDATE, "account_rules") &&
			no_user_trigger("holding", TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE, NULL) &&
			no_user_trigger("hold", TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE, NULL);
		others_generation = chain_generation;
	}
	if (!others_quiet)
		return false;
	if (!OidIsValid(journal_relid))
	{
		Oid			relid = get_relname_relid("journal", get_namespace_oid("carbonmkt", false));

		if (!OidIsValid(relid))
			elog(ERROR, "table carbonmkt.journal does not exist");
		journal_relid = relid;
	}
	rel = table_open(journal_relid, RowExclusiveLock);
	journal_triggers_read(rel);
	quiet = journal_chain_fires();
	for (int i = 0; quiet && i < nkinds; i++)
		quiet = !journal_others_may_fire(kinds[i], InvalidOid);
	table_close(rel, NoLock);
	return quiet;
}

/*
 * registry_chain_add
 *		Register an account of a posting begun by registry_chain_begin(): its
 *		row has been locked FOR NO KEY UPDATE in this transaction, and
 *		seq/hash/tid were read under that lock.  If anything advanced the
 *		head since (chain_heads knows), the posting starts from there.
 *		Returns whether this transaction wrote the row's head before.  An
 *		account that cannot be registered simply takes the trigger's
 *		ordinary path.
 */
bool
registry_chain_add(int64 account_id, int64 seq, const bytea *hash,
				   const ItemPointerData *tid)
{
	ChainPostingAccount *a;
	ChainHead  *h;
	int			pos;

	if (chain_posting.lxid != MyProc->lxid ||
		chain_posting.subxid != GetCurrentSubTransactionId() ||
		chain_posting_search(account_id, &pos))
		return false;
	h = chain_head_slot(account_id);
	if (!chain_head_valid(h, account_id))
	{
		if (VARSIZE_ANY_EXHDR(hash) != CHAIN_HASH_LEN)
			return false;
		chain_head_store(account_id, seq, (const uint8 *) VARDATA_ANY(hash), tid, false);
	}
	if (chain_posting.n == chain_posting.cap)
	{
		/* more accounts than the static array holds: into the context */
		int			cap;
		ChainPostingAccount *grown;

		if ((Size) chain_posting.cap * 4 > MaxAllocSize / sizeof(ChainPostingAccount))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("a posting cannot have more than %d accounts", chain_posting.cap)));
		cap = chain_posting.cap * 4;
		if (chain_posting_cxt == NULL)
			chain_posting_cxt = AllocSetContextCreate(TopMemoryContext,
													  "carbonmkt chain posting",
													  ALLOCSET_DEFAULT_SIZES);
		grown = MemoryContextAlloc(chain_posting_cxt, cap * sizeof(ChainPostingAccount));
		memcpy(grown, chain_posting.acc, chain_posting.n * sizeof(ChainPostingAccount));
		if (chain_posting.acc != chain_posting.fixed)
			pfree(chain_posting.acc);
		chain_posting.acc = grown;
		chain_posting.cap = cap;
	}
	/* in account_id order (registering in that order appends) */
	if (pos < chain_posting.n)
		memmove(&chain_posting.acc[pos + 1], &chain_posting.acc[pos],
				(chain_posting.n - pos) * sizeof(ChainPostingAccount));
	chain_posting.n++;
	chain_posting.last = pos;
	a = &chain_posting.acc[pos];
	a->written_before = h->written;
	a->account_id = account_id;
	a->seq = h->seq;
	memcpy(a->hash, h->hash, CHAIN_HASH_LEN);
	ItemPointerCopy(&h->tid, &a->tid);
	a->pending = false;
	a->disturbed = false;
	a->written_seq = -1;
	return a->written_before;
}

/*
 * posting_head_account
 *		The posting's entry of an account whose head its statement is now
 *		writing: the legs must be in (the trigger advanced the head), in this
 *		subtransaction, and the trigger must have left the writing to the
 *		posting.
 */
static ChainPostingAccount *
posting_head_account(int64 account_id)
{
	ChainPostingAccount *a = chain_posting_account(account_id);

	if (a == NULL || a->disturbed || !a->pending ||
		chain_posting.subxid != GetCurrentSubTransactionId())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no journal head of account " INT64_FORMAT " is waiting to be written",
						account_id),
				 errdetail("Only a posting of the registry writes the heads its legs advanced, after the legs.")));
	a->written_seq = a->seq;
	return a;
}

/*
 * carbonmkt._posting_head_seq(account bigint) -> bigint
 * carbonmkt._posting_head_hash(account bigint) -> bytea
 *		The head a posting's legs advanced an account's chain to, for the
 *		statement of posting.c that writes it into the account row.
 */
Datum
carbonmkt_posting_head_seq(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(posting_head_account(PG_GETARG_INT64(0))->seq);
}

Datum
carbonmkt_posting_head_hash(PG_FUNCTION_ARGS)
{
	ChainPostingAccount *a = posting_head_account(PG_GETARG_INT64(0));
	bytea	   *h = palloc(VARHDRSZ + CHAIN_HASH_LEN);

	SET_VARSIZE(h, VARHDRSZ + CHAIN_HASH_LEN);
	memcpy(VARDATA(h), a->hash, CHAIN_HASH_LEN);
	PG_RETURN_BYTEA_P(h);
}

static void
prepare_head_plans(void)
{
	if (posting_exists_plan == NULL)
	{
		Oid			argtypes[1] = {INT8OID};

		posting_exists_plan =
			registry_keep_plan("SELECT 1 FROM carbonmkt.posting WHERE posting_id = $1",
							   1, argtypes);
	}
	if (head_select_plan == NULL)
	{
		Oid			argtypes[1] = {INT8OID};

		head_select_plan =
			registry_keep_plan("SELECT head_seq, head_hash, ctid FROM carbonmkt.account "
							   "WHERE account_id = $1 FOR NO KEY UPDATE",
							   1, argtypes);
	}
	if (head_last_entry_plan == NULL)
	{
		Oid			argtypes[1] = {INT8OID};

		head_last_entry_plan =
			registry_keep_plan("SELECT seq, hash FROM carbonmkt.journal "
							   "WHERE account_id = $1 ORDER BY seq DESC LIMIT 1",
							   1, argtypes);
	}
	if (head_update_plan == NULL)
	{
		Oid			argtypes[3] = {INT8OID, INT8OID, BYTEAOID};

		head_update_plan =
			registry_keep_plan("UPDATE carbonmkt.account SET head_seq = $2, head_hash = $3 "
							   "WHERE account_id = $1 RETURNING ctid",
							   3, argtypes);
	}
	if (head_update_tid_plan == NULL)
	{
		Oid			argtypes[4] = {INT8OID, INT8OID, BYTEAOID, TIDOID};

		head_update_tid_plan =
			registry_keep_plan("UPDATE carbonmkt.account SET head_seq = $2, head_hash = $3 "
							   "WHERE ctid = $4 AND account_id + 0 = $1 RETURNING ctid",
							   4, argtypes);
	}
	if (head_update_two_plan == NULL)
	{
		Oid			argtypes[8] = {INT8OID, INT8OID, BYTEAOID, TIDOID,
		INT8OID, INT8OID, BYTEAOID, TIDOID};

		head_update_two_plan =
			registry_keep_plan("UPDATE carbonmkt.account a SET head_seq = v.seq, head_hash = v.hash "
							   "FROM (VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)) v(account_id, seq, hash, tid) "
							   "WHERE a.ctid = v.tid AND a.account_id + 0 = v.account_id "
							   "RETURNING a.account_id, a.ctid",
							   8, argtypes);
	}
	if (head_update_two_id_plan == NULL)
	{
		Oid			argtypes[8] = {INT8OID, INT8OID, BYTEAOID, TIDOID,
		INT8OID, INT8OID, BYTEAOID, TIDOID};

		head_update_two_id_plan =
			registry_keep_plan("UPDATE carbonmkt.account a SET head_seq = v.seq, head_hash = v.hash "
							   "FROM (VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)) v(account_id, seq, hash, tid) "
							   "WHERE a.account_id = v.account_id "
							   "RETURNING a.account_id, a.ctid",
							   8, argtypes);
	}
	if (head_update_many_plan == NULL)
	{
		Oid			argtypes[3] = {INT8ARRAYOID, INT8ARRAYOID, BYTEAARRAYOID};

		head_update_many_plan =
			registry_keep_plan("UPDATE carbonmkt.account a SET head_seq = v.seq, head_hash = v.hash "
							   "FROM unnest($1, $2, $3) v(account_id, seq, hash) "
							   "WHERE a.account_id = v.account_id "
							   "RETURNING a.account_id, a.ctid",
							   3, argtypes);
	}
	if (head_update_many_tid_plan == NULL)
	{
		Oid			argtypes[4] = {INT8ARRAYOID, INT8ARRAYOID, BYTEAARRAYOID, TIDARRAYOID};

		head_update_many_tid_plan =
			registry_keep_plan("UPDATE carbonmkt.account a SET head_seq = v.seq, head_hash = v.hash "
							   "FROM unnest($1, $2, $3, $4) v(account_id, seq, hash, tid) "
							   "WHERE a.ctid = v.tid AND a.account_id + 0 = v.account_id "
							   "RETURNING a.account_id, a.ctid",
							   4, argtypes);
	}
}

/*
 * head_from_journal
 *		An account's head as its last journal row says (genesis without one).
 *		Under the row lock this is the truth whatever this transaction rolled
 *		back.  Call within SPI; hash must have room for CHAIN_HASH_LEN bytes.
 */
static void
head_from_journal(int64 account_id, int64 *seq, uint8 *hash)
{
	Datum		args[1];
	int			ret;

	args[0] = Int64GetDatum(account_id);
	ret = SPI_execute_plan(head_last_entry_plan, args, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading the last journal entry of account " INT64_FORMAT " failed: %s",
			 account_id, SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		*seq = 0;
		memset(hash, 0, CHAIN_HASH_LEN);
	}
	else
	{
		bool		null_seq;
		bool		null_hash;
		Datum		d_seq = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null_seq);
		Datum		d_hash = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &null_hash);
		bytea	   *h;

		if (null_seq || null_hash)
			elog(ERROR, "the last journal entry of account " INT64_FORMAT " has no seq or hash", account_id);
		h = DatumGetByteaPP(d_hash);
		if (VARSIZE_ANY_EXHDR(h) != CHAIN_HASH_LEN)
			elog(ERROR, "the last journal entry of account " INT64_FORMAT " has a hash of %d bytes",
				 account_id, (int) VARSIZE_ANY_EXHDR(h));
		*seq = DatumGetInt64(d_seq);
		memcpy(hash, VARDATA_ANY(h), CHAIN_HASH_LEN);
	}
}

/*
 * write_head
 *		Write an account's head into its row: straight at the row version
 *		that holds it when that is known (ours, locked), else by key; and
 *		remember it.  Call within SPI.
 */
static void
write_head(int64 account_id, int64 seq, const uint8 *hash, const ItemPointerData *tid,
		   ItemPointer new_tid)
{
	Datum		args[4];
	bytea	   *h = palloc(VARHDRSZ + CHAIN_HASH_LEN);
	int			ret = SPI_OK_UPDATE_RETURNING;
	bool		null_tid;
	Datum		d_tid;

	SET_VARSIZE(h, VARHDRSZ + CHAIN_HASH_LEN);
	memcpy(VARDATA(h), hash, CHAIN_HASH_LEN);
	args[0] = Int64GetDatum(account_id);
	args[1] = Int64GetDatum(seq);
	args[2] = PointerGetDatum(h);
	SPI_processed = 0;
	if (tid != NULL && ItemPointerIsValid(tid))
	{
		args[3] = PointerGetDatum(tid);
		ret = SPI_execute_plan(head_update_tid_plan, args, NULL, false, 1);
	}
	if (ret == SPI_OK_UPDATE_RETURNING && SPI_processed == 0)
		ret = SPI_execute_plan(head_update_plan, args, NULL, false, 0);
	if (ret != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
		elog(ERROR, "advancing the head of account " INT64_FORMAT " failed: %s",
			 account_id, SPI_result_code_string(ret));
	d_tid = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null_tid);
	chain_head_store(account_id, seq, hash,
					 null_tid ? NULL : (ItemPointer) DatumGetPointer(d_tid), true);
	if (new_tid != NULL)
	{
		if (null_tid)
			ItemPointerSetInvalid(new_tid);
		else
			ItemPointerCopy((ItemPointer) DatumGetPointer(d_tid), new_tid);
	}
}

/*
 * write_heads_many
 *		Write the heads of more than two accounts of the posting with one
 *		UPDATE over arrays: straight at the locked row versions when this
 *		transaction wrote any of the rows before (see registry_chain_finish),
 *		by key otherwise; a row version that moved on after all, by key.
 *		Call within SPI.
 */
static void
write_heads_many(ChainPostingAccount **acc, int n)
{
	Datum	   *ids = palloc(n * sizeof(Datum));
	Datum	   *seqs = palloc(n * sizeof(Datum));
	Datum	   *hashes = palloc(n * sizeof(Datum));
	Datum	   *tids = palloc(n * sizeof(Datum));
	Datum		args[4];
	bool		by_tid = false;
	int			ret;

	for (int k = 0; k < n; k++)
	{
		bytea	   *h = palloc(VARHDRSZ + CHAIN_HASH_LEN);

		SET_VARSIZE(h, VARHDRSZ + CHAIN_HASH_LEN);
		memcpy(VARDATA(h), acc[k]->hash, CHAIN_HASH_LEN);
		ids[k] = Int64GetDatum(acc[k]->account_id);
		seqs[k] = Int64GetDatum(acc[k]->seq);
		hashes[k] = PointerGetDatum(h);
		tids[k] = PointerGetDatum(&acc[k]->tid);
		by_tid |= acc[k]->written_before && ItemPointerIsValid(&acc[k]->tid);
	}
	args[0] = PointerGetDatum(construct_array(ids, n, INT8OID, sizeof(int64),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[1] = PointerGetDatum(construct_array(seqs, n, INT8OID, sizeof(int64),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(hashes, n, BYTEAOID, -1, false, TYPALIGN_INT));
	if (by_tid)
		args[3] = PointerGetDatum(construct_array(tids, n, TIDOID, sizeof(ItemPointerData),
												  false, TYPALIGN_SHORT));
	ret = SPI_execute_plan(by_tid ? head_update_many_tid_plan : head_update_many_plan,
						   args, NULL, false, 0);
	if (ret != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "advancing the heads of a posting failed: %s",
			 SPI_result_code_string(ret));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
													 SPI_tuptable->tupdesc, 1, &isnull));
		Datum		d_tid = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull);
		ChainPostingAccount *a = chain_posting_account(id);

		if (a == NULL || !a->pending)
			elog(ERROR, "the head of account " INT64_FORMAT " was written twice", id);
		chain_head_store(id, a->seq, a->hash, (ItemPointer) DatumGetPointer(d_tid), true);
		a->pending = false;
	}
	for (int k = 0; k < n; k++)
		if (acc[k]->pending)
		{
			write_head(acc[k]->account_id, acc[k]->seq, acc[k]->hash, NULL, NULL);
			acc[k]->pending = false;
		}
}

/*
 * registry_chain_finish
 *		Write the heads of the posting's accounts (those it appended to) into
 *		their rows, two with one statement of parameters and more with one
 *		statement over arrays, and end the posting.  Call within SPI, in the
 *		subtransaction of registry_chain_begin().
 */
void
registry_chain_finish(void)
{
	ChainPostingAccount *fast_few[CHAIN_POSTING_MAX];
	ChainPostingAccount **fast = fast_few;
	int			nfast = 0;

	if (chain_posting.lxid != MyProc->lxid ||
		chain_posting.subxid != GetCurrentSubTransactionId())
		return;					/* a nested posting finished it; nothing waits */
	prepare_head_plans();
	if (chain_posting.n > CHAIN_POSTING_MAX)
		fast = palloc(chain_posting.n * sizeof(ChainPostingAccount *));

	for (int i = 0; i < chain_posting.n; i++)
	{
		ChainPostingAccount *a = &chain_posting.acc[i];

		if (a->disturbed)
		{
			int64		seq;
			uint8		hash[CHAIN_HASH_LEN];

			/* whatever happened meanwhile, the journal has the truth */
			head_from_journal(a->account_id, &seq, hash);
			write_head(a->account_id, seq, hash, NULL, NULL);
		}
		else if (a->pending && a->written_seq == a->seq)
		{
			/* the posting's statement wrote it (the row version is new) */
			a->pending = false;
			chain_head_store(a->account_id, a->seq, a->hash, NULL, true);
		}
		else if (a->pending)
			fast[nfast++] = a;
	}

	if (nfast > 2)
		write_heads_many(fast, nfast);
	else if (nfast == 1)
		write_head(fast[0]->account_id, fast[0]->seq, fast[0]->hash, &fast[0]->tid, NULL);
	else if (nfast == 2)
	{
		Datum		args[8];
		char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
		int			ret;
		bool		done[2] = {false, false};

		for (int k = 0; k < 2; k++)
		{
			bytea	   *h = palloc(VARHDRSZ + CHAIN_HASH_LEN);

			SET_VARSIZE(h, VARHDRSZ + CHAIN_HASH_LEN);
			memcpy(VARDATA(h), fast[k]->hash, CHAIN_HASH_LEN);
			args[4 * k] = Int64GetDatum(fast[k]->account_id);
			args[4 * k + 1] = Int64GetDatum(fast[k]->seq);
			args[4 * k + 2] = PointerGetDatum(h);
			args[4 * k + 3] = PointerGetDatum(&fast[k]->tid);
			if (!ItemPointerIsValid(&fast[k]->tid))
				nulls[4 * k + 3] = 'n';
		}
		/*
		 * Straight at the locked row versions when this transaction wrote
		 * either row before (a long HOT chain to walk by key); by key
		 * otherwise, which spares a TID scan's relation-size lookup.
		 */
		ret = SPI_execute_plan(fast[0]->written_before || fast[1]->written_before ?
							   head_update_two_plan : head_update_two_id_plan,
							   args, nulls, false, 0);
		if (ret != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "advancing the heads of a posting failed: %s",
				 SPI_result_code_string(ret));
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
														 SPI_tuptable->tupdesc, 1, &isnull));
			Datum		d_tid = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull);

			for (int k = 0; k < 2; k++)
				if (!done[k] && fast[k]->account_id == id)
				{
					chain_head_store(id, fast[k]->seq, fast[k]->hash,
									 (ItemPointer) DatumGetPointer(d_tid), true);
					done[k] = true;
				}
		}
		/* a row version that moved on after all: by key */
		for (int k = 0; k < 2; k++)
			if (!done[k])
				write_head(fast[k]->account_id, fast[k]->seq, fast[k]->hash, NULL, NULL);
	}
	chain_posting_end();
}

/*
 * journal_only_trigger
 *		True when no INSERT trigger of the journal but journal_chain fires for
 *		a row of this entry kind (internal foreign-key checks aside): then
 *		nothing else can append to the journal, or read a head, while a
 *		posting inserts its legs.  journal_triggers_read() first.
 */
static bool
journal_only_trigger(bool kind_null, Datum kind)
{
	return !kind_null && !journal_others_may_fire(NULL, DatumGetObjectId(kind));
}

/*
 * chain_layout_for
 *		The journal layout for a relation descriptor, built once per backend
 *		(and again after a relcache invalidation).
 */
static const JournalLayout *
chain_layout_for(TupleDesc tupdesc)
{
	chain_cache_init();
	if (chain_layout == NULL || chain_layout_desc != tupdesc)
	{
		MemoryContext oldcxt;

		if (chain_layout_cxt == NULL)
			chain_layout_cxt = AllocSetContextCreate(TopMemoryContext,
													 "carbonmkt journal layout",
													 ALLOCSET_SMALL_SIZES);
		MemoryContextReset(chain_layout_cxt);
		chain_layout = NULL;
		oldcxt = MemoryContextSwitchTo(chain_layout_cxt);
		chain_layout = palloc(sizeof(JournalLayout));
		chain_layout_init(chain_layout, tupdesc, chain_layout_cxt);
		MemoryContextSwitchTo(oldcxt);
		chain_layout_desc = tupdesc;
	}
	return chain_layout;
}

/*
 * require_posting
 *		Every journal row belongs to a posting row (journal.posting_id has no
 *		foreign key: this trigger checks it, see registry.sql).  Postings are
 *		append-only and never deleted, so the row needs no lock.  Call within
 *		SPI, after prepare_head_plans().
 */
static void
require_posting(int64 posting_id)
{
	Datum		args[1];
	int			ret;

	args[0] = Int64GetDatum(posting_id);
	ret = SPI_execute_plan(posting_exists_plan, args, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "looking up posting " INT64_FORMAT " failed: %s",
			 posting_id, SPI_result_code_string(ret));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("posting " INT64_FORMAT " does not exist", posting_id),
				 errdetail("A journal entry must belong to a posting of carbonmkt.posting.")));
}

/*
 * journal_chain()
 *		BEFORE INSERT FOR EACH ROW trigger on carbonmkt.journal: sets seq,
 *		prev_hash and hash from the account's chain head and advances the
 *		head.  The account row is locked FOR NO KEY UPDATE until the end of
 *		the transaction, which serialises appends to one account and nothing
 *		else.  What this backend already knows (see "What this backend knows
 *		about chain heads") spares reading and writing the row.
 */
Datum
journal_chain(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	HeapTuple	tuple;
	const JournalLayout *layout;
	Datum	   *values;
	bool	   *isnull;
	int64		account_id;
	int64		head_seq;
	int64		new_seq;
	bytea	   *head_hash;
	bytea	   *new_hash;
	ItemPointerData head_tid;
	ChainPostingAccount *posting;
	bool		in_posting;
	bool		posting_known;
	bool		defer = false;
	MemoryContext callercxt = CurrentMemoryContext;
	int			cols[3];
	Datum		newvals[3];
	bool		newnulls[3] = {false, false, false};

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager",
						"journal_chain")));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired BEFORE INSERT FOR EACH ROW",
						"journal_chain")));

	tupdesc = RelationGetDescr(trigdata->tg_relation);
	tuple = trigdata->tg_trigtuple;
	/* (this may take invalidations: before the layout is taken) */
	journal_triggers_read(trigdata->tg_relation);
	layout = chain_layout_for(tupdesc);

	values = palloc(tupdesc->natts * sizeof(Datum));
	isnull = palloc(tupdesc->natts * sizeof(bool));
	heap_deform_tuple(tuple, tupdesc, values, isnull);

	if (isnull[layout->account_id_att - 1])
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("null value in column \"account_id\" of relation \"%s\" violates not-null constraint",
						RelationGetRelationName(trigdata->tg_relation))));
	account_id = DatumGetInt64(values[layout->account_id_att - 1]);

	head_hash = palloc(VARHDRSZ + CHAIN_HASH_LEN);
	SET_VARSIZE(head_hash, VARHDRSZ + CHAIN_HASH_LEN);
	ItemPointerSetInvalid(&head_tid);

	posting = chain_posting_account(account_id);
	in_posting = posting != NULL && !posting->disturbed &&
		chain_posting.subxid == GetCurrentSubTransactionId();
	if (in_posting)
	{
		/* a leg of the posting being made: the head is in memory */
		head_seq = posting->seq;
		memcpy(VARDATA(head_hash), posting->hash, CHAIN_HASH_LEN);
		ItemPointerCopy(&posting->tid, &head_tid);
		defer = journal_only_trigger(isnull[layout->kind_att - 1], values[layout->kind_att - 1]);
		/* the posting's statement inserts (or inserted) its posting row */
		posting_known = isnull[layout->posting_id_att - 1] ||
			DatumGetInt64(values[layout->posting_id_att - 1]) == chain_posting.posting_id;
		if (!posting_known)
		{
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			prepare_head_plans();
			require_posting(DatumGetInt64(values[layout->posting_id_att - 1]));
			if (SPI_finish() != SPI_OK_FINISH)
				elog(ERROR, "SPI_finish failed");
		}
	}
	else
	{
		ChainHead  *cached;
		bool		row_lags = false;

		if (posting != NULL)
		{
			/* the posting's view of this account is no longer complete */
			row_lags = posting->pending || posting->disturbed;
			posting->disturbed = true;
		}

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		prepare_head_plans();
		cached = chain_head_slot(account_id);

		if (!row_lags && chain_head_valid(cached, account_id))
		{
			/* locked by this transaction, head known (see chain_heads) */
			head_seq = cached->seq;
			memcpy(VARDATA(head_hash), cached->hash, CHAIN_HASH_LEN);
			ItemPointerCopy(&cached->tid, &head_tid);
		}
		else
		{
			Datum		args[1];
			int			ret;
			bool		null_seq;
			bool		null_hash;
			bool		null_tid;
			Datum		d_seq;
			Datum		d_hash;
			Datum		d_tid;

			args[0] = Int64GetDatum(account_id);
			ret = SPI_execute_plan(head_select_plan, args, NULL, false, 1);
			if (ret != SPI_OK_SELECT)
				elog(ERROR, "reading the head of account " INT64_FORMAT " failed: %s",
					 account_id, SPI_result_code_string(ret));
			if (SPI_processed != 1)
				ereport(ERROR,
						(errcode(ERRCODE_CARBONMKT_UNKNOWN_ACCOUNT),
						 errmsg("account " INT64_FORMAT " does not exist", account_id),
						 errdetail("A journal entry must belong to an account of carbonmkt.account.")));

			d_seq = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null_seq);
			d_hash = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &null_hash);
			d_tid = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &null_tid);
			if (null_seq || null_hash)
				elog(ERROR, "account " INT64_FORMAT " has a null chain head", account_id);
			if (!null_tid)
				ItemPointerCopy((ItemPointer) DatumGetPointer(d_tid), &head_tid);
			if (row_lags)
				head_from_journal(account_id, &head_seq, (uint8 *) VARDATA(head_hash));
			else
			{
				MemoryContext spicxt = MemoryContextSwitchTo(callercxt);

				head_seq = DatumGetInt64(d_seq);
				/* whatever the row holds (a tampered head may not be 32 bytes) */
				head_hash = DatumGetByteaPCopy(d_hash);
				MemoryContextSwitchTo(spicxt);
			}
		}
		/* (a null posting_id is refused by its NOT NULL constraint) */
		if (!isnull[layout->posting_id_att - 1])
			require_posting(DatumGetInt64(values[layout->posting_id_att - 1]));
	}

	if (pg_add_s64_overflow(head_seq, 1, &new_seq))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("journal sequence of account " INT64_FORMAT " is out of range", account_id)));

	/* Compute the new row's chain columns in the caller's context. */
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(callercxt);

		values[layout->seq_att - 1] = Int64GetDatum(new_seq);
		isnull[layout->seq_att - 1] = false;
		values[layout->prev_hash_att - 1] = PointerGetDatum(head_hash);
		isnull[layout->prev_hash_att - 1] = false;

		new_hash = palloc(VARHDRSZ + CHAIN_HASH_LEN);
		SET_VARSIZE(new_hash, VARHDRSZ + CHAIN_HASH_LEN);
		chain_entry_hash(layout, values, isnull,
							 (const uint8 *) VARDATA(head_hash),
							 VARSIZE(head_hash) - VARHDRSZ,
							 (uint8 *) VARDATA(new_hash));
		MemoryContextSwitchTo(oldcxt);
	}

	if (defer)
	{
		/* the posting writes the head when all its legs are in */
		posting->seq = new_seq;
		memcpy(posting->hash, VARDATA(new_hash), CHAIN_HASH_LEN);
		posting->pending = true;
	}
	else if (in_posting)
	{
		ItemPointerData new_tid;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		prepare_head_plans();
		write_head(account_id, new_seq, (const uint8 *) VARDATA(new_hash), &head_tid,
				   &new_tid);
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
		/* (looked up again: the statement ran triggers, which may post) */
		posting = chain_posting_account(account_id);
		if (posting != NULL)
		{
			ItemPointerCopy(&new_tid, &posting->tid);
			posting->seq = new_seq;
			memcpy(posting->hash, VARDATA(new_hash), CHAIN_HASH_LEN);
			posting->pending = false;
		}
	}
	else
	{
		write_head(account_id, new_seq, (const uint8 *) VARDATA(new_hash), &head_tid, NULL);
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
	}

	cols[0] = layout->seq_att;
	newvals[0] = Int64GetDatum(new_seq);
	cols[1] = layout->prev_hash_att;
	newvals[1] = PointerGetDatum(head_hash);
	cols[2] = layout->hash_att;
	newvals[2] = PointerGetDatum(new_hash);

	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, tupdesc, 3,
													 cols, newvals, newnulls));
}

/* ----------------------------------------------------------------
 *		Append-only guard
 * ----------------------------------------------------------------
 */

/*
 * describe_primary_key
 *		"entry_id = 5" for the primary key columns of the row, or "" when
 *		the table has none.
 */
static char *
describe_primary_key(Relation rel, HeapTuple tuple)
{
	Bitmapset  *pk = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	StringInfoData buf;
	int			member = -1;

	initStringInfo(&buf);
	while ((member = bms_next_member(pk, member)) >= 0)
	{
		int			attnum = member + FirstLowInvalidHeapAttributeNumber;
		char	   *value;

		if (attnum <= 0)
			continue;
		value = SPI_getvalue(tuple, tupdesc, attnum);
		appendStringInfo(&buf, "%s%s = %s", buf.len > 0 ? ", " : "",
						 NameStr(TupleDescAttr(tupdesc, attnum - 1)->attname),
						 value ? value : "NULL");
	}
	return buf.data;
}

/*
 * only_sets_column_once
 *		True when newtuple differs from oldtuple only in column attnum, which
 *		goes from NULL to a value.
 */
static bool
only_sets_column_once(TupleDesc tupdesc, HeapTuple oldtuple,
					  HeapTuple newtuple, int attnum)
{
	for (int i = 1; i <= tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i - 1);
		bool		oldnull;
		bool		newnull;
		Datum		oldval;
		Datum		newval;

		if (att->attisdropped)
			continue;
		oldval = heap_getattr(oldtuple, i, tupdesc, &oldnull);
		newval = heap_getattr(newtuple, i, tupdesc, &newnull);
		if (i == attnum)
		{
			if (!oldnull || newnull)
				return false;
		}
		else if (oldnull != newnull)
			return false;
		else if (!oldnull &&
				 !datum_image_eq(oldval, newval, att->attbyval, att->attlen))
			return false;
	}
	return true;
}

/*
 * forbid_change()
 *		BEFORE UPDATE OR DELETE FOR EACH ROW and BEFORE TRUNCATE FOR EACH
 *		STATEMENT trigger of the append-only tables.  An optional trigger
 *		argument names a column that an UPDATE may set once, from NULL to a
 *		value, leaving every other column unchanged (posting.result).
 */
Datum
forbid_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	const char *relname;
	const char *op;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager",
						"forbid_change")));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired BEFORE", "forbid_change")));

	rel = trigdata->tg_relation;
	relname = RelationGetRelationName(rel);

	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_CARBONMKT_APPEND_ONLY),
				 errmsg("table %s is append-only", relname),
				 errdetail("Attempted TRUNCATE of table %s.", relname),
				 errhint("Post a correcting entry instead.")));

	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired FOR EACH ROW for UPDATE and DELETE",
						"forbid_change")));

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		op = "UPDATE";
		if (trigdata->tg_trigger->tgnargs >= 1)
		{
			const char *colname = trigdata->tg_trigger->tgargs[0];
			TupleDesc	tupdesc = RelationGetDescr(rel);
			int			attnum = SPI_fnumber(tupdesc, colname);

			if (attnum <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of relation \"%s\" does not exist",
								colname, relname)));
			if (only_sets_column_once(tupdesc, trigdata->tg_trigtuple,
									  trigdata->tg_newtuple, attnum))
				return PointerGetDatum(trigdata->tg_newtuple);

			ereport(ERROR,
					(errcode(ERRCODE_CARBONMKT_APPEND_ONLY),
					 errmsg("table %s is append-only", relname),
					 errdetail("Attempted UPDATE of the row with %s; only %s may be set, once, from NULL to a value.",
							   describe_primary_key(rel, trigdata->tg_trigtuple),
							   colname),
					 errhint("Post a correcting entry instead.")));
		}
	}
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		op = "DELETE";
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired for UPDATE, DELETE or TRUNCATE",
						"forbid_change")));

	ereport(ERROR,
			(errcode(ERRCODE_CARBONMKT_APPEND_ONLY),
			 errmsg("table %s is append-only", relname),
			 errdetail("Attempted %s of the row with %s.", op,
					   describe_primary_key(rel, trigdata->tg_trigtuple)),
			 errhint("Post a correcting entry instead.")));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

