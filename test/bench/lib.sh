# test/bench/lib.sh -- sourced by the pgbench-driven benchmarks (not a benchmark itself).
#
#   loadavg                 the 1, 5 and 15 minute load averages of the machine
#   durability on|off       on: fsync, synchronous_commit and full_page_writes on (PostgreSQL's
#                           durable defaults; test/cluster.sh starts bench clusters that way
#                           under CARBONMKT_DURABLE=1); off: all three off.  ALTER SYSTEM and a
#                           reload (all three are reloadable), then a CHECKPOINT so that nothing
#                           written under one mode is flushed during a run of the other
#   stats V...              "median min max" of the values
#   ratio A B               A / B to two places
#   verdict R OP T          ok or MISSED for R OP T (OP is >= or <=)
#   holding_accounts N Q    registry_transfer's setup in $PGDATABASE: a provincial allocation
#                           account and N key emitting units with a holding account of Q t of
#                           CEA 2024 each (issued and transferred out), and the floor's bare
#                           tables bench_balance (Q each) and bench_journal
#   transfer_scripts DIR    registry_transfer's two pgbench scripts into DIR: carbonmkt.sql
#                           (one transfer_cea) and floor.sql (the one-round-trip floor)
#   need_debian CMD PKG     CMD on the PATH, else apt-get install PKG when root (as test/deps.sh
#                           does), else print the apt command and fail
# The benchmarks print the load average before and after each part, and every figure as the
# median of >= 3 rounds with min-max (test/bench/README.md).

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

durability() {
	local v
	case $1 in on) v=on ;; off) v=off ;; *) echo "durability on|off" >&2; return 2 ;; esac
	psql -X -q -v ON_ERROR_STOP=1 -d postgres \
		-c "ALTER SYSTEM SET fsync = $v" -c "ALTER SYSTEM SET synchronous_commit = $v" \
		-c "ALTER SYSTEM SET full_page_writes = $v" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 1
	psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CHECKPOINT" >/dev/null
	local got
	got=$(psql -X -At -d postgres -c "SELECT current_setting('fsync') || '/' || current_setting('synchronous_commit') || '/' || current_setting('full_page_writes')")
	[ "$got" = "$v/$v/$v" ] || { echo "durability: wanted $v, server has fsync/synchronous_commit/full_page_writes = $got" >&2; return 1; }
}

stats() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b == 0) ? 0 : a / b }'; }

verdict() {
	awk -v r="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == ">=") ? (r >= t) : (r <= t); print ok ? "ok" : "MISSED" }'
}

holding_accounts() {
	psql -X -q -v ON_ERROR_STOP=1 <<SQL
SET search_path = carbonmkt, public;
DO \$\$
DECLARE
    r       record;
    code17  text;
    pid     bigint;
    alloc   bigint;
    sectors text[] := ARRAY['power', 'power', 'power', 'power', 'power', 'cement', 'steel', 'aluminium'];
BEGIN
    code17 := '11440000MB2C9251X';
    pid := register_participant('Guangdong Department of Ecology and Environment', 'provincial_authority',
                                code17 || credit_code_check_char(code17), '440000');
    alloc := open_account(pid, 'allocation', '广东省配额账户');
    FOR i IN 1..$1 LOOP
        SELECT code INTO r FROM region ORDER BY code OFFSET (i * 7) % 31 LIMIT 1;
        code17 := '91' || r.code || 'MA' || lpad(i::text, 7, '0');
        pid := register_participant(format('Unit %s (%s)', lpad(i::text, 4, '0'), sectors[1 + i % 8]), 'key_emitter',
                                    code17 || credit_code_check_char(code17), r.code,
                                    substr(r.code, 1, 2) || '0100', sectors[1 + i % 8]);
        PERFORM open_account(pid, 'holding');
    END LOOP;
    PERFORM issue_cea(alloc, 2024, $1::bigint * $2, 'bench-2024', 'bench issuance');
    FOR r IN SELECT account_id FROM account WHERE kind = 'holding' ORDER BY account_id LOOP
        PERFORM transfer_cea(alloc, r.account_id, 2024, $2, 'bench-alloc-' || r.account_id);
    END LOOP;
END \$\$;
RESET search_path;
CREATE TABLE bench_balance (account_id bigint PRIMARY KEY, balance bigint);
CREATE TABLE bench_journal (id bigserial PRIMARY KEY, from_account bigint, to_account bigint, amount bigint,
                            at timestamptz DEFAULT now());
INSERT INTO bench_balance SELECT account_id, $2 FROM carbonmkt.account WHERE kind = 'holding';
VACUUM ANALYZE;
SQL
}

transfer_scripts() {
	# registry_transfer's two pgbench scripts in DIR ($1): carbonmkt.sql and floor.sql.
	# Variables: lo (first account id), n (how many accounts).
	cat >"$1/carbonmkt.sql" <<'SQL'
\set a :lo + random(0, :n - 1)
\set b :lo + (:a - :lo + random(1, :n - 1)) % :n
\set q random(1, 100)
SELECT carbonmkt.transfer_cea(:a, :b, 2024, :q);
SQL
	# one round trip: pgbench sends the five statements as one pipeline and waits once
	cat >"$1/floor.sql" <<'SQL'
\set a :lo + random(0, :n - 1)
\set b :lo + (:a - :lo + random(1, :n - 1)) % :n
\set q random(1, 100)
\set first least(:a, :b)
\set second greatest(:a, :b)
\set dfirst CASE WHEN :first = :a THEN -:q ELSE :q END
\set dsecond -:dfirst
\startpipeline
BEGIN;
UPDATE bench_balance SET balance = balance + :dfirst WHERE account_id = :first;
UPDATE bench_balance SET balance = balance + :dsecond WHERE account_id = :second;
INSERT INTO bench_journal (from_account, to_account, amount) VALUES (:a, :b, :q);
END;
\endpipeline
SQL
}

need_debian() {
	command -v "$1" >/dev/null 2>&1 && return 0
	local cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $2"
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing $1 (Debian package $2); run as root:  $cmd" >&2
		return 1
	fi
	echo "-- installing the Debian package $2 (for $1)"
	apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >/dev/null
	command -v "$1" >/dev/null 2>&1
}
