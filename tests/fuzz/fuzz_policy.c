/*
 * fuzz_policy.c - random policy text: parse, format, parse the format
 * again (it must be accepted and format identically), and apply the policy
 * to a few blocks. Must never crash, leak, or loop.
 */
#include "headershim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Includes resolve in a tiny fixed file system; one file includes itself
 * and one includes a preset, so cycles and nesting get exercised. */
static int load(void *ctx, const char *path, char **text, size_t *len,
                char *why, size_t why_len)
{
    (void)ctx;
    static const struct { const char *path, *text; } files[] = {
        { "a.policy", "set X-A 1\ninclude b.policy\n" },
        { "b.policy", "when status 2xx {\n include api\n}\n" },
        { "self.policy", "include self.policy\n" },
        { "d/e.policy", "include ../a.policy\nremove X-*\n" },
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (strcmp(files[i].path, path) == 0) {
            *len = strlen(files[i].text);
            *text = malloc(*len + 1);
            if (!*text)
                return -1;
            memcpy(*text, files[i].text, *len + 1);
            return 0;
        }
    }
    snprintf(why, why_len, "cannot be read: No such file or directory");
    return -1;
}

static void no_diag(void *ctx, const hs_diag *d)
{
    (void)ctx;
    /* messages must be well-formed strings with a position */
    if (!d->message || !d->file || d->line == 0 || d->col == 0)
        abort();
    if (strlen(d->message) > 600)
        abort();
}

static const char *const blocks[] = {
    "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Type: application/json\r\n"
    "Set-Cookie: a=b; Path=/\r\nX-A: 1\r\nContent-Length: 2\r\n\r\n",
    "HTTP/1.0 404 Not Found\nContent-Type: text/html\nX-Powered-By: y\nVary: a, b\n\n",
    "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
};

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    hs_policy *p = hs_policy_parse("fuzz.policy", (const char *)data, size,
                                   load, NULL, no_diag, NULL);
    if (!p)
        return 0;
    hs_buf f1 = { 0 }, f2 = { 0 };
    if (!hs_policy_format(p, &f1))
        abort();
    hs_policy *q = hs_policy_parse("fuzz.policy", f1.p ? f1.p : "", f1.len,
                                   load, NULL, no_diag, NULL);
    if (!q) {
        fprintf(stderr, "formatted policy refused:\n%.*s\n", (int)f1.len, f1.p);
        abort();
    }
    if (!hs_policy_format(q, &f2) || f1.len != f2.len ||
        (f1.len && memcmp(f1.p, f2.p, f1.len) != 0)) {
        fprintf(stderr, "format not stable:\n%.*s\n---\n%.*s\n", (int)f1.len,
                f1.p, (int)f2.len, f2.p);
        abort();
    }
    (void)hs_policy_needs(p);
    hs_request req;
    memset(&req, 0, sizeof req);
    req.has_request = true;
    req.method = (hs_str){ "GET", 3 };
    req.path_ok = true;
    req.path = (hs_str){ "/api/x.json", 11 };
    req.has_host = true;
    req.host = (hs_str){ "example.com", 11 };
    req.port = 8080;
    req.tls = size & 1;
    static hs_block b;
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        size_t len = strlen(blocks[i]);
        if (hs_block_parse(blocks[i], len, &b, NULL) != HS_BLOCK_OK)
            abort();
        hs_rewrite_opts o = { (size & 2) != 0, 0 };
        hs_buf out = { 0 };
        hs_changes ch;
        hs_rewrite_status st = hs_rewrite(p, &o, &b, &req, &out, &ch);
        if (st == HS_REWRITE_CHANGED) {
            /* the result must itself be a block the parser accepts */
            static hs_block b2;
            if (hs_block_end(out.p, out.len, 0) != out.len ||
                hs_block_parse(out.p, out.len, &b2, NULL) != HS_BLOCK_OK) {
                fprintf(stderr, "bad output:\n%.*s\n", (int)out.len, out.p);
                abort();
            }
        } else if (out.len != 0) {
            abort();
        }
        hs_buf_free(&out);
    }
    hs_buf_free(&f1);
    hs_buf_free(&f2);
    hs_policy_free(p);
    hs_policy_free(q);
    return 0;
}
