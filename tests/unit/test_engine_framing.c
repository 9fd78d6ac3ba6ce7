/*
 * test_engine_framing.c - every row of IO-CONTRACT.md's framing table,
 * every clause of the unambiguity rule, every desync cause and bound, in
 * both desync modes, plus the write contract's rules 3, 4 and 5 with exact
 * numbers.
 *
 * Each stream is run through the engine as one call and as one byte per
 * call (all accepted) and must match the expectation computed without the
 * engine (stream_corpus.c's sc_expected: listed blocks through hs_rewrite,
 * every other byte verbatim).
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
/* The response that follows a case: rewritten when framing went on,
 * verbatim when it must not be parsed. */
#define NEXT "HTTP/1.1 200 OK" CRLF "Server: next" CRLF "Content-Length: 0" CRLF CRLF

static hs_policy *policy;

static void load_policy(void)
{
    policy = sc_policy("set X-Test 1\nremove Server\n");
}

static void free_policy(void)
{
    hs_policy_free(policy);
}

typedef struct outcome {
    hs_buf wire;
    ks_events ev;
} outcome;

static hs_engine_config config(hs_desync_mode mode, size_t max_header)
{
    hs_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.policy = policy;
    cfg.max_header = max_header;
    cfg.on_desync = mode;
    cfg.on_event = ks_on_event;
    cfg.event_details = true; /* pairing checks read the events' paths */
    return cfg;
}

/* Runs s through the engine (requests first, then the response stream in
 * pieces of `piece` bytes, 0 = one call), all accepted, then a flush. */
static void run_stream(const sc_stream *s, const hs_engine_config *cfg,
                       size_t piece, outcome *out)
{
    memset(out, 0, sizeof *out);
    ks_kernel ks;
    ks_init(&ks);
    hs_conn *c = hs_conn_new(cfg, -1, false, &out->ev);
    ck_assert_ptr_nonnull(c);
    if (s->req.len)
        hs_conn_read(c, s->req.p, s->req.len);
    size_t p = 0;
    while (p < s->resp.len) {
        size_t n = piece ? piece : s->resp.len;
        if (n > s->resp.len - p)
            n = s->resp.len - p;
        struct iovec iov = {s->resp.p + p, n};
        ssize_t r = hs_io_writev(c, &ks.k, &iov, 1, 0);
        ck_assert_msg(r == (ssize_t)n, "%s: call at %zu of %zu bytes "
                      "returned %zd with an all-accepting kernel", s->name,
                      p, n, r);
        p += n;
    }
    ck_assert_int_eq(hs_io_flush(c, &ks.k, 100), 0);
    hs_conn_free(c);
    hs_buf_append(&out->wire, ks.wire.p, ks.wire.len);
    ks_free(&ks);
}

static void assert_wire(const sc_stream *s, const char *how, const hs_buf *got,
                        const hs_buf *exp)
{
    if (got->len == exp->len && ks_same(got->p, exp->p, exp->len))
        return;
    size_t d = 0;
    while (d < got->len && d < exp->len && got->p[d] == exp->p[d])
        d++;
    char a[400], b[400];
    ks_escape_at(exp->p, d, exp->len - d, 100, a, sizeof a);
    ks_escape_at(got->p, d, got->len - d, 100, b, sizeof b);
    ck_abort_msg("%s (%s): wire differs at byte %zu (%zu vs %zu expected): "
                 "expected \"%s\", got \"%s\"", s->name, how, d, got->len,
                 exp->len, a, b);
}

/* Runs s whole and byte by byte; both must equal the expectation. Returns
 * the events of the whole run in *ev. */
static void expect(const sc_stream *s, hs_desync_mode mode, size_t max_header,
                   ks_events *ev)
{
    hs_engine_config cfg = config(mode, max_header);
    hs_buf exp = {0};
    size_t nchanged;
    char why[256];
    ck_assert_msg(sc_expected(s, policy, &cfg.rewrite, false, -1, &exp,
                              &nchanged, why, sizeof why), "%s", why);
    outcome whole, bytes;
    run_stream(s, &cfg, 0, &whole);
    assert_wire(s, "one call", &whole.wire, &exp);
    run_stream(s, &cfg, 1, &bytes);
    assert_wire(s, "one byte per call", &bytes.wire, &exp);
    char evs[800];
    ks_events_describe(&whole.ev, evs, sizeof evs);
    ck_assert_msg(ks_count(&whole.ev, HS_EVENT_REWRITE) == nchanged,
                  "%s: %zu blocks changed, events [%s]", s->name, nchanged,
                  evs);
    if (ev)
        *ev = whole.ev;
    hs_buf_free(&exp);
    hs_buf_free(&whole.wire);
    hs_buf_free(&bytes.wire);
}

/* Desync or oversize events, with shutdown_read as the mode says. */
static void expect_desync(const sc_stream *s, const ks_events *ev,
                          hs_desync_mode mode, bool want)
{
    char evs[800];
    ks_events_describe(ev, evs, sizeof evs);
    size_t n = 0;
    for (size_t i = 0; i < ev->n; i++) {
        if (ev->kind[i] != HS_EVENT_DESYNC && ev->kind[i] != HS_EVENT_OVERSIZE)
            continue;
        n++;
        ck_assert_msg(ev->shutdown_read[i] == (mode == HS_DESYNC_CLOSE),
                      "%s: desync in %s mode with shutdown_read=%d [%s]",
                      s->name, mode == HS_DESYNC_CLOSE ? "close" : "passthrough",
                      ev->shutdown_read[i], evs);
    }
    if (want)
        ck_assert_msg(n >= 1, "%s: expected a desync, events [%s]", s->name,
                      evs);
    else
        ck_assert_msg(n == 0, "%s: unexpected desync, events [%s]", s->name,
                      evs);
}

static void get_req(sc_stream *s, const char *method, const char *path)
{
    char raw[128];
    snprintf(raw, sizeof raw, "%s %s HTTP/1.1" CRLF "Host: h" CRLF CRLF,
             method, path);
    /* method and path must outlive s: both are literals at every call */
    sc_req(s, method, path, "h", raw);
}

/* ------------------------------------------------------- the framing table */

START_TEST(test_row_1xx)
{
    sc_stream s;
    sc_init(&s, "1xx then final");
    get_req(&s, "GET", "/");
    get_req(&s, "GET", "/2");
    sc_resp(&s, "HTTP/1.1 100 Continue" CRLF CRLF);
    sc_resp(&s, "HTTP/1.1 103 Early Hints" CRLF "Server: kept" CRLF
                "Link: </a.css>; rel=preload" CRLF CRLF);
    sc_resp(&s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF "Content-Length: 2"
                CRLF CRLF);
    sc_body(&s, "ok");
    sc_resp(&s, NEXT);
    ks_events ev;
    expect(&s, HS_DESYNC_CLOSE, 0, &ev);
    ck_assert_uint_eq(ks_count(&ev, HS_EVENT_REWRITE), 2);
    expect_desync(&s, &ev, HS_DESYNC_CLOSE, false);
    sc_free(&s);
}
END_TEST

/* quiet_rewrites (the shell below the info level): the same bytes on the
 * wire, no REWRITE event, and the other events (a desync here) still
 * sent. */
START_TEST(test_quiet_rewrites)
{
    sc_stream s;
    sc_init(&s, "quiet");
    get_req(&s, "GET", "/");
    get_req(&s, "GET", "/2");
    sc_resp(&s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF "Content-Length: 2"
                CRLF CRLF);
    sc_body(&s, "ok");
    sc_resp(&s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF "Content-Length: 2"
                CRLF CRLF);
    sc_body(&s, "ok");
    get_req(&s, "GET", "/3");
    /* RFC 9112 6.3: two lengths, an ambiguous block (a DESYNC event) */
    sc_body(&s, "HTTP/1.1 200 OK" CRLF "Content-Length: 1" CRLF
                "Content-Length: 2" CRLF CRLF "x");
    hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
    hs_buf exp = {0};
    size_t nchanged;
    char why[256];
    ck_assert_msg(sc_expected(&s, policy, &cfg.rewrite, false, -1, &exp,
                              &nchanged, why, sizeof why), "%s", why);
    ck_assert_uint_eq(nchanged, 2);
    for (int quiet = 0; quiet <= 1; quiet++) {
        cfg.quiet_rewrites = quiet;
        outcome o;
        run_stream(&s, &cfg, 0, &o);
        assert_wire(&s, quiet ? "quiet" : "not quiet", &o.wire, &exp);
        ck_assert_uint_eq(ks_count(&o.ev, HS_EVENT_REWRITE), (quiet ? 0 : 2));
        expect_desync(&s, &o.ev, HS_DESYNC_CLOSE, true);
        hs_buf_free(&o.wire);
    }
    hs_buf_free(&exp);
    sc_free(&s);
}
END_TEST

START_TEST(test_row_101)
{
    sc_stream s;
    sc_init(&s, "101");
    sc_req(&s, "GET", "/ws", "h",
           "GET /ws HTTP/1.1" CRLF "Host: h" CRLF "Upgrade: websocket" CRLF
           "Connection: Upgrade" CRLF CRLF);
    sc_resp(&s, "HTTP/1.1 101 Switching Protocols" CRLF "Server: s" CRLF
                "Upgrade: websocket" CRLF "Connection: Upgrade" CRLF CRLF);
    sc_body_bytes(&s, "\x81\x02hi", 4);
    sc_body(&s, NEXT);
    ks_events ev;
    expect(&s, HS_DESYNC_CLOSE, 0, &ev);
    ck_assert_uint_eq(ks_count(&ev, HS_EVENT_REWRITE), 0);
    expect_desync(&s, &ev, HS_DESYNC_CLOSE, false);
    sc_free(&s);
}
END_TEST

START_TEST(test_row_connect)
{
    sc_stream s;
    sc_init(&s, "2xx to CONNECT");
    sc_req(&s, "CONNECT", NULL, "h",
           "CONNECT h:443 HTTP/1.1" CRLF "Host: h:443" CRLF CRLF);
    sc_resp(&s, "HTTP/1.1 200 Connection Established" CRLF "Server: p" CRLF
                CRLF);
    sc_body_bytes(&s, "\x16\x03\x01\x00\x01\x01", 6);
    sc_body(&s, NEXT);
    ks_events ev;
    expect(&s, HS_DESYNC_CLOSE, 0, &ev);
    ck_assert_uint_eq(ks_count(&ev, HS_EVENT_REWRITE), 1);
    expect_desync(&s, &ev, HS_DESYNC_CLOSE, false);
    sc_free(&s);

    /* A refused CONNECT is an ordinary response: HTTP goes on. */
    sc_init(&s, "407 to CONNECT");
    sc_req(&s, "CONNECT", NULL, "h",
           "CONNECT h:443 HTTP/1.1" CRLF "Host: h:443" CRLF CRLF);
    get_req(&s, "GET", "/b");
    sc_resp(&s, "HTTP/1.1 407 Proxy Authentication Required" CRLF
                "Server: p" CRLF "Content-Length: 1" CRLF CRLF);
    sc_body(&s, "x");
    sc_resp(&s, NEXT);
    expect(&s, HS_DESYNC_CLOSE, 0, &ev);
    ck_assert_uint_eq(ks_count(&ev, HS_EVENT_REWRITE), 2);
    sc_free(&s);
}
END_TEST

/* HEAD, 204 and 304 have no body whatever Content-Length says. */
START_TEST(test_row_no_body)
{
    sc_stream s;
    sc_init(&s, "HEAD, 204, 304");
    get_req(&s, "HEAD", "/");
    get_req(&s, "DELETE", "/");
    get_req(&s, "GET", "/");
    get_req(&s, "GET", "/");
    sc_resp(&s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
                "Content-Length: 40" CRLF CRLF);
    sc_resp(&s, "HTTP/1.1 204 No Content" CRLF "Server: s" CRLF
                "Content-Length: 40" CRLF CRLF);
    sc_resp(&s, "HTTP/1.1 304 Not Modified" CRLF "Server: s" CRLF
                "Content-Length: 40" CRLF CRLF);
    sc_resp(&s, NEXT);
    ks_events ev;
    expect(&s, HS_DESYNC_CLOSE, 0, &ev);
    ck_assert_uint_eq(ks_count(&ev, HS_EVENT_REWRITE), 4);
    expect_desync(&s, &ev, HS_DESYNC_CLOSE, false);
    sc_free(&s);
}
END_TEST

/* The same with Transfer-Encoding: chunked (RFC 9112 6.3: HEAD and 304
 * have no body whatever the framing headers say). */
START_TEST(test_row_no_body_chunked)
{
    sc_stream s;
    sc_init(&s, "HEAD and 304 with chunked");
    get_req(&s, "HEAD", "/");
    get_req(&s, "GET", "/");
    get_req(&s, "GET", "/");
    sc_resp(&s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
                "Transfer-Encoding: chunked" CRLF CRLF);
    sc_resp(&s, "HTTP/1.1 304 Not Modified" CRLF "Server: s" CRLF
                "Transfer-Encoding: chunked" CRLF CRLF);
    sc_resp(&s, NEXT);
    ks_events ev;
    expect(&s, HS_DESYNC_CLOSE, 0, &ev);
    ck_assert_uint_eq(ks_count(&ev, HS_EVENT_REWRITE), 3);
    expect_desync(&s, &ev, HS_DESYNC_CLOSE, false);
    sc_free(&s);
}
END_TEST

/* `headershim apply` without --requests: the assumed request frames the
 * response (a HEAD has no body). */
START_TEST(test_assumed_head)
{
    hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
    static const char resp[] = "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
                               "Content-Length: 40" CRLF CRLF NEXT;
    ks_kernel ks;
    ks_init(&ks);
    ks_events ev;
    memset(&ev, 0, sizeof ev);
    hs_conn *c = hs_conn_new(&cfg, -1, false, &ev);
    static const char head[] = "HEAD / HTTP/1.1" CRLF "Host: h" CRLF CRLF;
    ck_assert(hs_conn_assume_request(c, head, sizeof head - 1));
    struct iovec iov = {(void *)resp, sizeof resp - 1};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, &iov, 1, 0), sizeof resp - 1);
    ck_assert_int_eq(hs_io_flush(c, &ks.k, 100), 0);
    hs_conn_free(c);
    char evs[400];
    ks_events_describe(&ev, evs, sizeof evs);
    ck_assert_msg(ks_count(&ev, HS_EVENT_REWRITE) == 2 &&
                  ks_count(&ev, HS_EVENT_DESYNC) == 0,
                  "both responses answer the assumed HEAD: [%s]", evs);
    ks_free(&ks);
}
END_TEST

START_TEST(test_row_chunked)
{
    sc_stream s;
    sc_init(&s, "chunked with trailers");
    get_req(&s, "GET", "/");
    get_req(&s, "GET", "/");
    sc_resp(&s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
                "Transfer-Encoding: gzip, chunked" CRLF CRLF);
    /* chunk data that is a header block; an extension; trailers */
    sc_body(&s, "31;ext=1" CRLF "HTTP/1.1 200 OK" CRLF "Server: x" CRLF
                "Content-Length: 1" CRLF CRLF CRLF "0" CRLF "Server: trailer"
                CRLF CRLF);
    sc_resp(&s, NEXT);
    ks_events ev;
    expect(&s, HS_DESYNC_CLOSE, 0, &ev);
    ck_assert_uint_eq(ks_count(&ev, HS_EVENT_REWRITE), 2);
    expect_desync(&s, &ev, HS_DESYNC_CLOSE, false);
    sc_free(&s);
}
END_TEST

START_TEST(test_row_te_not_chunked)
{
    sc_stream s;
    sc_init(&s, "TE not ending in chunked");
    get_req(&s, "GET", "/");
    sc_resp(&s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
                "Transfer-Encoding: chunked, gzip" CRLF CRLF);
    sc_body(&s, "0" CRLF CRLF NEXT);
    ks_events ev;
    expect(&s, HS_DESYNC_CLOSE, 0, &ev);
    ck_assert_uint_eq(ks_count(&ev, HS_EVENT_REWRITE), 1);
    sc_free(&s);
}
END_TEST

START_TEST(test_row_content_length)
{
    sc_stream s;
    sc_init(&s, "Content-Length");
    get_req(&s, "GET", "/");
    get_req(&s, "GET", "/");
    sc_resp(&s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
                "Content-Length: 49" CRLF CRLF);
    sc_body(&s, "HTTP/1.1 200 OK" CRLF "Server: x" CRLF
                "Content-Length: 0" CRLF CRLF);
    sc_resp(&s, NEXT);
    ks_events ev;
    expect(&s, HS_DESYNC_CLOSE, 0, &ev);
    ck_assert_uint_eq(ks_count(&ev, HS_EVENT_REWRITE), 2);
    sc_free(&s);
}
END_TEST

START_TEST(test_row_neither)
{
    sc_stream s;
    sc_init(&s, "neither: until close");
    get_req(&s, "GET", "/");
    get_req(&s, "GET", "/");
    sc_resp(&s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF CRLF);
    sc_body(&s, "body" NEXT);
    ks_events ev;
    expect(&s, HS_DESYNC_CLOSE, 0, &ev);
    ck_assert_uint_eq(ks_count(&ev, HS_EVENT_REWRITE), 1);
    expect_desync(&s, &ev, HS_DESYNC_CLOSE, false);
    sc_free(&s);
}
END_TEST

/* After Connection: close (or HTTP/1.0 without keep-alive) nothing more is
 * parsed. */
START_TEST(test_close_after)
{
    sc_stream s;
    sc_init(&s, "Connection: close");
    get_req(&s, "GET", "/");
    get_req(&s, "GET", "/");
    sc_resp(&s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF "Connection: close"
                CRLF "Content-Length: 1" CRLF CRLF);
    sc_body(&s, "x" NEXT);
    ks_events ev;
    expect(&s, HS_DESYNC_CLOSE, 0, &ev);
    ck_assert_uint_eq(ks_count(&ev, HS_EVENT_REWRITE), 1);
    sc_free(&s);

    sc_init(&s, "HTTP/1.0 without keep-alive");
    get_req(&s, "GET", "/");
    get_req(&s, "GET", "/");
    sc_resp(&s, "HTTP/1.0 200 OK" CRLF "Server: s" CRLF "Content-Length: 1"
                CRLF CRLF);
    sc_body(&s, "x" NEXT);
    expect(&s, HS_DESYNC_CLOSE, 0, &ev);
    ck_assert_uint_eq(ks_count(&ev, HS_EVENT_REWRITE), 1);
    sc_free(&s);

    sc_init(&s, "HTTP/1.0 with keep-alive");
    get_req(&s, "GET", "/");
    get_req(&s, "GET", "/");
    sc_resp(&s, "HTTP/1.0 200 OK" CRLF "Server: s" CRLF
                "Connection: keep-alive" CRLF "Content-Length: 1" CRLF CRLF);
    sc_body(&s, "x");
    sc_resp(&s, NEXT);
    expect(&s, HS_DESYNC_CLOSE, 0, &ev);
    ck_assert_uint_eq(ks_count(&ev, HS_EVENT_REWRITE), 2);
    sc_free(&s);
}
END_TEST

/* ------------------------------------------------------------ ambiguity */

static const struct {
    const char *name;
    const char *block;
} ambiguous[] = {
    {"mixed line endings",
     "HTTP/1.1 200 OK" CRLF "Server: s\nContent-Length: 1" CRLF CRLF},
    {"bare CR", "HTTP/1.1 200 OK" CRLF "X-A: a\rb" CRLF "Server: s" CRLF
                "Content-Length: 1" CRLF CRLF},
    {"obs-fold", "HTTP/1.1 200 OK" CRLF "X-A: a" CRLF " b" CRLF
                 "Server: s" CRLF "Content-Length: 1" CRLF CRLF},
    {"line without colon", "HTTP/1.1 200 OK" CRLF "NoColon" CRLF
                           "Server: s" CRLF "Content-Length: 1" CRLF CRLF},
    {"space before colon", "HTTP/1.1 200 OK" CRLF "Server : s" CRLF
                           "Content-Length: 1" CRLF CRLF},
    {"name not a token", "HTTP/1.1 200 OK" CRLF "X(A): 1" CRLF "Server: s"
                         CRLF "Content-Length: 1" CRLF CRLF},
    {"two Content-Length values",
     "HTTP/1.1 200 OK" CRLF "Content-Length: 1" CRLF "Server: s" CRLF
     "Content-Length: 2" CRLF CRLF},
    {"Content-Length list of two values",
     "HTTP/1.1 200 OK" CRLF "Server: s" CRLF "Content-Length: 1, 2" CRLF
     CRLF},
    {"Transfer-Encoding in HTTP/1.0",
     "HTTP/1.0 200 OK" CRLF "Server: s" CRLF "Transfer-Encoding: chunked"
     CRLF CRLF},
    {"Transfer-Encoding and Content-Length",
     "HTTP/1.1 200 OK" CRLF "Server: s" CRLF "Transfer-Encoding: chunked"
     CRLF "Content-Length: 1" CRLF CRLF},
};

START_TEST(test_ambiguous)
{
    for (int mode = 0; mode < 2; mode++) {
        sc_stream s;
        sc_init(&s, ambiguous[_i].name);
        get_req(&s, "GET", "/");
        get_req(&s, "GET", "/");
        get_req(&s, "GET", "/");
        sc_resp(&s, NEXT); /* the connection was fine before */
        sc_body(&s, ambiguous[_i].block);
        sc_body(&s, "x" NEXT);
        ks_events ev;
        expect(&s, (hs_desync_mode)mode, 0, &ev);
        expect_desync(&s, &ev, (hs_desync_mode)mode, true);
        sc_free(&s);
    }
}
END_TEST

/* A repeated identical Content-Length counts as one: rewritten. */
START_TEST(test_identical_lengths)
{
    sc_stream s;
    sc_init(&s, "identical Content-Length twice");
    get_req(&s, "GET", "/");
    get_req(&s, "GET", "/");
    sc_resp(&s, "HTTP/1.1 200 OK" CRLF "Content-Length: 1" CRLF "Server: s"
                CRLF "Content-Length: 1" CRLF CRLF);
    sc_body(&s, "x");
    sc_resp(&s, NEXT);
    ks_events ev;
    expect(&s, HS_DESYNC_CLOSE, 0, &ev);
    ck_assert_uint_eq(ks_count(&ev, HS_EVENT_REWRITE), 2);
    expect_desync(&s, &ev, HS_DESYNC_CLOSE, false);
    sc_free(&s);
}
END_TEST

/* Chunked framing that breaks in the body desyncs from there; the block
 * before it was unambiguous and is rewritten whether the body came in the
 * same call or later (the wire must not depend on how the application cut
 * its writes). Found by test_engine_props (stream "chunked-bad-size"): in
 * one call the block goes out unchanged, byte by byte it is rewritten. */
START_TEST(test_chunk_error_after_block)
{
    for (int mode = 0; mode < 2; mode++) {
        sc_stream s;
        sc_init(&s, "bad chunk size after a good block");
        get_req(&s, "GET", "/");
        sc_resp(&s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
                    "Transfer-Encoding: chunked" CRLF CRLF);
        sc_body(&s, "3" CRLF "abc" CRLF "zz" CRLF CRLF);
        ks_events ev;
        expect(&s, (hs_desync_mode)mode, 0, &ev);
        expect_desync(&s, &ev, (hs_desync_mode)mode, true);
        sc_free(&s);
    }
}
END_TEST

/* A connection whose first bytes are not a status line is not HTTP and
 * passes through; whether that is a desync (and, in close mode, a
 * shutdown of the reading side) must not depend on whether the
 * application wrote "HTTP/" in a call of its own. Found by fuzz_engine:
 * one call gives no event, "HTTP/" then the rest gives DESYNC with
 * shutdown_read. */
START_TEST(test_not_http_same_events_any_split)
{
    static const char data[] = "HTTP/add 200 OK" CRLF "Content-Length: 0" CRLF
                               CRLF;
    hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
    ks_events ev[2];
    for (int split = 0; split < 2; split++) {
        ks_kernel ks;
        ks_init(&ks);
        memset(&ev[split], 0, sizeof ev[split]);
        hs_conn *c = hs_conn_new(&cfg, -1, false, &ev[split]);
        static const char req[] = "GET / HTTP/1.1" CRLF "Host: h" CRLF CRLF;
        hs_conn_read(c, req, sizeof req - 1);
        size_t first = split ? 5 : sizeof data - 1;
        struct iovec a = {(void *)data, first};
        ck_assert_int_eq(hs_io_writev(c, &ks.k, &a, 1, 0), first);
        if (split) {
            struct iovec b = {(void *)(data + 5), sizeof data - 1 - 5};
            ck_assert_int_eq(hs_io_writev(c, &ks.k, &b, 1, 0), b.iov_len);
        }
        ck_assert_int_eq(hs_io_flush(c, &ks.k, 100), 0);
        ck_assert(ks.wire.len == sizeof data - 1 &&
                  ks_same(ks.wire.p, data, sizeof data - 1));
        hs_conn_free(c);
        ks_free(&ks);
    }
    char a[300], b[300];
    ks_events_describe(&ev[0], a, sizeof a);
    ks_events_describe(&ev[1], b, sizeof b);
    ck_assert_msg(strcmp(a, b) == 0, "one call: [%s]; \"HTTP/\" then the "
                  "rest: [%s]", a, b);
}
END_TEST

/* HEADERSHIM_MAX_OUTPUT: a rewrite that would exceed it is skipped (the
 * block goes unchanged, an ERROR event), and the connection carries on:
 * the next, smaller block is rewritten. */
START_TEST(test_max_output_skips_one_block)
{
    static const char big[] = "HTTP/1.1 200 OK" CRLF "X-Long: "
                              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" CRLF
                              "Content-Length: 1" CRLF CRLF;
    static const char small[] = "HTTP/1.1 200 OK" CRLF "Content-Length: 1"
                                CRLF CRLF;
    static const char small_r[] = "HTTP/1.1 200 OK" CRLF "Content-Length: 1"
                                  CRLF "X-Test: 1" CRLF CRLF;
    hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
    cfg.rewrite.max_output = sizeof big - 1; /* the rewrite adds 11 bytes */
    ks_kernel ks;
    ks_init(&ks);
    ks_events ev;
    memset(&ev, 0, sizeof ev);
    hs_conn *c = hs_conn_new(&cfg, -1, false, &ev);
    static const char req[] = "GET / HTTP/1.1" CRLF "Host: h" CRLF CRLF
                              "GET / HTTP/1.1" CRLF "Host: h" CRLF CRLF;
    hs_conn_read(c, req, sizeof req - 1);
    struct iovec v[4] = {{(void *)big, sizeof big - 1}, {(void *)"x", 1},
                         {(void *)small, sizeof small - 1}, {(void *)"y", 1}};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, v, 4, 0),
                     sizeof big + sizeof small);
    ck_assert_int_eq(hs_io_flush(c, &ks.k, 100), 0);
    hs_conn_free(c);
    hs_buf exp = {0};
    hs_buf_append(&exp, big, sizeof big - 1);
    hs_buf_append(&exp, "x", 1);
    hs_buf_append(&exp, small_r, sizeof small_r - 1);
    hs_buf_append(&exp, "y", 1);
    sc_stream s;
    sc_init(&s, "max_output");
    assert_wire(&s, "one call", &ks.wire, &exp);
    char evs[300];
    ks_events_describe(&ev, evs, sizeof evs);
    ck_assert_msg(ks_count(&ev, HS_EVENT_ERROR) == 1 &&
                  ks_count(&ev, HS_EVENT_REWRITE) == 1 &&
                  ks_count(&ev, HS_EVENT_DESYNC) == 0, "[%s]", evs);
    hs_buf_free(&exp);
    ks_free(&ks);
}
END_TEST

/* -------------------------------------------------------- desync causes */

/* A response where a status line is expected is not one: BusyBox answers
 * HEAD with a body (servers-io.md section 5). */
START_TEST(test_head_answered_with_body)
{
    for (int mode = 0; mode < 2; mode++) {
        sc_stream s;
        sc_init(&s, "HEAD answered with a body");
        get_req(&s, "HEAD", "/");
        get_req(&s, "GET", "/");
        sc_resp(&s, "HTTP/1.1 200 OK" CRLF "Server: busybox" CRLF
                    "Content-Length: 5" CRLF CRLF);
        sc_body(&s, "hello" NEXT);
        ks_events ev;
        expect(&s, (hs_desync_mode)mode, 0, &ev);
        expect_desync(&s, &ev, (hs_desync_mode)mode, true);
        sc_free(&s);
    }
}
END_TEST

static void block_of(hs_buf *b, size_t total)
{
    static const char head[] = "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
                               "Content-Length: 0" CRLF "X-Pad: ";
    b->len = 0;
    hs_buf_append(b, head, sizeof head - 1);
    while (b->len < total - 4)
        hs_buf_append(b, "p", 1);
    hs_buf_append(b, CRLF CRLF, 5); /* with its NUL */
    b->len--;
}

/* HEADERSHIM_MAX_HEADER counts the whole block: a block of exactly the cap
 * is rewritten, one byte more goes out unchanged and desyncs. */
START_TEST(test_max_header)
{
    hs_buf b = {0};
    for (int mode = 0; mode < 2; mode++) {
        sc_stream s;
        sc_init(&s, "block of exactly max_header");
        get_req(&s, "GET", "/");
        get_req(&s, "GET", "/");
        block_of(&b, 200);
        sc_resp(&s, b.p);
        sc_resp(&s, NEXT);
        ks_events ev;
        expect(&s, (hs_desync_mode)mode, 200, &ev);
        ck_assert_uint_eq(ks_count(&ev, HS_EVENT_REWRITE), 2);
        expect_desync(&s, &ev, (hs_desync_mode)mode, false);
        sc_free(&s);

        sc_init(&s, "block of max_header + 1");
        get_req(&s, "GET", "/");
        get_req(&s, "GET", "/");
        block_of(&b, 201);
        sc_body(&s, b.p);
        sc_body(&s, NEXT);
        expect(&s, (hs_desync_mode)mode, 200, &ev);
        ck_assert_uint_eq(ks_count(&ev, HS_EVENT_OVERSIZE), 1);
        expect_desync(&s, &ev, (hs_desync_mode)mode, true);
        sc_free(&s);
    }
    hs_buf_free(&b);
}
END_TEST

/* A request that cannot be framed desyncs; its response goes out as is. */
START_TEST(test_request_unframeable)
{
    static const char *bad[] = {
        "POST / HTTP/1.1" CRLF "Host: h" CRLF "Transfer-Encoding: chunked" CRLF
        "Content-Length: 3" CRLF CRLF "0" CRLF CRLF,
        "POST / HTTP/1.1" CRLF "Host: h" CRLF "Content-Length: 3" CRLF
        "Content-Length: 4" CRLF CRLF "abcd",
        "POST / HTTP/1.1" CRLF "Host: h" CRLF "Transfer-Encoding: gzip" CRLF
        CRLF "abc",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (int mode = 0; mode < 2; mode++) {
            sc_stream s;
            sc_init(&s, bad[i]);
            sc_req_bytes(&s, bad[i], strlen(bad[i]));
            sc_body(&s, "HTTP/1.1 400 Bad Request" CRLF "Server: s" CRLF
                        "Content-Length: 0" CRLF CRLF NEXT);
            ks_events ev;
            expect(&s, (hs_desync_mode)mode, 0, &ev);
            expect_desync(&s, &ev, (hs_desync_mode)mode, true);
            sc_free(&s);
        }
}
END_TEST

/* 64 queued requests are kept; the 65th is a desync. */
START_TEST(test_queue_bound)
{
    for (int mode = 0; mode < 2; mode++)
    for (int n = 64; n <= 65; n++) {
        sc_stream s;
        sc_init(&s, n == 64 ? "64 queued requests" : "65 queued requests");
        for (int i = 0; i < n; i++)
            get_req(&s, "GET", "/");
        for (int i = 0; i < n; i++) {
            if (n == 64)
                sc_resp(&s, NEXT);
            else
                sc_body(&s, NEXT);
        }
        ks_events ev;
        expect(&s, (hs_desync_mode)mode, 0, &ev);
        expect_desync(&s, &ev, (hs_desync_mode)mode, n == 65);
        sc_free(&s);
    }
}
END_TEST

/* 16 KiB of an unfinished request head; more is a desync. A complete head
 * of 16,000 bytes read in 1,000-byte pieces never is. */
START_TEST(test_request_head_bound)
{
    for (int mode = 0; mode < 2; mode++)
    for (int over = 0; over < 2; over++) {
        hs_buf req = {0};
        static const char start[] = "GET / HTTP/1.1" CRLF "Host: h" CRLF
                                    "X-Big: ";
        hs_buf_append(&req, start, sizeof start - 1);
        size_t total = over ? 17000 : 16000;
        while (req.len < total - 4)
            hs_buf_append(&req, "b", 1);
        hs_buf_append(&req, CRLF CRLF, 4);
        sc_stream s;
        sc_init(&s, over ? "request head over 16 KiB" : "request head 16,000");
        if (over) {
            sc_req_bytes(&s, req.p, req.len);
            sc_body(&s, NEXT);
        } else {
            sc_req(&s, "GET", "/", "h", "");
            sc_req_bytes(&s, req.p, req.len);
            sc_resp(&s, NEXT);
        }
        hs_engine_config cfg = config((hs_desync_mode)mode, 0);
        hs_buf exp = {0};
        size_t nchanged;
        char why[200];
        ck_assert(sc_expected(&s, policy, &cfg.rewrite, false, -1, &exp,
                              &nchanged, why, sizeof why));
        ks_kernel ks;
        ks_init(&ks);
        ks_events ev;
        memset(&ev, 0, sizeof ev);
        hs_conn *c = hs_conn_new(&cfg, -1, false, &ev);
        for (size_t p = 0; p < req.len; p += 1000)
            hs_conn_read(c, req.p + p, req.len - p < 1000 ? req.len - p : 1000);
        struct iovec iov = {s.resp.p, s.resp.len};
        ck_assert_int_eq(hs_io_writev(c, &ks.k, &iov, 1, 0), s.resp.len);
        ck_assert_int_eq(hs_io_flush(c, &ks.k, 100), 0);
        hs_conn_free(c);
        outcome o = {.wire = ks.wire};
        assert_wire(&s, "request head in 1,000-byte reads", &o.wire, &exp);
        expect_desync(&s, &ev, (hs_desync_mode)mode, over);
        ks_free(&ks);
        hs_buf_free(&exp);
        hs_buf_free(&req);
        sc_free(&s);
    }
}
END_TEST

/* The process-wide bound on held bytes: a block that would push it past
 * 64 MiB is not held (a desync, bytes unchanged), and the count returns to
 * where it was once the connection is gone. */
START_TEST(test_held_total_bound)
{
    static const char part1[] = "HTTP/1.1 200 OK" CRLF "Server: s" CRLF;
    static const char part2[] = "Content-Length: 0" CRLF CRLF;
    for (int full = 0; full < 2; full++) {
        _Atomic size_t held = full ? ((size_t)64 << 20) - 8 : 0;
        size_t start = held;
        hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
        cfg.held_total = &held;
        ks_kernel ks;
        ks_init(&ks);
        ks_events ev;
        memset(&ev, 0, sizeof ev);
        hs_conn *c = hs_conn_new(&cfg, -1, false, &ev);
        static const char req[] = "GET / HTTP/1.1" CRLF "Host: h" CRLF CRLF;
        hs_conn_read(c, req, sizeof req - 1);
        struct iovec a = {(void *)part1, sizeof part1 - 1};
        struct iovec b = {(void *)part2, sizeof part2 - 1};
        ck_assert_int_eq(hs_io_writev(c, &ks.k, &a, 1, 0), sizeof part1 - 1);
        if (!full)
            ck_assert_msg(held == start + sizeof part1 - 1,
                          "held_total %zu while %zu bytes are held", (size_t)held,
                          sizeof part1 - 1);
        ck_assert_int_eq(hs_io_writev(c, &ks.k, &b, 1, 0), sizeof part2 - 1);
        ck_assert_int_eq(hs_io_flush(c, &ks.k, 100), 0);
        hs_conn_free(c);
        ck_assert_msg(held == start, "held_total %zu after the connection, "
                      "%zu before", (size_t)held, start);
        char evs[400];
        ks_events_describe(&ev, evs, sizeof evs);
        if (full) {
            ck_assert_msg(ks.wire.len == sizeof part1 + sizeof part2 - 2 &&
                          memcmp(ks.wire.p, part1, sizeof part1 - 1) == 0,
                          "over the process bound the block goes unchanged");
            ck_assert_msg(ks_count(&ev, HS_EVENT_DESYNC) +
                          ks_count(&ev, HS_EVENT_OVERSIZE) >= 1,
                          "no desync at the process bound: [%s]", evs);
        } else {
            ck_assert_msg(ks_count(&ev, HS_EVENT_REWRITE) == 1, "[%s]", evs);
        }
        ks_free(&ks);
    }
}
END_TEST

/* ---------------------------------------------- rules 3, 4, 5 by numbers */

static const char H[] = "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
                        "Content-Length: 4" CRLF CRLF;
static const char B[] = "body";
/* H rewritten by "set X-Test 1 / remove Server" */
static const char R[] = "HTTP/1.1 200 OK" CRLF "Content-Length: 4" CRLF
                        "X-Test: 1" CRLF CRLF;

static hs_conn *open_get(const hs_engine_config *cfg, ks_events *ev)
{
    memset(ev, 0, sizeof *ev);
    hs_conn *c = hs_conn_new(cfg, -1, false, ev);
    static const char req[] = "GET / HTTP/1.1" CRLF "Host: h" CRLF CRLF;
    hs_conn_read(c, req, sizeof req - 1);
    return c;
}

static void assert_wire_is(const ks_kernel *ks, const char *a, size_t an,
                           const char *b, size_t bn)
{
    hs_buf exp = {0};
    hs_buf_append(&exp, a, an);
    hs_buf_append(&exp, b, bn);
    sc_stream s;
    sc_init(&s, "rule");
    assert_wire(&s, "contract", &ks->wire, &exp);
    hs_buf_free(&exp);
}

/* k < r: all block bytes but the last are acknowledged, no body byte; the
 * retry of [last byte | body] gets 1 + 4 once the rest of R is out. */
START_TEST(test_rule4_short_inside_block)
{
    hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
    ks_events ev;
    hs_conn *c = open_get(&cfg, &ev);
    ks_kernel ks;
    ks_init(&ks);
    ks_step st[] = {{KS_ACCEPT, 10, 0}, {KS_ACCEPT, KS_ALL, 0}};
    ks_script(&ks, st, 2);
    size_t h = sizeof H - 1;
    struct iovec iov[2] = {{(void *)H, h}, {(void *)B, 4}};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, iov, 2, 0), (ssize_t)h - 1);
    ck_assert_uint_eq(ks.wire.len, 10);
    struct iovec retry[2] = {{(void *)(H + h - 1), 1}, {(void *)B, 4}};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, retry, 2, 0), 5);
    assert_wire_is(&ks, R, sizeof R - 1, B, 4);
    ck_assert(!hs_conn_owes_bytes(c));
    hs_conn_free(c);
    ks_free(&ks);
}
END_TEST

/* k >= r: h + (k - r). */
START_TEST(test_rule4_short_in_body)
{
    hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
    ks_events ev;
    hs_conn *c = open_get(&cfg, &ev);
    ks_kernel ks;
    ks_init(&ks);
    ks_step st[] = {{KS_ACCEPT, sizeof R - 1 + 1, 0}};
    ks_script(&ks, st, 1);
    size_t h = sizeof H - 1;
    struct iovec iov[2] = {{(void *)H, h}, {(void *)B, 4}};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, iov, 2, 0), (ssize_t)h + 1);
    struct iovec retry = {(void *)(B + 1), 3};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, &retry, 1, 0), 3);
    assert_wire_is(&ks, R, sizeof R - 1, B, 4);
    hs_conn_free(c);
    ks_free(&ks);
}
END_TEST

/* Rule 3 then 4: the block was held except its last byte, which comes
 * alone (BusyBox CGI writes the status line alone). The kernel is short:
 * the call has no block byte of its own left to acknowledge, so -EAGAIN;
 * the retry of that byte gets 1 once R is out. */
START_TEST(test_rule4_nothing_left_to_acknowledge)
{
    hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
    ks_events ev;
    hs_conn *c = open_get(&cfg, &ev);
    ks_kernel ks;
    ks_init(&ks);
    ks_step st[] = {{KS_ACCEPT, 5, 0}};
    ks_script(&ks, st, 1);
    size_t h = sizeof H - 1;
    struct iovec a = {(void *)H, h - 1};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, &a, 1, 0), (ssize_t)h - 1);
    ck_assert_uint_eq(ks.wire.len, 0); /* held */
    ck_assert(hs_conn_owes_bytes(c));
    struct iovec last = {(void *)(H + h - 1), 1};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, &last, 1, 0), -EAGAIN);
    ck_assert_uint_eq(ks.wire.len, 5);
    ck_assert_int_eq(hs_io_writev(c, &ks.k, &last, 1, 0), 1);
    struct iovec body = {(void *)B, 4};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, &body, 1, 0), 4);
    assert_wire_is(&ks, R, sizeof R - 1, B, 4);
    hs_conn_free(c);
    ks_free(&ks);
}
END_TEST

/* Rule 4, mismatch: the application resubmits something else. The pending
 * bytes go first, then the connection passes through. */
START_TEST(test_rule4_resubmitted_tail_differs)
{
    hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
    ks_events ev;
    hs_conn *c = open_get(&cfg, &ev);
    ks_kernel ks;
    ks_init(&ks);
    ks_step st[] = {{KS_ACCEPT, 10, 0}};
    ks_script(&ks, st, 1);
    size_t h = sizeof H - 1;
    struct iovec iov[2] = {{(void *)H, h}, {(void *)B, 4}};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, iov, 2, 0), (ssize_t)h - 1);
    static const char other[] = "Zother";
    struct iovec o = {(void *)other, 6};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, &o, 1, 0), 6);
    assert_wire_is(&ks, R, sizeof R - 1, other, 6);
    hs_conn_free(c);
    ks_free(&ks);
}
END_TEST

/* Rule 5: a blocking socket loops until R is out. */
START_TEST(test_rule5_blocking_loops)
{
    hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
    ks_events ev;
    hs_conn *c = open_get(&cfg, &ev);
    ks_kernel ks;
    ks_init(&ks);
    ks.blocking = true;
    ks_step st[] = {{KS_ACCEPT, 7, 0}, {KS_ACCEPT, 7, 0}, {KS_ACCEPT, 3, 0}};
    ks_script(&ks, st, 3);
    size_t h = sizeof H - 1;
    struct iovec iov[2] = {{(void *)H, h}, {(void *)B, 4}};
    ssize_t r = hs_io_writev(c, &ks.k, iov, 2, 0);
    ck_assert_msg(r >= (ssize_t)h, "blocking write returned %zd < h=%zu", r, h);
    ck_assert_uint_ge(ks.wire.len, sizeof R - 1);
    if (r < (ssize_t)h + 4) {
        struct iovec rest = {(void *)(B + (r - (ssize_t)h)), (size_t)(h + 4 - (size_t)r)};
        ck_assert_int_eq(hs_io_writev(c, &ks.k, &rest, 1, 0), h + 4 - (size_t)r);
    }
    assert_wire_is(&ks, R, sizeof R - 1, B, 4);
    hs_conn_free(c);

    /* MSG_DONTWAIT makes the same socket non-blocking for this call. */
    c = open_get(&cfg, &ev);
    ks_clear_record(&ks);
    ks_script(&ks, st, 3);
    r = hs_io_writev(c, &ks.k, iov, 2, MSG_DONTWAIT);
    ck_assert_int_eq(r, (ssize_t)h - 1);
    hs_conn_free(c);
    ks_free(&ks);
}
END_TEST

/* Rule 5 for held bytes released unchanged: the status line was held
 * (BusyBox and mini_httpd CGI write it alone), the rest makes the block
 * ambiguous, so the held bytes go out unchanged in front of the call's own.
 * A blocking kernel that takes only the held bytes must not make the call
 * return -EAGAIN: a blocking socket never says EAGAIN (Python's sendall
 * would raise). Found by test_engine_props (stream "oversize", blocking). */
START_TEST(test_rule5_blocking_after_held_released)
{
    static const char status[] = "HTTP/1.1 200 OK" CRLF;
    static const char rest[] = "X-A: a" CRLF " b" CRLF "Content-Length: 0"
                               CRLF CRLF;
    hs_engine_config cfg = config(HS_DESYNC_PASSTHROUGH, 0);
    ks_events ev;
    hs_conn *c = open_get(&cfg, &ev);
    ks_kernel ks;
    ks_init(&ks);
    ks.blocking = true;
    ks_step st[] = {{KS_ACCEPT, sizeof status - 1, 0}};
    ks_script(&ks, st, 1);
    struct iovec a = {(void *)status, sizeof status - 1};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, &a, 1, 0), sizeof status - 1);
    struct iovec b = {(void *)rest, sizeof rest - 1};
    ssize_t r = hs_io_writev(c, &ks.k, &b, 1, 0);
    ck_assert_msg(r > 0, "blocking socket: the call returned %zd after the "
                  "kernel took the %zu held bytes (and was short, never "
                  "EAGAIN)", r, sizeof status - 1);
    if ((size_t)r < sizeof rest - 1) {
        struct iovec b2 = {(void *)(rest + r), sizeof rest - 1 - (size_t)r};
        ck_assert_int_eq(hs_io_writev(c, &ks.k, &b2, 1, 0), b2.iov_len);
    }
    assert_wire_is(&ks, status, sizeof status - 1, rest, sizeof rest - 1);
    hs_conn_free(c);
    ks_free(&ks);
}
END_TEST

/* --------------------------------------------------------------- flushes */

/* An incomplete block held at close goes out unchanged, with MSG_NOSIGNAL. */
START_TEST(test_flush_held)
{
    hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
    ks_events ev;
    hs_conn *c = open_get(&cfg, &ev);
    ks_kernel ks;
    ks_init(&ks);
    struct iovec a = {(void *)H, 20};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, &a, 1, 0), 20);
    ck_assert_uint_eq(ks.wire.len, 0);
    ck_assert(hs_conn_owes_bytes(c));
    ck_assert_int_eq(hs_io_flush(c, &ks.k, 100), 0);
    assert_wire_is(&ks, H, 20, "", 0);
    for (size_t i = 0; i < ks.ncalls; i++)
        if (ks.calls[i].op == KS_OP_SENDV)
            ck_assert(ks.calls[i].flags & MSG_NOSIGNAL);
    ck_assert(!hs_conn_owes_bytes(c));
    hs_conn_free(c);
    ks_free(&ks);
}
END_TEST

/* The rest of a rewritten block is owed after a short count; the flush at
 * close sends it, waiting for writability after EAGAIN. */
START_TEST(test_flush_pending_waits)
{
    hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
    ks_events ev;
    hs_conn *c = open_get(&cfg, &ev);
    ks_kernel ks;
    ks_init(&ks);
    ks_step st[] = {{KS_ACCEPT, 10, 0}, {KS_REFUSE, 0, EAGAIN},
                    {KS_ACCEPT, 3, 0}};
    ks_script(&ks, st, 3);
    size_t h = sizeof H - 1;
    struct iovec iov[2] = {{(void *)H, h}, {(void *)B, 4}};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, iov, 2, 0), (ssize_t)h - 1);
    ck_assert(hs_conn_owes_bytes(c));
    ck_assert_int_eq(hs_io_flush(c, &ks.k, 100), 0);
    assert_wire_is(&ks, R, sizeof R - 1, "", 0);
    ck_assert_msg(ks.wait_total_ms <= 100, "waited %d ms in all, bound 100",
                  ks.wait_total_ms);
    hs_conn_free(c);
    ks_free(&ks);
}
END_TEST

/* A flush that cannot finish in time fails and the connection passes
 * through; it waits at most the bound in all. */
START_TEST(test_flush_gives_up)
{
    hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
    ks_events ev;
    hs_conn *c = open_get(&cfg, &ev);
    ks_kernel ks;
    ks_init(&ks);
    ks_step st[8];
    st[0] = (ks_step){KS_ACCEPT, 10, 0};
    for (int i = 1; i < 8; i++)
        st[i] = (ks_step){KS_REFUSE, 0, EAGAIN};
    ks_script(&ks, st, 8);
    ks.nwait = 3;
    ks.wait_answers[0] = 0; /* timed out */
    ks.wait_answers[1] = 0;
    ks.wait_answers[2] = 0;
    size_t h = sizeof H - 1;
    struct iovec iov[2] = {{(void *)H, h}, {(void *)B, 4}};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, iov, 2, 0), (ssize_t)h - 1);
    int r = hs_io_flush(c, &ks.k, 50);
    ck_assert_msg(r < 0, "flush returned %d with the kernel refusing", r);
    ck_assert_msg(ks.wait_total_ms <= 50, "waited %d ms in all, bound 50",
                  ks.wait_total_ms);
    ck_assert(hs_conn_is_passthrough(c));
    hs_conn_free(c);
    ks_free(&ks);
}
END_TEST

/* ----------------------------------------------------------- request side */

/* Feeds the pieces of a conversation in order: requests read (R), response
 * bytes written (W); returns the events and checks that the wire is the
 * written bytes with each block that `rewritten` marks rewritten. */
typedef struct step {
    char what;                 /* 'R' read, 'W' write */
    const char *bytes;
} step;

static void converse(const step *steps, size_t n, ks_events *ev,
                     hs_buf *wire)
{
    hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
    ks_kernel ks;
    ks_init(&ks);
    memset(ev, 0, sizeof *ev);
    hs_conn *c = hs_conn_new(&cfg, -1, false, ev);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(steps[i].bytes);
        if (steps[i].what == 'R') {
            hs_conn_read(c, steps[i].bytes, len);
        } else {
            struct iovec v = {(void *)steps[i].bytes, len};
            ck_assert_int_eq(hs_io_writev(c, &ks.k, &v, 1, 0), len);
        }
    }
    ck_assert_int_eq(hs_io_flush(c, &ks.k, 100), 0);
    hs_conn_free(c);
    wire->len = 0;
    hs_buf_append(wire, ks.wire.p, ks.wire.len);
    ks_free(&ks);
}

#define RESP(server) "HTTP/1.1 200 OK" CRLF "Server: " server CRLF \
                     "Content-Length: 0" CRLF CRLF
#define REWRITTEN "HTTP/1.1 200 OK" CRLF "Content-Length: 0" CRLF \
                  "X-Test: 1" CRLF CRLF

/* Expect: 100-continue as it happens: the head, the 100, then the body
 * (which holds a request line), then the final response; a pipelined GET
 * behind it is answered next. */
START_TEST(test_expect_continue_body_after_100)
{
    static const step st[] = {
        {'R', "POST /up HTTP/1.1" CRLF "Host: h" CRLF
              "Expect: 100-continue" CRLF "Content-Length: 30" CRLF CRLF},
        {'W', "HTTP/1.1 100 Continue" CRLF CRLF},
        {'R', "GET /evil HTTP/1.1" CRLF "Host: e" CRLF CRLF},
        {'R', "GET /b HTTP/1.1" CRLF "Host: h" CRLF CRLF},
        {'W', "HTTP/1.1 201 Created" CRLF "Server: s" CRLF
              "Content-Length: 0" CRLF CRLF},
        {'W', RESP("s")},
    };
    ks_events ev;
    hs_buf wire = {0};
    converse(st, sizeof st / sizeof st[0], &ev, &wire);
    static const char want[] = "HTTP/1.1 100 Continue" CRLF CRLF
                               "HTTP/1.1 201 Created" CRLF "Content-Length: 0"
                               CRLF "X-Test: 1" CRLF CRLF REWRITTEN;
    char got[400], evs[400];
    ks_escape(wire.p, wire.len, 300, got, sizeof got);
    ks_events_describe(&ev, evs, sizeof evs);
    ck_assert_msg(wire.len == sizeof want - 1 &&
                  ks_same(wire.p, want, sizeof want - 1), "wire \"%s\" [%s]",
                  got, evs);
    ck_assert_msg(ev.n == 2 && strcmp(ev.path[0], "/up") == 0 &&
                  strcmp(ev.path[1], "/b") == 0,
                  "pairing: [%s] paths '%s' '%s'", evs, ev.path[0],
                  ev.path[1]);
    hs_buf_free(&wire);
}
END_TEST

/* An Upgrade request the server declines: HTTP goes on, and the request
 * pipelined behind it pairs with the next response. */
START_TEST(test_upgrade_declined)
{
    static const step st[] = {
        {'R', "GET /ws HTTP/1.1" CRLF "Host: h" CRLF "Upgrade: websocket" CRLF
              "Connection: Upgrade" CRLF CRLF
              "GET /b HTTP/1.1" CRLF "Host: h" CRLF CRLF},
        {'W', RESP("s")},
        {'W', RESP("s")},
    };
    ks_events ev;
    hs_buf wire = {0};
    converse(st, sizeof st / sizeof st[0], &ev, &wire);
    char evs[400];
    ks_events_describe(&ev, evs, sizeof evs);
    ck_assert_msg(wire.len == 2 * (sizeof REWRITTEN - 1), "[%s]", evs);
    ck_assert_msg(ev.n == 2 && strcmp(ev.path[0], "/ws") == 0 &&
                  strcmp(ev.path[1], "/b") == 0,
                  "pairing: [%s] paths '%s' '%s'", evs, ev.path[0],
                  ev.path[1]);
    hs_buf_free(&wire);
}
END_TEST

/* What a client sends after CONNECT or an accepted Upgrade is not HTTP:
 * reading it, before or after the 200/101, must not desync (and so must
 * not shut the reading side of a working tunnel). */
START_TEST(test_tunnel_client_bytes_not_parsed)
{
    static const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc";
    static const char frame[] = "\x81\x85\x01\x02\x03\x04hello";
    for (int after = 0; after < 2; after++) {
        step st[3];
        st[0] = (step){'R', "CONNECT h:443 HTTP/1.1" CRLF "Host: h:443" CRLF
                            CRLF};
        st[1 + after] = (step){'R', hello};
        st[2 - after] = (step){'W', "HTTP/1.1 200 Connection Established"
                                    CRLF CRLF};
        ks_events ev;
        hs_buf wire = {0};
        converse(st, 3, &ev, &wire);
        char evs[400];
        ks_events_describe(&ev, evs, sizeof evs);
        ck_assert_msg(ks_count(&ev, HS_EVENT_DESYNC) == 0,
                      "CONNECT, client bytes read %s the 200: [%s]",
                      after ? "after" : "before", evs);
        hs_buf_free(&wire);

        st[0] = (step){'R', "GET /ws HTTP/1.1" CRLF "Host: h" CRLF
                            "Upgrade: websocket" CRLF "Connection: Upgrade"
                            CRLF CRLF};
        st[1 + after] = (step){'R', frame};
        st[2 - after] = (step){'W', "HTTP/1.1 101 Switching Protocols" CRLF
                                    "Upgrade: websocket" CRLF
                                    "Connection: Upgrade" CRLF CRLF};
        converse(st, 3, &ev, &wire);
        ks_events_describe(&ev, evs, sizeof evs);
        ck_assert_msg(ks_count(&ev, HS_EVENT_DESYNC) == 0,
                      "Upgrade, client frames read %s the 101: [%s]",
                      after ? "after" : "before", evs);
        hs_buf_free(&wire);
    }
}
END_TEST

/* hs_conn_is_passthrough lets the shell forget a connection: true once
 * nothing will ever change and nothing is owed, never before. */
START_TEST(test_is_passthrough)
{
    static const struct {
        const char *req, *resp;
        bool after;
    } cases[] = {
        {"GET / HTTP/1.1" CRLF "Host: h" CRLF CRLF,
         "HTTP/1.1 200 OK" CRLF "Content-Length: 2" CRLF CRLF "ok", false},
        {"GET / HTTP/1.1" CRLF "Host: h" CRLF CRLF,
         "HTTP/1.1 200 OK" CRLF "Content-Length: 2" CRLF CRLF "o", false},
        {"GET / HTTP/1.1" CRLF "Host: h" CRLF CRLF,
         "HTTP/1.1 200 OK" CRLF "Server: s" CRLF CRLF "until close", true},
        {"GET /ws HTTP/1.1" CRLF "Host: h" CRLF "Upgrade: websocket" CRLF
         "Connection: Upgrade" CRLF CRLF,
         "HTTP/1.1 101 Switching Protocols" CRLF "Upgrade: websocket" CRLF
         "Connection: Upgrade" CRLF CRLF, true},
        {"HEAD / HTTP/1.1" CRLF "Host: h" CRLF CRLF,
         "HTTP/1.1 200 OK" CRLF "Content-Length: 5" CRLF CRLF "hello", true},
        {"", "\x16\x03\x01\x00\x05hello", true},
        {"GET / HTTP/1.1" CRLF "Host: h" CRLF CRLF, "HTTP/1.1 200 OK" CRLF,
         false},
    };
    hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ks_kernel ks;
        ks_init(&ks);
        ks_events ev;
        memset(&ev, 0, sizeof ev);
        hs_conn *c = hs_conn_new(&cfg, -1, false, &ev);
        ck_assert(!hs_conn_is_passthrough(c));
        hs_conn_read(c, cases[i].req, strlen(cases[i].req));
        struct iovec v = {(void *)cases[i].resp, strlen(cases[i].resp)};
        ck_assert_int_eq(hs_io_writev(c, &ks.k, &v, 1, 0), v.iov_len);
        ck_assert_msg(hs_conn_is_passthrough(c) == cases[i].after,
                      "case %zu: is_passthrough %d, expected %d", i,
                      hs_conn_is_passthrough(c), cases[i].after);
        hs_conn_free(c);
        ks_free(&ks);
    }
}
END_TEST

/* ------------------------------------------------------- memory runs out */

/* IO-CONTRACT.md: failing an allocation is a desync (or, in the rewriter,
 * a block left unchanged); the shim never aborts, loses or invents a byte.
 * This binary's own malloc fails the Nth allocation made by the code
 * linked into it (the core included; glibc's internal allocations are
 * untouched), for every N of a run. Not under sanitizers, which bring
 * their own allocator. */
#if defined(__SANITIZE_ADDRESS__)
#define HS_TEST_OOM 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HS_TEST_OOM 0
#endif
#endif
#ifndef HS_TEST_OOM
#define HS_TEST_OOM 1
#endif

#if HS_TEST_OOM
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static char oom_failed[400];      /* the first failure of a stream */
static bool oom_armed;
static long oom_fail_at;          /* the allocation that fails; -1 none */
static long oom_allocs;           /* allocations counted while armed */

static bool oom_now(void)
{
    return oom_armed && oom_allocs++ == oom_fail_at;
}

void *malloc(size_t n)
{
    return oom_now() ? NULL : __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    return oom_now() ? NULL : __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    return oom_now() ? NULL : __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}

/* The wire is the stream with each listed block either rewritten or left
 * as it was, and every other byte as it was. */
static bool wire_is_some_transform(const sc_stream *s, const hs_buf *wire,
                                   char *why, size_t cap)
{
    hs_block *b = malloc(sizeof *b);
    size_t at = 0, w = 0;
    bool ok = true;
    for (size_t i = 0; ok && i <= s->nblocks; i++) {
        size_t upto = i < s->nblocks ? s->blocks[i].start : s->resp.len;
        size_t raw = upto - at;
        if (w + raw > wire->len ||
            !ks_same(wire->p + w, s->resp.p + at, raw)) {
            snprintf(why, cap, "raw bytes [%zu, %zu) not at wire %zu", at,
                     upto, w);
            ok = false;
            break;
        }
        w += raw;
        at = upto;
        if (i == s->nblocks)
            break;
        const sc_block *sb = &s->blocks[i];
        size_t blen = sb->end - sb->start;
        hs_buf out = {0};
        hs_request rq;
        memset(&rq, 0, sizeof rq);
        rq.port = -1;
        if (hs_block_parse(s->resp.p + sb->start, blen, b, NULL) ==
                HS_BLOCK_OK &&
            hs_rewrite(policy, &(hs_rewrite_opts){0}, b, &rq, &out, NULL) ==
                HS_REWRITE_CHANGED &&
            w + out.len <= wire->len && ks_same(wire->p + w, out.p, out.len))
            w += out.len;
        else if (w + blen <= wire->len &&
                 ks_same(wire->p + w, s->resp.p + sb->start, blen))
            w += blen;
        else {
            snprintf(why, cap, "block %zu neither rewritten nor as it was "
                     "at wire %zu", i, w);
            ok = false;
        }
        hs_buf_free(&out);
        at = sb->end;
    }
    if (ok && w != wire->len) {
        snprintf(why, cap, "%zu extra bytes on the wire", wire->len - w);
        ok = false;
    }
    free(b);
    return ok;
}

/* One run with allocation n failing; returns how many allocations the
 * engine made while armed. */
static long oom_run(const sc_stream *s, long n)
{
    hs_engine_config cfg = config(HS_DESYNC_CLOSE, 0);
    ks_kernel ks;
    ks_init(&ks);
    /* The kernel's own recording must not take the failing allocation. */
    ks_reserve(&ks, 4 * s->resp.len + 4096, s->resp.len + 64);
    ks_events ev;
    memset(&ev, 0, sizeof ev);
    oom_allocs = 0;
    oom_fail_at = n;
    oom_armed = true;
    hs_conn *c = hs_conn_new(&cfg, -1, false, &ev);
    if (!c) {
        oom_armed = false;
        ks_free(&ks);
        return oom_allocs;
    }
    for (size_t p = 0; p < s->req.len; p += 11)
        hs_conn_read(c, s->req.p + p, s->req.len - p < 11 ? s->req.len - p : 11);
    for (size_t p = 0; p < s->resp.len; p += 7) {
        size_t k = s->resp.len - p < 7 ? s->resp.len - p : 7;
        struct iovec v = {s->resp.p + p, k};
        ssize_t r = hs_io_writev(c, &ks.k, &v, 1, 0);
        if (r != (ssize_t)k && !oom_failed[0]) {
            snprintf(oom_failed, sizeof oom_failed, "%s, allocation %ld "
                     "fails: a %zu-byte call at %zu returned %zd with an "
                     "all-accepting kernel", s->name, n, k, p, r);
        }
        if (r < 0)
            break; /* the application gives up on the connection */
    }
    int fr = hs_io_flush(c, &ks.k, 100);
    bool owes = hs_conn_owes_bytes(c);
    hs_conn_free(c);
    oom_armed = false;
    long made = oom_allocs;
    if ((fr != 0 || owes) && !oom_failed[0])
        snprintf(oom_failed, sizeof oom_failed, "%s, allocation %ld fails: "
                 "flush %d, owes %d", s->name, n, fr, owes);
    char why[200];
    if (!oom_failed[0] && !wire_is_some_transform(s, &ks.wire, why, sizeof why))
        snprintf(oom_failed, sizeof oom_failed, "%s, allocation %ld fails: %s",
                 s->name, n, why);
    ks_free(&ks);
    return made;
}

START_TEST(test_out_of_memory)
{
    static char all[3000];
    static const char *names[] = {"pipelined-mixed", "chunked-tricky",
                                  "request-bodies", "big-header",
                                  "interim-100-103", "unanswered"};
    for (size_t i = 0; i < sc_corpus_count(); i++) {
        sc_stream s;
        sc_corpus_build(i, &s);
        bool pick = false;
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            pick |= strcmp(s.name, names[k]) == 0;
        if (pick) {
            oom_failed[0] = 0;
            long total = oom_run(&s, -1); /* count only */
            ck_assert_int_gt(total, 0);
            for (long n = 0; n < total && !oom_failed[0]; n++)
                oom_run(&s, n);
            if (oom_failed[0]) {
                size_t used = strlen(all);
                snprintf(all + used, sizeof all - used, "\n  %s", oom_failed);
            }
        }
        sc_free(&s);
    }
    ck_assert_msg(all[0] == 0, "%.3000s", all);
}
END_TEST
#endif

static Suite *framing_suite(void)
{
    Suite *s = suite_create("engine_framing");
    TCase *t = tcase_create("framing table");
    tcase_add_checked_fixture(t, load_policy, free_policy);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_row_1xx);
    tcase_add_test(t, test_row_101);
    tcase_add_test(t, test_quiet_rewrites);
    tcase_add_test(t, test_row_connect);
    tcase_add_test(t, test_row_no_body);
    tcase_add_test(t, test_row_no_body_chunked);
    tcase_add_test(t, test_assumed_head);
    tcase_add_test(t, test_row_chunked);
    tcase_add_test(t, test_row_te_not_chunked);
    tcase_add_test(t, test_row_content_length);
    tcase_add_test(t, test_row_neither);
    tcase_add_test(t, test_close_after);
    suite_add_tcase(s, t);

    TCase *a = tcase_create("ambiguity and desync");
    tcase_add_checked_fixture(a, load_policy, free_policy);
    tcase_set_timeout(a, 60);
    tcase_add_loop_test(a, test_ambiguous, 0,
                        (int)(sizeof ambiguous / sizeof ambiguous[0]));
    tcase_add_test(a, test_identical_lengths);
    tcase_add_test(a, test_max_output_skips_one_block);
    tcase_add_test(a, test_head_answered_with_body);
    tcase_add_test(a, test_chunk_error_after_block);
    tcase_add_test(a, test_not_http_same_events_any_split);
    tcase_add_test(a, test_max_header);
    tcase_add_test(a, test_request_unframeable);
    tcase_add_test(a, test_queue_bound);
    tcase_add_test(a, test_request_head_bound);
    tcase_add_test(a, test_held_total_bound);
    suite_add_tcase(s, a);

    TCase *q = tcase_create("request side");
    tcase_add_checked_fixture(q, load_policy, free_policy);
    tcase_set_timeout(q, 60);
    tcase_add_test(q, test_expect_continue_body_after_100);
    tcase_add_test(q, test_upgrade_declined);
    tcase_add_test(q, test_tunnel_client_bytes_not_parsed);
    tcase_add_test(q, test_is_passthrough);
    suite_add_tcase(s, q);

#if HS_TEST_OOM
    TCase *m = tcase_create("memory");
    tcase_add_checked_fixture(m, load_policy, free_policy);
    tcase_set_timeout(m, 120);
    tcase_add_test(m, test_out_of_memory);
    suite_add_tcase(s, m);
#endif

    TCase *r = tcase_create("write contract");
    tcase_add_checked_fixture(r, load_policy, free_policy);
    tcase_set_timeout(r, 60);
    tcase_add_test(r, test_rule4_short_inside_block);
    tcase_add_test(r, test_rule4_short_in_body);
    tcase_add_test(r, test_rule4_nothing_left_to_acknowledge);
    tcase_add_test(r, test_rule4_resubmitted_tail_differs);
    tcase_add_test(r, test_rule5_blocking_loops);
    tcase_add_test(r, test_rule5_blocking_after_held_released);
    tcase_add_test(r, test_flush_held);
    tcase_add_test(r, test_flush_pending_waits);
    tcase_add_test(r, test_flush_gives_up);
    suite_add_tcase(s, r);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(framing_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
