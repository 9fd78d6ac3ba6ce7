/*
 * interpose_in.c - the read side, for the request queue
 * (interposition.md section 3; IO-CONTRACT.md "The request side").
 *
 * The real call runs without any lock (a blocking read must not stall a
 * writer of the same connection); what it returned is then fed to the
 * connection. MSG_PEEK reads are never fed: the bytes will come again.
 */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shell.h"

#define REAL(name, raw, ...) \
    (hs_libc.name ? hs_libc.name(__VA_ARGS__) : (ssize_t)(raw))

/* Does a connection we only know lazily (inetd, socket activation, fds
 * from before the constructor) start with something like a request line?
 * A client socket reads "HTTP/1.1 200", an SMTP client "220 ": neither is
 * "METHOD SP target", so client sockets are never taken for servers. */
static bool looks_like_request(const struct iovec *iov, int iovcnt, size_t n)
{
    char head[24];
    size_t got = 0;
    for (int i = 0; i < iovcnt && got < sizeof head && got < n; i++) {
        size_t take = iov[i].iov_len;
        if (take > sizeof head - got)
            take = sizeof head - got;
        if (take > n - got)
            take = n - got;
        memcpy(head + got, iov[i].iov_base, take);
        got += take;
    }
    size_t m = 0;
    while (m < got && head[m] >= 'A' && head[m] <= 'Z')
        m++;
    if (m == 0 || m > 20 || m + 1 >= got || head[m] != ' ')
        return false;
    char c = head[m + 1];
    return c == '/' || c == '*' || (c >= 'a' && c <= 'z');
}

/* The bytes read, to the connection; t's lock is held. */
static void feed_locked(hs_track *t, int fd, const struct iovec *iov,
                        int iovcnt, size_t n)
{
    if (!t->conn)
        return;
    t->cur_fd = fd;
    size_t left = n;
    for (int i = 0; i < iovcnt && left > 0; i++) {
        size_t take = iov[i].iov_len < left ? iov[i].iov_len : left;
        if (take)
            hs_conn_read(t->conn, iov[i].iov_base, take);
        left -= take;
    }
    hs_track_maybe_forget(t, fd);
}

void hs_in_feed(int fd, const struct iovec *iov, int iovcnt, size_t n)
{
    uintptr_t v = hs_fd_peek(fd);
    if (v == HS_SLOT_IGNORE)
        return;
    int saved = errno;
    if (v == HS_SLOT_UNKNOWN) {
        if (fd < 0 || fd >= hs_fd_limit()) {
            errno = saved;
            return;
        }
        v = hs_classify(fd);
    }
    hs_track *t = NULL;
    if (HS_SLOT_IS_TRACK(v)) {
        t = hs_fd_acquire(fd);
    } else if (HS_SLOT_TAG(v) == HS_TAG_CANDIDATE &&
               looks_like_request(iov, iovcnt, n)) {
        t = hs_track_new(HS_SLOT_PORT(v), HS_SLOT_TLS(v));
        if (t)
            hs_fd_attach(fd, t);
        else
            hs_fd_set(fd, HS_SLOT_IGNORE);
    }
    if (t) {
        hs_in_shim++;
        hs_lock_take(&t->lock);
        feed_locked(t, fd, iov, iovcnt, n);
        hs_lock_drop(&t->lock);
        hs_in_shim--;
        hs_track_release(t);
    }
    errno = saved;
}

static inline bool shim_active(void)
{
    return hs_cfg.mode != HS_MODE_OFF && hs_in_shim == 0;
}

/* n > 0 bytes read from a known connection (slot v, read from sp), as
 * every read after a connection's first: its lock alone, no reference
 * (the lock keeps the track alive, as on the write path), then the slot
 * checked again under it (closed and reused meanwhile?). Contended or
 * stale: hs_in_feed, which waits with a reference. */
static __attribute__((noinline)) void feed_known(_Atomic uintptr_t *sp,
                                                 uintptr_t v, int fd,
                                                 void *buf, size_t n)
{
    hs_track *t = (hs_track *)v;
    hs_in_shim++;
    if (hs_lock_try(&t->lock)) {
        if (atomic_load(sp) == v) {
            int saved = errno;
            if (t->conn) {          /* feed_locked, for one buffer */
                t->cur_fd = fd;
                hs_conn_read(t->conn, buf, n);
                hs_track_maybe_forget(t, fd);
            }
            hs_lock_drop(&t->lock);
            hs_in_shim--;
            errno = saved;
            return;
        }
        hs_lock_drop(&t->lock);
    }
    hs_in_shim--;
    struct iovec one = {buf, n};
    hs_in_feed(fd, &one, 1, n);
}

static inline void feed1(int fd, void *buf, ssize_t r)
{
    if (r <= 0)
        return;
    _Atomic uintptr_t *sp = hs_fd_slotp(fd);
    uintptr_t v = atomic_load_explicit(sp, memory_order_acquire);
    if (hs_slot_pass(v))
        return;
    if (HS_SLOT_IS_TRACK(v)) {
        feed_known(sp, v, fd, buf, (size_t)r);
        return;
    }
    struct iovec one = {buf, (size_t)r};
    hs_in_feed(fd, &one, 1, (size_t)r);
}

HS_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    ssize_t r = REAL(read, hs_sys(SYS_read, fd, buf, n), fd, buf, n);
    feed1(fd, buf, r);
    return r;
}

HS_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    ssize_t r = REAL(read_chk, hs_sys(SYS_read, fd, buf, n), fd, buf, n, buflen);
    feed1(fd, buf, r);
    return r;
}

HS_EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    ssize_t r = REAL(readv, hs_sys(SYS_readv, fd, iov, iovcnt), fd, iov, iovcnt);
    if (r > 0 && !hs_fast_pass(fd))
        hs_in_feed(fd, iov, iovcnt, (size_t)r);
    return r;
}

HS_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    ssize_t r = REAL(recv, hs_sys6(SYS_recvfrom, fd, (long)buf, (long)n, flags, 0, 0),
                     fd, buf, n, flags);
    if (!(flags & MSG_PEEK))
        feed1(fd, buf, r);
    return r;
}

HS_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen,
                             int flags)
{
    ssize_t r = REAL(recv_chk,
                     hs_sys6(SYS_recvfrom, fd, (long)buf, (long)n, flags, 0, 0),
                     fd, buf, n, buflen, flags);
    if (!(flags & MSG_PEEK))
        feed1(fd, buf, r);
    return r;
}

HS_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags,
                           struct sockaddr *addr, socklen_t *alen)
{
    ssize_t r = REAL(recvfrom,
                     hs_sys6(SYS_recvfrom, fd, (long)buf, (long)n, flags,
                             (long)addr, (long)alen),
                     fd, buf, n, flags, addr, alen);
    if (!(flags & MSG_PEEK))
        feed1(fd, buf, r);
    return r;
}

HS_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen,
                                 int flags, struct sockaddr *addr,
                                 socklen_t *alen)
{
    ssize_t r = REAL(recvfrom_chk,
                     hs_sys6(SYS_recvfrom, fd, (long)buf, (long)n, flags,
                             (long)addr, (long)alen),
                     fd, buf, n, buflen, flags, addr, alen);
    if (!(flags & MSG_PEEK))
        feed1(fd, buf, r);
    return r;
}

/* Descriptors received with SCM_RIGHTS (Node's cluster hands accepted
 * connections to workers this way) are new to us whatever their number
 * held before. */
static void forget_received_fds(struct msghdr *m)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *p = CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            int rfd;
            memcpy(&rfd, p + i * sizeof rfd, sizeof rfd);
            hs_fd_forget(rfd);
        }
    }
}

HS_EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
    ssize_t r = REAL(recvmsg, hs_sys(SYS_recvmsg, fd, m, flags), fd, m, flags);
    if (r >= 0 && m->msg_controllen > 0 && shim_active()) {
        int saved = errno;
        forget_received_fds(m);
        errno = saved;
    }
    if (r > 0 && !(flags & MSG_PEEK) && shim_active() &&
        m->msg_iovlen <= 0x7fffffff)
        hs_in_feed(fd, m->msg_iov, (int)m->msg_iovlen, (size_t)r);
    return r;
}
