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
                        AND st.vintage BETWEEN p.first_year AND p.last_year LIMIT 1) cl ON true;
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
