-- The daily seal's heads digest in time proportional to the accounts and the entries dated
-- after the day (issue 16): carbonmkt.heads_digest() probes each account's head backwards
-- through the (account_id, seq) index and counts the entries from the heads' seq, and must
-- give, byte for byte, what the former definition gave (bench.heads_digest_old, the SQL that
-- read every entry up to the day: test/bench/seal_baseline.sql) — on a ledger with entries
-- dated after the day, several accounts, an account untouched for days, an account opened
-- later, one never posted to, and postings back-dated by the clock (a chain whose business
-- dates go back).  The seals seal_day() writes from it are the ones verify_ledger() rebuilds.
-- Runs in its own database so that ids are deterministic.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_seal;
CREATE DATABASE regress_seal;
\c regress_seal
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
SET search_path = carbonmkt, public;
\i test/bench/seal_baseline.sql

CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;
-- every day from before the first entry to after the last: new and former definitions
CREATE FUNCTION pg_temp.compare(first date, last date)
RETURNS TABLE (day date, accounts int, entries bigint, same boolean) LANGUAGE sql AS
$$ SELECT d::date, n.accounts, n.entries, (n.digest, n.accounts, n.entries) IS NOT DISTINCT FROM (o.digest, o.accounts, o.entries)
     FROM generate_series(first, last, interval '1 day') d,
          LATERAL carbonmkt.heads_digest(d::date) n, LATERAL bench.heads_digest_old(d::date) o
    ORDER BY 1 $$;

SET carbonmkt.clock = '2026-04-01 10:00:00+08';
SELECT register_participant('Guangdong Department of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd,
       register_participant('Unit 1', 'key_emitter', pg_temp.uscc('91440300MA5F00001'), '440000', '440300', 'power') AS u1,
       register_participant('Unit 2', 'key_emitter', pg_temp.uscc('91440100MA5F00002'), '440000', '440100', 'power') AS u2,
       register_participant('Unit 3', 'key_emitter', pg_temp.uscc('91440100MA5F00003'), '440000', '440100', 'power') AS u3;
SELECT open_account(1, 'allocation') AS alloc,     -- 3
       open_account(2, 'holding') AS u1,           -- 4
       open_account(3, 'holding') AS u2,           -- 5
       open_account(4, 'holding') AS u3,           -- 6: posted to on the first day only
       open_account(4, 'holding', 'never') AS u3b; -- 7: never posted to
-- day 1
SELECT issue_cea(3, 2025, 10000) > 0 AS issued, transfer_cea(3, 4, 2025, 1000) > 0 AS a,
       transfer_cea(3, 5, 2025, 1000) > 0 AS b, transfer_cea(3, 6, 2025, 1000) > 0 AS c;
-- day 2, day 3
SET carbonmkt.clock = '2026-04-02 10:00:00+08';
SELECT transfer_cea(4, 5, 2025, 10) > 0 AS a, transfer_cea(5, 4, 2025, 3) > 0 AS b;
SET carbonmkt.clock = '2026-04-03 10:00:00+08';
SELECT transfer_cea(4, 5, 2025, 20) > 0 AS a;
-- day 4: an account opened and posted to after the days above
SET carbonmkt.clock = '2026-04-04 10:00:00+08';
SELECT open_account(3, 'holding', 'later') AS u2b;   -- 8
SELECT transfer_cea(5, 8, 2025, 7) > 0 AS a, transfer_cea(4, 5, 2025, 1) > 0 AS b;
-- back-dated by the clock to day 3 (not sealed): chains of 4, 5 and 8 go back in time,
-- and account 8's first entry is dated after its second
SET carbonmkt.clock = '2026-04-03 18:00:00+08';
SELECT transfer_cea(4, 5, 2025, 2) > 0 AS a, transfer_cea(8, 4, 2025, 1) > 0 AS b;
-- day 6
SET carbonmkt.clock = '2026-04-06 10:00:00+08';
SELECT transfer_cea(5, 4, 2025, 5) > 0 AS a;

-- the ledger: entries dated after a day that come before an account's head on it
SELECT account_id, seq, business_date FROM journal ORDER BY account_id, seq;
SELECT * FROM pg_temp.compare('2026-03-31', '2026-04-07');

-- the seals seal_day() writes from it: with entries dated after the sealed days, untouched
-- account 6, back-dated chains; verify_ledger() and verify_chains() rebuild them and agree
SET carbonmkt.clock = '2026-04-07 09:00:00+08';
SELECT length(seal_day('2026-04-01')) AS d1, length(seal_day('2026-04-03')) AS d3;
SELECT s.business_date, s.accounts, s.entries,
       (s.digest, s.accounts, s.entries) = (o.digest, o.accounts, o.entries) AS same_as_former
  FROM day_seal s, LATERAL bench.heads_digest_old(s.business_date) o ORDER BY 1;
SELECT * FROM verify_ledger();
SELECT * FROM verify_chains();
-- a seal is what verify_ledger() checks: one forged in the former definition's place differs
BEGIN;
ALTER TABLE day_seal DISABLE TRIGGER day_seal_append_only;
UPDATE day_seal SET entries = entries + 1 WHERE business_date = '2026-04-03';
ALTER TABLE day_seal ENABLE TRIGGER day_seal_append_only;
SELECT problem, problem <> 'seal_mismatch'
       OR detail ~ '^day seal of 2026-04-03 records digest \\x[0-9a-f]{64} over 5 accounts and 18 entries, recomputed digest \\x[0-9a-f]{64} over 5 accounts and 17 entries$' AS detail_ok
  FROM verify_ledger() WHERE problem LIKE 'seal%';
ROLLBACK;
-- more days after the seals: the digest of the next day
SET carbonmkt.clock = '2026-04-07 10:00:00+08';
SELECT transfer_cea(6, 4, 2025, 100) > 0 AS u3_again;
SELECT * FROM pg_temp.compare('2026-04-05', '2026-04-08');
SET carbonmkt.clock = '2026-04-09 09:00:00+08';
SELECT length(seal_day('2026-04-07')) AS d7;
SELECT count(*) AS problems FROM verify_ledger();

-- the function keeps its labels and its scope check
SELECT p.provolatile, p.proisstrict, p.proparallel, p.prosecdef, p.proconfig
  FROM pg_proc p WHERE p.oid = 'carbonmkt.heads_digest(date)'::regprocedure;
CREATE ROLE regress_seal_nobody;
GRANT carbonmkt_bi TO regress_seal_nobody;
SET SESSION AUTHORIZATION regress_seal_nobody;
DO $$ BEGIN PERFORM carbonmkt.heads_digest('2026-04-03');
EXCEPTION WHEN others THEN RAISE NOTICE '% %', SQLSTATE, SQLERRM; END $$;
RESET SESSION AUTHORIZATION;
DROP ROLE regress_seal_nobody;
