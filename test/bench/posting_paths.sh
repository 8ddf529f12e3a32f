#!/usr/bin/env bash
# test/bench/posting_paths.sh -- make bench BENCH=posting_paths
#
# The postings that moved from PL/pgSQL into the one C posting engine (src/posting.c):
# issuance of CEA and CCER, cash deposit and withdrawal, CCER transfers by quantity (lowest
# serials first, the last block split) and by exact block (cut out of the block holding it),
# against the PL/pgSQL path they replaced (test/bench/posting_paths_baseline.sql, the old
# helpers verbatim in schema bench_plpgsql), in the same run on the same cluster.
# Each posting is its own transaction (a procedure that COMMITs after every call; only the
# call is timed, in the server, with clock_timestamp()).  ${BENCH_ROUNDS:-5} rounds of
# ${BENCH_N:-300} postings per operation and side, the order of the sides swapped between
# rounds; prints the load average before and after, the median microseconds per posting and
# the ratio C/PL/pgSQL per operation (target <= 1.00: not slower).  The C side works on
# project BENCH-C and unit A, the PL/pgSQL side on BENCH-P and unit B; fails unless both end
# with the same balances and blocks and verify_ledger() reports nothing.
set -euo pipefail

ROUNDS=${BENCH_ROUNDS:-5}
N=${BENCH_N:-300}
: "${PGDATABASE:=carbonmkt_bench}"
export PGDATABASE
here=$(dirname "$0")

echo "-- load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
psql -X -q -v ON_ERROR_STOP=1 -f "$here/posting_paths_baseline.sql"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
SET search_path = public, carbonmkt;
CREATE TABLE bench_ids (name text PRIMARY KEY, id bigint);
CREATE TABLE bench_result (round int, op text, side text, us_per_posting float8);
CREATE TABLE bench_next (side text PRIMARY KEY, issue_serial bigint, cut_serial bigint);
DO $$
DECLARE
    code17 text;
    pid    bigint;
    reserve bigint := (SELECT account_id FROM carbonmkt.account WHERE kind = 'national_reserve');
BEGIN
    INSERT INTO bench_ids VALUES ('reserve', reserve);
    FOR i IN 1..2 LOOP
        code17 := '91440000MA' || lpad(i::text, 7, '0');
        pid := register_participant('Bench unit ' || i, 'key_emitter', code17 || credit_code_check_char(code17),
                                    '440000', '440100', 'power');
        INSERT INTO bench_ids VALUES ('unit' || i, open_account(pid, 'holding')),
                                     ('cash' || i, open_account(pid, 'cash'));
    END LOOP;
    -- the pools the transfers draw on: one block of 100,000,000 serials per side
    PERFORM issue_ccer(reserve, ccer('BENCH-C', 2024, 1, 100000000));
    PERFORM issue_ccer(reserve, ccer('BENCH-P', 2024, 1, 100000000));
    INSERT INTO bench_next VALUES ('C', 1000000000, 50000000), ('PL', 1000000000, 50000000);
END $$;

-- one operation, one side, n postings, each in its own transaction; records µs per posting
CREATE PROCEDURE bench_run(p_round int, p_op text, p_side text, n int)
LANGUAGE plpgsql AS $$
DECLARE
    reserve bigint := (SELECT id FROM bench_ids WHERE name = 'reserve');
    unit    bigint := (SELECT id FROM bench_ids WHERE name = CASE p_side WHEN 'C' THEN 'unit1' ELSE 'unit2' END);
    cash    bigint := (SELECT id FROM bench_ids WHERE name = CASE p_side WHEN 'C' THEN 'cash1' ELSE 'cash2' END);
    project text := CASE p_side WHEN 'C' THEN 'BENCH-C' ELSE 'BENCH-P' END;
    s       bigint;
    cut     bigint;
    t0      timestamptz;
    total   interval := interval '0';
BEGIN
    SELECT issue_serial, cut_serial INTO s, cut FROM bench_next WHERE side = p_side;
    FOR i IN 1..n LOOP
        t0 := clock_timestamp();
        IF p_side = 'C' THEN
            CASE p_op
            WHEN 'issue_cea' THEN PERFORM carbonmkt.issue_cea(reserve, 2024, 10);
            WHEN 'issue_ccer' THEN PERFORM carbonmkt.issue_ccer(reserve, carbonmkt.ccer(project, 2024, s, s + 99));
            WHEN 'deposit_cny' THEN PERFORM carbonmkt.deposit_cny(cash, 1000);
            WHEN 'withdraw_cny' THEN PERFORM carbonmkt.withdraw_cny(cash, 1000);
            WHEN 'transfer_ccer' THEN PERFORM carbonmkt.transfer_ccer(reserve, unit, project, 2024, 150);
            WHEN 'transfer_ccer_block' THEN
                PERFORM carbonmkt.transfer_ccer_block(reserve, unit, carbonmkt.ccer(project, 2024, cut, cut + 49));
            END CASE;
        ELSE
            CASE p_op
            WHEN 'issue_cea' THEN
                PERFORM bench_plpgsql._issue('issue_cea', reserve, 'CEA', 2024, '', 10, NULL, NULL, NULL);
            WHEN 'issue_ccer' THEN
                PERFORM bench_plpgsql._issue('issue_ccer', reserve, 'CCER', 2024, project, 100,
                                             carbonmkt.ccer(project, 2024, s, s + 99), NULL, NULL);
            WHEN 'deposit_cny' THEN
                PERFORM bench_plpgsql._issue('deposit_cny', cash, 'CNY', 0, '', 1000, NULL, NULL, NULL);
            WHEN 'withdraw_cny' THEN
                PERFORM bench_plpgsql.withdraw_cny(cash, 1000);
            WHEN 'transfer_ccer' THEN
                PERFORM bench_plpgsql._transfer_ccer('transfer_ccer', 'transfer', reserve, unit, 'CCER', 2024, project,
                                                     150, 'debit', 'credit', NULL, NULL, NULL);
            WHEN 'transfer_ccer_block' THEN
                PERFORM bench_plpgsql._transfer_ccer('transfer_ccer_block', 'transfer', reserve, unit, 'CCER', 2024,
                                                     project, 50, 'debit', 'credit', NULL, NULL, NULL,
                                                     carbonmkt.ccer(project, 2024, cut, cut + 49));
            END CASE;
        END IF;
        total := total + (clock_timestamp() - t0);
        IF p_op = 'issue_ccer' THEN s := s + 100; END IF;
        IF p_op = 'transfer_ccer_block' THEN cut := cut + 50; END IF;
        COMMIT;
    END LOOP;
    UPDATE bench_next SET issue_serial = s, cut_serial = cut WHERE side = p_side;
    INSERT INTO bench_result VALUES (p_round, p_op, p_side, extract(epoch FROM total) * 1e6 / n);
    COMMIT;
END $$;
SQL

ops="issue_cea issue_ccer deposit_cny withdraw_cny transfer_ccer transfer_ccer_block"
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then sides="C PL"; else sides="PL C"; fi
	for op in $ops; do
		for side in $sides; do
			psql -X -q -v ON_ERROR_STOP=1 -c "SET synchronous_commit = off" -c "CALL bench_run($r, '$op', '$side', $N)"
		done
	done
	echo "-- round $r of $ROUNDS done"
done
echo "-- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

psql -X -v ON_ERROR_STOP=1 <<'SQL'
\pset footer off
SELECT op, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY us_per_posting) FILTER (WHERE side = 'PL')::numeric, 1) AS plpgsql_us,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY us_per_posting) FILTER (WHERE side = 'C')::numeric, 1) AS c_us,
       count(*) / 2 AS rounds
  FROM bench_result GROUP BY op ORDER BY op;
SELECT format('ratio %s C/PL/pgSQL %s (target <= 1.00) %s', op, to_char(c / pl, 'FM0.00'),
              CASE WHEN c / pl <= 1.0 THEN 'ok' ELSE 'MISSED' END) AS result
  FROM (SELECT op, percentile_cont(0.5) WITHIN GROUP (ORDER BY us_per_posting) FILTER (WHERE side = 'C') AS c,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY us_per_posting) FILTER (WHERE side = 'PL') AS pl
          FROM bench_result GROUP BY op) x ORDER BY op;
-- both sides did the same: the same balances, the same blocks, a verified ledger
DO $$
DECLARE
    bad int;
BEGIN
    SELECT count(*) INTO bad FROM (
        SELECT h.instrument, h.vintage, replace(h.project, 'BENCH-C', 'BENCH-X') AS project, h.balance, h.held
          FROM carbonmkt.holding h JOIN bench_ids i ON i.id = h.account_id AND i.name IN ('unit1', 'cash1')
        EXCEPT
        SELECT h.instrument, h.vintage, replace(h.project, 'BENCH-P', 'BENCH-X'), h.balance, h.held
          FROM carbonmkt.holding h JOIN bench_ids i ON i.id = h.account_id AND i.name IN ('unit2', 'cash2')) d;
    IF bad > 0 THEN
        RAISE EXCEPTION 'the C and PL/pgSQL sides disagree on % holdings', bad;
    END IF;
    IF (SELECT count(*) FROM carbonmkt.ccer_block WHERE carbonmkt.project(block) = 'BENCH-C') <>
       (SELECT count(*) FROM carbonmkt.ccer_block WHERE carbonmkt.project(block) = 'BENCH-P') THEN
        RAISE EXCEPTION 'the C and PL/pgSQL sides left different numbers of CCER blocks';
    END IF;
    SELECT count(*) INTO bad FROM carbonmkt.verify_ledger();
    IF bad > 0 THEN
        RAISE EXCEPTION 'verify_ledger() reports % problems', bad;
    END IF;
    RAISE NOTICE 'both sides agree; verify_ledger() reports nothing';
END $$;
SQL
