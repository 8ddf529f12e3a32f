-- Security (doc/security.md, issue 13): staff scope that fails closed, the cancellation
-- account reached only by surrender and cancellation, holds, login mapping, error details
-- that name no other party, separation of duties (four-eyes), plausibility limits as rule
-- rows and the API's own refusals for bad arguments.  One block per defect of issue 13,
-- each asserting the refusal (SQLSTATE and message).  Own database for deterministic ids;
-- the regress_sec_* login roles are cluster-global and are dropped at the end.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_security;
DROP ROLE IF EXISTS regress_sec_mee, regress_sec_gd, regress_sec_hb, regress_sec_sz, regress_sec_loose,
                    regress_sec_unit1, regress_sec_unit2, regress_sec_registry, regress_sec_registry2, regress_sec_firm;
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
SELECT map_login('regress_sec_mee', 1), map_login('regress_sec_gd', 2), map_login('regress_sec_hb', 3),
       map_login('regress_sec_sz', 4), map_login('regress_sec_unit1', 5), map_login('regress_sec_unit2', 6),
       map_login('regress_sec_firm', 7);
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
SELECT pg_temp.err($$SELECT record_reference_price('2025-06-01', 6000, 'x')$$) AS record_reference_price;
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

\c postgres
SET client_min_messages = warning;
DROP DATABASE regress_security;
DROP ROLE regress_sec_mee, regress_sec_gd, regress_sec_hb, regress_sec_sz, regress_sec_loose,
          regress_sec_unit1, regress_sec_unit2, regress_sec_registry, regress_sec_registry2, regress_sec_firm;
