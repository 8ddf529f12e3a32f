#!/usr/bin/env bash
# test/bench/transfer_callgrind.sh -- make bench BENCH=transfer_callgrind
#
# The instructions the server executes per carbonmkt.transfer_cea(), and where they go:
# valgrind --tool=callgrind on a single-user backend.  The registry_transfer setup (1,000
# holding accounts: holding_accounts in lib.sh) is made in the cluster, which is then copied
# with pg_basebackup; on the copy, a single-user backend (postgres --single; fsync,
# synchronous_commit and full_page_writes off) runs ${BENCH_WARMUP_N:-500} transfers (warm-up:
# plans prepared, caches filled), then ${BENCH_N:-2000}, each its own transaction, one
# statement each like pgbench's, from one seeded sequence (setseed(0.5); random pairs of
# different accounts, 1..100 t), the same for every build.  Instructions are counted inside
# PortalRun and CommitTransactionCommand only (the statement's execution and its commit, not
# the parsing and planning of the top-level SELECT, which pgbench -M prepared does not
# repeat), zeroed when the measured part starts (a pg_sleep(0) between the two parts).
# Prints the load average, the instructions per transfer, and the inclusive instructions per
# transfer and share of a fixed list of functions (PostgreSQL's exported functions and
# carbonmkt.so's; Debian's postgres binary has no symbols for its static functions, whose
# cost shows in their exported callers).  Instruction counts do not depend on the machine's
# load: two builds compare under test/bench/tools/ab.sh.  Fails if the backend reports an
# error or verify_ledger() reports anything on the copy.  Needs valgrind (Debian package
# valgrind; installed when run as root, need_debian in lib.sh), pg_basebackup and a
# superuser; BENCH_CALLGRIND_OUT=FILE keeps the callgrind output for callgrind_annotate.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=${BENCH_N:-2000}
WARM=${BENCH_WARMUP_N:-500}
ACCOUNTS=1000
PER_ACCOUNT=1000000
BIN=${CARBONMKT_PG_BINDIR:?run me through test/cluster.sh}
: "${PGDATABASE:=carbonmkt_bench}"
export PGDATABASE
need_debian valgrind valgrind
need_debian callgrind_annotate valgrind

work=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
q() { psql -X -At -v ON_ERROR_STOP=1 -c "$1"; }
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
	chown postgres: "$work"
	as_pg=(runuser -u postgres --)
fi

echo "-- load average before: $(loadavg) ($(nproc) CPUs); $WARM transfers of warm-up, $N measured"
holding_accounts "$ACCOUNTS" "$PER_ACCOUNT"
q "CHECKPOINT" >/dev/null
# the seeded sequence: pgbench's pairs (a random account, another one), 1..100 t
{
	psql -X -At -v ON_ERROR_STOP=1 <<SQL
SELECT setseed(0.5);
WITH acc AS (SELECT min(account_id) AS lo, count(*) AS n FROM carbonmkt.account WHERE kind = 'holding'),
     r AS (SELECT i, floor(random() * acc.n)::bigint AS a, 1 + floor(random() * (acc.n - 1))::bigint AS d,
                  1 + floor(random() * 100)::bigint AS q, acc.lo, acc.n
             FROM acc, generate_series(1, $WARM + $N) i)
SELECT CASE WHEN i = $WARM + 1 THEN E'SELECT pg_sleep(0);\n' ELSE '' END ||
       format('SELECT carbonmkt.transfer_cea(%s, %s, 2024, %s);', lo + a, lo + (a + d) % n, q)
  FROM r ORDER BY i;
SQL
} | tail -n +2 >"$work/input.sql"
[ "$(grep -c transfer_cea "$work/input.sql")" -eq $((WARM + N)) ] || { echo "transfer_callgrind: bad input" >&2; exit 1; }

# a copy of the cluster for the single-user backend (which needs the data directory alone)
"${as_pg[@]}" "$BIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -D "$work/data" -X stream -c fast
out=$work/callgrind.out
t0=$(date +%s)
"${as_pg[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" \
	--toggle-collect=PortalRun --toggle-collect=CommitTransactionCommand --zero-before=pg_sleep \
	"$BIN/postgres" --single -D "$work/data" -c fsync=off -c synchronous_commit=off \
	-c full_page_writes=off "$PGDATABASE" <"$work/input.sql" >"$work/backend.log" 2>&1 ||
	{ tail -30 "$work/backend.log" >&2; echo "transfer_callgrind: the backend failed" >&2; exit 1; }
if grep -E '^(ERROR|FATAL|PANIC):' "$work/backend.log" >&2; then
	echo "transfer_callgrind: the backend reported errors" >&2
	exit 1
fi
[ -z "${BENCH_CALLGRIND_OUT:-}" ] || cp "$out" "$BENCH_CALLGRIND_OUT"
echo "   valgrind run: $(( $(date +%s) - t0 )) s"

callgrind_annotate --inclusive=yes --threshold=100 "$out" >"$work/inclusive.txt" 2>/dev/null
total=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$work/inclusive.txt")
[ -n "$total" ] && [ "$total" -gt 0 ] || { echo "transfer_callgrind: no instruction count" >&2; exit 1; }
echo
echo "-- instructions per transfer (PortalRun + CommitTransactionCommand), $N transfers: $(awk -v t="$total" -v n="$N" 'BEGIN { printf "%.0f", t / n }')"
echo "   inclusive instructions per transfer and share, by function:"
# function  what it is (printed beside it)
while IFS='|' read -r fn what; do
	ir=$(awk -v f="$fn" '{ s = $0; sub(/^ */, "", s); split(s, a, " "); g = s; sub(/^.*:/, "", g); sub(/ .*$/, "", g)
		if (g == f) { gsub(",", "", a[1]); print a[1]; exit } }' "$work/inclusive.txt")
	ir=${ir:-0}
	printf '   %-34s %9.0f %6.1f%%  %s\n' "$fn" "$(awk -v i="$ir" -v n="$N" 'BEGIN { print i / n }')" \
		"$(awk -v i="$ir" -v t="$total" 'BEGIN { print 100 * i / t }')" "$what"
done <<'FUNCS'
carbonmkt_transfer_cea|the SQL function, everything but the commit
CommitTransactionCommand|the commit
SPI_execute_plan|the posting's SPI statements
standard_ExecutorStart|executor start-up of every statement
ExecInitModifyTable|  of it: the ModifyTable nodes
ExecInitNode|  of it: the plan nodes
standard_ExecutorEnd|executor shut-down
AfterTriggerEndQuery|AFTER triggers at the end of each statement
ExecARUpdateTriggers|AFTER UPDATE row triggers queued (the foreign keys that reference account and holding)
ExecConstraints|NOT NULL and CHECK constraints (a CHECK is read and prepared in each statement)
ExecPrepareExpr|expressions prepared per statement (CHECK constraints among them)
stringToNode|node trees read per statement (CHECK constraints among them)
ExecInsertIndexTuples|index inserts
btinsert|  b-tree
brininsert|  BRIN
heap_insert|heap inserts
heap_update|heap updates
heap_lock_tuple|row locks
XLogInsert|WAL records
lock_accounts|carbonmkt: the accounts locked and read
apply_two_legs|carbonmkt: the holdings' update
insert_legs|carbonmkt: the journal legs, the posting row and the heads
journal_chain|carbonmkt: the chain trigger
chain_append|carbonmkt: a leg's chain link (payload and SHA-256)
chain_sha256|  of it: SHA-256
FUNCS
echo
echo "   the 25 functions with the most instructions of their own (exclusive):"
callgrind_annotate --inclusive=no --threshold=100 "$out" >"$work/exclusive.txt" 2>/dev/null
# (the frames below PostgresSingleUserMain show the whole count: left out)
awk -v n="$N" -v t="$total" '/^ *[0-9,]+ .*:/ && !/PROGRAM TOTALS/ { s = $0; sub(/^ */, "", s); split(s, a, " "); gsub(",", "", a[1])
	if (a[1] + 0 >= t + 0) next
	g = s; sub(/^[^ ]+ +(\([^)]*\) +)?/, "", g); sub(/^\?\?\?:/, "", g); sub(/^.*\.[chS]:/, "", g)
	o = g; sub(/^[^[]*\[/, "", o); sub(/\]$/, "", o); sub(/^.*\//, "", o); sub(/ \[.*$/, "", g); g = g " (" o ")"
	printf "   %-64s %9.0f %6.1f%%\n", g, a[1] / n, 100 * a[1] / t; if (++k == 25) exit }' "$work/exclusive.txt"

# the copy's ledger is sound after the transfers
"${as_pg[@]}" "$BIN/postgres" --single -D "$work/data" -c fsync=off "$PGDATABASE" \
	<<<"SELECT 'problems=' || count(*) FROM carbonmkt.verify_ledger();" >"$work/verify.log" 2>&1
grep -q '"problems=0"' "$work/verify.log" ||
	{ cat "$work/verify.log" >&2; echo "transfer_callgrind: verify_ledger() found problems" >&2; exit 1; }
echo "transfer_callgrind: verify_ledger() 0 problems; load average after $(loadavg)"
