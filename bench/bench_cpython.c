/* bench_cpython: a real program, CPython running an allocation-heavy script.
 *
 *   bench_cpython [WORKLOAD] SCALE [SCRIPT [PYTHON]]
 *   bench_cpython --smoke
 *
 * Runs PYTHON (default: $BENCH_PYTHON, else python3 from PATH) on SCRIPT
 * (default: bench_cpython.py beside this program's sources) with arguments
 * WORKLOAD (one of the script's workloads: json, dict...; default mixed) and
 * SCALE. CPython's allocator is chosen by $BENCH_CPYTHON_MALLOC:
 *   malloc    (the default) PYTHONMALLOC=malloc: every Python object is
 *             allocated by the process allocator, which LD_PRELOAD chooses as
 *             for the other benchmarks (the child inherits it);
 *   pymalloc  stock CPython: PYTHONMALLOC=pymalloc, pymalloc's arenas for
 *             small objects (run it with nothing preloaded);
 *   pymem     stock CPython with hakmem.pymem.install() run first by the
 *             script: needs $BENCH_CPYTHON_PYMEM, the directory holding the
 *             hakmem package (the script runs with -S, without site-packages).
 * The run is timed from outside: wall time from fork to exit, CPU time and
 * peak RSS from the child's rusage, interpreter start-up included, as a user
 * would see it.
 *
 * Before the timed run an untimed probe of the same interpreter, with the
 * same environment, reports the real executable (so a wrapper script such as
 * a pyenv shim is not timed), its version, and which file defines the malloc
 * the interpreter calls (found with ctypes and dladdr). That path is printed
 * as allocator=, so run.sh checks the allocator of the Python process, not of
 * this launcher. If the probe cannot tell (no ctypes), allocator= is this
 * launcher's own and probe_allocator=unknown says so.
 *
 * ops_per_s is runs of the script per second (1 / wall_s).
 * Exit 77 (automake's "skipped") when there is no Python to run.
 *
 * Output, one line:
 *   bench_cpython workload= scale= malloc_mode= python= python_version= ops_per_s=
 *     cpu_s= wall_s= peak_rss_kb= probe_allocator= allocator_version= allocator=
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"

#ifndef BENCH_CPYTHON_SCRIPT
#define BENCH_CPYTHON_SCRIPT "bench/bench_cpython.py"
#endif

/* Prints three lines: the real executable, the version, and the file that
 * defines malloc as the interpreter resolves it. */
static const char probe_src[] =
    "import sys, platform\n"
    "print(sys.executable)\n"
    "print(platform.python_version())\n"
    "try:\n"
    "    import ctypes\n"
    "    class Info(ctypes.Structure):\n"
    "        _fields_ = [('fname', ctypes.c_char_p), ('fbase', ctypes.c_void_p),\n"
    "                    ('sname', ctypes.c_char_p), ('saddr', ctypes.c_void_p)]\n"
    "    libc = ctypes.CDLL(None)\n"
    "    info = Info()\n"
    "    addr = ctypes.cast(libc.malloc, ctypes.c_void_p)\n"
    "    libc.dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(Info)]\n"
    "    ok = libc.dladdr(addr, ctypes.byref(info))\n"
    "    print(info.fname.decode() if ok and info.fname else 'unknown')\n"
    "except Exception:\n"
    "    print('unknown')\n";

/* PYTHONMALLOC for the child: "malloc" or "pymalloc" (set by main). */
static const char *python_malloc = "malloc";

/* Runs argv with PYTHONMALLOC=python_malloc; stdout goes to `out` (NULL:
 * discarded). Returns the wait status, or -1 (errno set) if it could not
 * start. */
static int run_child(char *const argv[], FILE *out, struct rusage *ru, double *wall)
{
    int fd[2] = {-1, -1};
    if (out != NULL && pipe(fd) != 0)
        return -1;
    double t0 = bench_wall_s();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int sink = out != NULL ? fd[1] : open("/dev/null", O_WRONLY);
        if (sink >= 0)
            dup2(sink, STDOUT_FILENO);
        if (out != NULL)
            close(fd[0]);
        setenv("PYTHONMALLOC", python_malloc, 1);
        execvp(argv[0], argv);
        _exit(errno == ENOENT ? 127 : 126);
    }
    if (out != NULL) {
        close(fd[1]);
        char buf[4096];
        ssize_t n;
        while ((n = read(fd[0], buf, sizeof buf)) > 0)
            fwrite(buf, 1, (size_t)n, out);
        close(fd[0]);
    }
    int status;
    while (wait4(pid, &status, 0, ru) < 0)
        if (errno != EINTR)
            return -1;
    *wall = bench_wall_s() - t0;
    return status;
}

/* Line `n` (0-based) of `text`, without its newline, into `dst`. */
static void nth_line(const char *text, int n, char *dst, size_t cap)
{
    while (n-- > 0 && text != NULL && (text = strchr(text, '\n')) != NULL)
        text++;
    snprintf(dst, cap, "%s", text != NULL && *text != '\0' ? text : "unknown\n");
    dst[strcspn(dst, "\n")] = '\0';
    for (char *c = dst; *c != '\0'; c++)
        if (*c == ' ' || *c == '=')
            *c = '_';
}

int main(int argc, char **argv)
{
    const char *scale = "8", *script = BENCH_CPYTHON_SCRIPT, *workload = "mixed";
    const char *python = getenv("BENCH_PYTHON");
    if (python == NULL || *python == '\0')
        python = "python3";
    const char *mode = getenv("BENCH_CPYTHON_MALLOC");
    if (mode == NULL || *mode == '\0')
        mode = "malloc";
    if (strcmp(mode, "malloc") != 0 && strcmp(mode, "pymalloc") != 0 &&
        strcmp(mode, "pymem") != 0) {
        fprintf(stderr, "bench_cpython: BENCH_CPYTHON_MALLOC must be malloc, pymalloc or "
                        "pymem, not %s\n", mode);
        return 2;
    }
    python_malloc = strcmp(mode, "malloc") == 0 ? "malloc" : "pymalloc";
    if (strcmp(mode, "pymem") != 0) {
        unsetenv("BENCH_CPYTHON_PYMEM"); /* the script installs hakmem's hooks when set */
    } else {
        const char *dir = getenv("BENCH_CPYTHON_PYMEM");
        if (dir == NULL || *dir == '\0') {
            fprintf(stderr, "bench_cpython: BENCH_CPYTHON_MALLOC=pymem needs "
                            "BENCH_CPYTHON_PYMEM, the directory holding the hakmem package\n");
            return 2;
        }
    }

    /* A workload name starts with a letter, SCALE with a digit. */
    int first = argc >= 2 && argv[1][0] >= 'a' && argv[1][0] <= 'z' ? 2 : 1;
    if (first == 2)
        workload = argv[1];
    if (argc == 2 && strcmp(argv[1], "--smoke") == 0) {
        scale = "1";
        workload = "mixed";
    } else if (argc > first && argc <= first + 3) {
        scale = argv[first];
        bench_parse_count("SCALE", scale);
        if (argc >= first + 2)
            script = argv[first + 1];
        if (argc == first + 3)
            python = argv[first + 2];
    } else {
        fprintf(stderr, "usage: bench_cpython [WORKLOAD] SCALE [SCRIPT [PYTHON]]\n"
                        "       bench_cpython --smoke\n");
        return 2;
    }
    if (access(script, R_OK) != 0) {
        fprintf(stderr, "bench_cpython: cannot read %s\n", script);
        return 2;
    }

    /* The probe: untimed. */
    char *probe_out = NULL;
    size_t probe_len = 0;
    FILE *mem = open_memstream(&probe_out, &probe_len);
    struct rusage ru;
    double wall;
    char *const probe_argv[] = {(char *)python, "-S", "-c", (char *)probe_src, NULL};
    int st = mem != NULL ? run_child(probe_argv, mem, &ru, &wall) : -1;
    if (mem != NULL)
        fclose(mem);
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 127) {
            fprintf(stderr, "bench_cpython: no %s to run; skipped\n", python);
            return 77;
        }
        fprintf(stderr, "bench_cpython: the probe run of %s failed\n", python);
        return 1;
    }
    char exe[4096], version[64], alloc[4096];
    nth_line(probe_out, 0, exe, sizeof exe);
    nth_line(probe_out, 1, version, sizeof version);
    nth_line(probe_out, 2, alloc, sizeof alloc);
    free(probe_out);
    if (exe[0] != '/') /* sys.executable can be empty in odd embeddings */
        snprintf(exe, sizeof exe, "%s", python);

    /* The timed run. */
    char *const run_argv[] = {exe, "-S", (char *)script, (char *)workload, (char *)scale,
                              NULL};
    st = run_child(run_argv, NULL, &ru, &wall);
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_cpython: %s %s %s %s failed (status %#x)\n", exe, script,
                workload, scale, st);
        return 1;
    }
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;

    printf("bench_cpython workload=%s scale=%s malloc_mode=%s python=%s python_version=%s "
           "ops_per_s=%.4f cpu_s=%.6f wall_s=%.6f peak_rss_kb=%ld probe_allocator=%s "
           "allocator_version=%s allocator=%s\n",
           workload, scale, mode, exe, version, wall > 0 ? 1.0 / wall : 0.0, cpu, wall, ru.ru_maxrss,
           strcmp(alloc, "unknown") == 0 ? "unknown" : "ok", bench_allocator_version(),
           strcmp(alloc, "unknown") == 0 ? bench_allocator_path() : alloc);
    return 0;
}
