/*
 * legacy_server - the "legacy" application of `make demo`: a small
 * HTTP/1.1 server on loopback that knows nothing about security headers
 * and leaks its software versions, as old LAMP stacks do.
 *
 *   legacy_server [PORT]    PORT 0 (the default) picks a free port; the
 *                           port is printed on standard output, one line
 *
 *   GET /            an HTML page (text/html), header and body in two
 *                    write() calls, as PHP under Apache 2.2 wrote them
 *   GET /api/users   JSON (application/json), header and body in one
 *                    writev()
 *   anything else    an HTML 404
 *
 * Keep-alive and pipelining (requests are framed by their heads and
 * Content-Length), HEAD, one connection at a time. SIGTERM ends it
 * cleanly: accept() is interrupted and the listener closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
    (void)sig;
    stopping = 1;
}

static const char page[] =
    "<!doctype html>\n"
    "<html><head><title>Legacy Corp intranet</title></head>\n"
    "<body><h1>Welcome to the Legacy Corp intranet</h1>\n"
    "<p>Served by a 2007 stack that never heard of security headers.</p>\n"
    "</body></html>\n";

static const char users[] =
    "[{\"id\":1,\"name\":\"Ada\"},{\"id\":2,\"name\":\"Grace\"}]\n";

static const char not_found[] =
    "<!doctype html>\n<html><body><h1>404 Not Found</h1></body></html>\n";

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* writev until done, resuming mid-iovec after a short count. */
static int writev_all(int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t w = writev(fd, iov, cnt);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        while (cnt > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int respond(int fd, const char *method, const char *path, bool close)
{
    const char *status = "200 OK", *type = "text/html; charset=UTF-8";
    const char *body = page;
    size_t body_len = sizeof page - 1;
    bool json = false;
    if (strcmp(path, "/api/users") == 0) {
        type = "application/json";
        body = users;
        body_len = sizeof users - 1;
        json = true;
    } else if (strcmp(path, "/") != 0 && strcmp(path, "/index.php") != 0) {
        status = "404 Not Found";
        body = not_found;
        body_len = sizeof not_found - 1;
    }
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT",
             gmtime_r(&now, &tm));
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %s\r\n"
                     "Date: %s\r\n"
                     "Server: Apache/2.2.3\r\n"
                     "X-Powered-By: PHP/5.3\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "%s"
                     "\r\n",
                     status, date, type, body_len,
                     close ? "Connection: close\r\n" : "");
    if (strcmp(method, "HEAD") == 0)
        return write_all(fd, head, (size_t)n);
    if (json) {
        struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, body_len}};
        return writev_all(fd, iov, 2);
    }
    if (write_all(fd, head, (size_t)n) != 0)
        return -1;
    return write_all(fd, body, body_len);
}

/* Serves one connection until the client closes it or asks to. */
static void serve(int fd)
{
    char buf[16384];
    size_t len = 0;
    for (;;) {
        char *end = NULL;
        size_t head_len = 0;
        for (size_t i = 0; i + 1 < len; i++) {
            if (buf[i] == '\n' && buf[i + 1] == '\n') {
                head_len = i + 2;
                break;
            }
            if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0) {
                head_len = i + 4;
                break;
            }
        }
        if (head_len == 0) {
            if (len == sizeof buf)
                return; /* a head this large: give up on the client */
            ssize_t got = read(fd, buf + len, sizeof buf - len);
            if (got < 0 && errno == EINTR && !stopping)
                continue;
            if (got <= 0)
                return;
            len += (size_t)got;
            continue;
        }
        end = buf + head_len;
        char method[16] = "", path[1024] = "";
        int minor = 1;
        buf[head_len - 1] = '\0';
        if (sscanf(buf, "%15s %1023s HTTP/1.%d", method, path, &minor) < 2)
            return;
        char *q = strchr(path, '?');
        if (q)
            *q = '\0';
        /* Connection: close, or HTTP/1.0 without keep-alive. */
        bool close_after = minor == 0;
        unsigned long body = 0;
        for (char *line = strchr(buf, '\n'); line && line < end; ) {
            line++;
            if (strncasecmp(line, "Connection:", 11) == 0) {
                if (strcasestr(line, "close"))
                    close_after = true;
                else if (strcasestr(line, "keep-alive"))
                    close_after = false;
            } else if (strncasecmp(line, "Content-Length:", 15) == 0) {
                body = strtoul(line + 15, NULL, 10);
            }
            line = strchr(line, '\n');
        }
        if (respond(fd, method, path, close_after) != 0 || close_after)
            return;
        /* Drop the request and its body; keep what was pipelined. */
        size_t used = head_len;
        if (body <= len - used) {
            used += body;
        } else {
            body -= len - used;
            len = used = 0;
            while (body > 0) { /* read no further than the body's end */
                size_t want = body < sizeof buf ? body : sizeof buf;
                ssize_t got = read(fd, buf, want);
                if (got <= 0)
                    return;
                body -= (size_t)got;
            }
        }
        memmove(buf, buf + used, len - used);
        len -= used;
    }
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term; /* no SA_RESTART: accept() must return EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((unsigned short)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0) {
        perror("legacy_server");
        return 1;
    }
    printf("%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    while (!stopping) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue; /* EINTR from SIGTERM ends the loop */
        /* An idle keep-alive client must not hold the server forever. */
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        serve(fd);
        close(fd);
    }
    close(lfd);
    return 0;
}
