/*
 * cmd_apply.c - `headershim apply`: replay what a server wrote on one
 * connection through the real engine and write exactly what the shim
 * would put on the wire (INTERFACE.md "The command").
 *
 * The engine is driven through the same entry points the interposer uses
 * (hs_conn_read for the request side, hs_io_writev for the responses,
 * hs_io_flush at the end), against a kernel that takes every byte and
 * writes it to standard output. Input is fed in 64 KiB pieces as it is
 * read, so a capture of any size streams; the engine's output does not
 * depend on how the bytes were cut.
 */
#include "cli.h"
#include "http1_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct apply_opts {
    const char *policy;
    const char *requests;
    const char *method;
    const char *path;
    const char *host;
    int port;
    bool tls;
    bool csp_report_only;
    const char *input;
} apply_opts;

/* ---- the kernel: everything accepted, written to standard output ---- */

typedef struct stdout_sink {
    bool failed;
    int err;
} stdout_sink;

static ssize_t sink_sendv(void *ctx, const struct iovec *iov, int iovcnt,
                          int flags)
{
    (void)flags;
    stdout_sink *s = ctx;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len != 0 &&
            fwrite(iov[i].iov_base, 1, iov[i].iov_len, stdout) !=
                iov[i].iov_len) {
            s->failed = true;
            s->err = errno ? errno : EIO;
            return -s->err;
        }
        total += iov[i].iov_len;
    }
    return (ssize_t)total;
}

/* apply only ever calls hs_io_writev: the engine has no reason to reach
 * these, and says so with ENOSYS if it does. */
static ssize_t sink_sendfile(void *ctx, int in_fd, off_t *offset, size_t n)
{
    (void)ctx, (void)in_fd, (void)offset, (void)n;
    return -ENOSYS;
}

static ssize_t sink_splice(void *ctx, int in_fd, loff_t *off_in, size_t len,
                           unsigned flags)
{
    (void)ctx, (void)in_fd, (void)off_in, (void)len, (void)flags;
    return -ENOSYS;
}

static ssize_t sink_pread(void *ctx, int fd, void *buf, size_t n, off_t off)
{
    (void)ctx, (void)fd, (void)buf, (void)n, (void)off;
    return -ENOSYS;
}

static bool sink_is_blocking(void *ctx, int flags)
{
    (void)ctx, (void)flags;
    return true;
}

static int sink_wait_writable(void *ctx, int timeout_ms)
{
    (void)ctx, (void)timeout_ms;
    return 1;
}

/* ---- events: what a user replaying a capture needs to know ---- */

static void report_event(void *ctx, const hs_event *ev)
{
    const size_t *max_header = ctx;
    const char *why = ev->why ? ev->why : "unknown reason";
    switch (ev->kind) {
    case HS_EVENT_DESYNC:
        cli_err("apply: desync: %s; the rest of the connection passes "
                "through unchanged", why);
        break;
    case HS_EVENT_OVERSIZE:
        cli_err("apply: a header block is over HEADERSHIM_MAX_HEADER (%zu "
                "bytes); it and the rest of the connection pass through "
                "unchanged", *max_header);
        break;
    case HS_EVENT_ERROR:
        cli_err("apply: rewrite skipped (%s); the block goes out unchanged",
                why);
        break;
    case HS_EVENT_REWRITE:
    case HS_EVENT_REPORT:
        break;
    }
}

/* ---- the command line ---- */

static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!hs_http1_tchar[(unsigned char)*s])
            return false;
    return true;
}

/* A request target or Host value that fits in a request head unchanged:
 * visible ASCII, no blanks (RFC 9112 3.2). */
static bool is_visible(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

static int parse_args(int argc, char **argv, apply_opts *o)
{
    int i = 0;
    bool only_files = false;
    while (i < argc) {
        const char *a = argv[i];
        const char *v;
        int r = 0;
        if (only_files || a[0] != '-' || strcmp(a, "-") == 0) {
            if (o->input) {
                cli_err("apply: expected at most one input FILE");
                return -1;
            }
            o->input = a;
            i++;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_files = true;
            i++;
        } else if (strcmp(a, "--tls") == 0) {
            o->tls = true;
            i++;
        } else if (strcmp(a, "--csp-report-only") == 0) {
            o->csp_report_only = true;
            i++;
        } else if ((r = cli_opt_value(argc, argv, &i, "-p", &v)) ||
                   (r = cli_opt_value(argc, argv, &i, "--policy", &v))) {
            o->policy = v;
        } else if ((r = cli_opt_value(argc, argv, &i, "--requests", &v))) {
            o->requests = v;
        } else if ((r = cli_opt_value(argc, argv, &i, "--method", &v))) {
            o->method = v;
        } else if ((r = cli_opt_value(argc, argv, &i, "--path", &v))) {
            o->path = v;
        } else if ((r = cli_opt_value(argc, argv, &i, "--host", &v))) {
            o->host = v;
        } else if ((r = cli_opt_value(argc, argv, &i, "--port", &v))) {
            char *end;
            errno = 0;
            long port = strtol(v, &end, 10);
            if (errno || *v < '0' || *v > '9' || *end || port > 65535) {
                cli_err("apply: --port: invalid port '%s' (expected 0 to "
                        "65535)", v);
                return -1;
            }
            o->port = (int)port;
        } else {
            cli_err("apply: unknown option '%s' (try 'headershim --help')",
                    a);
            return -1;
        }
        if (r < 0)
            return -1;
    }
    if (o->method && !is_token(o->method)) {
        cli_err("apply: --method: '%s' is not a method (an RFC 9110 token)",
                o->method);
        return -1;
    }
    if (o->path && !is_visible(o->path)) {
        cli_err("apply: --path: '%s' is not a request target (visible "
                "ASCII, no blanks)", o->path);
        return -1;
    }
    if (o->host && !is_visible(o->host)) {
        cli_err("apply: --host: '%s' is not a host (visible ASCII, no "
                "blanks)", o->host);
        return -1;
    }
    if (o->requests && (o->method || o->path || o->host)) {
        /* With --requests every response answers the request it pairs
         * with, or none; an assumed request would blur that. */
        cli_err("apply: --requests cannot be combined with --method, "
                "--path or --host");
        return -1;
    }
    return 0;
}

/* Without --requests, every response answers one assumed request. No
 * --host means no Host line, so `when host` matches nothing. */
static bool assume_request(hs_conn *c, const apply_opts *o)
{
    hs_buf head = {0};
    const char *m = o->method ? o->method : "GET";
    const char *p = o->path ? o->path : "/";
    bool ok = hs_buf_append(&head, m, strlen(m)) &&
              hs_buf_append(&head, " ", 1) &&
              hs_buf_append(&head, p, strlen(p)) &&
              hs_buf_append(&head, " HTTP/1.1\r\n", 11);
    if (ok && o->host)
        ok = hs_buf_append(&head, "Host: ", 6) &&
             hs_buf_append(&head, o->host, strlen(o->host)) &&
             hs_buf_append(&head, "\r\n", 2);
    ok = ok && hs_buf_append(&head, "\r\n", 2) &&
         hs_conn_assume_request(c, head.p, head.len);
    hs_buf_free(&head);
    return ok;
}

/* Feeds the responses to the engine as they are read. Returns 0, or an
 * exit status after a message. */
static int replay(hs_conn *c, const hs_kernel *k, stdout_sink *sink,
                  const char *input)
{
    bool use_stdin = input == NULL || strcmp(input, "-") == 0;
    const char *name = use_stdin ? "standard input" : input;
    int fd = use_stdin ? STDIN_FILENO
                       : open(input, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        cli_err("apply: %s: %s", input, strerror(errno));
        return CLI_EXIT_IO;
    }
    static char piece[65536];
    int rc = 0;
    for (;;) {
        ssize_t got = read(fd, piece, sizeof piece);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            cli_err("apply: %s: %s", name, strerror(errno));
            rc = CLI_EXIT_IO;
            break;
        }
        if (got == 0)
            break;
        size_t done = 0;
        while (done < (size_t)got) {
            struct iovec iov = {piece + done, (size_t)got - done};
            ssize_t n = hs_io_writev(c, k, &iov, 1, 0);
            if (n <= 0) {
                if (sink->failed)
                    cli_err("apply: cannot write standard output: %s",
                            strerror(sink->err));
                else /* the sink takes everything: the engine refused */
                    cli_err("apply: the engine refused the bytes: %s",
                            strerror(n < 0 ? (int)-n : EIO));
                rc = CLI_EXIT_IO;
                break;
            }
            done += (size_t)n;
        }
        if (rc)
            break;
    }
    if (!use_stdin)
        close(fd);
    if (rc == 0) {
        int fr = hs_io_flush(c, k, 0);
        if (fr < 0 || fflush(stdout) != 0) {
            cli_err("apply: cannot write standard output: %s",
                    strerror(fr < 0 ? -fr : errno));
            rc = CLI_EXIT_IO;
        }
    }
    return rc;
}

int cli_apply(int argc, char **argv)
{
    apply_opts o = {.port = -1};
    if (argc == 1 &&
        (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        cli_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (parse_args(argc, argv, &o) != 0)
        return CLI_EXIT_USAGE;

    hs_engine_config cfg = {0};
    cfg.on_desync = HS_DESYNC_CLOSE;
    cfg.on_event = report_event;
    if (!cli_env_csp(&cfg.rewrite.csp_report_only) ||
        !cli_env_size("HEADERSHIM_MAX_HEADER", &cfg.max_header) ||
        !cli_env_size("HEADERSHIM_MAX_OUTPUT", &cfg.rewrite.max_output))
        return CLI_EXIT_INVALID;
    if (o.csp_report_only)
        cfg.rewrite.csp_report_only = true;
    size_t max_header = cfg.max_header ? cfg.max_header : 65536;

    hs_buf requests = {0};
    if (o.requests && cli_read_all(o.requests, &requests) != 0) {
        cli_err("apply: --requests: %s: %s", o.requests, strerror(errno));
        hs_buf_free(&requests);
        return CLI_EXIT_IO;
    }

    hs_policy *policy = cli_policy_load(o.policy ? o.policy : "auto");
    if (policy == NULL) {
        hs_buf_free(&requests);
        return CLI_EXIT_INVALID;
    }
    cfg.policy = policy;

    int rc = CLI_EXIT_OK;
    hs_conn *c = hs_conn_new(&cfg, o.port, o.tls, &max_header);
    if (c == NULL) {
        cli_err("apply: out of memory");
        rc = CLI_EXIT_IO;
    } else {
        bool ok = true;
        if (o.requests) {
            if (requests.len)
                hs_conn_read(c, requests.p, requests.len);
        } else {
            ok = assume_request(c, &o);
        }
        if (!ok) {
            cli_err("apply: out of memory");
            rc = CLI_EXIT_IO;
        } else {
            stdout_sink sink = {0};
            hs_kernel k = {
                .ctx = &sink,
                .sendv = sink_sendv,
                .sendfile = sink_sendfile,
                .splice = sink_splice,
                .pread = sink_pread,
                .is_blocking = sink_is_blocking,
                .wait_writable = sink_wait_writable,
            };
            rc = replay(c, &k, &sink, o.input);
        }
        hs_conn_free(c);
    }
    hs_policy_free(policy);
    hs_buf_free(&requests);
    return rc;
}
