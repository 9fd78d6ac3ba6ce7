/*
 * fdtable.c - fd -> connection, looked up without locks.
 *
 * A two-level table of atomic slots (interposition.md 5.9): the second
 * level is mapped lazily with a raw mmap, so classifying an fd costs no
 * malloc and no lock, and fds beyond HS_FD_MAX pass through rather than
 * failing with EMFILE (nginx's worker_rlimit_nofile can be huge).
 *
 * A slot holds UNKNOWN, IGNORE or a pointer to a track. Tracks are shared
 * by dup'ed fds and refcounted; their memory is never returned to malloc
 * (it is recycled through a free list), so a thread that loaded a stale
 * pointer can always safely try to take a reference: it succeeds only
 * while refs > 0, and then re-checks that the slot still holds the same
 * track (the slot is the generation check).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shell.h"

#define L2_BITS HS_FD_L2_BITS
#define L2_SIZE HS_FD_L2
#define l1 hs_fd_l1

/* Every chunk not mapped yet points at this one: all UNKNOWN and never
 * written, so that hs_fd_peek needs no null test (every wrapper pays for
 * that test). The designated range initializer is a GNU C extension that
 * gcc and clang both accept. */
_Atomic uintptr_t hs_fd_none[HS_FD_L2];
_Atomic(_Atomic uintptr_t *) hs_fd_l1[HS_FD_L1] = {[0 ... HS_FD_L1 - 1] = hs_fd_none};

/* All tracks ever made, and the recycled ones; under registry_lock. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static hs_track *all_tracks;
/* Pushed without a lock (a track retires inside fork handlers that hold
 * registry_lock), popped under registry_lock only, so no ABA. */
static _Atomic(hs_track *) free_tracks;

pid_t hs_owner_pid;

static void track_retire(hs_track *t);

/* The contended side of hs_lock (after Drepper, "Futexes Are Tricky",
 * mutex 2, with the dead bit: a dead lock is never taken). */
bool hs_lock_wait(hs_lock *l)
{
    for (;;) {
        int c = atomic_load(&l->word);
        if (c & HS_LOCK_DEAD)
            return false;
        if (!(c & HS_LOCK_HELD)) {
            /* Taken with the waiters bit: others may still sleep. */
            if (atomic_compare_exchange_weak(&l->word, &c,
                                             HS_LOCK_HELD | HS_LOCK_WAITERS))
                return true;
            continue;
        }
        if (!(c & HS_LOCK_WAITERS) &&
            !atomic_compare_exchange_weak(&l->word, &c, c | HS_LOCK_WAITERS))
            continue;
        hs_raw6(SYS_futex, (long)&l->word, FUTEX_WAIT_PRIVATE,
                c | HS_LOCK_WAITERS, 0, 0, 0);
    }
}

void hs_lock_drop_slow(hs_lock *l)
{
    int old = atomic_fetch_and(&l->word, HS_LOCK_DEAD);
    if (old & HS_LOCK_WAITERS)
        hs_raw6(SYS_futex, (long)&l->word, FUTEX_WAKE_PRIVATE,
                (old & HS_LOCK_DEAD) ? 0x7fffffff : 1, 0, 0, 0);
    if (old & HS_LOCK_DEAD)             /* the last reference went meanwhile */
        track_retire((hs_track *)(void *)l);
}

bool hs_is_owner(void)
{
    return (pid_t)hs_raw(SYS_getpid, 0, 0, 0) == hs_owner_pid;
}

int hs_fd_limit(void) { return HS_FD_MAX; }

static _Atomic uintptr_t *slot_of(int fd, bool create)
{
    if (fd < 0 || fd >= HS_FD_MAX)
        return NULL;
    unsigned hi = (unsigned)fd >> L2_BITS, lo = (unsigned)fd & (L2_SIZE - 1);
    _Atomic uintptr_t *chunk = atomic_load_explicit(&l1[hi], memory_order_acquire);
    if (chunk == hs_fd_none) {
        if (!create)
            return NULL;
        size_t bytes = L2_SIZE * sizeof(_Atomic uintptr_t);
        long m = hs_raw6(SYS_mmap, 0, (long)bytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m < 0 && m > -4096)
            return NULL;
        _Atomic uintptr_t *fresh = (_Atomic uintptr_t *)m, *expected = hs_fd_none;
        if (atomic_compare_exchange_strong(&l1[hi], &expected, fresh)) {
            chunk = fresh;
        } else {
            hs_raw(SYS_munmap, fresh, bytes, 0);
            chunk = expected;
        }
    }
    return &chunk[lo];
}

static void slot_drop(uintptr_t old)
{
    if (HS_SLOT_IS_TRACK(old)) {
        atomic_fetch_sub(&((hs_track *)old)->nfds, 1);
        hs_track_release((hs_track *)old);
    }
}

bool hs_fd_set(int fd, uintptr_t v)
{
    _Atomic uintptr_t *s = slot_of(fd, v != HS_SLOT_UNKNOWN);
    if (!s)
        return v == HS_SLOT_UNKNOWN;
    slot_drop(atomic_exchange(s, v));
    return true;
}

/* The track is unreachable and its lock free for good: free the conn,
 * recycle the memory. */
static void track_retire(hs_track *t)
{
    if (t->conn)
        hs_conn_free(t->conn);
    t->conn = NULL;
    hs_track *head = atomic_load(&free_tracks);
    do
        t->next_free = head;
    while (!atomic_compare_exchange_weak(&free_tracks, &head, t));
}

void hs_track_release(hs_track *t)
{
    if (atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    /* Last reference: nobody can reach the track through a slot any more,
     * but a writer on the fast path may hold its lock (without a
     * reference): then that writer retires it when dropping the lock. */
    if (atomic_fetch_or(&t->lock.word, HS_LOCK_DEAD) & HS_LOCK_HELD)
        return;
    track_retire(t);
}

hs_track *hs_track_new(int local_port, bool tls)
{
    hs_track *t;
    pthread_mutex_lock(&registry_lock);
    t = atomic_load(&free_tracks);
    while (t && !atomic_compare_exchange_weak(&free_tracks, &t, t->next_free))
        ;
    if (t) {
        /* Dead since it retired; a writer that still holds a stale
         * pointer may take it from now on, but finds the fd's slot
         * holding something else and lets go. */
        hs_lock_init(&t->lock);
    } else {
        t = calloc(1, sizeof *t);
        if (t) {
            hs_lock_init(&t->lock);
            t->next_all = all_tracks;
            all_tracks = t;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    if (!t)
        return NULL;
    t->conn = hs_conn_new(&hs_cfg.engine, local_port, tls, t);
    if (!t->conn) {                     /* no memory: pass through */
        atomic_store(&t->refs, 1);
        hs_track_release(t);
        return NULL;
    }
    t->local_port = local_port;
    t->tls = tls;
    t->cur_fd = -1;
    t->lost_at_fork = false;
    t->kctx.track = t;
    hs_kernel_make(&t->kernel, &t->kctx);
    atomic_fetch_add(&hs_count_conns, 1);
    atomic_store(&t->nfds, 0);
    atomic_store(&t->refs, 1);
    return t;
}

void hs_fd_attach(int fd, hs_track *t)
{
    atomic_fetch_add(&t->refs, 1);
    atomic_fetch_add(&t->nfds, 1);
    if (!hs_fd_set(fd, (uintptr_t)t)) {
        atomic_fetch_sub(&t->nfds, 1);
        hs_track_release(t);
    }
}

void hs_fd_forget(int fd)
{
    _Atomic uintptr_t *s = slot_of(fd, false);
    if (s && atomic_load_explicit(s, memory_order_relaxed) != HS_SLOT_UNKNOWN)
        slot_drop(atomic_exchange(s, HS_SLOT_UNKNOWN));
}

void hs_fd_closing(int fd)
{
    hs_track *t = hs_fd_acquire(fd);
    if (t) {
        /* Rule 9: a watchdog's close must never wait behind a write that
         * is blocked on a stalled client. Busy: skip the flush. */
        if (hs_lock_try(&t->lock)) {
            /* Only the last fd of the connection flushes: a dup'ed fd
             * (BusyBox's dup2 onto 0 and 1) keeps writing. */
            if (t->conn && hs_conn_owes_bytes(t->conn) &&
                atomic_load(&t->nfds) <= 1) {
                hs_kernel k;
                hs_kctx kc = {.fd = fd, .flags = MSG_NOSIGNAL, .track = t};
                hs_kernel_make(&k, &kc);
                t->cur_fd = fd;
                (void)hs_io_flush(t->conn, &k, HS_FLUSH_TIMEOUT_MS);
            }
            hs_lock_drop(&t->lock);
        }
        hs_track_release(t);
    }
    /* An IGNORE verdict survives the close: the number's next owner is a
     * file or pipe again (a read() of a static file would otherwise cost a
     * getsockopt per request), or comes from accept, socket, dup* or
     * SCM_RIGHTS, which all set the slot themselves. */
    if (hs_fd_peek(fd) != HS_SLOT_IGNORE)
        hs_fd_forget(fd);
}

void hs_track_forget_conn(hs_track *t, int fd)
{
    if (t->conn)
        hs_conn_free(t->conn);
    t->conn = NULL;
    /* From now on fd costs what an untracked fd costs: its slot says
     * IGNORE (if it still holds this track). Other fds dup'ed from it
     * follow on their next call. */
    if (fd < 0 || fd >= HS_FD_MAX)
        return;
    _Atomic uintptr_t *s = slot_of(fd, false);
    uintptr_t expected = (uintptr_t)t;
    if (s && atomic_compare_exchange_strong(s, &expected, HS_SLOT_IGNORE))
        slot_drop(expected);
}

/* ---- fork and exit ----------------------------------------------------- */

/* One budget for all the flushes of a fork, exec or exit: many connections
 * owing bytes to stalled clients must not add up to minutes. */
static long now_ms(void)
{
    struct timespec ts;
    hs_raw(SYS_clock_gettime, CLOCK_MONOTONIC, &ts, 0);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int budget_left(long deadline)
{
    long left = deadline - now_ms();
    return left > 0 ? (int)left : 0;
}

void hs_tracks_lock_all(void)
{
    long deadline = now_ms() + HS_FLUSH_TIMEOUT_MS;
    pthread_mutex_lock(&registry_lock);
    for (hs_track *t = all_tracks; t; t = t->next_all) {
        t->lost_at_fork = false;
        t->locked_at_fork = false;
        if (atomic_load(&t->refs) == 0)
            continue;
        if (!hs_lock_try(&t->lock)) {
            /* Another thread is inside a call on this connection: its
             * state is in motion, the child cannot continue it. */
            t->lost_at_fork = true;
            continue;
        }
        t->locked_at_fork = true;
        if (t->conn && hs_conn_owes_bytes(t->conn)) {
            hs_kernel k;
            hs_kctx kc = {.fd = t->cur_fd, .flags = MSG_NOSIGNAL, .track = t};
            hs_kernel_make(&k, &kc);
            /* Rule 10: on failure the engine passes the connection
             * through (here); the child drops it. */
            if (t->cur_fd < 0 ||
                hs_io_flush(t->conn, &k, budget_left(deadline)) != 0)
                t->lost_at_fork = true;
        }
    }
}

void hs_tracks_unlock_all_parent(void)
{
    for (hs_track *t = all_tracks; t; t = t->next_all) {
        if (t->locked_at_fork) {
            t->locked_at_fork = false;
            hs_lock_drop(&t->lock);
        }
    }
    pthread_mutex_unlock(&registry_lock);
}

void hs_tracks_reinit_child(void)
{
    hs_owner_pid = (pid_t)hs_raw(SYS_getpid, 0, 0, 0);
    for (hs_track *t = all_tracks; t; t = t->next_all) {
        /* A lock held by a thread that does not exist here can never be
         * released: start afresh. A connection caught mid-call or not
         * flushed is dropped here (its memory leaks: its state may be
         * half-updated). */
        atomic_store(&t->lock.word,
                     atomic_load(&t->lock.word) & HS_LOCK_DEAD);
        t->locked_at_fork = false;
        if (t->lost_at_fork)
            t->conn = NULL;
    }
    pthread_mutex_init(&registry_lock, NULL);
}

void hs_tracks_flush_all(int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    pthread_mutex_lock(&registry_lock);
    for (hs_track *t = all_tracks; t; t = t->next_all) {
        if (atomic_load(&t->refs) == 0 || t->cur_fd < 0)
            continue;
        if (!hs_lock_try(&t->lock))
            continue;
        if (t->conn && hs_conn_owes_bytes(t->conn)) {
            hs_kernel k;
            hs_kctx kc = {.fd = t->cur_fd, .flags = MSG_NOSIGNAL, .track = t};
            hs_kernel_make(&k, &kc);
            (void)hs_io_flush(t->conn, &k, budget_left(deadline));
        }
        hs_lock_drop(&t->lock);
    }
    pthread_mutex_unlock(&registry_lock);
}
