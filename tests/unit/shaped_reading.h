/*
 * shaped_reading.h - what the tests of hs_block_parse_shaped hold a shaped
 * reading to: the plain reading of the same bytes (hs_block_parse_stream),
 * field for field, and the same framing for every method kind
 * (hs_response_framing reads only a shaped block's framing lines, or its
 * shape's facts). Used by test_golden.c, test_rewrite_shapes.c and
 * fuzz_rewrite.c.
 */
#ifndef HS_TEST_SHAPED_READING_H
#define HS_TEST_SHAPED_READING_H

#include "headershim.h"

#include <string.h>

/* NULL when two OK readings agree; else what differs. */
static inline const char *shaped_reading_differs(const hs_block *shaped,
                                                 const hs_block *plain)
{
    if (shaped->len != plain->len || shaped->nfields != plain->nfields ||
        shaped->status_line_len != plain->status_line_len ||
        shaped->status != plain->status || shaped->minor != plain->minor ||
        shaped->crlf != plain->crlf)
        return "its length, status line or number of fields";
    if (memcmp(shaped->fields, plain->fields,
               plain->nfields * sizeof plain->fields[0]) != 0)
        return "the fields";
    for (int m = HS_METHOD_NONE; m <= HS_METHOD_CONNECT; m++) {
        hs_framing fs = hs_response_framing(shaped, (hs_method_kind)m);
        hs_framing fp = hs_response_framing(plain, (hs_method_kind)m);
        if (fs.kind != fp.kind || fs.length != fp.length ||
            fs.close_after != fp.close_after)
            return "the framing";
    }
    return NULL;
}

#endif /* HS_TEST_SHAPED_READING_H */
