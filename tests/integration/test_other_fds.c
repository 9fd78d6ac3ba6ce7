/*
 * test_other_fds.c - only the sockets we act on are touched: a file, a
 * pipe and a UDP socket receiving HTTP-looking bytes get them unchanged;
 * Unix stream sockets only with HEADERSHIM_SOCKETS=tcp,unix; ports
 * outside HEADERSHIM_PORTS pass through.
 */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "itest.h"

#define RESP "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 5\\r\\n\\r\\nhello"

static const char *policy_env(void)
{
    static char e[4300];
    snprintf(e, sizeof e, "HEADERSHIM_POLICY=%s", it_policy("test.policy"));
    return e;
}

static void assert_bytes(const char *got, size_t n, const char *spec)
{
    size_t wn;
    char *want = it_data(spec, &wn);
    char why[1024];
    ck_assert_msg(it_same(got, n, want, wn, why, sizeof why), "%s", why);
    free(want);
}

START_TEST(file_gets_http_bytes_unchanged)
{
    char path[] = "/tmp/hs_itest_file_XXXXXX";
    int f = mkstemp(path);
    ck_assert_int_ge(f, 0);
    close(f);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "file %s " RESP, path);
    const char *env[] = {policy_env(), NULL};
    const char *args[] = {cmd, NULL};
    it_server s;
    ck_assert(it_start(&s, env, args, true));
    ck_assert_int_eq(it_finish(&s, NULL), 0);
    FILE *fp = fopen(path, "rb");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    unlink(path);
    assert_bytes(buf, n, RESP);
}
END_TEST

START_TEST(pipe_gets_http_bytes_unchanged)
{
    const char *env[] = {policy_env(), NULL};
    const char *args[] = {"pipe " RESP, NULL};
    it_server s;
    ck_assert(it_start(&s, env, args, true));   /* reads the port line */
    char buf[4096];
    size_t n = 0;
    ssize_t r;
    while ((r = read(s.out_fd, buf + n, sizeof buf - n)) > 0)
        n += (size_t)r;
    ck_assert_int_eq(it_finish(&s, NULL), 0);
    assert_bytes(buf, n, RESP);
}
END_TEST

START_TEST(udp_gets_http_bytes_unchanged)
{
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(bind(u, (struct sockaddr *)&sa, sizeof sa), 0);
    getsockname(u, (struct sockaddr *)&sa, &sl);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(sa.sin_port));
    const char *env[] = {policy_env(), NULL};
    const char *args[] = {"--udp-to", port, "udp " RESP, NULL};
    it_server s;
    ck_assert(it_start(&s, env, args, true));
    ck_assert_int_eq(it_finish(&s, NULL), 0);
    for (int i = 0; i < 2; i++) {           /* write() and sendto() */
        char buf[4096];
        struct pollfd p = {.fd = u, .events = POLLIN};
        ck_assert_int_eq(poll(&p, 1, 5000), 1);
        ssize_t n = recv(u, buf, sizeof buf, 0);
        ck_assert_int_gt(n, 0);
        assert_bytes(buf, (size_t)n, RESP);
    }
    close(u);
}
END_TEST

static char *unix_exchange(const char *sockets, const char *path)
{
    char sock_env[64];
    snprintf(sock_env, sizeof sock_env, "HEADERSHIM_SOCKETS=%s", sockets);
    const char *env[] = {policy_env(), sockets ? sock_env : NULL, NULL};
    const char *args[] = {"--unix", path, "accept", "read read 18", "out write - " RESP, NULL};
    it_server s;
    ck_assert(it_start(&s, env, args, true));
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    snprintf(su.sun_path, sizeof su.sun_path, "%s", path);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&su, sizeof su), 0);
    ck_assert(it_send(fd, "GET / HTTP/1.1\r\n\r\n", 18));
    size_t n;
    char *got = it_recv_all(fd, &n);
    close(fd);
    ck_assert_int_eq(it_finish(&s, NULL), 0);
    unlink(path);
    return got;
}

START_TEST(unix_sockets_only_when_asked)
{
    char *plain = unix_exchange(NULL, "/tmp/hs_itest_unix_a");
    ck_assert_ptr_nonnull(plain);
    ck_assert_msg(strstr(plain, "Server: a") != NULL, "tcp only: unix socket was rewritten");
    free(plain);
    char *both = unix_exchange("tcp,unix", "/tmp/hs_itest_unix_b");
    ck_assert_ptr_nonnull(both);
    ck_assert_msg(strstr(both, "Server: a") == NULL && strstr(both, "X-Shim: yes") != NULL,
                  "tcp,unix: not rewritten: %s", both);
    free(both);
}
END_TEST

START_TEST(ports_outside_the_list_pass_through)
{
    /* The server's port is ephemeral (above 1023): port 80 alone excludes
     * it, 1024-65535 includes it. */
    it_case out = {.name = "ports=80", .req = "GET / HTTP/1.1\\r\\n\\r\\n", .resp = RESP,
                   .env = {"HEADERSHIM_PORTS=80"},
                   .script = {"accept", "read read *", "out write - " RESP}, .unchanged = true};
    it_case in = {.name = "ports=1024-65535", .req = "GET / HTTP/1.1\\r\\n\\r\\n", .resp = RESP,
                  .env = {"HEADERSHIM_PORTS=80,1024-65535"},
                  .script = {"accept", "read read *", "out write - " RESP},
                  .must_not_contain = "Server:"};
    char why[2048];
    ck_assert_msg(it_run_case(&out, why, sizeof why), "%s", why);
    ck_assert_msg(it_run_case(&in, why, sizeof why), "%s", why);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("other fds");
    TCase *tc = tcase_create("other fds");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, file_gets_http_bytes_unchanged);
    tcase_add_test(tc, pipe_gets_http_bytes_unchanged);
    tcase_add_test(tc, udp_gets_http_bytes_unchanged);
    tcase_add_test(tc, unix_sockets_only_when_asked);
    tcase_add_test(tc, ports_outside_the_list_pass_through);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
