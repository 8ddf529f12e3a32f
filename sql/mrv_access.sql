-- MRV access per role (doc/mrv.md, Access): the workflow played by the logins of the
-- parties themselves.  A unit sees only its own plans, deposits and reports; a service
-- firm the reports it verified; an authority only its jurisdiction (city, province,
-- nation); staff and BI everything.  Identity is the login (session_user), so each block
-- runs under SET SESSION AUTHORIZATION.  Runs in its own database so that ids are
-- deterministic; the regress_mrv_* login roles are cluster-global and are dropped at the end.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_mrv_access;
DROP ROLE IF EXISTS regress_mrv_unit_a, regress_mrv_unit_b, regress_mrv_verifier, regress_mrv_sz, regress_mrv_gz,
                    regress_mrv_gd, regress_mrv_fj, regress_mrv_mee, regress_mrv_bi, regress_mrv_registry,
                    regress_mrv_nobody;
CREATE DATABASE regress_mrv_access;
\c regress_mrv_access
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2024-01-10 10:00:00+08';
SET datestyle = 'ISO, YMD';
SET timezone = 'Asia/Shanghai';
\set VERBOSITY default

CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;
-- what the current login sees of the MRV tables
CREATE FUNCTION pg_temp.sees() RETURNS TABLE (plans text, deposits text, reports text, gas_lines bigint,
                                               verifications bigint, reviews bigint, events bigint)
LANGUAGE sql AS $$
  SELECT (SELECT coalesce(string_agg(DISTINCT participant_id::text, ','), '-') FROM carbonmkt.mrv_plan),
         (SELECT coalesce(string_agg(DISTINCT participant_id::text, ','), '-') FROM carbonmkt.mrv_deposit),
         (SELECT coalesce(string_agg(DISTINCT participant_id::text, ','), '-') FROM carbonmkt.mrv_report),
         (SELECT count(*) FROM carbonmkt.mrv_report_gas), (SELECT count(*) FROM carbonmkt.mrv_verification),
         (SELECT count(*) FROM carbonmkt.mrv_review), (SELECT count(*) FROM carbonmkt.mrv_report_event)
$$;
GRANT EXECUTE ON FUNCTION pg_temp.err(text), pg_temp.sees() TO PUBLIC;

-- Logins -------------------------------------------------------------------------------
CREATE ROLE regress_mrv_unit_a LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_mrv_unit_b LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_mrv_verifier LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_mrv_nobody LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_mrv_sz LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_mrv_gz LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_mrv_gd LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_mrv_fj LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_mrv_mee LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_mrv_bi LOGIN IN ROLE carbonmkt_bi;
CREATE ROLE regress_mrv_registry LOGIN IN ROLE carbonmkt_registry;

-- The registry (here the superuser) registers the parties and maps the logins ----------------
SELECT register_participant('Ministry of Ecology and Environment', 'national_authority', pg_temp.uscc('11100000MB0134256')) AS mee,  -- 1
       register_participant('Guangdong Department of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd,                                                    -- 2
       register_participant('Shenzhen Bureau of Ecology and Environment', 'city_authority',
                            pg_temp.uscc('11440300MB2C9251X'), '440000', '440300') AS sz,                                          -- 3
       register_participant('Guangzhou Bureau of Ecology and Environment', 'city_authority',
                            pg_temp.uscc('11440100MB2C9251X'), '440000', '440100') AS gz,                                          -- 4
       register_participant('Fujian Department of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11350000MB2C9251X'), '350000') AS fj,                                                    -- 5
       register_participant('Shenzhen Power Unit A', 'key_emitter', pg_temp.uscc('91440300MA5F0000A'), '440000', '440300', 'power') AS a,     -- 6
       register_participant('Guangzhou Power Unit B', 'key_emitter', pg_temp.uscc('91440100MA5F0000B'), '440000', '440100', 'power') AS b,    -- 7
       register_participant('Green Verifiers Y', 'service_firm', pg_temp.uscc('91440000MA5F0000Y'), '440000') AS firm_y;                      -- 8
-- the MRV numbers the sources do not give (doc/rules.md): the national authority (participant 1)
-- fills test values through amend_rule: sample 10%, deviation 5%, deposits due 40 days after the
-- month, 0 missing and 2 late months tolerated, anomaly 50%
SELECT amend_rule('mrv_rule', '{"jurisdiction": "CN", "from_year": 2019}',
                  '{"review_sample_share": 0.1, "deviation_threshold": 0.05, "deposit_due_days": 40, "deposit_missing_tolerance": 0,
                    "deposit_late_tolerance": 2, "anomaly_threshold": 0.5}',
                  'test fixture: MRV numbers no source gives', acting_for => 1) ->> 'deposit_due_days' AS mrv_due_days_filled;
SELECT map_login('regress_mrv_mee', 1), map_login('regress_mrv_gd', 2), map_login('regress_mrv_sz', 3),
       map_login('regress_mrv_gz', 4), map_login('regress_mrv_fj', 5), map_login('regress_mrv_unit_a', 6),
       map_login('regress_mrv_unit_b', 7), map_login('regress_mrv_verifier', 8);
-- staff logins act through their mapping too (doc/security.md)
SELECT register_participant('National Carbon Registry', 'registry', pg_temp.uscc('12420000MB1F00001'), '420000') AS registry;   -- 9
SELECT map_login('regress_mrv_registry', 9), map_login('regress_mrv_bi', 1);

-- Monitoring plans: each unit files its own; its province approves --------------------------
SET SESSION AUTHORIZATION regress_mrv_unit_a;
SELECT file_monitoring_plan(6, 2024, '{"method": "calculation"}') AS plan_a;
SELECT pg_temp.err($$SELECT file_monitoring_plan(7, 2024)$$) AS a_files_for_b;
SELECT pg_temp.err($$SELECT approve_monitoring_plan(1)$$) AS a_approves_its_own_plan;
SET SESSION AUTHORIZATION regress_mrv_unit_b;
SELECT file_monitoring_plan(7, 2024, '{"method": "calculation"}') AS plan_b;
SET SESSION AUTHORIZATION regress_mrv_nobody;
SELECT pg_temp.err($$SELECT file_monitoring_plan(6, 2024)$$) AS unmapped_login;
SET SESSION AUTHORIZATION regress_mrv_sz;
SELECT pg_temp.err($$SELECT approve_monitoring_plan(1)$$) AS city_approves_plan;
SELECT pg_temp.err($$SELECT approve_monitoring_plan(1, acting_for => 2)$$) AS city_acts_for_the_province;
SET SESSION AUTHORIZATION regress_mrv_fj;
SELECT pg_temp.err($$SELECT approve_monitoring_plan(1)$$) AS fujian_approves_plan;
SET SESSION AUTHORIZATION regress_mrv_gd;
SELECT approve_monitoring_plan(1), approve_monitoring_plan(2);
SET SESSION AUTHORIZATION regress_mrv_mee;
SELECT record_sample_seed(2024, 'access-test-2024');
RESET SESSION AUTHORIZATION;

-- Deposits and reports by the units themselves.  Both deposit the whole year at once in
-- January 2025, so most months are late and national review will be required (deposits_late).
SET carbonmkt.clock = '2025-01-20 10:00:00+08';
SET SESSION AUTHORIZATION regress_mrv_unit_a;
SELECT sum(deposit_parameters(6, 2024, m, jsonb_build_object('emissions', 50000, 'fuel_consumption', 20000,
                                                              'carbon_content', 0.0261, 'power_supplied', 90000))) AS a_rows
  FROM generate_series(1, 12) m;
SELECT pg_temp.err($$SELECT deposit_parameters(7, 2024, 1, '{"emissions": 1}')$$) AS a_deposits_for_b;
SET SESSION AUTHORIZATION regress_mrv_unit_b;
SELECT sum(deposit_parameters(7, 2024, m, jsonb_build_object('emissions', 40000, 'fuel_consumption', 16000,
                                                              'carbon_content', 0.0262, 'power_supplied', 70000))) AS b_rows
  FROM generate_series(1, 12) m;
RESET SESSION AUTHORIZATION;
SET carbonmkt.clock = '2025-03-01 10:00:00+08';
SET SESSION AUTHORIZATION regress_mrv_unit_b;
SELECT pg_temp.err($$SET carbonmkt.clock = '2025-01-01 00:00:00+08'$$) AS unit_sets_the_clock;
SELECT submit_report(7, 2024, '{"CO2": 480000}') AS report_b;
SET SESSION AUTHORIZATION regress_mrv_unit_a;
SELECT submit_report(6, 2024, '{"CO2": 600000}') AS report_a;
SELECT pg_temp.err($$SELECT verify_report(1, 600000, 'clean')$$) AS a_verifies_itself;
SELECT pg_temp.err($$SELECT review_report(1, 'approve')$$) AS a_reviews;
SELECT pg_temp.err($$INSERT INTO mrv_report (participant_id, year, gwp_set, due_date, submitted_at, state_since, compiled_by)
                     VALUES (6, 2023, 'AR5', '2024-03-31', now(), now(), 6)$$) AS a_inserts_a_report;
SET SESSION AUTHORIZATION regress_mrv_verifier;
SELECT pg_temp.err($$SELECT verify_report(1, 480000, 'clean', acting_for => 7)$$) AS firm_acts_for_b;
SELECT verify_report(1, 480000, 'clean') AS b_version, verify_report(2, 600000, 'clean') AS a_version;
RESET SESSION AUTHORIZATION;

-- Who sees what ----------------------------------------------------------------------------------
SET SESSION AUTHORIZATION regress_mrv_unit_a;
SELECT 'unit A' AS login, * FROM pg_temp.sees();
SET SESSION AUTHORIZATION regress_mrv_unit_b;
SELECT 'unit B' AS login, * FROM pg_temp.sees();
SET SESSION AUTHORIZATION regress_mrv_verifier;
SELECT 'verifier Y' AS login, * FROM pg_temp.sees();
SET SESSION AUTHORIZATION regress_mrv_nobody;
SELECT 'unmapped' AS login, * FROM pg_temp.sees();
SET SESSION AUTHORIZATION regress_mrv_sz;
SELECT 'Shenzhen' AS login, * FROM pg_temp.sees();
SET SESSION AUTHORIZATION regress_mrv_gz;
SELECT 'Guangzhou' AS login, * FROM pg_temp.sees();
SET SESSION AUTHORIZATION regress_mrv_gd;
SELECT 'Guangdong' AS login, * FROM pg_temp.sees();
SET SESSION AUTHORIZATION regress_mrv_fj;
SELECT 'Fujian' AS login, * FROM pg_temp.sees();
SET SESSION AUTHORIZATION regress_mrv_mee;
SELECT 'MEE' AS login, * FROM pg_temp.sees();
SET SESSION AUTHORIZATION regress_mrv_bi;
SELECT 'BI' AS login, * FROM pg_temp.sees();
SET SESSION AUTHORIZATION regress_mrv_registry;
SELECT 'registry' AS login, * FROM pg_temp.sees();
-- the unit's own deposit status; the views authorities use are not for units
SET SESSION AUTHORIZATION regress_mrv_unit_a;
SELECT participant_id, year, count(*) AS months, count(*) FILTER (WHERE status = 'on_time') AS on_time
  FROM mrv_deposit_status GROUP BY 1, 2;
SELECT pg_temp.err($$SELECT * FROM mrv_review_queue$$) AS unit_reads_the_queue;
SELECT pg_temp.err($$SELECT * FROM mrv_data_quality$$) AS unit_reads_data_quality;
RESET SESSION AUTHORIZATION;

-- The review by each authority's own login ----------------------------------------------------------
SET carbonmkt.clock = '2025-04-15 10:00:00+08';
SET SESSION AUTHORIZATION regress_mrv_sz;
SELECT authority, task, report_id, unit, detail FROM mrv_review_queue;
SELECT pg_temp.err($$SELECT approve_report(1)$$) AS shenzhen_reviews_guangzhou;
SELECT approve_report(2) AS city_a;
SELECT pg_temp.err($$INSERT INTO mrv_review (report_id, data_version, tier, reviewer_id, decision)
                     VALUES (2, 2, 'province', 2, 'approve')$$) AS city_inserts_a_review;
SET SESSION AUTHORIZATION regress_mrv_gz;
SELECT authority, task, report_id, unit, detail FROM mrv_review_queue;
SELECT approve_report(1) AS city_b;
SET SESSION AUTHORIZATION regress_mrv_gd;
SELECT authority, task, report_id, unit, detail FROM mrv_review_queue ORDER BY report_id;
SELECT approve_report(1) AS province_b, approve_report(2) AS province_a;
SELECT authority, task, report_id, unit, detail FROM mrv_review_queue ORDER BY report_id;
SET SESSION AUTHORIZATION regress_mrv_fj;
SELECT count(*) AS fujian_tasks FROM mrv_review_queue;
SELECT pg_temp.err($$SELECT confirm_emissions(2)$$) AS fujian_confirms;
SET SESSION AUTHORIZATION regress_mrv_gd;
SELECT pg_temp.err($$SELECT confirm_emissions(1)$$) AS confirm_before_national;
SET SESSION AUTHORIZATION regress_mrv_mee;
SELECT authority, task, report_id, unit, detail FROM mrv_review_queue ORDER BY report_id;
SELECT approve_report(1) AS national_b, approve_report(2) AS national_a;
SET SESSION AUTHORIZATION regress_mrv_gd;
SELECT authority, task, report_id, unit, detail FROM mrv_review_queue ORDER BY report_id;
SELECT confirm_emissions(1) AS b_t, confirm_emissions(2) AS a_t;
SELECT province, year, units, months_due, reports, confirmed FROM mrv_data_quality;
SET SESSION AUTHORIZATION regress_mrv_fj;
SELECT count(*) AS fujian_rows FROM mrv_data_quality;
SET SESSION AUTHORIZATION regress_mrv_sz;
SELECT province, year, units, months_due, reports, confirmed FROM mrv_data_quality;
RESET SESSION AUTHORIZATION;

-- Confirmed emissions: readable by every carbonmkt role, written by no login ----------------------
SET SESSION AUTHORIZATION regress_mrv_unit_b;
SELECT participant_id, year, emissions_t, basis FROM confirmed_emission ORDER BY 1;
SELECT pg_temp.err($$UPDATE confirmed_emission SET emissions_t = 1$$) AS unit_updates;
SELECT pg_temp.err($$SELECT reopen_emissions(7, 2024, 'please')$$) AS unit_reopens;
SET SESSION AUTHORIZATION regress_mrv_registry;
SELECT pg_temp.err($$DELETE FROM confirmed_emission$$) AS registry_deletes;
SET SESSION AUTHORIZATION regress_mrv_gd;
SELECT pg_temp.err($$SELECT reopen_emissions(7, 2024, 'recount')$$) AS province_reopens;
SET SESSION AUTHORIZATION regress_mrv_mee;
SELECT reopen_emissions(7, 2024, 'recount ordered') AS reopened_report;
SELECT participant_id, year, emissions_t FROM confirmed_emission ORDER BY 1;
SELECT current_setting('carbonmkt.acting_room') = '' AS room_reset_after_reopening;
SELECT authority, task, report_id FROM mrv_review_queue;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_mrv_gz;
SELECT authority, task, report_id, detail FROM mrv_review_queue;
RESET SESSION AUTHORIZATION;

-- Clean up: the database first, then the cluster-global roles
\c postgres
SET client_min_messages = warning;
DROP DATABASE regress_mrv_access;
DROP ROLE regress_mrv_unit_a, regress_mrv_unit_b, regress_mrv_verifier, regress_mrv_sz, regress_mrv_gz,
          regress_mrv_gd, regress_mrv_fj, regress_mrv_mee, regress_mrv_bi, regress_mrv_registry,
          regress_mrv_nobody;
