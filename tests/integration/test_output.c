/*
 * test_output.c - every interposed output and input function carries a
 * rewritten response, whole or split byte by byte, across calls, across
 * iovecs and in the middle of a CRLF; header and body in one buffer;
 * sendfile and splice bodies. The client compares exact bytes with what
 * the core computes for the whole stream.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "itest.h"

#define REQ "GET /a HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n"
#define HEAD "HTTP/1.1 200 OK\\r\\nServer: Apache/2.2.3\\r\\nX-Powered-By: PHP/5.3\\r\\nContent-Length: 2000\\r\\n\\r\\n"
#define BODY "\\g2000;"

static const char *out_funcs[] = {"write", "__write", "send", "__send",
                                  "sendto", "sendmsg", "writev", "pwritev2",
                                  "pwritev64v2"};
/* whole; byte by byte; pieces ending mid-status-line, right after a CR
 * (mid-CRLF), right before the blank line, and inside the body */
static const char *splits[] = {"-", "1", "5,16,17,60", "17,17,90,91,92", "93,94"};
#define NSPLITS (sizeof splits / sizeof splits[0])

static void run(const it_case *c)
{
    char why[2048];
    ck_assert_msg(it_run_case(c, why, sizeof why), "%s", why);
}

START_TEST(each_output_function_and_split)
{
    const char *fn = out_funcs[_i / NSPLITS];
    const char *sp = splits[_i % NSPLITS];
    /* byte by byte through separate calls is slow for the 2000-byte body:
     * split the header only, the body goes in one more call. */
    char line1[512], line2[128];
    snprintf(line1, sizeof line1, "out %s %s " HEAD, fn, sp);
    snprintf(line2, sizeof line2, "out %s - " BODY, fn);
    it_case c = {
        .name = fn,
        .req = REQ,
        .resp = HEAD BODY,
        .script = {"accept", "read read *", line1, line2},
        .must_contain = "X-Shim: yes\\r\\n",
        .must_not_contain = "Server:",
    };
    run(&c);
}
END_TEST

START_TEST(header_and_body_in_one_buffer)
{
    const char *fn = out_funcs[_i];
    char line[512];
    snprintf(line, sizeof line, "out %s - " HEAD BODY, fn);
    it_case c = {.name = fn, .req = REQ, .resp = HEAD BODY,
                 .script = {"accept", "read read *", line},
                 .must_not_contain = "X-Powered-By"};
    run(&c);
}
END_TEST

START_TEST(vector_splits_across_iovecs_and_calls)
{
    /* Two calls of several iovecs each, the header end in the second call,
     * with empty iovecs (Node's writev[H | B | (empty)]). */
    const char *fn = out_funcs[5 + _i];   /* sendmsg writev pwritev2 pwritev64v2 */
    char l1[512], l2[512];
    snprintf(l1, sizeof l1, "out %s 3,3,20,40 HTTP/1.1 200 OK\\r\\nServer: Apache\\r\\nX-Powered-By: PHP\\r", fn);
    snprintf(l2, sizeof l2, "out %s 1,1,5,25,29 \\nContent-Length: 5\\r\\n\\r\\nhello", fn);
    it_case c = {.name = fn, .req = REQ,
                 .resp = "HTTP/1.1 200 OK\\r\\nServer: Apache\\r\\nX-Powered-By: PHP\\r"
                         "\\nContent-Length: 5\\r\\n\\r\\nhello",
                 .script = {"accept", "read read *", l1, l2},
                 .must_contain = "X-Content-Type-Options: nosniff"};
    run(&c);
}
END_TEST

static const char *in_funcs[] = {"read", "readv", "recv", "recvfrom",
                                 "recvmsg", "read_chk", "recv_chk",
                                 "recvfrom_chk"};

START_TEST(each_input_function_feeds_the_request_queue)
{
    /* A HEAD then a GET: if the read side missed the HEAD, the engine
     * would take the second response's first 5 bytes for the HEAD's body
     * and not rewrite it. */
    char line[64];
    snprintf(line, sizeof line, "read %s *", in_funcs[_i]);
    it_case c = {
        .name = in_funcs[_i],
        .req = "HEAD /a HTTP/1.1\\r\\nHost: t\\r\\n\\r\\nGET /b HTTP/1.1\\r\\n\\r\\n",
        .resp = "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 5\\r\\n\\r\\n"
                "HTTP/1.1 200 OK\\r\\nServer: b\\r\\nContent-Length: 5\\r\\n\\r\\nhello",
        .script = {"accept", line,
                   "out write - HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 5\\r\\n\\r\\n",
                   "out write - HTTP/1.1 200 OK\\r\\nServer: b\\r\\nContent-Length: 5\\r\\n\\r\\nhello"},
        .must_not_contain = "Server:",
    };
    run(&c);
}
END_TEST

START_TEST(peek_leaves_the_queue_alone)
{
    /* MSG_PEEK then the real read: queued once, so the second response is
     * paired with the GET, not with a phantom second HEAD. */
    it_case c = {
        .name = "peek",
        .req = "HEAD /a HTTP/1.1\\r\\n\\r\\nGET /b HTTP/1.1\\r\\n\\r\\n",
        .resp = "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 5\\r\\n\\r\\n"
                "HTTP/1.1 200 OK\\r\\nServer: b\\r\\nContent-Length: 5\\r\\n\\r\\nhello",
        .script = {"accept", "peek 39", "read recv *",
                   "out send - HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 5\\r\\n\\r\\n",
                   "out send - HTTP/1.1 200 OK\\r\\nServer: b\\r\\nContent-Length: 5\\r\\n\\r\\nhello"},
        .must_not_contain = "Server:",
    };
    run(&c);
}
END_TEST

static const char *file_funcs[][2] = {{"sendfile", "off"}, {"sendfile", "null"},
                                      {"sendfile64", "off"}, {"sendfile64", "null"}};

START_TEST(sendfile_body_after_written_header)
{
    /* nginx and lighttpd: writev[H] then sendfile64(body). */
    char line[128];
    snprintf(line, sizeof line, "sendfile %s %s \\g70000;", file_funcs[_i][0],
             file_funcs[_i][1]);
    it_case c = {.name = file_funcs[_i][0], .req = REQ,
                 .resp = "HTTP/1.1 200 OK\\r\\nServer: nginx\\r\\nContent-Length: 70000\\r\\n\\r\\n\\g70000;",
                 .script = {"accept", "read read *",
                            "out writev - HTTP/1.1 200 OK\\r\\nServer: nginx\\r\\nContent-Length: 70000\\r\\n\\r\\n",
                            line},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

START_TEST(sendfile_of_a_prerendered_response)
{
    /* The header block itself lives in the file (BusyBox CGI output, a
     * cached response): the engine reads it with pread and the file
     * position or offset moves exactly as sendfile's would. */
    char line[256];
    snprintf(line, sizeof line,
             "sendfile %s %s HTTP/1.1 200 OK\\r\\nServer: cache\\r\\nContent-Length: 3000\\r\\n\\r\\n\\g3000;",
             file_funcs[_i][0], file_funcs[_i][1]);
    it_case c = {.name = "prerendered", .req = REQ,
                 .resp = "HTTP/1.1 200 OK\\r\\nServer: cache\\r\\nContent-Length: 3000\\r\\n\\r\\n\\g3000;",
                 .script = {"accept", "read read *", line},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

START_TEST(splice_body)
{
    /* Proxies splice pipe -> socket: the body by count, never read. */
    it_case c = {.name = "splice", .req = REQ "GET /b HTTP/1.1\\r\\n\\r\\n",
                 .resp = "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 4000\\r\\n\\r\\n\\g4000;"
                         "HTTP/1.1 200 OK\\r\\nServer: b\\r\\nContent-Length: 10\\r\\n\\r\\n\\g10;",
                 .script = {"accept", "read read *",
                            "out write - HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 4000\\r\\n\\r\\n",
                            "splice \\g4000;",
                            "out writev - HTTP/1.1 200 OK\\r\\nServer: b\\r\\nContent-Length: 10\\r\\n\\r\\n",
                            "splice \\g10;"},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

START_TEST(header_spliced_from_a_pipe_goes_unchanged)
{
    /* A pipe cannot be read without consuming it: header bytes arriving by
     * splice go out unchanged and the connection passes through (the
     * engine's desync), never a guess. */
    it_case c = {.name = "splice header", .req = REQ,
                 .resp = "HTTP/1.1 200 OK\\r\\nServer: b\\r\\nContent-Length: 10\\r\\n\\r\\n\\g10;",
                 .script = {"accept", "read read *",
                            "splice HTTP/1.1 200 OK\\r\\nServer: b\\r\\nContent-Length: 10\\r\\n\\r\\n\\g10;"},
                 .unchanged = true};
    run(&c);
}
END_TEST

START_TEST(report_mode_each_function_byte_identical)
{
    /* Rule 11: report mode changes no call, whatever carries the bytes. */
    char line1[512], line2[128];
    if (_i < (int)(sizeof out_funcs / sizeof out_funcs[0])) {
        snprintf(line1, sizeof line1, "out %s 5,17,18 " HEAD, out_funcs[_i]);
        snprintf(line2, sizeof line2, "out %s - " BODY, out_funcs[_i]);
    } else {
        snprintf(line1, sizeof line1, "out write 17,18 " HEAD);
        snprintf(line2, sizeof line2, _i % 2 ? "sendfile sendfile64 null " BODY : "splice " BODY);
    }
    it_case c = {.name = "report", .req = REQ, .resp = HEAD BODY, .report = true,
                 .script = {"accept", "read read *", line1, line2}};
    run(&c);
}
END_TEST

START_TEST(syscall_write_is_not_seen)
{
    /* syscall(SYS_write) bypasses every wrapper (interposition.md 6): the
     * bytes go out unchanged, which the docs say. Pinned here so a change
     * of behaviour is noticed. */
    it_case c = {.name = "syswrite", .req = REQ,
                 .resp = "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 2\\r\\n\\r\\nok",
                 .script = {"accept", "read read *",
                            "out syswrite - HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 2\\r\\n\\r\\nok"},
                 .unchanged = true};
    run(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("output");
    TCase *tc = tcase_create("functions");
    tcase_set_timeout(tc, 120);
    size_t nf = sizeof out_funcs / sizeof out_funcs[0];
    tcase_add_loop_test(tc, each_output_function_and_split, 0, (int)(nf * NSPLITS));
    tcase_add_loop_test(tc, header_and_body_in_one_buffer, 0, (int)nf);
    tcase_add_loop_test(tc, vector_splits_across_iovecs_and_calls, 0, 4);
    tcase_add_loop_test(tc, each_input_function_feeds_the_request_queue, 0,
                        (int)(sizeof in_funcs / sizeof in_funcs[0]));
    tcase_add_test(tc, peek_leaves_the_queue_alone);
    tcase_add_loop_test(tc, sendfile_body_after_written_header, 0, 4);
    tcase_add_loop_test(tc, sendfile_of_a_prerendered_response, 0, 4);
    tcase_add_test(tc, splice_body);
    tcase_add_test(tc, header_spliced_from_a_pipe_goes_unchanged);
    tcase_add_loop_test(tc, report_mode_each_function_byte_identical, 0, (int)nf + 2);
    tcase_add_test(tc, syscall_write_is_not_seen);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
