-- test/bench/allocation_national.sql: a national allocation computation, 3,000 facilities
-- x 12 months, with the C aggregates against a plain-SQL implementation of the same
-- formulas (CTEs and CASE expressions over the same rule tables), in the same run.
--
-- Data (fixed seed): 2,400 generating units (one per power participant, random category,
-- capacity, cooling, load and heat data) and 600 clinker lines (two per cement
-- participant), 36,000 monthly rows, confirmed emissions for the cement participants.
--   candidate: carbonmkt.participant_allowance(2021): power_allowance() per generating
--              unit summed per participant, performance_allowance() per cement participant;
--   baseline:  one SQL statement: per-unit sums, load factor, F_load piece, heat ratio,
--              factors, rounding, per-participant band clamp, all in CTEs and CASE.
-- Both return one row per participant; every participant's allowance must be equal to the
-- tonne (the run fails otherwise).  Each round times both inside the server (PL/pgSQL,
-- clock_timestamp() around EXECUTE), in alternating order; median of 5 rounds, once with
-- max_parallel_workers_per_gather = 0 and once with 2 workers and parallel setup and tuple
-- costs of 0 (so that both get parallel plans at this size).  JIT off.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
SET client_min_messages = warning;
SET jit = off;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2022-07-01 10:00:00+08';
SELECT setseed(0.3000);

-- 2021 rules for clinker (the seeded ones start in 2024): a bench-only copy
INSERT INTO alloc_benchmark (jurisdiction, year, category, benchmark, illustrative, source)
VALUES ('CN', 2021, 'cement_clinker', 0.8600, true, 'bench copy of the 2024 illustrative default');
INSERT INTO alloc_band VALUES ('CN', 2021, 'cement', 0.05, 0.05, true, 'bench copy of the 2024 illustrative default');

DO $$
DECLARE
    pid bigint;
    c17 text;
    prov text;
BEGIN
    FOR i IN 1..2700 LOOP
        prov := (ARRAY['110000', '150000', '310000', '320000', '370000', '440000', '510000', '610000'])[1 + i % 8];
        c17 := '91' || prov || 'MA' || lpad(i::text, 7, '0');
        pid := register_participant('Bench unit ' || i, 'key_emitter', c17 || credit_code_check_char(c17), prov,
                                    substr(prov, 1, 2) || '0100', CASE WHEN i <= 2400 THEN 'power' ELSE 'cement' END);
        IF i <= 2400 THEN
            PERFORM register_facility(pid, '#1',
                (ARRAY['coal_300mw_plus', 'coal_300mw_below', 'coal_unconventional', 'gas'])[1 + floor(random() * 4)::int],
                (ARRAY[135, 300, 330, 600, 660, 1000])[1 + floor(random() * 6)::int],
                (ARRAY['water', 'air'])[1 + floor(random() * 2)::int]);
        ELSE
            PERFORM register_facility(pid, 'L1', 'cement_clinker');
            PERFORM register_facility(pid, 'L2', 'cement_clinker');
        END IF;
    END LOOP;
END $$;

ALTER TABLE production DISABLE TRIGGER production_check;   -- bulk load of generated, valid data
INSERT INTO production (facility_id, year, month, power_supplied_kwh, generation_kwh, operating_minutes,
                        heat_supplied_mj, heat_total_mj)
SELECT s.facility_id, 2021, s.month, floor(s.gen * (0.90 + random() * 0.06))::bigint, s.gen, s.minutes,
       floor(s.heat_total * random() * 0.5)::bigint, s.heat_total
  FROM (SELECT f.facility_id, m.month, o.minutes,
               floor(f.capacity_mw * 1000 * o.minutes / 60 * (0.3 + random() * 0.7))::bigint AS gen,
               CASE WHEN f.facility_id % 5 < 2 AND o.minutes > 0 THEN (1e8 + floor(random() * 9e8))::bigint ELSE 0 END AS heat_total
          FROM facility f
          JOIN alloc_category c ON c.code = f.category AND c.method = 'power'
          CROSS JOIN generate_series(1, 12) m(month)
          CROSS JOIN LATERAL (SELECT CASE WHEN random() < 0.1 THEN 0 ELSE floor(random() * 28 * 1440)::int END AS minutes
                               WHERE m.month = m.month) o) s;
INSERT INTO production (facility_id, year, month, output_t)
SELECT f.facility_id, 2021, m, 20000 + floor(random() * 80000)::bigint
  FROM facility f JOIN alloc_category c ON c.code = f.category AND c.method = 'performance', generate_series(1, 12) m;
ALTER TABLE production ENABLE TRIGGER production_check;
INSERT INTO confirmed_emission (participant_id, year, emissions_t, basis, confirmed_at)
SELECT p.participant_id, 2021, (1300000 + floor(random() * 600000))::bigint, 'verified', '2022-06-30 12:00+08'
  FROM participant p WHERE p.sector = 'cement';
VACUUM (FREEZE, ANALYZE) production, facility, participant, confirmed_emission, alloc_category, alloc_benchmark,
    alloc_heat_factor, alloc_cooling_factor, alloc_load_piece, alloc_year_rule, alloc_band;

SELECT format('allocation_national: %s facilities (%s generating units, %s clinker lines), %s monthly rows, %s participants',
              (SELECT count(*) FROM facility),
              (SELECT count(*) FROM facility WHERE category <> 'cement_clinker'),
              (SELECT count(*) FROM facility WHERE category = 'cement_clinker'),
              (SELECT count(*) FROM production), (SELECT count(*) FROM participant WHERE kind = 'key_emitter'));

CREATE TEMP TABLE bench_query (kind text PRIMARY KEY, q text NOT NULL);
INSERT INTO bench_query VALUES
('c', $q$SELECT participant_id, allowance_t FROM carbonmkt.participant_allowance(2021)$q$),
('sql', $q$
WITH t AS (
    SELECT f.participant_id, x.facility_id, f.category, f.capacity_mw, f.cooling, c.fuel,
           sum(x.power_supplied_kwh) AS p, sum(x.generation_kwh) AS g, sum(x.operating_minutes) AS m,
           sum(x.heat_supplied_mj) AS hs, sum(x.heat_total_mj) AS ht
      FROM carbonmkt.production x
      JOIN carbonmkt.facility f ON f.facility_id = x.facility_id
      JOIN carbonmkt.alloc_category c ON c.code = f.category AND c.method = 'power'
     WHERE x.year = 2021
     GROUP BY f.participant_id, x.facility_id, f.category, f.capacity_mw, f.cooling, c.fuel
), r AS (
    SELECT t.*, b.benchmark AS bp, b.heat_benchmark AS bh, b.load_applies, h.coefficient AS k,
           CASE WHEN b.cool_applies THEN cf.factor ELSE 1 END AS f_cool, y.rounding,
           CASE WHEN t.m > 0 THEN round((t.g * 60)::numeric(1000, 20) / (t.capacity_mw * 1000 * t.m), 20) END AS lf,
           CASE WHEN t.ht > 0 THEN round(t.hs::numeric(1000, 20) / t.ht, 20) ELSE 0 END AS hr
      FROM t
      JOIN carbonmkt.alloc_benchmark b ON b.jurisdiction = 'CN' AND b.year = 2021 AND b.category = t.category
      JOIN carbonmkt.alloc_heat_factor h ON h.jurisdiction = 'CN' AND h.year = 2021 AND h.fuel = t.fuel
      LEFT JOIN carbonmkt.alloc_cooling_factor cf ON cf.jurisdiction = 'CN' AND cf.year = 2021 AND cf.fuel = t.fuel
                                                 AND cf.cooling = t.cooling
      JOIN carbonmkt.alloc_year_rule y ON y.jurisdiction = 'CN' AND y.year = 2021
), l AS (
    SELECT r.*,
           CASE WHEN NOT r.load_applies OR r.lf IS NULL THEN 1
                WHEN pc.kind = 'linear' THEN pc.a + pc.b * (pc.pivot - 100 * r.lf)
                ELSE round(power(pc.base::numeric(1000, 20), pc.c - pc.d * r.lf), 20) END AS f_load
      FROM r LEFT JOIN LATERAL (SELECT * FROM carbonmkt.alloc_load_piece p
                                 WHERE p.jurisdiction = 'CN' AND p.year = 2021 AND p.lower_bound <= r.lf
                                 ORDER BY p.lower_bound DESC LIMIT 1) pc ON true
), unit AS (
    SELECT participant_id, rounding,
           bp * (p / 1000.0) * f_load * (1 - k * hr) * f_cool + coalesce(bh, 0) * (hs / 1000.0) AS exact
      FROM l
), perf AS (
    SELECT f.participant_id, sum(x.output_t * b.benchmark) AS raw
      FROM carbonmkt.production x
      JOIN carbonmkt.facility f ON f.facility_id = x.facility_id
      JOIN carbonmkt.alloc_category c ON c.code = f.category AND c.method = 'performance'
      JOIN carbonmkt.alloc_benchmark b ON b.jurisdiction = 'CN' AND b.year = 2021 AND b.category = f.category
     WHERE x.year = 2021
     GROUP BY f.participant_id
), clamped AS (
    SELECT perf.participant_id, y.rounding,
           least(greatest(perf.raw, ce.emissions_t * (1 - bd.max_gap)), ce.emissions_t * (1 + bd.max_surplus)) AS exact
      FROM perf
      JOIN carbonmkt.participant p ON p.participant_id = perf.participant_id
      JOIN carbonmkt.confirmed_emission ce ON ce.participant_id = perf.participant_id AND ce.year = 2021
      JOIN carbonmkt.alloc_band bd ON bd.jurisdiction = 'CN' AND bd.year = 2021 AND bd.sector = p.sector
      JOIN carbonmkt.alloc_year_rule y ON y.jurisdiction = 'CN' AND y.year = 2021
)
SELECT participant_id, sum(CASE rounding WHEN 'half_up' THEN round(exact) WHEN 'down' THEN trunc(exact)
                                          ELSE ceil(exact) END)::bigint AS allowance_t
  FROM (SELECT * FROM unit UNION ALL SELECT * FROM clamped) u
 GROUP BY participant_id
$q$);

-- Both give every participant the same allowance, to the tonne
CREATE TEMP TABLE result_c AS SELECT * FROM participant_allowance(2021);
DO $$
DECLARE
    q       text;
    n_c     bigint;
    n_sql   bigint;
    t_c     numeric;
    t_sql   numeric;
    differ  bigint;
BEGIN
    SELECT bench_query.q INTO q FROM bench_query WHERE kind = 'sql';
    EXECUTE 'CREATE TEMP TABLE result_sql AS ' || q;
    SELECT count(*), sum(allowance_t) INTO n_c, t_c FROM result_c;
    SELECT count(*), sum(allowance_t) INTO n_sql, t_sql FROM result_sql;
    SELECT count(*) INTO differ FROM result_c c FULL JOIN result_sql s USING (participant_id)
     WHERE c.allowance_t IS DISTINCT FROM s.allowance_t;
    IF differ > 0 OR t_c IS DISTINCT FROM t_sql THEN
        RAISE EXCEPTION 'allocation_national: C and plain SQL differ for % participant(s): totals % and %', differ, t_c, t_sql;
    END IF;
END $$;
SELECT format('allocation_national: totals C %s t, plain SQL %s t, over %s and %s participants: equal to the tonne for every participant',
              to_char((SELECT sum(allowance_t) FROM result_c), 'FM999,999,999,999'),
              to_char((SELECT sum(allowance_t) FROM result_sql), 'FM999,999,999,999'),
              (SELECT count(*) FROM result_c), (SELECT count(*) FROM result_sql));

CREATE TEMP TABLE bench_times (pass text, round int, kind text, ms double precision, parallel boolean);
CREATE FUNCTION pg_temp.bench_ms(pass text, round int, kind text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    q       text;
    t0      timestamptz;
    n       bigint;
    total   numeric;
    plan    text;
BEGIN
    SELECT bench_query.q INTO q FROM bench_query WHERE bench_query.kind = bench_ms.kind;
    EXECUTE 'EXPLAIN (FORMAT JSON) SELECT count(*), sum(allowance_t) FROM (' || q || ') s' INTO plan;
    t0 := clock_timestamp();
    EXECUTE 'SELECT count(*), sum(allowance_t) FROM (' || q || ') s' INTO n, total;
    INSERT INTO bench_times VALUES (pass, round, kind, extract(epoch FROM clock_timestamp() - t0) * 1000,
                                    plan LIKE '%"Workers Planned"%');
END $$;

-- warm-up, then 5 rounds per pass, alternating which runs first
SELECT pg_temp.bench_ms('warmup', 0, 'c'), pg_temp.bench_ms('warmup', 0, 'sql');
SET max_parallel_workers_per_gather = 0;
SELECT pg_temp.bench_ms('serial', r, CASE WHEN r % 2 = 0 THEN k ELSE (ARRAY['sql', 'c'])[i] END)
  FROM generate_series(1, 5) r, unnest(ARRAY['c', 'sql']) WITH ORDINALITY u(k, i);
-- 36,000 rows are below the planner's parallel threshold: make workers free, to measure the
-- parallel plan (partial aggregates in 2 workers, serialised, combined in the leader)
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SELECT pg_temp.bench_ms('parallel', r, CASE WHEN r % 2 = 0 THEN k ELSE (ARRAY['sql', 'c'])[i] END)
  FROM generate_series(1, 5) r, unnest(ARRAY['c', 'sql']) WITH ORDINALITY u(k, i);

SELECT format('%-9s C aggregates %8s ms (%s-%s)   plain SQL %8s ms (%s-%s)   (median of 5; parallel plans: C %s, SQL %s)',
              pass, to_char(c, 'FM99990.0'), to_char(clo, 'FM99990.0'), to_char(chi, 'FM99990.0'),
              to_char(s, 'FM99990.0'), to_char(slo, 'FM99990.0'), to_char(shi, 'FM99990.0'), cp, sp)
  FROM (SELECT pass,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'c') AS c,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'sql') AS s,
               min(ms) FILTER (WHERE kind = 'c') AS clo, max(ms) FILTER (WHERE kind = 'c') AS chi,
               min(ms) FILTER (WHERE kind = 'sql') AS slo, max(ms) FILTER (WHERE kind = 'sql') AS shi,
               bool_or(parallel) FILTER (WHERE kind = 'c') AS cp, bool_or(parallel) FILTER (WHERE kind = 'sql') AS sp
          FROM bench_times WHERE pass <> 'warmup' GROUP BY pass) m
 ORDER BY pass DESC;
SELECT format('ratio C/SQL %s %s (target <= 1.00) %s', pass, to_char(c / s, 'FM990.00'), CASE WHEN c / s <= 1 THEN 'ok' ELSE 'MISSED' END)
  FROM (SELECT pass,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'c') AS c,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'sql') AS s
          FROM bench_times WHERE pass <> 'warmup' GROUP BY pass) m
 ORDER BY pass DESC;
