-- test/bench/registry_scale.sql -- make bench BENCH=registry_scale
--
-- Ten business years of a national registry: 3,000 key emitting units in 31 provinces (each with
-- a holding and a cash account), compliance periods 2021-2030 (2021-2029 closed, 2030 open with
-- half the units surrendered), a market tape each year, and BENCH_SCALE_TRADES (default
-- 5,000,000) synthetic market settlements of 4 journal legs each (20 million entries).
--
-- How it is built:
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
--      functions left it and no balance ever goes below zero.  The posting rows go in directly;
--      the journal is then rewritten in one pass, old and new legs together in time order:
--      entry ids, per-account seq, running balance_after / held_after (window sums) and the
--      SHA-256 chain (a window aggregate over carbonmkt.journal_hash, the function the chain
--      trigger uses; chain triggers off while it is written), and the accounts' heads.
--      Nothing is faked: verify_ledger() on the result checks chains, heads and balances.
-- Then, durable (fsync etc. on), each timed in the server, a warm-up and BENCH_ROUNDS (default 3)
-- rounds, median (min-max): statement of one account for one business year (target < 20 ms),
-- balance_as_of (< 5 ms), the daily seal (< 1 s); the storage per business year; verify_ledger()
-- over everything when BENCH_SCALE_VERIFY=1 (minutes); then every bi_* view read in full
-- (< 100 ms; registry_scale/bi_views.sql: the same rows as before, the times beside the definitions
-- before and beside the floor).
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
\set full_verify 0
\endif
\getenv seal_baseline BENCH_SCALE_SEAL_BASELINE
\if :{?seal_baseline}
\else
\set seal_baseline 0
\endif
\o /dev/null
SELECT set_config('bench.units', :'units', false), set_config('bench.trades', :'trades', false),
       set_config('bench.tape', :'tape', false);
\o
\! echo "-- registry_scale: load average $(cut -d' ' -f1-3 /proc/loadavg)"
\echo '-- building: 3,000 units, periods 2021-2030 through the public functions; set-up writes without waiting for fsync'
-- the set-up is not measured: its commits need not wait for the WAL (the measurements below do)
SET synchronous_commit = off;
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
    INSERT INTO bench.build_times VALUES ('market tape', extract(epoch FROM clock_timestamp() - t0));
END $$;
SET session_replication_role = origin;

-- 3. the journal volume -----------------------------------------------------------------------
\echo '-- building: the journal volume, set-based'
SET work_mem = '256MB';
SET maintenance_work_mem = '1GB';
-- the chain of an account, as a window aggregate: the same function the chain trigger uses
CREATE AGGREGATE bench.chain(carbonmkt.journal) (
    sfunc = carbonmkt.journal_hash, stype = bytea,
    initcond = '\x0000000000000000000000000000000000000000000000000000000000000000');
DO $$
DECLARE
    t0 timestamptz := clock_timestamp();
    p0 bigint := (SELECT max(posting_id) FROM posting);
BEGIN
    -- trading days of vintage y: weekdays of March..October of y + 1
    CREATE TABLE bench.tday AS
    SELECT v AS y, d::date AS d, row_number() OVER (PARTITION BY v ORDER BY d) AS k
      FROM generate_series(2021, 2030) v
     CROSS JOIN generate_series(make_date(v + 1, 3, 3), make_date(v + 1, 10, 30), '1 day') d
     WHERE extract(isodow FROM d) < 6;
    -- pairs: unit a sells q to unit b on day k1, b sells it back on a later day k2, same price
    CREATE UNLOGGED TABLE bench.strade AS
    WITH pairs AS (
        SELECT y, j,
               1 + (j * 7919 + y * 31) % u.n AS na,
               1 + ((j * 7919 + y * 31) % u.n + 1 + (j * 104729) % (u.n - 1)) % u.n AS nb,
               1 + (j * 31 + y) % 100 AS q, 5000 + (j * 7927) % 3000 AS p,
               c.nd
          FROM generate_series(2021, 2030) v(y)
          JOIN (SELECT t.y, max(t.k) AS nd FROM bench.tday t GROUP BY t.y) c USING (y)
         CROSS JOIN (SELECT count(*) AS n FROM bench.unit) u
         CROSS JOIN generate_series(1, current_setting('bench.trades')::bigint / 20) j)
    SELECT y, j, dir, CASE dir WHEN 0 THEN na ELSE nb END AS seller, CASE dir WHEN 0 THEN nb ELSE na END AS buyer, q, p,
           CASE dir WHEN 0 THEN 1 + j % (nd / 2) ELSE nd / 2 + 1 + (j * 13) % (nd - nd / 2) END AS k,
           make_interval(secs => (j * 17 + dir) % 19800) AS at
      FROM pairs CROSS JOIN (VALUES (0), (1)) x(dir);
    CREATE UNLOGGED TABLE bench.spost AS
    SELECT p0 + row_number() OVER (ORDER BY t.d + time '09:30' + s.at, s.y, s.j, s.dir) AS posting_id,
           s.*, t.d, (t.d + time '09:30' + s.at)::timestamptz AS recorded_at
      FROM bench.strade s JOIN bench.tday t ON t.y = s.y AND t.k = s.k;
    INSERT INTO posting (posting_id, operation, initiator, business_date, recorded_at) OVERRIDING SYSTEM VALUE
    SELECT posting_id, 'settle_batch', 'bench', d, recorded_at FROM bench.spost ORDER BY posting_id;
    PERFORM setval(pg_get_serial_sequence('carbonmkt.posting', 'posting_id'), (SELECT max(posting_id) FROM posting));
    INSERT INTO bench.build_times VALUES ('synthetic postings', extract(epoch FROM clock_timestamp() - t0));
END $$;
DO $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    -- every leg, old and new, in time order
    CREATE UNLOGGED TABLE bench.leg AS
    SELECT j.recorded_at, j.posting_id, j.entry_id AS k, j.account_id, j.kind, j.instrument, j.vintage, j.project, j.block,
           j.amount, j.held_change, j.counterparty, j.hold_id, j.period, j.business_date, j.memo
      FROM journal j
    UNION ALL
    SELECT s.recorded_at, s.posting_id, l.leg, l.account_id, l.kind, l.instrument, l.vintage, '', NULL,
           l.amount, 0, l.counterparty, NULL, NULL, s.d, NULL
      FROM bench.spost s
      JOIN bench.unit se ON se.n = s.seller JOIN bench.unit bu ON bu.n = s.buyer
     CROSS JOIN LATERAL (VALUES (1, se.account_id, 'debit'::entry_kind, 'CEA'::instrument, s.y, -s.q, bu.account_id),
                                (2, bu.account_id, 'credit', 'CEA', s.y, s.q, se.account_id),
                                (3, bu.cash_account, 'debit', 'CNY', 0, -s.q * s.p, se.cash_account),
                                (4, se.cash_account, 'credit', 'CNY', 0, s.q * s.p, bu.cash_account))
                        l(leg, account_id, kind, instrument, vintage, amount, counterparty);
    INSERT INTO bench.build_times VALUES ('legs', extract(epoch FROM clock_timestamp() - t0));
    t0 := clock_timestamp();
    CREATE UNLOGGED TABLE bench.leg2 AS
    SELECT row_number() OVER (ORDER BY recorded_at, posting_id, k) AS entry_id, l.*
      FROM bench.leg l;
    DROP TABLE bench.leg;
    CREATE UNLOGGED TABLE bench.leg3 AS
    SELECT l.*, row_number() OVER (PARTITION BY account_id ORDER BY entry_id) AS seq,
           sum(amount) OVER (PARTITION BY account_id, instrument, vintage, project ORDER BY entry_id)::bigint AS balance_after,
           sum(held_change) OVER (PARTITION BY account_id, instrument, vintage, project ORDER BY entry_id)::bigint AS held_after
      FROM bench.leg2 l;
    DROP TABLE bench.leg2;
    INSERT INTO bench.build_times VALUES ('entry ids, seq, running balances', extract(epoch FROM clock_timestamp() - t0));
    t0 := clock_timestamp();
    CREATE UNLOGGED TABLE bench.leg4 AS
    SELECT x.*, coalesce(lag(x.hash) OVER (PARTITION BY x.account_id ORDER BY x.seq),
                         '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea) AS prev_hash
      FROM (SELECT l.*, bench.chain(ROW(l.entry_id, l.posting_id, l.account_id, l.seq, l.kind, l.instrument, l.vintage,
                                         l.project, l.block, l.amount, l.held_change, l.balance_after, l.held_after,
                                         l.counterparty, l.hold_id, l.period, l.business_date, l.recorded_at, l.memo,
                                         NULL, NULL)::carbonmkt.journal)
                                OVER (PARTITION BY l.account_id ORDER BY l.seq) AS hash
              FROM bench.leg3 l) x;
    DROP TABLE bench.leg3;
    INSERT INTO bench.build_times VALUES ('hash chains', extract(epoch FROM clock_timestamp() - t0));
END $$;
DO $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    -- the journal rewritten in entry order (chain triggers off: the chains are already computed)
    ALTER TABLE journal DISABLE TRIGGER USER;
    TRUNCATE journal;
    INSERT INTO journal (entry_id, posting_id, account_id, seq, kind, instrument, vintage, project, block, amount,
                         held_change, balance_after, held_after, counterparty, hold_id, period, business_date,
                         recorded_at, memo, prev_hash, hash) OVERRIDING SYSTEM VALUE
    SELECT entry_id, posting_id, account_id, seq, kind, instrument, vintage, project, block, amount,
           held_change, balance_after, held_after, counterparty, hold_id, period, business_date,
           recorded_at, memo, prev_hash, hash
      FROM bench.leg4 ORDER BY entry_id;
    ALTER TABLE journal ENABLE TRIGGER USER;
    PERFORM setval(pg_get_serial_sequence('carbonmkt.journal', 'entry_id'), (SELECT max(entry_id) FROM journal));
    UPDATE account a SET head_seq = h.seq, head_hash = h.hash
      FROM (SELECT DISTINCT ON (account_id) account_id, seq, hash FROM bench.leg4 ORDER BY account_id, seq DESC) h
     WHERE h.account_id = a.account_id;
    DROP TABLE bench.leg4;
    INSERT INTO bench.build_times VALUES ('journal written', extract(epoch FROM clock_timestamp() - t0));
END $$;
ALTER TABLE day_seal DISABLE TRIGGER USER;
DELETE FROM day_seal;   -- none expected: the functions above seal nothing
ALTER TABLE day_seal ENABLE TRIGGER USER;
\echo '-- building: VACUUM ANALYZE'
VACUUM ANALYZE;
CHECKPOINT;
RESET synchronous_commit;
\echo
SELECT step, round(s, 1) AS seconds FROM bench.build_times;
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
                  (SELECT count(*) FROM posting) AS np)
SELECT extract(year FROM j.business_date)::int AS business_year, to_char(count(*), 'FM999,999,999') AS entries,
       pg_size_pretty((count(*) * (t.jt + t.ji) / t.n)::bigint) AS journal_with_indexes,
       pg_size_pretty((count(DISTINCT j.posting_id) * t.pt / t.np)::bigint) AS postings,
       round((t.jt + t.ji)::numeric / t.n) AS bytes_per_entry
  FROM journal j, t GROUP BY 1, t.jt, t.ji, t.n, t.pt, t.np ORDER BY 1;
SELECT c::text AS relation, pg_size_pretty(pg_table_size(c)) AS table, pg_size_pretty(pg_indexes_size(c)) AS indexes
  FROM unnest(ARRAY['carbonmkt.journal', 'carbonmkt.posting', 'carbonmkt.account', 'carbonmkt.holding', 'carbonmkt.trade']::regclass[]) c;

-- Timings ----------------------------------------------------------------------------------------
\! echo "-- load average $(cut -d' ' -f1-3 /proc/loadavg); fsync etc.: $(psql -X -At -c "SELECT current_setting('fsync') || '/' || current_setting('synchronous_commit') || '/' || current_setting('full_page_writes')")"
CREATE TABLE bench.timing (what text, round int, ms float8, target_ms float8, note text);
-- the account with the median number of entries; a business year in the middle
SELECT account_id AS acc, n AS acc_entries FROM (
    SELECT account_id, count(*) AS n, row_number() OVER (ORDER BY count(*), account_id) AS r,
           count(*) OVER () AS m
      FROM journal WHERE account_id IN (SELECT account_id FROM bench.unit) GROUP BY account_id) x
 WHERE r = m / 2 \gset
\echo '   account' :acc 'with' :acc_entries 'entries over ten years'
CREATE PROCEDURE bench.time(what text, sql text, target_ms float8, rounds int) LANGUAGE plpgsql AS $$
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
SELECT format('CALL bench.time(%L, %L, 5, %s)', 'balance_as_of, one account, ' || t,
              format('SELECT count(*) FROM (SELECT b::text FROM carbonmkt.balance_as_of(%s, %L) b) x', :acc, t::timestamptz), :rounds)
  FROM (VALUES ('2022-06-30 12:00+08'), ('2027-06-30 12:00+08'), ('2031-10-30 12:00+08')) v(t) \gexec
-- the daily seal: the day before the last (not timed), then the last trading day (timed, once: a
-- day is sealed once); durable
SELECT max(business_date) AS last_day FROM journal WHERE business_date < '2031-11-01' \gset
SELECT max(business_date) AS prev_day FROM journal WHERE business_date < :'last_day' \gset
SELECT carbonmkt.seal_day(:'prev_day') IS NOT NULL AS sealed \gset
SELECT clock_timestamp() AS t0 \gset
SELECT carbonmkt.seal_day(:'last_day') IS NOT NULL AS sealed \gset
INSERT INTO bench.timing VALUES ('seal_day, the last trading day', 1, extract(epoch FROM clock_timestamp() - :'t0') * 1000, 1000,
                                 (SELECT entries || ' entries, ' || accounts || ' accounts' FROM day_seal WHERE business_date = :'last_day'));
-- the seal's heads digest of that day again (it must equal the seal); with
-- BENCH_SCALE_SEAL_BASELINE=1 also its former definition, which read every entry up to the day
-- (test/bench/seal_baseline.sql; minutes at 20 M entries), which must agree
\ir seal_baseline.sql
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
\if :full_verify
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) AS problems FROM verify_ledger() \gset
INSERT INTO bench.timing VALUES ('verify_ledger(), everything', 1, extract(epoch FROM clock_timestamp() - :'t0') * 1000, NULL, :problems || ' problems');
\endif
\! echo "-- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
\echo
\echo '-- median of the counted rounds (min-max), ms of server time'
SELECT what, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms,
       round(min(ms)::numeric, 1) || '-' || round(max(ms)::numeric, 1) AS min_max, max(note) AS result,
       CASE WHEN max(target_ms) IS NULL THEN '' WHEN percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) < max(target_ms)
            THEN 'ok (< ' || max(target_ms) || ' ms)' ELSE 'MISSED (< ' || max(target_ms) || ' ms)' END AS target
  FROM bench.timing WHERE round > 0 GROUP BY what ORDER BY min(round), what;
\if :seal_same
\else
\warn 'registry_scale: heads_digest() of the sealed day differs from its seal'
\quit 1
\endif
\if :seal_old_same
\else
\warn 'registry_scale: the former heads_digest() of the sealed day differs from its seal'
\quit 1
\endif
\if :full_verify
SELECT (:problems = 0) AS verified \gset
\if :verified
\else
\warn 'registry_scale: verify_ledger() found problems in the generated registry'
\quit 1
\endif
\endif

-- the bi_* views (< 100 ms), against their definitions before and their floors
\ir registry_scale/bi_views.sql
