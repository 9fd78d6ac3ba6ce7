/*
 * test_conn_pool.c - the regions connection state lives in (conn_pool.c):
 * every slot handed out once at a time, zeroed, across regions and threads,
 * and a fork in the middle of other threads' traffic leaves the child a
 * pool it can use.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conn_internal.h"

/* More than fit one 64 KiB region, several times over. */
#define MANY 300

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return (x > y) - (x < y);
}

static bool all_zero(const hs_conn *c)
{
    const unsigned char *p = (const unsigned char *)c;
    for (size_t i = 0; i < sizeof *c; i++)
        if (p[i])
            return false;
    return true;
}

START_TEST(test_distinct_zeroed)
{
    hs_conn *c[MANY];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < MANY; i++) {
            c[i] = hs_conn_pool_take();
            ck_assert_ptr_nonnull(c[i]);
            /* the second round gets used slots back: zeroed again */
            ck_assert_msg(all_zero(c[i]), "round %d slot %d not zeroed", round, i);
            memset(c[i], 0xab, sizeof *c[i]);
        }
        hs_conn *sorted[MANY];
        memcpy(sorted, c, sizeof c);
        qsort(sorted, MANY, sizeof sorted[0], cmp_ptr);
        for (int i = 1; i < MANY; i++)
            ck_assert_msg((uintptr_t)sorted[i] - (uintptr_t)sorted[i - 1] >= sizeof(hs_conn),
                          "slots %p and %p overlap", (void *)sorted[i - 1], (void *)sorted[i]);
        for (int i = 0; i < MANY; i++) {
            /* the bytes written are all still there: no slot shared */
            const unsigned char *p = (const unsigned char *)c[i];
            for (size_t k = 0; k < sizeof *c[i]; k += 97)
                ck_assert_uint_eq(p[k], 0xab);
            hs_conn_pool_give(c[i]);
        }
    }
}
END_TEST

/* A connection made through the engine's API comes from the pool and goes
 * back to it. */
START_TEST(test_conn_new_free)
{
    hs_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    for (int i = 0; i < MANY; i++) {
        hs_conn *c = hs_conn_new(&cfg, 8080, false, NULL);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(c->port, 8080);
        hs_conn_free(c);
    }
}
END_TEST

#define NTHREADS 4
#define ROUNDS 20000

/* Each thread fills what it holds with its own byte and checks it later:
 * a slot handed to two threads at once shows as the other's byte. */
static void *hammer(void *arg)
{
    unsigned char mark = (unsigned char)(uintptr_t)arg;
    hs_conn *held[4] = {0};
    for (int r = 0; r < ROUNDS; r++) {
        int i = r % 4;
        if (held[i]) {
            const unsigned char *p = (const unsigned char *)held[i];
            for (size_t k = 0; k < sizeof *held[i]; k += 61)
                if (p[k] != mark)
                    return (void *)1;
            hs_conn_pool_give(held[i]);
        }
        held[i] = hs_conn_pool_take();
        if (!held[i])
            return (void *)2;
        memset(held[i], mark, sizeof *held[i]);
        if (r % 64 == 0)
            sched_yield();
    }
    for (int i = 0; i < 4; i++)
        if (held[i])
            hs_conn_pool_give(held[i]);
    return NULL;
}

START_TEST(test_threads)
{
    pthread_t t[NTHREADS];
    for (uintptr_t i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, (void *)(i + 1)), 0);
    for (int i = 0; i < NTHREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        ck_assert_msg(r == NULL, "thread %d: %s", i,
                      r == (void *)1 ? "a slot held by two threads" : "no slot");
    }
}
END_TEST

static _Atomic bool stop_churn;

static void *churn(void *arg)
{
    (void)arg;
    while (!stop_churn)
        hs_conn_pool_give(hs_conn_pool_take());
    return NULL;
}

/* Under AddressSanitizer the slots come from calloc (conn_pool.c), and a
 * fork while another thread allocates is then the sanitizer allocator's
 * affair (it can leave the child's allocator locked): the case is run
 * against the pool only. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_IS_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_IS_MALLOC 1
#endif
#endif

/* Rule 10: the shell holds the pool across fork(); the child, whose only
 * thread is the forking one, starts its lock afresh and can make
 * connections although another thread was making them at the fork. */
START_TEST(test_fork_while_others_allocate)
{
#ifdef POOL_IS_MALLOC
    return;
#endif
    stop_churn = false;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, churn, NULL), 0);
    for (int round = 0; round < 20; round++) {
        hs_conn_pool_lock();
        pid_t pid = fork();
        if (pid == 0) {
            hs_conn_pool_reinit_child();
            /* A pool left locked would hang here: die instead (Check may
             * have its own SIGALRM handler in this process). */
            signal(SIGALRM, SIG_DFL);
            alarm(5);
            for (int i = 0; i < 100; i++) {
                hs_conn *c = hs_conn_pool_take();
                if (!c || !all_zero(c))
                    _exit(2);
                hs_conn_pool_give(c);
            }
            _exit(0);
        }
        hs_conn_pool_unlock();
        ck_assert_int_ge(pid, 0);
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "child: status %d (signal %d)", st,
                      WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    }
    stop_churn = true;
    pthread_join(t, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conn_pool");
    TCase *t = tcase_create("pool");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_distinct_zeroed);
    tcase_add_test(t, test_conn_new_free);
    tcase_add_test(t, test_threads);
    tcase_add_test(t, test_fork_while_others_allocate);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
