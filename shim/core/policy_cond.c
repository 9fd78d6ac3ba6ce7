/*
 * policy_cond.c - the `when` and `unless` lines: subjects and the pattern
 * syntax of each (POLICY.md "Conditions"): status codes, classes and
 * ranges, ports, media types, header NAME[=GLOB], methods, path and host
 * globs. Patterns are checked and pre-digested here so that a rewrite only
 * compares.
 */
#include "policy_rules.h"

#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define Q(buf, t) hs_pol_quote(buf, sizeof buf, (t)->text, (t)->len)

static const char *const subjects[] = {
    "status", "content-type", "header", "method", "path", "host",
    "request-header", "port", "tls",
};
static const hs_subject subject_kind[] = {
    HS_S_STATUS, HS_S_CONTENT_TYPE, HS_S_HEADER, HS_S_METHOD, HS_S_PATH,
    HS_S_HOST, HS_S_REQUEST_HEADER, HS_S_PORT, HS_S_TLS,
};

/* "80" or "8000-8099", both ends within [min, max]. */
static bool parse_range(const char *p, size_t n, long min, long max, int *lo,
                        int *hi)
{
    const char *dash = memchr(p, '-', n);
    size_t n1 = dash ? (size_t)(dash - p) : n;
    long a = 0, b = 0;
    if (n1 == 0 || n1 > 5)
        return false;
    for (size_t i = 0; i < n1; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        a = a * 10 + (p[i] - '0');
    }
    if (dash) {
        size_t n2 = n - n1 - 1;
        if (n2 == 0 || n2 > 5)
            return false;
        for (size_t i = 0; i < n2; i++) {
            char ch = dash[1 + i];
            if (ch < '0' || ch > '9')
                return false;
            b = b * 10 + (ch - '0');
        }
    } else {
        b = a;
    }
    if (a < min || b > max || a > b)
        return false;
    *lo = (int)a;
    *hi = (int)b;
    return true;
}

static bool parse_pattern(hs_pfile *f, hs_subject s, const hs_tok *t,
                          hs_pattern *p)
{
    char q[80];
    if (!hs_pol_check_controls(f, t, t->text, t->len, false))
        return false;
    p->text = hs_pol_dup(t->text, t->len);
    p->len = t->len;
    if (!p->text) {
        f->c->oom = true;
        return false;
    }
    const char *x = t->text;
    size_t n = t->len;
    switch (s) {
    case HS_S_STATUS:
        if (n == 3 && x[0] >= '1' && x[0] <= '9' && (x[1] | 0x20) == 'x' &&
            (x[2] | 0x20) == 'x') {
            p->lo = (x[0] - '0') * 100;
            p->hi = p->lo + 99;
            return true;
        }
        if (((n == 3) || (n == 7 && x[3] == '-')) &&
            parse_range(x, n, 100, 999, &p->lo, &p->hi))
            return true;
        hs_pol_err_at(f, t, "invalid status pattern %s (expected a code like 200, a "
               "class like 2xx or a range like 500-599)", Q(q, t), "");
        return false;
    case HS_S_PORT:
        if (parse_range(x, n, 1, 65535, &p->lo, &p->hi))
            return true;
        hs_pol_err_at(f, t, "invalid port %s (expected a port from 1 to 65535 or a "
               "range like 8000-8099)", Q(q, t), "");
        return false;
    case HS_S_CONTENT_TYPE:
        if (memchr(x, ';', n) || memchr(x, ' ', n) || memchr(x, '\t', n)) {
            hs_pol_err_at(f, t, "invalid content-type pattern %s: parameters are "
                   "ignored, write the media type alone", Q(q, t), "");
            return false;
        }
        p->glob = hs_pol_dup(x, n);
        p->glob_len = n;
        if (!p->glob)
            break;
        /* Media types are matched with every byte |0x20 on both sides
         * (rewrite.c lowers eight bytes at a time): that folds ASCII
         * letters, and of the token characters only confuses ^ with ~. */
        for (size_t i = 0; i < n; i++)
            if (p->glob[i] != '*')
                p->glob[i] = (char)(p->glob[i] | 0x20);
        p->none = n == 4 && memcmp(p->glob, "none", 4) == 0;
        return true;
    case HS_S_HEADER:
    case HS_S_REQUEST_HEADER: {
        const char *eq = memchr(x, '=', n);
        size_t nn = eq ? (size_t)(eq - x) : n;
        if (!hs_pol_is_token(x, nn)) {
            hs_tok nt = *t;
            nt.len = nn;
            hs_pol_err_at(f, t, "%s is not a valid header name (RFC 9110 token)",
                   Q(q, &nt), "");
            return false;
        }
        p->name = hs_pol_dup(x, nn);
        p->name_len = nn;
        if (!p->name)
            break;
        if (eq) {
            p->has_glob = true;
            p->glob_len = n - nn - 1;
            p->glob = hs_pol_dup(eq + 1, p->glob_len);
            if (!p->glob)
                break;
            for (size_t i = 0; i < p->glob_len; i++)
                if (p->glob[i] >= 'A' && p->glob[i] <= 'Z')
                    p->glob[i] = (char)(p->glob[i] + 32);
        }
        return true;
    }
    case HS_S_METHOD:
        if (!hs_pol_is_token(x, n)) {
            hs_pol_err_at(f, t, "invalid method %s (RFC 9110 token)", Q(q, t), "");
            return false;
        }
        p->glob = hs_pol_dup(x, n);
        p->glob_len = n;
        if (!p->glob)
            break;
        return true;
    case HS_S_PATH:
    case HS_S_HOST:
        p->glob = hs_pol_dup(x, n);
        p->glob_len = n;
        if (!p->glob)
            break;
        if (s == HS_S_HOST)
            for (size_t i = 0; i < n; i++)
                if (p->glob[i] >= 'A' && p->glob[i] <= 'Z')
                    p->glob[i] = (char)(p->glob[i] + 32);
        return true;
    default:
        return false;
    }
    f->c->oom = true;
    return false;
}

void hs_pol_open_block(hs_pfile *f, const hs_tok *t, size_t n, bool unless)
{
    const hs_tok *d = &t[0];
    bool brace = n >= 2 && hs_pol_teq(&t[n - 1], "{");
    size_t np = brace ? n - 1 : n;
    bool ok = true;
    hs_subject s = HS_S_NONE;
    char q[80];
    if (!brace) {
        const hs_tok *last = &t[n - 1];
        if (last->len && last->text[last->len - 1] == '{' && !last->quoted)
            hs_pol_err_at(f, last, "'{' must be a word of its own: put a blank "
                   "before it%s%s", "", "");
        else
            hs_pol_err_at(f, last, "missing '{' at the end of the '%s' line%s",
                   unless ? "unless" : "when", "");
        return;
    }
    if (np < 2) {
        hs_pol_err_at(f, d, "missing argument: usage is '%s SUBJECT PATTERN... {'",
               unless ? "unless" : "when", "");
        ok = false;
    } else {
        size_t i;
        for (i = 0; i < COUNT(subjects); i++)
            if (hs_pol_teq(&t[1], subjects[i]))
                break;
        if (i == COUNT(subjects)) {
            hs_pol_unknown_word(f, &t[1], "condition subject", subjects,
                         COUNT(subjects));
            ok = false;
        } else {
            s = subject_kind[i];
            if (s == HS_S_TLS && np > 2) {
                hs_pol_err_at(f, &t[2], "extra argument %s: 'tls' takes no pattern",
                       Q(q, &t[2]), "");
                ok = false;
            } else if (s != HS_S_TLS && np < 3) {
                hs_pol_err_at(f, &t[1], "missing argument: '%s' needs at least one "
                       "pattern%s", subjects[i], "");
                ok = false;
            }
        }
    }
    hs_node *b = hs_pol_new_kid(f, d, HS_D_BLOCK);
    if (!b)
        return;
    b->unless = unless;
    b->subject = s;
    if (ok && s != HS_S_TLS) {
        b->pats = calloc(np - 2, sizeof *b->pats);
        if (!b->pats) {
            f->c->oom = true;
            return;
        }
        for (size_t i = 2; i < np; i++) {
            if (parse_pattern(f, s, &t[i], &b->pats[b->npats]))
                b->npats++;
            else
                free(b->pats[b->npats].text), free(b->pats[b->npats].name),
                    free(b->pats[b->npats].glob),
                    memset(&b->pats[b->npats], 0, sizeof b->pats[0]);
        }
    }
    if (s == HS_S_PATH || s == HS_S_HOST)
        f->c->pathhost_blocks += !unless;
    if (s == HS_S_PATH)
        f->c->pol->needs |= HS_NEEDS_PATH;
    if (s == HS_S_HOST)
        f->c->pol->needs |= HS_NEEDS_HOST;
    if (s == HS_S_METHOD)
        f->c->pol->needs |= HS_NEEDS_METHOD;
    if (s == HS_S_REQUEST_HEADER)
        f->c->pol->needs |= HS_NEEDS_REQUEST_HEADER;
    if (f->nstack == f->scap) {
        size_t cap = f->scap * 2;
        hs_node **ns = realloc(f->stack, cap * sizeof *ns);
        if (!ns) {
            f->c->oom = true;
            return;
        }
        f->stack = ns;
        f->scap = cap;
    }
    f->stack[f->nstack++] = b;
}

void hs_pol_close_block(hs_pfile *f)
{
    hs_node *b = f->stack[--f->nstack];
    if ((b->subject == HS_S_PATH || b->subject == HS_S_HOST) && !b->unless)
        f->c->pathhost_blocks--;
}

