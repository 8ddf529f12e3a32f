-- Registry posting paths in detail: transfer_cea/_cny, surrender_cea, retire_cea, hold,
-- release_hold and transfer_from_hold (the functions the market and allocation rooms call).
-- Every refusal is shown with its SQLSTATE, message, detail and hint, in the order the
-- checks run (which error wins when several apply); idempotency, sealed days, NULL
-- arguments, the rows written, who may post, and many postings on one account in one
-- transaction.  Runs in its own database so that ids are deterministic; the regress_post_*
-- login roles are cluster-global and are dropped at the end.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_registry_posting;
DROP ROLE IF EXISTS regress_post_unit1, regress_post_unit2, regress_post_exchange, regress_post_gd,
                    regress_post_settlement;
CREATE DATABASE regress_registry_posting;
\c regress_registry_posting
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
-- the compliance rules of surrender are tested in sql/compliance*.sql; here the ledger alone
ALTER TABLE carbonmkt.journal DISABLE TRIGGER compliance_surrender;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2024-07-16 10:00:00+08';
\set VERBOSITY default

-- helper: SQLSTATE, message, detail and hint of an expected error
CREATE FUNCTION pg_temp.diag(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  st text; msg text; det text; hnt text;
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                          hnt = PG_EXCEPTION_HINT;
  RETURN st || ': ' || msg || CASE WHEN det <> '' THEN E'\nDETAIL: ' || det ELSE '' END
                           || CASE WHEN hnt <> '' THEN E'\nHINT: ' || hnt ELSE '' END;
END $$;
-- helper: a valid unified social credit code from its first 17 characters
CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;
-- helper: journal rows from entry n on, without the hashes and times
CREATE FUNCTION pg_temp.entries(n bigint) RETURNS TABLE (entry_id bigint, posting_id bigint, account_id bigint,
    seq bigint, kind carbonmkt.entry_kind, asset text, amount bigint, held_change bigint, balance_after bigint,
    held_after bigint, counterparty bigint, hold_id bigint, period int, business_date date, memo text)
LANGUAGE sql AS
$$ SELECT j.entry_id, j.posting_id, j.account_id, j.seq, j.kind, carbonmkt.format_asset(j.instrument, j.vintage, j.project),
          j.amount, j.held_change, j.balance_after, j.held_after, j.counterparty, j.hold_id, j.period,
          j.business_date, j.memo
     FROM carbonmkt.journal j WHERE j.entry_id >= n ORDER BY j.entry_id $$;
-- helper: restart the posting and journal ids at n, so that the ids shown after a section
-- do not depend on how many ids its refusals used up
CREATE FUNCTION pg_temp.restart_ids(n bigint) RETURNS boolean LANGUAGE sql AS
$$ SELECT setval(pg_get_serial_sequence('carbonmkt.posting', 'posting_id'), n, false) = n
          AND setval(pg_get_serial_sequence('carbonmkt.journal', 'entry_id'), n, false) = n $$;

-- Parties and accounts ---------------------------------------------------------------
SELECT register_participant('Ministry of Ecology and Environment', 'national_authority', pg_temp.uscc('11100000MB0134256')) AS mee,   -- 1
       register_participant('Guangdong Department of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd,                                                     -- 2
       register_participant('Shanghai Environment and Energy Exchange', 'exchange', pg_temp.uscc('91310000MA1FL1MM6'), '310000') AS sh, -- 3
       register_participant('Guangdong Huarun Power Unit 1', 'key_emitter', pg_temp.uscc('91440300MA5F00001'),
                            '440000', '440300', 'power') AS unit1,                                                                  -- 4
       register_participant('Guangdong Yuedian Power Unit 2', 'key_emitter', pg_temp.uscc('91440100MA5F00002'),
                            '440000', '440100', 'power') AS unit2;                                                                  -- 5
SELECT open_account(2, 'allocation') AS gd_alloc,          -- 3
       open_account(3, 'clearing') AS clearing,            -- 4
       open_account(4, 'holding') AS u1,                   -- 5
       open_account(4, 'cash') AS u1_cash,                 -- 6
       open_account(5, 'holding') AS u2,                   -- 7
       open_account(5, 'cash') AS u2_cash,                 -- 8
       open_account(5, 'holding', 'spare') AS u2_spare;    -- 9
SELECT issue_cea(3, 2024, 1000000) AS p1, transfer_cea(3, 5, 2024, 10000) AS p2, transfer_cea(3, 7, 2024, 5000) AS p3,
       deposit_cny(6, 100000) AS p4, issue_cea(1, 2025, 3000) AS p5, issue_ccer(1, 'CCER:GD-OW-0042:2024:1-1000') AS p6,
       transfer_ccer(1, 5, 'GD-OW-0042', 2024, 100) AS p7;

-- A transfer writes one posting and two journal legs ------------------------------------
SELECT transfer_cea(5, 7, 2024, 1234, NULL, 'trade 成交 #1') AS p8;
SELECT posting_id, operation, initiator, reference, result, business_date, recorded_at FROM posting WHERE posting_id = 8;
SELECT * FROM pg_temp.entries((SELECT min(entry_id) FROM journal WHERE posting_id = 8));
SELECT transfer_cny(6, 8, 2550) AS p9, surrender_cea(7, 2024, 1000, 2023, NULL, 'for 2023') AS p10,
       retire_cea(5, 2024, 1, NULL, 'carbon neutral') AS p11;
SELECT * FROM pg_temp.entries((SELECT min(entry_id) FROM journal WHERE posting_id = 9));
SELECT account_id, asset, balance, held, available FROM account_balance ORDER BY 1, 2;

-- Refusals of a transfer, one at a time ---------------------------------------------------
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2024, 0)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2024, -3)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2024, NULL)$$);
SELECT pg_temp.diag($$SELECT transfer_cny(6, 8, -1)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2004, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2101, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(5, 5, 2024, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(99, 7, 2024, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(5, 99, 2024, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(98, 99, 2024, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(NULL, 7, 2024, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(5, 6, 2024, 1)$$);          -- a cash account holds no CEA
SELECT pg_temp.diag($$SELECT transfer_cea(6, 5, 2024, 1)$$);          -- nor does it send any
SELECT pg_temp.diag($$SELECT transfer_cny(6, 5, 1)$$);                -- a holding account holds no cash
SELECT pg_temp.diag($$SELECT transfer_cea(2, 5, 2024, 1)$$);          -- retired units never move
SELECT pg_temp.diag($$SELECT surrender_cea(2, 2024, 1, 2024)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2024, 8766)$$);       -- one more than available
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2025, 1)$$);          -- an asset never held
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, NULL, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_cny(6, 8, 97451)$$);
SELECT pg_temp.diag($$SELECT surrender_cea(5, 2024, 8766, 2024)$$);
SELECT pg_temp.diag($$SELECT retire_cea(5, 2024, 8766)$$);
-- frozen: credits arrive, nothing leaves; closed: nothing at all
SELECT set_account_status(9, 'frozen') IS NOT NULL AS frozen;
SELECT transfer_cea(5, 9, 2024, 10) IS NOT NULL AS credit_to_frozen;
SELECT pg_temp.diag($$SELECT transfer_cea(9, 5, 2024, 1)$$);
SELECT pg_temp.diag($$SELECT surrender_cea(9, 2024, 1, 2024)$$);
SELECT set_account_status(9, 'closed') IS NOT NULL AS closed;
SELECT pg_temp.diag($$SELECT transfer_cea(5, 9, 2024, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(9, 5, 2024, 1)$$);
-- which check wins when several fail
SELECT pg_temp.diag($$SELECT transfer_cea(99, 99, 2024, 1)$$);        -- same account before unknown account
SELECT pg_temp.diag($$SELECT transfer_cea(99, 6, 2024, 1)$$);         -- unknown sender before the wrong instrument
SELECT pg_temp.diag($$SELECT transfer_cea(5, 9, 2024, 100000)$$);     -- the closed receiver before the balance
SELECT pg_temp.diag($$SELECT transfer_cea(9, 6, 2024, 1)$$);          -- a closed account ...
SELECT pg_temp.diag($$SELECT transfer_cea(6, 9, 2024, 1)$$);          -- ... checked in account order
SELECT pg_temp.diag($$SELECT transfer_cea(2, 99, 2024, 1)$$);         -- retired before unknown
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2004, 0)$$);          -- quantity before vintage
SELECT set_account_status(9, 'open') IS NOT NULL AS reopened;
SELECT count(*) AS postings, (SELECT count(*) FROM journal) AS entries FROM posting;

-- Idempotency -------------------------------------------------------------------------
SELECT pg_temp.restart_ids(100);
SELECT transfer_cea(5, 7, 2024, 10, 'ref-1', 'first') AS first_try;
SELECT transfer_cea(5, 7, 2024, 10, 'ref-1', 'first') AS retry;
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2024, 11, 'ref-1', 'first')$$);
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2024, 10, 'ref-1', 'second')$$);
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2024, 10, 'ref-1')$$);
SELECT pg_temp.diag($$SELECT transfer_cny(5, 7, 10, 'ref-1', 'first')$$);
SELECT pg_temp.diag($$SELECT surrender_cea(5, 2024, 10, 2024, 'ref-1', 'first')$$);
SELECT posting_id, operation, reference, request FROM posting WHERE reference IS NOT NULL ORDER BY 1;
-- a retry returns the original result even when the posting could not be made now
SELECT set_account_status(5, 'frozen') IS NOT NULL AS frozen;
SELECT transfer_cea(5, 7, 2024, 10, 'ref-1', 'first') AS retry_while_frozen;
SELECT set_account_status(5, 'open') IS NOT NULL AS reopened;
SELECT transfer_cny(6, 8, 5, 'ref-cny') AS cny, transfer_cny(6, 8, 5, 'ref-cny') AS cny_retry,
       surrender_cea(5, 2024, 7, 2024, 'ref-surrender') AS surrendered,
       surrender_cea(5, 2024, 7, 2024, 'ref-surrender') AS surrender_retry;
SELECT pg_temp.diag($$SELECT surrender_cea(5, 2024, 7, 2025, 'ref-surrender')$$);
-- refused postings leave nothing behind, not even their reference
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2024, 100000000, 'ref-refused')$$);
SELECT transfer_cea(5, 7, 2024, 1, 'ref-refused') IS NOT NULL AS later_accepted;
SELECT count(*) AS postings, (SELECT count(*) FROM journal) AS entries FROM posting;

-- Holds -----------------------------------------------------------------------------------
SELECT pg_temp.restart_ids(200);
SELECT hold(5, 'CEA', 1000, 'order', 2024, '', 'h-1') AS h1, hold(5, 'CEA', 1000, 'order', 2024, '', 'h-1') AS h1_retry;
SELECT hold(6, 'CNY', 20000, 'order') AS h2, hold(5, 'CCER', 40, 'pledge', 2024, 'gd-ow-0042') AS h3;
SELECT * FROM pg_temp.entries((SELECT min(entry_id) FROM journal WHERE hold_id = 1));
SELECT hold_id, account_id, instrument, vintage, project, quantity, remaining, reason, status, created_posting,
       ended_posting FROM hold ORDER BY 1;
SELECT posting_id, operation, reference, result FROM posting WHERE operation = 'hold' ORDER BY 1;
SELECT pg_temp.diag($$SELECT hold(5, 'CEA', 0, 'order', 2024)$$);
SELECT pg_temp.diag($$SELECT hold(5, 'CEA', NULL, 'order', 2024)$$);
SELECT pg_temp.diag($$SELECT hold(5, 'CEA', 10, 'order')$$);
SELECT pg_temp.diag($$SELECT hold(5, 'CEA', 10, 'order', 2024, 'X')$$);
SELECT pg_temp.diag($$SELECT hold(5, 'CCER', 10, 'order', 2024)$$);
SELECT pg_temp.diag($$SELECT hold(6, 'CNY', 10, 'order', 2024)$$);
SELECT pg_temp.diag($$SELECT hold(99, 'CEA', 10, 'order', 2024)$$);
SELECT pg_temp.diag($$SELECT hold(6, 'CEA', 10, 'order', 2024)$$);
SELECT pg_temp.diag($$SELECT hold(2, 'CEA', 10, 'judicial', 2024)$$);
SELECT pg_temp.diag($$SELECT hold(5, 'CEA', 7738, 'pledge', 2024)$$);  -- available is 7,737
SELECT pg_temp.diag($$SELECT hold(5, 'CEA', 10, 'order', 2024, '', 'h-1')$$);
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2024, 7738)$$);
SELECT set_account_status(5, 'frozen') IS NOT NULL AS frozen;
SELECT pg_temp.diag($$SELECT hold(5, 'CEA', 10, 'order', 2024)$$);
SELECT hold(5, 'CEA', 6, 'judicial', 2024, '', NULL, 'court order 1') AS h4_judicial_on_frozen;
SELECT set_account_status(5, 'open') IS NOT NULL AS reopened;
-- spend and release
SELECT pg_temp.restart_ids(300);
SELECT transfer_from_hold(1, 7, 400, 'fill-1', 'fill 1') AS fill1, transfer_from_hold(1, 7, 400, 'fill-1', 'fill 1') AS fill1_retry;
SELECT * FROM pg_temp.entries((SELECT min(entry_id) FROM journal WHERE posting_id = (SELECT posting_id FROM posting WHERE reference = 'fill-1')));
SELECT pg_temp.diag($$SELECT transfer_from_hold(1, 7, 601)$$);
SELECT pg_temp.diag($$SELECT transfer_from_hold(1, 7, 0)$$);
SELECT pg_temp.diag($$SELECT transfer_from_hold(1, 99, 10)$$);
SELECT pg_temp.diag($$SELECT transfer_from_hold(1, 6, 10)$$);
SELECT pg_temp.diag($$SELECT transfer_from_hold(1, 5, 10)$$);   -- into its own account: refused (issue 13, defect 7)
SELECT pg_temp.diag($$SELECT transfer_from_hold(1, NULL, 10)$$);
SELECT transfer_from_hold(1, 7, 10) IS NOT NULL AS spent_10_more;
SELECT pg_temp.diag($$SELECT transfer_from_hold(4, 7, 1)$$);          -- judicial
SELECT pg_temp.diag($$SELECT transfer_from_hold(999, 7, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_from_hold(NULL, 7, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_from_hold(1, 7, 400, 'fill-1', 'fill 2')$$);
SELECT transfer_from_hold(1, 7, 590) IS NOT NULL AS consumed;
SELECT pg_temp.diag($$SELECT transfer_from_hold(1, 7, 1)$$);
SELECT pg_temp.diag($$SELECT release_hold(1)$$);
SELECT transfer_from_hold(2, 4, 5000) IS NOT NULL AS cash_fill, release_hold(2, 'rel-2') AS rel2, release_hold(2, 'rel-2') AS rel2_retry;
SELECT pg_temp.diag($$SELECT release_hold(2)$$);
SELECT pg_temp.diag($$SELECT release_hold(2, 'rel-2', 'changed')$$);
SELECT pg_temp.diag($$SELECT release_hold(999)$$);
SELECT pg_temp.diag($$SELECT release_hold(NULL)$$);
SELECT release_hold(3) IS NOT NULL AS pledge_released, release_hold(4) IS NOT NULL AS judicial_released;
SELECT * FROM pg_temp.entries((SELECT min(entry_id) FROM journal WHERE posting_id = (SELECT posting_id FROM posting WHERE reference = 'rel-2')));
SELECT hold_id, quantity, remaining, status, ended_posting IS NOT NULL AS ended FROM hold ORDER BY 1;
SELECT account_id, asset, balance, held, available FROM account_balance WHERE account_id IN (4, 5, 6, 7) ORDER BY 1, 2;

-- Sealed days -------------------------------------------------------------------------------
SELECT pg_temp.restart_ids(400);
SET carbonmkt.clock = '2024-07-17 10:00:00+08';
SELECT length(seal_day('2024-07-16')) AS sealed;
SELECT transfer_cea(5, 7, 2024, 1) IS NOT NULL AS next_day_ok;
SET carbonmkt.clock = '2024-07-16 23:00:00+08';
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2024, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(5, 5, 2024, 1)$$);          -- sealed before the same account
SELECT pg_temp.diag($$SELECT transfer_cea(99, 7, 2024, 1)$$);         -- and before an unknown one
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2024, 0)$$);          -- but after the quantity
SELECT pg_temp.diag($$SELECT hold(5, 'CEA', 1, 'order', 2024)$$);
SELECT pg_temp.diag($$SELECT release_hold(999)$$);
SELECT pg_temp.diag($$SELECT transfer_from_hold(999, 7, 1)$$);
SELECT transfer_cea(5, 7, 2024, 10, 'ref-1', 'first') AS retry_on_sealed_day;   -- a retry still answers
SET carbonmkt.clock = '2024-07-17 11:00:00+08';

-- Who may post (doc/registry.md, Access) -------------------------------------------------------
SELECT pg_temp.restart_ids(500);
CREATE ROLE regress_post_unit1 LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_post_unit2 LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_post_exchange LOGIN IN ROLE carbonmkt_exchange;
CREATE ROLE regress_post_gd LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_post_settlement LOGIN IN ROLE carbonmkt_settlement;
SELECT map_login('regress_post_unit1', 4), map_login('regress_post_unit2', 5), map_login('regress_post_exchange', 3),
       map_login('regress_post_gd', 2);
-- settlement acts for the registration and settlement institution (doc/security.md)
SELECT register_participant('National Carbon Registry', 'registry', pg_temp.uscc('12420000MB1F00001'), '420000') AS registry;   -- 6
SELECT map_login('regress_post_settlement', 6);
SELECT hold(7, 'CEA', 100, 'order', 2024) AS h5_u2_order, hold(7, 'CEA', 50, 'pledge', 2024) AS h6_u2_pledge,
       hold(5, 'CEA', 30, 'order', 2024) AS h7_u1_order;
SET SESSION AUTHORIZATION regress_post_unit1;
SELECT transfer_cea(5, 7, 2024, 3, 'u1-ref') IS NOT NULL AS own_transfer,
       transfer_cea(5, 7, 2024, 3, 'u1-ref') IS NOT NULL AS own_retry,
       surrender_cea(5, 2024, 2, 2024) IS NOT NULL AS own_surrender, retire_cea(5, 2024, 1) IS NOT NULL AS own_cancel,
       transfer_cny(6, 8, 5) IS NOT NULL AS own_cash;
SELECT hold(5, 'CEA', 20, 'pledge', 2024) AS h8_u1_pledge;
SELECT pg_temp.diag($$SELECT transfer_cea(7, 5, 2024, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(99, 5, 2024, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(5, 99, 2024, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(3, 5, 2024, 1)$$);
SELECT pg_temp.diag($$SELECT surrender_cea(7, 2024, 1, 2024)$$);
SELECT pg_temp.diag($$SELECT retire_cea(7, 2024, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_cny(8, 6, 1)$$);
SELECT pg_temp.diag($$SELECT hold(7, 'CEA', 1, 'order', 2024)$$);
SELECT pg_temp.diag($$SELECT hold(5, 'CEA', 1, 'judicial', 2024)$$);
SELECT pg_temp.diag($$SELECT release_hold(5)$$);
SELECT pg_temp.diag($$SELECT release_hold(7)$$);                     -- its own order hold: the exchange's
SELECT pg_temp.diag($$SELECT release_hold(8)$$);                     -- its own pledge: the registry's
SELECT pg_temp.diag($$SELECT transfer_from_hold(7, 7, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_from_hold(8, 7, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2024, 3, 'u1-ref', 'changed')$$);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_post_unit2;
SELECT transfer_cea(7, 5, 2024, 3, 'u1-ref') IS NOT NULL AS same_reference_other_login;  -- references are per login
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2024, 1)$$);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_post_exchange;
SELECT hold(7, 'CEA', 40, 'order', 2024) AS h9_ex_order;
SELECT transfer_from_hold(9, 5, 15) IS NOT NULL AS settled, release_hold(9) IS NOT NULL AS released,
       transfer_from_hold(7, 7, 30) IS NOT NULL AS settled_unit1;
SELECT pg_temp.diag($$SELECT transfer_cea(7, 5, 2024, 1)$$);
SELECT pg_temp.diag($$SELECT hold(7, 'CEA', 1, 'pledge', 2024)$$);
SELECT pg_temp.diag($$SELECT hold(7, 'CEA', 1, 'other', 2024)$$);
SELECT pg_temp.diag($$SELECT release_hold(6)$$);
SELECT pg_temp.diag($$SELECT transfer_from_hold(6, 5, 1)$$);
SELECT pg_temp.diag($$SELECT hold(3, 'CEA', 1, 'order', 2024)$$);
SELECT pg_temp.diag($$SELECT hold(2, 'CEA', 1, 'order', 2024)$$);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_post_gd;
SELECT transfer_cea(3, 7, 2024, 100) IS NOT NULL AS gd_allocates;
SELECT pg_temp.diag($$SELECT transfer_cea(1, 7, 2025, 1)$$);        -- the national reserve is not Guangdong's
SELECT pg_temp.diag($$SELECT transfer_cea(5, 7, 2024, 1)$$);
SELECT pg_temp.diag($$SELECT hold(3, 'CEA', 1, 'order', 2024)$$);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_post_settlement;
SELECT pg_temp.diag($$SELECT transfer_cny(6, 8, 1)$$);
SELECT pg_temp.diag($$SELECT transfer_from_hold(5, 5, 1)$$);
RESET SESSION AUTHORIZATION;
-- a room's SECURITY DEFINER function may post for its caller
CREATE FUNCTION pg_temp.as_market_room(h bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'market'
AS $$ SELECT carbonmkt.transfer_from_hold(h, 5, 10) + carbonmkt.transfer_cea(7, 5, 2024, 1)
             + carbonmkt.hold(7, 'CEA', 5, 'order', 2024) + carbonmkt.release_hold(h) $$;
CREATE FUNCTION pg_temp.as_mrv_room() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'mrv'
AS $$ SELECT carbonmkt.transfer_cea(7, 5, 2024, 1) $$;
SET SESSION AUTHORIZATION regress_post_unit1;
SELECT pg_temp.as_market_room(5) > 0 AS market_room_posted;
SELECT pg_temp.diag($$SELECT pg_temp.as_mrv_room()$$);
RESET SESSION AUTHORIZATION;
SELECT initiator, operation, count(*) FROM posting GROUP BY 1, 2 ORDER BY 1, 2;

-- Many postings on one account in one transaction ------------------------------------------
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        PERFORM transfer_cea(3, 5 + 2 * (i % 2), 2024, i);
        PERFORM transfer_cea(5 + 2 * (i % 2), 3, 2024, 1);
    END LOOP;
END $$;
SELECT a.account_id, a.head_seq, (SELECT max(seq) FROM journal j WHERE j.account_id = a.account_id) AS last_seq,
       a.head_hash = (SELECT hash FROM journal j WHERE j.account_id = a.account_id ORDER BY seq DESC LIMIT 1) AS head_ok
  FROM account a WHERE a.account_id IN (3, 5, 7) ORDER BY 1;

-- Another room's trigger on journal rows ------------------------------------------------------
-- (the compliance room will put one on surrender rows) may append to the journal in the
-- middle of a posting, before or after the posting's own rows, in the same subtransaction,
-- in one that commits and in one that rolls back: every chain and head stays right.
CREATE FUNCTION public.regress_echo_surrender() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  what text;
BEGIN
  IF NEW.kind = 'surrender' AND NEW.memo LIKE 'echo%' THEN
    what := TG_WHEN || ' ' || NEW.memo;
    INSERT INTO carbonmkt.journal (posting_id, account_id, kind, instrument, vintage, project, amount, held_change,
                                   balance_after, held_after, business_date, recorded_at, memo)
    VALUES (NEW.posting_id, NEW.account_id, 'credit', NEW.instrument, NEW.vintage, NEW.project, 0, 0,
            NEW.balance_after, NEW.held_after, NEW.business_date, NEW.recorded_at, what || ': same subtransaction');
    BEGIN
      INSERT INTO carbonmkt.journal (posting_id, account_id, kind, instrument, vintage, project, amount, held_change,
                                     balance_after, held_after, business_date, recorded_at, memo)
      VALUES (NEW.posting_id, NEW.account_id, 'credit', NEW.instrument, NEW.vintage, NEW.project, 0, 0,
              NEW.balance_after, NEW.held_after, NEW.business_date, NEW.recorded_at, what || ': subtransaction');
    EXCEPTION WHEN division_by_zero THEN NULL;
    END;
    BEGIN
      INSERT INTO carbonmkt.journal (posting_id, account_id, kind, instrument, vintage, project, amount, held_change,
                                     balance_after, held_after, business_date, recorded_at, memo)
      VALUES (NEW.posting_id, NEW.account_id, 'credit', NEW.instrument, NEW.vintage, NEW.project, 0, 0,
              NEW.balance_after, NEW.held_after, NEW.business_date, NEW.recorded_at, what || ': rolled back');
      PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN NULL;
    END;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER regress_echo BEFORE INSERT ON journal FOR EACH ROW EXECUTE FUNCTION public.regress_echo_surrender();
SELECT surrender_cea(5, 2024, 3, 2024, NULL, 'echo 1') IS NOT NULL AS surrendered;
DROP TRIGGER regress_echo ON journal;
CREATE TRIGGER regress_echo AFTER INSERT ON journal FOR EACH ROW EXECUTE FUNCTION public.regress_echo_surrender();
SELECT surrender_cea(5, 2024, 4, 2024, NULL, 'echo 2') IS NOT NULL AS surrendered,
       transfer_cea(5, 7, 2024, 1) IS NOT NULL AS then_a_transfer;
DROP TRIGGER regress_echo ON journal;
DROP FUNCTION public.regress_echo_surrender();
SELECT j.seq, j.kind, j.amount, j.balance_after, j.memo FROM journal j
 WHERE j.account_id = 5 AND j.seq > (SELECT max(seq) - 9 FROM journal WHERE account_id = 5) ORDER BY j.seq;
SELECT a.account_id, a.head_seq = j.seq AND a.head_hash = j.hash AS head_is_last_entry
  FROM account a, LATERAL (SELECT seq, hash FROM journal WHERE account_id = a.account_id ORDER BY seq DESC LIMIT 1) j
 WHERE a.account_id IN (2, 5, 7) ORDER BY 1;

-- A room's trigger on posting rows may itself post (a fee taken on every cash transfer)
CREATE FUNCTION public.regress_fee() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.operation = 'transfer_cny' AND pg_trigger_depth() = 1 THEN
    PERFORM carbonmkt.transfer_cny(8, 4, 1, NULL, 'fee for posting ' || NEW.posting_id);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER regress_fee AFTER INSERT ON posting FOR EACH ROW EXECUTE FUNCTION public.regress_fee();
SELECT transfer_cny(6, 8, 100) IS NOT NULL AS paid, transfer_cny(6, 8, 100, 'paid-ref') IS NOT NULL AS paid_with_reference;
DROP TRIGGER regress_fee ON posting;
DROP FUNCTION public.regress_fee();
SELECT j.account_id, j.kind, j.amount, j.balance_after, j.counterparty, j.memo LIKE 'fee for posting %' AS fee
  FROM journal j WHERE j.instrument = 'CNY' AND j.entry_id > (SELECT max(entry_id) - 8 FROM journal) ORDER BY j.entry_id;
SELECT a.account_id, a.head_seq = j.seq AND a.head_hash = j.hash AS head_is_last_entry
  FROM account a, LATERAL (SELECT seq, hash FROM journal WHERE account_id = a.account_id ORDER BY seq DESC LIMIT 1) j
 WHERE a.account_id IN (4, 6, 8) ORDER BY 1;

-- Holds of assets never held, of CCER (spent by serial block), of cash
SELECT pg_temp.diag($$SELECT hold(5, 'CEA', 1, 'order', 2030)$$);
SELECT pg_temp.diag($$SELECT hold(6, 'CNY', 1000000000, 'order')$$);
SELECT hold(5, 'CCER', 20, 'order', 2024, 'gd-ow-0042', 'h-ccer') AS h_ccer \gset
SELECT transfer_from_hold(:h_ccer, 7, 15, 'fill-ccer') IS NOT NULL AS ccer_fill,
       transfer_from_hold(:h_ccer, 7, 15, 'fill-ccer') IS NOT NULL AS ccer_fill_retry;
SELECT pg_temp.diag(format('SELECT transfer_from_hold(%s, 7, 6)', :h_ccer));
SELECT release_hold(:h_ccer) IS NOT NULL AS ccer_released;
SELECT account_id, block FROM ccer_block WHERE account_id IN (5, 7) ORDER BY block;
SELECT hold(6, 'CNY', 300, 'order', 0, NULL, 'h-cny') AS h_cny \gset
SELECT transfer_from_hold(:h_cny, 4, 300) IS NOT NULL AS cny_fill;
SELECT hold_id = :h_cny AS same_hold, quantity, remaining, status FROM hold WHERE hold_id = :h_cny;
SELECT posting_id IS NOT NULL AS posted, operation, result = :h_cny AS result_is_hold FROM posting WHERE reference = 'h-cny';

-- journal.account_id: the chain trigger refuses an unknown account; an account keeps its journal
SELECT pg_temp.diag($$INSERT INTO journal (posting_id, account_id, kind, instrument, vintage, project, amount,
                       held_change, balance_after, held_after, business_date, recorded_at)
                     VALUES (1, 99, 'credit', 'CEA', 2024, '', 1, 0, 1, 0, '2024-07-17', now())$$);
SELECT pg_temp.diag($$DELETE FROM account WHERE account_id = 8$$);
SELECT open_account(4, 'holding', 'never used') AS unused \gset
SELECT pg_temp.diag(format('DELETE FROM account WHERE account_id = %s', :unused));

-- The rules of every account and holding (whatever writes the tables)
SELECT pg_temp.diag($$INSERT INTO account (kind, participant_id) VALUES ('allocation', 2)$$);
SELECT pg_temp.diag($$INSERT INTO account (kind, participant_id, province) VALUES ('holding', 4, '440000')$$);
SELECT pg_temp.diag($$INSERT INTO account (kind) VALUES ('holding')$$);
SELECT pg_temp.diag($$UPDATE account SET kind = 'allocation' WHERE account_id = 5$$);
SELECT pg_temp.diag($$UPDATE account SET participant_id = NULL WHERE account_id = 5$$);
SELECT pg_temp.diag($$UPDATE account SET province = NULL WHERE account_id = 3$$);
SELECT pg_temp.diag($$UPDATE account SET kind = 'cash', participant_id = NULL, label = 'x' WHERE account_id = 1$$);
SELECT pg_temp.diag($$UPDATE holding SET held = balance + 1 WHERE account_id = 5 AND instrument = 'CEA'$$);
SELECT pg_temp.diag($$UPDATE holding SET held = -1 WHERE account_id = 5 AND instrument = 'CEA'$$);
SELECT pg_temp.diag($$UPDATE holding SET balance = -1, held = 0 WHERE account_id = 5 AND instrument = 'CEA'$$);

-- Everything adds up -------------------------------------------------------------------------
SELECT account_id, asset, balance, held, available FROM account_balance ORDER BY 1, 2;
SELECT count(*) AS postings, (SELECT count(*) FROM journal) AS entries FROM posting;
SELECT * FROM verify_ledger();

-- The names of 0.1.0 work for 0.2.0, with a deprecation notice (doc/api.md, Verbs)
BEGIN;
SELECT cancel_cea(5, 2024, 1) AS old_name \gset
SELECT p.operation, array_agg(j.kind::text || ' ' || j.amount ORDER BY j.entry_id) AS entries
  FROM posting p JOIN journal j USING (posting_id) WHERE p.posting_id = :old_name GROUP BY 1;
ROLLBACK;

\c postgres
SET client_min_messages = warning;
DROP DATABASE regress_registry_posting;
DROP ROLE regress_post_unit1, regress_post_unit2, regress_post_exchange, regress_post_gd, regress_post_settlement;
