#!/usr/bin/env bash
# The demo: run through test/cluster.sh by `make demo`.  Creates database carbonmkt_demo,
# installs the extension and plays the acts test/demo/[0-9]* in name order, printing what
# happens: NN_*.sql through psql, executable NN_*.sh as programs (other files are skipped).
# Both see the same PG* environment (PGDATABASE=carbonmkt_demo); the shell acts drive the
# market with the libpq order-flow tool, whose path is in CARBONMKT_LOAD (default: the
# repository's src/cli/carbonmkt-load, built here if it is missing or out of date).  Last, a
# login with the BI role writes the dashboard, carbonmkt-dashboard.html at the repository's
# root, with src/cli/carbonmkt-dashboard; its path is the last line printed.
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

# The dashboard of the demo's market year, as a BI tool would read it: a login with the BI
# role (carbonmkt_bi) runs carbonmkt-dashboard, which reads only the bi_* views and writes
# one self-contained HTML file (src/cli/README.md, doc/bi.md).
echo
echo '== The dashboard (carbonmkt-dashboard as a login with the BI role carbonmkt_bi)'
# A staff login acts only through its mapping (doc/security.md): BI for the national authority.
psql -X -q -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS demo_bi" -c "CREATE ROLE demo_bi LOGIN IN ROLE carbonmkt_bi" \
	-c "SELECT carbonmkt.map_login('demo_bi', (SELECT participant_id FROM carbonmkt.participant WHERE kind = 'national_authority' ORDER BY participant_id LIMIT 1))" >/dev/null
echo "   \$ PGUSER=demo_bi carbonmkt-dashboard -o carbonmkt-dashboard.html"
PGUSER=demo_bi "$repo/src/cli/carbonmkt-dashboard" -o "$repo/carbonmkt-dashboard.html" | sed 's/^/   /'
echo
echo "demo finished: the throwaway cluster is stopped and removed now."
echo "The dashboard: $repo/carbonmkt-dashboard.html"
