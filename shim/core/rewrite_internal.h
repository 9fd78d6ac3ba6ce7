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
