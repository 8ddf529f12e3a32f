#!/usr/bin/env bash
# test/bench/transfer_cpu.sh -- make bench BENCH=transfer_cpu
#
# The CPU time one backend spends per carbonmkt.transfer_cea(), each transfer its own
# transaction (a procedure that COMMITs after every call), against the same balance work in
# plain SQL (the registry_transfer floor: the two balance updates in account order and one
# journal row).  CPU time (utime + stime of the backend, /proc/PID/stat) rather than wall time:
# on a shared machine the wall time of a run depends on what else runs, the CPU time it takes
# much less, so two builds compare (test/bench/tools/ab.sh) even when the machine is loaded.
# 10 holding accounts (registry_transfer's hot set), synchronous_commit off (the commit's
# flush is not CPU).  ${BENCH_ROUNDS:-5} rounds of ${BENCH_N:-4000} transfers per side, the
# order of the sides swapped every round; prints the median microseconds of CPU per transfer
# with min-max and the ratio carbonmkt/floor.  Fails if a balance sum disagrees or
# verify_ledger() reports anything.  Needs a superuser (pg_read_file of /proc).
set -euo pipefail
ROUNDS=${BENCH_ROUNDS:-5}
N=${BENCH_N:-4000}
: "${PGDATABASE:=carbonmkt_bench}"
export PGDATABASE
echo "-- load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); $ROUNDS rounds of $N transfers per side"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
SET search_path = carbonmkt, public;
DO $$
DECLARE
    code17 text;
    pid    bigint;
    alloc  bigint;
BEGIN
    code17 := '11440000MB2C9251X';
    pid := register_participant('Guangdong Department of Ecology and Environment', 'provincial_authority',
                                code17 || credit_code_check_char(code17), '440000');
    alloc := open_account(pid, 'allocation', '广东省配额账户');
    FOR i IN 1..10 LOOP
        code17 := '91440100MA' || lpad(i::text, 7, '0');
        pid := register_participant(format('Unit %s', i), 'key_emitter', code17 || credit_code_check_char(code17),
                                    '440000', '440100', 'power');
        PERFORM open_account(pid, 'holding');
    END LOOP;
    PERFORM issue_cea(alloc, 2024, 10 * 1000000, 'bench-2024');
    FOR pid IN SELECT account_id FROM account WHERE kind = 'holding' ORDER BY account_id LOOP
        PERFORM transfer_cea(alloc, pid, 2024, 1000000, 'bench-alloc-' || pid);
    END LOOP;
END $$;
RESET search_path;
CREATE TABLE bench_balance (account_id bigint PRIMARY KEY, balance bigint);
CREATE TABLE bench_journal (id bigserial PRIMARY KEY, from_account bigint, to_account bigint, amount bigint,
                            at timestamptz DEFAULT now());
INSERT INTO bench_balance SELECT account_id, 1000000 FROM carbonmkt.account WHERE kind = 'holding';
CREATE TABLE bench_result (round int, side text, cpu_us float8);
-- the backend's CPU time in microseconds (utime + stime, fields 14 and 15 of /proc/PID/stat; clock ticks of 10 ms)
CREATE FUNCTION bench_cpu_us() RETURNS float8 LANGUAGE sql VOLATILE AS $f$
    SELECT (split_part(s, ' ', 12)::float8 + split_part(s, ' ', 13)::float8) * 1000000 / 100
      FROM (SELECT split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2) AS s) x
$f$;
CREATE PROCEDURE bench_run(r int, side text, n int) LANGUAGE plpgsql AS $p$
DECLARE
    ids   bigint[] := ARRAY(SELECT account_id FROM bench_balance ORDER BY account_id);
    a     bigint;
    b     bigint;
    q     bigint;
    c0    float8;
BEGIN
    PERFORM setseed(0.5);
    c0 := bench_cpu_us();
    FOR i IN 1..n LOOP
        a := ids[1 + (i * 7) % 10];
        b := ids[1 + (i * 7 + 1 + i % 9) % 10];
        q := 1 + i % 100;
        IF side = 'carbonmkt' THEN
            PERFORM carbonmkt.transfer_cea(a, b, 2024, q);
        ELSE
            UPDATE bench_balance SET balance = balance + CASE WHEN account_id = a THEN -q ELSE q END
             WHERE account_id = least(a, b);
            UPDATE bench_balance SET balance = balance + CASE WHEN account_id = a THEN -q ELSE q END
             WHERE account_id = greatest(a, b);
            INSERT INTO bench_journal (from_account, to_account, amount) VALUES (a, b, q);
        END IF;
        COMMIT;
    END LOOP;
    INSERT INTO bench_result VALUES (r, side, (bench_cpu_us() - c0) / n);
    COMMIT;
END
$p$;
SQL
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then order="carbonmkt floor"; else order="floor carbonmkt"; fi
	for side in $order; do
		# a new connection per run (each starts with the same backend state)
		psql -X -q -v ON_ERROR_STOP=1 -c "SET synchronous_commit = off" -c "CALL bench_run($r, '$side', $N)"
	done
done
psql -X -v ON_ERROR_STOP=1 <<'SQL'
SELECT round, side, round(cpu_us::numeric, 1) AS cpu_us_per_transfer FROM bench_result ORDER BY round, side;
WITH m AS (SELECT side, percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu_us) AS med, min(cpu_us) AS lo, max(cpu_us) AS hi
             FROM bench_result GROUP BY side)
SELECT side, round(med::numeric, 1) AS median_cpu_us, round(lo::numeric, 1) AS min, round(hi::numeric, 1) AS max FROM m ORDER BY side;
SQL
psql -X -At -v ON_ERROR_STOP=1 <<'SQL'
SELECT format('ratio CPU per transfer carbonmkt/floor %s', to_char(c.med / f.med, 'FM0.00'))
  FROM (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu_us) AS med FROM bench_result WHERE side = 'carbonmkt') c,
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu_us) AS med FROM bench_result WHERE side = 'floor') f;
SELECT format('ratio CPU us per transfer carbonmkt %s', to_char(percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu_us), 'FM99990.0'))
  FROM bench_result WHERE side = 'carbonmkt';
SQL
sum_c=$(psql -X -At -c "SELECT sum(balance) FROM carbonmkt.holding h JOIN carbonmkt.account a USING (account_id) WHERE a.kind = 'holding'")
sum_f=$(psql -X -At -c "SELECT sum(balance) FROM bench_balance")
[ "$sum_c" -eq 10000000 ] && [ "$sum_f" -eq 10000000 ] ||
	{ echo "transfer_cpu: balances do not add up: carbonmkt $sum_c, floor $sum_f" >&2; exit 1; }
problems=$(psql -X -At -c "SELECT count(*) FROM carbonmkt.verify_ledger()")
[ "$problems" -eq 0 ] || { echo "transfer_cpu: verify_ledger() found $problems problems" >&2; exit 1; }
echo "transfer_cpu: load average after $(cut -d' ' -f1-3 /proc/loadavg)"
