/*
 * bench_engine.c - what the connection engine costs per response and per
 * body call (issue 3, item 6). Figures, never pass or fail.
 *
 * "response" cases: one keep-alive connection; each item reads one request
 * (hs_conn_read) and writes one response as nginx does, writev[H | B]
 * (hs_io_writev): request framing, header block search and parse, framing,
 * the policy, the plan and the commit. The kernel is a sink that accepts
 * everything without touching the bytes, so only the engine is counted.
 *
 * "body" cases: one connection inside a long Content-Length body; each item
 * is one writev of a body buffer. The engine only counts body bytes, so the
 * cost must not depend on the buffer's size (1 KiB vs 1 MiB).
 *
 * "request" cases: the request side alone, as every response pays it:
 * hs_conn_read of one request (bench/servers/request-wrk.txt and
 * request-browser.txt, CRLF), the request view a response takes, and the
 * pop when the response is committed (engine internals, conn_internal.h).
 *
 * "passthrough": a connection that gave up on HTTP (not a response stream);
 * each item is one writev. "baseline": the same call made straight to the
 * sink; the engine's own cost is a case's figure minus this one.
 *
 * Protocol: see bench_rewrite.c (--list, --time, --count ID N).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "headershim.h"
#include "conn_internal.h"

#define BATCHES 31
#define PER_BATCH 2000

static ssize_t sink_sendv(void *ctx, const struct iovec *iov, int n, int fl)
{
    (void)ctx;
    (void)fl;
    size_t t = 0;
    for (int i = 0; i < n; i++)
        t += iov[i].iov_len;
    return (ssize_t)t;
}

static const hs_kernel sink = {.sendv = sink_sendv};

static const char small_request[] =
    "GET /api/users HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\n\r\n";

/* About 700 bytes of request headers, cookies included, as a browser
 * sends them. */
static const char browser_request[] =
    "GET /api/users?page=2 HTTP/1.1\r\n"
    "Host: app.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "Accept-Language: en-GB,en;q=0.9,de;q=0.8\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Referer: https://app.example.com/dashboard\r\n"
    "Cookie: session=eyJ1aWQiOjQyLCJyb2xlcyI6WyJ1c2VyIl19.k2L4m6N8o0P2q4R6s8T0; csrf=Zx81QwErTy7uIoP3aSdF; prefs=theme%3Ddark%26lang%3Den; _ga=GA1.2.1234567890.1796000000\r\n"
    "Sec-Fetch-Dest: empty\r\n"
    "Sec-Fetch-Mode: cors\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Ch-Ua: \"Chromium\";v=\"156\", \"Not.A/Brand\";v=\"99\"\r\n"
    "Sec-Ch-Ua-Mobile: ?0\r\n"
    "Sec-Ch-Ua-Platform: \"Linux\"\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

/* bench/servers/request-wrk.txt and request-browser.txt with @PATH@ =
 * /api.json and CRLF line ends (43 and 751 bytes). */
static const char wrk_request[] =
    "GET /api.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

static const char servers_browser_request[] =
    "GET /api.json HTTP/1.1\r\n"
    "Host: shop.example.test\r\n"
    "Connection: keep-alive\r\n"
    "sec-ch-ua: \"Chromium\";v=\"130\", \"Google Chrome\";v=\"130\", \"Not?A_Brand\";v=\"99\"\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Referer: http://shop.example.test/account\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-GB,en;q=0.9,de;q=0.8\r\n"
    "Cookie: session=7f3c9a1e5b2d4c6e8f0a1b3c5d7e9f2a; csrftoken=Qm9vZ2llV29vZ2llQm9vZ2ll; _ga=GA1.1.123456789.1732860000\r\n"
    "\r\n";

static const char json_head[] =
    "HTTP/1.1 200 OK\r\n"
    "Server: nginx/1.22.1\r\n"
    "Date: Sun, 29 Nov 2026 04:00:00 GMT\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 200\r\n"
    "Last-Modified: Sun, 29 Nov 2026 03:00:00 GMT\r\n"
    "Connection: keep-alive\r\n"
    "ETag: \"6569c2a7-c8\"\r\n"
    "Accept-Ranges: bytes\r\n"
    "\r\n";

static const char html_head[] =
    "HTTP/1.1 200 OK\r\n"
    "Server: nginx/1.22.1\r\n"
    "Date: Sun, 29 Nov 2026 04:00:00 GMT\r\n"
    "Content-Type: text/html\r\n"
    "Content-Length: 500\r\n"
    "Last-Modified: Sun, 29 Nov 2026 03:00:00 GMT\r\n"
    "Connection: keep-alive\r\n"
    "ETag: \"6569c2a7-1f4\"\r\n"
    "Accept-Ranges: bytes\r\n"
    "\r\n";

static char body[1 << 20];

typedef struct bench_case {
    const char *id;
    const char *policy;
    const char *request;     /* response cases */
    const char *head;
    size_t body_len;
    enum { RESPONSE, REQUEST, BODY, PASSTHROUGH, BASELINE } kind;
} bench_case;

static const bench_case cases[] = {
    {"engine/response-json-auto", "auto", small_request, json_head, 200, RESPONSE},
    {"engine/response-html-auto", "auto", small_request, html_head, 500, RESPONSE},
    {"engine/response-json-api", "api", small_request, json_head, 200, RESPONSE},
    {"engine/response-json-auto-700B-req", "auto", browser_request, json_head, 200, RESPONSE},
    {"engine/request-wrk-auto", "auto", wrk_request, NULL, 0, REQUEST},
    {"engine/request-browser-auto", "auto", servers_browser_request, NULL, 0, REQUEST},
    {"engine/body-call-1KiB", "auto", NULL, NULL, 1024, BODY},
    {"engine/body-call-1MiB", "auto", NULL, NULL, 1 << 20, BODY},
    {"engine/passthrough-call-1KiB", "auto", NULL, NULL, 1024, PASSTHROUGH},
    /* The same call straight to the sink, no engine: subtract it. */
    {"baseline/sink-call-1KiB", "auto", NULL, NULL, 1024, BASELINE},
};
#define NCASES (sizeof cases / sizeof cases[0])

static void diag(void *ctx, const hs_diag *d)
{
    (void)ctx;
    fprintf(stderr, "%s:%u:%u: %s\n", d->file, d->line, d->col, d->message);
}

typedef struct fixture {
    hs_policy *policy;
    hs_engine_config cfg;
    hs_conn *conn;
} fixture;

static void fixture_open(fixture *f, const bench_case *bc)
{
    memset(f, 0, sizeof *f);
    f->policy = hs_policy_load(bc->policy, NULL, NULL, diag, NULL);
    if (!f->policy)
        exit(1);
    f->cfg.policy = f->policy;
    f->conn = hs_conn_new(&f->cfg, 8080, false, NULL);
    if (bc->kind == BODY) {
        static const char req[] = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
        static const char big[] =
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            "Content-Length: 1152921504606846976\r\n\r\n";
        hs_conn_read(f->conn, req, sizeof req - 1);
        struct iovec v = {(void *)big, sizeof big - 1};
        hs_io_writev(f->conn, &sink, &v, 1, 0);
    } else if (bc->kind == PASSTHROUGH) {
        struct iovec v = {"\x16\x03\x01\x02\x00", 5};
        hs_io_writev(f->conn, &sink, &v, 1, 0);
    }
}

static void fixture_close(fixture *f)
{
    hs_conn_free(f->conn);
    hs_policy_free(f->policy);
}

static size_t run_once(fixture *f, const bench_case *bc)
{
    if (bc->kind == REQUEST) {
        static hs_request_view view;
        size_t n = bc->request == wrk_request ? sizeof wrk_request - 1
                                              : sizeof servers_browser_request - 1;
        hs_conn_read(f->conn, bc->request, n);
        hs_conn_request_view(f->conn, hs_conn_front_request(f->conn), &view);
        hs_conn_pop_request(f->conn, false);
        return n;
    }
    if (bc->kind == RESPONSE) {
        hs_conn_read(f->conn, bc->request, strlen(bc->request));
        struct iovec v[2] = {{(void *)bc->head, strlen(bc->head)},
                             {body, bc->body_len}};
        return (size_t)hs_io_writev(f->conn, &sink, v, 2, 0);
    }
    struct iovec v = {body, bc->body_len};
    if (bc->kind == BASELINE)
        return (size_t)sink.sendv(sink.ctx, &v, 1, 0);
    return (size_t)hs_io_writev(f->conn, &sink, &v, 1, 0);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < NCASES; i++) {
            size_t in = cases[i].kind == RESPONSE
                            ? strlen(cases[i].head) + cases[i].body_len
                        : cases[i].kind == REQUEST ? strlen(cases[i].request)
                                                   : cases[i].body_len;
            printf("%s %zu %zu\n", cases[i].id, in, in);
        }
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "--time") == 0) {
        for (size_t i = 0; i < NCASES; i++) {
            fixture f;
            fixture_open(&f, &cases[i]);
            double per[BATCHES];
            for (int b = 0; b < BATCHES; b++) {
                double t0 = now_ns();
                for (int j = 0; j < PER_BATCH; j++)
                    run_once(&f, &cases[i]);
                per[b] = (now_ns() - t0) / PER_BATCH;
            }
            qsort(per, BATCHES, sizeof per[0], cmp_double);
            printf("%s %.0f\n", cases[i].id, per[BATCHES / 2]);
            fixture_close(&f);
        }
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "--count") == 0) {
        long n = atol(argv[3]);
        for (size_t i = 0; i < NCASES; i++) {
            if (strcmp(cases[i].id, argv[2]) != 0)
                continue;
            fixture f;
            fixture_open(&f, &cases[i]);
            size_t sum = 0;
            for (long j = 0; j < n; j++)
                sum += run_once(&f, &cases[i]);
            fixture_close(&f);
            return sum == 0;
        }
        return 2;
    }
    fprintf(stderr, "usage: %s --list | --time | --count ID N\n", argv[0]);
    return 2;
}
