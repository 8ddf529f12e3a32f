-- test/bench/market_batch_baseline.sql: the baseline of market_batch.sql (included by it).
--
-- A PL/pgSQL implementation of the same matching rules as the C engine's process_queue
-- (src/matching.c), written the way one would in PL/pgSQL: for each queued listed order
-- of today, in order id sequence, find the best crossing resting order with an index
-- query, fill, write the trade and both orders at once, and settle the batch once at the
-- end through the same set-based settle_batch as the engine (below).
--
-- Same rules: price-time priority at the resting order's price; partial fills; 摘牌
-- (take_order_id) trades with its listing only and cancels its remainder; self-trade
-- prevention cancels the resting order; fees per side fee_fen(N + n) - fee_fen(N) on the
-- order's cumulative value; a resting order gets the next value of the book's priority
-- sequence (carbonmkt.market_priority_seq, as the engine draws it);
-- an order that ends releases what its hold still freezes.  The resulting trades, orders
-- and balances must equal the C engine's (market_batch.sql checks it).
--
-- Settlement, gross per fill and net per batch: the sell order's hold gives the tonnes
-- to the buyer's holding account, the buy order's hold the value and the buyer's fee to
-- the seller's cash account (value minus the seller's fee) and the clearing account (both
-- fees); an order that ends releases what its hold still freezes.  Per fill the baseline
-- appends these amounts to two temporary tables; at the end one settle_batch call gets them
-- summed per hold and per receiving account.  settle_batch is the market room's (the
-- function runs with carbonmkt.acting_room = 'market' like process_queue; only this
-- benchmark's superuser can create such a function).
\if :{?market_bench_include}
\else
\echo 'test/bench/market_batch_baseline.sql is the baseline of market_batch.sql, not a benchmark of its own'
\quit
\endif

CREATE SCHEMA IF NOT EXISTS bench;

CREATE FUNCTION bench.plpgsql_process_queue(p_product int, p_max int,
                                           OUT orders bigint, OUT trades bigint, OUT registry_calls bigint,
                                           OUT settle_ms float8)
LANGUAGE plpgsql SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    d           date := carbonmkt.business_date();
    ts          timestamptz := carbonmkt.clock_now();
    rate        numeric := (carbonmkt.market_rule_at('listed', carbonmkt.business_date())).fee_rate;
    clearing    bigint;
    inc         carbonmkt.market_order;
    best        carbonmkt.market_order;
    buy         carbonmkt.market_order;
    sell        carbonmkt.market_order;
    q           bigint;
    n           bigint;
    bf          bigint;
    sf          bigint;
    t0          timestamptz;
    reason      text;
    p_instr     carbonmkt.instrument;
    p_vintage   int;
    p_project   text;
    h           record;
    c           record;
BEGIN
    orders := 0; trades := 0; registry_calls := 0; settle_ms := 0;
    CREATE TEMP TABLE IF NOT EXISTS bench_spend (hold_id bigint, spent bigint, released bigint) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS bench_credit (account_id bigint, instrument carbonmkt.instrument, vintage int,
                                                  project text, amount bigint) ON COMMIT DROP;
    SELECT p.clearing_account, p.instrument, p.vintage, p.project INTO clearing, p_instr, p_vintage, p_project
      FROM carbonmkt.product p WHERE p.product_id = p_product;
    -- the matcher lock of the book, as the engine takes it
    PERFORM FROM carbonmkt.product_day pd
     WHERE pd.product_id = p_product AND pd.business_date = d FOR NO KEY UPDATE;

    FOR inc IN SELECT * FROM carbonmkt.market_order o
                WHERE o.product_id = p_product AND o.status = 'queued' AND o.business_date = d AND o.mode = 'listed'
                ORDER BY o.order_id LIMIT p_max
    LOOP
        orders := orders + 1;
        reason := NULL;
        LOOP
            EXIT WHEN inc.remaining = 0;
            IF inc.take_order_id IS NOT NULL THEN
                -- 摘牌: only the named listing, once
                SELECT * INTO best FROM carbonmkt.market_order o WHERE o.order_id = inc.take_order_id;
                IF NOT FOUND OR best.status <> 'open' OR best.mode <> 'listed' OR best.product_id <> p_product
                   OR best.business_date <> d OR best.side = inc.side THEN
                    reason := 'listing_unavailable';
                    EXIT;
                ELSIF best.participant_id = inc.participant_id THEN
                    reason := 'self_trade';
                    EXIT;
                ELSIF (inc.side = 'buy' AND inc.price_fen < best.price_fen) OR (inc.side = 'sell' AND inc.price_fen > best.price_fen) THEN
                    reason := 'listing_price';
                    EXIT;
                END IF;
            ELSIF inc.side = 'buy' THEN
                SELECT * INTO best FROM carbonmkt.market_order o
                 WHERE o.product_id = p_product AND o.business_date = d AND o.mode = 'listed' AND o.status = 'open'
                   AND o.side = 'sell' AND o.price_fen <= inc.price_fen
                 ORDER BY o.price_fen, o.priority LIMIT 1;
                EXIT WHEN NOT FOUND;
            ELSE
                SELECT * INTO best FROM carbonmkt.market_order o
                 WHERE o.product_id = p_product AND o.business_date = d AND o.mode = 'listed' AND o.status = 'open'
                   AND o.side = 'buy' AND o.price_fen >= inc.price_fen
                 ORDER BY o.price_fen DESC, o.priority LIMIT 1;
                EXIT WHEN NOT FOUND;
            END IF;

            IF best.participant_id = inc.participant_id THEN
                -- self-trade prevention: the resting order is cancelled
                INSERT INTO bench_spend VALUES (best.hold_id, 0, best.hold_left);
                UPDATE carbonmkt.market_order o SET status = 'cancelled', hold_left = 0, ended_at = ts, end_reason = 'self_trade'
                 WHERE o.order_id = best.order_id;
                CONTINUE;
            END IF;

            -- the fill, at the resting order's price
            q := least(inc.remaining, best.remaining);
            n := q * best.price_fen;
            IF inc.side = 'buy' THEN buy := inc; sell := best; ELSE buy := best; sell := inc; END IF;
            bf := carbonmkt.fee_fen(buy.filled_notional + n, rate) - carbonmkt.fee_fen(buy.filled_notional, rate);
            sf := carbonmkt.fee_fen(sell.filled_notional + n, rate) - carbonmkt.fee_fen(sell.filled_notional, rate);
            INSERT INTO carbonmkt.trade (product_id, mode, business_date, executed_at, price_fen, quantity, buy_order_id,
                                         sell_order_id, buyer_id, seller_id, buyer_fee_fen, seller_fee_fen, aggressor)
            VALUES (p_product, 'listed', d, ts, best.price_fen, q, buy.order_id, sell.order_id, buy.participant_id,
                    sell.participant_id, bf, sf, inc.side);
            trades := trades + 1;

            INSERT INTO bench_spend VALUES (sell.hold_id, q, NULL), (buy.hold_id, n + bf, NULL);
            INSERT INTO bench_credit VALUES (buy.holding_account, p_instr, p_vintage, p_project, q),
                                            (sell.cash_account, 'CNY', 0, '', n - sf), (clearing, 'CNY', 0, '', bf + sf);

            buy.remaining := buy.remaining - q;
            buy.filled_notional := buy.filled_notional + n;
            buy.fees_fen := buy.fees_fen + bf;
            buy.hold_left := buy.hold_left - n - bf;
            sell.remaining := sell.remaining - q;
            sell.filled_notional := sell.filled_notional + n;
            sell.fees_fen := sell.fees_fen + sf;
            sell.hold_left := sell.hold_left - q;
            IF inc.side = 'buy' THEN inc := buy; best := sell; ELSE inc := sell; best := buy; END IF;

            -- the resting order now
            IF best.remaining = 0 THEN
                INSERT INTO bench_spend VALUES (best.hold_id, 0, best.hold_left);
            END IF;
            UPDATE carbonmkt.market_order o
               SET remaining = best.remaining, filled_notional = best.filled_notional, fees_fen = best.fees_fen,
                   hold_left = CASE WHEN best.remaining = 0 THEN 0 ELSE best.hold_left END,
                   status = CASE WHEN best.remaining = 0 THEN 'filled' ELSE 'open' END::carbonmkt.order_status,
                   ended_at = CASE WHEN best.remaining = 0 THEN ts END,
                   end_reason = CASE WHEN best.remaining = 0 THEN 'filled' END
             WHERE o.order_id = best.order_id;
            IF inc.take_order_id IS NOT NULL THEN
                reason := 'take_remainder';
                EXIT;
            END IF;
        END LOOP;

        -- the incoming order now: filled, cancelled (摘牌) or resting
        IF inc.remaining = 0 OR reason IS NOT NULL THEN
            INSERT INTO bench_spend VALUES (inc.hold_id, 0, inc.hold_left);
            UPDATE carbonmkt.market_order o
               SET remaining = inc.remaining, filled_notional = inc.filled_notional, fees_fen = inc.fees_fen, hold_left = 0,
                   status = CASE WHEN inc.remaining = 0 THEN 'filled' ELSE 'cancelled' END::carbonmkt.order_status,
                   ended_at = ts, end_reason = CASE WHEN inc.remaining = 0 THEN 'filled' ELSE reason END
             WHERE o.order_id = inc.order_id;
        ELSE
            UPDATE carbonmkt.market_order o
               SET remaining = inc.remaining, filled_notional = inc.filled_notional, fees_fen = inc.fees_fen,
                   hold_left = inc.hold_left, status = 'open',
                   priority = nextval('carbonmkt.market_priority_seq')
             WHERE o.order_id = inc.order_id;
        END IF;
    END LOOP;

    -- the batch's settlement: one set-based registry posting (统一交收), like the engine's
    t0 := clock_timestamp();
    SELECT array_agg(x.hold_id ORDER BY x.hold_id) AS ids, array_agg(x.spent ORDER BY x.hold_id) AS spent,
           array_agg(x.released IS NOT NULL ORDER BY x.hold_id) AS rel INTO h
      FROM (SELECT b.hold_id, sum(b.spent)::bigint AS spent, max(b.released) AS released FROM bench_spend b
             GROUP BY b.hold_id HAVING sum(b.spent) > 0 OR coalesce(max(b.released), 0) > 0) x;
    SELECT array_agg(x.account_id ORDER BY x.account_id, x.instrument) AS acc,
           array_agg(x.instrument ORDER BY x.account_id, x.instrument) AS instr,
           array_agg(x.vintage ORDER BY x.account_id, x.instrument) AS vin,
           array_agg(x.project ORDER BY x.account_id, x.instrument) AS proj,
           array_agg(x.amount ORDER BY x.account_id, x.instrument) AS amt INTO c
      FROM (SELECT b.account_id, b.instrument, b.vintage, b.project, sum(b.amount)::bigint AS amount FROM bench_credit b
             GROUP BY 1, 2, 3, 4 HAVING sum(b.amount) > 0) x;
    IF h.ids IS NOT NULL THEN
        PERFORM carbonmkt.settle_batch(h.ids, h.spent, h.rel, coalesce(c.acc, '{}'), coalesce(c.instr, '{}'),
                                       coalesce(c.vin, '{}'), coalesce(c.proj, '{}'), coalesce(c.amt, '{}'),
                                       NULL, 'market ' || p_product || ': baseline batch');
        registry_calls := 1;
    END IF;
    settle_ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
    TRUNCATE bench_spend, bench_credit;
END
$$;
