/* message.c: diagnostics that work inside the allocator.
 *
 * No stdio: printf may allocate, and these run from malloc's own slow paths,
 * from free() on a corrupt pointer, and at exit after libc tore down stdio.
 */
#include "platform.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void _hak_write_str(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

void _hak_write_u64(int fd, uint64_t v)
{
    char buf[24];
    char *p = buf + sizeof buf;
    *--p = '\0';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    _hak_write_str(fd, p);
}

void _hak_write_hex(int fd, uint64_t v)
{
    char buf[24];
    char *p = buf + sizeof buf;
    *--p = '\0';
    do {
        *--p = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0);
    *--p = 'x';
    *--p = '0';
    _hak_write_str(fd, p);
}

void _hak_fatal_ptr(const char *what, const char *problem, const void *ptr)
{
    _hak_write_str(2, "hakmem: ");
    _hak_write_str(2, what);
    _hak_write_str(2, "(): ");
    _hak_write_str(2, problem);
    _hak_write_str(2, " ");
    _hak_write_hex(2, (uint64_t)(uintptr_t)ptr);
    _hak_write_str(2, "\n");
    abort();
}

void _hak_fatal(const char *msg)
{
    _hak_write_str(2, "hakmem: ");
    _hak_write_str(2, msg);
    _hak_write_str(2, "\n");
    abort();
}
