/*
 * request_quick_check.h - the property that ties the request side's quick
 * scan (hs_request_quick_scan, shim/core/http1_request.c) to its
 * reference, hs_request_parse with hs_request_body_framing. Shared by
 * tests/unit/test_request_framing.c and tests/fuzz/fuzz_request.c.
 *
 * The verdict on a buffer that holds a whole head is the verdict on the
 * head alone (the engine's reads may be cut anywhere). Whenever the quick
 * scan takes a head:
 *   - its length is hs_block_end's (the engine's buffered path finds the
 *     end that way) and within the 16 KiB bound;
 *   - if hs_request_parse calls the head OK: the same length, the same
 *     body framing (and hs_request_body_framing does not refuse it), the
 *     same method kind, never CONNECT, no Upgrade field;
 *   - if hs_request_parse calls it INVALID: the only reason is field lines
 *     that are no valid field line but start with a tchar and do not
 *     start with Content-Length, Transfer-Encoding or Upgrade followed by
 *     a byte that could end the name (the quick scan's one leniency).
 *     Proved by repair: each such line gets "X:" in front, which makes it
 *     a harmless field; the repaired head must parse OK with the quick
 *     scan's framing;
 *   - never when hs_request_parse says INCOMPLETE or HTTP/2.
 * A quick "no" is always allowed: the engine then asks hs_request_parse.
 */
#ifndef REQUEST_QUICK_CHECK_H
#define REQUEST_QUICK_CHECK_H

#include "conn_internal.h"
#include "http1_util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What hs_request_parse accepts as a field line p[0, le) (content only). */
static bool rq_valid_field_line(const char *p, const char *le)
{
    if (p == le || hs_http1_is_blank(*p))
        return false;
    const char *q = p;
    while (q < le && hs_http1_tchar[(unsigned char)*q])
        q++;
    if (q == p || q == le || *q != ':')
        return false;
    return memchr(q + 1, '\r', (size_t)(le - q - 1)) == NULL;
}

/* True when the invalid line p[0, le) is one the quick scan may pass: it
 * starts with a tchar, and no framing field name at its start is followed
 * by a byte that is not a tchar (or by the line end). */
static bool rq_lenient_line(const char *p, const char *le)
{
    static const char *const names[] = {"content-length",
                                        "transfer-encoding", "upgrade"};
    if (p == le || !hs_http1_tchar[(unsigned char)*p])
        return false;
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(names[i]);
        if ((size_t)(le - p) >= n && strncasecmp(p, names[i], n) == 0 &&
            ((size_t)(le - p) == n || !hs_http1_tchar[(unsigned char)p[n]]))
            return false;
    }
    return true;
}

static const char *rq_compare(const hs_request_quick *q,
                              const hs_request_head *r, size_t len_delta)
{
    hs_request_body b;
    if (!hs_request_body_framing(r, &b))
        return "quick took a head whose body cannot be framed";
    if (b.kind != q->body.kind || b.length != q->body.length)
        return "body framing differs";
    if (r->len != q->len + len_delta)
        return "head length differs";
    hs_method_kind k = hs_method_kind_of(r->method);
    if (k != q->kind || k == HS_METHOD_CONNECT)
        return "method kind differs";
    if (hs_http1_find(r->fields, r->nfields, "upgrade", 7, 0) >= 0)
        return "quick took an Upgrade request";
    return NULL;
}

/* NULL when the property holds for buf[0, len); *took (if not NULL) says
 * whether the quick scan took the head. */
static const char *rq_check(const char *buf, size_t len, bool *took)
{
    static hs_request_head r; /* large: not on the stack */
    hs_request_quick q, q2;
    bool quick = hs_request_quick_scan(buf, len, &q);
    if (took)
        *took = quick;
    /* What this CPU runs (AVX2 or not) and the SSE2 build agree. */
    if (hs_request_quick_scan_sse2(buf, len, &q2) != quick ||
        (quick && (q2.len != q.len || q2.kind != q.kind ||
                   q2.body.kind != q.body.kind ||
                   q2.body.length != q.body.length)))
        return "the SSE2 scan and the dispatched one disagree";
    /* The verdict depends on the head alone, not on the bytes after it:
     * the engine scans a head from a longer read or from exactly its
     * bytes (fuzz_engine found reads cut differently framing apart). */
    size_t head_end = hs_block_end(buf, len, 0);
    if (head_end && head_end < len) {
        bool alone = hs_request_quick_scan(buf, head_end, &q2);
        if (alone != quick ||
            (quick && (q2.len != q.len || q2.kind != q.kind ||
                       q2.body.kind != q.body.kind ||
                       q2.body.length != q.body.length)))
            return "the verdict depends on the bytes after the head";
    }
    if (!quick)
        return NULL;
    if (q.len == 0 || q.len > len || q.len > HS_MAX_REQUEST_HEAD)
        return "head length out of bounds";
    if (hs_block_end(buf, len, 0) != q.len)
        return "head end differs from hs_block_end";
    if (q.kind != HS_METHOD_OTHER && q.kind != HS_METHOD_HEAD)
        return "method kind neither OTHER nor HEAD";
    hs_request_status st = hs_request_parse(buf, len, &r);
    if (st == HS_REQUEST_OK)
        return rq_compare(&q, &r, 0);
    if (st != HS_REQUEST_INVALID)
        return "quick took what hs_request_parse calls incomplete or HTTP/2";

    /* Repair the lines the quick scan passed without judging them. */
    char *fixed = malloc(q.len * 2 + 2);
    if (!fixed)
        abort();
    const char *nl = memchr(buf, '\n', q.len);
    size_t w = (size_t)(nl + 1 - buf), repaired = 0;
    memcpy(fixed, buf, w);
    const char *p = nl + 1, *end = buf + q.len;
    const char *why = NULL;
    for (;;) {
        nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = (nl > p && nl[-1] == '\r') ? nl - 1 : nl;
        if (le == p)
            break; /* the blank line */
        if (!rq_valid_field_line(p, le)) {
            if (!rq_lenient_line(p, le)) {
                why = "quick took a line that may name a framing field";
                break;
            }
            memcpy(fixed + w, "X:", 2);
            w += 2;
            repaired++;
        }
        memcpy(fixed + w, p, (size_t)(nl + 1 - p));
        w += (size_t)(nl + 1 - p);
        p = nl + 1;
    }
    if (!why) {
        memcpy(fixed + w, p, (size_t)(end - p));
        w += (size_t)(end - p);
        if (repaired == 0)
            why = "quick took a head hs_request_parse refuses for no line";
        else if (w > HS_MAX_REQUEST_HEAD)
            why = NULL; /* the repair itself broke the bound: no verdict */
        else if (hs_request_parse(fixed, w, &r) != HS_REQUEST_OK)
            why = "quick took a head that stays invalid when repaired";
        else
            why = rq_compare(&q, &r, 2 * repaired);
    }
    free(fixed);
    return why;
}

#endif /* REQUEST_QUICK_CHECK_H */
