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

-- >> security (generated part) >>
-- fail-closed staff scope: an authority login acts and sees only through its mapping
-- login -> participant (an authority) -> jurisdiction (doc/security.md)

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
    b record;
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
    b := carbonmkt._begin_posting('set_account_status', NULL,
                                  format('set_account_status(%s,%s,%s)', account_id, status, memo));
    UPDATE carbonmkt.account a SET status = set_account_status.status WHERE a.account_id = set_account_status.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', account_id USING ERRCODE = 'CM001';
    END IF;
    RETURN b.posting_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.set_account_status(bigint, carbonmkt.account_status, text) IS
  'Opens, freezes or closes an account; the change is recorded as a posting.  Registry only.';
CREATE OR REPLACE FUNCTION carbonmkt._may_read(p_account bigint) RETURNS boolean
LANGUAGE sql STABLE AS
$$ SELECT carbonmkt._is_member('carbonmkt_registry') OR (carbonmkt.caller_authority()).participant_id IS NOT NULL
       OR carbonmkt._is_member('carbonmkt_bi') OR carbonmkt._is_member('carbonmkt_exchange')
       OR EXISTS (SELECT 1 FROM carbonmkt.account a
                   WHERE a.account_id = p_account AND a.participant_id = carbonmkt.caller_participant()) $$;
COMMENT ON FUNCTION carbonmkt._may_read(bigint) IS
  'Internal: whether the login may read an account''s history (its owner, or the registry, authorities, exchange, BI).';

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


-- == Correctness: lock order, business time, messages ====================================


-- == One way in: one C posting engine, one API vocabulary =================================


-- == Rules: administration with history, one jurisdiction vocabulary =======================


-- == Performance: incremental verification, storage =======================================


-- == Next phase: paid allocation, reserve, pledge and repo, voluntary cancellation ==========


-- == Dashboard and BI views ==================================================================


-- == End of 0.1.0 -> 0.2.0 ====================================================================
