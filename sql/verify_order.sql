-- verify_ledger() and verify_ledger_since() read the journal in physical order (src/verify.c):
-- entries written out of their account's seq order, gaps and missing first entries must give
-- the same rows as the SQL implementation the one C pass replaced
-- (test/bench/verify_ledger_baseline.sql, loaded here as schema bench).
-- Runs in its own database so that ids are deterministic.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_verify;
CREATE DATABASE regress_verify;
\c regress_verify
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
\set ECHO none
\i test/bench/verify_ledger_baseline.sql
\set ECHO all
RESET client_min_messages;
SET search_path = carbonmkt, public;

CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;
-- C and SQL agree: the C rows, and how many rows each side has that the other lacks
CREATE FUNCTION pg_temp.same(OUT full_rows bigint, OUT full_differ bigint,
                             OUT since_rows bigint, OUT since_differ bigint)
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE c_full AS SELECT * FROM carbonmkt.verify_ledger();
    CREATE TEMP TABLE s_full AS SELECT * FROM bench.verify_ledger_sql();
    CREATE TEMP TABLE c_since AS SELECT * FROM carbonmkt.verify_ledger_since();
    CREATE TEMP TABLE s_since AS SELECT * FROM bench.verify_ledger_since_sql();
    full_rows := (SELECT count(*) FROM c_full);
    full_differ := (SELECT count(*) FROM ((TABLE c_full EXCEPT ALL TABLE s_full)
                                         UNION ALL (TABLE s_full EXCEPT ALL TABLE c_full)) d);
    since_rows := (SELECT count(*) FROM c_since);
    since_differ := (SELECT count(*) FROM ((TABLE c_since EXCEPT ALL TABLE s_since)
                                          UNION ALL (TABLE s_since EXCEPT ALL TABLE c_since)) d);
    DROP TABLE c_full, s_full, c_since, s_since;
END $$;

-- Four business days, three sealed, among six holding accounts --------------------
SET carbonmkt.clock = '2026-03-02 10:00:00+08';
SELECT register_participant('Guangdong Department of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd;
SELECT count(*) AS units FROM (
    SELECT register_participant('Unit ' || i, 'key_emitter', pg_temp.uscc('9144030' || i || 'MA5F0000' || i),
                                '440000', '440300', 'power') FROM generate_series(1, 3) i) x;
SELECT open_account(1, 'allocation') AS gd_alloc;                                    -- 3
SELECT count(*) AS accounts FROM (
    SELECT open_account(p, 'holding', 'book ' || k) FROM generate_series(2, 4) p, generate_series(1, 2) k) x;   -- 4..9
SELECT issue_cea(3, 2025, 100000) > 0 AS issued;
SELECT count(*) AS allocated FROM (SELECT transfer_cea(3, a, 2025, 1000) FROM generate_series(4, 9) a) x;
DO $$
BEGIN
    FOR d IN 0 .. 3 LOOP
        PERFORM set_config('carbonmkt.clock', (date '2026-03-02' + d) || ' 11:00:00+08', false);
        FOR i IN 1 .. 40 LOOP
            PERFORM carbonmkt.transfer_cea(4 + (i * 7 + d) % 6, 4 + (i * 7 + d + 1 + i % 5) % 6, 2025, 1 + (i * 13 + d) % 9);
        END LOOP;
        IF d < 3 THEN
            PERFORM set_config('carbonmkt.clock', (date '2026-03-02' + d + 1) || ' 09:00:00+08', false);
            PERFORM carbonmkt.seal_day(date '2026-03-02' + d);
        END IF;
    END LOOP;
END $$;
SET carbonmkt.clock = '2026-03-05 16:00:00+08';
SELECT count(*) AS entries, count(*) FILTER (WHERE business_date > '2026-03-04') AS new_entries,
       (SELECT count(*) FROM day_seal) AS seals FROM journal;
SELECT * FROM verify_ledger();
SELECT * FROM verify_ledger_since();

-- The journal in an order unrelated to seq (as after a restore in another order): the entries
-- of each account arrive out of their seq order, and wait for their turn.
CREATE INDEX journal_shuffle ON journal (hash);
CLUSTER journal USING journal_shuffle;
DROP INDEX journal_shuffle;
SELECT count(*) FILTER (WHERE s.seq < s.before) AS read_before_predecessor
  FROM (SELECT seq, max(seq) OVER (PARTITION BY account_id ORDER BY ctid ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
          FROM journal) s;
SELECT * FROM verify_ledger();
SELECT * FROM verify_ledger_since();
SELECT * FROM pg_temp.same();

-- Tampering, on the shuffled journal; the same rows as the SQL implementation each time.
-- an entry in the middle of a chain deleted (a gap), and an account's first entry deleted
BEGIN;
SET LOCAL carbonmkt.allow_ledger_drop = on;
ALTER TABLE journal DISABLE TRIGGER USER;
DELETE FROM journal WHERE account_id = 5 AND seq = 10;
DELETE FROM journal WHERE account_id = 6 AND seq = 1;
ALTER TABLE journal ENABLE TRIGGER USER;
SELECT problem, account_id, entry_id IS NOT NULL AS has_entry FROM verify_ledger()
 WHERE problem NOT IN ('running_balance_mismatch', 'seal_mismatch') ORDER BY 1, 2, 3;
SELECT problem, count(*) FROM verify_ledger() GROUP BY 1 ORDER BY 1;
SELECT * FROM pg_temp.same();
ROLLBACK;
-- the first new entry of an account (after the last seal) deleted, and a new entry's memo changed
BEGIN;
SET LOCAL carbonmkt.allow_ledger_drop = on;
ALTER TABLE journal DISABLE TRIGGER USER;
DELETE FROM journal WHERE (account_id, seq) IN
       (SELECT account_id, min(seq) FROM journal WHERE account_id = 7 AND business_date > '2026-03-04' GROUP BY 1);
UPDATE journal SET memo = 'changed' WHERE (account_id, seq) IN
       (SELECT account_id, max(seq) FROM journal WHERE account_id = 8 GROUP BY 1);
ALTER TABLE journal ENABLE TRIGGER USER;
SELECT problem, account_id FROM verify_ledger_since() ORDER BY 1, 2;
SELECT * FROM pg_temp.same();
ROLLBACK;
-- the last entry of an account moved far ahead in seq, and a holding changed
BEGIN;
ALTER TABLE journal DISABLE TRIGGER USER;
UPDATE journal SET seq = seq + 100 WHERE (account_id, seq) IN
       (SELECT account_id, max(seq) FROM journal WHERE account_id = 9 GROUP BY 1);
ALTER TABLE journal ENABLE TRIGGER USER;
UPDATE holding SET balance = balance + 1 WHERE account_id = 4;
SELECT problem, account_id FROM verify_ledger() WHERE problem NOT IN ('seal_mismatch') ORDER BY 1, 2;
SELECT * FROM pg_temp.same();
ROLLBACK;
