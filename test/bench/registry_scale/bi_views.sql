-- test/bench/registry_scale/bi_views.sql: the bi_* views of registry_scale (\ir from there, after
-- the build and the other measurements; not a benchmark of its own: run.sh runs only
-- test/bench/*.sql and *.sh).
--
-- 1. The same rows as before: the compliance, price and trading views of
--    test/bench/bi_views_baseline.sql (the definitions before issue 16 made them fast, schema
--    bench_old; the two bi_trading_* views aggregating the whole tape) against the product's,
--    EXCEPT ALL both ways on the ten-period registry; any difference fails the benchmark.
-- 2. The times: every bi_* view read in full, every row and every column
--    (count(*), sum(length(v::text)): the text of each row is built), beside it
--      * old: the definition before (the views of bench_old), where there is one;
--      * floor: the same rows copied into a table and read the same way (handing out that many
--        rows, without computing them);
--    and the CPU time the backend spent per read (utime + stime of /proc/PID/stat, 10 ms ticks;
--    mean of the rounds): what a read costs on an idle core, which wall-clock time on a shared
--    machine does not show;
--    one warm-up round, then 5 rounds (or BENCH_ROUNDS if more), every measurement in its own
--    transaction, the order rotated each round; median (min-max), target < 100 ms.  The old
--    sides of bi_trading_activity and bi_trading_by_sector (~20-30 s each) run in round 1 only.
\ir ../bi_views_baseline.sql

\echo
\echo '-- bi_* views: the same rows as the definitions before (EXCEPT ALL both ways)'
CREATE TABLE bench.bi_same (view text, rows bigint, new_not_old bigint, old_not_new bigint);
DO $$
DECLARE
    v    text;
    r    record;
BEGIN
    FOREACH v IN ARRAY ARRAY['obligation_status', 'bi_compliance_status', 'bi_completion_by_period',
                             'bi_completion_by_province', 'bi_completion_by_sector', 'bi_emissions_coverage',
                             'bi_price_history', 'bi_trading_activity', 'bi_trading_by_sector'] LOOP
        EXECUTE format('SELECT (SELECT count(*) FROM carbonmkt.%1$I) AS n,
                               (SELECT count(*) FROM (SELECT * FROM carbonmkt.%1$I EXCEPT ALL SELECT * FROM bench_old.%1$I) x) AS a,
                               (SELECT count(*) FROM (SELECT * FROM bench_old.%1$I EXCEPT ALL SELECT * FROM carbonmkt.%1$I) x) AS b', v)
           INTO r;
        INSERT INTO bench.bi_same VALUES (v, r.n, r.a, r.b);
    END LOOP;
END $$;
SELECT view, rows, new_not_old, old_not_new, CASE WHEN new_not_old = 0 AND old_not_new = 0 THEN 'same' ELSE 'DIFFERENT' END AS result
  FROM bench.bi_same ORDER BY view;
SELECT NOT EXISTS (SELECT 1 FROM bench.bi_same WHERE new_not_old <> 0 OR old_not_new <> 0) AS bi_same \gset
\if :bi_same
\else
-- \quit would end psql with status 0: an error (ON_ERROR_STOP) fails the run
DO $$ BEGIN RAISE EXCEPTION 'registry_scale: a bi_* view does not return the rows of its definition before'; END $$;
\endif

-- the floors: each view's rows in a table
DO $$
DECLARE
    v text;
BEGIN
    FOR v IN SELECT c.relname FROM pg_class c
              WHERE c.relnamespace = 'carbonmkt'::regnamespace AND c.relkind = 'v' AND c.relname LIKE 'bi\_%' LOOP
        EXECUTE format('CREATE TABLE bench.%I AS SELECT * FROM carbonmkt.%I', 'floor_' || v, v);
    END LOOP;
END $$;
CREATE TABLE bench.bi_q (view text, side text, sql text, ord int);
INSERT INTO bench.bi_q
SELECT c.relname, s.side,
       format('SELECT count(*), sum(length(v::text)) FROM %s.%I v',
              CASE s.side WHEN 'new' THEN 'carbonmkt' WHEN 'old' THEN 'bench_old' ELSE 'bench' END,
              CASE s.side WHEN 'floor' THEN 'floor_' || c.relname ELSE c.relname END),
       row_number() OVER (ORDER BY c.relname, s.side)
  FROM pg_class c
 CROSS JOIN (VALUES ('new'), ('old'), ('floor')) s(side)
 WHERE c.relnamespace = 'carbonmkt'::regnamespace AND c.relkind = 'v' AND c.relname LIKE 'bi\_%'
   AND (s.side <> 'old' OR to_regclass('bench_old.' || c.relname) IS NOT NULL);
CREATE TABLE bench.bi_t (view text, side text, round int, ms float8, cpu_ms float8, nrows bigint);
-- CPU time of this backend so far, ms (utime + stime, 10 ms ticks)
CREATE FUNCTION bench.cpu_ms() RETURNS float8 LANGUAGE sql AS $$
    SELECT (f[12]::float8 + f[13]::float8) * 1000 / 100
      FROM (SELECT string_to_array(split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2), ' ') AS f) s $$;
CREATE PROCEDURE bench.bi_time(rounds int) LANGUAGE plpgsql AS $$
DECLARE
    q  record;
    t0 timestamptz;
    c0 float8;
    n  bigint;
    l  bigint;
    k  int := (SELECT count(*) FROM bench.bi_q);
BEGIN
    FOR r IN 0..rounds LOOP                 -- round 0: warm-up, not counted
        FOR q IN SELECT * FROM bench.bi_q ORDER BY (ord + r * 7) % k LOOP
            -- the tape-wide definitions before of the two trading views take ~20-30 s a read:
            -- timed in round 1 only
            CONTINUE WHEN q.side = 'old' AND q.view LIKE 'bi\_trading\_%' AND r <> 1;
            c0 := bench.cpu_ms();
            t0 := clock_timestamp();
            EXECUTE q.sql INTO n, l;
            INSERT INTO bench.bi_t VALUES (q.view, q.side, r, extract(epoch FROM clock_timestamp() - t0) * 1000,
                                           bench.cpu_ms() - c0, n);
            COMMIT;
        END LOOP;
    END LOOP;
END $$;
\! echo "-- bi_* views: load average before $(cut -d' ' -f1-3 /proc/loadavg)"
SELECT greatest(:rounds, 5) AS bi_rounds \gset
CALL bench.bi_time(:bi_rounds);
\! echo "-- bi_* views: load average after $(cut -d' ' -f1-3 /proc/loadavg)"
\echo '-- bi_* views read in full (every row, every column), ms of server time, median of the counted rounds (min-max); cpu: CPU ms per read (mean)'
WITH m AS (
    SELECT view, side, max(nrows) AS nrows, avg(cpu_ms) AS cpu,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med, min(ms) AS lo, max(ms) AS hi
      FROM bench.bi_t WHERE round > 0 GROUP BY view, side)
SELECT n.view, n.nrows AS rows,
       round(n.med::numeric, 1) || ' (' || round(n.lo::numeric, 1) || '-' || round(n.hi::numeric, 1) || ')' AS ms,
       round(n.cpu::numeric) AS cpu,
       coalesce(round(o.med::numeric, 1) || ' (' || round(o.lo::numeric, 1) || '-' || round(o.hi::numeric, 1) || ')', '') AS old_ms,
       coalesce(round(o.cpu::numeric)::text, '') AS old_cpu,
       round(f.med::numeric, 1) || ' (' || round(f.lo::numeric, 1) || '-' || round(f.hi::numeric, 1) || ')' AS floor_ms,
       round(f.cpu::numeric) AS floor_cpu,
       CASE WHEN n.med < 100 THEN 'ok (< 100 ms)' ELSE 'MISSED (< 100 ms)' END AS target
  FROM m n LEFT JOIN m o ON o.view = n.view AND o.side = 'old' JOIN m f ON f.view = n.view AND f.side = 'floor'
 WHERE n.side = 'new' ORDER BY n.view;

-- What the compliance views cost, split: obligation_status (which they all read) for the open
-- period alone (computed per unit on each read) and for the closed ones alone (their frozen
-- rows), read in full the same way; the same rounds, order alternated
CREATE TABLE bench.bi_split (what text, round int, ms float8, cpu_ms float8, nrows bigint);
CREATE PROCEDURE bench.bi_split_time(rounds int) LANGUAGE plpgsql AS $$
DECLARE
    q  text[] := ARRAY['open period',
                       'SELECT count(*) FROM (SELECT o::text FROM carbonmkt.obligation_status o WHERE o.period_status <> ''closed'') x',
                       'closed periods',
                       'SELECT count(*) FROM (SELECT o::text FROM carbonmkt.obligation_status o WHERE o.period_status = ''closed'') x'];
    t0 timestamptz;
    c0 float8;
    n  bigint;
BEGIN
    FOR r IN 0..rounds LOOP
        FOR i IN 0..1 LOOP
            c0 := bench.cpu_ms();
            t0 := clock_timestamp();
            EXECUTE q[2 * ((i + r) % 2) + 2] INTO n;
            INSERT INTO bench.bi_split VALUES (q[2 * ((i + r) % 2) + 1], r, extract(epoch FROM clock_timestamp() - t0) * 1000,
                                               bench.cpu_ms() - c0, n);
            COMMIT;
        END LOOP;
    END LOOP;
END $$;
CALL bench.bi_split_time(:bi_rounds);
\echo '-- obligation_status read in full, the open period alone and the closed ones alone: ms (median, min-max), CPU ms per read (mean)'
SELECT what, max(nrows) AS rows,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' (' || round(min(ms)::numeric, 1) || '-' ||
       round(max(ms)::numeric, 1) || ')' AS ms, round(avg(cpu_ms)::numeric) AS cpu
  FROM bench.bi_split WHERE round > 0 GROUP BY what ORDER BY what DESC;
\! echo "-- bi_* views: load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
