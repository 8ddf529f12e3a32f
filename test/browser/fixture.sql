-- test/browser/fixture.sql: a small national market for the dashboard's browser test
-- (test/browser/run.sh), built in a few seconds: 31 provinces with 8 key emitting units each
-- (248 units: power, cement, steel, aluminium), a fund, two annual periods (2023 closed with
-- a few shortfalls and their sanctions, 2024 open with four units in five surrendered),
-- CCER of four projects, a voluntary cancellation, monitoring plans for most units; then the
-- exchange's 2024 tape (CEA2023 and CEA2024, every trading day from March to December,
-- listed, block and one-way bidding trades) inserted directly with the products' day rows
-- and the daily statistics end_of_day() keeps.  Everything through the public functions but
-- the tape (the market's own flows are tested in sql/market.sql and the demo).
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2023-01-03 09:00:00+08';
\o /dev/null

CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;

DO $$
DECLARE
    r       record;
    pid     bigint;
    sectors text[] := ARRAY['power', 'power', 'power', 'power', 'cement', 'steel', 'aluminium', 'power'];
BEGIN
    PERFORM register_participant('Ministry of Ecology and Environment', 'national_authority', pg_temp.uscc('11100000MB0134256'));
    FOR r IN SELECT code, name FROM region ORDER BY code LOOP
        pid := register_participant(r.name || ' Department of Ecology and Environment', 'provincial_authority',
                                    pg_temp.uscc('11' || r.code || 'MB' || lpad(r.code, 7, '0')), r.code);
        PERFORM open_account(pid, 'allocation');
        FOR i IN 1..8 LOOP
            pid := register_participant(format('%s %s plant %s', r.name, sectors[i], i), 'key_emitter',
                                        pg_temp.uscc('91' || r.code || 'MA' || lpad((substr(r.code, 1, 2)::int * 10 + i)::text, 7, '0')),
                                        r.code, substr(r.code, 1, 2) || '0100', sectors[i]);
            PERFORM open_account(pid, 'holding');
        END LOOP;
    END LOOP;
    pid := register_participant('Green Carbon Fund', 'institution', pg_temp.uscc('91310000MA0000001'), '310000');
    PERFORM open_account(pid, 'holding', 'fund');
END $$;
CREATE TEMP TABLE unit AS
SELECT p.participant_id, h.account_id, p.province, p.sector,
       (SELECT a.account_id FROM account a WHERE a.kind = 'allocation' AND a.province = p.province) AS alloc_account,
       (SELECT a.participant_id FROM participant a WHERE a.kind = 'provincial_authority' AND a.province = p.province) AS authority,
       row_number() OVER (ORDER BY p.participant_id) AS n
  FROM participant p JOIN account h ON h.participant_id = p.participant_id AND h.kind = 'holding'
 WHERE p.kind = 'key_emitter';
SELECT set_config('fixture.fund', account_id::text, false) FROM account WHERE label = 'fund';

SELECT open_period(y, y || ' annual compliance', y, y, make_date(y + 1, 12, 31)) FROM generate_series(2023, 2024) y;
SELECT register_ccer_project(p, n, t, pr)
  FROM (VALUES ('GD-OW-0001', 'Guangdong offshore wind', 'offshore_wind', '440000'),
               ('FJ-FR-0002', 'Fujian afforestation', 'afforestation', '350000'),
               ('QH-ST-0003', 'Qinghai solar thermal', 'solar_thermal', '630000'),
               ('HN-MG-0004', 'Hainan mangroves', 'mangrove', '460000')) v(p, n, t, pr);

-- emissions of unit n in year y: 80,000 .. 2,079,999 t; allocation 88%-107% of it
CREATE FUNCTION pg_temp.emissions(n bigint, y int) RETURNS bigint LANGUAGE sql IMMUTABLE AS
$$ SELECT 80000 + (n * 7919 + y * 104729) % 2000000 $$;
CREATE FUNCTION pg_temp.allocation(n bigint, y int) RETURNS bigint LANGUAGE sql IMMUTABLE AS
$$ SELECT (pg_temp.emissions(n, y) * (88 + (n * 31 + y) % 20) / 100) $$;

CREATE FUNCTION pg_temp.play_year(y int, surrender_share int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r    record;
    need bigint;
    have bigint;
    ccer bigint;
    prj  text[] := ARRAY['GD-OW-0001', 'FJ-FR-0002', 'QH-ST-0003', 'HN-MG-0004'];
    fund bigint := current_setting('fixture.fund')::bigint;
BEGIN
    PERFORM set_config('carbonmkt.clock', (y + 1) || '-03-02 09:00:00+08', false);
    FOR r IN SELECT alloc_account, sum(pg_temp.allocation(n, y)) AS t FROM unit GROUP BY 1 LOOP
        PERFORM issue_cea(r.alloc_account, y, r.t::bigint);
    END LOOP;
    PERFORM issue_cea(1, y, 80000000);
    PERFORM issue_ccer(1, format('CCER:%s:%s:1-2000000', p, y)::ccer) FROM unnest(prj) p;
    PERFORM transfer_cea(1, fund, y, 80000000);
    PERFORM adopt_preallocation(y, ARRAY(SELECT transfer_cea(u.alloc_account, u.account_id, y, pg_temp.allocation(u.n, y))
                                           FROM unit u ORDER BY u.n));
    INSERT INTO confirmed_emission (participant_id, year, emissions_t, basis, confirmed_at)
    SELECT participant_id, y, pg_temp.emissions(n, y), CASE WHEN n % 41 = 0 THEN 'estimated' ELSE 'verified' END,
           make_date(y + 1, 5, 30)
      FROM unit WHERE n % 53 <> 0;      -- a few units without confirmed emissions

    PERFORM set_config('carbonmkt.clock', (y + 1) || '-11-02 09:00:00+08', false);
    FOR r IN SELECT u.n, u.account_id, s.offset_cap_t, s.remaining_t
               FROM obligation_status s JOIN unit u USING (participant_id)
              WHERE s.period = y AND s.obligation_t IS NOT NULL AND (u.n * 37) % 100 < surrender_share
              ORDER BY u.n LOOP
        -- one unit in 23 surrenders 85% (in 2023: short at the close), the others all
        need := CASE WHEN r.n % 23 = 0 THEN r.remaining_t * 85 / 100 ELSE r.remaining_t END;
        ccer := 0;
        IF r.n % 6 = 1 THEN                                        -- some use CCER up to the cap
            ccer := least(r.offset_cap_t, need);
            PERFORM transfer_ccer(1, r.account_id, prj[1 + (r.n / 6) % 4], y, ccer);
            PERFORM surrender_ccer(r.account_id, prj[1 + (r.n / 6) % 4], y, ccer, y);
        END IF;
        SELECT coalesce(sum(balance), 0) INTO have FROM holding
         WHERE account_id = r.account_id AND instrument = 'CEA' AND vintage = y;
        IF have < need - ccer THEN                                 -- buy what is missing
            PERFORM transfer_cea(fund, r.account_id, y, need - ccer - have);
        END IF;
        IF need - ccer > 0 THEN
            PERFORM surrender_cea(r.account_id, y, need - ccer, y);
        END IF;
    END LOOP;
END $$;

SELECT pg_temp.play_year(2023, 100);
SET carbonmkt.clock = '2025-01-05 09:00:00+08';
SELECT record_average_price(d::date, (8000 + extract(day FROM d)::int * 10) / 100.0, 'fixture: exchange daily report')
  FROM generate_series(date '2024-12-01', date '2024-12-31', '1 day') d;
SELECT close_period(2023);
SELECT pg_temp.play_year(2024, 80);
-- the fund cancels 25,000 t voluntarily (自愿注销) for a client's carbon neutrality
SELECT cancel_cea(current_setting('fixture.fund')::bigint, 2024, 25000, 'fixture-cancel-1', 'carbon neutrality of an event');

-- monitoring plans from 2024 for all units but one in twelve, approved by their province
SET carbonmkt.clock = '2023-12-15 10:00:00+08';
SELECT approve_monitoring_plan(file_monitoring_plan(u.participant_id, 2024, jsonb_build_object('method', 'calculation')),
                               acting_for => u.authority)
  FROM unit u WHERE u.n % 12 <> 5 ORDER BY u.n;

-- The exchange's 2024 tape ------------------------------------------------------------------
SET session_replication_role = replica;    -- fixture rows: no orders behind the trades
INSERT INTO product (code, instrument, vintage, reference_price_fen, clearing_account, listed_at)
SELECT 'CEA' || v, 'CEA', v, 7800, current_setting('fixture.fund')::bigint, '2024-03-01 09:00+08'
  FROM generate_series(2023, 2024) v;
CREATE TEMP TABLE tape_day AS
SELECT d::date AS d, row_number() OVER (ORDER BY d) AS k
  FROM generate_series(date '2024-03-01', date '2024-12-31', '1 day') d
 WHERE extract(isodow FROM d) < 6;        -- weekdays (the fixture loads no 2024 trading calendar)
-- a price path in fen: a slow rise from 78 CNY with a wave on it
CREATE TEMP TABLE tape_price AS
SELECT k, 7800 + k * 6 + (250 * sin(k / 9.0))::int AS fen FROM tape_day;
CREATE TEMP TABLE tape AS
SELECT i, b.d, b.k, p.product_id, p.code,
       CASE WHEN i % 40 < 36 THEN 'listed' WHEN i % 40 < 39 THEN 'block' ELSE 'auction' END::trade_mode AS mode,
       tp.fen + (i * 7919) % 160 - 80 - CASE WHEN p.code = 'CEA2023' THEN 150 ELSE 0 END AS price_fen,
       CASE WHEN i % 40 BETWEEN 36 AND 38 THEN 50000 + (i * 31) % 50000 ELSE 100 + (i * 131) % 5000 END AS quantity
  FROM generate_series(1, 4000) i
  JOIN tape_day b ON b.k = 1 + i % (SELECT count(*) FROM tape_day)
  JOIN tape_price tp ON tp.k = b.k
  JOIN product p ON p.code = CASE WHEN i % 3 = 0 THEN 'CEA2023' ELSE 'CEA2024' END;
INSERT INTO trade (product_id, mode, business_date, executed_at, price_fen, quantity, buy_order_id, sell_order_id,
                   buyer_id, seller_id, buyer_fee_fen, seller_fee_fen)
SELECT t.product_id, t.mode, t.d, t.d + time '09:30' + make_interval(secs => (t.i * 13) % 18000), t.price_fen, t.quantity,
       2 * t.i, 2 * t.i + 1, b.participant_id, s.participant_id, t.price_fen * t.quantity / 10000, t.price_fen * t.quantity / 10000
  FROM tape t
  JOIN unit b ON b.n = 1 + (t.i * 7) % 248
  JOIN unit s ON s.n = 1 + (t.i * 7 + 101) % 248
 ORDER BY t.d, t.i;
-- the day rows, each closed at the VWAP of its listed trades (else the previous close)
INSERT INTO product_day (product_id, business_date, prev_close_fen, close_fen, closed_at)
SELECT p.product_id, b.d, 0, NULL, b.d + time '15:05'
  FROM product p CROSS JOIN tape_day b;
DO $$
DECLARE
    r    record;
    prev bigint;
    dd   date;
BEGIN
    FOR r IN SELECT product_id, reference_price_fen FROM product LOOP
        prev := r.reference_price_fen;
        FOR dd IN SELECT b.d FROM tape_day b ORDER BY b.d LOOP
            UPDATE product_day d
               SET prev_close_fen = prev,
                   close_fen = coalesce((SELECT round(sum(t.price_fen * t.quantity)::numeric / sum(t.quantity))::bigint
                                           FROM trade t
                                          WHERE t.product_id = r.product_id AND t.business_date = dd
                                            AND t.mode = 'listed'), prev)
             WHERE d.product_id = r.product_id AND d.business_date = dd
            RETURNING close_fen INTO prev;
        END LOOP;
    END LOOP;
END $$;
INSERT INTO market_day_stats
SELECT d.product_id, d.business_date, f.open_fen, f.high_fen, f.low_fen, f.last_fen, f.listed_volume_t,
       f.listed_turnover_fen, f.block_volume_t, f.block_turnover_fen, f.auction_volume_t, f.auction_turnover_fen,
       f.volume_t, f.turnover_fen, coalesce(f.trades, 0)
  FROM product_day d
  LEFT JOIN _market_day_figures f ON f.product_id = d.product_id AND f.business_date = d.business_date
 WHERE d.closed_at IS NOT NULL;
-- and the trading statistics per participant end_of_day() keeps with each close
SELECT carbonmkt._keep_trading_months() IS NOT NULL AS kept;
SET session_replication_role = origin;
ANALYZE;
\o
SELECT format('fixture: %s units, %s obligations, %s trades on %s days, %s sanctions',
              (SELECT count(*) FROM unit), (SELECT count(*) FROM obligation), (SELECT count(*) FROM trade),
              (SELECT count(*) FROM tape_day), (SELECT count(*) FROM sanction)) AS fixture;
