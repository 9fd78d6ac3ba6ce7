/*
 * shell.h - the imperative shell's internal declarations (library only).
 *
 * The shell binds libc (realfn.c), reads the environment once (env.c),
 * keeps fd -> connection state (fdtable.c, classify.c), logs (log.c) and
 * drives the core's engine against the real kernel (glue.c). The exported
 * libc names live in interpose_*.c.
 */
#ifndef HS_SHELL_H
#define HS_SHELL_H

#ifdef _FILE_OFFSET_BITS
/* interposition.md 5.8: with 64-bit offsets the headers rename fcntl and
 * sendfile, and the pair could not both be defined. */
#error "the shell must be compiled without _FILE_OFFSET_BITS"
#endif

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "headershim.h"
#include "iomap_direct.h"   /* hs_conn_left_http */

#define HS_EXPORT __attribute__((visibility("default")))
#define HS_HIDDEN __attribute__((visibility("hidden")))

/* ---- realfn.c: libc as it was before us -------------------------------- */

typedef struct hs_real {
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*sendto)(int, const void *, size_t, int,
                      const struct sockaddr *, socklen_t);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    ssize_t (*pwritev2)(int, const struct iovec *, int, off_t, int);
    ssize_t (*pwritev64v2)(int, const struct iovec *, int, off64_t, int);
    ssize_t (*sendfile)(int, int, off_t *, size_t);
    ssize_t (*sendfile64)(int, int, off64_t *, size_t);
    ssize_t (*splice)(int, loff_t *, int, loff_t *, size_t, unsigned);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *,
                        socklen_t *);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    ssize_t (*read_chk)(int, void *, size_t, size_t);
    ssize_t (*recv_chk)(int, void *, size_t, size_t, int);
    ssize_t (*recvfrom_chk)(int, void *, size_t, size_t, int,
                            struct sockaddr *, socklen_t *);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*socket)(int, int, int);
    int (*close)(int);
    int (*close_range)(unsigned, unsigned, int);
    void (*closefrom)(int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fcntl)(int, int, ...);
    int (*fcntl64)(int, int, ...);
    int (*shutdown)(int, int);
    long (*syscall)(long, ...);
    int (*execve)(const char *, char *const[], char *const[]);
    int (*execv)(const char *, char *const[]);
    int (*execvp)(const char *, char *const[]);
    int (*execvpe)(const char *, char *const[], char *const[]);
    int (*fexecve)(int, char *const[], char *const[]);
} hs_real;

extern hs_real hs_libc HS_HIDDEN;
/* True once every pointer above is bound (constructor, atfork prepare). */
extern _Atomic bool hs_bound HS_HIDDEN;
void hs_real_bind(void) HS_HIDDEN;

/* Raw system calls: no errno, return -errno. Used before binding, by the
 * log and by the policy loader (which must not go through our wrappers). */
long hs_raw6(long nr, long a, long b, long c, long d, long e, long f) HS_HIDDEN;
#define hs_raw(nr, a, b, c) hs_raw6((nr), (long)(a), (long)(b), (long)(c), 0, 0, 0)
/* The same but with errno set the libc way: -1 and errno on failure. */
long hs_sys6(long nr, long a, long b, long c, long d, long e, long f) HS_HIDDEN;
#define hs_sys(nr, a, b, c) hs_sys6((nr), (long)(a), (long)(b), (long)(c), 0, 0, 0)
/* hs_raw6 inline, for the hot path of every body write (a call to
 * hs_raw6 costs the caller its saved registers). */
static inline long hs_raw6_inline(long nr, long a, long b, long c, long d,
                                  long e, long f)
{
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
                       "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
#else
    return hs_raw6(nr, a, b, c, d, e, f);
#endif
}
static inline long hs_raw3_inline(long nr, long a, long b, long c)
{
#if defined(__x86_64__)
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
#else
    return hs_raw6(nr, a, b, c, 0, 0, 0);
#endif
}

/* ---- env.c: configuration, read once ----------------------------------- */

typedef enum hs_mode { HS_MODE_OFF = 0, HS_MODE_ENFORCE, HS_MODE_REPORT } hs_mode;
typedef enum hs_loglevel {
    HS_LOG_OFF = 0, HS_LOG_ERROR, HS_LOG_INFO, HS_LOG_DEBUG
} hs_loglevel;

#define HS_MAX_PORT_RANGES 64
typedef struct hs_port_range { unsigned short lo, hi; } hs_port_range;

typedef struct hs_config {
    hs_mode mode;                /* OFF: every wrapper is a plain forwarder */
    bool inert;                  /* a second copy of the library */
    hs_loglevel log_level;
    const char *policy_spec;     /* as given (for the start line) */
    bool unix_sockets;           /* HEADERSHIM_SOCKETS=tcp,unix */
    size_t nports;               /* 0: every port */
    hs_port_range ports[HS_MAX_PORT_RANGES];
    bool tls_all;                /* HEADERSHIM_TLS=on */
    size_t ntls;
    hs_port_range tls[HS_MAX_PORT_RANGES];
    hs_engine_config engine;
} hs_config;

extern hs_config hs_cfg HS_HIDDEN;
/* Reads and validates every HEADERSHIM_* variable; loads the policy. */
void hs_env_init(int argc, char **argv) HS_HIDDEN;
bool hs_port_listed(const hs_port_range *r, size_t n, int port) HS_HIDDEN;

/* ---- log.c ------------------------------------------------------------- */

/* 0, or -errno when the log file cannot be opened. */
int hs_log_init(const char *file, hs_loglevel level) HS_HIDDEN;
/* "headershim: ..." user errors at configuration time (stderr). */
void hs_log_config_error(const char *fmt, ...) HS_HIDDEN
    __attribute__((format(printf, 1, 2)));
void hs_log_start(void) HS_HIDDEN;
void hs_log_exit(void) HS_HIDDEN;
void hs_log_event(int fd, const hs_event *ev) HS_HIDDEN;
/* A connection the shim had to give up on (fd beyond the table, lost at
 * fork): first one at error. */
void hs_log_unreachable(int fd, const char *why) HS_HIDDEN;
/* Forgets the log fd when the application is about to close it or dup
 * over it, so the next line reopens. */
void hs_log_fd_closing(int fd) HS_HIDDEN;
/* The descriptor the log writes to, or -1 (log.c). */
extern _Atomic int hs_log_fd_now HS_HIDDEN;
static inline int hs_log_fd(void)
{
    return atomic_load(&hs_log_fd_now);
}
/* The log writes to fd. Inline: close() asks it for every descriptor. */
static inline bool hs_log_uses_fd(int fd)
{
    return fd >= 0 && fd == hs_log_fd();
}

/* Counters for the exit line. */
extern _Atomic unsigned long hs_count_conns HS_HIDDEN, hs_count_rewrites HS_HIDDEN,
    hs_count_reports HS_HIDDEN, hs_count_desyncs HS_HIDDEN,
    hs_count_errors HS_HIDDEN;

/* ---- fdtable.c: fd -> connection --------------------------------------- */

/* A connection's lock: a futex word, so an uncontended call costs one
 * compare-exchange to take it and one to drop it, and no libc call. Never
 * held by a thread that waits for anything but the real call it protects
 * (rule 9: close and shutdown only ever trylock).
 *
 * The word also carries the track's end: HS_LOCK_DEAD is set (for good,
 * until the track is recycled) when the last reference goes. Writers on
 * the hot path take no reference, only the lock; so the last reference
 * never frees a connection whose lock is held: it marks the word dead and
 * whoever holds the lock retires the track when dropping it. A dead word
 * can no longer be taken. */
#define HS_LOCK_HELD 1
#define HS_LOCK_WAITERS 2
#define HS_LOCK_DEAD 4
typedef struct hs_lock { _Atomic int word; } hs_lock;
/* Slow paths: false when the lock is dead (the track is gone). */
bool hs_lock_wait(hs_lock *l) HS_HIDDEN;
void hs_lock_drop_slow(hs_lock *l) HS_HIDDEN;
static inline void hs_lock_init(hs_lock *l) { atomic_store(&l->word, 0); }
static inline bool hs_lock_try(hs_lock *l)
{
    int c = 0;
    return atomic_compare_exchange_strong(&l->word, &c, HS_LOCK_HELD);
}
/* False only for a dead lock: never for a caller holding a reference. */
static inline bool hs_lock_take(hs_lock *l)
{
    return hs_lock_try(l) || hs_lock_wait(l);
}
static inline void hs_lock_drop(hs_lock *l)
{
    int c = HS_LOCK_HELD;
    if (!atomic_compare_exchange_strong(&l->word, &c, 0))
        hs_lock_drop_slow(l);          /* waiters, or the track died */
}

typedef struct hs_kctx {
    int fd;
    int flags;                   /* the application's send flags */
    struct hs_track *track;
} hs_kctx;

/* What the shell knows about one open connection. Shared (refcounted) by
 * every fd that dup() made from the same open file description. */
typedef struct hs_track {
    hs_lock lock;                /* held across the real call: byte order
                                    (first member: hs_lock_drop_slow) */
    _Atomic int refs;            /* one per fd slot + one per call in flight */
    _Atomic int nfds;            /* fd slots that point here */
    hs_conn *conn;               /* NULL: pass-through for good */
    int cur_fd;                  /* the fd of the call in progress */
    int saved_errno;             /* the application's errno, under the lock */
    int local_port;
    bool tls;
    bool lost_at_fork;           /* not flushed at fork: child lets it go */
    bool locked_at_fork;         /* the fork handlers hold its lock */
    /* The engine's kernel for calls made under the lock: built once, only
     * kctx.fd and kctx.flags change per call. */
    hs_kernel kernel;
    hs_kctx kctx;
    struct hs_track *next_all;   /* every track ever made (fork, exit) */
    struct hs_track *next_free;
} hs_track;

/* Slot values besides a track pointer (tracks are 8-aligned, so the low
 * three bits tag the other verdicts). */
#define HS_SLOT_UNKNOWN ((uintptr_t)0)
#define HS_SLOT_IGNORE  ((uintptr_t)1)   /* not ours: pass through */
#define HS_TAG_LISTENER ((uintptr_t)2)   /* a listening socket we act on */
#define HS_TAG_CANDIDATE ((uintptr_t)3)  /* a stream socket of ours whose
                                            first output is still to come */
#define HS_SLOT_IS_TRACK(v) ((v) > HS_SLOT_IGNORE && ((v) & 7u) == 0)
#define HS_SLOT_TAG(v) ((v) & 7u)
#define HS_SLOT_MAKE(tag, port, tls) \
    ((((uintptr_t)((port) + 1)) << 8) | ((uintptr_t)(tls) << 4) | (tag))
#define HS_SLOT_PORT(v) ((int)((v) >> 8) - 1)
#define HS_SLOT_TLS(v) ((((v) >> 4) & 1u) != 0)

/* The table: HS_FD_L1 chunks of HS_FD_L2 slots, mapped lazily. */
#define HS_FD_L2_BITS 12
#define HS_FD_L2 (1u << HS_FD_L2_BITS)
#define HS_FD_L1 1024u
#define HS_FD_MAX ((int)(HS_FD_L1 * HS_FD_L2))   /* 4 Mi fds */
extern _Atomic(_Atomic uintptr_t *) hs_fd_l1[HS_FD_L1] HS_HIDDEN;
/* The chunk every unmapped L1 entry points at (all UNKNOWN, read only). */
extern _Atomic uintptr_t hs_fd_none[HS_FD_L2] HS_HIDDEN;

/* Lock-free, no malloc: the slot's value (UNKNOWN for fds beyond the
 * table). Inline: it is the whole cost of an untracked fd: one range
 * test and two loads. */
static inline uintptr_t hs_fd_peek(int fd)
{
    if ((unsigned)fd >= (unsigned)HS_FD_MAX)
        return HS_SLOT_UNKNOWN;
    _Atomic uintptr_t *chunk = atomic_load_explicit(
        &hs_fd_l1[(unsigned)fd >> HS_FD_L2_BITS], memory_order_acquire);
    return atomic_load_explicit(&chunk[(unsigned)fd & (HS_FD_L2 - 1)],
                                memory_order_acquire);
}
/* Where fd's slot is, for a wrapper that reads it now and checks it again
 * under a lock later (one load then). fds beyond the table get a slot of
 * the shared all-UNKNOWN chunk, which is never written. */
static inline _Atomic uintptr_t *hs_fd_slotp(int fd)
{
    if ((unsigned)fd >= (unsigned)HS_FD_MAX)
        return &hs_fd_none[0];
    _Atomic uintptr_t *chunk = atomic_load_explicit(
        &hs_fd_l1[(unsigned)fd >> HS_FD_L2_BITS], memory_order_acquire);
    return &chunk[(unsigned)fd & (HS_FD_L2 - 1)];
}
/* Stores a verdict; false when the fd is beyond the table (then the fd is
 * simply passed through every time). */
bool hs_fd_set(int fd, uintptr_t v) HS_HIDDEN;
void hs_track_release(hs_track *t) HS_HIDDEN;

/* Takes a reference to the fd's track, or NULL. Track memory is never
 * freed (only recycled), so a stale pointer can be tried safely: the
 * reference is taken only while refs > 0, and the slot must still hold
 * the same track afterwards (the slot is the generation check). */
static inline hs_track *hs_fd_acquire(int fd)
{
    uintptr_t v = hs_fd_peek(fd);
    if (!HS_SLOT_IS_TRACK(v))
        return NULL;
    hs_track *t = (hs_track *)v;
    int r = atomic_load_explicit(&t->refs, memory_order_relaxed);
    do {
        if (r <= 0)
            return NULL;
    } while (!atomic_compare_exchange_weak(&t->refs, &r, r + 1));
    if (hs_fd_peek(fd) != v) {           /* closed and reused meanwhile */
        hs_track_release(t);
        return NULL;
    }
    return t;
}
/* A new track for a fresh connection; refs 1 is the caller's, who
 * attaches it to an fd and then releases it. NULL: pass through. */
hs_track *hs_track_new(int local_port, bool tls) HS_HIDDEN;
/* Binds fd to the track t (taking a slot reference) after dropping
 * whatever the slot held. */
void hs_fd_attach(int fd, hs_track *t) HS_HIDDEN;
/* Drops the fd's slot (close, reuse) without flushing. */
void hs_fd_forget(int fd) HS_HIDDEN;
/* The fd is closing: flush what is owed if the lock is free (rule 9),
 * then forget. */
void hs_fd_closing(int fd) HS_HIDDEN;
/* Largest fd the table has slots for, +1. */
int hs_fd_limit(void) HS_HIDDEN;
/* Walks every live track (fork, exit). */
void hs_tracks_lock_all(void) HS_HIDDEN;
void hs_tracks_unlock_all_parent(void) HS_HIDDEN;
void hs_tracks_reinit_child(void) HS_HIDDEN;
void hs_tracks_flush_all(int timeout_ms) HS_HIDDEN;
/* Frees the conn (if any: the engine said nothing will change any more),
 * and marks fd IGNORE (called with t->lock held, after a call on fd). */
void hs_track_forget_conn(hs_track *t, int fd) HS_HIDDEN;
static inline void hs_track_maybe_forget(hs_track *t, int fd)
{
    if (__builtin_expect(t->conn && hs_conn_left_http(t->conn), 0))
        hs_track_forget_conn(t, fd);
}

/* Process that owns the table; a vfork child runs with a foreign pid. */
extern pid_t hs_owner_pid HS_HIDDEN;
bool hs_is_owner(void) HS_HIDDEN;

/* ---- classify.c -------------------------------------------------------- */

/* Classifies fd (a socket the app writes to or reads from first): stores
 * HS_SLOT_IGNORE or a new track. Returns the slot value. Syscalls only,
 * plus one malloc when the fd becomes a track. */
uintptr_t hs_classify(int fd) HS_HIDDEN;
/* A connection accepted from listen_fd: inherits the listener's verdict
 * (no system call once the listener is known) and gets a track. */
void hs_classify_accepted(int listen_fd, int fd) HS_HIDDEN;
/* For a CANDIDATE slot at its first output: a track when the bytes could
 * start a status line, else IGNORE. Returns the track (acquired) or NULL. */
hs_track *hs_promote(int fd, uintptr_t v, const struct iovec *iov, int iovcnt) HS_HIDDEN;

/* ---- glue.c: the engine against the real kernel ------------------------ */


void hs_kernel_make(hs_kernel *k, hs_kctx *ctx) HS_HIDDEN;
void hs_on_event(void *ctx, const hs_event *ev) HS_HIDDEN;
/* Converts an engine result to the libc convention, setting errno only on
 * failure. */
ssize_t hs_result(ssize_t r) HS_HIDDEN;

/* ---- shared by the wrappers (interpose_out.c) -------------------------- */

/* The track an output call on fd goes through (acquired), or NULL: make
 * the real call. Classifies unknown fds once. No lock, no malloc unless a
 * new connection is being recognised. */
hs_track *hs_out_begin(int fd, const struct iovec *iov, int iovcnt) HS_HIDDEN;
/* Feeds bytes the application read from fd to its connection. */
void hs_in_feed(int fd, const struct iovec *iov, int iovcnt, size_t n) HS_HIDDEN;
/* Copies fd old's verdict to fd new (dup family). */
void hs_fd_dup(int oldfd, int newfd) HS_HIDDEN;
/* close_range/closefrom over the table. */
void hs_fd_closing_range(unsigned first, unsigned last) HS_HIDDEN;
/* The application is about to close or replace fd: log fd and table. */
void hs_before_close(int fd) HS_HIDDEN;
/* Flushes what a connection owes (shutdown): trylock, bounded wait. */
void hs_fd_flush(int fd) HS_HIDDEN;
void hs_log_atfork_child(void) HS_HIDDEN;

/* Exported names glibc's headers do not declare. */
ssize_t __write(int fd, const void *buf, size_t n);
ssize_t __send(int fd, const void *buf, size_t n, int flags);
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                       struct sockaddr *addr, socklen_t *alen);
extern const char *const headershim_instance;

/* ---- re-entrancy ------------------------------------------------------- */

/* Non-zero while this thread is inside the shim's own work: a wrapper
 * reached again (signal handler, our own I/O) just forwards. */
extern __thread int hs_in_shim HS_HIDDEN;

/* The whole pass-through test of a wrapper (interposition.md 5.6: no lock,
 * no malloc, no log on this path), given the fd's slot: an fd with the
 * IGNORE verdict (tested first: files, pipes, and connections the engine
 * declared pass-through), off, or re-entered. */
static inline bool hs_slot_pass(uintptr_t slot)
{
    return slot == HS_SLOT_IGNORE || hs_cfg.mode == HS_MODE_OFF ||
           hs_in_shim != 0;
}
static inline bool hs_fast_pass(int fd)
{
    return hs_slot_pass(hs_fd_peek(fd));
}

#define HS_FLUSH_TIMEOUT_MS 2000

#endif /* HS_SHELL_H */
