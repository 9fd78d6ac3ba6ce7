/*
 * itest.h - integration test helpers: run tests/progs/hs_server under
 * LD_PRELOAD=$HS_BUILD/libheadershim.so on loopback, talk to it as a
 * client, and compute what the shim must have sent with the core itself
 * (the same engine against an in-memory kernel), so the tests compare the
 * real wire bytes with the transform of the whole stream.
 */
#ifndef HS_ITEST_H
#define HS_ITEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "headershim.h"
#include "script_data.h"

typedef struct it_server {
    pid_t pid;
    int out_fd;                  /* the server's standard output */
    int err_fd;                  /* its standard error */
    int port;
} it_server;

/* $HS_BUILD (default "build"), made absolute. */
const char *it_build(void);
/* An absolute path for a file under tests/integration/policies/. */
const char *it_policy(const char *name);

/* Starts hs_server with `env` ("NAME=VALUE" strings, NULL-terminated,
 * added to a clean copy of ours; "LD_PRELOAD=" overrides the default) and
 * script `args` (NULL-terminated). preload false: no LD_PRELOAD. Reads the
 * port line unless args[0] is "--inetd". */
bool it_start(it_server *s, const char *const *env, const char *const *args,
              bool preload);
/* The same with another copy of the server program. */
bool it_start_prog(it_server *s, const char *prog, const char *const *env,
                   const char *const *args, bool preload);
/* Like it_start but the server's fds 0, 1 and 2 are `sock`. */
bool it_start_inetd(it_server *s, const char *const *env,
                    const char *const *args, int sock);
int it_connect(int port);
bool it_send(int fd, const void *p, size_t n);
/* Reads until EOF (10 s without progress fails). Returns a malloc'd
 * buffer (NUL-terminated beyond *n) or NULL. */
char *it_recv_all(int fd, size_t *n);
/* Reads one line of the server's standard output (marks). */
bool it_read_line(it_server *s, char *buf, size_t cap);
/* Waits for the server; returns its exit status (or 128+signal), and its
 * standard error (malloc'd) in *err if err is not NULL. */
int it_finish(it_server *s, char **err);

/* What the shim sends for `resp` answering `req` (the core, offline).
 * policy: a spec for hs_policy_load; report: report mode. */
char *it_expected(const char *policy, const char *req, size_t req_len,
                  const char *resp, size_t resp_len, bool report,
                  size_t *out_len);

/* One whole exchange: starts the server with env and args, sends `req`,
 * shuts down the writing side if half_close, reads everything. The server
 * must exit 0. Returns the bytes received. */
char *it_exchange(const char *const *env, const char *const *args,
                  const char *req, size_t req_len, bool half_close,
                  size_t *n);

/* Decodes script DATA notation (aborts the test on a syntax error). */
char *it_data(const char *s, size_t *n);

/* Compares and describes the first difference (for ck_assert_msg). */
bool it_same(const char *got, size_t got_n, const char *want, size_t want_n,
             char *why, size_t why_cap);

#endif

/* ---- table-driven cases -------------------------------------------------- */

#define IT_MAX_SCRIPT 64
#define IT_MAX_ENV 12

/* One exchange: the server runs `script` (a line "read FUNC *" reads the
 * whole request), the client sends `req` (DATA
 * notation) and half-closes, and must receive exactly the transform of
 * `resp` (DATA notation: everything the script writes, in order). */
typedef struct it_case {
    const char *name;
    const char *req;
    const char *resp;
    const char *script[IT_MAX_SCRIPT];
    const char *env[IT_MAX_ENV];     /* added to the default policy env */
    bool report;                     /* expect report mode: bytes unchanged */
    bool unchanged;                  /* expect the bytes unchanged anyway */
    const char *must_contain;        /* in the received bytes (DATA) */
    const char *must_not_contain;
} it_case;

/* Runs a case; on failure writes a description to why and returns false. */
bool it_run_case(const it_case *c, char *why, size_t why_cap);
