-- test/bench/bi_views_baseline.sql: the compliance and BI views as they were before issue 16
-- made them fast at ten-year scale (main at 8b23533), in schema bench_old, for registry_scale:
-- the same rows (EXCEPT ALL both ways) and the times side by side.  Not a benchmark of its own
-- (run.sh skips *_baseline.sql).  Reads the carbonmkt tables; run as the superuser.
CREATE SCHEMA bench_old;

CREATE FUNCTION bench_old._daily_prices(p_jurisdiction text, p_from date, p_to date)
RETURNS TABLE (price_date date, average_price_fen bigint, volume_t bigint, turnover_fen numeric, trades bigint,
               price_source text, source text)
LANGUAGE sql STABLE AS
$$
    -- the trade tape's statistics per product and day (_market_day_figures: integer sums in
    -- fen, one pass), summed over the jurisdiction's CEA products
    WITH m AS (SELECT d.business_date AS day, sum(d.volume_t)::bigint AS volume_t,
                      round(sum(d.turnover_fen), 2) AS turnover_fen, sum(d.trades)::bigint AS trades
                 FROM carbonmkt._market_day_figures d JOIN carbonmkt.product pr ON pr.product_id = d.product_id
                WHERE pr.instrument = 'CEA' AND pr.jurisdiction = p_jurisdiction
                  AND d.business_date BETWEEN p_from AND p_to
                GROUP BY d.business_date)
    SELECT m.day, round(m.turnover_fen / m.volume_t)::bigint, m.volume_t, m.turnover_fen, m.trades, 'market',
           format('%s trade(s) of CEA on the exchange', m.trades)
      FROM m
    UNION ALL
    SELECT r.price_date, r.average_price_fen, r.volume_t, r.average_price_fen::numeric * r.volume_t, NULL::bigint,
           'reference_price', r.source
      FROM carbonmkt.reference_price r
     WHERE r.price_date BETWEEN p_from AND p_to AND NOT EXISTS (SELECT 1 FROM m WHERE m.day = r.price_date)
$$;

CREATE VIEW bench_old._obligation_figures AS
SELECT pr.period, p.participant_id, p.name AS unit_name, p.credit_code, p.province, p.city, p.sector,
       pr.status AS period_status, pr.deadline,
       pr.last_year - pr.first_year + 1 AS years, coalesce(e.years_confirmed, 0) AS years_confirmed,
       em.emissions_t,
       CASE WHEN em.emissions_t IS NULL THEN NULL WHEN e.estimated THEN 'estimated' ELSE 'verified' END AS emissions_basis,
       coalesce(al.allocated_t, 0) AS allocation_t, coalesce(al.initial_t, 0) AS initial_allocation_t,
       al.allocation_final,
       gas.gas_fired,
       ob.relief, em.emissions_t - ob.obligation_t AS relief_t,
       CASE ob.relief
         WHEN 'gas_cap' THEN format('gas-fired unit: owes at most its allocation of %s (confirmed emissions %s)',
                                    carbonmkt.format_quantity('CEA', coalesce(al.allocated_t, 0)),
                                    carbonmkt.format_quantity('CEA', em.emissions_t))
         WHEN 'gap_cap' THEN format('gap cap: allocation %s + %s%% of confirmed emissions %s = %s',
                                    carbonmkt.format_quantity('CEA', coalesce(al.allocated_t, 0)), pr.gap_cap_pct,
                                    carbonmkt.format_quantity('CEA', em.emissions_t),
                                    carbonmkt.format_quantity('CEA', ob.obligation_t))
       END || CASE WHEN al.allocation_final THEN '' ELSE ' (allocation not final yet)' END AS relief_reason,
       ob.obligation_t,
       greatest(ob.obligation_t - coalesce(al.allocated_t, 0), 0) AS gap_t,
       coalesce(bw.borrowed_t, 0) AS borrowed_t,
       pr.offset_basis, pr.offset_ratio_pct, pr.local_share_min, pr.local_share_pct, pr.jurisdiction,
       ob2.offset_basis_t, floor(pr.offset_ratio * ob2.offset_basis_t)::bigint AS offset_cap_t,
       pr.relief_sectors, pr.borrowing_min_gap_share, pr.borrowing_max_share,
       gas.gas_basis,
       -- pending: the relief (gas cap, gap cap) is computed on the final allocation (核定配额,
       -- S4 L94 "在核定配额环节"); a pre-allocation (预分配) is trued up after verification
       -- (S1 L2646-2650), so an obligation computed from it is provisional
       CASE WHEN em.emissions_t IS NOT NULL AND al.years_final < pr.last_year - pr.first_year + 1 AND em.relief_sector
                 AND ((pr.gas_cap AND gas.gas_fired) OR pr.gap_cap_share IS NOT NULL)
            THEN CASE WHEN al.years_allocated < pr.last_year - pr.first_year + 1
                      THEN format('no allocation yet for %s of %s (%s allocated): the %s of the relief rule makes the obligation depend on it',
                                  pr.last_year - pr.first_year + 1 - al.years_allocated,
                                  CASE WHEN pr.first_year = pr.last_year THEN pr.first_year::text ELSE pr.first_year || '-' || pr.last_year END,
                                  carbonmkt.format_quantity('CEA', coalesce(al.allocated_t, 0)),
                                  CASE WHEN pr.gas_cap AND gas.gas_fired THEN 'gas cap' ELSE 'gap cap' END)
                      ELSE format('no final allocation (核定配额) yet for %s of %s (%s allocated, pre-allocation until final): the %s of the relief rule applies to the final allocation, so the obligation of %s is provisional',
                                  pr.last_year - pr.first_year + 1 - al.years_final,
                                  CASE WHEN pr.first_year = pr.last_year THEN pr.first_year::text ELSE pr.first_year || '-' || pr.last_year END,
                                  carbonmkt.format_quantity('CEA', coalesce(al.allocated_t, 0)),
                                  CASE WHEN pr.gas_cap AND gas.gas_fired THEN 'gas cap' ELSE 'gap cap' END,
                                  carbonmkt.format_quantity('CEA', ob.obligation_t))
                 END
       END AS pending_reason
  FROM carbonmkt._period_rules pr
  JOIN carbonmkt.participant p
    ON p.kind = 'key_emitter'
   AND (pr.j_province IS NULL OR p.province = pr.j_province) AND (pr.j_city IS NULL OR p.city = pr.j_city)
  JOIN carbonmkt.sector s ON s.code = p.sector AND s.covered_from <= pr.last_year
  -- per unit, by primary key: confirmed emissions and allocation of the period's years
  -- (LATERAL keeps every plan linear in the units, whatever the row estimates)
  CROSS JOIN LATERAL (SELECT count(*)::int AS years_confirmed, sum(ce.emissions_t)::bigint AS emissions_t,
                             bool_or(ce.basis = 'estimated') AS estimated
                        FROM carbonmkt.confirmed_emission ce
                       WHERE ce.participant_id = p.participant_id AND ce.year BETWEEN pr.first_year AND pr.last_year) e
  -- (the allocation by the allocation room's slim _allocated_by_year: the same allocated_t,
  -- initial_t and is_final as _allocation_source, by index, without allocation_result's sums)
  CROSS JOIN LATERAL (SELECT sum(a.allocated_t)::bigint AS allocated_t, sum(a.initial_t)::bigint AS initial_t,
                             count(*) FILTER (WHERE a.is_final) = pr.last_year - pr.first_year + 1 AS allocation_final,
                             count(*)::int AS years_allocated,
                             (count(*) FILTER (WHERE a.is_final))::int AS years_final
                        FROM carbonmkt._allocated_by_year a
                       WHERE a.participant_id = p.participant_id AND a.year BETWEEN pr.first_year AND pr.last_year) al
  LEFT JOIN carbonmkt.unit_class uc ON uc.participant_id = p.participant_id
  -- gas-fired (燃气机组): every generating unit registered in a gas category, or the authority's
  -- override (unit_class, set_gas_fired) where the facilities do not decide it
  CROSS JOIN LATERAL (SELECT bool_and(c.fuel = 'gas') AS all_gas
                        FROM carbonmkt.facility f JOIN carbonmkt.alloc_category c ON c.code = f.category AND c.method = 'power'
                       WHERE f.participant_id = p.participant_id) gu
  CROSS JOIN LATERAL (SELECT coalesce(uc.gas_fired, gu.all_gas, false) AS gas_fired,
                             CASE WHEN uc.gas_fired IS NOT NULL THEN 'override' WHEN gu.all_gas IS NOT NULL THEN 'facilities' END
                                 AS gas_basis) gas
  LEFT JOIN (SELECT b.participant_id, b.period, sum(b.tonnes)::bigint AS borrowed_t
               FROM carbonmkt.borrowing b GROUP BY b.participant_id, b.period) bw
         ON bw.participant_id = p.participant_id AND bw.period = pr.period
  CROSS JOIN LATERAL (SELECT CASE WHEN e.years_confirmed = pr.last_year - pr.first_year + 1
                                  THEN e.emissions_t END AS emissions_t,
                             coalesce(al.allocated_t, 0) AS allocation_t,
                             coalesce(p.sector = ANY (pr.relief_sectors), false) AS relief_sector) em
  CROSS JOIN LATERAL (
        SELECT CASE WHEN em.emissions_t IS NULL THEN NULL
                    WHEN em.relief_sector AND pr.gas_cap AND gas.gas_fired
                         THEN least(em.emissions_t, em.allocation_t)
                    WHEN em.relief_sector AND pr.gap_cap_share IS NOT NULL
                         THEN least(em.emissions_t, em.allocation_t + floor(pr.gap_cap_share * em.emissions_t)::bigint)
                    ELSE em.emissions_t END AS obligation_t) o1
  CROSS JOIN LATERAL (
        SELECT CASE WHEN o1.obligation_t IS NULL THEN NULL
                    WHEN o1.obligation_t = em.emissions_t THEN 'none'
                    WHEN em.relief_sector AND pr.gas_cap AND gas.gas_fired THEN 'gas_cap'
                    ELSE 'gap_cap' END AS relief,
               o1.obligation_t) ob
  CROSS JOIN LATERAL (
        SELECT CASE pr.offset_basis WHEN 'obligation' THEN ob.obligation_t
                                    WHEN 'issued_allowances' THEN em.allocation_t
                                    WHEN 'initial_allowances' THEN coalesce(al.initial_t, 0)
                                    WHEN 'verified_emissions' THEN em.emissions_t END AS offset_basis_t) ob2
 WHERE pr.status = 'open';

CREATE VIEW bench_old.obligation_status AS
WITH s AS MATERIALIZED (SELECT c.*, carbonmkt.business_date() AS today FROM carbonmkt.caller_scope() c)
SELECT f.period, f.participant_id, f.unit_name, f.credit_code, f.province, f.city, f.sector,
       f.period_status, f.deadline,
       f.emissions_t, f.emissions_basis, f.allocation_t, f.relief, f.relief_t, f.relief_reason,
       f.obligation_t, coalesce(o.surrendered_cea_t, 0) AS surrendered_cea_t,
       coalesce(o.surrendered_ccer_t, 0) AS surrendered_ccer_t,
       coalesce(o.surrendered_cea_t, 0) + coalesce(o.surrendered_ccer_t, 0) AS surrendered_t,
       CASE WHEN f.obligation_t IS NOT NULL
            THEN greatest(f.obligation_t - coalesce(o.surrendered_cea_t, 0) - coalesce(o.surrendered_ccer_t, 0), 0)
       END AS remaining_t,
       f.borrowed_t, f.offset_cap_t, st.status,
       CASE WHEN f.obligation_t IS NULL THEN 'C'
            WHEN f.emissions_basis = 'estimated' THEN 'D'
            WHEN st.status = 'compliant' THEN 'A' ELSE 'B' END::char(1) AS compliance_code,
       CASE WHEN st.status::text = 'pending' THEN f.pending_reason END AS status_reason
  FROM bench_old._obligation_figures f
  LEFT JOIN carbonmkt.obligation o ON o.participant_id = f.participant_id AND o.period = f.period
  CROSS JOIN s
  CROSS JOIN LATERAL (
        SELECT CASE WHEN f.obligation_t IS NULL THEN 'no_emissions'
                    WHEN coalesce(o.surrendered_cea_t, 0) + coalesce(o.surrendered_ccer_t, 0) >= f.emissions_t
                         THEN 'compliant'
                    WHEN f.pending_reason IS NOT NULL THEN 'pending'
                    WHEN coalesce(o.surrendered_cea_t, 0) + coalesce(o.surrendered_ccer_t, 0) >= f.obligation_t
                         THEN 'compliant'
                    WHEN s.today > f.deadline THEN 'shortfall'
                    ELSE 'open' END::carbonmkt.compliance_status AS status) st
 WHERE s.sees_all OR f.participant_id = s.participant_id OR f.province = s.province OR f.city = s.city
UNION ALL
SELECT o.period, o.participant_id, p.name, p.credit_code, p.province, p.city, p.sector,
       per.status, per.deadline,
       o.emissions_t, o.emissions_basis, o.allocation_t, o.relief, o.relief_t, o.relief_reason,
       o.obligation_t, o.surrendered_cea_t, o.surrendered_ccer_t, o.surrendered_cea_t + o.surrendered_ccer_t,
       o.remaining_t, o.borrowed_t, o.offset_cap_t, o.status, o.compliance_code, NULL::text
  FROM carbonmkt.obligation o
  JOIN carbonmkt.compliance_period per ON per.period = o.period AND per.status = 'closed'
  JOIN carbonmkt.participant p ON p.participant_id = o.participant_id
  CROSS JOIN s
 WHERE s.sees_all OR o.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city;

CREATE VIEW bench_old.bi_compliance_status AS
SELECT s.period, per.name AS period_name, s.participant_id, s.unit_name, s.credit_code,
       s.province, r.name_zh AS province_name, s.city, s.sector, sec.name_zh AS sector_name,
       s.period_status, s.deadline, s.emissions_t, s.emissions_basis, s.allocation_t,
       s.relief, s.relief_t, s.relief_reason, s.obligation_t,
       s.surrendered_cea_t, s.surrendered_ccer_t, s.surrendered_t, s.remaining_t, s.borrowed_t, s.offset_cap_t,
       CASE WHEN s.obligation_t = 0 THEN 1::numeric
            WHEN s.obligation_t > 0 THEN round(least(s.surrendered_t, s.obligation_t)::numeric / s.obligation_t, 4)
       END AS completion_ratio,
       s.status, s.compliance_code
  FROM bench_old.obligation_status s
  JOIN carbonmkt.compliance_period per ON per.period = s.period
  JOIN carbonmkt.region r ON r.code = s.province
  JOIN carbonmkt.sector sec ON sec.code = s.sector;

CREATE FUNCTION bench_old._completion(by_key text)
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
  FROM bench_old.obligation_status s
 GROUP BY 1, 2
$$;

CREATE VIEW bench_old.bi_completion_by_period AS
SELECT c.period, per.name AS period_name, per.status AS period_status, per.deadline,
       c.units, c.units_with_obligation, c.compliant_units, c.shortfall_units, c.open_units, c.no_emissions_units,
       c.obligation_t, c.surrendered_t, c.ccer_t, c.remaining_t, c.completion_rate, c.unit_completion_rate
  FROM bench_old._completion('period') c
  JOIN carbonmkt.compliance_period per ON per.period = c.period;

CREATE VIEW bench_old.bi_completion_by_province AS
SELECT c.period, r.code AS province, r.name AS province_name_en, r.name_zh AS province_name,
       c.units, c.units_with_obligation, c.compliant_units, c.shortfall_units, c.open_units, c.no_emissions_units,
       c.obligation_t, c.surrendered_t, c.ccer_t, c.remaining_t, c.completion_rate, c.unit_completion_rate
  FROM bench_old._completion('province') c
  JOIN carbonmkt.region r ON r.code = c.key::char(6);

CREATE VIEW bench_old.bi_completion_by_sector AS
SELECT c.period, sec.code AS sector, sec.name AS sector_name_en, sec.name_zh AS sector_name,
       c.units, c.units_with_obligation, c.compliant_units, c.shortfall_units, c.open_units, c.no_emissions_units,
       c.obligation_t, c.surrendered_t, c.ccer_t, c.remaining_t, c.completion_rate, c.unit_completion_rate
  FROM bench_old._completion('sector') c
  JOIN carbonmkt.sector sec ON sec.code = c.key;

CREATE VIEW bench_old.bi_emissions_coverage AS
SELECT s.period, s.province, r.name_zh AS province_name,
       count(*) AS covered_units,
       count(*) FILTER (WHERE s.emissions_t IS NOT NULL) AS confirmed_units,
       count(*) FILTER (WHERE s.emissions_t IS NULL) AS missing_units,
       count(*) FILTER (WHERE s.emissions_basis = 'estimated') AS estimated_units,
       coalesce(sum(s.emissions_t), 0)::bigint AS confirmed_t,
       coalesce(sum(s.emissions_t) FILTER (WHERE s.emissions_basis = 'estimated'), 0)::bigint AS estimated_t,
       round((count(*) FILTER (WHERE s.emissions_t IS NOT NULL))::numeric / count(*), 4) AS coverage_rate
  FROM bench_old.obligation_status s
  JOIN carbonmkt.region r ON r.code = s.province
 GROUP BY s.period, s.province, r.name_zh;

CREATE VIEW bench_old.bi_price_history AS
SELECT d.price_date, d.average_price_fen, round(d.average_price_fen / 100.0, 2) AS average_price_cny, d.volume_t,
       d.price_source, d.source
  FROM bench_old._daily_prices('CN', '-infinity', 'infinity') d;

-- the two trading views before end_of_day() kept trading statistics per participant and month
-- (main at b3c0a57): the whole tape aggregated on each read
CREATE VIEW bench_old._trade_legs AS
SELECT t.trade_id, t.buyer_id AS participant_id, 'buy'::text AS side, t.business_date, t.product_id, t.mode,
       t.quantity, t.price_fen * t.quantity AS notional_fen, t.buyer_fee_fen AS fee_fen
  FROM carbonmkt.trade t
UNION ALL
SELECT t.trade_id, t.seller_id, 'sell', t.business_date, t.product_id, t.mode,
       t.quantity, t.price_fen * t.quantity, t.seller_fee_fen
  FROM carbonmkt.trade t;

CREATE VIEW bench_old.bi_trading_activity AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT l.participant_id, p.name AS participant_name, p.kind::text AS participant_kind, p.province,
       r.name_zh AS province_name, p.sector, sec.name_zh AS sector_name,
       date_trunc('month', l.business_date)::date AS month, pr.instrument::text AS instrument,
       count(*) AS trades,
       coalesce(sum(l.quantity) FILTER (WHERE l.side = 'buy'), 0)::bigint AS bought_t,
       coalesce(sum(l.quantity) FILTER (WHERE l.side = 'sell'), 0)::bigint AS sold_t,
       (coalesce(sum(l.quantity) FILTER (WHERE l.side = 'buy'), 0) - coalesce(sum(l.quantity) FILTER (WHERE l.side = 'sell'), 0))::bigint AS net_t,
       round(coalesce(sum(l.notional_fen) FILTER (WHERE l.side = 'buy'), 0) / 100.0, 2) AS bought_cny,
       round(coalesce(sum(l.notional_fen) FILTER (WHERE l.side = 'sell'), 0) / 100.0, 2) AS sold_cny,
       round(sum(l.fee_fen) / 100.0, 2) AS fees_cny,
       coalesce(sum(l.quantity) FILTER (WHERE l.mode = 'listed'), 0)::bigint AS listed_t,
       coalesce(sum(l.quantity) FILTER (WHERE l.mode = 'block'), 0)::bigint AS block_t,
       coalesce(sum(l.quantity) FILTER (WHERE l.mode NOT IN ('listed', 'block')), 0)::bigint AS auction_t,
       min(l.business_date) AS first_trade_date, max(l.business_date) AS last_trade_date
  FROM bench_old._trade_legs l
  JOIN carbonmkt.product pr ON pr.product_id = l.product_id
  JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province
  LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 CROSS JOIN s
 WHERE s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city
 GROUP BY l.participant_id, p.name, p.kind, p.province, r.name_zh, p.sector, sec.name_zh,
          date_trunc('month', l.business_date), pr.instrument;

CREATE VIEW bench_old.bi_trading_by_sector AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT date_trunc('month', l.business_date)::date AS month, p.sector, sec.name AS sector_name_en,
       coalesce(sec.name_zh, '非重点排放单位') AS sector_name, pr.instrument::text AS instrument,
       count(DISTINCT l.participant_id) AS participants, count(*) AS trades,
       coalesce(sum(l.quantity) FILTER (WHERE l.side = 'buy'), 0)::bigint AS bought_t,
       coalesce(sum(l.quantity) FILTER (WHERE l.side = 'sell'), 0)::bigint AS sold_t,
       round(coalesce(sum(l.notional_fen) FILTER (WHERE l.side = 'buy'), 0) / 100.0, 2) AS bought_cny,
       round(coalesce(sum(l.notional_fen) FILTER (WHERE l.side = 'sell'), 0) / 100.0, 2) AS sold_cny,
       round(sum(l.fee_fen) / 100.0, 2) AS fees_cny
  FROM bench_old._trade_legs l
  JOIN carbonmkt.product pr ON pr.product_id = l.product_id
  JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
  LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 CROSS JOIN s
 WHERE s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city
 GROUP BY date_trunc('month', l.business_date), p.sector, sec.name, sec.name_zh, pr.instrument;
