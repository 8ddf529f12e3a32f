/*-------------------------------------------------------------------------
 *
 * posting.h
 *	  The posting engine (src/posting.c): what the SQL-callable functions of
 *	  other files (settlement.c) call.  Data flows one way: SQL function ->
 *	  posting (posting.c) -> chain (chain.c).
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/posting.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CARBONMKT_POSTING_H
#define CARBONMKT_POSTING_H

#include "postgres.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/itemptr.h"
#include "utils/date.h"
#include "utils/timestamp.h"

/* instruments, in the order of enum carbonmkt.instrument */
typedef enum Instrument
{
	INSTRUMENT_CEA,
	INSTRUMENT_CCER,
	INSTRUMENT_CNY,
	INSTRUMENT_UNKNOWN			/* NULL */
} Instrument;

/* an asset of one account: the key of a holding */
typedef struct PostingAsset
{
	int64		account;
	Instrument	instr;
	int32		vintage;
	const char *project;
} PostingAsset;

/*
 * A batch posting (the market's unified settlement, settle_batch in
 * src/settlement.c): the legs out of order holds and the credits, written
 * set-based by posting_batch().  The caller fills the first fields of each
 * hold; the engine fills the rest, as read under the account locks.
 */
typedef struct PostingBatchHold
{
	int64		hold_id;
	int64		spent;			/* taken from the hold */
	bool		release;		/* what then remains is released */
	int			arg_index;		/* position in the caller's arguments (messages) */
	/* read under the locks (posting_batch) */
	bool		found;
	PostingAsset asset;
	int64		remaining;
	char	   *reason;
	char	   *status;
	/* result */
	int64		released;
	const char *new_status;
} PostingBatchHold;

typedef struct PostingBatchCredit
{
	PostingAsset asset;			/* the receiving account and the asset */
	int64		amount;			/* > 0 */
} PostingBatchCredit;

/* posting.c */
extern bool posting_open(const char *operation, text *reference, const char *request,
						 int64 *posting_id, TimestampTz *ts, DateADT *bdate);
extern void posting_batch(int64 posting_id, TimestampTz ts, DateADT bdate, const char *memo,
						  PostingBatchHold *holds, int nholds,
						  PostingBatchCredit *credits, int ncredits);
extern Instrument posting_instrument(const char *label);
extern const char *posting_instrument_label(Instrument instr);
extern char *posting_format_qty(Instrument instr, int64 q);
extern char *posting_format_asset(const PostingAsset *asset);
extern int	posting_asset_cmp(const PostingAsset *a, const PostingAsset *b);
extern int	posting_batch_hold_cmp(const void *a, const void *b);
extern int	posting_batch_credit_cmp(const void *a, const void *b);

/* carbonmkt.c: the C functions behind carbonmkt.clock_now() and carbonmkt._acting_room() */
extern PGDLLEXPORT Datum carbonmkt_clock_now(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum carbonmkt_acting_room(PG_FUNCTION_ARGS);

#endif							/* CARBONMKT_POSTING_H */
