/*
 * rewrite.c - compiled policy x parsed block x request -> new block
 * (POLICY.md "Evaluation and output").
 *
 * Only the response's lines some directive could touch become working
 * lines, each with its interned name id: a 1 KiB bitmap built with the
 * policy rules out most field names before any hashing, and a line whose
 * name no directive names and no remove glob can match is never looked at
 * again. Directives run in file order over the working lines; a block
 * whose condition fails is skipped by one jump. Conditions look only at the block and request as the
 * application wrote them, never at the working lines, so evaluating each
 * when its block is reached is the same as evaluating all up front. The
 * output and the change record are then written in one pass: untouched
 * lines byte for byte (the runs between changed lines in one copy each),
 * rewritten lines as "Name: value", added lines before the blank line,
 * every new line ending as the status line does.
 *
 * Nothing is allocated per rewrite in the common case: the working lines,
 * the per-name counts and the first kilobyte of new values live on the
 * stack; only the output buffer grows.
 */
#include "rewrite_internal.h"

#include <stdlib.h>
#include <string.h>

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

/* The media type of the first Content-Type line, lowercased, parameters
 * ignored (POLICY.md "content-type"). */
static hs_str media_type(const hs_rw *rw, char *buf, size_t cap, bool *lowered)
{
    if (rw->ct < 0)
        return (hs_str){ "", 0 };
    hs_str v = rw->b->fields[rw->ct].value;
    const char *semi = memchr(v.p, ';', v.len);
    size_t n = semi ? (size_t)(semi - v.p) : v.len;
    while (n && (v.p[n - 1] == ' ' || v.p[n - 1] == '\t'))
        n--;
    if (n > cap)
        return (hs_str){ v.p, n };
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t w = hs_lower8(hs_load64(v.p + k));
        memcpy(buf + k, &w, 8);
    }
    for (; k < n; k++) {
        unsigned char c = (unsigned char)v.p[k];
        buf[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    *lowered = true;
    return (hs_str){ buf, n };
}

static bool field_matches(const hs_field *f, const hs_pattern *p)
{
    return !p->has_glob ||
           hs_pol_pat_match(p->glob, p->glob_len, p->nstars, p->star_at,
                            f->value.p, f->value.len, true);
}

typedef struct mtype {
    hs_str s;
    bool done, lowered;
    char buf[128];
} mtype;

static bool pattern_matches(const hs_rw *rw, const hs_node *n,
                            const hs_pattern *p, const mtype *mt)
{
    const hs_request *r = rw->req;
    switch (n->subject) {
    case HS_S_STATUS:
        return rw->b->status >= p->lo && rw->b->status <= p->hi;
    case HS_S_CONTENT_TYPE:
        if (p->none)
            return mt->s.len == 0;
        return mt->s.len &&
               hs_pol_pat_match(p->glob, p->glob_len, p->nstars, p->star_at,
                                mt->s.p, mt->s.len, !mt->lowered);
    case HS_S_HEADER: {
        /* the application's lines, whether tracked or not */
        const hs_name *nm = &rw->pol->names[p->name_id];
        for (size_t i = 0; i < rw->b->nfields; i++) {
            const hs_field *f = &rw->b->fields[i];
            if (hs_pol_name_eq(nm, f->name.p, f->name.len) &&
                field_matches(f, p))
                return true;
        }
        return false;
    }
    case HS_S_METHOD:
        return r && r->has_request && r->method.len == p->glob_len &&
               memcmp(r->method.p, p->glob, p->glob_len) == 0;
    case HS_S_PATH:
        return r && r->has_request && r->path_ok &&
               hs_pol_pat_match(p->glob, p->glob_len, p->nstars, p->star_at,
                                r->path.p, r->path.len, false);
    case HS_S_HOST:
        return r && r->has_request && r->has_host &&
               hs_pol_pat_match(p->glob, p->glob_len, p->nstars, p->star_at,
                                r->host.p, r->host.len, true);
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

static bool condition(const hs_rw *rw, const hs_op *op, mtype *mt,
                      uint8_t *slots)
{
    const hs_node *n = op->node;
    bool any = false;
    if (op->same_as >= 0) {
        any = slots[op->same_as];
    } else if (n->subject == HS_S_TLS) {
        any = rw->req && rw->req->tls;
    } else if (n->subject == HS_S_CONTENT_TYPE) {
        if (!mt->done) {
            mt->s = media_type(rw, mt->buf, sizeof mt->buf, &mt->lowered);
            mt->done = true;
        }
        /* The common case inline: exact media types, compared by length
         * first. */
        for (size_t i = 0; i < n->npats && !any; i++) {
            const hs_pattern *p = &n->pats[i];
            if (p->none)
                any = mt->s.len == 0;
            else if (p->nstars == 0 && mt->lowered)
                any = p->glob_len == mt->s.len &&
                      memcmp(p->glob, mt->s.p, mt->s.len) == 0;
            else
                any = mt->s.len &&
                      hs_pol_pat_match(p->glob, p->glob_len, p->nstars,
                                       p->star_at, mt->s.p, mt->s.len,
                                       !mt->lowered);
        }
    } else {
        if (n->subject == HS_S_CONTENT_TYPE && !mt->done) {
            mt->s = media_type(rw, mt->buf, sizeof mt->buf, &mt->lowered);
            mt->done = true;
        }
        for (size_t i = 0; i < n->npats && !any; i++)
            any = pattern_matches(rw, n, &n->pats[i], mt);
    }
    if (op->slot >= 0)
        slots[op->slot] = any;
    return any != n->unless;
}

/* ---- directives ---------------------------------------------------------- */

static inline __attribute__((always_inline)) void
add_line(hs_rw *rw, const hs_op *op)
{
    hs_wline *l = &rw->w[rw->nw++];
    l->op = op;
    l->state = HS_L_REWRITE;
    l->id = op->id;
    l->orig = -1;
    rw->extra += op->line_len + op->line_ro_len;
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
    rw->w[i].op = op;
    rw->w[i].state = HS_L_REWRITE;
    rw->extra += op->line_len + op->line_ro_len;
    rw->dirty = true;
    for (size_t j = i + 1; j < rw->nw; j++)
        if (rw->w[j].id == op->id && rw->w[j].state != HS_L_GONE)
            drop(rw, &rw->w[j]);
}

static bool glob_hit(const hs_op *op, const char *name, size_t n)
{
    if (!op->glob_any_first) {
        /* every glob has three fixed bytes first: a shorter name cannot
         * match, and (byte 0, byte 2) must be one a glob starts with */
        if (n < 3)
            return false;
        unsigned k = hs_glob_key(name);
        if (!(op->first[k >> 3] & (1u << (k & 7))))
            return false;
    }
    for (size_t g = 0; g < op->nglobs; g++) {
        const hs_glob *gl = &op->globs[g];
        if (gl->prefix) {
            size_t k = gl->len - 1, i = 0;
            if (n < k)
                continue;
            if (n >= 8 && k >= 8) {
                /* the first eight bytes at once, |0x20 folding letters */
                if ((hs_load64(name) | 0x2020202020202020ull) !=
                    gl->head)
                    continue;
                i = 8;
            }
            while (i < k && ((unsigned char)gl->pat[i] | 0x20) ==
                                ((unsigned char)name[i] | 0x20))
                i++;
            /* |0x20 folds letters; confirm a hit exactly (it is rare). */
            if (i == k && hs_pol_ieq(name, k, gl->pat, k))
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
            /* Wildcards never match the framing headers nor the ones that
             * carry the response's meaning; those without an id (the
             * policy does not name them) are checked on a hit only. */
            hs_str nm = hs_wl_name(rw, l);
            if (nm.len && glob_hit(op, nm.p, nm.len) &&
                (id >= 0 || !hs_pol_is_protected(rw->pol, nm.p, nm.len)))
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
        hs_str v = hs_wl_value(rw, l);
        l->value = v.p;
        l->value_len = (uint32_t)v.len;
        l->name = op->name;
        l->name_len = (uint32_t)op->name_len;
        l->name_ro = op->name_ro;
        l->op = NULL;
        l->state = HS_L_REWRITE;
        rw->extra += op->name_len + 12 + v.len + 4;
        rw->count[op->id]--;
        rw->count[op->id2]++;
        l->id = op->id2;
    }
    rw->dirty = true;
}

/* Could a remove glob of the policy match this name? (see glob_hit) */
static inline bool maybe_glob(const hs_policy *p, const char *name, size_t n)
{
    return n >= 3 ? p->glob_maybe[hs_glob_key(name)] : p->glob_short;
}

/* Each field name hashed once. Only the lines some directive may touch
 * become working lines: one whose id no directive names and whose name no
 * glob can match stays as the application wrote it, whatever runs. With
 * all, every line is tracked. Returns false when the lines are not
 * contiguous (and all is false). */
static inline __attribute__((always_inline)) bool
load_lines(hs_rw *rw, bool all)
{
    /* Everything in locals: the stores to the working lines could alias
     * rw's fields otherwise, and each would be reloaded per field. */
    const hs_policy *p = rw->pol;
    const hs_block *b = rw->b;
    const hs_field *f = b->fields;
    const hs_name *names = p->names;
    const uint16_t *index = p->index;
    size_t mask = p->index_mask, nf = b->nfields;
    hs_wline *w = rw->w;
    uint16_t *count = rw->count;
    size_t nw = 0, expect = b->status_line_len, gaps = 0;
    int ct = -1;
    for (size_t i = 0; i < nf; i++) {
        const char *np = f[i].name.p;
        size_t n = f[i].name.len;
        gaps |= f[i].line_off ^ expect;
        expect = f[i].line_off + f[i].line_len;
        if (!all && n >= 3) {
            unsigned k = hs_field_key(np, n);
            if (!(p->field_maybe[k >> 3] & (1u << (k & 7))))
                continue;
        }
        int id = -1;
        if (index && hs_pol_maybe_indexed(p, np, n)) {
            size_t h = hs_pol_name_hash(np, n) & mask;
            for (unsigned e; (e = index[h]) != 0; h = (h + 1) & mask)
                if (hs_pol_name_eq(&names[e - 1], np, n)) {
                    id = (int)e - 1;
                    break;
                }
        }
        if (id >= 0) {
            if (id == HS_ID_CONTENT_TYPE && ct < 0)
                ct = (int)i;
            if (!all && !names[id].touched &&
                (id < HS_ID_NPROTECTED || !maybe_glob(p, np, n)))
                continue;
            count[id]++;
        } else if (!all && !maybe_glob(p, np, n)) {
            continue;
        }
        hs_wline *l = &w[nw++];
        l->op = NULL;
        l->id = id;
        l->orig = (int)i;
        l->state = HS_L_KEEP;
    }
    rw->ct = ct;
    rw->nw = rw->nblock = nw;
    rw->contiguous = gaps == 0;
    return gaps == 0 || all;
}

static void run(hs_rw *rw)
{
    const hs_policy *pol = rw->pol;
    mtype mt;
    uint8_t slots[HS_COND_SLOTS];
    mt.done = mt.lowered = false;
    mt.s.p = "";
    mt.s.len = 0;
    /* The common directives (a block's jump, default, set or add of a
     * name the response lacks) work on locals; the working state goes
     * back to rw around every other one. */
    const hs_op *ops = pol->ops, *op = ops, *end = ops + pol->nops;
    hs_wline *w = rw->w;
    uint16_t *count = rw->count;
    size_t nw = rw->nw, extra = rw->extra;
    bool dirty = rw->dirty;
#define SAVE() (rw->nw = nw, rw->extra = extra, rw->dirty = dirty)
#define LOAD() (nw = rw->nw, extra = rw->extra, dirty = rw->dirty)
    while (op < end) {
        switch (op->kind) {
        case HS_OP_BLOCK: {
            bool pass;
            if (op->same_as >= 0) {
                pass = slots[op->same_as];
                if (op->slot >= 0)
                    slots[op->slot] = pass;
                pass = pass != op->node->unless;
            } else {
                pass = condition(rw, op, &mt, slots);
            }
            if (!pass) {
                op = ops + op->skip_to;
                continue;
            }
            break;
        }
        case HS_OP_SET:
            if (count[op->id] != 0) {
                SAVE();
                op_set(rw, op);
                LOAD();
                break;
            }
            /* absent: added, as by default */
            /* fall through */
        case HS_OP_DEFAULT:
            if (count[op->id] != 0)
                break;
            /* fall through */
        case HS_OP_ADD: {
            hs_wline *l = &w[nw++];
            l->op = op;
            l->state = HS_L_REWRITE;
            l->id = op->id;
            l->orig = -1;
            extra += op->line_len + op->line_ro_len;
            count[op->id]++;
            dirty = true;
            break;
        }
        case HS_OP_APPEND:
        case HS_OP_MERGE:
            SAVE();
            if (rw->count[op->id] == 0)
                add_line(rw, op);
            else
                hs_rw_append(rw, op, op->kind == HS_OP_MERGE,
                             first_of(rw, op->id));
            if (rw->oom || rw->too_large)
                return;
            LOAD();
            break;
        case HS_OP_REMOVE:
            SAVE();
            op_remove(rw, op);
            LOAD();
            break;
        case HS_OP_RENAME:
            SAVE();
            op_rename(rw, op);
            LOAD();
            break;
        case HS_OP_EDIT:
        case HS_OP_EDIT_ALL:
            SAVE();
            if (rw->count[op->id])
                hs_rw_edit(rw, op, op->kind == HS_OP_EDIT_ALL);
            if (rw->oom || rw->too_large)
                return;
            LOAD();
            break;
        case HS_OP_COOKIE:
            SAVE();
            if (rw->count[HS_ID_SET_COOKIE])
                hs_rw_cookie(rw, op);
            if (rw->oom || rw->too_large)
                return;
            LOAD();
            break;
        }
        op++;
    }
    SAVE();
#undef SAVE
#undef LOAD
}

/* ---- entry points -------------------------------------------------------- */

hs_rewrite_status hs_rewrite(const hs_policy *p, const hs_rewrite_opts *o,
                             const hs_block *b, const hs_request *req,
                             hs_buf *out, hs_changes *changes)
{
    return hs_rewrite_shaped(p, o, b, req, out, changes, NULL);
}

/* Every block but one read against a plan of the policy: looked up, and
 * rewritten line by line on a miss. Out of line, so that the plan's
 * path pays for none of its stack (the line arena is 1 KiB). */
static __attribute__((noinline)) hs_rewrite_status
rewrite_unshaped(const hs_policy *p, const hs_rewrite_opts *o,
                 const hs_block *b, const hs_request *req, hs_buf *out,
                 hs_changes *changes, hs_shape *shape_out)
{
    const hs_plan *plan;
    if (shape_out)
        *shape_out = NULL;
    /* RFC 9110 15.2: interim responses, 101 included, pass as they are. */
    if (b->status < 200)
        return HS_REWRITE_INTERIM;
    if (!p || p->nops == 0)
        return HS_REWRITE_UNCHANGED;

    /* Any other block is looked up. */
    uint64_t shape = 0;
    hs_plan_found found = hs_plan_find(p, o, b, req, &shape, &plan);
    if (found == HS_PLAN_HIT) {
        if (shape_out)
            *shape_out = plan;
        return plan->noop ? HS_REWRITE_UNCHANGED
                          : hs_rw_emit_plan(plan, b, o, out, changes);
    }

    hs_wline wstack[STACK_LINES];
    uint16_t cstack[STACK_NAMES];
    hs_rw rw;   /* not zeroed as a whole: the arena's stack chunk is 1 KiB */
    rw.pol = p;
    rw.b = b;
    rw.req = req;
    rw.w = wstack;
    rw.count = cstack;
    rw.arena.chunks = NULL;
    rw.dirty = rw.too_large = rw.oom = false;
    rw.extra = 0;
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
    rw.max_value = (o && o->max_output) ? o->max_output : HS_DEFAULT_MAX_OUTPUT;

    if (!load_lines(&rw, false)) {
        /* Lines with gaps between them (never so from hs_block_parse):
         * every line is tracked, and copied one by one. */
        memset(rw.count, 0, p->nnames * sizeof *rw.count);
        load_lines(&rw, true);
    }

    run(&rw);
    if (found == HS_PLAN_MISS) {
        const hs_plan *kept = hs_plan_keep(&rw, o, shape);
        if (shape_out)
            *shape_out = kept;
    }
    if (rw.oom)
        st = HS_REWRITE_NO_MEMORY;
    else if (rw.too_large)
        st = HS_REWRITE_TOO_LARGE;
    else if (!rw.dirty)
        st = HS_REWRITE_UNCHANGED;
    else
        st = hs_rw_emit(&rw, o, out, changes);
done:
    arena_free(&rw.arena);
    if (rw.w != wstack)
        free(rw.w);
    if (rw.count != cstack)
        free(rw.count);
    return st;
}

hs_rewrite_status hs_rewrite_shaped(const hs_policy *p,
                                    const hs_rewrite_opts *o,
                                    const hs_block *b, const hs_request *req,
                                    hs_buf *out, hs_changes *changes,
                                    hs_shape *shape_out)
{
    if (changes) {
        changes->nremoved = changes->nset = changes->nadded = 0;
        changes->truncated = false;
    }
    /* A block read against a plan of this policy has that plan's shape
     * (and is no interim response: those get no plan). */
    const hs_plan *plan = hs_plan_of_block(p, o, b, req);
    if (!plan)
        return rewrite_unshaped(p, o, b, req, out, changes, shape_out);
    if (shape_out)
        *shape_out = plan;
    return plan->noop ? HS_REWRITE_UNCHANGED
                      : hs_rw_emit_plan(plan, b, o, out, changes);
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
