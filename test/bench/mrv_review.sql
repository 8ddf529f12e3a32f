-- test/bench/mrv_review.sql: the cost of the tiered-review trigger (carbonmkt.mrv_review_guard)
-- on a province-scale batch.
--
-- One province, 10 cities, 3,000 key emitting units, each with a verified report that
-- waits for city review and needs national review.  A round moves the 3,000 reports through
-- the three tiers with three set-based statements
--     INSERT INTO carbonmkt.mrv_review (...) SELECT ... 3,000 rows   -- city, province, national
-- and is timed inside the server (clock_timestamp() around EXECUTE in PL/pgSQL):
--   on      the trigger enabled: it locks each report, checks tier, reviewer, jurisdiction,
--           conflict and data version, moves the report on and logs the event;
--   off     the same three statements with the trigger disabled (ALTER TABLE ... DISABLE
--           TRIGGER mrv_review_guard): the reports do not move, nothing is checked;
--   off+sql the same three statements with the trigger disabled, each followed by the
--           bookkeeping the trigger does, done set-based in plain SQL (one UPDATE of the
--           reports and one INSERT of the events per tier) -- what the state changes cost
--           without the per-row checks.
-- Each round uses fresh reports (a new reporting year per round and variant), the order of
-- the variants rotates, and we report the median of 5 rounds and the ratios on/off and
-- on/(off+sql).  The trigger's results are checked (every report approved, 9,000 reviews
-- and events); a wrong result fails the benchmark.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
SET client_min_messages = warning;
SET jit = off;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2025-04-15 10:00:00+08';
\o /dev/null

-- Parties: the nation, Guangdong, 10 cities, 3,000 units, one verifier --------------------------
DO $$
BEGIN
    PERFORM register_participant('MEE', 'national_authority', '11100000MB0134256' || credit_code_check_char('11100000MB0134256'));
    PERFORM register_participant('Guangdong DEE', 'provincial_authority',
                                 '11440000MB2C9251X' || credit_code_check_char('11440000MB2C9251X'), '440000');
    PERFORM register_participant('Bench verifier', 'service_firm',
                                 '91440000MA5F0000Y' || credit_code_check_char('91440000MA5F0000Y'), '440000');
    PERFORM register_participant('City ' || c, 'city_authority',
                                 '1144' || lpad(c::text, 2, '0') || '00MB000000' || (c % 10)
                                 || credit_code_check_char('1144' || lpad(c::text, 2, '0') || '00MB000000' || (c % 10)),
                                 '440000', '44' || lpad(c::text, 2, '0') || '00')
       FROM generate_series(1, 10) c;
    PERFORM register_participant('Unit ' || i, 'key_emitter',
                                 '9144' || lpad((1 + i % 10)::text, 2, '0') || '00MA' || lpad(i::text, 7, '0')
                                 || credit_code_check_char('9144' || lpad((1 + i % 10)::text, 2, '0') || '00MA' || lpad(i::text, 7, '0')),
                                 '440000', '44' || lpad((1 + i % 10)::text, 2, '0') || '00', 'power')
       FROM generate_series(1, 3000) i;
END $$;
CREATE TEMP TABLE bench_unit AS
SELECT u.participant_id AS unit, c.participant_id AS city_authority
  FROM participant u JOIN participant c ON c.kind = 'city_authority' AND c.city = u.city
 WHERE u.kind = 'key_emitter';
SELECT participant_id AS province_authority FROM participant WHERE kind = 'provincial_authority' \gset
SELECT participant_id AS national_authority FROM participant WHERE kind = 'national_authority' \gset
SELECT participant_id AS verifier FROM participant WHERE kind = 'service_firm' \gset
SELECT set_config('bench.province', :'province_authority', false), set_config('bench.national', :'national_authority', false);

-- 3,000 verified reports of one year, waiting for city review, national review required.
CREATE FUNCTION pg_temp.make_reports(y int) RETURNS void LANGUAGE sql AS $$
    INSERT INTO carbonmkt.mrv_report (participant_id, year, compiled_by, gwp_set, emissions_t, data_version, status,
                                      pending_tier, verifier_id, verified_t, findings, national_reasons,
                                      due_date, submitted_at, state_since)
    SELECT b.unit, y, b.unit, 'AR5', 500000 + b.unit, 2, 'in_review', 'city',
           (SELECT participant_id FROM carbonmkt.participant WHERE kind = 'service_firm'), 500000 + b.unit, 'clean',
           '{random_sample}', make_date(y + 1, 3, 31), carbonmkt.clock_now(), carbonmkt.clock_now()
      FROM bench_unit b
$$;

-- The three tiers, set-based; with bookkeeping = true also the trigger's state changes in SQL.
CREATE FUNCTION pg_temp.review_batch(y int, bookkeeping boolean) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    prov bigint := current_setting('bench.province')::bigint;
    nat bigint := current_setting('bench.national')::bigint;
BEGIN
    INSERT INTO carbonmkt.mrv_review (report_id, data_version, tier, reviewer_id, decision)
    SELECT r.report_id, r.data_version, 'city', b.city_authority, 'approve'
      FROM carbonmkt.mrv_report r JOIN bench_unit b ON b.unit = r.participant_id WHERE r.year = y;
    IF bookkeeping THEN
        UPDATE carbonmkt.mrv_report r SET pending_tier = 'province', state_since = carbonmkt.clock_now() WHERE r.year = y;
        INSERT INTO carbonmkt.mrv_report_event (report_id, data_version, event, tier, actor_id, at, detail)
        SELECT r.report_id, r.data_version, 'approved', 'city', b.city_authority, carbonmkt.clock_now(), 'next: province review'
          FROM carbonmkt.mrv_report r JOIN bench_unit b ON b.unit = r.participant_id WHERE r.year = y;
    END IF;
    INSERT INTO carbonmkt.mrv_review (report_id, data_version, tier, reviewer_id, decision)
    SELECT r.report_id, r.data_version, 'province', prov, 'approve' FROM carbonmkt.mrv_report r WHERE r.year = y;
    IF bookkeeping THEN
        UPDATE carbonmkt.mrv_report r SET pending_tier = 'national', state_since = carbonmkt.clock_now() WHERE r.year = y;
        INSERT INTO carbonmkt.mrv_report_event (report_id, data_version, event, tier, actor_id, at, detail)
        SELECT r.report_id, r.data_version, 'approved', 'province', prov, carbonmkt.clock_now(), 'next: national review'
          FROM carbonmkt.mrv_report r WHERE r.year = y;
    END IF;
    INSERT INTO carbonmkt.mrv_review (report_id, data_version, tier, reviewer_id, decision)
    SELECT r.report_id, r.data_version, 'national', nat, 'approve' FROM carbonmkt.mrv_report r WHERE r.year = y;
    IF bookkeeping THEN
        UPDATE carbonmkt.mrv_report r SET status = 'approved', pending_tier = NULL, state_since = carbonmkt.clock_now()
         WHERE r.year = y;
        INSERT INTO carbonmkt.mrv_report_event (report_id, data_version, event, tier, actor_id, at, detail)
        SELECT r.report_id, r.data_version, 'approved', 'national', nat, carbonmkt.clock_now(),
               'every required tier approved; waiting for confirmation'
          FROM carbonmkt.mrv_report r WHERE r.year = y;
    END IF;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;

CREATE TEMP TABLE timing (round int, variant text, ms float8);
CREATE TEMP TABLE timing_year (year int, variant text);
-- warm-up (caches, the trigger's saved plans): one batch with the trigger on
SELECT pg_temp.make_reports(2030);
VACUUM ANALYZE carbonmkt.mrv_report;
SELECT pg_temp.review_batch(2030, false) IS NOT NULL;

-- 5 rounds, rotating the order of the variants; each variant on its own fresh year of reports
SELECT count(pg_temp.make_reports(y)) FROM generate_series(2031, 2045) y;
VACUUM ANALYZE carbonmkt.mrv_report;
DO $$
DECLARE
    v text;
    y int;
BEGIN
    FOR r IN 1..5 LOOP
        FOR k IN 1..3 LOOP
            v := (ARRAY['on', 'off', 'off+sql'])[1 + (k - 1 + r) % 3];
            y := 2030 + 3 * (r - 1) + k;
            EXECUTE format('ALTER TABLE carbonmkt.mrv_review %s TRIGGER mrv_review_guard',
                           CASE WHEN v = 'on' THEN 'ENABLE' ELSE 'DISABLE' END);
            INSERT INTO timing VALUES (r, v, pg_temp.review_batch(y, v = 'off+sql'));
            INSERT INTO timing_year VALUES (y, v);
        END LOOP;
    END LOOP;
    ALTER TABLE carbonmkt.mrv_review ENABLE TRIGGER mrv_review_guard;
END $$;
\o
\pset format aligned
\pset tuples_only off

-- Check the trigger's work: every report of the trigger-on years approved, 3 reviews and 3 events each
DO $$
DECLARE
    bad int;
BEGIN
    SELECT count(*) INTO bad
      FROM carbonmkt.mrv_report r
      LEFT JOIN (SELECT v.report_id, count(*) AS n FROM carbonmkt.mrv_review v GROUP BY 1) v USING (report_id)
      LEFT JOIN (SELECT e.report_id, count(*) AS n FROM carbonmkt.mrv_report_event e GROUP BY 1) e USING (report_id)
     WHERE r.year IN (SELECT t.year FROM timing_year t WHERE t.variant = 'on')
       AND (r.status <> 'approved' OR v.n IS DISTINCT FROM 3 OR e.n IS DISTINCT FROM 3);
    IF bad > 0 OR (SELECT count(*) FROM timing WHERE variant = 'on') <> 5 THEN
        RAISE EXCEPTION 'mrv_review: % reports of the trigger-on rounds were not moved through the three tiers', bad;
    END IF;
END $$;

SELECT variant, count(*) AS rounds, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms,
       round(min(ms)::numeric, 1) AS min_ms, round(max(ms)::numeric, 1) AS max_ms,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) / 9000 * 1000)::numeric, 1) AS us_per_review
  FROM timing GROUP BY variant ORDER BY variant DESC;
\pset format unaligned
\pset tuples_only on
WITH m AS (SELECT variant, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms FROM timing GROUP BY variant)
SELECT format('ratio on/off %s (no target: the trigger''s cost over bare inserts)',
              round(((SELECT ms FROM m WHERE variant = 'on') / (SELECT ms FROM m WHERE variant = 'off'))::numeric, 2))
UNION ALL
SELECT format('ratio on/off+sql %s (no target: per-row checks against set-based bookkeeping without checks)',
              round(((SELECT ms FROM m WHERE variant = 'on') / (SELECT ms FROM m WHERE variant = 'off+sql'))::numeric, 2));
