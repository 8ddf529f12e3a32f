-- test/ops/lib/small-registry.sql: a small registry for the crash and PITR scenarios,
-- which need a cluster of their own (fsync on, WAL archiving): eight key emitting units
-- in Beijing with holding accounts 3..10, 100,000,000 t of CEA 2024 issued into the
-- national reserve and 1,000,000 t transferred to each unit.
SET search_path = carbonmkt, public;
DO $$
DECLARE
    pid    bigint;
    code17 text;
BEGIN
    FOR i IN 1..8 LOOP
        code17 := '91110000MA' || lpad(i::text, 7, '0');
        pid := register_participant('Ops unit ' || i, 'key_emitter', code17 || credit_code_check_char(code17),
                                    '110000', '110100', 'power');
        PERFORM open_account(pid, 'holding');
    END LOOP;
END $$;
SELECT issue_cea(1, 2024, 100000000, 'ops-issue') IS NOT NULL AS issued;
SELECT count(transfer_cea(1, a.account_id, 2024, 1000000, 'ops-fund-' || a.account_id)) AS funded
  FROM account a WHERE a.kind = 'holding';
