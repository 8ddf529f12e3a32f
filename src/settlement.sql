
-------------------------------------------------------------------------------
-- registry, unified settlement (统一交收) of a market batch: one posting that
-- spends and releases many order holds and credits the receiving accounts,
-- set-based.  Part of the registry room (only the registry writes the ledger,
-- ARCHITECTURE.md principle 1); callable only by the market room.
-- C: src/settlement.c.  Documentation: doc/registry.md ("Unified settlement"),
-- doc/market.md ("Settlement").
-------------------------------------------------------------------------------

CREATE FUNCTION carbonmkt.settle_batch(hold_ids bigint[], spent bigint[], release_rest boolean[],
                                       credit_accounts bigint[], credit_instruments carbonmkt.instrument[],
                                       credit_vintages int[], credit_projects text[], credit_amounts bigint[],
                                       reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_settle_batch'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.settle_batch(bigint[], bigint[], boolean[], bigint[], carbonmkt.instrument[], int[], text[], bigint[], text, text) IS
  'Unified settlement (统一交收) of a market batch in one posting: per order hold, the quantity spent from it and whether the rest is released (hold_ids, spent, release_rest); per receiving account and asset, the net credit (credit_*).  Checks holds (active order holds, CEA or CNY, large enough: CM008, CM004), accounts (open, or frozen for credits only: CM001, CM003, CM005) and that the batch balances per asset to the tonne and the fen (CM013); locks the accounts in account_id order; writes the holds, the holdings and one journal row per hold and per credit set-based through the chain trigger.  Returns the posting id; idempotent per client reference.  Only the market room (carbonmkt.acting_room = ''market'', 42501 otherwise).';

-- Internal to the registry and the market: no role calls it directly (src/access.sql
-- revokes only the functions it names and those named _*).
REVOKE ALL ON FUNCTION carbonmkt.settle_batch(bigint[], bigint[], boolean[], bigint[], carbonmkt.instrument[], int[], text[], bigint[], text, text)
  FROM PUBLIC;
