
-------------------------------------------------------------------------------
-- jurisdiction (管辖区): the one vocabulary of every room for whose rules apply.
-- 'CN' is the national market (全国碳市场); a province (省级行政区) is its GB/T 2260 code
-- PP0000 (the code of carbonmkt.region); a city pilot (Shenzhen) is its GB/T 2260 city
-- code PPCC00.  The pilot markets (试点) of RULES.md 6 are the provinces and the city
-- flagged pilot.  Every rule table of MRV, allocation, market and compliance has a
-- foreign key here, and every function that takes a jurisdiction checks it with
-- carbonmkt.check_jurisdiction() (CM501 for an unknown code).  Documentation: doc/rules.md.
-------------------------------------------------------------------------------

CREATE TABLE carbonmkt.jurisdiction (
    code        text PRIMARY KEY CONSTRAINT jurisdiction_code_check
                     CHECK (code = 'CN' OR code ~ '^[1-9][0-9][0-9][0-9]00$'),
    name        text NOT NULL,
    name_zh     text NOT NULL,
    province    char(6) REFERENCES carbonmkt.region,   -- NULL: the whole country
    city        char(6),                               -- a city pilot (Shenzhen)
    kind        text NOT NULL DEFAULT 'province' CONSTRAINT jurisdiction_kind_check
                     CHECK (kind IN ('national', 'province', 'city')),
    pilot       boolean NOT NULL DEFAULT false,        -- runs a pilot market (试点碳市场)
    CHECK (city IS NULL OR (province IS NOT NULL AND carbonmkt.valid_city_code(city, province))),
    CONSTRAINT jurisdiction_code_matches CHECK (CASE kind WHEN 'national' THEN code = 'CN' AND province IS NULL AND city IS NULL
                                                          WHEN 'province' THEN code = province AND city IS NULL
                                                          ELSE code = city END)
);
COMMENT ON TABLE carbonmkt.jurisdiction IS
  'Jurisdictions (管辖区) whose rules the rule tables hold, one code form in every room: ''CN'' the national market (全国碳排放权交易市场), a province by its GB/T 2260 code (e.g. ''350000'' Fujian: the province''s own rules, e.g. MRV, and its pilot market where pilot), a city pilot by its city code (''440300'' Shenzhen).  A compliance period of a jurisdiction covers the key emitting units of its province (or city), all of them for ''CN''.  doc/rules.md.';
COMMENT ON COLUMN carbonmkt.jurisdiction.pilot IS
  'The jurisdiction runs a pilot carbon market (试点, RULES.md 6: Beijing, Tianjin, Shanghai, Chongqing, Hubei, Guangdong, Shenzhen, Fujian).';
INSERT INTO carbonmkt.jurisdiction (code, name, name_zh, province, city, kind, pilot) VALUES
  ('CN', 'National carbon market', '全国碳排放权交易市场', NULL, NULL, 'national', false),
  ('440300', 'Shenzhen pilot', '深圳试点', '440000', '440300', 'city', true);
INSERT INTO carbonmkt.jurisdiction (code, name, name_zh, province, city, kind, pilot)
SELECT r.code, r.name, r.name_zh, r.code, NULL, 'province',
       r.code IN ('110000', '120000', '310000', '500000', '420000', '440000', '350000')
  FROM carbonmkt.region r;

CREATE FUNCTION carbonmkt.check_jurisdiction(jurisdiction text) RETURNS carbonmkt.jurisdiction
LANGUAGE plpgsql STABLE PARALLEL SAFE AS
$$
DECLARE
    j   carbonmkt.jurisdiction;
BEGIN
    SELECT * INTO j FROM carbonmkt.jurisdiction x WHERE x.code = check_jurisdiction.jurisdiction;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown jurisdiction "%"', coalesce(check_jurisdiction.jurisdiction, 'NULL')
            USING ERRCODE = 'CM501',
                  DETAIL = 'A jurisdiction is ''CN'' (the national market), a province''s GB/T 2260 code (e.g. ''350000'') or a city pilot''s code (''440300'').',
                  HINT = 'The codes are the rows of carbonmkt.jurisdiction.';
    END IF;
    RETURN j;
END
$$;
COMMENT ON FUNCTION carbonmkt.check_jurisdiction(text) IS
  'The jurisdiction row of a code; CM501 for an unknown code.  Every function that takes a jurisdiction calls it.';
