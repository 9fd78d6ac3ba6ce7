/*
 * kernel_script.h - a scripted kernel for the engine tests, and the
 * "application" that drives hs_io_writev against it while checking the
 * write contract (../shared/design/IO-CONTRACT.md rules 1, 2, 4, 5, 6, 7, 8).
 *
 * The kernel is an hs_kernel whose calls follow a script: accept n bytes,
 * accept up to a chosen wire offset, refuse with -EAGAIN, -EINTR or an
 * error, or decide at random from a seed. It records every byte that
 * "reached the wire", where in memory each byte came from (so a test can
 * prove body bytes were never copied, rule 8), and every call it received.
 * sendfile, splice and pread read from in-memory files.
 */
#ifndef KERNEL_SCRIPT_H
#define KERNEL_SCRIPT_H

#include "headershim.h"

#include <stdio.h>

#define KS_ALL ((size_t)-1)

/* ---- deterministic randomness (splitmix64) ---- */
uint64_t ks_rand(uint64_t *state);
/* Uniform in [0, n); n > 0. */
uint64_t ks_below(uint64_t *state, uint64_t n);

/* ---- the scripted kernel ---- */

typedef enum ks_kind {
    KS_ACCEPT,   /* take min(n, offered) bytes (KS_ALL: all of them) */
    KS_REFUSE,   /* take nothing, return -err */
    KS_UPTO,     /* take bytes up to absolute wire offset n; -EAGAIN when
                    the wire is already there */
} ks_kind;

typedef struct ks_step {
    ks_kind kind;
    size_t n;
    int err;
} ks_step;

typedef enum ks_op {
    KS_OP_SENDV,
    KS_OP_SENDFILE,
    KS_OP_SPLICE,
    KS_OP_PREAD,
    KS_OP_IS_BLOCKING,
    KS_OP_WAIT,
} ks_op;

typedef struct ks_call {
    ks_op op;
    int flags;           /* sendv flags; splice flags */
    int iovcnt;          /* sendv */
    size_t offered;      /* bytes offered (sendv, sendfile, splice), asked
                            (pread) */
    ssize_t ret;
    int fd;              /* sendfile, splice, pread */
    long long off;       /* the offset used, -1 for the file position */
    int timeout_ms;      /* wait_writable */
} ks_call;

typedef struct ks_file {
    int fd;
    char *data;
    size_t len;
    size_t pos;          /* file position, or bytes consumed from a pipe */
    bool pipe;           /* splice only, no offsets, no pread */
} ks_file;

#define KS_MAX_FILES 8
#define KS_STREAM_FD 1000          /* the stream as a file (ks_run) */

typedef struct ks_kernel {
    hs_kernel k;               /* give &ks->k to hs_io_*; k.ctx is ks */

    /* The script: steps for successive non-empty send calls, then either
     * everything accepted or (random) a seeded choice per call. */
    ks_step *steps;
    size_t nsteps, step;
    bool random;
    uint64_t rng;
    uint64_t seed;             /* ks_random's seed, for messages */
    size_t fatal_after;        /* after this many counted calls, every call
                                  fails with fatal_err (0: never) */
    int fatal_err;
    bool blocking;             /* is_blocking's answer (unless MSG_DONTWAIT) */
    int wait_answers[16];      /* wait_writable's answers in turn, then 1 */
    size_t nwait, wait_i;
    size_t max_calls;          /* runaway guard: beyond it every call -EIO */

    /* The record. */
    hs_buf wire;
    const char **src;          /* per wire byte: the address it was read
                                  from; NULL for sendfile/splice bytes */
    size_t src_cap;
    ks_call *calls;
    size_t ncalls, calls_cap;
    size_t counted;            /* calls that consumed a script decision */
    unsigned refusals_in_row;
    bool runaway;
    bool bad_iovcnt;           /* a sendv with iovcnt <= 0 or over iov_max */
    int wait_total_ms;         /* sum of wait_writable timeouts */

    ks_file files[KS_MAX_FILES];
    size_t nfiles;
} ks_kernel;

/* A kernel that accepts everything; iov_max 0 means IOV_MAX. */
void ks_init(ks_kernel *ks);
/* Allocates the recording buffers up front, so that a test which makes
 * malloc fail can aim at the engine's allocations alone. */
void ks_reserve(ks_kernel *ks, size_t wire_bytes, size_t calls);
void ks_free(ks_kernel *ks);
/* Forget the record (wire, calls), keep script and files. */
void ks_clear_record(ks_kernel *ks);
void ks_script(ks_kernel *ks, const ks_step *steps, size_t n);
/* Random decisions from seed: about half the calls take everything, the
 * rest take a random part, one byte, or refuse (-EAGAIN, or -EINTR; no
 * -EAGAIN when blocking). Never more than 3 refusals in a row, so every
 * correct engine makes progress. */
void ks_random(ks_kernel *ks, uint64_t seed, bool blocking);
void ks_add_file(ks_kernel *ks, int fd, const void *data, size_t len,
                 bool pipe);
ks_file *ks_file_of(ks_kernel *ks, int fd);

/* What the kernel saw since call index `mark` (ks->ncalls before). */
typedef struct ks_summary {
    size_t nsend;              /* sendv + sendfile + splice calls */
    bool short_or_refused;     /* one took less than offered */
    bool refused;              /* one returned an error */
    int errs[8];               /* the errors returned (-ret), first 8 */
    size_t nerrs;
    bool flags_differ;         /* a sendv whose flags differ from `flags` */
    bool any_pos_short;        /* a send that took some but not all */
} ks_summary;
ks_summary ks_summarize(const ks_kernel *ks, size_t mark, int flags);
bool ks_summary_has_err(const ks_summary *s, int err);

/* ---- event recording ---- */

#define KS_MAX_EVENTS 256
typedef struct ks_events {
    size_t n;                  /* recorded (at most KS_MAX_EVENTS) */
    size_t total;
    hs_event_kind kind[KS_MAX_EVENTS];
    bool shutdown_read[KS_MAX_EVENTS];
    const char *why[KS_MAX_EVENTS];
    int status[KS_MAX_EVENTS];            /* block's status or 0 */
    size_t nremoved[KS_MAX_EVENTS], nset[KS_MAX_EVENTS],
        nadded[KS_MAX_EVENTS];
    char names[KS_MAX_EVENTS][96];        /* "-Server +X-Test ~X-Foo" */
    bool had_request[KS_MAX_EVENTS];
    char method[KS_MAX_EVENTS][12];
    char path[KS_MAX_EVENTS][32];
} ks_events;
/* An hs_event_fn; ctx is a ks_events. */
void ks_on_event(void *ctx, const hs_event *ev);
size_t ks_count(const ks_events *e, hs_event_kind kind);
/* "REWRITE(200) DESYNC(why,rd) ..." for messages. */
void ks_events_describe(const ks_events *e, char *out, size_t cap);

/* ---- the application and the contract checker ---- */

typedef enum ks_split {
    KS_SPLIT_WHOLE,            /* one call with one iovec */
    KS_SPLIT_CUTS,             /* calls end at cuts[] */
    KS_SPLIT_BYTES,            /* one byte per call */
    KS_SPLIT_RANDOM,           /* seeded random calls of random iovecs,
                                  empty iovecs and empty calls included */
} ks_split;

typedef enum ks_retry {
    KS_RETRY_EXACT,            /* resubmit exactly the unacknowledged rest
                                  of the call, first iovec trimmed (nginx,
                                  Apache resuming mid-iovec) */
    KS_RETRY_MERGE,            /* the rest plus the next planned call */
    KS_RETRY_RESPLIT,          /* the rest cut afresh */
} ks_retry;

typedef struct ks_run {
    const hs_engine_config *cfg;
    int port;
    bool tls;
    const char *assume;        /* hs_conn_assume_request, or NULL */
    const char *req;           /* fed by hs_conn_read before any write */
    size_t req_len;
    uint64_t req_seed;         /* 0: one read; else random pieces */
    const char *stream;        /* the application's bytes; iovecs point
                                  into this very buffer */
    size_t len;
    int flags;                 /* the application's send flags */
    ks_split split;
    const size_t *cuts;        /* KS_SPLIT_CUTS: increasing, in (0, len) */
    size_t ncuts;
    uint64_t seed;             /* KS_SPLIT_RANDOM */
    ks_retry retry;
    int max_iov;               /* the application's iovecs per call at most
                                  (0: 8) */
    /* Requests read as a server reads them: none up front; before a call
     * that reaches stream offset feed_at[i], the request bytes up to
     * feed_to[i] (in req_seed pieces). nfeed 0: all requests up front. */
    const size_t *feed_at, *feed_to;
    size_t nfeed;
    unsigned long *steady_blocks;  /* not NULL: ks_app_run adds the
                                      blocks that went the engine's steady
                                      way (iomap.c) */
    unsigned sendfile_pct;     /* KS_SPLIT_RANDOM: this percentage of calls
                                  are sendfile from a file holding the
                                  stream (fd KS_STREAM_FD), with an offset
                                  or with the file position, as nginx and
                                  BusyBox do */
} ks_run;

/* The transform of a stream: one call through a kernel that accepts
 * everything, then a flush. release[p] is what an all-accepting kernel had
 * on the wire once the application had written p bytes one at a time;
 * direct[w] is the stream offset wire byte w was sent from, zero-copy, in
 * that byte-at-a-time run, or -1 (held, rewritten or copied bytes). */
typedef struct ks_oracle {
    hs_buf wire;
    size_t *release;           /* len + 1 entries */
    long *direct;              /* wire.len entries */
    ks_events events;          /* of the one-call run */
} ks_oracle;

/* Builds the oracle; on failure returns a malloc'd message (the engine
 * disagrees with itself between one call and one byte per call). */
char *ks_oracle_build(const ks_run *r, ks_oracle *o);
void ks_oracle_free(ks_oracle *o);

/* Runs the application against ks (scripted by the caller) and checks
 * every call against the contract and the oracle. Returns NULL, or a
 * malloc'd message naming the call, the seeds and what broke. When the
 * kernel returns a fatal error the application stops there (only the
 * prefix is checked). events may be NULL. */
char *ks_app_run(const ks_run *r, ks_kernel *ks, const ks_oracle *o,
                 ks_events *events);

/* ks_escape of base[off..off+n), base possibly NULL (then n is 0). */
void ks_escape_at(const char *base, size_t off, size_t n, size_t max,
                  char *out, size_t cap);

/* memcmp that allows NULL with n == 0 (empty buffers have no pointer). */
bool ks_same(const void *a, const void *b, size_t n);

/* Formats bytes for messages: printable ASCII as is, others as \xNN, at
 * most max input bytes. */
void ks_escape(const char *p, size_t n, size_t max, char *out, size_t cap);

#endif /* KERNEL_SCRIPT_H */
