/*
 * glue.c - the engine's kernel (hs_kernel) over the real functions, and
 * its event callback.
 *
 * Every function returns a count or -errno and leaves errno as it found
 * it: the wrapper sets errno from the engine's final result only
 * (IO-CONTRACT.md rule 7).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shell.h"

static ssize_t k_sendv(void *ctx, const struct iovec *iov, int iovcnt,
                       int flags)
{
    hs_kctx *c = ctx;
    /* Rule 6: the application's flags on every real call. Without flags
     * (write, writev, pwritev2) the application's own system call: no
     * message header to build, and strace shows what the server made. A
     * raw system call: no errno to save and restore on the hot path. */
    if (flags == 0)
        return iovcnt == 1
                   ? hs_raw3_inline(SYS_write, c->fd, (long)iov[0].iov_base,
                                    (long)iov[0].iov_len)
                   : hs_raw3_inline(SYS_writev, c->fd, (long)iov, iovcnt);
    /* sendmsg on a stream socket with no address is writev with flags. */
    struct msghdr m = {.msg_iov = (struct iovec *)iov,
                       .msg_iovlen = (size_t)iovcnt};
    return hs_raw3_inline(SYS_sendmsg, c->fd, (long)&m, flags);
}

static ssize_t k_sendfile(void *ctx, int in_fd, off_t *offset, size_t count)
{
    hs_kctx *c = ctx;
    int saved = errno;
    ssize_t r = hs_raw6(SYS_sendfile, c->fd, in_fd, (long)offset,
                        (long)count, 0, 0);
    errno = saved;
    return r;
}

static ssize_t k_splice(void *ctx, int in_fd, loff_t *off_in, size_t len,
                        unsigned flags)
{
    hs_kctx *c = ctx;
    return hs_raw6(SYS_splice, in_fd, (long)off_in, c->fd, 0, (long)len,
                   (long)flags);
}

static ssize_t k_pread(void *ctx, int fd, void *buf, size_t n, off_t offset)
{
    (void)ctx;
    for (;;) {
        long r = hs_raw6(SYS_pread64, fd, (long)buf, (long)n, (long)offset, 0, 0);
        if (r != -EINTR)
            return r;
    }
}

static off_t k_file_tell(void *ctx, int fd)
{
    (void)ctx;
    return (off_t)hs_raw(SYS_lseek, fd, 0, SEEK_CUR);
}

static int k_file_seek(void *ctx, int fd, off_t pos)
{
    (void)ctx;
    long r = hs_raw(SYS_lseek, fd, pos, SEEK_SET);
    return r < 0 ? (int)r : 0;
}

static bool k_is_blocking(void *ctx, int flags)
{
    hs_kctx *c = ctx;
    if (flags & MSG_DONTWAIT)
        return false;
    long fl = hs_raw(SYS_fcntl, c->fd, F_GETFL, 0);
    return fl >= 0 && !(fl & O_NONBLOCK);
}

static int k_wait_writable(void *ctx, int timeout_ms)
{
    hs_kctx *c = ctx;
    struct pollfd p = {.fd = c->fd, .events = POLLOUT};
    for (;;) {
        long r = hs_raw(SYS_poll, &p, 1, timeout_ms);
        if (r == -EINTR)
            continue;
        return (int)r;
    }
}

void hs_kernel_make(hs_kernel *k, hs_kctx *ctx)
{
    memset(k, 0, sizeof *k);
    k->ctx = ctx;
    k->sendv = k_sendv;
    k->sendfile = k_sendfile;
    k->splice = k_splice;
    k->pread = k_pread;
    k->is_blocking = k_is_blocking;
    k->wait_writable = k_wait_writable;
    k->file_tell = k_file_tell;
    k->file_seek = k_file_seek;
}

ssize_t hs_result(ssize_t r)
{
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

void hs_on_event(void *ctx, const hs_event *ev)
{
    /* REWRITE events come at the info level only (its line, and the exit
     * summary's count): below it the engine sends none
     * (hs_engine_config.quiet_rewrites, set in env.c). */
    hs_track *t = ctx;
    int fd = t ? t->cur_fd : -1;
    switch (ev->kind) {
    case HS_EVENT_REWRITE: atomic_fetch_add(&hs_count_rewrites, 1); break;
    case HS_EVENT_REPORT: atomic_fetch_add(&hs_count_reports, 1); break;
    case HS_EVENT_DESYNC:
    case HS_EVENT_OVERSIZE: atomic_fetch_add(&hs_count_desyncs, 1); break;
    case HS_EVENT_ERROR: atomic_fetch_add(&hs_count_errors, 1); break;
    }
    hs_log_event(fd, ev);
    if (ev->shutdown_read && fd >= 0) {
        /* IO-CONTRACT.md "Desync", close mode: a real kernel state, so the
         * server sees end of input and answers nothing more unrewritten. */
        int saved = errno;
        hs_raw(SYS_shutdown, fd, SHUT_RD, 0);
        errno = saved;
    }
}
