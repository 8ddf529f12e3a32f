
-------------------------------------------------------------------------------
-- mrv (监测、报告与核查): monitoring plans, monthly deposits of key parameters,
-- annual emission reports with GWP conversion, verification, appeals,
-- estimation (Art. 40), the national-provincial-city tiered review (三级联审)
-- enforced by a C trigger, confirmation and national re-opening.
-- C: src/mrv.c.  Documentation: doc/mrv.md.  Rules: RULES.md section 4.
--
-- Contract with the allocation and compliance rooms: confirmed emissions (经确认排放量) are
-- read from carbonmkt.confirmed_emission only.  One row per key emitting unit and year, written
-- by the MRV room's confirmation (and removed only by a recorded national re-opening).
-------------------------------------------------------------------------------

CREATE TABLE carbonmkt.confirmed_emission (
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    year            int NOT NULL CHECK (year BETWEEN 2005 AND 2100),
    emissions_t     bigint NOT NULL CHECK (emissions_t >= 0),   -- tCO2e, whole tonnes
    basis           text NOT NULL CHECK (basis IN ('verified', 'estimated')),
    report_id       bigint,
    confirmed_by    bigint REFERENCES carbonmkt.participant,
    confirmed_at    timestamptz NOT NULL,
    PRIMARY KEY (participant_id, year)
);
COMMENT ON TABLE carbonmkt.confirmed_emission IS
  'Confirmed emissions (经确认排放量) per key emitting unit and year, tCO2e: the basis of allocation and of the compliance obligation.';

-- Rule tables (规则表) ---------------------------------------------------------------
-- Every number of the MRV rules is a row here, keyed by jurisdiction ('CN' for the
-- national default, or a province code PP0000) and the first reporting year it applies
-- to.  The C code reads them through saved SPI plans (src/mrv.c); nothing is hard-coded.

CREATE TABLE carbonmkt.mrv_gas (
    gas         text PRIMARY KEY CHECK (gas ~ '^[A-Z0-9]+$'),
    name        text NOT NULL,
    name_zh     text NOT NULL
);
COMMENT ON TABLE carbonmkt.mrv_gas IS
  'Greenhouse gases an emission report may contain (RULES.md 2: CO2, plus CF4 and C2F6 for aluminium).';
INSERT INTO carbonmkt.mrv_gas VALUES
  ('CO2', 'Carbon dioxide', '二氧化碳'),
  ('CF4', 'Tetrafluoromethane (perfluoromethane)', '四氟化碳'),
  ('C2F6', 'Hexafluoroethane (perfluoroethane)', '六氟化二碳');

CREATE TABLE carbonmkt.mrv_gwp_set (
    gwp_set     text PRIMARY KEY,
    description text NOT NULL,
    source      text NOT NULL
);
COMMENT ON TABLE carbonmkt.mrv_gwp_set IS
  'Sets of global warming potentials (全球变暖潜势, GWP); carbonmkt.mrv_rule names the set a jurisdiction and year uses.';
INSERT INTO carbonmkt.mrv_gwp_set VALUES
  ('AR5', '100-year GWP of the IPCC Fifth Assessment Report',
   '[public] IPCC AR5 WG1 (2013), chapter 8, table 8.A.1: CO2 1, CF4 6630, C2F6 11100'),
  ('AR4', '100-year GWP of the IPCC Fourth Assessment Report',
   '[public] IPCC AR4 WG1 (2007), chapter 2, table 2.14: CO2 1, CF4 7390, C2F6 12200');

CREATE TABLE carbonmkt.mrv_gwp (
    gwp_set     text NOT NULL REFERENCES carbonmkt.mrv_gwp_set,
    gas         text NOT NULL REFERENCES carbonmkt.mrv_gas,
    gwp         numeric NOT NULL CHECK (gwp > 0),
    source      text NOT NULL,      -- the document it implements (doc/rules.md)
    PRIMARY KEY (gwp_set, gas)
);
COMMENT ON TABLE carbonmkt.mrv_gwp IS
  'Global warming potential of each gas in each GWP set: tonnes of CO2-equivalent per tonne of the gas.';
INSERT INTO carbonmkt.mrv_gwp
SELECT g, gas, gwp, CASE g WHEN 'AR5' THEN '[public] IPCC AR5 WG1 (2013), chapter 8, table 8.A.1 (100-year GWP)'
                          ELSE '[public] IPCC AR4 WG1 (2007), chapter 2, table 2.14 (100-year GWP)' END
  FROM (VALUES ('AR5', 'CO2', 1), ('AR5', 'CF4', 6630), ('AR5', 'C2F6', 11100),
               ('AR4', 'CO2', 1), ('AR4', 'CF4', 7390), ('AR4', 'C2F6', 12200)) v(g, gas, gwp);

CREATE TABLE carbonmkt.mrv_sector_gas (
    sector      text NOT NULL REFERENCES carbonmkt.sector,
    gas         text NOT NULL REFERENCES carbonmkt.mrv_gas,
    from_year   int NOT NULL CHECK (from_year BETWEEN 2005 AND 2100),
    source      text NOT NULL,      -- the document it implements (doc/rules.md)
    PRIMARY KEY (sector, gas)
);
COMMENT ON TABLE carbonmkt.mrv_sector_gas IS
  'Which gases a sector reports, from which reporting year: CO2 for every sector (annual reporting since 2013), CF4 and C2F6 for aluminium from 2024 (S0).';
INSERT INTO carbonmkt.mrv_sector_gas
SELECT code, 'CO2', 2013,
       'S1 L4129-4131 [public: the sector accounting and reporting guidelines 发改办气候〔2013〕2526号, 〔2014〕2920号, 〔2015〕1722号]: CO2 reported from the 2013 data; S0 L127-131: the controlled gas of power, cement and steel is CO2'
  FROM carbonmkt.sector;
INSERT INTO carbonmkt.mrv_sector_gas VALUES
  ('aluminium', 'CF4', 2024, 'S0 L129-131: the controlled gases of aluminium smelting are CO2, CF4 and C2F6, from its coverage (2024, S0)'),
  ('aluminium', 'C2F6', 2024, 'S0 L129-131: the controlled gases of aluminium smelting are CO2, CF4 and C2F6, from its coverage (2024, S0)');

CREATE TABLE carbonmkt.mrv_sector_parameter (
    sector      text NOT NULL REFERENCES carbonmkt.sector,
    parameter   text NOT NULL CHECK (parameter ~ '^[a-z][a-z0-9_]*$'),
    uom         text NOT NULL,          -- unit of measure
    name_zh     text NOT NULL,
    counts_to_emissions boolean NOT NULL DEFAULT false,
    from_year   int NOT NULL DEFAULT 2013 CHECK (from_year BETWEEN 2005 AND 2100),
    until_year  int CHECK (until_year >= from_year),
    source      text NOT NULL,      -- the document it implements (doc/rules.md)
    PRIMARY KEY (sector, parameter)
);
CREATE UNIQUE INDEX mrv_sector_parameter_one_emissions ON carbonmkt.mrv_sector_parameter (sector)
  WHERE counts_to_emissions;
COMMENT ON TABLE carbonmkt.mrv_sector_parameter IS
  'Key parameters each sector deposits every month (关键参数月度存证), valid for reporting years from_year..until_year.  The one parameter with counts_to_emissions is the month''s emissions in tCO2e; the sum of its twelve monthly values is compared with the annual report.';
INSERT INTO carbonmkt.mrv_sector_parameter (sector, parameter, uom, name_zh, counts_to_emissions, source)
SELECT sector, parameter, uom, name_zh, counts_to_emissions,
       'S0 L170-174: key parameters deposited monthly (关键参数月度存证), after the power sector''s practice, anomalies screened; S0 L176-177: fossil fuel consumption a key parameter; RULES.md 4: fuel consumption, carbon content, output; the month''s emissions for the annual check'
  FROM (VALUES
  ('power', 'fuel_consumption', 't', '燃料消耗量', false),
  ('power', 'carbon_content', 'tC/GJ', '单位热值含碳量', false),
  ('power', 'power_supplied', 'MWh', '供电量', false),
  ('power', 'emissions', 'tCO2e', '月度排放量', true),
  ('cement', 'fuel_consumption', 't', '燃料消耗量', false),
  ('cement', 'clinker_output', 't', '熟料产量', false),
  ('cement', 'emissions', 'tCO2e', '月度排放量', true),
  ('steel', 'fuel_consumption', 't', '燃料消耗量', false),
  ('steel', 'crude_steel_output', 't', '粗钢产量', false),
  ('steel', 'emissions', 'tCO2e', '月度排放量', true),
  ('aluminium', 'power_consumed', 'MWh', '电解用电量', false),
  ('aluminium', 'aluminium_output', 't', '原铝产量', false),
  ('aluminium', 'emissions', 'tCO2e', '月度排放量', true),
  ('petrochemical', 'fuel_consumption', 't', '燃料消耗量', false),
  ('petrochemical', 'emissions', 'tCO2e', '月度排放量', true),
  ('chemical', 'fuel_consumption', 't', '燃料消耗量', false),
  ('chemical', 'emissions', 'tCO2e', '月度排放量', true),
  ('paper', 'fuel_consumption', 't', '燃料消耗量', false),
  ('paper', 'emissions', 'tCO2e', '月度排放量', true),
  ('aviation', 'fuel_consumption', 't', '燃料消耗量', false),
  ('aviation', 'emissions', 'tCO2e', '月度排放量', true)) v(sector, parameter, uom, name_zh, counts_to_emissions);

CREATE TABLE carbonmkt.mrv_rule (
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    from_year       int NOT NULL CHECK (from_year BETWEEN 2005 AND 2100),
    -- the numbers the sources do not give are NULL until an authority sets them (refused until then)
    review_sample_share     numeric(7,6) CHECK (review_sample_share BETWEEN 0 AND 1),
    deviation_threshold     numeric(7,6) CHECK (deviation_threshold >= 0),
    deposit_due_days        int CHECK (deposit_due_days BETWEEN 0 AND 366),
    deposit_missing_tolerance int CHECK (deposit_missing_tolerance BETWEEN 0 AND 12),
    deposit_late_tolerance  int CHECK (deposit_late_tolerance BETWEEN 0 AND 12),
    anomaly_threshold       numeric(7,4) CHECK (anomaly_threshold > 0),
    report_due_month        int NOT NULL CHECK (report_due_month BETWEEN 1 AND 12),
    report_due_day          int NOT NULL CHECK (report_due_day BETWEEN 1 AND 31),
    gwp_set         text NOT NULL REFERENCES carbonmkt.mrv_gwp_set,
    source          text NOT NULL,
    until_year      int,            -- last reporting year the rule applies to; NULL: until replaced
    PRIMARY KEY (jurisdiction, from_year),
    CONSTRAINT mrv_rule_period_check CHECK (until_year >= from_year AND until_year <= 2100),
    CHECK (report_due_day <= extract(day FROM (make_date(2001, report_due_month, 1) + interval '1 month - 1 day')))
);
COMMENT ON TABLE carbonmkt.mrv_rule IS
  'MRV rule numbers per jurisdiction (''CN'' national default or a province code) from a reporting year on: re-review sample share (Art. 29(3) 一定比例), deviation threshold between the annual figure and the sum of monthly deposits, deposit deadline (days after the month), tolerated missing and late months, deposit anomaly threshold, report deadline, GWP set; a number the sources do not give is NULL until an authority sets it (carbonmkt.amend_rule), and what needs it is refused until then (doc/rules.md).  The rule for a province and year is its own row with the latest from_year <= year, else the national one (carbonmkt.mrv_rule_for).';
COMMENT ON COLUMN carbonmkt.mrv_rule.review_sample_share IS
  'Share of units drawn for national re-review (复查) by the deterministic sample: drawn when carbonmkt.mrv_sample_draw(seed, unit) < share.';
COMMENT ON COLUMN carbonmkt.mrv_rule.deviation_threshold IS
  'National review when |annual - sum of monthly emissions deposits| / annual exceeds this ratio.';
COMMENT ON COLUMN carbonmkt.mrv_rule.deposit_due_days IS
  'A month''s deposit is due this many days after the last day of the month; later is late.';
COMMENT ON COLUMN carbonmkt.mrv_rule.deposit_missing_tolerance IS
  'National review when more months than this lack a deposit of some required parameter after their due date.';
COMMENT ON COLUMN carbonmkt.mrv_rule.deposit_late_tolerance IS
  'National review when more months than this were first deposited late.';
COMMENT ON COLUMN carbonmkt.mrv_rule.anomaly_threshold IS
  'A monthly value is an anomaly (data-quality view) when it deviates from the mean of the same parameter''s other months by more than this ratio.';
-- The national rule: the report deadline of the sources and the GWP set.  The sources give no
-- re-review sample share (Art. 29(3) says only "一定比例"), deviation threshold, deposit
-- deadline, tolerated missing or late months or anomaly threshold: NULL, set by the national
-- authority (or a province for its own rule) with carbonmkt.amend_rule('mrv_rule', ...).
INSERT INTO carbonmkt.mrv_rule VALUES
  ('CN', 2019, NULL, NULL, NULL, NULL, NULL, NULL, 3, 31, 'AR5',
   'RULES.md 4 [S1 L4261, L4344]: the annual report of a year is due 31 March of the following year; GWP set AR5 [public: IPCC AR5 WG1 table 8.A.1] for the gases of S0 (CO2; CF4 and C2F6 of aluminium); the sources give no sample share (Art. 29(3) "一定比例"), deviation threshold, deposit deadline, tolerances or anomaly threshold (NULL)');

CREATE FUNCTION carbonmkt.mrv_rule_for(province char(6), year int) RETURNS carbonmkt.mrv_rule
LANGUAGE plpgsql STABLE PARALLEL SAFE AS
$$
DECLARE
    r   carbonmkt.mrv_rule;
BEGIN
    IF province IS NOT NULL THEN
        PERFORM carbonmkt.check_jurisdiction(province::text);      -- an unknown code: CM501, never no rule
    END IF;
    SELECT x.* INTO r FROM carbonmkt.mrv_rule x
     WHERE x.jurisdiction IN (province::text, 'CN') AND x.from_year <= year AND (x.until_year IS NULL OR x.until_year >= year)
     ORDER BY x.jurisdiction = 'CN', x.from_year DESC LIMIT 1;
    RETURN r;
END
$$;
COMMENT ON FUNCTION carbonmkt.mrv_rule_for(char, int) IS
  'The MRV rule row in force for a province and reporting year: the province''s own row with the latest from_year <= year, else the national (''CN'') one; all NULL when there is none.  An unknown province code is CM501.';

CREATE FUNCTION carbonmkt.mrv_deposit_due(year int, month int, due_days int) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
$$ SELECT CASE WHEN month NOT BETWEEN 1 AND 12 OR year NOT BETWEEN 1 AND 9999 OR due_days NOT BETWEEN -36600 AND 36600
              THEN carbonmkt._refuse(NULL::date, 'CM902',
                       format('mrv_deposit_due: no deposit due date for month %s of year %s plus %s days', month, year, due_days),
                       'A month is 1..12 of a year 1..9999; due_days lies within a century either way.')
              ELSE ((make_date(year, month, 1) + interval '1 month')::date - 1) + due_days END $$;
COMMENT ON FUNCTION carbonmkt.mrv_deposit_due(int, int, int) IS
  'Deadline of a month''s deposit: the last day of the month plus due_days (carbonmkt.mrv_rule.deposit_due_days).';

-- The deterministic re-review sample (抽查复查) ------------------------------------------

CREATE TABLE carbonmkt.mrv_sample_seed (
    year        int PRIMARY KEY CHECK (year BETWEEN 2005 AND 2100),
    seed        text NOT NULL CHECK (btrim(seed) <> ''),
    recorded_by bigint NOT NULL REFERENCES carbonmkt.participant,
    recorded_at timestamptz NOT NULL
);
COMMENT ON TABLE carbonmkt.mrv_sample_seed IS
  'The seed of each reporting year''s random re-review sample, recorded once by the national authority before review starts; the draw of every unit follows from it (carbonmkt.mrv_sample_draw), so anyone can replay the sample.';

CREATE FUNCTION carbonmkt.mrv_sample_draw(seed text, participant_id bigint) RETURNS numeric
	AS 'MODULE_PATHNAME', 'mrv_sample_draw'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.mrv_sample_draw(text, bigint) IS
  'A unit''s draw in [0, 1) for the re-review sample: the first 8 bytes of SHA-256(UTF-8 of seed || '':'' || participant_id) as an unsigned big-endian integer, modulo 1,000,000, divided by 1,000,000 (six decimals).  The unit is in the sample when the draw < mrv_rule.review_sample_share.';

-- Monitoring plans (监测计划) ----------------------------------------------------------

CREATE TYPE carbonmkt.mrv_plan_status AS ENUM ('filed', 'approved', 'rejected', 'superseded');
COMMENT ON TYPE carbonmkt.mrv_plan_status IS
  'filed: waiting for the province; approved: in force (one per unit); rejected; superseded: replaced by a later version.';

CREATE TABLE carbonmkt.mrv_plan (
    plan_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    version         int NOT NULL CHECK (version >= 1),
    from_year       int NOT NULL CHECK (from_year BETWEEN 2005 AND 2100),
    content         jsonb NOT NULL,
    status          carbonmkt.mrv_plan_status NOT NULL DEFAULT 'filed',
    filed_by        bigint NOT NULL REFERENCES carbonmkt.participant,
    filed_at        timestamptz NOT NULL,
    decided_by      bigint REFERENCES carbonmkt.participant,
    decided_at      timestamptz,
    decision_note   text,
    UNIQUE (participant_id, version),
    CHECK ((status = 'filed') = (decided_at IS NULL) OR status = 'superseded')
);
CREATE UNIQUE INDEX mrv_plan_in_force ON carbonmkt.mrv_plan (participant_id) WHERE status = 'approved';
COMMENT ON TABLE carbonmkt.mrv_plan IS
  'Monitoring plans (排放监测计划, Art. 25) per unit, versioned: filed by the unit, approved (备案) by its provincial authority; a change is a new version that needs approval again.  The approved version is in force; deposits and reports need it.';

-- Monthly deposits of key parameters (关键参数月度存证) ------------------------------

CREATE TABLE carbonmkt.mrv_deposit (
    deposit_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    year            int NOT NULL CHECK (year BETWEEN 2005 AND 2100),
    month           int NOT NULL CHECK (month BETWEEN 1 AND 12),
    parameter       text NOT NULL,
    version         int NOT NULL CHECK (version >= 1),
    value           numeric NOT NULL CHECK (value >= 0),
    plan_id         bigint NOT NULL REFERENCES carbonmkt.mrv_plan,
    due_date        date NOT NULL,
    late            boolean NOT NULL,
    deposited_by    bigint NOT NULL REFERENCES carbonmkt.participant,
    deposited_at    timestamptz NOT NULL,
    note            text,
    UNIQUE (participant_id, year, month, parameter, version)
);
COMMENT ON TABLE carbonmkt.mrv_deposit IS
  'Monthly deposits of key parameters (关键参数月度存证), append-only: a correction is version n+1 and keeps version n.  due_date and late are fixed when the row is made (carbonmkt.mrv_rule.deposit_due_days).';

-- The deposits summarised (for the MRV views), kept in step by a trigger on every change of
-- carbonmkt.mrv_deposit (append-only: INSERT and TRUNCATE): each new deposit is added to its
-- unit's month and, when it is the value in force of its month, to its parameter's year;
-- TRUNCATE empties them.  Not triggered in a restore (session_replication_role = replica):
-- pg_dump keeps these rows with the deposits.
CREATE TABLE carbonmkt._mrv_deposit_months (
    participant_id  bigint NOT NULL,
    year            int NOT NULL,
    deposited       int[] NOT NULL,
    late            boolean[] NOT NULL,
    corrected       boolean[] NOT NULL,
    PRIMARY KEY (participant_id, year),
    CHECK (array_dims(deposited) = '[1:12]' AND array_dims(late) = '[1:12]' AND array_dims(corrected) = '[1:12]')
);
COMMENT ON TABLE carbonmkt._mrv_deposit_months IS
  'Internal: the monthly deposits (carbonmkt.mrv_deposit) summarised per unit and year with at least one deposit, element m of each array for month m (0 and false for a month without deposits); kept by the trigger mrv_deposit_summary, read by mrv_deposit_status and mrv_data_quality instead of every deposit.';
COMMENT ON COLUMN carbonmkt._mrv_deposit_months.deposited IS 'Per month: parameters deposited (their first versions).';
COMMENT ON COLUMN carbonmkt._mrv_deposit_months.late IS 'Per month: some parameter''s first version came after the due date.';
COMMENT ON COLUMN carbonmkt._mrv_deposit_months.corrected IS 'Per month: some parameter has more than one version.';

CREATE TABLE carbonmkt._mrv_deposit_parameter_year (
    participant_id  bigint NOT NULL,
    year            int NOT NULL,
    parameter       text NOT NULL,
    months          int NOT NULL,
    total           numeric NOT NULL,
    min_value       numeric NOT NULL,
    max_value       numeric NOT NULL,
    PRIMARY KEY (participant_id, year, parameter)
);
COMMENT ON TABLE carbonmkt._mrv_deposit_parameter_year IS
  'Internal: the values in force (latest version of each month) of a unit''s parameter in a year, summarised from carbonmkt.mrv_deposit by the trigger mrv_deposit_summary: months with a value, their total, the smallest and the largest; read by mrv_deposit_anomaly to find the parameters with an anomaly without reading every deposit.';
COMMENT ON COLUMN carbonmkt._mrv_deposit_parameter_year.months IS 'Months with a value.';
COMMENT ON COLUMN carbonmkt._mrv_deposit_parameter_year.total IS 'Sum of the values in force.';
COMMENT ON COLUMN carbonmkt._mrv_deposit_parameter_year.min_value IS 'Smallest value in force.';
COMMENT ON COLUMN carbonmkt._mrv_deposit_parameter_year.max_value IS 'Largest value in force.';

CREATE FUNCTION carbonmkt._mrv_deposit_summary() RETURNS trigger
LANGUAGE plpgsql AS
$$
DECLARE
    prev    record;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE carbonmkt._mrv_deposit_months, carbonmkt._mrv_deposit_parameter_year;
        RETURN NULL;
    END IF;
    -- one writer of a unit's deposits at a time, as deposit_parameters (which holds this lock
    -- already): what is read below is what the writers before committed
    PERFORM 1 FROM carbonmkt.participant p WHERE p.participant_id = NEW.participant_id FOR NO KEY UPDATE;
    -- the month: one more parameter deposited (a first version, late or not), or a correction
    INSERT INTO carbonmkt._mrv_deposit_months AS s (participant_id, year, deposited, late, corrected)
    VALUES (NEW.participant_id, NEW.year,
            array_fill(0, ARRAY[NEW.month - 1]) || (NEW.version = 1)::int || array_fill(0, ARRAY[12 - NEW.month]),
            array_fill(false, ARRAY[NEW.month - 1]) || (NEW.version = 1 AND NEW.late) || array_fill(false, ARRAY[12 - NEW.month]),
            array_fill(false, ARRAY[NEW.month - 1]) || (NEW.version > 1) || array_fill(false, ARRAY[12 - NEW.month]))
        ON CONFLICT (participant_id, year) DO UPDATE
       SET deposited[NEW.month] = s.deposited[NEW.month] + (NEW.version = 1)::int,
           late[NEW.month] = s.late[NEW.month] OR (NEW.version = 1 AND NEW.late),
           corrected[NEW.month] = s.corrected[NEW.month] OR NEW.version > 1;
    -- the parameter's value in force for the month: the new row unless a later version exists
    SELECT d.version, d.value INTO prev
      FROM carbonmkt.mrv_deposit d
     WHERE d.participant_id = NEW.participant_id AND d.year = NEW.year AND d.month = NEW.month
       AND d.parameter = NEW.parameter AND d.version <> NEW.version
     ORDER BY d.version DESC
     LIMIT 1;
    IF NOT FOUND THEN
        INSERT INTO carbonmkt._mrv_deposit_parameter_year AS s (participant_id, year, parameter, months, total, min_value, max_value)
        VALUES (NEW.participant_id, NEW.year, NEW.parameter, 1, NEW.value, NEW.value, NEW.value)
            ON CONFLICT (participant_id, year, parameter) DO UPDATE
           SET months = s.months + 1, total = s.total + NEW.value,
               min_value = least(s.min_value, NEW.value), max_value = greatest(s.max_value, NEW.value);
    ELSIF prev.version < NEW.version THEN
        -- prev.value is replaced by NEW.value; an extreme that was prev's is found again
        UPDATE carbonmkt._mrv_deposit_parameter_year s
           SET total = s.total - prev.value + NEW.value,
               min_value = CASE WHEN prev.value > s.min_value OR NEW.value <= s.min_value THEN least(s.min_value, NEW.value)
                                ELSE (SELECT min(v.value) FROM (SELECT DISTINCT ON (d.month) d.value FROM carbonmkt.mrv_deposit d
                                                                 WHERE d.participant_id = NEW.participant_id AND d.year = NEW.year
                                                                   AND d.parameter = NEW.parameter
                                                                 ORDER BY d.month, d.version DESC) v) END,
               max_value = CASE WHEN prev.value < s.max_value OR NEW.value >= s.max_value THEN greatest(s.max_value, NEW.value)
                                ELSE (SELECT max(v.value) FROM (SELECT DISTINCT ON (d.month) d.value FROM carbonmkt.mrv_deposit d
                                                                 WHERE d.participant_id = NEW.participant_id AND d.year = NEW.year
                                                                   AND d.parameter = NEW.parameter
                                                                 ORDER BY d.month, d.version DESC) v) END
         WHERE s.participant_id = NEW.participant_id AND s.year = NEW.year AND s.parameter = NEW.parameter;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION carbonmkt._mrv_deposit_summary() IS
  'Internal: AFTER INSERT (per row) and AFTER TRUNCATE trigger of carbonmkt.mrv_deposit: locks the unit (as deposit_parameters does), adds the new deposit to its month in _mrv_deposit_months (a parameter deposited, late, corrected) and, when it is the value in force of its month, to _mrv_deposit_parameter_year (months, total, smallest and largest value; the extremes read again from the deposits when the value they came from is replaced); empties both on TRUNCATE.';
CREATE TRIGGER mrv_deposit_summary AFTER INSERT ON carbonmkt.mrv_deposit
    FOR EACH ROW EXECUTE FUNCTION carbonmkt._mrv_deposit_summary();
CREATE TRIGGER mrv_deposit_summary_truncate AFTER TRUNCATE ON carbonmkt.mrv_deposit
    FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt._mrv_deposit_summary();

-- Annual emission reports (温室气体排放报告) ------------------------------------------

CREATE TYPE carbonmkt.mrv_tier AS ENUM ('city', 'province', 'national');
COMMENT ON TYPE carbonmkt.mrv_tier IS
  'Review tiers of the national-provincial-city joint review (国家—省—市三级联审), in review order: city 设区市, province 省级, national 国家.';

CREATE TYPE carbonmkt.mrv_report_status AS ENUM (
    'submitted',   -- waiting for verification (or, for an estimate, for the appointed verifier)
    'appealed',    -- the unit appealed the verification result; review paused
    'in_review',   -- verified; waiting for the review of pending_tier
    'returned',    -- rejected at a tier; back with the unit with the reason
    'approved',    -- every required tier approved; waiting for confirmation
    'confirmed'    -- emissions confirmed (carbonmkt.confirmed_emission)
);
COMMENT ON TYPE carbonmkt.mrv_report_status IS 'States of an annual emission report (doc/mrv.md, state diagram).';

CREATE TYPE carbonmkt.mrv_findings AS ENUM ('clean', 'problems');
COMMENT ON TYPE carbonmkt.mrv_findings IS 'Verification findings (核查结论): clean, or problems (存在问题: national review required, Art. 29(2)).';

CREATE TABLE carbonmkt.mrv_report (
    report_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    year            int NOT NULL CHECK (year BETWEEN 2005 AND 2100),
    estimated       boolean NOT NULL DEFAULT false,    -- Art. 40: estimated by an appointed verifier
    compiled_by     bigint REFERENCES carbonmkt.participant,   -- the unit or a service firm
    estimator_id    bigint REFERENCES carbonmkt.participant,   -- the verifier the province appointed
    gwp_set         text NOT NULL REFERENCES carbonmkt.mrv_gwp_set,
    emissions_t     bigint CHECK (emissions_t >= 0),   -- reported total, tCO2e
    data_version    int NOT NULL DEFAULT 1 CHECK (data_version >= 1),
    status          carbonmkt.mrv_report_status NOT NULL DEFAULT 'submitted',
    pending_tier    carbonmkt.mrv_tier,
    verifier_id     bigint REFERENCES carbonmkt.participant,
    verified_t      bigint CHECK (verified_t >= 0),    -- verified (or estimated) total, tCO2e
    findings        carbonmkt.mrv_findings,
    national_reasons text[] NOT NULL DEFAULT '{}',
    assessment      jsonb,
    return_reason   text,
    due_date        date NOT NULL,
    submitted_at    timestamptz NOT NULL,
    late            boolean NOT NULL DEFAULT false,
    state_since     timestamptz NOT NULL,
    UNIQUE (participant_id, year),
    CHECK ((status = 'in_review') = (pending_tier IS NOT NULL)),
    CHECK (estimated = (estimator_id IS NOT NULL)),
    CHECK (estimated OR compiled_by IS NOT NULL)
);
ALTER TABLE carbonmkt.mrv_report SET (fillfactor = 80);   -- room for HOT updates as a report moves on
COMMENT ON TABLE carbonmkt.mrv_report IS
  'Annual emission reports (年度排放报告) per unit and year, and their place in the workflow.  data_version grows with every change of the data under review (correction, verification, appeal outcome, re-opening); approvals count only for the current version.  national_reasons: why national review is required (named, verification_problems, random_sample, deviation, deposits_missing, deposits_late, reopened), with the numbers in assessment.';

CREATE TABLE carbonmkt.mrv_report_gas (
    report_id       bigint NOT NULL REFERENCES carbonmkt.mrv_report,
    data_version    int NOT NULL,
    gas             text NOT NULL REFERENCES carbonmkt.mrv_gas,
    quantity_t      numeric(20,3) NOT NULL CHECK (quantity_t >= 0),    -- tonnes of the gas
    gwp             numeric NOT NULL,
    co2e_t          numeric NOT NULL,
    PRIMARY KEY (report_id, data_version, gas)
);
COMMENT ON TABLE carbonmkt.mrv_report_gas IS
  'Emissions per gas of each data version of a report, in tonnes of the gas (to the kilogram), with the GWP applied and the CO2-equivalent.  Append-only.';

CREATE TABLE carbonmkt.mrv_verification (
    verification_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id       bigint NOT NULL REFERENCES carbonmkt.mrv_report,
    data_version    int NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('verification', 'estimate')),
    verifier_id     bigint NOT NULL REFERENCES carbonmkt.participant,
    verified_t      bigint NOT NULL CHECK (verified_t >= 0),
    findings        carbonmkt.mrv_findings,
    note            text,
    verified_at     timestamptz NOT NULL DEFAULT carbonmkt.clock_now(),
    CHECK ((kind = 'verification') = (findings IS NOT NULL))
);
CREATE INDEX mrv_verification_report ON carbonmkt.mrv_verification (report_id);
COMMENT ON TABLE carbonmkt.mrv_verification IS
  'Verifications (核查) by a technical service firm and estimates (Art. 40 测算) by the verifier the province appointed, each creating a data version of the report.  Append-only; a C trigger refuses conflicts of interest (Decree 775).';

CREATE TABLE carbonmkt.mrv_review (
    review_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id       bigint NOT NULL REFERENCES carbonmkt.mrv_report,
    data_version    int NOT NULL,
    tier            carbonmkt.mrv_tier NOT NULL,
    reviewer_id     bigint NOT NULL REFERENCES carbonmkt.participant,
    decision        text NOT NULL CHECK (decision IN ('approve', 'reject')),
    reason          text,
    reviewed_at     timestamptz NOT NULL DEFAULT carbonmkt.clock_now(),
    reviewer_login  name,           -- the real login (session_user), also when acting_for another party
    CHECK (decision = 'approve' OR btrim(coalesce(reason, '')) <> '')
);
CREATE UNIQUE INDEX mrv_review_one_approval ON carbonmkt.mrv_review (report_id, data_version, tier)
  WHERE decision = 'approve';
COMMENT ON TABLE carbonmkt.mrv_review IS
  'Tier reviews (三级联审): one row per approval or rejection of a data version of a report.  The C trigger carbonmkt.mrv_review_guard() enforces the tier order, the reviewer''s tier and jurisdiction and the conflict rules, and moves the report on.  Append-only.';

CREATE TABLE carbonmkt.mrv_appeal (
    appeal_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id       bigint NOT NULL REFERENCES carbonmkt.mrv_report,
    data_version    int NOT NULL,
    grounds         text NOT NULL CHECK (btrim(grounds) <> ''),
    filed_by        bigint NOT NULL REFERENCES carbonmkt.participant,
    filed_at        timestamptz NOT NULL,
    decision        text CHECK (decision IN ('upheld', 'dismissed')),
    decided_by      bigint REFERENCES carbonmkt.participant,
    decided_at      timestamptz,
    new_verified_t  bigint CHECK (new_verified_t >= 0),
    note            text,
    CHECK ((decision IS NULL) = (decided_at IS NULL)),
    CHECK ((decision = 'upheld') = (new_verified_t IS NOT NULL))
);
CREATE UNIQUE INDEX mrv_appeal_one_open ON carbonmkt.mrv_appeal (report_id) WHERE decision IS NULL;
COMMENT ON TABLE carbonmkt.mrv_appeal IS
  'Appeals (申诉, Art. 28) of a verification result to the provincial authority; upheld appeals replace the verified figure.';

CREATE TABLE carbonmkt.mrv_national_naming (
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    year            int NOT NULL CHECK (year BETWEEN 2005 AND 2100),
    reason          text NOT NULL CHECK (btrim(reason) <> ''),
    named_by        bigint NOT NULL REFERENCES carbonmkt.participant,
    named_at        timestamptz NOT NULL,
    PRIMARY KEY (participant_id, year)
);
COMMENT ON TABLE carbonmkt.mrv_national_naming IS
  'Units the national authority named for re-review of a year (Art. 29(1) 国务院碳交易主管部门要求复查的重点排放单位).  Append-only.';

CREATE TABLE carbonmkt.mrv_reopening (
    reopening_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    year            int NOT NULL,
    report_id       bigint,
    old_emissions_t bigint NOT NULL,
    old_basis       text NOT NULL,
    old_confirmed_by bigint,
    old_confirmed_at timestamptz NOT NULL,
    reason          text NOT NULL CHECK (btrim(reason) <> ''),
    reopened_by     bigint NOT NULL REFERENCES carbonmkt.participant,
    reopened_at     timestamptz NOT NULL
);
CREATE INDEX mrv_reopening_unit ON carbonmkt.mrv_reopening (participant_id, year);
COMMENT ON TABLE carbonmkt.mrv_reopening IS
  'National re-openings of confirmed emissions: the confirmed row as it was, why, by whom and when.  Append-only.';

CREATE TABLE carbonmkt.mrv_report_event (
    event_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id       bigint NOT NULL REFERENCES carbonmkt.mrv_report,
    data_version    int NOT NULL,
    event           text NOT NULL,
    tier            carbonmkt.mrv_tier,
    actor_id        bigint REFERENCES carbonmkt.participant,
    at              timestamptz NOT NULL,
    detail          text,
    login           name DEFAULT session_user    -- the real login that caused the event
);
CREATE INDEX mrv_report_event_report ON carbonmkt.mrv_report_event (report_id, event_id);
COMMENT ON TABLE carbonmkt.mrv_report_event IS
  'Everything that happened to each report, in order (submitted, corrected, verified, estimator_appointed, estimated, appealed, appeal_upheld, appeal_dismissed, approved, rejected, named, confirmed, reopened).  Append-only.';

-- Append-only guards (the registry's C trigger, SQLSTATE CM011)
CREATE TRIGGER mrv_deposit_append_only BEFORE UPDATE OR DELETE ON carbonmkt.mrv_deposit
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER mrv_report_gas_append_only BEFORE UPDATE OR DELETE ON carbonmkt.mrv_report_gas
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER mrv_verification_append_only BEFORE UPDATE OR DELETE ON carbonmkt.mrv_verification
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER mrv_review_append_only BEFORE UPDATE OR DELETE ON carbonmkt.mrv_review
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER mrv_national_naming_append_only BEFORE UPDATE OR DELETE ON carbonmkt.mrv_national_naming
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER mrv_sample_seed_append_only BEFORE UPDATE OR DELETE ON carbonmkt.mrv_sample_seed
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER mrv_reopening_append_only BEFORE UPDATE OR DELETE ON carbonmkt.mrv_reopening
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER mrv_report_event_append_only BEFORE UPDATE OR DELETE ON carbonmkt.mrv_report_event
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();

-- The C core: tier review, verification guard, confirmed-emission guard, assessment ----------

CREATE FUNCTION carbonmkt.mrv_review_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'mrv_review_guard'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt.mrv_review_guard() IS
  'BEFORE INSERT FOR EACH ROW trigger of carbonmkt.mrv_review (三级联审): locks the report, refuses a review of a report not under review (CM110), of an outdated data version (CM111), out of tier order or of a tier already approved (CM106), by a participant that is not an authority of that tier and of the unit''s city/province (CM107), or by the organisation that compiled, verified or owns the report (CM108); then moves the report on (next tier, approved, or returned with the reason) and logs the event.';

-- Separation of duties (doc/security.md): fires before mrv_review_guard (trigger name order).
CREATE FUNCTION carbonmkt.mrv_review_four_eyes() RETURNS trigger
LANGUAGE plpgsql AS
$$
DECLARE
    t carbonmkt.mrv_tier;
BEGIN
    NEW.reviewer_login := session_user;
    IF NEW.decision <> 'approve'
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = session_user AND r.rolsuper) THEN
        RETURN NEW;
    END IF;
    SELECT x.tier INTO t FROM carbonmkt.mrv_review x
     WHERE x.report_id = NEW.report_id AND x.decision = 'approve' AND x.tier <> NEW.tier
       AND x.reviewer_login = session_user
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'separation of duties: login "%" approved the % tier of report % and may not approve its % tier too',
            session_user, t, NEW.report_id, NEW.tier
            USING ERRCODE = 'CM901',
                  HINT = 'Four-eyes rule (doc/security.md): each tier of the review (三级联审) is approved by a different login, also when acting for another authority.';
    END IF;
    IF EXISTS (SELECT 1 FROM carbonmkt.mrv_report_event e
                WHERE e.report_id = NEW.report_id AND e.event IN ('submitted', 'corrected') AND e.login = session_user) THEN
        RAISE EXCEPTION 'separation of duties: login "%" compiled report % and may not approve it', session_user, NEW.report_id
            USING ERRCODE = 'CM901',
                  HINT = 'Four-eyes rule (doc/security.md): the login that submitted or corrected a report never approves it.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION carbonmkt.mrv_review_four_eyes() IS
  'BEFORE INSERT trigger of carbonmkt.mrv_review: records the real login (reviewer_login) and refuses (CM901) an approval by a login that approved another tier of the report or submitted or corrected it.  Superusers are exempt.';
CREATE TRIGGER mrv_review_four_eyes BEFORE INSERT ON carbonmkt.mrv_review
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.mrv_review_four_eyes();

CREATE TRIGGER mrv_review_guard BEFORE INSERT ON carbonmkt.mrv_review
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.mrv_review_guard();

CREATE FUNCTION carbonmkt.mrv_verification_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'mrv_verification_guard'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt.mrv_verification_guard() IS
  'BEFORE INSERT FOR EACH ROW trigger of carbonmkt.mrv_verification: locks the report and refuses a verification of a report under appeal or confirmed (CM110), by a participant that is not a technical service firm or not the appointed verifier of an estimate (CM107), or by a firm that compiled a report in the same province and year (CM108, Decree 775).';

CREATE TRIGGER mrv_verification_guard BEFORE INSERT ON carbonmkt.mrv_verification
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.mrv_verification_guard();

CREATE FUNCTION carbonmkt.mrv_confirmed_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'mrv_confirmed_guard'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt.mrv_confirmed_guard() IS
  'BEFORE UPDATE OR DELETE FOR EACH ROW trigger of carbonmkt.confirmed_emission: confirmed figures are immutable (CM112) except through carbonmkt.reopen_emissions(), which records the re-opening first and runs with carbonmkt.acting_room = ''mrv''.  INSERT is not checked.';

CREATE TRIGGER confirmed_emission_guard BEFORE UPDATE OR DELETE ON carbonmkt.confirmed_emission
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.mrv_confirmed_guard();

CREATE TYPE carbonmkt.mrv_assessment AS (
    reasons             text[],
    named               boolean,
    problems            boolean,
    sample_draw         numeric,
    sample_share        numeric,
    annual_t            bigint,
    monthly_sum_t       numeric,
    deviation           numeric,
    deviation_threshold numeric,
    months_missing      int,
    missing_tolerance   int,
    months_late         int,
    late_tolerance      int,
    reopened            boolean,
    rule_jurisdiction   text,
    rule_from_year      int
);
COMMENT ON TYPE carbonmkt.mrv_assessment IS
  'Why a report needs national review, with the numbers and the rule row used (carbonmkt.mrv_assess).';

CREATE FUNCTION carbonmkt.mrv_assess(report_id bigint) RETURNS carbonmkt.mrv_assessment
	AS 'MODULE_PATHNAME', 'mrv_assess'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt.mrv_assess(bigint) IS
  'Assesses a report against the rule in force for its province and year (carbonmkt.mrv_rule): national review is required when the national authority named the unit, the verification found problems, the unit is in the random sample (draw from the year''s recorded seed < share), the annual figure deviates from the sum of its monthly emissions deposits by more than the threshold, more months are missing or late than tolerated, or the confirmed figure was re-opened.  CM113 when no rule or no seed is recorded.';

-- Internal helpers -------------------------------------------------------------------

CREATE FUNCTION carbonmkt._mrv_is_staff() RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT carbonmkt._is_member('carbonmkt_registry') $$;
COMMENT ON FUNCTION carbonmkt._mrv_is_staff() IS
  'Internal: the login is staff (superuser or carbonmkt_registry) and may act for any participant (acting_for).';

-- The participant the caller acts as: acting_for (staff only, or the caller's own
-- participant), else the login's participant; the login must hold p_role.
CREATE FUNCTION carbonmkt._mrv_actor(p_acting_for bigint, p_role text) RETURNS carbonmkt.participant
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    me  bigint := carbonmkt.caller_participant();
    p   carbonmkt.participant;
BEGIN
    IF p_acting_for IS NOT NULL AND p_acting_for IS DISTINCT FROM me THEN
        IF NOT carbonmkt._mrv_is_staff() THEN
            RAISE EXCEPTION 'role "%" may not act for participant %', session_user, p_acting_for
                USING ERRCODE = '42501',
                      DETAIL = format('The login acts for participant %s.', coalesce(me::text, '(none)')),
                      HINT = 'Only staff (carbonmkt_registry) may act for another participant.';
        END IF;
        me := p_acting_for;
    ELSIF me IS NULL THEN
        RAISE EXCEPTION 'role "%" acts for no participant', session_user
            USING ERRCODE = '42501',
                  HINT = 'The registry maps a login to its participant with carbonmkt.map_login(); staff pass acting_for.';
    ELSIF NOT carbonmkt._mrv_is_staff() AND NOT carbonmkt._is_member(p_role) THEN
        RAISE EXCEPTION 'role "%" is not a member of %', session_user, p_role USING ERRCODE = '42501';
    END IF;
    SELECT * INTO p FROM carbonmkt.participant x WHERE x.participant_id = me;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'participant % does not exist', me USING ERRCODE = 'CM002';
    END IF;
    RETURN p;
END
$$;
COMMENT ON FUNCTION carbonmkt._mrv_actor(bigint, text) IS
  'Internal: the participant the caller acts as (its login''s, or acting_for for staff); 42501 when the login acts for nobody, for someone else, or lacks the role.';

CREATE FUNCTION carbonmkt._mrv_unit(p_unit bigint) RETURNS carbonmkt.participant
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    u carbonmkt.participant;
BEGIN
    SELECT * INTO u FROM carbonmkt.participant x WHERE x.participant_id = p_unit;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'participant % does not exist', p_unit USING ERRCODE = 'CM002';
    END IF;
    IF u.kind <> 'key_emitter' THEN
        RAISE EXCEPTION 'participant % is a %, not a key emitting unit (重点排放单位)', p_unit, u.kind
            USING ERRCODE = '22023', HINT = 'Monitoring plans, deposits and reports belong to key emitting units.';
    END IF;
    RETURN u;
END
$$;
COMMENT ON FUNCTION carbonmkt._mrv_unit(bigint) IS 'Internal: the key emitting unit with this id (CM002 unknown, 22023 another kind).';

-- The unit acts for itself (its own login), or staff for it.
CREATE FUNCTION carbonmkt._mrv_as_unit(p_unit bigint) RETURNS carbonmkt.participant
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    me carbonmkt.participant := carbonmkt._mrv_actor(p_unit, 'carbonmkt_participant');
BEGIN
    RETURN carbonmkt._mrv_unit(me.participant_id);
END
$$;
COMMENT ON FUNCTION carbonmkt._mrv_as_unit(bigint) IS
  'Internal: checks that the caller is the unit (its login) or staff, and returns the unit.';

CREATE FUNCTION carbonmkt._mrv_authority_check(a carbonmkt.participant, u carbonmkt.participant,
                                               p_kind carbonmkt.participant_kind, p_action text)
RETURNS void LANGUAGE plpgsql STABLE AS
$$
BEGIN
    IF a.kind IS DISTINCT FROM p_kind
       OR (p_kind = 'provincial_authority' AND a.province IS DISTINCT FROM u.province)
       OR (p_kind = 'city_authority' AND a.city IS DISTINCT FROM u.city) THEN
        RAISE EXCEPTION 'participant % (%) may not %: that is for the % of unit %',
            a.participant_id, a.kind, p_action,
            CASE p_kind WHEN 'provincial_authority' THEN 'provincial authority of ' || u.province
                        WHEN 'city_authority' THEN 'city authority of ' || coalesce(u.city, '(no city)')
                        ELSE 'national authority' END, u.participant_id
            USING ERRCODE = 'CM107',
                  DETAIL = format('Participant %s is a %s (province %s, city %s).', a.participant_id, a.kind,
                                  coalesce(a.province, '-'), coalesce(a.city, '-'));
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._mrv_authority_check(carbonmkt.participant, carbonmkt.participant, carbonmkt.participant_kind, text) IS
  'Internal: CM107 unless the acting participant is an authority of that kind and of the unit''s province or city.';

CREATE FUNCTION carbonmkt._mrv_rule(p_province char(6), p_year int) RETURNS carbonmkt.mrv_rule
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    r carbonmkt.mrv_rule := carbonmkt.mrv_rule_for(p_province, p_year);
BEGIN
    IF r.jurisdiction IS NULL THEN
        RAISE EXCEPTION 'no MRV rule for province % and year %', p_province, p_year
            USING ERRCODE = 'CM113',
                  HINT = 'carbonmkt.mrv_rule has no row in force for the year (''CN'' or the province): the national authority (or the province for its own) loads it with carbonmkt.set_rule(''mrv_rule'', ...); doc/rules.md.';
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION carbonmkt._mrv_rule(char, int) IS 'Internal: the rule in force for a province and year, CM113 when none.';

CREATE FUNCTION carbonmkt._mrv_plan_in_force(p_unit bigint, p_year int) RETURNS carbonmkt.mrv_plan
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    p carbonmkt.mrv_plan;
BEGIN
    SELECT * INTO p FROM carbonmkt.mrv_plan x
     WHERE x.participant_id = p_unit AND x.status = 'approved' AND x.from_year <= p_year;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unit % has no approved monitoring plan (监测计划) for %', p_unit, p_year
            USING ERRCODE = 'CM104',
                  DETAIL = coalesce((SELECT format('Its latest plan, version %s from %s, is %s.', x.version, x.from_year, x.status)
                                       FROM carbonmkt.mrv_plan x WHERE x.participant_id = p_unit
                                      ORDER BY x.version DESC LIMIT 1), 'It has filed no plan.'),
                  HINT = 'Art. 25: monitoring follows a plan approved by the provincial authority (carbonmkt.file_monitoring_plan, approve_monitoring_plan).';
    END IF;
    RETURN p;
END
$$;
COMMENT ON FUNCTION carbonmkt._mrv_plan_in_force(bigint, int) IS
  'Internal: the unit''s approved monitoring plan valid for the year, CM104 when there is none.';

CREATE FUNCTION carbonmkt._mrv_event(p_report bigint, p_version int, p_event text, p_actor bigint,
                                     p_detail text, p_tier carbonmkt.mrv_tier DEFAULT NULL)
RETURNS void LANGUAGE sql AS
$$ INSERT INTO carbonmkt.mrv_report_event (report_id, data_version, event, tier, actor_id, at, detail)
   VALUES (p_report, p_version, p_event, p_tier, p_actor, carbonmkt.clock_now(), p_detail) $$;
COMMENT ON FUNCTION carbonmkt._mrv_event(bigint, int, text, bigint, text, carbonmkt.mrv_tier) IS 'Internal: logs a report event.';

CREATE FUNCTION carbonmkt._mrv_lock_report(p_report bigint) RETURNS carbonmkt.mrv_report
LANGUAGE plpgsql AS
$$
DECLARE
    r carbonmkt.mrv_report;
BEGIN
    SELECT * INTO r FROM carbonmkt.mrv_report x WHERE x.report_id = p_report FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'report % does not exist', p_report USING ERRCODE = 'CM115';
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION carbonmkt._mrv_lock_report(bigint) IS 'Internal: locks a report row (FOR UPDATE) and returns it; CM115 when unknown.';

CREATE FUNCTION carbonmkt._mrv_state_error(r carbonmkt.mrv_report, p_action text) RETURNS void
LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'report % cannot be %: it is %', r.report_id, p_action, r.status
        USING ERRCODE = 'CM110',
              DETAIL = CASE r.status
                  WHEN 'submitted' THEN CASE WHEN r.estimated THEN 'It waits for the appointed verifier''s estimate.'
                                             ELSE 'It waits for verification.' END
                  WHEN 'appealed' THEN 'An appeal of its verification waits for the provincial authority.'
                  WHEN 'in_review' THEN format('It waits for %s review.', r.pending_tier)
                  WHEN 'returned' THEN format('It was returned to the unit: %s', r.return_reason)
                  WHEN 'approved' THEN 'Every required tier approved it; it waits for confirmation.'
                  ELSE 'Its emissions are confirmed; only a national re-opening changes them.' END;
END
$$;
COMMENT ON FUNCTION carbonmkt._mrv_state_error(carbonmkt.mrv_report, text) IS 'Internal: CM110, the report''s state does not allow the action.';

CREATE FUNCTION carbonmkt._mrv_required_tiers(p_reasons text[]) RETURNS carbonmkt.mrv_tier[]
LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN cardinality(p_reasons) > 0 THEN '{city,province,national}'::carbonmkt.mrv_tier[]
               ELSE '{city,province}'::carbonmkt.mrv_tier[] END $$;
COMMENT ON FUNCTION carbonmkt._mrv_required_tiers(text[]) IS
  'Internal: city and province always; national too when there is any reason for national review.';

CREATE FUNCTION carbonmkt.mrv_missing_tiers(report_id bigint) RETURNS carbonmkt.mrv_tier[]
LANGUAGE sql STABLE AS
$$ SELECT ARRAY(SELECT t FROM unnest(carbonmkt._mrv_required_tiers(r.national_reasons)) WITH ORDINALITY AS x(t, n)
                 WHERE NOT EXISTS (SELECT 1 FROM carbonmkt.mrv_review v
                                    WHERE v.report_id = r.report_id AND v.data_version = r.data_version
                                      AND v.tier = x.t AND v.decision = 'approve')
                 ORDER BY x.n)
     FROM carbonmkt.mrv_report r WHERE r.report_id = mrv_missing_tiers.report_id $$;
COMMENT ON FUNCTION carbonmkt.mrv_missing_tiers(bigint) IS
  'The required tiers (city, province, and national when national_reasons is not empty) that have not approved the report''s current data version, in review order; NULL for an unknown report.';

-- Assessment and (re)start of the tiered review: after a verification, an estimate, an
-- upheld appeal or a re-opening; review always starts again at city.
CREATE FUNCTION carbonmkt._mrv_start_review(p_report bigint) RETURNS carbonmkt.mrv_assessment
LANGUAGE plpgsql AS
$$
DECLARE
    a carbonmkt.mrv_assessment := carbonmkt.mrv_assess(p_report);
BEGIN
    UPDATE carbonmkt.mrv_report r
       SET status = 'in_review', pending_tier = 'city', return_reason = NULL,
           national_reasons = a.reasons, assessment = to_jsonb(a), state_since = carbonmkt.clock_now()
     WHERE r.report_id = p_report;
    RETURN a;
END
$$;
COMMENT ON FUNCTION carbonmkt._mrv_start_review(bigint) IS
  'Internal: assesses the report (carbonmkt.mrv_assess), records the national-review reasons and starts the review at the city tier.';

-- Continue where the review stood (after a dismissed appeal, or a national naming).
CREATE FUNCTION carbonmkt._mrv_resume(p_report bigint) RETURNS void
LANGUAGE plpgsql AS
$$
DECLARE
    missing carbonmkt.mrv_tier[] := carbonmkt.mrv_missing_tiers(p_report);
BEGIN
    UPDATE carbonmkt.mrv_report r
       SET status = CASE WHEN cardinality(missing) = 0 THEN 'approved' ELSE 'in_review' END::carbonmkt.mrv_report_status,
           pending_tier = missing[1], state_since = carbonmkt.clock_now()
     WHERE r.report_id = p_report;
END
$$;
COMMENT ON FUNCTION carbonmkt._mrv_resume(bigint) IS
  'Internal: puts a report back under review at the first required tier that has not approved its current data version, or approved when none is missing.';

CREATE FUNCTION carbonmkt._mrv_voided(p_report bigint, p_version int) RETURNS int
LANGUAGE sql STABLE AS
$$ SELECT count(*)::int FROM carbonmkt.mrv_review v
    WHERE v.report_id = p_report AND v.data_version = p_version AND v.decision = 'approve' $$;
COMMENT ON FUNCTION carbonmkt._mrv_voided(bigint, int) IS 'Internal: approvals of a data version (voided when the data changes).';

-- Gas lines from a jsonb object {"CO2": 123.456, ...}: checked and converted, not yet stored.
CREATE FUNCTION carbonmkt._mrv_gas_lines(p_sector text, p_year int, p_gwp_set text, p_gases jsonb)
RETURNS TABLE (gas text, quantity_t numeric, gwp numeric, co2e_t numeric) LANGUAGE plpgsql AS
$$
DECLARE
    g       record;
    q       numeric;
BEGIN
    IF p_gases IS NULL OR jsonb_typeof(p_gases) <> 'object' OR p_gases = '{}'::jsonb THEN
        RAISE EXCEPTION 'emissions must be a JSON object of gas and tonnes, e.g. {"CO2": 812345.5}: got %',
            coalesce(p_gases::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    FOR g IN SELECT key, value FROM jsonb_each(p_gases) ORDER BY key LOOP
        gas := upper(btrim(g.key));
        IF jsonb_typeof(g.value) <> 'number' THEN
            RAISE EXCEPTION 'emissions of % must be a number of tonnes: got %', gas, g.value USING ERRCODE = '22023';
        END IF;
        q := g.value::text::numeric;
        IF q < 0 THEN
            RAISE EXCEPTION 'negative emissions: % t of %', q, gas
                USING ERRCODE = 'CM101', HINT = 'Emissions are reported as non-negative tonnes of each gas.';
        END IF;
        PERFORM carbonmkt._check_plausible('emissions report', 'tonnes of ' || gas, 'reported_emissions_t', p_sector, q);
        IF NOT EXISTS (SELECT 1 FROM carbonmkt.mrv_sector_gas s
                        WHERE s.sector = p_sector AND s.gas = _mrv_gas_lines.gas AND s.from_year <= p_year) THEN
            RAISE EXCEPTION 'gas % is not reported by the % sector for %', gas, p_sector, p_year
                USING ERRCODE = 'CM105',
                      DETAIL = format('The %s sector reports %s.', p_sector,
                                      (SELECT string_agg(s.gas || ' from ' || s.from_year, ', ' ORDER BY s.gas)
                                         FROM carbonmkt.mrv_sector_gas s WHERE s.sector = p_sector)),
                      HINT = 'See carbonmkt.mrv_sector_gas.';
        END IF;
        SELECT w.gwp INTO gwp FROM carbonmkt.mrv_gwp w WHERE w.gwp_set = p_gwp_set AND w.gas = _mrv_gas_lines.gas;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'GWP set % has no value for %', p_gwp_set, gas USING ERRCODE = 'CM105';
        END IF;
        quantity_t := round(q, 3);
        co2e_t := quantity_t * gwp;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION carbonmkt._mrv_gas_lines(text, int, text, jsonb) IS
  'Internal: checks a report''s emissions per gas (tonnes, rounded to the kilogram) and converts them with the GWP set: CM101 negative, CM105 gas not reported by the sector that year or without GWP, 22023 not a JSON object of numbers.';

-- Records the gas lines of a data version; returns the total in whole tCO2e.
CREATE FUNCTION carbonmkt._mrv_store_gases(p_report bigint, p_version int, p_lines jsonb)
RETURNS bigint LANGUAGE sql AS
$$
    WITH l AS (
        INSERT INTO carbonmkt.mrv_report_gas (report_id, data_version, gas, quantity_t, gwp, co2e_t)
        SELECT p_report, p_version, x.gas, x.quantity_t, x.gwp, x.co2e_t
          FROM jsonb_to_recordset(p_lines) AS x(gas text, quantity_t numeric, gwp numeric, co2e_t numeric)
        RETURNING co2e_t),
    t AS (SELECT sum(co2e_t) AS total FROM l),
    lim AS (SELECT carbonmkt.plausibility_max('reported_emissions_t', p.sector) AS m
              FROM carbonmkt.mrv_report r JOIN carbonmkt.participant p ON p.participant_id = r.participant_id
             WHERE r.report_id = p_report)
    SELECT CASE WHEN t.total > lim.m
                THEN carbonmkt._refuse(NULL::bigint, 'CM902',
                         format('report %s: emissions of %s tCO2e exceed the plausibility limit %s (reported_emissions_t)',
                                p_report, round(t.total), lim.m),
                         'Limits are rule rows of carbonmkt.plausibility_limit (doc/security.md); a value above one is an entry error.')
                ELSE round(t.total)::bigint END
      FROM t, lim
$$;
COMMENT ON FUNCTION carbonmkt._mrv_store_gases(bigint, int, jsonb) IS
  'Internal: stores checked gas lines (carbonmkt._mrv_gas_lines as a JSON array) for a data version and returns the total in whole tCO2e: the sum of tonnes x GWP, rounded half-up.';

-- Conflict of interest (Decree 775): a firm may not both compile and verify reports in one
-- province in one year.
CREATE FUNCTION carbonmkt._mrv_firm_verified_in(p_firm bigint, p_province char(6), p_year int) RETURNS bigint
LANGUAGE sql STABLE AS
$$ SELECT r.report_id FROM carbonmkt.mrv_report r JOIN carbonmkt.participant u USING (participant_id)
    WHERE u.province = p_province AND r.year = p_year
      AND (r.estimator_id = p_firm OR EXISTS (SELECT 1 FROM carbonmkt.mrv_verification v
                                               WHERE v.report_id = r.report_id AND v.verifier_id = p_firm))
    ORDER BY r.report_id LIMIT 1 $$;
COMMENT ON FUNCTION carbonmkt._mrv_firm_verified_in(bigint, char, int) IS
  'Internal: a report of the province and year that the firm verified or estimated (or is appointed to estimate), NULL when none.';

-- Public API: rules ------------------------------------------------------------------

CREATE FUNCTION carbonmkt.record_sample_seed(year int, seed text, acting_for bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    me  carbonmkt.participant := carbonmkt._mrv_actor(acting_for, 'carbonmkt_authority');
    old carbonmkt.mrv_sample_seed;
BEGIN
    IF me.kind <> 'national_authority' THEN
        RAISE EXCEPTION 'only the national authority records the re-review sample seed; participant % is a %',
            me.participant_id, me.kind USING ERRCODE = 'CM107';
    END IF;
    IF record_sample_seed.year IS NULL OR seed IS NULL THEN
        RAISE EXCEPTION 'record_sample_seed: argument % must not be NULL',
            CASE WHEN record_sample_seed.year IS NULL THEN 'year' ELSE 'seed' END USING ERRCODE = 'CM904';
    END IF;
    IF record_sample_seed.year NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'sample seed year must lie in 2005..2100: got %', record_sample_seed.year USING ERRCODE = 'CM103';
    END IF;
    SELECT * INTO old FROM carbonmkt.mrv_sample_seed s WHERE s.year = record_sample_seed.year;
    IF FOUND THEN
        RAISE EXCEPTION 'the re-review sample seed of % is already recorded', record_sample_seed.year
            USING ERRCODE = 'CM114', DETAIL = format('Recorded by participant %s at %s.', old.recorded_by, old.recorded_at),
                  HINT = 'A seed is recorded once so that the sample can be replayed.';
    END IF;
    INSERT INTO carbonmkt.mrv_sample_seed VALUES (record_sample_seed.year, seed, me.participant_id, carbonmkt.clock_now());
END
$$;
COMMENT ON FUNCTION carbonmkt.record_sample_seed(int, text, bigint) IS
  'Records, once, the seed of a reporting year''s random re-review sample.  National authority only.';

-- Public API: monitoring plans -----------------------------------------------------------

CREATE FUNCTION carbonmkt.file_monitoring_plan(participant_id bigint, from_year int, content jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    u   carbonmkt.participant := carbonmkt._mrv_as_unit(file_monitoring_plan.participant_id);
    v   int;
    id  bigint;
BEGIN
    IF from_year IS NULL OR from_year NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'a monitoring plan''s first year must lie in 2005..2100: got %', coalesce(from_year::text, 'NULL')
            USING ERRCODE = 'CM103';
    END IF;
    PERFORM 1 FROM carbonmkt.participant x WHERE x.participant_id = u.participant_id FOR NO KEY UPDATE;
    SELECT coalesce(max(x.version), 0) + 1 INTO v FROM carbonmkt.mrv_plan x WHERE x.participant_id = u.participant_id;
    -- an earlier version still waiting is withdrawn by the new one
    UPDATE carbonmkt.mrv_plan x SET status = 'superseded'
     WHERE x.participant_id = u.participant_id AND x.status = 'filed';
    INSERT INTO carbonmkt.mrv_plan AS x (participant_id, version, from_year, content, filed_by, filed_at)
    VALUES (u.participant_id, v, file_monitoring_plan.from_year, coalesce(content, '{}'),
            coalesce(carbonmkt.caller_participant(), u.participant_id), carbonmkt.clock_now())
    RETURNING x.plan_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.file_monitoring_plan(bigint, int, jsonb) IS
  'Files a new version of a unit''s monitoring plan (排放监测计划, Art. 25) valid from a reporting year; it needs the provincial authority''s approval, and the version in force stays in force until then.  The unit (or staff).';

CREATE FUNCTION carbonmkt._mrv_decide_plan(p_plan bigint, p_approve boolean, p_note text, p_acting_for bigint)
RETURNS void LANGUAGE plpgsql AS
$$
DECLARE
    me  carbonmkt.participant := carbonmkt._mrv_actor(p_acting_for, 'carbonmkt_authority');
    p   carbonmkt.mrv_plan;
BEGIN
    SELECT * INTO p FROM carbonmkt.mrv_plan x WHERE x.plan_id = p_plan FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'monitoring plan % does not exist', p_plan USING ERRCODE = 'CM115';
    END IF;
    PERFORM carbonmkt._mrv_authority_check(me, carbonmkt._mrv_unit(p.participant_id), 'provincial_authority',
                                           CASE WHEN p_approve THEN 'approve' ELSE 'reject' END || ' monitoring plans');
    IF p.status <> 'filed' THEN
        RAISE EXCEPTION 'monitoring plan % (version % of unit %) is already %', p_plan, p.version, p.participant_id, p.status
            USING ERRCODE = 'CM110';
    END IF;
    IF NOT p_approve AND btrim(coalesce(p_note, '')) = '' THEN
        RAISE EXCEPTION 'a rejection needs a reason' USING ERRCODE = '22023';
    END IF;
    IF p_approve THEN
        UPDATE carbonmkt.mrv_plan x SET status = 'superseded'
         WHERE x.participant_id = p.participant_id AND x.status = 'approved';
    END IF;
    UPDATE carbonmkt.mrv_plan x
       SET status = CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END::carbonmkt.mrv_plan_status,
           decided_by = me.participant_id, decided_at = carbonmkt.clock_now(), decision_note = p_note
     WHERE x.plan_id = p_plan;
END
$$;
COMMENT ON FUNCTION carbonmkt._mrv_decide_plan(bigint, boolean, text, bigint) IS 'Internal: approves or rejects a filed monitoring plan.';

CREATE FUNCTION carbonmkt.approve_monitoring_plan(plan_id bigint, memo text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT carbonmkt._mrv_decide_plan(plan_id, true, memo, acting_for) $$;
COMMENT ON FUNCTION carbonmkt.approve_monitoring_plan(bigint, text, bigint) IS
  'Approves (备案) a filed monitoring plan; it replaces the version in force.  The unit''s provincial authority (CM107 otherwise).';

CREATE FUNCTION carbonmkt.reject_monitoring_plan(plan_id bigint, reason text, acting_for bigint DEFAULT NULL)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT carbonmkt._mrv_decide_plan(plan_id, false, reason, acting_for) $$;
COMMENT ON FUNCTION carbonmkt.reject_monitoring_plan(bigint, text, bigint) IS
  'Rejects a filed monitoring plan with a reason; the version in force (if any) stays.  The unit''s provincial authority.';

-- Public API: monthly deposits -----------------------------------------------------------

CREATE FUNCTION carbonmkt.deposit_parameters(participant_id bigint, year int, month int, parameters jsonb, memo text DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    u       carbonmkt.participant := carbonmkt._mrv_as_unit(deposit_parameters.participant_id);
    pl      carbonmkt.mrv_plan;
    r       carbonmkt.mrv_rule;
    k       record;
    val     numeric;
    pname   text;
    due     date;
    today   date := carbonmkt.business_date();
    ts      timestamptz := carbonmkt.clock_now();
    n       int := 0;
BEGIN
    IF month IS NULL OR month NOT BETWEEN 1 AND 12 THEN
        RAISE EXCEPTION 'month must lie in 1..12: got %', coalesce(month::text, 'NULL')
            USING ERRCODE = 'CM102', HINT = 'Monthly deposits (关键参数月度存证) are made per calendar month 1-12.';
    END IF;
    IF year IS NULL OR year NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'deposit year must lie in 2005..2100: got %', coalesce(year::text, 'NULL') USING ERRCODE = 'CM103';
    END IF;
    IF (make_date(year, month, 1) + interval '1 month')::date > today THEN
        RAISE EXCEPTION 'month %-% is not over yet', year, lpad(month::text, 2, '0')
            USING ERRCODE = 'CM103', DETAIL = format('The business date is %s.', to_char(today, 'YYYY-MM-DD')),
                  HINT = 'A month''s key parameters are deposited after the month ends.';
    END IF;
    pl := carbonmkt._mrv_plan_in_force(u.participant_id, year);
    r := carbonmkt._mrv_rule(u.province, year);
    IF parameters IS NULL OR jsonb_typeof(parameters) <> 'object' OR parameters = '{}'::jsonb THEN
        RAISE EXCEPTION 'parameters must be a JSON object of parameter and value, e.g. {"emissions": 68000}: got %',
            coalesce(parameters::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF r.deposit_due_days IS NULL THEN
        RAISE EXCEPTION 'no deposit deadline for province % and year %: mrv_rule (jurisdiction %, from_year %) has no deposit_due_days',
            u.province, year, r.jurisdiction, r.from_year
            USING ERRCODE = 'CM113',
                  DETAIL = 'The sources give no deadline for the monthly deposit of key parameters: carbonmkt ships none.',
                  HINT = 'The national authority (or the province for its own rule) sets it with carbonmkt.amend_rule(''mrv_rule'', ...); doc/rules.md.';
    END IF;
    due := carbonmkt.mrv_deposit_due(year, month, r.deposit_due_days);
    -- serialise this unit's deposits (version numbers)
    PERFORM 1 FROM carbonmkt.participant x WHERE x.participant_id = u.participant_id FOR NO KEY UPDATE;
    FOR k IN SELECT key, value FROM jsonb_each(parameters) ORDER BY key LOOP
        pname := lower(btrim(k.key));
        IF NOT EXISTS (SELECT 1 FROM carbonmkt.mrv_sector_parameter sp
                        WHERE sp.sector = u.sector AND sp.parameter = pname
                          AND sp.from_year <= deposit_parameters.year
                          AND (sp.until_year IS NULL OR sp.until_year >= deposit_parameters.year)) THEN
            RAISE EXCEPTION 'parameter "%" is not a key parameter of the % sector for %', pname, u.sector, year
                USING ERRCODE = 'CM105',
                      DETAIL = format('The %s sector deposits %s.', u.sector,
                                      (SELECT string_agg(sp.parameter, ', ' ORDER BY sp.parameter)
                                         FROM carbonmkt.mrv_sector_parameter sp
                                        WHERE sp.sector = u.sector AND sp.from_year <= deposit_parameters.year
                                          AND (sp.until_year IS NULL OR sp.until_year >= deposit_parameters.year))),
                      HINT = 'See carbonmkt.mrv_sector_parameter.';
        END IF;
        IF jsonb_typeof(k.value) <> 'number' THEN
            RAISE EXCEPTION 'parameter % must be a number: got %', pname, k.value USING ERRCODE = '22023';
        END IF;
        val := k.value::text::numeric;
        IF val < 0 THEN
            RAISE EXCEPTION 'negative value for % of %-%: %', pname, year, lpad(month::text, 2, '0'), val
                USING ERRCODE = 'CM101', HINT = 'Key parameters and emissions are non-negative.';
        END IF;
        PERFORM carbonmkt._check_plausible('deposit_parameters', pname, 'deposit_parameter', pname, val);
        INSERT INTO carbonmkt.mrv_deposit (participant_id, year, month, parameter, version, value, plan_id,
                                           due_date, late, deposited_by, deposited_at, note)
        SELECT u.participant_id, deposit_parameters.year, deposit_parameters.month, pname,
               coalesce(max(d.version), 0) + 1, val, pl.plan_id, due, today > due,
               coalesce(carbonmkt.caller_participant(), u.participant_id), ts, deposit_parameters.memo
          FROM carbonmkt.mrv_deposit d
         WHERE d.participant_id = u.participant_id AND d.year = deposit_parameters.year
           AND d.month = deposit_parameters.month AND d.parameter = pname;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt.deposit_parameters(bigint, int, int, jsonb, text) IS
  'Deposits a unit''s key parameters of a finished month (关键参数月度存证), e.g. {"fuel_consumption": 41000, "emissions": 68000}; a parameter deposited before gets a new version (the old one stays).  Records the due date and whether the deposit is late.  The unit (or staff).  CM102 month outside 1-12, CM103 month not over, CM104 no approved plan, CM105 parameter not of the sector, CM101 negative value.';

-- Public API: reports ----------------------------------------------------------------------

CREATE FUNCTION carbonmkt.submit_report(participant_id bigint, year int, emissions jsonb, compiled_by bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    u       carbonmkt.participant := carbonmkt._mrv_as_unit(submit_report.participant_id);
    r       carbonmkt.mrv_rule;
    old     carbonmkt.mrv_report;
    firm    carbonmkt.participant;
    other   bigint;
    id      bigint;
    total   bigint;
    lines   jsonb;
    due     date;
    ts      timestamptz := carbonmkt.clock_now();
BEGIN
    IF year IS NULL OR year NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'report year must lie in 2005..2100: got %', coalesce(year::text, 'NULL') USING ERRCODE = 'CM103';
    END IF;
    IF year >= extract(year FROM carbonmkt.business_date(ts)) THEN
        RAISE EXCEPTION 'a report covers a finished year: % is not over', year
            USING ERRCODE = 'CM103', DETAIL = format('The business date is %s.', to_char(carbonmkt.business_date(ts), 'YYYY-MM-DD')),
                  HINT = 'Art. 26: each year a unit reports the previous year''s emissions.';
    END IF;
    IF u.city IS NULL THEN
        RAISE EXCEPTION 'unit % has no city: no city authority can review its report', u.participant_id
            USING ERRCODE = 'CM107', HINT = 'Every report passes the city tier first; the registry records the unit''s city.';
    END IF;
    PERFORM carbonmkt._mrv_plan_in_force(u.participant_id, year);
    r := carbonmkt._mrv_rule(u.province, year);
    SELECT * INTO old FROM carbonmkt.mrv_report x WHERE x.participant_id = u.participant_id AND x.year = submit_report.year;
    IF FOUND THEN
        RAISE EXCEPTION 'unit % already has report % for %', u.participant_id, old.report_id, year
            USING ERRCODE = 'CM114', DETAIL = format('Report %s is %s.', old.report_id, old.status),
                  HINT = 'Change a report with carbonmkt.correct_report().';
    END IF;
    IF compiled_by IS NOT NULL AND compiled_by <> u.participant_id THEN
        SELECT * INTO firm FROM carbonmkt.participant x WHERE x.participant_id = compiled_by;
        IF NOT FOUND OR firm.kind <> 'service_firm' THEN
            RAISE EXCEPTION 'a report is compiled by the unit itself or a technical service firm (技术服务机构): participant % is %',
                compiled_by, coalesce(firm.kind::text, 'unknown') USING ERRCODE = 'CM107';
        END IF;
        other := carbonmkt._mrv_firm_verified_in(compiled_by, u.province, year);
        IF other IS NOT NULL THEN
            RAISE EXCEPTION 'conflict of interest: service firm % verifies reports in province % for % (report %) and may not compile one there',
                compiled_by, u.province, year, other
                USING ERRCODE = 'CM108',
                      HINT = 'Decree 775: a technical service firm may not both compile annual reports and technically review them in the same province.';
        END IF;
    END IF;
    lines := (SELECT jsonb_agg(l) FROM carbonmkt._mrv_gas_lines(u.sector, year, r.gwp_set, emissions) l);
    due := make_date(year + 1, r.report_due_month, r.report_due_day);
    INSERT INTO carbonmkt.mrv_report AS x (participant_id, year, compiled_by, gwp_set, due_date, submitted_at, late, state_since)
    VALUES (u.participant_id, submit_report.year, coalesce(compiled_by, u.participant_id), r.gwp_set, due, ts,
            carbonmkt.business_date(ts) > due, ts)
    RETURNING x.report_id INTO id;
    total := carbonmkt._mrv_store_gases(id, 1, lines);
    UPDATE carbonmkt.mrv_report x SET emissions_t = total WHERE x.report_id = id;
    PERFORM carbonmkt._mrv_event(id, 1, 'submitted', coalesce(carbonmkt.caller_participant(), u.participant_id),
                                 format('%s tCO2e (%s)%s', total, r.gwp_set,
                                        CASE WHEN carbonmkt.business_date(ts) > due THEN ', late: due ' || due ELSE '' END));
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.submit_report(bigint, int, jsonb, bigint) IS
  'Submits a unit''s annual emission report for a finished year: emissions per gas in tonnes, e.g. {"CO2": 812345.5, "CF4": 2.1}, converted to whole tCO2e with the GWP set of the rule in force; compiled_by names the technical service firm that compiled it (default the unit).  Returns the report id; the report waits for verification.  The unit (or staff).';

CREATE FUNCTION carbonmkt.correct_report(report_id bigint, emissions jsonb, memo text DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    r       carbonmkt.mrv_report := carbonmkt._mrv_lock_report(report_id);
    u       carbonmkt.participant := carbonmkt._mrv_as_unit(r.participant_id);
    v       int := r.data_version + 1;
    voided  int := carbonmkt._mrv_voided(r.report_id, r.data_version);
    total   bigint;
BEGIN
    IF r.estimated OR r.status IN ('appealed', 'confirmed') THEN
        IF r.estimated THEN
            RAISE EXCEPTION 'report % is an estimate (Art. 40) and cannot be corrected by the unit', r.report_id
                USING ERRCODE = 'CM110';
        END IF;
        PERFORM carbonmkt._mrv_state_error(r, 'corrected');
    END IF;
    total := carbonmkt._mrv_store_gases(r.report_id, v,
                 (SELECT jsonb_agg(l) FROM carbonmkt._mrv_gas_lines(u.sector, r.year, r.gwp_set, emissions) l));
    UPDATE carbonmkt.mrv_report x
       SET data_version = v, emissions_t = total, status = 'submitted', pending_tier = NULL,
           verifier_id = NULL, verified_t = NULL, findings = NULL, national_reasons = '{}', assessment = NULL,
           return_reason = NULL, state_since = carbonmkt.clock_now()
     WHERE x.report_id = r.report_id;
    PERFORM carbonmkt._mrv_event(r.report_id, v, 'corrected', coalesce(carbonmkt.caller_participant(), u.participant_id),
                                 format('%s tCO2e; %s approval(s) of version %s voided; re-verification needed%s',
                                        total, voided, r.data_version, coalesce(': ' || correct_report.memo, '')));
    RETURN v;
END
$$;
COMMENT ON FUNCTION carbonmkt.correct_report(bigint, jsonb, text) IS
  'Corrects a report''s emissions per gas: a new data version that voids every approval of the old one; the report waits for verification again, then review restarts at city.  Not while appealed, once confirmed, or for an estimate.  The unit (or staff); returns the new data version.';

CREATE FUNCTION carbonmkt._mrv_verify(p_report bigint, p_kind text, p_tonnes bigint, p_findings carbonmkt.mrv_findings,
                                      p_note text, p_acting_for bigint)
RETURNS int LANGUAGE plpgsql AS
$$
DECLARE
    me      carbonmkt.participant := carbonmkt._mrv_actor(p_acting_for, 'carbonmkt_participant');
    r       carbonmkt.mrv_report := carbonmkt._mrv_lock_report(p_report);
    v       int := r.data_version + 1;
    voided  int := carbonmkt._mrv_voided(r.report_id, r.data_version);
    a       carbonmkt.mrv_assessment;
BEGIN
    IF p_tonnes IS NULL OR p_tonnes < 0 THEN
        RAISE EXCEPTION 'negative emissions: % tCO2e', coalesce(p_tonnes::text, 'NULL')
            USING ERRCODE = 'CM101', HINT = 'Verified and estimated emissions are non-negative whole tonnes of CO2e.';
    END IF;
    PERFORM carbonmkt._check_plausible(CASE p_kind WHEN 'estimate' THEN 'estimate_emissions' ELSE 'verify_report' END,
                                       CASE p_kind WHEN 'estimate' THEN 'estimated_t' ELSE 'verified_t' END,
                                       'reported_emissions_t',
                                       (SELECT p.sector FROM carbonmkt.participant p WHERE p.participant_id = r.participant_id),
                                       p_tonnes);
    IF p_kind = 'verification' AND p_findings IS NULL THEN
        RAISE EXCEPTION 'a verification states its findings: clean or problems' USING ERRCODE = '22023';
    END IF;
    -- the C trigger checks the verifier and the state of the report
    INSERT INTO carbonmkt.mrv_verification (report_id, data_version, kind, verifier_id, verified_t, findings, note)
    VALUES (r.report_id, v, p_kind, me.participant_id, p_tonnes, p_findings, p_note);
    UPDATE carbonmkt.mrv_report x
       SET data_version = v, verifier_id = me.participant_id, verified_t = p_tonnes, findings = p_findings,
           emissions_t = CASE WHEN x.estimated THEN p_tonnes ELSE x.emissions_t END
     WHERE x.report_id = r.report_id;
    a := carbonmkt._mrv_start_review(r.report_id);
    PERFORM carbonmkt._mrv_event(r.report_id, v, CASE p_kind WHEN 'estimate' THEN 'estimated' ELSE 'verified' END,
                                 me.participant_id,
                                 format('%s tCO2e%s%s; national review: %s', p_tonnes,
                                        coalesce(', ' || p_findings, ''),
                                        CASE WHEN voided > 0 THEN format('; %s approval(s) of version %s voided', voided, r.data_version) ELSE '' END,
                                        CASE WHEN cardinality(a.reasons) = 0 THEN 'not required'
                                             ELSE array_to_string(a.reasons, ', ') END));
    RETURN v;
END
$$;
COMMENT ON FUNCTION carbonmkt._mrv_verify(bigint, text, bigint, carbonmkt.mrv_findings, text, bigint) IS
  'Internal: records a verification or estimate as a new data version and starts the review at city.';

CREATE FUNCTION carbonmkt.verify_report(report_id bigint, verified_t bigint, findings carbonmkt.mrv_findings,
                                        memo text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT carbonmkt._mrv_verify(report_id, 'verification', verified_t, findings, memo, acting_for) $$;
COMMENT ON FUNCTION carbonmkt.verify_report(bigint, bigint, carbonmkt.mrv_findings, text, bigint) IS
  'Verification (核查) by a technical service firm: the verified emissions in whole tCO2e and the findings (clean / problems).  A new data version; the national-review reasons are assessed and the tiered review starts at city.  A firm that compiled a report in the same province and year may not verify (CM108).  Returns the data version.';

CREATE FUNCTION carbonmkt.appoint_estimator(participant_id bigint, year int, firm bigint, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    me      carbonmkt.participant := carbonmkt._mrv_actor(acting_for, 'carbonmkt_authority');
    u       carbonmkt.participant := carbonmkt._mrv_unit(appoint_estimator.participant_id);
    f       carbonmkt.participant;
    r       carbonmkt.mrv_rule;
    old     carbonmkt.mrv_report;
    due     date;
    id      bigint;
    ts      timestamptz := carbonmkt.clock_now();
BEGIN
    PERFORM carbonmkt._mrv_authority_check(me, u, 'provincial_authority', 'appoint an estimator');
    IF year IS NULL OR year NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'report year must lie in 2005..2100: got %', coalesce(year::text, 'NULL') USING ERRCODE = 'CM103';
    END IF;
    r := carbonmkt._mrv_rule(u.province, year);
    due := make_date(year + 1, r.report_due_month, r.report_due_day);
    SELECT * INTO old FROM carbonmkt.mrv_report x WHERE x.participant_id = u.participant_id AND x.year = appoint_estimator.year;
    IF FOUND THEN
        RAISE EXCEPTION 'unit % already has report % for %', u.participant_id, old.report_id, year
            USING ERRCODE = 'CM114', DETAIL = format('Report %s is %s.', old.report_id, old.status),
                  HINT = 'Art. 40 estimation is for a unit that failed to report.';
    END IF;
    IF carbonmkt.business_date(ts) <= due THEN
        RAISE EXCEPTION 'the % report of unit % is due %: an estimator may be appointed only after that', year,
            u.participant_id, to_char(due, 'YYYY-MM-DD') USING ERRCODE = 'CM110';
    END IF;
    SELECT * INTO f FROM carbonmkt.participant x WHERE x.participant_id = firm;
    IF NOT FOUND OR f.kind <> 'service_firm' THEN
        RAISE EXCEPTION 'an estimate is made by a technical service firm (技术服务机构): participant % is %',
            firm, coalesce(f.kind::text, 'unknown') USING ERRCODE = 'CM107';
    END IF;
    IF EXISTS (SELECT 1 FROM carbonmkt.mrv_report x JOIN carbonmkt.participant p USING (participant_id)
                WHERE x.compiled_by = firm AND p.province = u.province AND x.year = appoint_estimator.year) THEN
        RAISE EXCEPTION 'conflict of interest: service firm % compiles reports in province % for % and may not estimate there',
            firm, u.province, year
            USING ERRCODE = 'CM108', HINT = 'Decree 775: one firm may not both compile and technically review in the same province.';
    END IF;
    INSERT INTO carbonmkt.mrv_report AS x (participant_id, year, estimated, estimator_id, gwp_set, due_date,
                                           submitted_at, late, state_since)
    VALUES (u.participant_id, appoint_estimator.year, true, firm, r.gwp_set, due, ts, true, ts)
    RETURNING x.report_id INTO id;
    PERFORM carbonmkt._mrv_event(id, 1, 'estimator_appointed', me.participant_id,
                                 format('unit failed to report by %s; service firm %s appointed (Art. 40)', due, firm));
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.appoint_estimator(bigint, int, bigint, bigint) IS
  'Art. 40: when a unit has not reported by the deadline, its provincial authority appoints a technical service firm to estimate its emissions; creates the (estimated) report and returns its id.';

CREATE FUNCTION carbonmkt.estimate_emissions(report_id bigint, estimated_t bigint, memo text DEFAULT NULL,
                                             acting_for bigint DEFAULT NULL)
RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT carbonmkt._mrv_verify(report_id, 'estimate', estimated_t, NULL, memo, acting_for) $$;
COMMENT ON FUNCTION carbonmkt.estimate_emissions(bigint, bigint, text, bigint) IS
  'The appointed firm''s estimate (测算, Art. 40) in whole tCO2e: it stands as the basis (confirmed with basis ''estimated'') once the tiers approve it.  Returns the data version.';

CREATE FUNCTION carbonmkt.appeal_verification(report_id bigint, reason text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    r   carbonmkt.mrv_report := carbonmkt._mrv_lock_report(report_id);
    u   carbonmkt.participant := carbonmkt._mrv_as_unit(r.participant_id);
    id  bigint;
BEGIN
    IF r.estimated OR r.status NOT IN ('in_review', 'returned', 'approved') THEN
        IF r.estimated THEN
            RAISE EXCEPTION 'report % is an estimate (Art. 40), not a verification result', r.report_id USING ERRCODE = 'CM110';
        END IF;
        PERFORM carbonmkt._mrv_state_error(r, 'appealed');
    END IF;
    IF btrim(coalesce(appeal_verification.reason, '')) = '' THEN
        RAISE EXCEPTION 'an appeal needs its grounds' USING ERRCODE = '22023';
    END IF;
    INSERT INTO carbonmkt.mrv_appeal AS x (report_id, data_version, grounds, filed_by, filed_at)
    VALUES (r.report_id, r.data_version, appeal_verification.reason, coalesce(carbonmkt.caller_participant(), u.participant_id), carbonmkt.clock_now())
    RETURNING x.appeal_id INTO id;
    UPDATE carbonmkt.mrv_report x SET status = 'appealed', pending_tier = NULL, state_since = carbonmkt.clock_now()
     WHERE x.report_id = r.report_id;
    PERFORM carbonmkt._mrv_event(r.report_id, r.data_version, 'appealed', u.participant_id, appeal_verification.reason);
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.appeal_verification(bigint, text) IS
  'The unit appeals (申诉, Art. 28) the verification result of its report to the provincial authority; review pauses until the appeal is decided.  Returns the appeal id.';

CREATE FUNCTION carbonmkt.decide_appeal(appeal_id bigint, upheld boolean, verified_t bigint DEFAULT NULL,
                                        memo text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    me  carbonmkt.participant := carbonmkt._mrv_actor(acting_for, 'carbonmkt_authority');
    ap  carbonmkt.mrv_appeal;
    r   carbonmkt.mrv_report;
    v   int;
    a   carbonmkt.mrv_assessment;
BEGIN
    SELECT * INTO ap FROM carbonmkt.mrv_appeal x WHERE x.appeal_id = decide_appeal.appeal_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'appeal % does not exist', decide_appeal.appeal_id USING ERRCODE = 'CM115';
    END IF;
    r := carbonmkt._mrv_lock_report(ap.report_id);
    PERFORM carbonmkt._mrv_authority_check(me, carbonmkt._mrv_unit(r.participant_id), 'provincial_authority', 'decide appeals');
    SELECT * INTO ap FROM carbonmkt.mrv_appeal x WHERE x.appeal_id = decide_appeal.appeal_id;
    IF ap.decision IS NOT NULL THEN
        RAISE EXCEPTION 'appeal % is already decided: %', ap.appeal_id, ap.decision USING ERRCODE = 'CM110';
    END IF;
    IF upheld IS NULL THEN
        RAISE EXCEPTION 'an appeal is upheld or dismissed: got NULL' USING ERRCODE = '22023';
    END IF;
    PERFORM carbonmkt._check_plausible('decide_appeal', 'verified_t', 'reported_emissions_t',
                                       (SELECT p.sector FROM carbonmkt.participant p WHERE p.participant_id = r.participant_id),
                                       decide_appeal.verified_t);
    IF upheld AND (verified_t IS NULL OR verified_t < 0) THEN
        RAISE EXCEPTION 'an upheld appeal sets the verified emissions (non-negative whole tCO2e): got %',
            coalesce(verified_t::text, 'NULL') USING ERRCODE = 'CM101';
    END IF;
    UPDATE carbonmkt.mrv_appeal x
       SET decision = CASE WHEN upheld THEN 'upheld' ELSE 'dismissed' END, decided_by = me.participant_id,
           decided_at = carbonmkt.clock_now(), new_verified_t = CASE WHEN upheld THEN decide_appeal.verified_t END,
           note = decide_appeal.memo
     WHERE x.appeal_id = ap.appeal_id;
    IF upheld THEN
        v := r.data_version + 1;
        UPDATE carbonmkt.mrv_report x SET data_version = v, verified_t = decide_appeal.verified_t
         WHERE x.report_id = r.report_id;
        a := carbonmkt._mrv_start_review(r.report_id);
        PERFORM carbonmkt._mrv_event(r.report_id, v, 'appeal_upheld', me.participant_id,
                                     format('verified emissions %s -> %s tCO2e; %s approval(s) voided; review restarts at city%s',
                                            r.verified_t, decide_appeal.verified_t, carbonmkt._mrv_voided(r.report_id, r.data_version),
                                            coalesce(': ' || decide_appeal.memo, '')));
    ELSE
        v := r.data_version;
        PERFORM carbonmkt._mrv_resume(r.report_id);
        PERFORM carbonmkt._mrv_event(r.report_id, v, 'appeal_dismissed', me.participant_id, decide_appeal.memo);
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION carbonmkt.decide_appeal(bigint, boolean, bigint, text, bigint) IS
  'The provincial authority decides an appeal: upheld sets new verified emissions (a new data version, review restarts at city); dismissed resumes the review where it stood.  Returns the report''s data version.';

CREATE FUNCTION carbonmkt.name_for_national_review(participant_id bigint, year int, reason text, acting_for bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    me  carbonmkt.participant := carbonmkt._mrv_actor(acting_for, 'carbonmkt_authority');
    u   carbonmkt.participant := carbonmkt._mrv_unit(name_for_national_review.participant_id);
    r   carbonmkt.mrv_report;
BEGIN
    PERFORM carbonmkt._mrv_authority_check(me, u, 'national_authority', 'name units for national review');
    IF year IS NULL OR year NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'report year must lie in 2005..2100: got %', coalesce(year::text, 'NULL') USING ERRCODE = 'CM103';
    END IF;
    IF btrim(coalesce(reason, '')) = '' THEN
        RAISE EXCEPTION 'naming a unit for national review needs a reason' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM carbonmkt.mrv_national_naming n WHERE n.participant_id = name_for_national_review.participant_id AND n.year = name_for_national_review.year) THEN
        RAISE EXCEPTION 'unit % is already named for national review of %', name_for_national_review.participant_id, year USING ERRCODE = 'CM114';
    END IF;
    INSERT INTO carbonmkt.mrv_national_naming VALUES (name_for_national_review.participant_id, name_for_national_review.year, reason, me.participant_id, carbonmkt.clock_now());
    SELECT * INTO r FROM carbonmkt.mrv_report x WHERE x.participant_id = name_for_national_review.participant_id AND x.year = name_for_national_review.year FOR UPDATE;
    IF FOUND AND r.status IN ('in_review', 'returned', 'approved', 'appealed') THEN
        IF NOT 'named' = ANY (r.national_reasons) THEN
            UPDATE carbonmkt.mrv_report x
               SET national_reasons = ARRAY['named'] || x.national_reasons,
                   assessment = jsonb_set(coalesce(x.assessment, '{}'), '{named}', 'true')
             WHERE x.report_id = r.report_id;
        END IF;
        IF r.status = 'approved' THEN
            PERFORM carbonmkt._mrv_resume(r.report_id);   -- now waits for national review
        END IF;
        PERFORM carbonmkt._mrv_event(r.report_id, r.data_version, 'named', me.participant_id, reason);
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt.name_for_national_review(bigint, int, text, bigint) IS
  'The national authority names a unit for re-review of a year (Art. 29(1)): its report then needs national approval, also if the province already approved it.  A confirmed figure needs carbonmkt.reopen_emissions() instead.';

-- Public API: the tiered review ---------------------------------------------------------------

CREATE FUNCTION carbonmkt.review_report(report_id bigint, decision text, reason text DEFAULT NULL,
                                        data_version int DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    me  carbonmkt.participant := carbonmkt._mrv_actor(acting_for, 'carbonmkt_authority');
    t   carbonmkt.mrv_tier;
    v   int := review_report.data_version;
    id  bigint;
BEGIN
    t := CASE me.kind WHEN 'city_authority' THEN 'city' WHEN 'provincial_authority' THEN 'province'
                      WHEN 'national_authority' THEN 'national' END;
    IF t IS NULL THEN
        RAISE EXCEPTION 'participant % is a %: reports are reviewed by city, provincial and national authorities',
            me.participant_id, me.kind USING ERRCODE = 'CM107';
    END IF;
    IF review_report.report_id IS NULL THEN
        RAISE EXCEPTION 'review_report: argument report_id must not be NULL' USING ERRCODE = 'CM904';
    END IF;
    IF decision IS NULL OR decision NOT IN ('approve', 'reject') THEN
        RAISE EXCEPTION 'a review decision is approve or reject: got %', coalesce(decision, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF decision = 'reject' AND btrim(coalesce(reason, '')) = '' THEN
        RAISE EXCEPTION 'a rejection needs a reason' USING ERRCODE = '22023',
            HINT = 'The reason goes back to the unit with the report.';
    END IF;
    IF v IS NULL THEN
        SELECT x.data_version INTO v FROM carbonmkt.mrv_report x WHERE x.report_id = review_report.report_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'report % does not exist', review_report.report_id USING ERRCODE = 'CM115';
        END IF;
    END IF;
    -- the C trigger carbonmkt.mrv_review_guard() checks the tier order, the reviewer and the
    -- data version under a lock of the report, and moves the report on
    INSERT INTO carbonmkt.mrv_review AS x (report_id, data_version, tier, reviewer_id, decision, reason)
    VALUES (review_report.report_id, v, t, me.participant_id, decision, reason)
    RETURNING x.review_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.review_report(bigint, text, text, int, bigint) IS
  'A tier''s review (三级联审) of a report: decision approve or reject (with a reason, returned to the unit).  The tier is the acting authority''s (city/provincial/national); data_version is the version reviewed (default: the current one) so that a review of data that changed meanwhile fails (CM111).  Returns the review id.';

CREATE FUNCTION carbonmkt.approve_report(report_id bigint, data_version int DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT carbonmkt.review_report(report_id, 'approve', NULL, data_version, acting_for) $$;
COMMENT ON FUNCTION carbonmkt.approve_report(bigint, int, bigint) IS 'review_report(report_id, ''approve'', ...): the acting authority''s tier approves.';

CREATE FUNCTION carbonmkt.reject_report(report_id bigint, reason text, data_version int DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT carbonmkt.review_report(report_id, 'reject', reason, data_version, acting_for) $$;
COMMENT ON FUNCTION carbonmkt.reject_report(bigint, text, int, bigint) IS 'review_report(report_id, ''reject'', reason, ...): the acting authority''s tier returns the report to the unit.';

CREATE FUNCTION carbonmkt.confirm_emissions(report_id bigint, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    me      carbonmkt.participant := carbonmkt._mrv_actor(acting_for, 'carbonmkt_authority');
    r       carbonmkt.mrv_report := carbonmkt._mrv_lock_report(report_id);
    missing carbonmkt.mrv_tier[];
    ts      timestamptz := carbonmkt.clock_now();
BEGIN
    PERFORM carbonmkt._mrv_authority_check(me, carbonmkt._mrv_unit(r.participant_id), 'provincial_authority',
                                           'confirm emissions');
    IF r.status NOT IN ('in_review', 'approved') THEN
        PERFORM carbonmkt._mrv_state_error(r, 'confirmed');
    END IF;
    -- independent of the report's cached state: the approvals of the current data version
    missing := carbonmkt.mrv_missing_tiers(r.report_id);
    IF cardinality(missing) > 0 THEN
        RAISE EXCEPTION 'report % cannot be confirmed: the % tier% not approved it', r.report_id,
            array_to_string(missing, ', '), CASE WHEN cardinality(missing) = 1 THEN ' has' ELSE 's have' END
            USING ERRCODE = 'CM109',
                  DETAIL = format('Required tiers: %s (national review %s). Data version %s.',
                                  array_to_string(carbonmkt._mrv_required_tiers(r.national_reasons), ', '),
                                  CASE WHEN cardinality(r.national_reasons) = 0 THEN 'not required'
                                       ELSE 'required: ' || array_to_string(r.national_reasons, ', ') END,
                                  r.data_version),
                  HINT = 'Confirmation (经确认排放量, Art. 30) needs the approval of every required tier of the current data.';
    END IF;
    INSERT INTO carbonmkt.confirmed_emission (participant_id, year, emissions_t, basis, report_id, confirmed_by, confirmed_at)
    VALUES (r.participant_id, r.year, r.verified_t, CASE WHEN r.estimated THEN 'estimated' ELSE 'verified' END,
            r.report_id, me.participant_id, ts);
    UPDATE carbonmkt.mrv_report x SET status = 'confirmed', pending_tier = NULL, state_since = ts
     WHERE x.report_id = r.report_id;
    PERFORM carbonmkt._mrv_event(r.report_id, r.data_version, 'confirmed', me.participant_id,
                                 format('%s tCO2e (%s)', r.verified_t, CASE WHEN r.estimated THEN 'estimated' ELSE 'verified' END));
    RETURN r.verified_t;
END
$$;
COMMENT ON FUNCTION carbonmkt.confirm_emissions(bigint, bigint) IS
  'Confirms (确认, Art. 30) a report''s emissions once every required tier approved its current data version (CM109 naming the missing tiers otherwise): writes carbonmkt.confirmed_emission (verified or estimated basis, who, when).  The unit''s provincial authority; returns the confirmed tCO2e.';

CREATE FUNCTION carbonmkt.reopen_emissions(participant_id bigint, year int, reason text, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'mrv' AS
$$
DECLARE
    me  carbonmkt.participant := carbonmkt._mrv_actor(acting_for, 'carbonmkt_authority');
    u   carbonmkt.participant := carbonmkt._mrv_unit(reopen_emissions.participant_id);
    c   carbonmkt.confirmed_emission;
    r   carbonmkt.mrv_report;
    v   int;
    ts  timestamptz := carbonmkt.clock_now();
BEGIN
    PERFORM carbonmkt._mrv_authority_check(me, u, 'national_authority', 're-open confirmed emissions');
    IF btrim(coalesce(reason, '')) = '' THEN
        RAISE EXCEPTION 'a re-opening needs a reason' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO c FROM carbonmkt.confirmed_emission x
     WHERE x.participant_id = reopen_emissions.participant_id AND x.year = reopen_emissions.year FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unit % has no confirmed emissions for %', reopen_emissions.participant_id, year USING ERRCODE = 'CM115';
    END IF;
    IF c.report_id IS NOT NULL THEN
        SELECT * INTO r FROM carbonmkt.mrv_report x WHERE x.report_id = c.report_id FOR UPDATE;
    END IF;
    INSERT INTO carbonmkt.mrv_reopening (participant_id, year, report_id, old_emissions_t, old_basis, old_confirmed_by,
                                         old_confirmed_at, reason, reopened_by, reopened_at)
    VALUES (c.participant_id, c.year, c.report_id, c.emissions_t, c.basis, c.confirmed_by, c.confirmed_at,
            reason, me.participant_id, ts);
    -- the guard lets this through: the re-opening is recorded and acting_room is 'mrv'
    DELETE FROM carbonmkt.confirmed_emission x WHERE x.participant_id = reopen_emissions.participant_id AND x.year = reopen_emissions.year;
    IF r.report_id IS NOT NULL THEN
        v := r.data_version + 1;
        UPDATE carbonmkt.mrv_report x SET data_version = v WHERE x.report_id = r.report_id;
        PERFORM carbonmkt._mrv_start_review(r.report_id);
        PERFORM carbonmkt._mrv_event(r.report_id, v, 'reopened', me.participant_id,
                                     format('confirmed %s tCO2e (%s) re-opened: %s; review restarts at city, national review required',
                                            c.emissions_t, c.basis, reason));
    END IF;
    RETURN r.report_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.reopen_emissions(bigint, int, text, bigint) IS
  'The national authority re-opens a unit''s confirmed emissions of a year: records the confirmed row and the reason (carbonmkt.mrv_reopening), removes it from carbonmkt.confirmed_emission, and sends the report back to review at city with national review required.  Returns the report id.';

-- Who may read what (row-level security helpers) -----------------------------------------

CREATE FUNCTION carbonmkt.mrv_reads_all() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT carbonmkt._is_member('carbonmkt_registry') OR carbonmkt._is_member('carbonmkt_bi') $$;
COMMENT ON FUNCTION carbonmkt.mrv_reads_all() IS
  'True when the login reads all MRV data: a superuser, the registry (staff) or BI.';

CREATE FUNCTION carbonmkt.mrv_visible(participant_id bigint, VARIADIC other_participants bigint[] DEFAULT '{}')
RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    me  bigint;
    m   carbonmkt.participant;
    u   carbonmkt.participant;
BEGIN
    IF carbonmkt.mrv_reads_all() THEN
        RETURN true;
    END IF;
    me := carbonmkt.caller_participant();
    IF me IS NULL THEN
        RETURN false;
    END IF;
    IF me = mrv_visible.participant_id OR me = ANY (other_participants) THEN
        RETURN true;
    END IF;
    SELECT * INTO m FROM carbonmkt.participant x WHERE x.participant_id = me;
    IF m.kind NOT IN ('national_authority', 'provincial_authority', 'city_authority')
       OR NOT carbonmkt._is_member('carbonmkt_authority') THEN
        RETURN false;
    END IF;
    IF m.kind = 'national_authority' THEN
        RETURN true;
    END IF;
    SELECT * INTO u FROM carbonmkt.participant x WHERE x.participant_id = mrv_visible.participant_id;
    RETURN CASE m.kind WHEN 'provincial_authority' THEN u.province = m.province
                       ELSE u.city = m.city END;
END
$$;
COMMENT ON FUNCTION carbonmkt.mrv_visible(bigint, bigint[]) IS
  'Row-level security of the MRV tables: whether the login may read the MRV data of a unit (participant_id): the unit itself (or a participant among other_participants, e.g. the firm that compiled or verified a report), the authorities of its city, province or the nation, staff and BI.';

-- Views for authorities -----------------------------------------------------------------

-- The units MRV expects data from, and the years: every key emitting unit with an approved
-- monitoring plan, from the plan's first year; and every key emitting unit of a covered sector
-- without one ("no plan"), from its sector's first covered year (sector.covered_from) but not
-- before the first year any monitoring plan covers; up to the current business year.  Rows
-- limited to the units the login may read (mrv_visible), evaluated once for staff and BI.
CREATE VIEW carbonmkt._mrv_unit_year AS
WITH plan AS (
    SELECT x.participant_id, min(x.from_year) AS first_year
      FROM carbonmkt.mrv_plan x
     WHERE x.decided_at IS NOT NULL AND x.status <> 'rejected'
     GROUP BY x.participant_id
), span AS MATERIALIZED (
    SELECT (SELECT min(x.from_year) FROM carbonmkt.mrv_plan x) AS mrv_first_year,
           carbonmkt.business_date() AS today,
           extract(year FROM carbonmkt.business_date())::int AS this_year
)
SELECT u.participant_id, u.name, u.province, u.city, u.sector, p.participant_id IS NOT NULL AS has_plan,
       y.year, span.today, span.this_year
  FROM carbonmkt.participant u
  JOIN carbonmkt.sector sec ON sec.code = u.sector
  LEFT JOIN plan p ON p.participant_id = u.participant_id
 CROSS JOIN span
  -- the years as a join on a constant series (the range of mrv_plan.from_year), not a series
  -- per unit: the planner then knows it is a few years a unit, not a thousand; no unit's first
  -- year is before the first year of any plan, which bounds the series before the join (no
  -- BETWEEN: the upgrade script recreates this view from its deparsed text, and BETWEEN's
  -- nested AND would come back flat)
  JOIN generate_series(2005, 2100) AS y(year)
    ON y.year >= coalesce(p.first_year, greatest(sec.covered_from, span.mrv_first_year))
   AND y.year <= span.this_year
   AND y.year >= coalesce(span.mrv_first_year, 2005)
 WHERE u.kind = 'key_emitter'
   AND (p.participant_id IS NOT NULL OR sec.covered_from IS NOT NULL)
   AND ((SELECT carbonmkt.mrv_reads_all()) OR carbonmkt.mrv_visible(u.participant_id));
COMMENT ON VIEW carbonmkt._mrv_unit_year IS
  'Internal: the units and years the MRV views expect data for (key emitting units with an approved monitoring plan from its first year; those of a covered sector without one, has_plan false, from the sector''s first covered year but not before the first year of any plan), up to the current business year, limited to the units the login may read (mrv_visible).';

CREATE VIEW carbonmkt._mrv_deposit_year AS
-- One row per unit and year expected (_mrv_unit_year) with the 12 due dates of its deposits,
-- how many of them are past and the number of parameters required; the deposits themselves
-- are read from their summary per unit and month (_mrv_deposit_months) by the views.  The rule
-- is looked up once per province and year, the due dates computed once per year and deadline.
WITH uy AS MATERIALIZED (
    SELECT * FROM carbonmkt._mrv_unit_year
), rule AS MATERIALIZED (
    SELECT q.province, q.year, q.today, (carbonmkt.mrv_rule_for(q.province, q.year)).deposit_due_days AS due_days
      FROM (SELECT DISTINCT uy.province, uy.year, uy.today FROM uy) q
), due AS MATERIALIZED (
    SELECT r.province, r.year, r.today, d.due, (SELECT count(*) FROM unnest(d.due) x WHERE x < r.today)::int AS past_due
      FROM rule r
      LEFT JOIN (SELECT p.year, p.due_days,
                   ARRAY(SELECT carbonmkt.mrv_deposit_due(p.year, m, p.due_days) FROM generate_series(1, 12) m ORDER BY m) AS due
              FROM (SELECT DISTINCT r.year, r.due_days FROM rule r) p) d
        ON d.year = r.year AND d.due_days IS NOT DISTINCT FROM r.due_days
), req AS MATERIALIZED (
    SELECT y.sector, y.year, count(sp.parameter)::int AS required
      FROM (SELECT DISTINCT uy.sector, uy.year FROM uy) y
      LEFT JOIN carbonmkt.mrv_sector_parameter sp
        ON sp.sector = y.sector AND sp.from_year <= y.year AND (sp.until_year IS NULL OR sp.until_year >= y.year)
     GROUP BY y.sector, y.year
), cell AS MATERIALIZED (
    -- per province, sector and year: the due dates and the parameters required
    SELECT c.province, c.sector, c.year, d.due, d.today, d.past_due, q.required
      FROM (SELECT DISTINCT uy.province, uy.sector, uy.year FROM uy) c
      JOIN due d ON d.province = c.province AND d.year = c.year
      JOIN req q ON q.sector = c.sector AND q.year = c.year
)
SELECT uy.participant_id, uy.province, uy.city, uy.sector, uy.year, uy.has_plan, k.due, k.today, uy.this_year,
       k.past_due, k.required
  FROM uy
  -- every unit and year has its one row of cell (made from uy): LEFT JOIN only so that the
  -- planner estimates the rows of uy here, not a product of selectivities near 1 row (which
  -- made later steps loop over whole inputs once per row)
  LEFT JOIN cell k ON k.province = uy.province AND k.sector = uy.sector AND k.year = uy.year;
COMMENT ON VIEW carbonmkt._mrv_deposit_year IS
  'Internal: per key emitting unit and year expected (_mrv_unit_year): the 12 due dates of its monthly deposits, the business date, how many due dates are past and the parameters required.  Read by mrv_deposit_status and mrv_data_quality with the deposits per unit and month (_mrv_deposit_months).';

CREATE VIEW carbonmkt.mrv_deposit_status AS
-- the unit-years expected with their months' deposit summary, spread over the 12 months
SELECT y.participant_id, y.province, y.city, y.sector, y.year, m.month, y.due[m.month] AS due_date, y.required,
       coalesce(s.deposited[m.month], 0) AS deposited, coalesce(s.late[m.month], false) AS late,
       coalesce(s.corrected[m.month], false) AS corrected,
       CASE WHEN NOT y.has_plan THEN 'no_plan'
            WHEN coalesce(s.deposited[m.month], 0) >= y.required
                 THEN CASE WHEN s.late[m.month] THEN 'late' ELSE 'on_time' END
            WHEN y.due[m.month] >= y.today THEN 'open'
            ELSE 'missing' END AS status
  FROM carbonmkt._mrv_deposit_year y
  LEFT JOIN carbonmkt._mrv_deposit_months s ON s.participant_id = y.participant_id AND s.year = y.year
 CROSS JOIN generate_series(1, 12) AS m(month);
COMMENT ON VIEW carbonmkt.mrv_deposit_status IS
  'Monthly deposit status (关键参数月度存证) of every key emitting unit, per year and month: units with an approved monitoring plan from the plan''s first year to now; units of a covered sector without one (status no_plan) from the sector''s first covered year, not before the first year of any plan.  Required and deposited key parameters, the due date, and status on_time, late (some parameter first deposited after the due date), missing (incomplete after the due date), open (incomplete, not yet due) or no_plan (no approved monitoring plan, 未备案监测计划); corrected when a parameter has more than one version.  An authority sees its jurisdiction, a unit itself, staff and BI every unit.';
COMMENT ON COLUMN carbonmkt.mrv_deposit_status.participant_id IS 'The key emitting unit.';
COMMENT ON COLUMN carbonmkt.mrv_deposit_status.province IS 'Its province (GB/T 2260 code).';
COMMENT ON COLUMN carbonmkt.mrv_deposit_status.city IS 'Its city (GB/T 2260 code).';
COMMENT ON COLUMN carbonmkt.mrv_deposit_status.sector IS 'Its sector.';
COMMENT ON COLUMN carbonmkt.mrv_deposit_status.year IS 'Reporting year.';
COMMENT ON COLUMN carbonmkt.mrv_deposit_status.month IS 'Month 1-12.';
COMMENT ON COLUMN carbonmkt.mrv_deposit_status.due_date IS 'The month''s deposit deadline (mrv_deposit_due with the rule''s deposit_due_days).';
COMMENT ON COLUMN carbonmkt.mrv_deposit_status.required IS 'Key parameters the sector deposits each month of the year (mrv_sector_parameter).';
COMMENT ON COLUMN carbonmkt.mrv_deposit_status.deposited IS 'Required parameters deposited for the month (any version).';
COMMENT ON COLUMN carbonmkt.mrv_deposit_status.late IS 'Some parameter''s first version came after the due date.';
COMMENT ON COLUMN carbonmkt.mrv_deposit_status.corrected IS 'Some parameter has more than one version.';
COMMENT ON COLUMN carbonmkt.mrv_deposit_status.status IS 'on_time, late, missing, open or no_plan.';

CREATE VIEW carbonmkt.mrv_deposit_anomaly AS
-- Read from the summary per unit, year and parameter (_mrv_deposit_parameter_year: months with
-- a value, their total, the smallest and the largest value in force), not from every deposit.
-- A value x among n months of total S deviates from the mean of the other months by
-- |n x - S| / (S - x), which grows with x above the mean and falls with it below: so a unit,
-- year and parameter has an anomaly only if its largest or its smallest value is one.  Those
-- are picked with exact products against the lowest threshold of any rule (minus a margin of
-- 1e-6, so that no rounding can drop one), then the rule's own threshold is looked up for the
-- few left, their deposits read (the value in force of each month: its latest version) and
-- each month's deviation computed and compared as before.
WITH t0 AS MATERIALIZED (
    SELECT s.participant_id, s.year, s.parameter, s.months, s.total, u.province, u.city
      FROM carbonmkt._mrv_deposit_parameter_year s
      JOIN carbonmkt.participant u ON u.participant_id = s.participant_id
     CROSS JOIN (SELECT min(r.anomaly_threshold) * 0.999999 AS lowest FROM carbonmkt.mrv_rule r) k
     WHERE s.months > 1
       AND ((s.total > s.max_value AND abs(s.months * s.max_value - s.total) >= k.lowest * (s.total - s.max_value))
            OR (s.total > s.min_value AND abs(s.months * s.min_value - s.total) >= k.lowest * (s.total - s.min_value)))
       AND ((SELECT carbonmkt.mrv_reads_all()) OR carbonmkt.mrv_visible(u.participant_id))
), rule AS MATERIALIZED (
    SELECT k.province, k.year, (carbonmkt.mrv_rule_for(k.province, k.year)).anomaly_threshold AS threshold
      FROM (SELECT DISTINCT t0.province, t0.year FROM t0) k
), t AS MATERIALIZED (
    SELECT t0.*, r.threshold FROM t0 JOIN rule r ON r.province = t0.province AND r.year = t0.year
), x AS (
    SELECT DISTINCT ON (d.participant_id, d.year, d.parameter, d.month)
           d.participant_id, d.year, d.month, d.parameter, d.version, d.value
      FROM t JOIN carbonmkt.mrv_deposit d ON d.participant_id = t.participant_id AND d.year = t.year AND d.parameter = t.parameter
     ORDER BY d.participant_id, d.year, d.parameter, d.month, d.version DESC
)
SELECT x.participant_id, t.province, t.city, x.year, x.month, x.parameter, x.version, x.value,
       round(m.others_mean, 3) AS others_mean,
       round(abs(x.value - m.others_mean) / m.others_mean, 4) AS deviation,
       t.threshold AS anomaly_threshold
  FROM x
  JOIN t ON t.participant_id = x.participant_id AND t.year = x.year AND t.parameter = x.parameter
 CROSS JOIN LATERAL (SELECT (t.total - x.value) / (t.months - 1) AS others_mean) m
 WHERE m.others_mean > 0 AND abs(x.value - m.others_mean) / m.others_mean > t.threshold;
COMMENT ON VIEW carbonmkt.mrv_deposit_anomaly IS
  'Anomaly screening of monthly deposits: the latest value of a parameter in a month that deviates from the mean of the same parameter''s other months of the year by more than mrv_rule.anomaly_threshold.  An authority sees its jurisdiction, a unit itself, staff and BI every unit.';

CREATE VIEW carbonmkt.mrv_report_waiting AS
WITH uy AS MATERIALIZED (
    SELECT * FROM carbonmkt._mrv_unit_year
), clock AS MATERIALIZED (
    SELECT carbonmkt.clock_now() AS now
), rl AS MATERIALIZED (
    -- per province and year over: when the wait for the report starts, when it is due (the rule
    -- looked up once per province and year)
    SELECT k.province, k.year, make_timestamptz(k.year + 1, 1, 1, 0, 0, 0, 'Asia/Shanghai') AS since,
           make_date(k.year + 1, (k.r).report_due_month, (k.r).report_due_day) AS due_date
      FROM (SELECT q.province, q.year, carbonmkt.mrv_rule_for(q.province, q.year) AS r
              FROM (SELECT DISTINCT x.province, x.year FROM uy x WHERE x.year < x.this_year) q) k
)
SELECT r.report_id, r.participant_id, u.name AS unit, u.province, u.city, r.year, r.status::text AS status,
       CASE r.status WHEN 'in_review' THEN r.pending_tier::text
                     WHEN 'approved' THEN 'confirmation'
                     WHEN 'appealed' THEN 'appeal decision'
                     WHEN 'returned' THEN 'unit correction'
                     WHEN 'submitted' THEN CASE WHEN r.estimated THEN 'estimate' ELSE 'verification' END END AS waiting_for,
       r.data_version, r.national_reasons, r.state_since AS since,
       clock.now - r.state_since AS waiting, r.due_date
  FROM carbonmkt.mrv_report r JOIN carbonmkt.participant u ON u.participant_id = r.participant_id
 CROSS JOIN clock
 WHERE r.status <> 'confirmed'
   AND ((SELECT carbonmkt.mrv_reads_all())
        OR carbonmkt.mrv_visible(r.participant_id, r.compiled_by, r.verifier_id, r.estimator_id))
UNION ALL
-- a year that is over without a report of the unit (未报送): the report can be filed from 1
-- January of the next year, and is due by the rule's report deadline
SELECT NULL, uy.participant_id, uy.name, uy.province, uy.city, uy.year, 'not_filed',
       CASE WHEN uy.has_plan THEN 'report' ELSE 'monitoring plan and report' END,
       NULL, '{}', rl.since, clock.now - rl.since, rl.due_date
  FROM uy
 CROSS JOIN clock
 JOIN rl ON rl.province = uy.province AND rl.year = uy.year
 WHERE uy.year < uy.this_year
   AND NOT EXISTS (SELECT 1 FROM carbonmkt.mrv_report r WHERE r.participant_id = uy.participant_id AND r.year = uy.year);
COMMENT ON VIEW carbonmkt.mrv_report_waiting IS
  'Every annual report not yet confirmed, and every year that is over without a report (status not_filed, 未报送): what it waits for (verification, estimate, a tier''s review, an appeal decision, the unit''s correction, confirmation; the report, or the monitoring plan and the report, of a unit that has filed neither), since when and for how long (by carbonmkt.clock_now()), and the report''s due date.  An authority sees its jurisdiction, a unit (and the service firm of a report) its own, staff and BI everything.';
COMMENT ON COLUMN carbonmkt.mrv_report_waiting.report_id IS 'The report; NULL for a year without one (not_filed).';
COMMENT ON COLUMN carbonmkt.mrv_report_waiting.participant_id IS 'The key emitting unit.';
COMMENT ON COLUMN carbonmkt.mrv_report_waiting.unit IS 'Its name.';
COMMENT ON COLUMN carbonmkt.mrv_report_waiting.province IS 'Its province.';
COMMENT ON COLUMN carbonmkt.mrv_report_waiting.city IS 'Its city.';
COMMENT ON COLUMN carbonmkt.mrv_report_waiting.year IS 'Reporting year.';
COMMENT ON COLUMN carbonmkt.mrv_report_waiting.status IS 'The report''s status (mrv_report_status as text), or not_filed.';
COMMENT ON COLUMN carbonmkt.mrv_report_waiting.waiting_for IS 'What the report waits for.';
COMMENT ON COLUMN carbonmkt.mrv_report_waiting.data_version IS 'The report''s data version; NULL when not filed.';
COMMENT ON COLUMN carbonmkt.mrv_report_waiting.national_reasons IS 'Why national review is required (empty when not).';
COMMENT ON COLUMN carbonmkt.mrv_report_waiting.since IS 'Since when it waits: its last change of state, or 1 January of the following year (China Standard Time) when not filed.';
COMMENT ON COLUMN carbonmkt.mrv_report_waiting.waiting IS 'clock_now() - since.';
COMMENT ON COLUMN carbonmkt.mrv_report_waiting.due_date IS 'The report''s deadline (mrv_rule report_due_month and report_due_day of the following year).';

CREATE VIEW carbonmkt.mrv_review_queue AS
SELECT q.authority_id, a.name AS authority, q.task, q.report_id, q.plan_id, q.appeal_id,
       q.unit_id, u.name AS unit, u.province, u.city, q.year, q.detail,
       q.since, carbonmkt.clock_now() - q.since AS waiting
  FROM (
    SELECT a.participant_id AS authority_id, 'review ' || r.pending_tier AS task, r.report_id,
           NULL::bigint AS plan_id, NULL::bigint AS appeal_id, r.participant_id AS unit_id, r.year,
           format('data version %s, %s %s tCO2e%s', r.data_version, CASE WHEN r.estimated THEN 'estimated' ELSE 'verified' END,
                  r.verified_t, CASE WHEN cardinality(r.national_reasons) > 0
                                     THEN '; national review: ' || array_to_string(r.national_reasons, ', ') ELSE '' END) AS detail,
           r.state_since AS since
      FROM carbonmkt.mrv_report r
      JOIN carbonmkt.participant u ON u.participant_id = r.participant_id
      JOIN carbonmkt.participant a
        ON (r.pending_tier = 'city' AND a.kind = 'city_authority' AND a.city = u.city)
        OR (r.pending_tier = 'province' AND a.kind = 'provincial_authority' AND a.province = u.province)
        OR (r.pending_tier = 'national' AND a.kind = 'national_authority')
     WHERE r.status = 'in_review'
    UNION ALL
    SELECT a.participant_id, 'confirm', r.report_id, NULL, NULL, r.participant_id, r.year,
           format('%s %s tCO2e, every required tier approved', CASE WHEN r.estimated THEN 'estimated' ELSE 'verified' END, r.verified_t),
           r.state_since
      FROM carbonmkt.mrv_report r
      JOIN carbonmkt.participant u ON u.participant_id = r.participant_id
      JOIN carbonmkt.participant a ON a.kind = 'provincial_authority' AND a.province = u.province
     WHERE r.status = 'approved'
    UNION ALL
    SELECT a.participant_id, 'decide appeal', x.report_id, NULL, x.appeal_id, r.participant_id, r.year,
           x.grounds, x.filed_at
      FROM carbonmkt.mrv_appeal x
      JOIN carbonmkt.mrv_report r ON r.report_id = x.report_id
      JOIN carbonmkt.participant u ON u.participant_id = r.participant_id
      JOIN carbonmkt.participant a ON a.kind = 'provincial_authority' AND a.province = u.province
     WHERE x.decision IS NULL
    UNION ALL
    SELECT a.participant_id, 'approve monitoring plan', NULL, p.plan_id, NULL, p.participant_id, p.from_year,
           format('version %s from %s', p.version, p.from_year), p.filed_at
      FROM carbonmkt.mrv_plan p
      JOIN carbonmkt.participant u ON u.participant_id = p.participant_id
      JOIN carbonmkt.participant a ON a.kind = 'provincial_authority' AND a.province = u.province
     WHERE p.status = 'filed'
  ) q
  JOIN carbonmkt.participant a ON a.participant_id = q.authority_id
  JOIN carbonmkt.participant u ON u.participant_id = q.unit_id
 WHERE (SELECT carbonmkt.mrv_reads_all()) OR q.authority_id = (SELECT carbonmkt.caller_participant());
COMMENT ON VIEW carbonmkt.mrv_review_queue IS
  'What waits for each authority (待办): tier reviews at its tier and jurisdiction, confirmations, appeal decisions and monitoring plans to approve (provincial authority), since when and for how long.  An authority''s login sees its own queue; staff and BI see every queue (the view runs with its owner''s rights and filters the rows itself, once per query).';

CREATE VIEW carbonmkt.mrv_data_quality AS
-- the deposit figures counted per unit and year expected (_mrv_deposit_year) from the summary
-- of its deposited months (_mrv_deposit_months), without spreading them over the 12 months: a
-- unit-month is due when complete or past its deadline, missing when past it incomplete
WITH y AS MATERIALIZED (
    SELECT * FROM carbonmkt._mrv_deposit_year
), units AS MATERIALIZED (
    SELECT y.province, y.year, count(*) AS units, count(*) FILTER (WHERE NOT y.has_plan) AS units_no_plan,
           coalesce(sum(y.past_due) FILTER (WHERE y.has_plan), 0) AS months_past_due
      FROM y GROUP BY y.province, y.year
), months AS MATERIALIZED (
    -- counted per unit and year over its 12 months first, then summed per province and year
    SELECT y.province, y.year, sum(c.complete_not_due) AS complete_not_due, sum(c.complete_past_due) AS complete_past_due,
           sum(c.months_late) AS months_late, sum(c.months_corrected) AS months_corrected
      FROM y
      JOIN carbonmkt._mrv_deposit_months s ON s.participant_id = y.participant_id AND s.year = y.year
     CROSS JOIN LATERAL (
           SELECT count(*) FILTER (WHERE a.deposited >= y.required AND y.due[a.month] >= y.today) AS complete_not_due,
                  count(*) FILTER (WHERE a.deposited >= y.required AND y.due[a.month] < y.today) AS complete_past_due,
                  count(*) FILTER (WHERE a.deposited >= y.required AND a.late) AS months_late,
                  count(*) FILTER (WHERE a.corrected) AS months_corrected
             FROM unnest(s.deposited, s.late, s.corrected) WITH ORDINALITY AS a(deposited, late, corrected, month)
            WHERE a.deposited > 0) c
     WHERE y.has_plan
     GROUP BY y.province, y.year
), d AS MATERIALIZED (
    SELECT n.province, n.year, n.units, n.units_no_plan,
           n.months_past_due + coalesce(m.complete_not_due, 0) AS months_due,
           n.months_past_due - coalesce(m.complete_past_due, 0) AS months_missing,
           coalesce(m.months_late, 0) AS months_late, coalesce(m.months_corrected, 0) AS months_corrected
      FROM units n LEFT JOIN months m ON m.province = n.province AND m.year = n.year
), filed AS MATERIALIZED (
    SELECT r.participant_id, r.year FROM carbonmkt.mrv_report r
), nf AS MATERIALIZED (
    SELECT y.province, y.year, count(*) AS not_filed
      FROM y
     WHERE y.year < y.this_year
       AND NOT EXISTS (SELECT 1 FROM filed r WHERE r.participant_id = y.participant_id AND r.year = y.year)
     GROUP BY y.province, y.year
), a AS MATERIALIZED (
    SELECT x.province, x.year, count(*) AS anomalies
      FROM carbonmkt.mrv_deposit_anomaly x GROUP BY x.province, x.year
), r AS MATERIALIZED (
    SELECT u.province, r.year, count(*) AS reports,
           count(*) FILTER (WHERE r.late) AS reports_late,
           count(*) FILTER (WHERE r.estimated) AS estimated,
           count(*) FILTER (WHERE 'deviation' = ANY (r.national_reasons)) AS deviating,
           count(*) FILTER (WHERE cardinality(r.national_reasons) > 0) AS national_review,
           count(*) FILTER (WHERE r.status = 'submitted') AS waiting_verification,
           count(*) FILTER (WHERE r.status = 'in_review' AND r.pending_tier = 'city') AS waiting_city,
           max(n.now - r.state_since) FILTER (WHERE r.status = 'in_review' AND r.pending_tier = 'city') AS longest_city,
           count(*) FILTER (WHERE r.status = 'in_review' AND r.pending_tier = 'province') AS waiting_province,
           max(n.now - r.state_since) FILTER (WHERE r.status = 'in_review' AND r.pending_tier = 'province') AS longest_province,
           count(*) FILTER (WHERE r.status = 'in_review' AND r.pending_tier = 'national') AS waiting_national,
           max(n.now - r.state_since) FILTER (WHERE r.status = 'in_review' AND r.pending_tier = 'national') AS longest_national,
           count(*) FILTER (WHERE r.status = 'appealed') AS appealed,
           count(*) FILTER (WHERE r.status = 'returned') AS returned,
           count(*) FILTER (WHERE r.status = 'approved') AS waiting_confirmation,
           count(*) FILTER (WHERE r.status = 'confirmed') AS confirmed
      FROM carbonmkt.mrv_report r
      JOIN carbonmkt.participant u ON u.participant_id = r.participant_id
     CROSS JOIN (SELECT carbonmkt.clock_now() AS now) n
     WHERE (SELECT carbonmkt.mrv_reads_all()) OR carbonmkt.mrv_visible(u.participant_id)
     GROUP BY u.province, r.year
)
SELECT coalesce(d.province, r.province) AS province, g.name_zh AS province_name, coalesce(d.year, r.year) AS year,
       coalesce(d.units, 0) AS units, coalesce(d.months_due, 0) AS months_due,
       coalesce(d.months_missing, 0) AS months_missing, coalesce(d.months_late, 0) AS months_late,
       coalesce(d.months_corrected, 0) AS months_corrected, coalesce(a.anomalies, 0) AS deposit_anomalies,
       coalesce(r.reports, 0) AS reports, coalesce(r.reports_late, 0) AS reports_late,
       coalesce(r.estimated, 0) AS reports_estimated, coalesce(r.deviating, 0) AS reports_deviating,
       coalesce(r.national_review, 0) AS national_review_required,
       coalesce(r.waiting_verification, 0) AS waiting_verification,
       coalesce(r.waiting_city, 0) AS waiting_city, r.longest_city,
       coalesce(r.waiting_province, 0) AS waiting_province, r.longest_province,
       coalesce(r.waiting_national, 0) AS waiting_national, r.longest_national,
       coalesce(r.appealed, 0) AS appealed, coalesce(r.returned, 0) AS returned,
       coalesce(r.waiting_confirmation, 0) AS waiting_confirmation, coalesce(r.confirmed, 0) AS confirmed,
       coalesce(d.units_no_plan, 0) AS units_no_plan, coalesce(nf.not_filed, 0) AS reports_not_filed
  FROM d
  FULL JOIN r ON r.province = d.province AND r.year = d.year
  LEFT JOIN a ON a.province = coalesce(d.province, r.province) AND a.year = coalesce(d.year, r.year)
  LEFT JOIN nf ON nf.province = coalesce(d.province, r.province) AND nf.year = coalesce(d.year, r.year)
  LEFT JOIN carbonmkt.region g ON g.code = coalesce(d.province, r.province);
COMMENT ON VIEW carbonmkt.mrv_data_quality IS
  'Data quality per province and year (数据质量): key emitting units expected to report (with and without an approved monitoring plan), months due, missing, late and corrected monthly deposits (mrv_deposit_status), deposit anomalies, reports (late, estimated, deviating from their deposits, needing national review), how many reports wait at each stage with the longest wait per tier, units without a monitoring plan (未备案) and years over without a report (未报送).  An authority sees its jurisdiction, staff and BI every province.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.province IS 'Province (GB/T 2260 code).';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.province_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.year IS 'Reporting year.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.units IS 'Key emitting units expected to report for the year, with or without an approved monitoring plan.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.months_due IS 'Unit-months complete or past their deposit deadline (units with a plan).';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.months_missing IS 'Unit-months incomplete after the deadline.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.months_late IS 'Unit-months with a parameter first deposited late.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.months_corrected IS 'Unit-months with a corrected parameter.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.deposit_anomalies IS 'Rows of mrv_deposit_anomaly.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.reports IS 'Annual reports filed.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.reports_late IS 'Of which filed after the deadline.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.reports_estimated IS 'Of which estimated by an appointed verifier (Art. 40).';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.reports_deviating IS 'Of which deviating from the sum of their monthly deposits.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.national_review_required IS 'Of which needing national review.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.waiting_verification IS 'Reports waiting for verification or estimate.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.waiting_city IS 'Reports in review at city tier.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.longest_city IS 'Longest wait at city tier.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.waiting_province IS 'Reports in review at province tier.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.longest_province IS 'Longest wait at province tier.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.waiting_national IS 'Reports in review at national tier.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.longest_national IS 'Longest wait at national tier.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.appealed IS 'Reports under appeal.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.returned IS 'Reports returned to the unit for correction.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.waiting_confirmation IS 'Reports approved, waiting for confirmation.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.confirmed IS 'Reports confirmed.';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.units_no_plan IS 'Units without an approved monitoring plan (no plan, 未备案监测计划).';
COMMENT ON COLUMN carbonmkt.mrv_data_quality.reports_not_filed IS 'Units without a report for a year that is over (not filed, 未报送).';

-- Access ----------------------------------------------------------------------------------
-- Tables are written only through the SECURITY DEFINER functions above.  Reading: staff
-- (registry) and BI read everything; an authority reads its jurisdiction (city, province,
-- nation); a unit its own plans, deposits and reports; a service firm the reports it
-- compiled, verified or estimates.  Rules, the sample seeds and confirmed emissions are public
-- to every carbonmkt role.

GRANT SELECT ON carbonmkt.mrv_gas, carbonmkt.mrv_gwp_set, carbonmkt.mrv_gwp, carbonmkt.mrv_sector_gas,
                carbonmkt.mrv_sector_parameter, carbonmkt.mrv_rule, carbonmkt.mrv_sample_seed
   TO PUBLIC;
GRANT SELECT ON carbonmkt.confirmed_emission
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement,
      carbonmkt_participant, carbonmkt_bi;
GRANT SELECT ON carbonmkt.mrv_plan, carbonmkt.mrv_deposit, carbonmkt.mrv_report, carbonmkt.mrv_report_gas,
                carbonmkt.mrv_verification, carbonmkt.mrv_review, carbonmkt.mrv_appeal,
                carbonmkt.mrv_national_naming, carbonmkt.mrv_reopening, carbonmkt.mrv_report_event,
                carbonmkt.mrv_deposit_status, carbonmkt.mrv_deposit_anomaly, carbonmkt.mrv_report_waiting
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi;
GRANT SELECT ON carbonmkt.mrv_review_queue, carbonmkt.mrv_data_quality
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;

ALTER TABLE carbonmkt.mrv_plan            ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.mrv_deposit         ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.mrv_report          ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.mrv_report_gas      ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.mrv_verification    ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.mrv_review          ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.mrv_appeal          ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.mrv_national_naming ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.mrv_reopening       ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.mrv_report_event    ENABLE ROW LEVEL SECURITY;

CREATE POLICY mrv_read ON carbonmkt.mrv_plan FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi
    USING (carbonmkt.mrv_visible(participant_id));
CREATE POLICY mrv_read ON carbonmkt.mrv_deposit FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi
    USING (carbonmkt.mrv_visible(participant_id));
CREATE POLICY mrv_read ON carbonmkt.mrv_report FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi
    USING (carbonmkt.mrv_visible(participant_id, compiled_by, verifier_id, estimator_id));
CREATE POLICY mrv_read ON carbonmkt.mrv_national_naming FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi
    USING (carbonmkt.mrv_visible(participant_id));
CREATE POLICY mrv_read ON carbonmkt.mrv_reopening FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi
    USING (carbonmkt.mrv_visible(participant_id));
-- the rows of a report are visible with the report (the subquery is filtered by its policy)
CREATE POLICY mrv_read ON carbonmkt.mrv_report_gas FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi
    USING (EXISTS (SELECT 1 FROM carbonmkt.mrv_report r WHERE r.report_id = mrv_report_gas.report_id));
CREATE POLICY mrv_read ON carbonmkt.mrv_verification FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi
    USING (EXISTS (SELECT 1 FROM carbonmkt.mrv_report r WHERE r.report_id = mrv_verification.report_id));
CREATE POLICY mrv_read ON carbonmkt.mrv_review FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi
    USING (EXISTS (SELECT 1 FROM carbonmkt.mrv_report r WHERE r.report_id = mrv_review.report_id));
CREATE POLICY mrv_read ON carbonmkt.mrv_appeal FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi
    USING (EXISTS (SELECT 1 FROM carbonmkt.mrv_report r WHERE r.report_id = mrv_appeal.report_id));
CREATE POLICY mrv_read ON carbonmkt.mrv_report_event FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi
    USING (EXISTS (SELECT 1 FROM carbonmkt.mrv_report r WHERE r.report_id = mrv_report_event.report_id));

-- Functions: the workflow API per party; internal (_mrv_*) functions are revoked from
-- PUBLIC by src/access.sql; the C triggers are not callable.
REVOKE ALL ON FUNCTION
    carbonmkt.file_monitoring_plan(bigint, int, jsonb),
    carbonmkt.deposit_parameters(bigint, int, int, jsonb, text),
    carbonmkt.submit_report(bigint, int, jsonb, bigint),
    carbonmkt.correct_report(bigint, jsonb, text),
    carbonmkt.appeal_verification(bigint, text),
    carbonmkt.verify_report(bigint, bigint, carbonmkt.mrv_findings, text, bigint),
    carbonmkt.estimate_emissions(bigint, bigint, text, bigint),
    carbonmkt.approve_monitoring_plan(bigint, text, bigint),
    carbonmkt.reject_monitoring_plan(bigint, text, bigint),
    carbonmkt.review_report(bigint, text, text, int, bigint),
    carbonmkt.approve_report(bigint, int, bigint),
    carbonmkt.reject_report(bigint, text, int, bigint),
    carbonmkt.decide_appeal(bigint, boolean, bigint, text, bigint),
    carbonmkt.appoint_estimator(bigint, int, bigint, bigint),
    carbonmkt.name_for_national_review(bigint, int, text, bigint),
    carbonmkt.record_sample_seed(int, text, bigint),
    carbonmkt.confirm_emissions(bigint, bigint),
    carbonmkt.reopen_emissions(bigint, int, text, bigint),
    carbonmkt.mrv_assess(bigint),
    carbonmkt.mrv_review_guard(), carbonmkt.mrv_verification_guard(), carbonmkt.mrv_confirmed_guard()
  FROM PUBLIC;
-- units and service firms
GRANT EXECUTE ON FUNCTION
    carbonmkt.file_monitoring_plan(bigint, int, jsonb),
    carbonmkt.deposit_parameters(bigint, int, int, jsonb, text),
    carbonmkt.submit_report(bigint, int, jsonb, bigint),
    carbonmkt.correct_report(bigint, jsonb, text),
    carbonmkt.appeal_verification(bigint, text),
    carbonmkt.verify_report(bigint, bigint, carbonmkt.mrv_findings, text, bigint),
    carbonmkt.estimate_emissions(bigint, bigint, text, bigint)
   TO carbonmkt_participant, carbonmkt_registry;
-- authorities
GRANT EXECUTE ON FUNCTION
    carbonmkt.approve_monitoring_plan(bigint, text, bigint),
    carbonmkt.reject_monitoring_plan(bigint, text, bigint),
    carbonmkt.review_report(bigint, text, text, int, bigint),
    carbonmkt.approve_report(bigint, int, bigint),
    carbonmkt.reject_report(bigint, text, int, bigint),
    carbonmkt.decide_appeal(bigint, boolean, bigint, text, bigint),
    carbonmkt.appoint_estimator(bigint, int, bigint, bigint),
    carbonmkt.name_for_national_review(bigint, int, text, bigint),
    carbonmkt.record_sample_seed(int, text, bigint),
    carbonmkt.confirm_emissions(bigint, bigint),
    carbonmkt.reopen_emissions(bigint, int, text, bigint)
   TO carbonmkt_authority, carbonmkt_registry;
GRANT EXECUTE ON FUNCTION carbonmkt.mrv_assess(bigint) TO carbonmkt_authority, carbonmkt_registry, carbonmkt_bi;
