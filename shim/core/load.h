/*
 * load.h - unaligned loads of 2, 4 and 8 bytes, for the word-at-a-time
 * compares of the parsers and the rewriter. memcpy keeps them free of
 * alignment and aliasing trouble; compilers make one move of each.
 */
#ifndef HS_LOAD_H
#define HS_LOAD_H

#include <stdint.h>

static inline uint16_t hs_load16(const char *p)
{
    uint16_t v;
    __builtin_memcpy(&v, p, 2);
    return v;
}

static inline uint32_t hs_load32(const char *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

static inline uint64_t hs_load64(const char *p)
{
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return v;
}

#endif /* HS_LOAD_H */
