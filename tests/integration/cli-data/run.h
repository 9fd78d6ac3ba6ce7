/*
 * run.h - runs build/headershim (or any program) as a child for the
 * command's integration tests (test_cli.c, test_launcher.c) and captures
 * its exit status, standard output and standard error byte for byte.
 *
 * Output goes to temporary files, not pipes, so a child that writes a lot
 * to both can never deadlock against the test.
 */
#ifndef HS_CLI_RUN_H
#define HS_CLI_RUN_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct run_result {
    int status;      /* exit status, or 128 + signal */
    char *out, *err; /* NUL-terminated; lengths below (binary-safe) */
    size_t out_len, err_len;
} run_result;

/* The build directory under test: $HS_BUILD (make check sets it), else
 * "build". Paths are relative to the top of the source tree. */
static inline const char *build_dir(void)
{
    const char *b = getenv("HS_BUILD");
    return b && *b ? b : "build";
}

/* $HS_BUILD/headershim, absolute (tests chdir children elsewhere). */
static inline const char *headershim_path(void)
{
    static char path[4096];
    if (!path[0]) {
        char cwd[2048];
        const char *b = build_dir();
        if (b[0] == '/' || !getcwd(cwd, sizeof cwd))
            snprintf(path, sizeof path, "%s/headershim", b);
        else
            snprintf(path, sizeof path, "%s/%s/headershim", cwd, b);
    }
    return path;
}

static inline char *slurp_fd(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (n + 1 >= cap)
            p = realloc(p, cap *= 2);
        ssize_t got = read(fd, p + n, cap - n - 1);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    p[n] = '\0';
    *len = n;
    return p;
}

/* Runs argv[0] (a path) with argv. in: a file for standard input (NULL:
 * /dev/null). env: "NAME=VALUE" to set or "NAME" to unset, NULL-ended
 * (may be NULL). dir: working directory (NULL: ours). */
static inline run_result run_in(const char *dir, const char *in,
                         const char *const *env, const char *const *argv)
{
    char out_tmpl[] = "/tmp/hs-run-out.XXXXXX";
    char err_tmpl[] = "/tmp/hs-run-err.XXXXXX";
    int out = mkstemp(out_tmpl), err = mkstemp(err_tmpl);
    unlink(out_tmpl);
    unlink(err_tmpl);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(in ? in : "/dev/null", O_RDONLY);
        if (fd < 0) {
            perror(in);
            _exit(99);
        }
        dup2(fd, 0);
        dup2(out, 1);
        dup2(err, 2);
        for (size_t i = 0; env && env[i]; i++) {
            const char *eq = strchr(env[i], '=');
            if (eq) {
                char name[256];
                snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]),
                         env[i]);
                setenv(name, eq + 1, 1);
            } else {
                unsetenv(env[i]);
            }
        }
        if (dir && chdir(dir) != 0)
            _exit(98);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(97);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    run_result r;
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    r.out = slurp_fd(out, &r.out_len);
    r.err = slurp_fd(err, &r.err_len);
    close(out);
    close(err);
    return r;
}

static inline void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

/* Reads a whole file (test data); aborts the test on failure. */
static inline char *read_data(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
        abort();
    }
    char *p = slurp_fd(fd, len);
    close(fd);
    return p;
}

static inline void write_data(const char *path, const char *text, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
    close(fd);
}

#endif /* HS_CLI_RUN_H */
