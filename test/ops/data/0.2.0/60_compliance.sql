-- Demo, act 6: compliance (清缴履约) for 2024 in the national market of act 2.
-- The obligations with their relief, CCER and the 5% offset cap enforced by the C trigger
-- on the journal, a hard case that borrows from the 2025 pre-allocation, the surrender
-- season, refusals, and the close of the period with Decree 775 sanctions.
-- Reads the confirmed 2024 emissions (act 3), the allocation room's allocation_result (act 4)
-- and the market's prices (act 5), reference prices where the market did not trade.
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2025-10-09 09:00:00+08';
\set QUIET on

-- runs a statement, returns 'ok' or the refusal with its SQLSTATE
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RETURN format('refused (SQLSTATE %s): %s', SQLSTATE, SQLERRM);
END $$;
CREATE FUNCTION pg_temp.t(v numeric) RETURNS text LANGUAGE sql AS $$ SELECT to_char(v, 'FM999,999,999,990') $$;

\echo
\echo '== 6.1 Compliance period 2024 (2024年度清缴): every covered unit''s obligation and its relief'
\echo '   The relief of the sources (gap cap, gas cap, borrowing) ends with 2022 (RULES.md 6); this demo'
\echo '   assumes a 2024 rule with the same numbers, set by the national authority (set_rule, doc/rules.md):'
SELECT set_rule('relief_rule', '{"jurisdiction": "CN", "from_year": 2024, "until_year": 2024, "sectors": ["power"],
                                 "gap_cap_share": 0.20, "gas_cap": true, "borrowing_min_gap_share": 0.10,
                                 "borrowing_max_share": 0.50}',
                'demo: the 2019-2022 relief numbers assumed for 2024 (not a published rule)',
                acting_for => (SELECT participant_id FROM participant WHERE kind = 'national_authority')) AS relief_rule_2024
 WHERE NOT EXISTS (SELECT 1 FROM relief_rule WHERE jurisdiction = 'CN' AND from_year = 2024);
SELECT open_period(2024, '2024 annual compliance (2024年度清缴)', 2024, 2024, '2025-12-31') AS period_opened
 WHERE NOT EXISTS (SELECT 1 FROM compliance_period WHERE period = 2024);
\echo '   Gas-fired units (燃气机组) are those whose generating units are all gas-fired (act 4''s facilities);'
\echo '   the authority''s flag is only an override, refused where the facilities say otherwise:'
SELECT count(*) FILTER (WHERE gas_fired) AS gas_fired_units, count(*) FILTER (WHERE gas_basis = 'facilities') AS decided_by_facilities
  FROM _obligation_figures WHERE period = 2024 AND sector = 'power';
SELECT pg_temp.try(format('SELECT set_gas_fired(%s, true)', min(f.participant_id))) AS flag_a_coal_unit_gas_fired
  FROM facility f WHERE f.category = 'coal_300mw_plus'
   AND NOT EXISTS (SELECT 1 FROM facility g WHERE g.participant_id = f.participant_id AND g.category = 'gas');
\echo '   The allocation is the allocation room''s (allocation_result, act 4):'
SELECT count(*) AS units_allocated_2024, count(*) FILTER (WHERE is_final) AS final, pg_temp.t(sum(allocated_t)) AS allocated_t
  FROM allocation_result WHERE year = 2024;
\echo '   Obligation = confirmed emissions, capped for power units at allocation + 20% (gap cap) and for gas units at allocation:'
SELECT coalesce(relief, '(no emissions)') AS relief, count(*) AS units, pg_temp.t(sum(emissions_t)) AS emissions_t,
       pg_temp.t(sum(allocation_t)) AS allocation_t, pg_temp.t(sum(obligation_t)) AS obligation_t,
       pg_temp.t(sum(relief_t)) AS relief_t
  FROM obligation_status WHERE period = 2024 GROUP BY relief ORDER BY relief NULLS LAST;
SELECT DISTINCT ON (relief) unit_name, relief_reason
  FROM obligation_status WHERE period = 2024 AND relief IN ('gap_cap', 'gas_cap') ORDER BY relief, participant_id;

\echo
\echo '== 6.2 CCER (国家核证自愿减排量): projects, purchases, and the 5% cap enforced by the surrender trigger'
SELECT register_ccer_project('GD-OW-0042', 'Yangjiang offshore wind farm', 'offshore_wind', '440000') AS p1,
       register_ccer_project('FJ-FR-0007', 'Sanming afforestation', 'afforestation', '350000') AS p2,
       register_ccer_project('HI-MG-0003', 'Dongzhai harbour mangrove', 'mangrove', '460000') AS p3,
       register_ccer_project('QH-ST-0011', 'Delingha solar thermal', 'solar_thermal', '630000') AS p4,
       register_ccer_project('GD-CH4-0009', 'Methane recovery at a covered power plant', 'methane_recovery', '440000',
                             (SELECT min(participant_id) FROM participant WHERE kind = 'key_emitter' AND province = '440000')) AS p5;
SELECT count(issue_ccer(1, format('CCER:%s:2024:1-20000000', x.prj)::ccer)) AS ccer_blocks_issued
  FROM unnest(ARRAY['GD-OW-0042', 'FJ-FR-0007', 'HI-MG-0003', 'QH-ST-0011', 'GD-CH4-0009']) x(prj);
\echo '   One unit in ten buys CCER, about 6% of what it owes (more than the 5% it may use):'
SELECT count(transfer_ccer(1, h.account_id, (ARRAY['GD-OW-0042', 'FJ-FR-0007', 'HI-MG-0003', 'QH-ST-0011'])[1 + (s.participant_id / 10) % 4],
                           2024, ceil(s.obligation_t * 0.06)::bigint, 'ccer-buy-' || h.account_id)) AS units_buying_ccer
  FROM obligation_status s JOIN account h ON h.participant_id = s.participant_id AND h.kind = 'holding'
 WHERE s.period = 2024 AND s.obligation_t > 0 AND s.participant_id % 10 = 0;
SELECT s.participant_id AS cap_unit, s.unit_name AS cap_unit_name, h.account_id AS cap_acct, s.offset_cap_t AS cap_t,
       b.project AS cap_prj
  FROM obligation_status s JOIN account h ON h.participant_id = s.participant_id AND h.kind = 'holding'
  JOIN holding b ON b.account_id = h.account_id AND b.instrument = 'CCER'
 WHERE s.period = 2024 AND s.participant_id % 10 = 0 AND s.obligation_t >= 1000000
 ORDER BY s.participant_id LIMIT 1 \gset
\echo '   ':cap_unit_name' owes more than 1,000,000 t; it surrenders CCER up to its cap, then one tonne more:'
SELECT unit_name, pg_temp.t(obligation_t) AS obligation_t, pg_temp.t(offset_cap_t) AS offset_cap_t
  FROM obligation_status WHERE period = 2024 AND participant_id = :cap_unit;
SELECT surrender_ccer(:cap_acct, :'cap_prj', 2024, :cap_t, 2024, 'demo-cap') IS NOT NULL AS surrendered_up_to_the_cap;
SELECT pg_temp.try(format('SELECT surrender_ccer(%s, %L, 2024, 1, 2024)', :cap_acct, :'cap_prj')) AS the_next_tonne;
\echo '   CCER from a project inside a covered unit is not eligible:'
SELECT transfer_ccer(1, :cap_acct, 'GD-CH4-0009', 2024, 100) IS NOT NULL AS bought_100_t;
SELECT pg_temp.try(format('SELECT surrender_ccer(%s, %L, 2024, 100, 2024)', :cap_acct, 'GD-CH4-0009')) AS covered_unit_project;

\echo
\echo '== 6.3 A hard case: borrowing (预支) from the 2025 pre-allocation'
SELECT s.participant_id AS hard_id, s.unit_name AS hard_name, h.account_id AS hard_acct, s.gap_t AS hard_gap,
       floor(s.gap_t * 0.5)::bigint AS hard_max
  FROM _obligation_figures s JOIN account h ON h.participant_id = s.participant_id AND h.kind = 'holding'
 WHERE s.period = 2024 AND s.sector = 'power' AND NOT s.gas_fired AND s.emissions_t > 0
 ORDER BY s.gap_t::numeric / s.emissions_t DESC, s.participant_id LIMIT 1 \gset
SELECT unit_name, pg_temp.t(emissions_t) AS emissions_t, pg_temp.t(allocation_t) AS allocation_t,
       pg_temp.t(obligation_t) AS obligation_t, pg_temp.t(obligation_t - allocation_t) AS gap_t,
       round(100.0 * (obligation_t - allocation_t) / emissions_t, 1) AS gap_pct
  FROM obligation_status WHERE period = 2024 AND participant_id = :hard_id;
\echo '   Without its province''s hardship flag, borrowing is refused:'
SELECT pg_temp.try(format('SELECT borrow_cea(%s, 1000, 2024)', :hard_acct)) AS before_the_flag;
SELECT 'hardship flagged' AS province_decision
  FROM (SELECT flag_hardship(:hard_id, 2024, 'coal price spike and a four-month outage in 2024 (demo)')) x;
\echo '   It may borrow up to 50% of its gap, not one tonne more:'
SELECT pg_temp.try(format('SELECT borrow_cea(%s, %s, 2024)', :hard_acct, :hard_max + 1)) AS above_half_the_gap;
\echo '   The province lends from its allocation account: it issues the 2025 allowances it lends there first:'
SELECT issue_cea(a.account_id, 2025, :hard_max, 'demo-borrow-reserve', 'reserve for borrowing (预支)') IS NOT NULL AS lending_reserve_issued
  FROM account a
 WHERE a.kind = 'allocation' AND a.province = (SELECT province FROM participant WHERE participant_id = :hard_id);
SELECT borrow_cea(:hard_acct, :hard_max, 2024, 'demo-borrow-1') AS borrowing_id;
SELECT participant_id, period, vintage, pg_temp.t(tonnes) AS tonnes, pg_temp.t(gap_t) AS gap_t FROM borrowing;
\echo '   ... and next year''s allocation records it (the allocation room reads allocation_adjustment): delivered early,'
\echo '   so the final 2025 true-up will issue that much less (pending_t):'
SELECT participant_id, year, pg_temp.t(tonnes) AS tonnes, reason FROM allocation_adjustment;
SELECT participant_id, year, pg_temp.t(preallocated_t) AS preallocated_t, pg_temp.t(borrowed_t) AS borrowed_t,
       pg_temp.t(entitlement_t) AS entitlement_t, pg_temp.t(issued_t) AS issued_t, pg_temp.t(pending_t) AS pending_t
  FROM allocation_result WHERE participant_id = :hard_id AND year = 2025;

\echo
\echo '== 6.4 The surrender season: units surrender; those short buy from units with a surplus first'
DO $$
DECLARE
    r       record;
    s       record;
    have    bigint;
    give    bigint;
    need    bigint;
BEGIN
    -- pass 1: CCER (up to the cap), borrowed 2025 CEA, then 2024 CEA, up to what is owed
    FOR r IN SELECT o.participant_id, h.account_id, o.remaining_t, o.offset_cap_t - o.surrendered_ccer_t AS ccer_room
               FROM obligation_status o JOIN account h ON h.participant_id = o.participant_id AND h.kind = 'holding'
              WHERE o.period = 2024 AND o.remaining_t > 0 ORDER BY o.participant_id LOOP
        need := r.remaining_t;
        FOR s IN SELECT b.project, b.balance FROM holding b JOIN ccer_project c ON c.project = b.project
                  WHERE b.account_id = r.account_id AND b.instrument = 'CCER' AND b.balance > 0 AND c.host_participant IS NULL LOOP
            give := least(s.balance, r.ccer_room, need);
            CONTINUE WHEN give <= 0;
            PERFORM surrender_ccer(r.account_id, s.project, 2024, give, 2024);
            need := need - give;
            r.ccer_room := r.ccer_room - give;
        END LOOP;
        SELECT coalesce(sum(balance - held), 0) INTO have FROM holding
         WHERE account_id = r.account_id AND instrument = 'CEA' AND vintage = 2025;
        -- of the 2025 vintage only what was borrowed for 2024 (the rest is its 2025 pre-allocation)
        have := least(have, (SELECT coalesce(sum(b.tonnes), 0) FROM borrowing b
                              WHERE b.account_id = r.account_id AND b.period = 2024));
        IF have > 0 THEN
            PERFORM surrender_cea(r.account_id, 2025, least(have, need), 2024);
            need := need - least(have, need);
        END IF;
        SELECT coalesce(sum(balance - held), 0) INTO have FROM holding
         WHERE account_id = r.account_id AND instrument = 'CEA' AND vintage = 2024;
        IF least(have, need) > 0 THEN
            PERFORM surrender_cea(r.account_id, 2024, least(have, need), 2024);
        END IF;
    END LOOP;
    -- pass 2: the units still short buy 2024 CEA from units that have complied and have a
    -- surplus (block trades), then surrender; one unit in 150 does not (it will be sanctioned)
    CREATE TEMP TABLE seller ON COMMIT DROP AS
    SELECT h.account_id, b.balance - b.held AS avail
      FROM obligation_status x
      JOIN account h ON h.participant_id = x.participant_id AND h.kind = 'holding'
      JOIN holding b ON b.account_id = h.account_id AND b.instrument = 'CEA' AND b.vintage = 2024
     WHERE x.period = 2024 AND x.status = 'compliant' AND b.balance - b.held > 0;
    FOR r IN SELECT o.participant_id, h.account_id, o.remaining_t
               FROM obligation_status o JOIN account h ON h.participant_id = o.participant_id AND h.kind = 'holding'
              WHERE o.period = 2024 AND o.remaining_t > 0 AND o.participant_id % 150 <> 7 ORDER BY o.participant_id LOOP
        need := r.remaining_t;
        FOR s IN SELECT x.account_id, x.avail FROM seller x WHERE x.avail > 0 ORDER BY x.avail DESC, x.account_id LOOP
            EXIT WHEN need = 0;
            give := least(s.avail, need);
            PERFORM transfer_cea(s.account_id, r.account_id, 2024, give, NULL, 'block trade (大宗协议)');
            UPDATE seller SET avail = avail - give WHERE seller.account_id = s.account_id;
            need := need - give;
        END LOOP;
        PERFORM surrender_cea(r.account_id, 2024, r.remaining_t - need, 2024) WHERE r.remaining_t - need > 0;
    END LOOP;
END $$;
SELECT status, count(*) AS units, pg_temp.t(sum(obligation_t)) AS obligation_t, pg_temp.t(sum(surrendered_t)) AS surrendered_t,
       pg_temp.t(sum(surrendered_ccer_t)) AS of_which_ccer, pg_temp.t(sum(remaining_t)) AS remaining_t
  FROM obligation_status WHERE period = 2024 GROUP BY status ORDER BY status;

\echo
\echo '== 6.5 Refused, and nothing moves'
-- a unit that has complied and still holds 2024 allowances, and its neighbour
SELECT h.account_id AS some_acct, h2.account_id AS other_acct, s.participant_id AS some_unit, s.unit_name AS some_name,
       a.account_id AS some_alloc
  FROM obligation_status s
  JOIN participant p ON p.participant_id = s.participant_id
  JOIN account h ON h.participant_id = s.participant_id AND h.kind = 'holding'
  JOIN holding b ON b.account_id = h.account_id AND b.instrument = 'CEA' AND b.vintage = 2024 AND b.balance - b.held > 10
  JOIN account h2 ON h2.participant_id = s.participant_id + 1 AND h2.kind = 'holding'
  JOIN account a ON a.kind = 'allocation' AND a.province = p.province
 WHERE s.period = 2024 AND s.status = 'compliant' ORDER BY s.participant_id LIMIT 1 \gset
\echo '   ':some_name' has complied, holds 2024 allowances left over and its 2025 pre-allocation (预分配):'
SELECT asset, balance FROM account_balance WHERE account_id = :some_acct AND asset LIKE 'CEA%' ORDER BY asset;
SELECT 'a period that does not exist' AS attempt, pg_temp.try(format('SELECT surrender_cea(%s, 2024, 1, 2023)', :some_acct)) AS outcome
UNION ALL
SELECT 'a unit without confirmed emissions', pg_temp.try(format('SELECT surrender_cea(%s, 2024, 1, 2024)',
       (SELECT h.account_id FROM obligation_status s
          JOIN account h ON h.participant_id = s.participant_id AND h.kind = 'holding'
          JOIN holding b ON b.account_id = h.account_id AND b.instrument = 'CEA' AND b.vintage = 2024
                        AND b.balance - b.held >= 1
         WHERE s.period = 2024 AND s.status = 'no_emissions' ORDER BY 1 LIMIT 1)))
UNION ALL
SELECT 'CEA of 2025, not borrowed', pg_temp.try(format('SELECT surrender_cea(%s, 2025, 1, 2024)', :some_acct))
UNION ALL
SELECT 'beyond the obligation', pg_temp.try(format('SELECT surrender_cea(%s, 2024, 1, 2024)', :some_acct));
\echo '   A unit''s login tries to surrender another unit''s allowances:'
SET client_min_messages = warning;
DROP ROLE IF EXISTS demo_unit_login;
CREATE ROLE demo_unit_login LOGIN IN ROLE carbonmkt_participant;
RESET client_min_messages;
SELECT 'login mapped to ' || :'some_name' AS registry FROM (SELECT map_login('demo_unit_login', :some_unit)) x;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO demo_unit_login;
SET SESSION AUTHORIZATION demo_unit_login;
SELECT pg_temp.try(format('SELECT carbonmkt.surrender_cea(%s, 2024, 1, 2024)', :other_acct)) AS another_units_allowances;
SELECT count(*) AS obligation_rows_it_sees FROM carbonmkt.obligation_status;
RESET SESSION AUTHORIZATION;

\echo
\echo '== 6.6 Closing the period (2026-01-05): statuses frozen, shortfalls sanctioned by Decree 775'
SET carbonmkt.clock = '2026-01-05 09:00:00+08';
-- the fine is 5x the average price of December 2025: the market's own trades (act 5) where it
-- traded, else a reference price: here the exchange's monthly report, entered by the MEE
\echo '   Decree 775 prices the fine at the average price of the month before the deadline; the market did not trade'
\echo '   in December in this demo, so the MEE enters the exchange''s published monthly figure:'
SELECT count(record_average_price('2025-12-31', 75.12, 'SEEE monthly report December 2025 (entered by the MEE)'))
       AS monthly_price_entered
 WHERE (_average_price('CN', '2025-12-01', '2025-12-31')).market_days = 0;
SELECT to_char(average_price_fen / 100.0, 'FM990.00') AS december_average_cny, price_source, market_days, reference_days
  FROM _average_price('CN', '2025-12-01', '2025-12-31');
SELECT units, compliant, shortfalls, no_emissions, pg_temp.t(shortfall_t) AS shortfall_t,
       to_char(fines_fen / 100.0, 'FM999,999,999,990.00') AS fines_cny, pg_temp.t(cut_t) AS cut_of_2025_t
  FROM close_period(2024);
\echo '   The record for the national credit platform (全国信用信息共享平台), largest first:'
SELECT credit_code, unit_name, province_name, pg_temp.t(shortfall_t) AS shortfall_t, fine, pg_temp.t(cut_t) AS cut_t, cut_year
  FROM credit_platform_record ORDER BY credit_platform_record.shortfall_t DESC LIMIT 5;
SELECT record_text FROM credit_platform_record ORDER BY shortfall_t DESC LIMIT 1;
SELECT DISTINCT price_source, price_market_days, price_reference_days, to_char(average_price_fen / 100.0, 'FM990.00') AS price_cny
  FROM sanction WHERE period = 2024;
\echo '   After the close nothing more is accepted for 2024 from a unit that complied:'
SELECT pg_temp.try(format('SELECT surrender_cea(%s, 2024, 1, 2024)', :some_acct)) AS late_surrender;

\echo
\echo '== 6.7 Correction (改正): a sanctioned unit buys and surrenders its shortfall late (2026-01-20)'
SET carbonmkt.clock = '2026-01-20 09:00:00+08';
SELECT x.participant_id AS late_id, p.name AS late_name, h.account_id AS late_acct, x.shortfall_t AS late_t
  FROM sanction x JOIN participant p USING (participant_id)
  JOIN account h ON h.participant_id = x.participant_id AND h.kind = 'holding'
 WHERE x.period = 2024 ORDER BY x.shortfall_t DESC, x.participant_id LIMIT 1 \gset
\echo '   ':late_name' owes ':late_t' t; it buys what a unit with a surplus can sell and surrenders it for 2024:'
SELECT transfer_cea(:some_acct, :late_acct, 2024, least(:late_t, b.balance - b.held), NULL, 'block trade (大宗协议)') IS NOT NULL AS bought
  FROM holding b WHERE b.account_id = :some_acct AND b.instrument = 'CEA' AND b.vintage = 2024;
SELECT pg_temp.try(format('SELECT surrender_cea(%s, 2024, %s, 2024)', :late_acct,
                          (SELECT least(:late_t, b.balance - b.held) FROM holding b
                            WHERE b.account_id = :late_acct AND b.instrument = 'CEA' AND b.vintage = 2024))) AS late_surrender;
\echo '   The fine stands; the cut of its 2025 allocation is withdrawn for what it corrected:'
SELECT unit_name, pg_temp.t(shortfall_t) AS shortfall_t, pg_temp.t(corrected_t) AS corrected_t, corrected_on, fine,
       pg_temp.t(cut_t) AS cut_decided_t, pg_temp.t(cut_in_force_t) AS cut_in_force_t
  FROM credit_platform_record WHERE credit_platform_record.shortfall_t = :late_t ORDER BY sanction_id LIMIT 1;
SELECT count(*) AS ledger_problems FROM verify_ledger();
