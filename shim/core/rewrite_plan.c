/*
 * rewrite_plan.c - rewrite plans, remembered by response shape (see
 * rewrite_internal.h).
 *
 * Why: a server sends the same few shapes again and again (nginx's JSON
 * 200, its HTML 200, its 404 page), and the presets decide from nothing but
 * the shape. Running the directives (fifty removes, the content-type
 * classes of `auto`, a dozen defaults) and working out the change record
 * cost ~2,000 instructions per response, where the whole per-response
 * budget is ~1,300 (issue 2). With a plan, the second response of a shape
 * costs one pass over its field names and the copies of the output.
 *
 * The shape: the field names in order, byte for byte (a server spells them
 * the same way every time; another spelling is another shape); the value
 * of the first Content-Type line, byte for byte (the content-type
 * conditions read nothing else); the status; TLS; the line ending;
 * HEADERSHIM_CSP. Plans exist only for policies whose conditions read
 * nothing else (no header, request or port conditions), and are kept only
 * when every line the directives wrote is one of the policy's own (set,
 * default, add, remove; not append, edit, cookie or rename of a present
 * line, whose output depends on values).
 *
 * The cache: a fixed table of slots, each filled once and never replaced,
 * so that readers on other threads need no lock (an acquire load sees a
 * whole plan); a shape whose slot another shape holds runs the directives
 * every time. Memory stays bounded: at most HS_PLAN_SLOTS plans of about
 * a kilobyte each.
 */
#include "http1_util.h"
#include "rewrite_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define HS_PLAN_SLOTS 512
#define HS_PLAN_MIX 0x9e3779b97f4a7c15ull

struct hs_plan_cache {
    _Atomic(hs_plan *) slot[HS_PLAN_SLOTS];
};

/* Only the status, the media type and TLS: the shape holds all three. */
static bool plannable(const hs_policy *pol)
{
    for (size_t i = 0; i < pol->nops; i++) {
        const hs_op *op = &pol->ops[i];
        if (op->kind != HS_OP_BLOCK)
            continue;
        switch (op->node->subject) {
        case HS_S_STATUS:
        case HS_S_CONTENT_TYPE:
        case HS_S_TLS:
            break;
        default:
            return false;
        }
    }
    return true;
}

bool hs_plan_cache_init(hs_policy *pol)
{
    pol->plans = NULL;
    if (!plannable(pol))
        return true;
    pol->plans = calloc(1, sizeof *pol->plans);
    return pol->plans != NULL;
}

void hs_plan_cache_free(hs_policy *pol)
{
    if (!pol->plans)
        return;
    for (size_t i = 0; i < HS_PLAN_SLOTS; i++)
        free(atomic_load_explicit(&pol->plans->slot[i], memory_order_relaxed));
    free(pol->plans);
    pol->plans = NULL;
}

/* ---- the shape ----------------------------------------------------------- */

static inline bool is_content_type(const char *name, size_t n)
{
    return n == 12 && hs_http1_token_is(name, "content-type", 12);
}

static inline uint64_t shape_head(const hs_block *b, const hs_request *req,
                                  const hs_rewrite_opts *o)
{
    return (uint64_t)b->status | (uint64_t)(req && req->tls) << 16 |
           (uint64_t)b->crlf << 17 |
           (uint64_t)(o && o->csp_report_only) << 18 |
           (uint64_t)b->nfields << 24;
}

/* The shape's hash: the head and the name lengths. Shapes that differ
 * only in their names' bytes or their Content-Type share it and sit in
 * neighbouring slots (nginx's JSON and HTML responses have the same
 * names). False when the block is not one plans cover. */
static bool shape_hash(const hs_block *b, uint64_t head, uint64_t *hash)
{
    size_t nf = b->nfields;
    if (nf > HS_PLAN_FIELDS)
        return false;
    uint64_t h = head * HS_PLAN_MIX;
    for (size_t i = 0; i < nf; i++) {
        size_t n = b->fields[i].name.len;
        if (n > 255)
            return false;
        h = (h ^ n) * HS_PLAN_MIX;
    }
    /* The slot comes from the top bits: fold the low ones in first
     * (shapes differ mostly in a length or two near the end). */
    *hash = (h ^ (h >> 29)) * HS_PLAN_MIX;
    return true;
}

/* a[0..n) == b[0..n), n >= 1, by overlapping word loads where n allows
 * (names are short: most take two loads a side). */
static inline bool bytes_eq(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        for (size_t k = 0; k + 8 < n; k += 8)
            if (hs_pol_load64(a + k) != hs_pol_load64(b + k))
                return false;
        return hs_pol_load64(a + n - 8) == hs_pol_load64(b + n - 8);
    }
    if (n >= 4)
        return hs_pol_load32(a) == hs_pol_load32(b) &&
               hs_pol_load32(a + n - 4) == hs_pol_load32(b + n - 4);
    return a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1];
}

/* Does the block have the plan's shape? (The hashes are equal.) The
 * Content-Type value first: it tells the shapes of one hash apart. */
static bool same_shape(const hs_plan *pl, const hs_block *b, uint64_t head)
{
    if (pl->head != head)
        return false;
    const hs_field *f = b->fields;
    if (pl->ct >= 0 &&
        (f[pl->ct].value.len != pl->ct_len ||
         (pl->ct_len && !bytes_eq(f[pl->ct].value.p, pl->ct_value,
                                  pl->ct_len))))
        return false;
    const char *s = pl->names;
    for (size_t i = 0; i < b->nfields; i++) {
        size_t n = f[i].name.len;
        if (n != pl->name_len[i] || !bytes_eq(f[i].name.p, s, n))
            return false;
        s += n;
    }
    return true;
}

#define HS_PLAN_WAYS 8   /* slots a hash may use, from its first */

static inline size_t slot_of(uint64_t hash, size_t way)
{
    return (size_t)((hash >> 55) + way) % HS_PLAN_SLOTS;
}

hs_plan_found hs_plan_find(const hs_policy *p, const hs_rewrite_opts *o,
                           const hs_block *b, const hs_request *req,
                           uint64_t *hash, const hs_plan **plan)
{
    uint64_t head = shape_head(b, req, o);
    if (!p->plans || !shape_hash(b, head, hash))
        return HS_PLAN_NONE;
    for (size_t w = 0; w < HS_PLAN_WAYS; w++) {
        const hs_plan *pl = atomic_load_explicit(
            &p->plans->slot[slot_of(*hash, w)],
            memory_order_acquire);
        if (!pl)
            return HS_PLAN_MISS;
        if (pl->hash == *hash && same_shape(pl, b, head)) {
            *plan = pl;
            return HS_PLAN_HIT;
        }
    }
    return HS_PLAN_NONE;        /* the slots are other shapes' */
}

/* ---- keeping a plan ------------------------------------------------------ */

void hs_plan_keep(const hs_rw *rw, const hs_rewrite_opts *o, uint64_t hash)
{
    const hs_block *b = rw->b;
    if (rw->oom || rw->too_large || !rw->contiguous ||
        b->nfields > HS_PLAN_FIELDS)
        return;
    bool ro = o && o->csp_report_only, crlf = b->crlf;

    /* Only lines the policy wrote whole: anything else depends on values. */
    size_t blob_cap = 0, names_len = 0;
    for (size_t i = 0; i < rw->nw; i++) {
        const hs_wline *l = &rw->w[i];
        if (l->state == HS_L_REWRITE && !l->op)
            return;
        if (i >= rw->nblock && l->state == HS_L_REWRITE)
            blob_cap += ro && l->op->line_ro ? l->op->line_ro_len
                                             : l->op->line_len;
    }
    for (size_t i = 0; i < b->nfields; i++)
        names_len += b->fields[i].name.len;
    int ct = -1;
    for (size_t i = 0; i < b->nfields && ct < 0; i++)
        if (is_content_type(b->fields[i].name.p, b->fields[i].name.len))
            ct = (int)i;
    size_t ct_len = ct >= 0 ? b->fields[ct].value.len : 0;

    hs_plan *pl = calloc(1, sizeof *pl + names_len + ct_len + blob_cap);
    if (!pl)
        return;
    pl->hash = hash;
    pl->head = shape_head(b, rw->req, o);
    char *d = pl->data;
    pl->names = d;
    for (size_t i = 0; i < b->nfields; i++) {
        pl->name_len[i] = (uint8_t)b->fields[i].name.len;
        memcpy(d, b->fields[i].name.p, b->fields[i].name.len);
        d += b->fields[i].name.len;
    }
    pl->ct = ct;
    pl->ct_value = d;
    pl->ct_len = ct_len;
    if (ct >= 0)
        memcpy(d, b->fields[ct].value.p, ct_len);
    d += ct_len;
    pl->noop = !rw->dirty;

    /* The change record as hs_rw_emit fills it: removed names (once each,
     * and only when no line of the name is written again), rewritten
     * lines, added lines (once per id, at most HS_CHANGE_MAX). */
    int rm_ids[HS_PLAN_FIELDS];
    for (size_t i = 0; i < rw->nblock; i++) {
        const hs_wline *l = &rw->w[i];
        uint8_t at = (uint8_t)l->orig;
        pl->act[at] = l->state;
        if (l->state == HS_L_KEEP)
            continue;
        pl->changed[pl->nchanged++] = at;
        if (l->state == HS_L_REWRITE) {
            pl->op[at] = l->op;
            pl->set[pl->nset++] = at;
        } else if (l->id < 0 || rw->count[l->id] == 0) {
            /* once per id, or per name (case-insensitively) without one */
            hs_str nm = b->fields[at].name;
            size_t j = 0;
            while (j < pl->nrm &&
                   !(rm_ids[j] == l->id &&
                     (l->id >= 0 ||
                      hs_pol_ieq(nm.p, nm.len, b->fields[pl->rm[j]].name.p,
                                 b->fields[pl->rm[j]].name.len))))
                j++;
            if (j == pl->nrm) {
                rm_ids[pl->nrm] = l->id;
                pl->rm[pl->nrm++] = at;
            }
        }
    }
    int add_ids[HS_CHANGE_MAX];
    pl->blob = d;
    for (size_t i = rw->nblock; i < rw->nw; i++) {
        const hs_wline *l = &rw->w[i];
        if (l->state != HS_L_REWRITE)
            continue;
        size_t j = 0;
        while (j < pl->nadded && add_ids[j] != l->id)
            j++;
        if (j == pl->nadded) {
            if (pl->nadded == HS_CHANGE_MAX) {
                pl->added_truncated = true;
            } else {
                const hs_op *op = l->op;
                add_ids[pl->nadded] = l->id;
                pl->added[pl->nadded++] =
                    ro && op->line_ro
                        ? (hs_str){ op->line_ro, op->name_len + 12 }
                        : (hs_str){ op->name, op->name_len };
            }
        }
        d = hs_rw_write_op_line(d, l->op, ro, crlf);
    }
    pl->blob_len = (size_t)(d - pl->blob);

    /* The first free slot of the hash's; none free: not kept. */
    for (size_t w = 0; w < HS_PLAN_WAYS; w++) {
        hs_plan *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(
                &rw->pol->plans->slot[slot_of(hash, w)],
                &expected, pl, memory_order_release, memory_order_acquire))
            return;
        if (expected->hash == hash && same_shape(expected, b, pl->head))
            break;      /* another thread kept this shape first */
    }
    free(pl);
}
