/*
 * test_policy_parse.c - every directive and condition as the parser takes
 * it, every error with its exact message and FILE:LINE:COLUMN, every
 * warning, and the request needs of a policy (POLICY.md "Directives",
 * "Conditions", "Errors").
 */
#include "test_policy_util.h"

START_TEST(every_directive_parses)
{
    hs_policy *p = parse_ok(
        "set X-A 1\n"
        "default X-B two words\n"
        "add X-C 3\n"
        "append Cache-Control no-transform\n"
        "merge Vary Accept\n"
        "remove X-*\n"
        "rename X-Old X-New\n"
        "edit Location ^http://(.*)$ https://\\1\n"
        "edit* X-D \"a+\" b\n"
        "cookie SameSite=Lax\n"
        "when status 2xx 304 500-599 {\n"
        "    when content-type text/html application/*+json none {\n"
        "        set X-E e\n"
        "    }\n"
        "}\n"
        "unless header X-F X-G=a* {\n"
        "}\n"
        "when method GET HEAD {\n}\n"
        "when path /api/* *.json {\n}\n"
        "when host example.com *.example.com {\n}\n"
        "when request-header Origin Accept=*json* {\n}\n"
        "when port 80 8000-8099 {\n}\n"
        "when tls {\n}\n");
    ck_assert_uint_eq(hs_policy_needs(p), HS_NEEDS_PATH | HS_NEEDS_HOST |
                      HS_NEEDS_REQUEST_HEADER | HS_NEEDS_METHOD);
    hs_policy_free(p);
    p = parse_ok("set X 1\nwhen tls {\n set Y 2\n}\n");
    ck_assert_uint_eq(hs_policy_needs(p), 0);
    hs_policy_free(p);
    p = parse_ok("unless path /x {\n}\n");
    ck_assert_uint_eq(hs_policy_needs(p), HS_NEEDS_PATH);
    hs_policy_free(p);
    p = parse_ok("");
    ck_assert_uint_eq(hs_policy_needs(p), 0);
    hs_policy_free(p);
}
END_TEST

START_TEST(unknown_directive_suggests)
{
    ck_assert_diag("set X 1\n\n   sett X a\n",
                   "t.policy:3:4: unknown directive 'sett' (did you mean 'set'?)\n");
    ck_assert_diag("remvoe X\n",
                   "t.policy:1:1: unknown directive 'remvoe' (did you mean 'remove'?)\n");
    ck_assert_diag("SET X 1\n",
                   "t.policy:1:1: unknown directive 'SET' (did you mean 'set'?)\n");
    ck_assert_diag("edit+ X a b\n",
                   "t.policy:1:1: unknown directive 'edit+' (did you mean 'edit'?)\n");
    ck_assert_diag("frobnicate X\n", "t.policy:1:1: unknown directive 'frobnicate'\n");
    ck_assert_diag("\"set\" X 1\n",
                   "t.policy:1:1: unknown directive 'set' (write it without quotes)\n");
}
END_TEST

START_TEST(condition_errors)
{
    ck_assert_diag("when stauts 200 {\n}\n",
                   "t.policy:1:6: unknown condition subject 'stauts' (did you mean 'status'?)\n");
    ck_assert_diag("when status 99x {\n}\n",
                   "t.policy:1:13: invalid status pattern '99x' (expected a code "
                   "like 200, a class like 2xx or a range like 500-599)\n");
    ck_assert_diag("when status 200 600-500 1000 {\n}\n",
                   "t.policy:1:17: invalid status pattern '600-500' (expected a "
                   "code like 200, a class like 2xx or a range like 500-599)\n"
                   "t.policy:1:25: invalid status pattern '1000' (expected a "
                   "code like 200, a class like 2xx or a range like 500-599)\n");
    ck_assert_diag("when status 0xx {\n}\n",
                   "t.policy:1:13: invalid status pattern '0xx' (expected a code "
                   "like 200, a class like 2xx or a range like 500-599)\n");
    ck_assert_diag("when port 99999 {\n}\n",
                   "t.policy:1:11: invalid port '99999' (expected a port from 1 "
                   "to 65535 or a range like 8000-8099)\n");
    ck_assert_diag("when port 0 {\n}\n",
                   "t.policy:1:11: invalid port '0' (expected a port from 1 to "
                   "65535 or a range like 8000-8099)\n");
    ck_assert_diag("when port 90-80 {\n}\n",
                   "t.policy:1:11: invalid port '90-80' (expected a port from 1 "
                   "to 65535 or a range like 8000-8099)\n");
    ck_assert_diag("when tls yes {\n}\n",
                   "t.policy:1:10: extra argument 'yes': 'tls' takes no pattern\n");
    ck_assert_diag("when status {\n}\n",
                   "t.policy:1:6: missing argument: 'status' needs at least one pattern\n");
    ck_assert_diag("when {\n}\n",
                   "t.policy:1:1: missing argument: usage is 'when SUBJECT PATTERN... {'\n");
    ck_assert_diag("when header X:Y {\n}\n",
                   "t.policy:1:13: 'X:Y' is not a valid header name (RFC 9110 token)\n");
    ck_assert_diag("when request-header =x {\n}\n",
                   "t.policy:1:21: '' is not a valid header name (RFC 9110 token)\n");
    ck_assert_diag("when method G/T {\n}\n",
                   "t.policy:1:13: invalid method 'G/T' (RFC 9110 token)\n");
    ck_assert_diag("when content-type text/html;charset=utf-8 {\n}\n",
                   "t.policy:1:19: invalid content-type pattern "
                   "'text/html;charset=utf-8': parameters are ignored, write "
                   "the media type alone\n");
}
END_TEST

START_TEST(block_errors)
{
    ck_assert_diag("set X 1\n}\n",
                   "t.policy:2:1: '}' without a matching 'when' or 'unless'\n");
    ck_assert_diag("when tls {\nset X 1\n",
                   "t.policy:1:1: 'when' block is never closed: missing '}'\n");
    ck_assert_diag("set A 1\n  unless status 200 {\n  when tls {\n  }\n",
                   "t.policy:2:3: 'unless' block is never closed: missing '}'\n");
    ck_assert_diag("when tls\nset X 1\n",
                   "t.policy:1:6: missing '{' at the end of the 'when' line\n");
    ck_assert_diag("when tls{\n}\n",
                   "t.policy:1:6: '{' must be a word of its own: put a blank before it\n"
                   "t.policy:2:1: '}' without a matching 'when' or 'unless'\n");
    ck_assert_diag("when status 200{\n}\n",
                   "t.policy:1:13: '{' must be a word of its own: put a blank before it\n"
                   "t.policy:2:1: '}' without a matching 'when' or 'unless'\n");
    ck_assert_diag("when tls {\n} x\n",
                   "t.policy:2:3: extra argument 'x': '}' stands alone on its line\n");
    /* an error on the opening line still opens the block: no second error */
    ck_assert_diag("when status 99x {\n  set X 1\n}\n",
                   "t.policy:1:13: invalid status pattern '99x' (expected a code "
                   "like 200, a class like 2xx or a range like 500-599)\n");
}
END_TEST

START_TEST(argument_count_errors)
{
    ck_assert_diag("remove\n", "t.policy:1:1: missing argument: usage is 'remove PATTERN'\n");
    ck_assert_diag("remove A B\n",
                   "t.policy:1:10: extra argument 'B': usage is 'remove PATTERN'\n");
    ck_assert_diag("rename A\n", "t.policy:1:1: missing argument: usage is 'rename OLD NEW'\n");
    ck_assert_diag("rename A B C\n",
                   "t.policy:1:12: extra argument 'C': usage is 'rename OLD NEW'\n");
    ck_assert_diag("edit A x\n",
                   "t.policy:1:1: missing argument: usage is 'edit NAME REGEX REPLACEMENT'\n");
    ck_assert_diag("edit* A x y z\n",
                   "t.policy:1:13: extra argument 'z': usage is 'edit* NAME REGEX REPLACEMENT'\n");
    ck_assert_diag("cookie\n", "t.policy:1:1: missing argument: usage is 'cookie ATTRIBUTE'\n");
    ck_assert_diag("include\n",
                   "t.policy:1:1: missing argument: usage is 'include NAME-OR-PATH'\n");
    ck_assert_diag("include a b\n",
                   "t.policy:1:11: extra argument 'b': usage is 'include NAME-OR-PATH'\n");
    ck_assert_diag("default\n",
                   "t.policy:1:1: missing argument: usage is 'default NAME VALUE'\n");
}
END_TEST

START_TEST(names_must_be_tokens)
{
    ck_assert_diag("set X: 1\n",
                   "t.policy:1:5: 'X:' is not a valid header name (RFC 9110 token)\n");
    ck_assert_diag("remove \"A B\"\n",
                   "t.policy:1:8: 'A B' is not a valid header name (RFC 9110 token)\n");
    ck_assert_diag("rename A B@\n",
                   "t.policy:1:10: 'B@' is not a valid header name (RFC 9110 token)\n");
    ck_assert_diag("cookie a;b\n",
                   "t.policy:1:8: invalid cookie attribute 'a;b' (expected NAME "
                   "or NAME=VALUE without ';')\n");
    ck_assert_diag("cookie =x\n",
                   "t.policy:1:8: invalid cookie attribute '=x' (expected NAME "
                   "or NAME=VALUE without ';')\n");
}
END_TEST

START_TEST(framing_headers_refused)
{
    ck_assert_diag("\n\n\n\n\n\n\n\n\n\n\n    set Content-Length 5\n",
                   "t.policy:12:9: 'set Content-Length' is refused: it would "
                   "change the message framing\n");
    static const char *const verbs[] = { "set", "default", "add", "append",
                                         "merge", "remove", "edit", "edit*" };
    static const char *const names[] = { "Content-Length", "transfer-encoding",
        "TE", "Trailer", "Connection", "Keep-Alive", "UPGRADE" };
    for (size_t v = 0; v < 8; v++) {
        for (size_t n = 0; n < 7; n++) {
            char text[128];
            bool edit = v >= 6;
            snprintf(text, sizeof text, "%s %s x%s\n", verbs[v], names[n],
                     edit ? " y" : "");
            if (v == 5)
                snprintf(text, sizeof text, "remove %s\n", names[n]);
            const char *e = parse_errors(text);
            char want[128];
            snprintf(want, sizeof want, "t.policy:1:%zu: '%s %s' is refused: ",
                     strlen(verbs[v]) + 2, verbs[v], names[n]);
            ck_assert_msg(strncmp(e, want, strlen(want)) == 0, "%s", e);
        }
    }
    ck_assert_diag("rename Connection X-C\n",
                   "t.policy:1:8: 'rename Connection' is refused: it is a "
                   "hop-by-hop header that governs the connection, and "
                   "changing it would desynchronise the client\n");
    ck_assert_diag("rename X-Len Content-Length\n",
                   "t.policy:1:14: 'rename Content-Length' is refused: it "
                   "would change the message framing\n");
    /* a wildcard never matches them, so it is allowed */
    hs_policy_free(parse_ok("remove Content-*\nremove *\n"));
    /* conditions may read them */
    hs_policy_free(parse_ok("when header Connection=close {\n}\n"));
}
END_TEST

START_TEST(set_cookie_cannot_be_joined)
{
    ck_assert_diag("append Set-Cookie a=b\n",
                   "t.policy:1:8: 'append Set-Cookie' is refused: every cookie "
                   "needs a line of its own (RFC 6265 section 3)\n");
    ck_assert_diag("merge set-cookie a=b\n",
                   "t.policy:1:7: 'merge set-cookie' is refused: every cookie "
                   "needs a line of its own (RFC 6265 section 3)\n");
}
END_TEST

START_TEST(regex_errors)
{
    const char *e = parse_errors("edit X ( y\n");
    ck_assert_msg(strncmp(e, "t.policy:1:8: invalid regular expression '(': ", 46) == 0,
                  "%s", e);
    ck_assert_diag("edit X (a)b \\2\n",
                   "t.policy:1:13: the replacement refers to group \\2 but the "
                   "regular expression has 1\n");
    hs_policy_free(parse_ok("edit X (a)b \\\\2\\1\\0\n"));
}
END_TEST

/* glibc's regcomp copies repeated expressions, so nested counts multiply:
 * "(a{1,999}){1,999}" took over 60 s and 6.6 GB there (found by
 * fuzz_policy). Such expressions are refused before regcomp sees them. */
#define TOO_LARGE(re)                                                        \
    "t.policy:1:8: regular expression '" re "' is too large: its "           \
    "repetitions expand to more than 1000 positions\n"

START_TEST(regex_bounds)
{
    ck_assert_diag("edit X (a{1,999}){1,999} y\n", TOO_LARGE("(a{1,999}){1,999}"));
    ck_assert_diag("edit X a{1000}b y\n", TOO_LARGE("a{1000}b"));
    /* every alternative counts, and a group's count multiplies its content */
    ck_assert_diag("edit X \"(ab|cd){1,300}\" y\n", TOO_LARGE("(ab|cd){1,300}"));
    ck_assert_diag("edit X ((a{10}){10}){11} y\n", TOO_LARGE("((a{10}){10}){11}"));
    ck_assert_diag("edit X b{10}{10}{11} y\n", TOO_LARGE("b{10}{10}{11}"));
    ck_assert_diag("edit X \"(x)\\1\" y\n",
                   "t.policy:1:8: regular expression '(x)\\1' uses the "
                   "back-reference \\1, which POSIX extended expressions do not "
                   "have (matching with one can take exponential time)\n");
    ck_assert_diag("edit X ((((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))) y\n",
                   "t.policy:1:8: regular expression '((((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))...' "
                   "nests groups more than 32 deep\n");
    /* at the limit, and what looks like a count or a back-reference but is
     * not one, are accepted */
    hs_policy_free(parse_ok("edit X a{1,1000} y\n"));
    hs_policy_free(parse_ok("edit X (a{1,10}){1,100} y\n"));
    hs_policy_free(parse_ok("edit X [0-9a-f]{64} y\n"));
    hs_policy_free(parse_ok("edit X \"[]{}1-9]\\\\\\\\1[[:digit:]]{2}\" y\n"));
    hs_policy_free(parse_ok("edit X ^(.*)$ \"\\1; Secure\"\n"));
    hs_policy_free(parse_ok("edit X \"a\\{1000\\}\" y\n"));
}
END_TEST

START_TEST(all_errors_are_reported)
{
    ck_assert_diag("sett A 1\nset B: 2\nwhen status 99x {\n}\nset C 3\nremove\n",
                   "t.policy:1:1: unknown directive 'sett' (did you mean 'set'?)\n"
                   "t.policy:2:5: 'B:' is not a valid header name (RFC 9110 token)\n"
                   "t.policy:3:13: invalid status pattern '99x' (expected a code "
                   "like 200, a class like 2xx or a range like 500-599)\n"
                   "t.policy:6:1: missing argument: usage is 'remove PATTERN'\n");
}
END_TEST

START_TEST(warnings)
{
    ck_assert_str_eq(parse_warnings("set Content-Type text/plain\nremove Date\n"
                                     "rename Location X-Location\nset X 1\n"
                                     "default Content-Type x\n"),
                     "t.policy:1:5: warning: 'set Content-Type' changes a header "
                     "that carries the response's meaning\n"
                     "t.policy:2:8: warning: 'remove Date' changes a header that "
                     "carries the response's meaning\n"
                     "t.policy:3:8: warning: 'rename Location' changes a header "
                     "that carries the response's meaning\n");
    ck_assert_str_eq(parse_warnings("set Set-Cookie a=b\n"),
                     "t.policy:1:5: warning: 'set Set-Cookie' replaces every "
                     "cookie the application sets\n");
    ck_assert_str_eq(parse_warnings("when path /embed/* {\n"
                                    "    remove X-Frame-Options\n"
                                    "    when status 200 {\n"
                                    "        set Content-Security-Policy x\n"
                                    "    }\n"
                                    "}\n"
                                    "remove X-Frame-Options\n"
                                    "when host a.example {\n"
                                    "    remove Strict-*\n"
                                    "    default Content-Security-Policy y\n"
                                    "}\n"),
                     "t.policy:2:12: warning: 'remove X-Frame-Options' under "
                     "'when path' or 'when host' weakens a security header for "
                     "some URLs only; another spelling of the URL or another "
                     "Host reaches the same resource\n"
                     "t.policy:4:13: warning: 'set Content-Security-Policy' under "
                     "'when path' or 'when host' weakens a security header for "
                     "some URLs only; another spelling of the URL or another "
                     "Host reaches the same resource\n"
                     "t.policy:9:12: warning: 'remove Strict-*' under "
                     "'when path' or 'when host' weakens a security header for "
                     "some URLs only; another spelling of the URL or another "
                     "Host reaches the same resource\n");
    /* the presets draw no warning */
    for (size_t i = 0; i < hs_npresets; i++) {
        diags d;
        memset(&d, 0, sizeof d);
        hs_policy *p = hs_policy_load(hs_presets[i].name, NULL, NULL,
                                      diag_collect, &d);
        ck_assert_ptr_nonnull(p);
        ck_assert_msg(d.len == 0, "%s: %s", hs_presets[i].name, d.text);
        hs_policy_free(p);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("policy_parse");
    TCase *t = tcase_create("parse");
    tcase_add_test(t, every_directive_parses);
    tcase_add_test(t, unknown_directive_suggests);
    tcase_add_test(t, condition_errors);
    tcase_add_test(t, block_errors);
    tcase_add_test(t, argument_count_errors);
    tcase_add_test(t, names_must_be_tokens);
    tcase_add_test(t, framing_headers_refused);
    tcase_add_test(t, set_cookie_cannot_be_joined);
    tcase_add_test(t, regex_errors);
    tcase_add_test(t, regex_bounds);
    tcase_add_test(t, all_errors_are_reported);
    tcase_add_test(t, warnings);
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
