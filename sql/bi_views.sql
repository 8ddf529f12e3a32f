-- The BI views of issue 18 (doc/bi.md): positions, cash, holder concentration, trading activity,
-- CCER supply, voluntary cancellations, penalties, the monthly market summary, data quality,
-- the as-of time; who sees which rows; every bi_* view and column documented.  The market of
-- sql/reporting.sql (two provinces, five units, 2023 closed, 2024 open), in its own database.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_bi_views;
DROP ROLE IF EXISTS regress_bv_unit, regress_bv_fund, regress_bv_hb;
CREATE DATABASE regress_bi_views;
\c regress_bi_views
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
-- the fund buys 2,000 t of CCER and cancels 500 t of it; unit 4 pledges 2,000 t of 2024;
-- cash: the fund deposits 1,234,567.89 CNY
SELECT open_account(9, 'cash') AS fund_cash;                                                    -- 11
SELECT transfer_ccer(1, 10, 'GD-OW-0042', 2023, 2000) IS NOT NULL, retire_ccer(10, 'GD-OW-0042', 2023, 500, 'bv-c2', 'neutral event') IS NOT NULL,
       hold(5, 'CEA', 2000, 'pledge', 2024) IS NOT NULL, deposit_cny(11, 123456789) IS NOT NULL;

-- Positions: per participant and asset, with names; CNY apart --------------------------------
SELECT participant_id, participant_name, participant_kind, province_name, sector_name, account_kind, instrument, vintage,
       project, balance_t, held_t, available_t
  FROM bi_positions ORDER BY participant_id, account_kind, instrument, vintage, project;
-- every non-zero CEA/CCER holding of a participant's account is in it, nothing else
SELECT (SELECT sum(balance_t) FROM bi_positions) = (SELECT sum(h.balance) FROM holding h JOIN account a USING (account_id)
                                                      WHERE a.participant_id IS NOT NULL AND h.instrument <> 'CNY') AS positions_complete,
       (SELECT count(*) FROM bi_positions WHERE instrument NOT IN ('CEA', 'CCER')) AS cny_rows;
SELECT participant_id, participant_name, account_kind, balance_fen, balance_cny, held_cny, available_cny FROM bi_cash_positions ORDER BY 1, 3;
SELECT * FROM bi_positions_by_province ORDER BY province, instrument, vintage;
SELECT * FROM bi_positions_by_sector ORDER BY sector NULLS LAST, instrument, vintage;

-- Concentration per instrument and vintage over the holding accounts
SELECT * FROM bi_holder_concentration ORDER BY instrument, vintage;
-- checked by hand from the holdings: shares and the HHI of CEA 2024
WITH h AS (SELECT a.participant_id, sum(h.balance) AS b FROM holding h JOIN account a USING (account_id)
            WHERE a.kind = 'holding' AND h.instrument = 'CEA' AND h.vintage = 2024 AND h.balance > 0 GROUP BY 1)
SELECT c.holders = (SELECT count(*) FROM h) AS holders_ok,
       c.largest_t = (SELECT max(b) FROM h) AS largest_ok,
       c.top1_share = round((SELECT max(b) FROM h) / (SELECT sum(b) FROM h), 4) AS top1_ok,
       c.hhi = round((SELECT sum((100.0 * b / (SELECT sum(b) FROM h)) ^ 2) FROM h), 1) AS hhi_ok,
       c.top10_share = 1 AS all_in_top10
  FROM bi_holder_concentration c WHERE c.instrument = 'CEA' AND c.vintage = 2024;

-- Trading activity: per participant and month, per sector --------------------------------------
SELECT participant_id, participant_name, sector_name, month, instrument, trades, bought_t, sold_t, net_t, bought_cny, sold_cny,
       fees_cny, listed_t, block_t, auction_t, first_trade_date, last_trade_date
  FROM bi_trading_activity ORDER BY participant_id, month;
SELECT * FROM bi_trading_by_sector ORDER BY month, sector NULLS LAST;
-- bought = sold = the tape
SELECT (SELECT sum(bought_t) FROM bi_trading_activity) = (SELECT sum(quantity) FROM trade) AS bought_ok,
       (SELECT sum(sold_t) FROM bi_trading_activity) = (SELECT sum(quantity) FROM trade) AS sold_ok,
       (SELECT sum(bought_t) FROM bi_trading_by_sector) = (SELECT sum(quantity) FROM trade) AS sector_ok;

-- CCER supply per project: issued = reserve + held + surrendered + cancelled ----------------
SELECT * FROM bi_ccer_supply ORDER BY project;
SELECT s.project, s.issued_t = s.reserve_t + s.held_t + s.surrendered_t + s.cancelled_t AS adds_up,
       s.issued_t = j.issued AS issued_ok, s.cancelled_t = j.cancelled AS cancelled_ok
  FROM bi_ccer_supply s
  JOIN (SELECT project, sum(amount) FILTER (WHERE kind = 'issue') AS issued,
               coalesce(-sum(amount) FILTER (WHERE kind = 'cancel'), 0) AS cancelled
          FROM journal WHERE instrument = 'CCER' GROUP BY project) j USING (project)
 ORDER BY 1;

-- Voluntary cancellations, penalties ----------------------------------------------------------
SELECT participant_id, participant_name, instrument, vintage, project, project_type, tonnes, memo
  FROM bi_voluntary_cancellations ORDER BY entry_id;
SELECT * FROM bi_penalties ORDER BY period, province;
SELECT (SELECT sum(fine_fen) FROM bi_penalties) = (SELECT sum(fine_fen) FROM sanction) AS fines_ok,
       (SELECT sum(shortfall_t) FROM bi_penalties) = (SELECT sum(shortfall_t) FROM sanction) AS shortfall_ok;

-- Monthly market summary: the sums of the days -----------------------------------------------
SELECT * FROM bi_market_monthly ORDER BY month, product;
SELECT m.month, m.volume_t = d.v AS volume_ok, m.turnover_cny = d.t AS turnover_ok, m.close_cny = d.last_close AS close_ok
  FROM bi_market_monthly m
  JOIN (SELECT date_trunc('month', trade_date)::date AS month, product, sum(volume_t) AS v, sum(turnover_cny) AS t,
               (array_agg(close_cny ORDER BY trade_date DESC))[1] AS last_close
          FROM bi_market_daily GROUP BY 1, 2) d USING (month, product)
 ORDER BY 1;

-- Data quality, as-of --------------------------------------------------------------------------
-- no unit of this market has a monitoring plan: every covered unit is "no plan", every year
-- that is over "not filed"
SELECT * FROM bi_data_quality ORDER BY province, year;
SELECT as_of = clock_now() AS as_of_is_the_clock, replica, business_date, database = current_database() AS database_ok FROM bi_as_of;

-- Every bi_* view and every column is documented ---------------------------------------------
SELECT c.relname AS view_without_comment FROM pg_class c
 WHERE c.relnamespace = 'carbonmkt'::regnamespace AND c.relkind = 'v' AND c.relname LIKE 'bi\_%'
   AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT c.relname, a.attname AS column_without_comment
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'carbonmkt'::regnamespace AND c.relkind = 'v'
   AND c.relname IN ('bi_positions', 'bi_cash_positions', 'bi_positions_by_province', 'bi_positions_by_sector',
                     'bi_holder_concentration', 'bi_trading_activity', 'bi_trading_by_sector', 'bi_ccer_supply',
                     'bi_voluntary_cancellations', 'bi_penalties', 'bi_market_monthly', 'bi_data_quality', 'bi_as_of',
                     'bi_market_daily')
   AND col_description(c.oid, a.attnum) IS NULL
 ORDER BY 1, 2;

-- Who sees what: a unit's login its own rows, and no aggregate; a provincial authority its
-- province; the fund's login its own trades, positions and cancellations -----------------------
CREATE ROLE regress_bv_unit LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_bv_fund LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_bv_hb LOGIN IN ROLE carbonmkt_authority;
SELECT map_login('regress_bv_unit', 4), map_login('regress_bv_fund', 9), map_login('regress_bv_hb', 3);
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN EXECUTE q; RETURN 'no error'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
SET SESSION AUTHORIZATION regress_bv_unit;
SELECT DISTINCT participant_id FROM bi_positions;
SELECT DISTINCT participant_id FROM bi_trading_activity;
SELECT count(*) AS cancellations_seen FROM bi_voluntary_cancellations;
SELECT pg_temp.err('SELECT * FROM carbonmkt.bi_holder_concentration') AS unit_reads_concentration,
       pg_temp.err('SELECT * FROM carbonmkt.bi_positions_by_province') AS unit_reads_by_province,
       pg_temp.err('SELECT * FROM carbonmkt.bi_penalties') AS unit_reads_penalties;
SELECT count(*) > 0 AS unit_reads_market FROM bi_market_monthly;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_bv_fund;
SELECT DISTINCT participant_id FROM bi_positions UNION ALL SELECT DISTINCT participant_id FROM bi_cash_positions;
SELECT participant_id, tonnes FROM bi_voluntary_cancellations ORDER BY entry_id;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_bv_hb;
SELECT DISTINCT province FROM bi_positions ORDER BY 1;
SELECT DISTINCT province FROM bi_trading_activity ORDER BY 1;
-- its province's participants only (the sums kept per sector serve a caller who sees everyone)
SELECT * FROM bi_trading_by_sector ORDER BY month, sector NULLS LAST;
SELECT province, instrument, vintage, holders, balance_t FROM bi_positions_by_province ORDER BY 1, 2, 3;
RESET SESSION AUTHORIZATION;

\c postgres
SET client_min_messages = warning;
DROP DATABASE regress_bi_views;
DROP ROLE regress_bv_unit, regress_bv_fund, regress_bv_hb;
