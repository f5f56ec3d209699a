/* os.h: the platform layer. Every call to the kernel that concerns memory or
 * the machine goes through here (mmap, munmap, mprotect, madvise, mremap, the
 * page size, the address-space limit, the CPU count, the clock, random bytes,
 * reading a /proc file), so that counting, fault injection and a port to
 * another OS touch one file. No other file of lib/ includes a system header
 * for these (tests/test_layers.sh checks it); message.c's write(2) and
 * abort(3) for diagnostics sit below, since every layer may need them. */
#ifndef HAK_OS_H
#define HAK_OS_H

#include "platform.h"

/* ---- memory ---------------------------------------------------------------- */

/* Fresh zeroed read-write anonymous memory, or NULL. */
HAK_HIDDEN void *_hak_os_map(size_t size);
/* Address space only: read-write, MAP_NORESERVE, untouched pages cost nothing. */
HAK_HIDDEN void *_hak_os_reserve(size_t size);
/* Address space only, inaccessible until committed: costs no memory, and
 * under strict overcommit accounting no commit charge either. */
HAK_HIDDEN void *_hak_os_reserve_none(size_t size);
/* Makes reserved pages read-write (a mapping call: may fail, ENOMEM). */
HAK_HIDDEN bool _hak_os_commit(void *p, size_t size);
HAK_HIDDEN void _hak_os_unmap(void *p, size_t size);
/* Drops the pages' contents and their memory; they read as zero afterwards. */
HAK_HIDDEN bool _hak_os_purge(void *p, size_t size);
/* Asks for transparent huge pages over [p, p + size) (2 MiB-aligned pages
 * faulted as one; a whole one purged in one step). Advice only: nothing
 * happens where the kernel has them off. */
HAK_HIDDEN void _hak_os_advise_huge(void *p, size_t size);
/* Grows or shrinks a mapping, maybe moving it; NULL on failure (old one intact). */
HAK_HIDDEN void *_hak_os_remap(void *p, size_t old_size, size_t new_size);

/* Makes pages read-write (rw) or inaccessible; false if the kernel refuses. */
HAK_HIDDEN bool _hak_os_protect(void *p, size_t size, bool rw);

/* Debug builds: make the Nth / every Kth mapping call and every Kth purge
 * fail as the kernel would (0: never), so that tests can show every failure
 * ends as NULL + ENOMEM or as memory kept. Release builds ignore it. */
HAK_HIDDEN void _hak_os_set_faults(uint64_t map_nth, uint64_t map_every, uint64_t purge_every);

/* ---- the machine ----------------------------------------------------------- */

/* The kernel's page size (4 KiB on x86-64, up to 64 KiB on aarch64). */
HAK_HIDDEN size_t _hak_os_page_size(void);
/* The soft RLIMIT_AS in bytes; 0 when there is none. */
HAK_HIDDEN uint64_t _hak_os_as_limit(void);
/* CPUs this process may run on (at least 1). */
HAK_HIDDEN unsigned _hak_os_cpu_count(void);
/* Monotonic milliseconds, coarse (a vDSO read, no system call). */
HAK_HIDDEN uint64_t _hak_os_now_ms(void);
/* n bytes from the kernel's random source without allocating and without
 * blocking; false if none could be had (then buf holds weaker bytes: the
 * auxiliary vector's AT_RANDOM mixed with addresses and the clock). */
HAK_HIDDEN bool _hak_os_random(void *buf, size_t n);
/* The calling thread's id (gettid). */
HAK_HIDDEN long _hak_os_tid(void);
/* True once thread tid of this process has exited (the kernel no longer
 * knows it); errno is kept. */
HAK_HIDDEN bool _hak_os_thread_gone(long tid);
/* Calls fn with the faulting address on the next SIGSEGV, then puts back
 * the disposition that was there before (the program's handler or the
 * default) and returns, so that the fault repeats under it: the program's
 * own handler still runs, and a crash still crashes. Async-signal-safe fn
 * only. */
HAK_HIDDEN void _hak_os_on_segv(void (*fn)(void *addr));
/* The process id, and the program's name (its file name, without allocating). */
HAK_HIDDEN long _hak_os_pid(void);
HAK_HIDDEN const char *_hak_os_program_name(void);
/* Opens a file to append to (created 0644); -1 on failure, errno kept. */
HAK_HIDDEN int _hak_os_open_append(const char *path);
HAK_HIDDEN void _hak_os_close(int fd);
/* Reads up to cap - 1 bytes of a file (a /proc file) into buf and ends them
 * with a NUL; returns the bytes read (0 when it cannot be read). */
HAK_HIDDEN size_t _hak_os_read_file(const char *path, char *buf, size_t cap);

#endif
