-- Market access per role: a participant's login trades only for itself and reads only its
-- own orders, trades and block deals; market data (trade tape, depth, daily statistics,
-- closes, rules) is public; running the market (queue, block acceptance, end of day,
-- listing) is the exchange's.  The registry lets the market's settlement through for a
-- participant's login because the market's functions carry acting_room = 'market'.
-- Runs in its own database; the regress_mkt_* logins are cluster-global and dropped at the end.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_market_access;
DROP ROLE IF EXISTS regress_mkt_unit1, regress_mkt_unit2, regress_mkt_unit3, regress_mkt_exchange, regress_mkt_bi,
                    regress_mkt_nobody;
CREATE DATABASE regress_market_access;
\c regress_market_access
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
SET search_path = carbonmkt, public;
SET datestyle = 'ISO, YMD';
SET carbonmkt.clock = '2025-04-01 10:00:00+08';
\set VERBOSITY default

CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.err(text) TO PUBLIC;
CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;

CREATE ROLE regress_mkt_unit1 LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_mkt_unit2 LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_mkt_unit3 LOGIN IN ROLE carbonmkt_participant;
CREATE ROLE regress_mkt_exchange LOGIN IN ROLE carbonmkt_exchange;
CREATE ROLE regress_mkt_bi LOGIN IN ROLE carbonmkt_bi;
CREATE ROLE regress_mkt_nobody LOGIN;

-- The registry (here the superuser) sets up parties, accounts, units and cash
SELECT register_participant('Shanghai Environment and Energy Exchange', 'exchange', pg_temp.uscc('91310000MA1FL1MM6'), '310000') AS sh, -- 1
       register_participant('Guangdong Huarun Power Unit 1', 'key_emitter', pg_temp.uscc('91440300MA5F00001'),
                            '440000', '440300', 'power') AS unit1,                                                                     -- 2
       register_participant('Guangdong Yuedian Power Unit 2', 'key_emitter', pg_temp.uscc('91440100MA5F00002'),
                            '440000', '440100', 'power') AS unit2,                                                                     -- 3
       register_participant('Everbright Carbon Fund', 'institution', pg_temp.uscc('91110000MA01ABCD3'), '110000') AS fund;         -- 4
SELECT map_login('regress_mkt_exchange', 1), map_login('regress_mkt_unit1', 2), map_login('regress_mkt_unit2', 3),
       map_login('regress_mkt_unit3', 4);
-- the exchange's fees are in no source (doc/rules.md): the exchange (participant 1) fills test
-- values through amend_rule, 0.05% per side (block 0.025%)
SELECT count(amend_rule('market_rule', jsonb_build_object('jurisdiction', r.jurisdiction, 'mode', r.mode, 'valid_from', r.valid_from),
                        jsonb_build_object('fee_rate', CASE r.mode WHEN 'block' THEN 0.00025 ELSE 0.0005 END),
                        'test fixture: fees no source gives, 0.05% per side (block 0.025%)', acting_for => 1)) AS fees_filled
  FROM market_rule r WHERE r.jurisdiction = 'CN' AND r.fee_rate IS NULL;
-- BI acts through its mapping too (doc/security.md): BI for the registry
SELECT register_participant('National Carbon Registry', 'registry', pg_temp.uscc('12420000MB1F00001'), '420000') AS registry;   -- 5
SELECT map_login('regress_mkt_bi', 5);
SELECT open_account(1, 'clearing') AS clearing,   -- 3
       open_account(2, 'holding') AS u1,          -- 4
       open_account(2, 'cash') AS u1_cash,        -- 5
       open_account(3, 'holding') AS u2,          -- 6
       open_account(3, 'cash') AS u2_cash;        -- 7
SELECT issue_cea(1, 2024, 300000) IS NOT NULL AS issued, transfer_cea(1, 4, 2024, 10000) IS NOT NULL AS to_u1,
       transfer_cea(1, 6, 2024, 10000) IS NOT NULL AS to_u2, deposit_cny(5, 100000000) IS NOT NULL AS u1_cash,
       deposit_cny(7, 100000000) IS NOT NULL AS u2_cash;

-- Listing a product is the exchange's
SET SESSION AUTHORIZATION regress_mkt_unit1;
SELECT pg_temp.err($$SELECT carbonmkt.list_product('CEA2024', 60.00, 3)$$) AS participant_lists;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_mkt_exchange;
SELECT list_product('CEA2024', 60.00, 3) AS exchange_lists;
RESET SESSION AUTHORIZATION;

-- A participant trades for itself only --------------------------------------------
SET SESSION AUTHORIZATION regress_mkt_unit2;
SELECT session_user, caller_participant();
SELECT submit_order('CEA2024', 'sell', 500, 60.00) AS u2_sells;                       -- 1
SELECT submit_order('CEA2024', 'sell', 300, 61.00, acting_for => 3) AS own_id_ok;   -- 2
SELECT pg_temp.err($$SELECT carbonmkt.submit_order('CEA2024', 'sell', 100, 60.00, acting_for => 2)$$) AS for_someone_else;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_mkt_unit1;
-- the buy fills against unit 2's listing: the settlement spends unit 2's hold and credits
-- unit 2's cash account, which unit 1's login could never do through the registry directly
SELECT submit_order('CEA2024', 'buy', 200, 60.00) AS u1_buys;                         -- 3
SELECT pg_temp.err($$SELECT carbonmkt.transfer_cny(7, 5, 100)$$) AS u1_moves_u2_cash_directly;
SELECT pg_temp.err($$SELECT carbonmkt.release_hold((SELECT 1))$$) AS u1_releases_a_hold_directly;
SELECT submit_order('CEA2024', 'buy', 50, 59.00, reference => 'u1-1') AS u1_rests;    -- 4
-- a participant's login sees its own orders, trades and balances only
SELECT order_id, participant_id, side, quantity, remaining, status FROM market_order ORDER BY 1;
SELECT trade_id, buyer_id, seller_id, quantity, price_fen FROM trade ORDER BY 1;
SELECT account_id, asset, balance, held FROM account_balance ORDER BY 1, 2;
-- and every participant's market data
SELECT trade_id, product, mode, price, quantity FROM market_trades ORDER BY 1;
SELECT * FROM order_book('CEA2024');
SELECT product, mode, volume, turnover_cny FROM market_daily;
SELECT product, previous_close, close FROM market_close;
SELECT count(*) > 0 AS reads_rules FROM market_rule;
-- it cannot cancel another participant's order, nor run the market, nor write tables
SELECT pg_temp.err($$SELECT carbonmkt.cancel_order(2)$$) AS cancel_u2_order;
SELECT pg_temp.err($$CALL carbonmkt.process_queue()$$) AS process_queue;
SELECT pg_temp.err($$SELECT * FROM carbonmkt.end_of_day()$$) AS end_of_day;
SELECT pg_temp.err($$SELECT carbonmkt.accept_block(1)$$) AS accept_block;
SELECT pg_temp.err($$SELECT carbonmkt._match_order(4, 1)$$) AS internal_matcher;
SELECT pg_temp.err($$SELECT carbonmkt._settle_fills('block', '{3}', '{1}', '{1}', '{6000}')$$) AS internal_settlement;
SELECT pg_temp.err($$UPDATE carbonmkt.market_order SET remaining = 0$$) AS update_orders;
SELECT pg_temp.err($$INSERT INTO carbonmkt.trade (product_id, mode, business_date, executed_at, price_fen, quantity, buy_order_id, sell_order_id, buyer_id, seller_id, buyer_fee_fen, seller_fee_fen) VALUES (1, 'listed', '2025-04-01', now(), 1, 1, 3, 1, 2, 3, 0, 0)$$) AS insert_trade;
SELECT pg_temp.err($$UPDATE carbonmkt.product_day SET prev_close_fen = 1$$) AS update_prev_close;
SELECT cancel_order(4) AS cancels_its_own;
SELECT current_setting('carbonmkt.acting_room') = '' AS acting_room_reset_after_the_call;
RESET SESSION AUTHORIZATION;

-- Block deals are visible to their two parties only
SET carbonmkt.clock = '2025-04-01 13:30:00+08';
SELECT transfer_cea(1, 6, 2024, 90000) IS NOT NULL AS u2_gets_90000;
SET SESSION AUTHORIZATION regress_mkt_unit2;
SELECT pg_temp.err($$SELECT carbonmkt.propose_block('CEA2024', 'sell', 100000, 60.00, 2)$$) AS u2_has_99200_available;
RESET SESSION AUTHORIZATION;
SELECT transfer_cea(1, 6, 2024, 800) IS NOT NULL AS u2_gets_the_rest;
SELECT deposit_cny(5, 700000000) IS NOT NULL AS u1_gets_cash;
SET SESSION AUTHORIZATION regress_mkt_unit2;
SELECT propose_block('CEA2024', 'sell', 100000, 60.00, 2) AS deal;
SELECT deal_id, proposer_id, counterparty_id, status FROM block_deal;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_mkt_unit3;
SELECT count(*) AS deals_seen_by_a_third_participant FROM block_deal;
SELECT count(*) AS orders_seen_by_a_third_participant FROM market_order;
SELECT count(*) AS trades_seen_by_a_third_participant FROM trade;
SELECT count(*) AS public_trades_seen_by_a_third_participant FROM market_trades;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_mkt_bi;
SELECT deal_id, proposer_id, counterparty_id, status FROM block_deal;
SELECT count(*) AS bi_reads_all_orders FROM market_order;
SELECT pg_temp.err($$SELECT carbonmkt.submit_order('CEA2024', 'buy', 1, 60.00)$$) AS bi_trades;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_mkt_unit1;
SELECT deal_id, proposer_id, counterparty_id, status FROM block_deal;
SELECT confirm_block(1) AS u1_confirms;
SELECT pg_temp.err($$SELECT carbonmkt.accept_block(1)$$) AS u1_accepts;
RESET SESSION AUTHORIZATION;

-- The exchange: acts for participants, accepts deals, runs the queue and the close ------------
SET SESSION AUTHORIZATION regress_mkt_exchange;
SELECT pg_temp.err($$SELECT carbonmkt.submit_order('CEA2024', 'buy', 1, 60.00)$$) AS exchange_for_itself;
SELECT accept_block(1) AS block_trade;
SELECT queue_order('CEA2024', 'buy', 100, 61.00, acting_for => 2) AS queued;
CALL process_queue();
SELECT order_id, participant_id, side, remaining, status FROM market_order ORDER BY 1;
SELECT pg_temp.err($$SET carbonmkt.clock = '2025-04-01 15:30:00+08'$$) AS exchange_sets_the_clock;
RESET SESSION AUTHORIZATION;
SET carbonmkt.clock = '2025-04-01 15:30:00+08';
SET SESSION AUTHORIZATION regress_mkt_exchange;
SELECT * FROM end_of_day();
RESET SESSION AUTHORIZATION;

-- A login with no carbonmkt role reads public market data only
SET SESSION AUTHORIZATION regress_mkt_nobody;
SELECT count(*) AS public_trades FROM market_trades;
SELECT product, mode, volume FROM market_daily ORDER BY mode;
SELECT pg_temp.err($$SELECT count(*) FROM carbonmkt.trade$$) AS private_trades;
SELECT pg_temp.err($$SELECT count(*) FROM carbonmkt.market_order$$) AS private_orders;
SELECT pg_temp.err($$SELECT carbonmkt.submit_order('CEA2024', 'buy', 1, 60.00)$$) AS trades;
RESET SESSION AUTHORIZATION;

SELECT count(*) AS problems FROM verify_ledger();

\c postgres
SET client_min_messages = warning;
DROP DATABASE regress_market_access;
DROP ROLE regress_mkt_unit1, regress_mkt_unit2, regress_mkt_unit3, regress_mkt_exchange, regress_mkt_bi,
                    regress_mkt_nobody;
