/*
 * fuzz_rewrite.c - libFuzzer harness for the rewriter.
 *
 * Input: the first byte picks the preset and the options, the rest is a
 * response header block (anything up to its blank line; bytes after it are
 * ignored, as a body would be).
 *   bits 0-1  preset: strip, api, website, auto
 *   bit  2    tls
 *   bit  3    HEADERSHIM_CSP=report-only
 *   bits 4-5  max_output: default (8192), 64, 512, 2048
 *   bit  6    a request is known (else request subjects match nothing)
 *
 * Properties, any of which aborts:
 *   - nothing crashes or leaks, whatever the block (ASan, UBSan);
 *   - a 1xx is never rewritten, every final response gets a final status;
 *   - a CHANGED block parses again as HS_BLOCK_OK with the same status
 *     line, the same line ending, the same framing, and fits max_output;
 *   - lines whose names no preset touches are copied byte for byte and in
 *     order (golden_assertions.h);
 *   - the presets are idempotent: rewriting the output changes nothing;
 *   - a rewrite from a plan (the same block again) and one without plans
 *     give the same status, bytes and change record;
 *   - read against the shape the previous input left, a block reads as
 *     hs_block_parse_stream reads it, and where the steady way
 *     (hs_rewrite_steady) takes it, it gives the bytes, length and framing
 *     of hs_block_parse_shaped and hs_rewrite_shaped;
 *   - with default options, the whole of PRESETS.md holds (ga_check).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "headershim.h"
#include "policy_rules.h"   /* hs_plan_cache_free */
#include "../unit/golden_assertions.h"
#include "../unit/shaped_reading.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int no_files(void *ctx, const char *path, char **text, size_t *len, char *why,
                    size_t why_len)
{
    (void)ctx;
    (void)path;
    (void)text;
    (void)len;
    snprintf(why, why_len, "the fuzzer reads no files");
    return -1;
}

static void quiet(void *ctx, const hs_diag *d)
{
    (void)ctx;
    (void)d;
}

static hs_policy *preset(ga_preset p)
{
    static hs_policy *loaded[GA_NPRESETS];
    if (!loaded[p]) {
        loaded[p] = hs_policy_load(ga_preset_name(p), no_files, NULL, quiet, NULL);
        if (!loaded[p]) {
            fprintf(stderr, "fuzz_rewrite: preset %s does not load\n", ga_preset_name(p));
            abort();
        }
    }
    return loaded[p];
}

/* The same preset without plans (rewrite_plan.c): the directives run on
 * every block, the reference a plan's output must equal. */
static hs_policy *preset_without_plans(ga_preset p)
{
    static hs_policy *loaded[GA_NPRESETS];
    if (!loaded[p]) {
        loaded[p] = hs_policy_load(ga_preset_name(p), no_files, NULL, quiet, NULL);
        if (!loaded[p])
            abort();
        hs_plan_cache_free(loaded[p]);
    }
    return loaded[p];
}

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "fuzz_rewrite: " __VA_ARGS__);                \
            fputc('\n', stderr);                                          \
            abort();                                                      \
        }                                                                 \
    } while (0)

static bool same_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hs_block in, out;
    if (size < 2)
        return 0;
    unsigned flags = data[0];
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;

    ga_preset p = (ga_preset)(flags & 3u);
    bool tls = flags & 4u;
    static const size_t max_outputs[4] = {0, 64, 512, 2048};
    hs_rewrite_opts o = {.csp_report_only = (flags & 8u) != 0,
                         .max_output = max_outputs[(flags >> 4) & 3u]};
    size_t max_output = o.max_output ? o.max_output : 8192;

    /* Shapes: read against the shape the last input of this preset left,
     * a block (and the bytes after it) reads as hs_block_parse_stream
     * reads it. libFuzzer's inputs follow each other closely, so the shape
     * often fits. */
    static hs_shape last_shape[GA_NPRESETS];
    static hs_block shaped, plain;
    const char *w1 = NULL, *w2 = NULL;
    hs_block_status s1 = hs_block_parse_shaped(last_shape[p], buf, len, &shaped, &w1);
    hs_block_status s2 = hs_block_parse_stream(buf, len, &plain, &w2);
    CHECK(s1 == s2 && w1 == w2, "shaped and plain readings differ (%d / %d)", (int)s1,
          (int)s2);
    if (s1 == HS_BLOCK_OK) {
        const char *differs = shaped_reading_differs(&shaped, &plain);
        CHECK(!differs, "the shaped reading differs from the plain one in %s", differs);
    }

    hs_request req = {0};
    req.port = -1;
    req.tls = tls;
    if (flags & 64u) {
        req.has_request = true;
        req.method = (hs_str){"GET", 3};
        req.path_ok = true;
        req.path = (hs_str){"/", 1};
        req.has_host = true;
        req.host = (hs_str){"example.com", 11};
        req.port = 443;
    }

    /* The steady way, against the same shape: the general way's result. */
    struct iovec piece[HS_STEADY_PIECES];
    hs_steady sy = {.tls = tls, .piece = piece};
    if (hs_rewrite_steady(preset(p), &o, last_shape[p], buf, len, &sy)) {
        CHECK(s1 == HS_BLOCK_OK && shaped.len == sy.len && shaped.status == sy.status,
              "the steady way read a block the shaped reading does not");
        hs_block with_facts = shaped;
        with_facts.shape_facts = sy.facts;
        for (int m = HS_METHOD_NONE; m <= HS_METHOD_CONNECT; m++) {
            hs_framing g = hs_response_framing(&shaped, (hs_method_kind)m);
            hs_framing f = hs_response_framing(&with_facts, (hs_method_kind)m);
            CHECK(g.kind == f.kind && g.length == f.length && g.close_after == f.close_after,
                  "the steady way frames the block otherwise");
            if (m == HS_METHOD_OTHER)
                CHECK(g.kind == sy.framing_other->kind &&
                          g.length == sy.framing_other->length &&
                          g.close_after == sy.framing_other->close_after,
                      "the steady way's framing for a GET differs");
        }
        hs_buf general = {0};
        hs_shape next = NULL;
        CHECK(hs_rewrite_shaped(preset(p), &o, &shaped, &req, &general, NULL, &next) ==
                  HS_REWRITE_CHANGED && next == last_shape[p],
              "the steady way rewrote a block the general way does not");
        size_t at = 0;
        for (int i = 0; i < sy.npieces; i++) {
            CHECK(at + piece[i].iov_len <= general.len &&
                      memcmp(general.p + at, piece[i].iov_base, piece[i].iov_len) == 0,
                  "the steady way's piece %d differs from the general way's bytes", i);
            at += piece[i].iov_len;
        }
        CHECK(at == general.len && sy.out_len == general.len,
              "the steady way's block has another length");
        hs_buf_free(&general);
    }

    size_t end = hs_block_end(buf, len, 0);
    if (end == 0)
        return 0;
    if (hs_block_parse(buf, end, &in, NULL) != HS_BLOCK_OK)
        return 0;

    hs_buf once = {0};
    hs_changes changes;
    hs_rewrite_status st =
        hs_rewrite_shaped(preset(p), &o, &in, &req, &once, &changes, &last_shape[p]);
    if (in.status < 200) {
        CHECK(st == HS_REWRITE_INTERIM, "a %d response got status %d", in.status, (int)st);
    } else {
        CHECK(st == HS_REWRITE_CHANGED || st == HS_REWRITE_UNCHANGED ||
              st == HS_REWRITE_TOO_LARGE || st == HS_REWRITE_NO_MEMORY,
              "a final response got status %d", (int)st);
    }
    CHECK(changes.nremoved <= HS_CHANGE_MAX && changes.nset <= HS_CHANGE_MAX &&
          changes.nadded <= HS_CHANGE_MAX, "change record over its cap");

    /* Plans: the block again (from the plan its shape now has, if any)
     * and without plans give what the first rewrite gave. */
    for (int k = 0; k < 2; k++) {
        hs_buf again = {0};
        hs_changes c2;
        hs_policy *pol = k == 0 ? preset(p) : preset_without_plans(p);
        hs_rewrite_status s2 = hs_rewrite(pol, &o, &in, &req, &again, &c2);
        CHECK(s2 == st && same_bytes(again.p, again.len, once.p, once.len),
              "%s: a plan and the directives disagree (status %d / %d)",
              ga_preset_name(p), (int)s2, (int)st);
        if (st == HS_REWRITE_CHANGED) {
            CHECK(c2.nremoved == changes.nremoved && c2.nset == changes.nset &&
                      c2.nadded == changes.nadded && c2.truncated == changes.truncated,
                  "a plan and the directives record different changes");
            for (size_t i = 0; i < c2.nremoved; i++)
                CHECK(same_bytes(c2.removed[i].p, c2.removed[i].len, changes.removed[i].p,
                                 changes.removed[i].len), "removed names differ");
            for (size_t i = 0; i < c2.nset; i++)
                CHECK(same_bytes(c2.set[i].p, c2.set[i].len, changes.set[i].p,
                                 changes.set[i].len), "set names differ");
            for (size_t i = 0; i < c2.nadded; i++)
                CHECK(same_bytes(c2.added[i].p, c2.added[i].len, changes.added[i].p,
                                 changes.added[i].len), "added names differ");
        }
        hs_buf_free(&again);
    }
    if (st != HS_REWRITE_CHANGED) {
        CHECK(once.len == 0, "status %d with output written", (int)st);
        hs_buf_free(&once);
        return 0;
    }

    CHECK(once.len <= max_output, "output %zu over max_output %zu", once.len, max_output);
    const char *why = NULL;
    CHECK(hs_block_parse(once.p, once.len, &out, &why) == HS_BLOCK_OK,
          "the rewritten block does not parse: %s", why ? why : "?");
    CHECK(out.len == once.len, "the rewritten block is not one block");
    CHECK(out.status == in.status && out.crlf == in.crlf && out.minor == in.minor,
          "status or line ending changed");
    CHECK(same_bytes(once.p, out.status_line_len, buf, in.status_line_len),
          "status line changed");
    hs_framing fa = hs_response_framing(&in, HS_METHOD_OTHER);
    hs_framing fb = hs_response_framing(&out, HS_METHOD_OTHER);
    CHECK(fa.kind == fb.kind && fa.length == fb.length && fa.close_after == fb.close_after,
          "framing changed");

    ga_report rep;
    CHECK(ga_check_untouched(buf, end, once.p, once.len, &rep), "%s", rep.msg);
    if (!o.csp_report_only && o.max_output == 0)
        CHECK(ga_check(p, tls, buf, end, once.p, once.len, &rep), "%s%s: %s",
              ga_preset_name(p), tls ? " tls" : "", rep.msg);

    /* Idempotence (POLICY.md: the presets are written to be). With
     * report-only, a defaulted CSP is written under another name, so a
     * second pass may legitimately add it again. */
    if (!o.csp_report_only) {
        hs_buf twice = {0};
        hs_rewrite_status st2 = hs_rewrite(preset(p), &o, &out, &req, &twice, NULL);
        CHECK(st2 == HS_REWRITE_UNCHANGED ||
              (st2 == HS_REWRITE_CHANGED && same_bytes(twice.p, twice.len, once.p, once.len)),
              "%s%s not idempotent (second status %d)", ga_preset_name(p), tls ? " tls" : "",
              (int)st2);
        hs_buf_free(&twice);
    }
    hs_buf_free(&once);
    return 0;
}
