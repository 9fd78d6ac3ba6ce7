/*
 * test_rewrite_shapes.c - hs_block_parse_shaped on the blocks where a shape
 * could be wrong to trust: a later block with the same names but framing
 * the rules refuse (two Content-Length values, Transfer-Encoding in
 * HTTP/1.0 or with Content-Length), another Content-Type, another line
 * ending, a line more or less, a value with a bare CR or a NUL where the
 * plan's block had none. Each must read exactly as hs_block_parse_stream
 * reads it (tests/unit/test_golden.c does the same over the whole corpus).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "shaped_reading.h"
#include "test_policy_util.h"


static hs_block shaped, plain;

/* The shape `auto` keeps for `first`; NULL if none. */
static hs_shape shape_of(hs_policy *pol, const char *first)
{
    static hs_block b;
    hs_buf out = {0};
    hs_rewrite_opts o = {0};
    hs_request req = {0};
    hs_shape shape = NULL;
    ck_assert_int_eq(hs_block_parse(first, strlen(first), &b, NULL), HS_BLOCK_OK);
    hs_rewrite_shaped(pol, &o, &b, &req, &out, NULL, &shape);
    hs_buf_free(&out);
    return shape;
}

/* `later` read against `shape` reads as without it; returns whether the
 * shape fitted. */
static bool reads_the_same(hs_shape shape, const char *later)
{
    size_t n = strlen(later);
    const char *w1 = NULL, *w2 = NULL;
    hs_block_status a = hs_block_parse_shaped(shape, later, n, &shaped, &w1);
    hs_block_status e = hs_block_parse_stream(later, n, &plain, &w2);
    ck_assert_int_eq(a, e);
    ck_assert_ptr_eq(w1, w2);
    if (a != HS_BLOCK_OK)
        return false;
    const char *differs = shaped_reading_differs(&shaped, &plain);
    ck_assert_msg(!differs, "the shaped reading differs from the plain one in %s", differs);
    return shaped.shape == shape;
}

#define H11 "HTTP/1.1 200 OK\r\n"
#define JSON "Content-Type: application/json\r\n"

START_TEST(framing_the_rules_refuse)
{
    hs_policy *pol = load_preset("auto");
    ck_assert_ptr_nonnull(pol);
    /* two equal Content-Length lines are one value (a shape is kept) */
    hs_shape two = shape_of(pol, H11 JSON "Content-Length: 5\r\nContent-Length: 5\r\n\r\n");
    ck_assert_ptr_nonnull(two);
    ck_assert(reads_the_same(two, H11 JSON "Content-Length: 7\r\nContent-Length: 7\r\n\r\n"));
    ck_assert(!reads_the_same(two, H11 JSON "Content-Length: 5\r\nContent-Length: 7\r\n\r\n"));
    ck_assert(!reads_the_same(two, H11 JSON "Content-Length: 7\r\nContent-Length: 5\r\n\r\n"));
    ck_assert(!reads_the_same(two, H11 JSON "Content-Length: 5\r\nContent-Length: x\r\n\r\n"));
    ck_assert(!reads_the_same(two, H11 JSON "Content-Length: 5, 5\r\nContent-Length: 5\r\n\r\n"));

    /* Transfer-Encoding: not in HTTP/1.0, never with Content-Length */
    hs_shape chunked = shape_of(pol, H11 JSON "Transfer-Encoding: chunked\r\n\r\n");
    ck_assert_ptr_nonnull(chunked);
    ck_assert(reads_the_same(chunked, H11 JSON "Transfer-Encoding: chunked\r\n\r\n"));
    ck_assert(!reads_the_same(chunked, "HTTP/1.0 200 OK\r\n" JSON
                                       "Transfer-Encoding: chunked\r\n\r\n"));
    hs_policy_free(pol);
}
END_TEST

START_TEST(everything_else_that_differs)
{
    hs_policy *pol = load_preset("auto");
    ck_assert_ptr_nonnull(pol);
    static const char first[] = H11 "Server: x\r\n" JSON "Content-Length: 5\r\n\r\n";
    hs_shape s = shape_of(pol, first);
    ck_assert_ptr_nonnull(s);
    ck_assert(reads_the_same(s, first));
    /* the same names, other values: still the shape */
    ck_assert(reads_the_same(s, H11 "Server:   y  \r\n" JSON "Content-Length: 123\r\n\r\n"));
    ck_assert(reads_the_same(s, "HTTP/1.1 200 Fine\r\nServer: x\r\n" JSON
                                "Content-Length: 5\r\n\r\nbody"));
    /* not the shape: another Content-Type, status, line ending, count */
    ck_assert(!reads_the_same(s, H11 "Server: x\r\nContent-Type: text/html\r\n"
                                 "Content-Length: 5\r\n\r\n"));
    ck_assert(!reads_the_same(s, "HTTP/1.1 404 OK\r\nServer: x\r\n" JSON
                                 "Content-Length: 5\r\n\r\n"));
    ck_assert(!reads_the_same(s, "HTTP/1.1 200 OK\nServer: x\nContent-Type: "
                                 "application/json\nContent-Length: 5\n\n"));
    ck_assert(!reads_the_same(s, H11 "Server: x\r\n" JSON "\r\n"));
    ck_assert(!reads_the_same(s, H11 "Server: x\r\n" JSON "Content-Length: 5\r\nVary: a\r\n\r\n"));
    ck_assert(!reads_the_same(s, H11 "server: x\r\n" JSON "Content-Length: 5\r\n\r\n"));
    /* broken where the plan's block was fine: the general reading says so */
    ck_assert(!reads_the_same(s, H11 "Server: x\ry\r\n" JSON "Content-Length: 5\r\n\r\n"));
    ck_assert(!reads_the_same(s, H11 "Server: x\n" JSON "Content-Length: 5\r\n\r\n"));
    ck_assert(!reads_the_same(s, H11 "Server : x\r\n" JSON "Content-Length: 5\r\n\r\n"));
    ck_assert(!reads_the_same(s, H11 "Server: x\r\n y\r\n" JSON "Content-Length: 5\r\n\r\n"));
    ck_assert(!reads_the_same(s, "HTTP/1.1 200 O\rK\r\nServer: x\r\n" JSON
                                 "Content-Length: 5\r\n\r\n"));
    static const char nul[] = H11 "Server: x\0y\r\n" JSON "Content-Length: 5\r\n\r\n";
    const char *w1 = NULL, *w2 = NULL;
    ck_assert_int_eq(hs_block_parse_shaped(s, nul, sizeof nul - 1, &shaped, &w1),
                     hs_block_parse_stream(nul, sizeof nul - 1, &plain, &w2));
    ck_assert_ptr_eq(w1, w2);
    /* cut short anywhere: incomplete, as without the shape */
    for (size_t k = 0; k < sizeof first - 1; k++) {
        ck_assert_int_eq(hs_block_parse_shaped(s, first, k, &shaped, &w1),
                         hs_block_parse_stream(first, k, &plain, &w2));
    }
    /* a shape made by another policy is never taken for this one's */
    hs_policy *other = load_preset("auto");
    static hs_block b;
    ck_assert_int_eq(hs_block_parse_shaped(s, first, sizeof first - 1, &b, NULL), HS_BLOCK_OK);
    ck_assert_ptr_eq(b.shape, s);
    hs_buf out = {0};
    hs_rewrite_opts o = {0};
    hs_request req = {0};
    hs_shape got = s;
    hs_rewrite_shaped(other, &o, &b, &req, &out, NULL, &got);
    ck_assert_ptr_ne(got, s);
    hs_buf_free(&out);
    hs_policy_free(other);
    hs_policy_free(pol);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rewrite_shapes");
    TCase *t = tcase_create("core");
    tcase_add_test(t, framing_the_rules_refuse);
    tcase_add_test(t, everything_else_that_differs);
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
