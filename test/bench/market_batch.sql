-- test/bench/market_batch.sql -- make bench BENCH=market_batch
--
-- The queue procedure's engine on one book: BENCH_ORDERS (default 100,000) queued listed
-- orders of CEA 2024 that cross (queued by carbonmkt-load, src/cli: buys at or above 60.00, sells
-- at or below, within 1%, 1..100 t, 2% a 摘牌 of a queued order of the other side) from 2,000 key
-- emitting units (the national market has 2,096), processed
--   candidate  by the C engine, carbonmkt._process_queue() (what CALL process_queue() runs
--              per product), which reports the time of each phase;
--   baseline   by bench.plpgsql_process_queue() (test/bench/market_batch_baseline.sql),
--              a PL/pgSQL implementation of the same rules that queries the book per
--              order and settles each fill at once;
--   floor      writing the candidate's resulting trades and order updates with one
--              set-based INSERT and one UPDATE (no matching, no settlement).
-- The baseline grows quadratically with the batch (see doc/performance.md), so candidate
-- and baseline are compared on the first BENCH_BASELINE_ORDERS (default 20,000) orders of
-- the queue; the candidate and the floor then run on all of it.  Every run is its own
-- transaction on the same queue, rolled back; timed in the server.  On the common prefix
-- the candidate's and the baseline's trades, order states and account balances must be
-- identical, and verify_ledger() clean after each run: the benchmark fails otherwise.
-- The candidate settles each batch in one registry posting (统一交收, carbonmkt.settle_batch):
-- one journal row per hold it spends or releases and one per receiving account and asset.
-- Prints orders/s and the ratios; targets: candidate >= 20x the baseline, <= 2x the floor.
\set ON_ERROR_STOP on
\set QUIET on
\getenv orders BENCH_ORDERS
\if :{?orders}
\else
\set orders 100000
\endif
\getenv base_orders BENCH_BASELINE_ORDERS
\if :{?base_orders}
\else
\set base_orders 20000
\endif
\set units 2000
\set market_bench_include 1
\timing off
SET client_min_messages = warning;
\ir market_batch_baseline.sql
SET search_path = carbonmkt, bench, public;
SET carbonmkt.clock = '2025-06-03 10:00:00+08';

\echo '-- setup:' :units 'key emitting units, each 200,000 t of CEA 2024 and 10,000,000 CNY; product CEA2024'
SELECT clock_timestamp() AS t0 \gset
SET bench.units = :units;
DO $$
DECLARE
    ex  bigint;
    p   bigint;
    c17 text;
BEGIN
    ex := register_participant('Bench exchange', 'exchange', '9131000000BEN0000' || credit_code_check_char('9131000000BEN0000'));
    PERFORM list_product('CEA2024', 60.00, open_account(ex, 'clearing'));
    PERFORM issue_cea(1, 2024, 1000000000);
    FOR i IN 1..current_setting('bench.units')::int LOOP
        c17 := '9144030000BEN' || lpad(i::text, 4, '0');
        p := register_participant('Bench unit ' || i, 'key_emitter', c17 || credit_code_check_char(c17), '440000', '440300', 'power');
        PERFORM transfer_cea(1, open_account(p, 'holding'), 2024, 200000), deposit_cny(open_account(p, 'cash'), 1000000000);
    END LOOP;
END $$;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 1) AS setup_s;

\echo '-- queue_order x' :orders 'from carbonmkt-load (src/cli/README.md): 2 connections, pipeline, seed 2024'
-- All crossing: buys at or above the centre 60.00, sells at or below it, within 1% (59.40 to
-- 60.60); lots uniform in 1..100 t; 2% name a queued order of the other side to take (摘牌) at its
-- price; the 2,000 key emitting units (the tool's participants query).
SELECT clock_timestamp() AS t0 \gset
\setenv BENCH_LOAD_ORDERS :orders
\! src/cli/carbonmkt-load -q -c 2 --pipeline -n "$BENCH_LOAD_ORDERS" -s 2024 --mode queue --price-center 60.00 --spread 1 --aggressive-share 1 --lot-range 1-100 --take-share 0.02 --set 'carbonmkt.clock=2025-06-03 10:00:00+08'
SELECT count(*) AS queued, round(count(*) / extract(epoch FROM clock_timestamp() - :'t0')::numeric) AS queue_orders_per_s
  FROM market_order WHERE status = 'queued' \gset
\echo '   queued:' :queued ', queue_order calls per s (client included):' :queue_orders_per_s
SELECT :queued = :orders AS queue_ok \gset
\if :queue_ok
\else
\warn 'market_batch: carbonmkt-load did not queue every order (its summary line is above)'
\quit 1
\endif
VACUUM ANALYZE;
CHECKPOINT;

CREATE TABLE bench_result (side text, ms float8, orders bigint, trades bigint, registry_calls bigint,
                           load_ms float8, match_ms float8, write_ms float8, settle_ms float8, journal_rows bigint);
CREATE TABLE bench_trades (LIKE carbonmkt.trade);
CREATE TABLE bench_orders (LIKE carbonmkt.market_order);
CREATE TABLE bench_balances (account_id bigint, instrument carbonmkt.instrument, vintage int, balance bigint, held bigint);
-- results survive the rollbacks through files

\echo '-- candidate on the first' :base_orders 'orders: the C engine (carbonmkt._process_queue)'
BEGIN;
SELECT clock_timestamp() AS t0 \gset
SET LOCAL carbonmkt.acting_room = 'market';  -- what CALL process_queue() sets
SELECT coalesce(max(entry_id), 0) AS e0 FROM carbonmkt.journal \gset
CREATE TEMP TABLE r AS SELECT * FROM carbonmkt._process_queue(1, :base_orders);
ALTER TABLE r ADD COLUMN ms float8, ADD COLUMN journal_rows bigint;
UPDATE r SET ms = extract(epoch FROM clock_timestamp() - :'t0') * 1000,
             journal_rows = (SELECT count(*) FROM carbonmkt.journal WHERE entry_id > :e0);
SELECT count(*) AS problems FROM verify_ledger() \gset
\copy (SELECT * FROM carbonmkt.trade ORDER BY trade_id) TO '/tmp/carbonmkt_bench_market_trades.copy'
\copy (SELECT * FROM carbonmkt.market_order ORDER BY order_id) TO '/tmp/carbonmkt_bench_market_orders.copy'
\copy (SELECT account_id, instrument, vintage, balance, held FROM carbonmkt.holding) TO '/tmp/carbonmkt_bench_market_balances.copy'
\copy (SELECT 'candidate (prefix)', ms, orders, trades, registry_calls, load_ms, match_ms, write_ms, settle_ms, journal_rows FROM r) TO '/tmp/carbonmkt_bench_market_result.copy'
ROLLBACK;
\copy bench_trades FROM '/tmp/carbonmkt_bench_market_trades.copy'
\copy bench_orders FROM '/tmp/carbonmkt_bench_market_orders.copy'
\copy bench_balances FROM '/tmp/carbonmkt_bench_market_balances.copy'
\copy bench_result FROM '/tmp/carbonmkt_bench_market_result.copy'
SELECT :problems = 0 AS clean \gset
\if :clean
\else
\warn 'market_batch: verify_ledger() found problems after the candidate'
\quit 1
\endif

\echo '-- baseline on the same' :base_orders 'orders: PL/pgSQL (bench.plpgsql_process_queue)'
CHECKPOINT;
BEGIN;
SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE r AS SELECT * FROM bench.plpgsql_process_queue(1, :base_orders);
SELECT extract(epoch FROM clock_timestamp() - :'t0') * 1000 AS ms \gset
SELECT orders AS b_orders, trades AS b_trades, registry_calls AS b_calls, settle_ms AS b_settle_ms FROM r \gset
-- the baseline must agree with the candidate, trade by trade, order by order, account by account
SELECT
  (SELECT count(*) FROM (SELECT row_number() OVER (ORDER BY trade_id) AS n, price_fen, quantity, buy_order_id, sell_order_id,
                                buyer_fee_fen, seller_fee_fen, aggressor FROM carbonmkt.trade
                         EXCEPT
                         SELECT row_number() OVER (ORDER BY trade_id), price_fen, quantity, buy_order_id, sell_order_id,
                                buyer_fee_fen, seller_fee_fen, aggressor FROM bench_trades) x) AS trades_differing,
  (SELECT count(*) FROM carbonmkt.trade) - (SELECT count(*) FROM bench_trades) AS trade_count_difference,
  (SELECT count(*) FROM (SELECT order_id, status, remaining, priority, hold_left, filled_notional, fees_fen, end_reason
                           FROM carbonmkt.market_order
                         EXCEPT
                         SELECT order_id, status, remaining, priority, hold_left, filled_notional, fees_fen, end_reason
                           FROM bench_orders) x) AS orders_differing,
  (SELECT count(*) FROM (SELECT account_id, instrument, vintage, balance, held FROM carbonmkt.holding
                         EXCEPT
                         SELECT * FROM bench_balances) x) AS balances_differing,
  (SELECT count(*) FROM verify_ledger()) AS baseline_problems
\gset
ROLLBACK;
INSERT INTO bench_result (side, ms, orders, trades, registry_calls, settle_ms)
VALUES ('baseline (prefix)', :ms, :b_orders, :b_trades, :b_calls, :b_settle_ms);
\echo '   trades differing:' :trades_differing ', trade count difference:' :trade_count_difference ', orders differing:' :orders_differing ', balances differing:' :balances_differing ', baseline ledger problems:' :baseline_problems
SELECT :trades_differing = 0 AND :trade_count_difference = 0 AND :orders_differing = 0 AND :balances_differing = 0
       AND :baseline_problems = 0 AS same_result \gset
\if :same_result
\else
\warn 'market_batch: the PL/pgSQL baseline and the C engine disagree (or the ledger does not verify)'
\quit 1
\endif

\echo '-- candidate on all' :orders 'orders'
CHECKPOINT;
BEGIN;
SELECT clock_timestamp() AS t0 \gset
SET LOCAL carbonmkt.acting_room = 'market';  -- what CALL process_queue() sets
SELECT coalesce(max(entry_id), 0) AS e0 FROM carbonmkt.journal \gset
CREATE TEMP TABLE r AS SELECT * FROM carbonmkt._process_queue(1, NULL);
ALTER TABLE r ADD COLUMN ms float8, ADD COLUMN journal_rows bigint;
UPDATE r SET ms = extract(epoch FROM clock_timestamp() - :'t0') * 1000,
             journal_rows = (SELECT count(*) FROM carbonmkt.journal WHERE entry_id > :e0);
SELECT count(*) AS problems FROM verify_ledger() \gset
\copy (SELECT * FROM carbonmkt.trade ORDER BY trade_id) TO '/tmp/carbonmkt_bench_market_trades.copy'
\copy (SELECT * FROM carbonmkt.market_order ORDER BY order_id) TO '/tmp/carbonmkt_bench_market_orders.copy'
\copy (SELECT 'candidate', ms, orders, trades, registry_calls, load_ms, match_ms, write_ms, settle_ms, journal_rows FROM r) TO '/tmp/carbonmkt_bench_market_result.copy'
ROLLBACK;
TRUNCATE bench_trades, bench_orders;
\copy bench_trades FROM '/tmp/carbonmkt_bench_market_trades.copy'
\copy bench_orders FROM '/tmp/carbonmkt_bench_market_orders.copy'
\copy bench_result FROM '/tmp/carbonmkt_bench_market_result.copy'
SELECT :problems = 0 AS clean \gset
\if :clean
\else
\warn 'market_batch: verify_ledger() found problems after the candidate'
\quit 1
\endif

\echo '-- floor: the same trades and order updates, one INSERT and one UPDATE'
CHECKPOINT;
BEGIN;
SELECT clock_timestamp() AS t0 \gset
INSERT INTO carbonmkt.trade (product_id, mode, business_date, executed_at, price_fen, quantity, buy_order_id, sell_order_id,
                             buyer_id, seller_id, buyer_fee_fen, seller_fee_fen, aggressor)
SELECT product_id, mode, business_date, executed_at, price_fen, quantity, buy_order_id, sell_order_id,
       buyer_id, seller_id, buyer_fee_fen, seller_fee_fen, aggressor
  FROM bench_trades ORDER BY trade_id;
UPDATE carbonmkt.market_order o
   SET remaining = b.remaining, status = b.status, priority = b.priority, hold_left = b.hold_left,
       filled_notional = b.filled_notional, fees_fen = b.fees_fen, ended_at = b.ended_at, end_reason = b.end_reason
  FROM bench_orders b
 WHERE o.order_id = b.order_id AND (o.status, o.remaining, o.priority) IS DISTINCT FROM (b.status, b.remaining, b.priority);
SELECT extract(epoch FROM clock_timestamp() - :'t0') * 1000 AS floor_ms \gset
ROLLBACK;
INSERT INTO bench_result (side, ms, trades) VALUES ('floor', :floor_ms, (SELECT count(*) FROM bench_trades));

\echo
\echo '-- results (ms of server time; phases of the C engine from _process_queue)'
SELECT side, round(ms) AS ms, orders, trades, registry_calls,
       round(orders / (ms / 1000)) AS orders_per_s,
       round(load_ms::numeric, 1) AS load_ms, round(match_ms::numeric, 1) AS match_ms,
       round(write_ms::numeric) AS write_ms, round(settle_ms::numeric) AS settle_ms
  FROM bench_result ORDER BY orders, side DESC;
WITH c AS (SELECT * FROM bench_result WHERE side = 'candidate (prefix)'),
     b AS (SELECT * FROM bench_result WHERE side = 'baseline (prefix)'),
     a AS (SELECT * FROM bench_result WHERE side = 'candidate'),
     f AS (SELECT * FROM bench_result WHERE side = 'floor')
SELECT format('ratio baseline/candidate %s (target >= 20) %s   [%s orders]', round((b.ms / c.ms)::numeric, 2),
              CASE WHEN b.ms / c.ms >= 20 THEN 'ok' ELSE 'MISSED' END, c.orders) AS ratio
  FROM b, c
UNION ALL
SELECT format('ratio candidate/floor %s (target <= 2.00) %s   [%s orders]', round((a.ms / f.ms)::numeric, 2),
              CASE WHEN a.ms / f.ms <= 2 THEN 'ok' ELSE 'MISSED' END, a.orders)
  FROM a, f
UNION ALL
-- without the registry's settlement, which both sides call (the baseline per fill, the engine per hold and account)
SELECT format('without settlement (matching and writing only): baseline/candidate %s, candidate/floor %s',
              round(((b.ms - b.settle_ms) / (c.ms - c.settle_ms))::numeric, 1),
              round(((a.ms - a.settle_ms) / f.ms)::numeric, 2))
  FROM a, b, c, f
UNION ALL
-- the candidate settles a batch in one registry call (统一交收, carbonmkt.settle_batch): its cost is per journal row
SELECT format('settlement: candidate %s registry call(s), %s journal rows (%s per order), %s µs per journal row; baseline %s registry calls per order, %s µs per call',
              a.registry_calls, a.journal_rows, round(a.journal_rows::numeric / a.orders, 2),
              round((a.settle_ms * 1000 / nullif(a.journal_rows, 0))::numeric, 1),
              round(b.registry_calls::numeric / b.orders, 2), round((b.settle_ms * 1000 / b.registry_calls)::numeric))
  FROM a, b;
\! rm -f /tmp/carbonmkt_bench_market_*.copy
