-- pgTAP invariants of the allowance type over 20,000 random rows (fixed seed).
BEGIN;
SET LOCAL search_path = carbonmkt, public;
SELECT plan(39);

SELECT setseed(0.42);

-- a real (not temporary) table, so that parallel plans are possible
CREATE TABLE alw_rand (id int PRIMARY KEY, v int NOT NULL, t bigint NOT NULL, a allowance NOT NULL);
INSERT INTO alw_rand (id, v, t, a)
SELECT id, v, t, cea(v, t)
FROM (
	SELECT id, 2005 + floor(random() * 96)::int AS v,
		CASE WHEN random() < 0.5
			THEN floor(random() * 2001)::bigint - 1000
			ELSE (floor((random() * 2 - 1) * 10 ^ (random() * 14)))::bigint
		END AS t
	FROM generate_series(1, 20000) id
) s;
-- the window edges
INSERT INTO alw_rand VALUES
	(20001, 2005, 0, 'CEA2005:0t'), (20002, 2100, -1, 'CEA2100:-1t'),
	(20003, 2100, 1, 'CEA2100:1t'), (20004, 2005, 1000, 'CEA2005:1000t');
ANALYZE alw_rand;

-- EXPLAIN output as one text, for plan-shape assertions
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text;
	res text := '';
BEGIN
	FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
		res := res || r || E'\n';
	END LOOP;
	RETURN res;
END
$$;

--
-- text and binary representation
--
SELECT is((SELECT count(*) FROM alw_rand WHERE a::text::allowance <> a), 0::bigint,
	'text output round-trips through text input for every row');
SELECT is((SELECT count(*) FROM alw_rand WHERE a::text <> 'CEA' || v || ':' || t || 't'), 0::bigint,
	'canonical output is CEA<vintage>:<tonnes>t for every row');
SELECT is((SELECT count(*) FROM alw_rand
		WHERE format('cea %s : %s tCO2e', v, to_char(t, 'FM9,999,999,999,999,999,990'))::allowance <> a),
	0::bigint, 'lower-case prefix, spaces, comma groups and tCO2e parse to the same value');
SELECT is((SELECT count(*) FROM alw_rand
		WHERE format('%s %s', v, replace(to_char(t, 'FM9,999,999,999,999,999,990'), ',', '_'))::allowance <> a),
	0::bigint, 'bare vintage, whitespace separator and underscore groups parse to the same value');
SELECT is((SELECT count(*) FROM alw_rand
		WHERE format('CEA-%s:%s%st', v, CASE WHEN t >= 0 THEN '+' ELSE '' END, t)::allowance <> a),
	0::bigint, 'CEA- prefix and explicit plus sign parse to the same value');
SELECT is((SELECT count(*) FROM alw_rand WHERE allowance_send(a) <> int4send(v) || int8send(t)), 0::bigint,
	'binary output is int4 vintage then int8 tonnes for every row');
SELECT is((SELECT count(*) FROM alw_rand WHERE vintage(a) <> v OR tonnes(a) <> t), 0::bigint,
	'vintage() and tonnes() return the components');

--
-- ordering and comparison
--
SELECT is((SELECT array_agg(id ORDER BY a, id) FROM alw_rand),
	(SELECT array_agg(id ORDER BY v, t, id) FROM alw_rand),
	'ORDER BY allowance equals ORDER BY (vintage, tonnes)');
SELECT is((SELECT array_agg(id ORDER BY a DESC, id) FROM alw_rand),
	(SELECT array_agg(id ORDER BY v DESC, t DESC, id) FROM alw_rand),
	'ORDER BY allowance DESC equals ORDER BY (vintage, tonnes) DESC');
CREATE TEMP TABLE alw_pairs AS
SELECT x.a AS a, y.a AS b, x.v AS xv, x.t AS xt, y.v AS yv, y.t AS yt
FROM alw_rand x JOIN alw_rand y ON y.id = (x.id % 20004) + 1
UNION ALL
SELECT a, a, v, t, v, t FROM alw_rand WHERE id % 10 = 0;
SELECT is((SELECT count(*) FROM alw_pairs
		WHERE (a = b) <> ((xv, xt) = (yv, yt)) OR (a <> b) <> ((xv, xt) <> (yv, yt))
			OR (a < b) <> ((xv, xt) < (yv, yt)) OR (a <= b) <> ((xv, xt) <= (yv, yt))
			OR (a > b) <> ((xv, xt) > (yv, yt)) OR (a >= b) <> ((xv, xt) >= (yv, yt))),
	0::bigint, 'every comparison operator agrees with the row comparison of (vintage, tonnes)');
SELECT is((SELECT count(*) FROM alw_pairs
		WHERE allowance_cmp(a, b) <> -allowance_cmp(b, a)
			OR sign(allowance_cmp(a, b)) <> CASE WHEN (xv, xt) < (yv, yt) THEN -1
				WHEN (xv, xt) > (yv, yt) THEN 1 ELSE 0 END),
	0::bigint, 'allowance_cmp is antisymmetric and consistent with <');
SELECT is((SELECT count(*) FROM alw_pairs
		WHERE a = b AND (allowance_hash(a) <> allowance_hash(b)
			OR allowance_hash_extended(a, 42) <> allowance_hash_extended(b, 42))),
	0::bigint, 'equal allowances have equal hashes');

-- btree index scans agree with sequential scans
CREATE INDEX alw_rand_a ON alw_rand (a);
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT matches(pg_temp.plan_of($$SELECT id FROM alw_rand WHERE a >= 'CEA2050:0t' AND a < 'CEA2051:0t'$$),
	'Index Scan using alw_rand_a', 'range query uses the btree index');
SELECT is((SELECT array_agg(id ORDER BY id) FROM alw_rand WHERE a >= 'CEA2050:0t' AND a < 'CEA2051:0t'),
	(SELECT array_agg(id ORDER BY id) FROM alw_rand WHERE (v = 2050 AND t >= 0) OR (v = 2051 AND t < 0)),
	'btree range scan finds exactly the rows of the range');
CREATE TEMP TABLE alw_counts AS SELECT v, t, count(*) AS n FROM alw_rand GROUP BY v, t;
CREATE INDEX ON alw_counts (v, t);
SELECT matches(pg_temp.plan_of($$SELECT count(*) FROM alw_rand WHERE a = 'CEA2050:0t'$$),
	'Index Only Scan using alw_rand_a', 'equality lookup uses the btree index');
SELECT is((SELECT count(*) FROM alw_rand x
		WHERE x.id % 20 = 0
			AND (SELECT count(*) FROM alw_rand y WHERE y.a = x.a)
				<> (SELECT n FROM alw_counts c WHERE c.v = x.v AND c.t = x.t)),
	0::bigint, 'btree equality lookup finds every duplicate');
RESET enable_seqscan;
RESET enable_bitmapscan;

--
-- hash join and merge join agree with the join on (vintage, tonnes)
--
CREATE TEMP TABLE alw_ref AS
SELECT x.id AS xid, y.id AS yid FROM alw_rand x JOIN alw_rand y ON x.v = y.v AND x.t = y.t;
SET LOCAL enable_mergejoin = off;
SET LOCAL enable_nestloop = off;
SELECT matches(pg_temp.plan_of('SELECT x.id, y.id FROM alw_rand x JOIN alw_rand y ON x.a = y.a'),
	'Hash Join', 'hash join is used when forced');
CREATE TEMP TABLE alw_hj AS SELECT x.id AS xid, y.id AS yid FROM alw_rand x JOIN alw_rand y ON x.a = y.a;
RESET enable_mergejoin;
SET LOCAL enable_hashjoin = off;
SELECT matches(pg_temp.plan_of('SELECT x.id, y.id FROM alw_rand x JOIN alw_rand y ON x.a = y.a'),
	'Merge Join', 'merge join is used when forced');
CREATE TEMP TABLE alw_mj AS SELECT x.id AS xid, y.id AS yid FROM alw_rand x JOIN alw_rand y ON x.a = y.a;
RESET enable_hashjoin;
RESET enable_nestloop;
SELECT ok((SELECT count(*) FROM alw_ref) > 20004, 'the data has duplicate allowances');
SELECT bag_eq('SELECT * FROM alw_hj', 'SELECT * FROM alw_ref', 'hash join equals the join on (vintage, tonnes)');
SELECT bag_eq('SELECT * FROM alw_mj', 'SELECT * FROM alw_ref', 'merge join equals the join on (vintage, tonnes)');
-- hashed and sorted grouping agree
SET LOCAL enable_sort = off;
CREATE TEMP TABLE alw_hg AS SELECT a, count(*) AS n FROM alw_rand GROUP BY a;
RESET enable_sort;
SET LOCAL enable_hashagg = off;
CREATE TEMP TABLE alw_sg AS SELECT a, count(*) AS n FROM alw_rand GROUP BY a;
RESET enable_hashagg;
SELECT bag_eq('SELECT a::text, n FROM alw_hg', 'SELECT cea(v, t)::text, count(*) FROM alw_rand GROUP BY v, t',
	'hashed GROUP BY allowance equals GROUP BY (vintage, tonnes)');
SELECT bag_eq('SELECT a::text, n FROM alw_sg', 'SELECT cea(v, t)::text, count(*) FROM alw_rand GROUP BY v, t',
	'sorted GROUP BY allowance equals GROUP BY (vintage, tonnes)');

--
-- aggregates
--
SELECT results_eq('SELECT vintage(a), sum(a), min(a), max(a) FROM alw_rand GROUP BY 1 ORDER BY 1',
	'SELECT v, cea(v, sum(t)::bigint), cea(v, min(t)), cea(v, max(t)) FROM alw_rand GROUP BY v ORDER BY v',
	'sum, min and max per vintage equal cea(v, sum/min/max(bigint))');
SELECT is((SELECT min(a) FROM alw_rand), (SELECT cea(v, t) FROM alw_rand ORDER BY v, t LIMIT 1), 'min over all vintages');
SELECT is((SELECT max(a) FROM alw_rand), (SELECT cea(v, t) FROM alw_rand ORDER BY v DESC, t DESC LIMIT 1), 'max over all vintages');

-- forced parallel aggregation: partial sums are combined by the same function
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
-- (grouped by the column v: the planner has statistics for it, not for vintage(a))
SELECT matches(pg_temp.plan_of('SELECT v, sum(a), min(a), max(a) FROM alw_rand GROUP BY v'),
	'Partial .*Aggregate', 'the per-vintage aggregate runs in parallel');
SELECT results_eq('SELECT v, sum(a), min(a), max(a) FROM alw_rand GROUP BY v ORDER BY v',
	'SELECT v, cea(v, sum(t)::bigint), cea(v, min(t)), cea(v, max(t)) FROM alw_rand GROUP BY v ORDER BY v',
	'parallel sum, min and max per vintage equal the bigint aggregates');
SELECT matches(pg_temp.plan_of('SELECT sum(a) FROM alw_rand WHERE v = 2024'),
	'Partial Aggregate', 'a single-vintage sum runs in parallel');
SELECT is((SELECT sum(a) FROM alw_rand WHERE v = 2024),
	(SELECT cea(2024, sum(t)::bigint) FROM alw_rand WHERE v = 2024),
	'parallel sum of one vintage equals cea(v, sum(bigint))');
SELECT throws_ok('SELECT sum(a) FROM alw_rand', '22023', NULL,
	'parallel sum over several vintages raises 22023');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- window sums (cumulative and moving) equal their bigint counterparts
SELECT is((SELECT count(*) FROM (
		SELECT v, t,
			sum(a) OVER w AS s, sum(t) OVER w AS st,
			sum(a) OVER m AS ms, sum(t) OVER m AS mst
		FROM alw_rand
		WINDOW w AS (PARTITION BY v ORDER BY id),
			m AS (PARTITION BY v ORDER BY id ROWS BETWEEN 3 PRECEDING AND 1 FOLLOWING)) s
		WHERE s <> cea(v, st::bigint) OR ms <> cea(v, mst::bigint)),
	0::bigint, 'cumulative and moving window sums equal the bigint window sums');

--
-- arithmetic
--
SELECT is((SELECT count(*) FROM alw_pairs
		WHERE xv = yv AND (a + b <> b + a OR (a + b) - b <> a OR a - b <> a + (-b) OR -(-a) <> a)),
	0::bigint, 'within a vintage + commutes, - undoes +, a - b = a + (-b), -(-a) = a');
SELECT is((SELECT count(*) FROM alw_pairs WHERE xv = yv AND a + b <> cea(xv, xt + yt)), 0::bigint,
	'+ equals bigint addition of the tonnes');

CREATE TEMP TABLE alw_factors AS
SELECT a, t, f
FROM (SELECT a, t, id, round((random() * 20 - 10)::numeric, id % 7)
			+ CASE WHEN id % 13 = 0 THEN 0.5 ELSE 0 END AS f
		FROM alw_rand WHERE id <= 5000) r
WHERE abs(f) >= 0.01;
SELECT ok((SELECT count(*) FROM alw_factors) > 4900, 'enough random factors');
SELECT is((SELECT count(*) FROM alw_factors
		WHERE tonnes(mul_floor(a, f)) > tonnes(mul_round(a, f))
			OR tonnes(mul_round(a, f)) > tonnes(mul_floor(a, f)) + 1
			OR tonnes(div_floor(a, f)) > tonnes(div_round(a, f))
			OR tonnes(div_round(a, f)) > tonnes(div_floor(a, f)) + 1),
	0::bigint, 'mul_floor <= mul_round <= mul_floor + 1, and the same for div');
SELECT is((SELECT count(*) FROM alw_factors
		WHERE a * f <> mul_round(a, f) OR f * a <> mul_round(a, f) OR a / f <> div_round(a, f)),
	0::bigint, 'the operators equal mul_round and div_round');
SELECT is((SELECT count(*) FROM alw_factors
		WHERE tonnes(mul_round(a, f)) <> round(t * f) OR tonnes(mul_floor(a, f)) <> floor(t * f)),
	0::bigint, 'multiplication equals numeric round() and floor() of the exact product');
-- exact characterisation of the quotient q of t / f, without numeric division:
-- floor: q*f <= t < (q+1)*f for f > 0 (reversed for f < 0);
-- half-up: |t - q*f| * 2 <= |f|, and on a tie q is the one farther from zero
SELECT is((SELECT count(*) FROM (
		SELECT t, f, tonnes(div_floor(a, f)) AS qf, tonnes(div_round(a, f)) AS qr FROM alw_factors) s
		WHERE NOT (CASE WHEN f > 0 THEN qf * f <= t AND t < (qf + 1) * f
				ELSE qf * f >= t AND t > (qf + 1) * f END)
			OR abs(t - qr * f) * 2 > abs(f)
			OR (abs(t - qr * f) * 2 = abs(f) AND abs(qr * f) < abs(t))),
	0::bigint, 'div_floor and div_round give the exact floor and half-away-from-zero quotients');

SELECT * FROM finish();
ROLLBACK;
