/*
 * test_engine_report.c - report mode (IO-CONTRACT.md rule 11): the
 * application's calls reach the kernel unchanged, the engine reads a copy
 * of what the kernel accepted (hs_io_observe, hs_io_observe_blind), and its
 * REPORT events say exactly what enforce mode would have changed.
 *
 * The shell in report mode makes the real call itself and then observes;
 * these tests do the same against the scripted kernel, with the corpus
 * cut at random and a random kernel, and compare the REPORT events with the
 * REWRITE events of an enforce run of the same stream.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "kernel_script.h"
#include "stream_corpus.h"

#define CRLF "\r\n"
#define RUNS_PER_STREAM 200

static hs_engine_config config(const hs_policy *p, bool report, size_t maxh)
{
    hs_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.policy = p;
    cfg.report = report;
    cfg.max_header = maxh;
    cfg.on_event = ks_on_event;
    cfg.event_details = true;   /* the comparisons read the change records */
    return cfg;
}

/* Enforce mode, one call: the events to compare against. */
static void enforce_events(const sc_stream *s, const hs_policy *p,
                           ks_events *ev)
{
    hs_engine_config cfg = config(p, false, s->max_header);
    memset(ev, 0, sizeof *ev);
    ks_kernel ks;
    ks_init(&ks);
    hs_conn *c = hs_conn_new(&cfg, -1, false, ev);
    hs_conn_read(c, s->req.p, s->req.len);
    struct iovec iov = {s->resp.p, s->resp.len};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, &iov, 1, 0), s->resp.len);
    hs_io_flush(c, &ks.k, 100);
    hs_conn_free(c);
    ks_free(&ks);
}

/* The shell's report path: real call, then observe what was accepted; the
 * application resubmits the rest after a short count. */
static void observe_run(const sc_stream *s, const hs_policy *p, uint64_t seed,
                        ks_kernel *ks, ks_events *ev)
{
    hs_engine_config cfg = config(p, true, s->max_header);
    memset(ev, 0, sizeof *ev);
    hs_conn *c = hs_conn_new(&cfg, -1, false, ev);
    uint64_t rng = seed;
    for (size_t q = 0; q < s->req.len;) {
        size_t n = 1 + ks_below(&rng, 64);
        if (n > s->req.len - q)
            n = s->req.len - q;
        hs_conn_read(c, s->req.p + q, n);
        q += n;
    }
    size_t p0 = 0;
    while (p0 < s->resp.len) {
        size_t want = 1 + ks_below(&rng, ks_below(&rng, 2) ? 16 : 400);
        if (want > s->resp.len - p0)
            want = s->resp.len - p0;
        struct iovec iov[3];
        size_t a = ks_below(&rng, want + 1);
        iov[0] = (struct iovec){s->resp.p + p0, a};
        iov[1] = (struct iovec){s->resp.p + p0 + a, 0};
        iov[2] = (struct iovec){s->resp.p + p0 + a, want - a};
        ssize_t r = ks->k.sendv(ks->k.ctx, iov, 3, 0);
        if (r < 0) {
            ck_assert(r == -EAGAIN || r == -EINTR);
            continue;
        }
        hs_io_observe(c, iov, 3, (size_t)r);
        p0 += (size_t)r;
    }
    hs_conn_free(c);
}

/* The first failure of each stream, so one stream does not hide others. */
static char failures[8192];

/* REPORT events of a report run equal the REWRITE events of enforce mode:
 * same responses, same changes; no REWRITE in report mode; a desync there
 * never asks for shutdown(SHUT_RD) (that would change the connection).
 * Returns false with a message in msg. */
static bool compare(const sc_stream *s, const ks_events *enf,
                    const ks_events *rep, uint64_t seed, char *msg,
                    size_t cap)
{
    char a[800], b[800];
    ks_events_describe(enf, a, sizeof a);
    ks_events_describe(rep, b, sizeof b);
    bool ok = ks_count(rep, HS_EVENT_REWRITE) == 0 &&
              ks_count(rep, HS_EVENT_REPORT) == ks_count(enf, HS_EVENT_REWRITE);
    size_t j = 0;
    for (size_t i = 0; ok && i < enf->n; i++) {
        if (enf->kind[i] != HS_EVENT_REWRITE)
            continue;
        while (j < rep->n && rep->kind[j] != HS_EVENT_REPORT)
            j++;
        ok = j < rep->n && enf->status[i] == rep->status[j] &&
             strcmp(enf->names[i], rep->names[j]) == 0 &&
             strcmp(enf->path[i], rep->path[j]) == 0;
        j++;
    }
    for (size_t i = 0; ok && i < rep->n; i++)
        ok = !rep->shutdown_read[i];
    if (!ok)
        snprintf(msg, cap, "\n  %s seed %llu: enforce [%s], report [%s]",
                 s->name, (unsigned long long)seed, a, b);
    return ok;
}

START_TEST(test_report_matches_enforce)
{
    hs_policy *p = sc_policy(sc_policy_small);
    for (size_t i = 0; i < sc_corpus_count(); i++) {
        sc_stream s;
        sc_corpus_build(i, &s);
        ks_events enf;
        enforce_events(&s, p, &enf);
        for (uint64_t n = 0; n < RUNS_PER_STREAM; n++) {
            uint64_t seed = (i << 20) + n + 1;
            ks_kernel ks;
            ks_init(&ks);
            if (n % 2)
                ks_random(&ks, seed * 13, false);
            ks_events rep;
            observe_run(&s, p, seed, &ks, &rep);
            ck_assert_msg(ks.wire.len == s.resp.len &&
                          memcmp(ks.wire.p, s.resp.p, s.resp.len) == 0,
                          "%s: the kernel did not get the bytes unchanged",
                          s.name);
            char msg[2000];
            bool ok = compare(&s, &enf, &rep, seed, msg, sizeof msg);
            ks_free(&ks);
            if (!ok) {
                size_t used = strlen(failures);
                snprintf(failures + used, sizeof failures - used, "%s", msg);
                break;
            }
        }
        sc_free(&s);
    }
    hs_policy_free(p);
    if (failures[0])
        fprintf(stderr, "%s\n", failures);
    ck_assert_msg(failures[0] == 0, "%.3000s", failures);
}
END_TEST

/* hs_io_writev with a report configuration (the shell itself uses
 * observe; `headershim apply` or another caller might not): the wire must
 * be the application's bytes unchanged, and every call must still obey the
 * write contract (the kernel_script checker, random splits and kernels).
 * The contract does not say whether such a call may hold bytes, so this
 * does not insist on one real call per application call. */
START_TEST(test_report_writev_changes_nothing)
{
    hs_policy *p = sc_policy(sc_policy_small);
    for (size_t i = 0; i < sc_corpus_count(); i++) {
        sc_stream s;
        sc_corpus_build(i, &s);
        hs_engine_config cfg = config(p, true, s.max_header);
        ks_run r;
        memset(&r, 0, sizeof r);
        r.cfg = &cfg;
        r.port = -1;
        r.req = s.req.p;
        r.req_len = s.req.len;
        r.stream = s.resp.p;
        r.len = s.resp.len;
        ks_oracle o;
        char *err = ks_oracle_build(&r, &o);
        ck_assert_msg(err == NULL, "%s: %s", s.name, err ? err : "");
        ck_assert_msg(o.wire.len == s.resp.len &&
                      memcmp(o.wire.p, s.resp.p, s.resp.len) == 0,
                      "%s: report mode changed the bytes", s.name);
        for (uint64_t n = 0; n < 50; n++) {
            ks_kernel ks;
            ks_init(&ks);
            ks_random(&ks, (i << 16) + n + 1, n % 4 == 3);
            r.split = KS_SPLIT_RANDOM;
            r.seed = (i << 16) + n + 7;
            r.retry = (ks_retry)(n % 3);
            err = ks_app_run(&r, &ks, &o, NULL);
            ck_assert_msg(err == NULL, "%s: %s", s.name, err ? err : "");
            ks_free(&ks);
        }
        ks_oracle_free(&o);
        sc_free(&s);
    }
    hs_policy_free(p);
}
END_TEST

/* Minimal form of a loss found by test_report_writev_changes_nothing:
 * with a report configuration, hs_io_writev holds an incomplete block and,
 * once the block turns out ambiguous, the held bytes never reach the wire
 * (IO-CONTRACT.md: "nothing is lost"). */
START_TEST(test_report_writev_held_ambiguous)
{
    hs_policy *p = sc_policy(sc_policy_small);
    hs_engine_config cfg = config(p, true, 0);
    ks_events ev;
    memset(&ev, 0, sizeof ev);
    ks_kernel ks;
    ks_init(&ks);
    hs_conn *c = hs_conn_new(&cfg, -1, false, &ev);
    static const char a[] = "HTTP/1.1 200 OK" CRLF;
    static const char b[] = "X-A: a" CRLF " b" CRLF "Content-Length: 0" CRLF CRLF;
    struct iovec va = {(void *)a, sizeof a - 1}, vb = {(void *)b, sizeof b - 1};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, &va, 1, 0), sizeof a - 1);
    ck_assert_int_eq(hs_io_writev(c, &ks.k, &vb, 1, 0), sizeof b - 1);
    ck_assert_int_eq(hs_io_flush(c, &ks.k, 100), 0);
    char got[200];
    ks_escape(ks.wire.p, ks.wire.len, 100, got, sizeof got);
    ck_assert_msg(ks.wire.len == sizeof a + sizeof b - 2 &&
                  memcmp(ks.wire.p, a, sizeof a - 1) == 0,
                  "report mode: wire \"%s\"", got);
    hs_conn_free(c);
    ks_free(&ks);
    hs_policy_free(p);
}
END_TEST

/* nginx with sendfile: the block is observed, the body is counted blind,
 * and the next response on the connection is still reported. */
START_TEST(test_report_blind_body)
{
    hs_policy *p = sc_policy(sc_policy_small);
    hs_engine_config cfg = config(p, true, 0);
    ks_events ev;
    memset(&ev, 0, sizeof ev);
    hs_conn *c = hs_conn_new(&cfg, -1, false, &ev);
    static const char req[] = "GET /a HTTP/1.1" CRLF "Host: h" CRLF CRLF
                              "GET /b HTTP/1.1" CRLF "Host: h" CRLF CRLF;
    hs_conn_read(c, req, sizeof req - 1);
    static const char h1[] = "HTTP/1.1 200 OK" CRLF "Server: nginx" CRLF
                             "Content-Length: 477" CRLF CRLF;
    static const char h2[] = "HTTP/1.1 404 Not Found" CRLF "Server: nginx" CRLF
                             "Content-Length: 0" CRLF CRLF;
    struct iovec v1 = {(void *)h1, sizeof h1 - 1};
    hs_io_observe(c, &v1, 1, sizeof h1 - 1);
    hs_io_observe_blind(c, 400);
    hs_io_observe_blind(c, 77);
    struct iovec v2 = {(void *)h2, sizeof h2 - 1};
    hs_io_observe(c, &v2, 1, 10);          /* short: only 10 accepted */
    struct iovec v3 = {(void *)(h2 + 10), sizeof h2 - 11};
    hs_io_observe(c, &v3, 1, sizeof h2 - 11);
    char evs[400];
    ks_events_describe(&ev, evs, sizeof evs);
    ck_assert_msg(ks_count(&ev, HS_EVENT_REPORT) == 2 && ev.n == 2 &&
                  ev.status[0] == 200 && ev.status[1] == 404,
                  "events [%s]", evs);
    ck_assert_msg(strcmp(ev.path[0], "/a") == 0 && strcmp(ev.path[1], "/b") == 0,
                  "paired with '%s' and '%s'", ev.path[0], ev.path[1]);
    ck_assert_msg(strstr(ev.names[0], "-Server") && strstr(ev.names[0], "+X-Test"),
                  "changes '%s'", ev.names[0]);
    hs_conn_free(c);
    hs_policy_free(p);
}
END_TEST

/* Without event_details (no log line prints them) the events come as
 * before, with an empty change record: it is not worked out. */
START_TEST(test_report_details_off)
{
    hs_policy *p = sc_policy(sc_policy_small);
    hs_engine_config cfg = config(p, true, 0);
    cfg.event_details = false;
    ks_events ev;
    memset(&ev, 0, sizeof ev);
    hs_conn *c = hs_conn_new(&cfg, -1, false, &ev);
    static const char h[] = "HTTP/1.1 200 OK" CRLF "Server: nginx" CRLF
                            "Content-Length: 0" CRLF CRLF;
    for (int k = 0; k < 2; k++) {   /* the second from the plan */
        struct iovec v = {(void *)h, sizeof h - 1};
        hs_io_observe(c, &v, 1, sizeof h - 1);
    }
    char evs[400];
    ks_events_describe(&ev, evs, sizeof evs);
    ck_assert_msg(ks_count(&ev, HS_EVENT_REPORT) == 2 && ev.n == 2,
                  "events [%s]", evs);
    ck_assert_msg(ev.names[0][0] == 0 && ev.names[1][0] == 0,
                  "changes '%s' '%s'", ev.names[0], ev.names[1]);
    hs_conn_free(c);
    hs_policy_free(p);
}
END_TEST

/* A response the policy leaves alone produces no REPORT event. */
START_TEST(test_report_nothing_to_change)
{
    hs_policy *p = sc_policy("remove X-Nothing-Here\n");
    hs_engine_config cfg = config(p, true, 0);
    ks_events ev;
    memset(&ev, 0, sizeof ev);
    hs_conn *c = hs_conn_new(&cfg, -1, false, &ev);
    static const char h[] = "HTTP/1.1 200 OK" CRLF "Content-Length: 0" CRLF CRLF;
    struct iovec v = {(void *)h, sizeof h - 1};
    hs_io_observe(c, &v, 1, sizeof h - 1);
    ck_assert_uint_eq(ev.n, 0);
    hs_conn_free(c);
    hs_policy_free(p);
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("engine_report");
    TCase *t = tcase_create("report");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_report_matches_enforce);
    tcase_add_test(t, test_report_details_off);
    tcase_add_test(t, test_report_writev_changes_nothing);
    tcase_add_test(t, test_report_writev_held_ambiguous);
    tcase_add_test(t, test_report_blind_body);
    tcase_add_test(t, test_report_nothing_to_change);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(report_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
