/*
 * hsclient - the load for the instruction counts of bench/servers/run.sh.
 *
 *   hsclient -p PORT -r REQUEST_FILE -u PATH -n REQUESTS [-c CONNECTIONS]
 *            [-e MARKER] [-t SECONDS] [-v]
 *   hsclient -p PORT -w SECONDS
 *
 * Opens CONNECTIONS keep-alive connections to 127.0.0.1:PORT and sends
 * REQUESTS requests round-robin over them, one outstanding at a time, so
 * the server does the same work per request on every run: the difference
 * between two runs with different REQUESTS is the cost of the extra
 * requests alone (connection set-up and server start-up cancel out).
 *
 * REQUEST_FILE holds one request head with LF line ends (they are sent as
 * CRLF, RFC 9112 section 2.2) and "@PATH@" where the target goes; wrk's
 * request and a browser's are two such files.
 *
 * Each response is read whole (its head up to CRLFCRLF, then Content-Length
 * body bytes), so a server that loses or adds body bytes shows up as a
 * timeout or a failed parse, not as a faster run. With -e, the responses
 * whose head contains MARKER are counted: the script checks with it that a
 * setup really added the headers it is measured for.
 *
 * -v prints the first response head on standard error (run.sh records what
 * each setup really sent). -w waits until the port accepts a connection,
 * closes it without a request and exits 0 (or 1 after SECONDS): a server
 * under valgrind takes a while to listen, and this probe costs the server
 * the same in every run, so it cancels out like start-up.
 *
 * Prints one line: "responses=N status200=N marker=N server_header=N
 * bytes=N" and exits 0 only when every response arrived.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNECTIONS 64
#define MAX_REQUEST 8192
#define RESPONSE_BUF 65536

typedef struct counts {
    long responses, status200, marker, server_header, bytes;
} counts;

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "hsclient: timed out\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing more to do: the exit status says it */
    }
    _exit(3);
}

/* Reads the request template, turns LF into CRLF and puts PATH in. */
static size_t load_request(const char *file, const char *path, char *out, size_t cap)
{
    FILE *f = fopen(file, "r");
    if (!f)
        die(file);
    char raw[MAX_REQUEST];
    size_t n = fread(raw, 1, sizeof raw - 1, f);
    fclose(f);
    raw[n] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(raw + i, "@PATH@", 6) == 0) {
            size_t plen = strlen(path);
            if (len + plen >= cap)
                break;
            memcpy(out + len, path, plen);
            len += plen;
            i += 5;
            continue;
        }
        if (raw[i] == '\r')
            continue;
        if (raw[i] == '\n') {
            if (len + 2 >= cap)
                break;
            out[len++] = '\r';
            out[len++] = '\n';
            continue;
        }
        if (len + 1 >= cap)
            break;
        out[len++] = raw[i];
    }
    if (len < 4 || memcmp(out + len - 4, "\r\n\r\n", 4) != 0) {
        fprintf(stderr, "hsclient: %s does not end with an empty line\n", file);
        exit(2);
    }
    return len;
}

static int try_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int connect_to(int port)
{
    int fd = try_connect(port);
    if (fd < 0)
        die("connect");
    return fd;
}

static int wait_for_port(int port, int seconds)
{
    for (int tries = 0; tries < seconds * 20; tries++) {
        int fd = try_connect(port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        usleep(50000);
    }
    fprintf(stderr, "hsclient: nothing listens on port %d\n", port);
    return 1;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Content-Length of a head (RFC 9110 section 8.6), -1 when absent. */
static long content_length(const char *head, size_t len)
{
    static const char name[] = "\r\ncontent-length:";
    for (size_t i = 0; i + sizeof name - 1 < len; i++) {
        if (strncasecmp(head + i, name, sizeof name - 1) == 0)
            return strtol(head + i + sizeof name - 1, NULL, 10);
    }
    return -1;
}

static void read_response(int fd, const char *marker, int verbose, counts *c)
{
    static char buf[RESPONSE_BUF];
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have == sizeof buf - 1) {
            fprintf(stderr, "hsclient: response head too large\n");
            exit(2);
        }
        ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0) {
            fprintf(stderr, "hsclient: connection closed before a response head\n");
            exit(2);
        }
        have += (size_t)r;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t head_len = (size_t)(end - buf) + 4;
    long body = content_length(buf, head_len);
    if (body < 0) {
        fprintf(stderr, "hsclient: response without Content-Length\n");
        exit(2);
    }
    /* One request is outstanding at a time, so nothing beyond this body
     * can be in the buffer. */
    size_t total = head_len + (size_t)body;
    while (have < total) {
        char sink[RESPONSE_BUF];
        size_t want = total - have < sizeof sink ? total - have : sizeof sink;
        ssize_t r = read(fd, sink, want);
        if (r <= 0) {
            fprintf(stderr, "hsclient: connection closed inside a body\n");
            exit(2);
        }
        have += (size_t)r;
    }
    if (have != total) {
        fprintf(stderr, "hsclient: %zu bytes beyond the response\n", have - total);
        exit(2);
    }
    buf[head_len] = '\0';
    if (verbose && c->responses == 0)
        fputs(buf, stderr);
    c->responses++;
    c->bytes += (long)total;
    if (strncmp(buf, "HTTP/1.1 200 ", 13) == 0)
        c->status200++;
    if (marker && strcasestr(buf, marker))
        c->marker++;
    if (strcasestr(buf, "\r\nServer:"))
        c->server_header++;
}

int main(int argc, char **argv)
{
    int port = 0, conns = 4, seconds = 120, verbose = 0, wait_seconds = 0;
    long requests = 0;
    const char *file = NULL, *path = "/", *marker = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "p:r:u:n:c:e:t:vw:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'r': file = optarg; break;
        case 'u': path = optarg; break;
        case 'n': requests = atol(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 'e': marker = optarg; break;
        case 't': seconds = atoi(optarg); break;
        case 'v': verbose = 1; break;
        case 'w': wait_seconds = atoi(optarg); break;
        default: goto usage;
        }
    }
    if (port > 0 && wait_seconds > 0)
        return wait_for_port(port, wait_seconds);
    if (port <= 0 || !file || requests <= 0 || conns <= 0 || conns > MAX_CONNECTIONS)
        goto usage;

    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)seconds);

    static char request[MAX_REQUEST];
    size_t request_len = load_request(file, path, request, sizeof request);
    int fds[MAX_CONNECTIONS];
    for (int i = 0; i < conns; i++)
        fds[i] = connect_to(port);

    counts c = {0};
    for (long i = 0; i < requests; i++) {
        int fd = fds[i % conns];
        send_all(fd, request, request_len);
        read_response(fd, marker, verbose, &c);
    }
    for (int i = 0; i < conns; i++)
        close(fds[i]);
    printf("responses=%ld status200=%ld marker=%ld server_header=%ld bytes=%ld request_bytes=%zu\n",
           c.responses, c.status200, c.marker, c.server_header, c.bytes, request_len);
    return c.responses == requests && c.status200 == requests ? 0 : 1;

usage:
    fprintf(stderr, "usage: hsclient -p PORT -r REQUEST_FILE -u PATH -n REQUESTS "
                    "[-c CONNECTIONS] [-e MARKER] [-t SECONDS] [-v]\n"
                    "       hsclient -p PORT -w SECONDS\n");
    return 2;
}
