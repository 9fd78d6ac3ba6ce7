/*
 * rewrite_internal.h - the working state of one rewrite, shared by
 * rewrite.c (the engine) and rewrite_values.c (the value-changing
 * directives: append, merge, edit, cookie).
 */
#ifndef HS_REWRITE_INTERNAL_H
#define HS_REWRITE_INTERNAL_H

#include "policy_rules.h"

enum { HS_L_KEEP, HS_L_REWRITE, HS_L_GONE };

/* One header line as the directives so far left it. */
typedef struct hs_wline {
    const hs_op *op;            /* HS_L_REWRITE: the policy's own line
                                   (op->line), until a value changes */
    const char *name;           /* otherwise the spelling and value written */
    const char *value;
    const char *name_ro;        /* report-only spelling of a CSP name the
                                   policy wrote, or NULL */
    uint32_t name_len, value_len;
    int id;                     /* interned name id, -1 if none */
    int orig;                   /* index in the block's fields, -1: added */
    uint8_t state;
} hs_wline;

/* Values built during a rewrite: a first chunk on the stack, then heap
 * chunks that never move (lines keep pointers into them). */
typedef struct hs_chunk {
    struct hs_chunk *next;
    char data[];
} hs_chunk;

typedef struct hs_arena {
    char *cur;
    size_t left;
    hs_chunk *chunks;
    char first[1024];
} hs_arena;

typedef struct hs_rw {
    const hs_policy *pol;
    const hs_block *b;
    const hs_request *req;
    hs_wline *w;                /* the block's lines a directive may touch
                                   (ascending orig), then the added ones */
    size_t nw;
    size_t nblock;              /* of w, the block's lines */
    int ct;                     /* field index of the first Content-Type
                                   line, -1 (found when the policy has a
                                   content-type condition) */
    bool contiguous;            /* each field line starts where the one
                                   before ended (always so from the
                                   parser): untouched runs are one copy */
    uint16_t *count;            /* live lines per name id */
    hs_arena arena;
    size_t max_value;           /* a value longer than this is too large */
    size_t extra;               /* at least the bytes of the lines written
                                   (each write adds its own, none is taken
                                   back): room enough for the output */
    bool dirty;
    bool too_large;
    bool oom;
} hs_rw;

char *hs_rw_alloc(hs_rw *rw, size_t n);

/* Name and value of a live line, whatever its state. */
static inline hs_str hs_wl_name(const hs_rw *rw, const hs_wline *l)
{
    if (l->state == HS_L_KEEP)
        return rw->b->fields[l->orig].name;
    if (l->op)
        return (hs_str){ l->op->name, l->op->name_len };
    return (hs_str){ l->name, l->name_len };
}

static inline hs_str hs_wl_value(const hs_rw *rw, const hs_wline *l)
{
    if (l->state == HS_L_KEEP)
        return rw->b->fields[l->orig].value;
    if (l->op)
        return (hs_str){ l->op->value, l->op->value_len };
    return (hs_str){ l->value, l->value_len };
}

#define HS_DEFAULT_MAX_OUTPUT 8192

/* Eight bytes ASCII-lowercased at once: only A-Z change (a plain |0x20
 * would also turn control bytes into '/', '+' or '.', and "text\x0fhtml"
 * into text/html). */
static inline uint64_t hs_lower8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull;
    uint64_t low7 = x & (0x7f * ones);
    uint64_t ge_a = low7 + (0x80 - 'A') * ones;       /* bit 7: >= 'A' */
    uint64_t gt_z = low7 + (0x80 - 'Z' - 1) * ones;   /* bit 7: > 'Z' */
    uint64_t upper = ge_a & ~gt_z & ~x & (0x80 * ones);
    return x | (upper >> 2);
}

/* ---- plans (rewrite_plan.c) ----------------------------------------------
 *
 * With the presets, what a rewrite does depends only on the response's
 * shape: its field names in order (as spelled), the status, the value of
 * its first Content-Type line, TLS, the line ending and HEADERSHIM_CSP. A
 * plan is the outcome of the directives for one shape, kept after the
 * first rewrite of that shape; later responses of the shape skip the
 * directives and write their block straight from it. */
#define HS_PLAN_FIELDS 32       /* field lines of a shape that is kept */

typedef struct hs_plan {
    const hs_policy *owner;
    uint64_t hash;
    uint64_t head;              /* status, TLS, line ending, CSP mode,
                                   number of fields */
    const char *names;          /* the names, one after the other */
    uint8_t framing[HS_PLAN_FIELDS];    /* HS_PLAN_CL, HS_PLAN_TE, 0 */
    uint32_t framing_lines;             /* bit i: field i is a Connection,
                                           Content-Length or
                                           Transfer-Encoding line */
    hs_framing_facts facts;             /* what its framing lines say */
    hs_framing framing_other;           /* its framing for a GET, POST ...
                                           (HS_METHOD_OTHER) */
    /* The block the plan was made from, which parsed: a line of a later
     * block equal to its line byte for byte is known good, and its value
     * sits where it sat (hs_block_parse_shaped). */
    const char *seen;                   /* status line, then the fields */
    uint16_t status_len;
    uint16_t seen_len;                  /* status line and fields */
    const uint8_t *line_of;             /* the field line of each byte of
                                           seen past the status line */
    /* Its fields as hs_field holds them, with offsets from the block's
     * start where hs_field has pointers: a run of lines equal to these is
     * filled in by adding where the run sits (hs_block_parse_shaped). */
    _Alignas(16) struct hs_plan_line {
        uint64_t name_off, name_len, value_off, value_len, line_off,
            line_len;
    } lines[HS_PLAN_FIELDS];
    uint16_t line_end[HS_PLAN_FIELDS];  /* line_off + line_len */
    uint64_t cl_value;                  /* its Content-Length, if any */
    uint8_t ncl;                        /* Content-Length lines */
    bool has_te;                        /* a Transfer-Encoding line */
    int ct;                     /* first Content-Type line, or -1 */
    const char *ct_value;
    size_t ct_len;
    bool noop;                  /* the directives change nothing */
    bool steady;                /* hs_rewrite_steady may take its blocks */
    uint8_t act[HS_PLAN_FIELDS];        /* HS_L_KEEP, HS_L_REWRITE, HS_L_GONE */
    const hs_op *op[HS_PLAN_FIELDS];    /* HS_L_REWRITE: the line written */
    hs_str text[HS_PLAN_FIELDS];        /* ... and its bytes, line ending
                                           included (empty for other lines) */
    uint8_t nchanged, changed[HS_PLAN_FIELDS];  /* fields not kept */
    uint8_t nrm, rm[HS_PLAN_FIELDS];    /* fields whose names are "removed" */
    uint8_t nset, set[HS_PLAN_FIELDS];  /* rewritten fields ("set" unless
                                           the same as the original) */
    size_t nadded;
    hs_str added[HS_CHANGE_MAX];
    bool added_truncated;
    const char *blob;           /* the added lines, written out, and the
                                   blank line */
    size_t blob_len;
    size_t written_len;         /* blob_len and the rewritten lines' */
    ptrdiff_t out_grow;         /* how much longer the plan's output is
                                   than the block it was made from */
    char data[];                /* names, Content-Type value, blob */
} hs_plan;


enum { HS_PLAN_CL = 1, HS_PLAN_TE = 2 };

typedef enum hs_plan_found {
    HS_PLAN_NONE,               /* not a shape plans cover: run directives */
    HS_PLAN_MISS,               /* a shape without a plan yet: run them,
                                   then keep the plan (hs_plan_keep) */
    HS_PLAN_HIT,
} hs_plan_found;

/* *hash is the shape's, for hs_plan_keep. */
hs_plan_found hs_plan_find(const hs_policy *p, const hs_rewrite_opts *o,
                           const hs_block *b, const hs_request *req,
                           uint64_t *hash, const hs_plan **plan);
/* After the directives ran on a missed shape: remembers their outcome
 * when it depends on nothing but the shape. Returns the shape's plan (this
 * one, or the one another thread kept first), or NULL. */
const hs_plan *hs_plan_keep(const hs_rw *rw, const hs_rewrite_opts *o,
                            uint64_t hash);
/* The shape's head: what a plan depends on beside the names and the
 * Content-Type value. */
static inline uint64_t hs_plan_head(const hs_block *b, const hs_request *req,
                                    const hs_rewrite_opts *o)
{
    return (uint64_t)b->status | (uint64_t)(req && req->tls) << 16 |
           (uint64_t)b->crlf << 17 |
           (uint64_t)(o && o->csp_report_only) << 18 |
           (uint64_t)b->nfields << 24;
}

/* Whether plan pl is policy p's for a rewrite in this TLS and CSP mode
 * (a block read against it has its status, line ending and number of
 * fields). */
static inline bool hs_plan_fits(const hs_plan *pl, const hs_policy *p,
                                bool tls, const hs_rewrite_opts *o)
{
    uint64_t mode = (uint64_t)tls << 16 |
                    (uint64_t)(o && o->csp_report_only) << 18;
    return pl && pl->owner == p && (pl->head & (1u << 16 | 1u << 18)) == mode;
}

/* The plan the block was read against (hs_block_parse_shaped), when it
 * fits the rewrite; else NULL. Inline: it is the first thing every
 * rewrite asks. */
static inline const hs_plan *hs_plan_of_block(const hs_policy *p,
                                              const hs_rewrite_opts *o,
                                              const hs_block *b,
                                              const hs_request *req)
{
    const hs_plan *pl = b->shape;
    return hs_plan_fits(pl, p, req && req->tls, o) ? pl : NULL;
}

/* rewrite_output.c: the block from a plan. */
hs_rewrite_status hs_rw_emit_plan(const hs_plan *pl, const hs_block *b,
                                  const hs_rewrite_opts *o, hs_buf *out,
                                  hs_changes *c);
/* rewrite_output.c: a written line (op's own), its line ending included. */
char *hs_rw_write_op_line(char *p, const hs_op *op, bool ro, bool crlf);

/* rewrite_output.c */
/* Writes the new block and, when c is not NULL, fills the change record
 * (left empty unless the result is HS_REWRITE_CHANGED). */
hs_rewrite_status hs_rw_emit(hs_rw *rw, const hs_rewrite_opts *o,
                             hs_buf *out, hs_changes *c);

/* rewrite_values.c */
void hs_rw_append(hs_rw *rw, const hs_op *op, bool merge, size_t first);
void hs_rw_edit(hs_rw *rw, const hs_op *op, bool all);
void hs_rw_cookie(hs_rw *rw, const hs_op *op);

#endif /* HS_REWRITE_INTERNAL_H */
