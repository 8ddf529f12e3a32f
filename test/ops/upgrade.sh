#!/usr/bin/env bash
# test/ops/upgrade.sh: ALTER EXTENSION carbonmkt UPDATE from every frozen version reaches
# exactly the schema of a fresh install of the version in development, on a populated
# database, keeping every row (doc/operations.md, "Upgrades").
#   - each frozen version is installed and loaded with a realistic data set made with that
#     version's API (test/ops/data/VERSION/: the demo's acts as that version knew them), so
#     the frozen catalog runs against the NEW library: every room's C code (postings,
#     matching, MRV review, allocation aggregates, the surrender trigger) is called through
#     the frozen script's definitions; then a spread of read functions, each of which must
#     answer or be refused with an error, never crash;
#   - after ALTER EXTENSION ... UPDATE: the schema equals a fresh install (compared object
#     by object, test/ops/schema-snapshot.sh), every row of every data table is still there
#     (count and md5 over the frozen version's columns), the heads digest is unchanged and
#     verify_ledger() is empty;
#   - an update to or from an unknown version fails clearly and changes nothing.
# Runs against the cluster of test/cluster.sh (PGHOST/PGPORT set); prints "ok"/"not ok"
# lines and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=test/ops
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" carbonmkt.control)
fail=0
work=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-upgrade.XXXXXX")
trap 'rm -rf "$work"' EXIT
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
check() {	# check STATUS MESSAGE
	if [ "$1" -eq 0 ]; then echo "ok - $2"; else echo "not ok - $2"; fail=1; fi
}

psql -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS ops_fresh" -c "CREATE DATABASE ops_fresh"
psql -d ops_fresh -c "CREATE EXTENSION carbonmkt"
"$here/schema-snapshot.sh" ops_fresh >"$work/fresh.sql"

# the rows of every table, over the columns it has now (run again after the update).  The one
# intended change of a row is the jurisdiction vocabulary (doc/rules.md: 0.1.0's 'national'
# became 'CN'), so a jurisdiction column is compared through that mapping.
row_digest_queries() {
	psql -At -d "$1" <<'SQL'
SELECT format($q$SELECT %L || ' ' || count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '-') FROM (SELECT %s FROM carbonmkt.%I) t;$q$,
              c.relname,
              string_agg(CASE WHEN a.attname = 'jurisdiction'
                              THEN format('CASE %1$I::text WHEN ''national'' THEN ''CN'' ELSE %1$I::text END AS %1$I', a.attname)
                              ELSE quote_ident(a.attname) END, ', ' ORDER BY a.attnum), c.relname)
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'carbonmkt'::regnamespace AND c.relkind = 'r'
 GROUP BY c.relname ORDER BY c.relname;
SQL
}
# what the frozen catalog serves through the new library (reads; the data set did the
# writes): each answers, or is refused with an error (a C function that only serves the new
# catalog may say so); none may crash the server
reads=(
	"SELECT count(*) FROM carbonmkt.verify_ledger()"
	"SELECT count(*) FROM carbonmkt.verify_chains()"
	"SELECT encode(digest, 'hex'), accounts, entries FROM carbonmkt.heads_digest('2100-01-01')"
	"SELECT count(*) FROM carbonmkt.statement(3, '2020-01-01', '2030-01-01')"
	"SELECT count(*) FROM carbonmkt.balance_as_of(3, '2025-12-31')"
	"SELECT 'CEA2024:1500000t'::carbonmkt.allowance OPERATOR(carbonmkt.*) 0.7"
	"SELECT carbonmkt.split_block('CCER:GD-OW-0042:2024:1-50000', 30000)"
	"SELECT count(*) FROM carbonmkt.obligation_status"
	"SELECT count(*) FROM carbonmkt.account_balance"
	"SELECT count(*) FROM carbonmkt.market_trades"
	"SELECT count(*) FROM carbonmkt.mrv_review_queue"
	"SELECT count(*) FROM carbonmkt.bi_compliance_status"
	"SELECT carbonmkt.valid_credit_code('91350100M000100Y43')"
	"SELECT length(carbonmkt.journal_payload(j)) FROM carbonmkt.journal j ORDER BY entry_id LIMIT 1"
	"SELECT encode(carbonmkt.journal_hash(j.prev_hash, j), 'hex') = encode(j.hash, 'hex') FROM carbonmkt.journal j ORDER BY entry_id LIMIT 1"
)

for frozen in $(ls sql/carbonmkt--*.sql | sed -n 's|^sql/carbonmkt--\([0-9.]*\)\.sql$|\1|p'); do
	[ "$frozen" = "$version" ] && continue
	db=ops_from_${frozen//./_}
	psql -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db"
	if [ -d "$here/data/$frozen" ]; then
		if "$here/lib/dataset.sh" "$db" "$frozen" >"$work/$db.load" 2>&1; then
			check 0 "$frozen: a data set made with its API loaded ($(psql -At -d "$db" -c "SELECT count(*) FROM carbonmkt.journal") journal entries; every room's C code ran through the $frozen catalog)"
		else
			check 1 "$frozen: loading the data set failed:"
			tail -20 "$work/$db.load"
			continue
		fi
	else
		psql -c "CREATE DATABASE $db"
		psql -d "$db" -c "CREATE EXTENSION carbonmkt VERSION '$frozen'"
		echo "# $frozen: no data set in $here/data/$frozen (an empty database is upgraded)"
	fi
	answered=0
	refused=()
	crashed=0
	for r in "${reads[@]}"; do
		if out=$(psql -At -d "$db" -c "$r" 2>&1); then
			answered=$((answered + 1))
		elif grep -q -E 'server closed the connection|terminated abnormally|connection to server .* lost' <<<"$out"; then
			crashed=1
			echo "# crashed: $r: $out"
		else
			refused+=("$r: $(grep -m1 -o 'ERROR: .*' <<<"$out")")
		fi
	done
	check "$([ "$crashed" -eq 0 ] && [ "$(psql -At -d "$db" -c 'SELECT 1')" = 1 ] && echo 0 || echo 1)" \
		"$frozen catalog against the new library: $answered of ${#reads[@]} reads answered, ${#refused[@]} refused with an error, no crash"
	for r in "${refused[@]}"; do echo "#   refused: $r"; done
	# a refusal says what to do, never what is missing underneath (a column, a function)
	unclear=0
	for r in "${refused[@]}"; do
		grep -q 'ALTER EXTENSION carbonmkt UPDATE' <<<"$r" || unclear=$((unclear + 1))
	done
	check "$([ "$unclear" -eq 0 ] && echo 0 || echo 1)" \
		"$frozen catalog against the new library: every refused read asks for ALTER EXTENSION carbonmkt UPDATE ($unclear do not)"
	row_digest_queries "$db" >"$work/$db.rows.sql"
	psql -At -d "$db" -f "$work/$db.rows.sql" >"$work/$db.rows.before"
	heads_before=$(psql -At -d "$db" -c "SELECT encode(digest, 'hex') FROM carbonmkt.heads_digest('2100-01-01')")

	psql -d "$db" -c "ALTER EXTENSION carbonmkt UPDATE TO '$version'"
	"$here/schema-snapshot.sh" "$db" >"$work/$db.sql"
	if diff -u "$work/fresh.sql" "$work/$db.sql" >"$work/$db.diff"; then
		echo "ok - $frozen -> $version: schema equals a fresh $version install"
	else
		echo "not ok - $frozen -> $version: schema differs from a fresh install (first 80 lines; - fresh, + upgraded):"
		head -80 "$work/$db.diff"
		fail=1
	fi
	# every row kept: the data tables (not the seeded rule tables, which an update may revise)
	psql -At -d "$db" -f "$work/$db.rows.sql" >"$work/$db.rows.after"
	psql -At -d "$db" -c "SELECT c.conf::regclass::text FROM pg_extension e, unnest(e.extconfig, e.extcondition) c(conf, cond)
	                      WHERE e.extname = 'carbonmkt' AND c.cond <> ''" | sed 's/^carbonmkt\.//' | sort >"$work/$db.seeded"
	filter() { awk 'NR == FNR { seeded[$1] = 1; next } !($1 in seeded)' "$work/$db.seeded" "$1"; }
	rows=$(filter "$work/$db.rows.before" | awk '{ s += $2 } END { print s + 0 }')
	if diff <(filter "$work/$db.rows.before") <(filter "$work/$db.rows.after") >"$work/$db.rows.diff"; then
		check 0 "$frozen -> $version: every row of every data table is kept ($rows rows in $(filter "$work/$db.rows.before" | wc -l) tables)"
	else
		check 1 "$frozen -> $version: rows changed by the update (< before, > after):"
		head -20 "$work/$db.rows.diff"
	fi
	check "$([ "$(psql -At -d "$db" -c "SELECT count(*) FROM carbonmkt.verify_ledger()")" = 0 ] &&
		[ "$(psql -At -d "$db" -c "SELECT encode(digest, 'hex') FROM carbonmkt.heads_digest('2100-01-01')")" = "$heads_before" ] &&
		echo 0 || echo 1)" "$frozen -> $version: verify_ledger() is empty and the heads digest unchanged after the update"
	# the balance snapshots the update writes for the journal it finds: balance_as_of() from them
	# gives the rows of its plain definition (the whole journal) for every account that has them,
	# at each of its entries' instants and a microsecond before
	read -r snaps asof_pairs asof_diff <<<"$(psql -At -F ' ' -d "$db" <<'SQL'
WITH a AS (SELECT DISTINCT account_id FROM carbonmkt.balance_snapshot),
     i AS (SELECT DISTINCT j.account_id, j.recorded_at + d * interval '1 microsecond' AS t
             FROM carbonmkt.journal j JOIN a USING (account_id) CROSS JOIN (VALUES (-1), (0)) v(d))
SELECT (SELECT count(*) FROM carbonmkt.balance_snapshot), count(*),
       count(*) FILTER (WHERE ARRAY(SELECT b::text FROM carbonmkt.balance_as_of(i.account_id, i.t) b)
                              IS DISTINCT FROM
                              ARRAY(SELECT x::text FROM (
                                      SELECT DISTINCT ON (j.instrument, j.vintage, j.project)
                                             j.instrument, j.vintage, j.project, j.balance_after, j.held_after
                                        FROM carbonmkt.journal j
                                       WHERE j.account_id = i.account_id AND j.recorded_at <= i.t
                                       ORDER BY j.instrument, j.vintage, j.project, j.seq DESC) x))
  FROM i
SQL
)"
	check "$([ "${snaps:-0}" -gt 0 ] && [ "$asof_diff" = 0 ] && echo 0 || echo 1)" \
		"$frozen -> $version: the update wrote $snaps balance snapshots; balance_as_of() from them equals the plain definition ($asof_pairs account-instants, $asof_diff differ)"
	# the MRV deposit summaries the update creates are filled from the deposits made before it
	# (an independent recomputation; rows in one and not the other)
	summary_diff=$(psql -At -d "$db" <<'SQL'
WITH m AS (SELECT d.participant_id, d.year, d.month, count(DISTINCT d.parameter)::int AS deposited,
                  bool_or(d.late AND d.version = 1) AS late, count(*) > count(DISTINCT d.parameter) AS corrected
             FROM carbonmkt.mrv_deposit d GROUP BY 1, 2, 3),
     s AS (SELECT x.participant_id, x.year, i AS month, x.deposited[i] AS deposited, x.late[i] AS late, x.corrected[i] AS corrected
             FROM carbonmkt._mrv_deposit_months x CROSS JOIN generate_series(1, 12) i
            WHERE x.deposited[i] <> 0 OR x.late[i] OR x.corrected[i]),
     v AS (SELECT d.participant_id, d.year, d.parameter, d.value FROM carbonmkt.mrv_deposit d
            WHERE d.version = (SELECT max(x.version) FROM carbonmkt.mrv_deposit x WHERE x.participant_id = d.participant_id
                                  AND x.year = d.year AND x.month = d.month AND x.parameter = d.parameter)),
     p AS (SELECT participant_id, year, parameter, count(*)::int AS months, sum(value) AS total, min(value), max(value)
             FROM v GROUP BY 1, 2, 3)
SELECT (SELECT count(*) FROM m) || ' ' || (SELECT count(*) FROM p) || ' ' ||
       (SELECT count(*) FROM ((TABLE m EXCEPT ALL TABLE s) UNION ALL (TABLE s EXCEPT ALL TABLE m)) x)
       + (SELECT count(*) FROM carbonmkt._mrv_deposit_months x WHERE NOT 0 < ANY (x.deposited)) || ' ' ||
       (SELECT count(*) FROM ((TABLE p EXCEPT ALL TABLE carbonmkt._mrv_deposit_parameter_year)
                              UNION ALL (TABLE carbonmkt._mrv_deposit_parameter_year EXCEPT ALL TABLE p)) x)
SQL
)
	read -r months params mdiff pdiff <<<"$summary_diff"
	check "$([ "$months" -gt 0 ] && [ "$mdiff" = 0 ] && [ "$pdiff" = 0 ] && echo 0 || echo 1)" \
		"$frozen -> $version: the deposit summaries are filled from the deposits ($months unit-months, $params unit-year parameters; $mdiff and $pdiff rows differ)"
	# the trading statistics the update keeps (trading_month_stats) are filled from the tape of
	# the days closed before it: bi_trading_activity and bi_trading_by_sector answer what the
	# tape's aggregate (their definition before) answers; rows in one and not the other
	trading_diff=$(psql -At -d "$db" <<'SQL'
CREATE TEMP VIEW legs AS
SELECT t.buyer_id AS participant_id, 'buy'::text AS side, t.business_date, t.product_id, t.mode, t.quantity,
       t.price_fen * t.quantity AS notional_fen, t.buyer_fee_fen AS fee_fen FROM carbonmkt.trade t
UNION ALL
SELECT t.seller_id, 'sell', t.business_date, t.product_id, t.mode, t.quantity, t.price_fen * t.quantity, t.seller_fee_fen
  FROM carbonmkt.trade t;
CREATE TEMP VIEW a AS
SELECT l.participant_id, p.name AS participant_name, p.kind::text AS participant_kind, p.province,
       r.name_zh AS province_name, p.sector, sec.name_zh AS sector_name,
       date_trunc('month', l.business_date)::date AS month, pr.instrument::text AS instrument, count(*) AS trades,
       coalesce(sum(l.quantity) FILTER (WHERE l.side = 'buy'), 0)::bigint AS bought_t,
       coalesce(sum(l.quantity) FILTER (WHERE l.side = 'sell'), 0)::bigint AS sold_t,
       (coalesce(sum(l.quantity) FILTER (WHERE l.side = 'buy'), 0) - coalesce(sum(l.quantity) FILTER (WHERE l.side = 'sell'), 0))::bigint AS net_t,
       round(coalesce(sum(l.notional_fen) FILTER (WHERE l.side = 'buy'), 0) / 100.0, 2) AS bought_cny,
       round(coalesce(sum(l.notional_fen) FILTER (WHERE l.side = 'sell'), 0) / 100.0, 2) AS sold_cny,
       round(sum(l.fee_fen) / 100.0, 2) AS fees_cny,
       coalesce(sum(l.quantity) FILTER (WHERE l.mode = 'listed'), 0)::bigint AS listed_t,
       coalesce(sum(l.quantity) FILTER (WHERE l.mode = 'block'), 0)::bigint AS block_t,
       coalesce(sum(l.quantity) FILTER (WHERE l.mode NOT IN ('listed', 'block')), 0)::bigint AS auction_t,
       min(l.business_date) AS first_trade_date, max(l.business_date) AS last_trade_date
  FROM legs l JOIN carbonmkt.product pr ON pr.product_id = l.product_id
  JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
  LEFT JOIN carbonmkt.region r ON r.code = p.province LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 GROUP BY l.participant_id, p.name, p.kind, p.province, r.name_zh, p.sector, sec.name_zh,
          date_trunc('month', l.business_date), pr.instrument;
CREATE TEMP VIEW s AS
SELECT date_trunc('month', l.business_date)::date AS month, p.sector, sec.name AS sector_name_en,
       coalesce(sec.name_zh, '非重点排放单位') AS sector_name, pr.instrument::text AS instrument,
       count(DISTINCT l.participant_id) AS participants, count(*) AS trades,
       coalesce(sum(l.quantity) FILTER (WHERE l.side = 'buy'), 0)::bigint AS bought_t,
       coalesce(sum(l.quantity) FILTER (WHERE l.side = 'sell'), 0)::bigint AS sold_t,
       round(coalesce(sum(l.notional_fen) FILTER (WHERE l.side = 'buy'), 0) / 100.0, 2) AS bought_cny,
       round(coalesce(sum(l.notional_fen) FILTER (WHERE l.side = 'sell'), 0) / 100.0, 2) AS sold_cny,
       round(sum(l.fee_fen) / 100.0, 2) AS fees_cny
  FROM legs l JOIN carbonmkt.product pr ON pr.product_id = l.product_id
  JOIN carbonmkt.participant p ON p.participant_id = l.participant_id LEFT JOIN carbonmkt.sector sec ON sec.code = p.sector
 GROUP BY date_trunc('month', l.business_date), p.sector, sec.name, sec.name_zh, pr.instrument;
SELECT (SELECT count(*) FROM carbonmkt.trading_month_stats) || ' ' || (SELECT count(*) FROM a) || ' ' ||
       (SELECT count(*) FROM ((TABLE a EXCEPT ALL TABLE carbonmkt.bi_trading_activity)
                              UNION ALL (TABLE carbonmkt.bi_trading_activity EXCEPT ALL TABLE a)) x) || ' ' ||
       (SELECT count(*) FROM ((TABLE s EXCEPT ALL TABLE carbonmkt.bi_trading_by_sector)
                              UNION ALL (TABLE carbonmkt.bi_trading_by_sector EXCEPT ALL TABLE s)) x)
SQL
)
	read -r kept arows adiff sdiff <<<"$trading_diff"
	check "$([ "$kept" -gt 0 ] && [ "$adiff" = 0 ] && [ "$sdiff" = 0 ] && echo 0 || echo 1)" \
		"$frozen -> $version: the kept trading statistics are filled from the closed days ($kept kept rows; bi_trading_activity's $arows rows; $adiff and $sdiff rows differ from the tape's aggregate)"
done

# bad input: an unknown version, to or from
psql -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS ops_unknown" -c "CREATE DATABASE ops_unknown"
out=$(psql -d ops_unknown -c "CREATE EXTENSION carbonmkt VERSION '0.0.9'" 2>&1 || true)
check "$(grep -q 'extension "carbonmkt" has no installation script nor update path for version "0.0.9"' <<<"$out" && echo 0 || echo 1)" \
	"an install of an unknown version is refused: $(grep -m1 -o 'ERROR: .*' <<<"$out")"
psql -d ops_unknown -c "CREATE EXTENSION carbonmkt" -c "SELECT carbonmkt.issue_cea(1, 2024, 100, 'ops-unknown')" >/dev/null
out=$(psql -d ops_unknown -c "ALTER EXTENSION carbonmkt UPDATE TO '9.9.9'" 2>&1 || true)
check "$(grep -q 'no update path from version "'"$version"'" to version "9.9.9"' <<<"$out" && echo 0 || echo 1)" \
	"an update to an unknown version is refused: $(grep -m1 -o 'ERROR: .*' <<<"$out")"
# a database whose catalog says an unknown version (e.g. built from an unreleased script)
psql -d ops_unknown -c "UPDATE pg_extension SET extversion = '0.1.5' WHERE extname = 'carbonmkt'"
out=$(psql -d ops_unknown -c "ALTER EXTENSION carbonmkt UPDATE" 2>&1 || true)
check "$(grep -q 'no update path from version "0.1.5"' <<<"$out" &&
	[ "$(psql -At -d ops_unknown -c "SELECT extversion FROM pg_extension WHERE extname = 'carbonmkt'")" = 0.1.5 ] &&
	[ "$(psql -At -d ops_unknown -c "SELECT count(*) FROM carbonmkt.verify_ledger()")" = 0 ] && echo 0 || echo 1)" \
	"an update from an unknown version is refused and changes nothing: $(grep -m1 -o 'ERROR: .*' <<<"$out")"
psql -c "SET client_min_messages = warning" -c "DROP DATABASE ops_unknown"
exit $fail
