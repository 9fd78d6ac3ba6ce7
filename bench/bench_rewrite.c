/*
 * bench_rewrite.c - what one response header block costs to rewrite.
 *
 * The path the engine takes for each block: find its end and parse it in
 * one pass, read against the shape of the connection's last response
 * (hs_block_parse_shaped), apply the policy (from the shape's plan). A
 * server sends the same block again and again, so after each case's first
 * iteration this is the steady state; the first is the general way.
 * Blocks: a typical JSON and a typical HTML response of about 250 bytes
 * (what nginx, Express and Apache send, servers-io.md section 1), and the
 * same of about 1 KiB with session cookies and cache headers. Presets: all
 * four; plus "(parse)", the general parser alone (hs_block_parse_stream,
 * no shape).
 * As the engine does (shim/core/conn.c), the output buffer is reused
 * between blocks, so malloc is not counted per block, and a change record
 * is filled for the log.
 *
 * Protocol shared by every bench/bench_*.c (run.sh drives it):
 *   bench_x --list         one line per case: "ID BYTES-IN BYTES-OUT"
 *   bench_x --time         one line per case: "ID NS-PER-ITEM" (median of
 *                          BATCHES batches, wall clock, CLOCK_MONOTONIC)
 *   bench_x --count ID N   runs case ID N times and nothing else, so
 *                          callgrind's counts for two values of N differ
 *                          by exactly N2-N1 iterations
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "headershim.h"

#define BATCHES 31
#define PER_BATCH 2000

typedef struct block {
    const char *name;
    const char *bytes;
} block;

static const block blocks[] = {
    {"json-250",
     "HTTP/1.1 200 OK\r\n"
     "Server: nginx/1.22.1\r\n"
     "Date: Sun, 29 Nov 2026 04:00:00 GMT\r\n"
     "Content-Type: application/json; charset=utf-8\r\n"
     "Content-Length: 1832\r\n"
     "Connection: keep-alive\r\n"
     "X-Powered-By: Express\r\n"
     "ETag: W/\"728-2Lq0mQ1Zp5b0n3H6eK9xV4cR7sT\"\r\n"
     "Vary: Accept-Encoding\r\n"
     "\r\n"},
    {"html-250",
     "HTTP/1.1 200 OK\r\n"
     "Server: nginx/1.22.1\r\n"
     "Date: Sun, 29 Nov 2026 04:00:00 GMT\r\n"
     "Content-Type: text/html; charset=utf-8\r\n"
     "Content-Length: 14477\r\n"
     "Last-Modified: Tue, 03 Nov 2026 11:20:07 GMT\r\n"
     "Connection: keep-alive\r\n"
     "ETag: \"6569c2a7-388d\"\r\n"
     "Accept-Ranges: bytes\r\n"
     "\r\n"},
    {"json-1k",
     "HTTP/1.1 200 OK\r\n"
     "Server: nginx/1.22.1\r\n"
     "Date: Sun, 29 Nov 2026 04:00:00 GMT\r\n"
     "Content-Type: application/json; charset=utf-8\r\n"
     "Content-Length: 1832\r\n"
     "Connection: keep-alive\r\n"
     "X-Powered-By: Express\r\n"
     "X-Request-Id: 6f1c2b9e-4a7d-4e0f-9a3b-5c8d7e6f1a2b\r\n"
     "Access-Control-Allow-Origin: https://app.example.com\r\n"
     "Access-Control-Allow-Credentials: true\r\n"
     "Vary: Origin, Accept-Encoding\r\n"
     "Set-Cookie: session=eyJ1aWQiOjQyLCJyb2xlcyI6WyJ1c2VyIl0sImV4cCI6MTc5NjAwMDAwMH0.k2L4m6N8o0P2q4R6s8T0u2V4w6X8y0Z; Path=/; HttpOnly; Secure; SameSite=Lax\r\n"
     "Set-Cookie: csrf=Zx81QwErTy7uIoP3aSdF; Path=/; Secure; SameSite=Strict\r\n"
     "Set-Cookie: prefs=theme%3Ddark%26lang%3Den; Path=/; Max-Age=31536000; SameSite=Lax\r\n"
     "Set-Cookie: __cf_bm=Qx7.rT2kLmNoPqRsTuVwXyZ; path=/; expires=Sun, 29-Nov-26 04:30:00 GMT; domain=.example.com; HttpOnly; Secure; SameSite=None\r\n"
     "X-RateLimit-Limit: 5000\r\n"
     "X-RateLimit-Remaining: 4987\r\n"
     "X-RateLimit-Reset: 1796004000\r\n"
     "ETag: W/\"728-2Lq0mQ1Zp5b0n3H6eK9xV4cR7sT\"\r\n"
     "Link: <https://api.example.com/v1/users?page=3>; rel=\"next\", <https://api.example.com/v1/users?page=9>; rel=\"last\"\r\n"
     "X-Envoy-Upstream-Service-Time: 12\r\n"
     "Via: 1.1 varnish (Varnish/7.1)\r\n"
     "\r\n"},
    {"html-1k",
     "HTTP/1.1 200 OK\r\n"
     "Date: Sun, 29 Nov 2026 04:00:00 GMT\r\n"
     "Server: Apache/2.4.71 (Debian)\r\n"
     "X-Powered-By: PHP/8.2.7\r\n"
     "Expires: Thu, 19 Nov 1981 08:52:00 GMT\r\n"
     "Cache-Control: no-store, no-cache, must-revalidate\r\n"
     "Pragma: no-cache\r\n"
     "Set-Cookie: PHPSESSID=3k9l2m1n0b8v7c6x5z4a3s2d1f; path=/; HttpOnly\r\n"
     "Set-Cookie: cart=empty; expires=Mon, 29 Nov 2027 04:00:00 GMT; Max-Age=31536000; path=/\r\n"
     "Set-Cookie: lang=en; path=/; SameSite=Lax\r\n"
     "Set-Cookie: wp-settings-1=libraryContent%3Dbrowse%26editor%3Dtinymce; expires=Mon, 29 Nov 2027 04:00:00 GMT; Max-Age=31536000; path=/\r\n"
     "Set-Cookie: _ga=GA1.2.1234567890.1796000000; expires=Mon, 29 Nov 2027 04:00:00 GMT; path=/; domain=.example.com\r\n"
     "Link: <https://example.com/wp-json/>; rel=\"https://api.w.org/\"\r\n"
     "Link: <https://example.com/?p=42>; rel=shortlink\r\n"
     "X-Generator: WordPress 6.4\r\n"
     "Vary: Accept-Encoding,Cookie\r\n"
     "Content-Language: en-US\r\n"
     "X-Varnish: 32770 98306\r\n"
     "Age: 0\r\n"
     "Via: 1.1 varnish (Varnish/7.1)\r\n"
     "Accept-Ranges: bytes\r\n"
     "Transfer-Encoding: chunked\r\n"
     "Content-Type: text/html; charset=UTF-8\r\n"
     "\r\n"},
};
#define NBLOCKS (sizeof blocks / sizeof blocks[0])

static const char *const presets[] = {"(parse)", "strip", "api", "website", "auto"};
#define NPRESETS (sizeof presets / sizeof presets[0])

/* Each block is sent in VARIANTS versions, one after the other, as a
 * server sends them: the Date's second and the Content-Length differ (so
 * do the line lengths), everything else is the same. */
#define VARIANTS 4

typedef struct bench_case {
    char id[64];
    const block *blk;
    char *bytes[VARIANTS];
    size_t len[VARIANTS];
    unsigned next;           /* the variant the next iteration sends */
    hs_policy *policy;       /* NULL: parse only */
    hs_shape shape;          /* the last response's, as a connection keeps it */
    bool record;             /* also the change record (info logs, report
                                mode); the engine skips it otherwise */
} bench_case;

static bench_case cases[NBLOCKS * NPRESETS + 1];
static size_t ncases;
static hs_block parsed;
static hs_buf out;
static hs_changes changes;
static volatile size_t sink;

static void diag(void *ctx, const hs_diag *d)
{
    (void)ctx;
    fprintf(stderr, "%s:%u:%u: %s\n", d->file, d->line, d->col, d->message);
}

static int no_files(void *ctx, const char *path, char **text, size_t *len, char *why,
                    size_t why_len)
{
    (void)ctx;
    (void)path;
    (void)text;
    (void)len;
    snprintf(why, why_len, "the benchmark reads no files");
    return -1;
}

/* Version v of a block: "04:00:0v" for the Date's seconds, and a
 * Content-Length of another value and length. */
static char *variant(const char *bytes, unsigned v, size_t *len)
{
    static const char *const lengths[VARIANTS] = {"1832", "977", "18323", "12"};
    size_t n = strlen(bytes);
    char *copy = malloc(n + 8), *o = copy;
    const char *date = strstr(bytes, "04:00:00");
    const char *cl = strstr(bytes, "Content-Length: ");
    for (const char *p = bytes; *p;) {
        if (p == date) {
            o += sprintf(o, "04:00:0%u", v);
            p += 8;
        } else if (p == cl) {
            o += sprintf(o, "Content-Length: %s", lengths[v]);
            p += 16;
            while (*p >= '0' && *p <= '9')
                p++;
        } else {
            *o++ = *p++;
        }
    }
    *len = (size_t)(o - copy);
    return copy;
}

static void setup(void)
{
    for (size_t p = 0; p < NPRESETS; p++) {
        hs_policy *pol = NULL;
        if (p > 0) {
            pol = hs_policy_load(presets[p], no_files, NULL, diag, NULL);
            if (!pol) {
                fprintf(stderr, "bench_rewrite: preset %s does not load\n", presets[p]);
                exit(1);
            }
        }
        for (size_t b = 0; b < NBLOCKS; b++) {
            bench_case *c = &cases[ncases++];
            snprintf(c->id, sizeof c->id, "rewrite/%s/%s", blocks[b].name, presets[p]);
            c->blk = &blocks[b];
            c->policy = pol;
            for (unsigned v = 0; v < VARIANTS; v++)
                c->bytes[v] = variant(blocks[b].bytes, v, &c->len[v]);
        }
    }
    /* What the change record adds, on the typical block. */
    const bench_case *json_auto = &cases[ncases - NBLOCKS];  /* the last preset */
    bench_case *c = &cases[ncases++];
    *c = *json_auto;
    strcat(c->id, "+record");
    c->record = true;
}

/* One block through the engine's path; returns the bytes that would go
 * out. Like a connection, a case keeps the shape of its last block and
 * reads the next against it (the first block of each case is read and
 * rewritten the general way). As in the engine at the default log level,
 * no change record is asked for, but in the "+record" case. */
static size_t run_once(bench_case *c, const hs_request *req, const hs_rewrite_opts *o)
{
    unsigned v = c->next;
    c->next = (v + 1) % VARIANTS;
    const char *p = c->bytes[v];
    if (hs_block_parse_shaped(c->shape, p, c->len[v], &parsed, NULL) != HS_BLOCK_OK) {
        fprintf(stderr, "bench_rewrite: %s does not parse\n", c->id);
        exit(1);
    }
    if (!c->policy)
        return parsed.nfields;
    out.len = 0;
    hs_rewrite_status st =
        hs_rewrite_shaped(c->policy, o, &parsed, req, &out,
                          c->record ? &changes : NULL, &c->shape);
    return st == HS_REWRITE_CHANGED ? out.len : parsed.len;
}

static int cmp_u64(const void *a, const void *b)
{
    unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    hs_request req = {0};
    req.has_request = true;
    req.method = (hs_str){"GET", 3};
    req.path_ok = true;
    req.path = (hs_str){"/v1/users", 9};
    req.has_host = true;
    req.host = (hs_str){"example.com", 11};
    req.port = 8080;
    hs_rewrite_opts o = {0};
    setup();

    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < ncases; i++) {
            size_t n = run_once(&cases[i], &req, &o);
            printf("%s %zu %zu\n", cases[i].id, cases[i].len[0],
                   cases[i].policy ? n : cases[i].len[0]);
        }
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--time") == 0) {
        for (size_t i = 0; i < ncases; i++) {
            unsigned long long ns[BATCHES];
            for (int w = 0; w < PER_BATCH; w++) /* warm caches and the branch predictor */
                sink += run_once(&cases[i], &req, &o);
            for (int b = 0; b < BATCHES; b++) {
                struct timespec t0, t1;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                for (int k = 0; k < PER_BATCH; k++)
                    sink += run_once(&cases[i], &req, &o);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                ns[b] = (unsigned long long)(t1.tv_sec - t0.tv_sec) * 1000000000ull +
                        (unsigned long long)t1.tv_nsec - (unsigned long long)t0.tv_nsec;
            }
            qsort(ns, BATCHES, sizeof ns[0], cmp_u64);
            printf("%s %.1f\n", cases[i].id, (double)ns[BATCHES / 2] / PER_BATCH);
        }
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "--count") == 0) {
        long n = atol(argv[3]);
        for (size_t i = 0; i < ncases; i++)
            if (strcmp(cases[i].id, argv[2]) == 0) {
                for (long k = 0; k < n; k++)
                    sink += run_once(&cases[i], &req, &o);
                return 0;
            }
        fprintf(stderr, "bench_rewrite: no case %s\n", argv[2]);
        return 2;
    }
    fprintf(stderr, "usage: bench_rewrite --list | --time | --count ID N\n");
    return 2;
}
