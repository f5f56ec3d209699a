/* guard.c: guarded sampling (guard.h), in the manner of GWP-ASan.
 *
 * A pool of slots is reserved at start-up, inaccessible. A slot is a few
 * pages for the block and one guard page after them that is never made
 * accessible. A sampled block is placed at the end of its slot's pages (16-
 * aligned, so up to 15 bytes short of the guard page; those bytes are
 * filled with a pattern that free checks), so a read or write past it
 * faults at once. When freed, the pages are purged and made inaccessible
 * again, and slots are reused round-robin, so a use after free faults for as
 * long as the slot stays unused (the pool's size in sampled allocations at
 * the least). The fault handler (os.c's SIGSEGV hook) finds the slot from
 * the address and prints what it was, then lets the fault take its course
 * under the program's own disposition.
 */
#define _GNU_SOURCE
#include "guard.h"
#include "os.h"

#include <pthread.h>
#include <string.h>

#define SLOTS 1024u
#define PATTERN 0xd5

enum slot_state { SLOT_EMPTY, SLOT_LIVE, SLOT_FREED };

struct slot {
    uintptr_t block; /* the block's start */
    size_t size;     /* as requested */
    long alloc_tid, free_tid;
    uint32_t state;
};

static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t pool_base, pool_end;
static size_t page, slot_pages, slot_bytes; /* data pages; slot = data + guard */
static struct slot slots[SLOTS];
static uint32_t next_slot;

void _hak_guard_lock(void) { pthread_mutex_lock(&guard_lock); }
void _hak_guard_unlock(void) { pthread_mutex_unlock(&guard_lock); }
void _hak_guard_reset_lock(void) { pthread_mutex_init(&guard_lock, NULL); }

static void write_size(int fd, const char *label, uint64_t v)
{
    _hak_write_str(fd, label);
    _hak_write_u64(fd, v);
}

/* SIGSEGV: if the address is in the pool, say which allocation it was. */
static void guard_fault(void *addr)
{
    uintptr_t a = (uintptr_t)addr;
    if (a < pool_base || a >= pool_end) return;
    const struct slot *s = &slots[(a - pool_base) / slot_bytes];
    uintptr_t data_end = pool_base + ((a - pool_base) / slot_bytes) * slot_bytes + slot_pages * page;
    _hak_write_str(2, "hakmem: guarded allocation: ");
    if (s->state == SLOT_FREED) {
        _hak_write_str(2, "use after free");
    } else if (s->state == SLOT_LIVE && a >= data_end) {
        write_size(2, "overflow of ", a - (s->block + s->size) + 1);
        _hak_write_str(2, " bytes past the end");
    } else if (s->state == SLOT_LIVE && a < s->block) {
        write_size(2, "underflow of ", s->block - a);
        _hak_write_str(2, " bytes before the start");
    } else {
        _hak_write_str(2, "fault");
    }
    _hak_write_str(2, " at ");
    _hak_write_hex(2, a);
    write_size(2, " of a ", s->size);
    _hak_write_str(2, "-byte block at ");
    _hak_write_hex(2, s->block);
    write_size(2, ", allocated by thread ", (uint64_t)s->alloc_tid);
    if (s->state == SLOT_FREED) write_size(2, ", freed by thread ", (uint64_t)s->free_tid);
    _hak_write_str(2, "\n");
}

bool _hak_guard_init(void)
{
    page = _hak_os_page_size();
    slot_pages = (HAK_GUARD_MAX + page - 1) / page;
    slot_bytes = (slot_pages + 1) * page;
    void *p = _hak_os_reserve_none(SLOTS * slot_bytes);
    if (p == NULL) return false;
    pool_base = (uintptr_t)p;
    pool_end = pool_base + SLOTS * slot_bytes;
    _hak_os_on_segv(guard_fault);
    return true;
}

bool _hak_guard_owns(const void *p) { return (uintptr_t)p - pool_base < pool_end - pool_base; }

void *_hak_guard_alloc(size_t n)
{
    if (pool_base == 0 || n > HAK_GUARD_MAX) return NULL;
    size_t size = n ? n : 1;
    size_t rounded = (size + 15) & ~(size_t)15;
    size_t pages = (rounded + page - 1) / page;
    pthread_mutex_lock(&guard_lock);
    /* Round-robin: a freed slot stays inaccessible as long as possible. */
    struct slot *s = NULL;
    uintptr_t start = 0;
    for (uint32_t i = 0; i < SLOTS; i++) {
        uint32_t k = (next_slot + i) % SLOTS;
        if (slots[k].state != SLOT_LIVE) {
            s = &slots[k];
            start = pool_base + k * slot_bytes + (slot_pages - pages) * page;
            next_slot = k + 1;
            break;
        }
    }
    if (s == NULL || !_hak_os_protect((void *)start, pages * page, true)) {
        pthread_mutex_unlock(&guard_lock);
        return NULL;
    }
    uintptr_t block = start + pages * page - rounded;
    memset((void *)(block + size), PATTERN, rounded - size);
    s->block = block;
    s->size = size;
    s->alloc_tid = _hak_os_tid();
    s->free_tid = 0;
    s->state = SLOT_LIVE;
    pthread_mutex_unlock(&guard_lock);
    return (void *)block;
}

/* The live slot whose block starts at p, under guard_lock; aborts otherwise. */
static struct slot *live_slot(const void *p, const char *what)
{
    struct slot *s = &slots[((uintptr_t)p - pool_base) / slot_bytes];
    if (s->state == SLOT_FREED && s->block == (uintptr_t)p) {
        pthread_mutex_unlock(&guard_lock);
        _hak_fatal_ptr(what, "double free (guarded allocation)", p);
    }
    if (s->state != SLOT_LIVE || s->block != (uintptr_t)p) {
        pthread_mutex_unlock(&guard_lock);
        _hak_fatal_ptr(what, "invalid pointer (guarded pool)", p);
    }
    const unsigned char *tail = (const unsigned char *)(s->block + s->size);
    size_t slack = ((s->size + 15) & ~(size_t)15) - s->size;
    for (size_t i = 0; i < slack; i++)
        if (tail[i] != PATTERN) {
            pthread_mutex_unlock(&guard_lock);
            _hak_write_str(2, "hakmem: guarded allocation: overflow past the end of a ");
            _hak_write_u64(2, s->size);
            _hak_write_str(2, "-byte block, found at free\n");
            _hak_fatal_ptr(what, "overflow past the requested size (guarded allocation)", p);
        }
    return s;
}

void _hak_guard_free(void *p, const char *what)
{
    pthread_mutex_lock(&guard_lock);
    struct slot *s = live_slot(p, what);
    size_t rounded = (s->size + 15) & ~(size_t)15;
    size_t pages = (rounded + page - 1) / page;
    uintptr_t start = s->block + rounded - pages * page;
    /* Purged, so the memory goes back, and inaccessible, so a use faults. */
    _hak_os_purge((void *)start, pages * page);
    _hak_os_protect((void *)start, pages * page, false);
    s->state = SLOT_FREED;
    s->free_tid = _hak_os_tid();
    pthread_mutex_unlock(&guard_lock);
}

size_t _hak_guard_usable(const void *p, const char *what)
{
    pthread_mutex_lock(&guard_lock);
    size_t n = live_slot(p, what)->size;
    pthread_mutex_unlock(&guard_lock);
    return n;
}
