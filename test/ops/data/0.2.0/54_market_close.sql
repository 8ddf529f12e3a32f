-- Demo, act 5 (third part): the afternoon of the trading day 2025-06-03 after the order flow
-- of 52_market_flow.sh: a block trade (大宗协议交易), a one-way bidding auction of reserve
-- allowances (单向竞价), the close and the day's market statistics.
SET search_path = carbonmkt, public;
\set QUIET on
\pset footer off
SELECT participant_id AS mee FROM participant WHERE kind = 'national_authority' \gset
-- the 200 funded traders of 50_market.sql, numbered the same way
CREATE TEMP TABLE trader AS
SELECT row_number() OVER (ORDER BY p.participant_id)::int AS n, p.participant_id, a.account_id AS holding, a.account_id + 1 AS cash
  FROM participant p JOIN account a ON a.participant_id = p.participant_id AND a.kind = 'holding'
 WHERE p.kind = 'key_emitter' ORDER BY p.participant_id LIMIT 200;

\echo
\echo '== 5.5 Block agreement (大宗协议交易), 13:30: 150,000 t proposed, confirmed, accepted'
SET carbonmkt.clock = '2025-06-03 13:30:00+08';
SELECT t.participant_id AS seller, t.n AS seller_unit FROM trader t JOIN account_balance b ON b.account_id = t.holding
 ORDER BY b.available DESC LIMIT 1 \gset
SELECT participant_id AS buyer FROM trader WHERE n = 1 \gset
SELECT propose_block('CEA2024', 'sell', 150000, 76.00, :buyer, reference => 'block-0603-1', acting_for => :seller) AS deal \gset
SELECT confirm_block(:deal, acting_for => :buyer) IS NOT NULL AS confirmed_by_unit_0001;
SELECT accept_block(:deal) AS block_trade_id;
SELECT deal_id, quantity, (price_fen / 100.0)::numeric(14, 2) AS price, status FROM block_deal;
\echo '   A block below 100,000 t or outside ±30% is refused:'
DO $$
BEGIN
    BEGIN
        PERFORM propose_block('CEA2024', 'sell', 99999, 76.00, (SELECT participant_id FROM trader WHERE n = 1),
                              acting_for => (SELECT participant_id FROM trader WHERE n = 20));
    EXCEPTION WHEN others THEN RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
    END;
    BEGIN
        PERFORM propose_block('CEA2024', 'sell', 100000, 97.60, (SELECT participant_id FROM trader WHERE n = 1),
                              acting_for => (SELECT participant_id FROM trader WHERE n = 20));
    EXCEPTION WHEN others THEN RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
    END;
END $$;

\echo
\echo '== 5.6 One-way bidding (单向竞价), 14:00-14:30: 200,000 t from the national reserve (paid allocation)'
SET carbonmkt.clock = '2025-06-03 13:55:00+08';
SELECT issue_cea(1, 2024, 1000000, 'reserve-2024', 'national reserve for paid allocation') IS NOT NULL AS reserve_issued,
       open_account(:mee, 'cash', 'MEE auction proceeds') AS mee_cash;
SELECT announce_auction('CEA2024', 'sell', 200000, 74.00, '2025-06-03 14:00+08', '2025-06-03 14:30+08',
                        acting_for => :mee) AS auction \gset
SET carbonmkt.clock = '2025-06-03 14:10:00+08';
SELECT count(bid_auction(:auction, q, px, acting_for => (SELECT participant_id FROM trader WHERE n = u))) AS bids
  FROM (VALUES (21, 50000, 75.60), (22, 40000, 75.40), (23, 60000, 75.10), (24, 30000, 75.10),
               (25, 50000, 74.80), (26, 20000, 74.50), (27, 10000, 74.00)) b(u, q, px);
SET carbonmkt.clock = '2025-06-03 14:30:00+08';
\echo '   Allocated by price then time at one uniform price (market_rule: clearing_rule uniform):'
SELECT * FROM close_auction(:auction);
SELECT t.n AS unit, o.quantity AS bid_t, (o.price_fen / 100.0)::numeric(14, 2) AS bid, o.quantity - o.remaining AS allocated_t, o.status
  FROM market_order o JOIN trader t USING (participant_id) WHERE o.auction_id = :auction AND o.side = 'buy' ORDER BY o.priority;

\echo
\echo '== 5.7 The close, 15:00: live orders expire, the closing price is the VWAP of the listed trades'
SET carbonmkt.clock = '2025-06-03 15:00:00+08';
SELECT count(*) AS live_orders_before_close FROM market_order WHERE status IN ('queued', 'open');
\echo '   The book''s depth at the close (order_book_depth: every level):'
SELECT side, count(*) AS levels, sum(orders) AS orders, sum(quantity) AS tonnes,
       min(price) AS lowest, max(price) AS highest
  FROM order_book_depth WHERE product = 'CEA2024' GROUP BY side ORDER BY side DESC;
SELECT * FROM end_of_day();
\echo '   The day''s market statistics (market_daily, market_close):'
SELECT product, mode, open, high, low, close, volume, turnover_cny, trades FROM market_daily ORDER BY mode;
SELECT product, business_date, previous_close, close, final FROM market_close;
SELECT count(*) AS live_orders, (SELECT count(*) FROM hold WHERE status = 'active') AS active_holds FROM market_order
 WHERE status IN ('queued', 'open');
\echo '   Allowances and cash only changed hands today (the day''s ledger entries, other than issues, sum to zero);'
\echo '   the buyers received exactly the tonnes traded:'
SELECT sum(amount) FILTER (WHERE instrument = 'CEA') AS cea_net_t, sum(amount) FILTER (WHERE instrument = 'CNY') AS cny_net_fen,
       sum(amount) FILTER (WHERE instrument = 'CEA' AND amount > 0) AS cea_delivered_t,
       (SELECT sum(quantity) FROM trade WHERE business_date = '2025-06-03') AS traded_t
  FROM journal WHERE business_date = '2025-06-03' AND kind <> 'issue';
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
