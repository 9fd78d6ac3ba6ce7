/*
 * classify.c - which descriptors are ours, decided once per fd.
 *
 * Only stream sockets of the families HEADERSHIM_SOCKETS names, on the
 * ports HEADERSHIM_PORTS names, are ever given to the engine
 * (ARCHITECTURE.md). Everything else gets the IGNORE verdict, cached in
 * the slot, so later calls cost one atomic load. Accepted connections
 * inherit their listener's verdict: no system call per connection.
 */
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "shell.h"

/* The verdict for a stream socket fd: the tagged value or IGNORE. Two
 * system calls (SO_TYPE, getsockname), both on seccomp allow-lists. */
static uintptr_t verdict(int fd, uintptr_t tag)
{
    int type = 0;
    socklen_t tl = sizeof type;
    if (hs_raw6(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, (long)&type,
                (long)&tl, 0) != 0 || type != SOCK_STREAM)
        return HS_SLOT_IGNORE;      /* not a socket, or datagram/seqpacket */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (hs_raw(SYS_getsockname, fd, &ss, &sl) != 0)
        return HS_SLOT_IGNORE;
    int port = -1;
    switch (ss.ss_family) {
    case AF_INET:
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        break;
    case AF_INET6:
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        break;
    case AF_UNIX:
        if (!hs_cfg.unix_sockets)
            return HS_SLOT_IGNORE;
        break;
    default:
        return HS_SLOT_IGNORE;
    }
    if (port >= 0 && hs_cfg.nports &&
        !hs_port_listed(hs_cfg.ports, hs_cfg.nports, port))
        return HS_SLOT_IGNORE;
    bool tls = hs_cfg.tls_all ||
               (port >= 0 && hs_port_listed(hs_cfg.tls, hs_cfg.ntls, port));
    return HS_SLOT_MAKE(tag, port, tls);
}

uintptr_t hs_classify(int fd)
{
    uintptr_t v = verdict(fd, HS_TAG_CANDIDATE);
    hs_fd_set(fd, v);
    return v;
}

void hs_classify_accepted(int listen_fd, int fd)
{
    uintptr_t lv = hs_fd_peek(listen_fd);
    if (lv == HS_SLOT_UNKNOWN || HS_SLOT_TAG(lv) != HS_TAG_LISTENER) {
        if (lv == HS_SLOT_IGNORE) {
            hs_fd_set(fd, HS_SLOT_IGNORE);
            return;
        }
        lv = verdict(listen_fd, HS_TAG_LISTENER);
        hs_fd_set(listen_fd, lv);
        if (lv == HS_SLOT_IGNORE) {
            hs_fd_set(fd, HS_SLOT_IGNORE);
            return;
        }
    }
    hs_track *t = hs_track_new(HS_SLOT_PORT(lv), HS_SLOT_TLS(lv));
    if (!t) {
        hs_fd_set(fd, HS_SLOT_IGNORE);
        return;
    }
    hs_fd_attach(fd, t);
    hs_track_release(t);
}

hs_track *hs_promote(int fd, uintptr_t v, const struct iovec *iov, int iovcnt)
{
    /* First non-empty bytes decide: a client socket writes a request
     * line, never "HTTP/1.x ". */
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len == 0)
            continue;
        size_t n = iov[i].iov_len < 9 ? iov[i].iov_len : 9;
        if (!hs_could_be_status_line(iov[i].iov_base, n)) {
            hs_fd_set(fd, HS_SLOT_IGNORE);
            return NULL;
        }
        hs_track *t = hs_track_new(HS_SLOT_PORT(v), HS_SLOT_TLS(v));
        if (!t) {
            hs_fd_set(fd, HS_SLOT_IGNORE);
            return NULL;
        }
        hs_fd_attach(fd, t);
        return t;                   /* the creation reference is the caller's */
    }
    return NULL;                    /* nothing to look at yet */
}
