/* options.c: the option table and its parser.
 *
 * The environment is read by scanning `environ` (no getenv, no malloc: this
 * runs inside the first malloc of the process). If libc has not set environ
 * yet (a malloc from the dynamic loader), /proc/self/environ is read instead.
 * Each row: name, default, minimum, maximum, meaning. The README's option
 * table lists the same names; tests/test_options.sh checks that it does.
 */
#define _GNU_SOURCE
#include "options.h"
#include "os.h"

#include <string.h>

struct hak_option_desc {
    const char *name;
    int64_t def, min, max;
    const char *doc;
};

#define KiB ((int64_t)1 << 10)
#define MiB ((int64_t)1 << 20)
#define GiB ((int64_t)1 << 30)

static const struct hak_option_desc hak_option_table[HAK_OPT_COUNT] = {
    [HAK_OPT_STATS] = {"HAKMEM_STATS", 0, 0, 1,
                       "print statistics at exit and count every call"},
    [HAK_OPT_ROUTE_TRACE] = {"HAKMEM_FREE_ROUTE_TRACE", 0, 0, 1,
                             "count the route every free takes; print the distribution at exit"},
    [HAK_OPT_ROUTE_SAMPLE] = {"HAKMEM_FREE_ROUTE_SAMPLE", 0, 0, 1000000,
                              "also print the first N frees of each route as they happen"},
    [HAK_OPT_TCACHE_BYTES] = {"HAKMEM_TCACHE_BYTES", 64 * KiB, 4 * KiB, 64 * MiB,
                              "bytes a thread may cache per size class"},
    [HAK_OPT_RETAIN_BYTES] = {"HAKMEM_RETAIN_BYTES", 4 * MiB, 0, 64 * GiB,
                              "bytes of empty slabs kept unpurged, all classes together"},
    [HAK_OPT_LARGE_CACHE] = {"HAKMEM_LARGE_CACHE", 64 * MiB, 0, 64 * GiB,
                             "bytes of freed large blocks kept resident for reuse"},
    [HAK_OPT_LARGE_CACHE_PCT] = {"HAKMEM_LARGE_CACHE_PCT", 200, 0, 1000,
                                 "or this percentage of the live large bytes, when more"},
    [HAK_OPT_LARGE_IDLE_MS] = {"HAKMEM_LARGE_IDLE_MS", 1000, 0, 3600 * 1000,
                               "freed large memory unused this long goes back (0: never)"},
    [HAK_OPT_ARENA_SIZE] = {"HAKMEM_ARENA_SIZE", 0, 0, (int64_t)1 << 46,
                            "address space reserved for slabs (0: automatic)"},
    [HAK_OPT_VERBOSE] = {"HAKMEM_VERBOSE", 0, 0, 1, "print the library and options at start"},
    /* Fault injection: honoured by debug builds only (os.c, set by init.c). */
    [HAK_OPT_FAULT_MAP_NTH] = {"HAKMEM_FAULT_MAP_NTH", 0, 0, INT64_MAX,
                               "debug builds: the Nth mmap/mremap fails (0: none)"},
    [HAK_OPT_FAULT_MAP_EVERY] = {"HAKMEM_FAULT_MAP_EVERY", 0, 0, INT64_MAX,
                                 "debug builds: every Kth mmap/mremap fails (0: none)"},
    [HAK_OPT_FAULT_PURGE_EVERY] = {"HAKMEM_FAULT_PURGE_EVERY", 0, 0, INT64_MAX,
                                   "debug builds: every Kth madvise fails (0: none)"},
};

static int64_t hak_option_value[HAK_OPT_COUNT];
static bool hak_options_read;
static bool hak_options_defaults_set;

int64_t _hak_option(enum hak_option_id id) { return hak_option_value[id]; }

/* "123", "64k", "2M", "1G"; returns false on garbage. */
static bool option_parse(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (*s == '\0') return false;
    if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0) {
        *out = 1;
        return true;
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0) {
        *out = 0;
        return true;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - 9) / 10) return false;
        v = v * 10 + (*s - '0');
    }
    int shift = 0;
    switch (*s) {
    case 'k': case 'K': shift = 10; s++; break;
    case 'm': case 'M': shift = 20; s++; break;
    case 'g': case 'G': shift = 30; s++; break;
    default: break;
    }
    if (*s == 'i' || *s == 'b' || *s == 'B') s++;
    if (*s == 'B') s++;
    if (*s != '\0') return false;
    if (shift && v > (INT64_MAX >> shift)) return false;
    *out = v << shift;
    return true;
}

static void option_apply(const char *entry)
{
    if (strncmp(entry, "HAKMEM_", 7) != 0) return;
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        const struct hak_option_desc *d = &hak_option_table[i];
        size_t n = strlen(d->name);
        if (strncmp(entry, d->name, n) != 0 || entry[n] != '=') continue;
        int64_t v;
        if (!option_parse(entry + n + 1, &v) || v < d->min || v > d->max) {
            _hak_write_str(2, "hakmem: ignoring bad value of ");
            _hak_write_str(2, d->name);
            _hak_write_str(2, " (expected ");
            _hak_write_u64(2, (uint64_t)d->min);
            _hak_write_str(2, "..");
            _hak_write_u64(2, (uint64_t)d->max);
            _hak_write_str(2, ")\n");
            return;
        }
        hak_option_value[i] = v;
        return;
    }
}

/* Fallback for the loader's early mallocs: the kernel's copy of the environment. */
static void options_from_proc(void)
{
    static char buf[16384];
    size_t len = _hak_os_read_file("/proc/self/environ", buf, sizeof buf);
    for (size_t i = 0; i < len;) {
        option_apply(buf + i);
        i += strlen(buf + i) + 1;
    }
}

void _hak_options_init(void)
{
    if (hak_options_read) return;
    if (!hak_options_defaults_set) {
        for (int i = 0; i < HAK_OPT_COUNT; i++) hak_option_value[i] = hak_option_table[i].def;
        hak_options_defaults_set = true;
    }
    extern char **environ;
    char **env = environ;
    if (env == NULL) {
        options_from_proc();
    } else {
        for (; *env != NULL; env++) option_apply(*env);
    }
    hak_options_read = true;
    if (hak_option_value[HAK_OPT_ROUTE_SAMPLE] > 0) hak_option_value[HAK_OPT_ROUTE_TRACE] = 1;
}

void _hak_options_print(int fd)
{
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        _hak_write_str(fd, "hakmem: option ");
        _hak_write_str(fd, hak_option_table[i].name);
        _hak_write_str(fd, "=");
        _hak_write_u64(fd, (uint64_t)hak_option_value[i]);
        _hak_write_str(fd, " (");
        _hak_write_str(fd, hak_option_table[i].doc);
        _hak_write_str(fd, ")\n");
    }
}
