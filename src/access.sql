
-------------------------------------------------------------------------------
-- access: roles per party, grants and row-level security (doc/registry.md, Access).
--
-- Identity is the login (session_user) mapped to a participant in
-- carbonmkt.participant_login; SET ROLE does not change whose accounts a
-- session sees or moves.  Tables are never written directly: every change goes
-- through a SECURITY DEFINER function with a pinned search_path.
-------------------------------------------------------------------------------

-- The roles themselves are created at the top of src/registry.sql, so that every room can
-- grant to them in its own file.

GRANT USAGE ON SCHEMA carbonmkt TO PUBLIC;

-- reference data is public
GRANT SELECT ON carbonmkt.region, carbonmkt.sector, carbonmkt.account_kind_instrument TO PUBLIC;

-- registry tables: read access per role, rows filtered by RLS below
GRANT SELECT ON carbonmkt.participant, carbonmkt.account, carbonmkt.holding, carbonmkt.hold,
                carbonmkt.journal, carbonmkt.posting, carbonmkt.ccer_block, carbonmkt.day_seal,
                carbonmkt.account_balance
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement,
      carbonmkt_participant, carbonmkt_bi;
GRANT SELECT ON carbonmkt.participant_login TO carbonmkt_registry;

-- Functions: internal ones (named _*) and the registry API are not PUBLIC.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
              WHERE p.pronamespace = 'carbonmkt'::regnamespace
                AND (p.proname LIKE '\_%' OR p.proname IN (
                     'register_participant', 'map_login', 'open_account', 'set_account_status',
                     'issue_cea', 'issue_ccer', 'deposit_cny', 'withdraw_cny',
                     'transfer_cea', 'transfer_cny', 'transfer_ccer', 'transfer_ccer_block',
                     'surrender_cea', 'surrender_ccer', 'retire_cea', 'retire_ccer', 'cancel_cea', 'cancel_ccer',
                     'hold', 'release_hold', 'transfer_from_hold',
                     'statement', 'balance_as_of', 'seal_day', 'verify_ledger',
                     'verify_chains', 'heads_digest', 'journal_chain', 'forbid_change'))
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;

-- carbonmkt._refuse() only raises the API's own error; SQL functions anyone may call use it.
GRANT EXECUTE ON FUNCTION carbonmkt._refuse(anyelement, text, text, text) TO PUBLIC;
-- carbonmkt._require_scope() only answers true or refuses; the caller-rights staff
-- functions (heads_digest, the allocation calculators) call it.
GRANT EXECUTE ON FUNCTION carbonmkt._require_scope(text) TO PUBLIC;
-- rule rows are public (doc/security.md)
GRANT SELECT ON carbonmkt.plausibility_limit, carbonmkt.credit_code_org_type TO PUBLIC;

-- The API: every carbonmkt role may call it; each function checks what the
-- caller may do to the accounts involved (carbonmkt._authorize).
GRANT EXECUTE ON FUNCTION
    carbonmkt.issue_cea(bigint, int, bigint, text, text),
    carbonmkt.issue_ccer(bigint, carbonmkt.ccer, text, text),
    carbonmkt.deposit_cny(bigint, bigint, text, text),
    carbonmkt.withdraw_cny(bigint, bigint, text, text),
    carbonmkt.transfer_cea(bigint, bigint, int, bigint, text, text),
    carbonmkt.transfer_cny(bigint, bigint, bigint, text, text),
    carbonmkt.transfer_ccer(bigint, bigint, text, int, bigint, text, text),
    carbonmkt.transfer_ccer_block(bigint, bigint, carbonmkt.ccer, text, text),
    carbonmkt.surrender_cea(bigint, int, bigint, int, text, text),
    carbonmkt.surrender_ccer(bigint, text, int, bigint, int, text, text),
    carbonmkt.retire_cea(bigint, int, bigint, text, text),
    carbonmkt.retire_ccer(bigint, text, int, bigint, text, text),
    carbonmkt.cancel_cea(bigint, int, bigint, text, text),
    carbonmkt.cancel_ccer(bigint, text, int, bigint, text, text),
    carbonmkt.hold(bigint, carbonmkt.instrument, bigint, carbonmkt.hold_reason, int, text, text, text),
    carbonmkt.release_hold(bigint, text, text),
    carbonmkt.transfer_from_hold(bigint, bigint, bigint, text, text),
    carbonmkt.statement(bigint, timestamptz, timestamptz),
    carbonmkt.balance_as_of(bigint, timestamptz)
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_participant;
GRANT EXECUTE ON FUNCTION
    carbonmkt.register_participant(text, carbonmkt.participant_kind, text, char, char, text),
    carbonmkt.map_login(name, bigint),
    carbonmkt.open_account(bigint, carbonmkt.account_kind, text),
    carbonmkt.set_account_status(bigint, carbonmkt.account_status, text),
    carbonmkt.seal_day(date)
   TO carbonmkt_registry;
GRANT EXECUTE ON FUNCTION carbonmkt.verify_ledger(), carbonmkt.verify_chains(), carbonmkt.heads_digest(date)
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;
GRANT EXECUTE ON FUNCTION carbonmkt.statement(bigint, timestamptz, timestamptz),
                          carbonmkt.balance_as_of(bigint, timestamptz)
   TO carbonmkt_bi;

-- Row-level security: staff roles read everything; a participant's login reads
-- only its own participant row, accounts, holdings, holds, blocks and journal.
ALTER TABLE carbonmkt.participant ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.account     ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.holding     ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.hold        ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.journal     ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.posting     ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.ccer_block  ENABLE ROW LEVEL SECURITY;

CREATE POLICY staff_read ON carbonmkt.participant FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.participant FOR SELECT TO carbonmkt_participant
    USING (participant_id = carbonmkt.caller_participant());

CREATE POLICY staff_read ON carbonmkt.account FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.account FOR SELECT TO carbonmkt_participant
    USING (participant_id = carbonmkt.caller_participant());

CREATE POLICY staff_read ON carbonmkt.holding FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.holding FOR SELECT TO carbonmkt_participant
    USING (account_id IN (SELECT a.account_id FROM carbonmkt.account a
                           WHERE a.participant_id = carbonmkt.caller_participant()));

CREATE POLICY staff_read ON carbonmkt.hold FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.hold FOR SELECT TO carbonmkt_participant
    USING (account_id IN (SELECT a.account_id FROM carbonmkt.account a
                           WHERE a.participant_id = carbonmkt.caller_participant()));

CREATE POLICY staff_read ON carbonmkt.journal FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.journal FOR SELECT TO carbonmkt_participant
    USING (account_id IN (SELECT a.account_id FROM carbonmkt.account a
                           WHERE a.participant_id = carbonmkt.caller_participant()));

CREATE POLICY staff_read ON carbonmkt.posting FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.posting FOR SELECT TO carbonmkt_participant
    USING (initiator = session_user);

-- the login mappings: the registry's (mapped) logins only
ALTER TABLE carbonmkt.participant_login ENABLE ROW LEVEL SECURITY;
CREATE POLICY staff_read ON carbonmkt.participant_login FOR SELECT TO carbonmkt_registry
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));

CREATE POLICY staff_read ON carbonmkt.ccer_block FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.ccer_block FOR SELECT TO carbonmkt_participant
    USING (account_id IN (SELECT a.account_id FROM carbonmkt.account a
                           WHERE a.participant_id = carbonmkt.caller_participant()));
