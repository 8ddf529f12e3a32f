#!/usr/bin/env bash
# test/ops/doc-vocabulary.sh: the argument names of doc/api.md ("Every argument name") are the
# vocabulary the regression test sql/api_vocabulary.sql checks every public function against,
# group by group in the same order (each table row of the doc is one group of the test's list).
# Needs no database.  Prints ok/not ok lines and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
# one line per group: its names, sorted
from_doc() {
	sed -n '/^## Every argument name$/,/^## /p' doc/api.md | grep -E '^\| [^-|]' | tail -n +2 |
		awk -F'|' '{ print $3 }' | while read -r row; do
			grep -o '`[a-z_]*`' <<<"$row" | tr -d '`' | sort | tr '\n' ' '
			echo
		done
}
from_test() {
	sed -n '/^INSERT INTO vocabulary$/,/v(grp, names);$/p' sql/api_vocabulary.sql |
		perl -0777 -ne 'while (/\(\x27\w+\x27, ARRAY\[(.*?)\]\)/sg) { my @n = sort ($1 =~ /\x27(\w+)\x27/g); print join(" ", @n), " \n" }'
}
doc=$(from_doc)
tst=$(from_test)
n=$(grep -c . <<<"$tst")
if [ "$n" -gt 0 ] && [ "$doc" = "$tst" ]; then
	echo "ok - doc/api.md lists the $n groups ($(wc -w <<<"$tst") names) of sql/api_vocabulary.sql's vocabulary, in its order"
else
	echo "not ok - doc/api.md's \"Every argument name\" and sql/api_vocabulary.sql's vocabulary differ (< doc, > test):"
	diff <(echo "$doc") <(echo "$tst") | sed 's/^/#   /'
	exit 1
fi
