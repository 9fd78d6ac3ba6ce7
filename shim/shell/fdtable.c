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

_Atomic(_Atomic uintptr_t *) hs_fd_l1[HS_FD_L1];

/* All tracks ever made, and the recycled ones; under registry_lock. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static hs_track *all_tracks;
static hs_track *free_tracks;

pid_t hs_owner_pid;

/* The contended side of hs_lock (Drepper, "Futexes Are Tricky", mutex 2). */
void hs_lock_wait(hs_lock *l)
{
    int c = atomic_exchange(&l->word, 2);
    while (c != 0) {
        hs_raw6(SYS_futex, (long)&l->word, FUTEX_WAIT_PRIVATE, 2, 0, 0, 0);
        c = atomic_exchange(&l->word, 2);
    }
}

void hs_lock_wake(hs_lock *l)
{
    hs_raw6(SYS_futex, (long)&l->word, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
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
    if (!chunk) {
        if (!create)
            return NULL;
        size_t bytes = L2_SIZE * sizeof(_Atomic uintptr_t);
        long m = hs_raw6(SYS_mmap, 0, (long)bytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m < 0 && m > -4096)
            return NULL;
        _Atomic uintptr_t *fresh = (_Atomic uintptr_t *)m, *expected = NULL;
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

void hs_track_release(hs_track *t)
{
    if (atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    /* Last reference: nobody can reach the conn any more. */
    if (t->conn)
        hs_conn_free(t->conn);
    t->conn = NULL;
    pthread_mutex_lock(&registry_lock);
    t->next_free = free_tracks;
    free_tracks = t;
    pthread_mutex_unlock(&registry_lock);
}

hs_track *hs_track_new(int local_port, bool tls)
{
    hs_track *t;
    pthread_mutex_lock(&registry_lock);
    t = free_tracks;
    if (t) {
        free_tracks = t->next_free;
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

void hs_track_maybe_forget(hs_track *t)
{
    if (t->conn && hs_conn_is_passthrough(t->conn)) {
        hs_conn_free(t->conn);
        t->conn = NULL;
    }
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
        hs_lock_init(&t->lock);
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
