/* large.h: the Large tier: blocks above 256 KiB (and alignments the slabs
 * cannot give), carved from a reserved region whose freed ranges stay
 * resident, or mapped one by one (large.c); each has a header before the
 * block, and a registry answers "is this one of ours?" without touching the
 * pointer. */
#ifndef HAK_LARGE_H
#define HAK_LARGE_H

#include "platform.h"

/* size bytes aligned to align (power of two); zero: contents must read 0.
 * NULL with errno=ENOMEM on failure. */
HAK_HIDDEN void *_hak_large_alloc(size_t size, size_t align, bool zero);
/* false if p is not a live large block (nothing done). */
HAK_HIDDEN bool _hak_large_free(void *p);
/* Usable bytes of a live large block, 0 if p is not one; aborts naming
 * `what` (the caller's entry point) if its header was overwritten. */
HAK_HIDDEN size_t _hak_large_usable(const void *p, const char *what);
HAK_HIDDEN bool _hak_large_owns(const void *p);
/* Resizes a live large block in place (region) or with mremap (mapped);
 * NULL with p intact when it cannot, and then the caller moves it. */
HAK_HIDDEN void *_hak_large_realloc(void *p, size_t size);
HAK_HIDDEN size_t _hak_large_collect(void);
/* The idle purge's check (a clock read; the tier's lock only when a purge
 * is due), for the small tiers' slow paths to call now and then: freed
 * large memory goes back after HAKMEM_LARGE_IDLE_MS also in a program that
 * makes no more large calls. */
HAK_HIDDEN void _hak_large_idle_tick(void);
/* cache_bytes: freed large memory kept resident (HAKMEM_LARGE_CACHE), or
 * cache_live_pct % of the live large memory when that is more
 * (HAKMEM_LARGE_CACHE_PCT); idle_after_ms: unused that long, it goes back
 * (0: never by age). */
HAK_HIDDEN void _hak_large_init(uint64_t cache_bytes, uint64_t cache_live_pct,
                                uint64_t idle_after_ms);
HAK_HIDDEN void _hak_large_lock(void);
HAK_HIDDEN void _hak_large_unlock(void);
HAK_HIDDEN void _hak_large_reset_lock(void);
#if HAK_DEBUG
/* The debug build's canary past a live block's request (block.h): set for
 * n bytes asked for; checked and dropped (realloc, a usable-size query). */
HAK_HIDDEN void _hak_large_debug_request(void *p, size_t n);
HAK_HIDDEN void _hak_large_debug_unrequest(void *p, const char *what);
#endif

#endif
