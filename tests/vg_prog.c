/* vg_prog.c: small programs for tests/test_valgrind.sh, run under valgrind's
 * memcheck with hakmem preloaded (the libhakmem_vg build, which tells
 * memcheck about its blocks). Each mode either is clean or makes exactly one
 * kind of mistake that memcheck must report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int sink;

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "clean";
    if (strcmp(mode, "clean") == 0) {
        /* Every tier and entry point, all freed. */
        void *v[200];
        for (int i = 0; i < 200; i++) {
            size_t n = (size_t)(i * 97) % 5000 + (i % 50 == 0 ? 400000 : 0);
            v[i] = malloc(n);
            memset(v[i], i, n);
        }
        for (int i = 0; i < 200; i += 2) v[i] = realloc(v[i], (size_t)i * 300 + 1);
        for (int i = 0; i < 200; i++) free(v[i]);
        char *z = calloc(100, 10);
        for (int i = 0; i < 1000; i++) sink += z[i];
        free(z);
        void *a = aligned_alloc(4096, 8192);
        memset(a, 1, 8192);
        free(a);
        char *s = strdup("hakmem under memcheck");
        sink += s[3];
        free(s);
        puts("clean done");
        return 0;
    }
    if (strcmp(mode, "uaf") == 0) {
        char *p = malloc(64);
        memset(p, 1, 64);
        free(p);
        sink = p[40]; /* read after free */
        return 0;
    }
    if (strcmp(mode, "leak") == 0) {
        char *p = malloc(100);
        memset(p, 1, 100);
        p = NULL; /* lost */
        return 0;
    }
    if (strcmp(mode, "overrun") == 0) {
        char *p = malloc(24); /* hakmem's block is 32 bytes: memcheck knows the 24 */
        volatile size_t past = 24; /* hidden from the compiler's bounds check */
        p[past] = 1;
        free(p);
        return 0;
    }
    if (strcmp(mode, "uninit") == 0) {
        int *p = malloc(sizeof(int) * 4);
        if (p[2] > 3) sink = 1; /* never written */
        free(p);
        return 0;
    }
    return 2;
}
