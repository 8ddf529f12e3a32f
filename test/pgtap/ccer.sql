-- pgTAP invariants of the ccer type over randomised data (fixed seed).
BEGIN;
SELECT plan(32);
SET LOCAL search_path = carbonmkt, public;
SELECT setseed(0.20261121);

-- 4,000 random blocks: 5 projects in random letter case, 3 vintages, serials
-- below 200,000, 1 to 400 tonnes; overlaps are frequent on purpose.
CREATE TEMP TABLE blocks ON COMMIT DROP AS
SELECT g AS id, ccer(
		CASE WHEN random() < 0.5 THEN lower(p) ELSE p END,
		2020 + floor(random() * 3)::int, f, f + floor(random() * 400)::bigint) AS b
FROM (SELECT g, 'GD-OW-' || floor(random() * 5)::int AS p,
			 floor(random() * 200000)::bigint AS f
	  FROM generate_series(1, 4000) g) s;
-- plus a few extremes of the serial range
INSERT INTO blocks VALUES
	(4001, 'CCER:GD-OW-0:2020:0'), (4002, 'CCER:GD-OW-0:2020:999999999999999999'),
	(4003, 'CCER:GD-OW-0:2020:0-999999999999999999'), (4004, 'CCER:GD-OW-1:2021:999999999999999000-999999999999999999');

SELECT is((SELECT count(*) FROM blocks), 4004::bigint, '4,004 random blocks');

-- text round trip
SELECT is((SELECT count(*) FROM blocks WHERE b::text::ccer <> b), 0::bigint,
		  'text output reads back as the same block');
SELECT is((SELECT count(*) FROM blocks
		   WHERE b::text <> format('CCER:%s:%s:%s-%s', project(b), vintage(b), first_serial(b), last_serial(b))),
		  0::bigint, 'text output is the canonical CCER:<project>:<vintage>:<first>-<last>');
SELECT is((SELECT count(*) FROM blocks
		   WHERE format('%s %s %s..%s', lower(project(b)), vintage(b), first_serial(b), last_serial(b))::ccer <> b),
		  0::bigint, 'the whitespace/.. input form reads the same block');
SELECT is((SELECT count(*) FROM blocks
		   WHERE ccer(project(b), vintage(b), first_serial(b), last_serial(b)) <> b
			  OR tonnes(b) <> last_serial(b) - first_serial(b) + 1
			  OR project(b) <> upper(project(b))),
		  0::bigint, 'constructor and accessors agree; projects are upper case');

-- split_block then merge_blocks gives back the block
CREATE TEMP TABLE splits ON COMMIT DROP AS
SELECT id, b, n, (split_block(b, n)).*
FROM (SELECT id, b, 1 + floor(random() * tonnes(b))::bigint AS n FROM blocks) s;
SELECT is((SELECT count(*) FROM splits WHERE tail IS NOT NULL AND merge_blocks(head, tail) <> b),
		  0::bigint, 'merge_blocks(head, tail) = block');
SELECT is((SELECT count(*) FROM splits WHERE tail IS NOT NULL AND merge_blocks(tail, head) <> b),
		  0::bigint, 'merge_blocks(tail, head) = block');
SELECT is((SELECT count(*) FROM splits
		   WHERE tonnes(head) <> n OR first_serial(head) <> first_serial(b)
			  OR (tail IS NULL) <> (n = tonnes(b))
			  OR (tail IS NOT NULL AND (tonnes(head) + tonnes(tail) <> tonnes(b)
										OR NOT head -|- tail OR head && tail))),
		  0::bigint, 'head has n tonnes, tail the rest; they are adjacent and disjoint');
SELECT is((SELECT count(*) FROM splits WHERE tail IS NULL AND head <> b),
		  0::bigint, 'splitting off the whole block gives the block and a NULL tail');
SELECT ok((SELECT count(*) FROM splits WHERE tail IS NULL) > 0
		  AND (SELECT count(*) FROM splits WHERE tail IS NOT NULL) > 0,
		  'both kinds of split were exercised');

-- the operators agree with a plain-SQL definition on random pairs
CREATE TEMP TABLE pairs ON COMMIT DROP AS
SELECT a.b AS a, c.b AS c
FROM (SELECT b, row_number() OVER (ORDER BY random()) AS r FROM blocks) a
JOIN (SELECT b, row_number() OVER (ORDER BY random()) AS r FROM blocks) c USING (r);
-- every block against its own neighbours, a contained and a containing block
INSERT INTO pairs
SELECT b, ccer(project(b), vintage(b), last_serial(b) + 1, last_serial(b) + 10) FROM blocks
WHERE last_serial(b) < 999999999999999990
UNION ALL
SELECT ccer(project(b), vintage(b), first_serial(b) - 5, first_serial(b) - 1), b FROM blocks
WHERE first_serial(b) >= 5
UNION ALL
SELECT b, ccer(project(b), vintage(b), (first_serial(b) + last_serial(b)) / 2, last_serial(b)) FROM blocks
UNION ALL
SELECT b, ccer(project(b), vintage(b) + 1, first_serial(b), last_serial(b)) FROM blocks WHERE vintage(b) < 2100
UNION ALL
SELECT a.b, c.b FROM blocks a JOIN blocks c ON project(a.b) = project(c.b) AND a.id % 97 = c.id % 97 AND a.id < 1000;
CREATE TEMP VIEW pair_truth AS
SELECT a, c,
	   project(a) = project(c) AND vintage(a) = vintage(c) AS same_lot,
	   first_serial(a) AS af, last_serial(a) AS al, first_serial(c) AS cf, last_serial(c) AS cl
FROM pairs;
SELECT is((SELECT count(*) FROM pair_truth
		   WHERE (a && c) IS DISTINCT FROM (same_lot AND af <= cl AND cf <= al)), 0::bigint,
		  '&& = same project and vintage and the ranges intersect');
SELECT is((SELECT count(*) FROM pair_truth
		   WHERE (a @> c) IS DISTINCT FROM (same_lot AND af <= cf AND cl <= al)), 0::bigint,
		  '@> = same project and vintage and range inclusion');
SELECT is((SELECT count(*) FROM pair_truth
		   WHERE (a <@ c) IS DISTINCT FROM (same_lot AND cf <= af AND al <= cl)), 0::bigint,
		  '<@ = same project and vintage and range inclusion');
SELECT is((SELECT count(*) FROM pair_truth
		   WHERE (a -|- c) IS DISTINCT FROM (same_lot AND (al + 1 = cf OR cl + 1 = af))), 0::bigint,
		  '-|- = same project and vintage and one block right after the other');
SELECT is((SELECT count(*) FROM pair_truth
		   WHERE (a = c) IS DISTINCT FROM (same_lot AND af = cf AND al = cl)
			  OR (a < c) IS DISTINCT FROM ((project(a), vintage(a), af, al) < (project(c), vintage(c), cf, cl))
			  OR (a = c) <> (ccer_hash(a) = ccer_hash(c)) AND a = c), 0::bigint,
		  '= and < agree with row comparison; equal blocks hash equally');
SELECT is((SELECT count(*) FROM pair_truth
		   WHERE (a && c) <> (c && a) OR (a -|- c) <> (c -|- a) OR (a @> c) <> (c <@ a)), 0::bigint,
		  '&& and -|- are symmetric, @> is the commutator of <@');
SELECT ok((SELECT count(*) FILTER (WHERE a && c) > 100 AND count(*) FILTER (WHERE NOT a && c AND same_lot) > 100
			  AND count(*) FILTER (WHERE a @> c) > 100 AND count(*) FILTER (WHERE a <@ c) > 100
			  AND count(*) FILTER (WHERE a -|- c) > 100 AND count(*) FILTER (WHERE a = c) > 0
		   FROM pair_truth),
		  'every operator was true and false on many pairs');

-- GiST index scans give the same rows as sequential scans
CREATE TEMP TABLE indexed ON COMMIT DROP AS SELECT id, b FROM blocks;
CREATE INDEX indexed_gist ON indexed USING gist (b);
ANALYZE indexed;
CREATE TEMP TABLE sample ON COMMIT DROP AS
SELECT b, project(b) AS p, vintage(b) AS v, first_serial(b) AS f, last_serial(b) AS l, tonnes(b) AS t
FROM blocks WHERE id <= 4000 ORDER BY random() LIMIT 200;
CREATE TEMP TABLE queries ON COMMIT DROP AS
SELECT op, row_number() OVER () AS qid, q
FROM (SELECT '&&' AS op, b AS q FROM sample
	  UNION ALL SELECT '&&', ccer(p, v, f + t / 2, l + 5000) FROM sample
	  UNION ALL SELECT '@>', b FROM sample
	  UNION ALL SELECT '@>', ccer(p, v, f + t / 3, l - t / 3) FROM sample
	  UNION ALL SELECT '<@', b FROM sample
	  UNION ALL SELECT '<@', ccer(p, v, greatest(f - 3000, 0), l + 3000) FROM sample
	  UNION ALL SELECT '-|-', b FROM sample
	  UNION ALL SELECT '-|-', ccer(p, v, l + 1, l + 3) FROM sample
	  UNION ALL SELECT '-|-', ccer(p, v, f - 2, f - 1) FROM sample WHERE f >= 2
	  UNION ALL SELECT '=', b FROM sample
	  UNION ALL SELECT '=', ccer(p, v, f, l + 1) FROM sample
	  UNION ALL SELECT '<@', ccer('GD-OW-' || i, 2020 + i % 3, 0, 100000) FROM generate_series(0, 4) i) s;
CREATE FUNCTION pg_temp.matches(op text) RETURNS TABLE (qid bigint, id int) LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format(
		'SELECT q.qid, t.id FROM pg_temp.queries q JOIN pg_temp.indexed t ON t.b OPERATOR(carbonmkt.%s) q.q WHERE q.op = $1',
		op) USING op;
END $$;
CREATE FUNCTION pg_temp.plan_of(op text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	line text;
	result text := '';
BEGIN
	FOR line IN EXECUTE format(
		'EXPLAIN (COSTS OFF) SELECT q.qid, t.id FROM pg_temp.queries q JOIN pg_temp.indexed t ON t.b OPERATOR(carbonmkt.%s) q.q',
		op)
	LOOP
		result := result || line || E'\n';
	END LOOP;
	RETURN result;
END $$;

SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SET LOCAL enable_hashjoin = off;
SET LOCAL enable_mergejoin = off;
CREATE TEMP TABLE by_index ON COMMIT DROP AS
SELECT op, m.* FROM (VALUES ('&&'), ('@>'), ('<@'), ('-|-'), ('=')) o(op), LATERAL pg_temp.matches(op) m;
SELECT matches(pg_temp.plan_of(op), 'Index Scan using indexed_gist',
			   format('the %s join uses the GiST index', op))
FROM (VALUES ('&&'), ('@>'), ('<@'), ('-|-'), ('=')) o(op);
RESET enable_seqscan;
RESET enable_bitmapscan;
SET LOCAL enable_indexscan = off;
SET LOCAL enable_bitmapscan = off;
CREATE TEMP TABLE by_seqscan ON COMMIT DROP AS
SELECT op, m.* FROM (VALUES ('&&'), ('@>'), ('<@'), ('-|-'), ('=')) o(op), LATERAL pg_temp.matches(op) m;
SELECT doesnt_match(pg_temp.plan_of('&&'), 'indexed_gist', 'the reference scan does not use the index');
RESET enable_indexscan;
RESET enable_bitmapscan;
RESET enable_hashjoin;
RESET enable_mergejoin;
SELECT set_eq(format('SELECT qid, id FROM by_index WHERE op = %L', op),
			  format('SELECT qid, id FROM by_seqscan WHERE op = %L', op),
			  format('GiST index scan and seq scan agree for %s', op))
FROM (VALUES ('&&'), ('@>'), ('<@'), ('-|-'), ('=')) o(op);
SELECT ok((SELECT count(*) FROM by_seqscan WHERE op = '&&') > 1000
		  AND (SELECT count(*) FROM by_seqscan WHERE op = '@>') >= 400
		  AND (SELECT count(*) FROM by_seqscan WHERE op = '<@') > 1000
		  AND (SELECT count(*) FROM by_seqscan WHERE op = '-|-') >= 200
		  AND (SELECT count(*) FROM by_seqscan WHERE op = '=') >= 200,
		  'the GiST comparison found many matches for every operator');

-- an EXCLUDE registry fed the random blocks keeps exactly a non-overlapping subset
CREATE TEMP TABLE registry (b ccer, EXCLUDE USING gist (b WITH &&)) ON COMMIT DROP;
CREATE TEMP TABLE refused (b ccer) ON COMMIT DROP;
DO $$
DECLARE
	blk carbonmkt.ccer;
BEGIN
	FOR blk IN SELECT b FROM pg_temp.blocks ORDER BY id LOOP
		BEGIN
			INSERT INTO pg_temp.registry VALUES (blk);
		EXCEPTION WHEN exclusion_violation THEN
			INSERT INTO pg_temp.refused VALUES (blk);
		END;
	END LOOP;
END $$;
SET LOCAL enable_indexscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT is((SELECT count(*) FROM registry a JOIN registry c ON a.b && c.b AND a.ctid <> c.ctid), 0::bigint,
		  'no two registered blocks share a serial');
SELECT is((SELECT count(*) FROM refused f WHERE NOT EXISTS (SELECT 1 FROM registry r WHERE r.b && f.b)), 0::bigint,
		  'every refused block overlaps a registered one');
SELECT ok((SELECT count(*) FROM refused) > 100 AND (SELECT count(*) FROM registry) > 100,
		  'many blocks were registered and many refused');

SELECT * FROM finish();
ROLLBACK;
