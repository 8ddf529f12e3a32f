-- The market's next phase (RULES.md 7; doc/finance.md): voluntary retirement with public
-- certificates, pledge (质押) with both parties' consent, repo (回购) with its second leg and its
-- failure handling, the allowance reserve with its market adjustment triggers, and paid
-- allocation (有偿分配) with the Guangdong-style lock.  Every movement is a registry posting;
-- every refusal is shown with its SQLSTATE and shown to change nothing.  Runs in its own
-- database so that ids are deterministic.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_finance;
DROP ROLE IF EXISTS regress_fin_unit_a;
DROP ROLE IF EXISTS regress_fin_unit_b;
DROP ROLE IF EXISTS regress_fin_bank;
CREATE DATABASE regress_finance;
\c regress_finance
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
SET search_path = carbonmkt, public;
SET datestyle = 'ISO, YMD';
\set VERBOSITY default

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
CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
  SELECT format('postings %s, journal %s, active holds %s, held %s',
                (SELECT count(*) FROM carbonmkt.posting), (SELECT count(*) FROM carbonmkt.journal),
                (SELECT count(*) FROM carbonmkt.hold WHERE status = 'active'),
                (SELECT coalesce(sum(held), 0) FROM carbonmkt.holding)) $$;
CREATE TEMP VIEW bal AS
SELECT account_id AS acct, asset, balance, held, available FROM carbonmkt.account_balance
 ORDER BY account_id, asset;

-- Parties: the national authority (cash 3; the national reserve is account 1 and the
-- cancellation account 2, both created with the extension), Guangdong's authority (allocation
-- 4, fiscal cash 5), the exchange (clearing 6), units A (holding 7, cash 8) and B (holding 9,
-- cash 10) in Guangdong's power sector, a bank (holding 11, cash 12).
SET carbonmkt.clock = '2027-02-26 10:00:00+08';
SELECT register_participant('Registry', 'registry', pg_temp.uscc('12420000MB1A00001')) AS registry,          -- 1
       register_participant('MEE', 'national_authority', pg_temp.uscc('11100000MB0134256')) AS mee,          -- 2
       register_participant('Guangdong DEE', 'provincial_authority', pg_temp.uscc('11440000MB2C00002'), '440000') AS gd,  -- 3
       register_participant('Exchange', 'exchange', pg_temp.uscc('91310000MA1FL0000')) AS exchange,          -- 4
       register_participant('Unit A', 'key_emitter', pg_temp.uscc('91440300MA5G00001'), '440000', '440300', 'power') AS a,  -- 5
       register_participant('Unit B', 'key_emitter', pg_temp.uscc('91440300MA5G00002'), '440000', '440300', 'power') AS b,  -- 6
       register_participant('Bank', 'institution', pg_temp.uscc('91440300MA5G00003')) AS bank;               -- 7
SELECT open_account(2, 'cash') AS mee_cash, open_account(3, 'allocation') AS gd_alloc, open_account(3, 'cash') AS gd_cash,
       open_account(4, 'clearing') AS clearing, open_account(5, 'holding') AS a_h, open_account(5, 'cash') AS a_c,
       open_account(6, 'holding') AS b_h, open_account(6, 'cash') AS b_c, open_account(7, 'holding') AS bank_h,
       open_account(7, 'cash') AS bank_c;
-- the exchange loads the 2027 trading calendar (illustrative holidays)
SELECT load_trading_calendar('CN', 2027,
         ARRAY['2027-01-01', '2027-02-08', '2027-02-09', '2027-02-10', '2027-02-11', '2027-02-12', '2027-04-05',
               '2027-05-03', '2027-05-04', '2027-05-05', '2027-06-09', '2027-09-15', '2027-10-01', '2027-10-04',
               '2027-10-05', '2027-10-06', '2027-10-07']::date[],
         'illustrative 2027 holidays (the State Council publishes the year''s schedule late in the year before)',
         acting_for => 4) AS weekday_holidays_2027;
SELECT issue_cea(4, 2027, 100000) IS NOT NULL AS issued, transfer_cea(4, 7, 2027, 20000) IS NOT NULL AS a_units,
       transfer_cea(4, 9, 2027, 20000) IS NOT NULL AS b_units,
       deposit_cny(8, 100000000) IS NOT NULL AS a_cash, deposit_cny(10, 100000000) IS NOT NULL AS b_cash,
       deposit_cny(12, 1000000000) IS NOT NULL AS bank_cash;
-- The finance room's rules: no source gives their numbers, so none is shipped (doc/rules.md,
-- doc/finance.md) and what needs one refuses, naming the missing rule, its table and who loads it
SELECT count(*) AS shipped_rows FROM (SELECT jurisdiction FROM repo_rule UNION ALL SELECT jurisdiction FROM reserve_feed_rule
       UNION ALL SELECT jurisdiction FROM reserve_trigger UNION ALL SELECT jurisdiction FROM paid_allocation_rule) x;
SELECT pg_temp.diag($$SELECT propose_repo(7, 2027, 500, 70.00, 71.00, '2027-09-01', NULL, 5)$$) AS no_repo_rule;
SELECT pg_temp.diag($$SELECT feed_reserve(2027)$$) AS no_feed_rule;
SELECT pg_temp.diag($$SELECT * FROM apply_paid_allocation(2027, 'power')$$) AS no_paid_rule;
SELECT pg_temp.diag($$SELECT offer_paid_allocation(2027, 'power', '2027-09-08 13:00+08', '2027-09-08 14:00+08')$$) AS no_paid_rule_to_offer;
SELECT count(*) AS nothing_to_decide FROM evaluate_market_adjustment('2027-02-26');
-- the national authority (participant 2) sets them as test fixtures (the values the demo uses,
-- marked illustrative), through the administration functions: a market rule (repo, triggers)
-- takes effect after today
SELECT set_rule('repo_rule', '{"jurisdiction": "CN", "valid_from": "2027-03-01", "on_failure": "retry_then_close_out",
                 "grace_days": 2, "max_term_days": 365, "illustrative": true}',
                'test fixture: retry 2 trading days, then close out; terms up to 365 days', acting_for => 2) AS repo_rule,
       set_rule('reserve_feed_rule', '{"jurisdiction": "CN", "year": 2027, "cap_share": 0.02, "illustrative": true}',
                'test fixture: 2% of the caps into the reserve', acting_for => 2) AS feed_rule,
       set_rule('paid_allocation_rule', '{"jurisdiction": "CN", "sector": "power", "from_year": 2027, "until_year": 2027,
                 "paid_share": 0.05, "method": "auction", "price_fen": 6000, "illustrative": true}',
                'test fixture: 5% of the power sector by one-way bidding, reserve price 60.00', acting_for => 2) AS paid_rule;
-- triggers 1 (release on a high price) and 2 (absorb on a low price); the product must exist
SELECT list_product('CEA2027', 60.00, 6, 2027) AS product;
SELECT set_rule('reserve_trigger', '{"jurisdiction": "CN", "product": "CEA2027", "kind": "price_high", "lookback_days": 5,
                 "reference_days": 20, "multiple": 1.5, "action": "release", "quantity_t": 1000000,
                 "reserve_price_multiple": 1.0, "cooldown_days": 20, "valid_from": "2027-03-01", "illustrative": true}',
                'test fixture: release 1,000,000 t when the 5-day average exceeds 1.5 x the 20 days before', acting_for => 2)
       AS trigger_1,
       set_rule('reserve_trigger', '{"jurisdiction": "CN", "product": "CEA2027", "kind": "price_low", "lookback_days": 5,
                 "reference_days": 20, "multiple": 0.6, "action": "absorb", "quantity_t": 1000000,
                 "reserve_price_multiple": 1.0, "cooldown_days": 20, "valid_from": "2027-03-01", "illustrative": true}',
                'test fixture: absorb 1,000,000 t when the 5-day average falls below 0.6 x the 20 days before', acting_for => 2)
       AS trigger_2;
SELECT trigger_id, kind, action, multiple, valid_from FROM reserve_trigger ORDER BY trigger_id;
SELECT rule_table, action, document, changed_by, acting_for, changed_at FROM rule_change
 WHERE rule_table IN ('repo_rule', 'reserve_feed_rule', 'reserve_trigger', 'paid_allocation_rule') ORDER BY change_id;
-- a rule of a day already begun, a unit setting a rule, an overlap: refused, nothing set
SELECT pg_temp.diag($$SELECT set_rule('repo_rule', '{"jurisdiction": "CN", "valid_from": "2027-02-26", "on_failure": "close_out",
                      "max_term_days": 30}', 'today', acting_for => 2)$$) AS repo_rule_today;
SELECT pg_temp.diag($$SELECT set_rule('reserve_feed_rule', '{"jurisdiction": "CN", "year": 2028, "cap_share": 0.02}',
                      'a unit', acting_for => 5)$$) AS unit_sets_feed;
SELECT pg_temp.diag($$SELECT set_rule('repo_rule', '{"jurisdiction": "CN", "valid_from": "2027-06-01", "on_failure": "close_out",
                      "max_term_days": 30}', 'overlap', acting_for => 2)$$) AS repo_rule_overlap;
SELECT pg_temp.diag($$SELECT set_rule('reserve_feed_rule', '{"jurisdiction": "CN", "year": 2028, "cap_share": 1}',
                      'all of it', acting_for => 2)$$) AS feed_all;
SELECT pg_temp.diag($$SELECT set_rule('repo_rule', '{"jurisdiction": "XX", "valid_from": "2027-06-01", "on_failure": "close_out",
                      "max_term_days": 30}', 'unknown', acting_for => 2)$$) AS repo_rule_unknown_jurisdiction;
SELECT count(*) AS repo_rules, (SELECT count(*) FROM reserve_feed_rule) AS feed_rules FROM repo_rule;
-- the exchange's fees are in no source (doc/rules.md): the exchange (participant 4) fills test
-- values through amend_rule, 0.05% per side (block 0.025%)
SELECT count(amend_rule('market_rule', jsonb_build_object('jurisdiction', r.jurisdiction, 'mode', r.mode, 'valid_from', r.valid_from),
                        jsonb_build_object('fee_rate', CASE r.mode WHEN 'block' THEN 0.00025 ELSE 0.0005 END),
                        'test fixture: fees no source gives, 0.05% per side (block 0.025%)', acting_for => 4)) AS fees_filled
  FROM market_rule r WHERE r.jurisdiction = 'CN' AND r.fee_rate IS NULL;
SET carbonmkt.clock = '2027-03-01 10:00:00+08';
CREATE ROLE regress_fin_unit_a LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_fin_unit_b LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_fin_bank LOGIN IN ROLE carbonmkt_participant;
SELECT map_login('regress_fin_unit_a', 5), map_login('regress_fin_unit_b', 6), map_login('regress_fin_bank', 7);

-- Voluntary retirement (自愿注销) -----------------------------------------------------------
SET SESSION AUTHORIZATION regress_fin_unit_a;
SELECT retire_voluntarily(7, 'CEA', 2027, NULL, 100, 'Hangzhou Asian Games Organising Committee', 'event',
                          'Carbon-neutral 19th Asian Games', 2026, 'vr-1') AS certificate \gset
SELECT :'certificate' ~ '^VR2027-00000001-[0-9A-F]{8}$' AS well_formed;
-- a retry with the same reference returns the same certificate and retires nothing more
SELECT retire_voluntarily(7, 'CEA', 2027, NULL, 100, 'Hangzhou Asian Games Organising Committee', 'event',
                          'Carbon-neutral 19th Asian Games', 2026, 'vr-1') = :'certificate' AS same_certificate;
SELECT count(*) AS retirements FROM voluntary_retirements;
-- refusals: the purpose kind, the beneficiary, the quantity, cash, someone else's account
SELECT pg_temp.diag($$SELECT retire_voluntarily(7, 'CEA', 2027, NULL, 100, 'X', 'party', 'y')$$) AS bad_kind;
SELECT pg_temp.diag($$SELECT retire_voluntarily(7, 'CEA', 2027, NULL, 100, '  ', 'event', 'y')$$) AS no_beneficiary;
SELECT pg_temp.diag($$SELECT retire_voluntarily(7, 'CEA', 2027, NULL, 0, 'X', 'event', 'y')$$) AS zero;
SELECT pg_temp.diag($$SELECT retire_voluntarily(7, 'CNY', 2027, NULL, 10, 'X', 'event', 'y')$$) AS cash;
SELECT pg_temp.diag($$SELECT retire_voluntarily(7, 'CEA', 2027, NULL, 19901, 'X', 'event', 'y')$$) AS too_many;
SELECT pg_temp.diag($$SELECT retire_voluntarily(9, 'CEA', 2027, NULL, 10, 'X', 'event', 'y')$$) AS not_mine;
SELECT pg_temp.diag(format($$SELECT retire_voluntarily(7, 'CEA', 2027, NULL, 10, 'X', 'event', %L)$$, repeat('y', 501))) AS too_long;
SET SESSION AUTHORIZATION regress_fin_unit_b;
-- B cannot see A's retirement in the view, but anyone can verify a certificate
SELECT count(*) AS b_sees FROM voluntary_retirements;
SELECT valid, instrument, vintage, tonnes, beneficiary, purpose_kind, purpose, emissions_year, retired_by,
       business_date, entry_id, length(entry_hash) AS hash_hex_chars
  FROM verify_certificate(:'certificate');
SELECT count(*) AS unknown_certificate FROM verify_certificate('VR2027-00000099-00000000');
RESET SESSION AUTHORIZATION;
SET carbonmkt.clock = '2027-03-01 10:00:00+08';
-- the certificate names the journal entry that took the units out: it chains like any other
SELECT j.kind, j.amount, j.memo, v.entry_hash = encode(j.hash, 'hex') AS hash_matches
  FROM verify_certificate(:'certificate') v JOIN journal j ON j.entry_id = v.entry_id;
SELECT acct, asset, balance FROM bal WHERE acct IN (2, 7);

-- Pledge (质押) -----------------------------------------------------------------------------
SET SESSION AUTHORIZATION regress_fin_unit_a;
SELECT propose_pledge(7, 2027, 1000, 5000000, '2027-06-30') AS pledge_1,
       propose_pledge(7, 2027, 2000, 10000000, '2027-06-30') AS pledge_2,
       propose_pledge(7, 2027, 3000, 15000000, '2027-06-30') AS pledge_3;
SELECT pg_temp.diag($$SELECT propose_pledge(6, 2027, 1000, 5000000, '2027-06-30')$$) AS pledgee_not_institution;
SELECT pg_temp.diag($$SELECT propose_pledge(7, 2027, 1000, 0, '2027-06-30')$$) AS amount_zero;
SELECT pg_temp.diag($$SELECT propose_pledge(7, 2027, 1000, 100000000000001, '2027-06-30')$$) AS amount_implausible;
SELECT pg_temp.diag($$SELECT propose_pledge(7, 2027, 1000, 5000000, '2027-03-01')$$) AS term_today;
SELECT pg_temp.diag($$SELECT propose_pledge(7, 2027, 19901, 5000000, '2027-06-30')$$) AS more_than_available;
-- the pledgor cannot accept its own pledge, nor register it
SELECT pg_temp.diag($$SELECT accept_pledge(1)$$) AS pledgor_accepts;
SELECT pg_temp.diag($$SELECT register_pledge(1)$$) AS pledgor_registers;
SET SESSION AUTHORIZATION regress_fin_bank;
SELECT accept_pledge(1), accept_pledge(2), accept_pledge(3);
SELECT pg_temp.diag($$SELECT accept_pledge(1)$$) AS accepted_twice;
RESET SESSION AUTHORIZATION;
SET carbonmkt.clock = '2027-03-01 11:00:00+08';
SELECT register_pledge(1) AS reg_1, register_pledge(2) AS reg_2, register_pledge(3) AS reg_3;
SELECT pledge_id, g.status, tonnes, secured_fen, registration_no, h.reason, h.quantity, h.status AS hold_status
  FROM pledge g JOIN hold h USING (hold_id) ORDER BY pledge_id;
SELECT acct, asset, balance, held, available FROM bal WHERE acct = 7;
SET SESSION AUTHORIZATION regress_fin_unit_a;
-- pledged units can be neither moved nor freed by the pledgor
SELECT pg_temp.diag($$SELECT transfer_cea(7, 9, 2027, 14000)$$) AS transfer_pledged;
SELECT pg_temp.diag($$SELECT release_hold((SELECT hold_id FROM carbonmkt.pledge WHERE pledge_id = 1))$$) AS release_own_pledge;
SELECT pg_temp.diag($$SELECT discharge_pledge(1)$$) AS pledgor_discharges;
SELECT count(*) AS a_sees_pledges FROM pledge;
SET SESSION AUTHORIZATION regress_fin_unit_b;
SELECT count(*) AS b_sees_pledges FROM pledge;
-- B offers 80 CNY/t for pledge 3's 3,000 t: its cash is frozen at once
SELECT offer_for_pledge(3, 80.00, 'B-offer-pledge-3') AS offer_1;
-- a retry with the same client reference returns the same offer and freezes nothing more
SELECT offer_for_pledge(3, 80.00, 'B-offer-pledge-3') AS offer_1_retried;
SELECT pg_temp.diag($$SELECT offer_for_pledge(3, 81.00, 'B-offer-pledge-3')$$) AS reference_reused;
SELECT count(*) AS offers_for_pledge_3 FROM carbonmkt.pledge_offer o WHERE o.pledge_id = 3;
SET SESSION AUTHORIZATION regress_fin_bank;
SELECT count(*) AS bank_sees_pledges FROM pledge;
-- the bank discharges pledge 1 (the loan is repaid): the units are free again
SELECT discharge_pledge(1) IS NOT NULL AS discharged;
SELECT pg_temp.diag($$SELECT discharge_pledge(1)$$) AS discharged_twice;
RESET SESSION AUTHORIZATION;
SET carbonmkt.clock = '2027-03-01 11:30:00+08';
SELECT pg_temp.diag($$SELECT enforce_pledge(2, 'transfer')$$) AS before_term;
SET carbonmkt.clock = '2027-07-01 10:00:00+08';
SELECT pg_temp.diag($$SELECT enforce_pledge(2, 'seize')$$) AS bad_method;
SELECT pg_temp.diag($$SELECT enforce_pledge(2, 'sale', 99)$$) AS no_offer;
-- default on pledge 2: its 2,000 t become the bank's (以质物抵偿)
SELECT enforce_pledge(2, 'transfer') IS NOT NULL AS enforced_by_transfer;
-- default on pledge 3: sold to B's offer, 3,000 t x 80.00 = 240,000.00 CNY: 150,000.00 to the
-- bank (the secured claim), 90,000.00 to unit A
SELECT enforce_pledge(3, 'sale', 1) IS NOT NULL AS enforced_by_sale;
SELECT pledge_id, status, enforcement, sale_price_fen, buyer_id FROM pledge ORDER BY pledge_id;
SELECT offer_id, status FROM pledge_offer;
SELECT acct, asset, balance, held FROM bal WHERE acct IN (7, 8, 9, 10, 11, 12);
SELECT count(*) AS clean FROM verify_ledger();

-- Repo (回购) -------------------------------------------------------------------------------
-- the market: closing prices of CEA2027 (a fixture; they also drive the reserve triggers below): 20 trading days at 60.00, then 5 at 95.00 (95 > 1.5 x 60 = 90)
INSERT INTO product_day (product_id, business_date, prev_close_fen, close_fen, closed_at)
SELECT 1, d, 6000, CASE WHEN k > 20 THEN 9500 ELSE 6000 END, d + time '15:30'
  FROM (SELECT d::date, row_number() OVER (ORDER BY d) AS k
          FROM generate_series(date '2027-07-26', date '2027-09-03', interval '1 day') d
         WHERE is_trading_day(d::date)) x
 WHERE k <= 25;
SET carbonmkt.clock = '2027-07-01 10:30:00+08';
SET SESSION AUTHORIZATION regress_fin_unit_a;
-- A sells 500 t to the bank at 70.00 and buys them back on 2027-09-01 at 71.00
SELECT propose_repo(7, 2027, 500, 70.00, 71.00, '2027-09-01', 'repo-1') AS repo_1;
SELECT propose_repo(7, 2027, 500, 70.00, 71.00, '2027-09-01', 'repo-1') AS same_repo;
SELECT pg_temp.diag($$SELECT propose_repo(7, 2027, 500, 70, 71, '2027-07-01')$$) AS repurchase_today;
SELECT pg_temp.diag($$SELECT propose_repo(7, 2027, 500, 70, 71, '2029-01-01')$$) AS too_long;
SELECT pg_temp.diag($$SELECT propose_repo(5, 2027, 500, 70, 71, '2027-09-01')$$) AS with_itself;
SELECT pg_temp.diag($$SELECT confirm_repo(1)$$) AS seller_confirms;
-- a second repo of 1,000 t at 70 / 72.50 on 2027-09-01 that A will not be able to pay
SELECT propose_repo(7, 2027, 1000, 70.00, 72.50, '2027-09-01') AS repo_2;
SET SESSION AUTHORIZATION regress_fin_bank;
SELECT confirm_repo(1), confirm_repo(2);
SELECT repo_id, leg, business_date, price_fen, tonnes FROM repo_leg ORDER BY 1, 2;
RESET SESSION AUTHORIZATION;
-- repo legs are not market trades
SELECT count(*) AS market_trades FROM trade;
-- A spends its cash: 240,000 CNY of it stays for repo 1's 35,500.00, not for repo 2's 72,500.00
SET carbonmkt.clock = '2027-07-01 10:40:00+08';
SELECT transfer_cny(8, 5, (SELECT balance FROM holding WHERE account_id = 8 AND instrument = 'CNY') - 5000000) IS NOT NULL AS a_spent;
SELECT acct, asset, balance FROM bal WHERE acct IN (7, 8, 11, 12);
SET carbonmkt.clock = '2027-08-31 16:00:00+08';
SELECT * FROM settle_repos() ORDER BY repo_id;
SET carbonmkt.clock = '2027-09-01 16:00:00+08';
SELECT * FROM settle_repos() ORDER BY repo_id;
SELECT acct, asset, balance FROM bal WHERE acct IN (7, 8, 11, 12);
-- repo 2 retries on the next two trading days (repo_rule: retry_then_close_out, 2 days), then closes
-- out at the last close, 95.00: the bank keeps 1,000 t worth 95,000.00 CNY for a repurchase amount of
-- 72,500.00 CNY, so unit A has a claim of 22,500.00 CNY
SET carbonmkt.clock = '2027-09-02 16:00:00+08';
SELECT * FROM settle_repos();
SET carbonmkt.clock = '2027-09-03 16:00:00+08';
SELECT * FROM settle_repos();
SET carbonmkt.clock = '2027-09-06 16:00:00+08';
SELECT * FROM settle_repos();
SELECT repo_id, status, attempts, close_out_fen, close_out_creditor, failure FROM repo ORDER BY repo_id;
SET SESSION AUTHORIZATION regress_fin_unit_b;
SELECT count(*) AS b_sees_repos, (SELECT count(*) FROM repo_leg) AS b_sees_legs FROM repo;
SELECT pg_temp.diag($$SELECT settle_repos()$$) AS participant_settles;
RESET SESSION AUTHORIZATION;
SELECT count(*) AS clean FROM verify_ledger();

-- The reserve and market adjustment (配额储备和市场调节机制) -------------------------------------
SET carbonmkt.clock = '2027-09-06 16:00:00+08';
SELECT pg_temp.diag($$SELECT feed_reserve(2027)$$) AS no_cap;
SELECT set_rule('alloc_cap', '{"jurisdiction": "CN", "year": 2027, "sector": "power", "cap_t": 4500000000}',
                'test fixture: a 2027 power cap', acting_for => 2) AS cap_set;
-- 2% of the 4,500,000,000 t cap: 90,000,000 t set aside, once
SELECT feed_reserve(2027) AS set_aside, feed_reserve(2027) AS again;
SELECT pg_temp.diag($$SELECT feed_reserve(2028)$$) AS no_rule;
SELECT acct, asset, balance FROM bal WHERE acct = 1;
-- allowances of a closed unit go into the reserve: B's only generating unit closes (so B has no
-- free 2027 units left to lock below)
SELECT register_facility(6, 'B-G1', 'coal_300mw_plus', 600, 'water') AS b_facility \gset
SELECT pg_temp.diag($$SELECT absorb_closed_unit(6, 2027)$$) AS not_closed;
SELECT change_facility(:b_facility, 'closure', '2027-09-06') IS NOT NULL AS closed;
SELECT absorb_closed_unit(6, 2027) AS absorbed_t;
SELECT acct, asset, balance FROM bal WHERE acct IN (1, 9);
SELECT count(*), min(business_date), max(business_date) FROM product_day;
SELECT business_date, trigger_id, met, status, quantity_t, explanation
  FROM evaluate_market_adjustment('2027-09-03') ORDER BY trigger_id;
-- idempotent per day: a second evaluation decides nothing new
SELECT count(*) AS decisions FROM evaluate_market_adjustment('2027-09-03');
SELECT count(*) AS decisions_kept FROM reserve_decision;
SELECT inputs FROM reserve_decision WHERE trigger_id = 1;
-- the next day the price trigger is still met, but within the 20-day cooldown
INSERT INTO product_day (product_id, business_date, prev_close_fen, close_fen, closed_at)
VALUES (1, '2027-09-06', 9500, 9600, '2027-09-06 15:30');
SELECT trigger_id, met, status, explanation FROM evaluate_market_adjustment('2027-09-06') ORDER BY trigger_id;
SET SESSION AUTHORIZATION regress_fin_unit_a;
SELECT pg_temp.diag($$SELECT evaluate_market_adjustment('2027-09-06')$$) AS participant_evaluates;
SELECT pg_temp.diag($$SELECT feed_reserve(2027)$$) AS participant_feeds;
SELECT count(*) AS public_decisions FROM market_adjustment_decisions;
RESET SESSION AUTHORIZATION;
-- release: a one-way bidding lot of 1,000,000 t from the reserve at the 5-day average (95.00)
SET carbonmkt.clock = '2027-09-07 10:00:00+08';
SELECT execute_reserve_decision(1, '2027-09-07 13:00+08', '2027-09-07 14:00+08') AS auction;
SELECT pg_temp.diag($$SELECT execute_reserve_decision(1, '2027-09-07 13:00+08', '2027-09-07 14:00+08')$$) AS twice;
SELECT a.side, a.quantity, a.reserve_fen, a.status, o.holding_account, o.cash_account
  FROM auction a JOIN market_order o ON o.order_id = a.lot_order_id;
SELECT decision_id, status, auction_id FROM market_adjustment_decisions ORDER BY decision_id;

-- Paid allocation (有偿分配) --------------------------------------------------------------------
-- units A and B have final 2027 allocations of 20,000 t and 12,345 t (fixture: an allocation run)
INSERT INTO allocation_run (kind, jurisdiction, year, initiator, started_at, business_date, inputs_digest, rules, rules_digest)
VALUES ('final', 'CN', 2027, 'postgres', '2027-09-07 10:00+08', '2027-09-07', '\x00', '{}', '\x00');
INSERT INTO allocation (participant_id, year, stage, computed_t, tonnes, basis, run_id)
VALUES (5, 2027, 'final', 20000, 20000, 'fixture', 1), (6, 2027, 'final', 12345, 12345, 'fixture', 1);
SELECT deposit_cny(8, 10000000) IS NOT NULL AS a_cash;
-- the Guangdong-style variant of the rule: fixed price 60.00, free units locked until bought
SELECT amend_rule('paid_allocation_rule', '{"jurisdiction": "CN", "sector": "power", "from_year": 2027}',
                  '{"method": "fixed_price", "lock_free": true}', 'test fixture: the Guangdong-style variant', acting_for => 2)
       ->> 'method' AS amended_method;
-- a rule is validated and, once applied, never amended
SELECT pg_temp.diag($$SELECT set_rule('paid_allocation_rule', '{"jurisdiction": "CN", "sector": "cement", "from_year": 2027, "until_year": 2027,
                      "paid_share": 1.2, "method": "auction", "price_fen": 6000}', 'bad share', acting_for => 2)$$) AS share_over_1;
SELECT pg_temp.diag($$SELECT set_rule('reserve_trigger', '{"jurisdiction": "CN", "product": "CEA2027", "kind": "price_high",
                      "lookback_days": 5, "reference_days": 20, "multiple": 0.8, "action": "release", "quantity_t": 1000,
                      "reserve_price_multiple": 1, "valid_from": "2027-12-01"}', 'bad multiple', acting_for => 2)$$) AS high_below_1;
SELECT pg_temp.diag($$SELECT * FROM apply_paid_allocation(2027, 'cement')$$) AS no_rule;
-- 5%: A owes 1,000 t, B 617 t (12,345 x 0.05 = 617.25)
SELECT * FROM apply_paid_allocation(2027, 'power') ORDER BY participant_id;
SELECT count(*) AS again FROM apply_paid_allocation(2027, 'power');
SELECT participant_id, year, allocated_t, paid_t, pending_t FROM allocation_result ORDER BY 1;
SET SESSION AUTHORIZATION regress_fin_unit_a;
-- A's free 2027 allowances are locked: the registry refuses a transfer and names the share
SELECT pg_temp.diag($$SELECT transfer_cea(7, 9, 2027, 10)$$) AS locked;
SELECT pg_temp.diag($$SELECT release_hold((SELECT lock_hold_id FROM carbonmkt.paid_entitlement WHERE participant_id = 5))$$) AS unlock_myself;
SELECT participant_id, year, paid_due_t, bought_t, still_to_buy_t, locked_t, message FROM paid_lock_status();
SELECT pg_temp.diag($$SELECT buy_paid_allocation(2027, 1001)$$) AS more_than_due;
-- A buys 400 t, then 600 t at 60.00: the lock is lifted once the 1,000 t are bought
SELECT buy_paid_allocation(2027, 400, 'A-paid-2027-1') AS sale_1;
SELECT still_to_buy_t, locked_t FROM paid_lock_status();
-- a retry with the same client reference returns the same sale and buys nothing more (still 600 t to buy)
SELECT buy_paid_allocation(2027, 400, 'A-paid-2027-1') AS sale_1_retried;
SELECT pg_temp.diag($$SELECT buy_paid_allocation(2027, 500, 'A-paid-2027-1')$$) AS reference_reused;
SELECT still_to_buy_t, locked_t FROM paid_lock_status();
SELECT buy_paid_allocation(2027, 600) AS sale_2;
SELECT still_to_buy_t, locked_t, message FROM paid_lock_status();
SELECT transfer_cea(7, 9, 2027, 10) IS NOT NULL AS transfer_after_buying;
RESET SESSION AUTHORIZATION;
SELECT * FROM bi_paid_allocation;
SELECT acct, asset, balance, held FROM bal WHERE acct IN (4, 5, 7, 8);
SELECT count(*) AS clean FROM verify_ledger();

-- Paid allocation by auction: 2028, 5% of unit A's allocation sold by one-way bidding at a reserve
-- price of 60.00 (a 2028 rule row and allocation as fixtures)
SELECT set_rule('paid_allocation_rule', '{"jurisdiction": "CN", "sector": "power", "from_year": 2028, "until_year": 2028,
                 "paid_share": 0.05, "method": "auction", "price_fen": 6000}', 'test fixture: 2028 by auction', acting_for => 2) AS rule_set;
INSERT INTO allocation (participant_id, year, stage, computed_t, tonnes, basis, run_id)
VALUES (5, 2028, 'final', 30000, 30000, 'fixture', 1);
SELECT * FROM apply_paid_allocation(2028, 'power');
SELECT pg_temp.diag($$SELECT amend_rule('paid_allocation_rule', '{"jurisdiction": "CN", "sector": "power", "from_year": 2028}',
                      '{"paid_share": 0.10}', 'too late', acting_for => 2)$$) AS amend_applied_rule;
SET carbonmkt.clock = '2027-09-08 10:00:00+08';
SELECT list_product('CEA2028', 60.00, 6, 2028) AS product_2028;
SELECT pg_temp.diag($$SELECT offer_paid_allocation(2027, 'power', '2027-09-08 13:00+08', '2027-09-08 14:00+08')$$) AS fixed_price_year;
SELECT offer_paid_allocation(2028, 'power', '2027-09-08 13:00+08', '2027-09-08 14:00+08') AS paid_auction \gset
SELECT a.quantity, a.reserve_fen, a.clearing_rule, o.holding_account, o.cash_account
  FROM auction a JOIN market_order o ON o.order_id = a.lot_order_id WHERE a.auction_id = :paid_auction;
-- A bids 1,000 t at 61.00 for its 1,500 t; the bank 800 t at 60.50: uniform price 60.50, A gets 1,000 t, the bank 500 t
SELECT deposit_cny(8, 10000000) IS NOT NULL AS a_cash;
SET carbonmkt.clock = '2027-09-08 13:30:00+08';
SELECT bid_auction(:paid_auction, 1000, 61.00, NULL, 5) IS NOT NULL AS a_bids, bid_auction(:paid_auction, 800, 60.50, NULL, 7) IS NOT NULL AS bank_bids;
SET carbonmkt.clock = '2027-09-08 14:00:00+08';
SELECT * FROM close_auction(:paid_auction);
SELECT record_paid_auction(:paid_auction, 2028) AS recorded_t, record_paid_auction(:paid_auction, 2028) AS again_t;
SELECT participant_id, year, tonnes, price_fen, method FROM paid_sale WHERE year = 2028 ORDER BY participant_id;
SELECT participant_id, year, paid_due_t, bought_t FROM paid_entitlement WHERE year = 2028;
SELECT * FROM bi_paid_allocation ORDER BY year;
SELECT acct, asset, balance FROM bal WHERE acct = 3;
SELECT count(*) AS clean FROM verify_ledger();


-- Withholding (absorb by taking volume out of the reserve's planned auctions) ----------------------
SET carbonmkt.clock = '2027-09-08 16:00:00+08';
-- the national authority plans two sales of CEA2027 from the reserve: 300,000 t on 2027-09-13, 400,000 t on 2027-09-14
SELECT plan_reserve_auction('CEA2027', 300000, '2027-09-13', 'Q3 sale 1') AS plan_1,
       plan_reserve_auction('CEA2027', 400000, '2027-09-14') AS plan_2 \gset
SELECT :plan_1 AS plan_1, :plan_2 AS plan_2;
SELECT pg_temp.diag($$SELECT plan_reserve_auction('CEA2027', 1000, '2027-09-07')$$) AS in_the_past;
SELECT pg_temp.diag($$SELECT plan_reserve_auction('CEA2027', 1000, '2027-09-11')$$) AS saturday;
SELECT pg_temp.diag($$SELECT plan_reserve_auction('CEA2099', 1000, '2027-09-13')$$) AS unknown_product;
SELECT pg_temp.diag($$SELECT plan_reserve_auction('CEA2027', 0, '2027-09-13')$$) AS zero_tonnes;
SELECT pg_temp.diag($$SELECT plan_reserve_auction('CEA2027', 10000000001, '2027-09-13')$$) AS implausible;
SET SESSION AUTHORIZATION regress_fin_unit_a;
SELECT pg_temp.diag($$SELECT plan_reserve_auction('CEA2027', 1000, '2027-09-13')$$) AS participant_plans;
RESET SESSION AUTHORIZATION;
-- a withholding trigger: more than 1,000 t in circulation (a fixture threshold) withholds 500,000 t
SELECT set_rule('reserve_trigger', '{"jurisdiction": "CN", "product": "CEA2027", "kind": "supply_high", "threshold_t": 1000,
                 "action": "withhold", "quantity_t": 500000, "reserve_price_multiple": 1, "valid_from": "2027-09-09"}',
                'test fixture: withhold on a long supply', acting_for => 2) IS NOT NULL AS trigger_set;
-- a high price or a short supply cannot withhold
SELECT pg_temp.diag($$SELECT set_rule('reserve_trigger', '{"jurisdiction": "CN", "product": "CEA2027", "kind": "price_high",
                      "lookback_days": 5, "reference_days": 20, "multiple": 1.5, "action": "withhold", "quantity_t": 1000,
                      "reserve_price_multiple": 1, "valid_from": "2027-12-01"}', 'bad action', acting_for => 2)$$) AS high_price_withholds;
-- the end of 2027-09-09: the supply trigger is met and schedules a withholding
SET carbonmkt.clock = '2027-09-09 16:00:00+08';
SELECT count(*) AS decided FROM evaluate_market_adjustment('2027-09-09');
SELECT business_date, kind, trigger_action, met, status, quantity_t, explanation
  FROM market_adjustment_decisions WHERE business_date = '2027-09-09' ORDER BY trigger_id;
SELECT decision_id AS withhold_decision FROM reserve_decision WHERE business_date = '2027-09-09' AND action = 'withhold' \gset
SELECT pg_temp.diag(format($$SELECT execute_reserve_decision(%s, '2027-09-09 13:00+08', '2027-09-09 14:00+08')$$, :withhold_decision)) AS not_an_auction;
SET SESSION AUTHORIZATION regress_fin_unit_a;
SELECT pg_temp.diag(format($$SELECT withhold_auction_volume(%s)$$, :withhold_decision)) AS participant_withholds;
RESET SESSION AUTHORIZATION;
-- 500,000 t: all 300,000 t of the first plan, 200,000 t of the second
SELECT withhold_auction_volume(:withhold_decision) AS withheld_t;
SELECT pg_temp.diag(format($$SELECT withhold_auction_volume(%s)$$, :withhold_decision)) AS twice;
SELECT plan_id - :plan_1 AS plan, product, auction_date, planned_t, withheld_t, offered_t, status,
       withheld_by = format('decision %s: %s t', :withhold_decision, withheld_t) AS withheld_by_decision
  FROM reserve_auction_schedule ORDER BY plan_id;
SELECT status, quantity_t, withheld_t FROM market_adjustment_decisions WHERE decision_id = :withhold_decision;
-- the first plan's day: nothing is left to offer; the second is not for today
SET carbonmkt.clock = '2027-09-13 10:00:00+08';
SELECT pg_temp.diag(format($$SELECT offer_planned_auction(%s, 95.00, '2027-09-13 13:00+08', '2027-09-13 14:00+08')$$, :plan_1)) AS withheld_plan;
SELECT pg_temp.diag(format($$SELECT offer_planned_auction(%s, 95.00, '2027-09-13 13:00+08', '2027-09-13 14:00+08')$$, :plan_2)) AS not_today;
-- the second plan's day: 200,000 t of the 400,000 t planned are offered from the reserve
SET carbonmkt.clock = '2027-09-14 10:00:00+08';
SELECT pg_temp.diag(format($$SELECT offer_planned_auction(%s, 0, '2027-09-14 13:00+08', '2027-09-14 14:00+08')$$, :plan_2)) AS zero_price;
SELECT offer_planned_auction(:plan_2, 95.00, '2027-09-14 13:00+08', '2027-09-14 14:00+08') AS planned_auction \gset
SELECT a.side, a.quantity, a.reserve_fen, a.status, o.holding_account
  FROM auction a JOIN market_order o ON o.order_id = a.lot_order_id WHERE a.auction_id = :planned_auction;
SELECT plan_id - :plan_1 AS plan, status, auction_id = :planned_auction AS offered FROM reserve_auction_plan ORDER BY plan_id;
-- met again at the end of 2027-09-14 (no cooldown) with nothing planned any more: refused, left scheduled
SET carbonmkt.clock = '2027-09-14 16:00:00+08';
SELECT count(*) AS decided FROM evaluate_market_adjustment('2027-09-14');
SELECT pg_temp.diag(format($$SELECT withhold_auction_volume(%s)$$,
       (SELECT decision_id FROM reserve_decision WHERE business_date = '2027-09-14' AND action = 'withhold'))) AS nothing_planned;
SELECT status, withheld_t FROM reserve_decision WHERE business_date = '2027-09-14' AND action = 'withhold';
SELECT count(*) AS clean FROM verify_ledger();

-- A party without the account an operation needs: CM702 naming it
SELECT register_participant('Bank without accounts', 'institution', pg_temp.uscc('91440300MA5G00009')) AS bare_bank \gset
SELECT pg_temp.diag(format($$SELECT propose_repo(5, 2027, 10, 70.00, 71.00, '2027-12-01', NULL, %s)$$, :bare_bank)) AS buyer_without_accounts;
SELECT pg_temp.diag(format($$SELECT propose_pledge(7, 2027, 10, 100000, '2027-12-01', %s)$$, :bare_bank)) AS no_holding_account;
