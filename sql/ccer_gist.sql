SET search_path = carbonmkt, public;

--
-- A registry in which no serial can be issued twice: 120,000 blocks of six
-- projects and five vintages, 1 to 1,000 tonnes each, filled set-based.
-- Block k of lot r (r = g % 30) is serials k*1000 .. k*1000 + size - 1.
--
CREATE TABLE ccer_registry (
	block ccer NOT NULL,
	EXCLUDE USING gist (block WITH &&)
);
INSERT INTO ccer_registry (block)
SELECT ccer('PRJ-' || (g % 30) % 6, 2020 + (g % 30) / 6,
			(g / 30) * 1000, (g / 30) * 1000 + (g * 7919) % 1000)
FROM generate_series(0, 119999) g;
ANALYZE ccer_registry;
SELECT count(*), count(DISTINCT project(block)) AS projects, count(DISTINCT vintage(block)) AS vintages,
	   min(tonnes(block)), max(tonnes(block)), sum(tonnes(block))
FROM ccer_registry;

-- the neighbourhood used below
SELECT block FROM ccer_registry
WHERE block && 'CCER:PRJ-0:2020:1000-2999' ORDER BY block;

-- overlapping blocks are refused (23P01): one serial in common at either end,
-- in the middle, containing, contained, equal, and through case folding
INSERT INTO ccer_registry VALUES ('CCER:PRJ-0:2020:1570-1580');
INSERT INTO ccer_registry VALUES ('CCER:PRJ-0:2020:1990-2000');
INSERT INTO ccer_registry VALUES ('CCER:PRJ-0:2020:1200-1300');
INSERT INTO ccer_registry VALUES ('CCER:PRJ-0:2020:900-1700');
INSERT INTO ccer_registry VALUES ('CCER:PRJ-0:2020:1000-1570');
INSERT INTO ccer_registry VALUES ('CCER:prj-0:2020:1100');
DO $$
BEGIN
	INSERT INTO carbonmkt.ccer_registry VALUES ('CCER:PRJ-0:2020:1-2000');
EXCEPTION WHEN others THEN
	RAISE NOTICE 'SQLSTATE %', SQLSTATE;
END $$;

-- adjacent blocks, and the same serials in another vintage or project, are accepted
INSERT INTO ccer_registry VALUES ('CCER:PRJ-0:2020:1571-1580');
INSERT INTO ccer_registry VALUES ('CCER:PRJ-0:2020:1581-1999');
INSERT INTO ccer_registry VALUES ('CCER:PRJ-0:2019:1000-1570');
INSERT INTO ccer_registry VALUES ('CCER:PRJ-0X:2020:1000-1570');
SELECT block FROM ccer_registry
WHERE block && 'CCER:PRJ-0:2020:1000-2999' ORDER BY block;
-- the lot 1000..2000 is now fully issued: nothing fits anywhere inside it
INSERT INTO ccer_registry VALUES ('CCER:PRJ-0:2020:1999');
DELETE FROM ccer_registry WHERE block <@ 'CCER:PRJ-0:2020:1571-1999';

--
-- the GiST index serves &&, @>, <@, -|- and =
--
SET enable_seqscan = off;
SET enable_indexscan = on;
SET enable_bitmapscan = on;
EXPLAIN (COSTS OFF) SELECT count(*) FROM ccer_registry WHERE block && 'CCER:PRJ-3:2022:100000-400000';
EXPLAIN (COSTS OFF) SELECT count(*) FROM ccer_registry WHERE block @> 'CCER:PRJ-3:2022:100000-100000';
EXPLAIN (COSTS OFF) SELECT count(*) FROM ccer_registry WHERE block <@ 'CCER:PRJ-3:2022:100000-400000';
EXPLAIN (COSTS OFF) SELECT count(*) FROM ccer_registry WHERE block -|- 'CCER:PRJ-3:2022:100000-400000';
EXPLAIN (COSTS OFF) SELECT count(*) FROM ccer_registry WHERE block = 'CCER:PRJ-3:2022:100000-100000';
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT block FROM ccer_registry WHERE block -|- 'CCER:PRJ-0:2020:1571-1999' ORDER BY block;
SELECT block FROM ccer_registry WHERE block -|- 'CCER:PRJ-0:2020:1571-1999' ORDER BY block;

CREATE TEMP TABLE gist_queries (op text, q ccer);
INSERT INTO gist_queries VALUES
	('&&', 'CCER:PRJ-3:2022:100000-400000'), ('&&', 'CCER:PRJ-0:2020:0-999999999999999999'),
	('&&', 'CCER:PRJ-5:2024:3999500'), ('&&', 'CCER:NOPE:2024:0-5000'),
	('@>', 'CCER:PRJ-3:2022:100000'), ('@>', 'CCER:PRJ-1:2023:7000-7001'), ('@>', 'CCER:PRJ-1:2023:500-1500'),
	('<@', 'CCER:PRJ-3:2022:100000-400000'), ('<@', 'CCER:PRJ-2:2021:0-999999999999999999'),
	('-|-', 'CCER:PRJ-3:2022:100000-400000'), ('-|-', 'CCER:PRJ-4:2020:0-999'), ('-|-', 'CCER:PRJ-2:2024:5000-5500'),
	('-|-', 'CCER:PRJ-0:2020:1571-1999'), ('-|-', 'CCER:PRJ-0:2020:2141-2999'),
	('=', 'CCER:PRJ-3:2022:100000'), ('=', 'CCER:PRJ-0:2020:1000-1570'), ('=', 'CCER:PRJ-0:2020:1000-1571'),
	('=', 'CCER:PRJ-0:2020:2000-2140'), ('@>', 'CCER:PRJ-0:2020:1000-1570'), ('<@', 'CCER:PRJ-0:2020:0-2140');
CREATE FUNCTION pg_temp.count_matches(op text, q ccer) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM carbonmkt.ccer_registry WHERE block OPERATOR(carbonmkt.%s) $1', op)
		INTO n USING q;
	RETURN n;
END $$;
CREATE TEMP TABLE via_index AS SELECT op, q, pg_temp.count_matches(op, q) AS n FROM gist_queries;
RESET enable_seqscan;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM ccer_registry WHERE block && 'CCER:PRJ-3:2022:100000-400000';
CREATE TEMP TABLE via_seqscan AS SELECT op, q, pg_temp.count_matches(op, q) AS n FROM gist_queries;
RESET enable_indexscan;
RESET enable_bitmapscan;
SELECT i.op, i.q, i.n AS index_scan, s.n AS seq_scan, i.n = s.n AS same
FROM via_index i JOIN via_seqscan s USING (op, q) ORDER BY i.op, i.q;

-- no two blocks of the registry share a serial (checked with the index)
SELECT count(*) AS overlapping_pairs
FROM ccer_registry a JOIN ccer_registry b ON a.block && b.block AND a.ctid <> b.ctid;

DROP TABLE ccer_registry;
