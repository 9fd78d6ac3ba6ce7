/*
 * test_rewrite_plan_threads.c - one policy shared by threads that rewrite
 * at once (Apache's worker MPM, a threaded Python server): the plan table
 * is filled while others read it, without a lock (rewrite_plan.c). Every
 * rewrite must equal the one a policy of its own gives, whichever thread
 * kept the plan and whenever; and afterwards every shape has its plan.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_policy_util.h"
#include "rewrite_internal.h"   /* hs_plan_find */


/* Shapes that share name lengths (and so a hash: neighbouring slots) and
 * shapes that do not. */
static const char *const blocks[] = {
    "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\n"
    "Content-Length: 10\r\n\r\n",
    "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\n"
    "Content-Length: 10\r\n\r\n",
    "HTTP/1.1 404 Not Found\r\nServer: nginx\r\nContent-Type: text/html\r\n"
    "Content-Length: 10\r\n\r\n",
    "HTTP/1.1 200 OK\r\nX-Powered-By: PHP/5.3\r\nContent-Type: text/html\r\n"
    "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 10\r\n\r\n",
    "HTTP/1.1 304 Not Modified\r\nServer: Apache\r\nETag: \"x\"\r\n\r\n",
    "HTTP/1.0 200 OK\nContent-Type: image/svg+xml\nContent-Length: 4\n\n",
    "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\n"
    "Transfer-Encoding: chunked\r\nX-Frame-Options: SAMEORIGIN\r\n\r\n",
};
#define NBLOCKS (sizeof blocks / sizeof *blocks)
#define NTHREADS 4
#define ROUNDS 3000

static hs_policy *shared;
static hs_buf want[NBLOCKS][2];      /* [block][tls] */
static hs_rewrite_status want_st[NBLOCKS][2];

typedef struct worker {
    unsigned seed;
    size_t wrong;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    static _Thread_local hs_block b;
    static _Thread_local hs_shape shape;
    hs_buf out = {0};
    hs_rewrite_opts o = {0};
    for (int r = 0; r < ROUNDS; r++) {
        w->seed = w->seed * 1103515245u + 12345u;
        size_t k = (w->seed >> 8) % NBLOCKS;
        bool tls = (w->seed >> 20) & 1;
        hs_request req = {0};
        req.tls = tls;
        out.len = 0;
        if (hs_block_parse_shaped(shape, blocks[k], strlen(blocks[k]), &b, NULL) !=
            HS_BLOCK_OK) {
            w->wrong++;
            continue;
        }
        hs_rewrite_status st = hs_rewrite_shaped(shared, &o, &b, &req, &out, NULL, &shape);
        if (st != want_st[k][tls] ||
            (st == HS_REWRITE_CHANGED &&
             (out.len != want[k][tls].len || memcmp(out.p, want[k][tls].p, out.len) != 0)))
            w->wrong++;
    }
    hs_buf_free(&out);
    return NULL;
}

START_TEST(threads_share_plans)
{
    const char *const presets[] = {"auto", "api", "website", "strip"};
    for (size_t p = 0; p < 4; p++) {
        hs_policy *own = load_preset(presets[p]);
        shared = load_preset(presets[p]);
        ck_assert_ptr_nonnull(own);
        ck_assert_ptr_nonnull(shared);
        for (size_t k = 0; k < NBLOCKS; k++) {
            for (int tls = 0; tls < 2; tls++) {
                static hs_block b;
                hs_request req = {0};
                req.tls = tls;
                hs_rewrite_opts o = {0};
                ck_assert_int_eq(hs_block_parse(blocks[k], strlen(blocks[k]), &b, NULL),
                                 HS_BLOCK_OK);
                want[k][tls].len = 0;
                want_st[k][tls] = hs_rewrite(own, &o, &b, &req, &want[k][tls], NULL);
            }
        }
        pthread_t t[NTHREADS];
        worker w[NTHREADS];
        for (unsigned i = 0; i < NTHREADS; i++) {
            w[i] = (worker){ .seed = i * 7919u + (unsigned)p, .wrong = 0 };
            ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
        }
        size_t wrong = 0;
        for (unsigned i = 0; i < NTHREADS; i++) {
            pthread_join(t[i], NULL);
            wrong += w[i].wrong;
        }
        ck_assert_msg(wrong == 0, "%s: %zu rewrites differ from a policy of their own",
                      presets[p], wrong);
        /* ...and the threads did share plans: every shape has one now. */
        for (size_t k = 0; k < NBLOCKS; k++) {
            for (int tls = 0; tls < 2; tls++) {
                static hs_block b;
                hs_request req = {0};
                req.tls = tls;
                hs_rewrite_opts o = {0};
                uint64_t hash;
                const hs_plan *plan = NULL;
                ck_assert_int_eq(hs_block_parse(blocks[k], strlen(blocks[k]), &b, NULL),
                                 HS_BLOCK_OK);
                ck_assert_msg(hs_plan_find(shared, &o, &b, &req, &hash, &plan) == HS_PLAN_HIT,
                              "%s: no plan for block %zu", presets[p], k);
                hs_buf_free(&want[k][tls]);
            }
        }
        hs_policy_free(shared);
        hs_policy_free(own);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rewrite_plan_threads");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, threads_share_plans);
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
