/*
 * test_http1_framing.c - every row of IO-CONTRACT.md "Framing" (RFC 9112
 * 6.3) and the close_after rule, through hs_block_parse and
 * hs_response_framing.
 */
#include "headershim.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static hs_block blk;

static hs_framing frame(const char *block, hs_method_kind m)
{
    const char *why = NULL;
    hs_block_status s = hs_block_parse(block, strlen(block), &blk, &why);
    ck_assert_msg(s == HS_BLOCK_OK, "block refused: %s", why ? why : "");
    return hs_response_framing(&blk, m);
}

static const struct row {
    const char *block;
    hs_method_kind method;
    hs_body_kind kind;
    uint64_t length;
    bool close_after;
} rows[] = {
    /* 1xx: interim, the final response follows */
    {"HTTP/1.1 100 Continue\r\n\r\n", HS_METHOD_OTHER, HS_BODY_INTERIM, 0, false},
    {"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", HS_METHOD_NONE,
     HS_BODY_INTERIM, 0, false},
    {"HTTP/1.1 102 Processing\r\nContent-Length: 5\r\n\r\n", HS_METHOD_OTHER,
     HS_BODY_INTERIM, 0, false},
    {"HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\n", HS_METHOD_HEAD,
     HS_BODY_INTERIM, 0, false},
    /* 101: the connection leaves HTTP */
    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
     "Connection: Upgrade\r\n\r\n",
     HS_METHOD_OTHER, HS_BODY_TUNNEL, 0, false},
    {"HTTP/1.1 101 Switching Protocols\r\n\r\n", HS_METHOD_CONNECT,
     HS_BODY_TUNNEL, 0, false},
    /* 2xx to CONNECT: tunnel, whatever the headers say */
    {"HTTP/1.1 200 Connection Established\r\n\r\n", HS_METHOD_CONNECT,
     HS_BODY_TUNNEL, 0, false},
    {"HTTP/1.1 204 OK\r\nContent-Length: 10\r\n\r\n", HS_METHOD_CONNECT,
     HS_BODY_TUNNEL, 0, false},
    {"HTTP/1.1 299 X\r\nTransfer-Encoding: chunked\r\n\r\n", HS_METHOD_CONNECT,
     HS_BODY_TUNNEL, 0, false},
    /* a refused CONNECT has an ordinary body */
    {"HTTP/1.1 407 Proxy Auth\r\nContent-Length: 3\r\n\r\n", HS_METHOD_CONNECT,
     HS_BODY_LENGTH, 3, false},
    {"HTTP/1.1 300 X\r\nContent-Length: 0\r\n\r\n", HS_METHOD_CONNECT,
     HS_BODY_LENGTH, 0, false},
    /* HEAD, 204, 304: none, whatever Content-Length or TE say */
    {"HTTP/1.1 200 OK\r\nContent-Length: 615\r\n\r\n", HS_METHOD_HEAD,
     HS_BODY_NONE, 0, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HS_METHOD_HEAD,
     HS_BODY_NONE, 0, false},
    {"HTTP/1.1 200 OK\r\n\r\n", HS_METHOD_HEAD, HS_BODY_NONE, 0, false},
    {"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", HS_METHOD_OTHER,
     HS_BODY_NONE, 0, false},
    {"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n", HS_METHOD_NONE,
     HS_BODY_NONE, 0, false},
    {"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n", HS_METHOD_OTHER,
     HS_BODY_NONE, 0, true},
    /* Transfer-Encoding ending in chunked */
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HS_METHOD_OTHER,
     HS_BODY_CHUNKED, 0, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n",
     HS_METHOD_NONE, HS_BODY_CHUNKED, 0, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked"
     "\r\n\r\n",
     HS_METHOD_OTHER, HS_BODY_CHUNKED, 0, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked,\r\n\r\n", HS_METHOD_OTHER,
     HS_BODY_CHUNKED, 0, false},
    /* Transfer-Encoding not ending in chunked: until close */
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
     HS_METHOD_OTHER, HS_BODY_UNTIL_CLOSE, 0, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip"
     "\r\n\r\n",
     HS_METHOD_OTHER, HS_BODY_UNTIL_CLOSE, 0, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n", HS_METHOD_OTHER,
     HS_BODY_UNTIL_CLOSE, 0, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", HS_METHOD_OTHER,
     HS_BODY_UNTIL_CLOSE, 0, false},
    /* Content-Length */
    {"HTTP/1.1 200 OK\r\nContent-Length: 615\r\n\r\n", HS_METHOD_OTHER,
     HS_BODY_LENGTH, 615, false},
    {"HTTP/1.1 200 OK\r\ncontent-length: 12, 12\r\n\r\n", HS_METHOD_NONE,
     HS_BODY_LENGTH, 12, false},
    {"HTTP/1.1 404 Not Found\nContent-Length: 0\n\n", HS_METHOD_OTHER,
     HS_BODY_LENGTH, 0, false},
    {"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n",
     HS_METHOD_OTHER, HS_BODY_LENGTH, 9223372036854775807ull, false},
    {"HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\n", HS_METHOD_CONNECT,
     HS_BODY_LENGTH, 3, false},
    /* neither: until close */
    {"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n", HS_METHOD_OTHER,
     HS_BODY_UNTIL_CLOSE, 0, false},
    {"HTTP/1.0 200 OK\r\n\r\n", HS_METHOD_NONE, HS_BODY_UNTIL_CLOSE, 0, true},
    /* close_after */
    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n",
     HS_METHOD_OTHER, HS_BODY_LENGTH, 1, true},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
     HS_METHOD_OTHER, HS_BODY_LENGTH, 1, true},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: x\r\nConnection: close"
     "\r\n\r\n",
     HS_METHOD_OTHER, HS_BODY_LENGTH, 1, true},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: closed\r\n\r\n",
     HS_METHOD_OTHER, HS_BODY_LENGTH, 1, false},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Connection: close\r\n\r\n",
     HS_METHOD_OTHER, HS_BODY_LENGTH, 1, false},
    {"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", HS_METHOD_OTHER,
     HS_BODY_LENGTH, 1, true},
    {"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n",
     HS_METHOD_OTHER, HS_BODY_LENGTH, 1, false},
    {"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: Keep-Alive, close\r\n\r\n",
     HS_METHOD_OTHER, HS_BODY_LENGTH, 1, true},
    {"HTTP/1.0 304 Not Modified\r\nConnection: keep-alive\r\n\r\n",
     HS_METHOD_OTHER, HS_BODY_NONE, 0, false},
    {"HTTP/1.0 200 OK\r\n\r\n", HS_METHOD_HEAD, HS_BODY_NONE, 0, true},
    /* HTTP/1.1 keep-alive token changes nothing */
    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n",
     HS_METHOD_OTHER, HS_BODY_LENGTH, 1, false},
};

START_TEST(framing_row)
{
    const struct row *r = &rows[_i];
    hs_framing f = frame(r->block, r->method);
    ck_assert_msg(f.kind == r->kind, "row %d: kind %d, expected %d", _i,
                  (int)f.kind, (int)r->kind);
    ck_assert_msg(f.length == r->length, "row %d: length %llu", _i,
                  (unsigned long long)f.length);
    ck_assert_msg(f.close_after == r->close_after, "row %d: close_after %d", _i,
                  (int)f.close_after);
}
END_TEST

/* HS_METHOD_NONE frames like GET for every row that does not depend on
 * HEAD or CONNECT. */
START_TEST(none_frames_like_get)
{
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        hs_framing a = frame(rows[i].block, HS_METHOD_NONE);
        hs_framing b = frame(rows[i].block, HS_METHOD_OTHER);
        ck_assert_int_eq(a.kind, b.kind);
        ck_assert_uint_eq(a.length, b.length);
        ck_assert_int_eq(a.close_after, b.close_after);
    }
}
END_TEST

START_TEST(method_kinds)
{
    ck_assert_int_eq(hs_method_kind_of((hs_str){"HEAD", 4}), HS_METHOD_HEAD);
    ck_assert_int_eq(hs_method_kind_of((hs_str){"CONNECT", 7}), HS_METHOD_CONNECT);
    ck_assert_int_eq(hs_method_kind_of((hs_str){"GET", 3}), HS_METHOD_OTHER);
    /* Methods are case-sensitive (RFC 9110 9.1): "head" is another one. */
    ck_assert_int_eq(hs_method_kind_of((hs_str){"head", 4}), HS_METHOD_OTHER);
    ck_assert_int_eq(hs_method_kind_of((hs_str){"HEADX", 5}), HS_METHOD_OTHER);
    ck_assert_int_eq(hs_method_kind_of((hs_str){"", 0}), HS_METHOD_OTHER);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http1_framing");
    TCase *t = tcase_create("core");
    tcase_add_loop_test(t, framing_row, 0, (int)(sizeof rows / sizeof *rows));
    tcase_add_test(t, none_frames_like_get);
    tcase_add_test(t, method_kinds);
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
