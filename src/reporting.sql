-------------------------------------------------------------------------------
-- reporting: the BI views (doc/bi.md).  Stable names (bi_*), one row meaning each,
-- every column documented.  They read the compliance room's obligation_status (so a
-- participant's login sees its own unit, a provincial authority its province) and the
-- registry ledger.  Runs after access.sql: the grants at the end are final.
--
-- Not here yet: market statistics per day (the market room's tables are not on this
-- branch) and MRV's own data-quality view (the MRV room builds it); bi_emissions_coverage
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

-- completion rates: by tonnes (配额清缴完成率, what the MEE publishes) and by units
CREATE VIEW carbonmkt.bi_completion_by_period AS
SELECT s.period, per.name AS period_name, per.status AS period_status, per.deadline,
       count(*) AS units,
       count(*) FILTER (WHERE s.obligation_t IS NOT NULL) AS units_with_obligation,
       count(*) FILTER (WHERE s.status = 'compliant') AS compliant_units,
       count(*) FILTER (WHERE s.status = 'shortfall') AS shortfall_units,
       count(*) FILTER (WHERE s.status = 'open') AS open_units,
       count(*) FILTER (WHERE s.status = 'no_emissions') AS no_emissions_units,
       coalesce(sum(s.obligation_t), 0)::bigint AS obligation_t,
       coalesce(sum(least(s.surrendered_t, s.obligation_t)), 0)::bigint AS surrendered_t,
       coalesce(sum(s.surrendered_ccer_t), 0)::bigint AS ccer_t,
       coalesce(sum(s.remaining_t), 0)::bigint AS remaining_t,
       round(sum(least(s.surrendered_t, s.obligation_t))::numeric / nullif(sum(s.obligation_t), 0), 4) AS completion_rate,
       round((count(*) FILTER (WHERE s.status = 'compliant'))::numeric
             / nullif(count(*) FILTER (WHERE s.obligation_t IS NOT NULL), 0), 4) AS unit_completion_rate
  FROM carbonmkt.obligation_status s
  JOIN carbonmkt.compliance_period per ON per.period = s.period
 GROUP BY s.period, per.name, per.status, per.deadline;
COMMENT ON VIEW carbonmkt.bi_completion_by_period IS
  'BI: completion per period over the units the login sees (national for BI, registry and the national authority): units by status, tonnes due and surrendered, completion_rate = surrendered (up to each obligation) / obligation (配额清缴完成率), unit_completion_rate = compliant units / units with an obligation.';

CREATE VIEW carbonmkt.bi_completion_by_province AS
SELECT s.period, s.province, r.name AS province_name_en, r.name_zh AS province_name,
       count(*) AS units,
       count(*) FILTER (WHERE s.obligation_t IS NOT NULL) AS units_with_obligation,
       count(*) FILTER (WHERE s.status = 'compliant') AS compliant_units,
       count(*) FILTER (WHERE s.status = 'shortfall') AS shortfall_units,
       count(*) FILTER (WHERE s.status = 'open') AS open_units,
       count(*) FILTER (WHERE s.status = 'no_emissions') AS no_emissions_units,
       coalesce(sum(s.obligation_t), 0)::bigint AS obligation_t,
       coalesce(sum(least(s.surrendered_t, s.obligation_t)), 0)::bigint AS surrendered_t,
       coalesce(sum(s.surrendered_ccer_t), 0)::bigint AS ccer_t,
       coalesce(sum(s.remaining_t), 0)::bigint AS remaining_t,
       round(sum(least(s.surrendered_t, s.obligation_t))::numeric / nullif(sum(s.obligation_t), 0), 4) AS completion_rate,
       round((count(*) FILTER (WHERE s.status = 'compliant'))::numeric
             / nullif(count(*) FILTER (WHERE s.obligation_t IS NOT NULL), 0), 4) AS unit_completion_rate
  FROM carbonmkt.obligation_status s
  JOIN carbonmkt.region r ON r.code = s.province
 GROUP BY s.period, s.province, r.name, r.name_zh;
COMMENT ON VIEW carbonmkt.bi_completion_by_province IS
  'BI: completion per period and province (省): the columns of bi_completion_by_period for the units of each province.';

CREATE VIEW carbonmkt.bi_completion_by_sector AS
SELECT s.period, s.sector, sec.name AS sector_name_en, sec.name_zh AS sector_name,
       count(*) AS units,
       count(*) FILTER (WHERE s.obligation_t IS NOT NULL) AS units_with_obligation,
       count(*) FILTER (WHERE s.status = 'compliant') AS compliant_units,
       count(*) FILTER (WHERE s.status = 'shortfall') AS shortfall_units,
       count(*) FILTER (WHERE s.status = 'open') AS open_units,
       count(*) FILTER (WHERE s.status = 'no_emissions') AS no_emissions_units,
       coalesce(sum(s.obligation_t), 0)::bigint AS obligation_t,
       coalesce(sum(least(s.surrendered_t, s.obligation_t)), 0)::bigint AS surrendered_t,
       coalesce(sum(s.surrendered_ccer_t), 0)::bigint AS ccer_t,
       coalesce(sum(s.remaining_t), 0)::bigint AS remaining_t,
       round(sum(least(s.surrendered_t, s.obligation_t))::numeric / nullif(sum(s.obligation_t), 0), 4) AS completion_rate,
       round((count(*) FILTER (WHERE s.status = 'compliant'))::numeric
             / nullif(count(*) FILTER (WHERE s.obligation_t IS NOT NULL), 0), 4) AS unit_completion_rate
  FROM carbonmkt.obligation_status s
  JOIN carbonmkt.sector sec ON sec.code = s.sector
 GROUP BY s.period, s.sector, sec.name, sec.name_zh;
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
                      WHERE p.jurisdiction = 'national' AND p.status = 'closed'
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
SELECT r.price_date, r.average_price_fen, round(r.average_price_fen / 100.0, 2) AS average_price_cny, r.volume_t, r.source
  FROM carbonmkt.reference_price r;
COMMENT ON VIEW carbonmkt.bi_price_history IS
  'BI: CEA average price per day (fen and CNY per tonne) as recorded in carbonmkt.reference_price, with volume and source.  To read the market room''s daily statistics first once merged.';

-- Access --------------------------------------------------------------------------
GRANT SELECT ON carbonmkt.bi_compliance_status
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi;
GRANT SELECT ON carbonmkt.bi_completion_by_period, carbonmkt.bi_completion_by_province,
                carbonmkt.bi_completion_by_sector, carbonmkt.bi_emissions_coverage,
                carbonmkt.bi_allowance_supply, carbonmkt.bi_ccer_use
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;
GRANT SELECT ON carbonmkt.bi_price_history TO PUBLIC;
