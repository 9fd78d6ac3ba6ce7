/*
 * test_direct.c - the direct body call (interpose_out.c TRY_DIRECT): body
 * calls inside a Content-Length body go straight to the kernel and the
 * engine only counts them. Through every output function: small body
 * calls (direct), the body's last bytes with the next response's head in
 * the same call (the engine: the room ends with the body), a body call of
 * exactly the bytes left (direct, and the body ends there), sendfile
 * bodies, and a real kernel's short counts and EAGAIN on a non-blocking
 * socket with a small send buffer; in enforce and in report mode. The client compares exact bytes with what the core
 * computes for the whole stream, and hs_server checks every call's errno
 * (rule 7) and return value.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "itest.h"

#define REQ2 "GET /a HTTP/1.1\\r\\nHost: t\\r\\n\\r\\nGET /b HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n"
#define HEAD1 "HTTP/1.1 200 OK\\r\\nServer: Apache/2.2.3\\r\\nContent-Length: 100\\r\\n\\r\\n"
#define HEAD2 "HTTP/1.1 200 OK\\r\\nServer: Apache/2.2.3\\r\\nX-Powered-By: PHP\\r\\nContent-Length: 40\\r\\n\\r\\n"
/* body 1: 3 x 30 direct, then its last 10 bytes in one call with head 2
 * and 5 bytes of body 2 (the engine); body 2: 20 direct, then the 15 left
 * (direct too: the call that ends the body) */
#define B1A "abcdefghijklmnopqrstuvwxyz0123"
#define B1B "ABCDEFGHIJKLMNOPQRSTUVWXYZ4567"
#define B1C "0123456789abcdefghijABCDEFGHIJ"
#define B1END "klmnopqrst"
#define B2A "12345"
#define B2B "67890abcdefghijklmno"
#define B2C "pqrstuvwxyzABCD"

static const char *out_funcs[] = {"write", "__write", "send", "__send",
                                  "sendto", "sendmsg", "writev", "pwritev2",
                                  "pwritev64v2"};
#define NFUNCS (sizeof out_funcs / sizeof out_funcs[0])

static void run(const it_case *c)
{
    char why[2048];
    ck_assert_msg(it_run_case(c, why, sizeof why), "%s", why);
}

static void body_calls(const char *fn, bool report)
{
    static char l[8][512];
    snprintf(l[0], sizeof l[0], "out %s - " HEAD1, fn);
    snprintf(l[1], sizeof l[1], "out %s - " B1A, fn);
    /* vector functions: one call of three iovecs */
    snprintf(l[2], sizeof l[2], "out %s 10,20 " B1B, fn);
    snprintf(l[3], sizeof l[3], "out %s - " B1C, fn);
    snprintf(l[4], sizeof l[4], "out %s 10 " B1END HEAD2 B2A, fn);
    snprintf(l[5], sizeof l[5], "out %s - " B2B, fn);
    snprintf(l[6], sizeof l[6], "out %s - " B2C, fn);
    it_case c = {
        .name = fn,
        .req = REQ2,
        .resp = HEAD1 B1A B1B B1C B1END HEAD2 B2A B2B B2C,
        .script = {"accept", "read read *", l[0], l[1], l[2], l[3], l[4],
                   l[5], l[6]},
        .report = report,
        .must_contain = report ? NULL : "X-Shim: yes\\r\\n",
        .must_not_contain = report ? NULL : "X-Powered-By",
    };
    run(&c);
}

START_TEST(direct_body_calls_each_function)
{
    body_calls(out_funcs[_i], false);
}
END_TEST

START_TEST(direct_body_calls_report_mode)
{
    body_calls(out_funcs[_i], true);
}
END_TEST

/* 200,000 body bytes in calls of 50,000 to a non-blocking socket with a
 * 4 KiB send buffer and a client that reads slowly: short counts and
 * EAGAIN from the kernel inside direct calls, the rest resubmitted. */
static void short_counts(const char *fn, bool report)
{
    static char l[8][256];
    snprintf(l[0], sizeof l[0], "out %s - HTTP/1.1 200 OK\\r\\nServer: s\\r\\nContent-Length: 200000\\r\\n\\r\\n", fn);
    for (int i = 0; i < 4; i++)
        snprintf(l[1 + i], sizeof l[1 + i], "out %s - \\g50000@%d;", fn, i + 1);
    snprintf(l[5], sizeof l[5], "out %s - HTTP/1.1 204 No Content\\r\\nServer: s\\r\\n\\r\\n", fn);
    it_case c = {
        .name = fn,
        .req = REQ2,
        .resp = "HTTP/1.1 200 OK\\r\\nServer: s\\r\\nContent-Length: 200000\\r\\n\\r\\n"
                "\\g50000@1;\\g50000@2;\\g50000@3;\\g50000@4;"
                "HTTP/1.1 204 No Content\\r\\nServer: s\\r\\n\\r\\n",
        .script = {"accept", "read read *", "nonblock", "sndbuf 4096", l[0],
                   l[1], l[2], l[3], l[4], l[5]},
        .report = report,
        .must_not_contain = report ? NULL : "Server:",
    };
    run(&c);
}

START_TEST(direct_short_counts_and_eagain)
{
    short_counts(out_funcs[_i], false);
}
END_TEST

START_TEST(direct_short_counts_report_mode)
{
    short_counts(out_funcs[_i], true);
}
END_TEST

/* A chunked body never goes direct, and a pass-through connection
 * (Connection: close, then bytes that look like a head) is left alone. */
START_TEST(chunked_and_close_delimited)
{
    const char *fn = out_funcs[_i];
    static char l[6][256];
    snprintf(l[0], sizeof l[0], "out %s - HTTP/1.1 200 OK\\r\\nServer: s\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n", fn);
    snprintf(l[1], sizeof l[1], "out %s 3 5\\r\\nhello\\r\\n", fn);
    snprintf(l[2], sizeof l[2], "out %s - 0\\r\\n\\r\\nHTTP/1.1 200 OK\\r\\nServer: s\\r\\nConnection: close\\r\\nContent-Length: 6\\r\\n\\r\\nab", fn);
    snprintf(l[3], sizeof l[3], "out %s - cd", fn);
    snprintf(l[4], sizeof l[4], "out %s - efHTTP/1.1 200 OK\\r\\nServer: s\\r\\n\\r\\n", fn);
    it_case c = {
        .name = fn,
        .req = REQ2,
        .resp = "HTTP/1.1 200 OK\\r\\nServer: s\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"
                "5\\r\\nhello\\r\\n0\\r\\n\\r\\n"
                "HTTP/1.1 200 OK\\r\\nServer: s\\r\\nConnection: close\\r\\nContent-Length: 6\\r\\n\\r\\n"
                "abcdefHTTP/1.1 200 OK\\r\\nServer: s\\r\\n\\r\\n",
        .script = {"accept", "read read *", l[0], l[1], l[2], l[3], l[4]},
        /* after the close-delimited response nothing is parsed: its
         * "Server: s" goes out as it is */
        .must_contain = "efHTTP/1.1 200 OK\\r\\nServer: s\\r\\n",
    };
    run(&c);
}
END_TEST

/* nginx: writev[H] then the whole body by sendfile (a direct call that
 * ends the body), the next response the same way (its head rewritten),
 * then one whose body comes in two sendfiles and a write; with an offset
 * and with the file position, sendfile and sendfile64, and in report
 * mode. */
static const char *file_funcs[][2] = {{"sendfile", "off"}, {"sendfile", "null"},
                                      {"sendfile64", "off"}, {"sendfile64", "null"}};

static void sendfile_bodies(int i, bool report)
{
    static char l[8][256];
    const char *fn = file_funcs[i][0], *how = file_funcs[i][1];
    snprintf(l[0], sizeof l[0], "sendfile %s %s \\g70000@1;", fn, how);
    snprintf(l[1], sizeof l[1], "sendfile %s %s \\g300@2;", fn, how);
    snprintf(l[2], sizeof l[2], "sendfile %s %s \\g100@3;", fn, how);
    snprintf(l[3], sizeof l[3], "sendfile %s %s \\g100@4;", fn, how);
    it_case c = {
        .name = fn,
        .req = REQ2 "GET /c HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n",
        .resp = "HTTP/1.1 200 OK\\r\\nServer: nginx\\r\\nContent-Length: 70000\\r\\n\\r\\n\\g70000@1;"
                "HTTP/1.1 200 OK\\r\\nServer: nginx\\r\\nContent-Length: 300\\r\\n\\r\\n\\g300@2;"
                "HTTP/1.1 200 OK\\r\\nServer: nginx\\r\\nContent-Length: 205\\r\\n\\r\\n\\g100@3;\\g100@4;tail!",
        .script = {"accept", "read read *",
                   "out writev - HTTP/1.1 200 OK\\r\\nServer: nginx\\r\\nContent-Length: 70000\\r\\n\\r\\n",
                   l[0],
                   "out writev - HTTP/1.1 200 OK\\r\\nServer: nginx\\r\\nContent-Length: 300\\r\\n\\r\\n",
                   l[1],
                   "out writev - HTTP/1.1 200 OK\\r\\nServer: nginx\\r\\nContent-Length: 205\\r\\n\\r\\n",
                   l[2], l[3], "out write - tail!"},
        .report = report,
        .must_not_contain = report ? NULL : "Server:",
    };
    run(&c);
}

START_TEST(direct_sendfile_bodies)
{
    sendfile_bodies(_i, false);
}
END_TEST

START_TEST(direct_sendfile_bodies_report_mode)
{
    sendfile_bodies(_i, true);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("direct");
    TCase *t = tcase_create("direct");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, direct_body_calls_each_function, 0, NFUNCS);
    tcase_add_loop_test(t, direct_body_calls_report_mode, 0, NFUNCS);
    tcase_add_loop_test(t, direct_short_counts_and_eagain, 0, NFUNCS);
    tcase_add_loop_test(t, direct_short_counts_report_mode, 0, NFUNCS);
    tcase_add_loop_test(t, chunked_and_close_delimited, 0, NFUNCS);
    tcase_add_loop_test(t, direct_sendfile_bodies, 0, 4);
    tcase_add_loop_test(t, direct_sendfile_bodies_report_mode, 0, 4);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
