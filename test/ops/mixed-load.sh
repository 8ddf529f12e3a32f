#!/usr/bin/env bash
# test/ops/mixed-load.sh: no mix of public calls deadlocks (doc/registry.md, "Lock order").
#
# pgbench runs a randomised mix of every public posting and market call from several
# clients, each call its own transaction, on one trading day replayed with carbonmkt.clock:
# the registry's transfers of CEA, CCER and cash, deposits and withdrawals, pledges held,
# released and spent, voluntary cancellation of CEA and CCER, surrender for a compliance
# period; the market's listed orders (matched at once or queued), 摘牌, cancels, the queue
# processed for every product, block agreements proposed, confirmed, accepted or cancelled,
# one-way bidding announced, bid, closed or cancelled; two products with their own clearing
# accounts; and end_of_day after the run.  Business refusals (CM...: a balance used up, an
# order already filled) are part of the mix and are swallowed by mix.try(); anything else
# aborts the client.  It asserts ZERO deadlocks (40P01) and zero serialization failures
# (40001) - pgbench's own count with --max-tries=1 and the server's pg_stat_database -, that
# every script ran and every kind of trade and posting happened, and that verify_ledger()
# is empty afterwards.
#
# Seconds: MIXED_LOAD_SECONDS (default 20 in make test; run it standalone for longer:
#   MIXED_LOAD_SECONDS=60 test/cluster.sh test/ops/mixed-load.sh); clients MIXED_LOAD_CLIENTS
# (default 4).  Prints ok/not ok lines and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${MIXED_LOAD_SECONDS:-20}
clients=${MIXED_LOAD_CLIENTS:-4}
units=8
db=ops_mixed_load
work=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-mixed.XXXXXX")
trap 'rm -rf "$work"' EXIT
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
pgbench=${CARBONMKT_PG_BINDIR:+$CARBONMKT_PG_BINDIR/}pgbench
fail=0
clock="-c carbonmkt.clock=2025-06-04T13:30:00+08"

psql -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
PGOPTIONS="$clock" psql -d "$db" -v units=$units <<'SQL' >/dev/null || { echo "not ok - set-up failed"; exit 1; }
CREATE EXTENSION carbonmkt;
SET search_path = carbonmkt, public;
SET mix.units = :'units';
-- accounts: 1 reserve, 2 cancellation, 3/4 clearing CEA2024/CEA2025,
-- unit u (participant u + 1): holding 3 + 2u, cash 4 + 2u
DO $$
DECLARE
    p bigint;
BEGIN
    p := register_participant('Exchange', 'exchange', '913100000000000E0' || credit_code_check_char('913100000000000E0'), '310000');
    -- no source gives the exchange's fees (doc/rules.md): it fills test values through amend_rule
    PERFORM amend_rule('market_rule', jsonb_build_object('jurisdiction', r.jurisdiction, 'mode', r.mode, 'valid_from', r.valid_from),
                       jsonb_build_object('fee_rate', CASE r.mode WHEN 'block' THEN 0.00025 ELSE 0.0005 END),
                       'mixed-load fixture: fees no source gives', acting_for => p)
       FROM market_rule r WHERE r.jurisdiction = 'CN' AND r.fee_rate IS NULL;
    PERFORM open_account(p, 'clearing', 'clearing CEA2024'), open_account(p, 'clearing', 'clearing CEA2025');
    FOR u IN 1..current_setting('mix.units')::int LOOP
        p := register_participant('Load unit ' || u, 'key_emitter',
                                  '914403000000000' || lpad(u::text, 2, '0')
                                  || credit_code_check_char('914403000000000' || lpad(u::text, 2, '0')),
                                  '440000', '440300', 'power');
        IF open_account(p, 'holding', 'unit ' || u) <> 3 + 2 * u OR open_account(p, 'cash', 'unit ' || u) <> 4 + 2 * u THEN
            RAISE EXCEPTION 'unexpected account ids';
        END IF;
        INSERT INTO confirmed_emission (participant_id, year, emissions_t, basis, confirmed_by, confirmed_at)
        VALUES (p, 2024, 1000000000, 'verified', NULL, clock_now());
    END LOOP;
    PERFORM issue_cea(1, 2024, 1000000000), issue_cea(1, 2025, 1000000000),
            issue_ccer(1, 'CCER:GD-LOAD-0001:2024:1-100000000');
    PERFORM transfer_cea(1, 3 + 2 * u, 2024, 50000000), transfer_cea(1, 3 + 2 * u, 2025, 50000000),
            transfer_ccer(1, 3 + 2 * u, 'GD-LOAD-0001', 2024, 1000000),
            deposit_cny(4 + 2 * u, 100000000000000)
       FROM generate_series(1, current_setting('mix.units')::int) u;
    PERFORM list_product('CEA2024', 60.00, 3), list_product('CEA2025', 60.00, 4);
    PERFORM open_period(2024, 'load 2024', 2024, 2024, '2025-12-31');
END $$;
SQL

# mix.try: runs one call; a business refusal (CM..., or 22023/42501 of a raced state) is
# part of the mix, a deadlock or serialization failure is re-raised for pgbench to count,
# anything else aborts the client (and the test)
PGOPTIONS="$clock" psql -d "$db" <<'SQL' >/dev/null || { echo "not ok - set-up failed"; exit 1; }
CREATE SCHEMA mix;
CREATE FUNCTION mix.try(sql text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
EXCEPTION
    WHEN deadlock_detected OR serialization_failure THEN RAISE;
    WHEN others THEN
        IF SQLSTATE NOT LIKE 'CM%' THEN RAISE; END IF;
END $$;
-- a live order of a unit on a product (NULL when it has none)
CREATE FUNCTION mix.live_order(u int, pcode text, p_mode text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT max(o.order_id) FROM carbonmkt.market_order o JOIN carbonmkt.product p USING (product_id)
     WHERE o.participant_id = u + 1 AND p.code = pcode AND o.mode::text = p_mode AND o.status IN ('open', 'queued') $$;
CREATE FUNCTION mix.listing(u int, pcode text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT max(o.order_id) FROM carbonmkt.market_order o JOIN carbonmkt.product p USING (product_id)
     WHERE o.participant_id <> u + 1 AND p.code = pcode AND o.mode = 'listed' AND o.status = 'open' $$;
CREATE FUNCTION mix.active_hold(u int) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT max(h.hold_id) FROM carbonmkt.hold h
     WHERE h.account_id IN (3 + 2 * u, 4 + 2 * u) AND h.reason = 'pledge' AND h.status = 'active' $$;
CREATE FUNCTION mix.hold_left(h bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT remaining FROM carbonmkt.hold WHERE hold_id = h), 1) $$;
SQL

# the scripts: one public call per transaction (each statement calls mix.try at most once),
# random units, amounts and prices
s() { cat >"$work/$1.sql"; echo "-f $work/$1.sql@$2"; }
scripts=(
$(s transfer_cea 10 <<'EOF'
\set a random(1, 8)
\set b random(1, 8)
\set q random(1, 1000)
SELECT mix.try(format('SELECT carbonmkt.transfer_cea(%s, %s, %s, %s)', 3 + 2 * :a, 3 + 2 * :b, 2024 + :q % 2, :q)) WHERE :a <> :b;
EOF
)
$(s transfer_cny 10 <<'EOF'
\set a random(1, 8)
\set b random(1, 8)
\set q random(1, 100000)
SELECT mix.try(format('SELECT carbonmkt.transfer_cny(%s, %s, %s)', 4 + 2 * :a, 4 + 2 * :b, :q)) WHERE :a <> :b;
EOF
)
$(s transfer_ccer 3 <<'EOF'
\set a random(1, 8)
\set b random(1, 8)
\set q random(1, 100)
SELECT mix.try(format('SELECT carbonmkt.transfer_ccer(%s, %s, ''GD-LOAD-0001'', 2024, %s)', 3 + 2 * :a, 3 + 2 * :b, :q)) WHERE :a <> :b;
EOF
)
$(s cash_in_out 3 <<'EOF'
\set a random(1, 8)
\set q random(1, 100000)
SELECT mix.try(format('SELECT carbonmkt.deposit_cny(%s, %s)', 4 + 2 * :a, :q));
SELECT mix.try(format('SELECT carbonmkt.withdraw_cny(%s, %s)', 4 + 2 * :a, :q));
EOF
)
$(s pledge 4 <<'EOF'
\set a random(1, 8)
\set b random(1, 8)
\set q random(1, 1000)
\set r random(1, 3)
SELECT mix.try(format('SELECT carbonmkt.hold(%s, ''CEA'', %s, ''pledge'', 2024)', 3 + 2 * :a, :q));
SELECT mix.try(format('SELECT carbonmkt.release_hold(%s)', mix.active_hold(:a))) WHERE :r = 1 AND mix.active_hold(:a) IS NOT NULL;
SELECT mix.try(format('SELECT carbonmkt.transfer_from_hold(%s, %s, %s)', h, 3 + 2 * :b, greatest(mix.hold_left(h) / 2, 1)))
  FROM mix.active_hold(:a) h WHERE :r = 2 AND h IS NOT NULL AND :a <> :b;
EOF
)
$(s cancel_surrender 4 <<'EOF'
\set a random(1, 8)
\set q random(1, 100)
SELECT mix.try(format('SELECT carbonmkt.cancel_cea(%s, 2025, %s)', 3 + 2 * :a, :q));
SELECT mix.try(format('SELECT carbonmkt.surrender_cea(%s, 2024, %s, 2024)', 3 + 2 * :a, :q));
SELECT mix.try(format('SELECT carbonmkt.cancel_ccer(%s, ''GD-LOAD-0001'', 2024, %s)', 3 + 2 * :a, :q));
EOF
)
$(s submit_order 25 <<'EOF'
\set a random(1, 8)
\set side random(0, 1)
\set prod random(0, 1)
\set q random(1, 500)
\set px random(5800, 6200)
SELECT mix.try(format('SELECT carbonmkt.submit_order(%L, %L, %s, %s, acting_for => %s)',
                      'CEA202' || (4 + :prod), CASE :side WHEN 0 THEN 'buy' ELSE 'sell' END, :q, :px / 100.0, :a + 1));
EOF
)
$(s take_listing 5 <<'EOF'
\set a random(1, 8)
\set prod random(0, 1)
\set q random(1, 500)
SELECT mix.try(format('SELECT carbonmkt.submit_order(%L, %L, %s, %s, take_order_id => %s, acting_for => %s)',
                      'CEA202' || (4 + :prod), CASE o.side WHEN 'buy' THEN 'sell' ELSE 'buy' END, :q,
                      o.price_fen / 100.0, o.order_id, :a + 1))
  FROM (SELECT mix.listing(:a, 'CEA202' || (4 + :prod)) AS id) l JOIN carbonmkt.market_order o ON o.order_id = l.id;
EOF
)
$(s queue_order 15 <<'EOF'
\set a random(1, 8)
\set side random(0, 1)
\set prod random(0, 1)
\set q random(1, 500)
\set px random(5800, 6200)
SELECT mix.try(format('SELECT carbonmkt.queue_order(%L, %L, %s, %s, acting_for => %s)',
                      'CEA202' || (4 + :prod), CASE :side WHEN 0 THEN 'buy' ELSE 'sell' END, :q, :px / 100.0, :a + 1));
EOF
)
$(s process_queue 4 <<'EOF'
CALL carbonmkt.process_queue();
EOF
)
$(s cancel_order 8 <<'EOF'
\set a random(1, 8)
\set prod random(0, 1)
SELECT mix.try(format('SELECT carbonmkt.cancel_order(%s)', mix.live_order(:a, 'CEA202' || (4 + :prod), 'listed')))
 WHERE mix.live_order(:a, 'CEA202' || (4 + :prod), 'listed') IS NOT NULL;
EOF
)
$(s block 3 <<'EOF'
\set a random(1, 8)
\set b random(1, 8)
\set prod random(0, 1)
\set side random(0, 1)
\set px random(5500, 6500)
\set r random(1, 4)
SELECT mix.try(format('SELECT carbonmkt.propose_block(%L, %L, 100000, %s, %s, acting_for => %s)',
                      'CEA202' || (4 + :prod), CASE :side WHEN 0 THEN 'buy' ELSE 'sell' END, :px / 100.0, :b + 1, :a + 1))
 WHERE :a <> :b;
SELECT mix.try(format('SELECT carbonmkt.confirm_block(%s, acting_for => %s)', max(d.deal_id), :b + 1))
  FROM carbonmkt.block_deal d WHERE d.proposer_id = :a + 1 AND d.counterparty_id = :b + 1 AND d.status = 'proposed'
HAVING max(d.deal_id) IS NOT NULL AND :r > 1;
SELECT mix.try(format('SELECT carbonmkt.accept_block(%s)', max(d.deal_id)))
  FROM carbonmkt.block_deal d WHERE d.proposer_id = :a + 1 AND d.status = 'confirmed' HAVING max(d.deal_id) IS NOT NULL AND :r > 2;
SELECT mix.try(format('SELECT carbonmkt.cancel_block(%s, acting_for => %s)', max(d.deal_id), :a + 1))
  FROM carbonmkt.block_deal d WHERE d.proposer_id = :a + 1 AND d.status IN ('proposed', 'confirmed')
HAVING max(d.deal_id) IS NOT NULL AND :r = 2;
EOF
)
$(s auction 2 <<'EOF'
\set a random(1, 8)
\set prod random(0, 1)
\set r random(1, 4)
SELECT mix.try(format('SELECT carbonmkt.announce_auction(%L, ''sell'', 2000, 59.00, ''2025-06-04 13:30+08'', ''2025-06-04 14:00+08'', acting_for => %s)',
                      'CEA202' || (4 + :prod), :a + 1));
SELECT mix.try(format('SELECT carbonmkt.bid_auction(%s, %s, %s, acting_for => %s)', max(auction_id), 100 * 1, 59 + 1 / 4.0, 2 + (:a + 1) % 8))
  FROM carbonmkt.auction WHERE announced_by = :a + 1 AND status = 'open' HAVING max(auction_id) IS NOT NULL;
SELECT mix.try(format('SELECT carbonmkt.bid_auction(%s, %s, %s, acting_for => %s)', max(auction_id), 100 * 2, 59 + 2 / 4.0, 2 + (:a + 2) % 8))
  FROM carbonmkt.auction WHERE announced_by = :a + 1 AND status = 'open' HAVING max(auction_id) IS NOT NULL;
SELECT mix.try(format('SELECT carbonmkt.bid_auction(%s, %s, %s, acting_for => %s)', max(auction_id), 100 * 3, 59 + 3 / 4.0, 2 + (:a + 3) % 8))
  FROM carbonmkt.auction WHERE announced_by = :a + 1 AND status = 'open' HAVING max(auction_id) IS NOT NULL;
SELECT mix.try(format('SELECT carbonmkt.bid_auction(%s, %s, %s, acting_for => %s)', max(auction_id), 100 * 4, 59 + 4 / 4.0, 2 + (:a + 4) % 8))
  FROM carbonmkt.auction WHERE announced_by = :a + 1 AND status = 'open' HAVING max(auction_id) IS NOT NULL;
SELECT mix.try(format('SELECT carbonmkt.bid_auction(%s, %s, %s, acting_for => %s)', max(auction_id), 100 * 5, 59 + 5 / 4.0, 2 + (:a + 5) % 8))
  FROM carbonmkt.auction WHERE announced_by = :a + 1 AND status = 'open' HAVING max(auction_id) IS NOT NULL;
SET carbonmkt.clock = '2025-06-04 14:00:00+08';
SELECT mix.try(format('SELECT carbonmkt.close_auction(%s)', max(auction_id)))
  FROM carbonmkt.auction WHERE announced_by = :a + 1 AND status = 'open' HAVING max(auction_id) IS NOT NULL AND :r > 1;
SELECT mix.try(format('SELECT carbonmkt.cancel_auction(%s)', max(auction_id)))
  FROM carbonmkt.auction WHERE announced_by = :a + 1 AND status = 'open' HAVING max(auction_id) IS NOT NULL AND :r = 1;
SET carbonmkt.clock = '2025-06-04 13:30:00+08';
EOF
)
)

before=$(psql -d "$db" -At -c "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
PGOPTIONS="$clock" "$pgbench" -n -c "$clients" -j "$clients" -T "$secs" --max-tries=1 --failures-detailed \
	"${scripts[@]}" "$db" >"$work/pgbench.out" 2>"$work/pgbench.err"
rc=$?
sleep 1
after=$(psql -d "$db" -At -c "SELECT pg_stat_force_next_flush(); SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()" | tail -1)
tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/pgbench.out")
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/pgbench.out")
ser=$(sed -n 's/^number of serialization failures: \([0-9]*\).*/\1/p' "$work/pgbench.out")
dead=$(sed -n 's/^number of deadlock failures: \([0-9]*\).*/\1/p' "$work/pgbench.out")
echo "# $clients clients, $secs s: ${tx:-?} transactions, $(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.out" | head -1) tps"
if [ $rc -ne 0 ] || [ -z "$tx" ]; then
	echo "not ok - pgbench failed (exit $rc): a client aborted on an unexpected error"
	grep -v "^$" "$work/pgbench.err" | head -20 | sed 's/^/    /'
	fail=1
fi
if [ "${dead:-x}" = 0 ] && [ "$((after - before))" = 0 ]; then
	echo "ok - zero deadlocks (pgbench: 0 deadlock failures; pg_stat_database.deadlocks unchanged at $after)"
else
	echo "not ok - deadlocks: pgbench counted ${dead:-?}, the server $((after - before))"
	grep -h "deadlock" "$work/pgbench.err" | head -5 | sed 's/^/    /'
	[ -n "${CARBONMKT_SERVER_LOG:-}" ] && [ -n "${MIXED_LOAD_DEBUG:-}" ] && grep -A12 "deadlock detected" "$CARBONMKT_SERVER_LOG" >"${MIXED_LOAD_DEBUG}"
	fail=1
fi
if [ "${ser:-x}" = 0 ] && [ "${failed:-x}" = 0 ]; then
	echo "ok - zero serialization failures (and no failed transaction)"
else
	echo "not ok - serialization failures: ${ser:-?}, failed transactions: ${failed:-?}"
	fail=1
fi
never=$(grep -E "^ - [0-9]+ transactions" "$work/pgbench.out" | grep -c "^ - 0 transactions")
if [ "$never" = 0 ] && [ "$(grep -cE '^ - [0-9]+ transactions' "$work/pgbench.out")" = $((${#scripts[@]} / 2)) ]; then
	echo "ok - every one of the $((${#scripts[@]} / 2)) scripts ran"
else
	echo "not ok - a script never ran:"
	grep -E "^SQL script|^ - [0-9]+ transactions" "$work/pgbench.out"
	fail=1
fi
# after the run: the day closes, every kind of trade and posting happened, the ledger verifies
summary=$(PGOPTIONS="-c carbonmkt.clock=2025-06-04T15:30:00+08" psql -d "$db" -At -F ' ' <<'SQL'
SELECT 'closed ' || count(*) FROM carbonmkt.end_of_day();
SELECT 'trades ' || string_agg(mode || '=' || n, ' ' ORDER BY mode)
  FROM (SELECT mode::text, count(*) AS n FROM carbonmkt.trade GROUP BY mode) t;
SELECT 'entries ' || string_agg(kind || '=' || n, ' ' ORDER BY kind)
  FROM (SELECT kind::text, count(*) AS n FROM carbonmkt.journal GROUP BY kind) j;
SELECT 'live ' || count(*) FROM carbonmkt.market_order WHERE status IN ('open', 'queued');
SELECT 'problems ' || count(*) FROM carbonmkt.verify_ledger();
SQL
)
echo "$summary" | sed 's/^/# /'
for want in "trades .*auction=[1-9]" "trades .*block=[1-9]" "trades .*listed=[1-9]" "entries .*surrender=[1-9]" \
	"entries .*cancel=[1-9]" "entries .*release=[1-9]" "entries .*hold=[1-9]" "^live 0$"; do
	if ! grep -qE "$want" <<<"$summary"; then
		echo "not ok - after the run, expected /$want/"
		fail=1
	fi
done
if grep -qx "problems 0" <<<"$summary"; then
	echo "ok - verify_ledger() is empty after the run and end_of_day"
else
	echo "not ok - verify_ledger() reports problems:"
	psql -d "$db" -c "SELECT * FROM carbonmkt.verify_ledger() LIMIT 20"
	fail=1
fi
[ $fail = 0 ] && psql -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" >/dev/null
exit $fail
