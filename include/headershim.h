/*
 * headershim.h - the pure core's API.
 *
 * Everything declared here is pure C over byte buffers: no I/O, no globals
 * that outlive a call, no libc function that the shim itself interposes
 * (write, send, read, close, ...). The shell (shim/shell/), the command
 * (shim/cli/), the tests and the fuzzers all use the core through this file.
 *
 * Layers, bottom up:
 *   http1     response header blocks, request heads, chunked framing,
 *             target normalisation (RFC 9112, RFC 3986)
 *   policy    the policy language compiled to rules (../shared/design/POLICY.md)
 *   rewrite   compiled rules x parsed block x request -> new block + changes
 *   conn      the per-connection engine: framing, held blocks, request queue
 *   iomap     the write contract (IO-CONTRACT.md) driven against a kernel
 *             given as function pointers, so tests can script it
 */
#ifndef HEADERSHIM_H
#define HEADERSHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define HS_VERSION "0.1.0"

/* ------------------------------------------------------------------------
 * Small shared types
 * ------------------------------------------------------------------------ */

/* A byte string that does not own its bytes. */
typedef struct hs_str {
    const char *p;
    size_t len;
} hs_str;

/* A growable byte buffer owned by its user (free with hs_buf_free). */
typedef struct hs_buf {
    char *p;
    size_t len;
    size_t cap;
} hs_buf;

/* Returns false (buffer unchanged) when memory runs out. */
bool hs_buf_reserve(hs_buf *b, size_t extra);
bool hs_buf_append(hs_buf *b, const void *p, size_t n);
void hs_buf_free(hs_buf *b);

/* ------------------------------------------------------------------------
 * http1: parsing (shim/core/http1_*.c)
 * ------------------------------------------------------------------------ */

/* Bounds that belong to parsing itself (IO-CONTRACT.md "Bounds"). */
#define HS_MAX_FIELDS 256            /* field lines per block or request head */
#define HS_MAX_REQUEST_HEAD 16384    /* an unfinished request head */
#define HS_MAX_BLOCK_LIMIT 1048576   /* HEADERSHIM_MAX_HEADER/_OUTPUT ceiling */

/* One field line of a header block. name/value point into the block; value
 * is trimmed of surrounding blanks. line_off/line_len cover the whole line
 * including its line ending, so untouched lines can be copied byte for byte. */
typedef struct hs_field {
    hs_str name;
    hs_str value;
    size_t line_off;
    size_t line_len;
} hs_field;

/* Where a header block ends: the offset just past its blank line (CRLF CRLF
 * or LF LF, mixed endings included), searching buf[from..len). `from` lets a
 * caller resume a search over bytes it already scanned (pass the previous
 * len minus 3, or 0). Returns 0 when the block is not complete yet. */
size_t hs_block_end(const char *buf, size_t len, size_t from);

/* Why a block is refused. HS_BLOCK_OK means parsed and unambiguous. */
typedef enum hs_block_status {
    HS_BLOCK_OK = 0,
    HS_BLOCK_NOT_HTTP,      /* no "HTTP/1.x NNN" status line: not a response */
    HS_BLOCK_AMBIGUOUS,     /* IO-CONTRACT.md "unambiguous" rule broken */
    HS_BLOCK_TOO_MANY_FIELDS,
    HS_BLOCK_INCOMPLETE,    /* hs_block_parse_stream: no blank line yet */
} hs_block_status;

/* A parsed response header block: status line through blank line. */
typedef struct hs_block {
    const char *base;        /* the block's bytes */
    size_t len;              /* whole block, blank line included */
    int minor;               /* HTTP/1.<minor> */
    int status;              /* 100..999 */
    size_t status_line_len;  /* including its line ending */
    bool crlf;               /* line ending of the status line (and, being
                                unambiguous, of every line) */
    size_t nfields;
    hs_field fields[HS_MAX_FIELDS];
    const struct hs_plan *shape;  /* hs_block_parse_shaped: the shape it
                                     was read against; NULL otherwise */
    uint32_t shape_reread;   /* with a shape: bit i set when field i differs
                                from the shape's block and was read anew */
    const struct hs_framing_facts *shape_facts; /* with a shape: what its
                                framing lines say, when the block's HTTP
                                version and framing lines are the shape
                                block's byte for byte; else NULL */
} hs_block;

/* Parses and checks buf[0..len), a complete block (len from hs_block_end).
 * On anything but HS_BLOCK_OK, *why (if not NULL) gets a short static
 * reason such as "obs-fold" or "two Content-Length values". */
hs_block_status hs_block_parse(const char *buf, size_t len, hs_block *b,
                               const char **why);

/* hs_block_end and hs_block_parse in one pass, for the common case of a
 * block at the start of buf[0..avail) followed by (part of) its body: on
 * HS_BLOCK_OK, b->len is where the block ends. HS_BLOCK_INCOMPLETE when
 * avail holds no blank line yet; the other results as hs_block_parse gives
 * them for buf[0..hs_block_end(buf, avail, 0)). */
hs_block_status hs_block_parse_stream(const char *buf, size_t avail,
                                      hs_block *b, const char **why);

/* A response shape: the field names in order, the Content-Type, the
 * status, of a block some earlier response had, and what a policy does to
 * it (rewrite_plan.c). A connection keeps the shape of its last response
 * (NULL at first); the next block, if it has the same shape, is read
 * against it, which checks the same rules as hs_block_parse_stream for
 * less (its names are known, and known good) and spares hs_rewrite its
 * lookup. Shapes live as long as the policy that made them. */
typedef const struct hs_plan *hs_shape;

/* hs_block_parse_stream, trying `shape` first (NULL: none). The result is
 * the same either way; b->shape says whether the shape fitted. */
hs_block_status hs_block_parse_shaped(hs_shape shape, const char *buf,
                                      size_t avail, hs_block *b,
                                      const char **why);

/* The framing lines of a block read against a shape (b->shape not NULL):
 * bit i set when field i is a Connection, Content-Length or
 * Transfer-Encoding line. (When the block repeats them, b->shape_facts
 * says what they say, and hs_response_framing reads no line.) */
uint32_t hs_shape_framing(const hs_block *b);

/* True when the first n bytes could still begin "HTTP/1.<digit> ";
 * a caller must offer 9 bytes before taking a yes as a status line. */
bool hs_could_be_status_line(const char *buf, size_t n);

/* Finds a field by case-insensitive name; returns its index or -1.
 * Searches from index `from`. */
int hs_block_find(const hs_block *b, const char *name, size_t name_len,
                  size_t from);

/* The request methods that change response framing (RFC 9112 6.3). */
typedef enum hs_method_kind {
    HS_METHOD_NONE = 0,      /* no request known */
    HS_METHOD_OTHER,
    HS_METHOD_HEAD,
    HS_METHOD_CONNECT,
} hs_method_kind;

/* How the body after a response header block is framed (IO-CONTRACT.md,
 * "Framing"). */
typedef enum hs_body_kind {
    HS_BODY_NONE,        /* no body: next bytes are the next status line */
    HS_BODY_LENGTH,      /* exactly `length` bytes */
    HS_BODY_CHUNKED,     /* chunk by chunk through the trailers */
    HS_BODY_UNTIL_CLOSE, /* until the connection closes; nothing more parsed */
    HS_BODY_TUNNEL,      /* 101, or 2xx to CONNECT: HTTP ends, pass-through */
    HS_BODY_INTERIM,     /* 1xx other than 101: no body, final response next */
} hs_body_kind;

typedef struct hs_framing {
    hs_body_kind kind;
    uint64_t length;     /* HS_BODY_LENGTH only */
    bool close_after;    /* Connection: close (or HTTP/1.0 without
                            keep-alive): nothing is parsed after this
                            response */
} hs_framing;

/* What the framing lines of a block (Connection, Content-Length,
 * Transfer-Encoding) and its HTTP version say, whatever the request. */
typedef struct hs_framing_facts {
    bool close;          /* Connection: close, or HTTP/1.0 without
                            keep-alive (RFC 9112 9.3, 9.6) */
    bool coded;          /* Transfer-Encoding present */
    bool chunked;        /* ... and its last coding is chunked */
    bool has_length;     /* Content-Length present */
    bool length_ok;      /* ... and one valid value: length */
    uint64_t length;
} hs_framing_facts;

hs_framing_facts hs_block_framing_facts(const hs_block *b);

/* Framing of the response in b, answering a request of method m.
 * b must have parsed as HS_BLOCK_OK. */
hs_framing hs_response_framing(const hs_block *b, hs_method_kind m);

/* Chunked body decoder (RFC 9112 7.1), fed in arbitrary pieces. Only framing
 * bytes are looked at; chunk data is skipped by count. */
typedef struct hs_chunked {
    int state;               /* private */
    uint64_t remaining;      /* data bytes left in the current chunk */
    unsigned line_len;       /* bytes of the current size/trailer line */
    bool done;               /* last chunk and trailers complete */
    bool error;              /* invalid framing: the caller desyncs */
} hs_chunked;

void hs_chunked_init(hs_chunked *c);
/* Chunk data bytes that may follow without being looked at (0 when the
 * decoder expects a size line, CRLF or trailers), and skipping n <= that
 * many: for sendfile and splice bodies, which are counted, never read. */
uint64_t hs_chunked_data_left(const hs_chunked *c);
void hs_chunked_skip_data(hs_chunked *c, uint64_t n);
/* Consumes up to n bytes; returns how many belong to the chunked body
 * (fewer than n only when the body ended inside buf, or on error). */
size_t hs_chunked_feed(hs_chunked *c, const char *buf, size_t n);

/* A parsed request head (request line through blank line). */
typedef struct hs_request_head {
    size_t len;              /* whole head, blank line included */
    hs_str method;
    hs_str target;
    int minor;
    size_t nfields;
    hs_field fields[HS_MAX_FIELDS];
} hs_request_head;

typedef enum hs_request_status {
    HS_REQUEST_OK = 0,
    HS_REQUEST_INCOMPLETE,   /* need more bytes */
    HS_REQUEST_INVALID,      /* cannot be framed: the connection desyncs */
    HS_REQUEST_HTTP2,        /* "PRI * HTTP/2.0" preface: not HTTP/1 */
} hs_request_status;

/* Parses a request head at the start of buf[0..len). */
hs_request_status hs_request_parse(const char *buf, size_t len,
                                   hs_request_head *r);

/* Request body framing: Content-Length (length) or chunked, else none. */
typedef struct hs_request_body {
    enum { HS_REQ_BODY_NONE, HS_REQ_BODY_LENGTH, HS_REQ_BODY_CHUNKED } kind;
    uint64_t length;
} hs_request_body;

/* Returns false when the body cannot be framed (conflicting lengths,
 * Transfer-Encoding not ending in chunked, both TE and CL). */
bool hs_request_body_framing(const hs_request_head *r, hs_request_body *b);

hs_method_kind hs_method_kind_of(hs_str method);

/* POLICY.md "path": query removed, absolute-form reduced to its path,
 * percent-encoded unreserved characters decoded, dot segments removed
 * (RFC 3986 6.2.2, 5.2.4). Writes at most cap bytes to out. Returns false
 * when the target cannot be normalised (invalid escape, NUL, neither
 * origin-form nor absolute-form, or longer than cap). */
bool hs_normalize_path(const char *target, size_t len, char *out, size_t cap,
                       size_t *out_len);

/* Host without port ("example.com:8080" -> "example.com", "[::1]:80" ->
 * "[::1]"). */
hs_str hs_host_without_port(hs_str host);

/* ------------------------------------------------------------------------
 * config: values of the HEADERSHIM_* variables (shim/core/config.c), shared
 * by the library and the command so that both take the same values
 * ------------------------------------------------------------------------ */

/* The index of value in words ("enforce|report|off"), or -1. */
int hs_config_choice(const char *value, const char *words);

/* HEADERSHIM_MAX_HEADER and _MAX_OUTPUT: decimal digits only, from 1 to
 * HS_MAX_BLOCK_LIMIT. False (and *out untouched) otherwise. */
bool hs_config_size(const char *value, size_t *out);
#define HS_CONFIG_SIZE_EXPECTED "a number of bytes from 1 to 1048576"

/* ------------------------------------------------------------------------
 * policy: the language (shim/core/policy_*.c)
 * ------------------------------------------------------------------------ */

typedef struct hs_policy hs_policy;

typedef enum hs_diag_level { HS_DIAG_ERROR, HS_DIAG_WARNING } hs_diag_level;

/* One error or warning. Printed as "FILE:LINE:COLUMN: message" (warnings as
 * "FILE:LINE:COLUMN: warning: message"). Strings live only during the
 * callback. */
typedef struct hs_diag {
    hs_diag_level level;
    const char *file;
    unsigned line;
    unsigned col;
    const char *message;
} hs_diag;

typedef void (*hs_diag_fn)(void *ctx, const hs_diag *d);

/* The loader: the only way file text reaches the parser. Returns 0 with
 * *text (malloc'd, the parser frees it) and *len, or -1 with a reason in
 * why[0..why_len) for a file-level error ("not a regular file", "cannot
 * be read: No such file or directory", "over 1 MiB"). */
typedef int (*hs_load_fn)(void *ctx, const char *path, char **text,
                          size_t *len, char *why, size_t why_len);

/* Compiles a policy. `spec` is a preset name or a path (it contains '/' or
 * ends in ".policy"). Every error and warning goes to diag. Returns NULL
 * when there was at least one error (or memory ran out). */
hs_policy *hs_policy_load(const char *spec, hs_load_fn load, void *load_ctx,
                          hs_diag_fn diag, void *diag_ctx);

/* The same from text in memory; `file` names it in messages and anchors
 * relative includes. */
hs_policy *hs_policy_parse(const char *file, const char *text, size_t len,
                           hs_load_fn load, void *load_ctx, hs_diag_fn diag,
                           void *diag_ctx);

void hs_policy_free(hs_policy *p);

/* The normalised policy that `headershim check` prints: includes spliced,
 * one directive a line, blocks indented by four spaces, values quoted where
 * needed. Appends to out; false on memory exhaustion. */
bool hs_policy_format(const hs_policy *p, hs_buf *out);

/* What request information the policy's conditions use, so the engine can
 * skip keeping what nobody reads. */
#define HS_NEEDS_PATH           0x01u
#define HS_NEEDS_HOST           0x02u
#define HS_NEEDS_REQUEST_HEADER 0x04u
#define HS_NEEDS_METHOD         0x08u
unsigned hs_policy_needs(const hs_policy *p);

/* Built-in presets (compiled in from the policies folder). */
typedef struct hs_preset {
    const char *name;
    const char *description;  /* one line */
    const char *source;
    size_t source_len;
} hs_preset;

extern const hs_preset hs_presets[];
extern const size_t hs_npresets;
const hs_preset *hs_preset_find(const char *name);

/* ------------------------------------------------------------------------
 * rewrite (shim/core/rewrite*.c)
 * ------------------------------------------------------------------------ */

/* The request a response answers, as the policy's conditions see it.
 * has_request false: request subjects match nothing (POLICY.md). */
typedef struct hs_request {
    bool has_request;
    hs_str method;
    bool path_ok;            /* false: target could not be normalised */
    hs_str path;             /* normalised */
    bool has_host;
    hs_str host;             /* port removed */
    const hs_field *fields;  /* request header lines */
    size_t nfields;
    int port;                /* local port of the connection; -1 unknown */
    bool tls;                /* HEADERSHIM_TLS says TLS is in front */
} hs_request;

typedef struct hs_rewrite_opts {
    bool csp_report_only;    /* HEADERSHIM_CSP=report-only */
    size_t max_output;       /* HEADERSHIM_MAX_OUTPUT; 0 means the default 8192 */
} hs_rewrite_opts;

/* What a rewrite changed, for logs and report mode. Names point into the
 * policy or into the input block: valid while both are. Lists are
 * de-duplicated case-insensitively and capped at HS_CHANGE_MAX each
 * (truncated says so). */
#define HS_CHANGE_MAX 24
typedef struct hs_changes {
    size_t nremoved, nset, nadded;
    hs_str removed[HS_CHANGE_MAX];  /* lines removed (and not written again) */
    hs_str set[HS_CHANGE_MAX];      /* existing lines whose value or name
                                       changed (set, append, merge, edit,
                                       cookie, rename) */
    hs_str added[HS_CHANGE_MAX];    /* lines added (default, add, set or
                                       append of an absent name) */
    bool truncated;
} hs_changes;

typedef enum hs_rewrite_status {
    HS_REWRITE_CHANGED = 0,  /* out holds the new block */
    HS_REWRITE_UNCHANGED,    /* the policy changes nothing; out untouched */
    HS_REWRITE_INTERIM,      /* 1xx (101 included): never rewritten */
    HS_REWRITE_TOO_LARGE,    /* result over max_output: block goes unchanged */
    HS_REWRITE_NO_MEMORY,    /* out of memory: block goes unchanged */
} hs_rewrite_status;

/* Applies policy p to the parsed block b (which must be HS_BLOCK_OK) for
 * request req, appending the new block to out. changes may be NULL. */
hs_rewrite_status hs_rewrite(const hs_policy *p, const hs_rewrite_opts *o,
                             const hs_block *b, const hs_request *req,
                             hs_buf *out, hs_changes *changes);

/* The media type of the first Content-Type line, lowercased, parameters
 * removed, into out (at most cap bytes); empty when none. For logs. */
size_t hs_block_media_type(const hs_block *b, char *out, size_t cap);

/* hs_rewrite, also giving the shape of the block (for the connection's
 * next hs_block_parse_shaped): *shape is set to it, or to NULL when the
 * policy keeps none for it. */
hs_rewrite_status hs_rewrite_shaped(const hs_policy *p,
                                    const hs_rewrite_opts *o,
                                    const hs_block *b, const hs_request *req,
                                    hs_buf *out, hs_changes *changes,
                                    hs_shape *shape);

/* The steady state of a connection (shim/core/iomap.c): a server that
 * answers request after request with blocks of one shape. buf starts with
 * a block that differs from the block `shape` was made from only inside
 * the values of lines that are neither framing nor Content-Type lines
 * (Date, ETag, Last-Modified ...), or in the number of its one
 * Content-Length line. When it does, and the shape's plan is
 * p's for this TLS (st->tls) and CSP mode and changes the block, the
 * result is true and the rewritten block is st->piece[0, st->npieces) (at
 * most HS_STEADY_PIECES): runs of buf and of the plan's own bytes, no
 * copy.
 * Those are the bytes hs_block_parse_shaped and hs_rewrite_shaped give
 * for the same block (tests/unit/test_rewrite_steady.c,
 * tests/fuzz/fuzz_rewrite.c). False declines, for the general way (also
 * where the general way has something to say: over max_output, or a
 * rewrite that may leave the block as it was). */
#define HS_STEADY_PIECES 16

typedef struct hs_steady {
    /* given */
    bool tls;
    struct iovec *piece;             /* room for HS_STEADY_PIECES */
    /* found */
    size_t len;                      /* the block, blank line included */
    int status;
    const hs_framing_facts *facts;   /* what its framing lines say */
    const hs_framing *framing_other; /* its framing for HS_METHOD_OTHER */
    int npieces;
    size_t out_len;                  /* the rewritten block's bytes */
    /* where facts and framing_other point when the block's length is not
     * the plan block's */
    hs_framing_facts facts_read;
    hs_framing framing_read;
} hs_steady;

bool hs_rewrite_steady(const hs_policy *p, const hs_rewrite_opts *o,
                       hs_shape shape, const char *buf, size_t avail,
                       hs_steady *st);


/* ------------------------------------------------------------------------
 * conn: the per-connection engine (shim/core/conn*.c)
 * ------------------------------------------------------------------------ */

typedef struct hs_conn hs_conn;

typedef enum hs_desync_mode {
    HS_DESYNC_CLOSE = 0,     /* shut the reading side (IO-CONTRACT.md) */
    HS_DESYNC_PASSTHROUGH,
} hs_desync_mode;

typedef enum hs_event_kind {
    HS_EVENT_REWRITE,        /* enforce mode: a block was rewritten */
    HS_EVENT_REPORT,         /* report mode: the policy would change a block */
    HS_EVENT_DESYNC,         /* the connection passes through from now on */
    HS_EVENT_OVERSIZE,       /* a block over max_header (then a desync) */
    HS_EVENT_ERROR,          /* a rewrite skipped: too large, no memory */
} hs_event_kind;

/* Handed to the engine's event callback, valid during the call only. */
typedef struct hs_event {
    hs_event_kind kind;
    const char *why;             /* short static reason, or NULL */
    bool shutdown_read;          /* desync in close mode: the shell must
                                    shutdown(fd, SHUT_RD) with the real call */
    const hs_block *block;       /* the response's block, or NULL */
    const hs_request *request;   /* what it answers, or NULL */
    const hs_changes *changes;   /* REWRITE and REPORT */
} hs_event;

typedef void (*hs_event_fn)(void *ctx, const hs_event *ev);

/* Shared, read-only configuration of every connection of a process. */
typedef struct hs_engine_config {
    const hs_policy *policy;
    hs_rewrite_opts rewrite;
    size_t max_header;           /* HEADERSHIM_MAX_HEADER (0: 65536) */
    hs_desync_mode on_desync;
    bool report;                 /* report mode: observe, change nothing */
    hs_event_fn on_event;        /* may be NULL */
    /* REWRITE and REPORT events carry the request's method and path and
     * the change record (what their log lines print, at info level). Off,
     * they carry an empty record, and a request whose policy reads no
     * request subject costs no copy and no second parse. */
    bool event_details;
    /* No REWRITE events at all: nothing prints or counts them (the shell
     * below the info level). Saves building and sending one a response. */
    bool quiet_rewrites;
    /* The process-wide count of held bytes (64 MiB bound); NULL: unbounded
     * (tests, the command). */
    _Atomic size_t *held_total;
} hs_engine_config;

/* A new connection. local_port is -1 when unknown; tls says whether
 * HEADERSHIM_TLS puts TLS in front of it. event_ctx goes to on_event.
 * Returns NULL when memory runs out (the shell then passes through). */
hs_conn *hs_conn_new(const hs_engine_config *cfg, int local_port, bool tls,
                     void *event_ctx);
void hs_conn_free(hs_conn *c);

/* Connection state lives in regions of its own (conn_pool.c). A process
 * that forks while other threads may make or free connections holds the
 * pool across the fork: hs_conn_pool_lock before, then
 * hs_conn_pool_unlock in the parent and hs_conn_pool_reinit_child in the
 * child. */
void hs_conn_pool_lock(void);
void hs_conn_pool_unlock(void);
void hs_conn_pool_reinit_child(void);

/* Bytes the application read from the connection (the request side).
 * MSG_PEEK reads must not be fed. */
void hs_conn_read(hs_conn *c, const void *buf, size_t n);

/* For `headershim apply` without --requests: every response that finds no
 * queued request answers this request head instead (copied). */
bool hs_conn_assume_request(hs_conn *c, const char *head, size_t len);

/* True once nothing on the connection will ever be changed again and no
 * bytes are held or pending: the shell may forget it and pass through. */
bool hs_conn_is_passthrough(const hs_conn *c);
/* True while bytes are held or pending (a flush is owed). */
bool hs_conn_owes_bytes(const hs_conn *c);

/* ------------------------------------------------------------------------
 * iomap: the write contract (shim/core/iomap.c)
 *
 * The kernel is given as function pointers so that the same code runs
 * against the real system calls (the shell) and against a script (tests).
 * Every function returns a count >= 0 or -errno; none touches errno.
 * ------------------------------------------------------------------------ */

typedef struct hs_kernel {
    void *ctx;
    /* The real vectored send with the application's flags. */
    ssize_t (*sendv)(void *ctx, const struct iovec *iov, int iovcnt,
                     int flags);
    /* The real sendfile (offset NULL: the file position) and splice. */
    ssize_t (*sendfile)(void *ctx, int in_fd, off_t *offset, size_t count);
    ssize_t (*splice)(void *ctx, int in_fd, loff_t *off_in, size_t len,
                      unsigned flags);
    /* pread from the file a sendfile reads, for header or chunk-framing
     * bytes found there (always positional). */
    ssize_t (*pread)(void *ctx, int fd, void *buf, size_t n, off_t offset);
    /* Only asked after a short count inside a rewritten block: is this
     * call blocking (rule 5)? */
    bool (*is_blocking)(void *ctx, int flags);
    /* For flushes the shim makes on its own: wait until writable, at most
     * timeout_ms; > 0 ready, 0 timed out, -errno. */
    int (*wait_writable)(void *ctx, int timeout_ms);
    int iov_max;                 /* 0: IOV_MAX (1024) */
    /* For sendfile with a NULL offset when header bytes are read from the
     * file by pread: the file position (lseek SEEK_CUR) and moving it
     * (lseek SEEK_SET) by what the application was told was sent. May be
     * NULL: such bytes then go out unchanged and the connection desyncs. */
    off_t (*file_tell)(void *ctx, int fd);
    int (*file_seek)(void *ctx, int fd, off_t pos);
} hs_kernel;

/* One application call of write/writev/send/sendto/sendmsg/pwritev2 with
 * its iovecs and flags (0 for write and writev). */
ssize_t hs_io_writev(hs_conn *c, const hs_kernel *k, const struct iovec *iov,
                     int iovcnt, int flags);
/* The common body call without the engine in between: a write, send or
 * sendfile of n <= hs_io_direct_room(c) bytes may go to the kernel
 * exactly as the application made it (no vector built, no function
 * table), after which hs_io_direct_sent(c, r) counts the bytes the kernel
 * took (and ends the body when they were its last). 0 when anything is
 * owed or the framing needs looking at: then hs_io_writev. The caller
 * holds whatever orders calls on c (state order == byte order). Valid in
 * enforce and report mode alike. */
uint64_t hs_io_direct_room(const hs_conn *c);
void hs_io_direct_sent(hs_conn *c, size_t n);
/* sendfile/sendfile64 (offset may be NULL) and splice (out is the
 * connection). */
ssize_t hs_io_sendfile(hs_conn *c, const hs_kernel *k, int in_fd,
                       off_t *offset, size_t count);
ssize_t hs_io_splice(hs_conn *c, const hs_kernel *k, int in_fd,
                     loff_t *off_in, size_t len, unsigned flags);
/* Flush held and pending bytes (close, shutdown, dup2 over the fd, exec,
 * fork, exit) with MSG_NOSIGNAL, waiting at most timeout_ms in all.
 * Returns 0 when nothing is owed any more, or -errno; on failure the
 * connection passes through. */
int hs_io_flush(hs_conn *c, const hs_kernel *k, int timeout_ms);
/* Report mode (rule 11): the call went to the kernel unchanged and it
 * accepted `accepted` bytes; the engine reads a copy. */
void hs_io_observe(hs_conn *c, const struct iovec *iov, int iovcnt,
                   size_t accepted);
void hs_io_observe_blind(hs_conn *c, size_t accepted); /* sendfile, splice */

#endif /* HEADERSHIM_H */
