/*
 * rewrite_output.c - the new block from the working lines, and the record
 * of what changed, both in one pass (POLICY.md "Evaluation and output").
 *
 * Untouched lines are copied byte for byte, runs of them in one copy; a
 * line the policy wrote unchanged is its precomputed "Name: value\r\n";
 * every written line ends as the status line does. The buffer grows at
 * most once: to a bound kept while the directives ran, or, when that bound
 * exceeds HEADERSHIM_MAX_OUTPUT, to the exact size computed first.
 */
#include "rewrite_internal.h"

#include <string.h>


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

/* Writes the application's lines [from, to) of the block: one copy when
 * they are contiguous (and then the status line too when from is 0),
 * otherwise line by line, as they were parsed. */
static inline char *copy_fields(char *p, const hs_block *b, bool contiguous,
                                size_t from, size_t to, size_t tail)
{
    if (contiguous) {
        size_t s = from == 0           ? 0
                   : from < b->nfields ? b->fields[from].line_off
                                       : tail;
        size_t e = to < b->nfields ? b->fields[to].line_off : tail;
        memcpy(p, b->base + s, e - s);
        return p + (e - s);
    }
    if (from == 0) {
        memcpy(p, b->base, b->status_line_len);
        p += b->status_line_len;
    }
    for (size_t i = from; i < to; i++) {
        memcpy(p, b->base + b->fields[i].line_off, b->fields[i].line_len);
        p += b->fields[i].line_len;
    }
    return p;
}

static inline char *write_new_line(char *p, const hs_wline *l, bool ro,
                                   bool crlf)
{
    const hs_op *op = l->op;
    if (op && crlf) {
        /* The policy's own line, "\r\n" included: one copy. */
        bool r = ro && op->line_ro;
        size_t n = r ? op->line_ro_len : op->line_len;
        memcpy(p, r ? op->line_ro : op->line, n);
        return p + n;
    }
    p = write_line(p, l, ro);
    if (crlf)
        *p++ = '\r';
    *p++ = '\n';
    return p;
}

char *hs_rw_write_op_line(char *p, const hs_op *op, bool ro, bool crlf)
{
    hs_wline l = { .op = op, .state = HS_L_REWRITE };
    return write_new_line(p, &l, ro, crlf);
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

static inline void clist_init(clist *cl, hs_str *names)
{
    cl->names = names;
    memset(cl->seen, 0, sizeof cl->seen);
}

static inline __attribute__((always_inline)) void
note(hs_changes *c, clist *cl, hs_str name, int id)
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

/* ---- output -------------------------------------------------------------- */

hs_rewrite_status hs_rw_emit(hs_rw *rw, const hs_rewrite_opts *o,
                             hs_buf *out, hs_changes *c)
{
    const hs_block *b = rw->b;
    bool ro = o && o->csp_report_only;
    size_t max = (o && o->max_output) ? o->max_output : HS_DEFAULT_MAX_OUTPUT;
    size_t el = b->crlf ? 2 : 1;
    size_t nf = b->nfields;
    size_t tail = nf ? b->fields[nf - 1].line_off + b->fields[nf - 1].line_len
                     : b->status_line_len;
    size_t size;
    if (rw->contiguous && b->len + rw->extra <= max) {
        /* The common case: the size found by writing, into room for the
         * block plus every line the directives ever wrote. */
        size_t need = b->len + rw->extra;
        if (need > out->cap - out->len && !hs_buf_reserve(out, need))
            return HS_REWRITE_NO_MEMORY;
    } else {
        /* The application's bytes that are kept, then the lines written:
         * HEADERSHIM_MAX_OUTPUT is checked before a byte is written. */
        size = b->len;
        if (!rw->contiguous) {
            size = b->status_line_len + (b->len - tail);
            for (size_t i = 0; i < nf; i++)
                size += b->fields[i].line_len;
        }
        for (size_t i = 0; i < rw->nw; i++) {
            const hs_wline *l = &rw->w[i];
            if (l->state == HS_L_KEEP)
                continue;
            if (l->orig >= 0)
                size -= b->fields[l->orig].line_len;
            if (l->state == HS_L_REWRITE)
                size += line_size(l, ro) + el;
        }
        if (size > max)
            return HS_REWRITE_TOO_LARGE;
        if (!hs_buf_reserve(out, size))
            return HS_REWRITE_NO_MEMORY;
    }
    char *start = out->p + out->len, *p = start;
    size_t next = 0;    /* first field not yet written */
    /* The change record is filled as the lines go out: each name once
     * per list (case-insensitively: by id when it has one), at most
     * HS_CHANGE_MAX, in the order of the lines. */
    clist rm, set;
    rm.n = set.n = 0;
    for (size_t i = 0; i < rw->nblock; i++) {
        const hs_wline *l = &rw->w[i];
        if (l->state == HS_L_KEEP)
            continue;
        size_t at = (size_t)l->orig;
        p = copy_fields(p, b, rw->contiguous, next, at, tail);
        next = at + 1;
        if (l->state == HS_L_REWRITE) {
            p = write_new_line(p, l, ro, b->crlf);
            if (c && !same_as_original(rw, l, ro)) {
                if (set.n == 0)
                    clist_init(&set, c->set);
                note(c, &set, written_name(l, ro), l->id);
            }
        } else if (c && (l->id < 0 || rw->count[l->id] == 0)) {
            /* "lines removed (and not written again)" */
            if (rm.n == 0)
                clist_init(&rm, c->removed);
            note(c, &rm, b->fields[at].name, l->id);
        }
    }
    p = copy_fields(p, b, rw->contiguous, next, nf, tail);
    /* Added lines the policy wrote as they are sit side by side in its
     * line pool when their directives do: one copy for each such run. */
    const char *run = NULL;
    size_t run_len = 0;
    /* Added lines always have an id (the policy names them). */
    uint64_t seen[4] = { 0, 0, 0, 0 };
    int ids[HS_CHANGE_MAX];
    size_t nadd = 0;
    bool truncated = false;
    for (size_t i = rw->nblock; i < rw->nw; i++) {
        const hs_wline *l = &rw->w[i];
        if (l->state != HS_L_REWRITE)
            continue;
        if (c) {
            unsigned id = (unsigned)l->id;
            bool listed;
            if (id < 256) {
                uint64_t bit = 1ull << (id & 63);
                listed = seen[id >> 6] & bit;
                seen[id >> 6] |= bit;
            } else {
                size_t j = 0;
                while (j < nadd && ids[j] != (int)id)
                    j++;
                listed = j < nadd;
            }
            if (!listed) {
                if (nadd == HS_CHANGE_MAX) {
                    truncated = true;
                } else {
                    ids[nadd] = (int)id;
                    c->added[nadd++] = written_name(l, ro);
                }
            }
        }
        const hs_op *op = l->op;
        if (op && b->crlf && !(ro && op->line_ro)) {
            if (run_len && run + run_len == op->line) {
                run_len += op->line_len;
                continue;
            }
            if (run_len)
                memcpy(p, run, run_len);
            p += run_len;
            run = op->line;
            run_len = op->line_len;
            continue;
        }
        if (run_len)
            memcpy(p, run, run_len);
        p += run_len;
        run_len = 0;
        run = NULL;
        p = write_new_line(p, l, ro, b->crlf);
    }
    if (run_len)
        memcpy(p, run, run_len);
    p += run_len;
    /* the blank line (and anything the parser left after it) */
    for (size_t k = tail; k < b->len; k++)
        *p++ = b->base[k];
    size = (size_t)(p - start);
    if (size == b->len && memcmp(start, b->base, size) == 0) {
        if (c) {
            c->nremoved = c->nset = c->nadded = 0;
            c->truncated = false;
        }
        return HS_REWRITE_UNCHANGED;
    }
    if (c) {
        c->nremoved = rm.n;
        c->nset = set.n;
        c->nadded = nadd;
        if (truncated)
            c->truncated = true;
    }
    out->len += size;
    return HS_REWRITE_CHANGED;
}

/* ---- output from a plan --------------------------------------------------- */

/* hs_rw_emit's output and change record for a shape whose directives ran
 * before (rewrite_plan.c); tests/unit/test_rewrite_plan.c holds the two to
 * the same bytes. */
/* n bytes from s to d without a call: the runs a plan copies are a few
 * dozen bytes, where memcpy's call and size dispatch cost more than the
 * copy. Overlapping loads and stores write exactly [0, n). */
static inline void copy_run(char *d, const char *s, size_t n)
{
    if (n > 64) {
        memcpy(d, s, n);
    } else if (n >= 16) {
        for (size_t i = 0; i + 16 < n; i += 16)
            __builtin_memcpy(d + i, s + i, 16);
        __builtin_memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        uint64_t a = hs_load64(s), z = hs_load64(s + n - 8);
        __builtin_memcpy(d, &a, 8);
        __builtin_memcpy(d + n - 8, &z, 8);
    } else {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    }
}

hs_rewrite_status hs_rw_emit_plan(const hs_plan *pl, const hs_block *b,
                                  const hs_rewrite_opts *o, hs_buf *out,
                                  hs_changes *c)
{
    bool ro = o && o->csp_report_only;
    size_t max = (o && o->max_output) ? o->max_output : HS_DEFAULT_MAX_OUTPUT;
    size_t nf = b->nfields;
    size_t tail = nf ? b->fields[nf - 1].line_off + b->fields[nf - 1].line_len
                     : b->status_line_len;
    /* the block up to its blank line, less its changed lines, then the
     * plan's lines (a plan is for one CSP mode and line ending) */
    size_t size = tail + pl->written_len;
    for (size_t i = 0; i < pl->nchanged; i++)
        size -= b->fields[pl->changed[i]].line_len;
    if (size > max)
        return HS_REWRITE_TOO_LARGE;
    if (size > out->cap - out->len && !hs_buf_reserve(out, size))
        return HS_REWRITE_NO_MEMORY;

    char *start = out->p + out->len, *p = start;
    size_t from = 0;    /* the first byte not yet written */
    for (size_t i = 0; i < pl->nchanged; i++) {
        unsigned line = pl->changed[i];
        const hs_field *f = &b->fields[line];
        copy_run(p, b->base + from, f->line_off - from);
        p += f->line_off - from;
        from = f->line_off + f->line_len;
        if (pl->text[line].len) {       /* rewritten, not removed */
            copy_run(p, pl->text[line].p, pl->text[line].len);
            p += pl->text[line].len;
        }
    }
    copy_run(p, b->base + from, tail - from);
    p += tail - from;
    copy_run(p, pl->blob, pl->blob_len);
    if (size == b->len && memcmp(start, b->base, size) == 0)
        return HS_REWRITE_UNCHANGED;
    if (c) {
        c->nremoved = pl->nrm;
        for (size_t i = 0; i < pl->nrm; i++)
            c->removed[i] = b->fields[pl->rm[i]].name;
        c->nset = 0;
        for (size_t i = 0; i < pl->nset; i++) {
            hs_wline l = { .op = pl->op[pl->set[i]], .state = HS_L_REWRITE,
                           .orig = pl->set[i] };
            hs_rw cmp = { .b = b };
            if (!same_as_original(&cmp, &l, ro))
                c->set[c->nset++] = written_name(&l, ro);
        }
        c->nadded = pl->nadded;
        memcpy(c->added, pl->added, pl->nadded * sizeof *pl->added);
        c->truncated = pl->added_truncated;
    }
    out->len += size;
    return HS_REWRITE_CHANGED;
}
