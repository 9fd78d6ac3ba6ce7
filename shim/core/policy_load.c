/*
 * policy_load.c - the entry points hs_policy_load/hs_policy_parse, the
 * `include` directive, and diagnostics.
 *
 * File text reaches the parser only through the caller's hs_load_fn, so the
 * core does no I/O. An include argument containing '/' or ending in
 * ".policy" is a path, joined to the including file's directory and
 * normalised lexically (no filesystem lookups: a symlinked cycle is caught
 * by the depth limit); anything else is a preset name. Cycles are detected
 * by those normalised paths and preset names.
 */
#include "policy_rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POLICY_BYTES (1u << 20)

const char *hs_pol_quote(char *out, size_t cap, const char *p, size_t n)
{
    size_t o = 0;
    const size_t max = 60;
    if (cap < 16) {
        if (cap)
            out[0] = '\0';
        return out;
    }
    out[o++] = '\'';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (o + 8 >= cap || i >= max) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c >= 0x7f || c == '\'') {
            if (c == '\'') {
                out[o++] = '\'';
            } else {
                snprintf(out + o, cap - o, "\\x%02X", c);
                o += 4;
            }
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '\'';
    out[o] = '\0';
    return out;
}

void hs_pol_diag(hs_parse_ctx *c, hs_diag_level lv, const char *file,
                 unsigned line, unsigned col, const char *fmt, ...)
{
    if (lv == HS_DIAG_ERROR)
        c->nerrors++;
    if (!c->diag)
        return;
    if (lv == HS_DIAG_ERROR && c->nerrors > HS_MAX_ERRORS) {
        if (c->nerrors == HS_MAX_ERRORS + 1) {
            hs_diag d = { lv, file, line, col,
                          "too many errors; not reporting more (is this a "
                          "policy file?)" };
            c->diag(c->diag_ctx, &d);
        }
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hs_diag d = { lv, file, line, col, msg };
    c->diag(c->diag_ctx, &d);
}

const char *hs_pol_keep(hs_parse_ctx *c, const char *s, size_t n)
{
    hs_policy *p = c->pol;
    if (p->nfiles == p->fcap) {
        size_t cap = p->fcap ? p->fcap * 2 : 8;
        char **nf = realloc(p->files, cap * sizeof *nf);
        if (!nf) {
            c->oom = true;
            return NULL;
        }
        p->files = nf;
        p->fcap = cap;
    }
    char *d = hs_pol_dup(s, n);
    if (!d) {
        c->oom = true;
        return NULL;
    }
    p->files[p->nfiles++] = d;
    return d;
}

static bool is_path(const char *s, size_t n)
{
    return memchr(s, '/', n) != NULL ||
           (n >= 7 && memcmp(s + n - 7, ".policy", 7) == 0);
}

/* dir + "/" + rel, then "." and ".." segments resolved lexically. */
static char *join_normalise(const char *dir, const char *rel, size_t rlen)
{
    size_t dlen = (dir && rel[0] != '/') ? strlen(dir) : 0;
    char *in = malloc(dlen + rlen + 2);
    char *out = malloc(dlen + rlen + 3);
    if (!in || !out) {
        free(in);
        free(out);
        return NULL;
    }
    memcpy(in, dir, dlen);
    size_t n = dlen;
    if (dlen)
        in[n++] = '/';
    memcpy(in + n, rel, rlen);
    n += rlen;
    bool abs = n && in[0] == '/';
    size_t o = 0, i = 0, fixed = 0; /* fixed: leading "../" that stay */
    if (abs)
        out[o++] = '/', fixed = 1;
    while (i < n) {
        while (i < n && in[i] == '/')
            i++;
        size_t s = i;
        while (i < n && in[i] != '/')
            i++;
        size_t sl = i - s;
        if (sl == 0 || (sl == 1 && in[s] == '.'))
            continue;
        if (sl == 2 && in[s] == '.' && in[s + 1] == '.') {
            if (o > fixed) {
                /* drop the last segment */
                size_t k = o;
                while (k > fixed && out[k - 1] == '/')
                    k--;
                while (k > fixed && out[k - 1] != '/')
                    k--;
                o = k;
                continue;
            }
            if (abs)
                continue;
            memcpy(out + o, "../", 3);
            o += 3;
            fixed = o;
            continue;
        }
        memcpy(out + o, in + s, sl);
        o += sl;
        out[o++] = '/';
    }
    if (o > 1 && out[o - 1] == '/')
        o--;
    if (o == 0)
        out[o++] = '.';
    out[o] = '\0';
    free(in);
    return out;
}

/* Directory part of a path, "" for none. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return hs_pol_dup("", 0);
    if (slash == path)
        return hs_pol_dup("/", 1);
    return hs_pol_dup(path, (size_t)(slash - path));
}

static bool on_stack(hs_parse_ctx *c, const char *key)
{
    for (size_t i = 0; i < c->nstack; i++)
        if (strcmp(c->stack[i], key) == 0)
            return true;
    return false;
}

static void preset_list(char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < hs_npresets && o + 2 < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ", " : "",
                              hs_presets[i].name);
}

/* Parses text under key (already checked against the stack). */
static void parse_under(hs_parse_ctx *c, char *key, const char *file,
                        const char *dir, const char *text, size_t len,
                        unsigned depth, hs_node *into)
{
    c->stack[c->nstack++] = key;
    hs_pol_parse_text(c, file, dir, text, len, depth, into);
    c->nstack--;
}

static bool load_file(hs_parse_ctx *c, const char *path, char **text,
                      size_t *len, char *why, size_t wcap)
{
    why[0] = '\0';
    if (!c->load) {
        snprintf(why, wcap, "cannot be read: no loader");
        return false;
    }
    *text = NULL;
    *len = 0;
    if (c->load(c->load_ctx, path, text, len, why, wcap) != 0) {
        free(*text);
        *text = NULL;
        if (!why[0])
            snprintf(why, wcap, "cannot be read");
        why[wcap - 1] = '\0';
        return false;
    }
    if (*len > MAX_POLICY_BYTES) {
        free(*text);
        *text = NULL;
        snprintf(why, wcap, "over 1 MiB");
        return false;
    }
    return true;
}

void hs_pol_include(hs_parse_ctx *c, const char *file, const hs_tok *arg,
                    const char *dir, unsigned depth, hs_node *into)
{
    char q[80], why[256];
    hs_pol_quote(q, sizeof q, arg->text, arg->len);
    if (depth + 1 > HS_MAX_INCLUDE_DEPTH) {
        hs_pol_diag(c, HS_DIAG_ERROR, file, arg->line, arg->col,
                    "cannot include %s: includes nest at most %d levels deep",
                    q, HS_MAX_INCLUDE_DEPTH);
        return;
    }
    if (!is_path(arg->text, arg->len)) {
        char name[64];
        const hs_preset *p = NULL;
        if (arg->len < sizeof name) {
            memcpy(name, arg->text, arg->len);
            name[arg->len] = '\0';
            if (!memchr(arg->text, '\0', arg->len))
                p = hs_preset_find(name);
        }
        if (!p) {
            char list[200];
            preset_list(list, sizeof list);
            hs_pol_diag(c, HS_DIAG_ERROR, file, arg->line, arg->col,
                        "unknown preset %s (the presets are %s; a path needs "
                        "a '/' or the .policy suffix)", q, list);
            return;
        }
        char key[80];
        snprintf(key, sizeof key, "preset:%s", p->name);
        if (on_stack(c, key)) {
            hs_pol_diag(c, HS_DIAG_ERROR, file, arg->line, arg->col,
                        "include cycle: %s is already being included", q);
            return;
        }
        char fname[80];
        snprintf(fname, sizeof fname, "%s.policy", p->name);
        const char *kf = hs_pol_keep(c, fname, strlen(fname));
        char *k = hs_pol_dup(key, strlen(key));
        if (!kf || !k) {
            free(k);
            c->oom = true;
            return;
        }
        parse_under(c, k, kf, NULL, p->source, p->source_len, depth + 1, into);
        free(k);
        return;
    }
    if (!dir) {
        hs_pol_diag(c, HS_DIAG_ERROR, file, arg->line, arg->col,
                    "cannot include %s: a preset may include only presets", q);
        return;
    }
    char *path = join_normalise(dir, arg->text, arg->len);
    if (!path) {
        c->oom = true;
        return;
    }
    if (on_stack(c, path)) {
        hs_pol_diag(c, HS_DIAG_ERROR, file, arg->line, arg->col,
                    "include cycle: %s is already being included", q);
        free(path);
        return;
    }
    char *text;
    size_t len;
    if (!load_file(c, path, &text, &len, why, sizeof why)) {
        /* A missing file is the include's error; anything else about the
         * file as a whole is reported at FILE:1:1 (POLICY.md "Errors"). */
        if (strstr(why, "No such file") || strstr(why, "no loader"))
            hs_pol_diag(c, HS_DIAG_ERROR, file, arg->line, arg->col,
                        "cannot include %s: %s", q, why);
        else
            hs_pol_diag(c, HS_DIAG_ERROR, hs_pol_keep(c, path, strlen(path)),
                        1, 1, "%s", why);
        free(path);
        return;
    }
    const char *kf = hs_pol_keep(c, path, strlen(path));
    char *d = dir_of(path);
    if (kf && d)
        parse_under(c, path, kf, d, text, len, depth + 1, into);
    else
        c->oom = true;
    free(d);
    free(text);
    free(path);
}

static hs_policy *finish(hs_parse_ctx *c)
{
    hs_policy *p = c->pol;
    if (c->oom || c->nerrors || !hs_pol_compile(p)) {
        hs_policy_free(p);
        return NULL;
    }
    return p;
}

static hs_policy *start(hs_parse_ctx *c, hs_load_fn load, void *load_ctx,
                        hs_diag_fn diag, void *diag_ctx)
{
    memset(c, 0, sizeof *c);
    c->load = load;
    c->load_ctx = load_ctx;
    c->diag = diag;
    c->diag_ctx = diag_ctx;
    c->pol = calloc(1, sizeof *c->pol);
    if (c->pol)
        c->pol->root.dir = HS_D_BLOCK;
    return c->pol;
}

static hs_policy *parse_top(hs_parse_ctx *c, const char *file,
                            const char *text, size_t len)
{
    const char *kf = hs_pol_keep(c, file, strlen(file));
    char *key = join_normalise("", file, strlen(file));
    char *d = dir_of(file);
    if (kf && key && d) {
        if (len > MAX_POLICY_BYTES)
            hs_pol_diag(c, HS_DIAG_ERROR, kf, 1, 1, "over 1 MiB");
        else
            parse_under(c, key, kf, d, text, len, 0, &c->pol->root);
    } else {
        c->oom = true;
    }
    free(key);
    free(d);
    return finish(c);
}

hs_policy *hs_policy_parse(const char *file, const char *text, size_t len,
                           hs_load_fn load, void *load_ctx, hs_diag_fn diag,
                           void *diag_ctx)
{
    hs_parse_ctx c;
    if (!start(&c, load, load_ctx, diag, diag_ctx))
        return NULL;
    return parse_top(&c, file ? file : "-", text ? text : "", text ? len : 0);
}

hs_policy *hs_policy_load(const char *spec, hs_load_fn load, void *load_ctx,
                          hs_diag_fn diag, void *diag_ctx)
{
    hs_parse_ctx c;
    if (!start(&c, load, load_ctx, diag, diag_ctx))
        return NULL;
    size_t sl = strlen(spec);
    if (is_path(spec, sl)) {
        char *text, why[256];
        size_t len;
        if (!load_file(&c, spec, &text, &len, why, sizeof why)) {
            hs_pol_diag(&c, HS_DIAG_ERROR, spec, 1, 1, "%s", why);
            return finish(&c);
        }
        hs_policy *p = parse_top(&c, spec, text, len);
        free(text);
        return p;
    }
    const hs_preset *pr = hs_preset_find(spec);
    if (!pr) {
        char list[200], q[80];
        preset_list(list, sizeof list);
        hs_pol_diag(&c, HS_DIAG_ERROR, spec, 1, 1,
                    "unknown preset %s (the presets are %s; a path needs a "
                    "'/' or the .policy suffix)",
                    hs_pol_quote(q, sizeof q, spec, sl), list);
        return finish(&c);
    }
    char fname[80], key[80];
    snprintf(fname, sizeof fname, "%s.policy", pr->name);
    snprintf(key, sizeof key, "preset:%s", pr->name);
    const char *kf = hs_pol_keep(&c, fname, strlen(fname));
    char *k = hs_pol_dup(key, strlen(key));
    if (kf && k)
        parse_under(&c, k, kf, NULL, pr->source, pr->source_len, 0,
                    &c.pol->root);
    else
        c.oom = true;
    free(k);
    return finish(&c);
}

void hs_policy_free(hs_policy *p)
{
    if (!p)
        return;
    hs_pol_program_free(p);
    hs_pol_node_free(&p->root);
    for (size_t i = 0; i < p->nfiles; i++)
        free(p->files[i]);
    free(p->files);
    free(p);
}
