/*
 * interpose_out.c - the output functions (interposition.md section 1).
 *
 * Each wrapper: one cached check of the fd (no lock, no malloc on that
 * path: signal handlers write too, libuv's does), then either the real call
 * or, on a tracked connection, the connection's lock and then the direct
 * body call (the application's own call, counted: TRY_DIRECT) or the
 * engine. The lock is held across the real call so that state order
 * equals byte order when several threads write one connection (Apache's
 * event MPM moves it between workers).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "iomap_direct.h"
#include "shell.h"

__thread int hs_in_shim;

/* Before the constructor bound libc (interposition.md 5.3), or when the
 * symbol is missing, the kernel directly. */
#define REAL(name, raw, ...) \
    (hs_libc.name ? hs_libc.name(__VA_ARGS__) : (ssize_t)(raw))

static inline bool shim_active(void)
{
    return hs_cfg.mode != HS_MODE_OFF && hs_in_shim == 0;
}

hs_track *hs_out_begin(int fd, const struct iovec *iov, int iovcnt)
{
    uintptr_t v = hs_fd_peek(fd);
    if (v == HS_SLOT_IGNORE)
        return NULL;
    if (v == HS_SLOT_UNKNOWN) {
        if (fd < 0 || fd >= hs_fd_limit())
            return NULL;            /* beyond the table: pass through */
        int saved = errno;
        v = hs_classify(fd);
        errno = saved;
    }
    if (HS_SLOT_IS_TRACK(v))
        return hs_fd_acquire(fd);
    if (HS_SLOT_TAG(v) == HS_TAG_CANDIDATE) {
        int saved = errno;
        hs_track *t = hs_promote(fd, v, iov, iovcnt);
        errno = saved;
        return t;
    }
    return NULL;                    /* IGNORE, or a listening socket */
}

/* A known connection without a call: the common case after the first
 * response. */
static inline hs_track *out_track(int fd, const struct iovec *iov, int iovcnt)
{
    if (HS_SLOT_IS_TRACK(hs_fd_peek(fd)))
        return hs_fd_acquire(fd);
    return hs_out_begin(fd, iov, iovcnt);
}

/* Enforce: the engine makes the real calls; report: the real call, then
 * the engine reads a copy (rule 11). Returns -2 with errno untouched when
 * the connection turned out to be pass-through: the caller makes its own
 * real call (exactly the application's call). */
#define HS_DO_REAL (-2)

static inline ssize_t track_writev(hs_track *t, int fd,
                                   const struct iovec *iov, int iovcnt,
                                   int flags)
{
    int saved = errno;
    ssize_t r = HS_DO_REAL;
    hs_in_shim++;
    hs_lock_take(&t->lock);
    if (t->conn) {
        t->cur_fd = fd;
        t->kctx.fd = fd;
        t->kctx.flags = flags;
        r = hs_io_writev(t->conn, &t->kernel, iov, iovcnt, flags);
        hs_track_maybe_forget(t, fd);
    }
    hs_lock_drop(&t->lock);
    hs_in_shim--;
    hs_track_release(t);
    if (r == HS_DO_REAL) {
        errno = saved;
        return r;
    }
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    errno = saved;
    return r;
}

/* Enforce mode on a known connection, the path of every body write: the
 * lock alone, no reference (the lock keeps the track alive: its last
 * reference defers the end to the lock's holder), then the slot checked
 * again under the lock (the generation check: the fd may have been closed
 * and its number reused meanwhile). HS_RETRY: contended, dead or stale:
 * the caller takes the general path, which waits with a reference. */
#define HS_RETRY (-3)

/* The same once the lock is held and hs_in_shim raised (both let go
 * here): the slot checked again, then the engine. */
static inline __attribute__((always_inline)) ssize_t
fast_writev_locked(hs_track *t, _Atomic uintptr_t *sp, int fd,
                   const struct iovec *iov, int iovcnt, int flags)
{
    ssize_t r = HS_DO_REAL;
    if (__builtin_expect(atomic_load(sp) != (uintptr_t)t, 0)) {
        r = HS_RETRY;
    } else if (__builtin_expect(t->conn != NULL, 1)) {
        /* Rule 7: the engine may call malloc (held bytes) or log. The
         * saved value waits in the track (we hold its lock), so that
         * fewer registers live across the engine's call. */
        int *err = &errno;
        t->saved_errno = *err;
        t->cur_fd = fd;
        t->kctx.fd = fd;
        t->kctx.flags = flags;
        r = hs_io_writev(t->conn, &t->kernel, iov, iovcnt, flags);
        hs_track_maybe_forget(t, t->cur_fd);  /* fd is not kept across the call */
        int e = t->saved_errno;
        if (r < 0) {
            e = (int)-r;
            r = -1;
        }
        *err = e;
    } else {
        /* Let go already (pass-through, MSG_OOB, lost at a fork) through
         * another fd of the connection: this fd becomes IGNORE too. */
        hs_track_forget_conn(t, fd);
    }
    hs_lock_drop(&t->lock);
    hs_in_shim--;
    return r;
}

static inline __attribute__((always_inline)) ssize_t
fast_writev(hs_track *t, _Atomic uintptr_t *sp, int fd, const struct iovec *iov,
            int iovcnt, int flags)
{
    hs_in_shim++;
    if (__builtin_expect(!hs_lock_try(&t->lock), 0)) {
        hs_in_shim--;
        return HS_RETRY;
    }
    return fast_writev_locked(t, sp, fd, iov, iovcnt, flags);
}

/* The general body of every vectored output wrapper (new connections,
 * report mode, contention): with a reference. `real` repeats the
 * application's exact call. */
#define OUT_BODY_GENERAL(fd, iov, iovcnt, flags, real)                                \
    do {                                                                      \
        /* only reached from the exported names, after hs_fast_pass */       \
        hs_track *t_ = out_track((fd), (iov), (iovcnt));                      \
        if (!t_)                                                              \
            return (real);                                                    \
        if (hs_cfg.mode == HS_MODE_REPORT) {                                  \
            /* The lock keeps observation order equal to byte order. */       \
            hs_in_shim++;                                                     \
            hs_lock_take(&t_->lock);                                    \
            ssize_t r_ = (real);                                              \
            int e_ = errno;                                                   \
            if (r_ > 0 && t_->conn) {                                         \
                t_->cur_fd = (fd);                                            \
                hs_io_observe(t_->conn, (iov), (iovcnt), (size_t)r_);         \
                hs_track_maybe_forget(t_, (fd));                                    \
            }                                                                 \
            hs_lock_drop(&t_->lock);                                  \
            hs_in_shim--;                                                     \
            hs_track_release(t_);                                             \
            errno = e_;                                                       \
            return r_;                                                        \
        }                                                                     \
        ssize_t r_ = track_writev(t_, (fd), (iov), (iovcnt), (flags));        \
        if (r_ != HS_DO_REAL)                                                 \
            return r_;                                                        \
        return (real);                                                        \
    } while (0)

static __attribute__((noinline)) ssize_t write_general(int fd, const void *buf, size_t n)
{
    struct iovec v = {(void *)buf, n};
    OUT_BODY_GENERAL(fd, &v, 1, 0, REAL(write, hs_sys(SYS_write, fd, buf, n), fd, buf, n));
}

/* glibc exports __write at the same address as write; some libraries bind
 * the alias. */
HS_EXPORT ssize_t __write(int fd, const void *buf, size_t n)
{
    return write(fd, buf, n);
}

static __attribute__((noinline)) ssize_t writev_general(int fd, const struct iovec *iov, int iovcnt)
{
    OUT_BODY_GENERAL(fd, iov, iovcnt, 0,
             REAL(writev, hs_sys(SYS_writev, fd, iov, iovcnt), fd, iov, iovcnt));
}

static __attribute__((noinline)) ssize_t pwritev2_general(int fd, const struct iovec *iov, int iovcnt,
                           off_t offset, int flags)
{
#define REAL_PWRITEV2                                                         \
    REAL(pwritev2,                                                            \
         hs_sys6(SYS_pwritev2, fd, (long)iov, iovcnt, (long)offset, 0, flags), \
         fd, iov, iovcnt, offset, flags)
    /* Offset -1 writes at the current position, on a socket like writev.
     * RWF_* flags are not MSG_* flags: the engine's real calls get none
     * (RWF_NOWAIT aside, none applies to sockets). */
    if (offset != -1 || flags != 0)
        return REAL_PWRITEV2;
    OUT_BODY_GENERAL(fd, iov, iovcnt, 0, REAL_PWRITEV2);
#undef REAL_PWRITEV2
}

static __attribute__((noinline)) ssize_t pwritev64v2_general(int fd, const struct iovec *iov, int iovcnt,
                              off64_t offset, int flags)
{
#define REAL_PWRITEV64V2                                                      \
    REAL(pwritev64v2,                                                         \
         hs_sys6(SYS_pwritev2, fd, (long)iov, iovcnt, (long)offset, 0, flags), \
         fd, iov, iovcnt, offset, flags)
    if (offset != -1 || flags != 0)
        return REAL_PWRITEV64V2;
    OUT_BODY_GENERAL(fd, iov, iovcnt, 0, REAL_PWRITEV64V2);
#undef REAL_PWRITEV64V2
}

/* Out-of-band data and ancillary data leave HTTP framing behind: flush
 * what is owed, then forget the connection (interposition.md 5.13). */
static void give_up(int fd, const char *why)
{
    hs_track *t = hs_fd_acquire(fd);
    if (!t)
        return;
    int saved = errno;
    hs_in_shim++;
    hs_lock_take(&t->lock);
    if (t->conn) {
        if (hs_conn_owes_bytes(t->conn) && hs_cfg.mode == HS_MODE_ENFORCE) {
            hs_kernel k;
            hs_kctx kc = {.fd = fd, .flags = MSG_NOSIGNAL, .track = t};
            hs_kernel_make(&k, &kc);
            t->cur_fd = fd;
            (void)hs_io_flush(t->conn, &k, HS_FLUSH_TIMEOUT_MS);
        }
        hs_conn_free(t->conn);
        t->conn = NULL;
        hs_log_unreachable(fd, why);
    }
    hs_lock_drop(&t->lock);
    hs_in_shim--;
    hs_track_release(t);
    errno = saved;
}

static __attribute__((noinline)) ssize_t send_general(int fd, const void *buf, size_t n, int flags)
{
#define REAL_SEND \
    REAL(send, hs_sys6(SYS_sendto, fd, (long)buf, (long)n, flags, 0, 0), fd, buf, n, flags)
    if (flags & MSG_OOB) {
        if (shim_active())
            give_up(fd, "MSG_OOB");
        return REAL_SEND;
    }
    struct iovec v = {(void *)buf, n};
    OUT_BODY_GENERAL(fd, &v, 1, flags, REAL_SEND);
#undef REAL_SEND
}

HS_EXPORT ssize_t __send(int fd, const void *buf, size_t n, int flags)
{
    return send(fd, buf, n, flags);
}

static __attribute__((noinline)) ssize_t sendto_general(int fd, const void *buf, size_t n, int flags,
                         const struct sockaddr *addr, socklen_t alen)
{
#define REAL_SENDTO                                                           \
    REAL(sendto, hs_sys6(SYS_sendto, fd, (long)buf, (long)n, flags,          \
                         (long)addr, (long)alen),                             \
         fd, buf, n, flags, addr, alen)
    if (flags & MSG_OOB) {
        if (shim_active())
            give_up(fd, "MSG_OOB");
        return REAL_SENDTO;
    }
    /* Datagram sockets are IGNORE in the table; a stream socket ignores
     * the address. */
    struct iovec v = {(void *)buf, n};
    OUT_BODY_GENERAL(fd, &v, 1, flags, REAL_SENDTO);
#undef REAL_SENDTO
}

static __attribute__((noinline)) ssize_t sendmsg_general(int fd, const struct msghdr *m, int flags)
{
#define REAL_SENDMSG REAL(sendmsg, hs_sys(SYS_sendmsg, fd, m, flags), fd, m, flags)
    if (m && (m->msg_controllen > 0 || (flags & MSG_OOB))) {
        if (shim_active())
            give_up(fd, (flags & MSG_OOB) ? "MSG_OOB" : "sendmsg with control data");
        return REAL_SENDMSG;
    }
    if (!m || m->msg_iovlen > (size_t)0x7fffffff)
        return REAL_SENDMSG;
    OUT_BODY_GENERAL(fd, m->msg_iov, (int)m->msg_iovlen, flags, REAL_SENDMSG);
#undef REAL_SENDMSG
}

/* ---- the direct body call ------------------------------------------- */

/* The application's bytes in a vectored call (the kernel refuses a count
 * below 0 or a sum over SSIZE_MAX itself, and then takes nothing). */
static inline size_t iov_sum(const struct iovec *iov, int iovcnt)
{
    size_t t = 0;
    for (int i = 0; i < iovcnt; i++)
        t += iov[i].iov_len;
    return t;
}

/* The direct call is done: the lock's waiters or its death, a failed
 * call's errno, or an empty call. Out of line, so that the wrappers need
 * no stack frame. */
static __attribute__((noinline)) ssize_t direct_done_slow(hs_track *t, long r)
{
    hs_lock_drop(&t->lock);
    hs_in_shim--;
    if (r < 0) {
        errno = (int)-r;     /* rule 7: only the real call's errno */
        return -1;
    }
    return r;
}

/* A direct call took the body's last byte: the framing moves on. (A
 * connection that ended HTTP there, Connection: close, is let go by its
 * next call, which the engine makes.) */
static __attribute__((noinline)) ssize_t direct_body_ended(hs_track *t, long r)
{
    hs_io_direct_ended(t->conn);
    hs_lock_drop(&t->lock);
    hs_in_shim--;
    return r;       /* > 0: the kernel took the body's last byte */
}

/* A slow path reached without TRY_DIRECT's lock passes a call through
 * when this thread is inside the shim already (a signal handler, our own
 * I/O): TRACKED_FIRST does not test that. */
#define PASS_IF_REENTERED(locked, real)                                       \
    do {                                                                      \
        if (!(locked) && hs_in_shim != 0)                                     \
            return (real);                                                    \
    } while (0)

/* The first thing a slow path does: let go of what TRY_DIRECT took (the
 * track whose lock it holds, or NULL), and pass a call through when this
 * thread is inside the shim already (a signal handler, our own I/O):
 * TRACKED_FIRST does not test that. */
#define LET_GO_OR_PASS(locked, real)                                          \
    do {                                                                      \
        if (locked) {                                                         \
            hs_lock_drop(&(locked)->lock);                                    \
            hs_in_shim--;                                                     \
        }                                                                     \
        if (hs_in_shim != 0)                                                  \
            return (real);                                                    \
    } while (0)

/* The wrapper's first test, on the tracked connection's side: a track in
 * the slot. That the shim is on goes without testing there: tracks are
 * only made while it is (every wrapper passes straight through otherwise)
 * and the mode never changes after the constructor. Nor is hs_in_shim
 * tested: a direct call re-entered from a signal handler is as good as
 * any, and every other way through the slow path tests it. Everything
 * else: `pass` when hs_slot_pass says so, else the slow path. */
#define TRACKED_FIRST(slot, pass, slow)                                       \
    do {                                                                      \
        if (__builtin_expect((slot) == 0 || ((slot) & 7u) != 0, 0)) {        \
            if (__builtin_expect(hs_slot_pass(slot), 1))                      \
                return (pass);                                                \
            return slow(NULL);                                                \
        }                                                                     \
    } while (0)

/* HS_LOCK_HELD and 0 made where they are used: on x86-64 an opaque move,
 * so that the compiler does not keep the constants from the lock's taking
 * in registers across the system call (they would be two more values to
 * save, and the wrapper would need a stack frame). */
static inline __attribute__((always_inline)) void lock_words_afresh(int *held,
                                                                    int *unlocked)
{
#if defined(__x86_64__)
    __asm__("mov %2, %0\n\txor %1, %1"
            : "=r"(*held), "=r"(*unlocked)
            : "i"(HS_LOCK_HELD)
            : "cc");
#else
    *held = HS_LOCK_HELD;
    *unlocked = 0;
#endif
}

/* The call servers make thousands of times per response: body bytes on a
 * known connection, inside a Content-Length body with nothing owed. Then
 * `direct`, the application's own call as a raw system call (-errno on
 * failure), goes to the kernel under the connection's lock (state order
 * == byte order), and the engine only counts what the kernel took
 * (iomap_direct.h): no engine call, no kernel table, no vector built, no
 * errno saved (a raw call leaves it alone; rule 7). Enforce and report
 * mode alike (rule 11: the call is the application's, unchanged).
 *
 * Anything else goes to `slow`, a tail call with the track whose lock is
 * still held (or NULL): the slow path lets go of it first and decides
 * everything afresh. Every path out is a return or a tail call, so the
 * wrapper needs no stack frame. `slot` was read from `sp` and passed
 * TRACKED_FIRST. */
#define TRY_DIRECT(sp, slot, total, direct, slow)                             \
    do {                                                                      \
        hs_track *t_ = (hs_track *)(slot);                                    \
        /* A signal handler writing meanwhile finds the lock taken and goes \
         * the slow way, which passes it through (hs_in_shim). */           \
        hs_in_shim++;                                                         \
        if (__builtin_expect(!hs_lock_try(&t_->lock), 0)) {                   \
            hs_in_shim--;                                                     \
            return slow(NULL);                                                \
        }                                                                     \
        /* the generation check: fd closed and reused meanwhile? */          \
        hs_conn *c_ = atomic_load(sp) == (slot) ? t_->conn : NULL;            \
        if (__builtin_expect(c_ == NULL, 0) ||                                \
            __builtin_expect(!hs_io_direct_fits_inline(c_, (total)), 0))      \
            return slow(t_);                                                  \
        long r_ = (direct);                                                   \
        if (__builtin_expect(r_ <= 0, 0))                                     \
            return direct_done_slow(t_, r_);                                  \
        /* t_->conn read again and the lock's words made afresh, rather     \
         * than kept across the system call: so few values live across it \
         * that the wrapper needs no stack frame */                         \
        if (__builtin_expect(hs_io_direct_sent_inline(t_->conn, (size_t)r_), \
                             0))                                              \
            return direct_body_ended(t_, r_);                                 \
        int held_, free_;                                                     \
        lock_words_afresh(&held_, &free_);                                    \
        if (__builtin_expect(!atomic_compare_exchange_strong(&t_->lock.word,  \
                                                             &held_, free_),  \
                             0))                                              \
            return direct_done_slow(t_, r_);                                  \
        hs_in_shim--;                                                         \
        return r_;                                                            \
    } while (0)

/* ---- the tracked calls: the fast path, kept apart from the general one
 * so that it needs a small stack frame and few saved registers ---------- */

/* On a known connection in enforce mode, the fast path; `real` repeats
 * the application's call, `general` is the full path. `locked`: the
 * track whose lock TRY_DIRECT holds (the call did not fit the body
 * room, a head, say), or NULL. In enforce mode and not re-entered the
 * engine goes on under that lock rather than letting go and taking it
 * again; otherwise it is let go first (LET_GO_OR_PASS). */
#define FAST_OR_GENERAL(fd, sp, iov, iovcnt, flags, real, general, locked)    \
    do {                                                                      \
        if ((locked) && hs_in_shim == 1 && hs_cfg.mode == HS_MODE_ENFORCE) { \
            ssize_t l_ = fast_writev_locked((locked), (sp), (fd), (iov),      \
                                            (iovcnt), (flags));               \
            if (__builtin_expect(l_ != HS_RETRY, 1))                          \
                return l_ == HS_DO_REAL ? (real) : l_;                        \
            return (general);                                                 \
        }                                                                     \
        LET_GO_OR_PASS((locked), (real));                                     \
        uintptr_t slot_ = atomic_load_explicit((sp), memory_order_acquire);  \
        if (HS_SLOT_IS_TRACK(slot_) && hs_cfg.mode == HS_MODE_ENFORCE) {     \
            ssize_t f_ = fast_writev((hs_track *)slot_, (sp), (fd), (iov),    \
                                     (iovcnt), (flags));                      \
            if (__builtin_expect(f_ != HS_RETRY, 1))                          \
                return f_ == HS_DO_REAL ? (real) : f_;                        \
        }                                                                     \
        return (general);                                                     \
    } while (0)

static __attribute__((noinline)) ssize_t write_slow(int fd, const void *buf, size_t n,
                                                    _Atomic uintptr_t *sp, hs_track *locked)
{
    struct iovec v = {(void *)buf, n};
    FAST_OR_GENERAL(fd, sp, &v, 1, 0,
                    REAL(write, hs_sys(SYS_write, fd, buf, n), fd, buf, n),
                    write_general(fd, buf, n),
                    locked);
}

static __attribute__((noinline)) ssize_t writev_slow(int fd, const struct iovec *iov,
                                                     int iovcnt, _Atomic uintptr_t *sp,
                                                     hs_track *locked)
{
    FAST_OR_GENERAL(fd, sp, iov, iovcnt, 0,
                    REAL(writev, hs_sys(SYS_writev, fd, iov, iovcnt), fd, iov, iovcnt),
                    writev_general(fd, iov, iovcnt),
                    locked);
}

static __attribute__((noinline)) ssize_t pwritev2_slow(int fd, const struct iovec *iov,
                                                       int iovcnt, off_t offset, int flags,
                                                       _Atomic uintptr_t *sp)
{
    if (offset != -1 || flags != 0)
        return pwritev2_general(fd, iov, iovcnt, offset, flags);
    FAST_OR_GENERAL(fd, sp, iov, iovcnt, 0,
                    REAL(pwritev2,
                         hs_sys6(SYS_pwritev2, fd, (long)iov, iovcnt, -1, 0, 0),
                         fd, iov, iovcnt, offset, flags),
                    pwritev2_general(fd, iov, iovcnt, offset, flags),
                    (hs_track *)NULL);
}

static __attribute__((noinline)) ssize_t pwritev64v2_slow(int fd, const struct iovec *iov,
                                                          int iovcnt, off64_t offset,
                                                          int flags, _Atomic uintptr_t *sp)
{
    if (offset != -1 || flags != 0)
        return pwritev64v2_general(fd, iov, iovcnt, offset, flags);
    FAST_OR_GENERAL(fd, sp, iov, iovcnt, 0,
                    REAL(pwritev64v2,
                         hs_sys6(SYS_pwritev2, fd, (long)iov, iovcnt, -1, 0, 0),
                         fd, iov, iovcnt, offset, flags),
                    pwritev64v2_general(fd, iov, iovcnt, offset, flags),
                    (hs_track *)NULL);
}

static __attribute__((noinline)) ssize_t send_slow(int fd, const void *buf, size_t n,
                                                   int flags, _Atomic uintptr_t *sp,
                                                   hs_track *locked)
{
    /* before the early ways out to the general path */
    PASS_IF_REENTERED(locked,
                      REAL(send, hs_sys6(SYS_sendto, fd, (long)buf, (long)n, flags, 0, 0),
                          fd, buf, n, flags));
    if (flags & MSG_OOB)
        return send_general(fd, buf, n, flags);
    struct iovec v = {(void *)buf, n};
    FAST_OR_GENERAL(fd, sp, &v, 1, flags,
                    REAL(send, hs_sys6(SYS_sendto, fd, (long)buf, (long)n, flags, 0, 0),
                         fd, buf, n, flags),
                    send_general(fd, buf, n, flags),
                    locked);
}

static __attribute__((noinline)) ssize_t sendto_slow(int fd, const void *buf, size_t n,
                                                     int flags, const struct sockaddr *addr,
                                                     socklen_t alen, _Atomic uintptr_t *sp,
                                                     hs_track *locked)
{
    /* before the early ways out to the general path */
    PASS_IF_REENTERED(locked,
                      REAL(sendto, hs_sys6(SYS_sendto, fd, (long)buf, (long)n, flags,
                                          (long)addr, (long)alen),
                          fd, buf, n, flags, addr, alen));
    if (flags & MSG_OOB)
        return sendto_general(fd, buf, n, flags, addr, alen);
    struct iovec v = {(void *)buf, n};
    FAST_OR_GENERAL(fd, sp, &v, 1, flags,
                    REAL(sendto, hs_sys6(SYS_sendto, fd, (long)buf, (long)n, flags,
                                         (long)addr, (long)alen),
                         fd, buf, n, flags, addr, alen),
                    sendto_general(fd, buf, n, flags, addr, alen),
                    locked);
}

static __attribute__((noinline)) ssize_t sendmsg_slow(int fd, const struct msghdr *m,
                                                      int flags, _Atomic uintptr_t *sp,
                                                      hs_track *locked)
{
    /* before the early ways out to the general path */
    PASS_IF_REENTERED(locked,
                      REAL(sendmsg, hs_sys(SYS_sendmsg, fd, m, flags), fd, m, flags));
    if (!m || m->msg_controllen > 0 || (flags & MSG_OOB) ||
        m->msg_iovlen > (size_t)0x7fffffff)
        return sendmsg_general(fd, m, flags);
    FAST_OR_GENERAL(fd, sp, m->msg_iov, (int)m->msg_iovlen, flags,
                    REAL(sendmsg, hs_sys(SYS_sendmsg, fd, m, flags), fd, m, flags),
                    sendmsg_general(fd, m, flags),
                    locked);
}

/* ---- sendfile and splice: body bytes, by reference --------------------- */

static ssize_t track_blind(hs_track *t, int fd, int in_fd, loff_t *off,
                           size_t count, unsigned flags, bool is_splice)
{
    int saved = errno;
    ssize_t r = HS_DO_REAL;
    hs_in_shim++;
    hs_lock_take(&t->lock);
    if (t->conn) {
        t->cur_fd = fd;
        hs_kernel k;
        hs_kctx kc = {.fd = fd,
                      .flags = (flags & SPLICE_F_MORE) ? MSG_MORE : 0,
                      .track = t};
        hs_kernel_make(&k, &kc);
        r = is_splice ? hs_io_splice(t->conn, &k, in_fd, off, count, flags)
                      : hs_io_sendfile(t->conn, &k, in_fd, (off_t *)off, count);
        hs_track_maybe_forget(t, fd);
    }
    hs_lock_drop(&t->lock);
    hs_in_shim--;
    hs_track_release(t);
    if (r == HS_DO_REAL) {
        errno = saved;
        return r;
    }
    return r < 0 ? (errno = (int)-r, -1) : (errno = saved, r);
}

#define BLIND_BODY(fd, in_fd, off, count, flags, is_splice, real)             \
    do {                                                                      \
        /* only reached from the exported names, after hs_fast_pass */       \
        struct iovec none_ = {NULL, 0};                                       \
        hs_track *t_ = out_track((fd), &none_, 0);                            \
        if (!t_)                                                              \
            return (real);                                                    \
        if (hs_cfg.mode == HS_MODE_REPORT) {                                  \
            hs_in_shim++;                                                     \
            hs_lock_take(&t_->lock);                                    \
            ssize_t r_ = (real);                                              \
            int e_ = errno;                                                   \
            if (r_ > 0 && t_->conn) {                                         \
                t_->cur_fd = (fd);                                            \
                hs_io_observe_blind(t_->conn, (size_t)r_);                    \
                hs_track_maybe_forget(t_, (fd));                                    \
            }                                                                 \
            hs_lock_drop(&t_->lock);                                  \
            hs_in_shim--;                                                     \
            hs_track_release(t_);                                             \
            errno = e_;                                                       \
            return r_;                                                        \
        }                                                                     \
        ssize_t r_ = track_blind(t_, (fd), (in_fd), (off), (count), (flags),  \
                                 (is_splice));                                \
        if (r_ != HS_DO_REAL)                                                 \
            return r_;                                                        \
        return (real);                                                        \
    } while (0)

static __attribute__((noinline)) ssize_t sendfile_slow(int out_fd, int in_fd, off_t *offset,
                                                       size_t count, hs_track *locked)
{
#define REAL_SENDFILE                                                         \
    REAL(sendfile, hs_sys6(SYS_sendfile, out_fd, in_fd, (long)offset,         \
                           (long)count, 0, 0),                                \
         out_fd, in_fd, offset, count)
    LET_GO_OR_PASS(locked, REAL_SENDFILE);
    BLIND_BODY(out_fd, in_fd, (loff_t *)offset, count, 0, false, REAL_SENDFILE);
#undef REAL_SENDFILE
}

static __attribute__((noinline)) ssize_t sendfile64_slow(int out_fd, int in_fd, off64_t *offset,
                                                         size_t count, hs_track *locked)
{
#define REAL_SENDFILE64                                                       \
    REAL(sendfile64, hs_sys6(SYS_sendfile, out_fd, in_fd, (long)offset,       \
                             (long)count, 0, 0),                              \
         out_fd, in_fd, offset, count)
    LET_GO_OR_PASS(locked, REAL_SENDFILE64);
    BLIND_BODY(out_fd, in_fd, (loff_t *)offset, count, 0, false,
               REAL_SENDFILE64);
#undef REAL_SENDFILE64
}

static __attribute__((noinline)) ssize_t splice_slow(int fd_in, loff_t *off_in, int fd_out,
                         loff_t *off_out, size_t len, unsigned flags)
{
#define REAL_SPLICE                                                           \
    REAL(splice, hs_sys6(SYS_splice, fd_in, (long)off_in, fd_out,             \
                         (long)off_out, (long)len, flags),                    \
         fd_in, off_in, fd_out, off_out, len, flags)
    if (!shim_active())
        return REAL_SPLICE;
    /* Request bytes spliced out of a connection (lighttpd's request
     * bodies) never pass through recv: the request side can no longer be
     * framed, so that connection passes through (never guess). */
    if (HS_SLOT_IS_TRACK(hs_fd_peek(fd_in)))
        give_up(fd_in, "request bytes moved by splice");
    if (off_out != NULL)
        return REAL_SPLICE;         /* not a socket: sockets have no offset */
    BLIND_BODY(fd_out, fd_in, off_in, len, flags, true, REAL_SPLICE);
#undef REAL_SPLICE
}

/* ---- the exported names: one inline test, then the real call, the
 * direct body call or the slow path (kept out of line so that neither the
 * pass-through path nor the direct call needs a stack frame:
 * interposition.md 5.6 and the 40-instruction budget) ------------------ */

HS_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    _Atomic uintptr_t *sp = hs_fd_slotp(fd);
    uintptr_t slot = atomic_load_explicit(sp, memory_order_acquire);
#define SLOW(t) write_slow(fd, buf, n, sp, (t))
    /* hs_libc.write is never NULL: realfn.c */
    TRACKED_FIRST(slot, hs_libc.write(fd, buf, n), SLOW);
    TRY_DIRECT(sp, slot, n, hs_raw3_inline(SYS_write, fd, (long)buf, (long)n), SLOW);
#undef SLOW
}

HS_EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    _Atomic uintptr_t *sp = hs_fd_slotp(fd);
    uintptr_t slot = atomic_load_explicit(sp, memory_order_acquire);
#define SLOW(t) writev_slow(fd, iov, iovcnt, sp, (t))
    TRACKED_FIRST(slot, hs_libc.writev(fd, iov, iovcnt), SLOW);
    TRY_DIRECT(sp, slot, iov_sum(iov, iovcnt),
               hs_raw3_inline(SYS_writev, fd, (long)iov, iovcnt), SLOW);
#undef SLOW
}

HS_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt,
                           off_t offset, int flags)
{
    _Atomic uintptr_t *sp = hs_fd_slotp(fd);
    uintptr_t slot = atomic_load_explicit(sp, memory_order_acquire);
    if (__builtin_expect(hs_slot_pass(slot), 1))
        return REAL(pwritev2,
                    hs_sys6(SYS_pwritev2, fd, (long)iov, iovcnt, (long)offset, 0, flags),
                    fd, iov, iovcnt, offset, flags);
    return pwritev2_slow(fd, iov, iovcnt, offset, flags, sp);
}

HS_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int iovcnt,
                              off64_t offset, int flags)
{
    _Atomic uintptr_t *sp = hs_fd_slotp(fd);
    uintptr_t slot = atomic_load_explicit(sp, memory_order_acquire);
    if (__builtin_expect(hs_slot_pass(slot), 1))
        return REAL(pwritev64v2,
                    hs_sys6(SYS_pwritev2, fd, (long)iov, iovcnt, (long)offset, 0, flags),
                    fd, iov, iovcnt, offset, flags);
    return pwritev64v2_slow(fd, iov, iovcnt, offset, flags, sp);
}

HS_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    _Atomic uintptr_t *sp = hs_fd_slotp(fd);
    uintptr_t slot = atomic_load_explicit(sp, memory_order_acquire);
#define SLOW(t) send_slow(fd, buf, n, flags, sp, (t))
    TRACKED_FIRST(slot, REAL(send, hs_sys6(SYS_sendto, fd, (long)buf, (long)n, flags, 0, 0),
                        fd, buf, n, flags), SLOW);
    if (flags & MSG_OOB)
        return SLOW(NULL);
    TRY_DIRECT(sp, slot, n,
               hs_raw6_inline(SYS_sendto, fd, (long)buf, (long)n, flags, 0, 0), SLOW);
#undef SLOW
}

HS_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
                         const struct sockaddr *addr, socklen_t alen)
{
    _Atomic uintptr_t *sp = hs_fd_slotp(fd);
    uintptr_t slot = atomic_load_explicit(sp, memory_order_acquire);
#define SLOW(t) sendto_slow(fd, buf, n, flags, addr, alen, sp, (t))
    TRACKED_FIRST(slot, REAL(sendto, hs_sys6(SYS_sendto, fd, (long)buf, (long)n, flags,
                                        (long)addr, (long)alen),
                        fd, buf, n, flags, addr, alen), SLOW);
    if (flags & MSG_OOB)
        return SLOW(NULL);
    TRY_DIRECT(sp, slot, n,
               hs_raw6_inline(SYS_sendto, fd, (long)buf, (long)n, flags,
                              (long)addr, (long)alen), SLOW);
#undef SLOW
}

HS_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    _Atomic uintptr_t *sp = hs_fd_slotp(fd);
    uintptr_t slot = atomic_load_explicit(sp, memory_order_acquire);
#define SLOW(t) sendmsg_slow(fd, m, flags, sp, (t))
    TRACKED_FIRST(slot, REAL(sendmsg, hs_sys(SYS_sendmsg, fd, m, flags), fd, m, flags), SLOW);
    if (!m || m->msg_controllen > 0 || (flags & MSG_OOB) ||
        m->msg_iovlen > (size_t)0x7fffffff)
        return SLOW(NULL);
    TRY_DIRECT(sp, slot, iov_sum(m->msg_iov, (int)m->msg_iovlen),
               hs_raw3_inline(SYS_sendmsg, fd, (long)m, flags), SLOW);
#undef SLOW
}

/* A sendfile of body bytes (nginx's, Apache's) is a direct call like a
 * write: the body room is in body bytes, wherever they come from (rule 8:
 * nothing is owed when there is room). */
HS_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    _Atomic uintptr_t *sp = hs_fd_slotp(out_fd);
    uintptr_t slot = atomic_load_explicit(sp, memory_order_acquire);
#define SLOW(t) sendfile_slow(out_fd, in_fd, offset, count, (t))
    TRACKED_FIRST(slot,
                  REAL(sendfile, hs_sys6(SYS_sendfile, out_fd, in_fd, (long)offset,
                                         (long)count, 0, 0),
                       out_fd, in_fd, offset, count),
                  SLOW);
    TRY_DIRECT(sp, slot, count,
               hs_raw6_inline(SYS_sendfile, out_fd, in_fd, (long)offset,
                              (long)count, 0, 0),
               SLOW);
#undef SLOW
}

HS_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset,
                             size_t count)
{
    _Atomic uintptr_t *sp = hs_fd_slotp(out_fd);
    uintptr_t slot = atomic_load_explicit(sp, memory_order_acquire);
#define SLOW(t) sendfile64_slow(out_fd, in_fd, offset, count, (t))
    TRACKED_FIRST(slot,
                  REAL(sendfile64, hs_sys6(SYS_sendfile, out_fd, in_fd, (long)offset,
                                           (long)count, 0, 0),
                       out_fd, in_fd, offset, count),
                  SLOW);
    TRY_DIRECT(sp, slot, count,
               hs_raw6_inline(SYS_sendfile, out_fd, in_fd, (long)offset,
                              (long)count, 0, 0),
               SLOW);
#undef SLOW
}

HS_EXPORT ssize_t splice(int fd_in, loff_t *off_in, int fd_out,
                         loff_t *off_out, size_t len, unsigned flags)
{
    /* both ends matter: request bytes spliced out of a connection */
    if (__builtin_expect(hs_fast_pass(fd_out) && hs_fast_pass(fd_in), 1))
        return REAL(splice, hs_sys6(SYS_splice, fd_in, (long)off_in, fd_out,
                                    (long)off_out, (long)len, flags),
                    fd_in, off_in, fd_out, off_out, len, flags);
    return splice_slow(fd_in, off_in, fd_out, off_out, len, flags);
}
