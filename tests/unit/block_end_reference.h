/*
 * block_end_reference.h - hs_block_end spelled out byte by byte, the
 * reference its SIMD search is held to by tests/unit/test_http1_response.c
 * and tests/fuzz/fuzz_http1.c: the offset just past the first blank line
 * (an LF followed by LF or by CR LF) at or after `from`, or 0.
 */
#ifndef BLOCK_END_REFERENCE_H
#define BLOCK_END_REFERENCE_H

#include <stddef.h>

static inline size_t end_reference(const char *buf, size_t len, size_t from)
{
    for (size_t i = from; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

#endif /* BLOCK_END_REFERENCE_H */
