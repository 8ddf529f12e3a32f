#!/usr/bin/env bash
# The demo: run through test/cluster.sh by `make demo`.  Creates database carbonmkt_demo,
# installs the extension and plays test/demo/*.sql in order, printing what happens.
set -euo pipefail
cd "$(dirname "$0")"
psql -X -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS carbonmkt_demo" -c "CREATE DATABASE carbonmkt_demo"
export PGDATABASE=carbonmkt_demo
psql -X -q -c "CREATE EXTENSION carbonmkt"
for f in $(ls [0-9]*.sql | sort); do
	psql -X -q -v ON_ERROR_STOP=1 -P pager=off -f "$f"
done
echo
echo "demo finished: the throwaway cluster is stopped and removed now."
