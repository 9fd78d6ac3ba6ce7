/*
 * test_golden.c - every golden input through every preset, with and
 * without tls, through the public API.
 *
 * Four things are checked for each (input, preset, tls):
 *   1. the output equals tests/golden/expected/<input>.<preset>[-tls].http
 *      byte for byte (the reviewed record);
 *   2. the output satisfies PRESETS.md as golden_assertions.h reads it,
 *      independently of the expected files;
 *   3. rewriting the output again changes nothing (POLICY.md: the presets
 *      are idempotent), and says so (HS_REWRITE_UNCHANGED);
 *   4. the framing the client sees is the one the application wrote.
 * Plus HEADERSHIM_CSP=report-only, HEADERSHIM_MAX_OUTPUT at its exact
 * boundary and the change record, on the same inputs.
 *
 * HS_GOLDEN_UPDATE=1 writes the expected files instead of testing (see
 * tests/golden/README.md: every regenerated file must be READ against
 * PRESETS.md before it is committed). HS_GOLDEN_DIR overrides where the
 * corpus is (default: tests/golden, found from the working directory or
 * from this file's path).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "headershim.h"
#include "golden_assertions.h"
#include "shaped_reading.h"
#include "rewrite_internal.h"   /* hs_plan_find: did a plan answer? */

#define MAX_INPUTS 256

typedef struct golden_input {
    char stem[128];
    char *bytes;
    size_t len;
} golden_input;

static char golden_dir[1024];
static golden_input inputs[MAX_INPUTS];
static size_t ninputs;
static hs_policy *policies[GA_NPRESETS];

/* ------------------------------------------------------------ file I/O */

static char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    hs_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (!hs_buf_append(&b, chunk, n)) {
            fclose(f);
            hs_buf_free(&b);
            return NULL;
        }
    fclose(f);
    if (!hs_buf_append(&b, "", 1)) { /* NUL after the bytes, not counted */
        hs_buf_free(&b);
        return NULL;
    }
    *len = b.len - 1;
    return b.p;
}

static int load_file(void *ctx, const char *path, char **text, size_t *len, char *why,
                     size_t why_len)
{
    (void)ctx;
    *text = read_whole(path, len);
    if (!*text) {
        snprintf(why, why_len, "cannot be read: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void print_diag(void *ctx, const hs_diag *d)
{
    (void)ctx;
    fprintf(stderr, "%s:%u:%u: %s%s\n", d->file, d->line, d->col,
            d->level == HS_DIAG_WARNING ? "warning: " : "", d->message);
}

static int by_stem(const void *a, const void *b)
{
    return strcmp(((const golden_input *)a)->stem, ((const golden_input *)b)->stem);
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void find_golden_dir(void)
{
    const char *env = getenv("HS_GOLDEN_DIR");
    if (env) {
        snprintf(golden_dir, sizeof golden_dir, "%s", env);
        return;
    }
    if (is_dir("tests/golden/inputs")) {
        snprintf(golden_dir, sizeof golden_dir, "tests/golden");
        return;
    }
    /* Run from elsewhere: __FILE__ is tests/unit/test_golden.c, relative
     * to the top of the tree or absolute. */
    const char *slash = strrchr(__FILE__, '/');
    int dlen = slash ? (int)(slash - __FILE__) : 1;
    snprintf(golden_dir, sizeof golden_dir, "%.*s/../golden", dlen, slash ? __FILE__ : ".");
}

static void load_inputs(void)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/inputs", golden_dir);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "test_golden: cannot open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".http") != 0)
            continue;
        if (ninputs == MAX_INPUTS || n - 5 >= sizeof inputs[0].stem) {
            fprintf(stderr, "test_golden: too many inputs or name too long: %s\n", e->d_name);
            exit(1);
        }
        golden_input *in = &inputs[ninputs++];
        snprintf(in->stem, sizeof in->stem, "%.*s", (int)(n - 5), e->d_name);
        snprintf(path, sizeof path, "%s/inputs/%s", golden_dir, e->d_name);
        in->bytes = read_whole(path, &in->len);
        if (!in->bytes) {
            fprintf(stderr, "test_golden: cannot read %s\n", path);
            exit(1);
        }
    }
    closedir(d);
    qsort(inputs, ninputs, sizeof inputs[0], by_stem);
}

/* tls variants exist for the presets that write HSTS; strip under tls must
 * equal strip without it. */
static void expected_path(char *out, size_t cap, const golden_input *in, ga_preset p, bool tls)
{
    bool tls_file = tls && p != GA_STRIP;
    int n = snprintf(out, cap, "%s/expected/%s.%s%s.http", golden_dir, in->stem,
                     ga_preset_name(p), tls_file ? "-tls" : "");
    if (n < 0 || (size_t)n >= cap)
        abort();
}

/* ------------------------------------------------------------ rewriting */

typedef struct result {
    hs_rewrite_status status;
    hs_buf out;              /* the bytes that go on the wire */
    hs_changes changes;
    hs_block block;          /* the input, parsed */
} result;

static hs_request request_for(bool tls)
{
    hs_request r = {0};
    r.has_request = true;
    r.method = (hs_str){"GET", 3};
    r.path_ok = true;
    r.path = (hs_str){"/", 1};
    r.has_host = true;
    r.host = (hs_str){"example.com", 11};
    r.port = 8080;
    r.tls = tls;
    return r;
}

/* Runs one rewrite; the wire bytes are the input itself unless CHANGED. */
static void rewrite_with(const hs_policy *pol, bool tls, bool csp_report_only,
                         const char *bytes, size_t len, result *res)
{
    memset(res, 0, sizeof *res);
    const char *why = NULL;
    hs_block_status bs = hs_block_parse(bytes, len, &res->block, &why);
    ck_assert_msg(bs == HS_BLOCK_OK, "block refused by the parser (%d: %s)", (int)bs,
                  why ? why : "?");
    ck_assert_uint_eq(res->block.len, len);
    hs_rewrite_opts o = {.csp_report_only = csp_report_only, .max_output = 0};
    hs_request req = request_for(tls);
    res->status = hs_rewrite(pol, &o, &res->block, &req, &res->out, &res->changes);
    ck_assert_msg(res->status == HS_REWRITE_CHANGED || res->status == HS_REWRITE_UNCHANGED ||
                  res->status == HS_REWRITE_INTERIM, "unexpected rewrite status %d",
                  (int)res->status);
    if (res->status != HS_REWRITE_CHANGED) {
        ck_assert_msg(res->out.len == 0, "status %d but out was written", (int)res->status);
        ck_assert(hs_buf_append(&res->out, bytes, len));
    }
}

static void run_rewrite(ga_preset p, bool tls, bool csp_report_only, const char *bytes,
                        size_t len, result *res)
{
    rewrite_with(policies[p], tls, csp_report_only, bytes, len, res);
}

/* Loop index -> (input, tls). */
static const golden_input *input_of(int i, bool *tls)
{
    *tls = (size_t)i >= ninputs;
    return &inputs[(size_t)i % ninputs];
}

/* ---------------------------------------------------------------- tests */

static void check_expected(ga_preset p, int i)
{
    bool tls;
    const golden_input *in = input_of(i, &tls);
    result res;
    run_rewrite(p, tls, false, in->bytes, in->len, &res);
    char path[1400];
    expected_path(path, sizeof path, in, p, tls);
    size_t want_len = 0;
    char *want = read_whole(path, &want_len);
    ck_assert_msg(want != NULL, "%s missing: regenerate with HS_GOLDEN_UPDATE=1 and review it "
                  "(tests/golden/README.md)", path);
    bool same = want_len == res.out.len && memcmp(want, res.out.p, want_len) == 0;
    if (!same)
        fprintf(stderr, "--- %s\n%.*s+++ got\n%.*s", path, (int)want_len, want,
                (int)res.out.len, res.out.p);
    ck_assert_msg(same, "%s: output differs from the expected file", path);
    free(want);
    hs_buf_free(&res.out);
}

static void check_assertions(ga_preset p, int i)
{
    bool tls;
    const golden_input *in = input_of(i, &tls);
    result res;
    run_rewrite(p, tls, false, in->bytes, in->len, &res);
    ga_report rep;
    bool ok = ga_check(p, tls, in->bytes, in->len, res.out.p, res.out.len, &rep);
    ck_assert_msg(ok, "%s %s%s: %s", in->stem, ga_preset_name(p), tls ? " --tls" : "", rep.msg);

    /* The status says what happened. */
    bool differs = res.out.len != in->len || memcmp(res.out.p, in->bytes, in->len) != 0;
    if (res.block.status < 200)
        ck_assert_int_eq(res.status, HS_REWRITE_INTERIM);
    else
        ck_assert_msg((res.status == HS_REWRITE_CHANGED) == differs,
                      "%s %s: status %d but the bytes %s", in->stem, ga_preset_name(p),
                      (int)res.status, differs ? "differ" : "are the same");

    /* The change record names every fingerprinting header it removed. */
    if (res.status == HS_REWRITE_CHANGED && !res.changes.truncated) {
        for (size_t f = 0; f < res.block.nfields; f++) {
            const hs_field *fl = &res.block.fields[f];
            if (!ga_is_stripped(fl->name.p, fl->name.len))
                continue;
            bool listed = false;
            for (size_t k = 0; k < res.changes.nremoved; k++)
                listed |= ga_ieq(res.changes.removed[k].p, res.changes.removed[k].len,
                                 fl->name.p, fl->name.len);
            ck_assert_msg(listed, "%s %s: removed '%.*s' missing from the change record",
                          in->stem, ga_preset_name(p), (int)fl->name.len, fl->name.p);
        }
    }

    /* ... and every header it added (a name the application did not send). */
    if (res.status == HS_REWRITE_CHANGED && !res.changes.truncated) {
        static ga_block bi, bo;
        ck_assert(ga_split(in->bytes, in->len, &bi) && ga_split(res.out.p, res.out.len, &bo));
        for (size_t k = 0; k < bo.n; k++) {
            const ga_line *l = &bo.lines[k];
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)l->name_len, l->name);
            if (ga_find(&bi, name, 0) >= 0)
                continue;
            bool listed = false;
            for (size_t a = 0; a < res.changes.nadded; a++)
                listed |= ga_ieq(res.changes.added[a].p, res.changes.added[a].len, l->name,
                                 l->name_len);
            ck_assert_msg(listed, "%s %s: added '%s' missing from the change record", in->stem,
                          ga_preset_name(p), name);
        }
    }

    /* Framing is untouched: the client finds the body where the server put it. */
    if (res.status == HS_REWRITE_CHANGED) {
        static hs_block again;
        const char *why = NULL;
        ck_assert_msg(hs_block_parse(res.out.p, res.out.len, &again, &why) == HS_BLOCK_OK,
                      "%s %s: output refused by the parser (%s)", in->stem, ga_preset_name(p),
                      why ? why : "?");
        hs_framing a = hs_response_framing(&res.block, HS_METHOD_OTHER);
        hs_framing b = hs_response_framing(&again, HS_METHOD_OTHER);
        ck_assert_int_eq(a.kind, b.kind);
        ck_assert_uint_eq(a.length, b.length);
        ck_assert_int_eq(a.close_after, b.close_after);
        ck_assert_int_eq(again.status, res.block.status);
        ck_assert_int_eq(again.crlf, res.block.crlf);
    }
    hs_buf_free(&res.out);
}

static void check_idempotent(ga_preset p, int i)
{
    bool tls;
    const golden_input *in = input_of(i, &tls);
    result once, twice;
    run_rewrite(p, tls, false, in->bytes, in->len, &once);
    run_rewrite(p, tls, false, once.out.p, once.out.len, &twice);
    bool same = once.out.len == twice.out.len && memcmp(once.out.p, twice.out.p, once.out.len) == 0;
    if (!same)
        fprintf(stderr, "--- once\n%.*s+++ twice\n%.*s", (int)once.out.len, once.out.p,
                (int)twice.out.len, twice.out.p);
    ck_assert_msg(same, "%s %s%s: rewrite(rewrite(x)) != rewrite(x)", in->stem,
                  ga_preset_name(p), tls ? " --tls" : "");
    ck_assert_msg(twice.status != HS_REWRITE_CHANGED,
                  "%s %s%s: the second pass reports a change that changes no byte", in->stem,
                  ga_preset_name(p), tls ? " --tls" : "");
    hs_buf_free(&once.out);
    hs_buf_free(&twice.out);
}

/* HEADERSHIM_CSP=report-only: a CSP the policy writes is written as
 * Content-Security-Policy-Report-Only; the application's own is untouched. */
static void check_report_only(ga_preset p, int i)
{
    bool tls;
    const golden_input *in = input_of(i, &tls);
    static ga_block bi, bo;
    ck_assert(ga_split(in->bytes, in->len, &bi));
    ga_class cls = ga_class_of(p, &bi);
    if (bi.status < 200 || (cls != GA_CLASS_API && cls != GA_CLASS_WEBSITE) ||
        ga_find(&bi, "Content-Security-Policy-Report-Only", 0) >= 0)
        return;
    result enforce, report;
    run_rewrite(p, tls, false, in->bytes, in->len, &enforce);
    run_rewrite(p, tls, true, in->bytes, in->len, &report);
    ck_assert(ga_split(report.out.p, report.out.len, &bo));
    /* The report-only output is the enforcing one with the policy's CSP
     * line renamed, nothing else. */
    const char *from = "Content-Security-Policy:";
    const char *to = "Content-Security-Policy-Report-Only:";
    hs_buf want = {0};
    const char *s = enforce.out.p, *end = enforce.out.p + enforce.out.len;
    bool app_csp = ga_find(&bi, "Content-Security-Policy", 0) >= 0;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl ? (size_t)(nl - s) + 1 : (size_t)(end - s);
        if (!app_csp && n > strlen(from) && memcmp(s, from, strlen(from)) == 0) {
            ck_assert(hs_buf_append(&want, to, strlen(to)));
            ck_assert(hs_buf_append(&want, s + strlen(from), n - strlen(from)));
        } else {
            ck_assert(hs_buf_append(&want, s, n));
        }
        s += n;
    }
    bool same = want.len == report.out.len && memcmp(want.p, report.out.p, want.len) == 0;
    if (!same)
        fprintf(stderr, "--- want\n%.*s+++ got\n%.*s", (int)want.len, want.p,
                (int)report.out.len, report.out.p);
    ck_assert_msg(same, "%s %s%s: report-only output is not the enforcing one with the CSP renamed",
                  in->stem, ga_preset_name(p), tls ? " --tls" : "");
    hs_buf_free(&want);
    hs_buf_free(&enforce.out);
    hs_buf_free(&report.out);
}

/* HEADERSHIM_MAX_OUTPUT: a result of exactly max_output bytes is written,
 * one byte more is refused (HS_REWRITE_TOO_LARGE) and nothing is written. */
static void check_max_output(ga_preset p, int i)
{
    bool tls;
    const golden_input *in = input_of(i, &tls);
    result full;
    run_rewrite(p, tls, false, in->bytes, in->len, &full);
    if (full.status != HS_REWRITE_CHANGED) {
        hs_buf_free(&full.out);
        return;
    }
    hs_request req = request_for(tls);
    hs_rewrite_opts fits = {.max_output = full.out.len};
    hs_rewrite_opts short_by_one = {.max_output = full.out.len - 1};
    hs_buf out = {0};
    ck_assert_int_eq(hs_rewrite(policies[p], &fits, &full.block, &req, &out, NULL),
                     HS_REWRITE_CHANGED);
    ck_assert(out.len == full.out.len && memcmp(out.p, full.out.p, out.len) == 0);
    out.len = 0;
    ck_assert_msg(hs_rewrite(policies[p], &short_by_one, &full.block, &req, &out, NULL) ==
                  HS_REWRITE_TOO_LARGE, "%s %s: a result of %zu bytes passed max_output %zu",
                  in->stem, ga_preset_name(p), full.out.len, full.out.len - 1);
    ck_assert_uint_eq(out.len, 0);
    hs_buf_free(&out);
    hs_buf_free(&full.out);
}

/* Plans (shim/core/rewrite_plan.c): once every input went through the
 * policy, input i is rewritten from the plan of its shape, which another
 * input may have left; that must give exactly what a freshly loaded policy
 * gives, which has no plans yet and runs the directives: the same status,
 * bytes and change record. */
static void same_names(const hs_str *a, const hs_str *b, size_t n, const char *list,
                       const char *stem)
{
    for (size_t k = 0; k < n; k++)
        ck_assert_msg(a[k].len == b[k].len && memcmp(a[k].p, b[k].p, a[k].len) == 0,
                      "%s: %s[%zu] differs: %.*s / %.*s", stem, list, k, (int)a[k].len,
                      a[k].p, (int)b[k].len, b[k].p);
}

static void check_plans(ga_preset p, int i)
{
    bool tls;
    const golden_input *in = input_of(i, &tls);
    for (int ro = 0; ro <= 1; ro++) {
        static result warm, want, got;
        hs_policy *warmed = hs_policy_load(ga_preset_name(p), load_file, NULL, print_diag, NULL);
        hs_policy *fresh = hs_policy_load(ga_preset_name(p), load_file, NULL, print_diag, NULL);
        ck_assert_ptr_nonnull(warmed);
        ck_assert_ptr_nonnull(fresh);
        for (size_t k = 0; k < ninputs; k++) {
            rewrite_with(warmed, tls, ro, inputs[k].bytes, inputs[k].len, &warm);
            hs_buf_free(&warm.out);
        }
        rewrite_with(fresh, tls, ro, in->bytes, in->len, &want);
        rewrite_with(warmed, tls, ro, in->bytes, in->len, &got);
        ck_assert_int_eq(got.status, want.status);
        ck_assert_msg(got.out.len == want.out.len &&
                      memcmp(got.out.p, want.out.p, got.out.len) == 0,
                      "%s (%s%s%s): a plan wrote\n%.*s\nthe directives\n%.*s", in->stem,
                      ga_preset_name(p), tls ? ", tls" : "", ro ? ", report-only" : "",
                      (int)got.out.len, got.out.p, (int)want.out.len, want.out.p);
        ck_assert_uint_eq(got.changes.nremoved, want.changes.nremoved);
        ck_assert_uint_eq(got.changes.nset, want.changes.nset);
        ck_assert_uint_eq(got.changes.nadded, want.changes.nadded);
        ck_assert_int_eq(got.changes.truncated, want.changes.truncated);
        same_names(got.changes.removed, want.changes.removed, got.changes.nremoved,
                   "removed", in->stem);
        same_names(got.changes.set, want.changes.set, got.changes.nset, "set", in->stem);
        same_names(got.changes.added, want.changes.added, got.changes.nadded, "added",
                   in->stem);
        /* ...and it did come from a plan (a block over 32 lines has none;
         * interim responses are never rewritten). */
        if (got.block.nfields <= HS_PLAN_FIELDS && got.block.status >= 200) {
            hs_rewrite_opts o = {.csp_report_only = ro};
            hs_request req = request_for(tls);
            uint64_t shape;
            const hs_plan *plan = NULL;
            ck_assert_msg(hs_plan_find(warmed, &o, &got.block, &req, &shape, &plan) ==
                              HS_PLAN_HIT,
                          "%s: no plan kept for its shape", in->stem);
        }
        hs_policy_free(fresh);
        hs_policy_free(warmed);
        hs_buf_free(&want.out);
        hs_buf_free(&got.out);
    }
}

/* Shapes (hs_block_parse_shaped): a block read against the shape of input
 * A (the plan A's rewrite left) gives exactly what hs_block_parse_stream
 * gives, for every input B and for every one-byte change of A to a byte
 * the rules look at; the shape fits A itself, and a block it fits has A's
 * names, status and Content-Type. A rewrite of such a block equals the
 * directives' (a fresh policy). */
static hs_block shaped_b, plain_b;

/* (Plain ifs: libcheck records every ck_assert it passes, which millions
 * of them make slow.) */
#define SHAPE_REQUIRE(cond, what, ...)                                        \
    do {                                                                      \
        if (!(cond))                                                          \
            ck_abort_msg("%s: %s", what, #cond);                              \
    } while (0)

static void same_reading(hs_shape shape, const char *bytes, size_t len, const char *what)
{
    const char *w1 = NULL, *w2 = NULL;
    hs_block_status a = hs_block_parse_shaped(shape, bytes, len, &shaped_b, &w1);
    hs_block_status e = hs_block_parse_stream(bytes, len, &plain_b, &w2);
    SHAPE_REQUIRE(a == e, what);
    SHAPE_REQUIRE(w1 == w2, what);
    if (a != HS_BLOCK_OK)
        return;
    const char *differs = shaped_reading_differs(&shaped_b, &plain_b);
    if (differs)
        ck_abort_msg("%s: the shaped reading differs from the plain one in %s", what, differs);
    if (!shaped_b.shape)
        return;
    SHAPE_REQUIRE(shaped_b.shape == shape, what);
    SHAPE_REQUIRE((uint64_t)shaped_b.status == (shape->head & 0xffff), what);
    const char *nm = shape->names;
    for (size_t i = 0; i < shaped_b.nfields; i++) {
        size_t n = shape->lines[i].name_len;
        SHAPE_REQUIRE(shaped_b.fields[i].name.len == n &&
                          memcmp(shaped_b.fields[i].name.p, nm, n) == 0,
                      what);
        nm += n;
    }
}

static void check_shapes(ga_preset p, int i)
{
    bool tls;
    const golden_input *in = input_of(i, &tls);
    hs_policy *pol = hs_policy_load(ga_preset_name(p), load_file, NULL, print_diag, NULL);
    hs_policy *fresh = hs_policy_load(ga_preset_name(p), load_file, NULL, print_diag, NULL);
    ck_assert_ptr_nonnull(pol);
    ck_assert_ptr_nonnull(fresh);
    hs_rewrite_opts o = {0};
    hs_request req = request_for(tls);
    static hs_block a;
    hs_buf out = {0};
    ck_assert_int_eq(hs_block_parse(in->bytes, in->len, &a, NULL), HS_BLOCK_OK);
    hs_shape shape = NULL;
    hs_rewrite_shaped(pol, &o, &a, &req, &out, NULL, &shape);
    if (!shape) {
        /* none kept: interim responses, or over HS_PLAN_FIELDS lines */
        ck_assert(a.status < 200 || a.nfields > HS_PLAN_FIELDS);
        goto done;
    }
    same_reading(shape, in->bytes, in->len, in->stem);
    ck_assert_ptr_eq(shaped_b.shape, shape);
    for (size_t k = 0; k < ninputs; k++) {
        same_reading(shape, inputs[k].bytes, inputs[k].len, inputs[k].stem);
        if (shaped_b.shape == NULL)
            continue;
        static result want;
        hs_buf got = {0};
        hs_rewrite_status st = hs_rewrite(pol, &o, &shaped_b, &req, &got, NULL);
        rewrite_with(fresh, tls, false, inputs[k].bytes, inputs[k].len, &want);
        ck_assert_int_eq(st, want.status);
        if (st == HS_REWRITE_CHANGED)
            ck_assert_msg(got.len == want.out.len && memcmp(got.p, want.out.p, got.len) == 0,
                          "%s read as %s's shape: rewritten differently", inputs[k].stem,
                          in->stem);
        hs_buf_free(&got);
        hs_buf_free(&want.out);
    }
    static const char bytes[] = "\r\n\0 \t:(aZ-_0";
    char *copy = malloc(in->len + 1);
    for (size_t pos = 0; pos < in->len; pos++) {
        for (size_t k = 0; k < sizeof bytes - 1; k++) {
            memcpy(copy, in->bytes, in->len);
            copy[pos] = bytes[k];
            same_reading(shape, copy, in->len, in->stem);
            same_reading(shape, copy, pos + 1, in->stem);   /* cut short */
        }
    }
    free(copy);
done:
    hs_buf_free(&out);
    hs_policy_free(pol);
    hs_policy_free(fresh);
}

#define PER_PRESET(fn)                                                   \
    START_TEST(fn##_strip) { fn(GA_STRIP, _i); } END_TEST                \
    START_TEST(fn##_api) { fn(GA_API, _i); } END_TEST                    \
    START_TEST(fn##_website) { fn(GA_WEBSITE, _i); } END_TEST            \
    START_TEST(fn##_auto) { fn(GA_AUTO, _i); } END_TEST

PER_PRESET(check_expected)
PER_PRESET(check_assertions)
PER_PRESET(check_idempotent)
PER_PRESET(check_report_only)
PER_PRESET(check_max_output)
PER_PRESET(check_plans)
PER_PRESET(check_shapes)

START_TEST(corpus_is_big_and_varied)
{
    /* Issue 2 asks for at least 30 real-world blocks; the classes and
     * shapes below are the ones PRESETS.md distinguishes. */
    ck_assert_uint_ge(ninputs, 35);
    size_t per_class[GA_NCLASSES] = {0}, n304 = 0, nlf = 0, ncookies = 0;
    static ga_block b;
    for (size_t i = 0; i < ninputs; i++) {
        ck_assert_msg(ga_split(inputs[i].bytes, inputs[i].len, &b) && b.len == inputs[i].len,
                      "%s is not exactly one header block", inputs[i].stem);
        per_class[ga_class_of(GA_AUTO, &b)]++;
        n304 += b.status == 304;
        nlf += !b.crlf;
        int c = ga_find(&b, "Set-Cookie", 0);
        ncookies += c >= 0 && ga_find(&b, "Set-Cookie", (size_t)c + 1) >= 0;
    }
    for (int c = GA_CLASS_API; c < GA_NCLASSES; c++)
        ck_assert_msg(per_class[c] >= 2, "fewer than two inputs of class %s",
                      ga_class_name((ga_class)c));
    ck_assert_uint_ge(n304, 2);
    ck_assert_uint_ge(nlf, 2);
    ck_assert_uint_ge(ncookies, 3);
}
END_TEST

/* The checker itself must be able to fail: a few hand-made wrong outputs. */
START_TEST(assertions_catch_wrong_output)
{
    static const char in[] = "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Type: application/json\r\n"
                             "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nCache-Control: max-age=5\r\n\r\n";
    static const char good[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nCache-Control: max-age=5\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
        "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
        "Cross-Origin-Resource-Policy: same-origin\r\n\r\n";
    static const char *const bad[] = {
        /* Server kept */
        "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Type: application/json\r\n"
        "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nCache-Control: max-age=5\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
        "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
        "Cross-Origin-Resource-Policy: same-origin\r\n\r\n",
        /* cookies folded */
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Set-Cookie: a=1, b=2\r\nCache-Control: max-age=5\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
        "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
        "Cross-Origin-Resource-Policy: same-origin\r\n\r\n",
        /* the application's Cache-Control overwritten */
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nCache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
        "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
        "Cross-Origin-Resource-Policy: same-origin\r\n\r\n",
        /* HSTS without tls */
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nCache-Control: max-age=5\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
        "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
        "Cross-Origin-Resource-Policy: same-origin\r\n"
        "Strict-Transport-Security: max-age=63072000\r\n\r\n",
        /* a bare LF in a CRLF block */
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nCache-Control: max-age=5\r\n"
        "X-Content-Type-Options: nosniff\n"
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
        "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
        "Cross-Origin-Resource-Policy: same-origin\r\n\r\n",
        /* status line changed */
        "HTTP/1.1 200 Ok\r\nContent-Type: application/json\r\n"
        "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nCache-Control: max-age=5\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
        "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
        "Cross-Origin-Resource-Policy: same-origin\r\n\r\n",
        /* a header the api class never adds */
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nCache-Control: max-age=5\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
        "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
        "Cross-Origin-Resource-Policy: same-origin\r\nAccess-Control-Allow-Origin: *\r\n\r\n",
        /* an added header before the application's lines */
        "HTTP/1.1 200 OK\r\nX-Frame-Options: DENY\r\nContent-Type: application/json\r\n"
        "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nCache-Control: max-age=5\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
        "Referrer-Policy: no-referrer\r\n"
        "Cross-Origin-Resource-Policy: same-origin\r\n\r\n",
    };
    ga_report rep;
    ck_assert_msg(ga_check(GA_API, false, in, strlen(in), good, strlen(good), &rep), "%s", rep.msg);
    ck_assert_msg(ga_check(GA_AUTO, false, in, strlen(in), good, strlen(good), &rep), "%s", rep.msg);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!ga_check(GA_API, false, in, strlen(in), bad[i], strlen(bad[i]), &rep),
                      "wrong output %zu passed the assertions", i);
    /* Under tls the same output lacks HSTS. */
    ck_assert(!ga_check(GA_API, true, in, strlen(in), good, strlen(good), &rep));
    /* `auto` classifies by media type: an HTML page is not an API response. */
    ck_assert_int_eq(ga_auto_class("text/html", 9), GA_CLASS_WEBSITE);
    ck_assert_int_eq(ga_auto_class("application/problem+json", 24), GA_CLASS_API);
    ck_assert_int_eq(ga_auto_class("application/rss+xml", 19), GA_CLASS_STATIC);
    ck_assert_int_eq(ga_auto_class("application/atom+xml", 20), GA_CLASS_STATIC);
    ck_assert_int_eq(ga_auto_class("application/soap+xml", 20), GA_CLASS_API);
    ck_assert_int_eq(ga_auto_class("image/svg+xml", 13), GA_CLASS_STATIC);
    ck_assert_int_eq(ga_auto_class("application/wasm", 16), GA_CLASS_SCRIPT);
    ck_assert_int_eq(ga_auto_class("text/plain", 10), GA_CLASS_STATIC);
    ck_assert_int_eq(ga_auto_class("", 0), GA_CLASS_NONE);
    ck_assert(ga_is_stripped("x-varnish-cache", 15));
    ck_assert(!ga_is_stripped("X-Varnish", 9));
    ck_assert(ga_is_stripped("$WSEP", 5));
}
END_TEST

/* ------------------------------------------------------------- update */

static int update_expected(void)
{
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/expected", golden_dir);
    mkdir(dir, 0755);
    int written = 0, changed = 0;
    for (size_t i = 0; i < ninputs; i++)
        for (int p = 0; p < GA_NPRESETS; p++)
            for (int tls = 0; tls < 2; tls++) {
                if (tls && p == GA_STRIP)
                    continue;
                const golden_input *in = &inputs[i];
                hs_block b;
                const char *why = NULL;
                if (hs_block_parse(in->bytes, in->len, &b, &why) != HS_BLOCK_OK) {
                    fprintf(stderr, "%s: refused by the parser (%s)\n", in->stem, why ? why : "?");
                    return 1;
                }
                hs_rewrite_opts o = {0};
                hs_request req = request_for(tls);
                hs_buf out = {0};
                hs_rewrite_status st = hs_rewrite(policies[p], &o, &b, &req, &out, NULL);
                if (st != HS_REWRITE_CHANGED) {
                    hs_buf_free(&out);
                    if (!hs_buf_append(&out, in->bytes, in->len))
                        return 1;
                }
                char path[1400];
                expected_path(path, sizeof path, in, (ga_preset)p, tls);
                size_t old_len = 0;
                char *old = read_whole(path, &old_len);
                bool same = old && old_len == out.len && memcmp(old, out.p, out.len) == 0;
                free(old);
                if (!same) {
                    FILE *f = fopen(path, "wb");
                    if (!f || fwrite(out.p, 1, out.len, f) != out.len || fclose(f) != 0) {
                        fprintf(stderr, "cannot write %s\n", path);
                        return 1;
                    }
                    printf("%s %s\n", old ? "changed" : "new", path);
                    changed++;
                }
                written++;
                hs_buf_free(&out);
            }
    printf("%d expected files, %d new or changed: review every one (tests/golden/README.md)\n",
           written, changed);
    return 0;
}

/* ---------------------------------------------------------------- main */

static Suite *golden_suite(void)
{
    Suite *s = suite_create("golden");
    int n = (int)ninputs * 2; /* without and with tls */
    TCase *tc = tcase_create("corpus");
    tcase_add_test(tc, corpus_is_big_and_varied);
    tcase_add_test(tc, assertions_catch_wrong_output);
    suite_add_tcase(s, tc);
#define ADD(name, fn)                                             \
    tc = tcase_create(name);                                      \
    tcase_add_loop_test(tc, fn##_strip, 0, n);                    \
    tcase_add_loop_test(tc, fn##_api, 0, n);                      \
    tcase_add_loop_test(tc, fn##_website, 0, n);                  \
    tcase_add_loop_test(tc, fn##_auto, 0, n);                     \
    suite_add_tcase(s, tc);
    ADD("expected", check_expected)
    ADD("presets", check_assertions)
    ADD("idempotence", check_idempotent)
    ADD("csp-report-only", check_report_only)
    ADD("max-output", check_max_output)
    ADD("plans", check_plans)
    ADD("shapes", check_shapes)
#undef ADD
    return s;
}

int main(void)
{
    find_golden_dir();
    load_inputs();
    for (int p = 0; p < GA_NPRESETS; p++) {
        policies[p] = hs_policy_load(ga_preset_name((ga_preset)p), load_file, NULL, print_diag, NULL);
        if (!policies[p]) {
            fprintf(stderr, "test_golden: preset '%s' does not load\n", ga_preset_name((ga_preset)p));
            return 1;
        }
    }
    if (getenv("HS_GOLDEN_UPDATE"))
        return update_expected();
    SRunner *sr = srunner_create(golden_suite());
    /* About 1,900 small checks: a fork each costs far more than the check
     * (47 s against 2 s). Nothing here corrupts state a later check reads;
     * a failed check only leaks its buffers. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (int p = 0; p < GA_NPRESETS; p++)
        hs_policy_free(policies[p]);
    for (size_t i = 0; i < ninputs; i++)
        free(inputs[i].bytes);
    return failed ? 1 : 0;
}
