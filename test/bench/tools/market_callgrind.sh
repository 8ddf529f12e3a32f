#!/usr/bin/env bash
# test/bench/tools/market_callgrind.sh BUILD... -- the instructions the market's queue engine
# executes for one batch, per build, counted by valgrind's callgrind on a single-user backend.
#
#   [CALLGRIND_ORDERS=2000] PG_CONFIG=/work/pg/NAME/usr/lib/postgresql/15/bin/pg_config \
#       test/cluster.sh test/bench/tools/market_callgrind.sh base.so new.so
#
# Instruction counts do not depend on the machine's load, so two builds compare on a shared
# machine where their times cannot be told apart.  Sets up market_batch's book on the cluster
# test/cluster.sh started (test/bench/market_batch.sql with BENCH_SIZES=$CALLGRIND_ORDERS and
# BENCH_ROUNDS=0: 2,000 key emitting units, the queue from carbonmkt-load, the warm-up round's
# checks), stops the server, and then, for each BUILD in turn (a carbonmkt.so, copied into the
# cluster's install tree as test/bench/tools/ab.sh does; every build must work with the SQL
# installed there), runs a single-user backend under callgrind that processes the first
# CALLGRIND_ORDERS queued orders twice (carbonmkt._process_queue, each run rolled back) and
# counts only inside market_process_queue.  Prints per build the instructions of the two runs,
# and the inclusive share of the settlement (carbonmkt_settle_batch), its posting engine
# (posting_batch) and its chain-head update (chain_defer_finish), the journal's chain trigger
# (journal_chain), the foreign-key checks (RI_FKey_check_ins) and the planner/executor start-up
# (standard_ExecutorStart).  The server is started again afterwards; the callgrind files are
# kept in a new mktemp -d directory (printed).  Needs valgrind.  Not a benchmark (run.sh runs
# test/bench/*.sh only).
set -euo pipefail
: "${CARBONMKT_PG_BINDIR:?run me through test/cluster.sh}"
[ $# -ge 1 ] || { echo "usage: market_callgrind.sh BUILD.so..." >&2; exit 2; }
command -v valgrind >/dev/null || { echo "market_callgrind: valgrind is not installed" >&2; exit 2; }
cd "$(dirname "$0")/../../.."
orders=${CALLGRIND_ORDERS:-2000}
libdir=$("$CARBONMKT_PG_BINDIR/pg_config" --pkglibdir)
data=$PGHOST/data
out=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-callgrind.XXXXXX")
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
	chown postgres: "$out"
	as_pg=(runuser -u postgres --)
fi
for b in "$@"; do
	[ -f "$b" ] && [ "${b##*.}" = so ] || { echo "market_callgrind: $b is not a carbonmkt.so" >&2; exit 2; }
done

echo "-- set-up: market_batch's book, $orders queued orders (load average $(cut -d' ' -f1-3 /proc/loadavg))"
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
	-c "DROP DATABASE IF EXISTS carbonmkt_bench" -c "CREATE DATABASE carbonmkt_bench"
psql -X -q -d carbonmkt_bench -v ON_ERROR_STOP=1 -c "CREATE EXTENSION carbonmkt"
PGDATABASE=carbonmkt_bench BENCH_SIZES=$orders BENCH_ROUNDS=0 psql -X -q -v ON_ERROR_STOP=1 \
	-f test/bench/market_batch.sql >"$out/setup.log" 2>&1 ||
	{ cat "$out/setup.log" >&2; exit 1; }

"${as_pg[@]}" "$CARBONMKT_PG_BINDIR/pg_ctl" -D "$data" -m fast -w stop >/dev/null
restart() {
	"${as_pg[@]}" "$CARBONMKT_PG_BINDIR/pg_ctl" -D "$data" -o "-p $PGPORT" -l "$PGHOST/server.log" \
		-w start >/dev/null
}
trap restart EXIT

cat >"$out/run.sql" <<SQL
SET carbonmkt.clock = '2025-06-03 10:00:00+08'
BEGIN
SET LOCAL carbonmkt.acting_room = 'market'
SELECT orders, trades FROM carbonmkt._process_queue(1, $orders)
ROLLBACK
BEGIN
SET LOCAL carbonmkt.acting_room = 'market'
SELECT orders, trades FROM carbonmkt._process_queue(1, $orders)
ROLLBACK
SQL
chmod 644 "$out/run.sql"

fns=(market_process_queue carbonmkt_settle_batch posting_batch chain_defer_finish journal_chain
	RI_FKey_check_ins standard_ExecutorStart)
n=0
for b in "$@"; do
	n=$((n + 1))
	cp "$b" "$libdir/carbonmkt.so.cg" && mv -f "$libdir/carbonmkt.so.cg" "$libdir/carbonmkt.so"
	f="$out/callgrind.$n.out"
	"${as_pg[@]}" valgrind --tool=callgrind --callgrind-out-file="$f" --collect-atstart=no \
		--toggle-collect=market_process_queue \
		"$CARBONMKT_PG_BINDIR/postgres" --single -D "$data" carbonmkt_bench <"$out/run.sql" \
		>"$out/single.$n.log" 2>"$out/valgrind.$n.log" ||
		{ cat "$out/single.$n.log" "$out/valgrind.$n.log" >&2; exit 1; }
	grep -q "orders = \"$orders\"" "$out/single.$n.log" ||
		{ echo "market_callgrind: the run did not process $orders orders" >&2; cat "$out/single.$n.log" >&2; exit 1; }
	total=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$f")
	echo "== build $n: $b ($(md5sum <"$b" | cut -c1-8)): $total instructions in market_process_queue, two runs of $orders orders"
	callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null >"$out/annotate.$n.txt"
	for fn in "${fns[@]}"; do
		ir=$(awk -v fn="$fn" '{ gsub(",", "", $1) } $0 ~ (":" fn " ") || $0 ~ (":" fn "$") { print $1; exit }' "$out/annotate.$n.txt")
		printf '   %-24s %14s  %5.1f%%\n' "$fn" "${ir:-0}" "$(awk -v a="${ir:-0}" -v t="$total" 'BEGIN { print 100 * a / t }')"
	done
done
echo "-- callgrind files: $out"
