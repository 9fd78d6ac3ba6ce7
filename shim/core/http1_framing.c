/*
 * http1_framing.c - how the body after a response header block is framed
 * (IO-CONTRACT.md "Framing", RFC 9112 6.3), and whether the connection
 * carries anything after it (RFC 9112 9.3, 9.6).
 */
#include "http1_util.h"

/* close_after: "Connection: close" (RFC 9112 9.6), or an HTTP/1.0 response
 * that does not ask for keep-alive (RFC 9112 9.3: 1.0 is not persistent by
 * default). Connection is a comma list that may span several lines. It is
 * left false for UNTIL_CLOSE bodies without those (the kind says it all)
 * and for INTERIM and TUNNEL blocks, which have no say on it. */
static bool closes_after(const hs_block *b)
{
    bool keep_alive = false;
    for (int i = hs_block_find(b, "connection", 10, 0); i >= 0;
         i = hs_block_find(b, "connection", 10, (size_t)i + 1)) {
        if (hs_http1_list_has(b->fields[i].value, "close", 5))
            return true;
        if (b->minor == 0 && hs_http1_list_has(b->fields[i].value,
                                               "keep-alive", 10))
            keep_alive = true;
    }
    return b->minor == 0 && !keep_alive;
}

hs_framing hs_response_framing(const hs_block *b, hs_method_kind m)
{
    hs_framing f = {HS_BODY_UNTIL_CLOSE, 0, false};
    int status = b->status;

    /* Rows in the order of RFC 9112 6.3: the first that applies wins. */
    if (status == 101) {
        f.kind = HS_BODY_TUNNEL;
        return f;
    }
    if (status < 200) {
        /* 1xx: the final response follows on the same connection; a
         * Connection: close here speaks for the exchange, not this
         * interim block, so it is the final block's to say. */
        f.kind = HS_BODY_INTERIM;
        return f;
    }
    if (m == HS_METHOD_CONNECT && status < 300) {
        f.kind = HS_BODY_TUNNEL;
        return f;
    }
    f.close_after = closes_after(b);
    if (m == HS_METHOD_HEAD || status == 204 || status == 304) {
        f.kind = HS_BODY_NONE;
        return f;
    }
    if (hs_block_find(b, "transfer-encoding", 17, 0) >= 0) {
        /* RFC 9112 6.3 item 4: chunked last frames the body; any other
         * final coding runs until close. */
        if (hs_http1_fields_last_is(b->fields, b->nfields,
                                    "transfer-encoding", 17, "chunked", 7)) {
            f.kind = HS_BODY_CHUNKED;
        } else {
            f.kind = HS_BODY_UNTIL_CLOSE;
        }
        return f;
    }
    uint64_t length;
    if (hs_http1_content_length(b->fields, b->nfields, 0, &length) ==
        HS_HTTP1_CL_OK) {
        f.kind = HS_BODY_LENGTH;
        f.length = length;
        return f;
    }
    /* Neither (RFC 9112 6.3 item 8): the body runs until close. A
     * Content-Length the parser would have refused cannot reach here. */
    f.kind = HS_BODY_UNTIL_CLOSE;
    return f;
}
