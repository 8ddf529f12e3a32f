-- Compliance access rules per role (doc/compliance.md, Access): a unit surrenders and
-- borrows only for itself and sees only its own obligation; a provincial (city)
-- authority sees and acts for the units of its province (city); the national
-- authority opens and closes periods; the exchange records reference prices; BI reads
-- everything.  Identity is the login (session_user), so each block runs under SET
-- SESSION AUTHORIZATION.  Own database for deterministic ids; the regress_cm_* login
-- roles are cluster-global and are dropped at the end.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_compliance_access;
DROP ROLE IF EXISTS regress_cm_mee, regress_cm_gd, regress_cm_hb, regress_cm_sz, regress_cm_exchange,
                    regress_cm_unit1, regress_cm_unit2, regress_cm_unit3, regress_cm_bi;
CREATE DATABASE regress_compliance_access;
\c regress_compliance_access
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

-- Logins ---------------------------------------------------------------------------
CREATE ROLE regress_cm_mee LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_cm_gd LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_cm_hb LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_cm_sz LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_cm_exchange LOGIN IN ROLE carbonmkt_exchange;
CREATE ROLE regress_cm_unit1 LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_cm_unit2 LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_cm_unit3 LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_cm_bi LOGIN IN ROLE carbonmkt_bi;

-- The registry (the superuser) sets up parties, accounts and units ------------------
SELECT register_participant('Ministry of Ecology and Environment', 'national_authority', pg_temp.uscc('11100000MB0134256')) AS mee,  -- 1
       register_participant('Guangdong DEE', 'provincial_authority', pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd,       -- 2
       register_participant('Hubei DEE', 'provincial_authority', pg_temp.uscc('11420000MB2C9251X'), '420000') AS hb,           -- 3
       register_participant('Shenzhen Bureau of Ecology and Environment', 'city_authority', pg_temp.uscc('11440300MB2C9251X'),
                            '440000', '440300') AS sz,                                                                         -- 4
       register_participant('Shanghai Environment and Energy Exchange', 'exchange', pg_temp.uscc('91310000MA1FL1MM6'), '310000') AS ex, -- 5
       register_participant('Shenzhen Power 1', 'key_emitter', pg_temp.uscc('91440300MA5F00001'), '440000', '440300', 'power') AS unit1, -- 6
       register_participant('Guangzhou Power 2', 'key_emitter', pg_temp.uscc('91440100MA5F00002'), '440000', '440100', 'power') AS unit2, -- 7
       register_participant('Wuhan Cement 3', 'key_emitter', pg_temp.uscc('91420100MA5F00003'), '420000', '420100', 'cement') AS unit3;  -- 8
SELECT map_login('regress_cm_mee', 1), map_login('regress_cm_gd', 2), map_login('regress_cm_hb', 3),
       map_login('regress_cm_sz', 4), map_login('regress_cm_exchange', 5), map_login('regress_cm_unit1', 6),
       map_login('regress_cm_unit2', 7), map_login('regress_cm_unit3', 8);
SELECT map_login('regress_cm_bi', 1);   -- BI for the national authority (doc/security.md)
SELECT open_account(2, 'allocation') AS gd_alloc,   -- 3
       open_account(3, 'allocation') AS hb_alloc,   -- 4
       open_account(6, 'holding') AS u1,            -- 5
       open_account(7, 'holding') AS u2,            -- 6
       open_account(8, 'holding') AS u3;            -- 7
SELECT issue_cea(3, 2024, 3000000) IS NOT NULL, issue_cea(3, 2025, 500000) IS NOT NULL, issue_cea(4, 2024, 1000000) IS NOT NULL;
-- the 2024 allocation, adopted by the allocation room as pre-allocations
SELECT count(*) AS adopted FROM adopt_preallocation(2024, ARRAY[transfer_cea(3, 5, 2024, 850000), transfer_cea(3, 6, 2024, 950000),
                                                                transfer_cea(4, 7, 2024, 500000)]);
-- and made final (fixture: an allocation run; the final equals the pre-allocation): a relief
-- rule applies to the final allocation, so without it the power units would be pending
INSERT INTO allocation_run (kind, jurisdiction, year, initiator, started_at, business_date, inputs_digest, rules, rules_digest)
VALUES ('final', 'CN', 2024, 'postgres', '2025-06-02 10:00+08', '2025-06-02', '\x00', '{}', '\x00') RETURNING run_id AS final_run \gset
INSERT INTO allocation (participant_id, year, stage, computed_t, tonnes, basis, run_id)
SELECT participant_id, year, 'final', tonnes, tonnes, 'fixture: final = pre-allocation', :final_run
  FROM allocation WHERE year = 2024 AND stage = 'preallocation';
SELECT register_ccer_project('GD-OW-0042', 'Offshore wind', 'offshore_wind', '440000'),
       issue_ccer(1, 'CCER:GD-OW-0042:2024:1-100000') IS NOT NULL,
       transfer_ccer(1, 5, 'GD-OW-0042', 2024, 20000) IS NOT NULL,
       transfer_ccer(1, 6, 'GD-OW-0042', 2024, 20000) IS NOT NULL;
-- relief for 2024 only by a rule set for it (the sources' relief ends with 2022, RULES.md 6)
SELECT set_rule('relief_rule', '{"jurisdiction": "CN", "from_year": 2024, "until_year": 2024, "sectors": ["power"],
                                 "gap_cap_share": 0.20, "gas_cap": true, "borrowing_min_gap_share": 0.10,
                                 "borrowing_max_share": 0.50}',
                'regression test: a 2024 relief rule with the 2019-2022 numbers of RULES.md 6', acting_for => 1) AS relief_2024;
SELECT open_period(2024, '2024 annual compliance', 2024, 2024, '2025-12-31');
-- confirmed emissions (fixture: the MRV room's contract table, written directly)
INSERT INTO confirmed_emission (participant_id, year, emissions_t, basis, confirmed_by, confirmed_at) VALUES
  (6, 2024, 1000000, 'verified', 2, '2025-05-30 10:00+08'),
  (7, 2024, 1000000, 'verified', 2, '2025-05-30 10:00+08'),
  (8, 2024, 520000, 'verified', 3, '2025-05-30 10:00+08');

-- Unit 1: its own obligation, its own surrenders and borrowing ---------------------
SET SESSION AUTHORIZATION regress_cm_unit1;
SELECT session_user, * FROM caller_scope();
SELECT participant_id, obligation_t, offset_cap_t, remaining_t, status FROM obligation_status ORDER BY 1, 2;
SELECT count(*) AS rules_are_public FROM offset_rule;
SELECT surrender_cea(5, 2024, 800000, 2024) IS NOT NULL AS own_cea, surrender_ccer(5, 'GD-OW-0042', 2024, 20000, 2024) IS NOT NULL AS own_ccer;
SELECT participant_id, period, surrendered_cea_t, surrendered_ccer_t FROM obligation ORDER BY 1;
-- another unit's units, and its obligation
SELECT pg_temp.err($$SELECT surrender_cea(6, 2024, 1, 2024)$$);
SELECT pg_temp.err($$SELECT surrender_ccer(6, 'GD-OW-0042', 2024, 1, 2024)$$);
SELECT pg_temp.err($$SELECT borrow_cea(6, 1, 2024)$$);
-- authority and internal functions, tables
SELECT pg_temp.err($$SELECT open_period(2025, 'x', 2025, 2025, '2026-12-31')$$);
SELECT pg_temp.err($$SELECT flag_hardship(6, 2024, 'me')$$);
SELECT pg_temp.err($$SELECT set_gas_fired(6, true)$$);
SELECT pg_temp.err($$SELECT record_average_price('2025-12-01', 0.01, 'me')$$);
SELECT pg_temp.err($$SELECT * FROM close_period(2024)$$);
SELECT pg_temp.err($$SELECT * FROM _obligation_figures$$);
SELECT pg_temp.err($$SELECT _average_price_fen('2025-01-01', '2025-12-31')$$);
SELECT pg_temp.err($$SELECT * FROM credit_platform_record$$);
SELECT pg_temp.err($$UPDATE obligation SET surrendered_cea_t = 0$$);
SELECT pg_temp.err($$INSERT INTO hardship VALUES (6, 2024, 'me', 6, 'regress_cm_unit1', now())$$);
SELECT pg_temp.err($$UPDATE compliance_period SET status = 'closed'$$);
SELECT pg_temp.err($$UPDATE offset_rule SET ratio = 1$$);
SELECT pg_temp.err($$SET carbonmkt.acting_room = 'compliance'$$);
RESET SESSION AUTHORIZATION;

-- The Guangdong authority: its province's units ------------------------------------
SET SESSION AUTHORIZATION regress_cm_gd;
SELECT * FROM caller_scope();
SELECT participant_id, unit_name, obligation_t, surrendered_t, status FROM obligation_status ORDER BY 1;
SELECT participant_id, period FROM obligation ORDER BY 1;
SELECT flag_hardship(6, 2024, 'fuel cost spike');
SELECT pg_temp.err($$SELECT flag_hardship(8, 2024, 'not mine')$$);
SELECT pg_temp.err($$SELECT set_gas_fired(8, false)$$);
SELECT set_gas_fired(7, false);
-- it may borrow on a unit's behalf, but never surrender for it; it does not open periods
SELECT borrow_cea(5, 5000, 2024) AS borrowed_for_unit1;
SELECT pg_temp.err($$SELECT surrender_cea(6, 2024, 1, 2024)$$);
SELECT pg_temp.err($$SELECT open_period(2025, 'x', 2025, 2025, '2026-12-31')$$);
SELECT pg_temp.err($$SELECT register_ccer_project('GD-X-1', 'x', 'hydro', '440000')$$);
RESET SESSION AUTHORIZATION;

-- The Shenzhen city authority: its city's units --------------------------------------
SET SESSION AUTHORIZATION regress_cm_sz;
SELECT * FROM caller_scope();
SELECT participant_id, unit_name FROM obligation_status ORDER BY 1;
SELECT pg_temp.err($$SELECT flag_hardship(7, 2024, 'not in my city')$$);
RESET SESSION AUTHORIZATION;

-- Unit 1 borrows for itself once its province flagged it ------------------------------
SET SESSION AUTHORIZATION regress_cm_unit1;
SELECT borrow_cea(5, 10000, 2024) AS own_borrowing;
SELECT participant_id, tonnes, requested_by FROM borrowing ORDER BY 1, 2;
SELECT participant_id, year, tonnes, reason FROM allocation_adjustment ORDER BY 1, 3;
SELECT participant_id, reason FROM hardship;
RESET SESSION AUTHORIZATION;

-- Unit 2 sees only itself ------------------------------------------------------------
SET SESSION AUTHORIZATION regress_cm_unit2;
SELECT participant_id, obligation_t, surrendered_t, remaining_t FROM obligation_status ORDER BY 1;
SELECT count(*) AS borrowings_seen, (SELECT count(*) FROM hardship) AS hardships_seen FROM borrowing;
SELECT surrender_cea(6, 2024, 900000, 2024) IS NOT NULL AS own_cea;
RESET SESSION AUTHORIZATION;

-- The Hubei authority: Hubei only -------------------------------------------------
SET SESSION AUTHORIZATION regress_cm_hb;
SELECT participant_id, unit_name, obligation_t FROM obligation_status ORDER BY 1;
SELECT count(*) AS guangdong_rows_seen FROM obligation WHERE participant_id IN (6, 7);
SELECT pg_temp.err($$SELECT borrow_cea(5, 1, 2024)$$);
RESET SESSION AUTHORIZATION;

-- The exchange records reference prices, and sees no obligation -------------------------
SET carbonmkt.clock = '2026-01-05 09:00:00+08';
SET SESSION AUTHORIZATION regress_cm_exchange;
SELECT record_average_price(d::date, 75.00, 'SEEE daily report') FROM generate_series('2025-12-01'::date, '2025-12-05', '1 day') d;
SELECT pg_temp.err($$SELECT * FROM obligation_status$$);
SELECT pg_temp.err($$SELECT * FROM sanction$$);
RESET SESSION AUTHORIZATION;

-- The national authority closes the period ------------------------------------------
SET SESSION AUTHORIZATION regress_cm_gd;
SELECT pg_temp.err($$SELECT * FROM close_period(2024)$$);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_cm_mee;
SELECT * FROM caller_scope();
SELECT * FROM close_period(2024);
SELECT open_period(2025, '2025 annual compliance', 2025, 2025, '2026-12-31');
SELECT participant_id, status, compliance_code, remaining_t FROM obligation_status WHERE period = 2024 ORDER BY 1;
RESET SESSION AUTHORIZATION;

-- Sanctions and the credit-platform record, by scope ---------------------------------
SET SESSION AUTHORIZATION regress_cm_unit1;
SELECT participant_id, shortfall_t, fine_fen, cut_t FROM sanction ORDER BY 1;
SELECT participant_id, period, status FROM obligation_status ORDER BY 1, 2;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_cm_unit2;
SELECT participant_id, shortfall_t FROM sanction ORDER BY 1;   -- its own only
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_cm_hb;
SELECT unit_name, province FROM credit_platform_record ORDER BY 1;   -- Hubei only
SELECT pg_temp.err($$SELECT revise_fine(6, 2024, 6)$$);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_cm_gd;
SELECT unit_name, shortfall_t, fine, cut_t, cut_year FROM credit_platform_record ORDER BY 1;
SELECT revise_fine(6, 2024, 7, memo => 'second offence') AS revised_fen;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_cm_bi;
SELECT * FROM caller_scope();
SELECT period, count(*) AS units FROM obligation_status GROUP BY 1 ORDER BY 1;
SELECT unit_name, shortfall_t, fine_fen FROM credit_platform_record ORDER BY 1;
SELECT pg_temp.err($$SELECT * FROM close_period(2025)$$);
RESET SESSION AUTHORIZATION;

SELECT count(*) AS ledger_problems FROM verify_ledger();

\c postgres
SET client_min_messages = warning;
DROP DATABASE regress_compliance_access;
DROP ROLE regress_cm_mee, regress_cm_gd, regress_cm_hb, regress_cm_sz, regress_cm_exchange,
          regress_cm_unit1, regress_cm_unit2, regress_cm_unit3, regress_cm_bi;
