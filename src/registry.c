/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  The registry ledger's (注册登记) SQL-callable C functions that are not
 *	  postings: unified social credit codes, the append-only guard, and thin
 *	  wrappers over the chain (src/chain.c): the journal_chain trigger and
 *	  carbonmkt._posting_head_seq/_hash.
 *
 * Postings are made by the posting engine (src/posting.c); the hash chain,
 * its heads, day seals and verification are src/chain.c.  Data flows one
 * way: SQL function -> posting -> chain.
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
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "parser/scansup.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "carbonmkt.h"
#include "chain.h"

/* SQLSTATEs of the registry room (doc/registry.md) */
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
 *		The chain: SQL-callable wrappers (the chain is src/chain.c)
 * ----------------------------------------------------------------
 */

/*
 * journal_chain()
 *		BEFORE INSERT FOR EACH ROW trigger on carbonmkt.journal: appends the
 *		row to its account's hash chain and advances the head (chain_append,
 *		src/chain.c).
 */
Datum
journal_chain(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

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
	return PointerGetDatum(chain_append(trigdata));
}

/*
 * carbonmkt._posting_head_seq(account bigint) -> bigint
 * carbonmkt._posting_head_hash(account bigint) -> bytea
 *		The head a posting's legs advanced an account's chain to, for the
 *		statement of the posting engine (src/posting.c) that writes it into
 *		the account row (chain_deferred_head, src/chain.c).
 */
Datum
carbonmkt_posting_head_seq(PG_FUNCTION_ARGS)
{
	int64		seq;

	chain_deferred_head(PG_GETARG_INT64(0), &seq, NULL);
	PG_RETURN_INT64(seq);
}

Datum
carbonmkt_posting_head_hash(PG_FUNCTION_ARGS)
{
	int64		seq;
	bytea	   *h = palloc(VARHDRSZ + CHAIN_HASH_LEN);

	SET_VARSIZE(h, VARHDRSZ + CHAIN_HASH_LEN);
	chain_deferred_head(PG_GETARG_INT64(0), &seq, (uint8 *) VARDATA(h));
	PG_RETURN_BYTEA_P(h);
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
 *		value, leaving every other column unchanged (posting.result).  As a
 *		TRUNCATE trigger (also of the other ledger tables, src/operations.sql)
 *		it is the drop guard: refused while the journal holds entries.
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
	{
		/* the drop guard of src/operations.c: refused while the journal has entries */
		carbonmkt_ledger_guard(psprintf("truncate table %s",
										quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
																   relname)));
		return PointerGetDatum(NULL);
	}

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

