-- The security fixture (doc/security.md): one login of every kind and a small populated
-- market, shared by the role x action matrix (sql/security_matrix.sql) and the API fuzzer
-- (test/fuzz/api_fuzz.c).  Run by a superuser in a fresh database with carbonmkt installed,
-- with carbonmkt.clock set to 2025-03-01 10:00 +08.  The cmsec_* login roles are
-- cluster-global: created if missing, left for the caller to drop.
--
--   login             role                    acts for (participant id)
--   cmsec_unit_a      carbonmkt_participant   6  key emitting unit A (Shenzhen, power)
--   cmsec_unit_b      carbonmkt_participant   7  key emitting unit B (Wuhan, cement)
--   cmsec_firm        carbonmkt_participant   8  technical service firm (Guangdong)
--   cmsec_norole      (none)                  -
--   cmsec_registry    carbonmkt_registry      9  the registry
--   cmsec_exchange    carbonmkt_exchange      5  the exchange
--   cmsec_settlement  carbonmkt_settlement    9  the registry (注册登记结算机构: registration and settlement)
--   cmsec_bi          carbonmkt_bi            1  BI for the national authority (the whole market)
--   cmsec_national    carbonmkt_authority     1  Ministry of Ecology and Environment
--   cmsec_gd          carbonmkt_authority     2  Guangdong (440000)
--   cmsec_hb          carbonmkt_authority     3  Hubei (420000)
--   cmsec_sz          carbonmkt_authority     4  Shenzhen city (440300)
--   cmsec_loose       carbonmkt_authority     -  an authority login mapped to nobody
--
-- Accounts: 1 national reserve, 2 cancellation, 3 Guangdong allocation, 4 Hubei allocation,
-- 5 A holding, 6 A cash, 7 B holding, 8 B cash, 9 exchange clearing.  Holds: 1 A's own
-- (other), 2 judicial on B.  MRV: plan 1 (A, approved), report 1 (A 2024, verified).
-- Compliance: period 2024 open, confirmed emissions of A and B.
SET client_min_messages = warning;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES ('cmsec_unit_a', 'carbonmkt_participant'), ('cmsec_unit_b', 'carbonmkt_participant'),
                                   ('cmsec_firm', 'carbonmkt_participant'), ('cmsec_norole', NULL),
                                   ('cmsec_registry', 'carbonmkt_registry'), ('cmsec_exchange', 'carbonmkt_exchange'),
                                   ('cmsec_settlement', 'carbonmkt_settlement'), ('cmsec_bi', 'carbonmkt_bi'),
                                   ('cmsec_national', 'carbonmkt_authority'), ('cmsec_gd', 'carbonmkt_authority'),
                                   ('cmsec_hb', 'carbonmkt_authority'), ('cmsec_sz', 'carbonmkt_authority'),
                                   ('cmsec_loose', 'carbonmkt_authority')) v(login, grp)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r.login) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', r.login);
        END IF;
        IF r.grp IS NOT NULL THEN
            EXECUTE format('GRANT %I TO %I', r.grp, r.login);
        END IF;
    END LOOP;
END
$$;
CREATE TEMP TABLE fixture_ids AS
SELECT carbonmkt.register_participant('Ministry of Ecology and Environment', 'national_authority',
           '11100000MB0134256' || carbonmkt.credit_code_check_char('11100000MB0134256')) AS mee,
       carbonmkt.register_participant('Guangdong DEE', 'provincial_authority',
           '11440000MB2C9251X' || carbonmkt.credit_code_check_char('11440000MB2C9251X'), '440000') AS gd,
       carbonmkt.register_participant('Hubei DEE', 'provincial_authority',
           '11420000MB2C9251X' || carbonmkt.credit_code_check_char('11420000MB2C9251X'), '420000') AS hb,
       carbonmkt.register_participant('Shenzhen Bureau of Ecology and Environment', 'city_authority',
           '11440300MB2C9251X' || carbonmkt.credit_code_check_char('11440300MB2C9251X'), '440000', '440300') AS sz,
       carbonmkt.register_participant('Shanghai Environment and Energy Exchange', 'exchange',
           '91310000MA1FL1MM6' || carbonmkt.credit_code_check_char('91310000MA1FL1MM6'), '310000') AS ex,
       carbonmkt.register_participant('Shenzhen Power A', 'key_emitter',
           '91440300MA5F0000A' || carbonmkt.credit_code_check_char('91440300MA5F0000A'), '440000', '440300', 'power') AS a,
       carbonmkt.register_participant('Wuhan Cement B', 'key_emitter',
           '91420100MA5F0000B' || carbonmkt.credit_code_check_char('91420100MA5F0000B'), '420000', '420100', 'cement') AS b,
       carbonmkt.register_participant('Pearl River Verifiers', 'service_firm',
           '91440101MA5F00007' || carbonmkt.credit_code_check_char('91440101MA5F00007'), '440000') AS firm,
       carbonmkt.register_participant('National Carbon Registry', 'registry',
           '12420000MB1F00001' || carbonmkt.credit_code_check_char('12420000MB1F00001'), '420000') AS registry;
-- numbers no source gives (doc/rules.md), as test values, filled through the administration
-- functions: the exchange's fees, 0.05% per side (block 0.025%); the MRV rule's sample 10%,
-- deviation 5%, deposits due 40 days after the month, 0 missing and 2 late months tolerated,
-- anomaly 50% (the national authority); the demo's repo rule, in force from the fixture's day
-- (set the day before: a market-type rule takes effect after today)
SELECT count(carbonmkt.amend_rule('market_rule', jsonb_build_object('jurisdiction', r.jurisdiction, 'mode', r.mode, 'valid_from', r.valid_from),
                                  jsonb_build_object('fee_rate', CASE r.mode WHEN 'block' THEN 0.00025 ELSE 0.0005 END),
                                  'security fixture: fees no source gives (test values)', acting_for => 5))
  FROM carbonmkt.market_rule r WHERE r.jurisdiction = 'CN' AND r.fee_rate IS NULL;
SELECT carbonmkt.amend_rule('mrv_rule', '{"jurisdiction": "CN", "from_year": 2019}',
                            '{"review_sample_share": 0.1, "deviation_threshold": 0.05, "deposit_due_days": 40,
                              "deposit_missing_tolerance": 0, "deposit_late_tolerance": 2, "anomaly_threshold": 0.5}',
                            'security fixture: MRV numbers no source gives (test values)', acting_for => 1);
SET carbonmkt.clock = '2025-02-28 10:00:00+08';
SELECT carbonmkt.set_rule('repo_rule', '{"jurisdiction": "CN", "valid_from": "2025-03-01", "on_failure": "retry_then_close_out",
                                         "grace_days": 2, "max_term_days": 365, "illustrative": true}',
                          'security fixture: the demo''s repo rule (no source gives one)', acting_for => 1);
SET carbonmkt.clock = '2025-03-01 10:00:00+08';
SELECT carbonmkt.map_login('cmsec_national', 1), carbonmkt.map_login('cmsec_gd', 2), carbonmkt.map_login('cmsec_hb', 3),
       carbonmkt.map_login('cmsec_sz', 4), carbonmkt.map_login('cmsec_exchange', 5), carbonmkt.map_login('cmsec_unit_a', 6),
       carbonmkt.map_login('cmsec_unit_b', 7), carbonmkt.map_login('cmsec_firm', 8), carbonmkt.map_login('cmsec_registry', 9),
       carbonmkt.map_login('cmsec_settlement', 9), carbonmkt.map_login('cmsec_bi', 1);
SELECT carbonmkt.open_account(2, 'allocation'), carbonmkt.open_account(3, 'allocation'),
       carbonmkt.open_account(6, 'holding'), carbonmkt.open_account(6, 'cash'),
       carbonmkt.open_account(7, 'holding'), carbonmkt.open_account(7, 'cash'),
       carbonmkt.open_account(5, 'clearing');
SELECT carbonmkt.issue_cea(3, 2024, 100000), carbonmkt.issue_cea(4, 2024, 100000),
       carbonmkt.transfer_cea(3, 5, 2024, 10000), carbonmkt.transfer_cea(4, 7, 2024, 10000),
       carbonmkt.issue_ccer(1, 'CCER:GD-OW-0042:2024:1-10000'),
       carbonmkt.transfer_ccer(1, 5, 'GD-OW-0042', 2024, 1000),
       carbonmkt.deposit_cny(6, 10000000), carbonmkt.deposit_cny(8, 10000000);
SELECT carbonmkt.hold(5, 'CEA', 100, 'other', 2024), carbonmkt.hold(7, 'CEA', 100, 'judicial', 2024, '', NULL, 'court order');
SELECT carbonmkt.open_period(2024, '2024 annual compliance', 2024, 2024, '2025-12-31');
INSERT INTO carbonmkt.confirmed_emission (participant_id, year, emissions_t, basis, confirmed_by, confirmed_at) VALUES
  (6, 2024, 12000, 'verified', 2, '2025-02-28 10:00+08'), (7, 2024, 11000, 'verified', 3, '2025-02-28 10:00+08');
SELECT carbonmkt.file_monitoring_plan(6, 2024, '{"method": "calculation"}'),
       carbonmkt.approve_monitoring_plan(1, acting_for => 2),
       carbonmkt.record_sample_seed(2024, 'security-fixture', acting_for => 1);
SELECT carbonmkt.submit_report(6, 2024, '{"CO2": 12000}');
SELECT carbonmkt.verify_report(1, 12000, 'clean', acting_for => 8);
RESET client_min_messages;
