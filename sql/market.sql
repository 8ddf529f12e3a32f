-- Market: products, calendar and sessions, listed agreement (continuous matching in C,
-- 摘牌, self-trade prevention, fees, DvP settlement through the registry), the queue
-- procedure, cancel, end of day, block agreement, one-way bidding, market data.
-- Every rule is tested with the numbers of RULES.md 5; every error shows that nothing
-- was held or moved.  Runs in its own database so that ids are deterministic.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_market;
DROP ROLE IF EXISTS regress_mkt_bidder;
CREATE DATABASE regress_market;
\c regress_market
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
SET search_path = carbonmkt, public;
SET datestyle = 'ISO, YMD';
\set VERBOSITY default

-- helper: SQLSTATE and message of an expected error
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- helper: SQLSTATE, message and detail of an expected error
CREATE FUNCTION pg_temp.errd(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  d text;
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
  RETURN SQLSTATE || ': ' || SQLERRM || coalesce(E'\n  DETAIL: ' || nullif(d, ''), '');
END $$;
-- helper: what the ledger and the market hold, to show that a refused order changes nothing
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
  SELECT format('postings %s, journal %s, active holds %s, held %s, orders %s, trades %s',
                (SELECT count(*) FROM carbonmkt.posting), (SELECT count(*) FROM carbonmkt.journal),
                (SELECT count(*) FROM carbonmkt.hold WHERE status = 'active'),
                (SELECT coalesce(sum(held), 0) FROM carbonmkt.holding),
                (SELECT count(*) FROM carbonmkt.market_order), (SELECT count(*) FROM carbonmkt.trade)) $$;
CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;
CREATE TEMP VIEW orders AS
SELECT order_id AS id, mode, side, participant_id AS pid, quantity AS qty, remaining AS rem, price_fen AS px,
       status, priority AS prio, hold_left, filled_notional AS notional, fees_fen AS fees, end_reason
  FROM carbonmkt.market_order ORDER BY order_id;
CREATE TEMP VIEW trades AS
SELECT trade_id AS id, mode, business_date, price_fen AS px, quantity AS qty, buy_order_id AS buy, sell_order_id AS sell,
       buyer_id AS buyer, seller_id AS seller, buyer_fee_fen AS bfee, seller_fee_fen AS sfee, aggressor
  FROM carbonmkt.trade ORDER BY trade_id;
CREATE TEMP VIEW bal AS
SELECT account_id AS acct, asset, balance, held, available FROM carbonmkt.account_balance
 WHERE account_id > 3 ORDER BY account_id, asset;

-- Rules, calendar, sessions (national defaults of RULES.md 5) ---------------------
SELECT mode, valid_from, min_quantity, below_quantity, lot, tick_fen, band, fee_rate, clearing_rule, same_day_resale
  FROM market_rule ORDER BY mode;
SELECT mode, opens, closes FROM market_session ORDER BY mode, opens;
SELECT participant_kind, may_trade, may_announce, max_position FROM trader_rule ORDER BY 1;
SELECT d, is_trading_day(d) FROM (VALUES (date '2025-04-01'), ('2025-04-04'), ('2025-04-05'), ('2025-05-01'),
                                         ('2025-05-06'), ('2025-10-08'), ('2025-10-09')) v(d);
SELECT sessions_text('listed', '2025-04-01'), sessions_text('block', '2025-04-01');
SELECT fee_fen(7295000, 0.0005) AS half_fen_rounds_up, fee_fen(100, 0.0005) AS rounds_to_zero;

-- Parties and accounts (the registry's functions) -----------------------------------
SET carbonmkt.clock = '2025-04-01 09:00:00+08';
SELECT register_participant('Ministry of Ecology and Environment', 'national_authority', pg_temp.uscc('11100000MB0134256')) AS mee,   -- 1
       register_participant('Guangdong Department of Ecology and Environment', 'provincial_authority',
                            pg_temp.uscc('11440000MB2C9251X'), '440000') AS gd,                                                     -- 2
       register_participant('Shanghai Environment and Energy Exchange', 'exchange', pg_temp.uscc('91310000MA1FL1MM6'), '310000') AS sh, -- 3
       register_participant('Guangdong Huarun Power Unit 1', 'key_emitter', pg_temp.uscc('91440300MA5F00001'),
                            '440000', '440300', 'power') AS u1,                                                                     -- 4
       register_participant('Guangdong Yuedian Power Unit 2', 'key_emitter', pg_temp.uscc('91440100MA5F00002'),
                            '440000', '440100', 'power') AS u2,                                                                     -- 5
       register_participant('Everbright Carbon Fund', 'institution', pg_temp.uscc('91110000MA01ABCD3'), '110000') AS fund,           -- 6
       register_participant('Zhang San', 'individual', pg_temp.uscc('91110000MA01ABCD4')) AS person,                                -- 7
       register_participant('Verifier Co', 'service_firm', pg_temp.uscc('91110000MA01ABCD5')) AS verifier;                          -- 8
SELECT open_account(2, 'allocation') AS gd_alloc,  -- 3
       open_account(3, 'clearing') AS clr2024,     -- 4
       open_account(3, 'clearing') AS clr2025,     -- 5
       open_account(4, 'holding') AS u1,           -- 6
       open_account(4, 'cash') AS u1_cash,         -- 7
       open_account(5, 'holding') AS u2,           -- 8
       open_account(5, 'cash') AS u2_cash,         -- 9
       open_account(6, 'holding') AS fund,         -- 10
       open_account(6, 'cash') AS fund_cash,       -- 11
       open_account(7, 'holding') AS person,       -- 12
       open_account(7, 'cash') AS person_cash,     -- 13
       open_account(8, 'holding') AS verifier,     -- 14
       open_account(8, 'cash') AS verifier_cash,   -- 15
       open_account(1, 'cash') AS mee_cash;        -- 16
-- the exchange's fees are in no source (doc/rules.md): the exchange (participant 3) fills test
-- values through amend_rule, 0.05% per side (block 0.025%)
SELECT count(amend_rule('market_rule', jsonb_build_object('jurisdiction', r.jurisdiction, 'mode', r.mode, 'valid_from', r.valid_from),
                        jsonb_build_object('fee_rate', CASE r.mode WHEN 'block' THEN 0.00025 ELSE 0.0005 END),
                        'test fixture: fees no source gives, 0.05% per side (block 0.025%)', acting_for => 3)) AS fees_filled
  FROM market_rule r WHERE r.jurisdiction = 'CN' AND r.fee_rate IS NULL;
SELECT mode, valid_from, fee_rate FROM market_rule ORDER BY mode;
SELECT issue_cea(3, 2024, 1000000) IS NOT NULL AS issued_2024, issue_cea(3, 2025, 1000000) IS NOT NULL AS issued_2025,
       issue_cea(1, 2024, 500000) IS NOT NULL AS reserve_2024,
       transfer_cea(3, 6, 2024, 300000) IS NOT NULL AS u1_2024, transfer_cea(3, 8, 2024, 300000) IS NOT NULL AS u2_2024,
       transfer_cea(3, 6, 2025, 100000) IS NOT NULL AS u1_2025, transfer_cea(3, 10, 2024, 1000) IS NOT NULL AS fund_2024,
       deposit_cny(7, 1000000000) IS NOT NULL AS u1_10m_cny, deposit_cny(9, 500000000) IS NOT NULL AS u2_5m_cny,
       deposit_cny(11, 2000000000) IS NOT NULL AS fund_20m_cny, deposit_cny(13, 500000000) IS NOT NULL AS person_5m_cny,
       deposit_cny(15, 100000000) IS NOT NULL AS verifier_1m_cny;

-- Products ---------------------------------------------------------------------------
SELECT list_product('CEA2024', 60.00, 4) AS cea2024, list_product('cea2025', 60.00, 5) AS cea2025;
SELECT product_id, code, instrument, vintage, project, reference_price_fen, clearing_account FROM product ORDER BY 1;
SELECT pg_temp.err($$SELECT list_product('CEA2026', 60.00, 6)$$) AS not_clearing;
SELECT pg_temp.err($$SELECT list_product('CEA2026', 60.005, 4)$$) AS off_tick;
SELECT pg_temp.err($$SELECT list_product('X1', 60.00, 4)$$) AS no_vintage;

-- Listed agreement: sessions ----------------------------------------------------------
SELECT pg_temp.state() AS before_refusals \gset
SET carbonmkt.clock = '2025-04-01 09:29:59+08';
SELECT pg_temp.errd($$SELECT submit_order('CEA2024', 'sell', 100, 60.00, acting_for => 4)$$) AS before_open;
SET carbonmkt.clock = '2025-04-01 11:30:00+08';
SELECT pg_temp.errd($$SELECT submit_order('CEA2024', 'sell', 100, 60.00, acting_for => 4)$$) AS at_1130;
SET carbonmkt.clock = '2025-04-01 12:59:59+08';
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'sell', 100, 60.00, acting_for => 4)$$) AS lunch;
SET carbonmkt.clock = '2025-04-01 15:00:00+08';
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'sell', 100, 60.00, acting_for => 4)$$) AS at_1500;
SET carbonmkt.clock = '2025-04-04 10:00:00+08';
SELECT pg_temp.errd($$SELECT submit_order('CEA2024', 'sell', 100, 60.00, acting_for => 4)$$) AS qingming;
SET carbonmkt.clock = '2025-04-05 10:00:00+08';
SELECT pg_temp.errd($$SELECT submit_order('CEA2024', 'sell', 100, 60.00, acting_for => 4)$$) AS saturday;

-- Listed agreement: bad input, each refused with nothing held or moved ------------------
SET carbonmkt.clock = '2025-04-01 09:30:00+08';
SELECT pg_temp.errd($$SELECT submit_order('CEA2024', 'buy', 100, 60.005, acting_for => 6)$$) AS off_tick;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'buy', 100, 0, acting_for => 6)$$) AS zero_price;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'buy', 100, NULL, acting_for => 6)$$) AS null_price;
SELECT pg_temp.errd($$SELECT submit_order('CEA2024', 'buy', 100, 66.01, acting_for => 6)$$) AS above_band;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'sell', 100, 53.99, acting_for => 4)$$) AS below_band;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'sell', 100000, 60.00, acting_for => 4)$$) AS block_size;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'sell', 0, 60.00, acting_for => 4)$$) AS zero_quantity;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'sell', -5, 60.00, acting_for => 4)$$) AS negative_quantity;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'hold', 100, 60.00, acting_for => 4)$$) AS bad_side;
SELECT pg_temp.err($$SELECT submit_order('CEA2099', 'sell', 100, 60.00, acting_for => 4)$$) AS unknown_product;
SELECT pg_temp.errd($$SELECT submit_order('CEA2024', 'sell', 300001, 60.00, acting_for => 4)$$) AS too_large;
SELECT pg_temp.errd($$SELECT submit_order('CEA2024', 'sell', 1, 60.00, acting_for => 7)$$) AS no_allowances;
SELECT pg_temp.errd($$SELECT submit_order('CEA2024', 'sell', 1001, 60.00, acting_for => 6)$$) AS insufficient_allowances;
SELECT pg_temp.errd($$SELECT submit_order('CEA2024', 'buy', 99999, 60.00, acting_for => 5)$$) AS insufficient_cash;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'buy', 100, 60.00, acting_for => 8)$$) AS service_firm;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'buy', 100, 60.00, acting_for => 99)$$) AS unknown_participant;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'buy', 100, 60.00)$$) AS superuser_without_participant;
SELECT pg_temp.state() = :'before_refusals' AS nothing_held_or_moved;

-- the band edges are inside: ±10% of the previous close 60.00 (the reference price)
SELECT submit_order('CEA2024', 'sell', 100, 66.00, acting_for => 4) AS s_at_upper_edge;      -- 1
SELECT submit_order('CEA2024', 'buy', 100, 54.00, acting_for => 6) AS b_at_lower_edge;       -- 2
SELECT * FROM orders;
SELECT acct, asset, balance, held, available FROM bal WHERE acct IN (6, 11);

-- Price-time priority, partial fills, fees, DvP ------------------------------------------
SELECT submit_order('CEA2024', 'sell', 1000, 61.00, acting_for => 4) AS s_61_u1;   -- 3
SELECT submit_order('CEA2024', 'sell', 500, 60.50, acting_for => 5) AS s_6050_u2;  -- 4
SELECT submit_order('CEA2024', 'sell', 400, 61.00, acting_for => 5) AS s_61_u2;    -- 5
SELECT * FROM order_book('CEA2024');
-- a buy of 1,200 t at 61.00 takes the best price first (60.50), then 61.00 in time order (order 3 before 5)
SELECT submit_order('CEA2024', 'buy', 1200, 61.00, acting_for => 6) AS b_1200;    -- 6
SELECT * FROM trades;
SELECT * FROM orders WHERE id >= 3;
-- fees: 0.05% of the value per side, rounded half up; each order's fees = fee of its total value
SELECT o.id, o.notional, o.fees, fee_fen(o.notional, 0.0005) AS fee_of_total FROM orders o WHERE o.id IN (3, 4, 6);
-- the buyer's hold was 1,200 t x 61.00 + fee = 73,236.60 CNY; it paid 72,950.00 + 36.48 and the rest was released
SELECT hold_id, account_id, quantity, remaining, status FROM hold WHERE hold_id = (SELECT hold_id FROM market_order WHERE order_id = 6);
-- delivery versus payment in one registry posting (统一交收, carbonmkt.settle_batch): one journal row
-- per hold (sellers' holds 3 and 4 deliver 700 t and 500 t; the buyer's hold 6 pays value + its fee and
-- releases the rest), one per receiving account (the buyer's 1,200 t, each seller value - its fee,
-- the clearing account both fees)
SELECT * FROM bal;
SELECT j.account_id, j.kind, j.instrument, j.amount, j.held_change, j.counterparty, j.hold_id, j.memo
  FROM journal j JOIN posting p USING (posting_id)
 WHERE p.posting_id > (SELECT max(posting_id) FROM posting WHERE operation = 'hold' AND result = (SELECT hold_id FROM market_order WHERE order_id = 6))
 ORDER BY j.entry_id;
SELECT sum(buyer_fee_fen + seller_fee_fen) AS fees_fen FROM trade;
SELECT * FROM verify_ledger();

-- Self-trade prevention: a resting order of the same participant that would trade is
-- cancelled (its hold released) and matching goes on.  U1 rests 200 t at 60.80 and still
-- has 300 t at 61.00 (order 3); its buy of 300 t at 61.00 cancels both and buys from U2.
SELECT submit_order('CEA2024', 'sell', 200, 60.80, acting_for => 4) AS u1_rests_6080;  -- 7
SELECT submit_order('CEA2024', 'buy', 300, 61.00, acting_for => 4) AS u1_buys;        -- 8
SELECT * FROM orders WHERE id IN (3, 5, 7, 8);
SELECT * FROM trades WHERE id > 2;

-- 摘牌: take a named listing, at its price, even when a better one exists -------------------
SELECT submit_order('CEA2024', 'sell', 300, 60.20, acting_for => 5) AS best_offer;   -- 9
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'buy', 100, 61.00, take_order_id => 5, acting_for => 5)$$) AS take_own;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'buy', 100, 60.90, take_order_id => 5, acting_for => 6)$$) AS limit_below_listing;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'sell', 100, 60.00, take_order_id => 5, acting_for => 4)$$) AS same_side;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'buy', 100, 61.00, take_order_id => 4, acting_for => 6)$$) AS listing_filled;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'buy', 100, 61.00, take_order_id => 7, acting_for => 6)$$) AS listing_cancelled;
SELECT pg_temp.err($$SELECT submit_order('CEA2025', 'buy', 100, 61.00, take_order_id => 5, acting_for => 6)$$) AS other_product;
-- order 5 (100 t left at 61.00) is taken for 150 t: 100 t trade at 61.00, the rest is cancelled;
-- the better offer at 60.20 (order 9) is not touched
SELECT submit_order('CEA2024', 'buy', 150, 61.00, take_order_id => 5, acting_for => 6) AS taker;  -- 10
SELECT * FROM orders WHERE id IN (5, 9, 10);
SELECT * FROM trades WHERE id > 3;

-- Idempotent client references --------------------------------------------------------------
SELECT submit_order('CEA2024', 'buy', 10, 55.00, reference => 'fund-0001', acting_for => 6) AS first_time;   -- 11
SELECT submit_order('CEA2024', 'buy', 10, 55.00, reference => 'fund-0001', acting_for => 6) AS resent;
SELECT submit_order('CEA2024', 'buy', 10, 55.0, reference => 'fund-0001', acting_for => 6) AS same_price_written_differently;
SELECT pg_temp.errd($$SELECT submit_order('CEA2024', 'buy', 11, 55.00, reference => 'fund-0001', acting_for => 6)$$) AS different_order;
SELECT count(*) AS orders_with_that_reference FROM market_order WHERE reference = 'fund-0001';

-- Cancel -----------------------------------------------------------------------------------
SELECT cancel_order(11, 'cancel-11');
SELECT cancel_order(11, 'cancel-11') AS repeated_with_same_reference;
SELECT pg_temp.err($$SELECT cancel_order(11)$$) AS again;
SELECT pg_temp.err($$SELECT cancel_order(6)$$) AS filled;
SELECT pg_temp.err($$SELECT cancel_order(999)$$) AS unknown;
SELECT id, status, rem, hold_left, end_reason FROM orders WHERE id = 11;
SELECT h.quantity, h.status, h.remaining FROM hold h JOIN market_order o USING (hold_id) WHERE o.order_id = 11;

-- T+1: units bought today are not resold today.  The fund held 1,000 t before today and
-- bought 1,300 t today (orders 6 and 10): it may sell 1,000 t, not 1,001 t.
SELECT available FROM bal WHERE acct = 10;
SELECT pg_temp.errd($$SELECT submit_order('CEA2024', 'sell', 1001, 66.00, acting_for => 6)$$) AS resale_today;
SELECT submit_order('CEA2024', 'sell', 1000, 66.00, acting_for => 6) AS old_units;   -- 12

-- Position limit: natural person 50,000 t (Beijing pilot, RULES.md 5): holding + open buys
SELECT submit_order('CEA2024', 'buy', 30000, 55.00, acting_for => 7) AS person_30000;   -- 13
SELECT pg_temp.errd($$SELECT submit_order('CEA2024', 'buy', 20001, 55.00, acting_for => 7)$$) AS person_over_limit;
SELECT submit_order('CEA2024', 'buy', 20000, 55.00, acting_for => 7) AS person_at_limit; -- 14

-- The queue: queue_order validates and holds; process_queue matches in order id sequence ------
SET carbonmkt.clock = '2025-04-01 13:05:00+08';
SELECT queue_order('CEA2025', 'sell', 500, 60.00, acting_for => 4) AS q1,   -- 15
       queue_order('CEA2025', 'buy', 200, 59.00, acting_for => 6) AS q2,    -- 16
       queue_order('CEA2025', 'buy', 300, 60.50, acting_for => 5) AS q3,    -- 17
       queue_order('CEA2025', 'buy', 400, 60.00, acting_for => 6) AS q4;    -- 18
SELECT pg_temp.err($$SELECT queue_order('CEA2025', 'buy', 100, 66.01, acting_for => 6)$$) AS queue_checks_too;
SELECT * FROM orders WHERE id >= 15;
SELECT pg_temp.err($$CALL process_queue('CEA2099')$$) AS unknown_product;
SELECT pg_temp.err($$CALL process_queue(max_orders => -1)$$) AS negative;
-- the first three: q1 rests, q2 rests below it, q3 buys 300 t of q1 at q1's price 60.00
CALL process_queue('CEA2025', 3);
SELECT * FROM orders WHERE id >= 15;
SELECT * FROM trades WHERE id > 4;
-- the rest: q4 buys q1's last 200 t and rests with 200 t
CALL process_queue();
SELECT * FROM orders WHERE id >= 15;
SELECT * FROM trades WHERE id > 5;
SELECT * FROM order_book('CEA2025');
SELECT * FROM order_book_depth ORDER BY product, side, level;
SELECT * FROM verify_ledger();

-- End of day: every live order expires and releases its hold; the close is the VWAP ---------
SELECT count(*) AS live_orders, count(*) FILTER (WHERE side = 'sell') AS sells, sum(hold_left) FILTER (WHERE side = 'sell') AS tonnes_held
  FROM market_order WHERE status IN ('queued', 'open');
SET carbonmkt.clock = '2025-04-01 15:30:00+08';
SELECT * FROM end_of_day();
SELECT * FROM end_of_day() AS idempotent;
SELECT count(*) AS live_orders, (SELECT count(*) FROM hold WHERE status = 'active') AS active_holds,
       (SELECT sum(held) FROM holding) AS held FROM market_order WHERE status IN ('queued', 'open');
SELECT DISTINCT end_reason FROM market_order WHERE status = 'expired';
-- the close is the VWAP of the day's listed trades: 97,350.00 CNY / 1,600 t = 60.84375 -> 60.84
SELECT sum(px * qty) AS value_fen, sum(qty) AS tonnes, round(sum(px::numeric * qty) / sum(qty)) AS vwap_fen
  FROM trades t JOIN market_order o ON o.order_id = t.buy WHERE o.product_id = 1 AND t.mode = 'listed';
SELECT * FROM market_close ORDER BY product;
SELECT * FROM market_daily ORDER BY product, mode;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'buy', 10, 60.00, acting_for => 6)$$) AS after_the_session;

-- The next trading day: the band moves to the new previous close 60.84 (54.76–66.92) -----------
SET carbonmkt.clock = '2025-04-02 10:00:00+08';
SELECT pg_temp.errd($$SELECT submit_order('CEA2024', 'buy', 10, 66.93, acting_for => 6)$$) AS above_new_band;
SELECT pg_temp.err($$SELECT submit_order('CEA2024', 'buy', 10, 54.75, acting_for => 6)$$) AS below_new_band;
SELECT submit_order('CEA2024', 'sell', 1300, 66.92, acting_for => 6) AS fund_sells_yesterdays_units;
SELECT business_date, prev_close_fen FROM product_day WHERE product_id = 1 ORDER BY 1;
-- Settlement of a batch: like a single order (above), one posting for the whole batch
-- (统一交收): three sells of unit 1 meet three buys of unit 2 at their limit; one journal row per
-- hold (all consumed: each buy held exactly value + fee, 600,300 fen) and one per receiving
-- account (unit 2's 300 t, unit 1's value - its fees, the clearing account both sides' fees):
-- 1 registry call.  _process_queue is internal: process_queue runs it as the market room, so
-- calling it directly needs the room set (carbonmkt.settle_batch refuses anyone else).
SELECT max(posting_id) AS p FROM posting \gset
SELECT queue_order('CEA2024', 'sell', 100, 60.00, acting_for => 4) FROM generate_series(1, 3);
SELECT queue_order('CEA2024', 'buy', 100, 60.00, acting_for => 5) FROM generate_series(1, 3);
SELECT max(posting_id) AS p FROM posting \gset
SELECT pg_temp.err($$SELECT _process_queue(1, NULL)$$) AS not_as_the_market_room;
SET carbonmkt.acting_room = 'market';
SELECT orders, trades, resting, ended, registry_calls, settlement FROM _process_queue(1, NULL);
RESET carbonmkt.acting_room;
SELECT j.account_id, j.kind, j.instrument, j.amount, j.held_change, j.counterparty, j.hold_id, j.memo FROM journal j
 WHERE j.posting_id > :p ORDER BY j.entry_id;
SELECT hold_id, quantity, remaining, status, ended_posting = :p + 1 AS ended_by_the_batch FROM hold
 WHERE hold_id IN (SELECT hold_id FROM market_order WHERE order_id BETWEEN 20 AND 25) ORDER BY hold_id;
SELECT * FROM verify_ledger();
-- the exchange closes CEA2025 early: no more orders in it today
SELECT * FROM end_of_day(product => 'CEA2025');
SELECT pg_temp.errd($$SELECT submit_order('CEA2025', 'buy', 10, 60.00, acting_for => 6)$$) AS product_closed;
SELECT closing_price('CEA2024', '2025-03-31') AS before_first_trade, closing_price('CEA2024', '2025-04-01') AS apr_1,
       closing_price('CEA2024', '2025-04-03') AS apr_3_carried, closing_price('CEA2025', '2025-04-01') AS cea2025_apr_1,
       closing_price('CEA2099', '2025-04-01') AS unknown;
-- the previous close for the clock's business date: the centre of today's band (carbonmkt-load uses it)
SELECT current_setting('carbonmkt.clock') AS clock, previous_close('CEA2024') AS cea2024, previous_close('CEA2099') AS unknown;
SELECT * FROM average_price('CEA2024', '2025-04-01', '2025-04-30');

-- Block agreement (大宗协议交易): >= 100,000 t, ±30% (60.84: 42.59–79.09), 13:00–15:00 --------
SELECT pg_temp.state() AS before_refusals \gset
SELECT pg_temp.errd($$SELECT propose_block('CEA2024', 'sell', 100000, 60.00, 6, acting_for => 4)$$) AS morning;
SET carbonmkt.clock = '2025-04-02 13:30:00+08';
SELECT pg_temp.errd($$SELECT propose_block('CEA2024', 'sell', 99999, 60.00, 6, acting_for => 4)$$) AS below_threshold;
SELECT pg_temp.errd($$SELECT propose_block('CEA2024', 'sell', 100000, 79.10, 6, acting_for => 4)$$) AS above_band;
SELECT pg_temp.err($$SELECT propose_block('CEA2024', 'sell', 100000, 42.58, 6, acting_for => 4)$$) AS below_band;
SELECT pg_temp.err($$SELECT propose_block('CEA2024', 'sell', 100000, 60.00, 4, acting_for => 4)$$) AS with_itself;
SELECT pg_temp.err($$SELECT propose_block('CEA2024', 'sell', 100000, 60.00, 8, acting_for => 4)$$) AS counterparty_may_not_trade;
SELECT pg_temp.err($$SELECT propose_block('CEA2024', 'sell', 100000, 60.00, 99, acting_for => 4)$$) AS unknown_counterparty;
SELECT pg_temp.errd($$SELECT propose_block('CEA2024', 'sell', 300001, 60.00, 6, acting_for => 4)$$) AS more_than_held;
SELECT pg_temp.state() = :'before_refusals' AS nothing_held_or_moved;
SELECT propose_block('CEA2024', 'sell', 150000, 79.09, 6, acting_for => 4) AS deal \gset
SELECT :deal AS deal_at_upper_edge;
SELECT pg_temp.err($$SELECT accept_block(1)$$) AS not_confirmed;
SELECT pg_temp.err($$SELECT confirm_block(1, acting_for => 4)$$) AS proposer_confirms;
SELECT pg_temp.err($$SELECT confirm_block(1, acting_for => 5)$$) AS outsider_confirms;
SELECT pg_temp.err($$SELECT confirm_block(999, acting_for => 6)$$) AS unknown_deal;
SELECT confirm_block(:deal, acting_for => 6) AS counter_order \gset
SELECT deal_id, proposer_order, proposer_id, counterparty_id, counter_order = :counter_order AS counter_order_ok, side,
       quantity, price_fen, status FROM block_deal;
SET carbonmkt.clock = '2025-04-02 15:00:00+08';
SELECT pg_temp.err($$SELECT accept_block(1)$$) AS after_the_session;
SET carbonmkt.clock = '2025-04-02 14:59:00+08';
SELECT accept_block(:deal) AS block_trade \gset
SELECT * FROM trades WHERE id = :block_trade;
SELECT o.* FROM orders o JOIN block_deal d ON o.id IN (d.proposer_order, d.counter_order) WHERE d.deal_id = :deal;
SELECT pg_temp.err($$SELECT accept_block(1)$$) AS twice;
SELECT pg_temp.err($$SELECT cancel_block(1)$$) AS cancel_accepted;
-- a second deal, declined by the counterparty: both holds released
SELECT propose_block('CEA2024', 'buy', 100000, 60.00, 5, acting_for => 6) AS deal \gset
SELECT confirm_block(:deal, acting_for => 5) IS NOT NULL AS confirmed;
SELECT pg_temp.err($$SELECT cancel_block(2, acting_for => 7)$$) AS outsider_cancels;
SELECT cancel_block(:deal, acting_for => 5);
SELECT o.id, o.side, o.pid, o.status, o.hold_left, o.end_reason, h.status AS hold_status
  FROM orders o JOIN block_deal d ON o.id IN (d.proposer_order, d.counter_order) JOIN hold h ON h.hold_id = (SELECT hold_id FROM market_order WHERE order_id = o.id)
 WHERE d.deal_id = :deal;
-- a third deal is left proposed: it expires at the end of the day
SELECT propose_block('CEA2024', 'sell', 100000, 61.00, 6, acting_for => 5) AS deal_3;
SELECT deal_id, status FROM block_deal ORDER BY 1;
SELECT * FROM verify_ledger();

-- One-way bidding (单向竞价) ----------------------------------------------------------------
-- the mode starts in June 2025 (market_rule: auction valid from 2025-06-01)
SELECT pg_temp.err($$SELECT announce_auction('CEA2024', 'sell', 100000, 60.00, '2025-04-02 14:59:30+08', '2025-04-02 15:30+08', acting_for => 1)$$) AS before_june_2025;
SET carbonmkt.clock = '2025-04-03 15:30:00+08';
SELECT * FROM end_of_day('2025-04-02');
SELECT deal_id, status FROM block_deal ORDER BY 1;
SELECT count(*) AS live_orders FROM market_order WHERE status IN ('queued', 'open');
-- the national authority sells 100,000 t of CEA 2024 from the national reserve (paid allocation)
SET carbonmkt.clock = '2025-06-03 14:00:00+08';
SELECT pg_temp.err($$SELECT announce_auction('CEA2024', 'sell', 100000, 60.00, '2025-06-03 14:10+08', '2025-06-03 14:00+08', acting_for => 1)$$) AS window_backwards;
SELECT pg_temp.err($$SELECT announce_auction('CEA2024', 'sell', 100000, 60.00, '2025-06-03 14:10+08', '2025-06-04 14:30+08', acting_for => 1)$$) AS two_days;
SELECT pg_temp.err($$SELECT announce_auction('CEA2024', 'sell', 100000, 60.00, '2025-06-03 13:00+08', '2025-06-03 13:30+08', acting_for => 1)$$) AS over;
SELECT pg_temp.err($$SELECT announce_auction('CEA2024', 'sell', 100000, 60.00, '2025-06-03 14:10+08', '2025-06-03 14:30+08', acting_for => 7)$$) AS individual_may_not_announce;
SELECT pg_temp.err($$SELECT announce_auction('CEA2024', 'sell', 500001, 60.00, '2025-06-03 14:10+08', '2025-06-03 14:30+08', acting_for => 1)$$) AS more_than_the_reserve;
SELECT announce_auction('CEA2024', 'sell', 100000, 60.00, '2025-06-03 14:10+08', '2025-06-03 14:30+08', acting_for => 1) AS auction \gset
SELECT auction_id, product_id, side, quantity, reserve_fen, clearing_rule, status FROM auction;
SELECT pg_temp.err($$SELECT bid_auction(1, 1000, 61.00, acting_for => 6)$$) AS before_window;
SET carbonmkt.clock = '2025-06-03 14:15:00+08';
SELECT pg_temp.err($$SELECT bid_auction(1, 1000, 59.99, acting_for => 6)$$) AS below_reserve;
SELECT pg_temp.err($$SELECT bid_auction(1, 1000, 60.001, acting_for => 6)$$) AS off_tick;
SELECT pg_temp.err($$SELECT bid_auction(1, 100001, 61.00, acting_for => 6)$$) AS more_than_the_lot;
SELECT pg_temp.err($$SELECT bid_auction(1, 1000, 61.00, acting_for => 1)$$) AS announcer_bids;
SELECT pg_temp.err($$SELECT bid_auction(9, 1000, 61.00, acting_for => 6)$$) AS unknown_auction;
SELECT pg_temp.err($$SELECT close_auction(1)$$) AS still_bidding;
SELECT bid_auction(:auction, 60000, 62.00, acting_for => 6) AS b1,    -- 60,000 t
       bid_auction(:auction, 30000, 61.00, acting_for => 5) AS b2,    -- 30,000 t
       bid_auction(:auction, 30000, 61.00, acting_for => 4) AS b3,    -- same price, later: the last 10,000 t
       bid_auction(:auction, 20000, 60.50, acting_for => 7) AS b4;    -- not allocated
SET carbonmkt.clock = '2025-06-03 14:30:00+08';
SELECT pg_temp.err($$SELECT bid_auction(1, 1000, 65.00, acting_for => 6)$$) AS after_window;
-- uniform price (market_rule): everyone allocated pays the marginal accepted bid, 61.00
SELECT * FROM close_auction(:auction);
SELECT auction_id, status, clearing_fen, allocated FROM auction;
SELECT * FROM trades WHERE mode = 'auction';
SELECT * FROM orders WHERE mode = 'auction';
SELECT account_id, asset, balance, held FROM account_balance WHERE account_id IN (1, 16) ORDER BY 1, 2;
SELECT pg_temp.err($$SELECT close_auction(1)$$) AS twice;
-- pay-as-bid from the rule table: the exchange ends the uniform-price rule today and sets a
-- pay-as-bid rule from 2025-06-04 (set_rule: a market rule takes effect after today)
SELECT retire_rule('market_rule', '{"jurisdiction": "CN", "mode": "auction", "valid_from": "2025-06-01"}',
                   'regression test: pay-as-bid clearing', last_day => '2025-06-03', acting_for => 3) ->> 'valid_until' AS uniform_until,
       set_rule('market_rule', '{"jurisdiction": "CN", "mode": "auction", "valid_from": "2025-06-04", "min_quantity": 1, "lot": 1,
                                 "tick_fen": 1, "fee_rate": 0.0005, "clearing_rule": "pay_as_bid"}',
                'regression test: pay-as-bid clearing', acting_for => 3) AS pay_as_bid_set;
SET carbonmkt.clock = '2025-06-04 10:00:00+08';
SELECT announce_auction('CEA2024', 'sell', 50000, 60.00, '2025-06-04 10:00+08', '2025-06-04 11:00+08', acting_for => 1) AS auction \gset
SELECT bid_auction(:auction, 30000, 63.00, acting_for => 6) AS b1,    -- 30,000 t at 63.00
       bid_auction(:auction, 30000, 62.00, acting_for => 5) AS b2;    -- 20,000 t at 62.00
SET carbonmkt.clock = '2025-06-04 11:00:00+08';
SELECT * FROM close_auction(:auction);
SELECT auction_id, status, clearing_rule, clearing_fen, allocated FROM auction WHERE auction_id = :auction;
SELECT * FROM trades WHERE mode = 'auction' AND business_date = '2025-06-04';
-- an auction cancelled by its announcer: lot and bids released
SELECT announce_auction('CEA2024', 'sell', 1000, 60.00, '2025-06-04 11:00+08', '2025-06-04 12:00+08', acting_for => 1) AS auction \gset
SET carbonmkt.clock = '2025-06-04 11:10:00+08';
SELECT bid_auction(:auction, 500, 60.00, acting_for => 6) AS bid \gset
SELECT pg_temp.err(format('SELECT cancel_order(%s)', (SELECT lot_order_id FROM auction WHERE auction_id = :auction))) AS cancel_lot_as_order;
SELECT cancel_auction(:auction);
SELECT status, hold_left, end_reason FROM market_order WHERE auction_id = :auction ORDER BY order_id;
-- a bid withdrawn before the close
SELECT announce_auction('CEA2024', 'sell', 1000, 60.00, '2025-06-04 11:10+08', '2025-06-04 12:00+08', acting_for => 1) AS auction \gset
SELECT bid_auction(:auction, 500, 60.00, acting_for => 6) AS bid \gset
SELECT cancel_order(:bid);
SELECT status, hold_left, end_reason FROM market_order WHERE order_id = :bid;
-- only the exchange or the announcer closes or cancels an auction: a bidder's login may not
CREATE ROLE regress_mkt_bidder LOGIN IN ROLE carbonmkt_participant;
SELECT map_login('regress_mkt_bidder', 6);
GRANT EXECUTE ON FUNCTION pg_temp.err(text) TO PUBLIC;
SET SESSION AUTHORIZATION regress_mkt_bidder;
SELECT pg_temp.err(format('SELECT carbonmkt.close_auction(%s)', :auction)) AS bidder_closes,
       pg_temp.err(format('SELECT carbonmkt.cancel_auction(%s)', :auction)) AS bidder_cancels;
RESET SESSION AUTHORIZATION;
SELECT status FROM auction WHERE auction_id = :auction;
-- an auction left open past its window is closed by end_of_day
SELECT bid_auction(:auction, 400, 60.10, acting_for => 5) AS late_bid;
SET carbonmkt.clock = '2025-06-04 15:30:00+08';
SELECT * FROM end_of_day();
SELECT auction_id, status, clearing_fen, allocated FROM auction ORDER BY 1;
SELECT * FROM market_daily ORDER BY business_date, product, mode;
SELECT * FROM market_close ORDER BY business_date, product;
SELECT pg_temp.err($$SELECT end_of_day('2025-06-09')$$) AS future;
SELECT * FROM verify_ledger();

-- Cash is conserved to the fen: deposits = Σ cash balances; the clearing accounts keep the
-- fees and no allowances; no hold is left
SELECT (SELECT sum(balance) FROM holding WHERE instrument = 'CNY') AS cash_fen,
       (SELECT sum(amount) FROM journal WHERE kind = 'issue' AND instrument = 'CNY') AS deposited_fen,
       (SELECT sum(balance) FROM holding WHERE instrument = 'CNY' AND account_id IN (4, 5)) AS clearing_fen,
       (SELECT sum(buyer_fee_fen + seller_fee_fen) FROM trade) AS fees_fen;
SELECT (SELECT count(*) FROM holding WHERE account_id IN (4, 5) AND instrument = 'CEA' AND balance <> 0) AS clearing_allowances,
       (SELECT count(*) FROM hold WHERE status = 'active') AS active_holds,
       (SELECT count(*) FROM market_order WHERE status IN ('queued', 'open')) AS live_orders;
-- every order's fees are the fee of its total value at its mode's rate
SELECT count(*) AS orders_with_wrong_fees FROM market_order o
 WHERE o.fees_fen <> fee_fen(o.filled_notional, (market_rule_at(o.mode, o.business_date)).fee_rate);
-- every trade: the buyer's order and the seller's order agree, each order's fills add up
SELECT count(*) AS orders_whose_fills_do_not_add_up FROM market_order o
 WHERE o.quantity - o.remaining <> coalesce((SELECT sum(t.quantity) FROM trade t WHERE o.order_id IN (t.buy_order_id, t.sell_order_id)), 0)
    OR o.filled_notional <> coalesce((SELECT sum(t.quantity * t.price_fen) FROM trade t WHERE o.order_id IN (t.buy_order_id, t.sell_order_id)), 0);
