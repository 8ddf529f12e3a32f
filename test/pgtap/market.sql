-- pgTAP: a randomised multi-order run of the market (fixed seed), then every invariant.
-- Eight units trade CEA 2024 and CEA 2025 over two trading days: submit_order (limit
-- orders and 摘牌), queue_order + process_queue, cancel_order, a block agreement and a
-- one-way bidding auction per day, end_of_day; on a third day one randomised batch of 400
-- queued orders settles through carbonmkt.settle_batch (统一交收).  Each operation runs in its own
-- subtransaction; refusals (insufficient funds, T+1, band, ...) are counted and roll back.
-- Then: verify_ledger() is clean, cash and allowances are conserved to the fen and the
-- tonne (buyer + seller + fees), every order and hold ended exactly once, every fill
-- respects its limits, the band and self-trade prevention.  Everything is rolled back.
BEGIN;
SELECT plan(39);
SET LOCAL search_path = carbonmkt, public;
SELECT setseed(0.42);

CREATE TEMP TABLE units (n int, participant_id bigint, holding_id bigint, cash_id bigint) ON COMMIT DROP;
CREATE TEMP TABLE outcomes (day int, op text, outcome text) ON COMMIT DROP;
CREATE TEMP TABLE start (account_id bigint, instrument instrument, vintage int, balance bigint) ON COMMIT DROP;

SET LOCAL carbonmkt.clock = '2025-06-03 09:00:00+08';
DO $$
DECLARE
    ex  bigint;
    p   bigint;
BEGIN
    ex := register_participant('TAP exchange', 'exchange', '9131000000MKT0000' || credit_code_check_char('9131000000MKT0000'));
    -- the exchange's fees are in no source (doc/rules.md): it fills test values through amend_rule,
    -- 0.05% per side (block 0.025%)
    PERFORM amend_rule('market_rule', jsonb_build_object('jurisdiction', r.jurisdiction, 'mode', r.mode, 'valid_from', r.valid_from),
                       jsonb_build_object('fee_rate', CASE r.mode WHEN 'block' THEN 0.00025 ELSE 0.0005 END),
                       'pgTAP fixture: fees no source gives', acting_for => ex)
       FROM market_rule r WHERE r.jurisdiction = 'CN' AND r.fee_rate IS NULL;
    PERFORM list_product('CEA2024', 60.00, open_account(ex, 'clearing')),
            list_product('CEA2025', 58.00, open_account(ex, 'clearing'));
    FOR i IN 1..8 LOOP
        p := register_participant('TAP market unit ' || i, CASE WHEN i <= 6 THEN 'key_emitter' ELSE 'institution' END::participant_kind,
                                  '9144030000MKT' || lpad(i::text, 4, '0') || credit_code_check_char('9144030000MKT' || lpad(i::text, 4, '0')),
                                  '440000', '440300', 'power');
        INSERT INTO units VALUES (i, p, open_account(p, 'holding'), open_account(p, 'cash'));
    END LOOP;
    PERFORM issue_cea(1, 2024, 2000000), issue_cea(1, 2025, 2000000);
    PERFORM transfer_cea(1, u.holding_id, 2024, 200000), transfer_cea(1, u.holding_id, 2025, 150000),
            deposit_cny(u.cash_id, 3000000000)          -- 30,000,000.00 CNY each
       FROM units u WHERE u.n <= 6;
    PERFORM deposit_cny(u.cash_id, 1000000000) FROM units u WHERE u.n > 6;   -- institutions: cash only
    INSERT INTO start SELECT h.account_id, h.instrument, h.vintage, h.balance FROM holding h;
END $$;

-- bi_trading_activity and bi_trading_by_sector as they were before end_of_day() kept the
-- trading statistics (the whole tape aggregated on each read): the kept rows must give the same
CREATE TEMP VIEW tape_activity AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c),
l AS (SELECT t.buyer_id AS participant_id, 'buy'::text AS side, t.business_date, t.product_id, t.mode,
             t.quantity, t.price_fen * t.quantity AS notional_fen, t.buyer_fee_fen AS fee_fen FROM carbonmkt.trade t
      UNION ALL
      SELECT t.seller_id, 'sell', t.business_date, t.product_id, t.mode, t.quantity, t.price_fen * t.quantity, t.seller_fee_fen
        FROM carbonmkt.trade t)
SELECT l.participant_id, p.name AS participant_name, p.kind::text AS participant_kind, p.province,
       r.name_zh AS province_name, p.sector, sec.name_zh AS sector_name,
       date_trunc('month', l.business_date)::date AS month, pr.instrument::text AS instrument,
       count(*) AS trades,
       coalesce(sum(l.quantity) FILTER (WHERE l.side = 'buy'), 0)::bigint AS bought_t,
       coalesce(sum(l.quantity) FILTER (WHERE l.side = 'sell'), 0)::bigint AS sold_t,
       (coalesce(sum(l.quantity) FILTER (WHERE l.side = 'buy'), 0) - coalesce(sum(l.quantity) FILTER (WHERE l.side = 'sell'), 0))::bigint AS net_t,
       round(coalesce(sum(l.notional_fen) FILTER (WHERE l.side = 'buy'), 0) / 100.0, 2) AS bought_cny,
       round(coalesce(sum(l.notional_fen) FILTER (WHERE l.side = 'sell'), 0) / 100.0, 2) AS sold_cny,
       round(sum(l.fee_fen) / 100.0, 2) AS fees_cny,
       coalesce(sum(l.quantity) FILTER (WHERE l.mode = 'listed'), 0)::bigint AS listed_t,
       coalesce(sum(l.quantity) FILTER (WHERE l.mode = 'block'), 0)::bigint AS block_t,
       coalesce(sum(l.quantity) FILTER (WHERE l.mode NOT IN ('listed', 'block')), 0)::bigint AS auction_t,
       min(l.business_date) AS first_trade_date, max(l.business_date) AS last_trade_date
  FROM l
  JOIN carbonmkt.product pr ON pr.product_id = l.product_id
  JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province
  LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 CROSS JOIN s
 WHERE s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city
 GROUP BY l.participant_id, p.name, p.kind, p.province, r.name_zh, p.sector, sec.name_zh,
          date_trunc('month', l.business_date), pr.instrument;
CREATE TEMP VIEW tape_by_sector AS
WITH l AS (SELECT t.buyer_id AS participant_id, 'buy'::text AS side, t.business_date, t.product_id,
                  t.quantity, t.price_fen * t.quantity AS notional_fen, t.buyer_fee_fen AS fee_fen FROM carbonmkt.trade t
           UNION ALL
           SELECT t.seller_id, 'sell', t.business_date, t.product_id, t.quantity, t.price_fen * t.quantity, t.seller_fee_fen
             FROM carbonmkt.trade t)
SELECT date_trunc('month', l.business_date)::date AS month, p.sector, sec.name AS sector_name_en,
       coalesce(sec.name_zh, '非重点排放单位') AS sector_name, pr.instrument::text AS instrument,
       count(DISTINCT l.participant_id) AS participants, count(*) AS trades,
       coalesce(sum(l.quantity) FILTER (WHERE l.side = 'buy'), 0)::bigint AS bought_t,
       coalesce(sum(l.quantity) FILTER (WHERE l.side = 'sell'), 0)::bigint AS sold_t,
       round(coalesce(sum(l.notional_fen) FILTER (WHERE l.side = 'buy'), 0) / 100.0, 2) AS bought_cny,
       round(coalesce(sum(l.notional_fen) FILTER (WHERE l.side = 'sell'), 0) / 100.0, 2) AS sold_cny,
       round(sum(l.fee_fen) / 100.0, 2) AS fees_cny
  FROM l
  JOIN carbonmkt.product pr ON pr.product_id = l.product_id
  JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
  LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 GROUP BY date_trunc('month', l.business_date), p.sector, sec.name, sec.name_zh, pr.instrument;

-- The random run ---------------------------------------------------------------------
CREATE FUNCTION pg_temp.run_day(d int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    ids     bigint[] := ARRAY(SELECT participant_id FROM units WHERE n <> 6 ORDER BY n);  -- unit 6: block and auction seller
    seller  bigint := (SELECT participant_id FROM units WHERE n = 6);
    codes   text[] := ARRAY['CEA2024', 'CEA2025'];
    prod    text;
    pid     bigint;
    other   bigint;
    r       float8;
    px      numeric;
    prev    numeric;
    qty     bigint;
    op      text;
    x       bigint;
    deal    bigint;
    auc     bigint;
BEGIN
    FOR i IN 1..700 LOOP
        prod := codes[1 + floor(random() * 2)::int];
        pid := ids[1 + floor(random() * 7)::int];
        SELECT (prev_close_fen / 100.0) INTO prev FROM product_day pd JOIN product p USING (product_id)
         WHERE p.code = prod AND pd.business_date = business_date();
        prev := coalesce(prev, CASE prod WHEN 'CEA2024' THEN 60.00 ELSE 58.00 END);
        -- prices mostly inside the ±10% band, sometimes just outside; quantities 1..3,000 t
        px := round(prev * (0.91 + random() * 0.18)::numeric, 2);
        qty := 1 + floor(random() ^ 3 * 3000)::bigint;
        r := random();
        op := CASE WHEN r < 0.55 THEN 'submit' WHEN r < 0.65 THEN 'take' WHEN r < 0.80 THEN 'queue'
                   WHEN r < 0.88 THEN 'cancel' WHEN r < 0.92 THEN 'process' WHEN r < 0.94 THEN 'offtick'
                   WHEN r < 0.95 THEN 'outband' ELSE 'selloff' END;
        BEGIN
            CASE op
            WHEN 'submit' THEN
                PERFORM submit_order(prod, CASE WHEN random() < 0.5 THEN 'buy' ELSE 'sell' END, qty, px, acting_for => pid);
            WHEN 'take' THEN
                SELECT o.order_id INTO x FROM market_order o JOIN product p USING (product_id)
                 WHERE p.code = prod AND o.status = 'open' AND o.mode = 'listed' ORDER BY random() LIMIT 1;
                IF x IS NULL THEN
                    RAISE EXCEPTION 'empty book' USING ERRCODE = 'P0001';
                END IF;
                PERFORM submit_order(prod, CASE (SELECT side FROM market_order WHERE order_id = x) WHEN 'buy' THEN 'sell' ELSE 'buy' END,
                                     qty, (SELECT price_fen FROM market_order WHERE order_id = x) / 100.0,
                                     take_order_id => x, acting_for => pid);
            WHEN 'queue' THEN
                PERFORM queue_order(prod, CASE WHEN random() < 0.5 THEN 'buy' ELSE 'sell' END, qty, px, acting_for => pid);
            WHEN 'cancel' THEN
                SELECT o.order_id INTO x FROM market_order o
                 WHERE o.status IN ('open', 'queued') AND o.mode = 'listed' ORDER BY random() LIMIT 1;
                IF x IS NULL THEN
                    RAISE EXCEPTION 'nothing to cancel' USING ERRCODE = 'P0001';
                END IF;
                PERFORM cancel_order(x);
            WHEN 'process' THEN
                CALL process_queue(CASE WHEN random() < 0.5 THEN prod END, CASE WHEN random() < 0.5 THEN 5 END);
            WHEN 'offtick' THEN
                PERFORM submit_order(prod, 'buy', qty, px + 0.005, acting_for => pid);
            WHEN 'outband' THEN
                PERFORM submit_order(prod, 'buy', qty, round(prev * 1.11, 2), acting_for => pid);
            WHEN 'selloff' THEN     -- large sells: exercise insufficient allowances and T+1
                PERFORM submit_order(prod, 'sell', 99999, px, acting_for => pid);
            END CASE;
            INSERT INTO outcomes VALUES (d, op, 'ok');
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO outcomes VALUES (d, op, SQLSTATE);
        END;
    END LOOP;
    CALL process_queue();

    -- a block agreement and a one-way bidding auction in the afternoon
    PERFORM set_config('carbonmkt.clock', format('2025-06-0%s 13:30:00+08', d + 2), true);
    other := (SELECT participant_id FROM units WHERE n = 6 + d);    -- an institution buys the block
    BEGIN
        deal := propose_block('CEA2024', 'sell', 100000, 60.00, other, acting_for => seller);
        PERFORM confirm_block(deal, acting_for => other);
        PERFORM accept_block(deal);
        INSERT INTO outcomes VALUES (d, 'block', 'ok');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO outcomes VALUES (d, 'block', SQLSTATE);
    END;
    auc := announce_auction('CEA2025', 'sell', 20000, 55.00, format('2025-06-0%s 13:30+08', d + 2)::timestamptz,
                            format('2025-06-0%s 14:00+08', d + 2)::timestamptz, acting_for => seller);
    FOR i IN 1..12 LOOP
        BEGIN
            PERFORM bid_auction(auc, 1000 + floor(random() * 4000)::bigint, 55.00 + floor(random() * 500)::numeric / 100,
                                acting_for => ids[1 + i % 7]);
            INSERT INTO outcomes VALUES (d, 'bid', 'ok');
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO outcomes VALUES (d, 'bid', SQLSTATE);
        END;
    END LOOP;
    PERFORM set_config('carbonmkt.clock', format('2025-06-0%s 15:30:00+08', d + 2), true);
    PERFORM * FROM end_of_day();
END $$;

SET LOCAL carbonmkt.clock = '2025-06-03 10:00:00+08';
SELECT pg_temp.run_day(1);
SET LOCAL carbonmkt.clock = '2025-06-04 10:00:00+08';
SELECT pg_temp.run_day(2);

-- Day 3: one randomised batch.  400 random listed orders of both products are queued, then
-- one CALL process_queue() matches them all and settles each product's batch in one registry
-- posting (统一交收, carbonmkt.settle_batch); then the registry's invariants of that posting.
SET LOCAL carbonmkt.clock = '2025-06-05 10:00:00+08';
DO $$
DECLARE
    ids     bigint[] := ARRAY(SELECT participant_id FROM units ORDER BY n);
    prod    text;
    prev    numeric;
BEGIN
    FOR i IN 1..400 LOOP
        prod := CASE WHEN random() < 0.5 THEN 'CEA2024' ELSE 'CEA2025' END;
        prev := carbonmkt.previous_close(prod);
        BEGIN
            PERFORM queue_order(prod, CASE WHEN random() < 0.5 THEN 'buy' ELSE 'sell' END,
                                1 + floor(random() ^ 2 * 2000)::bigint, round(prev * (0.95 + random() * 0.10)::numeric, 2),
                                acting_for => ids[1 + floor(random() * 8)::int]);
            INSERT INTO outcomes VALUES (3, 'queue', 'ok');
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO outcomes VALUES (3, 'queue', SQLSTATE);
        END;
    END LOOP;
END $$;
CREATE TEMP TABLE batch_mark ON COMMIT DROP AS
SELECT (SELECT max(posting_id) FROM posting) AS posting_id, (SELECT count(*) FROM trade) AS trades;
CALL process_queue();
SELECT is((SELECT count(*) FROM posting WHERE posting_id > (SELECT posting_id FROM batch_mark)),
          (SELECT count(DISTINCT product_id) FROM trade WHERE trade_id > (SELECT trades FROM batch_mark)),
          'the batch settled in one registry posting per product traded');
SELECT cmp_ok((SELECT count(*) FROM trade) - (SELECT trades FROM batch_mark), '>', 50::bigint,
              'the batch made more than 50 trades');
SELECT is_empty('SELECT * FROM verify_ledger()', 'verify_ledger() is clean after the batch');
SELECT is_empty($$SELECT j.instrument, j.vintage FROM journal j
                   WHERE j.posting_id > (SELECT posting_id FROM batch_mark)
                   GROUP BY j.posting_id, j.instrument, j.vintage HAVING sum(j.amount) <> 0$$,
                'each batch posting balances per asset, to the tonne and the fen');
SELECT is_empty($$SELECT o.order_id FROM market_order o
                   WHERE o.business_date = '2025-06-05' AND o.status <> 'open'
                     AND (SELECT count(*) FROM journal j WHERE j.hold_id = o.hold_id
                           AND j.posting_id > (SELECT posting_id FROM batch_mark)) <> 1$$,
                'every order the batch filled or ended has exactly one journal row for its hold in the batch');
-- Trading statistics with days 1 and 2 closed (kept by end_of_day) and day 3 not closed yet
-- (read from the tape), all in June 2025: each participant's month adds both
SELECT isnt_empty($$SELECT 1 FROM trading_month_stats$$, 'end_of_day kept trading statistics for the closed days');
SELECT bag_eq($$SELECT * FROM bi_trading_activity$$, $$SELECT * FROM tape_activity$$,
              'bi_trading_activity = the tape''s aggregate, with closed days kept and a day not closed yet');
SELECT bag_eq($$SELECT * FROM bi_trading_by_sector$$, $$SELECT * FROM tape_by_sector$$,
              'bi_trading_by_sector = the tape''s aggregate, with closed days kept and a day not closed yet');
SET LOCAL carbonmkt.clock = '2025-06-05 15:30:00+08';
DO $$ BEGIN PERFORM * FROM carbonmkt.end_of_day(); END $$;
-- every day closed: the kept rows alone are the tape's; a second end_of_day adds nothing
SELECT bag_eq($$SELECT participant_id, month, instrument, trades, bought_t, sold_t, bought_fen, sold_fen, fees_fen,
                       listed_t, block_t, auction_t, first_trade_date, last_trade_date FROM trading_month_stats$$,
              $$SELECT t.participant_id, t.month, t.instrument::instrument, t.trades, t.bought_t, t.sold_t,
                       (t.bought_cny * 100)::bigint AS bought_fen, (t.sold_cny * 100)::bigint AS sold_fen, (t.fees_cny * 100)::bigint AS fees_fen,
                       t.listed_t, t.block_t, t.auction_t, t.first_trade_date, t.last_trade_date FROM tape_activity t$$,
              'after the last close the kept trading statistics are the whole tape''s');
DO $$ BEGIN PERFORM * FROM carbonmkt.end_of_day(); END $$;
SELECT bag_eq($$SELECT * FROM bi_trading_activity$$, $$SELECT * FROM tape_activity$$,
              'bi_trading_activity = the tape''s aggregate after every close (end_of_day twice)');
SELECT bag_eq($$SELECT * FROM bi_trading_by_sector$$, $$SELECT * FROM tape_by_sector$$,
              'bi_trading_by_sector = the tape''s aggregate after every close');
SELECT bag_eq($$SELECT month, instrument, sector, participants, trades, bought_t, sold_t, bought_fen, sold_fen, fees_fen
                  FROM trading_sector_month$$,
              $$SELECT k.month, k.instrument, p.sector, count(*) AS participants, sum(k.trades)::bigint AS trades,
                       sum(k.bought_t)::bigint AS bought_t, sum(k.sold_t)::bigint AS sold_t, sum(k.bought_fen)::bigint AS bought_fen,
                       sum(k.sold_fen)::bigint AS sold_fen, sum(k.fees_fen)::bigint AS fees_fen
                  FROM trading_month_stats k JOIN participant p USING (participant_id) GROUP BY 1, 2, 3$$,
              'the sums kept per sector are the kept participant-months'' by sector');
-- two participants change sector (one to none): the sums kept per sector follow
UPDATE participant SET sector = 'cement' WHERE participant_id = (SELECT participant_id FROM units WHERE n = 1);
UPDATE participant SET sector = NULL WHERE participant_id = (SELECT participant_id FROM units WHERE n = 8);
SELECT bag_eq($$SELECT * FROM bi_trading_by_sector$$, $$SELECT * FROM tape_by_sector$$,
              'bi_trading_by_sector = the tape''s aggregate by the current sectors after two participants changed sector');
SELECT is((SELECT count(DISTINCT sector IS NULL) FROM bi_trading_by_sector)::int, 2,
          'a participant without a sector traded, in a row of its own');

-- The run did something -------------------------------------------------------------------
SELECT is((SELECT count(*) FROM outcomes WHERE op IN ('block', 'bid') AND outcome <> 'ok'), 0::bigint,
          'both block deals and all 24 bids went through');
SELECT cmp_ok((SELECT count(*) FROM trade WHERE mode = 'listed'), '>', 300::bigint, 'more than 300 listed trades');
SELECT is((SELECT count(DISTINCT mode) FROM trade), 3::bigint, 'trades in all three modes');
SELECT cmp_ok((SELECT count(*) FROM outcomes WHERE outcome <> 'ok' AND outcome <> 'P0001'), '>', 50::bigint,
              'more than 50 refused operations');
SELECT set_has($$SELECT DISTINCT outcome FROM outcomes$$,
               $$VALUES ('CM303'), ('CM304'), ('CM306'), ('CM307'), ('CM309')$$,
               'refusals seen: price step, band, funds or allowances, T+1, taking one''s own listing');

-- The ledger ------------------------------------------------------------------------------
SELECT is_empty('SELECT * FROM verify_ledger()', 'verify_ledger() is clean');
SELECT is((SELECT sum(balance) FROM holding WHERE instrument = 'CNY'),
          (SELECT sum(amount) FROM journal WHERE kind = 'issue' AND instrument = 'CNY'),
          'cash conserved: the sum of all cash balances equals the deposits');
SELECT is((SELECT sum(balance) FROM holding h JOIN account a USING (account_id) WHERE a.kind = 'clearing' AND h.instrument = 'CNY')::numeric,
          (SELECT sum(buyer_fee_fen + seller_fee_fen) FROM trade),
          'the clearing accounts hold exactly the fees');
SELECT is_empty($$SELECT 1 FROM holding h JOIN account a USING (account_id)
                   WHERE a.kind = 'clearing' AND h.instrument = 'CEA' AND h.balance <> 0$$,
                'the clearing accounts end with no allowances');
-- per party: cash now = cash before + Σ (value - seller fee) of its sales - Σ (value + buyer fee) of its purchases
SELECT is_empty($$
    SELECT u.n FROM units u
      JOIN holding h ON h.account_id = u.cash_id AND h.instrument = 'CNY'
      JOIN start s ON s.account_id = u.cash_id AND s.instrument = 'CNY'
     WHERE h.balance <> s.balance
           + coalesce((SELECT sum(t.price_fen * t.quantity - t.seller_fee_fen) FROM trade t WHERE t.seller_id = u.participant_id), 0)
           - coalesce((SELECT sum(t.price_fen * t.quantity + t.buyer_fee_fen) FROM trade t WHERE t.buyer_id = u.participant_id), 0)$$,
    'every party''s cash = start + sales - seller fees - purchases - buyer fees, to the fen');
SELECT is_empty($$
    SELECT u.n, p.code FROM units u CROSS JOIN product p
      LEFT JOIN holding h ON h.account_id = u.holding_id AND h.instrument = 'CEA' AND h.vintage = p.vintage
      LEFT JOIN start s ON s.account_id = u.holding_id AND s.instrument = 'CEA' AND s.vintage = p.vintage
     WHERE coalesce(h.balance, 0) <> coalesce(s.balance, 0)
           + coalesce((SELECT sum(t.quantity) FROM trade t WHERE t.product_id = p.product_id AND t.buyer_id = u.participant_id), 0)
           - coalesce((SELECT sum(t.quantity) FROM trade t WHERE t.product_id = p.product_id AND t.seller_id = u.participant_id), 0)$$,
    'every party''s allowances = start + bought - sold, per vintage');
SELECT is((SELECT sum(balance) FROM holding h JOIN account a USING (account_id) WHERE h.instrument = 'CEA' AND a.kind = 'national_reserve')
          + (SELECT sum(balance) FROM holding h JOIN units u ON h.account_id = u.holding_id WHERE h.instrument = 'CEA'),
          4000000::numeric, 'allowances conserved: reserve + units = issued');

-- Orders and holds --------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM market_order WHERE status IN ('queued', 'open')), 0::bigint, 'no live order after end_of_day');
SELECT is((SELECT count(*) FROM hold WHERE status = 'active'), 0::bigint, 'no active hold after end_of_day');
SELECT is_empty($$SELECT o.order_id FROM market_order o JOIN hold h USING (hold_id)
                   WHERE o.hold_left <> 0 OR h.remaining <> CASE h.status WHEN 'consumed' THEN 0 ELSE h.remaining END
                      OR h.quantity <> o.hold_amount
                      OR (h.status = 'consumed') <> (h.remaining = 0)$$,
                'every order''s hold ended exactly once: consumed when spent, released otherwise');
SELECT is_empty($$SELECT o.order_id FROM market_order o
                   WHERE o.quantity - o.remaining <> coalesce((SELECT sum(t.quantity) FROM trade t WHERE o.order_id IN (t.buy_order_id, t.sell_order_id)), 0)
                      OR o.filled_notional <> coalesce((SELECT sum(t.quantity * t.price_fen) FROM trade t WHERE o.order_id IN (t.buy_order_id, t.sell_order_id)), 0)
                      OR o.fees_fen <> coalesce((SELECT sum(CASE WHEN o.order_id = t.buy_order_id THEN t.buyer_fee_fen ELSE t.seller_fee_fen END)
                                                   FROM trade t WHERE o.order_id IN (t.buy_order_id, t.sell_order_id)), 0)$$,
                'every order''s filled quantity, value and fees are the sum of its trades');
SELECT is_empty($$SELECT o.order_id FROM market_order o
                   WHERE o.fees_fen <> fee_fen(o.filled_notional, (market_rule_at(o.mode, o.business_date)).fee_rate)$$,
                'every order paid the fee of its total value, rounded half up once');
SELECT is_empty($$SELECT o.order_id FROM market_order o JOIN hold h USING (hold_id),
                   LATERAL (SELECT coalesce(-sum(j.amount) FILTER (WHERE j.kind = 'debit'), 0) AS spent,
                                   -- a batch's journal row of a hold spends and releases at once
                                   coalesce(-sum(j.held_change) FILTER (WHERE j.kind IN ('debit', 'release')), 0) AS freed
                              FROM journal j WHERE j.hold_id = h.hold_id AND j.account_id = h.account_id) x
                   WHERE o.side = 'buy' AND (x.freed <> h.quantity
                                             OR x.spent NOT BETWEEN o.filled_notional AND o.filled_notional + o.fees_fen)$$,
                'a buy''s hold paid its value (and at most its fees) and released the rest');

-- Fills -------------------------------------------------------------------------------------
SELECT is_empty($$SELECT t.trade_id FROM trade t JOIN market_order b ON b.order_id = t.buy_order_id
                   JOIN market_order s ON s.order_id = t.sell_order_id
                   WHERE t.price_fen > b.price_fen OR t.price_fen < s.price_fen OR b.product_id <> t.product_id
                      OR s.product_id <> t.product_id OR t.buyer_id = t.seller_id
                      OR b.participant_id <> t.buyer_id OR s.participant_id <> t.seller_id$$,
                'every trade respects both limits, one product, two different parties');
SELECT is_empty($$SELECT t.trade_id FROM trade t JOIN market_order b ON b.order_id = t.buy_order_id
                   JOIN market_order s ON s.order_id = t.sell_order_id
                   WHERE t.mode = 'listed' AND t.price_fen <> CASE t.aggressor WHEN 'buy' THEN s.price_fen ELSE b.price_fen END$$,
                'every listed trade is at the resting order''s price');
SELECT is_empty($$SELECT t.trade_id FROM trade t JOIN product_day d USING (product_id, business_date)
                   WHERE t.mode = 'listed' AND (t.price_fen < ceil(d.prev_close_fen * 0.9) OR t.price_fen > floor(d.prev_close_fen * 1.1))$$,
                'every listed trade is inside the ±10% band of its day');
SELECT is_empty($$SELECT s.order_id FROM market_order s
                   WHERE s.side = 'sell' AND s.business_date = '2025-06-04'
                     AND s.quantity > (SELECT coalesce(sum(h.balance), 0) FROM holding h JOIN units u ON u.holding_id = h.account_id
                                        WHERE u.participant_id = s.participant_id)
                                      + (SELECT coalesce(sum(t.quantity), 0) FROM trade t WHERE t.seller_id = s.participant_id)$$,
                'no sell exceeded what its party ever held');

-- Daily statistics kept by end_of_day -----------------------------------------------------------
SELECT set_eq($$SELECT product_id, business_date FROM market_day_stats$$,
              $$SELECT product_id, business_date FROM product_day WHERE closed_at IS NOT NULL$$,
              'end_of_day kept the statistics of every closed day, and only of those');
SELECT is_empty($$SELECT s.product_id, s.business_date FROM market_day_stats s
                   LEFT JOIN _market_day_figures f USING (product_id, business_date)
                   WHERE (s.open_fen, s.high_fen, s.low_fen, s.last_fen, s.listed_volume_t, s.listed_turnover_fen,
                          s.block_volume_t, s.block_turnover_fen, s.auction_volume_t, s.auction_turnover_fen,
                          s.volume_t, s.turnover_fen, s.trades)
                         IS DISTINCT FROM
                         (f.open_fen, f.high_fen, f.low_fen, f.last_fen, f.listed_volume_t, f.listed_turnover_fen,
                          f.block_volume_t, f.block_turnover_fen, f.auction_volume_t, f.auction_turnover_fen,
                          f.volume_t, f.turnover_fen, coalesce(f.trades, 0))$$,
                'the kept statistics are the trade tape''s');
SELECT is_empty($$SELECT b.trade_date, b.product FROM bi_market_daily b
                   JOIN market_close c ON (c.product, c.business_date) = (b.product, b.trade_date)
                   LEFT JOIN market_daily l ON (l.product, l.business_date, l.mode) = (b.product, b.trade_date, 'listed')
                   LEFT JOIN (SELECT product, business_date, sum(volume) AS volume, sum(turnover_cny) AS turnover, sum(trades) AS trades
                                FROM market_daily GROUP BY 1, 2) a ON (a.product, a.business_date) = (b.product, b.trade_date)
                   WHERE (b.close_cny, b.previous_close_cny, b.close_final, b.open_cny, b.high_cny, b.low_cny, b.last_cny,
                          b.listed_volume_t, b.listed_turnover_cny, b.volume_t, b.turnover_cny, b.trades)
                         IS DISTINCT FROM
                         (c.close, c.previous_close, c.final, l.open, l.high, l.low, l.last, coalesce(l.volume, 0),
                          coalesce(l.turnover_cny, 0), coalesce(a.volume, 0), coalesce(a.turnover, 0), coalesce(a.trades, 0))
                      OR (SELECT count(*) FROM bi_market_daily) <> (SELECT count(*) FROM product_day)$$,
                'bi_market_daily (kept statistics) agrees with market_close and market_daily (the tape)');

SELECT * FROM finish();
ROLLBACK;
