/*
 * http1_util.h - small helpers shared by the http1 parsing files (and any
 * other core file that needs them): character classes, case-insensitive
 * comparison, comma-list scanning and the Content-Length rule.
 *
 * Internal to the core; not part of headershim.h.
 */
#ifndef HS_HTTP1_UTIL_H
#define HS_HTTP1_UTIL_H

#include "headershim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The tables are in http1_response.c, the list and field helpers in
 * http1_framing.c. */

/* RFC 9110 5.6.2 tchar: 1 for "!#$%&'*+-.^_`|~", DIGIT, ALPHA; 0 otherwise
 * (CTLs, SP, delimiters, DEL and every byte >= 0x80). ':', CR, LF and NUL
 * are 0, so a loop over a name stops at the colon or the line end without
 * a bounds check. Defined in http1_response.c. */
extern const unsigned char hs_http1_tchar[256];

/* ASCII lowercase of every byte (non-letters map to themselves). */
extern const unsigned char hs_http1_lower[256];

/* "HTTP/1.<digit> <3 digits>", status 100..999 (RFC 9112 4). */
static inline bool hs_http1_status_prefix(const char *buf, size_t len)
{
    return len >= 12 && memcmp(buf, "HTTP/1.", 7) == 0 &&
           (unsigned)(buf[7] - '0') <= 9 && buf[8] == ' ' &&
           (unsigned)(buf[9] - '1') <= 8 && (unsigned)(buf[10] - '0') <= 9 &&
           (unsigned)(buf[11] - '0') <= 9;
}

/* A Content-Length value as every fast path takes it: 1 to 18 digits and
 * nothing else (18 digits cannot overflow; a list, a sign or a longer
 * number goes to the careful reading, hs_http1_content_length). */
static inline bool hs_http1_plain_number(hs_str v, uint64_t *out)
{
    if (v.len == 0 || v.len > 18)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < v.len; i++) {
        unsigned d = (unsigned char)v.p[i] - '0';
        if (d > 9)
            return false;
        x = x * 10 + d;
    }
    *out = x;
    return true;
}

/* Whether p[0..9) is "HTTP/1." DIGIT SP (a memcmp of a constant length
 * compiles to loads, no call). */
static inline bool hs_http1_status9(const char *p)
{
    return memcmp(p, "HTTP/1.", 7) == 0 && (unsigned)(p[7] - '0') <= 9 &&
           p[8] == ' ';
}

static inline bool hs_http1_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Case-insensitive equality of a[0..n) and b[0..n) (ASCII letters only:
 * '^' and '~' differ, as they must in a token). */
static inline bool hs_http1_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (hs_http1_lower[(unsigned char)a[i]] !=
            hs_http1_lower[(unsigned char)b[i]])
            return false;
    return true;
}

/* p[0..n) is a token (n >= 8), lit is lowercase letters, digits and '-':
 * a case-insensitive compare 8 bytes at a time. OR-ing 0x20 lowercases
 * letters and leaves '-' and digits alone; the only other bytes it could
 * map onto them (CR, 0x10..0x19) are no tchars. */
static inline bool hs_http1_token_is(const char *p, const char *lit, size_t n)
{
    const uint64_t lower = 0x2020202020202020ull;
    uint64_t a, b;
    for (size_t i = 0; i + 8 < n; i += 8) {
        memcpy(&a, p + i, 8);
        memcpy(&b, lit + i, 8);
        if ((a | lower) != b)
            return false;
    }
    memcpy(&a, p + n - 8, 8);
    memcpy(&b, lit + n - 8, 8);
    return (a | lower) == b;
}

static inline bool hs_str_ieq(hs_str s, const char *lit, size_t lit_len)
{
    return s.len == lit_len && hs_http1_ieq(s.p, lit, lit_len);
}

/* Trims SP and HTAB on both sides. */
static inline hs_str hs_str_trim(hs_str s)
{
    while (s.len && hs_http1_is_blank(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len && hs_http1_is_blank(s.p[s.len - 1]))
        s.len--;
    return s;
}

/* Iterates the elements of a comma-separated list (RFC 9110 5.6.1), each
 * trimmed; empty elements are returned too (callers decide). Start with
 * *pos = 0; returns false when the list is exhausted. */
bool hs_http1_list_next(hs_str list, size_t *pos, hs_str *elem);

/* True when some element of the list equals token case-insensitively. */
bool hs_http1_list_has(hs_str list, const char *token, size_t token_len);

/* Whether the fields named `name` (a comma list over one or more lines)
 * end with the element `token`: used for "Transfer-Encoding ends in
 * chunked" (RFC 9112 6.3 items 4 and 6). Empty elements are skipped. */
bool hs_http1_fields_last_is(const hs_field *fields, size_t nfields,
                             const char *name, size_t name_len,
                             const char *token, size_t token_len);

/* The Content-Length rule shared by responses and requests (RFC 9110 8.6,
 * RFC 9112 6.3 item 5): every element of every Content-Length line must
 * be all digits, and all of them must be the same number. */
typedef enum hs_http1_cl {
    HS_HTTP1_CL_NONE,      /* no Content-Length line */
    HS_HTTP1_CL_OK,        /* *length set */
    HS_HTTP1_CL_INVALID,   /* empty, not digits, or too large */
    HS_HTTP1_CL_CONFLICT,  /* two different values */
} hs_http1_cl;

hs_http1_cl hs_http1_content_length(const hs_field *fields, size_t nfields,
                                    size_t from, uint64_t *length);

/* Index of the first field named name[0..name_len) at or after from, or -1. */
int hs_http1_find(const hs_field *fields, size_t nfields, const char *name,
                  size_t name_len, size_t from);

/* hs_block_parse without its fast path: the same result by the plain
 * line-by-line method (for tests and the fuzzer, which compare them). */
hs_block_status hs_http1_block_parse_careful(const char *buf, size_t len,
                                             hs_block *b, const char **why);

/* hs_response_framing (headershim.h), inline for the engine, in the
 * order of RFC 9112 6.3: the first row that applies wins. The rows that
 * need no framing line come first (hs_framing_early), so that a block
 * whose shape knows what its framing lines say (b->shape_facts), or the
 * steady state's block (iomap.c), is framed without a call. */

/* The 101, 1xx and CONNECT rows: true when one of them applies (*f set). */
static inline bool hs_framing_early(int status, hs_method_kind m,
                                    hs_framing *f)
{
    *f = (hs_framing){HS_BODY_UNTIL_CLOSE, 0, false};
    if (status == 101) {
        f->kind = HS_BODY_TUNNEL;
        return true;
    }
    if (status < 200) {
        /* 1xx: the final response follows on the same connection; a
         * Connection: close here speaks for the exchange, not this
         * interim block, so it is the final block's to say. */
        f->kind = HS_BODY_INTERIM;
        return true;
    }
    if (m == HS_METHOD_CONNECT && status < 300) {
        f->kind = HS_BODY_TUNNEL;
        return true;
    }
    return false;
}

/* The rows after them, from what the framing lines say. */
static inline hs_framing hs_framing_final(int status, hs_method_kind m,
                                          const hs_framing_facts *fx)
{
    /* close_after: left false for INTERIM and TUNNEL (above), which have
     * no say on it, and for UNTIL_CLOSE bodies without those (the kind
     * says it all). */
    hs_framing f = {HS_BODY_UNTIL_CLOSE, 0, fx->close};
    if (m == HS_METHOD_HEAD || status == 204 || status == 304) {
        f.kind = HS_BODY_NONE;
        return f;
    }
    if (fx->coded) {
        /* Any final coding but chunked runs until close. */
        if (fx->chunked)
            f.kind = HS_BODY_CHUNKED;
        return f;
    }
    if (fx->has_length) {
        /* A Content-Length the parser would have refused cannot reach
         * here; if it did, until close is the safe reading. */
        if (fx->length_ok) {
            f.kind = HS_BODY_LENGTH;
            f.length = fx->length;
        }
        return f;
    }
    /* Neither (RFC 9112 6.3 item 8): the body runs until close. */
    return f;
}

static inline hs_framing hs_framing_inline(const hs_block *b,
                                           hs_method_kind m)
{
    hs_framing f;
    if (hs_framing_early(b->status, m, &f))
        return f;
    if (b->shape_facts)
        return hs_framing_final(b->status, m, b->shape_facts);
    hs_framing_facts facts = hs_block_framing_facts(b);
    return hs_framing_final(b->status, m, &facts);
}

#endif /* HS_HTTP1_UTIL_H */
