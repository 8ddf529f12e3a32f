-- Demo, act 5 (first part): a trading day on the national exchange (全国碳排放权交易市场),
-- Tuesday 2025-06-03.  The key emitting units of act 2 hold their 2024 pre-allocation.  The
-- registry opens the exchange's clearing account, the exchange lists CEA2024, 200 units get
-- trading cash; the first quotes of the listed book (挂牌协议交易) by hand, to show price-time
-- priority, 摘牌 and delivery versus payment.  The rest of the day's order flow comes from the
-- libpq tool carbonmkt-load (52_market_flow.sh: the morning's continuous trading and a batch
-- matched by the C engine); 54_market_close.sql has the block trade (大宗协议交易), the one-way
-- bidding auction (单向竞价), the close and the day's statistics.
-- Everything settles delivery-versus-payment through the registry in the same transaction.
SET search_path = carbonmkt, public;
\set QUIET on
\pset footer off
SET carbonmkt.clock = '2025-06-03 09:00:00+08';

\echo
\echo '== 5.1 The market opens: clearing account, product CEA2024, trading cash'
SELECT participant_id AS exchange FROM participant WHERE kind = 'exchange' \gset
SELECT participant_id AS mee FROM participant WHERE kind = 'national_authority' \gset
SELECT list_product('CEA2024', 75.00, open_account(:exchange, 'clearing', 'SEEE clearing CEA2024')) AS product_id;
SELECT code, instrument, vintage, (reference_price_fen / 100.0)::numeric(14, 2) AS reference_price, clearing_account FROM product;
\echo '   The fee schedule: no source gives the exchange''s fees, so carbonmkt ships the market rules'
\echo '   without one and refuses orders until the exchange sets it (doc/rules.md).  For this demo the'
\echo '   exchange sets illustrative fees through amend_rule (a missing number can be filled while the'
\echo '   rule is in force; the document is added to the row''s source): 0.05% per side, block 0.025%.'
SELECT mode, amend_rule('market_rule', jsonb_build_object('jurisdiction', jurisdiction, 'mode', mode, 'valid_from', valid_from),
                        jsonb_build_object('fee_rate', CASE mode WHEN 'block' THEN 0.00025 ELSE 0.0005 END),
                        'demo values (illustrative, not the exchange''s published fees)', acting_for => :exchange) ->> 'fee_rate' AS fee_rate
  FROM market_rule WHERE jurisdiction = 'CN' AND fee_rate IS NULL ORDER BY mode;
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
\echo '== 5.2 Listed agreement (挂牌协议交易), 09:30: the first quotes by hand, price-time priority, 摘牌'
SET carbonmkt.clock = '2025-06-03 09:30:00+08';
SELECT submit_order('CEA2024', 'sell', 5000, 75.50, acting_for => :u2) AS u2_sells_5000_at_7550,
       submit_order('CEA2024', 'sell', 3000, 75.20, acting_for => :u3) AS u3_sells_3000_at_7520,
       submit_order('CEA2024', 'buy', 4000, 74.80, acting_for => :u4) AS u4_bids_4000_at_7480,
       submit_order('CEA2024', 'buy', 2000, 74.90, acting_for => :u5) AS u5_bids_2000_at_7490;
\echo '   The book, best five levels each side:'
SELECT * FROM order_book('CEA2024', 5);
\echo '   Unit 0006 buys 6,000 t up to 75.50: the best offer first, then the next:'
SELECT submit_order('CEA2024', 'buy', 6000, 75.50, acting_for => :u6) AS u6_order;
SELECT trade_id, price, quantity, value_cny, aggressor FROM market_trades ORDER BY trade_id;
\echo '   Unit 0007 takes (摘牌) Unit 0004''s bid of 74.80 by its order id, although 74.90 bids more:'
SELECT order_id AS u4_bid FROM market_order WHERE participant_id = :u4 \gset
SELECT submit_order('CEA2024', 'sell', 1000, 74.80, take_order_id => :u4_bid, acting_for => :u7) AS u7_order;
SELECT trade_id, price, quantity, value_cny, aggressor FROM market_trades ORDER BY trade_id DESC LIMIT 1;
\echo '   Delivery versus payment: Unit 0006 paid price + fee, Unit 0003 received price - fee; held cash released:'
SELECT t.n AS unit, b.asset, b.balance, b.held FROM trader t JOIN account_balance b ON b.account_id IN (t.holding, t.cash)
 WHERE t.n IN (3, 6) ORDER BY t.n, b.asset;
