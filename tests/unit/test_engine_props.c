/*
 * test_engine_props.c - property tests of the engine and the write contract
 * (IO-CONTRACT.md "What to test it with"): every stream of the corpus, cut
 * every way, against scripted kernels, must put on the wire exactly the
 * transform of the uncut stream, and every call must return what rules 1,
 * 2, 4, 5, 6, 7 and 8 allow (kernel_script.c checks each call).
 *
 * Two oracles: the engine's own one-call run through a kernel that accepts
 * everything (ks_oracle_build, which also insists that one call and one
 * byte per call agree), and the corpus expectation computed without the
 * engine (sc_expected: listed blocks through hs_rewrite, all else
 * verbatim). test_transform_is_expected ties the two together, so "equal to
 * the oracle" below also means "every body byte arrives unchanged".
 *
 * Counts (29 streams of 10 to 3,400 bytes, about 10,300 bytes in all):
 *   every cut: each stream cut at every position into two calls (all
 *     accepted), and as one call with the kernel short at that wire offset:
 *     about 2 x 10,300 runs;
 *   single bytes: each stream one byte per call, all accepted and against
 *     8 random kernel scripts;
 *   random pieces: per stream RANDOM_SPLITS (10,000) seeded random splits
 *     (random iovecs, empty iovecs and empty calls), one run in
 *     SCRIPT_EVERY (10) against a seeded random kernel script, so 1,000
 *     random kernel scripts per stream (blocking and non-blocking, iov_max
 *     2, 3, 8 and 1024, the three retry models, one script in 8 ending in
 *     EPIPE); one run in 4 sends about 30% of its pieces by sendfile
 *     from a file holding the stream, with an offset or the file position;
 *     one run in 2 reads each request just before its response instead
 *     of all requests up front (pipelined);
 *   the api and auto presets: per stream 1,000 of the same runs each.
 * HS_PROPS_SCALE=N divides the random counts by N (never below 100; the
 * sanitizer build divides by 4 by itself); HS_PROPS_VERBOSE=1 prints the
 * runs made per test.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "kernel_script.h"
#include "stream_corpus.h"

#define RANDOM_SPLITS 10000
#define SCRIPT_EVERY 10
#define API_SPLITS 1000

/* Sanitizer builds run about 15 times slower: a quarter of the random
 * runs keeps `make SAN=1 check` near the same budget. */
#if defined(__SANITIZE_ADDRESS__)
#define SAN_DIVISOR 4
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SAN_DIVISOR 4
#endif
#endif
#ifndef SAN_DIVISOR
#define SAN_DIVISOR 1
#endif

static unsigned long runs_done;

static unsigned scale(unsigned n)
{
    const char *e = getenv("HS_PROPS_SCALE");
    unsigned d = e ? (unsigned)atoi(e) : SAN_DIVISOR;
    if (d < 1)
        d = 1;
    n /= d;
    return n < 100 ? 100 : n;
}

typedef struct fixture {
    sc_stream s;
    hs_engine_config cfg;
    ks_run run;
    ks_oracle o;
    size_t feed_at[SC_MAX_BLOCKS], feed_to[SC_MAX_BLOCKS];
    size_t nfeed;
    _Atomic size_t held;       /* the process-wide held-bytes count: back
                                  to 0 once each connection is freed */
} fixture;

/* Read requests as a server does: each one just before its response. */
static void interleave(fixture *f, ks_run *r)
{
    r->feed_at = f->feed_at;
    r->feed_to = f->feed_to;
    r->nfeed = f->nfeed;
}

/* Failures are collected per stream (the first one of each), so that one
 * broken stream does not hide the others; the test fails at its end. */
static char failures[16384];

static void add_failure(const char *name, const char *err)
{
    size_t used = strlen(failures);
    snprintf(failures + used, sizeof failures - used, "\n  %s: %.1500s",
             name, err);
}

/* Builds stream i under policy p; false (recorded as a failure) when the
 * engine disagrees with itself (one call vs one byte per call). */
/* With quiet_rewrites (the shell below its info level): no REWRITE
 * events, and blocks in the steady state go the engine's steady way. */
static bool quiet_rewrites;
static unsigned long steady_blocks;

static bool fixture_open(fixture *f, size_t i, const hs_policy *p,
                         hs_desync_mode mode)
{
    memset(f, 0, sizeof *f);
    sc_corpus_build(i, &f->s);
    f->cfg.policy = p;
    f->cfg.max_header = f->s.max_header;
    f->cfg.on_desync = mode;
    f->cfg.on_event = ks_on_event;
    f->cfg.quiet_rewrites = quiet_rewrites;
    f->run.steady_blocks = &steady_blocks;
    f->cfg.held_total = &f->held;
    f->run.cfg = &f->cfg;
    f->run.port = -1;
    f->run.req = f->s.req.p;
    f->run.req_len = f->s.req.len;
    f->run.stream = f->s.resp.p;
    f->run.len = f->s.resp.len;
    for (size_t b = 0; b < f->s.nblocks; b++)
        if (f->s.blocks[b].req >= 0) {
            f->feed_at[f->nfeed] = f->s.blocks[b].start;
            f->feed_to[f->nfeed++] = f->s.reqs[f->s.blocks[b].req].end;
        }
    char *err = ks_oracle_build(&f->run, &f->o);
    if (err) {
        add_failure(f->s.name, err);
        free(err);
        ks_oracle_free(&f->o);
        sc_free(&f->s);
        return false;
    }
    return true;
}

static void fixture_close(fixture *f)
{
    ks_oracle_free(&f->o);
    sc_free(&f->s);
}

static bool check_run(fixture *f, ks_run *r, ks_kernel *ks)
{
    runs_done++;
    char *err = ks_app_run(r, ks, &f->o, NULL);
    if (!err && f->held != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "held_total is %zu after the connection "
                 "was freed (split seed %llu)", (size_t)f->held,
                 (unsigned long long)r->seed);
        f->held = 0;
        add_failure(f->s.name, msg);
        return false;
    }
    if (!err)
        return true;
    add_failure(f->s.name, err);
    free(err);
    return false;
}

static void report_failures(void)
{
    if (getenv("HS_PROPS_VERBOSE"))
        fprintf(stderr, "%lu runs\n", runs_done);
    if (failures[0]) {
        fprintf(stderr, "%s\n", failures);
        /* Check passes messages through a bounded pipe: the whole list
         * went to stderr above, the message keeps the start. */
        ck_abort_msg("%.3000s", failures);
    }
}

/* The engine's transform of each corpus stream is the one computed without
 * it, and the events say what happened (a rewrite per changed block; a
 * desync exactly in the streams built to cause one). */
START_TEST(test_transform_is_expected)
{
    hs_policy *p = sc_policy(sc_policy_small);
    for (size_t i = 0; i < sc_corpus_count(); i++) {
        for (int mode = 0; mode < 2; mode++) {
            fixture f;
            if (!fixture_open(&f, i, p, mode ? HS_DESYNC_PASSTHROUGH
                                             : HS_DESYNC_CLOSE))
                continue;
            hs_buf exp = {0};
            size_t nchanged;
            char why[256];
            ck_assert_msg(sc_expected(&f.s, p, &f.cfg.rewrite, false, -1,
                                      &exp, &nchanged, why, sizeof why),
                          "%s", why);
            if (exp.len != f.o.wire.len ||
                !ks_same(exp.p, f.o.wire.p, exp.len)) {
                size_t d = 0;
                while (d < exp.len && d < f.o.wire.len &&
                       exp.p[d] == f.o.wire.p[d])
                    d++;
                char a[300], b[300];
                ks_escape_at(exp.p, d, exp.len - d, 80, a, sizeof a);
                ks_escape_at(f.o.wire.p, d, f.o.wire.len - d, 80, b, sizeof b);
                ck_abort_msg("%s (%s): wire differs from the expectation at "
                             "byte %zu of %zu/%zu: expected \"%s\", got \"%s\"",
                             f.s.name, mode ? "passthrough" : "close", d,
                             exp.len, f.o.wire.len, a, b);
            }
            char evs[800];
            ks_events_describe(&f.o.events, evs, sizeof evs);
            ck_assert_msg(ks_count(&f.o.events, HS_EVENT_REWRITE) == nchanged,
                          "%s: %zu blocks changed but events [%s]", f.s.name,
                          nchanged, evs);
            if (!f.s.opaque) {
                /* An OVERSIZE event is the desync of an oversize block
                 * (headershim.h: "a block over max_header (then a desync)"). */
                size_t nd = ks_count(&f.o.events, HS_EVENT_DESYNC) +
                            ks_count(&f.o.events, HS_EVENT_OVERSIZE);
                ck_assert_msg(f.s.desync ? nd >= 1 : nd == 0,
                              "%s: desync expected %d, events [%s]", f.s.name,
                              f.s.desync, evs);
                for (size_t e = 0; e < f.o.events.n; e++)
                    if (f.o.events.kind[e] == HS_EVENT_DESYNC ||
                        f.o.events.kind[e] == HS_EVENT_OVERSIZE)
                        ck_assert_msg(f.o.events.shutdown_read[e] == (mode == 0),
                                      "%s: desync in %s mode with "
                                      "shutdown_read=%d", f.s.name,
                                      mode ? "passthrough" : "close",
                                      f.o.events.shutdown_read[e]);
            }
            hs_buf_free(&exp);
            fixture_close(&f);
        }
    }
    hs_policy_free(p);
    report_failures();
}
END_TEST

/* Every cut position, two calls, all accepted; and one call with the
 * kernel short exactly at every wire offset, then accepting again. */
START_TEST(test_every_cut)
{
    hs_policy *p = sc_policy(sc_policy_small);
    for (size_t i = 0; i < sc_corpus_count(); i++) {
        fixture f;
        if (!fixture_open(&f, i, p, HS_DESYNC_CLOSE))
            continue;
        ks_kernel ks;
        ks_init(&ks);
        for (size_t cut = 1; cut < f.run.len; cut++) {
            ks_run r = f.run;
            r.split = KS_SPLIT_CUTS;
            r.cuts = &cut;
            r.ncuts = 1;
            ks_clear_record(&ks);
            ks_script(&ks, NULL, 0);
            if (!check_run(&f, &r, &ks))
                break;

            r.split = KS_SPLIT_WHOLE;
            r.retry = (ks_retry)(cut % 3);
            ks_step st[2] = {{KS_UPTO, cut % (f.o.wire.len + 1), 0},
                             {KS_REFUSE, 0, EAGAIN}};
            ks_clear_record(&ks);
            ks_script(&ks, st, 2);
            if (!check_run(&f, &r, &ks))
                break;
        }
        ks_free(&ks);
        fixture_close(&f);
    }
    hs_policy_free(p);
    report_failures();
}
END_TEST

START_TEST(test_single_bytes)
{
    hs_policy *p = sc_policy(sc_policy_small);
    for (size_t i = 0; i < sc_corpus_count(); i++) {
        fixture f;
        if (!fixture_open(&f, i, p, HS_DESYNC_CLOSE))
            continue;
        for (uint64_t seed = 0; seed < 9; seed++) {
            ks_kernel ks;
            ks_init(&ks);
            if (seed)
                ks_random(&ks, seed, seed % 3 == 0);
            ks_run r = f.run;
            r.split = KS_SPLIT_BYTES;
            r.req_seed = seed;
            if (seed % 2)
                interleave(&f, &r);
            bool ok = check_run(&f, &r, &ks);
            ks_free(&ks);
            if (!ok)
                break;
        }
        fixture_close(&f);
    }
    hs_policy_free(p);
    report_failures();
}
END_TEST

static const int app_flags[] = {0, MSG_NOSIGNAL, MSG_NOSIGNAL | MSG_DONTWAIT,
                                MSG_MORE};
static const int iov_maxes[] = {0, 2, 3, 8};

static void random_runs(const hs_policy *p, unsigned runs, uint64_t salt)
{
    for (size_t i = 0; i < sc_corpus_count(); i++) {
        fixture f;
        if (!fixture_open(&f, i, p, (i & 1) ? HS_DESYNC_PASSTHROUGH
                                            : HS_DESYNC_CLOSE))
            continue;
        ks_kernel ks;
        ks_init(&ks);
        for (unsigned n = 0; n < runs; n++) {
            uint64_t seed = salt ^ ((uint64_t)i << 32) ^ (n + 1);
            ks_run r = f.run;
            r.split = KS_SPLIT_RANDOM;
            r.seed = seed;
            r.req_seed = n % 7 ? seed : 0;
            r.retry = (ks_retry)(n % 3);
            r.flags = app_flags[(n / 3) % 4];
            ks_free(&ks);
            ks_init(&ks);
            if (n % SCRIPT_EVERY == 0) {
                ks_random(&ks, seed * 31 + 7, (n / SCRIPT_EVERY) % 2 == 1);
                ks.k.iov_max = iov_maxes[(n / SCRIPT_EVERY / 2) % 4];
                r.max_iov = ks.k.iov_max ? ks.k.iov_max : 8;
                /* one script in 8 ends in a broken pipe: only the prefix
                 * and the return values are checked */
                if ((n / SCRIPT_EVERY) % 8 == 5)
                    ks.fatal_after = 1 + (size_t)(seed % 40);
            }
            /* one run in 4 sends some pieces by sendfile from a file that
             * holds the stream (header bytes in it are read by pread) */
            if (n % 4 == 1)
                r.sendfile_pct = 30;
            /* one run in 2 reads each request just before its response */
            if (n % 2 == 0)
                interleave(&f, &r);
            if (!check_run(&f, &r, &ks))
                break;
        }
        ks_free(&ks);
        fixture_close(&f);
    }
    report_failures();
}

START_TEST(test_random_pieces)
{
    hs_policy *p = sc_policy(sc_policy_small);
    random_runs(p, scale(RANDOM_SPLITS), 0x5eed0001);
    hs_policy_free(p);
}
END_TEST

START_TEST(test_random_pieces_api_preset)
{
    hs_policy *p = sc_policy("api");
    random_runs(p, scale(API_SPLITS), 0x5eed0002);
    hs_policy_free(p);
}
END_TEST

START_TEST(test_random_pieces_auto_preset)
{
    hs_policy *p = sc_policy("auto");
    random_runs(p, scale(API_SPLITS), 0x5eed0003);
    hs_policy_free(p);
}
END_TEST

/* The same with quiet rewrites (no REWRITE events), where a call that
 * starts with a whole block of the connection's shape goes the steady
 * way (iomap.c). Random cuts seldom make such a call, but some must have
 * gone that way; test_engine_steady.c cuts calls as servers do. */
START_TEST(test_random_pieces_steady)
{
    hs_policy *p = sc_policy("api");
    quiet_rewrites = true;
    steady_blocks = 0;
    random_runs(p, scale(API_SPLITS), 0x5eed0004);
    ck_assert_uint_gt(steady_blocks, 0);
    quiet_rewrites = false;
    hs_policy_free(p);
}
END_TEST

static Suite *props_suite(void)
{
    Suite *s = suite_create("engine_props");
    TCase *tc = tcase_create("props");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_transform_is_expected);
    tcase_add_test(tc, test_every_cut);
    tcase_add_test(tc, test_single_bytes);
    tcase_add_test(tc, test_random_pieces);
    tcase_add_test(tc, test_random_pieces_api_preset);
    tcase_add_test(tc, test_random_pieces_auto_preset);
    tcase_add_test(tc, test_random_pieces_steady);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(props_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
