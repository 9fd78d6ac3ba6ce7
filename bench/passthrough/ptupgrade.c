/*
 * ptupgrade - what a write() costs on a connection the engine has let go.
 *
 *   ptupgrade N   accept() a loopback connection, read() its request,
 *                 answer "101 Switching Protocols", then N write()s of 64
 *                 bytes: after a 101 nothing on the connection is HTTP any
 *                 more (RFC 9110 15.2.2), the engine declares it
 *                 pass-through and the shim should then cost what it costs
 *                 on an fd it never tracked (issue 4 item 7: at most +40).
 *
 * bench/passthrough/run_upgrade.sh runs it under callgrind with two values
 * of N, with and without the library. The client is a forked child using
 * raw system calls only; it checks that exactly the head plus N*64 bytes
 * arrived, and the parent prints "pid=PID ok" only then.
 */
#include <arpa/inet.h>
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
static const char head[] = "HTTP/1.1 101 Switching Protocols\r\n"
                           "Upgrade: websocket\r\n"
                           "Connection: Upgrade\r\n"
                           "\r\n";

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

/* Sends the request, then counts every byte up to EOF: the head (which
 * the policy may have changed) ends at the first blank line, the rest
 * must be exactly n * CHUNK bytes. */
static int client(unsigned short port, long n)
{
    int fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = port};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || syscall(SYS_connect, fd, &sa, sizeof sa) != 0)
        return 10;
    static const char request[] = "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    if (syscall(SYS_write, fd, request, sizeof request - 1) != (long)(sizeof request - 1))
        return 11;
    static char buf[1 << 16];
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        long r = syscall(SYS_read, fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0)
            return 12;
        have += (size_t)r;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (strncmp(buf, "HTTP/1.1 101 ", 13) != 0)
        return 13;
    long body = (long)(have - (size_t)(end + 4 - buf));
    for (;;) {
        long r = syscall(SYS_read, fd, buf, sizeof buf);
        if (r < 0)
            return 14;
        if (r == 0)
            break;
        body += r;
    }
    return body == n * CHUNK ? 0 : 15;
}

int main(int argc, char **argv)
{
    long n = argc == 2 ? atol(argv[1]) : 0;
    if (n <= 0) {
        fprintf(stderr, "usage: ptupgrade N\n");
        return 2;
    }
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
        _exit(client(sa.sin_port, n));
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        die("accept");
    char request[4096];
    size_t have = 0;
    while (have < 4 || memcmp(request + have - 4, "\r\n\r\n", 4) != 0) {
        ssize_t r = read(fd, request + have, sizeof request - have);
        if (r <= 0)
            die("read");
        have += (size_t)r;
    }
    write_all(fd, head, sizeof head - 1);
    for (long i = 0; i < n; i++)
        write_all(fd, chunk, CHUNK);
    close(fd);
    close(lfd);
    int status = 0;
    if (waitpid(child, &status, 0) != child)
        die("waitpid");
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok)
        fprintf(stderr, "ptupgrade: the client saw wrong bytes (status %d)\n", status);
    printf("pid=%ld %s\n", (long)getpid(), ok ? "ok" : "failed");
    return ok ? 0 : 1;
}
