/*
 * test_policy_load.c - hs_policy_load and `include` against an in-memory
 * file system: presets, relative paths, normalisation, nesting depth,
 * cycles, and where each file-level error is reported (POLICY.md
 * "Errors"). Also hs_policy_format and its round trip.
 */
#include "test_policy_util.h"

#define B "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: x\r\n\r\n"

static hs_policy *load(const char *spec, fake_fs *fs, diags *d)
{
    memset(d, 0, sizeof *d);
    return hs_policy_load(spec, fake_load, fs, diag_collect, d);
}

START_TEST(presets_load)
{
    static const char *const names[] = { "strip", "api", "website", "auto" };
    ck_assert_uint_eq(hs_npresets, 4);
    for (size_t i = 0; i < 4; i++) {
        const hs_preset *pr = hs_preset_find(names[i]);
        ck_assert_ptr_nonnull(pr);
        ck_assert_uint_gt(strlen(pr->description), 10);
        /* the generator takes the description from "# NAME: ..." */
        char head[64];
        snprintf(head, sizeof head, "# %s: ", names[i]);
        ck_assert(strncmp(pr->source, head, strlen(head)) == 0);
        diags d;
        hs_policy *p = load(names[i], NULL, &d);
        ck_assert_msg(p != NULL, "%s", d.text);
        hs_policy_free(p);
    }
    diags d;
    ck_assert_ptr_null(load("nope", NULL, &d));
    ck_assert_str_eq(d.text, "nope:1:1: unknown preset 'nope' (the presets are "
                     "api, auto, strip, website; a path needs a '/' or the "
                     ".policy suffix)\n");
}
END_TEST

START_TEST(relative_includes)
{
    static const fake_file files[] = {
        { "/etc/hs/site.policy", "include common/base.policy\nset X-Site 1\n" },
        { "/etc/hs/common/base.policy", "include ../extra.policy\ninclude strip\nset X-Base 1\n" },
        { "/etc/hs/extra.policy", "set X-Extra 1\n" },
    };
    fake_fs fs = { files, 3, 0 };
    diags d;
    hs_policy *p = load("/etc/hs/site.policy", &fs, &d);
    ck_assert_msg(p != NULL, "%s", d.text);
    rw_result r;
    hs_request req = no_request();
    ck_assert_str_eq(rewrite_with(p, B, &req, NULL, &r),
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     "X-Extra: 1\r\nX-Base: 1\r\nX-Site: 1\r\n\r\n");
    char *f = format_policy(p);
    ck_assert_ptr_nonnull(strstr(f, "set X-Extra 1\nremove Server\n"));
    free(f);
    hs_policy_free(p);
    ck_assert_int_eq(fs.loads, 3);
}
END_TEST

START_TEST(relative_to_a_relative_file)
{
    static const fake_file files[] = {
        { "conf/a.policy", "include ./sub/../b.policy\n" },
        { "conf/b.policy", "include c/d.policy\n" },
        { "conf/c/d.policy", "include ../../top.policy\n" },
        { "top.policy", "set X 1\n" },
    };
    fake_fs fs = { files, 4, 0 };
    diags d;
    hs_policy *p = load("conf/a.policy", &fs, &d);
    ck_assert_msg(p != NULL, "%s", d.text);
    hs_policy_free(p);
    /* hs_policy_parse anchors includes at its file name */
    memset(&d, 0, sizeof d);
    p = hs_policy_parse("conf/c/x.policy", "include d.policy\n", 16, fake_load,
                        &fs, diag_collect, &d);
    ck_assert_msg(p != NULL, "%s", d.text);
    hs_policy_free(p);
}
END_TEST

START_TEST(include_errors_at_the_directive)
{
    static const fake_file files[] = {
        { "a.policy", "set A 1\n  include missing.policy\ninclude nopreset\n" },
        { "dir.policy", NULL },
        { "b.policy", "include dir.policy\n" },
        { "big.policy", NULL },
    };
    fake_fs fs = { files, 4, 0 };
    diags d;
    ck_assert_ptr_null(load("a.policy", &fs, &d));
    ck_assert_str_eq(d.text,
                     "a.policy:2:11: cannot include 'missing.policy': cannot "
                     "be read: No such file or directory\n"
                     "a.policy:3:9: unknown preset 'nopreset' (the presets are "
                     "api, auto, strip, website; a path needs a '/' or the "
                     ".policy suffix)\n");
    /* a file-level error of the included file: at FILE:1:1 */
    ck_assert_ptr_null(load("b.policy", &fs, &d));
    ck_assert_str_eq(d.text, "dir.policy:1:1: not a regular file\n");
    /* and of the top file */
    ck_assert_ptr_null(load("dir.policy", &fs, &d));
    ck_assert_str_eq(d.text, "dir.policy:1:1: not a regular file\n");
    ck_assert_ptr_null(load("none.policy", &fs, &d));
    ck_assert_str_eq(d.text, "none.policy:1:1: cannot be read: No such file or directory\n");
    /* without a loader, a path include cannot be read */
    ck_assert_str_eq(parse_errors("include x.policy\n"),
                     "t.policy:1:9: cannot include 'x.policy': cannot be read: no loader\n");
}
END_TEST

START_TEST(cycles)
{
    static const fake_file files[] = {
        { "a.policy", "include b.policy\n" },
        { "b.policy", "set B 1\ninclude ./a.policy\n" },
        { "self.policy", "include self.policy\n" },
    };
    fake_fs fs = { files, 3, 0 };
    diags d;
    ck_assert_ptr_null(load("a.policy", &fs, &d));
    ck_assert_str_eq(d.text, "b.policy:2:9: include cycle: './a.policy' is "
                     "already being included\n");
    ck_assert_ptr_null(load("self.policy", &fs, &d));
    ck_assert_str_eq(d.text, "self.policy:1:9: include cycle: 'self.policy' is "
                     "already being included\n");
    /* the same file twice, not nested, is no cycle */
    static const fake_file twice[] = {
        { "t.policy", "include c.policy\ninclude c.policy\n" },
        { "c.policy", "add X 1\n" },
    };
    fake_fs fs2 = { twice, 2, 0 };
    hs_policy *p = load("t.policy", &fs2, &d);
    ck_assert_ptr_nonnull(p);
    hs_policy_free(p);
    /* presets including presets: api includes strip; strip twice is fine */
    ck_assert_ptr_nonnull(p = parse_ok("include api\ninclude strip\ninclude website\n"));
    hs_policy_free(p);
}
END_TEST

START_TEST(depth_limit)
{
    /* l0 includes l1 ... ; l8 is 8 levels below the top: allowed */
    char paths[10][16], texts[10][32];
    fake_file files[10];
    for (int i = 0; i < 10; i++) {
        snprintf(paths[i], sizeof paths[i], "l%d.policy", i);
        if (i < 9)
            snprintf(texts[i], sizeof texts[i], "include l%d.policy\n", i + 1);
        else
            snprintf(texts[i], sizeof texts[i], "set X 1\n");
        files[i].path = paths[i];
        files[i].text = texts[i];
    }
    fake_fs fs = { files, 10, 0 };
    diags d;
    ck_assert_ptr_null(load("l0.policy", &fs, &d));
    ck_assert_str_eq(d.text, "l8.policy:1:9: cannot include 'l9.policy': "
                     "includes nest at most 8 levels deep\n");
    hs_policy *p = load("l1.policy", &fs, &d);
    ck_assert_msg(p != NULL, "%s", d.text);
    hs_policy_free(p);
}
END_TEST

START_TEST(preset_including_a_preset)
{
    /* api includes strip: its removes are spliced in place, first */
    diags d;
    hs_policy *p = load("api", NULL, &d);
    ck_assert_ptr_nonnull(p);
    char *f = format_policy(p);
    ck_assert(strncmp(f, "remove Server\nremove X-Powered-By\n", 34) == 0);
    ck_assert_ptr_nonnull(strstr(f, "remove X-ruxit-JS-Agent\nremove X-XSS-Protection\n"));
    free(f);
    hs_policy_free(p);
}
END_TEST

START_TEST(over_one_mib)
{
    size_t n = (1u << 20) + 1;
    char *text = malloc(n + 1);
    memset(text, '#', n);
    text[n] = '\0';
    diags d;
    memset(&d, 0, sizeof d);
    ck_assert_ptr_null(hs_policy_parse("big.policy", text, n, NULL, NULL,
                                       diag_collect, &d));
    ck_assert_str_eq(d.text, "big.policy:1:1: over 1 MiB\n");
    fake_file files[] = { { "big.policy", text }, { "inc.policy", "include big.policy\n" } };
    fake_fs fs = { files, 2, 0 };
    ck_assert_ptr_null(load("inc.policy", &fs, &d));
    ck_assert_str_eq(d.text, "big.policy:1:1: over 1 MiB\n");
    free(text);
}
END_TEST

START_TEST(errors_in_included_files_name_them)
{
    static const fake_file files[] = {
        { "main.policy", "include sub/x.policy\nsett Y 1\n" },
        { "sub/x.policy", "\n  bogus 1\n" },
    };
    fake_fs fs = { files, 2, 0 };
    diags d;
    ck_assert_ptr_null(load("main.policy", &fs, &d));
    ck_assert_str_eq(d.text, "sub/x.policy:2:3: unknown directive 'bogus'\n"
                     "main.policy:2:1: unknown directive 'sett' (did you mean 'set'?)\n");
}
END_TEST

/* ---- format ------------------------------------------------------------- */

static void round_trip(const char *text)
{
    hs_policy *p = parse_ok(text);
    char *f1 = format_policy(p);
    hs_policy *q = parse_ok(f1);
    char *f2 = format_policy(q);
    ck_assert_str_eq(f1, f2);
    free(f1);
    free(f2);
    hs_policy_free(p);
    hs_policy_free(q);
}

START_TEST(format_normalises)
{
    hs_policy *p = parse_ok(
        "# comment\n"
        "  set   X-A   some   value  \n"
        "when status 2xx 500-599 {\n"
        "default X-B \"\"\n"
        "        unless content-type none {\n"
        "  edit* X-C \"(a) b\" \"\\\\1 \\\"q\\\"\"\n"
        "}\n"
        "}\n"
        "set X-D \" lead\"\n"
        "set X-E a # not part\n"
        "set X-F \"a #b\"\n"
        "set X-G \"ends\\\\\"\n"
        "set X-H \"\\\"quoted\\\"\"\n"
        "when path \"{\" \"/a b\" {\n}\n");
    char *f = format_policy(p);
    ck_assert_str_eq(f,
        "set X-A some   value\n"
        "when status 2xx 500-599 {\n"
        "    default X-B \"\"\n"
        "    unless content-type none {\n"
        "        edit* X-C \"(a) b\" \"\\\\1 \\\"q\\\"\"\n"
        "    }\n"
        "}\n"
        "set X-D \" lead\"\n"
        "set X-E a\n"
        "set X-F \"a #b\"\n"
        "set X-G \"ends\\\\\"\n"
        "set X-H \"\\\"quoted\\\"\"\n"
        "when path \"{\" \"/a b\" {\n"
        "}\n");
    free(f);
    hs_policy_free(p);
}
END_TEST

START_TEST(format_round_trips)
{
    round_trip("set X-A some   value\nadd X \"\"\nset Y \"  \"\n"
               "edit Location ^http://(.*)$ https://\\1\n"
               "edit X \"#x\" \"\\\\\"\ncookie \"Expires=Wed, 21 Oct 2015\"\n"
               "set Z \"\\\"a\\\"\"\nset W a\\b\\\\c\n");
    for (size_t i = 0; i < hs_npresets; i++)
        round_trip(hs_presets[i].source);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("policy_load");
    TCase *t = tcase_create("load");
    tcase_add_test(t, presets_load);
    tcase_add_test(t, relative_includes);
    tcase_add_test(t, relative_to_a_relative_file);
    tcase_add_test(t, include_errors_at_the_directive);
    tcase_add_test(t, cycles);
    tcase_add_test(t, depth_limit);
    tcase_add_test(t, preset_including_a_preset);
    tcase_add_test(t, over_one_mib);
    tcase_add_test(t, errors_in_included_files_name_them);
    tcase_add_test(t, format_normalises);
    tcase_add_test(t, format_round_trips);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
