-- pgTAP invariants of the MRV deposit summaries (_mrv_deposit_months per unit and year, month by month;
-- _mrv_deposit_parameter_year per unit, year and parameter), which the trigger of
-- carbonmkt.mrv_deposit keeps and the MRV views read instead of every deposit (doc/bi.md):
-- after random monthly deposits of 60 units over two years (some late, some missing), after
-- random corrections (new versions of some parameters, some months several times), after a
-- multi-row INSERT of deposits in one statement and after TRUNCATE, each summary equals an
-- independent recomputation from the deposits; mrv_deposit_status shows the deposits' counts
-- and flags, and mrv_deposit_anomaly equals the anomaly screening computed from every deposit
-- (which is what it reads the summary to avoid).  Fixed seed; rolled back at the end.
BEGIN;
SELECT plan(16);
SET LOCAL search_path = carbonmkt, public;
SET LOCAL carbonmkt.clock = '2024-01-05 10:00:00+08';
SELECT setseed(0.1807);

-- Parties: one province, 60 units of three sectors ----------------------------------------------
CREATE TEMP TABLE prov ON COMMIT DROP AS
SELECT register_participant('TAP summary province', 'provincial_authority',
                            '11440000MB0000090' || credit_code_check_char('11440000MB0000090'), '440000') AS authority;
CREATE TEMP TABLE unit ON COMMIT DROP AS
SELECT i, s.sector,
       register_participant('TAP summary unit ' || i, 'key_emitter', '91440300MA' || lpad(i::text, 7, '0')
                            || credit_code_check_char('91440300MA' || lpad(i::text, 7, '0')),
                            '440000', '440300', s.sector) AS id,
       100000 + (i * 7919) % 900000 AS annual
  FROM generate_series(1, 60) i
  JOIN (VALUES (0, 'power'), (1, 'cement'), (2, 'steel')) s(k, sector) ON s.k = i % 3;
-- the MRV numbers the sources do not give (doc/rules.md): the national authority fills test values
-- through amend_rule: sample 10%, deviation 5%, deposits due 40 days after the month, 0 missing
-- and 2 late months tolerated, anomaly 50%
SELECT amend_rule('mrv_rule', '{"jurisdiction": "CN", "from_year": 2019}',
                  '{"review_sample_share": 0.1, "deviation_threshold": 0.05, "deposit_due_days": 40, "deposit_missing_tolerance": 0,
                    "deposit_late_tolerance": 2, "anomaly_threshold": 0.5}',
                  'pgTAP fixture: MRV numbers no source gives', acting_for => register_participant('TAP summary MEE', 'national_authority', '11100000MB0000091' || credit_code_check_char('11100000MB0000091'))) IS NOT NULL AS mrv_filled \gset
DO $$
BEGIN
    PERFORM approve_monitoring_plan(file_monitoring_plan(u.id, 2024), NULL, (SELECT authority FROM prov))
       FROM unit u;
END $$;

-- The independent recomputations from the deposits ---------------------------------------------
CREATE FUNCTION pg_temp.month_diff() RETURNS bigint LANGUAGE sql AS $$
    WITH m AS (SELECT d.participant_id, d.year, d.month, count(DISTINCT d.parameter)::int AS deposited,
                      bool_or(d.late AND d.version = 1) AS late, count(*) > count(DISTINCT d.parameter) AS corrected
                 FROM carbonmkt.mrv_deposit d GROUP BY 1, 2, 3),
         s AS (SELECT x.participant_id, x.year, i AS month, x.deposited[i] AS deposited, x.late[i] AS late,
                      x.corrected[i] AS corrected
                 FROM carbonmkt._mrv_deposit_months x CROSS JOIN generate_series(1, 12) i
                WHERE x.deposited[i] <> 0 OR x.late[i] OR x.corrected[i])
    SELECT count(*) + (SELECT count(*) FROM carbonmkt._mrv_deposit_months x WHERE NOT 0 < ANY (x.deposited))
      FROM ((TABLE m EXCEPT ALL TABLE s) UNION ALL (TABLE s EXCEPT ALL TABLE m)) x $$;
CREATE FUNCTION pg_temp.parameter_diff() RETURNS bigint LANGUAGE sql AS $$
    WITH v AS (SELECT d.participant_id, d.year, d.parameter, d.value FROM carbonmkt.mrv_deposit d
                WHERE d.version = (SELECT max(x.version) FROM carbonmkt.mrv_deposit x
                                    WHERE x.participant_id = d.participant_id AND x.year = d.year
                                      AND x.month = d.month AND x.parameter = d.parameter)),
         p AS (SELECT participant_id, year, parameter, count(*)::int AS months, sum(value) AS total, min(value), max(value)
                 FROM v GROUP BY 1, 2, 3)
    SELECT count(*) FROM ((TABLE p EXCEPT ALL TABLE carbonmkt._mrv_deposit_parameter_year)
                          UNION ALL (TABLE carbonmkt._mrv_deposit_parameter_year EXCEPT ALL TABLE p)) x $$;
-- the anomaly screening over every deposit: the latest version of each month against the mean
-- of the same parameter's other months, threshold of the rule in force
CREATE FUNCTION pg_temp.anomaly_diff() RETURNS bigint LANGUAGE sql AS $$
    WITH v AS (SELECT d.* FROM carbonmkt.mrv_deposit d
                WHERE d.version = (SELECT max(x.version) FROM carbonmkt.mrv_deposit x
                                    WHERE x.participant_id = d.participant_id AND x.year = d.year
                                      AND x.month = d.month AND x.parameter = d.parameter)),
         o AS (SELECT v.*, (sum(v.value) OVER w - v.value) / nullif(count(*) OVER w - 1, 0) AS others_mean, count(*) OVER w AS months
                 FROM v WINDOW w AS (PARTITION BY v.participant_id, v.year, v.parameter)),
         a AS (SELECT o.participant_id, u.province, u.city, o.year, o.month, o.parameter, o.version, o.value,
                      round(o.others_mean, 3) AS others_mean, round(abs(o.value - o.others_mean) / o.others_mean, 4) AS deviation,
                      (carbonmkt.mrv_rule_for(u.province, o.year)).anomaly_threshold
                 FROM o JOIN carbonmkt.participant u ON u.participant_id = o.participant_id
                WHERE o.months > 1 AND o.others_mean > 0
                  AND abs(o.value - o.others_mean) / o.others_mean > (carbonmkt.mrv_rule_for(u.province, o.year)).anomaly_threshold)
    SELECT count(*) FROM ((TABLE a EXCEPT ALL TABLE carbonmkt.mrv_deposit_anomaly)
                          UNION ALL (TABLE carbonmkt.mrv_deposit_anomaly EXCEPT ALL TABLE a)) x $$;
-- mrv_deposit_status against the deposits: per unit-month the parameters deposited (first
-- versions), late and corrected; 0 and false for a month without deposits
CREATE FUNCTION pg_temp.status_diff() RETURNS bigint LANGUAGE sql AS $$
    WITH m AS (SELECT d.participant_id, d.year, d.month, count(DISTINCT d.parameter)::int AS deposited,
                      bool_or(d.late AND d.version = 1) AS late, count(*) > count(DISTINCT d.parameter) AS corrected
                 FROM carbonmkt.mrv_deposit d GROUP BY 1, 2, 3)
    SELECT count(*) FROM carbonmkt.mrv_deposit_status s
      LEFT JOIN m ON m.participant_id = s.participant_id AND m.year = s.year AND m.month = s.month
     WHERE s.participant_id IN (SELECT id FROM unit)
       AND (s.deposited, s.late, s.corrected) IS DISTINCT FROM (coalesce(m.deposited, 0), coalesce(m.late, false), coalesce(m.corrected, false)) $$;

-- Deposits: every month of 2024 and January-May 2025, a few late, a few missing -------------------
CREATE TEMP TABLE dep ON COMMIT DROP AS
SELECT u.id, u.sector, y, m, u.annual / 12 AS e, random() < 0.05 AS skipped, random() < 0.10 AS late,
       CASE WHEN random() < 0.05 THEN 3.0 WHEN random() < 0.03 THEN 0.0 ELSE 0.9 + random() * 0.2 END AS f,
       ARRAY[random() < 0.10, random() < 0.05, random() < 0.03] AS corrected   -- corrected once, twice, three times
  FROM unit u CROSS JOIN (SELECT 2024 AS y, m FROM generate_series(1, 12) m UNION ALL SELECT 2025, m FROM generate_series(1, 5) m) ym;
DO $$
DECLARE
    d record;
    due date;
BEGIN
    FOR d IN SELECT * FROM dep WHERE NOT skipped ORDER BY y, m, late, id LOOP
        due := mrv_deposit_due(d.y, d.m, 40);
        PERFORM set_config('carbonmkt.clock', (CASE WHEN d.late THEN due + 3 ELSE due - 20 END)::text || ' 12:00:00+08', true);
        PERFORM deposit_parameters(d.id, d.y, d.m,
                    jsonb_build_object('emissions', round(d.e * d.f))
                    || (SELECT jsonb_object_agg(sp.parameter, round(d.e * d.f / 3)) FROM mrv_sector_parameter sp
                         WHERE sp.sector = d.sector AND NOT sp.counts_to_emissions));
    END LOOP;
END $$;
SET LOCAL carbonmkt.clock = '2025-07-20 10:00:00+08';
SELECT ok((SELECT count(*) > 3000 AND count(*) FILTER (WHERE late) > 100 FROM mrv_deposit),
          'thousands of deposits made through deposit_parameters, hundreds of them late');
SELECT is(pg_temp.month_diff(), 0::bigint, 'after the deposits: the summary per unit and month equals the deposits');
SELECT is(pg_temp.parameter_diff(), 0::bigint, 'after the deposits: the summary per unit, year and parameter equals the deposits');

-- Corrections: some months' parameters deposited again, some several times; late deposits of
-- missing months --------------------------------------------------------------------------------
DO $$
DECLARE
    d record;
BEGIN
    FOR d IN SELECT x.*, k FROM dep x CROSS JOIN generate_series(1, 3) k
              WHERE NOT x.skipped AND x.corrected[k] ORDER BY k, x.y, x.m, x.id LOOP
        PERFORM deposit_parameters(d.id, d.y, d.m,
                    CASE WHEN random() < 0.5 THEN jsonb_build_object('emissions', round(d.e * (0.5 + random() * 3)))
                         ELSE (SELECT jsonb_object_agg(sp.parameter, round(d.e * random())) FROM mrv_sector_parameter sp
                                WHERE sp.sector = d.sector AND NOT sp.counts_to_emissions) END,
                    'correction ' || d.k);
    END LOOP;
    PERFORM deposit_parameters(x.id, x.y, x.m, jsonb_build_object('emissions', round(x.e)), 'late filing')
       FROM dep x WHERE x.skipped ORDER BY x.id, x.y, x.m;
END $$;
SELECT ok((SELECT count(*) FILTER (WHERE version = 2) > 100 AND count(*) FILTER (WHERE version >= 3) > 0 FROM mrv_deposit),
          'hundreds of corrections, some parameters corrected more than once');
SELECT ok((SELECT count(*) FILTER (WHERE a.corrected) > 100 AND count(*) FILTER (WHERE a.late) > 100
             FROM _mrv_deposit_months x, unnest(x.corrected, x.late) AS a(corrected, late)),
          'the summary marks hundreds of unit-months corrected and late');
SELECT is(pg_temp.month_diff(), 0::bigint, 'after the corrections: the summary per unit and month equals the deposits');
SELECT is(pg_temp.parameter_diff(), 0::bigint, 'after the corrections: the summary per unit, year and parameter equals the deposits');

-- The views read the summaries --------------------------------------------------------------------
SELECT is(pg_temp.status_diff(), 0::bigint,
          'mrv_deposit_status: every unit-month''s deposited, late and corrected equal the deposits''');
SELECT ok((SELECT count(*) >= 20 FROM mrv_deposit_anomaly WHERE participant_id IN (SELECT id FROM unit)),
          'mrv_deposit_anomaly finds dozens of anomalies (tripled, zero and corrected months)');
SELECT is(pg_temp.anomaly_diff(), 0::bigint,
          'mrv_deposit_anomaly equals the anomaly screening computed from every deposit');

-- Another writer: one INSERT statement of many deposits (units, months and parameters at once) --------
INSERT INTO mrv_deposit (participant_id, year, month, parameter, version, value, plan_id, due_date, late,
                         deposited_by, deposited_at, note)
SELECT d.participant_id, d.year, d.month, d.parameter, d.version + 1, d.value * 4, d.plan_id, d.due_date, d.late,
       d.deposited_by, now(), 'bulk correction'
  FROM mrv_deposit d
 WHERE d.year = 2025 AND d.month = 5 AND d.parameter = 'emissions'
   AND d.version = (SELECT max(x.version) FROM mrv_deposit x WHERE x.participant_id = d.participant_id AND x.year = d.year
                       AND x.month = d.month AND x.parameter = d.parameter)
UNION ALL
SELECT u.id, 2025, 6, sp.parameter, 1, 1000 + u.i, p.plan_id, '2025-08-09', false, u.id, now(), 'bulk'
  FROM unit u JOIN mrv_sector_parameter sp ON sp.sector = u.sector
  JOIN mrv_plan p ON p.participant_id = u.id AND p.status = 'approved'
 WHERE u.i <= 30;
SELECT is(pg_temp.month_diff(), 0::bigint, 'after a multi-row INSERT: the summary per unit and month equals the deposits');
SELECT is(pg_temp.parameter_diff(), 0::bigint, 'after a multi-row INSERT: the summary per unit, year and parameter equals the deposits');
SELECT is(pg_temp.anomaly_diff(), 0::bigint, 'after a multi-row INSERT: mrv_deposit_anomaly equals the screening of every deposit');
SELECT is(pg_temp.status_diff(), 0::bigint, 'after a multi-row INSERT: mrv_deposit_status equals the deposits');

-- TRUNCATE empties the summaries with the deposits ------------------------------------------------------
SET LOCAL carbonmkt.allow_ledger_drop = on;
TRUNCATE mrv_deposit;
SELECT is((SELECT count(*) FROM _mrv_deposit_months) + (SELECT count(*) FROM _mrv_deposit_parameter_year), 0::bigint,
          'TRUNCATE of the deposits empties both summaries');
SELECT is((SELECT count(*) FROM mrv_deposit_status WHERE participant_id IN (SELECT id FROM unit) AND deposited > 0), 0::bigint,
          'after TRUNCATE no unit-month shows a deposit');

SELECT * FROM finish();
ROLLBACK;
