/*
 * loader.c - how policy files reach the core's parser, and how the
 * command prints diagnostics.
 *
 * The parser does no I/O (ARCHITECTURE.md); the file-level checks of
 * POLICY.md "Errors" live here: a policy must be a regular file, readable,
 * and at most 1 MiB. hs_policy_load reports our reason at FILE:1:1.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define POLICY_MAX_BYTES (1024 * 1024)

bool cli_spec_is_path(const char *spec)
{
    size_t n = strlen(spec);
    return strchr(spec, '/') != NULL ||
           (n >= 7 && strcmp(spec + n - 7, ".policy") == 0);
}

/* Appends everything fd yields to out, reading at most limit + 1 bytes so
 * a caller can tell "exactly limit" from "over limit". */
static int read_fd(int fd, hs_buf *out, size_t limit)
{
    size_t start = out->len;
    for (;;) {
        if (!hs_buf_reserve(out, 65536)) {
            errno = ENOMEM;
            return -1;
        }
        size_t room = out->cap - out->len;
        if (limit != SIZE_MAX && room > limit + 1 - (out->len - start))
            room = limit + 1 - (out->len - start);
        if (room == 0)
            return 0;
        ssize_t got = read(fd, out->p + out->len, room);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (got == 0)
            return 0;
        out->len += (size_t)got;
    }
}

int cli_load_file(void *ctx, const char *path, char **text, size_t *len,
                  char *why, size_t why_len)
{
    (void)ctx;
    /* O_NONBLOCK: opening a FIFO without a writer must not hang `check`;
     * it is refused as "not a regular file" right after. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        snprintf(why, why_len, "cannot be read: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(why, why_len, "cannot be read: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "not a regular file");
        close(fd);
        return -1;
    }
    if (st.st_size > POLICY_MAX_BYTES) {
        snprintf(why, why_len, "over 1 MiB");
        close(fd);
        return -1;
    }
    hs_buf b = {0};
    int rc = read_fd(fd, &b, POLICY_MAX_BYTES);
    int saved = errno;
    close(fd);
    if (rc != 0) {
        snprintf(why, why_len, "cannot be read: %s", strerror(saved));
        hs_buf_free(&b);
        return -1;
    }
    if (b.len > POLICY_MAX_BYTES) { /* grew while we read it */
        snprintf(why, why_len, "over 1 MiB");
        hs_buf_free(&b);
        return -1;
    }
    /* The parser frees *text with free(); an empty file still needs a
     * pointer it can free. */
    if (b.p == NULL && (b.p = malloc(1)) == NULL) {
        snprintf(why, why_len, "cannot be read: %s", strerror(ENOMEM));
        return -1;
    }
    *text = b.p;
    *len = b.len;
    return 0;
}

typedef struct diag_count {
    unsigned errors;
} diag_count;

static void print_diag(void *ctx, const hs_diag *d)
{
    diag_count *count = ctx;
    if (d->level == HS_DIAG_ERROR) {
        count->errors++;
        fprintf(stderr, "%s:%u:%u: %s\n", d->file, d->line, d->col,
                d->message);
    } else {
        fprintf(stderr, "%s:%u:%u: warning: %s\n", d->file, d->line, d->col,
                d->message);
    }
}

hs_policy *cli_policy_load(const char *spec)
{
    diag_count count = {0};
    hs_policy *p = hs_policy_load(spec, cli_load_file, NULL, print_diag,
                                  &count);
    if (p == NULL && count.errors == 0)
        cli_err("%s: out of memory while compiling the policy", spec);
    return p;
}

int cli_read_all(const char *path, hs_buf *out)
{
    if (path == NULL || strcmp(path, "-") == 0)
        return read_fd(STDIN_FILENO, out, SIZE_MAX);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return -1;
    }
    int rc = read_fd(fd, out, SIZE_MAX);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}
