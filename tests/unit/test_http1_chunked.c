/*
 * test_http1_chunked.c - the chunked decoder (RFC 9112 7.1): exact byte
 * counts, every edge fed whole, split at every position and byte by byte,
 * and a property test over generated bodies.
 */
#include "headershim.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct outcome {
    size_t consumed;
    bool done;
    bool error;
} outcome;

static outcome feed_whole(const char *s, size_t n)
{
    hs_chunked c;
    hs_chunked_init(&c);
    outcome o = {hs_chunked_feed(&c, s, n), c.done, c.error};
    return o;
}

/* Feeds pieces of the given sizes (cycled); stops once a call returns less
 * than it was given (body over, or error). */
static outcome feed_pieces(const char *s, size_t n, const size_t *sizes,
                           size_t nsizes)
{
    hs_chunked c;
    hs_chunked_init(&c);
    size_t off = 0, k = 0;
    while (off < n) {
        size_t piece = sizes[k++ % nsizes];
        if (piece > n - off)
            piece = n - off;
        size_t got = hs_chunked_feed(&c, s + off, piece);
        ck_assert_uint_le(got, piece);
        off += got;
        if (got < piece)
            break;
        if (c.done || c.error)
            break;
    }
    outcome o = {off, c.done, c.error};
    return o;
}

/* The same outcome whole, split at every position, and byte by byte. */
static outcome check_all_splits(const char *s, size_t n)
{
    outcome whole = feed_whole(s, n);
    for (size_t cut = 0; cut <= n; cut++) {
        size_t sizes[2] = {cut, n};
        outcome o = feed_pieces(s, n, sizes, 2);
        if (cut == 0) {
            /* a zero-length first piece consumes nothing */
            hs_chunked c;
            hs_chunked_init(&c);
            ck_assert_uint_eq(hs_chunked_feed(&c, s, 0), 0);
            ck_assert(!c.done && !c.error);
        }
        ck_assert_msg(o.consumed == whole.consumed && o.done == whole.done &&
                          o.error == whole.error,
                      "cut %zu: %zu/%d/%d vs whole %zu/%d/%d", cut, o.consumed,
                      o.done, o.error, whole.consumed, whole.done, whole.error);
    }
    size_t one = 1;
    outcome o = feed_pieces(s, n, &one, 1);
    ck_assert_uint_eq(o.consumed, whole.consumed);
    ck_assert_int_eq(o.done, whole.done);
    ck_assert_int_eq(o.error, whole.error);
    return whole;
}

#define LIT(s) (s), (sizeof(s) - 1)

static void expect_done(const char *s, size_t n, size_t body_len)
{
    outcome o = check_all_splits(s, n);
    ck_assert_msg(o.done && !o.error, "'%s' not done", s);
    ck_assert_uint_eq(o.consumed, body_len);
}

static void expect_error(const char *s, size_t n, size_t at)
{
    outcome o = check_all_splits(s, n);
    ck_assert_msg(o.error && !o.done, "'%s' no error", s);
    ck_assert_uint_eq(o.consumed, at);
}

static void expect_more(const char *s, size_t n)
{
    outcome o = check_all_splits(s, n);
    ck_assert_msg(!o.error && !o.done, "'%s' ended", s);
    ck_assert_uint_eq(o.consumed, n);
}

START_TEST(simple_bodies)
{
    expect_done(LIT("5\r\nhello\r\n0\r\n\r\n"), 15);
    expect_done(LIT("0\r\n\r\n"), 5);
    expect_done(LIT("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), 26);
    /* data is skipped by count: framing-like bytes inside it are data */
    expect_done(LIT("7\r\n0\r\n\r\n\r\n\r\n0\r\n\r\n"), 17);
    /* hex digits in both cases, leading zeros */
    expect_done(LIT("A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"), 35);
    expect_done(LIT("0000F\r\n0123456789abcde\r\n0\r\n\r\n"), 29);
    expect_done(LIT("000\r\n\r\n"), 7);
}
END_TEST

START_TEST(stops_at_end_of_body)
{
    /* The next response follows the body: only the body is consumed. */
    static const char s[] = "3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
    expect_done(s, sizeof s - 1, 13);
    static const char t[] = "0\r\nX: y\r\n\r\n\r\n";
    expect_done(t, sizeof t - 1, 11);
}
END_TEST

START_TEST(extensions)
{
    expect_done(LIT("5;name=value\r\nhello\r\n0\r\n\r\n"), 26);
    expect_done(LIT("5 ;a=\"q;uo\\\"ted\"\r\nhello\r\n0;last\r\n\r\n"), 35);
    expect_done(LIT("5\t;x\r\nhello\r\n0\r\n\r\n"), 18);
    /* An extension line of exactly the bound is fine, one byte more not. */
    char *s = malloc(9000);
    size_t n = 0;
    s[n++] = '1';
    s[n++] = ';';
    while (n < 8192)
        s[n++] = 'x';
    memcpy(s + n, "\r\nA\r\n0\r\n\r\n", 10);
    n += 10;
    outcome o = feed_whole(s, n);
    ck_assert(o.done);
    ck_assert_uint_eq(o.consumed, n);
    memmove(s + 3, s + 2, n - 2);
    s[2] = 'x';
    n++;
    o = feed_whole(s, n);
    ck_assert(o.error);
    ck_assert_uint_eq(o.consumed, 8192);
    free(s);
}
END_TEST

START_TEST(lf_line_endings)
{
    /* Size lines and trailers may end in a bare LF, as clients accept. */
    expect_done(LIT("5\nhello\r\n0\n\n"), 12);
    expect_done(LIT("5;x\nhello\r\n0\nT: 1\n\n"), 19);
    expect_done(LIT("0\r\nT: 1\n\r\n"), 10);
}
END_TEST

START_TEST(trailers)
{
    expect_done(LIT("0\r\nExpires: never\r\nX-Sum: 12\r\n\r\n"), 32);
    expect_done(LIT("4\r\nabcd\r\n0\r\nA: b\r\n\r\n"), 20);
    /* a long trailer line up to the bound */
    char *s = malloc(9000);
    size_t n = (size_t)sprintf(s, "0\r\nX: ");
    while (n < 3 + 8192)
        s[n++] = 'v';
    memcpy(s + n, "\r\n\r\n", 4);
    n += 4;
    ck_assert(feed_whole(s, n).done);
    memmove(s + 4, s + 3, n - 3);
    s[3] = 'Y';
    n++;
    outcome o = feed_whole(s, n);
    ck_assert(o.error);
    ck_assert_uint_eq(o.consumed, 3 + 8192);
    free(s);
}
END_TEST

START_TEST(errors)
{
    expect_error(LIT("\r\n"), 0);                    /* empty size */
    expect_error(LIT(";ext\r\n"), 0);
    expect_error(LIT("x\r\n"), 0);
    expect_error(LIT("5x\r\nhello\r\n"), 1);
    expect_error(LIT("-5\r\n"), 0);
    expect_error(LIT("0x5\r\n"), 1);
    expect_error(LIT("5\rhello"), 2);                /* bare CR */
    expect_error(LIT("5;a\rhello"), 4);
    expect_error(LIT("5\r\nhelloXX0\r\n\r\n"), 8);   /* no CRLF after data */
    expect_error(LIT("5\r\nhello\n0\r\n\r\n"), 8);   /* LF alone after data */
    expect_error(LIT("5\r\nhello\r0\r\n\r\n"), 9);
    expect_error(LIT("0\r\nX: y\rz\r\n\r\n"), 8);    /* bare CR in trailer */
    expect_error(LIT("0\r\n\r\r\n"), 4);
    expect_error(LIT("5;a\0b\r\nhello\r\n"), 3);
    /* 2^62 is the largest size; one more overflows */
    expect_more(LIT("4000000000000000\r\n"));
    expect_error(LIT("4000000000000001\r\n"), 15);
    expect_error(LIT("ffffffffffffffffffff\r\n"), 15);
    expect_more(LIT("00000000000000000000000001\r\n"));
}
END_TEST

START_TEST(incomplete)
{
    expect_more(LIT(""));
    expect_more(LIT("5"));
    expect_more(LIT("5\r"));
    expect_more(LIT("5\r\nhel"));
    expect_more(LIT("5\r\nhello"));
    expect_more(LIT("5\r\nhello\r"));
    expect_more(LIT("5\r\nhello\r\n0"));
    expect_more(LIT("5\r\nhello\r\n0\r\n"));
    expect_more(LIT("5\r\nhello\r\n0\r\nX: y\r\n"));
    expect_more(LIT("5\r\nhello\r\n0\r\n\r"));
}
END_TEST

START_TEST(feed_after_end)
{
    hs_chunked c;
    hs_chunked_init(&c);
    ck_assert_uint_eq(hs_chunked_feed(&c, LIT("0\r\n\r\n")), 5);
    ck_assert(c.done);
    ck_assert_uint_eq(hs_chunked_feed(&c, LIT("0\r\n\r\n")), 0);
    ck_assert(c.done && !c.error);
    hs_chunked_init(&c);
    ck_assert_uint_eq(hs_chunked_feed(&c, LIT("z")), 0);
    ck_assert(c.error);
    ck_assert_uint_eq(hs_chunked_feed(&c, LIT("0\r\n\r\n")), 0);
    ck_assert(c.error && !c.done);
}
END_TEST

START_TEST(large_chunk_by_count)
{
    /* A 2^40-byte chunk announced: remaining counts down without data. */
    hs_chunked c;
    hs_chunked_init(&c);
    ck_assert_uint_eq(hs_chunked_feed(&c, LIT("10000000000\r\n")), 13);
    ck_assert_uint_eq(c.remaining, (uint64_t)1 << 40);
    static char zeros[65536];
    ck_assert_uint_eq(hs_chunked_feed(&c, zeros, sizeof zeros), sizeof zeros);
    ck_assert_uint_eq(c.remaining, ((uint64_t)1 << 40) - sizeof zeros);
    ck_assert(!c.done && !c.error);
}
END_TEST

/* sendfile and splice bodies: data counted by hs_chunked_skip_data. */
START_TEST(blind_data_skipping)
{
    hs_chunked c;
    hs_chunked_init(&c);
    ck_assert_uint_eq(hs_chunked_data_left(&c), 0);
    ck_assert_uint_eq(hs_chunked_feed(&c, LIT("10\r\n")), 4);
    ck_assert_uint_eq(hs_chunked_data_left(&c), 16);
    hs_chunked_skip_data(&c, 10);
    ck_assert_uint_eq(hs_chunked_data_left(&c), 6);
    hs_chunked_skip_data(&c, 7); /* more than is left: ignored */
    ck_assert_uint_eq(hs_chunked_data_left(&c), 6);
    hs_chunked_skip_data(&c, 6);
    ck_assert_uint_eq(hs_chunked_data_left(&c), 0);
    /* the CRLF after the data is still required */
    ck_assert_uint_eq(hs_chunked_feed(&c, LIT("\r\n0\r\n\r\nX")), 7);
    ck_assert(c.done && !c.error);
    hs_chunked_init(&c);
    ck_assert_uint_eq(hs_chunked_feed(&c, LIT("3\r\n")), 3);
    hs_chunked_skip_data(&c, 3);
    ck_assert_uint_eq(hs_chunked_feed(&c, LIT("0\r\n")), 0);
    ck_assert(c.error);
}
END_TEST

/* ---- property: generated bodies, split anywhere, same outcome ---- */

static unsigned long rng_state = 12345;
static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 6364136223846793005ul + 1442695040888963407ul;
    return (unsigned)((rng_state >> 33) % n);
}

/* Appends a random valid chunked body; returns its length. */
static size_t gen_body(char *s)
{
    size_t n = 0;
    int chunks = (int)rnd(4);
    for (int i = 0; i < chunks; i++) {
        unsigned size = 1 + rnd(40);
        n += (size_t)sprintf(s + n, rnd(2) ? "%x" : "%X", size);
        if (rnd(3) == 0)
            n += (size_t)sprintf(s + n, ";ext=%u", rnd(1000));
        n += (size_t)sprintf(s + n, rnd(4) ? "\r\n" : "\n");
        for (unsigned k = 0; k < size; k++)
            s[n++] = "0\r\nab;"[rnd(6)];
        n += (size_t)sprintf(s + n, "\r\n");
    }
    n += (size_t)sprintf(s + n, "0%s", rnd(4) ? "\r\n" : "\n");
    int ntrailers = (int)rnd(3);
    for (int i = 0; i < ntrailers; i++)
        n += (size_t)sprintf(s + n, "T%d: %u%s", i, rnd(99), rnd(4) ? "\r\n" : "\n");
    n += (size_t)sprintf(s + n, rnd(4) ? "\r\n" : "\n");
    return n;
}

START_TEST(property_splits)
{
    char s[2048];
    for (int iter = 0; iter < 300; iter++) {
        size_t body = gen_body(s);
        /* what follows must not be consumed */
        memcpy(s + body, "HTTP/1.1 200 OK\r\n", 17);
        size_t n = body + 17;
        /* one byte corrupted in a third of the cases */
        bool corrupt = rnd(3) == 0;
        if (corrupt)
            s[rnd((unsigned)body)] = "xZ\r\n;0 "[rnd(7)];
        outcome whole = check_all_splits(s, n);
        if (!corrupt) {
            ck_assert(whole.done);
            ck_assert_uint_eq(whole.consumed, body);
        }
        ck_assert(whole.done != whole.error || (!whole.done && !whole.error));
        for (int r = 0; r < 5; r++) {
            size_t sizes[4] = {1 + rnd(7), 1 + rnd(30), 1 + rnd(3), 1 + rnd(90)};
            outcome o = feed_pieces(s, n, sizes, 4);
            ck_assert_uint_eq(o.consumed, whole.consumed);
            ck_assert_int_eq(o.done, whole.done);
            ck_assert_int_eq(o.error, whole.error);
        }
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http1_chunked");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, simple_bodies);
    tcase_add_test(t, stops_at_end_of_body);
    tcase_add_test(t, extensions);
    tcase_add_test(t, lf_line_endings);
    tcase_add_test(t, trailers);
    tcase_add_test(t, errors);
    tcase_add_test(t, incomplete);
    tcase_add_test(t, feed_after_end);
    tcase_add_test(t, large_chunk_by_count);
    tcase_add_test(t, blind_data_skipping);
    tcase_add_test(t, property_splits);
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
