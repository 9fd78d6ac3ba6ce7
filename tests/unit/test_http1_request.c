/*
 * test_http1_request.c - request heads and their body framing: exact head
 * lengths, bodies holding request lines, pipelining, the HTTP/2 preface,
 * the 16 KiB bound and the RFC 9112 6.1/6.3 framing rules.
 */
#include "headershim.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static hs_request_head req;

#define LIT(s) (s), (sizeof(s) - 1)

static bool str_is(hs_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

START_TEST(simple_get)
{
    static const char s[] = "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\n"
                            "Accept:  */* \r\n\r\n";
    ck_assert_int_eq(hs_request_parse(LIT(s), &req), HS_REQUEST_OK);
    ck_assert_uint_eq(req.len, sizeof s - 1);
    ck_assert(str_is(req.method, "GET"));
    ck_assert(str_is(req.target, "/index.html?x=1"));
    ck_assert_int_eq(req.minor, 1);
    ck_assert_uint_eq(req.nfields, 2);
    ck_assert(str_is(req.fields[0].name, "Host"));
    ck_assert(str_is(req.fields[0].value, "example.com"));
    ck_assert_uint_eq(req.fields[0].line_off, 30);
    ck_assert_uint_eq(req.fields[0].line_len, 19);
    ck_assert(str_is(req.fields[1].value, "*/*"));
    hs_request_body b;
    ck_assert(hs_request_body_framing(&req, &b));
    ck_assert_int_eq(b.kind, HS_REQ_BODY_NONE);
}
END_TEST

START_TEST(lf_and_mixed_endings)
{
    ck_assert_int_eq(hs_request_parse(LIT("GET / HTTP/1.0\nHost: a\n\n"), &req),
                     HS_REQUEST_OK);
    ck_assert_uint_eq(req.len, 24);
    ck_assert_int_eq(req.minor, 0);
    ck_assert_int_eq(hs_request_parse(LIT("GET / HTTP/1.1\r\nHost: a\n\r\nX"), &req),
                     HS_REQUEST_OK);
    ck_assert_uint_eq(req.len, 26);
    ck_assert(str_is(req.fields[0].value, "a"));
}
END_TEST

START_TEST(leading_empty_lines)
{
    static const char s[] = "\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    ck_assert_int_eq(hs_request_parse(LIT(s), &req), HS_REQUEST_OK);
    ck_assert_uint_eq(req.len, sizeof s - 1);
    ck_assert(str_is(req.method, "GET"));
    ck_assert_ptr_eq(req.method.p, s + 5);
    ck_assert_uint_eq(req.fields[0].line_off, 5 + 16);
    ck_assert_int_eq(hs_request_parse(LIT("\r\n"), &req), HS_REQUEST_INCOMPLETE);
    ck_assert_int_eq(hs_request_parse(LIT("\r"), &req), HS_REQUEST_INCOMPLETE);
    ck_assert_int_eq(hs_request_parse(LIT("\rX"), &req), HS_REQUEST_INVALID);
}
END_TEST

/* A POST whose body holds a request line, then a pipelined GET: framing by
 * Content-Length finds the GET and not the line inside the body. */
START_TEST(body_with_request_line_then_pipelined)
{
    static const char s[] =
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 26\r\n\r\n"
        "GET /evil HTTP/1.1\r\n\r\nxxxx"
        "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    ck_assert_int_eq(hs_request_parse(LIT(s), &req), HS_REQUEST_OK);
    ck_assert(str_is(req.method, "POST"));
    ck_assert_uint_eq(req.len, 54);
    hs_request_body b;
    ck_assert(hs_request_body_framing(&req, &b));
    ck_assert_int_eq(b.kind, HS_REQ_BODY_LENGTH);
    ck_assert_uint_eq(b.length, 26);
    size_t next = req.len + (size_t)b.length;
    ck_assert_int_eq(hs_request_parse(s + next, sizeof s - 1 - next, &req),
                     HS_REQUEST_OK);
    ck_assert(str_is(req.target, "/next"));
    ck_assert_uint_eq(next + req.len, sizeof s - 1);
}
END_TEST

START_TEST(chunked_request_body)
{
    static const char s[] =
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "14\r\nGET / HTTP/1.1\r\n\r\n\r\n\r\n0\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
    ck_assert_int_eq(hs_request_parse(LIT(s), &req), HS_REQUEST_OK);
    hs_request_body b;
    ck_assert(hs_request_body_framing(&req, &b));
    ck_assert_int_eq(b.kind, HS_REQ_BODY_CHUNKED);
    hs_chunked c;
    hs_chunked_init(&c);
    size_t used = hs_chunked_feed(&c, s + req.len, sizeof s - 1 - req.len);
    ck_assert(c.done);
    size_t next = req.len + used;
    ck_assert_int_eq(hs_request_parse(s + next, sizeof s - 1 - next, &req),
                     HS_REQUEST_OK);
    ck_assert(str_is(req.target, "/2"));
}
END_TEST

START_TEST(every_prefix_incomplete)
{
    static const char s[] = "\r\nOPTIONS * HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n";
    for (size_t n = 0; n < sizeof s - 1; n++)
        ck_assert_msg(hs_request_parse(s, n, &req) == HS_REQUEST_INCOMPLETE,
                      "prefix %zu", n);
    ck_assert_int_eq(hs_request_parse(LIT(s), &req), HS_REQUEST_OK);
    ck_assert(str_is(req.target, "*"));
}
END_TEST

START_TEST(http2_preface)
{
    ck_assert_int_eq(hs_request_parse(NULL, 0, &req), HS_REQUEST_INCOMPLETE);
    static const char p[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    for (size_t n = 0; n < 14; n++)
        ck_assert_int_eq(hs_request_parse(p, n, &req), HS_REQUEST_INCOMPLETE);
    for (size_t n = 14; n <= sizeof p - 1; n++)
        ck_assert_int_eq(hs_request_parse(p, n, &req), HS_REQUEST_HTTP2);
    /* PRI with another target is a method like any other */
    ck_assert_int_eq(hs_request_parse(LIT("PRI /x HTTP/1.1\r\n\r\n"), &req),
                     HS_REQUEST_OK);
}
END_TEST

START_TEST(invalid_heads)
{
    static const char *const cases[] = {
        "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET / HTTP/1.1 \r\n\r\n",
        "GET /\r\n\r\n",
        "GET / HTTP/1.x\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
        " GET / HTTP/1.1\r\n\r\n",
        "GET /a\x01 HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
        "GET / HTTP/1.1\r\n: b\r\n\r\n",
        /* no field line, and a framing field's name at its start: some
         * server may read it as that field */
        "POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\n",
        "POST / HTTP/1.1\r\ncontent-length\t: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nUpgrade\r\n\r\n",
        "GET / HTTP/1.1\r\nNoColon\rx\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
        "GET / http/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        ck_assert_msg(hs_request_parse(cases[i], strlen(cases[i]), &req) ==
                          HS_REQUEST_INVALID,
                      "case %zu", i);
    ck_assert_int_eq(hs_request_parse(LIT("GET / HTTP/1.1\r\nA: b\0\r\n\r\n"), &req),
                     HS_REQUEST_INVALID);
}
END_TEST

/* A line that is no field line and names no framing field is passed over
 * (it cannot frame the body for any server: nginx ignores it by default,
 * others answer 400), as the quick scan passes it: it is no field. */
START_TEST(lines_passed_over)
{
    static const char h[] = "GET / HTTP/1.1\r\nA : b\r\nNoColon\r\nFoo Bar: 1\r\n"
                            "Host: x\r\nContent-Lengthy : 3\r\n\r\n";
    ck_assert_int_eq(hs_request_parse(h, sizeof h - 1, &req), HS_REQUEST_OK);
    ck_assert_uint_eq(req.len, sizeof h - 1);
    ck_assert_uint_eq(req.nfields, 1);
    ck_assert(req.fields[0].name.len == 4 && memcmp(req.fields[0].name.p, "Host", 4) == 0);
    hs_request_body b;
    ck_assert(hs_request_body_framing(&req, &b));
    ck_assert_int_eq(b.kind, HS_REQ_BODY_NONE);
}
END_TEST

/* Non-HTTP is refused from its first bytes, without waiting for 16 KiB. */
START_TEST(invalid_early)
{
    ck_assert_int_eq(hs_request_parse(LIT("\x16\x03\x01\x02\x00"), &req),
                     HS_REQUEST_INVALID);
    ck_assert_int_eq(hs_request_parse(LIT("GET /a b"), &req), HS_REQUEST_INVALID);
    ck_assert_int_eq(hs_request_parse(LIT("GET / HTTP/1.1 x"), &req),
                     HS_REQUEST_INVALID);
    ck_assert_int_eq(hs_request_parse(LIT("GET / HTTP/2.0\r\n"), &req),
                     HS_REQUEST_INVALID);
    ck_assert_int_eq(hs_request_parse(LIT("GET / HTTP/1."), &req),
                     HS_REQUEST_INCOMPLETE);
    ck_assert_int_eq(hs_request_parse(LIT("GET / HTTP/1.1\r\nHost"), &req),
                     HS_REQUEST_INCOMPLETE);
}
END_TEST

START_TEST(size_bound)
{
    size_t cap = HS_MAX_REQUEST_HEAD + 64;
    char *s = malloc(cap);
    /* a head of exactly HS_MAX_REQUEST_HEAD bytes is fine */
    size_t n = (size_t)sprintf(s, "GET / HTTP/1.1\r\nX: ");
    while (n < HS_MAX_REQUEST_HEAD - 4)
        s[n++] = 'a';
    memcpy(s + n, "\r\n\r\n", 4);
    n += 4;
    ck_assert_int_eq(hs_request_parse(s, n, &req), HS_REQUEST_OK);
    ck_assert_uint_eq(req.len, HS_MAX_REQUEST_HEAD);
    /* one byte more is not, complete or not */
    memmove(s + 20, s + 19, n - 19);
    n++;
    ck_assert_int_eq(hs_request_parse(s, n, &req), HS_REQUEST_INVALID);
    ck_assert_int_eq(hs_request_parse(s, HS_MAX_REQUEST_HEAD, &req),
                     HS_REQUEST_INVALID);
    ck_assert_int_eq(hs_request_parse(s, HS_MAX_REQUEST_HEAD - 1, &req),
                     HS_REQUEST_INCOMPLETE);
    free(s);
}
END_TEST

START_TEST(field_limit)
{
    char *s = malloc(64 + (HS_MAX_FIELDS + 1) * 16);
    size_t n = (size_t)sprintf(s, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < HS_MAX_FIELDS; i++)
        n += (size_t)sprintf(s + n, "X%d: v\r\n", i);
    memcpy(s + n, "\r\n", 2);
    ck_assert_int_eq(hs_request_parse(s, n + 2, &req), HS_REQUEST_OK);
    ck_assert_uint_eq(req.nfields, HS_MAX_FIELDS);
    n += (size_t)sprintf(s + n, "Y: v\r\n\r\n");
    ck_assert_int_eq(hs_request_parse(s, n, &req), HS_REQUEST_INVALID);
    free(s);
}
END_TEST

static const struct {
    const char *head;
    bool ok;
    int kind;
    uint64_t length;
} bodies[] = {
    {"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", true, HS_REQ_BODY_LENGTH, 5},
    {"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", true, HS_REQ_BODY_LENGTH, 5},
    {"POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", true,
     HS_REQ_BODY_LENGTH, 5},
    {"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", true, HS_REQ_BODY_LENGTH, 0},
    {"POST / HTTP/1.0\r\nContent-Length: 7\r\n\r\n", true, HS_REQ_BODY_LENGTH, 7},
    {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", false, 0, 0},
    {"POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", false, 0, 0},
    {"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", false, 0, 0},
    {"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", false, 0, 0},
    {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", false, 0, 0},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", true,
     HS_REQ_BODY_CHUNKED, 0},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", true,
     HS_REQ_BODY_CHUNKED, 0},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
     true, HS_REQ_BODY_CHUNKED, 0},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", false, 0, 0},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", false, 0, 0},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
     false, 0, 0},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", false, 0, 0},
    {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true, HS_REQ_BODY_NONE, 0},
};

START_TEST(body_framing)
{
    const char *h = bodies[_i].head;
    ck_assert_int_eq(hs_request_parse(h, strlen(h), &req), HS_REQUEST_OK);
    hs_request_body b;
    bool ok = hs_request_body_framing(&req, &b);
    ck_assert_msg(ok == bodies[_i].ok, "case %d", _i);
    if (ok) {
        ck_assert_int_eq(b.kind, bodies[_i].kind);
        ck_assert_uint_eq(b.length, bodies[_i].length);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http1_request");
    TCase *t = tcase_create("core");
    tcase_add_test(t, simple_get);
    tcase_add_test(t, lf_and_mixed_endings);
    tcase_add_test(t, leading_empty_lines);
    tcase_add_test(t, body_with_request_line_then_pipelined);
    tcase_add_test(t, chunked_request_body);
    tcase_add_test(t, every_prefix_incomplete);
    tcase_add_test(t, http2_preface);
    tcase_add_test(t, invalid_heads);
    tcase_add_test(t, invalid_early);
    tcase_add_test(t, lines_passed_over);
    tcase_add_test(t, size_bound);
    tcase_add_test(t, field_limit);
    tcase_add_loop_test(t, body_framing, 0, (int)(sizeof bodies / sizeof *bodies));
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
