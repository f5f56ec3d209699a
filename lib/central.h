/* central.h: the per-class shared pool that thread lists refill from and
 * flush to, in batches. One lock per class; never taken on a fast path. */
#ifndef HAK_CENTRAL_H
#define HAK_CENTRAL_H

#include "platform.h"
#include "sizeclass.h"
#include "superslab.h"

/* Takes up to want blocks of class cls into out[0 .. n), the first of them
 * (the lowest address) at out[n - 1], where a thread's stack hands it out
 * first; returns n (0: out of memory). Every block carries the free mark. tc tags
 * the spans for the route trace. slot (a span group's, Tiny classes; else
 * NULL): the span the group owns, carved first and replaced when it runs out.
 * told: the blocks of cls the calling thread last said its stack held; the
 * stack is empty now and will hold what this returns (the stats' count of
 * every thread's cache). */
HAK_HIDDEN unsigned _hak_central_take(unsigned cls, unsigned want, void **out, const void *tc,
                                      hak_span_t **slot, int64_t told);
/* The span in *slot (if any) goes back to the shared lists; *slot = NULL. */
HAK_HIDDEN void _hak_central_disown(unsigned cls, hak_span_t **slot);
/* Gives back n blocks of class cls, their addresses in blocks[0 .. n)
 * (read, not kept). cached_delta: how many more blocks of cls the calling
 * thread's stack now holds than it last said (see take).
 * Checks each is a block start of that class; aborts naming it if not. If
 * the class's lock is taken, the blocks wait in its inbox for the holder,
 * who checks and gives them back before it unlocks (a consumer never
 * sleeps on a producer's refill). */
HAK_HIDDEN void _hak_central_give(unsigned cls, void *const *blocks, unsigned n, int64_t cached_delta);
/* True if p is free on its span (a block freed and flushed, or never carved). */
HAK_HIDDEN bool _hak_central_holds(unsigned cls, const void *p);
/* Releases the empty spans every class keeps; returns bytes released. */
HAK_HIDDEN size_t _hak_central_collect(void);
/* Blocks of class cls handed out of the central pool (in thread lists or in use). */
HAK_HIDDEN uint64_t _hak_central_used(unsigned cls);
/* Blocks of class cls on thread stacks, as each thread last said (at its
 * refills and flushes). */
HAK_HIDDEN int64_t _hak_central_cached(unsigned cls);
/* The calling thread's stack of cls holds cached_delta more blocks than it
 * last said, with none to give back (a flush of a stack it emptied itself). */
HAK_HIDDEN void _hak_central_tell(unsigned cls, int64_t cached_delta);
/* retain_bytes: empty spans kept unpurged, all classes together. */
HAK_HIDDEN void _hak_central_init(uint64_t retain_bytes);
HAK_HIDDEN void _hak_central_lock_all(void);
HAK_HIDDEN void _hak_central_unlock_all(void);
HAK_HIDDEN void _hak_central_reset_locks(void);

#endif
