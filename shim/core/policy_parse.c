/*
 * policy_parse.c - logical lines to the policy tree: directives and blocks
 * (POLICY.md "Directives", "Errors"); the condition lines themselves are
 * policy_cond.c's.
 *
 * Every error names the word it is about and parsing goes on with the next
 * line, so one `headershim check` shows every mistake of a file. A block
 * whose opening line was wrong is still opened, so its '}' does not draw a
 * second, misleading error.
 */
#include "policy_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const directives[] = {
    "set", "default", "add", "append", "merge", "remove", "rename", "edit",
    "edit*", "cookie", "include", "when", "unless",
};
static const hs_dir directive_kind[] = {
    HS_D_SET, HS_D_DEFAULT, HS_D_ADD, HS_D_APPEND, HS_D_MERGE, HS_D_REMOVE,
    HS_D_RENAME, HS_D_EDIT, HS_D_EDIT_ALL, HS_D_COOKIE,
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

char *hs_pol_dup(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

bool hs_pol_teq(const hs_tok *t, const char *s)
{
    return !t->quoted && t->len == strlen(s) && memcmp(t->text, s, t->len) == 0;
}

#define Q(buf, t) hs_pol_quote(buf, sizeof buf, (t)->text, (t)->len)

void hs_pol_err_at(hs_pfile *f, const hs_tok *t, const char *fmt, const char *a,
                   const char *b)
{
    hs_pol_diag(f->c, HS_DIAG_ERROR, f->file, t->line, t->col, fmt, a, b);
}

static void warn_at(hs_pfile *f, const hs_tok *t, const char *fmt, const char *a,
                    const char *b)
{
    hs_pol_diag(f->c, HS_DIAG_WARNING, f->file, t->line, t->col, fmt, a, b);
}

/* Levenshtein distance, case-insensitive, on short words. */
static size_t distance(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);
    if (an > 31)
        return 99;
    size_t row[33];
    for (size_t j = 0; j <= bn; j++)
        row[j] = j;
    for (size_t i = 1; i <= an; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= bn; j++) {
            size_t cur = row[j];
            char x = a[i - 1], y = b[j - 1];
            if (x >= 'A' && x <= 'Z')
                x = (char)(x + 32);
            size_t best = prev + (x != y);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[bn];
}

static const char *suggest(const hs_tok *t, const char *const *words,
                           size_t n)
{
    const char *best = NULL;
    size_t bd = 99;
    for (size_t i = 0; i < n; i++) {
        size_t d = distance(t->text, t->len, words[i]);
        if (d < bd) {
            bd = d;
            best = words[i];
        }
    }
    size_t limit = t->len <= 3 ? 1 : 2;
    return bd <= limit ? best : NULL;
}

void hs_pol_unknown_word(hs_pfile *f, const hs_tok *t, const char *what,
                         const char *const *words, size_t n)
{
    char q[80], msg[200];
    const char *s = suggest(t, words, n);
    if (s && t->quoted && distance(t->text, t->len, s) == 0)
        snprintf(msg, sizeof msg, "unknown %s %s (write it without quotes)",
                 what, Q(q, t));
    else if (s)
        snprintf(msg, sizeof msg, "unknown %s %s (did you mean '%s'?)", what,
                 Q(q, t), s);
    else
        snprintf(msg, sizeof msg, "unknown %s %s", what, Q(q, t));
    hs_pol_err_at(f, t, "%s%s", msg, "");
}

/* CR, LF, NUL and other controls but HT would let a policy inject lines. */
bool hs_pol_check_controls(hs_pfile *f, const hs_tok *at, const char *p,
                           size_t n, bool value)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            bool brk = ch == '\r' || ch == '\n';
            if (value)
                hs_pol_err_at(f, at, "value contains a %s; a policy may not inject "
                       "header lines", brk ? "line break" : "control character",
                       "");
            else {
                char q[80];
                hs_pol_err_at(f, at, "%s contains a %s", Q(q, at),
                       brk ? "line break" : "control character");
            }
            return false;
        }
    }
    return true;
}

static bool check_name(hs_pfile *f, const hs_tok *t)
{
    if (hs_pol_is_token(t->text, t->len))
        return true;
    char q[80];
    hs_pol_err_at(f, t, "%s is not a valid header name (RFC 9110 token)", Q(q, t), "");
    return false;
}

/* Framing and hop-by-hop names are refused outright (POLICY.md): a
 * response whose framing changed under the client desynchronises the
 * connection. */
static bool check_framing(hs_pfile *f, const hs_tok *dir, const hs_tok *name)
{
    static const char *const framing[] = { "Content-Length",
        "Transfer-Encoding", "TE", "Trailer" };
    static const char *const hop[] = { "Connection", "Keep-Alive", "Upgrade" };
    char what[200];
    for (size_t i = 0; i < COUNT(framing) + COUNT(hop); i++) {
        const char *n = i < COUNT(framing) ? framing[i] : hop[i - COUNT(framing)];
        if (!hs_pol_ieq(name->text, name->len, n, strlen(n)))
            continue;
        char q1[80], q2[80];
        hs_pol_quote(q1, sizeof q1, dir->text, dir->len);
        hs_pol_quote(q2, sizeof q2, name->text, name->len);
        /* "'set Content-Length'": one quoted phrase */
        snprintf(what, sizeof what, "'%.*s %.*s'", (int)strlen(q1) - 2, q1 + 1,
                 (int)strlen(q2) - 2, q2 + 1);
        hs_pol_err_at(f, name, "%s is refused: %s", what, i < COUNT(framing)
               ? "it would change the message framing"
               : "it is a hop-by-hop header that governs the connection, and "
                 "changing it would desynchronise the client");
        return false;
    }
    return true;
}

static bool is_meaning(const char *p, size_t n)
{
    for (int id = 0; id < HS_ID_FIRST_FRAMING; id++)
        if (hs_pol_ieq(p, n, hs_fixed_names[id], strlen(hs_fixed_names[id])))
            return true;
    return false;
}

static bool is_guarded(const char *p, size_t n, bool glob)
{
    static const char *const g[] = { "content-security-policy",
        "x-frame-options", "strict-transport-security" };
    char low[128];
    if (glob) {
        if (n > sizeof low)
            return false;
        for (size_t i = 0; i < n; i++)
            low[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] + 32) : p[i];
    }
    for (size_t i = 0; i < COUNT(g); i++) {
        if (glob ? hs_pol_glob(low, n, g[i], strlen(g[i]), false)
                 : hs_pol_ieq(p, n, g[i], strlen(g[i])))
            return true;
    }
    return false;
}

static void phrase(char *out, size_t cap, const hs_tok *d, const hs_tok *n)
{
    char q1[80], q2[80];
    hs_pol_quote(q1, sizeof q1, d->text, d->len);
    hs_pol_quote(q2, sizeof q2, n->text, n->len);
    snprintf(out, cap, "'%.*s %.*s'", (int)strlen(q1) - 2, q1 + 1,
             (int)strlen(q2) - 2, q2 + 1);
}

static void warnings(hs_pfile *f, hs_dir k, const hs_tok *d, const hs_tok *name,
                     const hs_tok *name2)
{
    char ph[200];
    if (k == HS_D_SET && hs_pol_ieq(name->text, name->len, "set-cookie", 10)) {
        phrase(ph, sizeof ph, d, name);
        warn_at(f, name, "%s replaces every cookie the application sets%s", ph, "");
    } else if (k == HS_D_SET || k == HS_D_REMOVE || k == HS_D_RENAME) {
        const hs_tok *ts[2] = { name, name2 };
        for (int i = 0; i < 2; i++) {
            if (ts[i] && is_meaning(ts[i]->text, ts[i]->len)) {
                phrase(ph, sizeof ph, d, ts[i]);
                warn_at(f, ts[i], "%s changes a header that carries the "
                        "response's meaning%s", ph, "");
            }
        }
    }
    if (f->c->pathhost_blocks && (k == HS_D_SET || k == HS_D_REMOVE ||
        k == HS_D_RENAME || k == HS_D_EDIT || k == HS_D_EDIT_ALL) &&
        is_guarded(name->text, name->len, k == HS_D_REMOVE)) {
        phrase(ph, sizeof ph, d, name);
        warn_at(f, name, "%s under 'when path' or 'when host' weakens a "
                "security header for some URLs only; another spelling of the "
                "URL or another Host reaches the same resource%s", ph, "");
    }
}

hs_node *hs_pol_new_kid(hs_pfile *f, const hs_tok *at, hs_dir k)
{
    hs_node *p = f->stack[f->nstack - 1];
    if (p->nkids == p->kcap) {
        size_t cap = p->kcap ? p->kcap * 2 : 8;
        hs_node *nk = realloc(p->kids, cap * sizeof *nk);
        if (!nk) {
            f->c->oom = true;
            return NULL;
        }
        p->kids = nk;
        p->kcap = cap;
    }
    hs_node *n = &p->kids[p->nkids++];
    memset(n, 0, sizeof *n);
    n->dir = k;
    n->file = f->file;
    n->line = at->line;
    n->col = at->col;
    return n;
}

static bool set_str(hs_pfile *f, char **dst, size_t *dlen, const char *p,
                    size_t n)
{
    *dst = hs_pol_dup(p, n);
    *dlen = n;
    if (!*dst)
        f->c->oom = true;
    return *dst != NULL;
}

static bool arity(hs_pfile *f, const hs_tok *t, size_t n, size_t want,
                  const char *usage)
{
    char q[80];
    if (n < want) {
        hs_pol_err_at(f, &t[0], "missing argument: usage is '%s'%s", usage, "");
        return false;
    }
    if (n > want) {
        hs_pol_err_at(f, &t[want], "extra argument %s: usage is '%s'", Q(q, &t[want]),
               usage);
        return false;
    }
    return true;
}

/* \1..\9 in a replacement must name a group the regex has. */
static bool check_repl(hs_pfile *f, const hs_tok *t, size_t ngroups)
{
    for (size_t i = 0; i + 1 < t->len; i++) {
        if (t->text[i] != '\\')
            continue;
        char d = t->text[i + 1];
        if (d == '\\') {
            i++;
        } else if (d >= '0' && d <= '9' && (size_t)(d - '0') > ngroups) {
            char g[8], n[16];
            snprintf(g, sizeof g, "\\%c", d);
            snprintf(n, sizeof n, "%zu", ngroups);
            hs_pol_err_at(f, t, "the replacement refers to group %s but the regular "
                   "expression has %s", g, n);
            return false;
        } else if (d >= '0' && d <= '9') {
            i++;
        }
    }
    return true;
}

static void parse_directive(hs_pfile *f, hs_dir k, const hs_tok *t, size_t n)
{
    static const char *const usage[] = {
        [HS_D_SET] = "set NAME VALUE", [HS_D_DEFAULT] = "default NAME VALUE",
        [HS_D_ADD] = "add NAME VALUE", [HS_D_APPEND] = "append NAME VALUE",
        [HS_D_MERGE] = "merge NAME VALUE", [HS_D_REMOVE] = "remove PATTERN",
        [HS_D_RENAME] = "rename OLD NEW",
        [HS_D_EDIT] = "edit NAME REGEX REPLACEMENT",
        [HS_D_EDIT_ALL] = "edit* NAME REGEX REPLACEMENT",
        [HS_D_COOKIE] = "cookie ATTRIBUTE",
    };
    bool valued = k <= HS_D_MERGE;
    size_t want = valued ? 3 : k == HS_D_RENAME ? 3 : k >= HS_D_EDIT && k <= HS_D_EDIT_ALL ? 4 : 2;
    if (valued && n > 3)
        n = 3; /* the VALUE is the rest of the line */
    if (!arity(f, t, n, want, usage[k]))
        return;
    const hs_tok *d = &t[0], *name = &t[1];
    bool ok = true;
    if (k == HS_D_COOKIE) {
        const char *eq = memchr(name->text, '=', name->len);
        size_t an = eq ? (size_t)(eq - name->text) : name->len;
        char q[80];
        if (!hs_pol_check_controls(f, name, name->text, name->len, true))
            return;
        if (!hs_pol_is_token(name->text, an) || memchr(name->text, ';', name->len)) {
            hs_pol_err_at(f, name, "invalid cookie attribute %s (expected NAME or "
                   "NAME=VALUE without ';')", Q(q, name), "");
            return;
        }
    } else if (k == HS_D_REMOVE) {
        if (!check_name(f, name))
            return;
        if (!memchr(name->text, '*', name->len) && !check_framing(f, d, name))
            return;
    } else {
        if (!check_name(f, name))
            return;
        ok = check_framing(f, d, name);
        if (k == HS_D_RENAME)
            ok = check_name(f, &t[2]) && check_framing(f, d, &t[2]) && ok;
    }
    if (!ok)
        return;
    if ((k == HS_D_APPEND || k == HS_D_MERGE) &&
        hs_pol_ieq(name->text, name->len, "set-cookie", 10)) {
        char ph[200];
        phrase(ph, sizeof ph, d, name);
        hs_pol_err_at(f, name, "%s is refused: every cookie needs a line of its own "
               "(RFC 6265 section 3)%s", ph, "");
        return;
    }
    /* The VALUE: the rest of the line, trimmed, unless it is exactly one
     * quoted string. */
    const char *val = NULL;
    size_t vlen = 0;
    if (valued) {
        const hs_tok *v = &t[2];
        size_t end = f->lx.blen;   /* the line's end, trailing blanks cut */
        while (end > v->off && (f->lx.buf[end - 1] == ' ' ||
                                f->lx.buf[end - 1] == '\t'))
            end--;
        if (v->quoted && v->off + v->raw_len == end) {
            val = v->text;
            vlen = v->len;
        } else {
            val = v->raw;
            vlen = end - v->off;
        }
        if (!hs_pol_check_controls(f, v, val, vlen, true))
            return;
    }
    regex_t *re = NULL;
    if (k == HS_D_EDIT || k == HS_D_EDIT_ALL) {
        if (!hs_pol_check_controls(f, &t[2], t[2].text, t[2].len, false) ||
            !hs_pol_check_controls(f, &t[3], t[3].text, t[3].len, true))
            return;
        char bound[160], q[80];
        if (!hs_pol_regex_bounded(t[2].text, t[2].len, bound, sizeof bound)) {
            hs_pol_err_at(f, &t[2], "regular expression %s %s", Q(q, &t[2]),
                          bound);
            return;
        }
        char *src = hs_pol_dup(t[2].text, t[2].len);
        re = malloc(sizeof *re);
        if (!src || !re) {
            free(src);
            free(re);
            f->c->oom = true;
            return;
        }
        int rc = regcomp(re, src, REG_EXTENDED);
        free(src);
        if (rc != 0) {
            char why[160];
            regerror(rc, re, why, sizeof why);
            free(re);
            hs_pol_err_at(f, &t[2], "invalid regular expression %s: %s", Q(q, &t[2]),
                   why);
            return;
        }
        if (!check_repl(f, &t[3], re->re_nsub)) {
            regfree(re);
            free(re);
            return;
        }
    }
    warnings(f, k, d, name, k == HS_D_RENAME ? &t[2] : NULL);
    hs_node *nd = hs_pol_new_kid(f, d, k);
    if (!nd || !set_str(f, &nd->name, &nd->name_len, name->text, name->len)) {
        if (re) {
            regfree(re);
            free(re);
        }
        return;
    }
    nd->re = re;
    if (valued)
        set_str(f, &nd->arg, &nd->arg_len, val, vlen);
    else if (k == HS_D_RENAME || re)
        set_str(f, &nd->arg, &nd->arg_len, t[2].text, t[2].len);
    if (re)
        set_str(f, &nd->repl, &nd->repl_len, t[3].text, t[3].len);
}

static void parse_line(hs_pfile *f)
{
    const hs_tok *t = f->lx.toks;
    size_t n = f->lx.ntoks;
    char q[80];
    if (n == 0)
        return;
    if (hs_pol_teq(&t[0], "}")) {
        if (f->nstack <= 1)
            hs_pol_err_at(f, &t[0], "'}' without a matching 'when' or 'unless'%s%s",
                   "", "");
        else
            hs_pol_close_block(f);
        if (n > 1)
            hs_pol_err_at(f, &t[1], "extra argument %s: '}' stands alone on its line",
                   Q(q, &t[1]), "");
        return;
    }
    if (hs_pol_teq(&t[0], "when") || hs_pol_teq(&t[0], "unless")) {
        hs_pol_open_block(f, t, n, t[0].text[0] == 'u');
        return;
    }
    if (hs_pol_teq(&t[0], "include")) {
        if (arity(f, t, n, 2, "include NAME-OR-PATH"))
            hs_pol_include(f->c, f->file, &t[1], f->dir, f->depth,
                           f->stack[f->nstack - 1]);
        return;
    }
    for (size_t i = 0; i < COUNT(directive_kind); i++) {
        if (hs_pol_teq(&t[0], directives[i])) {
            parse_directive(f, directive_kind[i], t, n);
            return;
        }
    }
    hs_pol_unknown_word(f, &t[0], "directive", directives, COUNT(directives));
}

static void lex_error(void *ctx, unsigned line, unsigned col, const char *msg)
{
    hs_pfile *f = ctx;
    hs_pol_diag(f->c, HS_DIAG_ERROR, f->file, line, col, "%s", msg);
}

void hs_pol_parse_text(hs_parse_ctx *c, const char *file, const char *dir,
                       const char *text, size_t len, unsigned depth,
                       hs_node *into)
{
    hs_pfile f = { .c = c, .file = file, .dir = dir, .depth = depth };
    f.stack = malloc(8 * sizeof *f.stack);
    if (!f.stack) {
        c->oom = true;
        return;
    }
    f.scap = 8;
    f.stack[f.nstack++] = into;
    hs_lex_init(&f.lx, text, len, lex_error, &f);
    int r;
    while (!c->oom && (r = hs_lex_next(&f.lx)) != 0) {
        if (r < 0) {
            c->oom = true;
            break;
        }
        parse_line(&f);
    }
    /* Blocks still open at the end of the file: report each at its 'when'. */
    while (f.nstack > 1) {
        hs_node *b = f.stack[f.nstack - 1];
        hs_pol_diag(c, HS_DIAG_ERROR, file, b->line, b->col,
                    "'%s' block is never closed: missing '}'",
                    b->unless ? "unless" : "when");
        hs_pol_close_block(&f);
    }
    hs_lex_free(&f.lx);
    free(f.stack);
}

void hs_pol_node_free(hs_node *n)
{
    free(n->name);
    free(n->arg);
    free(n->repl);
    if (n->re) {
        regfree(n->re);
        free(n->re);
    }
    for (size_t i = 0; i < n->npats; i++) {
        free(n->pats[i].text);
        free(n->pats[i].name);
        free(n->pats[i].glob);
    }
    free(n->pats);
    for (size_t i = 0; i < n->nkids; i++)
        hs_pol_node_free(&n->kids[i]);
    free(n->kids);
}
