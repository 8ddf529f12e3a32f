#!/usr/bin/env bash
# test/ops/upgrade.sh: ALTER EXTENSION carbonmkt UPDATE from every frozen version reaches
# exactly the schema of a fresh install of the version in development.
# Runs against the cluster of test/cluster.sh (PGHOST/PGPORT set); prints "ok"/"not ok"
# lines and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=test/ops
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" carbonmkt.control)
fail=0
work=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-upgrade.XXXXXX")
trap 'rm -rf "$work"' EXIT
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }

psql -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS ops_fresh" -c "CREATE DATABASE ops_fresh"
psql -d ops_fresh -c "CREATE EXTENSION carbonmkt"
"$here/schema-snapshot.sh" ops_fresh >"$work/fresh.sql"

for frozen in $(ls sql/carbonmkt--*.sql | sed -n 's|^sql/carbonmkt--\([0-9.]*\)\.sql$|\1|p'); do
	[ "$frozen" = "$version" ] && continue
	db=ops_from_${frozen//./_}
	psql -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
	psql -d "$db" -c "CREATE EXTENSION carbonmkt VERSION '$frozen'"
	psql -d "$db" -c "ALTER EXTENSION carbonmkt UPDATE TO '$version'"
	"$here/schema-snapshot.sh" "$db" >"$work/$db.sql"
	if diff -u "$work/fresh.sql" "$work/$db.sql" >"$work/$db.diff"; then
		echo "ok - $frozen -> $version: schema equals a fresh $version install"
	else
		echo "not ok - $frozen -> $version: schema differs from a fresh install (first 80 lines; - fresh, + upgraded):"
		head -80 "$work/$db.diff"
		fail=1
	fi
done
exit $fail
