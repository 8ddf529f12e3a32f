SET search_path = carbonmkt, public;

-- helpers: the result of a ccer literal, or its SQLSTATE and message
CREATE FUNCTION pg_temp.try_ccer(lit text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	RETURN lit::carbonmkt.ccer::text;
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.try_sql(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	EXECUTE stmt INTO r;
	RETURN r;
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END $$;

--
-- text input: every accepted variant
--
SELECT 'CCER:GD-OW-0042:2024:1-50000'::ccer;
SELECT 'ccer:gd-ow-0042:2024:1-50000'::ccer;
SELECT 'CcEr:Gd-Ow-0042:2024:1-50000'::ccer;
SELECT 'GD-OW-0042:2024:1-50000'::ccer;
SELECT 'gd-ow-0042:2024:1..50000'::ccer;
SELECT 'CCER:GD-OW-0042:2024:7'::ccer;
SELECT 'CCER:GD-OW-0042:2024:7-7'::ccer;
SELECT 'CCER GD-OW-0042 2024 1-50000'::ccer;
SELECT 'GD-OW-0042 2024 1..50000'::ccer;
SELECT 'CCER : GD-OW-0042 : 2024 : 1-50000'::ccer;
SELECT E'\t CCER:GD-OW-0042 :2024: 1-50000 \n'::ccer;
SELECT 'CCER:GD-OW-0042 2024:1-50000'::ccer;
SELECT 'CCER:CCER:2024:1-100'::ccer;
SELECT 'CCER:a.b_c-9:2100:0-999999999999999999'::ccer;
SELECT 'CCER:X:2005:000042-0000100'::ccer;
SELECT 'CCER:' || repeat('Z', 64) || ':2024:5' AS lit \gset
SELECT :'lit'::ccer;

-- case folding: the same project whatever the case
SELECT 'gd-ow-0042:2024:1-5'::ccer = 'GD-OW-0042:2024:1-5'::ccer AS same;

--
-- text input: every rejected form, with its SQLSTATE
--
SELECT ''::ccer;
SELECT 'CCER:GD-OW-0042:2024'::ccer;
SELECT 'CCER:GD-OW-0042:2024:1-5:6'::ccer;
SELECT 'CERT:GD-OW-0042:2024:1-5'::ccer;
SELECT 'CCER:2024:1-5'::ccer;
SELECT 'CCER:GD-OW-0042::1-5'::ccer;
SELECT 'CCER:GD-OW-0042:20x4:1-5'::ccer;
SELECT 'CCER:GD-OW-0042:2024:'::ccer;
SELECT 'CCER:GD-OW-0042:2024:1-'::ccer;
SELECT 'CCER:GD-OW-0042:2024:1...5'::ccer;
SELECT 'CCER:GD-OW-0042:2024:1.5'::ccer;
SELECT 'CCER:GD-OW-0042:2024:x-5'::ccer;
SELECT 'CCER:GD-OW-0042:2024:+1-5'::ccer;
SELECT 'CCER:GD-OW-0042:2024:1 - 5'::ccer;
SELECT 'CCER::2024:1-5'::ccer;
SELECT 'CCER:GD/OW:2024:1-5'::ccer;
SELECT 'CCER:项目:2024:1-5'::ccer;
SELECT 'CCER:' || repeat('Z', 65) || ':2024:5' AS toolong \gset
SELECT :'toolong'::ccer;
SELECT 'CCER:GD-OW-0042:2004:1-5'::ccer;
SELECT 'CCER:GD-OW-0042:2101:1-5'::ccer;
SELECT 'CCER:GD-OW-0042:-2024:1-5'::ccer;
SELECT 'CCER:GD-OW-0042:99999999999:1-5'::ccer;
SELECT 'CCER:GD-OW-0042:2024:-5-10'::ccer;
SELECT 'CCER:GD-OW-0042:2024:5--10'::ccer;
SELECT 'CCER:GD-OW-0042:2024:1-1000000000000000000'::ccer;
SELECT 'CCER:GD-OW-0042:2024:1-99999999999999999999999'::ccer;
SELECT 'CCER:GD-OW-0042:2024:2000-1000'::ccer;

SELECT lit, pg_temp.try_ccer(lit) AS result
FROM (VALUES
	(''), ('   '), (':'), ('CCER'), ('CCER:'), ('CCER:GD:2024:1-5 x'),
	('GD:2024'), ('CCER GD 2024'), ('X:GD:2024:1-5'), ('ccer:2024:5'),
	('GD:2024:1-5-'), ('GD:2024:1..'), ('GD:2024:..5'), ('GD:2024:1--5'),
	('GD:2024:1..-5'), ('GD:20 24:1-5'), ('GD:2024.0:1-5'), ('GD:0x7e8:1-5'),
	('::2024:1-5'), ('GD:2024:1-5:'), ('GD 2024 1 5'), ('GD:2024:٣'),
	(E'GD\u00a0:2024:1-5'), ('G D:2024:1-5'), ('GD*:2024:1-5'),
	('GD:-0:1-5'), ('GD:2024:-0'), ('GD:2024:9223372036854775808'),
	('GD:2024:999999999999999999'), ('GD:2024:5-4'), ('GD:2005:0'), ('GD:2100:0')
) AS t(lit);

DO $$ BEGIN PERFORM 'x'::carbonmkt.ccer; EXCEPTION WHEN others THEN RAISE NOTICE '% %', SQLSTATE, SQLERRM; END $$;

--
-- output and round trips
--
SELECT b, b::text::ccer = b AS text_round_trip
FROM (VALUES ('CCER:GD-OW-0042:2024:1-50000'::ccer), ('x:2100:999999999999999999'),
			 ('CCER:a:2005:0')) v(b);
SELECT ccer_send('CCER:GD-OW-0042:2024:1-50000');
-- binary round trip through COPY
CREATE TEMP TABLE bin_src (b ccer);
INSERT INTO bin_src VALUES ('CCER:GD-OW-0042:2024:1-50000'), ('p:2030:7'), (('CCER:' || repeat('q', 64) || ':2100:0-999999999999999999')::ccer);
COPY bin_src TO '/tmp/carbonmkt_ccer_regress.bin' WITH (FORMAT binary);
CREATE TEMP TABLE bin_dst (b ccer);
COPY bin_dst FROM '/tmp/carbonmkt_ccer_regress.bin' WITH (FORMAT binary);
SELECT b FROM bin_dst ORDER BY b;
SELECT (SELECT array_agg(b ORDER BY b) FROM bin_src) = (SELECT array_agg(b ORDER BY b) FROM bin_dst) AS binary_round_trip;

--
-- constructor and accessors
--
SELECT ccer('gd-ow-0042', 2024, 1, 50000);
SELECT ccer('GD-OW-0042', 2024, 7, 7);
SELECT project(b), vintage(b), first_serial(b), last_serial(b), tonnes(b)
FROM (VALUES ('CCER:gd-ow-0042:2024:1-50000'::ccer), ('CCER:X:2005:7'),
			 ('CCER:X:2100:0-999999999999999999')) v(b);
SELECT ccer('', 2024, 1, 5);
SELECT ccer('GD OW', 2024, 1, 5);
SELECT ccer('GD-OW-0042', 2004, 1, 5);
SELECT ccer('GD-OW-0042', 2024, -5, 5);
SELECT ccer('GD-OW-0042', 2024, 1, 1000000000000000000);
SELECT ccer('GD-OW-0042', 2024, 2000, 1000);
SELECT ccer(repeat('a', 65), 2024, 1, 5);
SELECT stmt, pg_temp.try_sql(stmt) AS result
FROM (VALUES
	($q$SELECT carbonmkt.ccer('', 2024, 1, 5)::text$q$),
	($q$SELECT carbonmkt.ccer('a:b', 2024, 1, 5)::text$q$),
	($q$SELECT carbonmkt.ccer(repeat('a', 64), 2024, 1, 5)::text$q$),
	($q$SELECT carbonmkt.ccer(repeat('a', 65), 2024, 1, 5)::text$q$),
	($q$SELECT carbonmkt.ccer('GD', 2101, 1, 5)::text$q$),
	($q$SELECT carbonmkt.ccer('GD', 2024, -1, 5)::text$q$),
	($q$SELECT carbonmkt.ccer('GD', 2024, 1, -5)::text$q$),
	($q$SELECT carbonmkt.ccer('GD', 2024, 9223372036854775807, 9223372036854775807)::text$q$),
	($q$SELECT carbonmkt.ccer('GD', 2024, 6, 5)::text$q$),
	($q$SELECT carbonmkt.ccer('GD', 2024, 5, 5)::text$q$)
) AS t(stmt);
SELECT ccer(NULL, 2024, 1, 5) IS NULL AS strict;

--
-- comparison operators and btree order
--
SELECT a, b, a = b AS eq, a <> b AS ne, a < b AS lt, a <= b AS le, a > b AS gt, a >= b AS ge,
	   ccer_cmp(a, b) AS cmp
FROM (VALUES
	('A:2024:1-5'::ccer, 'A:2024:1-5'::ccer),
	('A:2024:1-5', 'a:2024:1-5'),
	('A:2024:1-5', 'B:2005:0'),
	('A:2024:1-5', 'A:2023:1-5'),
	('A:2024:1-5', 'A:2024:2-3'),
	('A:2024:1-5', 'A:2024:1-6'),
	('AB:2024:1-5', 'A:2024:1-5'),
	('A-:2024:1', 'A.:2024:1')
) AS t(a, b);
SELECT b FROM (VALUES ('B:2024:1-5'::ccer), ('A:2025:1-5'), ('A:2024:6-9'), ('A:2024:1-5'),
						('A:2024:1-4'), ('A0:2005:0'), ('_:2005:0'), ('.:2005:0')) v(b)
ORDER BY b;

--
-- block relations
--
SELECT a, b, a && b AS overlaps, a @> b AS contains, a <@ b AS contained_by, a -|- b AS adjacent
FROM (VALUES
	('GD:2024:1-100'::ccer, 'GD:2024:100-200'::ccer),
	('GD:2024:1-100', 'GD:2024:101-200'),
	('GD:2024:101-200', 'GD:2024:1-100'),
	('GD:2024:1-100', 'GD:2024:102-200'),
	('GD:2024:1-100', 'GD:2024:50'),
	('GD:2024:50', 'GD:2024:1-100'),
	('GD:2024:1-100', 'GD:2024:1-100'),
	('GD:2024:1-100', 'GD:2025:1-100'),
	('GD:2024:1-100', 'GD:2025:101-200'),
	('GD:2024:1-100', 'SH:2024:1-100'),
	('GD:2024:1-100', 'gd:2024:50-150'),
	('GD:2024:0', 'GD:2024:1-999999999999999999'),
	('GD:2024:999999999999999999', 'GD:2024:0-999999999999999998')
) AS t(a, b);

--
-- split_block and merge_blocks
--
SELECT * FROM split_block('CCER:GD-OW-0042:2024:1-50000', 1);
SELECT * FROM split_block('CCER:GD-OW-0042:2024:1-50000', 20000);
SELECT * FROM split_block('CCER:GD-OW-0042:2024:1-50000', 49999);
SELECT * FROM split_block('CCER:GD-OW-0042:2024:1-50000', 50000);
SELECT * FROM split_block('CCER:GD-OW-0042:2024:7', 1);
SELECT (split_block('CCER:GD:2024:0-999999999999999999', 999999999999999999)).*;
SELECT * FROM split_block('CCER:GD-OW-0042:2024:1-50000', 0);
SELECT * FROM split_block('CCER:GD-OW-0042:2024:1-50000', -3);
SELECT * FROM split_block('CCER:GD-OW-0042:2024:1-50000', 50001);
SELECT * FROM split_block('CCER:GD-OW-0042:2024:7', 9223372036854775807);
SELECT merge_blocks('CCER:GD-OW-0042:2024:1-20000', 'CCER:GD-OW-0042:2024:20001-50000');
SELECT merge_blocks('CCER:GD-OW-0042:2024:20001-50000', 'CCER:GD-OW-0042:2024:1-20000');
SELECT merge_blocks('GD:2024:0', 'GD:2024:1-999999999999999999');
SELECT merge_blocks(head, tail) FROM split_block('CCER:GD-OW-0042:2024:1-50000', 123);
SELECT merge_blocks('CCER:GD:2024:1-100', 'CCER:GD:2024:102-200');
SELECT merge_blocks('CCER:GD:2024:1-100', 'CCER:GD:2024:100-200');
SELECT merge_blocks('CCER:GD:2024:1-100', 'CCER:GD:2025:101-200');
SELECT merge_blocks('CCER:GD:2024:1-100', 'CCER:SH:2024:101-200');
SELECT merge_blocks('CCER:GD:2024:1-100', 'CCER:GD:2024:1-100');
SELECT stmt, pg_temp.try_sql(stmt) AS result
FROM (VALUES
	($q$SELECT (carbonmkt.split_block('GD:2024:1-5', 0)).head::text$q$),
	($q$SELECT (carbonmkt.split_block('GD:2024:1-5', 6)).head::text$q$),
	($q$SELECT carbonmkt.merge_blocks('GD:2024:1-5', 'GD:2024:7-9')::text$q$)
) AS t(stmt);

--
-- btree index, hash index and hash join on a small table
--
CREATE TABLE ccer_small (id int, b ccer);
INSERT INTO ccer_small
SELECT g, ccer(CASE g % 3 WHEN 0 THEN 'GD-OW-0042' WHEN 1 THEN 'sh-pv-7' ELSE 'HB.FOREST_1' END,
			   2020 + g % 4, g * 1000, g * 1000 + g % 17)
FROM generate_series(1, 200) g;
CREATE INDEX ccer_small_b ON ccer_small USING btree (b);
ANALYZE ccer_small;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM ccer_small WHERE b = 'CCER:HB.FOREST_1:2021:5000-5005';
SELECT id, b FROM ccer_small WHERE b = 'CCER:HB.FOREST_1:2021:5000-5005';
EXPLAIN (COSTS OFF) SELECT id FROM ccer_small WHERE b < 'CCER:GD-OW-0042:2021:0' ORDER BY b;
SELECT id, b FROM ccer_small WHERE b < 'CCER:GD-OW-0042:2021:0' ORDER BY b LIMIT 5;
SELECT count(*) FROM ccer_small WHERE b >= 'CCER:HB.FOREST_1:2020:0' AND b <= 'CCER:HB.FOREST_1:2020:999999999999999999';
DROP INDEX ccer_small_b;
CREATE INDEX ccer_small_h ON ccer_small USING hash (b);
EXPLAIN (COSTS OFF) SELECT id FROM ccer_small WHERE b = 'gd-ow-0042 2023 3000..3003';
SELECT id, b FROM ccer_small WHERE b = 'gd-ow-0042 2023 3000..3003';
RESET enable_seqscan;
RESET enable_bitmapscan;
SET enable_mergejoin = off;
SET enable_nestloop = off;
CREATE TABLE ccer_small2 AS SELECT id, lower(b::text)::ccer AS b FROM ccer_small WHERE id % 2 = 0;
ANALYZE ccer_small2;
EXPLAIN (COSTS OFF) SELECT count(*) FROM ccer_small s JOIN ccer_small2 t ON s.b = t.b;
SELECT count(*) FROM ccer_small s JOIN ccer_small2 t ON s.b = t.b;
RESET enable_mergejoin;
RESET enable_nestloop;
SELECT count(DISTINCT b), count(DISTINCT ccer_hash(b)) FROM ccer_small;
SELECT ccer_hash('CCER:GD:2024:1-5') = ccer_hash('gd:2024:1..5') AS hash_eq,
	   ccer_hash_extended('CCER:GD:2024:1-5', 42) = ccer_hash_extended('gd 2024 1-5', 42) AS hash_ext_eq,
	   ccer_hash_extended('CCER:GD:2024:1-5', 0) <> ccer_hash_extended('CCER:GD:2024:1-5', 1) AS seed_matters;
SELECT b, count(*) FROM (SELECT b FROM ccer_small UNION ALL SELECT b FROM ccer_small2) u
GROUP BY b HAVING count(*) > 1 ORDER BY b LIMIT 3;
DROP TABLE ccer_small, ccer_small2;

--
-- catalog: every object is documented
--
SELECT p.oid::regprocedure AS function_without_comment
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'carbonmkt'
WHERE (p.proname LIKE '%ccer%' OR p.proargtypes::regtype[] @> ARRAY['carbonmkt.ccer'::regtype])
  AND obj_description(p.oid, 'pg_proc') IS NULL;
SELECT o.oid::regoperator AS operator_without_comment
FROM pg_operator o WHERE o.oprleft = 'carbonmkt.ccer'::regtype AND obj_description(o.oid, 'pg_operator') IS NULL;
SELECT oprname, obj_description(o.oid, 'pg_operator') FROM pg_operator o
WHERE o.oprleft = 'carbonmkt.ccer'::regtype ORDER BY oprname;
SELECT opcname, amname, opcdefault, obj_description(c.oid, 'pg_opclass') IS NOT NULL AS commented
FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
WHERE opcintype = 'carbonmkt.ccer'::regtype ORDER BY amname;
SELECT 'x'::text::ccer_gistkey;
