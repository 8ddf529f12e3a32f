#!/usr/bin/env bash
# test/ops/lib/dataset.sh DB [VERSION]
#
# Creates database DB holding a realistic data set that touches every room: a slice of
# the demo (test/demo/: its acts 20-60 with 300 key emitting units instead of 2,100 and a
# tenth of the trading day's order flow): participants, accounts, pre-allocation, holds,
# CCER blocks, a day seal, the MRV season with its tiered review, allocation and true-up,
# listed, batch, block and auction trading, surrender, borrowing, period close, sanctions.
# About 40,000 rows; built once per cluster (database ops_dataset, then copied as a
# template), in about 30 s.
#
# With VERSION (e.g. 0.1.0), the extension is created at that version and the acts are
# the frozen copies of test/ops/data/VERSION/ (the demo as that version's API knew it,
# without the carbonmkt-load order flow), not cached.
set -euo pipefail
db=$1
version=${2:-}
repo=$(cd "$(dirname "$0")/../../.." && pwd)
q() { psql -X -q -v ON_ERROR_STOP=1 -P pager=off "$@"; }
exists() { [ "$(psql -X -At -c "SELECT count(*) FROM pg_database WHERE datname = '$1'")" = 1 ]; }

play() {	# play DB DIR FILES...: the acts, quietly (their output is the demo's, not ours)
	local target=$1 dir=$2
	shift 2
	local tmp
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-dataset.XXXXXX")
	for f in "$@"; do
		sed -e 's/1\.\.2100/1..300/' -e 's/obligation_t >= 1000000/obligation_t >= 100000/' \
			-e 's/ -n 4000 / -n 400 /; s/ -n 3000 / -n 300 /' "$dir/$f" >"$tmp/$f"
		case "$f" in
		*.sql) PGDATABASE=$target q -f "$tmp/$f" >"$tmp/out" 2>&1 || { tail -20 "$tmp/out"; rm -rf "$tmp"; return 1; } ;;
		*.sh) chmod +x "$tmp/$f"; PGDATABASE=$target "$tmp/$f" >"$tmp/out" 2>&1 || { tail -20 "$tmp/out"; rm -rf "$tmp"; return 1; } ;;
		esac
	done
	rm -rf "$tmp"
}

if [ -n "$version" ]; then
	q -c "CREATE DATABASE $db"
	q -d "$db" -c "CREATE EXTENSION carbonmkt VERSION '$version'"
	play "$db" "$repo/test/ops/data/$version" $(cd "$repo/test/ops/data/$version" && ls [0-9]*)
	exit 0
fi

if ! exists ops_dataset; then
	if [ -z "${CARBONMKT_LOAD:-}" ]; then
		make -s -C "$repo/src/cli" >&2
		export CARBONMKT_LOAD="$repo/src/cli/carbonmkt-load"
	fi
	q -c "CREATE DATABASE ops_dataset_build"
	q -d ops_dataset_build -c "CREATE EXTENSION carbonmkt"
	play ops_dataset_build "$repo/test/demo" 20_registry.sql 30_mrv.sql 40_allocation.sql 50_market.sql \
		52_market_flow.sh 54_market_close.sql 60_compliance.sql
	q -c "ALTER DATABASE ops_dataset_build RENAME TO ops_dataset"
fi
q -c "CREATE DATABASE $db TEMPLATE ops_dataset"
