/*
 * rewrite_output.c - the new block from the working lines, and the record
 * of what changed (POLICY.md "Evaluation and output").
 *
 * Untouched lines are copied byte for byte, runs of them in one copy; a
 * line the policy wrote unchanged is its precomputed "Name: value\r\n";
 * every written line ends as the status line does. The size is known
 * before a byte is written, so HEADERSHIM_MAX_OUTPUT is checked first and
 * the buffer grows at most once.
 */
#include "rewrite_internal.h"

#include <string.h>

/* ---- output -------------------------------------------------------------- */

/* Bytes of a rewritten line, its line ending excluded. */
static inline __attribute__((always_inline)) size_t
line_size(const hs_wline *l, bool ro)
{
    const hs_op *op = l->op;
    if (op)
        return (ro && op->line_ro ? op->line_ro_len : op->line_len) - 2;
    size_t nl = (ro && l->name_ro) ? l->name_len + 12 : l->name_len;
    return nl + 2 + l->value_len;
}

static inline char *write_line(char *o, const hs_wline *l, bool ro)
{
    const hs_op *op = l->op;
    if (op) {
        bool r = ro && op->line_ro;
        size_t n = (r ? op->line_ro_len : op->line_len) - 2;
        memcpy(o, r ? op->line_ro : op->line, n);
        return o + n;
    }
    if (ro && l->name_ro) {
        memcpy(o, l->name_ro, l->name_len + 12);
        o += l->name_len + 12;
    } else {
        memcpy(o, l->name, l->name_len);
        o += l->name_len;
    }
    *o++ = ':';
    *o++ = ' ';
    memcpy(o, l->value, l->value_len);
    return o + l->value_len;
}

hs_rewrite_status hs_rw_emit(hs_rw *rw, const hs_rewrite_opts *o,
                             hs_buf *out)
{
    const hs_block *b = rw->b;
    bool ro = o && o->csp_report_only;
    size_t max = (o && o->max_output) ? o->max_output : HS_DEFAULT_MAX_OUTPUT;
    size_t el = b->crlf ? 2 : 1;
    size_t tail = b->nfields ? b->fields[b->nfields - 1].line_off +
                                   b->fields[b->nfields - 1].line_len
                             : b->status_line_len;
    size_t size = b->status_line_len + (b->len - tail);
    for (size_t i = 0; i < rw->nw; i++) {
        const hs_wline *l = &rw->w[i];
        if (l->state == HS_L_KEEP)
            size += b->fields[l->orig].line_len;
        else if (l->state == HS_L_REWRITE)
            size += line_size(l, ro) + el;
    }
    if (size > max)
        return HS_REWRITE_TOO_LARGE;
    if (!hs_buf_reserve(out, size))
        return HS_REWRITE_NO_MEMORY;
    char *start = out->p + out->len, *p = start;
    memcpy(p, b->base, b->status_line_len);
    p += b->status_line_len;
    size_t run_off = 0, run_len = 0;  /* untouched lines, copied together */
    for (size_t i = 0; i < rw->nw; i++) {
        const hs_wline *l = &rw->w[i];
        if (l->state == HS_L_KEEP) {
            const hs_field *f = &b->fields[l->orig];
            if (run_len && run_off + run_len == f->line_off) {
                run_len += f->line_len;
                continue;
            }
            if (run_len)
                memcpy(p, b->base + run_off, run_len);
            p += run_len;
            run_off = f->line_off;
            run_len = f->line_len;
            continue;
        }
        if (l->state == HS_L_GONE)
            continue;
        if (run_len) {
            memcpy(p, b->base + run_off, run_len);
            p += run_len;
            run_len = 0;
        }
        const hs_op *op = l->op;
        if (op && b->crlf) {
            /* The policy's own line, "\r\n" included: one copy. */
            bool r = ro && op->line_ro;
            size_t n = r ? op->line_ro_len : op->line_len;
            memcpy(p, r ? op->line_ro : op->line, n);
            p += n;
            continue;
        }
        p = write_line(p, l, ro);
        if (b->crlf)
            *p++ = '\r';
        *p++ = '\n';
    }
    memcpy(p, b->base + run_off, run_len);
    p += run_len;
    memcpy(p, b->base + tail, b->len - tail);
    p += b->len - tail;
    if (size == b->len && memcmp(start, b->base, size) == 0)
        return HS_REWRITE_UNCHANGED;
    out->len += size;
    return HS_REWRITE_CHANGED;
}

/* ---- changes ------------------------------------------------------------- */

static bool same_as_original(const hs_rw *rw, const hs_wline *l, bool ro)
{
    const hs_field *f = &rw->b->fields[l->orig];
    size_t n = f->line_len - (rw->b->crlf ? 2 : 1);
    if (line_size(l, ro) != n)
        return false;
    char tmp[512];
    if (n > sizeof tmp)
        return false;
    write_line(tmp, l, ro);
    return memcmp(tmp, rw->b->base + f->line_off, n) == 0;
}

static inline __attribute__((always_inline)) hs_str
written_name(const hs_wline *l, bool ro)
{
    if (l->op) {
        if (ro && l->op->line_ro)
            return (hs_str){ l->op->line_ro, l->op->name_len + 12 };
        return (hs_str){ l->op->name, l->op->name_len };
    }
    if (ro && l->name_ro)
        return (hs_str){ l->name_ro, l->name_len + 12 };
    return (hs_str){ l->name, l->name_len };
}

typedef struct clist {
    hs_str *names;
    size_t n;
    uint64_t seen[4];       /* ids below 256 already listed */
    int ids[HS_CHANGE_MAX];
} clist;

static inline void note(hs_changes *c, clist *cl, hs_str name, int id)
{
    if (id >= 0 && id < 256) {
        uint64_t bit = 1ull << (id & 63);
        if (cl->seen[id >> 6] & bit)
            return;
        cl->seen[id >> 6] |= bit;
    } else {
        for (size_t j = 0; j < cl->n; j++)
            if (cl->ids[j] == id &&
                (id >= 0 || hs_pol_ieq(cl->names[j].p, cl->names[j].len,
                                       name.p, name.len)))
                return;
    }
    if (cl->n == HS_CHANGE_MAX) {
        c->truncated = true;
        return;
    }
    cl->ids[cl->n] = id;
    cl->names[cl->n++] = name;
}

/* Lists what changed, each name once (case-insensitively: by id when it
 * has one), at most HS_CHANGE_MAX per list. The application's lines come
 * first in the working array, the added ones after them. */
void hs_rw_fill_changes(const hs_rw *rw, const hs_rewrite_opts *o,
                        hs_changes *c)
{
    bool ro = o && o->csp_report_only;
    clist cl;
    size_t nf = rw->b->nfields, i;
    cl.names = c->removed;
    cl.n = 0;
    cl.seen[0] = cl.seen[1] = cl.seen[2] = cl.seen[3] = 0;
    for (i = 0; i < nf; i++) {
        const hs_wline *l = &rw->w[i];
        /* "lines removed (and not written again)" */
        if (l->state == HS_L_GONE && (l->id < 0 || rw->count[l->id] == 0))
            note(c, &cl, rw->b->fields[i].name, l->id);
    }
    c->nremoved = cl.n;
    cl.names = c->set;
    cl.n = 0;
    cl.seen[0] = cl.seen[1] = cl.seen[2] = cl.seen[3] = 0;
    for (i = 0; i < nf; i++) {
        const hs_wline *l = &rw->w[i];
        if (l->state == HS_L_REWRITE && !same_as_original(rw, l, ro))
            note(c, &cl, written_name(l, ro), l->id);
    }
    c->nset = cl.n;
    cl.names = c->added;
    cl.n = 0;
    cl.seen[0] = cl.seen[1] = cl.seen[2] = cl.seen[3] = 0;
    for (i = nf; i < rw->nw; i++) {
        const hs_wline *l = &rw->w[i];
        if (l->state != HS_L_GONE)
            note(c, &cl, written_name(l, ro), l->id);
    }
    c->nadded = cl.n;
}

