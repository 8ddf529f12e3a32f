-- Unified settlement (统一交收) of a market batch: carbonmkt.settle_batch() spends and
-- releases order holds and credits the receiving accounts in one posting, set-based.
-- The rows it writes (one journal row per hold, one per receiving account and asset, all
-- chained), the holds ending exactly once, idempotency, and every refusal with its
-- SQLSTATE, message, detail and hint -- each shown to change nothing.  Runs in its own
-- database so that ids are deterministic.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_settlement;
CREATE DATABASE regress_settlement;
\c regress_settlement
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2025-06-03 10:00:00+08';
SET datestyle = 'ISO, YMD';
\set VERBOSITY default

-- helper: SQLSTATE, message, detail and hint of an expected error
CREATE FUNCTION pg_temp.diag(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  st text; msg text; det text; hnt text;
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                          hnt = PG_EXCEPTION_HINT;
  RETURN st || ': ' || msg || CASE WHEN det <> '' THEN E'\nDETAIL: ' || det ELSE '' END
                           || CASE WHEN hnt <> '' THEN E'\nHINT: ' || hnt ELSE '' END;
END $$;
CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;
-- helper: what the ledger holds, to show that a refused batch changes nothing
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
  SELECT format('journal %s, active holds %s, balances %s, held %s',
                (SELECT count(*) FROM carbonmkt.journal),
                (SELECT count(*) FROM carbonmkt.hold WHERE status = 'active'),
                (SELECT sum(balance) FROM carbonmkt.holding), (SELECT sum(held) FROM carbonmkt.holding)) $$;
CREATE TEMP VIEW bal AS
SELECT account_id AS acct, asset, balance, held, available FROM carbonmkt.account_balance
 WHERE account_id > 2 ORDER BY account_id, asset;

-- Parties: the exchange (clearing account 3), unit 1 (holding 4, cash 5) sells, unit 2
-- (holding 6, cash 7) buys, unit 3 (holding 8, cash 9) for the account rules.
SELECT register_participant('Exchange', 'exchange', pg_temp.uscc('91310000MA1FL0000')) AS exchange,
       register_participant('Unit 1', 'key_emitter', pg_temp.uscc('91440300MA5G00001'), '440000', '440300', 'power') AS u1,
       register_participant('Unit 2', 'key_emitter', pg_temp.uscc('91440300MA5G00002'), '440000', '440300', 'power') AS u2,
       register_participant('Unit 3', 'key_emitter', pg_temp.uscc('91440300MA5G00003'), '440000', '440300', 'power') AS u3;
SELECT open_account(1, 'clearing') AS clearing, open_account(2, 'holding') AS u1_h, open_account(2, 'cash') AS u1_c,
       open_account(3, 'holding') AS u2_h, open_account(3, 'cash') AS u2_c,
       open_account(4, 'holding') AS u3_h, open_account(4, 'cash') AS u3_c;
SELECT issue_cea(1, 2024, 100000) IS NOT NULL AS issued,
       transfer_cea(1, 4, 2024, 5000) IS NOT NULL AS u1_units, transfer_cea(1, 8, 2024, 5000) IS NOT NULL AS u3_units,
       deposit_cny(7, 100000000) IS NOT NULL AS u2_cash, deposit_cny(9, 100000000) IS NOT NULL AS u3_cash;
-- order holds as the market lays them: unit 1 sells 1,000 t; unit 2 buys 1,000 t at 60.00
-- with the fee of 0.05% (RULES.md 5 fee placeholder): 6,000,000 + 3,000 fen; unit 3 sells 500 t
-- and buys for 1,000,000 fen; a pledge (质押) on unit 3's units
SELECT hold(4, 'CEA', 1000, 'order', 2024) AS h1, hold(7, 'CNY', 6003000, 'order') AS h2,
       hold(8, 'CEA', 500, 'order', 2024) AS h3, hold(9, 'CNY', 1000000, 'order') AS h4,
       hold(8, 'CEA', 100, 'pledge', 2024) AS h5;
SELECT * FROM bal;

-- Only the market room ------------------------------------------------------------------
-- (the market's SECURITY DEFINER functions carry SET carbonmkt.acting_room = 'market')
SELECT pg_temp.diag($$SELECT settle_batch('{2}', '{3601800}', '{t}', '{6,5,3}', '{CEA,CNY,CNY}', '{2024,0,0}',
                                         '{"","",""}', '{600,3598200,3600}')$$) AS no_room;
SET carbonmkt.acting_room = 'compliance';
SELECT pg_temp.diag($$SELECT settle_batch('{2}', '{3601800}', '{t}', '{6,5,3}', '{CEA,CNY,CNY}', '{2024,0,0}',
                                         '{"","",""}', '{600,3598200,3600}')$$) AS another_room;
SET carbonmkt.acting_room = 'market';
SELECT pg_temp.state() AS unchanged;

-- A batch: 600 t of unit 1 to unit 2 at 60.00, both fees (1,800 fen each) to the clearing
-- account.  Unit 1's order stays open (its hold keeps 400 t); unit 2's order ends (its hold
-- pays 3,600,000 + 1,800 and releases the other 2,401,200 fen).
SELECT max(entry_id) AS e0 FROM journal \gset
SELECT settle_batch(hold_ids => '{2,1}', spent => '{3601800,600}', release_rest => '{t,f}',
                    credit_accounts => '{6,5,3}', credit_instruments => '{CEA,CNY,CNY}',
                    credit_vintages => '{2024,0,0}', credit_projects => '{"","",""}',
                    credit_amounts => '{600,3598200,3600}', memo => 'market CEA2024 listed: 1 trade') AS posting \gset
SELECT operation, initiator = session_user AS by_the_login, reference, request, business_date FROM posting WHERE posting_id = :posting;
-- one row per hold, one per receiving account and asset, in account order; the chain
-- trigger numbered them after each account's earlier entries
SELECT j.account_id, j.seq, j.kind, format_asset(j.instrument, j.vintage, j.project) AS asset, j.amount, j.held_change,
       j.balance_after, j.held_after, j.counterparty, j.hold_id, j.memo
  FROM journal j WHERE j.entry_id > :e0 ORDER BY j.entry_id;
SELECT count(*) = 0 AS chained FROM journal j
 WHERE j.entry_id > :e0
   AND (j.hash <> journal_hash(j.prev_hash, j)
        OR j.prev_hash <> (SELECT p.hash FROM journal p WHERE p.account_id = j.account_id AND p.seq = j.seq - 1));
SELECT hold_id, quantity, remaining, status, ended_posting = :posting AS ended_by_it FROM hold WHERE hold_id IN (1, 2) ORDER BY 1;
SELECT * FROM bal;
SELECT * FROM verify_ledger();

-- The same client reference with the same batch returns the original posting and moves
-- nothing; with a different batch it is CM007.  A release-only hold (the order ended
-- without a fill): its journal row is a release.
SELECT max(entry_id) AS e0 FROM journal \gset
SELECT settle_batch('{3}', '{0}', '{t}', '{}', '{}', '{}', '{}', '{}', 'batch-7', 'market: expired') AS p1,
       settle_batch('{3}', '{0}', '{t}', '{}', '{}', '{}', '{}', '{}', 'batch-7', 'market: expired') AS p2;
SELECT j.account_id, j.kind, j.amount, j.held_change, j.balance_after, j.held_after, j.hold_id FROM journal j WHERE j.entry_id > :e0;
SELECT pg_temp.diag($$SELECT settle_batch('{4}', '{0}', '{t}', '{}', '{}', '{}', '{}', '{}', 'batch-7')$$) AS reference_reused;
SELECT hold_id, remaining, status FROM hold WHERE hold_id IN (3, 4) ORDER BY 1;

-- Refusals: each names the rule and the numbers, and nothing moves ------------------------
-- (a CCER order hold for the last one)
SELECT issue_ccer(1, 'CCER:GD-OW-0042:2024:1-1000') IS NOT NULL AS ccer_issued,
       transfer_ccer(1, 8, 'GD-OW-0042', 2024, 300) IS NOT NULL AS to_unit_3,
       hold(8, 'CCER', 300, 'order', 2024, 'GD-OW-0042') AS h6;
SELECT pg_temp.state() AS before_refusals \gset
-- arguments
SELECT pg_temp.diag($$SELECT settle_batch('{1}', '{1,2}', '{f}', '{}', '{}', '{}', '{}', '{}')$$) AS lengths_differ;
SELECT pg_temp.diag($$SELECT settle_batch('{1}', '{10}', '{f}', '{6}', '{CEA}', '{2024}', '{""}', '{10,1}')$$) AS credit_lengths_differ;
SELECT pg_temp.diag($$SELECT settle_batch('{1}', '{NULL}', '{f}', '{}', '{}', '{}', '{}', '{}')$$) AS null_element;
SELECT pg_temp.diag($$SELECT settle_batch(NULL, '{}', '{}', '{}', '{}', '{}', '{}', '{}')$$) AS null_array;
SELECT pg_temp.diag($$SELECT settle_batch('{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')$$) AS no_holds;
SELECT pg_temp.diag($$SELECT settle_batch('{1}', '{-5}', '{f}', '{}', '{}', '{}', '{}', '{}')$$) AS negative_spent;
SELECT pg_temp.diag($$SELECT settle_batch('{1}', '{0}', '{f}', '{}', '{}', '{}', '{}', '{}')$$) AS neither_spent_nor_released;
SELECT pg_temp.diag($$SELECT settle_batch('{1}', '{10}', '{f}', '{6,5}', '{CEA,CNY}', '{2024,0}', '{"",""}', '{10,0}')$$) AS zero_credit;
SELECT pg_temp.diag($$SELECT settle_batch('{1,1}', '{10,10}', '{f,f}', '{6}', '{CEA}', '{2024}', '{""}', '{20}')$$) AS hold_twice;
SELECT pg_temp.diag($$SELECT settle_batch('{1}', '{10}', '{f}', '{6,6}', '{CEA,CEA}', '{2024,2024}', '{"",""}', '{5,5}')$$) AS credit_twice;
-- holds
SELECT pg_temp.diag($$SELECT settle_batch('{99}', '{10}', '{f}', '{6}', '{CEA}', '{2024}', '{""}', '{10}')$$) AS unknown_hold;
SELECT pg_temp.diag($$SELECT settle_batch('{2}', '{10}', '{f}', '{5}', '{CNY}', '{0}', '{""}', '{10}')$$) AS hold_ended;
SELECT pg_temp.diag($$SELECT settle_batch('{3}', '{10}', '{f}', '{6}', '{CEA}', '{2024}', '{""}', '{10}')$$) AS hold_released;
SELECT pg_temp.diag($$SELECT settle_batch('{5}', '{10}', '{f}', '{6}', '{CEA}', '{2024}', '{""}', '{10}')$$) AS pledge_hold;
SELECT pg_temp.diag($$SELECT settle_batch('{1}', '{401}', '{f}', '{6}', '{CEA}', '{2024}', '{""}', '{401}')$$) AS hold_too_small;
-- the batch balances per asset, to the tonne and the fen
SELECT pg_temp.diag($$SELECT settle_batch('{1}', '{100}', '{f}', '{6}', '{CEA}', '{2024}', '{""}', '{99}')$$) AS one_tonne_short;
SELECT pg_temp.diag($$SELECT settle_batch('{1,4}', '{100,600000}', '{f,f}', '{8,5,3}', '{CEA,CNY,CNY}', '{2024,0,0}', '{"","",""}',
                                         '{100,599700,301}')$$) AS one_fen_too_many;
SELECT pg_temp.diag($$SELECT settle_batch('{1}', '{100}', '{f}', '{6}', '{CEA}', '{2025}', '{""}', '{100}')$$) AS another_vintage;
-- accounts
SELECT pg_temp.diag($$SELECT settle_batch('{1}', '{100}', '{f}', '{99}', '{CEA}', '{2024}', '{""}', '{100}')$$) AS unknown_account;
SELECT pg_temp.diag($$SELECT settle_batch('{1}', '{100}', '{f}', '{7}', '{CEA}', '{2024}', '{""}', '{100}')$$) AS cea_to_a_cash_account;
SELECT pg_temp.diag($$SELECT settle_batch('{1}', '{100}', '{f}', '{2}', '{CEA}', '{2024}', '{""}', '{100}')$$) AS to_the_cancellation_account;
SELECT set_account_status(4, 'frozen') IS NOT NULL AS u1_holding_frozen;
SELECT pg_temp.diag($$SELECT settle_batch('{1}', '{100}', '{f}', '{6}', '{CEA}', '{2024}', '{""}', '{100}')$$) AS from_a_frozen_account;
SELECT set_account_status(4, 'open') IS NOT NULL AS reopened, set_account_status(6, 'closed') IS NOT NULL AS u2_holding_closed;
SELECT pg_temp.diag($$SELECT settle_batch('{1}', '{100}', '{f}', '{6}', '{CEA}', '{2024}', '{""}', '{100}')$$) AS to_a_closed_account;
SELECT set_account_status(6, 'open') IS NOT NULL AS reopened;
-- CCER moves by serial block: not in a batch
SELECT pg_temp.diag($$SELECT settle_batch('{6}', '{300}', '{f}', '{6}', '{CCER}', '{2024}', '{GD-OW-0042}', '{300}')$$) AS ccer_hold;
SELECT pg_temp.state() = :'before_refusals' AS nothing_moved;
SELECT release_hold(6) IS NOT NULL AS ccer_hold_released;

-- A frozen account still receives (as transfer_cea), and a release-only hold of a frozen
-- account is released (as release_hold): 200 t more of unit 1's hold go to unit 2, whose
-- holding account is frozen; unit 3's buy hold 4 ends without a fill although its cash
-- account is frozen.  (A batch with no cash leg: a delivery free of payment, which the
-- registry allows; the market always pairs them.)
SELECT set_account_status(6, 'frozen') IS NOT NULL AS u2_holding_frozen, set_account_status(9, 'frozen') IS NOT NULL AS u3_cash_frozen;
SELECT max(entry_id) AS e0 FROM journal \gset
SELECT settle_batch('{4,1}', '{0,200}', '{t,f}', '{6}', '{CEA}', '{2024}', '{""}', '{200}') IS NOT NULL AS frozen_receives;
SELECT j.account_id, j.kind, j.amount, j.held_change, j.balance_after, j.held_after, j.hold_id FROM journal j WHERE j.entry_id > :e0;
SELECT hold_id, remaining, status FROM hold WHERE hold_id IN (1, 4) ORDER BY 1;
SELECT set_account_status(6, 'open') IS NOT NULL AS reopened, set_account_status(9, 'open') IS NOT NULL AS reopened;

-- Many accounts: each head written once per batch -----------------------------------------
-- A batch of seven accounts (more than a posting keeps without allocating): unit 1 sells
-- 150 t twice and unit 3 200 t, unit 2 buys the 500 t at 60.00 with two orders (each fee
-- 0.05%), the exchange takes the four fees, and an order of unit 3 ends without a fill.
-- When no trigger but the chain's fires for its rows (the compliance room's fires for
-- surrenders only), the chain trigger advances each account's head in memory and the
-- batch writes them all with one UPDATE: as many account row updates as accounts, not as
-- journal rows.  With a trigger that may fire for its rows, each head is written as it
-- goes.  The result is the same chain.
-- helper: every account's head is its last journal row, seq runs 1..n without gaps, and
-- verify_ledger() finds nothing
CREATE FUNCTION pg_temp.heads() RETURNS text LANGUAGE sql AS
$$ SELECT CASE WHEN bad.n = 0 AND v.n = 0 THEN 'heads agree, ledger verified'
               ELSE format('%s heads wrong, %s problems', bad.n, v.n) END
     FROM (SELECT count(*) AS n FROM carbonmkt.account a
            LEFT JOIN LATERAL (SELECT j.seq, j.hash, count(*) OVER () AS rows FROM carbonmkt.journal j
                                WHERE j.account_id = a.account_id ORDER BY j.seq DESC LIMIT 1) j ON true
           WHERE a.head_seq <> coalesce(j.seq, 0) OR coalesce(j.rows, 0) <> a.head_seq
              OR (j.seq IS NOT NULL AND a.head_hash <> j.hash)) bad,
          (SELECT count(*) AS n FROM carbonmkt.verify_ledger()) v $$;
-- helper: the order holds of the batch
CREATE FUNCTION pg_temp.lay() RETURNS bigint[] LANGUAGE sql AS
$$ SELECT ARRAY[hold(4, 'CEA', 150, 'order', 2024), hold(4, 'CEA', 150, 'order', 2024),
                hold(8, 'CEA', 200, 'order', 2024), hold(7, 'CNY', 1800900, 'order'),
                hold(7, 'CNY', 1200600, 'order'), hold(9, 'CNY', 1000, 'order')] $$;
-- helper: settle the batch; its journal rows, accounts, and the account row updates it made
CREATE FUNCTION pg_temp.many(h bigint[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  e0 bigint; upd bigint; nrows bigint; naccts bigint;
BEGIN
  SELECT max(entry_id) INTO e0 FROM carbonmkt.journal;
  upd := pg_stat_get_xact_tuples_updated('carbonmkt.account'::regclass);
  PERFORM carbonmkt.settle_batch(h, '{150,150,200,1800900,1200600,0}', '{f,f,f,f,f,t}',
                                 '{6,5,9,3}', '{CEA,CNY,CNY,CNY}', '{2024,0,0,0}', '{"","","",""}',
                                 '{500,1799100,1199400,3000}');
  upd := pg_stat_get_xact_tuples_updated('carbonmkt.account'::regclass) - upd;
  SELECT count(*), count(DISTINCT account_id) INTO nrows, naccts FROM carbonmkt.journal WHERE entry_id > e0;
  RETURN format('%s journal rows on %s accounts, %s account row updates', nrows, naccts, upd);
END $$;
SELECT pg_temp.lay() AS h \gset
SELECT max(entry_id) AS e0 FROM journal \gset
SELECT pg_temp.many(:'h') AS heads_once;
SELECT j.account_id, j.seq, j.kind, j.amount, j.held_change, j.balance_after, j.held_after, j.hold_id
  FROM journal j WHERE j.entry_id > :e0 ORDER BY j.entry_id;
SELECT hold_id, remaining, status FROM hold WHERE hold_id = ANY (:'h') ORDER BY 1;
SELECT pg_temp.heads();
-- the holds laid and the batch settled in one transaction (the batch writes rows this
-- transaction wrote before: at their row versions), twice
BEGIN;
SELECT pg_temp.many(pg_temp.lay()) AS same_transaction;
SELECT pg_temp.many(pg_temp.lay()) AS again;
SELECT pg_temp.heads();
COMMIT;
-- a trigger that may fire for a credit: each head is written as it goes, same chain
CREATE FUNCTION public.regress_credit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER regress_credit BEFORE INSERT ON journal FOR EACH ROW WHEN (NEW.kind = 'credit')
  EXECUTE FUNCTION public.regress_credit();
SELECT pg_temp.lay() AS h \gset
SELECT pg_temp.many(:'h') AS heads_as_it_goes;
SELECT pg_temp.heads();
DROP TRIGGER regress_credit ON journal;
DROP FUNCTION public.regress_credit();
-- a batch rolled back with its subtransaction, then postings on the same accounts: a C
-- transfer and another batch, in the same transaction
CREATE FUNCTION pg_temp.rolled_back() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  gone text;
BEGIN
  BEGIN
    gone := pg_temp.many(pg_temp.lay());
    PERFORM 1 / 0;
  EXCEPTION WHEN division_by_zero THEN NULL;
  END;
  PERFORM transfer_cea(4, 6, 2024, 1);
  PERFORM transfer_cny(7, 5, 1);
  RETURN gone || ' (rolled back); then ' || pg_temp.many(pg_temp.lay()) || '; ' || pg_temp.heads();
END $$;
SELECT max(entry_id) AS e0 FROM journal \gset
SELECT pg_temp.rolled_back();
SELECT count(*) AS rows_kept, count(DISTINCT posting_id) AS postings_kept FROM journal WHERE entry_id > :e0;
SELECT pg_temp.heads();

-- At the end: cash and units conserved, to the fen and the tonne, and the ledger verifies
SELECT instrument, sum(balance) AS total, sum(held) AS held FROM holding GROUP BY 1 ORDER BY 1;
SELECT * FROM verify_ledger();
RESET carbonmkt.acting_room;
