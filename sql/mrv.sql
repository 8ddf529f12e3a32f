-- MRV and the tiered review (doc/mrv.md): rule tables, monitoring plans, monthly
-- deposits, reports with GWP conversion, verification and its conflict of interest,
-- the national-provincial-city review enforced by the C trigger, appeals, national
-- naming, Art. 40 estimates, confirmation and national re-opening, the views; every
-- bad input with its SQLSTATE.  Runs in its own database so that ids are deterministic.
-- Everything runs as the superuser, who is staff and acts for participants through
-- acting_for (per-role access: sql/mrv_access.sql).
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_mrv;
CREATE DATABASE regress_mrv;
\c regress_mrv
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2023-12-01 10:00:00+08';
SET datestyle = 'ISO, YMD';
SET timezone = 'Asia/Shanghai';
SET intervalstyle = 'postgres';
\set VERBOSITY default

-- helper: show SQLSTATE and message of an expected error
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- helper: the same with the error's detail and hint
CREATE FUNCTION pg_temp.errd(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  d text;
  h text;
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
  RETURN SQLSTATE || ': ' || SQLERRM || coalesce(E'\nDETAIL: ' || nullif(d, ''), '') || coalesce(E'\nHINT: ' || nullif(h, ''), '');
END $$;
-- helper: a valid unified social credit code from its first 17 characters
CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;
-- helper: a year of monthly deposits, each made 10 days before its due date (or 5 days
-- after it for the months in late), skipping the months in skip; the monthly emissions
-- add up to annual exactly; the other parameters are 1000 + month.
CREATE FUNCTION pg_temp.deposit_year(p_unit bigint, p_year int, p_annual bigint,
                                     p_late int[] DEFAULT '{}', p_skip int[] DEFAULT '{}') RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n   int := 0;
    due date;
    s   text := (SELECT p.sector FROM carbonmkt.participant p WHERE p.participant_id = p_unit);
BEGIN
    FOR m IN 1..12 LOOP
        CONTINUE WHEN m = ANY (p_skip);
        due := carbonmkt.mrv_deposit_due(p_year, m, 40);
        PERFORM set_config('carbonmkt.clock',
                           (CASE WHEN m = ANY (p_late) THEN due + 5 ELSE due - 10 END)::text || ' 10:00:00+08', true);
        n := n + carbonmkt.deposit_parameters(p_unit, p_year, m,
                   jsonb_build_object('emissions', p_annual / 12 + CASE WHEN m = 12 THEN p_annual % 12 ELSE 0 END)
                   || (SELECT jsonb_object_agg(sp.parameter, 1000 + m) FROM carbonmkt.mrv_sector_parameter sp
                        WHERE sp.sector = s AND NOT sp.counts_to_emissions));
    END LOOP;
    RETURN n;
END $$;

-- Rule tables: the national defaults -----------------------------------------------------
SELECT jurisdiction, from_year, review_sample_share, deviation_threshold, deposit_due_days,
       deposit_missing_tolerance, deposit_late_tolerance, anomaly_threshold, report_due_month, report_due_day, gwp_set
  FROM mrv_rule;
SELECT w.gwp_set, w.gas, g.name_zh, w.gwp FROM mrv_gwp w JOIN mrv_gas g USING (gas) ORDER BY 1, w.gwp;
SELECT sector, string_agg(gas || ' from ' || from_year, ', ' ORDER BY gas) AS gases FROM mrv_sector_gas
 WHERE sector IN ('power', 'cement', 'steel', 'aluminium') GROUP BY sector ORDER BY sector;
SELECT sector, string_agg(parameter || CASE WHEN counts_to_emissions THEN ' (emissions)' ELSE '' END, ', ' ORDER BY parameter) AS parameters
  FROM mrv_sector_parameter WHERE sector IN ('power', 'cement', 'steel', 'aluminium') GROUP BY sector ORDER BY sector;
SELECT mrv_deposit_due(2024, 1, 40) AS jan_due, mrv_deposit_due(2024, 2, 40) AS feb_due_leap_year,
       mrv_deposit_due(2024, 12, 40) AS dec_due;

-- The deterministic re-review sample -----------------------------------------------------
SELECT mrv_sample_draw('MEE-2024-re-review', 6) AS draw_6, mrv_sample_draw('MEE-2024-re-review', 7) AS draw_7,
       mrv_sample_draw('MEE-2024-re-review', 6) = mrv_sample_draw('MEE-2024-re-review', 6) AS replays,
       mrv_sample_draw('another seed', 6) AS other_seed;
-- the same draw in plain SQL, as doc/mrv.md describes it, for 2,000 units
SELECT count(*) FILTER (WHERE d.c = d.sql) AS equal, count(*) AS units,
       count(*) FILTER (WHERE d.c < 0.1) AS in_a_10_percent_sample
  FROM (SELECT mrv_sample_draw('MEE-2024-re-review', i) AS c,
               (SELECT sum(get_byte(h, k)::numeric * 256::numeric ^ (7 - k)) FROM generate_series(0, 7) k) % 1000000 / 1000000 AS sql
          FROM generate_series(1, 2000) i,
               LATERAL (SELECT sha256(convert_to('MEE-2024-re-review:' || i, 'UTF8')) AS h) x) d;

-- Parties ------------------------------------------------------------------------------
SELECT register_participant('Ministry of Ecology and Environment', 'national_authority', pg_temp.uscc('11100000MB0134256')) AS mee,  -- 1
       register_participant('Guangdong Department of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd,                                                    -- 2
       register_participant('Shenzhen Bureau of Ecology and Environment', 'city_authority',
                            pg_temp.uscc('11440300MB2C9251X'), '440000', '440300') AS sz,                                          -- 3
       register_participant('Guangzhou Bureau of Ecology and Environment', 'city_authority',
                            pg_temp.uscc('11440100MB2C9251X'), '440000', '440100') AS gz,                                          -- 4
       register_participant('Fujian Department of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11350000MB2C9251X'), '350000') AS fj;                                                    -- 5
SELECT register_participant('Shenzhen Power Unit A', 'key_emitter', pg_temp.uscc('91440300MA5F0000A'), '440000', '440300', 'power') AS a,          -- 6
       register_participant('Guangzhou Aluminium Unit B', 'key_emitter', pg_temp.uscc('91440100MA5F0000B'), '440000', '440100', 'aluminium') AS b, -- 7
       register_participant('Shenzhen Cement Unit C', 'key_emitter', pg_temp.uscc('91440300MA5F0000C'), '440000', '440300', 'cement') AS c,         -- 8
       register_participant('Carbon Compilers X', 'service_firm', pg_temp.uscc('91440000MA5F0000X'), '440000') AS firm_x,                           -- 9
       register_participant('Green Verifiers Y', 'service_firm', pg_temp.uscc('91440000MA5F0000Y'), '440000') AS firm_y,                            -- 10
       register_participant('Minjiang Verifiers Z', 'service_firm', pg_temp.uscc('91350000MA5F0000Q'), '350000') AS firm_z,                         -- 11
       register_participant('Fuzhou Power Unit E', 'key_emitter', pg_temp.uscc('91350100MA5F0000E'), '350000', '350100', 'power') AS e,             -- 12
       register_participant('Guangdong Steel Unit F (no city)', 'key_emitter', pg_temp.uscc('91440000MA5F0000F'), '440000', NULL, 'steel') AS f;    -- 13
-- the MRV numbers the sources do not give (doc/rules.md): the national authority (participant 1)
-- fills test values through amend_rule: sample 10%, deviation 5%, deposits due 40 days after the
-- month, 0 missing and 2 late months tolerated, anomaly 50%
SELECT amend_rule('mrv_rule', '{"jurisdiction": "CN", "from_year": 2019}',
                  '{"review_sample_share": 0.1, "deviation_threshold": 0.05, "deposit_due_days": 40, "deposit_missing_tolerance": 0,
                    "deposit_late_tolerance": 2, "anomaly_threshold": 0.5}',
                  'test fixture: MRV numbers no source gives', acting_for => 1) ->> 'deposit_due_days' AS mrv_due_days_filled;
SELECT jurisdiction, from_year, review_sample_share, deviation_threshold, deposit_due_days,
       deposit_missing_tolerance, deposit_late_tolerance, anomaly_threshold, source FROM mrv_rule;
-- a province's own row wins over the national one from its from_year on: Guangdong's authority
-- (participant 2) sets one from 2025 (set_rule; in a transaction rolled back)
BEGIN;
SELECT set_rule('mrv_rule', '{"jurisdiction": "440000", "from_year": 2025, "review_sample_share": 0.2, "deviation_threshold": 0.03,
                              "deposit_due_days": 30, "deposit_missing_tolerance": 1, "deposit_late_tolerance": 3,
                              "anomaly_threshold": 0.4, "report_due_month": 4, "report_due_day": 30, "gwp_set": "AR4"}',
                'Guangdong test override', acting_for => 2) AS gd_rule;
SELECT p.province, p.year, (mrv_rule_for(p.province, p.year)).jurisdiction,
       (mrv_rule_for(p.province, p.year)).review_sample_share, (mrv_rule_for(p.province, p.year)).gwp_set
  FROM (VALUES ('440000', 2024), ('440000', 2025), ('350000', 2025), ('440000', 2018)) p(province, year);
ROLLBACK;

-- Monitoring plans (监测计划) -----------------------------------------------------------
SELECT file_monitoring_plan(6, 2024, '{"method": "calculation", "fuel": "bituminous coal"}') AS plan_a,   -- 1
       file_monitoring_plan(7, 2024, '{"method": "calculation"}') AS plan_b,                              -- 2
       file_monitoring_plan(8, 2024, '{"method": "calculation"}') AS plan_c,                              -- 3
       file_monitoring_plan(13, 2024) AS plan_f;                                                          -- 4
SELECT pg_temp.err($$SELECT file_monitoring_plan(3, 2024)$$) AS plan_of_an_authority;
SELECT pg_temp.err($$SELECT file_monitoring_plan(6, 1999)$$) AS plan_year_out_of_range;
-- only the unit's own provincial authority approves
SELECT pg_temp.err($$SELECT approve_monitoring_plan(1, acting_for => 5)$$) AS approved_by_fujian;
SELECT pg_temp.err($$SELECT approve_monitoring_plan(1, acting_for => 3)$$) AS approved_by_a_city;
SELECT pg_temp.err($$SELECT approve_monitoring_plan(1)$$) AS approved_by_nobody;
SELECT pg_temp.err($$SELECT approve_monitoring_plan(99, acting_for => 2)$$) AS unknown_plan;
SELECT approve_monitoring_plan(1, 'complete', acting_for => 2), approve_monitoring_plan(3, acting_for => 2),
       approve_monitoring_plan(4, acting_for => 2);
SELECT pg_temp.err($$SELECT approve_monitoring_plan(1, acting_for => 2)$$) AS approved_twice;
SELECT pg_temp.err($$SELECT reject_monitoring_plan(2, ' ', acting_for => 2)$$) AS rejection_without_reason;
SELECT reject_monitoring_plan(2, 'anode effect monitoring missing', acting_for => 2);
-- a change is a new version; the one in force stays until the new one is approved
SELECT file_monitoring_plan(7, 2024, '{"method": "calculation", "anode_effect": "slope method"}') AS plan_b2;  -- 5
SELECT file_monitoring_plan(6, 2024, '{"method": "CEMS"}') AS plan_a2;                                         -- 6
SELECT plan_id, participant_id, version, from_year, status, decided_by, decision_note FROM mrv_plan ORDER BY plan_id;
SELECT approve_monitoring_plan(5, acting_for => 2), reject_monitoring_plan(6, 'CEMS not certified', acting_for => 2);
SELECT plan_id, participant_id, version, status FROM mrv_plan ORDER BY plan_id;

-- Monthly deposits (关键参数月度存证) ----------------------------------------------------
SET carbonmkt.clock = '2024-02-15 10:00:00+08';
SELECT pg_temp.err($$SELECT deposit_parameters(6, 2024, 13, '{"emissions": 66000}')$$) AS month_13;
SELECT pg_temp.err($$SELECT deposit_parameters(6, 2024, 0, '{"emissions": 66000}')$$) AS month_0;
SELECT pg_temp.err($$SELECT deposit_parameters(6, 2024, 2, '{"emissions": 66000}')$$) AS month_not_over;
SELECT pg_temp.err($$SELECT deposit_parameters(6, 2024, 1, '{"emissions": -5}')$$) AS negative_emissions;
SELECT pg_temp.err($$SELECT deposit_parameters(6, 2024, 1, '{"clinker_output": 5}')$$) AS parameter_of_another_sector;
SELECT pg_temp.err($$SELECT deposit_parameters(6, 2024, 1, '{"emissions": "lots"}')$$) AS not_a_number;
SELECT pg_temp.err($$SELECT deposit_parameters(6, 2024, 1, '{}')$$) AS nothing;
SELECT pg_temp.errd($$SELECT deposit_parameters(6, 2023, 12, '{"emissions": 1}')$$) AS before_the_plan;
SELECT pg_temp.err($$SELECT deposit_parameters(12, 2024, 1, '{"emissions": 100000}')$$) AS deposit_without_plan;
SELECT pg_temp.err($$SELECT deposit_parameters(3, 2024, 1, '{"emissions": 1}')$$) AS deposit_by_an_authority;
SELECT pg_temp.err($$SELECT deposit_parameters(99, 2024, 1, '{"emissions": 1}')$$) AS unknown_unit;
-- unit A: every month on time, 800,000 t in all; unit B: two months late (the tolerance);
-- unit C: three months never deposited
SELECT pg_temp.deposit_year(6, 2024, 800000) AS a_rows,
       pg_temp.deposit_year(7, 2024, 1219905, '{3,4}') AS b_rows,
       pg_temp.deposit_year(8, 2024, 300000, '{}', '{10,11,12}') AS c_rows;
-- a correction is a new version; the old one stays
SET carbonmkt.clock = '2024-08-20 10:00:00+08';
SELECT deposit_parameters(6, 2024, 7, '{"emissions": 66700, "fuel_consumption": 1007.5}', 'meter recalibrated') AS corrected;
-- an implausible value: the anomaly screening shows it (a late correction does not make the month late)
SELECT deposit_parameters(6, 2024, 3, '{"fuel_consumption": 2500}', 'second coal yard counted') AS corrected;
SELECT month, parameter, version, value, due_date, late, deposited_at, note FROM mrv_deposit
 WHERE participant_id = 6 AND month = 7 ORDER BY parameter, version;
SELECT pg_temp.err($$UPDATE mrv_deposit SET value = 0 WHERE deposit_id = 1$$) AS update_deposit;
SELECT pg_temp.err($$DELETE FROM mrv_deposit WHERE deposit_id = 1$$) AS delete_deposit;
SELECT participant_id, count(*) AS rows, count(*) FILTER (WHERE late) AS late_rows, count(DISTINCT month) AS months
  FROM mrv_deposit GROUP BY 1 ORDER BY 1;

-- Sample seed -----------------------------------------------------------------------------
SELECT pg_temp.err($$SELECT record_sample_seed(2024, 'x', acting_for => 2)$$) AS seed_by_a_province;
SELECT record_sample_seed(2024, 'MEE-2024-re-review', acting_for => 1);
SELECT pg_temp.err($$SELECT record_sample_seed(2024, 'another', acting_for => 1)$$) AS seed_twice;
SELECT pg_temp.err($$UPDATE mrv_sample_seed SET seed = 'x'$$) AS seed_changed;
SELECT year, seed, recorded_by, recorded_at FROM mrv_sample_seed;
SELECT p AS unit, mrv_sample_draw('MEE-2024-re-review', p) AS draw FROM generate_series(6, 8) p;

-- Reports (年度排放报告) and GWP conversion ---------------------------------------------------
SET carbonmkt.clock = '2025-03-10 10:00:00+08';
SELECT pg_temp.err($$SELECT submit_report(6, 2025, '{"CO2": 1}')$$) AS year_not_over;
SELECT pg_temp.err($$SELECT appoint_estimator(8, 2024, 10, acting_for => 2)$$) AS estimator_before_the_deadline;
SELECT pg_temp.err($$SELECT submit_report(6, 2024, '{"CO2": -1}')$$) AS negative_emissions;
SELECT pg_temp.err($$SELECT submit_report(6, 2024, '{"CO2": 800000, "CF4": 1}')$$) AS cf4_from_a_power_plant;
SELECT pg_temp.err($$SELECT submit_report(6, 2024, '{"SF6": 1}')$$) AS unknown_gas;
SELECT pg_temp.err($$SELECT submit_report(6, 2024, '[800000]')$$) AS not_an_object;
SELECT pg_temp.err($$SELECT submit_report(6, 2024, '{"CO2": 800000}', compiled_by => 2)$$) AS compiled_by_an_authority;
SELECT pg_temp.err($$SELECT submit_report(12, 2024, '{"CO2": 1}')$$) AS no_plan;
SELECT pg_temp.errd($$SELECT submit_report(13, 2024, '{"CO2": 1}')$$) AS no_city;
SELECT submit_report(6, 2024, '{"CO2": 800000.4}', compiled_by => 9) AS report_a,                         -- 1
       submit_report(7, 2024, '{"CO2": 1200000, "cf4": 2.5, "C2F6": 0.3}') AS report_b;                    -- 2
SELECT pg_temp.err($$SELECT submit_report(6, 2024, '{"CO2": 800000}')$$) AS submitted_twice;
SELECT report_id, data_version, gas, quantity_t, gwp, co2e_t FROM mrv_report_gas ORDER BY 1, 2, gas;
SELECT report_id, participant_id, year, compiled_by, gwp_set, emissions_t, status, due_date, late FROM mrv_report ORDER BY 1;

-- Verification (核查) and the conflict of interest (Decree 775) ---------------------------------
SET carbonmkt.clock = '2025-04-10 10:00:00+08';
SELECT pg_temp.errd($$SELECT verify_report(1, 800000, 'clean', acting_for => 9)$$) AS compiler_verifies;
SELECT pg_temp.err($$SELECT verify_report(2, 1219905, 'clean', acting_for => 9)$$) AS compiler_verifies_another_unit;
SELECT pg_temp.errd($$SELECT verify_report(1, 800000, 'clean', acting_for => 3)$$) AS a_city_verifies;
SELECT pg_temp.err($$SELECT verify_report(1, -1, 'clean', acting_for => 10)$$) AS negative_verified;
SELECT pg_temp.err($$SELECT verify_report(1, 800000, NULL, acting_for => 10)$$) AS no_findings;
SELECT pg_temp.err($$SELECT verify_report(99, 1, 'clean', acting_for => 10)$$) AS unknown_report;
SELECT pg_temp.errd($$SELECT estimate_emissions(1, 800000, acting_for => 10)$$) AS estimate_of_a_reported_unit;
SELECT verify_report(1, 800000, 'clean', 'boundaries and meters checked', acting_for => 10) AS a_version,
       verify_report(2, 1219905, 'problems', 'anode effect data incomplete', acting_for => 11) AS b_version;
-- a firm that verifies in a province may not compile there
SET carbonmkt.clock = '2025-04-11 10:00:00+08';
SELECT pg_temp.errd($$SELECT submit_report(8, 2024, '{"CO2": 300000}', compiled_by => 10)$$) AS verifier_compiles;
SELECT report_id, data_version, status, pending_tier, verifier_id, verified_t, findings, national_reasons FROM mrv_report ORDER BY 1;
SELECT report_id, (assessment->>'sample_draw') AS draw, assessment->>'sample_share' AS share,
       assessment->>'monthly_sum_t' AS monthly_sum, assessment->>'deviation' AS deviation,
       assessment->>'months_missing' AS missing, assessment->>'months_late' AS late,
       assessment->>'rule_jurisdiction' AS rule FROM mrv_report ORDER BY 1;

-- The tiered review (三级联审), enforced by the C trigger on mrv_review ------------------------
SET carbonmkt.clock = '2025-04-15 10:00:00+08';
SELECT pg_temp.errd($$SELECT approve_report(1, acting_for => 2)$$) AS province_before_city;
SELECT pg_temp.errd($$SELECT approve_report(1, acting_for => 1)$$) AS national_before_city;
SELECT pg_temp.errd($$SELECT approve_report(1, acting_for => 4)$$) AS city_of_guangzhou_for_shenzhen;
SELECT pg_temp.err($$SELECT approve_report(1, acting_for => 10)$$) AS a_service_firm;
SELECT pg_temp.err($$SELECT reject_report(1, '', acting_for => 3)$$) AS rejection_without_reason;
SELECT pg_temp.err($$SELECT review_report(1, 'maybe', acting_for => 3)$$) AS bad_decision;
SELECT pg_temp.errd($$SELECT approve_report(1, data_version => 1, acting_for => 3)$$) AS outdated_version;
SELECT pg_temp.errd($$SELECT confirm_emissions(1, acting_for => 2)$$) AS confirm_with_tiers_missing;
-- even a direct INSERT by the superuser cannot skip a tier or review out of its jurisdiction
SELECT pg_temp.errd($$INSERT INTO mrv_review (report_id, data_version, tier, reviewer_id, decision) VALUES (1, 2, 'province', 2, 'approve')$$) AS direct_insert_skipping_city;
SELECT pg_temp.errd($$INSERT INTO mrv_review (report_id, data_version, tier, reviewer_id, decision) VALUES (1, 2, 'province', 3, 'approve')$$) AS city_authority_as_province;
SELECT pg_temp.errd($$INSERT INTO mrv_review (report_id, data_version, tier, reviewer_id, decision) VALUES (1, 2, 'city', 4, 'approve')$$) AS direct_insert_wrong_city;
SELECT approve_report(1, acting_for => 3) AS city_a;
SELECT pg_temp.errd($$SELECT approve_report(1, acting_for => 3)$$) AS city_approves_twice;
SELECT pg_temp.errd($$SELECT approve_report(1, acting_for => 5)$$) AS fujian_for_guangdong;
SELECT pg_temp.errd($$SELECT approve_report(1, acting_for => 1)$$) AS national_skips_province;
SELECT pg_temp.errd($$SELECT confirm_emissions(1, acting_for => 2)$$) AS confirm_without_province;
SELECT report_id, status, pending_tier, state_since FROM mrv_report WHERE report_id = 1;
SELECT approve_report(1, acting_for => 2) AS province_a;
SELECT report_id, status, pending_tier, national_reasons FROM mrv_report WHERE report_id = 1;
SELECT pg_temp.errd($$SELECT approve_report(1, acting_for => 1)$$) AS national_not_required;
SELECT pg_temp.errd($$SELECT approve_report(1, acting_for => 2)$$) AS province_again;
SELECT pg_temp.err($$UPDATE mrv_review SET decision = 'reject'$$) AS review_changed;
SELECT pg_temp.err($$DELETE FROM mrv_review$$) AS reviews_deleted;

-- Report B needs national review (the verification found problems): a rejection at province,
-- a correction (voids the city approval), re-verification, the three tiers again
SELECT approve_report(2, acting_for => 4) AS city_b;
SELECT pg_temp.err($$SELECT confirm_emissions(2, acting_for => 2)$$) AS confirm_b_too_early;
SET carbonmkt.clock = '2025-04-20 10:00:00+08';
SELECT reject_report(2, 'CF4 quantity inconsistent with anode effect minutes', acting_for => 2) AS province_rejects_b;
SELECT report_id, data_version, status, pending_tier, return_reason FROM mrv_report WHERE report_id = 2;
SELECT pg_temp.errd($$SELECT approve_report(2, acting_for => 2)$$) AS review_of_a_returned_report;
SELECT pg_temp.err($$SELECT correct_report(2, '{"CO2": 1200000, "CF4": -2}')$$) AS negative_correction;
SELECT correct_report(2, '{"CO2": 1200000, "CF4": 2.8, "C2F6": 0.3}', 'anode effect minutes recounted') AS b_version;
SELECT report_id, data_version, emissions_t, status, pending_tier, verified_t, national_reasons FROM mrv_report WHERE report_id = 2;
SELECT pg_temp.errd($$SELECT approve_report(2, acting_for => 4)$$) AS review_before_reverification;
SELECT verify_report(2, 1221894, 'problems', 'CF4 monitoring still incomplete', acting_for => 11) AS b_version;
SELECT report_id, data_version, status, pending_tier, national_reasons FROM mrv_report WHERE report_id = 2;
SELECT approve_report(2, acting_for => 4) AS city_b, approve_report(2, acting_for => 2) AS province_b;
SELECT report_id, data_version, status, pending_tier FROM mrv_report WHERE report_id = 2;
SELECT pg_temp.errd($$SELECT confirm_emissions(2, acting_for => 2)$$) AS confirm_without_national;
SELECT approve_report(2, acting_for => 1) AS national_b;
SELECT report_id, status, pending_tier, mrv_missing_tiers(report_id) FROM mrv_report WHERE report_id = 2;

-- A conflict of interest at review: a report that (by a fixture) an authority compiled ---------
INSERT INTO mrv_report (participant_id, year, compiled_by, gwp_set, emissions_t, data_version, status, pending_tier,
                        verified_t, due_date, submitted_at, state_since)
VALUES (6, 2023, 3, 'AR5', 1000, 1, 'in_review', 'city', 1000, '2024-03-31', carbonmkt.clock_now(), carbonmkt.clock_now());  -- 3
SELECT pg_temp.errd($$SELECT approve_report(3, acting_for => 3)$$) AS reviewer_compiled_it;
-- no seed is recorded for 2023: its reports cannot be assessed
SELECT pg_temp.errd($$SELECT mrv_assess(3)$$) AS seed_missing;

-- Appeals (申诉, Art. 28) --------------------------------------------------------------------
SET carbonmkt.clock = '2025-04-25 10:00:00+08';
SELECT pg_temp.err($$SELECT appeal_verification(2, '  ')$$) AS appeal_without_grounds;
SELECT appeal_verification(2, 'the verifier counted a shutdown month twice') AS appeal_1;
SELECT pg_temp.err($$SELECT appeal_verification(2, 'again')$$) AS appeal_twice;
SELECT pg_temp.errd($$SELECT confirm_emissions(2, acting_for => 2)$$) AS confirm_under_appeal;
SELECT pg_temp.err($$SELECT verify_report(2, 1, 'clean', acting_for => 11)$$) AS verify_under_appeal;
SELECT pg_temp.err($$SELECT decide_appeal(1, false, acting_for => 5)$$) AS decided_by_fujian;
SELECT pg_temp.err($$SELECT decide_appeal(1, true, acting_for => 2)$$) AS upheld_without_figure;
SELECT decide_appeal(1, false, memo => 'the month was counted once', acting_for => 2) AS b_version;
SELECT report_id, data_version, status, pending_tier FROM mrv_report WHERE report_id = 2;
SELECT pg_temp.err($$SELECT decide_appeal(1, true, 1, acting_for => 2)$$) AS decided_twice;
SELECT appeal_verification(2, 'new evidence: the meter certificate') AS appeal_2;
SELECT decide_appeal(2, true, 1215000, 'certificate accepted', acting_for => 2) AS b_version;
SELECT report_id, data_version, status, pending_tier, verified_t, national_reasons FROM mrv_report WHERE report_id = 2;
SELECT appeal_id, report_id, data_version, decision, decided_by, new_verified_t FROM mrv_appeal ORDER BY 1;

-- National naming (Art. 29(1)) after the province approved ----------------------------------
SELECT pg_temp.err($$SELECT name_for_national_review(6, 2024, 'spot check', acting_for => 2)$$) AS named_by_a_province;
SELECT name_for_national_review(6, 2024, 'coal consumption far below the sector benchmark', acting_for => 1);
SELECT pg_temp.err($$SELECT name_for_national_review(6, 2024, 'again', acting_for => 1)$$) AS named_twice;
SELECT report_id, status, pending_tier, national_reasons FROM mrv_report WHERE report_id = 1;
SELECT pg_temp.errd($$SELECT confirm_emissions(1, acting_for => 2)$$) AS confirm_a_without_national;

-- Art. 40: unit C did not report; its province appoints a verifier to estimate -------------------
SET carbonmkt.clock = '2025-04-30 10:00:00+08';
SELECT pg_temp.err($$SELECT appoint_estimator(8, 2024, 10, acting_for => 3)$$) AS appointed_by_a_city;
SELECT pg_temp.errd($$SELECT appoint_estimator(8, 2024, 9, acting_for => 2)$$) AS compiler_appointed;
SELECT pg_temp.err($$SELECT appoint_estimator(8, 2024, 5, acting_for => 2)$$) AS an_authority_appointed;
SELECT pg_temp.err($$SELECT appoint_estimator(6, 2024, 10, acting_for => 2)$$) AS unit_that_reported;
SELECT appoint_estimator(8, 2024, 10, acting_for => 2) AS report_c;    -- 4
SELECT pg_temp.errd($$SELECT estimate_emissions(4, 310000, acting_for => 11)$$) AS not_the_appointed_firm;
SELECT pg_temp.err($$SELECT verify_report(4, 310000, 'clean', acting_for => 10)$$) AS verify_an_estimate;
SELECT pg_temp.err($$SELECT submit_report(8, 2024, '{"CO2": 300000}')$$) AS report_after_appointment;
SELECT estimate_emissions(4, 310000, 'from clinker output and the default factor', acting_for => 10) AS c_version;
SELECT pg_temp.err($$SELECT correct_report(4, '{"CO2": 1}')$$) AS unit_corrects_an_estimate;
SELECT pg_temp.err($$SELECT appeal_verification(4, 'too high')$$) AS appeal_an_estimate;
SELECT report_id, estimated, estimator_id, emissions_t, verified_t, status, pending_tier, national_reasons,
       assessment->>'months_missing' AS missing FROM mrv_report WHERE report_id = 4;

-- Review to the end and confirmation (经确认排放量) ---------------------------------------------
SET carbonmkt.clock = '2025-05-10 10:00:00+08';
SELECT approve_report(1, acting_for => 1) AS national_a;
SELECT approve_report(2, acting_for => 4) AS city_b, approve_report(2, acting_for => 2) AS province_b,
       approve_report(2, acting_for => 1) AS national_b;
SELECT approve_report(4, acting_for => 3) AS city_c, approve_report(4, acting_for => 2) AS province_c,
       approve_report(4, acting_for => 1) AS national_c;
SELECT pg_temp.err($$SELECT confirm_emissions(1, acting_for => 3)$$) AS confirmed_by_a_city;
SELECT pg_temp.err($$SELECT confirm_emissions(1, acting_for => 5)$$) AS confirmed_by_fujian;
SET carbonmkt.clock = '2025-05-20 10:00:00+08';
SELECT confirm_emissions(1, acting_for => 2) AS a_t, confirm_emissions(2, acting_for => 2) AS b_t,
       confirm_emissions(4, acting_for => 2) AS c_t;
SELECT pg_temp.err($$SELECT confirm_emissions(1, acting_for => 2)$$) AS confirmed_twice;
SELECT pg_temp.err($$SELECT correct_report(1, '{"CO2": 1}')$$) AS correct_a_confirmed_report;
SELECT pg_temp.err($$SELECT verify_report(1, 1, 'clean', acting_for => 10)$$) AS verify_a_confirmed_report;
SELECT pg_temp.err($$SELECT approve_report(1, acting_for => 1)$$) AS review_a_confirmed_report;
SELECT * FROM confirmed_emission ORDER BY participant_id, year;
-- confirmed figures are immutable
SELECT pg_temp.errd($$UPDATE confirmed_emission SET emissions_t = 1 WHERE participant_id = 6$$) AS update_confirmed;
SELECT pg_temp.errd($$DELETE FROM confirmed_emission WHERE participant_id = 6$$) AS delete_confirmed;
-- the re-opening room alone is not enough: the re-opening must be recorded
BEGIN;
SET LOCAL carbonmkt.acting_room = 'mrv';
SELECT pg_temp.errd($$DELETE FROM confirmed_emission WHERE participant_id = 6$$) AS delete_in_mrv_room_unrecorded;
ROLLBACK;
-- other rooms' test fixtures insert confirmed emissions with a plain INSERT
INSERT INTO confirmed_emission VALUES (12, 2024, 555000, 'verified', NULL, 5, '2025-05-01 00:00+08');
SELECT participant_id, year, emissions_t, basis, report_id FROM confirmed_emission WHERE participant_id = 12;

-- National re-opening --------------------------------------------------------------------------
SET carbonmkt.clock = '2025-06-02 10:00:00+08';
SELECT pg_temp.err($$SELECT reopen_emissions(6, 2024, 'tip-off', acting_for => 2)$$) AS reopened_by_a_province;
SELECT pg_temp.err($$SELECT reopen_emissions(6, 2023, 'tip-off', acting_for => 1)$$) AS nothing_confirmed;
SELECT pg_temp.err($$SELECT reopen_emissions(6, 2024, '', acting_for => 1)$$) AS reopen_without_reason;
SELECT reopen_emissions(6, 2024, 'tip-off: coal purchases exceed reported consumption', acting_for => 1) AS report_a;
SELECT count(*) AS a_confirmed_rows FROM confirmed_emission WHERE participant_id = 6;
SELECT participant_id, year, report_id, old_emissions_t, old_basis, old_confirmed_by, old_confirmed_at, reason, reopened_by
  FROM mrv_reopening;
SELECT report_id, data_version, status, pending_tier, national_reasons FROM mrv_report WHERE report_id = 1;
-- re-verified with a higher figure, reviewed by the three tiers, confirmed again
SELECT verify_report(1, 812500, 'problems', 'coal consumption under-reported', acting_for => 10) AS a_version;
SELECT approve_report(1, acting_for => 3), approve_report(1, acting_for => 2), approve_report(1, acting_for => 1);
SELECT confirm_emissions(1, acting_for => 2) AS a_t;
SELECT participant_id, year, emissions_t, basis, report_id, confirmed_by, confirmed_at FROM confirmed_emission ORDER BY 1, 2;
-- a fixture row without report is re-opened the same way
SELECT reopen_emissions(12, 2024, 'fixture check', acting_for => 1) IS NULL AS no_report_to_review;
SELECT count(*) AS e_confirmed_rows FROM confirmed_emission WHERE participant_id = 12;

-- Everything that happened to report 1 ----------------------------------------------------------
SELECT event_id, data_version, event, tier, actor_id, at, detail FROM mrv_report_event WHERE report_id = 1 ORDER BY event_id;
SELECT event_id, data_version, event, tier, actor_id, at, detail FROM mrv_report_event WHERE report_id = 2 ORDER BY event_id;
SELECT report_id, data_version, tier, reviewer_id, decision, reason FROM mrv_review ORDER BY review_id;

-- Views ------------------------------------------------------------------------------------
SET carbonmkt.clock = '2025-06-10 10:00:00+08';
-- in the queues: unit E's plan (Fujian), the fixture report 3 at city (Shenzhen)
SELECT file_monitoring_plan(12, 2025) AS plan_e;
SELECT authority_id, authority, task, report_id, plan_id, appeal_id, unit_id, year, detail, since, waiting
  FROM mrv_review_queue ORDER BY authority_id, task, report_id, plan_id;
SELECT report_id, participant_id, status, waiting_for, data_version, since, waiting FROM mrv_report_waiting ORDER BY 1;
SELECT participant_id, year, count(*) FILTER (WHERE status = 'on_time') AS on_time,
       count(*) FILTER (WHERE status = 'late') AS late, count(*) FILTER (WHERE status = 'missing') AS missing,
       count(*) FILTER (WHERE status = 'open') AS open, count(*) FILTER (WHERE corrected) AS corrected
  FROM mrv_deposit_status GROUP BY 1, 2 ORDER BY 1, 2;
SELECT participant_id, year, month, required, deposited, due_date, late, status FROM mrv_deposit_status
 WHERE participant_id = 8 AND year = 2024 AND month >= 9 ORDER BY month;
SELECT participant_id, year, month, parameter, version, value, others_mean, deviation, anomaly_threshold
  FROM mrv_deposit_anomaly ORDER BY 1, 2, 3, 4;
SELECT * FROM mrv_data_quality ORDER BY province, year;
