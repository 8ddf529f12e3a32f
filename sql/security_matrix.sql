-- The role x action matrix (doc/security.md, "The matrix"): every login kind of the
-- security fixture (test/security/fixture.sql) calls every public function and reads every
-- table and view of the carbonmkt schema; test/security/matrix.tsv holds the expected
-- outcome of each: "ok" (the call succeeded), a SQLSTATE (42501 refused, CMnnn the API's
-- own refusal, ...) or, for a table or view, the number of rows the login sees ("ok" for
-- one anyone may read).  Every call
-- runs in a subtransaction that is rolled back, so the calls do not change each other's
-- outcomes.  The test prints every outcome that differs from the table, every public
-- function, table or view that has no row in the table (with a row to paste, made of the
-- outcomes observed: review it before adding it), and every row whose object is gone.
-- Own database; the cmsec_* logins are dropped at the end.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_security_matrix;
CREATE DATABASE regress_security_matrix;
\c regress_security_matrix
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
SET carbonmkt.clock = '2025-03-01 10:00:00+08';
\o /dev/null
\i test/security/fixture.sql
\o
SET client_min_messages = warning;
SET search_path = pg_catalog, pg_temp;

-- the login kinds, in the order of the outcome columns of matrix.tsv
CREATE TEMP TABLE login_kind (ord int PRIMARY KEY, login name NOT NULL, label text NOT NULL);
INSERT INTO login_kind VALUES
  (1, 'cmsec_unit_a', 'key emitter A'), (2, 'cmsec_unit_b', 'key emitter B'), (3, 'cmsec_firm', 'service firm'),
  (4, 'cmsec_norole', 'no-role login'), (5, 'cmsec_registry', 'registry'), (6, 'cmsec_exchange', 'exchange'),
  (7, 'cmsec_settlement', 'settlement'), (8, 'cmsec_bi', 'BI'), (9, 'cmsec_national', 'national authority'),
  (10, 'cmsec_gd', 'provincial authority (Guangdong)'), (11, 'cmsec_hb', 'provincial authority (Hubei)'),
  (12, 'cmsec_sz', 'city authority (Shenzhen)'), (13, 'cmsec_loose', 'unmapped authority');

CREATE TEMP TABLE matrix (object text PRIMARY KEY, call text NOT NULL, expect text NOT NULL);
\copy matrix FROM 'test/security/matrix.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')

-- the public objects: functions not named _*, that are not triggers nor take cstring or
-- internal (the type I/O is test/fuzz/fuzz_io's), and tables and views not named _*
CREATE TEMP VIEW public_object AS
SELECT 'function ' || p.oid::regprocedure::text AS object
  FROM pg_proc p
 WHERE p.pronamespace = 'carbonmkt'::regnamespace AND p.proname NOT LIKE '\_%'
   AND p.prokind = 'f' AND p.prorettype <> 'trigger'::regtype
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proargtypes) t WHERE t IN ('cstring'::regtype, 'internal'::regtype))
UNION ALL
SELECT CASE c.relkind WHEN 'v' THEN 'view ' ELSE 'table ' END || 'carbonmkt.' || c.relname
  FROM pg_class c
 WHERE c.relnamespace = 'carbonmkt'::regnamespace AND c.relkind IN ('r', 'v', 'm') AND c.relname NOT LIKE '\_%';

-- one call under one login, rolled back: 'ok', the row count of a table or view, or the SQLSTATE
CREATE FUNCTION pg_temp.try(p_login name, p_call text, p_relation boolean) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    BEGIN
        EXECUTE format('SET SESSION AUTHORIZATION %I', p_login);
        EXECUTE p_call INTO v;
        RAISE EXCEPTION USING ERRCODE = 'ZZ999', MESSAGE = CASE WHEN p_relation THEN v ELSE 'ok' END;
    EXCEPTION WHEN others THEN
        v := CASE WHEN SQLSTATE = 'ZZ999' THEN SQLERRM ELSE SQLSTATE END;
    END;
    RETURN v;
END
$$;

-- tables and views anyone may read (rules, reference data): 'ok' rather than a row count,
-- so that a new seeded rule row changes nothing here
CREATE TEMP VIEW public_relation AS
SELECT CASE c.relkind WHEN 'v' THEN 'view ' ELSE 'table ' END || 'carbonmkt.' || c.relname AS object
  FROM pg_class c
 WHERE c.relnamespace = 'carbonmkt'::regnamespace AND has_table_privilege('public', c.oid, 'SELECT');

CREATE TEMP TABLE outcome AS
SELECT m.object, l.ord, l.label,
       CASE WHEN cardinality(e.tokens) = 1 THEN e.tokens[1] ELSE e.tokens[l.ord] END AS expected,
       CASE WHEN m.object IN (SELECT object FROM public_relation) AND g.got ~ '^[0-9]+$' THEN 'ok' ELSE g.got END AS got
  FROM matrix m
 CROSS JOIN LATERAL (SELECT regexp_split_to_array(btrim(m.expect), '\s+') AS tokens) e
 CROSS JOIN login_kind l
 CROSS JOIN LATERAL (SELECT pg_temp.try(l.login, m.call, m.object !~ '^function ') AS got) g
 WHERE m.object IN (SELECT object FROM public_object);

SELECT count(DISTINCT object) > 200 AS many_objects, count(*) = 13 * count(DISTINCT object) AS every_login FROM outcome;
-- a row of the table has one outcome, or one per login kind
SELECT object, expect AS malformed_expect FROM matrix
 WHERE cardinality(regexp_split_to_array(btrim(expect), '\s+')) NOT IN (1, 13) ORDER BY 1;
-- outcomes that differ from the table
SELECT object, label AS login, expected, got FROM outcome WHERE expected IS DISTINCT FROM got ORDER BY object, ord;
-- public objects without a row: add one (test/security/suggest-rows.sh prints a row of the
-- outcomes observed under a default call; review it before adding it)
SELECT object AS missing_from_matrix FROM public_object WHERE object NOT IN (SELECT object FROM matrix) ORDER BY 1;
-- rows whose object is gone
SELECT object AS no_longer_public FROM matrix WHERE object NOT IN (SELECT object FROM public_object) ORDER BY 1;

-- Fail closed, whatever the table says: the unmapped authority login and the login with no
-- role see no row of any table or view that holds parties' data (a count has at most four
-- digits here, a SQLSTATE five characters), and change nothing.  Public: the tables anyone
-- may read (rules, reference data) and the confirmed emissions, which the MRV room publishes
-- to every carbonmkt role (doc/mrv.md).
SELECT object, label, got FROM outcome
 WHERE ord IN (4, 13) AND object !~ '^function ' AND got ~ '^[0-9]{1,4}$' AND got <> '0'
   AND object NOT IN (SELECT object FROM public_relation)
   AND object <> 'table carbonmkt.confirmed_emission'
UNION ALL
SELECT object, label, got FROM outcome
 WHERE ord IN (4, 13) AND got = 'ok'
   AND object IN (SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p
                   WHERE p.pronamespace = 'carbonmkt'::regnamespace AND p.prosecdef AND p.provolatile = 'v')
 ORDER BY 1, 2;

RESET SESSION AUTHORIZATION;
\c postgres
SET client_min_messages = warning;
DROP DATABASE regress_security_matrix;
DROP ROLE cmsec_unit_a, cmsec_unit_b, cmsec_firm, cmsec_norole, cmsec_registry, cmsec_exchange, cmsec_settlement,
          cmsec_bi, cmsec_national, cmsec_gd, cmsec_hb, cmsec_sz, cmsec_loose;
