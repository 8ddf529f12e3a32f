-- pgTAP invariants of the registry ledger after ~2,000 random postings (fixed seed).
-- Four units trade CEA of two vintages, CCER of two projects and cash: transfers,
-- holds, releases, fills from holds, surrenders, cancellations, CCER transfers by
-- quantity and by exact serial block.  Each posting runs in its own subtransaction;
-- refusals (CM004, CM008, CM010) are counted and rolled back.  Then every
-- invariant of doc/registry.md is checked.  Everything is rolled back at the end.
BEGIN;
SELECT plan(25);
SET LOCAL search_path = carbonmkt, public;
SET LOCAL carbonmkt.clock = '2024-07-16 10:00:00+08';
SELECT setseed(0.7);
-- the compliance rules of surrender are tested in test/pgtap/compliance.sql; here the ledger alone
ALTER TABLE carbonmkt.journal DISABLE TRIGGER compliance_surrender;

-- Four units, each with a holding and a cash account ------------------------------
CREATE TEMP TABLE units ON COMMIT DROP AS
SELECT n, p AS participant_id, open_account(p, 'holding') AS holding_id, open_account(p, 'cash') AS cash_id
  FROM (SELECT n, register_participant('TAP random unit ' || n, 'institution',
                                       '9144030000TAP000' || n || credit_code_check_char('9144030000TAP000' || n)) AS p
          FROM generate_series(1, 4) n) s;
CREATE TEMP TABLE outcomes (i int, op text, outcome text) ON COMMIT DROP;
-- what was issued, per asset: the ledger must always add up to it
CREATE TEMP TABLE issued (instrument instrument, vintage int, project text, quantity bigint) ON COMMIT DROP;
INSERT INTO issued VALUES ('CEA', 2024, '', 400000), ('CEA', 2025, '', 200000),
                          ('CCER', 2024, 'GD-OW-0042', 40000), ('CCER', 2023, 'FJ-FR-0007', 20000),
                          ('CNY', 0, '', 40000000);

DO $$
BEGIN
    PERFORM issue_cea(1, 2024, 400000), issue_cea(1, 2025, 200000),
            issue_ccer(1, 'CCER:GD-OW-0042:2024:1-40000'), issue_ccer(1, 'CCER:FJ-FR-0007:2023:1-20000');
    PERFORM transfer_cea(1, holding_id, 2024, 100000), transfer_cea(1, holding_id, 2025, 50000),
            transfer_ccer(1, holding_id, 'GD-OW-0042', 2024, 10000), transfer_ccer(1, holding_id, 'FJ-FR-0007', 2023, 5000),
            deposit_cny(cash_id, 10000000)
       FROM units ORDER BY n;
END
$$;

SELECT is((SELECT count(*) FROM account_balance a JOIN units u ON a.account_id IN (u.holding_id, u.cash_id)),
          20::bigint, 'four units hold CEA 2024, CEA 2025, two CCER projects and cash');

-- ~2,000 random postings ---------------------------------------------------------
DO $$
DECLARE
    h        bigint[] := ARRAY(SELECT holding_id FROM units ORDER BY n);
    c        bigint[] := ARRAY(SELECT cash_id FROM units ORDER BY n);
    projects text[] := ARRAY['GD-OW-0042', 'FJ-FR-0007'];
    pv       int[] := ARRAY[2024, 2023];
    op       text;
    a        int;
    b        int;
    p        int;
    k        int;
    x        carbonmkt.hold;
    blk      carbonmkt.ccer;
    lo       bigint;
    hi       bigint;
BEGIN
    FOR i IN 1..2000 LOOP
        a := 1 + floor(random() * 4)::int;
        b := 1 + (a + floor(random() * 3)::int) % 4;        -- another unit
        p := 1 + floor(random() * 2)::int;
        k := floor(random() * 100)::int;
        op := NULL;
        BEGIN
            IF k < 18 THEN
                op := 'transfer_cea';
                PERFORM carbonmkt.transfer_cea(h[a], h[b], 2024 + floor(random() * 2)::int, 1 + floor(random() * 8000)::bigint);
            ELSIF k < 30 THEN
                op := 'hold';
                IF random() < 0.6 THEN
                    PERFORM carbonmkt.hold(h[a], 'CEA', 1 + floor(random() * 8000)::bigint,
                                           (CASE WHEN random() < 0.8 THEN 'order' ELSE 'pledge' END)::carbonmkt.hold_reason,
                                           2024 + floor(random() * 2)::int);
                ELSIF random() < 0.5 THEN
                    PERFORM carbonmkt.hold(h[a], 'CCER', 1 + floor(random() * 2000)::bigint, 'order', pv[p], projects[p]);
                ELSE
                    PERFORM carbonmkt.hold(c[a], 'CNY', 1 + floor(random() * 2000000)::bigint, 'order');
                END IF;
            ELSIF k < 40 THEN
                op := 'release_hold';
                -- mostly an active hold; sometimes any hold, which may have ended already (CM008)
                SELECT * INTO x FROM carbonmkt.hold y
                 WHERE y.account_id = ANY (h || c) AND (y.status = 'active' OR random() < 0.1)
                 ORDER BY random() LIMIT 1;
                CONTINUE WHEN NOT FOUND;
                PERFORM carbonmkt.release_hold(x.hold_id);
            ELSIF k < 54 THEN
                op := 'transfer_from_hold';
                SELECT * INTO x FROM carbonmkt.hold y
                 WHERE y.account_id = ANY (h || c) AND (y.status = 'active' OR random() < 0.1)
                 ORDER BY random() LIMIT 1;
                CONTINUE WHEN NOT FOUND;
                a := coalesce(array_position(h, x.account_id), array_position(c, x.account_id));
                b := 1 + (a + floor(random() * 3)::int) % 4;
                PERFORM carbonmkt.transfer_from_hold(x.hold_id, CASE WHEN x.instrument = 'CNY' THEN c[b] ELSE h[b] END,
                                                     CASE WHEN random() < 0.4 THEN greatest(x.remaining, 1)
                                                          ELSE 1 + floor(random() * x.remaining * 1.2)::bigint END);
            ELSIF k < 61 THEN
                op := 'surrender_cea';
                PERFORM carbonmkt.surrender_cea(h[a], 2024 + floor(random() * 2)::int, 1 + floor(random() * 3000)::bigint, 2024);
            ELSIF k < 73 THEN
                op := 'transfer_ccer';
                PERFORM carbonmkt.transfer_ccer(h[a], h[b], projects[p], pv[p], 1 + floor(random() * 1500)::bigint);
            ELSIF k < 82 THEN
                op := 'transfer_ccer_block';
                -- a piece of one of the sender's blocks; sometimes running past its end (CM010)
                SELECT y.block INTO blk FROM carbonmkt.ccer_block y WHERE y.account_id = h[a]
                 ORDER BY carbonmkt.first_serial(y.block) LIMIT 1
                OFFSET floor(random() * (SELECT count(*) FROM carbonmkt.ccer_block z WHERE z.account_id = h[a]))::int;
                CONTINUE WHEN NOT FOUND;
                lo := carbonmkt.first_serial(blk) + floor(random() * carbonmkt.tonnes(blk))::bigint;
                hi := lo + floor(random() * least(carbonmkt.last_serial(blk) - lo + 1, 1000))::bigint
                         + CASE WHEN random() < 0.2 THEN 1 + floor(random() * 50)::bigint ELSE 0 END;
                PERFORM carbonmkt.transfer_ccer_block(h[a], h[b],
                            carbonmkt.ccer(carbonmkt.project(blk), carbonmkt.vintage(blk), lo, hi));
            ELSIF k < 87 THEN
                op := 'surrender_ccer';
                PERFORM carbonmkt.surrender_ccer(h[a], projects[p], pv[p], 1 + floor(random() * 400)::bigint, 2024);
            ELSIF k < 95 THEN
                op := 'transfer_cny';
                PERFORM carbonmkt.transfer_cny(c[a], c[b], 1 + floor(random() * 3000000)::bigint);
            ELSIF k < 98 THEN
                op := 'retire_cea';
                PERFORM carbonmkt.retire_cea(h[a], 2024 + floor(random() * 2)::int, 1 + floor(random() * 1000)::bigint);
            ELSE
                op := 'retire_ccer';
                PERFORM carbonmkt.retire_ccer(h[a], projects[p], pv[p], 1 + floor(random() * 200)::bigint);
            END IF;
            INSERT INTO outcomes VALUES (i, op, 'ok');
        EXCEPTION WHEN others THEN
            INSERT INTO outcomes VALUES (i, op, SQLSTATE);
        END;
    END LOOP;
END
$$;

-- The run exercised both the postings and their guards ------------------------------
SELECT cmp_ok((SELECT count(*) FROM outcomes), '>=', 1900::bigint, 'about 2,000 random postings were attempted');
SELECT cmp_ok((SELECT count(*) FROM outcomes WHERE outcome = 'ok'), '>', 1000::bigint, 'most of them were posted');
SELECT cmp_ok((SELECT count(*) FROM outcomes WHERE outcome <> 'ok'), '>', 50::bigint, 'many were refused');
SELECT is((SELECT count(DISTINCT op) FROM outcomes WHERE outcome = 'ok'), 11::bigint,
          'every kind of posting succeeded at least once');
SELECT ok(EXISTS (SELECT 1 FROM outcomes WHERE outcome = 'CM004'), 'insufficient available quantity was refused (CM004)');
SELECT ok(EXISTS (SELECT 1 FROM outcomes WHERE op = 'release_hold' AND outcome = 'CM008'),
          'ending a hold twice was refused (CM008)');
SELECT ok(EXISTS (SELECT 1 FROM outcomes WHERE op = 'transfer_from_hold' AND outcome = 'CM004'),
          'spending more than a hold''s remainder was refused (CM004)');
SELECT ok(EXISTS (SELECT 1 FROM outcomes WHERE op = 'transfer_ccer_block' AND outcome = 'CM010'),
          'moving serials the sender does not hold was refused (CM010)');
SELECT is_empty($$SELECT DISTINCT outcome FROM outcomes WHERE outcome NOT IN ('ok', 'CM004', 'CM008', 'CM010')$$,
                'no posting failed in any other way');

-- The ledger ------------------------------------------------------------------------
SELECT is_empty('SELECT * FROM carbonmkt.verify_ledger()', 'verify_ledger() finds no problem');
SELECT set_eq($$SELECT h.instrument, h.vintage, h.project, sum(h.balance)::bigint
                  FROM carbonmkt.holding h GROUP BY 1, 2, 3$$,
              $$SELECT instrument, vintage, project, quantity FROM issued$$,
              'per asset, holdings plus retired units (the cancellation account) = issued - withdrawn');
SELECT is_empty($$SELECT j.instrument, j.vintage, j.project
                    FROM carbonmkt.journal j JOIN carbonmkt.account a USING (account_id)
                   GROUP BY 1, 2, 3
                  HAVING coalesce(sum(j.amount) FILTER (WHERE j.kind = 'issue'), 0)
                         + coalesce(sum(j.amount) FILTER (WHERE j.kind = 'withdraw'), 0)
                         <> coalesce(sum(j.amount) FILTER (WHERE a.kind <> 'cancellation'), 0)
                            + coalesce(sum(j.amount) FILTER (WHERE j.kind = 'retire'), 0)$$,
                'per asset in the journal, issued - withdrawn = holdings outside cancellation + retired');
SELECT is_empty($$SELECT 1 FROM carbonmkt.journal j JOIN carbonmkt.account a USING (account_id)
                   WHERE a.kind = 'cancellation' AND j.amount < 0$$,
                'nothing ever left the cancellation account');
SELECT is_empty($$SELECT posting_id FROM carbonmkt.journal GROUP BY posting_id, instrument, vintage, project
                  HAVING sum(amount) <> 0 AND bool_and(kind NOT IN ('issue', 'withdraw'))$$,
                'every posting that moves units nets to zero per asset');
SELECT is_empty('SELECT * FROM carbonmkt.holding WHERE balance < 0 OR balance - held < 0',
                'no negative balance or available quantity');
SELECT is_empty('SELECT * FROM carbonmkt.holding WHERE held < 0 OR held > balance', 'held is between 0 and the balance');
SELECT is_empty($$SELECT h.account_id FROM carbonmkt.holding h
                    LEFT JOIN (SELECT account_id, instrument, vintage, project, sum(remaining) AS r
                                 FROM carbonmkt.hold WHERE status = 'active' GROUP BY 1, 2, 3, 4) x
                           USING (account_id, instrument, vintage, project)
                   WHERE h.held <> coalesce(x.r, 0)$$,
                'held = what the active holds still freeze');
SELECT is_empty($$SELECT hold_id FROM carbonmkt.hold
                   WHERE remaining > quantity OR (status = 'consumed') <> (remaining = 0)
                      OR (status = 'active') <> (ended_posting IS NULL)$$,
                'holds: consumed exactly when nothing remains, ended exactly once');
SELECT cmp_ok((SELECT count(DISTINCT status) FROM carbonmkt.hold), '=', 3::bigint,
              'holds ended up active, released and consumed');

-- CCER serial blocks --------------------------------------------------------------------
SELECT is_empty($$SELECT x.block, y.block FROM carbonmkt.ccer_block x JOIN carbonmkt.ccer_block y
                      ON x.ctid < y.ctid AND x.block OPERATOR(carbonmkt.&&) y.block$$,
                'no two CCER blocks share a serial');
SELECT is_empty($$SELECT * FROM (SELECT account_id, project, vintage, balance FROM carbonmkt.holding
                                  WHERE instrument = 'CCER' AND balance > 0) h
                  FULL JOIN (SELECT account_id, carbonmkt.project(block) AS project, carbonmkt.vintage(block) AS vintage,
                                    sum(carbonmkt.tonnes(block)) AS tonnes
                               FROM carbonmkt.ccer_block GROUP BY 1, 2, 3) b USING (account_id, project, vintage)
                   WHERE h.balance IS DISTINCT FROM b.tonnes::bigint$$,
                'every account''s CCER blocks cover exactly its CCER holding');
SELECT set_eq($$SELECT carbonmkt.project(block), carbonmkt.vintage(block), sum(carbonmkt.tonnes(block))::bigint,
                       min(carbonmkt.first_serial(block)), max(carbonmkt.last_serial(block))
                  FROM carbonmkt.ccer_block GROUP BY 1, 2$$,
              $$VALUES ('GD-OW-0042', 2024, 40000::bigint, 1::bigint, 40000::bigint),
                       ('FJ-FR-0007', 2023, 20000::bigint, 1::bigint, 20000::bigint)$$,
              'the blocks still hold every issued serial exactly once');
SELECT is_empty($$SELECT x.block, y.block FROM carbonmkt.ccer_block x JOIN carbonmkt.ccer_block y
                      ON x.account_id = y.account_id AND x.ctid <> y.ctid
                     AND carbonmkt.project(x.block) = carbonmkt.project(y.block)
                     AND carbonmkt.vintage(x.block) = carbonmkt.vintage(y.block)
                     AND carbonmkt.last_serial(x.block) + 1 = carbonmkt.first_serial(y.block)$$,
                'adjacent blocks in one account are kept merged');
SELECT cmp_ok((SELECT count(*) FROM carbonmkt.ccer_block), '>', 20::bigint, 'the random run split the blocks up');

SELECT * FROM finish();
ROLLBACK;
