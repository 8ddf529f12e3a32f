SET search_path = carbonmkt, public;
--
-- allowance: CEA (碳排放配额) of one vintage in whole tonnes CO2e
--

-- error helper: runs a statement, returns SQLSTATE, message and detail
CREATE FUNCTION pg_temp.try(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	d text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ' ' || SQLERRM || CASE WHEN d <> '' THEN ' | ' || d ELSE '' END;
END
$$;

--
-- text input: every accepted form
--
SELECT input, input::allowance AS parsed
FROM (VALUES
	('CEA2024:1500t'),
	('cea 2024 : 1500 t'),
	('CEA-2024:1500'),
	('cea - 2024 : 1500'),
	('CEA 2024 1500'),
	('2024:1500'),
	('2024 1500'),
	('  2024:1500  '),
	(E'\tCEA2024:1500t\n'),
	('CEA2024:+1500 tCO2e'),
	('CEA2024:1500tco2e'),
	('CEA2024:1500TCO2E'),
	('CEA2024:1500T'),
	('CEA2024:1,500,000t'),
	('CEA2024:1_500_000t'),
	('CEA2024:-1,500,000t'),
	('CEA2024:999,999t'),
	('CEA2024:0t'),
	('CEA2024:-0t'),
	('CEA2024:-1500t'),
	('CEA2024:0001500t'),
	('CEA2005:1t'),
	('CEA2100:1t'),
	('CEA2024:9223372036854775807t'),
	('CEA2024:-9223372036854775808t'),
	('CEA2024:9,223,372,036,854,775,807t')
) AS v(input);

-- canonical output round-trips
SELECT 'CEA2024:1500t'::allowance::text, 'CEA2024:-1500t'::allowance::text,
	'cea 2024 : -1,500 tco2e'::allowance::text::allowance::text;

--
-- text input: every rejected form
--
-- (full message with detail and hint for a few)
SELECT 'CEA2024'::allowance;
SELECT 'CEA2024:1,50t'::allowance;
SELECT 'CEA2024:1500 kg'::allowance;
SELECT 'CEA1999:1500t'::allowance;
SELECT 'CEA2024:9223372036854775808t'::allowance;
-- (SQLSTATE, message and detail for all)
SELECT input, pg_temp.try(format('SELECT %L::carbonmkt.allowance', input))
FROM (VALUES
	(''),
	('   '),
	('CEA'),
	('CEA-'),
	('CEA:1500t'),
	(':1500'),
	('-2024:1500'),
	('CEA2024'),
	('CEA2024:'),
	('CEA2024 '),
	('CEA 2024 : '),
	('CEA2024-1500'),
	('CEA2024;1500'),
	('CEA2024::1500'),
	('CEA2024:t'),
	('CEA2024:+t'),
	('CEA2024:+-1500'),
	('CEA2024:- 1500'),
	('CEA2024:1500.5t'),
	('CEA2024:1500.0t'),
	('CEA2024:15e2t'),
	('CEA2024:1 500t'),
	('CEA2024:1500 t t'),
	('CEA2024:1500tCO2'),
	('CEA2024:1500tons'),
	('CEA2024:1500x'),
	('CEA2024:1500t:'),
	('CEA2024:1,50t'),
	('CEA2024:1,5000t'),
	('CEA2024:1500,000t'),
	('CEA2024:1,500_000t'),
	('CEA2024:1,,500t'),
	('CEA2024:1,500,t'),
	('CEA2024:,500t'),
	('CEA2024:_500t'),
	('CEA2024:1__500t'),
	('CCER2024:1500t'),
	('EUA2024:1500t'),
	('CEA２０２４:1500t'),
	('CEA2024:1500t 碳'),
	-- syntax is checked before ranges
	('CEA1999:1500x'),
	-- 22003: vintage and tonnes out of range
	('CEA2004:1t'),
	('CEA2101:1t'),
	('CEA0:1t'),
	('CEA99999999999999999999999999999999:1t'),
	('CEA0000000000000000000000000002024:1t'),
	('CEA2024:9223372036854775808t'),
	('CEA2024:-9223372036854775809t'),
	('CEA2024:9,223,372,036,854,775,808t'),
	('CEA2024:99999999999999999999999999999999999999t'),
	('CEA1999:99999999999999999999999999999999999999t')
) AS v(input);

--
-- binary send/recv
--
SELECT allowance_send('CEA2024:1500t'), allowance_send('CEA2005:-1t'),
	allowance_send('CEA2100:-9223372036854775808t');
CREATE TEMP TABLE bin (a allowance);
INSERT INTO bin VALUES ('CEA2024:1500t'), ('CEA2031:-7t'), ('CEA2100:-9223372036854775808t');
CREATE TEMP TABLE bin2 (a allowance);
DO $$
DECLARE
	f text := current_setting('data_directory') || '/carbonmkt_allowance_regress.bin';
BEGIN
	EXECUTE format('COPY bin TO %L WITH (FORMAT binary)', f);
	EXECUTE format('COPY bin2 FROM %L WITH (FORMAT binary)', f);
END
$$;
SELECT a FROM bin2 ORDER BY a;
-- recv of hand-made COPY BINARY files with one allowance field (12 bytes: int4 vintage, int8 tonnes)
CREATE FUNCTION pg_temp.copy_in(field bytea) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	f text := current_setting('data_directory') || '/carbonmkt_allowance_regress.bin';
	lo oid;
BEGIN
	lo := lo_from_bytea(0, '\x5047434f50590aff0d0a00'::bytea || '\x0000000000000000'::bytea
		|| '\x0001'::bytea || int4send(length(field)) || field || '\xffff'::bytea);
	PERFORM lo_export(lo, f);
	PERFORM lo_unlink(lo);
	RETURN pg_temp.try(format('COPY bin2 FROM %L WITH (FORMAT binary)', f));
END
$$;
TRUNCATE bin2;
SELECT pg_temp.copy_in(int4send(2024) || int8send(1500)) AS valid,
	pg_temp.copy_in(int4send(2100) || int8send(-9223372036854775808)) AS valid_min;
SELECT a FROM bin2 ORDER BY a;
SELECT pg_temp.copy_in(int4send(1999) || int8send(5)) AS vintage_1999,
	pg_temp.copy_in(int4send(-1) || int8send(5)) AS vintage_minus_1,
	pg_temp.copy_in(int4send(2024) || int4send(5)) AS too_short,
	pg_temp.copy_in(int4send(2024) || int8send(5) || int4send(0)) AS too_long;

--
-- constructor and accessors
--
SELECT cea(2024, 1500), cea(2024, -1500), cea(2005, 0), cea(2100, 9223372036854775807);
SELECT vintage('CEA2024:1500t'::allowance), tonnes('CEA2024:1500t'::allowance), tonnes('CEA2024:-1500t'::allowance);
SELECT cea(2004, 1);
SELECT pg_temp.try('SELECT carbonmkt.cea(2101, 1)'),
	pg_temp.try('SELECT carbonmkt.cea(-2024, 1)');
SELECT cea(NULL, 1) IS NULL AS null_vintage, cea(2024, NULL) IS NULL AS null_tonnes;

--
-- additive arithmetic, within one vintage
--
SELECT 'CEA2024:1500t'::allowance + 'CEA2024:500t',
	'CEA2024:1500t'::allowance - 'CEA2024:2000t',
	- 'CEA2024:1500t'::allowance,
	- 'CEA2024:-9223372036854775807t'::allowance,
	'CEA2024:9223372036854775807t'::allowance + 'CEA2024:-9223372036854775808t';
SELECT 'CEA2023:1t'::allowance + 'CEA2024:1t';
SELECT 'CEA2024:1t'::allowance - 'CEA2023:1t';
SELECT 'CEA2024:9223372036854775807t'::allowance + 'CEA2024:1t';
SELECT q, pg_temp.try('SELECT ' || q)
FROM (VALUES
	($$'CEA2023:1t'::carbonmkt.allowance OPERATOR(carbonmkt.+) 'CEA2024:1t'$$),
	($$'CEA2024:1t'::carbonmkt.allowance OPERATOR(carbonmkt.-) 'CEA2023:1t'$$),
	($$'CEA2024:9223372036854775807t'::carbonmkt.allowance OPERATOR(carbonmkt.+) 'CEA2024:1t'$$),
	($$'CEA2024:-9223372036854775808t'::carbonmkt.allowance OPERATOR(carbonmkt.+) 'CEA2024:-1t'$$),
	($$'CEA2024:-9223372036854775808t'::carbonmkt.allowance OPERATOR(carbonmkt.-) 'CEA2024:1t'$$),
	($$'CEA2024:9223372036854775807t'::carbonmkt.allowance OPERATOR(carbonmkt.-) 'CEA2024:-1t'$$),
	($$OPERATOR(carbonmkt.-) 'CEA2024:-9223372036854775808t'::carbonmkt.allowance$$)
) AS v(q);

--
-- multiplication and division by numeric: half away from zero (operators,
-- mul_round, div_round) and floor (mul_floor, div_floor)
--
SELECT a, f, a * f AS "a * f", f * a AS "f * a", mul_round(a, f), mul_floor(a, f)
FROM (VALUES
	('CEA2024:7t'::allowance, 0.5),
	('CEA2024:-7t', 0.5),
	('CEA2024:7t', -0.5),
	('CEA2024:5t', 0.5),
	('CEA2024:-5t', 0.5),
	('CEA2024:1t', 0.49999999999999999999),
	('CEA2024:1t', 0.50000000000000000000),
	('CEA2024:-1t', 0.49999999999999999999),
	('CEA2024:-1t', 0.50000000000000000001),
	('CEA2024:1000t', 1.0005),
	('CEA2024:1000t', 1.0015),
	('CEA2024:1000t', 0),
	('CEA2024:1500t', 2),
	('CEA2024:-1500t', 3),
	('CEA2024:4611686018427387903t', 2),
	('CEA2024:-4611686018427387904t', 2),
	('CEA2024:4611686018427387904t', -2),
	('CEA2024:-4611686018427387904t', 1.99999999999999999999),
	('CEA2024:9223372036854775807t', 1),
	('CEA2024:9223372036854775807t', 1.0000000000000000000001)
) AS v(a, f);
SELECT a, d, a / d AS "a / d", div_round(a, d), div_floor(a, d)
FROM (VALUES
	('CEA2024:10t'::allowance, 3::numeric),
	('CEA2024:-10t', 3),
	('CEA2024:10t', -3),
	('CEA2024:-10t', -3),
	('CEA2024:11t', 2),
	('CEA2024:-11t', 2),
	('CEA2024:11t', -2),
	('CEA2024:2t', 3),
	('CEA2024:-2t', 3),
	('CEA2024:1t', 3),
	('CEA2024:-1t', 3),
	('CEA2024:1500t', 1500),
	('CEA2024:0t', 7),
	('CEA2024:10t', 0.3),
	('CEA2024:10t', 0.4),
	('CEA2024:-10t', 0.4),
	('CEA2024:1t', 2.00000000000000000001),
	('CEA2024:1t', 1.99999999999999999999),
	('CEA2024:-1t', 2.00000000000000000001),
	('CEA2024:1000000000000000000t', 3),
	('CEA2024:9223372036854775807t', 2),
	('CEA2024:-9223372036854775808t', 2),
	('CEA2024:-9223372036854775808t', 1),
	('CEA2024:1500t', 'Infinity'),
	('CEA2024:-1500t', '-Infinity')
) AS v(a, d);
-- an integer factor resolves to the numeric operators
SELECT 'CEA2024:1500t'::allowance * 2, 3 * 'CEA2024:1500t'::allowance, 'CEA2024:1500t'::allowance / 4;
-- errors
SELECT 'CEA2024:1500t'::allowance / 0;
SELECT 'CEA2024:9223372036854775807t'::allowance * 2;
SELECT q, pg_temp.try('SELECT ' || q)
FROM (VALUES
	($$'CEA2024:1500t'::carbonmkt.allowance OPERATOR(carbonmkt./) 0$$),
	($$'CEA2024:1500t'::carbonmkt.allowance OPERATOR(carbonmkt./) 0.000$$),
	($$carbonmkt.div_floor('CEA2024:1500t', 0)$$),
	($$carbonmkt.div_round('CEA2024:0t', 0)$$),
	($$'CEA2024:9223372036854775807t'::carbonmkt.allowance OPERATOR(carbonmkt.*) 2$$),
	($$2 OPERATOR(carbonmkt.*) 'CEA2024:9223372036854775807t'::carbonmkt.allowance$$),
	($$carbonmkt.mul_floor('CEA2024:-9223372036854775808t', 1.0000000000000000001)$$),
	($$carbonmkt.mul_round('CEA2024:9223372036854775807t', 1.00000000000000000006)$$),
	($$carbonmkt.mul_floor('CEA2024:9223372036854775807t', 1.00000000000000000006)$$),
	($$carbonmkt.mul_round('CEA2024:4611686018427387904t', 1.99999999999999999999)$$),
	($$carbonmkt.mul_floor('CEA2024:4611686018427387904t', 1.99999999999999999999)$$),
	($$'CEA2024:-9223372036854775808t'::carbonmkt.allowance OPERATOR(carbonmkt./) -1$$),
	($$carbonmkt.div_floor('CEA2024:-9223372036854775808t', -1)$$),
	($$carbonmkt.div_round('CEA2024:1t', 0.0000000000000000000001)$$),
	($$'CEA2024:1t'::carbonmkt.allowance OPERATOR(carbonmkt.*) 'Infinity'::numeric$$),
	($$'CEA2024:0t'::carbonmkt.allowance OPERATOR(carbonmkt.*) '-Infinity'::numeric$$),
	($$'CEA2024:1t'::carbonmkt.allowance OPERATOR(carbonmkt.*) 'NaN'::numeric$$),
	($$'CEA2024:1t'::carbonmkt.allowance OPERATOR(carbonmkt./) 'NaN'::numeric$$),
	($$carbonmkt.mul_floor('CEA2024:1t', 'NaN')$$),
	($$carbonmkt.div_floor('CEA2024:1t', 'NaN')$$)
) AS v(q);
-- there is no allowance * allowance, allowance * float8 or allowance + numeric
SELECT 'CEA2024:1t'::allowance * 'CEA2024:1t'::allowance;
SELECT 'CEA2024:1t'::allowance * 2.5::float8;
SELECT 'CEA2024:1t'::allowance + 1;

--
-- comparison: ordered by vintage, then tonnes
--
SELECT a, b, a = b AS eq, a <> b AS ne, a < b AS lt, a <= b AS le, a > b AS gt, a >= b AS ge,
	allowance_cmp(a, b) AS cmp
FROM (VALUES
	('CEA2024:1500t'::allowance, 'CEA2024:1500t'::allowance),
	('CEA2024:1500t', 'CEA2024:1501t'),
	('CEA2024:-1t', 'CEA2024:0t'),
	('CEA2023:1000000t', 'CEA2024:1t'),
	('CEA2025:-5t', 'CEA2024:5t')
) AS v(a, b);

CREATE TEMP TABLE holdings (id int, a allowance);
INSERT INTO holdings VALUES
	(1, 'CEA2024:1500t'), (2, 'CEA2023:2000t'), (3, 'CEA2024:-300t'),
	(4, 'CEA2025:10t'), (5, 'CEA2023:2000t'), (6, 'CEA2024:1500t'),
	(7, NULL), (8, 'CEA2023:-1t'), (9, 'CEA2025:0t'), (10, 'CEA2024:700t');
-- ORDER BY across vintages
SELECT id, a FROM holdings ORDER BY a, id;
SELECT id, a FROM holdings ORDER BY a DESC NULLS LAST, id;
-- GROUP BY and DISTINCT, sorted and hashed
SET enable_hashagg = off;
SELECT a, count(*) FROM holdings GROUP BY a ORDER BY a;
SELECT DISTINCT a FROM holdings ORDER BY a;
RESET enable_hashagg;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT a, count(*) FROM holdings GROUP BY a;
SELECT a, count(*) FROM holdings GROUP BY a ORDER BY a;
SELECT count(DISTINCT a) FROM holdings;
RESET enable_sort;

-- btree index
CREATE INDEX holdings_a ON holdings (a);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM holdings WHERE a = 'CEA2024:1500t';
SELECT id FROM holdings WHERE a = 'CEA2024:1500t' ORDER BY id;
EXPLAIN (COSTS OFF) SELECT id, a FROM holdings WHERE a >= 'CEA2024:0t' AND a < 'CEA2025:0t' ORDER BY a;
SELECT id, a FROM holdings WHERE a >= 'CEA2024:0t' AND a < 'CEA2025:0t' ORDER BY a, id;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- hash join and merge join
CREATE TEMP TABLE prices (a allowance, note text);
INSERT INTO prices VALUES ('CEA2024:1500t', 'lot A'), ('CEA2023:2000t', 'lot B'),
	('CEA2025:10t', 'lot C'), ('CEA2024:1t', 'lot D');
ANALYZE holdings;
ANALYZE prices;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT h.id, p.note FROM holdings h JOIN prices p ON h.a = p.a;
SELECT h.id, p.note FROM holdings h JOIN prices p ON h.a = p.a ORDER BY h.id;
RESET enable_mergejoin;
SET enable_hashjoin = off;
EXPLAIN (COSTS OFF) SELECT h.id, p.note FROM holdings h JOIN prices p ON h.a = p.a;
SELECT h.id, p.note FROM holdings h JOIN prices p ON h.a = p.a ORDER BY h.id;
RESET enable_hashjoin;
RESET enable_nestloop;
-- hashing ignores nothing but the value
SELECT allowance_hash('CEA2024:1500t') = allowance_hash(cea(2024, 1500)) AS same_hash,
	allowance_hash_extended('CEA2024:1500t', 0) = allowance_hash_extended(cea(2024, 1500), 0) AS same_ext,
	allowance_hash_extended('CEA2024:1500t', 0) <> allowance_hash_extended('CEA2024:1500t', 1) AS seeded;

--
-- aggregates
--
SELECT vintage(a), sum(a), min(a), max(a), count(a)
FROM holdings GROUP BY vintage(a) ORDER BY 1;
SELECT min(a), max(a) FROM holdings;
SELECT sum(a) FROM holdings WHERE false;
SELECT sum(a) FROM holdings WHERE a IS NULL;
SELECT sum(a) FROM holdings;
SELECT sum(a) FROM (VALUES ('CEA2024:9223372036854775807t'::allowance), ('CEA2024:1t')) v(a);
SELECT q, pg_temp.try(q)
FROM (VALUES
	('SELECT carbonmkt.sum(a) FROM holdings'),
	($$SELECT carbonmkt.sum(a) FROM (VALUES ('CEA2024:9223372036854775807t'::carbonmkt.allowance), ('CEA2024:1t')) v(a)$$),
	($$SELECT carbonmkt.sum(a) FROM (VALUES ('CEA2024:-9223372036854775808t'::carbonmkt.allowance), ('CEA2024:-1t')) v(a)$$),
	($$SELECT carbonmkt.sum(a) FROM (VALUES ('CEA2024:9223372036854775807t'::carbonmkt.allowance), ('CEA2024:1t'), ('CEA2024:-1t')) v(a)$$)
) AS v(q);
-- the order of the rows matters for overflow, as for bigint
SELECT sum(a) FROM (VALUES ('CEA2024:9223372036854775807t'::allowance), ('CEA2024:-1t'), ('CEA2024:1t')) v(a);
-- the state of sum() is not shared between groups
SELECT id % 2 AS odd, sum(a) FROM holdings WHERE vintage(a) = 2024 GROUP BY 1 ORDER BY 1;
-- min and max use the btree index (SORTOP)
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT min(a), max(a) FROM holdings;
SELECT min(a), max(a) FROM holdings;
RESET enable_seqscan;

-- window sum: cumulative, moving (uses the inverse transition function) and whole-partition
SELECT id, a,
	sum(a) OVER (PARTITION BY vintage(a) ORDER BY id) AS running,
	sum(a) OVER (PARTITION BY vintage(a) ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS moving,
	sum(a) OVER (PARTITION BY vintage(a)) AS total,
	min(a) OVER (PARTITION BY vintage(a)) AS smallest
FROM holdings WHERE a IS NOT NULL
ORDER BY vintage(a), id;
SELECT id, a, sum(a) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING)
FROM (VALUES (1, 'CEA2024:1t'::allowance), (2, 'CEA2024:2t'), (3, NULL), (4, 'CEA2024:4t'), (5, NULL), (6, NULL), (7, 'CEA2024:7t')) v(id, a)
ORDER BY id;
SELECT pg_temp.try('SELECT carbonmkt.sum(a) OVER (ORDER BY id) FROM holdings');

--
-- documentation examples (doc/types-allowance.md)
--
SELECT 'cea 2024 : 1,500,000 tCO2e'::allowance;
SELECT cea(2024, 1500) + 'CEA2024:500t';
SELECT 'CEA2024:1000t'::allowance * 0.125, mul_floor('CEA2024:1000t', 0.1255),
	'CEA2024:10t'::allowance / 4, div_floor('CEA2024:-10t', 4);
SELECT 'CEA2023:1000000t'::allowance < 'CEA2024:1t';
SELECT vintage(a), sum(a)
FROM (VALUES ('CEA2023:100t'::allowance), ('CEA2024:1500t'), ('CEA2024:-200t')) v(a)
GROUP BY 1 ORDER BY 1;
