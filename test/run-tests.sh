#!/usr/bin/env bash
# Runs every test layer against the cluster that test/cluster.sh started:
#   1. pg_regress          sql/*.sql against expected/*.out
#   2. isolation           test/isolation/specs/*.spec against test/isolation/expected/*.out
#   3. fuzz (short run)    test/fuzz/fuzz_io, a fixed seed, FUZZ_SHORT inputs per function
#   3b. cli                test/cli/run.sh: carbonmkt-load against a stub of the market API
#   3c. browser            test/browser/run.sh: carbonmkt-dashboard's page in headless Chromium
#   3d. ops                test/ops/*.sh: upgrades, dump/restore, drop guard, recovery
#   4. pgTAP               test/pgtap/*.sql through pg_prove
# Every layer runs even if an earlier one fails; the exit status is non-zero if any failed.
# The last lines printed are pg_prove's own summary.
set -uo pipefail
cd "$(dirname "$0")/.."

: "${CARBONMKT_PG_BINDIR:?run me through test/cluster.sh}"
pgxs=$(dirname "$(${PG_CONFIG:-$(ls /usr/lib/postgresql/15/bin/pg_config 2>/dev/null || echo pg_config)} --pgxs)")/..
regress="$pgxs/test/regress/pg_regress"
isolation="$pgxs/test/isolation/pg_isolation_regress"
failed=()
layers=" ${LAYERS:-regress isolation fuzz cli browser ops pgtap} "	# LAYERS="regress pgtap" runs a subset
want() { [[ "$layers" == *" $1 "* ]]; }
# ONLY="mrv market" limits regress tests, isolation specs and pgTAP files to names starting so.
only() { [ -z "${ONLY:-}" ] && cat && return; grep -E "^($(echo $ONLY | tr ' ' '|'))" || true; }

regress_tests=$(ls sql/*.sql 2>/dev/null | grep -v '^sql/carbonmkt--' | sed 's|sql/||; s|\.sql$||' | sort | only)
[ -n "$regress_tests" ] && want regress && echo "== pg_regress" && { "$regress" --inputdir=. --bindir="$CARBONMKT_PG_BINDIR" --dbname=carbonmkt_regression \
	--load-extension=carbonmkt $regress_tests || {
	failed+=(regress)
	[ -f regression.diffs ] && head -200 regression.diffs
}; }

specs=$(ls test/isolation/specs/*.spec 2>/dev/null | sed 's|.*/||; s|\.spec$||' | sort | only)
if [ -n "$specs" ] && want isolation; then
	echo "== isolation"
	"$isolation" --inputdir=test/isolation --outputdir=output_iso --bindir="$CARBONMKT_PG_BINDIR" \
		--dbname=carbonmkt_isolation --load-extension=carbonmkt $specs || {
		failed+=(isolation)
		[ -f output_iso/regression.diffs ] && head -200 output_iso/regression.diffs
	}
fi

want fuzz && echo "== fuzz (short run; 'make fuzz' runs 1,000,000 inputs per function)" && { psql -X -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS carbonmkt_fuzz" -c "CREATE DATABASE carbonmkt_fuzz" &&
	psql -X -q -d carbonmkt_fuzz -c "CREATE EXTENSION carbonmkt" &&
	PGDATABASE=carbonmkt_fuzz test/fuzz/fuzz_io --seed 20261121 --iterations "${FUZZ_SHORT:-20000}" ||
	failed+=(fuzz); }
want fuzz && echo "== API fuzz (short run; 'make fuzz' makes 1,000,000 calls)" && { test/fuzz/api-fuzz.sh "${FUZZ_API_SHORT:-3000}" ||
	failed+=(api-fuzz); }

want cli && echo "== cli (carbonmkt-load against a stub of the market API)" && { test/cli/run.sh || failed+=(cli); }

want browser && echo "== browser (carbonmkt-dashboard's page in headless Chromium)" && { test/browser/run.sh || failed+=(browser); }

if want ops; then
	echo "== ops (test/ops: upgrades, backups, recovery)"
	for t in $(ls test/ops/*.sh | grep -v -e '/schema-snapshot.sh$' | sed 's|.*/||' | only); do
		echo "-- test/ops/$t"
		test/ops/$t || failed+=("ops/$t")
	done
fi

echo "== server log check"
if grep -E "terminated by signal|PANIC|server process .* was terminated" "$CARBONMKT_SERVER_LOG"; then
	echo "a backend crashed during the tests (see above)"
	failed+=(crash)
else
	echo "no backend crashed"
fi

want pgtap || { [ ${#failed[@]} -eq 0 ]; exit; }
echo "== pgTAP"
psql -X -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS carbonmkt_tap" -c "CREATE DATABASE carbonmkt_tap" &&
	psql -X -q -d carbonmkt_tap -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION carbonmkt" || failed+=(pgtap-setup)
if [ ${#failed[@]} -ne 0 ]; then
	echo "FAILED layers: ${failed[*]}"
fi
tap_files=$(ls test/pgtap/*.sql | sed 's|.*/||' | only | sed 's|^|test/pgtap/|')
[ -z "$tap_files" ] || pg_prove --dbname carbonmkt_tap --ext .sql $tap_files || failed+=(pgtap)
[ ${#failed[@]} -eq 0 ]
