#!/usr/bin/env bash
# test/ops/crash.sh: a crash mid-load loses no acknowledged posting and applies no posting
# twice (doc/operations.md, "Crash safety").  A cluster with fsync = on and synchronous
# commit; four clients post transfers with client references, one per transaction, each
# logging a reference before sending it and again when its commit is acknowledged; the
# postmaster is killed with SIGKILL mid-load; after the restart (crash recovery) every
# acknowledged posting is there, every in-doubt one (sent, never acknowledged) resolves
# exactly once when the client replays its reference, and verify_ledger() is empty.
source "$(dirname "$0")/lib/common.sh"
cd "$repo"

cluster_start crash "fsync = on" "synchronous_commit = on" "full_page_writes = on"
on crash createdb registry
on crash psql -X -q -v ON_ERROR_STOP=1 -d registry -c "CREATE EXTENSION carbonmkt" -f test/ops/lib/small-registry.sql >/dev/null
ok "$([ "$(on crash qa -d registry -c 'SHOW fsync')" = on ] && echo 0 || echo 1)" "the cluster runs with fsync = on"

client() {	# client N: transfers from account 2+N to account 6+N until the server goes away
	local c=$1 i=0 ref
	while :; do
		i=$((i + 1))
		ref="ops-crash-$c-$i"
		echo "$ref $((i % 50 + 1))" >>"$work/sent.$c"
		if on crash psql -X -q -At -d registry \
			-c "SELECT carbonmkt.transfer_cea($((2 + c)), $((6 + c)), 2024, $((i % 50 + 1)), '$ref')" >/dev/null 2>&1; then
			echo "$ref" >>"$work/acked.$c"
		else
			return 0
		fi
	done
}
pids=()
for c in 1 2 3 4; do
	client "$c" &
	pids+=($!)
done
# mid-load: once at least 20 postings are acknowledged (at most 30 s)
for _ in $(seq 1 150); do
	[ "$(cat "$work"/acked.* 2>/dev/null | wc -l)" -ge 20 ] && break
	sleep 0.2
done
postmaster=$(head -1 "$work/crash/data/postmaster.pid")
kill -KILL "$postmaster"
wait "${pids[@]}"
acked=$(cat "$work"/acked.* 2>/dev/null | wc -l)
sent=$(cat "$work"/sent.* | wc -l)
ok "$([ "$acked" -ge 5 ] && echo 0 || echo 1)" "postmaster killed with SIGKILL mid-load: $acked postings acknowledged, $((sent - acked)) in doubt"

# restart: crash recovery (the orphaned backends leave as they notice the postmaster gone)
for _ in $(seq 1 60); do
	"${as_pg[@]}" "$bindir/pg_ctl" -D "$work/crash/data" -l "$work/crash/server.log" -w -t 60 start >/dev/null 2>&1 && break
	sleep 0.5
done
ok "$(st on crash qa -d registry -c "SELECT 1")" "restarted"
ok "$(st grep -q "was not properly shut down; automatic recovery in progress" "$work/crash/server.log")" "the server ran crash recovery"

cat "$work"/acked.* | sort >"$work/acked"
on crash qa -d registry -c "SELECT reference FROM carbonmkt.posting WHERE reference LIKE 'ops-crash-%' ORDER BY 1" | sort >"$work/present"
missing=$(comm -23 "$work/acked" "$work/present" | wc -l)
ok "$([ "$missing" -eq 0 ] && echo 0 || echo 1)" "every acknowledged posting is present after the restart ($acked acknowledged, $missing missing)"

# the in-doubt ones: replayed with their reference, each resolves exactly once
cat "$work"/sent.* | sort >"$work/sent"
join -v1 "$work/sent" "$work/acked" >"$work/indoubt" || true
indoubt=$(wc -l <"$work/indoubt")
present_before=$(on crash qa -d registry -c "SELECT count(*) FROM carbonmkt.posting WHERE reference = ANY (string_to_array('$(awk '{print $1}' "$work/indoubt" | paste -sd,)', ','))")
replayed=0
while read -r ref amount; do
	c=$(cut -d- -f3 <<<"$ref")
	on crash qa -d registry -c "SELECT carbonmkt.transfer_cea($((2 + c)), $((6 + c)), 2024, $amount, '$ref')" >/dev/null &&
		replayed=$((replayed + 1))
	# and once more: the same posting, nothing new
	on crash qa -d registry -c "SELECT carbonmkt.transfer_cea($((2 + c)), $((6 + c)), 2024, $amount, '$ref')" >/dev/null
done <"$work/indoubt"
ok "$([ "$replayed" -eq "$indoubt" ] && echo 0 || echo 1)" "$indoubt in-doubt postings ($present_before of them committed before the crash) replayed by reference: $replayed accepted"
dups=$(on crash qa -d registry -c "SELECT count(*) FROM (SELECT reference FROM carbonmkt.posting WHERE reference LIKE 'ops-crash-%' GROUP BY 1 HAVING count(*) > 1) d")
total=$(on crash qa -d registry -c "SELECT count(*) FROM carbonmkt.posting WHERE reference LIKE 'ops-crash-%'")
ok "$([ "$dups" -eq 0 ] && [ "$total" -eq "$sent" ] && echo 0 || echo 1)" \
	"every sent posting is there exactly once ($total postings for $sent references)"
# the tonnes moved are exactly those of the postings present (no posting half applied)
moved=$(on crash qa -d registry -c "SELECT coalesce(sum(amount), 0) FROM carbonmkt.journal j JOIN carbonmkt.posting p USING (posting_id) WHERE p.reference LIKE 'ops-crash-%' AND j.kind = 'credit'")
expected_moved=$(awk '{s += $2} END {print s + 0}' "$work/sent")
ok "$([ "$moved" -eq "$expected_moved" ] && echo 0 || echo 1)" "the tonnes credited are those of the postings sent, once each ($moved t)"
problems=$(on crash qa -d registry -c "SELECT count(*) FROM carbonmkt.verify_ledger()")
ok "$([ "$problems" -eq 0 ] && echo 0 || echo 1)" "verify_ledger() is empty after the crash"

cluster_stop crash
echo "# $failures failed"
[ "$failures" -eq 0 ]
