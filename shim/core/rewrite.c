/*
 * rewrite.c - compiled policy x parsed block x request -> new block
 * (POLICY.md "Evaluation and output").
 *
 * The response's lines become a small array of working lines, each with
 * its interned name id (the field name is hashed once). Directives run in
 * file order over that array; a block whose condition fails is skipped by
 * one jump. Conditions look only at the block and request as the
 * application wrote them, never at the working lines, so evaluating each
 * when its block is reached is the same as evaluating all up front. The
 * output is then written in one pass: untouched lines byte for byte (runs
 * of them in one copy), rewritten lines as "Name: value", added lines
 * before the blank line, every new line ending as the status line does.
 *
 * Nothing is allocated per rewrite in the common case: the working lines,
 * the per-name counts and the first kilobyte of new values live on the
 * stack; only the output buffer grows.
 */
#include "rewrite_internal.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_OUTPUT 8192
#define STACK_LINES 64
#define STACK_NAMES 256

/* ---- arena --------------------------------------------------------------- */

char *hs_rw_alloc(hs_rw *rw, size_t n)
{
    hs_arena *a = &rw->arena;
    if (n > a->left) {
        size_t size = n > 4096 ? n : 4096;
        hs_chunk *c = malloc(sizeof *c + size);
        if (!c) {
            rw->oom = true;
            return NULL;
        }
        c->next = a->chunks;
        a->chunks = c;
        a->cur = c->data;
        a->left = size;
    }
    char *p = a->cur;
    a->cur += n;
    a->left -= n;
    return p;
}

static void arena_free(hs_arena *a)
{
    while (a->chunks) {
        hs_chunk *n = a->chunks->next;
        free(a->chunks);
        a->chunks = n;
    }
}

/* ---- conditions ---------------------------------------------------------- */

static hs_str media_type(const hs_rw *rw)
{
    /* POLICY.md: the first Content-Type line, parameters ignored. */
    for (size_t i = 0; i < rw->b->nfields; i++) {
        if (rw->w[i].oid != HS_ID_CONTENT_TYPE)
            continue;
        hs_str v = rw->b->fields[i].value;
        const char *semi = memchr(v.p, ';', v.len);
        size_t n = semi ? (size_t)(semi - v.p) : v.len;
        while (n && (v.p[n - 1] == ' ' || v.p[n - 1] == '\t'))
            n--;
        return (hs_str){ v.p, n };
    }
    return (hs_str){ "", 0 };
}

static bool field_matches(const hs_field *f, const hs_pattern *p)
{
    return !p->has_glob ||
           hs_pol_glob(p->glob, p->glob_len, f->value.p, f->value.len, true);
}

static bool pattern_matches(const hs_rw *rw, const hs_node *n,
                            const hs_pattern *p, const hs_str *mt)
{
    const hs_request *r = rw->req;
    switch (n->subject) {
    case HS_S_STATUS:
        return rw->b->status >= p->lo && rw->b->status <= p->hi;
    case HS_S_CONTENT_TYPE:
        if (p->none)
            return mt->len == 0;
        return mt->len &&
               hs_pol_glob(p->glob, p->glob_len, mt->p, mt->len, true);
    case HS_S_HEADER:
        for (size_t i = 0; i < rw->b->nfields; i++)
            if (rw->w[i].oid == p->name_id &&
                field_matches(&rw->b->fields[i], p))
                return true;
        return false;
    case HS_S_METHOD:
        return r && r->has_request && r->method.len == p->glob_len &&
               memcmp(r->method.p, p->glob, p->glob_len) == 0;
    case HS_S_PATH:
        return r && r->has_request && r->path_ok &&
               hs_pol_glob(p->glob, p->glob_len, r->path.p, r->path.len, false);
    case HS_S_HOST:
        return r && r->has_request && r->has_host &&
               hs_pol_glob(p->glob, p->glob_len, r->host.p, r->host.len, true);
    case HS_S_REQUEST_HEADER:
        if (!r || !r->has_request)
            return false;
        for (size_t i = 0; i < r->nfields; i++)
            if (hs_pol_ieq(r->fields[i].name.p, r->fields[i].name.len,
                           p->name, p->name_len) &&
                field_matches(&r->fields[i], p))
                return true;
        return false;
    case HS_S_PORT:
        return r && r->port >= p->lo && r->port <= p->hi;
    default:
        return false;
    }
}

static bool condition(const hs_rw *rw, const hs_node *n, hs_str *mt,
                      bool *mt_done)
{
    bool any = false;
    if (n->subject == HS_S_TLS) {
        any = rw->req && rw->req->tls;
    } else {
        if (n->subject == HS_S_CONTENT_TYPE && !*mt_done) {
            *mt = media_type(rw);
            *mt_done = true;
        }
        for (size_t i = 0; i < n->npats && !any; i++)
            any = pattern_matches(rw, n, &n->pats[i], mt);
    }
    return any != n->unless;
}

/* ---- directives ---------------------------------------------------------- */

static void from_op(hs_wline *l, const hs_op *op)
{
    l->name = op->name;
    l->name_len = (uint32_t)op->name_len;
    l->value = op->value;
    l->value_len = (uint32_t)op->value_len;
    l->full = op->line;
    l->full_len = (uint32_t)op->line_len;
    l->full_ro = op->line_ro;
    l->full_ro_len = (uint32_t)op->line_ro_len;
    l->name_ro = op->line_ro;   /* starts with "Name-Report-Only" */
    l->state = HS_L_REWRITE;
}

static void add_line(hs_rw *rw, const hs_op *op)
{
    hs_wline *l = &rw->w[rw->nw++];
    from_op(l, op);
    l->id = op->id;
    l->orig = -1;
    rw->count[op->id]++;
    rw->dirty = true;
}

static void drop(hs_rw *rw, hs_wline *l)
{
    l->state = HS_L_GONE;
    if (l->id >= 0)
        rw->count[l->id]--;
    rw->dirty = true;
}

static size_t first_of(const hs_rw *rw, int id)
{
    for (size_t i = 0; i < rw->nw; i++)
        if (rw->w[i].id == id && rw->w[i].state != HS_L_GONE)
            return i;
    return rw->nw;
}

static void op_set(hs_rw *rw, const hs_op *op)
{
    if (rw->count[op->id] == 0) {
        add_line(rw, op);
        return;
    }
    size_t i = first_of(rw, op->id);
    from_op(&rw->w[i], op);
    rw->dirty = true;
    for (size_t j = i + 1; j < rw->nw; j++)
        if (rw->w[j].id == op->id && rw->w[j].state != HS_L_GONE)
            drop(rw, &rw->w[j]);
}

static bool glob_hit(const hs_op *op, const char *name, size_t n)
{
    unsigned char f = (unsigned char)name[0];
    if (!op->glob_any_first && !(op->first[f >> 3] & (1u << (f & 7))))
        return false;
    for (size_t g = 0; g < op->nglobs; g++) {
        const hs_glob *gl = &op->globs[g];
        if (gl->prefix) {
            size_t k = gl->len - 1;
            if (n >= k && hs_pol_ieq(name, k, gl->pat, k))
                return true;
        } else if (hs_pol_glob(gl->pat, gl->len, name, n, true)) {
            return true;
        }
    }
    return false;
}

static void op_remove(hs_rw *rw, const hs_op *op)
{
    for (size_t i = 0; i < rw->nw; i++) {
        hs_wline *l = &rw->w[i];
        if (l->state == HS_L_GONE)
            continue;
        int id = l->id;
        if (id >= 0 && (op->idset[id >> 3] & (1u << (id & 7)))) {
            drop(rw, l);
        } else if (op->nglobs && (id < 0 || id >= HS_ID_NPROTECTED)) {
            const char *nm = l->state == HS_L_KEEP
                                 ? rw->b->fields[l->orig].name.p : l->name;
            size_t nl = l->state == HS_L_KEEP
                            ? rw->b->fields[l->orig].name.len : l->name_len;
            if (nl && glob_hit(op, nm, nl))
                drop(rw, l);
        }
    }
}

static void op_rename(hs_rw *rw, const hs_op *op)
{
    if (rw->count[op->id] == 0)
        return;
    for (size_t i = 0; i < rw->nw; i++) {
        hs_wline *l = &rw->w[i];
        if (l->id != op->id || l->state == HS_L_GONE)
            continue;
        if (l->state == HS_L_KEEP) {
            l->value = rw->b->fields[l->orig].value.p;
            l->value_len = (uint32_t)rw->b->fields[l->orig].value.len;
        }
        l->name = op->name;
        l->name_len = (uint32_t)op->name_len;
        l->name_ro = op->name_ro;
        l->full = l->full_ro = NULL;
        l->state = HS_L_REWRITE;
        rw->count[op->id]--;
        rw->count[op->id2]++;
        l->id = op->id2;
    }
    rw->dirty = true;
}

static void run(hs_rw *rw)
{
    const hs_policy *pol = rw->pol;
    hs_str mt = { "", 0 };
    bool mt_done = false;
    size_t pc = 0;
    while (pc < pol->nops && !rw->oom && !rw->too_large) {
        const hs_op *op = &pol->ops[pc];
        switch (op->kind) {
        case HS_OP_BLOCK:
            if (!condition(rw, op->node, &mt, &mt_done)) {
                pc = op->skip_to;
                continue;
            }
            break;
        case HS_OP_SET:
            op_set(rw, op);
            break;
        case HS_OP_DEFAULT:
            if (rw->count[op->id] == 0)
                add_line(rw, op);
            break;
        case HS_OP_ADD:
            add_line(rw, op);
            break;
        case HS_OP_APPEND:
        case HS_OP_MERGE:
            if (rw->count[op->id] == 0)
                add_line(rw, op);
            else
                hs_rw_append(rw, op, op->kind == HS_OP_MERGE,
                             first_of(rw, op->id));
            break;
        case HS_OP_REMOVE:
            op_remove(rw, op);
            break;
        case HS_OP_RENAME:
            op_rename(rw, op);
            break;
        case HS_OP_EDIT:
        case HS_OP_EDIT_ALL:
            if (rw->count[op->id])
                hs_rw_edit(rw, op, op->kind == HS_OP_EDIT_ALL);
            break;
        case HS_OP_COOKIE:
            if (rw->count[HS_ID_SET_COOKIE])
                hs_rw_cookie(rw, op);
            break;
        }
        pc++;
    }
}

/* ---- output -------------------------------------------------------------- */

/* Bytes of a rewritten line, its line ending excluded. */
static size_t line_size(const hs_wline *l, bool ro)
{
    if (l->full)
        return (ro && l->full_ro ? l->full_ro_len : l->full_len) - 2;
    size_t nl = (ro && l->name_ro) ? l->name_len + 12 : l->name_len;
    return nl + 2 + l->value_len;
}

static char *write_line(char *o, const hs_wline *l, bool ro)
{
    if (l->full) {
        const char *s = ro && l->full_ro ? l->full_ro : l->full;
        size_t n = (ro && l->full_ro ? l->full_ro_len : l->full_len) - 2;
        memcpy(o, s, n);
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

static hs_rewrite_status emit(hs_rw *rw, const hs_rewrite_opts *o,
                              hs_buf *out)
{
    const hs_block *b = rw->b;
    bool ro = o && o->csp_report_only;
    size_t max = (o && o->max_output) ? o->max_output : DEFAULT_MAX_OUTPUT;
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
            memcpy(p, b->base + run_off, run_len);
            p += run_len;
            run_off = f->line_off;
            run_len = f->line_len;
            continue;
        }
        if (l->state == HS_L_GONE)
            continue;
        memcpy(p, b->base + run_off, run_len);
        p += run_len;
        run_len = 0;
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

typedef struct clist {
    hs_str *names;
    size_t *n;
    int ids[HS_CHANGE_MAX];
} clist;

static void note(hs_changes *c, clist *cl, hs_str name, int id)
{
    for (size_t i = 0; i < *cl->n; i++) {
        if (id >= 0 ? cl->ids[i] == id
                    : (cl->ids[i] < 0 && hs_pol_ieq(cl->names[i].p,
                       cl->names[i].len, name.p, name.len)))
            return;
    }
    if (*cl->n == HS_CHANGE_MAX) {
        c->truncated = true;
        return;
    }
    cl->ids[*cl->n] = id;
    cl->names[(*cl->n)++] = name;
}

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

static hs_str written_name(const hs_wline *l, bool ro)
{
    if (ro && l->name_ro)
        return (hs_str){ l->name_ro, l->name_len + 12 };
    return (hs_str){ l->name, l->name_len };
}

static void fill_changes(const hs_rw *rw, const hs_rewrite_opts *o,
                         hs_changes *c)
{
    bool ro = o && o->csp_report_only;
    clist rm = { c->removed, &c->nremoved, {0} };
    clist st = { c->set, &c->nset, {0} };
    clist ad = { c->added, &c->nadded, {0} };
    for (size_t i = 0; i < rw->nw; i++) {
        const hs_wline *l = &rw->w[i];
        if (l->orig < 0) {
            if (l->state != HS_L_GONE)
                note(c, &ad, written_name(l, ro), l->id);
        } else if (l->state == HS_L_GONE) {
            /* "lines removed (and not written again)" */
            if (l->id < 0 || rw->count[l->id] == 0)
                note(c, &rm, rw->b->fields[l->orig].name, l->id);
        } else if (l->state == HS_L_REWRITE && !same_as_original(rw, l, ro)) {
            note(c, &st, written_name(l, ro), l->id);
        }
    }
}

/* ---- entry points -------------------------------------------------------- */

hs_rewrite_status hs_rewrite(const hs_policy *p, const hs_rewrite_opts *o,
                             const hs_block *b, const hs_request *req,
                             hs_buf *out, hs_changes *changes)
{
    if (changes) {
        changes->nremoved = changes->nset = changes->nadded = 0;
        changes->truncated = false;
    }
    /* RFC 9110 15.2: interim responses, 101 included, pass as they are. */
    if (b->status < 200)
        return HS_REWRITE_INTERIM;
    if (!p || p->nops == 0)
        return HS_REWRITE_UNCHANGED;

    hs_wline wstack[STACK_LINES];
    uint16_t cstack[STACK_NAMES];
    hs_rw rw = { .pol = p, .b = b, .req = req, .w = wstack, .count = cstack };
    size_t nlines = b->nfields + p->max_added;
    if (nlines > STACK_LINES)
        rw.w = malloc(nlines * sizeof *rw.w);
    if (p->nnames > STACK_NAMES)
        rw.count = malloc(p->nnames * sizeof *rw.count);
    hs_rewrite_status st = HS_REWRITE_NO_MEMORY;
    if (!rw.w || !rw.count)
        goto done;
    memset(rw.count, 0, p->nnames * sizeof *rw.count);
    rw.arena.cur = rw.arena.first;
    rw.arena.left = sizeof rw.arena.first;
    rw.max_value = (o && o->max_output) ? o->max_output : DEFAULT_MAX_OUTPUT;

    for (size_t i = 0; i < b->nfields; i++) {
        const hs_field *f = &b->fields[i];
        hs_wline *l = &rw.w[i];
        int id = hs_pol_lookup(p, f->name.p, f->name.len);
        l->id = l->oid = id;
        l->orig = (int)i;
        l->state = HS_L_KEEP;
        if (id >= 0)
            rw.count[id]++;
    }
    rw.nw = b->nfields;

    run(&rw);
    if (rw.oom)
        st = HS_REWRITE_NO_MEMORY;
    else if (rw.too_large)
        st = HS_REWRITE_TOO_LARGE;
    else if (!rw.dirty)
        st = HS_REWRITE_UNCHANGED;
    else
        st = emit(&rw, o, out);
    if (st == HS_REWRITE_CHANGED && changes)
        fill_changes(&rw, o, changes);
done:
    arena_free(&rw.arena);
    if (rw.w != wstack)
        free(rw.w);
    if (rw.count != cstack)
        free(rw.count);
    return st;
}

size_t hs_block_media_type(const hs_block *b, char *out, size_t cap)
{
    for (size_t i = 0; i < b->nfields; i++) {
        const hs_field *f = &b->fields[i];
        if (!hs_pol_ieq(f->name.p, f->name.len, "content-type", 12))
            continue;
        const char *semi = memchr(f->value.p, ';', f->value.len);
        size_t n = semi ? (size_t)(semi - f->value.p) : f->value.len;
        while (n && (f->value.p[n - 1] == ' ' || f->value.p[n - 1] == '\t'))
            n--;
        if (n > cap)
            n = cap;
        for (size_t k = 0; k < n; k++) {
            char c = f->value.p[k];
            out[k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        return n;
    }
    return 0;
}
