/* report.h: the statistics snapshot's set-up and hand-over, shared by
 * hak_stats_get (report.c) and hak_heap_stats (heap.c). */
#ifndef HAK_REPORT_H
#define HAK_REPORT_H

#include "platform.h"
#include "../include/hakmem.h"

/* Checks the caller's buffer (NULL or shorter than the fields every version
 * has: EINVAL, false) and starts s empty, with the size to copy back and
 * the version. */
HAK_HIDDEN bool _hak_stats_begin(struct hak_stats *s, const struct hak_stats *out, size_t size);
/* Copies s to out, as much as the caller's struct holds. */
HAK_HIDDEN void _hak_stats_finish(struct hak_stats *out, const struct hak_stats *s);

#endif
