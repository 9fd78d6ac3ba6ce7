/*
 * http1_chunked.c - the chunked transfer coding as framing only (RFC 9112
 * 7.1): chunk sizes, extensions and trailers are read byte by byte, chunk
 * data is skipped by count without being looked at. Fed in any pieces,
 * single bytes included; the state lives in hs_chunked.
 *
 * Leniency, chosen to agree with clients rather than with the grammar:
 * - A size, extension or trailer line may end in CRLF or a bare LF (curl,
 *   Node's llhttp and browsers accept LF there). A CR not followed by LF
 *   is an error.
 * - Chunk extensions (";name=value", with blanks before the ';') are
 *   skipped to the line end without being parsed: no client acts on them.
 * The CRLF after chunk data is required: a client that finds anything
 * else there has lost the framing too, so agreeing is impossible.
 */
#include "headershim.h"

#include <string.h>

/* RFC 9112 7.1 leaves the size unbounded; 2^62 is beyond any real body and
 * keeps `remaining` far from overflow. */
#define CHUNK_SIZE_MAX ((uint64_t)1 << 62)
/* A size/extension line or a trailer line longer than this is an error
 * (nginx allows 4 KiB of chunk header, Node 16 KiB of trailers). */
#define CHUNK_LINE_MAX 8192u

enum {
    ST_SIZE_FIRST,   /* a chunk-size line starts: a hex digit must come */
    ST_SIZE,         /* more hex digits, or what ends the size */
    ST_EXT,          /* an extension: skipped to the line end */
    ST_SIZE_LF,      /* CR seen at the end of a size line */
    ST_DATA,         /* `remaining` data bytes */
    ST_DATA_CR,      /* the CR after chunk data */
    ST_DATA_LF,      /* the LF after chunk data */
    ST_TRAILER,      /* a trailer line, or the empty line ending them */
    ST_TRAILER_LF,   /* CR seen at the end of a trailer line */
    ST_DONE,
    ST_ERROR,
};

void hs_chunked_init(hs_chunked *c)
{
    memset(c, 0, sizeof *c);
    c->state = ST_SIZE_FIRST;
}

static int hex_value(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch |= 0x20;
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* A size line ended: data follows, or after the last chunk the trailers. */
static int after_size_line(hs_chunked *c)
{
    c->line_len = 0;
    return c->remaining ? ST_DATA : ST_TRAILER;
}

size_t hs_chunked_feed(hs_chunked *c, const char *buf, size_t n)
{
    size_t i = 0;
    if (c->state == ST_DONE || c->state == ST_ERROR)
        return 0;
    while (i < n) {
        if (c->state == ST_DATA) {
            uint64_t left = n - i;
            uint64_t take = c->remaining < left ? c->remaining : left;
            i += (size_t)take;
            c->remaining -= take;
            if (c->remaining == 0)
                c->state = ST_DATA_CR;
            continue;
        }
        unsigned char ch = (unsigned char)buf[i];
        int st = c->state;
        /* line_len counts a line's bytes before its CR or LF. */
        if ((st == ST_SIZE || st == ST_EXT || st == ST_TRAILER) &&
            ch != '\r' && ch != '\n' && ++c->line_len > CHUNK_LINE_MAX)
            goto fail;
        switch (st) {
        case ST_SIZE_FIRST: {
            int d = hex_value(ch);
            if (d < 0) /* RFC 9112 7.1: chunk-size is 1*HEXDIG */
                goto fail;
            c->remaining = (uint64_t)d;
            c->line_len = 1;
            c->state = ST_SIZE;
            break;
        }
        case ST_SIZE: {
            int d = hex_value(ch);
            if (d >= 0) {
                if (c->remaining > (CHUNK_SIZE_MAX - (uint64_t)d) >> 4)
                    goto fail;
                c->remaining = c->remaining << 4 | (uint64_t)d;
            } else if (ch == ';' || ch == ' ' || ch == '\t') {
                c->state = ST_EXT;
            } else if (ch == '\r') {
                c->state = ST_SIZE_LF;
            } else if (ch == '\n') {
                c->state = after_size_line(c);
            } else {
                goto fail;
            }
            break;
        }
        case ST_EXT:
            if (ch == '\r')
                c->state = ST_SIZE_LF;
            else if (ch == '\n')
                c->state = after_size_line(c);
            else if (ch == '\0')
                goto fail;
            break;
        case ST_SIZE_LF:
            if (ch != '\n')
                goto fail;
            c->state = after_size_line(c);
            break;
        case ST_DATA_CR:
            if (ch != '\r')
                goto fail;
            c->state = ST_DATA_LF;
            break;
        case ST_DATA_LF:
            if (ch != '\n')
                goto fail;
            c->state = ST_SIZE_FIRST;
            c->line_len = 0;
            break;
        case ST_TRAILER:
            /* An empty line ends the trailers. */
            if (ch == '\r') {
                c->state = ST_TRAILER_LF;
            } else if (ch == '\n') {
                if (c->line_len == 0) {
                    c->state = ST_DONE;
                    c->done = true;
                    return i + 1;
                }
                c->line_len = 0;
            } else if (ch == '\0') {
                goto fail;
            }
            break;
        case ST_TRAILER_LF:
            if (ch != '\n')
                goto fail;
            if (c->line_len == 0) {
                c->state = ST_DONE;
                c->done = true;
                return i + 1;
            }
            c->state = ST_TRAILER;
            c->line_len = 0;
            break;
        default:
            goto fail;
        }
        i++;
    }
    return i;
fail:
    c->state = ST_ERROR;
    c->error = true;
    return i;
}

/* sendfile and splice bodies are counted, never read (IO-CONTRACT.md rule
 * 8): the engine asks how many chunk data bytes may pass blind and skips
 * them here. (Added by the engine's author; see iomap.c.) */
uint64_t hs_chunked_data_left(const hs_chunked *c)
{
    return c->state == ST_DATA ? c->remaining : 0;
}

void hs_chunked_skip_data(hs_chunked *c, uint64_t n)
{
    if (c->state != ST_DATA || n > c->remaining)
        return;
    c->remaining -= n;
    if (c->remaining == 0)
        c->state = ST_DATA_CR;
}
