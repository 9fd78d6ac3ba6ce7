/*
 * ptwrite - what the shim's pass-through path costs one write().
 *
 *   ptwrite devnull N   N write()s of 64 bytes to /dev/null: a descriptor
 *                       that is not a socket, which the shim must let
 *                       through after one cached check
 *   ptwrite body N      a loopback HTTP exchange: accept() a connection,
 *                       read() its request, write() a response head with
 *                       Content-Length N*64, then N write()s of 64 bytes:
 *                       body writes on a connection the shim tracks
 *   ptwrite upgrade N   the same exchange answered "101 Switching
 *                       Protocols": after a 101 nothing on the connection
 *                       is HTTP any more (RFC 9110 15.2.2), the engine
 *                       declares it pass-through, and the N writes should
 *                       cost what they cost on an fd never tracked
 *
 * bench/passthrough/run.sh runs each case under callgrind with two values
 * of N, with and without LD_PRELOAD=libheadershim.so; the difference of the
 * two totals divided by the difference of N is the cost of one write(),
 * start-up and the one-off work (loading the policy, classifying the
 * descriptor, rewriting the head) cancelling out.
 *
 * In "body" and "upgrade", a forked child is the HTTP client. It uses raw
 * system calls only (syscall(2)), so it behaves the same with and without
 * the shim, and it checks that exactly the bytes written followed the
 * head (Content-Length, or N*64 after the 101); the
 * parent prints "ok" only when the child saw that. Callgrind writes a
 * separate file for the child; run.sh reads the parent's, named by the pid
 * printed here.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK 64

static const char chunk[CHUNK] = "0123456789abcdef0123456789abcdef0123456789abcdef012345678901234";

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0)
            die("write");
        p += w;
        n -= (size_t)w;
    }
}

static int run_devnull(long n)
{
    int fd = open("/dev/null", O_WRONLY);
    if (fd < 0)
        die("/dev/null");
    for (long i = 0; i < n; i++)
        write_all(fd, chunk, CHUNK);
    close(fd);
    return 0;
}

static long raw_read(int fd, char *buf, size_t n)
{
    return syscall(SYS_read, fd, buf, n);
}

/* The client: sends `request`, then reads the response to EOF and checks
 * the bytes after the head: as many as its Content-Length says, or
 * `after_101` after a 101 head (the policy may change the head itself). */
static int client(unsigned short port, const char *request, long after_101)
{
    int fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = port};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || syscall(SYS_connect, fd, &sa, sizeof sa) != 0)
        return 10;
    long rlen = (long)strlen(request);
    if (syscall(SYS_write, fd, request, rlen) != rlen)
        return 11;
    static char buf[1 << 16];
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        long r = raw_read(fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0)
            return 12;
        have += (size_t)r;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    long expected;
    if (strncmp(buf, "HTTP/1.1 101 ", 13) == 0) {
        expected = after_101;
    } else {
        const char *cl = strstr(buf, "Content-Length: ");
        if (!cl || cl > end)
            return 13;
        expected = strtol(cl + 16, NULL, 10);
    }
    long body = (long)(have - (size_t)(end + 4 - buf));
    for (;;) {
        long r = raw_read(fd, buf, sizeof buf);
        if (r < 0)
            return 14;
        if (r == 0)
            break;
        body += r;
    }
    return body == expected ? 0 : 15;
}

/* The server side: accept the client's connection, read its request,
 * write `head`, then n chunks. */
static int exchange(long n, const char *request, const char *head)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) != 0)
        die("listen");
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0)
        _exit(client(sa.sin_port, request, n * CHUNK));

    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        die("accept");
    char got[4096];
    size_t have = 0;
    while (have < 4 || memcmp(got + have - 4, "\r\n\r\n", 4) != 0) {
        ssize_t r = read(fd, got + have, sizeof got - have);
        if (r <= 0)
            die("read");
        have += (size_t)r;
    }
    write_all(fd, head, strlen(head));
    for (long i = 0; i < n; i++)
        write_all(fd, chunk, CHUNK);
    close(fd);
    close(lfd);
    int status = 0;
    if (waitpid(child, &status, 0) != child)
        die("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "ptwrite: the client saw wrong bytes (status %d)\n", status);
        return 1;
    }
    return 0;
}

static int run_body(long n)
{
    char head[256];
    snprintf(head, sizeof head,
             "HTTP/1.1 200 OK\r\n"
             "Server: ptwrite/1.0\r\n"
             "Content-Type: application/octet-stream\r\n"
             "Content-Length: %ld\r\n"
             "\r\n",
             n * CHUNK);
    return exchange(n, "GET /download HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", head);
}

static int run_upgrade(long n)
{
    return exchange(n,
                    "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                    "HTTP/1.1 101 Switching Protocols\r\n"
                    "Upgrade: websocket\r\n"
                    "Connection: Upgrade\r\n"
                    "\r\n");
}

int main(int argc, char **argv)
{
    if (argc != 3)
        goto usage;
    long n = atol(argv[2]);
    if (n <= 0)
        goto usage;
    int rc;
    if (strcmp(argv[1], "devnull") == 0)
        rc = run_devnull(n);
    else if (strcmp(argv[1], "body") == 0)
        rc = run_body(n);
    else if (strcmp(argv[1], "upgrade") == 0)
        rc = run_upgrade(n);
    else
        goto usage;
    printf("pid=%ld %s\n", (long)getpid(), rc == 0 ? "ok" : "failed");
    return rc;

usage:
    fprintf(stderr, "usage: ptwrite devnull|body|upgrade N\n");
    return 2;
}
