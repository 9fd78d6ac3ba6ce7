/*
 * iomap.c - the write contract (IO-CONTRACT.md) as arithmetic.
 *
 * One application call becomes one or more "steps". A step is one real
 * call of the shape
 *
 *     [owed bytes] [gate byte] [held bytes | block | body or raw span]
 *
 * planned from the connection's state without changing it, sent, and then
 * committed for exactly what the kernel accepted. Owed bytes were decided
 * earlier (the unsent rest of a rewritten block, or held bytes released
 * unchanged); the gate byte is the last byte of a rewritten block, which
 * rule 4 acknowledges only once the whole rewritten block is out.
 *
 * A call goes on to its next step only when the kernel took all of the
 * previous one, so shortness and EAGAIN only ever come from the kernel in
 * the same call (rule 2). Body bytes are never copied (rule 8): steps point
 * into the application's own buffers.
 *
 * The kernel is a table of function pointers: the shell passes the real
 * system calls, the tests a script.
 */
#include "http1_util.h"
#include "iomap_direct.h"
#include "iomap_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct hs_step {
    size_t owed;             /* owed bytes in front */
    bool gate;               /* consumes the gate byte */
    size_t hold;             /* app bytes held (no output) */
    size_t held_before;      /* held length before planning, to undo */
    bool block;              /* a complete block */
    bool gathered;           /* its bytes were assembled in c->held */
    size_t block_app;        /* its bytes in this call */
    size_t block_pos;        /* where they start in the call */
    size_t block_out;        /* its bytes on the wire */
    hs_frame fr_block;       /* framing right after the block (or at the
                                step's start without one): where the span
                                starts, re-run on a short count */
    size_t span;             /* app bytes sent as they are */
    size_t span_pos;
    hs_frame fr_end;         /* framing after the whole step */
    hs_decision *d;
} hs_step;

/* ---- application bytes ---- */

size_t hs_iov_total(const struct iovec *iov, int iovcnt)
{
    size_t t = 0;
    for (int i = 0; i < iovcnt; i++)
        t += iov[i].iov_len;
    return t;
}

char hs_app_byte(const hs_appv *a, size_t off)
{
    char b = 0;
    HS_APP_FOREACH(a, off, 1, p, l, { (void)l; b = *p; });
    return b;
}

/* The contiguous run that starts at off (to the end of its iovec). */
const char *hs_app_run(const hs_appv *a, size_t off, size_t *len)
{
    const char *run = NULL;
    *len = 0;
    HS_APP_FOREACH(a, off, a->total - off, p, l, {
        run = p;
        *len = l;
        break;
    });
    return run;
}

size_t hs_app_copy(const hs_appv *a, size_t off, size_t n, char *dst)
{
    size_t done = 0;
    HS_APP_FOREACH(a, off, n, p, l, {
        memcpy(dst + done, p, l);
        done += l;
    });
    return done;
}

/* ---- the real call's vector ---- */

/* The real call's vector is built on the stack, in batches: no allocation
 * on the write path, so running out of memory never costs a call. A step
 * longer than a batch (or than the kernel's IOV_MAX) becomes several real
 * calls, made in turn, stopping early only where the kernel was short
 * (rule 2). */
#define HS_IOV_BATCH 256

typedef struct hs_sender {
    const hs_kernel *k;
    int flags;
    size_t max;          /* entries per real call */
    size_t n;
    size_t want;         /* bytes in the pending batch */
    size_t took;         /* bytes the kernel took so far */
    ssize_t err;         /* -errno when it took none */
    bool stop;
    struct iovec v[HS_IOV_BATCH];
} hs_sender;

static void sender_flush(hs_sender *s)
{
    if (s->n == 0 || s->stop)
        return;
    ssize_t r = s->k->sendv(s->k->ctx, s->v, (int)s->n, s->flags);
    if (r < 0) {
        if (s->took == 0)
            s->err = r;
        s->stop = true;
    } else {
        s->took += (size_t)r;
        if ((size_t)r < s->want)
            s->stop = true;
    }
    s->n = 0;
    s->want = 0;
}

static void sender_add(hs_sender *s, const void *p, size_t len)
{
    if (len == 0 || s->stop)
        return;
    if (s->n == s->max)
        sender_flush(s);
    if (s->stop)
        return;
    s->v[s->n++] = (struct iovec){(void *)p, len};
    s->want += len;
}

/* ---- framing over application bytes ---- */

/* Advances fr over app[off, off+n) as body bytes; returns how many belong
 * to the body (fewer than n when it ends inside). *bad on invalid chunked
 * framing. */
size_t hs_frame_advance(hs_frame *fr, const hs_appv *a, size_t off,
                            size_t n, bool *bad)
{
    switch (fr->ostate) {
    case HS_OUT_PASSTHROUGH:
        return n;
    case HS_OUT_HEADER:
        return 0;
    case HS_OUT_BODY_LENGTH: {
        size_t take = fr->body_left < n ? (size_t)fr->body_left : n;
        fr->body_left -= take;
        if (fr->body_left == 0)
            hs_frame_end_body(fr);
        return take;
    }
    case HS_OUT_BODY_CHUNKED: {
        size_t used = 0;
        HS_APP_FOREACH(a, off, n, p, l, {
            size_t u = hs_chunked_feed(&fr->chunked, p, l);
            used += u;
            if (fr->chunked.error) {
                *bad = true;
                return used;
            }
            if (fr->chunked.done) {
                hs_frame_end_body(fr);
                return used;
            }
        });
        return used;
    }
    }
    return 0;
}

/* ---- planning ---- */

bool hs_first_bytes_could_be_status(hs_conn *c, const hs_appv *a,
                                        size_t pos)
{
    if (c->held.len == 0) {
        /* The common case: the status line starts inside one iovec. */
        size_t run;
        const char *p = hs_app_run(a, pos, &run);
        if (run >= 9)
            return hs_could_be_status_line(p, 9);
    }
    char head[9];
    size_t n = c->held.len < sizeof head ? c->held.len : sizeof head;
    if (n)
        memcpy(head, c->held.p, n);
    size_t more = a->total - pos;
    if (more > sizeof head - n)
        more = sizeof head - n;
    n += hs_app_copy(a, pos, more, head + n);
    return hs_could_be_status_line(head, n);
}

typedef enum { PLAN_OK, PLAN_AGAIN } hs_plan_result;

hs_gather hs_gather_block(hs_conn *c, const hs_appv *a, size_t pos,
                          size_t *end, size_t *old)
{
    /* Take at most one byte past the cap, to tell a block of exactly the
     * cap (still rewritten, rule 3) from one over it. */
    size_t rest = a->total - pos;
    size_t room = c->max_header >= c->held.len ? c->max_header - c->held.len
                                               : 0;
    size_t take = rest < room + 1 ? rest : room + 1;
    bool ok = true;
    *old = c->held.len;
    HS_APP_FOREACH(a, pos, take, p, l, {
        if (ok && !hs_conn_hold(c, p, l))
            ok = false;
    });
    if (!ok) {
        hs_conn_unhold(c, *old);
        hs_conn_desync(c, HS_EVENT_DESYNC, "held-bytes bound or out of memory");
        return HS_GATHER_DESYNC;
    }
    size_t from = c->held_scanned > 3 ? c->held_scanned - 3 : 0;
    *end = hs_block_end(c->held.p, c->held.len, from);
    if (*end && *end <= c->max_header) {
        hs_conn_unhold(c, *end);
        return HS_GATHER_DONE;
    }
    if (c->held.len > c->max_header) {
        hs_conn_unhold(c, *old);
        hs_conn_desync(c, HS_EVENT_OVERSIZE,
                       "header block over HEADERSHIM_MAX_HEADER");
        return HS_GATHER_DESYNC;
    }
    c->held_scanned = c->held.len;
    return HS_GATHER_HELD;
}

/* The block at pos is decided (s->d): the step sends it, or, refused,
 * the connection leaves HTTP here (PLAN_AGAIN: the step is planned anew
 * from the new state). */
static inline __attribute__((always_inline)) hs_plan_result
take_decision(hs_conn *c, size_t pos, hs_step *s)
{
    if (s->d->verdict != HS_VERDICT_OK) {
        hs_conn_unhold(c, s->held_before);
        if (s->d->verdict == HS_VERDICT_NOT_HTTP) {
            c->fr.ostate = HS_OUT_PASSTHROUGH;
            c->istate = HS_IN_OFF;
            hs_conn_release_held(c);
        } else {
            hs_conn_desync(c, HS_EVENT_DESYNC, s->d->why);
        }
        return PLAN_AGAIN;
    }
    if (!s->d->rewritten && !hs_buf_reserve(&c->pend, s->d->out_len)) {
        /* Should the kernel take only part of the block, its rest must be
         * kept (rule 4): make room now, or give up before sending. */
        hs_conn_unhold(c, s->held_before);
        hs_conn_desync(c, HS_EVENT_DESYNC, "out of memory");
        return PLAN_AGAIN;
    }
    s->block = true;
    s->block_pos = pos;
    s->block_out = s->d->out_len;
    hs_frame_start(&s->fr_block, &s->d->framing);
    return PLAN_OK;
}

/* Plans the block part of a step at pos (state HS_OUT_HEADER). Returns
 * PLAN_AGAIN after a state change that needs the step planned anew.
 * run_tried: the run at pos was found to hold no whole block already
 * (plan_head_quick), so the block is gathered straight away. */
static hs_plan_result plan_block(hs_conn *c, const hs_appv *a, size_t pos,
                                 hs_step *s, bool run_tried)
{
    size_t rest = a->total - pos;
    /* The common case: nothing held, and the block starts a buffer of the
     * call (nine bytes tell a status line). */
    size_t run_len = 0;
    const char *run = c->held.len == 0 ? hs_app_run(a, pos, &run_len) : NULL;
    bool status = run_len >= 9 ? hs_http1_status9(run)
                               : hs_first_bytes_could_be_status(c, a, pos);
    if (!status) {
        if (c->responses == 0) {
            /* Not an HTTP/1 response stream (TLS, HTTP/2, a client):
             * pass through for good, silently, held bytes first. */
            c->fr.ostate = HS_OUT_PASSTHROUGH;
            c->istate = HS_IN_OFF;
            hs_conn_release_held(c);
        } else {
            hs_conn_desync(c, HS_EVENT_DESYNC,
                           "no status line where a response should start");
        }
        return PLAN_AGAIN;
    }

    const char *block = NULL;
    size_t block_len = 0, end = 0;
    bool decided = false;
    s->held_before = c->held.len;
    if (run && !run_tried) {
        /* The whole block inside one iovec, found and decided in one pass
         * over it. */
        end = hs_conn_decide_stream(c, run, run_len, s->d);
        if (end) {
            block = run;
            block_len = end;
            s->block_app = end;
            decided = true;
        }
    }
    if (!block) {
        size_t old;
        switch (hs_gather_block(c, a, pos, &end, &old)) {
        case HS_GATHER_DESYNC:
            return PLAN_AGAIN;
        case HS_GATHER_HELD:
            s->hold = rest;   /* held and acknowledged (rule 3) */
            return PLAN_OK;
        case HS_GATHER_DONE:
            break;
        }
        s->gathered = true;
        block = c->held.p;
        block_len = end;
        s->block_app = end - old;
    }

    if (!decided)
        hs_conn_decide(c, block, block_len, s->d);
    return take_decision(c, pos, s);
}

/* The body bytes a step sends after its block (or from its start without
 * one): everything of the call from pos that the framing says belongs to
 * the current body (fr_end advanced over them), or to no HTTP at all. */
static inline void plan_span(const hs_appv *a, size_t pos, hs_step *s,
                             bool *bad)
{
    s->fr_end = s->fr_block;
    s->span_pos = pos;
    if (pos < a->total && s->fr_end.ostate != HS_OUT_HEADER)
        s->span = hs_frame_advance(&s->fr_end, a, pos, a->total - pos, bad);
}

/* A step from the connection's state: what is owed, the gate byte, and
 * nothing else yet (s->d is kept; s->fr_end is left to whoever plans the
 * span). */
static inline void step_begin(const hs_conn *c, hs_step *s, bool gate)
{
    s->owed = c->pend.len - c->pend_off;
    s->gate = gate;
    s->hold = 0;
    s->held_before = 0;
    s->block = false;
    s->gathered = false;
    s->block_app = 0;
    s->block_pos = 0;
    s->block_out = 0;
    s->fr_block = c->fr;
    s->span = 0;
    s->span_pos = 0;
}

/* Plans one step at app offset pos. run_tried: as for plan_block, about
 * the run at pos. */
static void plan(hs_conn *c, const hs_appv *a, size_t pos, bool gate,
                 hs_step *s, bool run_tried)
{
    size_t start = pos;
again:
    pos = start;
    step_begin(c, s, gate);
    if (gate)
        pos++;
    if (pos == a->total) {
        s->fr_end = c->fr;
        return;
    }
    if (c->fr.ostate == HS_OUT_HEADER) {
        /* run_tried is about the run at the step's start, not past a
         * gate byte */
        if (plan_block(c, a, pos, s, run_tried && pos == start) ==
            PLAN_AGAIN)
            goto again;
        if (s->hold)
            return;
        pos += s->block_app;
    }
    /* After a block: its body, or everything when HTTP ended. A block
     * with no body ends the step: the next one is planned only if the
     * kernel takes this one whole. */
    bool bad = false;
    plan_span(a, pos, s, &bad);
    if (bad && !s->block && s->span == 0) {
        /* RFC 9112 7.1 broken right here: where the body ends is unknown,
         * so these bytes and all after them pass unchanged. */
        hs_conn_desync(c, HS_EVENT_DESYNC, "invalid chunked framing");
        goto again;
    }
    /* Broken further on: this step ends where the framing broke (the
     * decoder keeps its error), and the next step desyncs there, so the
     * outcome is the same however the application split its writes. */
}

/* plan() for the step most calls that carry a head are: nothing owed,
 * held or gated, and the call's first buffer starts with a status line
 * and holds the whole block. The block is decided where it lies, and the
 * step is planned without plan()'s search for where it stands. False
 * when the call is not that (*run_tried: the first buffer was read and
 * holds no whole block), or when the decision took the connection out of
 * HTTP: plan() then plans the step from the connection's state. */
static bool plan_head_quick(hs_conn *c, const hs_appv *a, hs_step *s,
                            bool *run_tried)
{
    *run_tried = false;
    if (c->fr.ostate != HS_OUT_HEADER || c->gate ||
        c->pend_off != c->pend.len || c->held.len != 0)
        return false;
    const char *run = a->iov[0].iov_base;   /* total > 0: iovcnt >= 1 */
    size_t run_len = a->iov[0].iov_len;
    if (run_len < 9 || !hs_http1_status9(run))
        return false;
    size_t end = hs_conn_decide_stream(c, run, run_len, s->d);
    if (!end) {
        *run_tried = true;
        return false;
    }
    step_begin(c, s, false);
    s->block_app = end;
    if (take_decision(c, 0, s) == PLAN_AGAIN)
        return false;
    /* A framing error in the body ends the step there (as in plan()). */
    bool bad = false;
    plan_span(a, end, s, &bad);
    return true;
}

/* Steps of at most this many pieces (the usual: a block and its body's
 * bytes from a few buffers) go out from a small vector in one real call. */
#define HS_IOV_SMALL 8

/* Makes the real calls for one planned step. Returns the bytes the kernel
 * took, or -errno when it took none. */
static ssize_t send_step(hs_conn *c, const hs_kernel *k, const hs_appv *a,
                         const hs_step *s, int flags)
{
    if (a->iovcnt <= HS_IOV_SMALL - 2 &&
        (k->iov_max <= 0 || k->iov_max >= HS_IOV_SMALL)) {
        struct iovec v[HS_IOV_SMALL];
        int n = 0;
        if (s->owed)
            v[n++] = (struct iovec){c->pend.p + c->pend_off, s->owed};
        if (s->block)
            v[n++] = (struct iovec){(void *)s->d->out, s->block_out};
        HS_APP_FOREACH(a, s->span_pos, s->span, p, l, {
            v[n].iov_base = (void *)p;
            v[n++].iov_len = l;
        });
        return k->sendv(k->ctx, v, n, flags);
    }
    hs_sender snd; /* not zeroed: v[] is 4 KiB and filled as it goes */
    snd.k = k;
    snd.flags = flags;
    snd.max = HS_IOV_BATCH;
    snd.n = snd.want = snd.took = 0;
    snd.err = 0;
    snd.stop = false;
    if (k->iov_max > 0 && (size_t)k->iov_max < snd.max)
        snd.max = (size_t)k->iov_max;
    if (s->owed)
        sender_add(&snd, c->pend.p + c->pend_off, s->owed);
    if (s->block)
        sender_add(&snd, s->d->out, s->block_out);
    HS_APP_FOREACH(a, s->span_pos, s->span, p, l, { sender_add(&snd, p, l); });
    sender_flush(&snd);
    return snd.err ? snd.err : (ssize_t)snd.took;
}

/* ---- committing ---- */

/* Makes the unsent rest of the block's wire bytes owed (rule 4). */
static void owe_block_rest(hs_conn *c, const hs_appv *a, const hs_step *s,
                           size_t sent)
{
    c->pend.len = 0;
    c->pend_off = 0;
    if (s->d->rewritten) {
        /* The rewritten block lives in c->out: it becomes the owed one. */
        hs_buf t = c->pend;
        c->pend = c->out;
        c->out = t;
        c->pend_off = sent;
        return;
    }
    /* An unchanged block: plan_block reserved room for all of it. */
    size_t n = s->block_out - sent;
    if (s->gathered)
        memcpy(c->pend.p, c->held.p + sent, n);
    else
        hs_app_copy(a, s->block_pos + sent, n, c->pend.p);
    c->pend.len = n;
}

/* Commits a step for the kk bytes the kernel took. Returns the application
 * bytes it acknowledges; *whole says the kernel took the whole step. */
static size_t commit(hs_conn *c, const hs_appv *a, const hs_step *s,
                     size_t kk, bool *whole)
{
    *whole = false;
    if (kk < s->owed) {
        c->pend_off += kk;
        hs_conn_unhold(c, s->held_before);
        return 0;
    }
    c->pend.len = 0;
    c->pend_off = 0;
    size_t kb = kk - s->owed;
    size_t acked = 0;
    if (s->gate) {
        c->gate = false;
        acked++;
    }
    if (s->hold) {
        c->held_scanned = c->held.len;
        *whole = true;
        return acked + s->hold;
    }
    unsigned long desyncs = c->desyncs;
    if (s->block) {
        bool partial = kb < s->block_out;
        if (partial)
            owe_block_rest(c, a, s, kb);
        hs_conn_unhold(c, 0);
        c->held_scanned = 0;
        c->fr = s->fr_block;
        hs_conn_commit_block(c, s->d, false);
        if (partial) {
            /* Rule 4: all of the block's bytes of this call but the last. */
            c->gate = true;
            c->gate_byte = hs_app_byte(a, s->block_pos + s->block_app - 1);
            return acked + s->block_app - 1;
        }
        acked += s->block_app;
        kb -= s->block_out;
    }
    if (s->span) {
        size_t n = kb < s->span ? kb : s->span;
        if (c->desyncs == desyncs) {
            if (n == s->span) {
                c->fr = s->fr_end;
            } else {
                bool bad = false;
                c->fr = s->fr_block;
                hs_frame_advance(&c->fr, a, s->span_pos, n, &bad);
            }
        }
        acked += n;
        if (n < s->span)
            return acked;
    }
    *whole = true;
    return acked;
}

/* ---- the entry points ---- */

bool hs_kernel_blocking(const hs_kernel *k, int flags)
{
    return k->is_blocking && k->is_blocking(k->ctx, flags);
}

/* After a step the kernel took only part of: inside owed or rewritten
 * bytes a blocking socket keeps going, as write itself would (rule 5),
 * and so it does until something is acknowledged. */
static inline bool short_step_goes_on(const hs_conn *c, const hs_kernel *k,
                                      int flags, ssize_t kk, size_t acked)
{
    bool in_block = c->gate || c->pend_off < c->pend.len;
    return kk > 0 && (in_block || acked == 0) && hs_kernel_blocking(k, flags);
}

/* Everything but the fast paths: planning, sending and committing steps,
 * from app offset `from` on (the bytes before it acknowledged already).
 * Kept out of line so that the fast paths pay for no large stack frame. */
static __attribute__((noinline)) ssize_t
writev_steps(hs_conn *c, const hs_kernel *k, const hs_appv *a, int flags,
             size_t from)
{
    if (c->gate && hs_app_byte(a, from) != c->gate_byte) {
        /* Rule 4: a resubmission that differs from what was acknowledged.
         * The owed bytes still go first, then everything passes. */
        c->gate = false;
        hs_conn_desync(c, HS_EVENT_DESYNC,
                       "resubmitted bytes differ from the acknowledged block");
    }

    hs_decision d;
    hs_step s;
    s.d = &d;
    size_t pos = from, acked = from;
    bool run_tried = false;
    bool planned = from == 0 && plan_head_quick(c, a, &s, &run_tried);
    for (;;) {
        if (!planned)
            plan(c, a, pos, c->gate, &s, run_tried && pos == 0);
        planned = false;
        ssize_t kk = 0;
        if (s.owed + s.block_out + s.span > 0) {
            kk = send_step(c, k, a, &s, flags);
            if (kk < 0) {
                hs_conn_unhold(c, s.held_before);
                return acked ? (ssize_t)acked : kk;
            }
        }
        bool whole;
        size_t n = commit(c, a, &s, (size_t)kk, &whole);
        acked += n;
        pos += n;
        if (whole) {
            if (pos == a->total)
                return (ssize_t)acked;
            continue;
        }
        if (short_step_goes_on(c, k, flags, kk, acked))
            continue;
        return acked ? (ssize_t)acked : -EAGAIN;
    }
}

/* ---- the steady state ----
 *
 * A server answering request after request: the call starts with a whole
 * block of the connection's shape that differs from the plan block only
 * in values (hs_conn_decide_steady), nothing is owed, held or gated, and
 * the rest of the call is that response's body. Such a call is one step,
 * planned, sent and committed here without the general step's structures;
 * anything else declines to writev_steps before anything changed. The
 * outcome is the general way's byte for byte (tests/unit/
 * test_engine_steady.c compares the two, and the engine's property tests
 * and fuzzer run both). */

/* The kernel took kk bytes, fewer than the whole steady step (v[0,
 * npieces) the block, then its body): the block is gathered in c->out
 * (room was made before sending), the step is the general way's, committed
 * by it, and the call goes on as the general way's would. */
static __attribute__((noinline)) ssize_t
steady_short(hs_conn *c, const hs_kernel *k, const hs_appv *a, int flags,
             const struct iovec *v, const hs_steady *st, const hs_framing *f,
             size_t span, const hs_frame *fr_end, ssize_t kk)
{
    for (int i = 0; i < st->npieces; i++) {
        memcpy(c->out.p + c->out.len, v[i].iov_base, v[i].iov_len);
        c->out.len += v[i].iov_len;
    }
    hs_decision d = {
        .verdict = HS_VERDICT_OK,
        .out = c->out.p,
        .out_len = c->out.len,
        .rewritten = true,
        .framing = *f,
        .rw = HS_REWRITE_CHANGED,
    };
    hs_step s;
    s.d = &d;
    step_begin(c, &s, false);
    s.block = true;
    s.block_app = st->len;
    s.block_out = c->out.len;
    hs_frame_start(&s.fr_block, f);     /* (step_begin: the connection's) */
    s.fr_end = span ? *fr_end : s.fr_block;
    s.span = span;
    s.span_pos = st->len;
    bool whole;
    size_t acked = commit(c, a, &s, (size_t)kk, &whole);
    if (short_step_goes_on(c, k, flags, kk, acked))
        return writev_steps(c, k, a, flags, acked);
    return acked ? (ssize_t)acked : -EAGAIN;
}

/* The steady step's vector: the block's pieces, then the body's. */
#define HS_STEADY_IOV (HS_STEADY_PIECES + HS_IOV_SMALL)

/* True when the call was the steady state's (*ret: its result). */
static inline __attribute__((always_inline)) bool
write_steady(hs_conn *c, const hs_kernel *k, const hs_appv *a, int flags,
             ssize_t *ret)
{
    if (c->fr.ostate != HS_OUT_HEADER || c->gate ||
        c->pend_off != c->pend.len || c->held.len != 0 ||
        a->iovcnt > HS_IOV_SMALL ||
        (k->iov_max > 0 && k->iov_max < HS_STEADY_IOV))
        return false;
    struct iovec v[HS_STEADY_IOV];
    hs_steady st;
    hs_framing f;
    if (!hs_conn_decide_steady(c, a->iov[0].iov_base, a->iov[0].iov_len, v,
                               &st, &f))
        return false;
    /* Should the kernel take only part of the block, its rest must be
     * kept (rule 4): room now, or the general way. */
    c->out.len = 0;
    if (st.out_len > c->out.cap && !hs_buf_reserve(&c->out, st.out_len))
        return false;
    /* Where the body starts is the connection's frame started anew by
     * the framing (made only when the kernel took the block); where it
     * stands after the call's body bytes, fr_end. */
    hs_frame fr_end;
    size_t span = a->total - st.len;
    if (span) {
        /* All of the rest must be this body: a second response in the
         * call, or a broken chunk, is the general way's. */
        fr_end = c->fr;
        hs_frame_start(&fr_end, &f);
        bool bad = false;
        if (hs_frame_advance(&fr_end, a, st.len, span, &bad) != span || bad)
            return false;
    }
    int n = st.npieces;
    HS_APP_FOREACH(a, st.len, span, p, l, {
        v[n].iov_base = (void *)p;
        v[n++].iov_len = l;
    });
    ssize_t kk = k->sendv(k->ctx, v, n, flags);
    if (kk >= 0)
        c->steady_blocks++;
    if (kk >= 0 && (size_t)kk < st.out_len + span) {
        *ret = steady_short(c, k, a, flags, v, &st, &f, span, &fr_end, kk);
        return true;
    }
    if (kk >= 0) {
        /* commit() for a whole step */
        c->pend.len = 0;
        c->pend_off = 0;
        c->held_scanned = 0;
        hs_frame_start(&c->fr, &f);
        unsigned long desyncs = c->desyncs;
        hs_conn_answered(c, f.kind);
        if (span && c->desyncs == desyncs)
            c->fr = fr_end;
        kk = (ssize_t)a->total;
    }
    *ret = kk;
    return true;
}

/* The body room: iomap_direct.h. */
uint64_t hs_io_direct_room(const hs_conn *c)
{
    return c->direct_room;
}

void hs_io_direct_sent(hs_conn *c, size_t n)
{
    if (n > 0 && hs_io_direct_sent_inline(c, n))
        hs_io_direct_ended(c);
}

/* Everything but the body call and pass-through: report mode, empty
 * calls, the steady state and the steps. */
static __attribute__((noinline)) ssize_t
writev_general(hs_conn *c, const hs_kernel *k, const struct iovec *iov,
               int iovcnt, int flags, size_t total)
{
    if (c->cfg->report) {
        /* Rule 11: the call goes to the kernel unchanged; the engine reads
         * a copy of what it accepted. */
        ssize_t r = k->sendv(k->ctx, iov, iovcnt, flags);
        if (r > 0)
            hs_io_observe(c, iov, iovcnt, (size_t)r);
        return r;
    }
    if (total == 0)
        return k->sendv(k->ctx, iov, iovcnt, flags);
    hs_appv a = {iov, iovcnt, total};
    ssize_t r;
    if (write_steady(c, k, &a, flags, &r))
        return r;
    return writev_steps(c, k, &a, flags, 0);
}

/* The body's last byte went out: a tail call, so that hs_io_writev's
 * fast paths need no stack frame. */
static __attribute__((noinline)) ssize_t body_ended(hs_conn *c, ssize_t r)
{
    hs_io_direct_ended(c);
    return r;
}

ssize_t hs_io_writev(hs_conn *c, const hs_kernel *k, const struct iovec *iov,
                     int iovcnt, int flags)
{
    /* No HTTP any more (and nothing owed): the call as it is. */
    if (c->fr.ostate == HS_OUT_PASSTHROUGH && !c->gate &&
        c->pend_off == c->pend.len) {
        c->direct_room = 0;    /* left over from a request-side desync */
        return k->sendv(k->ctx, iov, iovcnt, flags);
    }
    /* The body call the shell did not make itself: bytes that fit the
     * body room (iomap_direct.h; in report mode too, where body bytes are
     * only counted as well). The kernel's answer is the application's,
     * and the framing only counts. */
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (__builtin_expect(hs_io_direct_fits_inline(c, total), 1)) {
        ssize_t r = k->sendv(k->ctx, iov, iovcnt, flags);
        if (r > 0 && hs_io_direct_sent_inline(c, (size_t)r))
            return body_ended(c, r);
        return r;
    }
    ssize_t r = writev_general(c, k, iov, iovcnt, flags, total);
    hs_io_room_refresh(c);
    return r;
}
