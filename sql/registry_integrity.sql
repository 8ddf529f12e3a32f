-- Registry integrity: unified social credit codes, the journal hash chain,
-- the append-only guard, day-seal digests and chain verification.
-- Runs in its own database: it writes journal rows directly, as a superuser,
-- to exercise the triggers underneath the posting functions.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_registry_integrity;
CREATE DATABASE regress_registry_integrity;
\c regress_registry_integrity
SET client_min_messages = warning;
CREATE EXTENSION carbonmkt;
RESET client_min_messages;
-- the compliance rules of surrender are tested in sql/compliance*.sql; here the ledger alone
ALTER TABLE carbonmkt.journal DISABLE TRIGGER compliance_surrender;
SET search_path = carbonmkt, public;
\set VERBOSITY default

CREATE FUNCTION pg_temp.sqlstate_of(sql text) RETURNS text LANGUAGE plpgsql AS
$$
BEGIN
	EXECUTE sql;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;

-------------------------------------------------------------------------------
-- Unified social credit codes (GB 32100-2015)
-------------------------------------------------------------------------------
SELECT credit_code_check_char('91350100M000100Y4');
SELECT credit_code_check_char('91350100M000100Y43');
SELECT credit_code_check_char(' 91350100m000100y4 ');
-- check value 31 is written 0: the first such code of a family
SELECT c || credit_code_check_char(c) AS code, valid_credit_code(c || '0') AS valid
FROM (SELECT '91350100M0001' || lpad(i::text, 4, '0') AS c FROM generate_series(0, 9999) i) v
WHERE credit_code_check_char(c) = '0' ORDER BY c LIMIT 2;
SELECT valid_credit_code(c) AS valid, c
FROM (VALUES ('91350100M000100Y43'), ('91350100m000100y43'), ('  91350100M000100Y43'),
             ('91350100M000100Y42'), ('91350100M000100Y4'), ('91350100M000100Y433'),
             ('91350100M000100I43'), ('91350100M000100O43'), ('9135010０M000100Y43'),
             (''), ('9135 100M000100Y43')) v(c);
SELECT check_credit_code(' 91350100m000100y43 ');
-- every error names the problem
SELECT check_credit_code('91350100M000100Y42');
SELECT check_credit_code('91350100M000100Y4');
SELECT check_credit_code('');
SELECT check_credit_code('91350100M000100I43');
SELECT check_credit_code('913501S0M000100Y43');
SELECT check_credit_code('9135010０M000100Y43');
SELECT credit_code_check_char('91350100M00010');
SELECT credit_code_check_char('9135010ZM000100Y4');
SELECT pg_temp.sqlstate_of($$SELECT carbonmkt.check_credit_code('91350100M000100Y42')$$);
SELECT pg_temp.sqlstate_of($$SELECT carbonmkt.credit_code_check_char('x')$$);
SELECT check_credit_code(NULL) IS NULL AS strict, valid_credit_code(NULL) IS NULL AS strict;

-- the participant trigger normalises codes and refuses bad ones
INSERT INTO participant (name, kind, credit_code, province, sector)
VALUES ('Fuzhou Power', 'key_emitter', ' 91350100m000100y43', '350000', 'power');
SELECT participant_id, credit_code FROM participant;
INSERT INTO participant (name, kind, credit_code) VALUES ('Bad', 'institution', '91350100M000100Y42');
UPDATE participant SET credit_code = '91350100M000100Y4' WHERE participant_id = 1;
UPDATE participant SET credit_code = lower(credit_code) WHERE participant_id = 1
RETURNING credit_code;

-------------------------------------------------------------------------------
-- The journal hash chain
-------------------------------------------------------------------------------
INSERT INTO account (kind, participant_id, label)
VALUES ('holding', 1, 'A'), ('holding', 1, 'B'), ('cash', 1, 'C'), ('holding', 1, 'empty'),
       ('holding', 1, 'D');
SELECT account_id, label, head_seq, head_hash FROM account ORDER BY account_id;

INSERT INTO posting (operation, initiator, reference, request, business_date, recorded_at)
SELECT 'test', 'tester', 'ref-' || i, 'request ' || i, date '2026-01-05' + (i / 3),
       timestamptz '2026-01-05 09:30:00+08' + i * interval '1 minute'
FROM generate_series(1, 6) i;

-- seq, prev_hash and hash given by the inserter are overwritten
INSERT INTO journal (posting_id, account_id, seq, kind, instrument, vintage, project, amount,
                     held_change, balance_after, held_after, counterparty, business_date,
                     recorded_at, memo, prev_hash, hash)
VALUES (1, 1, 99, 'issue', 'CEA', 2024, '', 1000, 0, 1000, 0, NULL, '2026-01-05',
        '2026-01-05 09:31:00.123456+08', 'free allocation 发放', '\xff', '\xff');
-- several rows of one account in one statement chain up in order
INSERT INTO journal (posting_id, account_id, kind, instrument, vintage, project, amount,
                     held_change, balance_after, held_after, counterparty, hold_id, business_date,
                     recorded_at, memo)
VALUES (2, 1, 'hold', 'CEA', 2024, '', 0, 300, 1000, 300, NULL, 7, '2026-01-05',
        '2026-01-05 09:32:00+08', NULL),
       (3, 1, 'debit', 'CEA', 2024, '', -300, -300, 700, 0, 2, 7, '2026-01-06',
        '2026-01-06 10:00:00+08', 'trade'),
       (3, 2, 'credit', 'CEA', 2024, '', 300, 0, 300, 0, 1, NULL, '2026-01-06',
        '2026-01-06 10:00:00+08', 'trade'),
       (4, 3, 'issue', 'CNY', 0, '', 5000000, 0, 5000000, 0, NULL, NULL, '2026-01-06',
        '2026-01-06 10:05:00+08', E'line one\nline two');
INSERT INTO journal (posting_id, account_id, kind, instrument, vintage, project, amount,
                     held_change, balance_after, held_after, period, business_date,
                     recorded_at, memo)
VALUES (5, 2, 'surrender', 'CEA', 2024, '', -100, 0, 200, 0, 2024, '2026-01-07',
        '2026-01-07 16:00:00+08', '');

-- a CCER block is written by the ccer type's canonical output
INSERT INTO journal (posting_id, account_id, kind, instrument, vintage, project, block, amount,
                     held_change, balance_after, held_after, business_date, recorded_at)
VALUES (6, 5, 'credit', 'CCER', 2024, 'GD-OW-0042', 'CCER:gd-ow-0042:2024:1-50000', 50000,
        0, 50000, 0, '2026-01-08', '2026-01-08 09:00:00+08');

SELECT entry_id, account_id, seq, kind, encode(prev_hash, 'hex') AS prev_hash,
       encode(hash, 'hex') AS hash
FROM journal ORDER BY entry_id;

-- the canonical payload
SELECT journal_payload(j) FROM journal j WHERE entry_id = 1;
SELECT journal_payload(j) FROM journal j WHERE entry_id = 5;
SELECT journal_payload(j) FROM journal j WHERE entry_id = 7;

-- by hand: hash = sha256(prev_hash || UTF-8 payload) and prev_hash links to the previous entry
SELECT entry_id,
       sha256(prev_hash || convert_to(journal_payload(j), 'UTF8')) = hash AS by_hand,
       journal_hash(prev_hash, j) = hash AS by_function,
       prev_hash = coalesce((SELECT p.hash FROM journal p
                             WHERE p.account_id = j.account_id AND p.seq = j.seq - 1),
                            decode(repeat('00', 32), 'hex')) AS linked
FROM journal j ORDER BY entry_id;

-- the payload rebuilt in pure SQL (doc/registry-chain.md) equals journal_payload()
SELECT j.entry_id, p.payload = journal_payload(j) AS same,
       sha256(j.prev_hash || convert_to(p.payload, 'UTF8')) = j.hash AS hash_ok
FROM journal j,
LATERAL (
  SELECT string_agg(CASE WHEN v IS NULL THEN f || E'=\\N\n'
                         ELSE f || '=' || octet_length(convert_to(v, 'UTF8')) || ':' || v || E'\n'
                    END, '' ORDER BY ord)
  FROM (VALUES
    (1, 'entry_id', j.entry_id::text), (2, 'posting_id', j.posting_id::text),
    (3, 'account_id', j.account_id::text), (4, 'seq', j.seq::text),
    (5, 'kind', j.kind::text), (6, 'instrument', j.instrument::text),
    (7, 'vintage', j.vintage::text), (8, 'project', j.project),
    (9, 'block', j.block::text), (10, 'amount', j.amount::text),
    (11, 'held_change', j.held_change::text), (12, 'balance_after', j.balance_after::text),
    (13, 'held_after', j.held_after::text), (14, 'counterparty', j.counterparty::text),
    (15, 'hold_id', j.hold_id::text), (16, 'period', j.period::text),
    (17, 'business_date', to_char(j.business_date, 'YYYY-MM-DD')),
    (18, 'recorded_at', (extract(epoch FROM j.recorded_at) * 1000000)::bigint::text),
    (19, 'memo', j.memo)) AS fields(ord, f, v)
) AS p(payload)
ORDER BY j.entry_id;

-- the payload does not depend on DateStyle or TimeZone
SET DateStyle = 'German, DMY';
SET TimeZone = 'America/New_York';
SELECT count(*) AS hashes_ok FROM journal j WHERE journal_hash(prev_hash, j) = hash;
RESET DateStyle;
RESET TimeZone;

-- account heads follow their chains; the empty account keeps the genesis head
SELECT a.account_id, a.head_seq, a.head_hash = coalesce(
         (SELECT j.hash FROM journal j WHERE j.account_id = a.account_id ORDER BY seq DESC LIMIT 1),
         decode(repeat('00', 32), 'hex')) AS head_ok
FROM account a ORDER BY a.account_id;

-- unknown account
INSERT INTO journal (posting_id, account_id, kind, instrument, vintage, project, amount,
                     held_change, balance_after, held_after, business_date, recorded_at)
VALUES (6, 999, 'issue', 'CEA', 2024, '', 1, 0, 1, 0, '2026-01-07', '2026-01-07 16:00:00+08');
SELECT pg_temp.sqlstate_of($$INSERT INTO carbonmkt.journal (posting_id, account_id, kind,
  instrument, vintage, project, amount, held_change, balance_after, held_after, business_date,
  recorded_at) VALUES (6, 999, 'issue', 'CEA', 2024, '', 1, 0, 1, 0, '2026-01-07', now())$$);

-------------------------------------------------------------------------------
-- Append-only
-------------------------------------------------------------------------------
UPDATE journal SET amount = 1 WHERE entry_id = 2;
DELETE FROM journal WHERE entry_id = 6;
TRUNCATE journal;
TRUNCATE posting CASCADE;
DELETE FROM posting WHERE posting_id = 6;
SELECT pg_temp.sqlstate_of($$UPDATE carbonmkt.journal SET memo = 'x' WHERE entry_id = 1$$);
-- posting.result may be set once, from NULL, and nothing else may change
UPDATE posting SET result = 42 WHERE posting_id = 2 RETURNING posting_id, result;
UPDATE posting SET result = 43 WHERE posting_id = 2;
UPDATE posting SET result = NULL WHERE posting_id = 2;
UPDATE posting SET result = 44, request = 'changed' WHERE posting_id = 3;
UPDATE posting SET request = 'changed' WHERE posting_id = 3;
UPDATE posting SET result = result WHERE posting_id = 4;
SELECT posting_id, result, request FROM posting ORDER BY posting_id;

-------------------------------------------------------------------------------
-- Day seals and verification
-------------------------------------------------------------------------------
SELECT d, encode(h.digest, 'hex') AS digest, h.accounts, h.entries
FROM (VALUES (date '2026-01-04'), ('2026-01-05'), ('2026-01-06'), ('2026-01-07')) v(d),
     LATERAL heads_digest(d) h;
-- by hand
SELECT (heads_digest('2026-01-06')).digest = sha256(convert_to(
         '1:3:' || encode((SELECT hash FROM journal WHERE account_id = 1 AND seq = 3), 'hex') || E'\n' ||
         '2:1:' || encode((SELECT hash FROM journal WHERE account_id = 2 AND seq = 1), 'hex') || E'\n' ||
         '3:1:' || encode((SELECT hash FROM journal WHERE account_id = 3 AND seq = 1), 'hex') || E'\n',
         'UTF8')) AS by_hand;

INSERT INTO day_seal (business_date, digest, accounts, entries, sealed_at, sealed_by)
SELECT d, h.digest, h.accounts, h.entries, timestamptz '2026-01-08 00:00:00+08', 'tester'
FROM (VALUES (date '2026-01-05'), ('2026-01-06'), ('2026-01-07')) v(d), LATERAL heads_digest(d) h;
UPDATE day_seal SET entries = 0;
DELETE FROM day_seal;
TRUNCATE day_seal;

-- all is well
SELECT * FROM verify_chains();

-- a row altered behind the trigger's back: exactly that entry
BEGIN;
ALTER TABLE journal DISABLE TRIGGER USER;
UPDATE journal SET amount = -299 WHERE entry_id = 3;
ALTER TABLE journal ENABLE TRIGGER USER;
SELECT problem, account_id, entry_id FROM verify_chains();
ROLLBACK;

-- a deleted row in the middle of a chain: a gap (the later seal no longer matches)
BEGIN;
ALTER TABLE journal DISABLE TRIGGER USER;
DELETE FROM journal WHERE entry_id = 2;
ALTER TABLE journal ENABLE TRIGGER USER;
SELECT * FROM verify_chains();
ROLLBACK;

-- a deleted last row: the head no longer matches
BEGIN;
ALTER TABLE journal DISABLE TRIGGER USER;
DELETE FROM journal WHERE entry_id = 6;
ALTER TABLE journal ENABLE TRIGGER USER;
SELECT * FROM verify_chains();
ROLLBACK;

-- a relinked row (prev_hash changed, hash recomputed to match)
BEGIN;
ALTER TABLE journal DISABLE TRIGGER USER;
UPDATE journal j SET prev_hash = decode(repeat('00', 32), 'hex') WHERE entry_id = 3;
UPDATE journal j SET hash = journal_hash(prev_hash, j) WHERE entry_id = 3;
ALTER TABLE journal ENABLE TRIGGER USER;
SELECT problem, account_id, entry_id FROM verify_chains();
ROLLBACK;

-- a tampered head, including the empty account's
BEGIN;
UPDATE account SET head_seq = 1 WHERE account_id = 4;
SELECT * FROM verify_chains();
ROLLBACK;

-- a tampered seal
BEGIN;
ALTER TABLE day_seal DISABLE TRIGGER USER;
UPDATE day_seal SET entries = 4 WHERE business_date = '2026-01-06';
UPDATE day_seal SET digest = sha256('forged') WHERE business_date = '2026-01-07';
ALTER TABLE day_seal ENABLE TRIGGER USER;
SELECT * FROM verify_chains();
ROLLBACK;

SELECT * FROM verify_chains();

-- function labels
SELECT p.proname, p.provolatile, p.proisstrict, p.proparallel, p.prosecdef,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
FROM pg_proc p
WHERE p.pronamespace = 'carbonmkt'::regnamespace
  AND p.proname IN ('credit_code_check_char', 'valid_credit_code', 'check_credit_code',
                    'participant_credit_code', 'journal_payload', 'journal_hash', 'journal_chain',
                    'forbid_change', 'heads_digest', 'verify_chains')
ORDER BY p.proname;
