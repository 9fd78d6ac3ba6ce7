/*
 * test_http1_target.c - hs_normalize_path (POLICY.md `path`: RFC 3986
 * 6.2.2 and 5.2.4, with the 5.4 reference-resolution results as dot-segment
 * vectors) and hs_host_without_port.
 */
#include "headershim.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *target;
    const char *path; /* NULL: cannot be normalised */
} vectors[] = {
    /* origin-form, query and fragment removed */
    {"/", "/"},
    {"/index.html", "/index.html"},
    {"/a/b?c=d&e=/../f", "/a/b"},
    {"/a#frag", "/a"},
    {"/?", "/"},
    {"/a?b#c", "/a"},
    /* unreserved escapes decoded, others kept with uppercase hex */
    {"/%7Euser", "/~user"},
    {"/%41%62%2d%2E%5f%7e%30", "/Ab-._~0"},
    {"/%2f", "/%2F"},
    {"/a%2Fb", "/a%2Fb"},
    {"/%3a%3B", "/%3A%3B"},
    {"/%c3%a9t%C3%A9", "/%C3%A9t%C3%A9"},
    {"/%20", "/%20"},
    {"/%25", "/%25"},
    {"/%252e", "/%252e"},
    /* raw bytes other than escapes are kept as they are */
    {"/caf\xc3\xa9", "/caf\xc3\xa9"},
    /* dot segments (RFC 3986 5.2.4 and the results of 5.4.1/5.4.2) */
    {"/a/b/c/./../../g", "/a/g"},
    {"/b/c/g", "/b/c/g"},
    {"/b/c/g/", "/b/c/g/"},
    {"/b/c/../../../g", "/g"},
    {"/b/c/../../../../g", "/g"},
    {"/./g", "/g"},
    {"/../g", "/g"},
    {"/b/c/g.", "/b/c/g."},
    {"/b/c/.g", "/b/c/.g"},
    {"/b/c/g..", "/b/c/g.."},
    {"/b/c/..g", "/b/c/..g"},
    {"/b/c/./../g", "/b/g"},
    {"/b/c/./g/.", "/b/c/g/"},
    {"/b/c/g/./h", "/b/c/g/h"},
    {"/b/c/g/../h", "/b/c/h"},
    {"/b/c/g;x=1/./y", "/b/c/g;x=1/y"},
    {"/b/c/g;x=1/../y", "/b/c/y"},
    {"/b/c/.", "/b/c/"},
    {"/b/c/..", "/b/"},
    {"/.", "/"},
    {"/..", "/"},
    {"/a/..", "/"},
    {"/a/../", "/"},
    {"/...", "/..."},
    {"//a", "//a"},
    {"/a//b", "/a//b"},
    {"/a//../b", "/a/b"},
    /* encoded dots are dots once decoded */
    {"/a/%2e%2E/b", "/b"},
    {"/a/%2E/b", "/a/b"},
    {"/a/.%2e", "/"},
    {"/a/%2e%2e%2f", "/a/..%2F"},
    /* absolute-form: any scheme, case-insensitive; path only */
    {"http://example.com/a/../b?x", "/b"},
    {"HTTP://example.com", "/"},
    {"https://h:8080?x", "/"},
    {"https://h:8080#f", "/"},
    {"ftp://h/x", "/x"},
    {"http://user@h/p/", "/p/"},
    {"http://[::1]:80/x/%7e", "/x/~"},
    {"svn+ssh.1-x://h/y", "/y"},
    /* neither origin-form nor absolute-form */
    {"*", NULL},
    {"example.com:443", NULL},
    {"", NULL},
    {"http:/x", NULL},
    {"http:x", NULL},
    {"1http://x/", NULL},
    {"ht tp://x/", NULL},
    {"a", NULL},
    /* invalid escapes, NUL */
    {"/%", NULL},
    {"/%2", NULL},
    {"/%zz", NULL},
    {"/%g0", NULL},
    {"/a%00b", NULL},
    {"/a?%", "/a"},
};

START_TEST(normalize_vector)
{
    const char *t = vectors[_i].target;
    char out[256];
    size_t n = 12345;
    bool ok = hs_normalize_path(t, strlen(t), out, sizeof out, &n);
    if (!vectors[_i].path) {
        ck_assert_msg(!ok, "'%s' normalised", t);
        return;
    }
    ck_assert_msg(ok, "'%s' refused", t);
    ck_assert_msg(n == strlen(vectors[_i].path) &&
                      memcmp(out, vectors[_i].path, n) == 0,
                  "'%s' -> '%.*s', expected '%s'", t, (int)n, out,
                  vectors[_i].path);
}
END_TEST

START_TEST(normalize_nul_and_cap)
{
    char out[16];
    size_t n;
    ck_assert(!hs_normalize_path("/a\0b", 4, out, sizeof out, &n));
    ck_assert(!hs_normalize_path("/a?\0", 4, out, sizeof out, &n));
    ck_assert(hs_normalize_path("/abc", 4, out, 4, &n));
    ck_assert_uint_eq(n, 4);
    ck_assert(!hs_normalize_path("/abc", 4, out, 3, &n));
    ck_assert(!hs_normalize_path("/%2F", 4, out, 3, &n));
    ck_assert(hs_normalize_path("/%2F", 4, out, 4, &n));
    /* the decoded form fits even when the target does not */
    ck_assert(hs_normalize_path("/%61%62", 7, out, 3, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert(memcmp(out, "/ab", 3) == 0);
    ck_assert(!hs_normalize_path("http://h", 8, out, 0, &n));
    ck_assert(hs_normalize_path("http://h", 8, out, 1, &n));
    ck_assert_uint_eq(n, 1);
}
END_TEST

/* Normalising twice changes nothing. */
START_TEST(normalize_idempotent)
{
    for (size_t i = 0; i < sizeof vectors / sizeof *vectors; i++) {
        if (!vectors[i].path)
            continue;
        char out[256];
        size_t n;
        const char *p = vectors[i].path;
        ck_assert(hs_normalize_path(p, strlen(p), out, sizeof out, &n));
        ck_assert_msg(n == strlen(p) && memcmp(out, p, n) == 0, "'%s'", p);
    }
}
END_TEST

static hs_str host_of(const char *s)
{
    return hs_host_without_port((hs_str){s, strlen(s)});
}

static bool str_is(hs_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

START_TEST(host_port)
{
    ck_assert(str_is(host_of("example.com:8080"), "example.com"));
    ck_assert(str_is(host_of("example.com"), "example.com"));
    ck_assert(str_is(host_of("example.com:"), "example.com"));
    ck_assert(str_is(host_of("[::1]:8080"), "[::1]"));
    ck_assert(str_is(host_of("[::1]"), "[::1]"));
    ck_assert(str_is(host_of("[fe80::1%25eth0]:80"), "[fe80::1%25eth0]"));
    ck_assert(str_is(host_of("[::1"), "[::1"));
    ck_assert(str_is(host_of("::1"), "::1"));
    ck_assert(str_is(host_of("127.0.0.1:80"), "127.0.0.1"));
    ck_assert(str_is(host_of(""), ""));
    ck_assert(str_is(host_of(":80"), ""));
    hs_str none = hs_host_without_port((hs_str){NULL, 0});
    ck_assert_uint_eq(none.len, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http1_target");
    TCase *t = tcase_create("core");
    tcase_add_loop_test(t, normalize_vector, 0,
                        (int)(sizeof vectors / sizeof *vectors));
    tcase_add_test(t, normalize_nul_and_cap);
    tcase_add_test(t, normalize_idempotent);
    tcase_add_test(t, host_port);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
