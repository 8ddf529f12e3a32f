-- pgTAP scenario of the MRV room (doc/mrv.md): a reporting season for 150 units in three
-- provinces (two cities each), with random late and missing deposits, random deviations,
-- units that fail to report (Art. 40 estimates), and then 3,000 random acts by random parties
-- (approvals and rejections by any authority, verifications by any firm, corrections,
-- appeals and their decisions, national namings, confirmations), each in its own
-- subtransaction; refusals are counted and rolled back.  Then every report is driven to
-- confirmation, and the invariants of the tiered review are checked: no tier skipped or
-- approved twice, reviewers of the right tier and jurisdiction, confirmations only with every
-- required tier, the national-review reasons equal to an independent recomputation (the
-- sample replayed from its seed), no conflict of interest.  Fixed seed; rolled back at the end.
BEGIN;
SELECT plan(23);
SET LOCAL search_path = carbonmkt, public;
SET LOCAL carbonmkt.clock = '2024-01-05 10:00:00+08';
SELECT setseed(0.42);

-- Parties ----------------------------------------------------------------------------------
CREATE TEMP TABLE prov ON COMMIT DROP AS
SELECT n, code::char(6) AS code,
       register_participant('TAP province ' || n, 'provincial_authority', '11' || code || 'MB00000' || n || '0'
                            || credit_code_check_char('11' || code || 'MB00000' || n || '0'), code) AS authority,
       register_participant('TAP compiler ' || n, 'service_firm', '91' || code || 'MC00000' || n || '0'
                            || credit_code_check_char('91' || code || 'MC00000' || n || '0'), code) AS compiler,
       register_participant('TAP verifier ' || n, 'service_firm', '91' || code || 'MD00000' || n || '0'
                            || credit_code_check_char('91' || code || 'MD00000' || n || '0'), code) AS verifier
  FROM (VALUES (1, '440000'), (2, '320000'), (3, '510000')) v(n, code);
CREATE TEMP TABLE city ON COMMIT DROP AS
SELECT p.n AS prov_n, c.k, substr(p.code, 1, 2) || lpad(c.k::text, 2, '0') || '00' AS code,
       register_participant('TAP city ' || p.n || '-' || c.k, 'city_authority',
                            '11' || substr(p.code, 1, 2) || lpad(c.k::text, 2, '0') || '00MB00000' || c.k || '1'
                            || credit_code_check_char('11' || substr(p.code, 1, 2) || lpad(c.k::text, 2, '0') || '00MB00000' || c.k || '1'),
                            p.code, substr(p.code, 1, 2) || lpad(c.k::text, 2, '0') || '00') AS authority
  FROM prov p CROSS JOIN generate_series(1, 2) c(k);
CREATE TEMP TABLE mee ON COMMIT DROP AS
SELECT register_participant('TAP MEE', 'national_authority', '11100000MB0134256' || credit_code_check_char('11100000MB0134256')) AS id;
-- the MRV numbers the sources do not give (doc/rules.md): the national authority fills test values
-- through amend_rule: sample 10%, deviation 5%, deposits due 40 days after the month, 0 missing
-- and 2 late months tolerated, anomaly 50%
SELECT amend_rule('mrv_rule', '{"jurisdiction": "CN", "from_year": 2019}',
                  '{"review_sample_share": 0.1, "deviation_threshold": 0.05, "deposit_due_days": 40, "deposit_missing_tolerance": 0,
                    "deposit_late_tolerance": 2, "anomaly_threshold": 0.5}',
                  'pgTAP fixture: MRV numbers no source gives', acting_for => (SELECT id FROM mee)) IS NOT NULL AS mrv_filled \gset
CREATE TEMP TABLE unit ON COMMIT DROP AS
SELECT i, p.n AS prov_n, p.code AS province, c.code AS city, s.sector,
       register_participant('TAP unit ' || i, 'key_emitter', '91' || c.code || 'MA' || lpad(i::text, 7, '0')
                            || credit_code_check_char('91' || c.code || 'MA' || lpad(i::text, 7, '0')),
                            p.code, c.code, s.sector) AS id,
       100000 + (i * 7919) % 900000 AS annual,
       i % 25 = 0 AS fails_to_report,        -- Art. 40: 6 units
       i % 4 = 0 AS by_compiler              -- a quarter have their report compiled by a firm
  FROM generate_series(1, 150) i
  JOIN prov p ON p.n = 1 + i % 3
  JOIN city c ON c.prov_n = p.n AND c.k = 1 + (i / 3) % 2
  JOIN (VALUES (0, 'power'), (1, 'power'), (2, 'cement'), (3, 'steel'), (4, 'aluminium')) s(k, sector) ON s.k = i % 5;
CREATE TEMP TABLE authority ON COMMIT DROP AS
SELECT id FROM mee UNION ALL SELECT authority FROM prov UNION ALL SELECT authority FROM city;
CREATE TEMP TABLE firm ON COMMIT DROP AS
SELECT compiler AS id FROM prov UNION ALL SELECT verifier FROM prov;
CREATE TEMP TABLE outcomes (i int, act text, outcome text) ON COMMIT DROP;

-- Plans, seed, deposits (random late months, missing months, deviating months) ---------------
DO $$
BEGIN
    PERFORM approve_monitoring_plan(file_monitoring_plan(u.id, 2024), acting_for => p.authority)
       FROM unit u JOIN prov p ON p.n = u.prov_n;
    PERFORM record_sample_seed(2024, 'TAP-2024', acting_for => (SELECT id FROM mee));
END $$;
CREATE TEMP TABLE dep ON COMMIT DROP AS
SELECT u.id, m, u.annual / 12 + CASE WHEN m = 12 THEN u.annual % 12 ELSE 0 END AS e,
       random() < 0.03 AS skipped, random() < 0.08 AS late, random() < 0.04 AS off
  FROM unit u CROSS JOIN generate_series(1, 12) m;
DO $$
DECLARE
    d record;
    due date;
BEGIN
    FOR d IN SELECT x.*, s.sector FROM dep x JOIN unit s ON s.id = x.id WHERE NOT x.skipped ORDER BY x.m, x.id LOOP
        due := mrv_deposit_due(2024, d.m, 40);
        PERFORM set_config('carbonmkt.clock', (CASE WHEN d.late THEN due + 3 ELSE due - 20 END)::text || ' 12:00:00+08', true);
        PERFORM deposit_parameters(d.id, 2024, d.m,
                    jsonb_build_object('emissions', CASE WHEN d.off THEN d.e * 2 ELSE d.e END)
                    || (SELECT jsonb_object_agg(sp.parameter, 1000) FROM mrv_sector_parameter sp
                         WHERE sp.sector = d.sector AND NOT sp.counts_to_emissions));
    END LOOP;
END $$;

-- Reports; estimators for the units that fail to report --------------------------------------
SET LOCAL carbonmkt.clock = '2025-03-20 10:00:00+08';
SELECT ok((SELECT count(*) FROM (SELECT submit_report(u.id, 2024,
                CASE WHEN u.sector = 'aluminium'
                     THEN jsonb_build_object('CO2', u.annual - 19905, 'CF4', 2.5, 'C2F6', 0.3)
                     ELSE jsonb_build_object('CO2', u.annual) END,
                CASE WHEN u.by_compiler THEN p.compiler END)
            FROM unit u JOIN prov p ON p.n = u.prov_n WHERE NOT u.fails_to_report) s) = 144,
          '144 units report (aluminium with CF4 and C2F6 at AR5 GWP), 6 fail to');
SELECT is((SELECT count(*) FROM mrv_report r JOIN unit u ON u.id = r.participant_id WHERE r.emissions_t <> u.annual), 0::bigint,
          'every report converts to the unit''s annual tCO2e (CF4 2.5 t = 16,575 t, C2F6 0.3 t = 3,330 t)');
SET LOCAL carbonmkt.clock = '2025-04-02 10:00:00+08';
DO $$
BEGIN
    PERFORM estimate_emissions(appoint_estimator(u.id, 2024, p.verifier, acting_for => p.authority), u.annual,
                               acting_for => p.verifier)
       FROM unit u JOIN prov p ON p.n = u.prov_n WHERE u.fails_to_report;
    PERFORM verify_report(r.report_id, r.emissions_t, CASE WHEN random() < 0.15 THEN 'problems' ELSE 'clean' END::mrv_findings,
                          acting_for => p.verifier)
       FROM mrv_report r JOIN unit u ON u.id = r.participant_id JOIN prov p ON p.n = u.prov_n
      WHERE NOT r.estimated;
END $$;
SELECT is((SELECT count(*) FROM mrv_report WHERE status = 'in_review' AND pending_tier = 'city'), 150::bigint,
          'all 150 reports (6 estimated) wait for city review');

-- 3,000 random acts by random parties ----------------------------------------------------------
SET LOCAL carbonmkt.clock = '2025-04-20 10:00:00+08';
DO $$
DECLARE
    auths   bigint[] := ARRAY(SELECT id FROM authority ORDER BY id);
    firms   bigint[] := ARRAY(SELECT id FROM firm ORDER BY id);
    rep     mrv_report;
    u       unit;
    who     bigint;
    act     text;
    x       float8;
    ap      bigint;
BEGIN
    FOR i IN 1..3000 LOOP
        SELECT * INTO rep FROM mrv_report ORDER BY report_id OFFSET floor(random() * 150)::int LIMIT 1;
        SELECT * INTO u FROM unit WHERE id = rep.participant_id;
        x := random();
        -- the authority the report waits for, or any authority
        IF random() < 0.6 THEN
            who := CASE rep.pending_tier
                       WHEN 'city' THEN (SELECT authority FROM city WHERE code = u.city)
                       WHEN 'province' THEN (SELECT authority FROM prov WHERE n = u.prov_n)
                       WHEN 'national' THEN (SELECT id FROM mee)
                       ELSE auths[1 + floor(random() * cardinality(auths))::int] END;
        ELSE
            who := auths[1 + floor(random() * cardinality(auths))::int];
        END IF;
        act := CASE WHEN x < 0.50 THEN 'approve' WHEN x < 0.56 THEN 'reject' WHEN x < 0.62 THEN 'verify'
                    WHEN x < 0.68 THEN 'correct' WHEN x < 0.73 THEN 'appeal' WHEN x < 0.79 THEN 'decide'
                    WHEN x < 0.82 THEN 'name' WHEN x < 0.92 THEN 'confirm' ELSE 'stale' END;
        BEGIN
            CASE act
            WHEN 'approve' THEN PERFORM approve_report(rep.report_id, acting_for => who);
            WHEN 'reject' THEN PERFORM reject_report(rep.report_id, 'random rejection ' || i, acting_for => who);
            WHEN 'verify' THEN
                PERFORM verify_report(rep.report_id, (rep.emissions_t * (0.97 + random() * 0.06))::bigint,
                                      CASE WHEN random() < 0.2 THEN 'problems' ELSE 'clean' END::mrv_findings,
                                      acting_for => firms[1 + floor(random() * cardinality(firms))::int]);
            WHEN 'correct' THEN
                PERFORM correct_report(rep.report_id, jsonb_build_object('CO2', (rep.emissions_t * (0.98 + random() * 0.04))::bigint));
            WHEN 'appeal' THEN PERFORM appeal_verification(rep.report_id, 'random appeal ' || i);
            WHEN 'decide' THEN
                SELECT appeal_id INTO ap FROM mrv_appeal WHERE decision IS NULL ORDER BY random() LIMIT 1;
                IF ap IS NULL THEN
                    RAISE EXCEPTION 'no open appeal' USING ERRCODE = 'P0002';
                END IF;
                PERFORM decide_appeal(ap, random() < 0.5, (rep.emissions_t * 0.99)::bigint,
                                      acting_for => CASE WHEN random() < 0.7 THEN (SELECT p.authority FROM mrv_appeal a
                                          JOIN mrv_report r USING (report_id) JOIN unit v ON v.id = r.participant_id
                                          JOIN prov p ON p.n = v.prov_n WHERE a.appeal_id = ap) ELSE who END);
            WHEN 'name' THEN PERFORM name_for_national_review(u.id, 2024, 'random naming ' || i, acting_for => who);
            WHEN 'confirm' THEN PERFORM confirm_emissions(rep.report_id, acting_for => who);
            ELSE PERFORM approve_report(rep.report_id, data_version => rep.data_version - 1, acting_for => who);
            END CASE;
            INSERT INTO outcomes VALUES (i, act, 'ok');
        EXCEPTION WHEN others THEN
            INSERT INTO outcomes VALUES (i, act, SQLSTATE);
        END;
    END LOOP;
END $$;

-- Drive every report to confirmation ------------------------------------------------------------
SET LOCAL carbonmkt.clock = '2025-06-01 10:00:00+08';
DO $$
DECLARE
    r   record;
BEGIN
    FOR pass IN 1..12 LOOP
        EXIT WHEN NOT EXISTS (SELECT 1 FROM mrv_report WHERE status <> 'confirmed');
        FOR r IN SELECT x.report_id, x.status, x.pending_tier, x.estimated, x.emissions_t, x.verified_t, u.city, p.authority AS pa,
                        p.verifier, (SELECT appeal_id FROM mrv_appeal a WHERE a.report_id = x.report_id AND a.decision IS NULL) AS ap
                   FROM mrv_report x JOIN unit u ON u.id = x.participant_id JOIN prov p ON p.n = u.prov_n
                  WHERE x.status <> 'confirmed' ORDER BY x.report_id LOOP
            CASE r.status
            WHEN 'appealed' THEN PERFORM decide_appeal(r.ap, false, acting_for => r.pa);
            WHEN 'returned' THEN
                IF r.estimated THEN
                    PERFORM estimate_emissions(r.report_id, r.verified_t, acting_for => r.verifier);
                ELSE
                    PERFORM correct_report(r.report_id, jsonb_build_object('CO2', r.emissions_t));
                END IF;
            WHEN 'submitted' THEN
                IF r.estimated THEN
                    PERFORM estimate_emissions(r.report_id, r.emissions_t, acting_for => r.verifier);
                ELSE
                    PERFORM verify_report(r.report_id, r.emissions_t, 'clean', acting_for => r.verifier);
                END IF;
            WHEN 'in_review' THEN
                PERFORM approve_report(r.report_id, acting_for => CASE r.pending_tier
                    WHEN 'city' THEN (SELECT authority FROM city WHERE code = r.city)
                    WHEN 'province' THEN r.pa ELSE (SELECT id FROM mee) END);
            WHEN 'approved' THEN PERFORM confirm_emissions(r.report_id, acting_for => r.pa);
            END CASE;
        END LOOP;
    END LOOP;
END $$;

SELECT is((SELECT count(*) FROM mrv_report WHERE status = 'confirmed'), 150::bigint, 'every report ends confirmed');
SELECT is((SELECT count(*) FROM confirmed_emission c JOIN unit u ON u.id = c.participant_id WHERE c.year = 2024), 150::bigint,
          'one confirmed emission per unit');
SELECT is((SELECT count(*) FROM confirmed_emission c JOIN mrv_report r USING (report_id)
            WHERE c.emissions_t IS DISTINCT FROM r.verified_t OR c.participant_id <> r.participant_id
               OR c.basis <> CASE WHEN r.estimated THEN 'estimated' ELSE 'verified' END), 0::bigint,
          'each confirmed figure is its report''s verified (or estimated) figure, with the right basis');
SELECT is((SELECT count(*) FROM confirmed_emission WHERE basis = 'estimated'), 6::bigint, 'the six Art. 40 estimates stand as the basis');

-- The invariants of the tiered review -------------------------------------------------------------
SELECT is((SELECT count(*) FROM mrv_review v
            WHERE v.decision = 'approve' AND v.tier > 'city'
              AND NOT EXISTS (SELECT 1 FROM mrv_review w
                               WHERE w.report_id = v.report_id AND w.data_version = v.data_version
                                 AND w.decision = 'approve' AND w.review_id < v.review_id
                                 AND w.tier = (CASE v.tier WHEN 'province' THEN 'city' ELSE 'province' END)::mrv_tier)),
          0::bigint, 'no approval skips a tier: each follows the approval of the tier below, of the same data version');
SELECT is((SELECT count(*) FROM (SELECT 1 FROM mrv_review WHERE decision = 'approve'
                                  GROUP BY report_id, data_version, tier HAVING count(*) > 1) d), 0::bigint,
          'nobody approves the same tier of the same data twice');
SELECT is((SELECT count(*) FROM mrv_review v
             JOIN mrv_report r USING (report_id) JOIN participant u ON u.participant_id = r.participant_id
             JOIN participant a ON a.participant_id = v.reviewer_id
            WHERE NOT ((v.tier = 'city' AND a.kind = 'city_authority' AND a.city = u.city)
                    OR (v.tier = 'province' AND a.kind = 'provincial_authority' AND a.province = u.province)
                    OR (v.tier = 'national' AND a.kind = 'national_authority'))), 0::bigint,
          'every review (approval or rejection) is by an authority of its tier and of the unit''s city or province');
SELECT is((SELECT count(*) FROM mrv_report r
            WHERE cardinality(mrv_missing_tiers(r.report_id)) > 0
               OR NOT EXISTS (SELECT 1 FROM mrv_review v WHERE v.report_id = r.report_id AND v.data_version = r.data_version
                                 AND v.tier = 'city' AND v.decision = 'approve')), 0::bigint,
          'every confirmed report has the approval of every required tier of its current data version');
SELECT is((SELECT count(*) FROM mrv_report r
            WHERE (cardinality(r.national_reasons) > 0) <> EXISTS (
                  SELECT 1 FROM mrv_review v WHERE v.report_id = r.report_id AND v.data_version = r.data_version
                     AND v.tier = 'national' AND v.decision = 'approve')), 0::bigint,
          'a report was approved nationally exactly when a reason for national review holds');
SELECT is((SELECT count(*) FROM mrv_report_event e WHERE e.event = 'confirmed'), 150::bigint, 'one confirmation event per report');

-- The reasons, recomputed independently (and the sample replayed from the seed) ------------------
CREATE TEMP TABLE recomputed ON COMMIT DROP AS
SELECT r.report_id, r.national_reasons,
       array_remove(ARRAY[
         CASE WHEN EXISTS (SELECT 1 FROM mrv_national_naming n WHERE n.participant_id = r.participant_id AND n.year = 2024) THEN 'named' END,
         CASE WHEN r.findings = 'problems' THEN 'verification_problems' END,
         CASE WHEN (SELECT sum(get_byte(h, k)::numeric * 256::numeric ^ (7 - k)) FROM generate_series(0, 7) k) % 1000000 / 1000000 < 0.1
              THEN 'random_sample' END,
         CASE WHEN round(abs(r.verified_t - coalesce(m.s, 0)) / r.verified_t::numeric, 6) > 0.05 THEN 'deviation' END,
         CASE WHEN (SELECT count(*) FROM dep d WHERE d.id = r.participant_id AND d.skipped) > 0 THEN 'deposits_missing' END,
         CASE WHEN (SELECT count(*) FROM dep d WHERE d.id = r.participant_id AND d.late AND NOT d.skipped) > 2 THEN 'deposits_late' END
       ], NULL) AS expected
  FROM mrv_report r
 CROSS JOIN LATERAL (SELECT sha256(convert_to('TAP-2024:' || r.participant_id, 'UTF8')) AS h) x
 CROSS JOIN LATERAL (SELECT sum(CASE WHEN d.off THEN d.e * 2 ELSE d.e END) AS s FROM dep d
                      WHERE d.id = r.participant_id AND NOT d.skipped) m;
SELECT is((SELECT count(*) FROM recomputed WHERE national_reasons <> expected), 0::bigint,
          'the recorded national-review reasons equal an independent recomputation from the deposits, findings, namings and seed');
SELECT ok((SELECT count(*) FILTER (WHERE 'random_sample' = ANY (national_reasons)) BETWEEN 5 AND 30 FROM mrv_report),
          'the random sample holds roughly the rule''s 10 % of 150 units');
SELECT ok((SELECT bool_and(n > 0) FROM (SELECT count(*) FILTER (WHERE r = ANY (x.national_reasons)) AS n
                                          FROM unnest(ARRAY['named', 'verification_problems', 'random_sample', 'deviation',
                                                            'deposits_missing', 'deposits_late']) r, mrv_report x GROUP BY r) c),
          'every kind of reason for national review occurred');
SELECT is((SELECT count(*) FROM mrv_report r WHERE (r.assessment->'reasons') <> to_jsonb(r.national_reasons)
                                               AND NOT 'named' = ANY (r.national_reasons)), 0::bigint,
          'the stored assessment agrees with the reasons');

-- Conflicts of interest ----------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM mrv_verification v JOIN mrv_report r USING (report_id) JOIN participant u ON u.participant_id = r.participant_id
            WHERE EXISTS (SELECT 1 FROM mrv_report c JOIN participant cu ON cu.participant_id = c.participant_id
                           WHERE c.compiled_by = v.verifier_id AND cu.province = u.province AND c.year = r.year)), 0::bigint,
          'no firm verified in a province where it compiled a report (Decree 775)');
SELECT is((SELECT count(*) FROM mrv_review v JOIN mrv_report r USING (report_id)
            WHERE v.reviewer_id IN (r.participant_id, r.compiled_by, r.verifier_id, r.estimator_id)), 0::bigint,
          'nobody reviewed a report its organisation owns, compiled or verified');

-- The random acts were refused for the right reasons ---------------------------------------------
SELECT ok((SELECT count(DISTINCT outcome) FILTER (WHERE outcome IN ('CM106', 'CM107', 'CM108', 'CM109', 'CM110', 'CM111')) = 6
             FROM outcomes),
          'the random acts met every refusal of the review: tier order, jurisdiction, conflict, tier missing, state, stale data');
SELECT is((SELECT count(*) FROM outcomes WHERE outcome NOT IN ('ok', 'CM106', 'CM107', 'CM108', 'CM109', 'CM110', 'CM111', 'CM114', 'P0002')),
          0::bigint, 'no random act failed for any other reason');
SELECT ok((SELECT count(*) FILTER (WHERE outcome = 'ok') > 300 FROM outcomes), 'hundreds of the random acts succeeded');

-- Confirmed figures are immutable ------------------------------------------------------------------
SELECT throws_ok($$UPDATE confirmed_emission SET emissions_t = emissions_t + 1$$, 'CM112', NULL,
                 'confirmed emissions cannot be updated');

SELECT * FROM finish();
ROLLBACK;
