/*
 * test_http1_response.c - hs_block_end, hs_block_parse, hs_block_find,
 * hs_could_be_status_line: exact offsets, every ambiguity cause of
 * IO-CONTRACT.md, and the status-line variety real servers write
 * (servers-io.md section 6 item 14).
 */
#include "headershim.h"
#include "block_end_reference.h"
#include "http1_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A literal with its exact length (NUL bytes included). */
#define LIT(s) (s), (sizeof(s) - 1)

static hs_block blk; /* large: keep it off the stack */

static hs_block_status parse_lit(const char *s, size_t n, const char **why)
{
    *why = NULL;
    return hs_block_parse(s, n, &blk, why);
}

/* ------------------------------------------------------------------ */

START_TEST(end_crlf_and_lf)
{
    ck_assert_uint_eq(hs_block_end(LIT("HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody"), 0),
                      25);
    ck_assert_uint_eq(hs_block_end(LIT("HTTP/1.1 200 OK\nA: b\n\nbody"), 0), 22);
    ck_assert_uint_eq(hs_block_end(LIT("HTTP/1.1 200 OK\r\n\r\n"), 0), 19);
    /* Mixed endings end a block too; hs_block_parse refuses them. */
    ck_assert_uint_eq(hs_block_end(LIT("HTTP/1.1 200 OK\r\nA: b\r\n\n"), 0), 24);
    ck_assert_uint_eq(hs_block_end(LIT("HTTP/1.1 200 OK\nA: b\n\r\n"), 0), 23);
}
END_TEST

START_TEST(end_incomplete)
{
    ck_assert_uint_eq(hs_block_end(LIT(""), 0), 0);
    ck_assert_uint_eq(hs_block_end(LIT("HTTP/1.1 200 OK\r\n"), 0), 0);
    ck_assert_uint_eq(hs_block_end(LIT("HTTP/1.1 200 OK\r\nA: b\r\n\r"), 0), 0);
    ck_assert_uint_eq(hs_block_end(LIT("HTTP/1.1 200 OK\r\nA: b\r\n\r\r\n"), 0),
                      0);
    ck_assert_uint_eq(hs_block_end(LIT("abc"), 5), 0);
}
END_TEST

/* Growing the buffer one byte at a time and resuming at len - 3 finds the
 * end exactly when the last byte of the blank line arrives. */
START_TEST(end_resume_every_length)
{
    static const char *streams[] = {
        "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 3\r\n\r\nabc",
        "HTTP/1.0 404 Not Found\nA: b\n\nzz",
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA:\r\n\r\n\r\n",
    };
    static const size_t ends[] = {49, 29, 27, 23};
    for (size_t s = 0; s < sizeof streams / sizeof *streams; s++) {
        const char *buf = streams[s];
        size_t total = strlen(buf), found = 0, prev = 0;
        for (size_t len = 1; len <= total && !found; len++) {
            size_t from = prev >= 3 ? prev - 3 : 0;
            found = hs_block_end(buf, len, from);
            if (found)
                ck_assert_uint_eq(len, ends[s]);
            prev = len;
        }
        ck_assert_uint_eq(found, ends[s]);
        ck_assert_uint_eq(hs_block_end(buf, total, 0), ends[s]);
    }
}
END_TEST

/* Against the byte-by-byte reference (block_end_reference.h), over buffers
 * of LF, CR and filler of every length to 300 (several 62-byte search
 * windows) and many starts. */
START_TEST(end_matches_reference)
{
    static char buf[300];
    static const char *const patterns[] = {"\n\n", "\n\r\n", "\n\r\r\n",
                                           "\r\n\r", "\n\rx\n"};
    unsigned long x = 7;
    for (size_t pos = 0; pos + 4 <= sizeof buf; pos++) {
        for (size_t k = 0; k < sizeof patterns / sizeof *patterns; k++) {
            memset(buf, 'x', sizeof buf);
            /* decoys: lone LFs and CRs, never two LFs in a row */
            for (int d = 0; d < 6; d++) {
                x = x * 6364136223846793005ul + 1442695040888963407ul;
                size_t at = (size_t)(x >> 33) % sizeof buf;
                buf[at] = (x >> 20) & 1 ? '\r' : '\n';
                if (at + 1 < sizeof buf)
                    buf[at + 1] = 'y';
            }
            size_t plen = strlen(patterns[k]);
            memcpy(buf + pos, patterns[k], plen);
            size_t lens[] = {pos + plen - 1, pos + plen, sizeof buf};
            for (size_t l = 0; l < 3; l++) {
                size_t len = lens[l];
                size_t froms[] = {0, pos / 2, pos > 0 ? pos - 1 : 0, pos};
                for (size_t f = 0; f < 4; f++)
                    ck_assert_msg(hs_block_end(buf, len, froms[f]) ==
                                      end_reference(buf, len, froms[f]),
                                  "pos %zu pattern %zu len %zu from %zu", pos,
                                  k, len, froms[f]);
            }
        }
    }
}
END_TEST

/* ------------------------------------------------------------------ */

START_TEST(could_be_status_line)
{
    const char *full = "HTTP/1.1 200 OK\r\n";
    for (size_t n = 0; n <= strlen(full); n++)
        ck_assert_msg(hs_could_be_status_line(full, n), "prefix %zu", n);
    ck_assert(hs_could_be_status_line("HTTP/1.0 ", 9));
    ck_assert(hs_could_be_status_line("HTTP/1.9", 8));
    ck_assert(!hs_could_be_status_line("HTTP/2 200", 10));
    ck_assert(!hs_could_be_status_line("HTTP/1.x", 8));
    ck_assert(!hs_could_be_status_line("HTTP/1.1\t", 9));
    ck_assert(!hs_could_be_status_line("http", 4));
    ck_assert(!hs_could_be_status_line("GET / HTTP/1.1", 14));
    ck_assert(!hs_could_be_status_line("\x16\x03\x01", 3)); /* TLS record */
    ck_assert(!hs_could_be_status_line("PRI * HTTP/2.0", 14));
    /* Every one-byte change of a status line's first twelve bytes,
     * against the rule byte by byte ("HTTP/1.", a digit, a space): the
     * nine-byte check (hs_http1_status9) must agree. */
    for (size_t at = 0; at < 12; at++)
        for (int v = 0; v < 256; v++) {
            char line[] = "HTTP/1.1 200 OK\r\n";
            line[at] = (char)v;
            bool want = memcmp(line, "HTTP/1.", 7) == 0 &&
                        line[7] >= '0' && line[7] <= '9' && line[8] == ' ';
            ck_assert_msg(hs_could_be_status_line(line, sizeof line - 1) == want,
                          "byte %zu = %d", at, v);
        }
    /* Empty input, NULL included, could still become anything. */
    ck_assert(hs_could_be_status_line(NULL, 0));
    ck_assert_uint_eq(hs_block_end(NULL, 0, 0), 0);
    const char *why = NULL;
    ck_assert_int_eq(hs_block_parse(NULL, 0, &blk, &why), HS_BLOCK_NOT_HTTP);
}
END_TEST

/* ------------------------------------------------------------------ */

static const char typical[] =
    "HTTP/1.1 200 OK\r\n"
    "Server: nginx/1.22.1\r\n"
    "Date: Sun, 29 Nov 2026 04:00:00 GMT\r\n"
    "Content-Type: text/html\r\n"
    "Content-Length: 615\r\n"
    "Last-Modified: Tue, 13 Jun 2023 15:08:10 GMT\r\n"
    "Connection: keep-alive\r\n"
    "ETag: \"64888a5a-267\"\r\n"
    "Accept-Ranges: bytes\r\n"
    "\r\n";

START_TEST(parse_typical_exact)
{
    const char *why;
    size_t n = sizeof typical - 1;
    ck_assert_uint_eq(hs_block_end(typical, n, 0), n);
    ck_assert_int_eq(parse_lit(typical, n, &why), HS_BLOCK_OK);
    ck_assert_ptr_eq(blk.base, typical);
    ck_assert_uint_eq(blk.len, n);
    ck_assert_int_eq(blk.minor, 1);
    ck_assert_int_eq(blk.status, 200);
    ck_assert(blk.crlf);
    ck_assert_uint_eq(blk.status_line_len, 17);
    ck_assert_uint_eq(blk.nfields, 8);

    static const char *names[] = {"Server", "Date", "Content-Type",
                                  "Content-Length", "Last-Modified",
                                  "Connection", "ETag", "Accept-Ranges"};
    static const char *values[] = {"nginx/1.22.1",
                                   "Sun, 29 Nov 2026 04:00:00 GMT",
                                   "text/html", "615",
                                   "Tue, 13 Jun 2023 15:08:10 GMT",
                                   "keep-alive", "\"64888a5a-267\"", "bytes"};
    size_t off = blk.status_line_len;
    for (size_t i = 0; i < 8; i++) {
        const hs_field *f = &blk.fields[i];
        ck_assert_uint_eq(f->name.len, strlen(names[i]));
        ck_assert(memcmp(f->name.p, names[i], f->name.len) == 0);
        ck_assert_uint_eq(f->value.len, strlen(values[i]));
        ck_assert(memcmp(f->value.p, values[i], f->value.len) == 0);
        /* Lines tile the block: each starts where the previous ended and
         * covers "Name: value\r\n". */
        ck_assert_uint_eq(f->line_off, off);
        ck_assert_ptr_eq(f->name.p, typical + off);
        ck_assert_uint_eq(f->line_len, strlen(names[i]) + 2 +
                                           strlen(values[i]) + 2);
        ck_assert(memcmp(typical + off + f->line_len - 2, "\r\n", 2) == 0);
        off += f->line_len;
    }
    /* What is left is exactly the blank line, which is no field. */
    ck_assert_uint_eq(off + 2, n);
}
END_TEST

START_TEST(parse_lf_only)
{
    const char *why;
    static const char s[] = "HTTP/1.0 404 File not found\nContent-type: text/html\n"
                            "X-Empty:\n\n";
    ck_assert_int_eq(parse_lit(LIT(s), &why), HS_BLOCK_OK);
    ck_assert(!blk.crlf);
    ck_assert_int_eq(blk.minor, 0);
    ck_assert_int_eq(blk.status, 404);
    ck_assert_uint_eq(blk.status_line_len, 28);
    ck_assert_uint_eq(blk.nfields, 2);
    ck_assert_uint_eq(blk.fields[0].line_off, 28);
    ck_assert_uint_eq(blk.fields[0].line_len, 24);
    ck_assert_uint_eq(blk.fields[1].value.len, 0);
    ck_assert_uint_eq(blk.fields[1].line_off, 52);
    ck_assert_uint_eq(blk.fields[1].line_len, 9);
}
END_TEST

START_TEST(parse_status_line_variety)
{
    const char *why;
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.1 200\r\n\r\n"), &why), HS_BLOCK_OK);
    ck_assert_int_eq(blk.status, 200);
    ck_assert_uint_eq(blk.status_line_len, 14);
    ck_assert_uint_eq(blk.nfields, 0);
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.1 200 \r\n\r\n"), &why), HS_BLOCK_OK);
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.1 200 Ok\r\n\r\n"), &why), HS_BLOCK_OK);
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.1 100 Continue\r\n\r\n"), &why),
                     HS_BLOCK_OK);
    ck_assert_int_eq(blk.status, 100);
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.1 999 Whatever It Is\n\n"), &why),
                     HS_BLOCK_OK);
    ck_assert_int_eq(blk.status, 999);
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.7 301 \xc3\xa9t\xc3\xa9\r\n\r\n"), &why),
                     HS_BLOCK_OK);
    ck_assert_int_eq(blk.minor, 7);
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.1 200 two  spaces\tand tab\r\n\r\n"),
                               &why),
                     HS_BLOCK_OK);
}
END_TEST

START_TEST(parse_not_http)
{
    static const char *const cases[] = {
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 000\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1 200\tOK\r\n\r\n",
        "HTTP/1.1 20x OK\r\n\r\n",
        "HTTP/1.x 200 OK\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/2.0 200 OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        " HTTP/1.1 200 OK\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "HTTP/1.1\r\n\r\n",
        "",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *why = NULL;
        ck_assert_msg(hs_block_parse(cases[i], strlen(cases[i]), &blk, &why) ==
                          HS_BLOCK_NOT_HTTP,
                      "case %zu", i);
        ck_assert_ptr_nonnull(why);
    }
}
END_TEST

/* Every cause of IO-CONTRACT.md's unambiguity rule, with its reason. */
static const struct {
    const char *block;
    size_t len;
    const char *why;
} ambiguous[] = {
#define A(s, w) {s, sizeof(s) - 1, w}
    A("HTTP/1.1 200 OK\r\nA: b\nC: d\r\n\r\n", "mixed line endings"),
    A("HTTP/1.1 200 OK\r\nA: b\r\n\n", "mixed line endings"),
    A("HTTP/1.1 200 OK\nA: b\r\n\n", "mixed line endings"),
    A("HTTP/1.1 200 OK\nA: b\n\r\n", "mixed line endings"),
    A("HTTP/1.1 200 OK\r\nA: b\r\r\n\r\n", "bare CR"),
    A("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", "bare CR"),
    A("HTTP/1.1 200 OK\nA: b\rc\n\n", "bare CR"),
    A("HTTP/1.1 200 O\rK\r\n\r\n", "bare CR"),
    A("HTTP/1.1 200 OK\r\nA\r: b\r\n\r\n", "bare CR"),
    A("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", "obs-fold"),
    A("HTTP/1.1 200 OK\r\nA: b\r\n\tc\r\n\r\n", "obs-fold"),
    A("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "field line without colon"),
    A("HTTP/1.1 200 OK\r\nA : b\r\n\r\n", "whitespace before colon"),
    A("HTTP/1.1 200 OK\r\nA\t: b\r\n\r\n", "whitespace before colon"),
    A("HTTP/1.1 200 OK\r\n: b\r\n\r\n", "empty field name"),
    A("HTTP/1.1 200 OK\r\nA(b): c\r\n\r\n", "invalid character in field name"),
    A("HTTP/1.1 200 OK\r\nA b: c\r\n\r\n", "whitespace before colon"),
    A("HTTP/1.1 200 OK\r\nA\xc3\xa9: c\r\n\r\n", "invalid character in field name"),
    A("HTTP/1.1 200 OK\r\nA/b: c\r\n\r\n", "invalid character in field name"),
    A("HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n", "NUL byte"),
    A("HTTP/1.1 200 OK\r\nA\0: b\r\n\r\n", "NUL byte"),
    A("HTTP/1.1 200 O\0K\r\n\r\n", "NUL byte"),
    A("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
      "two Content-Length values"),
    A("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
      "two Content-Length values"),
    A("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5, 7\r\n\r\n",
      "two Content-Length values"),
    A("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "invalid Content-Length"),
    A("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", "invalid Content-Length"),
    A("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", "invalid Content-Length"),
    A("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", "invalid Content-Length"),
    A("HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\n", "invalid Content-Length"),
    A("HTTP/1.1 200 OK\r\nContent-Length: 5,\r\n\r\n", "invalid Content-Length"),
    A("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", "invalid Content-Length"),
    A("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n",
      "invalid Content-Length"),
    A("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
      "invalid Content-Length"),
    A("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      "Transfer-Encoding in HTTP/1.0"),
    A("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
      "Transfer-Encoding with Content-Length"),
    A("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ntransfer-encoding: gzip\r\n\r\n",
      "Transfer-Encoding with Content-Length"),
    A("HTTP/1.1 200 OK\r\nA: b\r\n", "incomplete block"),
    A("HTTP/1.1 200 OK", "incomplete block"),
    A("HTTP/1.1 200 OK\r\n\r\nbody", "bytes after blank line"),
    A("HTTP/1.1 200 OK\r\nA: b\r\n\r\nC: d\r\n\r\n", "bytes after blank line"),
#undef A
};

START_TEST(parse_ambiguous)
{
    size_t i = (size_t)_i;
    const char *why = NULL;
    hs_block_status s =
        hs_block_parse(ambiguous[i].block, ambiguous[i].len, &blk, &why);
    ck_assert_msg(s == HS_BLOCK_AMBIGUOUS, "case %zu: status %d", i, (int)s);
    ck_assert_msg(why && strcmp(why, ambiguous[i].why) == 0,
                  "case %zu: why '%s', expected '%s'", i, why ? why : "(null)",
                  ambiguous[i].why);
    /* why may be NULL. */
    ck_assert_int_eq(hs_block_parse(ambiguous[i].block, ambiguous[i].len, &blk,
                                    NULL),
                     HS_BLOCK_AMBIGUOUS);
}
END_TEST

START_TEST(parse_content_length_accepted)
{
    const char *why;
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n"),
                               &why),
                     HS_BLOCK_OK);
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                   "X: y\r\nCONTENT-LENGTH:5\r\n\r\n"),
                               &why),
                     HS_BLOCK_OK);
    /* Numerically equal: every client that accepts both reads 5. */
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.1 200 OK\r\nContent-Length: 005,5\r\n\r\n"),
                               &why),
                     HS_BLOCK_OK);
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.1 200 OK\r\nContent-Length: "
                                   "9223372036854775807\r\n\r\n"),
                               &why),
                     HS_BLOCK_OK);
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                   "Transfer-Encoding: gzip\r\n\r\n"),
                               &why),
                     HS_BLOCK_OK);
    /* Only the name Content-Length counts. */
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.1 200 OK\r\nContent-Lengths: x\r\n"
                                   "X-Content-Length: y\r\n\r\n"),
                               &why),
                     HS_BLOCK_OK);
}
END_TEST

START_TEST(parse_value_trimming)
{
    const char *why;
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.1 200 OK\r\nA:  a b \t\r\nB:\r\n"
                                   "C: \t \r\nD:x\r\n\r\n"),
                               &why),
                     HS_BLOCK_OK);
    ck_assert_uint_eq(blk.nfields, 4);
    ck_assert_uint_eq(blk.fields[0].value.len, 3);
    ck_assert(memcmp(blk.fields[0].value.p, "a b", 3) == 0);
    ck_assert_uint_eq(blk.fields[0].line_len, 11);
    ck_assert_uint_eq(blk.fields[1].value.len, 0);
    ck_assert_uint_eq(blk.fields[2].value.len, 0);
    ck_assert_uint_eq(blk.fields[3].value.len, 1);
    ck_assert_int_eq(blk.fields[3].value.p[0], 'x');
    /* A token may hold every tchar. */
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.1 200 OK\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n"),
                               &why),
                     HS_BLOCK_OK);
    ck_assert_uint_eq(blk.fields[0].name.len, 21);
}
END_TEST

static char *many_fields(size_t n, size_t *len)
{
    char *s = malloc(32 + n * 16);
    size_t k = (size_t)sprintf(s, "HTTP/1.1 200 OK\r\n");
    for (size_t i = 0; i < n; i++)
        k += (size_t)sprintf(s + k, "X-%zu: v\r\n", i);
    k += (size_t)sprintf(s + k, "\r\n");
    *len = k;
    return s;
}

START_TEST(parse_field_limit)
{
    size_t len;
    const char *why = NULL;
    char *s = many_fields(HS_MAX_FIELDS, &len);
    ck_assert_int_eq(hs_block_parse(s, len, &blk, &why), HS_BLOCK_OK);
    ck_assert_uint_eq(blk.nfields, HS_MAX_FIELDS);
    ck_assert_uint_eq(blk.fields[HS_MAX_FIELDS - 1].line_off +
                          blk.fields[HS_MAX_FIELDS - 1].line_len + 2,
                      len);
    free(s);
    s = many_fields(HS_MAX_FIELDS + 1, &len);
    ck_assert_int_eq(hs_block_parse(s, len, &blk, &why),
                     HS_BLOCK_TOO_MANY_FIELDS);
    ck_assert_str_eq(why, "too many fields");
    free(s);
}
END_TEST

START_TEST(find_fields)
{
    const char *why;
    ck_assert_int_eq(parse_lit(LIT("HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\n"
                                   "X-A^b: 1\r\nset-cookie: b=2\r\n"
                                   "SET-COOKIE: c=3\r\n\r\n"),
                               &why),
                     HS_BLOCK_OK);
    ck_assert_int_eq(hs_block_find(&blk, "set-cookie", 10, 0), 0);
    ck_assert_int_eq(hs_block_find(&blk, "Set-Cookie", 10, 1), 2);
    ck_assert_int_eq(hs_block_find(&blk, "SET-cookie", 10, 3), 3);
    ck_assert_int_eq(hs_block_find(&blk, "set-cookie", 10, 4), -1);
    ck_assert_int_eq(hs_block_find(&blk, "set-cookie", 10, 99), -1);
    ck_assert_int_eq(hs_block_find(&blk, "set-cooki", 9, 0), -1);
    ck_assert_int_eq(hs_block_find(&blk, "x-a^b", 5, 0), 1);
    ck_assert_int_eq(hs_block_find(&blk, "x-a~b", 5, 0), -1);
    ck_assert_int_eq(hs_block_find(&blk, "X-A^B", 5, 0), 1);
}
END_TEST

/* Every prefix of a valid block that hs_block_end calls incomplete must
 * not parse as OK either (the parser never reads past len). */
START_TEST(parse_prefixes_never_ok)
{
    size_t n = sizeof typical - 1;
    for (size_t k = 0; k < n; k++) {
        char *copy = malloc(k ? k : 1);
        memcpy(copy, typical, k);
        const char *why = NULL;
        ck_assert_int_ne(hs_block_parse(copy, k, &blk, &why), HS_BLOCK_OK);
        free(copy);
    }
}
END_TEST

/* The fast path and the careful parser agree on every vector above, and on
 * every block where one byte of a valid one is replaced by a byte that
 * matters to the rules. */
static hs_block careful;

static void same_as_careful(const char *s, size_t n)
{
    const char *w1 = NULL, *w2 = NULL;
    hs_block_status a = hs_block_parse(s, n, &blk, &w1);
    hs_block_status c = hs_http1_block_parse_careful(s, n, &careful, &w2);
    ck_assert_int_eq(a, c);
    ck_assert_ptr_eq(w1, w2);
    if (a != HS_BLOCK_OK)
        return;
    ck_assert_uint_eq(blk.nfields, careful.nfields);
    ck_assert_uint_eq(blk.status_line_len, careful.status_line_len);
    ck_assert_int_eq(blk.crlf, careful.crlf);
    ck_assert(memcmp(blk.fields, careful.fields,
                     blk.nfields * sizeof blk.fields[0]) == 0);
}

/* Every ambiguous vector, and every block where one byte of `typical` is
 * replaced by a byte that matters to the rules, through check. Returns
 * how many of the changed blocks parse OK, and *total how many there are. */
static int each_variant(void (*check)(const char *, size_t), int *total)
{
    for (size_t i = 0; i < sizeof ambiguous / sizeof *ambiguous; i++)
        check(ambiguous[i].block, ambiguous[i].len);
    static const char bytes[] = "\r\n\0 \t:(aZ-_";
    char copy[sizeof typical];
    size_t n = sizeof typical - 1;
    int ok = 0;
    *total = 0;
    for (size_t pos = 0; pos < n; pos++) {
        for (size_t k = 0; k < sizeof bytes - 1; k++) {
            memcpy(copy, typical, n);
            copy[pos] = bytes[k];
            check(copy, n);
            ok += hs_block_parse(copy, n, &blk, NULL) == HS_BLOCK_OK;
            ++*total;
        }
    }
    return ok;
}

START_TEST(fast_path_agrees)
{
    int total, ok = each_variant(same_as_careful, &total);
    /* the mutations both keep and break blocks */
    ck_assert_int_gt(ok, 100);
    ck_assert_int_lt(ok, total);
}
END_TEST

/* hs_block_parse_stream on a block followed by body bytes says what
 * hs_block_parse says on the block alone (its end from hs_block_end): the
 * same status, reason and fields. The bodies carry what the rules look at
 * (a NUL, a bare CR, an LF right after the blank line, a second block), so
 * a check that looked past the blank line would show here. */
static hs_block exact;

static void stream_same_as_exact(const char *s, size_t n)
{
#define BODY(s) { s, sizeof s - 1 }
    static const struct { const char *p; size_t len; } bodies[] = {
        BODY(""), BODY("\n"), BODY("\r"), BODY("x"), BODY("\r\n"), BODY("\0\0\0"),
        BODY("\n\r\rabc"), BODY("HTTP/1.1 200 OK\r\nA: b\r\n\r\n"),
        BODY("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r"),
    };
#undef BODY
    char *buf = malloc(n + 80);
    for (size_t k = 0; k < sizeof bodies / sizeof *bodies; k++) {
        memcpy(buf, s, n);
        memcpy(buf + n, bodies[k].p, bodies[k].len);
        size_t avail = n + bodies[k].len;
        const char *w1 = NULL, *w2 = NULL;
        hs_block_status a = hs_block_parse_stream(buf, avail, &blk, &w1);
        size_t end = hs_block_end(buf, avail, 0);
        if (!end) {
            ck_assert(a == HS_BLOCK_INCOMPLETE || a == HS_BLOCK_NOT_HTTP);
            continue;
        }
        hs_block_status e = hs_block_parse(buf, end, &exact, &w2);
        ck_assert_int_eq(a, e);
        ck_assert_ptr_eq(w1, w2);
        if (a != HS_BLOCK_OK)
            continue;
        ck_assert_uint_eq(blk.len, end);
        ck_assert_uint_eq(blk.nfields, exact.nfields);
        ck_assert_uint_eq(blk.status_line_len, exact.status_line_len);
        ck_assert_int_eq(blk.crlf, exact.crlf);
        ck_assert(memcmp(blk.fields, exact.fields,
                         blk.nfields * sizeof blk.fields[0]) == 0);
    }
    free(buf);
}

START_TEST(stream_agrees)
{
    int total;
    ck_assert_int_gt(each_variant(stream_same_as_exact, &total), 100);
    /* Every alignment of the blank line and of each LF to the 64-byte
     * windows: a field grown one byte at a time, CRLF and LF. */
    char grown[512];
    for (int lf_only = 0; lf_only <= 1; lf_only++) {
        for (size_t pad = 0; pad < 140; pad++) {
            const char *eol = lf_only ? "\n" : "\r\n";
            int len = snprintf(grown, sizeof grown, "HTTP/1.1 200 OK%sX-Pad: %.*s%s"
                               "Content-Length: 5%sVary: a%s%s", eol, (int)pad,
                               "................................................"
                               "................................................"
                               "................................................",
                               eol, eol, eol, eol);
            stream_same_as_exact(grown, (size_t)len);
            ck_assert_int_eq(hs_block_parse_stream(grown, (size_t)len, &blk, NULL),
                             HS_BLOCK_OK);
            ck_assert_uint_eq(blk.nfields, 3);
        }
    }
}
END_TEST

START_TEST(stream_incomplete_and_not_http)
{
    const char *why = NULL;
    size_t n = sizeof typical - 1;
    for (size_t k = 0; k < n; k++)
        ck_assert_int_eq(hs_block_parse_stream(typical, k, &blk, &why),
                         HS_BLOCK_INCOMPLETE);
    ck_assert_str_eq(why, "incomplete block");
    ck_assert_int_eq(hs_block_parse_stream(LIT("HTTP/2.0 200 OK\r\nA: b"), &blk,
                                           &why),
                     HS_BLOCK_NOT_HTTP);
    ck_assert_int_eq(hs_block_parse_stream(typical, n, &blk, &why), HS_BLOCK_OK);
    ck_assert_uint_eq(blk.len, n);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http1_response");
    TCase *t = tcase_create("core");
    tcase_add_test(t, end_crlf_and_lf);
    tcase_add_test(t, end_incomplete);
    tcase_add_test(t, end_resume_every_length);
    tcase_add_test(t, end_matches_reference);
    tcase_add_test(t, could_be_status_line);
    tcase_add_test(t, parse_typical_exact);
    tcase_add_test(t, parse_lf_only);
    tcase_add_test(t, parse_status_line_variety);
    tcase_add_test(t, parse_not_http);
    tcase_add_loop_test(t, parse_ambiguous, 0,
                        (int)(sizeof ambiguous / sizeof *ambiguous));
    tcase_add_test(t, parse_content_length_accepted);
    tcase_add_test(t, parse_value_trimming);
    tcase_add_test(t, parse_field_limit);
    tcase_add_test(t, find_fields);
    tcase_add_test(t, parse_prefixes_never_ok);
    tcase_add_test(t, fast_path_agrees);
    tcase_add_test(t, stream_agrees);
    tcase_add_test(t, stream_incomplete_and_not_http);
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
