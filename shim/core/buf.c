/*
 * buf.c - the growable byte buffer behind rewritten blocks and held bytes.
 *
 * Growth doubles, so appending a block a few bytes at a time stays linear.
 * Allocation failure leaves the buffer as it was: the caller degrades one
 * connection to pass-through (IO-CONTRACT.md "Bounds") and never aborts.
 */
#include "headershim.h"

#include <stdlib.h>
#include <string.h>

bool hs_buf_reserve(hs_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return true;
    if (extra > SIZE_MAX / 2 - b->len)
        return false;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return false;
    b->p = p;
    b->cap = cap;
    return true;
}

bool hs_buf_append(hs_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return true;
    if (!hs_buf_reserve(b, n))
        return false;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return true;
}

void hs_buf_free(hs_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
