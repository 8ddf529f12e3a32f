-- test/bench/types_sum.sql: the per-row cost of carbonmkt.sum(allowance)
-- against sum(bigint) and sum(numeric) over the same 10,000,000 quantities.
--
-- One table, three columns holding the same values (one vintage), frozen and
-- analysed.  Each round times the three sums inside the server (clock_timestamp()
-- around EXECUTE in PL/pgSQL, so client and network noise are excluded), in a
-- rotating order; we report the median of 5 rounds and the ratios.
--   pass 1: max_parallel_workers_per_gather = 0 -- the per-row cost of the
--           aggregate (plus the same scan and deform cost for all three);
--   pass 2: 2 parallel workers allowed -- does sum(allowance) parallelise
--           (partial aggregation with its combine function) like the others?
-- JIT is off: its compile time (~100 ms per query) is noise at this size.
-- Targets: allowance/bigint <= 1.50, allowance/numeric < 1.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
SET client_min_messages = warning;
SET jit = off;

DROP TABLE IF EXISTS bench_types_sum;
-- unlogged: loads faster; scans are the same
CREATE UNLOGGED TABLE bench_types_sum (
	a carbonmkt.allowance NOT NULL,
	b bigint NOT NULL,
	c numeric NOT NULL
);
-- deterministic quantities 1..1,000,003 t in a scrambled order
INSERT INTO bench_types_sum (a, b, c)
SELECT carbonmkt.cea(2024, v), v, v
FROM (SELECT (i * 7919) % 1000003 + 1 AS v
	  FROM generate_series(1::bigint, 10000000) AS i) AS s;
VACUUM (FREEZE, ANALYZE) bench_types_sum;

SELECT format('types_sum: %s rows, table %s (allowance %s B, bigint %s B, numeric %s B per value on average)',
			  count(*), pg_size_pretty(pg_relation_size('bench_types_sum')),
			  round(avg(pg_column_size(a)), 1), round(avg(pg_column_size(b)), 1),
			  round(avg(pg_column_size(c)), 1))
FROM bench_types_sum;

CREATE TEMP TABLE bench_times (
	pass text,
	round int,
	kind text,
	ms double precision,
	parallel boolean
);

-- Time one query; also note whether its plan has parallel workers.
CREATE FUNCTION pg_temp.bench_ms(pass text, round int, kind text, q text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	t1 timestamptz;
	r text;
	plan text;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO plan;
	t0 := clock_timestamp();
	EXECUTE q INTO r;
	t1 := clock_timestamp();
	INSERT INTO bench_times
	VALUES (pass, round, kind, extract(epoch FROM t1 - t0) * 1000,
			plan LIKE '%"Workers Planned"%');
END
$$;

-- Check the three sums agree (also a warm-up), then 5 interleaved rounds.
CREATE FUNCTION pg_temp.bench_pass(pass text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	kinds text[] := ARRAY['allowance', 'bigint', 'numeric'];
	queries text[] := ARRAY['SELECT carbonmkt.sum(a)::text FROM bench_types_sum',
							'SELECT sum(b)::text FROM bench_types_sum',
							'SELECT sum(c)::text FROM bench_types_sum'];
	sa carbonmkt.allowance;
	sb numeric;
	sc numeric;
	k int;
BEGIN
	SELECT carbonmkt.sum(a), sum(b), sum(c) INTO sa, sb, sc FROM bench_types_sum;
	IF carbonmkt.vintage(sa) <> 2024 OR carbonmkt.tonnes(sa) <> sb OR sb <> sc THEN
		RAISE EXCEPTION 'types_sum (%): sums differ: allowance %, bigint %, numeric %',
			pass, sa, sb, sc;
	END IF;
	FOR r IN 1..5 LOOP
		FOR j IN 0..2 LOOP
			k := (r + j) % 3 + 1;	-- rotate the order between rounds
			PERFORM pg_temp.bench_ms(pass, r, kinds[k], queries[k]);
		END LOOP;
	END LOOP;
	RETURN format('types_sum (%s): the three sums agree: %s = %s t', pass, sa, sb);
END
$$;

SET max_parallel_workers_per_gather = 0;
SELECT pg_temp.bench_pass('serial');
SET max_parallel_workers_per_gather = 2;
SELECT pg_temp.bench_pass('parallel');

-- Report: medians, per-row cost, ratios.
WITH med AS (
	SELECT pass, kind,
		   percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms, min(ms) AS lo, max(ms) AS hi,
		   bool_and(parallel) AS par
	FROM bench_times GROUP BY pass, kind
), r AS (
	SELECT pass,
		   max(ms) FILTER (WHERE kind = 'allowance') AS a,
		   max(ms) FILTER (WHERE kind = 'bigint') AS b,
		   max(ms) FILTER (WHERE kind = 'numeric') AS c
	FROM med GROUP BY pass
)
SELECT line FROM (
	SELECT CASE pass WHEN 'serial' THEN 1 ELSE 2 END AS p, 0 AS o,
		   CASE pass WHEN 'serial' THEN 'serial (max_parallel_workers_per_gather = 0), median of 5 rounds:'
		   ELSE 'parallel (max_parallel_workers_per_gather = 2), median of 5 rounds:' END AS line
	FROM r
	UNION ALL
	SELECT CASE pass WHEN 'serial' THEN 1 ELSE 2 END,
		   CASE kind WHEN 'allowance' THEN 1 WHEN 'bigint' THEN 2 ELSE 3 END,
		   format('  sum(%s)%s %8s ms (%s-%s)  %5s ns/row%s', kind, repeat(' ', 10 - length(kind)),
				  to_char(ms, 'FM99990.0'), to_char(lo, 'FM99990.0'), to_char(hi, 'FM99990.0'),
				  to_char(ms * 1e6 / 1e7, 'FM990.0'),
				  CASE WHEN par THEN '  (parallel plan)' ELSE '' END)
	FROM med
	UNION ALL
	SELECT CASE pass WHEN 'serial' THEN 1 ELSE 2 END, 4,
		   format('  ratio allowance/bigint %s (target <= 1.50) %s',
				  to_char(a / b, 'FM990.00'), CASE WHEN round((a / b)::numeric, 2) <= 1.5 THEN 'ok' ELSE 'MISSED' END)
	FROM r
	UNION ALL
	SELECT CASE pass WHEN 'serial' THEN 1 ELSE 2 END, 5,
		   format('  ratio allowance/numeric %s (target < 1) %s',
				  to_char(a / c, 'FM990.00'), CASE WHEN round((a / c)::numeric, 2) < 1 THEN 'ok' ELSE 'MISSED' END)
	FROM r
) AS lines
ORDER BY p, o;

DROP TABLE bench_types_sum;
