/*
 * test_request_framing.c - the request side's quick scan against its
 * reference (request_quick_check.h): real requests it must take, heads it
 * must leave to hs_request_parse, every one-byte mutation of a few real
 * heads, and the engine framing the same request streams both ways
 * (quick: the policy reads no request subject and events carry none;
 * careful: events carry the request).
 */
#include "request_quick_check.h"
#include "kernel_script.h"
#include "stream_corpus.h"

#include <check.h>
#include <stdio.h>

#define LIT(s) (s), (sizeof(s) - 1)

static const char wrk[] = "GET /api.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

static const char browser[] =
    "GET /api.json HTTP/1.1\r\n"
    "Host: app.example.com\r\n"
    "Connection: keep-alive\r\n"
    "Cache-Control: max-age=0\r\n"
    "sec-ch-ua: \"Chromium\";v=\"156\", \"Not.A/Brand\";v=\"99\"\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;"
    "q=0.8\r\n"
    "Sec-Fetch-Site: none\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Sec-Fetch-User: ?1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Cookie: session=eyJ1aWQiOjQyfQ.k2L4m6N8o0P2; csrf=Zx81QwErTy7u\r\n"
    "\r\n";

static const char post[] =
    "POST /upload HTTP/1.1\r\nHost: a\r\ncontent-length:  26 \r\n"
    "Content-Type: text/plain\r\n\r\n"
    "GET /evil HTTP/1.1\r\n\r\nxxxx";

/* Heads the quick scan takes, with what it must say (len 0: all of it). */
static const struct {
    const char *head;
    size_t len;
    hs_method_kind kind;
    int body;
    uint64_t length;
} takes[] = {
    {wrk, 0, HS_METHOD_OTHER, HS_REQ_BODY_NONE, 0},
    {browser, 0, HS_METHOD_OTHER, HS_REQ_BODY_NONE, 0},
    {post, 82, HS_METHOD_OTHER, HS_REQ_BODY_LENGTH, 26},
    {"HEAD / HTTP/1.0\r\nHost: a\r\n\r\n", 0, HS_METHOD_HEAD,
     HS_REQ_BODY_NONE, 0},
    {"GET / HTTP/1.1\nHost: a\n\nGET", 24, HS_METHOD_OTHER, HS_REQ_BODY_NONE,
     0},
    {"GET / HTTP/1.1\r\nHost: a\n\r\nX", 26, HS_METHOD_OTHER,
     HS_REQ_BODY_NONE, 0},
    {"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0, HS_METHOD_OTHER,
     HS_REQ_BODY_NONE, 0},
    {"PUT /x HTTP/1.1\r\nContent-Length: 5\r\nCONTENT-LENGTH: 5\r\n\r\n", 0,
     HS_METHOD_OTHER, HS_REQ_BODY_LENGTH, 5},
    {"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 0, HS_METHOD_OTHER,
     HS_REQ_BODY_LENGTH, 0},
    {"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 0, HS_METHOD_OTHER,
     HS_REQ_BODY_NONE, 0},
    {"GET http://a.example/x?y HTTP/1.1\r\nContent-Lengthy: 5\r\n"
     "Transfer-Encodings: x\r\nUpgraded: 1\r\nTE: trailers\r\n\r\n",
     0, HS_METHOD_OTHER, HS_REQ_BODY_NONE, 0},
    /* the leniency: no valid field line, but no framing name either */
    {"GET / HTTP/1.1\r\nFoo Bar: 1\r\nNoColon\r\nContent-Length: 3\r\n\r\n",
     0, HS_METHOD_OTHER, HS_REQ_BODY_LENGTH, 3},
};

START_TEST(quick_takes)
{
    const char *h = takes[_i].head;
    hs_request_quick q;
    ck_assert_msg(hs_request_quick_scan(h, strlen(h), &q), "case %d", _i);
    ck_assert_uint_eq(q.len, takes[_i].len ? takes[_i].len : strlen(h));
    ck_assert_int_eq(q.kind, takes[_i].kind);
    ck_assert_int_eq(q.body.kind, takes[_i].body);
    ck_assert_uint_eq(q.body.length, takes[_i].length);
    const char *why = rq_check(h, strlen(h), NULL);
    ck_assert_msg(why == NULL, "case %d: %s", _i, why);
}
END_TEST

/* Heads left to hs_request_parse: whatever it says about them, the quick
 * scan does not decide. */
static const char *const leaves[] = {
    /* framing the careful way */
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    "POST / HTTP/1.1\r\ntransfer-encoding:chunked\r\n\r\n",
    "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
    "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
    "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
    "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
    "POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n",
    "POST / HTTP/1.1\r\nContent-Length:\t5\r\n\r\n",
    /* a framing name that some server may still read as one */
    "POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\n",
    "POST / HTTP/1.1\r\nContent-Length\t: 5\r\n\r\n",
    "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
    "POST / HTTP/1.1\r\nContent-Length\x01: 5\r\n\r\n",
    "POST / HTTP/1.1\r\nContent-Length\xff: 5\r\n\r\n",
    "GET / HTTP/1.1\r\nUpgrade\r\n\r\n",
    "GET / HTTP/1.1\r\nContent-Length\r\n\r\n",
    /* line structure */
    "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
    "GET / HTTP/1.1\r\nA: b\r\n\tContent-Length: 5\r\n\r\n",
    "GET / HTTP/1.1\r\nA: b\rContent-Length: 5\r\n\r\n",
    "GET / HTTP/1.1\r\nA: b\0\r\n\r\n",
    "GET / HTTP/1.1\r\nA: b\tc\r\n\r\n",
    "GET / HTTP/1.1\r\r\n\r\n",
    "GET / HTTP/1.1\r\n: b\r\n\r\n",
    "GET / HTTP/1.1\r\n\xc3\xa9: b\r\n\r\n",
    "GET / HTTP/1.1\r\n\r\r\n",
    /* request line */
    "GET  / HTTP/1.1\r\n\r\n",
    "GET / HTTP/2.0\r\n\r\n",
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "GET / HTTP/1.1 \r\n\r\n",
    "GET / http/1.1\r\n\r\n",
    "GET /a b HTTP/1.1\r\n\r\n",
    "GET /a\x7f HTTP/1.1\r\n\r\n",
    "G(T / HTTP/1.1\r\n\r\n",
    "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    /* incomplete, or too short to bother */
    "GET / HTTP/1.1\r\nHost: a\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\n\r",
    "GET / HTTP/1.1\n\n",
};

START_TEST(quick_leaves)
{
    hs_request_quick q;
    const char *h = leaves[_i];
    size_t n = strlen(h);
    if (_i == 20) /* the NUL case */
        n = sizeof "GET / HTTP/1.1\r\nA: b\0\r\n\r\n" - 1;
    ck_assert_msg(!hs_request_quick_scan(h, n, &q), "case %d took", _i);
}
END_TEST

/* The 16 KiB and 256-field bounds are the careful parse's to enforce. */
START_TEST(quick_bounds)
{
    size_t cap = HS_MAX_REQUEST_HEAD + 64;
    char *s = malloc(cap);
    size_t n = (size_t)sprintf(s, "GET / HTTP/1.1\r\nX: ");
    while (n < HS_MAX_REQUEST_HEAD - 4)
        s[n++] = 'a';
    memcpy(s + n, "\r\n\r\n", 4);
    n += 4;
    hs_request_quick q;
    ck_assert(hs_request_quick_scan(s, n, &q));
    ck_assert_uint_eq(q.len, HS_MAX_REQUEST_HEAD);
    memmove(s + 20, s + 19, n - 19);
    n++;
    ck_assert(!hs_request_quick_scan(s, n, &q));
    ck_assert(rq_check(s, n, NULL) == NULL);
    free(s);

    s = malloc(64 + (HS_MAX_FIELDS + 1) * 16);
    n = (size_t)sprintf(s, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < HS_MAX_FIELDS; i++)
        n += (size_t)sprintf(s + n, "X%d: v\r\n", i);
    memcpy(s + n, "\r\n", 2);
    ck_assert(hs_request_quick_scan(s, n + 2, &q));
    n += (size_t)sprintf(s + n, "Y: v\r\n\r\n");
    ck_assert(!hs_request_quick_scan(s, n, &q));
    free(s);
}
END_TEST

/* Every head cut short is incomplete, so never taken; every head with the
 * next request after it is taken with its own length. */
START_TEST(quick_prefixes)
{
    static const char *const heads[] = {wrk, browser, post};
    for (size_t h = 0; h < 3; h++) {
        hs_request_quick q;
        size_t full = strlen(heads[h]);
        ck_assert(hs_request_quick_scan(heads[h], full, &q));
        size_t len = q.len;
        for (size_t n = 0; n < len; n++)
            ck_assert_msg(!hs_request_quick_scan(heads[h], n, &q),
                          "head %zu prefix %zu", h, n);
        for (size_t n = len; n <= full; n++) {
            ck_assert(hs_request_quick_scan(heads[h], n, &q));
            ck_assert_uint_eq(q.len, len);
        }
    }
}
END_TEST

/* Heads whose line ends and framing line fall at every position of the
 * scan's 64-byte windows (they overlap by a byte) and of its last,
 * shifted window, with targets that end before, at and past the first 16
 * bytes and a method longer than 16: taken whole, with their
 * Content-Length, never taken cut short by one or two bytes. */
START_TEST(quick_positions)
{
    static const char *const methods[] = {"GET", "HEAD", "M-SEARCH-SEVENTEEN"};
    static const size_t targets[] = {1, 10, 11, 12, 15, 16, 17, 32, 33, 70};
    static const char *const eols[] = {"\r\n", "\n"};
    char s[512];
    for (size_t m = 0; m < 3; m++)
        for (size_t t = 0; t < sizeof targets / sizeof *targets; t++)
            for (size_t e = 0; e < 2; e++)
                for (int pad = 0; pad < 140; pad++) {
                    const char *nl = eols[e];
                    int n = sprintf(s, "%s /", methods[m]);
                    for (size_t i = 1; i < targets[t]; i++)
                        s[n++] = (char)('a' + i % 26);
                    n += sprintf(s + n, " HTTP/1.1%sX: ", nl);
                    memset(s + n, 'v', (size_t)pad);
                    n += pad;
                    n += sprintf(s + n, "%sContent-Length: 5%sY: z%s%s", nl,
                                 nl, nl, nl);
                    hs_request_quick q;
                    ck_assert_msg(hs_request_quick_scan(s, (size_t)n, &q),
                                  "m %zu t %zu e %zu pad %d", m, t, e, pad);
                    ck_assert_uint_eq(q.len, (size_t)n);
                    ck_assert_int_eq(q.kind, m == 1 ? HS_METHOD_HEAD
                                                    : HS_METHOD_OTHER);
                    ck_assert_int_eq(q.body.kind, HS_REQ_BODY_LENGTH);
                    ck_assert_uint_eq(q.body.length, 5);
                    ck_assert(rq_check(s, (size_t)n, NULL) == NULL);
                    for (int cut = 1; cut <= 2; cut++)
                        ck_assert(!hs_request_quick_scan(s, (size_t)(n - cut),
                                                         &q));
                }
}
END_TEST

/* Every one-byte replacement, insertion and deletion of a few real heads
 * (with bytes that matter to framing) keeps the property. */
static const unsigned char probes[] = {
    '\0', '\t', '\n', '\r', ' ', ':', ',', '-', '0', '9', 'C', 'c', 'T',
    'U', 'x', 0x0b, 0x7f, 0x80, 0xff,
};

static void mutate_all(const char *base, size_t len, size_t *taken,
                       size_t *checked)
{
    char *buf = malloc(len + 1);
    for (size_t i = 0; i <= len; i++)
        for (size_t k = 0; k <= sizeof probes; k++) {
            for (int op = 0; op < 3; op++) {
                size_t n;
                if (op == 0) { /* replace */
                    if (i == len || k == sizeof probes)
                        continue;
                    memcpy(buf, base, len);
                    buf[i] = (char)probes[k];
                    n = len;
                } else if (op == 1) { /* insert */
                    if (k == sizeof probes)
                        continue;
                    memcpy(buf, base, i);
                    buf[i] = (char)probes[k];
                    memcpy(buf + i + 1, base + i, len - i);
                    n = len + 1;
                } else { /* delete */
                    if (i == len || k != 0)
                        continue;
                    memcpy(buf, base, i);
                    memcpy(buf + i, base + i + 1, len - i - 1);
                    n = len - 1;
                }
                bool took;
                const char *why = rq_check(buf, n, &took);
                ck_assert_msg(why == NULL, "op %d at %zu byte %#x: %s", op,
                              i, k < sizeof probes ? probes[k] : 0, why);
                *taken += took;
                (*checked)++;
            }
        }
    free(buf);
}

START_TEST(quick_mutations)
{
    static const char *const heads[] = {
        wrk, browser, post,
        "HEAD /x HTTP/1.0\nContent-Length: 7\nUpgrade-Insecure-Requests: 1\n"
        "Transfer-Encodingx: y\n\n",
        "GET / HTTP/1.1\r\nFoo Bar: 1\r\nContent-Length: 3\r\nUpgrade: x\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
    };
    size_t taken = 0, checked = 0;
    for (size_t h = 0; h < sizeof heads / sizeof *heads; h++)
        mutate_all(heads[h], strlen(heads[h]), &taken, &checked);
    /* Most mutations of a plain head stay plain: the quick scan must not
     * give up on all of them. */
    ck_assert_msg(taken > checked / 4, "took %zu of %zu", taken, checked);
}
END_TEST

/* ------------------------------------------------ the engine, both ways */

static hs_policy *api;

/* Runs the request stream (in pieces of `piece` bytes, 0: one read) and
 * then the response stream through an engine, both ways, and returns
 * the wire and the events' kinds. */
static void run_engine(bool quick, const char *req, size_t req_len,
                       size_t piece, const char *resp, hs_buf *wire,
                       char *kinds, size_t kinds_cap)
{
    hs_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.policy = api;
    cfg.on_event = ks_on_event;
    cfg.event_details = !quick;
    ks_events ev;
    memset(&ev, 0, sizeof ev);
    ks_kernel ks;
    ks_init(&ks);
    hs_conn *c = hs_conn_new(&cfg, -1, false, &ev);
    ck_assert_ptr_nonnull(c);
    for (size_t p = 0; p < req_len;) {
        size_t n = piece && req_len - p > piece ? piece : req_len - p;
        hs_conn_read(c, req + p, n);
        p += n;
    }
    struct iovec v = {(void *)resp, strlen(resp)};
    ck_assert_int_eq(hs_io_writev(c, &ks.k, &v, 1, 0), (ssize_t)v.iov_len);
    wire->len = 0;
    ck_assert(hs_buf_append(wire, ks.wire.p, ks.wire.len));
    size_t w = 0;
    for (size_t i = 0; i < ev.n && w + 2 < kinds_cap; i++)
        kinds[w++] = (char)('0' + ev.kind[i]);
    kinds[w] = '\0';
    hs_conn_free(c);
    ks_free(&ks);
}

#define OK2 "HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 2\r\n\r\nok"

static const struct {
    const char *req, *resp;
} streams[] = {
    /* pipelined: GET, POST whose body holds a request line, HEAD, GET */
    {"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
     "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n"
     "HEAD /x HTTP/1.1\r\n\r\n"
     "HEAD /3 HTTP/1.1\r\nHost: a\r\n\r\n"
     "GET /4 HTTP/1.1\r\nHost: a\r\n\r\n",
     OK2 OK2 "HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 5\r\n\r\n" OK2},
    /* a chunked POST (careful either way), then a plain one */
    {"POST /1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\r\nGET /\r\n0\r\n\r\n"
     "HEAD /2 HTTP/1.1\r\n\r\n",
     OK2 "HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 5\r\n\r\n" OK2},
    /* framing that cannot be agreed on desyncs either way */
    {"POST /1 HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
     OK2 OK2},
    /* leading empty lines, LF endings */
    {"\r\n\nGET /1 HTTP/1.1\nHost: a\n\n\r\nHEAD /2 HTTP/1.0\n\n",
     OK2 "HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 5\r\n\r\n" OK2},
};

START_TEST(engine_both_ways)
{
    hs_buf wq = {0}, wc = {0};
    char kq[128], kc[128];
    const char *req = streams[_i].req;
    size_t len = strlen(req);
    for (size_t piece = 0; piece <= len; piece++) {
        run_engine(true, req, len, piece, streams[_i].resp, &wq, kq,
                   sizeof kq);
        run_engine(false, req, len, piece, streams[_i].resp, &wc, kc,
                   sizeof kc);
        ck_assert_msg(wq.len == wc.len && memcmp(wq.p, wc.p, wq.len) == 0,
                      "stream %d piece %zu: wires differ", _i, piece);
        ck_assert_msg(strcmp(kq, kc) == 0, "stream %d piece %zu: [%s] [%s]",
                      _i, piece, kq, kc);
    }
    hs_buf_free(&wq);
    hs_buf_free(&wc);
}
END_TEST

/* Mid-connection, a field line that is no valid field line and names no
 * framing field is passed over both ways (the quick scan, and the careful
 * parse when events carry the request): no desync, the pipelined HEAD
 * after it is framed, every response is rewritten. Whether the log is at
 * info level must not change what a connection does. */
START_TEST(engine_lenient_line)
{
    static const char req[] = "GET /0 HTTP/1.1\r\nHost: a\r\n\r\n"
                              "GET /1 HTTP/1.1\r\nHost: a\r\nFoo Bar: 1\r\n\r\n"
                              "HEAD /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char resp[] =
        OK2 OK2 "HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 5\r\n\r\n";
    hs_buf wq = {0}, wc = {0};
    char kq[128], kc[128];
    run_engine(true, req, sizeof req - 1, 0, resp, &wq, kq, sizeof kq);
    run_engine(false, req, sizeof req - 1, 0, resp, &wc, kc, sizeof kc);
    char desync = (char)('0' + HS_EVENT_DESYNC);
    ck_assert_msg(strchr(kq, desync) == NULL, "quick: [%s]", kq);
    ck_assert_msg(strchr(kc, desync) == NULL, "careful: [%s]", kc);
    /* Every response rewritten (Server removed), the same bytes. */
    ck_assert_ptr_null(memmem(wq.p, wq.len, "Server:", 7));
    ck_assert(wq.len == wc.len && memcmp(wq.p, wc.p, wq.len) == 0);
    hs_buf_free(&wq);
    hs_buf_free(&wc);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("request_framing");
    TCase *t = tcase_create("quick");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, quick_takes, 0,
                        (int)(sizeof takes / sizeof *takes));
    tcase_add_loop_test(t, quick_leaves, 0,
                        (int)(sizeof leaves / sizeof *leaves));
    tcase_add_test(t, quick_bounds);
    tcase_add_test(t, quick_prefixes);
    tcase_add_test(t, quick_positions);
    tcase_add_test(t, quick_mutations);
    tcase_add_loop_test(t, engine_both_ways, 0,
                        (int)(sizeof streams / sizeof *streams));
    tcase_add_test(t, engine_lenient_line);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    api = sc_policy("api");
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    hs_policy_free(api);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
