#!/usr/bin/env bash
# test/ops/frozen.sh: a released version's scripts are never edited (doc/development.md,
# "The install script and releases").  While the version in the Makefile (EXTVERSION) is a
# released one, its install script is frozen in sql/ and src/*.sql must still be exactly what
# was released: a change to src/*.sql begins the next version (EXTVERSION and default_version
# raised, its upgrade script sql/carbonmkt--A--B.sql written).  Also: the control file, the
# Makefile and META.json name the same version, and every frozen install script but the
# first can be reached from its predecessor by an upgrade script.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail=0
check() { if [ "$1" -eq 0 ]; then echo "ok - $2"; else echo "not ok - $2"; fail=1; fi; }

make_version=$(sed -n 's/^EXTVERSION *= *//p' Makefile)
control_version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" carbonmkt.control)
meta_version=$(python3 -c 'import json; m = json.load(open("META.json")); print(m["version"], m["provides"]["carbonmkt"]["version"])')
[ "$make_version" = "$control_version" ] && [ "$meta_version" = "$make_version $make_version" ]
check $? "the Makefile, carbonmkt.control and META.json name one version ($make_version / $control_version / $meta_version)"

order=$(sed -n 's/^SQL_ORDER *= *//p' Makefile)
frozen=sql/carbonmkt--$make_version.sql
if [ -f "$frozen" ]; then
	parts=()
	for s in $order; do [ -f "src/$s.sql" ] && parts+=("src/$s.sql"); done
	if cmp -s "$frozen" <(cat "${parts[@]}"); then
		check 0 "$make_version is released and src/*.sql is still exactly its frozen $frozen"
	else
		check 1 "$make_version is released (frozen in $frozen) but src/*.sql differs from it: begin the next version (EXTVERSION in the Makefile, default_version, META.json) and write the change into sql/carbonmkt--$make_version--NEXT.sql"
	fi
else
	echo "ok - $make_version is in development (src/*.sql is its install script)"
fi

versions=$(ls sql/carbonmkt--*.sql | sed -n 's|^sql/carbonmkt--\([0-9.]*\)\.sql$|\1|p' | sort -V)
prev=
for v in $versions $([ -f "$frozen" ] || echo "$make_version"); do
	if [ -n "$prev" ]; then
		[ -f "sql/carbonmkt--$prev--$v.sql" ]
		check $? "an upgrade script leads from $prev to $v"
	fi
	prev=$v
done
exit $fail
