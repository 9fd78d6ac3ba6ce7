/*
 * test_policy_lex.c - POLICY.md "Lexical rules": byte-order mark, CRLF,
 * comments, continuation lines, quoting, VALUE as the rest of the line,
 * control characters, and the positions errors point at.
 */
#include "test_policy_util.h"

#define B "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
#define OUT(lines) "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" lines "\r\n"

START_TEST(bom_is_skipped_and_not_counted)
{
    ck_assert_str_eq(apply("\xEF\xBB\xBFset X a\n", B), OUT("X: a\r\n"));
    ck_assert_str_eq(parse_errors("\xEF\xBB\xBF  sett X a\n"),
                     "t.policy:1:3: unknown directive 'sett' (did you mean 'set'?)\n");
}
END_TEST

START_TEST(crlf_files_work)
{
    ck_assert_str_eq(apply("set X a\r\nset Y b\r\n", B), OUT("X: a\r\nY: b\r\n"));
    /* no line break at the end of the file */
    ck_assert_str_eq(apply("set X a", B), OUT("X: a\r\n"));
    ck_assert_str_eq(apply("set X a\r", B), OUT("X: a\r\n"));
}
END_TEST

START_TEST(comments)
{
    ck_assert_str_eq(apply("# a comment\n   # indented\n\nset X a # trailing\n", B),
                     OUT("X: a\r\n"));
    /* '#' not after a blank is part of the word */
    ck_assert_str_eq(apply("set X /page#top\n", B), OUT("X: /page#top\r\n"));
    /* '#' inside quotes is not a comment */
    ck_assert_str_eq(apply("set X \"a # b\"\n", B), OUT("X: a # b\r\n"));
    ck_assert_str_eq(apply("set X a\t# tab before\n", B), OUT("X: a\r\n"));
}
END_TEST

START_TEST(continuation_lines)
{
    ck_assert_str_eq(apply("set X a,\\\n     b\n", B), OUT("X: a, b\r\n"));
    ck_assert_str_eq(apply("set \\\n X \\\n\t value\n", B), OUT("X: value\r\n"));
    /* a comment line ends the continuation */
    ck_assert_str_eq(apply("set X a \\\n# c\nset Y b\n", B),
                     OUT("X: a\r\nY: b\r\n"));
    /* continuation at the end of the file */
    ck_assert_str_eq(apply("set X a\\", B), OUT("X: a\r\n"));
    /* errors on a continuation line point into that line */
    ck_assert_str_eq(parse_errors("set X \\\n   a\nwhen status \\\n  99x {\n}\n"),
                     "t.policy:4:3: invalid status pattern '99x' (expected a "
                     "code like 200, a class like 2xx or a range like 500-599)\n");
}
END_TEST

START_TEST(quoting)
{
    ck_assert_str_eq(apply("set X \"a \\\"q\\\" \\\\ b\"\n", B),
                     OUT("X: a \"q\" \\ b\r\n"));
    /* other backslashes are kept as they are */
    ck_assert_str_eq(apply("set X \"https://\\1\\d\"\n", B),
                     OUT("X: https://\\1\\d\r\n"));
    ck_assert_str_eq(apply("set X a\\b\n", B), OUT("X: a\\b\r\n"));
    /* a quoted name */
    ck_assert_str_eq(apply("set \"X-Q\" v\n", B), OUT("X-Q: v\r\n"));
}
END_TEST

START_TEST(value_is_rest_of_line)
{
    ck_assert_str_eq(apply("set X   a  b   c   \n", B), OUT("X: a  b   c\r\n"));
    /* exactly one quoted string is unquoted */
    ck_assert_str_eq(apply("set X \"  padded  \"\n", B), OUT("X:   padded  \r\n"));
    /* more than one quoted string keeps its quotes */
    ck_assert_str_eq(apply("set Clear-Site-Data \"cache\", \"cookies\"\n", B),
                     OUT("Clear-Site-Data: \"cache\", \"cookies\"\r\n"));
    ck_assert_str_eq(apply("set X \"a\" b\n", B), OUT("X: \"a\" b\r\n"));
    /* trailing blanks and a comment do not count */
    ck_assert_str_eq(apply("set X \"a b\"   # why\nset Y \" c\"\t \n", B),
                     OUT("X: a b\r\nY:  c\r\n"));
    /* the empty value is written "" */
    ck_assert_str_eq(apply("set X \"\"\n", B), OUT("X: \r\n"));
    ck_assert_str_eq(parse_errors("set X\n"),
                     "t.policy:1:1: missing argument: usage is 'set NAME VALUE'\n");
    ck_assert_str_eq(parse_errors("set X   # only a comment\n"),
                     "t.policy:1:1: missing argument: usage is 'set NAME VALUE'\n");
}
END_TEST

START_TEST(unterminated_quote)
{
    ck_assert_str_eq(parse_errors("set X ok\nset Y \"open\nset Z ok\n"),
                     "t.policy:2:7: unterminated quote: a quoted string must "
                     "end on the line it starts\n");
    ck_assert_str_eq(parse_errors("set Y \"a\\\"\n"),
                     "t.policy:1:7: unterminated quote: a quoted string must "
                     "end on the line it starts\n");
}
END_TEST

START_TEST(control_characters_refused)
{
    ck_assert_str_eq(parse_errors("set X a\rb\n"),
                     "t.policy:1:7: value contains a line break; a policy may "
                     "not inject header lines\n");
    ck_assert_str_eq(parse_errors("add X-Y \"a\x01\"\n"),
                     "t.policy:1:9: value contains a control character; a "
                     "policy may not inject header lines\n");
    static const char nul[] = "set X a\0b\n";
    diags d;
    memset(&d, 0, sizeof d);
    hs_policy *p = hs_policy_parse("t.policy", nul, sizeof nul - 1, NULL, NULL,
                                   diag_collect, &d);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(d.text, "t.policy:1:7: value contains a control "
                     "character; a policy may not inject header lines\n");
    /* a tab is fine */
    ck_assert_str_eq(apply("set X \"a\tb\"\n", B), OUT("X: a\tb\r\n"));
    /* and so is obs-text (UTF-8) */
    ck_assert_str_eq(apply("set X caf\xC3\xA9\n", B), OUT("X: caf\xC3\xA9\r\n"));
}
END_TEST

START_TEST(quoted_word_message_is_sanitised)
{
    /* only the offending word, unprintable bytes escaped, long words cut */
    ck_assert_str_eq(parse_errors("\x7f\x80zz a b\n"),
                     "t.policy:1:1: unknown directive '\\x7F\\x80zz'\n");
    char line[300];
    memset(line, 'q', 200);
    strcpy(line + 200, " x\n");
    const char *e = parse_errors(line);
    ck_assert_ptr_nonnull(strstr(e, "'qqqq"));
    ck_assert_ptr_nonnull(strstr(e, "...'"));
    ck_assert_uint_lt(strlen(e), 140);
}
END_TEST

START_TEST(too_many_errors_stop)
{
    char *text = malloc(200 * 8 + 1);
    text[0] = '\0';
    for (int i = 0; i < 200; i++)
        strcat(text, "bogus 1\n");
    diags d;
    hs_policy *p = parse_fs(text, NULL, &d);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(d.errors, 101);
    ck_assert_ptr_nonnull(strstr(d.text, "too many errors"));
    free(text);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("policy_lex");
    TCase *t = tcase_create("lex");
    tcase_add_test(t, bom_is_skipped_and_not_counted);
    tcase_add_test(t, crlf_files_work);
    tcase_add_test(t, comments);
    tcase_add_test(t, continuation_lines);
    tcase_add_test(t, quoting);
    tcase_add_test(t, value_is_rest_of_line);
    tcase_add_test(t, unterminated_quote);
    tcase_add_test(t, control_characters_refused);
    tcase_add_test(t, quoted_word_message_is_sanitised);
    tcase_add_test(t, too_many_errors_stop);
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
