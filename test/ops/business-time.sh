#!/usr/bin/env bash
# test/ops/business-time.sh: every instant the extension records is business time
# (carbonmkt.clock_now(), doc/registry.md "Business time").
#
# Replays the regression scenarios of every room (registry, settlement, MRV, allocation,
# market, compliance, reporting: many business days of 2021-2026) with the superuser-only
# override carbonmkt.clock set in every session from its start, CREATE EXTENSION included,
# then scans every timestamptz, timestamp and date column of every table of the extension
# in each database: no value may lie in the wall-clock window of this run (its start - 1 day
# to its end + 1 day; the replayed days are all months away from it).  Prints ok/not ok
# lines and exits non-zero on any failure.  Runs against the cluster of test/cluster.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
psql() { command psql -X -q "$@"; }
fail=0
scripts="registry registry_posting settlement mrv allocation market compliance reporting"

start=$(psql -At -c "SELECT extract(epoch FROM now() - interval '1 day')::bigint")
for s in $scripts; do
	db=$(sed -n 's/^\\c \(regress_[a-z_]*\)$/\1/p' "sql/$s.sql" | head -1)
	# the script as pg_regress runs it, without its final DROP DATABASE (the scan needs it)
	sed -e "/^DROP DATABASE $db;\$/d" "sql/$s.sql" >"/tmp/business-time-$s.sql"
	PGOPTIONS="-c carbonmkt.clock=2021-03-01T09:00:00+08" psql -d postgres -f "/tmp/business-time-$s.sql" >/dev/null 2>&1
	rm -f "/tmp/business-time-$s.sql"
	if ! psql -d "$db" -At -c "SELECT 1" >/dev/null 2>&1; then
		echo "not ok - $s: the replay left no database $db"
		fail=1
		continue
	fi
	found=$(PGOPTIONS="-c business_time.start=$start" psql -d "$db" -At <<'SQL'
SET client_min_messages = warning;
CREATE TEMP TABLE wall (tab text, col text, n bigint, example text);
DO $$
DECLARE
    c record;
    n bigint;
    ex text;
    lo timestamptz := to_timestamp(current_setting('business_time.start')::bigint);
BEGIN
    FOR c IN SELECT cl.oid::regclass AS tab, a.attname AS col, a.atttypid::regtype::text AS typ
               FROM pg_depend d
               JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'carbonmkt'
               JOIN pg_class cl ON cl.oid = d.objid AND d.classid = 'pg_class'::regclass AND cl.relkind IN ('r', 'p')
               JOIN pg_attribute a ON a.attrelid = cl.oid AND a.attnum > 0 AND NOT a.attisdropped
              WHERE d.deptype = 'e'
                AND a.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
              ORDER BY 1, 2
    LOOP
        EXECUTE format('SELECT count(*), min(%2$I)::text FROM %1$s WHERE %2$I::timestamptz BETWEEN $1 AND clock_timestamp() + interval ''1 day''',
                       c.tab, c.col)
           INTO n, ex USING lo;
        IF n > 0 THEN
            INSERT INTO wall VALUES (c.tab::text, c.col, n, ex);
        END IF;
    END LOOP;
END $$;
SELECT tab || '.' || col || ': ' || n || ' wall-clock values, e.g. ' || example FROM wall ORDER BY 1;
SELECT 'scanned ' || count(*) || ' columns'
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'carbonmkt'
  JOIN pg_class cl ON cl.oid = d.objid AND d.classid = 'pg_class'::regclass AND cl.relkind IN ('r', 'p')
  JOIN pg_attribute a ON a.attrelid = cl.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE d.deptype = 'e' AND a.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype);
SQL
	)
	if grep -q "wall-clock" <<<"$found"; then
		echo "not ok - $s: wall-clock time recorded in $db:"
		grep "wall-clock" <<<"$found" | sed 's/^/    /'
		fail=1
	elif ! grep -q "^scanned [1-9]" <<<"$found"; then
		echo "not ok - $s: the scan of $db did not run: $found"
		fail=1
	else
		echo "ok - $s: no wall-clock time in $db ($(grep '^scanned' <<<"$found"))"
	fi
	psql -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
done
exit $fail
