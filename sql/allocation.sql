-- Allocation (配额分配): rule tables, facilities and production data, the C aggregates
-- and their worked examples (the same as doc/allocation.md), every "bad input" error,
-- and the runs: pre-allocation, final allocation with top-up and deduction (owed),
-- recovery, adjustments, adoption, scaling to a cap, idempotency.
-- Runs in its own database so that ids are deterministic.  Access per role:
-- sql/allocation_access.sql.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_allocation;
CREATE DATABASE regress_allocation;
\c regress_allocation
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2022-07-01 10:00:00+08';
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

-- The rules (RULES.md 3) ------------------------------------------------------------
SELECT year, category, benchmark, heat_benchmark, load_applies, cool_applies, illustrative
  FROM alloc_benchmark ORDER BY year, category;
SELECT year, fuel, coefficient FROM alloc_heat_factor ORDER BY 1, 2;
SELECT year, fuel, cooling, factor FROM alloc_cooling_factor ORDER BY 1, 2, 3;
SELECT year, lower_bound, kind, a, b, pivot, base, c, d FROM alloc_load_piece ORDER BY 1, 2;
SELECT year, rounding, preallocation_share, preallocation_basis, basis_year FROM alloc_year_rule ORDER BY 1;
SELECT year, sector, max_gap, max_surplus, illustrative FROM alloc_band ORDER BY 1, 2;

-- Parties and accounts (the registry; here the superuser) ------------------------------
SELECT register_participant('Ministry of Ecology and Environment', 'national_authority', pg_temp.uscc('11100000MB0134256')) AS mee,  -- 1
       register_participant('Guangdong Department of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd,                                                    -- 2
       register_participant('Shanghai Bureau of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11310000MB2C9251X'), '310000') AS sh,                                                    -- 3
       register_participant('Guangdong Power A (600 MW coal)', 'key_emitter', pg_temp.uscc('91440300MA5F00001'),
                            '440000', '440300', 'power') AS a,                                                                     -- 4
       register_participant('Guangdong Power B (300 MW coal)', 'key_emitter', pg_temp.uscc('91440100MA5F00002'),
                            '440000', '440100', 'power') AS b,                                                                     -- 5
       register_participant('Shanghai Gas C', 'key_emitter', pg_temp.uscc('91310000MA1F00003'), '310000', '310100', 'power') AS c,  -- 6
       register_participant('Shanghai Cement D', 'key_emitter', pg_temp.uscc('91310000MA1F00004'), '310000', '310100', 'cement') AS d, -- 7
       register_participant('Guangdong Aluminium E', 'key_emitter', pg_temp.uscc('91440100MA5F00005'),
                            '440000', '440100', 'aluminium') AS e,                                                                 -- 8
       register_participant('Everbright Carbon Fund', 'institution', pg_temp.uscc('91110000MA01ABCD3'), '110000') AS fund;          -- 9
SELECT open_account(2, 'allocation') AS gd_alloc,   -- 3
       open_account(3, 'allocation') AS sh_alloc,   -- 4
       open_account(4, 'holding') AS a_h,           -- 5
       open_account(5, 'holding') AS b_h,           -- 6
       open_account(6, 'holding') AS c_h,           -- 7
       open_account(7, 'holding') AS d_h,           -- 8
       open_account(8, 'holding') AS e_h;           -- 9

-- The rules of 2024 for worked example 5: S0 names no intensity and no band, so carbonmkt
-- ships none (doc/rules.md); the national authority loads the test's numbers (the staff
-- superuser acts for it).
SELECT set_rule('alloc_year_rule', '{"jurisdiction": "CN", "year": 2024, "rounding": "half_up"}',
                'regression test: whole tonnes, half up', acting_for => 1) AS year_rule_2024,
       set_rule('alloc_benchmark', '{"jurisdiction": "CN", "year": 2024, "category": "cement_clinker", "benchmark": 0.8600, "illustrative": true}',
                'regression test: an illustrative clinker intensity', acting_for => 1) AS cement_2024,
       set_rule('alloc_benchmark', '{"jurisdiction": "CN", "year": 2024, "category": "aluminium_smelting", "benchmark": 1.7000, "illustrative": true}',
                'regression test: an illustrative aluminium intensity', acting_for => 1) AS aluminium_2024,
       set_rule('alloc_band', '{"jurisdiction": "CN", "year": 2024, "sector": "cement", "max_gap": 0.05, "max_surplus": 0.05, "illustrative": true}',
                'regression test: a 5% band', acting_for => 1) AS band_cement_2024,
       set_rule('alloc_band', '{"jurisdiction": "CN", "year": 2024, "sector": "aluminium", "max_gap": 0.05, "max_surplus": 0.05, "illustrative": true}',
                'regression test: a 5% band', acting_for => 1) AS band_aluminium_2024;

-- Facilities (机组 / 生产线) ---------------------------------------------------------
SELECT register_facility(4, '#1', 'coal_300mw_plus', 600, 'water', 'A unit 1') AS a1,          -- 1
       register_facility(5, '#1', 'coal_300mw_below', 300, 'air', 'B unit 1') AS b1,           -- 2
       register_facility(6, 'GT1', 'gas', 400, 'water', 'C gas turbine 1') AS c1,              -- 3
       register_facility(7, 'L1', 'cement_clinker', name => 'D clinker line 1') AS d1,         -- 4
       register_facility(7, 'L2', 'cement_clinker', name => 'D clinker line 2') AS d2,         -- 5
       register_facility(8, 'P1', 'aluminium_smelting', name => 'E potline 1') AS e1;          -- 6
SELECT facility_id, participant_id, code, category, capacity_mw, cooling, status FROM facility ORDER BY 1;
-- bad facilities (CM206, CM002)
SELECT pg_temp.err($$SELECT register_facility(9, '#1', 'gas', 100, 'water')$$) AS institution;
SELECT pg_temp.err($$SELECT register_facility(4, '#2', 'cement_clinker')$$) AS other_sector;
SELECT pg_temp.err($$SELECT register_facility(4, '#2', 'coal_300mw_plus', NULL, 'water')$$) AS no_capacity;
DO $$ DECLARE d text; BEGIN
  PERFORM register_facility(4, '#2', 'coal_300mw_plus', NULL, 'water');
EXCEPTION WHEN others THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
  RAISE NOTICE '% DETAIL: %', SQLSTATE, d;       -- "Capacity missing, cooling water."
END $$;
SELECT pg_temp.err($$SELECT register_facility(4, '#2', 'coal_300mw_plus', 600)$$) AS no_cooling;
SELECT pg_temp.err($$SELECT register_facility(7, 'L3', 'cement_clinker', 50)$$) AS line_with_capacity;
SELECT pg_temp.err($$SELECT register_facility(4, '#2', 'nuclear', 1000, 'water')$$) AS unknown_category;
SELECT pg_temp.err($$SELECT register_facility(99, '#1', 'gas', 100, 'water')$$) AS unknown_participant;
SELECT count(*) AS facilities FROM facility;

-- Production data (monthly) -------------------------------------------------------------
-- Worked example 1 (doc/allocation.md): A #1, 2021, 600 MW water-cooled conventional coal.
-- Every month: 250,000 MWh supplied, 273,000 MWh generated in 35,000 operating minutes;
-- 400,000 GJ of heat supplied in Jan-Mar and Nov-Dec; total heat 2,000,000 GJ in Jan and Dec,
-- 1,600,000 GJ in the other months.
SELECT count(record_production(1, 2021, m, 250000000, 273000000, 35000,
                               CASE WHEN m IN (1, 2, 3, 11, 12) THEN 400000000 ELSE 0 END,
                               CASE WHEN m IN (1, 12) THEN 2000000000 ELSE 1600000000 END)) AS months_recorded
  FROM generate_series(1, 12) m;
-- Worked example 2: B #1, 2022 rules, 300 MW air-cooled, no heat: every month 103,000 MWh
-- supplied, 111,600 MWh generated in 36,000 minutes (600 h).
INSERT INTO production (facility_id, year, month, power_supplied_kwh, generation_kwh, operating_minutes)
SELECT 2, y, m, 103000000, 111600000, 36000 FROM generate_series(2021, 2022) y, generate_series(1, 12) m;
-- Worked example 3: C GT1, 2021, gas: 10 operating months of 80,000 MWh supplied (82,000 generated,
-- 400 h); 300,000 GJ of heat supplied in five of them; total heat 600,000 GJ per operating month.
INSERT INTO production (facility_id, year, month, power_supplied_kwh, generation_kwh, operating_minutes,
                        heat_supplied_mj, heat_total_mj)
SELECT 3, 2021, m, 80000000, 82000000, 24000, CASE WHEN m <= 5 THEN 300000000 ELSE 0 END, 600000000
  FROM generate_series(1, 10) m;
INSERT INTO production (facility_id, year, month) VALUES (3, 2021, 11), (3, 2021, 12);
-- Worked example 5: cement D (two clinker lines) and aluminium E, 2024.
INSERT INTO production (facility_id, year, month, output_t)
SELECT f, 2024, m, CASE f WHEN 4 THEN 100000 WHEN 5 THEN 50000 ELSE 20000 END
  FROM unnest(ARRAY[4, 5, 6]) f, generate_series(1, 12) m;
SELECT facility_id, year, count(*) AS months, sum(power_supplied_kwh) AS supplied_kwh, sum(generation_kwh) AS generated_kwh,
       sum(operating_minutes) AS minutes, sum(heat_supplied_mj) AS heat_mj, sum(heat_total_mj) AS heat_total_mj,
       sum(output_t) AS output_t
  FROM production GROUP BY 1, 2 ORDER BY 1, 2;

-- Bad production data: nothing is stored --------------------------------------------
SELECT pg_temp.err($$SELECT record_production(42, 2021, 1, 1, 1, 60)$$) AS unknown_facility;
SELECT pg_temp.err($$INSERT INTO production (facility_id, year, month) VALUES (42, 2021, 1)$$) AS unknown_facility_insert;
SELECT pg_temp.err($$SELECT record_production(1, 2023, 13, 1, 1, 60)$$) AS month_13;
SELECT pg_temp.err($$SELECT record_production(1, 2023, 0, 1, 1, 60)$$) AS month_0;
SELECT pg_temp.err($$SELECT record_production(1, 2004, 1, 1, 1, 60)$$) AS year_2004;
SELECT pg_temp.err($$SELECT record_production(1, 2023, 1, -5, 1, 60)$$) AS negative_supplied;
SELECT pg_temp.err($$SELECT record_production(4, 2024, 1, output_t => -1)$$) AS negative_output;
SELECT pg_temp.err($$SELECT record_production(1, 2023, 1, 2000, 1000, 60)$$) AS supplied_above_generation;
SELECT pg_temp.err($$SELECT record_production(1, 2023, 2, 1000, 1000, 40321)$$) AS minutes_beyond_february;
-- 600 MW for 60 minutes is at most 600,000 kWh
SELECT pg_temp.err($$SELECT record_production(1, 2023, 1, 1000, 600001, 60)$$) AS load_factor_above_1;
SELECT pg_temp.err($$SELECT record_production(1, 2023, 1, 1000, 1000, 0)$$) AS generation_without_operation;
SELECT pg_temp.err($$SELECT record_production(1, 2023, 1, 1000, 1000, 60, 5000, 4000)$$) AS heat_ratio_above_1;
SELECT pg_temp.err($$SELECT record_production(1, 2023, 1, output_t => 10)$$) AS unit_with_output;
SELECT pg_temp.err($$SELECT record_production(4, 2024, 1, 1000, 1000)$$) AS line_with_power;
SELECT pg_temp.err($$SELECT record_production(1, 2023, 1, NULL, 1000, 60)$$) AS null_supplied;
SELECT pg_temp.err($$SELECT record_production(4, 2024, 1, output_t => NULL, heat_total_mj => NULL)$$) AS null_output;
SELECT count(*) AS rows_2023 FROM production WHERE year = 2023;

-- Worked example 1: A #1 in 2021, factor by factor --------------------------------------
-- F = 3,276,000 MWh / (600 MW x 7,000 h) = 0.78 -> piece 0.75 <= F < 0.80:
--   F_load = 1.007 + 0.0016 x (80 - 78) = 1.0102
-- heat ratio = 2,000,000 / 20,000,000 GJ = 0.1 -> F_heat = 1 - 0.22 x 0.1 = 0.978; F_cool = 1
-- power part = 0.8218 x 3,000,000 x 1.0102 x 0.978 x 1 = 2,435,755.04424 t
-- heat part  = 0.1111 x 2,000,000 = 222,200 t
-- allowance  = 2,657,955.04424 -> 2,657,955 t (half up)
SELECT * FROM explain_allocation(1, 2021);

-- Worked example 2: B #1 with the 2022 rules, a load factor below 75%
-- F = 1,339,200 MWh / (300 MW x 7,200 h) = 0.62 -> F_load = 1.015^(16 - 20 x 0.62) = 1.015^3.6
--   = 1.05506144293133439998 (20 places; 1.0550614429313343999845...)
-- F_heat = 1 (no heat); F_cool = 1.05 (air-cooled coal)
-- allowance = 0.8729 x 1,236,000 x 1.05506144293133439998 x 1 x 1.05 = 1,195,225.9547... -> 1,195,226 t
SELECT * FROM explain_allocation(2, 2022);

-- Worked example 3: C GT1 in 2021 (gas: no F_load, no F_cool)
-- heat ratio = 1,500,000 / 6,000,000 = 0.25 -> F_heat = 1 - 0.6 x 0.25 = 0.85
-- allowance = 0.3920 x 800,000 x 0.85 + 0.0560 x 1,500,000 = 266,560 + 84,000 = 350,560 t
SELECT * FROM explain_allocation(3, 2021);

-- Worked example 4: the same unit in a year with a load factor of 0.98 (F >= 0.85: F_load = 1):
-- the aggregate called directly on made-up months (2022 rules: air-cooled, F_cool = 1.05).
SELECT (e).load_factor, (e).load_piece, (e).load_rule, (e).f_load, (e).f_cool, (e).allowance_t
  FROM (SELECT power_allowance_explain(2, 2022, m, 100000000, 117600000, 24000, 0, 0, 'CN') AS e
          FROM generate_series(1, 12) m) s;
-- 0.8729 x 1,200,000 x 1 x 1 x 1.05 = 1,099,854 t

-- Per facility and per participant
SELECT * FROM facility_allowance(2021) ORDER BY facility_id;
SELECT * FROM participant_allowance(2021) ORDER BY participant_id;
SELECT * FROM participant_allowance(2022) ORDER BY participant_id;

-- The aggregates directly: errors ---------------------------------------------------------
SELECT pg_temp.err($$SELECT power_allowance(1, 2021, m, 10, 10, 60, 0, 0, 'CN') FROM generate_series(0, 1) m$$) AS month_0;
SELECT pg_temp.err($$SELECT power_allowance(1, 2021, 13, 10, 10, 60, 0, 0, 'CN')$$) AS month_13;
SELECT pg_temp.err($$SELECT power_allowance(1, 2021, 1, -10, 10, 60, 0, 0, 'CN')$$) AS negative;
SELECT pg_temp.err($$SELECT power_allowance(1, 2021, 1, NULL, 10, 60, 0, 0, 'CN')$$) AS null_quantity;
SELECT pg_temp.err($$SELECT power_allowance(1, 2021, 1, 10, 10, -60, 0, 0, 'CN')$$) AS negative_minutes;
SELECT pg_temp.err($$SELECT power_allowance(1, 2021, 1, 20, 10, 60, 0, 0, 'CN')$$) AS supplied_above_generation;
-- annual load factor: 700,000 kWh in 60 minutes at 600 MW
SELECT pg_temp.err($$SELECT power_allowance(1, 2021, 1, 10, 700000, 60, 0, 0, 'CN')$$) AS load_factor_above_1;
SELECT pg_temp.err($$SELECT power_allowance(1, 2021, 1, 10, 10, 0, 0, 0, 'CN')$$) AS load_factor_undefined;
SELECT pg_temp.err($$SELECT power_allowance(1, 2021, 1, 10, 10, 60, 11, 10, 'CN')$$) AS heat_ratio_above_1;
SELECT pg_temp.err($$SELECT power_allowance(1, 2021, 1, 10, 10, 60, 11, 0, 'CN')$$) AS heat_ratio_undefined;
SELECT pg_temp.err($$SELECT power_allowance(1, 2021, m % 2 + 1, 10, 10, 60, 0, 0, 'CN') FROM generate_series(1, 3) m$$) AS same_month_twice;
SELECT pg_temp.err($$SELECT power_allowance(f, 2021, 1, 10, 10, 60, 0, 0, 'CN') FROM unnest(ARRAY[1, 2]) f$$) AS two_units_in_one_group;
SELECT pg_temp.err($$SELECT power_allowance(1, y, 1, 10, 10, 60, 0, 0, 'CN') FROM unnest(ARRAY[2021, 2022]) y$$) AS two_years_in_one_group;
SELECT pg_temp.err($$SELECT power_allowance(1, 2021, 1, 10, 10, 60, 0, 0, NULL)$$) AS no_jurisdiction;
SELECT pg_temp.err($$SELECT power_allowance(4, 2024, 1, 10, 10, 60, 0, 0, 'CN')$$) AS not_a_generating_unit;
SELECT pg_temp.err($$SELECT power_allowance(42, 2021, 1, 10, 10, 60, 0, 0, 'CN')$$) AS unknown_facility;
-- missing rules, each named (each removed by the national authority, retire_rule, in a
-- transaction that is rolled back)
SELECT pg_temp.err($$SELECT power_allowance(1, 2023, 1, 10, 10, 60, 0, 0, 'CN')$$) AS no_benchmark;
SELECT pg_temp.err($$SELECT power_allowance(1, 2021, 1, 10, 10, 60, 0, 0, 'XX')$$) AS other_jurisdiction;
BEGIN;
SELECT retire_rule('alloc_heat_factor', '{"jurisdiction": "CN", "year": 2021, "fuel": "coal"}', 'regression test: a missing rule', acting_for => 1) IS NULL AS removed;
SELECT pg_temp.err($$SELECT * FROM facility_allowance(2021)$$) AS no_heat_coefficient;
ROLLBACK;
BEGIN;
SELECT retire_rule('alloc_cooling_factor', '{"jurisdiction": "CN", "year": 2021, "fuel": "coal", "cooling": "air"}', 'regression test: a missing rule', acting_for => 1) IS NULL AS removed;
SELECT pg_temp.err($$SELECT * FROM facility_allowance(2021)$$) AS no_cooling_factor;
ROLLBACK;
BEGIN;
-- (the curve's pieces from the top: each remaining curve must still start at 0)
SELECT count(retire_rule('alloc_load_piece', jsonb_build_object('jurisdiction', 'CN', 'year', 2021, 'lower_bound', l.lower_bound),
                         'regression test: a missing rule', acting_for => 1) IS NULL) AS removed
  FROM (SELECT lower_bound FROM alloc_load_piece WHERE jurisdiction = 'CN' AND year = 2021 ORDER BY lower_bound DESC) l;
SELECT pg_temp.err($$SELECT * FROM facility_allowance(2021)$$) AS no_load_piece;
ROLLBACK;
BEGIN;
SELECT amend_rule('alloc_benchmark', '{"jurisdiction": "CN", "year": 2021, "category": "coal_300mw_plus"}',
                  '{"heat_benchmark": null}', 'regression test: a missing rule', acting_for => 1) ->> 'heat_benchmark' AS heat_benchmark;
SELECT pg_temp.err($$SELECT * FROM facility_allowance(2021)$$) AS no_heat_benchmark;
ROLLBACK;
BEGIN;
SELECT retire_rule('alloc_year_rule', '{"jurisdiction": "CN", "year": 2021}', 'regression test: a missing rule', acting_for => 1) IS NULL AS removed;
SELECT pg_temp.err($$SELECT * FROM facility_allowance(2021)$$) AS no_rounding;
SELECT pg_temp.err($$SELECT * FROM explain_allocation(1, 2021)$$) AS no_rounding_explain;
ROLLBACK;
-- a year without power benchmarks: the run's check and the aggregate name the category and year
SELECT record_production(1, 2024, 1, 1000, 2000, 60) IS NULL AS recorded;
SELECT pg_temp.err($$SELECT * FROM explain_allocation(1, 2024)$$) AS explain_2024;
SELECT pg_temp.err($$SELECT * FROM facility_allowance(2024)$$) AS aggregate_2024;
DELETE FROM production WHERE facility_id = 1 AND year = 2024;
SELECT pg_temp.err($$SELECT * FROM explain_allocation(1, 2022)$$) AS no_data;
SELECT pg_temp.err($$SELECT * FROM explain_allocation(42, 2021)$$) AS unknown_facility;

-- Window use: year-to-date and moving frames --------------------------------------------
-- A #1's allowance as the months of 2021 come in (the load factor and heat ratio so far)
SELECT month, power_allowance(facility_id, year, month, power_supplied_kwh, generation_kwh, operating_minutes,
                              heat_supplied_mj, heat_total_mj, 'CN') OVER (ORDER BY month) AS year_to_date_t
  FROM production WHERE facility_id = 1 AND year = 2021 ORDER BY month;
-- a moving frame (inverse transition) gives what a fresh aggregate over the same rows gives
SELECT bool_and(w.moving = (SELECT power_allowance(y.facility_id, y.year, y.month, y.power_supplied_kwh, y.generation_kwh,
                                                   y.operating_minutes, y.heat_supplied_mj, y.heat_total_mj, 'CN')
                              FROM production y
                             WHERE y.facility_id = 3 AND y.year = 2021 AND y.month BETWEEN w.month - 2 AND w.month))
       AS moving_equals_fresh, count(*) AS frames
  FROM (SELECT month, power_allowance(facility_id, year, month, power_supplied_kwh, generation_kwh, operating_minutes,
                                      heat_supplied_mj, heat_total_mj, 'CN')
                        OVER (ORDER BY month ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS moving
          FROM production WHERE facility_id = 3 AND year = 2021) w;
-- benchmark x output, year to date and over a 3-month moving frame, for clinker line D L1
SELECT month, benchmark_allowance(month, output_t, 0.86, 'half_up') OVER (ORDER BY month) AS ytd_t,
       benchmark_allowance(month, output_t, 0.86, 'half_up') OVER (ORDER BY month ROWS 2 PRECEDING) AS three_months_t
  FROM production WHERE facility_id = 4 AND year = 2024 ORDER BY month LIMIT 4;

-- benchmark_allowance: rounding once, by the rule; errors
SELECT benchmark_allowance(m, 3, 0.1667, 'half_up') AS half_up, benchmark_allowance(m, 3, 0.1667, 'down') AS down,
       benchmark_allowance(m, 3, 0.1667, 'up') AS up
  FROM generate_series(1, 3) m;   -- 9 x 0.1667 = 1.5003 t
SELECT benchmark_allowance(m, 1, b, 'half_up') AS ten_distinct_benchmarks   -- beyond the state's slots: exact fold
  FROM generate_series(1, 10) m, LATERAL (SELECT 0.11 * m AS b) s;         -- 0.11 x 55 = 6.05 -> 6
SELECT pg_temp.err($$SELECT benchmark_allowance(1, 3, 0.5, 'nearest')$$) AS unknown_rounding;
SELECT pg_temp.err($$SELECT benchmark_allowance(1, 3, NULL, 'half_up')$$) AS no_benchmark;
SELECT pg_temp.err($$SELECT benchmark_allowance(1, 3, -0.5, 'half_up')$$) AS negative_benchmark;
SELECT pg_temp.err($$SELECT benchmark_allowance(m, 3, 0.5, CASE m WHEN 1 THEN 'up' ELSE 'down' END) FROM generate_series(1, 2) m$$) AS two_rounding_rules;

-- Parallel aggregation (combine, serialise, deserialise) gives the serial result ----------
-- 500 groups of 12 made-up months, each of generating unit 1, 2 or 3 (2021 rules)
CREATE TABLE many AS
SELECT (i % 500) AS unit, 1 + (i % 500) % 3 AS facility, 1 + i / 500 AS month,
       100000 + (i * 7919) % 50000 AS supplied, 160000 AS generated, (i * 31) % 7 AS output
  FROM generate_series(0, 5999) i;
ANALYZE many;
CREATE TEMP TABLE serial_result AS
SELECT unit, power_allowance(facility, 2021, month, supplied, generated, 600, supplied / 10, supplied, 'CN') AS p,
       benchmark_allowance(month, output, 0.8 + unit % 3 * 0.05, 'half_up') AS b
  FROM many GROUP BY unit;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT unit, power_allowance(facility, 2021, month, supplied, generated, 600, supplied / 10, supplied, 'CN')
  FROM many GROUP BY unit;
SELECT count(*) AS units, bool_and(s.p = q.p) AS power_equal, bool_and(s.b = q.b) AS benchmark_equal
  FROM serial_result s
  JOIN (SELECT unit, power_allowance(facility, 2021, month, supplied, generated, 600, supplied / 10, supplied, 'CN') AS p,
               benchmark_allowance(month, output, 0.8 + unit % 3 * 0.05, 'half_up') AS b
          FROM many GROUP BY unit) q USING (unit);
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather; RESET parallel_leader_participation;

-- Confirmed emissions (经确认排放量): TEST FIXTURE -------------------------------------
-- The MRV room writes carbonmkt.confirmed_emission; this test inserts its rows directly.
INSERT INTO confirmed_emission (participant_id, year, emissions_t, basis, confirmed_at) VALUES
  (4, 2021, 2800001, 'verified', '2022-06-30 12:00+08'),   -- A
  (5, 2021, 1900000, 'verified', '2022-06-30 12:00+08'),   -- B
  (7, 2024, 1700000, 'verified', '2025-06-30 12:00+08'),   -- D cement
  (8, 2024, 400000, 'verified', '2025-06-30 12:00+08');    -- E aluminium
-- (C, the gas unit, has no 2021 confirmed emissions: no pre-allocation basis)

-- Worked example 5: the performance method (cement, aluminium), 2024 ------------------------
-- D: (1,200,000 + 600,000) t clinker x 0.86 = 1,548,000 t; confirmed 1,700,000 t; band 5%:
--    [1,615,000, 1,785,000] -> raised to 1,615,000 t (the gap is kept at 5%)
-- E: 240,000 t x 1.7 = 408,000 t; confirmed 400,000 t -> inside [380,000, 420,000]: 408,000 t
SELECT * FROM explain_allocation(4, 2024);
SELECT * FROM explain_allocation(6, 2024);
SELECT * FROM participant_allowance(2024) WHERE method = 'performance' ORDER BY participant_id;
-- a surplus beyond the band is cut: were E's confirmed emissions 380,000 t, its upper limit would be
-- 399,000 t and its 408,000 t cut to it
BEGIN;
-- fixture only: step around the MRV room's immutability guard inside this rolled-back block
SET LOCAL session_replication_role = replica;
UPDATE confirmed_emission SET emissions_t = 380000 WHERE participant_id = 8 AND year = 2024;
SELECT step, item, value, rule FROM explain_allocation(6, 2024) WHERE step >= 5;
ROLLBACK;
-- errors
SELECT pg_temp.err($$SELECT performance_allowance(p, 2024, 1, 100, 'cement_clinker', 'CN') FROM unnest(ARRAY[7, 8]) p$$) AS two_participants_in_one_group;
SELECT pg_temp.err($$SELECT performance_allowance(4, 2024, 1, 100, 'cement_clinker', 'CN')$$) AS not_a_performance_unit;
SELECT pg_temp.err($$SELECT performance_allowance(7, 2024, 1, 100, NULL, 'CN')$$) AS no_category;
SELECT pg_temp.err($$SELECT performance_allowance(7, 2024, 1, -100, 'cement_clinker', 'CN')$$) AS negative_output;
BEGIN;
SET LOCAL session_replication_role = replica;  -- fixture only, as above
DELETE FROM confirmed_emission WHERE participant_id = 8 AND year = 2024;
SELECT pg_temp.err($$SELECT * FROM participant_allowance(2024) WHERE participant_id = 8$$) AS no_confirmed;
SELECT pg_temp.err($$SELECT * FROM explain_allocation(6, 2024)$$) AS no_confirmed_explain;
SELECT participant_id, allowance_t FROM participant_allowance(2024, skip_unconfirmed => true) ORDER BY 1;
ROLLBACK;
BEGIN;
SELECT retire_rule('alloc_band', '{"jurisdiction": "CN", "year": 2024, "sector": "aluminium"}', 'regression test: a missing rule', acting_for => 1) IS NULL AS removed;
SELECT pg_temp.err($$SELECT * FROM participant_allowance(2024)$$) AS no_band;
ROLLBACK;
BEGIN;
SELECT retire_rule('alloc_benchmark', '{"jurisdiction": "CN", "year": 2024, "category": "aluminium_smelting"}', 'regression test: a missing rule', acting_for => 1) IS NULL AS removed;
SELECT pg_temp.err($$SELECT * FROM participant_allowance(2024)$$) AS no_benchmark;
SELECT pg_temp.err($$SELECT * FROM explain_allocation(6, 2024)$$) AS no_benchmark_explain;
ROLLBACK;

-- Scaling to a cap (总量控制): largest remainder, ties by id ---------------------------------
-- quotas 166.67, 333.33, 500 -> floors 166, 333, 500 (999 t); the last tonne to the largest remainder (id 1)
SELECT * FROM scale_to_cap(1000, ARRAY[1, 2, 3]::bigint[], ARRAY[100, 200, 300]);
SELECT * FROM scale_to_cap(2, ARRAY[3, 1, 2]::bigint[], ARRAY[1, 1, 1]);     -- ties: ids 1 and 2 get the tonnes
SELECT * FROM scale_to_cap(0, ARRAY[1, 2]::bigint[], ARRAY[5, 7]);
SELECT sum(scaled) AS total, min(scaled), max(scaled)
  FROM scale_to_cap(123456789, ARRAY(SELECT i FROM generate_series(1, 997) i), ARRAY(SELECT (i * 7919) % 104729 FROM generate_series(1, 997) i));
SELECT pg_temp.err($$SELECT * FROM scale_to_cap(-1, ARRAY[1]::bigint[], ARRAY[1])$$) AS negative_cap;
SELECT pg_temp.err($$SELECT * FROM scale_to_cap(10, ARRAY[1, 2]::bigint[], ARRAY[0, 0])$$) AS nothing_to_scale;
SELECT pg_temp.err($$SELECT * FROM scale_to_cap(10, ARRAY[1, 1]::bigint[], ARRAY[1, 2])$$) AS duplicate_id;
SELECT pg_temp.err($$SELECT * FROM scale_to_cap(10, ARRAY[1, 2]::bigint[], ARRAY[1, -2])$$) AS negative_amount;
SELECT pg_temp.err($$SELECT * FROM scale_to_cap(10, ARRAY[1, 2]::bigint[], ARRAY[1])$$) AS lengths_differ;

-- Pre-allocation 2021: 70% of the 2021 verified emissions --------------------------------
-- A: 0.70 x 2,800,001 = 1,960,000.7 -> 1,960,001 t; B: 1,330,000 t; C: no basis
SELECT * FROM preallocate(2021, preview => true);
SELECT count(*) AS postings_after_preview FROM posting;
SELECT * FROM preallocate(2021, province => '440000');
SELECT * FROM preallocate(2021);            -- Guangdong already done; Shanghai's C has no basis
SELECT count(*) AS postings_before FROM posting \gset
SELECT * FROM preallocate(2021);            -- nothing twice
SELECT count(*) - :postings_before AS new_postings FROM posting;
SELECT pg_temp.err($$SELECT * FROM preallocate(2024)$$) AS no_rule_2024;
SELECT pg_temp.err($$SELECT * FROM preallocate(2021, province => '990000')$$) AS unknown_province;
SELECT account_id, asset, balance FROM account_balance ORDER BY 1, 2;

-- Before the true-up, B sells 1,250,000 t of its 2021 allowances to A
SELECT transfer_cea(6, 5, 2021, 1250000) IS NOT NULL AS b_sold;

-- Final allocation 2021 and the true-up --------------------------------------------------
-- A: final 2,657,955 - pre 1,960,001 = top-up 697,954
-- B: final 1,201,251 (2021 rules: 0.8773 x 1,236,000 x 1.015^3.6 x 1 x 1.05) - pre 1,330,000
--    = deduction 128,749; B holds 80,000: 80,000 taken back, 48,749 owed
-- C: final 350,560, no pre-allocation: top-up 350,560
SELECT * FROM finalize_allocation(2021, preview => true);
SELECT * FROM finalize_allocation(2021);
SELECT count(*) AS postings_before FROM posting \gset
SELECT participant_id, status FROM finalize_allocation(2021);    -- nothing twice
SELECT count(*) - :postings_before AS new_postings FROM posting;
SELECT participant_id, year, kind, entitlement_t, moved_t, owed_t, registry_posting IS NOT NULL AS posted
  FROM allocation_posting ORDER BY entry_id;
SELECT * FROM allocation_result ORDER BY participant_id, year;
SELECT account_id, asset, balance FROM account_balance ORDER BY 1, 2;
-- production data of a final year can no longer change
SELECT pg_temp.err($$SELECT record_production(1, 2021, 1, 250000000, 273000000, 35000, 400000000, 2000000000)$$) AS frozen;

-- Owed tonnes are taken back when B holds CEA 2021 again
SELECT * FROM recover_owed(5, 2021);        -- B holds nothing: nothing recovered
SELECT transfer_cea(5, 6, 2021, 60000) IS NOT NULL AS a_returns_60000;
SELECT * FROM recover_owed(5, 2021);
SELECT * FROM allocation_result WHERE participant_id = 5;

-- Adjustments (S1 Art. 15): recorded postings with a reason, idempotent per reference ------
SELECT * FROM amend_allocation(6, -50000, 2021, 'closure', reference => 'gd-2021-c-closure', memo => 'GT1 closed 2021-12-01');
SELECT * FROM amend_allocation(6, -50000, 2021, 'closure', reference => 'gd-2021-c-closure', memo => 'GT1 closed 2021-12-01');   -- replay
-- the name and argument order of 0.1.0 (year before tonnes), with a notice: the same adjustment, a replay
SELECT * FROM adjust_allocation(6, 2021, -50000, 'closure', 'gd-2021-c-closure', 'GT1 closed 2021-12-01');
SELECT * FROM amend_allocation(4, 1000, 2021, 'capacity_change', reference => 'gd-2021-a-uprate');
SELECT pg_temp.err($$SELECT * FROM amend_allocation(4, 2000, 2021, 'capacity_change', reference => 'gd-2021-a-uprate')$$) AS reference_reused;
SELECT pg_temp.err($$SELECT * FROM amend_allocation(4, 2000, 2021, 'bonus', reference => 'x1')$$) AS unknown_reason;
SELECT pg_temp.err($$SELECT * FROM amend_allocation(4, 0, 2021, 'correction', reference => 'x2')$$) AS zero;
SELECT pg_temp.err($$SELECT * FROM amend_allocation(4, 5, 2021, 'correction', reference => NULL)$$) AS no_reference;
SELECT pg_temp.err($$SELECT * FROM amend_allocation(4, -9999999, 2021, 'correction', reference => 'x3')$$) AS below_zero;
SELECT pg_temp.err($$SELECT * FROM amend_allocation(9, 5, 2021, 'correction', reference => 'x4')$$) AS not_a_unit;
SELECT change_facility(3, 'closure', '2021-12-01', memo => 'GT1 closed') AS event;
SELECT facility_id, kind, effective_on, old_value, new_value, memo FROM facility_event ORDER BY event_id;
SELECT * FROM allocation_result ORDER BY participant_id, year;

-- Adoption of a registry posting made before the allocation room ----------------------------
SELECT issue_cea(3, 2025, 1000) IS NOT NULL AS issued, transfer_cea(3, 5, 2025, 700) AS legacy_posting \gset
SELECT * FROM adopt_preallocation(2025, ARRAY[:legacy_posting]::bigint[]);
SELECT pg_temp.err(format('SELECT * FROM adopt_preallocation(2025, ARRAY[%s]::bigint[])', :legacy_posting)) AS twice;
SELECT pg_temp.err($$SELECT * FROM adopt_preallocation(2025, ARRAY[1]::bigint[])$$) AS not_a_transfer;

-- 2022: pre-allocation (70% of 2021 verified), then a national final allocation scaled to a cap
INSERT INTO production (facility_id, year, month, power_supplied_kwh, generation_kwh, operating_minutes, heat_supplied_mj, heat_total_mj)
SELECT facility_id, 2022, month, power_supplied_kwh, generation_kwh, operating_minutes, heat_supplied_mj, heat_total_mj
  FROM production WHERE facility_id IN (1, 3) AND year = 2021;
-- The compliance room's reductions of 2022 (allocation_adjustment, RULES.md 6): the runs
-- issue net of them.  Fixture (rolled back): B borrowed 100,000 t of 2022 for its 2021
-- obligation (the compliance room moved them from Guangdong's allocation account) and A
-- was cut 60,000 t for a 2021 shortfall; the rows are written as the compliance room
-- writes them (its flows and foreign keys are tested in sql/compliance.sql).
BEGIN;
SELECT issue_cea(3, 2022, 100000) IS NOT NULL AS lent, transfer_cea(3, 6, 2022, 100000) IS NOT NULL AS b_borrowed;
SET LOCAL session_replication_role = replica;   -- no compliance period 2021 here: skip its foreign keys
INSERT INTO allocation_adjustment (participant_id, year, tonnes, reason, period, borrowing_id, sanction_id, recorded_at, recorded_by)
VALUES (5, 2022, 100000, 'borrowing', 2021, 1, NULL, '2022-06-30 10:00+08', 'fixture'),
       (4, 2022, 60000, 'penalty_cut', 2021, NULL, 1, '2022-06-30 10:00+08', 'fixture');
SET LOCAL session_replication_role = origin;
-- before any run: the reductions wait (pending_t); B already holds what it borrowed
SELECT participant_id, year, allocated_t, borrowed_t, penalty_cut_t, adjustment_t, entitlement_t, issued_t, pending_t
  FROM allocation_result WHERE year = 2022 ORDER BY 1;
-- pre-allocation 70% of 2021: A 1,960,001 - cut 60,000 = 1,900,001 issued; B 1,330,000 - borrowed 100,000 = 1,230,000
SELECT participant_id, tonnes, status FROM preallocate(2022);
SELECT participant_id, kind, entitlement_t, moved_t, owed_t, memo FROM allocation_posting WHERE year = 2022 ORDER BY entry_id;
-- final allocation scaled to the cap (A 2,525,496, B 1,141,396, C 333,108): the true-ups need no new netting
SELECT set_rule('alloc_cap', '{"jurisdiction": "CN", "year": 2022, "sector": "power", "cap_t": 4000000}', 'regression test cap',
                acting_for => 1) AS cap_set;
SELECT participant_id, final_t, preallocated_t, topup_t, deducted_t, owed_t, status FROM finalize_allocation(2022);
SELECT participant_id, year, preallocated_t, final_t, allocated_t, borrowed_t, penalty_cut_t, entitlement_t, issued_t,
       owed_t, pending_t, is_final
  FROM allocation_result WHERE year = 2022 ORDER BY 1;
-- A corrects its 2021 shortfall after the close: the compliance room withdraws the cut, the
-- final year is settled by a posting of kind compliance (A gets its 60,000 t back)
SET LOCAL session_replication_role = replica;
UPDATE allocation_adjustment SET withdrawn_t = 60000, withdrawn_at = '2022-07-01 10:00+08', withdrawn_by = 'fixture'
 WHERE participant_id = 4 AND year = 2022;
SET LOCAL session_replication_role = origin;
SELECT participant_id, pending_t FROM allocation_result WHERE year = 2022 AND pending_t <> 0;
SELECT participant_id, pending_t, moved_t, owed_t FROM settle_allocation_adjustments(2022);
SELECT count(*) AS nothing_left FROM settle_allocation_adjustments(2022);
SELECT participant_id, entitlement_t, issued_t, owed_t, pending_t,
       issued_t - owed_t + pending_t = entitlement_t AS balanced
  FROM allocation_result WHERE year = 2022 ORDER BY 1;
SELECT account_id, asset, balance FROM account_balance WHERE asset = 'CEA 2022' ORDER BY 1;
ROLLBACK;

SELECT participant_id, tonnes, status FROM preallocate(2022);
SELECT set_rule('alloc_cap', '{"jurisdiction": "CN", "year": 2022, "sector": "power", "cap_t": 4000000}', 'regression test cap',
                acting_for => 1) AS cap_set;
SELECT pg_temp.err($$SELECT * FROM finalize_allocation(2022, province => '440000')$$) AS capped_sector_by_province;
SELECT participant_id, computed_t, final_t, preallocated_t, topup_t, deducted_t, owed_t, status FROM finalize_allocation(2022);
SELECT sum(tonnes) AS final_2022_total, sum(computed_t) AS computed_2022_total
  FROM allocation WHERE year = 2022 AND stage = 'final';
SELECT participant_id, basis FROM allocation WHERE year = 2022 AND stage = 'final' ORDER BY 1;

-- Runs are recorded: who, when, inputs digest, rule versions ---------------------------------
SELECT run_id, kind, year, province, initiator, initiator_participant, business_date, participants, issued_t, returned_t,
       owed_t, skipped, length(inputs_digest) AS digest_bytes, rules_digest = sha256(convert_to(rules::text, 'UTF8')) AS rules_digest_ok
  FROM allocation_run ORDER BY run_id;
SELECT jsonb_array_length(rules -> 'benchmark') AS benchmarks, rules -> 'year_rule' ->> 'preallocation_share' AS share,
       jsonb_array_length(rules -> 'load_piece') AS load_pieces
  FROM allocation_run WHERE run_id = 1;
-- the same inputs give the same digest
SELECT count(DISTINCT inputs_digest) AS distinct_digests FROM allocation_run WHERE kind = 'final' AND year = 2021;

-- Invariants: issued - owed = entitlement, nothing negative, the ledger verifies ---------------
SELECT bool_and(issued_t - owed_t + pending_t = entitlement_t) AS issued_minus_owed_is_entitlement,
       bool_and(pending_t = 0) AS nothing_pending,
       bool_and(owed_t >= 0) AS owed_not_negative FROM allocation_result;
SELECT count(*) AS negative_balances FROM holding WHERE balance < 0;
SELECT pg_temp.err($$UPDATE allocation SET tonnes = 1 WHERE participant_id = 4$$) AS append_only;
SELECT pg_temp.err($$DELETE FROM allocation_posting$$) AS append_only_postings;
SELECT * FROM verify_ledger();

-- CM211: a participant without an open holding account (nothing can be taken back from it)
SELECT pg_temp.err(format('SELECT recover_owed(%s, 2021)',
       register_participant('Guangdong Power Z (no account yet)', 'key_emitter', pg_temp.uscc('91440300MA5F00099'),
                            '440000', '440300', 'power'))) AS no_holding_account;

\c postgres
SET client_min_messages = warning;
DROP DATABASE regress_allocation;
