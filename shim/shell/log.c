/*
 * log.c - JSON lines (INTERFACE.md "Logs") with raw system calls only.
 *
 * Each line is one write(2) of at most 4096 bytes, so lines from threads
 * and processes sharing the file never interleave. The log never goes to a
 * socket: under inetd standard error IS the client connection, and a line
 * there would be read as response bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shell.h"

#define LINE_MAX_BYTES 4096
#define LOG_FD_FLOOR 100          /* above the numbers applications use */

_Atomic unsigned long hs_count_conns, hs_count_rewrites, hs_count_reports,
    hs_count_desyncs, hs_count_errors;

static hs_loglevel level;
static const char *log_path;      /* NULL: standard error */
_Atomic int hs_log_fd_now = -1;   /* shell.h: hs_log_uses_fd */
static dev_t log_dev;
static ino_t log_ino;
static _Atomic long last_rotation_check;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic bool first_seen[4]; /* desync, oversize, unreachable, error */

static long now_seconds(void)
{
    struct timespec ts;
    if (hs_raw(SYS_clock_gettime, CLOCK_REALTIME, &ts, 0) != 0)
        return 0;
    return (long)ts.tv_sec;
}

static bool fd_is_socket(int fd, struct stat *st)
{
    return hs_raw(SYS_fstat, fd, st, 0) == 0 && S_ISSOCK(st->st_mode);
}

/* Opens (or re-opens) the destination high and close-on-exec. */
static int open_log(void)
{
    long fd;
    if (log_path) {
        fd = hs_raw(SYS_open, log_path,
                    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0)
            return -1;
    } else {
        fd = 2;
    }
    struct stat st;
    if (hs_raw(SYS_fstat, fd, &st, 0) != 0 || S_ISSOCK(st.st_mode)) {
        if (fd != 2)
            hs_raw(SYS_close, fd, 0, 0);
        return -1;
    }
    long high = hs_raw(SYS_fcntl, fd, F_DUPFD_CLOEXEC, LOG_FD_FLOOR);
    if (fd != 2)
        hs_raw(SYS_close, fd, 0, 0);
    if (high < 0)
        return -1;
    log_dev = st.st_dev;
    log_ino = st.st_ino;
    return (int)high;
}

int hs_log_init(const char *file, hs_loglevel lvl)
{
    level = lvl;
    log_path = file;
    if (lvl == HS_LOG_OFF)
        return 0;
    if (file) {
        /* Checked here, in the process that was given the variable: a
         * path that cannot be opened is the user's error. */
        long fd = hs_raw(SYS_open, file,
                         O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0)
            return (int)fd;
        hs_raw(SYS_close, fd, 0, 0);
    }
    atomic_store(&hs_log_fd_now, open_log());
    return 0;
}

void hs_log_fd_closing(int fd)
{
    int cur = atomic_load(&hs_log_fd_now);
    if (fd >= 0 && fd == cur)
        atomic_store(&hs_log_fd_now, -1);  /* the application took it back */
}

/* The descriptor to write to now, reopened if the application closed or
 * reused it, or (files) if rotation replaced the file. */
static int current_fd(void)
{
    int fd = atomic_load(&hs_log_fd_now);
    struct stat st;
    if (fd >= 0 && (hs_raw(SYS_fstat, fd, &st, 0) != 0 ||
                    st.st_dev != log_dev || st.st_ino != log_ino ||
                    S_ISSOCK(st.st_mode)))
        fd = -1;                    /* closed or reused: not ours any more */
    if (fd >= 0 && log_path) {
        long now = now_seconds(), last = atomic_load(&last_rotation_check);
        if (now != last && atomic_compare_exchange_strong(
                               &last_rotation_check, &last, now)) {
            struct stat ps;
            if (hs_raw(SYS_stat, log_path, &ps, 0) != 0 ||
                ps.st_ino != log_ino || ps.st_dev != log_dev) {
                /* Rotated. Switch only if the new file opens: a worker that
                 * gave up root (nginx, Apache) may not be allowed to, and
                 * then keeps the rotated file rather than losing lines. */
                dev_t od = log_dev;
                ino_t oi = log_ino;
                int nfd = open_log();
                if (nfd >= 0) {
                    hs_raw(SYS_close, fd, 0, 0);
                    fd = nfd;
                    atomic_store(&hs_log_fd_now, fd);
                } else {
                    log_dev = od;
                    log_ino = oi;
                }
            }
        }
    }
    if (fd < 0) {
        fd = open_log();
        atomic_store(&hs_log_fd_now, fd);
    }
    return fd;
}

static void emit(const char *line, size_t n)
{
    int saved = errno;
    pthread_mutex_lock(&log_lock);
    int fd = current_fd();
    if (fd >= 0)
        hs_raw(SYS_write, fd, line, n);
    pthread_mutex_unlock(&log_lock);
    errno = saved;
}

void hs_log_config_error(const char *fmt, ...)
{
    char line[LINE_MAX_BYTES];
    int n = snprintf(line, sizeof line, "headershim: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    struct stat st;
    /* Standard error, unless it is the client's socket (inetd). */
    if (!fd_is_socket(2, &st))
        hs_raw(SYS_write, 2, line, len);
}

/* ---- a bounded JSON line builder --------------------------------------- */

typedef struct jline {
    char buf[LINE_MAX_BYTES];
    size_t len;
    bool full;
} jline;

/* Keeps room for the closing "}\n" and a truncation mark. */
#define JL_RESERVE 32

static void jl_raw(jline *j, const char *s, size_t n)
{
    if (j->full || j->len + n + JL_RESERVE > sizeof j->buf) {
        j->full = true;
        return;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
}

static void jl_cstr(jline *j, const char *s) { jl_raw(j, s, strlen(s)); }

/* A JSON string: quotes, backslashes, control and non-ASCII bytes escaped
 * (non-ASCII as \u00XX: we log bytes, not text). */
static void jl_str(jline *j, const char *s, size_t n)
{
    char tmp[LINE_MAX_BYTES];
    size_t t = 0;
    tmp[t++] = '"';
    for (size_t i = 0; i < n && t + 8 < sizeof tmp; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            tmp[t++] = '\\';
            tmp[t++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            static const char hex[] = "0123456789abcdef";
            memcpy(tmp + t, "\\u00", 4);
            t += 4;
            tmp[t++] = hex[c >> 4];
            tmp[t++] = hex[c & 15];
        } else {
            tmp[t++] = (char)c;
        }
    }
    tmp[t++] = '"';
    jl_raw(j, tmp, t);
}

static void jl_key(jline *j, const char *key)
{
    jl_raw(j, ",\"", 2);
    jl_cstr(j, key);
    jl_raw(j, "\":", 2);
}

static void jl_num(jline *j, const char *key, long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%ld", v);
    jl_key(j, key);
    jl_raw(j, tmp, (size_t)n);
}

static void jl_list(jline *j, const char *key, const hs_str *v, size_t n)
{
    jl_key(j, key);
    jl_raw(j, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            jl_raw(j, ",", 1);
        jl_str(j, v[i].p, v[i].len);
    }
    jl_raw(j, "]", 1);
}

/* Civil date from days since 1970-01-01 (H. Hinnant's algorithm): gmtime
 * is not async-signal-safe. */
static void jl_start(jline *j, const char *event)
{
    long t = now_seconds();
    long days = t / 86400, secs = t % 86400;
    long z = days + 719468, era = z / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    long m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2)
        y++;
    char tmp[64];
    int n = snprintf(tmp, sizeof tmp,
                     "{\"ts\":\"%04ld-%02ld-%02ldT%02ld:%02ld:%02ldZ\"", y, m,
                     d, secs / 3600, secs / 60 % 60, secs % 60);
    j->len = 0;
    j->full = false;
    jl_raw(j, tmp, (size_t)n);
    jl_num(j, "pid", (long)hs_raw(SYS_getpid, 0, 0, 0));
    jl_key(j, "event");
    jl_str(j, event, strlen(event));
}

static void jl_finish(jline *j)
{
    if (j->full)
        memcpy(j->buf + j->len, ",\"truncated\":true", 17), j->len += 17;
    j->buf[j->len++] = '}';
    j->buf[j->len++] = '\n';
    emit(j->buf, j->len);
}

/* ---- events ------------------------------------------------------------ */

static const char *event_name(hs_event_kind k)
{
    switch (k) {
    case HS_EVENT_REWRITE: return "rewrite";
    case HS_EVENT_REPORT: return "report";
    case HS_EVENT_DESYNC: return "desync";
    case HS_EVENT_OVERSIZE: return "oversize";
    case HS_EVENT_ERROR: return "error";
    }
    return "error";
}

/* Report (and error) lines: identical ones once a minute, with a count. */
#define DEDUP_SLOTS 128
static struct {
    uint64_t key;
    long minute_start;
    unsigned long suppressed;
} dedup[DEDUP_SLOTS];

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

static uint64_t event_key(const hs_event *ev, const char *type)
{
    uint64_t h = 1469598103934665603ull;
    h = fnv(h, &ev->kind, sizeof ev->kind);
    int status = ev->block ? ev->block->status : 0;
    h = fnv(h, &status, sizeof status);
    h = fnv(h, type, strlen(type));
    if (ev->why)
        h = fnv(h, ev->why, strlen(ev->why));
    const hs_changes *c = ev->changes;
    if (c) {
        const hs_str *lists[3] = {c->removed, c->set, c->added};
        size_t ns[3] = {c->nremoved, c->nset, c->nadded};
        for (int l = 0; l < 3; l++) {
            h = fnv(h, "|", 1);
            for (size_t i = 0; i < ns[l]; i++) {
                h = fnv(h, lists[l][i].p, lists[l][i].len);
                h = fnv(h, ",", 1);
            }
        }
    }
    return h ? h : 1;
}

/* Returns false to suppress; *count gets the number folded into this line. */
static bool dedup_pass(uint64_t key, unsigned long *count)
{
    long now = now_seconds();
    bool pass = false;
    *count = 1;
    pthread_mutex_lock(&log_lock);
    size_t i = key % DEDUP_SLOTS;
    if (dedup[i].key != key || now - dedup[i].minute_start >= 60) {
        *count = dedup[i].key == key ? dedup[i].suppressed + 1 : 1;
        dedup[i].key = key;
        dedup[i].minute_start = now;
        dedup[i].suppressed = 0;
        pass = true;
    } else {
        dedup[i].suppressed++;
    }
    pthread_mutex_unlock(&log_lock);
    return pass;
}

void hs_log_event(int fd, const hs_event *ev)
{
    if (level == HS_LOG_OFF)
        return;
    int first_idx = ev->kind == HS_EVENT_DESYNC ? 0
                    : ev->kind == HS_EVENT_OVERSIZE ? 1
                    : ev->kind == HS_EVENT_ERROR ? 3 : -1;
    switch (ev->kind) {
    case HS_EVENT_REWRITE:
        if (level < HS_LOG_INFO)
            return;
        break;
    case HS_EVENT_REPORT:
        break;                      /* whenever the log is not off */
    case HS_EVENT_DESYNC:
    case HS_EVENT_OVERSIZE:
        /* The first of each kind at error, the rest at debug. */
        if (atomic_exchange(&first_seen[first_idx], true) &&
            level < HS_LOG_DEBUG)
            return;
        break;
    case HS_EVENT_ERROR:
        break;
    }
    char type[128] = "";
    if (ev->block)
        hs_block_media_type(ev->block, type, sizeof type);
    unsigned long count = 1;
    if ((ev->kind == HS_EVENT_REPORT || ev->kind == HS_EVENT_ERROR) &&
        !dedup_pass(event_key(ev, type), &count))
        return;

    jline j;
    jl_start(&j, event_name(ev->kind));
    if (fd >= 0)
        jl_num(&j, "fd", fd);
    if (ev->block) {
        jl_num(&j, "status", ev->block->status);
        jl_key(&j, "type");
        jl_str(&j, type, strlen(type));
    }
    const hs_request *r = ev->request;
    if (r && r->has_request) {
        jl_key(&j, "method");
        jl_str(&j, r->method.p, r->method.len);
        if (r->path_ok) {
            /* Paths without their query string: it may carry secrets. */
            const char *q = memchr(r->path.p, '?', r->path.len);
            size_t n = q ? (size_t)(q - r->path.p) : r->path.len;
            jl_key(&j, "path");
            jl_str(&j, r->path.p, n);
        }
    }
    if (ev->why) {
        jl_key(&j, "why");
        jl_str(&j, ev->why, strlen(ev->why));
    }
    if (ev->changes) {
        jl_list(&j, "removed", ev->changes->removed, ev->changes->nremoved);
        jl_list(&j, "set", ev->changes->set, ev->changes->nset);
        jl_list(&j, "added", ev->changes->added, ev->changes->nadded);
    }
    if (count > 1)
        jl_num(&j, "count", (long)count);
    jl_finish(&j);
}

void hs_log_unreachable(int fd, const char *why)
{
    if (level == HS_LOG_OFF)
        return;
    if (atomic_exchange(&first_seen[2], true) && level < HS_LOG_DEBUG)
        return;
    jline j;
    jl_start(&j, "unreachable");
    if (fd >= 0)
        jl_num(&j, "fd", fd);
    jl_key(&j, "why");
    jl_str(&j, why, strlen(why));
    jl_finish(&j);
}

void hs_log_start(void)
{
    if (level < HS_LOG_INFO)
        return;
    jline j;
    jl_start(&j, "start");
    jl_key(&j, "policy");
    jl_str(&j, hs_cfg.policy_spec, strlen(hs_cfg.policy_spec));
    jl_key(&j, "mode");
    jl_cstr(&j, hs_cfg.mode == HS_MODE_REPORT ? "\"report\"" : "\"enforce\"");
    jl_key(&j, "version");
    jl_cstr(&j, "\"" HS_VERSION "\"");
    jl_finish(&j);
}

void hs_log_exit(void)
{
    if (level < HS_LOG_INFO)
        return;
    jline j;
    jl_start(&j, "exit");
    jl_num(&j, "connections", (long)atomic_load(&hs_count_conns));
    jl_num(&j, "rewrites", (long)atomic_load(&hs_count_rewrites));
    jl_num(&j, "reports", (long)atomic_load(&hs_count_reports));
    jl_num(&j, "desyncs", (long)atomic_load(&hs_count_desyncs));
    jl_num(&j, "errors", (long)atomic_load(&hs_count_errors));
    jl_finish(&j);
}

void hs_log_atfork_child(void)
{
    pthread_mutex_init(&log_lock, NULL);
}
