-- test/bench/bi_views.sql: every MRV and BI view on the demo's data (issue 18), timed in the
-- server.  Not a `make bench` script: it reads the database `make demo` builds, so run it on
-- a cluster that played the demo, e.g.
--
--   test/cluster.sh bash -c 'test/demo/run.sh > /dev/null && psql -X -d carbonmkt_demo -f test/bench/bi_views.sql'
--
-- Each view is read in full (every column of every row: count(*) and sum(length(row::text))),
-- timed with clock_timestamp() around EXECUTE (planning included), after one warm-up read:
-- 5 rounds in rotating order as the superuser and 5 as a login with the BI role
-- (carbonmkt_bi), the median of each; and, for the four MRV views that were rebuilt, their
-- 0.1.0 definitions (from sql/carbonmkt--0.1.0.sql, as temporary views) 3 rounds each for the
-- before/after ratio; (xN) is the ratio to a full read of mrv_deposit in the same run, the
-- yardstick on a shared machine.  The market clock is the demo's last ('2026-01-20 09:00+08'); the load
-- average (/proc/loadavg) is printed before and after: the machine may be shared.
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
-- the yardstick: a full read of the deposits table itself (91,000 rows on the demo's data)
INSERT INTO q VALUES ('baseline: read mrv_deposit', 'SELECT count(*), sum(length(x::text)) FROM carbonmkt.mrv_deposit x', 0, false);
INSERT INTO q VALUES
  ('0.1.0 mrv_deposit_status', 'SELECT count(*), sum(length(x::text)) FROM old_mrv_deposit_status x', 100, true),
  ('0.1.0 mrv_deposit_anomaly', 'SELECT count(*), sum(length(x::text)) FROM old_mrv_deposit_anomaly x', 101, true),
  ('0.1.0 mrv_report_waiting', 'SELECT count(*), sum(length(x::text)) FROM old_mrv_report_waiting x', 102, true),
  ('0.1.0 mrv_data_quality', 'SELECT count(*), sum(length(x::text)) FROM old_mrv_data_quality x', 103, true);
CREATE TEMP TABLE times (name text, who text, round int, ms double precision);
CREATE TEMP TABLE rows_read (name text, n bigint);
GRANT ALL ON q, times, rows_read TO PUBLIC;

CREATE FUNCTION pg_temp.time_all(who text, rounds int, old boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    r  record;
    n  bigint;
    k  int := (SELECT count(*) FROM q WHERE q.old = time_all.old);
BEGIN
    FOR r IN SELECT * FROM q WHERE q.old = time_all.old AND (who = 'superuser' OR q.ord > 0) LOOP   -- warm-up, row counts
        EXECUTE r.sql INTO n;
        INSERT INTO rows_read VALUES (r.name, n);
    END LOOP;
    FOR rnd IN 1..rounds LOOP
        -- the yardstick as the superuser only (a BI login reads the table through its row-level security)
        FOR r IN SELECT * FROM q WHERE q.old = time_all.old AND (who = 'superuser' OR q.ord > 0) ORDER BY (q.ord + rnd) % k LOOP
            t0 := clock_timestamp();
            EXECUTE r.sql;
            INSERT INTO times VALUES (r.name, who, rnd, extract(epoch FROM clock_timestamp() - t0) * 1000);
        END LOOP;
    END LOOP;
END $$;

\o /dev/null
SELECT pg_temp.time_all('superuser', 5, false);
SELECT pg_temp.time_all('superuser', 3, true);
DROP ROLE IF EXISTS bench_bi;
CREATE ROLE bench_bi LOGIN IN ROLE carbonmkt_bi;
SELECT carbonmkt.map_login('bench_bi', (SELECT participant_id FROM carbonmkt.participant WHERE kind = 'national_authority' ORDER BY participant_id LIMIT 1));   -- BI for the national authority (doc/security.md)
SET SESSION AUTHORIZATION bench_bi;
SELECT pg_temp.time_all('bi', 5, false);
RESET SESSION AUTHORIZATION;
DROP ROLE bench_bi;
\o

SELECT 'bi_views: full read of every MRV and BI view, median of 5 rounds (0.1.0 views: 3), ms (target < 100):';
WITH med AS (SELECT name, who, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms FROM times GROUP BY name, who)
SELECT format('  %-28s %7s rows  superuser %8s ms (x%s)  bi %8s ms  %s', q.name, (SELECT max(n) FROM rows_read r WHERE r.name = q.name),
              to_char(s.ms, 'FM999990.0'), to_char(s.ms / base.ms, 'FM9990.00'), coalesce(to_char(b.ms, 'FM999990.0'), '-'),
              CASE WHEN q.old OR q.ord = 0 THEN '' WHEN greatest(s.ms, coalesce(b.ms, 0)) < 100 THEN 'ok' ELSE 'MISSED' END)
  FROM q JOIN med s ON s.name = q.name AND s.who = 'superuser' LEFT JOIN med b ON b.name = q.name AND b.who = 'bi'
 CROSS JOIN (SELECT ms FROM med WHERE name = 'baseline: read mrv_deposit' AND who = 'superuser') base
 ORDER BY q.old, q.ord <> 0, q.name;
SELECT 'bi_views: load average after: ' || pg_read_file('/proc/loadavg');
