/*
 * conn_pool.c - where connection state lives: in regions of its own,
 * mapped with mmap, not in the server's malloc heap.
 *
 * Why: a server that makes and frees an allocation per request (nginx's
 * request pool) gets it back from the top of the heap as long as nothing
 * newer sits above it. An hs_conn taken from malloc at a connection's
 * first request is such a newer allocation, and under nginx its malloc
 * calls then cost about 85 instructions more per request (callgrind,
 * bench/servers/profile.sh; docs/performance.md). The shim should leave
 * the server's heap as it found it.
 *
 * Slots of one size in 64 KiB regions, a free list under a mutex (a slot
 * is taken and given back once per connection, never on the write path).
 * Regions are never unmapped: like the shell's tracks, the memory of a
 * server's peak of connections stays with the process, about 1.9 KiB a
 * connection. With AddressSanitizer the slots come from calloc, so that a
 * use after free of a connection is still caught.
 */
#include "conn_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define HS_POOL_USES_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HS_POOL_USES_MALLOC 1
#endif
#endif

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

#ifdef HS_POOL_USES_MALLOC

hs_conn *hs_conn_pool_take(void)
{
    return calloc(1, sizeof(hs_conn));
}

void hs_conn_pool_give(hs_conn *c)
{
    free(c);
}

#else

#define REGION_BYTES (64 * 1024)
/* A slot is a whole number of cache lines: connections of different
 * threads never share one. */
#define SLOT_BYTES ((sizeof(hs_conn) + 63) / 64 * 64)

typedef union slot {
    union slot *next;        /* while free */
    hs_conn conn;
} slot;

static slot *free_slots;     /* under pool_lock */

/* Maps a region and puts its slots on the free list (pool_lock held). */
static bool grow(void)
{
    void *r = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED)
        return false;
    for (size_t off = 0; off + SLOT_BYTES <= REGION_BYTES; off += SLOT_BYTES) {
        slot *s = (slot *)(void *)((char *)r + off);
        s->next = free_slots;
        free_slots = s;
    }
    return true;
}

hs_conn *hs_conn_pool_take(void)
{
    pthread_mutex_lock(&pool_lock);
    slot *s = free_slots || grow() ? free_slots : NULL;
    if (s)
        free_slots = s->next;
    pthread_mutex_unlock(&pool_lock);
    if (!s)
        return NULL;
    memset(&s->conn, 0, sizeof s->conn);
    return &s->conn;
}

void hs_conn_pool_give(hs_conn *c)
{
    slot *s = (slot *)(void *)c;
    pthread_mutex_lock(&pool_lock);
    s->next = free_slots;
    free_slots = s;
    pthread_mutex_unlock(&pool_lock);
}

#endif

/* Rule 10 of IO-CONTRACT.md (fork): the shell holds the pool across a
 * fork, so that the child's copy of the free list is whole. */
void hs_conn_pool_lock(void)
{
    pthread_mutex_lock(&pool_lock);
}

void hs_conn_pool_unlock(void)
{
    pthread_mutex_unlock(&pool_lock);
}

void hs_conn_pool_reinit_child(void)
{
    pthread_mutex_init(&pool_lock, NULL);
}
