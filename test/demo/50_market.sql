-- Demo, act 5: a trading day on the national exchange (全国碳排放权交易市场), Tuesday 2025-06-03.
-- The key emitting units of act 2 hold their 2024 pre-allocation.  The registry opens the
-- exchange's clearing account, the exchange lists CEA2024, 200 units get trading cash; then
-- the listed book (挂牌协议交易) with price-time priority, 摘牌 and refused orders, a batch of
-- 3,000 queued orders matched by the C engine, a block trade (大宗协议交易), a one-way
-- bidding auction of reserve allowances (单向竞价), the close and the day's statistics.
-- Everything settles delivery-versus-payment through the registry in the same transaction.
SET search_path = carbonmkt, public;
\set QUIET on
\pset footer off
SET carbonmkt.clock = '2025-06-03 09:00:00+08';

\echo
\echo '== 7. The market opens: clearing account, product CEA2024, trading cash'
SELECT participant_id AS exchange FROM participant WHERE kind = 'exchange' \gset
SELECT participant_id AS mee FROM participant WHERE kind = 'national_authority' \gset
SELECT list_product('CEA2024', 75.00, open_account(:exchange, 'clearing', 'SEEE clearing CEA2024')) AS product_id;
SELECT code, instrument, vintage, (reference_price_fen / 100.0)::numeric(14, 2) AS reference_price, clearing_account FROM product;
\echo '   The rules of the day (market_rule, market_session; RULES.md 5):'
SELECT mode, min_quantity, below_quantity, band, tick_fen, fee_rate, clearing_rule FROM market_rule ORDER BY mode;
SELECT mode, sessions_text(mode, '2025-06-03') AS sessions FROM (VALUES ('listed'::trade_mode), ('block')) m(mode);
-- units 0001..0200 trade today; each gets 20,000,000.00 CNY of trading cash (入金)
CREATE TEMP TABLE trader AS
SELECT row_number() OVER (ORDER BY p.participant_id)::int AS n, p.participant_id, a.account_id AS holding, a.account_id + 1 AS cash
  FROM participant p JOIN account a ON a.participant_id = p.participant_id AND a.kind = 'holding'
 WHERE p.kind = 'key_emitter' ORDER BY p.participant_id LIMIT 200;
SELECT count(deposit_cny(cash, 2000000000, 'market-cash-' || cash)) AS traders_funded FROM trader;
SELECT participant_id AS u2 FROM trader WHERE n = 2 \gset
SELECT participant_id AS u3 FROM trader WHERE n = 3 \gset
SELECT participant_id AS u4 FROM trader WHERE n = 4 \gset
SELECT participant_id AS u5 FROM trader WHERE n = 5 \gset
SELECT participant_id AS u6 FROM trader WHERE n = 6 \gset
SELECT participant_id AS u7 FROM trader WHERE n = 7 \gset

\echo
\echo '== 8. Listed agreement (挂牌协议交易), 09:30: quotes, price-time priority, 摘牌'
SET carbonmkt.clock = '2025-06-03 09:30:00+08';
SELECT submit_order('CEA2024', 'sell', 5000, 75.50, participant_id => :u2) AS u2_sells_5000_at_7550,
       submit_order('CEA2024', 'sell', 3000, 75.20, participant_id => :u3) AS u3_sells_3000_at_7520,
       submit_order('CEA2024', 'buy', 4000, 74.80, participant_id => :u4) AS u4_bids_4000_at_7480,
       submit_order('CEA2024', 'buy', 2000, 74.90, participant_id => :u5) AS u5_bids_2000_at_7490;
\echo '   The book, best five levels each side:'
SELECT * FROM order_book('CEA2024', 5);
\echo '   Unit 0006 buys 6,000 t up to 75.50: the best offer first, then the next:'
SELECT submit_order('CEA2024', 'buy', 6000, 75.50, participant_id => :u6) AS u6_order;
SELECT trade_id, price, quantity, value_cny, aggressor FROM market_trades ORDER BY trade_id;
\echo '   Unit 0007 takes (摘牌) Unit 0004''s bid of 74.80 by its order id, although 74.90 bids more:'
SELECT order_id AS u4_bid FROM market_order WHERE participant_id = :u4 \gset
SELECT submit_order('CEA2024', 'sell', 1000, 74.80, take_order_id => :u4_bid, participant_id => :u7) AS u7_order;
SELECT trade_id, price, quantity, value_cny, aggressor FROM market_trades ORDER BY trade_id DESC LIMIT 1;
\echo '   Delivery versus payment: Unit 0006 paid price + fee, Unit 0003 received price - fee; held cash released:'
SELECT t.n AS unit, b.asset, b.balance, b.held FROM trader t JOIN account_balance b ON b.account_id IN (t.holding, t.cash)
 WHERE t.n IN (3, 6) ORDER BY t.n, b.asset;
\echo '   Refused orders change nothing:'
DO $$
DECLARE
    u bigint := (SELECT participant_id FROM trader WHERE n = 8);
BEGIN
    BEGIN
        PERFORM submit_order('CEA2024', 'buy', 100, 83.00, participant_id => u);
    EXCEPTION WHEN others THEN RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
    END;
    BEGIN
        PERFORM submit_order('CEA2024', 'buy', 100, 75.005, participant_id => u);
    EXCEPTION WHEN others THEN RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
    END;
    BEGIN
        PERFORM submit_order('CEA2024', 'sell', 150000, 75.00, participant_id => u);
    EXCEPTION WHEN others THEN RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
    END;
    BEGIN
        PERFORM set_config('carbonmkt.clock', '2025-06-03 12:00:00+08', true);
        PERFORM submit_order('CEA2024', 'buy', 100, 75.00, participant_id => u);
    EXCEPTION WHEN others THEN RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
    END;
END $$;

\echo
\echo '== 9. A batch: 3,000 orders queued by 190 units, matched in sequence by the C engine'
SET carbonmkt.clock = '2025-06-03 10:30:00+08';
SELECT setseed(0.603);
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT g.i, t.participant_id AS p, g.side, g.q, g.px
               FROM (SELECT i, 11 + floor(random() * 190)::int AS n, CASE WHEN i % 2 = 0 THEN 'buy' ELSE 'sell' END AS side,
                            1 + floor(random() * 500)::bigint AS q,
                            round((CASE WHEN i % 2 = 0 THEN 75.20 ELSE 74.90 END + (random() - 0.5) * 1.2)::numeric, 2) AS px
                       FROM generate_series(1, 3000) i) g
               JOIN trader t USING (n) ORDER BY g.i
    LOOP
        PERFORM queue_order('CEA2024', r.side, r.q, r.px, reference => 'demo-q-' || r.i, participant_id => r.p);
    END LOOP;
END $$;
SELECT count(*) AS queued FROM market_order WHERE status = 'queued';
SELECT clock_timestamp() AS t0 \gset
CALL process_queue('CEA2024');
SELECT count(*) AS orders_processed, round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 1) AS seconds
  FROM market_order WHERE reference LIKE 'demo-q-%' AND status <> 'queued';
SELECT status, count(*) AS orders FROM market_order WHERE reference LIKE 'demo-q-%' GROUP BY 1 ORDER BY 1;
SELECT count(*) AS trades_so_far, sum(quantity) AS tonnes, min(price) AS low, max(price) AS high FROM market_trades;
\echo '   The book after the batch:'
SELECT * FROM order_book('CEA2024', 3);

\echo
\echo '== 10. Block agreement (大宗协议交易), 13:30: 150,000 t proposed, confirmed, accepted'
SET carbonmkt.clock = '2025-06-03 13:30:00+08';
SELECT t.participant_id AS seller, t.n AS seller_unit FROM trader t JOIN account_balance b ON b.account_id = t.holding
 ORDER BY b.available DESC LIMIT 1 \gset
SELECT participant_id AS buyer FROM trader WHERE n = 1 \gset
SELECT propose_block('CEA2024', 'sell', 150000, 76.00, :buyer, reference => 'block-0603-1', participant_id => :seller) AS deal \gset
SELECT confirm_block(:deal, participant_id => :buyer) IS NOT NULL AS confirmed_by_unit_0001;
SELECT accept_block(:deal) AS block_trade_id;
SELECT deal_id, quantity, (price_fen / 100.0)::numeric(14, 2) AS price, status FROM block_deal;
\echo '   A block below 100,000 t or outside ±30% is refused:'
DO $$
BEGIN
    BEGIN
        PERFORM propose_block('CEA2024', 'sell', 99999, 76.00, (SELECT participant_id FROM trader WHERE n = 1),
                              participant_id => (SELECT participant_id FROM trader WHERE n = 20));
    EXCEPTION WHEN others THEN RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
    END;
    BEGIN
        PERFORM propose_block('CEA2024', 'sell', 100000, 97.60, (SELECT participant_id FROM trader WHERE n = 1),
                              participant_id => (SELECT participant_id FROM trader WHERE n = 20));
    EXCEPTION WHEN others THEN RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
    END;
END $$;

\echo
\echo '== 11. One-way bidding (单向竞价), 14:00-14:30: 200,000 t from the national reserve (paid allocation)'
SET carbonmkt.clock = '2025-06-03 13:55:00+08';
SELECT issue_cea(1, 2024, 1000000, 'reserve-2024', 'national reserve for paid allocation') IS NOT NULL AS reserve_issued,
       open_account(:mee, 'cash', 'MEE auction proceeds') AS mee_cash;
SELECT announce_auction('CEA2024', 'sell', 200000, 74.00, '2025-06-03 14:00+08', '2025-06-03 14:30+08',
                        participant_id => :mee) AS auction \gset
SET carbonmkt.clock = '2025-06-03 14:10:00+08';
SELECT count(bid_auction(:auction, q, px, participant_id => (SELECT participant_id FROM trader WHERE n = u))) AS bids
  FROM (VALUES (21, 50000, 75.60), (22, 40000, 75.40), (23, 60000, 75.10), (24, 30000, 75.10),
               (25, 50000, 74.80), (26, 20000, 74.50), (27, 10000, 74.00)) b(u, q, px);
SET carbonmkt.clock = '2025-06-03 14:30:00+08';
\echo '   Allocated by price then time at one uniform price (market_rule: clearing_rule uniform):'
SELECT * FROM close_auction(:auction);
SELECT t.n AS unit, o.quantity AS bid_t, (o.price_fen / 100.0)::numeric(14, 2) AS bid, o.quantity - o.remaining AS allocated_t, o.status
  FROM market_order o JOIN trader t USING (participant_id) WHERE o.auction_id = :auction AND o.side = 'buy' ORDER BY o.priority;

\echo
\echo '== 12. The close, 15:00: live orders expire, the closing price is the VWAP of the listed trades'
SET carbonmkt.clock = '2025-06-03 15:00:00+08';
SELECT count(*) AS live_orders_before_close FROM market_order WHERE status IN ('queued', 'open');
SELECT * FROM end_of_day();
\echo '   The day''s market statistics (market_daily, market_close):'
SELECT product, mode, open, high, low, close, volume, turnover_cny, trades FROM market_daily ORDER BY mode;
SELECT product, business_date, previous_close, close, final FROM market_close;
SELECT count(*) AS live_orders, (SELECT count(*) FROM hold WHERE status = 'active') AS active_holds FROM market_order
 WHERE status IN ('queued', 'open');
\echo '   Cash is conserved to the fen; the clearing account keeps exactly the fees; the ledger verifies:'
SELECT (SELECT sum(balance) FROM holding WHERE instrument = 'CNY') = (SELECT sum(amount) FROM journal WHERE kind = 'issue' AND instrument = 'CNY')
       AS cash_conserved,
       ((SELECT sum(h.balance) FROM holding h JOIN product p ON h.account_id = p.clearing_account AND h.instrument = 'CNY') / 100.0)::numeric(20, 2)
       AS clearing_cny,
       ((SELECT sum(buyer_fee_fen + seller_fee_fen) FROM trade) / 100.0)::numeric(20, 2) AS fees_cny;
SELECT count(*) AS journal_entries, (SELECT count(*) FROM verify_ledger()) AS problems FROM journal;
\echo '   The compliance room reads the closing price of any day (Decree 775 penalties use the average price):'
SELECT closing_price('CEA2024', '2025-06-03') AS close_0603, closing_price('CEA2024', '2025-06-04') AS carried_0604,
       (average_price('CEA2024', '2025-06-01', '2025-06-30')).vwap AS june_vwap;
