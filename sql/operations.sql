-- Operations: what pg_dump keeps (every table and sequence registered, seeded tables
-- filtered), the journal's door for history (only a restore), and the drop guard.
-- The dump/restore, upgrade, standby, crash and PITR scenarios are in test/ops/.
-- Runs in its own database (it drops and truncates the registry).
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_operations;
CREATE DATABASE regress_operations;
\c regress_operations
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
SET search_path = carbonmkt, public;
\set VERBOSITY default

CREATE FUNCTION pg_temp.sqlstate_of(sql text) RETURNS text LANGUAGE plpgsql AS
$$
BEGIN
	EXECUTE sql;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;

-------------------------------------------------------------------------------
-- Every table and sequence of the extension is dumped (pg_extension_config_dump)
-------------------------------------------------------------------------------
-- THE EXEMPTION LIST: tables and sequences of the extension that pg_dump need not keep,
-- each with its reason.  A new table or sequence is registered in src/operations.sql
-- (carbonmkt._dump_register), or added here with a comment saying why no backup needs it.
CREATE TEMP TABLE dump_exempt (name text PRIMARY KEY, why text NOT NULL);
INSERT INTO dump_exempt VALUES
  ('seeded_row', 'the snapshot of the seeded rows: every install writes its own (src/operations.sql)');

-- must be empty: a table or sequence neither registered nor exempt
SELECT c.relname AS not_dumped, c.relkind
  FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'carbonmkt'
 WHERE c.relkind IN ('r', 'p', 'S')
   AND c.oid <> ALL (e.extconfig)
   AND c.relname NOT IN (SELECT name FROM dump_exempt)
 ORDER BY 1;
-- must be empty: an exempt name that is not (or no longer) a table of the extension
SELECT name AS stale_exemption FROM dump_exempt
 WHERE to_regclass('carbonmkt.' || quote_ident(name)) IS NULL;
-- must be empty: a table with rows right after CREATE EXTENSION that is dumped unfiltered
-- (a restore, which runs CREATE EXTENSION first, would meet those rows twice)
CREATE FUNCTION pg_temp.has_rows(r regclass) RETURNS boolean LANGUAGE plpgsql AS
$$ DECLARE b boolean; BEGIN EXECUTE format('SELECT EXISTS (SELECT FROM %s)', r) INTO b; RETURN b; END $$;
SELECT c.conf::regclass AS seeded_but_unfiltered
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS c(conf, cond)
 WHERE e.extname = 'carbonmkt' AND c.cond = '' AND pg_temp.has_rows(c.conf)
   AND (SELECT relkind FROM pg_class WHERE oid = c.conf) <> 'S'
 ORDER BY 1;
-- what is registered: tables (seeded ones filtered) and sequences
SELECT count(*) FILTER (WHERE cl.relkind = 'r' AND c.cond = '') AS data_tables,
       count(*) FILTER (WHERE cl.relkind = 'r' AND c.cond <> '') AS seeded_tables,
       count(*) FILTER (WHERE cl.relkind = 'S') AS sequences
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS c(conf, cond)
  JOIN pg_class cl ON cl.oid = c.conf
 WHERE e.extname = 'carbonmkt';
-- the seeded rows are all in the snapshot, so a fresh install dumps none of them
SELECT (SELECT count(*) FROM seeded_row) AS seeded_rows,
       (SELECT count(*) FROM seeded_row WHERE tab = 'region') AS regions;
SELECT count(*) AS sectors_dumped FROM carbonmkt.sector
 WHERE NOT EXISTS (SELECT FROM carbonmkt.seeded_row s WHERE s.tab = 'sector' AND s.content = to_jsonb(sector));
UPDATE sector SET name = 'Power generation (thermal)' WHERE code = 'power';
SELECT code AS sector_dumped FROM carbonmkt.sector
 WHERE NOT EXISTS (SELECT FROM carbonmkt.seeded_row s WHERE s.tab = 'sector' AND s.content = to_jsonb(sector));
UPDATE sector SET name = 'Power generation' WHERE code = 'power';
-- outside a restore the seeded-row trigger does nothing: a duplicate key is an error
INSERT INTO sector VALUES ('power', 'Power generation', '发电', 2021);
-- registering something that is not a table of the extension
SELECT pg_temp.sqlstate_of($$SELECT carbonmkt._dump_register('pg_catalog.pg_class')$$);
SELECT has_function_privilege('public', 'carbonmkt._dump_register(regclass, boolean)', 'EXECUTE') AS public_may_register;

-------------------------------------------------------------------------------
-- Journal history is written only by a restore
-------------------------------------------------------------------------------
SELECT issue_cea(1, 2024, 1000, 'ops-1') IS NOT NULL AS issued;
-- a row with its chain hash set, outside replica mode: refused, not chained again
INSERT INTO journal (posting_id, account_id, seq, kind, instrument, vintage, project, amount, held_change,
                     balance_after, held_after, business_date, recorded_at, prev_hash, hash)
SELECT posting_id, account_id, 2, kind, instrument, vintage, project, amount, held_change,
       balance_after, held_after, business_date, recorded_at, hash, sha256('forged'::bytea)
  FROM journal WHERE entry_id = 1;
-- replica mode (what a restore runs in) is a superuser's setting
CREATE ROLE regress_ops_registry LOGIN IN ROLE carbonmkt_registry;
SET ROLE regress_ops_registry;
SET session_replication_role = replica;
SET carbonmkt.allow_ledger_drop = on;
RESET ROLE;
SELECT count(*) AS entries, (SELECT count(*) FROM verify_ledger()) AS problems FROM journal;

-------------------------------------------------------------------------------
-- The drop guard (CM901): refused while the journal holds entries
-------------------------------------------------------------------------------
DROP EXTENSION carbonmkt;
DROP EXTENSION carbonmkt CASCADE;
DROP EXTENSION IF EXISTS pg_nothing, carbonmkt CASCADE;
DROP SCHEMA carbonmkt CASCADE;
SET client_min_messages = warning;    -- (no "truncate cascades to" notices)
SELECT pg_temp.sqlstate_of(format('TRUNCATE carbonmkt.%I CASCADE', t)) AS truncate
  FROM unnest(ARRAY['journal', 'posting', 'day_seal', 'account', 'holding', 'hold', 'ccer_block',
                    'participant', 'participant_login']) t;
RESET client_min_messages;
-- replica mode does not pass by the guard
BEGIN;
SET LOCAL session_replication_role = replica;
TRUNCATE holding;
ROLLBACK;
BEGIN;
SET LOCAL session_replication_role = replica;
DROP EXTENSION carbonmkt CASCADE;
ROLLBACK;
-- the documented override, for one transaction
BEGIN;
SET LOCAL carbonmkt.allow_ledger_drop = on;
TRUNCATE holding;
SELECT count(*) AS holdings_left FROM holding;
ROLLBACK;
SELECT count(*) AS holdings_kept FROM holding;
SHOW carbonmkt.allow_ledger_drop;
BEGIN;
SET LOCAL carbonmkt.allow_ledger_drop = on;
DROP SCHEMA carbonmkt CASCADE;
SELECT count(*) AS extension_left FROM pg_extension WHERE extname = 'carbonmkt';
ROLLBACK;
SELECT count(*) AS extension_kept FROM pg_extension WHERE extname = 'carbonmkt';
-- other extensions and schemas are not concerned
CREATE SCHEMA regress_other;
DROP SCHEMA regress_other;
-- an empty journal: nothing to protect
BEGIN;
SET LOCAL client_min_messages = warning;
SET LOCAL carbonmkt.allow_ledger_drop = on;
TRUNCATE journal, posting CASCADE;
RESET carbonmkt.allow_ledger_drop;
TRUNCATE holding;
DROP EXTENSION carbonmkt;
ROLLBACK;

DROP ROLE regress_ops_registry;
