
-------------------------------------------------------------------------------
-- registry (注册登记): participants, accounts, holdings, holds, CCER blocks and the
-- immutable hash-chained journal.  Every other room moves units only through the
-- posting functions defined here (ARCHITECTURE.md principle 1).
-- C: src/registry.c (credit codes, chain trigger, append-only guard, verification) and
-- src/posting.c (the posting path: transfers, surrender, cancellation, holds, _authorize).
-- Documentation: doc/registry.md.
-------------------------------------------------------------------------------

-- Roles per party (granted here and in each room's file; see src/access.sql) --

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['carbonmkt_registry', 'carbonmkt_authority', 'carbonmkt_exchange',
                             'carbonmkt_settlement', 'carbonmkt_participant', 'carbonmkt_bi']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$$;

-- Parties -------------------------------------------------------------------

CREATE TYPE carbonmkt.participant_kind AS ENUM (
    'key_emitter',           -- 重点排放单位 key emitting unit
    'institution',           -- 机构 financial or other institution
    'individual',            -- 个人 natural person
    'exchange',              -- 全国碳排放权交易机构 the exchange
    'registry',              -- 全国碳排放权注册登记机构 the registry operator
    'national_authority',    -- 国务院生态环境主管部门 MEE
    'provincial_authority',  -- 省级生态环境主管部门
    'city_authority',        -- 设区市生态环境主管部门
    'service_firm'           -- 技术服务机构 / 核查机构 technical service firm, verifier
);
COMMENT ON TYPE carbonmkt.participant_kind IS
  'Kind of market party (RULES.md 1): key_emitter 重点排放单位, institution, individual, exchange, registry, national/provincial/city authority, service_firm 技术服务机构.';

CREATE TABLE carbonmkt.region (
    code        char(6) PRIMARY KEY CHECK (code ~ '^[1-9][0-9]0000$'),
    name        text NOT NULL,
    name_zh     text NOT NULL
);
COMMENT ON TABLE carbonmkt.region IS
  'Provincial-level administrative regions (省级行政区) with their GB/T 2260 codes.  City codes are checked against their province by carbonmkt.valid_city_code().';

INSERT INTO carbonmkt.region (code, name, name_zh) VALUES
  ('110000', 'Beijing', '北京市'), ('120000', 'Tianjin', '天津市'),
  ('130000', 'Hebei', '河北省'), ('140000', 'Shanxi', '山西省'),
  ('150000', 'Inner Mongolia', '内蒙古自治区'), ('210000', 'Liaoning', '辽宁省'),
  ('220000', 'Jilin', '吉林省'), ('230000', 'Heilongjiang', '黑龙江省'),
  ('310000', 'Shanghai', '上海市'), ('320000', 'Jiangsu', '江苏省'),
  ('330000', 'Zhejiang', '浙江省'), ('340000', 'Anhui', '安徽省'),
  ('350000', 'Fujian', '福建省'), ('360000', 'Jiangxi', '江西省'),
  ('370000', 'Shandong', '山东省'), ('410000', 'Henan', '河南省'),
  ('420000', 'Hubei', '湖北省'), ('430000', 'Hunan', '湖南省'),
  ('440000', 'Guangdong', '广东省'), ('450000', 'Guangxi', '广西壮族自治区'),
  ('460000', 'Hainan', '海南省'), ('500000', 'Chongqing', '重庆市'),
  ('510000', 'Sichuan', '四川省'), ('520000', 'Guizhou', '贵州省'),
  ('530000', 'Yunnan', '云南省'), ('540000', 'Xizang', '西藏自治区'),
  ('610000', 'Shaanxi', '陕西省'), ('620000', 'Gansu', '甘肃省'),
  ('630000', 'Qinghai', '青海省'), ('640000', 'Ningxia', '宁夏回族自治区'),
  ('650000', 'Xinjiang', '新疆维吾尔自治区');

CREATE TABLE carbonmkt.sector (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    name_zh     text NOT NULL,
    covered_from int            -- first compliance year in the national market, NULL if not yet
);
COMMENT ON TABLE carbonmkt.sector IS
  'Sectors of key emitting units (RULES.md 2: power since 2021; cement, steel, aluminium from the 2024 year; the other target sectors not yet covered).';
INSERT INTO carbonmkt.sector VALUES
  ('power', 'Power generation', '发电', 2021),
  ('cement', 'Cement clinker', '水泥', 2024),
  ('steel', 'Iron and steel', '钢铁', 2024),
  ('aluminium', 'Aluminium smelting', '电解铝', 2024),
  ('petrochemical', 'Petrochemicals', '石化', NULL),
  ('chemical', 'Chemicals', '化工', NULL),
  ('paper', 'Paper', '造纸', NULL),
  ('aviation', 'Civil aviation', '航空', NULL);

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

-- PL/pgSQL rather than SQL (here and in the helpers below that every posting or order
-- calls): a SQL function that cannot be inlined is planned again on every call, PL/pgSQL
-- keeps its plans for the session (doc/performance.md, "continuous order entry").
CREATE FUNCTION carbonmkt.plausibility_max(subject text, scope text DEFAULT '*') RETURNS numeric
LANGUAGE plpgsql STABLE PARALLEL SAFE AS
$$
BEGIN
    RETURN (SELECT l.max_value FROM carbonmkt.plausibility_limit l
             WHERE l.subject = plausibility_max.subject AND l.scope IN (coalesce(plausibility_max.scope, '*'), '*')
             ORDER BY l.scope = '*' LIMIT 1);
END
$$;
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

CREATE FUNCTION carbonmkt.valid_city_code(city char(6), province char(6))
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT city ~ '^[1-9][0-9][0-9][0-9]00$' AND substr(city, 1, 2) = substr(province, 1, 2)
          AND substr(city, 3, 2) <> '00' $$;
COMMENT ON FUNCTION carbonmkt.valid_city_code(char, char) IS
  'True when a GB/T 2260 city (prefecture-level, 设区市) code has the form PPCC00 and lies in the given province PP0000.';

CREATE TABLE carbonmkt.participant (
    participant_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (btrim(name) <> ''),
    kind            carbonmkt.participant_kind NOT NULL,
    credit_code     text NOT NULL UNIQUE,     -- 统一社会信用代码, GB 32100-2015, checked by trigger
    province        char(6) REFERENCES carbonmkt.region,
    city            char(6),
    sector          text REFERENCES carbonmkt.sector,
    created_at      timestamptz NOT NULL,     -- DEFAULT carbonmkt.clock_now(), set below the clock
    CHECK (city IS NULL OR (province IS NOT NULL AND carbonmkt.valid_city_code(city, province))),
    CHECK (kind <> 'provincial_authority' OR province IS NOT NULL),
    CHECK (kind <> 'city_authority' OR city IS NOT NULL),
    CHECK (kind <> 'key_emitter' OR (province IS NOT NULL AND sector IS NOT NULL))
);
COMMENT ON TABLE carbonmkt.participant IS
  'Market parties identified by their unified social credit code (统一社会信用代码).  Insert through carbonmkt.register_participant().';

CREATE TABLE carbonmkt.participant_login (
    role_name       name PRIMARY KEY,
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant
);
COMMENT ON TABLE carbonmkt.participant_login IS
  'Maps a PostgreSQL login role to the participant it acts for; row-level security and the posting functions use it.';

-- Accounts ------------------------------------------------------------------

CREATE TYPE carbonmkt.instrument AS ENUM ('CEA', 'CCER', 'CNY');
COMMENT ON TYPE carbonmkt.instrument IS
  'CEA 碳排放配额 (tonnes, per vintage), CCER 国家核证自愿减排量 (tonnes, per project and vintage, serial blocks), CNY (fen).';

CREATE TYPE carbonmkt.account_kind AS ENUM (
    'holding',            -- 持有账户: a participant's CEA/CCER holding account
    'cash',               -- 资金账户: a participant's CNY account (fen)
    'national_reserve',   -- 国家储备: national reserve, source of CCER issuance and auctions
    'allocation',         -- 省级配额账户: one per province, source of free allocation
    'clearing',           -- 结算账户: the exchange's clearing account
    'cancellation'        -- 注销账户: sink of surrendered and voluntarily cancelled units
);
COMMENT ON TYPE carbonmkt.account_kind IS 'Registry account kinds (doc/registry.md).';

CREATE TYPE carbonmkt.account_status AS ENUM ('open', 'frozen', 'closed');
COMMENT ON TYPE carbonmkt.account_status IS
  'open: all postings; frozen: credits only, nothing leaves the account; closed: no postings.';

CREATE TABLE carbonmkt.account_kind_instrument (
    kind        carbonmkt.account_kind,
    instrument  carbonmkt.instrument,
    may_issue   boolean NOT NULL DEFAULT false,   -- issuance (创建/签发) may credit this kind
    PRIMARY KEY (kind, instrument)
);
COMMENT ON TABLE carbonmkt.account_kind_instrument IS
  'Which instruments each account kind may hold, and which kinds receive issuance.';
INSERT INTO carbonmkt.account_kind_instrument VALUES
  ('holding', 'CEA', false), ('holding', 'CCER', false),
  ('cash', 'CNY', true),
  ('national_reserve', 'CEA', true), ('national_reserve', 'CCER', true),
  ('allocation', 'CEA', true),
  ('clearing', 'CEA', false), ('clearing', 'CCER', false), ('clearing', 'CNY', false),
  ('cancellation', 'CEA', false), ('cancellation', 'CCER', false);

CREATE TABLE carbonmkt.account (
    account_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            carbonmkt.account_kind NOT NULL,
    participant_id  bigint REFERENCES carbonmkt.participant,
    province        char(6) REFERENCES carbonmkt.region,   -- allocation accounts only
    label           text,
    status          carbonmkt.account_status NOT NULL DEFAULT 'open',
    opened_at       timestamptz NOT NULL,     -- DEFAULT carbonmkt.clock_now(), set below the clock
    -- head of this account's hash chain, maintained by the journal trigger
    head_seq        bigint NOT NULL DEFAULT 0,
    head_hash       bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'
    -- two rules on kind, province and participant_id: trigger account_rules below
);
CREATE UNIQUE INDEX account_one_allocation_per_province ON carbonmkt.account (province)
  WHERE kind = 'allocation';
-- one national reserve and one cancellation account
CREATE UNIQUE INDEX account_one_of_kind ON carbonmkt.account (kind) WHERE kind IN ('national_reserve', 'cancellation');
CREATE INDEX account_participant ON carbonmkt.account (participant_id);

-- Two rules of every account, enforced by a trigger on the columns they read rather than by
-- CHECK constraints: PostgreSQL compiles and evaluates every CHECK constraint of a table on
-- every UPDATE of it, and every posting updates its accounts' chain heads (doc/performance.md).
CREATE FUNCTION carbonmkt.account_rules() RETURNS trigger
LANGUAGE plpgsql AS
$$
BEGIN
    IF (NEW.kind = 'allocation') <> (NEW.province IS NOT NULL) THEN
        RAISE EXCEPTION 'an account of kind % %', NEW.kind,
                        CASE WHEN NEW.kind = 'allocation' THEN 'must have a province' ELSE 'cannot have a province' END
            USING ERRCODE = '23514',
                  DETAIL = format('Account %s, province %s.', NEW.account_id, coalesce(NEW.province::text, '(none)')),
                  HINT = 'Only allocation accounts (省级配额账户) belong to a province.';
    END IF;
    IF NEW.kind NOT IN ('national_reserve', 'cancellation') AND NEW.participant_id IS NULL THEN
        RAISE EXCEPTION 'an account of kind % must belong to a participant', NEW.kind
            USING ERRCODE = '23514',
                  DETAIL = format('Account %s has no participant.', NEW.account_id),
                  HINT = 'Only the national reserve and the cancellation account belong to no participant.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION carbonmkt.account_rules() IS
  'BEFORE INSERT OR UPDATE OF kind, province, participant_id trigger of carbonmkt.account: an allocation account, and only one, has a province; every account but the national reserve and the cancellation account has a participant (23514).';
CREATE TRIGGER account_rules
	BEFORE INSERT OR UPDATE OF kind, province, participant_id ON carbonmkt.account
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.account_rules();
COMMENT ON TABLE carbonmkt.account IS
  'Registry accounts.  head_seq/head_hash are the head of the account''s SHA-256 journal chain.';

-- Balances: one row per account and asset (instrument, vintage, project).
CREATE TABLE carbonmkt.holding (
    account_id  bigint NOT NULL REFERENCES carbonmkt.account,
    instrument  carbonmkt.instrument NOT NULL,
    vintage     int NOT NULL DEFAULT 0,        -- 0 for CNY
    project     text NOT NULL DEFAULT '',      -- CCER project id, '' otherwise
    balance     bigint NOT NULL DEFAULT 0,
    held        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, instrument, vintage, project),
    -- one constraint, not two: each is compiled on every UPDATE (doc/performance.md)
    CONSTRAINT holding_balance_check CHECK (balance >= 0 AND held >= 0 AND held <= balance)
);
COMMENT ON TABLE carbonmkt.holding IS
  'Current balance and held (frozen) quantity per account and asset; available = balance - held.  Rebuilt from the journal by verify_ledger().';

-- Where every CCER serial is now.  The exclusion constraint means no serial can
-- exist twice: surrendered and cancelled blocks stay here, in the cancellation account.
CREATE TABLE carbonmkt.ccer_block (
    block       carbonmkt.ccer NOT NULL,
    account_id  bigint NOT NULL REFERENCES carbonmkt.account,
    EXCLUDE USING gist (block WITH &&)
);
CREATE INDEX ccer_block_owner ON carbonmkt.ccer_block
  (account_id, carbonmkt.project(block), carbonmkt.vintage(block), carbonmkt.first_serial(block));
COMMENT ON TABLE carbonmkt.ccer_block IS
  'Current location of every CCER serial block; adjacent blocks in one account are kept merged.';

-- Holds -----------------------------------------------------------------------

CREATE TYPE carbonmkt.hold_reason AS ENUM ('order', 'pledge', 'judicial', 'other', 'paid_lock');
COMMENT ON TYPE carbonmkt.hold_reason IS 'Why units are frozen: order (open order), pledge 质押, judicial 司法冻结, other, paid_lock (free allowances locked until the unit has bought its paid share, 有偿分配; the finance room lays and lifts it).';
CREATE TYPE carbonmkt.hold_status AS ENUM ('active', 'released', 'consumed');
COMMENT ON TYPE carbonmkt.hold_status IS
  'A hold is active until it ends exactly once: released (the remainder freed) or consumed (fully spent).';

CREATE TABLE carbonmkt.hold (
    hold_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES carbonmkt.account,
    instrument  carbonmkt.instrument NOT NULL,
    vintage     int NOT NULL DEFAULT 0,
    project     text NOT NULL DEFAULT '',
    quantity    bigint NOT NULL CHECK (quantity > 0),
    remaining   bigint NOT NULL CHECK (remaining >= 0 AND remaining <= quantity),
    reason      carbonmkt.hold_reason NOT NULL,
    status      carbonmkt.hold_status NOT NULL DEFAULT 'active',
    created_posting bigint NOT NULL,
    ended_posting   bigint,
    CHECK ((status = 'active') = (ended_posting IS NULL)),
    CHECK (status <> 'consumed' OR remaining = 0)
);
CREATE INDEX hold_account ON carbonmkt.hold (account_id) WHERE status = 'active';
COMMENT ON TABLE carbonmkt.hold IS
  'Frozen quantities.  A hold ends exactly once: released (the remainder is freed) or consumed (fully used by transfers from the hold).';

-- Postings and the journal ---------------------------------------------------

-- One row per externally initiated posting (one SQL call).  (initiator, reference)
-- is the idempotency key: the same reference with the same request returns the
-- original posting; with a different request it is an error.
CREATE TABLE carbonmkt.posting (
    posting_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operation       text NOT NULL,
    initiator       text NOT NULL,           -- the login (session_user)
    reference       text,
    request         text,                    -- canonical text of the request (NULL: see below)
    result          bigint,                  -- e.g. the hold id a hold() returned
    business_date   date NOT NULL,
    recorded_at     timestamptz NOT NULL
);
CREATE UNIQUE INDEX posting_reference ON carbonmkt.posting (initiator, reference)
  WHERE reference IS NOT NULL;
COMMENT ON TABLE carbonmkt.posting IS
  'Every externally initiated posting, with its idempotency key (initiator, reference).  request, the canonical text of the request, is what a retry with the same reference is compared with; the postings made in C (src/posting.c) store it only when a reference is given, since their journal rows carry every field of the request.';

CREATE TYPE carbonmkt.entry_kind AS ENUM (
    'issue',          -- 签发: units created in an authority account / cash deposited
    'withdraw',       -- cash withdrawn from the market
    'debit',          -- units leave the account (transfer, settlement)
    'credit',         -- units arrive
    'hold',           -- units frozen (held_change > 0)
    'release',        -- frozen units freed (held_change < 0)
    'surrender',      -- 清缴: units leave for the cancellation account for a compliance period
    'cancel',         -- 注销: voluntary cancellation
    'retire'          -- the cancellation account's side of a surrender or cancellation
);
COMMENT ON TYPE carbonmkt.entry_kind IS 'Kinds of journal entries (doc/registry.md).';

CREATE TABLE carbonmkt.journal (
    entry_id        bigint GENERATED ALWAYS AS IDENTITY,  -- in append order; no b-tree (below)
    posting_id      bigint NOT NULL,          -- checked by the chain trigger (below)
    account_id      bigint NOT NULL,          -- checked and locked by the chain trigger (below)
    seq             bigint NOT NULL,          -- 1, 2, 3 ... per account (set by trigger)
    kind            carbonmkt.entry_kind NOT NULL,
    instrument      carbonmkt.instrument NOT NULL,
    vintage         int NOT NULL,
    project         text NOT NULL,
    block           carbonmkt.ccer,           -- CCER serials moved, NULL otherwise
    amount          bigint NOT NULL,          -- signed change of balance
    held_change     bigint NOT NULL,          -- signed change of held
    balance_after   bigint NOT NULL,
    held_after      bigint NOT NULL,
    counterparty    bigint,                   -- the other account of a movement
    hold_id         bigint,
    period          int,                      -- compliance period a surrender serves
    business_date   date NOT NULL,
    recorded_at     timestamptz NOT NULL,
    memo            text,
    prev_hash       bytea NOT NULL,           -- set by trigger
    hash            bytea NOT NULL,           -- set by trigger
    PRIMARY KEY (account_id, seq)
);
-- Entries arrive in business-date and posting order, so block-range indexes serve date
-- ranges (day seals, reports) and a posting's legs (a posting's id is drawn just before its
-- legs go in) at a fraction of a b-tree's size and insertion cost: nothing on the posting
-- path looks a posting's legs up.
CREATE INDEX journal_date ON carbonmkt.journal USING brin (business_date)
  WITH (pages_per_range = 32, autosummarize = on);
CREATE INDEX journal_posting ON carbonmkt.journal USING brin (posting_id)
  WITH (pages_per_range = 32, autosummarize = on);
-- The key of an entry is its place in its account's chain, (account_id, seq): the chain
-- trigger and every per-account read go through it.  entry_id, drawn from the identity in
-- append order, is unique as the identity makes it (only a restore gives it values, and the
-- trigger refuses history elsewhere); nothing on the posting path looks an entry up by it, and
-- the few reads that do (a certificate's entry, ranges of new entries) are served by a
-- block-range index: a b-tree on it cost every journal row an index insert, about 60 bytes of
-- WAL and 20 bytes stored (doc/performance.md, "What a transfer writes").
CREATE INDEX journal_entry ON carbonmkt.journal USING brin (entry_id)
  WITH (pages_per_range = 32, autosummarize = on);
COMMENT ON TABLE carbonmkt.journal IS
  'The legal record: append-only, one row per account leg of a posting, SHA-256 hash-chained per account (doc/registry.md).';

-- journal.posting_id needs no foreign key either: the chain trigger refuses a row whose
-- posting does not exist (23503), except for the legs of the posting that posting.c is
-- making, whose statement inserts the posting row with them; postings are append-only
-- (posting_append_only, posting_no_truncate), so none can go away; and verify_ledger()
-- reports any entry without its posting.  (A foreign key would lock the posting row FOR KEY
-- SHARE for every leg: a tenth of a transfer's server time and WAL.)
-- journal.account_id needs no foreign key: every row goes in through the chain trigger
-- (journal_chain, below), which refuses an unknown account (CM001) and holds the account
-- row locked FOR NO KEY UPDATE, more strongly than a foreign-key check would; and an
-- account with journal entries can never be deleted:
CREATE FUNCTION carbonmkt.account_keeps_journal() RETURNS trigger
LANGUAGE plpgsql AS
$$
BEGIN
    IF EXISTS (SELECT 1 FROM carbonmkt.journal j WHERE j.account_id = OLD.account_id) THEN
        RAISE EXCEPTION 'account % has journal entries and cannot be deleted', OLD.account_id
            USING ERRCODE = '23503',
                  DETAIL = 'The journal is the legal record (注册登记) of the account.',
                  HINT = 'Close the account instead: carbonmkt.set_account_status(account, ''closed'').';
    END IF;
    RETURN OLD;
END
$$;
COMMENT ON FUNCTION carbonmkt.account_keeps_journal() IS
  'BEFORE DELETE trigger of carbonmkt.account: an account with journal entries cannot be deleted (23503), as a foreign key from journal.account_id would ensure.';
CREATE TRIGGER account_keeps_journal
	BEFORE DELETE ON carbonmkt.account
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.account_keeps_journal();

CREATE TABLE carbonmkt.day_seal (
    business_date   date PRIMARY KEY,
    digest          bytea NOT NULL,
    accounts        int NOT NULL,
    entries         bigint NOT NULL,
    sealed_at       timestamptz NOT NULL,
    sealed_by       name NOT NULL,
    prev_seal       bytea NOT NULL,           -- seal_hash of the previous seal (set by trigger)
    seal_hash       bytea NOT NULL            -- the anchor published outside (set by trigger)
);
COMMENT ON TABLE carbonmkt.day_seal IS
  'One row per sealed business day: SHA-256 over every account''s chain head at the end of that day, chained to the previous seal; seal_hash is the day''s anchor for publication outside the database (doc/registry.md, Day seals).';

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

-- Acting room --------------------------------------------------------------

CREATE FUNCTION carbonmkt._acting_room() RETURNS text
LANGUAGE C STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'carbonmkt_acting_room';
COMMENT ON FUNCTION carbonmkt._acting_room() IS
  'Internal: the room (mrv, allocation, market, compliance) whose SECURITY DEFINER function is posting, from the SET clause of that function (GUC carbonmkt.acting_room, superuser-only), or NULL.';

-- Clock and business date --------------------------------------------------------

CREATE FUNCTION carbonmkt.clock_now() RETURNS timestamptz
LANGUAGE C VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'carbonmkt_clock_now';
COMMENT ON FUNCTION carbonmkt.clock_now() IS
  'The extension''s clock: the GUC carbonmkt.clock when a superuser set it (to replay a business day), else the real time.';

CREATE FUNCTION carbonmkt.business_date(ts timestamptz DEFAULT carbonmkt.clock_now()) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (ts AT TIME ZONE 'Asia/Shanghai')::date $$;
COMMENT ON FUNCTION carbonmkt.business_date(timestamptz) IS
  'The business date of an instant: its calendar date in China Standard Time (Asia/Shanghai), whatever the session TimeZone.';

-- Every instant the extension records is business time: the defaults of the tables above
-- (created before the clock) come from it too, so a replayed day carries no wall-clock time.
ALTER TABLE carbonmkt.participant ALTER COLUMN created_at SET DEFAULT carbonmkt.clock_now();
ALTER TABLE carbonmkt.account ALTER COLUMN opened_at SET DEFAULT carbonmkt.clock_now();

-- Small helpers ---------------------------------------------------------------

CREATE FUNCTION carbonmkt.format_quantity(instrument carbonmkt.instrument, quantity bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
$$ SELECT CASE WHEN instrument = 'CNY'
               THEN to_char(quantity / 100.0, 'FM999,999,999,999,999,990.00') || ' CNY'
               ELSE to_char(quantity, 'FM999,999,999,999,999,999,990') || ' t' END $$;
COMMENT ON FUNCTION carbonmkt.format_quantity(carbonmkt.instrument, bigint) IS
  'Formats a quantity for messages: tonnes with thousands separators ("50,001 t"), or fen as yuan ("1,234.56 CNY").';

CREATE FUNCTION carbonmkt.format_asset(instrument carbonmkt.instrument, vintage int, project text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS
$$
BEGIN
    RETURN CASE instrument WHEN 'CEA' THEN 'CEA ' || vintage
                           WHEN 'CCER' THEN 'CCER ' || project || ' ' || vintage
                           ELSE 'CNY' END;
END
$$;
COMMENT ON FUNCTION carbonmkt.format_asset(carbonmkt.instrument, int, text) IS
  'Names an asset for messages: "CEA 2024", "CCER GD-OW-0042 2024", "CNY".';

-- The identity a posting is made by: the login (session_user).  SET ROLE does not
-- change whose accounts a session may move (doc/registry.md, Access).
CREATE FUNCTION carbonmkt.caller_participant() RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt AS
$$
BEGIN
    RETURN (SELECT l.participant_id FROM carbonmkt.participant_login l WHERE l.role_name = session_user);
END
$$;
COMMENT ON FUNCTION carbonmkt.caller_participant() IS
  'The participant the session''s login role acts for (participant_login), or NULL.';

-- Staff scope fails closed (doc/security.md): a staff role gives its login nothing until the
-- login is mapped (map_login) to a party of a kind that role stands for, whose jurisdiction is
-- the login's: the registry (注册登记机构), the exchange, the registration and settlement
-- institution or a settlement bank (an institution), BI for the registry or the national
-- authority (the whole market), an authority for itself.
CREATE FUNCTION carbonmkt._staff_kinds(role_name text) RETURNS carbonmkt.participant_kind[]
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

CREATE FUNCTION carbonmkt._login_kind() RETURNS carbonmkt.participant_kind
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    RETURN (SELECT p.kind FROM carbonmkt.participant_login l
              JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
             WHERE l.role_name = session_user);
END
$$;
COMMENT ON FUNCTION carbonmkt._login_kind() IS
  'Internal: the kind of the party the login (session_user) is mapped to, or NULL.';

CREATE FUNCTION carbonmkt._is_member(role_name text) RETURNS boolean
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
COMMENT ON FUNCTION carbonmkt._is_member(text) IS
  'Internal: true when the login is a superuser, or a member of the named carbonmkt role and, for a staff role (registry, exchange, settlement, BI, authority), mapped to a party of a kind the role stands for (carbonmkt._staff_kinds): an unmapped staff login has no staff capability (fail closed, doc/security.md).';

-- Staff scope fails closed (doc/security.md): an authority login acts, and sees, only
-- through its explicit mapping login -> participant (an authority) -> jurisdiction.
CREATE FUNCTION carbonmkt.caller_authority(OUT participant_id bigint, OUT kind carbonmkt.participant_kind,
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

CREATE FUNCTION carbonmkt.caller_sees_staff_rows() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT carbonmkt._is_member('carbonmkt_registry') OR carbonmkt._is_member('carbonmkt_exchange')
       OR carbonmkt._is_member('carbonmkt_settlement') OR carbonmkt._is_member('carbonmkt_bi')
       OR (carbonmkt.caller_authority()).participant_id IS NOT NULL $$;
COMMENT ON FUNCTION carbonmkt.caller_sees_staff_rows() IS
  'Row-level security of the staff_read policies: true for a login of the registry, the exchange, settlement, BI or an authority that is mapped to a party of the kind its role stands for (carbonmkt._is_member); false for an unmapped staff login (fail closed, doc/security.md).';

CREATE FUNCTION carbonmkt._require_scope(p_action text) RETURNS boolean
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

-- Separation of duties (四眼原则, doc/security.md): the login that did the first step of a
-- two-step act may not do the second when a second person is configured, i.e. another
-- login (not a superuser) holds the role the second step needs.  Reusable by every room
-- (judicial holds here; rule-table changes may call it the same way).
CREATE FUNCTION carbonmkt._require_second_person(p_action text, p_first_step text, p_first_login name, p_role text)
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

-- The API's own refusal inside an SQL expression (CASE WHEN bad THEN carbonmkt._refuse(...)):
-- the argument only fixes the result type.
CREATE FUNCTION carbonmkt._refuse(p_type anyelement, p_code text, p_message text, p_hint text DEFAULT NULL)
RETURNS anyelement LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS
$$
BEGIN
    RAISE EXCEPTION '%', p_message USING ERRCODE = p_code, HINT = coalesce(p_hint, '');
END
$$;
COMMENT ON FUNCTION carbonmkt._refuse(anyelement, text, text, text) IS
  'Internal: raises the API''s own error (SQLSTATE p_code, message, hint) from inside an SQL expression; p_type fixes the result type.';

CREATE FUNCTION carbonmkt._require_registry(p_action text) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
BEGIN
    IF NOT carbonmkt._is_member('carbonmkt_registry') THEN
        RAISE EXCEPTION 'only the registry may %', p_action
            USING ERRCODE = '42501',
                  HINT = 'This needs membership in carbonmkt_registry (the registry operator, 注册登记机构).';
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._require_registry(text) IS
  'Internal: raises 42501 unless the login is a member of carbonmkt_registry (or a superuser).';

-- Who may do what to an account (doc/registry.md, Access).  C: src/posting.c, authorize().
--   The account must exist (CM001); units in the cancellation account never move (CM003).
--   The registry (or a superuser) may do anything; so may a room's SECURITY DEFINER function
--   (carbonmkt._acting_room() is allocation, market or compliance), which has authorised its
--   caller by the room's own rules.  Otherwise, for the login's participant:
--     issue, and allocation and national_reserve accounts: carbonmkt_authority with a login
--                    mapped to the national authority (any allocation account, the national
--                    reserve) or to a provincial authority (its own province's allocation
--                    account); a city authority or an unmapped authority login: never
--     cash           carbonmkt_settlement
--     judicial holds, and pledges except laying them: the registry only
--     order holds ('hold' with reason order) and 'settle': carbonmkt_exchange
--     transfer, hold, release, surrender, cancel: the account's own participant
--   anything else: 42501.
CREATE FUNCTION carbonmkt._authorize(p_account bigint, p_action text, p_reason carbonmkt.hold_reason DEFAULT NULL)
RETURNS void
	AS 'MODULE_PATHNAME', 'carbonmkt_authorize'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION carbonmkt._authorize(bigint, text, carbonmkt.hold_reason) IS
  'Internal: raises 42501 unless the login may perform the action on the account.';

-- A posting without journal legs (a change of account status): recorded now,
-- with its request, unless the business day is sealed (CM012).  Every posting
-- with legs is made by the C posting engine (src/posting.c) behind the public
-- functions below.
CREATE FUNCTION carbonmkt._record_posting(p_operation text, p_request text)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_record_posting'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION carbonmkt._record_posting(text, text) IS
  'Internal: records a posting without journal legs (CM012 on a sealed day) and returns its id.';

-- Public API: parties and accounts -------------------------------------------------
-- Every public function is SECURITY DEFINER with a pinned search_path; who may
-- call it is decided by carbonmkt._authorize() and the grants in src/access.sql.

CREATE FUNCTION carbonmkt.register_participant(name text, kind carbonmkt.participant_kind, credit_code text,
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

CREATE FUNCTION carbonmkt.map_login(role_name name, participant_id bigint)
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

CREATE FUNCTION carbonmkt.open_account(participant_id bigint, kind carbonmkt.account_kind, label text DEFAULT NULL)
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

CREATE FUNCTION carbonmkt.set_account_status(account_id bigint, status carbonmkt.account_status, memo text DEFAULT NULL)
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

-- Public API: postings ----------------------------------------------------------

-- Issuance and deposits: the quantity within its plausibility limit (issue_quantity), and no
-- balance beyond the int8 range (src/posting.c, post_single).
CREATE FUNCTION carbonmkt._check_issue(p_operation text, p_account bigint, p_instrument carbonmkt.instrument,
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

CREATE FUNCTION carbonmkt.issue_cea(account_id bigint, vintage int, tonnes bigint,
                                    reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_issue_cea'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.issue_cea(bigint, int, bigint, text, text) IS
  'Issues (签发) tonnes of CEA of a vintage into the national reserve or a provincial allocation account; returns the posting id.  Authorities only.';

CREATE FUNCTION carbonmkt.issue_ccer(account_id bigint, block carbonmkt.ccer,
                                     reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_issue_ccer'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.issue_ccer(bigint, carbonmkt.ccer, text, text) IS
  'Issues a CCER serial block into the national reserve; a serial that exists anywhere already is refused (23P01).  Authorities only.';

CREATE FUNCTION carbonmkt.deposit_cny(account_id bigint, fen bigint, reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_deposit_cny'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.deposit_cny(bigint, bigint, text, text) IS
  'Deposits cash (in fen) into a cash account (入金).  Settlement role only.';

CREATE FUNCTION carbonmkt.withdraw_cny(account_id bigint, fen bigint, reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_withdraw_cny'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.withdraw_cny(bigint, bigint, text, text) IS
  'Withdraws available cash (in fen) from a cash account (出金).  Settlement role only.';

CREATE FUNCTION carbonmkt.transfer_cea(from_account bigint, to_account bigint, vintage int, tonnes bigint,
                                       reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_transfer_cea'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.transfer_cea(bigint, bigint, int, bigint, text, text) IS
  'Transfers available CEA of a vintage between accounts (转移); returns the posting id.  Idempotent per client reference.';

CREATE FUNCTION carbonmkt.transfer_cny(from_account bigint, to_account bigint, fen bigint,
                                       reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_transfer_cny'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.transfer_cny(bigint, bigint, bigint, text, text) IS
  'Transfers available cash (in fen) between cash or clearing accounts; returns the posting id.';

CREATE FUNCTION carbonmkt.transfer_ccer(from_account bigint, to_account bigint, project text, vintage int,
                                        tonnes bigint, reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_transfer_ccer'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.transfer_ccer(bigint, bigint, text, int, bigint, text, text) IS
  'Transfers n tonnes of CCER of a project and vintage, lowest serials first, splitting the last block.';

CREATE FUNCTION carbonmkt.transfer_ccer_block(from_account bigint, to_account bigint, block carbonmkt.ccer,
                                              reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_transfer_ccer_block'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.transfer_ccer_block(bigint, bigint, carbonmkt.ccer, text, text) IS
  'Transfers exactly the serials of a CCER block; the sender must hold all of them.';

CREATE FUNCTION carbonmkt.surrender_cea(account_id bigint, vintage int, tonnes bigint, period int,
                                        reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_surrender_cea'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.surrender_cea(bigint, int, bigint, int, text, text) IS
  'Surrenders (清缴) CEA into the cancellation account for a compliance period; the compliance room adds its rules on top.';

CREATE FUNCTION carbonmkt.surrender_ccer(account_id bigint, project text, vintage int, tonnes bigint, period int,
                                         reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_surrender_ccer'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.surrender_ccer(bigint, text, int, bigint, int, text, text) IS
  'Surrenders CCER (lowest serials first) into the cancellation account for a compliance period.';

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
CREATE FUNCTION carbonmkt.cancel_cea(account_id bigint, vintage int, tonnes bigint,
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

CREATE FUNCTION carbonmkt.cancel_ccer(account_id bigint, project text, vintage int, tonnes bigint,
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

-- Holds ------------------------------------------------------------------------------

CREATE FUNCTION carbonmkt.hold(account_id bigint, instrument carbonmkt.instrument, quantity bigint,
                               reason carbonmkt.hold_reason, vintage int DEFAULT 0, project text DEFAULT '',
                               reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_hold'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.hold(bigint, carbonmkt.instrument, bigint, carbonmkt.hold_reason, int, text, text, text) IS
  'Freezes a quantity of an asset on an account (order, pledge 质押, judicial 司法冻结) and returns the hold id; held units cannot be spent elsewhere.';

CREATE FUNCTION carbonmkt.release_hold(hold_id bigint, reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_release_hold'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.release_hold(bigint, text, text) IS
  'Releases what remains of an active hold (exactly once); returns the posting id.';

CREATE FUNCTION carbonmkt.transfer_from_hold(hold_id bigint, to_account bigint, quantity bigint,
                                             reference text DEFAULT NULL, memo text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_transfer_from_hold'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.transfer_from_hold(bigint, bigint, bigint, text, text) IS
  'Consumes part or all of an active hold by moving that quantity to another account (settlement); the hold is consumed when nothing remains.';

-- Statements and history ------------------------------------------------------------

CREATE FUNCTION carbonmkt.statement(account_id bigint, from_time timestamptz, to_time timestamptz)
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
CREATE FUNCTION carbonmkt.balance_as_of(account_id bigint, at_time timestamptz)
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

CREATE FUNCTION carbonmkt._may_read(p_account bigint) RETURNS boolean
LANGUAGE sql STABLE AS
$$ SELECT carbonmkt._is_member('carbonmkt_registry') OR (carbonmkt.caller_authority()).participant_id IS NOT NULL
       OR carbonmkt._is_member('carbonmkt_bi') OR carbonmkt._is_member('carbonmkt_exchange')
       OR carbonmkt._is_member('carbonmkt_settlement')
       OR EXISTS (SELECT 1 FROM carbonmkt.account a
                   WHERE a.account_id = p_account AND a.participant_id = carbonmkt.caller_participant()) $$;
COMMENT ON FUNCTION carbonmkt._may_read(bigint) IS
  'Internal: whether the login may read an account''s history (its owner, or the registry, authorities, exchange, settlement, BI: the roles whose row-level security policy staff_read shows every account).';

CREATE FUNCTION carbonmkt._require_read(p_account bigint, p_what text) RETURNS void
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

CREATE VIEW carbonmkt.account_balance WITH (security_invoker = true) AS
SELECT h.account_id, a.kind AS account_kind, a.participant_id, h.instrument, h.vintage, h.project,
       carbonmkt.format_asset(h.instrument, h.vintage, h.project) AS asset,
       h.balance, h.held, h.balance - h.held AS available
  FROM carbonmkt.holding h JOIN carbonmkt.account a USING (account_id);
COMMENT ON VIEW carbonmkt.account_balance IS
  'Balance, held and available quantity per account and asset (CNY in fen).  Row-level security limits participants to their own accounts.';

-- Day seals --------------------------------------------------------------------------

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

CREATE FUNCTION carbonmkt.seal_day(business_date date)
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

-- Verification -----------------------------------------------------------------------

-- One pass of C over the journal (src/verify.c) does every check that reads it: chains,
-- heads and seals (as verify_chains()), running balances, holdings rebuilt, conservation,
-- entries without posting, issuance outside issuance accounts; the holdings are checked
-- against the holds and the CCER blocks in SQL.  Rows, in this order of checks:
-- seq_gap / prev_hash_mismatch / hash_mismatch, head_mismatch, seal_mismatch,
-- seal_link_mismatch / seal_hash_mismatch, running_balance_mismatch, balance_mismatch,
-- negative_or_overheld, held_mismatch, ccer_blocks_mismatch, conservation,
-- unknown_posting, issue_outside_issuance_account.
CREATE FUNCTION carbonmkt.verify_ledger()
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
	AS 'MODULE_PATHNAME', 'verify_ledger_full'
	LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.verify_ledger() IS
  'Recomputes every hash chain, day seal and the seal chain, rebuilds balances from the journal and checks the invariants (conservation, no negative balance, holds within balances, CCER blocks cover holdings, every entry belongs to a posting, issue entries only in accounts that may receive issuance); one row per problem, empty when all is well.';

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

-- The two singleton accounts exist from the start.
INSERT INTO carbonmkt.account (kind, label) VALUES
  ('national_reserve', 'National reserve (国家储备)'),
  ('cancellation', 'Cancellation account (注销账户)');

-------------------------------------------------------------------------------
-- registry, C core: unified social credit codes, the per-account SHA-256 journal
-- hash chain, the append-only guard, day-seal digests and chain verification.
-- C: src/registry.c and src/chain.c.  Documentation: doc/registry.md.
-------------------------------------------------------------------------------

-- Unified social credit code (统一社会信用代码, GB 32100-2015) ------------------

CREATE FUNCTION carbonmkt.credit_code_check_char(text) RETURNS text
	AS 'MODULE_PATHNAME', 'credit_code_check_char'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.credit_code_check_char(text) IS
  'The check character (18th) of a unified social credit code, computed by GB 32100-2015 from its first 17 characters.  Accepts 17 or 18 characters (trimmed, letters case-folded); SQLSTATE CM009 for a wrong length or a character outside 0-9 A-H J-N P-R T-U W-Y.';

CREATE FUNCTION carbonmkt.valid_credit_code(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'valid_credit_code'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.valid_credit_code(text) IS
  'True when the text (trimmed, letters case-folded) is a unified social credit code of GB 32100-2015: 18 characters of 0-9 A-H J-N P-R T-U W-Y with a correct check character.  Never raises an error.';

CREATE FUNCTION carbonmkt.check_credit_code(text) RETURNS text
	AS 'MODULE_PATHNAME', 'check_credit_code'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.check_credit_code(text) IS
  'Returns a unified social credit code trimmed and upper-cased, or raises SQLSTATE CM009 naming the problem: wrong length, invalid character (and its position) or wrong check character (GB 32100-2015).';

CREATE FUNCTION carbonmkt.participant_credit_code() RETURNS trigger
LANGUAGE plpgsql AS
$$
BEGIN
	NEW.credit_code := carbonmkt.check_credit_code(NEW.credit_code);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION carbonmkt.participant_credit_code() IS
  'BEFORE INSERT OR UPDATE trigger of carbonmkt.participant: normalises credit_code through carbonmkt.check_credit_code() (SQLSTATE CM009 when it is not a valid unified social credit code).';

CREATE TRIGGER participant_credit_code
	BEFORE INSERT OR UPDATE ON carbonmkt.participant
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.participant_credit_code();

-- Journal hash chain -----------------------------------------------------------

CREATE FUNCTION carbonmkt.journal_payload(carbonmkt.journal) RETURNS text
	AS 'MODULE_PATHNAME', 'journal_payload'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.journal_payload(carbonmkt.journal) IS
  'Canonical payload of a journal row that its hash covers: one line <field>=<n>:<value> per field (entry_id ... memo, in a fixed order), <field>=\N for NULL; n is the UTF-8 byte length of value.  STABLE because enum labels can be renamed.  See doc/registry-chain.md.';

CREATE FUNCTION carbonmkt.journal_hash(prev bytea, entry carbonmkt.journal) RETURNS bytea
	AS 'MODULE_PATHNAME', 'journal_hash'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.journal_hash(bytea, carbonmkt.journal) IS
  'SHA-256(prev || UTF-8 bytes of carbonmkt.journal_payload(entry)), the chain hash of a journal row given the previous hash; equals sha256(prev || convert_to(carbonmkt.journal_payload(entry), ''UTF8'')).';

CREATE FUNCTION carbonmkt.journal_chain() RETURNS trigger
	AS 'MODULE_PATHNAME', 'journal_chain'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt.journal_chain() IS
  'BEFORE INSERT FOR EACH ROW trigger of carbonmkt.journal: locks the account row (FOR NO KEY UPDATE), sets seq = head_seq + 1, prev_hash = head_hash and hash = journal_hash(prev_hash, row), and advances the account''s head.  SQLSTATE CM001 for an unknown account.';

CREATE TRIGGER journal_chain
	BEFORE INSERT ON carbonmkt.journal
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.journal_chain();

CREATE FUNCTION carbonmkt._posting_head_seq(account_id bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'carbonmkt_posting_head_seq'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt._posting_head_seq(bigint) IS
  'Internal: the seq the legs of the posting being made (src/posting.c) advanced an account''s chain head to, for the statement that writes it into the account row; an error at any other time.';
CREATE FUNCTION carbonmkt._posting_head_hash(account_id bigint) RETURNS bytea
	AS 'MODULE_PATHNAME', 'carbonmkt_posting_head_hash'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt._posting_head_hash(bigint) IS
  'Internal: the hash the legs of the posting being made advanced an account''s chain head to (see _posting_head_seq).';

-- Append-only guard ------------------------------------------------------------

CREATE FUNCTION carbonmkt.forbid_change() RETURNS trigger
	AS 'MODULE_PATHNAME', 'forbid_change'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt.forbid_change() IS
  'BEFORE UPDATE OR DELETE (row) and BEFORE TRUNCATE (statement) trigger of the append-only tables: raises SQLSTATE CM011.  An optional trigger argument names a column an UPDATE may set once from NULL to a value when nothing else changes (posting.result).';

CREATE TRIGGER journal_append_only
	BEFORE UPDATE OR DELETE ON carbonmkt.journal
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER journal_no_truncate
	BEFORE TRUNCATE ON carbonmkt.journal
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER posting_append_only
	BEFORE UPDATE OR DELETE ON carbonmkt.posting
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change('result');
CREATE TRIGGER posting_no_truncate
	BEFORE TRUNCATE ON carbonmkt.posting
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER day_seal_append_only
	BEFORE UPDATE OR DELETE ON carbonmkt.day_seal
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER day_seal_no_truncate
	BEFORE TRUNCATE ON carbonmkt.day_seal
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();

-- Rules every posting reads -----------------------------------------------------

CREATE FUNCTION carbonmkt.rules_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'carbonmkt_rules_changed'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt.rules_changed() IS
  'AFTER ... FOR EACH STATEMENT trigger of account_kind_instrument and day_seal: tells every backend (by a relcache invalidation of the table) to read them again; the postings in C keep them (src/posting.c).';
CREATE TRIGGER account_kind_instrument_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON carbonmkt.account_kind_instrument
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.rules_changed();
CREATE TRIGGER day_seal_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON carbonmkt.day_seal
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.rules_changed();

-- Day seals --------------------------------------------------------------------

CREATE FUNCTION carbonmkt.heads_digest(business_date date, OUT digest bytea, OUT accounts int, OUT entries bigint)
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
COMMENT ON FUNCTION carbonmkt.heads_digest(date) IS
  'Chain heads as of the end of a business day: digest = SHA-256 over the lines <account_id>:<seq>:<lower-case hex of hash>\n of every account''s last entry (max seq) with business_date <= the day, in account_id order; accounts = number of such accounts; entries = journal rows with business_date <= the day.  Reads one index probe per account and the entries dated after the day, not the whole journal.';

-- The anchored seal chain (链式存证): every seal carries the previous seal's hash, and
-- its own hash is the day's anchor, published outside the database.

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

-- Verification -----------------------------------------------------------------

-- The chain part of verify_ledger()'s pass (src/verify.c); src/chain.c's verify_chains and
-- verify_chains_since symbols remain for 0.1.0 catalogs (and the benchmark's baseline).
CREATE FUNCTION carbonmkt.verify_chains()
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
	AS 'MODULE_PATHNAME', 'verify_chains_pass'
	LANGUAGE C VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.verify_chains() IS
  'Checks every journal chain (each account''s entries in seq order), every account head, every day seal and the seal chain: the chain part of verify_ledger()''s one pass over the journal; one row per problem: seq_gap, prev_hash_mismatch, hash_mismatch, head_mismatch, seal_mismatch, seal_link_mismatch, seal_hash_mismatch.  No rows when all is well.  Runs with a pinned search_path.';

CREATE FUNCTION carbonmkt.verify_chains_since(sealed_day date)
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
	AS 'MODULE_PATHNAME', 'verify_chains_since_pass'
	LANGUAGE C VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.verify_chains_since(date) IS
  'The incremental verify_chains(): the links and hashes of the entries dated after the given day (the first of each account linked to its predecessor), every account head, the seals dated on or after that day (rebuilt from the heads on that day and the new entries) and the seal chain.  What was written on or before the day is taken as verified.  Pinned search_path.';
REVOKE ALL ON FUNCTION carbonmkt.verify_chains_since(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.verify_chains_since(date)
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;

-- The same pass over the entries dated after the day only (src/verify.c): the first new
-- entry of each account linked to its predecessor, each asset's running balance continued
-- from its last earlier entry, the holdings of the assets with new entries against their
-- last entry, the touched accounts' holdings against holds and CCER blocks, every new
-- posting balanced per asset (issue and withdraw entries aside).
CREATE FUNCTION carbonmkt.verify_ledger_since(sealed_day date DEFAULT NULL)
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
	AS 'MODULE_PATHNAME', 'verify_ledger_incremental'
	LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.verify_ledger_since(date) IS
  'The incremental verify_ledger(): checks what was written after a day (default: the last sealed day; no seal: everything) in time proportional to it: the chains of the new entries and every head (verify_chains_since), the seals from that day on and the seal chain, running balances of the new entries, the holdings, holds and CCER blocks of the accounts they touch, that every new posting balances per asset except issue and withdraw entries, that every new entry has its posting, and where issue entries land.  Run verify_ledger() (and with anchors) for everything.';
REVOKE ALL ON FUNCTION carbonmkt.verify_ledger_since(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.verify_ledger_since(date)
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;
