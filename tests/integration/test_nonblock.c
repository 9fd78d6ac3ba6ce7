/*
 * test_nonblock.c - real short writes and EAGAIN inside and after
 * rewritten blocks: a non-blocking server socket with a small send buffer,
 * many pipelined responses written as writev[H | B] (nginx's shape) or
 * write(H+B) (lighttpd's one iovec), and a slow client with a small
 * receive buffer. Nothing is injected: every short count comes from the
 * kernel. The client must get exactly the transform of the whole stream.
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

#define NRESP 40

static void slow_exchange(const char *fn, const char *split, bool blocking)
{
    static char lines[NRESP][400];
    const char *args[NRESP + 8];
    size_t na = 0;
    char req[NRESP * 32];
    size_t req_n = 0;
    char *resp_spec = calloc(1, NRESP * 320);
    for (int i = 0; i < NRESP; i++)
        req_n += (size_t)sprintf(req + req_n, "GET /%02d HTTP/1.1\r\n\r\n", i);
    static char readline[32];
    snprintf(readline, sizeof readline, "read read %zu", req_n);
    args[na++] = "accept";
    args[na++] = readline;
    if (!blocking)
        args[na++] = "nonblock";
    args[na++] = "sndbuf 4096";
    for (int i = 0; i < NRESP; i++) {
        int body = 1500 + (i * 977) % 6000;
        /* a 1.5 KB header line the policy keeps: the rewritten block is
         * larger than what the kernel takes at once, so short counts land
         * inside it */
        char head[200], one[300];
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\\r\\nServer: s%d\\r\\nX-Powered-By: p\\r\\nX-Pad: \\g1500@%d;\\r\\nContent-Length: %d\\r\\n\\r\\n",
                 i, i, body);
        snprintf(one, sizeof one, "%s\\g%d@%d;", head, body, i * 7);
        size_t hn;
        free(it_data(head, &hn));
        char hsplit[16];
        snprintf(hsplit, sizeof hsplit, "%zu", hn);
        snprintf(lines[i], sizeof lines[i], "out %s %s %s", fn,
                 !strcmp(split, "hb") ? hsplit : split, one);
        args[na++] = lines[i];
        strcat(resp_spec, one);
    }
    args[na] = NULL;

    char policy[4300];
    snprintf(policy, sizeof policy, "HEADERSHIM_POLICY=%s", it_policy("test.policy"));
    const char *env[] = {policy, NULL};
    it_server s;
    ck_assert(it_start(&s, env, args, true));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 2048;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert(it_send(fd, req, req_n));
    shutdown(fd, SHUT_WR);

    size_t cap = 1 << 20, n = 0;
    char *got = malloc(cap);
    for (;;) {
        if (n + 700 > cap)
            got = realloc(got, cap *= 2);
        ssize_t r = read(fd, got + n, 700);   /* small reads, with pauses */
        if (r <= 0)
            break;
        n += (size_t)r;
        if ((n / 700) % 8 == 0)
            usleep(1000);
    }
    close(fd);
    char *err = NULL;
    ck_assert_int_eq(it_finish(&s, &err), 0);
    free(err);

    size_t rn, wn;
    char *resp = it_data(resp_spec, &rn);
    char *want = it_expected(it_policy("test.policy"), req, req_n, resp, rn, false, &wn);
    char why[1024];
    ck_assert_msg(it_same(got, n, want, wn, why, sizeof why), "%s", why);
    free(got);
    free(resp);
    free(want);
    free(resp_spec);
}

START_TEST(nonblocking_writev_header_and_body) { slow_exchange("writev", "hb", false); }
END_TEST
START_TEST(nonblocking_write_header_plus_body) { slow_exchange("write", "-", false); }
END_TEST
START_TEST(nonblocking_send_byte_pieces) { slow_exchange("sendmsg", "10,20,30,40,50,60,61,62,1000,1001,1002", false); }
END_TEST
START_TEST(blocking_socket_loops) { slow_exchange("write", "-", true); }
END_TEST

int main(void)
{
    Suite *s = suite_create("nonblock");
    TCase *tc = tcase_create("slow reader");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, nonblocking_writev_header_and_body);
    tcase_add_test(tc, nonblocking_write_header_plus_body);
    tcase_add_test(tc, nonblocking_send_byte_pieces);
    tcase_add_test(tc, blocking_socket_loops);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
