/*
 * http1_framing.c - how the body after a response header block is framed
 * (IO-CONTRACT.md "Framing", RFC 9112 6.3), and whether the connection
 * carries anything after it (RFC 9112 9.3, 9.6). Also the comma-list and
 * Content-Length helpers of http1_util.h, which requests share.
 */
#include "http1_util.h"

#include <string.h>

/* ---------------------------------------------------------------------
 * Lists and fields (http1_util.h)
 * --------------------------------------------------------------------- */

bool hs_http1_list_next(hs_str list, size_t *pos, hs_str *elem)
{
    /* *pos <= len: the next element starts there; len + 1: exhausted. So
     * "" is one empty element and "a," two elements, the second empty. */
    if (*pos > list.len)
        return false;
    size_t rest = list.len - *pos;
    const char *start = rest ? list.p + *pos : list.p;
    const char *comma = rest ? memchr(start, ',', rest) : NULL;
    size_t n = comma ? (size_t)(comma - start) : rest;
    *elem = hs_str_trim((hs_str){start, n});
    *pos = comma ? *pos + n + 1 : list.len + 1;
    return true;
}

bool hs_http1_list_has(hs_str list, const char *token, size_t token_len)
{
    size_t pos = 0;
    hs_str e;
    while (hs_http1_list_next(list, &pos, &e))
        if (hs_str_ieq(e, token, token_len))
            return true;
    return false;
}

int hs_http1_find(const hs_field *fields, size_t nfields, const char *name,
                  size_t name_len, size_t from)
{
    for (size_t i = from; i < nfields; i++)
        if (fields[i].name.len == name_len &&
            hs_http1_ieq(fields[i].name.p, name, name_len))
            return (int)i;
    return -1;
}

bool hs_http1_fields_last_is(const hs_field *fields, size_t nfields,
                             const char *name, size_t name_len,
                             const char *token, size_t token_len)
{
    /* The last non-empty element over all lines of the name, in order
     * (RFC 9110 5.3: several lines of one name are one comma list). */
    hs_str last = {NULL, 0};
    for (int i = hs_http1_find(fields, nfields, name, name_len, 0); i >= 0;
         i = hs_http1_find(fields, nfields, name, name_len, (size_t)i + 1)) {
        size_t pos = 0;
        hs_str e;
        while (hs_http1_list_next(fields[i].value, &pos, &e))
            if (e.len)
                last = e;
    }
    return last.p && hs_str_ieq(last, token, token_len);
}

/* 2^63 - 1: curl, browsers and Node keep a length in a signed 64-bit
 * integer; beyond it they disagree, so it is invalid here. */
#define CL_MAX ((uint64_t)INT64_MAX)

hs_http1_cl hs_http1_content_length(const hs_field *fields, size_t nfields,
                                    size_t from, uint64_t *length)
{
    bool seen = false;
    uint64_t value = 0;
    for (int i = hs_http1_find(fields, nfields, "content-length", 14, from);
         i >= 0;
         i = hs_http1_find(fields, nfields, "content-length", 14,
                           (size_t)i + 1)) {
        size_t pos = 0;
        hs_str e;
        while (hs_http1_list_next(fields[i].value, &pos, &e)) {
            if (e.len == 0)
                return HS_HTTP1_CL_INVALID;
            uint64_t v = 0;
            for (size_t k = 0; k < e.len; k++) {
                unsigned d = (unsigned char)e.p[k] - '0';
                if (d > 9)
                    return HS_HTTP1_CL_INVALID;
                if (v > (CL_MAX - d) / 10)
                    return HS_HTTP1_CL_INVALID;
                v = v * 10 + d;
            }
            if (seen && v != value)
                return HS_HTTP1_CL_CONFLICT;
            seen = true;
            value = v;
        }
    }
    if (!seen)
        return HS_HTTP1_CL_NONE;
    *length = value;
    return HS_HTTP1_CL_OK;
}


/* What the framing fields of a block say, line by line. */
typedef struct field_facts {
    int cl;                 /* the first Content-Length line, or -1 */
    unsigned ncl;
    bool te, close, keep_alive;
} field_facts;

/* Field i, told apart by name length first (10, 14, 17); the names of an
 * OK block are tokens, as hs_http1_token_is needs. */
static inline void note_field(field_facts *ff, const hs_block *b, size_t i)
{
    const hs_field *fl = &b->fields[i];
    switch (fl->name.len) {
    case 10:
        /* close: "Connection: close" (RFC 9112 9.6), or an HTTP/1.0
         * response without keep-alive (RFC 9112 9.3: 1.0 is not persistent
         * by default). Connection is a comma list that may span several
         * lines; the one-token values every server writes are told without
         * the list machinery (a value of an OK block holds no CR, the one
         * byte hs_http1_token_is could mistake for '-'). */
        if (hs_http1_token_is(fl->name.p, "connection", 10)) {
            hs_str v = fl->value;
            if (v.len == 10 && hs_http1_token_is(v.p, "keep-alive", 10)) {
                ff->keep_alive |= b->minor == 0;
            } else if (v.len == 5 && hs_http1_ieq(v.p, "close", 5)) {
                ff->close = true;
            } else {
                ff->close |= hs_http1_list_has(v, "close", 5);
                ff->keep_alive |= b->minor == 0 &&
                                  hs_http1_list_has(v, "keep-alive", 10);
            }
        }
        break;
    case 14:
        if (hs_http1_token_is(fl->name.p, "content-length", 14)) {
            if (ff->cl < 0)
                ff->cl = (int)i;
            ff->ncl++;
        }
        break;
    case 17:
        ff->te |= hs_http1_token_is(fl->name.p, "transfer-encoding", 17);
        break;
    default:
        break;
    }
}

hs_framing_facts hs_block_framing_facts(const hs_block *b)
{
    /* One pass over the names; a block read against a shape says which
     * lines frame it. */
    field_facts ff = { -1, 0, false, false, false };
    if (b->shape) {
        /* A block that repeats its shape's framing lines says what they
         * said. */
        if (b->shape_facts)
            return *b->shape_facts;
        for (uint32_t lines = hs_shape_framing(b); lines; lines &= lines - 1)
            note_field(&ff, b, (size_t)__builtin_ctz(lines));
    } else {
        for (size_t i = 0; i < b->nfields; i++)
            note_field(&ff, b, i);
    }
    hs_framing_facts fx = { 0 };
    fx.close = ff.close || (b->minor == 0 && !ff.keep_alive);
    fx.coded = ff.te;
    /* RFC 9112 6.3 item 4: chunked last frames the body. */
    fx.chunked = ff.te && hs_http1_fields_last_is(b->fields, b->nfields,
                                                  "transfer-encoding", 17,
                                                  "chunked", 7);
    fx.has_length = ff.cl >= 0;
    fx.length_ok =
        ff.cl >= 0 &&
        ((ff.ncl == 1 && hs_http1_plain_number(b->fields[ff.cl].value,
                                               &fx.length)) ||
         hs_http1_content_length(b->fields, b->nfields, (size_t)ff.cl,
                                 &fx.length) == HS_HTTP1_CL_OK);
    return fx;
}

hs_framing hs_response_framing(const hs_block *b, hs_method_kind m)
{
    return hs_framing_inline(b, m);
}
