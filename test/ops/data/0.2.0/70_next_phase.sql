-- Demo, act 7: the market's next phase, 2027 (RULES.md 7; doc/finance.md).  The 2025 opinion
-- on building the national market (S2) commits to paid allocation, an allowance reserve with a
-- market adjustment mechanism, and carbon finance (S3); voluntary cancellation serves carbon
-- neutrality.  Here: the 2027 pre-allocation with a paid share sold by one-way bidding, a price
-- spike that triggers a reserve release, a pledge registered and discharged, a repo and its
-- second leg, and a voluntary retirement with its public certificate.  Every movement is a
-- registry posting.  No source gives the numbers of these mechanisms, so the extension ships
-- none (doc/rules.md): the national authority sets the demo's, marked illustrative, with set_rule.
SET search_path = carbonmkt, public;
\set QUIET on
\pset footer off
SET carbonmkt.clock = '2027-01-04 09:00:00+08';
-- helper: SQLSTATE and message of an expected refusal
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

\echo
\echo '== 7.1 2027: the year''s rules, the pre-allocation, and a paid share of 5% for the power sector'
SELECT participant_id AS mee FROM participant WHERE kind = 'national_authority' \gset
SELECT participant_id AS exchange FROM participant WHERE kind = 'exchange' \gset
-- the year's rules, by the national authority and the exchange (set_rule, load_trading_calendar;
-- doc/rules.md): a pre-allocation of 70% of the 2024 verified emissions (illustrative, like 2021-22's),
-- a 2027 cap for the power sector (total-quantity control from 2027, S2), the 2027 trading calendar
SELECT set_rule('alloc_year_rule', '{"jurisdiction": "CN", "year": 2027, "rounding": "half_up", "preallocation_share": 0.70,
                 "preallocation_basis": "verified_emissions", "basis_year": 2024}',
                'illustrative: the 2021-22 pre-allocation rule (70% of verified emissions, S4 L91) carried to 2027', acting_for => :mee)
       AS year_rule,
       set_rule('alloc_cap', '{"jurisdiction": "CN", "year": 2027, "sector": "power", "cap_t": 4500000000}',
                'illustrative: a total-quantity cap for the power sector in 2027 (S2: total-quantity control from 2027)',
                acting_for => :mee) AS power_cap;
\echo '   No paid share ships with the extension (no source gives one): applying it is refused, naming the rule'
SELECT pg_temp.err($$SELECT * FROM carbonmkt.apply_paid_allocation(2027, 'power')$$) AS no_paid_rule;
SELECT set_rule('paid_allocation_rule', '{"jurisdiction": "CN", "sector": "power", "from_year": 2027, "until_year": 2027,
                 "paid_share": 0.05, "method": "auction", "price_fen": 6000, "lock_free": false, "illustrative": true}',
                'illustrative: 5% of the power sector by one-way bidding at a reserve price of 60.00 CNY/t (S2: a rising paid share, no number)',
                acting_for => :mee) AS paid_rule,
       set_rule('reserve_feed_rule', '{"jurisdiction": "CN", "year": 2027, "cap_share": 0.02, "illustrative": true}',
                'illustrative: 2% of the year''s caps set aside into the reserve (S2 建立配额储备, no number)', acting_for => :mee)
       AS reserve_feed_rule,
       set_rule('repo_rule', '{"jurisdiction": "CN", "valid_from": "2027-01-05", "on_failure": "retry_then_close_out",
                 "grace_days": 2, "max_term_days": 365, "illustrative": true}',
                'illustrative: a failed second leg retried for 2 trading days, then closed out; terms up to 365 days (RULES.md 7 names repo, no rule)',
                acting_for => :mee) AS repo_rule;
SELECT load_trading_calendar('CN', 2027,
         ARRAY['2027-01-01', '2027-02-08', '2027-02-09', '2027-02-10', '2027-02-11', '2027-02-12', '2027-04-05',
               '2027-05-03', '2027-05-04', '2027-05-05', '2027-06-09', '2027-09-15', '2027-10-01', '2027-10-04',
               '2027-10-05', '2027-10-06', '2027-10-07']::date[],
         'illustrative 2027 holidays (the State Council publishes the year''s schedule late in the year before)',
         acting_for => :exchange) AS weekday_holidays_2027;
SELECT count(*) AS units_preallocated, to_char(sum(tonnes), 'FM999,999,999,999') AS tonnes
  FROM preallocate(2027) WHERE status = 'pre-allocated';
\echo '   The paid allocation rule (有偿分配; illustrative):'
SELECT sector, from_year, paid_share, method, (price_fen / 100.0)::numeric(10, 2) AS reserve_price, lock_free, source
  FROM paid_allocation_rule;
CREATE TEMP TABLE paid AS SELECT * FROM apply_paid_allocation(2027, 'power');
SELECT count(*) AS power_units, to_char(sum(allocated_t), 'FM999,999,999,999') AS allocated_t,
       to_char(sum(paid_due_t), 'FM999,999,999') AS paid_t FROM paid;
\echo '   The paid part is withheld from the free issuance: the final true-up issues net of it.'

\echo
\echo '== 7.2 The paid part sold by one-way bidding (单向竞价), the proceeds to the national authority'
SELECT open_account(:mee, 'cash', 'MEE fiscal account (财政账户)') AS mee_cash \gset
SELECT list_product('CEA2027', 60.00, open_account(:exchange, 'clearing', 'SEEE clearing CEA2027')) AS product_id \gset
SET carbonmkt.clock = '2027-01-05 10:00:00+08';
SELECT offer_paid_allocation(2027, 'power', '2027-01-05 13:00+08', '2027-01-05 14:00+08') AS paid_auction \gset
SELECT auction_id, quantity, (reserve_fen / 100.0)::numeric(10, 2) AS reserve_price, clearing_rule FROM auction
 WHERE auction_id = :paid_auction;
-- 40 power units bid for a 25th of the lot each at 60.10 .. 64.00 CNY/t, with cash for it
CREATE TEMP TABLE bidder AS
SELECT row_number() OVER (ORDER BY p.participant_id)::int AS n, p.participant_id,
       h.account_id AS holding, c.account_id AS cash
  FROM participant p JOIN paid x ON x.participant_id = p.participant_id
  JOIN account h ON h.participant_id = p.participant_id AND h.kind = 'holding'
  JOIN account c ON c.participant_id = p.participant_id AND c.kind = 'cash'
 ORDER BY p.participant_id LIMIT 40;
SELECT count(deposit_cny(cash, 10000000000, 'paid-2027-cash-' || cash)) AS bidders_funded FROM bidder;
SET carbonmkt.clock = '2027-01-05 13:30:00+08';
SELECT count(bid_auction(:paid_auction, (SELECT quantity / 25 FROM auction WHERE auction_id = :paid_auction),
                         60.00 + n * 0.10, 'paid-bid-' || n, participant_id)) AS bids
  FROM bidder;
SET carbonmkt.clock = '2027-01-05 14:00:00+08';
SELECT allocated, clearing_price FROM close_auction(:paid_auction);
SELECT record_paid_auction(:paid_auction, 2027) AS tonnes_recorded_as_paid;
SELECT year, sector, units, to_char(allocated_t, 'FM999,999,999,999') AS allocated_t,
       to_char(free_t, 'FM999,999,999,999') AS free_t, to_char(paid_due_t, 'FM999,999,999') AS paid_t,
       to_char(bought_t, 'FM999,999,999') AS bought_t, to_char(proceeds_fen / 100.0, 'FM999,999,999,990.00') AS proceeds_cny,
       (clearing_fen / 100.0)::numeric(10, 2) AS clearing_price
  FROM bi_paid_allocation;

\echo
\echo '== 7.3 A price spike triggers a release from the reserve (配额储备和市场调节机制)'
\echo '   The triggers, set by the national authority (illustrative: S2 names the mechanism, no number;'
\echo '   modelled on RGGI''s cost- and emissions-containment reserves), in force from the next day:'
SELECT set_rule('reserve_trigger', '{"jurisdiction": "CN", "product": "CEA2027", "kind": "price_high", "lookback_days": 5,
                 "reference_days": 20, "multiple": 1.5, "action": "release", "quantity_t": 1000000,
                 "reserve_price_multiple": 1.0, "cooldown_days": 20, "valid_from": "2027-01-06", "illustrative": true}',
                'illustrative: release 1,000,000 t when the 5-day average close exceeds 1.5 x the 20 days before (RGGI-style cost containment)',
                acting_for => :mee) AS release_trigger,
       set_rule('reserve_trigger', '{"jurisdiction": "CN", "product": "CEA2027", "kind": "price_low", "lookback_days": 5,
                 "reference_days": 20, "multiple": 0.6, "action": "absorb", "quantity_t": 1000000,
                 "reserve_price_multiple": 1.0, "cooldown_days": 20, "valid_from": "2027-01-06", "illustrative": true}',
                'illustrative: absorb 1,000,000 t when the 5-day average close falls below 0.6 x the 20 days before (RGGI-style emissions containment)',
                acting_for => :mee) AS absorb_trigger;
SELECT trigger_id, kind, product, lookback_days, reference_days, multiple, action, quantity_t, cooldown_days
  FROM reserve_trigger ORDER BY trigger_id;
\echo '   The reserve is fed by rule: 2% of the year''s caps (illustrative), issued once:'
SELECT to_char(feed_reserve(2027), 'FM999,999,999') AS set_aside_t;
\echo '   Thirty trading days of CEA2027: twenty around 60 CNY, then a climb of up to +10% a day (the band);'
\echo '   each day one listed trade between two units, the close, and the adjustment evaluation:'
DO $$
DECLARE
    d      date := date '2027-01-06';
    k      int := 0;
    price  numeric := 60.00;
    seller bigint := (SELECT participant_id FROM bidder WHERE n = 1);
    buyer  bigint := (SELECT participant_id FROM bidder WHERE n = 2);
BEGIN
    WHILE k < 30 LOOP
        IF is_trading_day(d) THEN
            k := k + 1;
            price := CASE WHEN k <= 20 THEN 60.00 + (k % 3) * 0.50
                          ELSE trunc(price * 1.099, 2) END;
            PERFORM set_config('carbonmkt.clock', d::text || ' 10:00:00+08', false);
            PERFORM submit_order('CEA2027', 'sell', 1000, price, acting_for => seller);
            PERFORM submit_order('CEA2027', 'buy', 1000, price, acting_for => buyer);
            PERFORM set_config('carbonmkt.clock', d::text || ' 15:30:00+08', false);
            PERFORM end_of_day(d, 'CEA2027');
            PERFORM evaluate_market_adjustment(d);
        END IF;
        d := d + 1;
    END LOOP;
END $$;
SELECT business_date, close FROM market_close WHERE product = 'CEA2027' ORDER BY business_date DESC LIMIT 6;
\echo '   The decisions that were not "no action", with why:'
SELECT business_date, trigger_id, kind, status, explanation FROM market_adjustment_decisions
 WHERE status <> 'no_action' ORDER BY business_date, trigger_id;
SELECT decision_id AS release_decision FROM market_adjustment_decisions
 WHERE status = 'scheduled' ORDER BY decision_id LIMIT 1 \gset
\echo '   The next trading day the national authority executes it: a one-way bidding lot from the reserve'
SELECT min(d)::date AS exec_day
  FROM generate_series((SELECT max(business_date) FROM market_close WHERE product = 'CEA2027') + 1,
                       (SELECT max(business_date) FROM market_close WHERE product = 'CEA2027') + 10, interval '1 day') g(d)
 WHERE is_trading_day(d::date) \gset
SELECT set_config('carbonmkt.clock', :'exec_day' || ' 10:00:00+08', false) IS NOT NULL AS clock_set;
SELECT execute_reserve_decision(:release_decision, (:'exec_day' || ' 13:00+08')::timestamptz,
                                (:'exec_day' || ' 14:00+08')::timestamptz) AS release_auction \gset
SELECT auction_id, side, quantity, (reserve_fen / 100.0)::numeric(10, 2) AS reserve_price FROM auction
 WHERE auction_id = :release_auction;
SELECT set_config('carbonmkt.clock', :'exec_day' || ' 13:30:00+08', false) IS NOT NULL AS clock_set;
SELECT count(bid_auction(:release_auction, 20000, (SELECT reserve_fen FROM auction WHERE auction_id = :release_auction) / 100.0
                         + n * 0.01, 'release-bid-' || n, participant_id)) AS bids
  FROM bidder WHERE n BETWEEN 3 AND 22;
SELECT set_config('carbonmkt.clock', :'exec_day' || ' 14:00:00+08', false) IS NOT NULL AS clock_set;
SELECT allocated, clearing_price FROM close_auction(:release_auction);
SELECT decision_id, status, quantity_t, auction_allocated_t, (auction_clearing_fen / 100.0)::numeric(10, 2) AS clearing_price
  FROM market_adjustment_decisions WHERE decision_id = :release_decision;

\echo
\echo '== 7.4 A pledge (质押): a unit pledges 50,000 t to a bank, the registry registers it, the bank discharges it'
SELECT register_participant('Industrial Bank Guangzhou Branch', 'institution',
                            '91440101MA59X0001' || credit_code_check_char('91440101MA59X0001'), '440000') AS bank \gset
SELECT open_account(:bank, 'holding', 'bank holding') AS bank_holding, open_account(:bank, 'cash', 'bank cash') AS bank_cash \gset
SELECT deposit_cny(:bank_cash, 10000000000, 'bank-cash') IS NOT NULL AS bank_funded;
SELECT participant_id AS pledgor, holding AS pledgor_holding FROM bidder WHERE n = 23 \gset
SELECT propose_pledge(:bank, 2027, 50000, 300000000, '2027-12-31', :pledgor) AS pledge \gset
SELECT accept_pledge(:pledge, :bank);
SELECT register_pledge(:pledge) AS registration_no;
SELECT asset, balance, held, available FROM account_balance WHERE account_id = :pledgor_holding;
\echo '   The pledged units can be neither sold nor surrendered:'
SELECT pg_temp.err(format($$SELECT carbonmkt.surrender_cea(%s, 2027, %s, 2027)$$, :pledgor_holding,
                          (SELECT balance FROM account_balance WHERE account_id = :pledgor_holding AND asset = 'CEA 2027')))
       AS surrender_everything;
\echo '   The loan is repaid: the bank discharges the pledge and the units are free again'
SELECT discharge_pledge(:pledge, NULL, :bank) IS NOT NULL AS discharged;
SELECT pledge_id, status, registration_no, tonnes, (secured_fen / 100.0)::numeric(14, 2) AS secured_cny FROM pledge;

\echo
\echo '== 7.5 A repo (回购): a unit sells 30,000 t to the bank now and buys them back in a month'
SELECT participant_id AS repo_seller, holding AS seller_holding, cash AS seller_cash FROM bidder WHERE n = 24 \gset
SELECT propose_repo(:bank, 2027, 30000, 70.00, 70.35, :'exec_day'::date + 30, 'demo-repo-1', :repo_seller) AS repo \gset
SELECT confirm_repo(:repo, :bank);
SELECT repo_id, leg, business_date, (price_fen / 100.0)::numeric(10, 2) AS price, tonnes FROM repo_leg;
SELECT set_config('carbonmkt.clock', (:'exec_day'::date + 30)::text || ' 16:00:00+08', false) IS NOT NULL AS clock_set;
SELECT * FROM settle_repos();
SELECT repo_id, status, attempts FROM repo;
SELECT repo_id, leg, business_date, (price_fen / 100.0)::numeric(10, 2) AS price, tonnes FROM repo_leg ORDER BY leg;

\echo
\echo '== 7.6 Voluntary retirement (自愿注销) for a carbon-neutral event, with its public certificate'
SELECT participant_id AS retiring_unit, holding AS retiring_holding FROM bidder WHERE n = 25 \gset
SELECT retire_voluntarily(:retiring_holding, 'CEA', 2027, NULL, 12000, 'Guangzhou Marathon 2027 Organising Committee',
                          'event', 'Carbon-neutral Guangzhou Marathon 2027', 2027, 'gz-marathon-2027') AS certificate \gset
\echo '   Anyone holding the certificate can check it:'
SELECT valid, instrument, vintage, tonnes, beneficiary, purpose, retired_by, business_date, left(entry_hash, 16) || '…' AS entry_hash
  FROM verify_certificate(:'certificate');
SELECT certificate, participant_name, tonnes, beneficiary FROM voluntary_retirements;

\echo
\echo '== 7.7 The ledger after the next phase'
SELECT count(*) AS verify_ledger_problems FROM verify_ledger();
