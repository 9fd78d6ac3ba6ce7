/*
 * golden_assertions.h - what PRESETS.md promises, as a table and a checker
 * that knows nothing of the rewriter.
 *
 * The golden expected files say what the rewriter produced when someone
 * last reviewed it; this file says what the contract requires, so that a
 * wrong expected file cannot bless a wrong rewriter. It splits blocks itself
 * (no hs_block_parse), works out each response's class from its
 * Content-Type as the `auto` table does, and checks every header line of
 * the output against the class's rules. Header-only with static inline
 * functions so that tests/unit/test_golden.c and tests/fuzz/fuzz_rewrite.c
 * (which is built from its own file plus the core only) share it.
 */
#ifndef GOLDEN_ASSERTIONS_H
#define GOLDEN_ASSERTIONS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- presets */

typedef enum ga_preset { GA_STRIP, GA_API, GA_WEBSITE, GA_AUTO, GA_NPRESETS } ga_preset;

static inline const char *ga_preset_name(ga_preset p)
{
    static const char *const names[GA_NPRESETS] = {"strip", "api", "website", "auto"};
    return names[p];
}

/* The rule sets of PRESETS.md; `auto` picks one of the last four per
 * response. */
typedef enum ga_class {
    GA_CLASS_STRIP, GA_CLASS_API, GA_CLASS_WEBSITE,
    GA_CLASS_SCRIPT, GA_CLASS_STATIC, GA_CLASS_NONE, GA_NCLASSES
} ga_class;

static inline const char *ga_class_name(ga_class c)
{
    static const char *const names[GA_NCLASSES] = {
        "strip", "api", "website", "script", "static", "no-type"};
    return names[c];
}

typedef enum ga_kind {
    GA_SET_IF_TYPE,   /* `set` inside `unless content-type none` */
    GA_SET,
    GA_DEFAULT,       /* not on a 304 (RFC 9111 4.3.4) */
    GA_DEFAULT_TLS,   /* `default` under `when tls`; also on a 304 */
    GA_REMOVE,
} ga_kind;

typedef struct ga_rule {
    const char *name;        /* the policy's spelling */
    ga_kind kind;
    const char *value;
    const char *value_tls;   /* the value under tls, if it differs */
} ga_rule;

#define GA_HSTS "max-age=63072000"
#define GA_WEBSITE_CSP "default-src 'self'; img-src 'self' data:; " \
    "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; " \
    "form-action 'self'; frame-ancestors 'self'"

/* Rules of each class beyond strip's removals (PRESETS.md tables). The
 * list ends with a NULL name. */
static inline const ga_rule *ga_class_rules(ga_class c)
{
    static const ga_rule api[] = {
        {"X-Content-Type-Options", GA_SET_IF_TYPE, "nosniff", NULL},
        {"Strict-Transport-Security", GA_DEFAULT_TLS, GA_HSTS, NULL},
        {"Content-Security-Policy", GA_DEFAULT, "default-src 'none'; frame-ancestors 'none'", NULL},
        {"X-Frame-Options", GA_DEFAULT, "DENY", NULL},
        {"Cache-Control", GA_DEFAULT, "no-store", NULL},
        {"Referrer-Policy", GA_DEFAULT, "no-referrer", NULL},
        {"Cross-Origin-Resource-Policy", GA_DEFAULT, "same-origin", NULL},
        {"X-XSS-Protection", GA_REMOVE, NULL, NULL},
        {NULL, GA_SET, NULL, NULL},
    };
    static const ga_rule website[] = {
        {"X-Content-Type-Options", GA_SET_IF_TYPE, "nosniff", NULL},
        {"Strict-Transport-Security", GA_DEFAULT_TLS, GA_HSTS, NULL},
        {"Content-Security-Policy", GA_DEFAULT, GA_WEBSITE_CSP,
         GA_WEBSITE_CSP "; upgrade-insecure-requests"},
        {"X-Frame-Options", GA_DEFAULT, "SAMEORIGIN", NULL},
        {"Referrer-Policy", GA_DEFAULT, "strict-origin-when-cross-origin", NULL},
        {"Permissions-Policy", GA_DEFAULT, "accelerometer=(), camera=(), geolocation=(), "
         "gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()", NULL},
        {"Cross-Origin-Opener-Policy", GA_DEFAULT, "same-origin-allow-popups", NULL},
        {"Cross-Origin-Resource-Policy", GA_DEFAULT, "same-site", NULL},
        {"X-XSS-Protection", GA_SET, "0", NULL},
        {NULL, GA_SET, NULL, NULL},
    };
    static const ga_rule typed_asset[] = {  /* script and static */
        {"X-Content-Type-Options", GA_SET_IF_TYPE, "nosniff", NULL},
        {"Strict-Transport-Security", GA_DEFAULT_TLS, GA_HSTS, NULL},
        {NULL, GA_SET, NULL, NULL},
    };
    static const ga_rule no_type[] = {
        {"Strict-Transport-Security", GA_DEFAULT_TLS, GA_HSTS, NULL},
        {NULL, GA_SET, NULL, NULL},
    };
    static const ga_rule strip[] = {{NULL, GA_SET, NULL, NULL}};
    switch (c) {
    case GA_CLASS_API: return api;
    case GA_CLASS_WEBSITE: return website;
    case GA_CLASS_SCRIPT:
    case GA_CLASS_STATIC: return typed_asset;
    case GA_CLASS_NONE: return no_type;
    default: return strip;
    }
}

/* The `strip` remove list of PRESETS.md, as globs. */
static inline const char *const *ga_strip_globs(void)
{
    static const char *const globs[] = {
        "Server", "X-Powered-By", "X-Powered-By-Plesk", "X-Powered-CMS",
        "Powered-By", "X-Server-Powered-By", "X-AspNet-Version",
        "X-AspNetMvc-Version", "X-Php-Version", "X-Generator", "X-Generated-By",
        "X-Framework", "X-CMS", "X-Joomla-Version", "X-Umbraco-Version",
        "X-Cocoon-Version", "X-OWA-Version", "X-Jitsi-Release",
        "X-Woodpecker-Version", "X-Gitlab-Meta", "Liferay-Portal",
        "OracleCommerceCloud-Version", "Product", "X-Redirect-By",
        "X-Turbo-Charged-By", "X-Mod-Pagespeed", "X-Page-Speed",
        "X-Content-Encoded-By", "X-SourceFiles", "X-BEServer", "X-FEServer",
        "X-CalculatedBETarget", "X-Backside-Transport", "X-DiagInfo",
        "X-Old-Content-Length", "Host-Header", "K-Proxy-Request", "Pega-Host",
        "$wsep", "X-CF-Powered-By", "X-Varnish-*", "X-Kong-*", "X-Envoy-*",
        "X-B3-*", "X-Datadog-*", "X-Tyk-Trace-Id", "X-Kubernetes-PF-*",
        "X-dtAgentId", "X-dtHealthCheck", "X-dtInjectedServlet",
        "X-OneAgent-JS-Injection", "X-ruxit-JS-Agent", "X-LiteSpeed-Cache",
        NULL,
    };
    return globs;
}

/* ------------------------------------------------------------- utilities */

static inline char ga_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static inline bool ga_ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (ga_lower(a[i]) != ga_lower(b[i]))
            return false;
    return true;
}

static inline bool ga_ieqz(const char *a, size_t alen, const char *z)
{
    return ga_ieq(a, alen, z, strlen(z));
}

/* POLICY.md globs: `*` matches any run, the whole string must match. */
static inline bool ga_glob(const char *g, const char *s, size_t n)
{
    if (*g == '\0')
        return n == 0;
    if (*g == '*') {
        for (size_t skip = 0; skip <= n; skip++)
            if (ga_glob(g + 1, s + skip, n - skip))
                return true;
        return false;
    }
    return n > 0 && ga_lower(*g) == ga_lower(*s) && ga_glob(g + 1, s + 1, n - 1);
}

static inline bool ga_is_stripped(const char *name, size_t n)
{
    for (const char *const *g = ga_strip_globs(); *g; g++)
        if (ga_glob(*g, name, n))
            return true;
    return false;
}

/* ---------------------------------------------------------- block model */

#define GA_MAX_LINES 1024

typedef struct ga_line {
    const char *raw;         /* the whole line, its line ending included */
    size_t raw_len;
    const char *name;
    size_t name_len;
    const char *value;       /* trimmed of blanks */
    size_t value_len;
} ga_line;

typedef struct ga_block {
    const char *status_raw;  /* status line with its ending */
    size_t status_raw_len;
    int status;
    bool crlf;
    size_t n;
    ga_line lines[GA_MAX_LINES];
    size_t len;              /* through the blank line */
} ga_block;

/* Splits a complete block at LF; a line's name runs to its first colon.
 * Deliberately simple: it reads what this corpus and the fuzzer's accepted
 * blocks contain, nothing more. */
static inline bool ga_split(const char *p, size_t len, ga_block *b)
{
    memset(b, 0, sizeof *b);
    size_t i = 0;
    bool first = true;
    while (i < len) {
        const char *nl = memchr(p + i, '\n', len - i);
        if (!nl)
            return false;
        size_t end = (size_t)(nl - p) + 1, raw_len = end - i;
        size_t body = raw_len - 1;
        if (body > 0 && p[i + body - 1] == '\r')
            body--;
        if (first) {
            if (raw_len < 13 || memcmp(p, "HTTP/1.", 7) != 0)
                return false;
            b->status_raw = p;
            b->status_raw_len = raw_len;
            b->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
            b->crlf = body + 2 == raw_len;
            first = false;
        } else if (body == 0) {
            b->len = end;
            return true;
        } else {
            if (b->n == GA_MAX_LINES)
                return false;
            ga_line *l = &b->lines[b->n++];
            l->raw = p + i;
            l->raw_len = raw_len;
            const char *colon = memchr(p + i, ':', body);
            if (!colon)
                return false;
            l->name = p + i;
            l->name_len = (size_t)(colon - (p + i));
            size_t vs = (size_t)(colon - p) + 1, ve = i + body;
            while (vs < ve && (p[vs] == ' ' || p[vs] == '\t'))
                vs++;
            while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
                ve--;
            l->value = p + vs;
            l->value_len = ve - vs;
        }
        i = end;
    }
    return false;
}

static inline int ga_find(const ga_block *b, const char *name, size_t from)
{
    for (size_t i = from; i < b->n; i++)
        if (ga_ieqz(b->lines[i].name, b->lines[i].name_len, name))
            return (int)i;
    return -1;
}

/* POLICY.md "content-type": the first Content-Type line's media type,
 * parameters dropped, as a slice of the block (the globs below compare
 * case-insensitively, so no lowercased copy, and no length limit); length 0
 * for none or an empty value. */
static inline const char *ga_media_type(const ga_block *b, size_t *len)
{
    int i = ga_find(b, "Content-Type", 0);
    *len = 0;
    if (i < 0)
        return "";
    const ga_line *l = &b->lines[i];
    size_t end = l->value_len;
    const char *semi = memchr(l->value, ';', l->value_len);
    if (semi)
        end = (size_t)(semi - l->value);
    while (end > 0 && (l->value[end - 1] == ' ' || l->value[end - 1] == '\t'))
        end--;
    *len = end;
    return l->value;
}

/* PRESETS.md `auto`: the first matching row wins. */
static inline ga_class ga_auto_class(const char *mt, size_t n)
{
    static const char *const website[] = {"text/html", "application/xhtml+xml", NULL};
    static const char *const feed_svg[] = {"application/rss+xml", "application/x-rss+xml",
                                           "application/atom+xml", "image/svg+xml", NULL};
    static const char *const api[] = {"application/json", "application/*+json",
        "application/x-ndjson", "application/xml", "text/xml", "application/*+xml",
        "text/event-stream", NULL};
    static const char *const script[] = {"text/javascript", "application/javascript",
        "application/ecmascript", "application/wasm", NULL};
    if (n == 0)
        return GA_CLASS_NONE;
    const char *const *rows[] = {website, feed_svg, api, script};
    const ga_class cls[] = {GA_CLASS_WEBSITE, GA_CLASS_STATIC, GA_CLASS_API, GA_CLASS_SCRIPT};
    for (size_t r = 0; r < 4; r++)
        for (const char *const *g = rows[r]; *g; g++)
            if (ga_glob(*g, mt, n))
                return cls[r];
    return GA_CLASS_STATIC;
}

static inline ga_class ga_class_of(ga_preset p, const ga_block *in)
{
    size_t n;
    const char *mt;
    switch (p) {
    case GA_API: return GA_CLASS_API;
    case GA_WEBSITE: return GA_CLASS_WEBSITE;
    case GA_AUTO: mt = ga_media_type(in, &n); return ga_auto_class(mt, n);
    default: return GA_CLASS_STRIP;
    }
}

/* ------------------------------------------------------------- checking */

typedef struct ga_report {
    char msg[1024];
} ga_report;

static inline bool ga_fail(ga_report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    return false;
}

/* The lines of `name` with, for each, how many "passive" lines (neither a
 * rule's name nor stripped) precede it: equal lists mean the lines were
 * kept byte for byte at the same place. */
typedef struct ga_occurrences {
    size_t n;
    const ga_line *line[GA_MAX_LINES];
    size_t passive_before[GA_MAX_LINES];
} ga_occurrences;

static inline bool ga_rule_names(const ga_rule *rules, const char *name, size_t n)
{
    for (const ga_rule *r = rules; r->name; r++)
        if (ga_ieqz(name, n, r->name))
            return true;
    return false;
}

static inline bool ga_is_passive(const ga_rule *rules, const ga_line *l)
{
    return !ga_rule_names(rules, l->name, l->name_len) && !ga_is_stripped(l->name, l->name_len);
}

static inline void ga_collect(const ga_block *b, const ga_rule *rules, const char *name,
                              ga_occurrences *o)
{
    size_t passive = 0;
    o->n = 0;
    for (size_t i = 0; i < b->n; i++) {
        const ga_line *l = &b->lines[i];
        if (name ? ga_ieqz(l->name, l->name_len, name) : ga_is_passive(rules, l)) {
            o->line[o->n] = l;
            o->passive_before[o->n++] = passive;
        }
        if (ga_is_passive(rules, l))
            passive++;
    }
}

static inline size_t ga_passive_count(const ga_block *b, const ga_rule *rules)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        n += ga_is_passive(rules, &b->lines[i]);
    return n;
}

static inline bool ga_same_occurrences(const ga_occurrences *a, const ga_occurrences *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->passive_before[i] != b->passive_before[i] ||
            a->line[i]->raw_len != b->line[i]->raw_len ||
            memcmp(a->line[i]->raw, b->line[i]->raw, a->line[i]->raw_len) != 0)
            return false;
    return true;
}

/* True when the line is exactly "NAME: VALUE" with the block's ending. */
static inline bool ga_line_is(const ga_line *l, const char *name, const char *value, bool crlf)
{
    char want[1024];
    int n = snprintf(want, sizeof want, "%s: %s%s", name, value, crlf ? "\r\n" : "\n");
    return n > 0 && (size_t)n == l->raw_len && memcmp(want, l->raw, (size_t)n) == 0;
}

/* Everything PRESETS.md and POLICY.md promise about out = preset(in). */
static inline bool ga_check(ga_preset preset, bool tls, const char *in_p, size_t in_len,
                            const char *out_p, size_t out_len, ga_report *r)
{
    static ga_block in, out;   /* large; tests are single-threaded */
    static ga_occurrences oi, oo;
    if (!ga_split(in_p, in_len, &in) || in.len != in_len)
        return ga_fail(r, "input is not a complete block");
    if (!ga_split(out_p, out_len, &out) || out.len != out_len)
        return ga_fail(r, "output is not one complete block");
    if (out.status_raw_len != in.status_raw_len ||
        memcmp(out.status_raw, in.status_raw, in.status_raw_len) != 0)
        return ga_fail(r, "status line changed");
    /* POLICY.md: the block's line ending is the one that ends its status line. */
    const char *eol = in.crlf ? "\r\n" : "\n";
    size_t eol_len = strlen(eol);
    for (size_t i = 0; i < out.n; i++) {
        const ga_line *l = &out.lines[i];
        if (l->raw_len < eol_len || memcmp(l->raw + l->raw_len - eol_len, eol, eol_len) != 0 ||
            (!in.crlf && l->raw_len >= 2 && l->raw[l->raw_len - 2] == '\r'))
            return ga_fail(r, "line %zu '%.*s' does not end like the status line", i + 1,
                           (int)l->name_len, l->name);
    }
    if (memcmp(out_p + out_len - eol_len, eol, eol_len) != 0)
        return ga_fail(r, "blank line has the wrong ending");
    /* Interim responses are never rewritten. */
    if (in.status < 200) {
        if (out_len != in_len || memcmp(out_p, in_p, in_len) != 0)
            return ga_fail(r, "a %d response was changed", in.status);
        return true;
    }

    ga_class cls = ga_class_of(preset, &in);
    const ga_rule *rules = ga_class_rules(cls);
    size_t type_len;
    ga_media_type(&in, &type_len);
    bool has_type = type_len > 0;
    bool not_modified = in.status == 304;

    /* Fingerprinting headers are gone, in every preset and class. */
    for (size_t i = 0; i < out.n; i++)
        if (ga_is_stripped(out.lines[i].name, out.lines[i].name_len))
            return ga_fail(r, "[%s] fingerprinting header '%.*s' kept", ga_class_name(cls),
                           (int)out.lines[i].name_len, out.lines[i].name);

    /* Every other line the rules do not name is copied byte for byte, in
     * order: Set-Cookie lines never folded, CORS never invented or lost,
     * nothing the class does not list added. */
    ga_collect(&in, rules, NULL, &oi);
    ga_collect(&out, rules, NULL, &oo);
    if (oi.n != oo.n)
        return ga_fail(r, "[%s] %zu untouched lines in, %zu out", ga_class_name(cls), oi.n, oo.n);
    for (size_t i = 0; i < oi.n; i++)
        if (oi.line[i]->raw_len != oo.line[i]->raw_len ||
            memcmp(oi.line[i]->raw, oo.line[i]->raw, oi.line[i]->raw_len) != 0)
            return ga_fail(r, "[%s] untouched line %zu '%.*s' changed or moved", ga_class_name(cls),
                           i + 1, (int)oi.line[i]->name_len, oi.line[i]->name);
    size_t passive_total = ga_passive_count(&in, rules);

    for (const ga_rule *rule = rules; rule->name; rule++) {
        ga_collect(&in, rules, rule->name, &oi);
        ga_collect(&out, rules, rule->name, &oo);
        const char *value = (tls && rule->value_tls) ? rule->value_tls : rule->value;
        enum { KEEP, ABSENT, EXACT } want = KEEP;
        switch (rule->kind) {
        case GA_REMOVE: want = ABSENT; break;
        case GA_SET: want = EXACT; break;
        case GA_SET_IF_TYPE: want = has_type ? EXACT : KEEP; break;
        case GA_DEFAULT: want = (!not_modified && oi.n == 0) ? EXACT : KEEP; break;
        case GA_DEFAULT_TLS: want = (tls && oi.n == 0) ? EXACT : KEEP; break;
        }
        const char *c = ga_class_name(cls);
        if (want == ABSENT && oo.n != 0)
            return ga_fail(r, "[%s] %s must be removed", c, rule->name);
        if (want == KEEP && !ga_same_occurrences(&oi, &oo))
            return ga_fail(r, "[%s] %s must be left as the application sent it (%zu lines in, %zu out)",
                           c, rule->name, oi.n, oo.n);
        if (want == EXACT) {
            if (oo.n != 1)
                return ga_fail(r, "[%s] want one %s line, got %zu", c, rule->name, oo.n);
            if (!ga_line_is(oo.line[0], rule->name, value, in.crlf))
                return ga_fail(r, "[%s] want '%s: %s', got '%.*s'", c, rule->name, value,
                               (int)oo.line[0]->raw_len, oo.line[0]->raw);
            /* `set` keeps the first line's place; added lines go last. */
            size_t want_before = oi.n ? oi.passive_before[0] : passive_total;
            if (oo.passive_before[0] != want_before)
                return ga_fail(r, "[%s] %s at the wrong place (%zu untouched lines before it, want %zu)",
                               c, rule->name, oo.passive_before[0], want_before);
            if (oi.n == 0) {
                /* An added line follows every line the application wrote. */
                size_t added_at = (size_t)(oo.line[0] - out.lines);
                for (size_t i = added_at + 1; i < out.n; i++)
                    for (size_t j = 0; j < in.n; j++)
                        if (in.lines[j].raw_len == out.lines[i].raw_len &&
                            memcmp(in.lines[j].raw, out.lines[i].raw, out.lines[i].raw_len) == 0)
                            return ga_fail(r, "[%s] added %s comes before the application's line '%.*s'",
                                           c, rule->name, (int)out.lines[i].name_len, out.lines[i].name);
            }
        }
    }
    return true;
}

/* For the fuzzer: lines whose names no preset touches (neither stripped nor
 * named by any class) come out byte for byte and in order, whatever the
 * preset and flags. */
static inline bool ga_check_untouched(const char *in_p, size_t in_len, const char *out_p,
                                      size_t out_len, ga_report *r)
{
    static ga_block in, out;
    static const ga_rule all[] = {
        {"X-Content-Type-Options", GA_SET, NULL, NULL},
        {"Strict-Transport-Security", GA_SET, NULL, NULL},
        {"Content-Security-Policy", GA_SET, NULL, NULL},
        {"Content-Security-Policy-Report-Only", GA_SET, NULL, NULL},
        {"X-Frame-Options", GA_SET, NULL, NULL},
        {"Cache-Control", GA_SET, NULL, NULL},
        {"Referrer-Policy", GA_SET, NULL, NULL},
        {"Permissions-Policy", GA_SET, NULL, NULL},
        {"Cross-Origin-Opener-Policy", GA_SET, NULL, NULL},
        {"Cross-Origin-Resource-Policy", GA_SET, NULL, NULL},
        {"X-XSS-Protection", GA_SET, NULL, NULL},
        {NULL, GA_SET, NULL, NULL},
    };
    static ga_occurrences oi, oo;
    if (!ga_split(in_p, in_len, &in) || !ga_split(out_p, out_len, &out))
        return ga_fail(r, "cannot split");
    ga_collect(&in, all, NULL, &oi);
    ga_collect(&out, all, NULL, &oo);
    if (oi.n != oo.n)
        return ga_fail(r, "%zu untouched lines in, %zu out", oi.n, oo.n);
    for (size_t i = 0; i < oi.n; i++)
        if (oi.line[i]->raw_len != oo.line[i]->raw_len ||
            memcmp(oi.line[i]->raw, oo.line[i]->raw, oi.line[i]->raw_len) != 0)
            return ga_fail(r, "untouched line %zu changed", i + 1);
    return true;
}

#endif /* GOLDEN_ASSERTIONS_H */
