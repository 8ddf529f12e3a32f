#!/usr/bin/env bash
# test/fuzz/run.sh [N [fuzz_io options...]]
#
# Full fuzz run against the cluster that test/cluster.sh started (make fuzz):
# (re)creates database carbonmkt_fuzz with the extension, runs test/fuzz/fuzz_io on
# every target with N inputs each (default 1000000) and a fixed seed (FUZZ_SEED,
# default 20261121), then checks the server log for crashed backends.
# Extra arguments go to fuzz_io, e.g. --target ccer_recv.  See test/fuzz/README.md.
set -uo pipefail
cd "$(dirname "$0")/../.."

: "${CARBONMKT_PG_BINDIR:?run me through test/cluster.sh}"
iterations=${1:-1000000}
shift $(( $# > 0 ? 1 : 0 ))
seed=${FUZZ_SEED:-20261121}

if [ ! -x test/fuzz/fuzz_io ]; then
	echo "test/fuzz/fuzz_io is not built; run 'make test/fuzz/fuzz_io'" >&2
	exit 2
fi

psql -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS carbonmkt_fuzz" -c "CREATE DATABASE carbonmkt_fuzz" &&
	psql -X -q -v ON_ERROR_STOP=1 -d carbonmkt_fuzz -c "CREATE EXTENSION carbonmkt" || exit 2

echo "== fuzz: seed $seed, $iterations inputs per target"
PGDATABASE=carbonmkt_fuzz test/fuzz/fuzz_io --seed "$seed" --iterations "$iterations" "$@"
rc=$?

echo "== API fuzz: ${FUZZ_API_CALLS:-1000000} calls"
test/fuzz/api-fuzz.sh "${FUZZ_API_CALLS:-1000000}" || rc=1

if grep -E "terminated by signal|PANIC|server process .* was terminated" "$CARBONMKT_SERVER_LOG"; then
	echo "fuzz: a backend crashed (see the server log lines above)"
	rc=1
fi
exit "$rc"
