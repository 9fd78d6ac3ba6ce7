/*
 * cli.h - what the pieces of the `headershim` command share.
 *
 * The command uses the pure core directly and is never preloaded with the
 * shim itself, so it may call read/write/exec freely.
 */
#ifndef HEADERSHIM_CLI_H
#define HEADERSHIM_CLI_H

#include "headershim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit statuses shared by every subcommand (docs/command.md). */
#define CLI_EXIT_OK 0
#define CLI_EXIT_INVALID 1      /* the policy, preset or variable is wrong */
#define CLI_EXIT_USAGE 2        /* the command line is wrong */
#define CLI_EXIT_IO 3           /* apply: input unreadable, output failed */
#define CLI_EXIT_CONFIG 78      /* launcher: policy errors (EX_CONFIG) */
#define CLI_EXIT_SETUP 125      /* launcher: the library cannot be found */
#define CLI_EXIT_CANNOT_RUN 126 /* launcher: refused or not executable */
#define CLI_EXIT_NOT_FOUND 127  /* launcher: COMMAND not found */

int cli_check(int argc, char **argv);
int cli_apply(int argc, char **argv);
int cli_presets(int argc, char **argv);
/* argv[0] is the command itself; options start at argv[1]. */
int cli_launch(int argc, char **argv);
void cli_usage(FILE *to);

/* Prints "headershim: " + message to stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Option parsing shared by the launcher and apply. If argv[*i] is `name`
 * (then the value is argv[*i + 1]) or `name=VALUE`, stores the value,
 * advances *i past what it used and returns 1; returns 0 when argv[*i] is
 * another option, -1 (after a message) when the value is missing. */
int cli_opt_value(int argc, char **argv, int *i, const char *name,
                  const char **value);

/* ---- loader.c: policy files, diagnostics ---- */

/* hs_load_fn for real files: regular file, readable, at most 1 MiB. */
int cli_load_file(void *ctx, const char *path, char **text, size_t *len,
                  char *why, size_t why_len);

/* Compiles spec (a preset name or a path) with cli_load_file, printing
 * every error and warning to stderr as FILE:LINE:COLUMN. NULL on errors. */
hs_policy *cli_policy_load(const char *spec);

/* True when a HEADERSHIM_POLICY-style spec names a file, not a preset. */
bool cli_spec_is_path(const char *spec);

/* Reads a whole file ("-" or NULL: standard input) into out, binary-safe.
 * Returns 0, or -1 with errno set. */
int cli_read_all(const char *path, hs_buf *out);

/* ---- env.c: the variables apply honours, validated as the library does ---- */

/* Each returns false after printing "headershim: NAME: ..." to stderr. An
 * unset variable keeps the default already in *out. */
bool cli_env_csp(bool *report_only);
bool cli_env_size(const char *name, size_t *out);

/* ---- binary_probe.c: what LD_PRELOAD cannot reach ---- */

/* Why `path` (an executable file) cannot be reached by LD_PRELOAD, as a
 * phrase ("is statically linked (no PT_INTERP)"), or NULL when it can (or
 * when the file is no ELF the probe understands: exec decides then). */
const char *cli_preload_obstacle(const char *path, char *why, size_t why_len);

#endif /* HEADERSHIM_CLI_H */
