#!/usr/bin/env bash
# test/ops/schema-snapshot.sh DBNAME
#
# Prints the carbonmkt schema of database DBNAME in a form that can be compared
# between databases (test/ops/upgrade.sh compares an upgraded database with a fresh
# install).  pg_dump in binary-upgrade mode dumps every member object of an extension
# one by one (a plain --schema-only dump only says CREATE EXTENSION); the lines that
# carry object ids, transaction ids or the dump's random \restrict key are left out, and the
# positions of the registered sequences (data, not schema).
# The tables registered for dumping (pg_extension_config_dump) and their filters are
# listed after it by name, since the dump names them by oid.
set -euo pipefail
db=$1
# (pg_dump warns about the circular foreign keys of market_order among the registered
# tables: a data-only concern, not this one's)
pg_dump --schema-only --binary-upgrade --no-owner "$db" 2> >(grep -v -e 'circular foreign-key' -e '^pg_dump: detail: ' -e '^pg_dump: hint: ' >&2) |
	perl -ne '
		if (/^UPDATE pg_catalog\.pg_class$/) { $skip = 3 }
		if ($skip) { $skip--; next }
		next if /^-- (Dumped|Started|Completed|For binary upgrade)|^\\(un)?restrict |binary_upgrade_set_|^-- Name: |^$|^SELECT pg_catalog\.setval\(/;
		s/(binary_upgrade_create_empty_extension\((?:[^,]*,){4}).*/$1 .../;
		print'
echo "-- tables dumped with the extension (pg_extension_config_dump) and their filters"
psql -X -At -d "$db" -c "
	SELECT c.conf::regclass::text || ' ' || coalesce(quote_literal(c.cond), 'NULL')
	  FROM pg_extension e,
	       unnest(e.extconfig, e.extcondition) AS c(conf, cond)
	 WHERE e.extname = 'carbonmkt'
	 ORDER BY 1"
