-- pgTAP invariants of the ledger after ~600 random next-phase postings (fixed seed):
-- voluntary retirements of CEA and CCER, pledges proposed, accepted, registered,
-- discharged or enforced (by transfer or by sale to an offer), repos confirmed and settled
-- at their date (or retried / closed out), mixed with plain transfers that compete for the
-- same units.  Each operation runs in its own subtransaction; refusals are counted and
-- rolled back.  Then: conservation per asset, no negative or over-held holding, every hold
-- ended exactly once, every pledge and repo consistent with its holds and legs, every
-- retirement certificate valid, verify_ledger() empty.  Everything is rolled back.
BEGIN;
SELECT plan(14);
SET LOCAL search_path = carbonmkt, public;
SELECT setseed(0.27);

-- The repo rule: none is shipped (no source gives one, doc/rules.md); the national authority sets
-- the demo's (retry 2 trading days, then close out; terms up to 365 days) from 2027-03-01
SET LOCAL carbonmkt.clock = '2027-02-26 10:00:00+08';
SELECT set_rule('repo_rule', '{"jurisdiction": "CN", "valid_from": "2027-03-01", "on_failure": "retry_then_close_out",
                 "grace_days": 2, "max_term_days": 365, "illustrative": true}', 'pgTAP fixture: the demo''s repo rule',
                acting_for => register_participant('TAP finance MEE', 'national_authority',
                                                   '11100000MB0TAF001' || credit_code_check_char('11100000MB0TAF001'))) AS repo_rule \gset
SET LOCAL carbonmkt.clock = '2027-03-01 10:00:00+08';

-- Four units and two banks, each with a holding and a cash account --------------------
CREATE TEMP TABLE units ON COMMIT DROP AS
SELECT n, p AS participant_id, open_account(p, 'holding') AS holding_id, open_account(p, 'cash') AS cash_id
  FROM (SELECT n, register_participant('TAP finance ' || n, 'institution',
                                       '9144030000TAF000' || n || credit_code_check_char('9144030000TAF000' || n)) AS p
          FROM generate_series(1, 6) n) s;
CREATE TEMP TABLE outcomes (i int, op text, outcome text) ON COMMIT DROP;
CREATE TEMP TABLE issued (instrument instrument, vintage int, project text, quantity bigint) ON COMMIT DROP;
INSERT INTO issued VALUES ('CEA', 2027, '', 240000), ('CCER', 2026, 'GD-OW-0042', 24000), ('CNY', 0, '', 600000000);
DO $$
BEGIN
    PERFORM issue_cea(1, 2027, 240000), issue_ccer(1, 'CCER:GD-OW-0042:2026:1-24000');
    PERFORM transfer_cea(1, holding_id, 2027, 40000), transfer_ccer(1, holding_id, 'GD-OW-0042', 2026, 4000),
            deposit_cny(cash_id, 100000000)
       FROM units ORDER BY n;
END
$$;

-- ~600 random operations over 120 business days (an operation on an existing pledge, offer or
-- repo is skipped when there is none to pick) ----------------------------------------
DO $$
DECLARE
    h    bigint[] := ARRAY(SELECT holding_id FROM units ORDER BY n);
    c    bigint[] := ARRAY(SELECT cash_id FROM units ORDER BY n);
    p    bigint[] := ARRAY(SELECT participant_id FROM units ORDER BY n);
    op   text;
    a    int;
    b    int;
    id   bigint;
    d    date := date '2027-03-01';
BEGIN
    FOR i IN 1..600 LOOP
        IF i % 5 = 0 THEN
            d := d + 1;
            PERFORM set_config('carbonmkt.clock', (d + time '10:00')::text || '+08', true);
        END IF;
        a := 1 + floor(random() * 6)::int;
        b := 1 + (a + floor(random() * 5)::int) % 6;
        op := (ARRAY['transfer', 'retire_cea', 'retire_ccer', 'pledge', 'accept', 'register', 'discharge',
                     'enforce_transfer', 'offer', 'enforce_sale', 'repo', 'confirm', 'settle_repos'])[1 + floor(random() * 13)::int];
        BEGIN
            -- operations on an existing pledge, offer or repo pick one at random; none: skipped
            id := NULL;
            CASE op
            WHEN 'transfer' THEN
                PERFORM transfer_cea(h[a], h[b], 2027, 1 + floor(random() * 5000)::bigint);
            WHEN 'retire_cea' THEN
                PERFORM retire_voluntarily(h[a], 'CEA', 2027, NULL, 1 + floor(random() * 500)::bigint, 'beneficiary ' || i,
                                           'event', 'purpose ' || i, 2026);
            WHEN 'retire_ccer' THEN
                PERFORM retire_voluntarily(h[a], 'CCER', 2026, 'GD-OW-0042', 1 + floor(random() * 300)::bigint,
                                           'beneficiary ' || i, 'product', 'purpose ' || i);
            WHEN 'pledge' THEN
                PERFORM propose_pledge(p[b], 2027, 1 + floor(random() * 8000)::bigint, 1000000, d + 1 + floor(random() * 20)::int, p[a]);
            WHEN 'accept' THEN
                SELECT g.pledge_id, g.pledgee_id INTO id, b FROM pledge g WHERE g.status = 'proposed' ORDER BY random() LIMIT 1;
                CONTINUE WHEN id IS NULL;
                PERFORM accept_pledge(id, b);
            WHEN 'register' THEN
                SELECT g.pledge_id INTO id FROM pledge g WHERE g.status = 'accepted' ORDER BY random() LIMIT 1;
                CONTINUE WHEN id IS NULL;
                PERFORM register_pledge(id);
            WHEN 'discharge' THEN
                SELECT g.pledge_id INTO id FROM pledge g WHERE g.status = 'registered' ORDER BY random() LIMIT 1;
                CONTINUE WHEN id IS NULL;
                PERFORM discharge_pledge(id);
            WHEN 'enforce_transfer' THEN
                SELECT g.pledge_id INTO id FROM pledge g WHERE g.status = 'registered' ORDER BY random() LIMIT 1;
                CONTINUE WHEN id IS NULL;
                PERFORM enforce_pledge(id, 'transfer');
            WHEN 'offer' THEN
                SELECT g.pledge_id INTO id FROM pledge g
                 WHERE g.status = 'registered' AND p[a] NOT IN (g.pledgor_id, g.pledgee_id) ORDER BY random() LIMIT 1;
                CONTINUE WHEN id IS NULL;
                PERFORM offer_for_pledge(id, 40 + floor(random() * 60)::numeric, NULL, p[a]);
            WHEN 'enforce_sale' THEN
                SELECT o.pledge_id, o.offer_id INTO id, b FROM pledge_offer o WHERE o.status = 'open' ORDER BY random() LIMIT 1;
                CONTINUE WHEN id IS NULL;
                PERFORM enforce_pledge(id, 'sale', b);
            WHEN 'repo' THEN
                PERFORM propose_repo(p[b], 2027, 1 + floor(random() * 5000)::bigint, 60 + floor(random() * 20)::numeric,
                                     80 + floor(random() * 10)::numeric, d + 1 + floor(random() * 15)::int, NULL, p[a]);
            WHEN 'confirm' THEN
                SELECT r.repo_id, r.buyer_id INTO id, b FROM repo r
                 WHERE r.status = 'proposed' AND r.start_date = d ORDER BY random() LIMIT 1;
                CONTINUE WHEN id IS NULL;
                PERFORM confirm_repo(id, b);
            WHEN 'settle_repos' THEN
                PERFORM settle_repos();
            END CASE;
            INSERT INTO outcomes VALUES (i, op, 'ok');
        EXCEPTION WHEN others THEN
            INSERT INTO outcomes VALUES (i, op, SQLSTATE);
        END;
    END LOOP;
    -- the last repos come due
    PERFORM set_config('carbonmkt.clock', ((d + 40) + time '16:00')::text || '+08', true);
    PERFORM settle_repos();
    PERFORM set_config('carbonmkt.clock', ((d + 45) + time '16:00')::text || '+08', true);
    PERFORM settle_repos();
END
$$;

SELECT cmp_ok((SELECT count(*) FROM outcomes WHERE outcome = 'ok'), '>', 300::bigint, 'most operations went through');
SELECT ok((SELECT count(DISTINCT op) FROM outcomes WHERE outcome = 'ok') = 13, 'every kind of operation succeeded at least once');
SELECT is_empty($$SELECT DISTINCT outcome FROM outcomes
                   WHERE outcome NOT IN ('ok', 'CM004', 'CM703', 'CM704', 'CM701')$$,
                'refusals are the API''s own: insufficient (CM004), pledge state (CM703), repo (CM704), argument (CM701)');
SELECT ok((SELECT count(*) FROM pledge WHERE status = 'enforced' AND enforcement = 'sale') > 0
          AND (SELECT count(*) FROM pledge WHERE status = 'enforced' AND enforcement = 'transfer') > 0
          AND (SELECT count(*) FROM repo WHERE status = 'closed') > 0,
          'pledges were enforced both ways and repos repurchased');

SELECT is_empty('SELECT * FROM carbonmkt.verify_ledger()', 'verify_ledger() finds no problem');
-- conservation: what was issued is what the accounts hold, the cancellation account included
SELECT is_empty($$SELECT i.instrument, i.vintage, i.project, i.quantity, s.total
                    FROM issued i
                    LEFT JOIN (SELECT instrument, vintage, project, sum(balance) AS total FROM carbonmkt.holding
                                GROUP BY 1, 2, 3) s USING (instrument, vintage, project)
                   WHERE s.total IS DISTINCT FROM i.quantity$$, 'issued = sum of all holdings, per asset');
SELECT is_empty('SELECT * FROM carbonmkt.holding WHERE balance < 0 OR held < 0 OR held > balance',
                'no holding is negative or over-held');
SELECT is_empty($$SELECT h.account_id FROM carbonmkt.holding h
                   LEFT JOIN (SELECT account_id, instrument, vintage, project, sum(remaining) AS r FROM carbonmkt.hold
                               WHERE status = 'active' GROUP BY 1, 2, 3, 4) x USING (account_id, instrument, vintage, project)
                   WHERE h.held <> coalesce(x.r, 0)$$, 'held = the remainders of the active holds');
-- pledges: a registered pledge's hold is active and whole; an ended pledge's hold ended
SELECT is_empty($$SELECT g.pledge_id FROM pledge g JOIN hold h USING (hold_id)
                   WHERE (g.status = 'registered') <> (h.status = 'active')
                      OR (g.status = 'registered' AND h.remaining <> g.tonnes)
                      OR (g.status = 'discharged' AND h.status <> 'released')
                      OR (g.status = 'enforced' AND h.status <> 'consumed')$$,
                'each pledge''s hold is active while registered, released when discharged, consumed when enforced');
SELECT is_empty($$SELECT o.offer_id FROM pledge_offer o JOIN hold h USING (hold_id)
                   WHERE (o.status = 'open') <> (h.status = 'active')$$,
                'an offer''s cash is frozen exactly while the offer is open');
-- repos: open ones have leg 1 only, closed ones both legs, closed-out ones leg 1 and a failure
SELECT is_empty($$SELECT r.repo_id FROM repo r
                   WHERE (SELECT count(*) FROM repo_leg l WHERE l.repo_id = r.repo_id)
                         <> CASE r.status WHEN 'proposed' THEN 0 WHEN 'open' THEN 1 WHEN 'closed' THEN 2
                                          WHEN 'closed_out' THEN 1 ELSE -1 END
                      OR (r.status = 'closed_out' AND r.failure IS NULL)$$,
                'each repo has the legs its state says, a closed-out one its failure');
SELECT is((SELECT count(*) FROM trade), 0::bigint, 'repo legs and pledge sales are not market trades');
-- retirements: every certificate verifies and names its cancellation entry
SELECT is_empty($$SELECT r.certificate FROM voluntary_retirement r
                   WHERE NOT (SELECT v.valid FROM verify_certificate(r.certificate) v)$$,
                'every retirement certificate is valid');
SELECT is((SELECT sum(tonnes) FROM voluntary_retirement),
          (SELECT -sum(amount) FROM journal WHERE kind = 'cancel'), 'retired tonnes = the cancel entries');
SELECT * FROM finish();
ROLLBACK;
