#!/usr/bin/env bash
# test/bench/registry_transfer.sh -- make bench BENCH=registry_transfer
#
# CEA transfers between holding accounts under pgbench: carbonmkt.transfer_cea() against the
# floor, the same balance work in plain SQL on two bare tables in ONE round trip (a pgbench
# pipeline: BEGIN, the balance update of each side in account-id order, one journal row, END).
# What the floor leaves out: the posting row, the second journal leg (the registry writes one
# per account), the SHA-256 hash chain and the two accounts' chain heads, every rule check
# (account kinds and status, available balance, vintage), idempotency and permissions.
# 1,000 key emitting units, each with a holding account of 1,000,000 t of CEA 2024 (issued
# into one provincial allocation account and transferred out).  Scenarios:
#   uniform    random transfers of 1..100 t among all 1,000 accounts
#   hot        the same among only 10 accounts
# Each run is pgbench -n -M prepared -c 8 -j 2 -T ${BENCH_SECONDS:-15}.  Twice: durable
# (fsync, synchronous_commit, full_page_writes on: the headline) and with all three off.  Per
# durability and scenario: one warm-up run of each side (${BENCH_WARMUP:-5} s, not counted),
# then ${BENCH_ROUNDS:-3} rounds of both sides, the order rotated per round; prints the median
# TPS with min-max, the ratio of the medians (targets: >= 0.80 durable, >= 0.60 fsync off),
# WAL bytes per transfer (median; target carbonmkt <= 2.5x the floor), storage bytes per transfer
# (growth of pg_total_relation_size, indexes included; target <= 4x) and the load average.
# Then ${BENCH_MANY:-5000} transfers out of one account in one transaction (an allocation run),
# against the same in single transactions.
# Fails if pgbench fails, a balance sum disagrees, or verify_ledger() reports anything.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SECONDS_PER_RUN=${BENCH_SECONDS:-15}
WARMUP=${BENCH_WARMUP:-5}
ROUNDS=${BENCH_ROUNDS:-3}
MANY=${BENCH_MANY:-5000}
CLIENTS=8
THREADS=2
ACCOUNTS=1000
HOT=10
PER_ACCOUNT=1000000
PGBENCH=${CARBONMKT_PG_BINDIR:+$CARBONMKT_PG_BINDIR/}pgbench
: "${PGDATABASE:=carbonmkt_bench}"
export PGDATABASE

work=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

q() { psql -X -At -v ON_ERROR_STOP=1 -c "$1"; }

echo "-- load average $(loadavg); setup: 1 provincial authority + allocation account, $ACCOUNTS key emitting units with holding accounts"
t0=$(date +%s)
holding_accounts "$ACCOUNTS" "$PER_ACCOUNT"
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE VIEW bench_sizes AS
SELECT (SELECT sum(pg_total_relation_size(c))::bigint
          FROM unnest(ARRAY['carbonmkt.journal', 'carbonmkt.posting', 'carbonmkt.holding',
                            'carbonmkt.account']::regclass[]) c) AS carbonmkt_bytes,
       (SELECT sum(pg_total_relation_size(c))::bigint
          FROM unnest(ARRAY['bench_journal', 'bench_balance']::regclass[]) c) AS floor_bytes,
       (SELECT count(*) FROM carbonmkt.posting WHERE operation = 'transfer_cea') AS carbonmkt_transfers,
       (SELECT count(*) FROM bench_journal) AS floor_transfers;
VACUUM ANALYZE;
CREATE TABLE bench_size0 AS
SELECT c::text AS relation, pg_table_size(c) AS table_bytes, pg_indexes_size(c) AS index_bytes
  FROM unnest(ARRAY['carbonmkt.journal', 'carbonmkt.posting', 'carbonmkt.holding', 'carbonmkt.account',
                    'bench_journal', 'bench_balance']::regclass[]) c;
CHECKPOINT;
SQL

read -r lo hi n <<<"$(q "SELECT min(account_id), max(account_id), count(*) FROM carbonmkt.account WHERE kind = 'holding'" | tr '|' ' ')"
[ "$n" -eq "$ACCOUNTS" ] && [ $((hi - lo + 1)) -eq "$ACCOUNTS" ] ||
	{ echo "registry_transfer: holding accounts not contiguous ($lo..$hi, $n)" >&2; exit 1; }
echo "   holding accounts $lo..$hi, $(q "SELECT to_char(sum(balance), 'FM999,999,999,990') FROM carbonmkt.holding h JOIN carbonmkt.account a USING (account_id) WHERE a.kind = 'holding'") t CEA 2024; $(( $(date +%s) - t0 )) s"

# The two pgbench scripts (lib.sh)
transfer_scripts "$work"

# run_pgbench SIDE NACCOUNTS SECONDS -> sets tps, failed, done, grown, wal
run_pgbench() {
	local side=$1 nacc=$2 secs=$3 before after out rc col lsn0 lsn1
	q "CHECKPOINT" >/dev/null
	before=$(q "SELECT * FROM bench_sizes")
	lsn0=$(q "SELECT pg_current_wal_insert_lsn()")
	out="$work/$side.out"
	set +e
	"$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$secs" -D lo="$lo" -D n="$nacc" \
		-f "$work/$side.sql" >"$out" 2>&1
	rc=$?
	set -e
	if [ "$rc" -ne 0 ]; then
		echo "registry_transfer: pgbench $side failed (exit $rc):" >&2
		cat "$out" >&2
		exit 1
	fi
	after=$(q "SELECT * FROM bench_sizes")
	lsn1=$(q "SELECT pg_current_wal_insert_lsn()")
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	failed=${failed:-0}
	if [ "$side" = carbonmkt ]; then col=1; else col=2; fi
	grown=$(( $(cut -d'|' -f$col <<<"$after") - $(cut -d'|' -f$col <<<"$before") ))
	done=$(( $(cut -d'|' -f$((col + 2)) <<<"$after") - $(cut -d'|' -f$((col + 2)) <<<"$before") ))
	[ -n "$tps" ] && [ "$done" -gt 0 ] ||
		{ echo "registry_transfer: no result from pgbench $side" >&2; cat "$out" >&2; exit 1; }
	wal=$(q "SELECT round(pg_wal_lsn_diff('$lsn1', '$lsn0') / $done)")
}

declare -A TPS WAL BPT FAILED
# measure MODE SCEN NACC: warm-up of both sides, then ROUNDS rounds, the order rotated
measure() {
	local mode=$1 scen=$2 nacc=$3 r side order k=$1-$2
	echo "-- $scen ($nacc accounts), fsync etc. $mode: load average $(loadavg)"
	for side in carbonmkt floor; do
		run_pgbench "$side" "$nacc" "$WARMUP"
		printf '   warm-up   %-9s %8.1f tps (not counted)\n' "$side" "$tps"
	done
	for side in carbonmkt floor; do TPS[$k-$side]=; WAL[$k-$side]=; BPT[$k-$side]=; FAILED[$k-$side]=0; done
	for r in $(seq 1 "$ROUNDS"); do
		if [ $((r % 2)) -eq 1 ]; then order="carbonmkt floor"; else order="floor carbonmkt"; fi
		for side in $order; do
			run_pgbench "$side" "$nacc" "$SECONDS_PER_RUN"
			TPS[$k-$side]+="$tps "
			WAL[$k-$side]+="$wal "
			BPT[$k-$side]+="$(awk -v g="$grown" -v d="$done" 'BEGIN { printf "%.0f", g / d }') "
			FAILED[$k-$side]=$(( ${FAILED[$k-$side]} + failed ))
			printf '   round %d   %-9s %8.1f tps, %7d transfers, %d failed, %d WAL bytes/transfer, %+d bytes\n' \
				"$r" "$side" "$tps" "$done" "$failed" "$wal" "$grown"
		done
	done
	echo "   load average after: $(loadavg)"
}

for mode in on off; do
	durability "$mode"
	measure "$mode" uniform "$ACCOUNTS"
	measure "$mode" hot "$HOT"
done
durability on

# Results must agree with what was done: total conserved on both sides.
sum_c=$(q "SELECT sum(balance) FROM carbonmkt.holding h JOIN carbonmkt.account a USING (account_id) WHERE a.kind = 'holding'")
sum_f=$(q "SELECT sum(balance) FROM bench_balance")
want=$((ACCOUNTS * PER_ACCOUNT))
[ "$sum_c" -eq "$want" ] && [ "$sum_f" -eq "$want" ] ||
	{ echo "registry_transfer: balances do not add up: carbonmkt $sum_c, floor $sum_f, expected $want" >&2; exit 1; }

echo
echo "-- medians of $ROUNDS rounds (min-max); pgbench -n -M prepared -c $CLIENTS -j $THREADS -T $SECONDS_PER_RUN"
printf '| %-5s | %-9s | %-28s | %-28s | %-22s | %-17s | %-17s | %-7s |\n' fsync scenario "carbonmkt TPS" "floor TPS (1 round trip)" \
	"ratio c/f" "WAL B/xfer c / f" "bytes/xfer c / f" failed
echo '|-------|-----------|------------------------------|------------------------------|------------------------|-------------------|-------------------|---------|'
misses=0
lines=()
for mode in on off; do
	if [ "$mode" = on ]; then target=0.80; else target=0.60; fi
	for scen in uniform hot; do
		k=$mode-$scen
		read -r cm cmin cmax <<<"$(stats ${TPS[$k-carbonmkt]})"
		read -r fm fmin fmax <<<"$(stats ${TPS[$k-floor]})"
		read -r cw _ _ <<<"$(stats ${WAL[$k-carbonmkt]})"
		read -r fw _ _ <<<"$(stats ${WAL[$k-floor]})"
		read -r cb _ _ <<<"$(stats ${BPT[$k-carbonmkt]})"
		read -r fb _ _ <<<"$(stats ${BPT[$k-floor]})"
		r=$(ratio "$cm" "$fm")
		v=$(verdict "$r" '>=' "$target")
		[ "$v" = ok ] || misses=$((misses + 1))
		printf '| %-5s | %-9s | %-28s | %-28s | %-22s | %-17s | %-17s | %-7s |\n' "$mode" "$scen" \
			"$(printf '%.0f (%.0f-%.0f)' "$cm" "$cmin" "$cmax")" "$(printf '%.0f (%.0f-%.0f)' "$fm" "$fmin" "$fmax")" \
			"$r (>= $target) $v" "$cw / $fw" "$cb / $fb" "${FAILED[$k-carbonmkt]}/${FAILED[$k-floor]}"
		lines+=("ratio carbonmkt/floor fsync=$mode $scen $r (target >= $target) $v")
		wr=$(ratio "$cw" "$fw")
		wv=$(verdict "$wr" '<=' 2.5)
		[ "$wv" = ok ] || misses=$((misses + 1))
		lines+=("ratio WAL bytes per transfer carbonmkt/floor fsync=$mode $scen $wr (target <= 2.50) $wv")
		br=$(ratio "$cb" "$fb")
		bv=$(verdict "$br" '<=' 4)
		[ "$bv" = ok ] || misses=$((misses + 1))
		lines+=("ratio bytes stored per transfer carbonmkt/floor fsync=$mode $scen $br (target <= 4.00) $bv")
	done
done
echo
printf '%s\n' "${lines[@]}"

echo
echo "-- storage growth per transfer, both scenarios together (table incl. TOAST and free space; indexes)"
psql -X -v ON_ERROR_STOP=1 <<'SQL'
WITH n AS (SELECT count(*) AS f FROM bench_journal),
     c AS (SELECT count(*) AS c FROM carbonmkt.posting WHERE operation = 'transfer_cea' AND reference IS NULL)
SELECT s.relation,
       round((pg_table_size(s.relation::regclass) - s.table_bytes)::numeric
             / CASE WHEN s.relation LIKE 'bench%' THEN n.f ELSE c.c END, 1) AS table_bytes_per_transfer,
       round((pg_indexes_size(s.relation::regclass) - s.index_bytes)::numeric
             / CASE WHEN s.relation LIKE 'bench%' THEN n.f ELSE c.c END, 1) AS index_bytes_per_transfer
  FROM bench_size0 s, n, c;
SQL
echo "-- verify_ledger() over $(q "SELECT count(*) FROM carbonmkt.journal") journal entries"
t0=$(date +%s%N)
problems=$(q "SELECT count(*) FROM carbonmkt.verify_ledger()")
echo "   $problems problems ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
if [ "$problems" -ne 0 ]; then
	q "SELECT problem, count(*) FROM carbonmkt.verify_ledger() GROUP BY 1 ORDER BY 1" >&2
	echo "registry_transfer: verify_ledger() found $problems problems" >&2
	exit 1
fi

if [ "$MANY" -gt 0 ]; then
	# An allocation run posts many times to one account in one transaction: each posting
	# leaves a row version of the account and of its holding that cannot be pruned before
	# the end, and a lookup by key visits all of them.  Time the same transfers (1 t each
	# out of the allocation account, round the 1,000 units) in one transaction, and one
	# transaction each (a DO loop with COMMIT), in the server.
	echo
	echo "-- $MANY transfers out of one account: in one transaction, and one transaction each"
	psql -X -q -v ON_ERROR_STOP=1 <<SQL
DO \$\$ BEGIN
    PERFORM carbonmkt.issue_cea((SELECT account_id FROM carbonmkt.account WHERE kind = 'allocation'), 2024, 2 * $MANY);
END \$\$;
CREATE TEMP TABLE many_timing (mode text, us_per_transfer numeric);
CREATE PROCEDURE pg_temp.many(n int, one_transaction boolean) LANGUAGE plpgsql AS \$\$
DECLARE
    alloc bigint := (SELECT account_id FROM carbonmkt.account WHERE kind = 'allocation');
    t0    timestamptz := clock_timestamp();
BEGIN
    FOR i IN 1..n LOOP
        PERFORM carbonmkt.transfer_cea(alloc, $lo + (i % $ACCOUNTS), 2024, 1);
        IF NOT one_transaction THEN
            COMMIT;
        END IF;
    END LOOP;
    INSERT INTO many_timing VALUES (CASE WHEN one_transaction THEN 'one transaction' ELSE 'one transaction each' END,
        round(extract(epoch FROM clock_timestamp() - t0) * 1000000 / n, 1));
    COMMIT;
END
\$\$;
CALL pg_temp.many($MANY, false);
CALL pg_temp.many($MANY, true);
SELECT mode, us_per_transfer FROM many_timing;
SQL
	verify=$(q "SELECT count(*) FROM carbonmkt.verify_ledger()")
	[ "$verify" -eq 0 ] || { echo "registry_transfer: verify_ledger() found $verify problems after the allocation run" >&2; exit 1; }
fi
echo "registry_transfer: $misses of 12 ratio targets missed (a miss is reported, not a failure); load average $(loadavg)"
