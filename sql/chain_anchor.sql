-- The anchored seal chain (链式存证): day seals chained to each other, anchors published
-- outside the database, and the attacks they catch: a consistent rewrite of history
-- (re-hashed journal, rebuilt holdings and heads, resealed days), deleted seals, a forged
-- issue entry in a holding account, and a caller's shadowing operator.
-- Runs in its own database so that ids are deterministic.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_chain;
CREATE DATABASE regress_chain;
\c regress_chain
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
SET search_path = carbonmkt, public;
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

-- Three business days of postings ---------------------------------------------
SET carbonmkt.clock = '2026-03-02 10:00:00+08';
SELECT register_participant('Guangdong Department of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd,
       register_participant('Unit 1', 'key_emitter', pg_temp.uscc('91440300MA5F00001'),
                            '440000', '440300', 'power') AS u1,
       register_participant('Unit 2', 'key_emitter', pg_temp.uscc('91440100MA5F00002'),
                            '440000', '440100', 'power') AS u2;
SELECT open_account(1, 'allocation') AS gd_alloc,    -- 3
       open_account(2, 'holding') AS u1,             -- 4
       open_account(3, 'holding') AS u2;             -- 5
SELECT issue_cea(3, 2025, 1000) > 0 AS issued,
       transfer_cea(3, 4, 2025, 500) > 0 AS day1_a,
       transfer_cea(4, 5, 2025, 100) > 0 AS day1_b;   -- the transfer the attacker will rewrite
SET carbonmkt.clock = '2026-03-03 10:00:00+08';
SELECT transfer_cea(4, 5, 2025, 50) > 0 AS day2_a, transfer_cea(5, 4, 2025, 30) > 0 AS day2_b;
SET carbonmkt.clock = '2026-03-04 10:00:00+08';
SELECT transfer_cea(4, 5, 2025, 10) > 0 AS day3;
SET carbonmkt.clock = '2026-03-05 10:00:00+08';
SELECT length(seal_day('2026-03-02')) AS digest_bytes, length(seal_day('2026-03-03')) AS d2,
       length(seal_day('2026-03-04')) AS d3;

-- Each seal links to the previous one; the first to the zero hash.
SELECT business_date, accounts, entries,
       prev_seal = coalesce(lag(seal_hash) OVER (ORDER BY business_date), decode(repeat('00', 32), 'hex')) AS linked,
       seal_hash = seal_hash(business_date, digest, accounts, entries, prev_seal) AS hash_ok,
       length(seal_hash) AS hash_bytes
  FROM day_seal ORDER BY business_date;
-- the seal hash by hand (doc/registry.md, Day seals)
SELECT s.seal_hash = sha256(convert_to(
         'carbonmkt day seal 1' || E'\n' || 'business_date=2026-03-03' || E'\n'
         || 'digest=' || encode(s.digest, 'hex') || E'\n' || 'accounts=' || s.accounts || E'\n'
         || 'entries=' || s.entries || E'\n' || 'prev_seal=' || encode(s.prev_seal, 'hex') || E'\n', 'UTF8')) AS by_hand
  FROM day_seal s WHERE business_date = '2026-03-03';

-- The anchors, published outside the database (here: kept in a temporary table).
CREATE TEMP TABLE kept AS SELECT seal_anchor(business_date) AS anchor FROM day_seal ORDER BY business_date;
SELECT anchor ~ '^2026-03-0[234] [0-9a-f]{64}$' AS well_formed, substr(anchor, 12) = encode(s.seal_hash, 'hex') AS is_seal_hash
  FROM kept JOIN day_seal s ON s.business_date = left(anchor, 10)::date ORDER BY anchor;
SELECT pg_temp.err($$SELECT seal_anchor('2026-03-05')$$);
SELECT count(*) AS problems FROM verify_ledger((SELECT array_agg(anchor) FROM kept));
-- anchors are read leniently (case, \x, blanks) but never guessed
SELECT count(*) AS problems FROM verify_anchors((SELECT array_agg('  ' || left(anchor, 10) || '  \x' || upper(substr(anchor, 12)) || ' ')
                                                   FROM kept));
SELECT pg_temp.err($$SELECT * FROM verify_anchors(ARRAY['2026-03-02 abc'])$$);
SELECT pg_temp.err($$SELECT * FROM verify_anchors(ARRAY[NULL::text])$$);
SELECT pg_temp.err($$SELECT * FROM verify_anchors(NULL)$$);
SELECT * FROM verify_anchors('{}');
-- two different anchors for one day
SELECT problem, detail FROM verify_anchors(ARRAY[(SELECT min(anchor) FROM kept),
                                                 '2026-03-02 ' || repeat('ab', 32)]);
-- a day left out of the published record between published days
SELECT problem, detail FROM verify_anchors((SELECT array_agg(anchor) FROM kept WHERE anchor NOT LIKE '2026-03-03%'));

-- Attack 1: a consistent rewrite of history --------------------------------------
-- A superuser turns the day-1 transfer of 100 t from unit 1 to unit 2 into 10 t: every
-- later balance_after of both accounts is fixed, both chains are re-hashed from there on,
-- the heads and holdings are rebuilt, and every day is sealed again.
BEGIN;
SET LOCAL session_replication_role = replica;   -- no trigger fires: append-only is off
UPDATE journal SET amount = amount / 10 WHERE account_id IN (4, 5) AND abs(amount) = 100;
UPDATE journal SET balance_after = balance_after + 90 WHERE account_id = 4 AND seq >= 2;
UPDATE journal SET balance_after = balance_after - 90 WHERE account_id = 5;
DO $$
DECLARE
    r record;
    prev bytea;
BEGIN
    FOR r IN SELECT entry_id, account_id, seq FROM carbonmkt.journal WHERE account_id IN (4, 5)
              ORDER BY account_id, seq LOOP
        prev := coalesce((SELECT hash FROM carbonmkt.journal WHERE account_id = r.account_id AND seq = r.seq - 1),
                         decode(repeat('00', 32), 'hex'));
        UPDATE carbonmkt.journal j SET prev_hash = prev, hash = carbonmkt.journal_hash(prev, j)
         WHERE j.entry_id = r.entry_id;
    END LOOP;
END $$;
UPDATE account a SET head_hash = j.hash FROM journal j
 WHERE j.account_id = a.account_id AND j.seq = a.head_seq AND a.account_id IN (4, 5);
UPDATE holding SET balance = balance + 90 WHERE account_id = 4;
UPDATE holding SET balance = balance - 90 WHERE account_id = 5;
DELETE FROM day_seal;
SET LOCAL session_replication_role = origin;
INSERT INTO day_seal (business_date, digest, accounts, entries, sealed_at, sealed_by)
SELECT d, h.digest, h.accounts, h.entries, now(), 'attacker'
  FROM (VALUES (date '2026-03-02'), ('2026-03-03'), ('2026-03-04')) v(d), LATERAL heads_digest(d) h ORDER BY d;
SELECT account_id, balance FROM holding WHERE account_id IN (4, 5) ORDER BY 1;
-- the database alone cannot tell
SELECT * FROM verify_ledger();
-- the published anchors can: every day from the rewritten one on
SELECT problem, detail ~ '^day 2026-03-0[234] was published with anchor [0-9a-f]{64}; its seal now hashes to [0-9a-f]{64}$' AS detail_ok
  FROM verify_ledger((SELECT array_agg(anchor) FROM kept));
ROLLBACK;

-- Attack 2: deleting seals -------------------------------------------------------
-- the last seal: the chain that remains is consistent; only the anchors know
BEGIN;
ALTER TABLE day_seal DISABLE TRIGGER day_seal_append_only;
DELETE FROM day_seal WHERE business_date = '2026-03-04';
ALTER TABLE day_seal ENABLE TRIGGER day_seal_append_only;
SELECT * FROM verify_ledger();
SELECT problem, detail ~ '^day 2026-03-04 was published with anchor [0-9a-f]{64} but has no seal$' AS detail_ok
  FROM verify_ledger((SELECT array_agg(anchor) FROM kept));
ROLLBACK;
-- a seal in the middle: the next seal's link breaks, anchors or not
BEGIN;
ALTER TABLE day_seal DISABLE TRIGGER day_seal_append_only;
DELETE FROM day_seal WHERE business_date = '2026-03-03';
ALTER TABLE day_seal ENABLE TRIGGER day_seal_append_only;
SELECT problem, account_id, entry_id, detail ~ '^day seal of 2026-03-04 links to \\x[0-9a-f]{64}, but the previous seal \(2026-03-02\) hashes to \\x[0-9a-f]{64}$' AS detail_ok
  FROM verify_ledger();
SELECT problem FROM verify_ledger((SELECT array_agg(anchor) FROM kept));
ROLLBACK;
-- a forged seal row: its digest, its hash and its anchor disagree
BEGIN;
ALTER TABLE day_seal DISABLE TRIGGER day_seal_append_only;
UPDATE day_seal SET entries = entries + 1 WHERE business_date = '2026-03-03';
ALTER TABLE day_seal ENABLE TRIGGER day_seal_append_only;
SELECT problem FROM verify_ledger((SELECT array_agg(anchor) FROM kept));
ROLLBACK;
-- seals inserted directly (a restore) keep the chain columns they are given
BEGIN;
CREATE TEMP TABLE saved AS SELECT * FROM day_seal;
ALTER TABLE day_seal DISABLE TRIGGER day_seal_append_only;
DELETE FROM day_seal;
ALTER TABLE day_seal ENABLE TRIGGER day_seal_append_only;
INSERT INTO day_seal SELECT * FROM saved ORDER BY business_date DESC;
SELECT count(*) AS problems FROM verify_ledger((SELECT array_agg(anchor) FROM kept));
ROLLBACK;

-- Defect 6: a forged issue entry in a holding account ------------------------------
-- It chains normally and conservation holds (it counts as issued); only the rule that
-- issuance lands in an issuance account (account_kind_instrument.may_issue) catches it.
BEGIN;
INSERT INTO posting (operation, initiator, business_date, recorded_at)
VALUES ('forged', 'attacker', '2026-03-05', '2026-03-05 10:00:00+08');
INSERT INTO journal (posting_id, account_id, kind, instrument, vintage, project, amount, held_change,
                     balance_after, held_after, business_date, recorded_at)
SELECT currval(pg_get_serial_sequence('carbonmkt.posting', 'posting_id')), 5, 'issue', 'CEA', 2025, '',
       1000000, 0, h.balance + 1000000, 0, '2026-03-05', '2026-03-05 10:00:00+08'
  FROM holding h WHERE h.account_id = 5;
UPDATE holding SET balance = balance + 1000000 WHERE account_id = 5;
SELECT problem, account_id, detail FROM verify_ledger();
ROLLBACK;

-- Defect 4: a caller's shadowing operator cannot hide a mismatch -------------------
BEGIN;
CREATE SCHEMA evil;
CREATE FUNCTION evil.always(bytea, bytea) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = evil.always);
CREATE FUNCTION evil.sha256(bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$ SELECT '\x00'::bytea $$;
UPDATE account SET head_hash = sha256('forged') WHERE account_id = 4;
ALTER TABLE day_seal DISABLE TRIGGER day_seal_append_only;
UPDATE day_seal SET digest = sha256('forged'), seal_hash = sha256('forged') WHERE business_date = '2026-03-04';
ALTER TABLE day_seal ENABLE TRIGGER day_seal_append_only;
SET LOCAL search_path = evil, pg_catalog, carbonmkt;
-- the shadow works in the caller's own queries ...
SELECT '\x01'::bytea = '\x02'::bytea AS shadowed, length(sha256('\x01'::bytea)) AS shadow_len;
-- ... but not inside the verification functions
SELECT problem, account_id FROM carbonmkt.verify_chains();
SELECT length(digest) AS digest_bytes, digest = (SELECT s.digest FROM carbonmkt.day_seal s WHERE s.business_date = '2026-03-03') AS same
  FROM carbonmkt.heads_digest('2026-03-03');
ROLLBACK;

-- Incremental verification (verify_ledger_since) ------------------------------------------
-- A fourth day, not sealed: what verify_ledger_since() checks is what was written after the
-- last seal (2026-03-04), linked to what was there.
SET carbonmkt.clock = '2026-03-05 11:00:00+08';
SELECT transfer_cea(5, 4, 2025, 7) > 0 AS day4_a, transfer_cea(3, 5, 2025, 20) > 0 AS day4_b;
SELECT count(*) AS problems FROM verify_ledger_since();
SELECT count(*) AS problems FROM verify_ledger_since('2026-03-02');
SELECT count(*) AS problems FROM verify_ledger_since('-infinity');
SELECT count(*) AS problems FROM verify_chains_since('2026-03-04');
SELECT pg_temp.err($$SELECT * FROM verify_chains_since(NULL)$$);
-- a new entry altered: found by both
BEGIN;
ALTER TABLE journal DISABLE TRIGGER journal_append_only;
UPDATE journal SET memo = 'changed' WHERE business_date = '2026-03-05' AND account_id = 4;
ALTER TABLE journal ENABLE TRIGGER journal_append_only;
SELECT problem, account_id FROM verify_ledger_since();
SELECT problem, account_id FROM verify_ledger();
ROLLBACK;
-- a new entry whose link to the sealed past is broken (relinked and re-hashed)
BEGIN;
ALTER TABLE journal DISABLE TRIGGER journal_append_only;
UPDATE journal j SET prev_hash = sha256('elsewhere'), hash = journal_hash(sha256('elsewhere'), j)
 WHERE business_date = '2026-03-05' AND account_id = 5 AND kind = 'debit';
UPDATE account a SET head_hash = (SELECT hash FROM journal j WHERE j.account_id = 5 ORDER BY seq DESC LIMIT 1)
 WHERE account_id = 5;
ALTER TABLE journal ENABLE TRIGGER journal_append_only;
SELECT problem, account_id FROM verify_ledger_since();
ROLLBACK;
-- a new posting that creates units out of nothing (both legs credits), holdings rebuilt
BEGIN;
ALTER TABLE journal DISABLE TRIGGER journal_append_only;
UPDATE journal SET kind = 'credit', amount = 7, balance_after = balance_after + 14
 WHERE business_date = '2026-03-05' AND account_id = 5 AND amount = -7;
UPDATE journal SET balance_after = balance_after + 14 WHERE business_date = '2026-03-05' AND account_id = 5 AND amount = 20;
ALTER TABLE journal ENABLE TRIGGER journal_append_only;
UPDATE holding SET balance = balance + 14 WHERE account_id = 5;
SELECT problem, account_id FROM verify_ledger_since() WHERE problem <> 'hash_mismatch';
ROLLBACK;
-- a holding changed behind the journal's back (both accounts were written after the seal)
BEGIN;
UPDATE holding SET balance = balance + 1 WHERE account_id IN (3, 4);
SELECT problem, account_id FROM verify_ledger_since();
SELECT problem, account_id FROM verify_ledger() ORDER BY 1, 2;
ROLLBACK;
-- an entry of a sealed day altered: outside what verify_ledger_since() reads (it trusts the
-- past up to the seal), found by the full check and the seals
BEGIN;
ALTER TABLE journal DISABLE TRIGGER journal_append_only;
UPDATE journal SET memo = 'changed' WHERE business_date = '2026-03-02' AND account_id = 3 AND seq = 1;
ALTER TABLE journal ENABLE TRIGGER journal_append_only;
SELECT count(*) AS problems_since FROM verify_ledger_since();
SELECT problem, account_id FROM verify_ledger();
ROLLBACK;
-- the seal of the day verified from is rebuilt from the heads: a forged digest is found
BEGIN;
ALTER TABLE day_seal DISABLE TRIGGER day_seal_append_only;
UPDATE day_seal SET digest = sha256('forged'), seal_hash = seal_hash('2026-03-04', sha256('forged'), accounts, entries, prev_seal)
 WHERE business_date = '2026-03-04';
ALTER TABLE day_seal ENABLE TRIGGER day_seal_append_only;
SELECT problem FROM verify_ledger_since();
ROLLBACK;

-- Function labels
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args, p.provolatile, p.proisstrict,
       p.proparallel, p.prosecdef, p.proconfig, obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_exec
  FROM pg_proc p
 WHERE p.pronamespace = 'carbonmkt'::regnamespace
   AND p.proname IN ('seal_hash', 'seal_anchor', 'verify_anchors', 'verify_ledger', 'verify_chains',
                     'heads_digest', 'day_seal_chain', 'verify_ledger_since', 'verify_chains_since')
 ORDER BY 1, 2;

