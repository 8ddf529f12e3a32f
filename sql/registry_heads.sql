-- Chain heads when postings of every kind -- CEA and cash (transfer_cea/_cny, surrender_cea,
-- retire_cea, holds) and serial blocks (CCER), issue, withdraw; once two posting paths, now the
-- one C engine (src/posting.c) -- post to the same accounts in one transaction,
-- in every order, with and without savepoints; both when the posting path may write the
-- heads after the legs (no other trigger on the journal) and when it must write each head
-- as it goes (a trigger on the journal that may fire for the posting's rows), and when a
-- room's trigger posts to the same account between a posting's lock and its legs.  The
-- ledger alone: the compliance room's surrender trigger is disabled (sql/compliance*.sql).
-- Runs in its own database so that ids are deterministic.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_registry_heads;
CREATE DATABASE regress_registry_heads;
\c regress_registry_heads
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
ALTER TABLE carbonmkt.journal DISABLE TRIGGER compliance_surrender;
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2024-07-16 10:00:00+08';

-- helper: SQLSTATE, message and detail of an expected error
CREATE FUNCTION pg_temp.diag(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  st text; msg text; det text;
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
  RETURN st || ': ' || msg || CASE WHEN det <> '' THEN E'\nDETAIL: ' || det ELSE '' END;
END $$;
-- helper: a valid unified social credit code from its first 17 characters
CREATE FUNCTION pg_temp.uscc(p text) RETURNS text LANGUAGE sql AS
$$ SELECT p || carbonmkt.credit_code_check_char(p) $$;
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
-- helper: run a posting, say which way it wrote its heads: 'after the legs' (once all its legs
-- were in, in the command that inserted them: the posting's journal statement, or its rows
-- written without one, src/posting.c) or 'as it went' (each by the chain trigger's own
-- statement, a later command than the leg's).  Tells them apart by the command ids (cmin) of
-- the posting's legs and of its accounts' row versions, within the transaction.
CREATE FUNCTION pg_temp.post(post text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'SELECT ' || post;
  RETURN (SELECT CASE WHEN bool_and(a.cmin = j.cmin) THEN 'after the legs' ELSE 'as it went' END
            FROM carbonmkt.journal j JOIN carbonmkt.account a USING (account_id)
           WHERE j.posting_id = (SELECT max(p.posting_id) FROM carbonmkt.posting p));
END $$;

SELECT register_participant('Ministry of Ecology and Environment', 'national_authority', pg_temp.uscc('11100000MB0134256')) AS mee,
       register_participant('Guangdong Huarun Power Unit 1', 'key_emitter', pg_temp.uscc('91440300MA5F00001'),
                            '440000', '440300', 'power') AS unit1,
       register_participant('Guangdong Yuedian Power Unit 2', 'key_emitter', pg_temp.uscc('91440100MA5F00002'),
                            '440000', '440100', 'power') AS unit2;
SELECT open_account(2, 'holding') AS a,          -- 3
       open_account(3, 'holding') AS b,          -- 4
       open_account(2, 'cash') AS a_cash,        -- 5
       open_account(3, 'cash') AS b_cash;        -- 6
SELECT issue_cea(1, 2024, 100000) IS NOT NULL AS cea, issue_ccer(1, 'CCER:GD-OW-0042:2024:1-100000') IS NOT NULL AS ccer,
       transfer_cea(1, 3, 2024, 50000) IS NOT NULL AS to_a, transfer_ccer(1, 3, 'GD-OW-0042', 2024, 50000) IS NOT NULL AS ccer_to_a,
       deposit_cny(5, 1000000) IS NOT NULL AS cash;

-- The sequences, each in one transaction ------------------------------------------------------
-- CEA, CCER, CEA on the same two accounts; then the other way round
CREATE FUNCTION pg_temp.c_ccer_c() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM transfer_cea(3, 4, 2024, 10);
  PERFORM transfer_ccer(3, 4, 'GD-OW-0042', 2024, 10);
  PERFORM transfer_cea(3, 4, 2024, 10);
  PERFORM transfer_ccer(4, 3, 'GD-OW-0042', 2024, 5);
  PERFORM transfer_cea(4, 3, 2024, 5);
  RETURN pg_temp.heads();
END $$;
-- CCER first, CEA last; issue in between on the national reserve
CREATE FUNCTION pg_temp.ccer_c_issue() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM transfer_ccer(3, 4, 'GD-OW-0042', 2024, 1);
  PERFORM transfer_cea(1, 3, 2024, 1);
  PERFORM issue_cea(1, 2024, 1);
  PERFORM transfer_cea(1, 4, 2024, 1);
  PERFORM transfer_ccer(4, 3, 'GD-OW-0042', 2024, 1);
  RETURN pg_temp.heads();
END $$;
-- surrender and cancellation: CEA, CCER, CEA into the cancellation account
CREATE FUNCTION pg_temp.retire() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM surrender_cea(3, 2024, 10, 2024);
  PERFORM surrender_ccer(3, 'GD-OW-0042', 2024, 10, 2024);
  PERFORM retire_cea(3, 2024, 1);
  PERFORM retire_ccer(4, 'GD-OW-0042', 2024, 1);
  PERFORM surrender_cea(4, 2024, 1, 2024);
  RETURN pg_temp.heads();
END $$;
-- holds, a CCER hold spent by serial block, cash and a withdrawal
CREATE FUNCTION pg_temp.holds() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  h bigint;
BEGIN
  h := hold(3, 'CEA', 20, 'order', 2024);
  PERFORM transfer_ccer(3, 4, 'GD-OW-0042', 2024, 3);
  PERFORM transfer_from_hold(h, 4, 5);
  h := hold(3, 'CCER', 4, 'order', 2024, 'GD-OW-0042');
  PERFORM transfer_from_hold(h, 4, 4);
  PERFORM transfer_cny(5, 6, 100);
  PERFORM withdraw_cny(6, 50);
  PERFORM transfer_cny(6, 5, 50);
  PERFORM withdraw_cny(5, 1);
  RETURN pg_temp.heads();
END $$;
-- savepoints: a CCER posting rolled back, a CEA one released, both between CEA postings
CREATE FUNCTION pg_temp.savepoints() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM transfer_cea(3, 4, 2024, 1);
  BEGIN
    PERFORM transfer_ccer(3, 4, 'GD-OW-0042', 2024, 1);
    PERFORM transfer_cea(3, 4, 2024, 1);
    PERFORM 1 / 0;
  EXCEPTION WHEN division_by_zero THEN NULL;
  END;
  PERFORM transfer_cea(3, 4, 2024, 1);
  BEGIN
    PERFORM transfer_cea(4, 3, 2024, 1);
    PERFORM transfer_ccer(4, 3, 'GD-OW-0042', 2024, 1);
  END;
  PERFORM transfer_ccer(3, 4, 'GD-OW-0042', 2024, 1);
  PERFORM transfer_cea(3, 4, 2024, 1);
  RETURN pg_temp.heads();
END $$;

-- No other trigger on the journal: a posting writes its heads after its legs ---------------------
BEGIN;
SELECT pg_temp.post('transfer_cea(3, 4, 2024, 1)') AS heads_written;
SELECT pg_temp.c_ccer_c();
COMMIT;
BEGIN;
SELECT pg_temp.ccer_c_issue();
SELECT pg_temp.retire();
SELECT pg_temp.holds();
SELECT pg_temp.savepoints();
COMMIT;
SELECT pg_temp.heads();

-- A trigger on the journal that may fire for every row: each head is written as it goes -----------
CREATE FUNCTION public.regress_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RETURN NEW;
END $$;
CREATE TRIGGER regress_every_row BEFORE INSERT ON journal FOR EACH ROW EXECUTE FUNCTION public.regress_count();
BEGIN;
SELECT pg_temp.post('transfer_cea(3, 4, 2024, 1)') AS heads_written;
SELECT pg_temp.c_ccer_c();
COMMIT;
BEGIN;
SELECT pg_temp.ccer_c_issue();
SELECT pg_temp.retire();
SELECT pg_temp.holds();
SELECT pg_temp.savepoints();
COMMIT;
-- the same, one statement per transaction
SELECT pg_temp.c_ccer_c(), pg_temp.ccer_c_issue(), pg_temp.retire(), pg_temp.holds(), pg_temp.savepoints();
DROP TRIGGER regress_every_row ON journal;
SELECT pg_temp.heads();

-- A room's trigger posts to the posting's account between its lock and its legs ---------------
-- (when a CEA debit of account 3 changes its holding, a CCER transfer out of account 3 follows
-- then a CNY transfer out of its cash account)
-- (and the same once more in a subtransaction that commits, and in one that rolls back)
CREATE FUNCTION public.regress_side_posting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF pg_trigger_depth() = 1 THEN
    PERFORM carbonmkt.transfer_ccer(3, 4, 'GD-OW-0042', 2024, 1, NULL, 'side posting');
    PERFORM carbonmkt.transfer_cny(5, 6, 1, NULL, 'side posting');
    BEGIN
      PERFORM carbonmkt.transfer_ccer(3, 4, 'GD-OW-0042', 2024, 1, NULL, 'side posting');
      PERFORM carbonmkt.transfer_cny(5, 6, 1, NULL, 'side posting');
    EXCEPTION WHEN division_by_zero THEN NULL;
    END;
    BEGIN
      PERFORM carbonmkt.transfer_ccer(3, 4, 'GD-OW-0042', 2024, 1, NULL, 'rolled back');
      PERFORM carbonmkt.transfer_cny(5, 6, 1, NULL, 'rolled back');
      PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN NULL;
    END;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER regress_side_posting AFTER UPDATE ON holding FOR EACH ROW
  WHEN (NEW.account_id = 3 AND NEW.instrument = 'CEA' AND NEW.balance < OLD.balance)
  EXECUTE FUNCTION public.regress_side_posting();
BEGIN;
SELECT transfer_cea(3, 4, 2024, 1) IS NOT NULL AS posted;
SELECT pg_temp.c_ccer_c();
SELECT surrender_cea(3, 2024, 1, 2024) IS NOT NULL AS surrendered;
SELECT pg_temp.heads();
COMMIT;
SELECT transfer_cea(3, 4, 2024, 1) IS NOT NULL AS posted, pg_temp.heads();
DROP TRIGGER regress_side_posting ON holding;
DROP FUNCTION public.regress_side_posting();
SELECT memo, count(*) AS entries FROM journal WHERE memo IN ('side posting', 'rolled back') GROUP BY 1;

-- Which triggers on the journal make a posting write its heads as it goes ----------------------
-- A trigger whose WHEN clause cannot fire for the rows of a posting is no reason to: only
-- the entry kinds of its rows count (NEW.kind = 'x', NEW.kind IN (...), OR, AND with other
-- conditions); any other WHEN clause, or none, may fire for any row.
CREATE FUNCTION pg_temp.mode(when_clause text, post text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  result text;
BEGIN
  IF when_clause IS NOT NULL THEN
    EXECUTE format('CREATE TRIGGER regress_when BEFORE INSERT ON carbonmkt.journal FOR EACH ROW WHEN (%s) '
                   'EXECUTE FUNCTION public.regress_count()', when_clause);
  END IF;
  result := pg_temp.post(post);
  IF when_clause IS NOT NULL THEN
    DROP TRIGGER regress_when ON carbonmkt.journal;
  END IF;
  RETURN result;
END $$;
-- (each in a transaction of its own)
CREATE TEMP TABLE modes (ord serial, when_clause text, post text, heads_written text);
INSERT INTO modes (when_clause, post) VALUES
  (NULL, 'transfer_cea(3, 4, 2024, 1)'),
  (NULL, 'surrender_cea(3, 2024, 1, 2024)'),
  ($$NEW.kind = 'surrender'$$, 'transfer_cea(3, 4, 2024, 1)'),
  ($$NEW.kind = 'surrender'$$, 'surrender_cea(3, 2024, 1, 2024)'),
  ($$NEW.kind = 'surrender'$$, 'retire_cea(3, 2024, 1)'),
  ($$'surrender' = NEW.kind$$, 'transfer_cny(5, 6, 1)'),
  ($$NEW.kind = 'debit'$$, 'transfer_cea(3, 4, 2024, 1)'),
  ($$NEW.kind = 'credit'$$, 'transfer_cea(3, 4, 2024, 1)'),
  ($$NEW.kind = 'retire'$$, 'surrender_cea(3, 2024, 1, 2024)'),
  ($$NEW.kind IN ('surrender', 'cancel')$$, 'transfer_cea(3, 4, 2024, 1)'),
  ($$NEW.kind IN ('surrender', 'cancel')$$, 'retire_cea(3, 2024, 1)'),
  ($$NEW.kind = 'surrender' OR NEW.kind = 'hold'$$, 'hold(3, ''CEA'', 1, ''order'', 2024)'),
  ($$NEW.kind = 'surrender' OR NEW.kind = 'hold'$$, 'transfer_cea(3, 4, 2024, 1)'),
  ($$NEW.kind = 'surrender' AND NEW.amount < 0$$, 'transfer_cea(3, 4, 2024, 1)'),
  ($$NEW.kind = 'surrender' AND NEW.amount < 0$$, 'surrender_cea(3, 2024, 1, 2024)'),
  ($$NEW.amount < 0 AND NEW.kind IN ('cancel')$$, 'transfer_cea(3, 4, 2024, 1)'),
  ($$NEW.kind = 'surrender' OR NEW.amount < 0$$, 'transfer_cea(3, 4, 2024, 1)'),
  ($$NEW.kind <> 'surrender'$$, 'transfer_cea(3, 4, 2024, 1)'),
  ($$NOT (NEW.kind = 'surrender')$$, 'transfer_cea(3, 4, 2024, 1)'),
  ($$NEW.kind::text = 'surrender'$$, 'transfer_cea(3, 4, 2024, 1)'),
  ($$NEW.amount < 0$$, 'transfer_cea(3, 4, 2024, 1)'),
  ($$NEW.kind = NULL$$, 'transfer_cea(3, 4, 2024, 1)'),
  ($$NEW.kind IN ('surrender', NULL)$$, 'transfer_cea(3, 4, 2024, 1)');
SELECT format('UPDATE modes SET heads_written = pg_temp.mode(%L, %L) WHERE ord = %s', when_clause, post, ord)
  FROM modes ORDER BY ord \gexec
SELECT when_clause, post, heads_written FROM modes ORDER BY ord;
-- a disabled trigger fires for nothing; one that fires only for replicas likewise
CREATE TRIGGER regress_every_row BEFORE INSERT ON journal FOR EACH ROW EXECUTE FUNCTION public.regress_count();
ALTER TABLE journal DISABLE TRIGGER regress_every_row;
SELECT pg_temp.mode(NULL, 'transfer_cea(3, 4, 2024, 1)') AS disabled;
ALTER TABLE journal ENABLE REPLICA TRIGGER regress_every_row;
SELECT pg_temp.mode(NULL, 'transfer_cea(3, 4, 2024, 1)') AS replica_only;
ALTER TABLE journal ENABLE TRIGGER regress_every_row;
SELECT pg_temp.mode(NULL, 'transfer_cea(3, 4, 2024, 1)') AS enabled;
DROP TRIGGER regress_every_row ON journal;
-- an AFTER trigger, a statement trigger
CREATE TRIGGER regress_after AFTER INSERT ON journal FOR EACH ROW WHEN (NEW.kind = 'surrender')
  EXECUTE FUNCTION public.regress_count();
SELECT pg_temp.mode(NULL, 'transfer_cea(3, 4, 2024, 1)') AS after_surrender_only;
SELECT pg_temp.mode(NULL, 'surrender_cea(3, 2024, 1, 2024)') AS after_surrender;
DROP TRIGGER regress_after ON journal;
CREATE FUNCTION public.regress_statement() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER regress_statement AFTER INSERT ON journal FOR EACH STATEMENT EXECUTE FUNCTION public.regress_statement();
SELECT pg_temp.mode(NULL, 'transfer_cea(3, 4, 2024, 1)') AS statement_trigger;
DROP TRIGGER regress_statement ON journal;
-- the compliance room's own trigger (WHEN (NEW.kind = 'surrender')), enabled
ALTER TABLE journal ENABLE TRIGGER compliance_surrender;
SELECT pg_temp.mode(NULL, 'transfer_cea(3, 4, 2024, 1)') AS with_compliance;
ALTER TABLE journal DISABLE TRIGGER compliance_surrender;

-- A trigger that fires only for surrender rows sees the posting row and the holdings as they
-- were when it fired in the posting, and its heads stay right around transfers that defer theirs
CREATE FUNCTION public.regress_look() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'surrender row of account %: posting row in: %, balance after %, holding now %', NEW.account_id,
    EXISTS (SELECT 1 FROM carbonmkt.posting p WHERE p.posting_id = NEW.posting_id), NEW.balance_after,
    (SELECT h.balance FROM carbonmkt.holding h WHERE h.account_id = NEW.account_id AND h.instrument = NEW.instrument
        AND h.vintage = NEW.vintage AND h.project = NEW.project);
  RETURN NEW;
END $$;
CREATE TRIGGER regress_look BEFORE INSERT ON journal FOR EACH ROW WHEN (NEW.kind = 'surrender')
  EXECUTE FUNCTION public.regress_look();
BEGIN;
SELECT transfer_cea(3, 4, 2024, 1) IS NOT NULL AS t1, surrender_cea(3, 2024, 2, 2024) IS NOT NULL AS s1,
       transfer_cea(3, 4, 2024, 1) IS NOT NULL AS t2, surrender_ccer(3, 'GD-OW-0042', 2024, 2, 2024) IS NOT NULL AS s2,
       transfer_cea(4, 3, 2024, 1) IS NOT NULL AS t3;
SELECT pg_temp.c_ccer_c(), pg_temp.retire();
COMMIT;
DROP TRIGGER regress_look ON journal;
DROP FUNCTION public.regress_look();

-- journal.posting_id: every entry belongs to a posting -------------------------------------------
-- (no foreign key: the chain trigger checks it, verify_ledger() reports an entry without one)
SELECT pg_temp.diag($$INSERT INTO journal (posting_id, account_id, kind, instrument, vintage, project, amount,
                       held_change, balance_after, held_after, business_date, recorded_at)
                     VALUES (999999, 3, 'credit', 'CEA', 2024, '', 0, 0, 0, 0, '2024-07-16', now())$$);
SELECT pg_temp.diag($$INSERT INTO journal (posting_id, account_id, kind, instrument, vintage, project, amount,
                       held_change, balance_after, held_after, business_date, recorded_at)
                     VALUES (999999, 99, 'credit', 'CEA', 2024, '', 0, 0, 0, 0, '2024-07-16', now())$$);
BEGIN;
ALTER TABLE journal DISABLE TRIGGER USER;
UPDATE journal SET posting_id = 999999 WHERE entry_id = 7;
ALTER TABLE journal ENABLE TRIGGER USER;
SELECT problem, account_id, entry_id FROM verify_ledger() ORDER BY 1, 2, 3;
ROLLBACK;

-- Everything adds up ------------------------------------------------------------------------------
SELECT account_id, asset, balance, held, available FROM account_balance ORDER BY 1, 2;
SELECT pg_temp.heads();

\c postgres
SET client_min_messages = warning;
DROP DATABASE regress_registry_heads;
