#!/usr/bin/env bash
# test/bench/market_continuous.sh -- make bench BENCH=market_continuous
#
# Continuous listed-agreement trading under pgbench: 8 clients, each transaction one
# carbonmkt.submit_order() of a random unit (buys around 60.20, sells around 59.80, ±0.50,
# 1..100 t, so most orders trade at once), against the floor: the same row work in plain
# SQL on bare tables (book lock, best crossing order, its update, the trade, the incoming
# order, the hold and the four balance changes with their ledger rows).
# Scenarios:
#   one book    every order on CEA2024, 200 units
#   eight books orders spread over CEA2017..CEA2024, each book with its own 25 units (and
#               the product its own clearing account), so books share no account
# pgbench -n -M prepared -c 8 -j 2 -T ${BENCH_SECONDS:-30} --max-tries=10 (deadlocks and
# serialization failures are retried), carbonmkt and floor in the same run, order swapped
# between the scenarios.  Prints TPS and the ratio carbonmkt/floor (no target is set by
# the issue; reported), the orders and trades done, and fails if pgbench fails or
# verify_ledger() reports anything, or cash or allowances are not conserved.
set -euo pipefail

SECONDS_PER_RUN=${BENCH_SECONDS:-30}
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

echo "-- setup: the exchange with $BOOKS clearing accounts, products CEA2017..CEA2024, $UNITS key emitting units"
t0=$(date +%s)
psql -X -q -v ON_ERROR_STOP=1 <<SQL
SET search_path = carbonmkt, public;
SET carbonmkt.clock = '$CLOCK';
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
cash0=$(q "SELECT sum(balance) FROM carbonmkt.holding WHERE instrument = 'CNY'")
echo "   $(( $(date +%s) - t0 )) s"

# carbonmkt: one submit_order.  books=1: all units on CEA2024; books=8: book b is traded by
# units (b-1)*25+1 .. b*25 only.
cat >"$work/carbonmkt.sql" <<'SQL'
\set book random(1, :books)
\set per :units / :books
\set u (:book - 1) * :per + random(1, :per)
\set side random(0, 1)
\set dp random(-50, 50)
\set q random(1, 100)
\set px 6000 + :dp + 20 - 40 * :side
SELECT carbonmkt.submit_order('CEA' || (2025 - :book::int), CASE :side::int WHEN 0 THEN 'buy' ELSE 'sell' END, :q::bigint,
                              :px::numeric / 100, participant_id => :p0::bigint + :u::bigint);
SQL
# the floor: the same row work in plain SQL: the book lock, the incoming order's hold (a
# balance update and a ledger row), the best crossing resting order (one fill at most), its
# update, the trade, the incoming order, and for a fill the buyer's and the seller's cash and
# allowance balances with four ledger rows.
cat >"$work/floor.sql" <<'SQL'
\set book random(1, :books)
\set per :units / :books
\set u (:book - 1) * :per + random(1, :per)
\set side random(0, 1)
\set dp random(-50, 50)
\set q random(1, 100)
\set px 6000 + :dp + 20 - 40 * :side
BEGIN;
SELECT pg_advisory_xact_lock(:book::int);
WITH h AS (UPDATE f_balance SET cash_held = cash_held + CASE :side::int WHEN 0 THEN :q::bigint * :px::bigint ELSE 0 END,
                                cea_held = cea_held + CASE :side::int WHEN 1 THEN :q::bigint ELSE 0 END
            WHERE participant = :u::int RETURNING participant)
INSERT INTO f_journal (participant, amount, what) SELECT participant, :q::bigint, 'hold' FROM h;
WITH best AS (SELECT id, price, remaining, participant FROM f_order
               WHERE book = :book::int AND side = 1 - :side::int AND remaining > 0
                 AND ((:side::int = 0 AND price <= :px::bigint) OR (:side::int = 1 AND price >= :px::bigint))
               ORDER BY CASE WHEN :side::int = 0 THEN price ELSE -price END, id LIMIT 1 FOR UPDATE),
     f AS (SELECT id, price, participant, least(remaining, :q::bigint) AS q FROM best),
     r AS (UPDATE f_order o SET remaining = o.remaining - f.q FROM f WHERE o.id = f.id RETURNING o.id),
     t AS (INSERT INTO f_trade (book, price, qty, rest_order, buyer, seller)
           SELECT :book::int, f.price, f.q, f.id, CASE :side::int WHEN 0 THEN :u::int ELSE f.participant END,
                  CASE :side::int WHEN 0 THEN f.participant ELSE :u::int END FROM f RETURNING id),
     b AS (UPDATE f_balance x
              SET cash = cash + CASE WHEN (x.participant = :u::int) = (:side::int = 0) THEN -f.q * f.price ELSE f.q * f.price END,
                  cea = cea + CASE WHEN (x.participant = :u::int) = (:side::int = 0) THEN f.q ELSE -f.q END
             FROM f WHERE x.participant IN (:u::int, f.participant) RETURNING x.participant, f.q, f.price),
     j AS (INSERT INTO f_journal (participant, amount, what)
           SELECT participant, q * price, 'cash' FROM b UNION ALL SELECT participant, q, 'cea' FROM b)
INSERT INTO f_order (book, side, participant, price, qty, remaining)
VALUES (:book::int, :side::int, :u::int, :px::bigint, :q::bigint, :q::bigint - coalesce((SELECT q FROM f), 0));
END;
SQL

# run_pgbench SIDE SCENARIO BOOKS -> sets tps, failed, retried
run_pgbench() {
	local side=$1 scen=$2 books=$3 out rc
	q "CHECKPOINT" >/dev/null
	out="$work/$side-$scen.out"
	set +e
	PGOPTIONS="-c carbonmkt.clock=${CLOCK// /\\ }" "$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$SECONDS_PER_RUN" \
		--max-tries=10 -D units="$UNITS" -D books="$books" -D p0="$p0" -f "$work/$side.sql" >"$out" 2>&1
	rc=$?
	set -e
	if [ "$rc" -ne 0 ]; then
		echo "market_continuous: pgbench $side $scen failed (exit $rc):" >&2
		cat "$out" >&2
		exit 1
	fi
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	retried=$(sed -n 's/^number of transactions retried: \([0-9]*\).*/\1/p' "$out")
	failed=${failed:-0}
	retried=${retried:-0}
	[ -n "$tps" ] || { echo "market_continuous: no result from pgbench $side $scen" >&2; cat "$out" >&2; exit 1; }
	printf '   %-9s %-11s %8.1f tps, %d failed, %d retried\n' "$side" "$scen" "$tps" "$failed" "$retried"
}

declare -A TPS FAILED RETRIED
scenario() {
	local scen=$1 books=$2 order=$3 side
	for side in $order; do
		run_pgbench "$side" "$scen" "$books"
		TPS[$side-$scen]=$tps
		FAILED[$side-$scen]=$failed
		RETRIED[$side-$scen]=$retried
	done
}

echo "-- pgbench -n -M prepared -c $CLIENTS -j $THREADS -T $SECONDS_PER_RUN --max-tries=10"
scenario one-book 1 "carbonmkt floor"
scenario eight-books "$BOOKS" "floor carbonmkt"

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

echo
printf '| %-11s | %14s | %10s | %-24s | %16s |\n' scenario "carbonmkt TPS" "floor TPS" "ratio carbonmkt/floor" "failed (c/f)"
echo '|-------------|---------------:|-----------:|--------------------------|-----------------:|'
for scen in one-book eight-books; do
	ratio=$(awk -v c="${TPS[carbonmkt-$scen]}" -v f="${TPS[floor-$scen]}" 'BEGIN { printf "%.3f", c / f }')
	printf '| %-11s | %14.1f | %10.1f | %-24s | %16s |\n' "$scen" "${TPS[carbonmkt-$scen]}" "${TPS[floor-$scen]}" \
		"$ratio" "${FAILED[carbonmkt-$scen]}/${FAILED[floor-$scen]}"
done
echo
for scen in one-book eight-books; do
	echo "ratio carbonmkt/floor $scen $(awk -v c="${TPS[carbonmkt-$scen]}" -v f="${TPS[floor-$scen]}" 'BEGIN { printf "%.3f", c / f }') (no target; reported)"
done
echo "ratio eight-books/one-book carbonmkt $(awk -v a="${TPS[carbonmkt-eight-books]}" -v b="${TPS[carbonmkt-one-book]}" 'BEGIN { printf "%.2f", a / b }'), floor $(awk -v a="${TPS[floor-eight-books]}" -v b="${TPS[floor-one-book]}" 'BEGIN { printf "%.2f", a / b }')"
echo "retried transactions (deadlocks, serialization failures): carbonmkt ${RETRIED[carbonmkt-one-book]} + ${RETRIED[carbonmkt-eight-books]}, floor ${RETRIED[floor-one-book]} + ${RETRIED[floor-eight-books]}"
