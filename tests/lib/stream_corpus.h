/*
 * stream_corpus.h - the response streams of the engine tests, each with the
 * request stream it answers and metadata saying where every response header
 * block lies, so the expected wire can be computed without the engine:
 * each listed block through hs_rewrite (or unchanged), every other byte
 * verbatim. Blocks the engine must NOT parse (inside bodies, after a
 * desync, a tunnel or a close-delimited body) are simply not listed.
 */
#ifndef STREAM_CORPUS_H
#define STREAM_CORPUS_H

#include "headershim.h"

#define SC_MAX_BLOCKS 80
#define SC_MAX_REQS 80

typedef struct sc_block {
    size_t start, end;     /* resp[start..end) is the block */
    int req;               /* index into reqs, or -1: answers no request */
} sc_block;

typedef struct sc_reqinfo {
    const char *method;
    const char *path;      /* normalised, as POLICY.md's `path` */
    const char *host;      /* port removed; NULL: no Host */
    size_t end;            /* req.len once this request (and any bytes
                              added after it by sc_req_bytes) was read */
} sc_reqinfo;

typedef struct sc_stream {
    const char *name;
    hs_buf resp;           /* what the server writes */
    hs_buf req;            /* what the client sent */
    size_t nblocks;
    sc_block blocks[SC_MAX_BLOCKS];
    size_t nreqs;
    sc_reqinfo reqs[SC_MAX_REQS];
    size_t next_req;       /* builder: the request the next block answers */
    bool desync;           /* the engine must report a desync */
    bool opaque;           /* not HTTP at all: byte-identical, events
                              unspecified */
    size_t max_header;     /* the cap the stream is meant for (0: default) */
} sc_stream;

/* The policy the corpus expectations are written for: a set, a remove, and
 * request conditions that prove pairing (X-Path, X-Method, X-Host). */
extern const char sc_policy_small[];

/* Builder. Strings are copied; method/path/host must be string literals. */
void sc_init(sc_stream *s, const char *name);
void sc_free(sc_stream *s);
void sc_req(sc_stream *s, const char *method, const char *path,
            const char *host, const char *raw);
void sc_req_bytes(sc_stream *s, const void *p, size_t n);
/* A response block answering the next request (a 1xx other than 101
 * answers the same request as the final response after it). */
void sc_resp(sc_stream *s, const char *block);
/* Bytes the engine must pass verbatim (bodies, tunnels, after desync). */
void sc_body(sc_stream *s, const char *text);
void sc_body_bytes(sc_stream *s, const void *p, size_t n);
/* n pseudo-random bytes (all 256 values) from seed. */
void sc_body_random(sc_stream *s, size_t n, uint64_t seed);

/* The corpus. */
size_t sc_corpus_count(void);
void sc_corpus_build(size_t i, sc_stream *s);

/* The expected wire: listed blocks through hs_block_parse and hs_rewrite
 * with the request from reqs (tls and port as given), all else verbatim.
 * *nchanged counts HS_REWRITE_CHANGED blocks. Returns false with a reason
 * when a listed block does not parse (a corpus mistake). */
bool sc_expected(const sc_stream *s, const hs_policy *p,
                 const hs_rewrite_opts *o, bool tls, int port, hs_buf *out,
                 size_t *nchanged, char *why, size_t why_cap);

/* Compiles policy text with no loader; aborts with the diagnostics when it
 * does not compile (a test mistake). */
hs_policy *sc_policy(const char *text);

#endif /* STREAM_CORPUS_H */
