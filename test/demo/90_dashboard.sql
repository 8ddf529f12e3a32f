-- Demo, last act: the dashboard a BI tool would draw from the BI views (doc/bi.md).
SET search_path = carbonmkt, public;
\set QUIET on
CREATE FUNCTION pg_temp.t(v numeric) RETURNS text LANGUAGE sql AS $$ SELECT to_char(v, 'FM999,999,999,990') $$;
CREATE FUNCTION pg_temp.pct(v numeric) RETURNS text LANGUAGE sql AS $$ SELECT to_char(100 * v, 'FM990.00') || '%' $$;

\echo
\echo '== Dashboard: national completion rate (配额清缴完成率, by tonnes and by units)'
SELECT period, period_status, units, units_with_obligation, compliant_units, shortfall_units, no_emissions_units,
       pg_temp.t(obligation_t) AS obligation_t, pg_temp.t(surrendered_t) AS surrendered_t, pg_temp.t(ccer_t) AS ccer_t,
       pg_temp.pct(completion_rate) AS completion_rate, pg_temp.pct(unit_completion_rate) AS unit_completion_rate
  FROM bi_completion_by_period ORDER BY period;

\echo
\echo '== Dashboard: per province, lowest completion first'
SELECT province_name, units, compliant_units AS compliant, shortfall_units AS short, no_emissions_units AS no_data,
       pg_temp.t(obligation_t) AS obligation_t, pg_temp.t(remaining_t) AS shortfall_t,
       pg_temp.pct(completion_rate) AS completion_rate
  FROM bi_completion_by_province WHERE period = 2024
 ORDER BY bi_completion_by_province.completion_rate, province;

\echo
\echo '== Dashboard: per sector'
SELECT sector_name, units, pg_temp.t(obligation_t) AS obligation_t, pg_temp.t(ccer_t) AS ccer_t,
       pg_temp.pct(completion_rate) AS completion_rate, pg_temp.pct(unit_completion_rate) AS unit_completion_rate
  FROM bi_completion_by_sector WHERE period = 2024 ORDER BY sector;

\echo
\echo '== Dashboard: the worst shortfalls of 2024'
SELECT unit_name, province_name, sector_name, pg_temp.t(obligation_t) AS obligation_t, pg_temp.t(surrendered_t) AS surrendered_t,
       pg_temp.t(remaining_t) AS shortfall_t, pg_temp.pct(completion_ratio) AS completed, compliance_code
  FROM bi_compliance_status WHERE period = 2024 AND remaining_t > 0 ORDER BY remaining_t DESC, participant_id LIMIT 10;

\echo
\echo '== Dashboard: allowance supply per vintage (签发, 清缴, 结转, 注销)'
SELECT vintage, pg_temp.t(issued_t) AS issued_t, pg_temp.t(unallocated_t) AS unallocated_t, pg_temp.t(held_t) AS held_t,
       pg_temp.t(banked_t) AS banked_t, pg_temp.t(surrendered_t) AS surrendered_t, pg_temp.t(cancelled_t) AS cancelled_t,
       compliance_closed
  FROM bi_allowance_supply ORDER BY vintage;

\echo
\echo '== Dashboard: CCER used per project type'
SELECT period, project_type_name, units, projects, pg_temp.t(tonnes) AS tonnes, pg_temp.t(local_tonnes) AS local_tonnes
  FROM bi_ccer_use ORDER BY period, bi_ccer_use.tonnes DESC;

\echo
\echo '== Dashboard: data quality (units without confirmed or with estimated emissions)'
SELECT province_name, covered_units, confirmed_units, missing_units, estimated_units, pg_temp.pct(coverage_rate) AS coverage
  FROM bi_emissions_coverage WHERE period = 2024 AND (missing_units > 0 OR estimated_units > 0) ORDER BY province;

\echo
\echo '== Dashboard: price history (CEA, CNY per tonne, monthly): the market''s own trades, reference prices for other days'
SELECT to_char(date_trunc('month', price_date), 'YYYY-MM') AS month, string_agg(DISTINCT price_source, ', ') AS source,
       count(*) AS days,
       to_char(sum(average_price_cny * coalesce(volume_t, 1)) / sum(coalesce(volume_t, 1)), 'FM990.00') AS average_cny,
       to_char(min(average_price_cny), 'FM990.00') AS low_cny, to_char(max(average_price_cny), 'FM990.00') AS high_cny,
       pg_temp.t(sum(volume_t)) AS volume_t
  FROM bi_price_history GROUP BY 1 ORDER BY 1;

\echo
\echo '== Dashboard: market statistics per day (行情: close, change, volume and turnover per mode)'
SELECT trade_date, product, previous_close_cny AS prev_close, close_cny AS close, to_char(100 * change_rate, 'FM990.00') || '%' AS change,
       open_cny AS open, high_cny AS high, low_cny AS low, pg_temp.t(listed_volume_t) AS listed_t, pg_temp.t(block_volume_t) AS block_t,
       pg_temp.t(auction_volume_t) AS auction_t, pg_temp.t(volume_t) AS volume_t,
       to_char(turnover_cny, 'FM999,999,999,990.00') AS turnover_cny, trades
  FROM bi_market_daily ORDER BY trade_date, product;

\echo
\echo '== Dashboard: positions by sector of the holder (持仓, holding accounts), concentration per vintage (持仓集中度)'
SELECT sector_name, instrument, vintage, holders, pg_temp.t(balance_t) AS balance_t, pg_temp.t(held_t) AS frozen_t
  FROM bi_positions_by_sector ORDER BY sector NULLS LAST, instrument, vintage;
SELECT instrument, vintage, holders, pg_temp.t(held_t) AS held_t, pg_temp.pct(top1_share) AS top1, pg_temp.pct(top10_share) AS top10, hhi
  FROM bi_holder_concentration ORDER BY instrument, vintage;

\echo
\echo '== Dashboard: trading per sector and month (交易情况), the five most active traders'
SELECT to_char(month, 'YYYY-MM') AS month, sector_name, instrument, participants, trades, pg_temp.t(bought_t) AS bought_t,
       pg_temp.t(sold_t) AS sold_t, to_char(bought_cny, 'FM999,999,999,990') AS bought_cny
  FROM bi_trading_by_sector ORDER BY month, sector NULLS LAST, instrument;
SELECT participant_name, sector_name, trades, pg_temp.t(bought_t) AS bought_t, pg_temp.t(sold_t) AS sold_t, pg_temp.t(net_t) AS net_t
  FROM bi_trading_activity ORDER BY bought_t + sold_t DESC, participant_id LIMIT 5;

\echo
\echo '== Dashboard: CCER supply per project (签发, 持有, 清缴抵销, 注销), penalties per period (处罚), the market per month'
SELECT project, project_type_name, pg_temp.t(issued_t) AS issued_t, pg_temp.t(reserve_t) AS reserve_t, pg_temp.t(held_t) AS held_t,
       pg_temp.t(surrendered_t) AS surrendered_t, pg_temp.t(cancelled_t) AS cancelled_t
  FROM bi_ccer_supply ORDER BY project;
SELECT period, sum(sanctions) AS sanctions, pg_temp.t(sum(shortfall_t)) AS shortfall_t, pg_temp.t(sum(corrected_t)) AS corrected_t,
       to_char(sum(fine_cny), 'FM999,999,999,990') AS fines_cny, pg_temp.t(sum(cut_t)) AS cut_t
  FROM bi_penalties GROUP BY period ORDER BY period;
SELECT to_char(month, 'YYYY-MM') AS month, product, trading_days, open_cny, high_cny, low_cny, close_cny, pg_temp.t(volume_t) AS volume_t,
       to_char(turnover_cny, 'FM999,999,999,990') AS turnover_cny
  FROM bi_market_monthly ORDER BY month, product;
