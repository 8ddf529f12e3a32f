-- Demo, act 2: the registry (注册登记) of a national market.
-- 31 provincial authorities with their allocation accounts, the exchange, and 2,100 key
-- emitting units (重点排放单位) across the four covered sectors; pre-allocation issued and
-- transferred, trading-style transfers, an order hold, a statement, verification and a day seal.
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2025-03-31 09:00:00+08';
\set QUIET on

\echo
\echo '== 2.1 Registering the market: authorities, exchange, 2,100 key emitting units'
DO $$
DECLARE
    r       record;
    i       int := 0;
    code17  text;
    pid     bigint;
    sectors text[] := ARRAY['power', 'power', 'power', 'power', 'power', 'cement', 'steel', 'aluminium'];
BEGIN
    PERFORM register_participant('Ministry of Ecology and Environment (生态环境部)', 'national_authority',
                                 '11100000MB0134256' || credit_code_check_char('11100000MB0134256'));
    PERFORM register_participant('Shanghai Environment and Energy Exchange', 'exchange',
                                 '91310000MA1FL1MM6' || credit_code_check_char('91310000MA1FL1MM6'), '310000');
    FOR r IN SELECT code, name, name_zh FROM region ORDER BY code LOOP
        code17 := '11' || r.code || 'MB' || lpad(r.code, 7, '0');
        pid := register_participant(r.name || ' Department of Ecology and Environment', 'provincial_authority',
                                    code17 || credit_code_check_char(code17), r.code);
        PERFORM open_account(pid, 'allocation', r.name_zh || '配额账户');
    END LOOP;
    FOR i IN 1..2100 LOOP
        SELECT code INTO r FROM region ORDER BY code OFFSET (i * 7) % 31 LIMIT 1;
        code17 := '91' || r.code || 'MA' || lpad(i::text, 7, '0');
        pid := register_participant(format('Unit %s (%s)', lpad(i::text, 4, '0'), sectors[1 + i % 8]), 'key_emitter',
                                    code17 || credit_code_check_char(code17), r.code,
                                    substr(r.code, 1, 2) || '0100', sectors[1 + i % 8]);
        PERFORM open_account(pid, 'holding');
        PERFORM open_account(pid, 'cash');
    END LOOP;
END $$;
SELECT kind, count(*) AS participants FROM participant GROUP BY kind ORDER BY kind;
SELECT kind AS account_kind, count(*) AS accounts FROM account GROUP BY kind ORDER BY kind;

\echo
\echo '== 2.2 Pre-allocation 2024: issued into each province''s allocation account, then transferred'
\echo '   (here 70% of a made-up 2023 verified emission figure per unit, rounded half-up)'
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT a.account_id, sum(tonnes(cea(2024, 100000 + (p.participant_id * 7919) % 900000) * 0.70)) AS total
               FROM account a JOIN participant p ON p.province = a.province AND p.kind = 'key_emitter'
              WHERE a.kind = 'allocation' GROUP BY a.account_id ORDER BY a.account_id LOOP
        PERFORM issue_cea(r.account_id, 2024, r.total::bigint, 'pre-2024-' || r.account_id, '2024 pre-allocation (预分配)');
    END LOOP;
    FOR r IN SELECT alloc.account_id AS src, h.account_id AS dst,
                    tonnes(cea(2024, 100000 + (p.participant_id * 7919) % 900000) * 0.70) AS t
               FROM participant p
               JOIN account h ON h.participant_id = p.participant_id AND h.kind = 'holding'
               JOIN account alloc ON alloc.kind = 'allocation' AND alloc.province = p.province
              WHERE p.kind = 'key_emitter' ORDER BY p.participant_id LOOP
        PERFORM transfer_cea(r.src, r.dst, 2024, r.t, 'alloc-2024-' || r.dst);
    END LOOP;
END $$;
SELECT r.name_zh AS province, count(*) AS units, to_char(sum(b.balance), 'FM999,999,999,990') AS cea_2024_tonnes
  FROM account_balance b JOIN participant p USING (participant_id) JOIN region r ON r.code = p.province
 WHERE b.account_kind = 'holding' AND b.instrument = 'CEA'
 GROUP BY r.code, r.name_zh ORDER BY sum(b.balance) DESC LIMIT 8;
\echo '   Running the allocation again issues nothing twice (same client references):'
SELECT count(*) AS postings_before FROM posting \gset
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT alloc.account_id AS src, h.account_id AS dst,
                    tonnes(cea(2024, 100000 + (p.participant_id * 7919) % 900000) * 0.70) AS t
               FROM participant p
               JOIN account h ON h.participant_id = p.participant_id AND h.kind = 'holding'
               JOIN account alloc ON alloc.kind = 'allocation' AND alloc.province = p.province
              WHERE p.kind = 'key_emitter' ORDER BY p.participant_id LIMIT 100 LOOP
        PERFORM transfer_cea(r.src, r.dst, 2024, r.t, 'alloc-2024-' || r.dst);
    END LOOP;
END $$;
SELECT count(*) - :postings_before AS new_postings_after_retry FROM posting;

\echo
\echo '== 2.3 A trading morning, as the registry sees it'
SET carbonmkt.clock = '2025-04-01 09:35:00+08';
SELECT deposit_cny(h.account_id + 1, 50000000000, 'dep-' || h.account_id) IS NOT NULL AS cash_deposited
  FROM account h JOIN participant p USING (participant_id)
 WHERE h.kind = 'holding' AND p.name LIKE 'Unit 0001 %';
SELECT a.account_id AS seller, b.account_id AS buyer
  FROM account a, account b
 WHERE a.label LIKE 'Unit 0002 %holding' AND b.label LIKE 'Unit 0001 %holding' \gset
SELECT hold(:seller, 'CEA', 20000, 'order', 2024, '', 'order-2-sell') AS hold_id \gset
\echo '   Unit 0002 lists 20,000 t (held); Unit 0001 takes 12,500 t of it; the rest is released at close:'
SELECT transfer_from_hold(:hold_id, :buyer, 12500, 'fill-1') IS NOT NULL AS filled;
SELECT transfer_cny(:buyer + 1, :seller + 1, 12500 * 9300, 'pay-fill-1') IS NOT NULL AS paid_at_93_cny;
SELECT release_hold(:hold_id, 'close-2-sell') IS NOT NULL AS released;
SELECT account_id, asset, balance, held, available FROM account_balance
 WHERE account_id IN (:seller, :buyer, :seller + 1, :buyer + 1) ORDER BY account_id, asset;
\echo '   Unit 0002''s statement for the day:'
SELECT seq, kind, asset, amount, held_change, balance_after, held_after, counterparty
  FROM statement(:seller, '2025-03-31 00:00+08', '2025-04-02 00:00+08');
\echo '   An overdraft is refused with the numbers:'
DO $$
BEGIN
  PERFORM transfer_cea((SELECT account_id FROM account WHERE label LIKE 'Unit 0003 %holding'),
                       (SELECT account_id FROM account WHERE label LIKE 'Unit 0004 %holding'), 2024, 99999999);
EXCEPTION WHEN others THEN
  RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
END $$;

\echo
\echo '== 2.4 Integrity: every chain, balance and invariant rechecked; the 31 March day sealed'
SELECT count(*) AS journal_entries, count(DISTINCT account_id) AS chained_accounts FROM journal;
SELECT count(*) AS problems FROM verify_ledger();
SELECT encode(seal_day('2025-03-31'), 'hex') AS seal_digest_2025_03_31;
SELECT business_date, accounts, entries, sealed_by FROM day_seal;
