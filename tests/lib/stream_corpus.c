/*
 * stream_corpus.c - the response and request streams of the engine tests
 * (see stream_corpus.h), written after the call sequences and responses of
 * ../shared/reference/servers-io.md and the framing table of
 * ../shared/design/IO-CONTRACT.md.
 */
#include "stream_corpus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char sc_policy_small[] =
    "set X-Test 1\n"
    "remove Server\n"
    "when path /a {\n"
    "    set X-Path a\n"
    "}\n"
    "when path /b {\n"
    "    set X-Path b\n"
    "}\n"
    "when method HEAD {\n"
    "    set X-Method head\n"
    "}\n"
    "when host example.com {\n"
    "    add X-Host example\n"
    "}\n";

static void sc_append(hs_buf *b, const void *p, size_t n)
{
    if (!hs_buf_append(b, p, n)) {
        fputs("stream_corpus: out of memory\n", stderr);
        abort();
    }
}

void sc_init(sc_stream *s, const char *name)
{
    memset(s, 0, sizeof *s);
    s->name = name;
}

void sc_free(sc_stream *s)
{
    hs_buf_free(&s->resp);
    hs_buf_free(&s->req);
}

void sc_req(sc_stream *s, const char *method, const char *path,
            const char *host, const char *raw)
{
    if (s->nreqs == SC_MAX_REQS)
        abort();
    sc_append(&s->req, raw, strlen(raw));
    s->reqs[s->nreqs++] = (sc_reqinfo){method, path, host, s->req.len};
}

void sc_req_bytes(sc_stream *s, const void *p, size_t n)
{
    sc_append(&s->req, p, n);
    if (s->nreqs)
        s->reqs[s->nreqs - 1].end = s->req.len;
}

static bool sc_is_interim(const char *block)
{
    /* "HTTP/1.x 1yy" other than 101 (RFC 9112 6.3: no body, the final
     * response follows and answers the same request). */
    return strlen(block) > 12 && block[9] == '1' &&
           !(block[10] == '0' && block[11] == '1');
}

void sc_resp(sc_stream *s, const char *block)
{
    if (s->nblocks == SC_MAX_BLOCKS)
        abort();
    size_t n = strlen(block);
    sc_block *b = &s->blocks[s->nblocks++];
    b->start = s->resp.len;
    b->end = b->start + n;
    b->req = s->next_req < s->nreqs ? (int)s->next_req : -1;
    if (!sc_is_interim(block))
        s->next_req++;
    sc_append(&s->resp, block, n);
}

void sc_body(sc_stream *s, const char *text)
{
    sc_append(&s->resp, text, strlen(text));
}

void sc_body_bytes(sc_stream *s, const void *p, size_t n)
{
    sc_append(&s->resp, p, n);
}

void sc_body_random(sc_stream *s, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (seed += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        char c = (char)(z >> 56);
        sc_append(&s->resp, &c, 1);
    }
}

/* ------------------------------------------------------------ the streams */

#define CRLF "\r\n"

static void sc_single_cl(sc_stream *s)
{
    sc_req(s, "GET", "/", "example.com",
           "GET / HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Server: nginx/1.22.1" CRLF
               "Content-Type: application/json" CRLF
               "Content-Length: 11" CRLF CRLF);
    sc_body(s, "{\"ok\":true}");
}

/* Pipelined keep-alive: a GET, a chunked GET, a HEAD whose Content-Length
 * promises no body (RFC 9112 6.3), a 304 and a 204 with lengths that are
 * also not bodies. */
static void sc_pipelined_mixed(sc_stream *s)
{
    sc_req(s, "GET", "/a", "example.com",
           "GET /a?x=1 HTTP/1.1" CRLF "Host: example.com:8080" CRLF CRLF);
    sc_req(s, "GET", "/b", "other.test",
           "GET /./b HTTP/1.1" CRLF "Host: other.test" CRLF CRLF);
    sc_req(s, "HEAD", "/c", "example.com",
           "HEAD /c HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_req(s, "GET", "/d", "example.com",
           "GET /d HTTP/1.1" CRLF "Host: example.com" CRLF
           "If-None-Match: \"x\"" CRLF CRLF);
    sc_req(s, "DELETE", "/e", "example.com",
           "DELETE /e HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Server: a" CRLF
               "Content-Length: 5" CRLF CRLF);
    sc_body(s, "aaaaa");
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Server: b" CRLF
               "Transfer-Encoding: chunked" CRLF CRLF);
    sc_body(s, "3" CRLF "bbb" CRLF "0" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Server: c" CRLF
               "Content-Length: 1234" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 304 Not Modified" CRLF "ETag: \"x\"" CRLF
               "Content-Length: 50" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 204 No Content" CRLF "Server: e" CRLF
               "Content-Length: 7" CRLF CRLF);
}

/* Chunk data that is itself a header block, a chunk extension, and
 * trailers with a Server line: all body, all verbatim (POLICY.md: trailers
 * pass through unchanged). */
static void sc_chunked_tricky(sc_stream *s)
{
    static const char fake[] = "HTTP/1.1 200 OK" CRLF "Server: inner" CRLF
                               "Content-Length: 0" CRLF CRLF;
    char line[32];
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_req(s, "GET", "/b", "example.com",
           "GET /b HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Server: outer" CRLF
               "Transfer-Encoding: gzip, chunked" CRLF "Trailer: Server" CRLF
               CRLF);
    snprintf(line, sizeof line, "%zx;name=\"v\"" CRLF, sizeof fake - 1);
    sc_body(s, line);
    sc_body(s, fake);
    sc_body(s, CRLF "1" CRLF "\n" CRLF "1A" CRLF);
    sc_body_random(s, 26, 7);
    sc_body(s, CRLF "0" CRLF "Server: trailer" CRLF "X-Sum: 1" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Server: next" CRLF
               "Content-Length: 3" CRLF CRLF);
    sc_body(s, "end");
}

static void sc_cl_status_lines(sc_stream *s)
{
    static const char body[] = "HTTP/1.1 404 Not Found" CRLF "Server: fake" CRLF
                               "Content-Length: 0" CRLF CRLF
                               "HTTP/1.0 200 OK\n\n";
    char block[160];
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_req(s, "GET", "/x", "example.com",
           "GET /x HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    snprintf(block, sizeof block,
             "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
             "Content-Type: text/plain" CRLF "Content-Length: %zu" CRLF CRLF,
             sizeof body - 1);
    sc_resp(s, block);
    sc_body(s, body);
    sc_resp(s, "HTTP/1.1 404 Not Found" CRLF "Server: s" CRLF
               "Content-Length: 0" CRLF CRLF);
}

/* 1xx: no body, never rewritten (POLICY.md), the final response follows. */
static void sc_interim(sc_stream *s)
{
    sc_req(s, "POST", "/a", "example.com",
           "POST /a HTTP/1.1" CRLF "Host: example.com" CRLF
           "Expect: 100-continue" CRLF "Content-Length: 4" CRLF CRLF "data");
    sc_resp(s, "HTTP/1.1 100 Continue" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 103 Early Hints" CRLF "Server: early" CRLF
               "Link: </s.css>; rel=preload" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 201 Created" CRLF "Server: s" CRLF
               "Content-Length: 2" CRLF CRLF);
    sc_body(s, "ok");
}

/* 101: the connection leaves HTTP; what follows is never parsed. */
static void sc_switching(sc_stream *s)
{
    static const unsigned char frame[] = {0x81, 0x05, 'h', 'e', 'l', 'l', 'o'};
    sc_req(s, "GET", "/ws", "example.com",
           "GET /ws HTTP/1.1" CRLF "Host: example.com" CRLF
           "Upgrade: websocket" CRLF "Connection: Upgrade" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 101 Switching Protocols" CRLF "Server: s" CRLF
               "Upgrade: websocket" CRLF "Connection: Upgrade" CRLF CRLF);
    sc_body_bytes(s, frame, sizeof frame);
    sc_body(s, "HTTP/1.1 200 OK" CRLF "Server: tunnelled" CRLF
               "Content-Length: 0" CRLF CRLF);
}

/* 2xx to CONNECT: a tunnel; the 200 itself is a final response and is
 * rewritten, nothing after it is. */
static void sc_connect_tunnel(sc_stream *s)
{
    static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x00, 0x05,
                                          0x01, 0x00, 0x00, 0x01, 0x00};
    sc_req(s, "CONNECT", NULL, "example.com",
           "CONNECT example.com:443 HTTP/1.1" CRLF
           "Host: example.com:443" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 200 Connection Established" CRLF "Server: p" CRLF
               CRLF);
    sc_body_bytes(s, hello, sizeof hello);
    sc_body(s, "HTTP/1.1 200 OK" CRLF "Server: inner" CRLF
               "Content-Length: 0" CRLF CRLF);
}

/* A refused CONNECT is an ordinary response; HTTP goes on after it. */
static void sc_connect_refused(sc_stream *s)
{
    sc_req(s, "CONNECT", NULL, "example.com",
           "CONNECT example.com:443 HTTP/1.1" CRLF
           "Host: example.com:443" CRLF CRLF);
    sc_req(s, "GET", "/b", "example.com",
           "GET /b HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 407 Proxy Authentication Required" CRLF
               "Server: p" CRLF "Content-Length: 4" CRLF CRLF);
    sc_body(s, "auth");
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Server: p" CRLF
               "Content-Length: 2" CRLF CRLF);
    sc_body(s, "hi");
}

/* Neither length nor chunked: the body runs until close, nothing after the
 * block is parsed (PHP -S scripts, CGI). */
static void sc_close_delimited(sc_stream *s)
{
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Server: php" CRLF
               "Content-Type: text/html" CRLF CRLF);
    sc_body(s, "<p>one</p>\n" "HTTP/1.1 200 OK" CRLF "Server: fake" CRLF CRLF
               "more");
}

/* Transfer-Encoding not ending in chunked: until close. */
static void sc_te_until_close(sc_stream *s)
{
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
               "Transfer-Encoding: gzip" CRLF CRLF);
    sc_body(s, "\x1f\x8b" "HTTP/1.1 200 OK" CRLF "Server: x" CRLF CRLF);
}

/* Bare-LF blocks (RFC 9112 2.2 lets recipients accept them); a block with
 * one ending style throughout is unambiguous. */
static void sc_bare_lf(sc_stream *s)
{
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1\nHost: example.com\n\n");
    sc_req(s, "GET", "/b", "example.com",
           "GET /b HTTP/1.1\nHost: example.com\n\n");
    sc_resp(s, "HTTP/1.1 200 OK\nServer: lf\nContent-Length: 3\n\n");
    sc_body(s, "one");
    sc_resp(s, "HTTP/1.1 200 OK\nServer: lf\nContent-Length: 3\n\n");
    sc_body(s, "two");
}

/* HTTP/1.0 without keep-alive closes after the response: nothing more is
 * parsed, even bytes that look like a response (mini_httpd CGI). */
static void sc_http10_close(sc_stream *s)
{
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.0" CRLF "Host: example.com" CRLF CRLF);
    sc_resp(s, "HTTP/1.0 200 OK" CRLF "Server: mini_httpd" CRLF
               "Content-Length: 2" CRLF CRLF);
    sc_body(s, "hi" "HTTP/1.0 200 OK" CRLF "Server: again" CRLF CRLF);
}

static void sc_http10_keepalive(sc_stream *s)
{
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.0" CRLF "Host: example.com" CRLF
           "Connection: keep-alive" CRLF CRLF);
    sc_req(s, "GET", "/b", "example.com",
           "GET /b HTTP/1.0" CRLF "Host: example.com" CRLF
           "Connection: keep-alive" CRLF CRLF);
    sc_resp(s, "HTTP/1.0 200 OK" CRLF "Server: s" CRLF
               "Connection: keep-alive" CRLF "Content-Length: 2" CRLF CRLF);
    sc_body(s, "hi");
    sc_resp(s, "HTTP/1.0 200 OK" CRLF "Server: s" CRLF
               "Connection: close" CRLF "Content-Length: 2" CRLF CRLF);
    sc_body(s, "ho");
}

static void sc_connection_close(sc_stream *s)
{
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Server: busybox" CRLF
               "Connection: close" CRLF "Content-Length: 2" CRLF CRLF);
    sc_body(s, "ok" "HTTP/1.1 200 OK" CRLF "Server: after" CRLF CRLF);
}

/* Request bodies that contain request lines must be skipped by their
 * framing, so responses pair with the real requests: X-Path proves it. */
static void sc_request_bodies(sc_stream *s)
{
    static const char evil[] = "GET /b HTTP/1.1" CRLF "Host: evil" CRLF CRLF;
    char raw[256];
    snprintf(raw, sizeof raw,
             "POST /p HTTP/1.1" CRLF "Host: example.com" CRLF
             "Content-Length: %zu" CRLF CRLF "%s",
             sizeof evil - 1, evil);
    sc_req(s, "POST", "/p", "example.com", raw);
    snprintf(raw, sizeof raw,
             "POST /a HTTP/1.1" CRLF "Host: example.com" CRLF
             "Transfer-Encoding: chunked" CRLF CRLF "%zx" CRLF "%s" CRLF
             "0" CRLF CRLF,
             sizeof evil - 1, evil);
    sc_req(s, "POST", "/a", "example.com", raw);
    sc_req(s, "GET", "/b", "example.com",
           "GET /b HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    for (int i = 0; i < 3; i++) {
        sc_resp(s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
                   "Content-Length: 1" CRLF CRLF);
        sc_body(s, "x");
    }
}

/* Node's 404: chunked, first chunk right behind the block. */
static void sc_node_chunked(sc_stream *s)
{
    sc_req(s, "GET", "/missing", "example.com",
           "GET /missing HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 404 Not Found" CRLF
               "Content-Type: text/plain" CRLF
               "Date: Sun, 29 Nov 2026 02:00:00 GMT" CRLF
               "Connection: keep-alive" CRLF "Keep-Alive: timeout=5" CRLF
               "Transfer-Encoding: chunked" CRLF CRLF);
    sc_body(s, "a" CRLF "0123456789" CRLF "0" CRLF CRLF);
}

static void sc_big_header(sc_stream *s)
{
    hs_buf b = {0};
    char line[128];
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_append(&b, "HTTP/1.1 200 OK" CRLF "Server: big" CRLF,
              strlen("HTTP/1.1 200 OK" CRLF "Server: big" CRLF));
    for (int i = 0; i < 60; i++) {
        int n = snprintf(line, sizeof line,
                         "X-Field-%02d: value %d with some padding text" CRLF,
                         i, i * 7919);
        sc_append(&b, line, (size_t)n);
    }
    sc_append(&b, "Content-Length: 4" CRLF CRLF "", 21);
    sc_append(&b, "", 1);
    sc_resp(s, b.p);
    sc_body(s, "body");
    hs_buf_free(&b);
}

/* A repeated identical Content-Length counts as one (IO-CONTRACT.md). */
static void sc_same_cl_twice(sc_stream *s)
{
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Content-Length: 5" CRLF "Server: s" CRLF
               "Content-Length: 5" CRLF CRLF);
    sc_body(s, "12345");
}

static void sc_many_small(sc_stream *s)
{
    static const char *paths[] = {"/a", "/b", "/c"};
    for (int i = 0; i < 21; i++) {
        char raw[96];
        snprintf(raw, sizeof raw, "GET %s HTTP/1.1" CRLF
                 "Host: example.com" CRLF CRLF, paths[i % 3]);
        sc_req(s, "GET", paths[i % 3], "example.com", raw);
    }
    for (int i = 0; i < 7; i++) {
        sc_resp(s, "HTTP/1.1 304 Not Modified" CRLF "Server: s" CRLF CRLF);
        sc_resp(s, "HTTP/1.1 204 No Content" CRLF CRLF);
        sc_resp(s, "HTTP/1.1 200 OK" CRLF "Content-Length: 0" CRLF CRLF);
    }
}

/* More responses than requests: the last answers no request, so request
 * conditions match nothing (POLICY.md). */
static void sc_unanswered(sc_stream *s)
{
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Content-Length: 1" CRLF CRLF);
    sc_body(s, "1");
    sc_resp(s, "HTTP/1.1 408 Request Timeout" CRLF "Server: s" CRLF
               "Content-Length: 1" CRLF CRLF);
    sc_body(s, "2");
}

/* ---- desync streams: the bytes still go out, unchanged from there on */

/* BusyBox answers HEAD with a body (servers-io.md section 5). */
static void sc_head_with_body(sc_stream *s)
{
    sc_req(s, "HEAD", "/a", "example.com",
           "HEAD /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_req(s, "GET", "/b", "example.com",
           "GET /b HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Server: busybox" CRLF
               "Content-Length: 5" CRLF CRLF);
    sc_body(s, "hello" "HTTP/1.1 200 OK" CRLF "Server: next" CRLF
               "Content-Length: 0" CRLF CRLF);
    s->desync = true;
}

static void sc_ambiguous_second(sc_stream *s)
{
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_req(s, "GET", "/b", "example.com",
           "GET /b HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
               "Content-Length: 1" CRLF CRLF);
    sc_body(s, "1");
    sc_body(s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF "X-Folded: a" CRLF
               " b" CRLF "Content-Length: 1" CRLF CRLF "2");
    s->desync = true;
}

static void sc_body_overrun(sc_stream *s)
{
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
               "Content-Length: 3" CRLF CRLF);
    sc_body(s, "hello" "HTTP/1.1 200 OK" CRLF "Server: s" CRLF CRLF);
    s->desync = true;
}

/* Chunked framing that breaks inside the body: the block before it was
 * fine and is rewritten; from the bad size line on, bytes go verbatim. */
static void sc_chunked_bad_size(sc_stream *s)
{
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_resp(s, "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
               "Transfer-Encoding: chunked" CRLF CRLF);
    sc_body(s, "3" CRLF "abc" CRLF "zz" CRLF "HTTP/1.1 200 OK" CRLF
               "Server: s" CRLF CRLF);
    s->desync = true;
}

static void sc_te_in_http10(sc_stream *s)
{
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_body(s, "HTTP/1.0 200 OK" CRLF "Server: s" CRLF
               "Transfer-Encoding: chunked" CRLF CRLF "0" CRLF CRLF);
    s->desync = true;
}

/* max_header 256: one block under, one of exactly 256 (rewritten), and the
 * stream of a block of 257 is in sc_oversize. */
static void sc_block_of(hs_buf *b, size_t total, const char *first)
{
    static const char head[] = "HTTP/1.1 200 OK" CRLF "Server: s" CRLF
                               "Content-Length: 0" CRLF;
    sc_append(b, head, sizeof head - 1);
    sc_append(b, "X-Pad: ", 7);
    size_t pad = total - (sizeof head - 1) - 7 - 4;
    for (size_t i = 0; i < pad; i++)
        sc_append(b, first, 1);
    sc_append(b, CRLF CRLF, 5);
}

static void sc_exact_cap(sc_stream *s)
{
    hs_buf b = {0};
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_block_of(&b, 256, "p");
    sc_resp(s, b.p);
    s->max_header = 256;
    hs_buf_free(&b);
}

static void sc_oversize(sc_stream *s)
{
    hs_buf b = {0};
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_block_of(&b, 257, "q");
    sc_body(s, b.p);
    s->max_header = 256;
    s->desync = true;
    hs_buf_free(&b);
}

/* ---- not HTTP at all: byte-identical */

static void sc_tls_records(sc_stream *s)
{
    static const unsigned char rec[] = {0x16, 0x03, 0x03, 0x00, 0x31, 0x02,
                                        0x00, 0x00, 0x2d, 0x03, 0x03};
    sc_req_bytes(s, "\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", 10);
    sc_body_bytes(s, rec, sizeof rec);
    sc_body_random(s, 0x31 - 6, 11);
    sc_body(s, "\x17\x03\x03");
    sc_body_bytes(s, "\x00\x20", 2);
    sc_body_random(s, 32, 12);
    s->opaque = true;
}

static void sc_h2(sc_stream *s)
{
    static const unsigned char settings[] = {0, 0, 6, 4, 0, 0, 0, 0, 0,
                                             0, 3, 0, 0, 0, 100};
    sc_req_bytes(s, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
    sc_body_bytes(s, settings, sizeof settings);
    sc_body(s, "HTTP/1.1 200 OK" CRLF "Server: h1-looking" CRLF CRLF);
    s->opaque = true;
}

/* Starts like a status line and is not one: passes through, and whether
 * the application wrote "HTTP/" alone must not matter. */
static void sc_almost_status(sc_stream *s)
{
    sc_req(s, "GET", "/a", "example.com",
           "GET /a HTTP/1.1" CRLF "Host: example.com" CRLF CRLF);
    sc_body(s, "HTTP/add 200 OK" CRLF "Server: s" CRLF "Content-Length: 0"
               CRLF CRLF);
    s->opaque = true;
}

static void sc_binary(sc_stream *s)
{
    sc_body_random(s, 700, 99);
    s->opaque = true;
}

typedef struct sc_entry {
    const char *name;
    void (*build)(sc_stream *s);
} sc_entry;

static const sc_entry sc_entries[] = {
    {"single-cl", sc_single_cl},
    {"pipelined-mixed", sc_pipelined_mixed},
    {"chunked-tricky", sc_chunked_tricky},
    {"cl-status-lines", sc_cl_status_lines},
    {"interim-100-103", sc_interim},
    {"switching-101", sc_switching},
    {"connect-tunnel", sc_connect_tunnel},
    {"connect-refused", sc_connect_refused},
    {"close-delimited", sc_close_delimited},
    {"te-until-close", sc_te_until_close},
    {"bare-lf", sc_bare_lf},
    {"http10-close", sc_http10_close},
    {"http10-keepalive", sc_http10_keepalive},
    {"connection-close", sc_connection_close},
    {"request-bodies", sc_request_bodies},
    {"node-chunked", sc_node_chunked},
    {"big-header", sc_big_header},
    {"same-cl-twice", sc_same_cl_twice},
    {"many-small", sc_many_small},
    {"unanswered", sc_unanswered},
    {"head-with-body", sc_head_with_body},
    {"ambiguous-second", sc_ambiguous_second},
    {"body-overrun", sc_body_overrun},
    {"te-in-http10", sc_te_in_http10},
    {"chunked-bad-size", sc_chunked_bad_size},
    {"exact-cap", sc_exact_cap},
    {"oversize", sc_oversize},
    {"tls-records", sc_tls_records},
    {"h2-preface", sc_h2},
    {"almost-status", sc_almost_status},
    {"binary", sc_binary},
};

size_t sc_corpus_count(void)
{
    return sizeof sc_entries / sizeof sc_entries[0];
}

void sc_corpus_build(size_t i, sc_stream *s)
{
    sc_init(s, sc_entries[i].name);
    sc_entries[i].build(s);
}

/* ---------------------------------------------------------- expectations */

bool sc_expected(const sc_stream *s, const hs_policy *p,
                 const hs_rewrite_opts *o, bool tls, int port, hs_buf *out,
                 size_t *nchanged, char *why, size_t why_cap)
{
    hs_block *b = malloc(sizeof *b);
    if (!b)
        abort();
    size_t at = 0;
    *nchanged = 0;
    out->len = 0;
    bool ok = true;
    for (size_t i = 0; i < s->nblocks && ok; i++) {
        const sc_block *sb = &s->blocks[i];
        sc_append(out, s->resp.p + at, sb->start - at);
        const char *reason = NULL;
        hs_block_status st = hs_block_parse(s->resp.p + sb->start,
                                            sb->end - sb->start, b, &reason);
        if (st != HS_BLOCK_OK) {
            snprintf(why, why_cap, "%s: listed block %zu does not parse (%d, %s)",
                     s->name, i, (int)st, reason ? reason : "");
            ok = false;
            break;
        }
        hs_request rq;
        memset(&rq, 0, sizeof rq);
        rq.port = port;
        rq.tls = tls;
        if (sb->req >= 0) {
            const sc_reqinfo *ri = &s->reqs[sb->req];
            rq.has_request = true;
            rq.method = (hs_str){ri->method, strlen(ri->method)};
            rq.path_ok = ri->path != NULL;
            if (ri->path)
                rq.path = (hs_str){ri->path, strlen(ri->path)};
            rq.has_host = ri->host != NULL;
            if (ri->host)
                rq.host = (hs_str){ri->host, strlen(ri->host)};
        }
        size_t before = out->len;
        hs_rewrite_status rs = hs_rewrite(p, o, b, &rq, out, NULL);
        if (rs == HS_REWRITE_CHANGED) {
            (*nchanged)++;
        } else {
            out->len = before;
            sc_append(out, s->resp.p + sb->start, sb->end - sb->start);
        }
        at = sb->end;
    }
    if (ok)
        sc_append(out, s->resp.p + at, s->resp.len - at);
    free(b);
    return ok;
}

static void sc_diag(void *ctx, const hs_diag *d)
{
    (void)ctx;
    fprintf(stderr, "%s:%u:%u: %s%s\n", d->file ? d->file : "?", d->line,
            d->col, d->level == HS_DIAG_WARNING ? "warning: " : "",
            d->message);
}

hs_policy *sc_policy(const char *text)
{
    hs_policy *p;
    if (!strchr(text, '\n') && !strchr(text, ' '))
        p = hs_policy_load(text, NULL, NULL, sc_diag, NULL);
    else
        p = hs_policy_parse("test.policy", text, strlen(text), NULL, NULL,
                            sc_diag, NULL);
    if (!p) {
        fprintf(stderr, "stream_corpus: policy does not compile:\n%s\n", text);
        abort();
    }
    return p;
}
