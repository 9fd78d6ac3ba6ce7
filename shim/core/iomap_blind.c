/*
 * iomap_blind.c - body bytes the shim counts but never reads: sendfile and
 * splice (IO-CONTRACT.md rule 8), and the flushes the shim makes on its own
 * at close, shutdown, exec, fork and exit (rules 3 and 6).
 */
#include "iomap_direct.h"
#include "iomap_internal.h"

#include <errno.h>
#include <fcntl.h> /* SPLICE_F_NONBLOCK */
#include <string.h>
#include <sys/socket.h>

/* Sends what is owed before a blind body call; 0 when nothing is owed any
 * more, else -errno (-EAGAIN when the kernel took only part). */
static ssize_t send_owed(hs_conn *c, const hs_kernel *k, int flags)
{
    for (;;) {
        size_t owed = c->pend.len - c->pend_off;
        if (owed == 0)
            return 0;
        struct iovec v = {c->pend.p + c->pend_off, owed};
        ssize_t r = k->sendv(k->ctx, &v, 1, flags);
        if (r < 0)
            return r;
        c->pend_off += (size_t)r;
        if ((size_t)r < owed && !(r > 0 && hs_kernel_blocking(k, flags)))
            return c->pend_off == c->pend.len ? 0 : -EAGAIN;
    }
}

/* Body bytes ahead that need no looking at. */
uint64_t hs_blind_bytes(const hs_conn *c)
{
    switch (c->fr.ostate) {
    case HS_OUT_PASSTHROUGH:
        return UINT64_MAX;
    case HS_OUT_BODY_LENGTH:
        return c->fr.body_left;
    case HS_OUT_BODY_CHUNKED:
        return hs_chunked_data_left(&c->fr.chunked);
    case HS_OUT_HEADER:
        break;
    }
    return 0;
}

void hs_blind_advance(hs_conn *c, size_t n)
{
    switch (c->fr.ostate) {
    case HS_OUT_BODY_LENGTH:
        c->fr.body_left -= n;
        if (c->fr.body_left == 0)
            hs_frame_end_body(&c->fr);
        break;
    case HS_OUT_BODY_CHUNKED:
        hs_chunked_skip_data(&c->fr.chunked, n);
        break;
    default:
        break;
    }
}

/* Header or chunk-framing bytes inside a file (a pre-rendered response):
 * read them and treat them as a write, moving the offset by what the
 * write reports (interposition.md, sendfile). */
static ssize_t file_as_write(hs_conn *c, const hs_kernel *k, int in_fd,
                             off_t *offset, size_t count)
{
    off_t at = offset ? *offset : k->file_tell ? k->file_tell(k->ctx, in_fd) : -1;
    if (at < 0 || !k->pread || (!offset && !k->file_seek))
        return -ENOSYS;
    char buf[16384];
    size_t want = count < sizeof buf ? count : sizeof buf;
    ssize_t got = k->pread(k->ctx, in_fd, buf, want, at);
    if (got <= 0)
        return got;
    struct iovec v = {buf, (size_t)got};
    ssize_t w = hs_io_writev(c, k, &v, 1, 0);
    if (w <= 0)
        return w;
    if (offset)
        *offset += w;
    else
        k->file_seek(k->ctx, in_fd, at + w);
    return w;
}

typedef ssize_t (*hs_blind_fn)(const hs_kernel *k, int in_fd, void *off,
                               size_t n, unsigned flags);

static ssize_t blind_sendfile(const hs_kernel *k, int in_fd, void *off,
                              size_t n, unsigned flags)
{
    (void)flags;
    return k->sendfile(k->ctx, in_fd, off, n);
}

static ssize_t blind_splice(const hs_kernel *k, int in_fd, void *off,
                            size_t n, unsigned flags)
{
    return k->splice(k->ctx, in_fd, off, n, flags);
}

/* sendfile and splice: body bytes by count, never read (rule 8). */
static ssize_t io_blind(hs_conn *c, const hs_kernel *k, int in_fd, void *off,
                        size_t count, unsigned flags, hs_blind_fn fn,
                        bool from_file)
{
    if (count == 0 || hs_conn_is_passthrough(c))
        return fn(k, in_fd, off, count, flags);
    if (c->cfg->report) {
        ssize_t r = fn(k, in_fd, off, count, flags);
        if (r > 0)
            hs_io_observe_blind(c, (size_t)r);
        return r;
    }
    size_t acked = 0;
    while (acked < count) {
        /* Bytes that must be looked at: a header block (a pre-rendered
         * response in a file), chunk framing, or the block's last byte
         * that rule 4 expects again. From a file they are read and go
         * through the write path; from a pipe they cannot be, so they
         * go out unchanged and HTTP parsing ends there. */
        if (c->gate || hs_blind_bytes(c) == 0) {
            /* hs_io_writev trusts the room word: bring it up to date with
             * the body bytes counted and owed bytes sent so far */
            hs_io_room_refresh(c);
            ssize_t w = from_file
                            ? file_as_write(c, k, in_fd, off, count - acked)
                            : -ENOSYS;
            if (w == -ENOSYS) {
                c->gate = false;
                hs_conn_desync(c, HS_EVENT_DESYNC,
                               "header bytes sent from a file or pipe");
                continue;
            }
            if (w <= 0)
                return acked ? (ssize_t)acked : w;
            acked += (size_t)w;
            continue;
        }
        int sflags = (flags & SPLICE_F_NONBLOCK) ? MSG_DONTWAIT : 0;
        ssize_t r = send_owed(c, k, sflags);
        if (r < 0)
            return acked ? (ssize_t)acked : r;
        uint64_t blind = hs_blind_bytes(c);
        size_t n = count - acked;
        if (blind < n)
            n = (size_t)blind;
        ssize_t got = fn(k, in_fd, off, n, flags);
        if (got <= 0)
            return acked ? (ssize_t)acked : got;
        hs_blind_advance(c, (size_t)got);
        acked += (size_t)got;
        if ((size_t)got < n)
            break;
    }
    return (ssize_t)acked;
}

ssize_t hs_io_sendfile(hs_conn *c, const hs_kernel *k, int in_fd,
                       off_t *offset, size_t count)
{
    ssize_t r = io_blind(c, k, in_fd, offset, count, 0, blind_sendfile, true);
    hs_io_room_refresh(c);
    return r;
}

ssize_t hs_io_splice(hs_conn *c, const hs_kernel *k, int in_fd,
                     loff_t *off_in, size_t len, unsigned flags)
{
    ssize_t r = io_blind(c, k, in_fd, off_in, len, flags, blind_splice, false);
    hs_io_room_refresh(c);
    return r;
}

static int io_flush(hs_conn *c, const hs_kernel *k, int timeout_ms);

int hs_io_flush(hs_conn *c, const hs_kernel *k, int timeout_ms)
{
    int r = io_flush(c, k, timeout_ms);
    hs_io_room_refresh(c);
    return r;
}

static int io_flush(hs_conn *c, const hs_kernel *k, int timeout_ms)
{
    if (!hs_conn_owes_bytes(c))
        return 0;
    /* Held bytes of an unfinished block go out unchanged: the application
     * is done with the connection (close, exec, exit) or hands it over. */
    if (c->held.len)
        hs_conn_release_held(c);
    c->gate = false;
    int budget = timeout_ms;
    while (c->pend_off < c->pend.len) {
        struct iovec v = {c->pend.p + c->pend_off, c->pend.len - c->pend_off};
        ssize_t r = k->sendv(k->ctx, &v, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r > 0) {
            c->pend_off += (size_t)r;
            continue;
        }
        if (r == -EINTR)
            continue;
        if (r != -EAGAIN || budget <= 0 || !k->wait_writable) {
            c->fr.ostate = HS_OUT_PASSTHROUGH;
            c->pend.len = c->pend_off = 0;
            return r < 0 ? (int)r : -EAGAIN;
        }
        int slice = budget < 50 ? budget : 50;
        int w = k->wait_writable(k->ctx, slice);
        budget -= slice;
        if (w < 0) {
            c->fr.ostate = HS_OUT_PASSTHROUGH;
            c->pend.len = c->pend_off = 0;
            return w;
        }
    }
    c->pend.len = c->pend_off = 0;
    return 0;
}
