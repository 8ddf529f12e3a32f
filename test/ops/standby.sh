#!/usr/bin/env bash
# test/ops/standby.sh: a BI replica (doc/operations.md, "A read-only replica for BI").
# A streaming hot standby made with pg_basebackup over the primary's Unix socket serves
# every view of the extension, statement(), balance_as_of(), heads_digest(),
# verify_ledger() and the monitoring queries read-only, with the same results as the
# primary; whatever would write (a posting, an order, a day seal) fails with PostgreSQL's
# read-only error (SQLSTATE 25006), and nothing crashes.
source "$(dirname "$0")/lib/common.sh"
cd "$repo"

# the data set, moved to the primary the documented way (doc/operations.md)
q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS ops_standby_src"
test/ops/lib/dataset.sh ops_standby_src
pg_dump -Fc -f "$work/src.dump" ops_standby_src 2>/dev/null   # (warns about market_order's circular foreign keys)
q -c "SET client_min_messages = warning" -c "DROP DATABASE ops_standby_src"

cluster_start primary "wal_level = replica" "max_wal_senders = 4" "hot_standby = on"
on primary createdb registry
on primary env PGOPTIONS='-c session_replication_role=replica' \
	pg_restore --exit-on-error --single-transaction -d registry "$work/src.dump"

# the replica: pg_basebackup over the Unix socket, -R writes primary_conninfo
mkdir -p "$work/standby"
[ ${#as_pg[@]} -eq 0 ] || chown postgres: "$work/standby"
"${as_pg[@]}" "$bindir/pg_basebackup" -h "$primary_HOST" -p "$primary_PORT" -U postgres \
	-D "$work/standby/data" -R -X stream -c fast
cluster_conf standby
started_clusters+=(standby)
cluster_start_existing standby
ok "$(on standby qa -d registry -c "SELECT NOT pg_is_in_recovery()" | sed 's/^f$/0/;t;s/.*/1/')" "standby made with pg_basebackup -R over the Unix socket is in recovery"

# a posting on the primary after the base backup reaches the standby
on primary qa -d registry -c "SELECT carbonmkt.issue_cea(1, 2025, 4321, 'ops-standby-after-backup') IS NOT NULL" >/dev/null
lsn=$(on primary qa -d registry -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 100); do
	[ "$(on standby qa -d registry -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] && break
	sleep 0.2
done
ok "$(on standby qa -d registry -c "SELECT count(*) FROM carbonmkt.posting WHERE reference = 'ops-standby-after-backup'" | sed 's/^1$/0/;t;s/.*/1/')" \
	"a posting made on the primary after the base backup is streamed to the standby"

# the same reads on both (no temporary objects: a standby cannot create them)
digest() {	# digest LABEL QUERY: one line, LABEL, row count and md5 of the sorted rows
	printf "SELECT %s || ' ' || count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-') FROM (%s) t;\n" \
		"$(printf "'%s'" "$1")" "$2"
}
{
	echo "SET carbonmkt.clock = '2026-01-05 12:00:00+08';   -- views that say how long something waits"
	# (bi_as_of says which side it reads and how current that is: checked below)
	for v in $(on primary qa -d registry -c "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'carbonmkt'::regnamespace AND c.relkind IN ('v', 'm') AND c.relname <> 'bi_as_of' ORDER BY 1"); do
		digest "$v" "SELECT * FROM carbonmkt.$v"
	done
	for a in $(on primary qa -d registry -c "SELECT account_id FROM carbonmkt.account WHERE account_id % 97 = 1 ORDER BY 1"); do
		digest "statement $a" "SELECT * FROM carbonmkt.statement($a, '2020-01-01', '2030-01-01')"
		digest "balance_as_of $a" "SELECT * FROM carbonmkt.balance_as_of($a, '2025-06-03 12:00:00+08')"
	done
	digest heads_digest "SELECT * FROM carbonmkt.heads_digest('2100-01-01')"
	digest verify_ledger "SELECT * FROM carbonmkt.verify_ledger()"
} >"$work/reads.sql"
reads() { qa -d registry -f "$work/reads.sql" "$@"; }
on primary reads >"$work/primary.reads" 2>"$work/primary.err" || { cat "$work/primary.err"; exit 1; }
on standby reads >"$work/standby.reads" 2>"$work/standby.err" || true
ok "$([ -s "$work/standby.err" ] && echo 1 || echo 0)" "every read runs on the standby without an error $(head -3 "$work/standby.err" | tr '\n' ' ')"
views=$(grep -c -v -e '^statement ' -e '^balance_as_of ' -e '^heads_digest ' -e '^verify_ledger ' "$work/primary.reads" || true)
if diff "$work/primary.reads" "$work/standby.reads" >"$work/reads.diff"; then
	ok 0 "the standby gives the primary's results: $views views, statement, balance_as_of, heads_digest, verify_ledger"
else
	ok 1 "the standby's results differ from the primary's (< primary, > standby):"
	head -20 "$work/reads.diff"
fi
ok "$(grep -q '^verify_ledger 0 -$' "$work/standby.reads" && echo 0 || echo 1)" "verify_ledger() is empty on the standby"
ok "$([ "$(on standby qa -d registry -c "SELECT replica AND as_of = pg_last_xact_replay_timestamp() FROM carbonmkt.bi_as_of")" = t ] &&
	[ "$(on primary qa -d registry -c "SELECT replica FROM carbonmkt.bi_as_of")" = f ] && echo 0 || echo 1)" \
	"bi_as_of says replica on the standby, with the last replayed commit as its as-of time"

# the monitoring queries of doc/operations.md run on the replica
ok "$(st on standby psql -X -q -v ON_ERROR_STOP=1 -d registry -f "$repo/test/ops/lib/monitoring.sql")" \
	"the monitoring queries of doc/operations.md run on the replica"

# writes fail with PostgreSQL's read-only error
write_fails() {	# write_fails LABEL SQL
	local out
	out=$(on standby psql -X -q -d registry -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
		-c "SET carbonmkt.clock = '2025-06-04 10:30:00+08'" -c "$2" 2>&1 || true)
	if grep -q -E 'ERROR: +25006' <<<"$out"; then
		ok 0 "$1 on the standby fails clearly: $(grep -m1 -o 'ERROR: .*' <<<"$out")"
	else
		ok 1 "$1 on the standby: expected SQLSTATE 25006, got: $(head -3 <<<"$out")"
	fi
}
write_fails "a transfer" "SELECT carbonmkt.transfer_cea(3, 4, 2024, 1, 'ops-standby-write')"
write_fails "an issuance" "SELECT carbonmkt.issue_cea(1, 2024, 1)"
write_fails "a day seal" "SELECT carbonmkt.seal_day('2025-06-03')"
write_fails "an order" "SELECT carbonmkt.submit_order('CEA2024', 'buy', 1000, 70.00, acting_for => (SELECT min(participant_id) FROM carbonmkt.participant WHERE kind = 'key_emitter'))"
write_fails "registering a participant" "SELECT carbonmkt.register_participant('x', 'individual', '91110000MA00000000')"
ok "$(on primary qa -d registry -c "SELECT count(*) FROM carbonmkt.verify_ledger()" | sed 's/^0$/0/;t;s/.*/1/')" "the primary still verifies"

cluster_stop standby
cluster_stop primary
echo "# $failures failed"
[ "$failures" -eq 0 ]
