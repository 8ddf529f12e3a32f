-- pgTAP invariants of compliance after ~1,500 random operations (fixed seed): 40 units
-- in Guangdong, Hubei and Fujian surrender CEA of three vintages and CCER of five
-- projects (eligible or not, local or not), borrow, trade and cancel, for the national
-- period 2024 and a Guangdong pilot period (>= 70% local CCER); each operation in its own
-- subtransaction, refusals counted and rolled back.  Then the invariants: no offset cap
-- ever exceeded, nothing surrendered beyond an obligation, local shares kept, borrowing
-- within its limits, every running total equal to the journal, the ledger intact; then
-- the period is closed and the sanctions checked against the rule.  Rolled back at the end.
BEGIN;
SELECT plan(34);
SET LOCAL search_path = carbonmkt, public;
SET LOCAL carbonmkt.clock = '2025-06-02 10:00:00+08';
SELECT setseed(0.42);

-- Authorities, units, allocation --------------------------------------------------------
CREATE TEMP TABLE unit (n int, participant_id bigint, account_id bigint, province char(6)) ON COMMIT DROP;
DO $$
DECLARE
    prov   char(6)[] := ARRAY['440000', '420000', '350000'];
    p      bigint;
    pv     char(6);
BEGIN
    FOR i IN 1..3 LOOP
        p := register_participant('TAP authority ' || i, 'provincial_authority',
                                  '11' || prov[i] || 'MB000000' || i || credit_code_check_char('11' || prov[i] || 'MB000000' || i), prov[i]);
        PERFORM open_account(p, 'allocation');
        PERFORM issue_cea(a.account_id, v, 50000000) FROM account a, generate_series(2023, 2025) v
          WHERE a.kind = 'allocation' AND a.province = prov[i];
    END LOOP;
    FOR i IN 1..40 LOOP
        pv := prov[1 + i % 3];
        p := register_participant('TAP unit ' || i, 'key_emitter',
                                  '91' || pv || 'TAP' || lpad(i::text, 6, '0') || credit_code_check_char('91' || pv || 'TAP' || lpad(i::text, 6, '0')),
                                  pv, substr(pv, 1, 2) || '0100', CASE WHEN i % 4 = 0 THEN 'cement' ELSE 'power' END);
        INSERT INTO unit VALUES (i, p, open_account(p, 'holding'), pv);
    END LOOP;
    -- allocation 70%-110% of emissions; 2023 vintage banked; some 2025 already: transferred by
    -- the provinces and adopted by the allocation room as pre-allocations
    PERFORM adopt_preallocation(2024, ARRAY(
                SELECT transfer_cea(a.account_id, u.account_id, 2024, (e.t * (70 + (u.n * 7) % 41) / 100)::bigint)
                  FROM unit u JOIN account a ON a.kind = 'allocation' AND a.province = u.province
                 CROSS JOIN LATERAL (SELECT 100000 + (u.n * 7919) % 400000 AS t) e ORDER BY u.n));
    PERFORM adopt_preallocation(v, ARRAY(
                SELECT transfer_cea(a.account_id, u.account_id, v, CASE v WHEN 2023 THEN 20000 ELSE 5000 END)
                  FROM unit u JOIN account a ON a.kind = 'allocation' AND a.province = u.province ORDER BY u.n))
       FROM unnest(ARRAY[2023, 2025]) v;
    -- the 2024 pre-allocations made final (fixture: an allocation run, final = pre-allocation):
    -- the relief applies to the final allocation, without it the power units stay pending
    INSERT INTO allocation_run (kind, jurisdiction, year, initiator, started_at, business_date, inputs_digest, rules, rules_digest)
    VALUES ('final', 'CN', 2024, 'postgres', '2025-06-02 10:00+08', '2025-06-02', '\x00', '{}', '\x00') RETURNING run_id INTO p;
    INSERT INTO allocation (participant_id, year, stage, computed_t, tonnes, basis, run_id)
    SELECT x.participant_id, x.year, 'final', x.tonnes, x.tonnes, 'fixture: final = pre-allocation', p
      FROM allocation x WHERE x.year = 2024 AND x.stage = 'preallocation';
    INSERT INTO confirmed_emission (participant_id, year, emissions_t, basis, confirmed_at)
    SELECT u.participant_id, y, 100000 + (u.n * 7919) % 400000, 'verified', '2025-05-30'
      FROM unit u, generate_series(2023, 2024) y WHERE u.n % 13 <> 0;     -- three units never confirmed
    PERFORM register_ccer_project('GD-OW-1', 'GD offshore wind', 'offshore_wind', '440000'),
            register_ccer_project('GD-MG-2', 'GD mangrove', 'mangrove', '440000'),
            register_ccer_project('FJ-FR-3', 'FJ afforestation', 'afforestation', '350000'),
            register_ccer_project('HB-HY-4', 'HB hydro', 'hydro', '420000'),
            register_ccer_project('GD-CH-5', 'methane at a covered unit', 'methane_recovery', '440000',
                                  (SELECT participant_id FROM unit WHERE n = 3));
    PERFORM issue_ccer(1, format('CCER:%s:2024:1-3000000', x.prj)::ccer) FROM unnest(ARRAY['GD-OW-1', 'GD-MG-2', 'FJ-FR-3', 'HB-HY-4', 'GD-CH-5']) x(prj);
    PERFORM transfer_ccer(1, u.account_id, x.prj, 2024, 40000)
       FROM unit u, unnest(ARRAY['GD-OW-1', 'GD-MG-2', 'FJ-FR-3', 'HB-HY-4', 'GD-CH-5']) x(prj);
    -- the relief of the sources ends with 2022 (RULES.md 6): 2024 gets relief by a rule of its own
    PERFORM set_rule('relief_rule', '{"jurisdiction": "CN", "from_year": 2024, "until_year": 2024, "sectors": ["power"],
                                      "gap_cap_share": 0.20, "gas_cap": true, "borrowing_min_gap_share": 0.10,
                                      "borrowing_max_share": 0.50}', 'pgTAP: a 2024 relief rule',
                     acting_for => register_participant('TAP MEE', 'national_authority',
                                                        '11100000MB0134256' || credit_code_check_char('11100000MB0134256')));
    PERFORM open_period(2024, 'national 2024', 2024, 2024, '2025-12-31');
    PERFORM open_period(442023, 'Guangdong pilot 2023', 2023, 2023, '2025-12-31', '440000');
    PERFORM flag_hardship(u.participant_id, 2024, 'TAP hardship') FROM unit u WHERE u.n % 5 = 0;
END
$$;
SELECT is((SELECT count(*) FROM obligation_status WHERE period = 2024), 40::bigint, '40 units are covered by period 2024');

-- ~1,500 random operations -----------------------------------------------------------------
CREATE TEMP TABLE outcomes (i int, op text, outcome text) ON COMMIT DROP;
DO $$
DECLARE
    acc      bigint[] := ARRAY(SELECT account_id FROM unit ORDER BY n);
    projects text[] := ARRAY['GD-OW-1', 'GD-MG-2', 'FJ-FR-3', 'HB-HY-4', 'GD-CH-5'];
    periods  int[] := ARRAY[2024, 2024, 2024, 442023];
    a        int;
    b        int;
    k        int;
    op       text;
BEGIN
    FOR i IN 1..1500 LOOP
        a := 1 + floor(random() * 40)::int;
        b := 1 + (a + floor(random() * 39)::int) % 40;
        k := floor(random() * 100)::int;
        op := NULL;
        BEGIN
            IF k < 35 THEN
                op := 'surrender_cea';
                PERFORM surrender_cea(acc[a], 2023 + floor(random() * 3)::int, 1 + floor(random() * 200000)::bigint,
                                      periods[1 + floor(random() * 4)::int]);
            ELSIF k < 70 THEN
                op := 'surrender_ccer';
                PERFORM surrender_ccer(acc[a], projects[1 + floor(random() * 5)::int], 2024, 1 + floor(random() * 8000)::bigint,
                                       periods[1 + floor(random() * 4)::int]);
            ELSIF k < 80 THEN
                op := 'borrow';
                PERFORM borrow_cea(acc[a], 1 + floor(random() * 40000)::bigint, 2024);
            ELSIF k < 95 THEN
                op := 'transfer_cea';
                PERFORM transfer_cea(acc[a], acc[b], 2024, 1 + floor(random() * 20000)::bigint);
            ELSE
                op := 'retire_cea';
                PERFORM retire_cea(acc[a], 2023, 1 + floor(random() * 2000)::bigint);
            END IF;
            INSERT INTO outcomes VALUES (i, op, 'ok');
        EXCEPTION WHEN others THEN
            INSERT INTO outcomes VALUES (i, op, SQLSTATE);
        END;
    END LOOP;
END
$$;

SELECT cmp_ok((SELECT count(*) FROM outcomes WHERE outcome = 'ok'), '>', 400::bigint, 'hundreds of operations went through');
SELECT is((SELECT count(DISTINCT op) FROM outcomes WHERE outcome = 'ok'), 5::bigint, 'every kind of operation succeeded at least once');
SELECT ok(EXISTS (SELECT 1 FROM outcomes WHERE outcome = 'CM407'), 'the offset cap refused surrenders (CM407)');
SELECT ok(EXISTS (SELECT 1 FROM outcomes WHERE outcome = 'CM406'), 'ineligible CCER was refused (CM406)');
SELECT ok(EXISTS (SELECT 1 FROM outcomes WHERE outcome = 'CM405'), 'later vintages beyond borrowing were refused (CM405)');
SELECT ok(EXISTS (SELECT 1 FROM outcomes WHERE outcome = 'CM408'), 'the local-share minimum refused surrenders (CM408)');
SELECT ok(EXISTS (SELECT 1 FROM outcomes WHERE outcome = 'CM409'), 'surrenders beyond the obligation were refused (CM409)');
SELECT ok(EXISTS (SELECT 1 FROM outcomes WHERE outcome = 'CM410'), 'ineligible borrowing was refused (CM410)');
SELECT is_empty($$SELECT DISTINCT outcome FROM outcomes
                   WHERE outcome NOT IN ('ok', 'CM004', 'CM403', 'CM404', 'CM405', 'CM406', 'CM407', 'CM408', 'CM409', 'CM410')$$,
                'nothing failed in any other way');

-- The invariants ------------------------------------------------------------------------------
SELECT is_empty($$SELECT participant_id, period FROM obligation_status WHERE surrendered_ccer_t > offset_cap_t$$,
                'no unit''s CCER ever exceeds its offset cap');
SELECT is_empty($$SELECT participant_id, period FROM obligation_status
                   WHERE obligation_t IS NOT NULL AND surrendered_t > obligation_t$$,
                'no unit surrendered more than its obligation: remaining never negative');
SELECT is_empty($$SELECT participant_id FROM obligation
                   WHERE period = 442023 AND ccer_local_t < ceil(0.70 * surrendered_ccer_t)$$,
                'Guangdong pilot: at least 70% of each unit''s CCER is local');
SELECT is_empty($$SELECT o.participant_id FROM obligation o
                   JOIN (SELECT participant_id, period, sum(tonnes) AS t FROM borrowing GROUP BY 1, 2) b USING (participant_id, period)
                   JOIN (SELECT participant_id, obligation_t, allocation_t, emissions_t FROM obligation_status WHERE period = 2024) s
                        USING (participant_id)
                   WHERE b.t > floor(0.50 * (s.obligation_t - s.allocation_t))
                      OR s.obligation_t - s.allocation_t < ceil(0.10 * s.emissions_t)
                      OR NOT EXISTS (SELECT 1 FROM hardship h WHERE h.participant_id = o.participant_id AND h.period = o.period)$$,
                'borrowing only by flagged units with a gap >= 10%, at most 50% of the gap');
SELECT set_eq($$SELECT participant_id, year, tonnes FROM allocation_adjustment WHERE reason = 'borrowing'$$,
              $$SELECT participant_id, vintage, tonnes FROM borrowing$$,
              'every borrowing is recorded as a cut of next year''s allocation');
SELECT is_empty($$SELECT o.participant_id FROM obligation o
                   LEFT JOIN (SELECT participant_id, period, sum(tonnes) AS t FROM borrowing GROUP BY 1, 2) b USING (participant_id, period)
                   WHERE o.cea_borrowed_used_t > coalesce(b.t, 0)$$,
                'CEA of a later vintage was surrendered only up to what was borrowed');
SELECT is_empty($$SELECT * FROM (SELECT o.participant_id, o.period, o.surrendered_cea_t, o.surrendered_ccer_t FROM obligation o
                                  WHERE o.surrendered_cea_t + o.surrendered_ccer_t > 0) x
                  FULL JOIN (SELECT a.participant_id, j.period,
                                    coalesce(-sum(j.amount) FILTER (WHERE j.instrument = 'CEA'), 0) AS cea,
                                    coalesce(-sum(j.amount) FILTER (WHERE j.instrument = 'CCER'), 0) AS ccer
                               FROM journal j JOIN account a USING (account_id) WHERE j.kind = 'surrender' GROUP BY 1, 2) y
                         USING (participant_id, period)
                  WHERE (x.surrendered_cea_t, x.surrendered_ccer_t) IS DISTINCT FROM (y.cea, y.ccer)$$,
                'the obligations'' surrender totals equal the journal');
SELECT set_eq($$SELECT participant_id, period, instrument, vintage, project, tonnes FROM surrender_detail$$,
              $$SELECT a.participant_id, j.period, j.instrument, j.vintage, j.project, -sum(j.amount)
                  FROM journal j JOIN account a USING (account_id) WHERE j.kind = 'surrender' GROUP BY 1, 2, 3, 4, 5$$,
              'surrender_detail equals the journal per unit, period and asset');
SELECT set_eq($$SELECT participant_id, year, allocated_t, initial_t, is_final FROM _allocated_by_year$$,
              $$SELECT participant_id, year, allocated_t, coalesce(preallocated_t, final_t, 0), is_final FROM allocation_result r
                 WHERE EXISTS (SELECT 1 FROM allocation a WHERE (a.participant_id, a.year) = (r.participant_id, r.year))
                    OR EXISTS (SELECT 1 FROM allocation_posting p
                                WHERE (p.participant_id, p.year, p.kind) = (r.participant_id, r.year, 'adjustment'))$$,
              'the obligations'' slim allocation figures are allocation_result''s (every year with an allocation or adjustment)');
SELECT set_eq($$SELECT participant_id, year, allocated_t FROM _allocation_source$$,
              $$SELECT participant_id, year, allocated_t FROM allocation_result$$,
              'the allocation source is the allocation room''s allocation_result');
SELECT set_eq($$SELECT participant_id, year, issued_t FROM allocation_result WHERE issued_t <> 0$$,
              $$SELECT a.participant_id, j.vintage, sum(j.amount)::bigint
                  FROM journal j JOIN account a USING (account_id) JOIN account s ON s.account_id = j.counterparty
                 WHERE j.instrument = 'CEA' AND s.kind = 'allocation' AND a.kind <> 'allocation' GROUP BY 1, 2$$,
              'allocation_result.issued_t (allocation and borrowing) equals what the journal moved from allocation accounts');
SELECT set_eq($$SELECT participant_id, sum(borrowed_t) FROM allocation_result WHERE year = 2025 AND borrowed_t > 0 GROUP BY 1$$,
              $$SELECT participant_id, sum(tonnes) FROM borrowing WHERE period = 2024 GROUP BY 1$$,
              'every borrowing is recorded in next year''s allocation');
SELECT is_empty($$SELECT 1 FROM allocation_result WHERE issued_t - owed_t + pending_t <> entitlement_t$$,
                'allocation_result balances: issued - owed + pending = entitlement');
SELECT is_empty('SELECT * FROM verify_ledger()', 'verify_ledger() finds no problem');

-- Closing the period: the sanctions follow the rule ----------------------------------------
SET LOCAL carbonmkt.clock = '2026-01-05 09:00:00+08';
SELECT record_average_price(d::date, (7000 + (extract(day FROM d)::int * 37) % 900) / 100.0, 'TAP')
  FROM generate_series('2025-12-01'::date, '2025-12-31', '1 day') d;
SELECT lives_ok('SELECT * FROM close_period(2024)', 'period 2024 closes');
SELECT is_empty($$SELECT participant_id FROM obligation WHERE period = 2024
                   AND (status = 'shortfall') IS DISTINCT FROM coalesce(remaining_t > 0, false)$$,
                'exactly the units with something remaining are in shortfall');
SELECT set_eq($$SELECT participant_id, shortfall_t, fine_fen, cut_t, cut_year FROM sanction WHERE period = 2024$$,
              $$SELECT participant_id, remaining_t AS shortfall_t,
                       round(5 * _average_price_fen('2025-12-01', '2025-12-31') * remaining_t)::bigint AS fine_fen,
                       remaining_t AS cut_t, 2025 AS cut_year
                  FROM obligation WHERE period = 2024 AND status = 'shortfall'$$,
              'Decree 775: a sanction per shortfall, fine 5x the December average price x shortfall, equal cut of 2025');
SELECT is_empty($$SELECT 1 FROM obligation o JOIN obligation_status s USING (participant_id, period)
                   WHERE o.period = 2024 AND (o.remaining_t, o.status) IS DISTINCT FROM (s.remaining_t, s.status)$$,
                'the closed period shows its frozen figures');
SELECT set_eq($$SELECT participant_id, penalty_cut_t FROM allocation_result WHERE year = 2025 AND penalty_cut_t > 0$$,
              $$SELECT participant_id, cut_t FROM sanction WHERE period = 2024 AND cut_t > 0$$,
              'every cut is recorded in the 2025 allocation');

-- Corrections after the close: random late surrenders; the cut in force is what is not corrected
SET LOCAL carbonmkt.clock = '2026-02-02 09:00:00+08';
DO $$
DECLARE
    r   record;
    q   bigint;
BEGIN
    FOR r IN SELECT x.participant_id, x.shortfall_t, u.account_id, a.account_id AS alloc
               FROM sanction x JOIN unit u USING (participant_id)
               JOIN account a ON a.kind = 'allocation' AND a.province = u.province
              WHERE x.period = 2024 ORDER BY x.participant_id LOOP
        PERFORM transfer_cea(r.alloc, r.account_id, 2024, r.shortfall_t);    -- bought on the market
        FOR i IN 1..3 LOOP
            q := 1 + floor(random() * r.shortfall_t * 0.6)::bigint;
            BEGIN
                PERFORM surrender_cea(r.account_id, 2024, q, 2024);
            EXCEPTION WHEN SQLSTATE 'CM409' OR SQLSTATE 'CM402' OR SQLSTATE 'CM004' THEN
                NULL;   -- beyond what is left to correct
            END;
        END LOOP;
    END LOOP;
END
$$;
SELECT isnt_empty($$SELECT 1 FROM sanction WHERE period = 2024 AND corrected_t > 0$$, 'some shortfalls were corrected');
SELECT is_empty($$SELECT 1 FROM sanction x JOIN allocation_adjustment a USING (sanction_id)
                   WHERE x.period = 2024 AND a.tonnes - a.withdrawn_t <> x.shortfall_t - x.corrected_t$$,
                'Decree 775: the cut in force equals the shortfall not corrected');
SELECT is_empty($$SELECT 1 FROM sanction WHERE period = 2024 AND (corrected_at IS NOT NULL) <> (corrected_t = shortfall_t)$$,
                'a sanction is marked corrected exactly when its whole shortfall was surrendered');
SELECT is_empty($$SELECT 1 FROM obligation o JOIN sanction x USING (participant_id, period)
                   WHERE o.period = 2024 AND o.remaining_t <> x.shortfall_t - x.corrected_t$$,
                'what remains of a closed obligation is the shortfall not corrected');
SELECT is_empty($$SELECT 1 FROM obligation x
                   FULL JOIN (SELECT a.participant_id, j.period, -sum(j.amount) FILTER (WHERE j.instrument = 'CEA') AS cea
                                FROM journal j JOIN account a USING (account_id) WHERE j.kind = 'surrender' GROUP BY 1, 2) y
                        USING (participant_id, period)
                  WHERE x.surrendered_cea_t IS DISTINCT FROM coalesce(y.cea, 0)$$,
                'late surrenders are in the obligations'' totals and the journal alike');

SELECT * FROM finish();
ROLLBACK;
