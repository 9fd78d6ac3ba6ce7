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
#include "cpu.h"
#include "http1_util.h"
#include "load.h"
#include "rewrite_internal.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HS_PLAN_SLOTS 512
/* Blocks longer than this get no plan (a plan keeps its block): the table
 * stays under a few MiB however many shapes a server has. */
#define HS_PLAN_MAX_BLOCK 4096
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
            if (hs_load64(a + k) != hs_load64(b + k))
                return false;
        return hs_load64(a + n - 8) == hs_load64(b + n - 8);
    }
    if (n >= 4)
        return hs_load32(a) == hs_load32(b) &&
               hs_load32(a + n - 4) == hs_load32(b + n - 4);
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
        if (n != pl->lines[i].name_len || !bytes_eq(f[i].name.p, s, n))
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
    uint64_t head = hs_plan_head(b, req, o);
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


const hs_plan *hs_plan_keep(const hs_rw *rw, const hs_rewrite_opts *o,
                            uint64_t hash)
{
    const hs_block *b = rw->b;
    if (rw->oom || rw->too_large || !rw->contiguous ||
        b->nfields > HS_PLAN_FIELDS)
        return NULL;
    bool ro = o && o->csp_report_only, crlf = b->crlf;

    /* Only lines the policy wrote whole: anything else depends on values. */
    size_t blob_cap = 0, names_len = 0;
    for (size_t i = 0; i < rw->nw; i++) {
        const hs_wline *l = &rw->w[i];
        if (l->state == HS_L_REWRITE && !l->op)
            return NULL;
        if (l->state == HS_L_REWRITE)
            blob_cap += ro && l->op->line_ro ? l->op->line_ro_len
                                             : l->op->line_len;
    }
    blob_cap += 2;      /* the blank line */
    /* (the block's rewritten lines are written out too: pl->text) */
    for (size_t i = 0; i < b->nfields; i++)
        names_len += b->fields[i].name.len;
    int ct = -1;
    for (size_t i = 0; i < b->nfields && ct < 0; i++)
        if (is_content_type(b->fields[i].name.p, b->fields[i].name.len))
            ct = (int)i;
    size_t ct_len = ct >= 0 ? b->fields[ct].value.len : 0;

    /* The block itself, up to its blank line, for the lines of later
     * blocks to be compared with (line lengths kept in 16 bits). */
    size_t seen_len = b->nfields ? b->fields[b->nfields - 1].line_off +
                                       b->fields[b->nfields - 1].line_len
                                 : b->status_line_len;
    if (seen_len > HS_PLAN_MAX_BLOCK)
        return NULL;
#ifdef HS_HAVE_AVX2
    hs_cpu_has_avx2();      /* asked now, for hs_rewrite_steady */
#endif
    hs_plan *pl =
        calloc(1, sizeof *pl + names_len + ct_len + blob_cap + 2 * seen_len);
    if (!pl)
        return NULL;
    pl->owner = rw->pol;
    pl->hash = hash;
    pl->head = hs_plan_head(b, rw->req, o);
    char *d = pl->data;
    pl->names = d;
    for (size_t i = 0; i < b->nfields; i++) {
        const char *np = b->fields[i].name.p;
        size_t n = b->fields[i].name.len;
        if (n == 14 && hs_http1_token_is(np, "content-length", 14)) {
            pl->framing[i] = HS_PLAN_CL;
            pl->ncl++;
        } else if (n == 17 && hs_http1_token_is(np, "transfer-encoding", 17)) {
            pl->framing[i] = HS_PLAN_TE;
            pl->has_te = true;
        }
        if (pl->framing[i] ||
            (n == 10 && hs_http1_token_is(np, "connection", 10)))
            pl->framing_lines |= 1u << i;
        memcpy(d, b->fields[i].name.p, b->fields[i].name.len);
        d += b->fields[i].name.len;
    }
    pl->ct = ct;
    pl->ct_value = d;
    pl->ct_len = ct_len;
    if (ct >= 0)
        memcpy(d, b->fields[ct].value.p, ct_len);
    d += ct_len;
    memcpy(d, b->base, seen_len);
    pl->seen = d;
    d += seen_len;
    /* which field line each byte of the plan block belongs to (the
     * status line's bytes: 0, never asked) */
    pl->line_of = (uint8_t *)d;
    for (size_t i = 0; i < b->nfields; i++)
        memset(d + b->fields[i].line_off, (int)i, b->fields[i].line_len);
    d += seen_len;
    pl->status_len = (uint16_t)b->status_line_len;
    pl->seen_len = (uint16_t)seen_len;
    for (size_t i = 0; i < b->nfields; i++) {
        const hs_field *f = &b->fields[i];
        pl->line_end[i] = (uint16_t)(f->line_off + f->line_len);
        pl->lines[i] = (struct hs_plan_line){
            .name_off = f->line_off,
            .name_len = f->name.len,
            .value_off = (uint64_t)(f->value.p - b->base),
            .value_len = f->value.len,
            .line_off = f->line_off,
            .line_len = f->line_len,
        };
        uint64_t x;
        if (pl->framing[i] == HS_PLAN_CL &&
            hs_http1_plain_number(f->value, &x))
            pl->cl_value = x;
    }
    pl->facts = hs_block_framing_facts(b);
    if (!hs_framing_early(b->status, HS_METHOD_OTHER, &pl->framing_other))
        pl->framing_other =
            hs_framing_final(b->status, HS_METHOD_OTHER, &pl->facts);
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
    if (crlf)
        *d++ = '\r';
    *d++ = '\n';
    pl->blob_len = (size_t)(d - pl->blob);
    size_t changed_len = 0;
    for (size_t i = 0; i < pl->nchanged; i++)
        changed_len += b->fields[pl->changed[i]].line_len;
    for (size_t i = 0; i < pl->nset; i++) {
        unsigned at = pl->set[i];
        char *e = hs_rw_write_op_line(d, pl->op[at], ro, crlf);
        pl->text[at] = (hs_str){d, (size_t)(e - d)};
        d = e;
    }
    pl->written_len = pl->blob_len;
    for (size_t i = 0; i < pl->nset; i++) {
        const hs_op *op = pl->op[pl->set[i]];
        pl->written_len += (ro && op->line_ro ? op->line_ro_len : op->line_len) -
                           2 + 1 + crlf;
    }
    pl->out_grow = (ptrdiff_t)pl->written_len - (ptrdiff_t)changed_len -
                   1 - crlf;
    /* hs_rewrite_steady: a plan that changes something, in few enough
     * pieces (a run of the block and a written line per changed line,
     * then the last run and the added lines) */
    pl->steady = !pl->noop && pl->nchanged <= (HS_STEADY_PIECES - 2) / 2;

    /* The first free slot of the hash's; none free: not kept. */
    for (size_t w = 0; w < HS_PLAN_WAYS; w++) {
        hs_plan *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(
                &rw->pol->plans->slot[slot_of(hash, w)],
                &expected, pl, memory_order_release, memory_order_acquire))
            return pl;
        if (expected->hash == hash && same_shape(expected, b, pl->head)) {
            free(pl);   /* another thread kept this shape first */
            return expected;
        }
    }
    free(pl);
    return NULL;
}

/* ---- reading a block against a shape -------------------------------------
 *
 * hs_block_parse_shaped: the rules of hs_block_parse (IO-CONTRACT.md, "A
 * block is rewritten only if it is unambiguous") checked for a block that
 * should have a known shape. The block is compared with the plan's block
 * sixteen and thirty-two bytes at a time: every line up to the first
 * difference is that block's line, known good, its field filled in from
 * the plan's template. A line that differs must begin with the shape's
 * name, byte for byte, and its colon: the name is then a token (the shape
 * was made from a block that parsed), which leaves the line's end to find
 * and its value to trim; the compare then resumes at the next line. Any
 * other difference (another name, another status or Content-Type, a line
 * more or less, a byte the rules refuse) gives up, and the general parser
 * reads the block, so the result is always the one hs_block_parse_stream
 * gives (tests/unit/test_golden.c, tests/unit/test_rewrite_shapes.c and
 * tests/fuzz/fuzz_rewrite.c hold the two to it, framing included).
 */

#if defined(__SSE2__) && !defined(HS_HTTP1_NO_SIMD)
#include <emmintrin.h>
#endif

/* The end of a line at its first CR or LF (c is that byte, at e): the LF,
 * if the line ending there is the block's own, else NULL. */
static inline const char *line_end_at(const char *e, const char *lim,
                                      bool crlf)
{
    if (*e == '\n')
        return crlf ? NULL : e;
    /* a CR: the end of a CRLF line, if its LF follows */
    return crlf && e + 1 < lim && e[1] == '\n' ? e + 1 : NULL;
}

/* The LF that ends the line whose bytes start at p, when no byte before it
 * is NUL or CR but the CR right before the LF, which a CRLF block must
 * have there and an LF block must not. NULL when the rules break or no
 * LF comes before lim. Sixteen bytes a step look for any byte up to 0x0d
 * (one unsigned minimum and one compare): NUL, CR, LF and the control
 * bytes a value may hold, which are rare enough to be stepped over one
 * by one. */
static inline __attribute__((always_inline)) const char *
line_end(const char *p, const char *lim, bool crlf)
{
#if defined(__SSE2__) && !defined(HS_HTTP1_NO_SIMD)
    const __m128i top = _mm_set1_epi8(0x0d);
    for (; p + 16 <= lim; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned low = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_min_epu8(v, top), v));
        while (low) {
            const char *e = p + __builtin_ctz(low);
            low &= low - 1;
            if (*e == '\n' || *e == '\r')
                return line_end_at(e, lim, crlf);
            if (*e == '\0')
                return NULL;
        }
    }
#endif
    for (; p < lim; p++) {
        if (*p == '\n' || *p == '\r')
            return line_end_at(p, lim, crlf);
        if (*p == '\0')
            return NULL;
    }
    return NULL;
}


/* How many leading bytes a[0..n) and b[0..n) share: thirty-two a step
 * while they last (one branch for two compares), then sixteen, the last
 * step overlapping the one before it. */
static inline size_t common_prefix(const char *a, const char *b, size_t n)
{
    size_t k = 0;
#if defined(__SSE2__) && !defined(HS_HTTP1_NO_SIMD)
#define HS_EQ16(x, y)                                                       \
    _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(x)),    \
                   _mm_loadu_si128((const __m128i *)(const void *)(y)))
    for (; k + 32 <= n; k += 32) {
        __m128i lo = HS_EQ16(a + k, b + k), hi = HS_EQ16(a + k + 16, b + k + 16);
        if (_mm_movemask_epi8(_mm_and_si128(lo, hi)) != 0xffff) {
            unsigned ne = 0xffffu ^ (unsigned)_mm_movemask_epi8(lo);
            if (ne)
                return k + (size_t)__builtin_ctz(ne);
            ne = 0xffffu ^ (unsigned)_mm_movemask_epi8(hi);
            return k + 16 + (size_t)__builtin_ctz(ne);
        }
    }
    if (k + 16 <= n) {
        unsigned ne = 0xffffu ^ (unsigned)_mm_movemask_epi8(HS_EQ16(a + k, b + k));
        if (ne)
            return k + (size_t)__builtin_ctz(ne);
        k += 16;
    }
    if (k < n && n >= 16) {
        size_t t = n - 16;
        unsigned ne = 0xffffu ^ (unsigned)_mm_movemask_epi8(HS_EQ16(a + t, b + t));
        ne &= 0xffffu << (k - t);       /* the bytes not compared yet */
        return ne ? t + (size_t)__builtin_ctz(ne) : n;
    }
#undef HS_EQ16
#endif
    while (k < n && a[k] == b[k])
        k++;
    return k;
}

/* hs_field as struct hs_plan_line lays it out, for the copies below. */
_Static_assert(sizeof(hs_field) == sizeof(struct hs_plan_line) &&
                   offsetof(hs_field, name) == 0 &&
                   offsetof(hs_field, value) == 16 &&
                   offsetof(hs_field, line_off) == 32 &&
                   offsetof(hs_field, line_len) == 40,
               "hs_field is not laid out as struct hs_plan_line");

/* Field i of the plan block, for a block where it sits `shift` bytes
 * further on (and which starts at buf). */
static inline void fill_line(hs_field *f, const struct hs_plan_line *t,
                             const char *buf, ptrdiff_t shift)
{
#if defined(__SSE2__) && !defined(HS_HTTP1_NO_SIMD)
    /* A field is three pairs: (pointer, length) twice, then (offset,
     * length). A pointer is the plan's offset plus where the line's block
     * starts, an offset the plan's plus the shift: one 64-bit add a pair. */
    const __m128i at = _mm_set_epi64x(0, (long long)(uintptr_t)(buf + shift));
    const __m128i by = _mm_set_epi64x(0, (long long)shift);
    const __m128i *s = (const __m128i *)(const void *)t;
    __m128i *d = (__m128i *)(void *)f;
    _mm_storeu_si128(d, _mm_add_epi64(_mm_load_si128(s), at));
    _mm_storeu_si128(d + 1, _mm_add_epi64(_mm_load_si128(s + 1), at));
    _mm_storeu_si128(d + 2, _mm_add_epi64(_mm_load_si128(s + 2), by));
#else
    f->name.p = buf + shift + t->name_off;
    f->name.len = t->name_len;
    f->value.p = buf + shift + t->value_off;
    f->value.len = t->value_len;
    f->line_off = (size_t)((ptrdiff_t)t->line_off + shift);
    f->line_len = t->line_len;
#endif
}

static bool parse_as(const hs_plan *pl, const char *buf, size_t avail,
                     hs_block *b)
{
    const char *lim = buf + avail;
    bool crlf = (pl->head >> 17) & 1;
    /* How far (in the plan block) the block is known equal to the plan
     * block, line for line; one compare covers every line up to the next
     * difference: on most responses only Date (when the second has
     * turned) and Content-Length differ. */
    size_t same_to = common_prefix(buf, pl->seen, avail < pl->seen_len
                                                      ? avail : pl->seen_len);
    size_t pos = pl->status_len;        /* in the block */
    size_t at = pl->status_len;         /* the same line in the plan block */
    if (same_to < at) {
        if (!hs_http1_status_prefix(buf, avail))
            return false;
        int status =
            (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
        if ((uint64_t)status != (pl->head & 0xffff))
            return false;
        /* "HTTP/1.1 200" then SP reason, or the line end */
        const char *nl = line_end(buf + 12, lim, crlf);
        if (!nl || (nl - crlf != buf + 12 && buf[12] != ' '))
            return false;
        pos = (size_t)(nl + 1 - buf);
        same_to = (size_t)-1;           /* compare again */
    }
    b->status_line_len = pos;

    /* The framing lines are the shape's: only a Content-Length value can
     * differ, and is checked again when it does. */
    uint64_t cl_read = 0;
    unsigned ncl_read = 0;
    uint32_t reread = 0;
    size_t nf = (size_t)(pl->head >> 24);
    const struct hs_plan_line *t = pl->lines;
    ptrdiff_t shift = (ptrdiff_t)pos - (ptrdiff_t)at;
    for (size_t i = 0; i < nf; i++) {
        if (same_to == (size_t)-1) {
            size_t room = avail - pos, left = pl->seen_len - at;
            same_to = at + common_prefix(buf + pos, pl->seen + at,
                                         room < left ? room : left);
        }
        if (pl->line_end[i] <= same_to) {
            /* The plan block's lines, byte for byte: good, and their
             * values sit where they sat. */
            do
                fill_line(&b->fields[i], &t[i], buf, shift);
            while (++i < nf && pl->line_end[i] <= same_to);
            if (i == nf)
                break;
        }
        at = t[i].line_off;
        pos = (size_t)((ptrdiff_t)at + shift);

        /* Line i differs: its name must be the plan's, then it is read
         * as the general parser reads a line. When the difference starts
         * past the value's first byte, the name, the colon and the blanks
         * before the value are the plan block's. */
        const char *p = buf + pos;
        size_t n = t[i].name_len;
        hs_field *f = &b->fields[i];
        const char *v;
        if (same_to != (size_t)-1 && same_to > t[i].value_off) {
            v = p + (t[i].value_off - t[i].line_off);
        } else {
            if ((size_t)(lim - p) <= n || p[n] != ':' ||
                !bytes_eq(p, pl->seen + t[i].name_off, n))
                return false;
            v = p + n + 1;
            while (v < lim && hs_http1_is_blank(*v))
                v++;
        }
        const char *nl = line_end(v, lim, crlf);
        if (!nl)
            return false;
        const char *ve = nl - crlf;
        while (ve > v && hs_http1_is_blank(ve[-1]))
            ve--;
        f->name.p = p;
        f->name.len = n;
        f->value.p = v;
        f->value.len = (size_t)(ve - v);
        f->line_off = pos;
        f->line_len = (size_t)(nl + 1 - p);
        if ((int)i == pl->ct &&
            (f->value.len != pl->ct_len ||
             (pl->ct_len && !bytes_eq(v, pl->ct_value, pl->ct_len))))
            return false;
        if (pl->framing[i] == HS_PLAN_CL) {
            /* Content-Length lines must agree (RFC 9112 6.3): with each
             * other, and with the plan block's where a line is its own. */
            uint64_t x;
            if (!hs_http1_plain_number(f->value, &x) ||
                (ncl_read && x != cl_read))
                return false;
            cl_read = x;
            ncl_read++;
        }
        reread |= 1u << i;
        pos += f->line_len;
        at += t[i].line_len;
        shift = (ptrdiff_t)pos - (ptrdiff_t)at;
        same_to = (size_t)-1;
    }
    /* the blank line */
    at = pl->seen_len;
    pos = (size_t)((ptrdiff_t)at + shift);
    if (crlf ? avail - pos < 2 || buf[pos] != '\r' || buf[pos + 1] != '\n'
             : avail - pos < 1 || buf[pos] != '\n')
        return false;
    if (ncl_read && ncl_read < pl->ncl && cl_read != pl->cl_value)
        return false;
    if (pl->has_te && (pl->ncl || buf[7] == '0'))
        return false;
    b->base = buf;
    b->len = pos + 1 + crlf;
    b->minor = buf[7] - '0';
    b->status = (int)(pl->head & 0xffff);
    b->crlf = crlf;
    b->nfields = nf;
    b->shape = pl;
    b->shape_reread = reread;
    /* The facts hold when the version and each framing line are the plan
     * block's. */
    b->shape_facts = b->minor == pl->seen[7] - '0' &&
                             !(reread & pl->framing_lines)
                         ? &pl->facts
                         : NULL;
    return true;
}

/* ---- the steady state ----
 *
 * A server answering request after request sends blocks that differ from
 * the plan block only in a few values (Date, and per resource ETag and
 * Last-Modified). rewrite_steady is parse_as for those alone, and the
 * plan's output made as it reads: it reads a line again only when its
 * difference lies inside its value and the line is no framing or
 * Content-Type line, fills in no fields, and writes the output as pieces
 * (hs_rw_emit_plan's bytes, without a copy): runs of the block between
 * the plan's changed lines, and the plan's written and added lines. A
 * changed line sits at the plan block's place for it, moved by what the
 * lines read again before it grew. Anything else declines, and parse_as
 * or the general parser reads the block. Where it reads, it reads as
 * parse_as does: the same bytes accepted, the same lines. */

/* common_prefix, or its AVX2 variant. */
typedef size_t prefix_fn(const char *a, const char *b, size_t n);

/* A framing line read again (line i, its value from v, or from the first
 * byte that is no blank when `skip`, to the line's end e): taken when it
 * is the plan's only Content-Length line and nothing else frames the
 * body, and it holds a plain number, which replaces the plan's in
 * st->facts_read and st->framing_read (where st->facts and
 * st->framing_other point then). Anything else (a Connection line, a list of
 * numbers, a second Content-Length) is the general way's: parse_as and
 * hs_block_framing_facts read it as they would. Out of line: most
 * responses repeat their length. */
static __attribute__((noinline)) bool
steady_length(const hs_plan *pl, size_t i, const char *v, bool skip,
              const char *e, hs_steady *st)
{
    if (pl->framing[i] != HS_PLAN_CL || pl->ncl != 1 || pl->has_te)
        return false;
    if (skip)
        while (v < e && hs_http1_is_blank(*v))
            v++;
    while (e > v && hs_http1_is_blank(e[-1]))
        e--;
    uint64_t length;
    if (!hs_http1_plain_number((hs_str){v, (size_t)(e - v)}, &length))
        return false;
    /* hs_block_framing_facts for a single Content-Length line that holds
     * a plain number */
    st->facts_read = pl->facts;
    st->facts_read.has_length = true;
    st->facts_read.length_ok = true;
    st->facts_read.length = length;
    int status = (int)(pl->head & 0xffff);
    if (!hs_framing_early(status, HS_METHOD_OTHER, &st->framing_read))
        st->framing_read =
            hs_framing_final(status, HS_METHOD_OTHER, &st->facts_read);
    st->facts = &st->facts_read;
    st->framing_other = &st->framing_read;
    return true;
}

/* The pieces for the plan's changed line `line`, at block offset at and
 * len bytes long: the block's run before it, then its written line if
 * any. */
#define STEADY_CHANGED(LINE, AT, LEN)                                        \
    do {                                                                     \
        if ((AT) > from)                                                     \
            *pc++ = (struct iovec){(void *)(buf + from), (AT) - from}; \
        from = (AT) + (LEN);                                                 \
        if (pl->text[LINE].len)                                              \
            *pc++ = (struct iovec){(void *)pl->text[LINE].p,           \
                                        pl->text[LINE].len};                \
    } while (0)

static inline __attribute__((always_inline)) bool
rewrite_steady(const hs_plan *pl, const hs_rewrite_opts *o, const char *buf,
               size_t avail, hs_steady *st, prefix_fn *prefix)
{
    struct iovec *piece = st->piece;
    const char *lim = buf + avail;
    bool crlf = (pl->head >> 17) & 1;
    const struct hs_plan_line *t = pl->lines;
    size_t same_to = prefix(buf, pl->seen, avail < pl->seen_len
                                               ? avail : pl->seen_len);
    if (same_to < pl->status_len)
        return false;           /* the status line is the plan block's */
    /* The version and every framing line are the plan block's, but for
     * a length read again (steady_length). */
    st->facts = &pl->facts;
    st->framing_other = &pl->framing_other;
    ptrdiff_t shift = 0;
    /* the output's size: the plan's, less what changed lines read again
     * grew */
    ptrdiff_t size = pl->out_grow;
    size_t from = 0;            /* the block's first byte in no piece yet */
    unsigned c = 0, nc = pl->nchanged;  /* the next changed line */
    struct iovec *pc = piece;
    while (same_to < pl->seen_len) {
        /* Line i differs, from plan offset same_to on: its name, colon
         * and the blanks before its value are the plan block's when the
         * difference starts at the value or past it. What is left to
         * know is where the line ends, and that it may end there: from
         * the value's first byte, as parse_as reads it (which skips more
         * blanks first when that byte differs: no line end among them). */
        size_t i = pl->line_of[same_to];
        if (same_to < t[i].value_off || (int)i == pl->ct)
            return false;
        size_t at = (size_t)((ptrdiff_t)t[i].line_off + shift);
        const char *v = buf + at + (t[i].value_off - t[i].line_off);
        const char *nl = line_end(v, lim, crlf);
        if (!nl)
            return false;
        size_t len = (size_t)(nl + 1 - (buf + at));
        if (__builtin_expect(pl->framing_lines >> i & 1, 0) &&
            !steady_length(pl, i, v, same_to == t[i].value_off, nl - crlf,
                           st))
            return false;
        /* the changed lines before it sit where the shift so far says */
        for (; c < nc && pl->changed[c] < i; c++) {
            unsigned line = pl->changed[c];
            STEADY_CHANGED(line, (size_t)((ptrdiff_t)t[line].line_off + shift),
                           t[line].line_len);
        }
        ptrdiff_t grow = (ptrdiff_t)len - (ptrdiff_t)t[i].line_len;
        if (c < nc && pl->changed[c] == i) {
            STEADY_CHANGED(i, at, len);
            size -= grow;
            c++;
        }
        shift += grow;
        /* the compare resumes at the next line */
        size_t next = pl->line_end[i];
        size_t pos = at + len, room = avail - pos, left = pl->seen_len - next;
        same_to = next + prefix(buf + pos, pl->seen + next,
                                room < left ? room : left);
    }
    /* the blank line */
    size_t pos = (size_t)((ptrdiff_t)pl->seen_len + shift);
    if (crlf ? avail - pos < 2 || hs_load16(buf + pos) != hs_load16("\r\n")
             : avail - pos < 1 || buf[pos] != '\n')
        return false;
    if (pl->has_te && (pl->ncl || buf[7] == '0'))
        return false;
    for (; c < nc; c++) {
        unsigned line = pl->changed[c];
        STEADY_CHANGED(line, (size_t)((ptrdiff_t)t[line].line_off + shift),
                       t[line].line_len);
    }
    if (pos > from)
        *pc++ = (struct iovec){(void *)(buf + from), pos - from};
    *pc++ = (struct iovec){(void *)pl->blob, pl->blob_len};
    size_t len = pos + 1 + crlf;
    size += (ptrdiff_t)len;
    /* Over max_output, the general way says so; of the block's own size,
     * it may be the block unchanged, which the general way tells. */
    size_t max = (o && o->max_output) ? o->max_output : HS_DEFAULT_MAX_OUTPUT;
    if ((size_t)size > max || (size_t)size == len)
        return false;
    st->len = len;
    st->npieces = (int)(pc - piece);
    st->out_len = (size_t)size;
    st->status = (int)(pl->head & 0xffff);
    return true;
}
#undef STEADY_CHANGED

static __attribute__((noinline)) bool
rewrite_steady_sse2(const hs_plan *pl, const hs_rewrite_opts *o,
                    const char *buf, size_t avail, hs_steady *st)
{
    return rewrite_steady(pl, o, buf, avail, st, common_prefix);
}

#ifdef HS_HAVE_AVX2
#include <immintrin.h>

/* common_prefix, sixty-four bytes a step: the block is compared twice a
 * response (up to the line that differs, and after it), a few hundred
 * bytes, and with AVX2 a compare takes its operand from memory as it is
 * (SSE2 loads it first) and covers twice the bytes. */
__attribute__((target("avx2,bmi"))) static inline size_t
common_prefix_avx2(const char *a, const char *b, size_t n)
{
#define HS_EQ32(x, y)                                                         \
    _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(const void *)(x)), \
                      _mm256_loadu_si256((const __m256i *)(const void *)(y)))
    if (n < 32)
        return common_prefix(a, b, n);
    size_t k = 0;
    for (; k + 64 <= n; k += 64) {
        __m256i lo = HS_EQ32(a + k, b + k), hi = HS_EQ32(a + k + 32, b + k + 32);
        if ((unsigned)_mm256_movemask_epi8(_mm256_and_si256(lo, hi)) != ~0u) {
            unsigned ne = ~(unsigned)_mm256_movemask_epi8(lo);
            if (ne)
                return k + (size_t)__builtin_ctz(ne);
            return k + 32 +
                   (size_t)__builtin_ctz(~(unsigned)_mm256_movemask_epi8(hi));
        }
    }
    if (k + 32 <= n) {
        unsigned ne = ~(unsigned)_mm256_movemask_epi8(HS_EQ32(a + k, b + k));
        if (ne)
            return k + (size_t)__builtin_ctz(ne);
        k += 32;
    }
    if (k < n) {
        /* the last step overlaps the one before it */
        size_t t = n - 32;
        unsigned ne = ~(unsigned)_mm256_movemask_epi8(HS_EQ32(a + t, b + t));
        ne &= ~0u << (k - t);           /* the bytes not compared yet */
        return ne ? t + (size_t)__builtin_ctz(ne) : n;
    }
#undef HS_EQ32
    return n;
}

__attribute__((target("avx2,bmi"), noinline)) static bool
rewrite_steady_avx2(const hs_plan *pl, const hs_rewrite_opts *o,
                    const char *buf, size_t avail, hs_steady *st)
{
    return rewrite_steady(pl, o, buf, avail, st, common_prefix_avx2);
}
#endif

/* Checks the plan, then goes to the variant the CPU runs best: a tail
 * call, so that the way there costs no frame. The CPU was asked when the
 * plan was kept (a call here would need a frame); not asked, SSE2. */
bool hs_rewrite_steady(const hs_policy *p, const hs_rewrite_opts *o,
                       hs_shape shape, const char *buf, size_t avail,
                       hs_steady *st)
{
    const hs_plan *pl = shape;
    if (!hs_plan_fits(pl, p, st->tls, o) || !pl->steady)
        return false;
#ifdef HS_HAVE_AVX2
    if (atomic_load_explicit(&hs_cpu_avx2, memory_order_relaxed) == 2)
        return rewrite_steady_avx2(pl, o, buf, avail, st);
#endif
    return rewrite_steady_sse2(pl, o, buf, avail, st);
}

uint32_t hs_shape_framing(const hs_block *b)
{
    return b->shape->framing_lines;
}

hs_block_status hs_block_parse_shaped(hs_shape shape, const char *buf,
                                      size_t avail, hs_block *b,
                                      const char **why)
{
    if (shape && parse_as(shape, buf, avail, b))
        return HS_BLOCK_OK;
    return hs_block_parse_stream(buf, avail, b, why);
}
