-- Compliance (清缴履约, RULES.md 6): periods, rules, obligations, the surrender trigger,
-- borrowing, period close and penalties.  Runs in its own database so that ids are
-- deterministic.  Numbers are RULES.md's: obligation 1,000,000 t -> at most 50,000 t
-- of CCER (5%), the 50,001st tonne refused; gap cap allocation + 20% of emissions;
-- gas units owe at most their allocation; borrowing for gap >= 10%, <= 50% of the
-- gap; Decree 775 fine 5x the average price of the month before the deadline.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_compliance;
CREATE DATABASE regress_compliance;
\c regress_compliance
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2025-06-02 10:00:00+08';
\set VERBOSITY default

-- helper: SQLSTATE and message of an expected error
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- helper: the same with the DETAIL
CREATE FUNCTION pg_temp.errd(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  d text;
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
  RETURN SQLSTATE || ': ' || SQLERRM || E'\n  DETAIL: ' || coalesce(d, '');
END $$;
-- helper: a valid unified social credit code from its first 17 characters
CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;

-- The rules seeded with the extension ------------------------------------------------
SELECT jurisdiction, from_year, ratio, basis, local_share_min, ccer_min_vintage, excluded_types, exclude_covered_hosts
  FROM offset_rule ORDER BY jurisdiction, from_year;
SELECT jurisdiction, from_year, sectors, gap_cap_share, gas_cap, borrowing_min_gap_share, borrowing_max_share
  FROM relief_rule ORDER BY 1, 2;
SELECT jurisdiction, from_year, fine_basis, fine_min_fen, fine_max_fen, fine_default_fen, multiple_min, multiple_max,
       multiple_default, price_months, cut_multiple
  FROM penalty_rule ORDER BY 1, 2;

-- Parties, accounts and units (the registry, here the superuser) ------------------------
SELECT register_participant('Ministry of Ecology and Environment', 'national_authority', pg_temp.uscc('11100000MB0134256')) AS mee,  -- 1
       register_participant('Guangdong Department of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd_authority,                                        -- 2
       register_participant('Hubei Department of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11420000MB2C9251X'), '420000') AS hb_authority,                                        -- 3
       register_participant('Guangdong Power A (coal)', 'key_emitter', pg_temp.uscc('91440300MA5F00001'),
                            '440000', '440300', 'power') AS u_a,                                                                 -- 4
       register_participant('Guangdong Power B (coal, short)', 'key_emitter', pg_temp.uscc('91440100MA5F00002'),
                            '440000', '440100', 'power') AS u_b,                                                                 -- 5
       register_participant('Guangdong Power C (gas)', 'key_emitter', pg_temp.uscc('91440100MA5F00003'),
                            '440000', '440100', 'power') AS u_c,                                                                 -- 6
       register_participant('Hubei Cement D', 'key_emitter', pg_temp.uscc('91420100MA5F00004'),
                            '420000', '420100', 'cement') AS u_d,                                                                -- 7
       register_participant('Hubei Steel E (estimated)', 'key_emitter', pg_temp.uscc('91420100MA5F00005'),
                            '420000', '420100', 'steel') AS u_e,                                                                 -- 8
       register_participant('Guangdong Investment Fund', 'institution', pg_temp.uscc('91440100MA5F00006'), '440000') AS fund,  -- 9
       register_participant('Hubei Chemicals F', 'key_emitter', pg_temp.uscc('91420100MA5F00007'),
                            '420000', '420100', 'chemical') AS u_f,                                                              -- 10
       register_participant('Guangdong Power G (hosts a methane project)', 'key_emitter', pg_temp.uscc('91440100MA5F00008'),
                            '440000', '440100', 'power') AS u_g;                                                                 -- 11
SELECT open_account(2, 'allocation') AS gd_alloc,   -- 3
       open_account(3, 'allocation') AS hb_alloc,   -- 4
       open_account(4, 'holding') AS a,             -- 5
       open_account(5, 'holding') AS b,             -- 6
       open_account(6, 'holding') AS c,             -- 7
       open_account(7, 'holding') AS d,             -- 8
       open_account(8, 'holding') AS e,             -- 9
       open_account(9, 'holding') AS fund,          -- 10
       open_account(10, 'holding') AS f,            -- 11
       open_account(11, 'holding') AS g;            -- 12
SELECT set_gas_fired(6, true);

-- 2024 allocation through the allocation room: the pre-allocations the provinces transferred
-- (adopted as pre-allocations), then A's true-up (追加) and C's deduction (扣减) as adjustments;
-- 2025 issued early (for borrowing)
SELECT issue_cea(3, 2024, 5000000) IS NOT NULL AS gd_issued, issue_cea(4, 2024, 2000000) IS NOT NULL AS hb_issued,
       issue_cea(3, 2025, 1000000) IS NOT NULL AS gd_2025_issued, issue_cea(3, 2023, 1000000) IS NOT NULL AS gd_2023_issued;
SELECT participant_id, tonnes FROM adopt_preallocation(2024, ARRAY[
         transfer_cea(3, 5, 2024, 630000, memo => 'pre-allocation'),      -- A: 630,000 ...
         transfer_cea(3, 6, 2024, 700000),                                 -- B: 700,000
         transfer_cea(3, 7, 2024, 480000),                                 -- C: 480,000 ...
         transfer_cea(4, 8, 2024, 400000),
         transfer_cea(4, 9, 2024, 300000),
         transfer_cea(4, 11, 2024, 50000),
         transfer_cea(3, 12, 2024, 100000)]) ORDER BY 1;
SELECT moved_t FROM amend_allocation(4, 270000, 2024, 'correction', reference => 'a-2024-trueup', memo => 'true-up');   -- ... + 270,000 = 900,000
SELECT moved_t FROM amend_allocation(6, -30000, 2024, 'correction', reference => 'c-2024-deduction');          -- ... - 30,000 = 450,000
SELECT participant_id, tonnes FROM adopt_preallocation(2023, ARRAY[transfer_cea(3, 5, 2023, 200000)]);   -- A's 2023, banked
SELECT transfer_cea(3, 10, 2024, 10000) IS NOT NULL AS fund_gets_some,      -- not an allocation: a fund
       transfer_cea(3, 10, 2025, 10000) IS NOT NULL AS fund_2025,
       transfer_cea(3, 12, 2024, 5000) IS NOT NULL AS g_not_adopted;         -- a transfer the allocation room does not know
-- A and B buy some 2025 CEA from the fund
SELECT transfer_cea(10, 5, 2025, 1000) IS NOT NULL AS a_buys_2025, transfer_cea(10, 6, 2025, 5000) IS NOT NULL AS b_buys_2025;
-- the allocation the compliance room reads: the allocation room's allocation_result (_allocation_source)
SELECT participant_id, year, allocated_t, initial_t, entitlement_t, is_final FROM _allocation_source ORDER BY 1, 2;
SELECT _allocated_tonnes(4, 2024) AS a_2024, _allocated_tonnes(4, 2023) AS a_2023, _allocated_tonnes(11, 2024) AS g_2024;

-- CCER: projects and blocks
SELECT register_ccer_project('GD-OW-0042', 'Yangjiang offshore wind', 'offshore_wind', '440000') AS p1,
       register_ccer_project('fj-fr-0007', 'Sanming afforestation', 'afforestation', '350000') AS p2,
       register_ccer_project('HB-HY-0001', 'Hubei run-of-river hydro', 'hydro', '420000') AS p3,
       register_ccer_project('GD-CH4-0009', 'Coal mine methane at Power G', 'methane_recovery', '440000', 11) AS p4,
       register_ccer_project('BJ-EE-0003', 'Beijing building efficiency', 'energy_efficiency', '110000') AS p5;
SELECT pg_temp.err($$SELECT register_ccer_project('bad id!', 'x', 'hydro', '440000')$$);
SELECT pg_temp.err($$SELECT register_ccer_project('GD-XX-1', 'x', 'nuclear', '440000')$$);
SELECT issue_ccer(1, 'CCER:GD-OW-0042:2024:1-200000') IS NOT NULL AS ow,
       issue_ccer(1, 'CCER:FJ-FR-0007:2023:1-100000') IS NOT NULL AS fr,
       issue_ccer(1, 'CCER:HB-HY-0001:2024:1-10000') IS NOT NULL AS hy,
       issue_ccer(1, 'CCER:GD-CH4-0009:2024:1-10000') IS NOT NULL AS ch4,
       issue_ccer(1, 'CCER:BJ-EE-0003:2012:1-10000') IS NOT NULL AS ee,
       issue_ccer(1, 'CCER:XX-UNREG-1:2024:1-1000') IS NOT NULL AS unregistered;
SELECT transfer_ccer(1, 5, 'GD-OW-0042', 2024, 120000) IS NOT NULL AS a_ow,
       transfer_ccer(1, 5, 'FJ-FR-0007', 2023, 60000) IS NOT NULL AS a_fr,
       transfer_ccer(1, 5, 'HB-HY-0001', 2024, 1000) IS NOT NULL AS a_hy,
       transfer_ccer(1, 5, 'GD-CH4-0009', 2024, 1000) IS NOT NULL AS a_ch4,
       transfer_ccer(1, 5, 'BJ-EE-0003', 2012, 1000) IS NOT NULL AS a_ee,
       transfer_ccer(1, 5, 'XX-UNREG-1', 2024, 1000) IS NOT NULL AS a_unreg,
       transfer_ccer(1, 6, 'GD-OW-0042', 2024, 10000) IS NOT NULL AS b_ow;

-- Periods ---------------------------------------------------------------------------
-- The power-sector relief of the sources ends with 2022 (RULES.md 6); this test's 2024
-- period has relief only because the national authority sets a rule for it (with the
-- 2019-2022 numbers), through the rule administration (doc/rules.md).
SELECT set_rule('relief_rule', '{"jurisdiction": "CN", "from_year": 2024, "until_year": 2024, "sectors": ["power"],
                                 "gap_cap_share": 0.20, "gas_cap": true, "borrowing_min_gap_share": 0.10,
                                 "borrowing_max_share": 0.50}',
                'regression test: a 2024 relief rule with the 2019-2022 numbers of RULES.md 6', acting_for => 1) AS relief_2024;
SELECT open_period(2024, '2024 annual compliance (2024年度清缴)', 2024, 2024, '2025-12-31') AS period_2024;
SELECT open_period(2021, '2021-2022 compliance (第二个履约周期)', 2021, 2022, '2023-12-31') AS period_2021;
SELECT pg_temp.err($$SELECT open_period(2024, 'again', 2025, 2025, '2026-12-31')$$);
SELECT pg_temp.err($$SELECT open_period(2099, 'overlap', 2022, 2023, '2024-12-31')$$);
SELECT pg_temp.err($$SELECT open_period(2026, 'deadline inside the year', 2026, 2026, '2026-06-30')$$);
SELECT pg_temp.err($$SELECT open_period(2027, 'years reversed', 2028, 2027, '2029-12-31')$$);
SELECT pg_temp.err($$SELECT open_period(2027, 'nowhere', 2027, 2027, '2028-12-31', 'atlantis')$$);
SELECT pg_temp.err($$SELECT open_period(2012, 'no rules yet', 2012, 2012, '2013-12-31', '420000')$$);
-- each period gets the rule rows in force from its first year: the 2021 Measures for
-- 2021-2022, Decree 775 for 2024
SELECT period, jurisdiction, offset_ratio_pct, offset_basis, gap_cap_pct, gas_cap, borrowing_min_gap_share,
       borrowing_max_share, fine_basis, fine_default_fen, multiple_default, price_months, cut_multiple
  FROM _period_rules ORDER BY period;

-- The emissions the MRV room confirmed (fixture: the contract table, written directly) --
INSERT INTO confirmed_emission (participant_id, year, emissions_t, basis, confirmed_by, confirmed_at) VALUES
  (4, 2024, 1000000, 'verified', 2, '2025-05-30 10:00+08'),    -- A: 1,000,000 t
  (5, 2024, 1000000, 'verified', 2, '2025-05-30 10:00+08'),    -- B: 1,000,000 t
  (6, 2024, 500000, 'verified', 2, '2025-05-30 10:00+08'),     -- C: 500,000 t (gas)
  (8, 2024, 280000, 'estimated', 3, '2025-05-30 10:00+08'),    -- E: estimated by the province
  (10, 2024, 60000, 'verified', 3, '2025-05-30 10:00+08'),     -- F: a sector not covered yet
  (11, 2024, 90000, 'verified', 2, '2025-05-30 10:00+08'),     -- G
  (4, 2021, 700000, 'verified', 2, '2022-05-30 10:00+08');     -- A, 2021 only (2022 missing)
-- (D, Hubei cement, has no confirmed emissions)

-- Obligations: relief applied and why ------------------------------------------------
-- Only pre-allocations so far: the relief (gap cap, gas cap) is computed on the final
-- allocation (核定配额, S4 L94), so the power units' obligations are provisional: pending.
SELECT participant_id, allocation_t, relief, obligation_t, status, compliance_code, status_reason
  FROM obligation_status WHERE period = 2024 ORDER BY participant_id;
-- The allocation room's final allocations of 2024 (fixture: an allocation run; the final
-- runs are tested in sql/allocation.sql): equal to the pre-allocations, so A keeps its
-- true-up and C its deduction
INSERT INTO allocation_run (kind, jurisdiction, year, initiator, started_at, business_date, inputs_digest, rules, rules_digest)
VALUES ('final', 'CN', 2024, 'postgres', '2025-06-02 10:00+08', '2025-06-02', '\x00', '{}', '\x00') RETURNING run_id AS final_run \gset
INSERT INTO allocation (participant_id, year, stage, computed_t, tonnes, basis, run_id)
SELECT participant_id, year, 'final', tonnes, tonnes, 'fixture: final = pre-allocation', :final_run
  FROM allocation WHERE year = 2024 AND stage = 'preallocation' AND participant_id IN (4, 5, 6, 11);
SELECT participant_id, unit_name, emissions_t, emissions_basis, allocation_t, relief, relief_t, relief_reason,
       obligation_t, offset_cap_t, remaining_t, status, compliance_code
  FROM obligation_status WHERE period = 2024 ORDER BY participant_id;
SELECT participant_id, emissions_t, obligation_t, status, compliance_code
  FROM obligation_status WHERE period = 2021 ORDER BY participant_id;

-- Surrender with CCER: the 5% cap on the obligation -------------------------------------
-- A owes 1,000,000 t: at most 50,000 t of CCER.
SELECT surrender_ccer(5, 'GD-OW-0042', 2024, 30000, 2024) IS NOT NULL AS ccer_30000;
SELECT surrender_ccer(5, 'FJ-FR-0007', 2023, 20000, 2024) IS NOT NULL AS ccer_20000_more;
-- the 50,001st tonne
SELECT pg_temp.errd($$SELECT surrender_ccer(5, 'GD-OW-0042', 2024, 1, 2024)$$);
SELECT pg_temp.err($$SELECT surrender_ccer(5, 'GD-OW-0042', 2024, 10000, 2024)$$);
SELECT surrendered_cea_t, surrendered_ccer_t, remaining_t, status FROM obligation_status WHERE period = 2024 AND participant_id = 4;
-- CCER that is not eligible, each rule by name
SELECT pg_temp.errd($$SELECT surrender_ccer(5, 'GD-CH4-0009', 2024, 100, 2024)$$);
SELECT pg_temp.errd($$SELECT surrender_ccer(5, 'XX-UNREG-1', 2024, 100, 2024)$$);
-- CEA: later vintages are refused, banked earlier ones are fine, never beyond the obligation
SELECT pg_temp.errd($$SELECT surrender_cea(5, 2025, 1, 2024)$$);
SELECT surrender_cea(5, 2024, 900000, 2024) IS NOT NULL AS cea_900000;
SELECT pg_temp.errd($$SELECT surrender_cea(5, 2023, 50001, 2024)$$);
SELECT surrender_cea(5, 2023, 50000, 2024) IS NOT NULL AS banked_2023_50000;
SELECT pg_temp.errd($$SELECT surrender_cea(5, 2023, 1, 2024)$$);
SELECT participant_id, obligation_t, surrendered_cea_t, surrendered_ccer_t, remaining_t, status, compliance_code
  FROM obligation_status WHERE period = 2024 AND participant_id = 4;
-- a whole failed posting moves nothing
SELECT account_id, asset, balance FROM account_balance WHERE account_id IN (2, 5) AND instrument = 'CEA' ORDER BY 1, 2;

-- Bad input: nothing moves --------------------------------------------------------
SELECT pg_temp.errd($$SELECT surrender_cea(6, 2024, 100, 1999)$$);                  -- unknown period
SELECT pg_temp.errd($$SELECT surrender_cea(6, 2024, 100, NULL)$$);                  -- no period
SELECT pg_temp.errd($$SELECT surrender_cea(8, 2024, 100, 2024)$$);                  -- D: no confirmed emissions
SELECT pg_temp.errd($$SELECT surrender_cea(5, 2023, 100, 2021)$$);                  -- A: 2022 missing
SELECT pg_temp.errd($$SELECT surrender_cea(10, 2024, 100, 2024)$$);                 -- not a key emitting unit
SELECT pg_temp.errd($$SELECT surrender_cea(11, 2024, 100, 2024)$$);                 -- sector not covered
SELECT pg_temp.errd($$SELECT surrender_cea(3, 2024, 100, 2024)$$);                  -- an allocation account
SELECT count(*) AS retired_entries FROM journal WHERE kind = 'retire';

-- Relief: the gap cap and the gas cap ---------------------------------------------------
-- B owes allocation 700,000 + 20% x 1,000,000 = 900,000 t; C (gas) its allocation 450,000 t.
SELECT surrender_cea(7, 2024, 450000, 2024) IS NOT NULL AS c_done;
SELECT participant_id, relief, obligation_t, surrendered_t, remaining_t, status FROM obligation_status
 WHERE period = 2024 AND participant_id IN (5, 6) ORDER BY 1;

-- Borrowing (预支) -------------------------------------------------------------------
-- B's gap: 900,000 - 700,000 = 200,000 t = 20% of its emissions (>= 10%): it may borrow
-- up to 100,000 t (50%) once the province declares hardship.
SELECT pg_temp.errd($$SELECT borrow_cea(6, 50000, 2024)$$);
SELECT flag_hardship(5, 2024, 'coal price spike; losses in 2024');
SELECT pg_temp.errd($$SELECT borrow_cea(6, 100001, 2024)$$);
SELECT borrow_cea(6, 60000, 2024, 'b-borrow-1') AS borrowing_1;
SELECT borrow_cea(6, 60000, 2024, 'b-borrow-1') AS same_reference_same_borrowing;
-- the name and argument order of 0.1.0 (period before tonnes) still work for 0.2.0, with a notice: the same request
SELECT borrow_allowances(6, 2024, 60000, 'b-borrow-1') AS deprecated_name_same_borrowing;
SELECT pg_temp.err($$SELECT borrow_cea(6, 1000, 2024, 'b-borrow-1')$$);
SELECT pg_temp.errd($$SELECT borrow_cea(6, 40001, 2024)$$);
SELECT borrow_cea(6, 40000, 2024) AS borrowing_2;
SELECT borrowing_id, participant_id, period, account_id, vintage, tonnes, gap_t, emissions_t FROM borrowing ORDER BY 1;
-- next year's allocation records the reduction: the allocation room shows the 100,000 t as
-- delivered early and will issue B's 2025 allocation net of them (pending_t)
SELECT participant_id, year, tonnes, reason, period, borrowing_id FROM allocation_adjustment ORDER BY 1;
SELECT participant_id, year, allocated_t, borrowed_t, penalty_cut_t, adjustment_t, entitlement_t, issued_t, pending_t
  FROM allocation_result WHERE year = 2025 ORDER BY 1;
-- the borrowed 2025 CEA can be surrendered for 2024, and no more than that
SELECT account_id, asset, balance FROM account_balance WHERE account_id = 6 ORDER BY asset;
SELECT surrender_cea(6, 2025, 100000, 2024) IS NOT NULL AS b_surrenders_borrowed;
SELECT pg_temp.errd($$SELECT surrender_cea(6, 2025, 1, 2024)$$);
-- A (gap 100,000 t = exactly 10%) qualifies on the gap but has no hardship flag;
-- C (gas: owes its allocation) has no gap at all
SELECT flag_hardship(6, 2024, 'gas supply cut');
SELECT pg_temp.errd($$SELECT borrow_cea(7, 1, 2024)$$);
SELECT pg_temp.errd($$SELECT borrow_cea(5, 1, 2024)$$);
SELECT pg_temp.err($$SELECT borrow_cea(10, 1, 2024)$$);             -- not a unit
SELECT pg_temp.err($$SELECT borrow_cea(6, 0, 2024)$$);
SELECT pg_temp.err($$SELECT borrow_cea(6, 1, 1999)$$);
SELECT pg_temp.err($$SELECT flag_hardship(5, 2024, '  ')$$);
-- B also surrenders 10,000 t CCER and 600,000 t CEA of 2024: 190,000 t short of 900,000
SELECT surrender_ccer(6, 'GD-OW-0042', 2024, 10000, 2024) IS NOT NULL AS b_ccer,
       surrender_cea(6, 2024, 600000, 2024) IS NOT NULL AS b_cea;
SELECT participant_id, obligation_t, surrendered_cea_t, surrendered_ccer_t, borrowed_t, remaining_t, status
  FROM obligation_status WHERE period = 2024 AND participant_id = 5;

-- E (estimated emissions, EUTL code D) and G surrender in full
SELECT surrender_cea(9, 2024, 280000, 2024) IS NOT NULL AS e_done, surrender_cea(12, 2024, 90000, 2024) IS NOT NULL AS g_done;

-- Closing the period ---------------------------------------------------------------
SELECT pg_temp.errd($$SELECT * FROM close_period(2024)$$);
-- on the deadline day itself: still the deadline, the message says from when it can close
SET carbonmkt.clock = '2025-12-31 16:00:00+08';
SELECT pg_temp.errd($$SELECT * FROM close_period(2024)$$);
SET carbonmkt.clock = '2026-01-05 09:00:00+08';
-- a late surrender before the close still counts; status shows the shortfall meanwhile
SELECT participant_id, remaining_t, status FROM obligation_status WHERE period = 2024 AND participant_id = 5;
SELECT surrender_cea(6, 2024, 10000, 2024) IS NOT NULL AS b_late;
-- Decree 775: 5x the average price of the month before the deadline x the shortfall
SELECT pg_temp.errd($$SELECT * FROM close_period(2024)$$);
SELECT record_average_price('2025-11-28', 76.00, 'SEEE daily report 2025-11-28');   -- before the window
-- the name of 0.1.0 takes fen, with a notice: 7610 fen is 76.10 CNY per t
SELECT record_reference_price('2025-11-27', 7610, 'SEEE daily report 2025-11-27');
SELECT price_date, average_price_fen FROM carbonmkt.reference_price WHERE price_date IN ('2025-11-27', '2025-11-28') ORDER BY 1;
SELECT pg_temp.err($$SELECT record_average_price('2025-11-27', 76.105, 'x')$$) AS three_decimals;
SELECT record_average_price(d::date, (7000 + 10 * extract(day FROM d)::int) / 100.0, 'SEEE daily report ' || d::date)
  FROM generate_series('2025-12-01'::date, '2025-12-31', '1 day') d WHERE extract(isodow FROM d) < 6;
SELECT _average_price_fen('2025-12-01', '2025-12-31') AS december_average_fen_reference_only;
-- the market's own prices come first: fixture trades of CEA2025 on 1 and 2 December, with
-- their product days, not closed (written directly; the market's flows are tested in
-- sql/market.sql).  1 Dec: 10,000 t at 74.00 listed and 30,000 t at 76.00 block = 75.50;
-- 2 Dec: 20,000 t at 73.00
BEGIN;
SET LOCAL session_replication_role = replica;     -- fixture: no orders or clearing account behind these rows
INSERT INTO product (code, instrument, vintage, reference_price_fen, clearing_account, listed_at)
VALUES ('CEA2025', 'CEA', 2025, 7500, 1, '2025-06-02 09:00+08');
INSERT INTO product_day (product_id, business_date, prev_close_fen)
SELECT pr.product_id, d, 7500 FROM product pr, (VALUES (date '2025-12-01'), ('2025-12-02')) v(d);
INSERT INTO trade (product_id, mode, business_date, executed_at, price_fen, quantity, buy_order_id, sell_order_id,
                   buyer_id, seller_id, buyer_fee_fen, seller_fee_fen)
SELECT pr.product_id, t.mode::trade_mode, t.d, t.d + time '10:00', t.price, t.q, 1, 2, 4, 5, 0, 0
  FROM product pr, (VALUES ('listed', date '2025-12-01', 7400, 10000), ('block', '2025-12-01', 7600, 30000),
                           ('listed', '2025-12-02', 7300, 20000)) t(mode, d, price, q);
COMMIT;
SELECT price_date, average_price_fen, volume_t, price_source, source FROM _daily_prices('CN', '2025-11-28', '2025-12-03');
-- the two market days alone: volume-weighted, (302,000,000 + 146,000,000) / 60,000 = 7,466.67 -> 7,467
SELECT * FROM _average_price('CN', '2025-12-01', '2025-12-02');
-- December: 2 market days and 21 days of reference prices without volume: the mean of the
-- 23 daily prices, (164,600 - 7,010 - 7,020 + 7,550 + 7,300) / 23 = 7,192.17 -> 7,192
SELECT * FROM _average_price('CN', '2025-12-01', '2025-12-31');
SELECT _average_price_fen('2025-12-01', '2025-12-31') AS december_average_fen;
-- a pilot's market is not the national one: reference prices only
SELECT * FROM _average_price('440300', '2025-12-01', '2025-12-02');
SELECT pg_temp.err($$SELECT record_average_price('2025-12-01', 0.00, 'x')$$);
SELECT pg_temp.err($$SELECT record_average_price('2025-12-01', 70.00, '')$$);
SELECT * FROM close_period(2024);
SELECT pg_temp.err($$SELECT * FROM close_period(2024)$$);
SELECT participant_id, emissions_t, allocation_t, relief, obligation_t, surrendered_t, remaining_t, borrowed_t,
       status, compliance_code
  FROM obligation_status WHERE period = 2024 ORDER BY participant_id;
SELECT participant_id, period, shortfall_t, fine_basis, price_from, price_to, average_price_fen, price_source,
       price_market_days, price_reference_days, multiple, fine_fen, cut_multiple, cut_t, cut_unless_corrected, cut_year
  FROM sanction ORDER BY 1;
SELECT participant_id, year, tonnes, reason, period FROM allocation_adjustment ORDER BY adjustment_id;
SELECT credit_code, unit_name, province_name, period, shortfall_t, fine, cut_t, cut_year, decided_on, record_text
  FROM credit_platform_record;
-- a fine may be revised within the rule's range (5-10x)
SELECT revise_fine(5, 2024, 8, memo => 'repeat offence') AS revised_fine_fen;
SELECT pg_temp.err($$SELECT revise_fine(5, 2024, 11)$$);
SELECT pg_temp.err($$SELECT revise_fine(5, 2024, fine_fen => 100)$$);
SELECT pg_temp.err($$SELECT revise_fine(4, 2024, 6)$$);
-- B's 2025 allocation records both reductions: 100,000 t borrowed, 180,000 t cut
SELECT participant_id, year, borrowed_t, penalty_cut_t, adjustment_t, entitlement_t, pending_t
  FROM allocation_result WHERE year = 2025 ORDER BY 1;

-- Correction after the close (改正): Decree 775 cuts next year's allocation only if the
-- shortfall is not corrected; the fine stands.  B buys 2024 allowances and surrenders late.
SELECT transfer_cea(3, 6, 2024, 100000) IS NOT NULL AS b_buys_2024, transfer_ccer(1, 6, 'GD-OW-0042', 2024, 100) IS NOT NULL AS b_buys_ccer;
SELECT pg_temp.errd($$SELECT surrender_ccer(6, 'GD-OW-0042', 2024, 1, 2024)$$);       -- CEA only
SELECT pg_temp.errd($$SELECT surrender_cea(6, 2025, 1, 2024)$$);                      -- borrowing used up
SELECT pg_temp.errd($$SELECT surrender_cea(6, 2024, 180001, 2024)$$);                 -- beyond the shortfall
SELECT pg_temp.errd($$SELECT surrender_cea(5, 2023, 1, 2024)$$);                      -- A: nothing to correct
SET carbonmkt.clock = '2026-01-20 09:00:00+08';
SELECT surrender_cea(6, 2024, 80000, 2024) IS NOT NULL AS b_corrects_80000;
-- partly corrected: the cut in force is the 100,000 t still owed
SELECT participant_id, shortfall_t, corrected_t, corrected_at, fine_fen, cut_t FROM sanction WHERE period = 2024;
SELECT participant_id, year, tonnes, withdrawn_t, withdrawn_at FROM allocation_adjustment WHERE reason = 'penalty_cut' AND period = 2024;
SET carbonmkt.clock = '2026-02-02 09:00:00+08';
SELECT surrender_cea(6, 2024, 100000, 2024) IS NOT NULL AS b_corrects_the_rest;
-- corrected: the cut is withdrawn, the fine stands; the status stays the verdict at the deadline
SELECT participant_id, shortfall_t, corrected_t, corrected_at, fine_fen, cut_t FROM sanction WHERE period = 2024;
SELECT participant_id, year, tonnes, withdrawn_t, withdrawn_at FROM allocation_adjustment WHERE reason = 'penalty_cut' AND period = 2024;
SELECT participant_id, year, borrowed_t, penalty_cut_t, entitlement_t, pending_t FROM allocation_result WHERE year = 2025 ORDER BY 1;
SELECT participant_id, obligation_t, surrendered_t, remaining_t, status, compliance_code
  FROM obligation_status WHERE period = 2024 AND participant_id = 5;
SELECT shortfall_t, fine, cut_t, cut_in_force_t, corrected_t, corrected_on, record_text FROM credit_platform_record;
-- closed: nothing more is accepted
SELECT pg_temp.errd($$SELECT surrender_cea(6, 2024, 1, 2024)$$);
SELECT pg_temp.err($$SELECT borrow_cea(6, 1, 2024)$$);

-- Pilot rules by rule rows --------------------------------------------------------------
SET carbonmkt.clock = '2026-01-06 09:00:00+08';
INSERT INTO confirmed_emission (participant_id, year, emissions_t, basis, confirmed_by, confirmed_at) VALUES
  (4, 2023, 800000, 'verified', 2, '2024-05-30 10:00+08');     -- A, 2023 (fixture)
-- Guangdong: <= 10% of verified emissions, >= 70% local CCER, no hydro, cut 2x the shortfall
SELECT open_period(442023, 'Guangdong pilot 2023 (广东试点2023年度)', 2023, 2023, '2026-06-30', '440000') AS gd_pilot;
-- a unit takes part in one market a year: no pilot period over a national period's years, nor
-- the national market over a pilot's, nor Shenzhen (a city of Guangdong) over Guangdong's
SELECT pg_temp.errd($$SELECT open_period(442024, 'Guangdong pilot 2024', 2024, 2024, '2025-12-31', '440000')$$);
SELECT pg_temp.errd($$SELECT open_period(2023, 'national 2023', 2023, 2023, '2024-12-31')$$);
SELECT pg_temp.errd($$SELECT open_period(4403, 'Shenzhen pilot 2023', 2023, 2023, '2024-12-31', '440300')$$);
SELECT count(*) AS periods_of_2024_covering_a_guangdong_unit
  FROM compliance_period WHERE 2024 BETWEEN first_year AND last_year AND jurisdiction IN ('CN', '440000');
SELECT period, participant_id, emissions_t, obligation_t, offset_cap_t FROM obligation_status WHERE period = 442023;
SELECT pg_temp.errd($$SELECT surrender_ccer(5, 'FJ-FR-0007', 2023, 1000, 442023)$$);   -- non-local first
SELECT surrender_ccer(5, 'GD-OW-0042', 2024, 56000, 442023) IS NOT NULL AS local_56000;
SELECT surrender_ccer(5, 'FJ-FR-0007', 2023, 24000, 442023) IS NOT NULL AS nonlocal_24000;
SELECT pg_temp.errd($$SELECT surrender_ccer(5, 'FJ-FR-0007', 2023, 1, 442023)$$);
SELECT pg_temp.errd($$SELECT surrender_ccer(5, 'HB-HY-0001', 2024, 1, 442023)$$);
-- Beijing-style window (reductions from 2013) and bases, by changing the rule row
BEGIN;
UPDATE offset_rule SET ccer_min_vintage = 2013, basis = 'issued_allowances' WHERE jurisdiction = '440000';
SELECT pg_temp.errd($$SELECT surrender_ccer(5, 'BJ-EE-0003', 2012, 1, 442023)$$);
UPDATE offset_rule SET ccer_min_vintage = NULL, ccer_max_age = 0, local_share_min = NULL WHERE jurisdiction = '440000';
SELECT pg_temp.errd($$SELECT surrender_ccer(5, 'FJ-FR-0007', 2023, 1, 442023)$$);        -- no 2023 allocation: cap 0
ROLLBACK;
BEGIN;
-- Hubei-style: 10% of the initial allowances; here A's 2024 pre-allocation 630,000 t
UPDATE compliance_period SET first_year = 2024, last_year = 2024 WHERE period = 442023;
UPDATE offset_rule SET basis = 'initial_allowances', local_share_min = NULL WHERE jurisdiction = '440000';
SELECT offset_cap_t FROM obligation_status WHERE period = 442023 AND participant_id = 4;
SELECT pg_temp.errd($$SELECT surrender_ccer(5, 'FJ-FR-0007', 2023, 1, 442023)$$);
ROLLBACK;
-- closing the pilot period: no fine, a cut of 2x the shortfall
SET carbonmkt.clock = '2026-07-01 09:00:00+08';
SELECT * FROM close_period(442023);
SELECT participant_id, period, shortfall_t, fine_basis, fine_fen, cut_multiple, cut_t, cut_unless_corrected, cut_year
  FROM sanction WHERE period = 442023;
-- the Guangdong rule cuts 2x the shortfall whether or not it is corrected: a late surrender counts, the cut stays
SELECT surrender_cea(5, 2023, 1000, 442023) IS NOT NULL AS a_late_1000;
SELECT x.shortfall_t, x.corrected_t, a.tonnes, a.withdrawn_t
  FROM sanction x JOIN allocation_adjustment a USING (sanction_id) WHERE x.period = 442023;

-- The ledger is intact, and the trigger's totals match it ------------------------------
SELECT count(*) AS ledger_problems FROM verify_ledger();
SELECT o.participant_id, o.period, o.surrendered_cea_t, o.surrendered_ccer_t, j.cea, j.ccer
  FROM obligation o
  FULL JOIN (SELECT a.participant_id, x.period,
                    -sum(x.amount) FILTER (WHERE x.instrument = 'CEA') AS cea,
                    -sum(x.amount) FILTER (WHERE x.instrument = 'CCER') AS ccer
               FROM journal x JOIN account a USING (account_id)
              WHERE x.kind = 'surrender' GROUP BY 1, 2) j USING (participant_id, period)
 WHERE (o.surrendered_cea_t, o.surrendered_ccer_t) IS DISTINCT FROM (coalesce(j.cea, 0), coalesce(j.ccer, 0));

\c postgres
SET client_min_messages = warning;
DROP DATABASE regress_compliance;
