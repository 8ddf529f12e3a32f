#!/usr/bin/env bash
# test/browser/run.sh: the dashboard in a real browser (layer "browser" of test/run-tests.sh;
# run it through test/cluster.sh).  Builds a small national market (fixture.sql) in its own
# database, with the market clock fixed for it (ALTER DATABASE ... SET carbonmkt.clock) so the
# page is the same on every run; runs carbonmkt-dashboard as a login with the BI role
# (carbonmkt_bi); queries the expected figures by SQL; then dashboard.test.mjs opens the page
# in Debian's headless Chromium, checks it, and saves the screenshot doc/dashboard.png (the
# README shows it; an unchanged page gives a byte-identical file).  Needs `make deps`
# (chromium, node_modules/).  Prints TAP lines; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${CARBONMKT_PG_BINDIR:?run me through test/cluster.sh}"

db=carbonmkt_browser
clock='2025-11-20 16:00:00+08'
screenshot=${CARBONMKT_SCREENSHOT:-doc/dashboard.png}
[ -x src/cli/carbonmkt-dashboard ] || make -s -C src/cli >&2
[ -d node_modules/playwright-core ] || { echo "not ok - node_modules/ is missing: run 'make deps'"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-browser.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

psql -X -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -c "ALTER DATABASE $db SET carbonmkt.clock = '$clock'"
export PGDATABASE=$db
psql -X -q -c "CREATE EXTENSION carbonmkt"
psql -X -q -At -f test/browser/fixture.sql | sed 's/^/# /'
psql -X -q -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS carbonmkt_browser_bi" \
	-c "CREATE ROLE carbonmkt_browser_bi LOGIN IN ROLE carbonmkt_bi" \
	-c "SELECT carbonmkt.map_login('carbonmkt_browser_bi', (SELECT participant_id FROM carbonmkt.participant WHERE kind = 'national_authority' ORDER BY participant_id LIMIT 1))" >/dev/null

# The program reads only bi_* views: every object its queries name is one.
others=$(grep -o 'carbonmkt\.[a-z_]*' src/cli/dashboard_main.c | { grep -v '^carbonmkt\.bi_' || true; } | sort -u | tr '\n' ' ')
if [ -z "$others" ]; then echo "ok - carbonmkt-dashboard's queries name only bi_* views"
else echo "not ok - carbonmkt-dashboard's queries name other objects: $others"; exit 1; fi

# The page, written by the BI login; SOURCE_DATE_EPOCH: the same time stamp on every run
SOURCE_DATE_EPOCH=$(date -d "$clock" +%s) PGUSER=carbonmkt_browser_bi \
	src/cli/carbonmkt-dashboard -o "$tmp/dashboard.html" | sed 's/^/# /'

# The figures the page must show, by SQL (as the superuser, from the same views): the latest
# period with obligations, its national rates, the first province (by code) short of 100%,
# the last close of the CEA product with the most volume.
expected=$(psql -X -q -At <<'SQL'
SET search_path = carbonmkt, public;
WITH p AS (SELECT * FROM bi_completion_by_period WHERE units_with_obligation > 0 ORDER BY period DESC LIMIT 1),
     pr AS (SELECT c.* FROM bi_completion_by_province c, p WHERE c.period = p.period AND c.completion_rate < 1
             ORDER BY c.province LIMIT 1),
     prod AS (SELECT product FROM bi_market_daily WHERE instrument = 'CEA'
               GROUP BY product, vintage ORDER BY sum(volume_t) DESC, vintage DESC LIMIT 1),
     cl AS (SELECT d.* FROM bi_market_daily d, prod WHERE d.product = prod.product ORDER BY d.trade_date DESC LIMIT 1)
SELECT json_build_object(
         'period_name', p.period_name,
         'completion_rate', to_char(100 * p.completion_rate, 'FM990.00') || '%',
         'unit_completion_rate', to_char(100 * p.unit_completion_rate, 'FM990.00') || '%',
         'province', pr.province, 'province_name', pr.province_name_en,
         'province_rate', to_char(100 * pr.completion_rate, 'FM990.00') || '%',
         'provinces', (SELECT count(*) FROM bi_completion_by_province c WHERE c.period = p.period),
         'product', cl.product, 'last_close', to_char(cl.close_cny, 'FM99990.00'), 'last_close_date', cl.trade_date,
         'as_of', to_char(clock_now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS'))
  FROM p, pr, cl;
SQL
)
echo "# expected: $expected"
node test/browser/dashboard.test.mjs "$tmp/dashboard.html" "$expected" "$screenshot"
