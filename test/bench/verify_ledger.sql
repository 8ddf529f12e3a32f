-- test/bench/verify_ledger.sql: how fast the ledger is verified, in full and incrementally.
--
-- A registry of 1,000 holding accounts (200 key emitting units with 5 accounts each) and one
-- provincial allocation account.  History: BENCH_VERIFY_HISTORY journal entries (default
-- 500,000: random CEA transfers of 1-10 t through carbonmkt.transfer_cea, 2 entries each)
-- over 5 business days, each day sealed; then one more day of BENCH_VERIFY_DAY new entries
-- (default 100,000), not sealed yet.  Measured, inside the server (clock_timestamp() around
-- EXECUTE), every result checked to be empty (a problem fails the benchmark):
--   full             SELECT count(*) FROM carbonmkt.verify_ledger()         every check, everything
--   full_sql         SELECT count(*) FROM bench.verify_ledger_sql()         baseline: the SQL
--                    implementation the one C pass (src/verify.c) replaced
--                    (test/bench/verify_ledger_baseline.sql)
--   chains           SELECT count(*) FROM carbonmkt.verify_chains()         the chain/seal part alone
--   chains_c         SELECT count(*) FROM bench.verify_chains_chain_c()    baseline: src/chain.c's
--                    verify_chains() (what verify_chains() ran before it became part of the pass)
--   incremental      SELECT count(*) FROM carbonmkt.verify_ledger_since()   what was written after
--                    the last seal
--   incremental_sql  SELECT count(*) FROM bench.verify_ledger_since_sql()   baseline, its SQL
-- BENCH_ROUNDS rounds (default 3) after one warm-up round that is not counted; the order of
-- the six rotates per round; medians and min-max are printed, with the load average before
-- and after (the machine may be shared: the load average says how much).  Then, in a
-- transaction rolled back, the ledger is tampered with (an amount, a memo, a holding, before
-- and after the last seal) and the C and SQL implementations must report the same rows.
-- Targets (issue 16): full >= 500,000 entries/s; incremental < 1 s for a day of 100,000.
-- The daily seal on the same ledger (target < 1 s), against its baseline, the definition
-- heads_digest() had before it worked from the accounts' heads (test/bench/seal_baseline.sql:
-- every entry up to the day, sorted by account): first the new and the former heads_digest()
-- must agree on every day, then BENCH_ROUNDS rounds after a warm-up, rotated:
--   seal_day         seal_day('2026-03-07'), the day of the new entries (rolled back each time)
--   seal_day_old     bench.seal_day_old('2026-03-07'), the same with the former heads_digest()
--   digest_back      heads_digest('2026-03-06'), the last sealed day: its 100,000 successors
--                    are the entries the backward probes step over (the new definition's worst
--                    case on this ledger)
--   digest_back_old  bench.heads_digest_old('2026-03-06')
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
SET client_min_messages = warning;
SET jit = off;
SET search_path = carbonmkt, public;
\getenv history BENCH_VERIFY_HISTORY
\getenv day BENCH_VERIFY_DAY
\getenv rounds BENCH_ROUNDS
\if :{?history}
\else
\set history 500000
\endif
\if :{?day}
\else
\set day 100000
\endif
\if :{?rounds}
\else
\set rounds 3
\endif
SELECT set_config('bench.history', :'history', false), set_config('bench.day', :'day', false),
       set_config('bench.rounds', :'rounds', false) \g /dev/null
SELECT 'load average before: ' || pg_read_file('/proc/loadavg');

-- Parties and accounts -----------------------------------------------------------------------
SET carbonmkt.clock = '2026-03-01 10:00:00+08';
DO $$
DECLARE
    gd bigint;
    alloc bigint;
    p bigint;
BEGIN
    PERFORM setseed(0.2026);
    gd := register_participant('Guangdong DEE', 'provincial_authority',
                               '11440000MB2C9251X' || credit_code_check_char('11440000MB2C9251X'), '440000');
    alloc := open_account(gd, 'allocation');
    PERFORM issue_cea(alloc, 2025, 100000000);
    FOR i IN 1 .. 200 LOOP
        p := register_participant('Unit ' || i, 'key_emitter',
                                  '914403' || '00MA' || lpad(i::text, 7, '0')
                                  || credit_code_check_char('914403' || '00MA' || lpad(i::text, 7, '0')),
                                  '440000', '440300', 'power');
        FOR k IN 1 .. 5 LOOP
            PERFORM transfer_cea(alloc, open_account(p, 'holding', 'bench ' || k), 2025, 50000);
        END LOOP;
    END LOOP;
END $$;
CREATE TEMP TABLE bench_account AS
SELECT row_number() OVER (ORDER BY account_id) AS n, account_id FROM account WHERE kind = 'holding';

-- Random transfers among the 1,000 holding accounts, committed every 5,000.
CREATE PROCEDURE pg_temp.transfers(how_many int)
LANGUAGE plpgsql AS $$
DECLARE
    a bigint[] := ARRAY(SELECT account_id FROM pg_temp.bench_account ORDER BY bench_account.n);
    f int;
    t int;
BEGIN
    FOR i IN 1 .. how_many LOOP
        f := 1 + floor(random() * 1000)::int;
        t := 1 + floor(random() * 999)::int;
        IF t >= f THEN
            t := t + 1;
        END IF;
        PERFORM carbonmkt.transfer_cea(a[f], a[t], 2025, 1 + floor(random() * 10)::bigint);
        IF i % 5000 = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
END $$;

-- History: five sealed days.
DO $$
BEGIN
    FOR d IN 0 .. 4 LOOP
        PERFORM set_config('carbonmkt.clock', (date '2026-03-02' + d) || ' 10:00:00+08', false);
        CALL pg_temp.transfers(current_setting('bench.history')::int / 10);
        PERFORM set_config('carbonmkt.clock', (date '2026-03-02' + d + 1) || ' 09:00:00+08', false);
        PERFORM seal_day(date '2026-03-02' + d);
        COMMIT;
    END LOOP;
END $$;
-- The new day, not sealed yet.
SET carbonmkt.clock = '2026-03-07 10:00:00+08';
SELECT set_config('bench.day_transfers', (current_setting('bench.day')::int / 2)::text, false) \g /dev/null
CALL pg_temp.transfers(current_setting('bench.day_transfers')::int);
VACUUM (ANALYZE) carbonmkt.journal;
VACUUM (ANALYZE) carbonmkt.account;
VACUUM (ANALYZE) carbonmkt.holding;
VACUUM (ANALYZE) carbonmkt.posting;

SELECT format('journal: %s entries, %s of them on 2026-03-07 after the last seal (2026-03-06); %s seals',
              (SELECT count(*) FROM journal), (SELECT count(*) FROM journal WHERE business_date > '2026-03-06'),
              (SELECT count(*) FROM day_seal));

-- Timing -------------------------------------------------------------------------------------
-- The CPU time the backend used (utime + stime in /proc/self/stat, clock ticks of 10 ms): on a
-- shared machine, the wall time includes the time the backend waited for a core.
CREATE FUNCTION pg_temp.cpu() RETURNS float8 LANGUAGE sql AS $$
    SELECT (f[12]::float8 + f[13]::float8) / 100
      FROM string_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') f $$;
-- wall seconds; the CPU seconds go to bench.cpu
CREATE FUNCTION pg_temp.run(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    c0 float8;
    n bigint;
    secs float8;
BEGIN
    c0 := pg_temp.cpu();
    t0 := clock_timestamp();
    EXECUTE q INTO n;
    secs := extract(epoch FROM clock_timestamp() - t0);
    PERFORM set_config('bench.cpu', (pg_temp.cpu() - c0)::text, false);
    IF n <> 0 THEN
        RAISE EXCEPTION 'verification reported % problems: %', n, q;
    END IF;
    RETURN secs;
END $$;
CREATE TEMP TABLE timing (variant text, round int, seconds float8, cpu float8);
-- The baseline: the SQL implementations the one C pass replaced (schema bench).
\ir verify_ledger_baseline.sql
DO $$
DECLARE
    variants text[] := ARRAY['full', 'full_sql', 'chains', 'chains_c', 'incremental', 'incremental_sql'];
    queries text[] := ARRAY['SELECT count(*) FROM carbonmkt.verify_ledger()',
                            'SELECT count(*) FROM bench.verify_ledger_sql()',
                            'SELECT count(*) FROM carbonmkt.verify_chains()',
                            'SELECT count(*) FROM bench.verify_chains_chain_c()',
                            'SELECT count(*) FROM carbonmkt.verify_ledger_since()',
                            'SELECT count(*) FROM bench.verify_ledger_since_sql()'];
    v int;
    secs float8;
BEGIN
    FOR r IN 0 .. current_setting('bench.rounds')::int LOOP
        FOR i IN 0 .. 5 LOOP
            v := 1 + (i + r) % 6;
            secs := pg_temp.run(queries[v]);
            INSERT INTO pg_temp.timing VALUES (variants[v], r, secs, current_setting('bench.cpu')::float8);
        END LOOP;
    END LOOP;
END $$;

SELECT 'load average after: ' || pg_read_file('/proc/loadavg');
WITH s AS (
    SELECT variant, count(*) AS rounds,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS med, min(seconds) AS lo, max(seconds) AS hi
      FROM timing WHERE round > 0 GROUP BY variant),
n AS (SELECT (SELECT count(*) FROM journal) AS entries,
             (SELECT count(*) FROM journal WHERE business_date > '2026-03-06') AS new_entries),
l AS (SELECT s.*, CASE s.variant
                  WHEN 'full' THEN 1 WHEN 'full_sql' THEN 2 WHEN 'chains' THEN 3 WHEN 'chains_c' THEN 4
                  WHEN 'incremental' THEN 5 ELSE 6 END AS o FROM s)
SELECT CASE l.variant
       WHEN 'full' THEN format('full verify_ledger() (one C pass): %s entries, median %s s (min %s, max %s, %s rounds) = %s entries/s (target >= 500000) %s',
                               n.entries, round(l.med::numeric, 3), round(l.lo::numeric, 3), round(l.hi::numeric, 3), l.rounds,
                               round(n.entries / l.med), CASE WHEN n.entries / l.med >= 500000 THEN 'ok' ELSE 'MISSED' END)
       WHEN 'full_sql' THEN format('baseline: the SQL verify_ledger(): median %s s (min %s, max %s) = %s entries/s',
                               round(l.med::numeric, 3), round(l.lo::numeric, 3), round(l.hi::numeric, 3), round(n.entries / l.med))
       WHEN 'chains' THEN format('verify_chains() (the same pass, chain checks only): median %s s (min %s, max %s) = %s entries/s',
                               round(l.med::numeric, 3), round(l.lo::numeric, 3), round(l.hi::numeric, 3), round(n.entries / l.med))
       WHEN 'chains_c' THEN format('baseline: src/chain.c''s verify_chains() (index order, SPI): median %s s (min %s, max %s) = %s entries/s',
                               round(l.med::numeric, 3), round(l.lo::numeric, 3), round(l.hi::numeric, 3), round(n.entries / l.med))
       WHEN 'incremental' THEN format('incremental verify_ledger_since() (one C pass): %s new entries, median %s s (min %s, max %s, %s rounds) (target < 1 s) %s',
                   n.new_entries, round(l.med::numeric, 3), round(l.lo::numeric, 3), round(l.hi::numeric, 3), l.rounds,
                   CASE WHEN l.med < 1 THEN 'ok' ELSE 'MISSED' END)
       ELSE format('baseline: the SQL verify_ledger_since(): median %s s (min %s, max %s)',
                   round(l.med::numeric, 3), round(l.lo::numeric, 3), round(l.hi::numeric, 3))
       END
  FROM l, n ORDER BY l.o;
SELECT format('ratio full SQL/C %s, incremental SQL/C %s, verify_chains chain.c/pass %s',
              round((percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE variant = 'full_sql')
                     / percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE variant = 'full'))::numeric, 2),
              round((percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE variant = 'incremental_sql')
                     / percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE variant = 'incremental'))::numeric, 2),
              round((percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE variant = 'chains_c')
                     / percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE variant = 'chains'))::numeric, 2))
  FROM timing WHERE round > 0;
SELECT format('server CPU time, median (min-max): %s',
              string_agg(format('%s %s s (%s-%s)', variant, round(med::numeric, 2), round(lo::numeric, 2), round(hi::numeric, 2))
                         || CASE WHEN variant IN ('full', 'chains') THEN format(' = %s entries per CPU second', round((SELECT count(*) FROM journal) / nullif(med, 0)))
                                 ELSE '' END, '; '
                         ORDER BY array_position(ARRAY['full', 'full_sql', 'chains', 'chains_c', 'incremental', 'incremental_sql'], variant)))
  FROM (SELECT variant, percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu) AS med, min(cpu) AS lo, max(cpu) AS hi
          FROM timing WHERE round > 0 GROUP BY variant) c;

-- The daily seal --------------------------------------------------------------------------
\ir seal_baseline.sql
SELECT format('heads_digest() and its former definition: %s of %s days differ',
              count(*) FILTER (WHERE (n.digest, n.accounts, n.entries) IS DISTINCT FROM (o.digest, o.accounts, o.entries)),
              count(*))
  FROM generate_series(date '2026-02-28', date '2026-03-08', interval '1 day') d,
       LATERAL heads_digest(d::date) n, LATERAL bench.heads_digest_old(d::date) o;
DO $$
BEGIN
    IF EXISTS (SELECT FROM generate_series(date '2026-02-28', date '2026-03-08', interval '1 day') d,
                      LATERAL heads_digest(d::date) n, LATERAL bench.heads_digest_old(d::date) o
                WHERE (n.digest, n.accounts, n.entries) IS DISTINCT FROM (o.digest, o.accounts, o.entries))
       OR EXISTS (SELECT FROM day_seal s, LATERAL heads_digest(s.business_date) n
                   WHERE (s.digest, s.accounts, s.entries) IS DISTINCT FROM (n.digest, n.accounts, n.entries)) THEN
        RAISE EXCEPTION 'heads_digest() and its former definition (or a stored seal) disagree';
    END IF;
END $$;
-- a statement timed, then rolled back (a day is sealed once)
CREATE FUNCTION pg_temp.run_undone(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    c0 float8;
    secs float8;
    used float8;
BEGIN
    BEGIN
        c0 := pg_temp.cpu();
        t0 := clock_timestamp();
        EXECUTE q;
        secs := extract(epoch FROM clock_timestamp() - t0);
        used := pg_temp.cpu() - c0;
        RAISE EXCEPTION USING ERRCODE = 'P0004', MESSAGE = 'undo';
    EXCEPTION WHEN assert_failure THEN
        NULL;
    END;
    IF secs IS NULL THEN
        RAISE EXCEPTION 'not timed: %', q;
    END IF;
    PERFORM set_config('bench.cpu', used::text, false);   -- not in the block: it is undone
    RETURN secs;
END $$;
SET carbonmkt.clock = '2026-03-08 09:00:00+08';
SELECT 'load average before the seal: ' || pg_read_file('/proc/loadavg');
DO $$
DECLARE
    variants text[] := ARRAY['seal_day', 'seal_day_old', 'digest_back', 'digest_back_old'];
    queries text[] := ARRAY['SELECT carbonmkt.seal_day(''2026-03-07'')',
                            'SELECT bench.seal_day_old(''2026-03-07'')',
                            'SELECT carbonmkt.heads_digest(''2026-03-06'')',
                            'SELECT bench.heads_digest_old(''2026-03-06'')'];
    v int;
    secs float8;
BEGIN
    FOR r IN 0 .. current_setting('bench.rounds')::int LOOP
        FOR i IN 0 .. 3 LOOP
            v := 1 + (i + r) % 4;
            secs := pg_temp.run_undone(queries[v]);
            INSERT INTO pg_temp.timing VALUES (variants[v], r, secs, current_setting('bench.cpu')::float8);
        END LOOP;
    END LOOP;
END $$;
SELECT 'load average after the seal: ' || pg_read_file('/proc/loadavg');
RESET carbonmkt.clock;
WITH s AS (
    SELECT variant, count(*) AS rounds,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS med, min(seconds) AS lo, max(seconds) AS hi
      FROM timing WHERE round > 0 AND variant IN ('seal_day', 'seal_day_old', 'digest_back', 'digest_back_old')
     GROUP BY variant),
n AS (SELECT (SELECT count(*) FROM journal) AS entries,
             (SELECT count(*) FROM journal WHERE business_date = '2026-03-07') AS day_entries,
             (SELECT count(DISTINCT account_id) FROM journal) AS accounts)
SELECT CASE s.variant
       WHEN 'seal_day' THEN format('seal_day() of a day of %s entries (%s accounts, %s entries in all): median %s ms (min %s, max %s, %s rounds) (target < 1 s) %s',
                                   n.day_entries, n.accounts, n.entries, round((s.med * 1000)::numeric, 1), round((s.lo * 1000)::numeric, 1),
                                   round((s.hi * 1000)::numeric, 1), s.rounds, CASE WHEN s.med < 1 THEN 'ok' ELSE 'MISSED' END)
       WHEN 'seal_day_old' THEN format('baseline: seal_day() with the former heads_digest(): median %s ms (min %s, max %s)',
                                   round((s.med * 1000)::numeric, 1), round((s.lo * 1000)::numeric, 1), round((s.hi * 1000)::numeric, 1))
       WHEN 'digest_back' THEN format('heads_digest() of the last sealed day, %s entries dated after it: median %s ms (min %s, max %s)',
                                   n.day_entries, round((s.med * 1000)::numeric, 1), round((s.lo * 1000)::numeric, 1), round((s.hi * 1000)::numeric, 1))
       ELSE format('baseline: the former heads_digest() of that day: median %s ms (min %s, max %s)',
                   round((s.med * 1000)::numeric, 1), round((s.lo * 1000)::numeric, 1), round((s.hi * 1000)::numeric, 1))
       END
  FROM s, n
 ORDER BY array_position(ARRAY['seal_day', 'seal_day_old', 'digest_back', 'digest_back_old'], s.variant);
SELECT format('ratio seal_day former/new %s, heads_digest of the last sealed day former/new %s',
              round((percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE variant = 'seal_day_old')
                     / percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE variant = 'seal_day'))::numeric, 1),
              round((percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE variant = 'digest_back_old')
                     / percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE variant = 'digest_back'))::numeric, 1))
  FROM timing WHERE round > 0;
SELECT format('server CPU time, median (min-max): %s',
              string_agg(format('%s %s ms (%s-%s)', variant, round((med * 1000)::numeric), round((lo * 1000)::numeric), round((hi * 1000)::numeric)), '; '
                         ORDER BY array_position(ARRAY['seal_day', 'seal_day_old', 'digest_back', 'digest_back_old'], variant)))
  FROM (SELECT variant, percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu) AS med, min(cpu) AS lo, max(cpu) AS hi
          FROM timing WHERE round > 0 AND variant IN ('seal_day', 'seal_day_old', 'digest_back', 'digest_back_old')
         GROUP BY variant) c;

-- Same rows as the SQL implementations on a tampered ledger (rolled back).
BEGIN;
ALTER TABLE carbonmkt.journal DISABLE TRIGGER USER;
UPDATE carbonmkt.journal SET amount = amount + 1, balance_after = balance_after + 1
 WHERE entry_id = (SELECT min(entry_id) + 1000 FROM carbonmkt.journal);
UPDATE carbonmkt.journal SET memo = 'tampered'
 WHERE entry_id = (SELECT max(entry_id) - 1000 FROM carbonmkt.journal WHERE business_date <= '2026-03-06');
UPDATE carbonmkt.journal SET memo = 'tampered', held_after = held_after + 2
 WHERE entry_id = (SELECT max(entry_id) - 10 FROM carbonmkt.journal);
ALTER TABLE carbonmkt.journal ENABLE TRIGGER USER;
UPDATE carbonmkt.holding SET balance = balance + 1
 WHERE account_id = (SELECT account_id FROM carbonmkt.journal ORDER BY entry_id DESC LIMIT 1);
CREATE TEMP TABLE c_full AS SELECT * FROM carbonmkt.verify_ledger();
CREATE TEMP TABLE s_full AS SELECT * FROM bench.verify_ledger_sql();
CREATE TEMP TABLE c_since AS SELECT * FROM carbonmkt.verify_ledger_since();
CREATE TEMP TABLE s_since AS SELECT * FROM bench.verify_ledger_since_sql();
SELECT format('tampered ledger: full %s rows (SQL %s), %s differ; incremental %s rows (SQL %s), %s differ',
              (SELECT count(*) FROM c_full), (SELECT count(*) FROM s_full),
              (SELECT count(*) FROM ((TABLE c_full EXCEPT ALL TABLE s_full) UNION ALL (TABLE s_full EXCEPT ALL TABLE c_full)) d),
              (SELECT count(*) FROM c_since), (SELECT count(*) FROM s_since),
              (SELECT count(*) FROM ((TABLE c_since EXCEPT ALL TABLE s_since) UNION ALL (TABLE s_since EXCEPT ALL TABLE c_since)) d));
DO $$
BEGIN
    IF (SELECT count(*) FROM c_full) = 0 OR (SELECT count(*) FROM c_since) = 0
       OR EXISTS ((TABLE c_full EXCEPT ALL TABLE s_full) UNION ALL (TABLE s_full EXCEPT ALL TABLE c_full))
       OR EXISTS ((TABLE c_since EXCEPT ALL TABLE s_since) UNION ALL (TABLE s_since EXCEPT ALL TABLE c_since)) THEN
        RAISE EXCEPTION 'the C verification and its SQL baseline disagree on a tampered ledger';
    END IF;
END $$;
ROLLBACK;
