/*-------------------------------------------------------------------------
 *
 * posting.h
 *	  Declarations shared by the registry's chain trigger (registry.c) and
 *	  its posting path (posting.c).
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

/* registry.c */
extern SPIPlanPtr registry_keep_plan(const char *sql, int nargs, Oid *argtypes);
extern bool registry_chain_can_defer(const char *const *kinds, int nkinds);
extern void registry_chain_locked(int64 account_id, int64 seq, const bytea *hash,
								  const ItemPointerData *tid);
extern void registry_chain_begin(int64 posting_id);
extern bool registry_chain_add(int64 account_id, int64 seq, const bytea *hash,
							   const ItemPointerData *tid);
extern void registry_chain_finish(void);
extern bool registry_chain_tid(int64 account_id, ItemPointer tid);

/* posting.c */
extern bool posting_open(const char *operation, text *reference, const char *request,
						 int64 *posting_id, TimestampTz *ts, DateADT *bdate);

/* carbonmkt.c: the C functions behind carbonmkt.clock_now() and carbonmkt._acting_room() */
extern PGDLLEXPORT Datum carbonmkt_clock_now(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum carbonmkt_acting_room(PG_FUNCTION_ARGS);

#endif							/* CARBONMKT_POSTING_H */
