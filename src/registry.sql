
-------------------------------------------------------------------------------
-- registry (注册登记): participants, accounts, holdings, holds, CCER blocks and the
-- immutable hash-chained journal.  Every other room moves units only through the
-- posting functions defined here (ARCHITECTURE.md principle 1).
-- C: src/registry.c.  Documentation: doc/registry.md.
-------------------------------------------------------------------------------

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
    created_at      timestamptz NOT NULL DEFAULT now(),
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
    opened_at       timestamptz NOT NULL DEFAULT now(),
    -- head of this account's hash chain, maintained by the journal trigger
    head_seq        bigint NOT NULL DEFAULT 0,
    head_hash       bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    CHECK ((kind = 'allocation') = (province IS NOT NULL)),
    CHECK (kind IN ('national_reserve', 'cancellation') OR participant_id IS NOT NULL)
);
CREATE UNIQUE INDEX account_one_allocation_per_province ON carbonmkt.account (province)
  WHERE kind = 'allocation';
CREATE UNIQUE INDEX account_one_reserve ON carbonmkt.account ((true)) WHERE kind = 'national_reserve';
CREATE UNIQUE INDEX account_one_cancellation ON carbonmkt.account ((true)) WHERE kind = 'cancellation';
CREATE INDEX account_participant ON carbonmkt.account (participant_id);
COMMENT ON TABLE carbonmkt.account IS
  'Registry accounts.  head_seq/head_hash are the head of the account''s SHA-256 journal chain.';

-- Balances: one row per account and asset (instrument, vintage, project).
CREATE TABLE carbonmkt.holding (
    account_id  bigint NOT NULL REFERENCES carbonmkt.account,
    instrument  carbonmkt.instrument NOT NULL,
    vintage     int NOT NULL DEFAULT 0,        -- 0 for CNY
    project     text NOT NULL DEFAULT '',      -- CCER project id, '' otherwise
    balance     bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    held        bigint NOT NULL DEFAULT 0 CHECK (held >= 0 AND held <= balance),
    PRIMARY KEY (account_id, instrument, vintage, project)
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

CREATE TYPE carbonmkt.hold_reason AS ENUM ('order', 'pledge', 'judicial', 'other');
COMMENT ON TYPE carbonmkt.hold_reason IS 'Why units are frozen: order (open order), pledge 质押, judicial 司法冻结, other.';
CREATE TYPE carbonmkt.hold_status AS ENUM ('active', 'released', 'consumed');

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
    initiator       name NOT NULL,
    reference       text,
    request         text NOT NULL,           -- canonical text of the request
    result          bigint,                  -- e.g. the hold id a hold() returned
    business_date   date NOT NULL,
    recorded_at     timestamptz NOT NULL
);
CREATE UNIQUE INDEX posting_reference ON carbonmkt.posting (initiator, reference)
  WHERE reference IS NOT NULL;
COMMENT ON TABLE carbonmkt.posting IS
  'Every externally initiated posting, with its idempotency key (initiator, reference).';

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
    entry_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    posting_id      bigint NOT NULL REFERENCES carbonmkt.posting,
    account_id      bigint NOT NULL REFERENCES carbonmkt.account,
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
    UNIQUE (account_id, seq)
);
CREATE INDEX journal_posting ON carbonmkt.journal (posting_id);
CREATE INDEX journal_date ON carbonmkt.journal (business_date, account_id);
COMMENT ON TABLE carbonmkt.journal IS
  'The legal record: append-only, one row per account leg of a posting, SHA-256 hash-chained per account (doc/registry.md).';

CREATE TABLE carbonmkt.day_seal (
    business_date   date PRIMARY KEY,
    digest          bytea NOT NULL,
    accounts        int NOT NULL,
    entries         bigint NOT NULL,
    sealed_at       timestamptz NOT NULL,
    sealed_by       name NOT NULL
);
COMMENT ON TABLE carbonmkt.day_seal IS
  'One row per sealed business day: SHA-256 over every account''s chain head at the end of that day (doc/registry.md).';
