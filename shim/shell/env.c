/*
 * env.c - every HEADERSHIM_* variable, read once in the constructor.
 *
 * nginx replaces environ in its workers (interposition.md 5.15), so
 * nothing here may be read later. A bad value is the user's error and is
 * printed as "headershim: VARIABLE: ..." (INTERFACE.md "Environment");
 * the library then passes everything through, or exits 78 (EX_CONFIG)
 * with HEADERSHIM_ON_ERROR=exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shell.h"

hs_config hs_cfg;
static _Atomic size_t held_total;
static bool exit_on_error;
static int nerrors;

static void config_error(const char *var, const char *fmt, const char *val,
                         const char *expected)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, val, expected);
    hs_log_config_error("%s: %s", var, msg);
    nerrors++;
}

/* Returns the index of val in words ("a|b|c"), or -1 after an error. */
static int choose(const char *var, const char *val, const char *words)
{
    int i = hs_config_choice(val, words);
    if (i < 0)
        config_error(var, "unknown value '%s' (expected %s)", val, words);
    return i;
}

static bool parse_port(const char *s, size_t n, unsigned short *out)
{
    if (n == 0 || n > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = (unsigned short)v;
    return true;
}

/* "80,8000-8099": false on a syntax error. */
static bool parse_ports(const char *s, hs_port_range *r, size_t *n)
{
    *n = 0;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        const char *dash = memchr(s, '-', len);
        hs_port_range pr;
        if (dash) {
            if (!parse_port(s, (size_t)(dash - s), &pr.lo) ||
                !parse_port(dash + 1, len - (size_t)(dash - s) - 1, &pr.hi) ||
                pr.lo > pr.hi)
                return false;
        } else {
            if (!parse_port(s, len, &pr.lo))
                return false;
            pr.hi = pr.lo;
        }
        if (*n == HS_MAX_PORT_RANGES)
            return false;
        r[(*n)++] = pr;
        if (!e)
            return true;
        s = e + 1;
        if (!*s)
            return false;           /* trailing comma */
    }
    return *n > 0;
}

bool hs_port_listed(const hs_port_range *r, size_t n, int port)
{
    for (size_t i = 0; i < n; i++)
        if (port >= r[i].lo && port <= r[i].hi)
            return true;
    return false;
}

static size_t parse_size(const char *var, const char *val)
{
    size_t v;
    if (!hs_config_size(val, &v)) {
        config_error(var, "invalid value '%s' (expected %s)", val,
                     HS_CONFIG_SIZE_EXPECTED);
        return 0;
    }
    return v;
}

/* HEADERSHIM_PROCESSES: the file name of /proc/self/exe or of argv[0]. */
static bool process_listed(const char *list, int argc, char **argv)
{
    char exe[4096];
    const char *names[2] = {NULL, NULL};
    long n = hs_raw(SYS_readlink, "/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        const char *slash = strrchr(exe, '/');
        names[0] = slash ? slash + 1 : exe;
    }
    if (argc > 0 && argv && argv[0]) {
        const char *slash = strrchr(argv[0], '/');
        names[1] = slash ? slash + 1 : argv[0];
    }
    for (int i = 0; i < 2; i++) {
        if (!names[i] || !*names[i])
            continue;
        const char *p = list;
        for (;;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len == strlen(names[i]) && strncmp(p, names[i], len) == 0)
                return true;
            if (!e)
                break;
            p = e + 1;
        }
    }
    return false;
}

/* ---- the policy loader: file checks, raw system calls only ------------- */

static int load_file(void *ctx, const char *path, char **text, size_t *len,
                     char *why, size_t why_len)
{
    (void)ctx;
    long fd = hs_raw(SYS_open, path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0);
    if (fd < 0) {
        snprintf(why, why_len, "cannot be read: %s", strerror((int)-fd));
        return -1;
    }
    struct stat st;
    if (hs_raw(SYS_fstat, fd, &st, 0) != 0 || !S_ISREG(st.st_mode)) {
        hs_raw(SYS_close, fd, 0, 0);
        snprintf(why, why_len, "not a regular file");
        return -1;
    }
    if (st.st_size > 1048576) {
        hs_raw(SYS_close, fd, 0, 0);
        snprintf(why, why_len, "over 1 MiB");
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        hs_raw(SYS_close, fd, 0, 0);
        snprintf(why, why_len, "cannot be read: out of memory");
        return -1;
    }
    size_t got = 0;
    for (;;) {
        long r = hs_raw(SYS_read, fd, buf + got, (size_t)st.st_size + 1 - got);
        if (r == -EINTR)
            continue;
        if (r < 0) {
            free(buf);
            hs_raw(SYS_close, fd, 0, 0);
            snprintf(why, why_len, "cannot be read: %s", strerror((int)-r));
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
        if (got > 1048576) {
            free(buf);
            hs_raw(SYS_close, fd, 0, 0);
            snprintf(why, why_len, "over 1 MiB");
            return -1;
        }
        if (got == (size_t)st.st_size + 1) {   /* grew while we read */
            char *nb = realloc(buf, got * 2);
            if (!nb)
                break;
            buf = nb;
            st.st_size = (off_t)(got * 2 - 1);
        }
    }
    hs_raw(SYS_close, fd, 0, 0);
    buf[got] = '\0';
    *text = buf;
    *len = got;
    return 0;
}

static void print_diag(void *ctx, const hs_diag *d)
{
    (void)ctx;
    if (d->level == HS_DIAG_ERROR) {
        nerrors++;
        hs_log_config_error("%s:%u:%u: %s", d->file, d->line, d->col,
                            d->message);
    } else {
        hs_log_config_error("%s:%u:%u: warning: %s", d->file, d->line,
                            d->col, d->message);
    }
}

/* Values are copied: nginx overwrites the original environment block with
 * its process title (ngx_setproctitle), so a pointer into it read later
 * (the log path, at rotation) would see "worker process". */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v ? strdup(v) : NULL;
}

void hs_env_init(int argc, char **argv)
{
    memset(&hs_cfg, 0, sizeof hs_cfg);
    hs_cfg.mode = HS_MODE_OFF;

    /* ld.so(8): in secure-execution mode the variables are the unprivileged
     * caller's; a setuid server must not take a policy or a log path from
     * them. */
    if (getauxval(AT_SECURE))
        return;

    const char *v = env("HEADERSHIM_PROCESSES");
    if (v && *v && !process_listed(v, argc, argv))
        return;

    v = env("HEADERSHIM_ON_ERROR");
    if (v) {
        int i = choose("HEADERSHIM_ON_ERROR", v, "passthrough|exit");
        exit_on_error = i == 1;
    }

    hs_cfg.mode = HS_MODE_ENFORCE;
    v = env("HEADERSHIM_MODE");
    if (v) {
        int i = choose("HEADERSHIM_MODE", v, "enforce|report|off");
        if (i == 2) {
            hs_cfg.mode = HS_MODE_OFF;
            if (nerrors && exit_on_error)
                _exit(78);
            return;                 /* off: nothing at all, no policy read */
        }
        if (i == 1)
            hs_cfg.mode = HS_MODE_REPORT;
    }

    hs_cfg.log_level = HS_LOG_ERROR;
    if ((v = env("HEADERSHIM_LOG"))) {
        int i = choose("HEADERSHIM_LOG", v, "off|error|info|debug");
        if (i >= 0)
            hs_cfg.log_level = (hs_loglevel)i;
    }
    const char *log_file = env("HEADERSHIM_LOG_FILE");
    if (log_file && !*log_file) {
        config_error("HEADERSHIM_LOG_FILE", "empty value%s%s", "", "");
        log_file = NULL;
    }

    if ((v = env("HEADERSHIM_SOCKETS"))) {
        int i = choose("HEADERSHIM_SOCKETS", v, "tcp|tcp,unix|unix,tcp");
        hs_cfg.unix_sockets = i >= 1;
    }
    if ((v = env("HEADERSHIM_PORTS")) &&
        !parse_ports(v, hs_cfg.ports, &hs_cfg.nports))
        config_error("HEADERSHIM_PORTS", "invalid value '%s' (expected %s)", v,
                     "ports or ranges such as 80,8000-8099");
    if ((v = env("HEADERSHIM_TLS"))) {
        if (strcmp(v, "auto") == 0) {
        } else if (strcmp(v, "on") == 0) {
            hs_cfg.tls_all = true;
        } else if (strncmp(v, "on:", 3) != 0 ||
                   !parse_ports(v + 3, hs_cfg.tls, &hs_cfg.ntls)) {
            config_error("HEADERSHIM_TLS", "unknown value '%s' (expected %s)",
                         v, "auto|on|on:PORTS");
        }
    }
    if ((v = env("HEADERSHIM_CSP")))
        hs_cfg.engine.rewrite.csp_report_only =
            choose("HEADERSHIM_CSP", v, "enforce|report-only") == 1;
    if ((v = env("HEADERSHIM_MAX_HEADER")))
        hs_cfg.engine.max_header = parse_size("HEADERSHIM_MAX_HEADER", v);
    if ((v = env("HEADERSHIM_MAX_OUTPUT")))
        hs_cfg.engine.rewrite.max_output = parse_size("HEADERSHIM_MAX_OUTPUT", v);
    hs_cfg.engine.on_desync = HS_DESYNC_CLOSE;
    if ((v = env("HEADERSHIM_ON_DESYNC")) &&
        choose("HEADERSHIM_ON_DESYNC", v, "close|passthrough") == 1)
        hs_cfg.engine.on_desync = HS_DESYNC_PASSTHROUGH;

    int le = hs_log_init(log_file, hs_cfg.log_level);
    if (le < 0)
        config_error("HEADERSHIM_LOG_FILE", "cannot open '%s': %s", log_file,
                     strerror(-le));

    const char *spec = env("HEADERSHIM_POLICY");
    if (!spec || !*spec)
        spec = "auto";
    hs_cfg.policy_spec = spec;
    const hs_policy *policy = NULL;
    if (nerrors == 0)
        policy = hs_policy_load(spec, load_file, NULL, print_diag, NULL);
    if (nerrors || !policy) {
        if (!nerrors)                /* NULL with no diagnostic: no memory */
            hs_log_config_error("HEADERSHIM_POLICY: '%s' could not be loaded",
                                spec);
        if (exit_on_error)
            _exit(78);
        hs_cfg.mode = HS_MODE_OFF;  /* print the error, change nothing */
        return;
    }
    hs_cfg.engine.policy = policy;
    hs_cfg.engine.report = hs_cfg.mode == HS_MODE_REPORT;
    hs_cfg.engine.on_event = hs_on_event;
    /* Only rewrite and report lines print the request (method, path)
     * and the change record. */
    hs_cfg.engine.event_details =
        hs_cfg.log_level >= HS_LOG_INFO ||
        (hs_cfg.mode == HS_MODE_REPORT && hs_cfg.log_level != HS_LOG_OFF);
    /* A rewrite is counted and logged at the info level only
     * (hs_on_event). */
    hs_cfg.engine.quiet_rewrites = hs_cfg.log_level < HS_LOG_INFO;
    hs_cfg.engine.held_total = &held_total;
}
