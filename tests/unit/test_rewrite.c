/*
 * test_rewrite.c - every directive and condition applied to real blocks,
 * compared byte for byte (POLICY.md "Directives", "Conditions",
 * "Evaluation and output"), plus statuses, bounds, report-only CSP and the
 * change record.
 */
#include "test_policy_util.h"

#define H "HTTP/1.1 200 OK\r\n"
#define CT "Content-Type: text/html\r\n"
#define END "\r\n"

/* ---- directives ---------------------------------------------------------- */

START_TEST(set_replaces_every_line_at_the_first_position)
{
    ck_assert_str_eq(apply("set x-a new\n", H "X-A: 1\r\n" CT "x-a:2\r\n" END),
                     H "x-a: new\r\n" CT END);
    ck_assert_str_eq(apply("set X-New v\n", H CT END), H CT "X-New: v\r\n" END);
    /* the policy's spelling of the name; values after ": " */
    ck_assert_str_eq(apply("set X-Frame-Options DENY\n",
                           H "x-frame-options:sameorigin\r\n" END),
                     H "X-Frame-Options: DENY\r\n" END);
}
END_TEST

START_TEST(default_only_when_absent)
{
    ck_assert_str_eq(apply("default X-A d\n", H "x-a: app\r\n" END),
                     H "x-a: app\r\n" END);
    ck_assert_str_eq(apply("default X-A d\n", H CT END), H CT "X-A: d\r\n" END);
    /* as the directives before it left the lines */
    ck_assert_str_eq(apply("set X a\ndefault X b\n", H END), H "X: a\r\n" END);
    ck_assert_str_eq(apply("remove X\ndefault X b\n", H "X: app\r\n" END),
                     H "X: b\r\n" END);
}
END_TEST

START_TEST(add_always_adds)
{
    ck_assert_str_eq(apply("add Link </a>; rel=preload\nadd Link </b>\n",
                           H "Link: </c>\r\n" END),
                     H "Link: </c>\r\nLink: </a>; rel=preload\r\nLink: </b>\r\n" END);
}
END_TEST

START_TEST(append_joins_lines)
{
    ck_assert_str_eq(apply("append Cache-Control no-transform\n",
                           H "cache-control: max-age=60\r\n" CT
                           "Cache-Control: public\r\n" END),
                     H "cache-control: max-age=60, public, no-transform\r\n" CT END);
    ck_assert_str_eq(apply("append Cache-Control no-store\n", H CT END),
                     H CT "Cache-Control: no-store\r\n" END);
    /* an empty existing value is not joined with a dangling comma */
    ck_assert_str_eq(apply("append X a\n", H "X:\r\n" END), H "X: a\r\n" END);
}
END_TEST

START_TEST(merge_appends_only_new_elements)
{
    ck_assert_str_eq(apply("merge Vary Origin\n", H "Vary: Accept\r\nvary: Origin\r\n" END),
                     H "Vary: Accept\r\nvary: Origin\r\n" END);
    ck_assert_str_eq(apply("merge Vary Origin\n", H "Vary: Accept, Cookie\r\n" END),
                     H "Vary: Accept, Cookie, Origin\r\n" END);
    /* case-sensitive, and a quoted comma does not split */
    ck_assert_str_eq(apply("merge X b\n", H "X: \"a,b\", B\r\n" END),
                     H "X: \"a,b\", B, b\r\n" END);
    ck_assert_str_eq(apply("merge X a\n", H END), H "X: a\r\n" END);
}
END_TEST

START_TEST(remove_names_and_globs)
{
    ck_assert_str_eq(apply("remove server\nremove X-Powered-*\n",
                           H "Server: nginx\r\n" CT "X-Powered-By: PHP\r\n"
                           "X-Powered-CMS: x\r\nX-Power: y\r\n" END),
                     H CT "X-Power: y\r\n" END);
    /* a wildcard never matches framing or meaning-carrying headers */
    const char *all = H "Content-Type: a/b\r\nContent-Length: 0\r\n"
                      "Set-Cookie: a=b\r\nDate: x\r\nVary: y\r\nETag: \"e\"\r\n"
                      "Last-Modified: z\r\nLocation: /\r\nContent-Encoding: gzip\r\n"
                      "Content-Range: bytes 0-0/1\r\nWWW-Authenticate: Basic\r\n"
                      "Connection: close\r\nX-Other: 1\r\nContent-Language: en\r\n" END;
    const char *kept = H "Content-Type: a/b\r\nContent-Length: 0\r\n"
                       "Set-Cookie: a=b\r\nDate: x\r\nVary: y\r\nETag: \"e\"\r\n"
                       "Last-Modified: z\r\nLocation: /\r\nContent-Encoding: gzip\r\n"
                       "Content-Range: bytes 0-0/1\r\nWWW-Authenticate: Basic\r\n"
                       "Connection: close\r\n" END;
    ck_assert_str_eq(apply("remove *\n", all), kept);
    ck_assert_str_eq(apply("remove *\nwhen header Vary {\n}\n", all), kept);
    /* named explicitly, they go */
    ck_assert_str_eq(apply("remove Date\nremove Set-Cookie\n",
                           H "Date: x\r\nSet-Cookie: a\r\nSet-Cookie: b\r\n" END), H END);
    /* lines the policy added earlier are removed too */
    ck_assert_str_eq(apply("add X-A 1\nremove X-*\n", H END), H END);
    ck_assert_str_eq(apply("remove *-id\nremove a*b*c\n",
                           H "X-Request-Id: 1\r\nAxxBxxC: 2\r\nABD: 3\r\n" END),
                     H "ABD: 3\r\n" END);
}
END_TEST

START_TEST(rename_keeps_value_and_position)
{
    ck_assert_str_eq(apply("rename X-Old X-New\n",
                           H "x-old:   v 1\r\n" CT "X-OLD: v2\r\n" END),
                     H "X-New: v 1\r\n" CT "X-New: v2\r\n" END);
    ck_assert_str_eq(apply("rename X-Old X-New\ndefault X-New d\n", H "X-Old: v\r\n" END),
                     H "X-New: v\r\n" END);
    ck_assert_str_eq(apply("rename X-Absent X-New\n", H CT END), H CT END);
}
END_TEST

START_TEST(edit_first_and_every_match)
{
    ck_assert_str_eq(apply("edit Location ^http://(.*)$ https://\\1\n",
                           H "Location: http://example.com/a\r\n" END),
                     H "Location: https://example.com/a\r\n" END);
    ck_assert_str_eq(apply("edit X a <\\0>\n", H "X: banana\r\n" END),
                     H "X: b<a>nana\r\n" END);
    ck_assert_str_eq(apply("edit* X a <\\0>\n", H "X: banana\r\n" END),
                     H "X: b<a>n<a>n<a>\r\n" END);
    /* empty matches cannot loop */
    ck_assert_str_eq(apply("edit* X x* -\n", H "X: abc\r\n" END), H "X: -a-b-c-\r\n" END);
    ck_assert_str_eq(apply("edit* X x* -\n", H "X: xab\r\n" END), H "X: -a-b-\r\n" END);
    ck_assert_str_eq(apply("edit* X ^ >\n", H "X: ab\r\n" END), H "X: >ab\r\n" END);
    /* no match: the line is untouched, byte for byte */
    ck_assert_str_eq(apply("edit X zzz y\n", H "X:  ab \r\n" END), H "X:  ab \r\n" END);
    /* every line of the name; a literal backslash */
    ck_assert_str_eq(apply("edit X (b) \"\\\\\\\\\\1\"\n", H "X: ab\r\nx: cb\r\n" END),
                     H "X: a\\b\r\nx: c\\b\r\n" END);
    /* values over 8 KiB are left alone (IO-CONTRACT.md "Bounds") */
    static char big[9000 + 64], want[9000 + 64];
    memset(big, 0, sizeof big);
    strcpy(big, H "X: ");
    memset(big + strlen(big), 'a', 8200);
    strcat(big, "\r\n" END);
    strcpy(want, big);
    hs_policy *p = parse_ok("edit X a b\n");
    rw_result r;
    hs_request req = no_request();
    hs_rewrite_opts o = { false, 65536 };
    ck_assert_str_eq(rewrite_with(p, big, &req, &o, &r), want);
    ck_assert_int_eq(r.status, HS_REWRITE_UNCHANGED);
    hs_policy_free(p);
}
END_TEST

START_TEST(cookie_adds_missing_attributes)
{
    ck_assert_str_eq(apply("cookie Secure\ncookie SameSite=Lax\n",
                           H "Set-Cookie: a=1; Path=/\r\n"
                           "set-cookie: b=2; secure; samesite=Strict\r\n"
                           "Set-Cookie: c=3;\r\n" END),
                     H "Set-Cookie: a=1; Path=/; Secure; SameSite=Lax\r\n"
                     "set-cookie: b=2; secure; samesite=Strict\r\n"
                     "Set-Cookie: c=3; Secure; SameSite=Lax\r\n" END);
    /* the cookie's own name=value is no attribute */
    ck_assert_str_eq(apply("cookie Secure\n", H "Set-Cookie: Secure=1\r\n" END),
                     H "Set-Cookie: Secure=1; Secure\r\n" END);
    ck_assert_str_eq(apply("cookie HttpOnly\n", H CT END), H CT END);
}
END_TEST

/* ---- conditions ---------------------------------------------------------- */

static const char *cond(const char *c, const char *block, const hs_request *req)
{
    static char policy[512];
    snprintf(policy, sizeof policy, "when %s {\n    add X-Hit 1\n}\n", c);
    return apply_req(policy, block, req);
}

static bool hits(const char *c, const char *block, const hs_request *req)
{
    return strstr(cond(c, block, req), "X-Hit: 1\r\n") != NULL;
}

START_TEST(status_conditions)
{
    hs_request r = no_request();
    const char *b404 = "HTTP/1.1 404 Not Found\r\n" END;
    ck_assert(hits("status 404", b404, &r));
    ck_assert(hits("status 200 4xx", b404, &r));
    ck_assert(hits("status 400-404", b404, &r));
    ck_assert(!hits("status 405-499", b404, &r));
    ck_assert(!hits("status 5xx 200", b404, &r));
    ck_assert(hits("status 5XX 404", b404, &r));
}
END_TEST

START_TEST(content_type_conditions)
{
    hs_request r = no_request();
    const char *json = H "Content-Type: Application/JSON ; charset=utf-8\r\n"
                       "content-type: text/html\r\n" END;
    ck_assert(hits("content-type application/json", json, &r));
    ck_assert(hits("content-type APPLICATION/*", json, &r));
    ck_assert(hits("content-type */json", json, &r));
    ck_assert(!hits("content-type text/html", json, &r));     /* first line only */
    ck_assert(!hits("content-type none", json, &r));
    ck_assert(hits("content-type application/*+json application/json", json, &r));
    ck_assert(hits("content-type a*p*n", json, &r));
    ck_assert(hits("content-type none", H END, &r));
    ck_assert(hits("content-type none", H "Content-Type:\r\n" END, &r));
    ck_assert(hits("content-type none", H "Content-Type: ; charset=x\r\n" END, &r));
    ck_assert(!hits("content-type *", H END, &r));
    ck_assert(hits("content-type application/*+json", H "Content-Type: application/problem+json\r\n" END, &r));
}
END_TEST

START_TEST(header_conditions)
{
    hs_request r = no_request();
    const char *b = H "X-Cache: HIT from edge\r\nx-cache: miss\r\n" END;
    ck_assert(hits("header X-Cache", b, &r));
    ck_assert(hits("header x-cache=hit*", b, &r));
    ck_assert(hits("header X-Cache=MISS", b, &r));
    ck_assert(!hits("header X-Cache=*stale*", b, &r));
    ck_assert(!hits("header X-Other", b, &r));
    ck_assert(hits("header X-Other X-Cache=*edge", b, &r));
    ck_assert(hits("header X-E=", H "X-E:\r\n" END, &r));
}
END_TEST

START_TEST(request_conditions)
{
    const char *b = H CT END;
    hs_request none = no_request();
    hs_request r = get_request("/api/v1/users.json");
    hs_field rf[2] = {
        { { "Origin", 6 }, { "https://a.example", 17 }, 0, 0 },
        { { "accept", 6 }, { "application/json", 16 }, 0, 0 },
    };
    r.has_host = true;
    r.host = (hs_str){ "Api.Example.com", 15 };
    r.fields = rf;
    r.nfields = 2;
    r.port = 8080;
    ck_assert(hits("method GET HEAD", b, &r));
    ck_assert(!hits("method get", b, &r));               /* case-sensitive */
    ck_assert(hits("path /api/*", b, &r));
    ck_assert(hits("path *.json", b, &r));
    ck_assert(!hits("path /API/*", b, &r));
    ck_assert(!hits("path /api", b, &r));
    ck_assert(hits("host *.example.com", b, &r));
    ck_assert(hits("host api.example.com", b, &r));
    ck_assert(!hits("host example.com", b, &r));
    ck_assert(hits("request-header origin", b, &r));
    ck_assert(hits("request-header Accept=*JSON", b, &r));
    ck_assert(!hits("request-header Accept=text/*", b, &r));
    ck_assert(hits("port 8000-8099", b, &r));
    ck_assert(!hits("port 80", b, &r));
    ck_assert(!hits("tls", b, &r));
    r.tls = true;
    ck_assert(hits("tls", b, &r));
    /* no request: request subjects match nothing; unless is then true */
    ck_assert(!hits("method GET", b, &none));
    ck_assert(!hits("path *", b, &none));
    ck_assert(!hits("host *", b, &none));
    ck_assert(!hits("request-header Origin", b, &none));
    ck_assert(!hits("port 1-65535", b, &none));
    ck_assert_ptr_nonnull(strstr(apply_req("unless path * {\nadd X-Hit 1\n}\n", b, &none),
                                 "X-Hit: 1"));
    ck_assert_ptr_nonnull(strstr(apply_req("unless method GET {\nadd X-Hit 1\n}\n", b, &none),
                                 "X-Hit: 1"));
    /* a target that could not be normalised matches no path */
    hs_request bad = get_request("/x");
    bad.path_ok = false;
    ck_assert(!hits("path *", b, &bad));
    /* no Host line */
    hs_request nohost = get_request("/");
    ck_assert(!hits("host *", b, &nohost));
    ck_assert(!hits("tls", b, NULL));
    ck_assert(!hits("path *", b, NULL));
}
END_TEST

START_TEST(conditions_see_the_original_response)
{
    /* the earlier remove does not change what `when header` sees */
    ck_assert_str_eq(apply("remove X-A\nwhen header X-A {\n  set Y 1\n}\n"
                           "unless header X-B {\n  set X-B 2\n}\n"
                           "when header X-B {\n  set Z 3\n}\n",
                           H "X-A: 1\r\n" END),
                     H "Y: 1\r\nX-B: 2\r\n" END);
    /* nested blocks combine with AND; unless applies when none matches */
    const char *p = "when status 2xx {\n  unless content-type text/* {\n"
                    "    add X-Hit 1\n  }\n  add X-2xx 1\n}\nadd X-All 1\n";
    ck_assert_str_eq(apply(p, H "Content-Type: image/png\r\n" END),
                     H "Content-Type: image/png\r\nX-Hit: 1\r\nX-2xx: 1\r\nX-All: 1\r\n" END);
    ck_assert_str_eq(apply(p, H CT END), H CT "X-2xx: 1\r\nX-All: 1\r\n" END);
    ck_assert_str_eq(apply(p, "HTTP/1.1 500 Oops\r\n" END),
                     "HTTP/1.1 500 Oops\r\nX-All: 1\r\n" END);
    /* the same condition under `when` and `unless`: exactly one applies */
    const char *ifelse = "when content-type text/html {\n add A 1\n}\n"
                         "unless content-type text/html {\n add B 1\n}\n";
    ck_assert_str_eq(apply(ifelse, H CT END), H CT "A: 1\r\n" END);
    ck_assert_str_eq(apply(ifelse, H END), H "B: 1\r\n" END);
}
END_TEST

/* ---- output rules --------------------------------------------------------- */

START_TEST(untouched_lines_are_copied_byte_for_byte)
{
    const char *b = "HTTP/1.1 200 OK\r\nsErVeR:  x  \r\nX-Odd:\tv\t\r\n" CT END;
    ck_assert_str_eq(apply("add X-New 1\n", b),
                     "HTTP/1.1 200 OK\r\nsErVeR:  x  \r\nX-Odd:\tv\t\r\n" CT
                     "X-New: 1\r\n" END);
    ck_assert_str_eq(apply("remove X-Odd\n", b),
                     "HTTP/1.1 200 OK\r\nsErVeR:  x  \r\n" CT END);
}
END_TEST

START_TEST(lf_blocks_get_lf_lines)
{
    ck_assert_str_eq(apply("set X-A 1\nadd X-B 2\nremove Server\n",
                           "HTTP/1.0 200 OK\nServer: s\nX-A: 0\nDate: d\n\n"),
                     "HTTP/1.0 200 OK\nX-A: 1\nDate: d\nX-B: 2\n\n");
}
END_TEST

START_TEST(statuses)
{
    hs_policy *p = parse_ok("set X 1\n");
    rw_result r;
    hs_request req = no_request();
    rewrite_with(p, "HTTP/1.1 100 Continue\r\n\r\n", &req, NULL, &r);
    ck_assert_int_eq(r.status, HS_REWRITE_INTERIM);
    rewrite_with(p, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\n\r\n", &req, NULL, &r);
    ck_assert_int_eq(r.status, HS_REWRITE_INTERIM);
    rewrite_with(p, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", &req, NULL, &r);
    ck_assert_int_eq(r.status, HS_REWRITE_INTERIM);
    rewrite_with(p, H END, &req, NULL, &r);
    ck_assert_int_eq(r.status, HS_REWRITE_CHANGED);
    /* identical bytes: unchanged, out untouched */
    rewrite_with(p, H "X: 1\r\n" END, &req, NULL, &r);
    ck_assert_int_eq(r.status, HS_REWRITE_UNCHANGED);
    ck_assert_uint_eq(r.changes.nset + r.changes.nadded + r.changes.nremoved, 0);
    hs_policy_free(p);
    p = parse_ok("remove X-None\nwhen status 500 {\nadd X 1\n}\n");
    rewrite_with(p, H CT END, &req, NULL, &r);
    ck_assert_int_eq(r.status, HS_REWRITE_UNCHANGED);
    hs_policy_free(p);
    /* the result over max_output */
    p = parse_ok("add X-Big \"0123456789012345678901234567890123456789\"\n");
    hs_rewrite_opts o = { false, 60 };
    rewrite_with(p, H END, &req, &o, &r);
    ck_assert_int_eq(r.status, HS_REWRITE_TOO_LARGE);
    o.max_output = 100;
    rewrite_with(p, H END, &req, &o, &r);
    ck_assert_int_eq(r.status, HS_REWRITE_CHANGED);
    hs_policy_free(p);
    /* the default max_output is 8192 */
    char pol[12000];
    strcpy(pol, "add X-Big ");
    memset(pol + 10, 'v', 8200);
    strcpy(pol + 8210, "\n");
    p = parse_ok(pol);
    rewrite_with(p, H END, &req, NULL, &r);
    ck_assert_int_eq(r.status, HS_REWRITE_TOO_LARGE);
    hs_policy_free(p);
    /* the status line is never changed */
    ck_assert_str_eq(apply("set X 1\n", "HTTP/1.1 299 whatever  Reason\r\n" END),
                     "HTTP/1.1 299 whatever  Reason\r\nX: 1\r\n" END);
}
END_TEST

START_TEST(csp_report_only)
{
    hs_policy *p = parse_ok("default Content-Security-Policy \"default-src 'none'\"\n"
                            "add content-security-policy x\n");
    rw_result r;
    hs_request req = no_request();
    hs_rewrite_opts ro = { true, 0 };
    ck_assert_str_eq(rewrite_with(p, H CT END, &req, &ro, &r),
                     H CT "Content-Security-Policy-Report-Only: default-src 'none'\r\n"
                     "content-security-policy-Report-Only: x\r\n" END);
    ck_assert_str_eq(r.changes.added[0].p, "Content-Security-Policy-Report-Only: default-src 'none'\r\n");
    ck_assert_uint_eq(r.changes.added[0].len, 35);
    /* the app's own CSP is left alone, and default still sees it */
    ck_assert_str_eq(rewrite_with(p, H "Content-Security-Policy: a\r\n" END, &req, &ro, &r),
                     H "Content-Security-Policy: a\r\n"
                     "content-security-policy-Report-Only: x\r\n" END);
    hs_policy_free(p);
    p = parse_ok("set Content-Security-Policy x\nappend Content-Security-Policy y\n"
                 "rename X-CSP Content-Security-Policy\n");
    ck_assert_str_eq(rewrite_with(p, H "X-CSP: z\r\nContent-Security-Policy: a\r\n" END,
                                  &req, &ro, &r),
                     H "Content-Security-Policy-Report-Only: z\r\n"
                     "Content-Security-Policy-Report-Only: x, y\r\n" END);
    hs_rewrite_opts enforce = { false, 0 };
    ck_assert_str_eq(rewrite_with(p, H "X-CSP: z\r\nContent-Security-Policy: a\r\n" END,
                                  &req, &enforce, &r),
                     H "Content-Security-Policy: z\r\nContent-Security-Policy: x, y\r\n" END);
    hs_policy_free(p);
}
END_TEST

START_TEST(changes_are_recorded)
{
    hs_policy *p = parse_ok("remove Server\nremove X-Powered-By\nset X-Frame-Options DENY\n"
                            "default X-A 1\nadd X-B 1\nadd x-b 2\nremove X-Gone\n"
                            "add X-Gone back\nset X-Same same\nappend Vary Origin\n");
    rw_result r;
    hs_request req = no_request();
    rewrite_with(p, H "Server: a\r\nserver: b\r\nX-Powered-By: c\r\n"
                 "X-Frame-Options: SAMEORIGIN\r\nX-Gone: 1\r\nX-Same: same\r\n"
                 "Vary: Accept\r\n" END, &req, NULL, &r);
    ck_assert_int_eq(r.status, HS_REWRITE_CHANGED);
    hs_changes *c = &r.changes;
    ck_assert_uint_eq(c->nremoved, 2);
    ck_assert(strncmp(c->removed[0].p, "Server", c->removed[0].len) == 0);
    ck_assert(strncmp(c->removed[1].p, "X-Powered-By", c->removed[1].len) == 0);
    ck_assert_uint_eq(c->nset, 2);
    ck_assert(strncmp(c->set[0].p, "X-Frame-Options", c->set[0].len) == 0);
    ck_assert(strncmp(c->set[1].p, "Vary", c->set[1].len) == 0);
    ck_assert_uint_eq(c->nadded, 3);
    ck_assert(strncmp(c->added[0].p, "X-A", c->added[0].len) == 0 && c->added[0].len == 3);
    ck_assert(strncmp(c->added[1].p, "X-B", c->added[1].len) == 0);
    ck_assert(strncmp(c->added[2].p, "X-Gone", c->added[2].len) == 0);
    ck_assert(!c->truncated);
    hs_policy_free(p);
    /* capped at HS_CHANGE_MAX */
    char pol[2048] = "";
    for (int i = 0; i < 30; i++)
        sprintf(pol + strlen(pol), "add X-%d 1\n", i);
    p = parse_ok(pol);
    rewrite_with(p, H END, &req, NULL, &r);
    ck_assert_uint_eq(r.changes.nadded, HS_CHANGE_MAX);
    ck_assert(r.changes.truncated);
    hs_policy_free(p);
}
END_TEST

START_TEST(many_lines_and_names)
{
    /* more lines than the stack arrays hold, more names than the index's
     * first size */
    char pol[65536] = "", block[65536] = H;
    for (int i = 0; i < 300; i++)
        sprintf(pol + strlen(pol), "default X-%d %d\n", i, i);
    for (int i = 0; i < 200; i++)
        sprintf(block + strlen(block), "X-%d: app\r\n", i * 2);
    strcat(block, END);
    hs_policy *p = parse_ok(pol);
    rw_result r;
    hs_request req = no_request();
    hs_rewrite_opts o = { false, 1 << 20 };
    const char *out = rewrite_with(p, block, &req, &o, &r);
    ck_assert_int_eq(r.status, HS_REWRITE_CHANGED);
    ck_assert_ptr_nonnull(strstr(out, "X-398: app\r\nX-1: 1\r\nX-3: 3\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "X-299: 299\r\n\r\n"));
    ck_assert_ptr_null(strstr(out, "X-2: 2"));
    hs_policy_free(p);
}
END_TEST

START_TEST(media_type_for_logs)
{
    static hs_block b;
    const char *blk = H "content-type: Text/HTML; charset=x\r\n" END;
    ck_assert_int_eq(hs_block_parse(blk, strlen(blk), &b, NULL), HS_BLOCK_OK);
    char mt[64];
    size_t n = hs_block_media_type(&b, mt, sizeof mt);
    ck_assert_uint_eq(n, 9);
    ck_assert(memcmp(mt, "text/html", 9) == 0);
    ck_assert_uint_eq(hs_block_media_type(&b, mt, 4), 4);
    ck_assert_int_eq(hs_block_parse(H END, strlen(H END), &b, NULL), HS_BLOCK_OK);
    ck_assert_uint_eq(hs_block_media_type(&b, mt, sizeof mt), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rewrite");
    TCase *t = tcase_create("rewrite");
    tcase_add_test(t, set_replaces_every_line_at_the_first_position);
    tcase_add_test(t, default_only_when_absent);
    tcase_add_test(t, add_always_adds);
    tcase_add_test(t, append_joins_lines);
    tcase_add_test(t, merge_appends_only_new_elements);
    tcase_add_test(t, remove_names_and_globs);
    tcase_add_test(t, rename_keeps_value_and_position);
    tcase_add_test(t, edit_first_and_every_match);
    tcase_add_test(t, cookie_adds_missing_attributes);
    tcase_add_test(t, status_conditions);
    tcase_add_test(t, content_type_conditions);
    tcase_add_test(t, header_conditions);
    tcase_add_test(t, request_conditions);
    tcase_add_test(t, conditions_see_the_original_response);
    tcase_add_test(t, untouched_lines_are_copied_byte_for_byte);
    tcase_add_test(t, lf_blocks_get_lf_lines);
    tcase_add_test(t, statuses);
    tcase_add_test(t, csp_report_only);
    tcase_add_test(t, changes_are_recorded);
    tcase_add_test(t, many_lines_and_names);
    tcase_add_test(t, media_type_for_logs);
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
