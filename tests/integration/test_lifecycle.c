/*
 * test_lifecycle.c - connection state belongs to the open connection:
 * responses written from another thread, through dup'ed fds, from a forked
 * child, after a vfork+exec in the parent; held bytes flushed on every
 * kind of close and on shutdown; a write from a signal handler; close from
 * a second thread while a write is blocked (rule 9).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"

#define REQ "GET / HTTP/1.1\\r\\n\\r\\n"
#define PART1 "HTTP/1.1 200 OK\\r\\nServ"
#define PART2 "er: a\\r\\nX-Powered-By: b\\r\\nContent-Length: 5\\r\\n\\r\\nhello"
#define OK5(srv) "HTTP/1.1 200 OK\\r\\nServer: " srv "\\r\\nContent-Length: 5\\r\\n\\r\\nhello"

static void run(const it_case *c)
{
    char why[2048];
    ck_assert_msg(it_run_case(c, why, sizeof why), "%s", why);
}

START_TEST(response_from_another_thread)
{
    /* Apache's event MPM: one connection, several threads over its life. */
    it_case c = {.name = "thread", .req = REQ REQ, .resp = OK5("1") PART1 PART2,
                 .script = {"accept", "read read *", "out write - " OK5("1"),
                            "out write - " PART1, "thread", "out writev - " PART2},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

static const char *dups[] = {"dup", "dup2", "dup3", "fdup", "fdupc", "fdup64"};

START_TEST(held_block_survives_a_dup_and_close_of_the_old_fd)
{
    /* BusyBox dup2s the socket onto 0 and 1 and closes the original: the
     * half-written block belongs to the connection, not the number. */
    it_case c = {.name = dups[_i], .req = REQ, .resp = PART1 PART2,
                 .script = {"accept", "read read *", "out write - " PART1, dups[_i],
                            "out write - " PART2},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

START_TEST(forked_child_continues_the_connection)
{
    it_case c = {.name = "fork", .req = REQ REQ, .resp = OK5("1") OK5("2"),
                 .script = {"accept", "read read *", "out write - " OK5("1"), "fork",
                            "out write - " OK5("2")},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

START_TEST(fork_with_a_held_block_passes_through_in_both)
{
    /* Rule 10: held bytes are flushed at the fork; the block is then
     * incomplete on the wire, so the rest must go unchanged. */
    it_case c = {.name = "fork held", .req = REQ, .resp = PART1 PART2,
                 .script = {"accept", "read read *", "out write - " PART1, "fork",
                            "out write - " PART2},
                 .unchanged = true};
    run(&c);
}
END_TEST

START_TEST(vfork_child_leaves_the_parent_state_alone)
{
    /* Python's subprocess: the vfork child's dup2, close and close_range
     * run in our memory; the parent's held block must still be whole. */
    it_case c = {.name = "vfork", .req = REQ, .resp = PART1 PART2,
                 .script = {"accept", "read read *", "out write - " PART1, "vforkexec",
                            "out write - " PART2},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

static const char *closes[] = {"close", "sysclose", "closerange", "closefrom", "replace"};

START_TEST(held_bytes_are_flushed_on_every_close)
{
    it_case c = {.name = closes[_i], .req = REQ, .resp = PART1,
                 .script = {"accept", "read read *", "out write - " PART1, closes[_i],
                            "exit 0"},
                 .unchanged = true};
    run(&c);
}
END_TEST

START_TEST(held_bytes_are_flushed_on_shutdown)
{
    it_case c = {.name = "shutdown", .req = REQ, .resp = PART1,
                 .script = {"accept", "read read *", "out write - " PART1, "shutwr",
                            "waiteof", "exit 0"},
                 .unchanged = true};
    run(&c);
}
END_TEST

START_TEST(held_bytes_are_flushed_at_exit)
{
    it_case c = {.name = "exit", .req = REQ, .resp = PART1,
                 .script = {"accept", "read read *", "out write - " PART1, "libcexit"},
                 .unchanged = true};
    run(&c);
}
END_TEST

START_TEST(held_bytes_are_flushed_before_exec)
{
    /* The new image starts with fresh state: the held half block must be
     * on the wire before it, and the new image must leave the rest (not a
     * status line) alone. */
    it_case c = {.name = "exec held", .req = REQ, .resp = PART1 PART2,
                 .script = {"accept", "read read *", "out write - " PART1, "exec",
                            "out write - " PART2},
                 .unchanged = true, .must_contain = "Server: a"};
    run(&c);
}
END_TEST

START_TEST(new_image_after_exec_rewrites_on_an_inherited_fd)
{
    /* An inherited connection (exec, socket activation) is recognised
     * lazily by its first output. */
    it_case c = {.name = "exec", .req = REQ REQ, .resp = OK5("1") OK5("2"),
                 .script = {"accept", "read read *", "out write - " OK5("1"), "exec",
                            "out writev - " OK5("2")},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

START_TEST(connection_received_by_scm_rights)
{
    it_case c = {.name = "handoff", .req = REQ, .resp = PART1 PART2,
                 .script = {"handoff", "read read *", "out write - " PART1,
                            "out write - " PART2},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

START_TEST(forks_from_another_thread_while_writing)
{
    /* The fork handlers find the connection idle or locked by the writer
     * in the middle of a call; the parent's bytes must come out exactly.
     * (No block is ever held between calls here: a fork then would, by
     * rule 10, send it unchanged, and the result would depend on timing.) */
    it_case c = {.name = "forkstorm", .req = REQ REQ,
                 .resp = OK5("1") "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 400\\r\\n\\r\\n\\g400;",
                 .script = {"accept", "read read *", "forkstorm 200", "out write - " OK5("1"),
                            "out writev - HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 400\\r\\n\\r\\n",
                            "out write 1 \\g400;", "stormwait"},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

START_TEST(write_from_a_signal_handler)
{
    it_case c = {.name = "signal", .req = REQ,
                 .resp = "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 5\\r\\n\\r\\nhello",
                 .script = {"accept", "read read *",
                            "out write - HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 5\\r\\n\\r\\n",
                            "signal hello"},
                 .must_not_contain = "Server:"};
    run(&c);
}
END_TEST

START_TEST(close_from_another_thread_while_a_write_is_blocked)
{
    char policy[4300];
    snprintf(policy, sizeof policy, "HEADERSHIM_POLICY=%s", it_policy("test.policy"));
    const char *env[] = {policy, NULL};
    const char *hdr = "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 4000000\\r\\n\\r\\n";
    char out_line[256];
    snprintf(out_line, sizeof out_line, "out write - %s\\g4000000;", hdr);
    const char *args[] = {"accept", "read read 18", "sndbuf 4096", "watchdog 300", out_line,
                          NULL};
    it_server s;
    ck_assert(it_start(&s, env, args, true));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert(it_send(fd, "GET / HTTP/1.1\r\n\r\n", 18));
    /* We read nothing yet: the write is blocked, holding the connection's
     * lock inside the real call. The watchdog's close must return. */
    char line[64];
    ck_assert_msg(it_read_line(&s, line, sizeof line),
                  "close() from the watchdog thread never returned");
    ck_assert_str_eq(line, "closed");
    size_t n, rn, wn;
    char *got = it_recv_all(fd, &n);
    char *resp = it_data("HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 4000000\\r\\n\\r\\n\\g4000000;", &rn);
    char *want = it_expected(it_policy("test.policy"), "GET / HTTP/1.1\r\n\r\n", 18, resp, rn,
                             false, &wn);
    char why[1024];
    ck_assert_msg(it_same(got, n, want, wn, why, sizeof why), "%s", why);
    close(fd);
    it_finish(&s, NULL);
    free(got);
    free(resp);
    free(want);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, response_from_another_thread);
    tcase_add_loop_test(tc, held_block_survives_a_dup_and_close_of_the_old_fd, 0, 6);
    tcase_add_test(tc, forked_child_continues_the_connection);
    tcase_add_test(tc, fork_with_a_held_block_passes_through_in_both);
    tcase_add_test(tc, vfork_child_leaves_the_parent_state_alone);
    tcase_add_loop_test(tc, held_bytes_are_flushed_on_every_close, 0, 5);
    tcase_add_test(tc, held_bytes_are_flushed_on_shutdown);
    tcase_add_test(tc, held_bytes_are_flushed_at_exit);
    tcase_add_test(tc, held_bytes_are_flushed_before_exec);
    tcase_add_test(tc, new_image_after_exec_rewrites_on_an_inherited_fd);
    tcase_add_test(tc, connection_received_by_scm_rights);
    tcase_add_test(tc, forks_from_another_thread_while_writing);
    tcase_add_test(tc, write_from_a_signal_handler);
    tcase_add_test(tc, close_from_another_thread_while_a_write_is_blocked);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
