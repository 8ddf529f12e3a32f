-- carbonmkt 0.1.0 -> 0.2.0, written by hand (doc/operations.md, "Upgrades").
--
-- Every change to the installed SQL (src/*.sql) since the frozen 0.1.0 script
-- (sql/carbonmkt--0.1.0.sql) is repeated here, so that ALTER EXTENSION carbonmkt UPDATE
-- on a populated 0.1.0 database reaches exactly the schema of a fresh 0.2.0 install
-- and keeps every row.  test/ops/upgrade.sh proves it in `make test`.
-- One section per capability; keep each change in its own section.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION carbonmkt UPDATE TO '0.2.0'" to load this file. \quit

-- == Operations: dump registration, restore, drop guard ==================================
-- (src/operations.sql, src/operations.c, doc/operations.md)

-- Seeded rows ------------------------------------------------------------------

-- CREATE EXTENSION seeds rule tables with the national defaults (regions, sectors, GWP
-- sets, benchmarks, market and compliance rules ...) and the registry with its two
-- system accounts.  A dump must carry only the rows a user changed or added, or a restore
-- (which runs CREATE EXTENSION first) would meet every seeded row twice.  Design:
--   1. a snapshot of every seeded row as the install script left it (seeded_row);
--   2. the dump filter of a seeded table keeps the rows not in the snapshot (changed or
--      added);
--   3. a restore (session_replication_role = replica, doc/operations.md) that meets a
--      dumped row whose key exists replaces the seeded row by the dumped one
--      (_restore_seeded_row, a trigger enabled ALWAYS), and refuses (CM903) when this
--      database changed that seeded row too.
CREATE TABLE carbonmkt.seeded_row (
    tab         name NOT NULL,     -- table of schema carbonmkt
    content     jsonb NOT NULL     -- to_jsonb() of the row as the install script left it
);
CREATE INDEX seeded_row_tab ON carbonmkt.seeded_row (tab);
COMMENT ON TABLE carbonmkt.seeded_row IS
  'Every row CREATE EXTENSION (or ALTER EXTENSION UPDATE from 0.1.0) seeded, as it was seeded: the dump filters of the seeded tables leave these rows out (doc/operations.md, "What a dump holds").  Not dumped itself: each install writes its own.';

CREATE FUNCTION carbonmkt._seeded_filter(tab regclass) RETURNS text
LANGUAGE sql STABLE STRICT AS
$$ SELECT format('WHERE NOT EXISTS (SELECT FROM carbonmkt.seeded_row s WHERE s.tab = %L AND s.content = pg_catalog.to_jsonb(%I))',
                 c.relname, c.relname)
     FROM pg_catalog.pg_class c WHERE c.oid = tab $$;
COMMENT ON FUNCTION carbonmkt._seeded_filter(regclass) IS
  'Internal: the pg_dump filter of a seeded table: the rows that are not in carbonmkt.seeded_row as they are (changed or added by a user).';

CREATE FUNCTION carbonmkt._restore_seeded_row() RETURNS trigger
LANGUAGE plpgsql AS
$$
DECLARE
    cond    text;
    keytext text;
    cur     jsonb;
    dumped  jsonb := pg_catalog.to_jsonb(NEW);
BEGIN
    -- only a restore: everywhere else a duplicate key is the unique violation it is
    IF pg_catalog.current_setting('session_replication_role') <> 'replica' THEN
        RETURN NEW;
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.format('t.%I = ($1).%I', a.attname, a.attname), ' AND '),
           pg_catalog.string_agg(pg_catalog.format('%s = %s', a.attname,
                                 dumped ->> a.attname::text), ', ')
      INTO cond, keytext
      FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = TG_RELID AND i.indisprimary;
    EXECUTE pg_catalog.format('SELECT pg_catalog.to_jsonb(t) FROM %s t WHERE %s', TG_RELID::regclass, cond)
       INTO cur USING NEW;
    IF cur IS NULL THEN
        RETURN NEW;                     -- a row a user added
    ELSIF cur = dumped THEN
        RETURN NULL;                    -- already as dumped
    ELSIF NOT EXISTS (SELECT FROM carbonmkt.seeded_row s WHERE s.tab = TG_TABLE_NAME AND s.content = cur) THEN
        RAISE EXCEPTION 'cannot restore the row with % of carbonmkt.%: this database changed it too', keytext, TG_TABLE_NAME
            USING ERRCODE = 'CM903',
                  DETAIL = pg_catalog.format('Here: %s.  In the dump: %s.', cur, dumped),
                  HINT = 'Restore into a database fresh from CREATE EXTENSION carbonmkt (doc/operations.md).';
    END IF;
    -- a seeded row as seeded: the dumped row replaces it
    EXECUTE pg_catalog.format('DELETE FROM %s t WHERE %s', TG_RELID::regclass, cond) USING NEW;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION carbonmkt._restore_seeded_row() IS
  'Internal: BEFORE INSERT trigger (enabled ALWAYS) of every seeded table.  In a restore (session_replication_role = replica) a dumped row whose primary key exists replaces the seeded row; the same row again is skipped; a row this database changed too is refused (CM903).  Otherwise it does nothing.';

-- Registration -------------------------------------------------------------------

CREATE FUNCTION carbonmkt._dump_register(tab regclass, seeded boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS
$$
DECLARE
    seq regclass;
BEGIN
    IF (SELECT c.relnamespace <> 'carbonmkt'::regnamespace FROM pg_catalog.pg_class c WHERE c.oid = tab) THEN
        RAISE EXCEPTION '% is not a table of schema carbonmkt', tab USING ERRCODE = '22023';
    END IF;
    IF seeded THEN
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_index i WHERE i.indrelid = tab AND i.indisprimary) THEN
            RAISE EXCEPTION 'seeded table % has no primary key', tab
                USING ERRCODE = '22023', HINT = 'A restore replaces a seeded row by its primary key.';
        END IF;
        PERFORM pg_catalog.pg_extension_config_dump(tab, carbonmkt._seeded_filter(tab));
        EXECUTE pg_catalog.format('CREATE TRIGGER restore_seeded BEFORE INSERT ON %s '
                                  'FOR EACH ROW EXECUTE FUNCTION carbonmkt._restore_seeded_row()', tab);
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER restore_seeded', tab);
    ELSE
        PERFORM pg_catalog.pg_extension_config_dump(tab, '');
    END IF;
    -- the sequences behind its identity and serial columns: their positions
    FOR seq IN SELECT d.objid::regclass FROM pg_catalog.pg_depend d
                JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
               WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
                 AND d.refobjid = tab AND d.deptype IN ('a', 'i')
               ORDER BY 1::text
    LOOP
        PERFORM pg_catalog.pg_extension_config_dump(seq, '');
    END LOOP;
END
$$;
COMMENT ON FUNCTION carbonmkt._dump_register(regclass, boolean) IS
  'Internal, for install and upgrade scripts: registers a table of the extension with pg_extension_config_dump so pg_dump keeps its rows, and the sequences of its identity/serial columns so it keeps their positions.  seeded: the table has rows CREATE EXTENSION seeds; only changed or added rows are dumped (carbonmkt._seeded_filter) and a restore replaces seeded rows (carbonmkt._restore_seeded_row).';

CREATE FUNCTION carbonmkt._seed_snapshot() RETURNS bigint
LANGUAGE plpgsql AS
$$
DECLARE
    t regclass;
    n bigint := 0;
    k bigint;
BEGIN
    FOR t IN SELECT tg.tgrelid::regclass FROM pg_catalog.pg_trigger tg
              WHERE tg.tgname = 'restore_seeded'
                AND tg.tgfoid = 'carbonmkt._restore_seeded_row()'::regprocedure
              ORDER BY 1::text
    LOOP
        EXECUTE pg_catalog.format('INSERT INTO carbonmkt.seeded_row (tab, content) '
                                  'SELECT %L, pg_catalog.to_jsonb(t) FROM %s t',
                                  (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = t), t);
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt._seed_snapshot() IS
  'Internal, for the install script: records every row of every seeded table in carbonmkt.seeded_row, as seeded.  Returns the number of rows.';

REVOKE ALL ON FUNCTION carbonmkt._seeded_filter(regclass), carbonmkt._restore_seeded_row(),
                       carbonmkt._dump_register(regclass, boolean), carbonmkt._seed_snapshot()
  FROM PUBLIC;

-- What pg_dump keeps: every table and sequence of the extension --------------------
-- (as in src/operations.sql; a table added later is registered in its room's section)

-- registry
SELECT carbonmkt._dump_register('carbonmkt.region', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.sector', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.participant');
SELECT carbonmkt._dump_register('carbonmkt.participant_login');
SELECT carbonmkt._dump_register('carbonmkt.account_kind_instrument', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.account', seeded => true);   -- the two system accounts
SELECT carbonmkt._dump_register('carbonmkt.holding');
SELECT carbonmkt._dump_register('carbonmkt.ccer_block');
SELECT carbonmkt._dump_register('carbonmkt.hold');
SELECT carbonmkt._dump_register('carbonmkt.posting');
SELECT carbonmkt._dump_register('carbonmkt.journal');
SELECT carbonmkt._dump_register('carbonmkt.day_seal');
-- mrv
SELECT carbonmkt._dump_register('carbonmkt.confirmed_emission');
SELECT carbonmkt._dump_register('carbonmkt.mrv_gas', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.mrv_gwp_set', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.mrv_gwp', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.mrv_sector_gas', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.mrv_sector_parameter', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.mrv_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.mrv_sample_seed');
SELECT carbonmkt._dump_register('carbonmkt.mrv_plan');
SELECT carbonmkt._dump_register('carbonmkt.mrv_deposit');
SELECT carbonmkt._dump_register('carbonmkt.mrv_report');
SELECT carbonmkt._dump_register('carbonmkt.mrv_report_gas');
SELECT carbonmkt._dump_register('carbonmkt.mrv_verification');
SELECT carbonmkt._dump_register('carbonmkt.mrv_review');
SELECT carbonmkt._dump_register('carbonmkt.mrv_appeal');
SELECT carbonmkt._dump_register('carbonmkt.mrv_national_naming');
SELECT carbonmkt._dump_register('carbonmkt.mrv_reopening');
SELECT carbonmkt._dump_register('carbonmkt.mrv_report_event');
-- allocation
SELECT carbonmkt._dump_register('carbonmkt.alloc_category', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.alloc_benchmark', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.alloc_heat_factor', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.alloc_cooling_factor', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.alloc_load_piece', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.alloc_year_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.alloc_band', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.alloc_cap');
SELECT carbonmkt._dump_register('carbonmkt.facility');
SELECT carbonmkt._dump_register('carbonmkt.facility_event');
SELECT carbonmkt._dump_register('carbonmkt.production');
SELECT carbonmkt._dump_register('carbonmkt.allocation_run');
SELECT carbonmkt._dump_register('carbonmkt.allocation');
SELECT carbonmkt._dump_register('carbonmkt.allocation_posting');
SELECT carbonmkt._dump_register('carbonmkt.allocation_adjustment');
-- market
SELECT carbonmkt._dump_register('carbonmkt.market_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.market_session', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.trading_calendar', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.trader_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.product');
SELECT carbonmkt._dump_register('carbonmkt.product_day');
SELECT pg_catalog.pg_extension_config_dump('carbonmkt.market_order_id_seq', '');   -- shared by order kinds
SELECT carbonmkt._dump_register('carbonmkt.auction');
SELECT carbonmkt._dump_register('carbonmkt.market_order');
SELECT carbonmkt._dump_register('carbonmkt.trade');
SELECT carbonmkt._dump_register('carbonmkt.block_deal');
SELECT carbonmkt._dump_register('carbonmkt.market_day_stats');
-- compliance
SELECT carbonmkt._dump_register('carbonmkt.jurisdiction', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.compliance_period');
SELECT carbonmkt._dump_register('carbonmkt.offset_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.relief_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.penalty_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.ccer_project_type', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.ccer_project');
SELECT carbonmkt._dump_register('carbonmkt.unit_class');
SELECT carbonmkt._dump_register('carbonmkt.hardship');
SELECT carbonmkt._dump_register('carbonmkt.obligation');
SELECT carbonmkt._dump_register('carbonmkt.surrender_detail');
SELECT carbonmkt._dump_register('carbonmkt.borrowing');
SELECT carbonmkt._dump_register('carbonmkt.sanction');
SELECT carbonmkt._dump_register('carbonmkt.reference_price');

-- the snapshot of what 0.1.0 seeded, as its install script seeded it (a row a DBA changed
-- since is a changed row, and dumped); the two system accounts are not in it: their
-- install time differs per database, so they are always dumped (and replaced on restore)
INSERT INTO carbonmkt.seeded_row (tab, content) VALUES
  ('region', '{"code": "110000", "name": "Beijing", "name_zh": "北京市"}'),
  ('region', '{"code": "120000", "name": "Tianjin", "name_zh": "天津市"}'),
  ('region', '{"code": "130000", "name": "Hebei", "name_zh": "河北省"}'),
  ('region', '{"code": "140000", "name": "Shanxi", "name_zh": "山西省"}'),
  ('region', '{"code": "150000", "name": "Inner Mongolia", "name_zh": "内蒙古自治区"}'),
  ('region', '{"code": "210000", "name": "Liaoning", "name_zh": "辽宁省"}'),
  ('region', '{"code": "220000", "name": "Jilin", "name_zh": "吉林省"}'),
  ('region', '{"code": "230000", "name": "Heilongjiang", "name_zh": "黑龙江省"}'),
  ('region', '{"code": "310000", "name": "Shanghai", "name_zh": "上海市"}'),
  ('region', '{"code": "320000", "name": "Jiangsu", "name_zh": "江苏省"}'),
  ('region', '{"code": "330000", "name": "Zhejiang", "name_zh": "浙江省"}'),
  ('region', '{"code": "340000", "name": "Anhui", "name_zh": "安徽省"}'),
  ('region', '{"code": "350000", "name": "Fujian", "name_zh": "福建省"}'),
  ('region', '{"code": "360000", "name": "Jiangxi", "name_zh": "江西省"}'),
  ('region', '{"code": "370000", "name": "Shandong", "name_zh": "山东省"}'),
  ('region', '{"code": "410000", "name": "Henan", "name_zh": "河南省"}'),
  ('region', '{"code": "420000", "name": "Hubei", "name_zh": "湖北省"}'),
  ('region', '{"code": "430000", "name": "Hunan", "name_zh": "湖南省"}'),
  ('region', '{"code": "440000", "name": "Guangdong", "name_zh": "广东省"}'),
  ('region', '{"code": "450000", "name": "Guangxi", "name_zh": "广西壮族自治区"}'),
  ('region', '{"code": "460000", "name": "Hainan", "name_zh": "海南省"}'),
  ('region', '{"code": "500000", "name": "Chongqing", "name_zh": "重庆市"}'),
  ('region', '{"code": "510000", "name": "Sichuan", "name_zh": "四川省"}'),
  ('region', '{"code": "520000", "name": "Guizhou", "name_zh": "贵州省"}'),
  ('region', '{"code": "530000", "name": "Yunnan", "name_zh": "云南省"}'),
  ('region', '{"code": "540000", "name": "Xizang", "name_zh": "西藏自治区"}'),
  ('region', '{"code": "610000", "name": "Shaanxi", "name_zh": "陕西省"}'),
  ('region', '{"code": "620000", "name": "Gansu", "name_zh": "甘肃省"}'),
  ('region', '{"code": "630000", "name": "Qinghai", "name_zh": "青海省"}'),
  ('region', '{"code": "640000", "name": "Ningxia", "name_zh": "宁夏回族自治区"}'),
  ('region', '{"code": "650000", "name": "Xinjiang", "name_zh": "新疆维吾尔自治区"}'),
  ('sector', '{"code": "power", "name": "Power generation", "name_zh": "发电", "covered_from": 2021}'),
  ('sector', '{"code": "cement", "name": "Cement clinker", "name_zh": "水泥", "covered_from": 2024}'),
  ('sector', '{"code": "steel", "name": "Iron and steel", "name_zh": "钢铁", "covered_from": 2024}'),
  ('sector', '{"code": "aluminium", "name": "Aluminium smelting", "name_zh": "电解铝", "covered_from": 2024}'),
  ('sector', '{"code": "petrochemical", "name": "Petrochemicals", "name_zh": "石化", "covered_from": null}'),
  ('sector', '{"code": "chemical", "name": "Chemicals", "name_zh": "化工", "covered_from": null}'),
  ('sector', '{"code": "paper", "name": "Paper", "name_zh": "造纸", "covered_from": null}'),
  ('sector', '{"code": "aviation", "name": "Civil aviation", "name_zh": "航空", "covered_from": null}'),
  ('account_kind_instrument', '{"kind": "holding", "may_issue": false, "instrument": "CEA"}'),
  ('account_kind_instrument', '{"kind": "holding", "may_issue": false, "instrument": "CCER"}'),
  ('account_kind_instrument', '{"kind": "cash", "may_issue": true, "instrument": "CNY"}'),
  ('account_kind_instrument', '{"kind": "national_reserve", "may_issue": true, "instrument": "CEA"}'),
  ('account_kind_instrument', '{"kind": "national_reserve", "may_issue": true, "instrument": "CCER"}'),
  ('account_kind_instrument', '{"kind": "allocation", "may_issue": true, "instrument": "CEA"}'),
  ('account_kind_instrument', '{"kind": "clearing", "may_issue": false, "instrument": "CEA"}'),
  ('account_kind_instrument', '{"kind": "clearing", "may_issue": false, "instrument": "CCER"}'),
  ('account_kind_instrument', '{"kind": "clearing", "may_issue": false, "instrument": "CNY"}'),
  ('account_kind_instrument', '{"kind": "cancellation", "may_issue": false, "instrument": "CEA"}'),
  ('account_kind_instrument', '{"kind": "cancellation", "may_issue": false, "instrument": "CCER"}'),
  ('mrv_gas', '{"gas": "CO2", "name": "Carbon dioxide", "name_zh": "二氧化碳"}'),
  ('mrv_gas', '{"gas": "CF4", "name": "Tetrafluoromethane (perfluoromethane)", "name_zh": "四氟化碳"}'),
  ('mrv_gas', '{"gas": "C2F6", "name": "Hexafluoroethane (perfluoroethane)", "name_zh": "六氟化二碳"}'),
  ('mrv_gwp_set', '{"source": "IPCC AR5 WG1 (2013), chapter 8, table 8.A.1: CO2 1, CF4 6630, C2F6 11100", "gwp_set": "AR5", "description": "100-year GWP of the IPCC Fifth Assessment Report"}'),
  ('mrv_gwp_set', '{"source": "IPCC AR4 WG1 (2007), chapter 2, table 2.14: CO2 1, CF4 7390, C2F6 12200", "gwp_set": "AR4", "description": "100-year GWP of the IPCC Fourth Assessment Report"}'),
  ('mrv_gwp', '{"gas": "CO2", "gwp": 1, "gwp_set": "AR5"}'),
  ('mrv_gwp', '{"gas": "CF4", "gwp": 6630, "gwp_set": "AR5"}'),
  ('mrv_gwp', '{"gas": "C2F6", "gwp": 11100, "gwp_set": "AR5"}'),
  ('mrv_gwp', '{"gas": "CO2", "gwp": 1, "gwp_set": "AR4"}'),
  ('mrv_gwp', '{"gas": "CF4", "gwp": 7390, "gwp_set": "AR4"}'),
  ('mrv_gwp', '{"gas": "C2F6", "gwp": 12200, "gwp_set": "AR4"}'),
  ('mrv_sector_gas', '{"gas": "CO2", "sector": "power", "from_year": 2013}'),
  ('mrv_sector_gas', '{"gas": "CO2", "sector": "cement", "from_year": 2013}'),
  ('mrv_sector_gas', '{"gas": "CO2", "sector": "steel", "from_year": 2013}'),
  ('mrv_sector_gas', '{"gas": "CO2", "sector": "aluminium", "from_year": 2013}'),
  ('mrv_sector_gas', '{"gas": "CO2", "sector": "petrochemical", "from_year": 2013}'),
  ('mrv_sector_gas', '{"gas": "CO2", "sector": "chemical", "from_year": 2013}'),
  ('mrv_sector_gas', '{"gas": "CO2", "sector": "paper", "from_year": 2013}'),
  ('mrv_sector_gas', '{"gas": "CO2", "sector": "aviation", "from_year": 2013}'),
  ('mrv_sector_gas', '{"gas": "CF4", "sector": "aluminium", "from_year": 2024}'),
  ('mrv_sector_gas', '{"gas": "C2F6", "sector": "aluminium", "from_year": 2024}'),
  ('mrv_sector_parameter', '{"uom": "t", "sector": "power", "name_zh": "燃料消耗量", "from_year": 2013, "parameter": "fuel_consumption", "until_year": null, "counts_to_emissions": false}'),
  ('mrv_sector_parameter', '{"uom": "tC/GJ", "sector": "power", "name_zh": "单位热值含碳量", "from_year": 2013, "parameter": "carbon_content", "until_year": null, "counts_to_emissions": false}'),
  ('mrv_sector_parameter', '{"uom": "MWh", "sector": "power", "name_zh": "供电量", "from_year": 2013, "parameter": "power_supplied", "until_year": null, "counts_to_emissions": false}'),
  ('mrv_sector_parameter', '{"uom": "tCO2e", "sector": "power", "name_zh": "月度排放量", "from_year": 2013, "parameter": "emissions", "until_year": null, "counts_to_emissions": true}'),
  ('mrv_sector_parameter', '{"uom": "t", "sector": "cement", "name_zh": "燃料消耗量", "from_year": 2013, "parameter": "fuel_consumption", "until_year": null, "counts_to_emissions": false}'),
  ('mrv_sector_parameter', '{"uom": "t", "sector": "cement", "name_zh": "熟料产量", "from_year": 2013, "parameter": "clinker_output", "until_year": null, "counts_to_emissions": false}'),
  ('mrv_sector_parameter', '{"uom": "tCO2e", "sector": "cement", "name_zh": "月度排放量", "from_year": 2013, "parameter": "emissions", "until_year": null, "counts_to_emissions": true}'),
  ('mrv_sector_parameter', '{"uom": "t", "sector": "steel", "name_zh": "燃料消耗量", "from_year": 2013, "parameter": "fuel_consumption", "until_year": null, "counts_to_emissions": false}'),
  ('mrv_sector_parameter', '{"uom": "t", "sector": "steel", "name_zh": "粗钢产量", "from_year": 2013, "parameter": "crude_steel_output", "until_year": null, "counts_to_emissions": false}'),
  ('mrv_sector_parameter', '{"uom": "tCO2e", "sector": "steel", "name_zh": "月度排放量", "from_year": 2013, "parameter": "emissions", "until_year": null, "counts_to_emissions": true}'),
  ('mrv_sector_parameter', '{"uom": "MWh", "sector": "aluminium", "name_zh": "电解用电量", "from_year": 2013, "parameter": "power_consumed", "until_year": null, "counts_to_emissions": false}'),
  ('mrv_sector_parameter', '{"uom": "t", "sector": "aluminium", "name_zh": "原铝产量", "from_year": 2013, "parameter": "aluminium_output", "until_year": null, "counts_to_emissions": false}'),
  ('mrv_sector_parameter', '{"uom": "tCO2e", "sector": "aluminium", "name_zh": "月度排放量", "from_year": 2013, "parameter": "emissions", "until_year": null, "counts_to_emissions": true}'),
  ('mrv_sector_parameter', '{"uom": "t", "sector": "petrochemical", "name_zh": "燃料消耗量", "from_year": 2013, "parameter": "fuel_consumption", "until_year": null, "counts_to_emissions": false}'),
  ('mrv_sector_parameter', '{"uom": "tCO2e", "sector": "petrochemical", "name_zh": "月度排放量", "from_year": 2013, "parameter": "emissions", "until_year": null, "counts_to_emissions": true}'),
  ('mrv_sector_parameter', '{"uom": "t", "sector": "chemical", "name_zh": "燃料消耗量", "from_year": 2013, "parameter": "fuel_consumption", "until_year": null, "counts_to_emissions": false}'),
  ('mrv_sector_parameter', '{"uom": "tCO2e", "sector": "chemical", "name_zh": "月度排放量", "from_year": 2013, "parameter": "emissions", "until_year": null, "counts_to_emissions": true}'),
  ('mrv_sector_parameter', '{"uom": "t", "sector": "paper", "name_zh": "燃料消耗量", "from_year": 2013, "parameter": "fuel_consumption", "until_year": null, "counts_to_emissions": false}'),
  ('mrv_sector_parameter', '{"uom": "tCO2e", "sector": "paper", "name_zh": "月度排放量", "from_year": 2013, "parameter": "emissions", "until_year": null, "counts_to_emissions": true}'),
  ('mrv_sector_parameter', '{"uom": "t", "sector": "aviation", "name_zh": "燃料消耗量", "from_year": 2013, "parameter": "fuel_consumption", "until_year": null, "counts_to_emissions": false}'),
  ('mrv_sector_parameter', '{"uom": "tCO2e", "sector": "aviation", "name_zh": "月度排放量", "from_year": 2013, "parameter": "emissions", "until_year": null, "counts_to_emissions": true}'),
  ('mrv_rule', E'{"source": "carbonmkt national defaults (doc/mrv.md): report due 31 March of the following year (RULES.md 4); the sources name no deposit deadline, sample share (Art. 29(3) \\"一定比例\\"), deviation threshold or tolerances: 40 days after the month, 10 %, 5 %, 0 missing and 2 late months, anomaly 50 % are carbonmkt defaults; GWP IPCC AR5 (CF4 and C2F6 for aluminium, S0).", "gwp_set": "AR5", "from_year": 2019, "jurisdiction": "CN", "report_due_day": 31, "deposit_due_days": 40, "report_due_month": 3, "anomaly_threshold": 0.5000, "deviation_threshold": 0.050000, "review_sample_share": 0.100000, "deposit_late_tolerance": 2, "deposit_missing_tolerance": 0}'),
  ('alloc_category', '{"code": "coal_300mw_plus", "fuel": "coal", "name": "Conventional coal, 300 MW class and above", "method": "power", "sector": "power", "name_zh": "300MW等级以上常规燃煤机组", "output_unit": "MWh"}'),
  ('alloc_category', '{"code": "coal_300mw_below", "fuel": "coal", "name": "Conventional coal, 300 MW class and below", "method": "power", "sector": "power", "name_zh": "300MW等级及以下常规燃煤机组", "output_unit": "MWh"}'),
  ('alloc_category', '{"code": "coal_unconventional", "fuel": "coal", "name": "Unconventional coal (coal gangue, slime, coal-water slurry; incl. CFB)", "method": "power", "sector": "power", "name_zh": "燃煤矸石、煤泥、水煤浆等非常规燃煤机组（含燃煤循环流化床机组）", "output_unit": "MWh"}'),
  ('alloc_category', '{"code": "gas", "fuel": "gas", "name": "Gas-fired", "method": "power", "sector": "power", "name_zh": "燃气机组", "output_unit": "MWh"}'),
  ('alloc_category', '{"code": "cement_clinker", "fuel": null, "name": "Cement clinker", "method": "performance", "sector": "cement", "name_zh": "水泥熟料", "output_unit": "t clinker"}'),
  ('alloc_category', '{"code": "steel_crude", "fuel": null, "name": "Crude steel", "method": "performance", "sector": "steel", "name_zh": "粗钢", "output_unit": "t crude steel"}'),
  ('alloc_category', '{"code": "aluminium_smelting", "fuel": null, "name": "Primary aluminium (electrolysis)", "method": "performance", "sector": "aluminium", "name_zh": "电解铝", "output_unit": "t aluminium"}'),
  ('alloc_benchmark', '{"year": 2021, "source": "2021-22 power allocation plan (国环规气候〔2023〕1号), 2021 values", "category": "coal_300mw_plus", "benchmark": 0.8218, "cool_applies": true, "illustrative": false, "jurisdiction": "CN", "load_applies": true, "heat_benchmark": 0.1111}'),
  ('alloc_benchmark', '{"year": 2021, "source": "2021-22 power allocation plan (国环规气候〔2023〕1号), 2021 values", "category": "coal_300mw_below", "benchmark": 0.8773, "cool_applies": true, "illustrative": false, "jurisdiction": "CN", "load_applies": true, "heat_benchmark": 0.1111}'),
  ('alloc_benchmark', '{"year": 2021, "source": "2021-22 power allocation plan (国环规气候〔2023〕1号), 2021 values", "category": "coal_unconventional", "benchmark": 0.9350, "cool_applies": true, "illustrative": false, "jurisdiction": "CN", "load_applies": false, "heat_benchmark": 0.1111}'),
  ('alloc_benchmark', '{"year": 2021, "source": "2021-22 power allocation plan (国环规气候〔2023〕1号), 2021 values", "category": "gas", "benchmark": 0.3920, "cool_applies": false, "illustrative": false, "jurisdiction": "CN", "load_applies": false, "heat_benchmark": 0.0560}'),
  ('alloc_benchmark', '{"year": 2022, "source": "2021-22 power allocation plan (国环规气候〔2023〕1号), 2022 values", "category": "coal_300mw_plus", "benchmark": 0.8177, "cool_applies": true, "illustrative": false, "jurisdiction": "CN", "load_applies": true, "heat_benchmark": 0.1105}'),
  ('alloc_benchmark', '{"year": 2022, "source": "2021-22 power allocation plan (国环规气候〔2023〕1号), 2022 values", "category": "coal_300mw_below", "benchmark": 0.8729, "cool_applies": true, "illustrative": false, "jurisdiction": "CN", "load_applies": true, "heat_benchmark": 0.1105}'),
  ('alloc_benchmark', '{"year": 2022, "source": "2021-22 power allocation plan (国环规气候〔2023〕1号), 2022 values", "category": "coal_unconventional", "benchmark": 0.9303, "cool_applies": true, "illustrative": false, "jurisdiction": "CN", "load_applies": false, "heat_benchmark": 0.1105}'),
  ('alloc_benchmark', '{"year": 2022, "source": "2021-22 power allocation plan (国环规气候〔2023〕1号), 2022 values", "category": "gas", "benchmark": 0.3901, "cool_applies": false, "illustrative": false, "jurisdiction": "CN", "load_applies": false, "heat_benchmark": 0.0557}'),
  ('alloc_benchmark', '{"year": 2024, "source": "illustrative default (not published): typical intensity of the product, for the 2024-26 start phase of S0", "category": "cement_clinker", "benchmark": 0.8600, "cool_applies": false, "illustrative": true, "jurisdiction": "CN", "load_applies": false, "heat_benchmark": null}'),
  ('alloc_benchmark', '{"year": 2024, "source": "illustrative default (not published): typical intensity of the product, for the 2024-26 start phase of S0", "category": "steel_crude", "benchmark": 1.8000, "cool_applies": false, "illustrative": true, "jurisdiction": "CN", "load_applies": false, "heat_benchmark": null}'),
  ('alloc_benchmark', '{"year": 2024, "source": "illustrative default (not published): typical intensity of the product, for the 2024-26 start phase of S0", "category": "aluminium_smelting", "benchmark": 1.7000, "cool_applies": false, "illustrative": true, "jurisdiction": "CN", "load_applies": false, "heat_benchmark": null}'),
  ('alloc_benchmark', '{"year": 2025, "source": "illustrative default (not published): typical intensity of the product, for the 2024-26 start phase of S0", "category": "cement_clinker", "benchmark": 0.8600, "cool_applies": false, "illustrative": true, "jurisdiction": "CN", "load_applies": false, "heat_benchmark": null}'),
  ('alloc_benchmark', '{"year": 2025, "source": "illustrative default (not published): typical intensity of the product, for the 2024-26 start phase of S0", "category": "steel_crude", "benchmark": 1.8000, "cool_applies": false, "illustrative": true, "jurisdiction": "CN", "load_applies": false, "heat_benchmark": null}'),
  ('alloc_benchmark', '{"year": 2025, "source": "illustrative default (not published): typical intensity of the product, for the 2024-26 start phase of S0", "category": "aluminium_smelting", "benchmark": 1.7000, "cool_applies": false, "illustrative": true, "jurisdiction": "CN", "load_applies": false, "heat_benchmark": null}'),
  ('alloc_benchmark', '{"year": 2026, "source": "illustrative default (not published): typical intensity of the product, for the 2024-26 start phase of S0", "category": "cement_clinker", "benchmark": 0.8600, "cool_applies": false, "illustrative": true, "jurisdiction": "CN", "load_applies": false, "heat_benchmark": null}'),
  ('alloc_benchmark', '{"year": 2026, "source": "illustrative default (not published): typical intensity of the product, for the 2024-26 start phase of S0", "category": "steel_crude", "benchmark": 1.8000, "cool_applies": false, "illustrative": true, "jurisdiction": "CN", "load_applies": false, "heat_benchmark": null}'),
  ('alloc_benchmark', '{"year": 2026, "source": "illustrative default (not published): typical intensity of the product, for the 2024-26 start phase of S0", "category": "aluminium_smelting", "benchmark": 1.7000, "cool_applies": false, "illustrative": true, "jurisdiction": "CN", "load_applies": false, "heat_benchmark": null}'),
  ('alloc_heat_factor', '{"fuel": "coal", "year": 2021, "source": "2021-22 power allocation plan; S4 L102 (1 - 0.22 x heat ratio coal, 1 - 0.6 x heat ratio gas)", "coefficient": 0.22, "jurisdiction": "CN"}'),
  ('alloc_heat_factor', '{"fuel": "gas", "year": 2021, "source": "2021-22 power allocation plan; S4 L102 (1 - 0.22 x heat ratio coal, 1 - 0.6 x heat ratio gas)", "coefficient": 0.6, "jurisdiction": "CN"}'),
  ('alloc_heat_factor', '{"fuel": "coal", "year": 2022, "source": "2021-22 power allocation plan; S4 L102 (1 - 0.22 x heat ratio coal, 1 - 0.6 x heat ratio gas)", "coefficient": 0.22, "jurisdiction": "CN"}'),
  ('alloc_heat_factor', '{"fuel": "gas", "year": 2022, "source": "2021-22 power allocation plan; S4 L102 (1 - 0.22 x heat ratio coal, 1 - 0.6 x heat ratio gas)", "coefficient": 0.6, "jurisdiction": "CN"}'),
  ('alloc_cooling_factor', '{"fuel": "coal", "year": 2021, "factor": 1.00, "source": "2021-22 power allocation plan; S4 L103 (water-cooled 1, air-cooled 1.05)", "cooling": "water", "jurisdiction": "CN"}'),
  ('alloc_cooling_factor', '{"fuel": "coal", "year": 2021, "factor": 1.05, "source": "2021-22 power allocation plan; S4 L103 (water-cooled 1, air-cooled 1.05)", "cooling": "air", "jurisdiction": "CN"}'),
  ('alloc_cooling_factor', '{"fuel": "coal", "year": 2022, "factor": 1.00, "source": "2021-22 power allocation plan; S4 L103 (water-cooled 1, air-cooled 1.05)", "cooling": "water", "jurisdiction": "CN"}'),
  ('alloc_cooling_factor', '{"fuel": "coal", "year": 2022, "factor": 1.05, "source": "2021-22 power allocation plan; S4 L103 (water-cooled 1, air-cooled 1.05)", "cooling": "air", "jurisdiction": "CN"}'),
  ('alloc_load_piece', '{"a": null, "b": null, "c": 16, "d": 20, "base": 1.015, "kind": "power", "year": 2021, "pivot": null, "source": "2019-20 and 2021-22 power allocation plans (RULES.md 3)", "lower_bound": 0.00, "jurisdiction": "CN"}'),
  ('alloc_load_piece', '{"a": 1.007, "b": 0.0016, "c": null, "d": null, "base": null, "kind": "linear", "year": 2021, "pivot": 80, "source": "2019-20 and 2021-22 power allocation plans (RULES.md 3)", "lower_bound": 0.75, "jurisdiction": "CN"}'),
  ('alloc_load_piece', '{"a": 1, "b": 0.0014, "c": null, "d": null, "base": null, "kind": "linear", "year": 2021, "pivot": 85, "source": "2019-20 and 2021-22 power allocation plans (RULES.md 3)", "lower_bound": 0.80, "jurisdiction": "CN"}'),
  ('alloc_load_piece', '{"a": 1, "b": 0, "c": null, "d": null, "base": null, "kind": "linear", "year": 2021, "pivot": 85, "source": "2019-20 and 2021-22 power allocation plans (RULES.md 3)", "lower_bound": 0.85, "jurisdiction": "CN"}'),
  ('alloc_load_piece', '{"a": null, "b": null, "c": 16, "d": 20, "base": 1.015, "kind": "power", "year": 2022, "pivot": null, "source": "2019-20 and 2021-22 power allocation plans (RULES.md 3)", "lower_bound": 0.00, "jurisdiction": "CN"}'),
  ('alloc_load_piece', '{"a": 1.007, "b": 0.0016, "c": null, "d": null, "base": null, "kind": "linear", "year": 2022, "pivot": 80, "source": "2019-20 and 2021-22 power allocation plans (RULES.md 3)", "lower_bound": 0.75, "jurisdiction": "CN"}'),
  ('alloc_load_piece', '{"a": 1, "b": 0.0014, "c": null, "d": null, "base": null, "kind": "linear", "year": 2022, "pivot": 85, "source": "2019-20 and 2021-22 power allocation plans (RULES.md 3)", "lower_bound": 0.80, "jurisdiction": "CN"}'),
  ('alloc_load_piece', '{"a": 1, "b": 0, "c": null, "d": null, "base": null, "kind": "linear", "year": 2022, "pivot": 85, "source": "2019-20 and 2021-22 power allocation plans (RULES.md 3)", "lower_bound": 0.85, "jurisdiction": "CN"}'),
  ('alloc_year_rule', '{"year": 2021, "source": "2021-22 power plan: pre-allocation = 70% of the unit''s 2021 verified emissions (S4 L91); rounding: carbonmkt default (whole tonnes, half up)", "rounding": "half_up", "basis_year": 2021, "jurisdiction": "CN", "preallocation_basis": "verified_emissions", "preallocation_share": 0.70}'),
  ('alloc_year_rule', '{"year": 2022, "source": "2021-22 power plan: pre-allocation = 70% of the unit''s 2021 verified emissions (S4 L91); rounding: carbonmkt default (whole tonnes, half up)", "rounding": "half_up", "basis_year": 2021, "jurisdiction": "CN", "preallocation_basis": "verified_emissions", "preallocation_share": 0.70}'),
  ('alloc_year_rule', '{"year": 2024, "source": "carbonmkt default (whole tonnes, half up); no pre-allocation rule", "rounding": "half_up", "basis_year": null, "jurisdiction": "CN", "preallocation_basis": null, "preallocation_share": null}'),
  ('alloc_year_rule', '{"year": 2025, "source": "carbonmkt default (whole tonnes, half up); no pre-allocation rule", "rounding": "half_up", "basis_year": null, "jurisdiction": "CN", "preallocation_basis": null, "preallocation_share": null}'),
  ('alloc_year_rule', '{"year": 2026, "source": "carbonmkt default (whole tonnes, half up); no pre-allocation rule", "rounding": "half_up", "basis_year": null, "jurisdiction": "CN", "preallocation_basis": null, "preallocation_share": null}'),
  ('alloc_band', '{"year": 2024, "sector": "cement", "source": "illustrative default (not published): S0 says only that each firm''s surplus or gap is kept within a small range", "max_gap": 0.05, "max_surplus": 0.05, "illustrative": true, "jurisdiction": "CN"}'),
  ('alloc_band', '{"year": 2024, "sector": "steel", "source": "illustrative default (not published): S0 says only that each firm''s surplus or gap is kept within a small range", "max_gap": 0.05, "max_surplus": 0.05, "illustrative": true, "jurisdiction": "CN"}'),
  ('alloc_band', '{"year": 2024, "sector": "aluminium", "source": "illustrative default (not published): S0 says only that each firm''s surplus or gap is kept within a small range", "max_gap": 0.05, "max_surplus": 0.05, "illustrative": true, "jurisdiction": "CN"}'),
  ('alloc_band', '{"year": 2025, "sector": "cement", "source": "illustrative default (not published): S0 says only that each firm''s surplus or gap is kept within a small range", "max_gap": 0.05, "max_surplus": 0.05, "illustrative": true, "jurisdiction": "CN"}'),
  ('alloc_band', '{"year": 2025, "sector": "steel", "source": "illustrative default (not published): S0 says only that each firm''s surplus or gap is kept within a small range", "max_gap": 0.05, "max_surplus": 0.05, "illustrative": true, "jurisdiction": "CN"}'),
  ('alloc_band', '{"year": 2025, "sector": "aluminium", "source": "illustrative default (not published): S0 says only that each firm''s surplus or gap is kept within a small range", "max_gap": 0.05, "max_surplus": 0.05, "illustrative": true, "jurisdiction": "CN"}'),
  ('alloc_band', '{"year": 2026, "sector": "cement", "source": "illustrative default (not published): S0 says only that each firm''s surplus or gap is kept within a small range", "max_gap": 0.05, "max_surplus": 0.05, "illustrative": true, "jurisdiction": "CN"}'),
  ('alloc_band', '{"year": 2026, "sector": "steel", "source": "illustrative default (not published): S0 says only that each firm''s surplus or gap is kept within a small range", "max_gap": 0.05, "max_surplus": 0.05, "illustrative": true, "jurisdiction": "CN"}'),
  ('alloc_band', '{"year": 2026, "sector": "aluminium", "source": "illustrative default (not published): S0 says only that each firm''s surplus or gap is kept within a small range", "max_gap": 0.05, "max_surplus": 0.05, "illustrative": true, "jurisdiction": "CN"}'),
  ('market_rule', '{"lot": 1, "band": 0.10, "mode": "listed", "fee_rate": 0.0005, "tick_fen": 1, "valid_from": "2021-07-16", "jurisdiction": "national", "min_quantity": 1, "clearing_rule": null, "below_quantity": 100000, "same_day_resale": false}'),
  ('market_rule', '{"lot": 1, "band": 0.30, "mode": "block", "fee_rate": 0.00025, "tick_fen": 1, "valid_from": "2021-07-16", "jurisdiction": "national", "min_quantity": 100000, "clearing_rule": null, "below_quantity": null, "same_day_resale": false}'),
  ('market_rule', '{"lot": 1, "band": null, "mode": "auction", "fee_rate": 0.0005, "tick_fen": 1, "valid_from": "2025-06-01", "jurisdiction": "national", "min_quantity": 1, "clearing_rule": "uniform", "below_quantity": null, "same_day_resale": false}'),
  ('market_session', '{"mode": "listed", "opens": "09:30:00", "closes": "11:30:00", "valid_from": "2021-07-16", "jurisdiction": "national"}'),
  ('market_session', '{"mode": "listed", "opens": "13:00:00", "closes": "15:00:00", "valid_from": "2021-07-16", "jurisdiction": "national"}'),
  ('market_session', '{"mode": "block", "opens": "13:00:00", "closes": "15:00:00", "valid_from": "2021-07-16", "jurisdiction": "national"}'),
  ('trading_calendar', '{"note": "元旦 New Year''s Day", "jurisdiction": "national", "business_date": "2025-01-01", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "春节 Spring Festival", "jurisdiction": "national", "business_date": "2025-01-28", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "春节 Spring Festival", "jurisdiction": "national", "business_date": "2025-01-29", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "春节 Spring Festival", "jurisdiction": "national", "business_date": "2025-01-30", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "春节 Spring Festival", "jurisdiction": "national", "business_date": "2025-01-31", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "春节 Spring Festival", "jurisdiction": "national", "business_date": "2025-02-03", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "春节 Spring Festival", "jurisdiction": "national", "business_date": "2025-02-04", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "清明节 Qingming", "jurisdiction": "national", "business_date": "2025-04-04", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "劳动节 Labour Day", "jurisdiction": "national", "business_date": "2025-05-01", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "劳动节 Labour Day", "jurisdiction": "national", "business_date": "2025-05-02", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "劳动节 Labour Day", "jurisdiction": "national", "business_date": "2025-05-05", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "端午节 Dragon Boat Festival", "jurisdiction": "national", "business_date": "2025-06-02", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "国庆节、中秋节 National Day and Mid-Autumn Festival", "jurisdiction": "national", "business_date": "2025-10-01", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "国庆节、中秋节 National Day and Mid-Autumn Festival", "jurisdiction": "national", "business_date": "2025-10-02", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "国庆节、中秋节 National Day and Mid-Autumn Festival", "jurisdiction": "national", "business_date": "2025-10-03", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "国庆节、中秋节 National Day and Mid-Autumn Festival", "jurisdiction": "national", "business_date": "2025-10-06", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "国庆节、中秋节 National Day and Mid-Autumn Festival", "jurisdiction": "national", "business_date": "2025-10-07", "is_trading_day": false}'),
  ('trading_calendar', '{"note": "国庆节、中秋节 National Day and Mid-Autumn Festival", "jurisdiction": "national", "business_date": "2025-10-08", "is_trading_day": false}'),
  ('trader_rule', '{"may_trade": true, "valid_from": "2021-07-16", "jurisdiction": "national", "max_position": null, "may_announce": true, "participant_kind": "key_emitter"}'),
  ('trader_rule', '{"may_trade": true, "valid_from": "2021-07-16", "jurisdiction": "national", "max_position": 1000000, "may_announce": true, "participant_kind": "institution"}'),
  ('trader_rule', '{"may_trade": true, "valid_from": "2021-07-16", "jurisdiction": "national", "max_position": 50000, "may_announce": false, "participant_kind": "individual"}'),
  ('trader_rule', '{"may_trade": false, "valid_from": "2021-07-16", "jurisdiction": "national", "max_position": null, "may_announce": true, "participant_kind": "national_authority"}'),
  ('trader_rule', '{"may_trade": false, "valid_from": "2021-07-16", "jurisdiction": "national", "max_position": null, "may_announce": true, "participant_kind": "provincial_authority"}'),
  ('jurisdiction', '{"city": null, "code": "national", "name": "National carbon market", "name_zh": "全国碳排放权交易市场", "province": null}'),
  ('jurisdiction', '{"city": null, "code": "beijing", "name": "Beijing pilot", "name_zh": "北京试点", "province": "110000"}'),
  ('jurisdiction', '{"city": null, "code": "tianjin", "name": "Tianjin pilot", "name_zh": "天津试点", "province": "120000"}'),
  ('jurisdiction', '{"city": null, "code": "shanghai", "name": "Shanghai pilot", "name_zh": "上海试点", "province": "310000"}'),
  ('jurisdiction', '{"city": null, "code": "chongqing", "name": "Chongqing pilot", "name_zh": "重庆试点", "province": "500000"}'),
  ('jurisdiction', '{"city": null, "code": "hubei", "name": "Hubei pilot", "name_zh": "湖北试点", "province": "420000"}'),
  ('jurisdiction', '{"city": null, "code": "guangdong", "name": "Guangdong pilot", "name_zh": "广东试点", "province": "440000"}'),
  ('jurisdiction', '{"city": "440300", "code": "shenzhen", "name": "Shenzhen pilot", "name_zh": "深圳试点", "province": "440000"}'),
  ('jurisdiction', '{"city": null, "code": "fujian", "name": "Fujian pilot", "name_zh": "福建试点", "province": "350000"}'),
  ('offset_rule', '{"basis": "obligation", "ratio": 0.05, "source": "RULES.md 6: at most 5% of the allowances due; CCER from projects inside covered units not eligible [S3, public]", "from_year": 2019, "ccer_max_age": null, "jurisdiction": "national", "excluded_types": [], "local_share_min": null, "ccer_min_vintage": null, "exclude_covered_hosts": true}'),
  ('offset_rule', '{"basis": "issued_allowances", "ratio": 0.05, "source": "S1 L1397-1505: <=5% of issued allowances, non-local <=2.5% (local share >=50%), reductions from 2013, no hydro", "from_year": 2013, "ccer_max_age": null, "jurisdiction": "beijing", "excluded_types": ["hydro"], "local_share_min": 0.50, "ccer_min_vintage": 2013, "exclude_covered_hosts": true}'),
  ('offset_rule', '{"basis": "verified_emissions", "ratio": 0.10, "source": "S1 L1397-1505: <=10% of emissions, reductions from 2013, no hydro", "from_year": 2013, "ccer_max_age": null, "jurisdiction": "tianjin", "excluded_types": ["hydro"], "local_share_min": null, "ccer_min_vintage": 2013, "exclude_covered_hosts": true}'),
  ('offset_rule', '{"basis": "issued_allowances", "ratio": 0.01, "source": "S1 L1397-1505: <=1% of allowances, reductions from 2013", "from_year": 2013, "ccer_max_age": null, "jurisdiction": "shanghai", "excluded_types": [], "local_share_min": null, "ccer_min_vintage": 2013, "exclude_covered_hosts": true}'),
  ('offset_rule', '{"basis": "verified_emissions", "ratio": 0.08, "source": "S1 L1397-1505: <=8% of verified emissions, no hydro", "from_year": 2013, "ccer_max_age": null, "jurisdiction": "chongqing", "excluded_types": ["hydro"], "local_share_min": null, "ccer_min_vintage": null, "exclude_covered_hosts": true}'),
  ('offset_rule', '{"basis": "initial_allowances", "ratio": 0.10, "source": "S1 L1397-1505: <=10% of initial allowances, no large or medium hydro", "from_year": 2013, "ccer_max_age": null, "jurisdiction": "hubei", "excluded_types": ["hydro"], "local_share_min": null, "ccer_min_vintage": null, "exclude_covered_hosts": true}'),
  ('offset_rule', '{"basis": "verified_emissions", "ratio": 0.10, "source": "S1 L1397-1505: <=10% of emissions, >=70% local CCER, no hydro", "from_year": 2013, "ccer_max_age": null, "jurisdiction": "guangdong", "excluded_types": ["hydro"], "local_share_min": 0.70, "ccer_min_vintage": null, "exclude_covered_hosts": true}'),
  ('offset_rule', '{"basis": "verified_emissions", "ratio": 0.10, "source": "S1 L1397-1505: <=10% of emissions", "from_year": 2013, "ccer_max_age": null, "jurisdiction": "shenzhen", "excluded_types": [], "local_share_min": null, "ccer_min_vintage": null, "exclude_covered_hosts": true}'),
  ('offset_rule', '{"basis": "verified_emissions", "ratio": 0.05, "source": "RULES.md 6: CCER <=5% of emissions (FFCER <=10%, not modelled)", "from_year": 2013, "ccer_max_age": null, "jurisdiction": "fujian", "excluded_types": [], "local_share_min": null, "ccer_min_vintage": null, "exclude_covered_hosts": true}'),
  ('relief_rule', '{"source": "RULES.md 6, power-sector relief [S4 L91-96, public]: gap cap allocation + 20% of verified emissions; gas units <= allocation; gap >= 10% in hardship may borrow <= 50% of the gap", "gas_cap": true, "sectors": ["power"], "from_year": 2019, "jurisdiction": "national", "gap_cap_share": 0.20, "borrowing_max_share": 0.50, "borrowing_min_gap_share": 0.10}'),
  ('penalty_rule', '{"source": "2021 Measures (碳排放权交易管理办法（试行）): fine 20,000-30,000 CNY; if not corrected in time (逾期未改正), next year''s allocation cut by the shortfall", "from_year": 2019, "fine_basis": "fixed", "cut_multiple": 1, "fine_max_fen": 3000000, "fine_min_fen": 2000000, "jurisdiction": "national", "multiple_max": null, "multiple_min": null, "price_months": null, "fine_default_fen": 2000000, "multiple_default": null, "cut_unless_corrected": true}'),
  ('penalty_rule', '{"source": "Decree 775 (碳排放权交易管理暂行条例, from 2024-05-01): fine 5-10x the average price of the month before the deadline x shortfall; if not corrected (拒不改正), an equal cut of next year''s allocation", "from_year": 2023, "fine_basis": "price_multiple", "cut_multiple": 1, "fine_max_fen": null, "fine_min_fen": null, "jurisdiction": "national", "multiple_max": 10, "multiple_min": 5, "price_months": 1, "fine_default_fen": null, "multiple_default": 5, "cut_unless_corrected": true}'),
  ('penalty_rule', '{"source": "S1 L1685-1753: next year''s allocation cut by 2x the shortfall", "from_year": 2013, "fine_basis": "none", "cut_multiple": 2, "fine_max_fen": null, "fine_min_fen": null, "jurisdiction": "hubei", "multiple_max": null, "multiple_min": null, "price_months": null, "fine_default_fen": null, "multiple_default": null, "cut_unless_corrected": false}'),
  ('penalty_rule', '{"source": "S1 L1685-1753: next year''s allocation cut by 2x the shortfall", "from_year": 2013, "fine_basis": "none", "cut_multiple": 2, "fine_max_fen": null, "fine_min_fen": null, "jurisdiction": "guangdong", "multiple_max": null, "multiple_min": null, "price_months": null, "fine_default_fen": null, "multiple_default": null, "cut_unless_corrected": false}'),
  ('penalty_rule', '{"source": "S1 L1685-1753: fine 3x the average price of the 6 months before the deadline x shortfall", "from_year": 2013, "fine_basis": "price_multiple", "cut_multiple": 0, "fine_max_fen": null, "fine_min_fen": null, "jurisdiction": "shenzhen", "multiple_max": 3, "multiple_min": 3, "price_months": 6, "fine_default_fen": null, "multiple_default": 3, "cut_unless_corrected": false}'),
  ('ccer_project_type', '{"code": "afforestation", "name": "Afforestation carbon sink", "name_zh": "造林碳汇"}'),
  ('ccer_project_type', '{"code": "mangrove", "name": "Mangrove restoration", "name_zh": "红树林营造"}'),
  ('ccer_project_type', '{"code": "offshore_wind", "name": "Grid-connected offshore wind", "name_zh": "并网海上风力发电"}'),
  ('ccer_project_type', '{"code": "solar_thermal", "name": "Grid-connected solar thermal power", "name_zh": "并网光热发电"}'),
  ('ccer_project_type', '{"code": "onshore_wind", "name": "Onshore wind power", "name_zh": "陆上风力发电"}'),
  ('ccer_project_type', '{"code": "solar_pv", "name": "Solar photovoltaic power", "name_zh": "光伏发电"}'),
  ('ccer_project_type', '{"code": "hydro", "name": "Hydropower", "name_zh": "水电"}'),
  ('ccer_project_type', '{"code": "methane_recovery", "name": "Methane recovery and use", "name_zh": "甲烷回收利用"}'),
  ('ccer_project_type', '{"code": "biomass", "name": "Biomass energy", "name_zh": "生物质能"}'),
  ('ccer_project_type', '{"code": "waste_heat", "name": "Waste heat and pressure recovery", "name_zh": "余热余压利用"}'),
  ('ccer_project_type', '{"code": "energy_efficiency", "name": "Energy efficiency", "name_zh": "节能"}');

-- The drop guard ---------------------------------------------------------------------
-- DROP EXTENSION carbonmkt (with or without CASCADE), DROP SCHEMA carbonmkt CASCADE and
-- TRUNCATE of a ledger table are refused while the journal holds entries (CM901), unless a
-- superuser sets carbonmkt.allow_ledger_drop for the one transaction.  Enabled ALWAYS, so a
-- session in replica mode (a restore) does not pass by them either.

CREATE FUNCTION carbonmkt._drop_guard() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'carbonmkt_drop_guard'
	LANGUAGE C;
COMMENT ON FUNCTION carbonmkt._drop_guard() IS
  'Internal: ddl_command_start event trigger carbonmkt_drop_guard: DROP EXTENSION carbonmkt and DROP SCHEMA carbonmkt are refused while the journal holds entries (CM901), unless carbonmkt.allow_ledger_drop is on (superuser, SET LOCAL).';
REVOKE ALL ON FUNCTION carbonmkt._drop_guard() FROM PUBLIC;
CREATE EVENT TRIGGER carbonmkt_drop_guard ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
	EXECUTE FUNCTION carbonmkt._drop_guard();
ALTER EVENT TRIGGER carbonmkt_drop_guard ENABLE ALWAYS;

-- TRUNCATE: forbid_change() as a BEFORE TRUNCATE trigger is the guard (src/registry.c);
-- journal, posting and day_seal have theirs in src/registry.sql.
CREATE TRIGGER participant_no_truncate BEFORE TRUNCATE ON carbonmkt.participant
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER participant_login_no_truncate BEFORE TRUNCATE ON carbonmkt.participant_login
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER account_no_truncate BEFORE TRUNCATE ON carbonmkt.account
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER holding_no_truncate BEFORE TRUNCATE ON carbonmkt.holding
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER ccer_block_no_truncate BEFORE TRUNCATE ON carbonmkt.ccer_block
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER hold_no_truncate BEFORE TRUNCATE ON carbonmkt.hold
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
ALTER TABLE carbonmkt.participant ENABLE ALWAYS TRIGGER participant_no_truncate;
ALTER TABLE carbonmkt.participant_login ENABLE ALWAYS TRIGGER participant_login_no_truncate;
ALTER TABLE carbonmkt.account ENABLE ALWAYS TRIGGER account_no_truncate;
ALTER TABLE carbonmkt.holding ENABLE ALWAYS TRIGGER holding_no_truncate;
ALTER TABLE carbonmkt.ccer_block ENABLE ALWAYS TRIGGER ccer_block_no_truncate;
ALTER TABLE carbonmkt.hold ENABLE ALWAYS TRIGGER hold_no_truncate;
ALTER TABLE carbonmkt.journal ENABLE ALWAYS TRIGGER journal_no_truncate;
ALTER TABLE carbonmkt.posting ENABLE ALWAYS TRIGGER posting_no_truncate;
ALTER TABLE carbonmkt.day_seal ENABLE ALWAYS TRIGGER day_seal_no_truncate;


-- == Security: fail-closed scope, four-eyes, anchored seal chain, plausibility ============

-- -- The anchored seal chain (Chain engineer; doc/registry.md "Day seals", doc/security.md) --
-- Every day seal carries the previous seal's hash; its own hash is the day's anchor.
ALTER TABLE carbonmkt.day_seal ADD COLUMN prev_seal bytea, ADD COLUMN seal_hash bytea;
COMMENT ON TABLE carbonmkt.day_seal IS
  'One row per sealed business day: SHA-256 over every account''s chain head at the end of that day, chained to the previous seal; seal_hash is the day''s anchor for publication outside the database (doc/registry.md, Day seals).';

CREATE FUNCTION carbonmkt.seal_hash(business_date date, digest bytea, accounts int, entries bigint,
                                    prev_seal bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS
$$
	SELECT sha256(convert_to('carbonmkt day seal 1' || E'\n'
	                         || 'business_date=' || to_char(business_date, 'YYYY-MM-DD') || E'\n'
	                         || 'digest=' || encode(digest, 'hex') || E'\n'
	                         || 'accounts=' || accounts || E'\n'
	                         || 'entries=' || entries || E'\n'
	                         || 'prev_seal=' || encode(prev_seal, 'hex') || E'\n', 'UTF8'))
$$;
COMMENT ON FUNCTION carbonmkt.seal_hash(date, bytea, int, bigint, bytea) IS
  'The hash of a day seal, its anchor: SHA-256 over the six lines "carbonmkt day seal 1", business_date=YYYY-MM-DD, digest=<hex>, accounts=<n>, entries=<n>, prev_seal=<hex>, each ending in a newline (doc/registry.md, Day seals).';

-- the seals made by 0.1.0, chained in date order (their rows are otherwise unchanged)
ALTER TABLE carbonmkt.day_seal DISABLE TRIGGER day_seal_append_only;
DO $$
DECLARE
    s record;
    prev bytea := decode(repeat('00', 32), 'hex');
BEGIN
    FOR s IN SELECT * FROM carbonmkt.day_seal ORDER BY business_date LOOP
        UPDATE carbonmkt.day_seal d
           SET prev_seal = prev,
               seal_hash = carbonmkt.seal_hash(s.business_date, s.digest, s.accounts, s.entries, prev)
         WHERE d.business_date = s.business_date
        RETURNING d.seal_hash INTO prev;
    END LOOP;
END
$$;
ALTER TABLE carbonmkt.day_seal ENABLE TRIGGER day_seal_append_only;
ALTER TABLE carbonmkt.day_seal ALTER COLUMN prev_seal SET NOT NULL, ALTER COLUMN seal_hash SET NOT NULL;

CREATE FUNCTION carbonmkt.day_seal_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    -- a restore writes both columns as they were; anything else gets them computed
    IF NEW.prev_seal IS NULL THEN
        NEW.prev_seal := coalesce((SELECT s.seal_hash FROM carbonmkt.day_seal s
                                    WHERE s.business_date < NEW.business_date
                                    ORDER BY s.business_date DESC LIMIT 1),
                                  decode(repeat('00', 32), 'hex'));
    END IF;
    IF NEW.seal_hash IS NULL THEN
        NEW.seal_hash := carbonmkt.seal_hash(NEW.business_date, NEW.digest, NEW.accounts, NEW.entries,
                                             NEW.prev_seal);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION carbonmkt.day_seal_chain() IS
  'BEFORE INSERT trigger of carbonmkt.day_seal: links the seal to the previous one (prev_seal = its seal_hash, 32 zero bytes for the first) and computes seal_hash, unless the inserter gives them (a restore); verify_chains() checks both.';
REVOKE ALL ON FUNCTION carbonmkt.day_seal_chain() FROM PUBLIC;
CREATE TRIGGER day_seal_chain
	BEFORE INSERT ON carbonmkt.day_seal
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.day_seal_chain();

CREATE FUNCTION carbonmkt.seal_anchor(business_date date) RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    h bytea;
BEGIN
    SELECT s.seal_hash INTO h FROM carbonmkt.day_seal s WHERE s.business_date = seal_anchor.business_date;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'business day % is not sealed', to_char(seal_anchor.business_date, 'YYYY-MM-DD')
            USING ERRCODE = 'P0002',
                  HINT = 'Seal it first with carbonmkt.seal_day(); only a sealed day has an anchor.';
    END IF;
    RETURN to_char(seal_anchor.business_date, 'YYYY-MM-DD') || ' ' || encode(h, 'hex');
END
$$;
COMMENT ON FUNCTION carbonmkt.seal_anchor(date) IS
  'The anchor of a sealed business day for publication outside the database: "YYYY-MM-DD <64 hex digits of seal_hash>".  Keep every day''s anchor outside (a newspaper, a notary, another registry); verify_anchors() and verify_ledger(text[]) compare them with the database.  P0002 when the day is not sealed.';

CREATE FUNCTION carbonmkt.verify_anchors(anchors text[])
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    pattern constant text := '^\s*(\d{4}-\d{2}-\d{2})\s+(?:\\x)?([0-9A-Fa-f]{64})\s*$';
BEGIN
    IF anchors IS NULL THEN
        RAISE EXCEPTION 'anchors must not be NULL' USING ERRCODE = '22004',
              HINT = 'Pass the anchors kept outside the database, one "YYYY-MM-DD <64 hex digits>" per element.';
    END IF;
    FOR i IN 1 .. coalesce(array_length(anchors, 1), 0) LOOP
        IF regexp_match(anchors[i], pattern) IS NULL THEN
            RAISE EXCEPTION 'anchor % is not a day seal anchor: %', i, coalesce(quote_literal(left(anchors[i], 100)), 'NULL')
                USING ERRCODE = '22P02',
                      HINT = 'An anchor is "YYYY-MM-DD <64 hex digits>", as carbonmkt.seal_anchor() returns it.';
        END IF;
    END LOOP;
    RETURN QUERY
    WITH a AS (SELECT m[1]::date AS business_date, decode(lower(m[2]), 'hex') AS seal_hash, u.line
                 FROM unnest(anchors) WITH ORDINALITY u(t, line), LATERAL regexp_match(u.t, pattern) m),
    s AS (SELECT s.business_date, s.seal_hash,
                 carbonmkt.seal_hash(s.business_date, s.digest, s.accounts, s.entries, s.prev_seal) AS recomputed
            FROM carbonmkt.day_seal s),
    problems AS (
        -- two different anchors for one day: the outside record itself is inconsistent
        SELECT a1.business_date AS d, 1 AS o, 'anchor_conflict'::text AS p,
               format('anchors %s and %s for %s differ', a1.line, a2.line, to_char(a1.business_date, 'YYYY-MM-DD')) AS t
          FROM a a1 JOIN a a2 ON a1.business_date = a2.business_date AND a1.line < a2.line
                              AND a1.seal_hash <> a2.seal_hash
        UNION ALL
        -- a published day whose seal is gone (deleted, or never made here)
        SELECT a.business_date, 2, 'seal_missing',
               format('day %s was published with anchor %s but has no seal', to_char(a.business_date, 'YYYY-MM-DD'),
                      encode(a.seal_hash, 'hex'))
          FROM a WHERE NOT EXISTS (SELECT 1 FROM s WHERE s.business_date = a.business_date)
        UNION ALL
        -- a published day whose seal (as recomputed from its row) is not the published one
        SELECT a.business_date, 3, 'anchor_mismatch',
               format('day %s was published with anchor %s; its seal now hashes to %s', to_char(a.business_date, 'YYYY-MM-DD'),
                      encode(a.seal_hash, 'hex'), encode(s.recomputed, 'hex'))
          FROM a JOIN s USING (business_date)
         WHERE a.seal_hash <> s.recomputed
        UNION ALL
        -- a seal between the first and the last published day that was never published
        SELECT s.business_date, 4, 'seal_unanchored',
               format('day %s is sealed but has no anchor, although earlier and later days have', to_char(s.business_date, 'YYYY-MM-DD'))
          FROM s
         WHERE s.business_date > (SELECT min(a.business_date) FROM a)
           AND s.business_date < (SELECT max(a.business_date) FROM a)
           AND NOT EXISTS (SELECT 1 FROM a WHERE a.business_date = s.business_date))
    SELECT DISTINCT ON (x.d, x.o) x.p, NULL::bigint, NULL::bigint, x.t FROM problems x ORDER BY x.d, x.o;
END
$$;
COMMENT ON FUNCTION carbonmkt.verify_anchors(text[]) IS
  'Compares day seals with anchors kept outside the database ("YYYY-MM-DD <64 hex>", from seal_anchor()); one row per problem: anchor_conflict (two different anchors for one day), seal_missing (a published day has no seal: deleted), anchor_mismatch (the seal, recomputed from its row, differs from the published anchor: history or seals rewritten), seal_unanchored (a sealed day between published days that was never published).  Empty when all agree.  Use verify_ledger(anchors) to check the journal against the seals as well.';

-- verify_chains() and heads_digest() run with a pinned search_path: a caller's shadowing
-- operator (an `=` for bytea) or function (sha256) can no longer hide a mismatch.
ALTER FUNCTION carbonmkt.heads_digest(date) SET search_path = pg_catalog, carbonmkt, pg_temp;
ALTER FUNCTION carbonmkt.verify_chains() SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.verify_chains() IS
  'Checks every journal chain (streamed in account_id, seq order), every account head, every day seal and the seal chain; one row per problem: seq_gap, prev_hash_mismatch, hash_mismatch, head_mismatch, seal_mismatch, seal_link_mismatch, seal_hash_mismatch.  No rows when all is well.  Runs with a pinned search_path.';

-- verify_ledger() itself (issue entries only in issuance accounts) is replaced in the
-- Performance section below, which holds its final definition.
CREATE FUNCTION carbonmkt.verify_ledger(anchors text[])
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
    SELECT * FROM carbonmkt.verify_ledger()
    UNION ALL
    SELECT * FROM carbonmkt.verify_anchors(anchors)
$$;
COMMENT ON FUNCTION carbonmkt.verify_ledger(text[]) IS
  'verify_ledger() and, against the anchors kept outside the database (seal_anchor()), verify_anchors(): together they catch a consistent rewrite of history (re-hashed journal, rebuilt holdings and heads, resealed days) and deleted seals.';
REVOKE ALL ON FUNCTION carbonmkt.verify_ledger(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.verify_ledger(text[])
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;


-- >> security (generated part) >>
-- Plausibility limits and GB 32100-2015 organisation types: rule rows (doc/security.md)
-- Plausibility limits (合理性上限) are rule rows, not constants (doc/security.md, Plausibility;
-- every seeded row cites its source there).  subject says what is bounded, scope narrows it
-- (a sector, a parameter, a text argument) with '*' for every other; the largest value
-- accepted is max_value.
CREATE TABLE carbonmkt.plausibility_limit (
    subject     text NOT NULL,
    scope       text NOT NULL DEFAULT '*',
    max_value   numeric NOT NULL CHECK (max_value > 0 AND max_value < 'Infinity'),
    source      text NOT NULL,
    PRIMARY KEY (subject, scope)
);
COMMENT ON TABLE carbonmkt.plausibility_limit IS
  'Plausibility limits as rule rows (doc/security.md): reported_emissions_t per sector (a unit''s annual tCO2e), deposit_parameter per key parameter (a monthly value), text_length per argument (characters), deadline_years (years from a compliance period''s last year to its surrender deadline).  scope ''*'' applies where no narrower row does; source cites where the number comes from.';
INSERT INTO carbonmkt.plausibility_limit VALUES
  ('reported_emissions_t', 'power', 4500000000, 'S3 L80-83: the whole power sector, 2,162 units, covers about 4.5 billion t CO2 a year'),
  ('reported_emissions_t', 'steel', 3500000000, 'S3 L83-86: the four sectors cover about 8 billion t, power about 4.5 billion: steel, cement and aluminium together 3.5 billion'),
  ('reported_emissions_t', 'cement', 3500000000, 'S3 L83-86: as steel'),
  ('reported_emissions_t', 'aluminium', 3500000000, 'S3 L83-86: as steel'),
  ('reported_emissions_t', '*', 8000000000, 'S3 L86: the whole national market covers about 8 billion t CO2 a year'),
  ('deposit_parameter', 'emissions', 4500000000, 'S3 L80-83: a month of one unit is less than a year of the whole power sector'),
  ('deposit_parameter', '*', 1000000000000, 'operational: no monthly key parameter of one unit (t, MWh, GJ, tC/TJ) reaches 10^12; S3 L86 puts the whole market at 8x10^9 t a year'),
  ('issue_quantity', 'CEA', 10000000000, 'S3 L86: one issuance of CEA is less than the whole market''s 8 billion t a year'),
  ('issue_quantity', 'CCER', 10000000000, 'S3 L86: as CEA'),
  ('issue_quantity', 'CNY', 10000000000000000, 'operational: one deposit of 10^16 fen (10^14 yuan) is below China''s GDP (about 1.35x10^14 yuan in 2024) and keeps every balance far from the int8 limit'),
  ('text_length', 'name', 200, 'operational: registered names of legal persons are far shorter; reports print them on one line'),
  ('text_length', 'label', 200, 'operational: as name'),
  ('text_length', 'reference', 200, 'operational: client references are identifiers'),
  ('text_length', 'memo', 2000, 'operational: a memo is a sentence or two kept in every journal leg'),
  ('text_length', '*', 10000, 'operational: reasons, notes and grounds are paragraphs, not documents'),
  ('deadline_years', '*', 5, 'RULES.md 6 [S1 Art. 31]: surrender by the deadline after the period (the first national period, 2019-2020, closed at the end of 2021); five years leave room for regional pilots and extensions and refuse infinity and year-9999 entry errors');

CREATE FUNCTION carbonmkt.plausibility_max(subject text, scope text DEFAULT '*') RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT l.max_value FROM carbonmkt.plausibility_limit l
    WHERE l.subject = plausibility_max.subject AND l.scope IN (coalesce(plausibility_max.scope, '*'), '*')
    ORDER BY l.scope = '*' LIMIT 1 $$;
COMMENT ON FUNCTION carbonmkt.plausibility_max(text, text) IS
  'The plausibility limit (carbonmkt.plausibility_limit) of a subject in a scope, falling back to scope ''*''; NULL when there is none.';

CREATE FUNCTION carbonmkt._check_plausible(p_function text, p_argument text, p_subject text, p_scope text, p_value numeric)
RETURNS void LANGUAGE plpgsql STABLE AS
$$
DECLARE
    lim numeric := carbonmkt.plausibility_max(p_subject, p_scope);
BEGIN
    IF p_value IS NOT NULL AND (p_value = 'NaN' OR p_value > lim OR p_value < -lim) THEN
        RAISE EXCEPTION '%: % = % exceeds the plausibility limit % (% of %)', p_function, p_argument,
            CASE WHEN length(p_value::text) > 30 THEN left(p_value::text, 12) || '... (' || length(p_value::text) || ' characters)'
                 ELSE p_value::text END,
            to_char(lim, 'FM999,999,999,999,999,999'), p_subject, coalesce(p_scope, '*')
            USING ERRCODE = 'CM902',
                  HINT = 'Limits are rule rows of carbonmkt.plausibility_limit (doc/security.md); a value above one is an entry error.';
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._check_plausible(text, text, text, text, numeric) IS
  'Internal: CM902 naming the function, the argument, the value and the limit when a value exceeds its plausibility limit.';

CREATE FUNCTION carbonmkt._check_text(p_function text, p_argument text, p_value text)
RETURNS void LANGUAGE plpgsql STABLE AS
$$
DECLARE
    lim numeric;
BEGIN
    IF p_value IS NULL THEN
        RETURN;
    END IF;
    lim := carbonmkt.plausibility_max('text_length', p_argument);
    IF length(p_value) > lim THEN
        RAISE EXCEPTION '%: argument % is % characters long, more than its limit of %', p_function, p_argument,
            length(p_value), lim
            USING ERRCODE = 'CM903',
                  HINT = 'Text limits are rule rows of carbonmkt.plausibility_limit (subject text_length; doc/security.md).';
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._check_text(text, text, text) IS
  'Internal: CM903 when a text argument is longer than its limit (plausibility_limit, subject text_length, scope the argument name or ''*'').';

-- Registration authority and organisation type codes of GB 32100-2015 (统一社会信用代码, positions
-- 1 and 2: 登记管理部门代码 and 机构类别代码), doc/security.md.
CREATE TABLE carbonmkt.credit_code_org_type (
    authority   char(1) NOT NULL,
    org_type    char(1) NOT NULL,
    name_zh     text NOT NULL,
    PRIMARY KEY (authority, org_type)
);
COMMENT ON TABLE carbonmkt.credit_code_org_type IS
  'Valid first two characters of a unified social credit code (GB 32100-2015, tables 1 and 2): registration authority (登记管理部门) and organisation type (机构类别).';
INSERT INTO carbonmkt.credit_code_org_type VALUES
  ('1', '1', '机构编制: 机关'), ('1', '2', '机构编制: 事业单位'), ('1', '3', '机构编制: 中央编办直接管理机构编制的群众团体'), ('1', '9', '机构编制: 其他'),
  ('2', '1', '外交: 外国常驻新闻机构'), ('2', '9', '外交: 其他'),
  ('3', '1', '司法行政: 律师执业机构'), ('3', '2', '司法行政: 公证处'), ('3', '3', '司法行政: 基层法律服务所'),
  ('3', '4', '司法行政: 司法鉴定机构'), ('3', '5', '司法行政: 仲裁委员会'), ('3', '9', '司法行政: 其他'),
  ('4', '1', '文化: 外国在华文化中心'), ('4', '9', '文化: 其他'),
  ('5', '1', '民政: 社会团体'), ('5', '2', '民政: 民办非企业单位'), ('5', '3', '民政: 基金会'), ('5', '9', '民政: 其他'),
  ('6', '1', '旅游: 外国旅游部门常驻代表机构'), ('6', '2', '旅游: 港澳台地区旅游部门常驻内地（大陆）代表机构'), ('6', '9', '旅游: 其他'),
  ('7', '1', '宗教: 宗教活动场所'), ('7', '2', '宗教: 宗教院校'), ('7', '9', '宗教: 其他'),
  ('8', '1', '工会: 基层工会'), ('8', '9', '工会: 其他'),
  ('9', '1', '工商: 企业'), ('9', '2', '工商: 个体工商户'), ('9', '3', '工商: 农民专业合作社'),
  ('A', '1', '中央军委改革和编制办公室: 军队事业单位'), ('A', '9', '中央军委改革和编制办公室: 其他'),
  ('N', '1', '农业: 组级集体经济组织'), ('N', '2', '农业: 村级集体经济组织'), ('N', '3', '农业: 乡镇级集体经济组织'), ('N', '9', '农业: 其他'),
  ('Y', '1', '其他');

-- fail-closed staff scope: an authority login acts and sees only through its mapping
-- login -> participant (an authority) -> jurisdiction; four-eyes; the API's own refusals

CREATE OR REPLACE FUNCTION carbonmkt._refuse(p_type anyelement, p_code text, p_message text, p_hint text DEFAULT NULL)
RETURNS anyelement LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS
$$
BEGIN
    RAISE EXCEPTION '%', p_message USING ERRCODE = p_code, HINT = coalesce(p_hint, '');
END
$$;
COMMENT ON FUNCTION carbonmkt._refuse(anyelement, text, text, text) IS
  'Internal: raises the API''s own error (SQLSTATE p_code, message, hint) from inside an SQL expression; p_type fixes the result type.';
CREATE OR REPLACE FUNCTION carbonmkt._require_second_person(p_action text, p_first_step text, p_first_login name, p_role text)
RETURNS void LANGUAGE plpgsql STABLE AS
$$
BEGIN
    IF p_first_login IS NULL OR p_first_login <> session_user
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = session_user AND r.rolsuper) THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                WHERE r.rolcanlogin AND NOT r.rolsuper AND r.rolname <> session_user
                  AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.rolname = p_role)
                  AND pg_catalog.pg_has_role(r.oid, p_role, 'MEMBER')) THEN
        RAISE EXCEPTION 'separation of duties: login "%" %, so another login must %', session_user, p_first_step, p_action
            USING ERRCODE = 'CM901',
                  HINT = format('Four-eyes rule (doc/security.md): a second login of %s does this step.', p_role);
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._require_second_person(text, text, name, text) IS
  'Internal, four-eyes: raises CM901 when the login did the first step (p_first_login) and another non-superuser login of p_role exists to do this one.  Superusers are exempt (they can bypass every rule anyway; doc/security.md, threat model).';
CREATE OR REPLACE FUNCTION carbonmkt.caller_authority(OUT participant_id bigint, OUT kind carbonmkt.participant_kind,
                                           OUT province char(6), OUT city char(6))
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT p.participant_id, p.kind, p.province, p.city
     FROM carbonmkt.participant_login l
     JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
    WHERE l.role_name = session_user
      AND p.kind IN ('national_authority', 'provincial_authority', 'city_authority')
      AND carbonmkt._is_member('carbonmkt_authority') $$;
COMMENT ON FUNCTION carbonmkt.caller_authority() IS
  'The authority (生态环境主管部门) the login acts for: its participant, kind (national/provincial/city) and jurisdiction, when the login is in carbonmkt_authority and mapped (map_login) to an authority; no values otherwise.  An unmapped authority login can do nothing and sees nothing (doc/security.md).';
CREATE OR REPLACE FUNCTION carbonmkt.caller_sees_staff_rows() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT carbonmkt._is_member('carbonmkt_registry') OR carbonmkt._is_member('carbonmkt_exchange')
       OR carbonmkt._is_member('carbonmkt_settlement') OR carbonmkt._is_member('carbonmkt_bi')
       OR (carbonmkt.caller_authority()).participant_id IS NOT NULL $$;
COMMENT ON FUNCTION carbonmkt.caller_sees_staff_rows() IS
  'Row-level security of the staff_read policies: true for the registry, the exchange, settlement and BI, and for an authority login mapped to an authority; false for an unmapped authority login (fail closed, doc/security.md).';
CREATE OR REPLACE FUNCTION carbonmkt.map_login(role_name name, participant_id bigint)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    PERFORM carbonmkt._require_registry('map logins');
    IF role_name IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = map_login.role_name) THEN
        RAISE EXCEPTION 'map_login: login role "%" does not exist', coalesce(role_name::text, 'NULL')
            USING ERRCODE = 'CM905',
                  HINT = 'Create the login role first: a mapping to a role created later would hand that role the participant''s rights (doc/security.md).';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.participant p WHERE p.participant_id = map_login.participant_id) THEN
        RAISE EXCEPTION 'participant % does not exist', map_login.participant_id USING ERRCODE = 'CM002';
    END IF;
    INSERT INTO carbonmkt.participant_login AS l VALUES (map_login.role_name, map_login.participant_id)
    ON CONFLICT ON CONSTRAINT participant_login_pkey DO UPDATE SET participant_id = excluded.participant_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.map_login(name, bigint) IS
  'Maps a login role to the participant it acts for (row-level security and posting rights follow it).  Registry only.';
CREATE OR REPLACE FUNCTION carbonmkt.set_account_status(account_id bigint, status carbonmkt.account_status, memo text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    posting_id bigint;
BEGIN
    PERFORM carbonmkt._require_registry('change account status');
    IF status IS NULL THEN
        RAISE EXCEPTION 'set_account_status: argument status must not be NULL'
            USING ERRCODE = 'CM904', HINT = 'An account is open, frozen or closed.';
    END IF;
    IF status <> 'open' AND EXISTS (SELECT 1 FROM carbonmkt.account a
                                     WHERE a.account_id = set_account_status.account_id AND a.kind = 'cancellation') THEN
        RAISE EXCEPTION 'the cancellation account % cannot be %', account_id, status
            USING ERRCODE = 'CM003',
                  DETAIL = 'Every surrender and cancellation credits it; retired units never leave it anyway.';
    END IF;
    posting_id := carbonmkt._record_posting('set_account_status',
                                            format('set_account_status(%s,%s,%s)', account_id, status, memo));
    UPDATE carbonmkt.account a SET status = set_account_status.status WHERE a.account_id = set_account_status.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', account_id USING ERRCODE = 'CM001';
    END IF;
    RETURN posting_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.set_account_status(bigint, carbonmkt.account_status, text) IS
  'Opens, freezes or closes an account; the change is recorded as a posting.  Registry only.';
CREATE OR REPLACE FUNCTION carbonmkt._may_read(p_account bigint) RETURNS boolean
LANGUAGE sql STABLE AS
$$ SELECT carbonmkt._is_member('carbonmkt_registry') OR (carbonmkt.caller_authority()).participant_id IS NOT NULL
       OR carbonmkt._is_member('carbonmkt_bi') OR carbonmkt._is_member('carbonmkt_exchange')
       OR carbonmkt._is_member('carbonmkt_settlement')
       OR EXISTS (SELECT 1 FROM carbonmkt.account a
                   WHERE a.account_id = p_account AND a.participant_id = carbonmkt.caller_participant()) $$;
COMMENT ON FUNCTION carbonmkt._may_read(bigint) IS
  'Internal: whether the login may read an account''s history (its owner, or the registry, authorities, exchange, settlement, BI: the roles whose row-level security policy staff_read shows every account).';
CREATE OR REPLACE FUNCTION carbonmkt.register_participant(name text, kind carbonmkt.participant_kind, credit_code text,
                                               province char(6) DEFAULT NULL, city char(6) DEFAULT NULL,
                                               sector text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    id bigint;
BEGIN
    PERFORM carbonmkt._require_registry('register participants');
    IF name IS NULL OR kind IS NULL OR credit_code IS NULL THEN
        RAISE EXCEPTION 'register_participant: argument % must not be NULL',
            CASE WHEN name IS NULL THEN 'name' WHEN kind IS NULL THEN 'kind' ELSE 'credit_code' END
            USING ERRCODE = 'CM904';
    END IF;
    PERFORM carbonmkt._check_text('register_participant', 'name', name);
    IF credit_code IS NOT NULL AND length(btrim(credit_code)) = 18 AND NOT EXISTS (
           SELECT 1 FROM carbonmkt.credit_code_org_type t
            WHERE t.authority = upper(substr(btrim(credit_code), 1, 1)) AND t.org_type = upper(substr(btrim(credit_code), 2, 1))) THEN
        RAISE EXCEPTION 'invalid unified social credit code "%": "%" is no registration authority and organisation type',
            credit_code, substr(btrim(credit_code), 1, 2)
            USING ERRCODE = 'CM009',
                  HINT = 'GB 32100-2015: position 1 is the registration authority (1-9, A, N, Y), position 2 the organisation type; see carbonmkt.credit_code_org_type.';
    END IF;
    IF credit_code IS NOT NULL AND length(btrim(credit_code)) = 18
       AND substr(btrim(credit_code), 3, 6) <> '100000'
       AND NOT EXISTS (SELECT 1 FROM carbonmkt.region r WHERE substr(r.code, 1, 2) = substr(btrim(credit_code), 3, 2)) THEN
        RAISE EXCEPTION 'invalid unified social credit code "%": "%" is no administrative division code', credit_code,
            substr(btrim(credit_code), 3, 6)
            USING ERRCODE = 'CM009',
                  HINT = 'GB 32100-2015: positions 3-8 are the GB/T 2260 code of the registering administration (100000 for the central one).';
    END IF;
    IF province IS NOT NULL AND NOT EXISTS (SELECT 1 FROM carbonmkt.region r WHERE r.code = province) THEN
        RAISE EXCEPTION 'unknown province code "%"', province
            USING ERRCODE = '22023', HINT = 'Province codes are GB/T 2260 codes of the form PP0000, see table carbonmkt.region.';
    END IF;
    IF city IS NOT NULL AND NOT carbonmkt.valid_city_code(city, coalesce(province, '')) THEN
        RAISE EXCEPTION 'city code "%" is not a city of province %', city, coalesce(province, '(none)')
            USING ERRCODE = '22023', HINT = 'City codes are GB/T 2260 codes PPCC00 inside province PP0000.';
    END IF;
    IF kind = 'key_emitter' AND (province IS NULL OR sector IS NULL) THEN
        RAISE EXCEPTION 'a key emitting unit (重点排放单位) needs a province and a sector'
            USING ERRCODE = '22023', DETAIL = format('Province %s, sector %s.', coalesce(province, 'missing'),
                                                     coalesce(sector, 'missing'));
    END IF;
    IF kind = 'provincial_authority' AND province IS NULL THEN
        RAISE EXCEPTION 'a provincial authority needs its province' USING ERRCODE = '22023';
    END IF;
    IF kind = 'city_authority' AND city IS NULL THEN
        RAISE EXCEPTION 'a city authority needs its city' USING ERRCODE = '22023';
    END IF;
    IF sector IS NOT NULL AND NOT EXISTS (SELECT 1 FROM carbonmkt.sector s WHERE s.code = sector) THEN
        RAISE EXCEPTION 'unknown sector "%"', sector
            USING ERRCODE = '22023', HINT = 'Sectors are listed in table carbonmkt.sector.';
    END IF;
    SELECT p.participant_id INTO id FROM carbonmkt.participant p
     WHERE p.credit_code = upper(btrim(register_participant.credit_code));
    IF FOUND THEN
        RAISE EXCEPTION 'credit code % is already registered to participant %', upper(btrim(credit_code)), id
            USING ERRCODE = '23505';
    END IF;
    INSERT INTO carbonmkt.participant AS p (name, kind, credit_code, province, city, sector)
    VALUES (register_participant.name, register_participant.kind, register_participant.credit_code,
            register_participant.province, register_participant.city, register_participant.sector)
    RETURNING p.participant_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.register_participant(text, carbonmkt.participant_kind, text, char, char, text) IS
  'Registers a market party; the unified social credit code (统一社会信用代码) is validated including its GB 32100-2015 check character.  Registry only.';
CREATE OR REPLACE FUNCTION carbonmkt.open_account(participant_id bigint, kind carbonmkt.account_kind, label text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    p   carbonmkt.participant;
    id  bigint;
BEGIN
    PERFORM carbonmkt._require_registry('open accounts');
    IF kind IS NULL THEN
        RAISE EXCEPTION 'open_account: argument kind must not be NULL' USING ERRCODE = 'CM904';
    END IF;
    PERFORM carbonmkt._check_text('open_account', 'label', label);
    SELECT * INTO p FROM carbonmkt.participant x WHERE x.participant_id = open_account.participant_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'participant % does not exist', open_account.participant_id USING ERRCODE = 'CM002';
    END IF;
    IF kind IN ('national_reserve', 'cancellation') THEN
        RAISE EXCEPTION 'the % account exists once and is created with the extension', kind USING ERRCODE = '22023';
    END IF;
    IF kind = 'allocation' AND p.kind <> 'provincial_authority' THEN
        RAISE EXCEPTION 'allocation accounts belong to a provincial authority, not to a %', p.kind USING ERRCODE = '22023';
    END IF;
    IF kind = 'allocation' AND EXISTS (SELECT 1 FROM carbonmkt.account x WHERE x.kind = 'allocation' AND x.province = p.province) THEN
        RAISE EXCEPTION 'province % already has its allocation account %', p.province,
            (SELECT x.account_id FROM carbonmkt.account x WHERE x.kind = 'allocation' AND x.province = p.province)
            USING ERRCODE = '23505', HINT = 'Each province has one allocation account (省级配额账户).';
    END IF;
    IF kind = 'clearing' AND p.kind <> 'exchange' THEN
        RAISE EXCEPTION 'clearing accounts belong to the exchange, not to a %', p.kind USING ERRCODE = '22023';
    END IF;
    INSERT INTO carbonmkt.account AS a (kind, participant_id, province, label)
    VALUES (kind, p.participant_id, CASE WHEN kind = 'allocation' THEN p.province END,
            coalesce(label, p.name || ' ' || kind))
    RETURNING a.account_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.open_account(bigint, carbonmkt.account_kind, text) IS
  'Opens an account of the given kind for a participant (allocation: one per province, for its provincial authority; clearing: the exchange).  Registry only.';
CREATE OR REPLACE FUNCTION carbonmkt._check_issue(p_operation text, p_account bigint, p_instrument carbonmkt.instrument,
                                       p_vintage int, p_project text, p_quantity bigint)
RETURNS void LANGUAGE plpgsql STABLE AS
$$
BEGIN
    PERFORM carbonmkt._check_plausible(p_operation, 'quantity', 'issue_quantity', p_instrument::text, p_quantity);
    IF EXISTS (SELECT 1 FROM carbonmkt.holding h
                WHERE h.account_id = p_account AND h.instrument = p_instrument AND h.vintage = p_vintage
                  AND h.project = p_project AND h.balance > 9223372036854775807 - p_quantity) THEN
        RAISE EXCEPTION '%: % more would take the balance of account % beyond the largest quantity a balance holds',
            p_operation, carbonmkt.format_quantity(p_instrument, p_quantity), p_account
            USING ERRCODE = 'CM902';
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._check_issue(text, bigint, carbonmkt.instrument, int, text, bigint) IS
  'Internal: CM902 when an issuance or deposit exceeds its plausibility limit (issue_quantity) or would take the account''s balance beyond the int8 range.';

REVOKE ALL ON FUNCTION carbonmkt._require_second_person(text, text, name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION carbonmkt._check_plausible(text, text, text, text, numeric) FROM PUBLIC;
REVOKE ALL ON FUNCTION carbonmkt._check_text(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION carbonmkt._check_issue(text, bigint, carbonmkt.instrument, int, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt._refuse(anyelement, text, text, text) TO PUBLIC;
GRANT SELECT ON carbonmkt.plausibility_limit, carbonmkt.credit_code_org_type TO PUBLIC;

CREATE OR REPLACE FUNCTION carbonmkt.caller_scope(OUT sees_all boolean, OUT province char(6), OUT city char(6),
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
CREATE OR REPLACE FUNCTION carbonmkt._require_authority_over(p_participant bigint, p_action text) RETURNS void
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
CREATE OR REPLACE FUNCTION carbonmkt._require_national(p_action text) RETURNS void
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
CREATE OR REPLACE FUNCTION carbonmkt.record_reference_price(price_date date, average_price_fen bigint, source text,
                                                 volume_t bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    IF NOT (carbonmkt._is_member('carbonmkt_registry') OR carbonmkt._is_member('carbonmkt_exchange')
            OR (carbonmkt.caller_authority()).kind IS NOT DISTINCT FROM 'national_authority') THEN
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
CREATE OR REPLACE FUNCTION carbonmkt.open_period(period int, name text, first_year int, last_year int, deadline date,
                                      jurisdiction text DEFAULT 'national')
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    other int;
    oj    text;
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
                    WHERE r.jurisdiction = open_period.jurisdiction AND r.from_year <= open_period.first_year) THEN
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

-- four-eyes: the real login of every review and report event
ALTER TABLE carbonmkt.mrv_review ADD COLUMN reviewer_login name;
ALTER TABLE carbonmkt.mrv_report_event ADD COLUMN login name;
ALTER TABLE carbonmkt.mrv_report_event ALTER COLUMN login SET DEFAULT session_user;

CREATE OR REPLACE FUNCTION carbonmkt.mrv_review_four_eyes() RETURNS trigger
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

CREATE OR REPLACE FUNCTION carbonmkt._mrv_verify(p_report bigint, p_kind text, p_tonnes bigint, p_findings carbonmkt.mrv_findings,
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
CREATE OR REPLACE FUNCTION carbonmkt._mrv_store_gases(p_report bigint, p_version int, p_lines jsonb)
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
CREATE OR REPLACE FUNCTION carbonmkt.deposit_parameters(unit bigint, year int, month int, parameters jsonb, note text DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    u       carbonmkt.participant := carbonmkt._mrv_as_unit(unit);
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
               coalesce(carbonmkt.caller_participant(), u.participant_id), ts, deposit_parameters.note
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
CREATE OR REPLACE FUNCTION carbonmkt.decide_appeal(appeal_id bigint, upheld boolean, verified_t bigint DEFAULT NULL,
                                        note text DEFAULT NULL, acting_for bigint DEFAULT NULL)
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
           note = decide_appeal.note
     WHERE x.appeal_id = ap.appeal_id;
    IF upheld THEN
        v := r.data_version + 1;
        UPDATE carbonmkt.mrv_report x SET data_version = v, verified_t = decide_appeal.verified_t
         WHERE x.report_id = r.report_id;
        a := carbonmkt._mrv_start_review(r.report_id);
        PERFORM carbonmkt._mrv_event(r.report_id, v, 'appeal_upheld', me.participant_id,
                                     format('verified emissions %s -> %s tCO2e; %s approval(s) voided; review restarts at city%s',
                                            r.verified_t, decide_appeal.verified_t, carbonmkt._mrv_voided(r.report_id, r.data_version),
                                            coalesce(': ' || note, '')));
    ELSE
        v := r.data_version;
        PERFORM carbonmkt._mrv_resume(r.report_id);
        PERFORM carbonmkt._mrv_event(r.report_id, v, 'appeal_dismissed', me.participant_id, note);
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION carbonmkt.decide_appeal(bigint, boolean, bigint, text, bigint) IS
  'The provincial authority decides an appeal: upheld sets new verified emissions (a new data version, review restarts at city); dismissed resumes the review where it stood.  Returns the report''s data version.';
CREATE OR REPLACE FUNCTION carbonmkt.record_sample_seed(year int, seed text, acting_for bigint DEFAULT NULL)
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
CREATE OR REPLACE FUNCTION carbonmkt.mrv_deposit_due(year int, month int, due_days int) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
$$ SELECT CASE WHEN month NOT BETWEEN 1 AND 12 OR year NOT BETWEEN 1 AND 9999 OR due_days NOT BETWEEN -36600 AND 36600
              THEN carbonmkt._refuse(NULL::date, 'CM902',
                       format('mrv_deposit_due: no deposit due date for month %s of year %s plus %s days', month, year, due_days),
                       'A month is 1..12 of a year 1..9999; due_days lies within a century either way.')
              ELSE ((make_date(year, month, 1) + interval '1 month')::date - 1) + due_days END $$;
COMMENT ON FUNCTION carbonmkt.mrv_deposit_due(int, int, int) IS
  'Deadline of a month''s deposit: the last day of the month plus due_days (carbonmkt.mrv_rule.deposit_due_days).';
CREATE OR REPLACE FUNCTION carbonmkt.review_report(report_id bigint, decision text, reason text DEFAULT NULL,
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
CREATE OR REPLACE FUNCTION carbonmkt.appoint_estimator(unit bigint, year int, firm bigint, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    me      carbonmkt.participant := carbonmkt._mrv_actor(acting_for, 'carbonmkt_authority');
    u       carbonmkt.participant := carbonmkt._mrv_unit(unit);
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
CREATE OR REPLACE FUNCTION carbonmkt._mrv_gas_lines(p_sector text, p_year int, p_gwp_set text, p_gases jsonb)
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
CREATE OR REPLACE FUNCTION carbonmkt.name_for_national_review(unit bigint, year int, reason text, acting_for bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    me  carbonmkt.participant := carbonmkt._mrv_actor(acting_for, 'carbonmkt_authority');
    u   carbonmkt.participant := carbonmkt._mrv_unit(unit);
    r   carbonmkt.mrv_report;
BEGIN
    PERFORM carbonmkt._mrv_authority_check(me, u, 'national_authority', 'name units for national review');
    IF year IS NULL OR year NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'report year must lie in 2005..2100: got %', coalesce(year::text, 'NULL') USING ERRCODE = 'CM103';
    END IF;
    IF btrim(coalesce(reason, '')) = '' THEN
        RAISE EXCEPTION 'naming a unit for national review needs a reason' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM carbonmkt.mrv_national_naming n WHERE n.participant_id = unit AND n.year = name_for_national_review.year) THEN
        RAISE EXCEPTION 'unit % is already named for national review of %', unit, year USING ERRCODE = 'CM114';
    END IF;
    INSERT INTO carbonmkt.mrv_national_naming VALUES (unit, name_for_national_review.year, reason, me.participant_id, carbonmkt.clock_now());
    SELECT * INTO r FROM carbonmkt.mrv_report x WHERE x.participant_id = unit AND x.year = name_for_national_review.year FOR UPDATE;
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

CREATE OR REPLACE FUNCTION carbonmkt.fee_fen(notional_fen bigint, fee_rate numeric) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
$$ SELECT CASE WHEN abs(notional_fen * fee_rate) >= 9223372036854775807.5
              THEN carbonmkt._refuse(NULL::bigint, 'CM902',
                       format('fee_fen: the fee on %s fen at rate %s exceeds the largest amount of fen', notional_fen, fee_rate))
              ELSE round(notional_fen * fee_rate)::bigint END $$;
COMMENT ON FUNCTION carbonmkt.fee_fen(bigint, numeric) IS
  'The fee on a notional, fen, rounded half up.  A fill pays fee_fen(order''s notional after it) - fee_fen(before it), so an order''s fees always equal fee_fen of its total notional (what its hold reserved for).';
CREATE OR REPLACE FUNCTION carbonmkt.list_product(code text, reference_price numeric, clearing_account bigint,
                                       vintage int DEFAULT NULL, instrument carbonmkt.instrument DEFAULT 'CEA',
                                       project text DEFAULT '', jurisdiction text DEFAULT 'national')
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    c   text := upper(btrim(code));
    v   int := vintage;
    a   record;
    id  int;
BEGIN
    PERFORM carbonmkt._require_exchange('list products');
    IF instrument IS NULL OR instrument NOT IN ('CEA', 'CCER')
       OR (instrument = 'CCER') <> (coalesce(project, '') <> '') THEN
        RAISE EXCEPTION 'list_product: a product is CEA without a project or CCER of a project: got %, project "%"',
            coalesce(instrument::text, 'NULL'), coalesce(project, '')
            USING ERRCODE = '22023';
    END IF;
    IF jurisdiction IS NULL THEN
        RAISE EXCEPTION 'list_product: argument jurisdiction must not be NULL' USING ERRCODE = 'CM904';
    END IF;
    IF v IS NULL AND instrument = 'CEA' AND c ~ '^CEA[0-9]{4}$' THEN
        v := substr(c, 4)::int;
    END IF;
    IF v IS NULL THEN
        RAISE EXCEPTION 'product % needs a vintage', c USING ERRCODE = '22023',
              HINT = 'A CEA product code CEAyyyy names its vintage; otherwise pass vintage.';
    END IF;
    PERFORM carbonmkt.cea(v, 0);    -- the vintage window (22003)
    IF c IS NULL OR c !~ '^[A-Z][A-Z0-9._-]{2,39}$' THEN
        RAISE EXCEPTION 'list_product: product code "%" is not 3-40 letters, digits, ".", "_" or "-" starting with a letter',
            coalesce(c, 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT x.kind, p.kind AS owner_kind INTO a
      FROM carbonmkt.account x JOIN carbonmkt.participant p USING (participant_id)
     WHERE x.account_id = clearing_account;
    IF NOT FOUND OR a.kind <> 'clearing' OR a.owner_kind <> 'exchange' THEN
        RAISE EXCEPTION 'account % is not a clearing account of the exchange', clearing_account
            USING ERRCODE = '22023', HINT = 'The registry opens clearing accounts (结算账户) for the exchange with open_account(exchange, ''clearing'').';
    END IF;
    INSERT INTO carbonmkt.product AS p (code, instrument, vintage, project, jurisdiction, reference_price_fen,
                                        clearing_account, listed_at)
    VALUES (c, instrument, v, upper(coalesce(project, '')), jurisdiction,
            (carbonmkt._price_fen(reference_price, carbonmkt._rule('listed', carbonmkt.business_date(), jurisdiction))),
            clearing_account, carbonmkt.clock_now())
    RETURNING p.product_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.list_product(text, numeric, bigint, int, carbonmkt.instrument, text, text) IS
  'Lists a product (上市): code (CEAyyyy gives the vintage), reference price in CNY per t (the previous close before its first trade), and the exchange''s clearing account it settles through and keeps fees in.  Exchange or registry staff only.';

CREATE OR REPLACE FUNCTION carbonmkt.adopt_preallocation(year int, postings bigint[], jurisdiction text DEFAULT 'CN')
RETURNS TABLE (participant_id bigint, posting_id bigint, tonnes bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_column
DECLARE
    run     bigint;
    pst     bigint;
    leg     record;
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
    FOREACH pst IN ARRAY postings LOOP
        SELECT c.account_id, c.amount, h.participant_id, d.account_id AS from_account, po.operation INTO leg
          FROM carbonmkt.posting po
          JOIN carbonmkt.journal c ON c.posting_id = po.posting_id AND c.kind = 'credit'
          JOIN carbonmkt.journal d ON d.posting_id = po.posting_id AND d.kind = 'debit'
          JOIN carbonmkt.account h ON h.account_id = c.account_id AND h.kind = 'holding'
          JOIN carbonmkt.participant p ON p.participant_id = h.participant_id AND p.kind = 'key_emitter'
          JOIN carbonmkt.account al ON al.account_id = d.account_id AND al.kind = 'allocation' AND al.province = p.province
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

CREATE OR REPLACE VIEW carbonmkt.bi_allowance_supply AS
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
                        AND st.vintage BETWEEN p.first_year AND p.last_year LIMIT 1) cl ON true
 WHERE (SELECT carbonmkt.caller_sees_staff_rows());   -- fail closed (doc/security.md)
COMMENT ON VIEW carbonmkt.bi_allowance_supply IS
  'BI: CEA supply per vintage (配额供给): issued_t (签发; = everything held in any account, by the ledger''s conservation invariant), unallocated_t (in allocation accounts and the national reserve), held_t (in holding and clearing accounts), banked_t (held_t once the national period of the vintage is closed: carried over, 结转), surrendered_t (清缴, from surrender_detail), cancelled_t (voluntarily, 注销: the rest of the cancellation account), compliance_closed.  issued = unallocated + held + surrendered + cancelled.';
CREATE OR REPLACE VIEW carbonmkt.bi_ccer_use AS
SELECT d.period, coalesce(cp.project_type, 'unregistered') AS project_type, t.name_zh AS project_type_name,
       count(DISTINCT d.participant_id) AS units, count(DISTINCT d.project) AS projects,
       sum(d.tonnes)::bigint AS tonnes,
       coalesce(sum(d.tonnes) FILTER (WHERE cp.province = p.province), 0)::bigint AS local_tonnes
  FROM carbonmkt.surrender_detail d
  JOIN carbonmkt.participant p ON p.participant_id = d.participant_id
  LEFT JOIN carbonmkt.ccer_project cp ON cp.project = d.project
  LEFT JOIN carbonmkt.ccer_project_type t ON t.code = cp.project_type
 WHERE d.instrument = 'CCER'
   AND (SELECT carbonmkt.caller_sees_staff_rows())   -- fail closed (doc/security.md)
 GROUP BY d.period, coalesce(cp.project_type, 'unregistered'), t.name_zh;

ALTER POLICY staff_read ON carbonmkt.participant USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.account USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.holding USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.hold USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.journal USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.posting USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.ccer_block USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.facility USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.facility_event USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.production USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.allocation USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.allocation_posting USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.allocation_run USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.market_order USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.trade USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.block_deal USING ((SELECT carbonmkt.caller_sees_staff_rows()));
-- << security (generated part) <<


-- The Security section's rule tables in every dump (src/operations.sql registers them in a
-- fresh install), their seeded rows in the snapshot of what was seeded.
SELECT carbonmkt._dump_register('carbonmkt.plausibility_limit', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.credit_code_org_type', seeded => true);
INSERT INTO carbonmkt.seeded_row (tab, content) SELECT 'plausibility_limit', pg_catalog.to_jsonb(t) FROM carbonmkt.plausibility_limit t;
INSERT INTO carbonmkt.seeded_row (tab, content) SELECT 'credit_code_org_type', pg_catalog.to_jsonb(t) FROM carbonmkt.credit_code_org_type t;

-- seal_day: a date that is not finite is refused (22023), found by the API fuzzer.
CREATE OR REPLACE FUNCTION carbonmkt.seal_day(business_date date)
RETURNS bytea LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    d record;
BEGIN
    PERFORM carbonmkt._require_registry('seal a business day');
    IF seal_day.business_date IS NULL OR NOT isfinite(seal_day.business_date) THEN
        RAISE EXCEPTION 'seal_day: business_date must be a finite date, got %', coalesce(seal_day.business_date::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF seal_day.business_date >= carbonmkt.business_date() THEN
        RAISE EXCEPTION 'business day % is not over yet', to_char(seal_day.business_date, 'YYYY-MM-DD')
            USING ERRCODE = '22023', DETAIL = format('Today is %s.', to_char(carbonmkt.business_date(), 'YYYY-MM-DD'));
    END IF;
    IF EXISTS (SELECT 1 FROM carbonmkt.day_seal s WHERE s.business_date >= seal_day.business_date) THEN
        RAISE EXCEPTION 'business day % or a later one is already sealed', to_char(seal_day.business_date, 'YYYY-MM-DD')
            USING ERRCODE = 'CM012';
    END IF;
    -- every account's chain, as it stands: no other posting may interleave
    LOCK TABLE carbonmkt.day_seal IN EXCLUSIVE MODE;
    d := carbonmkt.heads_digest(seal_day.business_date);
    INSERT INTO carbonmkt.day_seal VALUES (seal_day.business_date, d.digest, d.accounts, d.entries,
                                           carbonmkt.clock_now(), session_user);
    RETURN d.digest;
END
$$;
COMMENT ON FUNCTION carbonmkt.seal_day(date) IS
  'Seals a finished business day with a SHA-256 digest over every account''s chain head at its end; no posting may be dated on or before a sealed day.  Registry only.';


-- register_ccer_project: a NULL name is the API's refusal (CM904), not a raw not-null error;
-- open_period likewise (its last CREATE, in the Rules section, carries the check).
CREATE OR REPLACE FUNCTION carbonmkt.register_ccer_project(project text, name text, project_type text, province char(6),
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

-- Staff scope that fails closed for every staff role (doc/security.md): a login of the
-- registry, the exchange, settlement, BI or an authority has its role's capabilities only when
-- mapped to a party of the kind the role stands for; the read-only staff functions refuse an
-- unmapped staff login (42501); borrowing (borrow_cea, in the One way in section) asks who calls
-- before it says anything about the account.
CREATE OR REPLACE FUNCTION carbonmkt._staff_kinds(role_name text) RETURNS carbonmkt.participant_kind[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT CASE role_name
            WHEN 'carbonmkt_registry' THEN '{registry}'
            WHEN 'carbonmkt_exchange' THEN '{exchange}'
            WHEN 'carbonmkt_settlement' THEN '{registry,institution}'
            WHEN 'carbonmkt_bi' THEN '{registry,national_authority}'
            WHEN 'carbonmkt_authority' THEN '{national_authority,provincial_authority,city_authority}'
          END::carbonmkt.participant_kind[] $$;
COMMENT ON FUNCTION carbonmkt._staff_kinds(text) IS
  'Internal: the kinds of party a login of a staff role must be mapped to for the role to count (carbonmkt._is_member); NULL for a role that is not staff.  doc/security.md, "Staff scope that fails closed".';

CREATE OR REPLACE FUNCTION carbonmkt._login_kind() RETURNS carbonmkt.participant_kind
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT p.kind FROM carbonmkt.participant_login l
     JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
    WHERE l.role_name = session_user $$;
COMMENT ON FUNCTION carbonmkt._login_kind() IS
  'Internal: the kind of the party the login (session_user) is mapped to, or NULL.';

CREATE OR REPLACE FUNCTION carbonmkt._is_member(role_name text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = session_user AND r.rolsuper)
       OR (EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name)
           AND pg_catalog.pg_has_role(session_user, role_name, 'MEMBER')
           AND (carbonmkt._staff_kinds(role_name) IS NULL
                OR coalesce(carbonmkt._login_kind() = ANY (carbonmkt._staff_kinds(role_name)), false))) $$;
COMMENT ON FUNCTION carbonmkt._is_member(text) IS
  'Internal: true when the login is a superuser, or a member of the named carbonmkt role and, for a staff role (registry, exchange, settlement, BI, authority), mapped to a party of a kind the role stands for (carbonmkt._staff_kinds): an unmapped staff login has no staff capability (fail closed, doc/security.md).';

CREATE OR REPLACE FUNCTION carbonmkt.caller_authority(OUT participant_id bigint, OUT kind carbonmkt.participant_kind,
                                           OUT province char(6), OUT city char(6))
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT p.participant_id, p.kind, p.province, p.city
     FROM carbonmkt.participant_login l
     JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
    WHERE l.role_name = session_user
      AND p.kind IN ('national_authority', 'provincial_authority', 'city_authority')
      AND carbonmkt._is_member('carbonmkt_authority') $$;
COMMENT ON FUNCTION carbonmkt.caller_authority() IS
  'The authority (生态环境主管部门) the login acts for: its participant, kind (national/provincial/city) and jurisdiction, when the login is in carbonmkt_authority and mapped (map_login) to an authority; no values otherwise.  An unmapped authority login can do nothing and sees nothing (doc/security.md).';

CREATE OR REPLACE FUNCTION carbonmkt.caller_sees_staff_rows() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT carbonmkt._is_member('carbonmkt_registry') OR carbonmkt._is_member('carbonmkt_exchange')
       OR carbonmkt._is_member('carbonmkt_settlement') OR carbonmkt._is_member('carbonmkt_bi')
       OR (carbonmkt.caller_authority()).participant_id IS NOT NULL $$;
COMMENT ON FUNCTION carbonmkt.caller_sees_staff_rows() IS
  'Row-level security of the staff_read policies: true for a login of the registry, the exchange, settlement, BI or an authority that is mapped to a party of the kind its role stands for (carbonmkt._is_member); false for an unmapped staff login (fail closed, doc/security.md).';

CREATE OR REPLACE FUNCTION carbonmkt._require_scope(p_action text) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    IF carbonmkt.caller_sees_staff_rows()
       OR (carbonmkt._is_member('carbonmkt_participant') AND carbonmkt.caller_participant() IS NOT NULL) THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION 'role "%" may not %: it acts for no party', session_user, p_action
        USING ERRCODE = '42501',
              HINT = 'A staff login acts only through its mapping to a party (carbonmkt.map_login); doc/security.md, "Staff scope that fails closed".';
END
$$;
COMMENT ON FUNCTION carbonmkt._require_scope(text) IS
  'Internal: true when the login acts for a party: a staff login mapped to a party of its role''s kind (carbonmkt.caller_sees_staff_rows()), or a participant''s login mapped to its participant; else 42501 naming the action.  The guard of the read-only functions that answer staff (verify_chains, heads_digest, the allocation calculators): an unmapped staff login learns nothing from them.';

CREATE OR REPLACE FUNCTION carbonmkt._require_second_person(p_action text, p_first_step text, p_first_login name, p_role text)
RETURNS void LANGUAGE plpgsql STABLE AS
$$
BEGIN
    IF p_first_login IS NULL OR p_first_login <> session_user
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = session_user AND r.rolsuper) THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                WHERE r.rolcanlogin AND NOT r.rolsuper AND r.rolname <> session_user
                  AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.rolname = p_role)
                  AND pg_catalog.pg_has_role(r.oid, p_role, 'MEMBER')
                  -- a staff login counts only when mapped to a party of the role's kind
                  AND (carbonmkt._staff_kinds(p_role) IS NULL
                       OR EXISTS (SELECT 1 FROM carbonmkt.participant_login l
                                    JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
                                   WHERE l.role_name = r.rolname
                                     AND p.kind = ANY (carbonmkt._staff_kinds(p_role))))) THEN
        RAISE EXCEPTION 'separation of duties: login "%" %, so another login must %', session_user, p_first_step, p_action
            USING ERRCODE = 'CM901',
                  HINT = format('Four-eyes rule (doc/security.md): a second login of %s does this step.', p_role);
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._require_second_person(text, text, name, text) IS
  'Internal, four-eyes: raises CM901 when the login did the first step (p_first_login) and another non-superuser login of p_role, mapped to a party of the role''s kind, exists to do this one.  Superusers are exempt (they can bypass every rule anyway; doc/security.md, threat model).';

CREATE OR REPLACE FUNCTION carbonmkt.heads_digest(d date, OUT digest bytea, OUT accounts int, OUT entries bigint)
LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
	WITH heads AS (
		SELECT DISTINCT ON (j.account_id) j.account_id, j.seq, j.hash
		FROM carbonmkt.journal j
		WHERE j.business_date <= d
		ORDER BY j.account_id, j.seq DESC
	)
	SELECT sha256(convert_to(coalesce(string_agg(h.account_id || ':' || h.seq || ':'
											   || encode(h.hash, 'hex') || E'\n', ''
											   ORDER BY h.account_id), ''), 'UTF8')),
		   count(*)::int,
		   (SELECT count(*) FROM carbonmkt.journal j WHERE j.business_date <= d)
	FROM heads h
	WHERE carbonmkt._require_scope('compute the heads digest')
$$;
COMMENT ON FUNCTION carbonmkt.heads_digest(date) IS
  'Chain heads as of the end of business day d: digest = SHA-256 over the lines <account_id>:<seq>:<lower-case hex of hash>\n of every account''s last entry (max seq) with business_date <= d, in account_id order; accounts = number of such accounts; entries = journal rows with business_date <= d.';


REVOKE ALL ON FUNCTION carbonmkt._staff_kinds(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION carbonmkt._login_kind() FROM PUBLIC;
REVOKE ALL ON FUNCTION carbonmkt._require_scope(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt._require_scope(text) TO PUBLIC;
-- the login mappings: the registry's (mapped) logins only
ALTER TABLE carbonmkt.participant_login ENABLE ROW LEVEL SECURITY;
CREATE POLICY staff_read ON carbonmkt.participant_login FOR SELECT TO carbonmkt_registry
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));

-- == Correctness: lock order, business time, messages ====================================

-- Business time everywhere: the last defaults that read the wall clock.
ALTER TABLE carbonmkt.participant ALTER COLUMN created_at SET DEFAULT carbonmkt.clock_now();
ALTER TABLE carbonmkt.account ALTER COLUMN opened_at SET DEFAULT carbonmkt.clock_now();
ALTER TABLE carbonmkt.production ALTER COLUMN recorded_at SET DEFAULT carbonmkt.clock_now();

-- statement() and balance_as_of(): 42501 for another party's account; settlement reads all.

CREATE OR REPLACE FUNCTION carbonmkt._may_read(p_account bigint) RETURNS boolean
LANGUAGE sql STABLE AS
$$ SELECT carbonmkt._is_member('carbonmkt_registry') OR (carbonmkt.caller_authority()).participant_id IS NOT NULL
       OR carbonmkt._is_member('carbonmkt_bi') OR carbonmkt._is_member('carbonmkt_exchange')
       OR carbonmkt._is_member('carbonmkt_settlement')
       OR EXISTS (SELECT 1 FROM carbonmkt.account a
                   WHERE a.account_id = p_account AND a.participant_id = carbonmkt.caller_participant()) $$;
COMMENT ON FUNCTION carbonmkt._may_read(bigint) IS
  'Internal: whether the login may read an account''s history (its owner, or the registry, authorities, exchange, settlement, BI: the roles whose row-level security policy staff_read shows every account).';

CREATE OR REPLACE FUNCTION carbonmkt._require_read(p_account bigint, p_what text) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
BEGIN
    IF NOT carbonmkt._may_read(p_account) THEN
        -- the same answer whether or not the account exists: a participant learns nothing
        RAISE EXCEPTION 'role "%" may not read the % of account %', session_user, p_what, p_account
            USING ERRCODE = '42501',
                  HINT = 'A participant''s login reads only its own accounts; registry, authority, exchange, settlement and BI staff read every account.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.account a WHERE a.account_id = p_account) THEN
        RAISE EXCEPTION 'account % does not exist', p_account USING ERRCODE = 'CM001';
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._require_read(bigint, text) IS
  'Internal: 42501 unless the login may read the account''s history (carbonmkt._may_read), then CM001 if it does not exist; statement() and balance_as_of() call it first.';

CREATE OR REPLACE FUNCTION carbonmkt.statement(account_id bigint, from_time timestamptz, to_time timestamptz)
RETURNS TABLE (entry_id bigint, seq bigint, recorded_at timestamptz, business_date date,
               kind carbonmkt.entry_kind, asset text, block carbonmkt.ccer, amount bigint,
               held_change bigint, balance_after bigint, held_after bigint, counterparty bigint,
               posting_id bigint, memo text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    PERFORM carbonmkt._require_read(statement.account_id, 'statement');
    RETURN QUERY
    SELECT j.entry_id, j.seq, j.recorded_at, j.business_date, j.kind,
           carbonmkt.format_asset(j.instrument, j.vintage, j.project), j.block, j.amount,
           j.held_change, j.balance_after, j.held_after, j.counterparty, j.posting_id, j.memo
      FROM carbonmkt.journal j
     WHERE j.account_id = statement.account_id
       AND j.recorded_at >= from_time AND j.recorded_at < to_time
     ORDER BY j.seq;
END
$$;
COMMENT ON FUNCTION carbonmkt.statement(bigint, timestamptz, timestamptz) IS
  'An account''s journal entries recorded in [from_time, to_time), with the running balance and held quantity of each asset after each entry.  42501 for another party''s account (carbonmkt._may_read), CM001 for an unknown one.';

CREATE OR REPLACE FUNCTION carbonmkt.balance_as_of(account_id bigint, at_time timestamptz)
RETURNS TABLE (instrument carbonmkt.instrument, vintage int, project text, balance bigint, held bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    PERFORM carbonmkt._require_read(balance_as_of.account_id, 'balance');
    RETURN QUERY
    SELECT DISTINCT ON (j.instrument, j.vintage, j.project)
           j.instrument, j.vintage, j.project, j.balance_after, j.held_after
      FROM carbonmkt.journal j
     WHERE j.account_id = balance_as_of.account_id AND j.recorded_at <= at_time
     ORDER BY j.instrument, j.vintage, j.project, j.seq DESC;
END
$$;
COMMENT ON FUNCTION carbonmkt.balance_as_of(bigint, timestamptz) IS
  'An account''s balance and held quantity of every asset at a past instant, from the journal.  42501 for another party''s account (carbonmkt._may_read), CM001 for an unknown one.';

REVOKE ALL ON FUNCTION carbonmkt._require_read(bigint, text) FROM PUBLIC;

-- Messages: the production trigger (a NULL quantity is CM203), the facility trigger's detail.

CREATE OR REPLACE FUNCTION carbonmkt._facility_check() RETURNS trigger
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

CREATE OR REPLACE FUNCTION carbonmkt._production_check() RETURNS trigger
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
            USING ERRCODE = 'CM209', HINT = 'Correct the allocation with carbonmkt.adjust_allocation(..., reason => ''correction'').';
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

-- confirm_block by a third party; close_period on its deadline day; pilot/national overlap.

CREATE OR REPLACE FUNCTION carbonmkt.confirm_block(deal_id bigint, reference text DEFAULT NULL, participant_id bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    me  bigint := carbonmkt._market_actor(participant_id);
    d   carbonmkt.block_deal;
    e   record;
BEGIN
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = confirm_block.deal_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'block deal % does not exist', deal_id USING ERRCODE = 'CM313';
    END IF;
    IF me = d.proposer_id THEN
        RAISE EXCEPTION 'only the counterparty (participant %) confirms block deal %', d.counterparty_id, deal_id
            USING ERRCODE = 'CM313', DETAIL = format('Participant %s proposed it.', d.proposer_id);
    END IF;
    IF me <> d.counterparty_id THEN
        -- a third party: the deal exists, but its parties are not the caller's to know
        RAISE EXCEPTION 'participant % is not the counterparty of block deal %', me, deal_id
            USING ERRCODE = 'CM313', HINT = 'Only the participant the proposer named confirms a block deal.';
    END IF;
    e := carbonmkt._enter_order('block', (SELECT p.code FROM carbonmkt.product p WHERE p.product_id = d.product_id),
                                CASE d.side WHEN 'buy' THEN 'sell' ELSE 'buy' END, d.quantity, d.price_fen / 100.0,
                                NULL, reference, me, true);
    IF e.replay THEN
        IF d.counter_order IS DISTINCT FROM e.order_id THEN
            RAISE EXCEPTION 'client reference "%" was already used for a different order', reference USING ERRCODE = 'CM311';
        END IF;
        RETURN e.order_id;
    END IF;
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = confirm_block.deal_id FOR UPDATE;
    IF d.status <> 'proposed' OR d.business_date <> carbonmkt.business_date() THEN
        RAISE EXCEPTION 'block deal % is %', deal_id,
            CASE WHEN d.status = 'proposed' THEN 'from ' || to_char(d.business_date, 'YYYY-MM-DD') ELSE d.status END
            USING ERRCODE = 'CM313', HINT = 'Only a proposed deal of today can be confirmed.';
    END IF;
    UPDATE carbonmkt.market_order x SET status = 'open' WHERE x.order_id = e.order_id;
    UPDATE carbonmkt.block_deal x SET counter_order = e.order_id, status = 'confirmed', confirmed_at = carbonmkt.clock_now()
     WHERE x.deal_id = confirm_block.deal_id;
    RETURN e.order_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.confirm_block(bigint, text, bigint) IS
  'The named counterparty confirms a proposed block deal: its mirror order is checked like any order (session, band, funds or allowances, T+1, position limit) and held.  Returns the counterparty''s order id.';

CREATE OR REPLACE FUNCTION carbonmkt.open_period(period int, name text, first_year int, last_year int, deadline date,
                                      jurisdiction text DEFAULT 'national')
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    other int;
    oj    text;
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
                    WHERE r.jurisdiction = open_period.jurisdiction AND r.from_year <= open_period.first_year) THEN
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

CREATE OR REPLACE FUNCTION carbonmkt.close_period(period int)
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
                      DETAIL = format('The %s rule sets fines at a multiple of the average price of the %s month(s) before the deadline.',
                                      per.jurisdiction, per.price_months),
                      HINT = 'Record the published price with carbonmkt.record_reference_price().';
        END IF;
    ELSE
        SELECT NULL::bigint AS average_price_fen, NULL::text AS price_source, NULL::int AS market_days,
               NULL::int AS reference_days INTO price;
    END IF;

    -- freeze every covered unit's figures
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

-- One lock order across the registry and the market (doc/registry.md, "Lock order").

CREATE OR REPLACE FUNCTION carbonmkt._lock_market(p_products int[], p_date date, p_accounts bigint[])
RETURNS void LANGUAGE plpgsql AS
$$
DECLARE
    p int;
BEGIN
    FOR p IN SELECT DISTINCT x FROM unnest(p_products) x WHERE x IS NOT NULL ORDER BY x LOOP
        PERFORM carbonmkt._product_day(p, p_date, true);
    END LOOP;
    PERFORM 1 FROM carbonmkt.account a
      WHERE a.account_id = ANY (p_accounts)
      ORDER BY a.account_id FOR NO KEY UPDATE;
END
$$;
COMMENT ON FUNCTION carbonmkt._lock_market(int[], date, bigint[]) IS
  'Internal: takes a market call''s locks up front in the one global order: the matcher locks of the products (product_day rows FOR NO KEY UPDATE, in product_id order), then the accounts (FOR NO KEY UPDATE, in account_id order, as every registry posting locks them).';

CREATE OR REPLACE FUNCTION carbonmkt._order_accounts(p_orders bigint[]) RETURNS bigint[]
LANGUAGE sql STABLE AS
$$
    SELECT coalesce(array_agg(DISTINCT a), '{}')
      FROM carbonmkt.market_order o, unnest(ARRAY[o.holding_account, o.cash_account]) a
     WHERE o.order_id = ANY (p_orders) AND a IS NOT NULL
$$;
COMMENT ON FUNCTION carbonmkt._order_accounts(bigint[]) IS
  'Internal: the holding and cash accounts of the given orders (what a release or a settlement of them may post to).';

CREATE OR REPLACE FUNCTION carbonmkt._enter_order(p_mode carbonmkt.trade_mode, p_product text, p_side text, p_quantity bigint,
                                       p_price numeric, p_take bigint, p_reference text, p_participant bigint,
                                       p_lock boolean, p_auction bigint DEFAULT NULL, p_role text DEFAULT 'trade',
                                       OUT order_id bigint, OUT replay boolean)
LANGUAGE plpgsql AS
$$
DECLARE
    me      bigint;
    prod    carbonmkt.product;
    sd      carbonmkt.order_side;
    ts      timestamptz := carbonmkt.clock_now();
    d       date := carbonmkt.business_date(ts);
    r       carbonmkt.market_rule;
    day     carbonmkt.product_day;
    tr      carbonmkt.trader_rule;
    acc     record;
    old     carbonmkt.market_order;
    lst     carbonmkt.market_order;
    px      bigint;
    notional bigint;
    fee     bigint;
    need    bigint;
    avail   bigint;
    bought  bigint;
    bal     bigint;
    openbuy bigint;
    h       bigint;
    asset   text;
    reach   bigint[];
BEGIN
    replay := false;
    me := carbonmkt._market_actor(p_participant);
    IF p_side IS NULL OR lower(btrim(p_side)) NOT IN ('buy', 'sell') THEN
        RAISE EXCEPTION 'side must be ''buy'' or ''sell'', not %', coalesce(quote_literal(p_side), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    sd := lower(btrim(p_side))::carbonmkt.order_side;
    prod := carbonmkt._product(p_product);

    -- idempotency: the same client reference (per login) returns the original order
    -- (looked up again under the matcher lock below, for a concurrent twin)
    old := carbonmkt._order_by_reference(p_reference, p_mode, sd, me, prod, p_quantity, p_price, p_take, p_auction);
    IF old.order_id IS NOT NULL THEN
        order_id := old.order_id;
        replay := true;
        RETURN;
    END IF;

    -- checks that do not depend on the book or the balances: before the matcher lock,
    -- so that the lock is held as briefly as possible
    r := carbonmkt._rule(p_mode, d, prod.jurisdiction);
    px := carbonmkt._price_fen(p_price, r);
    PERFORM carbonmkt._check_quantity(p_quantity, r);
    IF p_mode <> 'auction' THEN
        PERFORM carbonmkt._check_session(p_mode, ts, prod.jurisdiction);
    ELSIF NOT carbonmkt.is_trading_day(d, prod.jurisdiction) THEN
        RAISE EXCEPTION 'the market is closed on %: not a trading day', to_char(d, 'YYYY-MM-DD') USING ERRCODE = 'CM302';
    END IF;
    day := carbonmkt._product_day(prod.product_id, d, false);
    PERFORM carbonmkt._check_band(px, day.prev_close_fen, r);      -- the previous close is fixed for the day
    tr := carbonmkt._trader(me, d, prod.jurisdiction, p_role);
    acc := carbonmkt._trading_accounts(me);
    asset := carbonmkt.format_asset(prod.instrument, prod.vintage, prod.project);
    IF px::numeric * p_quantity > 9000000000000000000 THEN
        RAISE EXCEPTION 'order value % x % CNY is out of range', carbonmkt._t(p_quantity), carbonmkt._cny(px)
            USING ERRCODE = '22003';
    END IF;
    notional := px * p_quantity;

    -- the matcher lock (everything that matches at once takes it before its hold, so that
    -- the hold never waits for an account the matcher holds while it waits for the product);
    -- from here on the book, the day's trades and the balances are as the matcher sees them
    IF p_lock THEN
        day := carbonmkt._product_day(prod.product_id, d, true);
        old := carbonmkt._order_by_reference(p_reference, p_mode, sd, me, prod, p_quantity, p_price, p_take, p_auction);
        IF old.order_id IS NOT NULL THEN
            order_id := old.order_id;
            replay := true;
            RETURN;
        END IF;
    END IF;
    IF day.closed_at IS NOT NULL THEN
        RAISE EXCEPTION 'trading in % is closed for %', prod.code, to_char(d, 'YYYY-MM-DD')
            USING ERRCODE = 'CM302', DETAIL = format('The exchange ran end_of_day() at %s.',
                                               to_char(day.closed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS'));
    END IF;

    IF sd = 'sell' THEN
        avail := carbonmkt._available(acc.holding, prod.instrument, prod.vintage, prod.project);
        IF avail < p_quantity THEN
            RAISE EXCEPTION 'insufficient available % to sell: available %, requested %', asset,
                carbonmkt._t(avail), carbonmkt._t(p_quantity)
                USING ERRCODE = 'CM306',
                      DETAIL = format('Holding account %s; units held for other orders or pledges are not available.', acc.holding);
        END IF;
        IF NOT r.same_day_resale THEN
            SELECT coalesce(sum(t.quantity), 0) INTO bought FROM carbonmkt.trade t
             WHERE t.buyer_id = me AND t.product_id = prod.product_id AND t.business_date = d;
            IF avail - bought < p_quantity THEN
                RAISE EXCEPTION 'units bought today cannot be resold today: sellable %, requested %',
                    carbonmkt._t(greatest(avail - bought, 0)), carbonmkt._t(p_quantity)
                    USING ERRCODE = 'CM307',
                          DETAIL = format('Participant %s bought %s of %s on %s; available %s.', me, carbonmkt._t(bought),
                                          asset, to_char(d, 'YYYY-MM-DD'), carbonmkt._t(avail)),
                          HINT = 'Units bought on a trading day can be sold from the next trading day (T+1).';
            END IF;
        END IF;
        need := p_quantity;
    ELSE
        IF tr.max_position IS NOT NULL THEN
            SELECT coalesce(sum(h.balance), 0) INTO bal FROM carbonmkt.holding h
             WHERE h.account_id = acc.holding AND h.instrument = prod.instrument
               AND h.vintage = prod.vintage AND h.project = prod.project;
            SELECT coalesce(sum(o.remaining), 0) INTO openbuy FROM carbonmkt.market_order o
             WHERE o.participant_id = me AND o.product_id = prod.product_id AND o.side = 'buy'
               AND o.status IN ('queued', 'open');
            IF bal + openbuy + p_quantity > tr.max_position THEN
                RAISE EXCEPTION 'position limit: buying % would bring participant % to % of %, above its limit of %',
                    carbonmkt._t(p_quantity), me, carbonmkt._t(bal + openbuy + p_quantity), asset, carbonmkt._t(tr.max_position)
                    USING ERRCODE = 'CM308',
                          DETAIL = format('Holding %s, open buy orders %s, this order %s.', carbonmkt._t(bal),
                                          carbonmkt._t(openbuy), carbonmkt._t(p_quantity)),
                          HINT = 'Position limits (最大持仓量) per participant kind are in carbonmkt.trader_rule.';
            END IF;
        END IF;
        fee := carbonmkt.fee_fen(notional, r.fee_rate);
        need := notional + fee;
        avail := carbonmkt._available(acc.cash, 'CNY', 0, '');
        IF avail < need THEN
            RAISE EXCEPTION 'insufficient available cash to buy % at %: available %, requested %',
                carbonmkt._t(p_quantity), carbonmkt._cny(px), carbonmkt.format_quantity('CNY', avail),
                carbonmkt.format_quantity('CNY', need)
                USING ERRCODE = 'CM306',
                      DETAIL = format('%s for the allowances plus a fee of %s (%s%% of the value); cash account %s.',
                                      carbonmkt.format_quantity('CNY', notional), carbonmkt.format_quantity('CNY', fee),
                                      trim_scale(r.fee_rate * 100), acc.cash);
        END IF;
    END IF;

    -- 摘牌: the listing this order takes
    IF p_take IS NOT NULL THEN
        SELECT * INTO lst FROM carbonmkt.market_order o WHERE o.order_id = p_take;
        IF NOT FOUND OR lst.mode <> 'listed' OR lst.product_id <> prod.product_id THEN
            RAISE EXCEPTION 'order % is not a listed order of %', p_take, prod.code USING ERRCODE = 'CM310';
        END IF;
        IF lst.side = sd THEN
            RAISE EXCEPTION 'listing % is a % order: a % order cannot take it', p_take, lst.side, sd USING ERRCODE = 'CM310';
        END IF;
        IF lst.participant_id = me THEN
            RAISE EXCEPTION 'self-trade: listing % is participant %''s own order', p_take, me
                USING ERRCODE = 'CM309', HINT = 'A participant never trades with itself (doc/market.md, self-trade prevention).';
        END IF;
        IF p_lock AND (lst.status <> 'open' OR lst.business_date <> d) THEN
            RAISE EXCEPTION 'listing % is no longer open: it is %', p_take,
                CASE WHEN lst.status = 'open' THEN 'from ' || to_char(lst.business_date, 'YYYY-MM-DD') ELSE lst.status::text END
                USING ERRCODE = 'CM310';
        END IF;
        IF (sd = 'buy' AND px < lst.price_fen) OR (sd = 'sell' AND px > lst.price_fen) THEN
            RAISE EXCEPTION 'a % at % cannot take listing % at %', sd, carbonmkt._cny(px), p_take, carbonmkt._cny(lst.price_fen)
                USING ERRCODE = 'CM310', HINT = '摘牌 trades at the listing''s price: the order''s limit must reach it.';
        END IF;
    END IF;

    -- a listed order matched at once (submit_order) settles with the resting orders it
    -- reaches: lock their accounts, its own and the clearing account in account order before
    -- its hold (doc/registry.md, "Lock order").  Under the matcher lock the book cannot change,
    -- so these are the orders the engine will fill, in its price-time order, up to the
    -- quantity; own orders in the way (self-trade prevention) only touch its own accounts.
    IF p_lock AND p_mode = 'listed' THEN
        IF p_take IS NOT NULL THEN
            reach := ARRAY[lst.holding_account, lst.cash_account];
        ELSE
            SELECT array_agg(a) INTO reach
              FROM (SELECT o.holding_account, o.cash_account,
                           coalesce(sum(o.remaining) FILTER (WHERE o.participant_id <> me) OVER w, 0)
                           - CASE WHEN o.participant_id <> me THEN o.remaining ELSE 0 END AS before
                      FROM carbonmkt.market_order o
                     WHERE o.product_id = prod.product_id AND o.business_date = d AND o.mode = 'listed'
                       AND o.status = 'open' AND o.side <> sd
                       AND CASE WHEN sd = 'buy' THEN o.price_fen <= px ELSE o.price_fen >= px END
                    WINDOW w AS (ORDER BY CASE WHEN sd = 'buy' THEN o.price_fen ELSE -o.price_fen END,
                                          o.priority ROWS UNBOUNDED PRECEDING)) ro,
                   unnest(ARRAY[ro.holding_account, ro.cash_account]) a
             WHERE ro.before < p_quantity;
        END IF;
        -- an order that reaches nobody only holds (one account): nothing to take up front
        IF reach IS NOT NULL THEN
            PERFORM 1 FROM carbonmkt.account a
              WHERE a.account_id = ANY (reach || ARRAY[acc.holding, acc.cash, prod.clearing_account])
              ORDER BY a.account_id FOR NO KEY UPDATE;
        END IF;
    END IF;

    -- the hold, then the order row
    order_id := nextval('carbonmkt.market_order_id_seq');
    IF sd = 'sell' THEN
        h := carbonmkt.hold(acc.holding, prod.instrument, need, 'order', prod.vintage, prod.project, NULL,
                            'market order ' || order_id);
    ELSE
        h := carbonmkt.hold(acc.cash, 'CNY', need, 'order', 0, '', NULL, 'market order ' || order_id);
    END IF;
    INSERT INTO carbonmkt.market_order (order_id, product_id, mode, side, participant_id, quantity, price_fen, remaining,
                                        status, take_order_id, auction_id, holding_account, cash_account, hold_id,
                                        hold_amount, hold_left, business_date, entered_at, initiator, reference)
    VALUES (order_id, prod.product_id, p_mode, sd, me, p_quantity, px, p_quantity, 'queued', p_take, p_auction,
            acc.holding, acc.cash, h, need, need, d, ts, session_user, p_reference);
END
$$;
COMMENT ON FUNCTION carbonmkt._enter_order(carbonmkt.trade_mode, text, text, bigint, numeric, bigint, text, bigint, boolean, bigint, text) IS
  'Internal: validates an order against the rules (session, price step, size, band, funds or allowances, T+1, position limit, 摘牌), lays its registry hold and records it as queued; the same client reference returns the original order.';

CREATE OR REPLACE PROCEDURE carbonmkt.process_queue(product text DEFAULT NULL, max_orders int DEFAULT NULL)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    p       record;
    s       record;
    budget  int := max_orders;
    pid     int;
    prods   int[];
    serials boolean;
BEGIN
    PERFORM carbonmkt._require_exchange('process the order queue');
    IF max_orders IS NOT NULL AND max_orders < 0 THEN
        RAISE EXCEPTION 'max_orders must not be negative: %', max_orders USING ERRCODE = '22023';
    END IF;
    IF product IS NOT NULL THEN
        pid := (carbonmkt._product(product)).product_id;
    END IF;
    -- more than one product, or serial blocks (CCER settles by one posting per hold and
    -- account): the matcher locks of all of them, then every account their queues and books
    -- may settle to, up front (doc/registry.md, "Lock order"); one CEA product settles in
    -- one posting, which locks its accounts in order itself
    SELECT array_agg(x.product_id ORDER BY x.product_id), bool_or(x.instrument <> 'CEA') INTO prods, serials
      FROM carbonmkt.product x
     WHERE (pid IS NULL OR x.product_id = pid)
       AND EXISTS (SELECT 1 FROM carbonmkt.market_order o WHERE o.product_id = x.product_id AND o.status = 'queued');
    IF cardinality(prods) > 1 OR serials THEN
        PERFORM carbonmkt._lock_market(prods, carbonmkt.business_date(),
            (SELECT coalesce(array_agg(DISTINCT a), '{}')
               FROM (SELECT o.holding_account, o.cash_account FROM carbonmkt.market_order o
                      WHERE o.product_id = ANY (prods) AND o.business_date = carbonmkt.business_date()
                        AND o.mode = 'listed' AND o.status IN ('queued', 'open')
                     UNION ALL
                     SELECT x.clearing_account, NULL FROM carbonmkt.product x WHERE x.product_id = ANY (prods)) live,
                    unnest(ARRAY[live.holding_account, live.cash_account]) a
              WHERE a IS NOT NULL));
    END IF;
    FOR p IN SELECT x.product_id FROM carbonmkt.product x
              WHERE (pid IS NULL OR x.product_id = pid)
                AND EXISTS (SELECT 1 FROM carbonmkt.market_order o WHERE o.product_id = x.product_id AND o.status = 'queued')
              ORDER BY x.product_id
    LOOP
        EXIT WHEN budget IS NOT NULL AND budget <= 0;
        s := carbonmkt._process_queue(p.product_id, budget);
        budget := budget - s.orders;
        RAISE DEBUG 'process_queue: product %: % orders, % trades, % resting, % ended, % registry calls',
            p.product_id, s.orders, s.trades, s.resting, s.ended, s.registry_calls;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE carbonmkt.process_queue(text, int) IS
  'Matches the queued listed orders of today (of one product, or of every product in turn) in order id sequence with the C engine that submit_order uses: replay of a day, batch matching.  At most max_orders orders (all when NULL).  One transaction; exchange or registry staff only.';

CREATE OR REPLACE FUNCTION carbonmkt.accept_block(deal_id bigint)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    d       carbonmkt.block_deal;
    prod    carbonmkt.product;
    day     carbonmkt.product_day;
    t       bigint;
BEGIN
    PERFORM carbonmkt._require_exchange('accept block agreements');
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = accept_block.deal_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'block deal % does not exist', deal_id USING ERRCODE = 'CM313';
    END IF;
    SELECT * INTO prod FROM carbonmkt.product p WHERE p.product_id = d.product_id;
    day := carbonmkt._product_day(d.product_id, carbonmkt.business_date(), true);
    PERFORM carbonmkt._lock_market('{}', day.business_date,
                                   carbonmkt._order_accounts(ARRAY[d.proposer_order, d.counter_order])
                                   || prod.clearing_account);
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = accept_block.deal_id FOR UPDATE;
    IF d.status <> 'confirmed' OR d.business_date <> day.business_date THEN
        RAISE EXCEPTION 'block deal % is %', deal_id,
            CASE WHEN d.status = 'confirmed' THEN 'from ' || to_char(d.business_date, 'YYYY-MM-DD') ELSE d.status END
            USING ERRCODE = 'CM313', HINT = 'The exchange accepts a block deal of today after its counterparty confirmed it.';
    END IF;
    PERFORM carbonmkt._check_session('block', carbonmkt.clock_now(), prod.jurisdiction);
    PERFORM carbonmkt._check_band(d.price_fen, day.prev_close_fen,
                                  carbonmkt._rule('block', day.business_date, prod.jurisdiction));
    IF d.side = 'buy' THEN
        t := carbonmkt._settle_fills('block', ARRAY[d.proposer_order], ARRAY[d.counter_order], ARRAY[d.quantity], ARRAY[d.price_fen]);
    ELSE
        t := carbonmkt._settle_fills('block', ARRAY[d.counter_order], ARRAY[d.proposer_order], ARRAY[d.quantity], ARRAY[d.price_fen]);
    END IF;
    UPDATE carbonmkt.block_deal x SET status = 'accepted', trade_id = t, ended_at = carbonmkt.clock_now()
     WHERE x.deal_id = accept_block.deal_id;
    RETURN t;
END
$$;
COMMENT ON FUNCTION carbonmkt.accept_block(bigint) IS
  'The exchange accepts a confirmed block deal in the block session and within the band: it settles delivery-versus-payment at once (the C engine''s fill and settlement code).  Returns the trade id.  Exchange or registry staff only.';

CREATE OR REPLACE FUNCTION carbonmkt.cancel_block(deal_id bigint, participant_id bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    d   carbonmkt.block_deal;
    me  bigint;
BEGIN
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = cancel_block.deal_id;
    IF participant_id IS NOT NULL OR NOT carbonmkt._is_market_staff() THEN
        me := carbonmkt._market_actor(participant_id);
        IF NOT FOUND OR me NOT IN (d.proposer_id, d.counterparty_id) THEN
            RAISE EXCEPTION 'block deal % does not exist', deal_id USING ERRCODE = 'CM313';
        END IF;
    ELSIF NOT FOUND THEN
        RAISE EXCEPTION 'block deal % does not exist', deal_id USING ERRCODE = 'CM313';
    END IF;
    PERFORM carbonmkt._product_day(d.product_id, d.business_date, true);
    PERFORM carbonmkt._lock_market('{}', d.business_date,
                                   carbonmkt._order_accounts(ARRAY[d.proposer_order, d.counter_order]));
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = cancel_block.deal_id FOR UPDATE;
    IF d.status NOT IN ('proposed', 'confirmed') THEN
        RAISE EXCEPTION 'block deal % is already %', deal_id, d.status USING ERRCODE = 'CM313';
    END IF;
    PERFORM carbonmkt._end_order(d.proposer_order, 'cancelled', 'block deal cancelled');
    IF d.counter_order IS NOT NULL THEN
        PERFORM carbonmkt._end_order(d.counter_order, 'cancelled', 'block deal cancelled');
    END IF;
    UPDATE carbonmkt.block_deal x SET status = 'cancelled', ended_at = carbonmkt.clock_now()
     WHERE x.deal_id = cancel_block.deal_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.cancel_block(bigint, bigint) IS
  'Withdraws (proposer), declines (counterparty) or rejects (exchange) a block deal that is not accepted yet; both holds are released.';

CREATE OR REPLACE FUNCTION carbonmkt._close_auction(p_auction bigint, OUT allocated bigint, OUT clearing_price numeric)
LANGUAGE plpgsql AS
$$
DECLARE
    a carbonmkt.auction;
    r record;
BEGIN
    SELECT * INTO a FROM carbonmkt.auction x WHERE x.auction_id = p_auction;
    PERFORM carbonmkt._product_day(a.product_id, carbonmkt.business_date(), true);
    PERFORM carbonmkt._lock_market('{}', carbonmkt.business_date(),
        carbonmkt._order_accounts(ARRAY(SELECT o.order_id FROM carbonmkt.market_order o
                                         WHERE o.auction_id = p_auction AND o.status IN ('queued', 'open')))
        || (SELECT x.clearing_account FROM carbonmkt.product x WHERE x.product_id = a.product_id));
    SELECT * INTO a FROM carbonmkt.auction x WHERE x.auction_id = p_auction FOR UPDATE;
    IF a.status <> 'open' THEN
        RAISE EXCEPTION 'auction % is already %', p_auction, a.status USING ERRCODE = 'CM314';
    END IF;
    r := carbonmkt._uncross_auction(p_auction);
    UPDATE carbonmkt.auction x SET status = 'closed', clearing_fen = r.clearing_fen, allocated = r.allocated,
                                   closed_at = carbonmkt.clock_now()
     WHERE x.auction_id = p_auction;
    allocated := r.allocated;
    clearing_price := (r.clearing_fen / 100.0)::numeric(14, 2);
END
$$;
COMMENT ON FUNCTION carbonmkt._close_auction(bigint) IS 'Internal: uncrosses and settles an open auction (C engine) and records the result.';

CREATE OR REPLACE FUNCTION carbonmkt.cancel_auction(auction_id bigint)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    a carbonmkt.auction;
    o bigint;
BEGIN
    a := carbonmkt._auction_for_staff_or_announcer(cancel_auction.auction_id, 'cancels');
    PERFORM carbonmkt._product_day(a.product_id, carbonmkt.business_date(a.opens_at), true);
    PERFORM carbonmkt._lock_market('{}', carbonmkt.business_date(a.opens_at),
        carbonmkt._order_accounts(ARRAY(SELECT o.order_id FROM carbonmkt.market_order o
                                         WHERE o.auction_id = cancel_auction.auction_id AND o.status IN ('queued', 'open'))));
    SELECT * INTO a FROM carbonmkt.auction x WHERE x.auction_id = cancel_auction.auction_id FOR UPDATE;
    IF a.status <> 'open' THEN
        RAISE EXCEPTION 'auction % is already %', auction_id, a.status USING ERRCODE = 'CM314';
    END IF;
    FOR o IN SELECT x.order_id FROM carbonmkt.market_order x
              WHERE x.auction_id = cancel_auction.auction_id AND x.status IN ('queued', 'open') ORDER BY x.order_id
    LOOP
        PERFORM carbonmkt._end_order(o, 'cancelled', 'auction cancelled');
    END LOOP;
    UPDATE carbonmkt.auction x SET status = 'cancelled', closed_at = carbonmkt.clock_now()
     WHERE x.auction_id = cancel_auction.auction_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.cancel_auction(bigint) IS
  'Cancels an auction that has not closed: the lot and every bid are released.  The exchange or the announcer.';

CREATE OR REPLACE FUNCTION carbonmkt.end_of_day(business_date date DEFAULT NULL, product text DEFAULT NULL)
RETURNS TABLE (product_code text, day date, close numeric, listed_trades bigint, expired_orders bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    d       date := coalesce(end_of_day.business_date, carbonmkt.business_date());
    pid     int;
    p       record;
    x       record;
    dayrow  carbonmkt.product_day;
    n       bigint;
    vwap    bigint;
BEGIN
    PERFORM carbonmkt._require_exchange('close the trading day');
    IF d > carbonmkt.business_date() THEN
        RAISE EXCEPTION 'business day % has not begun', to_char(d, 'YYYY-MM-DD') USING ERRCODE = '22023';
    END IF;
    IF end_of_day.product IS NOT NULL THEN
        pid := (carbonmkt._product(end_of_day.product)).product_id;
    END IF;
    -- every product's matcher lock, then every account an expiry, release or auction
    -- settlement may post to, up front (doc/registry.md, "Lock order")
    PERFORM carbonmkt._lock_market(
        ARRAY(SELECT y.product_id FROM carbonmkt.product y WHERE pid IS NULL OR y.product_id = pid),
        d,
        (SELECT coalesce(array_agg(DISTINCT a), '{}')
           FROM (SELECT o.holding_account, o.cash_account FROM carbonmkt.market_order o
                  WHERE (pid IS NULL OR o.product_id = pid) AND o.status IN ('queued', 'open') AND o.business_date <= d
                 UNION ALL
                 SELECT y.clearing_account, NULL FROM carbonmkt.product y WHERE pid IS NULL OR y.product_id = pid) live,
                unnest(ARRAY[live.holding_account, live.cash_account]) a
          WHERE a IS NOT NULL));
    FOR p IN SELECT y.product_id, y.code FROM carbonmkt.product y
              WHERE (pid IS NULL OR y.product_id = pid) ORDER BY y.product_id
    LOOP
        dayrow := carbonmkt._product_day(p.product_id, d, true);
        n := 0;
        IF dayrow.closed_at IS NULL THEN
            -- one-way bidding: close what has finished bidding, cancel the rest
            FOR x IN SELECT a.auction_id, a.closes_at FROM carbonmkt.auction a
                      WHERE a.product_id = p.product_id AND a.status = 'open'
                        AND carbonmkt.business_date(a.opens_at) <= d ORDER BY a.auction_id
            LOOP
                IF carbonmkt.clock_now() >= x.closes_at AND d = carbonmkt.business_date() THEN
                    PERFORM carbonmkt._close_auction(x.auction_id);
                ELSE
                    PERFORM carbonmkt._end_order(o.order_id, 'expired', 'end_of_day')
                       FROM carbonmkt.market_order o
                      WHERE o.auction_id = x.auction_id AND o.status IN ('queued', 'open');
                    UPDATE carbonmkt.auction a SET status = 'cancelled', closed_at = carbonmkt.clock_now()
                     WHERE a.auction_id = x.auction_id;
                END IF;
            END LOOP;
            -- block deals that were not accepted expire with the session
            UPDATE carbonmkt.block_deal b SET status = 'expired', ended_at = carbonmkt.clock_now()
             WHERE b.product_id = p.product_id AND b.business_date <= d AND b.status IN ('proposed', 'confirmed');
            -- every live order of the day (or earlier) expires and releases its hold
            FOR x IN SELECT o.order_id FROM carbonmkt.market_order o
                      WHERE o.product_id = p.product_id AND o.status IN ('queued', 'open') AND o.business_date <= d
                      ORDER BY o.order_id
            LOOP
                PERFORM carbonmkt._end_order(x.order_id, 'expired', 'end_of_day');
                n := n + 1;
            END LOOP;
            SELECT round(sum(t.price_fen::numeric * t.quantity) / sum(t.quantity))::bigint INTO vwap
              FROM carbonmkt.trade t
             WHERE t.product_id = p.product_id AND t.business_date = d AND t.mode = 'listed';
            UPDATE carbonmkt.product_day y SET close_fen = coalesce(vwap, y.prev_close_fen), closed_at = carbonmkt.clock_now()
             WHERE y.product_id = p.product_id AND y.business_date = d
            RETURNING * INTO dayrow;
            -- the day's statistics, kept with the close (no trades after it)
            INSERT INTO carbonmkt.market_day_stats
            SELECT p.product_id, d, f.open_fen, f.high_fen, f.low_fen, f.last_fen, f.listed_volume_t,
                   f.listed_turnover_fen, f.block_volume_t, f.block_turnover_fen, f.auction_volume_t,
                   f.auction_turnover_fen, f.volume_t, f.turnover_fen, coalesce(f.trades, 0)
              FROM (SELECT 1) one
              LEFT JOIN carbonmkt._market_day_figures f ON f.product_id = p.product_id AND f.business_date = d;
        END IF;
        product_code := p.code;
        day := d;
        close := (dayrow.close_fen / 100.0)::numeric(14, 2);
        SELECT count(*) INTO listed_trades FROM carbonmkt.trade t
         WHERE t.product_id = p.product_id AND t.business_date = d AND t.mode = 'listed';
        expired_orders := n;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION carbonmkt.end_of_day(date, text) IS
  'Closes a trading day (收盘) per product: closes auctions whose window ended (cancels the others), expires block deals not accepted and every live order (releasing its hold), and fixes the closing price = volume-weighted average price of the day''s listed-agreement trades, else the previous close, with the day''s statistics (market_day_stats).  No more orders that day afterwards.  Idempotent.  Exchange or registry staff only.';

CREATE OR REPLACE FUNCTION carbonmkt._alloc_net_provide(p_run bigint, p_year int, p_jurisdiction text, p_stage text, p_memo text)
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

REVOKE ALL ON FUNCTION carbonmkt._lock_market(int[], date, bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION carbonmkt._order_accounts(bigint[]) FROM PUBLIC;


-- == One way in: one C posting engine, one API vocabulary =================================

-- Every posting with journal legs is made by the one C posting engine (src/posting.c):
-- issuance, cash deposit and withdrawal and every CCER posting move there from PL/pgSQL, and
-- the PL/pgSQL posting helpers go.  A posting without legs (set_account_status) is recorded
-- by carbonmkt._record_posting().

CREATE FUNCTION carbonmkt._record_posting(p_operation text, p_request text)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_record_posting'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION carbonmkt._record_posting(text, text) IS
  'Internal: records a posting without journal legs (CM012 on a sealed day) and returns its id.';

REVOKE ALL ON FUNCTION carbonmkt._record_posting(text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION carbonmkt.set_account_status(account_id bigint, status carbonmkt.account_status, memo text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    posting_id bigint;
BEGIN
    PERFORM carbonmkt._require_registry('change account status');
    IF status IS NULL THEN
        RAISE EXCEPTION 'set_account_status: argument status must not be NULL'
            USING ERRCODE = 'CM904', HINT = 'An account is open, frozen or closed.';
    END IF;
    IF status <> 'open' AND EXISTS (SELECT 1 FROM carbonmkt.account a
                                     WHERE a.account_id = set_account_status.account_id AND a.kind = 'cancellation') THEN
        RAISE EXCEPTION 'the cancellation account % cannot be %', account_id, status
            USING ERRCODE = 'CM003',
                  DETAIL = 'Every surrender and cancellation credits it; retired units never leave it anyway.';
    END IF;
    posting_id := carbonmkt._record_posting('set_account_status',
                                            format('set_account_status(%s,%s,%s)', account_id, status, memo));
    UPDATE carbonmkt.account a SET status = set_account_status.status WHERE a.account_id = set_account_status.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', account_id USING ERRCODE = 'CM001';
    END IF;
    RETURN posting_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.set_account_status(bigint, carbonmkt.account_status, text) IS
  'Opens, freezes or closes an account; the change is recorded as a posting.  Registry only.';

CREATE OR REPLACE FUNCTION carbonmkt.issue_cea(account_id bigint, vintage int, tonnes bigint,
                                    reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_issue_cea'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

CREATE OR REPLACE FUNCTION carbonmkt.issue_ccer(account_id bigint, block carbonmkt.ccer,
                                     reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_issue_ccer'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

CREATE OR REPLACE FUNCTION carbonmkt.deposit_cny(account_id bigint, fen bigint, reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_deposit_cny'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

CREATE OR REPLACE FUNCTION carbonmkt.withdraw_cny(account_id bigint, fen bigint, reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_withdraw_cny'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

CREATE OR REPLACE FUNCTION carbonmkt.transfer_ccer(from_account bigint, to_account bigint, project text, vintage int,
                                        tonnes bigint, reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_transfer_ccer'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

CREATE OR REPLACE FUNCTION carbonmkt.transfer_ccer_block(from_account bigint, to_account bigint, block carbonmkt.ccer,
                                              reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_transfer_ccer_block'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

CREATE OR REPLACE FUNCTION carbonmkt.surrender_ccer(account_id bigint, project text, vintage int, tonnes bigint, period int,
                                         reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_surrender_ccer'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

CREATE OR REPLACE FUNCTION carbonmkt.cancel_ccer(account_id bigint, project text, vintage int, tonnes bigint,
                                      reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_cancel_ccer'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;

DROP FUNCTION carbonmkt._transfer_from_hold_blocks(bigint, bigint, bigint, text, text);
DROP FUNCTION carbonmkt._active_hold(bigint);
DROP FUNCTION carbonmkt._issue(text, bigint, carbonmkt.instrument, int, text, bigint, carbonmkt.ccer, text, text);
DROP FUNCTION carbonmkt._transfer(text, text, bigint, bigint, carbonmkt.instrument, int, text, bigint,
                                  carbonmkt.entry_kind, carbonmkt.entry_kind, int, text, text, carbonmkt.ccer);
DROP FUNCTION carbonmkt._transfer_ccer(text, text, bigint, bigint, carbonmkt.instrument, int, text, bigint,
                                       carbonmkt.entry_kind, carbonmkt.entry_kind, int, text, text, carbonmkt.ccer);
DROP FUNCTION carbonmkt._cancellation_account();
DROP FUNCTION carbonmkt._move(bigint, timestamptz, date, bigint, bigint, carbonmkt.instrument, int, text, bigint,
                              carbonmkt.entry_kind, carbonmkt.entry_kind, bigint, int, text, carbonmkt.ccer);
DROP FUNCTION carbonmkt._place_block(bigint, carbonmkt.ccer);
DROP FUNCTION carbonmkt._leg(bigint, timestamptz, date, bigint, carbonmkt.entry_kind, carbonmkt.instrument, int, text,
                             bigint, bigint, bigint, bigint, int, carbonmkt.ccer, text);
DROP FUNCTION carbonmkt._require_available(bigint, carbonmkt.instrument, int, text, bigint);
DROP FUNCTION carbonmkt._check_asset(carbonmkt.instrument, int, text);
DROP FUNCTION carbonmkt._check_quantity(carbonmkt.instrument, bigint);
DROP FUNCTION carbonmkt._lock_accounts(bigint[], bigint[], carbonmkt.instrument);
DROP FUNCTION carbonmkt._begin_posting(text, text, text);

-- Voluntary cancellation (自愿注销) retires units: retire_cea, retire_ccer (doc/api.md, Verbs).
-- The postings keep their operation names of 0.1.0 (cancel_cea, cancel_ccer), so that a client
-- reference used before the rename is recognised after it.
CREATE FUNCTION carbonmkt.retire_cea(account_id bigint, vintage int, tonnes bigint,
                                     reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_retire_cea'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.retire_cea(bigint, int, bigint, text, text) IS
  'Voluntarily cancels (注销) CEA, e.g. for carbon neutrality: retires the units into the cancellation account; returns the posting id.';

CREATE FUNCTION carbonmkt.retire_ccer(account_id bigint, project text, vintage int, tonnes bigint,
                                      reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_retire_ccer'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.retire_ccer(bigint, text, int, bigint, text, text) IS
  'Voluntarily cancels (注销) CCER, lowest serials first: retires them into the cancellation account; returns the posting id.';

-- The names of 0.1.0, for one release.
CREATE OR REPLACE FUNCTION carbonmkt.cancel_cea(account_id bigint, vintage int, tonnes bigint,
                                     reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    RAISE NOTICE 'carbonmkt.cancel_cea() is deprecated and goes after 0.2.0: call carbonmkt.retire_cea()';
    RETURN carbonmkt.retire_cea(account_id, vintage, tonnes, reference, memo);
END
$$;
COMMENT ON FUNCTION carbonmkt.cancel_cea(bigint, int, bigint, text, text) IS
  'Deprecated (goes after 0.2.0): carbonmkt.retire_cea().';

CREATE OR REPLACE FUNCTION carbonmkt.cancel_ccer(account_id bigint, project text, vintage int, tonnes bigint,
                                      reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    RAISE NOTICE 'carbonmkt.cancel_ccer() is deprecated and goes after 0.2.0: call carbonmkt.retire_ccer()';
    RETURN carbonmkt.retire_ccer(account_id, project, vintage, tonnes, reference, memo);
END
$$;
COMMENT ON FUNCTION carbonmkt.cancel_ccer(bigint, text, int, bigint, text, text) IS
  'Deprecated (goes after 0.2.0): carbonmkt.retire_ccer().';
REVOKE ALL ON FUNCTION carbonmkt.retire_cea(bigint, int, bigint, text, text),
                      carbonmkt.retire_ccer(bigint, text, int, bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.retire_cea(bigint, int, bigint, text, text),
                          carbonmkt.retire_ccer(bigint, text, int, bigint, text, text)
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_participant;

-- The API vocabulary (doc/api.md): argument renames.  CREATE OR REPLACE cannot rename an
-- argument, so each function is dropped and created again with its comment and grants;
-- positional callers are unaffected, named-notation callers use the new names (doc/api.md,
-- "Renamed in 0.2.0").  Sections after this one replace these functions under the new names.

-- Market: the acting party is acting_for, tonnes are tonnes.
DROP FUNCTION carbonmkt.submit_order(text, text, bigint, numeric, bigint, text, bigint);
DROP FUNCTION carbonmkt.queue_order(text, text, bigint, numeric, bigint, text, bigint);
DROP FUNCTION carbonmkt.propose_block(text, text, bigint, numeric, bigint, text, bigint);
DROP FUNCTION carbonmkt.confirm_block(bigint, text, bigint);
DROP FUNCTION carbonmkt.cancel_block(bigint, bigint);
DROP FUNCTION carbonmkt.announce_auction(text, text, bigint, numeric, timestamptz, timestamptz, text, bigint);
DROP FUNCTION carbonmkt.bid_auction(bigint, bigint, numeric, text, bigint);

CREATE OR REPLACE FUNCTION carbonmkt._market_actor(p_participant bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    me bigint := carbonmkt.caller_participant();
BEGIN
    IF p_participant IS NULL THEN
        IF me IS NULL THEN
            RAISE EXCEPTION 'login "%" acts for no participant', session_user
                USING ERRCODE = '42501',
                      HINT = 'A participant''s login is mapped with carbonmkt.map_login(); exchange staff pass acting_for.';
        END IF;
        RETURN me;
    END IF;
    IF p_participant = me THEN
        RETURN me;
    END IF;
    IF NOT (carbonmkt._is_member('carbonmkt_exchange') OR carbonmkt._is_member('carbonmkt_registry')) THEN
        RAISE EXCEPTION 'login "%" may not act for participant %', session_user, p_participant
            USING ERRCODE = '42501',
                  DETAIL = format('The login acts for participant %s.', coalesce(me::text, '(none)')),
                  HINT = 'Only exchange (carbonmkt_exchange) or registry staff act for other participants.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.participant p WHERE p.participant_id = p_participant) THEN
        RAISE EXCEPTION 'participant % does not exist', p_participant USING ERRCODE = 'CM002';
    END IF;
    RETURN p_participant;
END
$$;
COMMENT ON FUNCTION carbonmkt._market_actor(bigint) IS
  'Internal: the participant an order is entered for; 42501 when the login may not act for it.';

CREATE FUNCTION carbonmkt.submit_order(product text, side text, tonnes bigint, price numeric,
                                       take_order_id bigint DEFAULT NULL, reference text DEFAULT NULL,
                                       acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    e record;
BEGIN
    e := carbonmkt._enter_order('listed', product, side, tonnes, price, take_order_id, reference, acting_for, true);
    IF NOT e.replay THEN
        PERFORM carbonmkt._match_order(e.order_id, (carbonmkt._product(product)).product_id);
    END IF;
    RETURN e.order_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.submit_order(text, text, bigint, numeric, bigint, text, bigint) IS
  'Listed agreement (挂牌协议交易): enters an order (product code, ''buy''|''sell'', tonnes, limit price in CNY per t with a step of 0.01, optional listing to take (摘牌), client reference, participant for staff) and returns its id.  Validates, holds cash incl. fee (buy) or allowances (sell), matches at once in C by price-time priority and settles every fill delivery-versus-payment; the rest rests in the book until filled, cancelled or the end of the day.';

CREATE FUNCTION carbonmkt.queue_order(product text, side text, tonnes bigint, price numeric,
                                      take_order_id bigint DEFAULT NULL, reference text DEFAULT NULL,
                                      acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    e record;
BEGIN
    e := carbonmkt._enter_order('listed', product, side, tonnes, price, take_order_id, reference, acting_for, false);
    RETURN e.order_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.queue_order(text, text, bigint, numeric, bigint, text, bigint) IS
  'Like submit_order (same arguments and checks, the hold is laid) but does not match: the order waits, status queued, until CALL carbonmkt.process_queue() matches the queue in order id sequence with the same engine.';

CREATE FUNCTION carbonmkt.propose_block(product text, side text, tonnes bigint, price numeric, counterparty_id bigint,
                                        reference text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    e       record;
    o       carbonmkt.market_order;
    deal    bigint;
BEGIN
    IF counterparty_id IS NULL OR NOT EXISTS (SELECT 1 FROM carbonmkt.participant p
                                               WHERE p.participant_id = propose_block.counterparty_id) THEN
        RAISE EXCEPTION 'counterparty % does not exist', coalesce(counterparty_id::text, 'NULL') USING ERRCODE = 'CM002';
    END IF;
    e := carbonmkt._enter_order('block', product, side, tonnes, price, NULL, reference, acting_for, true);
    IF e.replay THEN
        SELECT d.deal_id INTO deal FROM carbonmkt.block_deal d WHERE d.proposer_order = e.order_id;
        RETURN deal;
    END IF;
    SELECT * INTO o FROM carbonmkt.market_order x WHERE x.order_id = e.order_id;
    IF o.participant_id = counterparty_id THEN
        RAISE EXCEPTION 'self-trade: participant % cannot make a block agreement with itself', o.participant_id
            USING ERRCODE = 'CM309';
    END IF;
    PERFORM carbonmkt._trader(counterparty_id, o.business_date, 'CN', 'trade');
    UPDATE carbonmkt.market_order x SET status = 'open' WHERE x.order_id = o.order_id;
    INSERT INTO carbonmkt.block_deal AS d (product_id, proposer_order, proposer_id, counterparty_id, side, quantity,
                                          price_fen, business_date, proposed_at)
    VALUES (o.product_id, o.order_id, o.participant_id, counterparty_id, o.side, o.quantity, o.price_fen,
            o.business_date, o.entered_at)
    RETURNING d.deal_id INTO deal;
    RETURN deal;
END
$$;
COMMENT ON FUNCTION carbonmkt.propose_block(text, text, bigint, numeric, bigint, text, bigint) IS
  'Block agreement (大宗协议交易): proposes a trade of at least the block threshold (100,000 t) within ±30% of the previous close, in the block session (13:00–15:00), to a named counterparty; the proposer''s side is held at once.  Returns the deal id.';

CREATE FUNCTION carbonmkt.confirm_block(deal_id bigint, reference text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    me  bigint := carbonmkt._market_actor(acting_for);
    d   carbonmkt.block_deal;
    e   record;
BEGIN
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = confirm_block.deal_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'block deal % does not exist', deal_id USING ERRCODE = 'CM313';
    END IF;
    IF me = d.proposer_id THEN
        RAISE EXCEPTION 'only the counterparty (participant %) confirms block deal %', d.counterparty_id, deal_id
            USING ERRCODE = 'CM313', DETAIL = format('Participant %s proposed it.', d.proposer_id);
    END IF;
    IF me <> d.counterparty_id THEN
        -- a third party: the deal exists, but its parties are not the caller's to know
        RAISE EXCEPTION 'participant % is not the counterparty of block deal %', me, deal_id
            USING ERRCODE = 'CM313', HINT = 'Only the participant the proposer named confirms a block deal.';
    END IF;
    e := carbonmkt._enter_order('block', (SELECT p.code FROM carbonmkt.product p WHERE p.product_id = d.product_id),
                                CASE d.side WHEN 'buy' THEN 'sell' ELSE 'buy' END, d.quantity, d.price_fen / 100.0,
                                NULL, reference, me, true);
    IF e.replay THEN
        IF d.counter_order IS DISTINCT FROM e.order_id THEN
            RAISE EXCEPTION 'client reference "%" was already used for a different order', reference USING ERRCODE = 'CM311';
        END IF;
        RETURN e.order_id;
    END IF;
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = confirm_block.deal_id FOR UPDATE;
    IF d.status <> 'proposed' OR d.business_date <> carbonmkt.business_date() THEN
        RAISE EXCEPTION 'block deal % is %', deal_id,
            CASE WHEN d.status = 'proposed' THEN 'from ' || to_char(d.business_date, 'YYYY-MM-DD') ELSE d.status END
            USING ERRCODE = 'CM313', HINT = 'Only a proposed deal of today can be confirmed.';
    END IF;
    UPDATE carbonmkt.market_order x SET status = 'open' WHERE x.order_id = e.order_id;
    UPDATE carbonmkt.block_deal x SET counter_order = e.order_id, status = 'confirmed', confirmed_at = carbonmkt.clock_now()
     WHERE x.deal_id = confirm_block.deal_id;
    RETURN e.order_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.confirm_block(bigint, text, bigint) IS
  'The named counterparty confirms a proposed block deal: its mirror order is checked like any order (session, band, funds or allowances, T+1, position limit) and held.  Returns the counterparty''s order id.';

CREATE FUNCTION carbonmkt.cancel_block(deal_id bigint, acting_for bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    d   carbonmkt.block_deal;
    me  bigint;
BEGIN
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = cancel_block.deal_id;
    IF acting_for IS NOT NULL OR NOT carbonmkt._is_market_staff() THEN
        me := carbonmkt._market_actor(acting_for);
        IF NOT FOUND OR me NOT IN (d.proposer_id, d.counterparty_id) THEN
            RAISE EXCEPTION 'block deal % does not exist', deal_id USING ERRCODE = 'CM313';
        END IF;
    ELSIF NOT FOUND THEN
        RAISE EXCEPTION 'block deal % does not exist', deal_id USING ERRCODE = 'CM313';
    END IF;
    PERFORM carbonmkt._product_day(d.product_id, d.business_date, true);
    PERFORM carbonmkt._lock_market('{}', d.business_date,
                                   carbonmkt._order_accounts(ARRAY[d.proposer_order, d.counter_order]));
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = cancel_block.deal_id FOR UPDATE;
    IF d.status NOT IN ('proposed', 'confirmed') THEN
        RAISE EXCEPTION 'block deal % is already %', deal_id, d.status USING ERRCODE = 'CM313';
    END IF;
    PERFORM carbonmkt._end_order(d.proposer_order, 'cancelled', 'block deal cancelled');
    IF d.counter_order IS NOT NULL THEN
        PERFORM carbonmkt._end_order(d.counter_order, 'cancelled', 'block deal cancelled');
    END IF;
    UPDATE carbonmkt.block_deal x SET status = 'cancelled', ended_at = carbonmkt.clock_now()
     WHERE x.deal_id = cancel_block.deal_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.cancel_block(bigint, bigint) IS
  'Withdraws (proposer), declines (counterparty) or rejects (exchange) a block deal that is not accepted yet; both holds are released.';

CREATE FUNCTION carbonmkt.announce_auction(product text, side text, tonnes bigint, reserve_price numeric,
                                           opens_at timestamptz, closes_at timestamptz,
                                           reference text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    e   record;
    o   carbonmkt.market_order;
    r   carbonmkt.market_rule;
    id  bigint;
    ts  timestamptz := carbonmkt.clock_now();
BEGIN
    IF opens_at IS NULL OR closes_at IS NULL OR closes_at <= opens_at THEN
        RAISE EXCEPTION 'the bidding window must close after it opens: % – %',
            coalesce(to_char(opens_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), 'NULL'),
            coalesce(to_char(closes_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF carbonmkt.business_date(opens_at) <> carbonmkt.business_date(ts)
       OR carbonmkt.business_date(closes_at) <> carbonmkt.business_date(ts) THEN
        RAISE EXCEPTION 'the bidding window % – % must lie within today, %',
            to_char(opens_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),
            to_char(closes_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),
            to_char(carbonmkt.business_date(ts), 'YYYY-MM-DD')
            USING ERRCODE = 'CM314', HINT = 'A one-way bidding lot is announced on the trading day it is bid for (China Standard Time).';
    END IF;
    IF closes_at <= ts THEN
        RAISE EXCEPTION 'the bidding window % – % is over',
            to_char(opens_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),
            to_char(closes_at AT TIME ZONE 'Asia/Shanghai', 'HH24:MI') USING ERRCODE = 'CM314';
    END IF;
    e := carbonmkt._enter_order('auction', product, side, tonnes, reserve_price, NULL, reference, acting_for,
                                true, NULL, 'announce');
    IF e.replay THEN
        SELECT a.auction_id INTO id FROM carbonmkt.auction a WHERE a.lot_order_id = e.order_id;
        RETURN id;
    END IF;
    SELECT * INTO o FROM carbonmkt.market_order x WHERE x.order_id = e.order_id;
    r := carbonmkt._rule('auction', o.business_date, 'CN');
    INSERT INTO carbonmkt.auction AS a (product_id, side, quantity, reserve_fen, opens_at, closes_at, clearing_rule,
                                        lot_order_id, announced_by)
    VALUES (o.product_id, o.side, o.quantity, o.price_fen, opens_at, closes_at, r.clearing_rule, o.order_id, o.participant_id)
    RETURNING a.auction_id INTO id;
    UPDATE carbonmkt.market_order x SET status = 'open', auction_id = id WHERE x.order_id = o.order_id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.announce_auction(text, text, bigint, numeric, timestamptz, timestamptz, text, bigint) IS
  'One-way bidding (单向竞价): announces a lot (side ''sell'': allowances offered; ''buy'': allowances sought), its reserve price (lowest bid, resp. highest offer) and today''s bidding window; the lot is held at once.  Authorities sell from the national reserve or their province''s allocation account (paid allocation).  The clearing rule (uniform or pay-as-bid) comes from market_rule.  Returns the auction id.';

CREATE FUNCTION carbonmkt.bid_auction(auction_id bigint, tonnes bigint, price numeric,
                                      reference text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    a       carbonmkt.auction;
    me      bigint := carbonmkt._market_actor(acting_for);
    ts      timestamptz := carbonmkt.clock_now();
    e       record;
    prio    bigint;
BEGIN
    SELECT * INTO a FROM carbonmkt.auction x WHERE x.auction_id = bid_auction.auction_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'auction % does not exist', auction_id USING ERRCODE = 'CM314';
    END IF;
    IF me = a.announced_by THEN
        RAISE EXCEPTION 'self-trade: participant % announced auction %', me, auction_id USING ERRCODE = 'CM309';
    END IF;
    IF a.status <> 'open' OR ts < a.opens_at OR ts >= a.closes_at THEN
        RAISE EXCEPTION 'bidding for auction % is closed at %', auction_id, to_char(ts AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS')
            USING ERRCODE = 'CM314',
                  DETAIL = format('The auction is %s; its window is %s – %s (China Standard Time).', a.status,
                                  to_char(a.opens_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),
                                  to_char(a.closes_at AT TIME ZONE 'Asia/Shanghai', 'HH24:MI'));
    END IF;
    IF price IS NOT NULL AND ((a.side = 'sell' AND price * 100 < a.reserve_fen) OR (a.side = 'buy' AND price * 100 > a.reserve_fen)) THEN
        RAISE EXCEPTION '% % is % the reserve price % of auction %', CASE a.side WHEN 'sell' THEN 'bid' ELSE 'offer' END,
            price, CASE a.side WHEN 'sell' THEN 'below' ELSE 'above' END, carbonmkt._cny(a.reserve_fen), auction_id
            USING ERRCODE = 'CM314';
    END IF;
    IF tonnes > a.quantity THEN
        RAISE EXCEPTION 'bid quantity % exceeds the lot of %', carbonmkt._t(tonnes), carbonmkt._t(a.quantity)
            USING ERRCODE = 'CM305';
    END IF;
    e := carbonmkt._enter_order('auction', (SELECT p.code FROM carbonmkt.product p WHERE p.product_id = a.product_id),
                                CASE a.side WHEN 'sell' THEN 'buy' ELSE 'sell' END, tonnes, price, NULL, reference,
                                acting_for, true, a.auction_id);
    IF e.replay THEN
        RETURN e.order_id;
    END IF;
    -- under the matcher lock now: the auction may have closed while we waited
    IF (SELECT x.status FROM carbonmkt.auction x WHERE x.auction_id = bid_auction.auction_id) <> 'open' THEN
        RAISE EXCEPTION 'bidding for auction % is closed', auction_id USING ERRCODE = 'CM314';
    END IF;
    UPDATE carbonmkt.product_day d SET book_seq = d.book_seq + 1
     WHERE d.product_id = a.product_id AND d.business_date = carbonmkt.business_date(ts)
    RETURNING d.book_seq INTO prio;
    UPDATE carbonmkt.market_order x SET status = 'open', priority = prio WHERE x.order_id = e.order_id;
    RETURN e.order_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.bid_auction(bigint, bigint, numeric, text, bigint) IS
  'Bids in a one-way bidding window (a buy bid for a sell lot, a sell offer for a buy lot): at least the reserve price (at most, for a buy lot), no more than the lot; held like any order.  Returns the bid''s order id; cancel_order() withdraws it before the close.';

REVOKE ALL ON FUNCTION
    carbonmkt.submit_order(text, text, bigint, numeric, bigint, text, bigint),
    carbonmkt.queue_order(text, text, bigint, numeric, bigint, text, bigint),
    carbonmkt.propose_block(text, text, bigint, numeric, bigint, text, bigint),
    carbonmkt.confirm_block(bigint, text, bigint),
    carbonmkt.cancel_block(bigint, bigint),
    carbonmkt.announce_auction(text, text, bigint, numeric, timestamptz, timestamptz, text, bigint),
    carbonmkt.bid_auction(bigint, bigint, numeric, text, bigint)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    carbonmkt.submit_order(text, text, bigint, numeric, bigint, text, bigint),
    carbonmkt.queue_order(text, text, bigint, numeric, bigint, text, bigint),
    carbonmkt.propose_block(text, text, bigint, numeric, bigint, text, bigint),
    carbonmkt.confirm_block(bigint, text, bigint),
    carbonmkt.cancel_block(bigint, bigint),
    carbonmkt.announce_auction(text, text, bigint, numeric, timestamptz, timestamptz, text, bigint),
    carbonmkt.bid_auction(bigint, bigint, numeric, text, bigint)
   TO carbonmkt_participant, carbonmkt_exchange, carbonmkt_registry, carbonmkt_authority;

-- MRV: the subject unit is participant_id, optional free text memo, an appeal's grounds its reason.
DROP FUNCTION carbonmkt.file_monitoring_plan(bigint, int, jsonb);
DROP FUNCTION carbonmkt.approve_monitoring_plan(bigint, text, bigint);
DROP FUNCTION carbonmkt.deposit_parameters(bigint, int, int, jsonb, text);
DROP FUNCTION carbonmkt.submit_report(bigint, int, jsonb, bigint);
DROP FUNCTION carbonmkt.correct_report(bigint, jsonb, text);
DROP FUNCTION carbonmkt.verify_report(bigint, bigint, carbonmkt.mrv_findings, text, bigint);
DROP FUNCTION carbonmkt.appoint_estimator(bigint, int, bigint, bigint);
DROP FUNCTION carbonmkt.estimate_emissions(bigint, bigint, text, bigint);
DROP FUNCTION carbonmkt.appeal_verification(bigint, text);
DROP FUNCTION carbonmkt.decide_appeal(bigint, boolean, bigint, text, bigint);
DROP FUNCTION carbonmkt.name_for_national_review(bigint, int, text, bigint);
DROP FUNCTION carbonmkt.reopen_emissions(bigint, int, text, bigint);

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

CREATE FUNCTION carbonmkt.approve_monitoring_plan(plan_id bigint, memo text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT carbonmkt._mrv_decide_plan(plan_id, true, memo, acting_for) $$;
COMMENT ON FUNCTION carbonmkt.approve_monitoring_plan(bigint, text, bigint) IS
  'Approves (备案) a filed monitoring plan; it replaces the version in force.  The unit''s provincial authority (CM107 otherwise).';

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

REVOKE ALL ON FUNCTION
    carbonmkt.file_monitoring_plan(bigint, int, jsonb),
    carbonmkt.approve_monitoring_plan(bigint, text, bigint),
    carbonmkt.deposit_parameters(bigint, int, int, jsonb, text),
    carbonmkt.submit_report(bigint, int, jsonb, bigint),
    carbonmkt.correct_report(bigint, jsonb, text),
    carbonmkt.verify_report(bigint, bigint, carbonmkt.mrv_findings, text, bigint),
    carbonmkt.appoint_estimator(bigint, int, bigint, bigint),
    carbonmkt.estimate_emissions(bigint, bigint, text, bigint),
    carbonmkt.appeal_verification(bigint, text),
    carbonmkt.decide_appeal(bigint, boolean, bigint, text, bigint),
    carbonmkt.name_for_national_review(bigint, int, text, bigint),
    carbonmkt.reopen_emissions(bigint, int, text, bigint)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    carbonmkt.file_monitoring_plan(bigint, int, jsonb),
    carbonmkt.deposit_parameters(bigint, int, int, jsonb, text),
    carbonmkt.submit_report(bigint, int, jsonb, bigint),
    carbonmkt.correct_report(bigint, jsonb, text),
    carbonmkt.appeal_verification(bigint, text),
    carbonmkt.verify_report(bigint, bigint, carbonmkt.mrv_findings, text, bigint),
    carbonmkt.estimate_emissions(bigint, bigint, text, bigint)
   TO carbonmkt_participant, carbonmkt_registry;
GRANT EXECUTE ON FUNCTION
    carbonmkt.approve_monitoring_plan(bigint, text, bigint),
    carbonmkt.decide_appeal(bigint, boolean, bigint, text, bigint),
    carbonmkt.appoint_estimator(bigint, int, bigint, bigint),
    carbonmkt.name_for_national_review(bigint, int, text, bigint),
    carbonmkt.reopen_emissions(bigint, int, text, bigint)
   TO carbonmkt_authority, carbonmkt_registry;

-- Compliance: optional free text memo.
DROP FUNCTION carbonmkt.revise_fine(bigint, int, numeric, bigint, text);

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

REVOKE ALL ON FUNCTION carbonmkt.revise_fine(bigint, int, numeric, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.revise_fine(bigint, int, numeric, bigint, text) TO carbonmkt_registry, carbonmkt_authority;

-- Compliance: the quantity before the period (borrow_cea), a price per tonne in CNY
-- (record_average_price).  The names of 0.1.0 stay for one release as wrappers that raise a
-- deprecation NOTICE: a positional call of 0.1.0 keeps its meaning.
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

CREATE OR REPLACE FUNCTION carbonmkt.record_reference_price(price_date date, average_price_fen bigint, source text,
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

CREATE OR REPLACE FUNCTION carbonmkt.borrow_allowances(account_id bigint, period int, tonnes bigint,
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

REVOKE ALL ON FUNCTION carbonmkt.record_average_price(date, numeric, text, bigint),
                       carbonmkt.borrow_cea(bigint, bigint, int, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.record_average_price(date, numeric, text, bigint)
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange;
GRANT EXECUTE ON FUNCTION carbonmkt.borrow_cea(bigint, bigint, int, text, text)
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant;

-- Allocation: the quantity before the year, the jurisdiction before the reference
-- (amend_allocation); adjust_allocation stays for one release as a wrapper.
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

CREATE OR REPLACE FUNCTION carbonmkt.adjust_allocation(participant_id bigint, year int, tonnes bigint, reason text,
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

CREATE OR REPLACE FUNCTION carbonmkt._production_check() RETURNS trigger
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

DROP FUNCTION carbonmkt.change_facility(bigint, text, date, numeric, bigint, text);
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
REVOKE ALL ON FUNCTION carbonmkt.change_facility(bigint, text, date, numeric, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.change_facility(bigint, text, date, numeric, bigint, text) TO carbonmkt_authority;
REVOKE ALL ON FUNCTION carbonmkt.amend_allocation(bigint, bigint, int, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.amend_allocation(bigint, bigint, int, text, text, text, text)
   TO carbonmkt_authority;

-- The product is product, a date of business business_date, a jurisdiction jurisdiction
-- (the Rules section below defines market_rule_at, sessions_text, is_trading_day and
-- list_product last, under these names).
DROP FUNCTION carbonmkt.market_rule_at(carbonmkt.trade_mode, date, text);
DROP FUNCTION carbonmkt.sessions_text(carbonmkt.trade_mode, date, text);
DROP FUNCTION carbonmkt.is_trading_day(date, text);
DROP FUNCTION carbonmkt.list_product(text, numeric, bigint, int, carbonmkt.instrument, text, text);
DROP FUNCTION carbonmkt.heads_digest(date);

CREATE FUNCTION carbonmkt.list_product(product text, reference_price numeric, clearing_account bigint,
                                       vintage int DEFAULT NULL, instrument carbonmkt.instrument DEFAULT 'CEA',
                                       project text DEFAULT '', jurisdiction text DEFAULT 'CN')
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    c   text := upper(btrim(list_product.product));
    v   int := vintage;
    a   record;
    id  int;
BEGIN
    PERFORM carbonmkt._require_exchange('list products');
    IF instrument IS NULL OR instrument NOT IN ('CEA', 'CCER')
       OR (instrument = 'CCER') <> (coalesce(project, '') <> '') THEN
        RAISE EXCEPTION 'list_product: a product is CEA without a project or CCER of a project: got %, project "%"',
            coalesce(instrument::text, 'NULL'), coalesce(project, '')
            USING ERRCODE = '22023';
    END IF;
    IF jurisdiction IS NULL THEN
        RAISE EXCEPTION 'list_product: argument jurisdiction must not be NULL' USING ERRCODE = 'CM904';
    END IF;
    IF v IS NULL AND instrument = 'CEA' AND c ~ '^CEA[0-9]{4}$' THEN
        v := substr(c, 4)::int;
    END IF;
    IF v IS NULL THEN
        RAISE EXCEPTION 'product % needs a vintage', c USING ERRCODE = '22023',
              HINT = 'A CEA product code CEAyyyy names its vintage; otherwise pass vintage.';
    END IF;
    PERFORM carbonmkt.cea(v, 0);    -- the vintage window (22003)
    IF c IS NULL OR c !~ '^[A-Z][A-Z0-9._-]{2,39}$' THEN
        RAISE EXCEPTION 'list_product: product code "%" is not 3-40 letters, digits, ".", "_" or "-" starting with a letter',
            coalesce(c, 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT x.kind, p.kind AS owner_kind INTO a
      FROM carbonmkt.account x JOIN carbonmkt.participant p USING (participant_id)
     WHERE x.account_id = clearing_account;
    IF NOT FOUND OR a.kind <> 'clearing' OR a.owner_kind <> 'exchange' THEN
        RAISE EXCEPTION 'account % is not a clearing account of the exchange', clearing_account
            USING ERRCODE = '22023', HINT = 'The registry opens clearing accounts (结算账户) for the exchange with open_account(exchange, ''clearing'').';
    END IF;
    INSERT INTO carbonmkt.product AS p (code, instrument, vintage, project, jurisdiction, reference_price_fen,
                                        clearing_account, listed_at)
    VALUES (c, instrument, v, upper(coalesce(project, '')), jurisdiction,
            (carbonmkt._price_fen(reference_price, carbonmkt._rule('listed', carbonmkt.business_date(), jurisdiction))),
            clearing_account, carbonmkt.clock_now())
    RETURNING p.product_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.list_product(text, numeric, bigint, int, carbonmkt.instrument, text, text) IS
  'Lists a product (上市): code (CEAyyyy gives the vintage), reference price in CNY per t (the previous close before its first trade), and the exchange''s clearing account it settles through and keeps fees in.  Exchange or registry staff only.';

CREATE FUNCTION carbonmkt.heads_digest(business_date date, OUT digest bytea, OUT accounts int, OUT entries bigint)
LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
	WITH heads AS (
		SELECT DISTINCT ON (j.account_id) j.account_id, j.seq, j.hash
		FROM carbonmkt.journal j
		WHERE j.business_date <= heads_digest.business_date
		ORDER BY j.account_id, j.seq DESC
	)
	SELECT sha256(convert_to(coalesce(string_agg(h.account_id || ':' || h.seq || ':'
											   || encode(h.hash, 'hex') || E'\n', ''
											   ORDER BY h.account_id), ''), 'UTF8')),
		   count(*)::int,
		   (SELECT count(*) FROM carbonmkt.journal j WHERE j.business_date <= heads_digest.business_date)
	FROM heads h
	WHERE carbonmkt._require_scope('compute the heads digest')
$$;
COMMENT ON FUNCTION carbonmkt.heads_digest(date) IS
  'Chain heads as of the end of a business day: digest = SHA-256 over the lines <account_id>:<seq>:<lower-case hex of hash>\n of every account''s last entry (max seq) with business_date <= the day, in account_id order; accounts = number of such accounts; entries = journal rows with business_date <= the day.';

REVOKE ALL ON FUNCTION carbonmkt.list_product(text, numeric, bigint, int, carbonmkt.instrument, text, text),
                       carbonmkt.heads_digest(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.list_product(text, numeric, bigint, int, carbonmkt.instrument, text, text)
   TO carbonmkt_exchange, carbonmkt_registry;
GRANT EXECUTE ON FUNCTION carbonmkt.heads_digest(date) TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;

-- Tonnes are tonnes.
DROP FUNCTION carbonmkt.split_block(carbonmkt.ccer, bigint);
CREATE FUNCTION carbonmkt.split_block(block carbonmkt.ccer, tonnes bigint,
									  OUT head carbonmkt.ccer, OUT tail carbonmkt.ccer)
	AS 'MODULE_PATHNAME', 'ccer_split_block' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.split_block(carbonmkt.ccer, bigint) IS
	'split a CCER block into its first tonnes (lowest serials) and the rest (NULL when that is the whole block)';


-- == Rules: administration with history, one jurisdiction vocabulary =======================
-- One jurisdiction vocabulary (src/jurisdiction.sql): 'CN' for the national market, GB/T 2260
-- codes for provinces and city pilots.  0.1.0's compliance and market rows said 'national',
-- 'beijing', ...; every row is kept and renamed: a jurisdiction becomes its city code, else
-- its province code, 'national' becomes 'CN'.  A jurisdiction that cannot be renamed so
-- (no province, or two mapping to one code) stops the upgrade with a message.
ALTER TABLE carbonmkt.compliance_period DROP CONSTRAINT compliance_period_jurisdiction_fkey;
ALTER TABLE carbonmkt.offset_rule DROP CONSTRAINT offset_rule_jurisdiction_fkey;
ALTER TABLE carbonmkt.relief_rule DROP CONSTRAINT relief_rule_jurisdiction_fkey;
ALTER TABLE carbonmkt.penalty_rule DROP CONSTRAINT penalty_rule_jurisdiction_fkey;
ALTER TABLE carbonmkt.mrv_rule DROP CONSTRAINT mrv_rule_jurisdiction_check;
ALTER TABLE carbonmkt.jurisdiction DROP CONSTRAINT jurisdiction_code_check;
ALTER TABLE carbonmkt.jurisdiction
    ADD COLUMN kind text CONSTRAINT jurisdiction_kind_check CHECK (kind IN ('national', 'province', 'city')),
    ADD COLUMN pilot boolean;

DO $$
DECLARE
    bad record;
BEGIN
    SELECT * INTO bad FROM (SELECT j.code AS old_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'CN' ELSE coalesce(j.city, j.province)::text END AS new_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'national' WHEN j.city IS NOT NULL THEN 'city' ELSE 'province' END AS kind
           FROM carbonmkt.jurisdiction j) m WHERE new_code IS NULL LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'carbonmkt 0.2.0: jurisdiction "%" has no province or city and is not the national market', bad.old_code
            USING HINT = 'Give it a province (carbonmkt.jurisdiction.province) before ALTER EXTENSION carbonmkt UPDATE: 0.2.0 names jurisdictions by GB/T 2260 codes (doc/rules.md).';
    END IF;
    SELECT new_code, string_agg(old_code, ', ') AS olds INTO bad FROM (SELECT j.code AS old_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'CN' ELSE coalesce(j.city, j.province)::text END AS new_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'national' WHEN j.city IS NOT NULL THEN 'city' ELSE 'province' END AS kind
           FROM carbonmkt.jurisdiction j) m GROUP BY new_code HAVING count(*) > 1 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'carbonmkt 0.2.0: jurisdictions % would all become %', bad.olds, bad.new_code
            USING HINT = '0.2.0 has one jurisdiction per province or city pilot (doc/rules.md); merge them first.';
    END IF;
END
$$;
UPDATE carbonmkt.compliance_period t SET jurisdiction = m.new_code FROM (SELECT j.code AS old_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'CN' ELSE coalesce(j.city, j.province)::text END AS new_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'national' WHEN j.city IS NOT NULL THEN 'city' ELSE 'province' END AS kind
           FROM carbonmkt.jurisdiction j) m WHERE t.jurisdiction = m.old_code AND m.old_code <> m.new_code;
UPDATE carbonmkt.offset_rule t SET jurisdiction = m.new_code FROM (SELECT j.code AS old_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'CN' ELSE coalesce(j.city, j.province)::text END AS new_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'national' WHEN j.city IS NOT NULL THEN 'city' ELSE 'province' END AS kind
           FROM carbonmkt.jurisdiction j) m WHERE t.jurisdiction = m.old_code AND m.old_code <> m.new_code;
UPDATE carbonmkt.relief_rule t SET jurisdiction = m.new_code FROM (SELECT j.code AS old_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'CN' ELSE coalesce(j.city, j.province)::text END AS new_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'national' WHEN j.city IS NOT NULL THEN 'city' ELSE 'province' END AS kind
           FROM carbonmkt.jurisdiction j) m WHERE t.jurisdiction = m.old_code AND m.old_code <> m.new_code;
UPDATE carbonmkt.penalty_rule t SET jurisdiction = m.new_code FROM (SELECT j.code AS old_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'CN' ELSE coalesce(j.city, j.province)::text END AS new_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'national' WHEN j.city IS NOT NULL THEN 'city' ELSE 'province' END AS kind
           FROM carbonmkt.jurisdiction j) m WHERE t.jurisdiction = m.old_code AND m.old_code <> m.new_code;
UPDATE carbonmkt.market_rule t SET jurisdiction = m.new_code FROM (SELECT j.code AS old_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'CN' ELSE coalesce(j.city, j.province)::text END AS new_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'national' WHEN j.city IS NOT NULL THEN 'city' ELSE 'province' END AS kind
           FROM carbonmkt.jurisdiction j) m WHERE t.jurisdiction = m.old_code AND m.old_code <> m.new_code;
UPDATE carbonmkt.market_session t SET jurisdiction = m.new_code FROM (SELECT j.code AS old_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'CN' ELSE coalesce(j.city, j.province)::text END AS new_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'national' WHEN j.city IS NOT NULL THEN 'city' ELSE 'province' END AS kind
           FROM carbonmkt.jurisdiction j) m WHERE t.jurisdiction = m.old_code AND m.old_code <> m.new_code;
UPDATE carbonmkt.trading_calendar t SET jurisdiction = m.new_code FROM (SELECT j.code AS old_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'CN' ELSE coalesce(j.city, j.province)::text END AS new_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'national' WHEN j.city IS NOT NULL THEN 'city' ELSE 'province' END AS kind
           FROM carbonmkt.jurisdiction j) m WHERE t.jurisdiction = m.old_code AND m.old_code <> m.new_code;
UPDATE carbonmkt.trader_rule t SET jurisdiction = m.new_code FROM (SELECT j.code AS old_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'CN' ELSE coalesce(j.city, j.province)::text END AS new_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'national' WHEN j.city IS NOT NULL THEN 'city' ELSE 'province' END AS kind
           FROM carbonmkt.jurisdiction j) m WHERE t.jurisdiction = m.old_code AND m.old_code <> m.new_code;
UPDATE carbonmkt.product t SET jurisdiction = m.new_code FROM (SELECT j.code AS old_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'CN' ELSE coalesce(j.city, j.province)::text END AS new_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'national' WHEN j.city IS NOT NULL THEN 'city' ELSE 'province' END AS kind
           FROM carbonmkt.jurisdiction j) m WHERE t.jurisdiction = m.old_code AND m.old_code <> m.new_code;
UPDATE carbonmkt.jurisdiction t SET code = m.new_code, kind = m.kind,
       pilot = m.new_code <> 'CN'
  FROM (SELECT j.code AS old_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'CN' ELSE coalesce(j.city, j.province)::text END AS new_code,
                CASE WHEN j.code IN ('national', 'CN') THEN 'national' WHEN j.city IS NOT NULL THEN 'city' ELSE 'province' END AS kind
           FROM carbonmkt.jurisdiction j) m WHERE t.code = m.old_code;
ALTER TABLE carbonmkt.jurisdiction ALTER COLUMN kind SET DEFAULT 'province', ALTER COLUMN kind SET NOT NULL,
    ALTER COLUMN pilot SET DEFAULT false, ALTER COLUMN pilot SET NOT NULL;
INSERT INTO carbonmkt.jurisdiction (code, name, name_zh, province, city, kind, pilot)
SELECT 'CN', 'National carbon market', '全国碳排放权交易市场', NULL, NULL, 'national', false
 WHERE NOT EXISTS (SELECT 1 FROM carbonmkt.jurisdiction WHERE code = 'CN');
INSERT INTO carbonmkt.jurisdiction (code, name, name_zh, province, city, kind, pilot)
SELECT r.code, r.name, r.name_zh, r.code, NULL, 'province', false
  FROM carbonmkt.region r WHERE NOT EXISTS (SELECT 1 FROM carbonmkt.jurisdiction j WHERE j.code = r.code);
ALTER TABLE carbonmkt.jurisdiction
    ADD CONSTRAINT jurisdiction_code_check CHECK (code = 'CN' OR code ~ '^[1-9][0-9][0-9][0-9]00$'),
    ADD CONSTRAINT jurisdiction_code_matches CHECK (CASE kind WHEN 'national' THEN code = 'CN' AND province IS NULL AND city IS NULL
                                                              WHEN 'province' THEN code = province AND city IS NULL
                                                              ELSE code = city END);
COMMENT ON TABLE carbonmkt.jurisdiction IS
  'Jurisdictions (管辖区) whose rules the rule tables hold, one code form in every room: ''CN'' the national market (全国碳排放权交易市场), a province by its GB/T 2260 code (e.g. ''350000'' Fujian: the province''s own rules, e.g. MRV, and its pilot market where pilot), a city pilot by its city code (''440300'' Shenzhen).  A compliance period of a jurisdiction covers the key emitting units of its province (or city), all of them for ''CN''.  doc/rules.md.';
COMMENT ON COLUMN carbonmkt.jurisdiction.pilot IS
  'The jurisdiction runs a pilot carbon market (试点, RULES.md 6: Beijing, Tianjin, Shanghai, Chongqing, Hubei, Guangdong, Shenzhen, Fujian).';

-- a rule row of a jurisdiction that does not exist (the allocation and MRV rule tables had
-- no foreign key in 0.1.0) stops the upgrade with its name
DO $$
DECLARE
    t   text;
    bad text;
BEGIN
    FOREACH t IN ARRAY ARRAY['alloc_benchmark', 'alloc_heat_factor', 'alloc_cooling_factor', 'alloc_load_piece',
                             'alloc_year_rule', 'alloc_band', 'alloc_cap', 'allocation_run', 'mrv_rule'] LOOP
        EXECUTE format('SELECT min(jurisdiction) FROM carbonmkt.%I x
                         WHERE NOT EXISTS (SELECT 1 FROM carbonmkt.jurisdiction j WHERE j.code = x.jurisdiction)', t) INTO bad;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'carbonmkt 0.2.0: carbonmkt.% has rows of jurisdiction "%", which is not ''CN'' nor a GB/T 2260 code', t, bad
                USING HINT = 'Rename them to a code of carbonmkt.jurisdiction before ALTER EXTENSION carbonmkt UPDATE (doc/rules.md).';
        END IF;
    END LOOP;
END
$$;

ALTER TABLE carbonmkt.compliance_period ALTER COLUMN jurisdiction SET DEFAULT 'CN',
    ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.offset_rule ADD COLUMN until_year int,
    ADD CONSTRAINT offset_rule_period_check CHECK (until_year >= from_year AND until_year <= 2100),
    ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.relief_rule ADD COLUMN until_year int,
    ADD CONSTRAINT relief_rule_period_check CHECK (until_year >= from_year AND until_year <= 2100),
    ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.penalty_rule ADD COLUMN until_year int,
    ADD CONSTRAINT penalty_rule_period_check CHECK (until_year >= from_year AND until_year <= 2100),
    ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.mrv_rule ADD COLUMN until_year int,
    ADD CONSTRAINT mrv_rule_period_check CHECK (until_year >= from_year AND until_year <= 2100),
    ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.market_rule ALTER COLUMN jurisdiction SET DEFAULT 'CN', ADD COLUMN valid_until date,
    ADD CONSTRAINT market_rule_period_check CHECK (valid_until >= valid_from),
    ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.market_session ALTER COLUMN jurisdiction SET DEFAULT 'CN', ADD COLUMN valid_until date,
    ADD CONSTRAINT market_session_period_check CHECK (valid_until >= valid_from),
    ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.trader_rule ALTER COLUMN jurisdiction SET DEFAULT 'CN', ADD COLUMN valid_until date,
    ADD CONSTRAINT trader_rule_period_check CHECK (valid_until >= valid_from),
    ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.trading_calendar ALTER COLUMN jurisdiction SET DEFAULT 'CN',
    ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.product ALTER COLUMN jurisdiction SET DEFAULT 'CN',
    ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.alloc_benchmark ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.alloc_heat_factor ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.alloc_cooling_factor ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.alloc_load_piece ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.alloc_year_rule ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.alloc_band ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.alloc_cap ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;
ALTER TABLE carbonmkt.allocation_run ADD FOREIGN KEY (jurisdiction) REFERENCES carbonmkt.jurisdiction;

-- The relief of 2019-2022 ends with 2022 (RULES.md 6, S4 L93): the shipped row, unless changed.
UPDATE carbonmkt.relief_rule
   SET until_year = 2022,
       source = 'RULES.md 6, power-sector relief [S4 L91-96, public]: gap cap allocation + 20% of verified emissions; gas units <= allocation; gap >= 10% in hardship may borrow <= 50% of the gap; tied to 2019-2022 (S4 L93)'
 WHERE jurisdiction = 'CN' AND from_year = 2019 AND until_year IS NULL
   AND source = 'RULES.md 6, power-sector relief [S4 L91-96, public]: gap cap allocation + 20% of verified emissions; gas units <= allocation; gap >= 10% in hardship may borrow <= 50% of the gap';
-- 0.1.0 shipped rows the sources do not give (doc/rules.md): illustrative cement, steel and
-- aluminium benchmarks and bands for 2024-2026 and year rules for 2024-2026.  0.2.0 ships no
-- such row: they are removed where unchanged and no allocation run of their year used them;
-- rows a run used stay (a computation's rules are never deleted).
DELETE FROM carbonmkt.alloc_benchmark b
 WHERE b.jurisdiction = 'CN' AND b.year BETWEEN 2024 AND 2026 AND b.illustrative
   AND b.source = 'illustrative default (not published): typical intensity of the product, for the 2024-26 start phase of S0'
   AND NOT EXISTS (SELECT 1 FROM carbonmkt.allocation_run r WHERE r.jurisdiction = b.jurisdiction AND r.year = b.year);
DELETE FROM carbonmkt.alloc_band b
 WHERE b.jurisdiction = 'CN' AND b.year BETWEEN 2024 AND 2026 AND b.illustrative
   AND b.source = 'illustrative default (not published): S0 says only that each firm''s surplus or gap is kept within a small range'
   AND NOT EXISTS (SELECT 1 FROM carbonmkt.allocation_run r WHERE r.jurisdiction = b.jurisdiction AND r.year = b.year);
DELETE FROM carbonmkt.alloc_year_rule y
 WHERE y.jurisdiction = 'CN' AND y.year BETWEEN 2024 AND 2026 AND y.preallocation_share IS NULL
   AND y.source = 'carbonmkt default (whole tonnes, half up); no pre-allocation rule'
   AND NOT EXISTS (SELECT 1 FROM carbonmkt.allocation_run r WHERE r.jurisdiction = y.jurisdiction AND r.year = y.year);

-- The trading calendar as data: the years loaded.  0.1.0 shipped 2025; a year with rows in
-- trading_calendar counts as loaded.
CREATE TABLE carbonmkt.trading_calendar_year (
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    year            int NOT NULL CHECK (year BETWEEN 2005 AND 2100),
    source          text NOT NULL CHECK (btrim(source) <> ''),
    loaded_by       name NOT NULL,
    loaded_at       timestamptz NOT NULL,
    PRIMARY KEY (jurisdiction, year)
);
COMMENT ON TABLE carbonmkt.trading_calendar_year IS
  'The years whose trading calendar the exchange loaded (load_trading_calendar), with the document it implements (e.g. the State Council''s holiday notice): a date of a year without a row is refused (CM507 "no trading calendar for 2026"), never assumed a trading day.  doc/rules.md.';
INSERT INTO carbonmkt.trading_calendar_year VALUES
  ('CN', 2025, '国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号): the public holidays of 2025; the exchange does not trade on weekends',
   'carbonmkt', '2025-01-01 00:00:00+08');
INSERT INTO carbonmkt.trading_calendar_year
SELECT DISTINCT c.jurisdiction, extract(year FROM c.business_date)::int,
       'carried over from carbonmkt 0.1.0: the exceptions in carbonmkt.trading_calendar', 'carbonmkt 0.1.0', now()
  FROM carbonmkt.trading_calendar c
 WHERE NOT EXISTS (SELECT 1 FROM carbonmkt.trading_calendar_year y
                    WHERE y.jurisdiction = c.jurisdiction AND y.year = extract(year FROM c.business_date));
GRANT SELECT ON carbonmkt.trading_calendar_year TO PUBLIC;

COMMENT ON TABLE carbonmkt.market_rule IS
  'Market rules per jurisdiction, trading mode and period (the row with the latest valid_from on or before the business date applies, unless its valid_until is before it): order size limits (block threshold), lot, price step, price band around the previous close, fee rate per side, clearing rule of one-way bidding, same-day resale.  Seeded with the national defaults of RULES.md 5.';
COMMENT ON TABLE carbonmkt.market_session IS
  'Trading sessions per jurisdiction, mode and period, China Standard Time, [opens, closes).  The sessions of a mode on a date are the rows with the latest valid_from on or before it (none when they ended, valid_until, before it).  One-way bidding trades in each auction''s announced window instead.';

-- Compliance: status pending while the allocation a relief depends on is not final; gas-fired
-- derived from the facilities, the flag an override
ALTER TYPE carbonmkt.compliance_status ADD VALUE 'pending';
COMMENT ON TYPE carbonmkt.compliance_status IS
  'no_emissions: no confirmed emissions for all years of the period; open: obligation not yet met, deadline not passed; compliant: surrendered >= obligation (履约); shortfall: not met after the deadline or at close (未足额清缴); pending: the obligation depends (by a relief rule) on an allocation not made yet (obligation_status.status_reason), never frozen at close.';
COMMENT ON TABLE carbonmkt.unit_class IS
  'The authority''s override of whether a key emitting unit is gas-fired (燃气机组; gas units owe at most their allocation under relief_rule.gas_cap).  Without a row, a unit is gas-fired when all its generating units are in a gas category.  Set with set_gas_fired(), validated against the facilities.';

-- Functions and views that take a jurisdiction, or read the rules by period (generated from src/)

CREATE OR REPLACE FUNCTION carbonmkt.check_jurisdiction(jurisdiction text) RETURNS carbonmkt.jurisdiction
LANGUAGE plpgsql STABLE AS
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

CREATE OR REPLACE FUNCTION carbonmkt.market_rule_at(mode carbonmkt.trade_mode, business_date date, jurisdiction text DEFAULT 'CN')
RETURNS carbonmkt.market_rule LANGUAGE plpgsql STABLE PARALLEL SAFE AS
$$
DECLARE
    r   carbonmkt.market_rule;
BEGIN
    SELECT * INTO r FROM carbonmkt.market_rule x
     WHERE x.jurisdiction = market_rule_at.jurisdiction AND x.mode = market_rule_at.mode AND x.valid_from <= market_rule_at.business_date
       AND (x.valid_until IS NULL OR x.valid_until >= market_rule_at.business_date)
     ORDER BY x.valid_from DESC LIMIT 1;
    IF NOT FOUND THEN
        PERFORM carbonmkt.check_jurisdiction(market_rule_at.jurisdiction);
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION carbonmkt.market_rule_at(carbonmkt.trade_mode, date, text) IS
  'The market rule of a mode that applies on a date (latest valid_from on or before it, not ended by valid_until), or NULL; CM501 for an unknown jurisdiction.';

CREATE OR REPLACE FUNCTION carbonmkt.is_trading_day(business_date date, jurisdiction text DEFAULT 'CN') RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS
$$
DECLARE
    c   boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.trading_calendar_year y
                    WHERE y.jurisdiction = is_trading_day.jurisdiction AND y.year = extract(year FROM is_trading_day.business_date)) THEN
        PERFORM carbonmkt.check_jurisdiction(jurisdiction);
        RAISE EXCEPTION 'no trading calendar for % (jurisdiction %)', extract(year FROM is_trading_day.business_date), jurisdiction
            USING ERRCODE = 'CM507',
                  DETAIL = format('%s is in a year whose trading days and holidays were not loaded.', to_char(is_trading_day.business_date, 'YYYY-MM-DD')),
                  HINT = 'The exchange loads a year''s calendar with carbonmkt.load_trading_calendar(jurisdiction, year, holidays, ...).';
    END IF;
    SELECT x.is_trading_day INTO c FROM carbonmkt.trading_calendar x
     WHERE x.jurisdiction = is_trading_day.jurisdiction AND x.business_date = is_trading_day.business_date;
    RETURN coalesce(c, extract(isodow FROM is_trading_day.business_date) < 6);
END
$$;
COMMENT ON FUNCTION carbonmkt.is_trading_day(date, text) IS
  'Whether a date is a trading day: Monday to Friday unless carbonmkt.trading_calendar says otherwise.  CM501 for an unknown jurisdiction, CM507 for a date of a year without a loaded calendar (trading_calendar_year).';

CREATE OR REPLACE FUNCTION carbonmkt.sessions_text(mode carbonmkt.trade_mode, business_date date, jurisdiction text DEFAULT 'CN')
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT coalesce(string_agg(to_char(s.opens, 'HH24:MI') || '–' || to_char(s.closes, 'HH24:MI'), ', ' ORDER BY s.opens),
                   'none')
     FROM carbonmkt.market_session s
    WHERE (carbonmkt.check_jurisdiction(sessions_text.jurisdiction)).code = s.jurisdiction AND s.mode = sessions_text.mode
      AND (s.valid_until IS NULL OR s.valid_until >= sessions_text.business_date)
      AND s.valid_from = (SELECT max(x.valid_from) FROM carbonmkt.market_session x
                           WHERE x.jurisdiction = sessions_text.jurisdiction AND x.mode = sessions_text.mode AND x.valid_from <= sessions_text.business_date) $$;
COMMENT ON FUNCTION carbonmkt.sessions_text(carbonmkt.trade_mode, date, text) IS
  'The sessions of a mode on a date as text, e.g. "09:30–11:30, 13:00–15:00".';

CREATE OR REPLACE FUNCTION carbonmkt._check_session(p_mode carbonmkt.trade_mode, p_ts timestamptz, p_jurisdiction text)
RETURNS void LANGUAGE plpgsql STABLE AS
$$
DECLARE
    d   date := carbonmkt.business_date(p_ts);
    t   time := (p_ts AT TIME ZONE 'Asia/Shanghai')::time;
    why text;
BEGIN
    IF NOT carbonmkt.is_trading_day(d, p_jurisdiction) THEN
        SELECT c.note INTO why FROM carbonmkt.trading_calendar c
         WHERE c.jurisdiction = p_jurisdiction AND c.business_date = d;
        RAISE EXCEPTION 'the market is closed on %: not a trading day', to_char(d, 'YYYY-MM-DD')
            USING ERRCODE = 'CM302',
                  DETAIL = coalesce(why, to_char(d, 'FMDay')) || '.',
                  HINT = 'Trading days are Monday to Friday except the holidays in carbonmkt.trading_calendar.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.market_session s
                    WHERE s.jurisdiction = p_jurisdiction AND s.mode = p_mode AND (s.valid_until IS NULL OR s.valid_until >= d)
                      AND s.valid_from = (SELECT max(x.valid_from) FROM carbonmkt.market_session x
                                           WHERE x.jurisdiction = p_jurisdiction AND x.mode = p_mode
                                             AND x.valid_from <= d)
                      AND t >= s.opens AND t < s.closes) THEN
        RAISE EXCEPTION 'the % session is closed at % on %', carbonmkt._mode_name(p_mode),
            to_char(t, 'HH24:MI:SS'), to_char(d, 'YYYY-MM-DD')
            USING ERRCODE = 'CM302',
                  DETAIL = format('Sessions (China Standard Time): %s.', carbonmkt.sessions_text(p_mode, d, p_jurisdiction));
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._check_session(carbonmkt.trade_mode, timestamptz, text) IS
  'Internal: raises CM302 unless ts falls on a trading day inside a session of the mode.';

CREATE OR REPLACE FUNCTION carbonmkt._rule(p_mode carbonmkt.trade_mode, p_date date, p_jurisdiction text)
RETURNS carbonmkt.market_rule LANGUAGE plpgsql STABLE AS
$$
DECLARE
    r carbonmkt.market_rule;
BEGIN
    r := carbonmkt.market_rule_at(p_mode, p_date, p_jurisdiction);
    IF r.mode IS NULL THEN
        PERFORM carbonmkt.check_jurisdiction(p_jurisdiction);
        RAISE EXCEPTION 'no % rule applies in jurisdiction "%" on %', carbonmkt._mode_name(p_mode), p_jurisdiction,
            to_char(p_date, 'YYYY-MM-DD')
            USING ERRCODE = 'CM302', HINT = 'See carbonmkt.market_rule.';
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule(carbonmkt.trade_mode, date, text) IS 'Internal: the applicable market rule, CM302 when none.';

CREATE OR REPLACE FUNCTION carbonmkt._trader(p_participant bigint, p_date date, p_jurisdiction text, p_action text)
RETURNS carbonmkt.trader_rule LANGUAGE plpgsql STABLE AS
$$
DECLARE
    k   carbonmkt.participant_kind;
    r   carbonmkt.trader_rule;
BEGIN
    SELECT p.kind INTO k FROM carbonmkt.participant p WHERE p.participant_id = p_participant;
    SELECT * INTO r FROM carbonmkt.trader_rule t
     WHERE t.jurisdiction = p_jurisdiction AND t.participant_kind = k AND t.valid_from <= p_date
       AND (t.valid_until IS NULL OR t.valid_until >= p_date)
     ORDER BY t.valid_from DESC LIMIT 1;
    IF NOT FOUND OR (p_action = 'trade' AND NOT r.may_trade) OR (p_action = 'announce' AND NOT r.may_announce) THEN
        RAISE EXCEPTION 'participant % (%) may not %', p_participant, k,
            CASE p_action WHEN 'trade' THEN 'trade on the exchange' ELSE 'announce one-way bidding' END
            USING ERRCODE = 'CM312', HINT = 'Who may trade and announce is set per participant kind in carbonmkt.trader_rule.';
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION carbonmkt._trader(bigint, date, text, text) IS
  'Internal: the trader rule of the participant''s kind; CM312 unless it may trade (or announce one-way bidding).';

CREATE OR REPLACE FUNCTION carbonmkt.list_product(product text, reference_price numeric, clearing_account bigint,
                                       vintage int DEFAULT NULL, instrument carbonmkt.instrument DEFAULT 'CEA',
                                       project text DEFAULT '', jurisdiction text DEFAULT 'CN')
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    c   text := upper(btrim(list_product.product));
    v   int := vintage;
    a   record;
    id  int;
BEGIN
    PERFORM carbonmkt._require_exchange('list products');
    IF instrument IS NULL OR instrument NOT IN ('CEA', 'CCER')
       OR (instrument = 'CCER') <> (coalesce(project, '') <> '') THEN
        RAISE EXCEPTION 'list_product: a product is CEA without a project or CCER of a project: got %, project "%"',
            coalesce(instrument::text, 'NULL'), coalesce(project, '')
            USING ERRCODE = '22023';
    END IF;
    IF jurisdiction IS NULL THEN
        RAISE EXCEPTION 'list_product: argument jurisdiction must not be NULL' USING ERRCODE = 'CM904';
    END IF;
    IF v IS NULL AND instrument = 'CEA' AND c ~ '^CEA[0-9]{4}$' THEN
        v := substr(c, 4)::int;
    END IF;
    IF v IS NULL THEN
        RAISE EXCEPTION 'product % needs a vintage', c USING ERRCODE = '22023',
              HINT = 'A CEA product code CEAyyyy names its vintage; otherwise pass vintage.';
    END IF;
    PERFORM carbonmkt.cea(v, 0);    -- the vintage window (22003)
    IF c IS NULL OR c !~ '^[A-Z][A-Z0-9._-]{2,39}$' THEN
        RAISE EXCEPTION 'list_product: product code "%" is not 3-40 letters, digits, ".", "_" or "-" starting with a letter',
            coalesce(c, 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT x.kind, p.kind AS owner_kind INTO a
      FROM carbonmkt.account x JOIN carbonmkt.participant p USING (participant_id)
     WHERE x.account_id = clearing_account;
    IF NOT FOUND OR a.kind <> 'clearing' OR a.owner_kind <> 'exchange' THEN
        RAISE EXCEPTION 'account % is not a clearing account of the exchange', clearing_account
            USING ERRCODE = '22023', HINT = 'The registry opens clearing accounts (结算账户) for the exchange with open_account(exchange, ''clearing'').';
    END IF;
    INSERT INTO carbonmkt.product AS p (code, instrument, vintage, project, jurisdiction, reference_price_fen,
                                        clearing_account, listed_at)
    VALUES (c, instrument, v, upper(coalesce(project, '')), jurisdiction,
            (carbonmkt._price_fen(reference_price, carbonmkt._rule('listed', carbonmkt.business_date(), jurisdiction))),
            clearing_account, carbonmkt.clock_now())
    RETURNING p.product_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.list_product(text, numeric, bigint, int, carbonmkt.instrument, text, text) IS
  'Lists a product (上市): code (CEAyyyy gives the vintage), reference price in CNY per t (the previous close before its first trade), and the exchange''s clearing account it settles through and keeps fees in.  Exchange or registry staff only.';

CREATE OR REPLACE FUNCTION carbonmkt.propose_block(product text, side text, tonnes bigint, price numeric, counterparty_id bigint,
                                        reference text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    e       record;
    o       carbonmkt.market_order;
    deal    bigint;
BEGIN
    IF counterparty_id IS NULL OR NOT EXISTS (SELECT 1 FROM carbonmkt.participant p
                                               WHERE p.participant_id = propose_block.counterparty_id) THEN
        RAISE EXCEPTION 'counterparty % does not exist', coalesce(counterparty_id::text, 'NULL') USING ERRCODE = 'CM002';
    END IF;
    e := carbonmkt._enter_order('block', product, side, tonnes, price, NULL, reference, acting_for, true);
    IF e.replay THEN
        SELECT d.deal_id INTO deal FROM carbonmkt.block_deal d WHERE d.proposer_order = e.order_id;
        RETURN deal;
    END IF;
    SELECT * INTO o FROM carbonmkt.market_order x WHERE x.order_id = e.order_id;
    IF o.participant_id = counterparty_id THEN
        RAISE EXCEPTION 'self-trade: participant % cannot make a block agreement with itself', o.participant_id
            USING ERRCODE = 'CM309';
    END IF;
    PERFORM carbonmkt._trader(counterparty_id, o.business_date, 'CN', 'trade');
    UPDATE carbonmkt.market_order x SET status = 'open' WHERE x.order_id = o.order_id;
    INSERT INTO carbonmkt.block_deal AS d (product_id, proposer_order, proposer_id, counterparty_id, side, quantity,
                                          price_fen, business_date, proposed_at)
    VALUES (o.product_id, o.order_id, o.participant_id, counterparty_id, o.side, o.quantity, o.price_fen,
            o.business_date, o.entered_at)
    RETURNING d.deal_id INTO deal;
    RETURN deal;
END
$$;
COMMENT ON FUNCTION carbonmkt.propose_block(text, text, bigint, numeric, bigint, text, bigint) IS
  'Block agreement (大宗协议交易): proposes a trade of at least the block threshold (100,000 t) within ±30% of the previous close, in the block session (13:00–15:00), to a named counterparty; the proposer''s side is held at once.  Returns the deal id.';

CREATE OR REPLACE FUNCTION carbonmkt.announce_auction(product text, side text, tonnes bigint, reserve_price numeric,
                                           opens_at timestamptz, closes_at timestamptz,
                                           reference text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    e   record;
    o   carbonmkt.market_order;
    r   carbonmkt.market_rule;
    id  bigint;
    ts  timestamptz := carbonmkt.clock_now();
BEGIN
    IF opens_at IS NULL OR closes_at IS NULL OR closes_at <= opens_at THEN
        RAISE EXCEPTION 'the bidding window must close after it opens: % – %',
            coalesce(to_char(opens_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), 'NULL'),
            coalesce(to_char(closes_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF carbonmkt.business_date(opens_at) <> carbonmkt.business_date(ts)
       OR carbonmkt.business_date(closes_at) <> carbonmkt.business_date(ts) THEN
        RAISE EXCEPTION 'the bidding window % – % must lie within today, %',
            to_char(opens_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),
            to_char(closes_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),
            to_char(carbonmkt.business_date(ts), 'YYYY-MM-DD')
            USING ERRCODE = 'CM314', HINT = 'A one-way bidding lot is announced on the trading day it is bid for (China Standard Time).';
    END IF;
    IF closes_at <= ts THEN
        RAISE EXCEPTION 'the bidding window % – % is over',
            to_char(opens_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),
            to_char(closes_at AT TIME ZONE 'Asia/Shanghai', 'HH24:MI') USING ERRCODE = 'CM314';
    END IF;
    e := carbonmkt._enter_order('auction', product, side, tonnes, reserve_price, NULL, reference, acting_for,
                                true, NULL, 'announce');
    IF e.replay THEN
        SELECT a.auction_id INTO id FROM carbonmkt.auction a WHERE a.lot_order_id = e.order_id;
        RETURN id;
    END IF;
    SELECT * INTO o FROM carbonmkt.market_order x WHERE x.order_id = e.order_id;
    r := carbonmkt._rule('auction', o.business_date, 'CN');
    INSERT INTO carbonmkt.auction AS a (product_id, side, quantity, reserve_fen, opens_at, closes_at, clearing_rule,
                                        lot_order_id, announced_by)
    VALUES (o.product_id, o.side, o.quantity, o.price_fen, opens_at, closes_at, r.clearing_rule, o.order_id, o.participant_id)
    RETURNING a.auction_id INTO id;
    UPDATE carbonmkt.market_order x SET status = 'open', auction_id = id WHERE x.order_id = o.order_id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.announce_auction(text, text, bigint, numeric, timestamptz, timestamptz, text, bigint) IS
  'One-way bidding (单向竞价): announces a lot (side ''sell'': allowances offered; ''buy'': allowances sought), its reserve price (lowest bid, resp. highest offer) and today''s bidding window; the lot is held at once.  Authorities sell from the national reserve or their province''s allocation account (paid allocation).  The clearing rule (uniform or pay-as-bid) comes from market_rule.  Returns the auction id.';

CREATE OR REPLACE FUNCTION carbonmkt.facility_power_params(jurisdiction text, year int)
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

CREATE OR REPLACE FUNCTION carbonmkt.participant_performance_params(jurisdiction text, year int)
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

CREATE OR REPLACE FUNCTION carbonmkt._require_rules(p_jurisdiction text, p_year int, p_participants bigint[] DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION carbonmkt.facility_allowance(year int, jurisdiction text DEFAULT 'CN')
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

CREATE OR REPLACE FUNCTION carbonmkt.participant_allowance(year int, jurisdiction text DEFAULT 'CN', data_year int DEFAULT NULL,
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

CREATE OR REPLACE FUNCTION carbonmkt._explain_rows(p_facility bigint, p_year int, p_jurisdiction text)
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

CREATE OR REPLACE FUNCTION carbonmkt._begin_run(p_kind text, p_jurisdiction text, p_year int, p_province char(6), p_inputs text)
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

CREATE OR REPLACE FUNCTION carbonmkt._preallocation_candidates(p_jurisdiction text, p_year int, p_province char(6))
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

CREATE OR REPLACE FUNCTION carbonmkt._final_candidates(p_jurisdiction text, p_year int, p_province char(6))
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

CREATE OR REPLACE FUNCTION carbonmkt.mrv_rule_for(province char(6), year int) RETURNS carbonmkt.mrv_rule
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT r.* FROM carbonmkt.mrv_rule r
    WHERE r.jurisdiction IN (province::text, 'CN') AND r.from_year <= year AND (r.until_year IS NULL OR r.until_year >= year)
    ORDER BY r.jurisdiction = 'CN', r.from_year DESC LIMIT 1 $$;
COMMENT ON FUNCTION carbonmkt.mrv_rule_for(char, int) IS
  'The MRV rule row in force for a province and reporting year: the province''s own row with the latest from_year <= year, else the national (''CN'') one; all NULL when there is none.';

CREATE OR REPLACE FUNCTION carbonmkt._mrv_rule(p_province char(6), p_year int) RETURNS carbonmkt.mrv_rule
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

CREATE OR REPLACE FUNCTION carbonmkt._average_price_fen(from_date date, to_date date, jurisdiction text DEFAULT 'CN')
RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT (carbonmkt._average_price(jurisdiction, from_date, to_date)).average_price_fen $$;
COMMENT ON FUNCTION carbonmkt._average_price_fen(date, date, text) IS
  'Internal: _average_price(jurisdiction, from_date, to_date).average_price_fen: the average CEA price in fen per tonne over the window, NULL without any price.';

CREATE OR REPLACE VIEW carbonmkt._period_rules AS
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

CREATE OR REPLACE VIEW carbonmkt._obligation_figures AS
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
       CASE WHEN em.emissions_t IS NOT NULL AND al.years_allocated < pr.last_year - pr.first_year + 1 AND em.relief_sector
                 AND ((pr.gas_cap AND gas.gas_fired) OR pr.gap_cap_share IS NOT NULL)
            THEN format('no allocation yet for %s of %s (%s allocated): the %s of the relief rule makes the obligation depend on it',
                        pr.last_year - pr.first_year + 1 - al.years_allocated,
                        CASE WHEN pr.first_year = pr.last_year THEN pr.first_year::text ELSE pr.first_year || '-' || pr.last_year END,
                        carbonmkt.format_quantity('CEA', coalesce(al.allocated_t, 0)),
                        CASE WHEN pr.gas_cap AND gas.gas_fired THEN 'gas cap' ELSE 'gap cap' END)
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
                             count(*)::int AS years_allocated
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
COMMENT ON VIEW carbonmkt._obligation_figures IS
  'Internal, THE obligation formula: for every open period and every key emitting unit it covers (jurisdiction''s province or city, sector covered by the period''s last year), the live figures: confirmed emissions of all the period''s years (NULL if a year is missing), allocation (_allocation_source: allocation_result.allocated_t) and whether it is final for every year, relief (gas cap, gap cap) and why, obligation, gap, borrowing, the offset basis and cap; whether the unit is gas-fired (gas_basis facilities: every generating unit in a gas category; override: set_gas_fired) and, while a year of the period has no allocation at all (no pre-allocation, final allocation or adjustment) and a relief makes the obligation depend on it, why the obligation is pending.  Used by the surrender trigger, borrowing, close_period() and obligation_status.';

CREATE OR REPLACE VIEW carbonmkt.obligation_status AS
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
COMMENT ON VIEW carbonmkt.obligation_status IS
  'Compliance of each key emitting unit in each period (清缴履约情况): confirmed emissions, allocation, relief applied and why, obligation, CEA and CCER surrendered, remaining, borrowing, offset cap, status and EUTL-style code (A surrendered >= obligation, B less, C no confirmed emissions, D emissions estimated by the authority); status pending (code B) while a year of the period has no allocation at all and a relief makes the obligation depend on it, with the reason in status_reason (never compliant on a provisional obligation, unless the unit surrendered its whole emissions).  Live for open periods, frozen at close for closed ones.  A participant''s login sees its own rows, a provincial authority its province.';

CREATE OR REPLACE FUNCTION carbonmkt.open_period(period int, name text, first_year int, last_year int, deadline date,
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

CREATE OR REPLACE FUNCTION carbonmkt.close_period(period int)
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

    -- freeze every covered unit's figures
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

CREATE OR REPLACE FUNCTION carbonmkt.set_gas_fired(participant_id bigint, gas_fired boolean)
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

CREATE OR REPLACE VIEW carbonmkt.bi_allowance_supply AS
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
                        AND st.vintage BETWEEN p.first_year AND p.last_year LIMIT 1) cl ON true
 WHERE (SELECT carbonmkt.caller_sees_staff_rows());

CREATE OR REPLACE VIEW carbonmkt.bi_price_history AS
SELECT d.price_date, d.average_price_fen, round(d.average_price_fen / 100.0, 2) AS average_price_cny, d.volume_t,
       d.price_source, d.source
  FROM carbonmkt._daily_prices('CN', '-infinity', 'infinity') d;
COMMENT ON VIEW carbonmkt.bi_price_history IS
  'BI: CEA average price per day of the national market (fen and CNY per tonne) with volume: the market''s own trades where it traded (price_source market: turnover / volume of every CEA trade of the day, from the trade tape market_trades), else the reference price recorded by hand (price_source reference_price, with its source).  The price source of the Decree 775 penalties.';

-- src/rules.sql: administration, history, rules in force, rules used

-------------------------------------------------------------------------------
-- rules (规则管理): the administration of every rule table of MRV, allocation, market
-- and compliance, with a history.  A rule is set for a jurisdiction and an effective
-- period (a year, a year range or a date range), amended, or retired; never deleted once
-- a computation used it.  Every change is validated (CM502 naming the rule and the
-- numbers, CM503 for overlapping periods, CM506 for a rule a computation used) and
-- authorised (the national authority for national rules, a provincial authority for its
-- province's rules, the exchange for the market's rules and calendar); every change,
-- by these functions or by a superuser's direct DML, is recorded in carbonmkt.rule_change
-- with who, when, the old and the new row, and the document it implements.
-- Documentation: doc/rules.md.  SQLSTATEs CM501-CM507.
-------------------------------------------------------------------------------

-- The rule tables ---------------------------------------------------------------------

CREATE VIEW carbonmkt.rule_table AS
SELECT v.rule_table, v.room, v.period_kind, v.administered_by, v.description
  FROM (VALUES
    ('alloc_benchmark', 'allocation', 'year', 'authority', 'benchmarks per category: B_power tCO2/MWh and B_heat tCO2/GJ, product intensity tCO2/t'),
    ('alloc_heat_factor', 'allocation', 'year', 'authority', 'heat-supply correction coefficient per fuel'),
    ('alloc_cooling_factor', 'allocation', 'year', 'authority', 'cooling correction factor per fuel and cooling'),
    ('alloc_load_piece', 'allocation', 'year', 'authority', 'the pieces of the load-factor correction F_load (set a year''s whole curve at once)'),
    ('alloc_year_rule', 'allocation', 'year', 'authority', 'rounding and pre-allocation rule'),
    ('alloc_band', 'allocation', 'year', 'authority', 'surplus/gap band of the performance method per sector'),
    ('alloc_cap', 'allocation', 'year', 'authority', 'total-quantity cap per sector, t'),
    ('market_rule', 'market', 'valid_from', 'exchange', 'order size, lot, price step, price band, fee rate, clearing rule per mode'),
    ('market_session', 'market', 'valid_from', 'exchange', 'trading sessions per mode'),
    ('trader_rule', 'market', 'valid_from', 'exchange', 'who may trade and announce, position limit per participant kind'),
    ('trading_calendar', 'market', 'calendar', 'exchange', 'trading days and holidays per year (load_trading_calendar, set_trading_day)'),
    ('offset_rule', 'compliance', 'from_year', 'authority', 'CCER offset ratio, basis and eligibility'),
    ('relief_rule', 'compliance', 'from_year', 'authority', 'gap cap, gas cap and borrowing'),
    ('penalty_rule', 'compliance', 'from_year', 'authority', 'fines and allocation cuts for a shortfall'),
    ('mrv_rule', 'mrv', 'from_year', 'authority', 'review sample, thresholds, deposit and report deadlines, GWP set'),
    ('mrv_sector_parameter', 'mrv', 'from_year', 'national', 'key parameters deposited monthly per sector'),
    ('mrv_sector_gas', 'mrv', 'none', 'national', 'gases reported per sector'),
    ('mrv_gwp_set', 'mrv', 'none', 'national', 'sets of global warming potentials'),
    ('mrv_gwp', 'mrv', 'none', 'national', 'global warming potential per gas and set'),
    ('ccer_project_type', 'compliance', 'none', 'national', 'CCER project types')
  ) v(rule_table, room, period_kind, administered_by, description);
COMMENT ON VIEW carbonmkt.rule_table IS
  'The rule tables (规则表) and how they are administered (doc/rules.md): period_kind year (one row per jurisdiction and year), from_year (from_year .. until_year, NULL = open), valid_from (valid_from .. valid_until, dates), calendar (load_trading_calendar), none; administered_by authority (national authority for ''CN'', the provincial authority of the province for a provincial or pilot jurisdiction), national (national authority only), exchange.';

-- The history ---------------------------------------------------------------------------

CREATE TABLE carbonmkt.rule_change (
    change_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_table      text NOT NULL,
    jurisdiction    text,
    rule_key        jsonb NOT NULL,
    action          text NOT NULL CHECK (action IN ('seed', 'set', 'amend', 'retire', 'load', 'dml_insert', 'dml_update',
                                                    'dml_delete')),
    old_value       jsonb,
    new_value       jsonb,
    document        text NOT NULL,
    changed_by      name NOT NULL,
    acting_for      bigint,
    changed_at      timestamptz NOT NULL
);
CREATE INDEX rule_change_rule ON carbonmkt.rule_change (rule_table, rule_key);
COMMENT ON TABLE carbonmkt.rule_change IS
  'The history of every rule row (规则变更记录), append-only: the table and key, what happened (seed: shipped with the extension; set, amend, retire, load: by the administration functions; dml_*: a superuser''s direct change), the old and the new row, the document it implements (e.g. a notice number), the login, the participant it acted for, and when (carbonmkt.clock_now()).  Written by the trigger carbonmkt._rule_log on every rule table.';
CREATE TRIGGER rule_change_append_only BEFORE UPDATE OR DELETE ON carbonmkt.rule_change
    FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
SELECT pg_catalog.pg_extension_config_dump('carbonmkt.rule_change', 'WHERE action <> ''seed''');

CREATE FUNCTION carbonmkt._rule_log() RETURNS trigger
LANGUAGE plpgsql AS
$$
DECLARE
    o   jsonb;
    n   jsonb;
    k   jsonb := '{}';
    c   text;
BEGIN
    IF TG_OP <> 'INSERT' THEN o := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN n := to_jsonb(NEW); END IF;
    FOREACH c IN ARRAY TG_ARGV LOOP
        k := k || jsonb_build_object(c, coalesce(n, o) -> c);
    END LOOP;
    INSERT INTO carbonmkt.rule_change (rule_table, jurisdiction, rule_key, action, old_value, new_value, document,
                                       changed_by, acting_for, changed_at)
    VALUES (TG_TABLE_NAME, coalesce(n, o) ->> 'jurisdiction', k,
            coalesce(nullif(current_setting('carbonmkt_rules.action', true), ''), 'dml_' || lower(TG_OP)),
            o, n,
            coalesce(nullif(current_setting('carbonmkt_rules.document', true), ''),
                     format('direct %s by %s, no document', TG_OP, session_user)),
            session_user, nullif(current_setting('carbonmkt_rules.actor', true), '')::bigint, carbonmkt.clock_now());
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_log() IS
  'Internal: the trigger of every rule table: records the change in carbonmkt.rule_change (the trigger arguments are the key columns; the action, document and participant come from the administration function that made it, else dml_*).';

-- Helpers -------------------------------------------------------------------------------

CREATE FUNCTION carbonmkt._rule_meta(p_table text) RETURNS carbonmkt.rule_table
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    m   carbonmkt.rule_table;
BEGIN
    SELECT * INTO m FROM carbonmkt.rule_table t WHERE t.rule_table = p_table;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown rule table "%"', coalesce(p_table, 'NULL')
            USING ERRCODE = 'CM505', HINT = 'The rule tables are listed in carbonmkt.rule_table.';
    END IF;
    RETURN m;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_meta(text) IS 'Internal: the rule_table row of a table name; CM505 for another name.';

CREATE FUNCTION carbonmkt._rule_columns(p_table text, p_key_only boolean DEFAULT false) RETURNS text[]
LANGUAGE sql STABLE AS
$$
    SELECT array_agg(a.attname::text ORDER BY a.attnum)
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = ('carbonmkt.' || quote_ident(p_table))::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND (NOT p_key_only OR EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                                       WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY (i.indkey)))
$$;
COMMENT ON FUNCTION carbonmkt._rule_columns(text, boolean) IS 'Internal: the columns (or the primary key columns) of a rule table.';

CREATE FUNCTION carbonmkt._rule_key(p_table text, p_row jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS
$$ SELECT coalesce(jsonb_object_agg(c, p_row -> c), '{}') FROM unnest(carbonmkt._rule_columns(p_table, true)) c $$;
COMMENT ON FUNCTION carbonmkt._rule_key(text, jsonb) IS 'Internal: the primary key of a rule row as jsonb.';

CREATE FUNCTION carbonmkt._rule_name(p_table text, p_key jsonb) RETURNS text
LANGUAGE sql STABLE AS
$$ SELECT p_table || ' (' || coalesce(string_agg(k || ' ' || coalesce(p_key ->> k, 'NULL'), ', ' ORDER BY o), '') || ')'
     FROM unnest(carbonmkt._rule_columns(p_table, true)) WITH ORDINALITY u(k, o) $$;
COMMENT ON FUNCTION carbonmkt._rule_name(text, jsonb) IS
  'Internal: a rule row''s name for messages, e.g. "alloc_benchmark (jurisdiction CN, year 2024, category gas)".';

CREATE FUNCTION carbonmkt._rule_invalid(p_table text, p_row jsonb, p_what text, p_detail text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql STABLE AS
$$
BEGIN
    RAISE EXCEPTION '%: %', carbonmkt._rule_name(p_table, carbonmkt._rule_key(p_table, p_row)), p_what
        USING ERRCODE = 'CM502', DETAIL = coalesce(p_detail, ''),
              HINT = 'Nothing was changed.  The rule tables and their limits are described in doc/rules.md.';
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_invalid(text, jsonb, text, text) IS 'Internal: raises CM502 naming the rule row and what is wrong with it.';

CREATE FUNCTION carbonmkt._num(p_table text, p_row jsonb, p_col text) RETURNS numeric
LANGUAGE plpgsql STABLE AS
$$
BEGIN
    RETURN (p_row ->> p_col)::numeric;
EXCEPTION WHEN invalid_text_representation THEN
    RAISE EXCEPTION '%: % must be a number: got "%"', carbonmkt._rule_name(p_table, carbonmkt._rule_key(p_table, p_row)),
        p_col, p_row ->> p_col USING ERRCODE = 'CM502', DETAIL = 'Nothing was changed.';
END
$$;
COMMENT ON FUNCTION carbonmkt._num(text, jsonb, text) IS 'Internal: a numeric field of a rule row; CM502 naming the rule when it is not a number.';

-- Who may change a rule: the national authority for national rules ('CN' and the
-- national reference tables), the provincial authority of the province for a province's
-- or a pilot's rules (a city pilot: its province's or its city's authority), the exchange
-- for the market's rules and calendar.  Staff (superuser, carbonmkt_registry) act for one
-- of them with acting_for.
CREATE FUNCTION carbonmkt._rule_actor(p_table text, p_jurisdiction text, p_acting_for bigint)
RETURNS carbonmkt.participant LANGUAGE plpgsql STABLE AS
$$
DECLARE
    m   carbonmkt.rule_table := carbonmkt._rule_meta(p_table);
    j   carbonmkt.jurisdiction;
    me  carbonmkt.participant;
    ok  boolean;
    who text;
BEGIN
    IF p_jurisdiction IS NOT NULL THEN
        j := carbonmkt.check_jurisdiction(p_jurisdiction);
    END IF;
    IF m.administered_by = 'exchange' THEN
        me := carbonmkt._mrv_actor(p_acting_for, 'carbonmkt_exchange');
        ok := me.kind = 'exchange';
        who := 'the exchange (全国碳排放权交易机构)';
    ELSE
        me := carbonmkt._mrv_actor(p_acting_for, 'carbonmkt_authority');
        IF m.administered_by = 'national' OR j.code = 'CN' OR j.code IS NULL THEN
            ok := me.kind = 'national_authority';
            who := 'the national authority (生态环境部)';
        ELSE
            ok := (me.kind = 'provincial_authority' AND me.province = j.province)
                  OR (me.kind = 'city_authority' AND j.kind = 'city' AND me.city = j.city);
            who := format('the provincial authority of %s', j.province)
                   || CASE WHEN j.kind = 'city' THEN format(' or the city authority of %s', j.city) ELSE '' END;
        END IF;
    END IF;
    IF NOT ok THEN
        RAISE EXCEPTION 'participant % (%) may not change % rules%', me.participant_id, me.kind, p_table,
            CASE WHEN p_jurisdiction IS NOT NULL THEN format(' of jurisdiction %s', p_jurisdiction) ELSE '' END
            USING ERRCODE = '42501',
                  DETAIL = format('Rules of %s%s are changed by %s.', p_table,
                                  CASE WHEN p_jurisdiction IS NOT NULL THEN ' for ' || p_jurisdiction ELSE '' END, who),
                  HINT = 'Who may change which rule is the matrix in doc/rules.md.';
    END IF;
    RETURN me;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_actor(text, text, bigint) IS
  'Internal: the participant changing a rule of a table and jurisdiction; 42501 unless it is the national authority (national rules and reference tables), the provincial authority of the jurisdiction''s province (a city pilot: also its city authority), or the exchange (market_rule, market_session, trader_rule, trading_calendar).';

-- Validation of one row (CM502), with the units and the numbers ------------------------------

CREATE FUNCTION carbonmkt._rule_validate(p_table text, r jsonb) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    x       numeric;
    y       numeric;
    z       numeric;
    unit    text;
    bad     text;
BEGIN
    SELECT string_agg(k, ', ') INTO bad
      FROM jsonb_object_keys(r) k WHERE k <> ALL (carbonmkt._rule_columns(p_table));
    IF bad IS NOT NULL THEN
        PERFORM carbonmkt._rule_invalid(p_table, r, format('no such column: %s', bad),
            format('The columns of %s are %s.', p_table, array_to_string(carbonmkt._rule_columns(p_table), ', ')));
    END IF;
    IF r ? 'source' AND btrim(coalesce(r ->> 'source', '')) = '' THEN
        PERFORM carbonmkt._rule_invalid(p_table, r, 'a rule row needs its source');
    END IF;
    IF p_table = 'alloc_benchmark' THEN
        SELECT CASE WHEN c.method = 'power' THEN 'tCO2/MWh' ELSE 'tCO2/' || c.output_unit END INTO unit
          FROM carbonmkt.alloc_category c WHERE c.code = r ->> 'category';
        IF NOT FOUND THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('unknown category "%s"', r ->> 'category'),
                'The categories are the rows of carbonmkt.alloc_category.');
        END IF;
        x := carbonmkt._num(p_table, r, 'benchmark');
        IF x IS NULL OR x <= 0 OR x >= 10 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('benchmark must be more than 0 and less than 10 %s: got %s', unit, coalesce(x::text, 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'heat_benchmark');
        IF x IS NOT NULL AND (x <= 0 OR x >= 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('heat benchmark B_heat must be more than 0 and less than 1 tCO2/GJ: got %s', x));
        END IF;
    ELSIF p_table = 'alloc_heat_factor' THEN
        x := carbonmkt._num(p_table, r, 'coefficient');
        IF x IS NULL OR x < 0 OR x > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the heat coefficient (F_heat = 1 - coefficient x heat ratio) must be in [0, 1]: got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'alloc_cooling_factor' THEN
        x := carbonmkt._num(p_table, r, 'factor');
        IF x IS NULL OR x <= 0 OR x > 2 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the cooling factor F_cool must be more than 0 and at most 2: got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'alloc_load_piece' THEN
        x := carbonmkt._num(p_table, r, 'lower_bound');
        IF x IS NULL OR x < 0 OR x >= 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('a piece''s lower bound of the load factor must be in [0, 1): got %s', coalesce(x::text, 'NULL')));
        END IF;
        IF coalesce(r ->> 'kind', '') NOT IN ('linear', 'power') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('kind must be linear or power: got %s', coalesce(r ->> 'kind', 'NULL')));
        END IF;
        IF (r ->> 'kind') = 'linear' AND (r ->> 'a' IS NULL OR r ->> 'b' IS NULL OR r ->> 'pivot' IS NULL) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'a linear piece a + b x (pivot - 100F) needs a, b and pivot');
        END IF;
        IF (r ->> 'kind') = 'power' AND (r ->> 'base' IS NULL OR r ->> 'c' IS NULL OR r ->> 'd' IS NULL
                                         OR carbonmkt._num(p_table, r, 'base') <= 0) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'a power piece base ^ (c - d x F) needs base > 0, c and d');
        END IF;
    ELSIF p_table = 'alloc_year_rule' THEN
        IF coalesce(r ->> 'rounding', '') NOT IN ('half_up', 'down', 'up') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('rounding must be half_up, down or up: got %s', coalesce(r ->> 'rounding', 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'preallocation_share');
        IF (x IS NULL) <> (r ->> 'preallocation_basis' IS NULL) OR (x IS NULL) <> (r ->> 'basis_year' IS NULL) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'a pre-allocation rule needs preallocation_share, preallocation_basis and basis_year together');
        END IF;
        IF x IS NOT NULL AND (x <= 0 OR x > 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the pre-allocation share must be more than 0 and at most 1: got %s', x));
        END IF;
        IF x IS NOT NULL AND ((r ->> 'basis_year')::int > (r ->> 'year')::int OR (r ->> 'basis_year')::int < (r ->> 'year')::int - 3) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the pre-allocation basis year must be one of the 3 years before %s or %s itself: got %s',
                                                               r ->> 'year', r ->> 'year', r ->> 'basis_year'));
        END IF;
    ELSIF p_table = 'alloc_band' THEN
        x := carbonmkt._num(p_table, r, 'max_gap');
        y := carbonmkt._num(p_table, r, 'max_surplus');
        IF x IS NULL OR y IS NULL OR x < 0 OR y < 0 OR x > 1 OR y > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the band [1 - max_gap, 1 + max_surplus] x verified emissions = [%s, %s] must contain its centre 1 and stay within [0, 2]: max_gap %s, max_surplus %s',
                       coalesce((1 - x)::text, 'NULL'), coalesce((1 + y)::text, 'NULL'), coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL')));
        END IF;
    ELSIF p_table = 'alloc_cap' THEN
        x := carbonmkt._num(p_table, r, 'cap_t');
        IF x IS NULL OR x <= 0 OR x <> trunc(x) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a cap must be a positive whole number of tonnes: got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'market_rule' THEN
        x := carbonmkt._num(p_table, r, 'min_quantity');
        y := carbonmkt._num(p_table, r, 'below_quantity');
        IF x IS NULL OR x < 1 OR (y IS NOT NULL AND y <= x) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('order sizes must satisfy 1 <= min_quantity < below_quantity: got %s t and %s t', coalesce(x::text, 'NULL'), coalesce(y::text, 'none')));
        END IF;
        IF coalesce(carbonmkt._num(p_table, r, 'lot'), 0) < 1 OR coalesce(carbonmkt._num(p_table, r, 'tick_fen'), 0) < 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the lot (t) and the price step (fen) must be at least 1: got %s t and %s fen', coalesce(r ->> 'lot', 'NULL'), coalesce(r ->> 'tick_fen', 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'band');
        IF x IS NOT NULL AND (x <= 0 OR x >= 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the price band must be more than 0%% and less than 100%% of the previous close: got %s%%', trim_scale(x * 100)));
        END IF;
        x := carbonmkt._num(p_table, r, 'fee_rate');
        IF x IS NULL OR x < 0 OR x > 0.01 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the fee rate per side must be in [0, 0.01] (1%%): got %s', coalesce(x::text, 'NULL')));
        END IF;
        IF ((r ->> 'mode') = 'auction') <> (r ->> 'clearing_rule' IS NOT NULL) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'one-way bidding (mode auction), and only it, needs a clearing rule (uniform or pay_as_bid)');
        END IF;
    ELSIF p_table = 'market_session' THEN
        IF (r ->> 'opens')::time >= (r ->> 'closes')::time THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a session must open before it closes: %s to %s', r ->> 'opens', r ->> 'closes'));
        END IF;
    ELSIF p_table = 'trader_rule' THEN
        x := carbonmkt._num(p_table, r, 'max_position');
        IF x IS NOT NULL AND x <= 0 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a position limit must be positive: got %s t', x));
        END IF;
    ELSIF p_table = 'offset_rule' THEN
        x := carbonmkt._num(p_table, r, 'ratio');
        IF x IS NULL OR x < 0 OR x > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the offset ratio must be in [0, 1]: got %s', coalesce(x::text, 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'local_share_min');
        IF x IS NOT NULL AND (x <= 0 OR x > 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the minimum local share must be more than 0 and at most 1: got %s', x));
        END IF;
    ELSIF p_table = 'relief_rule' THEN
        x := carbonmkt._num(p_table, r, 'gap_cap_share');
        IF x IS NOT NULL AND (x < 0 OR x > 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the gap cap share must be in [0, 1]: got %s', x));
        END IF;
        x := carbonmkt._num(p_table, r, 'borrowing_min_gap_share');
        y := carbonmkt._num(p_table, r, 'borrowing_max_share');
        IF (x IS NULL) <> (y IS NULL) OR x < 0 OR x > 1 OR y <= 0 OR y > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('borrowing needs both a minimum gap share in [0, 1] and a maximum share in (0, 1]: got %s and %s',
                       coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL')));
        END IF;
    ELSIF p_table = 'penalty_rule' THEN
        IF (r ->> 'fine_basis') = 'fixed' THEN
            x := carbonmkt._num(p_table, r, 'fine_min_fen');
            y := carbonmkt._num(p_table, r, 'fine_default_fen');
            z := carbonmkt._num(p_table, r, 'fine_max_fen');
            IF x IS NULL OR y IS NULL OR z IS NULL OR x < 0 OR NOT (x <= y AND y <= z) THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a fixed fine needs 0 <= fine_min_fen <= fine_default_fen <= fine_max_fen: got %s, %s, %s fen',
                           coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL'), coalesce(z::text, 'NULL')));
            END IF;
        ELSIF (r ->> 'fine_basis') = 'price_multiple' THEN
            x := carbonmkt._num(p_table, r, 'multiple_min');
            y := carbonmkt._num(p_table, r, 'multiple_default');
            z := carbonmkt._num(p_table, r, 'multiple_max');
            IF x IS NULL OR y IS NULL OR z IS NULL OR x <= 0 OR NOT (x <= y AND y <= z)
               OR coalesce(carbonmkt._num(p_table, r, 'price_months'), 0) NOT BETWEEN 1 AND 24 THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a price-multiple fine needs 0 < multiple_min <= multiple_default <= multiple_max and price_months in 1-24: got %s, %s, %s and %s months',
                           coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL'), coalesce(z::text, 'NULL'), coalesce(r ->> 'price_months', 'NULL')));
            END IF;
        END IF;
        x := carbonmkt._num(p_table, r, 'cut_multiple');
        IF x IS NOT NULL AND (x < 0 OR x > 10) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the allocation cut multiple must be in [0, 10]: got %s', x));
        END IF;
    ELSIF p_table = 'mrv_rule' THEN
        x := carbonmkt._num(p_table, r, 'review_sample_share');
        y := carbonmkt._num(p_table, r, 'deviation_threshold');
        IF x IS NULL OR x < 0 OR x > 1 OR y IS NULL OR y < 0 OR y > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the review sample share and the deviation threshold must be in [0, 1]: got %s and %s',
                       coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL')));
        END IF;
    ELSIF p_table = 'mrv_gwp' THEN
        x := carbonmkt._num(p_table, r, 'gwp');
        IF x IS NULL OR x <= 0 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a GWP must be positive (tCO2e per t of the gas): got %s', coalesce(x::text, 'NULL')));
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_validate(text, jsonb) IS
  'Internal: checks one rule row (as jsonb) against the limits of its table (doc/rules.md); CM502 naming the rule, the limit and the number.';

-- The curve of F_load must be continuous and never increase with the load factor.
CREATE FUNCTION carbonmkt._load_curve_check(p_jurisdiction text, p_year int) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    f       numeric;
    prev    numeric;
    lprev   numeric;
    p       carbonmkt.alloc_load_piece;
    v       numeric;
    w       numeric;
    n       int := 0;
BEGIN
    FOR p IN SELECT * FROM carbonmkt.alloc_load_piece x WHERE x.jurisdiction = p_jurisdiction AND x.year = p_year
              ORDER BY x.lower_bound LOOP
        n := n + 1;
        IF n = 1 AND p.lower_bound <> 0 THEN
            RAISE EXCEPTION 'alloc_load_piece (jurisdiction %, year %): the first piece must start at load factor 0: got %',
                p_jurisdiction, p_year, p.lower_bound
                USING ERRCODE = 'CM502', HINT = 'Set a year''s pieces together: set_rule(''alloc_load_piece'', {"jurisdiction", "year", "pieces": [...]}).';
        END IF;
        -- the value at the lower bound, from this piece and from the one before it
        v := CASE p.kind WHEN 'linear' THEN p.a + p.b * (p.pivot - 100 * p.lower_bound)
                         ELSE power(p.base, p.c - p.d * p.lower_bound) END;
        IF prev IS NOT NULL AND abs(prev - v) > 0.0005 THEN
            RAISE EXCEPTION 'alloc_load_piece (jurisdiction %, year %): F_load jumps at load factor %: % below, % above',
                p_jurisdiction, p_year, p.lower_bound, round(prev, 4), round(v, 4)
                USING ERRCODE = 'CM502', DETAIL = 'Neighbouring pieces must meet at their common bound.';
        END IF;
        -- within the piece: never increasing with F (checked at both ends and the middle)
        w := CASE p.kind WHEN 'linear' THEN p.a + p.b * (p.pivot - 100 * p.lower_bound - 0.5)
                         ELSE power(p.base, p.c - p.d * (p.lower_bound + 0.005)) END;
        IF w > v + 0.0000001 THEN
            RAISE EXCEPTION 'alloc_load_piece (jurisdiction %, year %): F_load rises with the load factor above %: % at %, % at %',
                p_jurisdiction, p_year, p.lower_bound, round(v, 4), p.lower_bound, round(w, 4), p.lower_bound + 0.005
                USING ERRCODE = 'CM502', DETAIL = 'The load-factor correction must not increase as the load factor rises (monotone pieces).';
        END IF;
        lprev := p.lower_bound;
        -- the value at the next bound from this piece: evaluated when the next piece is read
        prev := NULL;
        SELECT min(x.lower_bound) INTO f FROM carbonmkt.alloc_load_piece x
         WHERE x.jurisdiction = p_jurisdiction AND x.year = p_year AND x.lower_bound > p.lower_bound;
        IF f IS NOT NULL THEN
            prev := CASE p.kind WHEN 'linear' THEN p.a + p.b * (p.pivot - 100 * f) ELSE power(p.base, p.c - p.d * f) END;
            IF prev > v + 0.0000001 THEN
                RAISE EXCEPTION 'alloc_load_piece (jurisdiction %, year %): F_load rises with the load factor between % and %: % to %',
                    p_jurisdiction, p_year, p.lower_bound, f, round(v, 4), round(prev, 4)
                    USING ERRCODE = 'CM502', DETAIL = 'The load-factor correction must not increase as the load factor rises (monotone pieces).';
            END IF;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION carbonmkt._load_curve_check(text, int) IS
  'Internal: CM502 unless the load-factor pieces of a jurisdiction and year start at 0, meet at their bounds (within 0.0005) and never increase with the load factor.';

-- Overlaps (CM503) and rules a computation used (CM506) ---------------------------------------

CREATE FUNCTION carbonmkt._rule_group_cols(p_table text) RETURNS text[]
LANGUAGE sql STABLE AS
$$ SELECT array_agg(c ORDER BY o) FROM unnest(carbonmkt._rule_columns(p_table, true)) WITH ORDINALITY u(c, o)
    WHERE c NOT IN ('from_year', 'valid_from', 'opens') $$;
COMMENT ON FUNCTION carbonmkt._rule_group_cols(text) IS
  'Internal: the key columns that name a rule apart from its effective period (for overlaps): the primary key without from_year, valid_from (and a session''s opening time).';

CREATE FUNCTION carbonmkt._rule_overlap(p_table text, r jsonb, p_self jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    m       carbonmkt.rule_table := carbonmkt._rule_meta(p_table);
    cond    text;
    o       jsonb;
BEGIN
    SELECT string_agg(format('t.%I IS NOT DISTINCT FROM (SELECT x.%I FROM jsonb_populate_record(NULL::carbonmkt.%I, $1) x)',
                             c, c, p_table), ' AND ')
      INTO cond FROM unnest(carbonmkt._rule_group_cols(p_table)) c;
    IF m.period_kind = 'from_year' THEN
        EXECUTE format('SELECT to_jsonb(t) FROM carbonmkt.%I t WHERE %s AND ($2 IS NULL OR to_jsonb(t) <> $2)
                          AND t.from_year <= coalesce(($1 ->> ''until_year'')::int, 2100)
                          AND coalesce(t.until_year, 2100) >= ($1 ->> ''from_year'')::int
                        ORDER BY t.from_year LIMIT 1', p_table, cond)
           INTO o USING r, p_self;
        IF o IS NOT NULL THEN
            RAISE EXCEPTION '%: years %-% overlap the rule in force %-%', carbonmkt._rule_name(p_table, carbonmkt._rule_key(p_table, r)),
                r ->> 'from_year', coalesce(r ->> 'until_year', '(open)'), o ->> 'from_year', coalesce(o ->> 'until_year', '(open)')
                USING ERRCODE = 'CM503',
                      DETAIL = 'Effective periods of one rule must not overlap; nothing was changed.',
                      HINT = CASE WHEN (o ->> 'from_year')::int < (r ->> 'from_year')::int
                                  THEN format('End the rule in force first: carbonmkt.retire_rule(%L, %L, document, last_year => %s).',
                                              p_table, carbonmkt._rule_key(p_table, o), (r ->> 'from_year')::int - 1)
                                  ELSE format('Change that rule with carbonmkt.amend_rule(%L, %L, ...), or set this one for other years.',
                                              p_table, carbonmkt._rule_key(p_table, o)) END;
        END IF;
    ELSIF m.period_kind = 'valid_from' THEN
        EXECUTE format('SELECT to_jsonb(t) FROM carbonmkt.%I t WHERE %s AND ($2 IS NULL OR to_jsonb(t) <> $2)
                          AND t.valid_from <> ($1 ->> ''valid_from'')::date
                          AND t.valid_from <= coalesce(($1 ->> ''valid_until'')::date, ''infinity'')
                          AND coalesce(t.valid_until, ''infinity'') >= ($1 ->> ''valid_from'')::date
                        ORDER BY t.valid_from LIMIT 1', p_table, cond)
           INTO o USING r, p_self;
        IF o IS NOT NULL THEN
            RAISE EXCEPTION '%: days % to % overlap the rule in force % to %', carbonmkt._rule_name(p_table, carbonmkt._rule_key(p_table, r)),
                r ->> 'valid_from', coalesce(r ->> 'valid_until', '(open)'), o ->> 'valid_from', coalesce(o ->> 'valid_until', '(open)')
                USING ERRCODE = 'CM503',
                      DETAIL = 'Effective periods of one rule must not overlap; nothing was changed.',
                      HINT = CASE WHEN (o ->> 'valid_from')::date < (r ->> 'valid_from')::date
                                  THEN format('End the rule in force first: carbonmkt.retire_rule(%L, %L, document, last_day => %L).',
                                              p_table, carbonmkt._rule_key(p_table, o), (r ->> 'valid_from')::date - 1)
                                  ELSE format('Change that rule with carbonmkt.amend_rule(%L, %L, ...), or set this one for other days.',
                                              p_table, carbonmkt._rule_key(p_table, o)) END;
        END IF;
        IF p_table = 'market_session' THEN
            SELECT to_jsonb(t) INTO o FROM carbonmkt.market_session t
             WHERE t.jurisdiction = r ->> 'jurisdiction' AND t.mode::text = r ->> 'mode'
               AND t.valid_from = (r ->> 'valid_from')::date AND (p_self IS NULL OR to_jsonb(t) <> p_self)
               AND t.opens < (r ->> 'closes')::time AND t.closes > (r ->> 'opens')::time;
            IF o IS NOT NULL THEN
                RAISE EXCEPTION '%: session % to % overlaps the session % to %',
                    carbonmkt._rule_name(p_table, carbonmkt._rule_key(p_table, r)), r ->> 'opens', r ->> 'closes',
                    o ->> 'opens', o ->> 'closes'
                    USING ERRCODE = 'CM503', DETAIL = 'Nothing was changed.';
            END IF;
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_overlap(text, jsonb, jsonb) IS
  'Internal: CM503 when a rule row''s effective period (from_year .. until_year, valid_from .. valid_until) overlaps another row of the same rule (p_self: the row being amended).';

-- Whether a computation used the years or days of a rule row: p_from .. p_to are the
-- years (or, for market rules, whether any day up to today is affected).
CREATE FUNCTION carbonmkt._rule_in_use(p_table text, r jsonb, p_from int, p_to int) RETURNS text
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    m   carbonmkt.rule_table := carbonmkt._rule_meta(p_table);
    j   text := r ->> 'jurisdiction';
    x   record;
BEGIN
    IF m.room = 'allocation' THEN
        SELECT run_id, kind, year INTO x FROM carbonmkt.allocation_run a
         WHERE a.jurisdiction = j AND a.year BETWEEN p_from AND p_to ORDER BY run_id LIMIT 1;
        IF FOUND THEN
            RETURN format('allocation run %s (%s, %s) used it', x.run_id, x.kind, x.year);
        END IF;
    ELSIF m.room = 'compliance' AND m.period_kind = 'from_year' THEN
        SELECT period, status, first_year INTO x FROM carbonmkt.compliance_period p
         WHERE p.jurisdiction = j AND p.first_year BETWEEN p_from AND p_to ORDER BY period LIMIT 1;
        IF FOUND THEN
            RETURN format('compliance period %s (%s, from %s) uses it', x.period, x.status, x.first_year);
        END IF;
    ELSIF p_table = 'mrv_rule' THEN
        SELECT rp.report_id, rp.year INTO x FROM carbonmkt.mrv_report rp JOIN carbonmkt.participant pt USING (participant_id)
         WHERE rp.year BETWEEN p_from AND p_to
           AND (j = 'CN' OR pt.province = (SELECT jj.province FROM carbonmkt.jurisdiction jj WHERE jj.code = j))
         ORDER BY rp.report_id LIMIT 1;
        IF FOUND THEN
            RETURN format('emission report %s of %s was assessed under it', x.report_id, x.year);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_in_use(text, jsonb, int, int) IS
  'Internal: why a rule row of the given years is in use (an allocation run of its jurisdiction and year, a compliance period starting in its years, an emission report of its years), or NULL.';

-- The administration functions -----------------------------------------------------------------

CREATE FUNCTION carbonmkt._rule_begin(p_action text, p_document text, p_actor bigint) RETURNS void
LANGUAGE plpgsql AS
$$
BEGIN
    IF p_document IS NULL OR btrim(p_document) = '' THEN
        RAISE EXCEPTION 'a rule change needs the document it implements (e.g. the notice number)'
            USING ERRCODE = 'CM502', HINT = 'Pass document => ''...''; it is recorded in carbonmkt.rule_change.';
    END IF;
    PERFORM set_config('carbonmkt_rules.action', p_action, true),
            set_config('carbonmkt_rules.document', p_document, true),
            set_config('carbonmkt_rules.actor', coalesce(p_actor::text, ''), true);
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_begin(text, text, bigint) IS
  'Internal: checks the document and tells the history trigger (carbonmkt._rule_log) the action, the document and the participant of the changes that follow in this transaction.';

CREATE FUNCTION carbonmkt._rule_end() RETURNS void
LANGUAGE sql AS
$$ SELECT set_config('carbonmkt_rules.action', '', true), set_config('carbonmkt_rules.document', '', true),
          set_config('carbonmkt_rules.actor', '', true) $$;
COMMENT ON FUNCTION carbonmkt._rule_end() IS 'Internal: clears what _rule_begin told the history trigger.';

CREATE FUNCTION carbonmkt._rule_insert(p_table text, r jsonb) RETURNS void
LANGUAGE plpgsql AS
$$
DECLARE
    cols    text;
BEGIN
    SELECT string_agg(quote_ident(k), ', ') INTO cols FROM jsonb_object_keys(r) k;
    EXECUTE format('INSERT INTO carbonmkt.%I (%s) SELECT %s FROM jsonb_populate_record(NULL::carbonmkt.%I, $1)',
                   p_table, cols, cols, p_table) USING r;
EXCEPTION
    WHEN unique_violation THEN
        RAISE EXCEPTION '%: exists already', carbonmkt._rule_name(p_table, carbonmkt._rule_key(p_table, r))
            USING ERRCODE = 'CM503', DETAIL = 'Nothing was changed.',
                  HINT = 'Change it with carbonmkt.amend_rule(), or set the rule for other years or days.';
    WHEN check_violation OR not_null_violation OR foreign_key_violation OR invalid_text_representation
         OR datatype_mismatch OR numeric_value_out_of_range OR invalid_datetime_format OR datetime_field_overflow
         OR invalid_parameter_value OR string_data_right_truncation THEN
        RAISE EXCEPTION '%: %', carbonmkt._rule_name(p_table, carbonmkt._rule_key(p_table, r)), SQLERRM
            USING ERRCODE = 'CM502', DETAIL = format('The row was %s; nothing was changed.', r);
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_insert(text, jsonb) IS
  'Internal: inserts one rule row given as jsonb (only its keys; defaults for the rest); CM503 when it exists, CM502 for a value its table refuses.';

CREATE FUNCTION carbonmkt.set_rule(rule_table text, rule jsonb, document text, acting_for bigint DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    m       carbonmkt.rule_table := carbonmkt._rule_meta(rule_table);
    me      carbonmkt.participant;
    j       text := rule ->> 'jurisdiction';
    y1      int;
    y2      int;
    yr      int;
    r       jsonb;
    todo    jsonb[] := '{}';
    piece   jsonb;
    why     text;
    n       int := 0;
BEGIN
    IF rule IS NULL OR jsonb_typeof(rule) <> 'object' THEN
        RAISE EXCEPTION 'a rule of % is a jsonb object of its columns: got %', rule_table, coalesce(rule::text, 'NULL')
            USING ERRCODE = 'CM502';
    END IF;
    IF m.period_kind = 'calendar' THEN
        RAISE EXCEPTION 'the trading calendar is loaded with carbonmkt.load_trading_calendar() and changed with carbonmkt.set_trading_day()'
            USING ERRCODE = 'CM502';
    END IF;
    IF 'jurisdiction' = ANY (carbonmkt._rule_columns(rule_table)) THEN
        PERFORM carbonmkt.check_jurisdiction(j);
    END IF;
    me := carbonmkt._rule_actor(rule_table, j, acting_for);
    PERFORM carbonmkt._rule_begin('set', document, me.participant_id);
    IF 'source' = ANY (carbonmkt._rule_columns(rule_table)) AND NOT rule ? 'source' THEN
        rule := rule || jsonb_build_object('source', document);
    END IF;

    -- the rows: one per year for the year tables (year, or from_year .. to_year)
    IF m.period_kind = 'year' THEN
        y1 := coalesce(rule ->> 'year', rule ->> 'from_year')::int;
        y2 := coalesce(rule ->> 'to_year', rule ->> 'year', rule ->> 'from_year')::int;
        IF y1 IS NULL OR y2 < y1 OR y1 < 2005 OR y2 > 2100 THEN
            RAISE EXCEPTION '% rules are set for a year or for from_year .. to_year within 2005-2100: got % to %',
                rule_table, coalesce(y1::text, 'NULL'), coalesce(y2::text, 'NULL')
                USING ERRCODE = 'CM502';
        END IF;
        rule := rule - 'year' - 'from_year' - 'to_year';
        FOR yr IN y1 .. y2 LOOP
            SELECT a.run_id || ' (' || a.kind || ')' INTO why FROM carbonmkt.allocation_run a
             WHERE a.jurisdiction = j AND a.year = yr AND a.kind = 'final' ORDER BY a.run_id LIMIT 1;
            IF why IS NOT NULL THEN
                RAISE EXCEPTION '% rules of jurisdiction % for % cannot be added: the allocation of % is final (run %)',
                    rule_table, j, yr, yr, why
                    USING ERRCODE = 'CM506', DETAIL = 'Nothing was changed.';
            END IF;
            IF rule_table = 'alloc_load_piece' THEN
                IF jsonb_typeof(rule -> 'pieces') IS DISTINCT FROM 'array' THEN
                    RAISE EXCEPTION 'alloc_load_piece rules are set a year''s whole curve at once: {"jurisdiction", "year", "pieces": [{"lower_bound", "kind", ...}, ...]}'
                        USING ERRCODE = 'CM502';
                END IF;
                IF EXISTS (SELECT 1 FROM carbonmkt.alloc_load_piece x WHERE x.jurisdiction = j AND x.year = yr) THEN
                    RAISE EXCEPTION 'alloc_load_piece (jurisdiction %, year %): the year''s curve exists already', j, yr
                        USING ERRCODE = 'CM503', DETAIL = 'Nothing was changed.', HINT = 'Change a piece with carbonmkt.amend_rule().';
                END IF;
                FOR piece IN SELECT value FROM jsonb_array_elements(rule -> 'pieces') LOOP
                    todo := todo || ((rule - 'pieces') || piece || jsonb_build_object('year', yr));
                END LOOP;
            ELSE
                todo := todo || (rule || jsonb_build_object('year', yr));
            END IF;
        END LOOP;
    ELSE
        todo := ARRAY[rule];
    END IF;

    FOREACH r IN ARRAY todo LOOP
        PERFORM carbonmkt._rule_validate(rule_table, r);
        IF m.period_kind = 'from_year' THEN
            IF r ->> 'from_year' IS NULL THEN
                RAISE EXCEPTION '% rules need from_year (and until_year, NULL = until replaced)', rule_table USING ERRCODE = 'CM502';
            END IF;
            PERFORM carbonmkt._rule_overlap(rule_table, r);
            why := carbonmkt._rule_in_use(rule_table, r, (r ->> 'from_year')::int, coalesce((r ->> 'until_year')::int, 2100));
            IF why IS NOT NULL THEN
                RAISE EXCEPTION '%: cannot be set for years already under way: %',
                    carbonmkt._rule_name(rule_table, carbonmkt._rule_key(rule_table, r)), why
                    USING ERRCODE = 'CM506', DETAIL = 'Nothing was changed.', HINT = 'Set the rule from a later year.';
            END IF;
        ELSIF m.period_kind = 'valid_from' THEN
            IF r ->> 'valid_from' IS NULL OR (r ->> 'valid_from')::date <= carbonmkt.business_date() THEN
                RAISE EXCEPTION '%: a market rule takes effect after today (%): got valid_from %',
                    carbonmkt._rule_name(rule_table, carbonmkt._rule_key(rule_table, r)), to_char(carbonmkt.business_date(), 'YYYY-MM-DD'),
                    coalesce(r ->> 'valid_from', 'NULL')
                    USING ERRCODE = 'CM506', DETAIL = 'Days already traded keep their rules; nothing was changed.';
            END IF;
            PERFORM carbonmkt._rule_overlap(rule_table, r);
        END IF;
        PERFORM carbonmkt._rule_insert(rule_table, r);
        n := n + 1;
    END LOOP;
    IF rule_table = 'alloc_load_piece' THEN
        FOR yr IN y1 .. y2 LOOP
            PERFORM carbonmkt._load_curve_check(j, yr);
        END LOOP;
    END IF;
    PERFORM carbonmkt._rule_end();
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt.set_rule(text, jsonb, text, bigint) IS
  'Sets a new rule: rule is a jsonb object of the table''s columns; the year tables take year or from_year and to_year (one row per year; alloc_load_piece takes the year''s whole curve as "pieces"), the from_year tables from_year and until_year (NULL = until replaced), the market tables valid_from (after today) and valid_until.  document is what it implements (e.g. a notice number; also the row''s source unless given).  Validated (CM502), no overlap with the rule''s other periods (CM503), not for years a computation used (CM506); who may call it: doc/rules.md.  Returns the rows set.';

CREATE FUNCTION carbonmkt._rule_row(p_table text, p_key jsonb) RETURNS jsonb
LANGUAGE plpgsql AS
$$
DECLARE
    cond    text;
    o       jsonb;
    missing text;
BEGIN
    SELECT string_agg(c, ', ') INTO missing FROM unnest(carbonmkt._rule_columns(p_table, true)) c
     WHERE p_key IS NULL OR NOT p_key ? c;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'a rule of % is named by its key: % missing', p_table, missing
            USING ERRCODE = 'CM502', DETAIL = format('The key of %s is %s.', p_table,
                                                    array_to_string(carbonmkt._rule_columns(p_table, true), ', '));
    END IF;
    SELECT string_agg(format('t.%I = (SELECT x.%I FROM jsonb_populate_record(NULL::carbonmkt.%I, $1) x)', c, c, p_table), ' AND ')
      INTO cond FROM unnest(carbonmkt._rule_columns(p_table, true)) c;
    EXECUTE format('SELECT to_jsonb(t) FROM carbonmkt.%I t WHERE %s FOR UPDATE', p_table, cond) INTO o USING p_key;
    IF o IS NULL THEN
        RAISE EXCEPTION 'no rule %', carbonmkt._rule_name(p_table, p_key)
            USING ERRCODE = 'CM505', HINT = 'See carbonmkt.rules_in_force() and carbonmkt.rule_history.';
    END IF;
    RETURN o;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_row(text, jsonb) IS 'Internal: the rule row of a key, locked; CM505 when there is none.';

CREATE FUNCTION carbonmkt._rule_update(p_table text, p_key jsonb, p_new jsonb) RETURNS void
LANGUAGE plpgsql AS
$$
DECLARE
    cond    text;
    cols    text;
BEGIN
    SELECT string_agg(format('t.%I = (SELECT x.%I FROM jsonb_populate_record(NULL::carbonmkt.%I, $1) x)', c, c, p_table), ' AND ')
      INTO cond FROM unnest(carbonmkt._rule_columns(p_table, true)) c;
    SELECT string_agg(quote_ident(c), ', ') INTO cols FROM unnest(carbonmkt._rule_columns(p_table)) c;
    EXECUTE format('UPDATE carbonmkt.%I t SET (%s) = (SELECT %s FROM jsonb_populate_record(NULL::carbonmkt.%I, $2)) WHERE %s',
                   p_table, cols, cols, p_table, cond) USING p_key, p_new;
EXCEPTION
    WHEN check_violation OR not_null_violation OR foreign_key_violation OR invalid_text_representation
         OR datatype_mismatch OR numeric_value_out_of_range OR invalid_datetime_format OR datetime_field_overflow
         OR invalid_parameter_value OR string_data_right_truncation THEN
        RAISE EXCEPTION '%: %', carbonmkt._rule_name(p_table, p_key), SQLERRM
            USING ERRCODE = 'CM502', DETAIL = format('The row would be %s; nothing was changed.', p_new);
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_update(text, jsonb, jsonb) IS 'Internal: replaces a rule row (by key) with a jsonb row; CM502 for a value its table refuses.';

CREATE FUNCTION carbonmkt.amend_rule(rule_table text, rule_key jsonb, changes jsonb, document text,
                                     acting_for bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    m       carbonmkt.rule_table := carbonmkt._rule_meta(rule_table);
    me      carbonmkt.participant;
    o       jsonb;
    n       jsonb;
    why     text;
    k       text;
BEGIN
    IF m.period_kind = 'calendar' THEN
        RAISE EXCEPTION 'a trading day is changed with carbonmkt.set_trading_day()' USING ERRCODE = 'CM502';
    END IF;
    IF rule_key ? 'jurisdiction' THEN
        PERFORM carbonmkt.check_jurisdiction(rule_key ->> 'jurisdiction');
    END IF;
    o := carbonmkt._rule_row(rule_table, rule_key);
    me := carbonmkt._rule_actor(rule_table, o ->> 'jurisdiction', acting_for);
    PERFORM carbonmkt._rule_begin('amend', document, me.participant_id);
    IF changes IS NULL OR jsonb_typeof(changes) <> 'object' OR changes = '{}' THEN
        RAISE EXCEPTION 'amend_rule needs the changed columns as a jsonb object: got %', coalesce(changes::text, 'NULL')
            USING ERRCODE = 'CM502';
    END IF;
    SELECT string_agg(c, ', ') INTO k FROM jsonb_object_keys(changes) c
     WHERE c = ANY (carbonmkt._rule_columns(rule_table, true)) AND changes -> c IS DISTINCT FROM o -> c;
    IF k IS NOT NULL THEN
        RAISE EXCEPTION '%: the key (%) of a rule is not amended', carbonmkt._rule_name(rule_table, rule_key), k
            USING ERRCODE = 'CM502', HINT = 'Set a rule with the new key (set_rule) and retire this one (retire_rule).';
    END IF;
    n := o || changes;
    IF 'source' = ANY (carbonmkt._rule_columns(rule_table)) AND NOT changes ? 'source' THEN
        n := n || jsonb_build_object('source', document);
    END IF;
    PERFORM carbonmkt._rule_validate(rule_table, n);
    IF m.period_kind = 'year' THEN
        why := carbonmkt._rule_in_use(rule_table, o, (o ->> 'year')::int, (o ->> 'year')::int);
    ELSIF m.period_kind = 'from_year' THEN
        why := carbonmkt._rule_in_use(rule_table, o, (o ->> 'from_year')::int, coalesce((o ->> 'until_year')::int, 2100));
        PERFORM carbonmkt._rule_overlap(rule_table, n, o);
    ELSIF m.period_kind = 'valid_from' THEN
        IF (o ->> 'valid_from')::date <= carbonmkt.business_date() THEN
            why := format('it is in force since %s (today is %s)', o ->> 'valid_from', to_char(carbonmkt.business_date(), 'YYYY-MM-DD'));
        END IF;
        PERFORM carbonmkt._rule_overlap(rule_table, n, o);
    END IF;
    IF why IS NOT NULL THEN
        RAISE EXCEPTION '%: cannot be amended: %', carbonmkt._rule_name(rule_table, rule_key), why
            USING ERRCODE = 'CM506',
                  DETAIL = 'A rule a computation used is never changed; nothing was changed.',
                  HINT = 'End it (retire_rule) and set the new value for the following years or days (set_rule).';
    END IF;
    PERFORM carbonmkt._rule_update(rule_table, rule_key, n);
    IF rule_table = 'alloc_load_piece' THEN
        PERFORM carbonmkt._load_curve_check(o ->> 'jurisdiction', (o ->> 'year')::int);
    END IF;
    PERFORM carbonmkt._rule_end();
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt.amend_rule(text, jsonb, jsonb, text, bigint) IS
  'Amends a rule row named by its key (jsonb of the primary key columns) with the changed columns (not the key); validated like set_rule (CM502, CM503); refused for a rule a computation used (CM506: an allocation run of its year, a compliance period starting in its years, an emission report of its years, a market rule already in force).  Returns the new row.';

CREATE FUNCTION carbonmkt.retire_rule(rule_table text, rule_key jsonb, document text, last_year int DEFAULT NULL,
                                      last_day date DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    m       carbonmkt.rule_table := carbonmkt._rule_meta(rule_table);
    me      carbonmkt.participant;
    o       jsonb;
    n       jsonb;
    why     text;
BEGIN
    IF m.period_kind IN ('none', 'calendar') THEN
        RAISE EXCEPTION 'rows of % are amended, never retired', rule_table USING ERRCODE = 'CM502';
    END IF;
    IF rule_key ? 'jurisdiction' THEN
        PERFORM carbonmkt.check_jurisdiction(rule_key ->> 'jurisdiction');
    END IF;
    o := carbonmkt._rule_row(rule_table, rule_key);
    me := carbonmkt._rule_actor(rule_table, o ->> 'jurisdiction', acting_for);
    PERFORM carbonmkt._rule_begin('retire', document, me.participant_id);
    IF m.period_kind = 'year' THEN
        -- a year's row: removed while no computation used it
        why := carbonmkt._rule_in_use(rule_table, o, (o ->> 'year')::int, (o ->> 'year')::int);
        IF why IS NOT NULL THEN
            RAISE EXCEPTION '%: cannot be retired: %', carbonmkt._rule_name(rule_table, rule_key), why
                USING ERRCODE = 'CM506', DETAIL = 'A rule a computation used is kept; nothing was changed.';
        END IF;
        EXECUTE format('DELETE FROM carbonmkt.%I t WHERE to_jsonb(t) = $1', rule_table) USING o;
        IF rule_table = 'alloc_load_piece' THEN
            PERFORM carbonmkt._load_curve_check(o ->> 'jurisdiction', (o ->> 'year')::int);
        END IF;
        n := NULL;
    ELSIF m.period_kind = 'from_year' THEN
        IF last_year IS NULL OR last_year < (o ->> 'from_year')::int
           OR last_year >= coalesce((o ->> 'until_year')::int, 2101) THEN
            RAISE EXCEPTION '%: the last year must be within the rule''s years %-%: got %',
                carbonmkt._rule_name(rule_table, rule_key), o ->> 'from_year',
                coalesce((o ->> 'until_year')::int - 1, 2100), coalesce(last_year::text, 'NULL')
                USING ERRCODE = 'CM502', DETAIL = 'Nothing was changed.';
        END IF;
        why := carbonmkt._rule_in_use(rule_table, o, last_year + 1, coalesce((o ->> 'until_year')::int, 2100));
        IF why IS NOT NULL THEN
            RAISE EXCEPTION '%: cannot end in %: %', carbonmkt._rule_name(rule_table, rule_key), last_year, why
                USING ERRCODE = 'CM506', DETAIL = 'A rule a computation used is kept; nothing was changed.';
        END IF;
        n := o || jsonb_build_object('until_year', last_year);
        PERFORM carbonmkt._rule_update(rule_table, rule_key, n);
    ELSE
        IF last_day IS NULL OR last_day < (o ->> 'valid_from')::date - 1
           OR last_day >= coalesce((o ->> 'valid_until')::date + 1, 'infinity') THEN
            RAISE EXCEPTION '%: the last day must be within the rule''s days % to %: got %',
                carbonmkt._rule_name(rule_table, rule_key), o ->> 'valid_from', coalesce(o ->> 'valid_until', '(open)'),
                coalesce(to_char(last_day, 'YYYY-MM-DD'), 'NULL')
                USING ERRCODE = 'CM502', DETAIL = 'Nothing was changed.';
        END IF;
        IF last_day < carbonmkt.business_date() AND last_day >= (o ->> 'valid_from')::date THEN
            RAISE EXCEPTION '%: cannot end on % before today (%)', carbonmkt._rule_name(rule_table, rule_key),
                to_char(last_day, 'YYYY-MM-DD'), to_char(carbonmkt.business_date(), 'YYYY-MM-DD')
                USING ERRCODE = 'CM506', DETAIL = 'Days already traded keep their rules; nothing was changed.';
        END IF;
        IF last_day < (o ->> 'valid_from')::date THEN
            -- never in force: withdrawn
            IF (o ->> 'valid_from')::date <= carbonmkt.business_date() THEN
                RAISE EXCEPTION '%: in force since %, it cannot be withdrawn', carbonmkt._rule_name(rule_table, rule_key),
                    o ->> 'valid_from' USING ERRCODE = 'CM506';
            END IF;
            EXECUTE format('DELETE FROM carbonmkt.%I t WHERE to_jsonb(t) = $1', rule_table) USING o;
            n := NULL;
        ELSE
            n := o || jsonb_build_object('valid_until', last_day);
            PERFORM carbonmkt._rule_update(rule_table, rule_key, n);
        END IF;
    END IF;
    PERFORM carbonmkt._rule_end();
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt.retire_rule(text, jsonb, text, int, date, bigint) IS
  'Retires a rule: a from_year rule ends with last_year (until_year), a market rule with last_day (valid_until, today at the earliest; a rule not yet in force is withdrawn), a year row is removed while no allocation run of its year used it.  CM506 when a computation used the years or days it would lose.  Returns the new row (NULL when removed).';

-- The trading calendar ---------------------------------------------------------------------------

CREATE FUNCTION carbonmkt.load_trading_calendar(jurisdiction text, year int, holidays date[], document text,
                                                memos text[] DEFAULT NULL, weekend_trading_days date[] DEFAULT '{}',
                                                acting_for bigint DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    me      carbonmkt.participant;
    d       date;
    dup     date;
    n       int := 0;
BEGIN
    PERFORM carbonmkt.check_jurisdiction(jurisdiction);
    me := carbonmkt._rule_actor('trading_calendar', jurisdiction, acting_for);
    PERFORM carbonmkt._rule_begin('load', document, me.participant_id);
    IF year IS NULL OR year NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'trading_calendar: the year must be within 2005-2100: got %', coalesce(year::text, 'NULL')
            USING ERRCODE = 'CM502';
    END IF;
    IF EXISTS (SELECT 1 FROM carbonmkt.trading_calendar_year y
                WHERE y.jurisdiction = load_trading_calendar.jurisdiction AND y.year = load_trading_calendar.year) THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %, year %): the year''s calendar is loaded already', jurisdiction, year
            USING ERRCODE = 'CM503', DETAIL = 'Nothing was changed.', HINT = 'Change a day with carbonmkt.set_trading_day().';
    END IF;
    IF holidays IS NULL OR array_position(holidays, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %, year %): holidays must be a list of dates without NULL (empty: none)',
            jurisdiction, year USING ERRCODE = 'CM502';
    END IF;
    IF memos IS NOT NULL AND cardinality(memos) <> cardinality(holidays) THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %, year %): % notes for % holidays', jurisdiction, year,
            cardinality(memos), cardinality(holidays) USING ERRCODE = 'CM502';
    END IF;
    SELECT x INTO dup FROM unnest(holidays || coalesce(weekend_trading_days, '{}')) x GROUP BY x HAVING count(*) > 1
     ORDER BY x LIMIT 1;
    IF dup IS NOT NULL THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %, year %): day % is listed twice', jurisdiction, year, to_char(dup, 'YYYY-MM-DD')
            USING ERRCODE = 'CM502', DETAIL = 'Nothing was changed.';
    END IF;
    SELECT x INTO d FROM unnest(holidays || coalesce(weekend_trading_days, '{}')) x
     WHERE extract(year FROM x) <> load_trading_calendar.year ORDER BY x LIMIT 1;
    IF d IS NOT NULL THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %, year %): day % is not in %', jurisdiction, year, to_char(d, 'YYYY-MM-DD'), year
            USING ERRCODE = 'CM502', DETAIL = 'Nothing was changed.';
    END IF;
    SELECT x INTO d FROM unnest(coalesce(weekend_trading_days, '{}')) x WHERE extract(isodow FROM x) < 6 ORDER BY x LIMIT 1;
    IF d IS NOT NULL THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %, year %): % is a weekday, not a weekend trading day', jurisdiction, year,
            to_char(d, 'YYYY-MM-DD')
            USING ERRCODE = 'CM502', DETAIL = 'Nothing was changed.';
    END IF;
    INSERT INTO carbonmkt.trading_calendar_year (jurisdiction, year, source, loaded_by, loaded_at)
    VALUES (jurisdiction, year, document, session_user, carbonmkt.clock_now());
    INSERT INTO carbonmkt.trading_calendar AS c (jurisdiction, business_date, is_trading_day, note)
    SELECT load_trading_calendar.jurisdiction, h.d, false, h.note
      FROM unnest(holidays, coalesce(memos, array_fill(NULL::text, ARRAY[cardinality(holidays)]))) h(d, note)
     WHERE extract(isodow FROM h.d) < 6;
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO carbonmkt.trading_calendar AS c (jurisdiction, business_date, is_trading_day, note)
    SELECT load_trading_calendar.jurisdiction, w, true, 'weekend trading day'
      FROM unnest(coalesce(weekend_trading_days, '{}')) w;
    PERFORM carbonmkt._rule_end();
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt.load_trading_calendar(text, int, date[], text, text[], date[], bigint) IS
  'The exchange loads a year''s trading calendar: its holidays (with notes; weekend holidays are not stored: the exchange never trades on weekends) and any weekend trading days, citing the document (e.g. the State Council''s holiday notice).  Refused: a year loaded already (CM503), a day listed twice, a day of another year, a weekday as weekend trading day (CM502).  Until a year is loaded its dates are refused (CM507).  Returns the weekday holidays stored.';

CREATE FUNCTION carbonmkt.set_trading_day(jurisdiction text, day date, is_trading_day boolean, document text,
                                          memo text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    me      carbonmkt.participant;
    regular boolean;
BEGIN
    PERFORM carbonmkt.check_jurisdiction(jurisdiction);
    me := carbonmkt._rule_actor('trading_calendar', jurisdiction, acting_for);
    PERFORM carbonmkt._rule_begin('amend', document, me.participant_id);
    IF day IS NULL OR is_trading_day IS NULL THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %): a day and whether it trades are needed', jurisdiction USING ERRCODE = 'CM502';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.trading_calendar_year y
                    WHERE y.jurisdiction = set_trading_day.jurisdiction AND y.year = extract(year FROM day)) THEN
        RAISE EXCEPTION 'no trading calendar for % (jurisdiction %)', extract(year FROM day), jurisdiction
            USING ERRCODE = 'CM507', HINT = 'Load the year first with carbonmkt.load_trading_calendar().';
    END IF;
    IF day <= carbonmkt.business_date() THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %, business_date %): only days after today (%) can be changed',
            jurisdiction, to_char(day, 'YYYY-MM-DD'), to_char(carbonmkt.business_date(), 'YYYY-MM-DD') USING ERRCODE = 'CM506';
    END IF;
    regular := extract(isodow FROM day) < 6;
    DELETE FROM carbonmkt.trading_calendar c WHERE c.jurisdiction = set_trading_day.jurisdiction AND c.business_date = day;
    IF is_trading_day <> regular THEN
        INSERT INTO carbonmkt.trading_calendar AS c (jurisdiction, business_date, is_trading_day, note)
        VALUES (jurisdiction, day, is_trading_day, coalesce(memo, CASE WHEN is_trading_day THEN 'weekend trading day' END));
    END IF;
    PERFORM carbonmkt._rule_end();
    RETURN is_trading_day;
END
$$;
COMMENT ON FUNCTION carbonmkt.set_trading_day(text, date, boolean, text, text, bigint) IS
  'The exchange makes a future day of a loaded year a holiday or a trading day (e.g. an extra holiday announced late), citing the document.  CM507 for a year without a calendar, CM506 for today or a past day.';

-- Rules in force, history, and the rules a computation used ---------------------------------------

CREATE FUNCTION carbonmkt.rules_in_force(on_date date DEFAULT NULL, of_jurisdiction text DEFAULT NULL)
RETURNS TABLE (rule_table text, jurisdiction text, rule_key jsonb, rule jsonb, in_force_from date, in_force_until date,
               change_id bigint, document text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_column
DECLARE
    d   date := coalesce(on_date, carbonmkt.business_date());
    y   int := extract(year FROM coalesce(on_date, carbonmkt.business_date()));
    m   carbonmkt.rule_table;
    j   text := of_jurisdiction;
    w   text;
BEGIN
    IF j IS NOT NULL THEN
        PERFORM carbonmkt.check_jurisdiction(j);
    END IF;
    FOR m IN SELECT * FROM carbonmkt.rule_table ORDER BY room, rule_table LOOP
        w := CASE m.period_kind
               WHEN 'year' THEN format('t.year = %s', y)
               WHEN 'from_year' THEN format('t.from_year <= %s AND coalesce(t.until_year, 2100) >= %s', y, y)
               WHEN 'valid_from' THEN format('t.valid_from <= %L AND coalesce(t.valid_until, ''infinity'') >= %L', d, d)
               WHEN 'calendar' THEN format('t.business_date = %L', d)
               ELSE 'true' END;
        IF 'jurisdiction' = ANY (carbonmkt._rule_columns(m.rule_table)) AND j IS NOT NULL THEN
            w := w || format(' AND t.jurisdiction = %L', j);
        END IF;
        RETURN QUERY EXECUTE format(
            'SELECT %L::text, to_jsonb(t) ->> ''jurisdiction'', carbonmkt._rule_key(%L, to_jsonb(t)), to_jsonb(t),
                    %s, %s, h.change_id, h.document
               FROM carbonmkt.%I t
               LEFT JOIN LATERAL (SELECT c.change_id, c.document FROM carbonmkt.rule_change c
                                   WHERE c.rule_table = %L AND c.rule_key = carbonmkt._rule_key(%L, to_jsonb(t))
                                   ORDER BY c.change_id DESC LIMIT 1) h ON true
              WHERE %s ORDER BY 3',
            m.rule_table, m.rule_table,
            CASE m.period_kind WHEN 'year' THEN 'make_date(t.year, 1, 1)' WHEN 'from_year' THEN 'make_date(t.from_year, 1, 1)'
                               WHEN 'valid_from' THEN 't.valid_from' WHEN 'calendar' THEN 't.business_date' ELSE 'NULL::date' END,
            CASE m.period_kind WHEN 'year' THEN 'make_date(t.year, 12, 31)' WHEN 'from_year' THEN 'make_date(t.until_year, 12, 31)'
                               WHEN 'valid_from' THEN 't.valid_until' WHEN 'calendar' THEN 't.business_date' ELSE 'NULL::date' END,
            m.rule_table, m.rule_table, m.rule_table, w);
    END LOOP;
END
$$;
COMMENT ON FUNCTION carbonmkt.rules_in_force(date, text) IS
  'Every rule row in force on a date (default: today''s business date), optionally of one jurisdiction: the year rows of its year, the from_year rows covering its year, the market rows covering the day, the day''s calendar exception, the reference tables; with the period, the last change (rule_change) and its document.  The market''s sessions are those of the latest valid_from (market_session).';

CREATE VIEW carbonmkt.rule_history AS
SELECT c.change_id, c.rule_table, c.jurisdiction, c.rule_key, c.action, c.old_value, c.new_value, c.document,
       c.changed_by, c.acting_for, p.name AS acting_for_name, c.changed_at
  FROM carbonmkt.rule_change c LEFT JOIN carbonmkt.participant p ON p.participant_id = c.acting_for;
COMMENT ON VIEW carbonmkt.rule_history IS
  'The history of every rule (规则变更记录): who (login and participant), when, the old and the new row, the document.  Filter by rule_table and rule_key (e.g. rule_key @> ''{"jurisdiction": "CN", "category": "gas"}'').';

CREATE FUNCTION carbonmkt.rules_used(computation text, id bigint)
RETURNS TABLE (rule_table text, rule_key jsonb, rule jsonb, change_id bigint, document text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_column
DECLARE
    run     carbonmkt.allocation_run;
    per     carbonmkt._period_rules;
    per_id  int;
BEGIN
    IF computation = 'allocation_run' THEN
        SELECT * INTO run FROM carbonmkt.allocation_run r WHERE r.run_id = id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'allocation run % does not exist', id USING ERRCODE = 'CM505';
        END IF;
        RETURN QUERY
        WITH snap AS (
            SELECT CASE s.key WHEN 'year_rule' THEN 'alloc_year_rule' WHEN 'benchmark' THEN 'alloc_benchmark'
                              WHEN 'heat_factor' THEN 'alloc_heat_factor' WHEN 'cooling_factor' THEN 'alloc_cooling_factor'
                              WHEN 'load_piece' THEN 'alloc_load_piece' WHEN 'band' THEN 'alloc_band'
                              WHEN 'cap' THEN 'alloc_cap' END AS t,
                   CASE jsonb_typeof(s.value) WHEN 'array' THEN s.value ELSE jsonb_build_array(s.value) END AS v
              FROM jsonb_each(run.rules) s
             WHERE s.key IN ('year_rule', 'benchmark', 'heat_factor', 'cooling_factor', 'load_piece', 'band', 'cap')
               AND jsonb_typeof(s.value) IN ('array', 'object'))
        SELECT snap.t, carbonmkt._rule_key(snap.t, e.value), e.value, h.change_id, h.document
          FROM snap CROSS JOIN LATERAL jsonb_array_elements(snap.v) e
          LEFT JOIN LATERAL (SELECT c.change_id, c.document FROM carbonmkt.rule_change c
                              WHERE c.rule_table = snap.t AND c.rule_key = carbonmkt._rule_key(snap.t, e.value)
                                AND c.new_value = e.value
                              ORDER BY c.change_id DESC LIMIT 1) h ON true
         ORDER BY 1, 2::text;
    ELSIF computation IN ('period', 'sanction') THEN
        per_id := id;
        IF computation = 'sanction' THEN
            SELECT s.period INTO per_id FROM carbonmkt.sanction s WHERE s.sanction_id = id;
        END IF;
        SELECT * INTO per FROM carbonmkt._period_rules r WHERE r.period = per_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION '% % does not exist', computation, id USING ERRCODE = 'CM505';
        END IF;
        RETURN QUERY
        SELECT x.t, carbonmkt._rule_key(x.t, x.v), x.v, h.change_id, h.document
          FROM (SELECT 'offset_rule'::text AS t, to_jsonb(o) AS v FROM carbonmkt.offset_rule o
                 WHERE computation = 'period' AND o.jurisdiction = per.jurisdiction AND o.from_year = per.offset_rule_year
                UNION ALL
                SELECT 'relief_rule', to_jsonb(o) FROM carbonmkt.relief_rule o
                 WHERE computation = 'period' AND o.jurisdiction = per.jurisdiction AND o.from_year = per.relief_rule_year
                UNION ALL
                SELECT 'penalty_rule', to_jsonb(o) FROM carbonmkt.penalty_rule o
                 WHERE o.jurisdiction = per.jurisdiction AND o.from_year = per.penalty_rule_year) x
          LEFT JOIN LATERAL (SELECT c.change_id, c.document FROM carbonmkt.rule_change c
                              WHERE c.rule_table = x.t AND c.rule_key = carbonmkt._rule_key(x.t, x.v)
                              ORDER BY c.change_id DESC LIMIT 1) h ON true
         ORDER BY 1;
    ELSIF computation = 'order' THEN
        RETURN QUERY
        SELECT 'market_rule'::text, carbonmkt._rule_key('market_rule', to_jsonb(r)), to_jsonb(r), h.change_id, h.document
          FROM carbonmkt.market_order o JOIN carbonmkt.product p ON p.product_id = o.product_id
         CROSS JOIN LATERAL carbonmkt.market_rule_at(o.mode, o.business_date, p.jurisdiction) r
          LEFT JOIN LATERAL (SELECT c.change_id, c.document FROM carbonmkt.rule_change c
                              WHERE c.rule_table = 'market_rule' AND c.rule_key = carbonmkt._rule_key('market_rule', to_jsonb(r))
                              ORDER BY c.change_id DESC LIMIT 1) h ON true
         WHERE o.order_id = id;
    ELSE
        RAISE EXCEPTION 'unknown computation "%"', coalesce(computation, 'NULL')
            USING ERRCODE = 'CM505', HINT = 'Computations: allocation_run, period (its obligations), sanction, order.';
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt.rules_used(text, bigint) IS
  'The rule rows a computation used, with the change (rule_change) that made each row what it used and its document: allocation_run (the rows its run recorded: year rule, benchmarks, correction factors, load pieces, band, cap), period (the offset, relief and penalty rules of a compliance period: its obligations), sanction (the penalty rule), order (the market rule of its mode and day: size, band, step, fee).  A rule a computation used is never amended (CM506), so the row shown is the row used.';

-- The history trigger on every rule table, and the history of the shipped rows ---------------------

DO $$
DECLARE
    t   text;
    k   text[];
BEGIN
    FOR t IN SELECT rule_table FROM carbonmkt.rule_table LOOP
        k := carbonmkt._rule_columns(t, true);
        EXECUTE format('CREATE TRIGGER rule_history AFTER INSERT OR UPDATE OR DELETE ON carbonmkt.%I
                          FOR EACH ROW EXECUTE FUNCTION carbonmkt._rule_log(%s)',
                       t, (SELECT string_agg(quote_literal(c), ', ') FROM unnest(k) c));
        EXECUTE format('INSERT INTO carbonmkt.rule_change (rule_table, jurisdiction, rule_key, action, new_value, document,
                                                           changed_by, changed_at)
                        SELECT %L, to_jsonb(t) ->> ''jurisdiction'', carbonmkt._rule_key(%L, to_jsonb(t)), ''seed'', to_jsonb(t),
                               coalesce(to_jsonb(t) ->> ''source'', ''shipped with carbonmkt (doc/rules.md)''),
                               ''carbonmkt'', ''2025-01-01 00:00:00+08''
                          FROM carbonmkt.%I t ORDER BY 3', t, t, t);
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON carbonmkt.%I FROM PUBLIC', t);
    END LOOP;
END
$$;

-- Dump: the years the exchange loaded (the shipped 2025 row is recreated by CREATE EXTENSION)
SELECT pg_catalog.pg_extension_config_dump('carbonmkt.trading_calendar_year',
                                           'WHERE NOT (jurisdiction = ''CN'' AND year = 2025 AND loaded_by = ''carbonmkt'')');

-- Access -------------------------------------------------------------------------------------
-- The rules are public; every change goes through the functions above (who may call
-- what is checked inside them: doc/rules.md).

GRANT SELECT ON carbonmkt.rule_table, carbonmkt.rule_change, carbonmkt.rule_history, carbonmkt.trading_calendar_year TO PUBLIC;
REVOKE ALL ON FUNCTION carbonmkt.set_rule(text, jsonb, text, bigint), carbonmkt.amend_rule(text, jsonb, jsonb, text, bigint),
                       carbonmkt.retire_rule(text, jsonb, text, int, date, bigint),
                       carbonmkt.load_trading_calendar(text, int, date[], text, text[], date[], bigint),
                       carbonmkt.set_trading_day(text, date, boolean, text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.set_rule(text, jsonb, text, bigint), carbonmkt.amend_rule(text, jsonb, jsonb, text, bigint),
                          carbonmkt.retire_rule(text, jsonb, text, int, date, bigint)
   TO carbonmkt_authority, carbonmkt_exchange, carbonmkt_registry;
GRANT EXECUTE ON FUNCTION carbonmkt.load_trading_calendar(text, int, date[], text, text[], date[], bigint),
                          carbonmkt.set_trading_day(text, date, boolean, text, text, bigint)
   TO carbonmkt_exchange, carbonmkt_registry;

-- internal functions are not PUBLIC (as src/access.sql does for a fresh install)
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
              WHERE p.pronamespace = 'carbonmkt'::regnamespace AND p.proname LIKE '\_%' AND p.proacl IS NULL
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;


-- rule_change's sequence in every dump (src/operations.sql)
SELECT pg_catalog.pg_extension_config_dump('carbonmkt.rule_change_change_id_seq', '');

-- Rules, follow-up (issue 15): pending until the final allocation; rule rows with their sources ------
COMMENT ON TYPE carbonmkt.compliance_status IS
  'no_emissions: no confirmed emissions for all years of the period; open: obligation not yet met, deadline not passed; compliant: surrendered >= obligation (履约); shortfall: not met after the deadline or at close (未足额清缴); pending: the obligation depends (by a relief rule) on a final allocation not made yet (none, or only a pre-allocation; obligation_status.status_reason), never frozen at close.';

CREATE OR REPLACE VIEW carbonmkt._obligation_figures AS
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

COMMENT ON VIEW carbonmkt._obligation_figures IS
  'Internal, THE obligation formula: for every open period and every key emitting unit it covers (jurisdiction''s province or city, sector covered by the period''s last year), the live figures: confirmed emissions of all the period''s years (NULL if a year is missing), allocation (_allocation_source: allocation_result.allocated_t) and whether it is final for every year, relief (gas cap, gap cap) and why, obligation, gap, borrowing, the offset basis and cap; whether the unit is gas-fired (gas_basis facilities: every generating unit in a gas category; override: set_gas_fired) and, while a year of the period has no final allocation (核定配额: none at all, or only a pre-allocation) and a relief makes the obligation depend on it, why the obligation is pending.  Used by the surrender trigger, borrowing, close_period() and obligation_status.';

COMMENT ON VIEW carbonmkt.obligation_status IS
  'Compliance of each key emitting unit in each period (清缴履约情况): confirmed emissions, allocation, relief applied and why, obligation, CEA and CCER surrendered, remaining, borrowing, offset cap, status and EUTL-style code (A surrendered >= obligation, B less, C no confirmed emissions, D emissions estimated by the authority); status pending (code B) while a year of the period has no final allocation (none at all, or only a pre-allocation) and a relief makes the obligation depend on it, with the reason in status_reason (never compliant on a provisional obligation, unless the unit surrendered its whole emissions).  Live for open periods, frozen at close for closed ones.  A participant''s login sees its own rows, a provincial authority its province.';


-- Every shipped rule row cites its source (doc/rules.md, "The rows shipped with the
-- extension, and their sources"), and the numbers no source gives are not shipped: the
-- market's fee rates and the MRV rule's sample share, thresholds, deposit deadline and
-- tolerances become NULL (refused until an authority sets them, carbonmkt.amend_rule) where
-- a 0.1.0 database has them as 0.1.0 shipped them and no computation used them (an order of
-- the mode; an emission report or a deposit of the rule's years).  Used ones stay as they
-- were.  A row gets the source of a fresh install where it equals the fresh row (but for the
-- source) and no computation used it; any other row without a source says so.  The history
-- records these changes (action amend, with this document).
SELECT set_config('carbonmkt_rules.action', 'amend', true),
       set_config('carbonmkt_rules.document', 'carbonmkt 0.2.0 upgrade: shipped rule rows cite their sources; numbers no source gives are not shipped (doc/rules.md)', true);
ALTER TABLE carbonmkt.market_rule ALTER COLUMN fee_rate DROP NOT NULL;
ALTER TABLE carbonmkt.market_rule ADD COLUMN source text;
ALTER TABLE carbonmkt.market_session ADD COLUMN source text;
ALTER TABLE carbonmkt.trader_rule ADD COLUMN source text;
ALTER TABLE carbonmkt.mrv_gwp ADD COLUMN source text;
ALTER TABLE carbonmkt.mrv_sector_gas ADD COLUMN source text;
ALTER TABLE carbonmkt.mrv_sector_parameter ADD COLUMN source text;
ALTER TABLE carbonmkt.ccer_project_type ADD COLUMN source text;
ALTER TABLE carbonmkt.mrv_rule ALTER COLUMN review_sample_share DROP NOT NULL,
                               ALTER COLUMN deviation_threshold DROP NOT NULL,
                               ALTER COLUMN deposit_due_days DROP NOT NULL,
                               ALTER COLUMN deposit_missing_tolerance DROP NOT NULL,
                               ALTER COLUMN deposit_late_tolerance DROP NOT NULL,
                               ALTER COLUMN anomaly_threshold DROP NOT NULL;
-- the rows a fresh install ships (the INSERTs of src/*.sql, into look-alike tables dropped below)

CREATE TABLE carbonmkt._fresh_market_rule (LIKE carbonmkt.market_rule INCLUDING DEFAULTS);

INSERT INTO carbonmkt._fresh_market_rule
       (jurisdiction, mode, valid_from, min_quantity, below_quantity, lot, tick_fen, band, fee_rate, clearing_rule, source)
VALUES ('CN', 'listed',  '2021-07-16', 1,      100000, 1, 1, 0.10, NULL,    NULL,
        'RULES.md 5 [public: the national exchange''s trading rules, 2021]: listed agreement (挂牌协议交易) below 100,000 t per order, price band +/-10% of the previous close, lot 1 t, price step 0.01 CNY, from the launch on 2021-07-16 (S3); the sources give no fee rate (NULL)'),
       ('CN', 'block',   '2021-07-16', 100000, NULL,   1, 1, 0.30, NULL,    NULL,
        'RULES.md 5 [public: the national exchange''s trading rules, 2021]: block agreement (大宗协议交易) from 100,000 t per order, price band +/-30% of the previous close, lot 1 t, price step 0.01 CNY; the sources give no fee rate (NULL)'),
       ('CN', 'auction', '2025-06-01', 1,      NULL,   1, 1, NULL, NULL,    'uniform',
        'RULES.md 5 [S3 L211-214: one-way bidding (单向竞价) in use since June 2025]: an announced lot, one clearing price; the sources give no fee rate (NULL)');

CREATE TABLE carbonmkt._fresh_market_session (LIKE carbonmkt.market_session INCLUDING DEFAULTS);

INSERT INTO carbonmkt._fresh_market_session VALUES
  ('CN', 'listed', '2021-07-16', '09:30', '11:30', NULL, 'RULES.md 5 [public: the national exchange''s trading rules, 2021]: listed agreement 9:30-11:30 and 13:00-15:00 on trading days'),
  ('CN', 'listed', '2021-07-16', '13:00', '15:00', NULL, 'RULES.md 5 [public: the national exchange''s trading rules, 2021]: listed agreement 9:30-11:30 and 13:00-15:00 on trading days'),
  ('CN', 'block',  '2021-07-16', '13:00', '15:00', NULL, 'RULES.md 5 [public: the national exchange''s trading rules, 2021]: block agreement 13:00-15:00 on trading days');

CREATE TABLE carbonmkt._fresh_trader_rule (LIKE carbonmkt.trader_rule INCLUDING DEFAULTS);

INSERT INTO carbonmkt._fresh_trader_rule VALUES
  ('CN', 'key_emitter',          '2021-07-16', true,  true,  NULL, NULL,
   'RULES.md 1 and 5 [public: 碳排放权交易管理办法（试行） 2021 Art. 20, the trading parties]: key emitting units trade; no position limit (the Beijing pilot allows its own allocation + 1,000,000 t, S1 L1203-1204)'),
  ('CN', 'institution',          '2021-07-16', true,  true,  1000000, NULL,
   'RULES.md 1 and 5 [public: 2021 Measures Art. 20]: institutions trade; position limit 1,000,000 t after the Beijing pilot''s limit for non-compliance institutions (S1 L1205)'),
  ('CN', 'individual',           '2021-07-16', true,  false, 50000, NULL,
   'RULES.md 1 and 5 [public: 2021 Measures Art. 20]: individuals trade; position limit 50,000 t after the Beijing pilot''s limit for natural persons (S1 L1207)'),
  ('CN', 'national_authority',   '2021-07-16', false, true,  NULL, NULL,
   'RULES.md 1 and 7 [S1 Art. 11: the national reserve, auctions]: the national authority announces one-way bidding lots, does not trade'),
  ('CN', 'provincial_authority', '2021-07-16', false, true,  NULL, NULL,
   'RULES.md 1 and 3 [S1 L1041-1182: paid allocation by auction]: a provincial authority announces one-way bidding lots, does not trade');

CREATE TABLE carbonmkt._fresh_trading_calendar_year (LIKE carbonmkt.trading_calendar_year INCLUDING DEFAULTS);

INSERT INTO carbonmkt._fresh_trading_calendar_year VALUES
  ('CN', 2025, '[public: 国务院办公厅关于2025年部分节假日安排的通知, 国办发明电〔2024〕12号]: the public holidays of 2025; the exchange does not trade on weekends (RULES.md 5: trading days)',
   'carbonmkt', '2025-01-01 00:00:00+08');

CREATE TABLE carbonmkt._fresh_mrv_gwp_set (LIKE carbonmkt.mrv_gwp_set INCLUDING DEFAULTS);

INSERT INTO carbonmkt._fresh_mrv_gwp_set VALUES
  ('AR5', '100-year GWP of the IPCC Fifth Assessment Report',
   '[public] IPCC AR5 WG1 (2013), chapter 8, table 8.A.1: CO2 1, CF4 6630, C2F6 11100'),
  ('AR4', '100-year GWP of the IPCC Fourth Assessment Report',
   '[public] IPCC AR4 WG1 (2007), chapter 2, table 2.14: CO2 1, CF4 7390, C2F6 12200');

CREATE TABLE carbonmkt._fresh_mrv_gwp (LIKE carbonmkt.mrv_gwp INCLUDING DEFAULTS);

INSERT INTO carbonmkt._fresh_mrv_gwp
SELECT g, gas, gwp, CASE g WHEN 'AR5' THEN '[public] IPCC AR5 WG1 (2013), chapter 8, table 8.A.1 (100-year GWP)'
                          ELSE '[public] IPCC AR4 WG1 (2007), chapter 2, table 2.14 (100-year GWP)' END
  FROM (VALUES ('AR5', 'CO2', 1), ('AR5', 'CF4', 6630), ('AR5', 'C2F6', 11100),
               ('AR4', 'CO2', 1), ('AR4', 'CF4', 7390), ('AR4', 'C2F6', 12200)) v(g, gas, gwp);

CREATE TABLE carbonmkt._fresh_mrv_sector_gas (LIKE carbonmkt.mrv_sector_gas INCLUDING DEFAULTS);

INSERT INTO carbonmkt._fresh_mrv_sector_gas
SELECT code, 'CO2', 2013,
       'S1 L4129-4131 [public: the sector accounting and reporting guidelines 发改办气候〔2013〕2526号, 〔2014〕2920号, 〔2015〕1722号]: CO2 reported from the 2013 data; S0 L127-131: the controlled gas of power, cement and steel is CO2'
  FROM carbonmkt.sector;

INSERT INTO carbonmkt._fresh_mrv_sector_gas VALUES
  ('aluminium', 'CF4', 2024, 'S0 L129-131: the controlled gases of aluminium smelting are CO2, CF4 and C2F6, from its coverage (2024, S0)'),
  ('aluminium', 'C2F6', 2024, 'S0 L129-131: the controlled gases of aluminium smelting are CO2, CF4 and C2F6, from its coverage (2024, S0)');

CREATE TABLE carbonmkt._fresh_mrv_sector_parameter (LIKE carbonmkt.mrv_sector_parameter INCLUDING DEFAULTS);

INSERT INTO carbonmkt._fresh_mrv_sector_parameter (sector, parameter, uom, name_zh, counts_to_emissions, source)
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

CREATE TABLE carbonmkt._fresh_mrv_rule (LIKE carbonmkt.mrv_rule INCLUDING DEFAULTS);

INSERT INTO carbonmkt._fresh_mrv_rule VALUES
  ('CN', 2019, NULL, NULL, NULL, NULL, NULL, NULL, 3, 31, 'AR5',
   'RULES.md 4 [S1 L4261, L4344]: the annual report of a year is due 31 March of the following year; GWP set AR5 [public: IPCC AR5 WG1 table 8.A.1] for the gases of S0 (CO2; CF4 and C2F6 of aluminium); the sources give no sample share (Art. 29(3) "一定比例"), deviation threshold, deposit deadline, tolerances or anomaly threshold (NULL)');

CREATE TABLE carbonmkt._fresh_ccer_project_type (LIKE carbonmkt.ccer_project_type INCLUDING DEFAULTS);

INSERT INTO carbonmkt._fresh_ccer_project_type VALUES
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

CREATE TABLE carbonmkt._fresh_penalty_rule (LIKE carbonmkt.penalty_rule INCLUDING DEFAULTS);

INSERT INTO carbonmkt._fresh_penalty_rule (jurisdiction, from_year, fine_basis, fine_min_fen, fine_max_fen, fine_default_fen,
                                    multiple_min, multiple_max, multiple_default, price_months, cut_multiple,
                                    cut_unless_corrected, source) VALUES
  ('CN', 2019, 'fixed', 2000000, 3000000, 2000000, NULL, NULL, NULL, NULL, 1, true,
   'RULES.md 6 [public: the 2021 Measures, 碳排放权交易管理办法（试行）]: fine 20,000-30,000 CNY; if not corrected in time (逾期未改正), next year''s allocation cut by the shortfall'),
  ('CN', 2023, 'price_multiple', NULL, NULL, NULL, 5, 10, 5, 1, 1, true,
   'RULES.md 6 [public: Decree 775, 碳排放权交易管理暂行条例, from 2024-05-01]: fine 5-10x the average price of the month before the deadline x shortfall; if not corrected (拒不改正), an equal cut of next year''s allocation'),
  ('420000', 2013, 'none', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 2, false,
   'S1 L1685-1753: next year''s allocation cut by 2x the shortfall'),
  ('440000', 2013, 'none', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 2, false,
   'S1 L1685-1753: next year''s allocation cut by 2x the shortfall'),
  ('440300', 2013, 'price_multiple', NULL, NULL, NULL, 3, 3, 3, 6, 0, false,
   'S1 L1685-1753: fine 3x the average price of the 6 months before the deadline x shortfall');

CREATE TABLE carbonmkt._fresh_alloc_benchmark (LIKE carbonmkt.alloc_benchmark INCLUDING DEFAULTS);

INSERT INTO carbonmkt._fresh_alloc_benchmark VALUES
  ('CN', 2021, 'coal_300mw_plus',     0.8218, 0.1111, true,  true,  false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2021 values; the formula S4 L98-103'),
  ('CN', 2021, 'coal_300mw_below',    0.8773, 0.1111, true,  true,  false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2021 values; the formula S4 L98-103'),
  ('CN', 2021, 'coal_unconventional', 0.9350, 0.1111, false, true,  false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2021 values; the formula S4 L98-103'),
  ('CN', 2021, 'gas',                 0.3920, 0.0560, false, false, false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2021 values; the formula S4 L98-103'),
  ('CN', 2022, 'coal_300mw_plus',     0.8177, 0.1105, true,  true,  false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2022 values; the formula S4 L98-103'),
  ('CN', 2022, 'coal_300mw_below',    0.8729, 0.1105, true,  true,  false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2022 values; the formula S4 L98-103'),
  ('CN', 2022, 'coal_unconventional', 0.9303, 0.1105, false, true,  false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2022 values; the formula S4 L98-103'),
  ('CN', 2022, 'gas',                 0.3901, 0.0557, false, false, false, 'RULES.md 3 [public: the 2021-22 power allocation plan, 国环规气候〔2023〕1号], 2022 values; the formula S4 L98-103');

CREATE TABLE carbonmkt._fresh_alloc_year_rule (LIKE carbonmkt.alloc_year_rule INCLUDING DEFAULTS);

INSERT INTO carbonmkt._fresh_alloc_year_rule VALUES
  ('CN', 2021, 'half_up', 0.70, 'verified_emissions', 2021,
   '2021-22 power plan: pre-allocation = 70% of the unit''s 2021 verified emissions (S4 L91); allowances in whole tonnes (RULES.md 2); the sources give no rounding direction: half up'),
  ('CN', 2022, 'half_up', 0.70, 'verified_emissions', 2021,
   '2021-22 power plan: pre-allocation = 70% of the unit''s 2021 verified emissions (S4 L91); allowances in whole tonnes (RULES.md 2); the sources give no rounding direction: half up');

-- the numbers no source gives, as 0.1.0 shipped them, where no computation used them
UPDATE carbonmkt.market_rule r
   SET fee_rate = NULL
 WHERE r.jurisdiction = 'CN' AND (r.mode, r.valid_from, r.fee_rate) IN (('listed', DATE '2021-07-16', 0.0005), ('block', DATE '2021-07-16', 0.00025),
                                                                        ('auction', DATE '2025-06-01', 0.0005))
   AND NOT EXISTS (SELECT 1 FROM carbonmkt.market_order o JOIN carbonmkt.product p ON p.product_id = o.product_id
                    WHERE p.jurisdiction = r.jurisdiction AND o.mode = r.mode AND o.business_date >= r.valid_from
                      AND (r.valid_until IS NULL OR o.business_date <= r.valid_until));
UPDATE carbonmkt.mrv_rule r
   SET review_sample_share = NULL, deviation_threshold = NULL, deposit_due_days = NULL, deposit_missing_tolerance = NULL,
       deposit_late_tolerance = NULL, anomaly_threshold = NULL
 WHERE r.jurisdiction = 'CN' AND r.from_year = 2019
   AND (r.review_sample_share, r.deviation_threshold, r.deposit_due_days, r.deposit_missing_tolerance, r.deposit_late_tolerance,
        r.anomaly_threshold) = (0.1, 0.05, 40, 0, 2, 0.5)
   AND NOT EXISTS (SELECT 1 FROM carbonmkt.mrv_report x WHERE x.year >= r.from_year AND (r.until_year IS NULL OR x.year <= r.until_year))
   AND NOT EXISTS (SELECT 1 FROM carbonmkt.mrv_deposit x WHERE x.year >= r.from_year AND (r.until_year IS NULL OR x.year <= r.until_year));
-- the sources of the fresh install, for rows equal to its rows but for the source and unused
DO $$
DECLARE
    t       text;
    k       text;
    used    text;
BEGIN
    FOR t, used IN VALUES
        ('market_rule', 'false'), ('market_session', 'false'), ('trader_rule', 'false'), ('trading_calendar_year', 'false'),
        ('mrv_gwp_set', 'false'), ('mrv_gwp', 'false'), ('mrv_sector_gas', 'false'), ('mrv_sector_parameter', 'false'),
        ('ccer_project_type', 'false'),
        ('mrv_rule', 'EXISTS (SELECT 1 FROM carbonmkt.mrv_report x WHERE x.year >= x_.from_year AND (x_.until_year IS NULL OR x.year <= x_.until_year))'),
        ('penalty_rule', 'carbonmkt._rule_in_use(''penalty_rule'', to_jsonb(x_), x_.from_year, coalesce(x_.until_year, 2100)) IS NOT NULL'),
        ('alloc_benchmark', 'carbonmkt._rule_in_use(''alloc_benchmark'', to_jsonb(x_), x_.year, x_.year) IS NOT NULL'),
        ('alloc_year_rule', 'carbonmkt._rule_in_use(''alloc_year_rule'', to_jsonb(x_), x_.year, x_.year) IS NOT NULL')
    LOOP
        SELECT string_agg(format('x_.%1$I IS NOT DISTINCT FROM f.%1$I', a.attname), ' AND ') INTO k
          FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = ('carbonmkt.' || t)::regclass AND i.indisprimary;
        EXECUTE format('UPDATE carbonmkt.%1$I x_ SET source = f.source FROM carbonmkt.%2$I f
                         WHERE %3$s AND x_.source IS DISTINCT FROM f.source
                           AND to_jsonb(x_) - ''source'' = to_jsonb(f) - ''source'' AND NOT (%4$s)',
                       t, '_fresh_' || t, k, used);
    END LOOP;
END
$$;
UPDATE carbonmkt.market_rule SET source = 'carbonmkt 0.1.0: set before sources were recorded (a fee rate no source gives, used by orders; doc/rules.md)' WHERE source IS NULL;
UPDATE carbonmkt.market_session SET source = 'carbonmkt 0.1.0: set before sources were recorded (doc/rules.md)' WHERE source IS NULL;
UPDATE carbonmkt.trader_rule SET source = 'carbonmkt 0.1.0: set before sources were recorded (doc/rules.md)' WHERE source IS NULL;
UPDATE carbonmkt.mrv_gwp SET source = 'carbonmkt 0.1.0: set before sources were recorded (doc/rules.md)' WHERE source IS NULL;
UPDATE carbonmkt.mrv_sector_gas SET source = 'carbonmkt 0.1.0: set before sources were recorded (doc/rules.md)' WHERE source IS NULL;
UPDATE carbonmkt.mrv_sector_parameter SET source = 'carbonmkt 0.1.0: set before sources were recorded (doc/rules.md)' WHERE source IS NULL;
UPDATE carbonmkt.ccer_project_type SET source = 'carbonmkt 0.1.0: set before sources were recorded (doc/rules.md)' WHERE source IS NULL;
ALTER TABLE carbonmkt.market_rule ALTER COLUMN source SET NOT NULL;
ALTER TABLE carbonmkt.market_session ALTER COLUMN source SET NOT NULL;
ALTER TABLE carbonmkt.trader_rule ALTER COLUMN source SET NOT NULL;
ALTER TABLE carbonmkt.mrv_gwp ALTER COLUMN source SET NOT NULL;
ALTER TABLE carbonmkt.mrv_sector_gas ALTER COLUMN source SET NOT NULL;
ALTER TABLE carbonmkt.mrv_sector_parameter ALTER COLUMN source SET NOT NULL;
ALTER TABLE carbonmkt.ccer_project_type ALTER COLUMN source SET NOT NULL;
SELECT set_config('carbonmkt_rules.action', '', true), set_config('carbonmkt_rules.document', '', true);

DROP TABLE carbonmkt._fresh_market_rule, carbonmkt._fresh_market_session, carbonmkt._fresh_trader_rule, carbonmkt._fresh_trading_calendar_year, carbonmkt._fresh_mrv_gwp_set, carbonmkt._fresh_mrv_gwp, carbonmkt._fresh_mrv_sector_gas, carbonmkt._fresh_mrv_sector_parameter, carbonmkt._fresh_mrv_rule, carbonmkt._fresh_ccer_project_type, carbonmkt._fresh_penalty_rule, carbonmkt._fresh_alloc_benchmark, carbonmkt._fresh_alloc_year_rule;

COMMENT ON TABLE carbonmkt.market_rule IS
  'Market rules per jurisdiction, trading mode and period (the row with the latest valid_from on or before the business date applies, unless its valid_until is before it): order size limits (block threshold), lot, price step, price band around the previous close, fee rate per side (NULL: not set, orders are refused until the exchange sets it), clearing rule of one-way bidding, same-day resale, and the document the row implements (source).  Seeded with the national rules of RULES.md 5 (doc/rules.md).';

CREATE OR REPLACE FUNCTION carbonmkt._enter_order(p_mode carbonmkt.trade_mode, p_product text, p_side text, p_quantity bigint,
                                       p_price numeric, p_take bigint, p_reference text, p_participant bigint,
                                       p_lock boolean, p_auction bigint DEFAULT NULL, p_role text DEFAULT 'trade',
                                       OUT order_id bigint, OUT replay boolean)
LANGUAGE plpgsql AS
$$
DECLARE
    me      bigint;
    prod    carbonmkt.product;
    sd      carbonmkt.order_side;
    ts      timestamptz := carbonmkt.clock_now();
    d       date := carbonmkt.business_date(ts);
    r       carbonmkt.market_rule;
    day     carbonmkt.product_day;
    tr      carbonmkt.trader_rule;
    acc     record;
    old     carbonmkt.market_order;
    lst     carbonmkt.market_order;
    px      bigint;
    notional bigint;
    fee     bigint;
    need    bigint;
    avail   bigint;
    bought  bigint;
    bal     bigint;
    openbuy bigint;
    h       bigint;
    asset   text;
    reach   bigint[];
BEGIN
    replay := false;
    me := carbonmkt._market_actor(p_participant);
    IF p_side IS NULL OR lower(btrim(p_side)) NOT IN ('buy', 'sell') THEN
        RAISE EXCEPTION 'side must be ''buy'' or ''sell'', not %', coalesce(quote_literal(p_side), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    sd := lower(btrim(p_side))::carbonmkt.order_side;
    prod := carbonmkt._product(p_product);

    -- idempotency: the same client reference (per login) returns the original order
    -- (looked up again under the matcher lock below, for a concurrent twin)
    old := carbonmkt._order_by_reference(p_reference, p_mode, sd, me, prod, p_quantity, p_price, p_take, p_auction);
    IF old.order_id IS NOT NULL THEN
        order_id := old.order_id;
        replay := true;
        RETURN;
    END IF;

    -- checks that do not depend on the book or the balances: before the matcher lock,
    -- so that the lock is held as briefly as possible
    r := carbonmkt._rule(p_mode, d, prod.jurisdiction);
    -- a fee the exchange has not set is refused, never charged as 0
    IF r.fee_rate IS NULL THEN
        RAISE EXCEPTION 'no fee rate for % in jurisdiction "%" on %: market_rule (jurisdiction %, mode %, valid_from %) has none',
            carbonmkt._mode_name(p_mode), prod.jurisdiction, to_char(d, 'YYYY-MM-DD'), r.jurisdiction, r.mode,
            to_char(r.valid_from, 'YYYY-MM-DD')
            USING ERRCODE = 'CM302',
                  DETAIL = 'The sources give no fee schedule of the exchange: carbonmkt ships the market rules without a fee rate.',
                  HINT = 'The exchange sets it with carbonmkt.amend_rule(''market_rule'', key, ''{"fee_rate": ...}'', document); doc/rules.md.';
    END IF;
    px := carbonmkt._price_fen(p_price, r);
    PERFORM carbonmkt._check_quantity(p_quantity, r);
    IF p_mode <> 'auction' THEN
        PERFORM carbonmkt._check_session(p_mode, ts, prod.jurisdiction);
    ELSIF NOT carbonmkt.is_trading_day(d, prod.jurisdiction) THEN
        RAISE EXCEPTION 'the market is closed on %: not a trading day', to_char(d, 'YYYY-MM-DD') USING ERRCODE = 'CM302';
    END IF;
    day := carbonmkt._product_day(prod.product_id, d, false);
    PERFORM carbonmkt._check_band(px, day.prev_close_fen, r);      -- the previous close is fixed for the day
    tr := carbonmkt._trader(me, d, prod.jurisdiction, p_role);
    acc := carbonmkt._trading_accounts(me);
    asset := carbonmkt.format_asset(prod.instrument, prod.vintage, prod.project);
    IF px::numeric * p_quantity > 9000000000000000000 THEN
        RAISE EXCEPTION 'order value % x % CNY is out of range', carbonmkt._t(p_quantity), carbonmkt._cny(px)
            USING ERRCODE = '22003';
    END IF;
    notional := px * p_quantity;

    -- the matcher lock (everything that matches at once takes it before its hold, so that
    -- the hold never waits for an account the matcher holds while it waits for the product);
    -- from here on the book, the day's trades and the balances are as the matcher sees them
    IF p_lock THEN
        day := carbonmkt._product_day(prod.product_id, d, true);
        old := carbonmkt._order_by_reference(p_reference, p_mode, sd, me, prod, p_quantity, p_price, p_take, p_auction);
        IF old.order_id IS NOT NULL THEN
            order_id := old.order_id;
            replay := true;
            RETURN;
        END IF;
    END IF;
    IF day.closed_at IS NOT NULL THEN
        RAISE EXCEPTION 'trading in % is closed for %', prod.code, to_char(d, 'YYYY-MM-DD')
            USING ERRCODE = 'CM302', DETAIL = format('The exchange ran end_of_day() at %s.',
                                               to_char(day.closed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS'));
    END IF;

    IF sd = 'sell' THEN
        avail := carbonmkt._available(acc.holding, prod.instrument, prod.vintage, prod.project);
        IF avail < p_quantity THEN
            RAISE EXCEPTION 'insufficient available % to sell: available %, requested %', asset,
                carbonmkt._t(avail), carbonmkt._t(p_quantity)
                USING ERRCODE = 'CM306',
                      DETAIL = format('Holding account %s; units held for other orders or pledges are not available.', acc.holding);
        END IF;
        IF NOT r.same_day_resale THEN
            SELECT coalesce(sum(t.quantity), 0) INTO bought FROM carbonmkt.trade t
             WHERE t.buyer_id = me AND t.product_id = prod.product_id AND t.business_date = d;
            IF avail - bought < p_quantity THEN
                RAISE EXCEPTION 'units bought today cannot be resold today: sellable %, requested %',
                    carbonmkt._t(greatest(avail - bought, 0)), carbonmkt._t(p_quantity)
                    USING ERRCODE = 'CM307',
                          DETAIL = format('Participant %s bought %s of %s on %s; available %s.', me, carbonmkt._t(bought),
                                          asset, to_char(d, 'YYYY-MM-DD'), carbonmkt._t(avail)),
                          HINT = 'Units bought on a trading day can be sold from the next trading day (T+1).';
            END IF;
        END IF;
        need := p_quantity;
    ELSE
        IF tr.max_position IS NOT NULL THEN
            SELECT coalesce(sum(h.balance), 0) INTO bal FROM carbonmkt.holding h
             WHERE h.account_id = acc.holding AND h.instrument = prod.instrument
               AND h.vintage = prod.vintage AND h.project = prod.project;
            SELECT coalesce(sum(o.remaining), 0) INTO openbuy FROM carbonmkt.market_order o
             WHERE o.participant_id = me AND o.product_id = prod.product_id AND o.side = 'buy'
               AND o.status IN ('queued', 'open');
            IF bal + openbuy + p_quantity > tr.max_position THEN
                RAISE EXCEPTION 'position limit: buying % would bring participant % to % of %, above its limit of %',
                    carbonmkt._t(p_quantity), me, carbonmkt._t(bal + openbuy + p_quantity), asset, carbonmkt._t(tr.max_position)
                    USING ERRCODE = 'CM308',
                          DETAIL = format('Holding %s, open buy orders %s, this order %s.', carbonmkt._t(bal),
                                          carbonmkt._t(openbuy), carbonmkt._t(p_quantity)),
                          HINT = 'Position limits (最大持仓量) per participant kind are in carbonmkt.trader_rule.';
            END IF;
        END IF;
        fee := carbonmkt.fee_fen(notional, r.fee_rate);
        need := notional + fee;
        avail := carbonmkt._available(acc.cash, 'CNY', 0, '');
        IF avail < need THEN
            RAISE EXCEPTION 'insufficient available cash to buy % at %: available %, requested %',
                carbonmkt._t(p_quantity), carbonmkt._cny(px), carbonmkt.format_quantity('CNY', avail),
                carbonmkt.format_quantity('CNY', need)
                USING ERRCODE = 'CM306',
                      DETAIL = format('%s for the allowances plus a fee of %s (%s%% of the value); cash account %s.',
                                      carbonmkt.format_quantity('CNY', notional), carbonmkt.format_quantity('CNY', fee),
                                      trim_scale(r.fee_rate * 100), acc.cash);
        END IF;
    END IF;

    -- 摘牌: the listing this order takes
    IF p_take IS NOT NULL THEN
        SELECT * INTO lst FROM carbonmkt.market_order o WHERE o.order_id = p_take;
        IF NOT FOUND OR lst.mode <> 'listed' OR lst.product_id <> prod.product_id THEN
            RAISE EXCEPTION 'order % is not a listed order of %', p_take, prod.code USING ERRCODE = 'CM310';
        END IF;
        IF lst.side = sd THEN
            RAISE EXCEPTION 'listing % is a % order: a % order cannot take it', p_take, lst.side, sd USING ERRCODE = 'CM310';
        END IF;
        IF lst.participant_id = me THEN
            RAISE EXCEPTION 'self-trade: listing % is participant %''s own order', p_take, me
                USING ERRCODE = 'CM309', HINT = 'A participant never trades with itself (doc/market.md, self-trade prevention).';
        END IF;
        IF p_lock AND (lst.status <> 'open' OR lst.business_date <> d) THEN
            RAISE EXCEPTION 'listing % is no longer open: it is %', p_take,
                CASE WHEN lst.status = 'open' THEN 'from ' || to_char(lst.business_date, 'YYYY-MM-DD') ELSE lst.status::text END
                USING ERRCODE = 'CM310';
        END IF;
        IF (sd = 'buy' AND px < lst.price_fen) OR (sd = 'sell' AND px > lst.price_fen) THEN
            RAISE EXCEPTION 'a % at % cannot take listing % at %', sd, carbonmkt._cny(px), p_take, carbonmkt._cny(lst.price_fen)
                USING ERRCODE = 'CM310', HINT = '摘牌 trades at the listing''s price: the order''s limit must reach it.';
        END IF;
    END IF;

    -- a listed order matched at once (submit_order) settles with the resting orders it
    -- reaches: lock their accounts, its own and the clearing account in account order before
    -- its hold (doc/registry.md, "Lock order").  Under the matcher lock the book cannot change,
    -- so these are the orders the engine will fill, in its price-time order, up to the
    -- quantity; own orders in the way (self-trade prevention) only touch its own accounts.
    IF p_lock AND p_mode = 'listed' THEN
        IF p_take IS NOT NULL THEN
            reach := ARRAY[lst.holding_account, lst.cash_account];
        ELSE
            SELECT array_agg(a) INTO reach
              FROM (SELECT o.holding_account, o.cash_account,
                           coalesce(sum(o.remaining) FILTER (WHERE o.participant_id <> me) OVER w, 0)
                           - CASE WHEN o.participant_id <> me THEN o.remaining ELSE 0 END AS before
                      FROM carbonmkt.market_order o
                     WHERE o.product_id = prod.product_id AND o.business_date = d AND o.mode = 'listed'
                       AND o.status = 'open' AND o.side <> sd
                       AND CASE WHEN sd = 'buy' THEN o.price_fen <= px ELSE o.price_fen >= px END
                    WINDOW w AS (ORDER BY CASE WHEN sd = 'buy' THEN o.price_fen ELSE -o.price_fen END,
                                          o.priority ROWS UNBOUNDED PRECEDING)) ro,
                   unnest(ARRAY[ro.holding_account, ro.cash_account]) a
             WHERE ro.before < p_quantity;
        END IF;
        -- an order that reaches nobody only holds (one account): nothing to take up front
        IF reach IS NOT NULL THEN
            PERFORM 1 FROM carbonmkt.account a
              WHERE a.account_id = ANY (reach || ARRAY[acc.holding, acc.cash, prod.clearing_account])
              ORDER BY a.account_id FOR NO KEY UPDATE;
        END IF;
    END IF;

    -- the hold, then the order row
    order_id := nextval('carbonmkt.market_order_id_seq');
    IF sd = 'sell' THEN
        h := carbonmkt.hold(acc.holding, prod.instrument, need, 'order', prod.vintage, prod.project, NULL,
                            'market order ' || order_id);
    ELSE
        h := carbonmkt.hold(acc.cash, 'CNY', need, 'order', 0, '', NULL, 'market order ' || order_id);
    END IF;
    INSERT INTO carbonmkt.market_order (order_id, product_id, mode, side, participant_id, quantity, price_fen, remaining,
                                        status, take_order_id, auction_id, holding_account, cash_account, hold_id,
                                        hold_amount, hold_left, business_date, entered_at, initiator, reference)
    VALUES (order_id, prod.product_id, p_mode, sd, me, p_quantity, px, p_quantity, 'queued', p_take, p_auction,
            acc.holding, acc.cash, h, need, need, d, ts, session_user, p_reference);
END
$$;

COMMENT ON TABLE carbonmkt.mrv_rule IS
  'MRV rule numbers per jurisdiction (''CN'' national default or a province code) from a reporting year on: re-review sample share (Art. 29(3) 一定比例), deviation threshold between the annual figure and the sum of monthly deposits, deposit deadline (days after the month), tolerated missing and late months, deposit anomaly threshold, report deadline, GWP set; a number the sources do not give is NULL until an authority sets it (carbonmkt.amend_rule), and what needs it is refused until then (doc/rules.md).  The rule for a province and year is its own row with the latest from_year <= year, else the national one (carbonmkt.mrv_rule_for).';

CREATE OR REPLACE FUNCTION carbonmkt.deposit_parameters(participant_id bigint, year int, month int, parameters jsonb, memo text DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION carbonmkt.amend_rule(rule_table text, rule_key jsonb, changes jsonb, document text,
                                     acting_for bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    m       carbonmkt.rule_table := carbonmkt._rule_meta(rule_table);
    me      carbonmkt.participant;
    o       jsonb;
    n       jsonb;
    why     text;
    k       text;
    fill    boolean;
BEGIN
    IF m.period_kind = 'calendar' THEN
        RAISE EXCEPTION 'a trading day is changed with carbonmkt.set_trading_day()' USING ERRCODE = 'CM502';
    END IF;
    IF rule_key ? 'jurisdiction' THEN
        PERFORM carbonmkt.check_jurisdiction(rule_key ->> 'jurisdiction');
    END IF;
    o := carbonmkt._rule_row(rule_table, rule_key);
    me := carbonmkt._rule_actor(rule_table, o ->> 'jurisdiction', acting_for);
    PERFORM carbonmkt._rule_begin('amend', document, me.participant_id);
    IF changes IS NULL OR jsonb_typeof(changes) <> 'object' OR changes = '{}' THEN
        RAISE EXCEPTION 'amend_rule needs the changed columns as a jsonb object: got %', coalesce(changes::text, 'NULL')
            USING ERRCODE = 'CM502';
    END IF;
    SELECT string_agg(c, ', ') INTO k FROM jsonb_object_keys(changes) c
     WHERE c = ANY (carbonmkt._rule_columns(rule_table, true)) AND changes -> c IS DISTINCT FROM o -> c;
    IF k IS NOT NULL THEN
        RAISE EXCEPTION '%: the key (%) of a rule is not amended', carbonmkt._rule_name(rule_table, rule_key), k
            USING ERRCODE = 'CM502', HINT = 'Set a rule with the new key (set_rule) and retire this one (retire_rule).';
    END IF;
    -- filling numbers the sources do not give: columns shipped NULL whose users refuse while
    -- they are NULL (doc/rules.md, "Missing rules"), so no computation used the row without them
    fill := NOT EXISTS (SELECT 1 FROM jsonb_object_keys(changes) c
                         WHERE c <> ALL (CASE rule_table
                                           WHEN 'market_rule' THEN ARRAY['fee_rate']
                                           WHEN 'mrv_rule' THEN ARRAY['review_sample_share', 'deviation_threshold', 'deposit_due_days',
                                                                      'deposit_missing_tolerance', 'deposit_late_tolerance',
                                                                      'anomaly_threshold']
                                           ELSE '{}'::text[] END)
                            OR coalesce(o -> c, 'null'::jsonb) <> 'null'::jsonb
                            OR coalesce(changes -> c, 'null'::jsonb) = 'null'::jsonb);
    n := o || changes;
    IF 'source' = ANY (carbonmkt._rule_columns(rule_table)) AND NOT changes ? 'source' THEN
        n := n || jsonb_build_object('source', CASE WHEN fill
                                                    THEN format('%s; %s: %s', o ->> 'source',
                                                                (SELECT string_agg(c, ', ' ORDER BY c) FROM jsonb_object_keys(changes) c),
                                                                document)
                                                    ELSE document END);
    END IF;
    PERFORM carbonmkt._rule_validate(rule_table, n);
    IF m.period_kind = 'year' THEN
        why := carbonmkt._rule_in_use(rule_table, o, (o ->> 'year')::int, (o ->> 'year')::int);
    ELSIF m.period_kind = 'from_year' THEN
        why := carbonmkt._rule_in_use(rule_table, o, (o ->> 'from_year')::int, coalesce((o ->> 'until_year')::int, 2100));
        PERFORM carbonmkt._rule_overlap(rule_table, n, o);
    ELSIF m.period_kind = 'valid_from' THEN
        IF (o ->> 'valid_from')::date <= carbonmkt.business_date() THEN
            why := format('it is in force since %s (today is %s)', o ->> 'valid_from', to_char(carbonmkt.business_date(), 'YYYY-MM-DD'));
        END IF;
        PERFORM carbonmkt._rule_overlap(rule_table, n, o);
    END IF;
    IF why IS NOT NULL AND NOT fill THEN
        RAISE EXCEPTION '%: cannot be amended: %', carbonmkt._rule_name(rule_table, rule_key), why
            USING ERRCODE = 'CM506',
                  DETAIL = 'A rule a computation used is never changed; nothing was changed.',
                  HINT = 'End it (retire_rule) and set the new value for the following years or days (set_rule).';
    END IF;
    PERFORM carbonmkt._rule_update(rule_table, rule_key, n);
    IF rule_table = 'alloc_load_piece' THEN
        PERFORM carbonmkt._load_curve_check(o ->> 'jurisdiction', (o ->> 'year')::int);
    END IF;
    PERFORM carbonmkt._rule_end();
    RETURN n;
END
$$;

COMMENT ON FUNCTION carbonmkt.amend_rule(text, jsonb, jsonb, text, bigint) IS
  'Amends a rule row named by its key (jsonb of the primary key columns) with the changed columns (not the key); validated like set_rule (CM502, CM503); refused for a rule a computation used (CM506: an allocation run of its year, a compliance period starting in its years, an emission report of its years, a market rule already in force), except filling a number the sources do not give (market_rule.fee_rate, the NULL numbers of mrv_rule: refused while NULL, so never used), whose document is added to the row''s source.  Returns the new row.';

CREATE OR REPLACE FUNCTION carbonmkt._rule_validate(p_table text, r jsonb) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    x       numeric;
    y       numeric;
    z       numeric;
    unit    text;
    bad     text;
BEGIN
    SELECT string_agg(k, ', ') INTO bad
      FROM jsonb_object_keys(r) k WHERE k <> ALL (carbonmkt._rule_columns(p_table));
    IF bad IS NOT NULL THEN
        PERFORM carbonmkt._rule_invalid(p_table, r, format('no such column: %s', bad),
            format('The columns of %s are %s.', p_table, array_to_string(carbonmkt._rule_columns(p_table), ', ')));
    END IF;
    IF r ? 'source' AND btrim(coalesce(r ->> 'source', '')) = '' THEN
        PERFORM carbonmkt._rule_invalid(p_table, r, 'a rule row needs its source');
    END IF;
    IF p_table = 'alloc_benchmark' THEN
        SELECT CASE WHEN c.method = 'power' THEN 'tCO2/MWh' ELSE 'tCO2/' || c.output_unit END INTO unit
          FROM carbonmkt.alloc_category c WHERE c.code = r ->> 'category';
        IF NOT FOUND THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('unknown category "%s"', r ->> 'category'),
                'The categories are the rows of carbonmkt.alloc_category.');
        END IF;
        x := carbonmkt._num(p_table, r, 'benchmark');
        IF x IS NULL OR x <= 0 OR x >= 10 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('benchmark must be more than 0 and less than 10 %s: got %s', unit, coalesce(x::text, 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'heat_benchmark');
        IF x IS NOT NULL AND (x <= 0 OR x >= 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('heat benchmark B_heat must be more than 0 and less than 1 tCO2/GJ: got %s', x));
        END IF;
    ELSIF p_table = 'alloc_heat_factor' THEN
        x := carbonmkt._num(p_table, r, 'coefficient');
        IF x IS NULL OR x < 0 OR x > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the heat coefficient (F_heat = 1 - coefficient x heat ratio) must be in [0, 1]: got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'alloc_cooling_factor' THEN
        x := carbonmkt._num(p_table, r, 'factor');
        IF x IS NULL OR x <= 0 OR x > 2 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the cooling factor F_cool must be more than 0 and at most 2: got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'alloc_load_piece' THEN
        x := carbonmkt._num(p_table, r, 'lower_bound');
        IF x IS NULL OR x < 0 OR x >= 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('a piece''s lower bound of the load factor must be in [0, 1): got %s', coalesce(x::text, 'NULL')));
        END IF;
        IF coalesce(r ->> 'kind', '') NOT IN ('linear', 'power') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('kind must be linear or power: got %s', coalesce(r ->> 'kind', 'NULL')));
        END IF;
        IF (r ->> 'kind') = 'linear' AND (r ->> 'a' IS NULL OR r ->> 'b' IS NULL OR r ->> 'pivot' IS NULL) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'a linear piece a + b x (pivot - 100F) needs a, b and pivot');
        END IF;
        IF (r ->> 'kind') = 'power' AND (r ->> 'base' IS NULL OR r ->> 'c' IS NULL OR r ->> 'd' IS NULL
                                         OR carbonmkt._num(p_table, r, 'base') <= 0) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'a power piece base ^ (c - d x F) needs base > 0, c and d');
        END IF;
    ELSIF p_table = 'alloc_year_rule' THEN
        IF coalesce(r ->> 'rounding', '') NOT IN ('half_up', 'down', 'up') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('rounding must be half_up, down or up: got %s', coalesce(r ->> 'rounding', 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'preallocation_share');
        IF (x IS NULL) <> (r ->> 'preallocation_basis' IS NULL) OR (x IS NULL) <> (r ->> 'basis_year' IS NULL) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'a pre-allocation rule needs preallocation_share, preallocation_basis and basis_year together');
        END IF;
        IF x IS NOT NULL AND (x <= 0 OR x > 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the pre-allocation share must be more than 0 and at most 1: got %s', x));
        END IF;
        IF x IS NOT NULL AND ((r ->> 'basis_year')::int > (r ->> 'year')::int OR (r ->> 'basis_year')::int < (r ->> 'year')::int - 3) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the pre-allocation basis year must be one of the 3 years before %s or %s itself: got %s',
                                                               r ->> 'year', r ->> 'year', r ->> 'basis_year'));
        END IF;
    ELSIF p_table = 'alloc_band' THEN
        x := carbonmkt._num(p_table, r, 'max_gap');
        y := carbonmkt._num(p_table, r, 'max_surplus');
        IF x IS NULL OR y IS NULL OR x < 0 OR y < 0 OR x > 1 OR y > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the band [1 - max_gap, 1 + max_surplus] x verified emissions = [%s, %s] must contain its centre 1 and stay within [0, 2]: max_gap %s, max_surplus %s',
                       coalesce((1 - x)::text, 'NULL'), coalesce((1 + y)::text, 'NULL'), coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL')));
        END IF;
    ELSIF p_table = 'alloc_cap' THEN
        x := carbonmkt._num(p_table, r, 'cap_t');
        IF x IS NULL OR x <= 0 OR x <> trunc(x) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a cap must be a positive whole number of tonnes: got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'market_rule' THEN
        x := carbonmkt._num(p_table, r, 'min_quantity');
        y := carbonmkt._num(p_table, r, 'below_quantity');
        IF x IS NULL OR x < 1 OR (y IS NOT NULL AND y <= x) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('order sizes must satisfy 1 <= min_quantity < below_quantity: got %s t and %s t', coalesce(x::text, 'NULL'), coalesce(y::text, 'none')));
        END IF;
        IF coalesce(carbonmkt._num(p_table, r, 'lot'), 0) < 1 OR coalesce(carbonmkt._num(p_table, r, 'tick_fen'), 0) < 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the lot (t) and the price step (fen) must be at least 1: got %s t and %s fen', coalesce(r ->> 'lot', 'NULL'), coalesce(r ->> 'tick_fen', 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'band');
        IF x IS NOT NULL AND (x <= 0 OR x >= 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the price band must be more than 0%% and less than 100%% of the previous close: got %s%%', trim_scale(x * 100)));
        END IF;
        x := carbonmkt._num(p_table, r, 'fee_rate');
        IF x IS NULL OR x < 0 OR x > 0.01 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the fee rate per side must be in [0, 0.01] (1%%): got %s', coalesce(x::text, 'NULL')));
        END IF;
        IF ((r ->> 'mode') = 'auction') <> (r ->> 'clearing_rule' IS NOT NULL) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'one-way bidding (mode auction), and only it, needs a clearing rule (uniform or pay_as_bid)');
        END IF;
    ELSIF p_table = 'market_session' THEN
        IF (r ->> 'opens')::time >= (r ->> 'closes')::time THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a session must open before it closes: %s to %s', r ->> 'opens', r ->> 'closes'));
        END IF;
    ELSIF p_table = 'trader_rule' THEN
        x := carbonmkt._num(p_table, r, 'max_position');
        IF x IS NOT NULL AND x <= 0 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a position limit must be positive: got %s t', x));
        END IF;
    ELSIF p_table = 'offset_rule' THEN
        x := carbonmkt._num(p_table, r, 'ratio');
        IF x IS NULL OR x < 0 OR x > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the offset ratio must be in [0, 1]: got %s', coalesce(x::text, 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'local_share_min');
        IF x IS NOT NULL AND (x <= 0 OR x > 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the minimum local share must be more than 0 and at most 1: got %s', x));
        END IF;
    ELSIF p_table = 'relief_rule' THEN
        x := carbonmkt._num(p_table, r, 'gap_cap_share');
        IF x IS NOT NULL AND (x < 0 OR x > 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the gap cap share must be in [0, 1]: got %s', x));
        END IF;
        x := carbonmkt._num(p_table, r, 'borrowing_min_gap_share');
        y := carbonmkt._num(p_table, r, 'borrowing_max_share');
        IF (x IS NULL) <> (y IS NULL) OR x < 0 OR x > 1 OR y <= 0 OR y > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('borrowing needs both a minimum gap share in [0, 1] and a maximum share in (0, 1]: got %s and %s',
                       coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL')));
        END IF;
    ELSIF p_table = 'penalty_rule' THEN
        IF (r ->> 'fine_basis') = 'fixed' THEN
            x := carbonmkt._num(p_table, r, 'fine_min_fen');
            y := carbonmkt._num(p_table, r, 'fine_default_fen');
            z := carbonmkt._num(p_table, r, 'fine_max_fen');
            IF x IS NULL OR y IS NULL OR z IS NULL OR x < 0 OR NOT (x <= y AND y <= z) THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a fixed fine needs 0 <= fine_min_fen <= fine_default_fen <= fine_max_fen: got %s, %s, %s fen',
                           coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL'), coalesce(z::text, 'NULL')));
            END IF;
        ELSIF (r ->> 'fine_basis') = 'price_multiple' THEN
            x := carbonmkt._num(p_table, r, 'multiple_min');
            y := carbonmkt._num(p_table, r, 'multiple_default');
            z := carbonmkt._num(p_table, r, 'multiple_max');
            IF x IS NULL OR y IS NULL OR z IS NULL OR x <= 0 OR NOT (x <= y AND y <= z)
               OR coalesce(carbonmkt._num(p_table, r, 'price_months'), 0) NOT BETWEEN 1 AND 24 THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a price-multiple fine needs 0 < multiple_min <= multiple_default <= multiple_max and price_months in 1-24: got %s, %s, %s and %s months',
                           coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL'), coalesce(z::text, 'NULL'), coalesce(r ->> 'price_months', 'NULL')));
            END IF;
        END IF;
        x := carbonmkt._num(p_table, r, 'cut_multiple');
        IF x IS NOT NULL AND (x < 0 OR x > 10) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the allocation cut multiple must be in [0, 10]: got %s', x));
        END IF;
    ELSIF p_table = 'mrv_rule' THEN
        x := carbonmkt._num(p_table, r, 'review_sample_share');
        y := carbonmkt._num(p_table, r, 'deviation_threshold');
        -- NULL: a number not set (refused where needed until an authority sets it)
        IF x < 0 OR x > 1 OR y < 0 OR y > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the review sample share and the deviation threshold must be in [0, 1]: got %s and %s',
                       coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL')));
        END IF;
    ELSIF p_table = 'mrv_gwp' THEN
        x := carbonmkt._num(p_table, r, 'gwp');
        IF x IS NULL OR x <= 0 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a GWP must be positive (tCO2e per t of the gas): got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'repo_rule' THEN
        IF coalesce(r ->> 'on_failure', '') NOT IN ('close_out', 'retry_then_close_out') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('on_failure must be close_out or retry_then_close_out: got %s', coalesce(r ->> 'on_failure', 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'grace_days');
        y := carbonmkt._num(p_table, r, 'max_term_days');
        IF coalesce(x, 0) < 0 OR coalesce(x, 0) > 30 OR y IS NULL OR y < 1 OR y > 3650 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('grace_days must be in 0-30 and max_term_days in 1-3650: got %s and %s',
                                                               coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL')));
        END IF;
    ELSIF p_table = 'reserve_feed_rule' THEN
        x := carbonmkt._num(p_table, r, 'cap_share');
        IF x IS NULL OR x < 0 OR x >= 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the share of the caps set aside must be in [0, 1): got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'reserve_trigger' THEN
        IF coalesce(r ->> 'kind', '') NOT IN ('price_high', 'price_low', 'supply_high', 'supply_low')
           OR coalesce(r ->> 'action', '') NOT IN ('release', 'absorb', 'withhold') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('kind must be price_high, price_low, supply_high or supply_low and action release, absorb or withhold: got %s and %s',
                                                               coalesce(r ->> 'kind', 'NULL'), coalesce(r ->> 'action', 'NULL')));
        END IF;
        IF ((r ->> 'kind') IN ('price_high', 'supply_low')) <> ((r ->> 'action') = 'release') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('a %s trigger cannot %s: a high price or a short supply releases units, a low price or a long supply absorbs or withholds them',
                       r ->> 'kind', r ->> 'action'));
        END IF;
        IF NOT EXISTS (SELECT 1 FROM carbonmkt.product p WHERE p.code = r ->> 'product') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('unknown product "%s"', coalesce(r ->> 'product', 'NULL')),
                                            'The products are the rows of carbonmkt.product (carbonmkt.list_product).');
        END IF;
        IF (r ->> 'kind') LIKE 'price%' THEN
            x := carbonmkt._num(p_table, r, 'lookback_days');
            y := carbonmkt._num(p_table, r, 'reference_days');
            z := carbonmkt._num(p_table, r, 'multiple');
            IF x IS NULL OR x < 1 OR x > 250 OR y IS NULL OR y < 1 OR y > 750 OR z IS NULL OR z <= 0 OR r ? 'threshold_t' THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a price trigger needs lookback_days in 1-250, reference_days in 1-750, a positive multiple and no threshold_t: got %s, %s, %s',
                           coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL'), coalesce(z::text, 'NULL')));
            END IF;
            IF ((r ->> 'kind') = 'price_high' AND z <= 1) OR ((r ->> 'kind') = 'price_low' AND z >= 1) THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a %s trigger''s multiple must be %s 1: got %s', r ->> 'kind',
                           CASE r ->> 'kind' WHEN 'price_high' THEN 'above' ELSE 'below' END, z));
            END IF;
        ELSE
            x := carbonmkt._num(p_table, r, 'threshold_t');
            IF x IS NULL OR x <= 0 OR r ? 'multiple' OR r ? 'lookback_days' OR r ? 'reference_days' THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a supply trigger needs a positive threshold_t (t) and no price window: got %s', coalesce(x::text, 'NULL')));
            END IF;
        END IF;
        x := carbonmkt._num(p_table, r, 'quantity_t');
        y := carbonmkt._num(p_table, r, 'reserve_price_multiple');
        IF x IS NULL OR x <= 0 OR y IS NULL OR y <= 0 OR coalesce(carbonmkt._num(p_table, r, 'cooldown_days'), 0) < 0 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('quantity_t and reserve_price_multiple must be positive and cooldown_days not negative: got %s, %s and %s',
                       coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL'), coalesce(r ->> 'cooldown_days', '0')));
        END IF;
    ELSIF p_table = 'paid_allocation_rule' THEN
        x := carbonmkt._num(p_table, r, 'paid_share');
        IF x IS NULL OR x <= 0 OR x >= 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the paid share must be more than 0 and less than 1: got %s', coalesce(x::text, 'NULL')));
        END IF;
        IF coalesce(r ->> 'method', '') NOT IN ('auction', 'fixed_price') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('method must be auction or fixed_price: got %s', coalesce(r ->> 'method', 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'price_fen');
        IF x IS NULL OR x <= 0 OR x <> trunc(x) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('price_fen (fixed price or reserve price, fen per t) must be a positive whole number: got %s', coalesce(x::text, 'NULL')));
        END IF;
        IF NOT EXISTS (SELECT 1 FROM carbonmkt.sector q WHERE q.code = r ->> 'sector') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('unknown sector "%s"', coalesce(r ->> 'sector', 'NULL')));
        END IF;
    END IF;
END
$$;
-- (end of the Rules follow-up)

-- == Performance: incremental verification, storage =======================================

-- -- verify_ledger (Chain engineer; doc/registry.md "Verification", doc/performance.md) --
-- verify_chains() rebuilds every seal's digest in its one pass over the journal (C); the
-- incremental check verifies what was written after the last seal.
-- verify_ledger() is one pass of C over the journal (src/verify.c) since issue 16's
-- performance work; its rows are those of the SQL implementation it replaces.
CREATE OR REPLACE FUNCTION carbonmkt.verify_ledger()
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
	AS 'MODULE_PATHNAME', 'verify_ledger_full'
	LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.verify_ledger() IS
  'Recomputes every hash chain, day seal and the seal chain, rebuilds balances from the journal and checks the invariants (conservation, no negative balance, holds within balances, CCER blocks cover holdings, every entry belongs to a posting, issue entries only in accounts that may receive issuance); one row per problem, empty when all is well.';

CREATE FUNCTION carbonmkt.verify_chains_since(sealed_day date)
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
	AS 'MODULE_PATHNAME', 'verify_chains_since_pass'
	LANGUAGE C VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.verify_chains_since(date) IS
  'The incremental verify_chains(): the links and hashes of the entries dated after the given day (the first of each account linked to its predecessor), every account head, the seals dated on or after that day (rebuilt from the heads on that day and the new entries) and the seal chain.  What was written on or before the day is taken as verified.  Pinned search_path.';
REVOKE ALL ON FUNCTION carbonmkt.verify_chains_since(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.verify_chains_since(date)
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;

CREATE FUNCTION carbonmkt.verify_ledger_since(sealed_day date DEFAULT NULL)
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
	AS 'MODULE_PATHNAME', 'verify_ledger_incremental'
	LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.verify_ledger_since(date) IS
  'The incremental verify_ledger(): checks what was written after a day (default: the last sealed day; no seal: everything) in time proportional to it: the chains of the new entries and every head (verify_chains_since), the seals from that day on and the seal chain, running balances of the new entries, the holdings, holds and CCER blocks of the accounts they touch, that every new posting balances per asset except issue and withdraw entries, that every new entry has its posting, and where issue entries land.  Run verify_ledger() (and with anchors) for everything.';
REVOKE ALL ON FUNCTION carbonmkt.verify_ledger_since(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.verify_ledger_since(date)
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;

-- verify_chains() is the chain part of verify_ledger()'s one pass (src/verify.c); chain.c's
-- verify_chains symbol stays for 0.1.0 catalogs.
CREATE OR REPLACE FUNCTION carbonmkt.verify_chains()
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
	AS 'MODULE_PATHNAME', 'verify_chains_pass'
	LANGUAGE C VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.verify_chains() IS
  'Checks every journal chain (each account''s entries in seq order), every account head, every day seal and the seal chain: the chain part of verify_ledger()''s one pass over the journal; one row per problem: seq_gap, prev_hash_mismatch, hash_mismatch, head_mismatch, seal_mismatch, seal_link_mismatch, seal_hash_mismatch.  No rows when all is well.  Runs with a pinned search_path.';

-- -- Performance/seal (issue 16, session 3): the daily seal from the previous seal (seal_day, heads_digest) --
-- heads_digest(business_date) in time proportional to the accounts and the entries dated
-- after the day (one probe per account through the (account_id, seq) index), not to the
-- journal; the same digest, accounts and entries (sql/seal_digest.sql).
CREATE OR REPLACE FUNCTION carbonmkt.heads_digest(business_date date, OUT digest bytea, OUT accounts int, OUT entries bigint)
LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
	-- In time proportional to the accounts and the entries dated after the day, not to the
	-- journal (doc/registry.md, Day seals): the accounts are found by skipping through the
	-- (account_id, seq) index, one probe each; an account's head is its last entry dated on
	-- or before the day, found walking that index backwards from its newest entry (only
	-- entries dated after the day are stepped over).  As seq runs 1, 2, 3 ... in each chain,
	-- an account has head.seq entries up to its head, of which those dated after the day
	-- (a posting back-dated by the clock) are not the day's: entries = the sum of the heads'
	-- seq less the entries dated after the day that come before their account's head.
	WITH RECURSIVE ids(account_id) AS (
		SELECT min(j.account_id) FROM carbonmkt.journal j
		UNION ALL
		SELECT (SELECT min(j.account_id) FROM carbonmkt.journal j WHERE j.account_id > i.account_id)
		FROM ids i
		WHERE i.account_id IS NOT NULL
	),
	heads AS MATERIALIZED (
		SELECT i.account_id, h.seq, h.hash
		FROM ids i
		CROSS JOIN LATERAL (SELECT j.seq, j.hash
							FROM carbonmkt.journal j
							WHERE j.account_id = i.account_id
							  AND j.business_date <= heads_digest.business_date
							ORDER BY j.seq DESC
							LIMIT 1) h
	)
	SELECT sha256(convert_to(coalesce(string_agg(h.account_id || ':' || h.seq || ':'
											   || encode(h.hash, 'hex') || E'\n', ''
											   ORDER BY h.account_id), ''), 'UTF8')),
		   count(*)::int,
		   coalesce(sum(h.seq), 0)::bigint
		   - (SELECT count(*)
			  FROM carbonmkt.journal j
			  JOIN heads b ON b.account_id = j.account_id AND j.seq < b.seq
			  WHERE j.business_date > heads_digest.business_date)
	FROM heads h
	WHERE carbonmkt._require_scope('compute the heads digest')
$$;
COMMENT ON FUNCTION carbonmkt.heads_digest(date) IS
  'Chain heads as of the end of a business day: digest = SHA-256 over the lines <account_id>:<seq>:<lower-case hex of hash>\n of every account''s last entry (max seq) with business_date <= the day, in account_id order; accounts = number of such accounts; entries = journal rows with business_date <= the day.  Reads one index probe per account and the entries dated after the day, not the whole journal.';
-- heads_digest: the count of entries up to the day from the heads, the tops and one count of the
-- entries dated after the day, planned for the day (20 M entries: 10.8 s -> 0.6 s).
CREATE OR REPLACE FUNCTION carbonmkt.heads_digest(business_date date, OUT digest bytea, OUT accounts int, OUT entries bigint)
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, carbonmkt, pg_temp AS
$f$
BEGIN
	PERFORM carbonmkt._require_scope('compute the heads digest');
	-- In time proportional to the accounts and the entries dated after the day, not to the
	-- journal (doc/registry.md, Day seals): the accounts are found by skipping through the
	-- (account_id, seq) index, one probe each; an account's head is its last entry dated on
	-- or before the day, found walking that index backwards from its newest entry (only
	-- entries dated after the day are stepped over), and its top is its newest entry.  As
	-- seq runs 1, 2, 3 ... in each chain, the entries dated after the day below an account's
	-- head are its entries dated after the day less the top - head entries above the head
	-- (all dated after the day), so
	--   entries = sum(head.seq) - (count of entries dated after the day - sum(top - head.seq)),
	-- an account without a head counting head.seq = 0.  The one count reads the block-range
	-- index journal_date; EXECUTE ... USING plans it for this day (a generic plan cannot know
	-- how few entries are dated after it).  No per-account probe of the day's entries: a
	-- join of the two planned per account read the block-range index once per account
	-- (~97 buffers per account at 20 million entries, doc/performance.md).
	EXECUTE $q$
	WITH RECURSIVE ids(account_id) AS (
		SELECT min(j.account_id) FROM carbonmkt.journal j
		UNION ALL
		SELECT (SELECT min(j.account_id) FROM carbonmkt.journal j WHERE j.account_id > i.account_id)
		FROM ids i
		WHERE i.account_id IS NOT NULL
	),
	chains AS MATERIALIZED (
		SELECT i.account_id, h.seq, h.hash,
			   (SELECT max(j.seq) FROM carbonmkt.journal j WHERE j.account_id = i.account_id) AS top
		FROM ids i
		LEFT JOIN LATERAL (SELECT j.seq, j.hash
						   FROM carbonmkt.journal j
						   WHERE j.account_id = i.account_id
							 AND j.business_date <= $1
						   ORDER BY j.seq DESC
						   LIMIT 1) h ON true
		WHERE i.account_id IS NOT NULL
	)
	SELECT sha256(convert_to(coalesce(string_agg(h.account_id || ':' || h.seq || ':'
											   || encode(h.hash, 'hex') || E'\n', ''
											   ORDER BY h.account_id) FILTER (WHERE h.seq IS NOT NULL), ''), 'UTF8')),
		   (count(*) FILTER (WHERE h.seq IS NOT NULL))::int,
		   (coalesce(sum(h.seq), 0)
			- ((SELECT count(*) FROM carbonmkt.journal j WHERE j.business_date > $1)
			   - coalesce(sum(h.top - coalesce(h.seq, 0)), 0)))::bigint
	FROM chains h
	$q$ INTO digest, accounts, entries USING business_date;
END
$f$;
-- (end of Performance/seal)


-- -- Performance/hotpath (issue 16, session 3): the transfer posting path and the batch settlement (WAL, storage) --
-- The journal's key is (account_id, seq), its place in the account's chain; entry_id keeps its
-- identity and is served by a block-range index (src/registry.sql).  The primary key index is
-- built anew (an index that backs a UNIQUE constraint cannot become the primary key's): on a
-- large journal this update takes as long as one index build, under an exclusive lock.
ALTER TABLE carbonmkt.journal DROP CONSTRAINT journal_pkey;
ALTER TABLE carbonmkt.journal DROP CONSTRAINT journal_account_id_seq_key;
ALTER TABLE carbonmkt.journal ADD CONSTRAINT journal_pkey PRIMARY KEY (account_id, seq);
CREATE INDEX journal_entry ON carbonmkt.journal USING brin (entry_id)
  WITH (pages_per_range = 32, autosummarize = on);
-- (end of Performance/hotpath)


-- -- Performance/orders (issue 16, session 3): continuous order entry (submit_order) --
-- Orders that rest behind the best price of their side enter side by side under a shared
-- lock of the book (_rests_behind, _book_gate, _enter_order); every listed order that rests
-- draws its time priority from one sequence (the engine too), above every priority given so far.
CREATE SEQUENCE carbonmkt.market_priority_seq;
COMMENT ON SEQUENCE carbonmkt.market_priority_seq IS
  'Time priority (时间优先) of listed orders: an order draws the next value when it comes to rest in the book (market_order.priority).  It only grows, and an order draws it while it holds a lock on its book until commit (the matcher lock, or FOR SHARE when it rests without matching), so at one price a smaller value is an earlier order.';
SELECT pg_catalog.setval('carbonmkt.market_priority_seq',
       greatest((SELECT max(o.priority) FROM carbonmkt.market_order o), (SELECT max(d.book_seq) FROM carbonmkt.product_day d), 0) + 1, false);
SELECT pg_catalog.pg_extension_config_dump('carbonmkt.market_priority_seq', '');  -- time priority of listed orders
COMMENT ON TABLE carbonmkt.product_day IS
  'One row per product and trading day, created with the day''s first order: the previous close (the band''s centre), the time-priority counter of one-way bidding''s bids and, after end_of_day(), the closing price.  Its row lock (FOR NO KEY UPDATE) is the product''s matcher lock: one matcher per product at a time, products never wait on each other.  A listed order that rests behind the best price of its side without reaching the other side locks it FOR SHARE instead (_rests_behind): such orders enter side by side, and every matcher waits for them.';

-- hot helpers in PL/pgSQL (plans kept for the session) rather than SQL (planned on every call)
CREATE OR REPLACE FUNCTION carbonmkt.plausibility_max(subject text, scope text DEFAULT '*') RETURNS numeric
LANGUAGE plpgsql STABLE PARALLEL SAFE AS
$$
BEGIN
    RETURN (SELECT l.max_value FROM carbonmkt.plausibility_limit l
             WHERE l.subject = plausibility_max.subject AND l.scope IN (coalesce(plausibility_max.scope, '*'), '*')
             ORDER BY l.scope = '*' LIMIT 1);
END
$$;

CREATE OR REPLACE FUNCTION carbonmkt.format_asset(instrument carbonmkt.instrument, vintage int, project text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS
$$
BEGIN
    RETURN CASE instrument WHEN 'CEA' THEN 'CEA ' || vintage
                           WHEN 'CCER' THEN 'CCER ' || project || ' ' || vintage
                           ELSE 'CNY' END;
END
$$;

CREATE OR REPLACE FUNCTION carbonmkt.caller_participant() RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt AS
$$
BEGIN
    RETURN (SELECT l.participant_id FROM carbonmkt.participant_login l WHERE l.role_name = session_user);
END
$$;

CREATE OR REPLACE FUNCTION carbonmkt._login_kind() RETURNS carbonmkt.participant_kind
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    RETURN (SELECT p.kind FROM carbonmkt.participant_login l
              JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
             WHERE l.role_name = session_user);
END
$$;

CREATE OR REPLACE FUNCTION carbonmkt._is_member(role_name text) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS
$$
BEGIN
    RETURN EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = session_user AND r.rolsuper)
        OR (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = _is_member.role_name)
            AND pg_catalog.pg_has_role(session_user, _is_member.role_name, 'MEMBER')
            AND (carbonmkt._staff_kinds(_is_member.role_name) IS NULL
                 OR coalesce(carbonmkt._login_kind() = ANY (carbonmkt._staff_kinds(_is_member.role_name)), false)));
END
$$;

CREATE OR REPLACE FUNCTION carbonmkt.fee_fen(notional_fen bigint, fee_rate numeric) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS
$$
BEGIN
    IF abs(notional_fen * fee_rate) >= 9223372036854775807.5 THEN
        RETURN carbonmkt._refuse(NULL::bigint, 'CM902',
                   format('fee_fen: the fee on %s fen at rate %s exceeds the largest amount of fen', notional_fen, fee_rate));
    END IF;
    RETURN round(notional_fen * fee_rate)::bigint;
END
$$;

CREATE OR REPLACE FUNCTION carbonmkt._available(p_account bigint, p_instrument carbonmkt.instrument, p_vintage int, p_project text)
RETURNS bigint LANGUAGE plpgsql STABLE AS
$$
BEGIN
    RETURN coalesce((SELECT h.balance - h.held FROM carbonmkt.holding h
                      WHERE h.account_id = p_account AND h.instrument = p_instrument
                        AND h.vintage = p_vintage AND h.project = p_project), 0);
END
$$;

CREATE FUNCTION carbonmkt._book_gate() RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT 1129139010 $$;
COMMENT ON FUNCTION carbonmkt._book_gate() IS
  'Internal: the first key of the advisory lock (key, product_id) that gates a listed book: exclusive for the matcher lock, shared for orders that rest side by side (doc/market.md, "Concurrency").';
REVOKE ALL ON FUNCTION carbonmkt._book_gate() FROM PUBLIC;

CREATE OR REPLACE FUNCTION carbonmkt._product_day(p_product int, p_date date, p_lock boolean)
RETURNS carbonmkt.product_day LANGUAGE plpgsql AS
$$
DECLARE
    r carbonmkt.product_day;
BEGIN
    IF p_lock THEN
        -- the book's gate first (see _enter_order): a matcher queues ahead of orders that
        -- would rest side by side after it, so a stream of them never starves it
        PERFORM pg_advisory_xact_lock(carbonmkt._book_gate(), p_product);
        SELECT * INTO r FROM carbonmkt.product_day d
         WHERE d.product_id = p_product AND d.business_date = p_date FOR NO KEY UPDATE;
    ELSE
        SELECT * INTO r FROM carbonmkt.product_day d WHERE d.product_id = p_product AND d.business_date = p_date;
    END IF;
    IF NOT FOUND THEN
        INSERT INTO carbonmkt.product_day (product_id, business_date, prev_close_fen)
        VALUES (p_product, p_date, carbonmkt._previous_close(p_product, p_date))
        ON CONFLICT DO NOTHING;
        IF p_lock THEN
            SELECT * INTO STRICT r FROM carbonmkt.product_day d
             WHERE d.product_id = p_product AND d.business_date = p_date FOR NO KEY UPDATE;
        ELSE
            SELECT * INTO STRICT r FROM carbonmkt.product_day d WHERE d.product_id = p_product AND d.business_date = p_date;
        END IF;
    END IF;
    RETURN r;
END
$$;

CREATE FUNCTION carbonmkt._rests_behind(p_product int, p_date date, p_side carbonmkt.order_side, p_price_fen bigint)
RETURNS boolean
	AS 'MODULE_PATHNAME', 'market_rests_behind'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt._rests_behind(int, date, carbonmkt.order_side, bigint) IS
  'Internal (C): true when a listed order at this price would rest at or behind the best price of its side without reaching the other side (no trade, best prices unchanged); false otherwise, also on an empty side.';
REVOKE ALL ON FUNCTION carbonmkt._rests_behind(int, date, carbonmkt.order_side, bigint) FROM PUBLIC;

CREATE FUNCTION carbonmkt._reach(p_product int, p_date date, p_side carbonmkt.order_side, p_price_fen bigint,
                                 p_quantity bigint, p_participant bigint)
RETURNS bigint[] LANGUAGE plpgsql STABLE SET enable_sort = off AS
$$
DECLARE
    reach bigint[];
BEGIN
    IF p_side = 'buy' THEN
        SELECT array_agg(a) INTO reach
          FROM (SELECT o.holding_account, o.cash_account,
                       coalesce(sum(o.remaining) FILTER (WHERE o.participant_id <> p_participant) OVER w, 0)
                       - CASE WHEN o.participant_id <> p_participant THEN o.remaining ELSE 0 END AS before
                  FROM carbonmkt.market_order o
                 WHERE o.product_id = p_product AND o.business_date = p_date AND o.status = 'open'
                   AND o.mode = 'listed' AND o.side = 'sell' AND o.price_fen <= p_price_fen
                WINDOW w AS (ORDER BY o.price_fen, o.priority ROWS UNBOUNDED PRECEDING)) ro,
               unnest(ARRAY[ro.holding_account, ro.cash_account]) a
         WHERE ro.before < p_quantity;
    ELSE
        SELECT array_agg(a) INTO reach
          FROM (SELECT o.holding_account, o.cash_account,
                       coalesce(sum(o.remaining) FILTER (WHERE o.participant_id <> p_participant) OVER w, 0)
                       - CASE WHEN o.participant_id <> p_participant THEN o.remaining ELSE 0 END AS before
                  FROM carbonmkt.market_order o
                 WHERE o.product_id = p_product AND o.business_date = p_date AND o.status = 'open'
                   AND o.mode = 'listed' AND o.side = 'buy' AND o.price_fen >= p_price_fen
                WINDOW w AS (ORDER BY o.price_fen DESC, o.priority ROWS UNBOUNDED PRECEDING)) ro,
               unnest(ARRAY[ro.holding_account, ro.cash_account]) a
         WHERE ro.before < p_quantity;
    END IF;
    RETURN reach;
END
$$;
COMMENT ON FUNCTION carbonmkt._reach(int, date, carbonmkt.order_side, bigint, bigint, bigint) IS
  'Internal: the holding and cash accounts of the resting listed orders an incoming order at this price and quantity reaches, in price-time order (own orders in the way do not count); NULL when none.';
REVOKE ALL ON FUNCTION carbonmkt._reach(int, date, carbonmkt.order_side, bigint, bigint, bigint) FROM PUBLIC;

DROP FUNCTION carbonmkt._enter_order(carbonmkt.trade_mode, text, text, bigint, numeric, bigint, text, bigint, boolean, bigint, text);
CREATE FUNCTION carbonmkt._enter_order(p_mode carbonmkt.trade_mode, p_product text, p_side text, p_quantity bigint,
                                       p_price numeric, p_take bigint, p_reference text, p_participant bigint,
                                       p_lock boolean, p_auction bigint DEFAULT NULL, p_role text DEFAULT 'trade',
                                       OUT order_id bigint, OUT replay boolean, OUT rested boolean)
LANGUAGE plpgsql AS
$$
DECLARE
    me      bigint;
    prod    carbonmkt.product;
    sd      carbonmkt.order_side;
    ts      timestamptz := carbonmkt.clock_now();
    d       date := carbonmkt.business_date(ts);
    r       carbonmkt.market_rule;
    day     carbonmkt.product_day;
    tr      carbonmkt.trader_rule;
    acc     record;
    old     carbonmkt.market_order;
    lst     carbonmkt.market_order;
    px      bigint;
    notional bigint;
    fee     bigint;
    need    bigint;
    avail   bigint;
    bought  bigint;
    bal     bigint;
    openbuy bigint;
    h       bigint;
    asset   text;
    reach   bigint[];
BEGIN
    replay := false;
    rested := false;
    me := carbonmkt._market_actor(p_participant);
    IF p_side IS NULL OR lower(btrim(p_side)) NOT IN ('buy', 'sell') THEN
        RAISE EXCEPTION 'side must be ''buy'' or ''sell'', not %', coalesce(quote_literal(p_side), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    sd := lower(btrim(p_side))::carbonmkt.order_side;
    prod := carbonmkt._product(p_product);

    -- idempotency: the same client reference (per login) returns the original order
    -- (looked up again under the matcher lock below, for a concurrent twin)
    old := carbonmkt._order_by_reference(p_reference, p_mode, sd, me, prod, p_quantity, p_price, p_take, p_auction);
    IF old.order_id IS NOT NULL THEN
        order_id := old.order_id;
        replay := true;
        RETURN;
    END IF;

    -- checks that do not depend on the book or the balances: before the matcher lock,
    -- so that the lock is held as briefly as possible
    r := carbonmkt._rule(p_mode, d, prod.jurisdiction);
    -- a fee the exchange has not set is refused, never charged as 0
    IF r.fee_rate IS NULL THEN
        RAISE EXCEPTION 'no fee rate for % in jurisdiction "%" on %: market_rule (jurisdiction %, mode %, valid_from %) has none',
            carbonmkt._mode_name(p_mode), prod.jurisdiction, to_char(d, 'YYYY-MM-DD'), r.jurisdiction, r.mode,
            to_char(r.valid_from, 'YYYY-MM-DD')
            USING ERRCODE = 'CM302',
                  DETAIL = 'The sources give no fee schedule of the exchange: carbonmkt ships the market rules without a fee rate.',
                  HINT = 'The exchange sets it with carbonmkt.amend_rule(''market_rule'', key, ''{"fee_rate": ...}'', document); doc/rules.md.';
    END IF;
    px := carbonmkt._price_fen(p_price, r);
    PERFORM carbonmkt._check_quantity(p_quantity, r);
    IF p_mode <> 'auction' THEN
        PERFORM carbonmkt._check_session(p_mode, ts, prod.jurisdiction);
    ELSIF NOT carbonmkt.is_trading_day(d, prod.jurisdiction) THEN
        RAISE EXCEPTION 'the market is closed on %: not a trading day', to_char(d, 'YYYY-MM-DD') USING ERRCODE = 'CM302';
    END IF;
    day := carbonmkt._product_day(prod.product_id, d, false);
    PERFORM carbonmkt._check_band(px, day.prev_close_fen, r);      -- the previous close is fixed for the day
    tr := carbonmkt._trader(me, d, prod.jurisdiction, p_role);
    acc := carbonmkt._trading_accounts(me);
    asset := carbonmkt.format_asset(prod.instrument, prod.vintage, prod.project);
    IF px::numeric * p_quantity > 9000000000000000000 THEN
        RAISE EXCEPTION 'order value % x % CNY is out of range', carbonmkt._t(p_quantity), carbonmkt._cny(px)
            USING ERRCODE = '22003';
    END IF;
    notional := px * p_quantity;

    -- A listed order that will rest behind the best price of its side without reaching the
    -- other side (_rests_behind) trades with nobody and moves no best price: it enters under
    -- a SHARED lock of the book (the gate, then the product_day row FOR SHARE), side by side
    -- with others like it, rests at once with the next time priority, and the matcher is
    -- not called.  Every matcher waits for these orders to commit (FOR NO KEY UPDATE
    -- conflicts with FOR SHARE), so it sees all of them; two of them cannot cross each other
    -- (a buy at or below the best bid, a sell at or above the best ask, of a book that is
    -- never left crossed).  The first look is without a lock; under the shared lock it is
    -- looked at again, and if the book moved in between the shared lock is given back (the
    -- subtransaction) and the order takes the matcher lock like any other.  Orders with a
    -- client reference (a concurrent twin must find the original) and 摘牌 always take the
    -- matcher lock.  doc/market.md, "Concurrency".
    IF p_lock AND p_mode = 'listed' AND p_take IS NULL AND p_reference IS NULL
       AND carbonmkt._rests_behind(prod.product_id, d, sd, px) THEN
        BEGIN
            PERFORM pg_advisory_xact_lock_shared(carbonmkt._book_gate(), prod.product_id);
            SELECT * INTO STRICT day FROM carbonmkt.product_day x
             WHERE x.product_id = prod.product_id AND x.business_date = d FOR SHARE;
            IF NOT carbonmkt._rests_behind(prod.product_id, d, sd, px) THEN
                RAISE EXCEPTION 'the book moved' USING ERRCODE = 'CM399';
            END IF;
            rested := true;
        EXCEPTION WHEN SQLSTATE 'CM399' THEN
            rested := false;        -- the shared lock went with the subtransaction
        END;
        IF rested THEN
            -- the account the hold will post to, so that the checks below see this
            -- participant's other orders (a twin on another session waits here)
            PERFORM 1 FROM carbonmkt.account a
              WHERE a.account_id = CASE WHEN sd = 'sell' THEN acc.holding ELSE acc.cash END FOR NO KEY UPDATE;
        END IF;
    END IF;

    -- the matcher lock (everything that matches at once takes it before its hold, so that
    -- the hold never waits for an account the matcher holds while it waits for the product);
    -- from here on the book, the day's trades and the balances are as the matcher sees them
    IF p_lock AND NOT rested THEN
        day := carbonmkt._product_day(prod.product_id, d, true);
        old := carbonmkt._order_by_reference(p_reference, p_mode, sd, me, prod, p_quantity, p_price, p_take, p_auction);
        IF old.order_id IS NOT NULL THEN
            order_id := old.order_id;
            replay := true;
            RETURN;
        END IF;
    END IF;
    IF day.closed_at IS NOT NULL THEN
        RAISE EXCEPTION 'trading in % is closed for %', prod.code, to_char(d, 'YYYY-MM-DD')
            USING ERRCODE = 'CM302', DETAIL = format('The exchange ran end_of_day() at %s.',
                                               to_char(day.closed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS'));
    END IF;

    IF sd = 'sell' THEN
        avail := carbonmkt._available(acc.holding, prod.instrument, prod.vintage, prod.project);
        IF avail < p_quantity THEN
            RAISE EXCEPTION 'insufficient available % to sell: available %, requested %', asset,
                carbonmkt._t(avail), carbonmkt._t(p_quantity)
                USING ERRCODE = 'CM306',
                      DETAIL = format('Holding account %s; units held for other orders or pledges are not available.', acc.holding);
        END IF;
        IF NOT r.same_day_resale THEN
            SELECT coalesce(sum(t.quantity), 0) INTO bought FROM carbonmkt.trade t
             WHERE t.buyer_id = me AND t.product_id = prod.product_id AND t.business_date = d;
            IF avail - bought < p_quantity THEN
                RAISE EXCEPTION 'units bought today cannot be resold today: sellable %, requested %',
                    carbonmkt._t(greatest(avail - bought, 0)), carbonmkt._t(p_quantity)
                    USING ERRCODE = 'CM307',
                          DETAIL = format('Participant %s bought %s of %s on %s; available %s.', me, carbonmkt._t(bought),
                                          asset, to_char(d, 'YYYY-MM-DD'), carbonmkt._t(avail)),
                          HINT = 'Units bought on a trading day can be sold from the next trading day (T+1).';
            END IF;
        END IF;
        need := p_quantity;
    ELSE
        IF tr.max_position IS NOT NULL THEN
            SELECT coalesce(sum(h.balance), 0) INTO bal FROM carbonmkt.holding h
             WHERE h.account_id = acc.holding AND h.instrument = prod.instrument
               AND h.vintage = prod.vintage AND h.project = prod.project;
            SELECT coalesce(sum(o.remaining), 0) INTO openbuy FROM carbonmkt.market_order o
             WHERE o.participant_id = me AND o.product_id = prod.product_id AND o.side = 'buy'
               AND o.status IN ('queued', 'open');
            IF bal + openbuy + p_quantity > tr.max_position THEN
                RAISE EXCEPTION 'position limit: buying % would bring participant % to % of %, above its limit of %',
                    carbonmkt._t(p_quantity), me, carbonmkt._t(bal + openbuy + p_quantity), asset, carbonmkt._t(tr.max_position)
                    USING ERRCODE = 'CM308',
                          DETAIL = format('Holding %s, open buy orders %s, this order %s.', carbonmkt._t(bal),
                                          carbonmkt._t(openbuy), carbonmkt._t(p_quantity)),
                          HINT = 'Position limits (最大持仓量) per participant kind are in carbonmkt.trader_rule.';
            END IF;
        END IF;
        fee := carbonmkt.fee_fen(notional, r.fee_rate);
        need := notional + fee;
        avail := carbonmkt._available(acc.cash, 'CNY', 0, '');
        IF avail < need THEN
            RAISE EXCEPTION 'insufficient available cash to buy % at %: available %, requested %',
                carbonmkt._t(p_quantity), carbonmkt._cny(px), carbonmkt.format_quantity('CNY', avail),
                carbonmkt.format_quantity('CNY', need)
                USING ERRCODE = 'CM306',
                      DETAIL = format('%s for the allowances plus a fee of %s (%s%% of the value); cash account %s.',
                                      carbonmkt.format_quantity('CNY', notional), carbonmkt.format_quantity('CNY', fee),
                                      trim_scale(r.fee_rate * 100), acc.cash);
        END IF;
    END IF;

    -- 摘牌: the listing this order takes
    IF p_take IS NOT NULL THEN
        SELECT * INTO lst FROM carbonmkt.market_order o WHERE o.order_id = p_take;
        IF NOT FOUND OR lst.mode <> 'listed' OR lst.product_id <> prod.product_id THEN
            RAISE EXCEPTION 'order % is not a listed order of %', p_take, prod.code USING ERRCODE = 'CM310';
        END IF;
        IF lst.side = sd THEN
            RAISE EXCEPTION 'listing % is a % order: a % order cannot take it', p_take, lst.side, sd USING ERRCODE = 'CM310';
        END IF;
        IF lst.participant_id = me THEN
            RAISE EXCEPTION 'self-trade: listing % is participant %''s own order', p_take, me
                USING ERRCODE = 'CM309', HINT = 'A participant never trades with itself (doc/market.md, self-trade prevention).';
        END IF;
        IF p_lock AND (lst.status <> 'open' OR lst.business_date <> d) THEN
            RAISE EXCEPTION 'listing % is no longer open: it is %', p_take,
                CASE WHEN lst.status = 'open' THEN 'from ' || to_char(lst.business_date, 'YYYY-MM-DD') ELSE lst.status::text END
                USING ERRCODE = 'CM310';
        END IF;
        IF (sd = 'buy' AND px < lst.price_fen) OR (sd = 'sell' AND px > lst.price_fen) THEN
            RAISE EXCEPTION 'a % at % cannot take listing % at %', sd, carbonmkt._cny(px), p_take, carbonmkt._cny(lst.price_fen)
                USING ERRCODE = 'CM310', HINT = '摘牌 trades at the listing''s price: the order''s limit must reach it.';
        END IF;
    END IF;

    -- a listed order matched at once (submit_order) settles with the resting orders it
    -- reaches: lock their accounts, its own and the clearing account in account order before
    -- its hold (doc/registry.md, "Lock order").  Under the matcher lock the book cannot change,
    -- so these are the orders the engine will fill, in its price-time order, up to the
    -- quantity; own orders in the way (self-trade prevention) only touch its own accounts.
    IF p_lock AND p_mode = 'listed' AND NOT rested THEN
        IF p_take IS NOT NULL THEN
            reach := ARRAY[lst.holding_account, lst.cash_account];
        ELSE
            reach := carbonmkt._reach(prod.product_id, d, sd, px, p_quantity, me);
        END IF;
        -- an order that reaches nobody only holds (one account): nothing to take up front
        IF reach IS NOT NULL THEN
            PERFORM 1 FROM carbonmkt.account a
              WHERE a.account_id = ANY (reach || ARRAY[acc.holding, acc.cash, prod.clearing_account])
              ORDER BY a.account_id FOR NO KEY UPDATE;
        END IF;
    END IF;

    -- the hold, then the order row
    order_id := nextval('carbonmkt.market_order_id_seq');
    IF sd = 'sell' THEN
        h := carbonmkt.hold(acc.holding, prod.instrument, need, 'order', prod.vintage, prod.project, NULL,
                            'market order ' || order_id);
    ELSE
        h := carbonmkt.hold(acc.cash, 'CNY', need, 'order', 0, '', NULL, 'market order ' || order_id);
    END IF;
    INSERT INTO carbonmkt.market_order (order_id, product_id, mode, side, participant_id, quantity, price_fen, remaining,
                                        status, priority, take_order_id, auction_id, holding_account, cash_account, hold_id,
                                        hold_amount, hold_left, business_date, entered_at, initiator, reference)
    VALUES (order_id, prod.product_id, p_mode, sd, me, p_quantity, px, p_quantity,
            CASE WHEN rested THEN 'open' ELSE 'queued' END::carbonmkt.order_status,
            CASE WHEN rested THEN nextval('carbonmkt.market_priority_seq') END, p_take, p_auction,
            acc.holding, acc.cash, h, need, need, d, ts, session_user, p_reference);
END
$$;
COMMENT ON FUNCTION carbonmkt._enter_order(carbonmkt.trade_mode, text, text, bigint, numeric, bigint, text, bigint, boolean, bigint, text) IS
  'Internal: validates an order against the rules (session, price step, size, band, funds or allowances, T+1, position limit, 摘牌), lays its registry hold and records it as queued, or, a listed order that rests behind the best price of its side without reaching the other side, as open in the book under a shared lock (rested); the same client reference returns the original order.';
REVOKE ALL ON FUNCTION carbonmkt._enter_order(carbonmkt.trade_mode, text, text, bigint, numeric, bigint, text, bigint, boolean, bigint, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION carbonmkt.submit_order(product text, side text, tonnes bigint, price numeric,
                                       take_order_id bigint DEFAULT NULL, reference text DEFAULT NULL,
                                       acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    e record;
BEGIN
    e := carbonmkt._enter_order('listed', product, side, tonnes, price, take_order_id, reference, acting_for, true);
    IF NOT e.replay AND NOT e.rested THEN
        PERFORM carbonmkt._match_order(e.order_id, (carbonmkt._product(product)).product_id);
    END IF;
    RETURN e.order_id;
END
$$;

-- (end of Performance/orders)


-- -- Performance/bivw (issue 16, session 3): BI and compliance views at ten-year scale; close_period --
-- The price source from the kept daily statistics (_market_day, a hash join over the closed
-- days) instead of the whole tape; obligation_status reads each open-period unit's surrender
-- totals by the whole primary key; close_period freezes from the period's figures computed
-- once; adopt_preallocation finds the legs through the accounts; a partial index for the
-- voluntary cancellations.  Rows unchanged (doc/performance.md).

CREATE OR REPLACE FUNCTION carbonmkt._daily_prices(p_jurisdiction text, p_from date, p_to date)
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

CREATE OR REPLACE VIEW carbonmkt.obligation_status AS
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

CREATE OR REPLACE FUNCTION carbonmkt.close_period(period int)
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
    -- remaining tonnes from its own obligation row's surrender totals (by primary key), as
    -- obligation_status has them
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
          FROM f
          CROSS JOIN LATERAL (SELECT y.surrendered_cea_t, y.surrendered_ccer_t FROM carbonmkt.obligation y
                               WHERE y.participant_id = f.participant_id AND y.period = close_period.period OFFSET 0) o)
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

CREATE OR REPLACE FUNCTION carbonmkt.adopt_preallocation(year int, postings bigint[], jurisdiction text DEFAULT 'CN')
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

CREATE OR REPLACE VIEW carbonmkt._market_day AS
-- a closed day: the row end_of_day() kept (a hash join over every day); a day not closed yet
-- (no kept row): the tape's figures by index (OFFSET 0: the figures stay a per-day lookup,
-- never an aggregate over the whole tape)
SELECT d.product_id, d.business_date, d.prev_close_fen, d.close_fen, d.closed_at,
       s.open_fen, s.high_fen, s.low_fen, s.last_fen, s.listed_volume_t, s.listed_turnover_fen,
       s.block_volume_t, s.block_turnover_fen, s.auction_volume_t, s.auction_turnover_fen,
       s.volume_t, s.turnover_fen, s.trades
  FROM carbonmkt.product_day d
  JOIN carbonmkt.market_day_stats s ON s.product_id = d.product_id AND s.business_date = d.business_date
UNION ALL
SELECT d.product_id, d.business_date, d.prev_close_fen, d.close_fen, d.closed_at,
       f.open_fen, f.high_fen, f.low_fen, f.last_fen, f.listed_volume_t, f.listed_turnover_fen,
       f.block_volume_t, f.block_turnover_fen, f.auction_volume_t, f.auction_turnover_fen,
       f.volume_t, f.turnover_fen, coalesce(f.trades, 0)
  FROM carbonmkt.product_day d
  LEFT JOIN LATERAL (SELECT f.* FROM carbonmkt._market_day_figures f
                      WHERE f.product_id = d.product_id AND f.business_date = d.business_date OFFSET 0) f ON true
 WHERE NOT EXISTS (SELECT 1 FROM carbonmkt.market_day_stats s
                    WHERE s.product_id = d.product_id AND s.business_date = d.business_date);
COMMENT ON VIEW carbonmkt._market_day IS
  'Internal, public market data: every product_day (previous close, close, closed_at) with the day''s statistics in fen and t: the row end_of_day() kept in market_day_stats, else (a day not closed yet) computed from the tape (_market_day_figures, by index); NULLs and trades 0 without trades.  A filter on business_date reaches product_day.  Read by bi_market_daily and by the compliance room''s price source _daily_prices.';

-- the voluntary cancellations among the journal's entries, without reading the journal: a
-- partial index (a transfer's legs are not cancellations: nothing is added to their writes)
CREATE INDEX journal_cancel ON carbonmkt.journal (business_date) WHERE kind = 'cancel';
-- (end of Performance/bivw)


-- -- Performance/scale (issue 16, session 3): registry_scale support --
-- (end of Performance/scale)


-- == Next phase: paid allocation, reserve, pledge and repo, voluntary cancellation ==========

-- The registry's hold reason for paid-allocation locks (有偿分配): laid, lifted and never
-- spent but by the registry or the finance room (src/posting.c).
ALTER TYPE carbonmkt.hold_reason ADD VALUE 'paid_lock';
COMMENT ON TYPE carbonmkt.hold_reason IS 'Why units are frozen: order (open order), pledge 质押, judicial 司法冻结, other, paid_lock (free allowances locked until the unit has bought its paid share, 有偿分配; the finance room lays and lifts it).';


-- allocation_adjustment: reason paid_share (no compliance period); allocation_result.paid_t.
ALTER TABLE carbonmkt.allocation_adjustment DROP CONSTRAINT allocation_adjustment_reason_check;
ALTER TABLE carbonmkt.allocation_adjustment
    ADD CONSTRAINT allocation_adjustment_reason_check CHECK (reason IN ('borrowing', 'penalty_cut', 'paid_share')),
    ALTER COLUMN period DROP NOT NULL,
    ADD CONSTRAINT allocation_adjustment_period_check CHECK ((reason = 'paid_share') = (period IS NULL));
COMMENT ON TABLE carbonmkt.allocation_adjustment IS
  'Reductions of a unit''s allocation of a year that the compliance room decided and the allocation room applies: borrowing (预支: those tonnes of the year were delivered early, from the province''s allocation account) and penalty_cut (核减: the shortfall times the penalty rule''s cut multiple; withdrawn_t of it withdrawn when the unit corrects its shortfall after the close); and the paid part of the allocation (paid_share, 有偿分配, written by the finance room: sold, not issued free; no compliance period).  In force: tonnes - withdrawn_t.  allocation_result shows them; preallocate(), finalize_allocation() and settle_allocation_adjustments() issue net of them.';
CREATE OR REPLACE VIEW carbonmkt.allocation_result WITH (security_invoker = true) AS
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


-- The finance room (src/finance.sql), as in a fresh install.
-- Small helpers ---------------------------------------------------------------------------

-- The finance API's plausibility limits (doc/security.md, doc/finance.md): rule rows of
-- carbonmkt.plausibility_limit like the registry's, entry-error bounds rather than policy.
INSERT INTO carbonmkt.plausibility_limit (subject, scope, max_value, source) VALUES
  ('price_cny', '*', 100000000, 'operational: a price of 10^8 CNY per t is over a million times any CEA close so far (RULES.md 5: 48 CNY/t at launch, about 75 CNY/t in mid-2025 [S3]); refuses entry errors and keeps every amount in fen far from the int8 limit'),
  ('amount_fen', 'secured_fen', 100000000000000, 'operational: 10^14 fen (10^12 CNY) secured by one pledge is above the value of the whole national market''s allowances (about 8x10^9 t [S3] L86 at under 100 CNY per t)'),
  ('term_days', 'pledge', 3660, 'operational: a pledge term of at most ten years; allowance pledge loans run for months to a few years'),
  ('text_length', 'beneficiary', 200, 'operational: as name (a legal or natural person, an event or a product)'),
  ('text_length', 'purpose', 500, 'operational: a sentence saying what the retirement offsets');


CREATE FUNCTION carbonmkt._finance_text(p_value text, p_argument text)
RETURNS text LANGUAGE plpgsql STABLE AS
$$
DECLARE
    lim numeric := carbonmkt.plausibility_max('text_length', p_argument);
BEGIN
    IF p_value IS NULL OR btrim(p_value) = '' THEN
        RAISE EXCEPTION '% is required', p_argument USING ERRCODE = 'CM701';
    END IF;
    IF length(p_value) > lim THEN
        RAISE EXCEPTION '% is % characters long, more than the % allowed (plausibility_limit text_length, %)',
            p_argument, length(p_value), lim, p_argument
            USING ERRCODE = 'CM701';
    END IF;
    RETURN btrim(p_value);
END
$$;
COMMENT ON FUNCTION carbonmkt._finance_text(text, text) IS
  'Internal: a required free-text argument, trimmed; CM701 when missing or longer than its plausibility limit (subject text_length, scope the argument).';

CREATE FUNCTION carbonmkt._finance_quantity(p_value bigint, p_argument text)
RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS
$$
BEGIN
    IF p_value IS NULL OR p_value <= 0 THEN
        RAISE EXCEPTION '% must be a positive number of tonnes, got %', p_argument, coalesce(p_value::text, 'NULL')
            USING ERRCODE = 'CM701';
    END IF;
    RETURN p_value;
END
$$;
COMMENT ON FUNCTION carbonmkt._finance_quantity(bigint, text) IS
  'Internal: a required positive quantity in tonnes; CM701 otherwise.';

CREATE FUNCTION carbonmkt._finance_price(p_value numeric, p_argument text, p_unit text DEFAULT 'CNY per t',
                                          p_subject text DEFAULT 'price_cny')
RETURNS bigint LANGUAGE plpgsql STABLE AS
$$
DECLARE
    lim numeric := carbonmkt.plausibility_max(p_subject, p_argument);
BEGIN
    IF p_value IS NULL OR p_value <= 0 OR p_value * 100 <> trunc(p_value * 100) OR p_value > lim THEN
        RAISE EXCEPTION '% must be a positive amount in % with at most two decimals, at most % (plausibility_limit %), got %',
            p_argument, p_unit, to_char(lim, 'FM999,999,999,999,990'), p_subject, coalesce(p_value::text, 'NULL')
            USING ERRCODE = 'CM701';
    END IF;
    RETURN (p_value * 100)::bigint;
END
$$;
COMMENT ON FUNCTION carbonmkt._finance_price(numeric, text, text, text) IS
  'Internal: a price in CNY per t (step 0.01 CNY) converted to fen; CM701 naming the argument and its plausibility limit (subject price_cny, scope the argument) otherwise.';

CREATE FUNCTION carbonmkt._finance_fen(p_value bigint, p_argument text)
RETURNS bigint LANGUAGE plpgsql STABLE AS
$$
DECLARE
    lim numeric := carbonmkt.plausibility_max('amount_fen', p_argument);
BEGIN
    IF p_value IS NULL OR p_value <= 0 OR p_value > lim THEN
        RAISE EXCEPTION '% must be a positive amount of fen (0.01 CNY), at most % (plausibility_limit amount_fen), got %',
            p_argument, to_char(lim, 'FM999,999,999,999,999,990'), coalesce(p_value::text, 'NULL')
            USING ERRCODE = 'CM701';
    END IF;
    RETURN p_value;
END
$$;
COMMENT ON FUNCTION carbonmkt._finance_fen(bigint, text) IS
  'Internal: a required amount of money in fen; CM701 naming the argument and its plausibility limit (subject amount_fen, scope the argument) when not positive or above it.';

-- The participant a finance call is for: a participant's login acts for itself; registry
-- staff (and superusers) may act for any participant.
CREATE FUNCTION carbonmkt._finance_actor(p_participant bigint, p_action text) RETURNS bigint
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    me bigint := carbonmkt.caller_participant();
BEGIN
    IF p_participant IS NULL OR p_participant = me THEN
        IF me IS NULL THEN
            RAISE EXCEPTION 'login "%" acts for no participant and may not %', session_user, p_action
                USING ERRCODE = '42501', HINT = 'A participant''s login is mapped with carbonmkt.map_login().';
        END IF;
        RETURN me;
    END IF;
    IF NOT carbonmkt._is_member('carbonmkt_registry') THEN
        RAISE EXCEPTION 'login "%" may not % for participant %', session_user, p_action, p_participant
            USING ERRCODE = '42501', HINT = 'Only registry staff (carbonmkt_registry) act for other participants.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.participant p WHERE p.participant_id = p_participant) THEN
        RAISE EXCEPTION 'participant % does not exist', p_participant USING ERRCODE = 'CM002';
    END IF;
    RETURN p_participant;
END
$$;
COMMENT ON FUNCTION carbonmkt._finance_actor(bigint, text) IS
  'Internal: the participant a finance call acts for (the login''s own, or any for registry staff); 42501 otherwise.';

-- A participant's first open account of a kind; CM702 when it has none.
CREATE FUNCTION carbonmkt._finance_account(p_participant bigint, p_kind carbonmkt.account_kind) RETURNS bigint
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    id bigint;
BEGIN
    SELECT min(a.account_id) INTO id FROM carbonmkt.account a
     WHERE a.participant_id = p_participant AND a.kind = p_kind AND a.status = 'open';
    IF id IS NULL THEN
        RAISE EXCEPTION 'participant % has no open % account', p_participant, p_kind
            USING ERRCODE = 'CM702', HINT = 'The registry opens accounts: carbonmkt.open_account().';
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt._finance_account(bigint, carbonmkt.account_kind) IS
  'Internal: the participant''s first open account of the kind (holding, cash); CM702 when none.';

CREATE FUNCTION carbonmkt._require_national_authority(p_action text) RETURNS bigint
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    me bigint := carbonmkt.caller_participant();
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = session_user AND r.rolsuper) THEN
        RETURN coalesce(me, (SELECT min(p.participant_id) FROM carbonmkt.participant p WHERE p.kind = 'national_authority'));
    END IF;
    IF carbonmkt._is_member('carbonmkt_authority')
       AND (SELECT p.kind FROM carbonmkt.participant p WHERE p.participant_id = me) = 'national_authority' THEN
        RETURN me;
    END IF;
    RAISE EXCEPTION 'only the national authority may %', p_action
        USING ERRCODE = '42501',
              HINT = 'This needs membership in carbonmkt_authority and a login mapped to the national authority (国务院生态环境主管部门).';
END
$$;
COMMENT ON FUNCTION carbonmkt._require_national_authority(text) IS
  'Internal: the national authority''s participant id when the login acts for it (or is a superuser); 42501 otherwise.';

-- Voluntary retirement (自愿注销) -----------------------------------------------------------

CREATE TABLE carbonmkt.voluntary_retirement (
    retirement_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    certificate     text NOT NULL UNIQUE,         -- VR<year>-<id, 8 digits>-<first 8 hex of the entry hash>
    posting_id      bigint NOT NULL,              -- the registry posting (retire_cea / retire_ccer)
    entry_id        bigint NOT NULL,              -- the journal entry that took the units out of the account
    account_id      bigint NOT NULL REFERENCES carbonmkt.account,
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    instrument      carbonmkt.instrument NOT NULL CHECK (instrument IN ('CEA', 'CCER')),
    vintage         int NOT NULL,
    project         text NOT NULL,
    tonnes          bigint NOT NULL CHECK (tonnes > 0),
    beneficiary     text NOT NULL,                -- on whose behalf (受益方)
    purpose_kind    text NOT NULL CHECK (purpose_kind IN ('event', 'product', 'organisation', 'individual', 'other')),
    purpose         text NOT NULL,                -- the event, product, ... made carbon neutral
    emissions_year  int,                          -- the year of emissions offset
    business_date   date NOT NULL,
    recorded_at     timestamptz NOT NULL,
    initiator       name NOT NULL,
    reference       text
);
CREATE UNIQUE INDEX voluntary_retirement_reference ON carbonmkt.voluntary_retirement (initiator, reference)
  WHERE reference IS NOT NULL;
CREATE INDEX voluntary_retirement_participant ON carbonmkt.voluntary_retirement (participant_id);
COMMENT ON TABLE carbonmkt.voluntary_retirement IS
  'Voluntary retirements (自愿注销) for carbon neutrality: CEA or CCER taken out of circulation into the cancellation account on behalf of a beneficiary, for a purpose, with a certificate number that carbonmkt.verify_certificate() checks publicly.  Append-only; made with carbonmkt.retire_voluntarily().';

CREATE FUNCTION carbonmkt.retire_voluntarily(account_id bigint, instrument carbonmkt.instrument, vintage int,
                                             project text, tonnes bigint, beneficiary text, purpose_kind text,
                                             purpose text, emissions_year int DEFAULT NULL,
                                             reference text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    v_account   carbonmkt.account;
    v_posting   bigint;
    v_entry     carbonmkt.journal;
    v_id        bigint;
    v_cert      text;
    v_benef     text := carbonmkt._finance_text(beneficiary, 'beneficiary');
    v_purpose   text := carbonmkt._finance_text(purpose, 'purpose');
    v_project   text := upper(coalesce(project, ''));
BEGIN
    IF purpose_kind IS NULL OR purpose_kind NOT IN ('event', 'product', 'organisation', 'individual', 'other') THEN
        RAISE EXCEPTION 'purpose_kind must be event, product, organisation, individual or other, got %',
            coalesce(quote_literal(purpose_kind), 'NULL') USING ERRCODE = 'CM701';
    END IF;
    PERFORM carbonmkt._finance_quantity(tonnes, 'tonnes');
    IF instrument IS NULL OR instrument = 'CNY' THEN
        RAISE EXCEPTION 'only CEA or CCER can be retired, not %', coalesce(instrument::text, 'NULL') USING ERRCODE = 'CM701';
    END IF;
    IF emissions_year IS NOT NULL AND emissions_year NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'emissions_year % is outside 2005-2100', emissions_year USING ERRCODE = 'CM701';
    END IF;
    -- a retry with the same reference returns the certificate it made
    IF reference IS NOT NULL THEN
        SELECT r.certificate INTO v_cert FROM carbonmkt.voluntary_retirement r
         WHERE r.initiator = session_user AND r.reference = retire_voluntarily.reference;
        IF FOUND THEN
            RETURN v_cert;
        END IF;
    END IF;
    SELECT * INTO v_account FROM carbonmkt.account a WHERE a.account_id = retire_voluntarily.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', coalesce(account_id::text, 'NULL') USING ERRCODE = 'CM001';
    END IF;
    -- the registry authorises the caller on the account (its own participant, or the registry)
    IF instrument = 'CEA' THEN
        v_posting := carbonmkt.retire_cea(account_id, vintage, tonnes, reference,
                                          format('voluntary retirement for %s: %s', v_benef, v_purpose));
    ELSE
        v_posting := carbonmkt.retire_ccer(account_id, v_project, vintage, tonnes, reference,
                                           format('voluntary retirement for %s: %s', v_benef, v_purpose));
    END IF;
    SELECT * INTO v_entry FROM carbonmkt.journal j
     WHERE j.posting_id = v_posting AND j.account_id = retire_voluntarily.account_id AND j.kind = 'cancel'
     ORDER BY j.entry_id LIMIT 1;
    INSERT INTO carbonmkt.voluntary_retirement AS r
           (certificate, posting_id, entry_id, account_id, participant_id, instrument, vintage, project, tonnes,
            beneficiary, purpose_kind, purpose, emissions_year, business_date, recorded_at, initiator, reference)
    VALUES ('pending', v_posting, v_entry.entry_id, account_id, v_account.participant_id, instrument,
            v_entry.vintage, v_entry.project, tonnes, v_benef, purpose_kind, v_purpose, emissions_year,
            v_entry.business_date, v_entry.recorded_at, session_user, reference)
    RETURNING r.retirement_id INTO v_id;
    v_cert := format('VR%s-%s-%s', to_char(v_entry.business_date, 'YYYY'), lpad(v_id::text, 8, '0'),
                     upper(substr(encode(v_entry.hash, 'hex'), 1, 8)));
    UPDATE carbonmkt.voluntary_retirement r SET certificate = v_cert WHERE r.retirement_id = v_id;
    RETURN v_cert;
END
$$;
COMMENT ON FUNCTION carbonmkt.retire_voluntarily(bigint, carbonmkt.instrument, int, text, bigint, text, text, text, int, text) IS
  'Voluntary retirement (自愿注销) for carbon neutrality: retires tonnes of CEA (vintage) or CCER (project, vintage; lowest serials first) from the account into the cancellation account on behalf of a beneficiary, for a purpose (purpose_kind: event, product, organisation, individual, other) and optionally the year of emissions it offsets.  One registry posting; returns the certificate number (VR<year>-<8 digits>-<8 hex of the journal entry''s hash>).  Idempotent per client reference.  The account''s own participant (or the registry).  Retiring units is not withdrawing an order (carbonmkt.cancel_order).';

CREATE FUNCTION carbonmkt.verify_certificate(certificate text)
RETURNS TABLE (certificate text, valid boolean, instrument carbonmkt.instrument, vintage int, project text,
               tonnes bigint, beneficiary text, purpose_kind text, purpose text, emissions_year int,
               retired_by text, business_date date, recorded_at timestamptz, entry_id bigint, entry_hash text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
SELECT r.certificate,
       -- the certificate's hash part matches the journal entry, and the entry still says what the certificate says
       upper(substr(encode(j.hash, 'hex'), 1, 8)) = split_part(r.certificate, '-', 3)
         AND j.kind = 'cancel' AND -j.amount = r.tonnes AND j.account_id = r.account_id,
       r.instrument, r.vintage, nullif(r.project, ''), r.tonnes, r.beneficiary, r.purpose_kind, r.purpose,
       r.emissions_year, p.name, r.business_date, r.recorded_at, r.entry_id, encode(j.hash, 'hex')
  FROM carbonmkt.voluntary_retirement r
  JOIN carbonmkt.participant p ON p.participant_id = r.participant_id
  LEFT JOIN carbonmkt.journal j ON j.entry_id = r.entry_id
 WHERE r.certificate = upper(btrim(verify_certificate.certificate))
$$;
COMMENT ON FUNCTION carbonmkt.verify_certificate(text) IS
  'Public check of a voluntary retirement certificate: what was retired (instrument, vintage, project, tonnes), for whom and why, by whom, when, and the journal entry with its SHA-256 hash; valid is true when the certificate''s hash part and the entry agree.  No row: no such certificate.  Callable by anyone (PUBLIC).';

CREATE VIEW carbonmkt.voluntary_retirements WITH (security_invoker = true) AS
SELECT r.certificate, r.business_date, r.participant_id, p.name AS participant_name, r.account_id,
       r.instrument, r.vintage, nullif(r.project, '') AS project, r.tonnes, r.beneficiary, r.purpose_kind,
       r.purpose, r.emissions_year, r.posting_id, r.entry_id
  FROM carbonmkt.voluntary_retirement r
  JOIN carbonmkt.participant p ON p.participant_id = r.participant_id;
COMMENT ON VIEW carbonmkt.voluntary_retirements IS
  'Voluntary retirements (自愿注销) with their certificates: a participant sees its own, staff and BI all (row-level security of voluntary_retirement).';

-- Pledge (质押) -------------------------------------------------------------------------------

CREATE TABLE carbonmkt.pledge (
    pledge_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pledgor_id       bigint NOT NULL REFERENCES carbonmkt.participant,   -- 出质人: the unit whose units are pledged
    pledgor_account  bigint NOT NULL REFERENCES carbonmkt.account,
    pledgee_id       bigint NOT NULL REFERENCES carbonmkt.participant,   -- 质权人: a financial institution
    vintage          int NOT NULL,
    tonnes           bigint NOT NULL CHECK (tonnes > 0),
    secured_fen      bigint NOT NULL CHECK (secured_fen > 0),            -- the claim the pledge secures
    term_end         date NOT NULL,                                      -- the secured loan's maturity
    status           text NOT NULL DEFAULT 'proposed'
                     CHECK (status IN ('proposed', 'accepted', 'registered', 'discharged', 'enforced', 'withdrawn')),
    hold_id          bigint REFERENCES carbonmkt.hold,                   -- the registry's pledge hold, once registered
    registration_no  text UNIQUE,                                        -- 质押登记编号
    enforcement      text CHECK (enforcement IN ('transfer', 'sale')),
    sale_price_fen   bigint,
    buyer_id         bigint REFERENCES carbonmkt.participant,
    proposed_at      timestamptz NOT NULL,
    accepted_at      timestamptz,
    registered_at    timestamptz,
    ended_at         timestamptz,
    registered_by    name,
    ended_by         name,
    CHECK (pledgor_id <> pledgee_id),
    CHECK ((status IN ('registered', 'discharged', 'enforced')) = (hold_id IS NOT NULL)),
    CHECK ((status = 'enforced') = (enforcement IS NOT NULL))
);
CREATE INDEX pledge_pledgor ON carbonmkt.pledge (pledgor_id);
CREATE INDEX pledge_pledgee ON carbonmkt.pledge (pledgee_id);
COMMENT ON TABLE carbonmkt.pledge IS
  'Pledges of allowances (碳排放配额质押): proposed by the pledgor, accepted by the pledgee (a financial institution), registered by the registry (质押登记: the units frozen by a registry pledge hold), then discharged (解除质押: hold released) or enforced on default (质权实现: the units transferred to the pledgee, or sold to a buyer with the proceeds to the pledgee up to the secured claim and the rest to the pledgor).  A pledgor and a pledgee see their own pledges, nobody else''s.';

CREATE TABLE carbonmkt.pledge_offer (
    offer_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pledge_id       bigint NOT NULL REFERENCES carbonmkt.pledge,
    buyer_id        bigint NOT NULL REFERENCES carbonmkt.participant,
    price_fen       bigint NOT NULL CHECK (price_fen > 0),
    hold_id         bigint NOT NULL REFERENCES carbonmkt.hold,         -- the buyer's cash, frozen
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'taken', 'withdrawn', 'lapsed')),
    offered_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    reference       text                                                -- the buyer's client reference (idempotency)
);
CREATE INDEX pledge_offer_pledge ON carbonmkt.pledge_offer (pledge_id);
CREATE UNIQUE INDEX pledge_offer_reference ON carbonmkt.pledge_offer (buyer_id, reference) WHERE reference IS NOT NULL;
COMMENT ON TABLE carbonmkt.pledge_offer IS
  'Firm offers to buy the units of a registered pledge if it is enforced by sale (质押物处置): the buyer''s cash for price x tonnes is frozen by a registry hold until the offer is taken, withdrawn, or lapses when the pledge ends otherwise.';

CREATE FUNCTION carbonmkt._pledge(p_pledge bigint, p_lock boolean) RETURNS carbonmkt.pledge
LANGUAGE plpgsql AS
$$
DECLARE
    g carbonmkt.pledge;
BEGIN
    IF p_lock THEN
        SELECT * INTO g FROM carbonmkt.pledge x WHERE x.pledge_id = p_pledge FOR UPDATE;
    ELSE
        SELECT * INTO g FROM carbonmkt.pledge x WHERE x.pledge_id = p_pledge;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pledge % does not exist', coalesce(p_pledge::text, 'NULL') USING ERRCODE = 'CM703';
    END IF;
    RETURN g;
END
$$;
COMMENT ON FUNCTION carbonmkt._pledge(bigint, boolean) IS 'Internal: a pledge (locked when asked); CM703 when unknown.';

CREATE FUNCTION carbonmkt._pledge_state(g carbonmkt.pledge, p_expected text, p_verb text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS
$$
BEGIN
    IF g.status <> p_expected THEN
        RAISE EXCEPTION 'pledge % is %, so it cannot be %', g.pledge_id, g.status, p_verb
            USING ERRCODE = 'CM703', DETAIL = format('Only a %s pledge can be %s.', p_expected, p_verb);
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._pledge_state(carbonmkt.pledge, text, text) IS 'Internal: CM703 unless the pledge is in the expected state.';

CREATE FUNCTION carbonmkt.propose_pledge(pledgee_id bigint, vintage int, tonnes bigint, secured_fen bigint,
                                         term_end date, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    me      bigint := carbonmkt._finance_actor(acting_for, 'propose a pledge');
    k       carbonmkt.participant_kind;
    acct    bigint;
    fen     bigint := carbonmkt._finance_fen(secured_fen, 'secured_fen');
    id      bigint;
BEGIN
    PERFORM carbonmkt._finance_quantity(tonnes, 'tonnes');
    SELECT p.kind INTO k FROM carbonmkt.participant p WHERE p.participant_id = pledgee_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pledgee % does not exist', coalesce(pledgee_id::text, 'NULL') USING ERRCODE = 'CM002';
    END IF;
    IF k <> 'institution' THEN
        RAISE EXCEPTION 'pledgee % is a %, not a financial institution', pledgee_id, k
            USING ERRCODE = 'CM703', HINT = 'Allowances are pledged to financial institutions (participant kind institution).';
    END IF;
    IF pledgee_id = me THEN
        RAISE EXCEPTION 'participant % cannot pledge to itself', me USING ERRCODE = 'CM703';
    END IF;
    IF term_end IS NULL OR NOT isfinite(term_end) OR term_end <= carbonmkt.business_date()
       OR term_end > carbonmkt.business_date() + carbonmkt.plausibility_max('term_days', 'pledge')::int THEN
        RAISE EXCEPTION 'term_end % must be after today, %, and at most % days ahead (plausibility_limit term_days, pledge)',
            coalesce(term_end::text, 'NULL'), carbonmkt.business_date(), carbonmkt.plausibility_max('term_days', 'pledge')
            USING ERRCODE = 'CM701';
    END IF;
    IF vintage IS NULL OR vintage NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'vintage must be a year within 2005-2100, got %', coalesce(vintage::text, 'NULL') USING ERRCODE = 'CM701';
    END IF;
    acct := carbonmkt._finance_account(me, 'holding');
    IF carbonmkt._available(acct, 'CEA', vintage, '') < tonnes THEN
        RAISE EXCEPTION 'account % has % of CEA % available, the pledge asks for %', acct,
            carbonmkt._t(carbonmkt._available(acct, 'CEA', vintage, '')), vintage, carbonmkt._t(tonnes)
            USING ERRCODE = 'CM004';
    END IF;
    INSERT INTO carbonmkt.pledge AS g (pledgor_id, pledgor_account, pledgee_id, vintage, tonnes, secured_fen, term_end,
                                       proposed_at)
    VALUES (me, acct, pledgee_id, vintage, tonnes, fen, term_end, carbonmkt.clock_now())
    RETURNING g.pledge_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.propose_pledge(bigint, int, bigint, bigint, date, bigint) IS
  'The pledgor (a participant''s login, or the registry for it) proposes to pledge tonnes of CEA of a vintage from its holding account to a financial institution (pledgee) securing secured_fen (fen, 0.01 CNY) until term_end.  Nothing is frozen yet: the pledgee accepts, then the registry registers.  Returns the pledge id.';

CREATE FUNCTION carbonmkt.accept_pledge(pledge_id bigint, acting_for bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    g   carbonmkt.pledge := carbonmkt._pledge(pledge_id, true);
    me  bigint := carbonmkt._finance_actor(acting_for, 'accept a pledge');
BEGIN
    IF me <> g.pledgee_id THEN
        RAISE EXCEPTION 'only the pledgee may accept pledge %', pledge_id USING ERRCODE = '42501';
    END IF;
    PERFORM carbonmkt._pledge_state(g, 'proposed', 'accepted');
    UPDATE carbonmkt.pledge x SET status = 'accepted', accepted_at = carbonmkt.clock_now() WHERE x.pledge_id = g.pledge_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.accept_pledge(bigint, bigint) IS
  'The pledgee consents to a proposed pledge; the registry can then register it.';

CREATE FUNCTION carbonmkt.register_pledge(pledge_id bigint, reference text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    g   carbonmkt.pledge;
    h   bigint;
    no  text;
BEGIN
    PERFORM carbonmkt._require_registry('register a pledge');
    g := carbonmkt._pledge(pledge_id, true);
    PERFORM carbonmkt._pledge_state(g, 'accepted', 'registered');
    h := carbonmkt.hold(g.pledgor_account, 'CEA', g.tonnes, 'pledge', g.vintage, '', reference,
                        format('pledge %s to participant %s', g.pledge_id, g.pledgee_id));
    no := format('PL%s-%s', to_char(carbonmkt.business_date(), 'YYYY'), lpad(g.pledge_id::text, 8, '0'));
    UPDATE carbonmkt.pledge x SET status = 'registered', hold_id = h, registration_no = no,
                                  registered_at = carbonmkt.clock_now(), registered_by = session_user
     WHERE x.pledge_id = g.pledge_id;
    RETURN no;
END
$$;
COMMENT ON FUNCTION carbonmkt.register_pledge(bigint, text) IS
  'Pledge registration (质押登记) by the registry once both parties consented: freezes the pledged tonnes on the pledgor''s holding account with a pledge hold (one registry posting; CM004 when they are no longer available) and returns the registration number.  Pledged units can be neither traded nor surrendered.';

CREATE FUNCTION carbonmkt._pledge_end_offers(p_pledge bigint, p_taken bigint) RETURNS void
LANGUAGE plpgsql AS
$$
DECLARE
    o record;
BEGIN
    FOR o IN SELECT * FROM carbonmkt.pledge_offer x
              WHERE x.pledge_id = p_pledge AND x.status = 'open' AND x.offer_id IS DISTINCT FROM p_taken
              ORDER BY x.offer_id LOOP
        PERFORM carbonmkt.release_hold(o.hold_id, NULL, format('offer %s for pledge %s lapsed', o.offer_id, p_pledge));
        UPDATE carbonmkt.pledge_offer x SET status = 'lapsed', ended_at = carbonmkt.clock_now() WHERE x.offer_id = o.offer_id;
    END LOOP;
END
$$;
COMMENT ON FUNCTION carbonmkt._pledge_end_offers(bigint, bigint) IS
  'Internal: releases the cash of every open offer for a pledge but the one taken (they lapse).';

CREATE FUNCTION carbonmkt.discharge_pledge(pledge_id bigint, reference text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    g   carbonmkt.pledge := carbonmkt._pledge(pledge_id, true);
    me  bigint;
    p   bigint;
BEGIN
    IF NOT carbonmkt._is_member('carbonmkt_registry') THEN
        me := carbonmkt._finance_actor(acting_for, 'discharge a pledge');
        IF me <> g.pledgee_id THEN
            RAISE EXCEPTION 'only the pledgee or the registry may discharge pledge %', pledge_id
                USING ERRCODE = '42501', DETAIL = 'The pledgee confirms that the secured claim is repaid.';
        END IF;
    END IF;
    PERFORM carbonmkt._pledge_state(g, 'registered', 'discharged');
    p := carbonmkt.release_hold(g.hold_id, reference, format('pledge %s discharged', g.pledge_id));
    PERFORM carbonmkt._pledge_end_offers(g.pledge_id, NULL);
    UPDATE carbonmkt.pledge x SET status = 'discharged', ended_at = carbonmkt.clock_now(), ended_by = session_user
     WHERE x.pledge_id = g.pledge_id;
    RETURN p;
END
$$;
COMMENT ON FUNCTION carbonmkt.discharge_pledge(bigint, text, bigint) IS
  'Discharge (解除质押): the pledgee (or the registry) ends a registered pledge; the pledge hold is released (one registry posting) and open offers lapse.  Returns the posting id.';

CREATE FUNCTION carbonmkt.offer_for_pledge(pledge_id bigint, price numeric, reference text DEFAULT NULL,
                                           acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    g    carbonmkt.pledge := carbonmkt._pledge(pledge_id, true);
    me   bigint := carbonmkt._finance_actor(acting_for, 'offer for a pledge');
    fen  bigint := carbonmkt._finance_price(price, 'price');
    cash bigint;
    h    bigint;
    id   bigint;
BEGIN
    -- a retry with the same reference returns the offer it made
    IF reference IS NOT NULL THEN
        SELECT o.offer_id, o.pledge_id, o.price_fen INTO id, cash, h
          FROM carbonmkt.pledge_offer o WHERE o.buyer_id = me AND o.reference = offer_for_pledge.reference;
        IF FOUND THEN
            IF (cash, h) IS DISTINCT FROM (g.pledge_id, fen) THEN
                RAISE EXCEPTION 'client reference "%" was already used for a different request', reference
                    USING ERRCODE = 'CM007',
                          DETAIL = format('Offer %s was for pledge %s at %s CNY/t.', id, cash, round(h / 100.0, 2));
            END IF;
            RETURN id;
        END IF;
    END IF;
    PERFORM carbonmkt._pledge_state(g, 'registered', 'offered for');
    IF me IN (g.pledgor_id, g.pledgee_id) THEN
        RAISE EXCEPTION 'participant % is a party to pledge % and cannot buy its units', me, pledge_id USING ERRCODE = 'CM703';
    END IF;
    cash := carbonmkt._finance_account(me, 'cash');
    IF fen > 9223372036854775807 / g.tonnes THEN
        RAISE EXCEPTION 'price % x % t overflows', price, g.tonnes USING ERRCODE = 'CM701';
    END IF;
    h := carbonmkt.hold(cash, 'CNY', fen * g.tonnes, 'other', 0, '', NULL,
                        format('offer for the %s t of pledge %s at %s CNY/t', g.tonnes, g.pledge_id, price));
    INSERT INTO carbonmkt.pledge_offer AS o (pledge_id, buyer_id, price_fen, hold_id, offered_at, reference)
    VALUES (g.pledge_id, me, fen, h, carbonmkt.clock_now(), reference) RETURNING o.offer_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.offer_for_pledge(bigint, numeric, text, bigint) IS
  'A firm offer to buy all units of a registered pledge at a price (CNY per t) if it is enforced by sale: the buyer''s cash for price x tonnes is frozen at once (one registry posting).  Returns the offer id.  Idempotent per client reference (per buyer).';

CREATE FUNCTION carbonmkt.enforce_pledge(pledge_id bigint, method text, offer_id bigint DEFAULT NULL,
                                         reference text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    g        carbonmkt.pledge;
    o        carbonmkt.pledge_offer;
    proceeds bigint;
    to_pledgee bigint;
    pledgee_holding bigint;
    last     bigint;
BEGIN
    PERFORM carbonmkt._require_registry('enforce a pledge');
    g := carbonmkt._pledge(pledge_id, true);
    PERFORM carbonmkt._pledge_state(g, 'registered', 'enforced');
    IF g.term_end > carbonmkt.business_date() THEN
        RAISE EXCEPTION 'pledge % runs until %; it can be enforced only after its term, not on %', pledge_id, g.term_end,
            carbonmkt.business_date() USING ERRCODE = 'CM703';
    END IF;
    IF method = 'transfer' THEN
        -- 以质物抵偿: the pledged units become the pledgee's
        pledgee_holding := carbonmkt._finance_account(g.pledgee_id, 'holding');
        last := carbonmkt.transfer_from_hold(g.hold_id, pledgee_holding, g.tonnes, reference,
                                             format('pledge %s enforced: units to the pledgee', g.pledge_id));
        PERFORM carbonmkt._pledge_end_offers(g.pledge_id, NULL);
    ELSIF method = 'sale' THEN
        SELECT * INTO o FROM carbonmkt.pledge_offer x
         WHERE x.offer_id = enforce_pledge.offer_id AND x.pledge_id = g.pledge_id AND x.status = 'open' FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'offer % is not an open offer for pledge %', coalesce(offer_id::text, 'NULL'), pledge_id
                USING ERRCODE = 'CM703', HINT = 'A sale takes a buyer''s open offer (carbonmkt.offer_for_pledge).';
        END IF;
        proceeds := o.price_fen * g.tonnes;
        to_pledgee := least(proceeds, g.secured_fen);
        -- delivery versus payment, each step one registry posting, all in this transaction
        PERFORM carbonmkt.transfer_from_hold(g.hold_id, carbonmkt._finance_account(o.buyer_id, 'holding'), g.tonnes,
                                             reference, format('pledge %s enforced: sold to participant %s', g.pledge_id, o.buyer_id));
        last := carbonmkt.transfer_from_hold(o.hold_id, carbonmkt._finance_account(g.pledgee_id, 'cash'), to_pledgee,
                                             NULL, format('pledge %s: proceeds to the pledgee', g.pledge_id));
        IF proceeds > to_pledgee THEN
            last := carbonmkt.transfer_from_hold(o.hold_id, carbonmkt._finance_account(g.pledgor_id, 'cash'),
                                                 proceeds - to_pledgee, NULL,
                                                 format('pledge %s: proceeds beyond the secured claim to the pledgor', g.pledge_id));
        END IF;
        UPDATE carbonmkt.pledge_offer x SET status = 'taken', ended_at = carbonmkt.clock_now() WHERE x.offer_id = o.offer_id;
        PERFORM carbonmkt._pledge_end_offers(g.pledge_id, o.offer_id);
    ELSE
        RAISE EXCEPTION 'method must be transfer or sale, got %', coalesce(quote_literal(method), 'NULL') USING ERRCODE = 'CM701';
    END IF;
    UPDATE carbonmkt.pledge x SET status = 'enforced', enforcement = method, ended_at = carbonmkt.clock_now(),
                                  ended_by = session_user, sale_price_fen = o.price_fen, buyer_id = o.buyer_id
     WHERE x.pledge_id = g.pledge_id;
    RETURN last;
END
$$;
COMMENT ON FUNCTION carbonmkt.enforce_pledge(bigint, text, bigint, text) IS
  'Enforcement of a registered pledge after its term (质权实现), by the registry on the pledgee''s claim of default: method transfer moves the pledged units to the pledgee''s holding account; method sale takes a buyer''s open offer: units to the buyer, proceeds to the pledgee up to the secured amount and the rest to the pledgor (delivery versus payment, each step one registry posting in one transaction).  Returns the last posting id.';

-- Repo (回购) ----------------------------------------------------------------------------------

CREATE TABLE carbonmkt.repo_rule (
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    valid_from      date NOT NULL,
    valid_until     date,
    on_failure      text NOT NULL CHECK (on_failure IN ('close_out', 'retry_then_close_out')),
    grace_days      int NOT NULL DEFAULT 0 CHECK (grace_days BETWEEN 0 AND 30),
    max_term_days   int NOT NULL CHECK (max_term_days BETWEEN 1 AND 3650),
    illustrative    boolean NOT NULL DEFAULT false,   -- true: not a published value (a demo's, a test's)
    source          text NOT NULL,
    PRIMARY KEY (jurisdiction, valid_from),
    CHECK (valid_until IS NULL OR valid_until >= valid_from)
);
COMMENT ON TABLE carbonmkt.repo_rule IS
  'How a repo''s second leg that cannot settle is handled (on_failure: close_out at once, or retry_then_close_out after grace_days trading days) and the longest term allowed, from valid_from until valid_until (NULL: until replaced).  Rule data (doc/finance.md), administered with carbonmkt.set_rule() by the national authority (doc/rules.md).  None is shipped (no source fixes it): propose_repo refuses (CM704) on a day without one.';


CREATE TABLE carbonmkt.repo (
    repo_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seller_id        bigint NOT NULL REFERENCES carbonmkt.participant,    -- 正回购方: sells now, buys back
    buyer_id         bigint NOT NULL REFERENCES carbonmkt.participant,    -- 逆回购方: buys now, sells back
    vintage          int NOT NULL,
    tonnes           bigint NOT NULL CHECK (tonnes > 0),
    start_price_fen  bigint NOT NULL CHECK (start_price_fen > 0),
    repurchase_price_fen bigint NOT NULL CHECK (repurchase_price_fen > 0),
    start_date       date NOT NULL,
    repurchase_date  date NOT NULL,
    status           text NOT NULL DEFAULT 'proposed'
                     CHECK (status IN ('proposed', 'open', 'closed', 'closed_out', 'withdrawn')),
    attempts         int NOT NULL DEFAULT 0,
    failure          text,                                                -- why the second leg failed
    close_out_fen    bigint,                                              -- the closing-out claim
    close_out_creditor bigint REFERENCES carbonmkt.participant,
    proposed_at      timestamptz NOT NULL,
    confirmed_at     timestamptz,
    ended_at         timestamptz,
    reference        text,
    initiator        name NOT NULL,
    CHECK (seller_id <> buyer_id),
    CHECK (repurchase_date > start_date)
);
CREATE UNIQUE INDEX repo_reference ON carbonmkt.repo (initiator, reference) WHERE reference IS NOT NULL;
CREATE INDEX repo_due ON carbonmkt.repo (repurchase_date) WHERE status = 'open';
COMMENT ON TABLE carbonmkt.repo IS
  'Repurchase agreements (买断式回购): the seller sells tonnes of CEA to the buyer now at start_price and buys them back on repurchase_date at repurchase_price.  Both legs settle delivery versus payment through the registry and are recorded in repo_leg (the repo tape), never as market trades.  A second leg that cannot settle is handled by repo_rule and recorded (attempts, failure, close-out claim).';

CREATE TABLE carbonmkt.repo_leg (
    repo_id          bigint NOT NULL REFERENCES carbonmkt.repo,
    leg              int NOT NULL CHECK (leg IN (1, 2)),
    business_date    date NOT NULL,
    executed_at      timestamptz NOT NULL,
    price_fen        bigint NOT NULL,
    tonnes           bigint NOT NULL,
    units_posting    bigint NOT NULL,
    cash_posting     bigint NOT NULL,
    PRIMARY KEY (repo_id, leg)
);
COMMENT ON TABLE carbonmkt.repo_leg IS
  'The repo tape: each settled leg of a repo (1: the sale, 2: the repurchase) with its price, quantity and the two registry postings (units, cash).  Kept apart from carbonmkt.trade: repo legs are financing, not market trades, and do not enter prices or volumes.';

CREATE FUNCTION carbonmkt._repo_rule(p_date date) RETURNS carbonmkt.repo_rule
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    r carbonmkt.repo_rule;
BEGIN
    SELECT * INTO r FROM carbonmkt.repo_rule x
     WHERE x.jurisdiction = 'CN' AND x.valid_from <= p_date AND (x.valid_until IS NULL OR x.valid_until >= p_date)
     ORDER BY x.valid_from DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no repo rule in force on % (jurisdiction CN): carbonmkt.repo_rule has no row for it', p_date
            USING ERRCODE = 'CM704',
            HINT = 'No source fixes a repo''s failure handling and longest term, so none is shipped: the national authority loads it with carbonmkt.set_rule(''repo_rule'', ...) (doc/rules.md).';
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION carbonmkt._repo_rule(date) IS 'Internal: the repo rule in force on a date; CM704 when none.';

CREATE FUNCTION carbonmkt.propose_repo(buyer_id bigint, vintage int, tonnes bigint, price numeric,
                                       repurchase_price numeric, repurchase_date date,
                                       reference text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    me    bigint := carbonmkt._finance_actor(acting_for, 'propose a repo');
    p1    bigint := carbonmkt._finance_price(price, 'price');
    p2    bigint := carbonmkt._finance_price(repurchase_price, 'repurchase_price');
    today date := carbonmkt.business_date();
    r     carbonmkt.repo_rule := carbonmkt._repo_rule(today);
    id    bigint;
BEGIN
    PERFORM carbonmkt._finance_quantity(tonnes, 'tonnes');
    IF vintage IS NULL OR vintage NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'vintage must be a year within 2005-2100, got %', coalesce(vintage::text, 'NULL') USING ERRCODE = 'CM701';
    END IF;
    IF reference IS NOT NULL THEN
        SELECT x.repo_id INTO id FROM carbonmkt.repo x WHERE x.initiator = session_user AND x.reference = propose_repo.reference;
        IF FOUND THEN
            RETURN id;
        END IF;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.participant p WHERE p.participant_id = buyer_id) THEN
        RAISE EXCEPTION 'buyer % does not exist', coalesce(buyer_id::text, 'NULL') USING ERRCODE = 'CM002';
    END IF;
    IF buyer_id = me THEN
        RAISE EXCEPTION 'participant % cannot enter a repo with itself', me USING ERRCODE = 'CM704';
    END IF;
    -- both legs move units and cash: each side needs a holding and a cash account (CM702)
    PERFORM carbonmkt._finance_account(me, 'holding'), carbonmkt._finance_account(me, 'cash'),
            carbonmkt._finance_account(buyer_id, 'holding'), carbonmkt._finance_account(buyer_id, 'cash');
    IF repurchase_date IS NULL OR repurchase_date <= today OR repurchase_date > today + r.max_term_days THEN
        RAISE EXCEPTION 'repurchase_date % must be after today (%) and at most % days ahead (repo_rule)',
            coalesce(repurchase_date::text, 'NULL'), today, r.max_term_days USING ERRCODE = 'CM704';
    END IF;
    IF p1 > 9223372036854775807 / tonnes OR p2 > 9223372036854775807 / tonnes THEN
        RAISE EXCEPTION 'price x % t overflows', tonnes USING ERRCODE = 'CM701';
    END IF;
    INSERT INTO carbonmkt.repo AS x (seller_id, buyer_id, vintage, tonnes, start_price_fen, repurchase_price_fen,
                                     start_date, repurchase_date, proposed_at, reference, initiator)
    VALUES (me, buyer_id, vintage, tonnes, p1, p2, today, repurchase_date, carbonmkt.clock_now(), reference, session_user)
    RETURNING x.repo_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.propose_repo(bigint, int, bigint, numeric, numeric, date, text, bigint) IS
  'The seller (正回购方) proposes a repo to a buyer: sell tonnes of CEA of a vintage now at price and buy them back on repurchase_date at repurchase_price (CNY per t).  Nothing moves until the buyer confirms.  Idempotent per client reference.  Returns the repo id.';

-- One DvP leg: units from one participant's holding to the other's, cash the other way.
CREATE FUNCTION carbonmkt._repo_leg(x carbonmkt.repo, p_leg int) RETURNS void
LANGUAGE plpgsql AS
$$
DECLARE
    giver   bigint := CASE p_leg WHEN 1 THEN x.seller_id ELSE x.buyer_id END;
    taker   bigint := CASE p_leg WHEN 1 THEN x.buyer_id ELSE x.seller_id END;
    price   bigint := CASE p_leg WHEN 1 THEN x.start_price_fen ELSE x.repurchase_price_fen END;
    u       bigint;
    c       bigint;
BEGIN
    u := carbonmkt.transfer_cea(carbonmkt._finance_account(giver, 'holding'), carbonmkt._finance_account(taker, 'holding'),
                                x.vintage, x.tonnes, format('carbonmkt:repo:%s:leg%s:units', x.repo_id, p_leg),
                                format('repo %s leg %s', x.repo_id, p_leg));
    c := carbonmkt.transfer_cny(carbonmkt._finance_account(taker, 'cash'), carbonmkt._finance_account(giver, 'cash'),
                                price * x.tonnes, format('carbonmkt:repo:%s:leg%s:cash', x.repo_id, p_leg),
                                format('repo %s leg %s', x.repo_id, p_leg));
    INSERT INTO carbonmkt.repo_leg (repo_id, leg, business_date, executed_at, price_fen, tonnes, units_posting, cash_posting)
    VALUES (x.repo_id, p_leg, carbonmkt.business_date(), carbonmkt.clock_now(), price, x.tonnes, u, c);
END
$$;
COMMENT ON FUNCTION carbonmkt._repo_leg(carbonmkt.repo, int) IS
  'Internal: settles one leg of a repo delivery versus payment (a units posting and a cash posting in one transaction) and writes it to the repo tape.';

CREATE FUNCTION carbonmkt.confirm_repo(repo_id bigint, acting_for bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    x   carbonmkt.repo;
    me  bigint := carbonmkt._finance_actor(acting_for, 'confirm a repo');
BEGIN
    SELECT * INTO x FROM carbonmkt.repo r WHERE r.repo_id = confirm_repo.repo_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'repo % does not exist', coalesce(repo_id::text, 'NULL') USING ERRCODE = 'CM704';
    END IF;
    IF me <> x.buyer_id THEN
        RAISE EXCEPTION 'only the buyer may confirm repo %', repo_id USING ERRCODE = '42501';
    END IF;
    IF x.status <> 'proposed' THEN
        RAISE EXCEPTION 'repo % is %, so it cannot be confirmed', repo_id, x.status USING ERRCODE = 'CM704';
    END IF;
    IF x.start_date <> carbonmkt.business_date() THEN
        RAISE EXCEPTION 'repo % was proposed for %; a repo is confirmed on the day it is proposed, not on %', repo_id,
            x.start_date, carbonmkt.business_date() USING ERRCODE = 'CM704';
    END IF;
    PERFORM carbonmkt._repo_leg(x, 1);
    UPDATE carbonmkt.repo r SET status = 'open', confirmed_at = carbonmkt.clock_now() WHERE r.repo_id = x.repo_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.confirm_repo(bigint, bigint) IS
  'The buyer (逆回购方) confirms a repo proposed today: the first leg settles at once, delivery versus payment (CM004 when either side lacks units or cash; nothing moves then).';

CREATE FUNCTION carbonmkt.settle_repos(business_date date DEFAULT NULL)
RETURNS TABLE (repo_id bigint, outcome text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_column
DECLARE
    d     date := coalesce(settle_repos.business_date, carbonmkt.business_date());
    x     carbonmkt.repo;
    r     carbonmkt.repo_rule;
    close bigint;
    value bigint;
    owed  bigint;
    why   text;
BEGIN
    PERFORM carbonmkt._require_exchange('settle repos');
    IF NOT isfinite(d) THEN
        RAISE EXCEPTION 'business_date must be a finite date, got %', d USING ERRCODE = 'CM701';
    END IF;
    FOR x IN SELECT * FROM carbonmkt.repo y WHERE y.status = 'open' AND y.repurchase_date <= d
              ORDER BY y.repo_id FOR UPDATE LOOP
        BEGIN
            PERFORM carbonmkt._repo_leg(x, 2);
            UPDATE carbonmkt.repo y SET status = 'closed', attempts = y.attempts + 1, ended_at = carbonmkt.clock_now()
             WHERE y.repo_id = x.repo_id;
            repo_id := x.repo_id; outcome := 'repurchased';
            RETURN NEXT;
            CONTINUE;
        EXCEPTION WHEN SQLSTATE 'CM004' OR SQLSTATE 'CM003' OR SQLSTATE 'CM702' THEN
            GET STACKED DIAGNOSTICS why = MESSAGE_TEXT;
        END;
        -- the second leg could not settle: nothing of it moved (the block rolled back); the
        -- repo rule of the day says what happens (CM704 when there is none: nothing changes)
        IF r.jurisdiction IS NULL THEN
            r := carbonmkt._repo_rule(d);
        END IF;
        IF r.on_failure = 'retry_then_close_out'
           AND (SELECT count(*) FROM generate_series(x.repurchase_date + 1, d, interval '1 day') g(day)
                 WHERE carbonmkt.is_trading_day(g.day::date)) < r.grace_days THEN
            UPDATE carbonmkt.repo y SET attempts = y.attempts + 1, failure = why WHERE y.repo_id = x.repo_id;
            repo_id := x.repo_id; outcome := 'retry: ' || why;
            RETURN NEXT;
            CONTINUE;
        END IF;
        -- close-out (违约处置): each side keeps what it holds; the difference between the agreed
        -- repurchase amount and the units' value at the last close is the non-defaulting side's claim
        close := coalesce((SELECT (m.close * 100)::bigint FROM carbonmkt.market_close m
                            JOIN carbonmkt.product p ON p.code = m.product
                           WHERE p.instrument = 'CEA' AND p.vintage = x.vintage AND m.business_date <= d
                           ORDER BY m.business_date DESC, m.product LIMIT 1), x.repurchase_price_fen);
        value := close * x.tonnes;
        owed := x.repurchase_price_fen * x.tonnes - value;
        UPDATE carbonmkt.repo y
           SET status = 'closed_out', attempts = y.attempts + 1, failure = why, ended_at = carbonmkt.clock_now(),
               close_out_fen = abs(owed),
               close_out_creditor = CASE WHEN owed > 0 THEN x.buyer_id WHEN owed < 0 THEN x.seller_id END
         WHERE y.repo_id = x.repo_id;
        repo_id := x.repo_id;
        outcome := format('closed out: %s; claim %s CNY', why, to_char(abs(owed) / 100.0, 'FM999,999,999,999,990.00'));
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION carbonmkt.settle_repos(date) IS
  'End-of-day repo processing (exchange): settles the second leg of every open repo due on or before the date, delivery versus payment.  A leg that cannot settle (units or cash missing) moves nothing and is handled by the repo_rule in force that day (none: CM704, and nothing of the day is settled): retried on the next trading days up to grace_days, then closed out — each side keeps what it has, and the difference between the repurchase amount and the units'' value at the last close is recorded as the other side''s claim.  Returns each repo''s outcome.';

-- The allowance reserve and market adjustment (配额储备和市场调节机制) ------------------------------

CREATE TABLE carbonmkt.reserve_feed_rule (
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    year            int NOT NULL CHECK (year BETWEEN 2005 AND 2100),
    cap_share       numeric NOT NULL CHECK (cap_share >= 0 AND cap_share < 1),    -- set aside from the cap
    illustrative    boolean NOT NULL DEFAULT false,   -- true: not a published value (a demo's, a test's)
    source          text NOT NULL,
    PRIMARY KEY (jurisdiction, year)
);
COMMENT ON TABLE carbonmkt.reserve_feed_rule IS
  'How the national reserve is fed in a year: cap_share of the year''s capped sectors'' caps (alloc_cap) is issued into the reserve (预留).  Unsold auction volume of the reserve stays in it; allowances of closed units are moved into it by carbonmkt.absorb_closed_unit().  Rule data, set per year by the national authority with carbonmkt.set_rule() (doc/rules.md); none is shipped (no source gives the share): feed_reserve refuses (CM705) for a year without one.';


CREATE TABLE carbonmkt.reserve_trigger (
    trigger_id      int GENERATED BY DEFAULT AS IDENTITY UNIQUE,
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    product         text NOT NULL,              -- the product whose closing prices are watched (e.g. CEA2027)
    kind            text NOT NULL CHECK (kind IN ('price_high', 'price_low', 'supply_high', 'supply_low')),
    lookback_days   int CHECK (lookback_days BETWEEN 1 AND 250),     -- N trading days averaged (price)
    reference_days  int CHECK (reference_days BETWEEN 1 AND 750),    -- the reference average's window before them
    multiple        numeric CHECK (multiple > 0),                    -- price trigger: N-day average vs multiple x reference
    threshold_t     bigint CHECK (threshold_t > 0),                  -- supply trigger: allowances in circulation
    action          text NOT NULL CHECK (action IN ('release', 'absorb', 'withhold')),
    quantity_t      bigint NOT NULL CHECK (quantity_t > 0),
    reserve_price_multiple numeric NOT NULL CHECK (reserve_price_multiple > 0),  -- of the N-day average
    cooldown_days   int NOT NULL DEFAULT 0 CHECK (cooldown_days >= 0),
    valid_from      date NOT NULL,
    valid_until     date,
    illustrative    boolean NOT NULL DEFAULT false,   -- true: not a published value (a demo's, a test's)
    source          text NOT NULL,
    PRIMARY KEY (jurisdiction, product, kind, valid_from),
    CHECK ((kind IN ('price_high', 'price_low')) = (lookback_days IS NOT NULL AND reference_days IS NOT NULL AND multiple IS NOT NULL)),
    CHECK ((kind IN ('supply_high', 'supply_low')) = (threshold_t IS NOT NULL)),
    CHECK (valid_until IS NULL OR valid_until >= valid_from)
);
COMMENT ON TABLE carbonmkt.reserve_trigger IS
  'Market adjustment triggers (市场调节): price_high / price_low compare the average close of the last lookback_days trading days with multiple x the average of the reference_days before them (like RGGI''s cost- and emissions-containment reserves); supply_high / supply_low compare the allowances in circulation (CEA held by participants) with threshold_t (like the EU market stability reserve).  A met trigger schedules action release (the reserve sells quantity_t by one-way bidding), absorb (the reserve buys back quantity_t by one-way bidding), at reserve_price_multiple x the N-day average, or withhold (quantity_t is taken out of the reserve''s planned auctions of the product, reserve_auction_plan), at most once per cooldown_days.  Rule data, set by the national authority with carbonmkt.set_rule() (doc/rules.md); none is shipped (no source gives a trigger): on a day without a trigger in force there is nothing to decide.';


CREATE TABLE carbonmkt.reserve_decision (
    decision_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_date   date NOT NULL,
    trigger_id      int NOT NULL REFERENCES carbonmkt.reserve_trigger (trigger_id),
    met             boolean NOT NULL,
    inputs          jsonb NOT NULL,            -- prices, averages, circulation, thresholds used
    explanation     text NOT NULL,
    action          text CHECK (action IN ('release', 'absorb', 'withhold')),
    quantity_t      bigint,
    status          text NOT NULL CHECK (status IN ('no_action', 'scheduled', 'executed', 'skipped')),
    auction_id      bigint REFERENCES carbonmkt.auction,
    decided_at      timestamptz NOT NULL,
    decided_by      name NOT NULL,
    executed_at     timestamptz,
    withheld_t      bigint CHECK (withheld_t >= 0),   -- a withholding: what it took out of planned auctions
    UNIQUE (business_date, trigger_id),
    CHECK ((status IN ('scheduled', 'executed')) = (action IS NOT NULL))
);
COMMENT ON TABLE carbonmkt.reserve_decision IS
  'One decision per trigger and trading day (idempotent): whether the trigger was met, its inputs (jsonb) and a sentence saying why, and what was scheduled: a release or an absorption, executed as a one-way bidding lot (auction_id), or a withholding, executed by taking withheld_t out of the reserve''s planned auctions (reserve_withholding).  Replays deterministically with the business clock.';

CREATE FUNCTION carbonmkt._reserve_account() RETURNS bigint
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    id bigint;
BEGIN
    SELECT min(a.account_id) INTO id FROM carbonmkt.account a WHERE a.kind = 'national_reserve' AND a.status = 'open';
    IF id IS NULL THEN
        RAISE EXCEPTION 'there is no open national reserve account' USING ERRCODE = 'CM705',
            HINT = 'The registry opens it for the national authority: carbonmkt.open_account(<national authority>, ''national_reserve'').';
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt._reserve_account() IS 'Internal: the national reserve account (国家储备); CM705 when none is open.';

CREATE FUNCTION carbonmkt.feed_reserve(year int)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    f     carbonmkt.reserve_feed_rule;
    cap   bigint;
    t     bigint;
BEGIN
    PERFORM carbonmkt._require_national_authority('feed the reserve');
    SELECT * INTO f FROM carbonmkt.reserve_feed_rule r WHERE r.jurisdiction = 'CN' AND r.year = feed_reserve.year;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no reserve feed rule for % (jurisdiction CN): carbonmkt.reserve_feed_rule has no row for it', coalesce(year::text, 'NULL')
            USING ERRCODE = 'CM705',
            HINT = 'No source gives the share set aside, so none is shipped: the national authority loads it per year with carbonmkt.set_rule(''reserve_feed_rule'', ...) (doc/rules.md).';
    END IF;
    SELECT sum(c.cap_t) INTO cap FROM carbonmkt.alloc_cap c WHERE c.jurisdiction = 'CN' AND c.year = feed_reserve.year;
    IF cap IS NULL THEN
        RAISE EXCEPTION 'no sector has a cap for % in carbonmkt.alloc_cap: nothing to set aside', year USING ERRCODE = 'CM705';
    END IF;
    t := floor(cap * f.cap_share)::bigint;
    IF t > 0 THEN
        PERFORM carbonmkt.issue_cea(carbonmkt._reserve_account(), year, t, format('carbonmkt:reserve:feed:%s', year),
                                    format('reserve set-aside: %s of the %s caps of %s t', f.cap_share, year, cap));
    END IF;
    RETURN t;
END
$$;
COMMENT ON FUNCTION carbonmkt.feed_reserve(int) IS
  'Issues the year''s set-aside (reserve_feed_rule.cap_share x the sum of the year''s caps in alloc_cap) into the national reserve (预留配额), once per year (idempotent: a fixed client reference).  National authority only.  Returns the tonnes.';

CREATE FUNCTION carbonmkt.absorb_closed_unit(participant_id bigint, vintage int, reference text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    acct  bigint;
    t     bigint;
BEGIN
    PERFORM carbonmkt._require_national_authority('move a closed unit''s allowances into the reserve');
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.facility f WHERE f.participant_id = absorb_closed_unit.participant_id)
       OR EXISTS (SELECT 1 FROM carbonmkt.facility f WHERE f.participant_id = absorb_closed_unit.participant_id
                     AND NOT EXISTS (SELECT 1 FROM carbonmkt.facility_event e
                                      WHERE e.facility_id = f.facility_id AND e.kind = 'closure')) THEN
        RAISE EXCEPTION 'participant % is not a closed unit: it has facilities without a closure event', participant_id
            USING ERRCODE = 'CM705', HINT = 'Record the closure first: carbonmkt.change_facility(facility, ''closure'', ...).';
    END IF;
    SELECT min(a.account_id) INTO acct FROM carbonmkt.account a
     WHERE a.participant_id = absorb_closed_unit.participant_id AND a.kind = 'holding';
    t := carbonmkt._available(acct, 'CEA', vintage, '');
    IF t > 0 THEN
        PERFORM carbonmkt.transfer_cea(acct, carbonmkt._reserve_account(), vintage, t, reference,
                                       format('allowances of closed unit %s into the reserve', participant_id));
    END IF;
    RETURN t;
END
$$;
COMMENT ON FUNCTION carbonmkt.absorb_closed_unit(bigint, int, text) IS
  'Moves the available allowances of a vintage of a unit whose facilities are all closed into the national reserve (one registry posting).  National authority only.  Returns the tonnes moved.';

-- Inputs of a trigger on a date: the closes of the product in the two windows, the circulation.
CREATE FUNCTION carbonmkt._reserve_inputs(t carbonmkt.reserve_trigger, p_date date) RETURNS jsonb
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    recent    numeric;
    reference numeric;
    n_recent  int;
    n_ref     int;
    circ      bigint;
BEGIN
    IF t.kind IN ('price_high', 'price_low') THEN
        WITH days AS (
            SELECT m.business_date, m.close * 100 AS close_fen,
                   row_number() OVER (ORDER BY m.business_date DESC) AS k
              FROM carbonmkt.market_close m
             WHERE m.product = t.product AND m.business_date <= p_date AND m.close IS NOT NULL)
        SELECT avg(close_fen) FILTER (WHERE k <= t.lookback_days), count(*) FILTER (WHERE k <= t.lookback_days),
               avg(close_fen) FILTER (WHERE k > t.lookback_days AND k <= t.lookback_days + t.reference_days),
               count(*) FILTER (WHERE k > t.lookback_days AND k <= t.lookback_days + t.reference_days)
          INTO recent, n_recent, reference, n_ref
          FROM days;
        RETURN jsonb_build_object('product', t.product, 'lookback_days', t.lookback_days, 'closes_in_lookback', n_recent,
                                  'average_fen', round(recent, 2), 'reference_days', t.reference_days,
                                  'closes_in_reference', n_ref, 'reference_average_fen', round(reference, 2),
                                  'multiple', t.multiple, 'trigger_fen', round(reference * t.multiple, 2));
    END IF;
    SELECT coalesce(sum(h.balance), 0) INTO circ
      FROM carbonmkt.holding h JOIN carbonmkt.account a ON a.account_id = h.account_id
     WHERE h.instrument = 'CEA' AND a.kind = 'holding';
    RETURN jsonb_build_object('circulation_t', circ, 'threshold_t', t.threshold_t);
END
$$;
COMMENT ON FUNCTION carbonmkt._reserve_inputs(carbonmkt.reserve_trigger, date) IS
  'Internal: the inputs a trigger is decided on, as of a date: for price triggers the N-day and reference averages of the product''s closes (fen) and the trigger price; for supply triggers the allowances in circulation (CEA in participants'' holding accounts) and the threshold.';

CREATE FUNCTION carbonmkt.evaluate_market_adjustment(business_date date DEFAULT NULL)
RETURNS SETOF carbonmkt.reserve_decision
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_column
DECLARE
    d       date := coalesce(evaluate_market_adjustment.business_date, carbonmkt.business_date());
    t       carbonmkt.reserve_trigger;
    i       jsonb;
    met     boolean;
    why     text;
    recent  numeric;
    trig    numeric;
    last    date;
BEGIN
    IF NOT (carbonmkt._is_member('carbonmkt_exchange') OR carbonmkt._is_member('carbonmkt_registry')) THEN
        PERFORM carbonmkt._require_national_authority('evaluate the market adjustment triggers');
    END IF;
    IF NOT isfinite(d) THEN
        RAISE EXCEPTION 'business_date must be a finite date, got %', d USING ERRCODE = 'CM701';
    END IF;
    FOR t IN SELECT * FROM carbonmkt.reserve_trigger x
              WHERE x.valid_from <= d AND (x.valid_until IS NULL OR x.valid_until >= d) ORDER BY x.trigger_id LOOP
        IF EXISTS (SELECT 1 FROM carbonmkt.reserve_decision r WHERE r.business_date = d AND r.trigger_id = t.trigger_id) THEN
            CONTINUE;       -- decided already: idempotent per day
        END IF;
        i := carbonmkt._reserve_inputs(t, d);
        IF t.kind IN ('price_high', 'price_low') THEN
            recent := (i->>'average_fen')::numeric;
            trig := (i->>'trigger_fen')::numeric;
            IF (i->>'closes_in_lookback')::int < t.lookback_days OR (i->>'closes_in_reference')::int < t.reference_days THEN
                met := false;
                why := format('not enough closes: %s of %s recent and %s of %s reference trading days',
                              i->>'closes_in_lookback', t.lookback_days, i->>'closes_in_reference', t.reference_days);
            ELSE
                met := CASE t.kind WHEN 'price_high' THEN recent > trig ELSE recent < trig END;
                why := format('%s-day average close %s CNY %s %s x the %s-day reference average %s CNY = %s CNY',
                              t.lookback_days, to_char(recent / 100, 'FM999999990.00'),
                              CASE WHEN recent > trig THEN 'is above' WHEN recent < trig THEN 'is below' ELSE 'equals' END,
                              t.multiple, t.reference_days, to_char((i->>'reference_average_fen')::numeric / 100, 'FM999999990.00'),
                              to_char(trig / 100, 'FM999999990.00'));
            END IF;
        ELSE
            met := CASE t.kind WHEN 'supply_high' THEN (i->>'circulation_t')::bigint > t.threshold_t
                                ELSE (i->>'circulation_t')::bigint < t.threshold_t END;
            why := format('%s t in circulation, threshold %s t', i->>'circulation_t', t.threshold_t);
        END IF;
        IF met THEN
            SELECT max(r.business_date) INTO last FROM carbonmkt.reserve_decision r
             WHERE r.trigger_id = t.trigger_id AND r.status IN ('scheduled', 'executed');
            IF last IS NOT NULL AND d - last < t.cooldown_days THEN
                why := why || format('; met, but the last %s was on %s, within the %s-day cooldown', t.action, last, t.cooldown_days);
                INSERT INTO carbonmkt.reserve_decision (business_date, trigger_id, met, inputs, explanation, status, decided_at, decided_by)
                VALUES (d, t.trigger_id, true, i, why, 'skipped', carbonmkt.clock_now(), session_user);
                CONTINUE;
            END IF;
            INSERT INTO carbonmkt.reserve_decision (business_date, trigger_id, met, inputs, explanation, action, quantity_t,
                                                    status, decided_at, decided_by)
            VALUES (d, t.trigger_id, true, i, why || format(': %s %s', t.action, carbonmkt._t(t.quantity_t)), t.action, t.quantity_t,
                    'scheduled', carbonmkt.clock_now(), session_user);
        ELSE
            INSERT INTO carbonmkt.reserve_decision (business_date, trigger_id, met, inputs, explanation, status, decided_at, decided_by)
            VALUES (d, t.trigger_id, false, i, why, 'no_action', carbonmkt.clock_now(), session_user);
        END IF;
    END LOOP;
    RETURN QUERY SELECT * FROM carbonmkt.reserve_decision r WHERE r.business_date = d ORDER BY r.trigger_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.evaluate_market_adjustment(date) IS
  'Decides every market adjustment trigger in force on a trading day (end of day; pg_cron can call it): records each decision with its inputs and why, and schedules a release or an absorption where a trigger is met and not in its cooldown.  Idempotent per day and trigger; replays deterministically with the business clock.  Exchange, registry or national authority.  Returns the day''s decisions.';

CREATE FUNCTION carbonmkt.execute_reserve_decision(decision_id bigint, opens_at timestamptz, closes_at timestamptz)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    r      carbonmkt.reserve_decision;
    t      carbonmkt.reserve_trigger;
    me     bigint := carbonmkt._require_national_authority('execute a reserve decision');
    price  numeric;
    id     bigint;
BEGIN
    SELECT * INTO r FROM carbonmkt.reserve_decision x WHERE x.decision_id = execute_reserve_decision.decision_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reserve decision % does not exist', coalesce(decision_id::text, 'NULL') USING ERRCODE = 'CM705';
    END IF;
    IF r.status <> 'scheduled' THEN
        RAISE EXCEPTION 'reserve decision % is %, not scheduled', decision_id, r.status USING ERRCODE = 'CM705';
    END IF;
    IF r.action = 'withhold' THEN
        RAISE EXCEPTION 'reserve decision % withholds auction volume: it is executed by carbonmkt.withhold_auction_volume(%), not by an auction',
            decision_id, decision_id USING ERRCODE = 'CM705';
    END IF;
    SELECT * INTO t FROM carbonmkt.reserve_trigger x WHERE x.trigger_id = r.trigger_id;
    price := round(coalesce((r.inputs->>'average_fen')::numeric,
                            (SELECT p.reference_price_fen FROM carbonmkt.product p WHERE p.code = t.product))
                   * t.reserve_price_multiple / 100, 2);
    id := carbonmkt.announce_auction(t.product, CASE r.action WHEN 'release' THEN 'sell' ELSE 'buy' END, r.quantity_t,
                                     price, opens_at, closes_at, format('carbonmkt:reserve:decision:%s', r.decision_id), me);
    UPDATE carbonmkt.reserve_decision x SET status = 'executed', auction_id = id, executed_at = carbonmkt.clock_now()
     WHERE x.decision_id = r.decision_id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.execute_reserve_decision(bigint, timestamptz, timestamptz) IS
  'Executes a scheduled reserve decision as a one-way bidding lot of the national authority in today''s window: a release sells quantity_t from the national reserve (reserve price = reserve_price_multiple x the N-day average close), an absorption buys quantity_t back into it (highest price the same).  Proceeds go to, and purchases are paid from, the national authority''s cash account.  Unsold volume stays in the reserve.  National authority only.  Returns the auction id.';

-- Withholding (暂停或减少拍卖): the reserve's planned auctions, and a decision that takes volume
-- out of them.  Paid allocation is not withheld: it is each unit's own allocation sold to it.
CREATE TABLE carbonmkt.reserve_auction_plan (
    plan_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product         text NOT NULL,              -- the product sold (e.g. CEA2027)
    auction_date    date NOT NULL,              -- the trading day it is to be offered on
    planned_t       bigint NOT NULL CHECK (planned_t > 0),
    withheld_t      bigint NOT NULL DEFAULT 0 CHECK (withheld_t >= 0 AND withheld_t <= planned_t),
    status          text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'offered', 'withheld')),
    auction_id      bigint REFERENCES carbonmkt.auction,
    memo            text,
    planned_by      name NOT NULL,
    planned_at      timestamptz NOT NULL,
    CHECK ((status = 'offered') = (auction_id IS NOT NULL)),
    CHECK ((status = 'withheld') = (withheld_t = planned_t))
);
CREATE INDEX reserve_auction_plan_due ON carbonmkt.reserve_auction_plan (product, auction_date) WHERE status = 'planned';
COMMENT ON TABLE carbonmkt.reserve_auction_plan IS
  'The national reserve''s planned one-way bidding sales (拍卖计划): planned_t of a product on a trading day.  A withholding decision takes volume out of them before they are offered (withheld_t; status withheld when nothing is left); carbonmkt.offer_planned_auction() offers planned_t - withheld_t on the day (status offered, auction_id).  Public market information.';

CREATE TABLE carbonmkt.reserve_withholding (
    decision_id     bigint NOT NULL REFERENCES carbonmkt.reserve_decision,
    plan_id         bigint NOT NULL REFERENCES carbonmkt.reserve_auction_plan,
    withheld_t      bigint NOT NULL CHECK (withheld_t > 0),
    withheld_at     timestamptz NOT NULL,
    PRIMARY KEY (decision_id, plan_id)
);
COMMENT ON TABLE carbonmkt.reserve_withholding IS
  'What each withholding decision took out of which planned reserve auction (tonnes): the units stay in the national reserve instead of entering circulation.';

CREATE FUNCTION carbonmkt.plan_reserve_auction(product text, tonnes bigint, auction_date date, memo text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    me  bigint := carbonmkt._require_national_authority('plan a reserve auction');
    id  bigint;
BEGIN
    PERFORM carbonmkt._finance_quantity(tonnes, 'tonnes');
    PERFORM carbonmkt._check_plausible('plan_reserve_auction', 'tonnes', 'issue_quantity', 'CEA', tonnes);
    PERFORM carbonmkt._check_text('plan_reserve_auction', 'memo', memo);
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.product p WHERE p.code = product) THEN
        RAISE EXCEPTION 'product % does not exist', coalesce(product, 'NULL') USING ERRCODE = 'CM705',
            HINT = 'The products are the rows of carbonmkt.product (carbonmkt.list_product).';
    END IF;
    IF auction_date IS NULL OR NOT isfinite(auction_date) OR auction_date < carbonmkt.business_date() THEN
        RAISE EXCEPTION 'auction_date % must be today (%) or later', coalesce(auction_date::text, 'NULL'), carbonmkt.business_date()
            USING ERRCODE = 'CM705';
    END IF;
    IF NOT carbonmkt.is_trading_day(auction_date, 'CN') THEN
        RAISE EXCEPTION 'auction_date % is not a trading day', auction_date USING ERRCODE = 'CM705',
            HINT = 'A one-way bidding lot is offered on a trading day (carbonmkt.is_trading_day).';
    END IF;
    INSERT INTO carbonmkt.reserve_auction_plan AS x (product, auction_date, planned_t, memo, planned_by, planned_at)
    VALUES (product, auction_date, tonnes, memo, session_user, carbonmkt.clock_now())
    RETURNING x.plan_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.plan_reserve_auction(text, bigint, date, text) IS
  'Plans a sale of tonnes of a product from the national reserve by one-way bidding on a trading day (reserve_auction_plan): the volume a withholding decision can take out before the day.  National authority only.  Returns the plan id.';

CREATE FUNCTION carbonmkt.withhold_auction_volume(decision_id bigint)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    r      carbonmkt.reserve_decision;
    t      carbonmkt.reserve_trigger;
    me     bigint := carbonmkt._require_national_authority('withhold auction volume');
    pl     carbonmkt.reserve_auction_plan;
    left_t bigint;
    w      bigint;
    ts     timestamptz := carbonmkt.clock_now();
BEGIN
    SELECT * INTO r FROM carbonmkt.reserve_decision d WHERE d.decision_id = withhold_auction_volume.decision_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reserve decision % does not exist', coalesce(decision_id::text, 'NULL') USING ERRCODE = 'CM705';
    END IF;
    IF r.status <> 'scheduled' OR r.action <> 'withhold' THEN
        RAISE EXCEPTION 'reserve decision % is %, not a scheduled withholding', decision_id,
            r.status || coalesce(' ' || r.action, '') USING ERRCODE = 'CM705';
    END IF;
    SELECT * INTO t FROM carbonmkt.reserve_trigger x WHERE x.trigger_id = r.trigger_id;
    left_t := r.quantity_t;
    -- the earliest planned auctions first, from today on
    FOR pl IN SELECT * FROM carbonmkt.reserve_auction_plan p
              WHERE p.product = t.product AND p.status = 'planned' AND p.auction_date >= carbonmkt.business_date()
              ORDER BY p.auction_date, p.plan_id FOR UPDATE LOOP
        EXIT WHEN left_t = 0;
        w := least(left_t, pl.planned_t - pl.withheld_t);
        UPDATE carbonmkt.reserve_auction_plan p
           SET withheld_t = p.withheld_t + w,
               status = CASE WHEN p.withheld_t + w = p.planned_t THEN 'withheld' ELSE 'planned' END
         WHERE p.plan_id = pl.plan_id;
        INSERT INTO carbonmkt.reserve_withholding (decision_id, plan_id, withheld_t, withheld_at)
        VALUES (r.decision_id, pl.plan_id, w, ts);
        left_t := left_t - w;
    END LOOP;
    IF left_t = r.quantity_t THEN
        RAISE EXCEPTION 'no planned reserve auction of % from % on to withhold %', t.product, carbonmkt.business_date(),
            carbonmkt._t(r.quantity_t) USING ERRCODE = 'CM705',
            HINT = 'The national authority plans the reserve''s sales with carbonmkt.plan_reserve_auction(); or absorb by buy-back (a trigger with action absorb).';
    END IF;
    UPDATE carbonmkt.reserve_decision d SET status = 'executed', executed_at = ts, withheld_t = r.quantity_t - left_t
     WHERE d.decision_id = r.decision_id;
    RETURN r.quantity_t - left_t;
END
$$;
COMMENT ON FUNCTION carbonmkt.withhold_auction_volume(bigint) IS
  'Executes a scheduled withholding decision: takes its quantity_t out of the national reserve''s planned auctions of the trigger''s product (reserve_auction_plan, the earliest from today first), so the units stay in the reserve; what it could not find planned is not withheld.  Records each plan''s part (reserve_withholding).  National authority only.  Returns the tonnes withheld; CM705 when nothing is planned.';

CREATE FUNCTION carbonmkt.offer_planned_auction(plan_id bigint, reserve_price numeric, opens_at timestamptz,
                                                closes_at timestamptz)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    me  bigint := carbonmkt._require_national_authority('offer a planned reserve auction');
    x   carbonmkt.reserve_auction_plan;
    id  bigint;
BEGIN
    PERFORM carbonmkt._finance_price(reserve_price, 'reserve_price');
    SELECT * INTO x FROM carbonmkt.reserve_auction_plan p WHERE p.plan_id = offer_planned_auction.plan_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reserve auction plan % does not exist', coalesce(plan_id::text, 'NULL') USING ERRCODE = 'CM705';
    END IF;
    IF x.status <> 'planned' THEN
        RAISE EXCEPTION 'reserve auction plan % is %: % of % planned were withheld', plan_id, x.status,
            carbonmkt._t(x.withheld_t), carbonmkt._t(x.planned_t) USING ERRCODE = 'CM705';
    END IF;
    IF x.auction_date <> carbonmkt.business_date() THEN
        RAISE EXCEPTION 'reserve auction plan % is for %, not today (%)', plan_id, x.auction_date, carbonmkt.business_date()
            USING ERRCODE = 'CM705';
    END IF;
    id := carbonmkt.announce_auction(x.product, 'sell', x.planned_t - x.withheld_t, reserve_price, opens_at, closes_at,
                                     format('carbonmkt:reserve:plan:%s', x.plan_id), me);
    UPDATE carbonmkt.reserve_auction_plan p SET status = 'offered', auction_id = id WHERE p.plan_id = x.plan_id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.offer_planned_auction(bigint, numeric, timestamptz, timestamptz) IS
  'Offers a planned reserve auction on its day: a one-way bidding lot of the national authority selling planned_t - withheld_t from the national reserve at the reserve price, in today''s window.  National authority only.  Returns the auction id.';

CREATE VIEW carbonmkt.reserve_auction_schedule WITH (security_invoker = true) AS
SELECT p.plan_id, p.product, p.auction_date, p.planned_t, p.withheld_t, p.planned_t - p.withheld_t AS offered_t,
       p.status, p.auction_id,
       (SELECT string_agg(format('decision %s: %s t', w.decision_id, w.withheld_t), '; ' ORDER BY w.decision_id)
          FROM carbonmkt.reserve_withholding w WHERE w.plan_id = p.plan_id) AS withheld_by,
       p.memo
  FROM carbonmkt.reserve_auction_plan p;
COMMENT ON VIEW carbonmkt.reserve_auction_schedule IS
  'The national reserve''s planned auctions (拍卖计划): planned, withheld by which market adjustment decisions, and what is (or was) offered.  Public market information.';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.plan_id IS 'The plan (carbonmkt.plan_reserve_auction).';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.product IS 'The product to be sold, e.g. CEA2027.';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.auction_date IS 'The trading day it is to be offered on.';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.planned_t IS 'Tonnes planned.';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.withheld_t IS 'Tonnes withheld by withholding decisions (they stay in the reserve).';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.offered_t IS 'Tonnes left to offer: planned_t - withheld_t.';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.status IS 'planned, offered (auction_id) or withheld (nothing left).';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.auction_id IS 'The one-way bidding lot it was offered as.';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.withheld_by IS 'Which decisions withheld how much.';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.memo IS 'The authority''s note.';

CREATE VIEW carbonmkt.market_adjustment_decisions WITH (security_invoker = true) AS
SELECT r.business_date, r.decision_id, t.trigger_id, t.kind, t.product, t.action AS trigger_action, r.met, r.status,
       r.quantity_t, r.explanation, r.inputs, r.auction_id, a.allocated AS auction_allocated_t,
       a.clearing_fen AS auction_clearing_fen, t.illustrative, t.source, r.withheld_t
  FROM carbonmkt.reserve_decision r
  JOIN carbonmkt.reserve_trigger t ON t.trigger_id = r.trigger_id
  LEFT JOIN carbonmkt.auction a ON a.auction_id = r.auction_id;
COMMENT ON VIEW carbonmkt.market_adjustment_decisions IS
  'Why each market adjustment decision was taken: the trigger (kind, product, whether illustrative, its source), whether it was met, the inputs and the sentence that explains it, what was scheduled and what its auction allocated at which price, or what a withholding took out of the planned auctions (withheld_t).  Public market information.';

-- Paid allocation (有偿分配) --------------------------------------------------------------------

CREATE TABLE carbonmkt.paid_allocation_rule (
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    sector          text NOT NULL REFERENCES carbonmkt.sector,
    from_year       int NOT NULL CHECK (from_year BETWEEN 2005 AND 2100),
    until_year      int CHECK (until_year >= from_year AND until_year <= 2100),     -- NULL: until replaced
    paid_share      numeric NOT NULL CHECK (paid_share > 0 AND paid_share < 1),
    method          text NOT NULL CHECK (method IN ('auction', 'fixed_price')),
    price_fen       bigint NOT NULL CHECK (price_fen > 0),    -- fixed price, or the auction's reserve price
    lock_free       boolean NOT NULL DEFAULT false,           -- Guangdong: free units locked until the paid share is bought
    illustrative    boolean NOT NULL DEFAULT false,   -- true: not a published value (a demo's, a test's)
    source          text NOT NULL,
    PRIMARY KEY (jurisdiction, sector, from_year)
);
COMMENT ON TABLE carbonmkt.paid_allocation_rule IS
  'Paid allocation (有偿分配) per jurisdiction, sector and years: the paid share of each unit''s allocation, the method (auction: one-way bidding with price_fen as reserve price; fixed_price: sold at price_fen), and lock_free (the Guangdong pilot''s rule, RULES.md 3 [S1 L1095]: a unit''s free allowances can be neither traded nor surrendered until it has bought its paid share).  Rule data, set with carbonmkt.set_rule() (doc/rules.md); none is shipped (no source gives a share): apply_paid_allocation and offer_paid_allocation refuse (CM706) for a sector and year without one.';


CREATE TABLE carbonmkt.paid_entitlement (
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    year            int NOT NULL,
    allocated_t     bigint NOT NULL,         -- the unit's allocation the share applies to
    paid_share      numeric NOT NULL,
    paid_due_t      bigint NOT NULL CHECK (paid_due_t >= 0),   -- what it must buy
    bought_t        bigint NOT NULL DEFAULT 0 CHECK (bought_t >= 0),
    method          text NOT NULL,
    price_fen       bigint NOT NULL,
    lock_hold_id    bigint REFERENCES carbonmkt.hold,          -- the lock on its free units (lock_free)
    adjustment_id   bigint,                                    -- the allocation_adjustment withholding the paid part
    applied_at      timestamptz NOT NULL,
    PRIMARY KEY (participant_id, year)
);
COMMENT ON TABLE carbonmkt.paid_entitlement IS
  'Per unit and year: the paid part of its allocation (paid_due_t = paid_share x allocated_t, rounded half up), withheld from its free issuance (an allocation_adjustment of reason paid_share), what it has bought of it, and the lock on its free units where the rule locks them.';

CREATE TABLE carbonmkt.paid_sale (
    sale_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    year            int NOT NULL,
    tonnes          bigint NOT NULL CHECK (tonnes > 0),
    price_fen       bigint NOT NULL CHECK (price_fen > 0),
    method          text NOT NULL CHECK (method IN ('auction', 'fixed_price')),
    auction_id      bigint REFERENCES carbonmkt.auction,
    trade_id        bigint REFERENCES carbonmkt.trade,
    units_posting   bigint,
    cash_posting    bigint,
    business_date   date NOT NULL,
    recorded_at     timestamptz NOT NULL,
    reference       text,                                               -- the buyer's client reference (idempotency)
    CHECK ((method = 'auction') = (auction_id IS NOT NULL))
);
CREATE UNIQUE INDEX paid_sale_reference ON carbonmkt.paid_sale (participant_id, reference) WHERE reference IS NOT NULL;
CREATE UNIQUE INDEX paid_sale_trade ON carbonmkt.paid_sale (trade_id) WHERE trade_id IS NOT NULL;
CREATE INDEX paid_sale_unit ON carbonmkt.paid_sale (participant_id, year);
COMMENT ON TABLE carbonmkt.paid_sale IS
  'Every purchase of paid allocation: at the fixed price (the two registry postings) or won in a paid-allocation auction (the trade).  The proceeds are in the authority''s cash account (its fiscal account).';

CREATE FUNCTION carbonmkt._paid_rule(p_sector text, p_year int) RETURNS carbonmkt.paid_allocation_rule
LANGUAGE sql STABLE AS
$$ SELECT * FROM carbonmkt.paid_allocation_rule r
    WHERE r.jurisdiction = 'CN' AND r.sector = p_sector AND p_year >= r.from_year AND p_year <= coalesce(r.until_year, 2100)
    ORDER BY r.from_year DESC LIMIT 1 $$;
COMMENT ON FUNCTION carbonmkt._paid_rule(text, int) IS 'Internal: the paid allocation rule of a sector and year, or NULL.';

CREATE FUNCTION carbonmkt.apply_paid_allocation(year int, sector text)
RETURNS TABLE (participant_id bigint, allocated_t bigint, paid_due_t bigint, locked_t bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_column
DECLARE
    r     carbonmkt.paid_allocation_rule;
    u     record;
    due   bigint;
    adj   bigint;
    h     bigint;
    acct  bigint;
    avail bigint;
BEGIN
    PERFORM carbonmkt._require_national_authority('apply paid allocation');
    r := carbonmkt._paid_rule(apply_paid_allocation.sector, apply_paid_allocation.year);
    IF r.sector IS NULL THEN
        RAISE EXCEPTION 'no paid allocation rule for sector % in % (jurisdiction CN): carbonmkt.paid_allocation_rule has no row for it',
            coalesce(apply_paid_allocation.sector, 'NULL'), coalesce(apply_paid_allocation.year::text, 'NULL')
            USING ERRCODE = 'CM706',
                  HINT = 'No source gives a paid share, so none is shipped: the national authority loads it with carbonmkt.set_rule(''paid_allocation_rule'', ...) (doc/rules.md).';
    END IF;
    FOR u IN SELECT a.participant_id, a.allocated_t
               FROM carbonmkt._allocated_by_year a JOIN carbonmkt.participant p ON p.participant_id = a.participant_id
              WHERE a.year = apply_paid_allocation.year AND p.sector = apply_paid_allocation.sector
                AND NOT EXISTS (SELECT 1 FROM carbonmkt.paid_entitlement e
                                 WHERE e.participant_id = a.participant_id AND e.year = apply_paid_allocation.year)
              ORDER BY a.participant_id LOOP
        due := round(u.allocated_t * r.paid_share)::bigint;
        adj := NULL;
        IF due > 0 THEN
            INSERT INTO carbonmkt.allocation_adjustment AS x (participant_id, year, tonnes, reason, recorded_at, recorded_by)
            VALUES (u.participant_id, apply_paid_allocation.year, due, 'paid_share', carbonmkt.clock_now(), session_user)
            RETURNING x.adjustment_id INTO adj;
        END IF;
        h := NULL;
        avail := 0;
        IF r.lock_free THEN
            SELECT min(a.account_id) INTO acct FROM carbonmkt.account a
             WHERE a.participant_id = u.participant_id AND a.kind = 'holding' AND a.status = 'open';
            avail := carbonmkt._available(acct, 'CEA', apply_paid_allocation.year, '');
            IF avail > 0 AND due > 0 THEN
                h := carbonmkt.hold(acct, 'CEA', avail, 'paid_lock', apply_paid_allocation.year, '',
                                    format('carbonmkt:paid_lock:%s:%s', u.participant_id, apply_paid_allocation.year),
                                    format('free %s allowances locked until the paid share of %s t is bought',
                                           apply_paid_allocation.year, due));
            END IF;
        END IF;
        INSERT INTO carbonmkt.paid_entitlement (participant_id, year, allocated_t, paid_share, paid_due_t, method,
                                                price_fen, lock_hold_id, adjustment_id, applied_at)
        VALUES (u.participant_id, apply_paid_allocation.year, u.allocated_t, r.paid_share, due, r.method, r.price_fen,
                h, adj, carbonmkt.clock_now());
        participant_id := u.participant_id; allocated_t := u.allocated_t; paid_due_t := due;
        locked_t := CASE WHEN h IS NULL THEN 0 ELSE avail END;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION carbonmkt.apply_paid_allocation(int, text) IS
  'Applies the year''s paid allocation rule to every unit of a sector with an allocation (once per unit and year): paid_due_t = paid_share x its allocation, withheld from its free issuance (an allocation_adjustment of reason paid_share: the allocation runs issue net of it, and settle_allocation_adjustments() takes it back once final), and, where the rule locks free units (Guangdong), a paid_lock hold on the unit''s free allowances of the year until it has bought its share.  National authority only.';

CREATE FUNCTION carbonmkt._paid_bought(p_participant bigint, p_year int, p_tonnes bigint) RETURNS void
LANGUAGE plpgsql AS
$$
DECLARE
    e carbonmkt.paid_entitlement;
BEGIN
    UPDATE carbonmkt.paid_entitlement x SET bought_t = x.bought_t + p_tonnes
     WHERE x.participant_id = p_participant AND x.year = p_year
    RETURNING * INTO e;
    IF e.lock_hold_id IS NOT NULL AND e.bought_t >= e.paid_due_t
       AND (SELECT h.status FROM carbonmkt.hold h WHERE h.hold_id = e.lock_hold_id) = 'active' THEN
        PERFORM carbonmkt.release_hold(e.lock_hold_id, NULL,
                                       format('paid share of %s t bought: free %s allowances unlocked', e.paid_due_t, p_year));
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._paid_bought(bigint, int, bigint) IS
  'Internal: counts a purchase of paid allocation and lifts the unit''s lock once its paid share is bought.';

CREATE FUNCTION carbonmkt._paid_lock_detail(p_account bigint, p_vintage int) RETURNS text
LANGUAGE sql STABLE AS
$$
SELECT coalesce(string_agg(format('Unit %s (%s): %s of its free %s allowances are locked (paid_lock) until it has bought its paid share of %s x %s = %s; %s still to buy.',
                                  e.participant_id, p.name, carbonmkt._t(h.remaining), e.year, e.paid_share,
                                  carbonmkt._t(e.allocated_t), carbonmkt._t(e.paid_due_t),
                                  carbonmkt._t(e.paid_due_t - e.bought_t)), ' ' ORDER BY e.year),
                'Free allowances are locked until the unit has bought its paid share.')
  FROM carbonmkt.paid_entitlement e
  JOIN carbonmkt.hold h ON h.hold_id = e.lock_hold_id AND h.status = 'active'
  JOIN carbonmkt.participant p ON p.participant_id = e.participant_id
 WHERE h.account_id = p_account AND e.year = p_vintage
$$;
COMMENT ON FUNCTION carbonmkt._paid_lock_detail(bigint, int) IS
  'Internal: the sentence the registry''s available-quantity refusal (CM004) gives for an account whose free allowances of a vintage are locked by paid allocation: the unit, its share, its due and what it still has to buy.';

CREATE FUNCTION carbonmkt.buy_paid_allocation(vintage int, tonnes bigint, reference text DEFAULT NULL,
                                              acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    me      bigint := carbonmkt._finance_actor(acting_for, 'buy paid allocation');
    e       carbonmkt.paid_entitlement;
    prov    char(6);
    src     bigint;
    fiscal  bigint;
    u       bigint;
    c       bigint;
    id      bigint;
BEGIN
    -- a retry with the same reference returns the sale it made
    IF reference IS NOT NULL THEN
        SELECT s.sale_id, s.year, s.tonnes INTO id, u, c
          FROM carbonmkt.paid_sale s WHERE s.participant_id = me AND s.reference = buy_paid_allocation.reference;
        IF FOUND THEN
            IF (u, c) IS DISTINCT FROM (vintage::bigint, tonnes) THEN
                RAISE EXCEPTION 'client reference "%" was already used for a different request', reference
                    USING ERRCODE = 'CM007',
                          DETAIL = format('Sale %s bought %s of the %s paid allocation.', id, carbonmkt._t(c), u);
            END IF;
            RETURN id;
        END IF;
    END IF;
    PERFORM carbonmkt._finance_quantity(tonnes, 'tonnes');
    SELECT * INTO e FROM carbonmkt.paid_entitlement x WHERE x.participant_id = me AND x.year = buy_paid_allocation.vintage FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'participant % has no paid allocation for %', me, coalesce(vintage::text, 'NULL') USING ERRCODE = 'CM706';
    END IF;
    IF e.method <> 'fixed_price' THEN
        RAISE EXCEPTION 'the paid allocation of % is sold by auction, not at a fixed price', vintage USING ERRCODE = 'CM706',
            HINT = 'Bid in the authority''s one-way bidding (carbonmkt.bid_auction).';
    END IF;
    IF tonnes > e.paid_due_t - e.bought_t THEN
        RAISE EXCEPTION 'participant % may buy % more of its % paid allocation, not %', me,
            carbonmkt._t(e.paid_due_t - e.bought_t), vintage, carbonmkt._t(tonnes) USING ERRCODE = 'CM706',
            DETAIL = format('Paid share %s of %s = %s; bought %s.', e.paid_share, carbonmkt._t(e.allocated_t),
                            carbonmkt._t(e.paid_due_t), carbonmkt._t(e.bought_t));
    END IF;
    SELECT p.province INTO prov FROM carbonmkt.participant p WHERE p.participant_id = me;
    src := carbonmkt._allocation_account(prov);
    fiscal := carbonmkt._finance_account((SELECT a.participant_id FROM carbonmkt.account a WHERE a.account_id = src), 'cash');
    PERFORM carbonmkt._ensure_available(src, vintage, tonnes, format('carbonmkt:paid:%s:%s:%s', me, vintage, e.bought_t),
                                        format('paid allocation %s for participant %s', vintage, me));
    -- delivery versus payment: cash to the province's fiscal account, units to the unit
    c := carbonmkt.transfer_cny(carbonmkt._finance_account(me, 'cash'), fiscal, e.price_fen * tonnes, NULL,
                                format('paid allocation %s: %s t at %s CNY/t', vintage, tonnes, e.price_fen / 100.0));
    u := carbonmkt.transfer_cea(src, carbonmkt._finance_account(me, 'holding'), vintage, tonnes, NULL,
                                format('paid allocation %s (有偿分配)', vintage));
    INSERT INTO carbonmkt.paid_sale AS s (participant_id, year, tonnes, price_fen, method, units_posting, cash_posting,
                                          business_date, recorded_at, reference)
    VALUES (me, vintage, tonnes, e.price_fen, 'fixed_price', u, c, carbonmkt.business_date(), carbonmkt.clock_now(), reference)
    RETURNING s.sale_id INTO id;
    PERFORM carbonmkt._paid_bought(me, vintage, tonnes);
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.buy_paid_allocation(int, bigint, text, bigint) IS
  'Buys tonnes of the unit''s paid allocation of a year (vintage: the allocation year, whose CEA it receives) at the rule''s fixed price (fixed_price method): cash to the province''s fiscal (cash) account, units from its allocation account, delivery versus payment in one transaction.  Lifts the unit''s lock once its share is bought.  Returns the sale id.  Idempotent per client reference (per unit).';

CREATE FUNCTION carbonmkt.offer_paid_allocation(year int, sector text, opens_at timestamptz, closes_at timestamptz)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    me     bigint := carbonmkt._require_national_authority('offer paid allocation');
    r      carbonmkt.paid_allocation_rule := carbonmkt._paid_rule(sector, year);
    total  bigint;
    code   text := 'CEA' || year;
BEGIN
    IF r.sector IS NULL OR r.method <> 'auction' THEN
        RAISE EXCEPTION 'no paid allocation rule selling sector % of % by auction (jurisdiction CN): carbonmkt.paid_allocation_rule has %',
            coalesce(sector, 'NULL'), coalesce(year::text, 'NULL'),
            CASE WHEN r.sector IS NULL THEN 'no row for it' ELSE 'a rule selling at a fixed price (buy_paid_allocation)' END
            USING ERRCODE = 'CM706',
                  HINT = 'The national authority loads the rule with carbonmkt.set_rule(''paid_allocation_rule'', ...) (doc/rules.md).';
    END IF;
    SELECT sum(e.paid_due_t - e.bought_t) INTO total
      FROM carbonmkt.paid_entitlement e JOIN carbonmkt.participant p ON p.participant_id = e.participant_id
     WHERE e.year = offer_paid_allocation.year AND p.sector = offer_paid_allocation.sector;
    IF coalesce(total, 0) <= 0 THEN
        RAISE EXCEPTION 'nothing of sector % remains to be sold for %', sector, year USING ERRCODE = 'CM706',
            HINT = 'Apply the rule first: carbonmkt.apply_paid_allocation(year, sector).';
    END IF;
    PERFORM carbonmkt.issue_cea(carbonmkt._reserve_account(), year, total,
                                format('carbonmkt:paid:offer:%s:%s:%s', year, sector, carbonmkt.business_date()),
                                format('paid allocation %s %s offered by auction', year, sector));
    RETURN carbonmkt.announce_auction(code, 'sell', total, r.price_fen / 100.0, opens_at, closes_at,
                                      format('carbonmkt:paid:auction:%s:%s:%s', year, sector, carbonmkt.business_date()), me);
END
$$;
COMMENT ON FUNCTION carbonmkt.offer_paid_allocation(int, text, timestamptz, timestamptz) IS
  'Offers the paid allocation of a sector and year that its units have not bought yet by one-way bidding (uniform price, the rule''s price as reserve price) in today''s window: the lot is issued into the national reserve and announced by the national authority, whose cash account receives the proceeds.  After the close, carbonmkt.record_paid_auction() counts each unit''s winnings.  Returns the auction id.';

CREATE FUNCTION carbonmkt.record_paid_auction(auction_id bigint, year int)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    a   carbonmkt.auction;
    t   record;
    n   bigint := 0;
BEGIN
    PERFORM carbonmkt._require_national_authority('record a paid allocation auction');
    IF year IS NULL OR year NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'year must be within 2005-2100, got %', coalesce(year::text, 'NULL') USING ERRCODE = 'CM701';
    END IF;
    SELECT * INTO a FROM carbonmkt.auction x WHERE x.auction_id = record_paid_auction.auction_id;
    IF NOT FOUND OR a.status <> 'closed' THEN
        RAISE EXCEPTION 'auction % is not a closed auction', coalesce(auction_id::text, 'NULL') USING ERRCODE = 'CM706';
    END IF;
    FOR t IN SELECT tr.* FROM carbonmkt.trade tr
              WHERE tr.sell_order_id = a.lot_order_id
                AND NOT EXISTS (SELECT 1 FROM carbonmkt.paid_sale s WHERE s.trade_id = tr.trade_id)
              ORDER BY tr.trade_id LOOP
        INSERT INTO carbonmkt.paid_sale (participant_id, year, tonnes, price_fen, method, auction_id, trade_id,
                                         business_date, recorded_at)
        VALUES (t.buyer_id, year, t.quantity, t.price_fen, 'auction', a.auction_id, t.trade_id, t.business_date,
                carbonmkt.clock_now());
        IF EXISTS (SELECT 1 FROM carbonmkt.paid_entitlement e WHERE e.participant_id = t.buyer_id AND e.year = record_paid_auction.year) THEN
            PERFORM carbonmkt._paid_bought(t.buyer_id, year, t.quantity);
        END IF;
        n := n + t.quantity;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt.record_paid_auction(bigint, int) IS
  'After a paid allocation auction closed: records every fill as a paid sale, counts it toward the buyer''s paid share (lifting its lock once bought) and returns the tonnes recorded.  Unsold volume stays in the national reserve.  Idempotent.';

CREATE FUNCTION carbonmkt.paid_lock_status(participant_id bigint DEFAULT NULL)
RETURNS TABLE (participant_id bigint, year int, paid_due_t bigint, bought_t bigint, still_to_buy_t bigint,
               locked_t bigint, message text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
SELECT e.participant_id, e.year, e.paid_due_t, e.bought_t, greatest(e.paid_due_t - e.bought_t, 0),
       CASE WHEN h.status = 'active' THEN h.remaining ELSE 0 END,
       CASE WHEN h.status = 'active'
            THEN format('unit %s: %s of free %s allowances are locked until it buys its paid share of %s (%s); %s still to buy',
                        e.participant_id, carbonmkt._t(h.remaining), e.year, e.paid_share, carbonmkt._t(e.paid_due_t),
                        carbonmkt._t(e.paid_due_t - e.bought_t))
            ELSE 'not locked' END
  FROM carbonmkt.paid_entitlement e
  LEFT JOIN carbonmkt.hold h ON h.hold_id = e.lock_hold_id
 WHERE e.participant_id = coalesce(paid_lock_status.participant_id, carbonmkt.caller_participant())
   AND (e.participant_id = carbonmkt.caller_participant()
        OR carbonmkt._is_member('carbonmkt_registry') OR carbonmkt._is_member('carbonmkt_authority')
        OR carbonmkt._is_member('carbonmkt_exchange') OR carbonmkt._is_member('carbonmkt_bi'))
 ORDER BY e.year
$$;
COMMENT ON FUNCTION carbonmkt.paid_lock_status(bigint) IS
  'Per year, a unit''s paid share, what it bought, what it still has to buy and how many of its free allowances are locked (paid_lock hold), with a sentence naming them.  The unit itself (default: the login''s participant) or staff.';

CREATE VIEW carbonmkt.bi_paid_allocation WITH (security_invoker = true) AS
SELECT e.year, p.sector, count(*) AS units, sum(e.allocated_t)::bigint AS allocated_t,
       sum(e.allocated_t - e.paid_due_t)::bigint AS free_t, sum(e.paid_due_t)::bigint AS paid_due_t,
       sum(e.bought_t)::bigint AS bought_t,
       coalesce((SELECT sum(s.tonnes * s.price_fen) FROM carbonmkt.paid_sale s JOIN carbonmkt.participant q
                   ON q.participant_id = s.participant_id WHERE s.year = e.year AND q.sector = p.sector), 0)::bigint
           AS proceeds_fen,
       (SELECT max(a.clearing_fen) FROM carbonmkt.paid_sale s JOIN carbonmkt.auction a ON a.auction_id = s.auction_id
          JOIN carbonmkt.participant q ON q.participant_id = s.participant_id
         WHERE s.year = e.year AND q.sector = p.sector) AS clearing_fen
  FROM carbonmkt.paid_entitlement e JOIN carbonmkt.participant p ON p.participant_id = e.participant_id
 GROUP BY e.year, p.sector;
COMMENT ON VIEW carbonmkt.bi_paid_allocation IS
  'Paid versus free allocation per year and sector (有偿分配): units, allocated, free and paid tonnes, what the units bought, the proceeds (fen, fixed-price and auction sales of units) and the auction clearing price (fen).';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.year IS 'Allocation year.';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.sector IS 'Sector code.';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.units IS 'Units with a paid allocation entitlement.';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.allocated_t IS 'Their allocation (t).';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.free_t IS 'Free part (t).';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.paid_due_t IS 'Paid part the units must buy (t).';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.bought_t IS 'Paid part bought so far (t).';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.proceeds_fen IS 'Proceeds from the units'' purchases (fen).';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.clearing_fen IS 'Highest clearing price of the paid allocation auctions (fen per t), NULL without one.';

-- Access --------------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION carbonmkt._finance_text(text, text), carbonmkt._finance_quantity(bigint, text),
                       carbonmkt._finance_price(numeric, text, text, text), carbonmkt._finance_fen(bigint, text),
                       carbonmkt._finance_actor(bigint, text),
                       carbonmkt._finance_account(bigint, carbonmkt.account_kind),
                       carbonmkt._require_national_authority(text), carbonmkt._pledge(bigint, boolean),
                       carbonmkt._pledge_state(carbonmkt.pledge, text, text), carbonmkt._pledge_end_offers(bigint, bigint),
                       carbonmkt._repo_rule(date), carbonmkt._repo_leg(carbonmkt.repo, int),
                       carbonmkt._reserve_account(), carbonmkt._reserve_inputs(carbonmkt.reserve_trigger, date),
                       carbonmkt._paid_rule(text, int), carbonmkt._paid_bought(bigint, int, bigint),
                       carbonmkt._paid_lock_detail(bigint, int)
  FROM PUBLIC;
REVOKE ALL ON FUNCTION carbonmkt.retire_voluntarily(bigint, carbonmkt.instrument, int, text, bigint, text, text, text, int, text),
                       carbonmkt.propose_pledge(bigint, int, bigint, bigint, date, bigint),
                       carbonmkt.accept_pledge(bigint, bigint), carbonmkt.register_pledge(bigint, text),
                       carbonmkt.discharge_pledge(bigint, text, bigint), carbonmkt.offer_for_pledge(bigint, numeric, text, bigint),
                       carbonmkt.enforce_pledge(bigint, text, bigint, text),
                       carbonmkt.propose_repo(bigint, int, bigint, numeric, numeric, date, text, bigint),
                       carbonmkt.confirm_repo(bigint, bigint), carbonmkt.settle_repos(date),
                       carbonmkt.feed_reserve(int), carbonmkt.absorb_closed_unit(bigint, int, text),
                       carbonmkt.evaluate_market_adjustment(date),
                       carbonmkt.execute_reserve_decision(bigint, timestamptz, timestamptz),
                       carbonmkt.plan_reserve_auction(text, bigint, date, text), carbonmkt.withhold_auction_volume(bigint),
                       carbonmkt.offer_planned_auction(bigint, numeric, timestamptz, timestamptz),
                       carbonmkt.apply_paid_allocation(int, text), carbonmkt.buy_paid_allocation(int, bigint, text, bigint),
                       carbonmkt.offer_paid_allocation(int, text, timestamptz, timestamptz),
                       carbonmkt.record_paid_auction(bigint, int), carbonmkt.paid_lock_status(bigint)
  FROM PUBLIC;
-- participants (and the registry acting for them)
GRANT EXECUTE ON FUNCTION
    carbonmkt.retire_voluntarily(bigint, carbonmkt.instrument, int, text, bigint, text, text, text, int, text),
    carbonmkt.propose_pledge(bigint, int, bigint, bigint, date, bigint),
    carbonmkt.accept_pledge(bigint, bigint), carbonmkt.discharge_pledge(bigint, text, bigint),
    carbonmkt.offer_for_pledge(bigint, numeric, text, bigint),
    carbonmkt.propose_repo(bigint, int, bigint, numeric, numeric, date, text, bigint),
    carbonmkt.confirm_repo(bigint, bigint),
    carbonmkt.buy_paid_allocation(int, bigint, text, bigint), carbonmkt.paid_lock_status(bigint)
  TO carbonmkt_participant, carbonmkt_registry;
-- the registry
GRANT EXECUTE ON FUNCTION carbonmkt.register_pledge(bigint, text), carbonmkt.enforce_pledge(bigint, text, bigint, text)
  TO carbonmkt_registry;
-- the exchange's end of day
GRANT EXECUTE ON FUNCTION carbonmkt.settle_repos(date), carbonmkt.evaluate_market_adjustment(date)
  TO carbonmkt_exchange, carbonmkt_registry;
-- authorities (each function checks for the national authority)
GRANT EXECUTE ON FUNCTION carbonmkt.feed_reserve(int), carbonmkt.absorb_closed_unit(bigint, int, text),
                          carbonmkt.evaluate_market_adjustment(date),
                          carbonmkt.execute_reserve_decision(bigint, timestamptz, timestamptz),
                          carbonmkt.plan_reserve_auction(text, bigint, date, text), carbonmkt.withhold_auction_volume(bigint),
                          carbonmkt.offer_planned_auction(bigint, numeric, timestamptz, timestamptz),
                          carbonmkt.apply_paid_allocation(int, text),
                          carbonmkt.offer_paid_allocation(int, text, timestamptz, timestamptz),
                          carbonmkt.record_paid_auction(bigint, int), carbonmkt.paid_lock_status(bigint)
  TO carbonmkt_authority;
GRANT EXECUTE ON FUNCTION carbonmkt.paid_lock_status(bigint) TO carbonmkt_bi, carbonmkt_exchange;
-- anyone holding a certificate may check it
GRANT EXECUTE ON FUNCTION carbonmkt.verify_certificate(text) TO PUBLIC;

GRANT SELECT ON carbonmkt.repo_rule, carbonmkt.reserve_feed_rule, carbonmkt.reserve_trigger,
                carbonmkt.paid_allocation_rule, carbonmkt.reserve_decision, carbonmkt.market_adjustment_decisions,
                carbonmkt.reserve_auction_plan, carbonmkt.reserve_withholding, carbonmkt.reserve_auction_schedule
  TO PUBLIC;
GRANT SELECT ON carbonmkt.voluntary_retirement, carbonmkt.voluntary_retirements, carbonmkt.pledge, carbonmkt.pledge_offer,
                carbonmkt.repo, carbonmkt.repo_leg, carbonmkt.paid_entitlement, carbonmkt.paid_sale
  TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_participant, carbonmkt_bi;
GRANT SELECT ON carbonmkt.bi_paid_allocation TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_bi;

-- Row-level security: staff read everything (an unmapped authority login nothing: fail closed,
-- doc/security.md); a participant reads what it is a party to.
ALTER TABLE carbonmkt.voluntary_retirement ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.pledge ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.pledge_offer ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.repo ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.repo_leg ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.paid_entitlement ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.paid_sale ENABLE ROW LEVEL SECURITY;

CREATE POLICY staff_read ON carbonmkt.voluntary_retirement FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.voluntary_retirement FOR SELECT TO carbonmkt_participant
    USING (participant_id = carbonmkt.caller_participant());
CREATE POLICY staff_read ON carbonmkt.pledge FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY party_read ON carbonmkt.pledge FOR SELECT TO carbonmkt_participant
    USING (carbonmkt.caller_participant() IN (pledgor_id, pledgee_id));
CREATE POLICY staff_read ON carbonmkt.pledge_offer FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.pledge_offer FOR SELECT TO carbonmkt_participant
    USING (buyer_id = carbonmkt.caller_participant());
CREATE POLICY staff_read ON carbonmkt.repo FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY party_read ON carbonmkt.repo FOR SELECT TO carbonmkt_participant
    USING (carbonmkt.caller_participant() IN (seller_id, buyer_id));
CREATE POLICY staff_read ON carbonmkt.repo_leg FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY party_read ON carbonmkt.repo_leg FOR SELECT TO carbonmkt_participant
    USING (repo_id IN (SELECT r.repo_id FROM carbonmkt.repo r));
CREATE POLICY staff_read ON carbonmkt.paid_entitlement FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.paid_entitlement FOR SELECT TO carbonmkt_participant
    USING (participant_id = carbonmkt.caller_participant());
CREATE POLICY staff_read ON carbonmkt.paid_sale FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.paid_sale FOR SELECT TO carbonmkt_participant
    USING (participant_id = carbonmkt.caller_participant());

-- Append-only records
CREATE TRIGGER voluntary_retirement_append_only BEFORE DELETE ON carbonmkt.voluntary_retirement
    FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER repo_leg_append_only BEFORE UPDATE OR DELETE ON carbonmkt.repo_leg
    FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER paid_sale_append_only BEFORE UPDATE OR DELETE ON carbonmkt.paid_sale
    FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();


-- The finance room's rule tables join the rule administration (src/rules.sql, which a fresh
-- install runs after src/finance.sql): listed in rule_table, validated, their use checked, the
-- history trigger on each, their shipped rows in the history, no direct DML.
CREATE OR REPLACE VIEW carbonmkt.rule_table AS
SELECT v.rule_table, v.room, v.period_kind, v.administered_by, v.description
  FROM (VALUES
    ('alloc_benchmark', 'allocation', 'year', 'authority', 'benchmarks per category: B_power tCO2/MWh and B_heat tCO2/GJ, product intensity tCO2/t'),
    ('alloc_heat_factor', 'allocation', 'year', 'authority', 'heat-supply correction coefficient per fuel'),
    ('alloc_cooling_factor', 'allocation', 'year', 'authority', 'cooling correction factor per fuel and cooling'),
    ('alloc_load_piece', 'allocation', 'year', 'authority', 'the pieces of the load-factor correction F_load (set a year''s whole curve at once)'),
    ('alloc_year_rule', 'allocation', 'year', 'authority', 'rounding and pre-allocation rule'),
    ('alloc_band', 'allocation', 'year', 'authority', 'surplus/gap band of the performance method per sector'),
    ('alloc_cap', 'allocation', 'year', 'authority', 'total-quantity cap per sector, t'),
    ('market_rule', 'market', 'valid_from', 'exchange', 'order size, lot, price step, price band, fee rate, clearing rule per mode'),
    ('market_session', 'market', 'valid_from', 'exchange', 'trading sessions per mode'),
    ('trader_rule', 'market', 'valid_from', 'exchange', 'who may trade and announce, position limit per participant kind'),
    ('trading_calendar', 'market', 'calendar', 'exchange', 'trading days and holidays per year (load_trading_calendar, set_trading_day)'),
    ('offset_rule', 'compliance', 'from_year', 'authority', 'CCER offset ratio, basis and eligibility'),
    ('relief_rule', 'compliance', 'from_year', 'authority', 'gap cap, gas cap and borrowing'),
    ('penalty_rule', 'compliance', 'from_year', 'authority', 'fines and allocation cuts for a shortfall'),
    ('mrv_rule', 'mrv', 'from_year', 'authority', 'review sample, thresholds, deposit and report deadlines, GWP set'),
    ('mrv_sector_parameter', 'mrv', 'from_year', 'national', 'key parameters deposited monthly per sector'),
    ('mrv_sector_gas', 'mrv', 'none', 'national', 'gases reported per sector'),
    ('mrv_gwp_set', 'mrv', 'none', 'national', 'sets of global warming potentials'),
    ('mrv_gwp', 'mrv', 'none', 'national', 'global warming potential per gas and set'),
    ('ccer_project_type', 'compliance', 'none', 'national', 'CCER project types'),
    ('repo_rule', 'finance', 'valid_from', 'national', 'how a repo''s failed second leg is handled, longest term'),
    ('reserve_feed_rule', 'finance', 'year', 'national', 'share of the year''s caps set aside into the national reserve'),
    ('reserve_trigger', 'finance', 'valid_from', 'national', 'market adjustment triggers: price and supply, release, absorb (buy back) or withhold (planned auction volume)'),
    ('paid_allocation_rule', 'finance', 'from_year', 'authority', 'paid share of the allocation per sector, method, price, lock of free units')
  ) v(rule_table, room, period_kind, administered_by, description);
COMMENT ON VIEW carbonmkt.rule_table IS
  'The rule tables (规则表) and how they are administered (doc/rules.md): period_kind year (one row per jurisdiction and year), from_year (from_year .. until_year, NULL = open), valid_from (valid_from .. valid_until, dates), calendar (load_trading_calendar), none; administered_by authority (national authority for ''CN'', the provincial authority of the province for a provincial or pilot jurisdiction), national (national authority only), exchange.';
CREATE OR REPLACE FUNCTION carbonmkt._rule_validate(p_table text, r jsonb) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    x       numeric;
    y       numeric;
    z       numeric;
    unit    text;
    bad     text;
BEGIN
    SELECT string_agg(k, ', ') INTO bad
      FROM jsonb_object_keys(r) k WHERE k <> ALL (carbonmkt._rule_columns(p_table));
    IF bad IS NOT NULL THEN
        PERFORM carbonmkt._rule_invalid(p_table, r, format('no such column: %s', bad),
            format('The columns of %s are %s.', p_table, array_to_string(carbonmkt._rule_columns(p_table), ', ')));
    END IF;
    IF r ? 'source' AND btrim(coalesce(r ->> 'source', '')) = '' THEN
        PERFORM carbonmkt._rule_invalid(p_table, r, 'a rule row needs its source');
    END IF;
    IF p_table = 'alloc_benchmark' THEN
        SELECT CASE WHEN c.method = 'power' THEN 'tCO2/MWh' ELSE 'tCO2/' || c.output_unit END INTO unit
          FROM carbonmkt.alloc_category c WHERE c.code = r ->> 'category';
        IF NOT FOUND THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('unknown category "%s"', r ->> 'category'),
                'The categories are the rows of carbonmkt.alloc_category.');
        END IF;
        x := carbonmkt._num(p_table, r, 'benchmark');
        IF x IS NULL OR x <= 0 OR x >= 10 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('benchmark must be more than 0 and less than 10 %s: got %s', unit, coalesce(x::text, 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'heat_benchmark');
        IF x IS NOT NULL AND (x <= 0 OR x >= 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('heat benchmark B_heat must be more than 0 and less than 1 tCO2/GJ: got %s', x));
        END IF;
    ELSIF p_table = 'alloc_heat_factor' THEN
        x := carbonmkt._num(p_table, r, 'coefficient');
        IF x IS NULL OR x < 0 OR x > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the heat coefficient (F_heat = 1 - coefficient x heat ratio) must be in [0, 1]: got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'alloc_cooling_factor' THEN
        x := carbonmkt._num(p_table, r, 'factor');
        IF x IS NULL OR x <= 0 OR x > 2 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the cooling factor F_cool must be more than 0 and at most 2: got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'alloc_load_piece' THEN
        x := carbonmkt._num(p_table, r, 'lower_bound');
        IF x IS NULL OR x < 0 OR x >= 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('a piece''s lower bound of the load factor must be in [0, 1): got %s', coalesce(x::text, 'NULL')));
        END IF;
        IF coalesce(r ->> 'kind', '') NOT IN ('linear', 'power') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('kind must be linear or power: got %s', coalesce(r ->> 'kind', 'NULL')));
        END IF;
        IF (r ->> 'kind') = 'linear' AND (r ->> 'a' IS NULL OR r ->> 'b' IS NULL OR r ->> 'pivot' IS NULL) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'a linear piece a + b x (pivot - 100F) needs a, b and pivot');
        END IF;
        IF (r ->> 'kind') = 'power' AND (r ->> 'base' IS NULL OR r ->> 'c' IS NULL OR r ->> 'd' IS NULL
                                         OR carbonmkt._num(p_table, r, 'base') <= 0) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'a power piece base ^ (c - d x F) needs base > 0, c and d');
        END IF;
    ELSIF p_table = 'alloc_year_rule' THEN
        IF coalesce(r ->> 'rounding', '') NOT IN ('half_up', 'down', 'up') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('rounding must be half_up, down or up: got %s', coalesce(r ->> 'rounding', 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'preallocation_share');
        IF (x IS NULL) <> (r ->> 'preallocation_basis' IS NULL) OR (x IS NULL) <> (r ->> 'basis_year' IS NULL) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'a pre-allocation rule needs preallocation_share, preallocation_basis and basis_year together');
        END IF;
        IF x IS NOT NULL AND (x <= 0 OR x > 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the pre-allocation share must be more than 0 and at most 1: got %s', x));
        END IF;
        IF x IS NOT NULL AND ((r ->> 'basis_year')::int > (r ->> 'year')::int OR (r ->> 'basis_year')::int < (r ->> 'year')::int - 3) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the pre-allocation basis year must be one of the 3 years before %s or %s itself: got %s',
                                                               r ->> 'year', r ->> 'year', r ->> 'basis_year'));
        END IF;
    ELSIF p_table = 'alloc_band' THEN
        x := carbonmkt._num(p_table, r, 'max_gap');
        y := carbonmkt._num(p_table, r, 'max_surplus');
        IF x IS NULL OR y IS NULL OR x < 0 OR y < 0 OR x > 1 OR y > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the band [1 - max_gap, 1 + max_surplus] x verified emissions = [%s, %s] must contain its centre 1 and stay within [0, 2]: max_gap %s, max_surplus %s',
                       coalesce((1 - x)::text, 'NULL'), coalesce((1 + y)::text, 'NULL'), coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL')));
        END IF;
    ELSIF p_table = 'alloc_cap' THEN
        x := carbonmkt._num(p_table, r, 'cap_t');
        IF x IS NULL OR x <= 0 OR x <> trunc(x) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a cap must be a positive whole number of tonnes: got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'market_rule' THEN
        x := carbonmkt._num(p_table, r, 'min_quantity');
        y := carbonmkt._num(p_table, r, 'below_quantity');
        IF x IS NULL OR x < 1 OR (y IS NOT NULL AND y <= x) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('order sizes must satisfy 1 <= min_quantity < below_quantity: got %s t and %s t', coalesce(x::text, 'NULL'), coalesce(y::text, 'none')));
        END IF;
        IF coalesce(carbonmkt._num(p_table, r, 'lot'), 0) < 1 OR coalesce(carbonmkt._num(p_table, r, 'tick_fen'), 0) < 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the lot (t) and the price step (fen) must be at least 1: got %s t and %s fen', coalesce(r ->> 'lot', 'NULL'), coalesce(r ->> 'tick_fen', 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'band');
        IF x IS NOT NULL AND (x <= 0 OR x >= 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the price band must be more than 0%% and less than 100%% of the previous close: got %s%%', trim_scale(x * 100)));
        END IF;
        x := carbonmkt._num(p_table, r, 'fee_rate');
        IF x IS NULL OR x < 0 OR x > 0.01 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the fee rate per side must be in [0, 0.01] (1%%): got %s', coalesce(x::text, 'NULL')));
        END IF;
        IF ((r ->> 'mode') = 'auction') <> (r ->> 'clearing_rule' IS NOT NULL) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'one-way bidding (mode auction), and only it, needs a clearing rule (uniform or pay_as_bid)');
        END IF;
    ELSIF p_table = 'market_session' THEN
        IF (r ->> 'opens')::time >= (r ->> 'closes')::time THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a session must open before it closes: %s to %s', r ->> 'opens', r ->> 'closes'));
        END IF;
    ELSIF p_table = 'trader_rule' THEN
        x := carbonmkt._num(p_table, r, 'max_position');
        IF x IS NOT NULL AND x <= 0 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a position limit must be positive: got %s t', x));
        END IF;
    ELSIF p_table = 'offset_rule' THEN
        x := carbonmkt._num(p_table, r, 'ratio');
        IF x IS NULL OR x < 0 OR x > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the offset ratio must be in [0, 1]: got %s', coalesce(x::text, 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'local_share_min');
        IF x IS NOT NULL AND (x <= 0 OR x > 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the minimum local share must be more than 0 and at most 1: got %s', x));
        END IF;
    ELSIF p_table = 'relief_rule' THEN
        x := carbonmkt._num(p_table, r, 'gap_cap_share');
        IF x IS NOT NULL AND (x < 0 OR x > 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the gap cap share must be in [0, 1]: got %s', x));
        END IF;
        x := carbonmkt._num(p_table, r, 'borrowing_min_gap_share');
        y := carbonmkt._num(p_table, r, 'borrowing_max_share');
        IF (x IS NULL) <> (y IS NULL) OR x < 0 OR x > 1 OR y <= 0 OR y > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('borrowing needs both a minimum gap share in [0, 1] and a maximum share in (0, 1]: got %s and %s',
                       coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL')));
        END IF;
    ELSIF p_table = 'penalty_rule' THEN
        IF (r ->> 'fine_basis') = 'fixed' THEN
            x := carbonmkt._num(p_table, r, 'fine_min_fen');
            y := carbonmkt._num(p_table, r, 'fine_default_fen');
            z := carbonmkt._num(p_table, r, 'fine_max_fen');
            IF x IS NULL OR y IS NULL OR z IS NULL OR x < 0 OR NOT (x <= y AND y <= z) THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a fixed fine needs 0 <= fine_min_fen <= fine_default_fen <= fine_max_fen: got %s, %s, %s fen',
                           coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL'), coalesce(z::text, 'NULL')));
            END IF;
        ELSIF (r ->> 'fine_basis') = 'price_multiple' THEN
            x := carbonmkt._num(p_table, r, 'multiple_min');
            y := carbonmkt._num(p_table, r, 'multiple_default');
            z := carbonmkt._num(p_table, r, 'multiple_max');
            IF x IS NULL OR y IS NULL OR z IS NULL OR x <= 0 OR NOT (x <= y AND y <= z)
               OR coalesce(carbonmkt._num(p_table, r, 'price_months'), 0) NOT BETWEEN 1 AND 24 THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a price-multiple fine needs 0 < multiple_min <= multiple_default <= multiple_max and price_months in 1-24: got %s, %s, %s and %s months',
                           coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL'), coalesce(z::text, 'NULL'), coalesce(r ->> 'price_months', 'NULL')));
            END IF;
        END IF;
        x := carbonmkt._num(p_table, r, 'cut_multiple');
        IF x IS NOT NULL AND (x < 0 OR x > 10) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the allocation cut multiple must be in [0, 10]: got %s', x));
        END IF;
    ELSIF p_table = 'mrv_rule' THEN
        x := carbonmkt._num(p_table, r, 'review_sample_share');
        y := carbonmkt._num(p_table, r, 'deviation_threshold');
        -- NULL: a number not set (refused where needed until an authority sets it)
        IF x < 0 OR x > 1 OR y < 0 OR y > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the review sample share and the deviation threshold must be in [0, 1]: got %s and %s',
                       coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL')));
        END IF;
    ELSIF p_table = 'mrv_sector_gas' THEN
        IF NOT EXISTS (SELECT 1 FROM carbonmkt.sector q WHERE q.code = r ->> 'sector') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('unknown sector "%s"', coalesce(r ->> 'sector', 'NULL')),
                'The sectors are the rows of carbonmkt.sector.');
        END IF;
        IF NOT EXISTS (SELECT 1 FROM carbonmkt.mrv_gas g WHERE g.gas = r ->> 'gas') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('unknown gas "%s"', coalesce(r ->> 'gas', 'NULL')),
                format('The gases are %s (carbonmkt.mrv_gas).', (SELECT string_agg(g.gas, ', ' ORDER BY g.gas) FROM carbonmkt.mrv_gas g)));
        END IF;
        x := carbonmkt._num(p_table, r, 'from_year');
        IF x IS NULL OR x < 2005 OR x > 2100 OR x <> trunc(x) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the first reporting year must be a year within 2005-2100: got %s', coalesce(r ->> 'from_year', 'NULL')));
        END IF;
    ELSIF p_table = 'mrv_gwp' THEN
        x := carbonmkt._num(p_table, r, 'gwp');
        IF x IS NULL OR x <= 0 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a GWP must be positive (tCO2e per t of the gas): got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'repo_rule' THEN
        IF coalesce(r ->> 'on_failure', '') NOT IN ('close_out', 'retry_then_close_out') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('on_failure must be close_out or retry_then_close_out: got %s', coalesce(r ->> 'on_failure', 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'grace_days');
        y := carbonmkt._num(p_table, r, 'max_term_days');
        IF coalesce(x, 0) < 0 OR coalesce(x, 0) > 30 OR y IS NULL OR y < 1 OR y > 3650 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('grace_days must be in 0-30 and max_term_days in 1-3650: got %s and %s',
                                                               coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL')));
        END IF;
    ELSIF p_table = 'reserve_feed_rule' THEN
        x := carbonmkt._num(p_table, r, 'cap_share');
        IF x IS NULL OR x < 0 OR x >= 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the share of the caps set aside must be in [0, 1): got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'reserve_trigger' THEN
        IF coalesce(r ->> 'kind', '') NOT IN ('price_high', 'price_low', 'supply_high', 'supply_low')
           OR coalesce(r ->> 'action', '') NOT IN ('release', 'absorb', 'withhold') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('kind must be price_high, price_low, supply_high or supply_low and action release, absorb or withhold: got %s and %s',
                                                               coalesce(r ->> 'kind', 'NULL'), coalesce(r ->> 'action', 'NULL')));
        END IF;
        IF ((r ->> 'kind') IN ('price_high', 'supply_low')) <> ((r ->> 'action') = 'release') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('a %s trigger cannot %s: a high price or a short supply releases units, a low price or a long supply absorbs or withholds them',
                       r ->> 'kind', r ->> 'action'));
        END IF;
        IF NOT EXISTS (SELECT 1 FROM carbonmkt.product p WHERE p.code = r ->> 'product') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('unknown product "%s"', coalesce(r ->> 'product', 'NULL')),
                                            'The products are the rows of carbonmkt.product (carbonmkt.list_product).');
        END IF;
        IF (r ->> 'kind') LIKE 'price%' THEN
            x := carbonmkt._num(p_table, r, 'lookback_days');
            y := carbonmkt._num(p_table, r, 'reference_days');
            z := carbonmkt._num(p_table, r, 'multiple');
            IF x IS NULL OR x < 1 OR x > 250 OR y IS NULL OR y < 1 OR y > 750 OR z IS NULL OR z <= 0 OR r ? 'threshold_t' THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a price trigger needs lookback_days in 1-250, reference_days in 1-750, a positive multiple and no threshold_t: got %s, %s, %s',
                           coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL'), coalesce(z::text, 'NULL')));
            END IF;
            IF ((r ->> 'kind') = 'price_high' AND z <= 1) OR ((r ->> 'kind') = 'price_low' AND z >= 1) THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a %s trigger''s multiple must be %s 1: got %s', r ->> 'kind',
                           CASE r ->> 'kind' WHEN 'price_high' THEN 'above' ELSE 'below' END, z));
            END IF;
        ELSE
            x := carbonmkt._num(p_table, r, 'threshold_t');
            IF x IS NULL OR x <= 0 OR r ? 'multiple' OR r ? 'lookback_days' OR r ? 'reference_days' THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a supply trigger needs a positive threshold_t (t) and no price window: got %s', coalesce(x::text, 'NULL')));
            END IF;
        END IF;
        x := carbonmkt._num(p_table, r, 'quantity_t');
        y := carbonmkt._num(p_table, r, 'reserve_price_multiple');
        IF x IS NULL OR x <= 0 OR y IS NULL OR y <= 0 OR coalesce(carbonmkt._num(p_table, r, 'cooldown_days'), 0) < 0 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('quantity_t and reserve_price_multiple must be positive and cooldown_days not negative: got %s, %s and %s',
                       coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL'), coalesce(r ->> 'cooldown_days', '0')));
        END IF;
    ELSIF p_table = 'paid_allocation_rule' THEN
        x := carbonmkt._num(p_table, r, 'paid_share');
        IF x IS NULL OR x <= 0 OR x >= 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the paid share must be more than 0 and less than 1: got %s', coalesce(x::text, 'NULL')));
        END IF;
        IF coalesce(r ->> 'method', '') NOT IN ('auction', 'fixed_price') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('method must be auction or fixed_price: got %s', coalesce(r ->> 'method', 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'price_fen');
        IF x IS NULL OR x <= 0 OR x <> trunc(x) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('price_fen (fixed price or reserve price, fen per t) must be a positive whole number: got %s', coalesce(x::text, 'NULL')));
        END IF;
        IF NOT EXISTS (SELECT 1 FROM carbonmkt.sector q WHERE q.code = r ->> 'sector') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('unknown sector "%s"', coalesce(r ->> 'sector', 'NULL')));
        END IF;
    END IF;
END
$$;
CREATE OR REPLACE FUNCTION carbonmkt._rule_in_use(p_table text, r jsonb, p_from int, p_to int) RETURNS text
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    m   carbonmkt.rule_table := carbonmkt._rule_meta(p_table);
    j   text := r ->> 'jurisdiction';
    x   record;
BEGIN
    IF m.room = 'allocation' THEN
        SELECT run_id, kind, year INTO x FROM carbonmkt.allocation_run a
         WHERE a.jurisdiction = j AND a.year BETWEEN p_from AND p_to ORDER BY run_id LIMIT 1;
        IF FOUND THEN
            RETURN format('allocation run %s (%s, %s) used it', x.run_id, x.kind, x.year);
        END IF;
    ELSIF m.room = 'compliance' AND m.period_kind = 'from_year' THEN
        SELECT period, status, first_year INTO x FROM carbonmkt.compliance_period p
         WHERE p.jurisdiction = j AND p.first_year BETWEEN p_from AND p_to ORDER BY period LIMIT 1;
        IF FOUND THEN
            RETURN format('compliance period %s (%s, from %s) uses it', x.period, x.status, x.first_year);
        END IF;
    ELSIF p_table = 'paid_allocation_rule' THEN
        SELECT e.participant_id, e.year INTO x FROM carbonmkt.paid_entitlement e JOIN carbonmkt.participant pt USING (participant_id)
         WHERE e.year BETWEEN p_from AND p_to AND pt.sector = r ->> 'sector' ORDER BY e.year, e.participant_id LIMIT 1;
        IF FOUND THEN
            RETURN format('the paid allocation of %s was applied under it (participant %s first)', x.year, x.participant_id);
        END IF;
    ELSIF p_table = 'mrv_sector_gas' THEN
        -- the gases a sector reports in the years of its reports
        SELECT rp.report_id, rp.year INTO x FROM carbonmkt.mrv_report rp JOIN carbonmkt.participant pt USING (participant_id)
         WHERE rp.year BETWEEN p_from AND p_to AND pt.sector = r ->> 'sector' ORDER BY rp.year, rp.report_id LIMIT 1;
        IF FOUND THEN
            RETURN format('emission report %s of %s (sector %s) was filed with the gases of its year', x.report_id, x.year, r ->> 'sector');
        END IF;
    ELSIF p_table = 'mrv_rule' THEN
        SELECT rp.report_id, rp.year INTO x FROM carbonmkt.mrv_report rp JOIN carbonmkt.participant pt USING (participant_id)
         WHERE rp.year BETWEEN p_from AND p_to
           AND (j = 'CN' OR pt.province = (SELECT jj.province FROM carbonmkt.jurisdiction jj WHERE jj.code = j))
         ORDER BY rp.report_id LIMIT 1;
        IF FOUND THEN
            RETURN format('emission report %s of %s was assessed under it', x.report_id, x.year);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t   text;
    k   text[];
BEGIN
    FOR t IN SELECT rule_table FROM carbonmkt.rule_table WHERE room = 'finance' LOOP
        k := carbonmkt._rule_columns(t, true);
        EXECUTE format('CREATE TRIGGER rule_history AFTER INSERT OR UPDATE OR DELETE ON carbonmkt.%I
                          FOR EACH ROW EXECUTE FUNCTION carbonmkt._rule_log(%s)',
                       t, (SELECT string_agg(quote_literal(c), ', ') FROM unnest(k) c));
        EXECUTE format('INSERT INTO carbonmkt.rule_change (rule_table, jurisdiction, rule_key, action, new_value, document,
                                                           changed_by, changed_at)
                        SELECT %L, to_jsonb(t) ->> ''jurisdiction'', carbonmkt._rule_key(%L, to_jsonb(t)), ''seed'', to_jsonb(t),
                               coalesce(to_jsonb(t) ->> ''source'', ''shipped with carbonmkt (doc/rules.md)''),
                               ''carbonmkt'', ''2025-01-01 00:00:00+08''
                          FROM carbonmkt.%I t ORDER BY 3', t, t, t);
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON carbonmkt.%I FROM PUBLIC', t);
    END LOOP;
END
$$;


-- The finance room's tables in every dump (src/operations.sql registers them in a fresh install),
-- and its seeded rule rows in the snapshot of what was seeded.
SELECT carbonmkt._dump_register('carbonmkt.voluntary_retirement');
SELECT carbonmkt._dump_register('carbonmkt.pledge');
SELECT carbonmkt._dump_register('carbonmkt.pledge_offer');
SELECT carbonmkt._dump_register('carbonmkt.repo_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.repo');
SELECT carbonmkt._dump_register('carbonmkt.repo_leg');
SELECT carbonmkt._dump_register('carbonmkt.reserve_feed_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.reserve_trigger', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.reserve_decision');
SELECT carbonmkt._dump_register('carbonmkt.reserve_auction_plan');
SELECT carbonmkt._dump_register('carbonmkt.reserve_withholding');
SELECT carbonmkt._dump_register('carbonmkt.paid_allocation_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.paid_entitlement');
SELECT carbonmkt._dump_register('carbonmkt.paid_sale');
INSERT INTO carbonmkt.seeded_row (tab, content) SELECT 'repo_rule', pg_catalog.to_jsonb(t) FROM carbonmkt.repo_rule t;
INSERT INTO carbonmkt.seeded_row (tab, content) SELECT 'reserve_feed_rule', pg_catalog.to_jsonb(t) FROM carbonmkt.reserve_feed_rule t;
INSERT INTO carbonmkt.seeded_row (tab, content) SELECT 'reserve_trigger', pg_catalog.to_jsonb(t) FROM carbonmkt.reserve_trigger t;
INSERT INTO carbonmkt.seeded_row (tab, content) SELECT 'paid_allocation_rule', pg_catalog.to_jsonb(t) FROM carbonmkt.paid_allocation_rule t;
INSERT INTO carbonmkt.seeded_row (tab, content) SELECT 'plausibility_limit', pg_catalog.to_jsonb(t)
  FROM carbonmkt.plausibility_limit t
 WHERE NOT EXISTS (SELECT FROM carbonmkt.seeded_row s WHERE s.tab = 'plausibility_limit' AND s.content = pg_catalog.to_jsonb(t));


-- == Dashboard and BI views ==================================================================
-- MRV views rebuilt (src/mrv.sql): every key emitting unit, also without a monitoring plan
-- (no_plan) or report (not_filed); run as their owner with the rows filtered by mrv_visible
-- (once for staff and BI) instead of security_invoker; mrv_review_queue likewise.
DROP VIEW carbonmkt.mrv_data_quality;
DROP VIEW carbonmkt.mrv_review_queue;
DROP VIEW carbonmkt.mrv_deposit_status;
DROP VIEW carbonmkt.mrv_deposit_anomaly;
DROP VIEW carbonmkt.mrv_report_waiting;

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
REVOKE ALL ON FUNCTION carbonmkt._mrv_deposit_summary() FROM PUBLIC;
-- filled from the deposits already made (the trigger keeps them from here on)
INSERT INTO carbonmkt._mrv_deposit_months (participant_id, year, deposited, late, corrected)
SELECT k.participant_id, k.year, array_agg(coalesce(m.deposited, 0) ORDER BY i),
       array_agg(coalesce(m.late, false) ORDER BY i), array_agg(coalesce(m.corrected, false) ORDER BY i)
  FROM (SELECT DISTINCT d.participant_id, d.year FROM carbonmkt.mrv_deposit d) k
 CROSS JOIN generate_series(1, 12) i
  LEFT JOIN (SELECT d.participant_id, d.year, d.month, count(*) FILTER (WHERE d.version = 1)::int AS deposited,
                    coalesce(bool_or(d.late) FILTER (WHERE d.version = 1), false) AS late, max(d.version) > 1 AS corrected
               FROM carbonmkt.mrv_deposit d
              GROUP BY d.participant_id, d.year, d.month) m
    ON m.participant_id = k.participant_id AND m.year = k.year AND m.month = i
 GROUP BY k.participant_id, k.year;
INSERT INTO carbonmkt._mrv_deposit_parameter_year (participant_id, year, parameter, months, total, min_value, max_value)
SELECT v.participant_id, v.year, v.parameter, count(*), sum(v.value), min(v.value), max(v.value)
  FROM (SELECT DISTINCT ON (d.participant_id, d.year, d.parameter, d.month) d.participant_id, d.year, d.parameter, d.value
          FROM carbonmkt.mrv_deposit d
         ORDER BY d.participant_id, d.year, d.parameter, d.month, d.version DESC) v
 GROUP BY v.participant_id, v.year, v.parameter;
SELECT carbonmkt._dump_register('carbonmkt._mrv_deposit_months');
SELECT carbonmkt._dump_register('carbonmkt._mrv_deposit_parameter_year');

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
  -- year is before the first year of any plan, which bounds the series before the join
  JOIN generate_series(2005, 2100) AS y(year)
    ON y.year BETWEEN coalesce(p.first_year, greatest(sec.covered_from, span.mrv_first_year)) AND span.this_year
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

GRANT SELECT ON carbonmkt.mrv_deposit_status, carbonmkt.mrv_deposit_anomaly, carbonmkt.mrv_report_waiting
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi;
GRANT SELECT ON carbonmkt.mrv_review_queue, carbonmkt.mrv_data_quality TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;

-- BI views added (src/reporting.sql)
-- the columns of the views above
COMMENT ON COLUMN carbonmkt.bi_compliance_status.period IS 'Compliance period.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.period_name IS 'Its name.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.participant_id IS 'The key emitting unit (重点排放单位).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.unit_name IS 'Its name.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.credit_code IS 'Its unified social credit code (统一社会信用代码).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.province IS 'Its province (GB/T 2260).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.province_name IS 'The province''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.city IS 'Its city (GB/T 2260).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.sector IS 'Its sector.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.sector_name IS 'The sector''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.period_status IS 'open or closed.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.deadline IS 'Surrender deadline (清缴截止日).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.emissions_t IS 'Confirmed emissions of the period, t CO2e; NULL if a year is missing.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.emissions_basis IS 'verified or estimated (估算).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.allocation_t IS 'Allocation of the period''s years, t.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.relief IS 'none, gap_cap or gas_cap.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.relief_t IS 'Tonnes of relief.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.relief_reason IS 'The relief with its numbers.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.obligation_t IS 'Tonnes due (应清缴量).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.surrendered_cea_t IS 'CEA surrendered so far, t.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.surrendered_ccer_t IS 'CCER surrendered so far, t.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.surrendered_t IS 'surrendered_cea_t + surrendered_ccer_t.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.remaining_t IS 'Still due, t (NULL without an obligation).';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.borrowed_t IS 'Borrowed (预支) for the period, t.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.offset_cap_t IS 'The CCER cap (抵销上限), t.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.completion_ratio IS 'Surrendered (up to the obligation) / obligation, 4 decimals; 1 for an obligation of 0.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.status IS 'no_emissions, open, compliant or shortfall.';
COMMENT ON COLUMN carbonmkt.bi_compliance_status.compliance_code IS 'A (compliant), B (short), C (no emissions), D (estimated).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.units IS 'Covered units.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.units_with_obligation IS 'Units with confirmed emissions (an obligation).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.compliant_units IS 'Units with status compliant (履约).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.shortfall_units IS 'Units with status shortfall (未足额清缴).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.open_units IS 'Units with status open.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.no_emissions_units IS 'Units without confirmed emissions.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.obligation_t IS 'Tonnes due.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.surrendered_t IS 'Tonnes surrendered, each unit counted up to its obligation.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.ccer_t IS 'Of which CCER, t.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.remaining_t IS 'Tonnes still due.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.completion_rate IS 'surrendered_t / obligation_t (配额清缴完成率), 4 decimals.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.unit_completion_rate IS 'compliant_units / units_with_obligation, 4 decimals.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.units IS 'Covered units.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.units_with_obligation IS 'Units with confirmed emissions (an obligation).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.compliant_units IS 'Units with status compliant (履约).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.shortfall_units IS 'Units with status shortfall (未足额清缴).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.open_units IS 'Units with status open.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.no_emissions_units IS 'Units without confirmed emissions.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.obligation_t IS 'Tonnes due.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.surrendered_t IS 'Tonnes surrendered, each unit counted up to its obligation.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.ccer_t IS 'Of which CCER, t.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.remaining_t IS 'Tonnes still due.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.completion_rate IS 'surrendered_t / obligation_t (配额清缴完成率), 4 decimals.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.unit_completion_rate IS 'compliant_units / units_with_obligation, 4 decimals.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.units IS 'Covered units.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.units_with_obligation IS 'Units with confirmed emissions (an obligation).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.compliant_units IS 'Units with status compliant (履约).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.shortfall_units IS 'Units with status shortfall (未足额清缴).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.open_units IS 'Units with status open.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.no_emissions_units IS 'Units without confirmed emissions.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.obligation_t IS 'Tonnes due.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.surrendered_t IS 'Tonnes surrendered, each unit counted up to its obligation.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.ccer_t IS 'Of which CCER, t.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.remaining_t IS 'Tonnes still due.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.completion_rate IS 'surrendered_t / obligation_t (配额清缴完成率), 4 decimals.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.unit_completion_rate IS 'compliant_units / units_with_obligation, 4 decimals.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.period IS 'Compliance period.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.period_name IS 'Its name.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.period_status IS 'open or closed.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_period.deadline IS 'Surrender deadline.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.period IS 'Compliance period.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.province IS 'Province (GB/T 2260).';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.province_name_en IS 'Its English name.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_province.province_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.period IS 'Compliance period.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.sector IS 'Sector code.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.sector_name_en IS 'Its English name.';
COMMENT ON COLUMN carbonmkt.bi_completion_by_sector.sector_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.vintage IS 'CEA vintage.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.issued_t IS 'Issued (签发): held in any account, t.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.unallocated_t IS 'In allocation accounts and the national reserve, t.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.held_t IS 'In holding and clearing accounts, t.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.banked_t IS 'held_t once the national period of the vintage is closed (结转), t.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.surrendered_t IS 'Surrendered for compliance (清缴), t.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.cancelled_t IS 'Voluntarily cancelled (注销), t.';
COMMENT ON COLUMN carbonmkt.bi_allowance_supply.compliance_closed IS 'Whether the national period of the vintage is closed.';
COMMENT ON COLUMN carbonmkt.bi_ccer_use.period IS 'Compliance period.';
COMMENT ON COLUMN carbonmkt.bi_ccer_use.project_type IS 'CCER project type (unregistered: not in ccer_project).';
COMMENT ON COLUMN carbonmkt.bi_ccer_use.project_type_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_ccer_use.units IS 'Units that surrendered CCER of the type.';
COMMENT ON COLUMN carbonmkt.bi_ccer_use.projects IS 'Projects of the type surrendered.';
COMMENT ON COLUMN carbonmkt.bi_ccer_use.tonnes IS 'CCER surrendered (抵销), t.';
COMMENT ON COLUMN carbonmkt.bi_ccer_use.local_tonnes IS 'Of which from projects in the unit''s own province, t.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.period IS 'Compliance period.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.province IS 'Province (GB/T 2260).';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.province_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.covered_units IS 'Covered units.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.confirmed_units IS 'Units with confirmed emissions for every year of the period.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.missing_units IS 'Units without.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.estimated_units IS 'Units whose emissions the province estimated (估算).';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.confirmed_t IS 'Confirmed emissions, t CO2e.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.estimated_t IS 'Of which estimated, t CO2e.';
COMMENT ON COLUMN carbonmkt.bi_emissions_coverage.coverage_rate IS 'confirmed_units / covered_units, 4 decimals.';
COMMENT ON COLUMN carbonmkt.bi_price_history.price_date IS 'The day.';
COMMENT ON COLUMN carbonmkt.bi_price_history.average_price_fen IS 'Average CEA price of the day, fen per t.';
COMMENT ON COLUMN carbonmkt.bi_price_history.average_price_cny IS 'The same in CNY per t.';
COMMENT ON COLUMN carbonmkt.bi_price_history.volume_t IS 'Volume of the day (market), or the reference price''s volume (may be NULL), t.';
COMMENT ON COLUMN carbonmkt.bi_price_history.price_source IS 'market or reference_price.';
COMMENT ON COLUMN carbonmkt.bi_price_history.source IS 'The trades counted, or the reference price''s source.';

-------------------------------------------------------------------------------
-- Positions, trading, concentration, CCER supply, cancellations, penalties, the monthly
-- market summary, data quality and the as-of time (issue 18).  Views that show a
-- participant's rows filter them by caller_scope() (the compliance room's scope: registry and
-- BI every participant, an authority its province or city, a participant's login itself),
-- evaluated once per query; the aggregates are granted to staff, authorities and BI only.
-- CNY is never a "vintage 0": cash has its own view.
-------------------------------------------------------------------------------

CREATE VIEW carbonmkt.bi_positions AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT p.participant_id, p.name AS participant_name, p.kind::text AS participant_kind, p.province,
       r.name_zh AS province_name, p.sector, sec.name_zh AS sector_name, a.kind::text AS account_kind,
       h.instrument::text AS instrument, h.vintage, nullif(h.project, '') AS project,
       sum(h.balance)::bigint AS balance_t, sum(h.held)::bigint AS held_t,
       sum(h.balance - h.held)::bigint AS available_t, count(*)::int AS accounts
  FROM carbonmkt.holding h
  JOIN carbonmkt.account a ON a.account_id = h.account_id
  JOIN carbonmkt.participant p ON p.participant_id = a.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province
  LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 CROSS JOIN s
 WHERE h.instrument <> 'CNY' AND (h.balance <> 0 OR h.held <> 0)
   AND (s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city)
 GROUP BY p.participant_id, p.name, p.kind, p.province, r.name_zh, p.sector, sec.name_zh, a.kind,
          h.instrument, h.vintage, h.project;
COMMENT ON VIEW carbonmkt.bi_positions IS
  'BI: positions (持仓) per participant, account kind and asset: CEA per vintage, CCER per project and vintage, in tonnes, with the participant''s name, province and sector.  Only non-zero positions; CNY is in bi_cash_positions.  A participant''s login sees its own rows, an authority its jurisdiction, registry and BI every participant.';
COMMENT ON COLUMN carbonmkt.bi_positions.participant_id IS 'The account holder.';
COMMENT ON COLUMN carbonmkt.bi_positions.participant_name IS 'Its name.';
COMMENT ON COLUMN carbonmkt.bi_positions.participant_kind IS 'key_emitter (重点排放单位), institution, individual, exchange, ... (participant_kind).';
COMMENT ON COLUMN carbonmkt.bi_positions.province IS 'Its province (GB/T 2260 code), NULL if none.';
COMMENT ON COLUMN carbonmkt.bi_positions.province_name IS 'The province''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_positions.sector IS 'Its sector (key emitting units), NULL otherwise.';
COMMENT ON COLUMN carbonmkt.bi_positions.sector_name IS 'The sector''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_positions.account_kind IS 'holding (持有账户), clearing (the exchange''s 结算账户) or allocation (省级配额账户).';
COMMENT ON COLUMN carbonmkt.bi_positions.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_positions.vintage IS 'Vintage (年度).';
COMMENT ON COLUMN carbonmkt.bi_positions.project IS 'CCER project, NULL for CEA.';
COMMENT ON COLUMN carbonmkt.bi_positions.balance_t IS 'Balance, t (tCO2e).';
COMMENT ON COLUMN carbonmkt.bi_positions.held_t IS 'Of which frozen (冻结: open orders, pledges, judicial holds), t.';
COMMENT ON COLUMN carbonmkt.bi_positions.available_t IS 'balance_t - held_t, t.';
COMMENT ON COLUMN carbonmkt.bi_positions.accounts IS 'Accounts of this kind summed.';

CREATE VIEW carbonmkt.bi_cash_positions AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT p.participant_id, p.name AS participant_name, p.kind::text AS participant_kind, p.province,
       r.name_zh AS province_name, p.sector, sec.name_zh AS sector_name, a.kind::text AS account_kind,
       sum(h.balance)::bigint AS balance_fen, sum(h.held)::bigint AS held_fen,
       round(sum(h.balance) / 100.0, 2) AS balance_cny, round(sum(h.held) / 100.0, 2) AS held_cny,
       round(sum(h.balance - h.held) / 100.0, 2) AS available_cny, count(*)::int AS accounts
  FROM carbonmkt.holding h
  JOIN carbonmkt.account a ON a.account_id = h.account_id
  JOIN carbonmkt.participant p ON p.participant_id = a.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province
  LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 CROSS JOIN s
 WHERE h.instrument = 'CNY'
   AND (s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city)
 GROUP BY p.participant_id, p.name, p.kind, p.province, r.name_zh, p.sector, sec.name_zh, a.kind;
COMMENT ON VIEW carbonmkt.bi_cash_positions IS
  'BI: cash (资金, CNY) per participant and account kind (cash accounts; the exchange''s clearing account), in fen and CNY, with what is frozen for open buy orders and fees.  A participant''s login sees its own rows, an authority its jurisdiction, registry and BI every participant.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.participant_id IS 'The account holder.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.participant_name IS 'Its name.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.participant_kind IS 'participant_kind of the holder.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.province IS 'Its province, NULL if none.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.province_name IS 'The province''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.sector IS 'Its sector, NULL if none.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.sector_name IS 'The sector''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.account_kind IS 'cash (资金账户) or clearing (结算账户).';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.balance_fen IS 'Balance in fen (1/100 CNY).';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.held_fen IS 'Frozen, fen.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.balance_cny IS 'Balance, CNY.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.held_cny IS 'Frozen, CNY.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.available_cny IS 'balance - held, CNY.';
COMMENT ON COLUMN carbonmkt.bi_cash_positions.accounts IS 'Accounts of this kind summed.';

CREATE VIEW carbonmkt.bi_positions_by_province AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT p.province, r.name AS province_name_en, r.name_zh AS province_name,
       h.instrument::text AS instrument, h.vintage, count(DISTINCT p.participant_id) AS holders,
       sum(h.balance)::bigint AS balance_t, sum(h.held)::bigint AS held_t, sum(h.balance - h.held)::bigint AS available_t
  FROM carbonmkt.holding h
  JOIN carbonmkt.account a ON a.account_id = h.account_id
  JOIN carbonmkt.participant p ON p.participant_id = a.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province
 CROSS JOIN s
 WHERE a.kind = 'holding' AND h.instrument <> 'CNY' AND h.balance > 0
   AND (s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city)
 GROUP BY p.province, r.name, r.name_zh, h.instrument, h.vintage;
COMMENT ON VIEW carbonmkt.bi_positions_by_province IS
  'BI: CEA and CCER held in participants'' holding accounts per province of the holder (省), instrument and vintage (CCER: all projects of the vintage): holders and tonnes.  province NULL: holders without a province.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.province IS 'The holders'' province (GB/T 2260), NULL for holders without one.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.province_name_en IS 'Its English name.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.province_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.vintage IS 'Vintage.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.holders IS 'Participants with a positive balance.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.balance_t IS 'Balance, t.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.held_t IS 'Of which frozen, t.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_province.available_t IS 'balance_t - held_t, t.';

CREATE VIEW carbonmkt.bi_positions_by_sector AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT p.sector, sec.name AS sector_name_en, coalesce(sec.name_zh, '非重点排放单位') AS sector_name,
       h.instrument::text AS instrument, h.vintage, count(DISTINCT p.participant_id) AS holders,
       sum(h.balance)::bigint AS balance_t, sum(h.held)::bigint AS held_t, sum(h.balance - h.held)::bigint AS available_t
  FROM carbonmkt.holding h
  JOIN carbonmkt.account a ON a.account_id = h.account_id
  JOIN carbonmkt.participant p ON p.participant_id = a.participant_id
  LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 CROSS JOIN s
 WHERE a.kind = 'holding' AND h.instrument <> 'CNY' AND h.balance > 0
   AND (s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city)
 GROUP BY p.sector, sec.name, sec.name_zh, h.instrument, h.vintage;
COMMENT ON VIEW carbonmkt.bi_positions_by_sector IS
  'BI: CEA and CCER held in participants'' holding accounts per sector of the holder (行业), instrument and vintage: holders and tonnes.  sector NULL: holders that are not key emitting units (institutions, individuals; 非重点排放单位).';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.sector IS 'The holders'' sector, NULL for participants without one.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.sector_name_en IS 'Its English name.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.sector_name IS 'Its Chinese name (非重点排放单位 when none).';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.vintage IS 'Vintage.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.holders IS 'Participants with a positive balance.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.balance_t IS 'Balance, t.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.held_t IS 'Of which frozen, t.';
COMMENT ON COLUMN carbonmkt.bi_positions_by_sector.available_t IS 'balance_t - held_t, t.';

CREATE VIEW carbonmkt.bi_holder_concentration AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c),
pos AS (
    SELECT h.instrument::text AS instrument, h.vintage, a.participant_id, sum(h.balance)::bigint AS balance_t
      FROM carbonmkt.holding h
      JOIN carbonmkt.account a ON a.account_id = h.account_id
      JOIN carbonmkt.participant p ON p.participant_id = a.participant_id
     CROSS JOIN s
     WHERE a.kind = 'holding' AND h.instrument <> 'CNY' AND h.balance > 0
       AND (s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city)
     GROUP BY h.instrument, h.vintage, a.participant_id
), ranked AS (
    SELECT pos.*, row_number() OVER (PARTITION BY pos.instrument, pos.vintage ORDER BY pos.balance_t DESC, pos.participant_id) AS rank,
           sum(pos.balance_t) OVER (PARTITION BY pos.instrument, pos.vintage) AS total_t
      FROM pos
)
SELECT x.instrument, x.vintage, count(*) AS holders, sum(x.balance_t)::bigint AS held_t, max(x.balance_t) AS largest_t,
       round(sum(x.balance_t) FILTER (WHERE x.rank = 1) / max(x.total_t), 4) AS top1_share,
       round(sum(x.balance_t) FILTER (WHERE x.rank <= 5) / max(x.total_t), 4) AS top5_share,
       round(sum(x.balance_t) FILTER (WHERE x.rank <= 10) / max(x.total_t), 4) AS top10_share,
       round(sum((10000.0 * x.balance_t / x.total_t) ^ 2) / 10000, 1) AS hhi
  FROM ranked x
 GROUP BY x.instrument, x.vintage;
COMMENT ON VIEW carbonmkt.bi_holder_concentration IS
  'BI: large-holder concentration (持仓集中度) per instrument and vintage over the participants'' holding accounts: holders, tonnes held, the largest holding, the shares of the largest 1, 5 and 10 holders, and the Herfindahl-Hirschman index (0-10,000).  Aggregates only, no names.';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.vintage IS 'Vintage (CCER: all projects of the vintage).';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.holders IS 'Participants with a positive balance.';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.held_t IS 'Tonnes in holding accounts.';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.largest_t IS 'The largest single holding, t.';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.top1_share IS 'Share of the largest holder (0-1, 4 decimals).';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.top5_share IS 'Share of the 5 largest holders.';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.top10_share IS 'Share of the 10 largest holders.';
COMMENT ON COLUMN carbonmkt.bi_holder_concentration.hhi IS 'Herfindahl-Hirschman index: sum of the squared percentage shares (10,000 = one holder).';

-- one leg per side of every trade
CREATE VIEW carbonmkt._trade_legs AS
SELECT t.trade_id, t.buyer_id AS participant_id, 'buy'::text AS side, t.business_date, t.product_id, t.mode,
       t.quantity, t.price_fen * t.quantity AS notional_fen, t.buyer_fee_fen AS fee_fen
  FROM carbonmkt.trade t
UNION ALL
SELECT t.trade_id, t.seller_id, 'sell', t.business_date, t.product_id, t.mode,
       t.quantity, t.price_fen * t.quantity, t.seller_fee_fen
  FROM carbonmkt.trade t;
COMMENT ON VIEW carbonmkt._trade_legs IS
  'Internal: every trade twice, once per side (buy: the buyer, sell: the seller), with its quantity, value and that side''s fee in fen.';

CREATE VIEW carbonmkt.bi_trading_activity AS
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
  FROM carbonmkt._trade_legs l
  JOIN carbonmkt.product pr ON pr.product_id = l.product_id
  JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province
  LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 CROSS JOIN s
 WHERE s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city
 GROUP BY l.participant_id, p.name, p.kind, p.province, r.name_zh, p.sector, sec.name_zh,
          date_trunc('month', l.business_date), pr.instrument;
COMMENT ON VIEW carbonmkt.bi_trading_activity IS
  'BI: trading activity (交易情况) per participant, month and instrument, from the trade tape: trades (fills, 成交), tonnes bought, sold and net, their value and the fees paid in CNY, tonnes per trading mode (listed 挂牌协议, block 大宗协议, one-way bidding 单向竞价), first and last trading day.  A participant''s login sees its own rows, an authority its jurisdiction, registry and BI every participant.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.participant_id IS 'The trading participant.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.participant_name IS 'Its name.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.participant_kind IS 'participant_kind.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.province IS 'Its province, NULL if none.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.province_name IS 'The province''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.sector IS 'Its sector, NULL if none.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.sector_name IS 'The sector''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.month IS 'First day of the month of the business dates.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.trades IS 'Fills the participant took part in.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.bought_t IS 'Tonnes bought.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.sold_t IS 'Tonnes sold.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.net_t IS 'bought_t - sold_t.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.bought_cny IS 'Value bought (price x quantity), CNY.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.sold_cny IS 'Value sold, CNY.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.fees_cny IS 'Fees (手续费) paid, CNY.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.listed_t IS 'Tonnes traded by listed agreement (挂牌协议).';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.block_t IS 'Tonnes traded by block agreement (大宗协议).';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.auction_t IS 'Tonnes traded by one-way bidding (单向竞价).';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.first_trade_date IS 'First business day with a trade in the month.';
COMMENT ON COLUMN carbonmkt.bi_trading_activity.last_trade_date IS 'Last business day with a trade in the month.';

CREATE VIEW carbonmkt.bi_trading_by_sector AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT date_trunc('month', l.business_date)::date AS month, p.sector, sec.name AS sector_name_en,
       coalesce(sec.name_zh, '非重点排放单位') AS sector_name, pr.instrument::text AS instrument,
       count(DISTINCT l.participant_id) AS participants, count(*) AS trades,
       coalesce(sum(l.quantity) FILTER (WHERE l.side = 'buy'), 0)::bigint AS bought_t,
       coalesce(sum(l.quantity) FILTER (WHERE l.side = 'sell'), 0)::bigint AS sold_t,
       round(coalesce(sum(l.notional_fen) FILTER (WHERE l.side = 'buy'), 0) / 100.0, 2) AS bought_cny,
       round(coalesce(sum(l.notional_fen) FILTER (WHERE l.side = 'sell'), 0) / 100.0, 2) AS sold_cny,
       round(sum(l.fee_fen) / 100.0, 2) AS fees_cny
  FROM carbonmkt._trade_legs l
  JOIN carbonmkt.product pr ON pr.product_id = l.product_id
  JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
  LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 CROSS JOIN s
 WHERE s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city
 GROUP BY date_trunc('month', l.business_date), p.sector, sec.name, sec.name_zh, pr.instrument;
COMMENT ON VIEW carbonmkt.bi_trading_by_sector IS
  'BI: trading activity per month, sector of the participant (NULL: not a key emitting unit, 非重点排放单位) and instrument: participants, trades (a trade between two participants of one sector counts once per side), tonnes bought and sold, their value and fees in CNY.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.month IS 'First day of the month.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.sector IS 'Sector code, NULL for participants without one.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.sector_name_en IS 'Its English name.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.sector_name IS 'Its Chinese name (非重点排放单位 when none).';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.participants IS 'Participants of the sector that traded.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.trades IS 'Trade sides (fills) of the sector''s participants.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.bought_t IS 'Tonnes bought.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.sold_t IS 'Tonnes sold.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.bought_cny IS 'Value bought, CNY.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.sold_cny IS 'Value sold, CNY.';
COMMENT ON COLUMN carbonmkt.bi_trading_by_sector.fees_cny IS 'Fees paid, CNY.';

CREATE VIEW carbonmkt.bi_ccer_supply AS
WITH stock AS (                 -- every CCER in existence is in some account (verify_ledger: conservation)
    SELECT h.project,
           sum(h.balance)::bigint AS issued_t,
           coalesce(sum(h.balance) FILTER (WHERE a.kind = 'national_reserve'), 0)::bigint AS reserve_t,
           coalesce(sum(h.balance) FILTER (WHERE a.kind IN ('holding', 'clearing')), 0)::bigint AS held_t,
           coalesce(sum(h.balance) FILTER (WHERE a.kind = 'cancellation'), 0)::bigint AS retired_t,
           count(DISTINCT a.participant_id) FILTER (WHERE a.kind = 'holding' AND h.balance > 0) AS holders
      FROM carbonmkt.holding h JOIN carbonmkt.account a ON a.account_id = h.account_id
     WHERE h.instrument = 'CCER'
     GROUP BY h.project),
surrendered AS (
    SELECT d.project, sum(d.tonnes)::bigint AS surrendered_t
      FROM carbonmkt.surrender_detail d WHERE d.instrument = 'CCER' GROUP BY d.project)
SELECT st.project, cp.name AS project_name, cp.project_type, t.name_zh AS project_type_name,
       cp.province, r.name_zh AS province_name,
       st.issued_t, st.reserve_t, st.held_t, st.holders, coalesce(su.surrendered_t, 0) AS surrendered_t,
       st.retired_t - coalesce(su.surrendered_t, 0) AS cancelled_t
  FROM stock st
  LEFT JOIN surrendered su ON su.project = st.project
  LEFT JOIN carbonmkt.ccer_project cp ON cp.project = st.project
  LEFT JOIN carbonmkt.ccer_project_type t ON t.code = cp.project_type
  LEFT JOIN carbonmkt.region r ON r.code = cp.province
 WHERE (SELECT carbonmkt.caller_sees_staff_rows());   -- fail closed (doc/security.md)
COMMENT ON VIEW carbonmkt.bi_ccer_supply IS
  'BI: CCER supply per project (核证自愿减排量供给): issued_t (签发; = everything held in any account, by the ledger''s conservation invariant), reserve_t (still in the national reserve), held_t (in holding and clearing accounts) and holders, surrendered_t (清缴抵销, from surrender_detail), cancelled_t (voluntarily, 注销: the rest of the cancellation account).  issued = reserve + held + surrendered + cancelled.  Project name, type and province from ccer_project (NULL for a project not registered there).';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.project IS 'CCER project id.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.project_name IS 'Its name (ccer_project).';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.project_type IS 'Project type code (项目类型).';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.project_type_name IS 'The type''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.province IS 'The project''s province.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.province_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.issued_t IS 'Issued (签发), t.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.reserve_t IS 'Still in the national reserve, t.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.held_t IS 'In holding and clearing accounts, t.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.holders IS 'Participants holding some of it.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.surrendered_t IS 'Surrendered for compliance (清缴抵销), t.';
COMMENT ON COLUMN carbonmkt.bi_ccer_supply.cancelled_t IS 'Voluntarily cancelled (自愿注销), t.';

CREATE VIEW carbonmkt.bi_voluntary_cancellations AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT j.entry_id, j.posting_id, j.business_date, j.recorded_at, p.participant_id, p.name AS participant_name,
       p.kind::text AS participant_kind, p.province, r.name_zh AS province_name, p.sector,
       j.instrument::text AS instrument, j.vintage, nullif(j.project, '') AS project, cp.project_type,
       (-j.amount)::bigint AS tonnes, j.memo
  FROM carbonmkt.journal j
  JOIN carbonmkt.account a ON a.account_id = j.account_id
  JOIN carbonmkt.participant p ON p.participant_id = a.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province
  LEFT JOIN carbonmkt.ccer_project cp ON cp.project = nullif(j.project, '')
 CROSS JOIN s
 WHERE j.kind = 'cancel'
   AND (s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city);
COMMENT ON VIEW carbonmkt.bi_voluntary_cancellations IS
  'BI: every voluntary cancellation (自愿注销, cancel_cea / cancel_ccer: e.g. for carbon neutrality), one row per cancellation from the journal: when, who, what (CEA vintage, CCER project and vintage) and how many tonnes, with the memo.  Surrenders for compliance are not here (bi_compliance_status, bi_ccer_use).  A participant''s login sees its own rows, an authority its jurisdiction, registry and BI every participant.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.entry_id IS 'The journal entry (the account''s debit).';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.posting_id IS 'Its posting.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.business_date IS 'Business day of the cancellation.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.recorded_at IS 'When it was recorded.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.participant_id IS 'The participant that cancelled.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.participant_name IS 'Its name.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.participant_kind IS 'participant_kind.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.province IS 'Its province, NULL if none.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.province_name IS 'The province''s Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.sector IS 'Its sector, NULL if none.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.vintage IS 'Vintage.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.project IS 'CCER project, NULL for CEA.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.project_type IS 'CCER project type, NULL for CEA or an unregistered project.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.tonnes IS 'Tonnes cancelled.';
COMMENT ON COLUMN carbonmkt.bi_voluntary_cancellations.memo IS 'The memo given with the cancellation.';

CREATE VIEW carbonmkt.bi_penalties AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT x.period, p.province, r.name_zh AS province_name, count(*) AS sanctions,
       sum(x.shortfall_t)::bigint AS shortfall_t, sum(x.corrected_t)::bigint AS corrected_t,
       sum(x.fine_fen)::bigint AS fine_fen, round(sum(x.fine_fen) / 100.0, 2) AS fine_cny,
       sum(x.cut_t)::bigint AS cut_t,
       count(*) FILTER (WHERE x.revised_at IS NOT NULL) AS revised,
       count(*) FILTER (WHERE x.corrected_at IS NOT NULL) AS fully_corrected
  FROM carbonmkt.sanction x
  JOIN carbonmkt.participant p ON p.participant_id = x.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province
 CROSS JOIN s
 WHERE s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city
 GROUP BY x.period, p.province, r.name_zh;
COMMENT ON VIEW carbonmkt.bi_penalties IS
  'BI: penalty and fine totals (处罚) per compliance period and province, from the sanctions close_period() imposed for surrender shortfalls: sanctions, tonnes short, tonnes surrendered late (改正), fines in fen and CNY (罚款), allocation cuts in tonnes (核减), fines revised, sanctions fully corrected.  Sum over provinces for the national totals.';
COMMENT ON COLUMN carbonmkt.bi_penalties.period IS 'Compliance period.';
COMMENT ON COLUMN carbonmkt.bi_penalties.province IS 'Province of the sanctioned units.';
COMMENT ON COLUMN carbonmkt.bi_penalties.province_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_penalties.sanctions IS 'Units sanctioned.';
COMMENT ON COLUMN carbonmkt.bi_penalties.shortfall_t IS 'Tonnes not surrendered by the deadline.';
COMMENT ON COLUMN carbonmkt.bi_penalties.corrected_t IS 'Of which surrendered late (改正).';
COMMENT ON COLUMN carbonmkt.bi_penalties.fine_fen IS 'Fines, fen.';
COMMENT ON COLUMN carbonmkt.bi_penalties.fine_cny IS 'Fines, CNY.';
COMMENT ON COLUMN carbonmkt.bi_penalties.cut_t IS 'Cuts of the next year''s allocation (核减), t.';
COMMENT ON COLUMN carbonmkt.bi_penalties.revised IS 'Fines revised by revise_fine().';
COMMENT ON COLUMN carbonmkt.bi_penalties.fully_corrected IS 'Sanctions whose whole shortfall was made up.';

CREATE VIEW carbonmkt.bi_market_monthly AS
SELECT date_trunc('month', d.trade_date)::date AS month, d.product, d.instrument::text AS instrument, d.vintage, d.project,
       count(*) AS days, count(*) FILTER (WHERE d.trades > 0) AS trading_days,
       (array_agg(d.previous_close_cny ORDER BY d.trade_date))[1] AS previous_close_cny,
       (array_agg(d.open_cny ORDER BY d.trade_date) FILTER (WHERE d.open_cny IS NOT NULL))[1] AS open_cny,
       max(d.high_cny) AS high_cny, min(d.low_cny) AS low_cny,
       (array_agg(d.close_cny ORDER BY d.trade_date DESC))[1] AS close_cny,
       sum(d.listed_volume_t)::bigint AS listed_volume_t, sum(d.block_volume_t)::bigint AS block_volume_t,
       sum(d.auction_volume_t)::bigint AS auction_volume_t, sum(d.volume_t)::bigint AS volume_t,
       sum(d.turnover_cny) AS turnover_cny, sum(d.trades)::bigint AS trades,
       round(sum(d.turnover_cny) / nullif(sum(d.volume_t), 0), 2) AS average_price_cny
  FROM carbonmkt.bi_market_daily d
 GROUP BY date_trunc('month', d.trade_date), d.product, d.instrument, d.vintage, d.project;
COMMENT ON VIEW carbonmkt.bi_market_monthly IS
  'BI: monthly market summary (月度行情) per product, from bi_market_daily: days with market activity and with trades, the previous close before the month, the first listed-agreement price (open), high, low, the last close of the month, volume per trading mode and in total, turnover, trades, average price.  Prices and money in CNY, volumes in tonnes.  Public, like the market''s own statistics.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.month IS 'First day of the month.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.product IS 'Product code, e.g. CEA2024.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.instrument IS 'CEA or CCER.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.vintage IS 'Vintage of the product.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.project IS 'CCER project, NULL for CEA.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.days IS 'Days of the month with market activity (bi_market_daily rows).';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.trading_days IS 'Of which days with trades.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.previous_close_cny IS 'Close before the month''s first day (前收盘价), CNY per t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.open_cny IS 'First listed-agreement price of the month, CNY per t; NULL without listed trades.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.high_cny IS 'Highest listed-agreement price, CNY per t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.low_cny IS 'Lowest listed-agreement price, CNY per t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.close_cny IS 'Close of the month''s last day (收盘价), CNY per t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.listed_volume_t IS 'Listed agreement (挂牌协议) volume, t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.block_volume_t IS 'Block agreement (大宗协议) volume, t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.auction_volume_t IS 'One-way bidding (单向竞价) volume, t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.volume_t IS 'Volume of every mode, t.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.turnover_cny IS 'Turnover of every mode, CNY.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.trades IS 'Trades of every mode.';
COMMENT ON COLUMN carbonmkt.bi_market_monthly.average_price_cny IS 'turnover / volume, CNY per t; NULL without trades.';

CREATE VIEW carbonmkt.bi_data_quality AS
SELECT q.province, q.province_name, q.year, q.units, q.units_no_plan, q.months_due, q.months_missing, q.months_late,
       q.months_corrected, q.deposit_anomalies, q.reports, q.reports_not_filed, q.reports_late, q.reports_estimated,
       q.national_review_required, q.confirmed
  FROM carbonmkt.mrv_data_quality q;
COMMENT ON VIEW carbonmkt.bi_data_quality IS
  'BI: MRV data quality per province and year (数据质量), the figures of mrv_data_quality a dashboard shows: units expected to report, of which without an approved monitoring plan (no plan, 未备案), monthly deposits due, missing, late and corrected, anomalies, reports filed, years over without a report (not filed, 未报送), late and estimated reports, reports needing national review, confirmed.  An authority sees its jurisdiction, staff and BI every province.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.province IS 'Province (GB/T 2260).';
COMMENT ON COLUMN carbonmkt.bi_data_quality.province_name IS 'Its Chinese name.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.year IS 'Reporting year.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.units IS 'Key emitting units expected to report.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.units_no_plan IS 'Of which without an approved monitoring plan (未备案监测计划).';
COMMENT ON COLUMN carbonmkt.bi_data_quality.months_due IS 'Unit-months of deposits complete or past their deadline.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.months_missing IS 'Unit-months incomplete after the deadline.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.months_late IS 'Unit-months first deposited late.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.months_corrected IS 'Unit-months with a correction.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.deposit_anomalies IS 'Anomalous monthly values (mrv_deposit_anomaly).';
COMMENT ON COLUMN carbonmkt.bi_data_quality.reports IS 'Annual reports filed.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.reports_not_filed IS 'Units without a report for a year that is over (未报送).';
COMMENT ON COLUMN carbonmkt.bi_data_quality.reports_late IS 'Reports filed after the deadline.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.reports_estimated IS 'Reports estimated by an appointed verifier (Art. 40).';
COMMENT ON COLUMN carbonmkt.bi_data_quality.national_review_required IS 'Reports needing national review.';
COMMENT ON COLUMN carbonmkt.bi_data_quality.confirmed IS 'Reports confirmed.';

CREATE VIEW carbonmkt.bi_as_of AS
SELECT coalesce(CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_xact_replay_timestamp() END,
                carbonmkt.clock_now()) AS as_of,
       pg_catalog.pg_is_in_recovery() AS replica, carbonmkt.clock_now() AS market_clock,
       carbonmkt.business_date() AS business_date, pg_catalog.current_database() AS database;
COMMENT ON VIEW carbonmkt.bi_as_of IS
  'BI: how current the data read is: as_of is the commit time of the last transaction replayed on a hot-standby replica (pg_last_xact_replay_timestamp), else the time of the query on the primary by the extension''s clock (clock_now(): the real time, or the replayed time a superuser set in carbonmkt.clock); replica says which; the market''s clock and business date; the database.';
COMMENT ON COLUMN carbonmkt.bi_as_of.as_of IS 'Data as of: the last replayed commit on a replica, clock_now() on the primary.';
COMMENT ON COLUMN carbonmkt.bi_as_of.replica IS 'Whether the session reads a hot-standby replica (pg_is_in_recovery).';
COMMENT ON COLUMN carbonmkt.bi_as_of.market_clock IS 'The extension''s clock (clock_now()).';
COMMENT ON COLUMN carbonmkt.bi_as_of.business_date IS 'The market''s business date (China Standard Time).';
COMMENT ON COLUMN carbonmkt.bi_as_of.database IS 'The database read.';

-- positions, trading, cancellations: rows filtered by caller_scope(); aggregates: staff, authorities and BI
GRANT SELECT ON carbonmkt.bi_positions, carbonmkt.bi_cash_positions, carbonmkt.bi_trading_activity,
                carbonmkt.bi_voluntary_cancellations
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_participant, carbonmkt_bi;
GRANT SELECT ON carbonmkt.bi_positions_by_province, carbonmkt.bi_positions_by_sector, carbonmkt.bi_holder_concentration,
                carbonmkt.bi_trading_by_sector, carbonmkt.bi_ccer_supply, carbonmkt.bi_penalties,
                carbonmkt.bi_data_quality
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;
GRANT SELECT ON carbonmkt.bi_market_monthly, carbonmkt.bi_as_of TO PUBLIC;


-- -- One way in, follow-up (issue 14): changes that must follow the Dashboard section (views and policies it recreates) (session 3) --
-- mrv_visible(unit, VARIADIC others) becomes mrv_visible(participant_id, VARIADIC
-- other_participants) (doc/api.md: a unit, the subject, is a participant_id).  PostgreSQL
-- renames an argument only by dropping the function, and what calls it goes with it: the
-- mrv_read policies of five MRV tables and the views that call it, with the views built on
-- them.  They are made again from their definitions as the sections above left them
-- (pg_get_viewdef, pg_get_expr), with their options, comments and grants, so that this
-- block neither repeats those definitions nor falls behind a later change to them.  A view
-- made again from its deparsed text must parse to what its source parses to: its source
-- avoids what deparses otherwise (BETWEEN comes back as a flat AND; see _mrv_unit_year), and
-- test/ops/upgrade.sh compares the result with a fresh install.
DO $api4$
DECLARE
    path      text := current_setting('search_path');
    fn        regprocedure := 'carbonmkt.mrv_visible(bigint, bigint[])';
    redo      text[] := '{}';
    undo      text[] := '{}';
    r         record;
    g         record;
BEGIN
    -- deparsed with every name schema-qualified
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog', true);
    -- the views that call the function, and those built on them, the deepest last
    FOR r IN
        WITH RECURSIVE dep(relid, depth) AS (
            SELECT rw.ev_class, 1
              FROM pg_depend d JOIN pg_rewrite rw ON rw.oid = d.objid
             WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_proc'::regclass
               AND d.refobjid = fn
            UNION ALL
            SELECT rw.ev_class, dep.depth + 1
              FROM dep JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = dep.relid
              JOIN pg_rewrite rw ON rw.oid = d.objid AND rw.ev_class <> dep.relid
             WHERE d.classid = 'pg_rewrite'::regclass AND dep.depth < 20
        )
        SELECT c.oid, c.oid::regclass AS name, c.relowner, c.relacl, c.reloptions, max(dep.depth) AS depth
          FROM dep JOIN pg_class c ON c.oid = dep.relid
         GROUP BY c.oid ORDER BY max(dep.depth), c.oid::regclass::text
    LOOP
        IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = r.oid)
           OR EXISTS (SELECT 1 FROM pg_rewrite w WHERE w.ev_class = r.oid AND w.rulename <> '_RETURN') THEN
            RAISE EXCEPTION 'carbonmkt upgrade: view % has triggers or rules; recreate it explicitly', r.name;
        END IF;
        undo := format('DROP VIEW %s', r.name) || undo;
        redo := redo || format('CREATE VIEW %s%s AS %s', r.name,
                               CASE WHEN r.reloptions IS NOT NULL
                                    THEN format(' WITH (%s)', array_to_string(r.reloptions, ', ')) ELSE '' END,
                               pg_get_viewdef(r.oid));
        IF obj_description(r.oid, 'pg_class') IS NOT NULL THEN
            redo := redo || format('COMMENT ON VIEW %s IS %L', r.name, obj_description(r.oid, 'pg_class'));
        END IF;
        FOR g IN SELECT a.attname, col_description(r.oid, a.attnum) AS note
                   FROM pg_attribute a
                  WHERE a.attrelid = r.oid AND a.attnum > 0 AND col_description(r.oid, a.attnum) IS NOT NULL
                  ORDER BY a.attnum
        LOOP
            redo := redo || format('COMMENT ON COLUMN %s.%I IS %L', r.name, g.attname, g.note);
        END LOOP;
        -- the grants, grantee by grantee in the order of the ACL (the owner's are implicit)
        FOR g IN SELECT x.grantee, string_agg(x.privilege_type, ', ' ORDER BY x.privilege_type) AS privs,
                        bool_or(x.is_grantable) AS grantable, min(x.ord) AS ord
                   FROM aclexplode(r.relacl) WITH ORDINALITY x(grantor, grantee, privilege_type, is_grantable, ord)
                  WHERE x.grantee <> r.relowner
                  GROUP BY x.grantee ORDER BY min(x.ord)
        LOOP
            redo := redo || format('GRANT %s ON %s TO %s%s', g.privs, r.name,
                                   CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(g.grantee::regrole::text) END,
                                   CASE WHEN g.grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        END LOOP;
    END LOOP;
    -- the policies that call it
    FOR r IN SELECT p.oid, p.polname, p.polrelid::regclass AS tab, p.polcmd, p.polpermissive, p.polroles,
                    pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS chk
               FROM pg_policy p
              WHERE p.oid IN (SELECT d.objid FROM pg_depend d
                               WHERE d.classid = 'pg_policy'::regclass AND d.refclassid = 'pg_proc'::regclass
                                 AND d.refobjid = fn)
              ORDER BY p.polrelid::regclass::text, p.polname
    LOOP
        undo := format('DROP POLICY %I ON %s', r.polname, r.tab) || undo;
        redo := redo || format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', r.polname, r.tab,
                               CASE WHEN r.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
                               CASE r.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                             WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                               (SELECT string_agg(CASE WHEN x.role = 0 THEN 'PUBLIC' ELSE quote_ident(x.role::regrole::text) END,
                                                  ', ' ORDER BY x.n)
                                  FROM unnest(r.polroles) WITH ORDINALITY x(role, n)),
                               CASE WHEN r.qual IS NOT NULL THEN format(' USING (%s)', r.qual) ELSE '' END,
                               CASE WHEN r.chk IS NOT NULL THEN format(' WITH CHECK (%s)', r.chk) ELSE '' END);
        IF obj_description(r.oid, 'pg_policy') IS NOT NULL THEN
            redo := redo || format('COMMENT ON POLICY %I ON %s IS %L', r.polname, r.tab, obj_description(r.oid, 'pg_policy'));
        END IF;
    END LOOP;
    IF cardinality(undo) = 0 THEN
        RAISE EXCEPTION 'carbonmkt upgrade: nothing calls %: this block expected the MRV policies and views', fn;
    END IF;

    FOR r IN SELECT unnest(undo) AS stmt LOOP
        EXECUTE r.stmt;
    END LOOP;
    DROP FUNCTION carbonmkt.mrv_visible(bigint, bigint[]);
    EXECUTE $fn$
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
$$
$fn$;
    COMMENT ON FUNCTION carbonmkt.mrv_visible(bigint, bigint[]) IS
      'Row-level security of the MRV tables: whether the login may read the MRV data of a unit (participant_id): the unit itself (or a participant among other_participants, e.g. the firm that compiled or verified a report), the authorities of its city, province or the nation, staff and BI.';
    FOR r IN SELECT unnest(redo) AS stmt LOOP
        EXECUTE r.stmt;
    END LOOP;
    PERFORM pg_catalog.set_config('search_path', path, true);
END
$api4$;

-- set_trading_day(jurisdiction, day, ...) becomes set_trading_day(jurisdiction, business_date,
-- ...) (doc/api.md: a date of business is business_date, as in is_trading_day).  New in 0.2.0:
-- no 0.1.0 form to keep.
DROP FUNCTION carbonmkt.set_trading_day(text, date, boolean, text, text, bigint);
CREATE FUNCTION carbonmkt.set_trading_day(jurisdiction text, business_date date, is_trading_day boolean, document text,
                                          memo text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    me      carbonmkt.participant;
    regular boolean;
BEGIN
    PERFORM carbonmkt.check_jurisdiction(jurisdiction);
    me := carbonmkt._rule_actor('trading_calendar', jurisdiction, acting_for);
    PERFORM carbonmkt._rule_begin('amend', document, me.participant_id);
    IF set_trading_day.business_date IS NULL OR is_trading_day IS NULL THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %): a day and whether it trades are needed', jurisdiction USING ERRCODE = 'CM502';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.trading_calendar_year y
                    WHERE y.jurisdiction = set_trading_day.jurisdiction AND y.year = extract(year FROM set_trading_day.business_date)) THEN
        RAISE EXCEPTION 'no trading calendar for % (jurisdiction %)', extract(year FROM set_trading_day.business_date), jurisdiction
            USING ERRCODE = 'CM507', HINT = 'Load the year first with carbonmkt.load_trading_calendar().';
    END IF;
    IF set_trading_day.business_date <= carbonmkt.business_date() THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %, business_date %): only days after today (%) can be changed',
            jurisdiction, to_char(set_trading_day.business_date, 'YYYY-MM-DD'), to_char(carbonmkt.business_date(), 'YYYY-MM-DD') USING ERRCODE = 'CM506';
    END IF;
    regular := extract(isodow FROM set_trading_day.business_date) < 6;
    DELETE FROM carbonmkt.trading_calendar c WHERE c.jurisdiction = set_trading_day.jurisdiction AND c.business_date = set_trading_day.business_date;
    IF is_trading_day <> regular THEN
        INSERT INTO carbonmkt.trading_calendar AS c (jurisdiction, business_date, is_trading_day, note)
        VALUES (jurisdiction, set_trading_day.business_date, is_trading_day, coalesce(memo, CASE WHEN is_trading_day THEN 'weekend trading day' END));
    END IF;
    PERFORM carbonmkt._rule_end();
    RETURN is_trading_day;
END
$$;
COMMENT ON FUNCTION carbonmkt.set_trading_day(text, date, boolean, text, text, bigint) IS
  'The exchange makes a future day of a loaded year a holiday or a trading day (e.g. an extra holiday announced late), citing the document.  CM507 for a year without a calendar, CM506 for today or a past day.';
REVOKE ALL ON FUNCTION carbonmkt.set_trading_day(text, date, boolean, text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.set_trading_day(text, date, boolean, text, text, bigint)
   TO carbonmkt_exchange, carbonmkt_registry;
-- (end of api4)


-- -- Rules, follow-up (issue 15): changes that must follow the Next phase and Dashboard sections (session 3) --

-- The gases per sector (mrv_sector_gas) are set and amended only for years not reported yet
-- (CM506): set_rule and amend_rule (_rule_validate and _rule_in_use: the Next phase section,
-- generated from src/rules.sql).
COMMENT ON FUNCTION carbonmkt._rule_in_use(text, jsonb, int, int) IS
  'Internal: why a rule row of the given years is in use (an allocation run of its jurisdiction and year, a compliance period starting in its years, an emission report of its years; for mrv_sector_gas an emission report of its sector in those years; for paid_allocation_rule an entitlement applied), or NULL.';
CREATE OR REPLACE FUNCTION carbonmkt.set_rule(rule_table text, rule jsonb, document text, acting_for bigint DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    m       carbonmkt.rule_table := carbonmkt._rule_meta(rule_table);
    me      carbonmkt.participant;
    j       text := rule ->> 'jurisdiction';
    y1      int;
    y2      int;
    yr      int;
    r       jsonb;
    todo    jsonb[] := '{}';
    piece   jsonb;
    why     text;
    n       int := 0;
BEGIN
    IF rule IS NULL OR jsonb_typeof(rule) <> 'object' THEN
        RAISE EXCEPTION 'a rule of % is a jsonb object of its columns: got %', rule_table, coalesce(rule::text, 'NULL')
            USING ERRCODE = 'CM502';
    END IF;
    IF m.period_kind = 'calendar' THEN
        RAISE EXCEPTION 'the trading calendar is loaded with carbonmkt.load_trading_calendar() and changed with carbonmkt.set_trading_day()'
            USING ERRCODE = 'CM502';
    END IF;
    IF 'jurisdiction' = ANY (carbonmkt._rule_columns(rule_table)) THEN
        PERFORM carbonmkt.check_jurisdiction(j);
    END IF;
    me := carbonmkt._rule_actor(rule_table, j, acting_for);
    PERFORM carbonmkt._rule_begin('set', document, me.participant_id);
    IF 'source' = ANY (carbonmkt._rule_columns(rule_table)) AND NOT rule ? 'source' THEN
        rule := rule || jsonb_build_object('source', document);
    END IF;

    -- the rows: one per year for the year tables (year, or from_year .. to_year)
    IF m.period_kind = 'year' THEN
        y1 := coalesce(rule ->> 'year', rule ->> 'from_year')::int;
        y2 := coalesce(rule ->> 'to_year', rule ->> 'year', rule ->> 'from_year')::int;
        IF y1 IS NULL OR y2 < y1 OR y1 < 2005 OR y2 > 2100 THEN
            RAISE EXCEPTION '% rules are set for a year or for from_year .. to_year within 2005-2100: got % to %',
                rule_table, coalesce(y1::text, 'NULL'), coalesce(y2::text, 'NULL')
                USING ERRCODE = 'CM502';
        END IF;
        rule := rule - 'year' - 'from_year' - 'to_year';
        FOR yr IN y1 .. y2 LOOP
            SELECT a.run_id || ' (' || a.kind || ')' INTO why FROM carbonmkt.allocation_run a
             WHERE a.jurisdiction = j AND a.year = yr AND a.kind = 'final' ORDER BY a.run_id LIMIT 1;
            IF why IS NOT NULL THEN
                RAISE EXCEPTION '% rules of jurisdiction % for % cannot be added: the allocation of % is final (run %)',
                    rule_table, j, yr, yr, why
                    USING ERRCODE = 'CM506', DETAIL = 'Nothing was changed.';
            END IF;
            IF rule_table = 'alloc_load_piece' THEN
                IF jsonb_typeof(rule -> 'pieces') IS DISTINCT FROM 'array' THEN
                    RAISE EXCEPTION 'alloc_load_piece rules are set a year''s whole curve at once: {"jurisdiction", "year", "pieces": [{"lower_bound", "kind", ...}, ...]}'
                        USING ERRCODE = 'CM502';
                END IF;
                IF EXISTS (SELECT 1 FROM carbonmkt.alloc_load_piece x WHERE x.jurisdiction = j AND x.year = yr) THEN
                    RAISE EXCEPTION 'alloc_load_piece (jurisdiction %, year %): the year''s curve exists already', j, yr
                        USING ERRCODE = 'CM503', DETAIL = 'Nothing was changed.', HINT = 'Change a piece with carbonmkt.amend_rule().';
                END IF;
                FOR piece IN SELECT value FROM jsonb_array_elements(rule -> 'pieces') LOOP
                    todo := todo || ((rule - 'pieces') || piece || jsonb_build_object('year', yr));
                END LOOP;
            ELSE
                todo := todo || (rule || jsonb_build_object('year', yr));
            END IF;
        END LOOP;
    ELSE
        todo := ARRAY[rule];
    END IF;

    FOREACH r IN ARRAY todo LOOP
        PERFORM carbonmkt._rule_validate(rule_table, r);
        IF m.period_kind = 'from_year' THEN
            IF r ->> 'from_year' IS NULL THEN
                RAISE EXCEPTION '% rules need from_year (and until_year, NULL = until replaced)', rule_table USING ERRCODE = 'CM502';
            END IF;
            PERFORM carbonmkt._rule_overlap(rule_table, r);
            why := carbonmkt._rule_in_use(rule_table, r, (r ->> 'from_year')::int, coalesce((r ->> 'until_year')::int, 2100));
            IF why IS NOT NULL THEN
                RAISE EXCEPTION '%: cannot be set for years already under way: %',
                    carbonmkt._rule_name(rule_table, carbonmkt._rule_key(rule_table, r)), why
                    USING ERRCODE = 'CM506', DETAIL = 'Nothing was changed.', HINT = 'Set the rule from a later year.';
            END IF;
        ELSIF m.period_kind = 'valid_from' THEN
            IF r ->> 'valid_from' IS NULL OR (r ->> 'valid_from')::date <= carbonmkt.business_date() THEN
                RAISE EXCEPTION '%: a market rule takes effect after today (%): got valid_from %',
                    carbonmkt._rule_name(rule_table, carbonmkt._rule_key(rule_table, r)), to_char(carbonmkt.business_date(), 'YYYY-MM-DD'),
                    coalesce(r ->> 'valid_from', 'NULL')
                    USING ERRCODE = 'CM506', DETAIL = 'Days already traded keep their rules; nothing was changed.';
            END IF;
            PERFORM carbonmkt._rule_overlap(rule_table, r);
        ELSIF rule_table = 'mrv_sector_gas' THEN
            -- a gas added from a year whose reports were filed without it
            why := carbonmkt._rule_in_use(rule_table, r, (r ->> 'from_year')::int, 2100);
            IF why IS NOT NULL THEN
                RAISE EXCEPTION '%: cannot be set for years already reported: %',
                    carbonmkt._rule_name(rule_table, carbonmkt._rule_key(rule_table, r)), why
                    USING ERRCODE = 'CM506', DETAIL = 'Nothing was changed.', HINT = 'Set the gas from a year not reported yet.';
            END IF;
        END IF;
        PERFORM carbonmkt._rule_insert(rule_table, r);
        n := n + 1;
    END LOOP;
    IF rule_table = 'alloc_load_piece' THEN
        FOR yr IN y1 .. y2 LOOP
            PERFORM carbonmkt._load_curve_check(j, yr);
        END LOOP;
    END IF;
    PERFORM carbonmkt._rule_end();
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt.set_rule(text, jsonb, text, bigint) IS
  'Sets a new rule: rule is a jsonb object of the table''s columns; the year tables take year or from_year and to_year (one row per year; alloc_load_piece takes the year''s whole curve as "pieces"), the from_year tables from_year and until_year (NULL = until replaced), the market tables valid_from (after today) and valid_until.  document is what it implements (e.g. a notice number; also the row''s source unless given).  Validated (CM502), no overlap with the rule''s other periods (CM503), not for years a computation used (CM506); who may call it: doc/rules.md.  Returns the rows set.';

CREATE OR REPLACE FUNCTION carbonmkt.amend_rule(rule_table text, rule_key jsonb, changes jsonb, document text,
                                     acting_for bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    m       carbonmkt.rule_table := carbonmkt._rule_meta(rule_table);
    me      carbonmkt.participant;
    o       jsonb;
    n       jsonb;
    why     text;
    k       text;
    fill    boolean;
BEGIN
    IF m.period_kind = 'calendar' THEN
        RAISE EXCEPTION 'a trading day is changed with carbonmkt.set_trading_day()' USING ERRCODE = 'CM502';
    END IF;
    IF rule_key ? 'jurisdiction' THEN
        PERFORM carbonmkt.check_jurisdiction(rule_key ->> 'jurisdiction');
    END IF;
    o := carbonmkt._rule_row(rule_table, rule_key);
    me := carbonmkt._rule_actor(rule_table, o ->> 'jurisdiction', acting_for);
    PERFORM carbonmkt._rule_begin('amend', document, me.participant_id);
    IF changes IS NULL OR jsonb_typeof(changes) <> 'object' OR changes = '{}' THEN
        RAISE EXCEPTION 'amend_rule needs the changed columns as a jsonb object: got %', coalesce(changes::text, 'NULL')
            USING ERRCODE = 'CM502';
    END IF;
    SELECT string_agg(c, ', ') INTO k FROM jsonb_object_keys(changes) c
     WHERE c = ANY (carbonmkt._rule_columns(rule_table, true)) AND changes -> c IS DISTINCT FROM o -> c;
    IF k IS NOT NULL THEN
        RAISE EXCEPTION '%: the key (%) of a rule is not amended', carbonmkt._rule_name(rule_table, rule_key), k
            USING ERRCODE = 'CM502', HINT = 'Set a rule with the new key (set_rule) and retire this one (retire_rule).';
    END IF;
    -- filling numbers the sources do not give: columns shipped NULL whose users refuse while
    -- they are NULL (doc/rules.md, "Missing rules"), so no computation used the row without them
    fill := NOT EXISTS (SELECT 1 FROM jsonb_object_keys(changes) c
                         WHERE c <> ALL (CASE rule_table
                                           WHEN 'market_rule' THEN ARRAY['fee_rate']
                                           WHEN 'mrv_rule' THEN ARRAY['review_sample_share', 'deviation_threshold', 'deposit_due_days',
                                                                      'deposit_missing_tolerance', 'deposit_late_tolerance',
                                                                      'anomaly_threshold']
                                           ELSE '{}'::text[] END)
                            OR coalesce(o -> c, 'null'::jsonb) <> 'null'::jsonb
                            OR coalesce(changes -> c, 'null'::jsonb) = 'null'::jsonb);
    n := o || changes;
    IF 'source' = ANY (carbonmkt._rule_columns(rule_table)) AND NOT changes ? 'source' THEN
        n := n || jsonb_build_object('source', CASE WHEN fill
                                                    THEN format('%s; %s: %s', o ->> 'source',
                                                                (SELECT string_agg(c, ', ' ORDER BY c) FROM jsonb_object_keys(changes) c),
                                                                document)
                                                    ELSE document END);
    END IF;
    PERFORM carbonmkt._rule_validate(rule_table, n);
    IF m.period_kind = 'year' THEN
        why := carbonmkt._rule_in_use(rule_table, o, (o ->> 'year')::int, (o ->> 'year')::int);
    ELSIF m.period_kind = 'from_year' THEN
        why := carbonmkt._rule_in_use(rule_table, o, (o ->> 'from_year')::int, coalesce((o ->> 'until_year')::int, 2100));
        PERFORM carbonmkt._rule_overlap(rule_table, n, o);
    ELSIF m.period_kind = 'valid_from' THEN
        IF (o ->> 'valid_from')::date <= carbonmkt.business_date() THEN
            why := format('it is in force since %s (today is %s)', o ->> 'valid_from', to_char(carbonmkt.business_date(), 'YYYY-MM-DD'));
        END IF;
        PERFORM carbonmkt._rule_overlap(rule_table, n, o);
    ELSIF rule_table = 'mrv_sector_gas' AND (n ->> 'from_year') IS DISTINCT FROM (o ->> 'from_year') THEN
        -- a new first year changes the gases of the years between the old and the new one
        why := carbonmkt._rule_in_use(rule_table, o, least((o ->> 'from_year')::int, (n ->> 'from_year')::int),
                                      greatest((o ->> 'from_year')::int, (n ->> 'from_year')::int) - 1);
    END IF;
    IF why IS NOT NULL AND NOT fill THEN
        RAISE EXCEPTION '%: cannot be amended: %', carbonmkt._rule_name(rule_table, rule_key), why
            USING ERRCODE = 'CM506',
                  DETAIL = 'A rule a computation used is never changed; nothing was changed.',
                  HINT = 'End it (retire_rule) and set the new value for the following years or days (set_rule).';
    END IF;
    PERFORM carbonmkt._rule_update(rule_table, rule_key, n);
    IF rule_table = 'alloc_load_piece' THEN
        PERFORM carbonmkt._load_curve_check(o ->> 'jurisdiction', (o ->> 'year')::int);
    END IF;
    PERFORM carbonmkt._rule_end();
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt.amend_rule(text, jsonb, jsonb, text, bigint) IS
  'Amends a rule row named by its key (jsonb of the primary key columns) with the changed columns (not the key); validated like set_rule (CM502, CM503); refused for a rule a computation used (CM506: an allocation run of its year, a compliance period starting in its years, an emission report of its years, a market rule already in force, a gas''s first year moved across reported years of its sector), except filling a number the sources do not give (market_rule.fee_rate, the NULL numbers of mrv_rule: refused while NULL, so never used), whose document is added to the row''s source.  Returns the new row.';

-- The 2021 Measures' fines (the shipped CN 2019 penalty row) end with the 2022 compliance year,
-- Decree 775's apply from 2023 (RULES.md 6): as in a fresh install, the shipped row unless
-- changed or used by a period after 2022.  Recorded in the history as a retirement.
SELECT set_config('carbonmkt_rules.action', 'retire', true),
       set_config('carbonmkt_rules.document', 'carbonmkt 0.2.0: the 2021 Measures'' fines end with the 2022 compliance year (Decree 775 from 2023, RULES.md 6)', true);
UPDATE carbonmkt.penalty_rule p
   SET until_year = 2022,
       source = 'RULES.md 6 [public: the 2021 Measures, 碳排放权交易管理办法（试行）]: fine 20,000-30,000 CNY; if not corrected in time (逾期未改正), next year''s allocation cut by the shortfall; until the 2022 year (Decree 775''s fines from 2023)'
 WHERE p.jurisdiction = 'CN' AND p.from_year = 2019 AND p.until_year IS NULL AND p.fine_basis = 'fixed'
   AND p.source = 'RULES.md 6 [public: the 2021 Measures, 碳排放权交易管理办法（试行）]: fine 20,000-30,000 CNY; if not corrected in time (逾期未改正), next year''s allocation cut by the shortfall'
   AND NOT EXISTS (SELECT 1 FROM carbonmkt._period_rules r
                    WHERE r.jurisdiction = 'CN' AND r.penalty_rule_year = 2019 AND r.last_year > 2022);
SELECT carbonmkt._rule_end();

-- An unknown jurisdiction is CM501 in every function that takes one: also amend_allocation,
-- recover_owed and settle_allocation_adjustments (which refused nothing when there was nothing
-- to do) and mrv_rule_for (an unknown province code was no rule); check_jurisdiction only
-- reads, PARALLEL SAFE like mrv_rule_for.
CREATE OR REPLACE FUNCTION carbonmkt.check_jurisdiction(jurisdiction text) RETURNS carbonmkt.jurisdiction
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
CREATE OR REPLACE FUNCTION carbonmkt.amend_allocation(participant_id bigint, tonnes bigint, year int, reason text,
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
CREATE OR REPLACE FUNCTION carbonmkt.recover_owed(participant_id bigint, year int, jurisdiction text DEFAULT 'CN')
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
CREATE OR REPLACE FUNCTION carbonmkt.settle_allocation_adjustments(year int, province char(6) DEFAULT NULL,
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
CREATE OR REPLACE FUNCTION carbonmkt.mrv_rule_for(province char(6), year int) RETURNS carbonmkt.mrv_rule
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
-- (end of rules4)


-- -- Performance/tape (issue 16, session 4): the bi_* views at ten years (kept per-participant trading statistics, compliance summaries); after every other section, so its definitions are final --

-- kept trading statistics per participant, month and instrument (trading_month_stats, written
-- by end_of_day() with each close) instead of aggregating the whole tape on each read of
-- bi_trading_activity and bi_trading_by_sector (src/market.sql, src/reporting.sql)
-- Trading statistics per participant (bi_trading_activity, bi_trading_by_sector) ---------------
-- _trading_day_figures computes one participant's figures of one product and day from the
-- tape (a filter on product_id and business_date reaches the index trade_product_day);
-- end_of_day() adds a closed day's to trading_month_stats in the transaction that closes the
-- day and writes its market_day_stats row: a day's trades are in the kept rows exactly when
-- the day has its market_day_stats row, and the BI views read the tape only for the others.

CREATE VIEW carbonmkt._trading_day_figures AS
SELECT t.product_id, t.business_date, x.participant_id,
       count(*) AS trades,
       coalesce(sum(t.quantity) FILTER (WHERE x.buys), 0)::bigint AS bought_t,
       coalesce(sum(t.quantity) FILTER (WHERE NOT x.buys), 0)::bigint AS sold_t,
       coalesce(sum(t.price_fen * t.quantity) FILTER (WHERE x.buys), 0)::bigint AS bought_fen,
       coalesce(sum(t.price_fen * t.quantity) FILTER (WHERE NOT x.buys), 0)::bigint AS sold_fen,
       sum(x.fee_fen)::bigint AS fees_fen,
       coalesce(sum(t.quantity) FILTER (WHERE t.mode = 'listed'), 0)::bigint AS listed_t,
       coalesce(sum(t.quantity) FILTER (WHERE t.mode = 'block'), 0)::bigint AS block_t,
       coalesce(sum(t.quantity) FILTER (WHERE t.mode NOT IN ('listed', 'block')), 0)::bigint AS auction_t
  FROM carbonmkt.trade t
 CROSS JOIN LATERAL (VALUES (t.buyer_id, true, t.buyer_fee_fen), (t.seller_id, false, t.seller_fee_fen)) x(participant_id, buys, fee_fen)
 GROUP BY t.product_id, t.business_date, x.participant_id;
COMMENT ON VIEW carbonmkt._trading_day_figures IS
  'Internal: the trade tape per product, day and participant (each trade once for its buyer, once for its seller): trades (fills, 成交), tonnes bought and sold, their value (price x quantity) and that side''s fees in fen, tonnes per trading mode (listed 挂牌协议, block 大宗协议, the rest one-way bidding 单向竞价).  end_of_day() adds a closed day''s rows to trading_month_stats; the BI views read it live for a day not closed yet (_trading_month).';

CREATE TABLE carbonmkt.trading_month_stats (
    participant_id      bigint NOT NULL REFERENCES carbonmkt.participant,
    month               date NOT NULL CHECK (extract(day FROM month) = 1),
    instrument          carbonmkt.instrument NOT NULL,
    trades              bigint NOT NULL CHECK (trades > 0),
    bought_t            bigint NOT NULL CHECK (bought_t >= 0),
    sold_t              bigint NOT NULL CHECK (sold_t >= 0),
    bought_fen          bigint NOT NULL CHECK (bought_fen >= 0),
    sold_fen            bigint NOT NULL CHECK (sold_fen >= 0),
    fees_fen            bigint NOT NULL CHECK (fees_fen >= 0),
    listed_t            bigint NOT NULL CHECK (listed_t >= 0),
    block_t             bigint NOT NULL CHECK (block_t >= 0),
    auction_t           bigint NOT NULL CHECK (auction_t >= 0),
    first_trade_date    date NOT NULL,
    last_trade_date     date NOT NULL,
    PRIMARY KEY (participant_id, month, instrument),
    CHECK (month <= first_trade_date AND first_trade_date <= last_trade_date
           AND last_trade_date < (month + interval '1 month')::date)
);
COMMENT ON TABLE carbonmkt.trading_month_stats IS
  'Trading statistics per participant, month and instrument (交易情况) of the closed trading days (a product''s day with its market_day_stats row): the sums of _trading_day_figures over those days, first and last of them with a trade.  end_of_day() adds each day it closes, in the transaction that writes the day''s market_day_stats (after the close the day takes no trades, so the rows stay the tape''s).  Read by bi_trading_activity and bi_trading_by_sector (through _trading_month), which add the days not closed yet from the tape.  Not public: per-participant data, read through the views'' scope.';

CREATE FUNCTION carbonmkt._keep_trading_day(p_products int[], p_day date) RETURNS void
LANGUAGE sql AS
$$
    -- one row per participant and instrument, in key order: closes of other days adding to the
    -- same months (concurrently) lock the rows they share in one order, never in a cycle
    INSERT INTO carbonmkt.trading_month_stats AS k
    SELECT f.participant_id, date_trunc('month', p_day)::date, pr.instrument, sum(f.trades), sum(f.bought_t),
           sum(f.sold_t), sum(f.bought_fen), sum(f.sold_fen), sum(f.fees_fen), sum(f.listed_t), sum(f.block_t),
           sum(f.auction_t), p_day, p_day
      FROM unnest(p_products) u(product_id)
      JOIN carbonmkt.product pr ON pr.product_id = u.product_id
     CROSS JOIN LATERAL (SELECT f.* FROM carbonmkt._trading_day_figures f
                          WHERE f.product_id = u.product_id AND f.business_date = p_day OFFSET 0) f
     GROUP BY f.participant_id, pr.instrument
     ORDER BY f.participant_id, pr.instrument
        ON CONFLICT (participant_id, month, instrument) DO UPDATE
       SET trades = k.trades + excluded.trades, bought_t = k.bought_t + excluded.bought_t,
           sold_t = k.sold_t + excluded.sold_t, bought_fen = k.bought_fen + excluded.bought_fen,
           sold_fen = k.sold_fen + excluded.sold_fen, fees_fen = k.fees_fen + excluded.fees_fen,
           listed_t = k.listed_t + excluded.listed_t, block_t = k.block_t + excluded.block_t,
           auction_t = k.auction_t + excluded.auction_t,
           first_trade_date = least(k.first_trade_date, excluded.first_trade_date),
           last_trade_date = greatest(k.last_trade_date, excluded.last_trade_date)
$$;
COMMENT ON FUNCTION carbonmkt._keep_trading_day(int[], date) IS
  'Internal, for end_of_day(): adds the trades of the products'' day (_trading_day_figures) to each participant''s month in trading_month_stats, in the transaction that closes those days and writes their market_day_stats rows.  Once per product and day: a second call would count the day twice.';

CREATE FUNCTION carbonmkt._keep_trading_months() RETURNS bigint
LANGUAGE sql AS
$$
    DELETE FROM carbonmkt.trading_month_stats;
    WITH kept AS (
        INSERT INTO carbonmkt.trading_month_stats
        SELECT f.participant_id, date_trunc('month', f.business_date)::date, pr.instrument, sum(f.trades),
               sum(f.bought_t), sum(f.sold_t), sum(f.bought_fen), sum(f.sold_fen), sum(f.fees_fen),
               sum(f.listed_t), sum(f.block_t), sum(f.auction_t), min(f.business_date), max(f.business_date)
          FROM carbonmkt._trading_day_figures f
          JOIN carbonmkt.market_day_stats s ON s.product_id = f.product_id AND s.business_date = f.business_date
          JOIN carbonmkt.product pr ON pr.product_id = f.product_id
         GROUP BY f.participant_id, date_trunc('month', f.business_date), pr.instrument
        RETURNING 1)
    SELECT count(*) FROM kept
$$;
COMMENT ON FUNCTION carbonmkt._keep_trading_months() IS
  'Internal: rebuilds trading_month_stats from the trade tape of every closed day (a day with its market_day_stats row); returns the rows kept.  For the upgrade to 0.2.0 (days closed before) and for fixtures that write market_day_stats directly; end_of_day() keeps each day as it closes it (_keep_trading_day).';
SELECT carbonmkt._dump_register('carbonmkt.trading_month_stats');
REVOKE ALL ON FUNCTION carbonmkt._keep_trading_day(int[], date), carbonmkt._keep_trading_months() FROM PUBLIC;

CREATE OR REPLACE FUNCTION carbonmkt.end_of_day(business_date date DEFAULT NULL, product text DEFAULT NULL)
RETURNS TABLE (product_code text, day date, close numeric, listed_trades bigint, expired_orders bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    d       date := coalesce(end_of_day.business_date, carbonmkt.business_date());
    pid     int;
    p       record;
    x       record;
    dayrow  carbonmkt.product_day;
    n       bigint;
    vwap    bigint;
    closed  int[] := '{}';      -- the products whose day this call closes
BEGIN
    PERFORM carbonmkt._require_exchange('close the trading day');
    IF d > carbonmkt.business_date() THEN
        RAISE EXCEPTION 'business day % has not begun', to_char(d, 'YYYY-MM-DD') USING ERRCODE = '22023';
    END IF;
    IF end_of_day.product IS NOT NULL THEN
        pid := (carbonmkt._product(end_of_day.product)).product_id;
    END IF;
    -- every product's matcher lock, then every account an expiry, release or auction
    -- settlement may post to, up front (doc/registry.md, "Lock order")
    PERFORM carbonmkt._lock_market(
        ARRAY(SELECT y.product_id FROM carbonmkt.product y WHERE pid IS NULL OR y.product_id = pid),
        d,
        (SELECT coalesce(array_agg(DISTINCT a), '{}')
           FROM (SELECT o.holding_account, o.cash_account FROM carbonmkt.market_order o
                  WHERE (pid IS NULL OR o.product_id = pid) AND o.status IN ('queued', 'open') AND o.business_date <= d
                 UNION ALL
                 SELECT y.clearing_account, NULL FROM carbonmkt.product y WHERE pid IS NULL OR y.product_id = pid) live,
                unnest(ARRAY[live.holding_account, live.cash_account]) a
          WHERE a IS NOT NULL));
    FOR p IN SELECT y.product_id, y.code FROM carbonmkt.product y
              WHERE (pid IS NULL OR y.product_id = pid) ORDER BY y.product_id
    LOOP
        dayrow := carbonmkt._product_day(p.product_id, d, true);
        n := 0;
        IF dayrow.closed_at IS NULL THEN
            -- one-way bidding: close what has finished bidding, cancel the rest
            FOR x IN SELECT a.auction_id, a.closes_at FROM carbonmkt.auction a
                      WHERE a.product_id = p.product_id AND a.status = 'open'
                        AND carbonmkt.business_date(a.opens_at) <= d ORDER BY a.auction_id
            LOOP
                IF carbonmkt.clock_now() >= x.closes_at AND d = carbonmkt.business_date() THEN
                    PERFORM carbonmkt._close_auction(x.auction_id);
                ELSE
                    PERFORM carbonmkt._end_order(o.order_id, 'expired', 'end_of_day')
                       FROM carbonmkt.market_order o
                      WHERE o.auction_id = x.auction_id AND o.status IN ('queued', 'open');
                    UPDATE carbonmkt.auction a SET status = 'cancelled', closed_at = carbonmkt.clock_now()
                     WHERE a.auction_id = x.auction_id;
                END IF;
            END LOOP;
            -- block deals that were not accepted expire with the session
            UPDATE carbonmkt.block_deal b SET status = 'expired', ended_at = carbonmkt.clock_now()
             WHERE b.product_id = p.product_id AND b.business_date <= d AND b.status IN ('proposed', 'confirmed');
            -- every live order of the day (or earlier) expires and releases its hold
            FOR x IN SELECT o.order_id FROM carbonmkt.market_order o
                      WHERE o.product_id = p.product_id AND o.status IN ('queued', 'open') AND o.business_date <= d
                      ORDER BY o.order_id
            LOOP
                PERFORM carbonmkt._end_order(x.order_id, 'expired', 'end_of_day');
                n := n + 1;
            END LOOP;
            SELECT round(sum(t.price_fen::numeric * t.quantity) / sum(t.quantity))::bigint INTO vwap
              FROM carbonmkt.trade t
             WHERE t.product_id = p.product_id AND t.business_date = d AND t.mode = 'listed';
            UPDATE carbonmkt.product_day y SET close_fen = coalesce(vwap, y.prev_close_fen), closed_at = carbonmkt.clock_now()
             WHERE y.product_id = p.product_id AND y.business_date = d
            RETURNING * INTO dayrow;
            -- the day's statistics, kept with the close (no trades after it)
            INSERT INTO carbonmkt.market_day_stats
            SELECT p.product_id, d, f.open_fen, f.high_fen, f.low_fen, f.last_fen, f.listed_volume_t,
                   f.listed_turnover_fen, f.block_volume_t, f.block_turnover_fen, f.auction_volume_t,
                   f.auction_turnover_fen, f.volume_t, f.turnover_fen, coalesce(f.trades, 0)
              FROM (SELECT 1) one
              LEFT JOIN carbonmkt._market_day_figures f ON f.product_id = p.product_id AND f.business_date = d;
            closed := closed || p.product_id;
        END IF;
        product_code := p.code;
        day := d;
        close := (dayrow.close_fen / 100.0)::numeric(14, 2);
        SELECT count(*) INTO listed_trades FROM carbonmkt.trade t
         WHERE t.product_id = p.product_id AND t.business_date = d AND t.mode = 'listed';
        expired_orders := n;
        RETURN NEXT;
    END LOOP;
    -- each participant's trades of the days just closed, added to its month (bi_trading_*)
    PERFORM carbonmkt._keep_trading_day(closed, d);
END
$$;
COMMENT ON FUNCTION carbonmkt.end_of_day(date, text) IS
  'Closes a trading day (收盘) per product: closes auctions whose window ended (cancels the others), expires block deals not accepted and every live order (releasing its hold), and fixes the closing price = volume-weighted average price of the day''s listed-agreement trades, else the previous close, with the day''s statistics (market_day_stats) and each participant''s trades of the day added to its month (trading_month_stats).  No more orders that day afterwards.  Idempotent.  Exchange or registry staff only.';

-- Trading activity: per participant, month and instrument.  A closed day's trades are in the
-- rows end_of_day() kept (trading_month_stats), a day not closed yet is read from the tape
CREATE VIEW carbonmkt._trading_month AS
-- the kept rows of the closed days, full-joined (by hash) with the days not closed yet (no
-- market_day_stats row): their figures from the tape by index (OFFSET 0: a lookup per open
-- day, never an aggregate over the whole tape)
WITH live AS (
    SELECT f.participant_id, date_trunc('month', d.business_date)::date AS month, pr.instrument,
           sum(f.trades)::bigint AS trades, sum(f.bought_t)::bigint AS bought_t, sum(f.sold_t)::bigint AS sold_t,
           sum(f.bought_fen)::bigint AS bought_fen, sum(f.sold_fen)::bigint AS sold_fen, sum(f.fees_fen)::bigint AS fees_fen,
           sum(f.listed_t)::bigint AS listed_t, sum(f.block_t)::bigint AS block_t, sum(f.auction_t)::bigint AS auction_t,
           min(d.business_date) AS first_trade_date, max(d.business_date) AS last_trade_date
      FROM carbonmkt.product_day d
      JOIN carbonmkt.product pr ON pr.product_id = d.product_id
     CROSS JOIN LATERAL (SELECT f.* FROM carbonmkt._trading_day_figures f
                          WHERE f.product_id = d.product_id AND f.business_date = d.business_date OFFSET 0) f
     WHERE NOT EXISTS (SELECT 1 FROM carbonmkt.market_day_stats s
                        WHERE s.product_id = d.product_id AND s.business_date = d.business_date)
     GROUP BY f.participant_id, date_trunc('month', d.business_date), pr.instrument)
SELECT coalesce(k.participant_id, l.participant_id) AS participant_id, coalesce(k.month, l.month) AS month,
       coalesce(k.instrument, l.instrument) AS instrument,
       coalesce(k.trades, 0) + coalesce(l.trades, 0) AS trades,
       coalesce(k.bought_t, 0) + coalesce(l.bought_t, 0) AS bought_t,
       coalesce(k.sold_t, 0) + coalesce(l.sold_t, 0) AS sold_t,
       coalesce(k.bought_fen, 0) + coalesce(l.bought_fen, 0) AS bought_fen,
       coalesce(k.sold_fen, 0) + coalesce(l.sold_fen, 0) AS sold_fen,
       coalesce(k.fees_fen, 0) + coalesce(l.fees_fen, 0) AS fees_fen,
       coalesce(k.listed_t, 0) + coalesce(l.listed_t, 0) AS listed_t,
       coalesce(k.block_t, 0) + coalesce(l.block_t, 0) AS block_t,
       coalesce(k.auction_t, 0) + coalesce(l.auction_t, 0) AS auction_t,
       least(k.first_trade_date, l.first_trade_date) AS first_trade_date,
       greatest(k.last_trade_date, l.last_trade_date) AS last_trade_date
  FROM carbonmkt.trading_month_stats k
  FULL JOIN live l ON l.participant_id = k.participant_id AND l.month = k.month AND l.instrument = k.instrument;
COMMENT ON VIEW carbonmkt._trading_month IS
  'Internal: the trade tape per participant, month and instrument (fen and t): the rows end_of_day() kept for the closed days (trading_month_stats) plus, for the days not closed yet (a product_day without its market_day_stats row; every trade follows an order of its day, which created the day), their figures from the tape (_trading_day_figures, by index).  Unscoped: read by bi_trading_activity and bi_trading_by_sector, which apply the caller''s scope.';

CREATE OR REPLACE VIEW carbonmkt.bi_trading_activity AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT m.participant_id, p.name AS participant_name, p.kind::text AS participant_kind, p.province,
       r.name_zh AS province_name, p.sector, sec.name_zh AS sector_name,
       m.month, m.instrument::text AS instrument, m.trades, m.bought_t, m.sold_t, m.bought_t - m.sold_t AS net_t,
       round(m.bought_fen / 100.0, 2) AS bought_cny, round(m.sold_fen / 100.0, 2) AS sold_cny,
       round(m.fees_fen / 100.0, 2) AS fees_cny, m.listed_t, m.block_t, m.auction_t,
       m.first_trade_date, m.last_trade_date
  FROM carbonmkt._trading_month m
  JOIN carbonmkt.participant p ON p.participant_id = m.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province
  LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 CROSS JOIN s
 WHERE s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city;
COMMENT ON VIEW carbonmkt.bi_trading_activity IS
  'BI: trading activity (交易情况) per participant, month and instrument, from the trade tape (a closed day from the rows end_of_day() kept, trading_month_stats; a day not closed yet from the tape itself): trades (fills, 成交), tonnes bought, sold and net, their value and the fees paid in CNY, tonnes per trading mode (listed 挂牌协议, block 大宗协议, one-way bidding 单向竞价), first and last trading day.  A participant''s login sees its own rows, an authority its jurisdiction, registry and BI every participant.';
CREATE OR REPLACE VIEW carbonmkt.bi_trading_by_sector AS
WITH s AS MATERIALIZED (SELECT c.* FROM carbonmkt.caller_scope() c)
SELECT m.month, p.sector, sec.name AS sector_name_en,
       coalesce(sec.name_zh, '非重点排放单位') AS sector_name, m.instrument::text AS instrument,
       count(*) AS participants, sum(m.trades)::bigint AS trades,
       sum(m.bought_t)::bigint AS bought_t, sum(m.sold_t)::bigint AS sold_t,
       round(sum(m.bought_fen) / 100.0, 2) AS bought_cny, round(sum(m.sold_fen) / 100.0, 2) AS sold_cny,
       round(sum(m.fees_fen) / 100.0, 2) AS fees_cny
  FROM carbonmkt._trading_month m
  JOIN carbonmkt.participant p ON p.participant_id = m.participant_id
  LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 CROSS JOIN s
 WHERE s.sees_all OR p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city
 GROUP BY m.month, p.sector, sec.name, sec.name_zh, m.instrument;
COMMENT ON VIEW carbonmkt.bi_trading_by_sector IS
  'BI: trading activity per month, sector of the participant (NULL: not a key emitting unit, 非重点排放单位) and instrument: participants, trades (a trade between two participants of one sector counts once per side), tonnes bought and sold, their value and fees in CNY.  From the trade tape as bi_trading_activity reads it (closed days from the rows end_of_day() kept, trading_month_stats).';
DROP VIEW carbonmkt._trade_legs;

-- the days closed before this upgrade: their trades into the kept rows (the views answer as before)
SELECT carbonmkt._keep_trading_months() IS NOT NULL AS kept;

-- the sums per month, instrument and sector kept beside the participant-months
-- (trading_sector_month; bi_trading_by_sector for a caller who sees every participant), one
-- writer of the kept statistics at a time, a participant's sector change moves its months
CREATE TABLE carbonmkt.trading_sector_month (
    month               date NOT NULL CHECK (extract(day FROM month) = 1),
    instrument          carbonmkt.instrument NOT NULL,
    sector              text REFERENCES carbonmkt.sector,
    participants        bigint NOT NULL CHECK (participants >= 0),   -- 0: a day's candidate row whose participants are all kept already
    trades              bigint NOT NULL CHECK (trades > 0),
    bought_t            bigint NOT NULL CHECK (bought_t >= 0),
    sold_t              bigint NOT NULL CHECK (sold_t >= 0),
    bought_fen          bigint NOT NULL CHECK (bought_fen >= 0),
    sold_fen            bigint NOT NULL CHECK (sold_fen >= 0),
    fees_fen            bigint NOT NULL CHECK (fees_fen >= 0),
    UNIQUE NULLS NOT DISTINCT (month, instrument, sector)
);
COMMENT ON TABLE carbonmkt.trading_sector_month IS
  'The rows of trading_month_stats summed per month, instrument and the participant''s sector (NULL: none, 非重点排放单位): participants (their participant-months), trades, tonnes bought and sold, their value and fees in fen.  Kept with them: end_of_day() adds each closed day (_keep_trading_day), and a participant whose sector changes moves its months to the new sector (trigger trading_sector_moved on participant).  Read by bi_trading_by_sector for a caller who sees every participant.  Not public.';
SELECT carbonmkt._dump_register('carbonmkt.trading_sector_month');

CREATE OR REPLACE FUNCTION carbonmkt._keep_trading_day(p_products int[], p_day date) RETURNS void
LANGUAGE plpgsql AS
$$
DECLARE
    m date := date_trunc('month', p_day)::date;
BEGIN
    -- one writer of the kept trading statistics at a time (end_of_day runs once a day and
    -- product; readers are not blocked): which participant-months are new is then exact, and
    -- no two closes lock shared rows in a cycle
    LOCK TABLE carbonmkt.trading_month_stats IN SHARE ROW EXCLUSIVE MODE;
    WITH day AS MATERIALIZED (
        SELECT f.participant_id, pr.instrument, sum(f.trades)::bigint AS trades, sum(f.bought_t)::bigint AS bought_t,
               sum(f.sold_t)::bigint AS sold_t, sum(f.bought_fen)::bigint AS bought_fen, sum(f.sold_fen)::bigint AS sold_fen,
               sum(f.fees_fen)::bigint AS fees_fen, sum(f.listed_t)::bigint AS listed_t, sum(f.block_t)::bigint AS block_t,
               sum(f.auction_t)::bigint AS auction_t,
               NOT EXISTS (SELECT 1 FROM carbonmkt.trading_month_stats k
                            WHERE k.participant_id = f.participant_id AND k.month = m AND k.instrument = pr.instrument) AS first
          FROM unnest(p_products) u(product_id)
          JOIN carbonmkt.product pr ON pr.product_id = u.product_id
         CROSS JOIN LATERAL (SELECT f.* FROM carbonmkt._trading_day_figures f
                              WHERE f.product_id = u.product_id AND f.business_date = p_day OFFSET 0) f
         GROUP BY f.participant_id, pr.instrument),
    by_sector AS (
        INSERT INTO carbonmkt.trading_sector_month AS k
        SELECT m, d.instrument, p.sector, count(*) FILTER (WHERE d.first), sum(d.trades), sum(d.bought_t), sum(d.sold_t),
               sum(d.bought_fen), sum(d.sold_fen), sum(d.fees_fen)
          FROM day d JOIN carbonmkt.participant p ON p.participant_id = d.participant_id
         GROUP BY d.instrument, p.sector
            ON CONFLICT (month, instrument, sector) DO UPDATE
           SET participants = k.participants + excluded.participants, trades = k.trades + excluded.trades,
               bought_t = k.bought_t + excluded.bought_t, sold_t = k.sold_t + excluded.sold_t,
               bought_fen = k.bought_fen + excluded.bought_fen, sold_fen = k.sold_fen + excluded.sold_fen,
               fees_fen = k.fees_fen + excluded.fees_fen)
    INSERT INTO carbonmkt.trading_month_stats AS k
    SELECT d.participant_id, m, d.instrument, d.trades, d.bought_t, d.sold_t, d.bought_fen, d.sold_fen, d.fees_fen,
           d.listed_t, d.block_t, d.auction_t, p_day, p_day
      FROM day d
        ON CONFLICT (participant_id, month, instrument) DO UPDATE
       SET trades = k.trades + excluded.trades, bought_t = k.bought_t + excluded.bought_t,
           sold_t = k.sold_t + excluded.sold_t, bought_fen = k.bought_fen + excluded.bought_fen,
           sold_fen = k.sold_fen + excluded.sold_fen, fees_fen = k.fees_fen + excluded.fees_fen,
           listed_t = k.listed_t + excluded.listed_t, block_t = k.block_t + excluded.block_t,
           auction_t = k.auction_t + excluded.auction_t,
           first_trade_date = least(k.first_trade_date, excluded.first_trade_date),
           last_trade_date = greatest(k.last_trade_date, excluded.last_trade_date);
END
$$;
COMMENT ON FUNCTION carbonmkt._keep_trading_day(int[], date) IS
  'Internal, for end_of_day(): adds the trades of the products'' day (_trading_day_figures) to each participant''s month in trading_month_stats and to its sector''s month in trading_sector_month (a participant-month kept for the first time counts one participant more), in the transaction that closes those days and writes their market_day_stats rows; one writer at a time (a SHARE ROW EXCLUSIVE lock on trading_month_stats).  Once per product and day: a second call would count the day twice.';

CREATE OR REPLACE FUNCTION carbonmkt._keep_trading_months() RETURNS bigint
LANGUAGE sql AS
$$
    LOCK TABLE carbonmkt.trading_month_stats IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM carbonmkt.trading_sector_month;
    DELETE FROM carbonmkt.trading_month_stats;
    INSERT INTO carbonmkt.trading_month_stats
    SELECT f.participant_id, date_trunc('month', f.business_date)::date, pr.instrument, sum(f.trades),
           sum(f.bought_t), sum(f.sold_t), sum(f.bought_fen), sum(f.sold_fen), sum(f.fees_fen),
           sum(f.listed_t), sum(f.block_t), sum(f.auction_t), min(f.business_date), max(f.business_date)
      FROM carbonmkt._trading_day_figures f
      JOIN carbonmkt.market_day_stats s ON s.product_id = f.product_id AND s.business_date = f.business_date
      JOIN carbonmkt.product pr ON pr.product_id = f.product_id
     GROUP BY f.participant_id, date_trunc('month', f.business_date), pr.instrument;
    INSERT INTO carbonmkt.trading_sector_month
    SELECT k.month, k.instrument, p.sector, count(*), sum(k.trades), sum(k.bought_t), sum(k.sold_t),
           sum(k.bought_fen), sum(k.sold_fen), sum(k.fees_fen)
      FROM carbonmkt.trading_month_stats k JOIN carbonmkt.participant p ON p.participant_id = k.participant_id
     GROUP BY k.month, k.instrument, p.sector;
    SELECT count(*) FROM carbonmkt.trading_month_stats
$$;
COMMENT ON FUNCTION carbonmkt._keep_trading_months() IS
  'Internal: rebuilds trading_month_stats from the trade tape of every closed day (a day with its market_day_stats row) and trading_sector_month from it; returns the participant-months kept.  For the upgrade to 0.2.0 (days closed before) and for fixtures that write market_day_stats directly; end_of_day() keeps each day as it closes it (_keep_trading_day).';

CREATE FUNCTION carbonmkt._trading_sector_moved() RETURNS trigger
LANGUAGE plpgsql AS
$$
BEGIN
    LOCK TABLE carbonmkt.trading_month_stats IN SHARE ROW EXCLUSIVE MODE;
    -- the participant's kept months leave its former sector ...
    UPDATE carbonmkt.trading_sector_month x
       SET participants = x.participants - 1, trades = x.trades - k.trades, bought_t = x.bought_t - k.bought_t,
           sold_t = x.sold_t - k.sold_t, bought_fen = x.bought_fen - k.bought_fen, sold_fen = x.sold_fen - k.sold_fen,
           fees_fen = x.fees_fen - k.fees_fen
      FROM carbonmkt.trading_month_stats k
     WHERE k.participant_id = NEW.participant_id AND x.month = k.month AND x.instrument = k.instrument
       AND x.sector IS NOT DISTINCT FROM OLD.sector AND x.participants > 1;
    DELETE FROM carbonmkt.trading_sector_month x
     USING carbonmkt.trading_month_stats k
     WHERE k.participant_id = NEW.participant_id AND x.month = k.month AND x.instrument = k.instrument
       AND x.sector IS NOT DISTINCT FROM OLD.sector AND x.participants = 1;
    -- ... for its new one
    INSERT INTO carbonmkt.trading_sector_month AS x
    SELECT k.month, k.instrument, NEW.sector, 1, k.trades, k.bought_t, k.sold_t, k.bought_fen, k.sold_fen, k.fees_fen
      FROM carbonmkt.trading_month_stats k
     WHERE k.participant_id = NEW.participant_id
        ON CONFLICT (month, instrument, sector) DO UPDATE
       SET participants = x.participants + 1, trades = x.trades + excluded.trades,
           bought_t = x.bought_t + excluded.bought_t, sold_t = x.sold_t + excluded.sold_t,
           bought_fen = x.bought_fen + excluded.bought_fen, sold_fen = x.sold_fen + excluded.sold_fen,
           fees_fen = x.fees_fen + excluded.fees_fen;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION carbonmkt._trading_sector_moved() IS
  'Internal, trigger trading_sector_moved on participant (its sector changed): moves the participant''s kept months (trading_month_stats) from its former sector''s rows of trading_sector_month to the new sector''s, so that bi_trading_by_sector stays the tape''s aggregate by the current sector.';
CREATE TRIGGER trading_sector_moved AFTER UPDATE OF sector ON carbonmkt.participant
    FOR EACH ROW WHEN (OLD.sector IS DISTINCT FROM NEW.sector) EXECUTE FUNCTION carbonmkt._trading_sector_moved();
REVOKE ALL ON FUNCTION carbonmkt._trading_sector_moved() FROM PUBLIC;

CREATE VIEW carbonmkt._trading_month_live AS
-- the days not closed yet (no market_day_stats row): their figures from the tape by index
-- (OFFSET 0: a lookup per open day, never an aggregate over the whole tape)
SELECT f.participant_id, date_trunc('month', d.business_date)::date AS month, pr.instrument,
       sum(f.trades)::bigint AS trades, sum(f.bought_t)::bigint AS bought_t, sum(f.sold_t)::bigint AS sold_t,
       sum(f.bought_fen)::bigint AS bought_fen, sum(f.sold_fen)::bigint AS sold_fen, sum(f.fees_fen)::bigint AS fees_fen,
       sum(f.listed_t)::bigint AS listed_t, sum(f.block_t)::bigint AS block_t, sum(f.auction_t)::bigint AS auction_t,
       min(d.business_date) AS first_trade_date, max(d.business_date) AS last_trade_date
  FROM carbonmkt.product_day d
  JOIN carbonmkt.product pr ON pr.product_id = d.product_id
 CROSS JOIN LATERAL (SELECT f.* FROM carbonmkt._trading_day_figures f
                      WHERE f.product_id = d.product_id AND f.business_date = d.business_date OFFSET 0) f
 WHERE NOT EXISTS (SELECT 1 FROM carbonmkt.market_day_stats s
                    WHERE s.product_id = d.product_id AND s.business_date = d.business_date)
 GROUP BY f.participant_id, date_trunc('month', d.business_date), pr.instrument;
COMMENT ON VIEW carbonmkt._trading_month_live IS
  'Internal: the trade tape of the days not closed yet (a product_day without its market_day_stats row; every trade follows an order of its day, which created the day) per participant, month and instrument (fen and t), from _trading_day_figures by index: what trading_month_stats does not hold yet.  Unscoped.';

CREATE OR REPLACE VIEW carbonmkt._trading_month AS
-- the kept rows of the closed days, full-joined (by hash) with the days not closed yet
SELECT coalesce(k.participant_id, l.participant_id) AS participant_id, coalesce(k.month, l.month) AS month,
       coalesce(k.instrument, l.instrument) AS instrument,
       coalesce(k.trades, 0) + coalesce(l.trades, 0) AS trades,
       coalesce(k.bought_t, 0) + coalesce(l.bought_t, 0) AS bought_t,
       coalesce(k.sold_t, 0) + coalesce(l.sold_t, 0) AS sold_t,
       coalesce(k.bought_fen, 0) + coalesce(l.bought_fen, 0) AS bought_fen,
       coalesce(k.sold_fen, 0) + coalesce(l.sold_fen, 0) AS sold_fen,
       coalesce(k.fees_fen, 0) + coalesce(l.fees_fen, 0) AS fees_fen,
       coalesce(k.listed_t, 0) + coalesce(l.listed_t, 0) AS listed_t,
       coalesce(k.block_t, 0) + coalesce(l.block_t, 0) AS block_t,
       coalesce(k.auction_t, 0) + coalesce(l.auction_t, 0) AS auction_t,
       least(k.first_trade_date, l.first_trade_date) AS first_trade_date,
       greatest(k.last_trade_date, l.last_trade_date) AS last_trade_date
  FROM carbonmkt.trading_month_stats k
  FULL JOIN carbonmkt._trading_month_live l
    ON l.participant_id = k.participant_id AND l.month = k.month AND l.instrument = k.instrument;
COMMENT ON VIEW carbonmkt._trading_month IS
  'Internal: the trade tape per participant, month and instrument (fen and t): the rows end_of_day() kept for the closed days (trading_month_stats) plus the days not closed yet (_trading_month_live).  Unscoped: read by bi_trading_activity and bi_trading_by_sector, which apply the caller''s scope.';

CREATE OR REPLACE VIEW carbonmkt.bi_trading_by_sector AS
WITH s AS MATERIALIZED (SELECT c.sees_all IS TRUE AS sees_all, c.participant_id, c.province, c.city
                          FROM carbonmkt.caller_scope() c),
x AS (
    -- a caller who sees every participant: the sums kept per sector (trading_sector_month) plus
    -- the days not closed yet, a participant counted once per month (not if its month is kept)
    SELECT k.month, k.instrument, k.sector, k.participants, k.trades, k.bought_t, k.sold_t,
           k.bought_fen, k.sold_fen, k.fees_fen
      FROM carbonmkt.trading_sector_month k
     WHERE (SELECT s.sees_all FROM s)
    UNION ALL
    SELECT l.month, l.instrument, p.sector,
           CASE WHEN EXISTS (SELECT 1 FROM carbonmkt.trading_month_stats k
                              WHERE k.participant_id = l.participant_id AND k.month = l.month
                                AND k.instrument = l.instrument) THEN 0 ELSE 1 END,
           l.trades, l.bought_t, l.sold_t, l.bought_fen, l.sold_fen, l.fees_fen
      FROM carbonmkt._trading_month_live l
      JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
     WHERE (SELECT s.sees_all FROM s)
    UNION ALL
    -- anyone else: the participant-months of its scope
    SELECT m.month, m.instrument, p.sector, 1, m.trades, m.bought_t, m.sold_t, m.bought_fen, m.sold_fen, m.fees_fen
      FROM carbonmkt._trading_month m
      JOIN carbonmkt.participant p ON p.participant_id = m.participant_id
     CROSS JOIN s
     WHERE NOT (SELECT s.sees_all FROM s)
       AND (p.participant_id = s.participant_id OR p.province = s.province OR p.city = s.city))
SELECT x.month, x.sector, sec.name AS sector_name_en,
       coalesce(sec.name_zh, '非重点排放单位') AS sector_name, x.instrument::text AS instrument,
       sum(x.participants)::bigint AS participants, sum(x.trades)::bigint AS trades,
       sum(x.bought_t)::bigint AS bought_t, sum(x.sold_t)::bigint AS sold_t,
       round(sum(x.bought_fen) / 100.0, 2) AS bought_cny, round(sum(x.sold_fen) / 100.0, 2) AS sold_cny,
       round(sum(x.fees_fen) / 100.0, 2) AS fees_cny
  FROM x
  LEFT JOIN carbonmkt.sector sec ON sec.code = x.sector
 GROUP BY x.month, x.sector, sec.name, sec.name_zh, x.instrument;
COMMENT ON VIEW carbonmkt.bi_trading_by_sector IS
  'BI: trading activity per month, sector of the participant (NULL: not a key emitting unit, 非重点排放单位) and instrument: participants, trades (a trade between two participants of one sector counts once per side), tonnes bought and sold, their value and fees in CNY.  From the trade tape: for a caller who sees every participant the sums end_of_day() kept per sector for the closed days (trading_sector_month) plus the days not closed yet; for anyone else the participant-months of its scope as bi_trading_activity reads them.';
-- the kept rows again, now with the sums per sector
SELECT carbonmkt._keep_trading_months() IS NOT NULL AS kept;

-- (end of Performance/tape)


-- -- Performance/asof (issue 16, session 4): balance_as_of at 20 M entries; after every other section, so its definitions are final --

-- balance_as_of() from per-account balance snapshots written by seal_day() off the posting path
-- (doc/registry.md, Balances in the past; doc/performance.md, registry_scale).
-- Balance snapshots (期初余额): what balance_as_of() starts from instead of reading an account's
-- whole history.  Written off the posting path, by seal_day() (carbonmkt._snapshot_balances),
-- for an account once it has a span of entries (64, or as many as the assets it holds) that
-- no snapshot covers yet; nothing on the posting path reads or writes them.  A snapshot is
-- a fact about a fixed stretch of an append-only chain, so it never changes: the state of
-- every asset after entry seq (the last entry of each asset up to it), the earliest
-- recorded_at of its own stretch (from_seq .. seq) and the latest recorded_at of everything
-- up to it.  recorded_at is the posting's clock, read before the accounts are locked, so it
-- need not grow with seq; these two bounds are what lets balance_as_of() give exactly the
-- rows of the plain definition for any instant (doc/registry.md, Balances in the past).
CREATE TABLE carbonmkt.balance_snapshot (
    -- a TRUNCATE of the accounts (CASCADE) takes the snapshots with it; an account with
    -- entries is never deleted (account_keeps_journal)
    account_id      bigint NOT NULL REFERENCES carbonmkt.account,
    seq             bigint NOT NULL,          -- the state after this entry of the account's chain
    from_seq        bigint NOT NULL,          -- the first entry the previous snapshot does not cover
    first_recorded  timestamptz NOT NULL,     -- min(recorded_at) of entries from_seq .. seq
    through_recorded timestamptz NOT NULL,    -- max(recorded_at) of entries 1 .. seq
    -- every asset with an entry up to seq: its balance_after and held_after there
    instruments     carbonmkt.instrument[] NOT NULL,
    vintages        int[] NOT NULL,
    projects        text[] NOT NULL,
    balances        bigint[] NOT NULL,
    helds           bigint[] NOT NULL,
    -- balance_as_of() walks the bounds of an account's snapshots after an instant in this index alone
    PRIMARY KEY (account_id, seq) INCLUDE (first_recorded, through_recorded)
);
COMMENT ON TABLE carbonmkt.balance_snapshot IS
  'Per-account balance snapshots (期初余额) written by seal_day() off the posting path: the balance and held quantity of every asset after entry seq, the earliest recorded_at of the entries from_seq..seq and the latest of entries 1..seq; balance_as_of() reads one of them and the few entries since (doc/registry.md, Balances in the past).  Derived from the journal; never changed.';
SELECT carbonmkt._dump_register('carbonmkt.balance_snapshot');

-- The balance snapshots, written by seal_day() (and by the upgrade from 0.1.0 for the journal
-- it finds): for every account whose entries since its last snapshot reach a span (span, or
-- as many as the assets of that snapshot, so that a snapshot is never larger than the
-- entries it saves reading), one snapshot per span, from the previous one and the span's
-- entries; repeated until no account has a full span left.  Only committed entries up to
-- the account's committed head are read (one statement each round), and they never change.
CREATE FUNCTION carbonmkt._snapshot_balances(span int DEFAULT 64) RETURNS bigint
LANGUAGE plpgsql AS
$$
DECLARE
    todo    bigint[];   -- the accounts of the next round (NULL: every account)
    written bigint := 0;
    k       bigint;
BEGIN
    IF span IS NULL OR span < 1 THEN
        RAISE EXCEPTION '_snapshot_balances: span must be a positive number of entries, got %', coalesce(span::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    -- one writer at a time (two would compute the same snapshots); readers go on
    LOCK TABLE carbonmkt.balance_snapshot IN SHARE ROW EXCLUSIVE MODE;
    LOOP
        WITH cand AS (
            SELECT a.account_id, coalesce(p.seq, 0) AS prev_seq, p.through_recorded AS prev_through,
                   p.instruments, p.vintages, p.projects, p.balances, p.helds,
                   greatest(span, coalesce(cardinality(p.instruments), 0)) AS size
              FROM carbonmkt.account a
              LEFT JOIN LATERAL (SELECT s.* FROM carbonmkt.balance_snapshot s
                                  WHERE s.account_id = a.account_id ORDER BY s.seq DESC LIMIT 1) p ON true
             WHERE (todo IS NULL OR a.account_id = ANY (todo))
               AND a.head_seq - coalesce(p.seq, 0) >= greatest(span, coalesce(cardinality(p.instruments), 0))),
        ins AS (
            INSERT INTO carbonmkt.balance_snapshot
            SELECT c.account_id, e.last_seq, c.prev_seq + 1, e.lo, greatest(c.prev_through, e.hi),
                   st.instruments, st.vintages, st.projects, st.balances, st.helds
              FROM cand c
             CROSS JOIN LATERAL (
                   SELECT min(j.recorded_at) AS lo, max(j.recorded_at) AS hi, max(j.seq) AS last_seq, count(*) AS n
                     FROM carbonmkt.journal j
                    WHERE j.account_id = c.account_id AND j.seq > c.prev_seq AND j.seq <= c.prev_seq + c.size) e
             CROSS JOIN LATERAL (
                   SELECT array_agg(x.instrument ORDER BY x.instrument, x.vintage, x.project) AS instruments,
                          array_agg(x.vintage ORDER BY x.instrument, x.vintage, x.project) AS vintages,
                          array_agg(x.project ORDER BY x.instrument, x.vintage, x.project) AS projects,
                          array_agg(x.balance ORDER BY x.instrument, x.vintage, x.project) AS balances,
                          array_agg(x.held ORDER BY x.instrument, x.vintage, x.project) AS helds
                     FROM (SELECT DISTINCT ON (y.instrument, y.vintage, y.project) y.*
                             FROM (SELECT u.instrument, u.vintage, u.project, u.balance, u.held, 0::bigint AS seq
                                     FROM unnest(c.instruments, c.vintages, c.projects, c.balances, c.helds)
                                          u(instrument, vintage, project, balance, held)
                                   UNION ALL
                                   SELECT j.instrument, j.vintage, j.project, j.balance_after, j.held_after, j.seq
                                     FROM carbonmkt.journal j
                                    WHERE j.account_id = c.account_id
                                      AND j.seq > c.prev_seq AND j.seq <= c.prev_seq + c.size) y
                            ORDER BY y.instrument, y.vintage, y.project, y.seq DESC) x) st
             -- the whole span, contiguous (the chain has no gaps)
             WHERE e.n = c.size AND e.last_seq = c.prev_seq + c.size
            RETURNING balance_snapshot.account_id)
        SELECT array_agg(i.account_id), count(*) INTO todo, k FROM ins i;
        EXIT WHEN k = 0;
        written := written + k;
    END LOOP;
    RETURN written;
END
$$;
COMMENT ON FUNCTION carbonmkt._snapshot_balances(int) IS
  'Internal: writes the balance snapshots (carbonmkt.balance_snapshot) every account is due: one per span of entries (span, or the number of assets of its last snapshot if larger) not yet covered; returns how many it wrote.  seal_day() calls it; the upgrade from 0.1.0 calls it once for the journal it finds.';
REVOKE ALL ON FUNCTION carbonmkt._snapshot_balances(int) FROM PUBLIC;

CREATE OR REPLACE FUNCTION carbonmkt.seal_day(business_date date)
RETURNS bytea LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    d record;
BEGIN
    PERFORM carbonmkt._require_registry('seal a business day');
    IF seal_day.business_date IS NULL OR NOT isfinite(seal_day.business_date) THEN
        RAISE EXCEPTION 'seal_day: business_date must be a finite date, got %', coalesce(seal_day.business_date::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF seal_day.business_date >= carbonmkt.business_date() THEN
        RAISE EXCEPTION 'business day % is not over yet', to_char(seal_day.business_date, 'YYYY-MM-DD')
            USING ERRCODE = '22023', DETAIL = format('Today is %s.', to_char(carbonmkt.business_date(), 'YYYY-MM-DD'));
    END IF;
    IF EXISTS (SELECT 1 FROM carbonmkt.day_seal s WHERE s.business_date >= seal_day.business_date) THEN
        RAISE EXCEPTION 'business day % or a later one is already sealed', to_char(seal_day.business_date, 'YYYY-MM-DD')
            USING ERRCODE = 'CM012';
    END IF;
    -- every account's chain, as it stands: no other posting may interleave
    LOCK TABLE carbonmkt.day_seal IN EXCLUSIVE MODE;
    d := carbonmkt.heads_digest(seal_day.business_date);
    INSERT INTO carbonmkt.day_seal VALUES (seal_day.business_date, d.digest, d.accounts, d.entries,
                                           carbonmkt.clock_now(), session_user);
    -- the balance snapshots the accounts are due (off the posting path: balance_as_of() reads them)
    PERFORM carbonmkt._snapshot_balances();
    RETURN d.digest;
END
$$;
COMMENT ON FUNCTION carbonmkt.seal_day(date) IS
  'Seals a finished business day with a SHA-256 digest over every account''s chain head at its end; no posting may be dated on or before a sealed day.  Then writes the balance snapshots the accounts are due (carbonmkt._snapshot_balances).  Registry only.';

-- balance_as_of() gives, for every asset of the account, the balance_after and held_after of
-- its entry with the highest seq among those recorded at or before at_time:
--     SELECT DISTINCT ON (instrument, vintage, project) instrument, vintage, project,
--            balance_after, held_after
--       FROM carbonmkt.journal WHERE account_id = $1 AND recorded_at <= $2
--      ORDER BY instrument, vintage, project, seq DESC
-- (the plain definition, which reads the account's whole history), from a snapshot and the
-- entries since.  recorded_at need not grow with seq, so: base is the last snapshot all of
-- whose entries 1..seq were recorded by at_time (through_recorded, which grows with seq), so
-- its state is the answer up to its seq; after it, only the stretches of snapshots with an
-- entry recorded by at_time (first_recorded <= at_time) and the entries no snapshot covers
-- yet can hold more, and those are read, filtered on recorded_at as the definition does.
CREATE OR REPLACE FUNCTION carbonmkt.balance_as_of(account_id bigint, at_time timestamptz)
RETURNS TABLE (instrument carbonmkt.instrument, vintage int, project text, balance bigint, held bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    base    carbonmkt.balance_snapshot;   -- all NULL when there is none
    upto    bigint;     -- the entries after base.seq that may have been recorded by at_time end here
    tail    bigint;     -- the last entry any snapshot covers
BEGIN
    PERFORM carbonmkt._require_read(balance_as_of.account_id, 'balance');
    -- the snapshots' bounds are read from the primary key's index alone; the base row by its key
    SELECT s.* INTO base FROM carbonmkt.balance_snapshot s
     WHERE s.account_id = balance_as_of.account_id
       AND s.seq = (SELECT max(z.seq) FROM carbonmkt.balance_snapshot z
                     WHERE z.account_id = balance_as_of.account_id AND z.through_recorded <= at_time);
    SELECT max(s.seq) INTO upto FROM carbonmkt.balance_snapshot s
     WHERE s.account_id = balance_as_of.account_id AND s.seq > coalesce(base.seq, 0)
       AND s.first_recorded <= at_time;
    SELECT max(s.seq) INTO tail FROM carbonmkt.balance_snapshot s
     WHERE s.account_id = balance_as_of.account_id;
    RETURN QUERY
    SELECT DISTINCT ON (x.instrument, x.vintage, x.project)
           x.instrument, x.vintage, x.project, x.balance, x.held
      FROM (SELECT u.instrument, u.vintage, u.project, u.balance, u.held, 0::bigint AS seq
              FROM unnest(base.instruments, base.vintages, base.projects, base.balances, base.helds)
                   u(instrument, vintage, project, balance, held)
            UNION ALL
            SELECT j.instrument, j.vintage, j.project, j.balance_after, j.held_after, j.seq
              FROM carbonmkt.journal j
             WHERE j.account_id = balance_as_of.account_id
               AND j.seq > coalesce(base.seq, 0) AND j.seq <= coalesce(upto, base.seq, 0)
               AND j.recorded_at <= at_time
            UNION ALL
            SELECT j.instrument, j.vintage, j.project, j.balance_after, j.held_after, j.seq
              FROM carbonmkt.journal j
             WHERE j.account_id = balance_as_of.account_id AND j.seq > coalesce(tail, 0)
               AND j.recorded_at <= at_time) x
     ORDER BY x.instrument, x.vintage, x.project, x.seq DESC;
END
$$;
COMMENT ON FUNCTION carbonmkt.balance_as_of(bigint, timestamptz) IS
  'An account''s balance and held quantity of every asset at a past instant: of each asset that has an entry recorded at or before it, the balance and held quantity after the latest such entry (in chain order), from a balance snapshot (balance_snapshot) and the entries since.  42501 for another party''s account (carbonmkt._may_read), CM001 for an unknown one.';

-- the snapshots of the journal this database already holds
SELECT carbonmkt._snapshot_balances();

-- (end of Performance/asof)


-- -- Performance/settle (issue 16, session 4): settle_batch and the market's settlement cost; after every other section, so its definitions are final --

-- (end of Performance/settle)


-- -- Performance/wal (issue 16, session 4): the transfer posting path (server time, WAL); after every other section, so its definitions are final --

-- (end of Performance/wal)


-- == End of 0.1.0 -> 0.2.0 ====================================================================
