-- Rules (规则管理): one jurisdiction vocabulary, the administration of the rule tables with
-- validation, authorisation and history, the trading calendar as data, rules bounded to
-- their sources (relief 2019-2022), and the compliance fixes (gas status from the
-- facilities, pending obligations, the capped sector naming who is not computed).
-- Numbers from RULES.md: the 20% gap cap, the 5% offset cap, B_power 0.8218 (2021).
-- Own database for deterministic ids.  doc/rules.md.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_rules;
DROP ROLE IF EXISTS regress_rules_mee;
DROP ROLE IF EXISTS regress_rules_gd;
DROP ROLE IF EXISTS regress_rules_ex;
DROP ROLE IF EXISTS regress_rules_unit;
CREATE DATABASE regress_rules;
\c regress_rules
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2025-11-03 10:00:00+08';
\set VERBOSITY default

CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.err(text) TO PUBLIC;
CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;
-- the number of rule changes recorded and a digest of every rule row: "nothing changed"
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    t   text;
    acc text := '';
    d   text;
BEGIN
    FOR t IN SELECT rule_table FROM carbonmkt.rule_table ORDER BY 1 LOOP
        EXECUTE format('SELECT md5(coalesce(string_agg(x::text, '','' ORDER BY x::text), '''')) FROM carbonmkt.%I x', t) INTO d;
        acc := acc || d;
    END LOOP;
    RETURN (SELECT count(*) FROM carbonmkt.rule_change) || ' changes, rows ' || left(md5(acc), 8);
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.state() TO PUBLIC;

-- Parties and logins --------------------------------------------------------------------------
CREATE ROLE regress_rules_mee LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_rules_gd LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_rules_ex LOGIN IN ROLE carbonmkt_exchange;
CREATE ROLE regress_rules_unit LOGIN IN ROLE carbonmkt_participant;
SELECT register_participant('Ministry of Ecology and Environment', 'national_authority', pg_temp.uscc('11100000MB0134256')) AS mee, -- 1
       register_participant('Guangdong DEE', 'provincial_authority', pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd,      -- 2
       register_participant('Shanghai Environment and Energy Exchange', 'exchange', pg_temp.uscc('91310000MA1FL1MM6'), '310000') AS ex, -- 3
       register_participant('Guangdong Coal A', 'key_emitter', pg_temp.uscc('91440300MA5F00001'), '440000', '440300', 'power') AS a,  -- 4
       register_participant('Guangdong Gas B', 'key_emitter', pg_temp.uscc('91440100MA5F00002'), '440000', '440100', 'power') AS b,   -- 5
       register_participant('Guangdong Gas C (not allocated)', 'key_emitter', pg_temp.uscc('91440100MA5F00003'),
                            '440000', '440100', 'power') AS c;                                                                     -- 6
SELECT map_login('regress_rules_mee', 1), map_login('regress_rules_gd', 2), map_login('regress_rules_ex', 3),
       map_login('regress_rules_unit', 4);

-- 1. One jurisdiction vocabulary ----------------------------------------------------------------
-- 'CN', the 31 provinces by GB/T 2260 code, the Shenzhen city pilot
SELECT kind, count(*) AS jurisdictions, count(*) FILTER (WHERE pilot) AS pilots FROM jurisdiction GROUP BY kind ORDER BY kind;
SELECT code, name_zh FROM jurisdiction WHERE pilot ORDER BY code;
-- every rule table with a jurisdiction column has a foreign key to carbonmkt.jurisdiction
SELECT t.rule_table,
       EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = ('carbonmkt.' || t.rule_table)::regclass AND c.contype = 'f'
                  AND c.confrelid = 'carbonmkt.jurisdiction'::regclass) AS has_foreign_key
  FROM rule_table t
 WHERE EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = ('carbonmkt.' || t.rule_table)::regclass
                  AND a.attname = 'jurisdiction')
 ORDER BY 1;
-- an unknown jurisdiction (or 0.1.0's 'national') is an error everywhere, never another answer
SELECT is_trading_day('2025-10-01', 'CN') AS national_day_trades, is_trading_day('2025-10-09', 'CN') AS oct_9_trades;
SELECT pg_temp.err($$SELECT is_trading_day('2025-10-01', 'xyz')$$) AS is_trading_day_xyz;
SELECT pg_temp.err($$SELECT is_trading_day('2025-10-01', 'national')$$) AS is_trading_day_national;
SELECT pg_temp.err($$SELECT market_rule_at('listed', '2025-10-09', 'xyz')$$) AS market_rule_at_xyz;
SELECT pg_temp.err($$SELECT sessions_text('listed', '2025-10-09', 'xyz')$$) AS sessions_text_xyz;
SELECT pg_temp.err($$SELECT open_period(2030, 'x', 2030, 2030, '2031-12-31', 'xyz')$$) AS open_period_xyz;
SELECT pg_temp.err($$SELECT * FROM facility_allowance(2021, 'xyz')$$) AS facility_allowance_xyz;
SELECT pg_temp.err($$SELECT * FROM participant_allowance(2021, 'xyz')$$) AS participant_allowance_xyz;
SELECT pg_temp.err($$SELECT * FROM facility_power_params('xyz', 2021)$$) AS facility_power_params_xyz;
SELECT pg_temp.err($$SELECT * FROM preallocate(2021, jurisdiction => 'xyz')$$) AS preallocate_xyz;
SELECT pg_temp.err($$SELECT * FROM rules_in_force('2025-01-01', 'xyz')$$) AS rules_in_force_xyz;
SELECT pg_temp.err($$SELECT set_rule('offset_rule', '{"jurisdiction": "xyz", "from_year": 2030, "ratio": 0.05, "basis": "obligation"}',
                                     'test', acting_for => 1)$$) AS set_rule_xyz;
SELECT pg_temp.err($$SELECT load_trading_calendar('xyz', 2026, '{}', 'test', acting_for => 3)$$) AS calendar_xyz;
SELECT pg_temp.err($$SELECT set_trading_day('xyz', '2025-12-01', false, 'test', acting_for => 3)$$) AS trading_day_xyz;
SELECT pg_temp.err($$SELECT amend_rule('offset_rule', '{"jurisdiction": "xyz", "from_year": 2019}', '{"ratio": 0.05}', 'test',
                                       acting_for => 1)$$) AS amend_rule_xyz;
SELECT pg_temp.err($$SELECT retire_rule('offset_rule', '{"jurisdiction": "xyz", "from_year": 2019}', 'test', 2030, acting_for => 1)$$)
       AS retire_rule_xyz;
SELECT pg_temp.err($$SELECT * FROM finalize_allocation(2021, jurisdiction => 'xyz')$$) AS finalize_allocation_xyz;
SELECT pg_temp.err($$SELECT * FROM adopt_preallocation(2021, ARRAY[]::bigint[], 'xyz')$$) AS adopt_preallocation_xyz;
SELECT pg_temp.err($$SELECT power_allowance(1, 2021, 1, 10, 10, 60, 0, 0, 'xyz')$$) AS power_allowance_xyz;
SELECT pg_temp.err($$SELECT performance_allowance(4, 2024, 1, 1, 'cement_clinker', 'xyz')$$) AS performance_allowance_xyz;
-- also where there is nothing to do: an adjustment, a recovery, a settlement, an MRV rule lookup
SELECT pg_temp.err($$SELECT * FROM amend_allocation(4, 1, 2024, 'correction', 'xyz', 'ref-xyz')$$) AS amend_allocation_xyz;
SELECT pg_temp.err($$SELECT * FROM recover_owed(4, 2024, 'xyz')$$) AS recover_owed_xyz;
SELECT pg_temp.err($$SELECT * FROM settle_allocation_adjustments(2024, NULL, 'xyz')$$) AS settle_adjustments_xyz;
SELECT pg_temp.err($$SELECT mrv_rule_for('xyz', 2024)$$) AS mrv_rule_for_xyz,
       (mrv_rule_for('440000', 2024)).jurisdiction AS mrv_rule_for_440000;

-- 2. The trading calendar as data -----------------------------------------------------------------
SELECT jurisdiction, year, source FROM trading_calendar_year ORDER BY 1, 2;
SELECT pg_temp.err($$SELECT is_trading_day('2026-10-01')$$) AS no_calendar_2026;
SELECT pg_temp.state() AS before;
SET SESSION AUTHORIZATION regress_rules_ex;
-- refused, nothing changed: a day twice, a day of another year, a weekday as weekend trading day
SELECT pg_temp.err($$SELECT load_trading_calendar('CN', 2026, '{2026-01-01, 2026-10-01, 2026-10-01}', 'test')$$) AS duplicate_day;
SELECT pg_temp.err($$SELECT load_trading_calendar('CN', 2026, '{2026-01-01, 2025-10-01}', 'test')$$) AS other_year;
SELECT pg_temp.err($$SELECT load_trading_calendar('CN', 2026, '{2026-01-01}', 'test', weekend_trading_days => '{2026-01-02}')$$) AS weekday;
SELECT pg_temp.err($$SELECT load_trading_calendar('CN', 2026, '{2026-01-01}', '')$$) AS no_document;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.state() AS after_refusals;
-- the national authority may not load the exchange's calendar
SET SESSION AUTHORIZATION regress_rules_mee;
SELECT pg_temp.err($$SELECT load_trading_calendar('CN', 2026, '{2026-01-01}', 'test')$$) AS by_the_authority;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rules_ex;
SELECT load_trading_calendar('CN', 2026,
         ARRAY['2026-01-01', '2026-10-01', '2026-10-02', '2026-10-03', '2026-10-05', '2026-10-06', '2026-10-07']::date[],
         'regression test calendar (not the published 2026 notice)',
         ARRAY['元旦', '国庆节', '国庆节', '国庆节', '国庆节', '国庆节', '国庆节']) AS weekday_holidays_2026;
SELECT pg_temp.err($$SELECT load_trading_calendar('CN', 2026, '{}', 'again')$$) AS twice;
SELECT pg_temp.err($$SELECT set_trading_day('CN', '2025-11-03', false, 'too late')$$) AS today;
SELECT set_trading_day('CN', '2026-10-08', false, 'regression test: an extra holiday', '国庆节') AS oct_8_trades;
RESET SESSION AUTHORIZATION;
SELECT d, is_trading_day(d) FROM unnest(ARRAY['2026-10-01', '2026-10-08', '2026-10-09', '2026-10-10']::date[]) d;

-- 3. Bad rules: each refused with the rule and the numbers, nothing changed ------------------------
SELECT pg_temp.state() AS before;
SET SESSION AUTHORIZATION regress_rules_mee;
SELECT pg_temp.err($$SELECT set_rule('alloc_benchmark', '{"jurisdiction": "CN", "year": 2024, "category": "coal_300mw_plus", "benchmark": 0}',
                                     'test')$$) AS benchmark_zero;
SELECT pg_temp.err($$SELECT set_rule('alloc_benchmark', '{"jurisdiction": "CN", "year": 2024, "category": "coal_300mw_plus", "benchmark": -0.8218}',
                                     'test')$$) AS benchmark_negative;
SELECT pg_temp.err($$SELECT set_rule('alloc_benchmark', '{"jurisdiction": "CN", "year": 2024, "category": "coal_300mw_plus", "benchmark": "abc"}',
                                     'test')$$) AS benchmark_not_a_number;
SELECT pg_temp.err($$SELECT set_rule('alloc_band', '{"jurisdiction": "CN", "year": 2024, "sector": "cement", "max_gap": -0.05, "max_surplus": 0.10}',
                                     'test')$$) AS band_without_its_centre;
SELECT pg_temp.err($$SELECT set_rule('offset_rule', '{"jurisdiction": "CN", "from_year": 2024, "ratio": 0.05, "basis": "obligation"}',
                                     'test')$$) AS overlapping_years;
SELECT pg_temp.err($$SELECT set_rule('relief_rule', '{"jurisdiction": "CN", "from_year": 2021, "until_year": 2023, "sectors": ["power"], "gap_cap_share": 0.2}',
                                     'test')$$) AS overlapping_relief;
SELECT pg_temp.err($$SELECT set_rule('offset_rule', '{"jurisdiction": "CN", "from_year": 2030, "ratio": 1.5, "basis": "obligation"}',
                                     'test')$$) AS ratio_above_1;
SELECT pg_temp.err($$SELECT set_rule('alloc_load_piece', '{"jurisdiction": "CN", "year": 2024, "pieces": [
                        {"lower_bound": 0, "kind": "linear", "a": 1, "b": -0.0014, "pivot": 85}]}', 'test')$$) AS load_factor_rising;
SELECT pg_temp.err($$SELECT set_rule('alloc_load_piece', '{"jurisdiction": "CN", "year": 2024, "pieces": [
                        {"lower_bound": 0, "kind": "linear", "a": 1.1, "b": 0, "pivot": 85},
                        {"lower_bound": 0.85, "kind": "linear", "a": 1, "b": 0, "pivot": 85}]}', 'test')$$) AS load_factor_jump;
SELECT pg_temp.err($$SELECT set_rule('alloc_year_rule', '{"jurisdiction": "CN", "year": 2024, "rounding": "half_up", "colour": "red"}',
                                     'test')$$) AS unknown_column;
SELECT pg_temp.err($$SELECT set_rule('alloc_year_rule', '{"jurisdiction": "CN", "year": 2024, "rounding": "half_up"}', NULL)$$) AS no_document;
SELECT pg_temp.err($$SELECT set_rule('alloc_rules', '{}', 'test')$$) AS unknown_table;
-- who may: the national authority sets no province's rule, nor the exchange's
SELECT pg_temp.err($$SELECT set_rule('offset_rule', '{"jurisdiction": "440000", "from_year": 2030, "ratio": 0.1, "basis": "verified_emissions"}',
                                     'test')$$) AS mee_sets_guangdong;
SELECT pg_temp.err($$SELECT set_rule('market_rule', '{"jurisdiction": "CN", "mode": "listed", "valid_from": "2026-01-05", "min_quantity": 1,
                                     "lot": 1, "tick_fen": 1, "band": 0.1, "fee_rate": 0.0005}', 'test')$$) AS mee_sets_market_rule;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rules_gd;
SELECT pg_temp.err($$SELECT set_rule('alloc_year_rule', '{"jurisdiction": "CN", "year": 2024, "rounding": "half_up"}', 'test')$$) AS gd_sets_national;
SELECT pg_temp.err($$SELECT set_rule('offset_rule', '{"jurisdiction": "350000", "from_year": 2030, "ratio": 0.1, "basis": "verified_emissions"}',
                                     'test')$$) AS gd_sets_fujian;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rules_ex;
SELECT pg_temp.err($$SELECT set_rule('alloc_benchmark', '{"jurisdiction": "CN", "year": 2024, "category": "gas", "benchmark": 0.39}', 'test')$$) AS exchange_sets_benchmark;
SELECT pg_temp.err($$SELECT set_rule('market_rule', '{"jurisdiction": "CN", "mode": "listed", "valid_from": "2026-01-05", "min_quantity": 1,
                                     "lot": 1, "tick_fen": 1, "band": 1.5, "fee_rate": 0.0005}', 'test')$$) AS band_150_percent;
SELECT pg_temp.err($$SELECT set_rule('market_rule', '{"jurisdiction": "CN", "mode": "listed", "valid_from": "2025-11-03", "min_quantity": 1,
                                     "lot": 1, "tick_fen": 1, "band": 0.1, "fee_rate": 0.0005}', 'test')$$) AS takes_effect_today;
SELECT pg_temp.err($$SELECT set_rule('market_rule', '{"jurisdiction": "CN", "mode": "listed", "valid_from": "2026-01-05", "min_quantity": 1,
                                     "lot": 1, "tick_fen": 1, "band": 0.1, "fee_rate": 0.0005}', 'test')$$) AS overlaps_the_rule_in_force;
SELECT pg_temp.err($$SELECT set_rule('market_session', '{"jurisdiction": "CN", "mode": "listed", "valid_from": "2021-07-16", "opens": "11:00", "closes": "12:00"}',
                                     'test')$$) AS session_in_the_past;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rules_unit;
SELECT pg_temp.err($$SELECT set_rule('alloc_year_rule', '{"jurisdiction": "CN", "year": 2024, "rounding": "half_up"}', 'test')$$) AS a_unit;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.err($$SELECT set_rule('alloc_year_rule', '{"jurisdiction": "CN", "year": 2024, "rounding": "half_up"}', 'test')$$) AS superuser_acting_for_nobody;
SELECT pg_temp.state() AS after_refusals;
-- nobody may write a rule table directly (the superuser excepted, and then it is recorded)
SELECT r.rolname, count(*) FILTER (WHERE has_table_privilege(r.oid, ('carbonmkt.' || t.rule_table)::regclass, 'INSERT, UPDATE, DELETE, TRUNCATE'))
       AS rule_tables_writable
  FROM pg_roles r CROSS JOIN rule_table t
 WHERE r.rolname LIKE 'carbonmkt\_%' OR r.rolname LIKE 'regress\_rules\_%' GROUP BY 1 ORDER BY 1;

-- 4. Setting, amending and retiring rules, with their history ------------------------------------
-- no power benchmark is published after 2022: a 2024 computation names the missing rule,
-- its table and year, and the function that loads it
SELECT pg_temp.err($$SELECT * FROM explain_allocation(1, 2024)$$) AS no_facility;
SELECT register_facility(4, '#1', 'coal_300mw_plus', 600, 'water') AS a1, register_facility(5, 'GT1', 'gas', 400, 'water') AS b1,
       register_facility(6, 'GT1', 'gas', 400, 'water') AS c1;
SELECT count(record_production(1, 2024, m, 250000000, 273000000, 35000)) AS months FROM generate_series(1, 12) m;
\set SHOW_CONTEXT never
SELECT * FROM explain_allocation(1, 2024);
\set SHOW_CONTEXT errors
SET SESSION AUTHORIZATION regress_rules_mee;
SELECT set_rule('alloc_year_rule', '{"jurisdiction": "CN", "from_year": 2024, "to_year": 2025, "rounding": "half_up"}',
                'regression test: whole tonnes, half up') AS year_rules;
SELECT set_rule('alloc_benchmark', '{"jurisdiction": "CN", "from_year": 2024, "to_year": 2025, "category": "coal_300mw_plus",
                                     "benchmark": 0.8218, "heat_benchmark": 0.1111, "load_applies": true, "cool_applies": true,
                                     "illustrative": true}',
                'regression test: the 2021 value of the 2021-22 plan carried forward') AS benchmarks;
SELECT pg_temp.err($$SELECT set_rule('alloc_benchmark', '{"jurisdiction": "CN", "year": 2025, "category": "coal_300mw_plus", "benchmark": 0.8}',
                                     'test')$$) AS set_twice;
SELECT amend_rule('alloc_benchmark', '{"jurisdiction": "CN", "year": 2025, "category": "coal_300mw_plus"}', '{"benchmark": 0.8177}',
                  'regression test: the 2022 value instead') ->> 'benchmark' AS amended_2025;
SELECT pg_temp.err($$SELECT amend_rule('alloc_benchmark', '{"jurisdiction": "CN", "year": 2025, "category": "coal_300mw_plus"}',
                                       '{"benchmark": 0}', 'test')$$) AS amend_to_zero;
SELECT pg_temp.err($$SELECT amend_rule('alloc_benchmark', '{"jurisdiction": "CN", "year": 2025, "category": "coal_300mw_plus"}',
                                       '{"year": 2026}', 'test')$$) AS amend_the_key;
SELECT pg_temp.err($$SELECT amend_rule('alloc_benchmark', '{"jurisdiction": "CN", "year": 2027, "category": "coal_300mw_plus"}',
                                       '{"benchmark": 0.8}', 'test')$$) AS amend_a_missing_rule;
SELECT retire_rule('alloc_benchmark', '{"jurisdiction": "CN", "year": 2025, "category": "coal_300mw_plus"}',
                   'regression test: not needed') AS retired_2025;
-- a load-factor curve that is continuous and never rises (the 2019-20 plan's, RULES.md 3)
SELECT set_rule('alloc_load_piece', jsonb_build_object('jurisdiction', 'CN', 'year', 2024, 'pieces',
                  (SELECT jsonb_agg(to_jsonb(l) - 'jurisdiction' - 'year' - 'source') FROM alloc_load_piece l
                    WHERE l.jurisdiction = 'CN' AND l.year = 2022)),
                'regression test: the 2021-22 pieces') AS load_pieces;
SELECT set_rule('alloc_heat_factor', '{"jurisdiction": "CN", "year": 2024, "fuel": "coal", "coefficient": 0.22}', 'S4 L102') AS heat,
       set_rule('alloc_cooling_factor', '{"jurisdiction": "CN", "year": 2024, "fuel": "coal", "cooling": "water", "factor": 1.00}', 'S4 L103') AS cooling;
RESET SESSION AUTHORIZATION;
-- B_power 0.8218 x 3,000,000 MWh x F_load x 1 x 1 (no heat): the explanation names its rules
SELECT step, item, value, rule FROM explain_allocation(1, 2024);
SELECT change_id > 0 AS recorded, rule_table, rule_key, action, old_value ->> 'benchmark' AS old_benchmark,
       new_value ->> 'benchmark' AS new_benchmark, document, changed_by, acting_for, acting_for_name, changed_at
  FROM rule_history
 WHERE rule_table = 'alloc_benchmark' AND rule_key @> '{"category": "coal_300mw_plus"}' ORDER BY change_id;
-- the provinces set their own rules: Guangdong's MRV rule from 2026 (the national one before)
SET SESSION AUTHORIZATION regress_rules_gd;
SELECT set_rule('mrv_rule', '{"jurisdiction": "440000", "from_year": 2026, "review_sample_share": 0.2, "deviation_threshold": 0.03,
                              "deposit_due_days": 30, "deposit_missing_tolerance": 1, "deposit_late_tolerance": 3,
                              "anomaly_threshold": 0.4, "report_due_month": 4, "report_due_day": 30, "gwp_set": "AR5"}',
                'regression test: a Guangdong notice') AS gd_mrv_rule;
RESET SESSION AUTHORIZATION;
SELECT jurisdiction, from_year, review_sample_share FROM mrv_rule_for('440000', 2025)
UNION ALL SELECT jurisdiction, from_year, review_sample_share FROM mrv_rule_for('440000', 2026);
-- a superuser's direct change is recorded too (with no document)
UPDATE trader_rule SET max_position = 60000 WHERE jurisdiction = 'CN' AND participant_kind = 'individual';
SELECT rule_table, action, old_value ->> 'max_position' AS old, new_value ->> 'max_position' AS new, document
  FROM rule_history WHERE rule_table = 'trader_rule' AND action <> 'seed';
SELECT pg_temp.err($$UPDATE rule_change SET document = 'x'$$) AS history_is_append_only;
-- the exchange ends a market rule and sets its successor
SET SESSION AUTHORIZATION regress_rules_ex;
SELECT pg_temp.err($$SELECT retire_rule('market_rule', '{"jurisdiction": "CN", "mode": "listed", "valid_from": "2021-07-16"}',
                                        'test', last_day => '2025-10-31')$$) AS end_in_the_past;
SELECT retire_rule('market_rule', '{"jurisdiction": "CN", "mode": "listed", "valid_from": "2021-07-16"}',
                   'regression test: a new fee schedule', last_day => '2026-01-04') ->> 'valid_until' AS listed_until;
SELECT set_rule('market_rule', '{"jurisdiction": "CN", "mode": "listed", "valid_from": "2026-01-05", "min_quantity": 1,
                                 "below_quantity": 100000, "lot": 1, "tick_fen": 1, "band": 0.1, "fee_rate": 0.0004}',
                'regression test: a new fee schedule') AS listed_2026;
RESET SESSION AUTHORIZATION;
SELECT d, (market_rule_at('listed', d)).fee_rate FROM unnest(ARRAY['2026-01-04', '2026-01-05']::date[]) d;

-- 5. Rules bounded to their sources: the relief of 2019-2022 ------------------------------------
SELECT rule_table, rule_key, in_force_from, in_force_until FROM rules_in_force('2022-06-30', 'CN')
 WHERE rule_table IN ('relief_rule', 'offset_rule', 'penalty_rule') ORDER BY 1;
SELECT rule_table, rule_key, in_force_from, in_force_until FROM rules_in_force('2024-06-30', 'CN')
 WHERE rule_table IN ('relief_rule', 'offset_rule', 'penalty_rule') ORDER BY 1;
SELECT open_period(2021, '2021-2022', 2021, 2022, '2023-12-31') AS p2021, open_period(2024, '2024', 2024, 2024, '2025-12-31') AS p2024;
SELECT period, gap_cap_pct, gas_cap, borrowing_max_share FROM _period_rules ORDER BY period;
-- A (coal): emissions 1,000,000 t a year, allocation 700,000 t a year; B (gas, by its
-- facilities): 500,000 t a year, allocation 450,000 t; C (gas): no allocation yet
SELECT open_account(2, 'allocation') AS gd_alloc, open_account(4, 'holding') AS a_h, open_account(5, 'holding') AS b_h,
       open_account(6, 'holding') AS c_h;
SELECT count(issue_cea(3, v, 5000000)) AS issued FROM generate_series(2021, 2024) v;
SELECT count(*) AS adopted FROM generate_series(2021, 2024) v,
       adopt_preallocation(v, ARRAY[transfer_cea(3, 4, v, 700000), transfer_cea(3, 5, v, 450000)]) a;
INSERT INTO confirmed_emission (participant_id, year, emissions_t, basis, confirmed_at)
SELECT p, y, CASE p WHEN 4 THEN 1000000 ELSE 500000 END, 'verified', '2025-05-30 10:00+08'
  FROM unnest(ARRAY[4, 5, 6]) p, unnest(ARRAY[2021, 2022, 2024]) y;
-- 2021-2022: gap cap 1,400,000 + 20% x 2,000,000 = 1,800,000 t; gas cap 900,000 t;
-- 2024: no relief rule in force, the whole emissions are due.  2021-2022: A and B have only
-- pre-allocations (预分配, 70% of the verified emissions as in S4 L91) and C nothing: the relief
-- is computed on the final allocation (核定配额, S4 L94), so all three are pending
SELECT period, participant_id, emissions_t, allocation_t, relief, obligation_t, status, compliance_code, status_reason
  FROM obligation_status ORDER BY period, participant_id;
-- A surrenders its whole provisional obligation, 1,800,000 t: still pending, never compliant
SELECT transfer_cea(3, 4, 2022, 400000) IS NOT NULL AS a_buys_400000;
SELECT surrender_cea(4, 2021, 700000, 2021) IS NOT NULL AS a_2021, surrender_cea(4, 2022, 1100000, 2021) IS NOT NULL AS a_2022;
SELECT participant_id, obligation_t, surrendered_t, remaining_t, status, compliance_code, status_reason IS NOT NULL AS has_reason
  FROM obligation_status WHERE period = 2021 AND participant_id = 4;
SELECT participant_id, gas_fired, gas_basis FROM _obligation_figures WHERE period = 2021 ORDER BY 1;
-- which rule rows the obligations of a period use
SELECT rule_table, rule_key, rule ->> 'gap_cap_share' AS gap_cap_share, rule ->> 'until_year' AS until_year, document IS NOT NULL AS documented
  FROM rules_used('period', 2021);
-- a rule a computation used is never changed
SET SESSION AUTHORIZATION regress_rules_mee;
SELECT pg_temp.err($$SELECT amend_rule('relief_rule', '{"jurisdiction": "CN", "from_year": 2019}', '{"gap_cap_share": 0.3}', 'test')$$) AS amend_used;
SELECT pg_temp.err($$SELECT retire_rule('relief_rule', '{"jurisdiction": "CN", "from_year": 2019}', 'test', last_year => 2020)$$) AS retire_used;
SELECT pg_temp.err($$SELECT set_rule('relief_rule', '{"jurisdiction": "CN", "from_year": 2024, "sectors": ["power"], "gap_cap_share": 0.2}',
                                     'test')$$) AS set_for_an_open_period;
RESET SESSION AUTHORIZATION;

-- 6. Gas status from the facilities; the flag only as a validated override ----------------------
SELECT pg_temp.err($$SELECT set_gas_fired(4, true)$$) AS coal_unit_as_gas;
SELECT pg_temp.err($$SELECT set_gas_fired(5, false)$$) AS gas_unit_as_coal;
SELECT register_participant('Guangdong Mixed D', 'key_emitter', pg_temp.uscc('91440100MA5F00004'), '440000', '440100', 'power') AS d;
SELECT register_facility(7, '#1', 'coal_300mw_below', 300, 'air') AS d1, register_facility(7, 'GT1', 'gas', 100, 'water') AS d2;
SELECT set_gas_fired(7, true) AS mixed_unit_overridden;
SELECT participant_id, gas_fired, gas_basis FROM _obligation_figures WHERE period = 2021 AND participant_id = 7;
SELECT set_gas_fired(7, NULL) AS override_withdrawn;
SELECT participant_id, gas_fired, gas_basis FROM _obligation_figures WHERE period = 2021 AND participant_id = 7;

-- 7. A pending obligation is never frozen; the capped sector names who is not computed ------------
SET carbonmkt.clock = '2024-01-05 10:00:00+08';
SELECT pg_temp.err($$SELECT * FROM close_period(2021)$$) AS close_with_a_pending_unit;
-- A's 2021 allocation made final (B and C have no 2021 production data): A stays pending on 2022
SELECT count(record_production(1, 2021, m, 250000000, 273000000, 35000)) AS months FROM generate_series(1, 12) m;
SELECT participant_id, status FROM finalize_allocation(2021) ORDER BY 1;
SELECT participant_id, allocation_t, obligation_t, status, status_reason
  FROM obligation_status WHERE period = 2021 AND participant_id = 4;
SET SESSION AUTHORIZATION regress_rules_mee;
SELECT set_rule('alloc_cap', '{"jurisdiction": "CN", "year": 2022, "sector": "power", "cap_t": 3000000}',
                'regression test cap') AS cap_2022;
RESET SESSION AUTHORIZATION;
SELECT count(record_production(1, 2022, m, 250000000, 273000000, 35000)) AS months FROM generate_series(1, 12) m;
SELECT pg_temp.err($$SELECT * FROM finalize_allocation(2022)$$) AS capped_sector;
SELECT kind FROM allocation_run WHERE year = 2022;   -- the adoption only: nothing was run

-- 8. Every shipped row cites its source; a number no source gives is not shipped -------------------
-- (test/ops/rule-sources.sh checks each citation against the seed documents and doc/rules.md)
SELECT rule_table, count(*) AS shipped,
       count(*) FILTER (WHERE document ~ '\mS[0-4]\M|\[public|RULES\.md [1-7]') AS citing_a_source,
       count(*) FILTER (WHERE document ~* 'illustrative') AS illustrative
  FROM rule_change WHERE action = 'seed' GROUP BY 1 ORDER BY 1;
-- no two shipped rows of one rule overlap in their years or days (the 2021 Measures' fines end
-- with 2022, Decree 775's start in 2023; the relief ends with 2022)
CREATE FUNCTION pg_temp.shipped_overlaps() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    t   text;
    r   jsonb;
BEGIN
    FOR t IN SELECT rule_table FROM carbonmkt.rule_table WHERE period_kind IN ('from_year', 'valid_from') ORDER BY 1 LOOP
        FOR r IN EXECUTE format('SELECT to_jsonb(t) FROM carbonmkt.%I t', t) LOOP
            BEGIN
                PERFORM carbonmkt._rule_overlap(t, r, r);
            EXCEPTION WHEN SQLSTATE 'CM503' THEN
                RETURN NEXT SQLERRM;
            END;
        END LOOP;
    END LOOP;
END $$;
SELECT count(*) AS overlapping_shipped_rows FROM pg_temp.shipped_overlaps();
SELECT rule_table, rule_key, in_force_from, in_force_until FROM rules_in_force('2022-06-30', 'CN') WHERE rule_table = 'penalty_rule'
UNION ALL
SELECT rule_table, rule_key, in_force_from, in_force_until FROM rules_in_force('2023-06-30', 'CN') WHERE rule_table = 'penalty_rule';
-- the exchange's fees: no source, not shipped; an order is refused naming the missing rule
SELECT mode, valid_from, fee_rate, source FROM market_rule WHERE jurisdiction = 'CN' AND valid_from < '2026-01-01' ORDER BY mode;
SET carbonmkt.clock = '2025-11-04 10:00:00+08';
SELECT list_product('CEA2024', 60.00, open_account(3, 'clearing', 'clearing CEA2024')) AS product;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'sell', 100, 60.00, acting_for => 4)$$) AS order_without_a_fee;
-- the exchange fills it while the rule is in force (no order used the rule without it); the
-- document is added to the row's source.  Once set, it is used: a change is refused (CM506),
-- and so is filling a column that was not missing
SET SESSION AUTHORIZATION regress_rules_ex;
SELECT amend_rule('market_rule', '{"jurisdiction": "CN", "mode": "listed", "valid_from": "2021-07-16"}', '{"fee_rate": 0.0005}',
                  'regression test: the fee') ->> 'source' AS listed_source;
SELECT pg_temp.err($$SELECT amend_rule('market_rule', '{"jurisdiction": "CN", "mode": "listed", "valid_from": "2021-07-16"}',
                                       '{"fee_rate": 0.0004}', 'test')$$) AS fee_changed_in_force;
SELECT pg_temp.err($$SELECT amend_rule('market_rule', '{"jurisdiction": "CN", "mode": "block", "valid_from": "2021-07-16"}',
                                       '{"fee_rate": 0.00025, "band": 0.2}', 'test')$$) AS fill_and_change;
RESET SESSION AUTHORIZATION;
-- the order now passes the rules (A has no cash account: CM312)
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'sell', 100, 60.00, acting_for => 4)$$) AS order_with_the_fee;
-- MRV: the report deadline is shipped, the sample share, thresholds, deposit deadline and
-- tolerances are not; a deposit is refused naming the missing rule
SELECT from_year, review_sample_share, deviation_threshold, deposit_due_days, deposit_missing_tolerance, deposit_late_tolerance,
       anomaly_threshold, report_due_month, report_due_day, gwp_set FROM mrv_rule WHERE jurisdiction = 'CN';
SELECT file_monitoring_plan(4, 2024) AS plan \gset
SELECT approve_monitoring_plan(:plan, acting_for => 2);
SELECT pg_temp.err($$SELECT deposit_parameters(4, 2024, 1, '{"emissions": 68000}')$$) AS deposit_without_a_deadline;
SET SESSION AUTHORIZATION regress_rules_gd;
SELECT pg_temp.err($$SELECT amend_rule('mrv_rule', '{"jurisdiction": "CN", "from_year": 2019}', '{"deposit_due_days": 40}', 'test')$$)
       AS province_fills_national_rule;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rules_mee;
SELECT amend_rule('mrv_rule', '{"jurisdiction": "CN", "from_year": 2019}', '{"deposit_due_days": 40}',
                  'regression test: a deposit deadline') ->> 'deposit_due_days' AS deposit_due_days;
RESET SESSION AUTHORIZATION;
SELECT deposit_parameters(4, 2024, 1, '{"emissions": 68000}') IS NOT NULL AS deposited;
SELECT rule_table, action, old_value ->> 'deposit_due_days' AS old, new_value ->> 'deposit_due_days' AS new, document
  FROM rule_history WHERE rule_table = 'mrv_rule' AND action <> 'seed' ORDER BY change_id;

-- 9. The reference tables and the trader rules through the same functions ---------------------------
SET SESSION AUTHORIZATION regress_rules_mee;
SELECT set_rule('mrv_gwp_set', '{"gwp_set": "AR6", "description": "100-year GWP of the IPCC Sixth Assessment Report"}',
                'regression test: a GWP set') AS gwp_set,
       set_rule('mrv_gwp', '{"gwp_set": "AR6", "gas": "CF4", "gwp": 7380}', 'regression test: a GWP') AS gwp;
SELECT pg_temp.err($$SELECT set_rule('mrv_gwp', '{"gwp_set": "AR6", "gas": "C2F6", "gwp": 0}', 'test')$$) AS gwp_of_zero;
SELECT set_rule('ccer_project_type', '{"code": "tidal", "name": "Tidal power", "name_zh": "潮汐发电"}',
                'regression test: a CCER type') AS project_type;
SELECT amend_rule('ccer_project_type', '{"code": "tidal"}', '{"name": "Tidal and wave power"}', 'regression test: renamed') ->> 'name'
       AS renamed;
SELECT pg_temp.err($$SELECT retire_rule('ccer_project_type', '{"code": "tidal"}', 'test')$$) AS reference_rows_are_not_retired;
SELECT set_rule('mrv_sector_parameter', '{"sector": "cement", "parameter": "limestone", "uom": "t", "name_zh": "石灰石消耗量",
                                          "from_year": 2026}', 'regression test: a key parameter') AS sector_parameter;
SELECT pg_temp.err($$SELECT set_rule('trader_rule', '{"jurisdiction": "CN", "participant_kind": "institution", "valid_from": "2026-01-01",
                                                     "may_trade": true, "may_announce": true}', 'test')$$) AS authority_sets_trader_rule;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rules_ex;
SELECT pg_temp.err($$SELECT set_rule('ccer_project_type', '{"code": "wave", "name": "Wave", "name_zh": "波浪"}', 'test')$$)
       AS exchange_sets_project_type;
-- a new position limit from 2026: the rule in force is ended first (CM503 names how)
SELECT pg_temp.err($$SELECT set_rule('trader_rule', '{"jurisdiction": "CN", "participant_kind": "institution", "valid_from": "2026-01-01",
                                                     "may_trade": true, "may_announce": true, "max_position": 2000000}', 'test')$$) AS overlap;
SELECT retire_rule('trader_rule', '{"jurisdiction": "CN", "participant_kind": "institution", "valid_from": "2021-07-16"}',
                   'regression test: a new limit', last_day => '2025-12-31') ->> 'valid_until' AS institution_until;
SELECT set_rule('trader_rule', '{"jurisdiction": "CN", "participant_kind": "institution", "valid_from": "2026-01-01",
                                 "may_trade": true, "may_announce": true, "max_position": 2000000}', 'regression test: a new limit') AS limit_2026;
SELECT pg_temp.err($$SELECT set_rule('trader_rule', '{"jurisdiction": "CN", "participant_kind": "individual", "valid_from": "2026-01-01",
                                                     "may_trade": true, "may_announce": false, "max_position": 0}', 'test')$$) AS limit_of_zero;
RESET SESSION AUTHORIZATION;
SELECT rule_table, action, rule_key, document FROM rule_history
 WHERE rule_table IN ('mrv_gwp_set', 'mrv_gwp', 'ccer_project_type', 'mrv_sector_parameter', 'trader_rule') AND action <> 'seed'
 ORDER BY change_id;

-- 10. The penalties and the gases per sector through the same functions, with their history ----------
-- The penalties (RULES.md 6): the 2021 Measures (fine 20,000-30,000 CNY, an equal cut if not
-- corrected) from 2019, Decree 775 (5-10 x the average price of the month before the deadline,
-- an equal cut if not corrected) from 2023; the 2024 period uses Decree 775's
SELECT jurisdiction, from_year, until_year, fine_basis, fine_min_fen, fine_max_fen, fine_default_fen,
       multiple_min, multiple_max, multiple_default, price_months, cut_multiple, cut_unless_corrected
  FROM penalty_rule WHERE jurisdiction = 'CN' ORDER BY from_year;
SELECT period, penalty_rule_year FROM _period_rules ORDER BY period;
SELECT pg_temp.state() AS before_penalty_refusals \gset
SET SESSION AUTHORIZATION regress_rules_mee;
-- a rule a period used is never amended, nor ended before the period's years (CM506)
SELECT pg_temp.err($$SELECT amend_rule('penalty_rule', '{"jurisdiction": "CN", "from_year": 2023}', '{"multiple_default": 10}',
                                       'test')$$) AS amend_a_used_penalty;
SELECT pg_temp.err($$SELECT retire_rule('penalty_rule', '{"jurisdiction": "CN", "from_year": 2023}', 'test', last_year => 2023)$$)
       AS end_before_its_period;
-- bad values, each refused with the rule and the numbers (CM502): a default outside 5-10 x, a
-- fixed fine whose minimum 30,000 CNY exceeds its maximum 20,000 CNY, a multiple of 0
SELECT pg_temp.err($$SELECT set_rule('penalty_rule', '{"jurisdiction": "CN", "from_year": 2026, "fine_basis": "price_multiple",
                                     "multiple_min": 5, "multiple_max": 10, "multiple_default": 12, "price_months": 1,
                                     "cut_multiple": 1, "cut_unless_corrected": true}', 'test')$$) AS default_above_the_range;
SELECT pg_temp.err($$SELECT set_rule('penalty_rule', '{"jurisdiction": "CN", "from_year": 2026, "fine_basis": "fixed",
                                     "fine_min_fen": 3000000, "fine_max_fen": 2000000, "fine_default_fen": 2000000,
                                     "cut_multiple": 1}', 'test')$$) AS fixed_fine_min_above_max;
SELECT pg_temp.err($$SELECT set_rule('penalty_rule', '{"jurisdiction": "CN", "from_year": 2026, "fine_basis": "price_multiple",
                                     "multiple_min": 0, "multiple_max": 10, "multiple_default": 5, "price_months": 1}',
                                     'test')$$) AS multiple_of_zero;
-- an overlap with the rule in force (CM503, naming how to end it), an unknown jurisdiction (CM501)
SELECT pg_temp.err($$SELECT set_rule('penalty_rule', '{"jurisdiction": "CN", "from_year": 2026, "fine_basis": "price_multiple",
                                     "multiple_min": 5, "multiple_max": 10, "multiple_default": 10, "price_months": 1,
                                     "cut_multiple": 1, "cut_unless_corrected": true}', 'test')$$) AS overlap;
SELECT pg_temp.err($$SELECT set_rule('penalty_rule', '{"jurisdiction": "xyz", "from_year": 2026, "fine_basis": "price_multiple",
                                     "multiple_min": 5, "multiple_max": 10, "multiple_default": 5, "price_months": 1}',
                                     'test')$$) AS unknown_jurisdiction;
RESET SESSION AUTHORIZATION;
-- the wrong party: Guangdong's authority a national rule, the exchange, a unit (42501)
SET SESSION AUTHORIZATION regress_rules_gd;
SELECT pg_temp.err($$SELECT amend_rule('penalty_rule', '{"jurisdiction": "CN", "from_year": 2019}', '{"fine_default_fen": 3000000}',
                                       'test')$$) AS province_amends_national;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rules_ex;
SELECT pg_temp.err($$SELECT retire_rule('penalty_rule', '{"jurisdiction": "CN", "from_year": 2023}', 'test', last_year => 2025)$$)
       AS exchange_ends_penalty;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rules_unit;
SELECT pg_temp.err($$SELECT retire_rule('penalty_rule', '{"jurisdiction": "CN", "from_year": 2023}', 'test', last_year => 2025)$$)
       AS unit_ends_penalty;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.state() = :'before_penalty_refusals' AS nothing_changed;
-- the national authority ends Decree 775's row after 2025 and sets its successor from 2026 with
-- the same range (RULES.md 6: 5-10 x, an equal cut if not corrected), the default at 10 x, then
-- amends the default back to 5 x (no period uses 2026 yet)
SET SESSION AUTHORIZATION regress_rules_mee;
SELECT retire_rule('penalty_rule', '{"jurisdiction": "CN", "from_year": 2023}', 'regression test: Decree 775 fines up to the 2025 period',
                   last_year => 2025) ->> 'until_year' AS decree_775_until;
SELECT set_rule('penalty_rule', '{"jurisdiction": "CN", "from_year": 2026, "fine_basis": "price_multiple", "multiple_min": 5,
                                  "multiple_max": 10, "multiple_default": 10, "price_months": 1, "cut_multiple": 1,
                                  "cut_unless_corrected": true}',
                'regression test: a notice fining at 10 x from 2026 (Decree 775, RULES.md 6)') AS penalty_2026;
SELECT amend_rule('penalty_rule', '{"jurisdiction": "CN", "from_year": 2026}', '{"multiple_default": 5}',
                  'regression test: the default back to 5 x') ->> 'multiple_default' AS amended_default;
SELECT pg_temp.err($$SELECT amend_rule('penalty_rule', '{"jurisdiction": "CN", "from_year": 2026}', '{"multiple_default": 11}',
                                       'test')$$) AS amend_outside_the_range;
RESET SESSION AUTHORIZATION;
-- Guangdong's own rule (S1 L1685-1753: next year's allocation cut by 2 x the shortfall) is its
-- authority's: ended after 2025 and set again from 2026 with the 2021 Measures' fine added
SET SESSION AUTHORIZATION regress_rules_gd;
SELECT retire_rule('penalty_rule', '{"jurisdiction": "440000", "from_year": 2013}', 'regression test: a Guangdong notice',
                   last_year => 2025) ->> 'until_year' AS gd_until,
       set_rule('penalty_rule', '{"jurisdiction": "440000", "from_year": 2026, "fine_basis": "fixed", "fine_min_fen": 2000000,
                                  "fine_max_fen": 3000000, "fine_default_fen": 2000000, "cut_multiple": 2}',
                'regression test: a Guangdong notice') AS gd_2026;
RESET SESSION AUTHORIZATION;
SELECT jurisdiction, from_year, until_year, fine_basis, fine_min_fen, fine_max_fen, multiple_min, multiple_max, multiple_default,
       cut_multiple, source FROM penalty_rule WHERE from_year >= 2013 AND jurisdiction IN ('CN', '440000') ORDER BY 1, 2;
SELECT action, rule_key, old_value ->> 'until_year' AS old_until, new_value ->> 'until_year' AS new_until,
       old_value ->> 'multiple_default' AS old_default, new_value ->> 'multiple_default' AS new_default, document,
       changed_by, acting_for_name, changed_at
  FROM rule_history WHERE rule_table = 'penalty_rule' AND action <> 'seed' ORDER BY change_id;
SELECT rule_key, in_force_from, in_force_until FROM rules_in_force('2026-06-30', 'CN') WHERE rule_table = 'penalty_rule';

-- The gases per sector (RULES.md 2: CO2, plus CF4 and C2F6 for aluminium, S0): national
-- reference rows.  Unit A (power) reports 2024.
SELECT file_monitoring_plan(4, 2024) AS plan_a \gset
SELECT approve_monitoring_plan(:plan_a, acting_for => 2);
SELECT submit_report(4, 2024, '{"CO2": 1000000}') AS report_a;
SELECT pg_temp.state() AS before_gas_refusals \gset
SET SESSION AUTHORIZATION regress_rules_mee;
-- a gas added to years already reported, a first year moved across them (CM506)
SELECT pg_temp.err($$SELECT set_rule('mrv_sector_gas', '{"sector": "power", "gas": "CF4", "from_year": 2024}', 'test')$$)
       AS gas_for_reported_years;
SELECT pg_temp.err($$SELECT amend_rule('mrv_sector_gas', '{"sector": "power", "gas": "CO2"}', '{"from_year": 2025}', 'test')$$)
       AS first_year_across_reports;
-- bad values (CM502), a row that exists (CM503), a key without a row (CM505), a jurisdiction (CM501)
SELECT pg_temp.err($$SELECT set_rule('mrv_sector_gas', '{"sector": "glass", "gas": "CO2", "from_year": 2026}', 'test')$$)
       AS unknown_sector;
SELECT pg_temp.err($$SELECT set_rule('mrv_sector_gas', '{"sector": "steel", "gas": "SF6", "from_year": 2026}', 'test')$$)
       AS unknown_gas;
SELECT pg_temp.err($$SELECT set_rule('mrv_sector_gas', '{"sector": "steel", "gas": "CF4", "from_year": 1990}', 'test')$$)
       AS year_out_of_range;
SELECT pg_temp.err($$SELECT set_rule('mrv_sector_gas', '{"sector": "aluminium", "gas": "CF4", "from_year": 2026}', 'test')$$)
       AS exists_already;
SELECT pg_temp.err($$SELECT amend_rule('mrv_sector_gas', '{"sector": "steel", "gas": "C2F6"}', '{"from_year": 2026}', 'test')$$)
       AS no_such_row;
SELECT pg_temp.err($$SELECT set_rule('mrv_sector_gas', '{"sector": "steel", "gas": "CF4", "from_year": 2026, "jurisdiction": "xyz"}',
                                     'test')$$) AS unknown_jurisdiction;
SELECT pg_temp.err($$SELECT retire_rule('mrv_sector_gas', '{"sector": "aluminium", "gas": "CF4"}', 'test')$$) AS reference_rows_are_not_retired;
RESET SESSION AUTHORIZATION;
-- the wrong party: a provincial authority, the exchange (42501)
SET SESSION AUTHORIZATION regress_rules_gd;
SELECT pg_temp.err($$SELECT amend_rule('mrv_sector_gas', '{"sector": "aluminium", "gas": "CF4"}', '{"from_year": 2026}', 'test')$$)
       AS province_amends_gases;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rules_ex;
SELECT pg_temp.err($$SELECT set_rule('mrv_sector_gas', '{"sector": "steel", "gas": "CF4", "from_year": 2026}', 'test')$$)
       AS exchange_sets_gases;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.state() = :'before_gas_refusals' AS nothing_changed;
-- the national authority postpones aluminium's CF4 to 2026 and restores S0's 2024 (no aluminium
-- report yet), and adds a gas to a sector from a year not reported
SET SESSION AUTHORIZATION regress_rules_mee;
SELECT amend_rule('mrv_sector_gas', '{"sector": "aluminium", "gas": "CF4"}', '{"from_year": 2026}',
                  'regression test: PFC reporting postponed') ->> 'from_year' AS cf4_from,
       amend_rule('mrv_sector_gas', '{"sector": "aluminium", "gas": "CF4"}', '{"from_year": 2024}',
                  'regression test: S0 L127-131, from 2024 again') ->> 'from_year' AS cf4_from_again;
SELECT set_rule('mrv_sector_gas', '{"sector": "power", "gas": "CF4", "from_year": 2026}', 'regression test: a notice adding CF4') AS gas_set;
RESET SESSION AUTHORIZATION;
SELECT sector, gas, from_year, source FROM mrv_sector_gas WHERE sector IN ('power', 'aluminium') ORDER BY 1, 2;
SELECT action, rule_key, old_value ->> 'from_year' AS old_from, new_value ->> 'from_year' AS new_from, document,
       changed_by, acting_for_name, changed_at
  FROM rule_history WHERE rule_table = 'mrv_sector_gas' AND action <> 'seed' ORDER BY change_id;

\c postgres
SET client_min_messages = warning;
DROP DATABASE regress_rules;
DROP ROLE regress_rules_mee, regress_rules_gd, regress_rules_ex, regress_rules_unit;
