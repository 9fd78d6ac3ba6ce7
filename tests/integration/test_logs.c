/*
 * test_logs.c - the log of INTERFACE.md "Logs": JSON lines in a file,
 * paths without their query string, reopened after rotation and after the
 * application closed its descriptor; and an inetd-style server whose
 * standard error is the client's socket: no log line or error message may
 * reach the client.
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

#define RESP "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 5\\r\\n\\r\\nhello"
#define RAW "HTTP/1.1 200 OK\r\nServer: a\r\nContent-Length: 5\r\n\r\nhello"
#define REQ "GET /a/./b?token=secret HTTP/1.1\r\nHost: t\r\n\r\n"

static const char *policy_env(void)
{
    static char e[4300];
    snprintf(e, sizeof e, "HEADERSHIM_POLICY=%s", it_policy("test.policy"));
    return e;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    char *b = calloc(1, 1 << 16);
    size_t n = fread(b, 1, (1 << 16) - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

/* Every line is one JSON object. */
static void assert_json_lines(const char *text)
{
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        ck_assert_msg(e != NULL, "unterminated line: %s", l);
        ck_assert_msg(!strncmp(l, "{\"ts\":\"", 7) && e[-1] == '}', "not a JSON line: %.*s",
                      (int)(e - l), l);
        ck_assert_int_le(e - l + 1, 4096);
        l = e + 1;
    }
}

static void exchange(const char *const *env, const char *const *args, int nreq)
{
    it_server s;
    ck_assert(it_start(&s, env, args, true));
    int fd = it_connect(s.port);
    for (int i = 0; i < nreq; i++)
        ck_assert(it_send(fd, REQ, strlen(REQ)));
    shutdown(fd, SHUT_WR);
    size_t n;
    free(it_recv_all(fd, &n));
    close(fd);
    ck_assert_int_eq(it_finish(&s, NULL), 0);
}

/* One request and response with HEADERSHIM_LOG=info into a file; returns
 * the file's text (free it). */
static char *info_log_of_one_exchange(void)
{
    char path[] = "/tmp/hs_itest_log_XXXXXX";
    close(mkstemp(path));
    char lf[128];
    snprintf(lf, sizeof lf, "HEADERSHIM_LOG_FILE=%s", path);
    const char *env[] = {policy_env(), lf, "HEADERSHIM_LOG=info", NULL};
    char rd[32];
    snprintf(rd, sizeof rd, "read read %zu", strlen(REQ));
    const char *args[] = {"accept", rd, "out write - " RESP, NULL};
    exchange(env, args, 1);
    char *log = slurp(path);
    unlink(path);
    return log;
}

START_TEST(log_file_lines)
{
    char *log = info_log_of_one_exchange();
    assert_json_lines(log);
    ck_assert_msg(strstr(log, "\"event\":\"start\""), "%s", log);
    ck_assert_msg(strstr(log, "\"event\":\"exit\""), "%s", log);
    char *rw = strstr(log, "\"event\":\"rewrite\"");
    ck_assert_msg(rw, "no rewrite line: %s", log);
    ck_assert_msg(strstr(rw, "\"status\":200"), "%s", rw);
    ck_assert_msg(strstr(rw, "\"path\":\"/a/b\""), "path not normalised or with query: %s", rw);
    ck_assert_msg(!strstr(log, "secret"), "query string logged: %s", log);
    ck_assert_msg(strstr(rw, "\"removed\":[\"Server\"]"), "%s", rw);
    free(log);
}
END_TEST

START_TEST(log_line_names_the_method)
{
    /* The event is reported before its request leaves the queue
     * (conn.c hs_conn_commit_block): its method was once read from freed
     * memory. */
    char *log = info_log_of_one_exchange();
    ck_assert_msg(strstr(log, "\"method\":\"GET\""), "%s", log);
    free(log);
}
END_TEST

START_TEST(log_reopens_after_rotation_and_close)
{
    char path[] = "/tmp/hs_itest_log_XXXXXX";
    close(mkstemp(path));
    char rotated[64], lf[128], ren[160], rd[32];
    snprintf(rotated, sizeof rotated, "%s.1", path);
    snprintf(lf, sizeof lf, "HEADERSHIM_LOG_FILE=%s", path);
    snprintf(ren, sizeof ren, "rename %s %s", path, rotated);
    snprintf(rd, sizeof rd, "read read %zu", strlen(REQ));
    const char *env[] = {policy_env(), lf, "HEADERSHIM_LOG=info", NULL};
    /* The rotation check runs at most once a second: wait past it. */
    /* clobberenv: the log path must not be read from the environment
     * block after start-up (nginx overwrites it with its process title) */
    const char *args[] = {"clobberenv", "accept", rd, "out write - " RESP, ren, "sleep 1100",
                          rd, "out write - " RESP, "closeall", NULL};
    exchange(env, args, 2);
    char *old = slurp(rotated), *cur = slurp(path);
    unlink(path);
    unlink(rotated);
    assert_json_lines(old);
    assert_json_lines(cur);
    ck_assert_msg(strstr(old, "\"event\":\"start\"") && strstr(old, "\"event\":\"rewrite\""),
                  "rotated file: %s", old);
    ck_assert_msg(!strstr(old, "\"event\":\"exit\""), "rotated file: %s", old);
    /* the second rewrite went to the new file; the exit line too, after
     * closefrom(3) took the log's descriptor */
    ck_assert_msg(strstr(cur, "\"event\":\"rewrite\"") && strstr(cur, "\"event\":\"exit\""),
                  "new file: %s", cur);
    free(old);
    free(cur);
}
END_TEST

START_TEST(identical_report_lines_once_a_minute)
{
    char path[] = "/tmp/hs_itest_log_XXXXXX";
    close(mkstemp(path));
    char lf[128], rd[32];
    snprintf(lf, sizeof lf, "HEADERSHIM_LOG_FILE=%s", path);
    snprintf(rd, sizeof rd, "read read %zu", 3 * strlen(REQ));
    const char *env[] = {policy_env(), lf, "HEADERSHIM_MODE=report", NULL};
    const char *args[] = {"accept", rd, "out write - " RESP, "out write - " RESP,
                          "out write - " RESP, NULL};
    exchange(env, args, 3);
    char *log = slurp(path);
    unlink(path);
    assert_json_lines(log);
    int n = 0;
    for (const char *p = log; (p = strstr(p, "\"event\":\"report\"")); p++)
        n++;
    ck_assert_msg(n == 1, "%d report lines: %s", n, log);
    free(log);
}
END_TEST

/* inetd: the connection is fds 0, 1 and 2 of the server. */
static char *inetd_exchange(const char *const *env)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
    listen(l, 1);
    getsockname(l, (struct sockaddr *)&sa, &sl);
    int c = it_connect(ntohs(sa.sin_port));
    int a = accept(l, NULL, NULL);
    close(l);
    const char *args[] = {"--inetd", "read read 18", "out write - " RESP, NULL};
    it_server s;
    ck_assert(it_start_inetd(&s, env, args, a));
    close(a);
    ck_assert(it_send(c, "GET / HTTP/1.1\r\n\r\n", 18));
    shutdown(c, SHUT_WR);
    size_t n;
    char *got = it_recv_all(c, &n);
    close(c);
    it_finish(&s, NULL);
    return got;
}

START_TEST(inetd_stderr_socket_gets_no_log_line)
{
    const char *env[] = {policy_env(), "HEADERSHIM_LOG=debug", NULL};
    char *got = inetd_exchange(env);
    ck_assert_ptr_nonnull(got);
    size_t wn;
    char *resp = it_data(RESP, &wn);
    char *want = it_expected(it_policy("test.policy"), "GET / HTTP/1.1\r\n\r\n", 18, resp, wn,
                             false, &wn);
    ck_assert_msg(!strcmp(got, want), "got: %s", got);
    free(got);
    free(resp);
    free(want);
}
END_TEST

START_TEST(inetd_stderr_socket_gets_no_error_message)
{
    const char *env[] = {policy_env(), "HEADERSHIM_CSP=bad", "HEADERSHIM_LOG=debug", NULL};
    char *got = inetd_exchange(env);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(!strcmp(got, RAW), "got: %s", got);
    free(got);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("logs");
    TCase *tc = tcase_create("logs");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, log_file_lines);
    tcase_add_test(tc, log_line_names_the_method);
    tcase_add_test(tc, log_reopens_after_rotation_and_close);
    tcase_add_test(tc, identical_report_lines_once_a_minute);
    tcase_add_test(tc, inetd_stderr_socket_gets_no_log_line);
    tcase_add_test(tc, inetd_stderr_socket_gets_no_error_message);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
