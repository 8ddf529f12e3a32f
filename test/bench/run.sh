#!/usr/bin/env bash
# test/bench/run.sh [NAME...]
#
# Runs benchmarks against the cluster that test/cluster.sh started (make bench
# [BENCH=name]): every test/bench/*.sql and test/bench/*.sh in name order, or only
# the named ones (NAME is the file name without .sql/.sh).  Each benchmark gets a
# fresh database carbonmkt_bench with the extension, and its output is printed
# (and copied to test/bench/NAME.log).
#   NAME.sql  runs through psql -X -v ON_ERROR_STOP=1 -d carbonmkt_bench
#   NAME.sh   runs with PGDATABASE=carbonmkt_bench (and the cluster's PG* variables),
#             e.g. to drive pgbench ($CARBONMKT_PG_BINDIR/pgbench)
# The exit status is non-zero if a benchmark failed (an error, a wrong result); a
# missed performance target is reported ("MISSED") but is not a failure.
# BENCH_REUSE_DB=1 runs against the existing carbonmkt_bench (a kept cluster,
# CARBONMKT_CLUSTER_DIR in test/cluster.sh) instead of a fresh one; with a kept cluster
# the database is left in place afterwards.
# See test/bench/README.md.
set -uo pipefail
cd "$(dirname "$0")/../.."

: "${CARBONMKT_PG_BINDIR:?run me through test/cluster.sh}"
export PGDATABASE=carbonmkt_bench

benches=()
if [ $# -eq 0 ]; then
	for f in test/bench/*.sql test/bench/*.sh; do
		[ -e "$f" ] || continue
		case $(basename "$f") in run.sh | lib.sh | *_baseline.sql) continue ;; esac
		benches+=("$f")
	done
	mapfile -t benches < <(printf '%s\n' "${benches[@]}" | sort)
else
	for name in "$@"; do
		name=${name%.sql}; name=${name%.sh}
		if [ -f "test/bench/$name.sql" ]; then
			benches+=("test/bench/$name.sql")
		elif [ -f "test/bench/$name.sh" ] && [ "$name" != run ] && [ "$name" != lib ]; then
			benches+=("test/bench/$name.sh")
		else
			echo "bench: no benchmark test/bench/$name.sql or .sh" >&2
			exit 2
		fi
	done
fi
[ ${#benches[@]} -gt 0 ] || { echo "bench: no benchmarks found" >&2; exit 2; }

echo "== bench: PostgreSQL $(psql -X -At -d postgres -c 'SHOW server_version'), $(nproc) CPUs," \
	"$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo);" \
	"fsync/synchronous_commit/full_page_writes $(psql -X -At -d postgres -c "SELECT current_setting('fsync') || '/' || current_setting('synchronous_commit') || '/' || current_setting('full_page_writes')");" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
failed=()
for f in "${benches[@]}"; do
	name=$(basename "$f"); name=${name%.*}
	echo "== bench $name (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	if [ -z "${BENCH_REUSE_DB:-}" ]; then
		psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
			-c "DROP DATABASE IF EXISTS carbonmkt_bench" \
			-c "CREATE DATABASE carbonmkt_bench" &&
			psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION carbonmkt" || exit 2
	fi
	start=$(date +%s)
	case "$f" in
	*.sql) psql -X -v ON_ERROR_STOP=1 -f "$f" 2>&1 ;;
	*.sh) bash "$f" 2>&1 ;;
	esac | tee "test/bench/$name.log"
	rc=${PIPESTATUS[0]}
	echo "== bench $name: $([ "$rc" -eq 0 ] && echo done || echo FAILED) in $(( $(date +%s) - start )) s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
	[ "$rc" -eq 0 ] || failed+=("$name")
done
[ -n "${CARBONMKT_CLUSTER_DIR:-}" ] || psql -X -q -d postgres -c "DROP DATABASE IF EXISTS carbonmkt_bench"
[ ${#failed[@]} -eq 0 ] || { echo "bench: FAILED: ${failed[*]}"; exit 1; }
