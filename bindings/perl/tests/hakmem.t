# The SWIG Perl binding (module Hakmem) over the build tree's libhakmem_api_dyn.
# Run by `make check` with PERL5LIB and LD_LIBRARY_PATH set to the build tree.
use strict;
use warnings;
use Cwd qw(realpath);
use Test::More;

use_ok('Hakmem') or BAIL_OUT('cannot load Hakmem');

sub dies_like(&$$) {
    my ($code, $re, $name) = @_;
    my $ok = !eval { $code->(); 1 };
    like($ok ? $@ : 'no error', $re, $name);
}

# ---- the library ----------------------------------------------------------------
SKIP: {
    skip 'HAKMEM_API_LIB is not set (make check sets it)', 1 unless $ENV{HAKMEM_API_LIB};
    open my $maps, '<', '/proc/self/maps' or die "/proc/self/maps: $!";
    my %libs;
    while (my $line = <$maps>) {
        my @f = split ' ', $line, 6;
        next unless @f == 6;
        chomp(my $path = $f[5]);
        $libs{realpath($path)} = 1 if $path =~ m{/libhakmem[^/]*$};
    }
    is_deeply([keys %libs], [realpath($ENV{HAKMEM_API_LIB})], 'loads the build tree library');
}
is(Hakmem::hak_version(), $Hakmem::HAKMEM_VERSION_STRING, 'hak_version');

# ---- allocate, write, read back, realloc keeps content, free ---------------------
my $data = join '', map { chr } 0 .. 99;
my $p = Hakmem::hak_malloc(100);
ok(Hakmem::hak_owns($p), 'hak_owns a new block');
Hakmem::hak_write($p, 0, $data);
is(Hakmem::hak_read($p, 0, 100), $data, 'read back what was written');
Hakmem::hak_write($p, 10, 'xyz');
is(Hakmem::hak_read($p, 9, 5), chr(9) . 'xyz' . chr(13), 'write at an offset');
Hakmem::hak_write($p, 0, $data);
for my $n (200, 5000, 300_000, 3 << 20) {
    $p = Hakmem::hak_realloc($p, $n);
    cmp_ok(Hakmem::hak_usable_size($p), '>=', $n, "realloc to $n: usable size");
    is(Hakmem::hak_read($p, 0, 100), $data, "realloc to $n keeps the content");
}
is(Hakmem::hak_realloc($p, 0), undef, 'realloc(p, 0) frees and gives undef');
my $z = Hakmem::hak_calloc(10, 100);
is(Hakmem::hak_read($z, 0, 1000), "\0" x 1000, 'calloc is zeroed');
Hakmem::hak_free($z);
Hakmem::hak_free(undef);
pass('hak_free(undef) does nothing');

# ---- aligned allocation ---------------------------------------------------------------
for my $align (16, 64, 256, 4096, 65536, 1 << 17, 1 << 21) {
    my $a = Hakmem::hak_aligned_alloc($align, 100);
    is(Hakmem::hak_address($a) % $align, 0, "aligned_alloc($align, 100) is aligned");
    Hakmem::hak_free($a);
    my $l = Hakmem::hak_alloc(100, $align);
    Hakmem::hak_write($l, 0, 'layout');
    my $m = Hakmem::hak_realloc_layout($l, 100, $align, 400_000);
    is(Hakmem::hak_address($m) % $align, 0, "realloc_layout keeps alignment $align");
    is(Hakmem::hak_read($m, 0, 6), 'layout', "realloc_layout keeps the content ($align)");
    Hakmem::hak_dealloc($m, 400_000, $align);
}

# ---- usable size ---------------------------------------------------------------------
for my $n (0, 1, 17, 1025, 262_145, 1 << 20) {
    my $b = Hakmem::hak_malloc($n);
    my $u = Hakmem::hak_usable_size($b);
    cmp_ok($u, '>=', $n || 1, "usable size of malloc($n) is $u");
    Hakmem::hak_write($b, $u - 1, "\xff");
    is(Hakmem::hak_read($b, $u - 1, 1), "\xff", "last usable byte of malloc($n)");
    dies_like { Hakmem::hak_read($b, $u, 1) } qr/^IndexError hak_read: /, "read past the usable size of malloc($n)";
    Hakmem::hak_free($b);
}

# ---- stats reflect the calls ------------------------------------------------------------
my $s0 = Hakmem::hak_stats_get();
is(ref $s0, 'HASH', 'hak_stats_get gives a hash ref');
is(scalar keys %$s0, 30, 'with every field of struct hak_stats');
is($s0->{version}, $Hakmem::HAK_STATS_VERSION, 'stats version');
my @tiny = map { Hakmem::hak_malloc(48) } 1 .. 10;
my $big = Hakmem::hak_malloc(1 << 20);
my $s1 = Hakmem::hak_stats_get();
my $tiny_bytes = 0;
$tiny_bytes += Hakmem::hak_usable_size($_) for @tiny;
is($s1->{large_blocks} - $s0->{large_blocks}, 1, 'one more large block');
is($s1->{bytes_in_use} - $s0->{bytes_in_use},
   $tiny_bytes + $s1->{large_bytes} - $s0->{large_bytes}, 'bytes in use grow by what was allocated');
Hakmem::hak_free($_) for @tiny, $big;
my $s2 = Hakmem::hak_stats_get();
is($s2->{bytes_in_use}, $s0->{bytes_in_use}, 'bytes in use back after the frees');
SKIP: {
    skip 'per-call counters are off (HAKMEM_STATS=1 keeps them)', 3 unless $s0->{stats_enabled};
    is($s1->{tiny_mallocs} - $s0->{tiny_mallocs}, 10, 'tiny mallocs counted');
    is($s2->{tiny_frees} - $s0->{tiny_frees}, 10, 'tiny frees counted');
    is($s2->{large_frees} - $s0->{large_frees}, 1, 'large free counted');
}

# ---- errors die ---------------------------------------------------------------------------
dies_like { Hakmem::hak_malloc(1 << 62) } qr/^MemoryError hak_malloc: /, 'malloc too large dies';
dies_like { Hakmem::hak_calloc(1 << 40, 1 << 40) } qr/^MemoryError hak_calloc: /, 'calloc overflow dies';
dies_like { Hakmem::hak_aligned_alloc(3, 64) } qr/^ValueError .*power of two/, 'bad alignment dies';
dies_like { Hakmem::hak_alloc(64, 48) } qr/^ValueError .*power of two/, 'bad layout alignment dies';
dies_like { Hakmem::hak_malloc(-1) } qr/^ValueError hak_malloc: size must be >= 0/,
    'negative size dies with ValueError';
dies_like { Hakmem::hak_malloc(2 ** 70) } qr/^MemoryError hak_malloc: /,
    'a size beyond SIZE_MAX dies with MemoryError';
dies_like { Hakmem::hak_read(undef, 0, 1) } qr/^ValueError hak_read: NULL/, 'read of undef dies';
my $k = Hakmem::hak_malloc(16);
Hakmem::hak_write($k, 0, 'kept');
dies_like { Hakmem::hak_realloc($k, 1 << 62) } qr/^MemoryError hak_realloc: /, 'failed realloc dies';
is(Hakmem::hak_read($k, 0, 4), 'kept', 'and leaves the block untouched');
dies_like { Hakmem::hak_write($k, 0, "\x{263a}") } qr/Wide character/, 'characters above 255 die';
Hakmem::hak_free($k);
for my $n (16, 5000, 1 << 20) {
    my $gone = Hakmem::hak_malloc($n);
    Hakmem::hak_write($gone, 0, 'secret');
    Hakmem::hak_free($gone);
    dies_like { Hakmem::hak_free($gone) } qr/^ValueError hak_free: not a live block/,
        "a second free of a $n-byte block dies instead of aborting";
    dies_like { Hakmem::hak_read($gone, 0, 6) } qr/^ValueError hak_read: not a live block/,
        "reading a freed $n-byte block dies instead of returning freed bytes";
}

# ---- heaps -----------------------------------------------------------------------------------
{
    my $h = Hakmem::hak_heap_new();
    my @b = map { Hakmem::hak_heap_alloc($h, $_, 16) } 24, 3000, 400000;
    Hakmem::hak_write($b[0], 0, 'heap');
    is(scalar @{ Hakmem::hak_heap_visit($h) }, 3, 'visit sees the heap\'s three blocks');
    is_deeply([sort { $a <=> $b } map { Hakmem::hak_address($_) } @{ Hakmem::hak_heap_visit($h) }],
              [sort { $a <=> $b } map { Hakmem::hak_address($_) } @b], 'and they are its blocks');
    my $z = Hakmem::hak_heap_alloc_zeroed($h, 100, 256);
    is(Hakmem::hak_address($z) % 256, 0, 'zeroed block aligned');
    is(Hakmem::hak_read($z, 0, 100), "\0" x 100, 'and zero');
    my $r = Hakmem::hak_heap_realloc($h, $b[0], 24, 16, 50000);
    is(Hakmem::hak_read($r, 0, 4), 'heap', 'heap realloc keeps the content');
    Hakmem::hak_free($b[1]);
    Hakmem::hak_heap_dealloc($h, $z, 100, 256);
    is(scalar @{ Hakmem::hak_heap_visit($h) }, 2, 'frees of both kinds leave two blocks');
    ok(Hakmem::hak_heap_stats($h)->{bytes_in_use} >= 400000 + 50000, 'heap stats count them');
    dies_like { Hakmem::hak_heap_alloc($h, 64, 48) } qr/^ValueError hak_heap_alloc: .*power of two/,
        'bad heap alignment dies';
    Hakmem::hak_heap_collect($h);
    Hakmem::hak_heap_destroy($h);
    dies_like { Hakmem::hak_free($b[2]) } qr/^ValueError hak_free: not a live block/,
        'a block of a destroyed heap is not live';
}

done_testing();
