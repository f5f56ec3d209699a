/* test_misuse.c: deliberate misuse must stop the process with a clear message.
 *
 * Each case runs in a fork()ed child whose stderr goes into a pipe. The
 * parent checks that the child died of SIGABRT and that what it printed
 * contains the expected text. The cases are those the release build
 * promises (hakmem.h: "hakmem: free(): invalid pointer" for a pointer it did
 * not hand out, where that can be seen cheaply), plus the double free of a
 * block just freed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hakmem.h"
#include "testutil.h"

#define CHILD_TIMEOUT_S 10

/* ---- the misuses (each runs in the child; returning means not caught) ---- */

static void double_free_tiny(void)
{
    char *p = malloc(32);
    memset(p, 1, 32);
    void *again = tu_launder(p);
    free(p);
    free(again);
}

static void free_stack_address(void)
{
    char buf[64];
    memset(buf, 1, sizeof buf);
    free(tu_launder(buf));
}

static void free_mmap_pointer(void)
{
    void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) _exit(99);
    free(tu_launder(m));
}

static void free_interior_pointer(void)
{
    char *p = malloc(64);
    memset(p, 1, 64);
    free(tu_launder(p + 8)); /* not 16-aligned: no block starts there */
}

static void realloc_stack_address(void)
{
    char buf[64];
    memset(buf, 1, sizeof buf);
    void *q = realloc(tu_launder(buf), 128);
    (void)tu_launder(q);
}

static void hak_free_stack_address(void)
{
    char buf[64];
    memset(buf, 1, sizeof buf);
    hak_free(tu_launder(buf));
}

/* ---- running one case -------------------------------------------------------------------- */

struct misuse {
    const char *name;
    void (*fn)(void);
    const char *expect; /* text stderr must contain */
};

static const struct misuse cases[] = {
    {"double-free-tiny", double_free_tiny, "double free"},
    {"free-stack-address", free_stack_address, "invalid pointer"},
    {"free-mmap-pointer", free_mmap_pointer, "invalid pointer"},
    {"free-interior-pointer-malloc64+8", free_interior_pointer, "invalid pointer"},
    {"realloc-stack-address", realloc_stack_address, "invalid pointer"},
    {"hak_free-stack-address", hak_free_stack_address, "invalid pointer"},
};

static void run_case(const struct misuse *c)
{
    int fd[2];
    if (pipe(fd) != 0) {
        EXPECT(0, "%s: pipe: %s", c->name, strerror(errno));
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        EXPECT(0, "%s: fork: %s", c->name, strerror(errno));
        return;
    }
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core); /* an expected abort: no core file */
        close(fd[0]);
        dup2(fd[1], 2);
        close(fd[1]);
        alarm(CHILD_TIMEOUT_S);
        c->fn();
        _exit(0); /* the misuse went unnoticed */
    }
    close(fd[1]);
    char out[4096];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd[0], out + len, sizeof out - 1 - len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        len += (size_t)r;
        if (len == sizeof out - 1) break;
    }
    out[len] = '\0';
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    /* strip the final newline for the report */
    while (len > 0 && out[len - 1] == '\n') out[--len] = '\0';

    int died_abrt = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    int has_text = strstr(out, c->expect) != NULL;
    char how[64];
    if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
    tu_state()->current = c->name;
    EXPECT(died_abrt, "expected death by SIGABRT, the child %s%s; its stderr: \"%s\"", how,
           WIFEXITED(status) && WEXITSTATUS(status) == 0 ? " (misuse not detected)" : "", out);
    EXPECT(has_text, "stderr does not contain \"%s\": \"%s\"", c->expect, out);
    tu_state()->current = "-";
    printf("%s %-34s %s; stderr: %s\n", died_abrt && has_text ? "ok  " : "FAIL", c->name, how, out);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], cases[i].name) == 0;
        if (!wanted) continue;
        run_case(&cases[i]);
        ran++;
    }
    if (ran == 0) {
        fprintf(stderr, "test_misuse: no case named so\n");
        return 99;
    }
    return tu_finish("test_misuse");
}
