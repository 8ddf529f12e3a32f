-- Security (doc/security.md, issue 13): staff scope that fails closed, the cancellation
-- account reached only by surrender and cancellation, holds, login mapping, error details
-- that name no other party, separation of duties (four-eyes), plausibility limits as rule
-- rows and the API's own refusals for bad arguments.  One block per defect of issue 13,
-- each asserting the refusal (SQLSTATE and message).  Own database for deterministic ids;
-- the regress_sec_* login roles are cluster-global and are dropped at the end.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_security;
DROP ROLE IF EXISTS regress_sec_mee, regress_sec_gd, regress_sec_hb, regress_sec_sz, regress_sec_loose,
                    regress_sec_unit1, regress_sec_unit2, regress_sec_registry, regress_sec_registry2, regress_sec_firm,
                    regress_sec_bare_registry, regress_sec_bare_exchange, regress_sec_bare_settlement,
                    regress_sec_bare_bi, regress_sec_misfit;
CREATE DATABASE regress_security;
\c regress_security
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2025-06-02 10:00:00+08';
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
GRANT EXECUTE ON FUNCTION pg_temp.err(text) TO PUBLIC;

-- Logins: national, two provincial, one city authority, one authority login mapped to nobody,
-- two key emitters, the registry (twice) and a service firm.
CREATE ROLE regress_sec_mee LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_sec_gd LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_sec_hb LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_sec_sz LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_sec_loose LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_sec_unit1 LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_sec_unit2 LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_sec_registry LOGIN IN ROLE carbonmkt_registry;
CREATE ROLE regress_sec_registry2 LOGIN IN ROLE carbonmkt_registry;
CREATE ROLE regress_sec_firm LOGIN IN ROLE carbonmkt_participant;

SELECT register_participant('Ministry of Ecology and Environment', 'national_authority', pg_temp.uscc('11100000MB0134256')) AS mee,  -- 1
       register_participant('Guangdong DEE', 'provincial_authority', pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd,       -- 2
       register_participant('Hubei DEE', 'provincial_authority', pg_temp.uscc('11420000MB2C9251X'), '420000') AS hb,           -- 3
       register_participant('Shenzhen Bureau of Ecology and Environment', 'city_authority', pg_temp.uscc('11440300MB2C9251X'),
                            '440000', '440300') AS sz,                                                                         -- 4
       register_participant('Shenzhen Power 1', 'key_emitter', pg_temp.uscc('91440300MA5F00001'), '440000', '440300', 'power') AS unit1, -- 5
       register_participant('Wuhan Cement 2', 'key_emitter', pg_temp.uscc('91420100MA5F00003'), '420000', '420100', 'cement') AS unit2,  -- 6
       register_participant('Pearl River Carbon Verification', 'service_firm', pg_temp.uscc('91440101MA5F00007'), '440000') AS firm;     -- 7
-- the MRV numbers the sources do not give (doc/rules.md): the national authority (participant 1)
-- fills test values through amend_rule: sample 10%, deviation 5%, deposits due 40 days after the
-- month, 0 missing and 2 late months tolerated, anomaly 50%
SELECT amend_rule('mrv_rule', '{"jurisdiction": "CN", "from_year": 2019}',
                  '{"review_sample_share": 0.1, "deviation_threshold": 0.05, "deposit_due_days": 40, "deposit_missing_tolerance": 0,
                    "deposit_late_tolerance": 2, "anomaly_threshold": 0.5}',
                  'test fixture: MRV numbers no source gives', acting_for => 1) ->> 'deposit_due_days' AS mrv_due_days_filled;
SELECT map_login('regress_sec_mee', 1), map_login('regress_sec_gd', 2), map_login('regress_sec_hb', 3),
       map_login('regress_sec_sz', 4), map_login('regress_sec_unit1', 5), map_login('regress_sec_unit2', 6),
       map_login('regress_sec_firm', 7);
-- the registry's logins act for the registry (a staff role counts only through its mapping)
SELECT register_participant('National Carbon Registry', 'registry', pg_temp.uscc('12420000MB1F00001'), '420000') AS registry; -- 8
SELECT map_login('regress_sec_registry', 8), map_login('regress_sec_registry2', 8);
SELECT open_account(2, 'allocation') AS gd_alloc,   -- 3
       open_account(3, 'allocation') AS hb_alloc,   -- 4
       open_account(5, 'holding') AS u1,            -- 5
       open_account(6, 'holding') AS u2;            -- 6
SELECT account_id, kind, province FROM account ORDER BY 1;
SELECT issue_cea(3, 2024, 1000) IS NOT NULL AS gd_issued, issue_cea(4, 2024, 1000) IS NOT NULL AS hb_issued,
       transfer_cea(3, 5, 2024, 100) IS NOT NULL AS to_unit1, transfer_cea(4, 6, 2024, 100) IS NOT NULL AS to_unit2;
SELECT issue_ccer(1, 'CCER:GD-OW-0042:2024:1-1000') IS NOT NULL AS ccer_issued,
       transfer_ccer(1, 5, 'GD-OW-0042', 2024, 100) IS NOT NULL AS ccer_to_unit1;

-- Defect 1: issuance and authority accounts fail closed ---------------------------------
-- The city authority and an unmapped authority login never create or move units; a provincial
-- authority issues into its own province's allocation account only; the national authority
-- into any allocation account and the national reserve.
SET SESSION AUTHORIZATION regress_sec_sz;
SELECT pg_temp.err($$SELECT issue_cea(3, 2024, 1000000)$$) AS city_issues;
SELECT pg_temp.err($$SELECT transfer_cea(3, 5, 2024, 10)$$) AS city_moves_allocation;
SELECT pg_temp.err($$SELECT issue_ccer(1, 'CCER:GD-OW-0042:2024:5001-6000')$$) AS city_issues_ccer;
SET SESSION AUTHORIZATION regress_sec_loose;
SELECT pg_temp.err($$SELECT issue_cea(3, 2024, 1000000)$$) AS unmapped_issues;
SELECT pg_temp.err($$SELECT transfer_cea(4, 5, 2024, 10)$$) AS unmapped_moves_allocation;
SELECT pg_temp.err($$SELECT transfer_ccer(1, 5, 'GD-OW-0042', 2024, 10)$$) AS unmapped_moves_reserve;
SET SESSION AUTHORIZATION regress_sec_hb;
SELECT pg_temp.err($$SELECT issue_cea(3, 2024, 10)$$) AS hubei_issues_in_guangdong;
SELECT pg_temp.err($$SELECT issue_ccer(1, 'CCER:GD-OW-0042:2024:5001-6000')$$) AS province_issues_ccer;
SELECT issue_cea(4, 2024, 10) IS NOT NULL AS hubei_issues_in_hubei;
SET SESSION AUTHORIZATION regress_sec_mee;
SELECT issue_cea(3, 2024, 10) IS NOT NULL AS national_issues_in_guangdong,
       issue_ccer(1, 'CCER:GD-OW-0042:2024:5001-6000') IS NOT NULL AS national_issues_ccer;
RESET SESSION AUTHORIZATION;
SELECT account_id, asset, balance FROM account_balance WHERE account_id IN (1, 3, 4) ORDER BY 1, 2;

-- Defect 2: compliance scope fails closed --------------------------------------------------
SELECT open_period(2024, '2024 annual compliance', 2024, 2024, '2025-12-31');
INSERT INTO confirmed_emission (participant_id, year, emissions_t, basis, confirmed_by, confirmed_at) VALUES
  (5, 2024, 1000, 'verified', 2, '2025-05-30 10:00+08'), (6, 2024, 1000, 'verified', 3, '2025-05-30 10:00+08');
SET SESSION AUTHORIZATION regress_sec_loose;
SELECT * FROM caller_scope();
SELECT count(*) AS obligations_seen FROM obligation_status;
SELECT count(*) AS accounts_seen FROM account;
SELECT count(*) AS journal_seen FROM journal;
SELECT pg_temp.err($$SELECT open_period(2025, 'x', 2025, 2025, '2026-12-31')$$) AS open_period;
SELECT pg_temp.err($$SELECT close_period(2024)$$) AS close_period;
SELECT pg_temp.err($$SELECT flag_hardship(5, 2024, 'x')$$) AS flag_hardship;
SELECT pg_temp.err($$SELECT set_gas_fired(5, true)$$) AS set_gas_fired;
SELECT pg_temp.err($$SELECT record_average_price('2025-06-01', 60.00, 'x')$$) AS record_reference_price;
SELECT pg_temp.err($$SELECT count(*) FROM statement(5, '2024-01-01', '2026-01-01')$$) AS statement;   -- 42501, not 0 rows
SET SESSION AUTHORIZATION regress_sec_sz;
SELECT province, city, sees_all FROM caller_scope();
SELECT participant_id FROM obligation_status ORDER BY 1;
SELECT pg_temp.err($$SELECT open_period(2025, 'x', 2025, 2025, '2026-12-31')$$) AS city_opens_period;
SET SESSION AUTHORIZATION regress_sec_gd;
SELECT participant_id FROM obligation_status ORDER BY 1;
SELECT pg_temp.err($$SELECT flag_hardship(6, 2024, 'a Hubei unit')$$) AS guangdong_flags_hubei;
RESET SESSION AUTHORIZATION;

-- Defect 3: only surrender and cancellation reach the cancellation account (2) -----------
SET SESSION AUTHORIZATION regress_sec_unit1;
SELECT pg_temp.err($$SELECT transfer_cea(5, 2, 2024, 1)$$) AS transfer_cea_in;
SELECT pg_temp.err($$SELECT transfer_ccer(5, 2, 'GD-OW-0042', 2024, 1)$$) AS transfer_ccer_in;
SELECT pg_temp.err($$SELECT transfer_ccer_block(5, 2, 'CCER:GD-OW-0042:2024:1-1')$$) AS transfer_ccer_block_in;
SELECT hold(5, 'CEA', 5, 'other', 2024) AS own_hold;   -- hold 1
SELECT pg_temp.err($$SELECT transfer_from_hold(1, 2, 1)$$) AS transfer_from_hold_in;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.err($$SELECT transfer_cea(5, 2, 2024, 1)$$) AS registry_transfer_in;
SELECT pg_temp.err($$SELECT transfer_from_hold(1, 2, 1)$$) AS registry_from_hold_in;
SELECT retire_cea(5, 2024, 1) IS NOT NULL AS cancellation_still_works;
SELECT count(*) AS ledger_problems FROM verify_ledger();

-- Defect 7: holds, the cancellation account's status, login mapping ----------------------
SELECT pg_temp.err($$SELECT transfer_from_hold(1, 5, 1)$$) AS into_own_account;
SELECT pg_temp.err($$SELECT transfer_from_hold(1, NULL, 1)$$) AS to_nowhere;
SELECT pg_temp.err($$SELECT set_account_status(2, 'closed')$$) AS close_cancellation;
SELECT pg_temp.err($$SELECT set_account_status(2, 'frozen')$$) AS freeze_cancellation;
SELECT pg_temp.err($$SELECT set_account_status(5, NULL)$$) AS null_status;
SELECT status FROM account WHERE account_id = 2;
SELECT pg_temp.err($$SELECT map_login('regress_sec_not_yet_created', 5)$$) AS map_unknown_role;
SELECT pg_temp.err($$SELECT map_login(NULL, 5)$$) AS map_null_role;
SELECT count(*) AS mappings_of_unknown_roles FROM participant_login WHERE role_name::text LIKE 'regress_sec_not%';

-- Defect 10: a refusal names no other party ------------------------------------------------
SET SESSION AUTHORIZATION regress_sec_unit2;
SELECT transfer_cea(5, 6, 2024, 1);
RESET SESSION AUTHORIZATION;

-- Four-eyes (separation of duties) ------------------------------------------------------------
-- A report of unit 5 (Shenzhen), submitted by the registry acting for the unit, verified by the firm.
RESET SESSION AUTHORIZATION;
SET carbonmkt.clock = '2025-03-01 10:00:00+08';
SELECT file_monitoring_plan(5, 2024, '{"method": "calculation"}') AS plan, file_monitoring_plan(6, 2024, '{"method": "calculation"}') AS plan_b;
SELECT approve_monitoring_plan(1, acting_for => 2), approve_monitoring_plan(2, acting_for => 3);
SELECT record_sample_seed(2024, 'security-2024', acting_for => 1);
SET SESSION AUTHORIZATION regress_sec_registry;
SELECT submit_report(5, 2024, '{"CO2": 900}') AS report;   -- report 1, compiled through the registry's login
SET SESSION AUTHORIZATION regress_sec_firm;
SELECT verify_report(1, 900, 'clean') AS data_version;
-- the registry compiled it: it may not approve it, not even acting for the city
SET SESSION AUTHORIZATION regress_sec_registry;
SELECT pg_temp.err($$SELECT approve_report(1, acting_for => 4)$$) AS compiler_approves;
-- a second registry login approves the city tier acting for Shenzhen, and may not approve the next tier
SET SESSION AUTHORIZATION regress_sec_registry2;
SELECT approve_report(1, acting_for => 4) AS city_review;
SELECT pg_temp.err($$SELECT approve_report(1, acting_for => 2)$$) AS same_login_second_tier;
-- the review row records the real login
RESET SESSION AUTHORIZATION;
SELECT review_id, tier, reviewer_id, reviewer_login, decision FROM mrv_review ORDER BY 1;
SELECT event, actor_id, login FROM mrv_report_event WHERE report_id = 1 ORDER BY event_id;
-- the province's own login approves the province tier
SET SESSION AUTHORIZATION regress_sec_gd;
SELECT approve_report(1) AS province_review;
RESET SESSION AUTHORIZATION;
SELECT status, pending_tier FROM mrv_report WHERE report_id = 1;
-- judicial holds: the registry login that laid a freeze does not lift it while a second
-- registry login exists; the second one does
SET SESSION AUTHORIZATION regress_sec_registry;
SELECT hold(6, 'CEA', 7, 'judicial', 2024, '', NULL, 'court order 2') AS judicial_hold;   -- hold 2
SELECT pg_temp.err($$SELECT release_hold(2)$$) AS same_login_lifts;
SET SESSION AUTHORIZATION regress_sec_registry2;
SELECT release_hold(2) IS NOT NULL AS second_login_lifts;
RESET SESSION AUTHORIZATION;

-- Defect 8: plausibility limits are rule rows --------------------------------------------------
SELECT subject, scope, max_value FROM plausibility_limit ORDER BY 1, 2;
SELECT count(*) AS rows_without_source FROM plausibility_limit WHERE btrim(source) = '';
SELECT pg_temp.err($$SELECT verify_report(1, 9223372036854775807, 'clean', acting_for => 7)$$) AS verified_9e18;
SELECT pg_temp.err($$SELECT submit_report(6, 2024, '{"CO2": 1e400}')$$) AS reported_1e400;
SELECT pg_temp.err($$SELECT submit_report(6, 2024, '{"CO2": 3500000001}')$$) AS reported_above_cement_sector;
SELECT pg_temp.err($$SELECT deposit_parameters(5, 2024, 1, '{"emissions": 1e400}')$$) AS deposit_1e400;
SELECT pg_temp.err($$SELECT deposit_parameters(5, 2024, 1, '{"emissions": 4500000001}')$$) AS deposit_above_power_sector;
SELECT deposit_parameters(5, 2024, 1, '{"emissions": 4500000000}') AS deposit_at_the_limit;
SELECT pg_temp.err($$SELECT register_participant(repeat('x', 3000000), 'individual', pg_temp.uscc('91440300MA5F0000Q'))$$) AS name_3mb;
SELECT pg_temp.err($$SELECT transfer_cea(5, 6, 2024, 1, NULL, repeat('m', 1000000))$$) AS memo_1mb;
SELECT pg_temp.err($$SELECT transfer_ccer(5, 6, 'GD-OW-0042', 2024, 1, NULL, repeat('m', 1000000))$$) AS ccer_memo_1mb;
SELECT pg_temp.err($$SELECT issue_cea(3, 2024, 1, repeat('r', 201))$$) AS reference_201;
SELECT pg_temp.err($$SELECT open_period(2025, 'x', 2025, 2025, 'infinity')$$) AS infinite_deadline;
SELECT pg_temp.err($$SELECT open_period(2025, 'x', 2025, 2025, '2031-01-01')$$) AS deadline_beyond_the_limit;
SELECT pg_temp.err($$SELECT register_participant('zeros', 'individual', '000000000000000000')$$) AS all_zero_code;
SELECT pg_temp.err($$SELECT register_participant('bad type', 'individual', pg_temp.uscc('95440300MA5F0000Q'))$$) AS org_type_5_of_9;
SELECT pg_temp.err($$SELECT register_participant('bad region', 'individual', pg_temp.uscc('91990300MA5F0000Q'))$$) AS region_99;
SELECT register_participant('Shenzhen Trader', 'individual', pg_temp.uscc('91440300MA5F0000Q')) AS valid_code;   -- 9
-- a limit is data: raising it lets the value through
UPDATE plausibility_limit SET max_value = 5000000000 WHERE subject = 'deposit_parameter' AND scope = 'emissions';
SELECT deposit_parameters(5, 2024, 2, '{"emissions": 4500000001}') AS deposit_after_raising_the_limit;

-- Defect 9: every refusal is the API's own (the arguments found raw by the API fuzzer) -----------
SELECT pg_temp.err($$SELECT transfer_cea(5, NULL, 2024, 1)$$) AS transfer_to_null;
SELECT pg_temp.err($$SELECT transfer_cny(7, NULL, 1)$$) AS transfer_cny_to_null;
SELECT pg_temp.err($$SELECT hold(5, NULL, 0, 'order')$$) AS hold_null_instrument_crashed;
SELECT pg_temp.err($$SELECT hold(5, 'CEA', 1, NULL, 2024)$$) AS hold_null_reason;
SELECT pg_temp.err($$SELECT record_sample_seed(2030, NULL, acting_for => 1)$$) AS seed_null;
SELECT pg_temp.err($$SELECT record_sample_seed(-2147483648, 'x', acting_for => 1)$$) AS seed_year_minint;
SELECT pg_temp.err($$SELECT mrv_deposit_due(12, -1, 2147483647)$$) AS deposit_due_out_of_range;
SELECT pg_temp.err($$SELECT fee_fen(4, 1e20)$$) AS fee_overflow;
SELECT pg_temp.err($$SELECT open_account(2, NULL)$$) AS open_account_null_kind;
SELECT pg_temp.err($$SELECT open_account(2, 'allocation')$$) AS second_allocation_account;
SELECT pg_temp.err($$SELECT adopt_preallocation(2024, '{}', NULL)$$) AS adopt_null_jurisdiction;
SET SESSION AUTHORIZATION regress_sec_sz;
SELECT pg_temp.err($$SELECT approve_report(NULL)$$) AS approve_null_report;
SET SESSION AUTHORIZATION regress_sec_gd;
SELECT pg_temp.err($$SELECT appoint_estimator(5, 2147483647, 7)$$) AS estimator_year_maxint;
SET SESSION AUTHORIZATION regress_sec_mee;
SELECT pg_temp.err($$SELECT name_for_national_review(5, 1000000, 'x')$$) AS naming_year_1000000;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.err($$SELECT register_participant('x', NULL, NULL)$$) AS register_null_kind;
SELECT pg_temp.err($$SELECT issue_cea(3, 2024, 9223372036854775807)$$) AS issue_near_int8;
SELECT pg_temp.err($$SELECT issue_cea(3, NULL, 10)$$) AS issue_null_vintage;
SELECT pg_temp.err($$SELECT mrv_deposit_due(2024, 2, -2147483648)$$) AS deposit_due_minint;
SELECT open_account(5, 'cash') AS u1_cash;   -- 7
UPDATE plausibility_limit SET max_value = 9223372036854775807 WHERE subject = 'issue_quantity' AND scope = 'CNY';
SELECT deposit_cny(7, 9223372036854775000) IS NOT NULL AS deposited_near_int8;
SELECT pg_temp.err($$SELECT deposit_cny(7, 1000)$$) AS deposit_beyond_int8;
SELECT pg_temp.err($$SELECT list_product('CEA2024', 60, 9, NULL, 'CEA', 'cement')$$) AS cea_product_with_project;
-- NULL lots (the 1,000,000-call API fuzz run): a NULL CCER project or vintage reached the
-- holding look-up as a NULL pointer and crashed the backend; now the API's CM904
SET SESSION AUTHORIZATION regress_sec_unit1;
SELECT pg_temp.err($$SELECT surrender_ccer(5, NULL::text, NULL::int, 2, 1019946472, 'x', 'y')$$) AS surrender_null_project_crashed;
SELECT pg_temp.err($$SELECT surrender_ccer(5, 'GD-OW-0042', NULL, 2, 2024)$$) AS surrender_ccer_null_vintage;
SELECT pg_temp.err($$SELECT transfer_ccer(5, 6, NULL, 2024, 1)$$) AS transfer_ccer_null_project;
SELECT pg_temp.err($$SELECT transfer_ccer(5, 6, 'GD-OW-0042', NULL, 1)$$) AS transfer_ccer_null_vintage;
SELECT pg_temp.err($$SELECT retire_ccer(5, NULL, 2024, 1)$$) AS retire_ccer_null_project;
SELECT pg_temp.err($$SELECT surrender_cea(5, NULL, 1, 2024)$$) AS surrender_cea_null_vintage;
SELECT pg_temp.err($$SELECT retire_cea(5, NULL, 1)$$) AS retire_cea_null_vintage;
SELECT pg_temp.err($$SELECT hold(5, 'CEA', 1, 'other', NULL)$$) AS hold_cea_null_vintage;
SELECT pg_temp.err($$SELECT hold(5, 'CCER', 1, 'other', NULL, 'GD-OW-0042')$$) AS hold_ccer_null_vintage;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.err($$SELECT surrender_ccer(5, NULL::text, NULL::int, 2, 1019946472, 'x', 'y')$$) AS superuser_surrender_null_project;
-- int8-sized quantities (the 1,000,000-call run): more than the sender holds, and the receiver's
-- balance (the cancellation account's, after earlier retirements) or the held sum would overflow
-- inside the guarded change; now CM004 like any quantity not covered
SELECT pg_temp.err($$SELECT retire_cea(5, 2024, 9223372036854775807)$$) AS retire_int8_max;
SELECT pg_temp.err($$SELECT transfer_cea(5, 6, 2024, 9223372036854775807)$$) AS transfer_int8_max;
SELECT pg_temp.err($$SELECT hold(5, 'CEA', 9223372036854775807, 'other', 2024)$$) AS hold_int8_max;
-- a price far beyond its plausibility limit overflowed the int8 fen (raw 22003, the 1,000,000-call run)
SELECT pg_temp.err($$SELECT record_average_price('2024-12-31', 99999999999999999999.99, 'x')$$) AS average_price_1e20;
SELECT pg_temp.err($$SELECT record_reference_price('2024-12-31', 9223372036854775806, 'x')$$) AS reference_price_int8;
-- NULL names reached a NOT NULL column (raw 23502)
SELECT pg_temp.err($$SELECT open_period(2030, NULL, 2030, 2030, '2031-12-31')$$) AS open_period_null_name;
SELECT pg_temp.err($$SELECT open_period(NULL, 'x', 2030, 2030, '2031-12-31')$$) AS open_period_null_period;
SELECT pg_temp.err($$SELECT register_ccer_project('GD-PV-0001', NULL, 'solar_pv', '440000')$$) AS ccer_project_null_name;

-- Staff scope fails closed for every staff role -------------------------------------------------
-- A login of the registry, exchange, settlement or BI role that is mapped to nobody, or to a
-- party of another kind, can do nothing and sees nothing; mapped, the same role works.
CREATE ROLE regress_sec_bare_registry LOGIN IN ROLE carbonmkt_registry;
CREATE ROLE regress_sec_bare_exchange LOGIN IN ROLE carbonmkt_exchange;
CREATE ROLE regress_sec_bare_settlement LOGIN IN ROLE carbonmkt_settlement;
CREATE ROLE regress_sec_bare_bi LOGIN IN ROLE carbonmkt_bi;
CREATE ROLE regress_sec_misfit LOGIN IN ROLE carbonmkt_registry;
SELECT map_login('regress_sec_misfit', 5);   -- the registry role, mapped to a key emitting unit
SET SESSION AUTHORIZATION regress_sec_bare_registry;
SELECT (SELECT count(*) FROM participant) AS participants, (SELECT count(*) FROM account) AS accounts,
       (SELECT count(*) FROM journal) AS entries, (SELECT count(*) FROM obligation_status) AS obligations;
SELECT pg_temp.err($$SELECT register_participant('x', 'individual', pg_temp.uscc('91440300MA5F0000Q'))$$) AS bare_registry_registers;
SELECT pg_temp.err($$SELECT open_account(5, 'cash')$$) AS bare_registry_opens;
SELECT pg_temp.err($$SELECT transfer_cea(5, 6, 2024, 1)$$) AS bare_registry_moves;
SELECT pg_temp.err($$SELECT hold(6, 'CEA', 1, 'judicial', 2024, '', NULL, 'order')$$) AS bare_registry_freezes;
SELECT pg_temp.err($$SELECT count(*) FROM verify_ledger()$$) AS bare_registry_verifies;
SET SESSION AUTHORIZATION regress_sec_misfit;
SELECT (SELECT count(*) FROM participant) AS participants, (SELECT count(*) FROM account) AS accounts;
SELECT pg_temp.err($$SELECT register_participant('x', 'individual', pg_temp.uscc('91440300MA5F0000Q'))$$) AS misfit_registers;
SELECT pg_temp.err($$SELECT transfer_cea(6, 5, 2024, 1)$$) AS misfit_moves_another_unit;
SET SESSION AUTHORIZATION regress_sec_bare_exchange;
SELECT (SELECT count(*) FROM account) AS accounts, (SELECT count(*) FROM holding) AS holdings;
SELECT pg_temp.err($$SELECT hold(5, 'CEA', 1, 'order', 2024)$$) AS bare_exchange_holds_for_an_order;
SET SESSION AUTHORIZATION regress_sec_bare_settlement;
SELECT (SELECT count(*) FROM account) AS accounts, (SELECT count(*) FROM journal) AS entries;
SELECT pg_temp.err($$SELECT deposit_cny(7, 100)$$) AS bare_settlement_deposits;
SET SESSION AUTHORIZATION regress_sec_bare_bi;
SELECT (SELECT count(*) FROM bi_positions) AS positions, (SELECT count(*) FROM mrv_report) AS reports,
       (SELECT count(*) FROM obligation_status) AS obligations, (SELECT count(*) FROM journal) AS entries;
SELECT pg_temp.err($$SELECT count(*) FROM verify_chains()$$) AS bare_bi_verifies;
SELECT pg_temp.err($$SELECT * FROM heads_digest('2025-06-02')$$) AS bare_bi_digests;
-- the unmapped authority: the read-only staff functions refuse it too
SET SESSION AUTHORIZATION regress_sec_loose;
SELECT pg_temp.err($$SELECT count(*) FROM verify_ledger(ARRAY[]::text[])$$) AS loose_verifies_anchors;
SELECT pg_temp.err($$SELECT count(*) FROM verify_ledger_since()$$) AS loose_verifies_since;
SELECT pg_temp.err($$SELECT * FROM heads_digest('2025-06-02')$$) AS loose_digests;
SELECT pg_temp.err($$SELECT count(*) FROM facility_allowance(2024)$$) AS loose_computes_allowances;
SELECT pg_temp.err($$SELECT count(*) FROM participant_allowance(2024)$$) AS loose_computes_participant_allowances;
-- borrowing asks who calls before it says anything about the account
SELECT pg_temp.err($$SELECT borrow_cea(7, 10, 2024)$$) AS loose_borrows_on_a_cash_account;
SET SESSION AUTHORIZATION regress_sec_unit2;
SELECT pg_temp.err($$SELECT borrow_cea(7, 10, 2024)$$) AS other_unit_borrows_on_a_cash_account;
SELECT pg_temp.err($$SELECT borrow_cea(99, 10, 2024)$$) AS other_unit_borrows_on_no_account;
SET SESSION AUTHORIZATION regress_sec_unit1;
SELECT pg_temp.err($$SELECT borrow_cea(7, 10, 2024)$$) AS unit_borrows_on_its_cash_account;
-- mapped, the same roles work: settlement for a settlement bank (an institution), BI for the
-- national authority, the registry for the registry
RESET SESSION AUTHORIZATION;
SELECT register_participant('Settlement Bank', 'institution', pg_temp.uscc('91110000MA01ABCD3'), '110000') AS bank; -- 10
SELECT map_login('regress_sec_bare_settlement', 10), map_login('regress_sec_bare_bi', 1),
       map_login('regress_sec_bare_registry', 8), map_login('regress_sec_bare_exchange', 8);
SET SESSION AUTHORIZATION regress_sec_bare_settlement;
SELECT deposit_cny(7, 100) IS NOT NULL AS mapped_settlement_deposits;
SET SESSION AUTHORIZATION regress_sec_bare_bi;
SELECT (SELECT count(*) FROM journal) > 0 AS mapped_bi_sees_entries, (SELECT count(*) FROM verify_chains()) AS chain_problems;
SET SESSION AUTHORIZATION regress_sec_bare_registry;
SELECT (SELECT count(*) FROM account) > 0 AS mapped_registry_sees_accounts;
-- the exchange role mapped to the registry (not an exchange) still has no exchange capability
SET SESSION AUTHORIZATION regress_sec_bare_exchange;
SELECT pg_temp.err($$SELECT hold(5, 'CEA', 1, 'order', 2024)$$) AS exchange_role_for_the_registry_holds;
RESET SESSION AUTHORIZATION;
SELECT count(*) AS ledger_problems FROM verify_ledger();

\c postgres
SET client_min_messages = warning;
DROP DATABASE regress_security;
DROP ROLE regress_sec_mee, regress_sec_gd, regress_sec_hb, regress_sec_sz, regress_sec_loose,
          regress_sec_unit1, regress_sec_unit2, regress_sec_registry, regress_sec_registry2, regress_sec_firm,
          regress_sec_bare_registry, regress_sec_bare_exchange, regress_sec_bare_settlement,
          regress_sec_bare_bi, regress_sec_misfit;
