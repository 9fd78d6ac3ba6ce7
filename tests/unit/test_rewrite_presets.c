/*
 * test_rewrite_presets.c - the four presets on typical blocks, exactly as
 * PRESETS.md describes them, and idempotence: applying a preset to its own
 * output changes nothing.
 */
#include "test_policy_util.h"

static const char *const blocks[] = {
    /* gunicorn JSON */
    "HTTP/1.1 200 OK\r\nServer: gunicorn\r\nDate: Sun, 29 Nov 2026 04:35:43 GMT\r\n"
    "Connection: keep-alive\r\nContent-Type: application/json\r\n"
    "Content-Length: 27\r\n\r\n",
    /* nginx HTML with a legacy XSS header and HSTS already set */
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 29 Nov 2026 04:35:43 GMT\r\n"
    "Content-Type: text/html; charset=utf-8\r\nTransfer-Encoding: chunked\r\n"
    "X-XSS-Protection: 1; mode=block\r\nStrict-Transport-Security: max-age=31536000\r\n\r\n",
    /* Express 404 HTML with its own CSP */
    "HTTP/1.1 404 Not Found\r\nX-Powered-By: Express\r\n"
    "Content-Security-Policy: default-src 'none'\r\nX-Content-Type-Options: nosniff\r\n"
    "Content-Type: text/html; charset=utf-8\r\nContent-Length: 139\r\n\r\n",
    /* 304 from Apache */
    "HTTP/1.1 304 Not Modified\r\nDate: Sun, 29 Nov 2026 04:35:43 GMT\r\n"
    "Server: Apache/2.4.57 (Debian)\r\nETag: \"2aa6-5e1\"\r\n\r\n",
    /* static file, LF only */
    "HTTP/1.0 200 OK\nServer: SimpleHTTP/0.6 Python/3.11.2\nContent-type: text/css\n"
    "Content-Length: 12\nLast-Modified: Sat, 28 Nov 2026 10:00:00 GMT\n\n",
    /* no Content-Type, redirect */
    "HTTP/1.1 302 Found\r\nLocation: /login\r\nX-Varnish-Backend: b1\r\n"
    "X-Kong-Upstream-Latency: 3\r\nContent-Length: 0\r\n\r\n",
    /* feed, svg, script, problem+json, event stream */
    "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: image/svg+xml\r\nCache-Control: max-age=3600\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/javascript\r\n\r\n",
    "HTTP/1.1 422 Unprocessable Content\r\nContent-Type: application/problem+json\r\n"
    "Cache-Control: public, max-age=60\r\nSet-Cookie: s=1; Path=/\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Envoy-Upstream-Service-Time: 2\r\n\r\n",
    /* empty Content-Type */
    "HTTP/1.1 200 OK\r\nContent-Type:\r\nX-AspNet-Version: 4.0\r\n\r\n",
};
#define NBLOCKS (sizeof blocks / sizeof blocks[0])

static const char *run(const char *preset, const char *block, bool tls,
                       bool report_only, rw_result *r)
{
    diags d;
    memset(&d, 0, sizeof d);
    hs_policy *p = hs_policy_load(preset, NULL, NULL, diag_collect, &d);
    ck_assert_msg(p != NULL, "%s", d.text);
    hs_request req = get_request("/");
    req.tls = tls;
    hs_rewrite_opts o = { report_only, 0 };
    rewrite_with(p, block, &req, &o, r);
    hs_policy_free(p);
    return r->out;
}

START_TEST(idempotent)
{
    static const char *const presets[] = { "strip", "api", "website", "auto" };
    for (size_t pi = 0; pi < 4; pi++) {
        for (size_t bi = 0; bi < NBLOCKS; bi++) {
            for (int tls = 0; tls < 2; tls++) {
                static rw_result once, twice;
                run(presets[pi], blocks[bi], tls, false, &once);
                run(presets[pi], once.out, tls, false, &twice);
                ck_assert_msg(twice.status == HS_REWRITE_UNCHANGED,
                              "%s on block %zu (tls %d) is not idempotent:\n%s\n---\n%s",
                              presets[pi], bi, tls, once.out, twice.out);
                ck_assert_str_eq(once.out, twice.out);
            }
        }
    }
}
END_TEST

START_TEST(api_on_json)
{
    rw_result r;
    ck_assert_str_eq(run("api", blocks[0], true, false, &r),
        "HTTP/1.1 200 OK\r\nDate: Sun, 29 Nov 2026 04:35:43 GMT\r\n"
        "Connection: keep-alive\r\nContent-Type: application/json\r\n"
        "Content-Length: 27\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Strict-Transport-Security: max-age=63072000\r\n"
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
        "X-Frame-Options: DENY\r\n"
        "Cache-Control: no-store\r\n"
        "Referrer-Policy: no-referrer\r\n"
        "Cross-Origin-Resource-Policy: same-origin\r\n\r\n");
    /* the application's own choices win; no HSTS without TLS */
    ck_assert_str_eq(run("api", blocks[9], false, false, &r),
        "HTTP/1.1 422 Unprocessable Content\r\nContent-Type: application/problem+json\r\n"
        "Cache-Control: public, max-age=60\r\nSet-Cookie: s=1; Path=/\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
        "X-Frame-Options: DENY\r\n"
        "Referrer-Policy: no-referrer\r\n"
        "Cross-Origin-Resource-Policy: same-origin\r\n\r\n");
}
END_TEST

START_TEST(website_on_html)
{
    rw_result r;
    ck_assert_str_eq(run("website", blocks[1], true, false, &r),
        "HTTP/1.1 200 OK\r\nDate: Sun, 29 Nov 2026 04:35:43 GMT\r\n"
        "Content-Type: text/html; charset=utf-8\r\nTransfer-Encoding: chunked\r\n"
        "X-XSS-Protection: 0\r\n"
        "Strict-Transport-Security: max-age=31536000\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'self'; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'self'; upgrade-insecure-requests\r\n"
        "X-Frame-Options: SAMEORIGIN\r\n"
        "Referrer-Policy: strict-origin-when-cross-origin\r\n"
        "Permissions-Policy: accelerometer=(), camera=(), geolocation=(), "
        "gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()\r\n"
        "Cross-Origin-Opener-Policy: same-origin-allow-popups\r\n"
        "Cross-Origin-Resource-Policy: same-site\r\n\r\n");
    /* the app's CSP and nosniff stay; plain HTTP: no upgrade, no HSTS */
    ck_assert_str_eq(run("website", blocks[2], false, false, &r),
        "HTTP/1.1 404 Not Found\r\n"
        "Content-Security-Policy: default-src 'none'\r\nX-Content-Type-Options: nosniff\r\n"
        "Content-Type: text/html; charset=utf-8\r\nContent-Length: 139\r\n"
        "X-Frame-Options: SAMEORIGIN\r\n"
        "Referrer-Policy: strict-origin-when-cross-origin\r\n"
        "Permissions-Policy: accelerometer=(), camera=(), geolocation=(), "
        "gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()\r\n"
        "Cross-Origin-Opener-Policy: same-origin-allow-popups\r\n"
        "Cross-Origin-Resource-Policy: same-site\r\n"
        "X-XSS-Protection: 0\r\n\r\n");
    /* report-only: the defaulted CSP is written as Report-Only */
    ck_assert_ptr_nonnull(strstr(run("website", blocks[1], false, true, &r),
        "\r\nContent-Security-Policy-Report-Only: default-src 'self'; img-src"));
}
END_TEST

START_TEST(not_modified_gets_no_defaults_but_hsts)
{
    rw_result r;
    const char *want = "HTTP/1.1 304 Not Modified\r\nDate: Sun, 29 Nov 2026 04:35:43 GMT\r\n"
                       "ETag: \"2aa6-5e1\"\r\n"
                       "Strict-Transport-Security: max-age=63072000\r\n\r\n";
    ck_assert_str_eq(run("api", blocks[3], true, false, &r), want);
    ck_assert_str_eq(run("auto", blocks[3], true, false, &r), want);
    /* website still sets X-XSS-Protection: `set`, not `default` */
    ck_assert_str_eq(run("website", blocks[3], true, false, &r),
                     "HTTP/1.1 304 Not Modified\r\nDate: Sun, 29 Nov 2026 04:35:43 GMT\r\n"
                     "ETag: \"2aa6-5e1\"\r\n"
                     "Strict-Transport-Security: max-age=63072000\r\n"
                     "X-XSS-Protection: 0\r\n\r\n");
}
END_TEST

START_TEST(strip_removes_and_adds_nothing)
{
    rw_result r;
    ck_assert_str_eq(run("strip", blocks[5], true, false, &r),
                     "HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\n\r\n");
    ck_assert_uint_eq(r.changes.nremoved, 2);
    ck_assert_uint_eq(r.changes.nadded, 0);
    /* what strip keeps on purpose (PRESETS.md) */
    const char *kept = "HTTP/1.1 200 OK\r\nX-Atmosphere-tracking-id: 1\r\n"
                       "X-Nextjs-Cache: HIT\r\nX-LiteSpeed-Purge: *\r\nSourceMap: /a.map\r\n"
                       "X-SourceMap: /b.map\r\nAccess-Control-Allow-Origin: *\r\n"
                       "X-Accel-Redirect: /x\r\nCache-Control: no-cache\r\n\r\n";
    run("strip", kept, true, false, &r);
    ck_assert_int_eq(r.status, HS_REWRITE_UNCHANGED);
}
END_TEST

START_TEST(auto_chooses_by_media_type)
{
    rw_result a, b;
    /* JSON: the api preset; HTML: the website preset */
    for (int tls = 0; tls < 2; tls++) {
        ck_assert_str_eq(run("auto", blocks[0], tls, false, &a), run("api", blocks[0], tls, false, &b));
        ck_assert_str_eq(run("auto", blocks[9], tls, false, &a), run("api", blocks[9], tls, false, &b));
        ck_assert_str_eq(run("auto", blocks[10], tls, false, &a), run("api", blocks[10], tls, false, &b));
        ck_assert_str_eq(run("auto", blocks[1], tls, false, &a), run("website", blocks[1], tls, false, &b));
        ck_assert_str_eq(run("auto", blocks[2], tls, false, &a), run("website", blocks[2], tls, false, &b));
    }
    /* static: strip, nosniff, HSTS; no CSP, no no-store, no CORP */
    ck_assert_str_eq(run("auto", blocks[4], true, false, &a),
                     "HTTP/1.0 200 OK\nContent-type: text/css\nContent-Length: 12\n"
                     "Last-Modified: Sat, 28 Nov 2026 10:00:00 GMT\n"
                     "X-Content-Type-Options: nosniff\n"
                     "Strict-Transport-Security: max-age=63072000\n\n");
    ck_assert_str_eq(run("auto", blocks[6], false, false, &a),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                     "X-Content-Type-Options: nosniff\r\n\r\n");
    ck_assert_str_eq(run("auto", blocks[7], false, false, &a),
                     "HTTP/1.1 200 OK\r\nContent-Type: image/svg+xml\r\n"
                     "Cache-Control: max-age=3600\r\nX-Content-Type-Options: nosniff\r\n\r\n");
    ck_assert_str_eq(run("auto", blocks[8], true, false, &a),
                     "HTTP/1.1 200 OK\r\nContent-Type: text/javascript\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "Strict-Transport-Security: max-age=63072000\r\n\r\n");
    /* no Content-Type, or an empty one: strip and HSTS, no nosniff */
    ck_assert_str_eq(run("auto", blocks[5], true, false, &a),
                     "HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\n"
                     "Strict-Transport-Security: max-age=63072000\r\n\r\n");
    ck_assert_str_eq(run("auto", blocks[11], false, false, &a),
                     "HTTP/1.1 200 OK\r\nContent-Type:\r\n\r\n");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rewrite_presets");
    TCase *t = tcase_create("presets");
    tcase_add_test(t, idempotent);
    tcase_add_test(t, api_on_json);
    tcase_add_test(t, website_on_html);
    tcase_add_test(t, not_modified_gets_no_defaults_but_hsts);
    tcase_add_test(t, strip_removes_and_adds_nothing);
    tcase_add_test(t, auto_chooses_by_media_type);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
