-- Demo, act 3: the 2024 reporting season (监测、报告与核查) of the 2,100 key emitting units that
-- act 2 registered, through the national-provincial-city joint review (三级联审): monitoring
-- plans, monthly deposits of key parameters, annual reports (aluminium with CF4 and C2F6),
-- verification, rejections and corrections, an appeal, Art. 40 estimates, national re-reviews,
-- confirmation, and a national re-opening.  Every step is one set-based statement over all
-- units; the superuser acts as staff for each party (acting_for).  The business clock replays
-- the season from December 2023 to June 2025.
SET search_path = carbonmkt, public;
SET client_min_messages = notice;
SET intervalstyle = 'postgres';
\set QUIET on

\echo
\echo '== 3.0 The MRV rule: the sources give the report deadline (31 March) but no re-review share,'
\echo '   deviation threshold, deposit deadline, tolerances or anomaly threshold, so carbonmkt ships'
\echo '   none and refuses deposits and reviews until they are set (doc/rules.md).  For this demo the'
\echo '   national authority sets illustrative numbers through amend_rule:'
SELECT participant_id AS mee FROM participant WHERE kind = 'national_authority' \gset
SELECT r ->> 'review_sample_share' AS sample_share, r ->> 'deviation_threshold' AS deviation, r ->> 'deposit_due_days' AS deposit_due_days,
       r ->> 'deposit_missing_tolerance' AS missing_ok, r ->> 'deposit_late_tolerance' AS late_ok, r ->> 'anomaly_threshold' AS anomaly
  FROM amend_rule('mrv_rule', '{"jurisdiction": "CN", "from_year": 2019}',
                  '{"review_sample_share": 0.1, "deviation_threshold": 0.05, "deposit_due_days": 40, "deposit_missing_tolerance": 0,
                    "deposit_late_tolerance": 2, "anomaly_threshold": 0.5}',
                  'demo values (illustrative: no source gives these numbers)', acting_for => :mee) r;

\echo
\echo '== 3.1 MRV parties: a city authority (设区市) for every city with units, a compiling and a verifying service firm per province'
DO $$
BEGIN
    PERFORM register_participant(r.name || ' city ' || substr(r.code, 1, 2) || '01 Bureau of Ecology and Environment',
                                 'city_authority', '11' || c.city || 'MC0000001' || credit_code_check_char('11' || c.city || 'MC0000001'),
                                 r.code, c.city)
       FROM region r CROSS JOIN LATERAL (SELECT substr(r.code, 1, 2) || '0100' AS city) c
      WHERE EXISTS (SELECT 1 FROM participant u WHERE u.kind = 'key_emitter' AND u.city = c.city)
      ORDER BY r.code;
    PERFORM register_participant(r.name || ' Carbon Accounting Co. (compiles reports)', 'service_firm',
                                 '91' || r.code || 'MD0000001' || credit_code_check_char('91' || r.code || 'MD0000001'), r.code),
            register_participant(r.name || ' Verification Centre (verifies reports)', 'service_firm',
                                 '91' || r.code || 'MD0000002' || credit_code_check_char('91' || r.code || 'MD0000002'), r.code)
       FROM region r ORDER BY r.code;
END $$;
-- who is who, per unit
CREATE TEMP TABLE season AS
SELECT u.participant_id AS unit, u.province, u.city, u.sector,
       c.participant_id AS city_authority, p.participant_id AS province_authority,
       (SELECT participant_id FROM participant f WHERE f.kind = 'service_firm' AND f.province = u.province
         ORDER BY participant_id LIMIT 1) AS compiler,
       (SELECT participant_id FROM participant f WHERE f.kind = 'service_firm' AND f.province = u.province
         ORDER BY participant_id DESC LIMIT 1) AS verifier,
       -- 2024 emissions: the act-2 figure for 2023, give or take 5 %
       round((100000 + (u.participant_id * 7919) % 900000) * (1 + ((u.participant_id % 21) - 10) / 200.0))::bigint AS annual,
       u.participant_id % 97 = 0 AS late_months,       -- deposits March-June late
       u.participant_id % 89 = 0 AS missing_month,     -- November never deposited
       u.participant_id % 83 = 0 AS odd_month,         -- July's emissions deposited twice over
       u.participant_id % 700 = 0 AS no_report,        -- fails to report (Art. 40)
       u.participant_id % 4 = 0 AS by_compiler         -- report compiled by a service firm
  FROM participant u
  JOIN participant c ON c.kind = 'city_authority' AND c.city = u.city
  JOIN participant p ON p.kind = 'provincial_authority' AND p.province = u.province
 WHERE u.kind = 'key_emitter';
CREATE UNIQUE INDEX ON season (unit);
ANALYZE season;
SELECT participant_id AS mee FROM participant WHERE kind = 'national_authority' \gset
SELECT kind, count(*) AS participants FROM participant
 WHERE kind IN ('national_authority', 'provincial_authority', 'city_authority', 'service_firm', 'key_emitter')
 GROUP BY kind ORDER BY kind;

\echo
\echo '== 3.2 Monitoring plans (监测计划) filed in December 2023 and approved by each province; the sample seed'
SET carbonmkt.clock = '2023-12-15 10:00:00+08';
DO $$
BEGIN
    PERFORM approve_monitoring_plan(file_monitoring_plan(s.unit, 2024, jsonb_build_object('method', 'calculation', 'sector', s.sector)),
                                    acting_for => s.province_authority)
       FROM season s ORDER BY s.unit;
END $$;
SELECT record_sample_seed(2024, 'MEE 2024 re-review draw, recorded 2025-01-02', acting_for => :mee);
SELECT status, count(*) AS plans FROM mrv_plan GROUP BY status;

\echo
\echo '== 3.3 Monthly deposits of key parameters (关键参数月度存证) through 2024: 40 days after each month, a few late, one missing'
-- each month: most units deposit 20 days after the month, the late ones 45 days after it
DO $$
DECLARE
    m int;
    late boolean;
BEGIN
    FOR m IN 1..12 LOOP
        FOREACH late IN ARRAY ARRAY[false, true] LOOP
            PERFORM set_config('carbonmkt.clock',
                               (mrv_deposit_due(2024, m, 0) + CASE WHEN late THEN 45 ELSE 20 END)::text || ' 10:00:00+08', true);
            PERFORM deposit_parameters(s.unit, 2024, m,
                        jsonb_build_object('emissions', CASE WHEN s.odd_month AND m = 7 THEN 2 ELSE 1 END
                                                        * (s.annual / 12 + CASE WHEN m = 12 THEN s.annual % 12 ELSE 0 END))
                        || CASE s.sector
                           WHEN 'power' THEN jsonb_build_object('fuel_consumption', s.annual / 24, 'carbon_content', 0.02617,
                                                                'power_supplied', s.annual / 10)
                           WHEN 'cement' THEN jsonb_build_object('fuel_consumption', s.annual / 30, 'clinker_output', s.annual / 11)
                           WHEN 'steel' THEN jsonb_build_object('fuel_consumption', s.annual / 20, 'crude_steel_output', s.annual / 22)
                           ELSE jsonb_build_object('power_consumed', s.annual / 9, 'aluminium_output', s.annual / 150) END)
               FROM season s
              WHERE NOT (s.missing_month AND m = 11)
                AND (s.late_months AND m BETWEEN 3 AND 6) = late
              ORDER BY s.unit;
        END LOOP;
    END LOOP;
END $$;
SET carbonmkt.clock = '2025-02-20 10:00:00+08';
SELECT count(*) AS deposits, count(DISTINCT participant_id) AS units, count(*) FILTER (WHERE late) AS late
  FROM mrv_deposit;
SELECT status, count(*) AS unit_months FROM mrv_deposit_status WHERE year = 2024 GROUP BY status ORDER BY status;

\echo
\echo '== 3.4 Annual reports for 2024 (due 31 March 2025), converted to tCO2e with the AR5 GWPs; verification in April'
SET carbonmkt.clock = '2025-03-20 10:00:00+08';
DO $$
BEGIN
    PERFORM submit_report(s.unit, 2024,
                CASE WHEN s.sector = 'aluminium'
                     THEN jsonb_build_object('CO2', s.annual - 19905, 'CF4', 2.5, 'C2F6', 0.3)   -- 16,575 + 3,330 t CO2e
                     ELSE jsonb_build_object('CO2', s.annual) END,
                CASE WHEN s.by_compiler THEN s.compiler END)
       FROM season s WHERE NOT s.no_report ORDER BY s.unit;
END $$;
SELECT u.sector, count(*) AS reports, to_char(sum(r.emissions_t), 'FM999,999,999,990') AS reported_tco2e,
       sum(g.quantity_t) AS cf4_t, to_char(sum(g.co2e_t), 'FM999,999,990') AS cf4_tco2e
  FROM mrv_report r JOIN participant u USING (participant_id)
  LEFT JOIN mrv_report_gas g ON g.report_id = r.report_id AND g.gas = 'CF4'
 GROUP BY u.sector ORDER BY u.sector;
\echo '   A compiling firm may not verify in its own province (Decree 775):'
DO $$
BEGIN
    PERFORM verify_report((SELECT report_id FROM mrv_report ORDER BY report_id LIMIT 1), 1, 'clean',
                          acting_for => (SELECT compiler FROM season s JOIN mrv_report r ON r.participant_id = s.unit
                                          ORDER BY r.report_id LIMIT 1));
EXCEPTION WHEN others THEN
    RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
END $$;
SET carbonmkt.clock = '2025-04-10 10:00:00+08';
DO $$
BEGIN
    -- 2 % of the verifications find problems and correct the figure up by 1 %
    PERFORM verify_report(r.report_id,
                          CASE WHEN s.unit % 50 = 0 THEN round(r.emissions_t * 1.01)::bigint ELSE r.emissions_t END,
                          CASE WHEN s.unit % 50 = 0 THEN 'problems' ELSE 'clean' END::mrv_findings,
                          acting_for => s.verifier)
       FROM mrv_report r JOIN season s ON s.unit = r.participant_id ORDER BY r.report_id;
END $$;
\echo '   Why national review (复查) is required, per reason (a report may have several):'
SELECT coalesce(reason, '(none: city and province only)') AS reason, count(*) AS reports
  FROM mrv_report LEFT JOIN LATERAL unnest(nullif(national_reasons, '{}')) reason ON true
 GROUP BY reason ORDER BY count(*) DESC;

\echo
\echo '== 3.5 Art. 40: three units did not report by 31 March; their provinces appoint the verifier to estimate'
SET carbonmkt.clock = '2025-04-15 10:00:00+08';
DO $$
BEGIN
    PERFORM estimate_emissions(appoint_estimator(s.unit, 2024, s.verifier, acting_for => s.province_authority),
                               round(s.annual * 1.05)::bigint, 'from monthly deposits plus a 5 % margin',
                               acting_for => s.verifier)
       FROM season s WHERE s.no_report ORDER BY s.unit;
END $$;
SELECT r.report_id, r.participant_id AS unit, r.verified_t AS estimate_tco2e, r.national_reasons
  FROM mrv_report r WHERE r.estimated ORDER BY 1;

\echo
\echo '== 3.6 The tiered review: cities in April, provinces, then the nation; rejections go back to the unit'
SET carbonmkt.clock = '2025-04-22 10:00:00+08';
\echo '   A province may not skip the city tier, even by a direct INSERT (the C trigger):'
DO $$
DECLARE
    r record;
BEGIN
    SELECT x.report_id, x.data_version, s.province_authority INTO r
      FROM mrv_report x JOIN season s ON s.unit = x.participant_id WHERE x.status = 'in_review' AND x.pending_tier = 'city' ORDER BY 1 LIMIT 1;
    INSERT INTO mrv_review (report_id, data_version, tier, reviewer_id, decision) VALUES (r.report_id, r.data_version, 'province', r.province_authority, 'approve');
EXCEPTION WHEN others THEN
    RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
END $$;
DO $$
BEGIN
    -- cities: approve, except 1 in 60 returned for a data question
    PERFORM CASE WHEN s.unit % 60 = 0 AND NOT r.estimated
                 THEN reject_report(r.report_id, 'monthly fuel consumption does not match the annual report', acting_for => s.city_authority)
                 ELSE approve_report(r.report_id, acting_for => s.city_authority) END
       FROM mrv_report r JOIN season s ON s.unit = r.participant_id
      WHERE r.status = 'in_review' AND r.pending_tier = 'city' ORDER BY r.report_id;
    -- the national authority names five units for re-review (Art. 29(1))
    PERFORM name_for_national_review(s.unit, 2024, 'benchmark outlier in the national screening', acting_for => (SELECT participant_id FROM participant WHERE kind = 'national_authority'))
       FROM season s WHERE s.unit % 401 = 0 ORDER BY s.unit;
END $$;
SET carbonmkt.clock = '2025-04-29 10:00:00+08';
DO $$
BEGIN
    -- the returned units correct their reports; their verifier checks the correction
    PERFORM correct_report(r.report_id, jsonb_build_object('CO2', r.emissions_t + 1200), 'fuel consumption recounted')
       FROM mrv_report r WHERE r.status = 'returned' ORDER BY r.report_id;
    PERFORM verify_report(r.report_id, r.emissions_t, 'clean', acting_for => s.verifier)
       FROM mrv_report r JOIN season s ON s.unit = r.participant_id WHERE r.status = 'submitted' AND NOT r.estimated
      ORDER BY r.report_id;
    -- cities again for the corrected ones; provinces for all (one in 150 returned)
    PERFORM approve_report(r.report_id, acting_for => s.city_authority)
       FROM mrv_report r JOIN season s ON s.unit = r.participant_id
      WHERE r.status = 'in_review' AND r.pending_tier = 'city' ORDER BY r.report_id;
    PERFORM CASE WHEN s.unit % 150 = 7 AND NOT r.estimated
                 THEN reject_report(r.report_id, 'carbon content of coal not tested by an accredited laboratory', acting_for => s.province_authority)
                 ELSE approve_report(r.report_id, acting_for => s.province_authority) END
       FROM mrv_report r JOIN season s ON s.unit = r.participant_id
      WHERE r.status = 'in_review' AND r.pending_tier = 'province' ORDER BY r.report_id;
END $$;
\echo '   One unit appeals (申诉) its verification result to its province:'
SELECT appeal_verification(x.report_id, 'the verifier added a co-fired biomass share to fossil emissions') AS appeal_id
  FROM (SELECT r.report_id FROM mrv_report r WHERE r.status = 'approved' ORDER BY r.report_id LIMIT 1) x \gset
SELECT a.appeal_id, a.report_id, r.participant_id AS unit, r.status, a.grounds
  FROM mrv_appeal a JOIN mrv_report r USING (report_id);
SET carbonmkt.clock = '2025-05-06 10:00:00+08';
DO $$
BEGIN
    -- the units returned by their province correct, are re-verified, and pass city and province
    PERFORM correct_report(r.report_id, jsonb_build_object('CO2', r.emissions_t), 'laboratory test report added')
       FROM mrv_report r WHERE r.status = 'returned' ORDER BY r.report_id;
    PERFORM verify_report(r.report_id, r.emissions_t, 'clean', acting_for => s.verifier)
       FROM mrv_report r JOIN season s ON s.unit = r.participant_id WHERE r.status = 'submitted' AND NOT r.estimated
      ORDER BY r.report_id;
    PERFORM approve_report(r.report_id, acting_for => s.city_authority)
       FROM mrv_report r JOIN season s ON s.unit = r.participant_id
      WHERE r.status = 'in_review' AND r.pending_tier = 'city' ORDER BY r.report_id;
    PERFORM approve_report(r.report_id, acting_for => s.province_authority)
       FROM mrv_report r JOIN season s ON s.unit = r.participant_id
      WHERE r.status = 'in_review' AND r.pending_tier = 'province' ORDER BY r.report_id;
END $$;
\echo '   What waits for whom on 6 May (mrv_review_queue, mrv_report_waiting):'
SELECT task, count(*) AS items, count(DISTINCT authority_id) AS authorities, max(waiting) AS longest_wait
  FROM mrv_review_queue GROUP BY task ORDER BY task;
SET carbonmkt.clock = '2025-05-15 10:00:00+08';
DO $$
BEGIN
    -- the national re-reviews (复查): all approved
    PERFORM approve_report(r.report_id, acting_for => (SELECT participant_id FROM participant WHERE kind = 'national_authority'))
       FROM mrv_report r WHERE r.status = 'in_review' AND r.pending_tier = 'national' ORDER BY r.report_id;
END $$;

\echo
\echo '== 3.7 Confirmation (经确认排放量) by the provinces at the end of May; the appeal is still open'
SET carbonmkt.clock = '2025-05-31 10:00:00+08';
\echo '   Confirming a report under appeal is refused:'
DO $$
BEGIN
    PERFORM confirm_emissions(r.report_id, acting_for => s.province_authority)
       FROM mrv_report r JOIN season s ON s.unit = r.participant_id WHERE r.status = 'appealed';
EXCEPTION WHEN others THEN
    RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
END $$;
DO $$
BEGIN
    PERFORM confirm_emissions(r.report_id, acting_for => s.province_authority)
       FROM mrv_report r JOIN season s ON s.unit = r.participant_id WHERE r.status = 'approved' ORDER BY r.report_id;
END $$;
\echo '   A confirmed figure is immutable:'
DO $$
BEGIN
    UPDATE confirmed_emission SET emissions_t = emissions_t - 1000 WHERE participant_id = (SELECT min(participant_id) FROM confirmed_emission);
EXCEPTION WHEN others THEN
    RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
END $$;

\echo
\echo '== 3.8 June: a national re-opening after a tip-off; re-verified higher, three tiers again, confirmed again'
SET carbonmkt.clock = '2025-06-10 10:00:00+08';
SELECT s.unit AS reopened_unit, s.verifier, s.city_authority, s.province_authority
  FROM season s JOIN confirmed_emission c ON c.participant_id = s.unit AND c.year = 2024
 WHERE s.sector = 'steel' ORDER BY s.unit LIMIT 1 \gset
SELECT reopen_emissions(:reopened_unit, 2024, 'tip-off: coke purchases exceed the reported consumption', acting_for => :mee) AS reopened_report \gset
SELECT verify_report(:reopened_report, round(verified_t * 1.04)::bigint, 'problems', 'unreported coke oven gas flaring',
                     acting_for => :verifier) AS data_version
  FROM mrv_report WHERE report_id = :reopened_report;
SELECT approve_report(:reopened_report, acting_for => :city_authority) IS NOT NULL AS city,
       approve_report(:reopened_report, acting_for => :province_authority) IS NOT NULL AS province,
       approve_report(:reopened_report, acting_for => :mee) IS NOT NULL AS national;
SELECT confirm_emissions(:reopened_report, acting_for => :province_authority) AS reconfirmed_tco2e;
\echo '   The story of that report (mrv_report_event):'
SELECT data_version AS v, event, tier, actor_id, to_char(at, 'YYYY-MM-DD') AS day, left(detail, 90) AS detail
  FROM mrv_report_event WHERE report_id = :reopened_report ORDER BY event_id;

\echo
\echo '== 3.9 The season in numbers'
SELECT status, count(*) AS reports, count(*) FILTER (WHERE estimated) AS estimated,
       count(*) FILTER (WHERE cardinality(national_reasons) > 0) AS national_review
  FROM mrv_report GROUP BY status ORDER BY status;
SELECT count(*) FILTER (WHERE decision = 'approve') AS approvals, count(*) FILTER (WHERE decision = 'reject') AS rejections,
       count(*) FILTER (WHERE tier = 'national') AS national_reviews FROM mrv_review;
SELECT u.sector, count(*) AS units, to_char(sum(c.emissions_t), 'FM999,999,999,990') AS confirmed_2024_tco2e,
       count(*) FILTER (WHERE c.basis = 'estimated') AS estimated
  FROM confirmed_emission c JOIN participant u USING (participant_id) WHERE c.year = 2024
 GROUP BY ROLLUP (u.sector) ORDER BY u.sector NULLS LAST;
\echo '   Data quality per province (mrv_data_quality), the eight with the most deposit problems:'
SELECT province_name, units, months_missing, months_late, deposit_anomalies, reports_deviating,
       national_review_required, appealed, confirmed
  FROM mrv_data_quality WHERE year = 2024
 ORDER BY months_missing + months_late + deposit_anomalies DESC, province LIMIT 8;
\echo '   Not confirmed (mrv_report_waiting):'
SELECT report_id, participant_id AS unit, status, waiting_for, waiting FROM mrv_report_waiting ORDER BY report_id;
