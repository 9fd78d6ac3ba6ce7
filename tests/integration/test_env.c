/*
 * test_env.c - the environment of INTERFACE.md: every variable's error
 * path (the message, then pass-through, or exit 78 with
 * HEADERSHIM_ON_ERROR=exit), policy file errors, report mode
 * (byte-identical output), off, HEADERSHIM_PROCESSES, a second copy of the
 * library, secure-execution mode.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"

#define REQ "GET / HTTP/1.1\r\n\r\n"
#define RESP "HTTP/1.1 200 OK\\r\\nServer: a\\r\\nContent-Length: 5\\r\\n\\r\\nhello"
#define RAW "HTTP/1.1 200 OK\r\nServer: a\r\nContent-Length: 5\r\n\r\nhello"

static const char *policy_env(void)
{
    static char e[4300];
    snprintf(e, sizeof e, "HEADERSHIM_POLICY=%s", it_policy("test.policy"));
    return e;
}

/* Runs one exchange. Returns the exit status; *got the bytes received
 * (NULL if the server never served), *err its standard error. */
static int run_env(const char *const *env, char **got, char **err)
{
    const char *args[] = {"accept", "read read 18", "out write - " RESP, NULL};
    it_server s;
    *got = NULL;
    if (it_start(&s, env, args, true)) {
        int fd = it_connect(s.port);
        if (fd >= 0) {
            size_t n;
            it_send(fd, REQ, 18);
            shutdown(fd, 1);
            *got = it_recv_all(fd, &n);
            close(fd);
        }
    }
    return it_finish(&s, err);
}

static bool rewritten(const char *got)
{
    return got && !strstr(got, "Server:") && strstr(got, "X-Shim: yes\r\n");
}

static const struct bad { const char *var; const char *message; } bads[] = {
    {"HEADERSHIM_MODE=x", "headershim: HEADERSHIM_MODE: unknown value 'x' (expected enforce|report|off)\n"},
    {"HEADERSHIM_LOG=loud", "headershim: HEADERSHIM_LOG: unknown value 'loud' (expected off|error|info|debug)\n"},
    {"HEADERSHIM_TLS=maybe", "headershim: HEADERSHIM_TLS: unknown value 'maybe' (expected auto|on|on:PORTS)\n"},
    {"HEADERSHIM_TLS=on:443,", "headershim: HEADERSHIM_TLS: unknown value 'on:443,' (expected auto|on|on:PORTS)\n"},
    {"HEADERSHIM_CSP=strict", "headershim: HEADERSHIM_CSP: unknown value 'strict' (expected enforce|report-only)\n"},
    {"HEADERSHIM_SOCKETS=udp", "headershim: HEADERSHIM_SOCKETS: unknown value 'udp' (expected tcp|tcp,unix|unix,tcp)\n"},
    {"HEADERSHIM_PORTS=90-80", "headershim: HEADERSHIM_PORTS: invalid value '90-80' (expected ports or ranges such as 80,8000-8099)\n"},
    {"HEADERSHIM_PORTS=http", "headershim: HEADERSHIM_PORTS: invalid value 'http' (expected ports or ranges such as 80,8000-8099)\n"},
    {"HEADERSHIM_MAX_HEADER=0", "headershim: HEADERSHIM_MAX_HEADER: invalid value '0' (expected a number of bytes from 1 to 1048576)\n"},
    {"HEADERSHIM_MAX_HEADER=64k", "headershim: HEADERSHIM_MAX_HEADER: invalid value '64k' (expected a number of bytes from 1 to 1048576)\n"},
    {"HEADERSHIM_MAX_OUTPUT=1048577", "headershim: HEADERSHIM_MAX_OUTPUT: invalid value '1048577' (expected a number of bytes from 1 to 1048576)\n"},
    {"HEADERSHIM_ON_DESYNC=maybe", "headershim: HEADERSHIM_ON_DESYNC: unknown value 'maybe' (expected close|passthrough)\n"},
    {"HEADERSHIM_LOG_FILE=", "headershim: HEADERSHIM_LOG_FILE: empty value\n"},
    {"HEADERSHIM_LOG_FILE=/nonexistent/x.log",
     "headershim: HEADERSHIM_LOG_FILE: cannot open '/nonexistent/x.log': No such file or directory\n"},
};
#define NBADS (sizeof bads / sizeof bads[0])

START_TEST(bad_variable_prints_and_passes_through)
{
    const char *env[] = {policy_env(), bads[_i].var, NULL};
    char *got, *err;
    int st = run_env(env, &got, &err);
    ck_assert_int_eq(st, 0);
    ck_assert_msg(!strcmp(err, bads[_i].message), "stderr: %s", err);
    ck_assert_msg(got && !strcmp(got, RAW), "not passed through: %s", got ? got : "(nothing)");
    free(got);
    free(err);
}
END_TEST

START_TEST(bad_variable_with_on_error_exit_exits_78)
{
    const char *env[] = {policy_env(), bads[_i].var, "HEADERSHIM_ON_ERROR=exit", NULL};
    char *got, *err;
    int st = run_env(env, &got, &err);
    ck_assert_int_eq(st, 78);
    ck_assert_msg(!strcmp(err, bads[_i].message), "stderr: %s", err);
    ck_assert_ptr_null(got);
    free(err);
}
END_TEST

START_TEST(bad_on_error_value)
{
    const char *env[] = {policy_env(), "HEADERSHIM_ON_ERROR=explode", NULL};
    char *got, *err;
    ck_assert_int_eq(run_env(env, &got, &err), 0);
    ck_assert_str_eq(err, "headershim: HEADERSHIM_ON_ERROR: unknown value 'explode' (expected passthrough|exit)\n");
    ck_assert_str_eq(got, RAW);
    free(got);
    free(err);
}
END_TEST

static char *write_temp(const char *text, size_t n)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/hs_itest_XXXXXX.policy");
    int fd = mkstemps(path, 7);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

START_TEST(policy_errors)
{
    /* each: a policy spec, a piece its message must contain */
    char *bad = strdup(write_temp("remove Server\nfrobnicate X\n", 27));
    char *big_text = malloc(1048577 + 16);
    memset(big_text, '#', 1048577);
    char *big = strdup(write_temp(big_text, 1048577));
    free(big_text);
    struct { const char *spec; const char *needle; } cases[] = {
        {"/nonexistent/x.policy", "/nonexistent/x.policy"},
        {"/tmp/", "not a regular file"},
        {bad, ":2:1: "},
        {big, "over 1 MiB"},
        {"nosuchpreset", "nosuchpreset"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char pe[4300];
        snprintf(pe, sizeof pe, "HEADERSHIM_POLICY=%s", cases[i].spec);
        for (int exit_mode = 0; exit_mode < 2; exit_mode++) {
            const char *env[] = {pe, exit_mode ? "HEADERSHIM_ON_ERROR=exit" : NULL, NULL};
            char *got, *err;
            int st = run_env(env, &got, &err);
            ck_assert_msg(!strncmp(err, "headershim: ", 12) && strstr(err, cases[i].needle),
                          "%s: stderr: %s", cases[i].spec, err);
            if (exit_mode) {
                ck_assert_int_eq(st, 78);
            } else {
                ck_assert_int_eq(st, 0);
                ck_assert_msg(got && !strcmp(got, RAW), "%s: not passed through", cases[i].spec);
            }
            free(got);
            free(err);
        }
    }
    unlink(bad);
    unlink(big);
    free(bad);
    free(big);
}
END_TEST

START_TEST(report_mode_changes_no_byte)
{
    it_case c = {.name = "report", .req = "GET / HTTP/1.1\\r\\n\\r\\nGET /2 HTTP/1.1\\r\\n\\r\\n",
                 .resp = RESP RESP, .report = true,
                 .script = {"accept", "read read *", "out write 1 " RESP, "out writev 5,30 " RESP}};
    char why[2048];
    ck_assert_msg(it_run_case(&c, why, sizeof why), "%s", why);
    /* and it says what it would have changed */
    const char *env[] = {policy_env(), "HEADERSHIM_MODE=report", NULL};
    char *got, *err;
    ck_assert_int_eq(run_env(env, &got, &err), 0);
    ck_assert_str_eq(got, RAW);
    ck_assert_msg(strstr(err, "\"event\":\"report\"") && strstr(err, "\"removed\":[\"Server\"]"),
                  "no report line: %s", err);
    free(got);
    free(err);
}
END_TEST

START_TEST(mode_off_does_nothing_at_all)
{
    /* not even the policy is read: a broken one draws no message */
    const char *env[] = {"HEADERSHIM_POLICY=/nonexistent.policy", "HEADERSHIM_MODE=off",
                         "HEADERSHIM_LOG=debug", NULL};
    char *got, *err;
    ck_assert_int_eq(run_env(env, &got, &err), 0);
    ck_assert_str_eq(got, RAW);
    ck_assert_str_eq(err, "");
    free(got);
    free(err);
}
END_TEST

START_TEST(processes_list)
{
    const char *lists[] = {"nginx", "hs_server", "nginx,hs_server,java"};
    for (int i = 0; i < 3; i++) {
        char pe[128];
        snprintf(pe, sizeof pe, "HEADERSHIM_PROCESSES=%s", lists[i]);
        const char *env[] = {policy_env(), pe, NULL};
        char *got, *err;
        ck_assert_int_eq(run_env(env, &got, &err), 0);
        if (i == 0)
            ck_assert_msg(got && !strcmp(got, RAW), "rewritten in an unlisted process");
        else
            ck_assert_msg(rewritten(got), "%s: not rewritten", lists[i]);
        free(got);
        free(err);
    }
}
END_TEST

/* Files a test must remove even when an assertion ends it (Check's fork
 * mode exits the test process: atexit handlers run). */
static char cleanup_paths[3][256];
static void cleanup_files(void)
{
    for (int i = 0; i < 3; i++)
        if (cleanup_paths[i][0])
            unlink(cleanup_paths[i]);
}

/* Under `make SAN=1` two tests are left to the plain build: two copies of
 * an instrumented library register the same globals (ASan reports an ODR
 * violation), and ASan's runtime refuses a setuid program. */
static bool sanitizer_build(const char *test)
{
    if (!strstr(it_build(), "-san"))
        return false;
    fprintf(stderr, "%s: skipped in the sanitizer build (see the comment)\n",
            test);
    return true;
}

START_TEST(second_copy_stays_inert)
{
    if (sanitizer_build("second_copy_stays_inert"))
        return;
    char lib[4200], copy[] = "/tmp/hs_itest_copy_XXXXXX.so", cmd[9000];
    snprintf(lib, sizeof lib, "%s/libheadershim.so", it_build());
    int fd = mkstemps(copy, 3);
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(cleanup_paths[2], sizeof cleanup_paths[2], "%s", copy);
    atexit(cleanup_files);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", lib, copy);
    ck_assert_int_eq(system(cmd), 0);
    char pre[9000];
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s %s", lib, copy);
    const char *env[] = {policy_env(), pre, "HEADERSHIM_LOG=info", NULL};
    char *got, *err;
    ck_assert_int_eq(run_env(env, &got, &err), 0);
    unlink(copy);
    ck_assert_msg(rewritten(got), "not rewritten");
    /* rewritten once: one X-Shim line, one start line */
    ck_assert_ptr_null(strstr(strstr(got, "X-Shim: yes") + 1, "X-Shim"));
    char *start = strstr(err, "\"event\":\"start\"");
    ck_assert_msg(start && !strstr(start + 1, "\"event\":\"start\""), "start lines: %s", err);
    free(got);
    free(err);
}
END_TEST

/* Secure-execution mode: a setuid copy of the server, run by root, gets
 * AT_SECURE. ld.so then loads preloads only by bare name from the trusted
 * directories when they are setuid too, so we install such a copy for the
 * test. The control run (same library, plain binary) must rewrite; the
 * setuid run must map the library (checked in /proc) and change nothing. */
START_TEST(secure_execution_ignores_every_variable)
{
    if (sanitizer_build("secure_execution_ignores_every_variable"))
        return;
    if (geteuid() != 0) {
        fprintf(stderr, "secure-execution test needs root: skipped\n");
        return;
    }
    char libdir[] = "/usr/lib/x86_64-linux-gnu";
    struct stat st;
    if (stat(libdir, &st) != 0) {
        fprintf(stderr, "no %s: skipped\n", libdir);
        return;
    }
    char name[64], lib[256], prog[] = "/tmp/hs_itest_suid_XXXXXX", cmd[9000];
    snprintf(name, sizeof name, "libheadershim-itest-%d.so", (int)getpid());
    snprintf(lib, sizeof lib, "%s/%s", libdir, name);
    int fd = mkstemp(prog);
    close(fd);
    snprintf(cleanup_paths[0], sizeof cleanup_paths[0], "%s", lib);
    snprintf(cleanup_paths[1], sizeof cleanup_paths[1], "%s", prog);
    atexit(cleanup_files);
    snprintf(cmd, sizeof cmd, "cp '%s/libheadershim.so' '%s' && chmod 4755 '%s' && cp '%s/progs/hs_server' '%s' && chmod 0755 '%s'",
             it_build(), lib, lib, it_build(), prog, prog);
    ck_assert_int_eq(system(cmd), 0);
    char pre[128];
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", name);
    for (int suid = 0; suid < 2; suid++) {
        if (suid) {
            snprintf(cmd, sizeof cmd, "chown nobody '%s' && chmod 4755 '%s'", prog, prog);
            ck_assert_int_eq(system(cmd), 0);
        }
        const char *env[] = {policy_env(), pre, "HEADERSHIM_LOG=info", NULL};
        const char *args[] = {"accept", "read read 18", "out write - " RESP, NULL};
        it_server s;
        ck_assert(it_start_prog(&s, prog, env, args, false));
        char maps_path[64], maps[65536];
        snprintf(maps_path, sizeof maps_path, "/proc/%d/maps", (int)s.pid);
        int mf = open(maps_path, O_RDONLY);
        size_t mn = 0;
        ssize_t r;
        while (mf >= 0 && mn < sizeof maps - 1 &&
               (r = read(mf, maps + mn, sizeof maps - 1 - mn)) > 0)
            mn += (size_t)r;
        if (mf >= 0)
            close(mf);
        maps[mn] = '\0';
        int cfd = it_connect(s.port);
        it_send(cfd, REQ, 18);
        shutdown(cfd, SHUT_WR);
        size_t n;
        char *got = it_recv_all(cfd, &n);
        close(cfd);
        char *err;
        ck_assert_int_eq(it_finish(&s, &err), 0);
        ck_assert_msg(strstr(maps, name) != NULL, "library not loaded (suid=%d)", suid);
        if (suid) {
            ck_assert_msg(got && !strcmp(got, RAW), "setuid run was rewritten");
            ck_assert_str_eq(err, "");
        } else {
            ck_assert_msg(rewritten(got), "control run not rewritten");
            ck_assert_msg(strstr(err, "\"event\":\"start\""), "control: no start line");
        }
        free(got);
        free(err);
    }
    unlink(lib);
    unlink(prog);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("environment");
    TCase *tc = tcase_create("environment");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, bad_variable_prints_and_passes_through, 0, (int)NBADS);
    tcase_add_loop_test(tc, bad_variable_with_on_error_exit_exits_78, 0, (int)NBADS);
    tcase_add_test(tc, bad_on_error_value);
    tcase_add_test(tc, policy_errors);
    tcase_add_test(tc, report_mode_changes_no_byte);
    tcase_add_test(tc, mode_off_does_nothing_at_all);
    tcase_add_test(tc, processes_list);
    tcase_add_test(tc, second_copy_stays_inert);
    tcase_add_test(tc, secure_execution_ignores_every_variable);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
