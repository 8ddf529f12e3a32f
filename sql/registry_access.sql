-- Registry access rules per role (doc/registry.md, Access): what each kind of login
-- may read and do.  Identity is the login (session_user), so each block below runs
-- under SET SESSION AUTHORIZATION.  Runs in its own database so that ids are
-- deterministic; the regress_* login roles are cluster-global and are dropped at
-- the end (after the database).
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_access;
DROP ROLE IF EXISTS regress_unit1, regress_unit2, regress_exchange, regress_authority,
                    regress_gd_authority, regress_settlement, regress_bi;
CREATE DATABASE regress_access;
\c regress_access
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
-- the compliance rules of surrender are tested in sql/compliance*.sql; here the ledger alone
ALTER TABLE carbonmkt.journal DISABLE TRIGGER compliance_surrender;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2024-07-16 10:00:00+08';
\set VERBOSITY default

-- helper: show SQLSTATE and message of an expected error
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- helper: a valid unified social credit code from its first 17 characters
CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;

-- Logins -------------------------------------------------------------------------
CREATE ROLE regress_unit1 LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_unit2 LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_exchange LOGIN IN ROLE carbonmkt_exchange;
CREATE ROLE regress_authority LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_gd_authority LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_settlement LOGIN IN ROLE carbonmkt_settlement;
CREATE ROLE regress_bi LOGIN IN ROLE carbonmkt_bi;

-- The registry (here the superuser) sets up parties, accounts and units ------------
SELECT register_participant('Ministry of Ecology and Environment', 'national_authority', pg_temp.uscc('11100000MB0134256')) AS mee,      -- 1
       register_participant('Guangdong Department of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd,                                                        -- 2
       register_participant('Shanghai Environment and Energy Exchange', 'exchange', pg_temp.uscc('91310000MA1FL1MM6'), '310000') AS sh, -- 3
       register_participant('Guangdong Huarun Power Unit 1', 'key_emitter', pg_temp.uscc('91440300MA5F00001'),
                            '440000', '440300', 'power') AS unit1,                                                                     -- 4
       register_participant('Guangdong Yuedian Power Unit 2', 'key_emitter', pg_temp.uscc('91440100MA5F00002'),
                            '440000', '440100', 'power') AS unit2,                                                                     -- 5
       register_participant('Shanghai Bureau of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11310000MB2C9251X'), '310000') AS sh_bureau;                                                 -- 6
-- Logins act for participants through map_login() (registry only).
SELECT map_login('regress_authority', 1), map_login('regress_gd_authority', 2), map_login('regress_exchange', 3),
       map_login('regress_unit1', 4), map_login('regress_unit2', 5);
-- staff logins too (doc/security.md): settlement for the registration and settlement
-- institution, BI for the national authority
SELECT register_participant('National Carbon Registry', 'registry', pg_temp.uscc('12420000MB1F00001'), '420000') AS registry;   -- 7
SELECT map_login('regress_settlement', 7), map_login('regress_bi', 1);
SELECT map_login('regress_unit1', 4) AS remapped_idempotently;
SELECT role_name, participant_id FROM participant_login ORDER BY 1;
SELECT open_account(2, 'allocation') AS gd_alloc,          -- 3
       open_account(3, 'clearing') AS clearing,            -- 4
       open_account(4, 'holding') AS u1,                   -- 5
       open_account(4, 'cash') AS u1_cash,                 -- 6
       open_account(5, 'holding') AS u2,                   -- 7
       open_account(5, 'cash') AS u2_cash,                 -- 8
       open_account(6, 'allocation') AS sh_alloc;          -- 9
SELECT issue_cea(3, 2024, 100000) IS NOT NULL AS issued,
       transfer_cea(3, 5, 2024, 10000) IS NOT NULL AS to_u1,
       transfer_cea(3, 7, 2024, 5000) IS NOT NULL AS to_u2,
       deposit_cny(6, 1000000) IS NOT NULL AS u1_cash,
       deposit_cny(8, 500000) IS NOT NULL AS u2_cash,
       issue_ccer(1, 'CCER:GD-OW-0042:2024:1-1000') IS NOT NULL AS ccer,
       transfer_ccer(1, 5, 'GD-OW-0042', 2024, 300) IS NOT NULL AS ccer_u1,
       transfer_ccer(1, 7, 'GD-OW-0042', 2024, 200) IS NOT NULL AS ccer_u2,
       surrender_cea(7, 2024, 1000, 2024) IS NOT NULL AS u2_surrendered;
SELECT hold(7, 'CEA', 100, 'order', 2024) AS u2_order_hold \gset
SELECT hold(7, 'CEA', 50, 'pledge', 2024) AS u2_pledge \gset

-- A participant: its own rows only -----------------------------------------------
SET SESSION AUTHORIZATION regress_unit1;
SELECT session_user, caller_participant();
SELECT participant_id, name FROM participant ORDER BY 1;
SELECT account_id, kind, participant_id FROM account ORDER BY 1;
SELECT account_id, asset, balance, held, available FROM account_balance ORDER BY 1, 2;
SELECT account_id, instrument, vintage, project, balance FROM holding ORDER BY 1, 2;
SELECT account_id, block FROM ccer_block ORDER BY 1;
SELECT DISTINCT account_id FROM journal ORDER BY 1;
SELECT count(*) AS holds_seen FROM hold;
SELECT count(*) AS postings_seen FROM posting;
-- another party's history: a permission error, the same for an account that does not exist
SELECT pg_temp.err($$SELECT count(*) FROM statement(7, '2024-01-01', '2025-01-01')$$) AS u2_statement;
SELECT pg_temp.err($$SELECT count(*) FROM balance_as_of(7, '2025-01-01')$$) AS u2_balance;
SELECT pg_temp.err($$SELECT count(*) FROM balance_as_of(999, '2025-01-01')$$) AS unknown_balance;
SELECT count(*) AS own_statement_rows FROM statement(5, '2024-01-01', '2025-01-01');
SELECT count(*) AS own_balance_rows FROM balance_as_of(5, '2025-01-01');
SELECT pg_temp.err($$SELECT * FROM participant_login$$);
-- moves, holds and surrenders its own account
SELECT transfer_cea(5, 7, 2024, 100) IS NOT NULL AS own_transfer,
       transfer_ccer(5, 7, 'GD-OW-0042', 2024, 10) IS NOT NULL AS own_ccer_transfer,
       surrender_cea(5, 2024, 500, 2024) IS NOT NULL AS own_surrender,
       retire_ccer(5, 'GD-OW-0042', 2024, 5) IS NOT NULL AS own_cancel,
       transfer_cny(6, 8, 1000) IS NOT NULL AS own_cash_transfer;
SELECT hold(5, 'CEA', 200, 'order', 2024) AS u1_order_hold \gset
SELECT hold(5, 'CEA', 300, 'pledge', 2024) AS u1_pledge \gset
SELECT pg_temp.err($$SELECT hold(5, 'CEA', 10, 'judicial', 2024)$$);
-- an order hold is released and settled by the exchange, a pledge by the registry
SELECT pg_temp.err(format('SELECT release_hold(%s)', :u1_order_hold));
SELECT pg_temp.err(format('SELECT release_hold(%s)', :u1_pledge));
SELECT pg_temp.err(format('SELECT transfer_from_hold(%s, 7, 10)', :u1_pledge));
-- another participant's account
SELECT pg_temp.err($$SELECT transfer_cea(7, 5, 2024, 1)$$);
SELECT pg_temp.err($$SELECT hold(7, 'CEA', 1, 'order', 2024)$$);
SELECT pg_temp.err($$SELECT surrender_cea(7, 2024, 1, 2024)$$);
SELECT pg_temp.err(format('SELECT release_hold(%s)', :u2_order_hold));
SELECT pg_temp.err($$SELECT transfer_cny(8, 6, 1)$$);
-- authority accounts, cash and issuance
SELECT pg_temp.err($$SELECT transfer_cea(3, 5, 2024, 1)$$);
SELECT pg_temp.err($$SELECT issue_cea(3, 2024, 1)$$);
SELECT pg_temp.err($$SELECT deposit_cny(6, 1)$$);
-- registry functions, internal functions and verification
SELECT pg_temp.err($$SELECT open_account(4, 'holding')$$);
SELECT pg_temp.err($$SELECT map_login('regress_unit1', 5)$$);
SELECT pg_temp.err($$SELECT set_account_status(7, 'frozen')$$);
SELECT pg_temp.err($$SELECT _record_posting('transfer_cea', NULL)$$);
SELECT pg_temp.err($$SELECT _authorize(5, 'transfer')$$);
SELECT pg_temp.err($$SELECT verify_ledger()$$);
-- no table is written directly
SELECT pg_temp.err($$INSERT INTO holding VALUES (5, 'CEA', 2025, '', 1000, 0)$$);
SELECT pg_temp.err($$UPDATE holding SET balance = balance + 1000 WHERE account_id = 5$$);
SELECT pg_temp.err($$DELETE FROM hold$$);
SELECT pg_temp.err($$UPDATE account SET status = 'open'$$);
SELECT pg_temp.err($$INSERT INTO participant_login VALUES ('regress_unit1', 5)$$);
SELECT pg_temp.err($$INSERT INTO journal (posting_id, account_id, seq, kind, instrument, vintage, project, amount, held_change,
                                          balance_after, held_after, business_date, recorded_at, prev_hash, hash)
                     VALUES (1, 5, 0, 'credit', 'CEA', 2024, '', 1, 0, 1, 0, current_date, now(), '\x', '\x')$$);
SELECT pg_temp.err($$DELETE FROM ccer_block$$);
SELECT pg_temp.err($$TRUNCATE posting$$);
-- SET ROLE does not change the identity: still unit 1's accounts only
RESET SESSION AUTHORIZATION;
GRANT regress_unit2 TO regress_unit1;
SET SESSION AUTHORIZATION regress_unit1;
SET ROLE regress_unit2;
SELECT session_user, current_user, caller_participant();
SELECT DISTINCT account_id FROM account_balance ORDER BY 1;
SELECT pg_temp.err($$SELECT transfer_cea(7, 5, 2024, 1)$$);
RESET ROLE;
RESET SESSION AUTHORIZATION;
REVOKE regress_unit2 FROM regress_unit1;

-- The other participant sees its own rows, not unit 1's -------------------------
SET SESSION AUTHORIZATION regress_unit2;
SELECT account_id, asset, balance, held, available FROM account_balance ORDER BY 1, 2;
SELECT hold_id, account_id, reason, status FROM hold ORDER BY 1;
SELECT DISTINCT account_id FROM journal ORDER BY 1;
SELECT pg_temp.err($$SELECT transfer_cea(5, 7, 2024, 1)$$);
RESET SESSION AUTHORIZATION;

-- The exchange: lays, releases and settles order holds; never pledges --------------
SET SESSION AUTHORIZATION regress_exchange;
SELECT count(DISTINCT account_id) AS accounts_seen FROM account_balance;
SELECT hold(7, 'CEA', 400, 'order', 2024) AS ex_order_hold \gset
SELECT transfer_from_hold(:ex_order_hold, 5, 150) IS NOT NULL AS settled_part;
SELECT release_hold(:ex_order_hold) IS NOT NULL AS released_rest;
SELECT transfer_from_hold(:u1_order_hold, 7, 200) IS NOT NULL AS settled_unit1_order;
SELECT hold(6, 'CNY', 5000, 'order') AS ex_cash_hold \gset
SELECT transfer_from_hold(:ex_cash_hold, 4, 5000) IS NOT NULL AS cash_to_clearing;
SELECT transfer_cny(4, 8, 5000) IS NOT NULL AS clearing_pays_unit2;   -- its own clearing account
SELECT pg_temp.err($$SELECT hold(7, 'CEA', 10, 'pledge', 2024)$$);
SELECT pg_temp.err($$SELECT hold(7, 'CEA', 10, 'judicial', 2024)$$);
SELECT pg_temp.err(format('SELECT release_hold(%s)', :u1_pledge));
SELECT pg_temp.err(format('SELECT transfer_from_hold(%s, 4, 10)', :u2_pledge));
SELECT pg_temp.err($$SELECT transfer_cea(7, 4, 2024, 10)$$);
SELECT pg_temp.err($$SELECT hold(3, 'CEA', 10, 'order', 2024)$$);      -- authority accounts
SELECT pg_temp.err($$SELECT issue_cea(3, 2024, 10)$$);
SELECT pg_temp.err($$SELECT deposit_cny(8, 10)$$);
SELECT pg_temp.err($$SELECT verify_ledger()$$);
SELECT pg_temp.err($$UPDATE hold SET status = 'released'$$);
-- The exchange lays order holds only: any other reason is refused.
SELECT pg_temp.err($$SELECT hold(7, 'CEA', 10, 'other', 2024)$$);
SELECT pg_temp.err($$SELECT hold(7, 'CEA', 10, 'pledge', 2024)$$);
-- Retired units never move again: no hold or transfer from the cancellation account,
-- by the exchange or anyone else.
SELECT pg_temp.err($$SELECT hold(2, 'CEA', 1000, 'order', 2024)$$);
RESET SESSION AUTHORIZATION;

-- Settlement: cash in and out, nothing else --------------------------------------------
SET SESSION AUTHORIZATION regress_settlement;
SELECT deposit_cny(8, 20000) IS NOT NULL AS deposited, withdraw_cny(6, 10000) IS NOT NULL AS withdrawn;
SELECT pg_temp.err($$SELECT withdraw_cny(6, 100000000)$$);
SELECT pg_temp.err($$SELECT issue_cea(3, 2024, 10)$$);
SELECT pg_temp.err($$SELECT issue_cea(1, 2024, 10)$$);
SELECT pg_temp.err($$SELECT transfer_cny(6, 8, 10)$$);
SELECT pg_temp.err($$SELECT transfer_cea(5, 7, 2024, 10)$$);
SELECT pg_temp.err($$SELECT hold(6, 'CNY', 10, 'order')$$);
SELECT pg_temp.err($$SELECT verify_ledger()$$);
SELECT pg_temp.err($$INSERT INTO holding VALUES (6, 'CNY', 0, 'x', 1, 0)$$);
-- reads every account, as staff: the registry tables (staff_read) and any account's
-- statement and balance history; CM001 for an account that does not exist
SELECT count(DISTINCT account_id) AS accounts_seen, count(*) > 0 AS journal_seen FROM journal;
SELECT count(*) AS u1_statement_rows FROM statement(5, '2024-01-01', '2025-01-01');
SELECT count(*) AS u2_cash_balance_rows FROM balance_as_of(8, '2030-01-01');
SELECT pg_temp.err($$SELECT count(*) FROM statement(999, '2024-01-01', '2025-01-01')$$) AS unknown_statement;
RESET SESSION AUTHORIZATION;

-- Authorities: issue and allocate; a provincial authority only in its province --------
SET SESSION AUTHORIZATION regress_authority;
SELECT issue_cea(1, 2025, 50000) IS NOT NULL AS reserve_issued,
       issue_cea(9, 2025, 20000) IS NOT NULL AS sh_issued,
       issue_ccer(1, 'CCER:GD-OW-0042:2024:1001-2000') IS NOT NULL AS ccer_issued,
       transfer_cea(1, 5, 2025, 1000) IS NOT NULL AS reserve_to_u1;
SELECT count(*) AS problems FROM verify_ledger();
SELECT pg_temp.err($$SELECT deposit_cny(6, 10)$$);
SELECT pg_temp.err($$SELECT transfer_cea(5, 7, 2024, 10)$$);
SELECT pg_temp.err($$SELECT open_account(4, 'holding')$$);
SELECT pg_temp.err($$SELECT issue_cea(5, 2024, 10)$$);                 -- a holding account receives no issuance
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_gd_authority;
SELECT issue_cea(3, 2025, 30000) IS NOT NULL AS gd_issued, transfer_cea(3, 7, 2025, 3000) IS NOT NULL AS gd_allocated;
SELECT pg_temp.err($$SELECT issue_cea(9, 2025, 10)$$);                 -- Shanghai's allocation account
SELECT pg_temp.err($$SELECT transfer_cea(9, 5, 2025, 10)$$);
RESET SESSION AUTHORIZATION;

-- BI: reads everything and verifies; cannot post -------------------------------------
SET SESSION AUTHORIZATION regress_bi;
SELECT count(DISTINCT account_id) AS accounts_seen, count(DISTINCT participant_id) AS participants_seen FROM account_balance;
SELECT count(*) AS participants FROM participant;
SELECT count(*) AS holds FROM hold;
SELECT count(*) AS problems FROM verify_ledger();
SELECT count(*) AS chain_problems FROM verify_chains();
SELECT count(*) AS u1_statement_rows FROM statement(5, '2024-01-01', '2025-01-01');
SELECT pg_temp.err($$SELECT transfer_cea(5, 7, 2024, 1)$$);
SELECT pg_temp.err($$SELECT issue_cea(1, 2024, 1)$$);
SELECT pg_temp.err($$SELECT deposit_cny(6, 1)$$);
SELECT pg_temp.err($$SELECT hold(5, 'CEA', 1, 'order', 2024)$$);
SELECT pg_temp.err($$SELECT release_hold(1)$$);
SELECT pg_temp.err($$UPDATE holding SET held = 0$$);
SELECT pg_temp.err($$SELECT * FROM participant_login$$);
RESET SESSION AUTHORIZATION;

-- The acting room: only a room's SECURITY DEFINER function can claim it ------------
SET SESSION AUTHORIZATION regress_unit1;
SELECT pg_temp.err($$SET carbonmkt.acting_room = 'market'$$);
SELECT pg_temp.err($$SELECT set_config('carbonmkt.acting_room', 'market', true)$$);
SELECT current_setting('carbonmkt.acting_room') = '' AS no_room_outside_a_room_function;
SELECT pg_temp.err($$SELECT transfer_cea(7, 5, 2024, 1)$$);
RESET SESSION AUTHORIZATION;
-- a function declared the way the rooms declare theirs (owned by the superuser)
CREATE FUNCTION pg_temp.as_market_room() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'market'
AS $$ SELECT carbonmkt.transfer_cea(7, 5, 2024, 1, 'room-test-1') $$;
SET SESSION AUTHORIZATION regress_unit1;
SELECT pg_temp.as_market_room() > 0 AS room_posting_made;
SELECT current_setting('carbonmkt.acting_room') = '' AS room_reset_after_the_function;
SELECT pg_temp.err($$SELECT transfer_cea(7, 5, 2024, 1)$$);
RESET SESSION AUTHORIZATION;

-- Where everything ended, and every posting's initiator -----------------------------
SELECT account_id, asset, balance, held, available FROM account_balance ORDER BY 1, 2;
SELECT hold_id, account_id, reason, quantity, remaining, status FROM hold ORDER BY 1;
SELECT initiator, count(*) AS postings FROM posting GROUP BY 1 ORDER BY 1;
SELECT * FROM verify_ledger();

-- Clean up: the database first, then the cluster-global roles
\c postgres
SET client_min_messages = warning;
DROP DATABASE regress_access;
DROP ROLE regress_unit1, regress_unit2, regress_exchange, regress_authority, regress_gd_authority,
          regress_settlement, regress_bi;
