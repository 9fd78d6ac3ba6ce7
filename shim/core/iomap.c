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
#include "conn_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h> /* SPLICE_F_NONBLOCK */
#include <sys/socket.h>

/* The application's bytes of one call. */
typedef struct hs_appv {
    const struct iovec *iov;
    int iovcnt;
    size_t total;
} hs_appv;

/* The vector of one real call, in the connection's reusable scratch. */
typedef struct hs_outv {
    hs_conn *c;
    size_t n;
    size_t bytes;
    bool oom;
} hs_outv;

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
    hs_frame fr_block;       /* framing right after the block */
    size_t span;             /* app bytes sent as they are */
    size_t span_pos;
    hs_frame fr_span;        /* framing before the span (re-run on a short
                                count) */
    hs_frame fr_end;         /* framing after the whole step */
    hs_decision *d;
} hs_step;

/* ---- application bytes ---- */

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
    size_t t = 0;
    for (int i = 0; i < iovcnt; i++)
        t += iov[i].iov_len;
    return t;
}

/* Calls fn on each contiguous piece of app[off, off+n). */
#define APP_FOREACH(a, off, n, P, L, BODY)                                    \
    do {                                                                      \
        size_t skip_ = (off), left_ = (n);                                    \
        for (int i_ = 0; i_ < (a)->iovcnt && left_ > 0; i_++) {              \
            size_t len_ = (a)->iov[i_].iov_len;                               \
            if (skip_ >= len_) {                                              \
                skip_ -= len_;                                                \
                continue;                                                     \
            }                                                                 \
            const char *P = (const char *)(a)->iov[i_].iov_base + skip_;      \
            size_t L = len_ - skip_ < left_ ? len_ - skip_ : left_;           \
            skip_ = 0;                                                        \
            left_ -= L;                                                       \
            BODY                                                              \
        }                                                                     \
    } while (0)

static char app_byte(const hs_appv *a, size_t off)
{
    char b = 0;
    APP_FOREACH(a, off, 1, p, l, { (void)l; b = *p; });
    return b;
}

/* The contiguous run that starts at off (to the end of its iovec). */
static const char *app_run(const hs_appv *a, size_t off, size_t *len)
{
    const char *run = NULL;
    *len = 0;
    APP_FOREACH(a, off, a->total - off, p, l, {
        run = p;
        *len = l;
        break;
    });
    return run;
}

static size_t app_copy(const hs_appv *a, size_t off, size_t n, char *dst)
{
    size_t done = 0;
    APP_FOREACH(a, off, n, p, l, {
        memcpy(dst + done, p, l);
        done += l;
    });
    return done;
}

/* ---- the real call's vector ---- */

static void outv_add(hs_outv *o, const void *p, size_t len)
{
    if (len == 0 || o->oom)
        return;
    hs_conn *c = o->c;
    if (o->n == c->iov_cap) {
        size_t cap = c->iov_cap ? c->iov_cap * 2 : 16;
        struct iovec *iov = realloc(c->iov, cap * sizeof *iov);
        if (!iov) {
            o->oom = true;
            return;
        }
        c->iov = iov;
        c->iov_cap = cap;
    }
    c->iov[o->n++] = (struct iovec){(void *)p, len};
    o->bytes += len;
}

static void outv_add_app(hs_outv *o, const hs_appv *a, size_t off, size_t n)
{
    APP_FOREACH(a, off, n, p, l, { outv_add(o, p, l); });
}

/* Makes the real calls for one step: several where the vector is longer
 * than IOV_MAX, stopping early only where the kernel was short (rule 2).
 * Returns the bytes the kernel took, or -errno when it took none. */
static ssize_t send_all(const hs_kernel *k, const struct iovec *iov, size_t n,
                        int flags)
{
    size_t max = k->iov_max > 0 ? (size_t)k->iov_max : 1024;
    size_t took = 0;
    while (n > 0) {
        size_t cnt = n < max ? n : max;
        size_t want = iov_total(iov, (int)cnt);
        ssize_t r = k->sendv(k->ctx, iov, (int)cnt, flags);
        if (r < 0)
            return took ? (ssize_t)took : r;
        took += (size_t)r;
        if ((size_t)r < want)
            break;
        iov += cnt;
        n -= cnt;
    }
    return (ssize_t)took;
}

/* ---- framing over application bytes ---- */

/* Advances fr over app[off, off+n) as body bytes; returns how many belong
 * to the body (fewer than n when it ends inside). *bad on invalid chunked
 * framing. */
static size_t frame_advance(hs_frame *fr, const hs_appv *a, size_t off,
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
        APP_FOREACH(a, off, n, p, l, {
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

static bool first_bytes_could_be_status(hs_conn *c, const hs_appv *a,
                                        size_t pos)
{
    char head[9];
    size_t n = c->held.len < sizeof head ? c->held.len : sizeof head;
    memcpy(head, c->held.p, n);
    size_t more = a->total - pos;
    if (more > sizeof head - n)
        more = sizeof head - n;
    n += app_copy(a, pos, more, head + n);
    return hs_could_be_status_line(head, n);
}

typedef enum { PLAN_OK, PLAN_AGAIN } hs_plan_result;

/* Plans the block part of a step at pos (state HS_OUT_HEADER). Returns
 * PLAN_AGAIN after a state change that needs the step planned anew. */
static hs_plan_result plan_block(hs_conn *c, const hs_appv *a, size_t pos,
                                 hs_step *s, hs_outv *o)
{
    size_t rest = a->total - pos;
    if (!first_bytes_could_be_status(c, a, pos)) {
        if (c->responses == 0 && c->held.len == 0) {
            /* Not an HTTP/1 response stream (TLS, HTTP/2, a client):
             * pass through for good, silently. */
            c->fr.ostate = HS_OUT_PASSTHROUGH;
            c->istate = HS_IN_OFF;
        } else {
            hs_conn_desync(c, HS_EVENT_DESYNC,
                           "no status line where a response should start");
        }
        return PLAN_AGAIN;
    }

    const char *block = NULL;
    size_t block_len = 0, end = 0;
    s->held_before = c->held.len;
    if (c->held.len == 0) {
        /* The common case: the whole block inside one iovec. */
        size_t run_len;
        const char *run = app_run(a, pos, &run_len);
        end = hs_block_end(run, run_len, 0);
        if (end && end <= c->max_header) {
            block = run;
            block_len = end;
            s->block_app = end;
        }
    }
    if (!block) {
        /* Assemble it in the held buffer, piece by piece, within the cap
         * (rule 3: a block of exactly the cap is still rewritten). */
        size_t room = c->max_header >= c->held.len
                          ? c->max_header - c->held.len : 0;
        size_t take = rest < room + 1 ? rest : room + 1;
        size_t old = c->held.len;
        bool ok = true;
        APP_FOREACH(a, pos, take, p, l, {
            if (ok && !hs_conn_hold(c, p, l))
                ok = false;
        });
        if (!ok) {
            hs_conn_unhold(c, old);
            hs_conn_desync(c, HS_EVENT_DESYNC, "held-bytes bound or out of memory");
            return PLAN_AGAIN;
        }
        size_t from = c->held_scanned > 3 ? c->held_scanned - 3 : 0;
        end = hs_block_end(c->held.p, c->held.len, from);
        if (!end || end > c->max_header) {
            if (c->held.len > c->max_header) {
                hs_conn_unhold(c, old);
                hs_conn_desync(c, HS_EVENT_OVERSIZE,
                               "header block over HEADERSHIM_MAX_HEADER");
                return PLAN_AGAIN;
            }
            /* Incomplete: held and acknowledged (rule 3). */
            s->hold = rest;
            return PLAN_OK;
        }
        hs_conn_unhold(c, end);
        s->gathered = true;
        block = c->held.p;
        block_len = end;
        s->block_app = end - old;
    }

    hs_conn_decide(c, block, block_len, s->d);
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
    s->block = true;
    s->block_pos = pos;
    s->block_out = s->d->out_len;
    outv_add(o, s->d->out, s->d->out_len);
    hs_frame_start(&s->fr_block, &s->d->framing);
    return PLAN_OK;
}

/* Plans one step at app offset pos. */
static void plan(hs_conn *c, const hs_appv *a, size_t pos, bool gate,
                 hs_step *s, hs_outv *o)
{
    hs_decision *d = s->d;
    size_t start = pos;
again:
    pos = start;
    memset(s, 0, sizeof *s);
    s->d = d;
    *o = (hs_outv){.c = c};
    s->owed = c->pend.len - c->pend_off;
    outv_add(o, c->pend.p + c->pend_off, s->owed);
    s->gate = gate;
    if (gate)
        pos++;
    s->fr_block = c->fr;
    if (pos == a->total) {
        s->fr_span = s->fr_end = c->fr;
        return;
    }
    if (c->fr.ostate == HS_OUT_HEADER) {
        if (plan_block(c, a, pos, s, o) == PLAN_AGAIN)
            goto again;
        if (s->hold)
            return;
        pos += s->block_app;
    }
    /* After a block: its body, or everything when HTTP ended. A block
     * with no body ends the step: the next one is planned only if the
     * kernel takes this one whole. */
    s->fr_span = s->fr_block;
    s->fr_end = s->fr_block;
    s->span_pos = pos;
    if (pos < a->total && s->fr_end.ostate != HS_OUT_HEADER) {
        bool bad = false;
        s->span = frame_advance(&s->fr_end, a, pos, a->total - pos, &bad);
        if (bad) {
            /* RFC 9112 7.1 broken: where the body ends is unknown. */
            hs_conn_unhold(c, s->held_before);
            hs_conn_desync(c, HS_EVENT_DESYNC, "invalid chunked framing");
            goto again;
        }
        outv_add_app(o, a, pos, s->span);
    }
}

/* ---- committing ---- */

/* Makes the unsent rest of the block's wire bytes owed (rule 4). */
static bool owe_block_rest(hs_conn *c, const hs_appv *a, const hs_step *s,
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
        return true;
    }
    size_t n = s->block_out - sent;
    if (!hs_buf_reserve(&c->pend, n))
        return false;
    if (s->gathered) {
        memcpy(c->pend.p, c->held.p + sent, n);
    } else {
        app_copy(a, s->block_pos + sent, n, c->pend.p);
    }
    c->pend.len = n;
    return true;
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
        if (partial && !owe_block_rest(c, a, s, kb)) {
            /* Cannot keep the rest: nothing of the block is acknowledged
             * and it cannot be resent faithfully. Out of memory. */
            hs_conn_unhold(c, 0);
            hs_conn_desync(c, HS_EVENT_DESYNC, "out of memory");
            return acked;
        }
        hs_conn_unhold(c, 0);
        c->held_scanned = 0;
        c->fr = s->fr_block;
        hs_conn_commit_block(c, s->d, false);
        if (partial) {
            /* Rule 4: all of the block's bytes of this call but the last. */
            c->gate = true;
            c->gate_byte = app_byte(a, s->block_pos + s->block_app - 1);
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
                c->fr = s->fr_span;
                frame_advance(&c->fr, a, s->span_pos, n, &bad);
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

static bool kernel_blocking(const hs_kernel *k, int flags)
{
    return k->is_blocking && k->is_blocking(k->ctx, flags);
}

ssize_t hs_io_writev(hs_conn *c, const hs_kernel *k, const struct iovec *iov,
                     int iovcnt, int flags)
{
    hs_appv a = {iov, iovcnt, iov_total(iov, iovcnt)};
    if (a.total == 0 || (c->fr.ostate == HS_OUT_PASSTHROUGH &&
                         !hs_conn_owes_bytes(c) && !c->gate))
        return k->sendv(k->ctx, iov, iovcnt, flags);

    if (c->gate && app_byte(&a, 0) != c->gate_byte) {
        /* Rule 4: a resubmission that differs from what was acknowledged.
         * The owed bytes still go first, then everything passes. */
        hs_conn_desync(c, HS_EVENT_DESYNC,
                       "resubmitted bytes differ from the acknowledged block");
    }

    hs_decision d;
    hs_step s = {.d = &d};
    hs_outv o;
    size_t pos = 0, acked = 0;
    for (;;) {
        bool gate = c->gate;
        plan(c, &a, pos, gate, &s, &o);
        if (o.oom) {
            hs_conn_unhold(c, s.held_before);
            return acked ? (ssize_t)acked : -ENOMEM;
        }
        ssize_t kk = 0;
        if (o.bytes > 0) {
            kk = send_all(k, c->iov, o.n, flags);
            if (kk < 0) {
                hs_conn_unhold(c, s.held_before);
                return acked ? (ssize_t)acked : kk;
            }
        }
        bool whole;
        size_t n = commit(c, &a, &s, (size_t)kk, &whole);
        acked += n;
        pos += n;
        if (whole) {
            if (pos == a.total)
                return (ssize_t)acked;
            continue;
        }
        /* The kernel was short. Inside owed or rewritten bytes a blocking
         * socket keeps going, as write itself would (rule 5). */
        bool in_block = c->gate || c->pend_off < c->pend.len;
        if (in_block && kk > 0 && kernel_blocking(k, flags))
            continue;
        return acked ? (ssize_t)acked : -EAGAIN;
    }
}

/* Sends what is owed before a blind body call; 0 when nothing is owed any
 * more, else -errno (-EAGAIN when the kernel took only part). */
static ssize_t send_owed(hs_conn *c, const hs_kernel *k, int flags)
{
    for (;;) {
        size_t owed = c->pend.len - c->pend_off;
        if (owed == 0)
            return 0;
        struct iovec v = {c->pend.p + c->pend_off, owed};
        ssize_t r = k->sendv(k->ctx, &v, 1, flags);
        if (r < 0)
            return r;
        c->pend_off += (size_t)r;
        if ((size_t)r < owed && !(r > 0 && kernel_blocking(k, flags)))
            return c->pend_off == c->pend.len ? 0 : -EAGAIN;
    }
}

/* Body bytes ahead that need no looking at. */
static uint64_t blind_bytes(const hs_conn *c)
{
    switch (c->fr.ostate) {
    case HS_OUT_PASSTHROUGH:
        return UINT64_MAX;
    case HS_OUT_BODY_LENGTH:
        return c->fr.body_left;
    case HS_OUT_BODY_CHUNKED:
        return hs_chunked_data_left(&c->fr.chunked);
    case HS_OUT_HEADER:
        break;
    }
    return 0;
}

static void blind_advance(hs_conn *c, size_t n)
{
    switch (c->fr.ostate) {
    case HS_OUT_BODY_LENGTH:
        c->fr.body_left -= n;
        if (c->fr.body_left == 0)
            hs_frame_end_body(&c->fr);
        break;
    case HS_OUT_BODY_CHUNKED:
        hs_chunked_skip_data(&c->fr.chunked, n);
        break;
    default:
        break;
    }
}

/* Header or chunk-framing bytes inside a file (a pre-rendered response):
 * read them and treat them as a write, moving the offset by what the
 * write reports (interposition.md, sendfile). */
static ssize_t file_as_write(hs_conn *c, const hs_kernel *k, int in_fd,
                             off_t *offset, size_t count)
{
    off_t at = offset ? *offset : k->file_tell ? k->file_tell(k->ctx, in_fd) : -1;
    if (at < 0 || !k->pread || (!offset && !k->file_seek))
        return -ENOSYS;
    char buf[16384];
    size_t want = count < sizeof buf ? count : sizeof buf;
    ssize_t got = k->pread(k->ctx, in_fd, buf, want, at);
    if (got <= 0)
        return got;
    struct iovec v = {buf, (size_t)got};
    ssize_t w = hs_io_writev(c, k, &v, 1, 0);
    if (w <= 0)
        return w;
    if (offset)
        *offset += w;
    else
        k->file_seek(k->ctx, in_fd, at + w);
    return w;
}

typedef ssize_t (*hs_blind_fn)(const hs_kernel *k, int in_fd, void *off,
                               size_t n, unsigned flags);

static ssize_t blind_sendfile(const hs_kernel *k, int in_fd, void *off,
                              size_t n, unsigned flags)
{
    (void)flags;
    return k->sendfile(k->ctx, in_fd, off, n);
}

static ssize_t blind_splice(const hs_kernel *k, int in_fd, void *off,
                            size_t n, unsigned flags)
{
    return k->splice(k->ctx, in_fd, off, n, flags);
}

/* sendfile and splice: body bytes by count, never read (rule 8). */
static ssize_t io_blind(hs_conn *c, const hs_kernel *k, int in_fd, void *off,
                        size_t count, unsigned flags, hs_blind_fn fn,
                        bool from_file)
{
    if (count == 0 || hs_conn_is_passthrough(c))
        return fn(k, in_fd, off, count, flags);
    if (c->gate) {
        /* Rule 4 expects the block's last byte again; a body instead
         * means the application saw things differently. */
        hs_conn_desync(c, HS_EVENT_DESYNC,
                       "body sent where the block's last byte was due");
    }
    if (c->held.len && c->fr.ostate != HS_OUT_HEADER)
        hs_conn_release_held(c);
    size_t acked = 0;
    while (acked < count) {
        int sflags = (flags & SPLICE_F_NONBLOCK) ? MSG_DONTWAIT : 0;
        ssize_t r = send_owed(c, k, sflags);
        if (r < 0)
            return acked ? (ssize_t)acked : r;
        uint64_t blind = blind_bytes(c);
        if (blind == 0) {
            ssize_t w = from_file ? file_as_write(c, k, in_fd, off, count - acked)
                                  : -ENOSYS;
            if (w == -ENOSYS) {
                /* Cannot look at the bytes (a pipe, or no file offset):
                 * they go out unchanged and HTTP parsing ends here. */
                hs_conn_desync(c, HS_EVENT_DESYNC,
                               "header bytes sent from a file or pipe");
                continue;
            }
            if (w <= 0)
                return acked ? (ssize_t)acked : w;
            acked += (size_t)w;
            continue;
        }
        size_t n = count - acked;
        if (blind < n)
            n = (size_t)blind;
        ssize_t got = fn(k, in_fd, off, n, flags);
        if (got <= 0)
            return acked ? (ssize_t)acked : got;
        blind_advance(c, (size_t)got);
        acked += (size_t)got;
        if ((size_t)got < n)
            break;
    }
    return (ssize_t)acked;
}

ssize_t hs_io_sendfile(hs_conn *c, const hs_kernel *k, int in_fd,
                       off_t *offset, size_t count)
{
    return io_blind(c, k, in_fd, offset, count, 0, blind_sendfile, true);
}

ssize_t hs_io_splice(hs_conn *c, const hs_kernel *k, int in_fd,
                     loff_t *off_in, size_t len, unsigned flags)
{
    return io_blind(c, k, in_fd, off_in, len, flags, blind_splice, false);
}

/* ---- report mode (rule 11): read a copy, change nothing ---- */

void hs_io_observe(hs_conn *c, const struct iovec *iov, int iovcnt,
                   size_t accepted)
{
    hs_appv a = {iov, iovcnt, iov_total(iov, iovcnt)};
    if (accepted < a.total)
        a.total = accepted;
    size_t pos = 0;
    hs_decision d;
    while (pos < a.total && c->fr.ostate != HS_OUT_PASSTHROUGH) {
        if (c->fr.ostate != HS_OUT_HEADER) {
            bool bad = false;
            pos += frame_advance(&c->fr, &a, pos, a.total - pos, &bad);
            if (bad)
                hs_conn_desync(c, HS_EVENT_DESYNC, "invalid chunked framing");
            continue;
        }
        if (!first_bytes_could_be_status(c, &a, pos)) {
            if (c->responses == 0 && c->held.len == 0)
                c->fr.ostate = HS_OUT_PASSTHROUGH;
            else
                hs_conn_desync(c, HS_EVENT_DESYNC,
                               "no status line where a response should start");
            return;
        }
        size_t old = c->held.len, rest = a.total - pos;
        size_t room = c->max_header >= old ? c->max_header - old : 0;
        size_t take = rest < room + 1 ? rest : room + 1;
        bool ok = true;
        APP_FOREACH(&a, pos, take, p, l, {
            if (ok && !hs_conn_hold(c, p, l))
                ok = false;
        });
        if (!ok) {
            hs_conn_desync(c, HS_EVENT_DESYNC, "held-bytes bound or out of memory");
            return;
        }
        size_t from = c->held_scanned > 3 ? c->held_scanned - 3 : 0;
        size_t end = hs_block_end(c->held.p, c->held.len, from);
        if (!end || end > c->max_header) {
            if (c->held.len > c->max_header)
                hs_conn_desync(c, HS_EVENT_OVERSIZE,
                               "header block over HEADERSHIM_MAX_HEADER");
            else
                c->held_scanned = c->held.len;
            return;
        }
        hs_conn_unhold(c, end);
        hs_conn_decide(c, c->held.p, end, &d);
        if (d.verdict != HS_VERDICT_OK) {
            if (d.verdict == HS_VERDICT_NOT_HTTP)
                c->fr.ostate = HS_OUT_PASSTHROUGH;
            else
                hs_conn_desync(c, HS_EVENT_DESYNC, d.why);
            return;
        }
        hs_frame_start(&c->fr, &d.framing);
        hs_conn_commit_block(c, &d, true);
        hs_conn_unhold(c, 0);
        c->held_scanned = 0;
        pos += end - old;
    }
}

void hs_io_observe_blind(hs_conn *c, size_t accepted)
{
    while (accepted > 0 && c->fr.ostate != HS_OUT_PASSTHROUGH) {
        uint64_t blind = blind_bytes(c);
        if (blind == 0) {
            hs_conn_desync(c, HS_EVENT_DESYNC,
                           "header bytes sent from a file or pipe");
            return;
        }
        size_t n = blind < accepted ? (size_t)blind : accepted;
        blind_advance(c, n);
        accepted -= n;
    }
}

int hs_io_flush(hs_conn *c, const hs_kernel *k, int timeout_ms)
{
    if (!hs_conn_owes_bytes(c))
        return 0;
    /* Held bytes of an unfinished block go out unchanged: the application
     * is done with the connection (close, exec, exit) or hands it over. */
    if (c->held.len)
        hs_conn_release_held(c);
    c->gate = false;
    int budget = timeout_ms;
    while (c->pend_off < c->pend.len) {
        struct iovec v = {c->pend.p + c->pend_off, c->pend.len - c->pend_off};
        ssize_t r = k->sendv(k->ctx, &v, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r > 0) {
            c->pend_off += (size_t)r;
            continue;
        }
        if (r == -EINTR)
            continue;
        if (r != -EAGAIN || budget <= 0 || !k->wait_writable) {
            c->fr.ostate = HS_OUT_PASSTHROUGH;
            c->pend.len = c->pend_off = 0;
            return r < 0 ? (int)r : -EAGAIN;
        }
        int slice = budget < 50 ? budget : 50;
        int w = k->wait_writable(k->ctx, slice);
        budget -= slice;
        if (w < 0) {
            c->fr.ostate = HS_OUT_PASSTHROUGH;
            c->pend.len = c->pend_off = 0;
            return w;
        }
    }
    c->pend.len = c->pend_off = 0;
    return 0;
}
