
-------------------------------------------------------------------------------
-- allocation (配额分配): rule tables (benchmarks, correction factors, pre-allocation,
-- rounding, band, cap), facilities (机组 / 生产线) and their monthly production data,
-- the allocation aggregates, the factor-by-factor explanation, and the allocation
-- runs (pre-allocation, final allocation with top-up 追加 / deduction 扣减, scaling to
-- a cap, adjustments) that issue through the registry.
-- C: src/allocation.c.  Documentation: doc/allocation.md.  SQLSTATEs CM201-CM211.
-------------------------------------------------------------------------------

-- Rule tables ---------------------------------------------------------------------
-- Every policy number of RULES.md 3 is a row keyed by jurisdiction ('CN' = the national
-- market; a pilot would be another jurisdiction) and year.  A run reads the rows of its
-- jurisdiction and year, and records a snapshot of them.

CREATE TABLE carbonmkt.alloc_category (
    code        text PRIMARY KEY,
    sector      text NOT NULL REFERENCES carbonmkt.sector,
    method      text NOT NULL CHECK (method IN ('power', 'performance')),
    fuel        text CHECK (fuel IN ('coal', 'gas')),
    output_unit text NOT NULL,
    name        text NOT NULL,
    name_zh     text NOT NULL,
    CHECK ((method = 'power') = (fuel IS NOT NULL))
);
COMMENT ON TABLE carbonmkt.alloc_category IS
  'Facility categories (机组类别 / 产品): the power categories of the 2021-22 plan (method power, fuel coal or gas) and the cement, steel and aluminium products (method performance).  The category decides the benchmark and the correction factors.';
INSERT INTO carbonmkt.alloc_category VALUES
  ('coal_300mw_plus', 'power', 'power', 'coal', 'MWh', 'Conventional coal, 300 MW class and above', '300MW等级以上常规燃煤机组'),
  ('coal_300mw_below', 'power', 'power', 'coal', 'MWh', 'Conventional coal, 300 MW class and below', '300MW等级及以下常规燃煤机组'),
  ('coal_unconventional', 'power', 'power', 'coal', 'MWh', 'Unconventional coal (coal gangue, slime, coal-water slurry; incl. CFB)',
   '燃煤矸石、煤泥、水煤浆等非常规燃煤机组（含燃煤循环流化床机组）'),
  ('gas', 'power', 'power', 'gas', 'MWh', 'Gas-fired', '燃气机组'),
  ('cement_clinker', 'cement', 'performance', NULL, 't clinker', 'Cement clinker', '水泥熟料'),
  ('steel_crude', 'steel', 'performance', NULL, 't crude steel', 'Crude steel', '粗钢'),
  ('aluminium_smelting', 'aluminium', 'performance', NULL, 't aluminium', 'Primary aluminium (electrolysis)', '电解铝');

CREATE TABLE carbonmkt.alloc_benchmark (
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    year            int NOT NULL CHECK (year BETWEEN 2005 AND 2100),
    category        text NOT NULL REFERENCES carbonmkt.alloc_category,
    benchmark       numeric NOT NULL CHECK (benchmark >= 0 AND benchmark < 'Infinity'),
    heat_benchmark  numeric CHECK (heat_benchmark >= 0 AND heat_benchmark < 'Infinity'),
    load_applies    boolean NOT NULL DEFAULT false,
    cool_applies    boolean NOT NULL DEFAULT false,
    illustrative    boolean NOT NULL DEFAULT false,
    source          text NOT NULL,
    PRIMARY KEY (jurisdiction, year, category)
);
COMMENT ON TABLE carbonmkt.alloc_benchmark IS
  'Benchmarks per category and year: power B_power (供电基准值, tCO2/MWh) and B_heat (供热基准值, tCO2/GJ) with whether F_load and F_cool apply; cement/steel/aluminium reference intensity (tCO2 per t of product).  illustrative = not a published value.';
INSERT INTO carbonmkt.alloc_benchmark VALUES
  ('CN', 2021, 'coal_300mw_plus',     0.8218, 0.1111, true,  true,  false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2021 values; the formula S4 L98-103'),
  ('CN', 2021, 'coal_300mw_below',    0.8773, 0.1111, true,  true,  false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2021 values; the formula S4 L98-103'),
  ('CN', 2021, 'coal_unconventional', 0.9350, 0.1111, false, true,  false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2021 values; the formula S4 L98-103'),
  ('CN', 2021, 'gas',                 0.3920, 0.0560, false, false, false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2021 values; the formula S4 L98-103'),
  ('CN', 2022, 'coal_300mw_plus',     0.8177, 0.1105, true,  true,  false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2022 values; the formula S4 L98-103'),
  ('CN', 2022, 'coal_300mw_below',    0.8729, 0.1105, true,  true,  false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2022 values; the formula S4 L98-103'),
  ('CN', 2022, 'coal_unconventional', 0.9303, 0.1105, false, true,  false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2022 values; the formula S4 L98-103'),
  ('CN', 2022, 'gas',                 0.3901, 0.0557, false, false, false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2022 values; the formula S4 L98-103');
-- No benchmark is published for 2023 on, nor any cement, steel or aluminium intensity (S0
-- names none): those rows are loaded by the national authority with set_rule (doc/rules.md).

CREATE TABLE carbonmkt.alloc_heat_factor (
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    year            int NOT NULL,
    fuel            text NOT NULL CHECK (fuel IN ('coal', 'gas')),
    coefficient     numeric NOT NULL CHECK (coefficient >= 0 AND coefficient <= 1),
    source          text NOT NULL,
    PRIMARY KEY (jurisdiction, year, fuel)
);
COMMENT ON TABLE carbonmkt.alloc_heat_factor IS
  'Heat-supply correction (供热量修正系数): F_heat = 1 - coefficient x heat ratio (供热比), per fuel and year.';
INSERT INTO carbonmkt.alloc_heat_factor
SELECT 'CN', y, f, k, '2021-22 power allocation plan; S4 L102 (1 - 0.22 x heat ratio coal, 1 - 0.6 x heat ratio gas)'
  FROM generate_series(2021, 2022) y, (VALUES ('coal', 0.22), ('gas', 0.6)) v(f, k);

CREATE TABLE carbonmkt.alloc_cooling_factor (
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    year            int NOT NULL,
    fuel            text NOT NULL CHECK (fuel IN ('coal', 'gas')),
    cooling         text NOT NULL CHECK (cooling IN ('water', 'air')),
    factor          numeric NOT NULL CHECK (factor > 0 AND factor < 'Infinity'),
    source          text NOT NULL,
    PRIMARY KEY (jurisdiction, year, fuel, cooling)
);
COMMENT ON TABLE carbonmkt.alloc_cooling_factor IS
  'Cooling correction (冷却方式修正系数) F_cool per fuel, cooling type and year; used where alloc_benchmark.cool_applies.';
INSERT INTO carbonmkt.alloc_cooling_factor
SELECT 'CN', y, 'coal', c, f, '2021-22 power allocation plan; S4 L103 (water-cooled 1, air-cooled 1.05)'
  FROM generate_series(2021, 2022) y, (VALUES ('water', 1.00), ('air', 1.05)) v(c, f);

CREATE TABLE carbonmkt.alloc_load_piece (
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    year            int NOT NULL,
    lower_bound     numeric NOT NULL CHECK (lower_bound >= 0 AND lower_bound <= 1),
    kind            text NOT NULL CHECK (kind IN ('linear', 'power')),
    a               numeric,    -- linear: a + b x (pivot - 100 F)
    b               numeric,
    pivot           numeric,
    base            numeric CHECK (base > 0 AND base < 'Infinity'),    -- power: base ^ (c - d x F)
    c               numeric,
    d               numeric,
    source          text NOT NULL,
    PRIMARY KEY (jurisdiction, year, lower_bound),
    CHECK (kind <> 'linear' OR (a IS NOT NULL AND b IS NOT NULL AND pivot IS NOT NULL)),
    CHECK (kind <> 'power' OR (base IS NOT NULL AND c IS NOT NULL AND d IS NOT NULL))
);
COMMENT ON TABLE carbonmkt.alloc_load_piece IS
  'The piecewise load-factor correction F_load (负荷（出力）系数修正系数) per year: the piece with the largest lower_bound <= F applies; linear pieces give a + b x (pivot - 100F), power pieces base^(c - d x F).';
INSERT INTO carbonmkt.alloc_load_piece
SELECT 'CN', y, lb, k, a, b, p, base, c, d, '2019-20 and 2021-22 power allocation plans (RULES.md 3)'
  FROM generate_series(2021, 2022) y,
       (VALUES (0.00, 'power',  NULL::numeric, NULL::numeric, NULL::numeric, 1.015, 16, 20),
               (0.75, 'linear', 1.007, 0.0016, 80, NULL, NULL, NULL),
               (0.80, 'linear', 1,     0.0014, 85, NULL, NULL, NULL),
               (0.85, 'linear', 1,     0,      85, NULL, NULL, NULL)) v(lb, k, a, b, p, base, c, d);

CREATE TABLE carbonmkt.alloc_year_rule (
    jurisdiction        text NOT NULL REFERENCES carbonmkt.jurisdiction,
    year                int NOT NULL CHECK (year BETWEEN 2005 AND 2100),
    rounding            text NOT NULL CHECK (rounding IN ('half_up', 'down', 'up')),
    preallocation_share numeric CHECK (preallocation_share > 0 AND preallocation_share <= 1),
    preallocation_basis text CHECK (preallocation_basis IN ('verified_emissions', 'benchmark_output')),
    basis_year          int,
    source              text NOT NULL,
    PRIMARY KEY (jurisdiction, year),
    CHECK ((preallocation_share IS NULL) = (preallocation_basis IS NULL)
           AND (preallocation_share IS NULL) = (basis_year IS NULL))
);
COMMENT ON TABLE carbonmkt.alloc_year_rule IS
  'Per jurisdiction and year: the rounding rule (applied once, to each computed allowance) and the pre-allocation rule (预分配): share x basis, where the basis is the verified emissions of basis_year or benchmark x output of basis_year; NULL share = no pre-allocation.';
INSERT INTO carbonmkt.alloc_year_rule VALUES
  ('CN', 2021, 'half_up', 0.70, 'verified_emissions', 2021,
   '2021-22 power plan: pre-allocation = 70% of the unit''s 2021 verified emissions (S4 L91); allowances in whole tonnes (RULES.md 2); the sources give no rounding direction: half up'),
  ('CN', 2022, 'half_up', 0.70, 'verified_emissions', 2021,
   '2021-22 power plan: pre-allocation = 70% of the unit''s 2021 verified emissions (S4 L91); allowances in whole tonnes (RULES.md 2); the sources give no rounding direction: half up');
-- Later years: no published rule in the sources; loaded with set_rule (doc/rules.md).

CREATE TABLE carbonmkt.alloc_band (
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    year            int NOT NULL,
    sector          text NOT NULL REFERENCES carbonmkt.sector,
    max_gap         numeric NOT NULL CHECK (max_gap >= 0 AND max_gap <= 1),
    max_surplus     numeric NOT NULL CHECK (max_surplus >= 0 AND max_surplus < 'Infinity'),
    illustrative    boolean NOT NULL DEFAULT false,
    source          text NOT NULL,
    PRIMARY KEY (jurisdiction, year, sector)
);
COMMENT ON TABLE carbonmkt.alloc_band IS
  'Surplus/gap band of the performance method (盈缺控制): a participant''s allowance stays within [verified x (1 - max_gap), verified x (1 + max_surplus)].';
-- No band is seeded: S0 says only that each firm's surplus or gap is kept "within a small
-- range" and names no number; the national authority loads it with set_rule (doc/rules.md).

CREATE TABLE carbonmkt.alloc_cap (
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    year            int NOT NULL,
    sector          text NOT NULL REFERENCES carbonmkt.sector,
    cap_t           bigint NOT NULL CHECK (cap_t >= 0),
    source          text NOT NULL,
    PRIMARY KEY (jurisdiction, year, sector)
);
COMMENT ON TABLE carbonmkt.alloc_cap IS
  'Total-quantity control (总量控制, from 2027): when a row exists, the final allocations of the sector are scaled pro rata to sum to cap_t exactly (largest remainder).  No caps are seeded.';

-- The planner's statistics for the seeded reference rows (small tables that autovacuum
-- would not analyse soon): they decide how production data is joined to its categories.
ANALYZE carbonmkt.alloc_category, carbonmkt.alloc_benchmark, carbonmkt.alloc_heat_factor,
        carbonmkt.alloc_cooling_factor, carbonmkt.alloc_load_piece, carbonmkt.alloc_year_rule, carbonmkt.alloc_band;

-- Facilities (机组 / 生产线) --------------------------------------------------------

CREATE TABLE carbonmkt.facility (
    facility_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    code            text NOT NULL CHECK (btrim(code) <> ''),
    name            text,
    category        text NOT NULL REFERENCES carbonmkt.alloc_category,
    capacity_mw     numeric CHECK (capacity_mw > 0 AND capacity_mw < 'Infinity'),
    cooling         text CHECK (cooling IN ('water', 'air')),
    status          text NOT NULL DEFAULT 'operating' CHECK (status IN ('operating', 'stopped', 'closed')),
    registered_at   timestamptz NOT NULL,
    UNIQUE (participant_id, code)
);
CREATE INDEX facility_participant ON carbonmkt.facility (participant_id);
COMMENT ON TABLE carbonmkt.facility IS
  'Generating units (机组) and production lines (生产线) of key emitting units; allocation is computed per facility and issued per participant.  Register through carbonmkt.register_facility().';

CREATE TABLE carbonmkt.facility_event (
    event_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    facility_id     bigint NOT NULL REFERENCES carbonmkt.facility,
    kind            text NOT NULL CHECK (kind IN ('registered', 'closure', 'stoppage', 'restart',
                                                  'capacity_change', 'transfer')),
    effective_on    date NOT NULL,
    old_value       text,
    new_value       text,
    memo            text,
    recorded_by     name NOT NULL,
    recorded_at     timestamptz NOT NULL
);
CREATE INDEX facility_event_facility ON carbonmkt.facility_event (facility_id);
COMMENT ON TABLE carbonmkt.facility_event IS
  'Append-only history of a facility: registration, closure, stoppage, restart, capacity change, transfer to another participant (merger, split).';

CREATE TABLE carbonmkt.production (
    facility_id         bigint NOT NULL REFERENCES carbonmkt.facility,
    year                int NOT NULL,
    month               int NOT NULL,
    power_supplied_kwh  bigint NOT NULL DEFAULT 0,  -- 供电量
    generation_kwh      bigint NOT NULL DEFAULT 0,  -- 发电量
    operating_minutes   int NOT NULL DEFAULT 0,     -- 运行时间
    heat_supplied_mj    bigint NOT NULL DEFAULT 0,  -- 供热量
    heat_total_mj       bigint NOT NULL DEFAULT 0,  -- 总耗热量 (denominator of the heat ratio 供热比)
    output_t            bigint NOT NULL DEFAULT 0,  -- 产品产量: clinker, crude steel, aluminium
    recorded_at         timestamptz NOT NULL DEFAULT carbonmkt.clock_now(),
    PRIMARY KEY (facility_id, year, month)
);
CREATE INDEX production_year ON carbonmkt.production (year, facility_id);
COMMENT ON TABLE carbonmkt.production IS
  'Monthly production data per facility: power supplied and generated (kWh), operating minutes, heat supplied and total heat (MJ), product output (t).  Integers in small units; checked by a trigger (CM201-CM205).';

-- Checks on facilities and production rows -------------------------------------------

CREATE FUNCTION carbonmkt._facility_check() RETURNS trigger
LANGUAGE plpgsql AS
$$
DECLARE
    p   carbonmkt.participant;
    c   carbonmkt.alloc_category;
BEGIN
    SELECT * INTO p FROM carbonmkt.participant WHERE participant_id = NEW.participant_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'participant % does not exist', NEW.participant_id USING ERRCODE = 'CM002';
    END IF;
    IF p.kind <> 'key_emitter' THEN
        RAISE EXCEPTION 'participant % is not a key emitting unit (重点排放单位)', p.participant_id
            USING ERRCODE = 'CM206', DETAIL = format('Its kind is %s.', p.kind),
                  HINT = 'Facilities belong to key emitting units.';
    END IF;
    SELECT * INTO c FROM carbonmkt.alloc_category WHERE code = NEW.category;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown facility category "%"', NEW.category
            USING ERRCODE = 'CM206', HINT = 'Categories are listed in carbonmkt.alloc_category.';
    END IF;
    IF c.sector <> p.sector THEN
        RAISE EXCEPTION 'category "%" belongs to sector %, but participant % is in sector %',
                        c.code, c.sector, p.participant_id, p.sector
            USING ERRCODE = 'CM206';
    END IF;
    IF c.method = 'power' AND (NEW.capacity_mw IS NULL OR NEW.cooling IS NULL) THEN
        RAISE EXCEPTION 'generating unit "%" of participant % needs its rated capacity and cooling type',
                        NEW.code, p.participant_id
            USING ERRCODE = 'CM206',
                  DETAIL = format('Capacity %s, cooling %s.', coalesce(NEW.capacity_mw::text || ' MW', 'missing'),
                                  coalesce(NEW.cooling, 'missing')),
                  HINT = 'The load factor needs the capacity (MW); F_cool needs the cooling type (water or air).';
    END IF;
    IF c.method <> 'power' AND (NEW.capacity_mw IS NOT NULL OR NEW.cooling IS NOT NULL) THEN
        RAISE EXCEPTION 'production line "%" (category %) takes no rated capacity or cooling type', NEW.code, c.code
            USING ERRCODE = 'CM206', HINT = 'Capacity and cooling type are for generating units (机组).';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION carbonmkt._facility_check() IS
  'Internal: BEFORE INSERT OR UPDATE trigger of carbonmkt.facility (CM206: owner not a key emitting unit, category of another sector, generating unit without capacity or cooling type).';
CREATE TRIGGER facility_check BEFORE INSERT OR UPDATE ON carbonmkt.facility
    FOR EACH ROW EXECUTE FUNCTION carbonmkt._facility_check();

CREATE FUNCTION carbonmkt._production_check() RETURNS trigger
LANGUAGE plpgsql AS
$$
DECLARE
    f           record;
    max_minutes int;
BEGIN
    SELECT x.facility_id, x.capacity_mw, c.method, c.code AS category
      INTO f FROM carbonmkt.facility x JOIN carbonmkt.alloc_category c ON c.code = x.category
     WHERE x.facility_id = NEW.facility_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'production data for unknown facility %', coalesce(NEW.facility_id::text, 'NULL')
            USING ERRCODE = 'CM201', HINT = 'Register the facility first (carbonmkt.register_facility).';
    END IF;
    IF EXISTS (SELECT 1 FROM carbonmkt.allocation a JOIN carbonmkt.facility x ON x.participant_id = a.participant_id
                WHERE x.facility_id = NEW.facility_id AND a.year IN (NEW.year, OLD.year) AND a.stage = 'final') THEN
        RAISE EXCEPTION 'the % allocation of facility %''s participant is final: its production data can no longer change',
                        NEW.year, NEW.facility_id
            USING ERRCODE = 'CM209', HINT = 'Correct the allocation with carbonmkt.amend_allocation(..., reason => ''correction'').';
    END IF;
    IF NEW.year IS NULL OR NEW.year NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'production year % is out of range', coalesce(NEW.year::text, 'NULL')
            USING ERRCODE = 'CM202', DETAIL = 'Years must be between 2005 and 2100.';
    END IF;
    IF NEW.month IS NULL OR NEW.month NOT BETWEEN 1 AND 12 THEN
        RAISE EXCEPTION 'production month % is out of range', coalesce(NEW.month::text, 'NULL')
            USING ERRCODE = 'CM202', DETAIL = format('Facility %s, year %s: months are 1 to 12.', NEW.facility_id, NEW.year);
    END IF;
    IF num_nulls(NEW.power_supplied_kwh, NEW.generation_kwh, NEW.operating_minutes, NEW.heat_supplied_mj,
                 NEW.heat_total_mj, NEW.output_t) > 0 THEN
        RAISE EXCEPTION 'production data for facility % in %-% has no %', NEW.facility_id, NEW.year,
                        lpad(NEW.month::text, 2, '0'),
                        concat_ws(', ', CASE WHEN NEW.power_supplied_kwh IS NULL THEN 'power_supplied_kwh' END,
                                  CASE WHEN NEW.generation_kwh IS NULL THEN 'generation_kwh' END,
                                  CASE WHEN NEW.operating_minutes IS NULL THEN 'operating_minutes' END,
                                  CASE WHEN NEW.heat_supplied_mj IS NULL THEN 'heat_supplied_mj' END,
                                  CASE WHEN NEW.heat_total_mj IS NULL THEN 'heat_total_mj' END,
                                  CASE WHEN NEW.output_t IS NULL THEN 'output_t' END)
            USING ERRCODE = 'CM203', HINT = 'Give 0 for a quantity the facility did not have (the default).';
    END IF;
    IF least(NEW.power_supplied_kwh, NEW.generation_kwh, NEW.operating_minutes, NEW.heat_supplied_mj,
             NEW.heat_total_mj, NEW.output_t) < 0 THEN
        RAISE EXCEPTION 'negative production data for facility % in %-%', NEW.facility_id, NEW.year,
                        lpad(NEW.month::text, 2, '0')
            USING ERRCODE = 'CM203',
                  DETAIL = format('power supplied %s kWh, generation %s kWh, operating %s min, heat supplied %s MJ, total heat %s MJ, output %s t.',
                                  NEW.power_supplied_kwh, NEW.generation_kwh, NEW.operating_minutes,
                                  NEW.heat_supplied_mj, NEW.heat_total_mj, NEW.output_t);
    END IF;
    IF f.method = 'power' THEN
        IF NEW.output_t <> 0 THEN
            RAISE EXCEPTION 'generating unit % (category %) reports product output', NEW.facility_id, f.category
                USING ERRCODE = 'CM203', HINT = 'Generating units report power and heat; output_t is for production lines.';
        END IF;
        IF NEW.power_supplied_kwh > NEW.generation_kwh THEN
            RAISE EXCEPTION 'power supplied % kWh exceeds generation % kWh (facility %, %-%)',
                            NEW.power_supplied_kwh, NEW.generation_kwh, NEW.facility_id, NEW.year, lpad(NEW.month::text, 2, '0')
                USING ERRCODE = 'CM203', DETAIL = 'Power supplied (供电量) is generation less auxiliary use.';
        END IF;
        max_minutes := extract(day FROM make_date(NEW.year, NEW.month, 1) + interval '1 month' - interval '1 day')::int * 1440;
        IF NEW.operating_minutes > max_minutes THEN
            RAISE EXCEPTION 'operating time % min exceeds the % min of %-%', NEW.operating_minutes, max_minutes,
                            NEW.year, lpad(NEW.month::text, 2, '0')
                USING ERRCODE = 'CM203', DETAIL = format('Facility %s.', NEW.facility_id);
        END IF;
        IF NEW.operating_minutes = 0 AND NEW.generation_kwh > 0 THEN
            RAISE EXCEPTION 'load factor of facility % in %-% is undefined: generation % kWh with zero operating minutes',
                            NEW.facility_id, NEW.year, lpad(NEW.month::text, 2, '0'), NEW.generation_kwh
                USING ERRCODE = 'CM205', DETAIL = 'The load factor is generation / (rated capacity x operating time) and lies in [0, 1].';
        END IF;
        IF NEW.generation_kwh::numeric * 60 > f.capacity_mw * 1000 * NEW.operating_minutes THEN
            RAISE EXCEPTION 'load factor % of facility % in %-% is outside [0, 1]',
                            round(NEW.generation_kwh::numeric * 60 / (f.capacity_mw * 1000 * NEW.operating_minutes), 6),
                            NEW.facility_id, NEW.year, lpad(NEW.month::text, 2, '0')
                USING ERRCODE = 'CM205',
                      DETAIL = format('Generation %s kWh in %s operating minutes at a rated capacity of %s MW.',
                                      NEW.generation_kwh, NEW.operating_minutes, f.capacity_mw);
        END IF;
        IF NEW.heat_supplied_mj > NEW.heat_total_mj THEN
            RAISE EXCEPTION 'heat ratio of facility % in %-% is outside [0, 1]: heat supplied % MJ, total heat % MJ',
                            NEW.facility_id, NEW.year, lpad(NEW.month::text, 2, '0'), NEW.heat_supplied_mj, NEW.heat_total_mj
                USING ERRCODE = 'CM205', DETAIL = 'The heat ratio (供热比) is heat supplied / total heat.';
        END IF;
    ELSIF greatest(NEW.power_supplied_kwh, NEW.generation_kwh, NEW.operating_minutes, NEW.heat_supplied_mj,
                   NEW.heat_total_mj) <> 0 THEN
        RAISE EXCEPTION 'production line % (category %) reports power or heat data', NEW.facility_id, f.category
            USING ERRCODE = 'CM203', HINT = 'Production lines report output_t only.';
    END IF;
    NEW.recorded_at := carbonmkt.clock_now();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION carbonmkt._production_check() IS
  'Internal: BEFORE INSERT OR UPDATE trigger of carbonmkt.production: CM201 unknown facility, CM202 year or month out of range, CM203 negative or inconsistent data, CM205 monthly load factor or heat ratio outside [0, 1].';
CREATE TRIGGER production_check BEFORE INSERT OR UPDATE ON carbonmkt.production
    FOR EACH ROW EXECUTE FUNCTION carbonmkt._production_check();

-- The aggregates (C: src/allocation.c) ------------------------------------------------

CREATE TYPE carbonmkt.power_params AS (
    facility_id         bigint,
    jurisdiction        text,
    year                int,
    category            text,
    fuel                text,
    cooling             text,
    capacity_mw         numeric,
    b_power             numeric,    -- 供电基准值 tCO2/MWh
    b_heat              numeric,    -- 供热基准值 tCO2/GJ
    heat_coefficient    numeric,    -- F_heat = 1 - heat_coefficient x heat ratio
    f_cool              numeric,    -- 1 where cooling is not corrected
    load_applies        boolean,
    load_lower          numeric[],
    load_kind           text[],
    load_a              numeric[],
    load_b              numeric[],
    load_pivot          numeric[],
    load_base           numeric[],
    load_c              numeric[],
    load_d              numeric[],
    rounding            text
);
COMMENT ON TYPE carbonmkt.power_params IS
  'The rules of one generating unit and year, as carbonmkt.power_allowance() reads them; built from the rule tables by carbonmkt.facility_power_params().';

CREATE TYPE carbonmkt.performance_params AS (
    participant_id      bigint,
    jurisdiction        text,
    year                int,
    sector              text,
    verified_t          bigint,     -- confirmed emissions of the year
    max_gap             numeric,
    max_surplus         numeric,
    rounding            text
);
COMMENT ON TYPE carbonmkt.performance_params IS
  'The band, confirmed emissions and rounding rule of one participant and year, as carbonmkt.performance_allowance() reads them; built by carbonmkt.participant_performance_params().';

CREATE TYPE carbonmkt.power_explanation AS (
    facility_id         bigint,
    year                int,
    category            text,
    months              int,
    power_supplied_mwh  numeric,
    generation_mwh      numeric,
    operating_hours     numeric,
    capacity_mw         numeric,
    load_factor         numeric,
    load_piece          int,
    load_rule           text,
    f_load              numeric,
    heat_supplied_gj    numeric,
    heat_total_gj       numeric,
    heat_ratio          numeric,
    heat_coefficient    numeric,
    f_heat              numeric,
    cooling             text,
    f_cool              numeric,
    b_power             numeric,
    b_heat              numeric,
    power_part_t        numeric,
    heat_part_t         numeric,
    exact_t             numeric,
    rounding            text,
    allowance_t         bigint
);
COMMENT ON TYPE carbonmkt.power_explanation IS
  'Every factor of a generating unit''s allowance for a year, as computed by carbonmkt.power_allowance_explain().';

CREATE TYPE carbonmkt.performance_explanation AS (
    participant_id      bigint,
    year                int,
    rows                bigint,
    output_t            bigint,
    benchmark_t         numeric,    -- sum(output x reference intensity)
    verified_t          bigint,
    max_gap             numeric,
    max_surplus         numeric,
    lower_t             numeric,
    upper_t             numeric,
    clamp               text,       -- none, gap (raised to the lower limit), surplus (cut to the upper limit)
    exact_t             numeric,
    rounding            text,
    allowance_t         bigint
);
COMMENT ON TYPE carbonmkt.performance_explanation IS
  'Every step of a participant''s performance-method allowance for a year, as computed by carbonmkt.performance_allowance_explain().';

CREATE FUNCTION carbonmkt.power_alloc_trans(internal, bigint, int, int, bigint, bigint, int, bigint, bigint, text)
RETURNS internal AS 'MODULE_PATHNAME', 'power_alloc_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION carbonmkt.power_alloc_inv(internal, bigint, int, int, bigint, bigint, int, bigint, bigint, text)
RETURNS internal AS 'MODULE_PATHNAME', 'power_alloc_inv' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION carbonmkt.power_alloc_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'power_alloc_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION carbonmkt.power_alloc_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME', 'power_alloc_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.power_alloc_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'power_alloc_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.power_alloc_final(internal)
RETURNS bigint AS 'MODULE_PATHNAME', 'power_alloc_final' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION carbonmkt.power_alloc_explain_final(internal)
RETURNS carbonmkt.power_explanation AS 'MODULE_PATHNAME', 'power_alloc_explain_final' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.power_alloc_trans(internal, bigint, int, int, bigint, bigint, int, bigint, bigint, text) IS
  'Transition function of power_allowance: sums the month''s quantities (int64), checks the month and that the row is of the group''s facility, year and jurisdiction.';
COMMENT ON FUNCTION carbonmkt.power_alloc_inv(internal, bigint, int, int, bigint, bigint, int, bigint, bigint, text) IS
  'Inverse transition function of power_allowance (moving window frames).';
COMMENT ON FUNCTION carbonmkt.power_alloc_combine(internal, internal) IS 'Combine function of power_allowance (parallel aggregation).';
COMMENT ON FUNCTION carbonmkt.power_alloc_serialize(internal) IS 'Serialise function of power_allowance (parallel aggregation).';
COMMENT ON FUNCTION carbonmkt.power_alloc_deserialize(bytea, internal) IS 'Deserialise function of power_allowance (parallel aggregation).';
COMMENT ON FUNCTION carbonmkt.power_alloc_final(internal) IS
  'Final function of power_allowance: reads the unit''s rules (facility_power_params, once per query) and applies the formula to the year''s totals, rounded once.';
COMMENT ON FUNCTION carbonmkt.power_alloc_explain_final(internal) IS 'Final function of power_allowance_explain: every factor and the allowance.';

CREATE AGGREGATE carbonmkt.power_allowance(facility_id bigint, year int, month int, power_supplied_kwh bigint,
                                           generation_kwh bigint, operating_minutes int, heat_supplied_mj bigint,
                                           heat_total_mj bigint, jurisdiction text) (
    SFUNC = carbonmkt.power_alloc_trans, STYPE = internal, FINALFUNC = carbonmkt.power_alloc_final,
    COMBINEFUNC = carbonmkt.power_alloc_combine,
    SERIALFUNC = carbonmkt.power_alloc_serialize, DESERIALFUNC = carbonmkt.power_alloc_deserialize,
    MSFUNC = carbonmkt.power_alloc_trans, MINVFUNC = carbonmkt.power_alloc_inv, MSTYPE = internal,
    MFINALFUNC = carbonmkt.power_alloc_final,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE carbonmkt.power_allowance(bigint, int, int, bigint, bigint, int, bigint, bigint, text) IS
  'A generating unit''s allowance (机组配额量, whole tonnes) for a year from its monthly rows, with the rules of the year and jurisdiction: B_power x Q_e x F_load x F_heat x F_cool + B_heat x Q_h on the year''s totals (load factor and heat ratio are annual), rounded once by the rule.  One group = one unit and year.';

CREATE AGGREGATE carbonmkt.power_allowance_explain(facility_id bigint, year int, month int, power_supplied_kwh bigint,
                                                   generation_kwh bigint, operating_minutes int, heat_supplied_mj bigint,
                                                   heat_total_mj bigint, jurisdiction text) (
    SFUNC = carbonmkt.power_alloc_trans, STYPE = internal, FINALFUNC = carbonmkt.power_alloc_explain_final,
    COMBINEFUNC = carbonmkt.power_alloc_combine,
    SERIALFUNC = carbonmkt.power_alloc_serialize, DESERIALFUNC = carbonmkt.power_alloc_deserialize,
    MSFUNC = carbonmkt.power_alloc_trans, MINVFUNC = carbonmkt.power_alloc_inv, MSTYPE = internal,
    MFINALFUNC = carbonmkt.power_alloc_explain_final,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE carbonmkt.power_allowance_explain(bigint, int, int, bigint, bigint, int, bigint, bigint, text) IS
  'Like power_allowance, but returns every factor (load factor, F_load and its piece, heat ratio, F_heat, F_cool, benchmarks, both parts, exact and rounded allowance) as a carbonmkt.power_explanation.';

CREATE FUNCTION carbonmkt.performance_alloc_trans(internal, bigint, int, int, bigint, text, text)
RETURNS internal AS 'MODULE_PATHNAME', 'performance_alloc_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION carbonmkt.performance_alloc_inv(internal, bigint, int, int, bigint, text, text)
RETURNS internal AS 'MODULE_PATHNAME', 'performance_alloc_inv' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION carbonmkt.benchmark_alloc_trans(internal, int, bigint, numeric, text)
RETURNS internal AS 'MODULE_PATHNAME', 'benchmark_alloc_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION carbonmkt.benchmark_alloc_inv(internal, int, bigint, numeric, text)
RETURNS internal AS 'MODULE_PATHNAME', 'benchmark_alloc_inv' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION carbonmkt.intensity_alloc_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'intensity_alloc_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION carbonmkt.intensity_alloc_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME', 'intensity_alloc_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.intensity_alloc_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'intensity_alloc_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.benchmark_alloc_final(internal)
RETURNS bigint AS 'MODULE_PATHNAME', 'benchmark_alloc_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION carbonmkt.performance_alloc_final(internal)
RETURNS bigint AS 'MODULE_PATHNAME', 'performance_alloc_final' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION carbonmkt.performance_alloc_explain_final(internal)
RETURNS carbonmkt.performance_explanation AS 'MODULE_PATHNAME', 'performance_alloc_explain_final' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.performance_alloc_trans(internal, bigint, int, int, bigint, text, text) IS
  'Transition function of performance_allowance: sums output per category (int64).';
COMMENT ON FUNCTION carbonmkt.performance_alloc_inv(internal, bigint, int, int, bigint, text, text) IS
  'Inverse transition function of performance_allowance (moving window frames).';
COMMENT ON FUNCTION carbonmkt.benchmark_alloc_trans(internal, int, bigint, numeric, text) IS
  'Transition function of benchmark_allowance: sums output per distinct benchmark (int64).';
COMMENT ON FUNCTION carbonmkt.benchmark_alloc_inv(internal, int, bigint, numeric, text) IS
  'Inverse transition function of benchmark_allowance (moving window frames).';
COMMENT ON FUNCTION carbonmkt.intensity_alloc_combine(internal, internal) IS 'Combine function of performance_allowance and benchmark_allowance.';
COMMENT ON FUNCTION carbonmkt.intensity_alloc_serialize(internal) IS 'Serialise function of performance_allowance and benchmark_allowance.';
COMMENT ON FUNCTION carbonmkt.intensity_alloc_deserialize(bytea, internal) IS 'Deserialise function of performance_allowance and benchmark_allowance.';
COMMENT ON FUNCTION carbonmkt.benchmark_alloc_final(internal) IS 'Final function of benchmark_allowance: sum(benchmark x output), rounded once.';
COMMENT ON FUNCTION carbonmkt.performance_alloc_final(internal) IS
  'Final function of performance_allowance: reads the benchmarks and the participant''s band and confirmed emissions (once per query); sum(output x benchmark) clamped to the band, rounded once.';
COMMENT ON FUNCTION carbonmkt.performance_alloc_explain_final(internal) IS 'Final function of performance_allowance_explain.';

CREATE AGGREGATE carbonmkt.performance_allowance(participant_id bigint, year int, month int, output_t bigint,
                                                 category text, jurisdiction text) (
    SFUNC = carbonmkt.performance_alloc_trans, STYPE = internal, FINALFUNC = carbonmkt.performance_alloc_final,
    COMBINEFUNC = carbonmkt.intensity_alloc_combine,
    SERIALFUNC = carbonmkt.intensity_alloc_serialize, DESERIALFUNC = carbonmkt.intensity_alloc_deserialize,
    MSFUNC = carbonmkt.performance_alloc_trans, MINVFUNC = carbonmkt.performance_alloc_inv, MSTYPE = internal,
    MFINALFUNC = carbonmkt.performance_alloc_final,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE carbonmkt.performance_allowance(bigint, int, int, bigint, text, text) IS
  'A participant''s allowance by the performance (intensity) method for a year: sum(output x benchmark of the line''s category) over its production lines'' monthly rows, clamped so the surplus or gap stays inside the band around its confirmed emissions of the year, rounded once.  One group = one participant and year.';

CREATE AGGREGATE carbonmkt.performance_allowance_explain(participant_id bigint, year int, month int, output_t bigint,
                                                         category text, jurisdiction text) (
    SFUNC = carbonmkt.performance_alloc_trans, STYPE = internal, FINALFUNC = carbonmkt.performance_alloc_explain_final,
    COMBINEFUNC = carbonmkt.intensity_alloc_combine,
    SERIALFUNC = carbonmkt.intensity_alloc_serialize, DESERIALFUNC = carbonmkt.intensity_alloc_deserialize,
    MSFUNC = carbonmkt.performance_alloc_trans, MINVFUNC = carbonmkt.performance_alloc_inv, MSTYPE = internal,
    MFINALFUNC = carbonmkt.performance_alloc_explain_final,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE carbonmkt.performance_allowance_explain(bigint, int, int, bigint, text, text) IS
  'Like performance_allowance, but returns every step (output, benchmark amount, band limits, clamp, exact and rounded allowance) as a carbonmkt.performance_explanation.';

CREATE AGGREGATE carbonmkt.benchmark_allowance(month int, output bigint, benchmark numeric, rounding text) (
    SFUNC = carbonmkt.benchmark_alloc_trans, STYPE = internal, FINALFUNC = carbonmkt.benchmark_alloc_final,
    COMBINEFUNC = carbonmkt.intensity_alloc_combine,
    SERIALFUNC = carbonmkt.intensity_alloc_serialize, DESERIALFUNC = carbonmkt.intensity_alloc_deserialize,
    MSFUNC = carbonmkt.benchmark_alloc_trans, MINVFUNC = carbonmkt.benchmark_alloc_inv, MSTYPE = internal,
    MFINALFUNC = carbonmkt.benchmark_alloc_final,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE carbonmkt.benchmark_allowance(int, bigint, numeric, text) IS
  'Plain benchmark method: sum(benchmark x output) over monthly rows, rounded once by the rounding rule (half_up, down, up).  Usable as a window aggregate, e.g. a year-to-date allowance.';

-- Parameters per facility and per participant, from the rule tables ---------------------

CREATE FUNCTION carbonmkt.facility_power_params(jurisdiction text, year int)
RETURNS TABLE (facility_id bigint, participant_id bigint, params carbonmkt.power_params)
LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 3000 AS
$$
#variable_conflict use_column
BEGIN
    PERFORM carbonmkt.check_jurisdiction($1);
    PERFORM carbonmkt._require_scope('read the allocation parameters');
    RETURN QUERY
    SELECT f.facility_id, f.participant_id,
           ROW(f.facility_id, $1, $2, f.category, c.fuel, f.cooling, f.capacity_mw,
               b.benchmark, b.heat_benchmark, h.coefficient,
               CASE WHEN b.cool_applies THEN cf.factor ELSE 1 END,
               coalesce(b.load_applies, false),
               l.lower_bound, l.kind, l.a, l.b, l.pivot, l.base, l.c, l.d, y.rounding)::carbonmkt.power_params
      FROM carbonmkt.facility f
      JOIN carbonmkt.alloc_category c ON c.code = f.category AND c.method = 'power'
      LEFT JOIN carbonmkt.alloc_benchmark b ON b.jurisdiction = $1 AND b.year = $2 AND b.category = f.category
      LEFT JOIN carbonmkt.alloc_heat_factor h ON h.jurisdiction = $1 AND h.year = $2 AND h.fuel = c.fuel
      LEFT JOIN carbonmkt.alloc_cooling_factor cf ON cf.jurisdiction = $1 AND cf.year = $2 AND cf.fuel = c.fuel
                                                AND cf.cooling = f.cooling
      LEFT JOIN carbonmkt.alloc_year_rule y ON y.jurisdiction = $1 AND y.year = $2
      CROSS JOIN (SELECT array_agg(p.lower_bound ORDER BY p.lower_bound) AS lower_bound,
                         array_agg(p.kind ORDER BY p.lower_bound) AS kind,
                         array_agg(p.a ORDER BY p.lower_bound) AS a, array_agg(p.b ORDER BY p.lower_bound) AS b,
                         array_agg(p.pivot ORDER BY p.lower_bound) AS pivot,
                         array_agg(p.base ORDER BY p.lower_bound) AS base,
                         array_agg(p.c ORDER BY p.lower_bound) AS c, array_agg(p.d ORDER BY p.lower_bound) AS d
                    FROM carbonmkt.alloc_load_piece p WHERE p.jurisdiction = $1 AND p.year = $2) l;
END
$$;
COMMENT ON FUNCTION carbonmkt.facility_power_params(text, int) IS
  'For every generating unit: its rules for a jurisdiction and year as a carbonmkt.power_params row (NULL fields where a rule is missing: power_allowance() then names it).  Join it to carbonmkt.production to call power_allowance().';

CREATE FUNCTION carbonmkt.participant_performance_params(jurisdiction text, year int)
RETURNS TABLE (participant_id bigint, params carbonmkt.performance_params)
LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 500 AS
$$
#variable_conflict use_column
BEGIN
    PERFORM carbonmkt.check_jurisdiction($1);
    PERFORM carbonmkt._require_scope('read the allocation parameters');
    RETURN QUERY
    SELECT p.participant_id,
           ROW(p.participant_id, $1, $2, p.sector, ce.emissions_t, bd.max_gap, bd.max_surplus, y.rounding)::carbonmkt.performance_params
      FROM carbonmkt.participant p
      LEFT JOIN carbonmkt.confirmed_emission ce ON ce.participant_id = p.participant_id AND ce.year = $2
      LEFT JOIN carbonmkt.alloc_band bd ON bd.jurisdiction = $1 AND bd.year = $2 AND bd.sector = p.sector
      LEFT JOIN carbonmkt.alloc_year_rule y ON y.jurisdiction = $1 AND y.year = $2
     WHERE p.kind = 'key_emitter'
       AND EXISTS (SELECT 1 FROM carbonmkt.facility f JOIN carbonmkt.alloc_category c ON c.code = f.category
                    WHERE f.participant_id = p.participant_id AND c.method = 'performance');
END
$$;
COMMENT ON FUNCTION carbonmkt.participant_performance_params(text, int) IS
  'For every participant with production lines: its confirmed emissions, band and rounding rule for a jurisdiction and year as a carbonmkt.performance_params row.';

CREATE FUNCTION carbonmkt._require_rules(p_jurisdiction text, p_year int, p_participants bigint[] DEFAULT NULL)
RETURNS void LANGUAGE plpgsql STABLE AS
$$
DECLARE
    r record;
BEGIN
    PERFORM carbonmkt.check_jurisdiction(p_jurisdiction);
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.alloc_year_rule y WHERE y.jurisdiction = p_jurisdiction AND y.year = p_year) THEN
        RAISE EXCEPTION 'no rounding rule for % (jurisdiction %)', p_year, p_jurisdiction
            USING ERRCODE = 'CM204', DETAIL = format('carbonmkt.alloc_year_rule has no row for %s.', p_year),
                  HINT = 'The national authority loads it with carbonmkt.set_rule(''alloc_year_rule'', ...); doc/rules.md.';
    END IF;
    SELECT f.category, count(*) AS facilities, min(f.facility_id) AS example INTO r
      FROM carbonmkt.facility f
     WHERE (p_participants IS NULL OR f.participant_id = ANY (p_participants))
       AND EXISTS (SELECT 1 FROM carbonmkt.production x WHERE x.facility_id = f.facility_id AND x.year = p_year)
       AND NOT EXISTS (SELECT 1 FROM carbonmkt.alloc_benchmark b
                        WHERE b.jurisdiction = p_jurisdiction AND b.year = p_year AND b.category = f.category)
     GROUP BY f.category ORDER BY f.category LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'no benchmark for category "%" in % (jurisdiction %)', r.category, p_year, p_jurisdiction
            USING ERRCODE = 'CM204',
                  DETAIL = format('%s facilit%s with %s production data, e.g. facility %s.', r.facilities,
                                  CASE WHEN r.facilities = 1 THEN 'y' ELSE 'ies' END, p_year, r.example),
                  HINT = 'carbonmkt.alloc_benchmark has no row for it: the national authority loads it with carbonmkt.set_rule(''alloc_benchmark'', ...); doc/rules.md.';
    END IF;
    SELECT p.sector, count(*) AS participants INTO r
      FROM carbonmkt.participant p
     WHERE (p_participants IS NULL OR p.participant_id = ANY (p_participants))
       AND EXISTS (SELECT 1 FROM carbonmkt.facility f JOIN carbonmkt.alloc_category c ON c.code = f.category
                    JOIN carbonmkt.production x ON x.facility_id = f.facility_id AND x.year = p_year
                    WHERE f.participant_id = p.participant_id AND c.method = 'performance')
       AND NOT EXISTS (SELECT 1 FROM carbonmkt.alloc_band b
                        WHERE b.jurisdiction = p_jurisdiction AND b.year = p_year AND b.sector = p.sector)
     GROUP BY p.sector ORDER BY p.sector LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'no surplus/gap band for sector "%" in % (jurisdiction %)', r.sector, p_year, p_jurisdiction
            USING ERRCODE = 'CM204',
                  HINT = 'carbonmkt.alloc_band has no row for it: the national authority loads it with carbonmkt.set_rule(''alloc_band'', ...); doc/rules.md.';
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._require_rules(text, int, bigint[]) IS
  'Internal: raises CM204 naming the first missing rule (year rule, benchmark of a category in use, band of a performance sector) before a computation.';

-- Computing allowances --------------------------------------------------------------

CREATE FUNCTION carbonmkt.facility_allowance(year int, jurisdiction text DEFAULT 'CN')
RETURNS TABLE (facility_id bigint, participant_id bigint, category text, method text, allowance_t bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS
$$
    SELECT x.facility_id, f.participant_id, f.category, 'power',
           carbonmkt.power_allowance(x.facility_id, $1, x.month, x.power_supplied_kwh, x.generation_kwh,
                                     x.operating_minutes, x.heat_supplied_mj, x.heat_total_mj, $2)
      FROM carbonmkt.production x
      JOIN carbonmkt.facility f ON f.facility_id = x.facility_id
      JOIN carbonmkt.alloc_category c ON c.code = f.category AND c.method = 'power'
     WHERE x.year = $1 AND (carbonmkt.check_jurisdiction($2)).code IS NOT NULL
       AND carbonmkt._require_scope('compute allowances')
     GROUP BY x.facility_id, f.participant_id, f.category
    UNION ALL
    SELECT x.facility_id, f.participant_id, f.category, 'performance (before the band)',
           carbonmkt.benchmark_allowance(x.month, x.output_t, b.benchmark, y.rounding)
      FROM carbonmkt.production x
      JOIN carbonmkt.facility f ON f.facility_id = x.facility_id
      JOIN carbonmkt.alloc_category c ON c.code = f.category AND c.method = 'performance'
      LEFT JOIN carbonmkt.alloc_benchmark b ON b.jurisdiction = $2 AND b.year = $1 AND b.category = f.category
      LEFT JOIN carbonmkt.alloc_year_rule y ON y.jurisdiction = $2 AND y.year = $1
     WHERE x.year = $1 AND carbonmkt._require_scope('compute allowances')
     GROUP BY x.facility_id, f.participant_id, f.category
$$;
COMMENT ON FUNCTION carbonmkt.facility_allowance(int, text) IS
  'Allowance per facility for a year from its production data: power_allowance() per generating unit; for production lines benchmark x output before the participant-level band (see participant_allowance).';

CREATE FUNCTION carbonmkt.participant_allowance(year int, jurisdiction text DEFAULT 'CN', data_year int DEFAULT NULL,
                                                province char(6) DEFAULT NULL, skip_unconfirmed boolean DEFAULT false)
RETURNS TABLE (participant_id bigint, method text, facilities bigint, allowance_t bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS
$$
    WITH power AS (
        SELECT x.facility_id,
               carbonmkt.power_allowance(x.facility_id, $1, x.month, x.power_supplied_kwh, x.generation_kwh,
                                         x.operating_minutes, x.heat_supplied_mj, x.heat_total_mj, $2) AS t
          FROM carbonmkt.production x
          JOIN carbonmkt.facility f ON f.facility_id = x.facility_id
         WHERE x.year = coalesce($3, $1) AND (carbonmkt.check_jurisdiction($2)).code IS NOT NULL
           AND carbonmkt._require_scope('compute allowances')
           AND f.category IN (SELECT c.code FROM carbonmkt.alloc_category c WHERE c.method = 'power')
           AND ($4 IS NULL OR f.participant_id IN (SELECT p.participant_id FROM carbonmkt.participant p
                                                     WHERE p.province = $4))
         GROUP BY x.facility_id
    ), lines AS (
        SELECT f.facility_id, f.participant_id, f.category
          FROM carbonmkt.facility f
         WHERE f.category IN (SELECT c.code FROM carbonmkt.alloc_category c WHERE c.method = 'performance')
           AND (carbonmkt.check_jurisdiction($2)).code IS NOT NULL
           AND carbonmkt._require_scope('compute allowances')
           AND ($4 IS NULL OR f.participant_id IN (SELECT p.participant_id FROM carbonmkt.participant p
                                                     WHERE p.province = $4))
           AND (NOT $5 OR EXISTS (SELECT 1 FROM carbonmkt.confirmed_emission ce
                                   WHERE ce.participant_id = f.participant_id AND ce.year = $1))
    ), performance AS (
        -- the same year: the performance method, clamped to the band around the confirmed emissions
        SELECT l.participant_id, count(DISTINCT l.facility_id) AS facilities,
               carbonmkt.performance_allowance(l.participant_id, $1, x.month, x.output_t, l.category, $2) AS t
          FROM carbonmkt.production x JOIN lines l ON l.facility_id = x.facility_id
         WHERE x.year = $1 AND coalesce($3, $1) = $1
         GROUP BY l.participant_id
        UNION ALL
        -- another year's output (a pre-allocation basis): benchmark x output
        SELECT l.participant_id, count(DISTINCT l.facility_id),
               carbonmkt.benchmark_allowance(x.month, x.output_t, b.benchmark, y.rounding)
          FROM carbonmkt.production x JOIN lines l ON l.facility_id = x.facility_id
          LEFT JOIN carbonmkt.alloc_benchmark b ON b.jurisdiction = $2 AND b.year = $1 AND b.category = l.category
          LEFT JOIN carbonmkt.alloc_year_rule y ON y.jurisdiction = $2 AND y.year = $1
         WHERE x.year = $3 AND $3 <> $1
         GROUP BY l.participant_id
    )
    SELECT f.participant_id, 'power', count(*), sum(w.t)::bigint
      FROM power w JOIN carbonmkt.facility f ON f.facility_id = w.facility_id
     GROUP BY f.participant_id
    UNION ALL
    SELECT participant_id, 'performance', facilities, t FROM performance
$$;
COMMENT ON FUNCTION carbonmkt.participant_allowance(int, text, int, char, boolean) IS
  'Allowance per participant with the rules of a jurisdiction and year, optionally for one province: the sum of its generating units'' power_allowance(), or performance_allowance() over its production lines (clamped to the band around its confirmed emissions; CM208 when they are missing, unless skip_unconfirmed leaves such participants out).  With data_year (a pre-allocation basis) the production of that year is used, and production lines count benchmark x output without the band.';

-- The explanation ------------------------------------------------------------------

CREATE FUNCTION carbonmkt._explain_rows(p_facility bigint, p_year int, p_jurisdiction text)
RETURNS TABLE (step int, item text, value numeric, unit text, rule text)
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    f   record;
    e   carbonmkt.power_explanation;
    pe  carbonmkt.performance_explanation;
    b   carbonmkt.alloc_benchmark;
    line_output bigint;
BEGIN
    SELECT fa.facility_id, fa.participant_id, fa.category, c.method, c.output_unit INTO f
      FROM carbonmkt.facility fa JOIN carbonmkt.alloc_category c ON c.code = fa.category
     WHERE fa.facility_id = p_facility;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'facility % does not exist', p_facility USING ERRCODE = 'CM201';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.production x WHERE x.facility_id = p_facility AND x.year = p_year) THEN
        RAISE EXCEPTION 'facility % has no production data for %', p_facility, p_year
            USING ERRCODE = 'CM201', HINT = 'Record the monthly data first (carbonmkt.record_production).';
    END IF;
    IF f.method = 'power' THEN
        e := (SELECT carbonmkt.power_allowance_explain(x.facility_id, p_year, x.month, x.power_supplied_kwh,
                                                       x.generation_kwh, x.operating_minutes, x.heat_supplied_mj,
                                                       x.heat_total_mj, p_jurisdiction)
                FROM carbonmkt.production x
               WHERE x.facility_id = p_facility AND x.year = p_year);
        RETURN QUERY VALUES
          (1, 'months of data', e.months::numeric, 'months', NULL::text),
          (2, 'power supplied Q_e (供电量)', e.power_supplied_mwh, 'MWh', NULL),
          (3, 'generation (发电量)', e.generation_mwh, 'MWh', NULL),
          (4, 'operating hours', e.operating_hours, 'h', NULL),
          (5, 'rated capacity', e.capacity_mw, 'MW', NULL),
          (6, 'load factor F (负荷出力系数)', e.load_factor, 'ratio', 'generation / (capacity x operating hours)'),
          (7, 'F_load (负荷出力系数修正系数)', e.f_load, 'factor',
              CASE WHEN e.load_piece > 0 THEN format('piece %s: %s', e.load_piece, e.load_rule) ELSE e.load_rule END),
          (8, 'heat supplied Q_h (供热量)', e.heat_supplied_gj, 'GJ', NULL),
          (9, 'total heat', e.heat_total_gj, 'GJ', NULL),
          (10, 'heat ratio (供热比)', e.heat_ratio, 'ratio', 'heat supplied / total heat'),
          (11, 'F_heat (供热量修正系数)', e.f_heat, 'factor', format('1 - %s x heat ratio', e.heat_coefficient)),
          (12, 'F_cool (冷却方式修正系数)', e.f_cool, 'factor', format('%s-cooled', e.cooling)),
          (13, 'B_power (供电基准值)', e.b_power, 'tCO2/MWh', format('category %s, %s', e.category, e.year)),
          (14, 'B_heat (供热基准值)', e.b_heat, 'tCO2/GJ', format('category %s, %s', e.category, e.year)),
          (15, 'power part', trim_scale(round(e.power_part_t, 6)), 'tCO2', 'B_power x Q_e x F_load x F_heat x F_cool'),
          (16, 'heat part', trim_scale(round(e.heat_part_t, 6)), 'tCO2', 'B_heat x Q_h'),
          (17, 'exact allowance', trim_scale(round(e.exact_t, 6)), 'tCO2', 'power part + heat part (shown to 6 places)'),
          (18, 'allowance (机组配额量)', e.allowance_t::numeric, 't', format('rounded %s', e.rounding));
    ELSE
        SELECT * INTO b FROM carbonmkt.alloc_benchmark ab
         WHERE ab.jurisdiction = p_jurisdiction AND ab.year = p_year AND ab.category = f.category;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no benchmark for category "%" in % (jurisdiction %)', f.category, p_year, p_jurisdiction
                USING ERRCODE = 'CM204',
                      HINT = 'carbonmkt.alloc_benchmark has no row for it: the national authority loads it with carbonmkt.set_rule(''alloc_benchmark'', ...); doc/rules.md.';
        END IF;
        SELECT sum(x.output_t) INTO line_output FROM carbonmkt.production x WHERE x.facility_id = p_facility AND x.year = p_year;
        pe := (SELECT carbonmkt.performance_allowance_explain(fa.participant_id, p_year, x.month, x.output_t,
                                                              fa.category, p_jurisdiction)
                 FROM carbonmkt.production x
                 JOIN carbonmkt.facility fa ON fa.facility_id = x.facility_id
                 JOIN carbonmkt.alloc_category c ON c.code = fa.category AND c.method = 'performance'
                WHERE fa.participant_id = f.participant_id AND x.year = p_year);
        RETURN QUERY VALUES
          (1, 'output of this line (产量)', line_output::numeric, f.output_unit, NULL::text),
          (2, 'reference intensity (基准/参考强度)', b.benchmark, 'tCO2/t',
              format('category %s, %s%s', f.category, p_year, CASE WHEN b.illustrative THEN ', illustrative default' ELSE '' END)),
          (3, 'this line: output x intensity', trim_scale(line_output * b.benchmark), 'tCO2', NULL),
          (4, 'participant: all lines, output x intensity', pe.benchmark_t, 'tCO2', format('%s monthly rows', pe.rows)),
          (5, 'confirmed emissions (经确认排放量)', pe.verified_t::numeric, 'tCO2', format('%s', p_year)),
          (6, 'lower limit (largest gap)', pe.lower_t, 'tCO2', format('verified x (1 - %s)', pe.max_gap)),
          (7, 'upper limit (largest surplus)', pe.upper_t, 'tCO2', format('verified x (1 + %s)', pe.max_surplus)),
          (8, 'exact allowance', pe.exact_t, 'tCO2',
              CASE pe.clamp WHEN 'gap' THEN 'raised to the lower limit' WHEN 'surplus' THEN 'cut to the upper limit'
                           ELSE 'inside the band' END),
          (9, 'allowance (participant)', pe.allowance_t::numeric, 't', format('rounded %s', pe.rounding));
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._explain_rows(bigint, int, text) IS 'Internal: the rows of carbonmkt.explain_allocation().';

-- Who may allocate ------------------------------------------------------------------

CREATE FUNCTION carbonmkt._require_authority(p_province char(6), p_action text)
RETURNS void LANGUAGE plpgsql STABLE AS
$$
DECLARE
    me      bigint;
    my_kind carbonmkt.participant_kind;
    my_prov char(6);
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = session_user AND r.rolsuper) THEN
        RETURN;
    END IF;
    IF NOT carbonmkt._is_member('carbonmkt_authority') THEN
        RAISE EXCEPTION 'only an authority may %', p_action
            USING ERRCODE = '42501',
                  HINT = 'This needs membership in carbonmkt_authority and a login mapped to the national or a provincial authority (生态环境主管部门).';
    END IF;
    me := carbonmkt.caller_participant();
    SELECT kind, province INTO my_kind, my_prov FROM carbonmkt.participant WHERE participant_id = me;
    IF my_kind = 'national_authority' THEN
        RETURN;
    END IF;
    IF my_kind = 'provincial_authority' AND p_province IS NOT NULL AND p_province = my_prov THEN
        RETURN;
    END IF;
    RAISE EXCEPTION 'role "%" may not % %', session_user, p_action,
                    CASE WHEN p_province IS NULL THEN 'for every province' ELSE 'in province ' || p_province END
        USING ERRCODE = '42501',
              DETAIL = format('The login acts for %s.', coalesce(my_kind::text || ' ' || me || coalesce(' of ' || my_prov, ''),
                                                                'no participant')),
              HINT = 'A provincial authority acts in its own province only (pass province => its code); the national authority everywhere.';
END
$$;
COMMENT ON FUNCTION carbonmkt._require_authority(char, text) IS
  'Internal: raises 42501 unless the login is a superuser, the national authority, or the provincial authority of the given province (NULL = every province: national only).';

-- The explanation (public) -----------------------------------------------------------

CREATE FUNCTION carbonmkt.explain_allocation(facility_id bigint, year int, jurisdiction text DEFAULT 'CN')
RETURNS TABLE (step int, item text, value numeric, unit text, rule text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_column
DECLARE
    owner   bigint;
    prov    char(6);
BEGIN
    SELECT f.participant_id, p.province INTO owner, prov
      FROM carbonmkt.facility f JOIN carbonmkt.participant p USING (participant_id)
     WHERE f.facility_id = explain_allocation.facility_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'facility % does not exist', explain_allocation.facility_id USING ERRCODE = 'CM201';
    END IF;
    -- authorities (any province may read), BI, and the unit itself
    IF NOT (carbonmkt._is_member('carbonmkt_authority') OR carbonmkt._is_member('carbonmkt_bi')
            OR carbonmkt._is_member('carbonmkt_registry') OR owner = carbonmkt.caller_participant()) THEN
        RAISE EXCEPTION 'role "%" may not read the allocation of facility %', session_user, explain_allocation.facility_id
            USING ERRCODE = '42501', HINT = 'Authorities, BI and the facility''s own unit may.';
    END IF;
    PERFORM carbonmkt._require_rules(explain_allocation.jurisdiction, explain_allocation.year, ARRAY[owner]);
    RETURN QUERY SELECT * FROM carbonmkt._explain_rows(explain_allocation.facility_id, explain_allocation.year,
                                                      explain_allocation.jurisdiction);
END
$$;
COMMENT ON FUNCTION carbonmkt.explain_allocation(bigint, int, text) IS
  'Factor by factor, how a facility''s allowance for a year is computed: for a generating unit the quantities, load factor, F_load (and which piece), heat ratio, F_heat, F_cool, benchmarks, both parts, exact and rounded allowance; for a production line its output and intensity and the participant''s band clamp.  Authorities, BI and the unit itself.';

-- Facilities and production data (public) -------------------------------------------

CREATE FUNCTION carbonmkt.register_facility(participant_id bigint, code text, category text,
                                            capacity_mw numeric DEFAULT NULL, cooling text DEFAULT NULL,
                                            name text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_column
DECLARE
    prov    char(6);
    id      bigint;
BEGIN
    SELECT p.province INTO prov FROM carbonmkt.participant p WHERE p.participant_id = register_facility.participant_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'participant % does not exist', register_facility.participant_id USING ERRCODE = 'CM002';
    END IF;
    PERFORM carbonmkt._require_authority(prov, 'register facilities');
    INSERT INTO carbonmkt.facility AS f (participant_id, code, name, category, capacity_mw, cooling, registered_at)
    VALUES (register_facility.participant_id, btrim(register_facility.code), register_facility.name,
            register_facility.category, register_facility.capacity_mw, register_facility.cooling, carbonmkt.clock_now())
    RETURNING f.facility_id INTO id;
    INSERT INTO carbonmkt.facility_event (facility_id, kind, effective_on, new_value, recorded_by, recorded_at)
    VALUES (id, 'registered', carbonmkt.business_date(),
            format('category %s%s%s', register_facility.category,
                   coalesce(', ' || register_facility.capacity_mw || ' MW', ''),
                   coalesce(', ' || register_facility.cooling || '-cooled', '')),
            session_user, carbonmkt.clock_now());
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.register_facility(bigint, text, text, numeric, text, text) IS
  'Registers a generating unit (机组: category, rated capacity MW, cooling water/air) or production line (生产线: category) of a key emitting unit; returns the facility id.  The province''s authority or the national authority.';

CREATE FUNCTION carbonmkt.change_facility(facility_id bigint, kind text, effective_on date,
                                          capacity_mw numeric DEFAULT NULL, to_participant bigint DEFAULT NULL,
                                          memo text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_column
DECLARE
    f       carbonmkt.facility;
    prov    char(6);
    old_v   text;
    new_v   text;
    id      bigint;
BEGIN
    SELECT * INTO f FROM carbonmkt.facility x WHERE x.facility_id = change_facility.facility_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'facility % does not exist', change_facility.facility_id USING ERRCODE = 'CM201';
    END IF;
    SELECT p.province INTO prov FROM carbonmkt.participant p WHERE p.participant_id = f.participant_id;
    PERFORM carbonmkt._require_authority(prov, 'change facilities');
    CASE change_facility.kind
    WHEN 'closure', 'stoppage', 'restart' THEN
        old_v := f.status;
        new_v := CASE change_facility.kind WHEN 'closure' THEN 'closed' WHEN 'stoppage' THEN 'stopped' ELSE 'operating' END;
        IF f.status = 'closed' THEN
            RAISE EXCEPTION 'facility % is closed', f.facility_id USING ERRCODE = 'CM206';
        END IF;
        UPDATE carbonmkt.facility x SET status = new_v WHERE x.facility_id = f.facility_id;
    WHEN 'capacity_change' THEN
        IF change_facility.capacity_mw IS NULL OR change_facility.capacity_mw <= 0 THEN
            RAISE EXCEPTION 'a capacity change needs the new rated capacity (MW > 0)' USING ERRCODE = '22023';
        END IF;
        old_v := f.capacity_mw::text;
        new_v := change_facility.capacity_mw::text;
        UPDATE carbonmkt.facility x SET capacity_mw = change_facility.capacity_mw WHERE x.facility_id = f.facility_id;
    WHEN 'transfer' THEN
        -- merger or split: the facility changes hands (both provinces' authorities must agree: the
        -- receiving side is checked here, the giving side above)
        IF change_facility.to_participant IS NULL THEN
            RAISE EXCEPTION 'a transfer needs the receiving participant' USING ERRCODE = '22023';
        END IF;
        PERFORM carbonmkt._require_authority((SELECT p.province FROM carbonmkt.participant p
                                               WHERE p.participant_id = change_facility.to_participant),
                                             'transfer facilities');
        old_v := f.participant_id::text;
        new_v := change_facility.to_participant::text;
        UPDATE carbonmkt.facility x SET participant_id = change_facility.to_participant WHERE x.facility_id = f.facility_id;
    ELSE
        RAISE EXCEPTION 'unknown facility change "%"', change_facility.kind
            USING ERRCODE = '22023', HINT = 'Changes are closure, stoppage, restart, capacity_change and transfer (merger, split).';
    END CASE;
    INSERT INTO carbonmkt.facility_event AS e (facility_id, kind, effective_on, old_value, new_value, memo, recorded_by, recorded_at)
    VALUES (f.facility_id, change_facility.kind, change_facility.effective_on, old_v, new_v, change_facility.memo,
            session_user, carbonmkt.clock_now())
    RETURNING e.event_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.change_facility(bigint, text, date, numeric, bigint, text) IS
  'Records a change of a facility (closure, stoppage, restart, capacity_change, transfer to another participant for a merger or split) in carbonmkt.facility_event and applies it; returns the event id.  Allowance consequences are posted with carbonmkt.amend_allocation().';

CREATE FUNCTION carbonmkt.record_production(facility_id bigint, year int, month int,
                                            power_supplied_kwh bigint DEFAULT 0, generation_kwh bigint DEFAULT 0,
                                            operating_minutes int DEFAULT 0, heat_supplied_mj bigint DEFAULT 0,
                                            heat_total_mj bigint DEFAULT 0, output_t bigint DEFAULT 0)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_column
DECLARE
    prov char(6);
BEGIN
    SELECT p.province INTO prov FROM carbonmkt.facility f JOIN carbonmkt.participant p USING (participant_id)
     WHERE f.facility_id = record_production.facility_id;
    IF NOT FOUND THEN
        PERFORM carbonmkt._require_authority(NULL, 'record production data');   -- 42501 first for non-authorities
        RAISE EXCEPTION 'production data for unknown facility %', coalesce(record_production.facility_id::text, 'NULL')
            USING ERRCODE = 'CM201', HINT = 'Register the facility first (carbonmkt.register_facility).';
    END IF;
    PERFORM carbonmkt._require_authority(prov, 'record production data');
    INSERT INTO carbonmkt.production AS x (facility_id, year, month, power_supplied_kwh, generation_kwh, operating_minutes,
                                           heat_supplied_mj, heat_total_mj, output_t)
    VALUES (record_production.facility_id, record_production.year, record_production.month,
            record_production.power_supplied_kwh, record_production.generation_kwh, record_production.operating_minutes,
            record_production.heat_supplied_mj, record_production.heat_total_mj, record_production.output_t)
    ON CONFLICT (facility_id, year, month) DO UPDATE
       SET power_supplied_kwh = excluded.power_supplied_kwh, generation_kwh = excluded.generation_kwh,
           operating_minutes = excluded.operating_minutes, heat_supplied_mj = excluded.heat_supplied_mj,
           heat_total_mj = excluded.heat_total_mj, output_t = excluded.output_t;
END
$$;
COMMENT ON FUNCTION carbonmkt.record_production(bigint, int, int, bigint, bigint, int, bigint, bigint, bigint) IS
  'Records (or corrects) one month of a facility''s production data; checked by the production trigger (CM201-CM205); refused once the participant''s allocation for that year is final (CM209).  The province''s authority or the national authority.';

-- Runs, results and postings -----------------------------------------------------------

CREATE TABLE carbonmkt.allocation_run (
    run_id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('preallocation', 'final', 'adjustment', 'recovery', 'adoption',
                                                      'compliance')),
    jurisdiction        text NOT NULL REFERENCES carbonmkt.jurisdiction,
    year                int NOT NULL,
    province            char(6),                -- NULL: every province
    initiator           name NOT NULL,          -- the login (session_user)
    initiator_participant bigint,               -- the authority it acts for
    started_at          timestamptz NOT NULL,   -- carbonmkt.clock_now()
    business_date       date NOT NULL,
    inputs_digest       bytea NOT NULL,         -- SHA-256 of the canonical inputs (doc/allocation.md)
    rules               jsonb NOT NULL,         -- the rule rows used
    rules_digest        bytea NOT NULL,         -- SHA-256 of rules::text
    participants        int NOT NULL DEFAULT 0, -- participants that got a result in this run
    issued_t            bigint NOT NULL DEFAULT 0,
    returned_t          bigint NOT NULL DEFAULT 0,
    owed_t              bigint NOT NULL DEFAULT 0,
    skipped             int NOT NULL DEFAULT 0
);
COMMENT ON TABLE carbonmkt.allocation_run IS
  'One row per allocation run (pre-allocation, final allocation with true-up, adjustment, recovery of owed tonnes, adoption of earlier registry postings): who, when, jurisdiction, year, province, a digest of the inputs, the rule rows used (and their digest), and what it moved.';

CREATE TABLE carbonmkt.allocation (
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    year            int NOT NULL,
    stage           text NOT NULL CHECK (stage IN ('preallocation', 'final')),
    computed_t      bigint NOT NULL CHECK (computed_t >= 0),   -- before scaling to a cap
    tonnes          bigint NOT NULL CHECK (tonnes >= 0),
    basis           text NOT NULL,
    run_id          bigint NOT NULL REFERENCES carbonmkt.allocation_run,
    PRIMARY KEY (participant_id, year, stage)
);
CREATE INDEX allocation_run_idx ON carbonmkt.allocation (run_id);
COMMENT ON TABLE carbonmkt.allocation IS
  'Pre-allocation (预分配) and final allocation (核定配额) per participant and year: at most one of each, never changed (append-only); later changes are adjustments.';

CREATE TABLE carbonmkt.allocation_posting (
    entry_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          bigint NOT NULL REFERENCES carbonmkt.allocation_run,
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    year            int NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('preallocation', 'topup', 'deduction', 'adjustment', 'recovery',
                                                  'compliance')),
    reason          text CHECK (reason IN ('closure', 'stoppage', 'merger', 'split', 'capacity_change', 'correction')),
    entitlement_t   bigint NOT NULL,    -- change of the participant's entitlement for the year
    moved_t         bigint NOT NULL,    -- CEA of the year moved to (+) or from (-) its holding account
    owed_t          bigint NOT NULL,    -- change of the tonnes it owes (deducted but not held)
    registry_posting bigint,            -- carbonmkt.posting id (no foreign key: the registry's tables
                                        -- stay independent of the rooms that post to them)
    reference       text,
    memo            text,
    recorded_at     timestamptz NOT NULL,
    CHECK (entitlement_t = moved_t - owed_t),
    CHECK ((kind = 'adjustment') = (reason IS NOT NULL)),
    CHECK (kind <> 'adjustment' OR reference IS NOT NULL)
);
CREATE UNIQUE INDEX allocation_posting_once ON carbonmkt.allocation_posting (participant_id, year, kind)
    WHERE kind IN ('preallocation', 'topup', 'deduction');
CREATE UNIQUE INDEX allocation_posting_reference ON carbonmkt.allocation_posting (reference)
    WHERE kind = 'adjustment';
CREATE INDEX allocation_posting_participant ON carbonmkt.allocation_posting (participant_id, year);
COMMENT ON TABLE carbonmkt.allocation_posting IS
  'Every allocation movement with its reason: pre-allocation, top-up (追加), deduction (扣减), adjustment (closure, stoppage, merger, split, capacity change, correction), recovery of owed tonnes, compliance (the compliance room''s reductions settled after the final allocation).  Pre-allocations and true-ups are posted net of those reductions (allocation_adjustment).  entitlement_t = moved_t - owed_t: a deduction beyond what the unit holds is owed, never a negative balance.  Append-only.';

CREATE TRIGGER allocation_append_only BEFORE UPDATE OR DELETE ON carbonmkt.allocation
    FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER allocation_posting_append_only BEFORE UPDATE OR DELETE ON carbonmkt.allocation_posting
    FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
-- No TRUNCATE guard: only the owner can truncate, and the registry's own tests reset the
-- ledger with TRUNCATE participant ... CASCADE, which reaches these tables.

-- Reductions the compliance room decides (RULES.md 6) -------------------------------------
-- The compliance room writes this table (src/compliance.sql: borrowing, penalty cuts and
-- their withdrawal after a correction); the allocation room reads it: allocation_result
-- shows the reductions, and the runs issue net of them.  Defined here because the view
-- below reads it; the compliance room adds its foreign keys and row-level security.

CREATE TABLE carbonmkt.allocation_adjustment (
    adjustment_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    year            int NOT NULL CHECK (year BETWEEN 2005 AND 2100),
    tonnes          bigint NOT NULL CHECK (tonnes > 0),
    reason          text NOT NULL CHECK (reason IN ('borrowing', 'penalty_cut', 'paid_share')),
    period          int,                        -- compliance period (foreign key: src/compliance.sql); NULL for paid_share
    borrowing_id    bigint,                     -- carbonmkt.borrowing
    sanction_id     bigint,                     -- carbonmkt.sanction
    withdrawn_t     bigint NOT NULL DEFAULT 0,  -- of a penalty cut: withdrawn after a correction
    withdrawn_at    timestamptz,
    withdrawn_by    name,
    recorded_at     timestamptz NOT NULL,
    recorded_by     name NOT NULL,
    CHECK ((reason = 'borrowing') = (borrowing_id IS NOT NULL)),
    CHECK ((reason = 'penalty_cut') = (sanction_id IS NOT NULL)),
    CHECK (withdrawn_t >= 0 AND withdrawn_t <= tonnes AND (reason = 'penalty_cut' OR withdrawn_t = 0)),
    CHECK ((withdrawn_t > 0) = (withdrawn_at IS NOT NULL)),
    CONSTRAINT allocation_adjustment_period_check CHECK ((reason = 'paid_share') = (period IS NULL))
);
CREATE INDEX allocation_adjustment_unit ON carbonmkt.allocation_adjustment (participant_id, year);
COMMENT ON TABLE carbonmkt.allocation_adjustment IS
  'Reductions of a unit''s allocation of a year that the compliance room decided and the allocation room applies: borrowing (预支: those tonnes of the year were delivered early, from the province''s allocation account) and penalty_cut (核减: the shortfall times the penalty rule''s cut multiple; withdrawn_t of it withdrawn when the unit corrects its shortfall after the close); and the paid part of the allocation (paid_share, 有偿分配, written by the finance room: sold, not issued free; no compliance period).  In force: tonnes - withdrawn_t.  allocation_result shows them; preallocate(), finalize_allocation() and settle_allocation_adjustments() issue net of them.';

CREATE VIEW carbonmkt.allocation_result WITH (security_invoker = true) AS
SELECT k.participant_id, k.year,
       pre.tonnes AS preallocated_t,
       fin.tonnes AS final_t,
       s.adjusted_t,
       (coalesce(fin.tonnes, pre.tonnes, 0) + s.adjusted_t)::bigint AS allocated_t,
       c.borrowed_t,
       c.penalty_cut_t,
       (c.borrowed_t + c.penalty_cut_t)::bigint AS adjustment_t,
       (coalesce(fin.tonnes, pre.tonnes, 0) + s.adjusted_t - c.penalty_cut_t)::bigint AS entitlement_t,
       (s.moved_t + c.borrowed_t)::bigint AS issued_t,
       s.owed_t,
       (coalesce(fin.tonnes, pre.tonnes, 0) + s.adjusted_t - c.borrowed_t - c.penalty_cut_t - c.paid_t - s.posted_t)::bigint AS pending_t,
       fin.tonnes IS NOT NULL AS is_final,
       c.paid_t
  FROM (SELECT participant_id, year FROM carbonmkt.allocation
        UNION SELECT participant_id, year FROM carbonmkt.allocation_posting
        UNION SELECT participant_id, year FROM carbonmkt.allocation_adjustment) k
  LEFT JOIN carbonmkt.allocation pre ON (pre.participant_id, pre.year, pre.stage) = (k.participant_id, k.year, 'preallocation')
  LEFT JOIN carbonmkt.allocation fin ON (fin.participant_id, fin.year, fin.stage) = (k.participant_id, k.year, 'final')
  -- per key, by index: plans stay linear in the keys whatever reads the view
  CROSS JOIN LATERAL (SELECT coalesce(sum(p.entitlement_t) FILTER (WHERE p.kind = 'adjustment'), 0) AS adjusted_t,
                             coalesce(sum(p.entitlement_t), 0) AS posted_t,
                             coalesce(sum(p.moved_t), 0) AS moved_t, coalesce(sum(p.owed_t), 0)::bigint AS owed_t
                        FROM carbonmkt.allocation_posting p
                       WHERE p.participant_id = k.participant_id AND p.year = k.year) s
  CROSS JOIN LATERAL (SELECT coalesce(sum(a.tonnes) FILTER (WHERE a.reason = 'borrowing'), 0)::bigint AS borrowed_t,
                             coalesce(sum(a.tonnes - a.withdrawn_t) FILTER (WHERE a.reason = 'penalty_cut'), 0)::bigint
                                 AS penalty_cut_t,
                             coalesce(sum(a.tonnes) FILTER (WHERE a.reason = 'paid_share'), 0)::bigint AS paid_t
                        FROM carbonmkt.allocation_adjustment a
                       WHERE a.participant_id = k.participant_id AND a.year = k.year) c;
COMMENT ON VIEW carbonmkt.allocation_result IS
  'Per participant and year: pre-allocation, final allocation (NULL until final), the allocation room''s adjustments (closure, ...), allocated_t = final (else pre-allocation) + adjustments; the compliance room''s reductions (allocation_adjustment): borrowed_t (delivered early by borrowing, 预支), penalty_cut_t (核减, in force), adjustment_t = both; entitlement_t = allocated_t - penalty_cut_t; issued_t = CEA of the year moved to the unit, net (allocation postings and borrowing); owed_t (deducted but not held); pending_t = what the allocation room has still to post for the reductions (applied by the next run of the year, or by settle_allocation_adjustments once final); paid_t = the paid part of the allocation (有偿分配, allocation_adjustment reason paid_share), sold by the finance room instead of issued free.  issued_t - owed_t + pending_t + paid_t = entitlement_t.  The compliance room reads allocations here (allocated_t: the gap cap and the borrowing gap).';

-- The allocated figures alone, for readers that need nothing else (the compliance room reads
-- them per unit and period: the gap cap, the borrowing gap, the offset bases).  Same figures
-- as allocation_result's allocated_t, initial and is_final, without the postings' and the
-- reductions' sums: per key two index lookups, and filters on participant_id and year reach
-- both branches (grouping columns), so a per-unit read scans only that unit's rows.
CREATE VIEW carbonmkt._allocated_by_year WITH (security_invoker = true) AS
SELECT x.participant_id, x.year, sum(x.allocated_t)::bigint AS allocated_t, sum(x.initial_t)::bigint AS initial_t,
       bool_or(x.is_final) AS is_final
  FROM (SELECT a.participant_id, a.year,
               coalesce(max(a.tonnes) FILTER (WHERE a.stage = 'final'),
                        max(a.tonnes) FILTER (WHERE a.stage = 'preallocation')) AS allocated_t,
               coalesce(max(a.tonnes) FILTER (WHERE a.stage = 'preallocation'),
                        max(a.tonnes) FILTER (WHERE a.stage = 'final')) AS initial_t,
               bool_or(a.stage = 'final') AS is_final
          FROM carbonmkt.allocation a
         GROUP BY a.participant_id, a.year
        UNION ALL
        SELECT p.participant_id, p.year, sum(p.entitlement_t), 0, false
          FROM carbonmkt.allocation_posting p
         WHERE p.kind = 'adjustment'
         GROUP BY p.participant_id, p.year) x
 GROUP BY x.participant_id, x.year;
COMMENT ON VIEW carbonmkt._allocated_by_year IS
  'Internal: per participant and year with an allocation or an adjustment (closure, ...): allocated_t = final allocation (else pre-allocation) + the allocation room''s adjustments, initial_t = pre-allocation (else final allocation), is_final: the same figures as allocation_result''s allocated_t, coalesce(preallocated_t, final_t) and is_final, read by index per unit (the compliance room''s _allocation_source).  A year without either has no row: allocation 0 (allocation_result may have a row with allocated_t 0 for it, e.g. only a compliance reduction).';

CREATE FUNCTION carbonmkt._pending_t(p_participant bigint, p_year int) RETURNS bigint
LANGUAGE sql STABLE AS
$$ SELECT coalesce((SELECT r.pending_t FROM carbonmkt.allocation_result r
                     WHERE r.participant_id = p_participant AND r.year = p_year), 0) $$;
COMMENT ON FUNCTION carbonmkt._pending_t(bigint, int) IS
  'Internal: allocation_result.pending_t of a participant and year: what is allocated but not posted yet, net of the compliance room''s reductions (0 when none).';

-- Helpers of the runs -----------------------------------------------------------------

CREATE FUNCTION carbonmkt._round_tonnes(x numeric, mode text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS
$$
BEGIN
    RETURN CASE mode WHEN 'half_up' THEN round(x)
                     WHEN 'down' THEN trunc(x)
                     WHEN 'up' THEN ceil(x) END;
END
$$;
COMMENT ON FUNCTION carbonmkt._round_tonnes(numeric, text) IS 'Internal: whole tonnes by the rounding rule (half_up, down, up).';

CREATE FUNCTION carbonmkt._rules_snapshot(p_jurisdiction text, p_year int, p_data_year int DEFAULT NULL)
RETURNS jsonb LANGUAGE sql STABLE AS
$$
    SELECT jsonb_build_object(
        'jurisdiction', p_jurisdiction, 'year', p_year,
        'year_rule', (SELECT to_jsonb(y) FROM carbonmkt.alloc_year_rule y WHERE y.jurisdiction = p_jurisdiction AND y.year = p_year),
        'benchmark', (SELECT jsonb_agg(to_jsonb(b) ORDER BY b.category) FROM carbonmkt.alloc_benchmark b
                       WHERE b.jurisdiction = p_jurisdiction AND b.year = p_year),
        'heat_factor', (SELECT jsonb_agg(to_jsonb(h) ORDER BY h.fuel) FROM carbonmkt.alloc_heat_factor h
                         WHERE h.jurisdiction = p_jurisdiction AND h.year = p_year),
        'cooling_factor', (SELECT jsonb_agg(to_jsonb(c) ORDER BY c.fuel, c.cooling) FROM carbonmkt.alloc_cooling_factor c
                            WHERE c.jurisdiction = p_jurisdiction AND c.year = p_year),
        'load_piece', (SELECT jsonb_agg(to_jsonb(l) ORDER BY l.lower_bound) FROM carbonmkt.alloc_load_piece l
                        WHERE l.jurisdiction = p_jurisdiction AND l.year = p_year),
        'band', (SELECT jsonb_agg(to_jsonb(d) ORDER BY d.sector) FROM carbonmkt.alloc_band d
                  WHERE d.jurisdiction = p_jurisdiction AND d.year = p_year),
        'cap', (SELECT jsonb_agg(to_jsonb(c) ORDER BY c.sector) FROM carbonmkt.alloc_cap c
                 WHERE c.jurisdiction = p_jurisdiction AND c.year = p_year),
        'category', (SELECT jsonb_agg(to_jsonb(c) ORDER BY c.code) FROM carbonmkt.alloc_category c))
$$;
COMMENT ON FUNCTION carbonmkt._rules_snapshot(text, int, int) IS
  'Internal: every rule row of a jurisdiction and year (and the categories) as one jsonb document, recorded with each run.';

CREATE FUNCTION carbonmkt._begin_run(p_kind text, p_jurisdiction text, p_year int, p_province char(6), p_inputs text)
RETURNS bigint LANGUAGE plpgsql AS
$$
DECLARE
    rules   jsonb := carbonmkt._rules_snapshot((carbonmkt.check_jurisdiction(p_jurisdiction)).code, p_year);
    ts      timestamptz := carbonmkt.clock_now();
    id      bigint;
BEGIN
    INSERT INTO carbonmkt.allocation_run AS r (kind, jurisdiction, year, province, initiator, initiator_participant,
                                               started_at, business_date, inputs_digest, rules, rules_digest)
    VALUES (p_kind, p_jurisdiction, p_year, p_province, session_user, carbonmkt.caller_participant(),
            ts, carbonmkt.business_date(ts), sha256(convert_to(coalesce(p_inputs, ''), 'UTF8')), rules,
            sha256(convert_to(rules::text, 'UTF8')))
    RETURNING r.run_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt._begin_run(text, text, int, char, text) IS
  'Internal: records the start of a run (who, when, inputs digest, rule snapshot) and returns its id.';

CREATE FUNCTION carbonmkt._allocation_account(p_province char(6)) RETURNS bigint
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    id bigint;
BEGIN
    SELECT account_id INTO id FROM carbonmkt.account WHERE kind = 'allocation' AND province = p_province;
    IF id IS NULL THEN
        RAISE EXCEPTION 'province % has no allocation account', p_province
            USING ERRCODE = 'CM211', HINT = 'The registry opens it: carbonmkt.open_account(<provincial authority>, ''allocation'').';
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt._allocation_account(char) IS 'Internal: the allocation account (省级配额账户) of a province (CM211 if none).';

CREATE FUNCTION carbonmkt._holding_account(p_participant bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    id bigint;
BEGIN
    SELECT min(account_id) INTO id FROM carbonmkt.account
     WHERE participant_id = p_participant AND kind = 'holding' AND status <> 'closed';
    IF id IS NULL THEN
        RAISE EXCEPTION 'participant % has no open holding account', p_participant
            USING ERRCODE = 'CM211', HINT = 'The registry opens it: carbonmkt.open_account(<participant>, ''holding'').';
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt._holding_account(bigint) IS 'Internal: a participant''s (first open) holding account (CM211 if none).';

-- Issue into a province's allocation account what it lacks for the postings to come.
CREATE FUNCTION carbonmkt._ensure_available(p_account bigint, p_year int, p_needed bigint, p_reference text, p_memo text)
RETURNS bigint LANGUAGE plpgsql AS
$$
DECLARE
    avail bigint;
BEGIN
    IF p_needed <= 0 THEN
        RETURN 0;
    END IF;
    SELECT balance - held INTO avail FROM carbonmkt.holding
     WHERE account_id = p_account AND instrument = 'CEA' AND vintage = p_year AND project = '';
    IF coalesce(avail, 0) >= p_needed THEN
        RETURN 0;
    END IF;
    PERFORM carbonmkt.issue_cea(p_account, p_year, p_needed - coalesce(avail, 0), p_reference, p_memo);
    RETURN p_needed - coalesce(avail, 0);
END
$$;
COMMENT ON FUNCTION carbonmkt._ensure_available(bigint, int, bigint, text, text) IS
  'Internal: issues (签发) into an allocation account the CEA of a vintage it lacks for p_needed tonnes; returns the tonnes issued.';

-- One allocation movement: a positive entitlement change is transferred from the province's
-- allocation account to the unit; a negative one is taken back as far as the unit holds
-- available CEA of the year, and the rest is recorded as owed.
CREATE FUNCTION carbonmkt._post_entry(p_run bigint, p_participant bigint, p_year int, p_jurisdiction text,
                                      p_kind text, p_entitlement bigint, p_reason text, p_reference text,
                                      p_memo text, OUT moved bigint, OUT owed bigint, OUT registry_posting bigint)
LANGUAGE plpgsql AS
$$
DECLARE
    prov    char(6);
    alloc   bigint;
    unit    bigint;
    avail   bigint;
    ref     text := format('carbonmkt:alloc:%s:%s:%s:%s', p_jurisdiction, p_year, p_kind,
                           coalesce(p_reference, p_participant::text));
BEGIN
    SELECT province INTO prov FROM carbonmkt.participant WHERE participant_id = p_participant;
    alloc := carbonmkt._allocation_account(prov);
    unit := carbonmkt._holding_account(p_participant);
    moved := 0; owed := 0;
    IF p_entitlement > 0 THEN
        PERFORM carbonmkt._ensure_available(alloc, p_year, p_entitlement, ref || ':issue',
                                            format('%s %s allocation (%s)', p_year, p_kind, p_participant));
        registry_posting := carbonmkt.transfer_cea(alloc, unit, p_year, p_entitlement, ref,
                                                   format('%s %s%s', p_year, p_kind, coalesce(' (' || p_reason || ')', '')));
        moved := p_entitlement;
    ELSIF p_entitlement < 0 THEN
        SELECT balance - held INTO avail FROM carbonmkt.holding
         WHERE account_id = unit AND instrument = 'CEA' AND vintage = p_year AND project = '';
        moved := -least(-p_entitlement, coalesce(avail, 0));
        owed := -p_entitlement + moved;
        IF moved < 0 THEN
            registry_posting := carbonmkt.transfer_cea(unit, alloc, p_year, -moved, ref,
                                                       format('%s %s%s', p_year, p_kind, coalesce(' (' || p_reason || ')', '')));
        END IF;
    END IF;
    INSERT INTO carbonmkt.allocation_posting (run_id, participant_id, year, kind, reason, entitlement_t, moved_t, owed_t,
                                              registry_posting, reference, memo, recorded_at)
    VALUES (p_run, p_participant, p_year, p_kind, p_reason, p_entitlement, moved, owed, registry_posting,
            p_reference, p_memo, carbonmkt.clock_now());
END
$$;
COMMENT ON FUNCTION carbonmkt._post_entry(bigint, bigint, int, text, text, bigint, text, text, text) IS
  'Internal: posts one allocation movement through the registry (issue_cea as needed, transfer_cea) and records it; a deduction beyond the unit''s available CEA of the year is recorded as owed.';

CREATE FUNCTION carbonmkt._finish_run(p_run bigint, p_skipped int) RETURNS void
LANGUAGE sql AS
$$
    UPDATE carbonmkt.allocation_run r
       SET participants = (SELECT count(DISTINCT participant_id) FROM carbonmkt.allocation_posting p WHERE p.run_id = p_run)
                          + (SELECT count(*) FROM carbonmkt.allocation a WHERE a.run_id = p_run
                              AND NOT EXISTS (SELECT 1 FROM carbonmkt.allocation_posting p
                                               WHERE p.run_id = p_run AND p.participant_id = a.participant_id)),
           issued_t = coalesce((SELECT sum(moved_t) FROM carbonmkt.allocation_posting p WHERE p.run_id = p_run AND moved_t > 0), 0),
           returned_t = coalesce((SELECT -sum(moved_t) FROM carbonmkt.allocation_posting p WHERE p.run_id = p_run AND moved_t < 0), 0),
           owed_t = coalesce((SELECT sum(owed_t) FROM carbonmkt.allocation_posting p WHERE p.run_id = p_run), 0),
           skipped = p_skipped
     WHERE r.run_id = p_run
$$;
COMMENT ON FUNCTION carbonmkt._finish_run(bigint, int) IS 'Internal: records what a run moved.';

-- Scaling to a cap ---------------------------------------------------------------------

CREATE FUNCTION carbonmkt.scale_to_cap(cap bigint, ids bigint[], amounts numeric[])
RETURNS TABLE (id bigint, amount numeric, scaled bigint)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS
$$
#variable_conflict use_column
DECLARE
    total numeric;
BEGIN
    IF cap IS NULL OR cap < 0 THEN
        RAISE EXCEPTION 'cap must be zero or positive: %', coalesce(cap::text, 'NULL') USING ERRCODE = 'CM210';
    END IF;
    IF cardinality(ids) IS DISTINCT FROM cardinality(amounts) THEN
        RAISE EXCEPTION 'scale_to_cap: % ids but % amounts', cardinality(ids), cardinality(amounts) USING ERRCODE = 'CM210';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(ids, amounts) u(i, a) WHERE i IS NULL OR a IS NULL OR a < 0) THEN
        RAISE EXCEPTION 'scale_to_cap: ids must be given and amounts zero or positive' USING ERRCODE = 'CM210';
    END IF;
    IF (SELECT count(DISTINCT i) FROM unnest(ids) i) <> cardinality(ids) THEN
        RAISE EXCEPTION 'scale_to_cap: an id appears twice' USING ERRCODE = 'CM210';
    END IF;
    total := (SELECT sum(a) FROM unnest(amounts) a);
    IF coalesce(total, 0) = 0 THEN
        IF cap > 0 THEN
            RAISE EXCEPTION 'cannot scale allocations summing to 0 t to a cap of % t', cap
                USING ERRCODE = 'CM210', DETAIL = format('%s allocations, all zero.', coalesce(cardinality(ids), 0));
        END IF;
        RETURN QUERY SELECT u.i, u.a, 0::bigint FROM unnest(ids, amounts) u(i, a) ORDER BY u.i;
        RETURN;
    END IF;
    -- quota_i = amount_i x cap / total: floor it, then give the tonnes left to the largest
    -- remainders (exact integers: remainder_i = amount_i x cap - floor_i x total), ties by id
    RETURN QUERY
    WITH q AS (SELECT u.i, u.a, div(u.a * cap, total) AS base, u.a * cap - div(u.a * cap, total) * total AS rem
                 FROM unnest(ids, amounts) u(i, a)),
         r AS (SELECT q.*, row_number() OVER (ORDER BY q.rem DESC, q.i) AS rank FROM q),
         left_over AS (SELECT cap - sum(base) AS n FROM q)
    SELECT r.i, r.a, (r.base + CASE WHEN r.rank <= (SELECT n FROM left_over) THEN 1 ELSE 0 END)::bigint
      FROM r ORDER BY r.i;
END
$$;
COMMENT ON FUNCTION carbonmkt.scale_to_cap(bigint, bigint[], numeric[]) IS
  'Scales amounts pro rata so they sum to the cap exactly (总量控制): each gets floor(amount x cap / total), and the tonnes left go one each to the largest remainders, ties to the smaller id.  Exact and reproducible; CM210 for a negative cap, negative amounts, duplicate ids, or a positive cap over zero amounts.';

-- Pre-allocation ----------------------------------------------------------------------

CREATE FUNCTION carbonmkt._preallocation_candidates(p_jurisdiction text, p_year int, p_province char(6))
RETURNS TABLE (participant_id bigint, province char(6), basis_year int, basis_t bigint, share numeric, tonnes bigint)
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    y carbonmkt.alloc_year_rule;
BEGIN
    PERFORM carbonmkt.check_jurisdiction(p_jurisdiction);
    SELECT * INTO y FROM carbonmkt.alloc_year_rule r WHERE r.jurisdiction = p_jurisdiction AND r.year = p_year;
    IF NOT FOUND OR y.preallocation_share IS NULL THEN
        RAISE EXCEPTION 'no pre-allocation rule for % (jurisdiction %)', p_year, p_jurisdiction
            USING ERRCODE = 'CM204',
                  DETAIL = format('carbonmkt.alloc_year_rule has %s for %s.',
                                  CASE WHEN y.year IS NULL THEN 'no row' ELSE 'no preallocation_share' END, p_year),
                  HINT = 'The national authority loads it with carbonmkt.set_rule(''alloc_year_rule'', ...) (or amend_rule: preallocation_share, preallocation_basis, basis_year); doc/rules.md.';
    END IF;
    IF y.preallocation_basis = 'verified_emissions' THEN
        RETURN QUERY
        SELECT p.participant_id, p.province, y.basis_year, ce.emissions_t, y.preallocation_share,
               carbonmkt._round_tonnes(y.preallocation_share * ce.emissions_t, y.rounding)
          FROM carbonmkt.participant p
          JOIN carbonmkt.sector s ON s.code = p.sector AND s.covered_from <= p_year
          LEFT JOIN carbonmkt.confirmed_emission ce ON ce.participant_id = p.participant_id AND ce.year = y.basis_year
         WHERE p.kind = 'key_emitter' AND (p_province IS NULL OR p.province = p_province)
         ORDER BY p.participant_id;
    ELSE
        PERFORM carbonmkt._require_rules(p_jurisdiction, p_year);
        RETURN QUERY
        SELECT p.participant_id, p.province, y.basis_year, a.allowance_t, y.preallocation_share,
               carbonmkt._round_tonnes(y.preallocation_share * a.allowance_t, y.rounding)
          FROM carbonmkt.participant p
          JOIN carbonmkt.sector s ON s.code = p.sector AND s.covered_from <= p_year
          LEFT JOIN carbonmkt.participant_allowance(p_year, p_jurisdiction, y.basis_year, p_province, true) a
                 ON a.participant_id = p.participant_id
         WHERE p.kind = 'key_emitter' AND (p_province IS NULL OR p.province = p_province)
         ORDER BY p.participant_id;
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._preallocation_candidates(text, int, char) IS
  'Internal: every covered key emitting unit in scope with its pre-allocation basis (NULL when missing) and amount, by the year''s rule.';

CREATE FUNCTION carbonmkt.preallocate(year int, province char(6) DEFAULT NULL, jurisdiction text DEFAULT 'CN',
                                      preview boolean DEFAULT false)
RETURNS TABLE (participant_id bigint, province_code char(6), basis_year int, basis_t bigint, share numeric,
               tonnes bigint, status text, run_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'allocation' AS
$$
#variable_conflict use_column
DECLARE
    run     bigint;
    r       record;
    inputs  text;
    skipped int;
BEGIN
    PERFORM carbonmkt._require_authority(preallocate.province, 'pre-allocate');
    IF preallocate.province IS NOT NULL AND NOT EXISTS (SELECT 1 FROM carbonmkt.region g WHERE g.code = preallocate.province) THEN
        RAISE EXCEPTION 'unknown province code "%"', preallocate.province USING ERRCODE = '22023';
    END IF;
    IF preview THEN
        RETURN QUERY
        SELECT c.participant_id, c.province, c.basis_year, c.basis_t, c.share, c.tonnes,
               CASE WHEN a.participant_id IS NOT NULL THEN format('already pre-allocated (run %s)', a.run_id)
                    WHEN c.basis_t IS NULL THEN format('no basis: no %s confirmed emissions', c.basis_year)
                    ELSE 'preview' END,
               NULL::bigint
          FROM carbonmkt._preallocation_candidates(preallocate.jurisdiction, preallocate.year, preallocate.province) c
          LEFT JOIN carbonmkt.allocation a ON (a.participant_id, a.year, a.stage) = (c.participant_id, preallocate.year, 'preallocation')
         ORDER BY c.participant_id;
        RETURN;
    END IF;

    IF to_regclass('pg_temp.alloc_candidates') IS NULL THEN
        CREATE TEMP TABLE alloc_candidates (participant_id bigint, province char(6), basis_year int,
                                            basis_t bigint, share numeric, tonnes bigint) ON COMMIT DROP;
    END IF;
    TRUNCATE alloc_candidates;
    INSERT INTO alloc_candidates
    SELECT * FROM carbonmkt._preallocation_candidates(preallocate.jurisdiction, preallocate.year, preallocate.province);
    SELECT string_agg(format('%s:%s:%s', c.participant_id, c.basis_year, c.basis_t), E'\n' ORDER BY c.participant_id)
      INTO inputs FROM alloc_candidates c;
    run := carbonmkt._begin_run('preallocation', preallocate.jurisdiction, preallocate.year, preallocate.province, inputs);

    -- at most one pre-allocation per participant and year, whoever runs it
    INSERT INTO carbonmkt.allocation (participant_id, year, stage, computed_t, tonnes, basis, run_id)
    SELECT c.participant_id, preallocate.year, 'preallocation', c.tonnes, c.tonnes,
           format('%s x %s confirmed emissions %s t', c.share, c.basis_year, c.basis_t), run
      FROM alloc_candidates c WHERE c.basis_t IS NOT NULL
    ON CONFLICT (participant_id, year, stage) DO NOTHING;

    -- what each unit gets: the pre-allocation net of the compliance room's reductions of
    -- the year (borrowing delivered early, penalty cuts): allocation_result.pending_t
    PERFORM carbonmkt._alloc_net_of_run(run);
    PERFORM carbonmkt._alloc_net_provide(run, preallocate.year, preallocate.jurisdiction, 'preallocation',
                                         format('%s pre-allocation (预分配), run %s', preallocate.year, run));
    FOR r IN SELECT n.* FROM alloc_net n WHERE n.net <> 0 ORDER BY n.participant_id LOOP
        PERFORM carbonmkt._post_entry(run, r.participant_id, preallocate.year, preallocate.jurisdiction,
                                      'preallocation', r.net, NULL, NULL, carbonmkt._net_memo(r.borrowed, r.cut));
    END LOOP;
    SELECT count(*) INTO skipped FROM alloc_candidates c WHERE c.basis_t IS NULL;
    PERFORM carbonmkt._finish_run(run, skipped);

    RETURN QUERY
    SELECT c.participant_id, c.province, c.basis_year, c.basis_t, c.share, coalesce(a.tonnes, c.tonnes),
           CASE WHEN a.run_id = run THEN 'pre-allocated'
                WHEN a.run_id IS NOT NULL THEN format('already pre-allocated (run %s)', a.run_id)
                ELSE format('no basis: no %s confirmed emissions', c.basis_year) END,
           coalesce(a.run_id, run)
      FROM alloc_candidates c
      LEFT JOIN carbonmkt.allocation a ON (a.participant_id, a.year, a.stage) = (c.participant_id, preallocate.year, 'preallocation')
     ORDER BY c.participant_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.preallocate(int, char, text, boolean) IS
  'Pre-allocation (预分配) of a year by the year''s rule (2021-22: 70% of the 2021 verified emissions) for every covered key emitting unit of a province (or all): issues what the province''s allocation account lacks, transfers each unit its amount, records the run.  Idempotent: a unit is pre-allocated at most once per year.  preview => true computes without recording or issuing.  Authorities only.';

-- alloc_net: what a run posts to each unit, net of the compliance room's reductions -------------

CREATE FUNCTION carbonmkt._alloc_net_reset() RETURNS void LANGUAGE plpgsql AS
$$
BEGIN
    IF to_regclass('pg_temp.alloc_net') IS NULL THEN
        CREATE TEMP TABLE alloc_net (participant_id bigint, province char(6), net bigint, borrowed bigint, cut bigint)
            ON COMMIT DROP;
    END IF;
    TRUNCATE alloc_net;
END
$$;
COMMENT ON FUNCTION carbonmkt._alloc_net_reset() IS
  'Internal: an empty temporary table alloc_net (participant, province, net tonnes to post, borrowed, penalty cut) for the run being made.';

CREATE FUNCTION carbonmkt._alloc_net_of_run(p_run bigint) RETURNS void LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM carbonmkt._alloc_net_reset();
    -- what each unit of the run gets: its allocation net of the compliance room's reductions of
    -- the year (borrowing delivered early, penalty cuts): allocation_result.pending_t
    INSERT INTO alloc_net
    SELECT a.participant_id, p.province, r.pending_t, r.borrowed_t, r.penalty_cut_t
      FROM carbonmkt.allocation a JOIN carbonmkt.participant p USING (participant_id)
      JOIN carbonmkt.allocation_result r ON (r.participant_id, r.year) = (a.participant_id, a.year)
     WHERE a.run_id = p_run;
END
$$;
COMMENT ON FUNCTION carbonmkt._alloc_net_of_run(bigint) IS
  'Internal: fills alloc_net with the units of a run and what is still to be posted to each (allocation_result.pending_t).';

CREATE FUNCTION carbonmkt._alloc_net_provide(p_run bigint, p_year int, p_jurisdiction text, p_stage text, p_memo text)
RETURNS void LANGUAGE plpgsql AS
$$
DECLARE
    r   record;
BEGIN
    -- the one lock order (doc/registry.md, "Lock order"): every account the run will post to
    -- (the provinces' allocation accounts, the units' holding accounts), up front in account
    -- order, since the run posts unit after unit in participant order
    PERFORM 1 FROM carbonmkt.account a
      WHERE a.account_id IN (SELECT x.account_id FROM carbonmkt.account x
                              WHERE x.kind = 'allocation' AND x.province IN (SELECT n.province FROM alloc_net n)
                             UNION ALL
                             SELECT x.account_id FROM carbonmkt.account x
                              WHERE x.kind = 'holding' AND x.status <> 'closed'
                                AND x.participant_id IN (SELECT n.participant_id FROM alloc_net n WHERE n.net <> 0))
      ORDER BY a.account_id FOR NO KEY UPDATE;
    -- issue what each province's allocation account lacks for alloc_net's positive nets, once
    -- per province (idempotent per run and province)
    FOR r IN SELECT n.province, sum(n.net)::bigint AS total
               FROM alloc_net n WHERE n.net > 0 GROUP BY n.province ORDER BY n.province LOOP
        PERFORM carbonmkt._ensure_available(carbonmkt._allocation_account(r.province), p_year, r.total,
                                            format('carbonmkt:alloc:%s:%s:%s:run%s:%s', p_jurisdiction, p_year,
                                                   p_stage, p_run, r.province),
                                            p_memo);
    END LOOP;
END
$$;
COMMENT ON FUNCTION carbonmkt._alloc_net_provide(bigint, int, text, text, text) IS
  'Internal: locks every account the run will post to in account order (the global lock order), then makes each province''s allocation account hold what alloc_net''s positive nets need, issuing the difference once per province and run.';

CREATE FUNCTION carbonmkt._net_memo(p_borrowed bigint, p_cut bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS
$$ SELECT 'net of ' || nullif(concat_ws(' and ',
                                         CASE WHEN p_borrowed > 0 THEN format('%s t borrowed (预支, delivered early)', p_borrowed) END,
                                         CASE WHEN p_cut > 0 THEN format('%s t penalty cut (核减)', p_cut) END), '') $$;
COMMENT ON FUNCTION carbonmkt._net_memo(bigint, bigint) IS
  'Internal: the memo of a posting made net of the compliance room''s reductions (NULL without any).';

-- Final allocation and true-up ----------------------------------------------------------

CREATE FUNCTION carbonmkt._final_candidates(p_jurisdiction text, p_year int, p_province char(6))
RETURNS TABLE (participant_id bigint, province char(6), sector text, method text, computed_t bigint,
               final_t bigint, basis text, status text)
LANGUAGE plpgsql AS
$$
DECLARE
    cap record;
    n   int;
    who text;
BEGIN
    PERFORM carbonmkt._require_rules(p_jurisdiction, p_year,
                                     ARRAY(SELECT p.participant_id FROM carbonmkt.participant p
                                            WHERE p_province IS NULL OR p.province = p_province));
    IF to_regclass('pg_temp.alloc_final_work') IS NULL THEN
        CREATE TEMP TABLE alloc_final_work (participant_id bigint, province char(6), sector text, method text,
                                            computed_t bigint, final_t bigint, basis text, status text) ON COMMIT DROP;
    END IF;
    TRUNCATE alloc_final_work;
    INSERT INTO alloc_final_work
    SELECT p.participant_id, p.province, p.sector, a.method, a.allowance_t,
           a.allowance_t,
           CASE a.method WHEN 'power' THEN format('benchmark method, %s generating unit(s)', a.facilities)
                         WHEN 'performance' THEN format('performance method, %s production line(s)', a.facilities) END,
           CASE WHEN NOT EXISTS (SELECT 1 FROM carbonmkt.facility f WHERE f.participant_id = p.participant_id)
                     THEN 'skipped: no facilities registered'
                WHEN a.participant_id IS NULL
                 AND EXISTS (SELECT 1 FROM carbonmkt.facility f JOIN carbonmkt.alloc_category c ON c.code = f.category
                              JOIN carbonmkt.production x ON x.facility_id = f.facility_id AND x.year = p_year
                              WHERE f.participant_id = p.participant_id AND c.method = 'performance')
                     THEN format('pending: no %s confirmed emissions', p_year)
                WHEN a.participant_id IS NULL THEN format('pending: no %s production data', p_year)
                ELSE 'computed' END
      FROM carbonmkt.participant p
      JOIN carbonmkt.sector s ON s.code = p.sector AND s.covered_from <= p_year
      LEFT JOIN carbonmkt.participant_allowance(p_year, p_jurisdiction, NULL, p_province, true) a
             ON a.participant_id = p.participant_id
     WHERE p.kind = 'key_emitter' AND (p_province IS NULL OR p.province = p_province);

    -- total-quantity control: scale each capped sector to its cap
    FOR cap IN SELECT c.sector, c.cap_t FROM carbonmkt.alloc_cap c
                WHERE c.jurisdiction = p_jurisdiction AND c.year = p_year ORDER BY c.sector LOOP
        IF NOT EXISTS (SELECT 1 FROM alloc_final_work w WHERE w.sector = cap.sector) THEN
            CONTINUE;
        END IF;
        IF p_province IS NOT NULL THEN
            RAISE EXCEPTION 'sector % has a cap of % t for %: allocate it nationally', cap.sector, cap.cap_t, p_year
                USING ERRCODE = 'CM209', HINT = 'Run the final allocation without a province (national authority).';
        END IF;
        SELECT count(*), string_agg(format('%s (%s)', w.participant_id, w.status), ', ' ORDER BY w.participant_id)
          INTO n, who
          FROM (SELECT * FROM alloc_final_work x WHERE x.sector = cap.sector AND x.final_t IS NULL
                 ORDER BY x.participant_id LIMIT 20) w;
        IF n > 0 THEN
            SELECT count(*) INTO n FROM alloc_final_work w WHERE w.sector = cap.sector AND w.final_t IS NULL;
            who := who || CASE WHEN n > 20 THEN format(' and %s more', n - 20) ELSE '' END;
            RAISE EXCEPTION 'cannot scale sector % to its cap of % t for %: % participant(s) are not computed yet: %',
                            cap.sector, cap.cap_t, p_year, n, who
                USING ERRCODE = 'CM209', DETAIL = 'A cap is shared by the whole sector; every participant must be computed first.';
        END IF;
        UPDATE alloc_final_work w SET final_t = s.scaled,
               basis = w.basis || format(', scaled to the %s cap of %s t', cap.sector, cap.cap_t)
          FROM carbonmkt.scale_to_cap(cap.cap_t,
                                      ARRAY(SELECT x.participant_id FROM alloc_final_work x WHERE x.sector = cap.sector ORDER BY 1),
                                      ARRAY(SELECT x.final_t::numeric FROM alloc_final_work x WHERE x.sector = cap.sector ORDER BY x.participant_id)) s
         WHERE s.id = w.participant_id;
    END LOOP;
    RETURN QUERY SELECT * FROM alloc_final_work w ORDER BY w.participant_id;
END
$$;
COMMENT ON FUNCTION carbonmkt._final_candidates(text, int, char) IS
  'Internal: every covered key emitting unit in scope with its computed final allocation (scaled to the sector''s cap where there is one) or why it has none.';

CREATE FUNCTION carbonmkt.finalize_allocation(year int, province char(6) DEFAULT NULL, jurisdiction text DEFAULT 'CN',
                                              preview boolean DEFAULT false)
RETURNS TABLE (participant_id bigint, province_code char(6), method text, computed_t bigint, final_t bigint,
               preallocated_t bigint, topup_t bigint, deducted_t bigint, owed_t bigint, status text, run_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'allocation' AS
$$
#variable_conflict use_column
DECLARE
    run     bigint;
    r       record;
    e       record;
    inputs  text;
    skipped int;
BEGIN
    PERFORM carbonmkt._require_authority(finalize_allocation.province, 'make final allocations');
    IF finalize_allocation.province IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM carbonmkt.region g WHERE g.code = finalize_allocation.province) THEN
        RAISE EXCEPTION 'unknown province code "%"', finalize_allocation.province USING ERRCODE = '22023';
    END IF;
    IF to_regclass('pg_temp.alloc_final') IS NULL THEN
        CREATE TEMP TABLE alloc_final (participant_id bigint, province char(6), sector text, method text,
                                       computed_t bigint, final_t bigint, basis text, status text) ON COMMIT DROP;
    END IF;
    TRUNCATE alloc_final;
    INSERT INTO alloc_final
    SELECT * FROM carbonmkt._final_candidates(finalize_allocation.jurisdiction, finalize_allocation.year,
                                              finalize_allocation.province);

    IF preview THEN
        RETURN QUERY
        -- the true-up: final - pre-allocation + what is pending (the compliance room's reductions)
        SELECT c.participant_id, c.province, c.method, c.computed_t, c.final_t, pre.tonnes,
               greatest(d.diff, 0),
               least(greatest(-d.diff, 0), coalesce(h.available, 0)),
               greatest(-d.diff - coalesce(h.available, 0), 0),
               CASE WHEN fin.run_id IS NOT NULL THEN format('already final (run %s)', fin.run_id)
                    WHEN c.final_t IS NULL THEN c.status ELSE 'preview' END,
               NULL::bigint
          FROM alloc_final c
          LEFT JOIN carbonmkt.allocation pre ON (pre.participant_id, pre.year, pre.stage) = (c.participant_id, finalize_allocation.year, 'preallocation')
          CROSS JOIN LATERAL (SELECT c.final_t - coalesce(pre.tonnes, 0)
                                     + carbonmkt._pending_t(c.participant_id, finalize_allocation.year) AS diff) d
          LEFT JOIN carbonmkt.allocation fin ON (fin.participant_id, fin.year, fin.stage) = (c.participant_id, finalize_allocation.year, 'final')
          LEFT JOIN LATERAL (SELECT sum(b.balance - b.held)::bigint AS available FROM carbonmkt.holding b
                              JOIN carbonmkt.account ac ON ac.account_id = b.account_id
                             WHERE ac.participant_id = c.participant_id AND ac.kind = 'holding'
                               AND b.instrument = 'CEA' AND b.vintage = finalize_allocation.year) h ON true
         ORDER BY c.participant_id;
        RETURN;
    END IF;

    SELECT string_agg(format('%s', t), E'\n' ORDER BY t.facility_id, t.year, t.month) INTO inputs
      FROM (SELECT x.facility_id, x.year, x.month, x.power_supplied_kwh, x.generation_kwh, x.operating_minutes,
                   x.heat_supplied_mj, x.heat_total_mj, x.output_t, f.participant_id, f.category, f.capacity_mw,
                   f.cooling, ce.emissions_t
              FROM carbonmkt.production x
              JOIN carbonmkt.facility f ON f.facility_id = x.facility_id
              JOIN alloc_final c ON c.participant_id = f.participant_id
              LEFT JOIN carbonmkt.confirmed_emission ce ON ce.participant_id = f.participant_id
                                                       AND ce.year = finalize_allocation.year
             WHERE x.year = finalize_allocation.year) t;
    run := carbonmkt._begin_run('final', finalize_allocation.jurisdiction, finalize_allocation.year,
                                finalize_allocation.province, inputs);

    INSERT INTO carbonmkt.allocation (participant_id, year, stage, computed_t, tonnes, basis, run_id)
    SELECT c.participant_id, finalize_allocation.year, 'final', c.computed_t, c.final_t, c.basis, run
      FROM alloc_final c WHERE c.final_t IS NOT NULL
    ON CONFLICT (participant_id, year, stage) DO NOTHING;

    -- the true-up of each unit: final allocation less what was posted, net of the
    -- compliance room's reductions of the year (allocation_result.pending_t)
    PERFORM carbonmkt._alloc_net_of_run(run);
    -- top-ups: issue what each province lacks once, then transfer
    PERFORM carbonmkt._alloc_net_provide(run, finalize_allocation.year, finalize_allocation.jurisdiction, 'topup',
                                         format('%s final allocation top-ups (追加), run %s', finalize_allocation.year, run));
    FOR r IN SELECT n.* FROM alloc_net n WHERE n.net <> 0 ORDER BY n.participant_id LOOP
        e := carbonmkt._post_entry(run, r.participant_id, finalize_allocation.year, finalize_allocation.jurisdiction,
                                   CASE WHEN r.net > 0 THEN 'topup' ELSE 'deduction' END, r.net, NULL, NULL,
                                   carbonmkt._net_memo(r.borrowed, r.cut));
    END LOOP;
    SELECT count(*) INTO skipped FROM alloc_final c WHERE c.final_t IS NULL;
    PERFORM carbonmkt._finish_run(run, skipped);

    RETURN QUERY
    SELECT c.participant_id, c.province, c.method, c.computed_t, coalesce(fin.tonnes, c.final_t), pre.tonnes,
           coalesce(tp.moved_t, 0), coalesce(-dd.moved_t, 0), coalesce(dd.owed_t, 0),
           CASE WHEN fin.run_id = run THEN
                     CASE WHEN tp.entry_id IS NOT NULL THEN 'final: topped up (追加)'
                          WHEN dd.owed_t > 0 THEN 'final: deducted (扣减), rest owed'
                          WHEN dd.entry_id IS NOT NULL THEN 'final: deducted (扣减)'
                          ELSE 'final: equal to what was posted' END
                WHEN fin.run_id IS NOT NULL THEN
                     format('already final (run %s)%s', fin.run_id,
                            CASE WHEN fin.tonnes <> c.final_t THEN format('; recomputed %s t now', c.final_t) ELSE '' END)
                ELSE c.status END,
           coalesce(fin.run_id, run)
      FROM alloc_final c
      LEFT JOIN carbonmkt.allocation pre ON (pre.participant_id, pre.year, pre.stage) = (c.participant_id, finalize_allocation.year, 'preallocation')
      LEFT JOIN carbonmkt.allocation fin ON (fin.participant_id, fin.year, fin.stage) = (c.participant_id, finalize_allocation.year, 'final')
      LEFT JOIN carbonmkt.allocation_posting tp ON (tp.participant_id, tp.year, tp.kind) = (c.participant_id, finalize_allocation.year, 'topup')
      LEFT JOIN carbonmkt.allocation_posting dd ON (dd.participant_id, dd.year, dd.kind) = (c.participant_id, finalize_allocation.year, 'deduction')
     ORDER BY c.participant_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.finalize_allocation(int, char, text, boolean) IS
  'Final allocation (核定) of a year from actual output for every covered key emitting unit of a province (or all; capped sectors nationally, scaled to the cap): records it, tops up (追加) or deducts (扣减) the difference to the pre-allocation through the registry (a deduction beyond the available CEA of the year is recorded as owed), records the run.  Idempotent: a unit is finalised at most once per year.  preview => true computes without recording or issuing.  Authorities only.';

-- Adjustments and recovery ----------------------------------------------------------

CREATE FUNCTION carbonmkt.amend_allocation(participant_id bigint, tonnes bigint, year int, reason text,
                                           jurisdiction text DEFAULT 'CN', reference text DEFAULT NULL,
                                           memo text DEFAULT NULL)
RETURNS TABLE (entry_id bigint, moved_t bigint, owed_t bigint, registry_posting bigint, replay boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'allocation' AS
$$
#variable_conflict use_column
DECLARE
    prov    char(6);
    old     carbonmkt.allocation_posting;
    run     bigint;
    e       record;
    entitled bigint;
BEGIN
    PERFORM carbonmkt.check_jurisdiction(amend_allocation.jurisdiction);
    SELECT p.province INTO prov FROM carbonmkt.participant p
     WHERE p.participant_id = amend_allocation.participant_id AND p.kind = 'key_emitter';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'participant % is not a key emitting unit', amend_allocation.participant_id USING ERRCODE = 'CM002';
    END IF;
    PERFORM carbonmkt._require_authority(prov, 'adjust allocations');
    IF amend_allocation.reference IS NULL OR btrim(amend_allocation.reference) = '' THEN
        RAISE EXCEPTION 'an adjustment needs a client reference' USING ERRCODE = '22023',
              HINT = 'The reference makes the adjustment idempotent: resending it changes nothing.';
    END IF;
    SELECT * INTO old FROM carbonmkt.allocation_posting p
     WHERE p.kind = 'adjustment' AND p.reference = amend_allocation.reference;
    IF FOUND THEN
        IF (old.participant_id, old.year, old.entitlement_t, old.reason) IS DISTINCT FROM
           (amend_allocation.participant_id, amend_allocation.year, amend_allocation.tonnes, amend_allocation.reason) THEN
            RAISE EXCEPTION 'adjustment reference "%" was already used for a different adjustment', amend_allocation.reference
                USING ERRCODE = 'CM209',
                      DETAIL = format('Entry %s: participant %s, %s, %s t, %s.', old.entry_id, old.participant_id,
                                      old.year, old.entitlement_t, old.reason);
        END IF;
        RETURN QUERY SELECT old.entry_id, old.moved_t, old.owed_t, old.registry_posting, true;
        RETURN;
    END IF;
    IF amend_allocation.reason IS NULL
       OR amend_allocation.reason NOT IN ('closure', 'stoppage', 'merger', 'split', 'capacity_change', 'correction') THEN
        RAISE EXCEPTION 'unknown adjustment reason "%"', coalesce(amend_allocation.reason, 'NULL')
            USING ERRCODE = '22023', HINT = 'Reasons are closure, stoppage, merger, split, capacity_change and correction (RULES.md 3, S1 Art. 15).';
    END IF;
    IF amend_allocation.tonnes IS NULL OR amend_allocation.tonnes = 0 THEN
        RAISE EXCEPTION 'an adjustment must change the allocation: % t', coalesce(amend_allocation.tonnes::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    PERFORM carbonmkt.cea(amend_allocation.year, 0);      -- vintage window (22003)
    SELECT coalesce(sum(p.entitlement_t), 0) INTO entitled FROM carbonmkt.allocation_posting p
     WHERE p.participant_id = amend_allocation.participant_id AND p.year = amend_allocation.year;
    IF entitled + amend_allocation.tonnes < 0 THEN
        RAISE EXCEPTION 'adjustment of % t would make the % entitlement of participant % negative',
                        amend_allocation.tonnes, amend_allocation.year, amend_allocation.participant_id
            USING ERRCODE = 'CM209', DETAIL = format('Its entitlement is %s t.', entitled);
    END IF;
    run := carbonmkt._begin_run('adjustment', amend_allocation.jurisdiction, amend_allocation.year, prov,
                                format('%s:%s:%s:%s:%s', amend_allocation.participant_id, amend_allocation.year,
                                       amend_allocation.tonnes, amend_allocation.reason, amend_allocation.reference));
    e := carbonmkt._post_entry(run, amend_allocation.participant_id, amend_allocation.year, amend_allocation.jurisdiction,
                               'adjustment', amend_allocation.tonnes, amend_allocation.reason,
                               amend_allocation.reference, amend_allocation.memo);
    PERFORM carbonmkt._finish_run(run, 0);
    RETURN QUERY SELECT p.entry_id, p.moved_t, p.owed_t, p.registry_posting, false
                   FROM carbonmkt.allocation_posting p WHERE p.run_id = run;
END
$$;
COMMENT ON FUNCTION carbonmkt.amend_allocation(bigint, bigint, int, text, text, text, text) IS
  'Adjusts a participant''s allocation for a year by a signed number of tonnes for a reason (closure, stoppage, merger, split, capacity_change, correction; S1 Art. 15) as a recorded posting: positive is issued and transferred, negative taken back as far as the unit holds and the rest owed.  Idempotent per client reference.  Authorities only.';

-- The name and argument order of 0.1.0 (the year before the quantity, the jurisdiction after
-- the memo), for one release.
CREATE FUNCTION carbonmkt.adjust_allocation(participant_id bigint, year int, tonnes bigint, reason text,
                                            reference text, memo text DEFAULT NULL, jurisdiction text DEFAULT 'CN')
RETURNS TABLE (entry_id bigint, moved_t bigint, owed_t bigint, registry_posting bigint, replay boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    RAISE NOTICE 'carbonmkt.adjust_allocation() is deprecated and goes after 0.2.0: call carbonmkt.amend_allocation(participant_id, tonnes, year, reason, jurisdiction, reference, memo)';
    RETURN QUERY SELECT * FROM carbonmkt.amend_allocation(adjust_allocation.participant_id, adjust_allocation.tonnes,
                                                          adjust_allocation.year, adjust_allocation.reason,
                                                          adjust_allocation.jurisdiction, adjust_allocation.reference,
                                                          adjust_allocation.memo);
END
$$;
COMMENT ON FUNCTION carbonmkt.adjust_allocation(bigint, int, bigint, text, text, text, text) IS
  'Deprecated (goes after 0.2.0): carbonmkt.amend_allocation(participant_id, tonnes, year, reason, jurisdiction, reference, memo), the same with the quantity before the year and the jurisdiction before the reference.';

CREATE FUNCTION carbonmkt.recover_owed(participant_id bigint, year int, jurisdiction text DEFAULT 'CN')
RETURNS TABLE (entry_id bigint, recovered_t bigint, still_owed_t bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'allocation' AS
$$
#variable_conflict use_column
DECLARE
    prov    char(6);
    owed    bigint;
    avail   bigint;
    take    bigint;
    run     bigint;
    pid     bigint;
    unit    bigint;
BEGIN
    PERFORM carbonmkt.check_jurisdiction(recover_owed.jurisdiction);
    SELECT p.province INTO prov FROM carbonmkt.participant p WHERE p.participant_id = recover_owed.participant_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'participant % does not exist', recover_owed.participant_id USING ERRCODE = 'CM002';
    END IF;
    PERFORM carbonmkt._require_authority(prov, 'recover owed allowances');
    -- one recovery at a time per participant and year
    PERFORM pg_advisory_xact_lock(hashtext('carbonmkt.recover_owed'), recover_owed.participant_id::int);
    SELECT coalesce(sum(p.owed_t), 0) INTO owed FROM carbonmkt.allocation_posting p
     WHERE p.participant_id = recover_owed.participant_id AND p.year = recover_owed.year;
    unit := carbonmkt._holding_account(recover_owed.participant_id);
    SELECT balance - held INTO avail FROM carbonmkt.holding
     WHERE account_id = unit AND instrument = 'CEA' AND vintage = recover_owed.year AND project = '';
    take := least(owed, coalesce(avail, 0));
    IF take <= 0 THEN
        RETURN QUERY SELECT NULL::bigint, 0::bigint, owed;
        RETURN;
    END IF;
    run := carbonmkt._begin_run('recovery', recover_owed.jurisdiction, recover_owed.year, prov,
                                format('%s:%s:owed %s:available %s', recover_owed.participant_id, recover_owed.year, owed, avail));
    pid := carbonmkt.transfer_cea(unit, carbonmkt._allocation_account(prov), recover_owed.year, take,
                                  format('carbonmkt:alloc:%s:%s:recovery:run%s', recover_owed.jurisdiction, recover_owed.year, run),
                                  format('%s recovery of owed allowances', recover_owed.year));
    INSERT INTO carbonmkt.allocation_posting AS p (run_id, participant_id, year, kind, entitlement_t, moved_t, owed_t,
                                                   registry_posting, recorded_at)
    VALUES (run, recover_owed.participant_id, recover_owed.year, 'recovery', 0, -take, -take, pid, carbonmkt.clock_now());
    PERFORM carbonmkt._finish_run(run, 0);
    RETURN QUERY SELECT p.entry_id, take, owed - take FROM carbonmkt.allocation_posting p WHERE p.run_id = run;
END
$$;
COMMENT ON FUNCTION carbonmkt.recover_owed(bigint, int, text) IS
  'Takes back owed tonnes (deducted but not held at the time) of a year as far as the unit now holds available CEA of that year, recorded as a recovery posting.  Authorities only.';

CREATE FUNCTION carbonmkt.settle_allocation_adjustments(year int, province char(6) DEFAULT NULL,
                                                        jurisdiction text DEFAULT 'CN')
RETURNS TABLE (participant_id bigint, pending_t bigint, moved_t bigint, owed_t bigint, run_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'allocation' AS
$$
#variable_conflict use_column
DECLARE
    run     bigint;
    r       record;
    inputs  text;
BEGIN
    PERFORM carbonmkt.check_jurisdiction(settle_allocation_adjustments.jurisdiction);
    PERFORM carbonmkt._require_authority(settle_allocation_adjustments.province, 'settle allocation adjustments');
    IF settle_allocation_adjustments.province IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM carbonmkt.region g WHERE g.code = settle_allocation_adjustments.province) THEN
        RAISE EXCEPTION 'unknown province code "%"', settle_allocation_adjustments.province USING ERRCODE = '22023';
    END IF;
    -- one settlement of a year at a time; what is pending is read after the lock
    PERFORM pg_advisory_xact_lock(hashtext('carbonmkt.settle_allocation_adjustments'), settle_allocation_adjustments.year);
    PERFORM carbonmkt._alloc_net_reset();
    -- only final years: before that the final true-up nets the reductions (and borrowed
    -- tonnes are not taken back before the unit could surrender them)
    INSERT INTO alloc_net
    SELECT x.participant_id, p.province, x.pending_t, x.borrowed_t, x.penalty_cut_t
      FROM carbonmkt.allocation_result x JOIN carbonmkt.participant p ON p.participant_id = x.participant_id
     WHERE x.year = settle_allocation_adjustments.year AND x.is_final AND x.pending_t <> 0
       AND (settle_allocation_adjustments.province IS NULL OR p.province = settle_allocation_adjustments.province);
    IF NOT EXISTS (SELECT 1 FROM alloc_net) THEN
        RETURN;
    END IF;
    SELECT string_agg(format('%s:%s:%s:%s', n.participant_id, n.net, n.borrowed, n.cut), E'\n' ORDER BY n.participant_id)
      INTO inputs FROM alloc_net n;
    run := carbonmkt._begin_run('compliance', settle_allocation_adjustments.jurisdiction, settle_allocation_adjustments.year,
                                settle_allocation_adjustments.province, inputs);
    PERFORM carbonmkt._alloc_net_provide(run, settle_allocation_adjustments.year, settle_allocation_adjustments.jurisdiction,
                                         'compliance', format('%s withdrawn penalty cuts, run %s', settle_allocation_adjustments.year, run));
    FOR r IN SELECT n.* FROM alloc_net n ORDER BY n.participant_id LOOP
        PERFORM carbonmkt._post_entry(run, r.participant_id, settle_allocation_adjustments.year,
                                      settle_allocation_adjustments.jurisdiction, 'compliance', r.net, NULL,
                                      format('run%s:%s', run, r.participant_id), carbonmkt._net_memo(r.borrowed, r.cut));
    END LOOP;
    PERFORM carbonmkt._finish_run(run, 0);
    RETURN QUERY SELECT p.participant_id, p.entitlement_t, p.moved_t, p.owed_t, p.run_id
                   FROM carbonmkt.allocation_posting p WHERE p.run_id = run ORDER BY p.participant_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.settle_allocation_adjustments(int, char, text) IS
  'Applies to a year whose allocation is final the compliance room''s reductions recorded or withdrawn since (allocation_result.pending_t <> 0: a penalty cut recorded after the final allocation is taken back as far as the unit holds CEA of the year and owed for the rest; a cut withdrawn after a correction is issued back), as postings of kind compliance.  Before the final allocation there is nothing to settle: the final true-up nets them.  Authorities only.';

CREATE FUNCTION carbonmkt.adopt_preallocation(year int, postings bigint[], jurisdiction text DEFAULT 'CN')
RETURNS TABLE (participant_id bigint, posting_id bigint, tonnes bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_column
DECLARE
    run     bigint;
    pst     bigint;
    leg     record;
    debits  jsonb;
    n       int := 0;
BEGIN
    PERFORM carbonmkt._require_authority(NULL, 'adopt registry postings as pre-allocations');
    IF adopt_preallocation.year IS NULL OR postings IS NULL OR adopt_preallocation.jurisdiction IS NULL THEN
        RAISE EXCEPTION 'adopt_preallocation: argument % must not be NULL',
            CASE WHEN adopt_preallocation.year IS NULL THEN 'year' WHEN postings IS NULL THEN 'postings' ELSE 'jurisdiction' END
            USING ERRCODE = 'CM904';
    END IF;
    run := carbonmkt._begin_run('adoption', adopt_preallocation.jurisdiction, adopt_preallocation.year, NULL,
                                array_to_string(postings, ','));
    -- The legs are found through the accounts, by the journal's (account_id, seq) index: the
    -- journal has no b-tree on posting_id (its block-range index would read a range of the
    -- journal per posting).  First the debits of the allocation accounts among the postings,
    -- once (posting -> [allocation account, counterparty]); then per posting its credit in the
    -- counterparty's account, newest entries first.  (OFFSET 0 keeps the posting filter out
    -- of the index scans.)
    SELECT jsonb_object_agg(d.posting_id::text, jsonb_build_array(d.account_id, d.counterparty)) INTO debits
      FROM (SELECT j.posting_id, j.account_id, j.counterparty
              FROM carbonmkt.account al JOIN carbonmkt.journal j ON j.account_id = al.account_id
             WHERE al.kind = 'allocation' AND j.kind = 'debit' OFFSET 0) d
     WHERE d.posting_id = ANY (postings);
    FOREACH pst IN ARRAY postings LOOP
        SELECT c.account_id, c.amount, h.participant_id, al.account_id AS from_account, po.operation INTO leg
          FROM carbonmkt.posting po
          CROSS JOIN LATERAL (SELECT x.account_id, x.amount, x.instrument, x.vintage
                                FROM (SELECT j.account_id, j.amount, j.instrument, j.vintage, j.posting_id
                                        FROM carbonmkt.journal j
                                       WHERE j.account_id = (debits -> pst::text ->> 1)::bigint AND j.kind = 'credit'
                                       ORDER BY j.seq DESC OFFSET 0) x
                               WHERE x.posting_id = po.posting_id LIMIT 1) c
          JOIN carbonmkt.account h ON h.account_id = c.account_id AND h.kind = 'holding'
          JOIN carbonmkt.participant p ON p.participant_id = h.participant_id AND p.kind = 'key_emitter'
          JOIN carbonmkt.account al ON al.account_id = (debits -> pst::text ->> 0)::bigint AND al.kind = 'allocation'
                                   AND al.province = p.province
         WHERE po.posting_id = pst AND po.operation = 'transfer_cea'
           AND c.instrument = 'CEA' AND c.vintage = adopt_preallocation.year;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'posting % is not a CEA % transfer from a province''s allocation account to one of its units', pst,
                            adopt_preallocation.year
                USING ERRCODE = 'CM209';
        END IF;
        IF EXISTS (SELECT 1 FROM carbonmkt.allocation a WHERE a.participant_id = leg.participant_id
                      AND a.year = adopt_preallocation.year AND a.stage = 'preallocation') THEN
            RAISE EXCEPTION 'participant % already has a % pre-allocation', leg.participant_id, adopt_preallocation.year
                USING ERRCODE = 'CM209', DETAIL = format('Posting %s cannot be adopted.', pst);
        END IF;
        INSERT INTO carbonmkt.allocation VALUES (leg.participant_id, adopt_preallocation.year, 'preallocation', leg.amount,
                                                 leg.amount, format('adopted registry posting %s', pst), run);
        INSERT INTO carbonmkt.allocation_posting (run_id, participant_id, year, kind, entitlement_t, moved_t, owed_t,
                                                  registry_posting, memo, recorded_at)
        VALUES (run, leg.participant_id, adopt_preallocation.year, 'preallocation', leg.amount, leg.amount, 0, pst,
                'adopted', carbonmkt.clock_now());
        n := n + 1;
    END LOOP;
    PERFORM carbonmkt._finish_run(run, 0);
    RETURN QUERY SELECT p.participant_id, p.registry_posting, p.moved_t FROM carbonmkt.allocation_posting p
                  WHERE p.run_id = run ORDER BY p.participant_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.adopt_preallocation(int, bigint[], text) IS
  'Records registry transfers made before the allocation room (CEA of the year from a province''s allocation account to one of its units'' holding accounts) as those units'' pre-allocations, so the final allocation trues up against them.  National authority.';

-- Access ------------------------------------------------------------------------------
-- Rule tables and categories are public reference data, maintained by the extension owner.
-- Facilities, production data, runs and results: staff roles read all, a participant's
-- login its own rows.  Nobody writes them directly: the functions above do, after
-- checking the caller (_require_authority).

GRANT SELECT ON carbonmkt.alloc_category, carbonmkt.alloc_benchmark, carbonmkt.alloc_heat_factor,
                carbonmkt.alloc_cooling_factor, carbonmkt.alloc_load_piece, carbonmkt.alloc_year_rule,
                carbonmkt.alloc_band, carbonmkt.alloc_cap TO PUBLIC;
GRANT SELECT ON carbonmkt.facility, carbonmkt.facility_event, carbonmkt.production, carbonmkt.allocation_run,
                carbonmkt.allocation, carbonmkt.allocation_posting, carbonmkt.allocation_result
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi, carbonmkt_participant;

ALTER TABLE carbonmkt.facility ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.facility_event ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.production ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.allocation ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.allocation_posting ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.allocation_run ENABLE ROW LEVEL SECURITY;

CREATE POLICY staff_read ON carbonmkt.facility FOR SELECT TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.facility FOR SELECT TO carbonmkt_participant
    USING (participant_id = carbonmkt.caller_participant());
CREATE POLICY staff_read ON carbonmkt.facility_event FOR SELECT TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.facility_event FOR SELECT TO carbonmkt_participant
    USING (facility_id IN (SELECT f.facility_id FROM carbonmkt.facility f WHERE f.participant_id = carbonmkt.caller_participant()));
CREATE POLICY staff_read ON carbonmkt.production FOR SELECT TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.production FOR SELECT TO carbonmkt_participant
    USING (facility_id IN (SELECT f.facility_id FROM carbonmkt.facility f WHERE f.participant_id = carbonmkt.caller_participant()));
CREATE POLICY staff_read ON carbonmkt.allocation FOR SELECT TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.allocation FOR SELECT TO carbonmkt_participant
    USING (participant_id = carbonmkt.caller_participant());
CREATE POLICY staff_read ON carbonmkt.allocation_posting FOR SELECT TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.allocation_posting FOR SELECT TO carbonmkt_participant
    USING (participant_id = carbonmkt.caller_participant());
CREATE POLICY staff_read ON carbonmkt.allocation_run FOR SELECT TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));

-- The run and data functions: authorities (each checks its caller's province).
REVOKE ALL ON FUNCTION
    carbonmkt.register_facility(bigint, text, text, numeric, text, text),
    carbonmkt.change_facility(bigint, text, date, numeric, bigint, text),
    carbonmkt.record_production(bigint, int, int, bigint, bigint, int, bigint, bigint, bigint),
    carbonmkt.preallocate(int, char, text, boolean),
    carbonmkt.finalize_allocation(int, char, text, boolean),
    carbonmkt.amend_allocation(bigint, bigint, int, text, text, text, text),
    carbonmkt.adjust_allocation(bigint, int, bigint, text, text, text, text),
    carbonmkt.recover_owed(bigint, int, text),
    carbonmkt.settle_allocation_adjustments(int, char, text),
    carbonmkt.adopt_preallocation(int, bigint[], text),
    carbonmkt.explain_allocation(bigint, int, text),
    carbonmkt.facility_allowance(int, text),
    carbonmkt.participant_allowance(int, text, int, char, boolean),
    carbonmkt.facility_power_params(text, int),
    carbonmkt.participant_performance_params(text, int)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    carbonmkt.register_facility(bigint, text, text, numeric, text, text),
    carbonmkt.change_facility(bigint, text, date, numeric, bigint, text),
    carbonmkt.record_production(bigint, int, int, bigint, bigint, int, bigint, bigint, bigint),
    carbonmkt.preallocate(int, char, text, boolean),
    carbonmkt.finalize_allocation(int, char, text, boolean),
    carbonmkt.amend_allocation(bigint, bigint, int, text, text, text, text),
    carbonmkt.adjust_allocation(bigint, int, bigint, text, text, text, text),
    carbonmkt.recover_owed(bigint, int, text),
    carbonmkt.settle_allocation_adjustments(int, char, text),
    carbonmkt.adopt_preallocation(int, bigint[], text)
  TO carbonmkt_authority;
GRANT EXECUTE ON FUNCTION carbonmkt.explain_allocation(bigint, int, text)
  TO carbonmkt_authority, carbonmkt_bi, carbonmkt_registry, carbonmkt_participant;
-- computing without posting reads production data and confirmed emissions with the caller's rights
GRANT EXECUTE ON FUNCTION
    carbonmkt.facility_allowance(int, text),
    carbonmkt.participant_allowance(int, text, int, char, boolean),
    carbonmkt.facility_power_params(text, int),
    carbonmkt.participant_performance_params(text, int)
  TO carbonmkt_authority, carbonmkt_bi, carbonmkt_registry;
