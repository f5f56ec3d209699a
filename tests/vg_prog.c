/* vg_prog.c: small programs for tests/test_valgrind.sh, run under valgrind's
 * memcheck with hakmem preloaded (the libhakmem_vg build, which tells
 * memcheck about its blocks). Each mode either is clean or makes exactly one
 * kind of mistake that memcheck must report. */
#include <dlfcn.h> /* -D_GNU_SOURCE: RTLD_DEFAULT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int sink;

/* First-class heaps, looked up in the preloaded hakmem (this program links
 * no allocator): a heap's blocks are memcheck's blocks too, and destroy frees
 * them all. */
static void *heap_call(const char *name)
{
    void *f = dlsym(RTLD_DEFAULT, name);
    if (f == NULL) {
        fprintf(stderr, "vg_prog: %s not found: preload hakmem\n", name);
        exit(2);
    }
    return f;
}

static int heap_mode(const char *mode)
{
    void *(*heap_new)(void);
    void *(*heap_alloc)(void *, size_t, size_t);
    void (*heap_destroy)(void *);
    *(void **)&heap_new = heap_call("hak_heap_new");
    *(void **)&heap_alloc = heap_call("hak_heap_alloc");
    *(void **)&heap_destroy = heap_call("hak_heap_destroy");
    void *h = heap_new();
    char *v[100];
    for (int i = 0; i < 100; i++) {
        size_t n = (size_t)(i * 131) % 3000 + 1 + (i % 40 == 0 ? 300000 : 0);
        v[i] = heap_alloc(h, n, i % 3 == 0 ? 64 : 16);
        memset(v[i], i, n);
    }
    for (int i = 0; i < 100; i += 3) v[i] = realloc(v[i], (size_t)i * 70 + 1); /* stays in h */
    for (int i = 0; i < 100; i += 4) free(v[i]);
    sink += v[1][0];
    heap_destroy(h); /* the rest go with it: no leak */
    if (strcmp(mode, "heap-uaf") == 0) sink = v[2][5]; /* read after destroy */
    else puts("heap clean done");
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "clean";
    if (strncmp(mode, "heap", 4) == 0) return heap_mode(mode);
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
