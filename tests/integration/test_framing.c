/*
 * test_framing.c - the engine's framing over real sockets (RFC 9112 6.3):
 * chunked bodies that contain header-looking text, HEAD, 204, 304,
 * 100-continue, 101 followed by HTTP-looking bytes, pipelined requests
 * answered separately and coalesced, a POST whose body holds a request
 * line, close-delimited bodies.
 */
#include <check.h>
#include <stdio.h>

#include "itest.h"

#define OK5(srv) "HTTP/1.1 200 OK\\r\\nServer: " srv "\\r\\nContent-Length: 5\\r\\n\\r\\nhello"

static void run(const it_case *c)
{
    char why[2048];
    ck_assert_msg(it_run_case(c, why, sizeof why), "%s", why);
}

/* 30 bytes of body that look like a whole header block */
#define FAKE "HTTP/1.1 200 OK\\r\\nServer: x\\r\\n\\r\\n"

START_TEST(chunked_body_with_a_header_block_inside)
{
    it_case c = {.name = "chunked",
                 .req = "GET / HTTP/1.1\\r\\n\\r\\nGET /2 HTTP/1.1\\r\\n\\r\\n",
                 .resp = "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"
                         "1e\\r\\n" FAKE "\\r\\n" "1e;ext=1\\r\\n" FAKE "\\r\\n0\\r\\nX-Trailer: t\\r\\n\\r\\n" OK5("b"),
                 .script = {"accept", "read read *",
                            "out writev 40,63,70 HTTP/1.1 200 OK\\r\\nServer: a\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n1e\\r\\n" FAKE,
                            "out write 1 \\r\\n1e;ext=1\\r\\n" FAKE "\\r\\n0\\r\\nX-Trailer: t\\r\\n\\r\\n",
                            "out write - " OK5("b")},
                 .must_contain = "Server: x\\r\\n",   /* the body, untouched */
                 .must_not_contain = "Server: b"};
    run(&c);
}
END_TEST

START_TEST(head_response_has_no_body)
{
    it_case c = {.name = "HEAD",
                 .req = "HEAD / HTTP/1.1\\r\\n\\r\\nGET /2 HTTP/1.1\\r\\n\\r\\n",
                 .resp = "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 100\\r\\n\\r\\n" OK5("b"),
                 .script = {"accept", "read read *",
                            "out write - HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 100\\r\\n\\r\\n",
                            "out write - " OK5("b")},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

START_TEST(no_body_statuses_204_304)
{
    it_case c = {.name = "204/304",
                 .req = "GET / HTTP/1.1\\r\\n\\r\\nGET /2 HTTP/1.1\\r\\n\\r\\nGET /3 HTTP/1.1\\r\\n\\r\\n",
                 .resp = "HTTP/1.1 204 No Content\\r\\nServer: a\\r\\n\\r\\n"
                         "HTTP/1.1 304 Not Modified\\r\\nServer: a\\r\\nContent-Length: 50\\r\\n\\r\\n" OK5("b"),
                 .script = {"accept", "read read *",
                            "out writev 20 HTTP/1.1 204 No Content\\r\\nServer: a\\r\\n\\r\\n",
                            "out send - HTTP/1.1 304 Not Modified\\r\\nServer: a\\r\\nContent-Length: 50\\r\\n\\r\\n",
                            "out write - " OK5("b")},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

START_TEST(continue_then_final_response)
{
    it_case c = {.name = "100-continue",
                 .req = "POST /u HTTP/1.1\\r\\nContent-Length: 5\\r\\nExpect: 100-continue\\r\\n\\r\\nhello",
                 .resp = "HTTP/1.1 100 Continue\\r\\n\\r\\n" OK5("b"),
                 .script = {"accept", "read recv *",
                            "out write - HTTP/1.1 100 Continue\\r\\n\\r\\n",
                            "out write - " OK5("b")},
                 .must_contain = "HTTP/1.1 100 Continue\\r\\n\\r\\nHTTP/1.1 200 OK",
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

START_TEST(switching_protocols_then_http_looking_bytes)
{
    it_case c = {.name = "101",
                 .req = "GET /ws HTTP/1.1\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n\\r\\n",
                 .resp = "HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n\\r\\n" OK5("tunnel"),
                 .script = {"accept", "read read *",
                            "out write - HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n\\r\\n",
                            "out write - " OK5("tunnel")},
                 .unchanged = true,
                 .must_contain = "Server: tunnel"};
    run(&c);
}
END_TEST

#define THREE_GETS "GET /1 HTTP/1.1\\r\\n\\r\\nGET /2 HTTP/1.1\\r\\n\\r\\nGET /3 HTTP/1.1\\r\\n\\r\\n"

START_TEST(pipelined_answered_separately)
{
    it_case c = {.name = "pipelined", .req = THREE_GETS,
                 .resp = OK5("1") OK5("2") OK5("3"),
                 .script = {"accept", "read read *", "out writev - " OK5("1"),
                            "out send 7 " OK5("2"), "out write - " OK5("3")},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

START_TEST(pipelined_answered_in_one_write)
{
    it_case c = {.name = "coalesced", .req = THREE_GETS,
                 .resp = OK5("1") OK5("2") OK5("3"),
                 .script = {"accept", "read read *", "out write - " OK5("1") OK5("2") OK5("3")},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

START_TEST(post_body_holding_a_request_line)
{
    /* If the body's "HEAD" were taken for a request, the GET's response
     * would be framed as a HEAD's and "hello" read as a status line. */
    it_case c = {.name = "POST body",
                 .req = "POST /p HTTP/1.1\\r\\nContent-Length: 20\\r\\n\\r\\nHEAD /x HTTP/1.1\\r\\n\\r\\n"
                        "GET /g HTTP/1.1\\r\\n\\r\\n",
                 .resp = OK5("1") OK5("2"),
                 .script = {"accept", "read read *", "out write - " OK5("1"),
                            "out write - " OK5("2")},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

START_TEST(close_delimited_body)
{
    it_case c = {.name = "until close", .req = "GET / HTTP/1.0\\r\\n\\r\\n",
                 .resp = "HTTP/1.0 200 OK\\r\\nServer: a\\r\\n\\r\\n" OK5("inbody") "\\g5000;",
                 .script = {"accept", "read read *",
                            "out write - HTTP/1.0 200 OK\\r\\nServer: a\\r\\n\\r\\n",
                            "out write - " OK5("inbody") "\\g5000;"},
                 .must_contain = "Server: inbody",
                 .must_not_contain = "Server: a"};
    run(&c);
}
END_TEST

START_TEST(client_socket_is_never_rewritten)
{
    /* The server's first output is not a status line (a client writing a
     * request, an SMTP banner): the connection passes through. */
    it_case c = {.name = "not a response", .req = "hello",
                 .resp = "220 smtp ready\\r\\nServer: a\\r\\n\\r\\n" OK5("b"),
                 .script = {"accept", "read read *",
                            "out write - 220 smtp ready\\r\\nServer: a\\r\\n\\r\\n",
                            "out write - " OK5("b")},
                 .unchanged = true};
    run(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("framing");
    TCase *tc = tcase_create("framing");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, chunked_body_with_a_header_block_inside);
    tcase_add_test(tc, head_response_has_no_body);
    tcase_add_test(tc, no_body_statuses_204_304);
    tcase_add_test(tc, continue_then_final_response);
    tcase_add_test(tc, switching_protocols_then_http_looking_bytes);
    tcase_add_test(tc, pipelined_answered_separately);
    tcase_add_test(tc, pipelined_answered_in_one_write);
    tcase_add_test(tc, post_body_holding_a_request_line);
    tcase_add_test(tc, close_delimited_body);
    tcase_add_test(tc, client_socket_is_never_rewritten);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
