/*-------------------------------------------------------------------------
 *
 * chain.h
 *	  The registry's hash chain (src/chain.c): the canonical payload of a
 *	  journal row and its SHA-256 chain hash, the chain heads (the append
 *	  trigger's body, what a backend knows about heads, the deferred heads
 *	  of a posting), day-seal digests and the verification of chains, heads
 *	  and seals.
 *
 * Data flows one way: SQL function (registry.c, settlement.c, ...) ->
 * posting (posting.c) -> chain.  chain.c owns every chain head: it is the
 * only code that reads or writes account.head_seq/head_hash for a
 * posting; the posting engine tells it what it locked and which postings
 * defer their heads, and nothing in chain.c calls back into the posting
 * engine.  The hashing declarations are the stable interface: change them
 * only together with every caller.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/chain.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CARBONMKT_CHAIN_H
#define CARBONMKT_CHAIN_H

#include "postgres.h"
#include "access/tupdesc.h"
#include "commands/trigger.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "storage/itemptr.h"

/* Length of every chain hash, seal digest and seal hash: SHA-256. */
#define CHAIN_HASH_LEN			PG_SHA256_DIGEST_LENGTH

/* Number of fields of the canonical payload (doc/registry.md). */
#define CHAIN_PAYLOAD_NFIELDS	19

/*
 * How to read a journal row of a given tuple descriptor: the attribute
 * numbers of the payload fields (in payload order) and of the chain
 * columns, and the output functions of the fields written by their type's
 * output function (the enums kind and instrument, the ccer block).
 * Attribute numbers are 1-based, as in the tuple descriptor.
 */
typedef struct JournalLayout
{
	int			attnums[CHAIN_PAYLOAD_NFIELDS];
	Oid			typids[CHAIN_PAYLOAD_NFIELDS];
	FmgrInfo	outfuncs[CHAIN_PAYLOAD_NFIELDS];
	int			entry_id_att;
	int			posting_id_att;
	int			account_id_att;
	int			kind_att;
	int			seq_att;
	int			prev_hash_att;
	int			hash_att;
} JournalLayout;

/*
 * chain_layout_init
 *		Fill *layout for journal rows of tupdesc (which must have every
 *		payload and chain column, else ERROR 42703); output functions are
 *		looked up in cxt.  Build it once per tuple descriptor.
 */
extern void chain_layout_init(JournalLayout *layout, TupleDesc tupdesc,
							  MemoryContext cxt);

/*
 * chain_entry_hash
 *		out = SHA-256(prev || UTF-8 canonical payload of the row), the row
 *		deformed into values/isnull (indexed by attnum - 1).  The row's own
 *		prev_hash and hash columns are not read.  out must have room for
 *		CHAIN_HASH_LEN bytes.
 */
extern void chain_entry_hash(const JournalLayout *layout, const Datum *values,
							 const bool *isnull, const uint8 *prev, size_t prevlen,
							 uint8 *out);

/*
 * chain_entry_payload
 *		Append the canonical payload of the row (deformed as for
 *		chain_entry_hash) to buf, in the server encoding: what
 *		chain_entry_hash hashes after converting it to UTF-8.
 */
extern void chain_entry_payload(StringInfo buf, const JournalLayout *layout,
								const Datum *values, const bool *isnull);

/* The attribute number of a journal column of tupdesc, or ERROR 42703. */
extern int	chain_journal_attnum(TupleDesc tupdesc, const char *name);

/* out = SHA-256(a || b); out has room for CHAIN_HASH_LEN bytes. */
extern void chain_sha256(const uint8 *a, size_t alen, const uint8 *b, size_t blen,
						 uint8 *out);

/*
 * A SHA-256 digest computed piecewise, for the callers that hash many
 * pieces or many rows with one context (day-seal digests, the
 * verification pass): chain_sha_create() returns a context ready for
 * chain_sha_update(), allocated in CurrentMemoryContext; chain_sha_final()
 * writes the digest (CHAIN_HASH_LEN bytes) and leaves the context to be
 * started again by chain_sha_restart() or released by chain_sha_free().
 * Errors are ERRORs (out of memory 53200, a failing hash XX000).
 */
typedef struct ChainSha ChainSha;

extern ChainSha *chain_sha_create(void);
extern void chain_sha_restart(ChainSha *sha);
extern void chain_sha_update(ChainSha *sha, const void *data, size_t len);
extern void chain_sha_final(ChainSha *sha, uint8 *out);
extern void chain_sha_free(ChainSha *sha);

/* "\x" and the lower-case hex digits of len bytes, palloc'd. */
extern char *chain_hex_text(const uint8 *bytes, size_t len);

/*
 * Chain heads (src/chain.c, "Chain heads").  A posting that locked an
 * account row FOR NO KEY UPDATE and read its head tells the chain
 * (chain_head_locked); chain_head_tid gives the TID of the row version
 * this transaction last locked or wrote, if known (a hint).
 */
extern void chain_head_locked(int64 account_id, int64 seq, const bytea *hash,
							  const ItemPointerData *tid);
extern bool chain_head_tid(int64 account_id, ItemPointer tid);

/*
 * Deferred heads: a posting whose journal rows have these entry kinds may
 * have its heads written after its legs (chain_can_defer); it then begins
 * (chain_defer_begin), registers each locked account with the head read
 * under the lock (chain_defer_add, which returns whether this transaction
 * wrote the row before), inserts its legs, and finishes
 * (chain_defer_finish), which writes every head still pending.
 */
extern bool chain_can_defer(const char *const *kinds, int nkinds);
extern void chain_defer_begin(int64 posting_id);
extern bool chain_defer_add(int64 account_id, int64 seq, const bytea *hash,
							const ItemPointerData *tid);
extern void chain_defer_finish(void);
extern void chain_deferred_head(int64 account_id, int64 *seq, uint8 *hash);

/*
 * A head a deferred posting's legs advanced, waiting to be written into its
 * account row, which the posting holds locked at row version tid
 * (chain_defer_pending, chain_defer_written: a posting that writes the rows
 * itself, posting.c).
 */
typedef struct ChainPendingHead
{
	int64		account_id;
	int64		seq;
	uint8		hash[CHAIN_HASH_LEN];
	ItemPointerData tid;
} ChainPendingHead;

extern int	chain_defer_pending(ChainPendingHead *out, int max);
extern void chain_defer_written(int64 account_id, const ItemPointerData *tid);

/* The body of the journal_chain trigger: the row with seq, prev_hash, hash. */
extern HeapTuple chain_append(TriggerData *trigdata);

#endif							/* CARBONMKT_CHAIN_H */
