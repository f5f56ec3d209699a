#!/bin/sh
# test_gcc.sh: gcc (driver, cc1, as, collect2, ld: all preloaded) builds a
# generated multi-file program with make -j2: MODULES C files of structs,
# tables, recursion, qsort and a hash table each, plus, where g++ exists, a
# C++ file of templates (std::map, std::unordered_map, std::string, sort).
# The object files and the executable must be byte for byte what gcc makes
# without hakmem (every build happens in the same directory), and the
# program, run under the same library, must print the same.
# Full mode also links the program with -flto (lto1, lto-wrapper) and
# compares its output.
# Quick: 6 modules, -O2. Full: 40 modules, -O2 -g, and -flto.
# Exit: 0 pass, 1 fail, 77 skip (no gcc or make), 99 setup error.
. "$(cd "$(dirname "$0")" && pwd)/common.sh"

command -v gcc >/dev/null 2>&1 || real_skip "gcc not found (apt-get install gcc)"
command -v make >/dev/null 2>&1 || real_skip "make not found (apt-get install make)"

modules=6 cflags="-O2" lto=""
[ "$mode" = full ] && modules=40 cflags="-O2 -g" lto=1
cxx=""
if command -v g++ >/dev/null 2>&1; then
    cxx=1
else
    echo "note: g++ not found: the C++ module is left out (apt-get install g++)"
fi

src=$tmp/src
mkdir "$src"
# ---- the sources ---------------------------------------------------------------
cat >"$src/common.h" <<'EOF'
#include <stddef.h>
#include <stdint.h>
struct entry { char key[24]; uint64_t value; struct entry *next; };
struct table { struct entry **slots; size_t nslots, count; };
void table_init(struct table *t, size_t nslots);
void table_put(struct table *t, const char *key, uint64_t value);
uint64_t table_get(const struct table *t, const char *key);
void table_free(struct table *t);
uint64_t mix(uint64_t x);
#define DECLARE_MODULE(i) uint64_t module_##i(unsigned n)
EOF
cat >"$src/table.c" <<'EOF'
#include <stdlib.h>
#include <string.h>
#include "common.h"
uint64_t mix(uint64_t x) { x ^= x >> 31; x *= 0x9e3779b97f4a7c15ull; return x ^ (x >> 29); }
static size_t hash(const char *s) { size_t h = 5381; while (*s) h = h * 33 + (unsigned char)*s++; return h; }
void table_init(struct table *t, size_t nslots)
{
    t->slots = calloc(nslots, sizeof *t->slots);
    t->nslots = nslots;
    t->count = 0;
}
void table_put(struct table *t, const char *key, uint64_t value)
{
    struct entry **s = &t->slots[hash(key) % t->nslots];
    for (struct entry *e = *s; e; e = e->next)
        if (strcmp(e->key, key) == 0) { e->value += value; return; }
    struct entry *e = malloc(sizeof *e);
    strncpy(e->key, key, sizeof e->key - 1);
    e->key[sizeof e->key - 1] = 0;
    e->value = value;
    e->next = *s;
    *s = e;
    t->count++;
}
uint64_t table_get(const struct table *t, const char *key)
{
    for (struct entry *e = t->slots[hash(key) % t->nslots]; e; e = e->next)
        if (strcmp(e->key, key) == 0) return e->value;
    return 0;
}
void table_free(struct table *t)
{
    for (size_t i = 0; i < t->nslots; i++)
        for (struct entry *e = t->slots[i], *next; e; e = next) { next = e->next; free(e); }
    free(t->slots);
}
EOF
# One module; @I@ is its number, @K@ a constant that varies with it.
cat >"$tmp/module.in" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"

struct rec_@I@ { int id; double weight; char name[20]; struct rec_@I@ *link; };

static const unsigned table_@I@[] = { @I@, @K@, 3 * @K@ + 1, 17, 4096 - @I@, 65521 % (@K@ + 1), 7, 99 };

static int cmp_@I@(const void *a, const void *b)
{
    const struct rec_@I@ *x = a, *y = b;
    if (x->weight != y->weight) return x->weight < y->weight ? -1 : 1;
    return strcmp(x->name, y->name);
}

static unsigned ack_@I@(unsigned m, unsigned n)
{
    return m == 0 ? n + 1 : n == 0 ? ack_@I@(m - 1, 1) : ack_@I@(m - 1, ack_@I@(m, n - 1));
}

static uint64_t state_machine_@I@(const char *s)
{
    uint64_t acc = @K@;
    int state = 0;
    for (; *s; s++) {
        switch (state) {
        case 0: state = (*s >= '0' && *s <= '9') ? 1 : 2; acc = acc * 31 + (unsigned char)*s; break;
        case 1: state = *s == '-' ? 3 : 1; acc ^= mix(acc + (unsigned char)*s); break;
        case 2: state = (*s & 1) ? 0 : 3; acc += table_@I@[(unsigned char)*s % 8]; break;
        default: state = 0; acc = mix(acc); break;
        }
    }
    return acc;
}

DECLARE_MODULE(@I@)
{
    struct rec_@I@ *r = malloc(n * sizeof *r);
    struct table t;
    table_init(&t, 257 + @I@);
    char key[24];
    uint64_t sum = 0;
    for (unsigned i = 0; i < n; i++) {
        r[i].id = (int)i;
        r[i].weight = (double)((i * @K@) % 1009) / 7.0;
        snprintf(r[i].name, sizeof r[i].name, "m@I@-%u", (i * 7919u) % n);
        r[i].link = i ? &r[i - 1] : NULL;
        snprintf(key, sizeof key, "k%u", (i * 31u + @I@) % (n / 3 + 1));
        table_put(&t, key, i);
    }
    qsort(r, n, sizeof *r, cmp_@I@);
    for (unsigned i = 0; i < n; i += 1 + @I@ % 5) sum += mix(sum + (uint64_t)r[i].id) ^ state_machine_@I@(r[i].name);
    for (unsigned i = 0; i < n / 3; i++) {
        snprintf(key, sizeof key, "k%u", i);
        sum += table_get(&t, key) * (i + 1);
    }
    char *text = NULL;
    size_t len = 0;
    for (unsigned i = 0; i < 200; i++) {
        char piece[64];
        int k = snprintf(piece, sizeof piece, "<%u:%s>", i, r[i % n].name);
        text = realloc(text, len + (size_t)k + 1);
        memcpy(text + len, piece, (size_t)k + 1);
        len += (size_t)k;
    }
    sum += state_machine_@I@(text) + ack_@I@(2, 3 + @I@ % 4) + t.count;
    free(text);
    table_free(&t);
    free(r);
    return sum;
}
EOF
i=0
while [ $i -lt "$modules" ]; do
    sed -e "s/@I@/$i/g" -e "s/@K@/$(((i * 2654435761) % 1000 + 3))/g" "$tmp/module.in" >"$src/mod$i.c"
    i=$((i + 1))
done
objs="table.o"
i=0
while [ $i -lt "$modules" ]; do objs="$objs mod$i.o" && i=$((i + 1)); done
{
    echo '#include <stdio.h>'
    echo '#include <stdlib.h>'
    echo '#include "common.h"'
    i=0
    while [ $i -lt "$modules" ]; do echo "DECLARE_MODULE($i);" && i=$((i + 1)); done
    [ -n "$cxx" ] && echo 'const char *cxx_part(unsigned n);'
    echo 'int main(int argc, char **argv)'
    echo '{'
    echo '    unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 20000;'
    i=0
    while [ $i -lt "$modules" ]; do
        printf '    printf("module %d %%016llx\\n", (unsigned long long)module_%d(n));\n' $i $i
        i=$((i + 1))
    done
    [ -n "$cxx" ] && printf '%s\n' '    printf("c++ %s\n", cxx_part(n));'
    echo '    return 0;'
    echo '}'
} >"$src/main.c"
objs="$objs main.o"
if [ -n "$cxx" ]; then
    objs="$objs part.o"
    cat >"$src/part.cc" <<'EOF'
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace {
template <typename K, typename V> struct Counter {
    std::map<K, V> ordered;
    std::unordered_map<K, V> hashed;
    void add(const K &k, V v) { ordered[k] += v; hashed[k] += v; }
};
struct Shape { virtual ~Shape() {} virtual double area() const = 0; };
struct Rect : Shape { double w, h; Rect(double a, double b) : w(a), h(b) {} double area() const override { return w * h; } };
struct Tri : Shape { double b, h; Tri(double a, double c) : b(a), h(c) {} double area() const override { return b * h / 2; } };
}

extern "C" const char *cxx_part(unsigned n)
{
    static std::string result;
    Counter<std::string, unsigned long> c;
    std::vector<std::string> words;
    for (unsigned i = 0; i < n; i++) {
        std::ostringstream o;
        o << "w" << (i * 7919u) % (n / 5 + 1) << "-" << std::string(i % 9, 'x');
        words.push_back(o.str());
        c.add(words.back(), i);
    }
    std::sort(words.begin(), words.end());
    words.erase(std::unique(words.begin(), words.end()), words.end());
    std::vector<std::unique_ptr<Shape>> shapes;
    for (unsigned i = 0; i < n; i++) {
        if (i % 2) shapes.emplace_back(new Rect(i % 13, i % 7));
        else shapes.emplace_back(new Tri(i % 11, i % 5));
    }
    double area = 0;
    for (auto &s : shapes) area += s->area();
    unsigned long check = 0;
    for (auto &kv : c.ordered) check = check * 31 + kv.second + c.hashed[kv.first];
    std::ostringstream out;
    out << words.size() << " " << words.front() << " " << words.back() << " " << area << " " << check;
    result = out.str();
    return result.c_str();
}
EOF
fi
{
    echo "CFLAGS = $cflags -w"
    echo "OBJS = $objs"
    if [ -n "$cxx" ]; then echo 'LINK = g++'; else echo 'LINK = gcc'; fi
    echo 'prog: $(OBJS)'
    printf '\t$(LINK) -o prog $(OBJS)\n'
    echo '%.o: %.c common.h'
    printf '\tgcc $(CFLAGS) -c $<\n'
    echo '%.o: %.cc'
    printf '\tg++ $(CFLAGS) -std=c++17 -c $<\n'
    echo 'prog-lto: $(OBJS:.o=.lto)'
    printf '\t$(LINK) -O2 -flto=2 -o prog-lto $^\n'
    echo '%.lto: %.c common.h'
    printf '\tgcc -O2 -flto -frandom-seed=$< -w -x c -c $< -o $@\n'
    echo '%.lto: %.cc'
    printf '\tg++ -O2 -flto -frandom-seed=$< -w -std=c++17 -c $< -o $@\n'
} >"$src/Makefile"

# $1: the build directory (always the same path: it is in the debug info),
# $2: the sources, $3: lto or nothing. Prints the checksums of the objects and
# the executable and the program's output.
cat >"$tmp/gcc.sh" <<'EOF'
set -e
rm -rf "$1"
cp -R "$2" "$1"
cd "$1"
unset MAKEFLAGS MFLAGS MAKELEVEL
make -s -j2 prog
cksum *.o prog
./prog
if [ "$3" = lto ]; then
    make -s -j2 prog-lto
    ./prog-lto
fi
EOF

real_served gcc gcc --version
real_run gcc.base "" sh "$tmp/gcc.sh" "$tmp/build" "$src" "${lto:+lto}"
real_baseline_ok gcc gcc.base
for lib in $libs; do
    t=$(real_tag "$lib")
    real_run "gcc.$t" "$lib" sh "$tmp/gcc.sh" "$tmp/build" "$src" "${lto:+lto}"
    real_same "gcc building $modules modules${cxx:+ and C++}${lto:+ (and -flto)} under $(basename "$lib")" gcc.base "gcc.$t"
done
real_finish
