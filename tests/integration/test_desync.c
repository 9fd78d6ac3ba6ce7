/*
 * test_desync.c - oversized and ambiguous header blocks go out unchanged;
 * HEADERSHIM_ON_DESYNC=close shuts the reading side with the real
 * shutdown (the server sees end of input), passthrough keeps the
 * connection open and unchanged.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"

#define OK5(srv) "HTTP/1.1 200 OK\\r\\nServer: " srv "\\r\\nContent-Length: 5\\r\\n\\r\\nhello"
/* 64 + 300 bytes: over a cap of 200 */
#define BIG "HTTP/1.1 200 OK\\r\\nServer: big\\r\\nX-Pad: \\g300;\\r\\nContent-Length: 5\\r\\n\\r\\nhello"

static void run(const it_case *c)
{
    char why[2048];
    ck_assert_msg(it_run_case(c, why, sizeof why), "%s", why);
}

START_TEST(oversized_block_passes_through)
{
    it_case c = {.name = "oversize", .req = "GET / HTTP/1.1\\r\\n\\r\\nGET /2 HTTP/1.1\\r\\n\\r\\n",
                 .resp = BIG OK5("after"),
                 .env = {"HEADERSHIM_MAX_HEADER=200", "HEADERSHIM_ON_DESYNC=passthrough"},
                 .script = {"accept", "read read *", "out write 1 " BIG, "out write - " OK5("after")},
                 .unchanged = true};
    run(&c);
}
END_TEST

START_TEST(block_of_exactly_the_cap_is_rewritten)
{
    /* "HTTP/1.1 200 OK\r\nServer: a\r\nContent-Length: 5\r\n\r\n" is 50
     * bytes: a cap of 50 still rewrites it (IO-CONTRACT.md rule 3). */
    it_case c = {.name = "cap", .req = "GET / HTTP/1.1\\r\\n\\r\\n",
                 .resp = "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 5\\r\\n\\r\\nhello",
                 .env = {"HEADERSHIM_MAX_HEADER=50"},
                 .script = {"accept", "read read *",
                            "out write 1 HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 5\\r\\n\\r\\nhello"},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

static const char *ambiguous[] = {
    "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 5\\r\\nContent-Length: 6\\r\\n\\r\\nhello!",
    "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nX-Fold: a\\r\\n b\\r\\nContent-Length: 5\\r\\n\\r\\nhello",
    "HTTP/1.1 200 OK\\r\\nServer : a\\r\\nContent-Length: 5\\r\\n\\r\\nhello",
    "HTTP/1.1 200 OK\\r\\nServer: a\\nContent-Length: 5\\r\\n\\r\\nhello",
    "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nTransfer-Encoding: chunked\\r\\nContent-Length: 5\\r\\n\\r\\n0\\r\\n\\r\\n",
};

START_TEST(ambiguous_block_passes_through_in_both_modes)
{
    const char *mode = _i % 2 ? "HEADERSHIM_ON_DESYNC=passthrough" : "HEADERSHIM_ON_DESYNC=close";
    char line[512];
    snprintf(line, sizeof line, "out write - %s", ambiguous[_i / 2]);
    it_case c = {.name = ambiguous[_i / 2], .req = "GET / HTTP/1.1\\r\\n\\r\\n",
                 .resp = ambiguous[_i / 2], .env = {mode},
                 .script = {"accept", "read read *", line},
                 .unchanged = true};
    run(&c);
}
END_TEST

/* Close mode: after the desync the server's next read sees end of input
 * although the client keeps its side open. Without the shim's
 * shutdown(SHUT_RD) the server would wait forever in "waiteof". */
START_TEST(close_mode_shuts_the_reading_side)
{
    char policy[4300];
    snprintf(policy, sizeof policy, "HEADERSHIM_POLICY=%s", it_policy("test.policy"));
    const char *env[] = {policy, "HEADERSHIM_MAX_HEADER=200", NULL};
    const char *args[] = {"accept", "read read 18", "out write - " BIG, "waiteof",
                          "mark eof", NULL};
    it_server s;
    ck_assert(it_start(&s, env, args, true));
    int fd = it_connect(s.port);
    ck_assert_int_ge(fd, 0);
    ck_assert(it_send(fd, "GET / HTTP/1.1\r\n\r\n", 18));
    char line[64];
    ck_assert_msg(it_read_line(&s, line, sizeof line), "server never saw end of input");
    ck_assert_str_eq(line, "eof");
    size_t n, want_n;
    char *got = it_recv_all(fd, &n);
    char *want = it_data(BIG, &want_n);
    char why[1024];
    ck_assert_msg(it_same(got, n, want, want_n, why, sizeof why), "%s", why);
    close(fd);
    ck_assert_int_eq(it_finish(&s, NULL), 0);
    free(got);
    free(want);
}
END_TEST

START_TEST(passthrough_mode_keeps_serving_unchanged)
{
    it_case c = {.name = "passthrough", .req = "GET / HTTP/1.1\\r\\n\\r\\nGET /2 HTTP/1.1\\r\\n\\r\\n",
                 .resp = BIG OK5("after"),
                 .env = {"HEADERSHIM_MAX_HEADER=200", "HEADERSHIM_ON_DESYNC=passthrough"},
                 .script = {"accept", "read read 18", "out write - " BIG, "read read 19",
                            "out write - " OK5("after")},
                 .unchanged = true, .must_contain = "Server: after"};
    run(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("desync");
    TCase *tc = tcase_create("desync");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, oversized_block_passes_through);
    tcase_add_test(tc, block_of_exactly_the_cap_is_rewritten);
    tcase_add_loop_test(tc, ambiguous_block_passes_through_in_both_modes, 0,
                        (int)(2 * sizeof ambiguous / sizeof ambiguous[0]));
    tcase_add_test(tc, close_mode_shuts_the_reading_side);
    tcase_add_test(tc, passthrough_mode_keeps_serving_unchanged);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
