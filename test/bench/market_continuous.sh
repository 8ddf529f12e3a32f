#!/usr/bin/env bash
# test/bench/market_continuous.sh -- make bench BENCH=market_continuous
#
# Continuous order entry (连续竞价 of listed-agreement trading) under pgbench: 8 clients, each
# transaction one carbonmkt.submit_order() of a random unit on the book CEA2024, 1..100 t,
# against the floor: in ONE round trip (a pgbench pipeline: BEGIN, the hold as one balance
# update and one ledger row, the order row, END) the order is inserted and its hold laid on
# bare tables.  Two scenarios, reported separately:
#   non-crossing  buys at 59.00..59.50, sells at 60.50..61.00: every order rests on the book
#   crossing      buys at 59.70..60.70, sells at 59.30..60.30: most orders trade at once
# What the floor leaves out: every rule check (trading day and hours, price limits, lots,
# participant and account status, available balance), the registry's hold row, posting row and
# hash chain, the order's priority; for crossing orders also the match, the trade and its
# delivery-versus-payment settlement (the candidate does all of it; the floor does not).
# Every carbonmkt run trades on a business day of its own (the next trading day after the last
# run's), so each starts from an empty book, as the floor's runs start from nothing to match.
# Each run is pgbench -n -M prepared -c 8 -j 2 -T ${BENCH_SECONDS:-15} --max-tries=10; per
# durability mode (${BENCH_FSYNC_MODES:-on off}: on = fsync, synchronous_commit and
# full_page_writes on, the headline) and scenario a warm-up of each side (${BENCH_WARMUP:-5} s,
# not counted), then ${BENCH_ROUNDS:-3} rounds, the order of the sides rotated per round; prints
# median TPS (min-max), the ratio of the medians (target >= 0.50) and the load average.
# Then the server time of one submit_order (resting, crossing) and of a bare registry hold() in
# one session.  Afterwards checks cash and allowances conserved, the clearing account holding exactly the fees,
# and verify_ledger() clean; fails otherwise or if pgbench fails.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SECONDS_PER_RUN=${BENCH_SECONDS:-15}
WARMUP=${BENCH_WARMUP:-5}
ROUNDS=${BENCH_ROUNDS:-3}
MODES=${BENCH_FSYNC_MODES:-on off}
CLIENTS=8
THREADS=2
UNITS=200
BOOKS=8
PGBENCH=${CARBONMKT_PG_BINDIR:+$CARBONMKT_PG_BINDIR/}pgbench
: "${PGDATABASE:=carbonmkt_bench}"
export PGDATABASE
CLOCK='2025-06-03 10:00:00+08'

work=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

q() { psql -X -At -v ON_ERROR_STOP=1 -c "SET carbonmkt.clock = '$CLOCK'" -c "$1" | tail -1; }

echo "-- load average $(loadavg); setup: the exchange with $BOOKS clearing accounts, products CEA2017..CEA2024, $UNITS key emitting units"
t0=$(date +%s)
psql -X -q -v ON_ERROR_STOP=1 <<SQL
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '$CLOCK';
-- no source gives the exchange's fees (doc/rules.md): the test value, 0.05% per side (block 0.025%)
UPDATE market_rule SET fee_rate = CASE mode WHEN 'block' THEN 0.00025 ELSE 0.0005 END WHERE jurisdiction = 'CN' AND fee_rate IS NULL;
DO \$\$
DECLARE
    ex  bigint;
    p   bigint;
    h   bigint;
    c17 text;
BEGIN
    ex := register_participant('Bench exchange', 'exchange', '9131000000BEN0000' || credit_code_check_char('9131000000BEN0000'));
    FOR v IN 2017..2024 LOOP
        PERFORM list_product('CEA' || v, 60.00, open_account(ex, 'clearing', 'clearing CEA' || v));
        PERFORM issue_cea(1, v, 200000000);
    END LOOP;
    FOR i IN 1..$UNITS LOOP
        c17 := '9144030000BEN' || lpad(i::text, 4, '0');
        p := register_participant('Bench unit ' || i, 'key_emitter', c17 || credit_code_check_char(c17), '440000', '440300', 'power');
        h := open_account(p, 'holding');
        PERFORM deposit_cny(open_account(p, 'cash'), 10000000000);      -- 100,000,000.00 CNY
        FOR v IN 2017..2024 LOOP
            PERFORM transfer_cea(1, h, v, 1000000);
        END LOOP;
    END LOOP;
END \$\$;
RESET search_path;

-- the floor: bare tables
CREATE TABLE f_balance (participant int PRIMARY KEY, cash bigint, cash_held bigint, cea bigint, cea_held bigint);
CREATE TABLE f_journal (id bigserial PRIMARY KEY, participant int, amount bigint, what text, at timestamptz DEFAULT now());
CREATE TABLE f_order (id bigserial PRIMARY KEY, book int, side int, participant int, price bigint, qty bigint, remaining bigint);
CREATE INDEX f_order_book ON f_order (book, side, price, id) WHERE remaining > 0;
CREATE TABLE f_trade (id bigserial PRIMARY KEY, book int, price bigint, qty bigint, rest_order bigint, buyer int, seller int);
INSERT INTO f_balance SELECT i, 10000000000, 0, 8000000, 0 FROM generate_series(1, $UNITS) i;
VACUUM ANALYZE;
CHECKPOINT;
SQL
p0=$(q "SELECT min(participant_id) - 1 FROM carbonmkt.participant WHERE kind = 'key_emitter'")
# the trading days the carbonmkt runs use, one each
mapfile -t DAYS < <(psql -X -At -c "SELECT d::date FROM generate_series(date '2025-06-03', '2025-12-31', '1 day') d
                                     WHERE carbonmkt.is_trading_day(d::date, 'CN') ORDER BY 1")
day=0
cash0=$(q "SELECT sum(balance) FROM carbonmkt.holding WHERE instrument = 'CNY'")
echo "   $(( $(date +%s) - t0 )) s"

# carbonmkt: one submit_order on CEA2024.  Prices in fen: buy lo..hi around the centre,
# sells mirrored (cross = 0: never crossing; cross = 1: mostly crossing).
cat >"$work/carbonmkt.sql" <<'SQL'
\set u random(1, :units)
\set side random(0, 1)
\set q random(1, 100)
\set px CASE WHEN :cross = 1 THEN 6000 + random(-30, 70) - 40 * :side ELSE 5900 + random(0, 50) + 150 * :side END
SELECT carbonmkt.submit_order('CEA2024', CASE :side::int WHEN 0 THEN 'buy' ELSE 'sell' END, :q::bigint,
                              :px::numeric / 100, acting_for => :p0::bigint + :u::bigint);
SQL
# the floor, one round trip: the hold (balance update, ledger row) and the order row
cat >"$work/floor.sql" <<'SQL'
\set u random(1, :units)
\set side random(0, 1)
\set q random(1, 100)
\set px CASE WHEN :cross = 1 THEN 6000 + random(-30, 70) - 40 * :side ELSE 5900 + random(0, 50) + 150 * :side END
\set cash CASE WHEN :side = 0 THEN :q * :px ELSE 0 END
\set cea CASE WHEN :side = 1 THEN :q ELSE 0 END
\set amount :cash + :cea
\startpipeline
BEGIN;
UPDATE f_balance SET cash_held = cash_held + :cash, cea_held = cea_held + :cea WHERE participant = :u;
INSERT INTO f_journal (participant, amount, what) VALUES (:u, :amount, 'hold');
INSERT INTO f_order (book, side, participant, price, qty, remaining) VALUES (1, :side, :u, :px, :q, :q);
END;
\endpipeline
SQL

# run_pgbench SIDE CROSS SECONDS -> sets tps, failed, retried
run_pgbench() {
	local side=$1 cross=$2 secs=$3 out rc clock=$CLOCK
	q "CHECKPOINT" >/dev/null
	if [ "$side" = carbonmkt ]; then
		clock="${DAYS[$day]} 10:00:00+08"
		day=$((day + 1))
	fi
	out="$work/$side.out"
	set +e
	PGOPTIONS="-c carbonmkt.clock=${clock// /\\ }" "$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$secs" \
		--max-tries=10 -D units="$UNITS" -D cross="$cross" -D p0="$p0" -f "$work/$side.sql" >"$out" 2>&1
	rc=$?
	set -e
	if [ "$rc" -ne 0 ]; then
		echo "market_continuous: pgbench $side failed (exit $rc):" >&2
		cat "$out" >&2
		exit 1
	fi
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	retried=$(sed -n 's/^number of transactions retried: \([0-9]*\).*/\1/p' "$out")
	failed=${failed:-0}
	retried=${retried:-0}
	[ -n "$tps" ] || { echo "market_continuous: no result from pgbench $side" >&2; cat "$out" >&2; exit 1; }
}

declare -A TPS FAILED
measure() {
	local mode=$1 scen=$2 cross=$3 r side order k=$1-$2
	echo "-- $scen, fsync etc. $mode: load average $(loadavg)"
	for side in carbonmkt floor; do
		run_pgbench "$side" "$cross" "$WARMUP"
		printf '   warm-up   %-9s %8.1f tps (not counted)\n' "$side" "$tps"
		TPS[$k-$side]=
		FAILED[$k-$side]=0
	done
	for r in $(seq 1 "$ROUNDS"); do
		if [ $((r % 2)) -eq 1 ]; then order="carbonmkt floor"; else order="floor carbonmkt"; fi
		for side in $order; do
			run_pgbench "$side" "$cross" "$SECONDS_PER_RUN"
			TPS[$k-$side]+="$tps "
			FAILED[$k-$side]=$(( ${FAILED[$k-$side]} + failed ))
			printf '   round %d   %-9s %8.1f tps, %d failed, %d retried\n' "$r" "$side" "$tps" "$failed" "$retried"
		done
	done
	echo "   load average after: $(loadavg)"
}

for mode in $MODES; do
	durability "$mode"
	measure "$mode" non-crossing 0
	measure "$mode" crossing 1
done
durability on

echo
echo "-- what carbonmkt did"
psql -X -v ON_ERROR_STOP=1 <<'SQL'
SELECT p.code AS product, count(*) AS orders, count(*) FILTER (WHERE o.status = 'open') AS resting,
       (SELECT count(*) FROM carbonmkt.trade t WHERE t.product_id = p.product_id) AS trades,
       (SELECT sum(quantity) FROM carbonmkt.trade t WHERE t.product_id = p.product_id) AS tonnes
  FROM carbonmkt.market_order o JOIN carbonmkt.product p USING (product_id)
 GROUP BY p.product_id, p.code ORDER BY p.code;
SELECT round(count(*)::numeric / (SELECT count(*) FROM carbonmkt.market_order), 2) AS trades_per_order,
       round((SELECT count(*) FROM carbonmkt.posting WHERE operation IN ('hold', 'transfer_from_hold', 'release_hold', 'transfer_cny', 'settle_batch'))::numeric
             / (SELECT count(*) FROM carbonmkt.market_order), 2) AS registry_postings_per_order
  FROM carbonmkt.trade;
SQL
cash1=$(q "SELECT sum(balance) FROM carbonmkt.holding WHERE instrument = 'CNY'")
cea_ok=$(q "SELECT count(*) = 0 FROM (SELECT vintage, sum(balance) FROM carbonmkt.holding WHERE instrument = 'CEA' GROUP BY vintage HAVING sum(balance) <> 200000000) x")
fees=$(q "SELECT coalesce(sum(buyer_fee_fen + seller_fee_fen), 0) = (SELECT coalesce(sum(h.balance), 0) FROM carbonmkt.holding h JOIN carbonmkt.account a USING (account_id) WHERE a.kind = 'clearing' AND h.instrument = 'CNY') FROM carbonmkt.trade")
[ "$cash0" = "$cash1" ] && [ "$cea_ok" = t ] && [ "$fees" = t ] ||
	{ echo "market_continuous: not conserved: cash $cash0 -> $cash1, allowances per vintage ok: $cea_ok, clearing = fees: $fees" >&2; exit 1; }
echo "   cash conserved ($cash1 fen), allowances conserved per vintage, clearing accounts hold exactly the fees"
t0=$(date +%s%N)
problems=$(q "SELECT count(*) FROM carbonmkt.verify_ledger()")
echo "   verify_ledger(): $problems problems over $(q "SELECT count(*) FROM carbonmkt.journal") journal entries ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
[ "$problems" -eq 0 ] || { echo "market_continuous: verify_ledger() found $problems problems" >&2; exit 1; }

# What one order costs in the server, one session, no contention: 200 resting orders, then 200
# that cross them, each a submit_order, against 200 bare registry holds; on a fresh trading day.
echo
echo "-- server time per call, one session (load average $(loadavg))"
psql -X -q -v ON_ERROR_STOP=1 <<SQL
SET carbonmkt.clock = '${DAYS[$day]} 10:00:00+08';
CREATE TEMP TABLE per_call (what text, us numeric);
DO \$\$
DECLARE
    t0 timestamptz;
    n  int := 200;
BEGIN
    t0 := clock_timestamp();
    FOR i IN 1..n LOOP
        PERFORM carbonmkt.submit_order('CEA2024', CASE i % 2 WHEN 0 THEN 'buy' ELSE 'sell' END, 10,
                                       CASE i % 2 WHEN 0 THEN 59.00 ELSE 61.00 END, acting_for => $p0 + 1 + i % $UNITS);
    END LOOP;
    INSERT INTO per_call VALUES ('submit_order, resting', round(extract(epoch FROM clock_timestamp() - t0) * 1e6 / n));
    t0 := clock_timestamp();
    FOR i IN 1..n LOOP
        PERFORM carbonmkt.submit_order('CEA2024', CASE i % 2 WHEN 0 THEN 'buy' ELSE 'sell' END, 5,
                                       CASE i % 2 WHEN 0 THEN 61.00 ELSE 59.00 END, acting_for => $p0 + 1 + (i * 7) % $UNITS);
    END LOOP;
    INSERT INTO per_call VALUES ('submit_order, crossing', round(extract(epoch FROM clock_timestamp() - t0) * 1e6 / n));
    t0 := clock_timestamp();
    FOR i IN 1..n LOOP
        PERFORM carbonmkt.hold((SELECT a.account_id FROM carbonmkt.account a
                                 WHERE a.participant_id = $p0 + 1 + i % $UNITS AND a.kind = 'cash'), 'CNY', 100, 'order');
    END LOOP;
    INSERT INTO per_call VALUES ('registry hold() alone', round(extract(epoch FROM clock_timestamp() - t0) * 1e6 / n));
END \$\$;
SELECT what, us AS us_per_call FROM per_call;
SQL

echo
echo "-- medians of $ROUNDS rounds (min-max); pgbench -n -M prepared -c $CLIENTS -j $THREADS -T $SECONDS_PER_RUN --max-tries=10"
printf '| %-5s | %-12s | %-22s | %-26s | %-22s | %-7s |\n' fsync scenario "carbonmkt TPS" "floor TPS (1 round trip)" "ratio c/f" failed
echo '|-------|--------------|------------------------|----------------------------|------------------------|---------|'
lines=()
misses=0
for mode in $MODES; do
	for scen in non-crossing crossing; do
		k=$mode-$scen
		read -r cm cmin cmax <<<"$(stats ${TPS[$k-carbonmkt]})"
		read -r fm fmin fmax <<<"$(stats ${TPS[$k-floor]})"
		r=$(ratio "$cm" "$fm")
		v=$(verdict "$r" '>=' 0.5)
		[ "$v" = ok ] || misses=$((misses + 1))
		printf '| %-5s | %-12s | %-22s | %-26s | %-22s | %-7s |\n' "$mode" "$scen" \
			"$(printf '%.0f (%.0f-%.0f)' "$cm" "$cmin" "$cmax")" "$(printf '%.0f (%.0f-%.0f)' "$fm" "$fmin" "$fmax")" \
			"$r (>= 0.50) $v" "${FAILED[$k-carbonmkt]}/${FAILED[$k-floor]}"
		lines+=("ratio carbonmkt/floor fsync=$mode $scen $r (target >= 0.50) $v")
	done
done
echo
printf '%s\n' "${lines[@]}"
echo "market_continuous: $misses of ${#lines[@]} ratio targets missed (a miss is reported, not a failure); load average $(loadavg)"
