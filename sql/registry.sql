-- Registry ledger: parties, accounts, postings, holds, CCER blocks, idempotency,
-- statements, append-only journal, verification and seals.
-- Runs in its own database so that account and posting ids are deterministic.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_registry;
CREATE DATABASE regress_registry;
\c regress_registry
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

-- Parties -------------------------------------------------------------------
SELECT register_participant('Ministry of Ecology and Environment', 'national_authority', pg_temp.uscc('11100000MB0134256')) AS mee;
SELECT register_participant('Guangdong Department of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd;
SELECT register_participant('Shanghai Environment and Energy Exchange', 'exchange', pg_temp.uscc('91310000MA1FL1MM6'), '310000') AS sh;
SELECT register_participant('Guangdong Huarun Power Unit 1', 'key_emitter', pg_temp.uscc('91440300MA5F00001'),
                            '440000', '440300', 'power') AS unit1;
SELECT register_participant('Guangdong Yuedian Power Unit 2', 'key_emitter', pg_temp.uscc('91440100MA5F00002'),
                            '440000', '440100', 'power') AS unit2;
SELECT register_participant('Everbright Carbon Fund', 'institution', pg_temp.uscc('91110000MA01ABCD3'), '110000') AS fund;
SELECT participant_id, name, kind, credit_code, province, city, sector FROM participant ORDER BY 1;

-- bad parties
SELECT pg_temp.err($$SELECT register_participant('X', 'key_emitter', '91350100M000100Y42', '350000', '350100', 'power')$$);
SELECT pg_temp.err($$SELECT register_participant('X', 'key_emitter', '91350100M000100Y4', '350000', '350100', 'power')$$);
SELECT pg_temp.err($$SELECT register_participant('X', 'key_emitter', '91350100M000100Y43', '990000', NULL, 'power')$$);
SELECT pg_temp.err($$SELECT register_participant('X', 'key_emitter', '91350100M000100Y43', '350000', '440300', 'power')$$);
SELECT pg_temp.err($$SELECT register_participant('X', 'key_emitter', '91350100M000100Y43', '350000', '350100', NULL)$$);
SELECT pg_temp.err($$SELECT register_participant('Dup', 'institution', (SELECT credit_code FROM participant WHERE participant_id = 4))$$);

-- Accounts ------------------------------------------------------------------
SELECT open_account(2, 'allocation') AS gd_alloc,          -- 3
       open_account(3, 'clearing') AS clearing,            -- 4
       open_account(3, 'cash', 'Exchange fees') AS fees,   -- 5
       open_account(4, 'holding') AS u1,                   -- 6
       open_account(4, 'cash') AS u1_cash,                 -- 7
       open_account(5, 'holding') AS u2,                   -- 8
       open_account(5, 'cash') AS u2_cash,                 -- 9
       open_account(6, 'holding') AS fund_hold;            -- 10
SELECT account_id, kind, participant_id, province, label, status, head_seq FROM account ORDER BY 1;
SELECT pg_temp.err($$SELECT open_account(4, 'allocation')$$);
SELECT pg_temp.err($$SELECT open_account(99, 'holding')$$);
SELECT pg_temp.err($$SELECT open_account(2, 'allocation')$$);

-- Issuance (签发) ---------------------------------------------------------------
SELECT issue_cea(3, 2024, 5000000, 'gd-2024-pre', 'pre-allocation 2024') AS p1;
SELECT pg_temp.err($$SELECT issue_cea(6, 2024, 100)$$);          -- holding account cannot receive issuance
SELECT pg_temp.err($$SELECT issue_cea(7, 2024, 100)$$);          -- cash account cannot hold CEA
SELECT pg_temp.err($$SELECT issue_cea(3, 2024, 0)$$);
SELECT pg_temp.err($$SELECT issue_cea(3, 2024, -5)$$);
SELECT pg_temp.err($$SELECT issue_cea(3, 2004, 5)$$);
SELECT pg_temp.err($$SELECT issue_cea(42, 2024, 5)$$);

-- Transfers (转移) -----------------------------------------------------------------
SELECT transfer_cea(3, 6, 2024, 1200000, 'alloc-u1') AS p_alloc_u1,
       transfer_cea(3, 8, 2024, 800000, 'alloc-u2') AS p_alloc_u2;
SELECT pg_temp.err($$SELECT transfer_cea(6, 8, 2024, 1200001)$$);
SELECT pg_temp.err($$SELECT transfer_cea(6, 8, 2023, 1)$$);
SELECT pg_temp.err($$SELECT transfer_cea(6, 6, 2024, 1)$$);
SELECT pg_temp.err($$SELECT transfer_cea(6, 99, 2024, 1)$$);
SELECT pg_temp.err($$SELECT transfer_cea(6, 7, 2024, 1)$$);
SELECT * FROM account_balance ORDER BY account_id, instrument, vintage, project;

-- Idempotency: same reference + same request = the original posting; different = error
SELECT transfer_cea(6, 8, 2024, 1000, 'u1-u2-0001') AS first_try;
SELECT transfer_cea(6, 8, 2024, 1000, 'u1-u2-0001') AS retry;
SELECT pg_temp.err($$SELECT transfer_cea(6, 8, 2024, 2000, 'u1-u2-0001')$$);
SELECT balance FROM holding WHERE account_id = 8 AND instrument = 'CEA';

-- Frozen and closed accounts
SELECT set_account_status(10, 'frozen', 'court order') IS NOT NULL AS frozen;
SELECT transfer_cea(6, 10, 2024, 10) IS NOT NULL AS credit_to_frozen_ok;
SELECT pg_temp.err($$SELECT transfer_cea(10, 6, 2024, 10)$$);
SELECT set_account_status(10, 'closed') IS NOT NULL AS closed;
SELECT pg_temp.err($$SELECT transfer_cea(6, 10, 2024, 10)$$);
SELECT set_account_status(10, 'open') IS NOT NULL AS reopened;

-- Cash (CNY, in fen)
SELECT deposit_cny(7, 100000000, 'dep-u1') AS dep1, deposit_cny(9, 50000000) AS dep2;
SELECT pg_temp.err($$SELECT deposit_cny(6, 100)$$);
SELECT withdraw_cny(7, 1234567) IS NOT NULL AS withdrawn;
SELECT pg_temp.err($$SELECT withdraw_cny(9, 50000001)$$);
SELECT transfer_cny(7, 9, 250) IS NOT NULL AS paid;

-- Holds (冻结) --------------------------------------------------------------------------
SELECT hold(6, 'CEA', 1000000, 'order', 2024, '', 'order-77') AS h1;
SELECT hold(6, 'CEA', 1000000, 'order', 2024, '', 'order-77') AS h1_retry;
SELECT pg_temp.err($$SELECT hold(6, 'CEA', 199000, 'pledge', 2024)$$);   -- available is 198,990
SELECT pg_temp.err($$SELECT transfer_cea(6, 8, 2024, 198991)$$);
SELECT account_id, asset, balance, held, available FROM account_balance WHERE account_id = 6;
SELECT transfer_from_hold(1, 8, 400000) IS NOT NULL AS partial_fill;
SELECT hold_id, quantity, remaining, status FROM hold;
SELECT pg_temp.err($$SELECT transfer_from_hold(1, 8, 600001)$$);
SELECT release_hold(1) IS NOT NULL AS released;
SELECT pg_temp.err($$SELECT release_hold(1)$$);
SELECT pg_temp.err($$SELECT transfer_from_hold(1, 8, 1)$$);
SELECT pg_temp.err($$SELECT release_hold(999)$$);
-- a hold names a well-formed asset
SELECT pg_temp.err($$SELECT hold(6, 'CEA', 10, 'order')$$);                      -- no vintage
SELECT pg_temp.err($$SELECT hold(6, 'CEA', 10, 'order', 2024, 'GD-OW-0042')$$);  -- CEA has no project
SELECT pg_temp.err($$SELECT hold(6, 'CCER', 10, 'order', 2024)$$);               -- CCER needs a project
SELECT pg_temp.err($$SELECT hold(7, 'CNY', 10, 'order', 2024)$$);                -- cash has no vintage
SELECT hold(6, 'CEA', 500, 'order', 2024) AS h2;
SELECT transfer_from_hold(2, 8, 500) IS NOT NULL AS full_fill;
SELECT hold_id, quantity, remaining, status FROM hold ORDER BY 1;
SELECT account_id, asset, balance, held, available FROM account_balance WHERE account_id IN (6, 8) ORDER BY 1;

-- CCER serial blocks --------------------------------------------------------------------
SELECT issue_ccer(1, 'CCER:GD-OW-0042:2024:1-100000') AS c1;
SELECT pg_temp.err($$SELECT issue_ccer(1, 'CCER:GD-OW-0042:2024:99999-100100')$$);
SELECT pg_temp.err($$SELECT issue_ccer(3, 'CCER:GD-OW-0042:2024:200001-200100')$$);  -- allocation accounts take no CCER
SELECT issue_ccer(1, 'CCER:GD-OW-0042:2024:100001-150000') IS NOT NULL AS next_batch_merged;
SELECT transfer_ccer(1, 10, 'gd-ow-0042', 2024, 30000) IS NOT NULL AS moved_lowest_first;
SELECT transfer_ccer_block(1, 6, 'CCER:GD-OW-0042:2024:40001-50000') IS NOT NULL AS moved_exact;
SELECT pg_temp.err($$SELECT transfer_ccer_block(1, 6, 'CCER:GD-OW-0042:2024:45000-45001')$$);
SELECT pg_temp.err($$SELECT transfer_ccer(10, 6, 'GD-OW-0042', 2024, 30001)$$);
SELECT account_id, block FROM ccer_block ORDER BY block;
SELECT account_id, asset, balance FROM account_balance WHERE instrument = 'CCER' ORDER BY 1;

-- Surrender (清缴) and voluntary cancellation (注销) ----------------------------------------
SELECT surrender_cea(6, 2024, 700000, 2024) IS NOT NULL AS surrendered;
SELECT surrender_ccer(6, 'GD-OW-0042', 2024, 2500, 2024) IS NOT NULL AS ccer_surrendered;
SELECT retire_ccer(10, 'GD-OW-0042', 2024, 100) IS NOT NULL AS cancelled;
SELECT pg_temp.err($$SELECT surrender_cea(6, 2024, 10000000, 2024)$$);
SELECT account_id, account_kind, asset, balance FROM account_balance WHERE account_kind = 'cancellation' ORDER BY asset;
SELECT account_id, block FROM ccer_block WHERE account_id = 2 ORDER BY block;

-- Statements and balance as of ------------------------------------------------------------
SET carbonmkt.clock = '2024-07-17 09:45:00+08';
SELECT transfer_cea(8, 6, 2024, 5) IS NOT NULL AS next_day;
SELECT seq, business_date, kind, asset, block, amount, held_change, balance_after, held_after, counterparty
  FROM statement(6, '2024-07-16 00:00+08', '2024-07-18 00:00+08');
SELECT * FROM balance_as_of(6, '2024-07-16 23:59:59+08');
SELECT * FROM balance_as_of(6, '2024-07-17 23:59:59+08');

-- The journal is append-only --------------------------------------------------------------
SELECT pg_temp.err($$UPDATE journal SET amount = amount + 1 WHERE entry_id = 1$$);
SELECT pg_temp.err($$DELETE FROM journal WHERE entry_id = 1$$);
SELECT pg_temp.err($$TRUNCATE journal CASCADE$$);
SELECT pg_temp.err($$DELETE FROM posting$$);

-- Chain heads and verification ----------------------------------------------------------------
SELECT a.account_id, a.head_seq, j.seq, a.head_hash = j.hash AS head_is_last
  FROM account a LEFT JOIN LATERAL (SELECT seq, hash FROM journal WHERE account_id = a.account_id
                                     ORDER BY seq DESC LIMIT 1) j ON true ORDER BY 1;
SELECT count(*) AS entries, count(DISTINCT hash) AS distinct_hashes FROM journal;
SELECT * FROM verify_ledger();

-- Day seals
SELECT length(seal_day('2024-07-16')) AS seal_bytes;
SELECT business_date, accounts, entries, sealed_by FROM day_seal;
SELECT pg_temp.err($$SELECT seal_day('2024-07-17')$$);
SELECT pg_temp.err($$SELECT seal_day('2024-07-15')$$);
SET carbonmkt.clock = '2024-07-16 16:00:00+08';
SELECT pg_temp.err($$SELECT transfer_cea(6, 8, 2024, 1)$$);
SET carbonmkt.clock = '2024-07-17 10:00:00+08';
SELECT * FROM verify_ledger();

-- Tampering behind the trigger's back is caught
BEGIN;
ALTER TABLE journal DISABLE TRIGGER USER;
UPDATE journal SET amount = amount + 1, balance_after = balance_after + 1 WHERE entry_id = 5;
UPDATE holding SET balance = balance + 1 WHERE account_id = 6 AND instrument = 'CEA';
ALTER TABLE journal ENABLE TRIGGER USER;
SELECT problem, account_id, entry_id FROM verify_ledger() ORDER BY 1, 2, 3;
ROLLBACK;
SELECT count(*) AS problems_after_rollback FROM verify_ledger();

-- The name of 0.1.0 retires units for 0.2.0, with a deprecation notice (doc/api.md, Verbs)
BEGIN;
SELECT cancel_ccer(10, 'GD-OW-0042', 2024, 1) AS old_name \gset
SELECT p.operation, array_agg(j.kind::text || ' ' || j.amount ORDER BY j.entry_id) AS entries
  FROM posting p JOIN journal j USING (posting_id) WHERE p.posting_id = :old_name GROUP BY 1;
ROLLBACK;
