
-------------------------------------------------------------------------------
-- market (全国碳排放权交易): products, the trading calendar and sessions, the
-- market rule tables, orders, the C matching engine, block agreements,
-- one-way bidding, delivery-versus-payment settlement and market data.
-- C: src/matching.c.  Documentation: doc/market.md.
--
-- The market never writes registry tables: every movement of allowances and
-- cash goes through the registry's functions (hold, release_hold, and for the
-- fills of a flush the unified settlement settle_batch, 统一交收; CCER:
-- transfer_from_hold), called from SECURITY DEFINER
-- functions that carry SET carbonmkt.acting_room = 'market' after the market has
-- authorised its caller (doc/registry.md, "Rooms that post").
-------------------------------------------------------------------------------

-- Modes, sides, states ----------------------------------------------------------

CREATE TYPE carbonmkt.trade_mode AS ENUM (
    'listed',       -- 挂牌协议交易 listed agreement: a continuous order book
    'block',        -- 大宗协议交易 block agreement: negotiated, >= the block threshold
    'auction'       -- 单向竞价 one-way bidding: an announced lot, bids allocated at close
);
COMMENT ON TYPE carbonmkt.trade_mode IS
  'Trading modes of the national exchange (RULES.md 5): listed 挂牌协议交易, block 大宗协议交易, auction 单向竞价.';

CREATE TYPE carbonmkt.order_side AS ENUM ('buy', 'sell');
COMMENT ON TYPE carbonmkt.order_side IS 'Side of an order: buy (pays cash, receives allowances) or sell.';

CREATE TYPE carbonmkt.order_status AS ENUM (
    'queued',       -- validated and held, waiting for the matcher (queue_order, or inside submit_order)
    'open',         -- resting in the book (listed), waiting for confirmation (block) or for the close (auction)
    'filled',       -- nothing remains
    'cancelled',    -- ended by its owner, by self-trade prevention or because its listing was gone
    'expired'       -- ended by the end of the day, the end of a block session, or not allocated in an auction
);
COMMENT ON TYPE carbonmkt.order_status IS
  'Order lifecycle: queued -> open -> filled | cancelled | expired (doc/market.md).  An ended order has released what remained of its hold.';

-- Rule tables (ARCHITECTURE.md principle 2: every number is a row) ------------------

CREATE TABLE carbonmkt.market_rule (
    jurisdiction    text NOT NULL DEFAULT 'CN' REFERENCES carbonmkt.jurisdiction,
    mode            carbonmkt.trade_mode NOT NULL,
    valid_from      date NOT NULL,
    min_quantity    bigint NOT NULL CHECK (min_quantity >= 1),      -- t per order, inclusive
    below_quantity  bigint CHECK (below_quantity > min_quantity),   -- t per order, exclusive upper bound; NULL none
    lot             bigint NOT NULL CHECK (lot >= 1),               -- quantity step, t
    tick_fen        bigint NOT NULL CHECK (tick_fen >= 1),          -- price step, fen
    band            numeric CHECK (band > 0 AND band < 1),          -- price band, fraction of the previous close; NULL none
    fee_rate        numeric CHECK (fee_rate >= 0 AND fee_rate < 1 AND fee_rate = round(fee_rate, 8)),   -- NULL: not set (refused)
    clearing_rule   text CHECK (clearing_rule IN ('uniform', 'pay_as_bid')),   -- one-way bidding only
    same_day_resale boolean NOT NULL DEFAULT false,                 -- false: units bought today are not sold today
    valid_until     date,                                           -- last day the rule applies; NULL: until replaced
    source          text NOT NULL,                                  -- the document it implements (doc/rules.md)
    PRIMARY KEY (jurisdiction, mode, valid_from),
    CONSTRAINT market_rule_period_check CHECK (valid_until >= valid_from),
    CHECK ((mode = 'auction') = (clearing_rule IS NOT NULL))
);
COMMENT ON TABLE carbonmkt.market_rule IS
  'Market rules per jurisdiction, trading mode and period (the row with the latest valid_from on or before the business date applies, unless its valid_until is before it): order size limits (block threshold), lot, price step, price band around the previous close, fee rate per side (NULL: not set, orders are refused until the exchange sets it), clearing rule of one-way bidding, same-day resale, and the document the row implements (source).  Seeded with the national rules of RULES.md 5 (doc/rules.md).';

-- The national rules (RULES.md 5).  No source gives the exchange's fee schedule: the
-- shipped rows have no fee rate (NULL), and an order is refused until the exchange sets it
-- (carbonmkt.amend_rule('market_rule', ..., '{"fee_rate": ...}'); doc/rules.md).
INSERT INTO carbonmkt.market_rule
       (jurisdiction, mode, valid_from, min_quantity, below_quantity, lot, tick_fen, band, fee_rate, clearing_rule, source)
VALUES ('CN', 'listed',  '2021-07-16', 1,      100000, 1, 1, 0.10, NULL,    NULL,
        'RULES.md 5 [public: the national exchange''s trading rules, 2021]: listed agreement (挂牌协议交易) below 100,000 t per order, price band +/-10% of the previous close, lot 1 t, price step 0.01 CNY, from the launch on 2021-07-16 (S3); the sources give no fee rate (NULL)'),
       ('CN', 'block',   '2021-07-16', 100000, NULL,   1, 1, 0.30, NULL,    NULL,
        'RULES.md 5 [public: the national exchange''s trading rules, 2021]: block agreement (大宗协议交易) from 100,000 t per order, price band +/-30% of the previous close, lot 1 t, price step 0.01 CNY; the sources give no fee rate (NULL)'),
       ('CN', 'auction', '2025-06-01', 1,      NULL,   1, 1, NULL, NULL,    'uniform',
        'RULES.md 5 [S3 L211-214: one-way bidding (单向竞价) in use since June 2025]: an announced lot, one clearing price; the sources give no fee rate (NULL)');

CREATE TABLE carbonmkt.market_session (
    jurisdiction    text NOT NULL DEFAULT 'CN' REFERENCES carbonmkt.jurisdiction,
    mode            carbonmkt.trade_mode NOT NULL,
    valid_from      date NOT NULL,
    opens           time NOT NULL,
    closes          time NOT NULL CHECK (closes > opens),
    valid_until     date,           -- last day the session applies; NULL: until replaced
    source          text NOT NULL,  -- the document it implements (doc/rules.md)
    PRIMARY KEY (jurisdiction, mode, valid_from, opens),
    CONSTRAINT market_session_period_check CHECK (valid_until >= valid_from)
);
COMMENT ON TABLE carbonmkt.market_session IS
  'Trading sessions per jurisdiction, mode and period, China Standard Time, [opens, closes).  The sessions of a mode on a date are the rows with the latest valid_from on or before it (none when they ended, valid_until, before it).  One-way bidding trades in each auction''s announced window instead.';
INSERT INTO carbonmkt.market_session VALUES
  ('CN', 'listed', '2021-07-16', '09:30', '11:30', NULL, 'RULES.md 5 [public: the national exchange''s trading rules, 2021]: listed agreement 9:30-11:30 and 13:00-15:00 on trading days'),
  ('CN', 'listed', '2021-07-16', '13:00', '15:00', NULL, 'RULES.md 5 [public: the national exchange''s trading rules, 2021]: listed agreement 9:30-11:30 and 13:00-15:00 on trading days'),
  ('CN', 'block',  '2021-07-16', '13:00', '15:00', NULL, 'RULES.md 5 [public: the national exchange''s trading rules, 2021]: block agreement 13:00-15:00 on trading days');

CREATE TABLE carbonmkt.trading_calendar (
    jurisdiction    text NOT NULL DEFAULT 'CN' REFERENCES carbonmkt.jurisdiction,
    business_date   date NOT NULL,
    is_trading_day  boolean NOT NULL,
    note            text,
    PRIMARY KEY (jurisdiction, business_date)
);
COMMENT ON TABLE carbonmkt.trading_calendar IS
  'Exceptions to the trading calendar: Monday to Friday are trading days unless a row says otherwise (public holidays); a row can also open a weekend day.  Maintained by the exchange; seeded with the 2025 public holidays that fall on weekdays.';
INSERT INTO carbonmkt.trading_calendar (business_date, is_trading_day, note)
SELECT d::date, false, note
  FROM (VALUES ('2025-01-01'::date, '2025-01-01'::date, '元旦 New Year''s Day'),
               ('2025-01-28', '2025-02-04', '春节 Spring Festival'),
               ('2025-04-04', '2025-04-04', '清明节 Qingming'),
               ('2025-05-01', '2025-05-05', '劳动节 Labour Day'),
               ('2025-06-02', '2025-06-02', '端午节 Dragon Boat Festival'),
               ('2025-10-01', '2025-10-08', '国庆节、中秋节 National Day and Mid-Autumn Festival')) h(f, t, note),
       generate_series(f, t, interval '1 day') d
 WHERE extract(isodow FROM d) < 6;

CREATE TABLE carbonmkt.trader_rule (
    jurisdiction     text NOT NULL DEFAULT 'CN' REFERENCES carbonmkt.jurisdiction,
    participant_kind carbonmkt.participant_kind NOT NULL,
    valid_from       date NOT NULL,
    may_trade        boolean NOT NULL,          -- enter listed and block orders and bids
    may_announce     boolean NOT NULL,          -- announce one-way bidding lots
    max_position     bigint CHECK (max_position > 0),   -- t of one product: holding + open buy orders; NULL none
    valid_until      date,          -- last day the rule applies; NULL: until replaced
    source           text NOT NULL, -- the document it implements (doc/rules.md)
    PRIMARY KEY (jurisdiction, participant_kind, valid_from),
    CONSTRAINT trader_rule_period_check CHECK (valid_until >= valid_from)
);
COMMENT ON TABLE carbonmkt.trader_rule IS
  'Who may trade, per participant kind and period, and the position limit (最大持仓量): a buy order may not bring holding + open buy orders of one product above max_position.  A kind without a row may not trade.  Seeded after the pilots of RULES.md 5 (Beijing: non-compliance institutions <= 1,000,000 t, natural persons <= 50,000 t; key emitting units without a fixed limit).';
INSERT INTO carbonmkt.trader_rule VALUES
  ('CN', 'key_emitter',          '2021-07-16', true,  true,  NULL, NULL,
   'RULES.md 1 and 5 [public: 碳排放权交易管理办法（试行） 2021 Art. 20, the trading parties]: key emitting units trade; no position limit (the Beijing pilot allows its own allocation + 1,000,000 t, S1 L1203-1204)'),
  ('CN', 'institution',          '2021-07-16', true,  true,  1000000, NULL,
   'RULES.md 1 and 5 [public: 2021 Measures Art. 20]: institutions trade; position limit 1,000,000 t after the Beijing pilot''s limit for non-compliance institutions (S1 L1205)'),
  ('CN', 'individual',           '2021-07-16', true,  false, 50000, NULL,
   'RULES.md 1 and 5 [public: 2021 Measures Art. 20]: individuals trade; position limit 50,000 t after the Beijing pilot''s limit for natural persons (S1 L1207)'),
  ('CN', 'national_authority',   '2021-07-16', false, true,  NULL, NULL,
   'RULES.md 1 and 7 [S1 Art. 11: the national reserve, auctions]: the national authority announces one-way bidding lots, does not trade'),
  ('CN', 'provincial_authority', '2021-07-16', false, true,  NULL, NULL,
   'RULES.md 1 and 3 [S1 L1041-1182: paid allocation by auction]: a provincial authority announces one-way bidding lots, does not trade');

-- Products and the per-day book row ------------------------------------------------

CREATE TABLE carbonmkt.product (
    product_id          int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code                text NOT NULL UNIQUE CHECK (code ~ '^[A-Z][A-Z0-9._-]{2,39}$'),
    instrument          carbonmkt.instrument NOT NULL CHECK (instrument IN ('CEA', 'CCER')),
    vintage             int NOT NULL CHECK (vintage BETWEEN 2005 AND 2100),
    project             text NOT NULL DEFAULT '' CHECK ((instrument = 'CCER') = (project <> '')),
    jurisdiction        text NOT NULL DEFAULT 'CN' REFERENCES carbonmkt.jurisdiction,
    reference_price_fen bigint NOT NULL CHECK (reference_price_fen > 0),
    clearing_account    bigint NOT NULL REFERENCES carbonmkt.account,
    active              boolean NOT NULL DEFAULT true,
    listed_at           timestamptz NOT NULL
);
COMMENT ON TABLE carbonmkt.product IS
  'Tradable products: a CEA vintage (code CEA2024) or a CCER project and vintage.  reference_price_fen is the previous close before the product''s first trade (e.g. the 48 CNY/t launch price of 2021-07-16).  clearing_account is the exchange''s clearing account (结算账户) through which the product''s trades settle and which keeps the fees; give each product its own so that products never wait on each other.  Listed with carbonmkt.list_product().';

CREATE TABLE carbonmkt.product_day (
    product_id      int NOT NULL REFERENCES carbonmkt.product,
    business_date   date NOT NULL,
    prev_close_fen  bigint NOT NULL,        -- previous close: the band's centre for the day
    book_seq        bigint NOT NULL DEFAULT 0,   -- time priority counter of one-way bidding's bids
    close_fen       bigint,                 -- closing price, set by end_of_day()
    closed_at       timestamptz,            -- end_of_day() ran: no more orders this day
    PRIMARY KEY (product_id, business_date)
);
COMMENT ON TABLE carbonmkt.product_day IS
  'One row per product and trading day, created with the day''s first order: the previous close (the band''s centre), the time-priority counter of one-way bidding''s bids and, after end_of_day(), the closing price.  Its row lock (FOR NO KEY UPDATE) is the product''s matcher lock: one matcher per product at a time, products never wait on each other.  A listed order that rests behind the best price of its side without reaching the other side locks it FOR SHARE instead (_rests_behind): such orders enter side by side, and every matcher waits for them.';

-- Orders, trades, block deals, auctions --------------------------------------------

CREATE SEQUENCE carbonmkt.market_order_id_seq;
COMMENT ON SEQUENCE carbonmkt.market_order_id_seq IS 'Order ids (the order id is known before the hold is laid, so the hold''s memo names it).';

CREATE SEQUENCE carbonmkt.market_priority_seq;
COMMENT ON SEQUENCE carbonmkt.market_priority_seq IS
  'Time priority (时间优先) of listed orders: an order draws the next value when it comes to rest in the book (market_order.priority).  It only grows, and an order draws it while it holds a lock on its book until commit (the matcher lock, or FOR SHARE when it rests without matching), so at one price a smaller value is an earlier order.';

CREATE TABLE carbonmkt.auction (
    auction_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id      int NOT NULL REFERENCES carbonmkt.product,
    side            carbonmkt.order_side NOT NULL,       -- the announcer's side (sell: an allowance sale)
    quantity        bigint NOT NULL CHECK (quantity > 0),
    reserve_fen     bigint NOT NULL CHECK (reserve_fen > 0),   -- lowest bid (sell lot) / highest offer (buy lot)
    opens_at        timestamptz NOT NULL,
    closes_at       timestamptz NOT NULL CHECK (closes_at > opens_at),
    clearing_rule   text NOT NULL CHECK (clearing_rule IN ('uniform', 'pay_as_bid')),
    lot_order_id    bigint NOT NULL,                     -- the announcer's order, holding the lot
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'cancelled')),
    clearing_fen    bigint,                              -- uniform price, or the marginal price under pay-as-bid
    allocated       bigint,                              -- t allocated at the close
    announced_by    bigint NOT NULL REFERENCES carbonmkt.participant,
    closed_at       timestamptz
);
COMMENT ON TABLE carbonmkt.auction IS
  'One-way bidding (单向竞价) lots: the announcer offers (or asks for) a quantity with a reserve price in a window; bids are allocated at the close by price then time, at a uniform price or pay-as-bid (clearing_rule from market_rule).';

CREATE TABLE carbonmkt.market_order (
    order_id        bigint PRIMARY KEY DEFAULT nextval('carbonmkt.market_order_id_seq'),
    product_id      int NOT NULL REFERENCES carbonmkt.product,
    mode            carbonmkt.trade_mode NOT NULL,
    side            carbonmkt.order_side NOT NULL,
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    quantity        bigint NOT NULL CHECK (quantity > 0),
    price_fen       bigint NOT NULL CHECK (price_fen > 0),       -- limit price, fen per t
    remaining       bigint NOT NULL CHECK (remaining >= 0 AND remaining <= quantity),
    status          carbonmkt.order_status NOT NULL,
    priority        bigint,                 -- time priority within the day's book, set when it rests
    take_order_id   bigint REFERENCES carbonmkt.market_order, -- 摘牌: the listing this order takes
    auction_id      bigint REFERENCES carbonmkt.auction,      -- a bid, or the announcer's lot
    holding_account bigint NOT NULL REFERENCES carbonmkt.account,
    cash_account    bigint NOT NULL REFERENCES carbonmkt.account,
    hold_id         bigint NOT NULL REFERENCES carbonmkt.hold,
    hold_amount     bigint NOT NULL CHECK (hold_amount > 0),  -- frozen at entry: t (sell) or fen incl. fee (buy)
    hold_left       bigint NOT NULL CHECK (hold_left >= 0 AND hold_left <= hold_amount),
    filled_notional bigint NOT NULL DEFAULT 0,  -- fen traded so far (the fee base)
    fees_fen        bigint NOT NULL DEFAULT 0,  -- fees paid so far
    business_date   date NOT NULL,
    entered_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    end_reason      text,
    initiator       name NOT NULL,
    reference       text,
    cancel_reference text,
    CHECK ((status IN ('queued', 'open')) = (ended_at IS NULL)),
    CHECK (status <> 'filled' OR remaining = 0),
    CHECK (status NOT IN ('queued', 'open') OR hold_left > 0)
);
CREATE UNIQUE INDEX market_order_reference ON carbonmkt.market_order (initiator, reference)
  WHERE reference IS NOT NULL;
-- the day's book: open listed orders in price-time order, one index per side
CREATE INDEX market_order_asks ON carbonmkt.market_order (product_id, business_date, price_fen, priority)
  WHERE status = 'open' AND mode = 'listed' AND side = 'sell';
CREATE INDEX market_order_bids ON carbonmkt.market_order (product_id, business_date, price_fen DESC, priority)
  WHERE status = 'open' AND mode = 'listed' AND side = 'buy';
CREATE INDEX market_order_queue ON carbonmkt.market_order (product_id, order_id) WHERE status = 'queued';
CREATE INDEX market_order_live ON carbonmkt.market_order (participant_id, product_id)
  WHERE status IN ('queued', 'open');
CREATE INDEX market_order_day ON carbonmkt.market_order (business_date, product_id) WHERE status IN ('queued', 'open');
CREATE INDEX market_order_auction ON carbonmkt.market_order (auction_id) WHERE auction_id IS NOT NULL;
COMMENT ON TABLE carbonmkt.market_order IS
  'Orders of every mode.  Prices and cash in fen, quantities in t.  hold_id is the registry hold laid at entry (sell: the allowances; buy: quantity x limit price + fee); hold_left is what it still freezes and is released when the order ends.  Day orders: what is not filled expires at end_of_day().';

CREATE TABLE carbonmkt.trade (
    trade_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id      int NOT NULL REFERENCES carbonmkt.product,
    mode            carbonmkt.trade_mode NOT NULL,
    business_date   date NOT NULL,
    executed_at     timestamptz NOT NULL,
    price_fen       bigint NOT NULL CHECK (price_fen > 0),
    quantity        bigint NOT NULL CHECK (quantity > 0),
    buy_order_id    bigint NOT NULL REFERENCES carbonmkt.market_order,
    sell_order_id   bigint NOT NULL REFERENCES carbonmkt.market_order,
    buyer_id        bigint NOT NULL REFERENCES carbonmkt.participant,
    seller_id       bigint NOT NULL REFERENCES carbonmkt.participant,
    buyer_fee_fen   bigint NOT NULL CHECK (buyer_fee_fen >= 0),
    seller_fee_fen  bigint NOT NULL CHECK (seller_fee_fen >= 0),
    aggressor       carbonmkt.order_side,   -- listed: the incoming side; NULL for block and auction
    CHECK (buyer_id <> seller_id)
);
CREATE INDEX trade_product_day ON carbonmkt.trade (product_id, business_date, mode);
CREATE INDEX trade_buyer_day ON carbonmkt.trade (buyer_id, product_id, business_date);
CREATE INDEX trade_seller ON carbonmkt.trade (seller_id);
CREATE INDEX trade_buy_order ON carbonmkt.trade (buy_order_id);
CREATE INDEX trade_sell_order ON carbonmkt.trade (sell_order_id);
COMMENT ON TABLE carbonmkt.trade IS
  'Every fill (成交): price (fen per t), quantity (t), the two orders and parties, the fees each side paid (fen).  Settled delivery-versus-payment in the transaction that wrote it.';

CREATE TABLE carbonmkt.block_deal (
    deal_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id      int NOT NULL REFERENCES carbonmkt.product,
    proposer_order  bigint NOT NULL REFERENCES carbonmkt.market_order,
    proposer_id     bigint NOT NULL REFERENCES carbonmkt.participant,
    counterparty_id bigint NOT NULL REFERENCES carbonmkt.participant,
    counter_order   bigint REFERENCES carbonmkt.market_order,
    side            carbonmkt.order_side NOT NULL,        -- the proposer's side
    quantity        bigint NOT NULL,
    price_fen       bigint NOT NULL,
    status          text NOT NULL DEFAULT 'proposed'
                    CHECK (status IN ('proposed', 'confirmed', 'accepted', 'cancelled', 'expired')),
    trade_id        bigint REFERENCES carbonmkt.trade,
    business_date   date NOT NULL,
    proposed_at     timestamptz NOT NULL,
    confirmed_at    timestamptz,
    ended_at        timestamptz,
    CHECK (proposer_id <> counterparty_id)
);
COMMENT ON TABLE carbonmkt.block_deal IS
  'Block agreements (大宗协议交易): proposed by one side, confirmed by the named counterparty, accepted (and settled) by the exchange; expire at the end of the block session.';

-- Small helpers -------------------------------------------------------------------------

CREATE FUNCTION carbonmkt._mode_name(carbonmkt.trade_mode) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT CASE $1 WHEN 'listed' THEN 'listed agreement (挂牌协议交易)'
                  WHEN 'block' THEN 'block agreement (大宗协议交易)'
                  ELSE 'one-way bidding (单向竞价)' END $$;
COMMENT ON FUNCTION carbonmkt._mode_name(carbonmkt.trade_mode) IS 'Internal: a trading mode''s name for messages.';

CREATE FUNCTION carbonmkt._cny(fen bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
$$ SELECT to_char(fen / 100.0, 'FM999999999999990.00') $$;
COMMENT ON FUNCTION carbonmkt._cny(bigint) IS 'Internal: a price in fen as CNY with two decimals, e.g. 6000 -> "60.00".';

CREATE FUNCTION carbonmkt._t(tonnes bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
$$ SELECT to_char(tonnes, 'FM999,999,999,999,999,990') || ' t' $$;
COMMENT ON FUNCTION carbonmkt._t(bigint) IS 'Internal: tonnes for messages, e.g. "100,000 t".';

-- PL/pgSQL, not SQL: every buy order calls it, and a SQL function that is not inlined is
-- planned again on every call (doc/performance.md, "continuous order entry").
CREATE FUNCTION carbonmkt.fee_fen(notional_fen bigint, fee_rate numeric) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS
$$
BEGIN
    IF abs(notional_fen * fee_rate) >= 9223372036854775807.5 THEN
        RETURN carbonmkt._refuse(NULL::bigint, 'CM902',
                   format('fee_fen: the fee on %s fen at rate %s exceeds the largest amount of fen', notional_fen, fee_rate));
    END IF;
    RETURN round(notional_fen * fee_rate)::bigint;
END
$$;
COMMENT ON FUNCTION carbonmkt.fee_fen(bigint, numeric) IS
  'The fee on a notional, fen, rounded half up.  A fill pays fee_fen(order''s notional after it) - fee_fen(before it), so an order''s fees always equal fee_fen of its total notional (what its hold reserved for).';

CREATE FUNCTION carbonmkt.market_rule_at(mode carbonmkt.trade_mode, business_date date, jurisdiction text DEFAULT 'CN')
RETURNS carbonmkt.market_rule LANGUAGE plpgsql STABLE PARALLEL SAFE AS
$$
DECLARE
    r   carbonmkt.market_rule;
BEGIN
    SELECT * INTO r FROM carbonmkt.market_rule x
     WHERE x.jurisdiction = market_rule_at.jurisdiction AND x.mode = market_rule_at.mode AND x.valid_from <= market_rule_at.business_date
       AND (x.valid_until IS NULL OR x.valid_until >= market_rule_at.business_date)
     ORDER BY x.valid_from DESC LIMIT 1;
    IF NOT FOUND THEN
        PERFORM carbonmkt.check_jurisdiction(market_rule_at.jurisdiction);
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION carbonmkt.market_rule_at(carbonmkt.trade_mode, date, text) IS
  'The market rule of a mode that applies on a date (latest valid_from on or before it, not ended by valid_until), or NULL; CM501 for an unknown jurisdiction.';

CREATE TABLE carbonmkt.trading_calendar_year (
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    year            int NOT NULL CHECK (year BETWEEN 2005 AND 2100),
    source          text NOT NULL CHECK (btrim(source) <> ''),
    loaded_by       name NOT NULL,
    loaded_at       timestamptz NOT NULL,
    PRIMARY KEY (jurisdiction, year)
);
COMMENT ON TABLE carbonmkt.trading_calendar_year IS
  'The years whose trading calendar the exchange loaded (load_trading_calendar), with the document it implements (e.g. the State Council''s holiday notice): a date of a year without a row is refused (CM507 "no trading calendar for 2026"), never assumed a trading day.  doc/rules.md.';
INSERT INTO carbonmkt.trading_calendar_year VALUES
  ('CN', 2025, '[public: 国务院办公厅关于2025年部分节假日安排的通知, 国办发明电〔2024〕12号]: the public holidays of 2025; the exchange does not trade on weekends (RULES.md 5: trading days)',
   'carbonmkt', '2025-01-01 00:00:00+08');

CREATE FUNCTION carbonmkt.is_trading_day(business_date date, jurisdiction text DEFAULT 'CN') RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS
$$
DECLARE
    c   boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.trading_calendar_year y
                    WHERE y.jurisdiction = is_trading_day.jurisdiction AND y.year = extract(year FROM is_trading_day.business_date)) THEN
        PERFORM carbonmkt.check_jurisdiction(jurisdiction);
        RAISE EXCEPTION 'no trading calendar for % (jurisdiction %)', extract(year FROM is_trading_day.business_date), jurisdiction
            USING ERRCODE = 'CM507',
                  DETAIL = format('%s is in a year whose trading days and holidays were not loaded.', to_char(is_trading_day.business_date, 'YYYY-MM-DD')),
                  HINT = 'The exchange loads a year''s calendar with carbonmkt.load_trading_calendar(jurisdiction, year, holidays, ...).';
    END IF;
    SELECT x.is_trading_day INTO c FROM carbonmkt.trading_calendar x
     WHERE x.jurisdiction = is_trading_day.jurisdiction AND x.business_date = is_trading_day.business_date;
    RETURN coalesce(c, extract(isodow FROM is_trading_day.business_date) < 6);
END
$$;
COMMENT ON FUNCTION carbonmkt.is_trading_day(date, text) IS
  'Whether a date is a trading day: Monday to Friday unless carbonmkt.trading_calendar says otherwise.  CM501 for an unknown jurisdiction, CM507 for a date of a year without a loaded calendar (trading_calendar_year).';

CREATE FUNCTION carbonmkt.sessions_text(mode carbonmkt.trade_mode, business_date date, jurisdiction text DEFAULT 'CN')
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT coalesce(string_agg(to_char(s.opens, 'HH24:MI') || '–' || to_char(s.closes, 'HH24:MI'), ', ' ORDER BY s.opens),
                   'none')
     FROM carbonmkt.market_session s
    WHERE (carbonmkt.check_jurisdiction(sessions_text.jurisdiction)).code = s.jurisdiction AND s.mode = sessions_text.mode
      AND (s.valid_until IS NULL OR s.valid_until >= sessions_text.business_date)
      AND s.valid_from = (SELECT max(x.valid_from) FROM carbonmkt.market_session x
                           WHERE x.jurisdiction = sessions_text.jurisdiction AND x.mode = sessions_text.mode AND x.valid_from <= sessions_text.business_date) $$;
COMMENT ON FUNCTION carbonmkt.sessions_text(carbonmkt.trade_mode, date, text) IS
  'The sessions of a mode on a date as text, e.g. "09:30–11:30, 13:00–15:00".';

-- Raise CM302 unless the mode's session is open at ts (a trading day, inside a session).
CREATE FUNCTION carbonmkt._check_session(p_mode carbonmkt.trade_mode, p_ts timestamptz, p_jurisdiction text)
RETURNS void LANGUAGE plpgsql STABLE AS
$$
DECLARE
    d   date := carbonmkt.business_date(p_ts);
    t   time := (p_ts AT TIME ZONE 'Asia/Shanghai')::time;
    why text;
BEGIN
    IF NOT carbonmkt.is_trading_day(d, p_jurisdiction) THEN
        SELECT c.note INTO why FROM carbonmkt.trading_calendar c
         WHERE c.jurisdiction = p_jurisdiction AND c.business_date = d;
        RAISE EXCEPTION 'the market is closed on %: not a trading day', to_char(d, 'YYYY-MM-DD')
            USING ERRCODE = 'CM302',
                  DETAIL = coalesce(why, to_char(d, 'FMDay')) || '.',
                  HINT = 'Trading days are Monday to Friday except the holidays in carbonmkt.trading_calendar.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.market_session s
                    WHERE s.jurisdiction = p_jurisdiction AND s.mode = p_mode AND (s.valid_until IS NULL OR s.valid_until >= d)
                      AND s.valid_from = (SELECT max(x.valid_from) FROM carbonmkt.market_session x
                                           WHERE x.jurisdiction = p_jurisdiction AND x.mode = p_mode
                                             AND x.valid_from <= d)
                      AND t >= s.opens AND t < s.closes) THEN
        RAISE EXCEPTION 'the % session is closed at % on %', carbonmkt._mode_name(p_mode),
            to_char(t, 'HH24:MI:SS'), to_char(d, 'YYYY-MM-DD')
            USING ERRCODE = 'CM302',
                  DETAIL = format('Sessions (China Standard Time): %s.', carbonmkt.sessions_text(p_mode, d, p_jurisdiction));
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._check_session(carbonmkt.trade_mode, timestamptz, text) IS
  'Internal: raises CM302 unless ts falls on a trading day inside a session of the mode.';

CREATE FUNCTION carbonmkt._rule(p_mode carbonmkt.trade_mode, p_date date, p_jurisdiction text)
RETURNS carbonmkt.market_rule LANGUAGE plpgsql STABLE AS
$$
DECLARE
    r carbonmkt.market_rule;
BEGIN
    r := carbonmkt.market_rule_at(p_mode, p_date, p_jurisdiction);
    IF r.mode IS NULL THEN
        PERFORM carbonmkt.check_jurisdiction(p_jurisdiction);
        RAISE EXCEPTION 'no % rule applies in jurisdiction "%" on %', carbonmkt._mode_name(p_mode), p_jurisdiction,
            to_char(p_date, 'YYYY-MM-DD')
            USING ERRCODE = 'CM302', HINT = 'See carbonmkt.market_rule.';
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule(carbonmkt.trade_mode, date, text) IS 'Internal: the applicable market rule, CM302 when none.';

-- CNY (numeric, per t) -> fen, on the price step of the rule.
CREATE FUNCTION carbonmkt._price_fen(p_price numeric, p_rule carbonmkt.market_rule)
RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS
$$
BEGIN
    IF p_price IS NULL OR p_price <= 0 THEN
        RAISE EXCEPTION 'price must be positive: %', coalesce(p_price::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF p_price >= 10000000000 THEN
        RAISE EXCEPTION 'price % CNY is out of range', p_price USING ERRCODE = '22003';
    END IF;
    IF p_price * 100 <> trunc(p_price * 100) OR (p_price * 100)::bigint % p_rule.tick_fen <> 0 THEN
        RAISE EXCEPTION 'price % is not a multiple of the price step %', p_price,
            carbonmkt._cny(p_rule.tick_fen) || ' CNY'
            USING ERRCODE = 'CM303',
                  DETAIL = format('The price step (tick) of %s is %s CNY per tonne.', carbonmkt._mode_name(p_rule.mode),
                                  carbonmkt._cny(p_rule.tick_fen)),
                  HINT = 'Round the price to the step.';
    END IF;
    RETURN (p_price * 100)::bigint;
END
$$;
COMMENT ON FUNCTION carbonmkt._price_fen(numeric, carbonmkt.market_rule) IS
  'Internal: a price in CNY per t as fen; 22023 unless positive, CM303 unless a multiple of the rule''s price step (e.g. 60.005 with a step of 0.01).';

CREATE FUNCTION carbonmkt._check_quantity(p_quantity bigint, p_rule carbonmkt.market_rule)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS
$$
BEGIN
    IF p_quantity IS NULL OR p_quantity <= 0 THEN
        RAISE EXCEPTION 'quantity must be positive: %', coalesce(p_quantity::text, 'NULL') || ' t' USING ERRCODE = '22023';
    END IF;
    IF p_quantity % p_rule.lot <> 0 THEN
        RAISE EXCEPTION 'quantity % is not a multiple of the lot %', carbonmkt._t(p_quantity), carbonmkt._t(p_rule.lot)
            USING ERRCODE = 'CM305', DETAIL = format('The quantity step of %s is %s.', carbonmkt._mode_name(p_rule.mode),
                                                     carbonmkt._t(p_rule.lot));
    END IF;
    IF p_rule.below_quantity IS NOT NULL AND p_quantity >= p_rule.below_quantity THEN
        RAISE EXCEPTION 'quantity % is too large for %: orders must be below %', carbonmkt._t(p_quantity),
            carbonmkt._mode_name(p_rule.mode), carbonmkt._t(p_rule.below_quantity)
            USING ERRCODE = 'CM305',
                  HINT = CASE WHEN p_rule.mode = 'listed'
                              THEN format('Quantities of %s and more trade as a block agreement (大宗协议交易), carbonmkt.propose_block().',
                                          carbonmkt._t(p_rule.below_quantity)) END;
    END IF;
    IF p_quantity < p_rule.min_quantity THEN
        RAISE EXCEPTION 'quantity % is too small for %: orders must be at least %', carbonmkt._t(p_quantity),
            carbonmkt._mode_name(p_rule.mode), carbonmkt._t(p_rule.min_quantity)
            USING ERRCODE = 'CM305',
                  HINT = CASE WHEN p_rule.mode = 'block'
                              THEN 'Smaller quantities trade as listed agreement (挂牌协议交易), carbonmkt.submit_order().' END;
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._check_quantity(bigint, carbonmkt.market_rule) IS
  'Internal: 22023 unless positive; CM305 unless a multiple of the lot and inside the mode''s size limits (listed below the block threshold, block at least it).';

-- The previous close of a product before a date: the closing price of the latest
-- day before it with listed-agreement trades (their volume-weighted average price,
-- rounded half up to the fen), else the product's reference price.
CREATE FUNCTION carbonmkt._previous_close(p_product int, p_date date) RETURNS bigint
LANGUAGE sql STABLE AS
$$
    SELECT coalesce(
        (SELECT round(sum(t.price_fen::numeric * t.quantity) / sum(t.quantity))::bigint
           FROM carbonmkt.trade t
          WHERE t.product_id = p_product AND t.mode = 'listed'
            AND t.business_date = (SELECT max(x.business_date) FROM carbonmkt.trade x
                                    WHERE x.product_id = p_product AND x.mode = 'listed' AND x.business_date < p_date)),
        (SELECT p.reference_price_fen FROM carbonmkt.product p WHERE p.product_id = p_product))
$$;
COMMENT ON FUNCTION carbonmkt._previous_close(int, date) IS
  'Internal: the previous close before a date (VWAP of the latest earlier day with listed trades, else the reference price), fen.';

-- The first key of the book's gate, an advisory lock (class, product_id) taken before the
-- product_day row: exclusive with the matcher lock, shared by the orders that rest side by
-- side (_enter_order).  Its lock queue is fair, unlike a row's shared lock, so a matcher is
-- not starved by resting orders that keep coming.  The class is 'CMKB' in ASCII.
CREATE FUNCTION carbonmkt._book_gate() RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT 1129139010 $$;
COMMENT ON FUNCTION carbonmkt._book_gate() IS
  'Internal: the first key of the advisory lock (key, product_id) that gates a listed book: exclusive for the matcher lock, shared for orders that rest side by side (doc/market.md, "Concurrency").';

-- The product's row for a day, created with the previous close on first use; locked
-- FOR NO KEY UPDATE when p_lock (the matcher lock).
CREATE FUNCTION carbonmkt._product_day(p_product int, p_date date, p_lock boolean)
RETURNS carbonmkt.product_day LANGUAGE plpgsql AS
$$
DECLARE
    r carbonmkt.product_day;
BEGIN
    IF p_lock THEN
        -- the book's gate first (see _enter_order): a matcher queues ahead of orders that
        -- would rest side by side after it, so a stream of them never starves it
        PERFORM pg_advisory_xact_lock(carbonmkt._book_gate(), p_product);
        SELECT * INTO r FROM carbonmkt.product_day d
         WHERE d.product_id = p_product AND d.business_date = p_date FOR NO KEY UPDATE;
    ELSE
        SELECT * INTO r FROM carbonmkt.product_day d WHERE d.product_id = p_product AND d.business_date = p_date;
    END IF;
    IF NOT FOUND THEN
        INSERT INTO carbonmkt.product_day (product_id, business_date, prev_close_fen)
        VALUES (p_product, p_date, carbonmkt._previous_close(p_product, p_date))
        ON CONFLICT DO NOTHING;
        IF p_lock THEN
            SELECT * INTO STRICT r FROM carbonmkt.product_day d
             WHERE d.product_id = p_product AND d.business_date = p_date FOR NO KEY UPDATE;
        ELSE
            SELECT * INTO STRICT r FROM carbonmkt.product_day d WHERE d.product_id = p_product AND d.business_date = p_date;
        END IF;
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION carbonmkt._product_day(int, date, boolean) IS
  'Internal: the product''s row for a business day (created with the previous close on first use), optionally locked: the matcher lock.';

-- The one lock order of the registry and the market (doc/registry.md, "Lock order"):
-- first the matcher locks (product_day rows) in product_id order, then the accounts in
-- account_id order, then rows (holds, orders, deals) only under those.  A market call that
-- will post to more than one account, or lock more than one product, takes its locks here
-- up front, before its first hold, release or settlement; the postings then find every
-- account already locked by the transaction and wait for nothing.
CREATE FUNCTION carbonmkt._lock_market(p_products int[], p_date date, p_accounts bigint[])
RETURNS void LANGUAGE plpgsql AS
$$
DECLARE
    p int;
BEGIN
    FOR p IN SELECT DISTINCT x FROM unnest(p_products) x WHERE x IS NOT NULL ORDER BY x LOOP
        PERFORM carbonmkt._product_day(p, p_date, true);
    END LOOP;
    PERFORM 1 FROM carbonmkt.account a
      WHERE a.account_id = ANY (p_accounts)
      ORDER BY a.account_id FOR NO KEY UPDATE;
END
$$;
COMMENT ON FUNCTION carbonmkt._lock_market(int[], date, bigint[]) IS
  'Internal: takes a market call''s locks up front in the one global order: the matcher locks of the products (product_day rows FOR NO KEY UPDATE, in product_id order), then the accounts (FOR NO KEY UPDATE, in account_id order, as every registry posting locks them).';

CREATE FUNCTION carbonmkt._order_accounts(p_orders bigint[]) RETURNS bigint[]
LANGUAGE sql STABLE AS
$$
    SELECT coalesce(array_agg(DISTINCT a), '{}')
      FROM carbonmkt.market_order o, unnest(ARRAY[o.holding_account, o.cash_account]) a
     WHERE o.order_id = ANY (p_orders) AND a IS NOT NULL
$$;
COMMENT ON FUNCTION carbonmkt._order_accounts(bigint[]) IS
  'Internal: the holding and cash accounts of the given orders (what a release or a settlement of them may post to).';

CREATE FUNCTION carbonmkt._product(p_code text) RETURNS carbonmkt.product
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    p carbonmkt.product;
BEGIN
    SELECT * INTO p FROM carbonmkt.product x WHERE x.code = upper(btrim(p_code));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown product "%"', coalesce(p_code, 'NULL')
            USING ERRCODE = 'CM301',
                  HINT = 'Products are listed in carbonmkt.product, e.g. CEA2024 for allowances of vintage 2024.';
    END IF;
    IF NOT p.active THEN
        RAISE EXCEPTION 'product % is suspended', p.code USING ERRCODE = 'CM302';
    END IF;
    RETURN p;
END
$$;
COMMENT ON FUNCTION carbonmkt._product(text) IS 'Internal: the active product with this code (case-insensitive); CM301 when unknown, CM302 when suspended.';

-- Band check: CM304 unless the price lies in the band around the previous close.
CREATE FUNCTION carbonmkt._check_band(p_price_fen bigint, p_prev_fen bigint, p_rule carbonmkt.market_rule)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS
$$
DECLARE
    lo bigint;
    hi bigint;
BEGIN
    IF p_rule.band IS NULL THEN
        RETURN;
    END IF;
    lo := ceil(p_prev_fen * (1 - p_rule.band) / p_rule.tick_fen) * p_rule.tick_fen;
    hi := floor(p_prev_fen * (1 + p_rule.band) / p_rule.tick_fen) * p_rule.tick_fen;
    IF p_price_fen < lo OR p_price_fen > hi THEN
        RAISE EXCEPTION 'price % is outside the ±% band %–% around the previous close %', carbonmkt._cny(p_price_fen),
            trim_scale(p_rule.band * 100) || '%', carbonmkt._cny(lo), carbonmkt._cny(hi), carbonmkt._cny(p_prev_fen)
            USING ERRCODE = 'CM304',
                  DETAIL = format('Price limits (涨跌幅限制) of %s: ±%s%% of the previous close.', carbonmkt._mode_name(p_rule.mode),
                                  trim_scale(p_rule.band * 100));
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._check_band(bigint, bigint, carbonmkt.market_rule) IS
  'Internal: CM304 unless the price lies in the band (rounded inwards to the price step) around the previous close.';

-- Who is acting ---------------------------------------------------------------------

-- The participant an order is for: a participant's login trades only for itself
-- (participant_id NULL or its own id); exchange or registry staff (and superusers)
-- pass the participant they act for.
CREATE FUNCTION carbonmkt._market_actor(p_participant bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    me bigint := carbonmkt.caller_participant();
BEGIN
    IF p_participant IS NULL THEN
        IF me IS NULL THEN
            RAISE EXCEPTION 'login "%" acts for no participant', session_user
                USING ERRCODE = '42501',
                      HINT = 'A participant''s login is mapped with carbonmkt.map_login(); exchange staff pass acting_for.';
        END IF;
        RETURN me;
    END IF;
    IF p_participant = me THEN
        RETURN me;
    END IF;
    IF NOT (carbonmkt._is_member('carbonmkt_exchange') OR carbonmkt._is_member('carbonmkt_registry')) THEN
        RAISE EXCEPTION 'login "%" may not act for participant %', session_user, p_participant
            USING ERRCODE = '42501',
                  DETAIL = format('The login acts for participant %s.', coalesce(me::text, '(none)')),
                  HINT = 'Only exchange (carbonmkt_exchange) or registry staff act for other participants.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.participant p WHERE p.participant_id = p_participant) THEN
        RAISE EXCEPTION 'participant % does not exist', p_participant USING ERRCODE = 'CM002';
    END IF;
    RETURN p_participant;
END
$$;
COMMENT ON FUNCTION carbonmkt._market_actor(bigint) IS
  'Internal: the participant an order is entered for; 42501 when the login may not act for it.';

CREATE FUNCTION carbonmkt._is_market_staff() RETURNS boolean
LANGUAGE sql STABLE AS
$$ SELECT carbonmkt._is_member('carbonmkt_exchange') OR carbonmkt._is_member('carbonmkt_registry') $$;
COMMENT ON FUNCTION carbonmkt._is_market_staff() IS 'Internal: the login is exchange or registry staff (or a superuser).';

CREATE FUNCTION carbonmkt._require_exchange(p_action text) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
BEGIN
    IF NOT carbonmkt._is_market_staff() THEN
        RAISE EXCEPTION 'only the exchange may %', p_action
            USING ERRCODE = '42501',
                  HINT = 'This needs membership in carbonmkt_exchange (the exchange, 全国碳排放权交易机构) or carbonmkt_registry.';
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._require_exchange(text) IS 'Internal: 42501 unless the login is exchange or registry staff.';

-- The trader rule of a participant on a date; CM312 unless it may do p_action
-- ('trade' or 'announce').
CREATE FUNCTION carbonmkt._trader(p_participant bigint, p_date date, p_jurisdiction text, p_action text)
RETURNS carbonmkt.trader_rule LANGUAGE plpgsql STABLE AS
$$
DECLARE
    k   carbonmkt.participant_kind;
    r   carbonmkt.trader_rule;
BEGIN
    SELECT p.kind INTO k FROM carbonmkt.participant p WHERE p.participant_id = p_participant;
    SELECT * INTO r FROM carbonmkt.trader_rule t
     WHERE t.jurisdiction = p_jurisdiction AND t.participant_kind = k AND t.valid_from <= p_date
       AND (t.valid_until IS NULL OR t.valid_until >= p_date)
     ORDER BY t.valid_from DESC LIMIT 1;
    IF NOT FOUND OR (p_action = 'trade' AND NOT r.may_trade) OR (p_action = 'announce' AND NOT r.may_announce) THEN
        RAISE EXCEPTION 'participant % (%) may not %', p_participant, k,
            CASE p_action WHEN 'trade' THEN 'trade on the exchange' ELSE 'announce one-way bidding' END
            USING ERRCODE = 'CM312', HINT = 'Who may trade and announce is set per participant kind in carbonmkt.trader_rule.';
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION carbonmkt._trader(bigint, date, text, text) IS
  'Internal: the trader rule of the participant''s kind; CM312 unless it may trade (or announce one-way bidding).';

-- The accounts a participant trades from: its first open holding and cash accounts.
-- An authority announcing one-way bidding delivers from the national reserve (national
-- authority) or its province's allocation account.
CREATE FUNCTION carbonmkt._trading_accounts(p_participant bigint, OUT holding bigint, OUT cash bigint)
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    k carbonmkt.participant_kind;
BEGIN
    SELECT p.kind INTO k FROM carbonmkt.participant p WHERE p.participant_id = p_participant;
    SELECT min(a.account_id) FILTER (WHERE a.kind = 'holding'), min(a.account_id) FILTER (WHERE a.kind = 'cash')
      INTO holding, cash
      FROM carbonmkt.account a WHERE a.participant_id = p_participant AND a.status = 'open';
    IF k = 'national_authority' THEN
        SELECT a.account_id INTO holding FROM carbonmkt.account a WHERE a.kind = 'national_reserve';
    ELSIF k = 'provincial_authority' THEN
        SELECT min(a.account_id) INTO holding FROM carbonmkt.account a
         WHERE a.kind = 'allocation' AND a.participant_id = p_participant AND a.status = 'open';
    END IF;
    IF holding IS NULL OR cash IS NULL THEN
        RAISE EXCEPTION 'participant % has no open % account', p_participant,
            CASE WHEN holding IS NULL THEN 'holding' ELSE 'cash' END
            USING ERRCODE = 'CM312',
                  HINT = 'A participant trades from its holding account (持有账户) and its cash account (资金账户); the registry opens them.';
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._trading_accounts(bigint) IS
  'Internal: the holding (or, for an authority, reserve/allocation) and cash accounts a participant trades from; CM312 when missing.';

CREATE FUNCTION carbonmkt._available(p_account bigint, p_instrument carbonmkt.instrument, p_vintage int, p_project text)
RETURNS bigint LANGUAGE plpgsql STABLE AS
$$
BEGIN
    RETURN coalesce((SELECT h.balance - h.held FROM carbonmkt.holding h
                      WHERE h.account_id = p_account AND h.instrument = p_instrument
                        AND h.vintage = p_vintage AND h.project = p_project), 0);
END
$$;
COMMENT ON FUNCTION carbonmkt._available(bigint, carbonmkt.instrument, int, text) IS
  'Internal: available (balance - held) quantity of an asset in an account, 0 when none.';

-- Order entry ---------------------------------------------------------------------------

-- The order a client reference (per login) already made, or NULL; CM311 when it was made
-- for a different order.
CREATE FUNCTION carbonmkt._order_by_reference(p_reference text, p_mode carbonmkt.trade_mode, p_side carbonmkt.order_side,
                                              p_participant bigint, p_product carbonmkt.product, p_quantity bigint,
                                              p_price numeric, p_take bigint, p_auction bigint)
RETURNS carbonmkt.market_order LANGUAGE plpgsql STABLE AS
$$
DECLARE
    old carbonmkt.market_order;
BEGIN
    IF p_reference IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO old FROM carbonmkt.market_order o WHERE o.initiator = session_user AND o.reference = p_reference;
    IF FOUND AND ((old.mode, old.side, old.participant_id, old.product_id, old.quantity, old.price_fen::numeric, old.take_order_id)
                  IS DISTINCT FROM (p_mode, p_side, p_participant, p_product.product_id, p_quantity, p_price * 100, p_take)
                  OR (p_auction IS NOT NULL AND old.auction_id IS DISTINCT FROM p_auction)) THEN
        RAISE EXCEPTION 'client reference "%" was already used for a different order', p_reference
            USING ERRCODE = 'CM311',
                  DETAIL = format('Order %s: %s %s %s %s at %s.', old.order_id, old.mode, old.side,
                                  carbonmkt._t(old.quantity), p_product.code, carbonmkt._cny(old.price_fen)),
                  HINT = 'Use a new client reference for a new order; resend the same order to get its id.';
    END IF;
    RETURN old;
END
$$;
COMMENT ON FUNCTION carbonmkt._order_by_reference(text, carbonmkt.trade_mode, carbonmkt.order_side, bigint, carbonmkt.product, bigint, numeric, bigint, bigint) IS
  'Internal: the order a client reference of this login already made (NULL if none); CM311 when that order differs from this one.';

-- Whether a listed order at price px (fen) would rest without trading and without
-- improving its side: a buy at or below the best bid and below the best ask, a sell at or
-- above the best ask and above the best bid.  Two such orders never cross each other (a buy
-- at or below the best bid, a sell at or above the best ask, and the book is never left
-- crossed), and they do not move the best prices, so they enter side by side under a shared
-- lock of the book; anything else takes the matcher lock.
CREATE FUNCTION carbonmkt._rests_behind(p_product int, p_date date, p_side carbonmkt.order_side, p_price_fen bigint)
RETURNS boolean
	AS 'MODULE_PATHNAME', 'market_rests_behind'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt._rests_behind(int, date, carbonmkt.order_side, bigint) IS
  'Internal (C): true when a listed order at this price would rest at or behind the best price of its side without reaching the other side (no trade, best prices unchanged); false otherwise, also on an empty side.';

-- The accounts of the resting orders an incoming listed order will reach (their holding and
-- cash accounts), in the engine's price-time order up to its quantity; own orders in the way
-- (self-trade prevention) do not count towards it.  NULL when it reaches none.  One query per
-- side, so that it walks that side's partial index (market_order_asks, market_order_bids) in
-- price-time order; sorting is off so that it does so also before the book was analysed.
CREATE FUNCTION carbonmkt._reach(p_product int, p_date date, p_side carbonmkt.order_side, p_price_fen bigint,
                                 p_quantity bigint, p_participant bigint)
RETURNS bigint[] LANGUAGE plpgsql STABLE SET enable_sort = off AS
$$
DECLARE
    reach bigint[];
BEGIN
    IF p_side = 'buy' THEN
        SELECT array_agg(a) INTO reach
          FROM (SELECT o.holding_account, o.cash_account,
                       coalesce(sum(o.remaining) FILTER (WHERE o.participant_id <> p_participant) OVER w, 0)
                       - CASE WHEN o.participant_id <> p_participant THEN o.remaining ELSE 0 END AS before
                  FROM carbonmkt.market_order o
                 WHERE o.product_id = p_product AND o.business_date = p_date AND o.status = 'open'
                   AND o.mode = 'listed' AND o.side = 'sell' AND o.price_fen <= p_price_fen
                WINDOW w AS (ORDER BY o.price_fen, o.priority ROWS UNBOUNDED PRECEDING)) ro,
               unnest(ARRAY[ro.holding_account, ro.cash_account]) a
         WHERE ro.before < p_quantity;
    ELSE
        SELECT array_agg(a) INTO reach
          FROM (SELECT o.holding_account, o.cash_account,
                       coalesce(sum(o.remaining) FILTER (WHERE o.participant_id <> p_participant) OVER w, 0)
                       - CASE WHEN o.participant_id <> p_participant THEN o.remaining ELSE 0 END AS before
                  FROM carbonmkt.market_order o
                 WHERE o.product_id = p_product AND o.business_date = p_date AND o.status = 'open'
                   AND o.mode = 'listed' AND o.side = 'buy' AND o.price_fen >= p_price_fen
                WINDOW w AS (ORDER BY o.price_fen DESC, o.priority ROWS UNBOUNDED PRECEDING)) ro,
               unnest(ARRAY[ro.holding_account, ro.cash_account]) a
         WHERE ro.before < p_quantity;
    END IF;
    RETURN reach;
END
$$;
COMMENT ON FUNCTION carbonmkt._reach(int, date, carbonmkt.order_side, bigint, bigint, bigint) IS
  'Internal: the holding and cash accounts of the resting listed orders an incoming order at this price and quantity reaches, in price-time order (own orders in the way do not count); NULL when none.';

-- Validates an order, lays its hold and records it as 'queued'.  Shared by
-- submit_order, queue_order, block agreements and one-way bidding.  Every check comes
-- before the hold, so a refused order holds and moves nothing.  p_lock takes the
-- product's matcher lock first (everything that matches at once), so that the hold
-- never waits for an account that the matcher holds while it waits for the product.
CREATE FUNCTION carbonmkt._enter_order(p_mode carbonmkt.trade_mode, p_product text, p_side text, p_quantity bigint,
                                       p_price numeric, p_take bigint, p_reference text, p_participant bigint,
                                       p_lock boolean, p_auction bigint DEFAULT NULL, p_role text DEFAULT 'trade',
                                       OUT order_id bigint, OUT replay boolean, OUT rested boolean)
LANGUAGE plpgsql AS
$$
DECLARE
    me      bigint;
    prod    carbonmkt.product;
    sd      carbonmkt.order_side;
    ts      timestamptz := carbonmkt.clock_now();
    d       date := carbonmkt.business_date(ts);
    r       carbonmkt.market_rule;
    day     carbonmkt.product_day;
    tr      carbonmkt.trader_rule;
    acc     record;
    old     carbonmkt.market_order;
    lst     carbonmkt.market_order;
    px      bigint;
    notional bigint;
    fee     bigint;
    need    bigint;
    avail   bigint;
    bought  bigint;
    bal     bigint;
    openbuy bigint;
    h       bigint;
    asset   text;
    reach   bigint[];
BEGIN
    replay := false;
    rested := false;
    me := carbonmkt._market_actor(p_participant);
    IF p_side IS NULL OR lower(btrim(p_side)) NOT IN ('buy', 'sell') THEN
        RAISE EXCEPTION 'side must be ''buy'' or ''sell'', not %', coalesce(quote_literal(p_side), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    sd := lower(btrim(p_side))::carbonmkt.order_side;
    prod := carbonmkt._product(p_product);

    -- idempotency: the same client reference (per login) returns the original order
    -- (looked up again under the matcher lock below, for a concurrent twin)
    old := carbonmkt._order_by_reference(p_reference, p_mode, sd, me, prod, p_quantity, p_price, p_take, p_auction);
    IF old.order_id IS NOT NULL THEN
        order_id := old.order_id;
        replay := true;
        RETURN;
    END IF;

    -- checks that do not depend on the book or the balances: before the matcher lock,
    -- so that the lock is held as briefly as possible
    r := carbonmkt._rule(p_mode, d, prod.jurisdiction);
    -- a fee the exchange has not set is refused, never charged as 0
    IF r.fee_rate IS NULL THEN
        RAISE EXCEPTION 'no fee rate for % in jurisdiction "%" on %: market_rule (jurisdiction %, mode %, valid_from %) has none',
            carbonmkt._mode_name(p_mode), prod.jurisdiction, to_char(d, 'YYYY-MM-DD'), r.jurisdiction, r.mode,
            to_char(r.valid_from, 'YYYY-MM-DD')
            USING ERRCODE = 'CM302',
                  DETAIL = 'The sources give no fee schedule of the exchange: carbonmkt ships the market rules without a fee rate.',
                  HINT = 'The exchange sets it with carbonmkt.amend_rule(''market_rule'', key, ''{"fee_rate": ...}'', document); doc/rules.md.';
    END IF;
    px := carbonmkt._price_fen(p_price, r);
    PERFORM carbonmkt._check_quantity(p_quantity, r);
    IF p_mode <> 'auction' THEN
        PERFORM carbonmkt._check_session(p_mode, ts, prod.jurisdiction);
    ELSIF NOT carbonmkt.is_trading_day(d, prod.jurisdiction) THEN
        RAISE EXCEPTION 'the market is closed on %: not a trading day', to_char(d, 'YYYY-MM-DD') USING ERRCODE = 'CM302';
    END IF;
    day := carbonmkt._product_day(prod.product_id, d, false);
    PERFORM carbonmkt._check_band(px, day.prev_close_fen, r);      -- the previous close is fixed for the day
    tr := carbonmkt._trader(me, d, prod.jurisdiction, p_role);
    acc := carbonmkt._trading_accounts(me);
    asset := carbonmkt.format_asset(prod.instrument, prod.vintage, prod.project);
    IF px::numeric * p_quantity > 9000000000000000000 THEN
        RAISE EXCEPTION 'order value % x % CNY is out of range', carbonmkt._t(p_quantity), carbonmkt._cny(px)
            USING ERRCODE = '22003';
    END IF;
    notional := px * p_quantity;

    -- A listed order that will rest behind the best price of its side without reaching the
    -- other side (_rests_behind) trades with nobody and moves no best price: it enters under
    -- a SHARED lock of the book (the gate, then the product_day row FOR SHARE), side by side
    -- with others like it, rests at once with the next time priority, and the matcher is
    -- not called.  Every matcher waits for these orders to commit (FOR NO KEY UPDATE
    -- conflicts with FOR SHARE), so it sees all of them; two of them cannot cross each other
    -- (a buy at or below the best bid, a sell at or above the best ask, of a book that is
    -- never left crossed).  The first look is without a lock; under the shared lock it is
    -- looked at again, and if the book moved in between the shared lock is given back (the
    -- subtransaction) and the order takes the matcher lock like any other.  Orders with a
    -- client reference (a concurrent twin must find the original) and 摘牌 always take the
    -- matcher lock.  doc/market.md, "Concurrency".
    IF p_lock AND p_mode = 'listed' AND p_take IS NULL AND p_reference IS NULL
       AND carbonmkt._rests_behind(prod.product_id, d, sd, px) THEN
        BEGIN
            PERFORM pg_advisory_xact_lock_shared(carbonmkt._book_gate(), prod.product_id);
            SELECT * INTO STRICT day FROM carbonmkt.product_day x
             WHERE x.product_id = prod.product_id AND x.business_date = d FOR SHARE;
            IF NOT carbonmkt._rests_behind(prod.product_id, d, sd, px) THEN
                RAISE EXCEPTION 'the book moved' USING ERRCODE = 'CM399';
            END IF;
            rested := true;
        EXCEPTION WHEN SQLSTATE 'CM399' THEN
            rested := false;        -- the shared lock went with the subtransaction
        END;
        IF rested THEN
            -- the account the hold will post to, so that the checks below see this
            -- participant's other orders (a twin on another session waits here)
            PERFORM 1 FROM carbonmkt.account a
              WHERE a.account_id = CASE WHEN sd = 'sell' THEN acc.holding ELSE acc.cash END FOR NO KEY UPDATE;
        END IF;
    END IF;

    -- the matcher lock (everything that matches at once takes it before its hold, so that
    -- the hold never waits for an account the matcher holds while it waits for the product);
    -- from here on the book, the day's trades and the balances are as the matcher sees them
    IF p_lock AND NOT rested THEN
        day := carbonmkt._product_day(prod.product_id, d, true);
        old := carbonmkt._order_by_reference(p_reference, p_mode, sd, me, prod, p_quantity, p_price, p_take, p_auction);
        IF old.order_id IS NOT NULL THEN
            order_id := old.order_id;
            replay := true;
            RETURN;
        END IF;
    END IF;
    IF day.closed_at IS NOT NULL THEN
        RAISE EXCEPTION 'trading in % is closed for %', prod.code, to_char(d, 'YYYY-MM-DD')
            USING ERRCODE = 'CM302', DETAIL = format('The exchange ran end_of_day() at %s.',
                                               to_char(day.closed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS'));
    END IF;

    IF sd = 'sell' THEN
        avail := carbonmkt._available(acc.holding, prod.instrument, prod.vintage, prod.project);
        IF avail < p_quantity THEN
            RAISE EXCEPTION 'insufficient available % to sell: available %, requested %', asset,
                carbonmkt._t(avail), carbonmkt._t(p_quantity)
                USING ERRCODE = 'CM306',
                      DETAIL = format('Holding account %s; units held for other orders or pledges are not available.', acc.holding);
        END IF;
        IF NOT r.same_day_resale THEN
            SELECT coalesce(sum(t.quantity), 0) INTO bought FROM carbonmkt.trade t
             WHERE t.buyer_id = me AND t.product_id = prod.product_id AND t.business_date = d;
            IF avail - bought < p_quantity THEN
                RAISE EXCEPTION 'units bought today cannot be resold today: sellable %, requested %',
                    carbonmkt._t(greatest(avail - bought, 0)), carbonmkt._t(p_quantity)
                    USING ERRCODE = 'CM307',
                          DETAIL = format('Participant %s bought %s of %s on %s; available %s.', me, carbonmkt._t(bought),
                                          asset, to_char(d, 'YYYY-MM-DD'), carbonmkt._t(avail)),
                          HINT = 'Units bought on a trading day can be sold from the next trading day (T+1).';
            END IF;
        END IF;
        need := p_quantity;
    ELSE
        IF tr.max_position IS NOT NULL THEN
            SELECT coalesce(sum(h.balance), 0) INTO bal FROM carbonmkt.holding h
             WHERE h.account_id = acc.holding AND h.instrument = prod.instrument
               AND h.vintage = prod.vintage AND h.project = prod.project;
            SELECT coalesce(sum(o.remaining), 0) INTO openbuy FROM carbonmkt.market_order o
             WHERE o.participant_id = me AND o.product_id = prod.product_id AND o.side = 'buy'
               AND o.status IN ('queued', 'open');
            IF bal + openbuy + p_quantity > tr.max_position THEN
                RAISE EXCEPTION 'position limit: buying % would bring participant % to % of %, above its limit of %',
                    carbonmkt._t(p_quantity), me, carbonmkt._t(bal + openbuy + p_quantity), asset, carbonmkt._t(tr.max_position)
                    USING ERRCODE = 'CM308',
                          DETAIL = format('Holding %s, open buy orders %s, this order %s.', carbonmkt._t(bal),
                                          carbonmkt._t(openbuy), carbonmkt._t(p_quantity)),
                          HINT = 'Position limits (最大持仓量) per participant kind are in carbonmkt.trader_rule.';
            END IF;
        END IF;
        fee := carbonmkt.fee_fen(notional, r.fee_rate);
        need := notional + fee;
        avail := carbonmkt._available(acc.cash, 'CNY', 0, '');
        IF avail < need THEN
            RAISE EXCEPTION 'insufficient available cash to buy % at %: available %, requested %',
                carbonmkt._t(p_quantity), carbonmkt._cny(px), carbonmkt.format_quantity('CNY', avail),
                carbonmkt.format_quantity('CNY', need)
                USING ERRCODE = 'CM306',
                      DETAIL = format('%s for the allowances plus a fee of %s (%s%% of the value); cash account %s.',
                                      carbonmkt.format_quantity('CNY', notional), carbonmkt.format_quantity('CNY', fee),
                                      trim_scale(r.fee_rate * 100), acc.cash);
        END IF;
    END IF;

    -- 摘牌: the listing this order takes
    IF p_take IS NOT NULL THEN
        SELECT * INTO lst FROM carbonmkt.market_order o WHERE o.order_id = p_take;
        IF NOT FOUND OR lst.mode <> 'listed' OR lst.product_id <> prod.product_id THEN
            RAISE EXCEPTION 'order % is not a listed order of %', p_take, prod.code USING ERRCODE = 'CM310';
        END IF;
        IF lst.side = sd THEN
            RAISE EXCEPTION 'listing % is a % order: a % order cannot take it', p_take, lst.side, sd USING ERRCODE = 'CM310';
        END IF;
        IF lst.participant_id = me THEN
            RAISE EXCEPTION 'self-trade: listing % is participant %''s own order', p_take, me
                USING ERRCODE = 'CM309', HINT = 'A participant never trades with itself (doc/market.md, self-trade prevention).';
        END IF;
        IF p_lock AND (lst.status <> 'open' OR lst.business_date <> d) THEN
            RAISE EXCEPTION 'listing % is no longer open: it is %', p_take,
                CASE WHEN lst.status = 'open' THEN 'from ' || to_char(lst.business_date, 'YYYY-MM-DD') ELSE lst.status::text END
                USING ERRCODE = 'CM310';
        END IF;
        IF (sd = 'buy' AND px < lst.price_fen) OR (sd = 'sell' AND px > lst.price_fen) THEN
            RAISE EXCEPTION 'a % at % cannot take listing % at %', sd, carbonmkt._cny(px), p_take, carbonmkt._cny(lst.price_fen)
                USING ERRCODE = 'CM310', HINT = '摘牌 trades at the listing''s price: the order''s limit must reach it.';
        END IF;
    END IF;

    -- a listed order matched at once (submit_order) settles with the resting orders it
    -- reaches: lock their accounts, its own and the clearing account in account order before
    -- its hold (doc/registry.md, "Lock order").  Under the matcher lock the book cannot change,
    -- so these are the orders the engine will fill, in its price-time order, up to the
    -- quantity; own orders in the way (self-trade prevention) only touch its own accounts.
    IF p_lock AND p_mode = 'listed' AND NOT rested THEN
        IF p_take IS NOT NULL THEN
            reach := ARRAY[lst.holding_account, lst.cash_account];
        ELSE
            reach := carbonmkt._reach(prod.product_id, d, sd, px, p_quantity, me);
        END IF;
        -- an order that reaches nobody only holds (one account): nothing to take up front
        IF reach IS NOT NULL THEN
            PERFORM 1 FROM carbonmkt.account a
              WHERE a.account_id = ANY (reach || ARRAY[acc.holding, acc.cash, prod.clearing_account])
              ORDER BY a.account_id FOR NO KEY UPDATE;
        END IF;
    END IF;

    -- the hold, then the order row
    order_id := nextval('carbonmkt.market_order_id_seq');
    IF sd = 'sell' THEN
        h := carbonmkt.hold(acc.holding, prod.instrument, need, 'order', prod.vintage, prod.project, NULL,
                            'market order ' || order_id);
    ELSE
        h := carbonmkt.hold(acc.cash, 'CNY', need, 'order', 0, '', NULL, 'market order ' || order_id);
    END IF;
    INSERT INTO carbonmkt.market_order (order_id, product_id, mode, side, participant_id, quantity, price_fen, remaining,
                                        status, priority, take_order_id, auction_id, holding_account, cash_account, hold_id,
                                        hold_amount, hold_left, business_date, entered_at, initiator, reference)
    VALUES (order_id, prod.product_id, p_mode, sd, me, p_quantity, px, p_quantity,
            CASE WHEN rested THEN 'open' ELSE 'queued' END::carbonmkt.order_status,
            CASE WHEN rested THEN nextval('carbonmkt.market_priority_seq') END, p_take, p_auction,
            acc.holding, acc.cash, h, need, need, d, ts, session_user, p_reference);
END
$$;
COMMENT ON FUNCTION carbonmkt._enter_order(carbonmkt.trade_mode, text, text, bigint, numeric, bigint, text, bigint, boolean, bigint, text) IS
  'Internal: validates an order against the rules (session, price step, size, band, funds or allowances, T+1, position limit, 摘牌), lays its registry hold and records it as queued, or, a listed order that rests behind the best price of its side without reaching the other side, as open in the book under a shared lock (rested); the same client reference returns the original order.';

-- Listed agreement: submit, queue, cancel, process ----------------------------------------

CREATE FUNCTION carbonmkt.submit_order(product text, side text, tonnes bigint, price numeric,
                                       take_order_id bigint DEFAULT NULL, reference text DEFAULT NULL,
                                       acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    e record;
BEGIN
    e := carbonmkt._enter_order('listed', product, side, tonnes, price, take_order_id, reference, acting_for, true);
    IF NOT e.replay AND NOT e.rested THEN
        PERFORM carbonmkt._match_order(e.order_id, (carbonmkt._product(product)).product_id);
    END IF;
    RETURN e.order_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.submit_order(text, text, bigint, numeric, bigint, text, bigint) IS
  'Listed agreement (挂牌协议交易): enters an order (product code, ''buy''|''sell'', tonnes, limit price in CNY per t with a step of 0.01, optional listing to take (摘牌), client reference, participant for staff) and returns its id.  Validates, holds cash incl. fee (buy) or allowances (sell), matches at once in C by price-time priority and settles every fill delivery-versus-payment; the rest rests in the book until filled, cancelled or the end of the day.';

CREATE FUNCTION carbonmkt.queue_order(product text, side text, tonnes bigint, price numeric,
                                      take_order_id bigint DEFAULT NULL, reference text DEFAULT NULL,
                                      acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    e record;
BEGIN
    e := carbonmkt._enter_order('listed', product, side, tonnes, price, take_order_id, reference, acting_for, false);
    RETURN e.order_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.queue_order(text, text, bigint, numeric, bigint, text, bigint) IS
  'Like submit_order (same arguments and checks, the hold is laid) but does not match: the order waits, status queued, until CALL carbonmkt.process_queue() matches the queue in order id sequence with the same engine.';

CREATE FUNCTION carbonmkt.cancel_order(order_id bigint, reference text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    o   carbonmkt.market_order;
    me  bigint := carbonmkt.caller_participant();
BEGIN
    SELECT * INTO o FROM carbonmkt.market_order x WHERE x.order_id = cancel_order.order_id;
    IF NOT FOUND OR (o.participant_id IS DISTINCT FROM me AND NOT carbonmkt._is_market_staff()) THEN
        RAISE EXCEPTION 'order % does not exist', cancel_order.order_id
            USING ERRCODE = 'CM310', HINT = 'A participant cancels only its own orders.';
    END IF;
    -- the matcher lock of the order's day, then the order as it is now
    PERFORM carbonmkt._product_day(o.product_id, o.business_date, true);
    SELECT * INTO o FROM carbonmkt.market_order x WHERE x.order_id = cancel_order.order_id;
    IF o.status NOT IN ('queued', 'open') THEN
        IF reference IS NOT NULL AND o.cancel_reference = reference THEN
            RETURN;     -- a repeated cancel with the same client reference
        END IF;
        RAISE EXCEPTION 'order % is already %', o.order_id, o.status
            USING ERRCODE = 'CM310',
                  DETAIL = format('%s of %s filled; ended %s (%s).', carbonmkt._t(o.quantity - o.remaining),
                                  carbonmkt._t(o.quantity), o.ended_at, o.end_reason);
    END IF;
    IF o.mode = 'block' THEN
        RAISE EXCEPTION 'order % belongs to a block agreement', o.order_id
            USING ERRCODE = 'CM313', HINT = 'Use carbonmkt.cancel_block().';
    END IF;
    IF o.mode = 'auction' AND EXISTS (SELECT 1 FROM carbonmkt.auction a WHERE a.lot_order_id = o.order_id) THEN
        RAISE EXCEPTION 'order % is the lot of auction %', o.order_id, o.auction_id
            USING ERRCODE = 'CM314', HINT = 'Use carbonmkt.cancel_auction().';
    END IF;
    PERFORM carbonmkt.release_hold(o.hold_id, NULL, 'market order ' || o.order_id || ' cancelled');
    UPDATE carbonmkt.market_order x
       SET status = 'cancelled', hold_left = 0, ended_at = carbonmkt.clock_now(), end_reason = 'cancelled',
           cancel_reference = cancel_order.reference
     WHERE x.order_id = o.order_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.cancel_order(bigint, text) IS
  'Cancels an open or queued order (撤单) and releases what remains of its hold; it waits for a matcher working on the product, so a fill and a cancel never overlap.  A participant cancels only its own orders, staff any.  Repeating it with the same client reference is a no-op.';

CREATE FUNCTION carbonmkt._match_order(order_id bigint, product_id int) RETURNS void
	AS 'MODULE_PATHNAME', 'market_match_order'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt._match_order(bigint, int) IS
  'Internal (C): matches one queued listed order against the book (price-time priority, 摘牌, self-trade prevention), writes the trades and order states and settles the fills DvP through the registry.  The caller holds the product''s matcher lock.';

CREATE FUNCTION carbonmkt._process_queue(product_id int, max_orders int,
                                         OUT orders bigint, OUT trades bigint, OUT resting bigint, OUT ended bigint,
                                         OUT registry_calls bigint, OUT load_ms float8, OUT match_ms float8,
                                         OUT write_ms float8, OUT settle_ms float8, OUT settlement text)
	AS 'MODULE_PATHNAME', 'market_process_queue'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt._process_queue(int, int) IS
  'Internal (C): takes the product''s matcher lock, loads the day''s book into memory, matches up to max_orders queued listed orders (all when NULL) in order id sequence, then writes all trades and order states set-wise and settles the batch DvP.  Returns counts, the time of each phase and the settlement used (unified: one carbonmkt.settle_batch posting; direct: per-call, CCER).  Settles as the market room only (process_queue sets carbonmkt.acting_room).';

CREATE FUNCTION carbonmkt._settle_fills(p_mode carbonmkt.trade_mode, buy_orders bigint[], sell_orders bigint[],
                                        quantities bigint[], prices bigint[]) RETURNS bigint
	AS 'MODULE_PATHNAME', 'market_settle_fills'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt._settle_fills(carbonmkt.trade_mode, bigint[], bigint[], bigint[], bigint[]) IS
  'Internal (C): fills given pairs of orders (block agreements) at given prices with the engine''s fill and settlement code; ends the orders that are complete.  Returns the first trade id.';

CREATE FUNCTION carbonmkt._uncross_auction(auction_id bigint, OUT allocated bigint, OUT clearing_fen bigint)
	AS 'MODULE_PATHNAME', 'market_uncross_auction'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt._uncross_auction(bigint) IS
  'Internal (C): allocates a one-way bidding lot to its bids by price then time at the auction''s clearing rule (uniform: the marginal accepted price; pay-as-bid: each bid''s price), settles DvP, ends the lot and every bid.';

CREATE PROCEDURE carbonmkt.process_queue(product text DEFAULT NULL, max_orders int DEFAULT NULL)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    p       record;
    s       record;
    budget  int := max_orders;
    pid     int;
    prods   int[];
    serials boolean;
BEGIN
    PERFORM carbonmkt._require_exchange('process the order queue');
    IF max_orders IS NOT NULL AND max_orders < 0 THEN
        RAISE EXCEPTION 'max_orders must not be negative: %', max_orders USING ERRCODE = '22023';
    END IF;
    IF product IS NOT NULL THEN
        pid := (carbonmkt._product(product)).product_id;
    END IF;
    -- more than one product, or serial blocks (CCER settles by one posting per hold and
    -- account): the matcher locks of all of them, then every account their queues and books
    -- may settle to, up front (doc/registry.md, "Lock order"); one CEA product settles in
    -- one posting, which locks its accounts in order itself
    SELECT array_agg(x.product_id ORDER BY x.product_id), bool_or(x.instrument <> 'CEA') INTO prods, serials
      FROM carbonmkt.product x
     WHERE (pid IS NULL OR x.product_id = pid)
       AND EXISTS (SELECT 1 FROM carbonmkt.market_order o WHERE o.product_id = x.product_id AND o.status = 'queued');
    IF cardinality(prods) > 1 OR serials THEN
        PERFORM carbonmkt._lock_market(prods, carbonmkt.business_date(),
            (SELECT coalesce(array_agg(DISTINCT a), '{}')
               FROM (SELECT o.holding_account, o.cash_account FROM carbonmkt.market_order o
                      WHERE o.product_id = ANY (prods) AND o.business_date = carbonmkt.business_date()
                        AND o.mode = 'listed' AND o.status IN ('queued', 'open')
                     UNION ALL
                     SELECT x.clearing_account, NULL FROM carbonmkt.product x WHERE x.product_id = ANY (prods)) live,
                    unnest(ARRAY[live.holding_account, live.cash_account]) a
              WHERE a IS NOT NULL));
    END IF;
    FOR p IN SELECT x.product_id FROM carbonmkt.product x
              WHERE (pid IS NULL OR x.product_id = pid)
                AND EXISTS (SELECT 1 FROM carbonmkt.market_order o WHERE o.product_id = x.product_id AND o.status = 'queued')
              ORDER BY x.product_id
    LOOP
        EXIT WHEN budget IS NOT NULL AND budget <= 0;
        s := carbonmkt._process_queue(p.product_id, budget);
        budget := budget - s.orders;
        RAISE DEBUG 'process_queue: product %: % orders, % trades, % resting, % ended, % registry calls',
            p.product_id, s.orders, s.trades, s.resting, s.ended, s.registry_calls;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE carbonmkt.process_queue(text, int) IS
  'Matches the queued listed orders of today (of one product, or of every product in turn) in order id sequence with the C engine that submit_order uses: replay of a day, batch matching.  At most max_orders orders (all when NULL).  One transaction; exchange or registry staff only.';

-- Ending an order outside the engine (cancel, expiry): release what its hold still
-- freezes, exactly once.
CREATE FUNCTION carbonmkt._end_order(p_order bigint, p_status carbonmkt.order_status, p_reason text)
RETURNS void LANGUAGE plpgsql AS
$$
DECLARE
    o carbonmkt.market_order;
BEGIN
    SELECT * INTO o FROM carbonmkt.market_order x WHERE x.order_id = p_order;
    IF o.status NOT IN ('queued', 'open') THEN
        RETURN;
    END IF;
    PERFORM carbonmkt.release_hold(o.hold_id, NULL, format('market order %s %s (%s)', o.order_id, p_status, p_reason));
    UPDATE carbonmkt.market_order x
       SET status = p_status, hold_left = 0, ended_at = carbonmkt.clock_now(), end_reason = p_reason
     WHERE x.order_id = p_order;
END
$$;
COMMENT ON FUNCTION carbonmkt._end_order(bigint, carbonmkt.order_status, text) IS
  'Internal: ends a live order (cancelled or expired) and releases what remains of its hold.';

-- Products --------------------------------------------------------------------------------

CREATE FUNCTION carbonmkt.list_product(product text, reference_price numeric, clearing_account bigint,
                                       vintage int DEFAULT NULL, instrument carbonmkt.instrument DEFAULT 'CEA',
                                       project text DEFAULT '', jurisdiction text DEFAULT 'CN')
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    c   text := upper(btrim(list_product.product));
    v   int := vintage;
    a   record;
    id  int;
BEGIN
    PERFORM carbonmkt._require_exchange('list products');
    IF instrument IS NULL OR instrument NOT IN ('CEA', 'CCER')
       OR (instrument = 'CCER') <> (coalesce(project, '') <> '') THEN
        RAISE EXCEPTION 'list_product: a product is CEA without a project or CCER of a project: got %, project "%"',
            coalesce(instrument::text, 'NULL'), coalesce(project, '')
            USING ERRCODE = '22023';
    END IF;
    IF jurisdiction IS NULL THEN
        RAISE EXCEPTION 'list_product: argument jurisdiction must not be NULL' USING ERRCODE = 'CM904';
    END IF;
    IF v IS NULL AND instrument = 'CEA' AND c ~ '^CEA[0-9]{4}$' THEN
        v := substr(c, 4)::int;
    END IF;
    IF v IS NULL THEN
        RAISE EXCEPTION 'product % needs a vintage', c USING ERRCODE = '22023',
              HINT = 'A CEA product code CEAyyyy names its vintage; otherwise pass vintage.';
    END IF;
    PERFORM carbonmkt.cea(v, 0);    -- the vintage window (22003)
    IF c IS NULL OR c !~ '^[A-Z][A-Z0-9._-]{2,39}$' THEN
        RAISE EXCEPTION 'list_product: product code "%" is not 3-40 letters, digits, ".", "_" or "-" starting with a letter',
            coalesce(c, 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT x.kind, p.kind AS owner_kind INTO a
      FROM carbonmkt.account x JOIN carbonmkt.participant p USING (participant_id)
     WHERE x.account_id = clearing_account;
    IF NOT FOUND OR a.kind <> 'clearing' OR a.owner_kind <> 'exchange' THEN
        RAISE EXCEPTION 'account % is not a clearing account of the exchange', clearing_account
            USING ERRCODE = '22023', HINT = 'The registry opens clearing accounts (结算账户) for the exchange with open_account(exchange, ''clearing'').';
    END IF;
    INSERT INTO carbonmkt.product AS p (code, instrument, vintage, project, jurisdiction, reference_price_fen,
                                        clearing_account, listed_at)
    VALUES (c, instrument, v, upper(coalesce(project, '')), jurisdiction,
            (carbonmkt._price_fen(reference_price, carbonmkt._rule('listed', carbonmkt.business_date(), jurisdiction))),
            clearing_account, carbonmkt.clock_now())
    RETURNING p.product_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.list_product(text, numeric, bigint, int, carbonmkt.instrument, text, text) IS
  'Lists a product (上市): code (CEAyyyy gives the vintage), reference price in CNY per t (the previous close before its first trade), and the exchange''s clearing account it settles through and keeps fees in.  Exchange or registry staff only.';

-- Block agreement (大宗协议交易) -----------------------------------------------------------------

CREATE FUNCTION carbonmkt.propose_block(product text, side text, tonnes bigint, price numeric, counterparty_id bigint,
                                        reference text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    e       record;
    o       carbonmkt.market_order;
    deal    bigint;
BEGIN
    IF counterparty_id IS NULL OR NOT EXISTS (SELECT 1 FROM carbonmkt.participant p
                                               WHERE p.participant_id = propose_block.counterparty_id) THEN
        RAISE EXCEPTION 'counterparty % does not exist', coalesce(counterparty_id::text, 'NULL') USING ERRCODE = 'CM002';
    END IF;
    e := carbonmkt._enter_order('block', product, side, tonnes, price, NULL, reference, acting_for, true);
    IF e.replay THEN
        SELECT d.deal_id INTO deal FROM carbonmkt.block_deal d WHERE d.proposer_order = e.order_id;
        RETURN deal;
    END IF;
    SELECT * INTO o FROM carbonmkt.market_order x WHERE x.order_id = e.order_id;
    IF o.participant_id = counterparty_id THEN
        RAISE EXCEPTION 'self-trade: participant % cannot make a block agreement with itself', o.participant_id
            USING ERRCODE = 'CM309';
    END IF;
    PERFORM carbonmkt._trader(counterparty_id, o.business_date, 'CN', 'trade');
    UPDATE carbonmkt.market_order x SET status = 'open' WHERE x.order_id = o.order_id;
    INSERT INTO carbonmkt.block_deal AS d (product_id, proposer_order, proposer_id, counterparty_id, side, quantity,
                                          price_fen, business_date, proposed_at)
    VALUES (o.product_id, o.order_id, o.participant_id, counterparty_id, o.side, o.quantity, o.price_fen,
            o.business_date, o.entered_at)
    RETURNING d.deal_id INTO deal;
    RETURN deal;
END
$$;
COMMENT ON FUNCTION carbonmkt.propose_block(text, text, bigint, numeric, bigint, text, bigint) IS
  'Block agreement (大宗协议交易): proposes a trade of at least the block threshold (100,000 t) within ±30% of the previous close, in the block session (13:00–15:00), to a named counterparty; the proposer''s side is held at once.  Returns the deal id.';

CREATE FUNCTION carbonmkt.confirm_block(deal_id bigint, reference text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    me  bigint := carbonmkt._market_actor(acting_for);
    d   carbonmkt.block_deal;
    e   record;
BEGIN
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = confirm_block.deal_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'block deal % does not exist', deal_id USING ERRCODE = 'CM313';
    END IF;
    IF me = d.proposer_id THEN
        RAISE EXCEPTION 'only the counterparty (participant %) confirms block deal %', d.counterparty_id, deal_id
            USING ERRCODE = 'CM313', DETAIL = format('Participant %s proposed it.', d.proposer_id);
    END IF;
    IF me <> d.counterparty_id THEN
        -- a third party: the deal exists, but its parties are not the caller's to know
        RAISE EXCEPTION 'participant % is not the counterparty of block deal %', me, deal_id
            USING ERRCODE = 'CM313', HINT = 'Only the participant the proposer named confirms a block deal.';
    END IF;
    e := carbonmkt._enter_order('block', (SELECT p.code FROM carbonmkt.product p WHERE p.product_id = d.product_id),
                                CASE d.side WHEN 'buy' THEN 'sell' ELSE 'buy' END, d.quantity, d.price_fen / 100.0,
                                NULL, reference, me, true);
    IF e.replay THEN
        IF d.counter_order IS DISTINCT FROM e.order_id THEN
            RAISE EXCEPTION 'client reference "%" was already used for a different order', reference USING ERRCODE = 'CM311';
        END IF;
        RETURN e.order_id;
    END IF;
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = confirm_block.deal_id FOR UPDATE;
    IF d.status <> 'proposed' OR d.business_date <> carbonmkt.business_date() THEN
        RAISE EXCEPTION 'block deal % is %', deal_id,
            CASE WHEN d.status = 'proposed' THEN 'from ' || to_char(d.business_date, 'YYYY-MM-DD') ELSE d.status END
            USING ERRCODE = 'CM313', HINT = 'Only a proposed deal of today can be confirmed.';
    END IF;
    UPDATE carbonmkt.market_order x SET status = 'open' WHERE x.order_id = e.order_id;
    UPDATE carbonmkt.block_deal x SET counter_order = e.order_id, status = 'confirmed', confirmed_at = carbonmkt.clock_now()
     WHERE x.deal_id = confirm_block.deal_id;
    RETURN e.order_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.confirm_block(bigint, text, bigint) IS
  'The named counterparty confirms a proposed block deal: its mirror order is checked like any order (session, band, funds or allowances, T+1, position limit) and held.  Returns the counterparty''s order id.';

CREATE FUNCTION carbonmkt.accept_block(deal_id bigint)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    d       carbonmkt.block_deal;
    prod    carbonmkt.product;
    day     carbonmkt.product_day;
    t       bigint;
BEGIN
    PERFORM carbonmkt._require_exchange('accept block agreements');
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = accept_block.deal_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'block deal % does not exist', deal_id USING ERRCODE = 'CM313';
    END IF;
    SELECT * INTO prod FROM carbonmkt.product p WHERE p.product_id = d.product_id;
    day := carbonmkt._product_day(d.product_id, carbonmkt.business_date(), true);
    PERFORM carbonmkt._lock_market('{}', day.business_date,
                                   carbonmkt._order_accounts(ARRAY[d.proposer_order, d.counter_order])
                                   || prod.clearing_account);
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = accept_block.deal_id FOR UPDATE;
    IF d.status <> 'confirmed' OR d.business_date <> day.business_date THEN
        RAISE EXCEPTION 'block deal % is %', deal_id,
            CASE WHEN d.status = 'confirmed' THEN 'from ' || to_char(d.business_date, 'YYYY-MM-DD') ELSE d.status END
            USING ERRCODE = 'CM313', HINT = 'The exchange accepts a block deal of today after its counterparty confirmed it.';
    END IF;
    PERFORM carbonmkt._check_session('block', carbonmkt.clock_now(), prod.jurisdiction);
    PERFORM carbonmkt._check_band(d.price_fen, day.prev_close_fen,
                                  carbonmkt._rule('block', day.business_date, prod.jurisdiction));
    IF d.side = 'buy' THEN
        t := carbonmkt._settle_fills('block', ARRAY[d.proposer_order], ARRAY[d.counter_order], ARRAY[d.quantity], ARRAY[d.price_fen]);
    ELSE
        t := carbonmkt._settle_fills('block', ARRAY[d.counter_order], ARRAY[d.proposer_order], ARRAY[d.quantity], ARRAY[d.price_fen]);
    END IF;
    UPDATE carbonmkt.block_deal x SET status = 'accepted', trade_id = t, ended_at = carbonmkt.clock_now()
     WHERE x.deal_id = accept_block.deal_id;
    RETURN t;
END
$$;
COMMENT ON FUNCTION carbonmkt.accept_block(bigint) IS
  'The exchange accepts a confirmed block deal in the block session and within the band: it settles delivery-versus-payment at once (the C engine''s fill and settlement code).  Returns the trade id.  Exchange or registry staff only.';

CREATE FUNCTION carbonmkt.cancel_block(deal_id bigint, acting_for bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    d   carbonmkt.block_deal;
    me  bigint;
BEGIN
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = cancel_block.deal_id;
    IF acting_for IS NOT NULL OR NOT carbonmkt._is_market_staff() THEN
        me := carbonmkt._market_actor(acting_for);
        IF NOT FOUND OR me NOT IN (d.proposer_id, d.counterparty_id) THEN
            RAISE EXCEPTION 'block deal % does not exist', deal_id USING ERRCODE = 'CM313';
        END IF;
    ELSIF NOT FOUND THEN
        RAISE EXCEPTION 'block deal % does not exist', deal_id USING ERRCODE = 'CM313';
    END IF;
    PERFORM carbonmkt._product_day(d.product_id, d.business_date, true);
    PERFORM carbonmkt._lock_market('{}', d.business_date,
                                   carbonmkt._order_accounts(ARRAY[d.proposer_order, d.counter_order]));
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = cancel_block.deal_id FOR UPDATE;
    IF d.status NOT IN ('proposed', 'confirmed') THEN
        RAISE EXCEPTION 'block deal % is already %', deal_id, d.status USING ERRCODE = 'CM313';
    END IF;
    PERFORM carbonmkt._end_order(d.proposer_order, 'cancelled', 'block deal cancelled');
    IF d.counter_order IS NOT NULL THEN
        PERFORM carbonmkt._end_order(d.counter_order, 'cancelled', 'block deal cancelled');
    END IF;
    UPDATE carbonmkt.block_deal x SET status = 'cancelled', ended_at = carbonmkt.clock_now()
     WHERE x.deal_id = cancel_block.deal_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.cancel_block(bigint, bigint) IS
  'Withdraws (proposer), declines (counterparty) or rejects (exchange) a block deal that is not accepted yet; both holds are released.';

-- One-way bidding (单向竞价) ---------------------------------------------------------------------

CREATE FUNCTION carbonmkt.announce_auction(product text, side text, tonnes bigint, reserve_price numeric,
                                           opens_at timestamptz, closes_at timestamptz,
                                           reference text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    e   record;
    o   carbonmkt.market_order;
    r   carbonmkt.market_rule;
    id  bigint;
    ts  timestamptz := carbonmkt.clock_now();
BEGIN
    IF opens_at IS NULL OR closes_at IS NULL OR closes_at <= opens_at THEN
        RAISE EXCEPTION 'the bidding window must close after it opens: % – %',
            coalesce(to_char(opens_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), 'NULL'),
            coalesce(to_char(closes_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF carbonmkt.business_date(opens_at) <> carbonmkt.business_date(ts)
       OR carbonmkt.business_date(closes_at) <> carbonmkt.business_date(ts) THEN
        RAISE EXCEPTION 'the bidding window % – % must lie within today, %',
            to_char(opens_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),
            to_char(closes_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),
            to_char(carbonmkt.business_date(ts), 'YYYY-MM-DD')
            USING ERRCODE = 'CM314', HINT = 'A one-way bidding lot is announced on the trading day it is bid for (China Standard Time).';
    END IF;
    IF closes_at <= ts THEN
        RAISE EXCEPTION 'the bidding window % – % is over',
            to_char(opens_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),
            to_char(closes_at AT TIME ZONE 'Asia/Shanghai', 'HH24:MI') USING ERRCODE = 'CM314';
    END IF;
    e := carbonmkt._enter_order('auction', product, side, tonnes, reserve_price, NULL, reference, acting_for,
                                true, NULL, 'announce');
    IF e.replay THEN
        SELECT a.auction_id INTO id FROM carbonmkt.auction a WHERE a.lot_order_id = e.order_id;
        RETURN id;
    END IF;
    SELECT * INTO o FROM carbonmkt.market_order x WHERE x.order_id = e.order_id;
    r := carbonmkt._rule('auction', o.business_date, 'CN');
    INSERT INTO carbonmkt.auction AS a (product_id, side, quantity, reserve_fen, opens_at, closes_at, clearing_rule,
                                        lot_order_id, announced_by)
    VALUES (o.product_id, o.side, o.quantity, o.price_fen, opens_at, closes_at, r.clearing_rule, o.order_id, o.participant_id)
    RETURNING a.auction_id INTO id;
    UPDATE carbonmkt.market_order x SET status = 'open', auction_id = id WHERE x.order_id = o.order_id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.announce_auction(text, text, bigint, numeric, timestamptz, timestamptz, text, bigint) IS
  'One-way bidding (单向竞价): announces a lot (side ''sell'': allowances offered; ''buy'': allowances sought), its reserve price (lowest bid, resp. highest offer) and today''s bidding window; the lot is held at once.  Authorities sell from the national reserve or their province''s allocation account (paid allocation).  The clearing rule (uniform or pay-as-bid) comes from market_rule.  Returns the auction id.';

CREATE FUNCTION carbonmkt.bid_auction(auction_id bigint, tonnes bigint, price numeric,
                                      reference text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    a       carbonmkt.auction;
    me      bigint := carbonmkt._market_actor(acting_for);
    ts      timestamptz := carbonmkt.clock_now();
    e       record;
    prio    bigint;
BEGIN
    SELECT * INTO a FROM carbonmkt.auction x WHERE x.auction_id = bid_auction.auction_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'auction % does not exist', auction_id USING ERRCODE = 'CM314';
    END IF;
    IF me = a.announced_by THEN
        RAISE EXCEPTION 'self-trade: participant % announced auction %', me, auction_id USING ERRCODE = 'CM309';
    END IF;
    IF a.status <> 'open' OR ts < a.opens_at OR ts >= a.closes_at THEN
        RAISE EXCEPTION 'bidding for auction % is closed at %', auction_id, to_char(ts AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS')
            USING ERRCODE = 'CM314',
                  DETAIL = format('The auction is %s; its window is %s – %s (China Standard Time).', a.status,
                                  to_char(a.opens_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),
                                  to_char(a.closes_at AT TIME ZONE 'Asia/Shanghai', 'HH24:MI'));
    END IF;
    IF price IS NOT NULL AND ((a.side = 'sell' AND price * 100 < a.reserve_fen) OR (a.side = 'buy' AND price * 100 > a.reserve_fen)) THEN
        RAISE EXCEPTION '% % is % the reserve price % of auction %', CASE a.side WHEN 'sell' THEN 'bid' ELSE 'offer' END,
            price, CASE a.side WHEN 'sell' THEN 'below' ELSE 'above' END, carbonmkt._cny(a.reserve_fen), auction_id
            USING ERRCODE = 'CM314';
    END IF;
    IF tonnes > a.quantity THEN
        RAISE EXCEPTION 'bid quantity % exceeds the lot of %', carbonmkt._t(tonnes), carbonmkt._t(a.quantity)
            USING ERRCODE = 'CM305';
    END IF;
    e := carbonmkt._enter_order('auction', (SELECT p.code FROM carbonmkt.product p WHERE p.product_id = a.product_id),
                                CASE a.side WHEN 'sell' THEN 'buy' ELSE 'sell' END, tonnes, price, NULL, reference,
                                acting_for, true, a.auction_id);
    IF e.replay THEN
        RETURN e.order_id;
    END IF;
    -- under the matcher lock now: the auction may have closed while we waited
    IF (SELECT x.status FROM carbonmkt.auction x WHERE x.auction_id = bid_auction.auction_id) <> 'open' THEN
        RAISE EXCEPTION 'bidding for auction % is closed', auction_id USING ERRCODE = 'CM314';
    END IF;
    UPDATE carbonmkt.product_day d SET book_seq = d.book_seq + 1
     WHERE d.product_id = a.product_id AND d.business_date = carbonmkt.business_date(ts)
    RETURNING d.book_seq INTO prio;
    UPDATE carbonmkt.market_order x SET status = 'open', priority = prio WHERE x.order_id = e.order_id;
    RETURN e.order_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.bid_auction(bigint, bigint, numeric, text, bigint) IS
  'Bids in a one-way bidding window (a buy bid for a sell lot, a sell offer for a buy lot): at least the reserve price (at most, for a buy lot), no more than the lot; held like any order.  Returns the bid''s order id; cancel_order() withdraws it before the close.';

CREATE FUNCTION carbonmkt._close_auction(p_auction bigint, OUT allocated bigint, OUT clearing_price numeric)
LANGUAGE plpgsql AS
$$
DECLARE
    a carbonmkt.auction;
    r record;
BEGIN
    SELECT * INTO a FROM carbonmkt.auction x WHERE x.auction_id = p_auction;
    PERFORM carbonmkt._product_day(a.product_id, carbonmkt.business_date(), true);
    PERFORM carbonmkt._lock_market('{}', carbonmkt.business_date(),
        carbonmkt._order_accounts(ARRAY(SELECT o.order_id FROM carbonmkt.market_order o
                                         WHERE o.auction_id = p_auction AND o.status IN ('queued', 'open')))
        || (SELECT x.clearing_account FROM carbonmkt.product x WHERE x.product_id = a.product_id));
    SELECT * INTO a FROM carbonmkt.auction x WHERE x.auction_id = p_auction FOR UPDATE;
    IF a.status <> 'open' THEN
        RAISE EXCEPTION 'auction % is already %', p_auction, a.status USING ERRCODE = 'CM314';
    END IF;
    r := carbonmkt._uncross_auction(p_auction);
    UPDATE carbonmkt.auction x SET status = 'closed', clearing_fen = r.clearing_fen, allocated = r.allocated,
                                   closed_at = carbonmkt.clock_now()
     WHERE x.auction_id = p_auction;
    allocated := r.allocated;
    clearing_price := (r.clearing_fen / 100.0)::numeric(14, 2);
END
$$;
COMMENT ON FUNCTION carbonmkt._close_auction(bigint) IS 'Internal: uncrosses and settles an open auction (C engine) and records the result.';

CREATE FUNCTION carbonmkt._auction_for_staff_or_announcer(p_auction bigint, p_verb text)
RETURNS carbonmkt.auction LANGUAGE plpgsql STABLE AS
$$
DECLARE
    a carbonmkt.auction;
BEGIN
    SELECT * INTO a FROM carbonmkt.auction x WHERE x.auction_id = p_auction;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'auction % does not exist', p_auction USING ERRCODE = 'CM314';
    END IF;
    IF NOT carbonmkt._is_market_staff() AND carbonmkt.caller_participant() IS DISTINCT FROM a.announced_by THEN
        RAISE EXCEPTION 'only the exchange or the announcer % auction %', p_verb, p_auction USING ERRCODE = '42501';
    END IF;
    RETURN a;
END
$$;
COMMENT ON FUNCTION carbonmkt._auction_for_staff_or_announcer(bigint, text) IS
  'Internal: the auction, if the caller is the exchange (market staff) or its announcer; CM314 unknown auction, 42501 anyone else ("only the exchange or the announcer <verb> auction N").';

CREATE FUNCTION carbonmkt.close_auction(auction_id bigint, OUT allocated bigint, OUT clearing_price numeric)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    a carbonmkt.auction;
    r record;
BEGIN
    a := carbonmkt._auction_for_staff_or_announcer(close_auction.auction_id, 'closes');
    IF carbonmkt.clock_now() < a.closes_at THEN
        RAISE EXCEPTION 'auction % is still bidding until %', auction_id,
            to_char(a.closes_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI')
            USING ERRCODE = 'CM314';
    END IF;
    r := carbonmkt._close_auction(auction_id);
    allocated := r.allocated;
    clearing_price := r.clearing_price;
END
$$;
COMMENT ON FUNCTION carbonmkt.close_auction(bigint) IS
  'Closes a one-way bidding auction after its window: the C engine allocates the lot by price then time (a uniform price, the marginal accepted bid, or pay-as-bid, per the auction''s clearing rule) and settles every allocation delivery-versus-payment; bids not allocated and an unsold remainder are released.  Returns the tonnes allocated and the clearing (marginal) price.  The exchange or the announcer.';

CREATE FUNCTION carbonmkt.cancel_auction(auction_id bigint)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    a carbonmkt.auction;
    o bigint;
BEGIN
    a := carbonmkt._auction_for_staff_or_announcer(cancel_auction.auction_id, 'cancels');
    PERFORM carbonmkt._product_day(a.product_id, carbonmkt.business_date(a.opens_at), true);
    PERFORM carbonmkt._lock_market('{}', carbonmkt.business_date(a.opens_at),
        carbonmkt._order_accounts(ARRAY(SELECT o.order_id FROM carbonmkt.market_order o
                                         WHERE o.auction_id = cancel_auction.auction_id AND o.status IN ('queued', 'open'))));
    SELECT * INTO a FROM carbonmkt.auction x WHERE x.auction_id = cancel_auction.auction_id FOR UPDATE;
    IF a.status <> 'open' THEN
        RAISE EXCEPTION 'auction % is already %', auction_id, a.status USING ERRCODE = 'CM314';
    END IF;
    FOR o IN SELECT x.order_id FROM carbonmkt.market_order x
              WHERE x.auction_id = cancel_auction.auction_id AND x.status IN ('queued', 'open') ORDER BY x.order_id
    LOOP
        PERFORM carbonmkt._end_order(o, 'cancelled', 'auction cancelled');
    END LOOP;
    UPDATE carbonmkt.auction x SET status = 'cancelled', closed_at = carbonmkt.clock_now()
     WHERE x.auction_id = cancel_auction.auction_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.cancel_auction(bigint) IS
  'Cancels an auction that has not closed: the lot and every bid are released.  The exchange or the announcer.';

-- Daily statistics (RULES.md 5: open, high, low, close, volume, turnover) ------------------
-- _market_day_figures computes them from the trade tape, per product and day (a filter on
-- product_id and business_date reaches the index trade_product_day); end_of_day() keeps
-- them in market_day_stats in the transaction that closes the day, after which the day
-- takes no more trades (the matcher checks product_day.closed_at under the day's row lock).
-- bi_market_daily reads the stored row of a closed day and computes an open day live.

CREATE VIEW carbonmkt._market_day_figures AS
SELECT t.product_id, t.business_date,
       (array_agg(t.price_fen ORDER BY t.trade_id) FILTER (WHERE t.mode = 'listed'))[1] AS open_fen,
       max(t.price_fen) FILTER (WHERE t.mode = 'listed') AS high_fen,
       min(t.price_fen) FILTER (WHERE t.mode = 'listed') AS low_fen,
       (array_agg(t.price_fen ORDER BY t.trade_id DESC) FILTER (WHERE t.mode = 'listed'))[1] AS last_fen,
       (sum(t.quantity) FILTER (WHERE t.mode = 'listed'))::bigint AS listed_volume_t,
       (sum(t.price_fen * t.quantity) FILTER (WHERE t.mode = 'listed'))::bigint AS listed_turnover_fen,
       (sum(t.quantity) FILTER (WHERE t.mode = 'block'))::bigint AS block_volume_t,
       (sum(t.price_fen * t.quantity) FILTER (WHERE t.mode = 'block'))::bigint AS block_turnover_fen,
       (sum(t.quantity) FILTER (WHERE t.mode = 'auction'))::bigint AS auction_volume_t,
       (sum(t.price_fen * t.quantity) FILTER (WHERE t.mode = 'auction'))::bigint AS auction_turnover_fen,
       sum(t.quantity)::bigint AS volume_t, sum(t.price_fen * t.quantity)::bigint AS turnover_fen,
       count(*) AS trades
  FROM carbonmkt.trade t
 GROUP BY t.product_id, t.business_date;
COMMENT ON VIEW carbonmkt._market_day_figures IS
  'Internal: the trade tape''s statistics per product and day with trades (fen and t): open, high, low and last of listed agreement (挂牌协议: first and last by trade id), volume and turnover (price x quantity) per mode (listed, block, auction: NULL without trades of the mode) and in total, trades.  end_of_day() stores them in market_day_stats; bi_market_daily (through _market_day) reads them live for a day not closed yet, the compliance room''s price source (_daily_prices) for its CEA days.  Public market data.';

CREATE TABLE carbonmkt.market_day_stats (
    product_id              int NOT NULL,
    business_date           date NOT NULL,
    open_fen                bigint,
    high_fen                bigint,
    low_fen                 bigint,
    last_fen                bigint,
    listed_volume_t         bigint,
    listed_turnover_fen     bigint,
    block_volume_t          bigint,
    block_turnover_fen      bigint,
    auction_volume_t        bigint,
    auction_turnover_fen    bigint,
    volume_t                bigint,
    turnover_fen            bigint,
    trades                  bigint NOT NULL CHECK (trades >= 0),
    PRIMARY KEY (product_id, business_date),
    FOREIGN KEY (product_id, business_date) REFERENCES carbonmkt.product_day
);
COMMENT ON TABLE carbonmkt.market_day_stats IS
  'Daily statistics of a closed trading day per product (日行情), the row of _market_day_figures (NULLs and trades 0 without trades) written by end_of_day() in the transaction that closes the day (product_day.closed_at): after the close the day takes no trades, so the row stays the tape''s.  Read by bi_market_daily; public market data.';

CREATE VIEW carbonmkt._market_day AS
-- a closed day: the row end_of_day() kept (a hash join over every day); a day not closed yet
-- (no kept row): the tape's figures by index (OFFSET 0: the figures stay a per-day lookup,
-- never an aggregate over the whole tape)
SELECT d.product_id, d.business_date, d.prev_close_fen, d.close_fen, d.closed_at,
       s.open_fen, s.high_fen, s.low_fen, s.last_fen, s.listed_volume_t, s.listed_turnover_fen,
       s.block_volume_t, s.block_turnover_fen, s.auction_volume_t, s.auction_turnover_fen,
       s.volume_t, s.turnover_fen, s.trades
  FROM carbonmkt.product_day d
  JOIN carbonmkt.market_day_stats s ON s.product_id = d.product_id AND s.business_date = d.business_date
UNION ALL
SELECT d.product_id, d.business_date, d.prev_close_fen, d.close_fen, d.closed_at,
       f.open_fen, f.high_fen, f.low_fen, f.last_fen, f.listed_volume_t, f.listed_turnover_fen,
       f.block_volume_t, f.block_turnover_fen, f.auction_volume_t, f.auction_turnover_fen,
       f.volume_t, f.turnover_fen, coalesce(f.trades, 0)
  FROM carbonmkt.product_day d
  LEFT JOIN LATERAL (SELECT f.* FROM carbonmkt._market_day_figures f
                      WHERE f.product_id = d.product_id AND f.business_date = d.business_date OFFSET 0) f ON true
 WHERE NOT EXISTS (SELECT 1 FROM carbonmkt.market_day_stats s
                    WHERE s.product_id = d.product_id AND s.business_date = d.business_date);
COMMENT ON VIEW carbonmkt._market_day IS
  'Internal, public market data: every product_day (previous close, close, closed_at) with the day''s statistics in fen and t: the row end_of_day() kept in market_day_stats, else (a day not closed yet) computed from the tape (_market_day_figures, by index); NULLs and trades 0 without trades.  A filter on business_date reaches product_day.  Read by bi_market_daily and by the compliance room''s price source _daily_prices.';

-- Trading statistics per participant (bi_trading_activity, bi_trading_by_sector) ---------------
-- _trading_day_figures computes one participant's figures of one product and day from the
-- tape (a filter on product_id and business_date reaches the index trade_product_day);
-- end_of_day() adds a closed day's to trading_month_stats (and their sums per sector to
-- trading_sector_month) in the transaction that closes the day and writes its market_day_stats
-- row: a day's trades are in the kept rows exactly when the day has its market_day_stats row,
-- and the BI views read the tape only for the others.

CREATE VIEW carbonmkt._trading_day_figures AS
SELECT t.product_id, t.business_date, x.participant_id,
       count(*) AS trades,
       coalesce(sum(t.quantity) FILTER (WHERE x.buys), 0)::bigint AS bought_t,
       coalesce(sum(t.quantity) FILTER (WHERE NOT x.buys), 0)::bigint AS sold_t,
       coalesce(sum(t.price_fen * t.quantity) FILTER (WHERE x.buys), 0)::bigint AS bought_fen,
       coalesce(sum(t.price_fen * t.quantity) FILTER (WHERE NOT x.buys), 0)::bigint AS sold_fen,
       sum(x.fee_fen)::bigint AS fees_fen,
       coalesce(sum(t.quantity) FILTER (WHERE t.mode = 'listed'), 0)::bigint AS listed_t,
       coalesce(sum(t.quantity) FILTER (WHERE t.mode = 'block'), 0)::bigint AS block_t,
       coalesce(sum(t.quantity) FILTER (WHERE t.mode NOT IN ('listed', 'block')), 0)::bigint AS auction_t
  FROM carbonmkt.trade t
 CROSS JOIN LATERAL (VALUES (t.buyer_id, true, t.buyer_fee_fen), (t.seller_id, false, t.seller_fee_fen)) x(participant_id, buys, fee_fen)
 GROUP BY t.product_id, t.business_date, x.participant_id;
COMMENT ON VIEW carbonmkt._trading_day_figures IS
  'Internal: the trade tape per product, day and participant (each trade once for its buyer, once for its seller): trades (fills, 成交), tonnes bought and sold, their value (price x quantity) and that side''s fees in fen, tonnes per trading mode (listed 挂牌协议, block 大宗协议, the rest one-way bidding 单向竞价).  end_of_day() adds a closed day''s rows to trading_month_stats; the BI views read it live for a day not closed yet (_trading_month).';

CREATE TABLE carbonmkt.trading_month_stats (
    participant_id      bigint NOT NULL REFERENCES carbonmkt.participant,
    month               date NOT NULL CHECK (extract(day FROM month) = 1),
    instrument          carbonmkt.instrument NOT NULL,
    trades              bigint NOT NULL CHECK (trades > 0),
    bought_t            bigint NOT NULL CHECK (bought_t >= 0),
    sold_t              bigint NOT NULL CHECK (sold_t >= 0),
    bought_fen          bigint NOT NULL CHECK (bought_fen >= 0),
    sold_fen            bigint NOT NULL CHECK (sold_fen >= 0),
    fees_fen            bigint NOT NULL CHECK (fees_fen >= 0),
    listed_t            bigint NOT NULL CHECK (listed_t >= 0),
    block_t             bigint NOT NULL CHECK (block_t >= 0),
    auction_t           bigint NOT NULL CHECK (auction_t >= 0),
    first_trade_date    date NOT NULL,
    last_trade_date     date NOT NULL,
    PRIMARY KEY (participant_id, month, instrument),
    CHECK (month <= first_trade_date AND first_trade_date <= last_trade_date
           AND last_trade_date < (month + interval '1 month')::date)
);
COMMENT ON TABLE carbonmkt.trading_month_stats IS
  'Trading statistics per participant, month and instrument (交易情况) of the closed trading days (a product''s day with its market_day_stats row): the sums of _trading_day_figures over those days, first and last of them with a trade.  end_of_day() adds each day it closes, in the transaction that writes the day''s market_day_stats (after the close the day takes no trades, so the rows stay the tape''s).  Read by bi_trading_activity and bi_trading_by_sector (through _trading_month), which add the days not closed yet from the tape.  Not public: per-participant data, read through the views'' scope.';

CREATE TABLE carbonmkt.trading_sector_month (
    month               date NOT NULL CHECK (extract(day FROM month) = 1),
    instrument          carbonmkt.instrument NOT NULL,
    sector              text REFERENCES carbonmkt.sector,
    participants        bigint NOT NULL CHECK (participants >= 0),   -- 0: a day's candidate row whose participants are all kept already
    trades              bigint NOT NULL CHECK (trades > 0),
    bought_t            bigint NOT NULL CHECK (bought_t >= 0),
    sold_t              bigint NOT NULL CHECK (sold_t >= 0),
    bought_fen          bigint NOT NULL CHECK (bought_fen >= 0),
    sold_fen            bigint NOT NULL CHECK (sold_fen >= 0),
    fees_fen            bigint NOT NULL CHECK (fees_fen >= 0),
    UNIQUE NULLS NOT DISTINCT (month, instrument, sector)
);
COMMENT ON TABLE carbonmkt.trading_sector_month IS
  'The rows of trading_month_stats summed per month, instrument and the participant''s sector (NULL: none, 非重点排放单位): participants (their participant-months), trades, tonnes bought and sold, their value and fees in fen.  Kept with them: end_of_day() adds each closed day (_keep_trading_day), and a participant whose sector changes moves its months to the new sector (trigger trading_sector_moved on participant).  Read by bi_trading_by_sector for a caller who sees every participant.  Not public.';

CREATE FUNCTION carbonmkt._keep_trading_day(p_products int[], p_day date) RETURNS void
LANGUAGE plpgsql AS
$$
DECLARE
    m date := date_trunc('month', p_day)::date;
BEGIN
    -- one writer of the kept trading statistics at a time (end_of_day runs once a day and
    -- product; readers are not blocked): which participant-months are new is then exact, and
    -- no two closes lock shared rows in a cycle
    LOCK TABLE carbonmkt.trading_month_stats IN SHARE ROW EXCLUSIVE MODE;
    WITH day AS MATERIALIZED (
        SELECT f.participant_id, pr.instrument, sum(f.trades)::bigint AS trades, sum(f.bought_t)::bigint AS bought_t,
               sum(f.sold_t)::bigint AS sold_t, sum(f.bought_fen)::bigint AS bought_fen, sum(f.sold_fen)::bigint AS sold_fen,
               sum(f.fees_fen)::bigint AS fees_fen, sum(f.listed_t)::bigint AS listed_t, sum(f.block_t)::bigint AS block_t,
               sum(f.auction_t)::bigint AS auction_t,
               NOT EXISTS (SELECT 1 FROM carbonmkt.trading_month_stats k
                            WHERE k.participant_id = f.participant_id AND k.month = m AND k.instrument = pr.instrument) AS first
          FROM unnest(p_products) u(product_id)
          JOIN carbonmkt.product pr ON pr.product_id = u.product_id
         CROSS JOIN LATERAL (SELECT f.* FROM carbonmkt._trading_day_figures f
                              WHERE f.product_id = u.product_id AND f.business_date = p_day OFFSET 0) f
         GROUP BY f.participant_id, pr.instrument),
    by_sector AS (
        INSERT INTO carbonmkt.trading_sector_month AS k
        SELECT m, d.instrument, p.sector, count(*) FILTER (WHERE d.first), sum(d.trades), sum(d.bought_t), sum(d.sold_t),
               sum(d.bought_fen), sum(d.sold_fen), sum(d.fees_fen)
          FROM day d JOIN carbonmkt.participant p ON p.participant_id = d.participant_id
         GROUP BY d.instrument, p.sector
            ON CONFLICT (month, instrument, sector) DO UPDATE
           SET participants = k.participants + excluded.participants, trades = k.trades + excluded.trades,
               bought_t = k.bought_t + excluded.bought_t, sold_t = k.sold_t + excluded.sold_t,
               bought_fen = k.bought_fen + excluded.bought_fen, sold_fen = k.sold_fen + excluded.sold_fen,
               fees_fen = k.fees_fen + excluded.fees_fen)
    INSERT INTO carbonmkt.trading_month_stats AS k
    SELECT d.participant_id, m, d.instrument, d.trades, d.bought_t, d.sold_t, d.bought_fen, d.sold_fen, d.fees_fen,
           d.listed_t, d.block_t, d.auction_t, p_day, p_day
      FROM day d
        ON CONFLICT (participant_id, month, instrument) DO UPDATE
       SET trades = k.trades + excluded.trades, bought_t = k.bought_t + excluded.bought_t,
           sold_t = k.sold_t + excluded.sold_t, bought_fen = k.bought_fen + excluded.bought_fen,
           sold_fen = k.sold_fen + excluded.sold_fen, fees_fen = k.fees_fen + excluded.fees_fen,
           listed_t = k.listed_t + excluded.listed_t, block_t = k.block_t + excluded.block_t,
           auction_t = k.auction_t + excluded.auction_t,
           first_trade_date = least(k.first_trade_date, excluded.first_trade_date),
           last_trade_date = greatest(k.last_trade_date, excluded.last_trade_date);
END
$$;
COMMENT ON FUNCTION carbonmkt._keep_trading_day(int[], date) IS
  'Internal, for end_of_day(): adds the trades of the products'' day (_trading_day_figures) to each participant''s month in trading_month_stats and to its sector''s month in trading_sector_month (a participant-month kept for the first time counts one participant more), in the transaction that closes those days and writes their market_day_stats rows; one writer at a time (a SHARE ROW EXCLUSIVE lock on trading_month_stats).  Once per product and day: a second call would count the day twice.';

CREATE FUNCTION carbonmkt._keep_trading_months() RETURNS bigint
LANGUAGE sql AS
$$
    LOCK TABLE carbonmkt.trading_month_stats IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM carbonmkt.trading_sector_month;
    DELETE FROM carbonmkt.trading_month_stats;
    INSERT INTO carbonmkt.trading_month_stats
    SELECT f.participant_id, date_trunc('month', f.business_date)::date, pr.instrument, sum(f.trades),
           sum(f.bought_t), sum(f.sold_t), sum(f.bought_fen), sum(f.sold_fen), sum(f.fees_fen),
           sum(f.listed_t), sum(f.block_t), sum(f.auction_t), min(f.business_date), max(f.business_date)
      FROM carbonmkt._trading_day_figures f
      JOIN carbonmkt.market_day_stats s ON s.product_id = f.product_id AND s.business_date = f.business_date
      JOIN carbonmkt.product pr ON pr.product_id = f.product_id
     GROUP BY f.participant_id, date_trunc('month', f.business_date), pr.instrument;
    INSERT INTO carbonmkt.trading_sector_month
    SELECT k.month, k.instrument, p.sector, count(*), sum(k.trades), sum(k.bought_t), sum(k.sold_t),
           sum(k.bought_fen), sum(k.sold_fen), sum(k.fees_fen)
      FROM carbonmkt.trading_month_stats k JOIN carbonmkt.participant p ON p.participant_id = k.participant_id
     GROUP BY k.month, k.instrument, p.sector;
    SELECT count(*) FROM carbonmkt.trading_month_stats
$$;
COMMENT ON FUNCTION carbonmkt._keep_trading_months() IS
  'Internal: rebuilds trading_month_stats from the trade tape of every closed day (a day with its market_day_stats row) and trading_sector_month from it; returns the participant-months kept.  For the upgrade to 0.2.0 (days closed before) and for fixtures that write market_day_stats directly; end_of_day() keeps each day as it closes it (_keep_trading_day).';

CREATE FUNCTION carbonmkt._trading_sector_moved() RETURNS trigger
LANGUAGE plpgsql AS
$$
BEGIN
    LOCK TABLE carbonmkt.trading_month_stats IN SHARE ROW EXCLUSIVE MODE;
    -- the participant's kept months leave its former sector ...
    UPDATE carbonmkt.trading_sector_month x
       SET participants = x.participants - 1, trades = x.trades - k.trades, bought_t = x.bought_t - k.bought_t,
           sold_t = x.sold_t - k.sold_t, bought_fen = x.bought_fen - k.bought_fen, sold_fen = x.sold_fen - k.sold_fen,
           fees_fen = x.fees_fen - k.fees_fen
      FROM carbonmkt.trading_month_stats k
     WHERE k.participant_id = NEW.participant_id AND x.month = k.month AND x.instrument = k.instrument
       AND x.sector IS NOT DISTINCT FROM OLD.sector AND x.participants > 1;
    DELETE FROM carbonmkt.trading_sector_month x
     USING carbonmkt.trading_month_stats k
     WHERE k.participant_id = NEW.participant_id AND x.month = k.month AND x.instrument = k.instrument
       AND x.sector IS NOT DISTINCT FROM OLD.sector AND x.participants = 1;
    -- ... for its new one
    INSERT INTO carbonmkt.trading_sector_month AS x
    SELECT k.month, k.instrument, NEW.sector, 1, k.trades, k.bought_t, k.sold_t, k.bought_fen, k.sold_fen, k.fees_fen
      FROM carbonmkt.trading_month_stats k
     WHERE k.participant_id = NEW.participant_id
        ON CONFLICT (month, instrument, sector) DO UPDATE
       SET participants = x.participants + 1, trades = x.trades + excluded.trades,
           bought_t = x.bought_t + excluded.bought_t, sold_t = x.sold_t + excluded.sold_t,
           bought_fen = x.bought_fen + excluded.bought_fen, sold_fen = x.sold_fen + excluded.sold_fen,
           fees_fen = x.fees_fen + excluded.fees_fen;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION carbonmkt._trading_sector_moved() IS
  'Internal, trigger trading_sector_moved on participant (its sector changed): moves the participant''s kept months (trading_month_stats) from its former sector''s rows of trading_sector_month to the new sector''s, so that bi_trading_by_sector stays the tape''s aggregate by the current sector.';
CREATE TRIGGER trading_sector_moved AFTER UPDATE OF sector ON carbonmkt.participant
    FOR EACH ROW WHEN (OLD.sector IS DISTINCT FROM NEW.sector) EXECUTE FUNCTION carbonmkt._trading_sector_moved();

-- End of day ---------------------------------------------------------------------------------

CREATE FUNCTION carbonmkt.end_of_day(business_date date DEFAULT NULL, product text DEFAULT NULL)
RETURNS TABLE (product_code text, day date, close numeric, listed_trades bigint, expired_orders bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    d       date := coalesce(end_of_day.business_date, carbonmkt.business_date());
    pid     int;
    p       record;
    x       record;
    dayrow  carbonmkt.product_day;
    n       bigint;
    vwap    bigint;
    closed  int[] := '{}';      -- the products whose day this call closes
BEGIN
    PERFORM carbonmkt._require_exchange('close the trading day');
    IF d > carbonmkt.business_date() THEN
        RAISE EXCEPTION 'business day % has not begun', to_char(d, 'YYYY-MM-DD') USING ERRCODE = '22023';
    END IF;
    IF end_of_day.product IS NOT NULL THEN
        pid := (carbonmkt._product(end_of_day.product)).product_id;
    END IF;
    -- every product's matcher lock, then every account an expiry, release or auction
    -- settlement may post to, up front (doc/registry.md, "Lock order")
    PERFORM carbonmkt._lock_market(
        ARRAY(SELECT y.product_id FROM carbonmkt.product y WHERE pid IS NULL OR y.product_id = pid),
        d,
        (SELECT coalesce(array_agg(DISTINCT a), '{}')
           FROM (SELECT o.holding_account, o.cash_account FROM carbonmkt.market_order o
                  WHERE (pid IS NULL OR o.product_id = pid) AND o.status IN ('queued', 'open') AND o.business_date <= d
                 UNION ALL
                 SELECT y.clearing_account, NULL FROM carbonmkt.product y WHERE pid IS NULL OR y.product_id = pid) live,
                unnest(ARRAY[live.holding_account, live.cash_account]) a
          WHERE a IS NOT NULL));
    FOR p IN SELECT y.product_id, y.code FROM carbonmkt.product y
              WHERE (pid IS NULL OR y.product_id = pid) ORDER BY y.product_id
    LOOP
        dayrow := carbonmkt._product_day(p.product_id, d, true);
        n := 0;
        IF dayrow.closed_at IS NULL THEN
            -- one-way bidding: close what has finished bidding, cancel the rest
            FOR x IN SELECT a.auction_id, a.closes_at FROM carbonmkt.auction a
                      WHERE a.product_id = p.product_id AND a.status = 'open'
                        AND carbonmkt.business_date(a.opens_at) <= d ORDER BY a.auction_id
            LOOP
                IF carbonmkt.clock_now() >= x.closes_at AND d = carbonmkt.business_date() THEN
                    PERFORM carbonmkt._close_auction(x.auction_id);
                ELSE
                    PERFORM carbonmkt._end_order(o.order_id, 'expired', 'end_of_day')
                       FROM carbonmkt.market_order o
                      WHERE o.auction_id = x.auction_id AND o.status IN ('queued', 'open');
                    UPDATE carbonmkt.auction a SET status = 'cancelled', closed_at = carbonmkt.clock_now()
                     WHERE a.auction_id = x.auction_id;
                END IF;
            END LOOP;
            -- block deals that were not accepted expire with the session
            UPDATE carbonmkt.block_deal b SET status = 'expired', ended_at = carbonmkt.clock_now()
             WHERE b.product_id = p.product_id AND b.business_date <= d AND b.status IN ('proposed', 'confirmed');
            -- every live order of the day (or earlier) expires and releases its hold
            FOR x IN SELECT o.order_id FROM carbonmkt.market_order o
                      WHERE o.product_id = p.product_id AND o.status IN ('queued', 'open') AND o.business_date <= d
                      ORDER BY o.order_id
            LOOP
                PERFORM carbonmkt._end_order(x.order_id, 'expired', 'end_of_day');
                n := n + 1;
            END LOOP;
            SELECT round(sum(t.price_fen::numeric * t.quantity) / sum(t.quantity))::bigint INTO vwap
              FROM carbonmkt.trade t
             WHERE t.product_id = p.product_id AND t.business_date = d AND t.mode = 'listed';
            UPDATE carbonmkt.product_day y SET close_fen = coalesce(vwap, y.prev_close_fen), closed_at = carbonmkt.clock_now()
             WHERE y.product_id = p.product_id AND y.business_date = d
            RETURNING * INTO dayrow;
            -- the day's statistics, kept with the close (no trades after it)
            INSERT INTO carbonmkt.market_day_stats
            SELECT p.product_id, d, f.open_fen, f.high_fen, f.low_fen, f.last_fen, f.listed_volume_t,
                   f.listed_turnover_fen, f.block_volume_t, f.block_turnover_fen, f.auction_volume_t,
                   f.auction_turnover_fen, f.volume_t, f.turnover_fen, coalesce(f.trades, 0)
              FROM (SELECT 1) one
              LEFT JOIN carbonmkt._market_day_figures f ON f.product_id = p.product_id AND f.business_date = d;
            closed := closed || p.product_id;
        END IF;
        product_code := p.code;
        day := d;
        close := (dayrow.close_fen / 100.0)::numeric(14, 2);
        SELECT count(*) INTO listed_trades FROM carbonmkt.trade t
         WHERE t.product_id = p.product_id AND t.business_date = d AND t.mode = 'listed';
        expired_orders := n;
        RETURN NEXT;
    END LOOP;
    -- each participant's trades of the days just closed, added to its month (bi_trading_*)
    PERFORM carbonmkt._keep_trading_day(closed, d);
END
$$;
COMMENT ON FUNCTION carbonmkt.end_of_day(date, text) IS
  'Closes a trading day (收盘) per product: closes auctions whose window ended (cancels the others), expires block deals not accepted and every live order (releasing its hold), and fixes the closing price = volume-weighted average price of the day''s listed-agreement trades, else the previous close, with the day''s statistics (market_day_stats) and each participant''s trades of the day added to its month (trading_month_stats).  No more orders that day afterwards.  Idempotent.  Exchange or registry staff only.';

-- Market data -------------------------------------------------------------------------------

CREATE VIEW carbonmkt.market_trades AS
SELECT t.trade_id, p.code AS product, t.mode, t.business_date, t.executed_at,
       (t.price_fen / 100.0)::numeric(14, 2) AS price, t.quantity,
       (t.price_fen * t.quantity / 100.0)::numeric(20, 2) AS value_cny, t.aggressor
  FROM carbonmkt.trade t JOIN carbonmkt.product p USING (product_id);
COMMENT ON VIEW carbonmkt.market_trades IS
  'Public trade tape (成交明细): every trade with product, mode, time, price (CNY per t), quantity (t), value (CNY) and the aggressor side of listed trades; no parties.';

CREATE VIEW carbonmkt.order_book_depth AS
SELECT p.code AS product, l.side, l.level::int AS level, (l.price_fen / 100.0)::numeric(14, 2) AS price,
       l.quantity, l.orders
  FROM (SELECT o.product_id, o.side, o.price_fen, sum(o.remaining)::bigint AS quantity, count(*) AS orders,
               row_number() OVER (PARTITION BY o.product_id, o.side
                                  ORDER BY CASE WHEN o.side = 'buy' THEN -o.price_fen ELSE o.price_fen END) AS level
          FROM carbonmkt.market_order o
         WHERE o.status = 'open' AND o.mode = 'listed' AND o.business_date = carbonmkt.business_date()
         GROUP BY o.product_id, o.side, o.price_fen) l
  JOIN carbonmkt.product p USING (product_id);
COMMENT ON VIEW carbonmkt.order_book_depth IS
  'Public depth of today''s listed-agreement book (行情): per product and side, each price level (1 = best bid / best offer) with the quantity and number of orders resting there.  Filter level <= N for the best N levels, or call carbonmkt.order_book().';

CREATE FUNCTION carbonmkt.order_book(product text, levels int DEFAULT 5)
RETURNS TABLE (side carbonmkt.order_side, level int, price numeric, quantity bigint, orders bigint)
LANGUAGE sql STABLE AS
$$ SELECT d.side, d.level, d.price, d.quantity, d.orders FROM carbonmkt.order_book_depth d
    WHERE d.product = upper(btrim(order_book.product)) AND d.level <= levels
    ORDER BY d.side DESC, d.level $$;
COMMENT ON FUNCTION carbonmkt.order_book(text, int) IS
  'The best N price levels of each side of a product''s listed book today (offers first, then bids).';

CREATE VIEW carbonmkt.market_daily AS
SELECT p.code AS product, t.business_date, t.mode,
       ((array_agg(t.price_fen ORDER BY t.trade_id))[1] / 100.0)::numeric(14, 2) AS open,
       (max(t.price_fen) / 100.0)::numeric(14, 2) AS high,
       (min(t.price_fen) / 100.0)::numeric(14, 2) AS low,
       (round(sum(t.price_fen::numeric * t.quantity) / sum(t.quantity)) / 100.0)::numeric(14, 2) AS close,
       ((array_agg(t.price_fen ORDER BY t.trade_id DESC))[1] / 100.0)::numeric(14, 2) AS last,
       sum(t.quantity)::bigint AS volume,
       (sum(t.price_fen::numeric * t.quantity) / 100.0)::numeric(20, 2) AS turnover_cny,
       count(*) AS trades
  FROM carbonmkt.trade t JOIN carbonmkt.product p USING (product_id)
 GROUP BY p.code, t.business_date, t.mode;
COMMENT ON VIEW carbonmkt.market_daily IS
  'Public daily statistics per product and mode (RULES.md 5, [S1 Art. 35]): open, high, low, close (the mode''s volume-weighted average price), last, volume (t), turnover (CNY), trades.  The official closing price of a product is in carbonmkt.market_close.';

CREATE VIEW carbonmkt.market_close AS
SELECT p.code AS product, d.business_date, (d.prev_close_fen / 100.0)::numeric(14, 2) AS previous_close,
       (coalesce(d.close_fen,
                 (SELECT round(sum(t.price_fen::numeric * t.quantity) / sum(t.quantity))::bigint FROM carbonmkt.trade t
                   WHERE t.product_id = d.product_id AND t.business_date = d.business_date AND t.mode = 'listed'),
                 d.prev_close_fen) / 100.0)::numeric(14, 2) AS close,
       d.closed_at IS NOT NULL AS final
  FROM carbonmkt.product_day d JOIN carbonmkt.product p USING (product_id);
COMMENT ON VIEW carbonmkt.market_close IS
  'Official closing price (收盘价) per product and day with market activity: the volume-weighted average price of the day''s listed-agreement trades, else the previous close; final once end_of_day() ran (before that, the value so far).  previous_close is the band''s centre of the day.';

CREATE FUNCTION carbonmkt.closing_price(product text, business_date date) RETURNS numeric
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT (carbonmkt._previous_close(p.product_id, closing_price.business_date + 1) / 100.0)::numeric(14, 2)
     FROM carbonmkt.product p WHERE p.code = upper(btrim(closing_price.product)) $$;
COMMENT ON FUNCTION carbonmkt.closing_price(text, date) IS
  'The closing price of a product on any date, CNY per t: the VWAP of that day''s listed-agreement trades, else the previous close (carried from the latest earlier day with listed trades, else the reference price).  NULL for an unknown product.  For the compliance room''s price-based penalties.';

CREATE FUNCTION carbonmkt.previous_close(product text) RETURNS numeric
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT (carbonmkt._previous_close(p.product_id, carbonmkt.business_date()) / 100.0)::numeric(14, 2)
     FROM carbonmkt.product p WHERE p.code = upper(btrim(previous_close.product)) $$;
COMMENT ON FUNCTION carbonmkt.previous_close(text) IS
  'The previous close (前收盘价) of a product for today''s business date, CNY per t: the centre of today''s price band.  NULL for an unknown product.  carbonmkt-load centres its order flow on it.';

CREATE FUNCTION carbonmkt.average_price(product text, from_date date, to_date date,
                                        OUT vwap numeric, OUT mean_close numeric, OUT volume bigint, OUT trading_days int)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
    WITH p AS (SELECT x.product_id, x.jurisdiction FROM carbonmkt.product x WHERE x.code = upper(btrim(average_price.product))),
         days AS (SELECT g::date AS d FROM p, generate_series(from_date, to_date, interval '1 day') g
                   WHERE carbonmkt.is_trading_day(g::date, p.jurisdiction))
    SELECT (SELECT (round(sum(t.price_fen::numeric * t.quantity) / sum(t.quantity)) / 100.0)::numeric(14, 2)
              FROM carbonmkt.trade t, p WHERE t.product_id = p.product_id AND t.business_date BETWEEN from_date AND to_date),
           (SELECT round(avg(carbonmkt._previous_close(p.product_id, days.d + 1)) / 100.0, 2) FROM days, p),
           (SELECT sum(t.quantity)::bigint FROM carbonmkt.trade t, p
             WHERE t.product_id = p.product_id AND t.business_date BETWEEN from_date AND to_date),
           (SELECT count(*)::int FROM days)
$$;
COMMENT ON FUNCTION carbonmkt.average_price(text, date, date) IS
  'Average price of a product over [from_date, to_date], e.g. a month, CNY per t: vwap = turnover / volume of all trades (every mode), mean_close = mean of the daily closing prices over the trading days; also the volume and the number of trading days.  For the compliance room (Decree 775: penalties of 5–10x the average price).';

-- Access ---------------------------------------------------------------------------------------
-- Market data and rules are public; orders, trades and block deals are readable per
-- role with row-level security (a participant's login sees its own); every change goes
-- through the SECURITY DEFINER functions above.

GRANT SELECT ON carbonmkt.market_rule, carbonmkt.market_session, carbonmkt.trading_calendar, carbonmkt.trader_rule,
                carbonmkt.trading_calendar_year,
                carbonmkt.product, carbonmkt.product_day, carbonmkt.market_day_stats, carbonmkt._market_day,
                carbonmkt._market_day_figures, carbonmkt.auction,
                carbonmkt.market_trades, carbonmkt.order_book_depth, carbonmkt.market_daily, carbonmkt.market_close
   TO PUBLIC;
GRANT SELECT ON carbonmkt.market_order, carbonmkt.trade, carbonmkt.block_deal
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_participant,
      carbonmkt_bi;

ALTER TABLE carbonmkt.market_order ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.trade ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.block_deal ENABLE ROW LEVEL SECURITY;
CREATE POLICY staff_read ON carbonmkt.market_order FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.market_order FOR SELECT TO carbonmkt_participant
    USING (participant_id = carbonmkt.caller_participant());
CREATE POLICY staff_read ON carbonmkt.trade FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.trade FOR SELECT TO carbonmkt_participant
    USING (carbonmkt.caller_participant() IN (buyer_id, seller_id));
CREATE POLICY staff_read ON carbonmkt.block_deal FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.block_deal FOR SELECT TO carbonmkt_participant
    USING (carbonmkt.caller_participant() IN (proposer_id, counterparty_id));

REVOKE ALL ON FUNCTION
    carbonmkt.submit_order(text, text, bigint, numeric, bigint, text, bigint),
    carbonmkt.queue_order(text, text, bigint, numeric, bigint, text, bigint),
    carbonmkt.cancel_order(bigint, text),
    carbonmkt.list_product(text, numeric, bigint, int, carbonmkt.instrument, text, text),
    carbonmkt.propose_block(text, text, bigint, numeric, bigint, text, bigint),
    carbonmkt.confirm_block(bigint, text, bigint),
    carbonmkt.accept_block(bigint),
    carbonmkt.cancel_block(bigint, bigint),
    carbonmkt.announce_auction(text, text, bigint, numeric, timestamptz, timestamptz, text, bigint),
    carbonmkt.bid_auction(bigint, bigint, numeric, text, bigint),
    carbonmkt.close_auction(bigint),
    carbonmkt.cancel_auction(bigint),
    carbonmkt.end_of_day(date, text)
  FROM PUBLIC;
REVOKE ALL ON PROCEDURE carbonmkt.process_queue(text, int) FROM PUBLIC;
-- trading: participants for themselves, staff for anyone (each function checks)
GRANT EXECUTE ON FUNCTION
    carbonmkt.submit_order(text, text, bigint, numeric, bigint, text, bigint),
    carbonmkt.queue_order(text, text, bigint, numeric, bigint, text, bigint),
    carbonmkt.cancel_order(bigint, text),
    carbonmkt.propose_block(text, text, bigint, numeric, bigint, text, bigint),
    carbonmkt.confirm_block(bigint, text, bigint),
    carbonmkt.cancel_block(bigint, bigint),
    carbonmkt.announce_auction(text, text, bigint, numeric, timestamptz, timestamptz, text, bigint),
    carbonmkt.bid_auction(bigint, bigint, numeric, text, bigint),
    carbonmkt.close_auction(bigint),
    carbonmkt.cancel_auction(bigint)
   TO carbonmkt_participant, carbonmkt_exchange, carbonmkt_registry, carbonmkt_authority;
-- running the market: the exchange (and the registry)
GRANT EXECUTE ON FUNCTION
    carbonmkt.list_product(text, numeric, bigint, int, carbonmkt.instrument, text, text),
    carbonmkt.accept_block(bigint),
    carbonmkt.end_of_day(date, text)
   TO carbonmkt_exchange, carbonmkt_registry;
GRANT EXECUTE ON PROCEDURE carbonmkt.process_queue(text, int) TO carbonmkt_exchange, carbonmkt_registry;
