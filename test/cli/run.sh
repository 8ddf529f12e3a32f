#!/usr/bin/env bash
# test/cli/run.sh: tests of carbonmkt-load (src/cli/) against a stub of the market API.
#
#   test/cluster.sh test/cli/run.sh
#
# Builds the tool (make -C src/cli), creates the scratch database carbonmkt_cli_test with
# test/cli/stub.sql (the contract's functions in plpgsql, recording every call that
# commits; the extension is not needed, so no install lock), and runs the tool in
# submit, queue and pipeline modes with fixed seeds.  The expected orders come from the
# tool's own --dry-run output: an order of the stream depends only on (seed, index), so
# the statements the dry run prints are exactly the orders a real run must have sent,
# and the stub's rules say which of them it accepts.  Checks: what the stub recorded
# equals what the tool reports as accepted, order for order; rejections are counted per
# SQLSTATE; the stream is the same whatever the connections and pipelining; resends
# after lost connections are idempotent; exit statuses; valgrind (when installed).
# Prints "ok N - ..." / "not ok N - ..." and exits non-zero if any check failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${PGHOST:?run me through test/cluster.sh}"

make -s -C src/cli >/dev/null || { echo "not ok - src/cli does not build"; exit 1; }
LOAD=src/cli/carbonmkt-load
DB=carbonmkt_cli_test
export PGDATABASE=$DB
tmp=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-cli.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
# check DESCRIPTION EXPECTED ACTUAL
check() { if [ "$2" = "$3" ]; then pass "$1 ($3)"; else fail "$1: expected $2, got $3"; fi; }
# check_true DESCRIPTION SHELL-CONDITION...
check_true() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d ($*)"; fi; }
sql() { psql -X -At -q -v ON_ERROR_STOP=1 -c "$1"; }
# kv KEY NAME: a value of the summary line of run NAME
kv() { sed -n 's/^carbonmkt-load summary .* '"$1"'=\([^ ]*\).*$/\1/p; s/^-- carbonmkt-load summary .* '"$1"'=\([^ ]*\).*$/\1/p' "$tmp/$2.out"; }
# load NAME ARGS...: run the tool, keep stdout, stderr and the exit status
load() { local name=$1; shift; "$LOAD" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; echo $? >"$tmp/$name.rc"; }
rc() { cat "$tmp/$1.rc"; }
show() { sed 's/^/#   /' "$tmp/$1.out" "$tmp/$1.err" | grep -v '^#   SELECT' | head -40; }
# expected NAME TABLE ARGS...: the dry run's orders as table TABLE
expected() {
	local name=$1 table=$2; shift 2
	"$LOAD" --dry-run "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	sed -nE "s/^SELECT carbonmkt\.[a-z_]+\('([^']*)', '([a-z]+)', ([0-9]+), ([0-9.]+), NULL, '([^']*)', ([0-9]+)\);$/\1,\2,\3,\4,\5,\6/p" \
		"$tmp/$name.out" >"$tmp/$name.csv"
	sql "SET client_min_messages = warning; DROP TABLE IF EXISTS $table; CREATE TABLE $table (product text, side text, quantity bigint,
	     price numeric, reference text, participant_id bigint)"
	psql -X -q -v ON_ERROR_STOP=1 -c "\\copy $table FROM '$tmp/$name.csv' WITH (FORMAT csv)"
}
# same_set DESCRIPTION QUERY-A QUERY-B: the two queries answer the same rows
same_set() {
	local d
	d=$(sql "SELECT (SELECT count(*) FROM (($2) EXCEPT ALL ($3)) x) || '/' || (SELECT count(*) FROM (($3) EXCEPT ALL ($2)) y)")
	check "$1: rows missing/extra" "0/0" "$d"
}

psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" \
	-c "CREATE DATABASE $DB" || exit 2
psql -X -q -v ON_ERROR_STOP=1 -f test/cli/stub.sql || exit 2
SEED=42
# the stub accepts even-fen prices of listed size
ACCEPTABLE="(price * 100)::bigint % 2 = 0 AND price = round(price, 2) AND quantity < 100000"

echo "# dry run: deterministic, realistic, no database"
PGHOST=/nonexistent load dry1 --dry-run -n 5000 -s $SEED -P 1-40 --price-center 60 -r
PGHOST=/nonexistent load dry2 --dry-run -n 5000 -s $SEED -P 1-40 --price-center 60 -r
load dry3 --dry-run -n 5000 -s 43 -P 1-40 --price-center 60 -r
check "dry run exits 0 without a server" 0 "$(rc dry1)"
check_true "same seed, same statements" cmp -s "$tmp/dry1.out" "$tmp/dry2.out"
check_true "another seed, other statements" bash -c "! cmp -s '$tmp/dry1.out' '$tmp/dry3.out'"
check "one statement per order" 5000 "$(grep -c '^SELECT carbonmkt.submit_order(' "$tmp/dry1.out")"
awk -F"[(,]" '/^SELECT/ {
	q = $4 + 0; p = $5; sub(/^ /, "", p); cents = p * 100
	if (p !~ /^[0-9]+\.[0-9][0-9]$/ || p + 0 < 58.80 || p + 0 > 61.20) bad_price++
	if (q < 1 || q > 99999 || q != int(q)) bad_qty++
	if (q >= 100 && q <= 5000) typical++
	if ($3 ~ /buy/) buy++
	pid = $8 + 0; if (pid < 1 || pid > 40) bad_pid++
} END { printf "%d %d %d %d %d\n", bad_price, bad_qty, typical, buy, bad_pid }' "$tmp/dry1.out" >"$tmp/dry1.stats"
read -r bad_price bad_qty typical buys bad_pid <"$tmp/dry1.stats"
check "prices on the 0.01 grid within +-2% of 60.00" 0 "$bad_price"
check "lots whole tonnes, 1 to 99,999 t" 0 "$bad_qty"
check_true "most lots 100-5,000 t ($typical of 5000)" test "$typical" -ge 3500
check_true "buys and sells both common ($buys buys of 5000)" test "$buys" -ge 2000 -a "$buys" -le 3000
check "participants from --participants 1-40" 0 "$bad_pid"
load dry_bad --dry-run -n 1000 -s $SEED -P 1-40 --price-center 60 --invalid-share 1
awk -F"[(,]" '/^SELECT/ { q = $4 + 0; p = $5 + 0; s = $5; sub(/^ /, "", s)
	if (s ~ /\.[0-9][0-9][0-9]$/) off++; else if (q >= 100000) big++; else if (p < 54 || p > 66) band++; else other++
} END { printf "%d %d %d %d\n", off, big, band, other }' "$tmp/dry_bad.out" >"$tmp/dry_bad.stats"
read -r off big band other <"$tmp/dry_bad.stats"
check_true "--invalid-share 1: off-tick, block-sized and out-of-band orders ($off/$big/$band)" \
	test "$off" -gt 200 -a "$big" -gt 200 -a "$band" -gt 200
check "--invalid-share 1: no valid order" 0 "$other"
load dry_some --dry-run -n 5000 -s $SEED -P 1-40 --price-center 60 -r --invalid-share 0.1
changed=$(diff <(grep '^SELECT' "$tmp/dry1.out") <(grep '^SELECT' "$tmp/dry_some.out") | grep -c '^>')
check "--invalid-share changes only the invalid orders, the rest of the stream stays" \
	"$(kv invalid dry_some)" "$changed"
load dry_lots --dry-run -n 5000 -s $SEED -P 1-40 --price-center 60 -r --lot-range 1-100
awk -F"[(,]" '/^SELECT/ { q = $4 + 0; if (q < 1 || q > 100) bad++; if (q <= 10) low++; if (q > 90) high++ }
	END { printf "%d %d %d\n", bad, low, high }' "$tmp/dry_lots.out" >"$tmp/dry_lots.stats"
read -r bad_lots low_lots high_lots <"$tmp/dry_lots.stats"
check "--lot-range 1-100: every lot within 1..100 t" 0 "$bad_lots"
check_true "--lot-range 1-100: uniform, both ends drawn ($low_lots <= 10 t, $high_lots > 90 t of 5000)" \
	test "$low_lots" -ge 350 -a "$low_lots" -le 650 -a "$high_lots" -ge 350 -a "$high_lots" -le 650
check "--lot-range changes only the lots, the rest of the stream stays" "" \
	"$(diff <(grep '^SELECT' "$tmp/dry1.out" | sed -E 's/^([^,]*,[^,]*,) [0-9]+,/\1/') \
		<(grep '^SELECT' "$tmp/dry_lots.out" | sed -E 's/^([^,]*,[^,]*,) [0-9]+,/\1/'))"
load dry_lots_bad --dry-run -n 5 --lot-range 100-1
check "--lot-range 100-1: bad usage, 2" 2 "$(rc dry_lots_bad)"

echo "# submit mode: 4 connections, one order per transaction"
expected exp_a_dry exp_a -n 3000 -s $SEED -P 1-40 --price-center 60 -r --reference-prefix A
load A -n 3000 -c 4 -s $SEED -r --reference-prefix A
check "exit status 0 (CM rejections are answers)" 0 "$(rc A)"
check "centre: the previous close from the stub" 1 "$(grep -c 'CEA2024    centre 60.00 CNY/t (previous close)' "$tmp/A.out")"
check "participants: the 40 key emitters with open holding and cash accounts" 1 \
	"$(grep -c 'participants: 40 (key emitters' "$tmp/A.out")"
check "sent = orders" 3000 "$(kv sent A)"
check "accepted = calls recorded" "$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'A-%'")" "$(kv accepted A)"
check "rejected = odd-fen prices of the stream" "$(sql "SELECT count(*) FROM exp_a WHERE NOT ($ACCEPTABLE)")" "$(kv rejected A)"
check "rejections counted under CM301" "$(kv rejected A)" "$(kv sqlstate_CM301 A)"
check "no other outcome" "0 0" "$(kv errors A) $(kv unknown A)"
same_set "recorded orders = the dry run's acceptable orders" \
	"SELECT product, side, quantity, price, reference, participant_id FROM carbonmkt.stub_call WHERE reference LIKE 'A-%'" \
	"SELECT * FROM exp_a WHERE $ACCEPTABLE"
check "fills = trades of the run (delta of the fills query)" \
	"$(sql "SELECT count(*) || ' ' || sum(t.quantity) FROM carbonmkt.trade t JOIN carbonmkt.stub_call c USING (order_id) WHERE c.reference LIKE 'A-%'")" \
	"$(kv fills A) $(kv fill_tonnes A)"
[ "$failed" -eq 0 ] || show A

# the same stream, compared without the references' prefix
STREAM="SELECT product, side, quantity, price, participant_id, split_part(reference, '-', 3) FROM carbonmkt.stub_call"

echo "# pipeline mode: 3 connections, 16 orders in flight each"
load B -n 3000 -c 3 -s $SEED -r --reference-prefix B --pipeline=16
check "exit status" 0 "$(rc B)"
check "accepted = calls recorded" "$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'B-%'")" "$(kv accepted B)"
check "same outcome counts as without pipeline" "$(kv accepted A) $(kv rejected A)" "$(kv accepted B) $(kv rejected B)"
same_set "same orders as without pipeline" "$STREAM WHERE reference LIKE 'A-%'" "$STREAM WHERE reference LIKE 'B-%'"

echo "# pipeline, 8 orders per sync: an error rolls back its group, the rest are resent"
load C -n 3000 -c 3 -s $SEED -r --reference-prefix C --pipeline=16 --sync-every=8
check "exit status" 0 "$(rc C)"
check "accepted = calls recorded" "$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'C-%'")" "$(kv accepted C)"
check "same outcome counts" "$(kv accepted A) $(kv rejected A)" "$(kv accepted C) $(kv rejected C)"
check_true "orders rolled back with a failing group were resent ($(kv resent C))" test "$(kv resent C)" -gt 0
same_set "same orders" "$STREAM WHERE reference LIKE 'A-%'" "$STREAM WHERE reference LIKE 'C-%'"

echo "# no references, one connection: the same orders again"
load A1 -n 3000 -c 1 -s $SEED
check "exit status" 0 "$(rc A1)"
check "accepted = calls recorded" "$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference IS NULL")" "$(kv accepted A1)"
same_set "same orders (without references)" \
	"SELECT product, side, quantity, price, participant_id FROM carbonmkt.stub_call WHERE reference LIKE 'A-%'" \
	"SELECT product, side, quantity, price, participant_id FROM carbonmkt.stub_call WHERE reference IS NULL"

echo "# queue mode, two products, then CALL process_queue per product in parallel"
load D -n 3000 -c 2 -s $SEED -r --reference-prefix D -p CEA2024,CEA2023 --price-fallback 50 \
	--mode queue --process-queue --pipeline
check "exit status" 0 "$(rc D)"
check "CEA2023 has no previous close: the fallback" 1 "$(grep -c 'CEA2023    centre 50.00 CNY/t (fallback: no previous close)' "$tmp/D.out")"
check "accepted = queue_order calls recorded" \
	"$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE fn = 'queue' AND reference LIKE 'D-%'")" "$(kv accepted D)"
check "one CALL per product" "CEA2023 CEA2024" "$(sql "SELECT string_agg(product, ' ' ORDER BY product) FROM carbonmkt.stub_process")"
check "the CALLs processed every queued order" "$(kv accepted D) 0" \
	"$(sql "SELECT sum(orders) FROM carbonmkt.stub_process") $(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'D-%' AND NOT processed")"
check "process_calls and process_failed" "2 0" "$(kv process_calls D) $(kv process_failed D)"
check "fills counted after processing" \
	"$(sql "SELECT count(*) FROM carbonmkt.trade t JOIN carbonmkt.stub_call c USING (order_id) WHERE c.reference LIKE 'D-%'")" "$(kv fills D)"
check "prices within +-2% of each product's centre" 0 \
	"$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'D-%' AND NOT
	        CASE product WHEN 'CEA2024' THEN price BETWEEN 58.80 AND 61.20 ELSE price BETWEEN 49.00 AND 51.00 END")"
check "both products traded" 2 "$(sql "SELECT count(DISTINCT product) FROM carbonmkt.stub_call WHERE reference LIKE 'D-%'")"
load D2 -n 200 -c 2 -s 7 -r --reference-prefix D2 --mode queue --process-queue=all
check "--process-queue=all: one CALL without a product" "0 1" \
	"$(rc D2) $(sql "SELECT count(*) FROM carbonmkt.stub_process WHERE product IS NULL")"

echo "# the same run again with the same references: idempotent, nothing new"
before=$(sql "SELECT count(*) FROM carbonmkt.stub_call")
load A_again -n 3000 -c 4 -s $SEED -r --reference-prefix A
check "exit status" 0 "$(rc A_again)"
check "same answers" "$(kv accepted A) $(kv rejected A)" "$(kv accepted A_again) $(kv rejected A_again)"
check "no new call recorded" "$before" "$(sql "SELECT count(*) FROM carbonmkt.stub_call")"
check "every accepted order was a replay of its reference" "$(kv accepted A)" \
	"$(sql "SELECT count(*) FROM carbonmkt.stub_replay WHERE reference LIKE 'A-%'")"

echo "# deadlocks (40P01) are retried; with --retries 0 they are errors (exit status 1)"
sql "UPDATE carbonmkt.stub_setting SET deadlocks = true"
expected exp_e_dry exp_e -n 600 -s 5 -P 1-40 --price-center 60 -r --reference-prefix E
qualifying=$(sql "SELECT count(*) FROM exp_e WHERE $ACCEPTABLE AND quantity % 10 = 3")
load E -n 600 -c 1 -s 5 -r --reference-prefix E
check "exit status" 0 "$(rc E)"
check "two deadlocks, two retries for each of the $qualifying affected orders" "$((2 * qualifying))" "$(kv retried E)"
check "accepted = calls recorded" "$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'E-%'")" "$(kv accepted E)"
same_set "every acceptable order recorded once" \
	"SELECT product, side, quantity, price, reference, participant_id FROM carbonmkt.stub_call WHERE reference LIKE 'E-%'" \
	"SELECT * FROM exp_e WHERE $ACCEPTABLE"
# in groups an order also runs again when another order's error rolls its group back, and
# each run draws the stub's deadlock sequence: so no fixed count, and generous --retries
load E2 -n 600 -c 2 -s 5 -r --reference-prefix E2 --pipeline=8 --sync-every=4 --retries 100
check "pipelined groups: exit status, no error" "0 0" "$(rc E2) $(kv errors E2)"
check "pipelined groups: accepted = calls recorded" \
	"$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'E2-%'")" "$(kv accepted E2)"
check_true "pipelined groups: retried" test "$(kv retried E2)" -ge "$qualifying"
load E3 -n 600 -c 1 -s 5 -r --reference-prefix E3 --retries 0
check "--retries 0: exit status 1" 1 "$(rc E3)"
check_true "--retries 0: the deadlocks are errors ($(kv errors E3))" test "$(kv errors E3)" -gt 0
check "--retries 0: counted under 40P01" "$(kv errors E3)" "$(kv sqlstate_40P01 E3)"
check "--retries 0: accepted = calls recorded" \
	"$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'E3-%'")" "$(kv accepted E3)"
sql "UPDATE carbonmkt.stub_setting SET deadlocks = false"

echo "# cancels and takers"
expected exp_f_dry exp_f -n 2000 -s 11 -P 1-40 --price-center 60 -r --reference-prefix F --cancel-share 0.3
flagged=$(awk '/^SELECT/ { split($0, f, ", "); ok = (sprintf("%.0f", f[4] * 100) % 2 == 0) }
	/if accepted, cancelled/ && ok { n++ } END { print n + 0 }' "$tmp/exp_f_dry.out")
load F -n 2000 -c 2 -s 11 -r --reference-prefix F --cancel-share 0.3 --pipeline=8
check "exit status" 0 "$(rc F)"
check "a cancel for each accepted order flagged for one" "$flagged" "$(kv cancels_sent F)"
check "cancels accepted = orders cancelled in the stub" \
	"$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'F-%' AND cancelled AND cancel_reference = reference || '-cancel'")" \
	"$(kv cancels_accepted F)"
check "every cancel accepted" "$(kv cancels_sent F)" "$(kv cancels_accepted F)"
load G -n 3000 -c 2 -s 12 -r --reference-prefix G --take-share 0.3
check "exit status" 0 "$(rc G)"
check_true "takers named listings ($(kv takes G))" test "$(kv takes G)" -gt 300
check "every take recorded with its listing" "$(kv takes G)" \
	"$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'G-%' AND take_order_id IS NOT NULL")"
check "takes name a listing of the same product, other side, other participant, at its price" 0 \
	"$(sql "SELECT count(*) FROM carbonmkt.stub_call t LEFT JOIN carbonmkt.stub_call l ON l.order_id = t.take_order_id
	         WHERE t.reference LIKE 'G-%' AND t.take_order_id IS NOT NULL
	           AND (l.order_id IS NULL OR l.reference NOT LIKE 'G-%' OR l.product <> t.product
	                OR l.side = t.side OR l.participant_id = t.participant_id OR l.price <> t.price
	                OR t.quantity > l.quantity)")"
check "a listing is taken at most once" 0 \
	"$(sql "SELECT count(*) FROM (SELECT take_order_id FROM carbonmkt.stub_call WHERE reference LIKE 'G-%'
	         AND take_order_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1) x")"

echo "# an error outside class CM: counted, not fatal, exit status 1"
load H -n 1000 -c 2 -s $SEED -r --reference-prefix H -p CEA2024,BOOM --pipeline
check "exit status 1" 1 "$(rc H)"
check_true "errors counted ($(kv errors H))" test "$(kv errors H)" -gt 0
check "counted under 22012" "$(kv errors H)" "$(kv sqlstate_22012 H)"
check "the other product still traded: accepted = calls recorded" \
	"$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'H-%'")" "$(kv accepted H)"
check "every order answered" "$(kv sent H)" "$(( $(kv accepted H) + $(kv rejected H) + $(kv errors H) ))"

echo "# other options"
load O1 -T 0.5 -c 2 -s 21 -r --reference-prefix O1
check_true "--duration: stops by itself, exit status 0 ($(kv generated O1) orders)" \
	test "$(rc O1)" = 0 -a "$(kv generated O1)" -gt 0
check "--duration: accepted = calls recorded" \
	"$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'O1-%'")" "$(kv accepted O1)"
load O2 -n 999 --orders-per-client 25 -c 3
check "--orders and --orders-per-client together: 2" 2 "$(rc O2)"
load O3 --orders-per-client 25 -c 3 -s 21 -r --reference-prefix O3 -P self
check "--orders-per-client 25 with 3 connections: 75 orders" 75 "$(kv sent O3)"
check "--participants self: participant_id NULL" "$(kv accepted O3) 0" \
	"$(sql "SELECT count(*) FILTER (WHERE participant_id IS NULL) || ' ' || count(*) FILTER (WHERE participant_id IS NOT NULL)
	        FROM carbonmkt.stub_call WHERE reference LIKE 'O3-%'")"
load O4 -n 40 -c 2 -s 21 -r --reference-prefix O4 -v --progress 0.001
check "--verbose: one line per order on stderr" 40 "$(grep -cE '^order [0-9]+: CEA2024 (buy|sell) [0-9]+ t at [0-9.]+ for participant [0-9]+: (accepted, order id [0-9]+|rejected CM301: .*)$' "$tmp/O4.err")"
check_true "--progress: progress lines on stderr" grep -q '^progress: ' "$tmp/O4.err"
# the demo picks its traders with its own query
load O5 -n 300 -c 2 -s 21 -r --reference-prefix O5 \
	--participants-sql "SELECT participant_id FROM carbonmkt.participant WHERE kind = 'key_emitter' ORDER BY 1 OFFSET 10 LIMIT 5"
check "--participants-sql: exit status, the report names it" "0 1" \
	"$(rc O5) $(grep -c 'participants: 5 (--participants-sql)$' "$tmp/O5.out")"
check "--participants-sql: every order for one of its 5 participants (11-15), all 5 used" "0 5" \
	"$(sql "SELECT count(*) FILTER (WHERE participant_id NOT BETWEEN 11 AND 15) || ' ' || count(DISTINCT participant_id)
	        FROM carbonmkt.stub_call WHERE reference LIKE 'O5-%'")"

echo "# exit statuses"
load U1 --clients 0
check "bad option value: 2" 2 "$(rc U1)"
load U2 --no-such-option
check "unknown option: 2" 2 "$(rc U2)"
load U3 --sync-every 4
check "--sync-every without --pipeline: 2" 2 "$(rc U3)"
load U4 -P 5-1
check "empty participant range: 2" 2 "$(rc U4)"
load X1 "host=$tmp port=1"
check "no server: 3" 3 "$(rc X1)"
load X2 -P 1-5 -n 10 dbname=postgres
check "no market API: 3" 3 "$(rc X2)"
check "... says which function is missing" 1 "$(grep -c 'could not prepare.*submit_order' "$tmp/X2.err")"
load X3 -n 10 dbname=postgres
check "no participants table: 3" 3 "$(rc X3)"
load U5 --set carbonmkt.clock
check "--set without a value: 2" 2 "$(rc U5)"
load X4 -n 10 --set statement_timeout=soon
check "--set with a bad value: 3" 3 "$(rc X4)"
check "... names the parameter" 1 "$(grep -c 'could not set statement_timeout' "$tmp/X4.err")"

echo "# lost connections: backends terminated during a pipelined run"
# kill_loop PID: terminate the tool's backends every 0.2 s while PID runs
kill_loop() {
	while kill -0 "$1" 2>/dev/null; do
		psql -X -At -q -d postgres -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		     WHERE application_name = 'carbonmkt-load' AND datname = '$DB'" >>"$tmp/kills" 2>/dev/null
		sleep 0.2
	done
}
expected exp_k_dry exp_k -n 40000 -s 9 -P 1-40 --price-center 60 -r --reference-prefix K
"$LOAD" -n 40000 -c 4 -s 9 -r --reference-prefix K --pipeline=32 --retries 20 --set carbonmkt.stub_tag=K9 \
	>"$tmp/K.out" 2>"$tmp/K.err" &
pid=$!
kill_loop $pid
wait $pid
echo $? >"$tmp/K.rc"
echo "#   $(awk '{ s += $1 } END { print s + 0 }' "$tmp/kills") backends terminated, $(kv reconnects K) reconnects, $(kv resent K) resends"
check "with references: exit status 0" 0 "$(rc K)"
check "with references: no unknown outcome, no error" "0 0" "$(kv unknown K) $(kv errors K)"
check "with references: accepted = calls recorded" \
	"$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'K-%'")" "$(kv accepted K)"
same_set "with references: every acceptable order recorded exactly once" \
	"SELECT product, side, quantity, price, reference, participant_id FROM carbonmkt.stub_call WHERE reference LIKE 'K-%'" \
	"SELECT * FROM exp_k WHERE $ACCEPTABLE"
check "--set on every connection, also after reconnecting" 0 \
	"$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'K-%' AND tag IS DISTINCT FROM 'K9'")"
[ "$(rc K)" = 0 ] || show K
: >"$tmp/kills"
sql "UPDATE carbonmkt.stub_call SET reference = 'A1-' || order_id WHERE reference IS NULL"
"$LOAD" -n 40000 -c 4 -s 9 --pipeline=32 >"$tmp/L.out" 2>"$tmp/L.err" &
pid=$!
kill_loop $pid
wait $pid
echo $? >"$tmp/L.rc"
recorded=$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference IS NULL")
echo "#   $(awk '{ s += $1 } END { print s + 0 }' "$tmp/kills") backends terminated, $(kv unknown L) outcomes unknown"
check "without references: every order accounted for" "$(kv sent L)" \
	"$(( $(kv accepted L) + $(kv rejected L) + $(kv errors L) + $(kv unknown L) ))"
check_true "without references: accepted <= recorded <= accepted + unknown ($recorded)" \
	test "$(kv accepted L)" -le "$recorded" -a "$recorded" -le "$(( $(kv accepted L) + $(kv unknown L) ))"
check "without references: exit status 1 exactly when outcomes are unknown" \
	"$([ "$(kv unknown L)" -gt 0 ] && echo 1 || echo 0)" "$(rc L)"

echo "# a connection lost during set-up: set-up starts again on a new one"
"$LOAD" -n 1000 -c 2 -s 9 -r --reference-prefix N \
	--price-sql 'SELECT carbonmkt.previous_close($1) FROM pg_sleep(2)' >"$tmp/N.out" 2>"$tmp/N.err" &
pid=$!
for _ in $(seq 200); do
	[ "$(sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	          WHERE application_name = 'carbonmkt-load' AND query LIKE '%pg_sleep%' AND state = 'active'")" = t ] && break
	sleep 0.05
done
wait $pid
echo $? >"$tmp/N.rc"
check "exit status" 0 "$(rc N)"
check "set-up started again" 1 "$(grep -c 'connection lost during set-up, starting again' "$tmp/N.err")"
check "the centre is still the previous close, not the fallback" 1 \
	"$(grep -c 'CEA2024    centre 60.00 CNY/t (previous close)' "$tmp/N.out")"
check "accepted = calls recorded" "$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'N-%'")" "$(kv accepted N)"

echo "# interrupted: stops taking orders, answers what is in flight, reports"
"$LOAD" -T 60 -c 2 -s 3 -r --reference-prefix M --pipeline=8 >"$tmp/M.out" 2>"$tmp/M.err" &
pid=$!
for _ in $(seq 100); do
	[ "$(sql "SELECT count(*) >= 500 FROM carbonmkt.stub_call WHERE reference LIKE 'M-%'")" = t ] && break
	sleep 0.1
done
kill -INT $pid
wait $pid
echo $? >"$tmp/M.rc"
check "exit status 0, interrupted=1" "0 1" "$(rc M) $(kv interrupted M)"
check "accepted = calls recorded" "$(sql "SELECT count(*) FROM carbonmkt.stub_call WHERE reference LIKE 'M-%'")" "$(kv accepted M)"

if command -v valgrind >/dev/null; then
	echo "# valgrind: no invalid access, no leak"
	VG=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all)
	"${VG[@]}" "$LOAD" --dry-run -n 300 -s 1 -P 1-40 -r --cancel-share 0.2 --take-share 0.2 \
		--invalid-share 0.1 --mode queue --process-queue >"$tmp/V1.out" 2>"$tmp/V1.err"
	check "valgrind: dry run" 0 "$?"
	"${VG[@]}" "$LOAD" -n 600 -c 3 -s 2 -r --reference-prefix V2 -p CEA2024,CEA2023,BOOM --pipeline=8 \
		--sync-every=3 --cancel-share 0.2 --take-share 0.2 --invalid-share 0.1 --set carbonmkt.stub_tag=V2 >"$tmp/V2.out" 2>"$tmp/V2.err"
	check "valgrind: pipelined run with errors, cancels and takes (exit 1 for BOOM)" 1 "$?"
	"${VG[@]}" "$LOAD" -n 400 -c 2 -s 2 -r --reference-prefix V3 --mode queue --process-queue \
		-p CEA2024,CEA2023 >"$tmp/V3.out" 2>"$tmp/V3.err"
	check "valgrind: queue run and process_queue" 0 "$?"
	"${VG[@]}" "$LOAD" -n 3000 -c 3 -s 4 -r --reference-prefix V4 --pipeline=16 --retries 20 \
		>"$tmp/V4.out" 2>"$tmp/V4.err" &
	pid=$!
	kill_loop $pid
	wait $pid
	check "valgrind: lost connections, reconnects ($(kv reconnects V4))" 0 "$?"
	"${VG[@]}" "$LOAD" "host=$tmp port=1" >"$tmp/V5.out" 2>"$tmp/V5.err"
	check "valgrind: no server" 3 "$?"
	for v in V1 V2 V3 V4 V5; do
		grep -q '==[0-9]*==' "$tmp/$v.err" && { echo "# $v:"; grep '==[0-9]*==' "$tmp/$v.err" | head -30 | sed 's/^/#   /'; }
	done
else
	echo "# valgrind not installed: memory checks skipped"
fi

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB"
echo "1..$n"
if [ "$failed" -ne 0 ]; then
	echo "cli: $failed of $n checks FAILED"
	exit 1
fi
echo "cli: all $n checks passed"
