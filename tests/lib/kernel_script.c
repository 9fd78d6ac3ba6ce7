/*
 * kernel_script.c - the scripted kernel and the contract-checking
 * application of kernel_script.h.
 *
 * Why a script and not a socketpair: the contract (IO-CONTRACT.md rules 1,
 * 2 and 4) is about what a call returns given what the kernel took in that
 * same call, and a real socket cannot be told to be short at byte 217.
 */
#include "kernel_script.h"
#include "conn_internal.h"   /* hs_conn.steady_blocks */

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define KS_EVIL_ERRNO 4242   /* errno sentinel: rule 7 */

/* ------------------------------------------------------------------ rng */

uint64_t ks_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t ks_below(uint64_t *state, uint64_t n)
{
    return n ? ks_rand(state) % n : 0;
}

/* ------------------------------------------------------------- recording */

static void *ks_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("kernel_script: out of memory\n", stderr);
        abort();
    }
    return q;
}

static void ks_record(ks_kernel *ks, const ks_call *c)
{
    if (ks->ncalls == ks->calls_cap) {
        ks->calls_cap = ks->calls_cap ? ks->calls_cap * 2 : 64;
        ks->calls = ks_xrealloc(ks->calls, ks->calls_cap * sizeof *ks->calls);
    }
    ks->calls[ks->ncalls++] = *c;
}

static void ks_wire_append(ks_kernel *ks, const char *p, size_t n,
                           bool from_memory)
{
    if (n == 0)
        return;
    size_t need = ks->wire.len + n;
    if (need > ks->src_cap) {
        size_t cap = ks->src_cap ? ks->src_cap : 1024;
        while (cap < need)
            cap *= 2;
        ks->src = ks_xrealloc(ks->src, cap * sizeof *ks->src);
        ks->src_cap = cap;
    }
    for (size_t i = 0; i < n; i++)
        ks->src[ks->wire.len + i] = from_memory ? p + i : NULL;
    if (!hs_buf_append(&ks->wire, p, n)) {
        fputs("kernel_script: out of memory\n", stderr);
        abort();
    }
}

/* ---------------------------------------------------------- the decision */

/* How many of `offered` (> 0) bytes the kernel takes, or -errno. */
static ssize_t ks_decide(ks_kernel *ks, size_t offered)
{
    if (ks->ncalls >= ks->max_calls) {
        ks->runaway = true;
        return -EIO;
    }
    ks->counted++;
    if (ks->fatal_after && ks->counted > ks->fatal_after)
        return -ks->fatal_err;

    ssize_t r;
    if (ks->step < ks->nsteps) {
        const ks_step *s = &ks->steps[ks->step++];
        switch (s->kind) {
        case KS_ACCEPT:
            r = s->n == 0 ? -EAGAIN
                          : (ssize_t)(s->n < offered ? s->n : offered);
            break;
        case KS_REFUSE:
            r = -s->err;
            break;
        case KS_UPTO:
        default:
            if (ks->wire.len >= s->n)
                r = -EAGAIN;
            else {
                size_t room = s->n - ks->wire.len;
                r = (ssize_t)(room < offered ? room : offered);
            }
            break;
        }
    } else if (ks->random) {
        uint64_t d = ks_below(&ks->rng, 100);
        if (ks->refusals_in_row >= 3 && d >= 78)
            d = 60; /* progress: take something */
        if (d < 50)
            r = (ssize_t)offered;
        else if (d < 70)
            r = (ssize_t)(1 + ks_below(&ks->rng, offered));
        else if (d < 78)
            r = 1;
        else if (d < 92)
            r = ks->blocking ? -EINTR : -EAGAIN;
        else if (d < 96)
            r = -EINTR;
        else
            r = (ssize_t)offered;
    } else {
        r = (ssize_t)offered;
    }
    ks->refusals_in_row = r < 0 ? ks->refusals_in_row + 1 : 0;
    return r;
}

/* ------------------------------------------------------ kernel callbacks */

static ssize_t ks_sendv(void *ctx, const struct iovec *iov, int iovcnt,
                        int flags)
{
    ks_kernel *ks = ctx;
    int iov_max = ks->k.iov_max ? ks->k.iov_max : 1024;
    ks_call c = {.op = KS_OP_SENDV, .flags = flags, .iovcnt = iovcnt,
                 .fd = -1, .off = -1};
    if (iovcnt < 0 || iovcnt > iov_max) {
        ks->bad_iovcnt = true;
        c.ret = -EINVAL;
        ks_record(ks, &c);
        return c.ret;
    }
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    c.offered = total;
    if (total == 0) {
        c.ret = 0;
        ks_record(ks, &c);
        return 0;
    }
    ssize_t r = ks_decide(ks, total);
    c.ret = r;
    if (r > 0) {
        size_t left = (size_t)r;
        for (int i = 0; i < iovcnt && left; i++) {
            size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
            ks_wire_append(ks, iov[i].iov_base, n, true);
            left -= n;
        }
    }
    ks_record(ks, &c);
    return r;
}

ks_file *ks_file_of(ks_kernel *ks, int fd)
{
    for (size_t i = 0; i < ks->nfiles; i++)
        if (ks->files[i].fd == fd)
            return &ks->files[i];
    return NULL;
}

/* sendfile and splice: the bytes come from a file, never from memory the
 * engine handed over, so their source is recorded as NULL. */
static ssize_t ks_from_file(ks_kernel *ks, ks_op op, int in_fd, long long *off,
                            size_t count, int flags)
{
    ks_call c = {.op = op, .flags = flags, .fd = in_fd,
                 .off = off ? *off : -1};
    ks_file *f = ks_file_of(ks, in_fd);
    if (!f) {
        c.ret = -EBADF;
    } else if (op == KS_OP_SENDFILE && f->pipe) {
        c.ret = -EINVAL;
    } else if (f->pipe && off) {
        c.ret = -ESPIPE;
    } else {
        size_t start = off ? (size_t)*off : f->pos;
        size_t avail = start < f->len ? f->len - start : 0;
        if (count < avail)
            avail = count;
        c.offered = avail;
        if (avail == 0) {
            c.ret = 0; /* end of file: the real call returns 0 */
        } else {
            ssize_t r = ks_decide(ks, avail);
            c.ret = r;
            if (r > 0) {
                ks_wire_append(ks, f->data + start, (size_t)r, false);
                if (off)
                    *off += r;
                else
                    f->pos += (size_t)r;
            }
        }
    }
    ks_record(ks, &c);
    return c.ret;
}

static ssize_t ks_sendfile(void *ctx, int in_fd, off_t *offset, size_t count)
{
    long long o = offset ? (long long)*offset : 0;
    ssize_t r = ks_from_file(ctx, KS_OP_SENDFILE, in_fd, offset ? &o : NULL,
                             count, 0);
    if (offset)
        *offset = (off_t)o;
    return r;
}

static ssize_t ks_splice(void *ctx, int in_fd, loff_t *off_in, size_t len,
                         unsigned flags)
{
    long long o = off_in ? (long long)*off_in : 0;
    ssize_t r = ks_from_file(ctx, KS_OP_SPLICE, in_fd, off_in ? &o : NULL,
                             len, (int)flags);
    if (off_in)
        *off_in = (loff_t)o;
    return r;
}

static ssize_t ks_pread(void *ctx, int fd, void *buf, size_t n, off_t offset)
{
    ks_kernel *ks = ctx;
    ks_call c = {.op = KS_OP_PREAD, .fd = fd, .offered = n,
                 .off = (long long)offset};
    ks_file *f = ks_file_of(ks, fd);
    if (!f)
        c.ret = -EBADF;
    else if (f->pipe)
        c.ret = -ESPIPE;
    else {
        size_t start = offset < 0 ? f->pos : (size_t)offset;
        size_t got = start < f->len ? f->len - start : 0;
        if (n < got)
            got = n;
        memcpy(buf, f->data + start, got);
        if (offset < 0)
            f->pos += got;
        c.ret = (ssize_t)got;
    }
    ks_record(ks, &c);
    return c.ret;
}

static off_t ks_file_tell(void *ctx, int fd)
{
    ks_file *f = ks_file_of(ctx, fd);
    if (!f)
        return -EBADF;
    return f->pipe ? -ESPIPE : (off_t)f->pos;
}

static int ks_file_seek(void *ctx, int fd, off_t pos)
{
    ks_file *f = ks_file_of(ctx, fd);
    if (!f)
        return -EBADF;
    if (f->pipe)
        return -ESPIPE;
    f->pos = (size_t)pos;
    return 0;
}

static bool ks_is_blocking(void *ctx, int flags)
{
    ks_kernel *ks = ctx;
    ks_call c = {.op = KS_OP_IS_BLOCKING, .flags = flags, .fd = -1,
                 .off = -1};
    bool b = ks->blocking && !(flags & MSG_DONTWAIT);
    c.ret = b;
    ks_record(ks, &c);
    return b;
}

static int ks_wait_writable(void *ctx, int timeout_ms)
{
    ks_kernel *ks = ctx;
    ks_call c = {.op = KS_OP_WAIT, .timeout_ms = timeout_ms, .fd = -1,
                 .off = -1};
    ks->wait_total_ms += timeout_ms > 0 ? timeout_ms : 0;
    int r = ks->wait_i < ks->nwait ? ks->wait_answers[ks->wait_i++] : 1;
    if (ks->ncalls >= ks->max_calls) {
        ks->runaway = true;
        r = -EIO;
    }
    c.ret = r;
    ks_record(ks, &c);
    return r;
}

/* --------------------------------------------------------------- set-up */

void ks_reserve(ks_kernel *ks, size_t wire_bytes, size_t calls)
{
    if (ks->src_cap < wire_bytes) {
        ks->src = ks_xrealloc(ks->src, wire_bytes * sizeof *ks->src);
        ks->src_cap = wire_bytes;
    }
    if (!hs_buf_reserve(&ks->wire, wire_bytes)) {
        fputs("kernel_script: out of memory\n", stderr);
        abort();
    }
    if (ks->calls_cap < calls) {
        ks->calls = ks_xrealloc(ks->calls, calls * sizeof *ks->calls);
        ks->calls_cap = calls;
    }
}

void ks_init(ks_kernel *ks)
{
    memset(ks, 0, sizeof *ks);
    ks->k.ctx = ks;
    ks->k.sendv = ks_sendv;
    ks->k.sendfile = ks_sendfile;
    ks->k.splice = ks_splice;
    ks->k.pread = ks_pread;
    ks->k.is_blocking = ks_is_blocking;
    ks->k.wait_writable = ks_wait_writable;
    ks->k.file_tell = ks_file_tell;
    ks->k.file_seek = ks_file_seek;
    ks->max_calls = 2000000;
    ks->fatal_err = EPIPE;
}

void ks_clear_record(ks_kernel *ks)
{
    ks->wire.len = 0;
    ks->ncalls = 0;
    ks->counted = 0;
    ks->refusals_in_row = 0;
    ks->runaway = false;
    ks->bad_iovcnt = false;
    ks->wait_total_ms = 0;
}

void ks_free(ks_kernel *ks)
{
    hs_buf_free(&ks->wire);
    free(ks->src);
    free(ks->calls);
    free(ks->steps);
    for (size_t i = 0; i < ks->nfiles; i++)
        free(ks->files[i].data);
    memset(ks, 0, sizeof *ks);
}

void ks_script(ks_kernel *ks, const ks_step *steps, size_t n)
{
    free(ks->steps);
    ks->steps = ks_xrealloc(NULL, n * sizeof *steps);
    if (n)
        memcpy(ks->steps, steps, n * sizeof *steps);
    ks->nsteps = n;
    ks->step = 0;
}

void ks_random(ks_kernel *ks, uint64_t seed, bool blocking)
{
    ks->random = true;
    ks->rng = seed;
    ks->seed = seed;
    ks->blocking = blocking;
}

void ks_add_file(ks_kernel *ks, int fd, const void *data, size_t len,
                 bool pipe)
{
    if (ks->nfiles == KS_MAX_FILES)
        abort();
    ks_file *f = &ks->files[ks->nfiles++];
    f->fd = fd;
    f->data = ks_xrealloc(NULL, len);
    if (len)
        memcpy(f->data, data, len);
    f->len = len;
    f->pos = 0;
    f->pipe = pipe;
}

ks_summary ks_summarize(const ks_kernel *ks, size_t mark, int flags)
{
    ks_summary s;
    memset(&s, 0, sizeof s);
    for (size_t i = mark; i < ks->ncalls; i++) {
        const ks_call *c = &ks->calls[i];
        if (c->op != KS_OP_SENDV && c->op != KS_OP_SENDFILE &&
            c->op != KS_OP_SPLICE)
            continue;
        if (c->op == KS_OP_SENDV && c->flags != flags)
            s.flags_differ = true;
        if (c->offered == 0 && c->ret == 0)
            continue;
        s.nsend++;
        if (c->ret < 0) {
            s.refused = true;
            s.short_or_refused = true;
            if (s.nerrs < 8)
                s.errs[s.nerrs++] = (int)-c->ret;
        } else if ((size_t)c->ret < c->offered) {
            s.short_or_refused = true;
            s.any_pos_short = true;
        }
    }
    return s;
}

bool ks_summary_has_err(const ks_summary *s, int err)
{
    for (size_t i = 0; i < s->nerrs; i++)
        if (s->errs[i] == err)
            return true;
    return false;
}

/* --------------------------------------------------------------- events */

static void ks_names(char *out, size_t cap, const char *sign, const hs_str *v,
                     size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(out);
        if (used + 2 >= cap)
            return;
        snprintf(out + used, cap - used, "%s%s%.*s", used ? " " : "", sign,
                 (int)v[i].len, v[i].p);
    }
}

void ks_on_event(void *ctx, const hs_event *ev)
{
    ks_events *e = ctx;
    e->total++;
    if (e->n == KS_MAX_EVENTS)
        return;
    size_t i = e->n++;
    e->kind[i] = ev->kind;
    e->shutdown_read[i] = ev->shutdown_read;
    e->why[i] = ev->why;
    e->status[i] = ev->block ? ev->block->status : 0;
    e->names[i][0] = 0;
    e->nremoved[i] = e->nset[i] = e->nadded[i] = 0;
    if (ev->changes) {
        e->nremoved[i] = ev->changes->nremoved;
        e->nset[i] = ev->changes->nset;
        e->nadded[i] = ev->changes->nadded;
        ks_names(e->names[i], sizeof e->names[i], "-", ev->changes->removed,
                 ev->changes->nremoved);
        ks_names(e->names[i], sizeof e->names[i], "~", ev->changes->set,
                 ev->changes->nset);
        ks_names(e->names[i], sizeof e->names[i], "+", ev->changes->added,
                 ev->changes->nadded);
    }
    e->had_request[i] = ev->request && ev->request->has_request;
    e->method[i][0] = e->path[i][0] = 0;
    if (e->had_request[i]) {
        snprintf(e->method[i], sizeof e->method[i], "%.*s",
                 (int)ev->request->method.len, ev->request->method.p);
        if (ev->request->path_ok)
            snprintf(e->path[i], sizeof e->path[i], "%.*s",
                     (int)ev->request->path.len, ev->request->path.p);
    }
}

size_t ks_count(const ks_events *e, hs_event_kind kind)
{
    size_t n = 0;
    for (size_t i = 0; i < e->n; i++)
        n += e->kind[i] == kind;
    return n;
}

static const char *ks_kind_name(hs_event_kind k)
{
    switch (k) {
    case HS_EVENT_REWRITE: return "REWRITE";
    case HS_EVENT_REPORT: return "REPORT";
    case HS_EVENT_DESYNC: return "DESYNC";
    case HS_EVENT_OVERSIZE: return "OVERSIZE";
    case HS_EVENT_ERROR: return "ERROR";
    }
    return "?";
}

void ks_events_describe(const ks_events *e, char *out, size_t cap)
{
    out[0] = 0;
    for (size_t i = 0; i < e->n; i++) {
        size_t used = strlen(out);
        if (used + 4 >= cap)
            return;
        snprintf(out + used, cap - used, "%s%s(%d%s%s%s)", used ? " " : "",
                 ks_kind_name(e->kind[i]), e->status[i],
                 e->why[i] ? "," : "", e->why[i] ? e->why[i] : "",
                 e->shutdown_read[i] ? ",shut_rd" : "");
    }
}

void ks_escape_at(const char *base, size_t off, size_t n, size_t max,
                  char *out, size_t cap)
{
    ks_escape(base ? base + off : "", base ? n : 0, max, out, cap);
}

bool ks_same(const void *a, const void *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

void ks_escape(const char *p, size_t n, size_t max, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < max && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            out[o++] = (char)ch;
        else if (ch == '\r') {
            out[o++] = '\\';
            out[o++] = 'r';
        } else if (ch == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
    }
    if (n > max && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o < cap ? o : cap - 1] = 0;
}

/* ---------------------------------------------------- the application */

typedef struct ks_seg {
    size_t off, len;
    bool null_base;            /* an empty iovec with iov_base NULL */
} ks_seg;

#define KS_MAX_SEGS 64

typedef struct ks_plan {
    ks_seg seg[KS_MAX_SEGS];
    int n;
    bool file;                 /* a sendfile of the one segment */
    bool file_offset;          /* with an offset (else the file position) */
} ks_plan;

static size_t ks_plan_bytes(const ks_plan *pl)
{
    size_t t = 0;
    for (int i = 0; i < pl->n; i++)
        t += pl->seg[i].len;
    return t;
}

static size_t ks_next_cut(const ks_run *r, size_t p)
{
    for (size_t i = 0; i < r->ncuts; i++)
        if (r->cuts[i] > p)
            return r->cuts[i] < r->len ? r->cuts[i] : r->len;
    return r->len;
}

/* Appends a fresh call starting at stream offset p to pl. */
static void ks_plan_call(const ks_run *r, uint64_t *rng, size_t p, ks_plan *pl)
{
    size_t rest = r->len - p;
    int max_iov = r->max_iov > 0 ? r->max_iov : 8;
    if (max_iov > KS_MAX_SEGS)
        max_iov = KS_MAX_SEGS;
    switch (r->split) {
    case KS_SPLIT_WHOLE:
        if (pl->n < max_iov)
            pl->seg[pl->n++] = (ks_seg){p, rest, false};
        return;
    case KS_SPLIT_CUTS:
        if (pl->n < max_iov)
            pl->seg[pl->n++] = (ks_seg){p, ks_next_cut(r, p) - p, false};
        return;
    case KS_SPLIT_BYTES:
        if (pl->n < max_iov)
            pl->seg[pl->n++] = (ks_seg){p, rest ? 1 : 0, false};
        return;
    case KS_SPLIT_RANDOM:
        break;
    }
    bool file = pl->n == 0 && r->sendfile_pct &&
                ks_below(rng, 100) < r->sendfile_pct;
    uint64_t d = ks_below(rng, 100);
    size_t want;
    if (file) {
        want = 1 + ks_below(rng, d < 50 ? 64 : rest);
        if (want > rest)
            want = rest;
        pl->seg[0] = (ks_seg){p, want, false};
        pl->n = 1;
        pl->file = true;
        pl->file_offset = ks_below(rng, 2);
        return;
    }
    pl->file = false;
    if (d < 3)
        want = 0; /* PHP's zero-length send */
    else if (d < 40)
        want = 1 + ks_below(rng, 16);
    else if (d < 70)
        want = 1 + ks_below(rng, 64);
    else if (d < 90)
        want = 1 + ks_below(rng, 512);
    else
        want = rest;
    if (want > rest)
        want = rest;
    int room = max_iov - pl->n;
    if (room <= 0)
        return;
    int k = 1 + (int)ks_below(rng, (uint64_t)room);
    /* Cut [p, p+want) into k iovecs at random points: equal points give
     * empty iovecs, as Node's writev has. */
    size_t cuts[KS_MAX_SEGS + 1];
    cuts[0] = 0;
    for (int i = 1; i < k; i++)
        cuts[i] = (size_t)ks_below(rng, want + 1);
    cuts[k] = want;
    for (int i = 1; i < k; i++) /* insertion sort, k is small */
        for (int j = i; j > 1 && cuts[j - 1] > cuts[j]; j--) {
            size_t t = cuts[j];
            cuts[j] = cuts[j - 1];
            cuts[j - 1] = t;
        }
    for (int i = 0; i < k; i++) {
        size_t len = cuts[i + 1] - cuts[i];
        bool nb = len == 0 && ks_below(rng, 4) == 0;
        pl->seg[pl->n++] = (ks_seg){p + cuts[i], len, nb};
    }
}

/* Drops the first n bytes of the plan (the acknowledged ones); iovecs that
 * are left start mid-iovec, as Apache's resubmission does. */
static void ks_plan_drop(ks_plan *pl, size_t n)
{
    int i = 0;
    while (i < pl->n && n > 0) {
        if (n >= pl->seg[i].len) {
            n -= pl->seg[i].len;
            i++;
        } else {
            pl->seg[i].off += n;
            pl->seg[i].len -= n;
            n = 0;
        }
    }
    memmove(pl->seg, pl->seg + i, (size_t)(pl->n - i) * sizeof pl->seg[0]);
    pl->n -= i;
}

static const char *ks_split_name(ks_split s)
{
    switch (s) {
    case KS_SPLIT_WHOLE: return "whole";
    case KS_SPLIT_CUTS: return "cuts";
    case KS_SPLIT_BYTES: return "bytes";
    case KS_SPLIT_RANDOM: return "random";
    }
    return "?";
}

static const char *ks_retry_name(ks_retry s)
{
    switch (s) {
    case KS_RETRY_EXACT: return "exact";
    case KS_RETRY_MERGE: return "merge";
    case KS_RETRY_RESPLIT: return "resplit";
    }
    return "?";
}

/* A failure message: the run's identity, the call, and the kernel calls
 * that call made. */
static char *ks_fail(const ks_run *r, const ks_kernel *ks, size_t mark,
                     size_t callno, size_t p, size_t L, ssize_t ret,
                     const char *fmt, ...)
{
    size_t cap = 8192;
    char *m = ks_xrealloc(NULL, cap);
    int o = snprintf(m, cap,
                     "split=%s seed=%llu retry=%s flags=%#x kernel:%s"
                     "%s seed=%llu blocking=%d iov_max=%d | call #%zu at "
                     "p=%zu len=%zu ret=%zd wire=%zu | ",
                     ks_split_name(r->split), (unsigned long long)r->seed,
                     ks_retry_name(r->retry), (unsigned)r->flags,
                     ks->random ? "random" : "",
                     ks->nsteps ? "steps" : "", (unsigned long long)ks->seed,
                     ks->blocking, ks->k.iov_max, callno, p, L, ret,
                     ks->wire.len);
    va_list ap;
    va_start(ap, fmt);
    o += vsnprintf(m + o, cap - (size_t)o, fmt, ap);
    va_end(ap);
    o += snprintf(m + o, cap - (size_t)o, " | kernel calls:");
    for (size_t i = mark; i < ks->ncalls && o < (int)cap - 80; i++) {
        const ks_call *c = &ks->calls[i];
        static const char *ops[] = {"sendv", "sendfile", "splice", "pread",
                                    "is_blocking", "wait"};
        o += snprintf(m + o, cap - (size_t)o, " %s(n=%zu,iov=%d,fl=%#x)=%zd",
                      ops[c->op], c->offered, c->iovcnt, (unsigned)c->flags,
                      c->ret);
    }
    return m;
}

/* Reads request bytes [*fed, to) in seeded pieces (seed 0: one read). */
static void ks_feed_to(hs_conn *c, const ks_run *r, uint64_t *rng,
                       size_t *fed, size_t to)
{
    if (!r->req || to > r->req_len)
        to = r->req ? r->req_len : 0;
    while (*fed < to) {
        size_t n = to - *fed;
        if (*rng) {
            size_t k = 1 + ks_below(rng, ks_below(rng, 2) ? 8 : 300);
            if (k < n)
                n = k;
        }
        hs_conn_read(c, r->req + *fed, n);
        *fed += n;
    }
}

static void ks_feed_requests(hs_conn *c, const ks_run *r, uint64_t seed)
{
    uint64_t rng = seed;
    size_t fed = 0;
    ks_feed_to(c, r, &rng, &fed, r->req_len);
}

static hs_conn *ks_open(const ks_run *r, ks_events *ev, uint64_t req_seed,
                        bool feed)
{
    hs_conn *c = hs_conn_new(r->cfg, r->port, r->tls, ev);
    if (!c)
        return NULL;
    if (r->assume)
        hs_conn_assume_request(c, r->assume, strlen(r->assume));
    if (feed)
        ks_feed_requests(c, r, req_seed);
    return c;
}

static char *ks_msg(const char *fmt, ...)
{
    char *m = ks_xrealloc(NULL, 4096);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, 4096, fmt, ap);
    va_end(ap);
    return m;
}

char *ks_oracle_build(const ks_run *r, ks_oracle *o)
{
    memset(o, 0, sizeof *o);
    o->release = ks_xrealloc(NULL, (r->len + 1) * sizeof *o->release);
    ks_kernel ks;
    ks_init(&ks);

    /* One call, all accepted. */
    hs_conn *c = ks_open(r, &o->events, 0, true);
    if (!c) {
        ks_free(&ks);
        return ks_msg("hs_conn_new failed");
    }
    if (r->len) {
        struct iovec iov = {(void *)r->stream, r->len};
        ssize_t ret = hs_io_writev(c, &ks.k, &iov, 1, r->flags);
        if (ret != (ssize_t)r->len) {
            hs_conn_free(c);
            ks_free(&ks);
            return ks_msg("one call of %zu bytes to an all-accepting kernel "
                          "returned %zd", r->len, ret);
        }
    }
    int fr = hs_io_flush(c, &ks.k, 1000);
    hs_conn_free(c);
    if (fr != 0) {
        ks_free(&ks);
        return ks_msg("flush after one call returned %d", fr);
    }
    hs_buf_append(&o->wire, ks.wire.p, ks.wire.len);
    o->direct = ks_xrealloc(NULL, (o->wire.len + 1) * sizeof *o->direct);
    for (size_t i = 0; i < o->wire.len; i++)
        o->direct[i] = -1;

    /* One byte per call, all accepted: what each prefix releases. */
    ks_clear_record(&ks);
    ks_events scratch;
    memset(&scratch, 0, sizeof scratch);
    c = ks_open(r, &scratch, 0, true);
    if (!c) {
        ks_free(&ks);
        return ks_msg("hs_conn_new failed");
    }
    o->release[0] = 0;
    char *err = NULL;
    for (size_t p = 0; p < r->len && !err; p++) {
        size_t before = ks.wire.len;
        struct iovec iov = {(void *)(r->stream + p), 1};
        ssize_t ret = hs_io_writev(c, &ks.k, &iov, 1, r->flags);
        if (ret != 1)
            err = ks_msg("one byte (offset %zu) to an all-accepting kernel "
                         "returned %zd", p, ret);
        o->release[p + 1] = ks.wire.len;
        if (ks.wire.len == before + 1 && ks.src[before] == r->stream + p &&
            before < o->wire.len)
            o->direct[before] = (long)p;
    }
    if (!err && (fr = hs_io_flush(c, &ks.k, 1000)) != 0)
        err = ks_msg("flush after byte-at-a-time returned %d", fr);
    hs_conn_free(c);
    if (!err && (ks.wire.len != o->wire.len ||
                 !ks_same(ks.wire.p, o->wire.p, o->wire.len))) {
        size_t d = 0;
        while (d < ks.wire.len && d < o->wire.len && ks.wire.p[d] == o->wire.p[d])
            d++;
        char a[200], b[200];
        ks_escape_at(o->wire.p, d, o->wire.len - d, 40, a, sizeof a);
        ks_escape_at(ks.wire.p, d, ks.wire.len - d, 40, b, sizeof b);
        err = ks_msg("one call and one byte per call put different bytes on "
                     "the wire: %zu vs %zu bytes, first difference at %zu: "
                     "one call \"%s\", bytes \"%s\"", o->wire.len,
                     ks.wire.len, d, a, b);
    }
    ks_free(&ks);
    return err;
}

void ks_oracle_free(ks_oracle *o)
{
    hs_buf_free(&o->wire);
    free(o->release);
    free(o->direct);
    memset(o, 0, sizeof *o);
}

/* Does stream byte np complete a rewritten block? In the byte-at-a-time
 * run it released more than itself, and what it released is not the
 * application's own bytes (those would be held bytes of an unchanged
 * block, which may be acknowledged one for one). */
static bool ks_jump_rewritten(const ks_oracle *o, const char *stream,
                              size_t np)
{
    size_t j = o->release[np + 1] - o->release[np];
    if (j <= 1)
        return false;
    if (np + 1 < j)
        return true;
    return memcmp(o->wire.p + o->release[np], stream + np + 1 - j, j) != 0;
}

char *ks_app_run(const ks_run *r, ks_kernel *ks, const ks_oracle *o,
                 ks_events *events)
{
    ks_events local;
    memset(&local, 0, sizeof local);
    if (!events)
        events = &local;
    uint64_t rng = r->seed ? r->seed : 1;
    hs_conn *c = ks_open(r, events, r->req_seed, r->nfeed == 0);
    if (!c)
        return ks_msg("hs_conn_new failed");
    uint64_t feed_rng = r->req_seed;
    size_t fed = 0;
    if (r->sendfile_pct && !ks_file_of(ks, KS_STREAM_FD))
        ks_add_file(ks, KS_STREAM_FD, r->stream, r->len, false);
    ks_plan pl = {.n = 0};
    size_t p = 0, callno = 0, checked = 0;
    size_t limit = 40 * r->len + 4000;
    bool fatal = false;
    char *err = NULL;

    while (p < r->len && !err) {
        if (pl.n == 0)
            ks_plan_call(r, &rng, p, &pl);
        struct iovec iov[KS_MAX_SEGS];
        for (int i = 0; i < pl.n; i++) {
            iov[i].iov_base = pl.seg[i].null_base
                                  ? NULL
                                  : (void *)(r->stream + pl.seg[i].off);
            iov[i].iov_len = pl.seg[i].len;
        }
        size_t L = ks_plan_bytes(&pl);
        for (size_t i = 0; i < r->nfeed; i++)
            if (r->feed_at[i] < p + (L ? L : 1))
                ks_feed_to(c, r, &feed_rng, &fed, r->feed_to[i]);
        size_t mark = ks->ncalls, before = ks->wire.len;
        if (++callno > limit) {
            err = ks_fail(r, ks, mark, callno, p, L, 0,
                          "no progress after %zu calls", limit);
            break;
        }
        errno = KS_EVIL_ERRNO;
        ssize_t ret;
        off_t off = (off_t)p;
        bool off_ok = true;
        if (pl.file) {
            /* sendfile from the stream's file: with an offset, or with the
             * file position the application set (lseek) */
            ks_file *f = ks_file_of(ks, KS_STREAM_FD);
            f->pos = p;
            ret = hs_io_sendfile(c, &ks->k, KS_STREAM_FD,
                                 pl.file_offset ? &off : NULL, L);
            size_t moved = pl.file_offset ? (size_t)off : f->pos;
            off_ok = moved == p + (ret > 0 ? (size_t)ret : 0);
        } else {
            ret = hs_io_writev(c, &ks->k, iov, pl.n, r->flags);
        }
        int e = errno;
        bool blocking_app = ks->blocking &&
                            (pl.file || !(r->flags & MSG_DONTWAIT));
        int call_flags = pl.file ? 0 : r->flags;
        ks_summary s = ks_summarize(ks, mark, call_flags);
        size_t W = ks->wire.len;
        size_t np = ret > 0 ? p + (size_t)ret : p;

#define KS_FAIL(...) \
    do { err = ks_fail(r, ks, mark, callno, p, L, ret, __VA_ARGS__); } while (0)
        if (e != KS_EVIL_ERRNO)
            KS_FAIL("rule 7: errno changed to %d", e);
        else if (ks->runaway)
            KS_FAIL("the engine called the kernel over %zu times",
                    ks->max_calls);
        else if (ks->bad_iovcnt)
            KS_FAIL("a real call got iovcnt over iov_max (or negative)");
        else if (s.flags_differ)
            KS_FAIL("rule 6: a real call did not carry the flags %#x",
                    (unsigned)call_flags);
        else if (!off_ok)
            KS_FAIL("sendfile: the %s moved by other than the count "
                    "returned", pl.file_offset ? "offset" : "file position");
        else if (L > 0 && ret == 0)
            KS_FAIL("rule 1: returned 0 for a call of %zu bytes", L);
        else if (ret > (ssize_t)L)
            KS_FAIL("rule 1: returned more than offered");
        else if (ret < 0 && !ks_summary_has_err(&s, (int)-ret) &&
                 !(ret == -EAGAIN && s.short_or_refused))
            /* Rule 4 allows -EAGAIN after a short count inside a rewritten
             * block when the call has no block byte of its own left. */
            KS_FAIL("rule 2: returned -%d though the kernel neither "
                    "returned it nor was short in this call", (int)-ret);
        else if (ret >= 0 && (size_t)ret < L && !s.short_or_refused)
            KS_FAIL("rule 2: short count although the kernel took all it "
                    "was offered");
        else if (W > o->wire.len ||
                 (W > checked &&
                  memcmp(ks->wire.p + checked, o->wire.p + checked,
                         W - checked) != 0)) {
            size_t d = checked;
            while (d < W && d < o->wire.len && ks->wire.p[d] == o->wire.p[d])
                d++;
            char a[200], b[200];
            ks_escape_at(o->wire.p, d, d < o->wire.len ? o->wire.len - d : 0,
                      48, a, sizeof a);
            ks_escape_at(ks->wire.p, d, W - d, 48, b, sizeof b);
            KS_FAIL("wire differs from the transform at byte %zu: expected "
                    "\"%s\", got \"%s\"", d, a, b);
        } else if (W < o->release[np])
            KS_FAIL("rule 1: acknowledged through stream byte %zu, which "
                    "needs %zu wire bytes, but only %zu are out", np,
                    o->release[np], W);
        else if (np < r->len && L > 0 && (size_t)(ret > 0 ? ret : 0) < L &&
                 (ret > 0 || W > before) &&
                 o->release[np + 1] > o->release[np] &&
                 o->release[np + 1] <= W)
            KS_FAIL("rule 4: acknowledged only through %zu though stream "
                    "byte %zu is on the wire", np, np);
        else if (blocking_app && ret == -EAGAIN &&
                 !ks_summary_has_err(&s, EAGAIN))
            KS_FAIL("rule 5: -EAGAIN on a blocking socket whose kernel never "
                    "said EAGAIN");
        else if (blocking_app && !s.refused && L > 0 && ret >= 0 &&
                 (size_t)ret < L && np < r->len &&
                 ks_jump_rewritten(o, r->stream, np))
            KS_FAIL("rule 5: blocking socket, kernel only short, but the "
                    "call returned before the rewritten block ending at "
                    "stream byte %zu was out", np);
        /* A sendfile's bytes come from the file; header bytes found there
         * are read with pread (headershim.h), so only writes are held to
         * rule 8 here. */
        if (!err && !pl.file) {
            for (size_t w = before; w < W; w++)
                if (w < o->wire.len && o->direct[w] >= 0 &&
                    ks->src[w] != r->stream + o->direct[w]) {
                    KS_FAIL("rule 8: wire byte %zu (stream byte %ld, a body "
                            "byte) was not sent from the application's "
                            "buffer", w, o->direct[w]);
                    break;
                }
        }
#undef KS_FAIL
        checked = W;
        if (err)
            break;
        if (ret < 0) {
            if (ret != -EAGAIN && ret != -EINTR) {
                fatal = true;
                break;
            }
            continue; /* resubmit the same call */
        }
        p = np;
        if (L == 0) {
            pl.n = 0;
            continue;
        }
        ks_plan_drop(&pl, (size_t)ret);
        if (ks_plan_bytes(&pl) == 0) {
            pl.n = 0;
        } else if (r->retry == KS_RETRY_MERGE && !pl.file) {
            size_t end = p + ks_plan_bytes(&pl);
            if (end < r->len)
                ks_plan_call(r, &rng, end, &pl);
        } else if (r->retry == KS_RETRY_RESPLIT) {
            pl.n = 0;
        }
    }

    if (!err && !fatal) {
        if (r->nfeed) /* what the client sent and no response answered */
            ks_feed_to(c, r, &feed_rng, &fed, r->req_len);
        size_t mark = ks->ncalls;
        errno = KS_EVIL_ERRNO;
        int fr = hs_io_flush(c, &ks->k, 1000);
        ks_summary fsum = ks_summarize(ks, mark, MSG_NOSIGNAL);
        bool nosig = true;
        for (size_t i = mark; i < ks->ncalls; i++)
            if (ks->calls[i].op == KS_OP_SENDV &&
                !(ks->calls[i].flags & MSG_NOSIGNAL))
                nosig = false;
        bool flush_failed = fr < 0 && fr != -EAGAIN && fr != -EINTR &&
                            ks_summary_has_err(&fsum, -fr);
        if (errno != KS_EVIL_ERRNO)
            err = ks_fail(r, ks, mark, callno, p, 0, fr,
                          "rule 7: hs_io_flush changed errno");
        else if (!nosig)
            err = ks_fail(r, ks, mark, callno, p, 0, fr,
                          "rule 6: the shim's own flush without MSG_NOSIGNAL");
        else if (fr != 0 && !flush_failed)
            /* a flush may fail only with the kernel's own hard error */
            err = ks_fail(r, ks, mark, callno, p, 0, fr,
                          "final flush returned %d", fr);
        else if (flush_failed) {
            if (ks->wire.len > o->wire.len ||
                !ks_same(ks->wire.p, o->wire.p, ks->wire.len))
                err = ks_fail(r, ks, mark, callno, p, 0, fr,
                              "after a failed flush the wire is not a "
                              "prefix of the transform");
        } else if (hs_conn_owes_bytes(c))
            err = ks_fail(r, ks, mark, callno, p, 0, fr,
                          "still owes bytes after a successful flush");
        else if (ks->wire.len != o->wire.len ||
                 !ks_same(ks->wire.p, o->wire.p, o->wire.len)) {
            size_t d = 0;
            while (d < ks->wire.len && d < o->wire.len &&
                   ks->wire.p[d] == o->wire.p[d])
                d++;
            char a[200], b[200];
            ks_escape_at(o->wire.p, d, o->wire.len - d, 48, a, sizeof a);
            ks_escape_at(ks->wire.p, d, ks->wire.len - d, 48, b, sizeof b);
            err = ks_fail(r, ks, mark, callno, p, 0, fr,
                          "after the flush the wire has %zu bytes, the "
                          "transform %zu; first difference at %zu: expected "
                          "\"%s\", got \"%s\"", ks->wire.len, o->wire.len, d,
                          a, b);
        } else {
            bool same = events->n == o->events.n;
            for (size_t i = 0; same && i < events->n; i++)
                same = events->kind[i] == o->events.kind[i] &&
                       events->shutdown_read[i] == o->events.shutdown_read[i];
            if (!same) {
                char a[600], b[600];
                ks_events_describe(&o->events, a, sizeof a);
                ks_events_describe(events, b, sizeof b);
                err = ks_fail(r, ks, mark, callno, p, 0, fr,
                              "events differ from the one-call run: "
                              "expected [%s], got [%s]", a, b);
            }
        }
    }
    if (r->steady_blocks)
        *r->steady_blocks += c->steady_blocks;
    hs_conn_free(c);
    return err;
}
