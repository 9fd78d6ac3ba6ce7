/*
 * rewrite_values.c - the directives that compute a new value from an old
 * one: append, merge (RFC 9110 5.3: lines of a list field combine with
 * ", "), edit and edit* (POSIX extended regular expressions, as Apache's
 * `Header edit`), and cookie (RFC 6265 5.2: attribute names are
 * case-insensitive).
 *
 * New values go to the rewrite's arena. A changed line keeps the
 * application's spelling of its name; only set and rename write the
 * policy's.
 */
#include "rewrite_internal.h"

#include <stdlib.h>
#include <string.h>

/* IO-CONTRACT.md "Bounds": edit runs only on values up to 8 KiB. */
#define EDIT_MAX_VALUE 8192

#define value_of hs_wl_value

static void set_value(hs_rw *rw, hs_wline *l, const char *v, size_t n)
{
    if (l->state == HS_L_KEEP) {
        l->name = rw->b->fields[l->orig].name.p;
        l->name_len = (uint32_t)rw->b->fields[l->orig].name.len;
        l->name_ro = NULL;
        l->state = HS_L_REWRITE;
    } else if (l->op) {
        l->name = l->op->name;
        l->name_len = (uint32_t)l->op->name_len;
        l->name_ro = l->op->line_ro;
        l->op = NULL;
    }
    l->value = v;
    l->value_len = (uint32_t)n;
    rw->extra += l->name_len + 12 + 2 + n + 2;
    rw->dirty = true;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Is `want` one of the comma-separated elements of v (commas inside
 * double quotes do not separate)? */
static bool has_element(hs_str v, const char *want, size_t wn)
{
    size_t i = 0;
    while (i <= v.len) {
        size_t s = i;
        bool inq = false;
        while (i < v.len && (inq || v.p[i] != ',')) {
            if (v.p[i] == '"')
                inq = !inq;
            else if (inq && v.p[i] == '\\' && i + 1 < v.len)
                i++;
            i++;
        }
        size_t e = i;
        while (s < e && is_blank(v.p[s]))
            s++;
        while (e > s && is_blank(v.p[e - 1]))
            e--;
        if (e - s == wn && memcmp(v.p + s, want, wn) == 0)
            return true;
        i++;
    }
    return false;
}

void hs_rw_append(hs_rw *rw, const hs_op *op, bool merge, size_t first)
{
    size_t total = op->value_len;
    for (size_t i = first; i < rw->nw; i++) {
        const hs_wline *l = &rw->w[i];
        if (l->id != op->id || l->state == HS_L_GONE)
            continue;
        hs_str v = value_of(rw, l);
        if (merge && has_element(v, op->value, op->value_len))
            return;
        total += v.len + 2;
    }
    if (total > rw->max_value) {
        rw->too_large = true;
        return;
    }
    char *buf = hs_rw_alloc(rw, total);
    if (!buf)
        return;
    size_t n = 0;
    for (size_t i = first; i < rw->nw; i++) {
        hs_wline *l = &rw->w[i];
        if (l->id != op->id || l->state == HS_L_GONE)
            continue;
        hs_str v = value_of(rw, l);
        if (v.len) {
            memcpy(buf + n, v.p, v.len);
            n += v.len;
            memcpy(buf + n, ", ", 2);
            n += 2;
        }
        if (i != first) {
            l->state = HS_L_GONE;
            rw->count[l->id]--;
        }
    }
    memcpy(buf + n, op->value, op->value_len);
    n += op->value_len;
    set_value(rw, &rw->w[first], buf, n);
}

/* Replacement text: \0..\9 name groups, \\ is one backslash, any other
 * backslash is kept (POLICY.md "edit"). */
static bool expand(hs_buf *o, const char *rep, size_t rn, const char *s,
                   const regmatch_t *m)
{
    for (size_t i = 0; i < rn; i++) {
        char c = rep[i];
        if (c == '\\' && i + 1 < rn) {
            char d = rep[i + 1];
            if (d >= '0' && d <= '9') {
                const regmatch_t *g = &m[d - '0'];
                if (g->rm_so >= 0 &&
                    !hs_buf_append(o, s + g->rm_so,
                                   (size_t)(g->rm_eo - g->rm_so)))
                    return false;
                i++;
                continue;
            }
            if (d == '\\') {
                if (!hs_buf_append(o, "\\", 1))
                    return false;
                i++;
                continue;
            }
        }
        if (!hs_buf_append(o, &c, 1))
            return false;
    }
    return true;
}

/* One line's value through the regex; *changed false when nothing
 * matched. Returns false on memory exhaustion. */
static bool edit_value(const hs_op *op, bool all, const char *s, size_t len,
                       hs_buf *o, size_t limit, bool *changed)
{
    const hs_node *n = op->node;
    regmatch_t m[10];
    size_t pos = 0, prev_end = (size_t)-1;
    *changed = false;
    while (pos <= len) {
        int flags = pos > 0 ? REG_NOTBOL : 0;
        if (regexec(n->re, s + pos, 10, m, flags) != 0)
            break;
        size_t so = pos + (size_t)m[0].rm_so, eo = pos + (size_t)m[0].rm_eo;
        if (so == eo && so == prev_end) {
            /* An empty match right after the previous match: step over one
             * byte, as sed does, so "x*" cannot loop or match twice. */
            if (so >= len)
                break;
            if (!hs_buf_append(o, s + pos, so - pos + 1))
                return false;
            pos = so + 1;
            continue;
        }
        if (!hs_buf_append(o, s + pos, so - pos) ||
            !expand(o, n->repl, n->repl_len, s + pos, m))
            return false;
        *changed = true;
        prev_end = eo;
        if (eo == so) {
            if (so < len && !hs_buf_append(o, s + so, 1))
                return false;
            pos = so + 1;
        } else {
            pos = eo;
        }
        if (!all || o->len > limit)
            break;
    }
    if (pos < len && !hs_buf_append(o, s + pos, len - pos))
        return false;
    return true;
}

void hs_rw_edit(hs_rw *rw, const hs_op *op, bool all)
{
    hs_buf o = { 0 };
    for (size_t i = 0; i < rw->nw && !rw->oom && !rw->too_large; i++) {
        hs_wline *l = &rw->w[i];
        if (l->id != op->id || l->state == HS_L_GONE)
            continue;
        hs_str v = value_of(rw, l);
        if (v.len > EDIT_MAX_VALUE)
            continue;
        char *z = hs_rw_alloc(rw, v.len + 1);
        if (!z)
            break;
        memcpy(z, v.p, v.len);
        z[v.len] = '\0';
        /* regexec stops at a NUL; a value holding one is left alone. */
        if (memchr(z, '\0', v.len))
            continue;
        bool changed;
        o.len = 0;
        if (!edit_value(op, all, z, v.len, &o, rw->max_value, &changed)) {
            rw->oom = true;
            break;
        }
        if (!changed || (o.len == v.len && memcmp(o.p, v.p, v.len) == 0))
            continue;
        if (o.len > rw->max_value) {
            rw->too_large = true;
            break;
        }
        char *nv = hs_rw_alloc(rw, o.len);
        if (!nv)
            break;
        memcpy(nv, o.p, o.len);
        set_value(rw, l, nv, o.len);
    }
    hs_buf_free(&o);
}

/* Does the Set-Cookie value carry an attribute named name[0..n)? */
static bool has_attribute(hs_str v, const char *name, size_t n)
{
    size_t i = 0;
    while (i < v.len && v.p[i] != ';')
        i++;
    while (i < v.len) {
        size_t s = i + 1;   /* past the ';' */
        size_t e = s;
        while (e < v.len && v.p[e] != ';')
            e++;
        i = e;
        while (s < e && is_blank(v.p[s]))
            s++;
        size_t ne = s;
        while (ne < e && v.p[ne] != '=')
            ne++;
        while (ne > s && is_blank(v.p[ne - 1]))
            ne--;
        if (hs_pol_ieq(v.p + s, ne - s, name, n))
            return true;
    }
    return false;
}

void hs_rw_cookie(hs_rw *rw, const hs_op *op)
{
    const char *attr = op->node->name;
    size_t an = op->node->name_len;
    for (size_t i = 0; i < rw->nw; i++) {
        hs_wline *l = &rw->w[i];
        if (l->id != HS_ID_SET_COOKIE || l->state == HS_L_GONE)
            continue;
        hs_str v = value_of(rw, l);
        while (v.len && is_blank(v.p[v.len - 1]))
            v.len--;
        if (v.len == 0 || has_attribute(v, attr, op->attr_name_len))
            continue;
        bool semi = v.p[v.len - 1] == ';';
        size_t n = v.len + (semi ? 1 : 2) + an;
        if (n > rw->max_value) {
            rw->too_large = true;
            return;
        }
        char *nv = hs_rw_alloc(rw, n);
        if (!nv)
            return;
        memcpy(nv, v.p, v.len);
        memcpy(nv + v.len, semi ? " " : "; ", semi ? 1 : 2);
        memcpy(nv + n - an, attr, an);
        set_value(rw, l, nv, n);
    }
}
