/*
 * test_launcher.c - `headershim [OPTIONS] -- COMMAND`: the policy check
 * (exit 78), every refusal (static, Go, setuid, setgid, file capabilities,
 * through a #! interpreter too; exit 126) and --force, PATH resolution,
 * the variables and LD_PRELOAD it sets, and `make install` with the
 * installed command finding the installed library.
 *
 * Most cases run a copy of the command next to a stand-in library built
 * here, so that what is checked is the launcher alone (and a broken or
 * sanitizer-built library cannot mask it); the install test uses the real
 * library.
 */
#include <check.h>

#include "headershim.h"
#include "cli-data/run.h"

#include <elf.h>
#include <stdarg.h>
#include <sys/xattr.h>

#define DATA "tests/integration/cli-data/"

static char dir[] = "/tmp/hs-launch.XXXXXX"; /* per test, see setup() */
static char cmd[600];                         /* dir/headershim */

static void sh(const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    int rc = system(line);
    ck_assert_msg(rc == 0, "'%s' failed (%d)", line, rc);
}

/* A fresh dir with the command and a stand-in libheadershim.so. */
static void setup(void)
{
    strcpy(dir, "/tmp/hs-launch.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "%s/headershim", dir);
    sh("cp '%s' '%s'", headershim_path(), cmd);
    sh("printf 'int headershim_stand_in;\\n' > %s/lib.c && "
       "cc -shared -fPIC -o %s/libheadershim.so %s/lib.c", dir, dir, dir);
    /* A dynamic program that prints its arguments, its exit status 7. */
    sh("printf '#include <stdio.h>\\nint main(int c, char **v) { for (int i "
       "= 1; i < c; i++) printf(\"%%%%s\\\\n\", v[i]); return 7; }\\n' > "
       "%s/prog.c && cc -o %s/dynamic %s/prog.c", dir, dir, dir);
}

static void teardown(void)
{
    sh("rm -rf '%s'", dir);
}

/* launch(env, args..., NULL): runs dir/headershim ARGS in dir. */
static run_result launch(const char *const *env, ...)
{
    const char *argv[32] = {cmd};
    int n = 1;
    va_list ap;
    va_start(ap, env);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 31)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return run_in(dir, NULL, env, argv);
}

static void assert_refused(run_result *r, const char *prog, const char *why)
{
    ck_assert_int_eq(r->status, 126);
    ck_assert_str_eq(r->out, "");
    char want[1024];
    snprintf(want, sizeof want, "headershim: refusing to run %s: ", prog);
    ck_assert_msg(strncmp(r->err, want, strlen(want)) == 0, "%s", r->err);
    ck_assert_msg(strstr(r->err, why) != NULL, "no '%s' in %s", why, r->err);
    ck_assert_msg(strstr(r->err, "(--force runs it anyway)\n") != NULL, "%s",
                  r->err);
}

/* Zeroes e_shoff, e_shnum and e_shstrndx of dir/name (ELF64). */
static void drop_section_headers(const char *name)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    Elf64_Ehdr eh;
    ck_assert_int_eq(pread(fd, &eh, sizeof eh, 0), (ssize_t)sizeof eh);
    ck_assert_int_eq(eh.e_ident[EI_CLASS], ELFCLASS64);
    eh.e_shoff = 0;
    eh.e_shnum = 0;
    eh.e_shstrndx = 0;
    ck_assert_int_eq(pwrite(fd, &eh, sizeof eh, 0), (ssize_t)sizeof eh);
    close(fd);
}

/* ------------------------------------------------------------- refusals */

START_TEST(refuses_static_binary)
{
    if (access("/usr/lib/x86_64-linux-gnu/libc.a", F_OK) != 0 &&
        access("/usr/lib/libc.a", F_OK) != 0 &&
        access("/usr/lib64/libc.a", F_OK) != 0) {
        printf("skipped refuses_static_binary: no libc.a for cc -static "
               "(Debian: apt-get install libc6-dev)\n");
        return;
    }
    sh("cc -static -o %s/static %s/prog.c", dir, dir);
    run_result r = launch(NULL, "--", "./static", NULL);
    assert_refused(&r, "./static", "is statically linked (no PT_INTERP)");
    run_free(&r);

    /* --force runs it anyway, with a warning; its own status comes back. */
    r = launch(NULL, "--force", "--", "./static", "a b", NULL);
    ck_assert_int_eq(r.status, 7);
    ck_assert_str_eq(r.out, "a b\n");
    ck_assert_msg(strncmp(r.err, "headershim: warning: ./static: it is "
                                 "statically linked", 37) == 0, "%s", r.err);
    run_free(&r);

    /* A script is judged by its interpreter. */
    sh("printf '#!%s/static -x\\n' > %s/script && chmod +x %s/script", dir,
       dir, dir);
    r = launch(NULL, "--", "./script", NULL);
    char why[700];
    snprintf(why, sizeof why, "its interpreter %s/static is statically "
             "linked", dir);
    assert_refused(&r, "./script", why);
    run_free(&r);
}
END_TEST

START_TEST(refuses_go_binary)
{
    /* Go's build-id note as Go's linker writes it: name "Go\0\0" with
     * namesz 4, type 4, in .note.go.buildid. */
    sh("printf '%s' > %s/go.c && cc -o %s/gobin %s/go.c",
       "struct note { unsigned namesz, descsz, type; char name[4]; char "
       "desc[8]; };\\n"
       "__attribute__((section(\".note.go.buildid\"), used, aligned(4))) "
       "static const struct note go = { 4, 8, 4, \"Go\", \"buildid\" };\\n"
       "int main(void) { return 0; }\\n",
       dir, dir, dir);
    run_result r = launch(NULL, "--", "./gobin", NULL);
    assert_refused(&r, "./gobin", "is a Go binary");
    run_free(&r);

    /* The same binary without section headers (as some packers leave
     * it): the note is still found in its PT_NOTE segment. */
    sh("cp %s/gobin %s/gobin-stripped", dir, dir);
    drop_section_headers("gobin-stripped");
    r = launch(NULL, "--", "./gobin-stripped", NULL);
    assert_refused(&r, "./gobin-stripped", "is a Go binary");
    run_free(&r);

    /* A .go.buildinfo section alone. */
    sh("printf '%s' > %s/go2.c && cc -o %s/gobin2 %s/go2.c",
       "__attribute__((section(\".go.buildinfo\"), used)) static const char "
       "info[16] = \"\\\\377 Go buildinf:\";\\nint main(void) { return 0; "
       "}\\n",
       dir, dir, dir);
    r = launch(NULL, "--", "./gobin2", NULL);
    assert_refused(&r, "./gobin2", "is a Go binary");
    run_free(&r);
}
END_TEST

START_TEST(refuses_setuid_and_setgid)
{
    sh("cp %s/dynamic %s/suid && chmod u+s %s/suid", dir, dir, dir);
    run_result r = launch(NULL, "--", "./suid", NULL);
    assert_refused(&r, "./suid", "is setuid");
    run_free(&r);

    sh("cp %s/dynamic %s/sgid && chmod g+s %s/sgid", dir, dir, dir);
    r = launch(NULL, "--", "./sgid", NULL);
    assert_refused(&r, "./sgid", "is setgid");
    run_free(&r);

    r = launch(NULL, "--force", "--", "./suid", "x", NULL);
    ck_assert_int_eq(r.status, 7);
    ck_assert_str_eq(r.out, "x\n");
    run_free(&r);
}
END_TEST

START_TEST(refuses_file_capabilities)
{
    if (system("command -v setcap >/dev/null 2>&1") != 0) {
        printf("skipped refuses_file_capabilities: setcap not installed "
               "(Debian: apt-get install libcap2-bin)\n");
        return;
    }
    sh("cp %s/dynamic %s/capped", dir, dir);
    char path[700];
    snprintf(path, sizeof path, "%s/capped", dir);
    char line[900];
    snprintf(line, sizeof line,
             "setcap cap_net_bind_service=+ep %s 2>/dev/null", path);
    if (system(line) != 0 ||
        getxattr(path, "security.capability", NULL, 0) <= 0) {
        printf("skipped refuses_file_capabilities: setcap failed here (not "
               "root, or no xattr support in %s)\n", dir);
        return;
    }
    run_result r = launch(NULL, "--", "./capped", NULL);
    assert_refused(&r, "./capped", "has file capabilities (setcap)");
    run_free(&r);
}
END_TEST

/* ---------------------------------------------------- the happy path */

START_TEST(sets_ld_preload_and_variables)
{
    char lib[700], want[2048];
    snprintf(lib, sizeof lib, "%s/libheadershim.so", dir);
    /* The library goes first; an existing LD_PRELOAD is kept after it. */
    const char *const env[] = {"LD_PRELOAD=/nonexistent/other.so",
                               "HEADERSHIM_POLICY", NULL};
    run_result r = launch(env, "-p", "api", "--", "/bin/sh", "-c",
                          "printf '%s\\n' \"$LD_PRELOAD\" \"$HEADERSHIM_POLICY\"",
                          NULL);
    ck_assert_int_eq(r.status, 0);
    snprintf(want, sizeof want, "%s:/nonexistent/other.so\napi\n", lib);
    ck_assert_str_eq(r.out, want);
    run_free(&r);

    /* Every option's variable; relative paths made absolute. */
    sh("cp %s/good.policy %s/site.policy", DATA, dir);
    const char *const clean[] = {"LD_PRELOAD", "LC_ALL=C", NULL};
    r = launch(clean, "-p", "site.policy", "--report", "--tls=443,8443",
               "--csp-report-only", "--log", "debug", "--log-file",
               "logs/shim.log", "--ports", "80,8000-8099", "--processes",
               "sh,nginx", "--", "sh", "-c", "env | grep -E "
               "'^(LD_PRELOAD|HEADERSHIM_)' | sort", NULL);
    ck_assert_int_eq(r.status, 0);
    snprintf(want, sizeof want,
             "HEADERSHIM_CSP=report-only\n"
             "HEADERSHIM_LOG=debug\n"
             "HEADERSHIM_LOG_FILE=%s/logs/shim.log\n"
             "HEADERSHIM_MODE=report\n"
             "HEADERSHIM_POLICY=%s/site.policy\n"
             "HEADERSHIM_PORTS=80,8000-8099\n"
             "HEADERSHIM_PROCESSES=sh,nginx\n"
             "HEADERSHIM_TLS=on:443,8443\n"
             "LD_PRELOAD=%s\n", dir, dir, lib);
    ck_assert_str_eq(r.out, want);
    ck_assert_str_eq(r.err, "");
    run_free(&r);

    /* --tls alone; an inherited relative HEADERSHIM_POLICY made absolute. */
    const char *const inherited[] = {"HEADERSHIM_POLICY=./site.policy",
                                     NULL};
    r = launch(inherited, "--tls", "--", "sh", "-c",
               "echo \"$HEADERSHIM_TLS $HEADERSHIM_POLICY\"", NULL);
    ck_assert_int_eq(r.status, 0);
    snprintf(want, sizeof want, "on %s/site.policy\n", dir);
    ck_assert_str_eq(r.out, want);
    run_free(&r);
}
END_TEST

START_TEST(resolves_command_through_path)
{
    char path_var[800];
    snprintf(path_var, sizeof path_var, "PATH=/nonexistent:%s:/usr/bin:/bin",
             dir);
    const char *const env[] = {path_var, NULL};
    run_result r = launch(env, "--", "dynamic", "one", NULL);
    ck_assert_int_eq(r.status, 7);
    ck_assert_str_eq(r.out, "one\n");
    ck_assert_str_eq(r.err, "");
    run_free(&r);

    /* PATH finds a static binary: refused under its resolved path. */
    if (access("/usr/lib/x86_64-linux-gnu/libc.a", F_OK) == 0) {
        sh("cc -static -o %s/static %s/prog.c", dir, dir);
        r = launch(env, "--", "static", NULL);
        char prog[700];
        snprintf(prog, sizeof prog, "%s/static", dir);
        assert_refused(&r, prog, "statically linked");
        run_free(&r);
    }

    r = launch(env, "--", "no-such-command-here", NULL);
    ck_assert_int_eq(r.status, 127);
    ck_assert_str_eq(r.err, "headershim: no-such-command-here: command not "
                     "found\n");
    run_free(&r);

    sh("printf 'x' > %s/not-exec && chmod 0644 %s/not-exec", dir, dir);
    r = launch(NULL, "--", "./not-exec", NULL);
    ck_assert_int_eq(r.status, 126);
    ck_assert_str_eq(r.err, "headershim: ./not-exec: permission denied\n");
    run_free(&r);
}
END_TEST

START_TEST(bad_policy_exits_78)
{
    sh("cp %s/bad-directive.policy %s/bad.policy", DATA, dir);
    run_result r = launch(NULL, "-p", "bad.policy", "--", "./dynamic", NULL);
    ck_assert_int_eq(r.status, 78);
    char want[900];
    snprintf(want, sizeof want, "%s/bad.policy:4:1: unknown directive "
             "'sett' (did you mean 'set'?)\n", dir);
    ck_assert_str_eq(r.err, want);
    ck_assert_str_eq(r.out, "");
    run_free(&r);

    /* Validated before anything else: even a refused command gets 78. */
    sh("cp %s/dynamic %s/suid && chmod u+s %s/suid", dir, dir, dir);
    r = launch(NULL, "-p", "nonexistent-preset", "--", "./suid", NULL);
    ck_assert_int_eq(r.status, 78);
    run_free(&r);

    const char *const env[] = {"HEADERSHIM_POLICY=bad.policy", NULL};
    r = launch(env, "--", "./dynamic", NULL);
    ck_assert_int_eq(r.status, 78);
    ck_assert_str_eq(r.err, want);
    run_free(&r);
}
END_TEST

START_TEST(usage_errors_exit_2)
{
    static const char *const cases[][4] = {
        {"-p", "api", "./dynamic", NULL},     /* no -- */
        {"--", NULL},                         /* no COMMAND */
        {"--log", "loud", "--", "./dynamic"}, /* bad level */
        {"--ports", "80,", "--", "./dynamic"},
        {"--tls=https", "--", "./dynamic", NULL},
        {"--frobnicate", "--", "./dynamic", NULL},
        {"--log-file", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        run_result r = launch(NULL, cases[i][0], cases[i][1], cases[i][2],
                              cases[i][3], NULL);
        ck_assert_msg(r.status == 2, "case %zu: %d %s", i, r.status, r.err);
        ck_assert_str_eq(r.out, "");
        ck_assert_msg(strncmp(r.err, "headershim: ", 12) == 0, "%s", r.err);
        run_free(&r);
    }
    run_result r = launch(NULL, "--log", "loud", "--", "./dynamic", NULL);
    ck_assert_str_eq(r.err, "headershim: --log: unknown value 'loud' "
                     "(expected off|error|info|debug)\n");
    run_free(&r);
}
END_TEST

START_TEST(missing_library_exits_125)
{
    sh("rm %s/libheadershim.so", dir);
    run_result r = launch(NULL, "--", "./dynamic", NULL);
    ck_assert_int_eq(r.status, 125);
    ck_assert_msg(strncmp(r.err, "headershim: cannot find libheadershim.so",
                          40) == 0, "%s", r.err);
    run_free(&r);
}
END_TEST

/* `make install PREFIX=...`: the layout of INTERFACE.md, and the
 * installed command finds the installed library (../lib/headershim). */
START_TEST(install_layout_and_library_lookup)
{
    char prefix[700];
    snprintf(prefix, sizeof prefix, "%s/prefix", dir);
    const char *b = build_dir();
    const char *san = strstr(b, "san") ? "SAN=1" : "";
    sh("make -s --no-print-directory %s install PREFIX=%s >/dev/null", san,
       prefix);
    char path[900];
    static const char *const files[] = {
        "bin/headershim", "lib/headershim/libheadershim.so",
        "share/headershim/policies/api.policy",
        "share/headershim/policies/website.policy",
        "share/headershim/policies/strip.policy",
        "share/headershim/policies/auto.policy",
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", prefix, files[i]);
        ck_assert_msg(access(path, F_OK) == 0, "missing %s", path);
    }
    snprintf(path, sizeof path, "%s/bin/headershim", prefix);
    ck_assert_int_eq(access(path, X_OK), 0);

    /* The installed presets are the compiled-in ones. */
    const hs_preset *api = hs_preset_find("api");
    size_t len;
    snprintf(path, sizeof path, "%s/share/headershim/policies/api.policy",
             prefix);
    char *text = read_data(path, &len);
    ck_assert_uint_eq(len, api->source_len);
    ck_assert(memcmp(text, api->source, len) == 0);
    free(text);

    /* The installed command, under the real installed library. */
    snprintf(path, sizeof path, "%s/bin/headershim", prefix);
    const char *argv[] = {path, "--", "/bin/sh", "-c",
                          "printf '%s\\n' \"$LD_PRELOAD\"", NULL};
    /* A SAN=1 library links the sanitizer runtime, which refuses to load
     * behind an uninstrumented program unless told not to check. */
    const char *const env[] = {"LD_PRELOAD",
                               "ASAN_OPTIONS=verify_asan_link_order=0", NULL};
    run_result r = run_in(dir, NULL, env, argv);
    ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
    char want[900];
    snprintf(want, sizeof want, "%s/lib/headershim/libheadershim.so\n",
             prefix);
    ck_assert_str_eq(r.out, want);
    run_free(&r);

    /* Through a symlink elsewhere, as /usr/local/bin links often are. */
    char link[900];
    snprintf(link, sizeof link, "%s/hs-link", dir);
    ck_assert_int_eq(symlink(path, link), 0);
    argv[0] = link;
    r = run_in(dir, NULL, env, argv);
    ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
    ck_assert_str_eq(r.out, want);
    run_free(&r);
}
END_TEST

static Suite *launcher_suite(void)
{
    Suite *s = suite_create("launcher");
    TCase *t = tcase_create("launcher");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, refuses_static_binary);
    tcase_add_test(t, refuses_go_binary);
    tcase_add_test(t, refuses_setuid_and_setgid);
    tcase_add_test(t, refuses_file_capabilities);
    tcase_add_test(t, sets_ld_preload_and_variables);
    tcase_add_test(t, resolves_command_through_path);
    tcase_add_test(t, bad_policy_exits_78);
    tcase_add_test(t, usage_errors_exit_2);
    tcase_add_test(t, missing_library_exits_125);
    tcase_add_test(t, install_layout_and_library_lookup);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(launcher_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
