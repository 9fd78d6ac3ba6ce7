/*
 * test_rewrite_steady.c - hs_rewrite_steady, the steady state's reading
 * and rewrite (shim/core/rewrite_plan.c), against the general way it
 * stands in for: hs_block_parse_shaped, then hs_rewrite_shaped.
 *
 * Whenever the steady way takes a block, the general way must read the
 * same block (same length, status and framing, for every method) and
 * rewrite it to exactly the bytes of the steady way's pieces. The cases
 * below are the blocks a server in its steady state sends (a new Date,
 * a value of another length, other blanks before a value, a new
 * Content-Length), the ones the steady way must leave to the general way
 * (another name, Content-Type, status or line ending, a Content-Length
 * list, a Connection line changed, a line more, a bare CR or NUL in a
 * value, a block cut short), and a few hundred thousand random edits of
 * three real servers' blocks, compared with AVX2 where the CPU has it and
 * with SSE2 (and, in the _nosimd build, byte by byte).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"                /* hs_cpu_avx2 */
#include "kernel_script.h"      /* ks_rand, ks_below */
#include "shaped_reading.h"
#include "test_policy_util.h"

static hs_policy *pol_api, *pol_auto;

/* The shape pol keeps for `first` (rewritten once); NULL if none. */
static hs_shape shape_of(hs_policy *pol, const hs_rewrite_opts *o, bool tls,
                         const char *first, size_t len)
{
    static hs_block b;
    hs_buf out = {0};
    hs_request req = {.tls = tls};
    hs_shape shape = NULL;
    ck_assert_int_eq(hs_block_parse(first, len, &b, NULL), HS_BLOCK_OK);
    hs_rewrite_shaped(pol, o, &b, &req, &out, NULL, &shape);
    hs_buf_free(&out);
    return shape;
}

/* Holds the steady way to the general way on buf[0, len); returns
 * whether the steady way took the block. */
static bool steady_agrees(hs_policy *pol, const hs_rewrite_opts *o, bool tls,
                          hs_shape shape, const char *buf, size_t len)
{
    struct iovec piece[HS_STEADY_PIECES];
    hs_steady st = {.tls = tls, .piece = piece};
    if (!hs_rewrite_steady(pol, o, shape, buf, len, &st))
        return false;
    ck_assert(st.npieces > 0 && st.npieces <= HS_STEADY_PIECES);

    static hs_block b;
    const char *why = NULL;
    ck_assert_int_eq(hs_block_parse_shaped(shape, buf, len, &b, &why), HS_BLOCK_OK);
    ck_assert_uint_eq(b.len, st.len);
    ck_assert_int_eq(b.status, st.status);
    hs_block *facts_block = &b;
    hs_block with_facts = b;
    with_facts.shape_facts = st.facts;
    for (int m = HS_METHOD_NONE; m <= HS_METHOD_CONNECT; m++) {
        hs_framing g = hs_response_framing(facts_block, (hs_method_kind)m);
        hs_framing s = hs_response_framing(&with_facts, (hs_method_kind)m);
        ck_assert(g.kind == s.kind && g.length == s.length &&
                  g.close_after == s.close_after);
        if (m == HS_METHOD_OTHER)
            ck_assert(g.kind == st.framing_other->kind &&
                      g.length == st.framing_other->length &&
                      g.close_after == st.framing_other->close_after);
    }

    hs_buf out = {0};
    hs_request req = {.tls = tls};
    hs_shape next = NULL;
    ck_assert_int_eq(hs_rewrite_shaped(pol, o, &b, &req, &out, NULL, &next),
                     HS_REWRITE_CHANGED);
    ck_assert_ptr_eq(next, shape);
    size_t at = 0;
    for (int i = 0; i < st.npieces; i++) {
        ck_assert_uint_le(at + piece[i].iov_len, out.len);
        ck_assert(memcmp(out.p + at, piece[i].iov_base, piece[i].iov_len) == 0);
        at += piece[i].iov_len;
    }
    ck_assert_uint_eq(at, out.len);
    ck_assert_uint_eq(st.out_len, out.len);
    hs_buf_free(&out);
    return true;
}

static bool steady_agrees_str(hs_shape shape, const char *buf)
{
    hs_rewrite_opts o = {0};
    return steady_agrees(pol_api, &o, false, shape, buf, strlen(buf));
}

#define NGINX_HEAD "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n"
#define NGINX_REST                                                        \
    "Content-Type: text/html\r\nContent-Length: 512\r\n"                  \
    "Last-Modified: Sun, 29 Nov 2026 10:00:00 GMT\r\n"                    \
    "Connection: keep-alive\r\nETag: \"692a8f40-200\"\r\n"                \
    "Accept-Ranges: bytes\r\n\r\n"
#define NGINX_DATE(d) NGINX_HEAD "Date: " d "\r\n" NGINX_REST

static const char nginx_first[] = NGINX_DATE("Sun, 29 Nov 2026 14:02:35 GMT");

START_TEST(the_steady_state_is_taken)
{
    hs_rewrite_opts o = {0};
    hs_shape s = shape_of(pol_api, &o, false, nginx_first, sizeof nginx_first - 1);
    ck_assert_ptr_nonnull(s);
    /* the block itself, and with another second, minute or day */
    ck_assert(steady_agrees_str(s, nginx_first));
    ck_assert(steady_agrees_str(s, NGINX_DATE("Sun, 29 Nov 2026 14:02:36 GMT")));
    ck_assert(steady_agrees_str(s, NGINX_DATE("Sun, 29 Nov 2026 14:59:00 GMT")));
    ck_assert(steady_agrees_str(s, NGINX_DATE("Mon, 30 Nov 2026 00:00:00 GMT")));
    /* a value of another length, other blanks before it, none at all */
    ck_assert(steady_agrees_str(s, NGINX_DATE("today")));
    ck_assert(steady_agrees_str(s, NGINX_DATE("Sun, 29 Nov 2026 14:02:35 GMT and more")));
    ck_assert(steady_agrees_str(s, NGINX_HEAD "Date:    \tMon, 30 Nov 2026 00:00:00 GMT\r\n" NGINX_REST));
    ck_assert(steady_agrees_str(s, NGINX_HEAD "Date: \r\n" NGINX_REST));
    ck_assert(steady_agrees_str(s, NGINX_HEAD "Date: x  \t\r\n" NGINX_REST));
    /* the removed Server line read again, and two lines read again */
    ck_assert(steady_agrees_str(s, "HTTP/1.1 200 OK\r\nServer: Apache/2.2.3 (CentOS)\r\n"
                                   "Date: Mon, 30 Nov 2026 00:00:00 GMT\r\n" NGINX_REST));
    ck_assert(steady_agrees_str(s, NGINX_HEAD "Date: Mon, 30 Nov 2026 00:00:00 GMT\r\n"
                                   "Content-Type: text/html\r\nContent-Length: 512\r\n"
                                   "Last-Modified: Mon, 30 Nov 2026 10:00:00 GMT\r\n"
                                   "Connection: keep-alive\r\nETag: \"1\"\r\n"
                                   "Accept-Ranges: bytes\r\n\r\n"));
    /* another length (a dynamic server's): read as a number, framed by it */
    ck_assert(steady_agrees_str(s, NGINX_HEAD "Date: x\r\nContent-Type: text/html\r\n"
                                   "Content-Length: 513\r\nLast-Modified: x\r\n"
                                   "Connection: keep-alive\r\nETag: x\r\nAccept-Ranges: bytes\r\n\r\n"));
    ck_assert(steady_agrees_str(s, NGINX_HEAD "Date: x\r\nContent-Type: text/html\r\n"
                                   "Content-Length:   0 \t\r\nLast-Modified: x\r\n"
                                   "Connection: keep-alive\r\nETag: x\r\nAccept-Ranges: bytes\r\n\r\n"));
    ck_assert(steady_agrees_str(s, NGINX_HEAD "Date: x\r\nContent-Type: text/html\r\n"
                                   "Content-Length: 512345678901234567\r\nLast-Modified: x\r\n"
                                   "Connection: keep-alive\r\nETag: x\r\nAccept-Ranges: bytes\r\n\r\n"));
    /* bytes after the block (its body) are not the block's */
    ck_assert(steady_agrees_str(s, NGINX_DATE("Sun, 29 Nov 2026 14:02:36 GMT") "<html>"));
}
END_TEST

START_TEST(the_rest_is_left_to_the_general_way)
{
    hs_rewrite_opts o = {0};
    hs_shape s = shape_of(pol_api, &o, false, nginx_first, sizeof nginx_first - 1);
    ck_assert_ptr_nonnull(s);
    static const char *const others[] = {
        /* another status, version, reason or line ending */
        "HTTP/1.1 404 OK\r\nServer: nginx/1.22.1\r\nDate: x\r\n" NGINX_REST,
        "HTTP/1.0 200 OK\r\nServer: nginx/1.22.1\r\nDate: x\r\n" NGINX_REST,
        "HTTP/1.1 200 Fine\r\nServer: nginx/1.22.1\r\nDate: x\r\n" NGINX_REST,
        "HTTP/1.1 200 OK\nServer: nginx/1.22.1\nDate: x\nContent-Type: text/html\n"
        "Content-Length: 512\nLast-Modified: x\nConnection: keep-alive\nETag: x\n"
        "Accept-Ranges: bytes\n\n",
        /* another name, a name's case, a line more or less */
        NGINX_HEAD "Data: x\r\n" NGINX_REST,
        NGINX_HEAD "date: x\r\n" NGINX_REST,
        NGINX_HEAD "Date : x\r\n" NGINX_REST,
        NGINX_HEAD "Date: x\r\nVary: y\r\n" NGINX_REST,
        NGINX_HEAD NGINX_REST,
        /* framing and Content-Type lines are never read again here */
        NGINX_HEAD "Date: x\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 512\r\n"
        "Last-Modified: x\r\nConnection: keep-alive\r\nETag: x\r\nAccept-Ranges: bytes\r\n\r\n",
        /* a Content-Length the general way reads otherwise: a list, none,
         * too long for a plain number */
        NGINX_HEAD "Date: x\r\nContent-Type: text/html\r\nContent-Length: 5, 5\r\n"
        "Last-Modified: x\r\nConnection: keep-alive\r\nETag: x\r\nAccept-Ranges: bytes\r\n\r\n",
        NGINX_HEAD "Date: x\r\nContent-Type: text/html\r\nContent-Length: \r\n"
        "Last-Modified: x\r\nConnection: keep-alive\r\nETag: x\r\nAccept-Ranges: bytes\r\n\r\n",
        NGINX_HEAD "Date: x\r\nContent-Type: text/html\r\nContent-Length: 5x\r\n"
        "Last-Modified: x\r\nConnection: keep-alive\r\nETag: x\r\nAccept-Ranges: bytes\r\n\r\n",
        NGINX_HEAD "Date: x\r\nContent-Type: text/html\r\nContent-Length: 5123456789012345678\r\n"
        "Last-Modified: x\r\nConnection: keep-alive\r\nETag: x\r\nAccept-Ranges: bytes\r\n\r\n",
        NGINX_HEAD "Date: x\r\nContent-Type: text/html\r\nContent-Length: 512\r\n"
        "Last-Modified: x\r\nConnection: close\r\nETag: x\r\nAccept-Ranges: bytes\r\n\r\n",
        /* a value the rules refuse; obs-fold; a line ending broken */
        NGINX_HEAD "Date: x\ry\r\n" NGINX_REST,
        NGINX_HEAD "Date: x\n" NGINX_REST,
        NGINX_HEAD "Date: x\r\n y\r\n" NGINX_REST,
        /* no blank line */
        NGINX_HEAD "Date: x\r\n" "Content-Type: text/html\r\nContent-Length: 512\r\n",
    };
    for (size_t i = 0; i < sizeof others / sizeof *others; i++)
        ck_assert_msg(!steady_agrees_str(s, others[i]), "case %zu taken", i);
    /* a NUL in a value */
    static const char nul[] = NGINX_HEAD "Date: x\0y\r\n" NGINX_REST;
    ck_assert(!steady_agrees(pol_api, &o, false, s, nul, sizeof nul - 1));
    /* cut short anywhere */
    static const char later[] = NGINX_DATE("Mon, 30 Nov 2026 00:00:00 GMT");
    for (size_t k = 0; k < sizeof later - 1; k++)
        ck_assert(!steady_agrees(pol_api, &o, false, s, later, k));
    /* another policy's plan, or this one's for TLS or report-only CSP */
    ck_assert(!steady_agrees(pol_auto, &o, false, s, later, sizeof later - 1));
    ck_assert(!steady_agrees(pol_api, &o, true, s, later, sizeof later - 1));
    hs_rewrite_opts ro = {.csp_report_only = true};
    ck_assert(!steady_agrees(pol_api, &ro, false, s, later, sizeof later - 1));
    ck_assert(!steady_agrees(pol_api, &o, false, NULL, later, sizeof later - 1));
    /* a plan with two Content-Length lines, or with a Connection line
     * read again: the general way */
    static const char two[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
                              "Connection: keep-alive\r\n\r\n";
    hs_shape s2 = shape_of(pol_api, &o, false, two, sizeof two - 1);
    ck_assert_ptr_nonnull(s2);
    ck_assert(steady_agrees_str(s2, two));
    ck_assert(!steady_agrees_str(s2, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n"
                                     "Content-Length: 6\r\nConnection: keep-alive\r\n\r\n"));
    ck_assert(!steady_agrees_str(s2, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                     "Content-Length: 5\r\nConnection: keep-aliv\r\n\r\n"));
    /* over max_output: the general way says so (and logs it) */
    struct iovec piece[HS_STEADY_PIECES];
    hs_steady st = {.tls = false, .piece = piece};
    ck_assert(hs_rewrite_steady(pol_api, &o, s, later, sizeof later - 1, &st));
    hs_rewrite_opts fits = {.max_output = st.out_len};
    ck_assert(steady_agrees(pol_api, &fits, false, s, later, sizeof later - 1));
    static const char longer[] = NGINX_DATE("Mon, 30 Nov 2026 00:00:00 GMT+");
    ck_assert(!steady_agrees(pol_api, &fits, false, s, longer, sizeof longer - 1));
    static hs_block b;
    ck_assert_int_eq(hs_block_parse(longer, sizeof longer - 1, &b, NULL), HS_BLOCK_OK);
    hs_buf out = {0};
    hs_request req = {0};
    ck_assert_int_eq(hs_rewrite(pol_api, &fits, &b, &req, &out, NULL), HS_REWRITE_TOO_LARGE);
    hs_buf_free(&out);
}
END_TEST

/* Three servers' blocks (CRLF and LF, TLS and not), each edited at random
 * many times: inside a value, anywhere, by deleting, inserting or
 * replacing a few bytes. Every block the steady way takes must agree with
 * the general way, and edits inside Date's value must be taken. */
START_TEST(random_edits_agree)
{
#ifdef HS_HAVE_AVX2
    /* _i 0: as the CPU allows (AVX2 here, most likely); _i 1: the SSE2
     * compare, as on a CPU without AVX2 */
    if (_i == 1)
        atomic_store(&hs_cpu_avx2, 1);
#endif
    static const char *const firsts[] = {
        nginx_first,
        "HTTP/1.1 200 OK\r\nDate: Sun, 29 Nov 2026 14:02:35 GMT\r\n"
        "Server: Apache/2.2.3 (CentOS)\r\nX-Powered-By: PHP/5.3.3\r\n"
        "Expires: Thu, 19 Nov 1981 08:52:00 GMT\r\n"
        "Cache-Control: no-cache\r\nVary: Accept-Encoding\r\n"
        "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n",
        "HTTP/1.1 304 Not Modified\nDate: Sun, 29 Nov 2026 14:02:35 GMT\n"
        "Server: lighttpd\nETag: \"x\"\n\n",
    };
    uint64_t rng = 0x5eed5;
    size_t taken = 0, date_taken = 0, date_edits = 0;
    for (size_t f = 0; f < sizeof firsts / sizeof *firsts; f++) {
        for (int tls = 0; tls < 2; tls++) {
            hs_rewrite_opts o = {0};
            size_t n0 = strlen(firsts[f]);
            hs_shape s = shape_of(pol_api, &o, tls, firsts[f], n0);
            ck_assert_ptr_nonnull(s);
            const char *date = strstr(firsts[f], "Date: ") + 6;
            size_t date_at = (size_t)(date - firsts[f]);
            for (int round = 0; round < 40000; round++) {
                char buf[1024];
                memcpy(buf, firsts[f], n0);
                size_t n = n0;
                bool in_date = ks_below(&rng, 2) == 0;
                size_t del = ks_below(&rng, 4), ins = ks_below(&rng, 4);
                /* inside Date's 29-byte value, or anywhere */
                size_t at = in_date ? date_at + ks_below(&rng, 29 - del + 1)
                                    : ks_below(&rng, n);
                if (at + del > n)
                    del = n - at;
                static const char alphabet[] = "0123456789 \t:\r\naZ,\"\0\x80";
                char add[4];
                for (size_t i = 0; i < ins; i++)
                    add[i] = alphabet[ks_below(&rng, sizeof alphabet - 1)];
                memmove(buf + at + ins, buf + at + del, n - at - del);
                memcpy(buf + at, add, ins);
                n = n - del + ins;
                bool plain_date = in_date && del == ins;
                for (size_t i = 0; plain_date && i < ins; i++)
                    plain_date = add[i] >= '0' && add[i] <= '9';
                bool took = steady_agrees(pol_api, &o, tls, s, buf, n);
                taken += took;
                if (plain_date && !took && getenv("STEADY_DEBUG")) {
                    char esc[2048];
                    ks_escape(buf, n, 400, esc, sizeof esc);
                    fprintf(stderr, "not taken (f %zu tls %d at %zu): %s\n", f, tls, at, esc);
                }
                if (plain_date) {
                    date_edits++;
                    date_taken += took;
                }
            }
        }
    }
    /* digits for digits inside the Date value: always the steady way */
    ck_assert_uint_gt(date_edits, 1000);
    ck_assert_uint_eq(date_taken, date_edits);
    ck_assert_uint_gt(taken, date_edits);
#ifdef HS_HAVE_AVX2
    atomic_store(&hs_cpu_avx2, 0);      /* asked again next time */
#endif
}
END_TEST

static void setup(void)
{
    pol_api = load_preset("api");
    pol_auto = load_preset("auto");
    ck_assert_ptr_nonnull(pol_api);
    ck_assert_ptr_nonnull(pol_auto);
}

static void teardown(void)
{
    hs_policy_free(pol_api);
    hs_policy_free(pol_auto);
}

static Suite *suite(void)
{
    Suite *s = suite_create("rewrite_steady");
    TCase *t = tcase_create("core");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, the_steady_state_is_taken);
    tcase_add_test(t, the_rest_is_left_to_the_general_way);
    tcase_add_loop_test(t, random_edits_agree, 0, 2);
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
