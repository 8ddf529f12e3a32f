-- carbonmkt 0.1.0 -> 0.2.0, written by hand (doc/operations.md, "Upgrades").
--
-- Every change to the installed SQL (src/*.sql) since the frozen 0.1.0 script
-- (sql/carbonmkt--0.1.0.sql) is repeated here, so that ALTER EXTENSION carbonmkt UPDATE
-- on a populated 0.1.0 database reaches exactly the schema of a fresh 0.2.0 install
-- and keeps every row.  test/ops/upgrade.sh proves it in `make test`.
-- One section per capability; keep each change in its own section.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION carbonmkt UPDATE TO '0.2.0'" to load this file. \quit

-- == Operations: dump registration, restore, drop guard ==================================


-- == Security: fail-closed scope, four-eyes, anchored seal chain, plausibility ============


-- == Correctness: lock order, business time, messages ====================================


-- == One way in: one C posting engine, one API vocabulary =================================

-- Every posting with journal legs is made by the one C posting engine (src/posting.c):
-- issuance, cash deposit and withdrawal and every CCER posting move there from PL/pgSQL, and
-- the PL/pgSQL posting helpers go.  A posting without legs (set_account_status) is recorded
-- by carbonmkt._record_posting().

CREATE FUNCTION carbonmkt._record_posting(p_operation text, p_request text)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_record_posting'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION carbonmkt._record_posting(text, text) IS
  'Internal: records a posting without journal legs (CM012 on a sealed day) and returns its id.';

REVOKE ALL ON FUNCTION carbonmkt._record_posting(text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION carbonmkt.set_account_status(account_id bigint, status carbonmkt.account_status, memo text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    posting_id bigint;
BEGIN
    PERFORM carbonmkt._require_registry('change account status');
    posting_id := carbonmkt._record_posting('set_account_status',
                                            format('set_account_status(%s,%s,%s)', account_id, status, memo));
    UPDATE carbonmkt.account a SET status = set_account_status.status WHERE a.account_id = set_account_status.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', account_id USING ERRCODE = 'CM001';
    END IF;
    RETURN posting_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.set_account_status(bigint, carbonmkt.account_status, text) IS
  'Opens, freezes or closes an account; the change is recorded as a posting.  Registry only.';

CREATE OR REPLACE FUNCTION carbonmkt.issue_cea(account_id bigint, vintage int, tonnes bigint,
                                    reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_issue_cea'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

CREATE OR REPLACE FUNCTION carbonmkt.issue_ccer(account_id bigint, block carbonmkt.ccer,
                                     reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_issue_ccer'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

CREATE OR REPLACE FUNCTION carbonmkt.deposit_cny(account_id bigint, fen bigint, reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_deposit_cny'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

CREATE OR REPLACE FUNCTION carbonmkt.withdraw_cny(account_id bigint, fen bigint, reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_withdraw_cny'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

CREATE OR REPLACE FUNCTION carbonmkt.transfer_ccer(from_account bigint, to_account bigint, project text, vintage int,
                                        tonnes bigint, reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_transfer_ccer'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

CREATE OR REPLACE FUNCTION carbonmkt.transfer_ccer_block(from_account bigint, to_account bigint, block carbonmkt.ccer,
                                              reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_transfer_ccer_block'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

CREATE OR REPLACE FUNCTION carbonmkt.surrender_ccer(account_id bigint, project text, vintage int, tonnes bigint, period int,
                                         reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_surrender_ccer'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

CREATE OR REPLACE FUNCTION carbonmkt.cancel_ccer(account_id bigint, project text, vintage int, tonnes bigint,
                                      reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_cancel_ccer'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

DROP FUNCTION carbonmkt._transfer_from_hold_blocks(bigint, bigint, bigint, text, text);
DROP FUNCTION carbonmkt._active_hold(bigint);
DROP FUNCTION carbonmkt._issue(text, bigint, carbonmkt.instrument, int, text, bigint, carbonmkt.ccer, text, text);
DROP FUNCTION carbonmkt._transfer(text, text, bigint, bigint, carbonmkt.instrument, int, text, bigint,
                                  carbonmkt.entry_kind, carbonmkt.entry_kind, int, text, text, carbonmkt.ccer);
DROP FUNCTION carbonmkt._transfer_ccer(text, text, bigint, bigint, carbonmkt.instrument, int, text, bigint,
                                       carbonmkt.entry_kind, carbonmkt.entry_kind, int, text, text, carbonmkt.ccer);
DROP FUNCTION carbonmkt._cancellation_account();
DROP FUNCTION carbonmkt._move(bigint, timestamptz, date, bigint, bigint, carbonmkt.instrument, int, text, bigint,
                              carbonmkt.entry_kind, carbonmkt.entry_kind, bigint, int, text, carbonmkt.ccer);
DROP FUNCTION carbonmkt._place_block(bigint, carbonmkt.ccer);
DROP FUNCTION carbonmkt._leg(bigint, timestamptz, date, bigint, carbonmkt.entry_kind, carbonmkt.instrument, int, text,
                             bigint, bigint, bigint, bigint, int, carbonmkt.ccer, text);
DROP FUNCTION carbonmkt._require_available(bigint, carbonmkt.instrument, int, text, bigint);
DROP FUNCTION carbonmkt._check_asset(carbonmkt.instrument, int, text);
DROP FUNCTION carbonmkt._check_quantity(carbonmkt.instrument, bigint);
DROP FUNCTION carbonmkt._lock_accounts(bigint[], bigint[], carbonmkt.instrument);
DROP FUNCTION carbonmkt._begin_posting(text, text, text);

-- Voluntary cancellation (自愿注销) retires units: retire_cea, retire_ccer (doc/api.md, Verbs).
-- The postings keep their operation names of 0.1.0 (cancel_cea, cancel_ccer), so that a client
-- reference used before the rename is recognised after it.
CREATE FUNCTION carbonmkt.retire_cea(account_id bigint, vintage int, tonnes bigint,
                                     reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_retire_cea'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.retire_cea(bigint, int, bigint, text, text) IS
  'Voluntarily cancels (注销) CEA, e.g. for carbon neutrality: retires the units into the cancellation account; returns the posting id.';

CREATE FUNCTION carbonmkt.retire_ccer(account_id bigint, project text, vintage int, tonnes bigint,
                                      reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_retire_ccer'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.retire_ccer(bigint, text, int, bigint, text, text) IS
  'Voluntarily cancels (注销) CCER, lowest serials first: retires them into the cancellation account; returns the posting id.';

-- The names of 0.1.0, for one release.
CREATE OR REPLACE FUNCTION carbonmkt.cancel_cea(account_id bigint, vintage int, tonnes bigint,
                                     reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    RAISE NOTICE 'carbonmkt.cancel_cea() is deprecated and goes after 0.2.0: call carbonmkt.retire_cea()';
    RETURN carbonmkt.retire_cea(account_id, vintage, tonnes, reference, memo);
END
$$;
COMMENT ON FUNCTION carbonmkt.cancel_cea(bigint, int, bigint, text, text) IS
  'Deprecated (goes after 0.2.0): carbonmkt.retire_cea().';

CREATE OR REPLACE FUNCTION carbonmkt.cancel_ccer(account_id bigint, project text, vintage int, tonnes bigint,
                                      reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    RAISE NOTICE 'carbonmkt.cancel_ccer() is deprecated and goes after 0.2.0: call carbonmkt.retire_ccer()';
    RETURN carbonmkt.retire_ccer(account_id, project, vintage, tonnes, reference, memo);
END
$$;
COMMENT ON FUNCTION carbonmkt.cancel_ccer(bigint, text, int, bigint, text, text) IS
  'Deprecated (goes after 0.2.0): carbonmkt.retire_ccer().';
REVOKE ALL ON FUNCTION carbonmkt.retire_cea(bigint, int, bigint, text, text),
                      carbonmkt.retire_ccer(bigint, text, int, bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.retire_cea(bigint, int, bigint, text, text),
                          carbonmkt.retire_ccer(bigint, text, int, bigint, text, text)
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_participant;


-- == Rules: administration with history, one jurisdiction vocabulary =======================


-- == Performance: incremental verification, storage =======================================


-- == Next phase: paid allocation, reserve, pledge and repo, voluntary cancellation ==========


-- == Dashboard and BI views ==================================================================


-- == End of 0.1.0 -> 0.2.0 ====================================================================
