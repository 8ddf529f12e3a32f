/*-------------------------------------------------------------------------
 *
 * settlement.c
 *	  The registry's unified settlement (统一交收) of a market batch: one
 *	  posting that spends and releases many order holds and credits the
 *	  receiving accounts, made set-based by the posting engine.
 *
 * The national rules settle exchange trades by "逐笔全额清算、统一交收":
 * every trade is cleared gross (the market computes, trade by trade, what
 * each order's hold gives up and what each party receives), and the
 * settlement of the whole batch is then made together, delivery versus
 * payment.  carbonmkt.settle_batch() is that second step on the registry's
 * side.  It takes, in arrays,
 *
 *	- per hold: the quantity spent from it and whether what remains is
 *	  released (the order ended);
 *	- per receiving account and asset: the net credit;
 *
 * checks the arguments (their shape, each hold and credit once), opens the
 * posting (idempotency, the sealed day: posting_open) and hands the batch
 * to the one posting engine (posting_batch, src/posting.c), which locks
 * every account in account_id order, checks everything the per-call path
 * (transfer_from_hold, release_hold) checks and that the batch balances
 * per asset, and writes every hold, holding and journal row set-based,
 * the chain heads through the chain (src/chain.c).  This file writes
 * nothing itself.

 * Only the market room may call it (carbonmkt.acting_room = 'market'): the
 * market has authorised the orders behind the holds by its own rules.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/settlement.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "carbonmkt.h"
#include "posting.h"

PG_FUNCTION_INFO_V1(carbonmkt_settle_batch);

/* ----------------------------------------------------------------
 *		Arguments
 * ----------------------------------------------------------------
 */

/*
 * array_arg
 *		The elements of an array argument, which must be one-dimensional and
 *		hold no NULL.  Returns the number of elements.
 */
static int
array_arg(FunctionCallInfo fcinfo, int argno, const char *name, Datum **elems)
{
	ArrayType  *arr;
	Oid			elemtype;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	bool	   *nulls;
	int			n;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("settlement batch: %s must not be NULL", name),
				 errhint("Pass an empty array for none.")));
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("settlement batch: %s must be a one-dimensional array", name)));
	elemtype = ARR_ELEMTYPE(arr);
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign, elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("settlement batch: %s[%d] is NULL", name, i + 1)));
	return n;
}

static void
same_length(int n, int m, const char *a, const char *b)
{
	if (n != m)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("settlement batch: %s has %d elements but %s has %d", b, m, a, n),
				 errhint("Give one element per hold in hold_ids, spent and release_rest, and one per credit in the credit arrays.")));
}

/*
 * request_text
 *		The canonical text a retry with the same client reference is compared
 *		with: the counts, the memo and a SHA-256 over every hold and credit in
 *		argument order.
 */
static char *
request_text(PostingBatchHold *holds, int nholds, PostingBatchCredit *credits, int ncredits, const char *memo)
{
	StringInfoData buf;
	pg_cryptohash_ctx *ctx;
	uint8		digest[32];
	char		hex[65];

	initStringInfo(&buf);
	for (int i = 0; i < nholds; i++)
		appendStringInfo(&buf, "hold " INT64_FORMAT " " INT64_FORMAT " %c\n",
						 holds[i].hold_id, holds[i].spent, holds[i].release ? 't' : 'f');
	for (int i = 0; i < ncredits; i++)
		appendStringInfo(&buf, "credit " INT64_FORMAT " %s %d %s " INT64_FORMAT "\n",
						 credits[i].asset.account, posting_instrument_label(credits[i].asset.instr),
						 credits[i].asset.vintage, credits[i].asset.project, credits[i].amount);
	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) buf.data, buf.len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
	{
		const char *msg = pg_cryptohash_error(ctx);

		pg_cryptohash_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256 hash: %s", msg)));
	}
	pg_cryptohash_free(ctx);
	hex_encode((const char *) digest, sizeof(digest), hex);
	hex[64] = '\0';
	return psprintf("settle_batch(holds=%d,credits=%d,sha256=%s,memo=%s)", nholds, ncredits, hex,
					memo ? memo : "");
}

/* ----------------------------------------------------------------
 *		carbonmkt.settle_batch()
 * ----------------------------------------------------------------
 */

/*
 * carbonmkt.settle_batch(hold_ids bigint[], spent bigint[], release_rest boolean[],
 *						  credit_accounts bigint[], credit_instruments instrument[],
 *						  credit_vintages int[], credit_projects text[], credit_amounts bigint[],
 *						  reference text, memo text) -> posting id
 */
Datum
carbonmkt_settle_batch(PG_FUNCTION_ARGS)
{
	LOCAL_FCINFO(roomcinfo, 0);
	Datum		room;
	Datum	   *a_hold,
			   *a_spent,
			   *a_release,
			   *a_cacc,
			   *a_cinstr,
			   *a_cvint,
			   *a_cproj,
			   *a_camt;
	int			nholds,
				ncredits,
				n;
	text	   *reference = PG_ARGISNULL(8) ? NULL : PG_GETARG_TEXT_PP(8);
	char	   *memo = PG_ARGISNULL(9) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(9));
	PostingBatchHold *holds;
	PostingBatchCredit *credits;
	int64		posting_id;
	TimestampTz ts;
	DateADT		bdate;
	Oid			instr_out;
	bool		instr_varlena;

	/* 1. the market room only */
	InitFunctionCallInfoData(*roomcinfo, NULL, 0, InvalidOid, NULL, NULL);
	room = carbonmkt_acting_room(roomcinfo);
	if (roomcinfo->isnull || strcmp(TextDatumGetCString(room), "market") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only the market room may settle a batch"),
				 errdetail("carbonmkt.acting_room is %s.",
						   roomcinfo->isnull ? "not set" : TextDatumGetCString(room)),
				 errhint("The market's SECURITY DEFINER functions carry SET carbonmkt.acting_room = 'market' (doc/registry.md, \"Rooms that post\").")));

	/* 2. the arguments */
	nholds = array_arg(fcinfo, 0, "hold_ids", &a_hold);
	n = array_arg(fcinfo, 1, "spent", &a_spent);
	same_length(nholds, n, "hold_ids", "spent");
	n = array_arg(fcinfo, 2, "release_rest", &a_release);
	same_length(nholds, n, "hold_ids", "release_rest");
	ncredits = array_arg(fcinfo, 3, "credit_accounts", &a_cacc);
	n = array_arg(fcinfo, 4, "credit_instruments", &a_cinstr);
	same_length(ncredits, n, "credit_accounts", "credit_instruments");
	n = array_arg(fcinfo, 5, "credit_vintages", &a_cvint);
	same_length(ncredits, n, "credit_accounts", "credit_vintages");
	n = array_arg(fcinfo, 6, "credit_projects", &a_cproj);
	same_length(ncredits, n, "credit_accounts", "credit_projects");
	n = array_arg(fcinfo, 7, "credit_amounts", &a_camt);
	same_length(ncredits, n, "credit_accounts", "credit_amounts");
	if (nholds == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("settlement batch: no holds given"),
				 errhint("A batch spends or releases at least one hold.")));

	holds = palloc0(sizeof(PostingBatchHold) * nholds);
	for (int i = 0; i < nholds; i++)
	{
		holds[i].hold_id = DatumGetInt64(a_hold[i]);
		holds[i].spent = DatumGetInt64(a_spent[i]);
		holds[i].release = DatumGetBool(a_release[i]);
		holds[i].arg_index = i + 1;
		if (holds[i].spent < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("settlement batch: spent[%d] of hold " INT64_FORMAT " is negative: " INT64_FORMAT,
							i + 1, holds[i].hold_id, holds[i].spent)));
		if (holds[i].spent == 0 && !holds[i].release)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("settlement batch: hold " INT64_FORMAT " is neither spent nor released",
							holds[i].hold_id),
					 errhint("Leave a hold the batch does not touch out of the arrays.")));
	}

	getTypeOutputInfo(ARR_ELEMTYPE(PG_GETARG_ARRAYTYPE_P(4)), &instr_out, &instr_varlena);
	credits = palloc0(sizeof(PostingBatchCredit) * Max(ncredits, 1));
	for (int i = 0; i < ncredits; i++)
	{
		PostingBatchCredit *c = &credits[i];

		c->asset.account = DatumGetInt64(a_cacc[i]);
		c->asset.instr = posting_instrument(OidOutputFunctionCall(instr_out, a_cinstr[i]));
		c->asset.vintage = DatumGetInt32(a_cvint[i]);
		c->asset.project = TextDatumGetCString(a_cproj[i]);
		c->amount = DatumGetInt64(a_camt[i]);
		if (c->amount <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("settlement batch: the credit of %s to account " INT64_FORMAT " must be positive: %s",
							posting_format_asset(&c->asset), c->asset.account, posting_format_qty(c->asset.instr, c->amount)),
					 errhint("A batch credits each receiving account the net it receives; what an account pays leaves through its holds.")));
	}

	/* 3. the posting: idempotency and the sealed-day rule */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (posting_open("settle_batch", reference,
					 reference ? request_text(holds, nholds, credits, ncredits, memo) : NULL,
					 &posting_id, &ts, &bdate))
	{
		/* the same batch again: the original posting, nothing moves */
		SPI_finish();
		PG_RETURN_INT64(posting_id);
	}

	/* no hold twice, no credit twice */
	qsort(holds, nholds, sizeof(PostingBatchHold), posting_batch_hold_cmp);
	for (int i = 1; i < nholds; i++)
		if (holds[i].hold_id == holds[i - 1].hold_id)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("settlement batch: hold " INT64_FORMAT " is given twice (elements %d and %d)",
							holds[i].hold_id, Min(holds[i].arg_index, holds[i - 1].arg_index),
							Max(holds[i].arg_index, holds[i - 1].arg_index)),
					 errhint("Give each hold once, with the sum of what it spends.")));
	qsort(credits, ncredits, sizeof(PostingBatchCredit), posting_batch_credit_cmp);
	for (int i = 1; i < ncredits; i++)
		if (posting_asset_cmp(&credits[i].asset, &credits[i - 1].asset) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("settlement batch: account " INT64_FORMAT " is credited %s twice",
							credits[i].asset.account, posting_format_asset(&credits[i].asset)),
					 errhint("Give each receiving account and asset once, with its net credit.")));

	/* 4. the batch's legs: the posting engine locks, checks and writes them */
	posting_batch(posting_id, ts, bdate, memo, holds, nholds, credits, ncredits);

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_INT64(posting_id);
}
