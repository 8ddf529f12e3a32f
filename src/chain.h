/*-------------------------------------------------------------------------
 *
 * chain.h
 *	  The registry's hash chain (src/chain.c): the canonical payload of a
 *	  journal row and its SHA-256 chain hash, day-seal digests and the
 *	  verification of chains, heads and seals.
 *
 * Data flows one way: SQL function -> posting (posting.c, settlement.c)
 * -> chain.  The posting path and the chain trigger (registry.c) hash a
 * journal row with chain_layout_init() once per tuple descriptor and
 * chain_entry_hash() per row; nothing in chain.c calls back into them.
 * These declarations are the stable interface: change them only together
 * with every caller.
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
#include "common/sha2.h"
#include "fmgr.h"
#include "lib/stringinfo.h"

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

/* "\x" and the lower-case hex digits of len bytes, palloc'd. */
extern char *chain_hex_text(const uint8 *bytes, size_t len);

#endif							/* CARBONMKT_CHAIN_H */
