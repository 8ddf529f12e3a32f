#!/usr/bin/env bash
# The demo: run through test/cluster.sh by `make demo`.  Creates database carbonmkt_demo,
# installs the extension and plays the acts test/demo/[0-9]* in name order, printing what
# happens: NN_*.sql through psql, executable NN_*.sh as programs (other files are skipped).
# Both see the same PG* environment (PGDATABASE=carbonmkt_demo); the shell acts drive the
# market with the libpq order-flow tool, whose path is in CARBONMKT_LOAD (default: the
# repository's src/cli/carbonmkt-load, built here if it is missing or out of date).
set -euo pipefail
cd "$(dirname "$0")"
repo=$(cd ../.. && pwd)
if [ -z "${CARBONMKT_LOAD:-}" ]; then
	make -s -C "$repo/src/cli" >&2
	CARBONMKT_LOAD="$repo/src/cli/carbonmkt-load"
fi
[ -x "$CARBONMKT_LOAD" ] || { echo "demo: CARBONMKT_LOAD=$CARBONMKT_LOAD is not an executable" >&2; exit 1; }
export CARBONMKT_LOAD

psql -X -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS carbonmkt_demo" -c "CREATE DATABASE carbonmkt_demo"
export PGDATABASE=carbonmkt_demo
psql -X -q -c "CREATE EXTENSION carbonmkt"
for f in $(ls [0-9]* | sort); do
	case "$f" in
	*.sql) psql -X -q -v ON_ERROR_STOP=1 -P pager=off -f "$f" ;;
	*) if [ -x "$f" ]; then "./$f"; fi ;;
	esac
done
echo
echo "demo finished: the throwaway cluster is stopped and removed now."
