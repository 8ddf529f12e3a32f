#!/usr/bin/env bash
# test/ops/dump-restore.sh: logical backup and restore of a populated registry with
# PostgreSQL's own tools, into a fresh database of a FRESH cluster (doc/operations.md,
# "Logical backup and restore"; the commands here are the ones documented there):
#   - pg_dumpall --roles-only first, then pg_dump -Fc + pg_restore, and pg_dump + psql;
#   - every registered table has the same rows, every sequence the same position, the
#     heads digest and every day seal are equal, verify_ledger() is empty, and the next
#     posting chains onto the restored heads (the same posting gives the same hash);
#   - logins keep their participant (participant_login) and row-level security;
#   - pg_dump --data-only into a database with the extension already created.
# Bad input: a restore without replica mode, into a database whose seeded rules changed or
# that already holds postings, fails clearly and leaves nothing; a dump taken while
# postings run is one snapshot.
source "$(dirname "$0")/lib/common.sh"
cd "$repo"

src=ops_dump_src
q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $src"
test/ops/lib/dataset.sh "$src"
# a seeded rule changed and one added (only these two of the seeded rows go into the dump),
# and a login mapped to a key emitting unit
q -d "$src" <<'SQL'
SET client_min_messages = warning;
UPDATE carbonmkt.sector SET name = 'Power generation (thermal)' WHERE code = 'power';
INSERT INTO carbonmkt.sector VALUES ('glass', 'Flat glass', '平板玻璃', NULL);
DROP ROLE IF EXISTS ops_unit_login;
CREATE ROLE ops_unit_login LOGIN IN ROLE carbonmkt_participant;
-- balance snapshots of a small span, so that the data set has some in every account with a
-- few entries (seal_day() writes them every 64): a restore must give them back as they are
SELECT carbonmkt._snapshot_balances(8);
SELECT carbonmkt.map_login('ops_unit_login',
       (SELECT min(participant_id) FROM carbonmkt.participant p
         WHERE kind = 'key_emitter' AND EXISTS (SELECT FROM carbonmkt.holding h JOIN carbonmkt.account a USING (account_id)
                                                 WHERE a.participant_id = p.participant_id AND h.instrument = 'CEA' AND h.balance > 1000)));
SQL
ledger_digest -d "$src" >"$work/src.digest"
ok "$(grep -c '^heads ' "$work/src.digest" | sed 's/^1$/0/')" "source digest taken ($(wc -l <"$work/src.digest") lines)"
ok "$(grep -q '^carbonmkt.balance_snapshot [1-9]' "$work/src.digest" && echo 0 || echo 1)" \
	"the source has balance snapshots ($(grep '^carbonmkt.balance_snapshot ' "$work/src.digest" | cut -d' ' -f2))"
rows=$(qa -d "$src" -c "SELECT sum(split_part(l, ' ', 2)::bigint) FROM unnest(string_to_array(\$\$$(grep -v -e '^heads' -e '^seal' -e '_seq ' "$work/src.digest")\$\$, E'\n')) l")
echo "# data set: $rows rows in registered tables"

# --- the backups (doc/operations.md) ---------------------------------------------------
pg_dumpall --roles-only -f "$work/roles.sql"
pg_dump -Fc -f "$work/ledger.dump" "$src" 2>/dev/null   # (warns about market_order's circular foreign keys)
pg_dump -f "$work/ledger.sql" "$src" 2>/dev/null
ok 0 "pg_dump -Fc, pg_dump (plain) and pg_dumpall --roles-only taken"
seeded_dumped=$(grep -c -E "^(power|glass)	" "$work/ledger.sql" || true)
ok "$([ "$seeded_dumped" = 2 ] && [ -z "$(grep -E '^(cement|steel)	' "$work/ledger.sql")" ] && echo 0 || echo 1)" \
	"of the seeded sectors only the changed and the added row are in the dump ($seeded_dumped)"

# --- a fresh cluster: roles first, then the databases -----------------------------------
cluster_start fresh
on fresh psql -X -q -d postgres -f "$work/roles.sql" >"$work/roles.log" 2>&1 || true
ok "$(on fresh qa -d postgres -c "SELECT count(*) FROM pg_roles WHERE rolname IN ('ops_unit_login', 'carbonmkt_participant')" | sed 's/^2$/0/')" \
	"roles restored first with pg_dumpall --roles-only"

restored_ok() {	# restored_ok DB LABEL: the checks every restore must pass
	local db=$1 label=$2
	on fresh ledger_digest -d "$db" >"$work/$db.digest"
	if diff "$work/src.digest" "$work/$db.digest" >"$work/$db.diff"; then
		ok 0 "$label: every table has the same rows, every sequence the same position, heads and seals equal"
	else
		ok 1 "$label: differs from the source (< source, > restored):"
		head -20 "$work/$db.diff"
	fi
	ok "$(on fresh qa -d "$db" -c "SELECT count(*) FROM carbonmkt.verify_ledger()" | sed 's/^0$/0/;t;s/.*/1/')" \
		"$label: verify_ledger() is empty"
}

# custom format
on fresh createdb restored_custom
on fresh env PGOPTIONS='-c session_replication_role=replica' \
	pg_restore --exit-on-error --single-transaction -d restored_custom "$work/ledger.dump"
restored_ok restored_custom "pg_dump -Fc | pg_restore"

# plain format
on fresh createdb restored_plain
on fresh env PGOPTIONS='-c session_replication_role=replica' \
	psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d restored_plain -f "$work/ledger.sql" >/dev/null
restored_ok restored_plain "pg_dump | psql"

# data only, into a database with the extension already created
on fresh createdb restored_data
on fresh psql -X -q -d restored_data -c "CREATE EXTENSION carbonmkt"
pg_dump --data-only -f "$work/data.sql" "$src" 2>"$work/data.log"   # (warns about market_order's circular foreign keys: replica mode does not check them)
on fresh env PGOPTIONS='-c session_replication_role=replica' \
	psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d restored_data -f "$work/data.sql" >/dev/null
restored_ok restored_data "pg_dump --data-only | psql into CREATE EXTENSION"

# --- the next posting chains onto the restored heads -------------------------------------
next_posting() {	# the same transfer at the same instant: same entry ids, same hashes
	qa "$@" <<'SQL'
SET carbonmkt.clock = '2026-01-05 10:00:00+08';
SELECT a.account_id AS src FROM carbonmkt.holding h JOIN carbonmkt.account a USING (account_id)
 WHERE a.kind = 'holding' AND h.instrument = 'CEA' AND h.vintage = 2024 AND a.status = 'open'
 ORDER BY h.balance - h.held DESC, 1 LIMIT 1 \gset
SELECT min(account_id) AS dst FROM carbonmkt.account WHERE kind = 'holding' AND account_id <> :src AND status = 'open' \gset
SELECT carbonmkt.transfer_cea(:src, :dst, 2024, 1234, 'ops-next-posting') IS NOT NULL;
SELECT entry_id, account_id, seq, encode(prev_hash, 'hex'), encode(hash, 'hex')
  FROM carbonmkt.journal ORDER BY entry_id DESC LIMIT 2;
SELECT count(*) FROM carbonmkt.verify_ledger();
SQL
}
next_posting -d "$src" >"$work/next.src"
for db in restored_custom restored_plain restored_data; do
	on fresh next_posting -d "$db" >"$work/next.$db"
	ok "$(st diff "$work/next.src" "$work/next.$db")" "$db: the next posting chains onto the restored heads (same entries, same hashes, verify_ledger() empty)"
done
ok "$(tail -1 "$work/next.src" | sed 's/^0$/0/;t;s/.*/1/')" "the source verifies after the same posting"

# --- logins and participant_login ---------------------------------------------------------
login_view() {
	qa -U ops_unit_login "$@" <<'SQL'
SELECT carbonmkt.caller_participant(), count(*) FROM carbonmkt.account GROUP BY 1;
SQL
}
login_view -d "$src" >"$work/login.src"
on fresh login_view -d restored_custom >"$work/login.restored"
ok "$(st diff "$work/login.src" "$work/login.restored")" \
	"a restored login acts for its participant and sees only its accounts ($(cat "$work/login.restored"))"

# --- bad input ------------------------------------------------------------------------------
# 1. without replica mode: refused, and --single-transaction leaves nothing behind
on fresh createdb restored_wrong
if on fresh pg_restore --exit-on-error --single-transaction -d restored_wrong "$work/ledger.dump" >"$work/wrong.log" 2>&1; then
	ok 1 "a restore without session_replication_role = replica is refused"
else
	ok 0 "a restore without session_replication_role = replica is refused: $(grep -m1 -o 'ERROR: .*' "$work/wrong.log")"
fi
ok "$(on fresh qa -d restored_wrong -c "SELECT count(*) FROM pg_extension WHERE extname = 'carbonmkt'" | sed 's/^0$/0/;t;s/.*/1/')" \
	"... and leaves nothing half-restored"
on fresh createdb restored_wrong_journal
on fresh psql -X -q -d restored_wrong_journal -c "CREATE EXTENSION carbonmkt"
# the journal's history itself, without replica mode: the chain trigger refuses it and names the way
pg_dump --data-only -t carbonmkt.journal -f "$work/journal.sql" "$src"
on fresh psql -X -q -v ON_ERROR_STOP=1 -1 -d restored_wrong_journal -f "$work/journal.sql" >"$work/wrong2.log" 2>&1 || true
ok "$(grep -q -e 'session_replication_role' "$work/wrong2.log" && echo 0 || echo 1)" \
	"journal history restored without replica mode is refused, naming the documented way: $(grep -m1 -o 'ERROR: .*' "$work/wrong2.log")"

# 2. into a database whose seeded rules were changed too
on fresh createdb restored_changed
on fresh psql -X -q -d restored_changed -c "CREATE EXTENSION carbonmkt" \
	-c "UPDATE carbonmkt.sector SET name = 'Power' WHERE code = 'power'"
if on fresh env PGOPTIONS='-c session_replication_role=replica' \
	psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d restored_changed -f "$work/data.sql" >"$work/changed.log" 2>&1; then
	ok 1 "a restore into a database whose seeded rule was changed too is refused"
else
	ok "$(grep -q 'this database changed it too' "$work/changed.log" && echo 0 || echo 1)" \
		"a restore into a database whose seeded rule was changed too is refused: $(grep -m1 -o 'ERROR: .*' "$work/changed.log")"
fi
ok "$(on fresh qa -d restored_changed -c "SELECT count(*) FROM carbonmkt.participant" | sed 's/^0$/0/;t;s/.*/1/')" "... and nothing of it is restored"

# 3. into a database that already holds postings: refused (the system accounts changed)
on fresh createdb restored_busy
on fresh psql -X -q -d restored_busy -c "CREATE EXTENSION carbonmkt" -c "SELECT carbonmkt.issue_cea(1, 2024, 10)" >/dev/null
if on fresh env PGOPTIONS='-c session_replication_role=replica' \
	psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d restored_busy -f "$work/data.sql" >"$work/busy.log" 2>&1; then
	ok 1 "a data-only restore into a registry that holds postings is refused"
else
	ok 0 "a data-only restore into a registry that holds postings is refused: $(grep -m1 -o 'ERROR: .*' "$work/busy.log")"
fi

# 4. a dump taken while postings run is one snapshot
(
	for i in $(seq 1 2000); do
		echo "SELECT carbonmkt.transfer_cea(:src, :dst, 2024, 1, 'ops-during-dump-$i'), pg_sleep(0.002);"
	done
) >"$work/during.sql"
sed -i "1i SELECT a.account_id AS src FROM carbonmkt.holding h JOIN carbonmkt.account a USING (account_id) WHERE a.kind = 'holding' AND h.instrument = 'CEA' AND h.vintage = 2024 AND a.status = 'open' ORDER BY h.balance - h.held DESC, 1 LIMIT 1 \\\\gset\nSELECT max(account_id) AS dst FROM carbonmkt.account WHERE kind = 'holding' AND status = 'open' \\\\gset" "$work/during.sql"
psql -X -q -v ON_ERROR_STOP=1 -d "$src" -f "$work/during.sql" >/dev/null &
poster=$!
# the dump starts once postings are under way
for _ in $(seq 1 100); do
	[ "$(qa -d "$src" -c "SELECT count(*) >= 100 FROM carbonmkt.posting WHERE reference LIKE 'ops-during-dump-%'")" = t ] && break
	sleep 0.1
done
pg_dump -Fc -f "$work/during.dump" "$src" 2>/dev/null
after_dump=$(qa -d "$src" -c "SELECT count(*) FROM carbonmkt.posting WHERE reference LIKE 'ops-during-dump-%'")
wait "$poster"
on fresh createdb restored_during
on fresh env PGOPTIONS='-c session_replication_role=replica' \
	pg_restore --exit-on-error --single-transaction -d restored_during "$work/during.dump"
during=$(on fresh qa -d restored_during -c "SELECT count(*) FROM carbonmkt.posting WHERE reference LIKE 'ops-during-dump-%'")
ok "$(on fresh qa -d restored_during -c "SELECT count(*) FROM carbonmkt.verify_ledger()" | sed 's/^0$/0/;t;s/.*/1/')" \
	"a dump taken while postings ran restores consistent: verify_ledger() empty ($during postings in it; $after_dump made when it ended, 2000 in all)"
ok "$([ "$during" -ge 100 ] && [ "$after_dump" -gt "$during" ] && echo 0 || echo 1)" "... the dump did overlap the postings (one snapshot: $during)"
ok "$(on fresh qa -d restored_during -c "SELECT count(*) FROM carbonmkt.journal j JOIN carbonmkt.posting p USING (posting_id) WHERE p.reference LIKE 'ops-during-dump-%'" | sed "s/^$((during * 2))\$/0/;t;s/.*/1/")" \
	"... every posting in it has both its legs, none half"

cluster_stop fresh
q -c "SET client_min_messages = warning" -c "DROP DATABASE $src"
echo "# $failures failed"
[ "$failures" -eq 0 ]
