-- Allocation access rules per role (doc/allocation.md, Access): only authorities run
-- allocations and record facility data, a provincial authority only in its province, the
-- national authority everywhere; units read their own rows.  Identity is the login
-- (session_user), so each block runs under SET SESSION AUTHORIZATION.  Runs in its own
-- database; the regress_alloc_* login roles are cluster-global and dropped at the end.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_allocation_access;
DROP ROLE IF EXISTS regress_alloc_mee, regress_alloc_gd, regress_alloc_unit, regress_alloc_registry,
                    regress_alloc_bi, regress_alloc_rogue;
CREATE DATABASE regress_allocation_access;
\c regress_allocation_access
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2022-07-01 10:00:00+08';
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

CREATE ROLE regress_alloc_mee LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_alloc_gd LOGIN IN ROLE carbonmkt_authority;
CREATE ROLE regress_alloc_rogue LOGIN IN ROLE carbonmkt_authority;     -- an authority role, no authority behind it
CREATE ROLE regress_alloc_unit LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_alloc_registry LOGIN IN ROLE carbonmkt_registry;
CREATE ROLE regress_alloc_bi LOGIN IN ROLE carbonmkt_bi;

-- The registry (here the superuser) sets up parties and accounts ----------------------------
SELECT register_participant('Ministry of Ecology and Environment', 'national_authority', pg_temp.uscc('11100000MB0134256')) AS mee, -- 1
       register_participant('Guangdong Department of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd,                                                   -- 2
       register_participant('Shanghai Bureau of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11310000MB2C9251X'), '310000') AS sh,                                                   -- 3
       register_participant('Guangdong Power A', 'key_emitter', pg_temp.uscc('91440300MA5F00001'), '440000', '440300', 'power') AS a, -- 4
       register_participant('Shanghai Power S', 'key_emitter', pg_temp.uscc('91310000MA1F00003'), '310000', '310100', 'power') AS s;  -- 5
SELECT map_login('regress_alloc_mee', 1), map_login('regress_alloc_gd', 2), map_login('regress_alloc_unit', 4);
-- staff logins act through their mapping too (doc/security.md): the registry for the registry,
-- BI for the national authority
SELECT register_participant('National Carbon Registry', 'registry', pg_temp.uscc('12420000MB1F00001'), '420000') AS registry;   -- 6
SELECT map_login('regress_alloc_registry', 6), map_login('regress_alloc_bi', 1);
SELECT open_account(2, 'allocation') AS gd_alloc, open_account(3, 'allocation') AS sh_alloc,    -- 3, 4
       open_account(4, 'holding') AS a_h, open_account(5, 'holding') AS s_h;                    -- 5, 6

-- Confirmed emissions: TEST FIXTURE (the MRV room writes this table; here the superuser)
INSERT INTO confirmed_emission (participant_id, year, emissions_t, basis, confirmed_at) VALUES
  (4, 2021, 1000000, 'verified', '2022-06-30 12:00+08'),
  (5, 2021, 2000000, 'verified', '2022-06-30 12:00+08');

-- The Guangdong authority: its own province only -----------------------------------------
SET SESSION AUTHORIZATION regress_alloc_gd;
SELECT register_facility(4, '#1', 'coal_300mw_plus', 600, 'water') AS a1;
SELECT pg_temp.err($$SELECT register_facility(5, '#1', 'gas', 400, 'water')$$) AS other_province;
SELECT count(record_production(1, 2021, m, 80000000, 90000000, 40000)) AS months FROM generate_series(1, 12) m;
SELECT pg_temp.err($$SELECT * FROM preallocate(2021)$$) AS national_run;
SELECT pg_temp.err($$SELECT * FROM preallocate(2021, province => '310000')$$) AS other_province_run;
SELECT pg_temp.err($$SELECT * FROM preallocate(2021, province => '310000', preview => true)$$) AS other_province_preview;
SELECT participant_id, tonnes, status FROM preallocate(2021, province => '440000');
SELECT pg_temp.err($$INSERT INTO production (facility_id, year, month) VALUES (1, 2022, 1)$$) AS direct_insert;
SELECT pg_temp.err($$UPDATE alloc_benchmark SET benchmark = 2 WHERE year = 2021$$) AS change_benchmark;
SELECT pg_temp.err($$SELECT * FROM adopt_preallocation(2021, ARRAY[1]::bigint[])$$) AS adopt_needs_national;
RESET SESSION AUTHORIZATION;

-- The national authority: everywhere -------------------------------------------------------
SET SESSION AUTHORIZATION regress_alloc_mee;
SELECT register_facility(5, '#1', 'gas', 400, 'water') AS s1;
SELECT count(record_production(2, 2021, m, 50000000, 52000000, 30000)) AS months FROM generate_series(1, 12) m;
SELECT participant_id, tonnes, status FROM preallocate(2021);
SELECT participant_id, final_t, topup_t, deducted_t, owed_t, status FROM finalize_allocation(2021);
SELECT * FROM amend_allocation(5, -1000, 2021, 'stoppage', reference => 'sh-2021-s-stop');
SELECT step, item, value FROM explain_allocation(2, 2021) WHERE step IN (6, 18);
RESET SESSION AUTHORIZATION;

-- The Guangdong authority may read everything, adjust only its own units ----------------------
SET SESSION AUTHORIZATION regress_alloc_gd;
SELECT pg_temp.err($$SELECT * FROM amend_allocation(5, -1, 2021, 'correction', reference => 'gd-tries-sh')$$) AS adjust_other_province;
SELECT pg_temp.err($$SELECT * FROM recover_owed(5, 2021)$$) AS recover_other_province;
SELECT pg_temp.err($$SELECT change_facility(2, 'closure', '2021-12-31')$$) AS close_other_province;
SELECT step, value FROM explain_allocation(2, 2021) WHERE step = 18;
SELECT participant_id, year, final_t, entitlement_t, issued_t FROM allocation_result ORDER BY 1;
RESET SESSION AUTHORIZATION;

-- An authority role without an authority behind it, the registry, BI: no runs ----------------
SET SESSION AUTHORIZATION regress_alloc_rogue;
SELECT pg_temp.err($$SELECT * FROM preallocate(2021, province => '440000')$$) AS unmapped_authority;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_alloc_registry;
SELECT pg_temp.err($$SELECT * FROM finalize_allocation(2021)$$) AS registry_run;
SELECT pg_temp.err($$SELECT register_facility(4, '#2', 'gas', 100, 'water')$$) AS registry_facility;
SELECT count(*) AS runs_seen FROM allocation_run;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_alloc_bi;
SELECT pg_temp.err($$SELECT * FROM finalize_allocation(2021, preview => true)$$) AS bi_preview;
SELECT participant_id, final_t FROM allocation_result ORDER BY 1;
SELECT step, value FROM explain_allocation(1, 2021) WHERE step = 18;
RESET SESSION AUTHORIZATION;

-- A unit: its own rows, its own explanation, nothing else -------------------------------------
SET SESSION AUTHORIZATION regress_alloc_unit;
SELECT facility_id, participant_id, code FROM facility ORDER BY 1;
SELECT count(*) AS own_production_rows FROM production;
SELECT participant_id, year, preallocated_t, final_t, entitlement_t, issued_t, owed_t FROM allocation_result;
SELECT participant_id, kind, entitlement_t FROM allocation_posting ORDER BY entry_id;
SELECT step, item, value FROM explain_allocation(1, 2021) WHERE step IN (6, 7, 18);
SELECT pg_temp.err($$SELECT * FROM explain_allocation(2, 2021)$$) AS other_unit;
SELECT pg_temp.err($$SELECT * FROM preallocate(2021, province => '440000', preview => true)$$) AS unit_preview;
SELECT pg_temp.err($$SELECT * FROM amend_allocation(4, 100000, 2021, 'correction', reference => 'unit-wants-more')$$) AS unit_adjusts;
SELECT pg_temp.err($$SELECT record_production(1, 2022, 1, 1, 1, 60)$$) AS unit_records;
SELECT count(*) AS runs_seen FROM allocation_run;   -- row-level security: none of them
SELECT pg_temp.err($$SELECT * FROM participant_allowance(2021)$$) AS compute;
SELECT pg_temp.err($$SELECT set_config('carbonmkt.acting_room', 'allocation', true)$$) AS claim_the_room;
RESET SESSION AUTHORIZATION;

-- Who ran what, and the ledger -------------------------------------------------------------------
SELECT run_id, kind, province, initiator, initiator_participant, participants, issued_t, returned_t
  FROM allocation_run ORDER BY run_id;
SELECT initiator, count(*) AS postings FROM posting GROUP BY 1 ORDER BY 1;
SELECT * FROM verify_ledger();

\c postgres
SET client_min_messages = warning;
DROP DATABASE regress_allocation_access;
DROP ROLE regress_alloc_mee, regress_alloc_gd, regress_alloc_unit, regress_alloc_registry,
          regress_alloc_bi, regress_alloc_rogue;
