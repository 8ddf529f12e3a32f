#!/usr/bin/env bash
# test/ops/rule-sources.sh: every rule row shipped with the extension cites its source
# (doc/rules.md, "The rows shipped with the extension, and their sources").
#   - a fresh install: every row of every rule table (carbonmkt.rule_table) has its `seed`
#     history row (rule_change), whose document is the row's source: never empty, never the
#     "no source" fallback, never a placeholder, default or illustrative value;
#   - each source cites a source: a seed document (S0-S4, by line where S1-S4 are cited), a
#     published rule ([public ...]) or a section of RULES.md;
#   - each line it cites ("S1 L1203", "S3 L211-214", "S1 L4261, L4344") exists in that seed
#     document (design/../seeds/) and is not empty;
#   - doc/rules.md's table of shipped rows has a row for every table with shipped rows, and
#     that row cites every seed line its rows cite; every other rule table is listed there as
#     "none" (and ships none).
# Runs against the cluster of test/cluster.sh (PGHOST/PGPORT set); prints "ok"/"not ok"
# lines and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds=${CARBONMKT_SEEDS:-/work/shared/seeds}
fail=0
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
check() {	# check STATUS MESSAGE
	if [ "$1" -eq 0 ]; then echo "ok - $2"; else echo "not ok - $2"; fail=1; fi
}
work=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-sources.XXXXXX")
trap 'rm -rf "$work"' EXIT

psql -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS ops_rule_sources" -c "CREATE DATABASE ops_rule_sources"
psql -d ops_rule_sources -c "CREATE EXTENSION carbonmkt"

# every row has its seed history row
if out=$(psql -At -d ops_rule_sources 2>&1 <<'SQL'
DO $$
DECLARE
    t   text;
    n   bigint;
    h   bigint;
    bad text := '';
BEGIN
    FOR t IN SELECT rule_table FROM carbonmkt.rule_table ORDER BY 1 LOOP
        EXECUTE format('SELECT count(*) FROM carbonmkt.%I', t) INTO n;
        SELECT count(*) INTO h FROM carbonmkt.rule_change c WHERE c.rule_table = t AND c.action = 'seed';
        IF n <> h THEN
            bad := bad || format('%s: %s rows, %s seed history rows; ', t, n, h);
        END IF;
    END LOOP;
    IF bad <> '' THEN
        RAISE EXCEPTION '%', bad;
    END IF;
END
$$;
SQL
); then missing=""; else missing=$(grep -o 'ERROR: .*' <<<"$out" || echo "$out"); fi
psql -At -d ops_rule_sources -c "SELECT rule_table || E'\t' || rule_key::text || E'\t' || document FROM carbonmkt.rule_change WHERE action = 'seed' ORDER BY change_id" >"$work/seeded"
psql -At -d ops_rule_sources -c "SELECT rule_table FROM carbonmkt.rule_table ORDER BY 1" >"$work/tables"
check "$([ "$(wc -l <"$work/seeded")" -gt 0 ] && echo 0 || echo 1)" \
	"a fresh install ships $(wc -l <"$work/seeded") rule rows in $(cut -f1 "$work/seeded" | sort -u | wc -l) tables, each with its seed history row"

[ -d "$seeds" ] || { echo "ok - # skip: no seed documents in $seeds (CARBONMKT_SEEDS): the cited lines are not checked"; seeds=""; }
SEEDS="$seeds" perl -CSD -e '
use strict; use warnings;
my ($seeded, $doc, $ruletables) = @ARGV;
my $fail = 0;
# the seed documents: S0..S4 by their order in seeds/
my (@files, @lines);
if ($ENV{SEEDS}) {
	opendir(my $dh, $ENV{SEEDS}) or die "no seeds in $ENV{SEEDS}";
	@files = sort grep { /^[0-9]{3}_.*\.txt$/ } readdir($dh);
	for my $i (0 .. $#files) { open(my $h, "<:encoding(UTF-8)", "$ENV{SEEDS}/$files[$i]") or die; my @l = <$h>; $lines[$i] = \@l; }
}
# the doc: the rows of the table of shipped rows, by table
open(my $dh2, "<:encoding(UTF-8)", $doc) or die;
my (%docrow, $in, $last);
while (my $l = <$dh2>) {
	$in = 1 if $l =~ /^## The rows shipped with the extension/;
	$in = 0 if $in && $l =~ /^## / && $l !~ /^## The rows shipped/;
	next unless $in && $l =~ /^\|/;
	my @c = split /\|/, $l;
	my $cell = $c[1] // "";
	my @t = $cell =~ /`([a-z_]+)`/g;
	if (@t) { $last = [@t]; } elsif ($cell !~ /\S/ && $last) { @t = @$last; }
	$docrow{$_} .= $l for @t;
}
my (%tables, %cites, %gaps, $rows);
open(my $sh, "<:encoding(UTF-8)", $seeded) or die;
while (my $l = <$sh>) {
	chomp $l;
	my ($t, $key, $src) = split /\t/, $l, 3;
	$rows++;
	$tables{$t}++;
	my $name = "$t $key";
	if (!defined $src || $src !~ /\S/ || $src =~ /no source/) {
		print "not ok - $name: no source\n"; $fail = 1; next;
	}
	if ($src =~ /placeholder|illustrative|carbonmkt default|not published/i) {
		print "not ok - $name: its source says it is not a source: $src\n"; $fail = 1; next;
	}
	if ($src =~ /the sources give no ([^;(]*)/) { $gaps{"$t: $1"}++; }
	if ($src !~ /\bS[0-4]\b|\[public|RULES\.md [1-7]/) {
		print "not ok - $name: its source cites no seed document, published rule or RULES.md section: $src\n"; $fail = 1; next;
	}
	# S<n> L<a>[-<b>][, L<c>[-<d>]...]
	while ($src =~ /\bS([0-4]) (L[0-9]+(?:[-\x{2013}][0-9]+)?(?:, L[0-9]+(?:[-\x{2013}][0-9]+)?)*)/g) {
		my ($s, $ranges) = ($1, $2);
		for my $r (split /, /, $ranges) {
			my ($a, $b) = $r =~ /^L([0-9]+)(?:[-\x{2013}]([0-9]+))?$/;
			$b //= $a;
			$cites{$t}{"S$s L$a"} = 1;
			next unless @files;
			my $n = scalar @{$lines[$s]};
			if ($a < 1 || $b < $a || $b > $n || !grep { /\S/ } @{$lines[$s]}[$a - 1 .. $b - 1]) {
				print "not ok - $name: S$s $r is not a line range with text in $files[$s] ($n lines)\n"; $fail = 1;
			}
			$cites{$t}{"S$s L$a"} = 1;
		}
	}
}
print "ok - every one of the $rows shipped rows cites a source (seed document, published rule or RULES.md), no placeholder\n" unless $fail;
print "# what the sources do not give, as the rows say: $_ ($gaps{$_} rows)\n" for sort keys %gaps;
# the lines a text cites: S<n> L<a>[-<b>][, L<c>[-<d>]...]
sub cited {
	my ($text) = @_;
	(my $x = $text) =~ s/\x{2013}/-/g;
	my @r;
	while ($x =~ /\bS([0-4]) (L[0-9]+(?:-[0-9]+)?(?:, L[0-9]+(?:-[0-9]+)?)*)/g) {
		my $s = $1;
		for my $r (split /, /, $2) { my ($a, $b) = $r =~ /^L([0-9]+)(?:-([0-9]+))?$/; push @r, [$s, $a, $b // $a]; }
	}
	return @r;
}
for my $t (sort keys %tables) {
	if (!$docrow{$t}) { print "not ok - doc/rules.md lists no shipped rows of $t ($tables{$t} shipped)\n"; $fail = 1; next; }
	my @doc = cited($docrow{$t});
	my @miss;
	for my $c (sort keys %{$cites{$t} || {}}) {
		my ($s, $a) = $c =~ /^S([0-4]) L([0-9]+)$/;
		push @miss, $c unless grep { $_->[0] == $s && $_->[1] <= $a && $a <= $_->[2] } @doc;
	}
	if (@miss) { print "not ok - doc/rules.md: the row of $t does not cite @miss, which its shipped rows cite\n"; $fail = 1; }
	else { print "ok - doc/rules.md cites the sources of the $tables{$t} shipped rows of $t\n"; }
}
# every rule table (carbonmkt.rule_table) has its row in the doc: its shipped rows, or "none"
open(my $rt, "<:encoding(UTF-8)", $ruletables) or die;
while (my $t = <$rt>) {
	chomp $t;
	next if $tables{$t};
	if (!$docrow{$t}) { print "not ok - doc/rules.md lists no row of the rule table $t (it ships none: say none)\n"; $fail = 1; }
	elsif ($docrow{$t} !~ /^\|[^|]*`\Q$t\E`[^|]*\|\s*none\b/m) { print "not ok - doc/rules.md lists rows of $t, but a fresh install ships none\n"; $fail = 1; }
}
for my $t (sort keys %docrow) {
	next if $tables{$t};
	next unless $docrow{$t} =~ /^\|[^|]*`\Q$t\E`[^|]*\|\s*none\b/m;
	print "ok - $t: shipped with no rows, as doc/rules.md says\n";
}
exit $fail;
' "$work/seeded" doc/rules.md "$work/tables" || fail=1
check "$([ -z "$missing" ] && echo 0 || echo 1)" "every shipped row has its seed history row${missing:+: $missing}"
psql -c "SET client_min_messages = warning" -c "DROP DATABASE ops_rule_sources"
exit $fail
