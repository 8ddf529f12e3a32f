/*-------------------------------------------------------------------------
 *
 * posting.h
 *	  The posting engine (src/posting.c): what the SQL-callable functions of
 *	  other files (settlement.c) call.
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

/* posting.c */
extern bool posting_open(const char *operation, text *reference, const char *request,
						 int64 *posting_id, TimestampTz *ts, DateADT *bdate);

/* carbonmkt.c: the C functions behind carbonmkt.clock_now() and carbonmkt._acting_room() */
extern PGDLLEXPORT Datum carbonmkt_clock_now(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum carbonmkt_acting_room(PG_FUNCTION_ARGS);

#endif							/* CARBONMKT_POSTING_H */
