#!/usr/bin/env bash
# Demo, act 5 (second part): the trading day's order flow from the libpq tool carbonmkt-load
# (src/cli/README.md), played by test/demo/run.sh with its PG* environment and
# CARBONMKT_LOAD.  Act 50_market.sql opened the market (CEA2024, 200 funded units, the first
# quotes); here:
#   - the morning's continuous listed trading (挂牌协议交易): 4,000 orders from 4 connections in
#     pipeline mode, with client references, some 摘牌, cancels and deliberately bad orders, on
#     the replay clock (--set carbonmkt.clock=...);
#   - a batch: 3,000 orders queued from 2 connections, then matched in sequence by the C engine
#     (--mode queue --process-queue);
#   - the lunch break: the tool's orders are refused, the session is closed.
# The order streams are fixed by their seeds; what trades with what also depends on how the
# connections interleave, so counts may differ slightly from run to run.
set -euo pipefail
: "${CARBONMKT_LOAD:?CARBONMKT_LOAD names the carbonmkt-load program (test/demo/run.sh sets it)}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-demo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# the units the tool trades for: 0011..0200 of act 50's 200 funded traders (0001..0010 quote by hand)
units_sql="SELECT participant_id FROM carbonmkt.participant WHERE kind = 'key_emitter' ORDER BY 1 OFFSET 10 LIMIT 190"

sql() {
	psql -X -q -v ON_ERROR_STOP=1 -P pager=off -P footer=off "$@"
}

# load LABEL ARGS...: show the command, run carbonmkt-load, print its report without the
# machine-readable summary line (kept in $tmp/LABEL.out); stop the demo if it failed.
load() {
	local label=$1
	shift
	printf '   $ carbonmkt-load'
	for a in "$@"; do
		case "$a" in
		"$units_sql") printf ' "$UNITS_SQL"' ;;
		*' '*) printf " '%s'" "$a" ;;
		*) printf ' %s' "$a" ;;
		esac
	done
	printf '\n'
	if ! "$CARBONMKT_LOAD" "$@" >"$tmp/$label.out"; then
		cat "$tmp/$label.out"
		echo "demo: carbonmkt-load failed" >&2
		exit 1
	fi
	grep -v '^carbonmkt-load summary' "$tmp/$label.out" | sed 's/^/   | /'
}

echo
echo '== 5.3 The morning session (挂牌协议交易), replayed at 10:00: 4,000 orders of 190 units from 4 connections'
echo '   carbonmkt-load sends them in pipeline mode with client references (P-SEED-INDEX), about 5% naming a'
echo '   listing to take (摘牌), 5% cancelled soon after, 2% deliberately bad (off-tick, out of band, block-sized);'
echo '   the market answers each order at once: refusals are counted per SQLSTATE with the first message.'
echo "   UNITS_SQL=\"$units_sql\"  (units 0011..0200 of the 200 funded traders)"
load morning -c 4 --pipeline=16 -r --reference-prefix demo-am -s 603 -n 4000 \
	--take-share 0.05 --cancel-share 0.05 --invalid-share 0.02 \
	--participants-sql "$units_sql" --set 'carbonmkt.clock=2025-06-03 10:00:00+08'
sql <<'SQL'
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2025-06-03 10:00:00+08';
\echo '   The morning''s orders by how they ended, and its trades:'
SELECT status, end_reason, count(*) AS orders, sum(quantity) AS tonnes, sum(quantity - remaining) AS filled_t
  FROM market_order WHERE reference LIKE 'demo-am-%' GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS trades, sum(t.quantity) AS tonnes, (min(t.price_fen) / 100.0)::numeric(14, 2) AS low,
       (max(t.price_fen) / 100.0)::numeric(14, 2) AS high,
       (sum(t.price_fen * t.quantity)::numeric / sum(t.quantity) / 100)::numeric(14, 2) AS vwap,
       count(*) FILTER (WHERE a.take_order_id IS NOT NULL) AS by_zhaipai
  FROM trade t JOIN market_order a ON a.order_id = CASE t.aggressor WHEN 'buy' THEN t.buy_order_id ELSE t.sell_order_id END
 WHERE a.reference LIKE 'demo-am-%';
\echo '   The book after the morning''s flow, best five levels each side:'
SELECT * FROM order_book('CEA2024', 5);
\echo '   A client reference makes a resend harmless: the morning''s first filled order, sent again, returns its id'
\echo '   and changes nothing:'
SELECT order_id, reference, side, quantity, (price_fen / 100.0)::numeric(14, 2) AS price, participant_id AS unit
  FROM market_order WHERE reference LIKE 'demo-am-%' AND status = 'filled' ORDER BY order_id LIMIT 1 \gset o_
SELECT (SELECT count(*) FROM trade) AS trades_before,
       submit_order('CEA2024', :'o_side', :o_quantity, :o_price, reference => :'o_reference', acting_for => :o_unit)
       = :o_order_id AS same_order_id,
       (SELECT count(*) FROM trade) AS trades_after;
SQL

echo
echo '== 5.4 A batch at 11:00: 3,000 orders queued from 2 connections, matched in sequence by the C engine'
echo "   (--mode queue: each order is validated and its hold laid, then CALL process_queue('CEA2024')"
echo '   matches the queue in order-id sequence with the engine that submit_order uses)'
load batch -c 2 --pipeline=16 -r --reference-prefix demo-q -s 1100 -n 3000 --aggressive-share 0.6 \
	--mode queue --process-queue \
	--participants-sql "$units_sql" --set 'carbonmkt.clock=2025-06-03 11:00:00+08'
sql <<'SQL'
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '2025-06-03 11:00:00+08';
SELECT status, end_reason, count(*) AS orders, sum(quantity) AS tonnes, sum(quantity - remaining) AS filled_t
  FROM market_order WHERE reference LIKE 'demo-q-%' GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS trades_so_far, sum(quantity) AS tonnes, min(price) AS low, max(price) AS high FROM market_trades;
\echo '   The book after the batch:'
SELECT * FROM order_book('CEA2024', 3);
SQL

echo
echo "   12:00, the lunch break: the tool's orders are refused (session closed), nothing is held:"
load lunch -c 1 -n 5 -r --reference-prefix demo-noon -s 12 \
	--participants-sql "$units_sql" --set 'carbonmkt.clock=2025-06-03 12:00:00+08'
sql <<'SQL'
SELECT count(*) AS lunch_orders_recorded FROM carbonmkt.market_order WHERE reference LIKE 'demo-noon-%';
SQL
