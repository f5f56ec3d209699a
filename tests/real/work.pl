#!/usr/bin/perl
# work.pl N: a deterministic perl workload for tests/real/test_perl.sh.
# Hashes (insert, delete, nested, resize), regexes (captures, substitution,
# split, tr), sorting (numeric, string, multi-key, Schwartzian transform),
# strings growing by appends, pack/unpack, closures and recursive data. Every
# section prints a digest of its result; the output must not depend on the
# allocator (no addresses, no hash order: keys are always sorted).
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);

my $n = shift // 50000;
my $seed = 12345;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed; }

# ---- hashes -------------------------------------------------------------------
my %h;
for my $i (0 .. $n - 1) {
    my $k = sprintf("key%07d-%s", rnd() % ($n * 4), "x" x ($i % 13));
    $h{$k} = { n => $i, s => "v" . ($i * 7 % 1000), list => [ map { $_ * $i } 0 .. $i % 5 ] };
}
my $deleted = 0;
for my $k (sort keys %h) {
    if ($h{$k}{n} % 3 == 0) { delete $h{$k}; $deleted++; }
}
my $ctx = Digest::MD5->new;
for my $k (sort keys %h) {
    my $v = $h{$k};
    $ctx->add($k, $v->{n}, $v->{s}, join(",", @{ $v->{list} }));
}
printf "hash kept %d deleted %d %s\n", scalar(keys %h), $deleted, $ctx->hexdigest;

my %count;
$count{ rnd() % 1000 }++ for 1 .. $n;
my @top = (sort { $count{$b} <=> $count{$a} || $a <=> $b } keys %count)[0 .. 9];
print "count top @top\n";

# ---- regexes --------------------------------------------------------------------
my @words = map { sprintf("w%d_%03d%s", $_, $_ * 31 % 1000, ("ab", "cd", "ef")[ $_ % 3 ]) } 0 .. $n - 1;
my $text = join(" ", @words);
my ($matches, $sum) = (0, 0);
while ($text =~ /w(\d+)_(\d{3})(ab|ef)\b/g) {
    $matches++;
    $sum = ($sum + $1 * $2) % 1000003;
}
print "regex matches $matches sum $sum\n";
(my $swapped = $text) =~ s/(\d)(\d)/$2$1/g;
my $upper = $text;
$upper =~ tr/a-z/A-Z/;
my @parts = split /_0*|\s+/, $text;
printf "subst %s tr %s split %d\n", md5_hex($swapped), md5_hex($upper), scalar @parts;
my %by_suffix;
for my $w (@words) { push @{ $by_suffix{$1} }, $w if $w =~ /(ab|cd|ef)$/; }
print "group ", join(" ", map { "$_=" . scalar @{ $by_suffix{$_} } } sort keys %by_suffix), "\n";

# ---- sorting -------------------------------------------------------------------
my @nums = map { rnd() % 1000000 } 1 .. $n;
my @sorted = sort { $a <=> $b } @nums;
my @strs = sort map { scalar reverse "$_" } @nums;
my @recs = map { [ $_ % 97, "r" . ($_ % 1013), $_ ] } @nums;
my @multi = sort { $a->[0] <=> $b->[0] || $b->[1] cmp $a->[1] || $a->[2] <=> $b->[2] } @recs;
my @st = map { $_->[1] } sort { $a->[0] cmp $b->[0] } map { [ md5_hex($_), $_ ] } @nums[ 0 .. $n / 10 ];
printf "sort %d %d %s %s %s %s\n", $sorted[0], $sorted[-1], $strs[ $n / 2 ],
    md5_hex(join ",", map { "@$_" } @multi[ 0 .. 99 ]), md5_hex(join ",", @st), md5_hex(join ",", @sorted);

# ---- strings and pack ----------------------------------------------------------
my $buf = "";
for my $i (1 .. $n) {
    $buf .= chr(65 + $i % 26) x ($i % 17);
    substr($buf, 0, 5, "") if length($buf) > 200000;
}
my $packed = pack("N*", @nums[ 0 .. 999 ]);
my @back = unpack("N*", $packed);
my $joined = join("", map { sprintf("%08x", $_) } @back);
printf "string %d %s pack %d %s\n", length $buf, md5_hex($buf), length $packed, md5_hex($joined);

# ---- closures and recursive structures -----------------------------------------
my @subs = map { my $k = $_; sub { my $x = shift; return $x * $k + length("$x$k") } } 1 .. 100;
my $acc = 0;
for my $i (1 .. $n / 10) { $acc = ($acc + $subs[ $i % 100 ]->($i)) % 1000000007; }
sub tree { my $d = shift; return $d == 0 ? { leaf => $d } : { l => tree($d - 1), r => tree($d - 1), d => $d } }
sub walk { my $t = shift; return exists $t->{leaf} ? 1 : 1 + walk($t->{l}) + walk($t->{r}) }
my $nodes = 0;
$nodes += walk(tree(12)) for 1 .. ($n >= 100000 ? 8 : 2);
print "closures $acc tree $nodes\n";
