-- test/bench/bi_views.sql: every MRV and BI view on the demo's data (issue 18), timed in the
-- server.  Not a `make bench` script: it reads the database `make demo` builds, so run it on
-- a cluster that played the demo, e.g.
--
--   test/cluster.sh bash -c 'test/demo/run.sh > /dev/null && psql -X -d carbonmkt_demo -f test/bench/bi_views.sql'
--
-- Each view is read in full (every column of every row: count(*) and sum(length(row::text))),
-- timed with clock_timestamp() around EXECUTE (planning included), after one warm-up read:
-- 10 rounds in rotating order as the superuser and 5 as a login with the BI role
-- (carbonmkt_bi), the median and min-max of each; and, for the superuser's rounds, the CPU time
-- its backend spent per read (from /proc, the mean of the rounds): what the read costs on an
-- idle core, which the wall-clock figures of a shared machine do not show.  Beside each view its floor: the same rows
-- copied into a temporary table (once, before the rounds) and read the same way in the same
-- rounds, i.e. what handing out that many rows costs without computing them; (x) is the view's
-- median over its floor's.  For the four MRV views rebuilt, their 0.1.0 definitions (from
-- sql/carbonmkt--0.1.0.sql, as temporary views) 3 rounds each for the before/after ratio.
-- The market clock is the demo's last ('2026-01-20 09:00+08'); the load average
-- (/proc/loadavg) is printed before and after: the machine may be shared.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
SET client_min_messages = warning;
SET carbonmkt.clock = '2026-01-20 09:00:00+08';
SELECT 'bi_views: load average before: ' || pg_read_file('/proc/loadavg');
SELECT format('bi_views: %s key emitting units, %s journal rows, %s trades, %s deposits, %s reports',
              (SELECT count(*) FROM carbonmkt.participant WHERE kind = 'key_emitter'), (SELECT count(*) FROM carbonmkt.journal),
              (SELECT count(*) FROM carbonmkt.trade), (SELECT count(*) FROM carbonmkt.mrv_deposit),
              (SELECT count(*) FROM carbonmkt.mrv_report));

-- the 0.1.0 definitions of the rebuilt MRV views, for the before column
\set old_script `cat sql/carbonmkt--0.1.0.sql`
CREATE TEMP TABLE old_script AS SELECT :'old_script'::text AS s;
DO $$
DECLARE
    s text := (SELECT old_script.s FROM old_script);
    v text;
    body text;
BEGIN
    FOREACH v IN ARRAY ARRAY['mrv_deposit_status', 'mrv_deposit_anomaly', 'mrv_report_waiting', 'mrv_data_quality'] LOOP
        body := substring(s FROM position(format('CREATE VIEW carbonmkt.%s WITH (security_invoker = true) AS', v) IN s));
        body := substring(body FROM 1 FOR position(format('COMMENT ON VIEW carbonmkt.%s', v) IN body) - 1);
        body := replace(body, format('CREATE VIEW carbonmkt.%s WITH (security_invoker = true) AS', v), format('CREATE TEMP VIEW old_%s AS', v));
        body := replace(replace(body, 'carbonmkt.mrv_deposit_status s', 'old_mrv_deposit_status s'),
                        'carbonmkt.mrv_deposit_anomaly x', 'old_mrv_deposit_anomaly x');
        EXECUTE body;
    END LOOP;
END $$;

CREATE TEMP TABLE q (name text, sql text, ord int, old boolean);
INSERT INTO q
SELECT c.relname, format('SELECT count(*), sum(length(x::text)) FROM carbonmkt.%I x', c.relname),
       row_number() OVER (ORDER BY c.relname), false
  FROM pg_class c
 WHERE c.relnamespace = 'carbonmkt'::regnamespace AND c.relkind = 'v' AND (c.relname LIKE 'bi\_%' OR c.relname LIKE 'mrv\_%');
-- the floors: each view's rows as a table, read the same way (ord < 0, in the same rounds)
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM q ORDER BY ord LOOP
        EXECUTE format('CREATE TEMP TABLE %I AS SELECT * FROM carbonmkt.%I', 'floor_' || r.name, r.name);
        INSERT INTO q VALUES ('floor ' || r.name, format('SELECT count(*), sum(length(x::text)) FROM pg_temp.%I x', 'floor_' || r.name),
                              -r.ord, false);
    END LOOP;
END $$;
INSERT INTO q VALUES
  ('0.1.0 mrv_deposit_status', 'SELECT count(*), sum(length(x::text)) FROM old_mrv_deposit_status x', 100, true),
  ('0.1.0 mrv_deposit_anomaly', 'SELECT count(*), sum(length(x::text)) FROM old_mrv_deposit_anomaly x', 101, true),
  ('0.1.0 mrv_report_waiting', 'SELECT count(*), sum(length(x::text)) FROM old_mrv_report_waiting x', 102, true),
  ('0.1.0 mrv_data_quality', 'SELECT count(*), sum(length(x::text)) FROM old_mrv_data_quality x', 103, true);
CREATE TEMP TABLE times (name text, who text, round int, ms double precision, cpu_ms double precision);
CREATE TEMP TABLE rows_read (name text, n bigint);
GRANT ALL ON q, times, rows_read TO PUBLIC;

-- CPU time of this backend so far, ms (utime + stime of /proc/PID/stat, 10 ms ticks): read by
-- the superuser around each read, it tells what a read costs on an idle core whatever the load
CREATE FUNCTION pg_temp.cpu_ms() RETURNS double precision LANGUAGE sql AS $$
    SELECT (f[12]::double precision + f[13]::double precision) * 1000 / 100
      FROM (SELECT string_to_array(split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2), ' ') AS f) s $$;

CREATE FUNCTION pg_temp.time_all(who text, rounds int, old boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    c0 double precision;
    r  record;
    n  bigint;
    k  int := (SELECT count(*) FROM q WHERE q.old = time_all.old AND q.ord > 0);
BEGIN
    FOR r IN SELECT * FROM q WHERE q.old = time_all.old AND (who = 'superuser' OR q.ord > 0) LOOP   -- warm-up, row counts
        EXECUTE r.sql INTO n;
        INSERT INTO rows_read VALUES (r.name, n);
    END LOOP;
    FOR rnd IN 1..rounds LOOP
        -- the floors as the superuser only; each view right after its floor, the order rotating
        FOR r IN SELECT * FROM q WHERE q.old = time_all.old AND (who = 'superuser' OR q.ord > 0)
                  ORDER BY (abs(q.ord) + rnd) % k, q.ord LOOP
            c0 := CASE WHEN who = 'superuser' THEN pg_temp.cpu_ms() END;
            t0 := clock_timestamp();
            EXECUTE r.sql;
            INSERT INTO times VALUES (r.name, who, rnd, extract(epoch FROM clock_timestamp() - t0) * 1000,
                                      CASE WHEN who = 'superuser' THEN pg_temp.cpu_ms() - c0 END);
        END LOOP;
    END LOOP;
END $$;

\o /dev/null
SELECT pg_temp.time_all('superuser', 10, false);
SELECT pg_temp.time_all('superuser', 3, true);
DROP ROLE IF EXISTS bench_bi;
CREATE ROLE bench_bi LOGIN IN ROLE carbonmkt_bi;
SELECT carbonmkt.map_login('bench_bi', (SELECT participant_id FROM carbonmkt.participant WHERE kind = 'national_authority' ORDER BY participant_id LIMIT 1));   -- BI for the national authority (doc/security.md)
SET SESSION AUTHORIZATION bench_bi;
SELECT pg_temp.time_all('bi', 5, false);
RESET SESSION AUTHORIZATION;
DROP ROLE bench_bi;
\o

SELECT 'bi_views: full read of every MRV and BI view, ms, median (min-max) of 10 rounds as the superuser, 5 as BI (0.1.0 views: 3); cpu: the superuser''s backend CPU time per read (mean); floor: its rows read from a table; target < 100 ms:';
WITH med AS (SELECT name, who, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms, min(ms) AS lo, max(ms) AS hi, avg(cpu_ms) AS cpu
               FROM times GROUP BY name, who),
     fmt AS (SELECT name, who, ms, cpu, format('%s (%s-%s)', to_char(ms, 'FM999990.0'), to_char(lo, 'FM999990.0'), to_char(hi, 'FM999990.0')) AS t
               FROM med)
SELECT format('  %-28s %6s rows  superuser %-24s cpu %6s  bi %-24s floor %-20s cpu %6s  x%-6s %s', q.name,
              (SELECT max(n) FROM rows_read r WHERE r.name = q.name),
              s.t, to_char(s.cpu, 'FM99990.0'), coalesce(b.t, '-'), coalesce(f.t, '-'), coalesce(to_char(f.cpu, 'FM99990.0'), '-'),
              coalesce(to_char(s.ms / nullif(f.ms, 0), 'FM9990.0'), '-'),
              CASE WHEN q.old THEN '' WHEN greatest(s.ms, coalesce(b.ms, 0)) < 100 THEN 'ok' ELSE 'MISSED' END)
  FROM q JOIN fmt s ON s.name = q.name AND s.who = 'superuser' LEFT JOIN fmt b ON b.name = q.name AND b.who = 'bi'
  LEFT JOIN fmt f ON f.name = 'floor ' || q.name AND f.who = 'superuser'
 WHERE q.ord > 0
 ORDER BY q.old, q.name;
SELECT 'bi_views: load average after: ' || pg_read_file('/proc/loadavg');
