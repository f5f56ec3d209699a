/* options.c: the option table and its parser.
 *
 * The environment is read by scanning `environ` (no getenv, no malloc: this
 * runs inside the first malloc of the process). If libc has not set environ
 * yet (a malloc from the dynamic loader), /proc/self/environ is read instead.
 * Each row: name, kind, default, minimum, maximum, meaning. The README's
 * option table lists the same names; tests/test_options.sh checks that it
 * does. Nothing is ignored silently: a HAKMEM_* name that is no option (nor a
 * variable of hakmem's own tools), a value that does not parse and a value
 * out of range each print one line at start saying what was used instead.
 */
#define _GNU_SOURCE
#include "options.h"
#include "os.h"

#include <string.h>

enum option_kind {
    OPT_FLAG,   /* 0 or 1 (also true/false, yes/no, on/off) */
    OPT_COUNT,  /* a plain number */
    OPT_BYTES,  /* a size: k, M, G suffixes */
    OPT_TEXT,   /* a string (a path) */
};

struct hak_option_desc {
    const char *name;
    enum option_kind kind;
    int64_t def, min, max;
    bool zero_ok; /* 0 means "automatic" or "off" below min */
    const char *doc;
};

#define KiB ((int64_t)1 << 10)
#define MiB ((int64_t)1 << 20)
#define GiB ((int64_t)1 << 30)

static const struct hak_option_desc hak_option_table[HAK_OPT_COUNT] = {
    [HAK_OPT_STATS] = {"HAKMEM_STATS", OPT_FLAG, 0, 0, 1, false,
                       "print statistics at exit and count every call"},
    [HAK_OPT_STATS_FILE] = {"HAKMEM_STATS_FILE", OPT_TEXT, 0, 0, 0, false,
                            "write the exit reports to this file (%p: the pid), not stderr"},
    [HAK_OPT_ROUTE_TRACE] = {"HAKMEM_FREE_ROUTE_TRACE", OPT_FLAG, 0, 0, 1, false,
                             "count the route every free takes; print the distribution at exit"},
    [HAK_OPT_ROUTE_SAMPLE] = {"HAKMEM_FREE_ROUTE_SAMPLE", OPT_COUNT, 0, 0, 1000000, false,
                              "also print the first N frees of each route as they happen"},
    [HAK_OPT_TCACHE_BYTES] = {"HAKMEM_TCACHE_BYTES", OPT_BYTES, 64 * KiB, 4 * KiB, 64 * MiB, false,
                              "bytes a thread may cache per size class"},
    [HAK_OPT_RETAIN_BYTES] = {"HAKMEM_RETAIN_BYTES", OPT_BYTES, 4 * MiB, 0, 64 * GiB, false,
                              "bytes of empty slabs kept unpurged, all classes together (churn earns up to 15x more)"},
    [HAK_OPT_LARGE_CACHE] = {"HAKMEM_LARGE_CACHE", OPT_BYTES, 64 * MiB, 0, 64 * GiB, false,
                             "bytes of freed large blocks kept resident for reuse"},
    [HAK_OPT_LARGE_CACHE_PCT] = {"HAKMEM_LARGE_CACHE_PCT", OPT_COUNT, 200, 0, 1000, false,
                                 "or this percentage of the live large bytes, when more"},
    [HAK_OPT_LARGE_IDLE_MS] = {"HAKMEM_LARGE_IDLE_MS", OPT_COUNT, 1000, 0, 3600 * 1000, false,
                               "freed large memory unused this long goes back (0: never)"},
    /* 8 SuperSlabs at the least; 256 GiB at most, the class table's reach. */
    [HAK_OPT_ARENA_SIZE] = {"HAKMEM_ARENA_SIZE", OPT_BYTES, 0, 16 * MiB, 256 * GiB, true,
                            "address space reserved for slabs (0: automatic)"},
    [HAK_OPT_VERBOSE] = {"HAKMEM_VERBOSE", OPT_FLAG, 0, 0, 1, false,
                         "print the library and options at start"},
    [HAK_OPT_GUARD_SAMPLE] = {"HAKMEM_GUARD_SAMPLE", OPT_COUNT, 0, 0, 1000000000, false,
                              "place about one allocation in N against a guard page (0: off)"},
    /* Fault injection: honoured by debug builds only (os.c, set by init.c). */
    [HAK_OPT_FAULT_MAP_NTH] = {"HAKMEM_FAULT_MAP_NTH", OPT_COUNT, 0, 0, INT64_MAX, false,
                               "debug builds: the Nth mmap/mremap fails (0: none)"},
    [HAK_OPT_FAULT_MAP_EVERY] = {"HAKMEM_FAULT_MAP_EVERY", OPT_COUNT, 0, 0, INT64_MAX, false,
                                 "debug builds: every Kth mmap/mremap fails (0: none)"},
    [HAK_OPT_FAULT_PURGE_EVERY] = {"HAKMEM_FAULT_PURGE_EVERY", OPT_COUNT, 0, 0, INT64_MAX, false,
                                   "debug builds: every Kth madvise fails (0: none)"},
};

/* HAKMEM_* variables that hakmem's own tools (tests, benchmarks, the Python
 * package, the recorder) use: not options of the library, not warned about.
 * A name ending in '_' is a prefix. */
static const char *const tool_names[] = {
    "HAKMEM_LIB", "HAKMEM_LIB_DEBUG", "HAKMEM_API_LIB", "HAKMEM_SOURCE_DIR", "HAKMEM_WERROR",
    "HAKMEM_BENCH_", "HAKMEM_REAL_", "HAKMEM_SAN_", "HAKMEM_TRACE_", "HAKMEM_TEST_", "HAKMEM_RS_",
};

static int64_t hak_option_value[HAK_OPT_COUNT];
static char stats_file[4096];
static bool hak_options_read;

int64_t _hak_option(enum hak_option_id id) { return hak_option_value[id]; }

const char *_hak_option_text(enum hak_option_id id)
{
    return id == HAK_OPT_STATS_FILE && stats_file[0] ? stats_file : NULL;
}

/* "123", "64k", "2M", "1G", "true"...; false on garbage or overflow. */
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
    if (*s < '0' || *s > '9') return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - 9) / 10) return false;
        v = v * 10 + (*s - '0');
    }
    int shift = 0;
    switch (*s) {
    case 'k': case 'K': shift = 10; s++; break;
    case 'm': case 'M': shift = 20; s++; break;
    case 'g': case 'G': shift = 30; s++; break;
    case 't': case 'T': shift = 40; s++; break;
    default: break;
    }
    if (*s == 'i' || *s == 'b' || *s == 'B') s++;
    if (*s == 'B') s++;
    if (*s != '\0') return false;
    if (shift && v > (INT64_MAX >> shift)) return false;
    *out = v << shift;
    return true;
}

/* A value as the table would write it: sizes with the largest exact suffix. */
static void write_value(int fd, const struct hak_option_desc *d, int64_t v)
{
    static const char suffix[] = "kMGT";
    int s = -1;
    if (d->kind == OPT_BYTES)
        while (s < 3 && v != 0 && (v & 1023) == 0) {
            v >>= 10;
            s++;
        }
    _hak_write_u64(fd, (uint64_t)v);
    if (s >= 0) {
        char c[2] = {suffix[s], '\0'};
        _hak_write_str(fd, c);
    }
}

static void warn_value(const struct hak_option_desc *d, const char *given, const char *problem,
                       int64_t used, const char *used_note)
{
    _hak_write_str(2, "hakmem: ");
    _hak_write_str(2, d->name);
    _hak_write_str(2, "=");
    _hak_write_str(2, given);
    _hak_write_str(2, problem);
    _hak_write_str(2, "; using ");
    write_value(2, d, used);
    _hak_write_str(2, used_note);
    _hak_write_str(2, "\n");
}

static void apply(const struct hak_option_desc *d, int64_t *slot, const char *given)
{
    if (d->kind == OPT_TEXT) {
        size_t n = strlen(given);
        if (n >= sizeof stats_file) {
            _hak_write_str(2, "hakmem: ");
            _hak_write_str(2, d->name);
            _hak_write_str(2, " is longer than 4095 bytes; ignored\n");
            return;
        }
        memcpy(stats_file, given, n + 1);
        return;
    }
    int64_t v;
    if (!option_parse(given, &v)) {
        warn_value(d, given, " is not a number", d->def, " (the default)");
        return;
    }
    if (d->kind == OPT_FLAG && v > 1) {
        warn_value(d, given, " is not 0 or 1", 1, "");
        v = 1;
    } else if (v < d->min && !(d->zero_ok && v == 0)) {
        warn_value(d, given, " is below the least value", d->min, "");
        v = d->min;
    } else if (v > d->max) {
        warn_value(d, given, " is above the greatest value", d->max, "");
        v = d->max;
    }
    *slot = v;
}

static bool is_tool_name(const char *entry, size_t len)
{
    for (size_t i = 0; i < sizeof tool_names / sizeof tool_names[0]; i++) {
        size_t n = strlen(tool_names[i]);
        bool prefix = tool_names[i][n - 1] == '_';
        if (prefix ? len >= n && strncmp(entry, tool_names[i], n) == 0
                   : len == n && strncmp(entry, tool_names[i], n) == 0)
            return true;
    }
    return false;
}

static void option_apply(const char *entry)
{
    if (strncmp(entry, "HAKMEM_", 7) != 0) return;
    const char *eq = strchr(entry, '=');
    size_t len = eq ? (size_t)(eq - entry) : strlen(entry);
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        const struct hak_option_desc *d = &hak_option_table[i];
        if (strlen(d->name) == len && strncmp(entry, d->name, len) == 0) {
            if (eq) apply(d, &hak_option_value[i], eq + 1);
            return;
        }
    }
    if (is_tool_name(entry, len)) return;
    _hak_write_str(2, "hakmem: unknown option ");
    /* The name only: its value may be long, or private. */
    char name[64];
    size_t n = len < sizeof name - 1 ? len : sizeof name - 1;
    memcpy(name, entry, n);
    name[n] = '\0';
    _hak_write_str(2, name);
    _hak_write_str(2, " ignored (HAKMEM_VERBOSE=1 lists the options)\n");
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
    for (int i = 0; i < HAK_OPT_COUNT; i++) hak_option_value[i] = hak_option_table[i].def;
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
        const struct hak_option_desc *d = &hak_option_table[i];
        _hak_write_str(fd, "hakmem: option ");
        _hak_write_str(fd, d->name);
        _hak_write_str(fd, "=");
        if (d->kind == OPT_TEXT) {
            const char *t = _hak_option_text((enum hak_option_id)i);
            _hak_write_str(fd, t ? t : "");
        } else {
            write_value(fd, d, hak_option_value[i]);
        }
        _hak_write_str(fd, " (");
        _hak_write_str(fd, d->doc);
        _hak_write_str(fd, ")\n");
    }
}
