#!/usr/bin/env bash
# test/ops/pitr.sh: point-in-time recovery, the registry's answer to "undo the last hour"
# (doc/operations.md, "Point-in-time recovery").  A base backup (pg_basebackup) and a WAL
# archive; a batch of good postings, a named restore point, then a mistaken batch; the
# backup restored with recovery_target_name holds exactly the postings before the point,
# verifies clean, and takes new postings after its promotion.
source "$(dirname "$0")/lib/common.sh"
cd "$repo"

mkdir -p "$work/archive"
[ ${#as_pg[@]} -eq 0 ] || chown postgres: "$work/archive"
cluster_start pitr "wal_level = replica" "archive_mode = on" "archive_command = 'cp %p $work/archive/%f'" \
	"max_wal_senders = 4"
on pitr createdb registry
on pitr psql -X -q -v ON_ERROR_STOP=1 -d registry -c "CREATE EXTENSION carbonmkt" -f test/ops/lib/small-registry.sql >/dev/null

# the base backup (as documented)
"${as_pg[@]}" "$bindir/pg_basebackup" -h "$pitr_HOST" -p "$pitr_PORT" -U postgres -D "$work/base" -X stream -c fast
ok 0 "base backup taken with pg_basebackup"

# the good batch, the restore point, the mistaken batch
on pitr qa -d registry -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT count(carbonmkt.transfer_cea(3 + i % 4, 7 + i % 4, 2024, 100 + i, 'ops-good-' || i)) FROM generate_series(1, 200) i;
SQL
on pitr qa -d registry -c "SELECT pg_create_restore_point('before_batch_42')" >/dev/null
on pitr qa -d registry -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT count(carbonmkt.transfer_cea(3 + i % 4, 7 + i % 4, 2024, 1000 + i, 'ops-mistake-' || i)) FROM generate_series(1, 150) i;
SELECT pg_switch_wal();
SQL
mistaken=$(on pitr qa -d registry -c "SELECT count(*) FROM carbonmkt.posting WHERE reference LIKE 'ops-mistake-%'")
ok "$([ "$mistaken" = 150 ] && echo 0 || echo 1)" "the mistaken batch of 150 postings is in the registry"
# wait until the last segment is archived
last=$(on pitr qa -d registry -c "SELECT pg_walfile_name(pg_current_wal_lsn() - 1)")
for _ in $(seq 1 100); do [ -f "$work/archive/$last" ] && break; sleep 0.2; done
cluster_stop pitr

# recovery: the base backup, the archive, the named restore point (as documented)
mkdir -p "$work/recovered"
[ ${#as_pg[@]} -eq 0 ] || chown postgres: "$work/recovered"
mv "$work/base" "$work/recovered/data"
cluster_conf recovered "restore_command = 'cp $work/archive/%f %p'" "recovery_target_name = 'before_batch_42'" \
	"recovery_target_action = 'promote'" "archive_mode = off"
"${as_pg[@]}" touch "$work/recovered/data/recovery.signal"
started_clusters+=(recovered)
cluster_start_existing recovered
for _ in $(seq 1 100); do
	[ "$(on recovered qa -d registry -c "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ] && break
	sleep 0.2
done
ok "$(st grep -q "recovery stopping at restore point \"before_batch_42\"" "$work/recovered/server.log")" \
	"recovery stopped at the restore point before_batch_42 and promoted"
good=$(on recovered qa -d registry -c "SELECT count(*) FROM carbonmkt.posting WHERE reference LIKE 'ops-good-%'")
bad=$(on recovered qa -d registry -c "SELECT count(*) FROM carbonmkt.posting WHERE reference LIKE 'ops-mistake-%'")
ok "$([ "$good" = 200 ] && [ "$bad" = 0 ] && echo 0 || echo 1)" \
	"the recovered registry holds exactly the postings before the point ($good of 200 good, $bad of 150 mistaken)"
ok "$([ "$(on recovered qa -d registry -c "SELECT count(*) FROM carbonmkt.verify_ledger()")" = 0 ] && echo 0 || echo 1)" \
	"the recovered registry verifies clean (verify_ledger() empty)"
# the registry goes on from there: the mistaken batch's references are free again
on recovered qa -d registry -c "SELECT carbonmkt.transfer_cea(3, 7, 2024, 5, 'ops-mistake-1') IS NOT NULL" >/dev/null
ok "$([ "$(on recovered qa -d registry -c "SELECT count(*) FROM carbonmkt.verify_ledger()")" = 0 ] && echo 0 || echo 1)" \
	"a posting after the recovery chains on and verifies"

cluster_stop recovered
echo "# $failures failed"
[ "$failures" -eq 0 ]
