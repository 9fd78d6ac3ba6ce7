/*
 * itest.c - see itest.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

const char *it_build(void)
{
    static char path[4096];
    if (!path[0]) {
        const char *b = getenv("HS_BUILD");
        if (!b || !*b)
            b = "build";
        if (!realpath(b, path))
            snprintf(path, sizeof path, "%s", b);
    }
    return path;
}

const char *it_policy(const char *name)
{
    static char path[8][4096];
    static int next;
    char rel[4096];
    char *out = path[next++ % 8];
    snprintf(rel, sizeof rel, "tests/integration/policies/%s", name);
    if (!realpath(rel, out))
        snprintf(out, 4096, "%s", rel);
    return out;
}

char *it_data(const char *s, size_t *n)
{
    char *d = hs_data_decode(s, n);
    if (!d) {
        fprintf(stderr, "itest: bad DATA %s\n", s);
        abort();
    }
    return d;
}

static void child_env(const char *const *env, bool preload)
{
    /* A clean slate: no HEADERSHIM_* from the caller's environment. */
    extern char **environ;
    for (char **e = environ; *e;) {
        if (!strncmp(*e, "HEADERSHIM_", 11) || !strncmp(*e, "LD_PRELOAD=", 11)) {
            char name[256];
            size_t k = strcspn(*e, "=");
            snprintf(name, sizeof name, "%.*s", (int)k, *e);
            unsetenv(name);
        } else {
            e++;
        }
    }
    /* Under `make SAN=1` the preloaded library and the server both carry
     * ASan: the runtime cannot come first in the list, and the scripted
     * server's small leaks are not what is tested. */
    setenv("ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=0", 0);
    if (preload) {
        char lib[4200];
        snprintf(lib, sizeof lib, "%s/libheadershim.so", it_build());
        setenv("LD_PRELOAD", lib, 1);
    }
    for (; env && *env; env++)
        putenv((char *)*env);
}

static const char *spawn_prog;

static bool spawn(it_server *s, const char *const *env,
                  const char *const *args, bool preload, int sock)
{
    int out[2], err[2];
    memset(s, 0, sizeof *s);
    s->pid = -1;
    if (pipe(out) || pipe(err))
        return false;
    pid_t p = fork();
    if (p < 0)
        return false;
    if (p == 0) {
        if (sock >= 0) {
            dup2(sock, 0);
            dup2(sock, 1);
            dup2(sock, 2);
            close(sock);
        } else {
            dup2(out[1], 1);
            dup2(err[1], 2);
        }
        close(out[0]);
        close(out[1]);
        close(err[0]);
        close(err[1]);
        child_env(env, preload);
        char prog[4200];
        if (spawn_prog)
            snprintf(prog, sizeof prog, "%s", spawn_prog);
        else
            snprintf(prog, sizeof prog, "%s/progs/hs_server", it_build());
        const char *argv[256];
        int n = 0;
        argv[n++] = prog;
        for (; args && *args && n < 255; args++)
            argv[n++] = *args;
        argv[n] = NULL;
        execv(prog, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    s->pid = p;
    s->out_fd = out[0];
    s->err_fd = err[0];
    return true;
}

bool it_read_line(it_server *s, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        struct pollfd pf = {.fd = s->out_fd, .events = POLLIN};
        if (poll(&pf, 1, 10000) <= 0)
            return false;
        char c;
        if (read(s->out_fd, &c, 1) != 1)
            return false;
        if (c == '\n')
            break;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return true;
}

bool it_start(it_server *s, const char *const *env, const char *const *args,
              bool preload)
{
    if (!spawn(s, env, args, preload, -1))
        return false;
    if (args && args[0] && !strcmp(args[0], "--inetd"))
        return true;
    char line[64];
    if (!it_read_line(s, line, sizeof line))
        return false;
    s->port = atoi(line);
    return s->port > 0 || !strcmp(line, "0");
}

bool it_start_prog(it_server *s, const char *prog, const char *const *env,
                   const char *const *args, bool preload)
{
    spawn_prog = prog;
    bool ok = it_start(s, env, args, preload);
    spawn_prog = NULL;
    return ok;
}

bool it_start_inetd(it_server *s, const char *const *env,
                    const char *const *args, int sock)
{
    return spawn(s, env, args, true, sock);
}

int it_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

bool it_send(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t r = send(fd, c, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        c += r;
        n -= (size_t)r;
    }
    return true;
}

static char *drain(int fd, size_t *n, int timeout_ms)
{
    size_t cap = 65536, len = 0;
    char *b = malloc(cap + 1);
    for (;;) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int pr = poll(&pf, 1, timeout_ms);
        if (pr <= 0) {
            free(b);
            return NULL;
        }
        if (len == cap) {
            b = realloc(b, (cap *= 2) + 1);
        }
        ssize_t r = read(fd, b + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == ECONNRESET)
            break;
        if (r < 0) {
            free(b);
            return NULL;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    b[len] = '\0';
    *n = len;
    return b;
}

char *it_recv_all(int fd, size_t *n) { return drain(fd, n, 10000); }

int it_finish(it_server *s, char **err)
{
    int st = 0;
    size_t n;
    char *e = drain(s->err_fd, &n, 15000);
    if (waitpid(s->pid, &st, 0) < 0)
        st = 0xff00;
    if (err)
        *err = e ? e : strdup("");
    else
        free(e);
    close(s->out_fd);
    close(s->err_fd);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

/* ---- the expected bytes, from the core --------------------------------- */

typedef struct mem_kernel {
    hs_buf out;
} mem_kernel;

static ssize_t mk_sendv(void *ctx, const struct iovec *iov, int n, int flags)
{
    (void)flags;
    mem_kernel *m = ctx;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        hs_buf_append(&m->out, iov[i].iov_base, iov[i].iov_len);
        total += iov[i].iov_len;
    }
    return (ssize_t)total;
}
static bool mk_blocking(void *ctx, int flags) { (void)ctx; (void)flags; return true; }
static int mk_wait(void *ctx, int ms) { (void)ctx; (void)ms; return 1; }

static int load_plain(void *ctx, const char *path, char **text, size_t *len,
                      char *why, size_t why_len)
{
    (void)ctx;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, why_len, "cannot be read: %s", strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    size_t r;
    while ((r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            b = realloc(b, cap *= 2);
    }
    fclose(f);
    *text = b;
    *len = n;
    return 0;
}

static void print_diag(void *ctx, const hs_diag *d)
{
    (void)ctx;
    fprintf(stderr, "%s:%u:%u: %s\n", d->file, d->line, d->col, d->message);
}

char *it_expected(const char *policy, const char *req, size_t req_len,
                  const char *resp, size_t resp_len, bool report,
                  size_t *out_len)
{
    hs_policy *p = hs_policy_load(policy, load_plain, NULL, print_diag, NULL);
    if (!p)
        return NULL;
    hs_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.policy = p;
    cfg.report = report;
    cfg.on_desync = HS_DESYNC_PASSTHROUGH;
    hs_conn *c = hs_conn_new(&cfg, -1, false, NULL);
    mem_kernel m = {{0}};
    hs_kernel k;
    memset(&k, 0, sizeof k);
    k.ctx = &m;
    k.sendv = mk_sendv;
    k.is_blocking = mk_blocking;
    k.wait_writable = mk_wait;
    if (req_len)
        hs_conn_read(c, req, req_len);
    struct iovec v = {(void *)resp, resp_len};
    if (report) {
        hs_buf_append(&m.out, resp, resp_len);
        hs_io_observe(c, &v, 1, resp_len);
    } else {
        size_t done = 0;
        while (done < resp_len) {
            struct iovec w = {(void *)(resp + done), resp_len - done};
            ssize_t r = hs_io_writev(c, &k, &w, 1, 0);
            if (r <= 0)
                break;
            done += (size_t)r;
        }
        hs_io_flush(c, &k, 0);
    }
    (void)v;
    hs_conn_free(c);
    hs_policy_free(p);
    hs_buf_append(&m.out, "", 1);
    *out_len = m.out.len - 1;
    return m.out.p;
}

char *it_exchange(const char *const *env, const char *const *args,
                  const char *req, size_t req_len, bool half_close, size_t *n)
{
    it_server s;
    if (!it_start(&s, env, args, true))
        return NULL;
    int fd = it_connect(s.port);
    if (fd < 0)
        return NULL;
    if (req_len && !it_send(fd, req, req_len))
        return NULL;
    if (half_close)
        shutdown(fd, SHUT_WR);
    char *got = it_recv_all(fd, n);
    close(fd);
    char *err = NULL;
    int st = it_finish(&s, &err);
    if (st != 0) {
        fprintf(stderr, "hs_server exited %d: %s\n", st, err);
        free(got);
        got = NULL;
    }
    free(err);
    return got;
}

bool it_same(const char *got, size_t got_n, const char *want, size_t want_n,
             char *why, size_t why_cap)
{
    if (!got) {
        snprintf(why, why_cap, "no bytes received");
        return false;
    }
    size_t i = 0;
    while (i < got_n && i < want_n && got[i] == want[i])
        i++;
    if (i == got_n && i == want_n)
        return true;
    size_t from = i > 40 ? i - 40 : 0;
    snprintf(why, why_cap,
             "differ at byte %zu (got %zu, want %zu bytes)\n got: %.*s\nwant: %.*s",
             i, got_n, want_n, (int)((got_n > from ? got_n - from : 0) < 120 ? got_n - from : 120),
             got + from, (int)((want_n > from ? want_n - from : 0) < 120 ? want_n - from : 120),
             want + from);
    return false;
}

/* ---- table-driven cases -------------------------------------------------- */

static bool contains(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0)
        return true;
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return true;
    return false;
}

bool it_run_case(const it_case *c, char *why, size_t why_cap)
{
    const char *env[IT_MAX_ENV + 4];
    static char policy_env[4200];
    size_t ne = 0;
    bool has_policy = false;
    for (size_t i = 0; i < IT_MAX_ENV && c->env[i]; i++)
        if (!strncmp(c->env[i], "HEADERSHIM_POLICY=", 18))
            has_policy = true;
    if (!has_policy) {
        snprintf(policy_env, sizeof policy_env, "HEADERSHIM_POLICY=%s",
                 it_policy("test.policy"));
        env[ne++] = policy_env;
    }
    if (c->report)
        env[ne++] = "HEADERSHIM_MODE=report";
    for (size_t i = 0; i < IT_MAX_ENV && c->env[i]; i++)
        env[ne++] = c->env[i];
    env[ne] = NULL;

    size_t req_n = 0, resp_n = 0, want_n = 0, got_n = 0;
    char *req = it_data(c->req ? c->req : "", &req_n);
    char *resp = it_data(c->resp, &resp_n);
    char *want;
    if (c->report || c->unchanged) {
        want = malloc(resp_n + 1);
        memcpy(want, resp, resp_n);
        want_n = resp_n;
    } else {
        const char *spec = has_policy ? NULL : it_policy("test.policy");
        for (size_t i = 0; !spec && i < IT_MAX_ENV && c->env[i]; i++)
            if (!strncmp(c->env[i], "HEADERSHIM_POLICY=", 18))
                spec = c->env[i] + 18;
        want = it_expected(spec, req, req_n, resp, resp_n, false, &want_n);
        if (!want) {
            snprintf(why, why_cap, "%s: the core could not compute the expected bytes", c->name);
            return false;
        }
        if (want_n == resp_n && memcmp(want, resp, resp_n) == 0) {
            snprintf(why, why_cap, "%s: the policy changes nothing here: the case cannot fail", c->name);
            return false;
        }
    }
    /* "read FUNC *" reads the whole request. */
    const char *script[IT_MAX_SCRIPT + 1];
    static char lines[IT_MAX_SCRIPT][64];
    size_t ns = 0;
    for (; ns < IT_MAX_SCRIPT && c->script[ns]; ns++) {
        const char *l = c->script[ns];
        size_t ll = strlen(l);
        if (!strncmp(l, "read ", 5) && ll > 2 && !strcmp(l + ll - 2, " *") && ll < 40) {
            snprintf(lines[ns], sizeof lines[ns], "%.*s %zu", (int)(ll - 2), l, req_n);
            script[ns] = lines[ns];
        } else {
            script[ns] = l;
        }
    }
    script[ns] = NULL;
    char *got = it_exchange(env, script, req, req_n, true, &got_n);
    bool ok = it_same(got, got_n, want, want_n, why, why_cap);
    if (!ok) {
        size_t l = strlen(why);
        snprintf(why + l, why_cap - l, " [%s]", c->name);
    }
    if (ok && c->must_contain) {
        size_t m;
        char *needle = it_data(c->must_contain, &m);
        if (!contains(got, got_n, needle, m)) {
            snprintf(why, why_cap, "%s: missing %s", c->name, c->must_contain);
            ok = false;
        }
        free(needle);
    }
    if (ok && c->must_not_contain) {
        size_t m;
        char *needle = it_data(c->must_not_contain, &m);
        if (contains(got, got_n, needle, m)) {
            snprintf(why, why_cap, "%s: still has %s", c->name, c->must_not_contain);
            ok = false;
        }
        free(needle);
    }
    free(req);
    free(resp);
    free(want);
    free(got);
    return ok;
}
