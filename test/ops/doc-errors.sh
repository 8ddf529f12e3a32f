#!/usr/bin/env bash
# test/ops/doc-errors.sh: every error the documentation promises is shown by a test.
#
# For every doc/*.md:
#   - every SQLSTATE in an error table (a row "| CODE | ..." or "| `CODE` | ...") must be
#     raised by a regression or isolation test: "CODE:" or "CODE " in expected/*.out or
#     test/isolation/expected/*.out (the tests print SQLSTATE and message together);
#   - every message the documentation quotes for a code (a `backticked` text in the same
#     table row, or right after the code in prose: "(CM303: `price 60.005 is ...`)") must
#     appear in those outputs as written; <...>, N and … in the quote stand for any value.
# Needs no database.  Prints ok/not ok lines and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
exec perl -e '
use strict;
use warnings;
my @outs = (glob("expected/*.out"), glob("test/isolation/expected/*.out"));
my $out = "";
for my $f (@outs) { open(my $h, "<:raw", $f) or die; local $/; $out .= <$h>; close $h; }
(my $flat = $out) =~ s/\s+/ /g;
my $sqlstate = qr/(?:CM[0-9]{3}|(?=[0-9A-Z]{5}\b)(?=[A-Z]*[0-9])[0-9A-Z]{5})/;
my ($fail, $codes, $msgs) = (0, 0, 0);
my %seen;
sub check_message {
	my ($doc, $code, $msg) = @_;
	return if $msg !~ /\s\S+\s/;                    # a message has at least three words
	return if $msg =~ /\b(SELECT|FROM|WHERE|carbonmkt\.)\b|::|=>|\(\.\.\.\)|^[A-Z_]+\(/;
	return if $seen{"$doc\0$msg"}++;
	$msgs++;
	my $re = "";
	for my $part (split /(<[^>]*>|…|\bN\b)/, $msg) {
		next if $part eq "";
		if ($part =~ /^<|^…$/) { $re .= ".*?"; }
		elsif ($part eq "N") { $re .= "-?[0-9]+"; }
		else { (my $p = $part) =~ s/\s+/ /g; $re .= quotemeta($p); }
	}
	if ($flat =~ /$re/) {
		print "ok - $doc: $code `$msg`\n";
	} else {
		print "not ok - $doc: $code `$msg` is in no expected output\n";
		$fail = 1;
	}
}
for my $doc (sort glob("doc/*.md")) {
	open(my $h, "<:raw", $doc) or die; local $/; my $text = <$h>; close $h;
	my %table;
	for my $row ($text =~ /^(\|[^\n]*\|)[ \t]*$/mg) {
		my @cells = split /\s*\|\s*/, $row;
		shift @cells;
		next unless @cells && $cells[0] =~ /^`?($sqlstate)`?$/;
		my $code = $1;
		$table{$code} = 1;
		while ($row =~ /`([^`]+)`/g) {
			my $m = $1;
			check_message($doc, $code, $m) unless $m eq $code;
		}
	}
	for my $code (sort keys %table) {
		$codes++;
		if ($out =~ /(?:^|[^0-9A-Z])\Q$code\E(?:[: ]|$)/m) {
			print "ok - $doc: $code is raised by a test\n";
		} else {
			print "not ok - $doc: $code is in its error table but no regression or isolation test raises it\n";
			$fail = 1;
		}
	}
	# prose: "CODE: `message`", "CODE, `message`", "CODE (`message`", "`CODE`: `message`"
	(my $prose = $text) =~ s/\n(?!\n)/ /g;
	while ($prose =~ /`?($sqlstate)`?(?:[:,]\s+|\s+\()`([^`]+)`/g) {
		check_message($doc, $1, $2);
	}
}
print "# $codes documented SQLSTATEs, $msgs quoted messages\n";
exit $fail;
'
