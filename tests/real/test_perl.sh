#!/bin/sh
# test_perl.sh: perl running tests/real/work.pl (hashes, regexes, sorting,
# strings, closures) prints the same under hakmem as without it.
# Quick: 50,000 records, release and debug library. Full: 400,000.
# Exit: 0 pass, 1 fail, 77 skip (no perl), 99 setup error.
. "$(cd "$(dirname "$0")" && pwd)/common.sh"

command -v perl >/dev/null 2>&1 || real_skip "perl not found (apt-get install perl)"
perl -MDigest::MD5 -e 1 2>/dev/null || real_skip "perl lacks Digest::MD5 (apt-get install perl)"

n=50000
[ "$mode" = full ] && n=400000
script=$real_here/work.pl

real_served perl perl -e 'my %h = map { $_ => [$_] } 1 .. 1000; print scalar keys %h'
real_run perl.base "" perl "$script" "$n"
real_baseline_ok perl perl.base
for lib in $libs; do
    t=$(real_tag "$lib")
    real_run "perl.$t" "$lib" perl "$script" "$n"
    real_same "perl work.pl $n under $(basename "$lib")" perl.base "perl.$t"
done
real_finish
