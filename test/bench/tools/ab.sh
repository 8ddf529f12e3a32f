#!/usr/bin/env bash
# test/bench/tools/ab.sh BENCH... -- one benchmark run against two builds of the extension.
#
#   AB_BASE=/work/pg/base AB_NEW=/work/pg/new [AB_ROUNDS=3] [AB_OUT=dir] \
#       CARBONMKT_DURABLE=1 PG_CONFIG=/work/pg/ab/usr/lib/postgresql/15/bin/pg_config \
#       test/cluster.sh test/bench/tools/ab.sh registry_transfer posting_paths
#
# Runs test/bench/run.sh BENCH... AB_ROUNDS times per build on the one cluster test/cluster.sh
# started, the builds alternating and their order swapped every round (base new, new base,
# ...).  A build is either
#   - an install tree (a directory with usr/lib/postgresql/15/bin/pg_config, or the path of a
#     pg_config): before each run the build's whole extension -- its carbonmkt.so and its
#     carbonmkt.control and carbonmkt--*.sql -- replaces the cluster's (the cluster tree's
#     carbonmkt files are removed first).  run.sh creates a fresh database with CREATE
#     EXTENSION for every benchmark, so each run gets the build's own SQL with its own C: two
#     builds whose SQL differs (a function added, a symbol gone) compare honestly.  The
#     cluster's install tree is written to: give test/cluster.sh a PG_CONFIG of a tree that
#     nothing else uses meanwhile;
#   - a carbonmkt.so file: only the library is swapped (cp, then an atomic mv), and both builds
#     must work with the SQL installed in the cluster's tree.
# Every run.sh benchmark opens new connections, which load the library in place.  Each run's
# output goes to AB_OUT/BENCH.SIDE.ROUND.log (AB_OUT: a new mktemp -d unless given); the ratio
# lines of each run are printed, and at the end, per ratio line, each build's median and
# min-max over its runs and new/base of the medians.  Not a benchmark itself (run.sh runs
# test/bench/*.sh only).
set -euo pipefail
: "${CARBONMKT_PG_BINDIR:?run me through test/cluster.sh}"
: "${AB_BASE:?AB_BASE: the base build (an install tree, a pg_config, or a carbonmkt.so)}"
: "${AB_NEW:?AB_NEW: the new build (an install tree, a pg_config, or a carbonmkt.so)}"
cd "$(dirname "$0")/../../.."
bench=$1
libdir=$("$CARBONMKT_PG_BINDIR/pg_config" --pkglibdir)
extdir=$("$CARBONMKT_PG_BINDIR/pg_config" --sharedir)/extension
out=${AB_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-ab.XXXXXX")}

# build_pg_config BUILD: the pg_config of an install-tree build, nothing for a .so
build_pg_config() {
	if [ -d "$1" ] && [ -x "$1/usr/lib/postgresql/15/bin/pg_config" ]; then
		echo "$1/usr/lib/postgresql/15/bin/pg_config"
	elif [ -x "$1" ] && [ "$(basename "$1")" = pg_config ]; then
		echo "$1"
	elif [ -f "$1" ] && [ "${1##*.}" = so ]; then
		:
	else
		echo "ab: $1 is neither an install tree, a pg_config nor a carbonmkt.so" >&2
		exit 2
	fi
}

# install_build BUILD: make BUILD the cluster tree's carbonmkt; prints what was installed
install_build() {
	local pgc src_lib src_ext f
	pgc=$(build_pg_config "$1")
	if [ -z "$pgc" ]; then
		cp "$1" "$libdir/carbonmkt.so.ab" && mv -f "$libdir/carbonmkt.so.ab" "$libdir/carbonmkt.so"
		echo "carbonmkt.so $(md5sum <"$libdir/carbonmkt.so" | cut -c1-8)"
		return
	fi
	src_lib=$("$pgc" --pkglibdir)
	src_ext=$("$pgc" --sharedir)/extension
	[ "$src_lib" != "$libdir" ] || { echo "ab: $1 is the cluster's own install tree" >&2; exit 2; }
	[ -f "$src_lib/carbonmkt.so" ] && [ -f "$src_ext/carbonmkt.control" ] ||
		{ echo "ab: no carbonmkt installed in $1" >&2; exit 2; }
	rm -f "$extdir"/carbonmkt.control "$extdir"/carbonmkt--*.sql
	cp "$src_ext"/carbonmkt.control "$src_ext"/carbonmkt--*.sql "$extdir/"
	cp "$src_lib/carbonmkt.so" "$libdir/carbonmkt.so.ab" && mv -f "$libdir/carbonmkt.so.ab" "$libdir/carbonmkt.so"
	echo "carbonmkt.so $(md5sum <"$libdir/carbonmkt.so" | cut -c1-8)," \
		"carbonmkt--$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$extdir/carbonmkt.control").sql" \
		"$(cat "$extdir"/carbonmkt--*.sql | md5sum | cut -c1-8)"
}

# check both builds before the first run
for b in "$AB_BASE" "$AB_NEW"; do build_pg_config "$b" >/dev/null; done

for r in $(seq 1 "${AB_ROUNDS:-3}"); do
	if [ $((r % 2)) -eq 1 ]; then sides="base new"; else sides="new base"; fi
	for side in $sides; do
		build=AB_BASE
		[ "$side" = new ] && build=AB_NEW
		what=$(install_build "${!build}")
		echo "== round $r: $side ($what), load average $(cut -d' ' -f1-3 /proc/loadavg)"
		if ! test/bench/run.sh "$@" >"$out/$bench.$side.$r.log" 2>&1; then
			echo "ab: round $r ($side) failed:" >&2
			tail -20 "$out/$bench.$side.$r.log" >&2
			exit 1
		fi
		grep -E "^ ?ratio" "$out/$bench.$side.$r.log" || true
	done
done

# per ratio line (its text without the figure and the verdict): each build's median (min-max)
echo
echo "== ab: medians of ${AB_ROUNDS:-3} runs per build (min-max); new/base of the medians"
for side in base new; do
	for f in "$out"/"$bench".$side.*.log; do
		grep -E "^ ?ratio" "$f" | sed -E 's/^ ?//; s/ \(target[^)]*\).*$//' |
			awk -v s="$side" '{ v = $NF; $NF = ""; sub(/ $/, ""); print s "\t" $0 "\t" v }'
	done
done | awk -F'\t' '
	{ k = $2; if (!(k in seen)) { seen[k] = ++n; key[n] = k } vals[$1, k] = vals[$1, k] " " $3 }
	function med(s,   a, m, i, j, t) {
		m = split(s, a, " ")
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		lo = a[1]; hi = a[m]
		return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	END {
		for (i = 1; i <= n; i++) {
			k = key[i]
			mb = med(vals["base", k]); lb = lo; hb = hi
			mn = med(vals["new", k]); ln = lo; hn = hi
			printf "%s: base %.2f (%.2f-%.2f), new %.2f (%.2f-%.2f), new/base %.2f\n", k, mb, lb, hb, mn, ln, hn, (mb == 0) ? 0 : mn / mb
		}
	}'
echo "logs in $out"
