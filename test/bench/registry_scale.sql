-- test/bench/registry_scale.sql -- make bench BENCH=registry_scale
--
-- Ten business years of a national registry: 3,000 key emitting units in 31 provinces (each with
-- a holding and a cash account), compliance periods 2021-2030 (2021-2029 closed, 2030 open with
-- half the units surrendered), a market tape each year, and BENCH_SCALE_TRADES (default
-- 5,000,000) synthetic market settlements of 4 journal legs each (20 million entries).
--
-- How it is built (not measured; the set-up commits without waiting for the WAL):
--   1. through the public functions, per period: issuance into the 31 provincial allocation
--      accounts, the allocation to every unit (transfer_cea, adopted by the allocation room as
--      pre-allocations; final allocations equal to them as fixture rows), confirmed emissions,
--      purchases from a fund where a unit is short, surrender_cea through the compliance
--      trigger, reference prices and close_period: the compliance room's tables are what the
--      functions make of ten years;
--   2. the exchange's tape directly (fixtures, no orders behind the trades): per year
--      BENCH_SCALE_TAPE (default 150,000) trades of the two youngest vintages on every weekday,
--      the product day rows and the daily statistics end_of_day() keeps;
--   3. the journal volume set-based: per vintage y, trades between two random units in the
--      trading months of y+1 (March to October), each a DvP settlement posting with 4 legs
--      (seller's holding -q, buyer's holding +q, buyer's cash -q*p, seller's cash +q*p); every
--      trade is later reversed by the opposite trade, so every unit ends each year where the
--      functions left it and no balance ever goes below zero.  The postings are numbered in
--      time order together with the functions' postings (one window over 5 million narrow rows
--      gives each its posting id and its first entry id); then one query numbers every leg, old
--      and new, computes per account seq, the running balance_after / held_after of each asset
--      and the SHA-256 chain (a window aggregate over carbonmkt.journal_hash, the function the
--      chain trigger uses), all in ONE sort by (account_id, entry_id); the journal is rewritten
--      from it in entry order by COPY ... FREEZE (binary, from a second session running the
--      query: the two sorts and the writing use both cores) with its b-tree indexes dropped
--      and rebuilt afterwards (the same definitions), and the accounts' heads are set from it.
--      Nothing is faked: verify_ledger() on the result checks chains, heads and balances and
--      must find 0 problems (the benchmark fails otherwise).  Then the balance snapshots
--      balance_as_of() reads (carbonmkt._snapshot_balances(), as the upgrade from 0.1.0 writes
--      them for the journal it finds).
-- Then, durable (fsync etc. on), each timed in the server, a warm-up and BENCH_ROUNDS (default 3)
-- rounds, median (min-max): statement of one account for one business year (target < 20 ms),
-- balance_as_of (< 5 ms; beside its plain definition, registry_scale/balance_as_of_plain.sql,
-- in rounds alternating which goes first; the run fails unless both give the same rows), the daily seal (< 1 s; the day before is sealed first, untimed),
-- verify_ledger_since() of that one day, verify_ledger() over everything (BENCH_SCALE_VERIFY,
-- default 1); the storage per business year; then every bi_* view read in full (< 100 ms;
-- registry_scale/bi_views.sql: the same rows as before, the times beside the definitions before
-- and beside the floor).
--
-- BENCH_SCALE_BI_ONLY=1 leaves out the registry's timings (statement, balance_as_of, seal,
-- verify) and measures only the bi_* views (with BENCH_SCALE_MEASURE=1: the views of a kept
-- registry, e.g. BENCH_SCALE_TRADES=50000, on new code).
-- Measuring a built registry again (e.g. after the seal or the views changed): keep the cluster
-- (CARBONMKT_CLUSTER_DIR=DIR in test/cluster.sh, which also keeps the database), then run the
-- measurements alone against it with BENCH_SCALE_MEASURE=1 BENCH_REUSE_DB=1 (day seals and the
-- tables of an earlier measurement are deleted first); test/bench/tools/scale-refresh.sh brings
-- the database to new code first and proves its schema equals a fresh install's.
\set ON_ERROR_STOP 1
\set QUIET 1
\timing off
SET client_min_messages = warning;
SET jit = off;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2022-01-04 09:00:00+08';
\getenv trades BENCH_SCALE_TRADES
\if :{?trades}
\else
\set trades 5000000
\endif
\getenv tape BENCH_SCALE_TAPE
\if :{?tape}
\else
\set tape 150000
\endif
\getenv units BENCH_SCALE_UNITS
\if :{?units}
\else
\set units 3000
\endif
\getenv rounds BENCH_ROUNDS
\if :{?rounds}
\else
\set rounds 3
\endif
\getenv full_verify BENCH_SCALE_VERIFY
\if :{?full_verify}
\else
\set full_verify 1
\endif
\getenv seal_baseline BENCH_SCALE_SEAL_BASELINE
\if :{?seal_baseline}
\else
\set seal_baseline 0
\endif
\getenv bi_only BENCH_SCALE_BI_ONLY
\if :{?bi_only}
\else
\set bi_only 0
\endif
\getenv measure_only BENCH_SCALE_MEASURE
\if :{?measure_only}
\else
\set measure_only 0
\endif
\getenv bindir CARBONMKT_PG_BINDIR
\getenv jobs BENCH_SCALE_JOBS
\if :{?jobs}
\else
\set jobs 2
\endif
\! echo "-- registry_scale: load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%H:%M:%S UTC')"
\if :measure_only
\echo '-- measuring the registry already built in this database (BENCH_SCALE_MEASURE)'
SET carbonmkt.clock = '2031-11-03 09:00:00+08';
\else
\o /dev/null
SELECT set_config('bench.units', :'units', false), set_config('bench.trades', :'trades', false),
       set_config('bench.tape', :'tape', false);
\o
\echo '-- building: 3,000 units, periods 2021-2030 through the public functions; set-up writes without waiting for fsync'
-- the set-up is not measured: its commits need not wait for the WAL (the measurements below do),
-- and checkpoints are spaced out while it writes (reset before the measurements)
SET synchronous_commit = off;
ALTER SYSTEM SET max_wal_size = '16GB';
SELECT pg_reload_conf() \gset
CREATE SCHEMA bench;
CREATE TABLE bench.build_times (step text, s numeric);
CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;
DO $$
DECLARE
    r       record;
    pid     bigint;
    sectors text[] := ARRAY['power', 'power', 'power', 'power', 'power', 'power', 'cement', 'steel', 'aluminium', 'cement'];
    t0      timestamptz := clock_timestamp();
BEGIN
    PERFORM register_participant('MEE', 'national_authority', pg_temp.uscc('11100000MB0134256'));
    FOR r IN SELECT code FROM region ORDER BY code LOOP
        pid := register_participant('DEE ' || r.code, 'provincial_authority', pg_temp.uscc('11' || r.code || 'MB' || lpad(r.code, 7, '0')), r.code);
        PERFORM open_account(pid, 'allocation');
    END LOOP;
    FOR i IN 1..current_setting('bench.units')::int LOOP
        SELECT code INTO r FROM region ORDER BY code OFFSET (i * 7) % 31 LIMIT 1;
        pid := register_participant(format('Unit %s', lpad(i::text, 4, '0')), 'key_emitter',
                                    pg_temp.uscc('91' || r.code || 'MA' || lpad(i::text, 7, '0')), r.code,
                                    substr(r.code, 1, 2) || '0100', sectors[1 + i % 10]);
        PERFORM open_account(pid, 'holding');
        PERFORM deposit_cny(open_account(pid, 'cash'), 100000000000);   -- 1,000,000,000.00 CNY
    END LOOP;
    pid := register_participant('Market maker fund', 'institution', pg_temp.uscc('91310000MA0000001'), '310000');
    PERFORM open_account(pid, 'holding', 'fund');
    INSERT INTO bench.build_times VALUES ('participants and accounts', extract(epoch FROM clock_timestamp() - t0));
END $$;
CREATE TABLE bench.unit AS
SELECT p.participant_id, h.account_id, c.account_id AS cash_account, p.province, p.sector,
       (SELECT a.account_id FROM account a WHERE a.kind = 'allocation' AND a.province = p.province) AS alloc_account,
       row_number() OVER (ORDER BY p.participant_id) AS n
  FROM participant p JOIN account h ON h.participant_id = p.participant_id AND h.kind = 'holding'
  JOIN account c ON c.participant_id = p.participant_id AND c.kind = 'cash'
 WHERE p.kind = 'key_emitter';
CREATE UNIQUE INDEX ON bench.unit (n);
\o /dev/null
SELECT set_config('bench.fund', (SELECT account_id::text FROM account WHERE label = 'fund'), false);
SELECT open_period(y, y || ' annual compliance', y, y, make_date(y + 1, 12, 31)) FROM generate_series(2021, 2030) y;
\o

CREATE FUNCTION pg_temp.emissions(n bigint, y int) RETURNS bigint LANGUAGE sql IMMUTABLE AS
$$ SELECT 50000 + (n * 7919 + y * 104729) % 2000000 $$;
CREATE FUNCTION pg_temp.allocation(n bigint, y int) RETURNS bigint LANGUAGE sql IMMUTABLE AS
$$ SELECT (pg_temp.emissions(n, y) * (85 + (n * 31 + y) % 20) / 100) $$;
CREATE FUNCTION pg_temp.play_year(y int, surrender_share numeric) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r    record;
    t0   timestamptz := clock_timestamp();
    t1   timestamptz;
    have bigint;
    run  bigint;
    fund bigint := current_setting('bench.fund')::bigint;
BEGIN
    PERFORM set_config('carbonmkt.clock', (y + 1) || '-03-02 09:00:00+08', false);
    FOR r IN SELECT alloc_account, sum(pg_temp.allocation(n, y)) AS t FROM bench.unit GROUP BY 1 ORDER BY 1 LOOP
        PERFORM issue_cea(r.alloc_account, y, r.t::bigint);
    END LOOP;
    PERFORM issue_cea(1, y, 400000000);
    PERFORM transfer_cea(1, fund, y, 400000000);
    -- the provinces' transfers, adopted by the allocation room as pre-allocations
    PERFORM adopt_preallocation(y, ARRAY(SELECT transfer_cea(u.alloc_account, u.account_id, y, pg_temp.allocation(u.n, y))
                                           FROM bench.unit u ORDER BY u.n));
    -- the final allocations (核定配额), equal to what was transferred, as fixture rows of the
    -- allocation room (no facilities or production data behind them): without a final
    -- allocation the relief rule of 2019-2022 keeps the power units' obligations pending and
    -- the period cannot close (CM509)
    run := carbonmkt._begin_run('final', 'CN', y, NULL, 'registry_scale fixture');
    INSERT INTO allocation (participant_id, year, stage, computed_t, tonnes, basis, run_id)
    SELECT u.participant_id, y, 'final', pg_temp.allocation(u.n, y), pg_temp.allocation(u.n, y), 'registry_scale fixture', run
      FROM bench.unit u;
    INSERT INTO confirmed_emission (participant_id, year, emissions_t, basis, confirmed_at)
    SELECT participant_id, y, pg_temp.emissions(n, y), 'verified', make_date(y + 1, 5, 30) FROM bench.unit;
    PERFORM set_config('carbonmkt.clock', (y + 1) || '-11-02 09:00:00+08', false);
    FOR r IN SELECT u.n, u.account_id, s.remaining_t
               FROM obligation_status s JOIN bench.unit u USING (participant_id)
              WHERE s.period = y AND s.obligation_t IS NOT NULL AND u.n % 100 < surrender_share * 100
              ORDER BY u.n LOOP
        SELECT coalesce(sum(balance), 0) INTO have FROM holding
         WHERE account_id = r.account_id AND instrument = 'CEA' AND vintage = y;
        IF have < r.remaining_t THEN
            PERFORM transfer_cea(fund, r.account_id, y, r.remaining_t - have);
        END IF;
        IF r.remaining_t > 0 THEN
            PERFORM surrender_cea(r.account_id, y, r.remaining_t, y);
        END IF;
    END LOOP;
    IF surrender_share >= 1 THEN
        PERFORM set_config('carbonmkt.clock', (y + 2) || '-01-05 09:00:00+08', false);
        PERFORM record_average_price(d::date, (6000 + y * 10 + extract(day FROM d)::int) / 100.0, 'bench')
           FROM generate_series(make_date(y + 1, 12, 1), make_date(y + 1, 12, 31), '1 day') d;
        t1 := clock_timestamp();
        PERFORM close_period(y);
        INSERT INTO bench.build_times VALUES ('period ' || y || ', of which close_period', extract(epoch FROM clock_timestamp() - t1));
    END IF;
    INSERT INTO bench.build_times VALUES ('period ' || y, extract(epoch FROM clock_timestamp() - t0));
END $$;
-- one statement (and transaction) per period, statistics renewed after each: the plans of the
-- functions' queries must see the growing tables
\o /dev/null
SELECT format('SELECT pg_temp.play_year(%s, %s)', y, CASE WHEN y < 2030 THEN 1 ELSE 0.5 END), 'ANALYZE'
  FROM generate_series(2021, 2030) y \gexec
\o
SET carbonmkt.clock = '2031-11-03 09:00:00+08';

-- 2. the exchange's tape: products CEA2021..CEA2030, per year 2022..2031 the two youngest vintages
SET session_replication_role = replica;    -- fixture rows: no orders behind the trades
DO $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    INSERT INTO product (code, instrument, vintage, reference_price_fen, clearing_account, listed_at)
    SELECT 'CEA' || v, 'CEA', v, 6000, current_setting('bench.fund')::bigint, make_date(v + 1, 1, 2) + time '09:00'
      FROM generate_series(2021, 2030) v;
    CREATE TABLE bench.tape_day AS
    SELECT d::date AS d, extract(year FROM d)::int AS y, row_number() OVER (PARTITION BY extract(year FROM d) ORDER BY d) AS k
      FROM generate_series('2022-01-02'::date, '2031-10-30', '1 day') d
     WHERE extract(isodow FROM d) < 6;
    INSERT INTO product_day (product_id, business_date, prev_close_fen, close_fen, closed_at)
    SELECT p.product_id, b.d, 5000 + (b.k * 37 + p.product_id * 11) % 3000, 5000 + ((b.k + 1) * 37 + p.product_id * 11) % 3000,
           b.d + time '15:05'
      FROM product p JOIN bench.tape_day b ON p.vintage IN (b.y - 1, b.y - 2);
    INSERT INTO trade (product_id, mode, business_date, executed_at, price_fen, quantity, buy_order_id, sell_order_id,
                       buyer_id, seller_id, buyer_fee_fen, seller_fee_fen)
    SELECT p.product_id, CASE WHEN i % 100 < 95 THEN 'listed' WHEN i % 100 < 99 THEN 'block' ELSE 'auction' END::trade_mode,
           b.d, b.d + time '09:30' + make_interval(secs => i % 18000), 5000 + (i * 7919) % 3000,
           CASE WHEN i % 100 BETWEEN 95 AND 98 THEN 100000 + i % 50000 ELSE 1 + (i * 31) % 5000 END,
           2 * (y.y::bigint * 1000000 + i), 2 * (y.y::bigint * 1000000 + i) + 1, 1 + (i * 7) % 3000, 2 + (i * 7) % 3000, 0, 0
      FROM generate_series(2022, 2031) y(y)
     CROSS JOIN generate_series(1, current_setting('bench.tape')::int) i
      JOIN (SELECT t.y, count(*) AS nd FROM bench.tape_day t GROUP BY t.y) c ON c.y = y.y
      JOIN bench.tape_day b ON b.y = y.y AND b.k = 1 + i % c.nd
      JOIN product p ON p.code = 'CEA' || (y.y - 1 - i % 2);
    INSERT INTO market_day_stats
    SELECT d.product_id, d.business_date, f.open_fen, f.high_fen, f.low_fen, f.last_fen, f.listed_volume_t,
           f.listed_turnover_fen, f.block_volume_t, f.block_turnover_fen, f.auction_volume_t, f.auction_turnover_fen,
           f.volume_t, f.turnover_fen, coalesce(f.trades, 0)
      FROM product_day d
      LEFT JOIN _market_day_figures f ON f.product_id = d.product_id AND f.business_date = d.business_date
     WHERE d.closed_at IS NOT NULL;
    -- and the trading statistics per participant end_of_day() keeps with each close
    PERFORM carbonmkt._keep_trading_months();
    INSERT INTO bench.build_times VALUES ('market tape', extract(epoch FROM clock_timestamp() - t0));
END $$;
SET session_replication_role = origin;

-- 3. the journal volume -----------------------------------------------------------------------
\echo '-- building: the journal volume, set-based'
SET work_mem = '2GB';
SET maintenance_work_mem = '2GB';
-- the chain of an account, as a window aggregate: the same function the chain trigger uses
CREATE AGGREGATE bench.chain(carbonmkt.journal) (
    sfunc = carbonmkt.journal_hash, stype = bytea,
    initcond = '\x0000000000000000000000000000000000000000000000000000000000000000');
-- a running sum in bigint (sum(bigint) goes through numeric)
CREATE AGGREGATE bench.isum(bigint) (sfunc = int8pl, stype = bigint, initcond = '0');
SELECT clock_timestamp() AS t0, max(posting_id) AS p0 FROM posting \gset
-- trading days of vintage y: weekdays of March..October of y + 1
CREATE UNLOGGED TABLE bench.tday AS
SELECT v AS y, d::date AS d, row_number() OVER (PARTITION BY v ORDER BY d) AS k
  FROM generate_series(2021, 2030) v
 CROSS JOIN generate_series(make_date(v + 1, 3, 3), make_date(v + 1, 10, 30), '1 day') d
 WHERE extract(isodow FROM d) < 6;
-- the functions' journal, kept aside (the journal is rewritten below)
CREATE UNLOGGED TABLE bench.oldj AS SELECT * FROM journal;
-- every posting, old and new, in time order: pairs of trades (unit a sells q to unit b on day
-- k1, b sells it back on a later day k2, same price) and the functions' postings; the window
-- gives the new ones their posting ids and every posting its first entry id (base + 1)
CREATE UNLOGGED TABLE bench.spost AS
WITH pairs AS (
    SELECT y, j,
           1 + (j * 7919 + y * 31) % u.n AS na,
           1 + ((j * 7919 + y * 31) % u.n + 1 + (j * 104729) % (u.n - 1)) % u.n AS nb,
           1 + (j * 31 + y) % 100 AS q, 5000 + (j * 7927) % 3000 AS p,
           c.nd
      FROM generate_series(2021, 2030) v(y)
      JOIN (SELECT t.y, max(t.k) AS nd FROM bench.tday t GROUP BY t.y) c USING (y)
     CROSS JOIN (SELECT count(*) AS n FROM bench.unit) u
     CROSS JOIN generate_series(1, current_setting('bench.trades')::bigint / 20) j),
trades AS MATERIALIZED (
    SELECT y, j, dir, CASE dir WHEN 0 THEN na ELSE nb END AS seller, CASE dir WHEN 0 THEN nb ELSE na END AS buyer, q, p,
           CASE dir WHEN 0 THEN 1 + j % (nd / 2) ELSE nd / 2 + 1 + (j * 13) % (nd - nd / 2) END AS k,
           make_interval(secs => (j * 17 + dir) % 19800) AS at
      FROM pairs CROSS JOIN (VALUES (0), (1)) x(dir)),
allp AS (
    SELECT s.y, s.j, s.dir, s.seller, s.buyer, s.q, s.p, t.d, (t.d + time '09:30' + s.at)::timestamptz AS recorded_at,
           NULL::bigint AS old_id, 4 AS legs
      FROM trades s JOIN bench.tday t ON t.y = s.y AND t.k = s.k
    UNION ALL
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, min(o.recorded_at), o.posting_id, count(*)::int
      FROM bench.oldj o GROUP BY o.posting_id)
SELECT a.*, CASE WHEN a.old_id IS NULL THEN :p0 + count(*) FILTER (WHERE a.old_id IS NULL) OVER w END AS posting_id,
       (sum(a.legs) OVER w - a.legs)::bigint AS base
  FROM allp a
WINDOW w AS (ORDER BY a.recorded_at, a.old_id NULLS LAST, a.y, a.j, a.dir ROWS UNBOUNDED PRECEDING);
INSERT INTO posting (posting_id, operation, initiator, business_date, recorded_at) OVERRIDING SYSTEM VALUE
SELECT posting_id, 'settle_batch', 'bench', d, recorded_at FROM bench.spost WHERE old_id IS NULL ORDER BY posting_id;
SELECT setval(pg_get_serial_sequence('carbonmkt.posting', 'posting_id'), (SELECT max(posting_id) FROM posting)) \gset
INSERT INTO bench.build_times SELECT 'synthetic postings (' || to_char(count(*), 'FM999,999,999') || ')',
       extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) FROM bench.spost WHERE old_id IS NULL;

-- every leg, old and new, with its entry id; per account (one sort by account_id, entry_id):
-- seq, the running balance and held quantity of its asset (one filtered running sum per asset
-- of the ledger, the row's own picked: the assets are few), the chain and the previous hash
CREATE UNLOGGED TABLE bench.asset AS
SELECT row_number() OVER (ORDER BY instrument, vintage, project) AS a, instrument, vintage, project,
       bool_or(held) AS held
  FROM (SELECT instrument, vintage, project, bool_or(held_change <> 0) AS held FROM bench.oldj GROUP BY 1, 2, 3
        UNION ALL
        SELECT 'CEA', v, '', false FROM generate_series(2021, 2030) v
        UNION ALL
        SELECT 'CNY', 0, '', false) x
 GROUP BY instrument, vintage, project;
CREATE VIEW bench.leg AS
SELECT s.base + l.leg AS entry_id, s.posting_id, l.account_id, l.kind, l.instrument, l.vintage, ''::text AS project,
       NULL::carbonmkt.ccer AS block, l.amount, 0::bigint AS held_change, l.counterparty, NULL::bigint AS hold_id,
       NULL::int AS period, s.d AS business_date, s.recorded_at, NULL::text AS memo
  FROM bench.spost s
  JOIN bench.unit se ON se.n = s.seller JOIN bench.unit bu ON bu.n = s.buyer
 CROSS JOIN LATERAL (VALUES (1, se.account_id, 'debit'::carbonmkt.entry_kind, 'CEA'::carbonmkt.instrument, s.y, -s.q::bigint, bu.account_id),
                            (2, bu.account_id, 'credit', 'CEA', s.y, s.q, se.account_id),
                            (3, bu.cash_account, 'debit', 'CNY', 0, -s.q::bigint * s.p, se.cash_account),
                            (4, se.cash_account, 'credit', 'CNY', 0, s.q::bigint * s.p, bu.cash_account))
                    l(leg, account_id, kind, instrument, vintage, amount, counterparty)
 WHERE s.old_id IS NULL
UNION ALL
SELECT s.base + row_number() OVER (PARTITION BY o.posting_id ORDER BY o.entry_id), o.posting_id, o.account_id, o.kind,
       o.instrument, o.vintage, o.project, o.block, o.amount, o.held_change, o.counterparty, o.hold_id, o.period,
       o.business_date, o.recorded_at, o.memo
  FROM bench.oldj o JOIN bench.spost s ON s.old_id = o.posting_id;
-- the chain input: the journal's row type, column by column (a column the journal gains later
-- and the benchmark does not know goes in NULL, and verify_ledger() would say so)
SELECT string_agg(CASE WHEN a.attname IN ('prev_hash', 'hash') OR a.attname NOT IN
                            ('entry_id', 'posting_id', 'account_id', 'seq', 'kind', 'instrument', 'vintage', 'project',
                             'block', 'amount', 'held_change', 'balance_after', 'held_after', 'counterparty', 'hold_id',
                             'period', 'business_date', 'recorded_at', 'memo')
                       THEN format('NULL::%s', format_type(a.atttypid, a.atttypmod))
                       ELSE 'y.' || quote_ident(a.attname) END, ', ' ORDER BY a.attnum) AS jrow
  FROM pg_attribute a WHERE a.attrelid = 'carbonmkt.journal'::regclass AND a.attnum > 0 AND NOT a.attisdropped \gset
SELECT string_agg(format('WHEN %s THEN bench.isum(l.amount) FILTER (WHERE l.a = %s) OVER w', a, a), ' ' ORDER BY a) AS bal,
       coalesce(string_agg(format('WHEN %s THEN bench.isum(l.held_change) FILTER (WHERE l.a = %s) OVER w', a, a), ' ' ORDER BY a)
                FILTER (WHERE held), 'WHEN 0 THEN 0') AS held
  FROM bench.asset \gset
CREATE VIEW bench.jrows AS
SELECT z.entry_id, z.posting_id, z.account_id, z.seq, z.kind, z.instrument, z.vintage, z.project, z.block, z.amount,
       z.held_change, z.balance_after, z.held_after, z.counterparty, z.hold_id, z.period, z.business_date,
       z.recorded_at, z.memo,
       coalesce(lag(z.hash) OVER w, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea) AS prev_hash,
       z.hash
  FROM (SELECT y.*, bench.chain(ROW(:jrow)::carbonmkt.journal) OVER w AS hash
          FROM (SELECT l.entry_id, l.posting_id, l.account_id, row_number() OVER w AS seq, l.kind, l.instrument, l.vintage,
                       l.project, l.block, l.amount, l.held_change,
                       (CASE l.a :bal END)::bigint AS balance_after,
                       coalesce((CASE l.a :held END)::bigint, 0) AS held_after,
                       l.counterparty, l.hold_id, l.period, l.business_date, l.recorded_at, l.memo
                  FROM (SELECT g.*, k.a FROM bench.leg g JOIN bench.asset k USING (instrument, vintage, project)
                         WHERE g.account_id % current_setting('bench.jobs')::int = current_setting('bench.part')::int) l
                WINDOW w AS (PARTITION BY l.account_id ORDER BY l.entry_id)) y
        WINDOW w AS (PARTITION BY y.account_id ORDER BY y.entry_id)) z
WINDOW w AS (PARTITION BY z.account_id ORDER BY z.entry_id);

ANALYZE bench.spost, bench.oldj, bench.asset, bench.unit;
-- the accounts in BENCH_SCALE_JOBS (default 2) parts computed at the same time, part 0 by this
-- session and the others by psql sessions in the background (PGAPPNAME registry_scale_part<N>,
-- output in the cluster's directory); each part is written to bench.jstage
SELECT clock_timestamp() AS t0 \gset
SELECT set_config('bench.jobs', :'jobs', false), set_config('bench.part', '0', false) \gset
CREATE UNLOGGED TABLE bench.jstage AS SELECT * FROM bench.jrows WITH NO DATA;
CREATE TABLE bench.part_done (part int);
\setenv BENCH_SCALE_JOBS :jobs
\! for n in $(seq 1 $((BENCH_SCALE_JOBS - 1))); do (PGAPPNAME=registry_scale_part$n PGOPTIONS="-c bench.jobs=$BENCH_SCALE_JOBS -c bench.part=$n -c work_mem=1GB -c jit=off" psql -X -q -v ON_ERROR_STOP=1 -c BEGIN -c "INSERT INTO bench.jstage SELECT * FROM bench.jrows" -c "INSERT INTO bench.part_done VALUES ($n)" -c COMMIT > "$PGHOST/registry_scale_part$n.log" 2>&1 &); done
INSERT INTO bench.jstage SELECT * FROM bench.jrows;
DO $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    LOOP
        EXIT WHEN (SELECT count(*) FROM bench.part_done) = current_setting('bench.jobs')::int - 1;
        IF clock_timestamp() - t0 > interval '60 s'
           AND NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'registry\_scale\_part%') THEN
            RAISE EXCEPTION 'registry_scale: a part of the journal failed (registry_scale_part*.log in the cluster directory %)',
                            current_setting('unix_socket_directories');
        END IF;
        PERFORM pg_sleep(1);
    END LOOP;
END $$;
INSERT INTO bench.build_times VALUES ('journal: every leg numbered, seq, running balances, chains (one sort by account; '
                                      || :jobs || ' sessions)', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz));
-- the journal rewritten in entry order, frozen, from a second session that sorts bench.jstage
-- (that session must not touch the journal, which this one holds truncated until COMMIT;
-- chain triggers off: the chains are computed; the b-tree indexes are rebuilt afterwards)
SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE jtrig AS
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'carbonmkt.journal'::regclass AND NOT tgisinternal;
CREATE TEMP TABLE jcon AS
SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
 WHERE conrelid = 'carbonmkt.journal'::regclass AND contype IN ('p', 'u');
CREATE TEMP TABLE jidx AS
SELECT pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
 WHERE i.indrelid = 'carbonmkt.journal'::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid);
SELECT format('env PGOPTIONS=%s %s/psql -X -q -v ON_ERROR_STOP=1 -h %s -p %s -U %s -d %s -c %s',
              '''-c work_mem=2GB -c jit=off''', :'bindir', current_setting('unix_socket_directories'),
              current_setting('port'), current_user, current_database(),
              '"COPY (SELECT * FROM bench.jstage ORDER BY entry_id) TO STDOUT (FORMAT binary)"') AS prog \gset
BEGIN;
ALTER TABLE journal DISABLE TRIGGER USER;
TRUNCATE journal;
SELECT format('ALTER TABLE carbonmkt.journal DROP CONSTRAINT %I', conname) FROM jcon \gexec
SELECT format('DROP INDEX carbonmkt.%I', c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'carbonmkt.journal'::regclass \gexec
COPY journal (entry_id, posting_id, account_id, seq, kind, instrument, vintage, project, block, amount, held_change,
              balance_after, held_after, counterparty, hold_id, period, business_date, recorded_at, memo, prev_hash, hash)
  FROM PROGRAM :'prog' WITH (FORMAT binary, FREEZE);
COMMIT;
INSERT INTO bench.build_times VALUES ('journal: written in entry order (COPY FREEZE)',
                                      extract(epoch FROM clock_timestamp() - :'t0'::timestamptz));
SELECT clock_timestamp() AS t0 \gset
SELECT format('ALTER TABLE carbonmkt.journal ADD CONSTRAINT %I %s', conname, def) FROM jcon \gexec
SELECT def FROM jidx \gexec
SELECT format('ALTER TABLE carbonmkt.journal %s TRIGGER %I',
              CASE tgenabled WHEN 'O' THEN 'ENABLE' WHEN 'A' THEN 'ENABLE ALWAYS' WHEN 'R' THEN 'ENABLE REPLICA' ELSE 'DISABLE' END,
              tgname) FROM jtrig \gexec
INSERT INTO bench.build_times VALUES ('journal: indexes rebuilt', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz));
SELECT clock_timestamp() AS t0 \gset
SELECT setval(pg_get_serial_sequence('carbonmkt.journal', 'entry_id'), (SELECT max(entry_id) FROM journal)) \gset
UPDATE account a SET (head_seq, head_hash) = (SELECT j.seq, j.hash FROM journal j WHERE j.account_id = a.account_id
                                                ORDER BY j.seq DESC LIMIT 1)
 WHERE EXISTS (SELECT 1 FROM journal j WHERE j.account_id = a.account_id);
DROP VIEW bench.jrows;
DROP VIEW bench.leg;
DROP TABLE bench.oldj, bench.spost, bench.jstage, bench.part_done;
INSERT INTO bench.build_times VALUES ('heads', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz));
-- the balance snapshots balance_as_of() reads, as the upgrade from 0.1.0 writes them for the
-- journal it finds (and seal_day() for each day's: the journal here was written past it)
\echo '-- building: balance snapshots'
SELECT clock_timestamp() AS t0 \gset
SELECT carbonmkt._snapshot_balances() AS snapshots \gset
INSERT INTO bench.build_times VALUES ('balance snapshots (' || to_char(:snapshots, 'FM999,999,999') || ', carbonmkt._snapshot_balances())',
                                      extract(epoch FROM clock_timestamp() - :'t0'::timestamptz));
SELECT clock_timestamp() AS t0 \gset
\echo '-- building: VACUUM ANALYZE'
VACUUM ANALYZE;
ALTER SYSTEM RESET max_wal_size;
SELECT pg_reload_conf() \gset
CHECKPOINT;
RESET synchronous_commit;
RESET work_mem;
RESET maintenance_work_mem;
INSERT INTO bench.build_times VALUES ('VACUUM ANALYZE, checkpoint', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz));
\echo
SELECT step, round(s, 1) AS seconds FROM bench.build_times;
\! echo "-- built: load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%H:%M:%S UTC')"
\endif

-- The registry measured ----------------------------------------------------------------------------
SELECT to_char(count(*), 'FM999,999,999') AS journal_entries, to_char((SELECT count(*) FROM posting), 'FM999,999,999') AS postings,
       (SELECT count(*) FROM bench.unit) AS units, (SELECT count(*) FROM compliance_period) AS periods,
       to_char((SELECT count(*) FROM trade), 'FM999,999,999') AS tape_trades,
       (SELECT count(*) FROM obligation) AS obligations
  FROM journal;

-- Storage per business year ---------------------------------------------------------------------
\echo
\echo '-- storage: the journal and the postings, per business year (size shared out by entries)'
WITH t AS (SELECT pg_table_size('carbonmkt.journal') AS jt, pg_indexes_size('carbonmkt.journal') AS ji,
                  pg_total_relation_size('carbonmkt.posting') AS pt, (SELECT count(*) FROM journal) AS n,
                  (SELECT count(*) FROM posting) AS np),
     y AS (SELECT extract(year FROM j.business_date)::int AS business_year, count(*) AS entries,
                  count(DISTINCT j.posting_id) AS postings
             FROM journal j GROUP BY 1)
SELECT y.business_year, to_char(y.entries, 'FM999,999,999') AS entries,
       pg_size_pretty((y.entries * (t.jt + t.ji) / t.n)::bigint) AS journal_with_indexes,
       pg_size_pretty((y.postings * t.pt / t.np)::bigint) AS postings,
       round((t.jt + t.ji)::numeric / t.n) AS bytes_per_entry
  FROM y, t ORDER BY 1;
SELECT c::text AS relation, pg_size_pretty(pg_table_size(c)) AS table, pg_size_pretty(pg_indexes_size(c)) AS indexes,
       pg_table_size(c) + pg_indexes_size(c) AS bytes
  FROM unnest(ARRAY['carbonmkt.journal', 'carbonmkt.posting', 'carbonmkt.account', 'carbonmkt.holding', 'carbonmkt.trade']::regclass[]) c;
SELECT i.indexrelid::regclass AS journal_index, pg_size_pretty(pg_relation_size(i.indexrelid)) AS size
  FROM pg_index i WHERE i.indrelid = 'carbonmkt.journal'::regclass ORDER BY 1::text;
SELECT pg_size_pretty(pg_database_size(current_database())) AS database_size;

\if :bi_only
\echo '-- BENCH_SCALE_BI_ONLY: the registry''s timings left out, only its bi_* views'
\else
-- Timings ----------------------------------------------------------------------------------------
\! echo "-- load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%H:%M:%S UTC'); fsync etc.: $(psql -X -At -c "SELECT current_setting('fsync') || '/' || current_setting('synchronous_commit') || '/' || current_setting('full_page_writes')")"
DROP TABLE IF EXISTS bench.timing;
CREATE TABLE bench.timing (what text, round int, ms float8, target_ms float8, note text);
-- the account with the median number of entries; a business year in the middle
SELECT account_id AS acc, n AS acc_entries FROM (
    SELECT account_id, count(*) AS n, row_number() OVER (ORDER BY count(*), account_id) AS r,
           count(*) OVER () AS m
      FROM journal WHERE account_id IN (SELECT account_id FROM bench.unit) GROUP BY account_id) x
 WHERE r = m / 2 \gset
\echo '   account' :acc 'with' :acc_entries 'entries over ten years'
-- two sides in the same rounds, which goes first alternating per round (round 0: warm-up)
CREATE OR REPLACE PROCEDURE bench.time_pair(what_a text, sql_a text, what_b text, sql_b text, target_ms float8, rounds int)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    n  bigint;
BEGIN
    FOR r IN 0..rounds LOOP
        FOR side IN 0..1 LOOP
            t0 := clock_timestamp();
            IF (side + r) % 2 = 0 THEN
                EXECUTE sql_a INTO n;
                INSERT INTO bench.timing VALUES (what_a, r, extract(epoch FROM clock_timestamp() - t0) * 1000, target_ms, n || ' rows');
            ELSE
                EXECUTE sql_b INTO n;
                INSERT INTO bench.timing VALUES (what_b, r, extract(epoch FROM clock_timestamp() - t0) * 1000, NULL, n || ' rows');
            END IF;
            COMMIT;
        END LOOP;
    END LOOP;
END $$;
CREATE OR REPLACE PROCEDURE bench.time(what text, sql text, target_ms float8, rounds int) LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    n  bigint;
BEGIN
    FOR r IN 0..rounds LOOP                 -- round 0: warm-up, not counted
        t0 := clock_timestamp();
        EXECUTE sql INTO n;
        INSERT INTO bench.timing VALUES (what, r, extract(epoch FROM clock_timestamp() - t0) * 1000, target_ms, n || ' rows');
        COMMIT;
    END LOOP;
END $$;
SELECT format('CALL bench.time(%L, %L, 20, %s)', 'statement, one account, business year ' || y,
              format('SELECT count(*) FROM (SELECT s::text FROM carbonmkt.statement(%s, %L, %L) s) x',
                     :acc, make_date(y, 1, 1)::timestamptz, make_date(y + 1, 1, 1)::timestamptz), :rounds)
  FROM (VALUES (2022), (2027), (2031)) v(y) \gexec
-- balance_as_of beside its plain definition (before issue 16 session 4: every entry of the
-- account recorded by the instant, DISTINCT ON the asset; test/bench/registry_scale/
-- balance_as_of_plain.sql), in rounds alternating which goes first; both must give the same rows
\ir registry_scale/balance_as_of_plain.sql
SELECT count(*) AS snapshots_due FROM (SELECT 1 FROM account a
  WHERE a.head_seq - coalesce((SELECT max(s.seq) FROM balance_snapshot s WHERE s.account_id = a.account_id), 0) >= 64) x \gset
\echo '   balance snapshots:' `psql -X -At -c "SELECT count(*) || ' of ' || count(DISTINCT account_id) || ' accounts, ' || pg_size_pretty(pg_total_relation_size('carbonmkt.balance_snapshot')) FROM carbonmkt.balance_snapshot"` '; accounts with a span of 64 entries due:' :snapshots_due
SELECT (SELECT count(*) FROM carbonmkt.balance_snapshot WHERE account_id = :acc) AS acc_snapshots,
       (SELECT :acc_entries - max(seq) FROM carbonmkt.balance_snapshot WHERE account_id = :acc) AS acc_tail \gset
\echo '   account' :acc 'has' :acc_snapshots 'snapshots;' :acc_tail 'entries after the last'
SELECT format('CALL bench.time_pair(%L, %L, %L, %L, 5, %s)',
              'balance_as_of, one account, ' || t,
              format('SELECT count(*) FROM (SELECT b::text FROM carbonmkt.balance_as_of(%s, %L) b) x', :acc, t::timestamptz),
              'baseline: balance_as_of plain definition, ' || t,
              format('SELECT count(*) FROM (SELECT b::text FROM bench.balance_as_of_plain(%s, %L) b) x', :acc, t::timestamptz),
              :rounds)
  FROM (VALUES ('2022-06-30 12:00+08'), ('2027-06-30 12:00+08'), ('2031-10-30 12:00+08')) v(t) \gexec
SELECT count(*) AS asof_differs FROM (VALUES ('2022-06-30 12:00+08'), ('2027-06-30 12:00+08'), ('2031-10-30 12:00+08'),
                                             ('2021-01-01 00:00+08'), ('2031-12-31 00:00+08')) v(t)
 WHERE ARRAY(SELECT b::text FROM carbonmkt.balance_as_of(:acc, t::timestamptz) b)
       IS DISTINCT FROM ARRAY(SELECT b::text FROM bench.balance_as_of_plain(:acc, t::timestamptz) b) \gset
-- the daily seal: the day before the last (not timed), then the last trading day (timed, once: a
-- day is sealed once); durable.  Seals of an earlier measurement of this registry go first
-- (as fixtures: the append-only trigger does not fire for a replica)
SET session_replication_role = replica;
DELETE FROM day_seal;
RESET session_replication_role;
SELECT max(business_date) AS last_day FROM journal WHERE business_date < '2031-11-01' \gset
SELECT max(business_date) AS prev_day FROM journal WHERE business_date < :'last_day' \gset
SELECT clock_timestamp() AS t0 \gset
SELECT carbonmkt.seal_day(:'prev_day') IS NOT NULL AS sealed \gset
INSERT INTO bench.timing VALUES ('seal_day, first seal of the ledger (' || :'prev_day' || ', not a target)', 1,
                                 extract(epoch FROM clock_timestamp() - :'t0') * 1000, NULL,
                                 (SELECT entries || ' entries, ' || accounts || ' accounts' FROM day_seal WHERE business_date = :'prev_day'));
SELECT clock_timestamp() AS t0 \gset
SELECT carbonmkt.seal_day(:'last_day') IS NOT NULL AS sealed \gset
INSERT INTO bench.timing VALUES ('seal_day, the last trading day (' || :'last_day' || ')', 1,
                                 extract(epoch FROM clock_timestamp() - :'t0') * 1000, 1000,
                                 (SELECT entries || ' entries, ' || accounts || ' accounts' FROM day_seal WHERE business_date = :'last_day'));
-- the seal's heads digest of that day again (it must equal the seal); with
-- BENCH_SCALE_SEAL_BASELINE=1 also its former definition, which read every entry up to the day
-- (test/bench/seal_baseline.sql; minutes at 20 M entries), which must agree
SELECT to_regprocedure('bench.heads_digest_old(date)') IS NULL AS load_seal_baseline \gset
\if :load_seal_baseline
\ir seal_baseline.sql
\endif
SELECT clock_timestamp() AS t0 \gset
SELECT (h.digest, h.accounts, h.entries) = (s.digest, s.accounts, s.entries) AS seal_same
  FROM heads_digest(:'last_day') h, day_seal s WHERE s.business_date = :'last_day' \gset
INSERT INTO bench.timing VALUES ('heads_digest, the last trading day', 1, extract(epoch FROM clock_timestamp() - :'t0') * 1000, 1000,
                                 CASE WHEN :'seal_same' THEN 'equals its seal' ELSE 'DIFFERS from its seal' END);
\if :seal_baseline
SELECT clock_timestamp() AS t0 \gset
SELECT (h.digest, h.accounts, h.entries) = (s.digest, s.accounts, s.entries) AS seal_old_same
  FROM bench.heads_digest_old(:'last_day') h, day_seal s WHERE s.business_date = :'last_day' \gset
INSERT INTO bench.timing VALUES ('baseline: the former heads_digest, the last trading day', 1, extract(epoch FROM clock_timestamp() - :'t0') * 1000, NULL,
                                 CASE WHEN :'seal_old_same' THEN 'equals the seal' ELSE 'DIFFERS from the seal' END);
\else
\set seal_old_same true
\endif
SELECT count(*) AS day_entries FROM journal WHERE business_date = :'last_day' \gset
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) AS problems_since FROM verify_ledger_since(:'prev_day') \gset
INSERT INTO bench.timing VALUES ('verify_ledger_since(), one day (' || :'last_day' || ')', 1,
                                 extract(epoch FROM clock_timestamp() - :'t0') * 1000, NULL,
                                 :day_entries || ' entries of the day, ' || :problems_since || ' problems');
\if :full_verify
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) AS problems FROM verify_ledger() \gset
INSERT INTO bench.timing VALUES ('verify_ledger(), everything', 1, extract(epoch FROM clock_timestamp() - :'t0') * 1000, NULL,
                                 (SELECT to_char(count(*), 'FM999,999,999') FROM journal) || ' entries, ' || :problems || ' problems');
\endif
\! echo "-- load average after: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%H:%M:%S UTC')"
\echo
\echo '-- median of the counted rounds (min-max), ms of server time'
SELECT what, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms,
       round(min(ms)::numeric, 1) || '-' || round(max(ms)::numeric, 1) AS min_max, max(note) AS result,
       CASE WHEN max(target_ms) IS NULL THEN '' WHEN percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) < max(target_ms)
            THEN 'ok (< ' || max(target_ms) || ' ms)' ELSE 'MISSED (< ' || max(target_ms) || ' ms)' END AS target
  FROM bench.timing WHERE round > 0 GROUP BY what ORDER BY min(round), min(ctid), what;
SELECT (:asof_differs = 0) AS asof_same \gset
\if :asof_same
\else
DO $$ BEGIN RAISE EXCEPTION 'registry_scale: balance_as_of() differs from its plain definition'; END $$;
\endif
\if :seal_same
\else
DO $$ BEGIN RAISE EXCEPTION 'registry_scale: heads_digest() of the sealed day differs from its seal'; END $$;
\endif
\if :seal_old_same
\else
DO $$ BEGIN RAISE EXCEPTION 'registry_scale: the former heads_digest() of the sealed day differs from its seal'; END $$;
\endif
SELECT (:problems_since = 0) AS verified \gset
\if :verified
\else
SELECT problem, count(*), min(entry_id), min(detail) FROM verify_ledger_since(:'prev_day') GROUP BY 1;
DO $$ BEGIN RAISE EXCEPTION 'registry_scale: verify_ledger_since() found problems in the generated registry'; END $$;
\endif
\if :full_verify
SELECT (:problems = 0) AS verified \gset
\if :verified
\else
SELECT problem, count(*), min(entry_id), min(detail) FROM verify_ledger() GROUP BY 1;
DO $$ BEGIN RAISE EXCEPTION 'registry_scale: verify_ledger() found problems in the generated registry'; END $$;
\endif
\endif
\endif

-- the bi_* views (< 100 ms), against their definitions before and their floors (what an earlier
-- measurement of this registry left goes first)
DROP SCHEMA IF EXISTS bench_old CASCADE;
DROP TABLE IF EXISTS bench.bi_same, bench.bi_q, bench.bi_t, bench.bi_split;
DROP PROCEDURE IF EXISTS bench.bi_split_time(int);
DROP FUNCTION IF EXISTS bench.cpu_ms();
DROP PROCEDURE IF EXISTS bench.bi_time(int);
SELECT format('DROP TABLE bench.%I', relname) FROM pg_class
 WHERE relnamespace = 'bench'::regnamespace AND relkind = 'r' AND relname LIKE 'floor\_%' \gexec
\ir registry_scale/bi_views.sql
