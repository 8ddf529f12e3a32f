#!/usr/bin/env bash
# test/bench/transfer_wal.sh -- make bench BENCH=transfer_wal
#
# What one carbonmkt.transfer_cea() writes to the WAL, record by record, against the
# registry_transfer floor (the two balance updates in account-id order and one journal row on
# bare tables, one transaction).  1,000 holding accounts (registry_transfer's uniform set, the
# same setup: holding_accounts in lib.sh); fsync, synchronous_commit and full_page_writes off,
# so that only the records count (no full-page images), and a CHECKPOINT before each side;
# then per side pgbench -n -M prepared -c 8 -j 2 with ${BENCH_N:-16000} transactions in all
# (random transfers of 1..100 t, registry_transfer's scripts) and pg_waldump between the
# insert positions before and after:
#   - pg_waldump --stats=record, divided by the transfers: records and bytes per transfer of
#     each record type;
#   - the records again by the relation of their first block reference (heap and index names
#     from pg_class): which table or index each record type writes.
# Prints the load average before and after, and the ratio of WAL bytes per transfer
# carbonmkt/floor.  Fails if pgbench fails, the balances do not add up or verify_ledger()
# reports anything.  Needs pg_waldump (Debian postgresql-15, test/deps.sh) and a superuser
# (data_directory); reads the cluster's pg_wal directly, so the cluster must be local.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=${BENCH_N:-16000}
CLIENTS=8
THREADS=2
ACCOUNTS=${BENCH_ACCOUNTS:-1000}
PER_ACCOUNT=1000000
BIN=${CARBONMKT_PG_BINDIR:+$CARBONMKT_PG_BINDIR/}
: "${PGDATABASE:=carbonmkt_bench}"
export PGDATABASE
[ $((N % CLIENTS)) -eq 0 ] || { echo "transfer_wal: BENCH_N must be a multiple of $CLIENTS" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
q() { psql -X -At -v ON_ERROR_STOP=1 -c "$1"; }

echo "-- load average before: $(loadavg) ($(nproc) CPUs); $N transfers per side, $ACCOUNTS accounts, $CLIENTS clients"
holding_accounts "$ACCOUNTS" "$PER_ACCOUNT"
durability off
read -r lo n <<<"$(q "SELECT min(account_id), count(*) FROM carbonmkt.account WHERE kind = 'holding'" | tr '|' ' ')"
pgwal=$(q "SHOW data_directory")/pg_wal

# registry_transfer's two scripts (lib.sh)
transfer_scripts "$work"

# relfilenode -> relation name, for the records' block references
relnames() {
	q "SELECT pg_relation_filenode(c.oid) || ' ' || c.relname FROM pg_class c
	     JOIN pg_namespace s ON s.oid = c.relnamespace
	    WHERE s.nspname IN ('carbonmkt', 'public') AND c.relkind IN ('r', 'i', 'S', 't')
	      AND pg_relation_filenode(c.oid) IS NOT NULL"
}

for side in carbonmkt floor; do
	q "CHECKPOINT" >/dev/null
	lsn0=$(q "SELECT pg_current_wal_insert_lsn()")
	"${BIN}pgbench" -n -M prepared -c "$CLIENTS" -j "$THREADS" -t $((N / CLIENTS)) -D lo="$lo" -D n="$n" \
		-f "$work/$side.sql" >"$work/$side.out" 2>&1 ||
		{ echo "transfer_wal: pgbench $side failed:" >&2; cat "$work/$side.out" >&2; exit 1; }
	lsn1=$(q "SELECT pg_current_wal_insert_lsn()")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/$side.out")
	[ "${failed:-0}" -eq 0 ] || { echo "transfer_wal: $failed $side transactions failed" >&2; exit 1; }
	# the insert position may be inside a record not yet flushed to the segment files
	q "SELECT pg_switch_wal()" >/dev/null
	bytes=$(q "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')")
	echo
	echo "-- $side: $N transfers, WAL $lsn0 .. $lsn1 = $bytes bytes = $(awk -v b="$bytes" -v n="$N" 'BEGIN { printf "%.0f", b / n }') bytes per transfer"
	echo "   pg_waldump --stats=record, per transfer:"
	"${BIN}pg_waldump" -p "$pgwal" -s "$lsn0" -e "$lsn1" --stats=record >"$work/$side.stats"
	sed 's/[()%]//g' "$work/$side.stats" | awk -v n="$N" '
		NR > 2 && $1 !~ /^-/ && $1 != "Total" && NF >= 9 && $2 > 0 {
			printf "   %-32s %8.2f records %8.1f bytes\n", $1, $2 / n, $(NF - 1) / n; tot += $(NF - 1) }
		END { printf "   %-32s %8s         %8.1f bytes\n", "all records", "", tot / n }'
	echo "   by relation (the first block a record names), per transfer:"
	"${BIN}pg_waldump" -p "$pgwal" -s "$lsn0" -e "$lsn1" >"$work/$side.dump"
	relnames >"$work/relnames"
	awk -v n="$N" '
		FNR == NR { name[$1] = $2; next }
		/^rmgr:/ {
			rmgr = $2
			split($0, a, "len \\(rec/tot\\): *"); split(a[2], b, ","); split(b[1], c, "/"); len = c[2] + 0
			split($0, d, "desc: "); split(d[2], e, /[ ,]/); type = e[1]
			rel = "-"
			if (match($0, /rel [0-9]+\/[0-9]+\/[0-9]+/)) {
				split(substr($0, RSTART + 4, RLENGTH - 4), f, "/"); rel = (f[3] in name) ? name[f[3]] : "(" f[3] ")"
			}
			k = rmgr "/" type "\t" rel; cnt[k]++; sz[k] += len
		}
		END { for (k in cnt) { split(k, g, "\t"); printf "   %-28s %-24s %8.2f records %8.1f bytes\n", g[1], g[2], cnt[k] / n, sz[k] / n } }
	' "$work/relnames" "$work/$side.dump" | sort -k5,5nr
	eval "wal_$side=$bytes"
done
echo
echo "ratio WAL bytes per transfer carbonmkt/floor $(ratio "$wal_carbonmkt" "$wal_floor") (target <= 2.50) $(verdict "$(ratio "$wal_carbonmkt" "$wal_floor")" '<=' 2.5)"
durability on

want=$((ACCOUNTS * PER_ACCOUNT))
sum_c=$(q "SELECT sum(balance) FROM carbonmkt.holding h JOIN carbonmkt.account a USING (account_id) WHERE a.kind = 'holding'")
sum_f=$(q "SELECT sum(balance) FROM bench_balance")
[ "$sum_c" -eq "$want" ] && [ "$sum_f" -eq "$want" ] ||
	{ echo "transfer_wal: balances do not add up: carbonmkt $sum_c, floor $sum_f, expected $want" >&2; exit 1; }
problems=$(q "SELECT count(*) FROM carbonmkt.verify_ledger()")
[ "$problems" -eq 0 ] || { echo "transfer_wal: verify_ledger() found $problems problems" >&2; exit 1; }
echo "transfer_wal: load average after $(loadavg)"
