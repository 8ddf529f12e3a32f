-- test/bench/compliance_views.sql: the BI views and the surrender trigger at national
-- scale (issue 7): 3,000 key emitting units in 31 provinces, 5 annual periods
-- (2021-2024 closed, 2025 open with half the units surrendered).
--
-- The market is built through the public functions (allocation: transfer_cea from each
-- province's allocation account adopted by the allocation room as pre-allocations, the
-- true-up of one unit in five by amend_allocation, final allocations equal to the
-- pre-allocations as fixture rows; purchases, surrender_cea/surrender_ccer
-- through the C trigger, close_period), except the trading volume: 300,000 journal legs
-- (150,000 CEA trades between units) are inserted directly, as journal volume for the
-- views to read past (they do not move holdings; the views do not read them), and the
-- exchange's trade tape of 2025 (150,000 trades of CEA2021-CEA2025 on 245 trading days,
-- with the products' day rows, closed, and the daily statistics end_of_day() keeps with
-- each close), inserted directly for the market views to read.
--
-- Then, per view: the full result (every column: count(*) and sum(length(row::text)))
-- and a typical dashboard query, each timed in the server (clock_timestamp() around
-- EXECUTE), 5 rounds in rotating order, median; target < 100 ms.  Baseline for the
-- ratios: a full read of carbonmkt.obligation (the same row count as the per-unit view).
-- Last, the cost of the trigger on the posting path: 5 interleaved rounds of 200
-- surrenders of 1 t with the trigger enabled and disabled; ratio with/without.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
SET client_min_messages = warning;
SET jit = off;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2021-01-04 09:00:00+08';
-- scale: units and trades (a smaller copy for a quick check changes these two lines)
\o /dev/null
SELECT set_config('bench.units', '3000', false);
SELECT set_config('bench.trades', '150000', false);
\o

SELECT 'compliance_views: building the market (about 90 seconds) ...';
CREATE TEMP TABLE build_times (step text, s numeric);
CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;

-- 31 provincial authorities with allocation accounts, 3,000 units, a trading fund ---------
DO $$
DECLARE
    r       record;
    pid     bigint;
    sectors text[] := ARRAY['power', 'power', 'power', 'power', 'power', 'power', 'cement', 'steel', 'aluminium', 'cement'];
    t0      timestamptz := clock_timestamp();
BEGIN
    PERFORM register_participant('MEE', 'national_authority', pg_temp.uscc('11100000MB0134256'));
    FOR r IN SELECT code FROM region ORDER BY code LOOP
        pid := register_participant('DEE ' || r.code, 'provincial_authority', pg_temp.uscc('11' || r.code || 'MB' || lpad(r.code, 7, '0')), r.code);
        PERFORM open_account(pid, 'allocation');
    END LOOP;
    FOR i IN 1..current_setting('bench.units')::int LOOP
        SELECT code INTO r FROM region ORDER BY code OFFSET (i * 7) % 31 LIMIT 1;
        pid := register_participant(format('Unit %s', lpad(i::text, 4, '0')), 'key_emitter',
                                    pg_temp.uscc('91' || r.code || 'MA' || lpad(i::text, 7, '0')), r.code,
                                    substr(r.code, 1, 2) || '0100', sectors[1 + i % 10]);
        PERFORM open_account(pid, 'holding');
    END LOOP;
    pid := register_participant('Market maker fund', 'institution', pg_temp.uscc('91310000MA0000001'), '310000');
    PERFORM open_account(pid, 'holding', 'fund');
    INSERT INTO build_times VALUES ('participants and accounts', extract(epoch FROM clock_timestamp() - t0));
END $$;
CREATE TEMP TABLE unit AS
SELECT p.participant_id, h.account_id, p.province, p.sector,
       (SELECT a.account_id FROM account a WHERE a.kind = 'allocation' AND a.province = p.province) AS alloc_account,
       row_number() OVER (ORDER BY p.participant_id) AS n
  FROM participant p JOIN account h ON h.participant_id = p.participant_id AND h.kind = 'holding'
 WHERE p.kind = 'key_emitter';
SELECT account_id AS fund FROM account WHERE label = 'fund' \gset

-- Periods, CCER projects ---------------------------------------------------------------------
SELECT 'periods opened: ' || count(open_period(y, y || ' annual compliance', y, y, make_date(y + 1, 12, 31))) FROM generate_series(2021, 2025) y;
SELECT 'CCER projects: ' || count(register_ccer_project(p, p, t, pr))
  FROM (VALUES ('GD-OW-0001', 'offshore_wind', '440000'), ('FJ-FR-0002', 'afforestation', '350000'),
               ('QH-ST-0003', 'solar_thermal', '630000'), ('HN-MG-0004', 'mangrove', '460000')) v(p, t, pr);

-- Five years: allocation, confirmed emissions, purchases, surrender, close ---------------------
-- emissions of unit n in year y: 50,000 .. 2,049,999 t; allocation 85%-104% of it (70% as a
-- pre-allocation, the rest as a true-up for one unit in five, else in the same posting)
CREATE FUNCTION pg_temp.emissions(n bigint, y int) RETURNS bigint LANGUAGE sql IMMUTABLE AS
$$ SELECT 50000 + (n * 7919 + y * 104729) % 2000000 $$;
CREATE FUNCTION pg_temp.allocation(n bigint, y int) RETURNS bigint LANGUAGE sql IMMUTABLE AS
$$ SELECT (pg_temp.emissions(n, y) * (85 + (n * 31 + y) % 20) / 100) $$;

CREATE FUNCTION pg_temp.play_year(y int, surrender_share numeric) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r   record;
    t0  timestamptz;
    need bigint;
    have bigint;
    ccer bigint;
    run  bigint;
    prj text[] := ARRAY['GD-OW-0001', 'FJ-FR-0002', 'QH-ST-0003', 'HN-MG-0004'];
BEGIN
    t0 := clock_timestamp();
    PERFORM set_config('carbonmkt.clock', (y + 1) || '-03-02 09:00:00+08', false);
    FOR r IN SELECT alloc_account, sum(pg_temp.allocation(n, y)) AS t FROM unit GROUP BY 1 LOOP
        PERFORM issue_cea(r.alloc_account, y, r.t::bigint);
    END LOOP;
    PERFORM issue_cea(1, y, 400000000);
    PERFORM issue_ccer(1, format('CCER:%s:%s:1-20000000', p, y)::ccer) FROM unnest(prj) p;
    PERFORM transfer_cea(1, current_setting('bench.fund')::bigint, y, 400000000);
    -- the provinces' transfers, adopted by the allocation room as pre-allocations; the
    -- true-up (追加) of one unit in five as an adjustment
    PERFORM adopt_preallocation(y, ARRAY(
                SELECT transfer_cea(u.alloc_account, u.account_id, y,
                                    CASE WHEN u.n % 5 = 0 THEN pg_temp.allocation(u.n, y) * 7 / 10
                                         ELSE pg_temp.allocation(u.n, y) END)
                  FROM unit u ORDER BY u.n));
    PERFORM amend_allocation(u.participant_id, pg_temp.allocation(u.n, y) - pg_temp.allocation(u.n, y) * 7 / 10, y,
                              'correction', reference => format('bench-trueup-%s-%s', y, u.n))
       FROM unit u WHERE u.n % 5 = 0 ORDER BY u.n;
    -- the final allocations (核定配额), equal to the pre-allocations, as fixture rows of the
    -- allocation room (no facilities or production data behind them): without a final
    -- allocation the relief rule of 2019-2022 keeps the power units' obligations pending and
    -- the period cannot close (CM509)
    run := carbonmkt._begin_run('final', 'CN', y, NULL, 'compliance_views fixture');
    INSERT INTO allocation (participant_id, year, stage, computed_t, tonnes, basis, run_id)
    SELECT a.participant_id, y, 'final', a.tonnes, a.tonnes, 'compliance_views fixture', run
      FROM allocation a WHERE a.year = y AND a.stage = 'preallocation';
    INSERT INTO build_times VALUES (y || ' allocation', extract(epoch FROM clock_timestamp() - t0));

    INSERT INTO confirmed_emission (participant_id, year, emissions_t, basis, confirmed_at)
    SELECT participant_id, y, pg_temp.emissions(n, y), CASE WHEN n % 97 = 0 THEN 'estimated' ELSE 'verified' END,
           make_date(y + 1, 5, 30)
      FROM unit WHERE n % 211 <> 0;      -- a few units without confirmed emissions

    t0 := clock_timestamp();
    PERFORM set_config('carbonmkt.clock', (y + 1) || '-11-02 09:00:00+08', false);
    FOR r IN SELECT u.n, u.account_id, s.obligation_t, s.offset_cap_t, s.remaining_t
               FROM obligation_status s JOIN unit u USING (participant_id)
              WHERE s.period = y AND s.obligation_t IS NOT NULL AND u.n % 100 < surrender_share * 100
              ORDER BY u.n LOOP
        need := CASE WHEN r.n % 50 = 0 THEN r.remaining_t * 9 / 10 ELSE r.remaining_t END;   -- 2% fall short
        ccer := 0;
        IF r.n % 10 = 3 THEN                                       -- 10% use CCER up to the cap
            ccer := least(r.offset_cap_t, need);
            PERFORM transfer_ccer(1, r.account_id, prj[1 + (r.n / 10) % 4], y, ccer);
            PERFORM surrender_ccer(r.account_id, prj[1 + (r.n / 10) % 4], y, ccer, y);
        END IF;
        SELECT coalesce(sum(balance), 0) INTO have FROM holding
         WHERE account_id = r.account_id AND instrument = 'CEA' AND vintage = y;
        IF have < need - ccer THEN                                 -- buy what is missing
            PERFORM transfer_cea(current_setting('bench.fund')::bigint, r.account_id, y, need - ccer - have);
        END IF;
        IF need - ccer > 0 THEN
            PERFORM surrender_cea(r.account_id, y, need - ccer, y);
        END IF;
    END LOOP;
    INSERT INTO build_times VALUES (y || ' surrender', extract(epoch FROM clock_timestamp() - t0));
END $$;
\o /dev/null
SELECT set_config('bench.fund', :'fund', false);
\o

CREATE FUNCTION pg_temp.close_year(y int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM set_config('carbonmkt.clock', (y + 2) || '-01-05 09:00:00+08', false);
    PERFORM record_average_price(d::date, (6000 + y * 10 + extract(day FROM d)::int) / 100.0, 'bench')
       FROM generate_series(make_date(y + 1, 12, 1), make_date(y + 1, 12, 31), '1 day') d;
    PERFORM close_period(y);
    INSERT INTO build_times VALUES (y || ' close', extract(epoch FROM clock_timestamp() - t0));
END $$;

\o /dev/null
SELECT pg_temp.play_year(2021, 1), pg_temp.close_year(2021);
SELECT pg_temp.play_year(2022, 1), pg_temp.close_year(2022);
SELECT pg_temp.play_year(2023, 1), pg_temp.close_year(2023);
SELECT pg_temp.play_year(2024, 1), pg_temp.close_year(2024);
SELECT pg_temp.play_year(2025, 0.5);
\o

-- Trading volume: 150,000 trades (300,000 journal legs) inserted directly -------------------
DO $$
DECLARE
    t0 timestamptz := clock_timestamp();
    p0 bigint;
BEGIN
    SELECT coalesce(max(posting_id), 0) INTO p0 FROM posting;
    INSERT INTO posting (operation, initiator, request, business_date, recorded_at)
    SELECT 'bench_trade', 'bench', 'trade ' || i, '2026-04-01', '2026-04-01 10:00+08'
      FROM generate_series(1, current_setting('bench.trades')::int) i;
    INSERT INTO journal (posting_id, account_id, seq, kind, instrument, vintage, project, amount, held_change,
                         balance_after, held_after, counterparty, business_date, recorded_at, prev_hash, hash)
    SELECT p0 + i, CASE WHEN leg = 1 THEN a.account_id ELSE b.account_id END, 0,
           CASE WHEN leg = 1 THEN 'debit' ELSE 'credit' END::entry_kind, 'CEA', 2025, '',
           CASE WHEN leg = 1 THEN -q ELSE q END, 0, 0, 0,
           CASE WHEN leg = 1 THEN b.account_id ELSE a.account_id END,
           '2026-04-01', '2026-04-01 10:00+08', '\x', '\x'
      FROM generate_series(1::bigint, current_setting('bench.trades')::bigint) i
      CROSS JOIN LATERAL (SELECT 1 + (i * 7919) % current_setting('bench.units')::int AS na,
                                 1 + (i * 104729 + 17) % current_setting('bench.units')::int AS nb,
                                 1 + (i * 31) % 5000 AS q) x
      JOIN unit a ON a.n = x.na JOIN unit b ON b.n = x.nb
      CROSS JOIN generate_series(1, 2) leg
     ORDER BY i, leg;
    INSERT INTO build_times VALUES ('trading volume (' || 2 * current_setting('bench.trades')::int || ' legs)', extract(epoch FROM clock_timestamp() - t0));
END $$;
-- The exchange's 2025 tape: products CEA2021-CEA2025, a day row per product and trading day,
-- bench.trades trades (95% listed, 4% block, 1% one-way bidding), prices around 75 CNY
SET session_replication_role = replica;    -- fixture rows: no orders behind the trades
DO $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    INSERT INTO product (code, instrument, vintage, reference_price_fen, clearing_account, listed_at)
    SELECT 'CEA' || v, 'CEA', v, 7500, current_setting('bench.fund')::bigint, '2025-01-02 09:00+08'
      FROM generate_series(2021, 2025) v;
    CREATE TEMP TABLE bench_day AS
    SELECT d::date AS d, row_number() OVER (ORDER BY d) AS k
      FROM generate_series('2025-01-02'::date, '2025-12-31', '1 day') d
     WHERE carbonmkt.is_trading_day(d::date, 'CN');
    INSERT INTO product_day (product_id, business_date, prev_close_fen, close_fen, closed_at)
    SELECT p.product_id, b.d, 7000 + (b.k * 37 + p.product_id * 11) % 1000, 7000 + ((b.k + 1) * 37 + p.product_id * 11) % 1000,
           b.d + time '15:05'
      FROM product p CROSS JOIN bench_day b;
    INSERT INTO trade (product_id, mode, business_date, executed_at, price_fen, quantity, buy_order_id, sell_order_id,
                       buyer_id, seller_id, buyer_fee_fen, seller_fee_fen)
    SELECT p.product_id, CASE WHEN i % 100 < 95 THEN 'listed' WHEN i % 100 < 99 THEN 'block' ELSE 'auction' END::trade_mode,
           b.d, b.d + time '09:30' + make_interval(secs => i % 18000), 7000 + (i * 7919) % 1000,
           CASE WHEN i % 100 BETWEEN 95 AND 98 THEN 100000 + i % 50000 ELSE 1 + (i * 31) % 5000 END,
           2 * i, 2 * i + 1, 1 + (i * 7) % 3000, 2 + (i * 7) % 3000, 0, 0
      FROM generate_series(1, current_setting('bench.trades')::int) i
      JOIN bench_day b ON b.k = 1 + i % (SELECT count(*) FROM bench_day)
      JOIN product p ON p.code = 'CEA' || (2021 + i % 5);
    -- the daily statistics end_of_day() keeps with each close (market_day_stats)
    INSERT INTO market_day_stats
    SELECT d.product_id, d.business_date, f.open_fen, f.high_fen, f.low_fen, f.last_fen, f.listed_volume_t,
           f.listed_turnover_fen, f.block_volume_t, f.block_turnover_fen, f.auction_volume_t, f.auction_turnover_fen,
           f.volume_t, f.turnover_fen, coalesce(f.trades, 0)
      FROM product_day d
      LEFT JOIN _market_day_figures f ON f.product_id = d.product_id AND f.business_date = d.business_date
     WHERE d.closed_at IS NOT NULL;
    -- and the trading statistics per participant end_of_day() keeps with each close
    PERFORM carbonmkt._keep_trading_months();
    INSERT INTO build_times VALUES ('market tape (' || current_setting('bench.trades') || ' trades)', extract(epoch FROM clock_timestamp() - t0));
END $$;
SET session_replication_role = origin;
VACUUM ANALYZE;

SELECT format('  %-32s %6s s', step, to_char(s, 'FM9990.0')) FROM build_times;
SELECT format('compliance_views: %s units, %s periods (%s closed), %s obligations, %s journal rows (%s), %s sanctions',
              (SELECT count(*) FROM unit), (SELECT count(*) FROM compliance_period),
              (SELECT count(*) FROM compliance_period WHERE status = 'closed'),
              (SELECT count(*) FROM obligation), (SELECT count(*) FROM journal),
              pg_size_pretty(pg_total_relation_size('carbonmkt.journal')), (SELECT count(*) FROM sanction));

-- Sanity: the results are right, or the bench fails --------------------------------------
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM verify_ledger() v WHERE v.problem NOT IN ('running_balance_mismatch', 'balance_mismatch',
                                                                     'negative_or_overheld', 'conservation')) THEN
        RAISE EXCEPTION 'compliance_views: the hash chains are broken';
    END IF;
    IF (SELECT count(*) FROM bi_compliance_status) <> (SELECT count(*) FROM obligation WHERE period < 2025)
                                                      + (SELECT count(*) FROM _obligation_figures) THEN
        RAISE EXCEPTION 'compliance_views: bi_compliance_status has the wrong number of rows';
    END IF;
    IF EXISTS (SELECT 1 FROM bi_allowance_supply WHERE issued_t <> unallocated_t + held_t + surrendered_t + cancelled_t) THEN
        RAISE EXCEPTION 'compliance_views: allowance supply does not add up';
    END IF;
    IF EXISTS (SELECT 1 FROM obligation_status WHERE surrendered_ccer_t > offset_cap_t OR remaining_t < 0) THEN
        RAISE EXCEPTION 'compliance_views: an offset cap was exceeded';
    END IF;
    IF (SELECT sum(tonnes) FROM bi_ccer_use) <> (SELECT sum(surrendered_ccer_t) FROM obligation) THEN
        RAISE EXCEPTION 'compliance_views: CCER use disagrees with the obligations';
    END IF;
END $$;
DO $$
BEGIN
    IF (SELECT sum(volume_t) FROM bi_market_daily) <> (SELECT sum(quantity) FROM trade)
       OR (SELECT count(*) FROM bi_market_daily) <> (SELECT count(*) FROM product_day) THEN
        RAISE EXCEPTION 'compliance_views: bi_market_daily disagrees with the trade tape';
    END IF;
    IF EXISTS (SELECT 1 FROM allocation_result WHERE issued_t - owed_t + pending_t <> entitlement_t) THEN
        RAISE EXCEPTION 'compliance_views: allocation_result does not balance';
    END IF;
END $$;
SELECT format('  national completion %s: %s (%s of %s units compliant)', period, completion_rate, compliant_units,
              units_with_obligation)
  FROM bi_completion_by_period ORDER BY period;

-- Timing ---------------------------------------------------------------------------------
CREATE TEMP TABLE q (name text, sql text, ord int);
INSERT INTO q VALUES
  ('baseline: read obligation', 'SELECT count(*), sum(length(x::text)) FROM carbonmkt.obligation x', 0),
  ('obligation_status', 'SELECT count(*), sum(length(x::text)) FROM carbonmkt.obligation_status x', 1),
  ('bi_compliance_status', 'SELECT count(*), sum(length(x::text)) FROM carbonmkt.bi_compliance_status x', 2),
  ('bi_completion_by_period', 'SELECT count(*), sum(length(x::text)) FROM carbonmkt.bi_completion_by_period x', 3),
  ('bi_completion_by_province', 'SELECT count(*), sum(length(x::text)) FROM carbonmkt.bi_completion_by_province x', 4),
  ('bi_completion_by_sector', 'SELECT count(*), sum(length(x::text)) FROM carbonmkt.bi_completion_by_sector x', 5),
  ('bi_allowance_supply', 'SELECT count(*), sum(length(x::text)) FROM carbonmkt.bi_allowance_supply x', 6),
  ('bi_ccer_use', 'SELECT count(*), sum(length(x::text)) FROM carbonmkt.bi_ccer_use x', 7),
  ('bi_emissions_coverage', 'SELECT count(*), sum(length(x::text)) FROM carbonmkt.bi_emissions_coverage x', 8),
  ('bi_price_history', 'SELECT count(*), sum(length(x::text)) FROM carbonmkt.bi_price_history x', 9),
  ('credit_platform_record', 'SELECT count(*), sum(length(x::text)) FROM carbonmkt.credit_platform_record x', 10),
  ('bi_market_daily', 'SELECT count(*), sum(length(x::text)) FROM carbonmkt.bi_market_daily x', 16),
  ('dash: market, December 2025', 'SELECT count(*), sum(length(x::text)) FROM (SELECT * FROM carbonmkt.bi_market_daily WHERE trade_date >= ''2025-12-01'') x', 17),
  ('dash: 2025 worst 20 shortfalls', 'SELECT count(*), sum(length(x::text)) FROM (SELECT * FROM carbonmkt.bi_compliance_status WHERE period = 2025 ORDER BY remaining_t DESC NULLS LAST LIMIT 20) x', 11),
  ('dash: 2025 per province', 'SELECT count(*), sum(length(x::text)) FROM (SELECT * FROM carbonmkt.bi_completion_by_province WHERE period = 2025) x', 12),
  ('dash: one unit, all periods', 'SELECT count(*), sum(length(x::text)) FROM (SELECT * FROM carbonmkt.bi_compliance_status WHERE participant_id = 1500) x', 13),
  ('dash: 2025 compliant units', 'SELECT count(*), sum(length(x::text)) FROM (SELECT * FROM carbonmkt.bi_compliance_status WHERE period = 2025 AND status = ''compliant'') x', 14),
  ('dash: 2025 units short, cement', 'SELECT count(*), sum(length(x::text)) FROM (SELECT * FROM carbonmkt.bi_compliance_status WHERE period = 2025 AND remaining_t > 0 AND sector = ''cement'') x', 15);

CREATE TEMP TABLE times (name text, round int, ms double precision);
CREATE FUNCTION pg_temp.time_all() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    r  record;
    n  int := (SELECT count(*) FROM q);
BEGIN
    FOR r IN SELECT sql FROM q LOOP EXECUTE r.sql; END LOOP;        -- warm-up
    FOR rnd IN 1..5 LOOP
        FOR r IN SELECT * FROM q ORDER BY (ord + rnd) % n LOOP      -- rotate the order
            t0 := clock_timestamp();
            EXECUTE r.sql;
            INSERT INTO times VALUES (r.name, rnd, extract(epoch FROM clock_timestamp() - t0) * 1000);
        END LOOP;
    END LOOP;
END $$;
\o /dev/null
SELECT pg_temp.time_all();
\o
SELECT 'view timings, median of 5 rounds (target < 100 ms each; ratio to the baseline read of obligation):';
WITH med AS (SELECT name, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms FROM times GROUP BY name),
     base AS (SELECT ms FROM med WHERE name = 'baseline: read obligation')
SELECT format('  %-32s %8s ms  ratio %6s  %s', m.name, to_char(m.ms, 'FM99990.0'), to_char(m.ms / b.ms, 'FM9990.0'),
              CASE WHEN m.name LIKE 'baseline%' THEN '' WHEN m.ms < 100 THEN 'ok' ELSE 'MISSED' END)
  FROM med m CROSS JOIN base b JOIN q USING (name) ORDER BY q.ord;

-- The trigger on the posting path ------------------------------------------------------------
CREATE TEMP TABLE trig (mode text, round int, ms double precision);
CREATE FUNCTION pg_temp.surrenders(mode text, rnd int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    a  bigint[];
BEGIN
    -- 200 units of the open period that still owe something and hold 2025 CEA
    SELECT array_agg(u.account_id ORDER BY u.n) INTO a
      FROM (SELECT u.account_id, u.n FROM unit u
              JOIN obligation_status s ON s.participant_id = u.participant_id AND s.period = 2025 AND s.remaining_t > 10
              JOIN holding h ON h.account_id = u.account_id AND h.instrument = 'CEA' AND h.vintage = 2025 AND h.balance > 10
             ORDER BY (u.n * 37 + rnd) % current_setting('bench.units')::int LIMIT 200) u;
    IF coalesce(cardinality(a), 0) < 100 THEN
        RAISE EXCEPTION 'compliance_views: only % units left to surrender for 2025', coalesce(cardinality(a), 0);
    END IF;
    IF mode = 'without' THEN
        ALTER TABLE carbonmkt.journal DISABLE TRIGGER compliance_surrender;
    END IF;
    t0 := clock_timestamp();
    FOR i IN 1..cardinality(a) LOOP
        PERFORM carbonmkt.surrender_cea(a[i], 2025, 1, 2025);
    END LOOP;
    INSERT INTO trig VALUES (mode, rnd, extract(epoch FROM clock_timestamp() - t0) * 1000 / cardinality(a));
    IF mode = 'without' THEN
        ALTER TABLE carbonmkt.journal ENABLE TRIGGER compliance_surrender;
    END IF;
END $$;
\o /dev/null
SELECT pg_temp.surrenders(CASE WHEN (rnd + k) % 2 = 0 THEN 'with' ELSE 'without' END, rnd)
  FROM generate_series(1, 5) rnd, generate_series(0, 1) k ORDER BY rnd, k;
\o
WITH med AS (SELECT mode, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms FROM trig GROUP BY mode)
SELECT format('surrender_cea of 1 t, per surrender, median of 5 rounds of up to 200: with the compliance trigger %s ms, without %s ms; ratio with/without %s',
              to_char(w.ms, 'FM990.00'), to_char(wo.ms, 'FM990.00'), to_char(w.ms / wo.ms, 'FM990.00'))
  FROM med w, med wo WHERE w.mode = 'with' AND wo.mode = 'without';
