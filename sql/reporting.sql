-- The BI views (doc/bi.md) on a small market whose numbers can be checked by hand:
-- two provinces, five units, a closed period (2023) and an open one (2024).  Own
-- database for deterministic ids.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_reporting;
DROP ROLE IF EXISTS regress_rp_unit, regress_rp_hb;
CREATE DATABASE regress_reporting;
\c regress_reporting
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2024-06-03 10:00:00+08';

CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;

SELECT register_participant('MEE', 'national_authority', pg_temp.uscc('11100000MB0134256')) AS mee,                   -- 1
       register_participant('Guangdong DEE', 'provincial_authority', pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd, -- 2
       register_participant('Hubei DEE', 'provincial_authority', pg_temp.uscc('11420000MB2C9251X'), '420000') AS hb,     -- 3
       register_participant('GD power 1', 'key_emitter', pg_temp.uscc('91440300MA5F00001'), '440000', '440300', 'power') AS u1,  -- 4
       register_participant('GD power 2', 'key_emitter', pg_temp.uscc('91440100MA5F00002'), '440000', '440100', 'power') AS u2,  -- 5
       register_participant('GD cement 3', 'key_emitter', pg_temp.uscc('91440100MA5F00003'), '440000', '440100', 'cement') AS u3, -- 6
       register_participant('HB power 4', 'key_emitter', pg_temp.uscc('91420100MA5F00004'), '420000', '420100', 'power') AS u4,  -- 7
       register_participant('HB steel 5', 'key_emitter', pg_temp.uscc('91420100MA5F00005'), '420000', '420100', 'steel') AS u5,  -- 8
       register_participant('A fund', 'institution', pg_temp.uscc('91440100MA5F00006'), '440000') AS fund;                        -- 9
SELECT open_account(2, 'allocation') AS gd_alloc, open_account(3, 'allocation') AS hb_alloc,      -- 3, 4
       open_account(4, 'holding') AS h1, open_account(5, 'holding') AS h2, open_account(6, 'holding') AS h3,  -- 5, 6, 7
       open_account(7, 'holding') AS h4, open_account(8, 'holding') AS h5, open_account(9, 'holding') AS hf;  -- 8, 9, 10
SELECT issue_cea(3, 2023, 1000000) IS NOT NULL, issue_cea(4, 2023, 500000) IS NOT NULL,
       issue_cea(3, 2024, 1000000) IS NOT NULL, issue_cea(4, 2024, 600000) IS NOT NULL;
-- 2023 allocation: u1 300,000, u2 200,000, u4 250,000 (cement and steel not covered until 2024),
-- transferred by the provinces and adopted by the allocation room as pre-allocations
SELECT count(*) AS adopted_2023 FROM adopt_preallocation(2023, ARRAY[transfer_cea(3, 5, 2023, 300000), transfer_cea(3, 6, 2023, 200000),
                                                                     transfer_cea(4, 8, 2023, 250000)]);
-- 2024 allocation: u1 320,000, u2 150,000, u3 100,000, u4 260,000, u5 200,000; the fund buys 10,000 t of 2023
SELECT count(*) AS adopted_2024 FROM adopt_preallocation(2024, ARRAY[transfer_cea(3, 5, 2024, 320000), transfer_cea(3, 6, 2024, 150000),
                                                                     transfer_cea(3, 7, 2024, 100000), transfer_cea(4, 8, 2024, 260000),
                                                                     transfer_cea(4, 9, 2024, 200000)]);
SELECT transfer_cea(5, 10, 2023, 10000) IS NOT NULL AS fund_buys;
SELECT register_ccer_project('GD-OW-0042', 'Offshore wind', 'offshore_wind', '440000'),
       register_ccer_project('FJ-FR-0007', 'Afforestation', 'afforestation', '350000'),
       issue_ccer(1, 'CCER:GD-OW-0042:2023:1-50000') IS NOT NULL, issue_ccer(1, 'CCER:FJ-FR-0007:2023:1-50000') IS NOT NULL,
       transfer_ccer(1, 5, 'GD-OW-0042', 2023, 20000) IS NOT NULL, transfer_ccer(1, 8, 'FJ-FR-0007', 2023, 20000) IS NOT NULL,
       transfer_ccer(1, 6, 'FJ-FR-0007', 2023, 5000) IS NOT NULL;
SELECT open_period(2023, '2023', 2023, 2023, '2024-12-31'), open_period(2024, '2024', 2024, 2024, '2025-12-31');
-- confirmed emissions (fixture: the MRV room's contract table, written directly)
INSERT INTO confirmed_emission (participant_id, year, emissions_t, basis, confirmed_at) VALUES
  (4, 2023, 290000, 'verified', '2024-05-30'), (5, 2023, 220000, 'verified', '2024-05-30'),
  (7, 2023, 240000, 'estimated', '2024-05-30'),
  (4, 2024, 330000, 'verified', '2025-05-30'), (5, 2024, 160000, 'verified', '2025-05-30'),
  (6, 2024, 95000, 'verified', '2025-05-30'), (7, 2024, 250000, 'verified', '2025-05-30');
  -- u5 (steel) has no confirmed 2024 emissions

-- 2023: u1 in full with 14,500 t CCER (5% of 290,000), u2 190,000 of 220,000, u4 in full with 12,000 t CCER
SELECT surrender_ccer(5, 'GD-OW-0042', 2023, 14500, 2023) IS NOT NULL, surrender_cea(5, 2023, 275500, 2023) IS NOT NULL,
       surrender_cea(6, 2023, 185000, 2023) IS NOT NULL, surrender_ccer(6, 'FJ-FR-0007', 2023, 5000, 2023) IS NOT NULL,
       surrender_ccer(8, 'FJ-FR-0007', 2023, 12000, 2023) IS NOT NULL, surrender_cea(8, 2023, 228000, 2023) IS NOT NULL;
SET carbonmkt.clock = '2025-01-06 10:00:00+08';
SELECT record_average_price('2024-12-02', 98.00, 'SEEE daily report', 1200000),
       record_average_price('2024-12-03', 102.00, 'SEEE daily report', 800000);
-- the market traded CEA2023 on 2 December (fixture rows, written directly; the market's flows
-- are tested in sql/market.sql): listed 1,000 t at 99.00 and 2,000 t at 100.00, block
-- 100,000 t at 97.00; on 3 December orders but no trade.  2 December's price is the market's:
-- 999,900,000 fen / 103,000 t = 9,708; 3 December's the reference price
BEGIN;
SET LOCAL session_replication_role = replica;     -- fixture: no orders or clearing account behind these rows
INSERT INTO product (code, instrument, vintage, reference_price_fen, clearing_account, listed_at)
VALUES ('CEA2023', 'CEA', 2023, 9500, 1, '2024-06-03 09:00+08');
INSERT INTO product_day (product_id, business_date, prev_close_fen, close_fen, closed_at)
VALUES (1, '2024-12-02', 9500, 9967, '2024-12-02 15:05+08'), (1, '2024-12-03', 9967, 9967, '2024-12-03 15:05+08');
INSERT INTO trade (product_id, mode, business_date, executed_at, price_fen, quantity, buy_order_id, sell_order_id,
                   buyer_id, seller_id, buyer_fee_fen, seller_fee_fen)
VALUES (1, 'listed', '2024-12-02', '2024-12-02 09:31+08', 9900, 1000, 1, 2, 4, 5, 0, 0),
       (1, 'listed', '2024-12-02', '2024-12-02 10:00+08', 10000, 2000, 3, 4, 4, 5, 0, 0),
       (1, 'block', '2024-12-02', '2024-12-02 14:00+08', 9700, 100000, 5, 6, 7, 5, 0, 0);
COMMIT;
-- the Decree 775 price of December 2024: (999,900,000 + 10,200 x 800,000) / 903,000 = 10,143.85 -> 10,144
SELECT * FROM _average_price('CN', '2024-12-01', '2024-12-31');
SELECT * FROM close_period(2023);
-- 2024 so far: u1 banks 4,500 t of 2023 and surrenders 300,000 t of 2024; u3 in full; the fund cancels 1,000 t
SELECT surrender_cea(5, 2023, 4500, 2024) IS NOT NULL, surrender_cea(5, 2024, 300000, 2024) IS NOT NULL,
       surrender_cea(7, 2024, 95000, 2024) IS NOT NULL, retire_cea(10, 2023, 1000) IS NOT NULL;

-- Per unit ------------------------------------------------------------------------------
SELECT period, participant_id, unit_name, province_name, sector_name, obligation_t, surrendered_t, remaining_t,
       completion_ratio, status, compliance_code
  FROM bi_compliance_status ORDER BY period, participant_id;

-- Completion: national, per province, per sector ----------------------------------------------
SELECT period, period_status, units, units_with_obligation, compliant_units, shortfall_units, open_units,
       no_emissions_units, obligation_t, surrendered_t, ccer_t, remaining_t, completion_rate, unit_completion_rate
  FROM bi_completion_by_period ORDER BY period;
SELECT period, province, province_name, units, compliant_units, shortfall_units, obligation_t, surrendered_t,
       completion_rate, unit_completion_rate
  FROM bi_completion_by_province ORDER BY period, province;
SELECT period, sector, sector_name, units, obligation_t, surrendered_t, remaining_t, completion_rate
  FROM bi_completion_by_sector ORDER BY period, sector;

-- Allowance supply per vintage: issued = unallocated + held + surrendered + cancelled ---------
SELECT * FROM bi_allowance_supply ORDER BY vintage;
-- checked against the journal itself
SELECT s.vintage, s.issued_t = j.issued AS issued_ok, s.surrendered_t = j.surrendered AS surrendered_ok,
       s.cancelled_t = j.cancelled AS cancelled_ok, s.issued_t = s.unallocated_t + s.held_t + s.surrendered_t + s.cancelled_t AS adds_up
  FROM bi_allowance_supply s
  JOIN (SELECT vintage, sum(amount) FILTER (WHERE kind = 'issue') AS issued,
               -sum(amount) FILTER (WHERE kind = 'surrender') AS surrendered,
               coalesce(-sum(amount) FILTER (WHERE kind = 'cancel'), 0) AS cancelled
          FROM journal WHERE instrument = 'CEA' GROUP BY vintage) j USING (vintage)
 ORDER BY 1;

-- The allocation source is the allocation room's allocation_result ---------------------------
SELECT count(*) AS differences FROM (
  (SELECT participant_id, year, allocated_t FROM _allocation_source
   EXCEPT SELECT participant_id, year, allocated_t FROM allocation_result)
  UNION ALL (SELECT participant_id, year, allocated_t FROM allocation_result
             EXCEPT SELECT participant_id, year, allocated_t FROM _allocation_source)) d;
-- an adjustment shows at once (no cache): u1 +12,345 t, u2 -345 t of 2024
SELECT moved_t FROM amend_allocation(4, 12345, 2024, 'correction', reference => 'rp-u1-2024');
SELECT moved_t FROM amend_allocation(5, -345, 2024, 'correction', reference => 'rp-u2-2024');
SELECT participant_id, year, allocated_t, initial_t, is_final FROM _allocation_source WHERE participant_id IN (4, 5) ORDER BY 1, 2;
SELECT participant_id, allocation_t, obligation_t, relief_reason FROM bi_compliance_status WHERE period = 2024 AND participant_id IN (4, 5) ORDER BY 1;

-- CCER use per period and project type -----------------------------------------------------
SELECT * FROM bi_ccer_use ORDER BY period, project_type;

-- Data quality from confirmed emissions ----------------------------------------------------
SELECT * FROM bi_emissions_coverage ORDER BY period, province;

-- Prices: the market's own where it traded, reference prices for the other days -----------
SELECT * FROM bi_price_history ORDER BY price_date;

-- Market statistics per day ------------------------------------------------------------------
SELECT * FROM bi_market_daily ORDER BY trade_date, product;
-- against the trade tape: volume and turnover per day
SELECT d.trade_date, d.volume_t = coalesce(t.volume, 0) AS volume_ok, d.turnover_cny = coalesce(t.turnover, 0) AS turnover_ok
  FROM bi_market_daily d
  LEFT JOIN (SELECT business_date, sum(quantity) AS volume, sum(price_fen * quantity) / 100.0 AS turnover
               FROM trade GROUP BY 1) t ON t.business_date = d.trade_date
 ORDER BY 1;

-- Every BI view is documented ------------------------------------------------------------------
SELECT c.relname, obj_description(c.oid, 'pg_class') IS NOT NULL AS commented
  FROM pg_class c WHERE c.relnamespace = 'carbonmkt'::regnamespace AND c.relkind = 'v' AND c.relname LIKE 'bi\_%'
 ORDER BY 1;
SELECT a.attname AS bi_market_daily_column_without_comment
  FROM pg_attribute a WHERE a.attrelid = 'carbonmkt.bi_market_daily'::regclass AND a.attnum > 0
   AND col_description(a.attrelid, a.attnum) IS NULL;

-- Scope: a unit's login sees its own rows, a provincial authority its province ----------
CREATE ROLE regress_rp_unit LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_rp_hb LOGIN IN ROLE carbonmkt_authority;
SELECT map_login('regress_rp_unit', 5), map_login('regress_rp_hb', 3);
SET SESSION AUTHORIZATION regress_rp_unit;
SELECT period, participant_id, status FROM bi_compliance_status ORDER BY 1, 2;
SELECT count(*) FROM bi_completion_by_province;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rp_hb;
SELECT period, province, units, obligation_t, completion_rate FROM bi_completion_by_province ORDER BY 1, 2;
SELECT period, units, completion_rate FROM bi_completion_by_period ORDER BY 1;
SELECT period, sector, units, completion_rate FROM bi_completion_by_sector ORDER BY 1, 2;
SELECT count(*) AS market_days FROM bi_market_daily;
RESET SESSION AUTHORIZATION;

\c postgres
SET client_min_messages = warning;
DROP DATABASE regress_reporting;
DROP ROLE regress_rp_unit, regress_rp_hb;
