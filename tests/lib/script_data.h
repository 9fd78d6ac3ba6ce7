/*
 * script_data.h - the byte notation shared by the scripted test server
 * (tests/progs/hs_server.c) and the integration tests, header-only so the
 * standalone server program needs no library.
 *
 * A DATA string is C-like: \r \n \t \\ \xNN, and \gN; inserts N generated
 * bytes (a deterministic pattern, different at every position, so a lost,
 * duplicated or reordered body byte changes the checksum). \gN@S; starts
 * the pattern at position S.
 */
#ifndef HS_SCRIPT_DATA_H
#define HS_SCRIPT_DATA_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline unsigned char hs_gen_byte(uint64_t i)
{
    uint64_t x = i * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    /* printable, never CR or LF: generated bodies never end a header */
    return (unsigned char)('0' + (x % 75));
}

static inline int hs_hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes s into a malloc'd buffer; *n gets its length. NULL on a syntax
 * error. */
static inline char *hs_data_decode(const char *s, size_t *n)
{
    size_t cap = 64, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
#define HS_PUT(c)                                                   \
    do {                                                            \
        if (len == cap) {                                           \
            char *nb_ = realloc(out, cap *= 2);                     \
            if (!nb_) { free(out); return NULL; }                   \
            out = nb_;                                              \
        }                                                           \
        out[len++] = (char)(c);                                     \
    } while (0)
    for (const char *p = s; *p; p++) {
        if (*p != '\\') {
            HS_PUT(*p);
            continue;
        }
        p++;
        switch (*p) {
        case 'r': HS_PUT('\r'); break;
        case 'n': HS_PUT('\n'); break;
        case 't': HS_PUT('\t'); break;
        case '\\': HS_PUT('\\'); break;
        case 's': HS_PUT(' '); break;
        case 'x': {
            int a = hs_hexval(p[1]), b = a < 0 ? -1 : hs_hexval(p[2]);
            if (b < 0) { free(out); return NULL; }
            HS_PUT(a * 16 + b);
            p += 2;
            break;
        }
        case 'g': {
            char *end;
            unsigned long long cnt = strtoull(p + 1, &end, 10), start = 0;
            if (*end == '@')
                start = strtoull(end + 1, &end, 10);
            if (*end != ';') { free(out); return NULL; }
            for (unsigned long long i = 0; i < cnt; i++)
                HS_PUT(hs_gen_byte(start + i));
            p = end;
            break;
        }
        default:
            free(out);
            return NULL;
        }
    }
#undef HS_PUT
    *n = len;
    return out;
}

#endif
