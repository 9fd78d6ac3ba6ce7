/*
 * test_engine_fastpath.c - the direct body call (hs_io_direct_room and
 * hs_io_direct_sent, iomap_direct.h) against the engine's general path.
 *
 * The shell makes a body call itself, straight to the kernel, whenever its
 * bytes fit the body room, and only tells the engine how many the kernel
 * took; every other call goes through hs_io_writev (enforce) or the real
 * call plus hs_io_observe (report). "shell_run" below is that shell, as a
 * model, against a scripted kernel: every corpus stream, cut at random,
 * one call in five a sendfile of the same bytes from a file (header bytes
 * found there go through the engine's write path, body bytes are only
 * counted), with short counts, EAGAIN and EINTR at random, must put on the wire
 * exactly what the engine alone puts there (the oracle: one call through
 * a kernel that takes everything), and report mode must report the same
 * responses whether or not body calls went direct. The hand-made cases
 * pin the room itself: up to the body's end and no further (a direct call
 * taking the last byte ends the body), nothing while bytes are owed,
 * nothing in chunked bodies or pass-through, and only what the kernel
 * took is counted.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "iomap_direct.h"
#include "kernel_script.h"
#include "stream_corpus.h"

#define SPLITS_PER_STREAM 2000

/* ---- the shell, as a model ---- */

typedef struct shell_stats {
    size_t direct;       /* calls that went straight to the kernel */
    size_t engine;       /* calls through the engine */
    size_t reports;      /* HS_EVENT_REPORT events */
    size_t rewrites;
} shell_stats;

static void count_event(void *ctx, const hs_event *ev)
{
    shell_stats *st = ctx;
    if (ev->kind == HS_EVENT_REPORT)
        st->reports++;
    if (ev->kind == HS_EVENT_REWRITE)
        st->rewrites++;
}

/* One application call of iov, as interpose_out.c makes it: direct when
 * the bytes fit the room (and `allow_direct`), else the general path. */
static ssize_t shell_call(hs_conn *c, ks_kernel *ks, const struct iovec *iov,
                          int iovcnt, bool report, bool allow_direct,
                          shell_stats *st)
{
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (allow_direct && total <= hs_io_direct_room(c)) {
        st->direct++;
        uint64_t before = hs_io_direct_room(c);
        ssize_t r = ks->k.sendv(ks->k.ctx, iov, iovcnt, 0);
        if (r > 0)
            hs_io_direct_sent(c, (size_t)r);
        /* only what the kernel took is counted */
        ck_assert_uint_eq(hs_io_direct_room(c), before - (r > 0 ? (uint64_t)r : 0));
        ck_assert_uint_eq(hs_io_direct_room(c), hs_io_room_of_state(c));
        return r;
    }
    st->engine++;
    ssize_t r;
    if (!report) {
        r = hs_io_writev(c, &ks->k, iov, iovcnt, 0);
    } else {
        r = ks->k.sendv(ks->k.ctx, iov, iovcnt, 0);
        if (r > 0)
            hs_io_observe(c, iov, iovcnt, (size_t)r);
    }
    /* the room the wrapper reads is the one the state implies, after
     * every engine call (requests were all read up front) */
    ck_assert_uint_eq(hs_io_direct_room(c), hs_io_room_of_state(c));
    return r;
}

/* The application: writes the stream in seeded random calls of one to
 * three iovecs, resubmitting the unacknowledged rest after a short count
 * and the same call after EAGAIN or EINTR (nginx). Returns NULL or a
 * malloc'd message. */
static char *shell_run(const hs_engine_config *cfg, const sc_stream *s,
                       ks_kernel *ks, uint64_t seed, bool allow_direct,
                       shell_stats *st)
{
    hs_conn *c = hs_conn_new(cfg, -1, false, st);
    if (!c)
        return strdup("hs_conn_new failed");
    if (s->req.len)
        hs_conn_read(c, s->req.p, s->req.len);
    if (!ks_file_of(ks, KS_STREAM_FD))
        ks_add_file(ks, KS_STREAM_FD, s->resp.p, s->resp.len, false);
    const char *p = s->resp.p;
    size_t len = s->resp.len, pos = 0;
    uint64_t rng = seed;
    char msg[256];
    unsigned guard = 0;
    while (pos < len) {
        size_t left = len - pos;
        /* mostly small pieces (a server's body writes), sometimes all */
        size_t n = ks_below(&rng, 4) == 0 ? left : 1 + ks_below(&rng, left < 200 ? left : 200);
        struct iovec v[3];
        int cnt = 1 + (int)ks_below(&rng, n >= 3 ? 3 : n);
        size_t off = pos;
        for (int i = 0; i < cnt; i++) {
            size_t piece = i == cnt - 1 ? pos + n - off : 1 + ks_below(&rng, pos + n - off - (size_t)(cnt - 1 - i));
            v[i] = (struct iovec){(void *)(p + off), piece};
            off += piece;
        }
        ssize_t r;
        if (ks_below(&rng, 5) == 0) {
            /* a sendfile of the same bytes from a file holding the stream
             * (nginx): the engine counts body bytes and reads any header
             * bytes from the file; the direct calls after it rely on the
             * room it leaves */
            off_t foff = (off_t)pos;
            if (!cfg->report) {
                r = hs_io_sendfile(c, &ks->k, KS_STREAM_FD, &foff, n);
            } else {
                r = ks->k.sendfile(ks->k.ctx, KS_STREAM_FD, &foff, n);
                if (r > 0)
                    hs_io_observe_blind(c, (size_t)r);
            }
            ck_assert_uint_eq(hs_io_direct_room(c), hs_io_room_of_state(c));
        } else {
            r = shell_call(c, ks, v, cnt, cfg->report, allow_direct, st);
        }
        if (++guard > 1000000) {
            hs_conn_free(c);
            return strdup("no progress");
        }
        if (r == -EAGAIN || r == -EINTR)
            continue;
        if (r <= 0 || (size_t)r > n) {
            snprintf(msg, sizeof msg, "call of %zu bytes at %zu returned %zd (seed %llu)",
                     n, pos, r, (unsigned long long)seed);
            hs_conn_free(c);
            return strdup(msg);
        }
        pos += (size_t)r;
    }
    /* What is still owed goes out at close (a kernel that takes all). */
    ks->random = false;
    ks->nsteps = ks->step = 0;
    if (!cfg->report)
        (void)hs_io_flush(c, &ks->k, 0);
    hs_conn_free(c);
    return NULL;
}

/* ---- the corpus against the engine's own transform ---- */

static void corpus_case(bool report)
{
    hs_policy *pol = sc_policy(sc_policy_small);
    size_t total_direct = 0;
    for (size_t i = 0; i < sc_corpus_count(); i++) {
        sc_stream s;
        sc_corpus_build(i, &s);
        hs_engine_config cfg = {.policy = pol, .max_header = s.max_header,
                                .report = report, .on_event = count_event};
        /* The oracle: the engine alone, one call, a kernel taking all. */
        shell_stats ost = {0};
        ks_kernel oks;
        ks_init(&oks);
        char *err = shell_run(&cfg, &s, &oks, 1, false, &ost);
        ck_assert_msg(err == NULL, "%s: oracle: %s", s.name, err);
        for (uint64_t k = 0; k < SPLITS_PER_STREAM; k++) {
            uint64_t seed = 1000 * (i + 1) + k;
            shell_stats st = {0}, slow = {0};
            ks_kernel ks, kslow;
            ks_init(&ks);
            ks_init(&kslow);
            /* Non-blocking: short counts, EAGAIN and EINTR at random. */
            ks_random(&ks, seed, false);
            ks_random(&kslow, seed, false);
            err = shell_run(&cfg, &s, &ks, seed, true, &st);
            ck_assert_msg(err == NULL, "%s: %s", s.name, err);
            err = shell_run(&cfg, &s, &kslow, seed, false, &slow);
            ck_assert_msg(err == NULL, "%s: %s", s.name, err);
            char a[200], b[200];
            ks_escape(ks.wire.p, ks.wire.len, 60, a, sizeof a);
            ks_escape(oks.wire.p, oks.wire.len, 60, b, sizeof b);
            ck_assert_msg(ks.wire.len == oks.wire.len &&
                              ks_same(ks.wire.p, oks.wire.p, ks.wire.len),
                          "%s seed %llu: direct calls put %zu bytes on the wire "
                          "(%s...), the engine alone %zu (%s...)",
                          s.name, (unsigned long long)seed, ks.wire.len, a,
                          oks.wire.len, b);
            if (report) {
                /* the bytes go out unchanged, and the same responses are
                 * reported whether body calls went direct or not (a head
                 * sent from a file cannot be read in report mode: the
                 * runs without direct calls, same cuts, are the measure) */
                ck_assert(ks.wire.len == s.resp.len &&
                          ks_same(ks.wire.p, s.resp.p, s.resp.len));
                ck_assert_uint_eq(st.reports, slow.reports);
            } else {
                ck_assert_uint_eq(st.rewrites, ost.rewrites);
            }
            total_direct += st.direct;
            ks_free(&ks);
            ks_free(&kslow);
        }
        ks_free(&oks);
        sc_free(&s);
    }
    /* the corpus has bodies: the direct path was really taken */
    ck_assert_uint_gt(total_direct, 1000);
    hs_policy_free(pol);
}

START_TEST(test_corpus_direct_equals_engine)
{
    corpus_case(false);
}
END_TEST

START_TEST(test_corpus_direct_report_mode)
{
    corpus_case(true);
}
END_TEST

/* ---- the room, by hand ---- */

typedef struct one {
    hs_policy *pol;
    hs_engine_config cfg;
    hs_conn *c;
    ks_kernel ks;
} one;

static void one_open(one *o, const char *policy, bool report)
{
    memset(o, 0, sizeof *o);
    o->pol = sc_policy(policy);
    o->cfg.policy = o->pol;
    o->cfg.report = report;
    o->c = hs_conn_new(&o->cfg, -1, false, NULL);
    ks_init(&o->ks);
    static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    hs_conn_read(o->c, req, sizeof req - 1);
}

static void one_close(one *o)
{
    hs_conn_free(o->c);
    ks_free(&o->ks);
    hs_policy_free(o->pol);
}

static ssize_t put(one *o, const char *s)
{
    struct iovec v = {(void *)s, strlen(s)};
    return hs_io_writev(o->c, &o->ks.k, &v, 1, 0);
}

/* The shell's direct call of s, with the kernel taking `take` (or an
 * error when negative). */
static ssize_t direct(one *o, const char *s, ssize_t take)
{
    size_t n = strlen(s);
    ck_assert_uint_le(n, hs_io_direct_room(o->c));
    ks_step st = take < 0 ? (ks_step){KS_REFUSE, 0, (int)-take}
                          : (ks_step){KS_ACCEPT, (size_t)take, 0};
    ks_script(&o->ks, &st, 1);
    struct iovec v = {(void *)s, n};
    ssize_t r = o->ks.k.sendv(o->ks.k.ctx, &v, 1, 0);
    if (r > 0)
        hs_io_direct_sent(o->c, (size_t)r);
    ks_script(&o->ks, NULL, 0);
    return r;
}

#define HEAD10 "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 10\r\n\r\n"

START_TEST(test_room_ends_at_the_body_end)
{
    one o;
    one_open(&o, "remove Server\n", false);
    ck_assert_uint_eq(hs_io_direct_room(o.c), 0);          /* a head is due */
    ck_assert_int_eq(put(&o, HEAD10), (ssize_t)strlen(HEAD10));
    ck_assert_uint_eq(hs_io_direct_room(o.c), 10);
    ck_assert_int_eq(direct(&o, "01234", 5), 5);
    ck_assert_uint_eq(hs_io_direct_room(o.c), 5);
    /* the rest of the body and the next response in one call: not
     * direct (5 + 60 > 5); the engine ends the body and rewrites the head */
    ck_assert_int_eq(put(&o, "56789" HEAD10 "abcdefghij"),
                     (ssize_t)(5 + strlen(HEAD10) + 10));
    ck_assert_uint_eq(hs_io_direct_room(o.c), 0);          /* body ended */
    const char *want = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"
                       "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcdefghij";
    ck_assert_uint_eq(o.ks.wire.len, strlen(want));
    ck_assert(memcmp(o.ks.wire.p, want, strlen(want)) == 0);
    one_close(&o);
}
END_TEST

START_TEST(test_room_counts_only_what_the_kernel_took)
{
    one o;
    one_open(&o, "remove Server\n", false);
    put(&o, HEAD10);
    ck_assert_int_eq(direct(&o, "012345", 2), 2);          /* short */
    ck_assert_uint_eq(hs_io_direct_room(o.c), 8);
    ck_assert_int_eq(direct(&o, "2345", -EAGAIN), -EAGAIN);
    ck_assert_uint_eq(hs_io_direct_room(o.c), 8);
    ck_assert_int_eq(direct(&o, "2345", -EINTR), -EINTR);
    ck_assert_int_eq(direct(&o, "2345", -EPIPE), -EPIPE);
    ck_assert_uint_eq(hs_io_direct_room(o.c), 8);
    ck_assert_int_eq(direct(&o, "23456789", 7), 7);        /* short again */
    ck_assert_uint_eq(hs_io_direct_room(o.c), 1);          /* one byte left */
    ck_assert_int_eq(direct(&o, "9", 1), 1);               /* the body's end */
    ck_assert_uint_eq(hs_io_direct_room(o.c), 0);
    ck_assert_int_eq(put(&o, HEAD10), (ssize_t)strlen(HEAD10));   /* rewritten */
    ck_assert_uint_eq(hs_io_direct_room(o.c), 10);
    one_close(&o);
}
END_TEST

START_TEST(test_room_is_zero_while_bytes_are_owed)
{
    one o;
    one_open(&o, "remove Server\n", false);
    /* the kernel takes 5 bytes of the rewritten head: the rest is owed
     * and the head's last byte is the gate (rule 4), although the
     * framing already says "body" */
    ks_step st = {KS_ACCEPT, 5, 0};
    ks_script(&o.ks, &st, 1);
    ssize_t r = put(&o, HEAD10 "0123");
    ck_assert_int_eq(r, (ssize_t)strlen(HEAD10) - 1);
    ck_assert_uint_eq(hs_io_direct_room(o.c), 0);
    ks_script(&o.ks, NULL, 0);
    ck_assert_int_eq(put(&o, "\n0123"), 5);                /* gate + body */
    ck_assert_uint_eq(hs_io_direct_room(o.c), 6);
    one_close(&o);
}
END_TEST

START_TEST(test_room_is_zero_while_a_head_is_held)
{
    one o;
    one_open(&o, "remove Server\n", false);
    ck_assert_int_eq(put(&o, "HTTP/1.1 200 OK\r\nContent-Le"), 27);   /* held */
    ck_assert_uint_eq(hs_io_direct_room(o.c), 0);
    ck_assert_int_eq(put(&o, "ngth: 3\r\n\r\n"), 11);
    ck_assert_uint_eq(hs_io_direct_room(o.c), 3);
    one_close(&o);
}
END_TEST

START_TEST(test_room_is_zero_in_chunked_and_passthrough)
{
    one o;
    one_open(&o, "remove Server\n", false);
    put(&o, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    ck_assert_uint_eq(hs_io_direct_room(o.c), 0);
    put(&o, "5\r\nhello\r\n");
    ck_assert_uint_eq(hs_io_direct_room(o.c), 0);
    put(&o, "0\r\n\r\n");
    ck_assert_uint_eq(hs_io_direct_room(o.c), 0);
    /* after Connection: close with a length: a body, then pass-through */
    put(&o, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\n");
    ck_assert_uint_eq(hs_io_direct_room(o.c), 4);
    ck_assert_int_eq(direct(&o, "abcd", 4), 4);            /* the whole body */
    ck_assert_uint_eq(hs_io_direct_room(o.c), 0);
    ck_assert(hs_conn_is_passthrough(o.c));
    one_close(&o);

    /* not HTTP at all */
    one_open(&o, "remove Server\n", false);
    put(&o, "\x16\x03\x01\x02\x00");
    ck_assert_uint_eq(hs_io_direct_room(o.c), 0);
    one_close(&o);
}
END_TEST

START_TEST(test_room_in_report_mode)
{
    one o;
    one_open(&o, "remove Server\n", true);
    struct iovec v = {HEAD10, strlen(HEAD10)};
    hs_io_observe(o.c, &v, 1, v.iov_len);
    ck_assert_uint_eq(hs_io_direct_room(o.c), 10);
    ck_assert_int_eq(direct(&o, "012345678", 9), 9);
    ck_assert_uint_eq(hs_io_direct_room(o.c), 1);
    v = (struct iovec){"9" HEAD10, 1 + strlen(HEAD10)};
    hs_io_observe(o.c, &v, 1, v.iov_len);
    ck_assert_uint_eq(hs_io_direct_room(o.c), 10);
    ck_assert_int_eq(direct(&o, "0123456789", 10), 10);    /* a whole body */
    ck_assert_uint_eq(hs_io_direct_room(o.c), 0);
    one_close(&o);
}
END_TEST

/* A request that cannot be framed desyncs the connection from the read
 * side, in the middle of a body: the room is gone at once (the wrapper's
 * calls go to the engine, which passes them through). */
START_TEST(test_room_after_a_request_side_desync)
{
    one o;
    one_open(&o, "remove Server\n", false);
    put(&o, HEAD10);
    ck_assert_uint_eq(hs_io_direct_room(o.c), 10);
    static const char bad[] = "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n";
    hs_conn_read(o.c, bad, sizeof bad - 1);
    ck_assert_uint_eq(hs_io_direct_room(o.c), 0);
    ck_assert_int_eq(put(&o, "0123"), 4);
    ck_assert_int_eq(put(&o, "456789" HEAD10), 6 + (ssize_t)strlen(HEAD10));
    ck_assert_uint_eq(hs_io_direct_room(o.c), 0);
    const char *want = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789" HEAD10;
    ck_assert_uint_eq(o.ks.wire.len, strlen(want));
    ck_assert(memcmp(o.ks.wire.p, want, strlen(want)) == 0);
    one_close(&o);
}
END_TEST

/* The same desync, and then the whole rest of the body in one call: the
 * body's end must not take the connection back from pass-through to
 * reading heads (the next head goes out unchanged, Server and all). */
START_TEST(test_no_room_after_a_request_side_desync)
{
    one o;
    one_open(&o, "remove Server\n", false);
    put(&o, HEAD10);
    static const char bad[] = "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n";
    hs_conn_read(o.c, bad, sizeof bad - 1);
    /* what the shell does: direct when the room allows it */
    if (hs_io_direct_room(o.c) >= 10)
        ck_assert_int_eq(direct(&o, "0123456789", 10), 10);
    else
        ck_assert_int_eq(put(&o, "0123456789"), 10);
    ck_assert_int_eq(put(&o, HEAD10), (ssize_t)strlen(HEAD10));
    const char *want = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789" HEAD10;
    ck_assert_uint_eq(o.ks.wire.len, strlen(want));
    ck_assert(memcmp(o.ks.wire.p, want, strlen(want)) == 0);
    one_close(&o);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("engine_fastpath");
    TCase *tc = tcase_create("fastpath");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_room_ends_at_the_body_end);
    tcase_add_test(tc, test_room_counts_only_what_the_kernel_took);
    tcase_add_test(tc, test_room_is_zero_while_bytes_are_owed);
    tcase_add_test(tc, test_room_is_zero_while_a_head_is_held);
    tcase_add_test(tc, test_room_is_zero_in_chunked_and_passthrough);
    tcase_add_test(tc, test_room_in_report_mode);
    tcase_add_test(tc, test_room_after_a_request_side_desync);
    tcase_add_test(tc, test_no_room_after_a_request_side_desync);
    tcase_add_test(tc, test_corpus_direct_equals_engine);
    tcase_add_test(tc, test_corpus_direct_report_mode);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
