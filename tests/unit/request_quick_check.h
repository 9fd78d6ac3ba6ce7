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
 *   - hs_request_parse calls the head OK (both pass over a line that is
 *     no field line and names no framing field), with the same length,
 *     the same body framing (and hs_request_body_framing does not refuse
 *     it), the same method kind, never CONNECT, no Upgrade field.
 * A quick "no" is always allowed: the engine then asks hs_request_parse.
 */
#ifndef REQUEST_QUICK_CHECK_H
#define REQUEST_QUICK_CHECK_H

#include "conn_internal.h"
#include "http1_util.h"

#include <stdlib.h>
#include <string.h>

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
    if (hs_request_parse(buf, len, &r) != HS_REQUEST_OK)
        return "quick took a head hs_request_parse refuses";
    return rq_compare(&q, &r, 0);
}

#endif /* REQUEST_QUICK_CHECK_H */
