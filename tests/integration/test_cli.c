/*
 * test_cli.c - `headershim check`, `apply`, `presets`, --help/--version,
 * run as a real process ($HS_BUILD/headershim) and checked byte for byte:
 * standard output, standard error and exit status.
 *
 * Expected outputs live in tests/integration/cli-data/expected/; each was
 * read line by line against PRESETS.md and POLICY.md before it was checked
 * in, and the tests also assert the promised header lines directly, so a
 * wrong expected file cannot hide a wrong rewrite.
 */
#include <check.h>

#include "headershim.h"
#include "cli-data/run.h"

#include <stdarg.h>

#define DATA "tests/integration/cli-data/"

/* hs(stdin, env, args..., NULL): runs the command. */
static run_result hs(const char *in, const char *const *env, ...)
{
    const char *argv[32] = {headershim_path()};
    int n = 1;
    va_list ap;
    va_start(ap, env);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 31)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return run_in(NULL, in, env, argv);
}

static void assert_bytes(const char *got, size_t got_len, const char *want,
                         size_t want_len, const char *what)
{
    if (got_len != want_len || memcmp(got, want, got_len) != 0)
        ck_abort_msg("%s differs:\n--- want (%zu bytes)\n%.*s\n--- got "
                     "(%zu bytes)\n%.*s", what, want_len, (int)want_len,
                     want, got_len, (int)got_len, got);
}

static void assert_file(const run_result *r, const char *path)
{
    size_t len;
    char *want = read_data(path, &len);
    assert_bytes(r->out, r->out_len, want, len, path);
    free(want);
}

/* The header block of the index-th response (0-based) in out, as a
 * NUL-terminated copy: used to assert single lines. */
static char *block_of(const run_result *r, int index)
{
    const char *p = r->out;
    const char *end = r->out + r->out_len;
    for (int i = 0; p && p < end; i++) {
        p = strstr(p, "HTTP/1.1 ");
        ck_assert_ptr_nonnull(p);
        const char *stop = strstr(p, "\r\n\r\n");
        ck_assert_ptr_nonnull(stop);
        if (i == index)
            return strndup(p, (size_t)(stop - p + 4));
        p = stop + 4;
    }
    ck_abort_msg("no response %d", index);
    return NULL;
}

static void assert_line(const char *block, const char *line, bool present)
{
    char needle[1024];
    snprintf(needle, sizeof needle, "\r\n%s\r\n", line);
    if ((strstr(block, needle) != NULL) != present)
        ck_abort_msg("'%s' should %sbe in:\n%s", line, present ? "" : "not ",
                     block);
}

/* ---------------------------------------------------------------- basics */

START_TEST(version_and_help)
{
    run_result r = hs(NULL, NULL, "--version", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "headershim " HS_VERSION "\n");
    ck_assert_str_eq(r.err, "");
    run_free(&r);

    r = hs(NULL, NULL, "--help", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "usage: headershim [OPTIONS] -- COMMAND"));
    ck_assert_ptr_nonnull(strstr(r.out, "headershim apply [-p POLICY]"));
    run_free(&r);

    r = hs(NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "usage: headershim"));
    run_free(&r);

    r = hs(NULL, NULL, "serve", NULL);
    ck_assert_int_eq(r.status, 2);
    ck_assert_str_eq(r.err, "headershim: unknown command 'serve' (to run a "
                     "program under the shim: headershim [OPTIONS] -- serve "
                     "...; see 'headershim --help')\n");
    run_free(&r);
}
END_TEST

/* --------------------------------------------------------------- presets */

START_TEST(presets_list_and_source)
{
    run_result r = hs(NULL, NULL, "presets", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "");
    /* One line per compiled-in preset, name then its description. */
    const char *p = r.out;
    ck_assert_uint_ge(hs_npresets, 4);
    for (size_t i = 0; i < hs_npresets; i++) {
        size_t nlen = strlen(hs_presets[i].name);
        ck_assert_msg(strncmp(p, hs_presets[i].name, nlen) == 0,
                      "line %zu: %s", i, p);
        const char *nl = strchr(p, '\n');
        ck_assert_ptr_nonnull(nl);
        const char *desc = nl - strlen(hs_presets[i].description);
        ck_assert_msg(strncmp(desc, hs_presets[i].description,
                              strlen(hs_presets[i].description)) == 0 &&
                          desc[-1] == ' ' && desc[-2] == ' ',
                      "line %zu: %.*s", i, (int)(nl - p), p);
        p = nl + 1;
    }
    ck_assert_str_eq(p, "");
    for (const char *const *n = (const char *const[]){"auto", "api",
                                                       "website", "strip",
                                                       NULL}; *n; n++)
        ck_assert_ptr_nonnull(hs_preset_find(*n));
    run_free(&r);

    const hs_preset *api = hs_preset_find("api");
    r = hs(NULL, NULL, "presets", "api", NULL);
    ck_assert_int_eq(r.status, 0);
    assert_bytes(r.out, r.out_len, api->source, api->source_len,
                 "presets api");
    run_free(&r);

    r = hs(NULL, NULL, "presets", "nope", NULL);
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_msg(strncmp(r.err, "headershim: presets: no preset named "
                                 "'nope' (known: ", 51) == 0, "%s", r.err);
    run_free(&r);

    r = hs(NULL, NULL, "presets", "api", "website", NULL);
    ck_assert_int_eq(r.status, 2);
    run_free(&r);
}
END_TEST

/* ----------------------------------------------------------------- check */

static void no_diag(void *ctx, const hs_diag *d)
{
    (void)ctx;
    ck_abort_msg("%s:%u:%u: %s", d->file, d->line, d->col, d->message);
}

START_TEST(check_presets_print_the_formatter_output)
{
    static const char *const names[] = {"auto", "api", "website", "strip"};
    for (size_t i = 0; i < 4; i++) {
        hs_policy *p = hs_policy_load(names[i], NULL, NULL, no_diag, NULL);
        ck_assert_ptr_nonnull(p);
        hs_buf want = {0};
        ck_assert(hs_policy_format(p, &want));
        run_result r = hs(NULL, NULL, "check", names[i], NULL);
        ck_assert_int_eq(r.status, 0);
        ck_assert_str_eq(r.err, "");
        assert_bytes(r.out, r.out_len, want.p, want.len, names[i]);
        run_free(&r);
        hs_buf_free(&want);
        hs_policy_free(p);
    }
}
END_TEST

START_TEST(check_good_policy_file)
{
    run_result r = hs(NULL, NULL, "check", DATA "good.policy", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "");
    assert_file(&r, DATA "expected/good.check");
    /* The include is spliced: strip's removals are in the output. */
    ck_assert_ptr_nonnull(strstr(r.out, "X-Powered-By"));
    run_free(&r);
}
END_TEST

START_TEST(check_warnings_go_to_stderr_exit_0)
{
    run_result r = hs(NULL, NULL, "check", DATA "warn.policy", NULL);
    ck_assert_int_eq(r.status, 0);
    assert_file(&r, DATA "expected/warn.check");
    size_t len;
    char *want = read_data(DATA "expected/warn.stderr", &len);
    assert_bytes(r.err, r.err_len, want, len, "warnings");
    free(want);
    run_free(&r);
}
END_TEST

/* Each bad policy: exit 1, nothing on stdout, exactly these lines. */
static const struct {
    const char *file;
    const char *stderr_text;
} bad_policies[] = {
    {DATA "bad-directive.policy",
     DATA "bad-directive.policy:4:1: unknown directive 'sett' (did you mean "
          "'set'?)\n"},
    {DATA "bad-framing.policy",
     DATA "bad-framing.policy:2:9: 'set Content-Length' is refused: it would "
          "change the message framing\n"},
    {DATA "bad-quote.policy", NULL /* expected/bad-quote.stderr */},
    {DATA "bad-include.policy", NULL /* expected/bad-include.stderr */},
};

START_TEST(check_bad_policies)
{
    const char *file = bad_policies[_i].file;
    run_result r = hs(NULL, NULL, "check", file, NULL);
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.out, "");
    if (bad_policies[_i].stderr_text) {
        ck_assert_str_eq(r.err, bad_policies[_i].stderr_text);
    } else {
        char path[512];
        const char *base = strrchr(file, '/') + 1;
        snprintf(path, sizeof path, DATA "expected/%.*s.stderr",
                 (int)(strlen(base) - 7), base);
        size_t len;
        char *want = read_data(path, &len);
        assert_bytes(r.err, r.err_len, want, len, path);
        free(want);
    }
    run_free(&r);
}
END_TEST

START_TEST(check_file_level_errors_at_1_1)
{
    char dir[] = "/tmp/hs-check.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[600], want[800];

    run_result r = hs(NULL, NULL, "check", dir, NULL);
    ck_assert_int_eq(r.status, 1);
    snprintf(want, sizeof want, "%s:1:1: not a regular file\n", dir);
    ck_assert_str_eq(r.err, want);
    run_free(&r);

    snprintf(path, sizeof path, "%s/missing.policy", dir);
    r = hs(NULL, NULL, "check", path, NULL);
    ck_assert_int_eq(r.status, 1);
    snprintf(want, sizeof want,
             "%s:1:1: cannot be read: No such file or directory\n", path);
    ck_assert_str_eq(r.err, want);
    run_free(&r);

    /* Exactly 1 MiB of comment lines is fine; one byte more is not. */
    size_t size = 1024 * 1024;
    char *big = malloc(size + 1);
    for (size_t i = 0; i < size + 1; i++)
        big[i] = (i % 64 == 63) ? '\n' : '#';
    snprintf(path, sizeof path, "%s/big.policy", dir);
    write_data(path, big, size);
    r = hs(NULL, NULL, "check", path, NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "");
    run_free(&r);
    write_data(path, big, size + 1);
    r = hs(NULL, NULL, "check", path, NULL);
    ck_assert_int_eq(r.status, 1);
    snprintf(want, sizeof want, "%s:1:1: over 1 MiB\n", path);
    ck_assert_str_eq(r.err, want);
    run_free(&r);
    unlink(path);
    free(big);

    /* A FIFO must be refused at once, not waited on. */
    snprintf(path, sizeof path, "%s/fifo.policy", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    r = hs(NULL, NULL, "check", path, NULL);
    ck_assert_int_eq(r.status, 1);
    snprintf(want, sizeof want, "%s:1:1: not a regular file\n", path);
    ck_assert_str_eq(r.err, want);
    run_free(&r);
    unlink(path);
    rmdir(dir);

    r = hs(NULL, NULL, "check", NULL);
    ck_assert_int_eq(r.status, 2);
    run_free(&r);
}
END_TEST

/* ----------------------------------------------------------------- apply */

START_TEST(apply_api_on_nginx_json)
{
    run_result r = hs(NULL, NULL, "apply", "-p", "api",
                      DATA "nginx-json.response", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "");
    assert_file(&r, DATA "expected/nginx-json.api.out");
    /* PRESETS.md "api", over plain HTTP: no HSTS. */
    char *b = block_of(&r, 0);
    ck_assert_ptr_null(strstr(b, "\r\nServer:"));
    assert_line(b, "X-Content-Type-Options: nosniff", true);
    assert_line(b, "Content-Security-Policy: default-src 'none'; "
                   "frame-ancestors 'none'", true);
    assert_line(b, "X-Frame-Options: DENY", true);
    assert_line(b, "Cache-Control: no-store", true);
    assert_line(b, "Referrer-Policy: no-referrer", true);
    assert_line(b, "Cross-Origin-Resource-Policy: same-origin", true);
    assert_line(b, "Content-Length: 44", true);
    assert_line(b, "Connection: keep-alive", true);
    ck_assert_ptr_null(strstr(b, "Strict-Transport-Security"));
    ck_assert_ptr_null(strstr(b, "Permissions-Policy"));
    free(b);
    /* The body follows unchanged. */
    ck_assert_str_eq(r.out + r.out_len - 44,
                     "{\"users\":[{\"id\":1,\"name\":\"Ada\"}],\"total\":1}\n");
    run_free(&r);

    /* Standard input gives the same bytes as FILE. */
    run_result s = hs(DATA "nginx-json.response", NULL, "apply", "-p", "api",
                      NULL);
    ck_assert_int_eq(s.status, 0);
    assert_file(&s, DATA "expected/nginx-json.api.out");
    run_free(&s);
}
END_TEST

START_TEST(apply_website_tls_on_apache_html)
{
    run_result r = hs(NULL, NULL, "apply", "-p", "website", "--tls",
                      DATA "apache-html.response", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "");
    assert_file(&r, DATA "expected/apache-html.website-tls.out");
    char *b = block_of(&r, 0);
    ck_assert_ptr_null(strstr(b, "\r\nServer:"));
    assert_line(b, "X-Content-Type-Options: nosniff", true);
    assert_line(b, "Strict-Transport-Security: max-age=63072000", true);
    assert_line(b, "Content-Security-Policy: default-src 'self'; img-src "
                   "'self' data:; style-src 'self' 'unsafe-inline'; "
                   "object-src 'none'; base-uri 'self'; form-action 'self'; "
                   "frame-ancestors 'self'; upgrade-insecure-requests", true);
    assert_line(b, "X-Frame-Options: SAMEORIGIN", true);
    assert_line(b, "Referrer-Policy: strict-origin-when-cross-origin", true);
    assert_line(b, "Permissions-Policy: accelerometer=(), camera=(), "
                   "geolocation=(), gyroscope=(), magnetometer=(), "
                   "microphone=(), payment=(), usb=()", true);
    assert_line(b, "Cross-Origin-Opener-Policy: same-origin-allow-popups",
                true);
    assert_line(b, "Cross-Origin-Resource-Policy: same-site", true);
    assert_line(b, "X-XSS-Protection: 0", true);
    /* Lines the policy does not touch are kept byte for byte. */
    assert_line(b, "ETag: \"a5-606ce3b1a2f80\"", true);
    assert_line(b, "Vary: Accept-Encoding", true);
    assert_line(b, "Keep-Alive: timeout=5, max=100", true);
    ck_assert_ptr_null(strstr(b, "Cache-Control"));
    free(b);
    run_free(&r);
}
END_TEST

START_TEST(apply_csp_report_only)
{
    const char *const env[] = {"HEADERSHIM_CSP=report-only", NULL};
    run_result a = hs(NULL, env, "apply", "-p", "api",
                      DATA "nginx-json.response", NULL);
    run_result b = hs(NULL, NULL, "apply", "-p", "api", "--csp-report-only",
                      DATA "nginx-json.response", NULL);
    ck_assert_int_eq(a.status, 0);
    ck_assert_int_eq(b.status, 0);
    assert_bytes(a.out, a.out_len, b.out, b.out_len, "env vs option");
    char *blk = block_of(&a, 0);
    assert_line(blk, "Content-Security-Policy-Report-Only: default-src "
                     "'none'; frame-ancestors 'none'", true);
    ck_assert_ptr_null(strstr(blk, "\r\nContent-Security-Policy:"));
    free(blk);
    run_free(&a);
    run_free(&b);
}
END_TEST

START_TEST(apply_pipelined_connection)
{
    run_result r = hs(NULL, NULL, "apply", "--requests",
                      DATA "pipelined.requests", DATA "pipelined.responses",
                      NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "");
    assert_file(&r, DATA "expected/pipelined.auto.out");

    /* 1: HEAD of an HTML page: website rules, and no body follows. */
    char *b = block_of(&r, 0);
    assert_line(b, "X-Frame-Options: SAMEORIGIN", true);
    ck_assert_ptr_null(strstr(b, "X-Powered-By"));
    free(b);
    const char *second = strstr(r.out, "\r\n\r\nHTTP/1.1 200 OK\r\n");
    ck_assert_ptr_nonnull(second);
    /* 2: chunked text/plain: static rules; chunk data that looks like a
     * header block is body, untouched. */
    b = block_of(&r, 1);
    assert_line(b, "X-Content-Type-Options: nosniff", true);
    ck_assert_ptr_null(strstr(b, "Content-Security-Policy"));
    free(b);
    ck_assert_ptr_nonnull(strstr(r.out, "\r\n29\r\nHTTP/1.1 200 OK\r\nServer: "
                                        "fake-in-body\r\n\r\n\r\n9\r\nline "
                                        "two\n\r\n0\r\nX-Checksum: 42\r\n\r\n"));
    /* 3: 304 without Content-Type: Server removed, no default added. */
    b = block_of(&r, 3);
    ck_assert_msg(strncmp(b, "HTTP/1.1 304", 12) == 0, "%s", b);
    ck_assert_str_eq(b, "HTTP/1.1 304 Not Modified\r\nETag: \"logo-7\"\r\n"
                        "Content-Length: 2048\r\n\r\n");
    free(b);
    /* 4: JSON: api rules; Location kept. */
    b = block_of(&r, 4);
    ck_assert_msg(strncmp(b, "HTTP/1.1 201", 12) == 0, "%s", b);
    assert_line(b, "Cache-Control: no-store", true);
    assert_line(b, "Location: /api/users/3", true);
    free(b);
    /* 5: HTML with its own CSP: kept, not replaced. */
    b = block_of(&r, 5);
    assert_line(b, "Content-Security-Policy: default-src 'self'", true);
    assert_line(b, "X-Frame-Options: SAMEORIGIN", true);
    free(b);
    ck_assert_str_eq(r.out + r.out_len - 58, "<!doctype html><title>About"
                     "</title><p>HTTP/1.1 200 OK</p>\n");
    run_free(&r);
}
END_TEST

/* The chunk data of response 2 makes block_of's count: 0 HEAD, 1 chunked,
 * 2 the fake block inside its body, 3 the 304, 4 JSON, 5 HTML. */

START_TEST(apply_pairs_responses_with_requests)
{
    run_result r = hs(NULL, NULL, "apply", "-p", DATA "pairing.policy",
                      "--requests", DATA "pipelined.requests",
                      DATA "pipelined.responses", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "");
    static const char *const answered[] = {"HEAD", NULL, NULL, NULL, "api",
                                           "about"};
    for (int i = 0; i < 6; i++) {
        if (i == 2)
            continue; /* the fake block inside a chunked body */
        char *b = block_of(&r, i);
        char line[64];
        if (answered[i]) {
            snprintf(line, sizeof line, "X-Answered: %s", answered[i]);
            assert_line(b, line, true);
        } else {
            ck_assert_ptr_null(strstr(b, "X-Answered"));
        }
        assert_line(b, "X-Host: shop.example", true);
        free(b);
    }
    run_free(&r);

    /* Only the first two requests: later responses answer no request, so
     * request conditions match nothing for them. */
    size_t len;
    char *reqs = read_data(DATA "pipelined.requests", &len);
    const char *third = strstr(reqs, "GET /logo.png");
    char path[] = "/tmp/hs-two-requests.XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    write_data(path, reqs, (size_t)(third - reqs));
    r = hs(NULL, NULL, "apply", "-p", DATA "pairing.policy", "--requests",
           path, DATA "pipelined.responses", NULL);
    ck_assert_int_eq(r.status, 0);
    for (int i = 3; i < 6; i++) {
        char *b = block_of(&r, i);
        ck_assert_ptr_null(strstr(b, "X-Answered"));
        ck_assert_ptr_null(strstr(b, "X-Host"));
        free(b);
    }
    run_free(&r);
    unlink(path);
    free(reqs);
}
END_TEST

START_TEST(apply_assumed_request)
{
    run_result r = hs(NULL, NULL, "apply", "-p", DATA "pairing.policy",
                      "--path", "/api/v1/../users?x=1", "--host",
                      "shop.example:8080", DATA "nginx-json.response", NULL);
    ck_assert_int_eq(r.status, 0);
    char *b = block_of(&r, 0);
    assert_line(b, "X-Answered: api", true);
    assert_line(b, "X-Host: shop.example", true);
    free(b);
    run_free(&r);

    /* Without --host there is no Host: `when host` matches nothing. */
    r = hs(NULL, NULL, "apply", "-p", DATA "pairing.policy",
           DATA "nginx-json.response", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_null(strstr(r.out, "X-Host"));
    ck_assert_ptr_null(strstr(r.out, "X-Answered"));
    run_free(&r);
}
END_TEST

/* A HEAD answered with a body: after the block the engine expects a
 * status line and finds the body: desync, reported; what follows goes out
 * unchanged. */
START_TEST(apply_desync_is_reported_output_still_exact)
{
    size_t in_len;
    char *in = read_data(DATA "nginx-json.response", &in_len);
    const char *body = strstr(in, "\r\n\r\n") + 4;
    run_result r = hs(NULL, NULL, "apply", "-p", DATA "pairing.policy",
                      "--method", "HEAD", DATA "nginx-json.response", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(strncmp(r.err, "headershim: apply: desync: ", 27) == 0,
                  "%s", r.err);
    char *b = block_of(&r, 0);
    assert_line(b, "X-Answered: HEAD", true);
    size_t blen = strlen(b);
    size_t body_len = in_len - (size_t)(body - in);
    ck_assert_uint_eq(r.out_len, blen + body_len);
    ck_assert(memcmp(r.out + blen, body, body_len) == 0);
    free(b);
    run_free(&r);

    /* An ambiguous block (two Content-Length values) goes out unchanged. */
    static const char amb[] = "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: "
                              "2\r\nContent-Length: 3\r\n\r\nabc";
    char path[] = "/tmp/hs-ambiguous.XXXXXX";
    close(mkstemp(path));
    write_data(path, amb, sizeof amb - 1);
    r = hs(NULL, NULL, "apply", "-p", "strip", path, NULL);
    ck_assert_int_eq(r.status, 0);
    assert_bytes(r.out, r.out_len, amb, sizeof amb - 1, "ambiguous block");
    ck_assert_msg(strstr(r.err, "desync") != NULL, "%s", r.err);
    run_free(&r);
    unlink(path);
    free(in);
}
END_TEST

START_TEST(apply_limits_from_environment)
{
    size_t in_len;
    char *in = read_data(DATA "nginx-json.response", &in_len);

    /* A rewrite over HEADERSHIM_MAX_OUTPUT is skipped: block unchanged. */
    const char *const small_out[] = {"HEADERSHIM_MAX_OUTPUT=200", NULL};
    run_result r = hs(NULL, small_out, "apply", "-p", "api",
                      DATA "nginx-json.response", NULL);
    ck_assert_int_eq(r.status, 0);
    assert_bytes(r.out, r.out_len, in, in_len, "max output");
    ck_assert_msg(strncmp(r.err, "headershim: apply: rewrite skipped (", 36) ==
                      0, "%s", r.err);
    run_free(&r);

    /* A block over HEADERSHIM_MAX_HEADER passes through. */
    const char *const small_hdr[] = {"HEADERSHIM_MAX_HEADER=100", NULL};
    r = hs(NULL, small_hdr, "apply", "-p", "api",
           DATA "nginx-json.response", NULL);
    ck_assert_int_eq(r.status, 0);
    assert_bytes(r.out, r.out_len, in, in_len, "max header");
    ck_assert_str_eq(r.err, "headershim: apply: a header block is over "
                     "HEADERSHIM_MAX_HEADER (100 bytes); it and the rest of "
                     "the connection pass through unchanged\n");
    run_free(&r);

    /* Exactly the block's size is still rewritten (IO-CONTRACT.md rule 3). */
    char exact[64];
    size_t block = (size_t)(strstr(in, "\r\n\r\n") + 4 - in);
    snprintf(exact, sizeof exact, "HEADERSHIM_MAX_HEADER=%zu", block);
    const char *const exact_hdr[] = {exact, NULL};
    r = hs(NULL, exact_hdr, "apply", "-p", "api",
           DATA "nginx-json.response", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "");
    assert_file(&r, DATA "expected/nginx-json.api.out");
    run_free(&r);
    free(in);

    static const struct {
        const char *env, *err;
    } bad[] = {
        {"HEADERSHIM_MAX_OUTPUT=abc",
         "headershim: HEADERSHIM_MAX_OUTPUT: invalid value 'abc' (expected "
         "a number of bytes from 1 to 1048576)\n"},
        {"HEADERSHIM_MAX_OUTPUT=1048577",
         "headershim: HEADERSHIM_MAX_OUTPUT: invalid value '1048577' "
         "(expected a number of bytes from 1 to 1048576)\n"},
        {"HEADERSHIM_MAX_HEADER=0",
         "headershim: HEADERSHIM_MAX_HEADER: invalid value '0' (expected a "
         "number of bytes from 1 to 1048576)\n"},
        {"HEADERSHIM_MAX_HEADER=",
         "headershim: HEADERSHIM_MAX_HEADER: invalid value '' (expected a "
         "number of bytes from 1 to 1048576)\n"},
        {"HEADERSHIM_CSP=yes",
         "headershim: HEADERSHIM_CSP: unknown value 'yes' (expected "
         "enforce|report-only)\n"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *const env[] = {bad[i].env, NULL};
        r = hs(NULL, env, "apply", "-p", "api", DATA "nginx-json.response",
               NULL);
        ck_assert_int_eq(r.status, 1);
        ck_assert_str_eq(r.out, "");
        ck_assert_str_eq(r.err, bad[i].err);
        run_free(&r);
    }
}
END_TEST

START_TEST(apply_is_binary_safe)
{
    /* A body with NUL, 0xff and CR LF CR LF, and bytes after a close-
     * delimited response: all unchanged. */
    static const char head[] = "HTTP/1.1 200 OK\r\nServer: x\r\n"
                               "Content-Type: application/octet-stream\r\n"
                               "Connection: close\r\n\r\n";
    char in[sizeof head - 1 + 4096];
    memcpy(in, head, sizeof head - 1);
    for (size_t i = 0; i < 4096; i++)
        in[sizeof head - 1 + i] = (char)(i * 131 + (i >> 8));
    memcpy(in + sizeof head - 1 + 100, "\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 23);
    char path[] = "/tmp/hs-binary.XXXXXX";
    close(mkstemp(path));
    write_data(path, in, sizeof in);
    run_result r = hs(path, NULL, "apply", "-p", "strip", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "");
    static const char want[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: application/octet-stream\r\n"
                               "Connection: close\r\n\r\n";
    ck_assert_uint_eq(r.out_len, sizeof want - 1 + 4096);
    ck_assert(memcmp(r.out, want, sizeof want - 1) == 0);
    ck_assert(memcmp(r.out + sizeof want - 1, in + sizeof head - 1, 4096) == 0);
    run_free(&r);
    unlink(path);

    /* Empty input: empty output. */
    r = hs(NULL, NULL, "apply", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.out_len, 0);
    run_free(&r);
}
END_TEST

START_TEST(apply_usage_and_io_errors)
{
    static const char *const usage[][4] = {
        {"--bogus", NULL},
        {"--port", "http", NULL},
        {"--port", "70000", NULL},
        {"--method", "GE T", NULL},
        {"--requests", DATA "pipelined.requests", "--path", "/x"},
        {DATA "nginx-json.response", DATA "nginx-json.response", NULL},
        {"-p", NULL},
    };
    for (size_t i = 0; i < sizeof usage / sizeof *usage; i++) {
        run_result r = hs(NULL, NULL, "apply", usage[i][0], usage[i][1],
                          usage[i][2], usage[i][3], NULL);
        ck_assert_msg(r.status == 2, "case %zu: status %d", i, r.status);
        ck_assert_str_eq(r.out, "");
        ck_assert_msg(strncmp(r.err, "headershim: ", 12) == 0, "%s", r.err);
        run_free(&r);
    }
    run_result r = hs(NULL, NULL, "apply", "/nonexistent/capture", NULL);
    ck_assert_int_eq(r.status, 3);
    ck_assert_str_eq(r.err, "headershim: apply: /nonexistent/capture: No "
                     "such file or directory\n");
    run_free(&r);

    r = hs(NULL, NULL, "apply", "-p", DATA "bad-directive.policy",
           DATA "nginx-json.response", NULL);
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, DATA "bad-directive.policy:4:1: unknown directive "
                     "'sett' (did you mean 'set'?)\n");
    run_free(&r);
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *t = tcase_create("command");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, version_and_help);
    tcase_add_test(t, presets_list_and_source);
    tcase_add_test(t, check_presets_print_the_formatter_output);
    tcase_add_test(t, check_good_policy_file);
    tcase_add_test(t, check_warnings_go_to_stderr_exit_0);
    tcase_add_loop_test(t, check_bad_policies, 0,
                        sizeof bad_policies / sizeof *bad_policies);
    tcase_add_test(t, check_file_level_errors_at_1_1);
    tcase_add_test(t, apply_api_on_nginx_json);
    tcase_add_test(t, apply_website_tls_on_apache_html);
    tcase_add_test(t, apply_csp_report_only);
    tcase_add_test(t, apply_pipelined_connection);
    tcase_add_test(t, apply_pairs_responses_with_requests);
    tcase_add_test(t, apply_assumed_request);
    tcase_add_test(t, apply_desync_is_reported_output_still_exact);
    tcase_add_test(t, apply_limits_from_environment);
    tcase_add_test(t, apply_is_binary_safe);
    tcase_add_test(t, apply_usage_and_io_errors);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cli_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
