/*
 * conn_internal.h - the connection engine's state, shared by conn.c (what
 * the bytes mean), conn_request.c (the request side) and iomap.c (the write
 * contract). Nothing outside those files looks inside an hs_conn.
 */
#ifndef HS_CONN_INTERNAL_H
#define HS_CONN_INTERNAL_H

#include "headershim.h"
#include "http1_util.h"   /* hs_framing_early, hs_framing_final */

/* IO-CONTRACT.md "Bounds". */
#define HS_DEFAULT_MAX_HEADER 65536
#define HS_MAX_QUEUED_REQUESTS 64
#define HS_MAX_HELD_TOTAL ((size_t)64 << 20)

/* What the next outgoing byte is. */
typedef enum hs_out_state {
    HS_OUT_HEADER,        /* a status line and header block */
    HS_OUT_BODY_LENGTH,   /* body_left more body bytes */
    HS_OUT_BODY_CHUNKED,  /* chunked body, decoder in `chunked` */
    HS_OUT_PASSTHROUGH,   /* nothing is parsed or changed any more */
} hs_out_state;

/* Where the response side stands: copied freely, so that a call can plan
 * ahead and commit only what the kernel accepted. */
typedef struct hs_frame {
    hs_out_state ostate;
    uint64_t body_left;        /* HS_OUT_BODY_LENGTH */
    hs_chunked chunked;        /* HS_OUT_BODY_CHUNKED */
    bool close_after;          /* passthrough once the current body ends */
} hs_frame;

/* What the next byte read from the client is. */
typedef enum hs_in_state {
    HS_IN_HEAD,           /* a request head (leading empty lines skipped) */
    HS_IN_BODY_LENGTH,
    HS_IN_BODY_CHUNKED,
    HS_IN_PAUSED,         /* after CONNECT or Upgrade: bytes are kept unparsed
                             until the response says whether HTTP goes on */
    HS_IN_OFF,            /* not HTTP/1 any more (or desynchronised) */
} hs_in_state;

/* A request waiting for its response (pipelining pairs them in order). */
typedef struct hs_queued_request {
    hs_method_kind kind;
    bool upgrade;         /* CONNECT or an Upgrade header: reading paused */
    char *head;           /* a copy of the head, only when the policy reads
                             request subjects (hs_policy_needs) */
    size_t head_len;
} hs_queued_request;

struct hs_conn {
    const hs_engine_config *cfg;
    void *event_ctx;
    int port;
    bool tls;
    unsigned needs;            /* hs_policy_needs(cfg->policy) */
    size_t max_header;

    /* Response side. */
    hs_frame fr;
    unsigned long responses;   /* final responses seen (0: still sniffing) */
    unsigned long desyncs;     /* bumped by hs_conn_desync */

    hs_buf held;               /* incomplete block bytes, acknowledged */
    size_t held_scanned;       /* hs_block_end already searched this far */
    hs_buf pend;               /* bytes owed to the wire, already decided */
    size_t pend_off;
    hs_buf out;                /* the current step's rewritten block */
    hs_shape shape;            /* the last block's, read against first */
    bool gate;                 /* rule 4: the block's last byte is not yet
                                  acknowledged; the next call must start
                                  with gate_byte */
    char gate_byte;
    uint64_t direct_room;      /* iomap_direct.h: the body room as the last
                                  response-side engine call left it */
    unsigned long steady_blocks;   /* blocks that went the steady way
                                      (iomap.c), for the tests */

    /* Request side. */
    hs_in_state istate;
    hs_buf in_buf;             /* unfinished head, or bytes read while paused */
    size_t in_scanned;
    uint64_t in_body_left;
    hs_chunked in_chunked;
    hs_queued_request queue[HS_MAX_QUEUED_REQUESTS];
    unsigned qhead, qlen;
    char *assumed;             /* hs_conn_assume_request */
    size_t assumed_len;
};

/* The request a response answers, as conditions see it; scratch space is
 * the caller's (large: keep it off the engine's struct). */
typedef struct hs_request_view {
    hs_request rq;
    hs_request_head head;
    char path[4096];
} hs_request_view;
/* What a complete block becomes (hs_conn_decide). Large: lives on the
 * stack of one call, never in the connection. */
typedef enum hs_verdict {
    HS_VERDICT_OK,         /* framing known; out/out_len go on the wire */
    HS_VERDICT_NOT_HTTP,   /* the connection's first bytes are no response */
    HS_VERDICT_DESYNC,     /* ambiguous, or no status line where one is due */
} hs_verdict;

typedef struct hs_decision {
    hs_verdict verdict;
    const char *why;
    const char *out;
    size_t out_len;
    bool rewritten;
    hs_framing framing;
    hs_rewrite_status rw;
    hs_changes changes;
    hs_block block;
    hs_request_view view;
} hs_decision;

/* conn_pool.c: a zeroed hs_conn (NULL when memory runs out), and back. */
hs_conn *hs_conn_pool_take(void);
void hs_conn_pool_give(hs_conn *c);

/* conn.c */
void hs_conn_decide(hs_conn *c, const char *bytes, size_t len, hs_decision *d);
/* hs_conn_decide on the start of an application buffer that may hold more
 * than the block (its body, the next response): finds the block's end in
 * the same pass. Returns the block's length, or 0 when the bytes hold no
 * whole block within HEADERSHIM_MAX_HEADER (d untouched but for scratch):
 * the caller gathers, as it does for a block split across buffers. */
size_t hs_conn_decide_stream(hs_conn *c, const char *bytes, size_t avail,
                             hs_decision *d);
void hs_conn_commit_block(hs_conn *c, hs_decision *d, bool report);
bool hs_conn_hold(hs_conn *c, const char *p, size_t n);
void hs_conn_unhold(hs_conn *c, size_t len);
/* The current body is out: the next block, or no more HTTP after
 * Connection: close. (Inline, as hs_frame_start: once a response.) */
static inline void hs_frame_end_body(hs_frame *fr)
{
    fr->ostate = fr->close_after ? HS_OUT_PASSTHROUGH : HS_OUT_HEADER;
}

/* Where the body of a response starts (IO-CONTRACT.md "Framing"). */
static inline void hs_frame_start(hs_frame *fr, const hs_framing *f)
{
    fr->close_after = f->close_after;
    switch (f->kind) {
    case HS_BODY_LENGTH:
        if (f->length > 0) {
            fr->ostate = HS_OUT_BODY_LENGTH;
            fr->body_left = f->length;
            return;
        }
        break;
    case HS_BODY_CHUNKED:
        fr->ostate = HS_OUT_BODY_CHUNKED;
        hs_chunked_init(&fr->chunked);
        return;
    case HS_BODY_UNTIL_CLOSE:
    case HS_BODY_TUNNEL:
        /* Nothing after a close-delimited body is parsed; 101 and CONNECT
         * tunnels leave HTTP. */
        fr->ostate = HS_OUT_PASSTHROUGH;
        return;
    case HS_BODY_INTERIM:
        /* RFC 9110 15.2: the final response follows on the same request. */
        fr->ostate = HS_OUT_HEADER;
        fr->close_after = false;
        return;
    case HS_BODY_NONE:
        break;
    }
    hs_frame_end_body(fr);
}
void hs_conn_desync(hs_conn *c, hs_event_kind kind, const char *why);
void hs_conn_emit(hs_conn *c, hs_event_kind kind, const char *why,
                  const hs_block *b, const hs_request *rq,
                  const hs_changes *ch);
/* Moves held bytes to the front of what is owed, unchanged. */
bool hs_conn_release_held(hs_conn *c);
void hs_conn_held_account(hs_conn *c, size_t before, size_t after);

/* http1_request.c: a head as the engine needs it when nothing reads the
 * request (see "The quick scan" there). */
typedef struct hs_request_quick {
    size_t len;              /* the head, blank line included */
    hs_method_kind kind;     /* HS_METHOD_HEAD or HS_METHOD_OTHER */
    hs_request_body body;    /* none, or a Content-Length */
} hs_request_quick;

/* True when buf[0..len) starts with a complete head that a plain scan
 * frames as hs_request_parse and hs_request_body_framing would; false
 * means "ask them" (nothing is refused here). buf starts at the request
 * line (leading empty lines already skipped). */
bool hs_request_quick_scan(const char *buf, size_t len, hs_request_quick *q);
/* The same as a CPU without AVX2 runs it (for the tests). */
bool hs_request_quick_scan_sse2(const char *buf, size_t len,
                                hs_request_quick *q);

/* conn_request.c */
/* The oldest request without its final response, or NULL. */
static inline const hs_queued_request *hs_conn_front_request(const hs_conn *c)
{
    return c->qlen ? &c->queue[c->qhead] : NULL;
}
void hs_conn_pop_request_slow(hs_conn *c, bool tunnel);

/* The final response to the front request was committed. After an upgrade
 * or CONNECT request, reading resumes (HTTP goes on) or stops for good
 * (tunnel): hs_conn_pop_request_slow, as for a kept head. */
static inline void hs_conn_pop_request(hs_conn *c, bool tunnel)
{
    if (c->qlen == 0)
        return;
    const hs_queued_request *q = &c->queue[c->qhead];
    if (q->head || q->upgrade || tunnel) {
        hs_conn_pop_request_slow(c, tunnel);
        return;
    }
    /* Every response: nothing kept, and reading goes on as it was. */
    c->qhead = (c->qhead + 1) % HS_MAX_QUEUED_REQUESTS;
    c->qlen--;
}
void hs_conn_free_requests(hs_conn *c);

/* The steady state's decision (iomap.c, write_steady): a block of the
 * connection's shape that differs from the plan block only in values
 * (hs_rewrite_steady), answering a known request, with no event to build
 * from its fields. The rewritten block is then piece[0, st->npieces), and
 * its framing *f. False declines, for the general way. Inline: it is one
 * call of the steady state's few. */
static inline bool hs_conn_decide_steady(hs_conn *c, const char *buf,
                                         size_t avail, struct iovec *piece,
                                         hs_steady *st, hs_framing *f)
{
    st->tls = c->tls;
    st->piece = piece;
    const hs_engine_config *cfg = c->cfg;
    const hs_queued_request *q = hs_conn_front_request(c);
    /* A REWRITE event reads the block's fields, which are not filled in
     * here; report mode changes no call. */
    if (!q || (cfg->on_event && !cfg->quiet_rewrites) || cfg->report)
        return false;
    if (!hs_rewrite_steady(cfg->policy, &cfg->rewrite, c->shape, buf, avail,
                           st) ||
        st->len > c->max_header)
        return false;
    if (q->kind == HS_METHOD_OTHER)
        *f = *st->framing_other;
    else if (!hs_framing_early(st->status, q->kind, f))
        *f = hs_framing_final(st->status, q->kind, st->facts);
    return true;
}

/* A block framed as kind went out (or is owed in full): a final one
 * answers the front request. */
static inline void hs_conn_answered(hs_conn *c, hs_body_kind kind)
{
    if (kind != HS_BODY_INTERIM) {
        c->responses++;
        hs_conn_pop_request(c, kind == HS_BODY_TUNNEL);
    }
}

/* hs_conn_request_view for a request whose head was kept (or the assumed
 * one). */
void hs_conn_request_view_head(const hs_conn *c, const hs_queued_request *q,
                               hs_request_view *v);

/* The request q (the front one, or NULL) as the policy sees it. Inline:
 * the common case, a request whose head was not kept because nothing
 * reads more of it than its method's kind, costs a few stores. */
static inline void hs_conn_request_view(const hs_conn *c,
                                        const hs_queued_request *q,
                                        hs_request_view *v)
{
    if (q ? q->head != NULL : c->assumed != NULL) {
        hs_conn_request_view_head(c, q, v);
        return;
    }
    v->rq = (hs_request){.has_request = q != NULL, .port = c->port,
                         .tls = c->tls};
}

#endif /* HS_CONN_INTERNAL_H */
