/*
 * policy_compile.c - the policy tree to the flat program that rewrite.c
 * runs.
 *
 * What is worked out here so that a rewrite does not have to:
 *   - every header name the policy mentions gets a small id, so a field name
 *     is hashed once per response and every rule after that compares ints;
 *   - consecutive `remove` directives become one operation: a bitmap of ids
 *     plus a few globs, prefiltered by their first byte (strip's 55 names
 *     cost one pass over the lines);
 *   - the lines `set`, `default`, `add`, `append` write are built once,
 *     "Name: value\r\n", in both the enforced and the report-only CSP form;
 *   - a block is a jump: when its condition fails the program skips it.
 */
#include "policy_rules.h"

#include <stdlib.h>
#include <string.h>

typedef struct cctx {
    hs_policy *pol;
    size_t cap;
    int slots;
    bool oom;
} cctx;

static bool same_condition(const hs_node *a, const hs_node *b)
{
    if (a->subject != b->subject || a->npats != b->npats)
        return false;
    for (size_t i = 0; i < a->npats; i++)
        if (a->pats[i].len != b->pats[i].len ||
            memcmp(a->pats[i].text, b->pats[i].text, a->pats[i].len) != 0)
            return false;
    return true;
}

static void intern_tree(cctx *c, hs_node *n)
{
    hs_policy *p = c->pol;
    switch (n->dir) {
    case HS_D_SET: case HS_D_DEFAULT: case HS_D_ADD: case HS_D_APPEND:
    case HS_D_MERGE: case HS_D_EDIT: case HS_D_EDIT_ALL:
        if (hs_pol_intern(p, n->name, n->name_len) < 0)
            c->oom = true;
        break;
    case HS_D_RENAME:
        if (hs_pol_intern(p, n->name, n->name_len) < 0 ||
            hs_pol_intern(p, n->arg, n->arg_len) < 0)
            c->oom = true;
        break;
    case HS_D_REMOVE:
        if (!memchr(n->name, '*', n->name_len) &&
            hs_pol_intern(p, n->name, n->name_len) < 0)
            c->oom = true;
        break;
    case HS_D_COOKIE:
        if (hs_pol_intern(p, "Set-Cookie", 10) != HS_ID_SET_COOKIE)
            c->oom = true;
        break;
    case HS_D_BLOCK:
        if (n->subject == HS_S_CONTENT_TYPE) {
            p->uses_content_type = true;
            if (hs_pol_intern(p, "Content-Type", 12) != HS_ID_CONTENT_TYPE)
                c->oom = true;
        }
        for (size_t i = 0; i < n->npats; i++) {
            hs_pattern *pt = &n->pats[i];
            if (pt->glob && n->subject == HS_S_CONTENT_TYPE &&
                pt->glob_len == pt->len) {
                /* ASCII lowercase from the pattern as written: the parser's
                 * |0x20 also maps ^ to ~ and _ to DEL, while the media
                 * type is lowercased exactly (rewrite.c). */
                for (size_t k = 0; k < pt->len; k++) {
                    char ch = pt->text[k];
                    pt->glob[k] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
                }
            }
            if (pt->glob) {
                const char *st = memchr(pt->glob, '*', pt->glob_len);
                pt->star_at = st ? (size_t)(st - pt->glob) : 0;
                for (size_t k = 0; k < pt->glob_len; k++)
                    pt->nstars += pt->glob[k] == '*';
            }
            if (n->subject == HS_S_HEADER) {
                n->pats[i].name_id = hs_pol_intern(p, n->pats[i].name,
                                                   n->pats[i].name_len);
                if (n->pats[i].name_id < 0)
                    c->oom = true;
            }
        }
        for (size_t i = 0; i < n->nkids; i++)
            intern_tree(c, &n->kids[i]);
        break;
    default:
        break;
    }
}

static hs_op *emit(cctx *c, hs_opkind k, const hs_node *n)
{
    hs_policy *p = c->pol;
    if (p->nops == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        hs_op *no = realloc(p->ops, cap * sizeof *no);
        if (!no) {
            c->oom = true;
            return NULL;
        }
        p->ops = no;
        c->cap = cap;
    }
    hs_op *op = &p->ops[p->nops++];
    memset(op, 0, sizeof *op);
    op->kind = k;
    op->node = n;
    op->id = op->id2 = -1;
    return op;
}

/* "name[suffix]: value\r\n" */
static char *make_line(const char *name, size_t nl, const char *suffix,
                       const char *value, size_t vl, size_t *len)
{
    size_t sl = strlen(suffix);
    size_t n = nl + sl + 2 + vl + 2;
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    memcpy(s, name, nl);
    memcpy(s + nl, suffix, sl);
    memcpy(s + nl + sl, ": ", 2);
    if (vl)
        memcpy(s + nl + sl + 2, value, vl);
    memcpy(s + n - 2, "\r\n", 2);
    s[n] = '\0';
    *len = n;
    return s;
}

static void emit_valued(cctx *c, const hs_node *n)
{
    static const hs_opkind kinds[] = {
        [HS_D_SET] = HS_OP_SET, [HS_D_DEFAULT] = HS_OP_DEFAULT,
        [HS_D_ADD] = HS_OP_ADD, [HS_D_APPEND] = HS_OP_APPEND,
        [HS_D_MERGE] = HS_OP_MERGE,
    };
    hs_op *op = emit(c, kinds[n->dir], n);
    if (!op)
        return;
    op->id = hs_pol_lookup(c->pol, n->name, n->name_len);
    op->name = n->name;
    op->name_len = n->name_len;
    op->value = n->arg;
    op->value_len = n->arg_len;
    op->line = make_line(n->name, n->name_len, "", n->arg, n->arg_len,
                         &op->line_len);
    if (!op->line)
        c->oom = true;
    if (op->id == HS_ID_CSP) {
        op->line_ro = make_line(n->name, n->name_len, "-Report-Only", n->arg,
                                n->arg_len, &op->line_ro_len);
        if (!op->line_ro)
            c->oom = true;
    }
    c->pol->max_added++;
}

static void emit_remove(cctx *c, const hs_node *kids, size_t from, size_t to)
{
    hs_op *op = emit(c, HS_OP_REMOVE, &kids[from]);
    if (!op)
        return;
    op->idset = calloc((c->pol->nnames + 7) / 8, 1);
    size_t ng = 0;
    for (size_t i = from; i < to; i++)
        ng += memchr(kids[i].name, '*', kids[i].name_len) != NULL;
    op->globs = ng ? calloc(ng, sizeof *op->globs) : NULL;
    if (!op->idset || (ng && !op->globs)) {
        c->oom = true;
        return;
    }
    for (size_t i = from; i < to; i++) {
        const hs_node *n = &kids[i];
        if (!memchr(n->name, '*', n->name_len)) {
            int id = hs_pol_lookup(c->pol, n->name, n->name_len);
            if (id >= 0)
                op->idset[id >> 3] |= (uint8_t)(1u << (id & 7));
            continue;
        }
        hs_glob *g = &op->globs[op->nglobs];
        g->pat = hs_pol_dup(n->name, n->name_len);
        if (!g->pat) {
            c->oom = true;
            return;
        }
        op->nglobs++;
        g->len = n->name_len;
        for (size_t k = 0; k < g->len; k++)
            if (g->pat[k] >= 'A' && g->pat[k] <= 'Z')
                g->pat[k] = (char)(g->pat[k] + 32);
        const char *star = memchr(g->pat, '*', g->len);
        g->prefix = (size_t)(star - g->pat) == g->len - 1;
        if (g->prefix && g->len - 1 >= 8) {
            char h[8];
            for (int k = 0; k < 8; k++)
                h[k] = (char)(g->pat[k] | 0x20);
            memcpy(&g->head, h, 8);
        }
        if (!star || star - g->pat < 3) {
            op->glob_any_first = true;
        } else {
            unsigned k = hs_glob_key(g->pat);
            op->first[k >> 3] |= (uint8_t)(1u << (k & 7));
        }
    }
}

static void emit_block(cctx *c, const hs_node *b)
{
    /* Previous sibling blocks: every sibling of a block that runs is
     * reached, so a later one can reuse an earlier one's result. */
    size_t sib[8];
    size_t nsib = 0;
    for (size_t i = 0; i < b->nkids && !c->oom; i++) {
        const hs_node *n = &b->kids[i];
        switch (n->dir) {
        case HS_D_SET: case HS_D_DEFAULT: case HS_D_ADD: case HS_D_APPEND:
        case HS_D_MERGE:
            emit_valued(c, n);
            break;
        case HS_D_REMOVE: {
            size_t j = i;
            while (j < b->nkids && b->kids[j].dir == HS_D_REMOVE)
                j++;
            emit_remove(c, b->kids, i, j);
            i = j - 1;
            break;
        }
        case HS_D_RENAME: {
            hs_op *op = emit(c, HS_OP_RENAME, n);
            if (!op)
                break;
            op->id = hs_pol_lookup(c->pol, n->name, n->name_len);
            op->id2 = hs_pol_lookup(c->pol, n->arg, n->arg_len);
            op->name = n->arg;
            op->name_len = n->arg_len;
            if (op->id2 == HS_ID_CSP) {
                size_t l;
                op->name_ro = make_line(n->arg, n->arg_len, "-Report-Only", "",
                                        0, &l);
                if (!op->name_ro)
                    c->oom = true;
                op->name_ro_len = n->arg_len + 12;
            }
            break;
        }
        case HS_D_EDIT: case HS_D_EDIT_ALL: {
            hs_op *op = emit(c, n->dir == HS_D_EDIT ? HS_OP_EDIT
                                                    : HS_OP_EDIT_ALL, n);
            if (op)
                op->id = hs_pol_lookup(c->pol, n->name, n->name_len);
            break;
        }
        case HS_D_COOKIE: {
            hs_op *op = emit(c, HS_OP_COOKIE, n);
            if (!op)
                break;
            const char *eq = memchr(n->name, '=', n->name_len);
            op->attr_name_len = eq ? (size_t)(eq - n->name) : n->name_len;
            op->attr_samesite = hs_pol_ieq(n->name, op->attr_name_len,
                                           "samesite", 8);
            op->id = HS_ID_SET_COOKIE;
            break;
        }
        case HS_D_BLOCK: {
            size_t at = c->pol->nops;
            hs_op *op = emit(c, HS_OP_BLOCK, n);
            if (!op)
                break;
            op->slot = c->slots < HS_COND_SLOTS ? c->slots++ : -1;
            op->same_as = -1;
            for (size_t k = nsib; k-- > 0;) {
                const hs_op *prev = &c->pol->ops[sib[k]];
                if (prev->slot >= 0 && same_condition(prev->node, n)) {
                    op->same_as = prev->slot;
                    break;
                }
            }
            if (nsib == 8)
                memmove(sib, sib + 1, 7 * sizeof *sib), nsib = 7;
            sib[nsib++] = at;
            emit_block(c, n);
            if (!c->oom)
                c->pol->ops[at].skip_to = c->pol->nops;
            break;
        }
        }
    }
}

/* The lines the ops write, moved into one buffer in program order: lines
 * that consecutive directives add are then adjacent, and the output
 * copies them in one go (a preset's defaults are one copy). */
static bool pool_lines(hs_policy *pol)
{
    size_t total = 0;
    for (size_t i = 0; i < pol->nops; i++)
        total += pol->ops[i].line ? pol->ops[i].line_len : 0;
    if (total == 0)
        return true;
    char *pool = malloc(total);
    if (!pool)
        return false;
    size_t at = 0;
    for (size_t i = 0; i < pol->nops; i++) {
        hs_op *op = &pol->ops[i];
        if (!op->line)
            continue;
        memcpy(pool + at, op->line, op->line_len);
        free(op->line);
        op->line = pool + at;
        at += op->line_len;
    }
    pol->line_pool = pool;
    return true;
}

/* Which names the program touches, and the union of its glob prefilters
 * (see hs_policy.glob_maybe). */
static void mark_touched(hs_policy *pol)
{
    for (size_t id = 0; id < pol->nnames; id++) {
        const hs_name *nm = &pol->names[id];
        if (!nm->indexed || nm->len < 3)
            continue;
        unsigned k = hs_field_key(nm->key, nm->len);
        pol->field_maybe[k >> 3] |= (uint8_t)(1u << (k & 7));
    }
    for (size_t i = 0; i < pol->nops; i++) {
        const hs_op *op = &pol->ops[i];
        if (op->kind == HS_OP_BLOCK)
            continue;
        if (op->id >= 0)
            pol->names[op->id].touched = true;
        if (op->id2 >= 0)
            pol->names[op->id2].touched = true;
        if (op->kind != HS_OP_REMOVE)
            continue;
        for (size_t id = 0; id < pol->nnames; id++)
            if (op->idset[id >> 3] & (1u << (id & 7)))
                pol->names[id].touched = true;
        for (size_t g = 0; g < op->nglobs; g++) {
            const hs_glob *gl = &op->globs[g];
            const char *star = memchr(gl->pat, '*', gl->len);
            if (!star || star - gl->pat < 3) {
                memset(pol->field_maybe, 0xff, sizeof pol->field_maybe);
                continue;
            }
            for (size_t len = 0; len < 8; len++) {
                unsigned k = hs_field_key(gl->pat, len);
                pol->field_maybe[k >> 3] |= (uint8_t)(1u << (k & 7));
            }
        }
        if (op->nglobs) {
            if (op->glob_any_first)
                pol->glob_short = true;
            for (size_t k = 0; k < sizeof pol->glob_maybe; k++)
                if (op->glob_any_first || (op->first[k >> 3] & (1u << (k & 7))))
                    pol->glob_maybe[k] = 1;
        }
    }
}

bool hs_pol_compile(hs_policy *pol)
{
    cctx c = { .pol = pol };
    if (!hs_pol_add_fixed(pol))
        return false;
    intern_tree(&c, &pol->root);
    if (c.oom)
        return false;
    emit_block(&c, &pol->root);
    if (!c.oom)
        mark_touched(pol);
    if (!c.oom && !pool_lines(pol))
        c.oom = true;
    if (!c.oom && !hs_plan_cache_init(pol))
        c.oom = true;
    return !c.oom;
}

void hs_pol_program_free(hs_policy *pol)
{
    hs_plan_cache_free(pol);
    for (size_t i = 0; i < pol->nops; i++) {
        hs_op *op = &pol->ops[i];
        if (!pol->line_pool)
            free(op->line);
        free(op->line_ro);
        free(op->name_ro);
        free(op->idset);
        for (size_t g = 0; g < op->nglobs; g++)
            free(op->globs[g].pat);
        free(op->globs);
    }
    free(pol->ops);
    pol->ops = NULL;
    free(pol->line_pool);
    pol->line_pool = NULL;
    pol->nops = 0;
    for (size_t i = 0; i < pol->nnames; i++)
        free(pol->names[i].key);
    free(pol->names);
    pol->names = NULL;
    pol->nnames = 0;
    free(pol->index);
    pol->index = NULL;
}
