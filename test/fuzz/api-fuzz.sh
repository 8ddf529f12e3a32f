#!/usr/bin/env bash
# test/fuzz/api-fuzz.sh [CALLS [api_fuzz options...]]
#
# The API fuzzer (doc/security.md) against the cluster that test/cluster.sh started:
# (re)creates database carbonmkt_apifuzz with the extension and the security fixture
# (test/security/fixture.sql, its cmsec_* logins), then runs test/fuzz/api_fuzz with CALLS
# calls (default 3000) and a fixed seed (FUZZ_SEED, default 20261207).  The cmsec_* logins
# are dropped afterwards.
set -uo pipefail
cd "$(dirname "$0")/../.."

: "${CARBONMKT_PG_BINDIR:?run me through test/cluster.sh}"
calls=${1:-3000}
shift $(( $# > 0 ? 1 : 0 ))
if [ ! -x test/fuzz/api_fuzz ]; then
	echo "test/fuzz/api_fuzz is not built; run 'make test/fuzz/api_fuzz'" >&2
	exit 2
fi
psql -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS carbonmkt_apifuzz" \
	-c "CREATE DATABASE carbonmkt_apifuzz" &&
	psql -X -q -v ON_ERROR_STOP=1 -d carbonmkt_apifuzz -c "CREATE EXTENSION carbonmkt" &&
	PGOPTIONS="-c carbonmkt.clock=2025-03-01T10:00:00+08" psql -X -q -v ON_ERROR_STOP=1 -d carbonmkt_apifuzz \
		-f test/security/fixture.sql >/dev/null || exit 2
PGDATABASE=carbonmkt_apifuzz test/fuzz/api_fuzz --seed "${FUZZ_SEED:-20261207}" --calls "$calls" "$@"
rc=$?
psql -X -q -c "SET client_min_messages = warning" -c "DROP DATABASE carbonmkt_apifuzz" \
	-c "DROP ROLE cmsec_unit_a, cmsec_unit_b, cmsec_firm, cmsec_norole, cmsec_registry, cmsec_exchange, cmsec_settlement, cmsec_bi, cmsec_national, cmsec_gd, cmsec_hb, cmsec_sz, cmsec_loose"
exit $rc
