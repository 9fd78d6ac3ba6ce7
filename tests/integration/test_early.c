/*
 * test_early.c - wrappers called before the library's constructor ran
 * (interposition.md 5.3): a shared library the program depends on calls
 * write, dup, fcntl, socketpair, send, recv, writev, close and
 * syscall(SYS_close) from its own constructor, which runs before the
 * preloaded library's. The test compiles that library and program with
 * the system compiler at run time (libfaketime tests this way too).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

static const char early_src[] =
    "#define _GNU_SOURCE\n"
    "#include <fcntl.h>\n#include <string.h>\n#include <sys/socket.h>\n"
    "#include <sys/syscall.h>\n#include <sys/uio.h>\n#include <unistd.h>\n"
    "static const char msg[] = \"HTTP/1.1 200 OK\\r\\nServer: early\\r\\n\\r\\n\";\n"
    "__attribute__((constructor)) static void early(void) {\n"
    "    int d = dup(1);\n"
    "    int e = fcntl(d, F_DUPFD_CLOEXEC, 50);\n"
    "    if (write(e, msg, sizeof msg - 1) != sizeof msg - 1) _exit(11);\n"
    "    int sp[2];\n"
    "    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp)) _exit(12);\n"
    "    struct iovec v[2] = {{(void *)msg, 10}, {(void *)(msg + 10), sizeof msg - 11}};\n"
    "    if (writev(sp[0], v, 2) != sizeof msg - 1) _exit(13);\n"
    "    char buf[256];\n"
    "    ssize_t n = recv(sp[1], buf, sizeof buf, 0);\n"
    "    if (n != sizeof msg - 1 || send(sp[1], buf, (size_t)n, 0) != n) _exit(14);\n"
    "    if (read(sp[0], buf, sizeof buf) != n) _exit(15);\n"
    "    if (write(d, buf, (size_t)n) != n) _exit(16);\n"
    "    close(d); close(sp[0]); syscall(SYS_close, sp[1]); close(e);\n"
    "}\n";

static const char main_src[] =
    "#include <unistd.h>\n"
    "int main(void) { return write(1, \"main\\n\", 5) == 5 ? 0 : 1; }\n";

START_TEST(wrappers_work_from_a_dependency_constructor)
{
    char dir[] = "/tmp/hs_itest_early_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256], cmd[2048];
    snprintf(path, sizeof path, "%s/early.c", dir);
    FILE *f = fopen(path, "w");
    fputs(early_src, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/main.c", dir);
    f = fopen(path, "w");
    fputs(main_src, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "cd %s && cc -shared -fPIC -o libearly.so early.c && "
             "cc -o early_main main.c -Wl,--no-as-needed -L. -learly -Wl,-rpath,%s",
             dir, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "no compiler at run time: skipped\n");
        return;
    }
    snprintf(cmd, sizeof cmd,
             "cd %s && ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 "
             "HEADERSHIM_LOG=debug LD_PRELOAD=%s/libheadershim.so ./early_main > out.txt",
             dir, it_build());
    int st = system(cmd);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "early_main failed: %d", st);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    f = fopen(path, "rb");
    char out[1024];
    size_t n = fread(out, 1, sizeof out - 1, f);
    fclose(f);
    out[n] = '\0';
    const char *want = "HTTP/1.1 200 OK\r\nServer: early\r\n\r\n"
                       "HTTP/1.1 200 OK\r\nServer: early\r\n\r\nmain\n";
    ck_assert_str_eq(out, want);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("early");
    TCase *tc = tcase_create("early");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, wrappers_work_from_a_dependency_constructor);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
