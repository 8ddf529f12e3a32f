#!/usr/bin/env bash
# test/bench/tools/ab.sh BENCH... -- one benchmark run against two builds of the library.
#
#   AB_BASE=/path/base.so AB_NEW=/path/new.so [AB_ROUNDS=3] [AB_OUT=dir] \
#       CARBONMKT_DURABLE=1 test/cluster.sh test/bench/tools/ab.sh registry_transfer
#
# Runs test/bench/run.sh BENCH... AB_ROUNDS times per build on the one cluster test/cluster.sh
# started, the builds alternating and their order swapped every round (base new, new base,
# ...): before each run the build's carbonmkt.so replaces the cluster's (cp, then an atomic mv;
# every run.sh benchmark opens new connections, which load it).  Both builds must have the same
# SQL (the extension script installed in that tree).  Each run's output goes to
# AB_OUT/BENCH.SIDE.ROUND.log (AB_OUT: a new mktemp -d unless given); the ratio lines of
# each run are printed.  Not a benchmark itself (run.sh runs test/bench/*.sh only).
set -euo pipefail
: "${CARBONMKT_PG_BINDIR:?run me through test/cluster.sh}"
: "${AB_BASE:?AB_BASE: the base build's carbonmkt.so}"
: "${AB_NEW:?AB_NEW: the new build's carbonmkt.so}"
cd "$(dirname "$0")/../../.."
bench=$1
libdir=$("$CARBONMKT_PG_BINDIR/pg_config" --pkglibdir)
out=${AB_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-ab.XXXXXX")}
for r in $(seq 1 "${AB_ROUNDS:-3}"); do
	if [ $((r % 2)) -eq 1 ]; then sides="base new"; else sides="new base"; fi
	for side in $sides; do
		so=AB_BASE
		[ "$side" = new ] && so=AB_NEW
		cp "${!so}" "$libdir/carbonmkt.so.ab" && mv -f "$libdir/carbonmkt.so.ab" "$libdir/carbonmkt.so"
		echo "== round $r: $side ($(md5sum <"$libdir/carbonmkt.so" | cut -c1-8)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
		if ! test/bench/run.sh "$@" >"$out/$bench.$side.$r.log" 2>&1; then
			echo "ab: round $r ($side) failed:" >&2
			tail -20 "$out/$bench.$side.$r.log" >&2
			exit 1
		fi
		grep -E "^ ?ratio" "$out/$bench.$side.$r.log" || true
	done
done
echo "logs in $out"
