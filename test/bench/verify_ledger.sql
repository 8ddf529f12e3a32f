-- test/bench/verify_ledger.sql: how fast the ledger is verified, in full and incrementally.
--
-- A registry of 1,000 holding accounts (200 key emitting units with 5 accounts each) and one
-- provincial allocation account.  History: BENCH_VERIFY_HISTORY journal entries (default
-- 500,000: random CEA transfers of 1-10 t through carbonmkt.transfer_cea, 2 entries each)
-- over 5 business days, each day sealed; then one more day of BENCH_VERIFY_DAY new entries
-- (default 100,000), not sealed yet.  Measured, inside the server (clock_timestamp() around
-- EXECUTE), every result checked to be empty (a problem fails the benchmark):
--   full         SELECT count(*) FROM carbonmkt.verify_ledger()          every check, everything
--   chains       SELECT count(*) FROM carbonmkt.verify_chains()          its hash-chain/seal part
--   incremental  SELECT count(*) FROM carbonmkt.verify_ledger_since()    what was written after
--                the last seal (skipped when the function does not exist, i.e. before it was built)
-- BENCH_ROUNDS rounds (default 3) after one warm-up round that is not counted; the order of
-- the three rotates per round; medians and min-max are printed, with the load average before
-- and after (the machine may be shared: the load average says how much).
-- Targets (issue 16): full >= 500,000 entries/s; incremental < 1 s for a day of 100,000.
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
CREATE FUNCTION pg_temp.run(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    n bigint;
BEGIN
    t0 := clock_timestamp();
    EXECUTE q INTO n;
    IF n <> 0 THEN
        RAISE EXCEPTION 'verification reported % problems: %', n, q;
    END IF;
    RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;
CREATE TEMP TABLE timing (variant text, round int, seconds float8);
SELECT to_regprocedure('carbonmkt.verify_ledger_since(date)') IS NOT NULL AS has_since \gset
DO $$
DECLARE
    variants text[] := ARRAY['full', 'chains', 'incremental'];
    queries text[] := ARRAY['SELECT count(*) FROM carbonmkt.verify_ledger()',
                            'SELECT count(*) FROM carbonmkt.verify_chains()',
                            'SELECT count(*) FROM carbonmkt.verify_ledger_since()'];
    have_since boolean := to_regprocedure('carbonmkt.verify_ledger_since(date)') IS NOT NULL;
    v int;
BEGIN
    FOR r IN 0 .. current_setting('bench.rounds')::int LOOP
        FOR i IN 0 .. 2 LOOP
            v := 1 + (i + r) % 3;
            CONTINUE WHEN v = 3 AND NOT have_since;
            INSERT INTO pg_temp.timing VALUES (variants[v], r, pg_temp.run(queries[v]));
        END LOOP;
    END LOOP;
END $$;

SELECT 'load average after: ' || pg_read_file('/proc/loadavg');
WITH s AS (
    SELECT variant, count(*) AS rounds,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS med, min(seconds) AS lo, max(seconds) AS hi
      FROM timing WHERE round > 0 GROUP BY variant),
n AS (SELECT (SELECT count(*) FROM journal) AS entries,
             (SELECT count(*) FROM journal WHERE business_date > '2026-03-06') AS new_entries)
SELECT CASE s.variant
       WHEN 'full' THEN format('full verify_ledger(): %s entries, median %s s (min %s, max %s, %s rounds) = %s entries/s (target >= 500000) %s',
                               n.entries, round(s.med::numeric, 3), round(s.lo::numeric, 3), round(s.hi::numeric, 3), s.rounds,
                               round(n.entries / s.med), CASE WHEN n.entries / s.med >= 500000 THEN 'ok' ELSE 'MISSED' END)
       WHEN 'chains' THEN format('verify_chains() alone: median %s s (min %s, max %s) = %s entries/s',
                               round(s.med::numeric, 3), round(s.lo::numeric, 3), round(s.hi::numeric, 3), round(n.entries / s.med))
       ELSE format('incremental verify_ledger_since(): %s new entries, median %s s (min %s, max %s, %s rounds) (target < 1 s) %s',
                   n.new_entries, round(s.med::numeric, 3), round(s.lo::numeric, 3), round(s.hi::numeric, 3), s.rounds,
                   CASE WHEN s.med < 1 THEN 'ok' ELSE 'MISSED' END)
       END
  FROM s, n ORDER BY s.variant DESC;
