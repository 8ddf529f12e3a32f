#!/usr/bin/env bash
# test/bench/tools/scale-refresh.sh BASE_COMMIT [DB] -- bring a kept registry_scale database to
# the code of this checkout, and prove that it has exactly that code's schema.
#
#   make install                                  # the new library and extension script
#   CARBONMKT_CLUSTER_DIR=DIR test/cluster.sh test/bench/tools/scale-refresh.sh BASE_COMMIT
#   CARBONMKT_DURABLE=1 CARBONMKT_CLUSTER_DIR=DIR BENCH_SCALE_MEASURE=1 BENCH_REUSE_DB=1 \
#       test/cluster.sh test/bench/run.sh registry_scale
#
# DIR is a cluster kept by a registry_scale run (CARBONMKT_CLUSTER_DIR) of the code at
# BASE_COMMIT; cluster.sh starts it again with the library just installed.  What
# sql/carbonmkt--0.1.0--0.2.0.sql gained between BASE_COMMIT and this checkout (its added
# lines: every change to the installed SQL is repeated there, at the end of its section) is
# applied to DB (default carbonmkt_bench) as an extension update (to a version 0.2.0+refresh
# and back, through two scripts written into the extension directory for the moment and
# removed afterwards), so new objects become members of the extension as in a fresh install.
# Then the schema of DB (schemas bench and bench_old left out) is compared with a fresh CREATE EXTENSION
# carbonmkt, object by object, as test/ops/upgrade.sh does (test/ops/schema-snapshot.sh's
# form): any difference is printed and the exit status is 1, and the measurement must then
# not be taken as one of this code.  An upgrade-script change that is not a pure addition
# (a line removed or edited) is refused: build the registry again.
# Not a benchmark (run.sh runs test/bench/*.sh only).
set -euo pipefail
: "${CARBONMKT_PG_BINDIR:?run me through test/cluster.sh}"
base=${1:?BASE_COMMIT: the commit the kept registry was built with}
db=${2:-carbonmkt_bench}
cd "$(dirname "$0")/../../.."
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-refresh.XXXXXX")
sharedir=$("$CARBONMKT_PG_BINDIR/pg_config" --sharedir)/extension
up="$sharedir/carbonmkt--0.2.0--0.2.0+refresh.sql"
down="$sharedir/carbonmkt--0.2.0+refresh--0.2.0.sql"
trap 'rm -rf "$work" "$up" "$down"' EXIT

script=sql/carbonmkt--0.1.0--0.2.0.sql
git diff -U0 "$base" HEAD -- "$script" >"$work/diff"
if grep -q '^-[^-]' "$work/diff" || grep -q '^-$' "$work/diff"; then
	echo "scale-refresh: $script changed in place since $base (lines removed or edited):" >&2
	grep -n '^-' "$work/diff" | grep -v '^[0-9]*:---' | head -20 >&2
	echo "scale-refresh: not a pure addition; build the registry again" >&2
	exit 2
fi
sed -n 's/^+//p' "$work/diff" | grep -v '^++ ' >"$work/added.sql" || true
echo "== scale-refresh: $(wc -l <"$work/added.sql") added lines of $script since $base; $(git rev-parse --short HEAD) checked out"
[ "$(psql -At -d "$db" -c "SELECT extversion FROM pg_extension WHERE extname = 'carbonmkt'")" = 0.2.0 ] ||
	{ echo "scale-refresh: $db does not have carbonmkt 0.2.0" >&2; exit 2; }
cp "$work/added.sql" "$up"
echo "-- scale-refresh: back to the version name of the development (nothing else)" >"$down"
start=$(date +%s)
psql -d "$db" -c "SET client_min_messages = warning" \
	-c "ALTER EXTENSION carbonmkt UPDATE TO '0.2.0+refresh'" -c "ALTER EXTENSION carbonmkt UPDATE TO '0.2.0'"
echo "== scale-refresh: applied in $(( $(date +%s) - start )) s"

psql -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS scale_refresh_fresh" \
	-c "CREATE DATABASE scale_refresh_fresh"
psql -d scale_refresh_fresh -c "CREATE EXTENSION carbonmkt"
snapshot() {	# as test/ops/schema-snapshot.sh, schemas bench and bench_old (the benchmark's own) left out
	pg_dump --schema-only --binary-upgrade --no-owner -N 'bench*' "$1" 2>/dev/null |
		perl -ne '
			if (/^UPDATE pg_catalog\.pg_class$/) { $skip = 3 }
			if ($skip) { $skip--; next }
			next if /^-- (Dumped|Started|Completed|For binary upgrade)|^\\(un)?restrict |binary_upgrade_set_|^-- Name: |^$|^SELECT pg_catalog\.setval\(/;
			s/(binary_upgrade_create_empty_extension\((?:[^,]*,){4}).*/$1 .../;
			print' |
		# object by object, in name order: the order of pg_dump follows the whole database
		# (the benchmark'"'"'s own schemas too), the objects do not
		perl -e 'local $/; my @o = split /^--\n/m, <STDIN>; print join("--\n", sort @o)'
	psql -At -d "$1" -c "
		SELECT c.conf::regclass::text || ' ' || coalesce(quote_literal(c.cond), 'NULL')
		  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS c(conf, cond)
		 WHERE e.extname = 'carbonmkt' ORDER BY 1"
}
snapshot scale_refresh_fresh >"$work/fresh.sql"
snapshot "$db" >"$work/kept.sql"
psql -c "DROP DATABASE scale_refresh_fresh"
if diff -u "$work/fresh.sql" "$work/kept.sql" >"$work/schema.diff"; then
	echo "ok - the schema of $db equals a fresh install of $(git rev-parse --short HEAD) ($(wc -l <"$work/fresh.sql") lines compared)"
else
	echo "not ok - the schema of $db differs from a fresh install of $(git rev-parse --short HEAD):"
	head -80 "$work/schema.diff"
	exit 1
fi
