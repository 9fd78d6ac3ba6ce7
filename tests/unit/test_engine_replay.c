/*
 * test_engine_replay.c - the call sequences real servers make, from
 * ../shared/reference/servers-io.md, replayed against the scripted kernel:
 * exact return values, exact wire bytes (from the corpus expectation, not
 * from the engine), body bytes sent from the application's own buffers
 * (rule 8), sendfile/splice bodies counted and never read.
 */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "kernel_script.h"
#include "stream_corpus.h"

#define CRLF "\r\n"

static hs_policy *policy;
static hs_engine_config cfg;

static void setup(void)
{
    policy = sc_policy(sc_policy_small);
    memset(&cfg, 0, sizeof cfg);
    cfg.policy = policy;
    cfg.on_event = ks_on_event;
}

static void teardown(void)
{
    hs_policy_free(policy);
}

/* One replay: a stream (the server's bytes, with block metadata), the
 * connection, the kernel, and a cursor into the stream. */
typedef struct replay {
    sc_stream s;
    hs_conn *c;
    ks_kernel ks;
    ks_events ev;
    size_t at;      /* stream bytes the application has had acknowledged */
} replay;

static void rp_open(replay *r)
{
    memset(&r->ev, 0, sizeof r->ev);
    ks_init(&r->ks);
    r->c = hs_conn_new(&cfg, -1, false, &r->ev);
    ck_assert_ptr_nonnull(r->c);
    if (r->s.req.len)
        hs_conn_read(r->c, r->s.req.p, r->s.req.len);
    r->at = 0;
}

static void rp_close(replay *r)
{
    hs_conn_free(r->c);
    ks_free(&r->ks);
    sc_free(&r->s);
}

/* A writev of iovecs given as lengths, in order, from the stream at the
 * cursor (0 is an empty iovec); returns what the engine returned and moves
 * the cursor by it. */
static ssize_t rp_writev(replay *r, int flags, int n, ...)
{
    struct iovec iov[16];
    va_list ap;
    va_start(ap, n);
    size_t off = r->at;
    for (int i = 0; i < n; i++) {
        size_t len = va_arg(ap, size_t);
        iov[i].iov_base = r->s.resp.p + off;
        iov[i].iov_len = len;
        off += len;
    }
    va_end(ap);
    ck_assert_uint_le(off, r->s.resp.len);
    ssize_t ret = hs_io_writev(r->c, &r->ks.k, iov, n, flags);
    if (ret > 0)
        r->at += (size_t)ret;
    return ret;
}

/* The wire must be exactly the corpus expectation (complete run). */
static void rp_expect_wire(replay *r)
{
    ck_assert_int_eq(hs_io_flush(r->c, &r->ks.k, 100), 0);
    hs_buf exp = {0};
    size_t nchanged;
    char why[256];
    ck_assert_msg(sc_expected(&r->s, policy, &cfg.rewrite, false, -1, &exp,
                              &nchanged, why, sizeof why), "%s", why);
    if (exp.len != r->ks.wire.len ||
        !ks_same(exp.p, r->ks.wire.p, exp.len)) {
        size_t d = 0;
        while (d < exp.len && d < r->ks.wire.len && exp.p[d] == r->ks.wire.p[d])
            d++;
        char a[300], b[300];
        ks_escape_at(exp.p, d, exp.len - d, 80, a, sizeof a);
        ks_escape_at(r->ks.wire.p, d, r->ks.wire.len - d, 80, b, sizeof b);
        ck_abort_msg("%s: wire differs at %zu (%zu vs %zu expected): "
                     "expected \"%s\", got \"%s\"", r->s.name, d,
                     r->ks.wire.len, exp.len, a, b);
    }
    ck_assert_uint_eq(ks_count(&r->ev, HS_EVENT_REWRITE), nchanged);
    hs_buf_free(&exp);
}

/* Rule 8: every wire byte in [from, to) that comes from the stream range
 * [s_from, ...) was sent from the stream buffer itself. */
static void rp_zero_copy(replay *r, size_t wire_from, size_t s_from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(r->ks.src[wire_from + i] == r->s.resp.p + s_from + i,
                      "%s: body byte %zu was copied (rule 8)", r->s.name,
                      s_from + i);
}

static void get(sc_stream *s, const char *path)
{
    char raw[96];
    snprintf(raw, sizeof raw, "GET %s HTTP/1.1" CRLF "Host: example.com" CRLF
             CRLF, path);
    sc_req(s, "GET", path, "example.com", raw);
}

/* -------------------------------------------------------------- servers */

/* lighttpd inlines small bodies: one iovec, the block ending at byte 214
 * of 691 (servers-io.md section 1). */
START_TEST(test_lighttpd_one_iovec)
{
    replay r;
    sc_init(&r.s, "lighttpd");
    get(&r.s, "/a");
    get(&r.s, "/b");
    sc_resp(&r.s, "HTTP/1.1 200 OK" CRLF "Content-Type: text/html" CRLF
                  "ETag: \"1\"" CRLF "Content-Length: 477" CRLF
                  "Server: lighttpd/1.4.69" CRLF CRLF);
    sc_body_random(&r.s, 477, 1);
    size_t first = r.s.resp.len;
    sc_resp(&r.s, "HTTP/1.1 200 OK" CRLF "Content-Length: 3" CRLF
                  "Server: lighttpd/1.4.69" CRLF CRLF);
    sc_body(&r.s, "two");
    rp_open(&r);
    ck_assert_int_eq(rp_writev(&r, 0, 1, first), first);
    size_t b0 = r.s.blocks[0].end;
    size_t wire_body = r.ks.wire.len - 477;
    rp_zero_copy(&r, wire_body, b0, 477);
    ck_assert_int_eq(rp_writev(&r, 0, 1, r.s.resp.len - first),
                     r.s.resp.len - first);
    rp_expect_wire(&r);
    rp_close(&r);
}
END_TEST

/* Node: [H | B | (empty)], then chunked with the size digits glued to the
 * block and framing in separate iovecs, then a lone terminator. */
START_TEST(test_node)
{
    replay r;
    sc_init(&r.s, "node");
    get(&r.s, "/a");
    get(&r.s, "/b");
    static const char h1[] = "HTTP/1.1 200 OK" CRLF "Content-Type: text/plain"
                             CRLF "Content-Length: 5" CRLF CRLF;
    static const char h2[] = "HTTP/1.1 200 OK" CRLF "Content-Type: text/plain"
                             CRLF "Transfer-Encoding: chunked" CRLF CRLF;
    sc_resp(&r.s, h1);
    sc_body(&r.s, "hello");
    sc_resp(&r.s, h2);
    sc_body(&r.s, "b" CRLF "hello world" CRLF "b" CRLF "hello again" CRLF
                  "0" CRLF CRLF);
    rp_open(&r);
    ck_assert_int_eq(rp_writev(&r, 0, 3, sizeof h1 - 1, (size_t)5, (size_t)0),
                     sizeof h1 - 1 + 5);
    ck_assert_int_eq(rp_writev(&r, 0, 4, sizeof h2 - 1 + 1, (size_t)2,
                               (size_t)11, (size_t)2), sizeof h2 - 1 + 16);
    ck_assert_int_eq(rp_writev(&r, 0, 5, (size_t)1, (size_t)2, (size_t)0,
                               (size_t)11, (size_t)2), 16);
    ck_assert_int_eq(rp_writev(&r, 0, 1, (size_t)5), 5);
    rp_expect_wire(&r);
    rp_close(&r);
}
END_TEST

/* BusyBox and mini_httpd CGI: the status line alone, then the rest of the
 * block and the body in one write (servers-io.md section 2). */
START_TEST(test_busybox_status_line_alone)
{
    replay r;
    sc_init(&r.s, "busybox cgi");
    get(&r.s, "/a");
    sc_resp(&r.s, "HTTP/1.1 200 OK" CRLF "Content-Type: text/plain" CRLF
                  "Server: busybox" CRLF "Connection: close" CRLF CRLF);
    sc_body(&r.s, "cgi output\n");
    rp_open(&r);
    ck_assert_int_eq(rp_writev(&r, 0, 1, (size_t)17), 17);
    ck_assert_uint_eq(r.ks.wire.len, 0); /* held (rule 3) */
    size_t rest = r.s.resp.len - 17;
    ck_assert_int_eq(rp_writev(&r, 0, 1, rest), rest);
    rp_expect_wire(&r);
    rp_close(&r);
}
END_TEST

/* Apache under backpressure: writev([H | big body]) is short (here inside
 * the rewritten block, then inside the body), and Apache resumes in the
 * middle of an iovec (servers-io.md section 5). */
START_TEST(test_apache_resumes_mid_iovec)
{
    replay r;
    sc_init(&r.s, "apache");
    get(&r.s, "/a");
    char h[160];
    size_t blen = 200000;
    snprintf(h, sizeof h, "HTTP/1.1 200 OK" CRLF "Server: Apache/2.4.71" CRLF
             "Content-Length: %zu" CRLF "Content-Type: text/html" CRLF CRLF,
             blen);
    sc_resp(&r.s, h);
    sc_body_random(&r.s, blen, 2);
    size_t hl = strlen(h);
    rp_open(&r);
    ks_step st[] = {{KS_ACCEPT, 30, 0}, {KS_ACCEPT, 49043, 0},
                    {KS_REFUSE, 0, EAGAIN}, {KS_ACCEPT, 65536, 0}};
    ks_script(&r.ks, st, 4);
    ck_assert_int_eq(rp_writev(&r, 0, 2, hl, blen), hl - 1);
    /* resumes mid-iovec: the block's last byte, then the body */
    ssize_t n = rp_writev(&r, 0, 2, (size_t)1, blen);
    ck_assert_msg(n > 1 && n < (ssize_t)blen, "retry returned %zd", n);
    size_t body_done = r.at - hl;
    ck_assert_int_eq(rp_writev(&r, 0, 1, blen - body_done), -EAGAIN);
    n = rp_writev(&r, 0, 1, blen - body_done);
    ck_assert_int_eq(n, 65536);
    body_done += 65536;
    ck_assert_int_eq(rp_writev(&r, 0, 1, blen - body_done), blen - body_done);
    size_t wire_body = r.ks.wire.len - blen;
    rp_zero_copy(&r, wire_body, hl, blen);
    rp_expect_wire(&r);
    rp_close(&r);
}
END_TEST

/* nginx with sendfile on: writev[H], then sendfile64 of the file, short
 * once, continued from the new offset; no byte of it is read (rule 8). */
START_TEST(test_nginx_writev_then_sendfile)
{
    replay r;
    sc_init(&r.s, "nginx sendfile");
    get(&r.s, "/a");
    get(&r.s, "/b");
    static const char h[] = "HTTP/1.1 200 OK" CRLF "Server: nginx/1.22.1" CRLF
                            "Content-Type: text/html" CRLF
                            "Content-Length: 477" CRLF CRLF;
    sc_resp(&r.s, h);
    size_t body_at = r.s.resp.len;
    sc_body_random(&r.s, 477, 3);
    sc_resp(&r.s, "HTTP/1.1 404 Not Found" CRLF "Server: nginx/1.22.1" CRLF
                  "Content-Length: 3" CRLF CRLF);
    sc_body(&r.s, "404");
    rp_open(&r);
    ks_add_file(&r.ks, 9, r.s.resp.p + body_at, 477, false);
    ck_assert_int_eq(rp_writev(&r, 0, 1, sizeof h - 1), sizeof h - 1);
    ks_step st[] = {{KS_ACCEPT, 100, 0}};
    ks_script(&r.ks, st, 1);
    off_t off = 0;
    ck_assert_int_eq(hs_io_sendfile(r.c, &r.ks.k, 9, &off, 477), 100);
    ck_assert_int_eq(off, 100);
    ck_assert_int_eq(hs_io_sendfile(r.c, &r.ks.k, 9, &off, 377), 377);
    ck_assert_int_eq(off, 477);
    r.at += 477;
    for (size_t i = 0; i < r.ks.ncalls; i++)
        ck_assert_msg(r.ks.calls[i].op != KS_OP_PREAD,
                      "a sendfile body was read (rule 8)");
    size_t rest = r.s.resp.len - r.at;
    ck_assert_int_eq(rp_writev(&r, 0, 1, rest), rest);
    rp_expect_wire(&r);
    rp_close(&r);
}
END_TEST

/* BusyBox: write(H), then sendfile64 with a count near 2^63 and the file
 * position (offset NULL), called until it returns 0. */
START_TEST(test_busybox_sendfile_until_zero)
{
    replay r;
    sc_init(&r.s, "busybox sendfile");
    get(&r.s, "/a");
    static const char h[] = "HTTP/1.1 200 OK" CRLF "Content-Type: text/html" CRLF
                            "Content-Length: 477" CRLF "Connection: close" CRLF
                            CRLF;
    sc_resp(&r.s, h);
    size_t body_at = r.s.resp.len;
    sc_body_random(&r.s, 477, 4);
    rp_open(&r);
    ks_add_file(&r.ks, 5, r.s.resp.p + body_at, 477, false);
    ck_assert_int_eq(rp_writev(&r, 0, 1, sizeof h - 1), sizeof h - 1);
    size_t huge = (size_t)1 << 62;
    ck_assert_int_eq(hs_io_sendfile(r.c, &r.ks.k, 5, NULL, huge), 477);
    ck_assert_uint_eq(ks_file_of(&r.ks, 5)->pos, 477);
    ck_assert_int_eq(hs_io_sendfile(r.c, &r.ks.k, 5, NULL, huge), 0);
    rp_expect_wire(&r);
    rp_close(&r);
}
END_TEST

/* Python's sendall on a blocking socket: send(H) short, send(rest), then
 * the body; the kernel is short inside the rewritten block. */
START_TEST(test_python_send_loop)
{
    replay r;
    sc_init(&r.s, "python");
    get(&r.s, "/a");
    static const char h[] = "HTTP/1.0 200 OK" CRLF "Server: SimpleHTTP/0.6 "
                            "Python/3.11.2" CRLF "Content-type: text/html" CRLF
                            "Content-Length: 4" CRLF CRLF;
    sc_resp(&r.s, h);
    sc_body(&r.s, "body");
    rp_open(&r);
    r.ks.blocking = true;
    ks_step st[] = {{KS_ACCEPT, 20, 0}, {KS_ACCEPT, 20, 0}, {KS_ACCEPT, 2, 0}};
    ks_script(&r.ks, st, 3);
    size_t left = sizeof h - 1;
    while (left) { /* sendall */
        ssize_t n = rp_writev(&r, 0, 1, left);
        ck_assert_msg(n > 0 && (size_t)n <= left,
                      "blocking send of %zu returned %zd", left, n);
        left -= (size_t)n;
    }
    left = 4;
    while (left) {
        ssize_t n = rp_writev(&r, 0, 1, left);
        ck_assert_msg(n > 0 && (size_t)n <= left,
                      "blocking send of %zu returned %zd", left, n);
        left -= (size_t)n;
    }
    rp_expect_wire(&r);
    rp_close(&r);
}
END_TEST

/* PHP -S ends static bodies with a zero-length send. */
START_TEST(test_php_zero_length_send)
{
    replay r;
    sc_init(&r.s, "php");
    get(&r.s, "/a");
    static const char h[] = "HTTP/1.1 200 OK" CRLF "Host: example.com" CRLF
                            "Connection: close" CRLF "X-Powered-By: PHP/8.2"
                            CRLF "Content-Length: 3" CRLF CRLF;
    sc_resp(&r.s, h);
    sc_body(&r.s, "php");
    rp_open(&r);
    ck_assert_int_eq(rp_writev(&r, 0, 1, sizeof h - 1), sizeof h - 1);
    ck_assert_int_eq(rp_writev(&r, 0, 1, (size_t)3), 3);
    ck_assert_int_eq(rp_writev(&r, 0, 1, (size_t)0), 0);
    ck_assert_int_eq(rp_writev(&r, 0, 0), 0);
    rp_expect_wire(&r);
    rp_close(&r);
}
END_TEST

/* More iovecs than IOV_MAX once the engine adds its own: the shim makes
 * several real calls, none over iov_max. */
START_TEST(test_iov_max)
{
    replay r;
    sc_init(&r.s, "iov_max");
    get(&r.s, "/a");
    static const char h[] = "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
                            "Content-Length: 16" CRLF CRLF;
    sc_resp(&r.s, h);
    sc_body(&r.s, "0123456789abcdef");
    rp_open(&r);
    r.ks.k.iov_max = 4;
    /* the block split over 2 iovecs, then 2 body iovecs: 4 from the
     * application, more with the engine's */
    ck_assert_int_eq(rp_writev(&r, 0, 4, (size_t)10, sizeof h - 1 - 10,
                               (size_t)8, (size_t)8), sizeof h - 1 + 16);
    ck_assert(!r.ks.bad_iovcnt);
    rp_expect_wire(&r);
    rp_close(&r);
}
END_TEST

/* The body by splice from a pipe, after the block by write. */
START_TEST(test_splice_body)
{
    replay r;
    sc_init(&r.s, "splice");
    get(&r.s, "/a");
    static const char h[] = "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
                            "Content-Length: 10" CRLF CRLF;
    sc_resp(&r.s, h);
    sc_body(&r.s, "0123456789");
    rp_open(&r);
    ks_add_file(&r.ks, 7, "0123456789", 10, true);
    ck_assert_int_eq(rp_writev(&r, 0, 1, sizeof h - 1), sizeof h - 1);
    ks_step st[] = {{KS_ACCEPT, 4, 0}};
    ks_script(&r.ks, st, 1);
    ck_assert_int_eq(hs_io_splice(r.c, &r.ks.k, 7, NULL, 10, 0), 4);
    ck_assert_int_eq(hs_io_splice(r.c, &r.ks.k, 7, NULL, 6, 0), 6);
    rp_expect_wire(&r);
    rp_close(&r);
}
END_TEST

/* A pre-rendered response in a file, sent by sendfile while the engine
 * expects a header: the block is read with pread and rewritten; the
 * application's offset moves by what it is told was sent. _i: bit 0 the
 * application passes an offset (else the file position), bit 1 the kernel
 * is short inside the rewritten block (rule 4 through sendfile: the retry
 * starts at the block's last byte, in the file). */
START_TEST(test_sendfile_carries_header)
{
    static const char *names[] = {
        "sendfile pre-rendered, file position",
        "sendfile pre-rendered, offset",
        "sendfile pre-rendered, file position, kernel short in the block",
        "sendfile pre-rendered, offset, kernel short in the block"};
    int with_off = _i & 1, shortk = _i >> 1;
    {
        replay r;
        sc_init(&r.s, names[_i]);
        get(&r.s, "/a");
        sc_resp(&r.s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
                      "Content-Length: 5" CRLF CRLF);
        sc_body(&r.s, "hello");
        rp_open(&r);
        size_t len = r.s.resp.len;
        ks_add_file(&r.ks, 3, r.s.resp.p, len, false);
        if (shortk) {
            ks_step st[] = {{KS_ACCEPT, 12, 0}, {KS_REFUSE, 0, EAGAIN}};
            ks_script(&r.ks, st, 2);
        }
        off_t off = 0;
        size_t done = 0;
        for (int guard = 0; done < len && guard < 100; guard++) {
            ssize_t n = hs_io_sendfile(r.c, &r.ks.k, 3,
                                       with_off ? &off : NULL, len - done);
            if (n == -EAGAIN)
                continue;
            ck_assert_msg(n > 0, "sendfile returned %zd at %zu", n, done);
            done += (size_t)n;
            if (with_off)
                ck_assert_int_eq(off, (off_t)done);
            else
                ck_assert_uint_eq(ks_file_of(&r.ks, 3)->pos, done);
        }
        ck_assert_uint_eq(done, len);
        r.at = len;
        rp_expect_wire(&r);
        rp_close(&r);
    }
}
END_TEST

/* ------------------------------------------------------ request streams */

/* Bodies that contain request lines, pipelined: the responses pair with the
 * real requests (X-Path from the path conditions proves it). */
START_TEST(test_request_bodies_pipelined)
{
    for (size_t i = 0; i < sc_corpus_count(); i++) {
        sc_stream s;
        sc_corpus_build(i, &s);
        if (strcmp(s.name, "request-bodies") != 0) {
            sc_free(&s);
            continue;
        }
        for (size_t piece = 0; piece <= 7; piece += 7) {
            replay r;
            r.s = s;
            rp_open(&r);
            /* the requests again, in 7-byte reads */
            if (piece) {
                hs_conn_free(r.c);
                memset(&r.ev, 0, sizeof r.ev);
                r.c = hs_conn_new(&cfg, -1, false, &r.ev);
                for (size_t p = 0; p < s.req.len; p += piece)
                    hs_conn_read(r.c, s.req.p + p,
                                 s.req.len - p < piece ? s.req.len - p : piece);
            }
            ck_assert_int_eq(rp_writev(&r, 0, 1, s.resp.len), s.resp.len);
            rp_expect_wire(&r);
            ck_assert_uint_eq(ks_count(&r.ev, HS_EVENT_REWRITE), 3);
            static const char *want[] = {"/p", "/a", "/b"};
            for (size_t e = 0; e < 3; e++)
                ck_assert_msg(r.ev.had_request[e] &&
                              strcmp(r.ev.path[e], want[e]) == 0,
                              "response %zu answers '%s', expected '%s'", e,
                              r.ev.path[e], want[e]);
            hs_conn_free(r.c);
            ks_free(&r.ks);
        }
        sc_free(&s);
    }
}
END_TEST

/* The connection's port and TLS reach the policy (`when tls`, `when port`):
 * the api preset adds HSTS only under TLS (PRESETS.md). */
START_TEST(test_port_and_tls_reach_policy)
{
    hs_policy *api = sc_policy("api");
    hs_policy *ports = sc_policy("when port 8080 {\n    set X-Port 8080\n}\n"
                                 "when tls {\n    set X-Tls 1\n}\n");
    const hs_policy *pols[2] = {api, ports};
    for (int pi = 0; pi < 2; pi++)
        for (int tls = 0; tls < 2; tls++)
            for (int port = 8079; port <= 8080; port++) {
                hs_engine_config c2;
                memset(&c2, 0, sizeof c2);
                c2.policy = pols[pi];
                c2.on_event = ks_on_event;
                sc_stream s;
                sc_init(&s, "port/tls");
                get(&s, "/a");
                sc_resp(&s, "HTTP/1.1 200 OK" CRLF
                            "Content-Type: application/json" CRLF
                            "Content-Length: 2" CRLF CRLF);
                sc_body(&s, "{}");
                hs_buf exp = {0};
                size_t nchanged;
                char why[200];
                ck_assert(sc_expected(&s, pols[pi], &c2.rewrite, tls, port,
                                      &exp, &nchanged, why, sizeof why));
                ks_kernel ks;
                ks_init(&ks);
                ks_events ev;
                memset(&ev, 0, sizeof ev);
                hs_conn *c = hs_conn_new(&c2, port, tls, &ev);
                hs_conn_read(c, s.req.p, s.req.len);
                struct iovec v = {s.resp.p, s.resp.len};
                ck_assert_int_eq(hs_io_writev(c, &ks.k, &v, 1, 0), s.resp.len);
                ck_assert_int_eq(hs_io_flush(c, &ks.k, 100), 0);
                char a[600], b[600];
                ks_escape(exp.p, exp.len, 500, a, sizeof a);
                ks_escape(ks.wire.p, ks.wire.len, 500, b, sizeof b);
                ck_assert_msg(ks.wire.len == exp.len &&
                              ks_same(ks.wire.p, exp.p, exp.len),
                              "policy %d tls %d port %d: expected \"%s\", "
                              "got \"%s\"", pi, tls, port, a, b);
                bool marker = pi == 0 ? strstr(a, "Strict-Transport") != NULL
                                      : strstr(a, "X-Port") != NULL;
                ck_assert(marker == (pi == 0 ? tls : port == 8080));
                hs_conn_free(c);
                ks_free(&ks);
                hs_buf_free(&exp);
                sc_free(&s);
            }
    hs_policy_free(api);
    hs_policy_free(ports);
}
END_TEST

/* ------------------------------------------------------------ not HTTP */

static void opaque(const char *name, const char *req, size_t req_len,
                   const char *data, size_t n)
{
    for (int how = 0; how < 3; how++) {
        ks_kernel ks;
        ks_init(&ks);
        ks_events ev;
        memset(&ev, 0, sizeof ev);
        hs_conn *c = hs_conn_new(&cfg, -1, false, &ev);
        if (req_len)
            hs_conn_read(c, req, req_len);
        uint64_t rng = 77;
        size_t p = 0;
        while (p < n) {
            size_t k = how == 0 ? n - p : how == 1 ? 1 : 1 + ks_below(&rng, 40);
            if (k > n - p)
                k = n - p;
            struct iovec iov = {(void *)(data + p), k};
            ssize_t r = hs_io_writev(c, &ks.k, &iov, 1, 0);
            ck_assert_msg(r == (ssize_t)k, "%s: returned %zd of %zu", name, r,
                          k);
            p += k;
        }
        ck_assert_int_eq(hs_io_flush(c, &ks.k, 100), 0);
        ck_assert_msg(ks.wire.len == n && ks_same(ks.wire.p, data, n),
                      "%s (split %d): not byte-identical", name, how);
        ck_assert_msg(ks_count(&ev, HS_EVENT_REWRITE) == 0, "%s rewritten",
                      name);
        /* Not HTTP from the start is no desync: nothing is shut down. */
        ck_assert_msg(ks_count(&ev, HS_EVENT_DESYNC) == 0, "%s desynced",
                      name);
        hs_conn_free(c);
        ks_free(&ks);
    }
}

START_TEST(test_non_http_identical)
{
    /* TLS: a ServerHello record then application data (0x16 0x03 ...) */
    unsigned char tls[300];
    uint64_t rng = 5;
    for (size_t i = 0; i < sizeof tls; i++)
        tls[i] = (unsigned char)ks_rand(&rng);
    memcpy(tls, "\x16\x03\x03\x00\x40", 5);
    memcpy(tls + 69, "\x17\x03\x03\x00\x20", 5);
    opaque("TLS records", "\x16\x03\x01\x00\x10", 5, (char *)tls, sizeof tls);
    /* A ClientHello and more than 16 KiB of records read before the
     * server writes (early data): the read side must see at once that
     * this is no request, or it keeps it up to the 16 KiB bound and then
     * desyncs the connection. */
    static char hello[20000];
    for (size_t i = 0; i < sizeof hello; i++)
        hello[i] = (char)ks_rand(&rng);
    memcpy(hello, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
    opaque("TLS ClientHello read", hello, sizeof hello, (char *)tls,
           sizeof tls);

    /* HTTP/2: the client preface, then frames, then bytes that look like
     * HTTP/1 (which must stay untouched on an HTTP/2 connection) */
    static const char h2[] = "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
                             "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n";
    opaque("HTTP/2", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24, h2,
           sizeof h2 - 1);

    /* arbitrary binary, no request seen */
    char bin[1000];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (char)ks_rand(&rng);
    opaque("binary", NULL, 0, bin, sizeof bin);

    /* almost a status line */
    static const char almost[] = "HTTP/1.x 200 OK\r\nServer: x\r\n\r\n";
    opaque("HTTP/1.x", NULL, 0, almost, sizeof almost - 1);
    static const char h2status[] = "HTTP/2 200\r\nServer: x\r\n\r\n";
    opaque("HTTP/2 status", NULL, 0, h2status, sizeof h2status - 1);
}
END_TEST

static Suite *replay_suite(void)
{
    Suite *s = suite_create("engine_replay");
    TCase *t = tcase_create("servers");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_lighttpd_one_iovec);
    tcase_add_test(t, test_node);
    tcase_add_test(t, test_busybox_status_line_alone);
    tcase_add_test(t, test_apache_resumes_mid_iovec);
    tcase_add_test(t, test_nginx_writev_then_sendfile);
    tcase_add_test(t, test_busybox_sendfile_until_zero);
    tcase_add_test(t, test_python_send_loop);
    tcase_add_test(t, test_php_zero_length_send);
    tcase_add_test(t, test_iov_max);
    tcase_add_test(t, test_splice_body);
    tcase_add_loop_test(t, test_sendfile_carries_header, 0, 4);
    tcase_add_test(t, test_request_bodies_pipelined);
    tcase_add_test(t, test_port_and_tls_reach_policy);
    tcase_add_test(t, test_non_http_identical);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(replay_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
