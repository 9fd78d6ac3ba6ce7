/*
 * interpose_fd.c - descriptor and process lifecycle (interposition.md
 * section 4): state belongs to the open connection, not the fd number.
 *
 * Every state change first checks that this process owns the table: a
 * vfork child (Python 3.11's subprocess) runs dup2, close and close_range
 * in the parent's memory (5.4) and must change nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shell.h"

#define REAL(name, raw, ...) \
    (hs_libc.name ? hs_libc.name(__VA_ARGS__) : (raw))

static inline bool shim_active(void)
{
    return hs_cfg.mode != HS_MODE_OFF && hs_in_shim == 0;
}

/* ---- helpers shared with fdtable.c ------------------------------------- */

void hs_fd_dup(int oldfd, int newfd)
{
    uintptr_t v = hs_fd_peek(oldfd);
    if (HS_SLOT_IS_TRACK(v)) {
        hs_track *t = hs_fd_acquire(oldfd);
        if (t) {
            hs_fd_attach(newfd, t);
            hs_track_release(t);
            return;
        }
        v = HS_SLOT_UNKNOWN;
    }
    if (v == HS_SLOT_UNKNOWN)
        hs_fd_forget(newfd);
    else
        hs_fd_set(newfd, v);
}

void hs_before_close(int fd)
{
    hs_log_fd_closing(fd);
    hs_fd_closing(fd);
}

void hs_fd_flush(int fd)
{
    hs_track *t = hs_fd_acquire(fd);
    if (!t)
        return;
    /* Rule 9: shutdown from a watchdog thread must not wait behind a
     * write blocked on a stalled client. */
    if (hs_lock_try(&t->lock)) {
        if (t->conn && hs_conn_owes_bytes(t->conn)) {
            hs_kernel k;
            hs_kctx kc = {.fd = fd, .flags = MSG_NOSIGNAL, .track = t};
            hs_kernel_make(&k, &kc);
            t->cur_fd = fd;
            (void)hs_io_flush(t->conn, &k, HS_FLUSH_TIMEOUT_MS);
            hs_track_maybe_forget(t, fd);
        }
        hs_lock_drop(&t->lock);
    }
    hs_track_release(t);
}

/* ---- accept, socket, connect ------------------------------------------- */

HS_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
    int r = (int)REAL(accept, hs_sys6(SYS_accept4, fd, (long)addr, (long)alen, 0, 0, 0),
                      fd, addr, alen);
    if (r >= 0 && shim_active() && hs_is_owner()) {
        int saved = errno;
        hs_in_shim++;
        hs_classify_accepted(fd, r);
        hs_in_shim--;
        errno = saved;
    }
    return r;
}

HS_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
    int r = (int)REAL(accept4,
                      hs_sys6(SYS_accept4, fd, (long)addr, (long)alen, flags, 0, 0),
                      fd, addr, alen, flags);
    if (r >= 0 && shim_active() && hs_is_owner()) {
        int saved = errno;
        hs_in_shim++;
        hs_classify_accepted(fd, r);
        hs_in_shim--;
        errno = saved;
    }
    return r;
}

HS_EXPORT int socket(int domain, int type, int protocol)
{
    int r = (int)REAL(socket, hs_sys(SYS_socket, domain, type, protocol),
                      domain, type, protocol);
    if (r >= 0 && shim_active())
        hs_fd_forget(r);            /* a fresh number: nothing inherited */
    return r;
}

HS_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t alen)
{
    int r = (int)REAL(connect, hs_sys(SYS_connect, fd, addr, alen), fd, addr, alen);
    /* Client side (nginx proxy_pass, Apache mod_proxy): it writes requests
     * and reads responses; never ours. */
    if (shim_active() && (r == 0 || errno == EINPROGRESS)) {
        int saved = errno;
        hs_fd_set(fd, HS_SLOT_IGNORE);
        errno = saved;
    }
    return r;
}

/* ---- close and the range closes ---------------------------------------- */

/* Whether closing fd is any of the shim's business: a connection, a
 * listening socket or a candidate (a slot to end or forget), or the log.
 * A descriptor never looked at (UNKNOWN) or known to be no socket of ours
 * (IGNORE) is none: nginx closes the file it served on every request,
 * and the owner test costs a getpid system call. */
static inline bool close_concerns_shim(int fd)
{
    uintptr_t v = hs_fd_peek(fd);
    return (v != HS_SLOT_IGNORE && v != HS_SLOT_UNKNOWN) ||
           hs_log_uses_fd(fd);
}

HS_EXPORT int close(int fd)
{
    if (shim_active() && close_concerns_shim(fd) && hs_is_owner()) {
        int saved = errno;
        hs_in_shim++;
        hs_before_close(fd);
        hs_in_shim--;
        errno = saved;
    }
    return (int)REAL(close, hs_sys(SYS_close, fd, 0, 0), fd);
}

void hs_fd_closing_range(unsigned first, unsigned last)
{
    unsigned limit = (unsigned)hs_fd_limit();
    if (first >= limit)
        return;
    if (last >= limit)
        last = limit - 1;
    int logfd = hs_log_fd();
    if (logfd >= 0 && (unsigned)logfd >= first && (unsigned)logfd <= last)
        hs_log_fd_closing(logfd);
    for (unsigned fd = first; fd <= last; fd++) {
        /* closefrom(3) is common at start-up: skip chunks never mapped */
        if (atomic_load_explicit(&hs_fd_l1[fd >> HS_FD_L2_BITS],
                                 memory_order_acquire) == hs_fd_none) {
            unsigned next = (fd | (HS_FD_L2 - 1));
            if (next >= last)
                break;
            fd = next;
            continue;
        }
        if (hs_fd_peek((int)fd) != HS_SLOT_UNKNOWN)
            hs_fd_closing((int)fd);
        if (fd == last)
            break;
    }
}

HS_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    /* CLOSE_RANGE_CLOEXEC closes nothing now. */
    if (shim_active() && hs_is_owner() && !(flags & CLOSE_RANGE_CLOEXEC)) {
        int saved = errno;
        hs_in_shim++;
        hs_fd_closing_range(first, last);
        hs_in_shim--;
        errno = saved;
    }
    return (int)REAL(close_range, hs_sys(SYS_close_range, first, last, flags),
                     first, last, flags);
}

HS_EXPORT void closefrom(int lowfd)
{
    if (lowfd < 0)
        lowfd = 0;
    if (shim_active() && hs_is_owner()) {
        int saved = errno;
        hs_in_shim++;
        hs_fd_closing_range((unsigned)lowfd, ~0u);
        hs_in_shim--;
        errno = saved;
    }
    if (hs_libc.closefrom)
        hs_libc.closefrom(lowfd);
    else
        hs_raw(SYS_close_range, lowfd, ~0u, 0);
}

/* ---- dup family -------------------------------------------------------- */

HS_EXPORT int dup(int fd)
{
    int r = (int)REAL(dup, hs_sys(SYS_dup, fd, 0, 0), fd);
    if (r >= 0 && shim_active() && hs_is_owner()) {
        int saved = errno;
        hs_fd_dup(fd, r);
        errno = saved;
    }
    return r;
}

/* dup2/dup3 onto a tracked fd is an implicit close: flush it first. */
static void before_replace(int oldfd, int newfd)
{
    if (oldfd == newfd)
        return;
    int saved = errno;
    hs_in_shim++;
    hs_log_fd_closing(newfd);
    if (hs_fd_peek(newfd) != HS_SLOT_UNKNOWN && hs_fd_peek(oldfd) != hs_fd_peek(newfd))
        hs_fd_closing(newfd);
    hs_in_shim--;
    errno = saved;
}

HS_EXPORT int dup2(int oldfd, int newfd)
{
    bool act = shim_active() && hs_is_owner();
    if (act)
        before_replace(oldfd, newfd);
    int r = (int)REAL(dup2, hs_sys(SYS_dup3, oldfd, newfd, 0), oldfd, newfd);
    if (r >= 0 && act && oldfd != newfd) {
        int saved = errno;
        hs_fd_dup(oldfd, r);
        errno = saved;
    }
    return r;
}

HS_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    bool act = shim_active() && hs_is_owner();
    if (act)
        before_replace(oldfd, newfd);
    int r = (int)REAL(dup3, hs_sys(SYS_dup3, oldfd, newfd, flags), oldfd, newfd, flags);
    if (r >= 0 && act) {
        int saved = errno;
        hs_fd_dup(oldfd, r);
        errno = saved;
    }
    return r;
}

static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, long arg)
{
    int r = real ? real(fd, cmd, arg) : (int)hs_sys(SYS_fcntl, fd, cmd, arg);
    if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && r >= 0 &&
        shim_active() && hs_is_owner()) {
        int saved = errno;
        hs_fd_dup(fd, r);
        errno = saved;
    }
    return r;
}

/* Every fcntl argument is an int or a pointer: passing it on as a long
 * is what glibc's own fcntl does. */
HS_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    return fcntl_common(hs_libc.fcntl, fd, cmd, arg);
}

HS_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    return fcntl_common(hs_libc.fcntl64 ? hs_libc.fcntl64 : hs_libc.fcntl,
                        fd, cmd, arg);
}

/* ---- shutdown ---------------------------------------------------------- */

HS_EXPORT int shutdown(int fd, int how)
{
    if ((how == SHUT_WR || how == SHUT_RDWR) && shim_active() &&
        hs_cfg.mode == HS_MODE_ENFORCE) {
        int saved = errno;
        hs_in_shim++;
        hs_fd_flush(fd);
        hs_in_shim--;
        errno = saved;
    }
    return (int)REAL(shutdown, hs_sys(SYS_shutdown, fd, how, 0), fd, how);
}

/* ---- syscall(SYS_close): every close libuv makes ------------------------ */

HS_EXPORT long syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    if (nr == SYS_close)
        return close((int)a);
    if (hs_libc.syscall)
        return hs_libc.syscall(nr, a, b, c, d, e, f);
    return hs_sys6(nr, a, b, c, d, e, f);
}

/* ---- exec: flush what is owed, the new image starts fresh --------------- */

static void before_exec(void)
{
    if (!atomic_load(&hs_bound))
        hs_real_bind();
    if (shim_active() && hs_cfg.mode == HS_MODE_ENFORCE && hs_is_owner()) {
        int saved = errno;
        hs_in_shim++;
        hs_tracks_flush_all(HS_FLUSH_TIMEOUT_MS);
        hs_in_shim--;
        errno = saved;
    }
}

HS_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    before_exec();
    return hs_libc.execve ? hs_libc.execve(path, argv, envp)
                          : (int)hs_sys(SYS_execve, path, argv, envp);
}

HS_EXPORT int execv(const char *path, char *const argv[])
{
    before_exec();
    return hs_libc.execv(path, argv);
}

HS_EXPORT int execvp(const char *file, char *const argv[])
{
    before_exec();
    return hs_libc.execvp(file, argv);
}

HS_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    before_exec();
    return hs_libc.execvpe(file, argv, envp);
}

HS_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    before_exec();
    return hs_libc.fexecve(fd, argv, envp);
}

/* execl* are variadic and call glibc's internal execve, not ours: collect
 * the arguments and go through the wrappers above. */
#define COLLECT_ARGS(first, ap, argv, n)                                      \
    do {                                                                      \
        va_list c_;                                                           \
        va_copy(c_, ap);                                                      \
        n = 1;                                                                \
        while (va_arg(c_, char *))                                            \
            n++;                                                              \
        va_end(c_);                                                           \
    } while (0)

HS_EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    size_t n;
    va_start(ap, arg);
    COLLECT_ARGS(arg, ap, argv, n);
    char *argv[n + 1];
    argv[0] = (char *)arg;
    for (size_t i = 1; i <= n; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    return execv(path, argv);
}

HS_EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    size_t n;
    va_start(ap, arg);
    COLLECT_ARGS(arg, ap, argv, n);
    char *argv[n + 1];
    argv[0] = (char *)arg;
    for (size_t i = 1; i <= n; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    return execvp(file, argv);
}

HS_EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    size_t n;
    va_start(ap, arg);
    COLLECT_ARGS(arg, ap, argv, n);
    char *argv[n + 1];
    argv[0] = (char *)arg;
    for (size_t i = 1; i <= n; i++)
        argv[i] = va_arg(ap, char *);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, argv, envp);
}
