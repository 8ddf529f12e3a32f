-- test/bench/posting_paths_baseline.sql: the PL/pgSQL posting path that src/posting.c replaced
-- (issuance, deposit, withdrawal and every CCER posting went through these helpers until the
-- one C posting engine), verbatim from src/registry.sql before the change, in schema
-- bench_plpgsql, writing the same tables through the same chain trigger.  Loaded by
-- test/bench/posting_paths.sh as the baseline; not installed.
CREATE SCHEMA bench_plpgsql;

-- Idempotency: start a posting, or find the one this client reference made.
CREATE FUNCTION bench_plpgsql._begin_posting(p_operation text, p_reference text, p_request text,
                                         OUT posting_id bigint, OUT replay boolean, OUT result bigint,
                                         OUT ts timestamptz, OUT bdate date)
LANGUAGE plpgsql AS
$$
DECLARE
    old     carbonmkt.posting;
    sealed  date;
BEGIN
    replay := false;
    IF p_reference IS NOT NULL THEN
        SELECT * INTO old FROM carbonmkt.posting p
         WHERE p.initiator = session_user AND p.reference = p_reference;
        IF FOUND THEN
            IF old.operation <> p_operation OR old.request <> p_request THEN
                RAISE EXCEPTION 'client reference "%" was already used for a different request', p_reference
                    USING ERRCODE = 'CM007',
                          DETAIL = format('Posting %s was %s. This request is %s.', old.posting_id, old.request, p_request),
                          HINT = 'Use a new client reference for a new request; resend the same request to get the original result.';
            END IF;
            posting_id := old.posting_id; replay := true; result := old.result;
            ts := old.recorded_at; bdate := old.business_date;
            RETURN;
        END IF;
    END IF;

    ts := carbonmkt.clock_now();
    bdate := carbonmkt.business_date(ts);
    SELECT max(s.business_date) INTO sealed FROM carbonmkt.day_seal s;
    IF sealed IS NOT NULL AND bdate <= sealed THEN
        RAISE EXCEPTION 'business day % is sealed', to_char(bdate, 'YYYY-MM-DD')
            USING ERRCODE = 'CM012',
                  DETAIL = format('Days up to %s are sealed; no posting may be dated on or before them.',
                                  to_char(sealed, 'YYYY-MM-DD'));
    END IF;

    INSERT INTO carbonmkt.posting AS p (operation, initiator, reference, request, business_date, recorded_at)
    VALUES (p_operation, session_user, p_reference, p_request, bdate, ts)
    ON CONFLICT (initiator, reference) WHERE reference IS NOT NULL DO NOTHING
    RETURNING p.posting_id INTO posting_id;
    IF posting_id IS NULL THEN
        -- a concurrent session committed the same reference while we looked: retry the lookup
        SELECT b.posting_id, b.replay, b.result, b.ts, b.bdate INTO posting_id, replay, result, ts, bdate
          FROM bench_plpgsql._begin_posting(p_operation, p_reference, p_request) b;
    END IF;
END
$$;

-- Lock the accounts of a posting in account_id order (no deadlocks), check that
-- they exist, are in a state that allows the posting and may hold the instrument.
CREATE FUNCTION bench_plpgsql._lock_accounts(p_debit bigint[], p_credit bigint[], p_instrument carbonmkt.instrument)
RETURNS void LANGUAGE plpgsql AS
$$
DECLARE
    r       record;
    n       int := 0;
    ids     bigint[] := ARRAY(SELECT DISTINCT x FROM unnest(p_debit || p_credit) x WHERE x IS NOT NULL ORDER BY x);
BEGIN
    FOR r IN SELECT a.account_id, a.kind, a.status, k.instrument IS NOT NULL AS may_hold
               FROM carbonmkt.account a
               LEFT JOIN carbonmkt.account_kind_instrument k ON k.kind = a.kind AND k.instrument = p_instrument
              WHERE a.account_id = ANY (ids)
              ORDER BY a.account_id
                FOR NO KEY UPDATE OF a
    LOOP
        n := n + 1;
        IF NOT r.may_hold THEN
            RAISE EXCEPTION 'account % (kind %) cannot hold %', r.account_id, r.kind, p_instrument
                USING ERRCODE = 'CM005',
                      HINT = 'See carbonmkt.account_kind_instrument for the instruments each account kind holds.';
        END IF;
        IF r.status = 'closed' THEN
            RAISE EXCEPTION 'account % is closed', r.account_id USING ERRCODE = 'CM003';
        END IF;
        IF r.status = 'frozen' AND r.account_id = ANY (p_debit) THEN
            RAISE EXCEPTION 'account % is frozen', r.account_id
                USING ERRCODE = 'CM003', DETAIL = 'Nothing can leave a frozen account.';
        END IF;
    END LOOP;
    IF n <> cardinality(ids) THEN
        RAISE EXCEPTION 'account % does not exist',
            (SELECT min(x) FROM unnest(ids) x WHERE NOT EXISTS (SELECT 1 FROM carbonmkt.account a WHERE a.account_id = x))
            USING ERRCODE = 'CM001';
    END IF;
END
$$;

CREATE FUNCTION bench_plpgsql._check_quantity(p_instrument carbonmkt.instrument, p_quantity bigint)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS
$$
BEGIN
    IF p_quantity IS NULL OR p_quantity <= 0 THEN
        RAISE EXCEPTION 'quantity must be positive: %', coalesce(carbonmkt.format_quantity(p_instrument, p_quantity), 'NULL')
            USING ERRCODE = '22023';
    END IF;
END
$$;

CREATE FUNCTION bench_plpgsql._require_available(p_account bigint, p_instrument carbonmkt.instrument,
                                             p_vintage int, p_project text, p_quantity bigint)
RETURNS void LANGUAGE plpgsql AS
$$
DECLARE
    bal bigint; hld bigint;
BEGIN
    SELECT balance, held INTO bal, hld FROM carbonmkt.holding
     WHERE account_id = p_account AND instrument = p_instrument AND vintage = p_vintage AND project = p_project;
    IF coalesce(bal - hld, 0) < p_quantity THEN
        RAISE EXCEPTION 'insufficient available % in account %: available %, requested %',
            carbonmkt.format_asset(p_instrument, p_vintage, p_project), p_account,
            carbonmkt.format_quantity(p_instrument, coalesce(bal - hld, 0)),
            carbonmkt.format_quantity(p_instrument, p_quantity)
            USING ERRCODE = 'CM004',
                  DETAIL = format('Balance %s, of which %s held.', carbonmkt.format_quantity(p_instrument, coalesce(bal, 0)),
                                  carbonmkt.format_quantity(p_instrument, coalesce(hld, 0)));
    END IF;
END
$$;

-- One journal leg: change a holding and append the journal row (the chain
-- trigger sets seq, prev_hash and hash).
CREATE FUNCTION bench_plpgsql._leg(p_posting bigint, p_ts timestamptz, p_date date, p_account bigint,
                               p_kind carbonmkt.entry_kind, p_instrument carbonmkt.instrument,
                               p_vintage int, p_project text, p_amount bigint, p_held_change bigint,
                               p_counterparty bigint, p_hold bigint, p_period int,
                               p_block carbonmkt.ccer, p_memo text)
RETURNS void LANGUAGE plpgsql AS
$$
DECLARE
    bal bigint; hld bigint;
BEGIN
    UPDATE carbonmkt.holding
       SET balance = balance + p_amount, held = held + p_held_change
     WHERE account_id = p_account AND instrument = p_instrument AND vintage = p_vintage AND project = p_project
    RETURNING balance, held INTO bal, hld;
    IF NOT FOUND THEN
        INSERT INTO carbonmkt.holding (account_id, instrument, vintage, project, balance, held)
        VALUES (p_account, p_instrument, p_vintage, p_project, p_amount, p_held_change)
        RETURNING balance, held INTO bal, hld;
    END IF;
    INSERT INTO carbonmkt.journal (posting_id, account_id, seq, kind, instrument, vintage, project, block,
                                   amount, held_change, balance_after, held_after, counterparty, hold_id,
                                   period, business_date, recorded_at, memo, prev_hash, hash)
    VALUES (p_posting, p_account, 0, p_kind, p_instrument, p_vintage, p_project, p_block,
            p_amount, p_held_change, bal, hld, p_counterparty, p_hold,
            p_period, p_date, p_ts, p_memo, '\x', '\x');
END
$$;

-- Put a CCER block into an account, merged with any adjacent block it already holds.
CREATE FUNCTION bench_plpgsql._place_block(p_account bigint, p_block carbonmkt.ccer)
RETURNS void LANGUAGE plpgsql AS
$$
DECLARE
    merged carbonmkt.ccer := p_block;
    nb     carbonmkt.ccer;
BEGIN
    FOR nb IN DELETE FROM carbonmkt.ccer_block
               WHERE account_id = p_account AND block OPERATOR(carbonmkt.-|-) p_block
              RETURNING block
    LOOP
        merged := carbonmkt.merge_blocks(merged, nb);
    END LOOP;
    INSERT INTO carbonmkt.ccer_block (block, account_id) VALUES (merged, p_account);
END
$$;

-- Move a quantity between two accounts: the legs for one asset.  CCER moves
-- whole serial blocks, lowest serials first, splitting the last one.
CREATE FUNCTION bench_plpgsql._move(p_posting bigint, p_ts timestamptz, p_date date,
                                p_from bigint, p_to bigint, p_instrument carbonmkt.instrument,
                                p_vintage int, p_project text, p_quantity bigint,
                                p_debit_kind carbonmkt.entry_kind, p_credit_kind carbonmkt.entry_kind,
                                p_hold bigint, p_period int, p_memo text,
                                p_exact carbonmkt.ccer DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS
$$
DECLARE
    need    bigint := p_quantity;
    blk     carbonmkt.ccer;
    piece   carbonmkt.ccer;
    part    record;
    held    bigint := CASE WHEN p_hold IS NULL THEN 0 ELSE p_quantity END;
BEGIN
    IF p_instrument <> 'CCER' THEN
        PERFORM bench_plpgsql._leg(p_posting, p_ts, p_date, p_from, p_debit_kind, p_instrument, p_vintage, p_project,
                               -p_quantity, -held, p_to, p_hold, p_period, NULL, p_memo);
        PERFORM bench_plpgsql._leg(p_posting, p_ts, p_date, p_to, p_credit_kind, p_instrument, p_vintage, p_project,
                               p_quantity, 0, p_from, p_hold, p_period, NULL, p_memo);
        RETURN;
    END IF;

    IF p_exact IS NOT NULL THEN
        -- exactly this block: cut it out of the block that contains it
        DELETE FROM carbonmkt.ccer_block
         WHERE account_id = p_from AND block OPERATOR(carbonmkt.@>) p_exact
        RETURNING block INTO blk;
        IF blk IS NULL THEN
            RAISE EXCEPTION 'CCER block % is not held by account %', p_exact, p_from
                USING ERRCODE = 'CM010',
                      HINT = 'A block moves only from the account that holds all of its serials.';
        END IF;
        IF carbonmkt.first_serial(blk) < carbonmkt.first_serial(p_exact) THEN
            INSERT INTO carbonmkt.ccer_block VALUES
              (carbonmkt.ccer(carbonmkt.project(blk), carbonmkt.vintage(blk), carbonmkt.first_serial(blk),
                              carbonmkt.first_serial(p_exact) - 1), p_from);
        END IF;
        IF carbonmkt.last_serial(blk) > carbonmkt.last_serial(p_exact) THEN
            INSERT INTO carbonmkt.ccer_block VALUES
              (carbonmkt.ccer(carbonmkt.project(blk), carbonmkt.vintage(blk), carbonmkt.last_serial(p_exact) + 1,
                              carbonmkt.last_serial(blk)), p_from);
        END IF;
        PERFORM bench_plpgsql._place_block(p_to, p_exact);
        PERFORM bench_plpgsql._leg(p_posting, p_ts, p_date, p_from, p_debit_kind, 'CCER', p_vintage, p_project,
                               -p_quantity, -held, p_to, p_hold, p_period, p_exact, p_memo);
        PERFORM bench_plpgsql._leg(p_posting, p_ts, p_date, p_to, p_credit_kind, 'CCER', p_vintage, p_project,
                               p_quantity, 0, p_from, p_hold, p_period, p_exact, p_memo);
        RETURN;
    END IF;

    -- n tonnes: lowest serials first
    FOR blk IN SELECT b.block FROM carbonmkt.ccer_block b
                WHERE b.account_id = p_from AND carbonmkt.project(b.block) = p_project
                  AND carbonmkt.vintage(b.block) = p_vintage
                ORDER BY carbonmkt.first_serial(b.block)
    LOOP
        EXIT WHEN need = 0;
        DELETE FROM carbonmkt.ccer_block WHERE block = blk;
        IF carbonmkt.tonnes(blk) > need THEN
            part := carbonmkt.split_block(blk, need);
            piece := part.head;
            INSERT INTO carbonmkt.ccer_block VALUES (part.tail, p_from);
        ELSE
            piece := blk;
        END IF;
        PERFORM bench_plpgsql._place_block(p_to, piece);
        PERFORM bench_plpgsql._leg(p_posting, p_ts, p_date, p_from, p_debit_kind, 'CCER', p_vintage, p_project,
                               -carbonmkt.tonnes(piece),
                               CASE WHEN p_hold IS NULL THEN 0 ELSE -carbonmkt.tonnes(piece) END,
                               p_to, p_hold, p_period, piece, p_memo);
        PERFORM bench_plpgsql._leg(p_posting, p_ts, p_date, p_to, p_credit_kind, 'CCER', p_vintage, p_project,
                               carbonmkt.tonnes(piece), 0, p_from, p_hold, p_period, piece, p_memo);
        need := need - carbonmkt.tonnes(piece);
    END LOOP;
    IF need <> 0 THEN
        RAISE EXCEPTION 'CCER blocks of account % do not cover % of %', p_from,
            carbonmkt.format_quantity('CCER', p_quantity), carbonmkt.format_asset('CCER', p_vintage, p_project)
            USING ERRCODE = 'XX000', DETAIL = 'The holding and the serial blocks disagree; run carbonmkt.verify_ledger().';
    END IF;
END
$$;

-- The movement of CCER (serial blocks) behind carbonmkt._transfer().
CREATE FUNCTION bench_plpgsql._transfer_ccer(p_operation text, p_action text, p_from bigint, p_to bigint,
                                    p_instrument carbonmkt.instrument, p_vintage int, p_project text,
                                    p_quantity bigint, p_debit_kind carbonmkt.entry_kind,
                                    p_credit_kind carbonmkt.entry_kind, p_period int,
                                    p_reference text, p_memo text, p_exact carbonmkt.ccer DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS
$$
DECLARE
    b record;
BEGIN
    PERFORM bench_plpgsql._check_quantity(p_instrument, p_quantity);
    IF p_instrument <> 'CNY' THEN
        PERFORM carbonmkt.cea(p_vintage, 0);    -- vintage window check (22003)
    END IF;
    b := bench_plpgsql._begin_posting(p_operation, p_reference,
            format('%s(from=%s,to=%s,%s,quantity=%s,period=%s,block=%s,memo=%s)', p_operation, p_from, p_to,
                   carbonmkt.format_asset(p_instrument, p_vintage, p_project), p_quantity, p_period, p_exact, p_memo));
    IF b.replay THEN
        RETURN b.posting_id;
    END IF;
    IF p_from = p_to THEN
        RAISE EXCEPTION 'cannot move units from account % to itself', p_from USING ERRCODE = '22023';
    END IF;
    PERFORM carbonmkt._authorize(p_from, p_action);
    PERFORM bench_plpgsql._lock_accounts(ARRAY[p_from], ARRAY[p_to], p_instrument);
    PERFORM bench_plpgsql._require_available(p_from, p_instrument, p_vintage, p_project, p_quantity);
    PERFORM bench_plpgsql._move(b.posting_id, b.ts, b.bdate, p_from, p_to, p_instrument, p_vintage, p_project,
                            p_quantity, p_debit_kind, p_credit_kind, NULL, p_period, p_memo, p_exact);
    RETURN b.posting_id;
END
$$;

CREATE FUNCTION bench_plpgsql._issue(p_operation text, p_account bigint, p_instrument carbonmkt.instrument,
                                 p_vintage int, p_project text, p_quantity bigint, p_block carbonmkt.ccer,
                                 p_reference text, p_memo text)
RETURNS bigint LANGUAGE plpgsql AS
$$
DECLARE
    b       record;
    k       carbonmkt.account_kind;
    other   carbonmkt.ccer;
BEGIN
    PERFORM bench_plpgsql._check_quantity(p_instrument, p_quantity);
    IF p_instrument <> 'CNY' THEN
        PERFORM carbonmkt.cea(p_vintage, 0);
    END IF;
    b := bench_plpgsql._begin_posting(p_operation, p_reference,
            format('%s(account=%s,%s,quantity=%s,block=%s,memo=%s)', p_operation, p_account,
                   carbonmkt.format_asset(p_instrument, p_vintage, p_project), p_quantity, p_block, p_memo));
    IF b.replay THEN
        RETURN b.posting_id;
    END IF;
    PERFORM carbonmkt._authorize(p_account, CASE WHEN p_instrument = 'CNY' THEN 'cash' ELSE 'issue' END);
    PERFORM bench_plpgsql._lock_accounts('{}', ARRAY[p_account], p_instrument);
    SELECT kind INTO k FROM carbonmkt.account WHERE account_id = p_account;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.account_kind_instrument
                    WHERE kind = k AND instrument = p_instrument AND may_issue) THEN
        RAISE EXCEPTION 'account % (kind %) cannot receive issuance of %', p_account, k, p_instrument
            USING ERRCODE = 'CM006',
                  HINT = 'CEA is issued into the national reserve or a provincial allocation account, CCER into the national reserve, cash into cash accounts.';
    END IF;
    IF p_block IS NOT NULL THEN
        SELECT block INTO other FROM carbonmkt.ccer_block WHERE block OPERATOR(carbonmkt.&&) p_block LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'CCER block % overlaps serials already issued in block %', p_block, other
                USING ERRCODE = '23P01', DETAIL = 'No CCER serial may be issued twice.';
        END IF;
        INSERT INTO carbonmkt.ccer_block (block, account_id) VALUES (p_block, p_account);
        -- keep the account's blocks merged
        DELETE FROM carbonmkt.ccer_block WHERE block = p_block;
        PERFORM bench_plpgsql._place_block(p_account, p_block);
    END IF;
    PERFORM bench_plpgsql._leg(b.posting_id, b.ts, b.bdate, p_account, 'issue', p_instrument, p_vintage, p_project,
                           p_quantity, 0, NULL, NULL, NULL, p_block, p_memo);
    RETURN b.posting_id;
END
$$;

CREATE FUNCTION bench_plpgsql.withdraw_cny(account_id bigint, fen bigint, reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    b record;
BEGIN
    PERFORM bench_plpgsql._check_quantity('CNY', fen);
    b := bench_plpgsql._begin_posting('withdraw_cny', reference,
                                  format('withdraw_cny(account=%s,fen=%s,memo=%s)', account_id, fen, memo));
    IF b.replay THEN
        RETURN b.posting_id;
    END IF;
    PERFORM carbonmkt._authorize(account_id, 'cash');
    PERFORM bench_plpgsql._lock_accounts(ARRAY[account_id], '{}', 'CNY');
    PERFORM bench_plpgsql._require_available(account_id, 'CNY', 0, '', fen);
    PERFORM bench_plpgsql._leg(b.posting_id, b.ts, b.bdate, account_id, 'withdraw', 'CNY', 0, '', -fen, 0,
                           NULL, NULL, NULL, NULL, memo);
    RETURN b.posting_id;
END
$$;

-- the public functions that called them were SECURITY DEFINER with this search_path
ALTER FUNCTION bench_plpgsql._issue(text, bigint, carbonmkt.instrument, int, text, bigint, carbonmkt.ccer, text, text)
    SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
ALTER FUNCTION bench_plpgsql._transfer_ccer(text, text, bigint, bigint, carbonmkt.instrument, int, text, bigint,
                                            carbonmkt.entry_kind, carbonmkt.entry_kind, int, text, text, carbonmkt.ccer)
    SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
