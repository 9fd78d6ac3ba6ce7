/*
 * test_engine_steady.c - the write path's steady state (write_steady in
 * shim/core/iomap.c) against the general way, through the engine.
 *
 * A server in its steady state answers request after request with blocks
 * of one shape whose values move (Date every second, ETag per resource):
 * nginx writes each head in a call of its own and the body by sendfile;
 * Node and Apache write head and body in one call, or a chunked body
 * after it. The streams here are such servers' (GET and HEAD, 200 with
 * Content-Length or chunked, 304, now and then a response of another
 * length or type that the steady way must leave to the general way),
 * each response written in calls cut as the server cuts them, against a
 * kernel that takes everything or a seeded one that is short, refuses
 * with EAGAIN or EINTR, and blocks or not. Every run must put on the wire
 * exactly what the general way alone puts there (the oracle: one call of
 * the whole stream, and one byte per call, which never go the steady
 * way), keep every rule of the write contract (ks_app_run checks each
 * call), and most blocks must have gone the steady way.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_script.h"
#include "stream_corpus.h"

/* Under HS_MAX_QUEUED_REQUESTS: the oracle's one call of the whole
 * stream reads every request first. */
#define RESPONSES 60

typedef struct steady_stream {
    hs_buf req, resp;
    size_t feed_at[RESPONSES], feed_to[RESPONSES];
    size_t head_end[RESPONSES], resp_end[RESPONSES];
    size_t cuts[2 * RESPONSES];
} steady_stream;

static void put(hs_buf *b, const char *s)
{
    ck_assert(hs_buf_append(b, s, strlen(s)));
}

static void putf(hs_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void putf(hs_buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    ck_assert(n > 0 && (size_t)n < sizeof tmp);
    put(b, tmp);
}

/* A body that looks like a header block, so that a write path taking
 * body bytes for a head would show. */
static const char body[] = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n<p>";

static void build(steady_stream *s, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    uint64_t rng = seed;
    for (size_t i = 0; i < RESPONSES; i++) {
        /* mostly one shape: the connection's shape is its last block's */
        unsigned kind = (unsigned)ks_below(&rng, 10);
        if (kind > 4 && ks_below(&rng, 2))
            kind = 0;
        bool head = kind == 7;
        s->feed_at[i] = s->resp.len;
        putf(&s->req, "%s /r%zu HTTP/1.1\r\nHost: a\r\n\r\n", head ? "HEAD" : "GET", i);
        s->feed_to[i] = s->req.len;
        /* the second moves; now and then the day, or a value of another
         * length */
        unsigned sec = (unsigned)(i / 3 % 60);
        const char *day = ks_below(&rng, 20) ? "Sun, 29" : "Mon, 30";
        const char *tail = ks_below(&rng, 30) ? "" : " (late)";
        char date[64];
        snprintf(date, sizeof date, "%s Nov 2026 14:02:%02u GMT%s", day, sec, tail);
        if (kind <= 4 || head) {
            /* nginx, a static file */
            size_t len = sizeof body - 1 + (ks_below(&rng, 12) == 0);
            putf(&s->resp, "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: %s\r\n"
                 "Content-Type: text/html\r\nContent-Length: %zu\r\n"
                 "Last-Modified: Sun, 29 Nov 2026 10:00:00 GMT\r\n"
                 "Connection: keep-alive\r\nETag: \"692a8f40-%llx\"\r\n"
                 "Accept-Ranges: bytes\r\n\r\n",
                 date, len, (unsigned long long)ks_below(&rng, 3) * 0x1f1);
            s->head_end[i] = s->resp.len;
            if (!head) {
                put(&s->resp, body);
                if (len == sizeof body)
                    put(&s->resp, "!");
            }
        } else if (kind <= 6) {
            /* Express, chunked JSON */
            putf(&s->resp, "HTTP/1.1 200 OK\r\nX-Powered-By: Express\r\n"
                 "Content-Type: application/json; charset=utf-8\r\n"
                 "Date: %s\r\nConnection: keep-alive\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n", date);
            s->head_end[i] = s->resp.len;
            putf(&s->resp, "%zx\r\n%s\r\n0\r\n\r\n", sizeof body - 1, body);
        } else if (kind == 8) {
            putf(&s->resp, "HTTP/1.1 304 Not Modified\r\nServer: nginx/1.22.1\r\n"
                 "Date: %s\r\nLast-Modified: Sun, 29 Nov 2026 10:00:00 GMT\r\n"
                 "Connection: keep-alive\r\nETag: \"692a8f40-1f1\"\r\n\r\n", date);
            s->head_end[i] = s->resp.len;
        } else {
            /* another type, then back to the first shape */
            putf(&s->resp, "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: %s\r\n"
                 "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
                 "Connection: keep-alive\r\n\r\n", date, sizeof body - 1);
            s->head_end[i] = s->resp.len;
            put(&s->resp, body);
        }
        s->resp_end[i] = s->resp.len;
    }
}

static unsigned long check_stream(const steady_stream *s, const hs_policy *p,
                                  bool head_apart, uint64_t seed)
{
    hs_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.policy = p;
    cfg.on_event = ks_on_event;
    cfg.quiet_rewrites = true;

    /* Calls as the server cuts them: the head alone (nginx), or head and
     * body together (Express, Apache). */
    size_t cuts[2 * RESPONSES], ncuts = 0;
    for (size_t i = 0; i < RESPONSES; i++) {
        if (head_apart && s->head_end[i] < s->resp_end[i])
            cuts[ncuts++] = s->head_end[i];
        cuts[ncuts++] = s->resp_end[i];
    }
    unsigned long steady = 0;
    ks_run r;
    memset(&r, 0, sizeof r);
    r.cfg = &cfg;
    r.port = -1;
    r.req = s->req.p;
    r.req_len = s->req.len;
    r.stream = s->resp.p;
    r.len = s->resp.len;
    r.feed_at = s->feed_at;
    r.feed_to = s->feed_to;
    r.nfeed = RESPONSES;
    r.split = KS_SPLIT_CUTS;
    r.cuts = cuts;
    r.ncuts = ncuts;
    r.steady_blocks = &steady;

    ks_oracle o;
    char *err = ks_oracle_build(&r, &o);
    ck_assert_msg(!err, "%s", err);

    /* The oracle is the general way's: with REWRITE events asked for,
     * nothing goes the steady way, and the wire is the same. */
    hs_engine_config loud = cfg;
    loud.quiet_rewrites = false;
    ks_run rl = r;
    rl.cfg = &loud;
    ks_oracle ol;
    err = ks_oracle_build(&rl, &ol);
    ck_assert_msg(!err, "%s", err);
    ck_assert(ks_same(o.wire.p, ol.wire.p, o.wire.len) && o.wire.len == ol.wire.len);
    ks_oracle_free(&ol);

    for (unsigned n = 0; n < 24; n++) {
        ks_kernel ks;
        ks_init(&ks);
        ks_run rr = r;
        rr.retry = (ks_retry)(n % 3);
        rr.req_seed = n % 2 ? seed + n : 0;
        if (n > 0)
            ks_random(&ks, seed * 131 + n, n % 4 == 3);
        err = ks_app_run(&rr, &ks, &o, NULL);
        ck_assert_msg(!err, "%s", err);
        ks_free(&ks);
    }
    ks_oracle_free(&o);
    return steady;
}

START_TEST(steady_state_equals_the_general_way)
{
    hs_policy *p = sc_policy("api");
    for (uint64_t seed = 1; seed <= 16; seed++) {
        static steady_stream s;
        build(&s, seed * 0x9E3779B97F4A7C15ull);
        for (int apart = 0; apart < 2; apart++) {
            unsigned long steady = check_stream(&s, p, apart, seed);
            /* 24 runs of 60 responses: about half of all blocks went the
             * steady way, short counts and all */
            ck_assert_msg(steady > 24 * RESPONSES * 4 / 10,
                          "only %lu blocks went the steady way", steady);
        }
        hs_buf_free(&s.req);
        hs_buf_free(&s.resp);
    }
    hs_policy_free(p);
}
END_TEST

/* Below the kernel's batch the steady way declines: a kernel that takes
 * 8 iovecs a call sees the general way's calls, and the same bytes. */
START_TEST(few_iovecs_go_the_general_way)
{
    hs_policy *p = sc_policy("api");
    static steady_stream s;
    build(&s, 77);
    hs_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.policy = p;
    cfg.quiet_rewrites = true;
    size_t cuts[RESPONSES];
    for (size_t i = 0; i < RESPONSES; i++)
        cuts[i] = s.resp_end[i];
    unsigned long steady = 0;
    ks_run r = {.cfg = &cfg, .port = -1, .req = s.req.p, .req_len = s.req.len,
                .stream = s.resp.p, .len = s.resp.len, .feed_at = s.feed_at,
                .feed_to = s.feed_to, .nfeed = RESPONSES, .split = KS_SPLIT_CUTS,
                .cuts = cuts, .ncuts = RESPONSES, .steady_blocks = &steady};
    ks_oracle o;
    char *err = ks_oracle_build(&r, &o);
    ck_assert_msg(!err, "%s", err);
    ks_kernel ks;
    ks_init(&ks);
    ks.k.iov_max = 8;
    err = ks_app_run(&r, &ks, &o, NULL);
    ck_assert_msg(!err, "%s", err);
    ck_assert_uint_eq(steady, 0);
    ks_free(&ks);
    ks_init(&ks);
    err = ks_app_run(&r, &ks, &o, NULL);
    ck_assert_msg(!err, "%s", err);
    ck_assert_uint_gt(steady, RESPONSES / 3);
    ks_free(&ks);
    ks_oracle_free(&o);
    hs_buf_free(&s.req);
    hs_buf_free(&s.resp);
    hs_policy_free(p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("engine_steady");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, steady_state_equals_the_general_way);
    tcase_add_test(t, few_iovecs_go_the_general_way);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
