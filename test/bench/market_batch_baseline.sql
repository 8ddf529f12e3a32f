-- test/bench/market_batch_baseline.sql: the baseline of market_batch.sql (included by it).
--
-- A PL/pgSQL implementation of the same matching rules as the C engine's process_queue
-- (src/matching.c), written the way one would in PL/pgSQL: for each queued listed order
-- of today, in order id sequence, find the best crossing resting order with an index
-- query, fill, write the trade and both orders at once, and settle each fill
-- delivery-versus-payment through the registry's public functions right away.
--
-- Same rules: price-time priority at the resting order's price; partial fills; 摘牌
-- (take_order_id) trades with its listing only and cancels its remainder; self-trade
-- prevention cancels the resting order; fees per side fee_fen(N + n) - fee_fen(N) on the
-- order's cumulative value; a resting order gets the next priority of the product's day;
-- an order that ends releases what its hold still freezes.  The resulting trades, orders
-- and balances must equal the C engine's (market_batch.sql checks it).
--
-- Settlement per fill (the direct plan): the sell order's hold delivers to the buyer's
-- holding account, the buy order's hold pays the seller's cash account (price minus
-- seller fee) and the clearing account (both fees).
\if :{?market_bench_include}
\else
\echo 'test/bench/market_batch_baseline.sql is the baseline of market_batch.sql, not a benchmark of its own'
\quit
\endif

CREATE SCHEMA IF NOT EXISTS bench;

CREATE FUNCTION bench.plpgsql_process_queue(p_product int, p_max int,
                                           OUT orders bigint, OUT trades bigint, OUT registry_calls bigint,
                                           OUT settle_ms float8)
LANGUAGE plpgsql AS
$$
DECLARE
    d           date := carbonmkt.business_date();
    ts          timestamptz := carbonmkt.clock_now();
    rate        numeric := (carbonmkt.market_rule_at('listed', carbonmkt.business_date())).fee_rate;
    clearing    bigint;
    seq         bigint;
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
BEGIN
    orders := 0; trades := 0; registry_calls := 0; settle_ms := 0;
    SELECT p.clearing_account INTO clearing FROM carbonmkt.product p WHERE p.product_id = p_product;
    SELECT pd.book_seq INTO seq FROM carbonmkt.product_day pd
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
                t0 := clock_timestamp();
                PERFORM carbonmkt.release_hold(best.hold_id, NULL, 'market order ' || best.order_id || ' cancelled (self_trade)');
                settle_ms := settle_ms + extract(epoch FROM clock_timestamp() - t0) * 1000;
                registry_calls := registry_calls + 1;
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

            t0 := clock_timestamp();
            PERFORM carbonmkt.transfer_from_hold(sell.hold_id, buy.holding_account, q, NULL,
                                                 'market order ' || sell.order_id || ': delivery');
            PERFORM carbonmkt.transfer_from_hold(buy.hold_id, sell.cash_account, n - sf, NULL,
                                                 'market order ' || buy.order_id || ': payment');
            registry_calls := registry_calls + 2;
            IF bf + sf > 0 THEN
                PERFORM carbonmkt.transfer_from_hold(buy.hold_id, clearing, bf + sf, NULL,
                                                     'market order ' || buy.order_id || ': fees');
                registry_calls := registry_calls + 1;
            END IF;
            settle_ms := settle_ms + extract(epoch FROM clock_timestamp() - t0) * 1000;

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
            IF best.remaining = 0 AND best.hold_left > 0 THEN
                t0 := clock_timestamp();
                PERFORM carbonmkt.release_hold(best.hold_id, NULL, 'market order ' || best.order_id || ' filled (filled)');
                settle_ms := settle_ms + extract(epoch FROM clock_timestamp() - t0) * 1000;
                registry_calls := registry_calls + 1;
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
            IF inc.hold_left > 0 THEN
                t0 := clock_timestamp();
                PERFORM carbonmkt.release_hold(inc.hold_id, NULL, 'market order ' || inc.order_id || ' ended');
                settle_ms := settle_ms + extract(epoch FROM clock_timestamp() - t0) * 1000;
                registry_calls := registry_calls + 1;
            END IF;
            UPDATE carbonmkt.market_order o
               SET remaining = inc.remaining, filled_notional = inc.filled_notional, fees_fen = inc.fees_fen, hold_left = 0,
                   status = CASE WHEN inc.remaining = 0 THEN 'filled' ELSE 'cancelled' END::carbonmkt.order_status,
                   ended_at = ts, end_reason = CASE WHEN inc.remaining = 0 THEN 'filled' ELSE reason END
             WHERE o.order_id = inc.order_id;
        ELSE
            seq := seq + 1;
            UPDATE carbonmkt.market_order o
               SET remaining = inc.remaining, filled_notional = inc.filled_notional, fees_fen = inc.fees_fen,
                   hold_left = inc.hold_left, status = 'open', priority = seq
             WHERE o.order_id = inc.order_id;
        END IF;
    END LOOP;
    UPDATE carbonmkt.product_day pd SET book_seq = seq WHERE pd.product_id = p_product AND pd.business_date = d;
END
$$;
