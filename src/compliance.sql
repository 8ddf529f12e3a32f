-------------------------------------------------------------------------------
-- compliance (清缴履约, RULES.md 6): compliance periods, the rule tables (offset
-- ratio and its basis, CCER eligibility, relief, borrowing, penalties), the
-- obligation of each key emitting unit, the surrender rules (enforced by the C
-- trigger carbonmkt.compliance_surrender on carbonmkt.journal), borrowing (预支),
-- period close, sanctions and the record for the national credit platform.
-- C: src/compliance.c.  Documentation: doc/compliance.md.
--
-- Reads: carbonmkt.confirmed_emission (MRV), the allocation room's allocation_result
-- (in ONE place: the view carbonmkt._allocation_source), prices (in ONE place:
-- carbonmkt._daily_prices: the market's daily statistics, reference prices where the
-- market did not trade).  Writes for the allocation room: next year's allocation
-- reductions in carbonmkt.allocation_adjustment (src/allocation.sql reads them).
-------------------------------------------------------------------------------

-- Jurisdictions and compliance periods -------------------------------------------

-- (carbonmkt.jurisdiction: src/jurisdiction.sql, the one vocabulary of every room)

CREATE TYPE carbonmkt.period_status AS ENUM ('open', 'closed');
COMMENT ON TYPE carbonmkt.period_status IS
  'open: surrenders (清缴) accepted, obligations live; closed: statuses, shortfalls and sanctions frozen, no surrender accepted.';

CREATE TABLE carbonmkt.compliance_period (
    period          int PRIMARY KEY CHECK (period > 0),
    jurisdiction    text NOT NULL DEFAULT 'CN' REFERENCES carbonmkt.jurisdiction,
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
    until_year          int,        -- last compliance year the rule applies to; NULL: until replaced
    PRIMARY KEY (jurisdiction, from_year),
    CONSTRAINT offset_rule_period_check CHECK (until_year >= from_year AND until_year <= 2100)
);
COMMENT ON TABLE carbonmkt.offset_rule IS
  'CCER offset rules (抵销): at most ratio x basis tonnes of CCER per unit and period (rounded down); at least local_share_min of the CCER surrendered from projects in the unit''s province (本地项目); CCER vintage not before ccer_min_vintage nor more than ccer_max_age years before the period''s last year; project types in excluded_types and (exclude_covered_hosts) projects hosted by a key emitting unit are not eligible.  NULL = no such limit.';
COMMENT ON COLUMN carbonmkt.offset_rule.local_share_min IS
  'Minimum share of local CCER in the unit''s CCER for the period, checked after every surrender (so local units go first).';

INSERT INTO carbonmkt.offset_rule (jurisdiction, from_year, ratio, basis, local_share_min, ccer_min_vintage,
                                   ccer_max_age, excluded_types, exclude_covered_hosts, source) VALUES
  ('CN', 2019, 0.05, 'obligation', NULL, NULL, NULL, '{}', true,
   'RULES.md 6: at most 5% of the allowances due; CCER from projects inside covered units not eligible [S3, public]'),
  ('110000', 2013, 0.05, 'issued_allowances', 0.50, 2013, NULL, '{hydro}', true,
   'S1 L1397-1505: <=5% of issued allowances, non-local <=2.5% (local share >=50%), reductions from 2013, no hydro'),
  ('120000', 2013, 0.10, 'verified_emissions', NULL, 2013, NULL, '{hydro}', true,
   'S1 L1397-1505: <=10% of emissions, reductions from 2013, no hydro'),
  ('310000', 2013, 0.01, 'issued_allowances', NULL, 2013, NULL, '{}', true,
   'S1 L1397-1505: <=1% of allowances, reductions from 2013'),
  ('500000', 2013, 0.08, 'verified_emissions', NULL, NULL, NULL, '{hydro}', true,
   'S1 L1397-1505: <=8% of verified emissions, no hydro'),
  ('420000', 2013, 0.10, 'initial_allowances', NULL, NULL, NULL, '{hydro}', true,
   'S1 L1397-1505: <=10% of initial allowances, no large or medium hydro'),
  ('440000', 2013, 0.10, 'verified_emissions', 0.70, NULL, NULL, '{hydro}', true,
   'S1 L1397-1505: <=10% of emissions, >=70% local CCER, no hydro'),
  ('440300', 2013, 0.10, 'verified_emissions', NULL, NULL, NULL, '{}', true,
   'S1 L1397-1505: <=10% of emissions'),
  ('350000', 2013, 0.05, 'verified_emissions', NULL, NULL, NULL, '{}', true,
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
    until_year              int,    -- last compliance year the rule applies to; NULL: until replaced
    PRIMARY KEY (jurisdiction, from_year),
    CONSTRAINT relief_rule_period_check CHECK (until_year >= from_year AND until_year <= 2100),
    CHECK ((borrowing_min_gap_share IS NULL) = (borrowing_max_share IS NULL))
);
COMMENT ON TABLE carbonmkt.relief_rule IS
  'Relief (履约减负) for the units of the listed sectors: gap cap (配额缺口上限) obligation <= allocation + gap_cap_share x confirmed emissions; gas_cap: gas-fired units (燃气机组) owe at most their allocation; borrowing (预支): a unit in hardship whose gap (obligation - allocation) is at least borrowing_min_gap_share of its confirmed emissions may borrow up to borrowing_max_share of the gap from next year''s allocation.  NULL = no such relief.';
INSERT INTO carbonmkt.relief_rule VALUES
  ('CN', 2019, '{power}', 0.20, true, 0.10, 0.50,
   'RULES.md 6, power-sector relief [S4 L91-96, public]: gap cap allocation + 20% of verified emissions; gas units <= allocation; gap >= 10% in hardship may borrow <= 50% of the gap; tied to 2019-2022 (S4 L93)',
   2022);

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
    cut_unless_corrected boolean NOT NULL DEFAULT false,
    source              text NOT NULL,
    until_year          int,        -- last compliance year the rule applies to; NULL: until replaced
    PRIMARY KEY (jurisdiction, from_year),
    CONSTRAINT penalty_rule_period_check CHECK (until_year >= from_year AND until_year <= 2100),
    CHECK (fine_basis <> 'fixed' OR (fine_min_fen IS NOT NULL AND fine_max_fen >= fine_min_fen
                                     AND fine_default_fen BETWEEN fine_min_fen AND fine_max_fen)),
    CHECK (fine_basis <> 'price_multiple' OR (multiple_min IS NOT NULL AND multiple_max >= multiple_min
                                              AND multiple_default BETWEEN multiple_min AND multiple_max
                                              AND price_months IS NOT NULL))
);
COMMENT ON TABLE carbonmkt.penalty_rule IS
  'Penalties for a surrender shortfall (未足额清缴): the fine (fixed range, or multiple_default x the average reference price of the price_months months up to the deadline x the shortfall) and the cut of next year''s allocation (cut_multiple x the shortfall, 等量核减 when 1); cut_unless_corrected: the cut applies only to what is not corrected (逾期未改正 / 拒不改正), so a late surrender after the close withdraws it in proportion, the fine stands.  Defaults are the lower bounds; an authority may revise a fine within the range (revise_fine).  The price of price_multiple fines is the average transaction price (平均交易价格: turnover / volume) of the market''s CEA trades in the window, reference prices for days the market did not trade (_daily_prices).';
INSERT INTO carbonmkt.penalty_rule (jurisdiction, from_year, fine_basis, fine_min_fen, fine_max_fen, fine_default_fen,
                                    multiple_min, multiple_max, multiple_default, price_months, cut_multiple,
                                    cut_unless_corrected, source, until_year) VALUES
  ('CN', 2019, 'fixed', 2000000, 3000000, 2000000, NULL, NULL, NULL, NULL, 1, true,
   'RULES.md 6 [public: the 2021 Measures, 碳排放权交易管理办法（试行）]: fine 20,000-30,000 CNY; if not corrected in time (逾期未改正), next year''s allocation cut by the shortfall; until the 2022 year (Decree 775''s fines from 2023)', 2022),
  ('CN', 2023, 'price_multiple', NULL, NULL, NULL, 5, 10, 5, 1, 1, true,
   'RULES.md 6 [public: Decree 775, 碳排放权交易管理暂行条例, from 2024-05-01]: fine 5-10x the average price of the month before the deadline x shortfall; if not corrected (拒不改正), an equal cut of next year''s allocation', NULL),
  ('420000', 2013, 'none', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 2, false,
   'S1 L1685-1753: next year''s allocation cut by 2x the shortfall', NULL),
  ('440000', 2013, 'none', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 2, false,
   'S1 L1685-1753: next year''s allocation cut by 2x the shortfall', NULL),
  ('440300', 2013, 'price_multiple', NULL, NULL, NULL, 3, 3, 3, 6, 0, false,
   'S1 L1685-1753: fine 3x the average price of the 6 months before the deadline x shortfall', NULL);

-- CCER project registry ------------------------------------------------------------

CREATE TABLE carbonmkt.ccer_project_type (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z][a-z_]*$'),
    name        text NOT NULL,
    name_zh     text NOT NULL,
    source      text NOT NULL   -- the document it implements (doc/rules.md)
);
COMMENT ON TABLE carbonmkt.ccer_project_type IS
  'CCER project types (项目类型), the unit of the offset rules'' type exclusions (e.g. hydro 水电).';
INSERT INTO carbonmkt.ccer_project_type VALUES
  ('afforestation', 'Afforestation carbon sink', '造林碳汇',
   'S3 L313: the CCER methodologies since 2023 include afforestation (造林碳汇) [public: the MEE methodologies of 2023]'),
  ('mangrove', 'Mangrove restoration', '红树林营造', '[public: the MEE CCER methodologies of 2023, 红树林营造]; S3 L313 (6 methodologies)'),
  ('offshore_wind', 'Grid-connected offshore wind', '并网海上风力发电',
   'S3 L313: the CCER methodologies since 2023 include offshore wind (海上风电) [public: the MEE methodologies of 2023]'),
  ('solar_thermal', 'Grid-connected solar thermal power', '并网光热发电', '[public: the MEE CCER methodologies of 2023, 并网光热发电]; S3 L313 (6 methodologies)'),
  ('onshore_wind', 'Onshore wind power', '陆上风力发电', '[public: the CCER project types registered 2012-2017]'),
  ('solar_pv', 'Solar photovoltaic power', '光伏发电', '[public: the CCER project types registered 2012-2017]'),
  ('hydro', 'Hydropower', '水电', 'S1 L1397-1505: hydro CCER, excluded by several pilots (RULES.md 6) [public: CCER project types 2012-2017]'),
  ('methane_recovery', 'Methane recovery and use', '甲烷回收利用', '[public: the MEE CCER methodologies of 2024, coal mine methane (煤矿瓦斯) use]; S3 L313 (6 methodologies)'),
  ('biomass', 'Biomass energy', '生物质能', '[public: the CCER project types registered 2012-2017]'),
  ('waste_heat', 'Waste heat and pressure recovery', '余热余压利用', '[public: the CCER project types registered 2012-2017]'),
  ('energy_efficiency', 'Energy efficiency', '节能', '[public: the MEE CCER methodologies of 2024, road tunnel lighting (公路隧道照明系统节能)]; S3 L313 (6 methodologies)');

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
  'The authority''s override of whether a key emitting unit is gas-fired (燃气机组; gas units owe at most their allocation under relief_rule.gas_cap).  Without a row, a unit is gas-fired when all its generating units are in a gas category.  Set with set_gas_fired(), validated against the facilities.';

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

CREATE TYPE carbonmkt.compliance_status AS ENUM ('no_emissions', 'open', 'compliant', 'shortfall', 'pending');
COMMENT ON TYPE carbonmkt.compliance_status IS
  'no_emissions: no confirmed emissions for all years of the period; open: obligation not yet met, deadline not passed; compliant: surrendered >= obligation (履约); shortfall: not met after the deadline or at close (未足额清缴); pending: the obligation depends (by a relief rule) on a final allocation not made yet (none, or only a pre-allocation; obligation_status.status_reason), never frozen at close.';

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
    price_source        text CHECK (price_source IN ('market', 'reference_price', 'market+reference_price')),
    price_market_days   int,
    price_reference_days int,
    multiple            numeric,
    fine_fen            bigint NOT NULL CHECK (fine_fen >= 0),
    cut_multiple        numeric NOT NULL,
    cut_t               bigint NOT NULL CHECK (cut_t >= 0),
    cut_unless_corrected boolean NOT NULL,
    cut_year            int NOT NULL,
    legal_basis         text NOT NULL,
    imposed_at          timestamptz NOT NULL,
    imposed_by          name NOT NULL,
    revised_at          timestamptz,
    revised_by          name,
    revision_note       text,
    corrected_t         bigint NOT NULL DEFAULT 0,   -- surrendered late, after the close (改正)
    corrected_at        timestamptz,                 -- when the whole shortfall was made up
    UNIQUE (participant_id, period),
    CHECK (corrected_t >= 0 AND corrected_t <= shortfall_t),
    CHECK ((corrected_at IS NOT NULL) = (corrected_t = shortfall_t)),
    CHECK ((fine_basis = 'price_multiple') = (price_source IS NOT NULL))
);
COMMENT ON TABLE carbonmkt.sanction IS
  'Sanctions (处罚) for surrender shortfalls, computed by close_period() from the period''s penalty_rule: the fine in fen (for price-based fines the average price, its window and its source: the market''s trades, reference prices, or both, with the number of days of each) and the cut of next year''s allocation (also in allocation_adjustment).  corrected_t: tonnes surrendered late for the closed period (改正); where the rule cuts only what is not corrected, the cut in force shrinks with it; the fine stands.  Fines may be revised within the rule''s range by revise_fine().';

-- carbonmkt.allocation_adjustment (the contract with the allocation room) is created by
-- src/allocation.sql, which reads it; the compliance room writes it and ties its rows here.
ALTER TABLE carbonmkt.allocation_adjustment
    ADD FOREIGN KEY (period) REFERENCES carbonmkt.compliance_period,
    ADD FOREIGN KEY (borrowing_id) REFERENCES carbonmkt.borrowing,
    ADD FOREIGN KEY (sanction_id) REFERENCES carbonmkt.sanction;

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
  'Average CEA price of a day in fen per tonne, recorded by hand with its source (e.g. the exchange''s daily or monthly report): the fallback of the price source for days the market (carbonmkt.market_trades) did not trade, e.g. before the market ran here, or a published figure.  Read only through carbonmkt._daily_prices().';

CREATE FUNCTION carbonmkt._daily_prices(p_jurisdiction text, p_from date, p_to date)
RETURNS TABLE (price_date date, average_price_fen bigint, volume_t bigint, turnover_fen numeric, trades bigint,
               price_source text, source text)
LANGUAGE sql STABLE AS
$$
    -- the trade tape's statistics per product and day with trades (_market_day: integer sums
    -- in fen; a closed day's row as end_of_day() kept it, a day not closed yet from the tape),
    -- summed over the jurisdiction's CEA products
    WITH m AS (SELECT d.business_date AS day, sum(d.volume_t)::bigint AS volume_t,
                      round(sum(d.turnover_fen), 2) AS turnover_fen, sum(d.trades)::bigint AS trades
                 FROM carbonmkt._market_day d JOIN carbonmkt.product pr ON pr.product_id = d.product_id
                WHERE pr.instrument = 'CEA' AND pr.jurisdiction = p_jurisdiction
                  AND d.business_date BETWEEN p_from AND p_to AND d.trades > 0
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
COMMENT ON FUNCTION carbonmkt._daily_prices(text, date, date) IS
  'Internal, THE price source of the compliance room: one row per day in [p_from, p_to] with a CEA price of the jurisdiction''s market: the market''s own trades where it traded (the trade tape''s statistics per product and day, _market_day: as end_of_day() kept them for a closed day, from the tape for a day not closed yet; every CEA product and mode: the day''s average transaction price = turnover / volume, price_source market), else a reference price recorded by hand (price_source reference_price, with its source).';

CREATE FUNCTION carbonmkt._average_price(p_jurisdiction text, p_from date, p_to date,
                                         OUT average_price_fen bigint, OUT price_source text,
                                         OUT market_days int, OUT reference_days int, OUT volume_t bigint)
LANGUAGE sql STABLE AS
$$
    SELECT CASE WHEN count(*) = 0 THEN NULL
                WHEN count(d.volume_t) = count(*) AND sum(d.volume_t) > 0
                THEN round(sum(d.turnover_fen) / sum(d.volume_t))::bigint
                ELSE round(avg(d.average_price_fen))::bigint END,
           CASE WHEN count(*) = 0 THEN NULL
                WHEN bool_and(d.price_source = 'market') THEN 'market'
                WHEN bool_and(d.price_source = 'reference_price') THEN 'reference_price'
                ELSE 'market+reference_price' END,
           (count(*) FILTER (WHERE d.price_source = 'market'))::int,
           (count(*) FILTER (WHERE d.price_source = 'reference_price'))::int,
           sum(d.volume_t)::bigint
      FROM carbonmkt._daily_prices(p_jurisdiction, p_from, p_to) d
$$;
COMMENT ON FUNCTION carbonmkt._average_price(text, date, date) IS
  'Internal: the average CEA price of a window for price-based penalties (Decree 775: 平均交易价格, the average transaction price): turnover / volume over the days of _daily_prices() when every day has a volume, else the mean of the daily prices; rounded half up to the fen; NULL without any price.  With the source (market, reference_price or market+reference_price) and the days of each.';

CREATE FUNCTION carbonmkt._average_price_fen(from_date date, to_date date, jurisdiction text DEFAULT 'CN')
RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT (carbonmkt._average_price(jurisdiction, from_date, to_date)).average_price_fen $$;
COMMENT ON FUNCTION carbonmkt._average_price_fen(date, date, text) IS
  'Internal: _average_price(jurisdiction, from_date, to_date).average_price_fen: the average CEA price in fen per tonne over the window, NULL without any price.';

-- Allocation, from the allocation room (ONE place) ----------------------------------------
-- The figure the relief rules use is allocation_result.allocated_t: the final allocation
-- (the pre-allocation until it is final) with the allocation room's own adjustments, before
-- the compliance room's reductions.  The gap cap limits the obligation to "the free
-- allowances it obtained + 20%" (RULES.md 6): borrowed tonnes are part of that year's
-- allocation (delivered early), and a penalty cut must not be given back by the gap cap.

CREATE VIEW carbonmkt._allocation_source AS
SELECT r.participant_id, r.year, r.allocated_t, coalesce(r.preallocated_t, r.final_t, 0)::bigint AS initial_t,
       r.entitlement_t, r.is_final
  FROM carbonmkt.allocation_result r;
COMMENT ON VIEW carbonmkt._allocation_source IS
  'Internal, THE allocation source of the compliance room, from the allocation room''s allocation_result: per participant and year allocated_t (final allocation, else pre-allocation, with the allocation room''s adjustments: the basis of the gap cap, the borrowing gap and the issued-allowances offset basis), initial_t (the pre-allocation 预分配, else the final allocation: the initial-allowances offset basis of Hubei), entitlement_t (after penalty cuts) and is_final.  A year without an allocation run has no row: allocation 0.';

CREATE FUNCTION carbonmkt._allocated_tonnes(participant_id bigint, year int) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT coalesce((SELECT s.allocated_t FROM carbonmkt._allocation_source s
                     WHERE s.participant_id = _allocated_tonnes.participant_id AND s.year = _allocated_tonnes.year), 0) $$;
COMMENT ON FUNCTION carbonmkt._allocated_tonnes(bigint, int) IS
  'Internal: a unit''s allocation of a year in tonnes (allocated_t of carbonmkt._allocation_source, 0 without any).';

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
       pr.multiple_max, pr.multiple_default, pr.price_months, pr.cut_multiple, pr.cut_unless_corrected,
       pr.source AS penalty_source, r.from_year AS relief_rule_year, pr.from_year AS penalty_rule_year
  FROM carbonmkt.compliance_period per
  JOIN carbonmkt.jurisdiction jr ON jr.code = per.jurisdiction
  LEFT JOIN LATERAL (SELECT * FROM carbonmkt.offset_rule x
                      WHERE x.jurisdiction = per.jurisdiction AND x.from_year <= per.first_year
                        AND (x.until_year IS NULL OR x.until_year >= per.first_year)
                      ORDER BY x.from_year DESC LIMIT 1) o ON true
  LEFT JOIN LATERAL (SELECT * FROM carbonmkt.relief_rule x
                      WHERE x.jurisdiction = per.jurisdiction AND x.from_year <= per.first_year
                        AND (x.until_year IS NULL OR x.until_year >= per.first_year)
                      ORDER BY x.from_year DESC LIMIT 1) r ON true
  LEFT JOIN LATERAL (SELECT * FROM carbonmkt.penalty_rule x
                      WHERE x.jurisdiction = per.jurisdiction AND x.from_year <= per.first_year
                        AND (x.until_year IS NULL OR x.until_year >= per.first_year)
                      ORDER BY x.from_year DESC LIMIT 1) pr ON true;
COMMENT ON VIEW carbonmkt._period_rules IS
  'Internal: each compliance period with the offset, relief and penalty rule rows that apply to it (its jurisdiction''s rows with the greatest from_year <= its first year whose until_year, if any, is not before it).';

CREATE VIEW carbonmkt._obligation_figures AS
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
  -- per unit and open period, set-based: confirmed emissions, allocation and facilities of the
  -- period's years grouped by unit and joined on the grouping keys (hash joins over every
  -- unit: about 5x faster than per-unit lookups at 3,000 units); a filter on participant_id or
  -- period (the surrender trigger, borrowing) reaches the grouped rows as an index condition
  LEFT JOIN (SELECT ce.participant_id, cp.period, count(*)::int AS years_confirmed,
                    sum(ce.emissions_t)::bigint AS emissions_t, bool_or(ce.basis = 'estimated') AS estimated
               FROM carbonmkt.compliance_period cp
               JOIN carbonmkt.confirmed_emission ce ON ce.year BETWEEN cp.first_year AND cp.last_year
              WHERE cp.status = 'open'
              GROUP BY ce.participant_id, cp.period) e ON e.participant_id = p.participant_id AND e.period = pr.period
  -- (the allocation by the allocation room's slim _allocated_by_year: the same allocated_t,
  -- initial_t and is_final as _allocation_source, without allocation_result's sums)
  LEFT JOIN (SELECT cp.period, a.*
               FROM carbonmkt.compliance_period cp
               -- (per open period: its years reach the allocation rows before they are grouped)
               CROSS JOIN LATERAL (SELECT a.participant_id, sum(a.allocated_t)::bigint AS allocated_t,
                                          sum(a.initial_t)::bigint AS initial_t, count(*)::int AS years_allocated,
                                          (count(*) FILTER (WHERE a.is_final))::int AS years_final
                                     FROM carbonmkt._allocated_by_year a
                                    WHERE a.year BETWEEN cp.first_year AND cp.last_year
                                    GROUP BY a.participant_id) a
              WHERE cp.status = 'open') al0 ON al0.participant_id = p.participant_id AND al0.period = pr.period
  CROSS JOIN LATERAL (SELECT al0.allocated_t, al0.initial_t,
                             coalesce(al0.years_final, 0) = pr.last_year - pr.first_year + 1 AS allocation_final,
                             coalesce(al0.years_allocated, 0) AS years_allocated,
                             coalesce(al0.years_final, 0) AS years_final) al
  LEFT JOIN carbonmkt.unit_class uc ON uc.participant_id = p.participant_id
  -- gas-fired (燃气机组): every generating unit registered in a gas category, or the authority's
  -- override (unit_class, set_gas_fired) where the facilities do not decide it
  LEFT JOIN (SELECT f.participant_id, bool_and(c.fuel = 'gas') AS all_gas
               FROM carbonmkt.facility f JOIN carbonmkt.alloc_category c ON c.code = f.category AND c.method = 'power'
              GROUP BY f.participant_id) gu ON gu.participant_id = p.participant_id
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
COMMENT ON VIEW carbonmkt._obligation_figures IS
  'Internal, THE obligation formula: for every open period and every key emitting unit it covers (jurisdiction''s province or city, sector covered by the period''s last year), the live figures: confirmed emissions of all the period''s years (NULL if a year is missing), allocation (_allocation_source: allocation_result.allocated_t) and whether it is final for every year, relief (gas cap, gap cap) and why, obligation, gap, borrowing, the offset basis and cap; whether the unit is gas-fired (gas_basis facilities: every generating unit in a gas category; override: set_gas_fired) and, while a year of the period has no final allocation (核定配额: none at all, or only a pre-allocation) and a relief makes the obligation depend on it, why the obligation is pending.  Used by the surrender trigger, borrowing, close_period() and obligation_status.';

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
        -- fail closed: an authority login sees only through its mapping to an authority
        SELECT a.kind, a.province, a.city INTO k, pv, ct FROM carbonmkt.caller_authority() a;
        IF k = 'provincial_authority' THEN
            province := pv;
        ELSIF k = 'city_authority' THEN
            city := ct;
        ELSIF k = 'national_authority' THEN
            sees_all := true;
        ELSE
            participant_id := NULL;
        END IF;
        RETURN;
    END IF;
    IF NOT carbonmkt._is_member('carbonmkt_participant') THEN
        participant_id := NULL;
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt.caller_scope() IS
  'Which key emitting units the login sees in the compliance views: all (registry, BI, national authority), its province (provincial authority), its city (city authority), or only itself (a participant''s login).  An authority login not mapped to an authority sees nothing (fail closed).';

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
            WHEN st.status = 'compliant' THEN 'A' ELSE 'B' END::char(1) AS compliance_code,
       CASE WHEN st.status::text = 'pending' THEN f.pending_reason END AS status_reason
  FROM carbonmkt._obligation_figures f
  -- the unit's surrender totals, by primary key (both columns; OFFSET 0: not flattened into a
  -- join whose index condition would be the unit alone, reading every period's row)
  LEFT JOIN LATERAL (SELECT x.surrendered_cea_t, x.surrendered_ccer_t FROM carbonmkt.obligation x
                      WHERE x.participant_id = f.participant_id AND x.period = f.period OFFSET 0) o ON true
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
COMMENT ON VIEW carbonmkt.obligation_status IS
  'Compliance of each key emitting unit in each period (清缴履约情况): confirmed emissions, allocation, relief applied and why, obligation, CEA and CCER surrendered, remaining, borrowing, offset cap, status and EUTL-style code (A surrendered >= obligation, B less, C no confirmed emissions, D emissions estimated by the authority); status pending (code B) while a year of the period has no final allocation (none at all, or only a pre-allocation) and a relief makes the obligation depend on it, with the reason in status_reason (never compliant on a provisional obligation, unless the unit surrendered its whole emissions).  Live for open periods, frozen at close for closed ones.  A participant''s login sees its own rows, a provincial authority its province.';

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
    SELECT * INTO s FROM carbonmkt.caller_authority();
    IF s.kind = 'national_authority' OR (s.kind = 'provincial_authority' AND u.province = s.province)
       OR (s.kind = 'city_authority' AND u.city = s.city) THEN
        RETURN;
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
       OR (carbonmkt.caller_authority()).kind IS NOT DISTINCT FROM 'national_authority' THEN
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
                                      jurisdiction text DEFAULT 'CN')
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    other int;
    oj    text;
BEGIN
    PERFORM carbonmkt._require_national('open compliance periods');
    IF open_period.period IS NULL OR open_period.name IS NULL THEN
        RAISE EXCEPTION 'open_period: argument % must not be NULL',
            CASE WHEN open_period.period IS NULL THEN 'period' ELSE 'name' END USING ERRCODE = 'CM904';
    END IF;
    PERFORM carbonmkt.check_jurisdiction(jurisdiction);
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
    IF NOT isfinite(deadline)
       OR deadline > make_date(last_year + carbonmkt.plausibility_max('deadline_years')::int, 12, 31) THEN
        RAISE EXCEPTION 'open_period: deadline % is more than % years after the period''s last year %',
            deadline, carbonmkt.plausibility_max('deadline_years'), last_year
            USING ERRCODE = 'CM902',
                  HINT = 'The limit is the rule row deadline_years of carbonmkt.plausibility_limit (doc/security.md).';
    END IF;
    SELECT p.period INTO other FROM carbonmkt.compliance_period p
     WHERE p.jurisdiction = open_period.jurisdiction
       AND p.first_year <= open_period.last_year AND p.last_year >= open_period.first_year;
    IF FOUND THEN
        RAISE EXCEPTION 'years %-% overlap compliance period % of jurisdiction %', first_year, last_year, other, jurisdiction
            USING ERRCODE = '22023', DETAIL = 'A year''s emissions are due in one period only.';
    END IF;
    -- a unit takes part in one market per year: no period of another jurisdiction whose
    -- units intersect this one's (the national market and any pilot; Guangdong and Shenzhen)
    -- may cover the same years, or its units would owe the same emissions twice
    SELECT p.period, p.jurisdiction INTO other, oj
      FROM carbonmkt.compliance_period p
      JOIN carbonmkt.jurisdiction a ON a.code = p.jurisdiction
      JOIN carbonmkt.jurisdiction b ON b.code = open_period.jurisdiction
     WHERE p.jurisdiction <> open_period.jurisdiction
       AND p.first_year <= open_period.last_year AND p.last_year >= open_period.first_year
       AND (a.province IS NULL OR b.province IS NULL
            OR (a.province = b.province AND (a.city IS NULL OR b.city IS NULL OR a.city = b.city)))
     ORDER BY p.period LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'years %-% of jurisdiction % overlap compliance period % of jurisdiction %, which covers the same units',
            first_year, last_year, jurisdiction, other, oj
            USING ERRCODE = '22023',
                  DETAIL = 'A key emitting unit takes part in one carbon market for a year: its emissions would otherwise be due twice and counted twice in the completion views.',
                  HINT = 'Decree 775 (碳排放权交易管理暂行条例): units in the national market no longer take part in a local market for the same gas and sector.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.offset_rule r
                    WHERE r.jurisdiction = open_period.jurisdiction AND r.from_year <= open_period.first_year
                      AND (r.until_year IS NULL OR r.until_year >= open_period.first_year)) THEN
        RAISE EXCEPTION 'no offset rule of jurisdiction % applies from %', jurisdiction, first_year
            USING ERRCODE = 'CM413', HINT = 'Add a row to carbonmkt.offset_rule first.';
    END IF;
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
    IF name IS NULL THEN
        RAISE EXCEPTION 'register_ccer_project: argument name must not be NULL' USING ERRCODE = 'CM904';
    END IF;
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
DECLARE
    u   record;
BEGIN
    PERFORM carbonmkt._require_authority_over(participant_id, 'classify units');
    IF gas_fired IS NULL THEN
        -- the override withdrawn: the facilities decide again
        DELETE FROM carbonmkt.unit_class c WHERE c.participant_id = set_gas_fired.participant_id;
        RETURN;
    END IF;
    SELECT count(*) AS units, count(*) FILTER (WHERE c.fuel = 'gas') AS gas_units,
           string_agg(format('%s %s', f.code, f.category), ', ' ORDER BY f.facility_id) AS list
      INTO u
      FROM carbonmkt.facility f JOIN carbonmkt.alloc_category c ON c.code = f.category AND c.method = 'power'
     WHERE f.participant_id = set_gas_fired.participant_id;
    IF u.units > 0 AND gas_fired AND u.gas_units = 0 THEN
        RAISE EXCEPTION 'participant % cannot be classified gas-fired: none of its % generating unit(s) is gas-fired (%)',
            participant_id, u.units, u.list
            USING ERRCODE = 'CM508',
                  DETAIL = 'A unit is gas-fired (燃气机组) when its generating units are registered in a gas category; the override is for units whose facilities do not decide it (none registered, or mixed fuels).';
    ELSIF u.units > 0 AND NOT gas_fired AND u.gas_units = u.units THEN
        RAISE EXCEPTION 'participant % cannot be classified not gas-fired: all its % generating unit(s) are gas-fired (%)',
            participant_id, u.units, u.list
            USING ERRCODE = 'CM508',
                  DETAIL = 'A unit is gas-fired (燃气机组) when its generating units are registered in a gas category; the override is for units whose facilities do not decide it (none registered, or mixed fuels).';
    END IF;
    INSERT INTO carbonmkt.unit_class AS u VALUES (participant_id, gas_fired, session_user, carbonmkt.clock_now())
    ON CONFLICT ON CONSTRAINT unit_class_pkey DO UPDATE
       SET gas_fired = excluded.gas_fired, set_by = excluded.set_by, set_at = excluded.set_at;
END
$$;
COMMENT ON FUNCTION carbonmkt.set_gas_fired(bigint, boolean) IS
  'Overrides whether a key emitting unit is gas-fired (燃气机组), for the gas cap of the relief rules; NULL withdraws the override.  Without an override a unit is gas-fired when all its generating units are registered in a gas category (the facilities decide).  The override is refused (CM508) where it contradicts the facilities: true for a unit whose generating units are all coal, false for one whose units are all gas; it decides units without registered generating units or with mixed fuels.  Its provincial authority, the national authority or the registry.';

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

CREATE FUNCTION carbonmkt.record_average_price(price_date date, average_price numeric, source text,
                                               volume_t bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    fen bigint;
BEGIN
    IF NOT (carbonmkt._is_member('carbonmkt_registry') OR carbonmkt._is_member('carbonmkt_exchange')
            OR (carbonmkt.caller_authority()).kind IS NOT DISTINCT FROM 'national_authority') THEN
        RAISE EXCEPTION 'only the exchange, the national authority or the registry may record reference prices'
            USING ERRCODE = '42501';
    END IF;
    IF price_date IS NULL OR average_price IS NULL OR average_price <= 0 THEN
        RAISE EXCEPTION 'a reference price needs a date and a positive price in CNY per tonne: got %, %',
            coalesce(to_char(price_date, 'YYYY-MM-DD'), 'NULL'), coalesce(average_price::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    -- above its plausibility limit (a rule row) the price in fen would leave the int8 range
    PERFORM carbonmkt._check_plausible('record_average_price', 'average_price', 'price_cny', 'average_price', average_price);
    IF average_price * 100 <> trunc(average_price * 100) THEN
        RAISE EXCEPTION 'average_price % has more than two decimals', average_price
            USING ERRCODE = '22023', HINT = 'A price is CNY per tonne to the fen (0.01).';
    END IF;
    fen := (average_price * 100)::bigint;
    IF volume_t < 0 THEN
        RAISE EXCEPTION 'volume must not be negative: %', volume_t USING ERRCODE = '22023';
    END IF;
    IF source IS NULL OR btrim(source) = '' THEN
        RAISE EXCEPTION 'a reference price needs its source' USING ERRCODE = '22023';
    END IF;
    INSERT INTO carbonmkt.reference_price AS r VALUES (price_date, fen, volume_t, source, session_user,
                                                       carbonmkt.clock_now())
    ON CONFLICT ON CONSTRAINT reference_price_pkey DO UPDATE
       SET average_price_fen = excluded.average_price_fen, volume_t = excluded.volume_t, source = excluded.source,
           recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at;
END
$$;
COMMENT ON FUNCTION carbonmkt.record_average_price(date, numeric, text, bigint) IS
  'Records (or corrects) the reference price of a day (参考价格): the average CEA price in CNY per tonne (two decimals, stored in fen), with its source and optionally the volume; price-based penalties use it for days the market did not trade.  Exchange, national authority or registry.';

-- The name of 0.1.0, with the price in fen, for one release.
CREATE FUNCTION carbonmkt.record_reference_price(price_date date, average_price_fen bigint, source text,
                                                 volume_t bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    RAISE NOTICE 'carbonmkt.record_reference_price() is deprecated and goes after 0.2.0: call carbonmkt.record_average_price() with the price in CNY per tonne';
    PERFORM carbonmkt.record_average_price(price_date, average_price_fen / 100.0, source, volume_t);
END
$$;
COMMENT ON FUNCTION carbonmkt.record_reference_price(date, bigint, text, bigint) IS
  'Deprecated (goes after 0.2.0): carbonmkt.record_average_price(price_date, average_price_fen / 100.0, source, volume_t), the same with the price in CNY.';

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

CREATE FUNCTION carbonmkt.borrow_cea(account_id bigint, tonnes bigint, period int,
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
    -- who asks comes first (doc/security.md): a caller that may not borrow for the account's
    -- owner learns nothing about the account
    SELECT * INTO a FROM carbonmkt.account x WHERE x.account_id = borrow_cea.account_id;
    SELECT * INTO u FROM carbonmkt.participant p WHERE p.participant_id = a.participant_id;
    IF u.participant_id IS NULL OR u.participant_id IS DISTINCT FROM carbonmkt.caller_participant() THEN
        IF NOT carbonmkt._is_member('carbonmkt_registry') AND (carbonmkt.caller_authority()).kind IS NULL THEN
            RAISE EXCEPTION 'role "%" may not borrow allowances on account %', session_user, account_id
                USING ERRCODE = '42501',
                      HINT = 'The unit itself, its provincial or city authority, the national authority or the registry borrows (doc/compliance.md).';
        END IF;
        IF u.participant_id IS NOT NULL THEN
            PERFORM carbonmkt._require_authority_over(u.participant_id, 'borrow allowances');
        END IF;
    END IF;
    IF tonnes IS NULL OR tonnes <= 0 THEN
        RAISE EXCEPTION 'quantity must be positive: %', coalesce(carbonmkt.format_quantity('CEA', tonnes), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF a.account_id IS NULL THEN
        RAISE EXCEPTION 'account % does not exist', account_id USING ERRCODE = 'CM001';
    END IF;
    IF a.kind <> 'holding' OR u.kind IS DISTINCT FROM 'key_emitter' THEN
        RAISE EXCEPTION 'account % is not the holding account of a key emitting unit', account_id
            USING ERRCODE = 'CM403', DETAIL = format('It is a %s account of a %s.', a.kind, coalesce(u.kind::text, 'registry'));
    END IF;
    -- a repeated client reference returns the original borrowing
    IF reference IS NOT NULL THEN
        SELECT * INTO old FROM carbonmkt.borrowing b WHERE b.requested_by = session_user AND b.reference = borrow_cea.reference;
        IF FOUND THEN
            IF (old.account_id, old.period, old.tonnes) IS DISTINCT FROM (borrow_cea.account_id, borrow_cea.period, borrow_cea.tonnes) THEN
                RAISE EXCEPTION 'client reference "%" was already used for a different request', reference
                    USING ERRCODE = 'CM007',
                          DETAIL = format('Borrowing %s was %s for period %s into account %s.', old.borrowing_id,
                                          carbonmkt.format_quantity('CEA', old.tonnes), old.period, old.account_id);
            END IF;
            RETURN old.borrowing_id;
        END IF;
    END IF;
    SELECT * INTO per FROM carbonmkt.compliance_period p WHERE p.period = borrow_cea.period FOR SHARE;
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
COMMENT ON FUNCTION carbonmkt.borrow_cea(bigint, bigint, int, text, text) IS
  'Borrowing (预支): moves tonnes of CEA of the vintage after the period from the unit''s provincial allocation account into its holding account, usable for this period''s surrender, and records the same cut of next year''s allocation (allocation_adjustment).  Only for a unit in hardship whose gap is at least the rule''s share of its confirmed emissions, up to the rule''s share of the gap (national: gap >= 10%, <= 50% of the gap); CM410 otherwise.  The unit itself or its authority; idempotent per client reference.';

-- The name and argument order of 0.1.0 (the period before the quantity), for one release.
CREATE FUNCTION carbonmkt.borrow_allowances(account_id bigint, period int, tonnes bigint,
                                            reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    RAISE NOTICE 'carbonmkt.borrow_allowances() is deprecated and goes after 0.2.0: call carbonmkt.borrow_cea(account_id, tonnes, period, reference, memo)';
    RETURN carbonmkt.borrow_cea(account_id, tonnes, period, reference, memo);
END
$$;
COMMENT ON FUNCTION carbonmkt.borrow_allowances(bigint, int, bigint, text, text) IS
  'Deprecated (goes after 0.2.0): carbonmkt.borrow_cea(account_id, tonnes, period, reference, memo), the same with the quantity before the period.';

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
    price   record;
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
        RAISE EXCEPTION 'compliance period % cannot close until its deadline % has passed', period,
                        to_char(per.deadline, 'YYYY-MM-DD')
            USING ERRCODE = 'CM412',
                  DETAIL = format('Today is %s; surrenders are accepted up to and including the deadline day.',
                                  to_char(carbonmkt.business_date(ts), 'YYYY-MM-DD')),
                  HINT = format('The period can close from %s.', to_char(per.deadline + 1, 'YYYY-MM-DD'));
    END IF;
    IF per.fine_basis IS NULL THEN
        RAISE EXCEPTION 'no penalty rule of jurisdiction % applies to period %', per.jurisdiction, period
            USING ERRCODE = 'CM413', HINT = 'Add a row to carbonmkt.penalty_rule first.';
    END IF;
    IF per.fine_basis = 'price_multiple' THEN
        p_to := per.deadline;
        p_from := (per.deadline - make_interval(months => per.price_months))::date + 1;
        price := carbonmkt._average_price(per.jurisdiction, p_from, p_to);
        IF price.average_price_fen IS NULL THEN
            RAISE EXCEPTION 'no CEA price between % and % for the penalties of period %: the market did not trade and no reference price is recorded',
                to_char(p_from, 'YYYY-MM-DD'), to_char(p_to, 'YYYY-MM-DD'), period
                USING ERRCODE = 'CM411',
                      DETAIL = format('The penalty rule of jurisdiction %s sets fines at a multiple of the average price of the %s month(s) before the deadline.',
                                      per.jurisdiction, per.price_months),
                      HINT = 'Record the published price with carbonmkt.record_average_price().';
        END IF;
    ELSE
        SELECT NULL::bigint AS average_price_fen, NULL::text AS price_source, NULL::int AS market_days,
               NULL::int AS reference_days INTO price;
    END IF;

    -- a unit whose obligation still waits for an allocation cannot be frozen
    SELECT count(*) AS n,
           string_agg(x.participant_id::text, ', ' ORDER BY x.participant_id) FILTER (WHERE x.rn <= 20)
             || CASE WHEN count(*) > 20 THEN format(' and %s more', count(*) - 20) ELSE '' END AS who,
           min(x.pending_reason) AS why
      INTO r
      FROM (SELECT f.participant_id, f.pending_reason, row_number() OVER (ORDER BY f.participant_id) AS rn
              FROM carbonmkt._obligation_figures f WHERE f.period = close_period.period AND f.pending_reason IS NOT NULL) x;
    IF r.n > 0 THEN
        RAISE EXCEPTION 'compliance period % cannot close: % unit(s) have an obligation pending on their allocation: %',
            period, r.n, r.who
            USING ERRCODE = 'CM509', DETAIL = format('For example: %s.', r.why),
                  HINT = 'Allocate first (carbonmkt.preallocate, carbonmkt.finalize_allocation).';
    END IF;

    -- freeze every covered unit's figures: the period's figures computed once (MATERIALIZED:
    -- never re-evaluated per obligation row, whatever the row estimates), each unit's
    -- remaining tonnes from its own obligation row (its surrender totals), as obligation_status
    INSERT INTO carbonmkt.obligation AS o (participant_id, period)
    SELECT f.participant_id, f.period FROM carbonmkt._obligation_figures f WHERE f.period = close_period.period
    ON CONFLICT ON CONSTRAINT obligation_pkey DO NOTHING;
    WITH f AS MATERIALIZED (
        SELECT x.participant_id, x.emissions_t, x.emissions_basis, x.allocation_t, x.relief, x.relief_t,
               x.relief_reason, x.obligation_t, x.borrowed_t, x.offset_cap_t
          FROM carbonmkt._obligation_figures x WHERE x.period = close_period.period),
    s AS (
        SELECT f.*, CASE WHEN f.obligation_t IS NOT NULL
                         THEN greatest(f.obligation_t - o.surrendered_cea_t - o.surrendered_ccer_t, 0) END AS remaining_t
          FROM f JOIN carbonmkt.obligation o ON o.participant_id = f.participant_id AND o.period = close_period.period)
    UPDATE carbonmkt.obligation o
       SET emissions_t = s.emissions_t, emissions_basis = s.emissions_basis, allocation_t = s.allocation_t,
           relief = s.relief, relief_t = s.relief_t, relief_reason = s.relief_reason, obligation_t = s.obligation_t,
           borrowed_t = s.borrowed_t, offset_cap_t = s.offset_cap_t, remaining_t = s.remaining_t,
           status = CASE WHEN s.obligation_t IS NULL THEN 'no_emissions'
                         WHEN s.remaining_t = 0 THEN 'compliant' ELSE 'shortfall' END::carbonmkt.compliance_status,
           compliance_code = CASE WHEN s.obligation_t IS NULL THEN 'C' WHEN s.emissions_basis = 'estimated' THEN 'D'
                                  WHEN s.remaining_t = 0 THEN 'A' ELSE 'B' END,
           frozen_at = ts
      FROM s
     WHERE o.period = close_period.period AND o.participant_id = s.participant_id;

    -- sanctions for the shortfalls
    FOR r IN SELECT o.participant_id, o.remaining_t FROM carbonmkt.obligation o
              WHERE o.period = close_period.period AND o.status = 'shortfall' ORDER BY o.participant_id LOOP
        fine := CASE per.fine_basis WHEN 'none' THEN 0
                                    WHEN 'fixed' THEN per.fine_default_fen
                                    ELSE round(per.multiple_default * price.average_price_fen * r.remaining_t)::bigint END;
        cut := ceil(per.cut_multiple * r.remaining_t)::bigint;
        INSERT INTO carbonmkt.sanction AS x (participant_id, period, shortfall_t, fine_basis, price_from, price_to,
                                             average_price_fen, price_source, price_market_days, price_reference_days,
                                             multiple, fine_fen, cut_multiple, cut_t, cut_unless_corrected, cut_year,
                                             legal_basis, imposed_at, imposed_by)
        VALUES (r.participant_id, per.period, r.remaining_t, per.fine_basis, p_from, p_to, price.average_price_fen,
                price.price_source, price.market_days, price.reference_days,
                CASE WHEN per.fine_basis = 'price_multiple' THEN per.multiple_default END, fine,
                per.cut_multiple, cut, per.cut_unless_corrected, per.last_year + 1, per.penalty_source, ts, session_user)
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
  'Closes a compliance period after its deadline: freezes every covered unit''s figures, status and code; for each shortfall (未足额清缴) records a sanction by the period''s penalty_rule (fine: fixed default, or default multiple x the average CEA price of the months before the deadline x shortfall, the price from the market''s trades and, for days it did not trade, reference prices, the source recorded in the sanction; cut of next year''s allocation: cut multiple x shortfall, also in allocation_adjustment); afterwards only late surrenders that correct a sanctioned shortfall are accepted.  Returns the counts.  National authority or registry.';

CREATE FUNCTION carbonmkt.revise_fine(participant_id bigint, period int, multiple numeric DEFAULT NULL,
                                      fine_fen bigint DEFAULT NULL, memo text DEFAULT NULL)
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
           revised_at = carbonmkt.clock_now(), revised_by = session_user, revision_note = revise_fine.memo
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
       x.corrected_t, carbonmkt.business_date(x.corrected_at) AS corrected_on,
       coalesce(aj.in_force_t, 0) AS cut_in_force_t,
       format('%s 未按时足额清缴 %s 履约周期碳排放配额，欠缴 %s 吨；罚款 %s 元；核减 %s 年度配额 %s 吨。',
              p.name, per.name, x.shortfall_t, to_char(x.fine_fen / 100.0, 'FM999,999,999,999,990.00'),
              x.cut_year, coalesce(aj.in_force_t, 0))
       || CASE WHEN x.corrected_t > 0
               THEN format('已于 %s 补缴 %s 吨%s。',
                           to_char(carbonmkt.business_date(coalesce(x.corrected_at, o.last_surrender_at)), 'YYYY-MM-DD'),
                           x.corrected_t, CASE WHEN x.corrected_at IS NOT NULL THEN '，已改正' ELSE '' END)
               ELSE '' END AS record_text
  FROM carbonmkt.sanction x
  LEFT JOIN carbonmkt.obligation o ON o.participant_id = x.participant_id AND o.period = x.period
  LEFT JOIN LATERAL (SELECT sum(a.tonnes - a.withdrawn_t)::bigint AS in_force_t FROM carbonmkt.allocation_adjustment a
                      WHERE a.sanction_id = x.sanction_id) aj ON true
  JOIN carbonmkt.participant p ON p.participant_id = x.participant_id
  JOIN carbonmkt.region r ON r.code = p.province
  JOIN carbonmkt.compliance_period per ON per.period = x.period
  CROSS JOIN carbonmkt.caller_scope() s
 WHERE s.sees_all OR p.province = s.province OR p.city = s.city OR p.participant_id = s.participant_id;
COMMENT ON VIEW carbonmkt.credit_platform_record IS
  'Records of surrender shortfalls for the national credit information sharing platform (全国信用信息共享平台): unit and its unified social credit code, period, shortfall, fine, allocation cut (as decided, and in force after corrections), legal basis, decision date, tonnes surrendered late (补缴) and the date the shortfall was corrected (改正), and a record text in Chinese.';

-- Correction after the close (改正) ------------------------------------------------------
-- Decree 775 and the 2021 Measures order a unit that fell short to correct (责令改正) and
-- cut next year's allocation only for what it does not correct (拒不改正 / 逾期未改正); the
-- fine stands.  A late surrender for a closed period is accepted only as such a correction:
-- CEA, up to the sanctioned shortfall not yet corrected.  The surrender trigger calls this
-- function for a closed period; it returns false when there is nothing to correct.

CREATE FUNCTION carbonmkt._late_surrender(p_participant bigint, p_period int, p_instrument text, p_vintage int,
                                          p_tonnes bigint, p_at timestamptz) RETURNS boolean
LANGUAGE plpgsql AS
$$
DECLARE
    per         carbonmkt._period_rules;
    o           carbonmkt.obligation;
    x           carbonmkt.sanction;
    outstanding bigint;
    left_t      bigint;
    add_borrowed bigint := 0;
    cut_now     bigint;
    ts          timestamptz := coalesce(p_at, carbonmkt.clock_now());
BEGIN
    -- the obligation row, then the sanction: the lock order of every surrender
    SELECT * INTO o FROM carbonmkt.obligation b WHERE b.participant_id = p_participant AND b.period = p_period FOR UPDATE;
    SELECT * INTO x FROM carbonmkt.sanction s WHERE s.participant_id = p_participant AND s.period = p_period FOR UPDATE;
    IF NOT FOUND OR x.corrected_t >= x.shortfall_t THEN
        RETURN false;
    END IF;
    SELECT * INTO per FROM carbonmkt._period_rules r WHERE r.period = p_period;
    outstanding := x.shortfall_t - x.corrected_t;
    IF p_instrument <> 'CEA' THEN
        RAISE EXCEPTION 'CCER is not eligible to correct the shortfall of closed period % (%): a correction surrenders allowances (CEA)',
            p_period, per.name
            USING ERRCODE = 'CM406',
                  DETAIL = format('Participant %s still owes %s for the period; its CCER use was frozen at the close.',
                                  p_participant, carbonmkt.format_quantity('CEA', outstanding));
    END IF;
    IF p_vintage > per.last_year THEN
        left_t := coalesce(o.borrowed_t, 0) - o.cea_borrowed_used_t;
        IF p_vintage <> per.last_year + 1 OR p_tonnes > left_t THEN
            RAISE EXCEPTION 'CEA vintage % is later than compliance period % (%)', p_vintage, p_period, per.name
                USING ERRCODE = 'CM405',
                      DETAIL = format('Allowances of %s or earlier (banked) may correct the shortfall; of %s only what was borrowed and not surrendered: %s.',
                                      per.last_year, per.last_year + 1, carbonmkt.format_quantity('CEA', greatest(left_t, 0)));
        END IF;
        add_borrowed := p_tonnes;
    END IF;
    IF p_tonnes > outstanding THEN
        RAISE EXCEPTION 'surrender of % exceeds the outstanding shortfall of % of closed period % (%)',
            carbonmkt.format_quantity('CEA', p_tonnes), carbonmkt.format_quantity('CEA', outstanding), p_period, per.name
            USING ERRCODE = 'CM409',
                  DETAIL = format('Participant %s: shortfall %s at the close, corrected since %s.', p_participant,
                                  carbonmkt.format_quantity('CEA', x.shortfall_t), carbonmkt.format_quantity('CEA', x.corrected_t)),
                  HINT = 'After the close a unit surrenders only what it still owes (改正).';
    END IF;
    UPDATE carbonmkt.obligation b
       SET surrendered_cea_t = b.surrendered_cea_t + p_tonnes, cea_borrowed_used_t = b.cea_borrowed_used_t + add_borrowed,
           remaining_t = b.remaining_t - p_tonnes, last_surrender_at = ts
     WHERE b.participant_id = p_participant AND b.period = p_period;
    INSERT INTO carbonmkt.surrender_detail AS d (participant_id, period, instrument, vintage, project, tonnes)
    VALUES (p_participant, p_period, 'CEA', p_vintage, '', p_tonnes)
    ON CONFLICT ON CONSTRAINT surrender_detail_pkey DO UPDATE SET tonnes = d.tonnes + excluded.tonnes;
    UPDATE carbonmkt.sanction s
       SET corrected_t = s.corrected_t + p_tonnes,
           corrected_at = CASE WHEN s.corrected_t + p_tonnes = s.shortfall_t THEN ts END
     WHERE s.sanction_id = x.sanction_id;
    -- the cut applies to what is not corrected: withdraw the rest
    IF x.cut_unless_corrected THEN
        cut_now := ceil(x.cut_multiple * (outstanding - p_tonnes))::bigint;
        UPDATE carbonmkt.allocation_adjustment a
           SET withdrawn_t = a.tonnes - cut_now, withdrawn_at = ts, withdrawn_by = session_user
         WHERE a.sanction_id = x.sanction_id AND a.tonnes - a.withdrawn_t > cut_now;
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION carbonmkt._late_surrender(bigint, int, text, int, bigint, timestamptz) IS
  'Internal, called by the surrender trigger for a closed period: accepts a late surrender as the correction (改正) of a sanctioned shortfall (CEA only; a vintage later than the period only up to the borrowing not used; at most the shortfall not yet corrected: CM406, CM405, CM409), adds it to the obligation''s totals and the sanction''s corrected_t, and where the penalty rule cuts only what is not corrected, withdraws that part of the allocation cut (allocation_adjustment.withdrawn_t).  The fine stands.  Returns false when the unit has no shortfall left to correct.';

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
REVOKE ALL ON carbonmkt._allocation_source, carbonmkt._period_rules, carbonmkt._obligation_figures FROM PUBLIC;
REVOKE ALL ON FUNCTION carbonmkt._average_price_fen(date, date, text), carbonmkt._average_price(text, date, date),
                       carbonmkt._daily_prices(text, date, date), carbonmkt._allocated_tonnes(bigint, int),
                       carbonmkt._late_surrender(bigint, int, text, int, bigint, timestamptz),
                       carbonmkt._require_authority_over(bigint, text), carbonmkt._require_national(text),
                       carbonmkt._check_borrowing(bigint, int, bigint), carbonmkt.compliance_surrender(),
                       carbonmkt.open_period(int, text, int, int, date, text),
                       carbonmkt.register_ccer_project(text, text, text, char, bigint, text),
                       carbonmkt.set_gas_fired(bigint, boolean), carbonmkt.flag_hardship(bigint, int, text),
                       carbonmkt.record_average_price(date, numeric, text, bigint),
                       carbonmkt.record_reference_price(date, bigint, text, bigint),
                       carbonmkt.borrow_cea(bigint, bigint, int, text, text),
                       carbonmkt.borrow_allowances(bigint, int, bigint, text, text),
                       carbonmkt.close_period(int), carbonmkt.revise_fine(bigint, int, numeric, bigint, text)
   FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    carbonmkt.open_period(int, text, int, int, date, text),
    carbonmkt.register_ccer_project(text, text, text, char, bigint, text),
    carbonmkt.set_gas_fired(bigint, boolean),
    carbonmkt.flag_hardship(bigint, int, text),
    carbonmkt.close_period(int),
    carbonmkt.revise_fine(bigint, int, numeric, bigint, text)
   TO carbonmkt_registry, carbonmkt_authority;
GRANT EXECUTE ON FUNCTION carbonmkt.record_average_price(date, numeric, text, bigint),
                          carbonmkt.record_reference_price(date, bigint, text, bigint)
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange;
GRANT EXECUTE ON FUNCTION carbonmkt.borrow_cea(bigint, bigint, int, text, text),
                          carbonmkt.borrow_allowances(bigint, int, bigint, text, text)
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant;
