-------------------------------------------------------------------------------
-- compliance (清缴履约, RULES.md 6): compliance periods, the rule tables (offset
-- ratio and its basis, CCER eligibility, relief, borrowing, penalties), the
-- obligation of each key emitting unit, the surrender rules (enforced by the C
-- trigger carbonmkt.compliance_surrender on carbonmkt.journal), borrowing (预支),
-- period close, sanctions and the record for the national credit platform.
-- C: src/compliance.c.  Documentation: doc/compliance.md.
--
-- Reads: carbonmkt.confirmed_emission (MRV), the registry ledger (allocation, in ONE
-- place: the view carbonmkt._allocation_source), reference prices (in ONE place:
-- carbonmkt._average_price_fen).  Writes for the allocation room: next year's
-- allocation cuts in carbonmkt.allocation_adjustment.
-------------------------------------------------------------------------------

-- Jurisdictions and compliance periods -------------------------------------------

CREATE TABLE carbonmkt.jurisdiction (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z][a-z_]*$'),
    name        text NOT NULL,
    name_zh     text NOT NULL,
    province    char(6) REFERENCES carbonmkt.region,   -- NULL: the whole country
    city        char(6),                               -- a city pilot (Shenzhen)
    CHECK (city IS NULL OR (province IS NOT NULL AND carbonmkt.valid_city_code(city, province)))
);
COMMENT ON TABLE carbonmkt.jurisdiction IS
  'Markets whose rules the rule tables hold: the national market (national, 全国碳市场) and the pilot markets (试点) of RULES.md 6.  A period of a jurisdiction covers the key emitting units of its province (or city), all of them for the national market.';
INSERT INTO carbonmkt.jurisdiction (code, name, name_zh, province, city) VALUES
  ('national', 'National carbon market', '全国碳排放权交易市场', NULL, NULL),
  ('beijing', 'Beijing pilot', '北京试点', '110000', NULL),
  ('tianjin', 'Tianjin pilot', '天津试点', '120000', NULL),
  ('shanghai', 'Shanghai pilot', '上海试点', '310000', NULL),
  ('chongqing', 'Chongqing pilot', '重庆试点', '500000', NULL),
  ('hubei', 'Hubei pilot', '湖北试点', '420000', NULL),
  ('guangdong', 'Guangdong pilot', '广东试点', '440000', NULL),
  ('shenzhen', 'Shenzhen pilot', '深圳试点', '440000', '440300'),
  ('fujian', 'Fujian pilot', '福建试点', '350000', NULL);

CREATE TYPE carbonmkt.period_status AS ENUM ('open', 'closed');
COMMENT ON TYPE carbonmkt.period_status IS
  'open: surrenders (清缴) accepted, obligations live; closed: statuses, shortfalls and sanctions frozen, no surrender accepted.';

CREATE TABLE carbonmkt.compliance_period (
    period          int PRIMARY KEY CHECK (period > 0),
    jurisdiction    text NOT NULL DEFAULT 'national' REFERENCES carbonmkt.jurisdiction,
    name            text NOT NULL CHECK (btrim(name) <> ''),
    first_year      int NOT NULL CHECK (first_year BETWEEN 2005 AND 2100),
    last_year       int NOT NULL CHECK (last_year BETWEEN 2005 AND 2100),
    deadline        date NOT NULL,
    status          carbonmkt.period_status NOT NULL DEFAULT 'open',
    opened_at       timestamptz NOT NULL,
    opened_by       name NOT NULL,
    closed_at       timestamptz,
    closed_by       name,
    CHECK (last_year >= first_year),
    CHECK (deadline > make_date(last_year, 12, 31)),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
COMMENT ON TABLE carbonmkt.compliance_period IS
  'Compliance periods (履约周期): the years whose confirmed emissions are due, the surrender deadline and the jurisdiction whose rules apply.  The period id is what carbonmkt.journal.period carries; national periods are numbered by their first year (2019 for 2019-2020, 2024 for 2024).  Opened with open_period(), closed with close_period().';

-- Rule tables (ARCHITECTURE.md principle 2) ---------------------------------------
-- Every rule row is keyed by jurisdiction and the first compliance year it applies
-- to: a period uses, per table, the row of its jurisdiction with the greatest
-- from_year <= its first year (carbonmkt._period_rules).

CREATE TYPE carbonmkt.offset_basis AS ENUM (
    'obligation',           -- national: allowances due (应清缴配额), the obligation after relief
    'issued_allowances',    -- Beijing, Shanghai: allowances issued for the year (核发配额)
    'initial_allowances',   -- Hubei: initial allowances (年度初始配额), the first allocation
    'verified_emissions'    -- Tianjin, Chongqing, Guangdong, Shenzhen, Fujian: verified emissions (排放量)
);
COMMENT ON TYPE carbonmkt.offset_basis IS
  'What the CCER offset ratio (抵销比例) is a share of: obligation (national: the allowances due), issued_allowances, initial_allowances (the first allocation), verified_emissions.';

CREATE TABLE carbonmkt.offset_rule (
    jurisdiction        text NOT NULL REFERENCES carbonmkt.jurisdiction,
    from_year           int NOT NULL CHECK (from_year BETWEEN 2005 AND 2100),
    ratio               numeric NOT NULL CHECK (ratio >= 0 AND ratio <= 1),
    basis               carbonmkt.offset_basis NOT NULL,
    local_share_min     numeric CHECK (local_share_min > 0 AND local_share_min <= 1),
    ccer_min_vintage    int CHECK (ccer_min_vintage BETWEEN 2005 AND 2100),
    ccer_max_age        int CHECK (ccer_max_age >= 0),
    excluded_types      text[] NOT NULL DEFAULT '{}',
    exclude_covered_hosts boolean NOT NULL DEFAULT true,
    source              text NOT NULL,
    PRIMARY KEY (jurisdiction, from_year)
);
COMMENT ON TABLE carbonmkt.offset_rule IS
  'CCER offset rules (抵销): at most ratio x basis tonnes of CCER per unit and period (rounded down); at least local_share_min of the CCER surrendered from projects in the unit''s province (本地项目); CCER vintage not before ccer_min_vintage nor more than ccer_max_age years before the period''s last year; project types in excluded_types and (exclude_covered_hosts) projects hosted by a key emitting unit are not eligible.  NULL = no such limit.';
COMMENT ON COLUMN carbonmkt.offset_rule.local_share_min IS
  'Minimum share of local CCER in the unit''s CCER for the period, checked after every surrender (so local units go first).';

INSERT INTO carbonmkt.offset_rule (jurisdiction, from_year, ratio, basis, local_share_min, ccer_min_vintage,
                                   ccer_max_age, excluded_types, exclude_covered_hosts, source) VALUES
  ('national', 2019, 0.05, 'obligation', NULL, NULL, NULL, '{}', true,
   'RULES.md 6: at most 5% of the allowances due; CCER from projects inside covered units not eligible [S3, public]'),
  ('beijing', 2013, 0.05, 'issued_allowances', 0.50, 2013, NULL, '{hydro}', true,
   'S1 L1397-1505: <=5% of issued allowances, non-local <=2.5% (local share >=50%), reductions from 2013, no hydro'),
  ('tianjin', 2013, 0.10, 'verified_emissions', NULL, 2013, NULL, '{hydro}', true,
   'S1 L1397-1505: <=10% of emissions, reductions from 2013, no hydro'),
  ('shanghai', 2013, 0.01, 'issued_allowances', NULL, 2013, NULL, '{}', true,
   'S1 L1397-1505: <=1% of allowances, reductions from 2013'),
  ('chongqing', 2013, 0.08, 'verified_emissions', NULL, NULL, NULL, '{hydro}', true,
   'S1 L1397-1505: <=8% of verified emissions, no hydro'),
  ('hubei', 2013, 0.10, 'initial_allowances', NULL, NULL, NULL, '{hydro}', true,
   'S1 L1397-1505: <=10% of initial allowances, no large or medium hydro'),
  ('guangdong', 2013, 0.10, 'verified_emissions', 0.70, NULL, NULL, '{hydro}', true,
   'S1 L1397-1505: <=10% of emissions, >=70% local CCER, no hydro'),
  ('shenzhen', 2013, 0.10, 'verified_emissions', NULL, NULL, NULL, '{}', true,
   'S1 L1397-1505: <=10% of emissions'),
  ('fujian', 2013, 0.05, 'verified_emissions', NULL, NULL, NULL, '{}', true,
   'RULES.md 6: CCER <=5% of emissions (FFCER <=10%, not modelled)');

CREATE TABLE carbonmkt.relief_rule (
    jurisdiction            text NOT NULL REFERENCES carbonmkt.jurisdiction,
    from_year               int NOT NULL CHECK (from_year BETWEEN 2005 AND 2100),
    sectors                 text[] NOT NULL DEFAULT '{}',
    gap_cap_share           numeric CHECK (gap_cap_share >= 0 AND gap_cap_share <= 1),
    gas_cap                 boolean NOT NULL DEFAULT false,
    borrowing_min_gap_share numeric CHECK (borrowing_min_gap_share >= 0 AND borrowing_min_gap_share <= 1),
    borrowing_max_share     numeric CHECK (borrowing_max_share > 0 AND borrowing_max_share <= 1),
    source                  text NOT NULL,
    PRIMARY KEY (jurisdiction, from_year),
    CHECK ((borrowing_min_gap_share IS NULL) = (borrowing_max_share IS NULL))
);
COMMENT ON TABLE carbonmkt.relief_rule IS
  'Relief (履约减负) for the units of the listed sectors: gap cap (配额缺口上限) obligation <= allocation + gap_cap_share x confirmed emissions; gas_cap: gas-fired units (燃气机组) owe at most their allocation; borrowing (预支): a unit in hardship whose gap (obligation - allocation) is at least borrowing_min_gap_share of its confirmed emissions may borrow up to borrowing_max_share of the gap from next year''s allocation.  NULL = no such relief.';
INSERT INTO carbonmkt.relief_rule VALUES
  ('national', 2019, '{power}', 0.20, true, 0.10, 0.50,
   'RULES.md 6, power-sector relief [S4 L91-96, public]: gap cap allocation + 20% of verified emissions; gas units <= allocation; gap >= 10% in hardship may borrow <= 50% of the gap');

CREATE TYPE carbonmkt.fine_basis AS ENUM ('none', 'fixed', 'price_multiple');
COMMENT ON TYPE carbonmkt.fine_basis IS
  'How a fine for a surrender shortfall is set: none; fixed (a fine in a range, 2021 Measures); price_multiple (a multiple of the average allowance price before the deadline times the shortfall, Decree 775).';

CREATE TABLE carbonmkt.penalty_rule (
    jurisdiction        text NOT NULL REFERENCES carbonmkt.jurisdiction,
    from_year           int NOT NULL CHECK (from_year BETWEEN 2005 AND 2100),
    fine_basis          carbonmkt.fine_basis NOT NULL,
    fine_min_fen        bigint CHECK (fine_min_fen >= 0),
    fine_max_fen        bigint,
    fine_default_fen    bigint,
    multiple_min        numeric CHECK (multiple_min > 0),
    multiple_max        numeric,
    multiple_default    numeric,
    price_months        int CHECK (price_months BETWEEN 1 AND 24),
    cut_multiple        numeric NOT NULL DEFAULT 0 CHECK (cut_multiple >= 0),
    source              text NOT NULL,
    PRIMARY KEY (jurisdiction, from_year),
    CHECK (fine_basis <> 'fixed' OR (fine_min_fen IS NOT NULL AND fine_max_fen >= fine_min_fen
                                     AND fine_default_fen BETWEEN fine_min_fen AND fine_max_fen)),
    CHECK (fine_basis <> 'price_multiple' OR (multiple_min IS NOT NULL AND multiple_max >= multiple_min
                                              AND multiple_default BETWEEN multiple_min AND multiple_max
                                              AND price_months IS NOT NULL))
);
COMMENT ON TABLE carbonmkt.penalty_rule IS
  'Penalties for a surrender shortfall (未足额清缴): the fine (fixed range, or multiple_default x the average reference price of the price_months months up to the deadline x the shortfall) and the cut of next year''s allocation (cut_multiple x the shortfall, 等量核减 when 1).  Defaults are the lower bounds; an authority may revise a fine within the range (revise_fine).';
INSERT INTO carbonmkt.penalty_rule (jurisdiction, from_year, fine_basis, fine_min_fen, fine_max_fen, fine_default_fen,
                                    multiple_min, multiple_max, multiple_default, price_months, cut_multiple, source) VALUES
  ('national', 2019, 'fixed', 2000000, 3000000, 2000000, NULL, NULL, NULL, NULL, 1,
   '2021 Measures (碳排放权交易管理办法（试行）): fine 20,000-30,000 CNY, next year''s allocation cut by the shortfall'),
  ('national', 2023, 'price_multiple', NULL, NULL, NULL, 5, 10, 5, 1, 1,
   'Decree 775 (碳排放权交易管理暂行条例, from 2024-05-01): fine 5-10x the average price of the month before the deadline x shortfall; equal cut of next year''s allocation'),
  ('hubei', 2013, 'none', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 2,
   'S1 L1685-1753: next year''s allocation cut by 2x the shortfall'),
  ('guangdong', 2013, 'none', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 2,
   'S1 L1685-1753: next year''s allocation cut by 2x the shortfall'),
  ('shenzhen', 2013, 'price_multiple', NULL, NULL, NULL, 3, 3, 3, 6, 0,
   'S1 L1685-1753: fine 3x the average price of the 6 months before the deadline x shortfall');

-- CCER project registry ------------------------------------------------------------

CREATE TABLE carbonmkt.ccer_project_type (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z][a-z_]*$'),
    name        text NOT NULL,
    name_zh     text NOT NULL
);
COMMENT ON TABLE carbonmkt.ccer_project_type IS
  'CCER project types (项目类型), the unit of the offset rules'' type exclusions (e.g. hydro 水电).';
INSERT INTO carbonmkt.ccer_project_type VALUES
  ('afforestation', 'Afforestation carbon sink', '造林碳汇'),
  ('mangrove', 'Mangrove restoration', '红树林营造'),
  ('offshore_wind', 'Grid-connected offshore wind', '并网海上风力发电'),
  ('solar_thermal', 'Grid-connected solar thermal power', '并网光热发电'),
  ('onshore_wind', 'Onshore wind power', '陆上风力发电'),
  ('solar_pv', 'Solar photovoltaic power', '光伏发电'),
  ('hydro', 'Hydropower', '水电'),
  ('methane_recovery', 'Methane recovery and use', '甲烷回收利用'),
  ('biomass', 'Biomass energy', '生物质能'),
  ('waste_heat', 'Waste heat and pressure recovery', '余热余压利用'),
  ('energy_efficiency', 'Energy efficiency', '节能');

CREATE TABLE carbonmkt.ccer_project (
    project             text PRIMARY KEY CHECK (project ~ '^[A-Z0-9._-]{1,64}$'),
    name                text NOT NULL CHECK (btrim(name) <> ''),
    project_type        text NOT NULL REFERENCES carbonmkt.ccer_project_type,
    province            char(6) NOT NULL REFERENCES carbonmkt.region,
    host_participant    bigint REFERENCES carbonmkt.participant,
    methodology         text,
    registered_at       timestamptz NOT NULL,
    registered_by       name NOT NULL
);
COMMENT ON TABLE carbonmkt.ccer_project IS
  'CCER projects (温室气体自愿减排项目) as far as surrender needs them: type, province (for local-share rules) and the participant whose site hosts the project, if any (projects inside covered units, 重点排放单位内部项目, are not eligible for the national market).  The project id is the one in the ccer serial blocks (upper case).';
CREATE INDEX ccer_project_type_idx ON carbonmkt.ccer_project (project_type);

-- Unit attributes the relief rules need ----------------------------------------------

CREATE TABLE carbonmkt.unit_class (
    participant_id  bigint PRIMARY KEY REFERENCES carbonmkt.participant,
    gas_fired       boolean NOT NULL,
    set_by          name NOT NULL,
    set_at          timestamptz NOT NULL
);
COMMENT ON TABLE carbonmkt.unit_class IS
  'Whether a key emitting unit is gas-fired (燃气机组; gas units owe at most their allocation under relief_rule.gas_cap).  Set with set_gas_fired(); meant to come from the allocation room''s unit category once merged.';

CREATE TABLE carbonmkt.hardship (
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    period          int NOT NULL REFERENCES carbonmkt.compliance_period,
    reason          text NOT NULL CHECK (btrim(reason) <> ''),
    flagged_by      bigint REFERENCES carbonmkt.participant,
    flagged_login   name NOT NULL,
    flagged_at      timestamptz NOT NULL,
    PRIMARY KEY (participant_id, period)
);
COMMENT ON TABLE carbonmkt.hardship IS
  'Units the provincial authority declared in hardship (经营困难) for a period: a condition of borrowing (预支).  Written by flag_hardship().';

-- Obligations ------------------------------------------------------------------

CREATE TYPE carbonmkt.compliance_status AS ENUM ('no_emissions', 'open', 'compliant', 'shortfall');
COMMENT ON TYPE carbonmkt.compliance_status IS
  'no_emissions: no confirmed emissions for all years of the period; open: obligation not yet met, deadline not passed; compliant: surrendered >= obligation (履约); shortfall: not met after the deadline or at close (未足额清缴).';

CREATE TABLE carbonmkt.obligation (
    participant_id      bigint NOT NULL REFERENCES carbonmkt.participant,
    period              int NOT NULL REFERENCES carbonmkt.compliance_period,
    -- running totals, maintained only by the surrender trigger (the journal is the record)
    surrendered_cea_t   bigint NOT NULL DEFAULT 0 CHECK (surrendered_cea_t >= 0),
    surrendered_ccer_t  bigint NOT NULL DEFAULT 0 CHECK (surrendered_ccer_t >= 0),
    ccer_local_t        bigint NOT NULL DEFAULT 0 CHECK (ccer_local_t >= 0 AND ccer_local_t <= surrendered_ccer_t),
    cea_borrowed_used_t bigint NOT NULL DEFAULT 0 CHECK (cea_borrowed_used_t >= 0 AND cea_borrowed_used_t <= surrendered_cea_t),
    last_surrender_at   timestamptz,
    -- frozen by close_period()
    emissions_t         bigint,
    emissions_basis     text CHECK (emissions_basis IN ('verified', 'estimated')),
    allocation_t        bigint,
    relief              text CHECK (relief IN ('none', 'gap_cap', 'gas_cap')),
    relief_t            bigint,
    relief_reason       text,
    obligation_t        bigint,
    borrowed_t          bigint,
    offset_cap_t        bigint,
    remaining_t         bigint,
    status              carbonmkt.compliance_status,
    compliance_code     char(1) CHECK (compliance_code IN ('A', 'B', 'C', 'D')),
    frozen_at           timestamptz,
    PRIMARY KEY (participant_id, period)
);
CREATE INDEX obligation_period ON carbonmkt.obligation (period);
COMMENT ON TABLE carbonmkt.obligation IS
  'One row per key emitting unit and period: the surrender totals kept by the trigger (its row lock serialises surrenders of one unit, so the offset cap cannot be exceeded by concurrent sessions), and the figures close_period() froze.  Read it through the view carbonmkt.obligation_status.';

CREATE TABLE carbonmkt.surrender_detail (
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    period          int NOT NULL REFERENCES carbonmkt.compliance_period,
    instrument      carbonmkt.instrument NOT NULL,
    vintage         int NOT NULL,
    project         text NOT NULL,      -- CCER project, '' for CEA
    tonnes          bigint NOT NULL CHECK (tonnes > 0),
    PRIMARY KEY (participant_id, period, instrument, vintage, project)
);
CREATE INDEX surrender_detail_period ON carbonmkt.surrender_detail (period);
COMMENT ON TABLE carbonmkt.surrender_detail IS
  'What each unit surrendered for each period, per asset (CEA vintage; CCER project and vintage), kept by the surrender trigger under the unit''s obligation lock: the journal is the record, this is its summary for the BI views (allowance supply, CCER use).';

CREATE TABLE carbonmkt.borrowing (
    borrowing_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    period          int NOT NULL REFERENCES carbonmkt.compliance_period,
    account_id      bigint NOT NULL REFERENCES carbonmkt.account,
    vintage         int NOT NULL,
    tonnes          bigint NOT NULL CHECK (tonnes > 0),
    gap_t           bigint NOT NULL,
    emissions_t     bigint NOT NULL,
    posting_id      bigint NOT NULL REFERENCES carbonmkt.posting,
    requested_by    name NOT NULL,
    reference       text,
    borrowed_at     timestamptz NOT NULL
);
CREATE UNIQUE INDEX borrowing_reference ON carbonmkt.borrowing (requested_by, reference) WHERE reference IS NOT NULL;
CREATE INDEX borrowing_unit ON carbonmkt.borrowing (participant_id, period);
COMMENT ON TABLE carbonmkt.borrowing IS
  'Borrowing (预支): CEA of the next year''s vintage moved early from the province''s allocation account to a unit in hardship, usable for this period''s surrender; the same tonnes are recorded as a cut of next year''s allocation in carbonmkt.allocation_adjustment.';

CREATE TABLE carbonmkt.sanction (
    sanction_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    participant_id      bigint NOT NULL REFERENCES carbonmkt.participant,
    period              int NOT NULL REFERENCES carbonmkt.compliance_period,
    shortfall_t         bigint NOT NULL CHECK (shortfall_t > 0),
    fine_basis          carbonmkt.fine_basis NOT NULL,
    price_from          date,
    price_to            date,
    average_price_fen   bigint,
    multiple            numeric,
    fine_fen            bigint NOT NULL CHECK (fine_fen >= 0),
    cut_multiple        numeric NOT NULL,
    cut_t               bigint NOT NULL CHECK (cut_t >= 0),
    cut_year            int NOT NULL,
    legal_basis         text NOT NULL,
    imposed_at          timestamptz NOT NULL,
    imposed_by          name NOT NULL,
    revised_at          timestamptz,
    revised_by          name,
    revision_note       text,
    UNIQUE (participant_id, period)
);
COMMENT ON TABLE carbonmkt.sanction IS
  'Sanctions (处罚) for surrender shortfalls, computed by close_period() from the period''s penalty_rule: the fine in fen and the cut of next year''s allocation (also in allocation_adjustment).  Fines may be revised within the rule''s range by revise_fine().';

CREATE TABLE carbonmkt.allocation_adjustment (
    adjustment_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    year            int NOT NULL CHECK (year BETWEEN 2005 AND 2100),
    tonnes          bigint NOT NULL CHECK (tonnes > 0),
    reason          text NOT NULL CHECK (reason IN ('borrowing', 'penalty_cut')),
    period          int NOT NULL REFERENCES carbonmkt.compliance_period,
    borrowing_id    bigint REFERENCES carbonmkt.borrowing,
    sanction_id     bigint REFERENCES carbonmkt.sanction,
    recorded_at     timestamptz NOT NULL,
    recorded_by     name NOT NULL,
    CHECK ((reason = 'borrowing') = (borrowing_id IS NOT NULL)),
    CHECK ((reason = 'penalty_cut') = (sanction_id IS NOT NULL))
);
CREATE INDEX allocation_adjustment_unit ON carbonmkt.allocation_adjustment (participant_id, year);
COMMENT ON TABLE carbonmkt.allocation_adjustment IS
  'Reductions of a unit''s allocation for a year that the compliance room decided and the allocation room applies: borrowing (预支: those tonnes were delivered early) and penalty_cut (核减: the shortfall times the rule''s cut multiple).  Contract: the allocation room reads this table when it computes that year''s allocation.';

-- Reference prices (Decree 775 fines) ------------------------------------------------

CREATE TABLE carbonmkt.reference_price (
    price_date          date PRIMARY KEY,
    average_price_fen   bigint NOT NULL CHECK (average_price_fen > 0),
    volume_t            bigint CHECK (volume_t >= 0),
    source              text NOT NULL CHECK (btrim(source) <> ''),
    recorded_by         name NOT NULL,
    recorded_at         timestamptz NOT NULL
);
COMMENT ON TABLE carbonmkt.reference_price IS
  'Average CEA price of a trading day in fen per tonne, recorded by hand with its source (e.g. the exchange''s daily report), for penalties that are a multiple of an average price.  Read only through carbonmkt._average_price_fen().';

CREATE FUNCTION carbonmkt._average_price_fen(from_date date, to_date date) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS
$$
    SELECT CASE WHEN count(*) = 0 THEN NULL
                WHEN count(r.volume_t) = count(*) AND sum(r.volume_t) > 0
                THEN round(sum(r.average_price_fen::numeric * r.volume_t) / sum(r.volume_t))::bigint
                ELSE round(avg(r.average_price_fen))::bigint END
      FROM carbonmkt.reference_price r
     WHERE r.price_date BETWEEN from_date AND to_date
$$;
COMMENT ON FUNCTION carbonmkt._average_price_fen(date, date) IS
  'Internal, THE price source of the compliance room: average CEA price in fen per tonne over [from_date, to_date] from carbonmkt.reference_price (volume-weighted when every day has a volume, else the plain mean; rounded half up), NULL when no price is recorded.  To be rewired to the market room''s daily statistics first.';

-- Allocation, from the ledger (ONE place) -----------------------------------------------
-- A unit's allocation of a year is what moved into its accounts from provincial allocation
-- accounts, net of what moved back.  Reading that from the whole journal on every surrender
-- and every dashboard query does not scale (doc/bi.md, Performance), so the legs of the
-- allocation accounts are folded into allocation_cache up to a watermark per account, and
-- the view adds the legs after each watermark (a short index range scan): reads are always
-- exact; refresh_allocation_cache() only keeps them fast.

CREATE TABLE carbonmkt.allocation_cache (
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    year            int NOT NULL,
    allocated_t     bigint NOT NULL,
    initial_posting bigint,           -- the first posting that allocated to the unit (pre-allocation)
    initial_t       bigint,
    PRIMARY KEY (participant_id, year)
);
COMMENT ON TABLE carbonmkt.allocation_cache IS
  'Internal: allocation per unit and year folded from the allocation accounts'' journal legs up to allocation_cache_mark; read only through carbonmkt._allocation_source, which adds the legs after the marks.';

CREATE TABLE carbonmkt.allocation_cache_mark (
    account_id  bigint PRIMARY KEY REFERENCES carbonmkt.account,
    seq         bigint NOT NULL
);
COMMENT ON TABLE carbonmkt.allocation_cache_mark IS
  'Internal: per allocation account, the journal seq up to which its legs are folded into allocation_cache.';

CREATE VIEW carbonmkt._allocation_delta AS
SELECT x.participant_id, x.year, x.allocated_t,
       CASE WHEN c.initial_posting IS NULL THEN x.initial_t END AS initial_t   -- the cache's first posting is older
  FROM (SELECT a.participant_id, l.vintage AS year, (-sum(l.amount))::bigint AS allocated_t,
               (min(ARRAY[l.posting_id, -l.amount]) FILTER (WHERE l.amount < 0))[2] AS initial_t  -- arrays compare element-wise
          FROM carbonmkt.account src
          LEFT JOIN carbonmkt.allocation_cache_mark m ON m.account_id = src.account_id
          -- only the legs after the account's mark: LATERAL ... OFFSET 0 keeps it an index range scan
          CROSS JOIN LATERAL (SELECT j.vintage, j.amount, j.posting_id, j.counterparty
                                FROM carbonmkt.journal j
                               WHERE j.account_id = src.account_id AND j.seq > coalesce(m.seq, 0)
                                 AND j.instrument = 'CEA' AND j.counterparty IS NOT NULL
                              OFFSET 0) l
          JOIN carbonmkt.account a ON a.account_id = l.counterparty
         WHERE src.kind = 'allocation' AND src.head_seq > coalesce(m.seq, 0)
           AND a.kind <> 'allocation' AND a.participant_id IS NOT NULL
         GROUP BY a.participant_id, l.vintage) x
  LEFT JOIN carbonmkt.allocation_cache c ON c.participant_id = x.participant_id AND c.year = x.year;
COMMENT ON VIEW carbonmkt._allocation_delta IS
  'Internal: allocation per unit and year from the allocation accounts'' journal legs after allocation_cache_mark (empty right after refresh_allocation_cache()); initial_t only where the cache has no first posting for that unit and year.';

CREATE VIEW carbonmkt._allocation_source AS
SELECT u.participant_id, u.year, sum(u.allocated_t)::bigint AS allocated_t, coalesce(sum(u.initial_t), 0)::bigint AS initial_t
  FROM (SELECT c.participant_id, c.year, c.allocated_t, c.initial_t FROM carbonmkt.allocation_cache c
        UNION ALL
        SELECT d.participant_id, d.year, d.allocated_t, d.initial_t FROM carbonmkt._allocation_delta d) u
 GROUP BY u.participant_id, u.year;
COMMENT ON VIEW carbonmkt._allocation_source IS
  'Internal, THE allocation source of the compliance room: per participant and year, allocated_t = CEA of that vintage moved from provincial allocation accounts into the participant''s accounts minus what moved back (deductions 扣减), and initial_t = the amount of the first such posting (the pre-allocation 预分配, basis of the Hubei offset rule).  allocation_cache plus the journal legs after its marks: always exact.  To be rewired to the allocation room''s tables.';

CREATE FUNCTION carbonmkt.refresh_allocation_cache() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    r       record;
    new_mark bigint;
    n       bigint := 0;
    k       bigint;
BEGIN
    -- one refresher at a time; readers are never blocked
    LOCK TABLE carbonmkt.allocation_cache_mark IN SHARE ROW EXCLUSIVE MODE;
    FOR r IN SELECT src.account_id, coalesce(m.seq, 0) AS mark
               FROM carbonmkt.account src
               LEFT JOIN carbonmkt.allocation_cache_mark m ON m.account_id = src.account_id
              WHERE src.kind = 'allocation' ORDER BY src.account_id LOOP
        -- the mark first: every leg up to it is committed (an account's legs commit in seq
        -- order, under its row lock), so the fold below sees exactly (mark, new_mark]
        SELECT max(j.seq) INTO new_mark FROM carbonmkt.journal j WHERE j.account_id = r.account_id;
        CONTINUE WHEN new_mark IS NULL OR new_mark <= r.mark;
        INSERT INTO carbonmkt.allocation_cache AS c (participant_id, year, allocated_t, initial_posting, initial_t)
        SELECT a.participant_id, l.vintage, -sum(l.amount),
               min(l.posting_id) FILTER (WHERE l.amount < 0),
               (min(ARRAY[l.posting_id, -l.amount]) FILTER (WHERE l.amount < 0))[2]
          FROM carbonmkt.journal l
          JOIN carbonmkt.account a ON a.account_id = l.counterparty
         WHERE l.account_id = r.account_id AND l.seq > r.mark AND l.seq <= new_mark
           AND l.instrument = 'CEA' AND a.kind <> 'allocation' AND a.participant_id IS NOT NULL
         GROUP BY a.participant_id, l.vintage
        ON CONFLICT ON CONSTRAINT allocation_cache_pkey DO UPDATE
           SET allocated_t = c.allocated_t + excluded.allocated_t,
               initial_t = CASE WHEN excluded.initial_posting < coalesce(c.initial_posting, excluded.initial_posting + 1)
                                THEN excluded.initial_t ELSE c.initial_t END,
               initial_posting = CASE WHEN excluded.initial_posting < coalesce(c.initial_posting, excluded.initial_posting + 1)
                                      THEN excluded.initial_posting ELSE c.initial_posting END;
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
        INSERT INTO carbonmkt.allocation_cache_mark AS m VALUES (r.account_id, new_mark)
        ON CONFLICT ON CONSTRAINT allocation_cache_mark_pkey DO UPDATE SET seq = excluded.seq;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt.refresh_allocation_cache() IS
  'Folds the allocation accounts'' journal legs written since the last refresh into allocation_cache and returns the number of unit-years updated.  Reads are exact without it (they add the newer legs); it keeps them fast.  Called by open_period() and close_period(); call it after an allocation run (or on a schedule).  Authorities and the registry.';

CREATE FUNCTION carbonmkt._allocated_tonnes(participant_id bigint, year int) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT coalesce((SELECT s.allocated_t FROM carbonmkt._allocation_source s
                     WHERE s.participant_id = _allocated_tonnes.participant_id AND s.year = _allocated_tonnes.year), 0) $$;
COMMENT ON FUNCTION carbonmkt._allocated_tonnes(bigint, int) IS
  'Internal: a unit''s net allocation of a year in tonnes, from carbonmkt._allocation_source.';

-- The rules of each period, and each unit's figures ------------------------------------

CREATE VIEW carbonmkt._period_rules AS
SELECT per.period, per.jurisdiction, per.name, per.first_year, per.last_year, per.deadline, per.status,
       per.closed_at, jr.province AS j_province, jr.city AS j_city,
       o.ratio AS offset_ratio, trim_scale(o.ratio * 100)::text AS offset_ratio_pct, o.basis AS offset_basis,
       o.local_share_min, trim_scale(o.local_share_min * 100)::text AS local_share_pct,
       o.ccer_min_vintage, per.last_year - o.ccer_max_age AS ccer_min_vintage_by_age,
       o.excluded_types, o.exclude_covered_hosts, o.from_year AS offset_rule_year,
       r.sectors AS relief_sectors, r.gap_cap_share, trim_scale(r.gap_cap_share * 100)::text AS gap_cap_pct,
       coalesce(r.gas_cap, false) AS gas_cap, r.borrowing_min_gap_share, r.borrowing_max_share,
       pr.fine_basis, pr.fine_min_fen, pr.fine_max_fen, pr.fine_default_fen, pr.multiple_min,
       pr.multiple_max, pr.multiple_default, pr.price_months, pr.cut_multiple, pr.source AS penalty_source
  FROM carbonmkt.compliance_period per
  JOIN carbonmkt.jurisdiction jr ON jr.code = per.jurisdiction
  LEFT JOIN LATERAL (SELECT * FROM carbonmkt.offset_rule x
                      WHERE x.jurisdiction = per.jurisdiction AND x.from_year <= per.first_year
                      ORDER BY x.from_year DESC LIMIT 1) o ON true
  LEFT JOIN LATERAL (SELECT * FROM carbonmkt.relief_rule x
                      WHERE x.jurisdiction = per.jurisdiction AND x.from_year <= per.first_year
                      ORDER BY x.from_year DESC LIMIT 1) r ON true
  LEFT JOIN LATERAL (SELECT * FROM carbonmkt.penalty_rule x
                      WHERE x.jurisdiction = per.jurisdiction AND x.from_year <= per.first_year
                      ORDER BY x.from_year DESC LIMIT 1) pr ON true;
COMMENT ON VIEW carbonmkt._period_rules IS
  'Internal: each compliance period with the offset, relief and penalty rule rows that apply to it (its jurisdiction''s rows with the greatest from_year <= its first year).';

CREATE VIEW carbonmkt._obligation_figures AS
SELECT pr.period, p.participant_id, p.name AS unit_name, p.credit_code, p.province, p.city, p.sector,
       pr.status AS period_status, pr.deadline,
       pr.last_year - pr.first_year + 1 AS years, coalesce(e.years_confirmed, 0) AS years_confirmed,
       em.emissions_t,
       CASE WHEN em.emissions_t IS NULL THEN NULL WHEN e.estimated THEN 'estimated' ELSE 'verified' END AS emissions_basis,
       coalesce(al.allocated_t, 0) AS allocation_t, coalesce(al.initial_t, 0) AS initial_allocation_t,
       coalesce(uc.gas_fired, false) AS gas_fired,
       ob.relief, em.emissions_t - ob.obligation_t AS relief_t,
       CASE ob.relief
         WHEN 'gas_cap' THEN format('gas-fired unit: owes at most its allocation of %s (confirmed emissions %s)',
                                    carbonmkt.format_quantity('CEA', coalesce(al.allocated_t, 0)),
                                    carbonmkt.format_quantity('CEA', em.emissions_t))
         WHEN 'gap_cap' THEN format('gap cap: allocation %s + %s%% of confirmed emissions %s = %s',
                                    carbonmkt.format_quantity('CEA', coalesce(al.allocated_t, 0)), pr.gap_cap_pct,
                                    carbonmkt.format_quantity('CEA', em.emissions_t),
                                    carbonmkt.format_quantity('CEA', ob.obligation_t))
       END AS relief_reason,
       ob.obligation_t,
       greatest(ob.obligation_t - coalesce(al.allocated_t, 0), 0) AS gap_t,
       coalesce(bw.borrowed_t, 0) AS borrowed_t,
       pr.offset_basis, pr.offset_ratio_pct, pr.local_share_min, pr.local_share_pct, pr.jurisdiction,
       ob2.offset_basis_t, floor(pr.offset_ratio * ob2.offset_basis_t)::bigint AS offset_cap_t,
       pr.relief_sectors, pr.borrowing_min_gap_share, pr.borrowing_max_share
  FROM carbonmkt._period_rules pr
  JOIN carbonmkt.participant p
    ON p.kind = 'key_emitter'
   AND (pr.j_province IS NULL OR p.province = pr.j_province) AND (pr.j_city IS NULL OR p.city = pr.j_city)
  JOIN carbonmkt.sector s ON s.code = p.sector AND s.covered_from <= pr.last_year
  -- per unit, by primary key: confirmed emissions and cached allocation of the period's years
  -- (LATERAL keeps every plan linear in the units, whatever the row estimates)
  CROSS JOIN LATERAL (SELECT count(*)::int AS years_confirmed, sum(ce.emissions_t)::bigint AS emissions_t,
                             bool_or(ce.basis = 'estimated') AS estimated
                        FROM carbonmkt.confirmed_emission ce
                       WHERE ce.participant_id = p.participant_id AND ce.year BETWEEN pr.first_year AND pr.last_year) e
  CROSS JOIN LATERAL (SELECT sum(c.allocated_t)::bigint AS allocated_t, sum(c.initial_t)::bigint AS initial_t
                        FROM carbonmkt.allocation_cache c
                       WHERE c.participant_id = p.participant_id AND c.year BETWEEN pr.first_year AND pr.last_year) ac
  -- plus the allocation legs after the cache's marks (usually none)
  LEFT JOIN (SELECT d.participant_id, cp.period, sum(d.allocated_t)::bigint AS allocated_t,
                    sum(d.initial_t)::bigint AS initial_t
               FROM carbonmkt._allocation_delta d
               JOIN carbonmkt.compliance_period cp
                 ON cp.status = 'open' AND d.year BETWEEN cp.first_year AND cp.last_year
              GROUP BY d.participant_id, cp.period) ad
         ON ad.participant_id = p.participant_id AND ad.period = pr.period
  CROSS JOIN LATERAL (SELECT CASE WHEN ac.allocated_t IS NULL AND ad.allocated_t IS NULL THEN NULL
                                  ELSE coalesce(ac.allocated_t, 0) + coalesce(ad.allocated_t, 0) END AS allocated_t,
                             coalesce(ac.initial_t, 0) + coalesce(ad.initial_t, 0) AS initial_t) al
  LEFT JOIN carbonmkt.unit_class uc ON uc.participant_id = p.participant_id
  LEFT JOIN (SELECT b.participant_id, b.period, sum(b.tonnes)::bigint AS borrowed_t
               FROM carbonmkt.borrowing b GROUP BY b.participant_id, b.period) bw
         ON bw.participant_id = p.participant_id AND bw.period = pr.period
  CROSS JOIN LATERAL (SELECT CASE WHEN e.years_confirmed = pr.last_year - pr.first_year + 1
                                  THEN e.emissions_t END AS emissions_t,
                             coalesce(al.allocated_t, 0) AS allocation_t,
                             coalesce(p.sector = ANY (pr.relief_sectors), false) AS relief_sector) em
  CROSS JOIN LATERAL (
        SELECT CASE WHEN em.emissions_t IS NULL THEN NULL
                    WHEN em.relief_sector AND pr.gas_cap AND coalesce(uc.gas_fired, false)
                         THEN least(em.emissions_t, em.allocation_t)
                    WHEN em.relief_sector AND pr.gap_cap_share IS NOT NULL
                         THEN least(em.emissions_t, em.allocation_t + floor(pr.gap_cap_share * em.emissions_t)::bigint)
                    ELSE em.emissions_t END AS obligation_t) o1
  CROSS JOIN LATERAL (
        SELECT CASE WHEN o1.obligation_t IS NULL THEN NULL
                    WHEN o1.obligation_t = em.emissions_t THEN 'none'
                    WHEN em.relief_sector AND pr.gas_cap AND coalesce(uc.gas_fired, false) THEN 'gas_cap'
                    ELSE 'gap_cap' END AS relief,
               o1.obligation_t) ob
  CROSS JOIN LATERAL (
        SELECT CASE pr.offset_basis WHEN 'obligation' THEN ob.obligation_t
                                    WHEN 'issued_allowances' THEN em.allocation_t
                                    WHEN 'initial_allowances' THEN coalesce(al.initial_t, 0)
                                    WHEN 'verified_emissions' THEN em.emissions_t END AS offset_basis_t) ob2
 WHERE pr.status = 'open';
COMMENT ON VIEW carbonmkt._obligation_figures IS
  'Internal, THE obligation formula: for every open period and every key emitting unit it covers (jurisdiction''s province or city, sector covered by the period''s last year), the live figures: confirmed emissions of all the period''s years (NULL if a year is missing), allocation, relief (gas cap, gap cap) and why, obligation, gap, borrowing, the offset basis and cap.  Used by the surrender trigger, borrowing, close_period() and obligation_status.';

-- Who sees which unit ----------------------------------------------------------------

CREATE FUNCTION carbonmkt.caller_scope(OUT sees_all boolean, OUT province char(6), OUT city char(6),
                                       OUT participant_id bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    k   carbonmkt.participant_kind;
    pv  char(6);
    ct  char(6);
BEGIN
    sees_all := false;
    participant_id := carbonmkt.caller_participant();
    IF carbonmkt._is_member('carbonmkt_registry') OR carbonmkt._is_member('carbonmkt_bi') THEN
        sees_all := true;
        RETURN;
    END IF;
    IF carbonmkt._is_member('carbonmkt_authority') THEN
        SELECT p.kind, p.province, p.city INTO k, pv, ct
          FROM carbonmkt.participant p WHERE p.participant_id = caller_scope.participant_id;
        IF k = 'provincial_authority' THEN
            province := pv;
        ELSIF k = 'city_authority' THEN
            city := ct;
        ELSE
            sees_all := true;
        END IF;
        RETURN;
    END IF;
    IF NOT carbonmkt._is_member('carbonmkt_participant') THEN
        participant_id := NULL;
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt.caller_scope() IS
  'Which key emitting units the login sees in the compliance views: all (registry, BI, national authority), its province (provincial authority), its city (city authority), or only itself (a participant''s login).';

CREATE FUNCTION carbonmkt.caller_may_see_unit(participant_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
    SELECT s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city
      FROM carbonmkt.caller_scope() s, carbonmkt.participant p
     WHERE p.participant_id = caller_may_see_unit.participant_id
$$;
COMMENT ON FUNCTION carbonmkt.caller_may_see_unit(bigint) IS
  'Whether the login may see a unit''s compliance rows (caller_scope()); used by the row-level security policies of the compliance tables.';

-- obligation_status: one row per unit and period -------------------------------------

CREATE VIEW carbonmkt.obligation_status AS
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
            WHEN st.status = 'compliant' THEN 'A' ELSE 'B' END::char(1) AS compliance_code
  FROM carbonmkt._obligation_figures f
  LEFT JOIN carbonmkt.obligation o ON o.participant_id = f.participant_id AND o.period = f.period
  CROSS JOIN s
  CROSS JOIN LATERAL (
        SELECT CASE WHEN f.obligation_t IS NULL THEN 'no_emissions'
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
       o.remaining_t, o.borrowed_t, o.offset_cap_t, o.status, o.compliance_code
  FROM carbonmkt.obligation o
  JOIN carbonmkt.compliance_period per ON per.period = o.period AND per.status = 'closed'
  JOIN carbonmkt.participant p ON p.participant_id = o.participant_id
  CROSS JOIN s
 WHERE s.sees_all OR o.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city;
COMMENT ON VIEW carbonmkt.obligation_status IS
  'Compliance of each key emitting unit in each period (清缴履约情况): confirmed emissions, allocation, relief applied and why, obligation, CEA and CCER surrendered, remaining, borrowing, offset cap, status and EUTL-style code (A surrendered >= obligation, B less, C no confirmed emissions, D emissions estimated by the authority).  Live for open periods, frozen at close for closed ones.  A participant''s login sees its own rows, a provincial authority its province.';

-- Authorisation helpers ------------------------------------------------------------

CREATE FUNCTION carbonmkt._require_authority_over(p_participant bigint, p_action text) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    s record;
    u carbonmkt.participant;
BEGIN
    SELECT * INTO u FROM carbonmkt.participant WHERE participant_id = p_participant;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'participant % does not exist', p_participant USING ERRCODE = 'CM002';
    END IF;
    IF carbonmkt._is_member('carbonmkt_registry') THEN
        RETURN;
    END IF;
    IF carbonmkt._is_member('carbonmkt_authority') THEN
        SELECT * INTO s FROM carbonmkt.caller_scope();
        IF s.sees_all OR u.province = s.province OR u.city = s.city THEN
            RETURN;
        END IF;
    END IF;
    RAISE EXCEPTION 'role "%" may not % for participant %', session_user, p_action, p_participant
        USING ERRCODE = '42501',
              DETAIL = format('Participant %s (%s) is in province %s.', p_participant, u.name, u.province),
              HINT = 'This needs the national authority, or the provincial (city) authority of the unit (carbonmkt_authority), or the registry.';
END
$$;
COMMENT ON FUNCTION carbonmkt._require_authority_over(bigint, text) IS
  'Internal: raises 42501 unless the login is the registry, the national authority, or the provincial or city authority of the participant.';

CREATE FUNCTION carbonmkt._require_national(p_action text) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
BEGIN
    IF carbonmkt._is_member('carbonmkt_registry')
       OR (carbonmkt._is_member('carbonmkt_authority') AND (carbonmkt.caller_scope()).sees_all) THEN
        RETURN;
    END IF;
    RAISE EXCEPTION 'only the national authority may %', p_action
        USING ERRCODE = '42501',
              HINT = 'This needs carbonmkt_authority acting for the national authority (生态环境部), or the registry.';
END
$$;
COMMENT ON FUNCTION carbonmkt._require_national(text) IS
  'Internal: raises 42501 unless the login is the registry or the national authority.';

-- Periods ----------------------------------------------------------------------------

CREATE FUNCTION carbonmkt.open_period(period int, name text, first_year int, last_year int, deadline date,
                                      jurisdiction text DEFAULT 'national')
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    other int;
BEGIN
    PERFORM carbonmkt._require_national('open compliance periods');
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.jurisdiction j WHERE j.code = open_period.jurisdiction) THEN
        RAISE EXCEPTION 'unknown jurisdiction "%"', jurisdiction
            USING ERRCODE = '22023', HINT = 'Jurisdictions are listed in carbonmkt.jurisdiction.';
    END IF;
    IF first_year IS NULL OR last_year IS NULL OR last_year < first_year
       OR first_year < 2005 OR last_year > 2100 THEN
        RAISE EXCEPTION 'a compliance period needs years first_year <= last_year in 2005-2100: got % to %',
            coalesce(first_year::text, 'NULL'), coalesce(last_year::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF deadline IS NULL OR deadline <= make_date(last_year, 12, 31) THEN
        RAISE EXCEPTION 'the surrender deadline % must be after the period''s last year %',
            coalesce(to_char(deadline, 'YYYY-MM-DD'), 'NULL'), last_year
            USING ERRCODE = '22023';
    END IF;
    SELECT p.period INTO other FROM carbonmkt.compliance_period p
     WHERE p.jurisdiction = open_period.jurisdiction
       AND p.first_year <= open_period.last_year AND p.last_year >= open_period.first_year;
    IF FOUND THEN
        RAISE EXCEPTION 'years %-% overlap compliance period % of jurisdiction %', first_year, last_year, other, jurisdiction
            USING ERRCODE = '22023', DETAIL = 'A year''s emissions are due in one period only.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.offset_rule r
                    WHERE r.jurisdiction = open_period.jurisdiction AND r.from_year <= open_period.first_year) THEN
        RAISE EXCEPTION 'no offset rule of jurisdiction % applies from %', jurisdiction, first_year
            USING ERRCODE = 'CM413', HINT = 'Add a row to carbonmkt.offset_rule first.';
    END IF;
    PERFORM carbonmkt.refresh_allocation_cache();
    INSERT INTO carbonmkt.compliance_period AS p (period, jurisdiction, name, first_year, last_year, deadline,
                                                  opened_at, opened_by)
    VALUES (open_period.period, open_period.jurisdiction, open_period.name, open_period.first_year,
            open_period.last_year, open_period.deadline, carbonmkt.clock_now(), session_user);
    RETURN period;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'compliance period % already exists', period USING ERRCODE = '23505';
END
$$;
COMMENT ON FUNCTION carbonmkt.open_period(int, text, int, int, date, text) IS
  'Opens a compliance period (履约周期) of a jurisdiction for the given years with its surrender deadline; its rules are the rule rows that apply from its first year.  National authority or registry.';

-- Reference data, set by authorities ------------------------------------------------

CREATE FUNCTION carbonmkt.register_ccer_project(project text, name text, project_type text, province char(6),
                                                host_participant bigint DEFAULT NULL, methodology text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    prj text := upper(btrim(project));
BEGIN
    PERFORM carbonmkt._require_national('register CCER projects');
    IF prj IS NULL OR prj !~ '^[A-Z0-9._-]{1,64}$' THEN
        RAISE EXCEPTION 'invalid CCER project id "%"', project
            USING ERRCODE = '22023', HINT = 'A project id is 1 to 64 characters of A-Z 0-9 . _ - (as in the ccer serial blocks).';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.ccer_project_type t WHERE t.code = project_type) THEN
        RAISE EXCEPTION 'unknown CCER project type "%"', project_type
            USING ERRCODE = '22023', HINT = 'Project types are listed in carbonmkt.ccer_project_type.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.region r WHERE r.code = province) THEN
        RAISE EXCEPTION 'unknown province code "%"', province USING ERRCODE = '22023';
    END IF;
    IF host_participant IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM carbonmkt.participant p WHERE p.participant_id = host_participant) THEN
        RAISE EXCEPTION 'participant % does not exist', host_participant USING ERRCODE = 'CM002';
    END IF;
    INSERT INTO carbonmkt.ccer_project AS c (project, name, project_type, province, host_participant, methodology,
                                             registered_at, registered_by)
    VALUES (prj, register_ccer_project.name, register_ccer_project.project_type, register_ccer_project.province,
            register_ccer_project.host_participant, register_ccer_project.methodology, carbonmkt.clock_now(), session_user)
    ON CONFLICT ON CONSTRAINT ccer_project_pkey DO UPDATE
       SET name = excluded.name, project_type = excluded.project_type, province = excluded.province,
           host_participant = excluded.host_participant, methodology = excluded.methodology,
           registered_at = excluded.registered_at, registered_by = excluded.registered_by;
    RETURN prj;
END
$$;
COMMENT ON FUNCTION carbonmkt.register_ccer_project(text, text, text, char, bigint, text) IS
  'Records (or corrects) a CCER project: type, province and the participant whose site hosts it, if any.  National authority or registry.';

CREATE FUNCTION carbonmkt.set_gas_fired(participant_id bigint, gas_fired boolean)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    PERFORM carbonmkt._require_authority_over(participant_id, 'classify units');
    IF gas_fired IS NULL THEN
        RAISE EXCEPTION 'gas_fired must be true or false' USING ERRCODE = '22023';
    END IF;
    INSERT INTO carbonmkt.unit_class AS u VALUES (participant_id, gas_fired, session_user, carbonmkt.clock_now())
    ON CONFLICT ON CONSTRAINT unit_class_pkey DO UPDATE
       SET gas_fired = excluded.gas_fired, set_by = excluded.set_by, set_at = excluded.set_at;
END
$$;
COMMENT ON FUNCTION carbonmkt.set_gas_fired(bigint, boolean) IS
  'Marks a key emitting unit gas-fired (燃气机组) or not, for the gas cap of the relief rules.  Its provincial authority, the national authority or the registry.';

CREATE FUNCTION carbonmkt.flag_hardship(participant_id bigint, period int, reason text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    st carbonmkt.period_status;
BEGIN
    PERFORM carbonmkt._require_authority_over(participant_id, 'flag hardship');
    SELECT p.status INTO st FROM carbonmkt.compliance_period p WHERE p.period = flag_hardship.period;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'compliance period % does not exist', period USING ERRCODE = 'CM401';
    ELSIF st = 'closed' THEN
        RAISE EXCEPTION 'compliance period % is closed', period USING ERRCODE = 'CM402';
    END IF;
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'a hardship flag needs its reason' USING ERRCODE = '22023';
    END IF;
    INSERT INTO carbonmkt.hardship AS h VALUES (participant_id, period, reason, carbonmkt.caller_participant(),
                                                session_user, carbonmkt.clock_now())
    ON CONFLICT ON CONSTRAINT hardship_pkey DO UPDATE
       SET reason = excluded.reason, flagged_by = excluded.flagged_by, flagged_login = excluded.flagged_login,
           flagged_at = excluded.flagged_at;
END
$$;
COMMENT ON FUNCTION carbonmkt.flag_hardship(bigint, int, text) IS
  'Declares a key emitting unit in hardship (经营困难) for an open period, a condition of borrowing.  Its provincial authority, the national authority or the registry.';

CREATE FUNCTION carbonmkt.record_reference_price(price_date date, average_price_fen bigint, source text,
                                                 volume_t bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    IF NOT (carbonmkt._is_member('carbonmkt_registry') OR carbonmkt._is_member('carbonmkt_exchange')
            OR (carbonmkt._is_member('carbonmkt_authority') AND (carbonmkt.caller_scope()).sees_all)) THEN
        RAISE EXCEPTION 'only the exchange, the national authority or the registry may record reference prices'
            USING ERRCODE = '42501';
    END IF;
    IF price_date IS NULL OR average_price_fen IS NULL OR average_price_fen <= 0 THEN
        RAISE EXCEPTION 'a reference price needs a date and a positive price in fen: got %, %',
            coalesce(to_char(price_date, 'YYYY-MM-DD'), 'NULL'), coalesce(average_price_fen::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF volume_t < 0 THEN
        RAISE EXCEPTION 'volume must not be negative: %', volume_t USING ERRCODE = '22023';
    END IF;
    IF source IS NULL OR btrim(source) = '' THEN
        RAISE EXCEPTION 'a reference price needs its source' USING ERRCODE = '22023';
    END IF;
    INSERT INTO carbonmkt.reference_price AS r VALUES (price_date, average_price_fen, volume_t, source, session_user,
                                                       carbonmkt.clock_now())
    ON CONFLICT ON CONSTRAINT reference_price_pkey DO UPDATE
       SET average_price_fen = excluded.average_price_fen, volume_t = excluded.volume_t, source = excluded.source,
           recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at;
END
$$;
COMMENT ON FUNCTION carbonmkt.record_reference_price(date, bigint, text, bigint) IS
  'Records (or corrects) the average CEA price of a day in fen per tonne, with its source and optionally the volume.  Exchange, national authority or registry.';

-- Borrowing (预支) --------------------------------------------------------------------

CREATE FUNCTION carbonmkt._check_borrowing(p_participant bigint, p_period int, p_tonnes bigint)
RETURNS carbonmkt._obligation_figures LANGUAGE plpgsql STABLE AS
$$
DECLARE
    f       carbonmkt._obligation_figures;
    before  bigint;
    max_t   bigint;
    min_gap bigint;
BEGIN
    SELECT * INTO f FROM carbonmkt._obligation_figures x WHERE x.participant_id = p_participant AND x.period = p_period;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'participant % is not a key emitting unit covered by compliance period %', p_participant, p_period
            USING ERRCODE = 'CM403';
    END IF;
    IF f.emissions_t IS NULL THEN
        RAISE EXCEPTION 'no confirmed emissions for participant % in compliance period %', p_participant, p_period
            USING ERRCODE = 'CM404',
                  DETAIL = format('Confirmed emissions (经确认排放量) exist for %s of the %s years of the period.',
                                  f.years_confirmed, f.years);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.hardship h WHERE h.participant_id = p_participant AND h.period = p_period) THEN
        RAISE EXCEPTION 'participant % may not borrow for period %: not declared in hardship by its province',
            p_participant, p_period
            USING ERRCODE = 'CM410',
                  DETAIL = 'Borrowing (预支) is open only to units the provincial authority declared in hardship (经营困难).',
                  HINT = 'The provincial authority records hardship with carbonmkt.flag_hardship().';
    END IF;
    IF f.borrowing_min_gap_share IS NULL OR NOT coalesce(f.sector = ANY (f.relief_sectors), false) THEN
        RAISE EXCEPTION 'participant % may not borrow for period %: the relief rules of jurisdiction % allow no borrowing for sector %',
            p_participant, p_period, f.jurisdiction, f.sector
            USING ERRCODE = 'CM410', HINT = 'Borrowing thresholds are columns of carbonmkt.relief_rule.';
    END IF;
    min_gap := ceil(f.borrowing_min_gap_share * f.emissions_t)::bigint;
    IF f.gap_t < min_gap OR f.gap_t = 0 THEN
        RAISE EXCEPTION '%', format('participant %s may not borrow for period %s: gap %s is below the threshold %s (%s%% of confirmed emissions %s)',
                                   p_participant, p_period, carbonmkt.format_quantity('CEA', f.gap_t),
                                   carbonmkt.format_quantity('CEA', min_gap), trim_scale(f.borrowing_min_gap_share * 100),
                                   carbonmkt.format_quantity('CEA', f.emissions_t))
            USING ERRCODE = 'CM410',
                  DETAIL = format('Gap = obligation %s - allocation %s.', carbonmkt.format_quantity('CEA', f.obligation_t),
                                  carbonmkt.format_quantity('CEA', f.allocation_t));
    END IF;
    before := f.borrowed_t;
    max_t := floor(f.borrowing_max_share * f.gap_t)::bigint;
    IF before + p_tonnes > max_t THEN
        RAISE EXCEPTION '%', format('borrowing %s would bring participant %s''s borrowing for period %s to %s, above %s%% of its gap %s (at most %s)',
                                   carbonmkt.format_quantity('CEA', p_tonnes), p_participant, p_period,
                                   carbonmkt.format_quantity('CEA', before + p_tonnes), trim_scale(f.borrowing_max_share * 100),
                                   carbonmkt.format_quantity('CEA', f.gap_t), carbonmkt.format_quantity('CEA', max_t))
            USING ERRCODE = 'CM410',
                  DETAIL = format('Already borrowed: %s.', carbonmkt.format_quantity('CEA', before));
    END IF;
    RETURN f;
END
$$;
COMMENT ON FUNCTION carbonmkt._check_borrowing(bigint, int, bigint) IS
  'Internal: the borrowing rules (hardship flag, gap >= threshold share of confirmed emissions, total <= max share of the gap); raises CM403, CM404 or CM410 naming the rule and the numbers, else returns the unit''s figures.';

CREATE FUNCTION carbonmkt.borrow_allowances(account_id bigint, period int, tonnes bigint,
                                            reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'compliance' AS
$$
DECLARE
    a       carbonmkt.account;
    u       carbonmkt.participant;
    per     carbonmkt.compliance_period;
    old     carbonmkt.borrowing;
    f       carbonmkt._obligation_figures;
    src     bigint;
    pid     bigint;
    bid     bigint;
BEGIN
    IF tonnes IS NULL OR tonnes <= 0 THEN
        RAISE EXCEPTION 'quantity must be positive: %', coalesce(carbonmkt.format_quantity('CEA', tonnes), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    SELECT * INTO a FROM carbonmkt.account x WHERE x.account_id = borrow_allowances.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', account_id USING ERRCODE = 'CM001';
    END IF;
    SELECT * INTO u FROM carbonmkt.participant p WHERE p.participant_id = a.participant_id;
    IF a.kind <> 'holding' OR u.kind IS DISTINCT FROM 'key_emitter' THEN
        RAISE EXCEPTION 'account % is not the holding account of a key emitting unit', account_id
            USING ERRCODE = 'CM403', DETAIL = format('It is a %s account of a %s.', a.kind, coalesce(u.kind::text, 'registry'));
    END IF;
    IF u.participant_id IS DISTINCT FROM carbonmkt.caller_participant() THEN
        PERFORM carbonmkt._require_authority_over(u.participant_id, 'borrow allowances');
    END IF;
    -- a repeated client reference returns the original borrowing
    IF reference IS NOT NULL THEN
        SELECT * INTO old FROM carbonmkt.borrowing b WHERE b.requested_by = session_user AND b.reference = borrow_allowances.reference;
        IF FOUND THEN
            IF (old.account_id, old.period, old.tonnes) IS DISTINCT FROM (borrow_allowances.account_id, borrow_allowances.period, borrow_allowances.tonnes) THEN
                RAISE EXCEPTION 'client reference "%" was already used for a different request', reference
                    USING ERRCODE = 'CM007',
                          DETAIL = format('Borrowing %s was %s for period %s into account %s.', old.borrowing_id,
                                          carbonmkt.format_quantity('CEA', old.tonnes), old.period, old.account_id);
            END IF;
            RETURN old.borrowing_id;
        END IF;
    END IF;
    SELECT * INTO per FROM carbonmkt.compliance_period p WHERE p.period = borrow_allowances.period FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'compliance period % does not exist', period USING ERRCODE = 'CM401';
    ELSIF per.status = 'closed' THEN
        RAISE EXCEPTION 'compliance period % (%) is closed', period, per.name USING ERRCODE = 'CM402';
    END IF;
    -- the rules first (clear refusals), then the move, then the rules again under the
    -- unit's obligation lock (accounts before obligation row, as in a surrender)
    PERFORM carbonmkt._check_borrowing(u.participant_id, per.period, tonnes);
    SELECT x.account_id INTO src FROM carbonmkt.account x WHERE x.kind = 'allocation' AND x.province = u.province;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'province % has no allocation account to borrow from', u.province USING ERRCODE = 'CM001';
    END IF;
    pid := carbonmkt.transfer_cea(src, a.account_id, per.last_year + 1, tonnes,
                                  CASE WHEN reference IS NOT NULL THEN 'borrow:' || reference END,
                                  coalesce(memo, format('borrowing (预支) for period %s', per.period)));
    INSERT INTO carbonmkt.obligation AS o (participant_id, period) VALUES (u.participant_id, per.period)
    ON CONFLICT ON CONSTRAINT obligation_pkey DO NOTHING;
    PERFORM 1 FROM carbonmkt.obligation o WHERE o.participant_id = u.participant_id AND o.period = per.period FOR UPDATE;
    f := carbonmkt._check_borrowing(u.participant_id, per.period, tonnes);
    INSERT INTO carbonmkt.borrowing AS b (participant_id, period, account_id, vintage, tonnes, gap_t, emissions_t,
                                          posting_id, requested_by, reference, borrowed_at)
    VALUES (u.participant_id, per.period, a.account_id, per.last_year + 1, tonnes, f.gap_t, f.emissions_t,
            pid, session_user, reference, carbonmkt.clock_now())
    RETURNING b.borrowing_id INTO bid;
    INSERT INTO carbonmkt.allocation_adjustment (participant_id, year, tonnes, reason, period, borrowing_id,
                                                 recorded_at, recorded_by)
    VALUES (u.participant_id, per.last_year + 1, tonnes, 'borrowing', per.period, bid, carbonmkt.clock_now(), session_user);
    RETURN bid;
END
$$;
COMMENT ON FUNCTION carbonmkt.borrow_allowances(bigint, int, bigint, text, text) IS
  'Borrowing (预支): moves tonnes of CEA of the vintage after the period from the unit''s provincial allocation account into its holding account, usable for this period''s surrender, and records the same cut of next year''s allocation (allocation_adjustment).  Only for a unit in hardship whose gap is at least the rule''s share of its confirmed emissions, up to the rule''s share of the gap (national: gap >= 10%, <= 50% of the gap); CM410 otherwise.  The unit itself or its authority; idempotent per client reference.';

-- Closing a period, penalties, sanctions ------------------------------------------------

CREATE FUNCTION carbonmkt.close_period(period int)
RETURNS TABLE (units int, compliant int, shortfalls int, no_emissions int, shortfall_t bigint, fines_fen bigint,
               cut_t bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    per     carbonmkt._period_rules;
    ts      timestamptz := carbonmkt.clock_now();
    p_from  date;
    p_to    date;
    price   bigint;
    r       record;
    fine    bigint;
    cut     bigint;
    sid     bigint;
BEGIN
    PERFORM carbonmkt._require_national('close compliance periods');
    PERFORM 1 FROM carbonmkt.compliance_period p WHERE p.period = close_period.period FOR UPDATE;
    SELECT * INTO per FROM carbonmkt._period_rules p WHERE p.period = close_period.period;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'compliance period % does not exist', period USING ERRCODE = 'CM401';
    ELSIF per.status = 'closed' THEN
        RAISE EXCEPTION 'compliance period % (%) is already closed', period, per.name USING ERRCODE = 'CM402';
    END IF;
    IF carbonmkt.business_date(ts) <= per.deadline THEN
        RAISE EXCEPTION 'compliance period % cannot close before its deadline %', period, to_char(per.deadline, 'YYYY-MM-DD')
            USING ERRCODE = 'CM412', DETAIL = format('Today is %s.', to_char(carbonmkt.business_date(ts), 'YYYY-MM-DD'));
    END IF;
    IF per.fine_basis IS NULL THEN
        RAISE EXCEPTION 'no penalty rule of jurisdiction % applies to period %', per.jurisdiction, period
            USING ERRCODE = 'CM413', HINT = 'Add a row to carbonmkt.penalty_rule first.';
    END IF;
    IF per.fine_basis = 'price_multiple' THEN
        p_to := per.deadline;
        p_from := (per.deadline - make_interval(months => per.price_months))::date + 1;
        price := carbonmkt._average_price_fen(p_from, p_to);
        IF price IS NULL THEN
            RAISE EXCEPTION 'no reference price recorded between % and % for the penalties of period %',
                to_char(p_from, 'YYYY-MM-DD'), to_char(p_to, 'YYYY-MM-DD'), period
                USING ERRCODE = 'CM411',
                      DETAIL = format('The %s rule sets fines at a multiple of the average price of the %s month(s) before the deadline.',
                                      per.jurisdiction, per.price_months),
                      HINT = 'Record prices with carbonmkt.record_reference_price().';
        END IF;
    END IF;

    -- freeze every covered unit's figures
    PERFORM carbonmkt.refresh_allocation_cache();
    INSERT INTO carbonmkt.obligation AS o (participant_id, period)
    SELECT f.participant_id, f.period FROM carbonmkt._obligation_figures f WHERE f.period = close_period.period
    ON CONFLICT ON CONSTRAINT obligation_pkey DO NOTHING;
    UPDATE carbonmkt.obligation o
       SET emissions_t = s.emissions_t, emissions_basis = s.emissions_basis, allocation_t = s.allocation_t,
           relief = s.relief, relief_t = s.relief_t, relief_reason = s.relief_reason, obligation_t = s.obligation_t,
           borrowed_t = s.borrowed_t, offset_cap_t = s.offset_cap_t, remaining_t = s.remaining_t,
           status = CASE WHEN s.obligation_t IS NULL THEN 'no_emissions'
                         WHEN s.remaining_t = 0 THEN 'compliant' ELSE 'shortfall' END::carbonmkt.compliance_status,
           compliance_code = CASE WHEN s.obligation_t IS NULL THEN 'C' WHEN s.emissions_basis = 'estimated' THEN 'D'
                                  WHEN s.remaining_t = 0 THEN 'A' ELSE 'B' END,
           frozen_at = ts
      FROM carbonmkt.obligation_status s
     WHERE s.period = close_period.period AND o.period = s.period AND o.participant_id = s.participant_id;

    -- sanctions for the shortfalls
    FOR r IN SELECT o.participant_id, o.remaining_t FROM carbonmkt.obligation o
              WHERE o.period = close_period.period AND o.status = 'shortfall' ORDER BY o.participant_id LOOP
        fine := CASE per.fine_basis WHEN 'none' THEN 0
                                    WHEN 'fixed' THEN per.fine_default_fen
                                    ELSE round(per.multiple_default * price * r.remaining_t)::bigint END;
        cut := ceil(per.cut_multiple * r.remaining_t)::bigint;
        INSERT INTO carbonmkt.sanction AS x (participant_id, period, shortfall_t, fine_basis, price_from, price_to,
                                             average_price_fen, multiple, fine_fen, cut_multiple, cut_t, cut_year,
                                             legal_basis, imposed_at, imposed_by)
        VALUES (r.participant_id, per.period, r.remaining_t, per.fine_basis, p_from, p_to, price,
                CASE WHEN per.fine_basis = 'price_multiple' THEN per.multiple_default END, fine,
                per.cut_multiple, cut, per.last_year + 1, per.penalty_source, ts, session_user)
        RETURNING x.sanction_id INTO sid;
        IF cut > 0 THEN
            INSERT INTO carbonmkt.allocation_adjustment (participant_id, year, tonnes, reason, period, sanction_id,
                                                         recorded_at, recorded_by)
            VALUES (r.participant_id, per.last_year + 1, cut, 'penalty_cut', per.period, sid, ts, session_user);
        END IF;
    END LOOP;

    UPDATE carbonmkt.compliance_period p SET status = 'closed', closed_at = ts, closed_by = session_user
     WHERE p.period = close_period.period;

    RETURN QUERY
    SELECT count(*)::int, (count(*) FILTER (WHERE o.status = 'compliant'))::int,
           (count(*) FILTER (WHERE o.status = 'shortfall'))::int,
           (count(*) FILTER (WHERE o.status = 'no_emissions'))::int,
           coalesce(sum(o.remaining_t) FILTER (WHERE o.status = 'shortfall'), 0)::bigint,
           coalesce((SELECT sum(x.fine_fen) FROM carbonmkt.sanction x WHERE x.period = close_period.period), 0)::bigint,
           coalesce((SELECT sum(x.cut_t) FROM carbonmkt.sanction x WHERE x.period = close_period.period), 0)::bigint
      FROM carbonmkt.obligation o WHERE o.period = close_period.period;
END
$$;
COMMENT ON FUNCTION carbonmkt.close_period(int) IS
  'Closes a compliance period after its deadline: freezes every covered unit''s figures, status and code; for each shortfall (未足额清缴) records a sanction by the period''s penalty_rule (fine: fixed default, or default multiple x average reference price of the months before the deadline x shortfall; cut of next year''s allocation: cut multiple x shortfall, also in allocation_adjustment); no surrender is accepted afterwards.  Returns the counts.  National authority or registry.';

CREATE FUNCTION carbonmkt.revise_fine(participant_id bigint, period int, multiple numeric DEFAULT NULL,
                                      fine_fen bigint DEFAULT NULL, note text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    x   carbonmkt.sanction;
    pr  carbonmkt._period_rules;
    f   bigint;
BEGIN
    PERFORM carbonmkt._require_authority_over(participant_id, 'revise fines');
    SELECT * INTO x FROM carbonmkt.sanction s
     WHERE s.participant_id = revise_fine.participant_id AND s.period = revise_fine.period FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'participant % has no sanction for period %', participant_id, period USING ERRCODE = 'CM414';
    END IF;
    SELECT * INTO pr FROM carbonmkt._period_rules r WHERE r.period = revise_fine.period;
    IF x.fine_basis = 'price_multiple' THEN
        IF multiple IS NULL OR fine_fen IS NOT NULL OR multiple < pr.multiple_min OR multiple > pr.multiple_max THEN
            RAISE EXCEPTION 'the fine of period % is a multiple of the average price between % and %: got %',
                period, pr.multiple_min, pr.multiple_max, coalesce(multiple::text, 'none')
                USING ERRCODE = '22023', DETAIL = pr.penalty_source;
        END IF;
        f := round(multiple * x.average_price_fen * x.shortfall_t)::bigint;
    ELSIF x.fine_basis = 'fixed' THEN
        IF fine_fen IS NULL OR multiple IS NOT NULL OR fine_fen < pr.fine_min_fen OR fine_fen > pr.fine_max_fen THEN
            RAISE EXCEPTION 'the fine of period % is between % and %: got %', period,
                carbonmkt.format_quantity('CNY', pr.fine_min_fen), carbonmkt.format_quantity('CNY', pr.fine_max_fen),
                coalesce(carbonmkt.format_quantity('CNY', fine_fen), 'none')
                USING ERRCODE = '22023', DETAIL = pr.penalty_source;
        END IF;
        f := fine_fen;
    ELSE
        RAISE EXCEPTION 'the penalty rule of period % sets no fine', period USING ERRCODE = '22023';
    END IF;
    UPDATE carbonmkt.sanction s
       SET fine_fen = f, multiple = CASE WHEN x.fine_basis = 'price_multiple' THEN revise_fine.multiple END,
           revised_at = carbonmkt.clock_now(), revised_by = session_user, revision_note = note
     WHERE s.sanction_id = x.sanction_id;
    RETURN f;
END
$$;
COMMENT ON FUNCTION carbonmkt.revise_fine(bigint, int, numeric, bigint, text) IS
  'Sets a sanction''s fine within its penalty rule''s range (a multiple for price_multiple rules, a fine in fen for fixed ones) and returns the fine in fen.  The unit''s provincial authority, the national authority or the registry.';

CREATE VIEW carbonmkt.credit_platform_record AS
SELECT x.sanction_id, p.credit_code, p.name AS unit_name, p.province, r.name_zh AS province_name,
       x.period, per.name AS period_name, x.shortfall_t, x.fine_fen,
       carbonmkt.format_quantity('CNY', x.fine_fen) AS fine, x.cut_t, x.cut_year, x.legal_basis,
       carbonmkt.business_date(x.imposed_at) AS decided_on,
       format('%s 未按时足额清缴 %s 履约周期碳排放配额，欠缴 %s 吨；罚款 %s 元；核减 %s 年度配额 %s 吨。',
              p.name, per.name, x.shortfall_t, to_char(x.fine_fen / 100.0, 'FM999,999,999,999,990.00'),
              x.cut_year, x.cut_t) AS record_text
  FROM carbonmkt.sanction x
  JOIN carbonmkt.participant p ON p.participant_id = x.participant_id
  JOIN carbonmkt.region r ON r.code = p.province
  JOIN carbonmkt.compliance_period per ON per.period = x.period
  CROSS JOIN carbonmkt.caller_scope() s
 WHERE s.sees_all OR p.province = s.province OR p.city = s.city OR p.participant_id = s.participant_id;
COMMENT ON VIEW carbonmkt.credit_platform_record IS
  'Records of surrender shortfalls for the national credit information sharing platform (全国信用信息共享平台): unit and its unified social credit code, period, shortfall, fine, allocation cut, legal basis, decision date and a record text in Chinese.';

-- The surrender trigger (C) -------------------------------------------------------------

CREATE FUNCTION carbonmkt.compliance_surrender() RETURNS trigger
	AS 'MODULE_PATHNAME', 'compliance_surrender'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt.compliance_surrender() IS
  'BEFORE INSERT trigger of carbonmkt.journal for rows of kind surrender: enforces the compliance rules for every path into the cancellation account for a period (period open; a key emitting unit covered by it with confirmed emissions; CEA vintage not later than the period unless borrowed; CCER eligible and within the offset cap and local share; not beyond the remaining obligation) under a lock of the unit''s obligation row, and keeps the obligation''s surrender totals.  SQLSTATEs CM401-CM409 (doc/compliance.md).';

CREATE TRIGGER compliance_surrender
	BEFORE INSERT ON carbonmkt.journal
	FOR EACH ROW WHEN (NEW.kind = 'surrender')
	EXECUTE FUNCTION carbonmkt.compliance_surrender();

-------------------------------------------------------------------------------
-- Access
-------------------------------------------------------------------------------

-- reference data and rules are public
GRANT SELECT ON carbonmkt.jurisdiction, carbonmkt.compliance_period, carbonmkt.offset_rule,
                carbonmkt.relief_rule, carbonmkt.penalty_rule, carbonmkt.ccer_project_type,
                carbonmkt.ccer_project, carbonmkt.reference_price
   TO PUBLIC;

-- unit data: staff and the unit itself, rows filtered by RLS (caller_may_see_unit)
GRANT SELECT ON carbonmkt.obligation, carbonmkt.borrowing, carbonmkt.hardship, carbonmkt.unit_class,
                carbonmkt.sanction, carbonmkt.allocation_adjustment, carbonmkt.surrender_detail
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi;
GRANT SELECT ON carbonmkt.obligation_status
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi;
GRANT SELECT ON carbonmkt.credit_platform_record TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['obligation', 'borrowing', 'hardship', 'unit_class', 'sanction', 'allocation_adjustment',
                             'surrender_detail']
    LOOP
        EXECUTE format('ALTER TABLE carbonmkt.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY scoped_read ON carbonmkt.%I FOR SELECT
                          TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi
                          USING (carbonmkt.caller_may_see_unit(participant_id))', t);
    END LOOP;
END
$$;

-- internal views and functions are not for the public
REVOKE ALL ON carbonmkt._allocation_source, carbonmkt._allocation_delta, carbonmkt._period_rules, carbonmkt._obligation_figures,
              carbonmkt.allocation_cache, carbonmkt.allocation_cache_mark FROM PUBLIC;
REVOKE ALL ON FUNCTION carbonmkt._average_price_fen(date, date), carbonmkt._allocated_tonnes(bigint, int),
                       carbonmkt._require_authority_over(bigint, text), carbonmkt._require_national(text),
                       carbonmkt._check_borrowing(bigint, int, bigint), carbonmkt.compliance_surrender(),
                       carbonmkt.open_period(int, text, int, int, date, text),
                       carbonmkt.register_ccer_project(text, text, text, char, bigint, text),
                       carbonmkt.set_gas_fired(bigint, boolean), carbonmkt.flag_hardship(bigint, int, text),
                       carbonmkt.record_reference_price(date, bigint, text, bigint),
                       carbonmkt.borrow_allowances(bigint, int, bigint, text, text),
                       carbonmkt.close_period(int), carbonmkt.revise_fine(bigint, int, numeric, bigint, text),
                       carbonmkt.refresh_allocation_cache()
   FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    carbonmkt.open_period(int, text, int, int, date, text),
    carbonmkt.register_ccer_project(text, text, text, char, bigint, text),
    carbonmkt.set_gas_fired(bigint, boolean),
    carbonmkt.flag_hardship(bigint, int, text),
    carbonmkt.close_period(int),
    carbonmkt.revise_fine(bigint, int, numeric, bigint, text),
    carbonmkt.refresh_allocation_cache()
   TO carbonmkt_registry, carbonmkt_authority;
GRANT EXECUTE ON FUNCTION carbonmkt.record_reference_price(date, bigint, text, bigint)
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange;
GRANT EXECUTE ON FUNCTION carbonmkt.borrow_allowances(bigint, int, bigint, text, text)
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant;
