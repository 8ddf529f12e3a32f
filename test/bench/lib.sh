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
