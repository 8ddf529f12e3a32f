-------------------------------------------------------------------------------
-- reporting: the BI views (doc/bi.md).  Stable names (bi_*), one row meaning each,
-- every column documented.  They read the compliance room's obligation_status (so a
-- participant's login sees its own unit, a provincial authority its province) and the
-- registry ledger.  Runs after access.sql: the grants at the end are final.
--
-- Market statistics per day read the market room's product_day and the daily statistics
-- end_of_day() keeps (market_day_stats; live from the tape for a day not closed yet).  MRV's own data-quality view is the MRV room's; bi_emissions_coverage
-- is what can be computed from confirmed emissions alone.
-------------------------------------------------------------------------------

CREATE VIEW carbonmkt.bi_compliance_status AS
SELECT s.period, per.name AS period_name, s.participant_id, s.unit_name, s.credit_code,
       s.province, r.name_zh AS province_name, s.city, s.sector, sec.name_zh AS sector_name,
       s.period_status, s.deadline, s.emissions_t, s.emissions_basis, s.allocation_t,
       s.relief, s.relief_t, s.relief_reason, s.obligation_t,
       s.surrendered_cea_t, s.surrendered_ccer_t, s.surrendered_t, s.remaining_t, s.borrowed_t, s.offset_cap_t,
       CASE WHEN s.obligation_t = 0 THEN 1::numeric
            WHEN s.obligation_t > 0 THEN round(least(s.surrendered_t, s.obligation_t)::numeric / s.obligation_t, 4)
       END AS completion_ratio,
       s.status, s.compliance_code
  FROM carbonmkt.obligation_status s
  JOIN carbonmkt.compliance_period per ON per.period = s.period
  JOIN carbonmkt.region r ON r.code = s.province
  JOIN carbonmkt.sector sec ON sec.code = s.sector;
COMMENT ON VIEW carbonmkt.bi_compliance_status IS
  'BI: compliance status per key emitting unit and period (清缴履约情况): obligation_status with period, province and sector names and the completion ratio (surrendered, up to the obligation, / obligation).  Rows limited to what the login may see.';

-- completion rates: by tonnes (配额清缴完成率, what the MEE publishes) and by units, per
-- period and one key (none, province or sector): one block for the three views.  An
-- inlinable SQL function: with its constant argument the planner folds the key and
-- pushes a view's filters (e.g. period = 2024) down into obligation_status.
CREATE FUNCTION carbonmkt._completion(by_key text)
RETURNS TABLE (period int, key text, units bigint, units_with_obligation bigint, compliant_units bigint,
               shortfall_units bigint, open_units bigint, no_emissions_units bigint, obligation_t bigint,
               surrendered_t bigint, ccer_t bigint, remaining_t bigint, completion_rate numeric,
               unit_completion_rate numeric)
LANGUAGE sql STABLE AS
$$
SELECT s.period,
       CASE by_key WHEN 'province' THEN s.province::text WHEN 'sector' THEN s.sector END,
       count(*),
       count(*) FILTER (WHERE s.obligation_t IS NOT NULL),
       count(*) FILTER (WHERE s.status = 'compliant'),
       count(*) FILTER (WHERE s.status = 'shortfall'),
       count(*) FILTER (WHERE s.status = 'open'),
       count(*) FILTER (WHERE s.status = 'no_emissions'),
       coalesce(sum(s.obligation_t), 0)::bigint,
       coalesce(sum(least(s.surrendered_t, s.obligation_t)), 0)::bigint,
       coalesce(sum(s.surrendered_ccer_t), 0)::bigint,
       coalesce(sum(s.remaining_t), 0)::bigint,
       round(sum(least(s.surrendered_t, s.obligation_t))::numeric / nullif(sum(s.obligation_t), 0), 4),
       round((count(*) FILTER (WHERE s.status = 'compliant'))::numeric
             / nullif(count(*) FILTER (WHERE s.obligation_t IS NOT NULL), 0), 4)
  FROM carbonmkt.obligation_status s
 GROUP BY 1, 2
$$;
COMMENT ON FUNCTION carbonmkt._completion(text) IS
  'Internal: the completion columns of the bi_completion_* views per period and key (by_key: ''period'' none, ''province'', ''sector''), over the units the login sees in obligation_status.';

CREATE VIEW carbonmkt.bi_completion_by_period AS
SELECT c.period, per.name AS period_name, per.status AS period_status, per.deadline,
       c.units, c.units_with_obligation, c.compliant_units, c.shortfall_units, c.open_units, c.no_emissions_units,
       c.obligation_t, c.surrendered_t, c.ccer_t, c.remaining_t, c.completion_rate, c.unit_completion_rate
  FROM carbonmkt._completion('period') c
  JOIN carbonmkt.compliance_period per ON per.period = c.period;
COMMENT ON VIEW carbonmkt.bi_completion_by_period IS
  'BI: completion per period over the units the login sees (national for BI, registry and the national authority): units by status, tonnes due and surrendered, completion_rate = surrendered (up to each obligation) / obligation (配额清缴完成率), unit_completion_rate = compliant units / units with an obligation.';

CREATE VIEW carbonmkt.bi_completion_by_province AS
SELECT c.period, r.code AS province, r.name AS province_name_en, r.name_zh AS province_name,
       c.units, c.units_with_obligation, c.compliant_units, c.shortfall_units, c.open_units, c.no_emissions_units,
       c.obligation_t, c.surrendered_t, c.ccer_t, c.remaining_t, c.completion_rate, c.unit_completion_rate
  FROM carbonmkt._completion('province') c
  JOIN carbonmkt.region r ON r.code = c.key::char(6);
COMMENT ON VIEW carbonmkt.bi_completion_by_province IS
  'BI: completion per period and province (省): the columns of bi_completion_by_period for the units of each province.';

CREATE VIEW carbonmkt.bi_completion_by_sector AS
SELECT c.period, sec.code AS sector, sec.name AS sector_name_en, sec.name_zh AS sector_name,
       c.units, c.units_with_obligation, c.compliant_units, c.shortfall_units, c.open_units, c.no_emissions_units,
       c.obligation_t, c.surrendered_t, c.ccer_t, c.remaining_t, c.completion_rate, c.unit_completion_rate
  FROM carbonmkt._completion('sector') c
  JOIN carbonmkt.sector sec ON sec.code = c.key;
COMMENT ON VIEW carbonmkt.bi_completion_by_sector IS
  'BI: completion per period and sector (行业: power, cement, steel, aluminium): the columns of bi_completion_by_period for the units of each sector.';

CREATE VIEW carbonmkt.bi_allowance_supply AS
WITH stock AS (                 -- every CEA in existence is in some account (verify_ledger: conservation)
    SELECT h.vintage,
           sum(h.balance)::bigint AS issued_t,
           coalesce(sum(h.balance) FILTER (WHERE a.kind IN ('allocation', 'national_reserve')), 0)::bigint AS unallocated_t,
           coalesce(sum(h.balance) FILTER (WHERE a.kind IN ('holding', 'clearing')), 0)::bigint AS held_t,
           coalesce(sum(h.balance) FILTER (WHERE a.kind = 'cancellation'), 0)::bigint AS retired_t
      FROM carbonmkt.holding h JOIN carbonmkt.account a ON a.account_id = h.account_id
     WHERE h.instrument = 'CEA'
     GROUP BY h.vintage),
surrendered AS (
    SELECT d.vintage, sum(d.tonnes)::bigint AS surrendered_t
      FROM carbonmkt.surrender_detail d WHERE d.instrument = 'CEA' GROUP BY d.vintage)
SELECT st.vintage, st.issued_t, st.unallocated_t, st.held_t,
       CASE WHEN cl.closed THEN st.held_t ELSE 0 END AS banked_t,
       coalesce(su.surrendered_t, 0) AS surrendered_t,
       st.retired_t - coalesce(su.surrendered_t, 0) AS cancelled_t,
       coalesce(cl.closed, false) AS compliance_closed
  FROM stock st
  LEFT JOIN surrendered su ON su.vintage = st.vintage
  LEFT JOIN LATERAL (SELECT true AS closed FROM carbonmkt.compliance_period p
                      WHERE p.jurisdiction = 'CN' AND p.status = 'closed'
                        AND st.vintage BETWEEN p.first_year AND p.last_year LIMIT 1) cl ON true
 WHERE (SELECT carbonmkt.caller_sees_staff_rows());   -- fail closed (doc/security.md)
COMMENT ON VIEW carbonmkt.bi_allowance_supply IS
  'BI: CEA supply per vintage (配额供给): issued_t (签发; = everything held in any account, by the ledger''s conservation invariant), unallocated_t (in allocation accounts and the national reserve), held_t (in holding and clearing accounts), banked_t (held_t once the national period of the vintage is closed: carried over, 结转), surrendered_t (清缴, from surrender_detail), cancelled_t (voluntarily, 注销: the rest of the cancellation account), compliance_closed.  issued = unallocated + held + surrendered + cancelled.';

CREATE VIEW carbonmkt.bi_ccer_use AS
SELECT d.period, coalesce(cp.project_type, 'unregistered') AS project_type, t.name_zh AS project_type_name,
       count(DISTINCT d.participant_id) AS units, count(DISTINCT d.project) AS projects,
       sum(d.tonnes)::bigint AS tonnes,
       coalesce(sum(d.tonnes) FILTER (WHERE cp.province = p.province), 0)::bigint AS local_tonnes
  FROM carbonmkt.surrender_detail d
  JOIN carbonmkt.participant p ON p.participant_id = d.participant_id
  LEFT JOIN carbonmkt.ccer_project cp ON cp.project = d.project
  LEFT JOIN carbonmkt.ccer_project_type t ON t.code = cp.project_type
 WHERE d.instrument = 'CCER'
   AND (SELECT carbonmkt.caller_sees_staff_rows())   -- fail closed (doc/security.md)
 GROUP BY d.period, coalesce(cp.project_type, 'unregistered'), t.name_zh;
COMMENT ON VIEW carbonmkt.bi_ccer_use IS
  'BI: CCER used for compliance (抵销) per period and project type: units, projects, tonnes surrendered, of which from projects in the unit''s own province (local_tonnes).';

CREATE VIEW carbonmkt.bi_emissions_coverage AS
SELECT s.period, s.province, r.name_zh AS province_name,
       count(*) AS covered_units,
       count(*) FILTER (WHERE s.emissions_t IS NOT NULL) AS confirmed_units,
       count(*) FILTER (WHERE s.emissions_t IS NULL) AS missing_units,
       count(*) FILTER (WHERE s.emissions_basis = 'estimated') AS estimated_units,
       coalesce(sum(s.emissions_t), 0)::bigint AS confirmed_t,
       coalesce(sum(s.emissions_t) FILTER (WHERE s.emissions_basis = 'estimated'), 0)::bigint AS estimated_t,
       round((count(*) FILTER (WHERE s.emissions_t IS NOT NULL))::numeric / count(*), 4) AS coverage_rate
  FROM carbonmkt.obligation_status s
  JOIN carbonmkt.region r ON r.code = s.province
 GROUP BY s.period, s.province, r.name_zh;
COMMENT ON VIEW carbonmkt.bi_emissions_coverage IS
  'BI: data quality as compliance sees it, per period and province: covered units, units with confirmed emissions (经确认排放量) for every year of the period, units without (missing), units whose emissions were estimated by the province (估算, RULES.md 4), tonnes.  The MRV room''s own data-quality view (review tiers, deposits) is separate.';

CREATE VIEW carbonmkt.bi_price_history AS
SELECT d.price_date, d.average_price_fen, round(d.average_price_fen / 100.0, 2) AS average_price_cny, d.volume_t,
       d.price_source, d.source
  FROM carbonmkt._daily_prices('CN', '-infinity', 'infinity') d;
COMMENT ON VIEW carbonmkt.bi_price_history IS
  'BI: CEA average price per day of the national market (fen and CNY per tonne) with volume: the market''s own trades where it traded (price_source market: turnover / volume of every CEA trade of the day, from the trade tape market_trades), else the reference price recorded by hand (price_source reference_price, with its source).  The price source of the Decree 775 penalties.';

-- market statistics per day (RULES.md 5: open, high, low, close, volume, turnover), from the
-- market's _market_day: a closed day from the row end_of_day() kept (market_day_stats), a day
-- not closed yet live from the tape by index; a filter on trade_date reaches both.
CREATE VIEW carbonmkt.bi_market_daily AS
SELECT m.business_date AS trade_date, pr.code AS product, pr.instrument, pr.vintage, nullif(pr.project, '') AS project,
       c.previous_close AS previous_close_cny, c.close AS close_cny, m.closed_at IS NOT NULL AS close_final,
       c.close - c.previous_close AS change_cny,
       round((c.close - c.previous_close) / c.previous_close, 4) AS change_rate,
       (m.open_fen / 100.0)::numeric(14, 2) AS open_cny,
       ((m.high_fen / 100.0)::numeric(14, 2))::numeric AS high_cny, ((m.low_fen / 100.0)::numeric(14, 2))::numeric AS low_cny,
       (m.last_fen / 100.0)::numeric(14, 2) AS last_cny,
       coalesce(m.listed_volume_t, 0) AS listed_volume_t, coalesce(round(m.listed_turnover_fen / 100.0, 2), 0) AS listed_turnover_cny,
       coalesce(m.block_volume_t, 0) AS block_volume_t, coalesce(round(m.block_turnover_fen / 100.0, 2), 0) AS block_turnover_cny,
       coalesce(m.auction_volume_t, 0) AS auction_volume_t,
       coalesce(round(m.auction_turnover_fen / 100.0, 2), 0) AS auction_turnover_cny,
       coalesce(m.volume_t, 0) AS volume_t, coalesce(round(m.turnover_fen / 100.0, 2), 0) AS turnover_cny,
       m.trades,
       round(round(m.turnover_fen / 100.0, 2) / nullif(m.volume_t, 0), 2) AS average_price_cny
  FROM carbonmkt._market_day m
  JOIN carbonmkt.product pr ON pr.product_id = m.product_id
  -- the official close as market_close has it: fixed by end_of_day(), else the VWAP so far
  -- of listed agreement, else the previous close
  CROSS JOIN LATERAL (SELECT (m.prev_close_fen / 100.0)::numeric(14, 2) AS previous_close,
                             (coalesce(m.close_fen, round(m.listed_turnover_fen::numeric / m.listed_volume_t)::bigint,
                                       m.prev_close_fen) / 100.0)::numeric(14, 2) AS close) c;
COMMENT ON VIEW carbonmkt.bi_market_daily IS
  'BI: market statistics per trading day and product (CEA by vintage, CCER by project and vintage), the figures of the market''s public views market_close and market_trades (the trade tape; the same figures as market_daily), kept per closed day by end_of_day() (market_day_stats) and computed live for a day not closed yet (RULES.md 5, [S1 Art. 35]): previous close, official close (收盘价: the VWAP of the day''s listed-agreement trades, else the previous close) and whether end_of_day() fixed it, change against the previous close, open, high, low and last of listed agreement (挂牌协议), volume and turnover of listed agreement, block agreement (大宗协议) and one-way bidding (单向竞价) and in total, trades, and the average price of all trades (turnover / volume).  Prices and money in CNY, volumes in tonnes.  One row per product and day with market activity (the market''s product_day: a day''s first order creates it, and every trade follows an order of its day).';
COMMENT ON COLUMN carbonmkt.bi_market_daily.trade_date IS 'Business (trading) day.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.product IS 'Product code, e.g. CEA2024.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.vintage IS 'Vintage of the product.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.project IS 'CCER project, NULL for CEA.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.previous_close_cny IS 'Previous close (前收盘价), the centre of the day''s price band, CNY per t.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.close_cny IS 'Closing price (收盘价), CNY per t: VWAP of the day''s listed-agreement trades, else the previous close.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.close_final IS 'Whether end_of_day() fixed the close (before that, the value so far).';
COMMENT ON COLUMN carbonmkt.bi_market_daily.change_cny IS 'close_cny - previous_close_cny.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.change_rate IS 'change_cny / previous_close_cny, 4 decimals (0.0125 = +1.25%).';
COMMENT ON COLUMN carbonmkt.bi_market_daily.open_cny IS 'First listed-agreement trade price of the day, NULL without listed trades.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.high_cny IS 'Highest listed-agreement trade price of the day.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.low_cny IS 'Lowest listed-agreement trade price of the day.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.last_cny IS 'Last listed-agreement trade price of the day.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.listed_volume_t IS 'Volume of listed agreement (挂牌协议交易), t.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.listed_turnover_cny IS 'Turnover of listed agreement, CNY.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.block_volume_t IS 'Volume of block agreement (大宗协议交易), t.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.block_turnover_cny IS 'Turnover of block agreement, CNY.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.auction_volume_t IS 'Volume of one-way bidding (单向竞价), t.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.auction_turnover_cny IS 'Turnover of one-way bidding, CNY.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.volume_t IS 'Volume of every mode, t.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.turnover_cny IS 'Turnover of every mode, CNY.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.trades IS 'Number of trades of every mode.';
COMMENT ON COLUMN carbonmkt.bi_market_daily.average_price_cny IS 'Average price of every trade of the day (turnover / volume), CNY per t; NULL without trades.';

-- the columns of the views above
COMMENT ON COLUMN carbonmkt.bi_compliance_status.period IS 'Compliance period.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.period_name IS 'Its name.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.participant_id IS 'The key emitting unit (重点排放单位).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.unit_name IS 'Its name.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.credit_code IS 'Its unified social credit code (统一社会信用代码).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.province IS 'Its province (GB/T 2260).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.province_name IS 'The province''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.city IS 'Its city (GB/T 2260).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.sector IS 'Its sector.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.sector_name IS 'The sector''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.period_status IS 'open or closed.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.deadline IS 'Surrender deadline (清缴截止日).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.emissions_t IS 'Confirmed emissions of the period, t CO2e; NULL if a year is missing.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.emissions_basis IS 'verified or estimated (估算).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.allocation_t IS 'Allocation of the period''s years, t.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.relief IS 'none, gap_cap or gas_cap.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.relief_t IS 'Tonnes of relief.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.relief_reason IS 'The relief with its numbers.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.obligation_t IS 'Tonnes due (应清缴量).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.surrendered_cea_t IS 'CEA surrendered so far, t.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.surrendered_ccer_t IS 'CCER surrendered so far, t.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.surrendered_t IS 'surrendered_cea_t + surrendered_ccer_t.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.remaining_t IS 'Still due, t (NULL without an obligation).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.borrowed_t IS 'Borrowed (预支) for the period, t.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.offset_cap_t IS 'The CCER cap (抵销上限), t.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.completion_ratio IS 'Surrendered (up to the obligation) / obligation, 4 decimals; 1 for an obligation of 0.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.status IS 'no_emissions, open, compliant or shortfall.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.compliance_code IS 'A (compliant), B (short), C (no emissions), D (estimated).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.units IS 'Covered units.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.units_with_obligation IS 'Units with confirmed emissions (an obligation).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.compliant_units IS 'Units with status compliant (履约).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.shortfall_units IS 'Units with status shortfall (未足额清缴).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.open_units IS 'Units with status open.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.no_emissions_units IS 'Units without confirmed emissions.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.obligation_t IS 'Tonnes due.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.surrendered_t IS 'Tonnes surrendered, each unit counted up to its obligation.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.ccer_t IS 'Of which CCER, t.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.remaining_t IS 'Tonnes still due.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.completion_rate IS 'surrendered_t / obligation_t (配额清缴完成率), 4 decimals.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.unit_completion_rate IS 'compliant_units / units_with_obligation, 4 decimals.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.units IS 'Covered units.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.units_with_obligation IS 'Units with confirmed emissions (an obligation).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.compliant_units IS 'Units with status compliant (履约).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.shortfall_units IS 'Units with status shortfall (未足额清缴).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.open_units IS 'Units with status open.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.no_emissions_units IS 'Units without confirmed emissions.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.obligation_t IS 'Tonnes due.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.surrendered_t IS 'Tonnes surrendered, each unit counted up to its obligation.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.ccer_t IS 'Of which CCER, t.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.remaining_t IS 'Tonnes still due.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.completion_rate IS 'surrendered_t / obligation_t (配额清缴完成率), 4 decimals.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.unit_completion_rate IS 'compliant_units / units_with_obligation, 4 decimals.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.units IS 'Covered units.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.units_with_obligation IS 'Units with confirmed emissions (an obligation).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.compliant_units IS 'Units with status compliant (履约).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.shortfall_units IS 'Units with status shortfall (未足额清缴).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.open_units IS 'Units with status open.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.no_emissions_units IS 'Units without confirmed emissions.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.obligation_t IS 'Tonnes due.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.surrendered_t IS 'Tonnes surrendered, each unit counted up to its obligation.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.ccer_t IS 'Of which CCER, t.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.remaining_t IS 'Tonnes still due.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.completion_rate IS 'surrendered_t / obligation_t (配额清缴完成率), 4 decimals.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.unit_completion_rate IS 'compliant_units / units_with_obligation, 4 decimals.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.period IS 'Compliance period.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.period_name IS 'Its name.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.period_status IS 'open or closed.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.deadline IS 'Surrender deadline.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.period IS 'Compliance period.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.province IS 'Province (GB/T 2260).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.province_name_en IS 'Its English name.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.province_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.period IS 'Compliance period.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.sector IS 'Sector code.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.sector_name_en IS 'Its English name.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.sector_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.vintage IS 'CEA vintage.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.issued_t IS 'Issued (签发): held in any account, t.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.unallocated_t IS 'In allocation accounts and the national reserve, t.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.held_t IS 'In holding and clearing accounts, t.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.banked_t IS 'held_t once the national period of the vintage is closed (结转), t.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.surrendered_t IS 'Surrendered for compliance (清缴), t.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.cancelled_t IS 'Voluntarily cancelled (注销), t.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.compliance_closed IS 'Whether the national period of the vintage is closed.';
COMMENT ON COLUMN carbonmkt.bi_ccer_use.period IS 'Compliance period.';
COMMENT ON COLUMN carbonmkt.bi_ccer_use.project_type IS 'CCER project type (unregistered: not in ccer_project).';
COMMENT ON COLUMN carbonmkt.bi_ccer_use.project_type_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_ccer_use.units IS 'Units that surrendered CCER of the type.';
COMMENT ON COLUMN carbonmkt.bi_ccer_use.projects IS 'Projects of the type surrendered.';
COMMENT ON COLUMN carbonmkt.bi_ccer_use.tonnes IS 'CCER surrendered (抵销), t.';
COMMENT ON COLUMN carbonmkt.bi_ccer_use.local_tonnes IS 'Of which from projects in the unit''s own province, t.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.period IS 'Compliance period.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.province IS 'Province (GB/T 2260).';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.province_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.covered_units IS 'Covered units.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.confirmed_units IS 'Units with confirmed emissions for every year of the period.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.missing_units IS 'Units without.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.estimated_units IS 'Units whose emissions the province estimated (估算).';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.confirmed_t IS 'Confirmed emissions, t CO2e.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.estimated_t IS 'Of which estimated, t CO2e.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.coverage_rate IS 'confirmed_units / covered_units, 4 decimals.';
COMMENT ON COLUMN carbonmkt.bi_price_history.price_date IS 'The day.';
COMMENT ON COLUMN carbonmkt.bi_price_history.average_price_fen IS 'Average CEA price of the day, fen per t.';
COMMENT ON COLUMN carbonmkt.bi_price_history.average_price_cny IS 'The same in CNY per t.';
COMMENT ON COLUMN carbonmkt.bi_price_history.volume_t IS 'Volume of the day (market), or the reference price''s volume (may be NULL), t.';
COMMENT ON COLUMN carbonmkt.bi_price_history.price_source IS 'market or reference_price.';
COMMENT ON COLUMN carbonmkt.bi_price_history.source IS 'The trades counted, or the reference price''s source.';

-------------------------------------------------------------------------------
-- Positions, trading, concentration, CCER supply, cancellations, penalties, the monthly
-- market summary, data quality and the as-of time (issue 18).  Views that show a
-- participant's rows filter them by caller_scope() (the compliance room's scope: registry and
-- BI every participant, an authority its province or city, a participant's login itself),
-- evaluated once per query; the aggregates are granted to staff, authorities and BI only.
-- CNY is never a "vintage 0": cash has its own view.
-------------------------------------------------------------------------------

CREATE VIEW carbonmkt.bi_positions AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT p.participant_id, p.name AS participant_name, p.kind::text AS participant_kind, p.province,
       r.name_zh AS province_name, p.sector, sec.name_zh AS sector_name, a.kind::text AS account_kind,
       h.instrument::text AS instrument, h.vintage, nullif(h.project, '') AS project,
       sum(h.balance)::bigint AS balance_t, sum(h.held)::bigint AS held_t,
       sum(h.balance - h.held)::bigint AS available_t, count(*)::int AS accounts
  FROM carbonmkt.holding h
  JOIN carbonmkt.account a ON a.account_id = h.account_id
  JOIN carbonmkt.participant p ON p.participant_id = a.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province
  LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 CROSS JOIN s
 WHERE h.instrument <> 'CNY' AND (h.balance <> 0 OR h.held <> 0)
   AND (s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city)
 GROUP BY p.participant_id, p.name, p.kind, p.province, r.name_zh, p.sector, sec.name_zh, a.kind,
          h.instrument, h.vintage, h.project;
COMMENT ON VIEW carbonmkt.bi_positions IS
  'BI: positions (持仓) per participant, account kind and asset: CEA per vintage, CCER per project and vintage, in tonnes, with the participant''s name, province and sector.  Only non-zero positions; CNY is in bi_cash_positions.  A participant''s login sees its own rows, an authority its jurisdiction, registry and BI every participant.';
COMMENT ON COLUMN carbonmkt.bi_positions.participant_id IS 'The account holder.';
COMMENT ON COLUMN carbonmkt.bi_positions.participant_name IS 'Its name.';
COMMENT ON COLUMN carbonmkt.bi_positions.participant_kind IS 'key_emitter (重点排放单位), institution, individual, exchange, ... (participant_kind).';
COMMENT ON COLUMN carbonmkt.bi_positions.province IS 'Its province (GB/T 2260 code), NULL if none.';
COMMENT ON COLUMN carbonmkt.bi_positions.province_name IS 'The province''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_positions.sector IS 'Its sector (key emitting units), NULL otherwise.';
COMMENT ON COLUMN carbonmkt.bi_positions.sector_name IS 'The sector''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_positions.account_kind IS 'holding (持有账户), clearing (the exchange''s 结算账户) or allocation (省级配额账户).';
COMMENT ON COLUMN carbonmkt.bi_positions.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_positions.vintage IS 'Vintage (年度).';
COMMENT ON COLUMN carbonmkt.bi_positions.project IS 'CCER project, NULL for CEA.';
COMMENT ON COLUMN carbonmkt.bi_positions.balance_t IS 'Balance, t (tCO2e).';
COMMENT ON COLUMN carbonmkt.bi_positions.held_t IS 'Of which frozen (冻结: open orders, pledges, judicial holds), t.';
COMMENT ON COLUMN carbonmkt.bi_positions.available_t IS 'balance_t - held_t, t.';
COMMENT ON COLUMN carbonmkt.bi_positions.accounts IS 'Accounts of this kind summed.';

CREATE VIEW carbonmkt.bi_cash_positions AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT p.participant_id, p.name AS participant_name, p.kind::text AS participant_kind, p.province,
       r.name_zh AS province_name, p.sector, sec.name_zh AS sector_name, a.kind::text AS account_kind,
       sum(h.balance)::bigint AS balance_fen, sum(h.held)::bigint AS held_fen,
       round(sum(h.balance) / 100.0, 2) AS balance_cny, round(sum(h.held) / 100.0, 2) AS held_cny,
       round(sum(h.balance - h.held) / 100.0, 2) AS available_cny, count(*)::int AS accounts
  FROM carbonmkt.holding h
  JOIN carbonmkt.account a ON a.account_id = h.account_id
  JOIN carbonmkt.participant p ON p.participant_id = a.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province
  LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 CROSS JOIN s
 WHERE h.instrument = 'CNY'
   AND (s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city)
 GROUP BY p.participant_id, p.name, p.kind, p.province, r.name_zh, p.sector, sec.name_zh, a.kind;
COMMENT ON VIEW carbonmkt.bi_cash_positions IS
  'BI: cash (资金, CNY) per participant and account kind (cash accounts; the exchange''s clearing account), in fen and CNY, with what is frozen for open buy orders and fees.  A participant''s login sees its own rows, an authority its jurisdiction, registry and BI every participant.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.participant_id IS 'The account holder.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.participant_name IS 'Its name.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.participant_kind IS 'participant_kind of the holder.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.province IS 'Its province, NULL if none.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.province_name IS 'The province''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.sector IS 'Its sector, NULL if none.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.sector_name IS 'The sector''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.account_kind IS 'cash (资金账户) or clearing (结算账户).';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.balance_fen IS 'Balance in fen (1/100 CNY).';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.held_fen IS 'Frozen, fen.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.balance_cny IS 'Balance, CNY.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.held_cny IS 'Frozen, CNY.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.available_cny IS 'balance - held, CNY.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.accounts IS 'Accounts of this kind summed.';

CREATE VIEW carbonmkt.bi_positions_by_province AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT p.province, r.name AS province_name_en, r.name_zh AS province_name,
       h.instrument::text AS instrument, h.vintage, count(DISTINCT p.participant_id) AS holders,
       sum(h.balance)::bigint AS balance_t, sum(h.held)::bigint AS held_t, sum(h.balance - h.held)::bigint AS available_t
  FROM carbonmkt.holding h
  JOIN carbonmkt.account a ON a.account_id = h.account_id
  JOIN carbonmkt.participant p ON p.participant_id = a.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province
 CROSS JOIN s
 WHERE a.kind = 'holding' AND h.instrument <> 'CNY' AND h.balance > 0
   AND (s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city)
 GROUP BY p.province, r.name, r.name_zh, h.instrument, h.vintage;
COMMENT ON VIEW carbonmkt.bi_positions_by_province IS
  'BI: CEA and CCER held in participants'' holding accounts per province of the holder (省), instrument and vintage (CCER: all projects of the vintage): holders and tonnes.  province NULL: holders without a province.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.province IS 'The holders'' province (GB/T 2260), NULL for holders without one.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.province_name_en IS 'Its English name.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.province_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.vintage IS 'Vintage.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.holders IS 'Participants with a positive balance.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.balance_t IS 'Balance, t.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.held_t IS 'Of which frozen, t.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.available_t IS 'balance_t - held_t, t.';

CREATE VIEW carbonmkt.bi_positions_by_sector AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT p.sector, sec.name AS sector_name_en, coalesce(sec.name_zh, '非重点排放单位') AS sector_name,
       h.instrument::text AS instrument, h.vintage, count(DISTINCT p.participant_id) AS holders,
       sum(h.balance)::bigint AS balance_t, sum(h.held)::bigint AS held_t, sum(h.balance - h.held)::bigint AS available_t
  FROM carbonmkt.holding h
  JOIN carbonmkt.account a ON a.account_id = h.account_id
  JOIN carbonmkt.participant p ON p.participant_id = a.participant_id
  LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 CROSS JOIN s
 WHERE a.kind = 'holding' AND h.instrument <> 'CNY' AND h.balance > 0
   AND (s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city)
 GROUP BY p.sector, sec.name, sec.name_zh, h.instrument, h.vintage;
COMMENT ON VIEW carbonmkt.bi_positions_by_sector IS
  'BI: CEA and CCER held in participants'' holding accounts per sector of the holder (行业), instrument and vintage: holders and tonnes.  sector NULL: holders that are not key emitting units (institutions, individuals; 非重点排放单位).';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.sector IS 'The holders'' sector, NULL for participants without one.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.sector_name_en IS 'Its English name.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.sector_name IS 'Its Chinese name (非重点排放单位 when none).';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.vintage IS 'Vintage.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.holders IS 'Participants with a positive balance.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.balance_t IS 'Balance, t.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.held_t IS 'Of which frozen, t.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.available_t IS 'balance_t - held_t, t.';

CREATE VIEW carbonmkt.bi_holder_concentration AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c),
pos AS (
    SELECT h.instrument::text AS instrument, h.vintage, a.participant_id, sum(h.balance)::bigint AS balance_t
      FROM carbonmkt.holding h
      JOIN carbonmkt.account a ON a.account_id = h.account_id
      JOIN carbonmkt.participant p ON p.participant_id = a.participant_id
     CROSS JOIN s
     WHERE a.kind = 'holding' AND h.instrument <> 'CNY' AND h.balance > 0
       AND (s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city)
     GROUP BY h.instrument, h.vintage, a.participant_id
), ranked AS (
    SELECT pos.*, row_number() OVER (PARTITION BY pos.instrument, pos.vintage ORDER BY pos.balance_t DESC, pos.participant_id) AS rank,
           sum(pos.balance_t) OVER (PARTITION BY pos.instrument, pos.vintage) AS total_t
      FROM pos
)
SELECT x.instrument, x.vintage, count(*) AS holders, sum(x.balance_t)::bigint AS held_t, max(x.balance_t) AS largest_t,
       round(sum(x.balance_t) FILTER (WHERE x.rank = 1) / max(x.total_t), 4) AS top1_share,
       round(sum(x.balance_t) FILTER (WHERE x.rank <= 5) / max(x.total_t), 4) AS top5_share,
       round(sum(x.balance_t) FILTER (WHERE x.rank <= 10) / max(x.total_t), 4) AS top10_share,
       round(sum((10000.0 * x.balance_t / x.total_t) ^ 2) / 10000, 1) AS hhi
  FROM ranked x
 GROUP BY x.instrument, x.vintage;
COMMENT ON VIEW carbonmkt.bi_holder_concentration IS
  'BI: large-holder concentration (持仓集中度) per instrument and vintage over the participants'' holding accounts: holders, tonnes held, the largest holding, the shares of the largest 1, 5 and 10 holders, and the Herfindahl-Hirschman index (0-10,000).  Aggregates only, no names.';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.vintage IS 'Vintage (CCER: all projects of the vintage).';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.holders IS 'Participants with a positive balance.';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.held_t IS 'Tonnes in holding accounts.';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.largest_t IS 'The largest single holding, t.';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.top1_share IS 'Share of the largest holder (0-1, 4 decimals).';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.top5_share IS 'Share of the 5 largest holders.';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.top10_share IS 'Share of the 10 largest holders.';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.hhi IS 'Herfindahl-Hirschman index: sum of the squared percentage shares (10,000 = one holder).';

-- Trading activity: per participant, month and instrument.  A closed day's trades are in the
-- rows end_of_day() kept (trading_month_stats, trading_sector_month), a day not closed yet is
-- read from the tape
CREATE VIEW carbonmkt._trading_month_live AS
-- the days not closed yet (no market_day_stats row): their figures from the tape by index
-- (OFFSET 0: a lookup per open day, never an aggregate over the whole tape)
SELECT f.participant_id, date_trunc('month', d.business_date)::date AS month, pr.instrument,
       sum(f.trades)::bigint AS trades, sum(f.bought_t)::bigint AS bought_t, sum(f.sold_t)::bigint AS sold_t,
       sum(f.bought_fen)::bigint AS bought_fen, sum(f.sold_fen)::bigint AS sold_fen, sum(f.fees_fen)::bigint AS fees_fen,
       sum(f.listed_t)::bigint AS listed_t, sum(f.block_t)::bigint AS block_t, sum(f.auction_t)::bigint AS auction_t,
       min(d.business_date) AS first_trade_date, max(d.business_date) AS last_trade_date
  FROM carbonmkt.product_day d
  JOIN carbonmkt.product pr ON pr.product_id = d.product_id
 CROSS JOIN LATERAL (SELECT f.* FROM carbonmkt._trading_day_figures f
                      WHERE f.product_id = d.product_id AND f.business_date = d.business_date OFFSET 0) f
 WHERE NOT EXISTS (SELECT 1 FROM carbonmkt.market_day_stats s
                    WHERE s.product_id = d.product_id AND s.business_date = d.business_date)
 GROUP BY f.participant_id, date_trunc('month', d.business_date), pr.instrument;
COMMENT ON VIEW carbonmkt._trading_month_live IS
  'Internal: the trade tape of the days not closed yet (a product_day without its market_day_stats row; every trade follows an order of its day, which created the day) per participant, month and instrument (fen and t), from _trading_day_figures by index: what trading_month_stats does not hold yet.  Unscoped.';

CREATE VIEW carbonmkt._trading_month AS
-- the kept rows of the closed days, full-joined (by hash) with the days not closed yet
SELECT coalesce(k.participant_id, l.participant_id) AS participant_id, coalesce(k.month, l.month) AS month,
       coalesce(k.instrument, l.instrument) AS instrument,
       coalesce(k.trades, 0) + coalesce(l.trades, 0) AS trades,
       coalesce(k.bought_t, 0) + coalesce(l.bought_t, 0) AS bought_t,
       coalesce(k.sold_t, 0) + coalesce(l.sold_t, 0) AS sold_t,
       coalesce(k.bought_fen, 0) + coalesce(l.bought_fen, 0) AS bought_fen,
       coalesce(k.sold_fen, 0) + coalesce(l.sold_fen, 0) AS sold_fen,
       coalesce(k.fees_fen, 0) + coalesce(l.fees_fen, 0) AS fees_fen,
       coalesce(k.listed_t, 0) + coalesce(l.listed_t, 0) AS listed_t,
       coalesce(k.block_t, 0) + coalesce(l.block_t, 0) AS block_t,
       coalesce(k.auction_t, 0) + coalesce(l.auction_t, 0) AS auction_t,
       least(k.first_trade_date, l.first_trade_date) AS first_trade_date,
       greatest(k.last_trade_date, l.last_trade_date) AS last_trade_date
  FROM carbonmkt.trading_month_stats k
  FULL JOIN carbonmkt._trading_month_live l
    ON l.participant_id = k.participant_id AND l.month = k.month AND l.instrument = k.instrument;
COMMENT ON VIEW carbonmkt._trading_month IS
  'Internal: the trade tape per participant, month and instrument (fen and t): the rows end_of_day() kept for the closed days (trading_month_stats) plus the days not closed yet (_trading_month_live).  Unscoped: read by bi_trading_activity and bi_trading_by_sector, which apply the caller''s scope.';

CREATE VIEW carbonmkt.bi_trading_activity AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT m.participant_id, p.name AS participant_name, p.kind::text AS participant_kind, p.province,
       r.name_zh AS province_name, p.sector, sec.name_zh AS sector_name,
       m.month, m.instrument::text AS instrument, m.trades, m.bought_t, m.sold_t, m.bought_t - m.sold_t AS net_t,
       round(m.bought_fen / 100.0, 2) AS bought_cny, round(m.sold_fen / 100.0, 2) AS sold_cny,
       round(m.fees_fen / 100.0, 2) AS fees_cny, m.listed_t, m.block_t, m.auction_t,
       m.first_trade_date, m.last_trade_date
  FROM carbonmkt._trading_month m
  JOIN carbonmkt.participant p ON p.participant_id = m.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province
  LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 CROSS JOIN s
 WHERE s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city;
COMMENT ON VIEW carbonmkt.bi_trading_activity IS
  'BI: trading activity (交易情况) per participant, month and instrument, from the trade tape (a closed day from the rows end_of_day() kept, trading_month_stats; a day not closed yet from the tape itself): trades (fills, 成交), tonnes bought, sold and net, their value and the fees paid in CNY, tonnes per trading mode (listed 挂牌协议, block 大宗协议, one-way bidding 单向竞价), first and last trading day.  A participant''s login sees its own rows, an authority its jurisdiction, registry and BI every participant.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.participant_id IS 'The trading participant.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.participant_name IS 'Its name.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.participant_kind IS 'participant_kind.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.province IS 'Its province, NULL if none.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.province_name IS 'The province''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.sector IS 'Its sector, NULL if none.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.sector_name IS 'The sector''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.month IS 'First day of the month of the business dates.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.trades IS 'Fills the participant took part in.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.bought_t IS 'Tonnes bought.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.sold_t IS 'Tonnes sold.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.net_t IS 'bought_t - sold_t.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.bought_cny IS 'Value bought (price x quantity), CNY.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.sold_cny IS 'Value sold, CNY.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.fees_cny IS 'Fees (手续费) paid, CNY.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.listed_t IS 'Tonnes traded by listed agreement (挂牌协议).';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.block_t IS 'Tonnes traded by block agreement (大宗协议).';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.auction_t IS 'Tonnes traded by one-way bidding (单向竞价).';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.first_trade_date IS 'First business day with a trade in the month.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.last_trade_date IS 'Last business day with a trade in the month.';

CREATE VIEW carbonmkt.bi_trading_by_sector AS
WITH s AS MATERIALIZED (SELECT c.sees_all IS TRUE AS sees_all, c.participant_id, c.province, c.city
                          FROM carbonmkt.caller_scope() c),
x AS (
    -- a caller who sees every participant: the sums kept per sector (trading_sector_month) plus
    -- the days not closed yet, a participant counted once per month (not if its month is kept)
    SELECT k.month, k.instrument, k.sector, k.participants, k.trades, k.bought_t, k.sold_t,
           k.bought_fen, k.sold_fen, k.fees_fen
      FROM carbonmkt.trading_sector_month k
     WHERE (SELECT s.sees_all FROM s)
    UNION ALL
    SELECT l.month, l.instrument, p.sector,
           CASE WHEN EXISTS (SELECT 1 FROM carbonmkt.trading_month_stats k
                              WHERE k.participant_id = l.participant_id AND k.month = l.month
                                AND k.instrument = l.instrument) THEN 0 ELSE 1 END,
           l.trades, l.bought_t, l.sold_t, l.bought_fen, l.sold_fen, l.fees_fen
      FROM carbonmkt._trading_month_live l
      JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
     WHERE (SELECT s.sees_all FROM s)
    UNION ALL
    -- anyone else: the participant-months of its scope
    SELECT m.month, m.instrument, p.sector, 1, m.trades, m.bought_t, m.sold_t, m.bought_fen, m.sold_fen, m.fees_fen
      FROM carbonmkt._trading_month m
      JOIN carbonmkt.participant p ON p.participant_id = m.participant_id
     CROSS JOIN s
     WHERE NOT (SELECT s.sees_all FROM s)
       AND (p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city))
SELECT x.month, x.sector, sec.name AS sector_name_en,
       coalesce(sec.name_zh, '非重点排放单位') AS sector_name, x.instrument::text AS instrument,
       sum(x.participants)::bigint AS participants, sum(x.trades)::bigint AS trades,
       sum(x.bought_t)::bigint AS bought_t, sum(x.sold_t)::bigint AS sold_t,
       round(sum(x.bought_fen) / 100.0, 2) AS bought_cny, round(sum(x.sold_fen) / 100.0, 2) AS sold_cny,
       round(sum(x.fees_fen) / 100.0, 2) AS fees_cny
  FROM x
  LEFT JOIN carbonmkt.sector sec ON sec.code = x.sector
 GROUP BY x.month, x.sector, sec.name, sec.name_zh, x.instrument;
COMMENT ON VIEW carbonmkt.bi_trading_by_sector IS
  'BI: trading activity per month, sector of the participant (NULL: not a key emitting unit, 非重点排放单位) and instrument: participants, trades (a trade between two participants of one sector counts once per side), tonnes bought and sold, their value and fees in CNY.  From the trade tape: for a caller who sees every participant the sums end_of_day() kept per sector for the closed days (trading_sector_month) plus the days not closed yet; for anyone else the participant-months of its scope as bi_trading_activity reads them.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.month IS 'First day of the month.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.sector IS 'Sector code, NULL for participants without one.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.sector_name_en IS 'Its English name.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.sector_name IS 'Its Chinese name (非重点排放单位 when none).';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.participants IS 'Participants of the sector that traded.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.trades IS 'Trade sides (fills) of the sector''s participants.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.bought_t IS 'Tonnes bought.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.sold_t IS 'Tonnes sold.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.bought_cny IS 'Value bought, CNY.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.sold_cny IS 'Value sold, CNY.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.fees_cny IS 'Fees paid, CNY.';

CREATE VIEW carbonmkt.bi_ccer_supply AS
WITH stock AS (                 -- every CCER in existence is in some account (verify_ledger: conservation)
    SELECT h.project,
           sum(h.balance)::bigint AS issued_t,
           coalesce(sum(h.balance) FILTER (WHERE a.kind = 'national_reserve'), 0)::bigint AS reserve_t,
           coalesce(sum(h.balance) FILTER (WHERE a.kind IN ('holding', 'clearing')), 0)::bigint AS held_t,
           coalesce(sum(h.balance) FILTER (WHERE a.kind = 'cancellation'), 0)::bigint AS retired_t,
           count(DISTINCT a.participant_id) FILTER (WHERE a.kind = 'holding' AND h.balance > 0) AS holders
      FROM carbonmkt.holding h JOIN carbonmkt.account a ON a.account_id = h.account_id
     WHERE h.instrument = 'CCER'
     GROUP BY h.project),
surrendered AS (
    SELECT d.project, sum(d.tonnes)::bigint AS surrendered_t
      FROM carbonmkt.surrender_detail d WHERE d.instrument = 'CCER' GROUP BY d.project)
SELECT st.project, cp.name AS project_name, cp.project_type, t.name_zh AS project_type_name,
       cp.province, r.name_zh AS province_name,
       st.issued_t, st.reserve_t, st.held_t, st.holders, coalesce(su.surrendered_t, 0) AS surrendered_t,
       st.retired_t - coalesce(su.surrendered_t, 0) AS cancelled_t
  FROM stock st
  LEFT JOIN surrendered su ON su.project = st.project
  LEFT JOIN carbonmkt.ccer_project cp ON cp.project = st.project
  LEFT JOIN carbonmkt.ccer_project_type t ON t.code = cp.project_type
  LEFT JOIN carbonmkt.region r ON r.code = cp.province
 WHERE (SELECT carbonmkt.caller_sees_staff_rows());   -- fail closed (doc/security.md)
COMMENT ON VIEW carbonmkt.bi_ccer_supply IS
  'BI: CCER supply per project (核证自愿减排量供给): issued_t (签发; = everything held in any account, by the ledger''s conservation invariant), reserve_t (still in the national reserve), held_t (in holding and clearing accounts) and holders, surrendered_t (清缴抵销, from surrender_detail), cancelled_t (voluntarily, 注销: the rest of the cancellation account).  issued = reserve + held + surrendered + cancelled.  Project name, type and province from ccer_project (NULL for a project not registered there).';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.project IS 'CCER project id.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.project_name IS 'Its name (ccer_project).';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.project_type IS 'Project type code (项目类型).';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.project_type_name IS 'The type''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.province IS 'The project''s province.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.province_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.issued_t IS 'Issued (签发), t.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.reserve_t IS 'Still in the national reserve, t.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.held_t IS 'In holding and clearing accounts, t.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.holders IS 'Participants holding some of it.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.surrendered_t IS 'Surrendered for compliance (清缴抵销), t.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.cancelled_t IS 'Voluntarily cancelled (自愿注销), t.';

-- the voluntary cancellations among the journal's entries, without reading the journal: a
-- partial index (a transfer's legs are not cancellations: nothing is added to their writes)
CREATE INDEX journal_cancel ON carbonmkt.journal (business_date) WHERE kind = 'cancel';

CREATE VIEW carbonmkt.bi_voluntary_cancellations AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT j.entry_id, j.posting_id, j.business_date, j.recorded_at, p.participant_id, p.name AS participant_name,
       p.kind::text AS participant_kind, p.province, r.name_zh AS province_name, p.sector,
       j.instrument::text AS instrument, j.vintage, nullif(j.project, '') AS project, cp.project_type,
       (-j.amount)::bigint AS tonnes, j.memo
  FROM carbonmkt.journal j
  JOIN carbonmkt.account a ON a.account_id = j.account_id
  JOIN carbonmkt.participant p ON p.participant_id = a.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province
  LEFT JOIN carbonmkt.ccer_project cp ON cp.project = nullif(j.project, '')
 CROSS JOIN s
 WHERE j.kind = 'cancel'
   AND (s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city);
COMMENT ON VIEW carbonmkt.bi_voluntary_cancellations IS
  'BI: every voluntary cancellation (自愿注销, cancel_cea / cancel_ccer: e.g. for carbon neutrality), one row per cancellation from the journal: when, who, what (CEA vintage, CCER project and vintage) and how many tonnes, with the memo.  Surrenders for compliance are not here (bi_compliance_status, bi_ccer_use).  A participant''s login sees its own rows, an authority its jurisdiction, registry and BI every participant.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.entry_id IS 'The journal entry (the account''s debit).';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.posting_id IS 'Its posting.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.business_date IS 'Business day of the cancellation.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.recorded_at IS 'When it was recorded.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.participant_id IS 'The participant that cancelled.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.participant_name IS 'Its name.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.participant_kind IS 'participant_kind.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.province IS 'Its province, NULL if none.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.province_name IS 'The province''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.sector IS 'Its sector, NULL if none.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.vintage IS 'Vintage.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.project IS 'CCER project, NULL for CEA.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.project_type IS 'CCER project type, NULL for CEA or an unregistered project.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.tonnes IS 'Tonnes cancelled.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.memo IS 'The memo given with the cancellation.';

CREATE VIEW carbonmkt.bi_penalties AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT x.period, p.province, r.name_zh AS province_name, count(*) AS sanctions,
       sum(x.shortfall_t)::bigint AS shortfall_t, sum(x.corrected_t)::bigint AS corrected_t,
       sum(x.fine_fen)::bigint AS fine_fen, round(sum(x.fine_fen) / 100.0, 2) AS fine_cny,
       sum(x.cut_t)::bigint AS cut_t,
       count(*) FILTER (WHERE x.revised_at IS NOT NULL) AS revised,
       count(*) FILTER (WHERE x.corrected_at IS NOT NULL) AS fully_corrected
  FROM carbonmkt.sanction x
  JOIN carbonmkt.participant p ON p.participant_id = x.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province
 CROSS JOIN s
 WHERE s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city
 GROUP BY x.period, p.province, r.name_zh;
COMMENT ON VIEW carbonmkt.bi_penalties IS
  'BI: penalty and fine totals (处罚) per compliance period and province, from the sanctions close_period() imposed for surrender shortfalls: sanctions, tonnes short, tonnes surrendered late (改正), fines in fen and CNY (罚款), allocation cuts in tonnes (核减), fines revised, sanctions fully corrected.  Sum over provinces for the national totals.';
COMMENT ON COLUMN carbonmkt.bi_penalties.period IS 'Compliance period.';
COMMENT ON COLUMN carbonmkt.bi_penalties.province IS 'Province of the sanctioned units.';
COMMENT ON COLUMN carbonmkt.bi_penalties.province_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_penalties.sanctions IS 'Units sanctioned.';
COMMENT ON COLUMN carbonmkt.bi_penalties.shortfall_t IS 'Tonnes not surrendered by the deadline.';
COMMENT ON COLUMN carbonmkt.bi_penalties.corrected_t IS 'Of which surrendered late (改正).';
COMMENT ON COLUMN carbonmkt.bi_penalties.fine_fen IS 'Fines, fen.';
COMMENT ON COLUMN carbonmkt.bi_penalties.fine_cny IS 'Fines, CNY.';
COMMENT ON COLUMN carbonmkt.bi_penalties.cut_t IS 'Cuts of the next year''s allocation (核减), t.';
COMMENT ON COLUMN carbonmkt.bi_penalties.revised IS 'Fines revised by revise_fine().';
COMMENT ON COLUMN carbonmkt.bi_penalties.fully_corrected IS 'Sanctions whose whole shortfall was made up.';

CREATE VIEW carbonmkt.bi_market_monthly AS
SELECT date_trunc('month', d.trade_date)::date AS month, d.product, d.instrument::text AS instrument, d.vintage, d.project,
       count(*) AS days, count(*) FILTER (WHERE d.trades > 0) AS trading_days,
       (array_agg(d.previous_close_cny ORDER BY d.trade_date))[1] AS previous_close_cny,
       (array_agg(d.open_cny ORDER BY d.trade_date) FILTER (WHERE d.open_cny IS NOT NULL))[1] AS open_cny,
       max(d.high_cny) AS high_cny, min(d.low_cny) AS low_cny,
       (array_agg(d.close_cny ORDER BY d.trade_date DESC))[1] AS close_cny,
       sum(d.listed_volume_t)::bigint AS listed_volume_t, sum(d.block_volume_t)::bigint AS block_volume_t,
       sum(d.auction_volume_t)::bigint AS auction_volume_t, sum(d.volume_t)::bigint AS volume_t,
       sum(d.turnover_cny) AS turnover_cny, sum(d.trades)::bigint AS trades,
       round(sum(d.turnover_cny) / nullif(sum(d.volume_t), 0), 2) AS average_price_cny
  FROM carbonmkt.bi_market_daily d
 GROUP BY date_trunc('month', d.trade_date), d.product, d.instrument, d.vintage, d.project;
COMMENT ON VIEW carbonmkt.bi_market_monthly IS
  'BI: monthly market summary (月度行情) per product, from bi_market_daily: days with market activity and with trades, the previous close before the month, the first listed-agreement price (open), high, low, the last close of the month, volume per trading mode and in total, turnover, trades, average price.  Prices and money in CNY, volumes in tonnes.  Public, like the market''s own statistics.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.month IS 'First day of the month.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.product IS 'Product code, e.g. CEA2024.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.vintage IS 'Vintage of the product.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.project IS 'CCER project, NULL for CEA.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.days IS 'Days of the month with market activity (bi_market_daily rows).';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.trading_days IS 'Of which days with trades.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.previous_close_cny IS 'Close before the month''s first day (前收盘价), CNY per t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.open_cny IS 'First listed-agreement price of the month, CNY per t; NULL without listed trades.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.high_cny IS 'Highest listed-agreement price, CNY per t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.low_cny IS 'Lowest listed-agreement price, CNY per t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.close_cny IS 'Close of the month''s last day (收盘价), CNY per t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.listed_volume_t IS 'Listed agreement (挂牌协议) volume, t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.block_volume_t IS 'Block agreement (大宗协议) volume, t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.auction_volume_t IS 'One-way bidding (单向竞价) volume, t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.volume_t IS 'Volume of every mode, t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.turnover_cny IS 'Turnover of every mode, CNY.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.trades IS 'Trades of every mode.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.average_price_cny IS 'turnover / volume, CNY per t; NULL without trades.';

CREATE VIEW carbonmkt.bi_data_quality AS
SELECT q.province, q.province_name, q.year, q.units, q.units_no_plan, q.months_due, q.months_missing, q.months_late,
       q.months_corrected, q.deposit_anomalies, q.reports, q.reports_not_filed, q.reports_late, q.reports_estimated,
       q.national_review_required, q.confirmed
  FROM carbonmkt.mrv_data_quality q;
COMMENT ON VIEW carbonmkt.bi_data_quality IS
  'BI: MRV data quality per province and year (数据质量), the figures of mrv_data_quality a dashboard shows: units expected to report, of which without an approved monitoring plan (no plan, 未备案), monthly deposits due, missing, late and corrected, anomalies, reports filed, years over without a report (not filed, 未报送), late and estimated reports, reports needing national review, confirmed.  An authority sees its jurisdiction, staff and BI every province.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.province IS 'Province (GB/T 2260).';
COMMENT ON COLUMN carbonmkt.bi_data_quality.province_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.year IS 'Reporting year.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.units IS 'Key emitting units expected to report.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.units_no_plan IS 'Of which without an approved monitoring plan (未备案监测计划).';
COMMENT ON COLUMN carbonmkt.bi_data_quality.months_due IS 'Unit-months of deposits complete or past their deadline.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.months_missing IS 'Unit-months incomplete after the deadline.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.months_late IS 'Unit-months first deposited late.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.months_corrected IS 'Unit-months with a correction.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.deposit_anomalies IS 'Anomalous monthly values (mrv_deposit_anomaly).';
COMMENT ON COLUMN carbonmkt.bi_data_quality.reports IS 'Annual reports filed.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.reports_not_filed IS 'Units without a report for a year that is over (未报送).';
COMMENT ON COLUMN carbonmkt.bi_data_quality.reports_late IS 'Reports filed after the deadline.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.reports_estimated IS 'Reports estimated by an appointed verifier (Art. 40).';
COMMENT ON COLUMN carbonmkt.bi_data_quality.national_review_required IS 'Reports needing national review.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.confirmed IS 'Reports confirmed.';

CREATE VIEW carbonmkt.bi_as_of AS
SELECT coalesce(CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_xact_replay_timestamp() END,
                carbonmkt.clock_now()) AS as_of,
       pg_catalog.pg_is_in_recovery() AS replica, carbonmkt.clock_now() AS market_clock,
       carbonmkt.business_date() AS business_date, pg_catalog.current_database() AS database;
COMMENT ON VIEW carbonmkt.bi_as_of IS
  'BI: how current the data read is: as_of is the commit time of the last transaction replayed on a hot-standby replica (pg_last_xact_replay_timestamp), else the time of the query on the primary by the extension''s clock (clock_now(): the real time, or the replayed time a superuser set in carbonmkt.clock); replica says which; the market''s clock and business date; the database.';
COMMENT ON COLUMN carbonmkt.bi_as_of.as_of IS 'Data as of: the last replayed commit on a replica, clock_now() on the primary.';
COMMENT ON COLUMN carbonmkt.bi_as_of.replica IS 'Whether the session reads a hot-standby replica (pg_is_in_recovery).';
COMMENT ON COLUMN carbonmkt.bi_as_of.market_clock IS 'The extension''s clock (clock_now()).';
COMMENT ON COLUMN carbonmkt.bi_as_of.business_date IS 'The market''s business date (China Standard Time).';
COMMENT ON COLUMN carbonmkt.bi_as_of.database IS 'The database read.';

-- Access --------------------------------------------------------------------------
GRANT SELECT ON carbonmkt.bi_compliance_status
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi;
GRANT SELECT ON carbonmkt.bi_completion_by_period, carbonmkt.bi_completion_by_province,
                carbonmkt.bi_completion_by_sector, carbonmkt.bi_emissions_coverage,
                carbonmkt.bi_allowance_supply, carbonmkt.bi_ccer_use
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;
GRANT EXECUTE ON FUNCTION carbonmkt._completion(text) TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;
REVOKE ALL ON FUNCTION carbonmkt._completion(text) FROM PUBLIC;
-- public market data: the price source reads only public tables and views
GRANT EXECUTE ON FUNCTION carbonmkt._daily_prices(text, date, date) TO PUBLIC;
GRANT SELECT ON carbonmkt.bi_price_history, carbonmkt.bi_market_daily TO PUBLIC;
-- positions, trading, cancellations: rows filtered by caller_scope(); aggregates: staff, authorities and BI
GRANT SELECT ON carbonmkt.bi_positions, carbonmkt.bi_cash_positions, carbonmkt.bi_trading_activity,
                carbonmkt.bi_voluntary_cancellations
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi;
GRANT SELECT ON carbonmkt.bi_positions_by_province, carbonmkt.bi_positions_by_sector, carbonmkt.bi_holder_concentration,
                carbonmkt.bi_trading_by_sector, carbonmkt.bi_ccer_supply, carbonmkt.bi_penalties,
                carbonmkt.bi_data_quality
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;
GRANT SELECT ON carbonmkt.bi_market_monthly, carbonmkt.bi_as_of TO PUBLIC;
