-- test/cli/stub.sql: a stub of carbonmkt's market API for testing carbonmkt-load
-- (test/cli/run.sh loads it into a scratch database; the extension is not needed).
--
-- The functions have exactly the signatures of the market contract
-- (submit_order, queue_order, cancel_order, process_queue), record every call
-- that commits in carbonmkt.stub_call, and follow simple, predictable rules so
-- the test can compute the expected outcome of each order from the order alone:
--   CM301  price an odd number of fen (the "some inputs" the tool must survive)
--   CM302  price off the 0.01 CNY step (60.005)
--   CM303  quantity of 100,000 t or more (block size in the listed mode)
--   CM304  unknown product
--   CM007  client reference reused with different content
--   CM310  cancel of an unknown order; CM311 of an order already cancelled
--   22012  product 'BOOM': an error outside class CM (a bug, for the exit status)
--   40P01  when stub_setting.deadlocks is on, orders of quantity ending in 3 fail
--          two tries out of three (a sequence, which survives the rollback, counts)
-- A trade of the whole quantity is recorded for accepted orders whose quantity is
-- a multiple of 7 (submit at once, queue when processed): the tool's fills counter.
-- carbonmkt.previous_close() answers 60.00 for CEA2024 and NULL otherwise.
-- Each call records the session's carbonmkt.stub_tag (set by the tool's --set).
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS carbonmkt CASCADE;
CREATE SCHEMA carbonmkt;

-- What the tool's participants query reads (a subset of src/registry.sql).
CREATE TYPE carbonmkt.participant_kind AS ENUM ('key_emitter', 'institution', 'exchange');
CREATE TYPE carbonmkt.account_kind AS ENUM ('holding', 'cash', 'clearing');
CREATE TYPE carbonmkt.account_status AS ENUM ('open', 'frozen', 'closed');
CREATE TABLE carbonmkt.participant (
    participant_id  bigint PRIMARY KEY,
    kind            carbonmkt.participant_kind NOT NULL
);
CREATE TABLE carbonmkt.account (
    account_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            carbonmkt.account_kind NOT NULL,
    participant_id  bigint REFERENCES carbonmkt.participant,
    status          carbonmkt.account_status NOT NULL DEFAULT 'open'
);
-- 1..40: key emitters with an open holding and an open cash account (the tool's set)
INSERT INTO carbonmkt.participant SELECT g, 'key_emitter' FROM generate_series(1, 40) g;
INSERT INTO carbonmkt.account (kind, participant_id)
SELECT k, g FROM generate_series(1, 40) g, unnest('{holding,cash}'::carbonmkt.account_kind[]) k;
-- not for the tool: no cash account, frozen holding, closed cash, an institution, the exchange
INSERT INTO carbonmkt.participant VALUES (41, 'key_emitter'), (42, 'key_emitter'),
    (43, 'key_emitter'), (44, 'institution'), (45, 'exchange');
INSERT INTO carbonmkt.account (kind, participant_id, status) VALUES
    ('holding', 41, 'open'),
    ('holding', 42, 'frozen'), ('cash', 42, 'open'),
    ('holding', 43, 'open'), ('cash', 43, 'closed'),
    ('holding', 44, 'open'), ('cash', 44, 'open'),
    ('clearing', 45, 'open'), ('cash', 45, 'open');

CREATE TABLE carbonmkt.stub_product (code text PRIMARY KEY);
INSERT INTO carbonmkt.stub_product VALUES ('CEA2024'), ('CEA2023'), ('BOOM');

CREATE TABLE carbonmkt.stub_setting (deadlocks boolean NOT NULL);
INSERT INTO carbonmkt.stub_setting VALUES (false);
CREATE SEQUENCE carbonmkt.stub_attempt;

CREATE TABLE carbonmkt.stub_call (
    order_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fn              text NOT NULL,        -- submit | queue
    product         text NOT NULL,
    side            text NOT NULL,
    quantity        bigint NOT NULL,
    price           numeric NOT NULL,
    take_order_id   bigint,
    reference       text UNIQUE,
    participant_id  bigint,
    processed       boolean NOT NULL DEFAULT false,
    cancelled       boolean NOT NULL DEFAULT false,
    cancel_reference text UNIQUE,
    tag             text DEFAULT current_setting('carbonmkt.stub_tag', true)  -- carbonmkt-load --set
);
CREATE TABLE carbonmkt.stub_replay (reference text NOT NULL);
CREATE TABLE carbonmkt.stub_process (product text, max_orders int, orders bigint);
CREATE TABLE carbonmkt.trade (
    trade_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id        bigint NOT NULL,
    quantity        bigint NOT NULL
);

CREATE FUNCTION carbonmkt._stub_order(fn text, product text, side text, quantity bigint,
                                      price numeric, take_order_id bigint, reference text,
                                      participant_id bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    c   carbonmkt.stub_call;
    id  bigint;
BEGIN
    IF reference IS NOT NULL THEN
        SELECT * INTO c FROM carbonmkt.stub_call s WHERE s.reference = reference;
        IF FOUND THEN
            IF (c.fn, c.product, c.side, c.quantity, c.price, c.take_order_id, c.participant_id)
               IS DISTINCT FROM (fn, product, side, quantity, price, take_order_id, participant_id) THEN
                RAISE EXCEPTION 'client reference % was used for a different order', reference
                      USING ERRCODE = 'CM007';
            END IF;
            INSERT INTO carbonmkt.stub_replay VALUES (reference);
            RETURN c.order_id;
        END IF;
    END IF;
    IF product = 'BOOM' THEN
        PERFORM 1 / 0;
    END IF;
    IF NOT EXISTS (SELECT FROM carbonmkt.stub_product p WHERE p.code = product) THEN
        RAISE EXCEPTION 'unknown product %', product USING ERRCODE = 'CM304';
    END IF;
    IF side NOT IN ('buy', 'sell') THEN
        RAISE EXCEPTION 'side must be buy or sell, not %', side USING ERRCODE = '22023';
    END IF;
    IF price <> round(price, 2) THEN
        RAISE EXCEPTION 'price % CNY is off the 0.01 CNY step', price USING ERRCODE = 'CM302';
    END IF;
    IF (price * 100)::bigint % 2 = 1 THEN
        RAISE EXCEPTION 'stub rule: price % CNY is an odd number of fen', price USING ERRCODE = 'CM301';
    END IF;
    IF quantity >= 100000 THEN
        RAISE EXCEPTION 'quantity % t is block-sized (100000 t or more)', quantity USING ERRCODE = 'CM303';
    END IF;
    IF quantity % 10 = 3 AND (SELECT s.deadlocks FROM carbonmkt.stub_setting s)
       AND nextval('carbonmkt.stub_attempt') % 3 <> 0 THEN
        RAISE EXCEPTION 'stub deadlock' USING ERRCODE = '40P01';
    END IF;
    INSERT INTO carbonmkt.stub_call (fn, product, side, quantity, price, take_order_id, reference,
                                     participant_id)
    VALUES (fn, product, side, quantity, price, take_order_id, reference, participant_id)
    RETURNING order_id INTO id;
    IF fn = 'submit' AND quantity % 7 = 0 THEN
        INSERT INTO carbonmkt.trade (order_id, quantity) VALUES (id, quantity);
    END IF;
    RETURN id;
END $$;

CREATE FUNCTION carbonmkt.submit_order(product text, side text, tonnes bigint, price numeric,
                                       take_order_id bigint DEFAULT NULL, reference text DEFAULT NULL,
                                       acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE sql AS $$
    SELECT carbonmkt._stub_order('submit', product, side, tonnes, price, take_order_id, reference,
                                 acting_for)
$$;

CREATE FUNCTION carbonmkt.queue_order(product text, side text, tonnes bigint, price numeric,
                                      take_order_id bigint DEFAULT NULL, reference text DEFAULT NULL,
                                      acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE sql AS $$
    SELECT carbonmkt._stub_order('queue', product, side, tonnes, price, take_order_id, reference,
                                 acting_for)
$$;

CREATE FUNCTION carbonmkt.cancel_order(order_id bigint, reference text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    c   carbonmkt.stub_call;
BEGIN
    SELECT * INTO c FROM carbonmkt.stub_call s WHERE s.order_id = order_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown order %', order_id USING ERRCODE = 'CM310';
    END IF;
    IF c.cancelled THEN
        IF reference IS NOT NULL AND c.cancel_reference = reference THEN
            INSERT INTO carbonmkt.stub_replay VALUES (reference);
            RETURN;
        END IF;
        RAISE EXCEPTION 'order % is already cancelled', order_id USING ERRCODE = 'CM311';
    END IF;
    UPDATE carbonmkt.stub_call s SET cancelled = true, cancel_reference = reference
     WHERE s.order_id = order_id;
END $$;

CREATE PROCEDURE carbonmkt.process_queue(product text DEFAULT NULL, max_orders int DEFAULT NULL)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    n   bigint;
BEGIN
    WITH done AS (
        UPDATE carbonmkt.stub_call s SET processed = true
         WHERE s.fn = 'queue' AND NOT s.processed AND NOT s.cancelled
           AND (product IS NULL OR s.product = product)
        RETURNING s.order_id, s.quantity
    ), t AS (
        INSERT INTO carbonmkt.trade (order_id, quantity)
        SELECT d.order_id, d.quantity FROM done d WHERE d.quantity % 7 = 0
    )
    SELECT count(*) INTO n FROM done;
    INSERT INTO carbonmkt.stub_process VALUES (product, max_orders, n);
END $$;

CREATE FUNCTION carbonmkt.previous_close(product text) RETURNS numeric
LANGUAGE sql STABLE AS $$ SELECT CASE WHEN product = 'CEA2024' THEN 60.00 END $$;
