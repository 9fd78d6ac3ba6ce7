/*
 * conn_request.c - the request side of a connection (IO-CONTRACT.md, "The
 * request side").
 *
 * Response framing depends on the request it answers (RFC 9112 6.3: HEAD has
 * no body, a 2xx to CONNECT is a tunnel), and the policy's request
 * conditions read its method, path, Host and headers. So every byte the
 * application reads is framed here: heads are parsed, bodies are skipped by
 * Content-Length or chunked framing (a request line inside a POST body is
 * never taken for a request), and each request is queued until the response
 * that answers it is written.
 */
#include "conn_internal.h"
#include "http1_util.h"

#include <stdlib.h>
#include <string.h>

/* How much of a request head to keep for the response that answers it:
 * all of it when the policy reads Host or request headers, the request line
 * when only the method, the path or the events read it (a copy and a second
 * parse cost instructions on every request), nothing otherwise. */
static size_t request_copy_len(const hs_conn *c, const char *head,
                               const hs_request_head *r)
{
    if (c->needs & (HS_NEEDS_HOST | HS_NEEDS_REQUEST_HEADER))
        return r->len;
    if ((c->needs & (HS_NEEDS_PATH | HS_NEEDS_METHOD)) ||
        c->cfg->event_details) {
        const char *eol = memchr(head, '\n', r->len);
        return eol ? (size_t)(eol - head) + 1 : r->len;
    }
    return 0;
}

static bool has_upgrade(const hs_request_head *r)
{
    for (size_t i = 0; i < r->nfields; i++) {
        const hs_field *f = &r->fields[i];
        if (f->name.len == 7 && strncasecmp(f->name.p, "upgrade", 7) == 0)
            return true;
    }
    return false;
}

/* Queues one parsed head; false on a bound or allocation failure. */
static bool enqueue(hs_conn *c, const char *head, const hs_request_head *r)
{
    if (c->qlen == HS_MAX_QUEUED_REQUESTS)
        return false;
    hs_queued_request *q =
        &c->queue[(c->qhead + c->qlen) % HS_MAX_QUEUED_REQUESTS];
    memset(q, 0, sizeof *q);
    q->kind = hs_method_kind_of(r->method);
    q->upgrade = q->kind == HS_METHOD_CONNECT || has_upgrade(r);
    size_t keep = request_copy_len(c, head, r);
    if (keep) {
        /* A kept request line gets its own blank line, so that it parses
         * again as a head. */
        q->head = malloc(keep + 2);
        if (!q->head)
            return false;
        memcpy(q->head, head, keep);
        q->head_len = keep;
        if (keep < r->len) {
            bool crlf = keep >= 2 && head[keep - 2] == '\r';
            if (crlf)
                q->head[q->head_len++] = '\r';
            q->head[q->head_len++] = '\n';
        }
    }
    c->qlen++;
    return true;
}

static void feed(hs_conn *c, const char *p, size_t n, bool quick_declined);

/* hs_conn_pop_request past its common case (conn_internal.h). */
void hs_conn_pop_request_slow(hs_conn *c, bool tunnel)
{
    hs_queued_request *q = &c->queue[c->qhead];
    bool was_paused = q->upgrade && c->istate == HS_IN_PAUSED;
    /* The slot is filled afresh when a request is queued in it. */
    if (q->head) {
        free(q->head);
        q->head = NULL;
    }
    c->qhead = (c->qhead + 1) % HS_MAX_QUEUED_REQUESTS;
    c->qlen--;
    if (tunnel) {
        c->istate = HS_IN_OFF;
        hs_buf_free(&c->in_buf);
        return;
    }
    if (was_paused) {
        /* Parse what arrived while we waited for this answer. */
        hs_buf kept = c->in_buf;
        c->in_buf = (hs_buf){0};
        c->in_scanned = 0;
        c->istate = HS_IN_HEAD;
        feed(c, kept.p, kept.len, false);
        hs_buf_free(&kept);
    }
}

void hs_conn_free_requests(hs_conn *c)
{
    while (c->qlen)
        hs_conn_pop_request(c, true);
    hs_buf_free(&c->in_buf);
    free(c->assumed);
    c->assumed = NULL;
}

static void request_desync(hs_conn *c, const char *why)
{
    c->istate = HS_IN_OFF;
    hs_buf_free(&c->in_buf);
    hs_conn_desync(c, HS_EVENT_DESYNC, why);
}

/* One complete head at p (len bytes of it known complete): queue it and
 * set up its body. Returns the head's length, or 0 after a desync. */
/* Bytes that are no request: on a connection that has carried no HTTP yet
 * (a TLS ClientHello, the HTTP/2 preface: RFC 9113 3.4) the shim simply
 * stays out of it; mid-connection it is a desync. */
static void not_a_request(hs_conn *c, hs_request_status st)
{
    bool fresh = c->responses == 0 && c->qlen == 0;
    if (st != HS_REQUEST_HTTP2 && !fresh) {
        request_desync(c, "request cannot be framed");
        return;
    }
    c->istate = HS_IN_OFF;
    if (c->fr.ostate == HS_OUT_HEADER && c->responses == 0 && !c->held.len)
        c->fr.ostate = HS_OUT_PASSTHROUGH;
    hs_buf_free(&c->in_buf);
}

/* Whether heads may go by the quick scan: nothing reads them but the
 * framing (the policy reads no request subject, no event names the
 * request), so nothing of them is kept. */
static inline bool reads_framing_only(const hs_conn *c)
{
    return c->needs == 0 && !c->cfg->event_details;
}

/* The quick way (http1_request.c, "The quick scan"): a complete, plain
 * head at the start of p[0, n) is queued with no copy and its body set up.
 * Returns the head's length, or 0 to go the careful way (nothing was
 * changed): anything unusual, an incomplete head, a full queue. Inline
 * in its callers: hs_conn_read runs it on every request, where a call
 * and a frame of its own would cost a few instructions more. */
static inline __attribute__((always_inline)) size_t
take_quick(hs_conn *c, const char *p, size_t n)
{
    hs_request_quick r;
    if (c->qlen == HS_MAX_QUEUED_REQUESTS || !hs_request_quick_scan(p, n, &r))
        return 0;
    hs_queued_request *q =
        &c->queue[(c->qhead + c->qlen) % HS_MAX_QUEUED_REQUESTS];
    q->kind = r.kind;
    q->upgrade = false;
    q->head = NULL;
    q->head_len = 0;
    c->qlen++;
    if (r.body.length) {
        c->istate = HS_IN_BODY_LENGTH;
        c->in_body_left = r.body.length;
    }
    return r.len;
}

/* Takes the complete request head p[0, n): queues it and sets up its
 * body. Returns the head's length, or 0 when the bytes are no request (the
 * connection was dealt with). */
static size_t take_head(hs_conn *c, const char *p, size_t n)
{
    hs_request_head r;
    hs_request_status st = hs_request_parse(p, n, &r);
    if (st != HS_REQUEST_OK) {
        not_a_request(c, st);
        return 0;
    }
    hs_request_body body;
    if (!hs_request_body_framing(&r, &body)) {
        request_desync(c, "request body cannot be framed");
        return 0;
    }
    if (!enqueue(c, p, &r)) {
        request_desync(c, c->qlen == HS_MAX_QUEUED_REQUESTS
                              ? "more than 64 requests queued"
                              : "out of memory");
        return 0;
    }
    const hs_queued_request *q =
        &c->queue[(c->qhead + c->qlen - 1) % HS_MAX_QUEUED_REQUESTS];
    switch (body.kind) {
    case HS_REQ_BODY_LENGTH:
        c->istate = body.length ? HS_IN_BODY_LENGTH : HS_IN_HEAD;
        c->in_body_left = body.length;
        break;
    case HS_REQ_BODY_CHUNKED:
        c->istate = HS_IN_BODY_CHUNKED;
        hs_chunked_init(&c->in_chunked);
        break;
    default:
        c->istate = HS_IN_HEAD;
    }
    /* CONNECT and Upgrade: what follows the head may be another protocol;
     * wait for the response before reading it as HTTP. */
    if (q->upgrade && c->istate == HS_IN_HEAD)
        c->istate = HS_IN_PAUSED;
    return r.len;
}

/* quick_declined: the quick scan already said no to the head at p (so
 * that a head it declines is not scanned twice). */
static void feed(hs_conn *c, const char *p, size_t n, bool quick_declined)
{
    while (n > 0) {
        switch (c->istate) {
        case HS_IN_OFF:
            return;
        case HS_IN_PAUSED:
            if (c->in_buf.len + n > HS_MAX_REQUEST_HEAD) {
                request_desync(c, "request head over 16 KiB");
                return;
            }
            if (!hs_buf_append(&c->in_buf, p, n))
                request_desync(c, "out of memory");
            return;
        case HS_IN_BODY_LENGTH: {
            size_t take = c->in_body_left < n ? (size_t)c->in_body_left : n;
            c->in_body_left -= take;
            p += take;
            n -= take;
            if (c->in_body_left == 0)
                c->istate = HS_IN_HEAD;
            break;
        }
        case HS_IN_BODY_CHUNKED: {
            size_t used = hs_chunked_feed(&c->in_chunked, p, n);
            if (c->in_chunked.error) {
                request_desync(c, "invalid chunked request body");
                return;
            }
            p += used;
            n -= used;
            if (c->in_chunked.done)
                c->istate = c->qlen && c->queue[(c->qhead + c->qlen - 1) %
                                            HS_MAX_QUEUED_REQUESTS].upgrade
                            ? HS_IN_PAUSED : HS_IN_HEAD;
            break;
        }
        case HS_IN_HEAD:
            if (c->in_buf.len == 0) {
                /* RFC 9112 2.2: ignore empty lines before a request. */
                while (n > 0 && (*p == '\r' || *p == '\n')) {
                    p++;
                    n--;
                    quick_declined = false; /* it saw them, not the head */
                }
                if (n == 0)
                    return;
                if (reads_framing_only(c) && !quick_declined) {
                    size_t used = take_quick(c, p, n);
                    if (used) {
                        p += used;
                        n -= used;
                        break;
                    }
                }
                quick_declined = false; /* it spoke of this head only */
                size_t end = hs_block_end(p, n, 0);
                if (end) {
                    /* The common case: the whole head in this read. */
                    size_t used = take_head(c, p, end);
                    if (!used)
                        return;
                    p += used;
                    n -= used;
                    break;
                }
                /* A request starts with a method, a token (RFC 9110 9.1):
                 * a connection whose first byte is none (a TLS ClientHello
                 * starts with 0x16) carries no HTTP/1 requests. Only the
                 * first byte is judged before the head is complete, so
                 * the verdict is the same however the reads were cut. */
                if (!hs_http1_tchar[(unsigned char)*p]) {
                    not_a_request(c, HS_REQUEST_INVALID);
                    return;
                }
            }
            /* Incomplete: keep it, bounded (IO-CONTRACT.md "Bounds"). */
            size_t before = c->in_buf.len;
            size_t take = n;
            if (before + take > HS_MAX_REQUEST_HEAD)
                take = HS_MAX_REQUEST_HEAD - before;
            size_t from = c->in_scanned > 3 ? c->in_scanned - 3 : 0;
            if (!hs_buf_append(&c->in_buf, p, take)) {
                request_desync(c, "out of memory");
                return;
            }
            size_t end = hs_block_end(c->in_buf.p, c->in_buf.len, from);
            if (!end) {
                if (take < n) {
                    request_desync(c, "request head over 16 KiB");
                    return;
                }
                c->in_scanned = c->in_buf.len;
                return;
            }
            size_t used = 0;
            if (reads_framing_only(c))
                used = take_quick(c, c->in_buf.p, end);
            if (!used)
                used = take_head(c, c->in_buf.p, end);
            if (!used)
                return;
            /* Bytes of this read that follow the head go round again. */
            size_t consumed = end - before;
            hs_buf_free(&c->in_buf);
            c->in_scanned = 0;
            p += consumed;
            n -= consumed;
            break;
        }
    }
}

void hs_conn_read(hs_conn *c, const void *buf, size_t n)
{
    if (!c || !n)
        return;
    /* Every request: a read that starts with a whole plain head (feed
     * would come to the same take_quick, through more). */
    bool declined = false;
    if (c->istate == HS_IN_HEAD && !c->in_buf.len && reads_framing_only(c)) {
        size_t used = take_quick(c, buf, n);
        if (used == n)
            return;
        buf = (const char *)buf + used;
        n -= used;
        declined = used == 0;
    }
    feed(c, buf, n, declined);
}

bool hs_conn_assume_request(hs_conn *c, const char *head, size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return false;
    memcpy(copy, head, len);
    free(c->assumed);
    c->assumed = copy;
    c->assumed_len = len;
    return true;
}

/* hs_conn_request_view for a kept head (or the assumed one). */
static void
view_of_head(const char *head, size_t len, bool queued, hs_request_view *v)
{
    hs_request *rq = &v->rq;
    if (hs_request_parse(head, len, &v->head) != HS_REQUEST_OK) {
        rq->has_request = queued;
        return;
    }
    rq->has_request = true;
    rq->method = v->head.method;
    rq->fields = v->head.fields;
    rq->nfields = v->head.nfields;
    size_t plen;
    if (hs_normalize_path(v->head.target.p, v->head.target.len, v->path,
                          sizeof v->path, &plen)) {
        rq->path_ok = true;
        rq->path = (hs_str){v->path, plen};
    }
    for (size_t i = 0; i < v->head.nfields; i++) {
        const hs_field *f = &v->head.fields[i];
        if (f->name.len == 4 && strncasecmp(f->name.p, "host", 4) == 0) {
            rq->has_host = true;
            rq->host = hs_host_without_port(f->value);
            break;
        }
    }
}

void hs_conn_request_view_head(const hs_conn *c, const hs_queued_request *q,
                               hs_request_view *v)
{
    v->rq = (hs_request){.port = c->port, .tls = c->tls};
    if (q)
        view_of_head(q->head, q->head_len, true, v);
    else
        view_of_head(c->assumed, c->assumed_len, false, v);
}
