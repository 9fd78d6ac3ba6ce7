/*
 * test_policy_util.h - helpers shared by the policy and rewrite unit tests:
 * a diagnostics collector, an in-memory file system for the loader, and
 * one-call parse/rewrite wrappers. Header-only (static functions) so each
 * test program stays one file for the Makefile.
 */
#ifndef TEST_POLICY_UTIL_H
#define TEST_POLICY_UTIL_H

#include "headershim.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- diagnostics -------------------------------------------------------- */

typedef struct diags {
    char text[16384];
    size_t len;
    int errors, warnings;
} diags;

static inline void diag_collect(void *ctx, const hs_diag *d)
{
    diags *g = ctx;
    if (d->level == HS_DIAG_ERROR)
        g->errors++;
    else
        g->warnings++;
    int n = snprintf(g->text + g->len, sizeof g->text - g->len,
                     "%s:%u:%u: %s%s\n", d->file, d->line, d->col,
                     d->level == HS_DIAG_WARNING ? "warning: " : "",
                     d->message);
    if (n > 0 && (size_t)n < sizeof g->text - g->len)
        g->len += (size_t)n;
}

/* ---- an in-memory file system ------------------------------------------ */

typedef struct fake_file {
    const char *path;
    const char *text;       /* NULL: "not a regular file" */
} fake_file;

typedef struct fake_fs {
    const fake_file *files;
    size_t n;
    int loads;
} fake_fs;

static inline int fake_load(void *ctx, const char *path, char **text, size_t *len,
                     char *why, size_t why_len)
{
    fake_fs *fs = ctx;
    fs->loads++;
    for (size_t i = 0; i < fs->n; i++) {
        if (strcmp(fs->files[i].path, path) != 0)
            continue;
        if (!fs->files[i].text) {
            snprintf(why, why_len, "not a regular file");
            return -1;
        }
        *len = strlen(fs->files[i].text);
        *text = malloc(*len + 1);
        memcpy(*text, fs->files[i].text, *len + 1);
        return 0;
    }
    snprintf(why, why_len, "cannot be read: No such file or directory");
    return -1;
}

/* A preset by name, with no file around it to load. */
static inline hs_policy *load_preset(const char *name)
{
    static fake_fs none;
    return hs_policy_load(name, fake_load, &none, NULL, NULL);
}

/* ---- parse helpers ------------------------------------------------------ */

static inline hs_policy *parse_fs(const char *text, fake_fs *fs, diags *d)
{
    memset(d, 0, sizeof *d);
    return hs_policy_parse("t.policy", text, strlen(text), fs ? fake_load : NULL,
                           fs, diag_collect, d);
}

/* Parses text that must be valid (warnings allowed). */
static inline hs_policy *parse_ok(const char *text)
{
    diags d;
    hs_policy *p = parse_fs(text, NULL, &d);
    ck_assert_msg(p != NULL, "policy refused:\n%s\n---\n%s", d.text, text);
    ck_assert_int_eq(d.errors, 0);
    return p;
}

/* Parses text that must fail; returns the diagnostics (static buffer). */
static inline const char *parse_errors(const char *text)
{
    static diags d;
    hs_policy *p = parse_fs(text, NULL, &d);
    ck_assert_msg(p == NULL, "policy accepted:\n%s", text);
    ck_assert_int_gt(d.errors, 0);
    return d.text;
}

/* Diagnostics (warnings) of a valid policy. */
static inline const char *parse_warnings(const char *text)
{
    static diags d;
    hs_policy *p = parse_fs(text, NULL, &d);
    ck_assert_msg(p != NULL, "policy refused:\n%s", d.text);
    hs_policy_free(p);
    return d.text;
}

#define ck_assert_diag(text, expected) \
    ck_assert_str_eq(parse_errors(text), expected)

static inline char *format_policy(const hs_policy *p)
{
    hs_buf b = { 0 };
    ck_assert(hs_policy_format(p, &b));
    ck_assert(hs_buf_append(&b, "", 1));
    return b.p;
}

/* ---- rewrite helpers ---------------------------------------------------- */

typedef struct rw_result {
    hs_rewrite_status status;
    char out[65536];
    hs_changes changes;
} rw_result;

static inline hs_request no_request(void)
{
    hs_request r;
    memset(&r, 0, sizeof r);
    r.port = -1;
    return r;
}

static inline hs_request get_request(const char *path)
{
    hs_request r = no_request();
    r.has_request = true;
    r.method = (hs_str){ "GET", 3 };
    r.path_ok = true;
    r.path = (hs_str){ path, strlen(path) };
    return r;
}

/* Rewrites block (which must parse) and returns the wire bytes: the new
 * block when changed, the input otherwise. */
static inline const char *rewrite_with(const hs_policy *p, const char *block,
                                const hs_request *req,
                                const hs_rewrite_opts *opts, rw_result *r)
{
    static hs_block b;
    const char *why = NULL;
    size_t len = strlen(block);
    ck_assert_uint_eq(hs_block_end(block, len, 0), len);
    ck_assert_msg(hs_block_parse(block, len, &b, &why) == HS_BLOCK_OK,
                  "block refused: %s", why ? why : "?");
    hs_buf out = { 0 };
    r->status = hs_rewrite(p, opts, &b, req, &out, &r->changes);
    if (r->status == HS_REWRITE_CHANGED) {
        ck_assert_uint_lt(out.len, sizeof r->out);
        memcpy(r->out, out.p, out.len);
        r->out[out.len] = '\0';
    } else {
        ck_assert_uint_eq(out.len, 0);
        snprintf(r->out, sizeof r->out, "%s", block);
    }
    hs_buf_free(&out);
    return r->out;
}

static inline const char *apply_req(const char *policy, const char *block,
                             const hs_request *req)
{
    static rw_result r;
    hs_policy *p = parse_ok(policy);
    rewrite_with(p, block, req, NULL, &r);
    hs_policy_free(p);
    return r.out;
}

static inline const char *apply(const char *policy, const char *block)
{
    hs_request req = no_request();
    return apply_req(policy, block, &req);
}

#endif /* TEST_POLICY_UTIL_H */
