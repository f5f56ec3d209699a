/* options.h: runtime options, all in one table (options.c), read once at
 * start from HAKMEM_* environment variables without allocating. */
#ifndef HAK_OPTIONS_H
#define HAK_OPTIONS_H

#include "platform.h"

enum hak_option_id {
    HAK_OPT_STATS,
    HAK_OPT_STATS_FILE,
    HAK_OPT_ROUTE_TRACE,
    HAK_OPT_ROUTE_SAMPLE,
    HAK_OPT_TCACHE_BYTES,
    HAK_OPT_RETAIN_BYTES,
    HAK_OPT_LARGE_CACHE,
    HAK_OPT_LARGE_CACHE_PCT,
    HAK_OPT_LARGE_IDLE_MS,
    HAK_OPT_ARENA_SIZE,
    HAK_OPT_VERBOSE,
    HAK_OPT_GUARD_SAMPLE,
    HAK_OPT_FAULT_MAP_NTH,
    HAK_OPT_FAULT_MAP_EVERY,
    HAK_OPT_FAULT_PURGE_EVERY,
    HAK_OPT_COUNT
};

/* Reads the environment (idempotent after the first complete read). */
HAK_HIDDEN void _hak_options_init(void);
HAK_HIDDEN int64_t _hak_option(enum hak_option_id id);
/* A text option's value, NULL when unset. */
HAK_HIDDEN const char *_hak_option_text(enum hak_option_id id);
/* One line per option with its value (HAKMEM_VERBOSE). */
HAK_HIDDEN void _hak_options_print(int fd);

#endif
