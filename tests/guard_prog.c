/* guard_prog.c: misuses for tests/test_guard.sh, run with HAKMEM_GUARD_SAMPLE=1.
 *   guard_prog overflow1    a 100-byte block written one byte past its end, then freed
 *   guard_prog overflow16   a 112-byte block written one byte past its end (the guard page)
 *   guard_prog uaf          a 100-byte block written after it was freed
 *   guard_prog churn        ordinary work: every block's contents checked */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    if (strcmp(argv[1], "overflow1") == 0) {
        char *p = malloc(100);
        sink = p;
        p[100] = 'x';
        free(p);
    } else if (strcmp(argv[1], "overflow16") == 0) {
        char *p = malloc(112);
        sink = p;
        p[112] = 'x';
    } else if (strcmp(argv[1], "uaf") == 0) {
        char *p = malloc(100);
        sink = p;
        free(p);
        p[10] = 'x';
    } else if (strcmp(argv[1], "churn") == 0) {
        static char *keep[512];
        for (int i = 0; i < 200000; i++) {
            int k = i % 512;
            if (keep[k] != NULL) {
                size_t n = (size_t)(k * 37 % 3000) + 1;
                for (size_t j = 0; j < n; j++)
                    if (keep[k][j] != (char)k) return 3;
                free(keep[k]);
            }
            size_t n = (size_t)(k * 37 % 3000) + 1;
            keep[k] = malloc(n);
            memset(keep[k], k, n);
            keep[k] = realloc(keep[k], n);
        }
        for (int k = 0; k < 512; k++) free(keep[k]);
    } else {
        return 2;
    }
    puts("survived");
    return 0;
}
