/*
 * http1_request.c - request heads as the read side sees them (IO-CONTRACT.md
 * "The request side"): the request line, the header lines, and how the body
 * that follows is framed, so that a request line inside a POST body is
 * never taken for a request.
 *
 * The request side follows servers, not the strict grammar: each line may
 * end in CRLF or a bare LF on its own (nginx, Apache and Node accept mixed
 * endings in requests), and empty lines before a request line are skipped
 * (RFC 9112 2.2). What a server would frame differently from us, or refuse,
 * is INVALID: the connection then desyncs, which is always safe.
 */
#include "http1_util.h"

#include <string.h>

static const char h2_preface[] = "PRI * HTTP/2.0";
#define H2_PREFACE_LEN (sizeof h2_preface - 1)

/* Bytes allowed in a request target: visible ASCII and obs-text (nginx and
 * Apache accept raw UTF-8 there); never SP, a CTL or DEL. */
static bool target_byte(unsigned char c)
{
    return c > 0x20 && c != 0x7f;
}

/* Whether buf[0..n) can still grow into a request line: the method so far
 * is a token, and once the method is complete the target bytes are valid.
 * Used to refuse non-HTTP (a TLS ClientHello starts with 0x16) without
 * waiting for 16 KiB. */
static bool could_be_request_line(const char *buf, size_t n)
{
    size_t i = 0;
    while (i < n && hs_http1_tchar[(unsigned char)buf[i]])
        i++;
    if (i == n)
        return true;
    if (i == 0 || buf[i] != ' ')
        return false;
    for (i++; i < n && buf[i] != ' '; i++)
        if (!target_byte((unsigned char)buf[i]))
            return false;
    if (i == n)
        return true;
    static const char version[] = " HTTP/1.";
    size_t k = n - i < 8 ? n - i : 8;
    if (memcmp(buf + i, version, k) != 0)
        return false;
    i += 8;
    if (i < n && (unsigned)(buf[i] - '0') > 9)
        return false;
    /* after the digit only the CR of the line end may come */
    return n <= i + 1 || (n == i + 2 && buf[i + 1] == '\r');
}

/* Content end of the line starting at p whose LF is at nl: before a CR
 * that precedes the LF. */
static const char *line_content_end(const char *p, const char *nl)
{
    return (nl > p && nl[-1] == '\r') ? nl - 1 : nl;
}

static hs_request_status parse_request_line(const char *p, const char *le,
                                            hs_request_head *r)
{
    const char *q = p;
    while (hs_http1_tchar[(unsigned char)*q])
        q++;
    if (q == p || q >= le || *q != ' ')
        return HS_REQUEST_INVALID;
    r->method = (hs_str){p, (size_t)(q - p)};
    const char *t = ++q;
    while (q < le && target_byte((unsigned char)*q))
        q++;
    if (q == t || q >= le || *q != ' ')
        return HS_REQUEST_INVALID;
    r->target = (hs_str){t, (size_t)(q - t)};
    q++;
    if (le - q != 8 || memcmp(q, "HTTP/1.", 7) != 0 ||
        (unsigned)(q[7] - '0') > 9)
        return HS_REQUEST_INVALID;
    r->minor = q[7] - '0';
    return HS_REQUEST_OK;
}

hs_request_status hs_request_parse(const char *buf, size_t len,
                                   hs_request_head *r)
{
    r->len = 0;
    r->nfields = 0;
    if (len == 0)
        return HS_REQUEST_INCOMPLETE;

    /* RFC 9112 2.2: a server SHOULD ignore at least one empty line before
     * a request line (clients sent a CRLF after a POST body). */
    size_t start = 0;
    for (;;) {
        if (start < len && buf[start] == '\n') {
            start++;
        } else if (start < len && buf[start] == '\r') {
            if (start + 1 == len)
                return HS_REQUEST_INCOMPLETE;
            if (buf[start + 1] != '\n')
                return HS_REQUEST_INVALID;
            start += 2;
        } else {
            break;
        }
        if (start > HS_MAX_REQUEST_HEAD)
            return HS_REQUEST_INVALID;
    }
    const char *head = buf + start;
    size_t avail = len - start;

    /* The HTTP/2 connection preface (RFC 9113 3.4) is not HTTP/1. */
    size_t k = avail < H2_PREFACE_LEN ? avail : H2_PREFACE_LEN;
    if (memcmp(head, h2_preface, k) == 0) {
        if (avail < H2_PREFACE_LEN)
            return HS_REQUEST_INCOMPLETE;
        return HS_REQUEST_HTTP2;
    }

    size_t end = hs_block_end(head, avail, 0);
    /* The 16 KiB bound holds for a complete head too: otherwise whether a
     * request passes would depend on how the reads were cut. */
    if (end == 0 || start + end > HS_MAX_REQUEST_HEAD) {
        if (len >= HS_MAX_REQUEST_HEAD || end != 0)
            return HS_REQUEST_INVALID;
        const char *nl = memchr(head, '\n', avail);
        size_t line = nl ? (size_t)(nl - head) : avail;
        if (!could_be_request_line(head, line))
            return HS_REQUEST_INVALID;
        /* A complete request line that is not one: no need to wait. */
        if (nl && parse_request_line(head, line_content_end(head, nl), r) !=
                      HS_REQUEST_OK)
            return HS_REQUEST_INVALID;
        return HS_REQUEST_INCOMPLETE;
    }
    if (memchr(head, '\0', end))
        return HS_REQUEST_INVALID;

    const char *p = head, *stop = head + end;
    const char *nl = memchr(p, '\n', end);
    const char *le = line_content_end(p, nl);
    if (memchr(p, '\r', (size_t)(le - p)) ||
        parse_request_line(p, le, r) != HS_REQUEST_OK)
        return HS_REQUEST_INVALID;

    for (p = nl + 1;; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(stop - p));
        le = line_content_end(p, nl);
        if (le == p)
            break;
        /* obs-fold (RFC 9112 5.2) and whitespace before the colon (5.1):
         * servers refuse or read them differently. */
        if (hs_http1_is_blank(*p))
            return HS_REQUEST_INVALID;
        const char *q = p;
        while (hs_http1_tchar[(unsigned char)*q])
            q++;
        if (q == p || *q != ':' || q > le)
            return HS_REQUEST_INVALID;
        const char *v = q + 1;
        if (memchr(v, '\r', (size_t)(le - v)))
            return HS_REQUEST_INVALID;
        if (r->nfields == HS_MAX_FIELDS)
            return HS_REQUEST_INVALID;
        hs_field *f = &r->fields[r->nfields++];
        f->name = (hs_str){p, (size_t)(q - p)};
        f->value = hs_str_trim((hs_str){v, (size_t)(le - v)});
        f->line_off = (size_t)(p - buf);
        f->line_len = (size_t)(nl + 1 - p);
    }
    r->len = start + end;
    return HS_REQUEST_OK;
}

bool hs_request_body_framing(const hs_request_head *r, hs_request_body *b)
{
    b->kind = HS_REQ_BODY_NONE;
    b->length = 0;
    uint64_t length = 0;
    hs_http1_cl cl =
        hs_http1_content_length(r->fields, r->nfields, 0, &length);
    if (hs_http1_find(r->fields, r->nfields, "transfer-encoding", 17, 0) >=
        0) {
        /* RFC 9112 6.1: TE with CL, or TE in HTTP/1.0, is faulty framing;
         * 6.3 item 4: a request TE not ending in chunked cannot be framed
         * (the server answers 400 and closes). */
        if (cl != HS_HTTP1_CL_NONE || r->minor == 0)
            return false;
        if (!hs_http1_fields_last_is(r->fields, r->nfields,
                                     "transfer-encoding", 17, "chunked", 7))
            return false;
        b->kind = HS_REQ_BODY_CHUNKED;
        return true;
    }
    switch (cl) {
    case HS_HTTP1_CL_NONE:
        return true;
    case HS_HTTP1_CL_OK:
        b->kind = HS_REQ_BODY_LENGTH;
        b->length = length;
        return true;
    default:
        return false;
    }
}

hs_method_kind hs_method_kind_of(hs_str method)
{
    /* Methods are case-sensitive (RFC 9110 9.1). */
    if (method.len == 4 && memcmp(method.p, "HEAD", 4) == 0)
        return HS_METHOD_HEAD;
    if (method.len == 7 && memcmp(method.p, "CONNECT", 7) == 0)
        return HS_METHOD_CONNECT;
    return HS_METHOD_OTHER;
}
