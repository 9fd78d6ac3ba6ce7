/*
 * fuzz_http1.c - libFuzzer harness for the http1 parsing layer.
 *
 * Every input goes through every parser:
 *   - hs_block_end / hs_block_parse: the fast path and the careful parser
 *     agree on the status and, for OK blocks, on every field; OK blocks
 *     tile exactly (status line, field lines, blank line), values are
 *     trimmed and inside their lines; the framing of an OK block equals a
 *     plain reference for every method kind; hs_block_end equals a byte-by-byte
 *     reference from any start, and resumed at len - 3 over a growing
 *     buffer finds the same end; hs_block_parse_stream on the block and
 *     the bytes after it says what hs_block_parse says on the block;
 *   - hs_chunked_feed: whole, split at a position taken from the input,
 *     and byte by byte give the same count and the same done/error;
 *   - hs_request_parse: an OK head lies inside the input, its fields
 *     inside the head; body framing never crashes;
 *   - hs_normalize_path: a result is never longer than cap, starts with
 *     '/', and normalising it again gives it back;
 *   - hs_host_without_port: a prefix of its input.
 * Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "headershim.h"
#include "../unit/block_end_reference.h"
#include "http1_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                        \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_http1: %s:%d: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                  \
            abort();                                                         \
        }                                                                    \
    } while (0)

static hs_block fast_b, careful_b;
static hs_request_head req;

/* hs_response_framing spelled out with the slow generic helpers. */
static hs_framing reference_framing(const hs_block *b, hs_method_kind m)
{
    hs_framing f = {HS_BODY_UNTIL_CLOSE, 0, false};
    if (b->status == 101 || (m == HS_METHOD_CONNECT && b->status >= 200 &&
                             b->status < 300)) {
        f.kind = HS_BODY_TUNNEL;
        return f;
    }
    if (b->status < 200) {
        f.kind = HS_BODY_INTERIM;
        return f;
    }
    bool close = false, keep_alive = false;
    for (int i = hs_block_find(b, "Connection", 10, 0); i >= 0;
         i = hs_block_find(b, "Connection", 10, (size_t)i + 1)) {
        close |= hs_http1_list_has(b->fields[i].value, "close", 5);
        keep_alive |= hs_http1_list_has(b->fields[i].value, "keep-alive", 10);
    }
    f.close_after = close || (b->minor == 0 && !keep_alive);
    uint64_t n;
    if (m == HS_METHOD_HEAD || b->status == 204 || b->status == 304)
        f.kind = HS_BODY_NONE;
    else if (hs_block_find(b, "Transfer-Encoding", 17, 0) >= 0)
        f.kind = hs_http1_fields_last_is(b->fields, b->nfields,
                                         "transfer-encoding", 17, "chunked", 7)
                     ? HS_BODY_CHUNKED
                     : HS_BODY_UNTIL_CLOSE;
    else if (hs_http1_content_length(b->fields, b->nfields, 0, &n) ==
             HS_HTTP1_CL_OK) {
        f.kind = HS_BODY_LENGTH;
        f.length = n;
    }
    return f;
}

static void check_block(const char *buf, size_t len)
{
    const char *why_fast = NULL, *why_careful = NULL;
    hs_block_status fs = hs_block_parse(buf, len, &fast_b, &why_fast);
    hs_block_status cs =
        hs_http1_block_parse_careful(buf, len, &careful_b, &why_careful);
    REQUIRE(fs == cs);
    if (fs != HS_BLOCK_OK) {
        REQUIRE(why_fast != NULL);
        REQUIRE(why_fast == why_careful);
        return;
    }
    REQUIRE(fast_b.nfields == careful_b.nfields);
    REQUIRE(fast_b.status == careful_b.status);
    REQUIRE(fast_b.status >= 100 && fast_b.status <= 999);
    REQUIRE(fast_b.minor == careful_b.minor);
    REQUIRE(fast_b.crlf == careful_b.crlf);
    REQUIRE(fast_b.status_line_len == careful_b.status_line_len);
    REQUIRE(fast_b.len == len);
    size_t off = fast_b.status_line_len;
    for (size_t i = 0; i < fast_b.nfields; i++) {
        const hs_field *a = &fast_b.fields[i], *c = &careful_b.fields[i];
        REQUIRE(a->name.p == c->name.p && a->name.len == c->name.len);
        REQUIRE(a->value.p == c->value.p && a->value.len == c->value.len);
        REQUIRE(a->line_off == c->line_off && a->line_len == c->line_len);
        REQUIRE(a->line_off == off);
        REQUIRE(a->name.p == buf + off);
        REQUIRE(a->name.len > 0 && buf[off + a->name.len] == ':');
        REQUIRE(a->value.p >= a->name.p + a->name.len + 1);
        REQUIRE(a->value.p + a->value.len <= buf + off + a->line_len);
        if (a->value.len) {
            REQUIRE(!hs_http1_is_blank(a->value.p[0]));
            REQUIRE(!hs_http1_is_blank(a->value.p[a->value.len - 1]));
        }
        REQUIRE(buf[off + a->line_len - 1] == '\n');
        off += a->line_len;
    }
    REQUIRE(off + (fast_b.crlf ? 2 : 1) == len);
    REQUIRE(hs_block_end(buf, len, 0) == len);
    for (int m = HS_METHOD_NONE; m <= HS_METHOD_CONNECT; m++) {
        hs_framing f = hs_response_framing(&fast_b, (hs_method_kind)m);
        hs_framing r = reference_framing(&fast_b, (hs_method_kind)m);
        REQUIRE(f.kind == r.kind && f.length == r.length &&
                f.close_after == r.close_after);
        REQUIRE(f.kind == HS_BODY_LENGTH || f.length == 0);
    }
}


static void check_block_end(const char *buf, size_t size)
{
    size_t whole = hs_block_end(buf, size, 0);
    REQUIRE(whole == end_reference(buf, size, 0));
    for (size_t from = 1; from < size; from += 1 + from / 4)
        REQUIRE(hs_block_end(buf, size, from) ==
                end_reference(buf, size, from));
    size_t found = 0;
    for (size_t len = 1; len <= size && !found; len++)
        found = hs_block_end(buf, len, len >= 4 ? len - 4 : 0);
    REQUIRE(found == whole);
    if (whole) {
        REQUIRE(whole >= 2 && buf[whole - 1] == '\n');
        check_block(buf, whole);
    }
}

/* hs_block_parse_stream on a block and whatever follows it must say what
 * hs_block_end and hs_block_parse say on the block alone: the same status
 * and reason, and for an OK block the same fields at the same places. */
static hs_block stream_b;

static void check_block_stream(const char *buf, size_t size)
{
    const char *why = NULL, *why_exact = NULL;
    hs_block_status ss = hs_block_parse_stream(buf, size, &stream_b, &why);
    size_t end = hs_block_end(buf, size, 0);
    if (!end) {
        REQUIRE(ss == HS_BLOCK_INCOMPLETE || ss == HS_BLOCK_NOT_HTTP);
        return;
    }
    hs_block_status es = hs_block_parse(buf, end, &fast_b, &why_exact);
    REQUIRE(ss == es);
    if (ss != HS_BLOCK_OK) {
        REQUIRE(why == why_exact);
        return;
    }
    REQUIRE(stream_b.len == end && stream_b.nfields == fast_b.nfields);
    REQUIRE(stream_b.status == fast_b.status && stream_b.minor == fast_b.minor);
    REQUIRE(stream_b.crlf == fast_b.crlf &&
            stream_b.status_line_len == fast_b.status_line_len);
    for (size_t i = 0; i < stream_b.nfields; i++)
        REQUIRE(memcmp(&stream_b.fields[i], &fast_b.fields[i],
                       sizeof stream_b.fields[i]) == 0);
}

typedef struct outcome {
    size_t used;
    bool done, error;
} outcome;

static outcome chunked_pieces(const char *buf, size_t size, size_t piece)
{
    hs_chunked c;
    hs_chunked_init(&c);
    size_t off = 0;
    while (off < size) {
        size_t n = piece < size - off ? piece : size - off;
        size_t got = hs_chunked_feed(&c, buf + off, n);
        REQUIRE(got <= n);
        off += got;
        if (got < n || c.done || c.error)
            break;
    }
    REQUIRE(!(c.done && c.error));
    outcome o = {off, c.done, c.error};
    return o;
}

static void check_chunked(const char *buf, size_t size, size_t cut)
{
    outcome whole = chunked_pieces(buf, size, size ? size : 1);
    outcome ones = chunked_pieces(buf, size, 1);
    REQUIRE(whole.used == ones.used && whole.done == ones.done &&
            whole.error == ones.error);
    /* two pieces cut at `cut` */
    hs_chunked c;
    hs_chunked_init(&c);
    if (cut > size)
        cut = size;
    size_t used = hs_chunked_feed(&c, buf, cut);
    if (used == cut && !c.done && !c.error)
        used += hs_chunked_feed(&c, buf + cut, size - cut);
    REQUIRE(used == whole.used && c.done == whole.done &&
            c.error == whole.error);
}

static void check_request(const char *buf, size_t size)
{
    hs_request_status s = hs_request_parse(buf, size, &req);
    if (s != HS_REQUEST_OK)
        return;
    REQUIRE(req.len <= size && req.len <= HS_MAX_REQUEST_HEAD);
    REQUIRE(req.method.len > 0 && req.method.p >= buf &&
            req.method.p + req.method.len <= buf + req.len);
    REQUIRE(req.target.len > 0 &&
            req.target.p + req.target.len <= buf + req.len);
    for (size_t i = 0; i < req.nfields; i++)
        REQUIRE(req.fields[i].line_off + req.fields[i].line_len <= req.len);
    hs_request_body b;
    if (hs_request_body_framing(&req, &b))
        REQUIRE(b.kind == HS_REQ_BODY_LENGTH || b.length == 0);
    (void)hs_method_kind_of(req.method);
}

static void check_path(const char *buf, size_t size, size_t cap)
{
    char out[512], again[512];
    size_t n = 0, m = 0;
    if (cap > sizeof out)
        cap = sizeof out;
    if (!hs_normalize_path(buf, size, out, cap, &n))
        return;
    REQUIRE(n <= cap && n >= 1 && out[0] == '/');
    REQUIRE(hs_normalize_path(out, n, again, sizeof again, &m));
    REQUIRE(m == n && memcmp(out, again, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t knob = size ? data[0] : 0;

    (void)hs_could_be_status_line(buf, size);
    check_block(buf, size);
    if (size <= 4096)
        check_block_end(buf, size);
    check_block_stream(buf, size);
    check_chunked(buf, size, knob);
    check_request(buf, size);
    check_path(buf, size, 4 * knob + 1);
    hs_str h = hs_host_without_port((hs_str){buf, size});
    REQUIRE(h.p == buf && h.len <= size);
    return 0;
}
