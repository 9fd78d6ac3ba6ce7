/*
 * hs_server - a scriptable HTTP/1.x test server for the integration tests.
 *
 *   hs_server [--inetd] [--udp-to PORT] [--unix PATH] CMD...
 *
 * Listens on 127.0.0.1 (an ephemeral port, printed as the first line of
 * standard output) and runs each CMD in order. The tests run it under
 * LD_PRELOAD, so every libc call below is the interposed one; the script
 * decides which function carries which bytes, and how they are split, so
 * that most tests are data. DATA uses tests/lib/script_data.h notation.
 *
 *   accept | accept4            take the next connection
 *   read FUNC N                 read until N request bytes arrived, with
 *                               read|readv|recv|recvfrom|recvmsg|read_chk|
 *                               recv_chk|recvfrom_chk
 *   peek N                      recv(MSG_PEEK) N bytes (the queue must not
 *                               see them twice)
 *   out FUNC SPLIT DATA         FUNC: write|__write|send|__send|sendto|
 *                               sendmsg|writev|pwritev2|pwritev64v2|
 *                               syswrite; SPLIT: "-" one piece, "1" byte by
 *                               byte, "a,b,..." offsets. Vector functions
 *                               make one call with one iovec per piece (a
 *                               repeated offset gives an empty iovec),
 *                               others one call per piece.
 *   sendfile FUNC off|null DATA the DATA through a temporary file
 *   splice DATA                 the DATA through a pipe
 *   dup|dup2|dup3|fdup|fdupc|fdup64  continue on a duplicate, closing the
 *                               old fd (fdup*: fcntl/fcntl64 F_DUPFD*)
 *   close|sysclose|closerange|closefrom|shutwr
 *   replace                     dup2 /dev/null over the connection
 *   nonblock | sndbuf N | sleep MS | mark TEXT | waiteof
 *   thread                      the rest of the script in another thread
 *   fork                        the rest in a child; the parent closes its
 *                               copy and waits
 *   vforkexec                   vfork, the child closes and dup2s like
 *                               Python's subprocess, then execs /bin/true
 *   signal DATA                 a signal handler writes DATA
 *   watchdog MS                 a thread closes the connection after MS
 *                               while the script goes on (prints "closed")
 *   file PATH DATA | pipe DATA | udp DATA   HTTP-looking bytes elsewhere
 *   exit N                      _exit(N) without closing anything
 *   libcexit                    exit(0): destructors run, nothing closed
 *   rename OLD NEW | closeall   log rotation; closefrom(3)
 *   clobberenv                  overwrite the environment strings in place
 *   forkstorm N | stormwait     N forks from another thread meanwhile
 *   handoff                     accept in this process, run the rest in a
 *                               forked worker that receives the connection
 *                               by SCM_RIGHTS (Node's cluster)
 *   exec                        the rest of the script in a new image
 *                               (hs_server --fd N ...), same connection
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/script_data.h"

static int lfd = -1, cur = -1, udp_port = 0;
static const char *unix_path;
static int ncmds;
static char **cmds;

__attribute__((noreturn)) static void die(const char *what)
{
    fprintf(stderr, "hs_server: %s: %s\n", what, strerror(errno));
    _exit(2);
}

static void say(const char *s)
{
    size_t n = strlen(s);
    if (write(1, s, n) != (ssize_t)n || write(1, "\n", 1) != 1)
        die("stdout");
}

/* Rule 7: a call that succeeds leaves errno as it found it, whatever the
 * shim did inside it. Every output call of every test checks this. */
#define ERRNO_MARK 4242
static void check_errno(ssize_t r, const char *fn)
{
    if (r >= 0 && errno != ERRNO_MARK) {
        fprintf(stderr, "hs_server: %s succeeded but changed errno to %d\n", fn, errno);
        _exit(5);
    }
}

static void wait_out(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    poll(&p, 1, 10000);
}

static char *decode(const char *s, size_t *n)
{
    char *d = hs_data_decode(s, n);
    if (!d) {
        fprintf(stderr, "hs_server: bad DATA: %s\n", s);
        _exit(2);
    }
    return d;
}

/* Pieces [off[i], off[i+1]) of n bytes from a SPLIT spec. */
static size_t split(const char *spec, size_t n, size_t *off, size_t max)
{
    size_t k = 0;
    off[k++] = 0;
    if (strcmp(spec, "1") == 0) {
        for (size_t i = 1; i < n && k < max - 1; i++)
            off[k++] = i;
    } else if (strcmp(spec, "-") != 0) {
        for (const char *p = spec; *p && k < max - 1;) {
            size_t v = strtoul(p, (char **)&p, 10);
            off[k++] = v > n ? n : v;
            if (*p == ',')
                p++;
        }
    }
    off[k++] = n;
    return k - 1;                   /* number of pieces */
}

static ssize_t one_call(const char *fn, const char *buf, size_t n)
{
    struct iovec v = {(void *)buf, n};
    if (!strcmp(fn, "write")) return write(cur, buf, n);
    if (!strcmp(fn, "__write")) {
        extern ssize_t __write(int, const void *, size_t);
        return __write(cur, buf, n);
    }
    if (!strcmp(fn, "send")) return send(cur, buf, n, MSG_NOSIGNAL);
    if (!strcmp(fn, "__send")) {
        extern ssize_t __send(int, const void *, size_t, int);
        return __send(cur, buf, n, 0);
    }
    if (!strcmp(fn, "sendto")) return sendto(cur, buf, n, 0, NULL, 0);
    if (!strcmp(fn, "syswrite")) return syscall(SYS_write, cur, buf, n);
    (void)v;
    fprintf(stderr, "hs_server: unknown output function %s\n", fn);
    _exit(2);
}

static ssize_t vec_call(const char *fn, struct iovec *iov, int cnt)
{
    if (!strcmp(fn, "writev")) return writev(cur, iov, cnt);
    if (!strcmp(fn, "pwritev2")) return pwritev2(cur, iov, cnt, -1, 0);
    if (!strcmp(fn, "pwritev64v2")) {
        extern ssize_t pwritev64v2(int, const struct iovec *, int, off64_t, int);
        return pwritev64v2(cur, iov, cnt, -1, 0);
    }
    if (!strcmp(fn, "sendmsg")) {
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = iov;
        m.msg_iovlen = (size_t)cnt;
        return sendmsg(cur, &m, MSG_NOSIGNAL);
    }
    return -2;
}

/* Writes like a careful server: retries the rest after a short count and
 * waits for POLLOUT after EAGAIN (as nginx does on its next edge). */
static void out(const char *fn, const char *spec, const char *data)
{
    size_t n;
    char *buf = decode(data, &n);
    static size_t off[4096];
    size_t pieces = split(spec, n, off, 4096);
    bool vectored = !strcmp(fn, "writev") || !strcmp(fn, "pwritev2") ||
                    !strcmp(fn, "pwritev64v2") || !strcmp(fn, "sendmsg");
    if (vectored) {
        /* one vectored call (and its retries) */
        size_t done = 0;
        while (done < n || n == 0) {
            struct iovec iov[4096];
            int cnt = 0;
            for (size_t i = 0; i < pieces; i++) {
                size_t a = off[i], b = off[i + 1];
                if (b <= done && !(b == a && a >= done))
                    continue;
                if (a < done)
                    a = done;
                iov[cnt].iov_base = buf + a;
                iov[cnt].iov_len = b - a;
                cnt++;
            }
            errno = ERRNO_MARK;
            ssize_t r = vec_call(fn, iov, cnt);
            check_errno(r, fn);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
                wait_out(cur);
                continue;
            }
            if (r < 0)
                die(fn);
            if (r == 0 && n > 0) {
                errno = EIO;
                die("zero count");
            }
            done += (size_t)r;
            if (n == 0)
                break;
        }
    } else {
        for (size_t i = 0; i < pieces; i++) {
            size_t a = off[i], b = off[i + 1];
            while (a < b) {
                errno = ERRNO_MARK;
                ssize_t r = one_call(fn, buf + a, b - a);
                check_errno(r, fn);
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
                    wait_out(cur);
                    continue;
                }
                if (r <= 0)
                    die(fn);
                a += (size_t)r;
            }
        }
    }
    free(buf);
}

static void do_read(const char *fn, size_t want)
{
    char buf[65536];
    size_t got = 0;
    while (got < want) {
        size_t n = want - got < sizeof buf ? want - got : sizeof buf;
        ssize_t r;
        struct iovec iov[2] = {{buf, n / 2}, {buf + n / 2, n - n / 2}};
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = iov;
        m.msg_iovlen = 2;
        if (!strcmp(fn, "read")) r = read(cur, buf, n);
        else if (!strcmp(fn, "readv")) r = readv(cur, iov, 2);
        else if (!strcmp(fn, "recv")) r = recv(cur, buf, n, 0);
        else if (!strcmp(fn, "recvfrom")) r = recvfrom(cur, buf, n, 0, NULL, NULL);
        else if (!strcmp(fn, "recvmsg")) r = recvmsg(cur, &m, 0);
        else if (!strcmp(fn, "read_chk")) {
            extern ssize_t __read_chk(int, void *, size_t, size_t);
            r = __read_chk(cur, buf, n, sizeof buf);
        } else if (!strcmp(fn, "recv_chk")) {
            extern ssize_t __recv_chk(int, void *, size_t, size_t, int);
            r = __recv_chk(cur, buf, n, sizeof buf, 0);
        } else if (!strcmp(fn, "recvfrom_chk")) {
            extern ssize_t __recvfrom_chk(int, void *, size_t, size_t, int,
                                          struct sockaddr *, socklen_t *);
            r = __recvfrom_chk(cur, buf, n, sizeof buf, 0, NULL, NULL);
        } else {
            fprintf(stderr, "hs_server: unknown read function %s\n", fn);
            _exit(2);
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd p = {.fd = cur, .events = POLLIN};
            poll(&p, 1, 10000);
            continue;
        }
        if (r <= 0)
            die("read");
        got += (size_t)r;
    }
}

static void via_file(const char *fn, const char *mode, const char *data)
{
    size_t n;
    char *buf = decode(data, &n);
    char path[] = "/tmp/hs_server_XXXXXX";
    int f = mkstemp(path);
    if (f < 0)
        die("mkstemp");
    unlink(path);
    if (write(f, buf, n) != (ssize_t)n)
        die("file write");
    lseek(f, 0, SEEK_SET);
    off_t o = 0;
    size_t done = 0;
    while (done < n) {
        off_t *op = !strcmp(mode, "null") ? NULL : &o;
        errno = ERRNO_MARK;
        ssize_t r = !strcmp(fn, "sendfile64")
                        ? sendfile64(cur, f, (off64_t *)op, n - done)
                        : sendfile(cur, f, op, n - done);
        check_errno(r, fn);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            wait_out(cur);
            continue;
        }
        if (r <= 0)
            die(fn);
        done += (size_t)r;
    }
    close(f);
    free(buf);
}

static void via_pipe(const char *data)
{
    size_t n;
    char *buf = decode(data, &n);
    int p[2];
    if (pipe(p) != 0)
        die("pipe");
    if (n > 65536 || write(p[1], buf, n) != (ssize_t)n)
        die("pipe write");
    size_t done = 0;
    while (done < n) {
        errno = ERRNO_MARK;
        ssize_t r = splice(p[0], NULL, cur, NULL, n - done, 0);
        check_errno(r, "splice");
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            wait_out(cur);
            continue;
        }
        if (r <= 0)
            die("splice");
        done += (size_t)r;
    }
    close(p[0]);
    close(p[1]);
    free(buf);
}

/* Python 3.11's subprocess child: dup2 onto 0-2, close the rest with
 * close_range, exec; all in the parent's memory. */
__attribute__((noinline)) static void vfork_exec(void)
{
    pid_t p = vfork();
    if (p == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        close(cur);
        close_range(3, ~0u, 0);
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(p, &st, 0);
}

static void run(int from);

/* Forks in a loop from another thread while the script writes: the fork
 * handlers meet connections in every state (rule 10). */
static int storm_n;
static volatile int storm_done;
static void *fork_storm(void *arg)
{
    (void)arg;
    for (int k = 0; k < storm_n; k++) {
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        if (p > 0)
            waitpid(p, NULL, 0);
    }
    storm_done = 1;
    return NULL;
}

/* Node's cluster: the parent accepts and hands the connection to a worker
 * with SCM_RIGHTS. The worker first leaves an IGNORE verdict on the number
 * the connection will get (a write to /dev/null), so a stale verdict would
 * show. */
static void handoff(int i)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0)
        die("socketpair");
    pid_t p = fork();
    if (p < 0)
        die("fork");
    char ctl[CMSG_SPACE(sizeof(int))];
    char byte = 'x';
    struct iovec v = {&byte, 1};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    if (p == 0) {
        close(sp[0]);
        int f = open("/dev/null", O_WRONLY);
        if (f < 0 || write(f, "HTTP/1.1 200 OK\r\n", 17) != 17)
            die("/dev/null");
        close(f);
        if (recvmsg(sp[1], &m, 0) != 1)
            die("recvmsg");
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        if (!c || c->cmsg_type != SCM_RIGHTS)
            die("no fd received");
        memcpy(&cur, CMSG_DATA(c), sizeof cur);
        close(sp[1]);
        run(i + 1);
        close(cur);
        exit(0);
    }
    close(sp[1]);
    cur = accept(lfd, NULL, NULL);
    if (cur < 0)
        die("accept");
    memset(ctl, 0, sizeof ctl);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &cur, sizeof cur);
    if (sendmsg(sp[0], &m, 0) != 1)
        die("sendmsg");
    close(cur);
    int st;
    waitpid(p, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        _exit(4);
}

static const char *sig_data;
static size_t sig_len;
static void on_signal(int sig)
{
    (void)sig;
    /* decoding mallocs: done before raise(); here only write */
    if (write(cur, sig_data, sig_len) != (ssize_t)sig_len)
        _exit(3);
}

static int watchdog_ms;
static void *watchdog(void *arg)
{
    (void)arg;
    usleep((useconds_t)watchdog_ms * 1000);
    int fd = cur;
    close(fd);                      /* must return at once: rule 9 */
    say("closed");
    shutdown(fd, SHUT_RDWR);        /* fd number may be gone: harmless */
    return NULL;
}

static void run(int from);

static void *thread_main(void *arg)
{
    run((int)(intptr_t)arg);
    return NULL;
}

static void run(int from)
{
    for (int i = from; i < ncmds; i++) {
        char *c = cmds[i];
        char *a2 = NULL, *rest = NULL;
        /* split into at most: verb a1 a2 rest */
        char *sp = strchr(c, ' ');
        char verb[32];
        size_t vl = sp ? (size_t)(sp - c) : strlen(c);
        if (vl >= sizeof verb) vl = sizeof verb - 1;
        memcpy(verb, c, vl);
        verb[vl] = '\0';
        if (sp)
            rest = sp + 1;
        else
            rest = c + vl;
        if (!strcmp(verb, "accept") || !strcmp(verb, "accept4")) {
            cur = !strcmp(verb, "accept") ? accept(lfd, NULL, NULL)
                                          : accept4(lfd, NULL, NULL, 0);
            if (cur < 0)
                die("accept");
        } else if (!strcmp(verb, "read")) {
            char fn[32];
            unsigned long n;
            if (sscanf(rest, "%31s %lu", fn, &n) != 2)
                goto bad;
            do_read(fn, n);
        } else if (!strcmp(verb, "peek")) {
            char buf[65536];
            size_t n = strtoul(rest, NULL, 10);
            if (recv(cur, buf, n, MSG_PEEK | MSG_WAITALL) < 0)
                die("peek");
        } else if (!strcmp(verb, "out") || !strcmp(verb, "sendfile")) {
            char fn[32], spec[4096];
            int used = 0;
            if (sscanf(rest, "%31s %4095s %n", fn, spec, &used) < 2)
                goto bad;
            a2 = rest + used;
            if (!strcmp(verb, "out"))
                out(fn, spec, a2);
            else
                via_file(fn, spec, a2);
        } else if (!strcmp(verb, "splice")) {
            via_pipe(rest);
        } else if (!strcmp(verb, "dup") || !strcmp(verb, "dup2") ||
                   !strcmp(verb, "dup3") || !strcmp(verb, "fdup") ||
                   !strcmp(verb, "fdupc") || !strcmp(verb, "fdup64")) {
            int nfd;
            if (!strcmp(verb, "dup")) nfd = dup(cur);
            else if (!strcmp(verb, "dup2")) nfd = dup2(cur, cur + 20);
            else if (!strcmp(verb, "dup3")) nfd = dup3(cur, cur + 21, O_CLOEXEC);
            else if (!strcmp(verb, "fdup")) nfd = fcntl(cur, F_DUPFD, 30);
            else if (!strcmp(verb, "fdupc")) nfd = fcntl(cur, F_DUPFD_CLOEXEC, 40);
            else {
                /* nginx and Python bind fcntl64 (_FILE_OFFSET_BITS=64) */
                extern int fcntl64(int, int, ...);
                nfd = fcntl64(cur, F_DUPFD_CLOEXEC, 50);
            }
            if (nfd < 0)
                die(verb);
            close(cur);
            cur = nfd;
        } else if (!strcmp(verb, "replace")) {
            /* dup2 of another file over the connection: an implicit close */
            int n = open("/dev/null", O_WRONLY);
            if (n < 0 || dup2(n, cur) != cur)
                die("replace");
            close(n);
        } else if (!strcmp(verb, "close")) {
            close(cur);
        } else if (!strcmp(verb, "sysclose")) {
            syscall(SYS_close, cur);
        } else if (!strcmp(verb, "closerange")) {
            close_range((unsigned)cur, (unsigned)cur, 0);
        } else if (!strcmp(verb, "closefrom")) {
            closefrom(cur);
        } else if (!strcmp(verb, "shutwr")) {
            shutdown(cur, SHUT_WR);
        } else if (!strcmp(verb, "nonblock")) {
            fcntl(cur, F_SETFL, fcntl(cur, F_GETFL) | O_NONBLOCK);
        } else if (!strcmp(verb, "sndbuf")) {
            int v = atoi(rest);
            setsockopt(cur, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
        } else if (!strcmp(verb, "sleep")) {
            usleep((useconds_t)atoi(rest) * 1000);
        } else if (!strcmp(verb, "mark")) {
            say(rest);
        } else if (!strcmp(verb, "waiteof")) {
            char buf[4096];
            while (read(cur, buf, sizeof buf) > 0) {}
        } else if (!strcmp(verb, "thread")) {
            pthread_t t;
            if (pthread_create(&t, NULL, thread_main, (void *)(intptr_t)(i + 1)))
                die("pthread_create");
            pthread_join(t, NULL);
            return;
        } else if (!strcmp(verb, "fork")) {
            pid_t p = fork();
            if (p < 0)
                die("fork");
            if (p == 0) {
                run(i + 1);
                exit(0);
            }
            close(cur);
            int st;
            waitpid(p, &st, 0);
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                _exit(4);
            return;
        } else if (!strcmp(verb, "vforkexec")) {
            vfork_exec();
        } else if (!strcmp(verb, "signal")) {
            sig_data = decode(rest, &sig_len);
            signal(SIGUSR1, on_signal);
            raise(SIGUSR1);
        } else if (!strcmp(verb, "watchdog")) {
            pthread_t t;
            watchdog_ms = atoi(rest);
            if (pthread_create(&t, NULL, watchdog, NULL))
                die("pthread_create");
            pthread_detach(t);
        } else if (!strcmp(verb, "file")) {
            char path[4096];
            int used = 0;
            if (sscanf(rest, "%4095s %n", path, &used) < 1)
                goto bad;
            size_t n;
            char *d = decode(rest + used, &n);
            int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (f < 0 || write(f, d, n) != (ssize_t)n)
                die("file");
            close(f);
            free(d);
        } else if (!strcmp(verb, "pipe")) {
            size_t n;
            char *d = decode(rest, &n);
            if (write(1, d, n) != (ssize_t)n)
                die("pipe");
            free(d);
        } else if (!strcmp(verb, "udp")) {
            size_t n;
            char *d = decode(rest, &n);
            int u = socket(AF_INET, SOCK_DGRAM, 0);
            struct sockaddr_in sa = {.sin_family = AF_INET,
                                     .sin_port = htons((uint16_t)udp_port),
                                     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            if (connect(u, (struct sockaddr *)&sa, sizeof sa) != 0 ||
                write(u, d, n) != (ssize_t)n ||
                sendto(u, d, n, 0, NULL, 0) != (ssize_t)n)
                die("udp");
            close(u);
            free(d);
        } else if (!strcmp(verb, "exit")) {
            _exit(atoi(rest));
        } else if (!strcmp(verb, "rename")) {
            char a[4096], b[4096];
            if (sscanf(rest, "%4095s %4095s", a, b) != 2 || rename(a, b) != 0)
                die("rename");
        } else if (!strcmp(verb, "clobberenv")) {
            /* nginx's ngx_setproctitle writes the process title over the
             * original environment block */
            extern char **environ;
            for (char **e = environ; *e; e++)
                memset(*e, 'x', strlen(*e));
        } else if (!strcmp(verb, "closeall")) {
            closefrom(3);           /* the log's descriptor too */
        } else if (!strcmp(verb, "forkstorm")) {
            pthread_t t;
            storm_n = atoi(rest);
            if (pthread_create(&t, NULL, fork_storm, NULL))
                die("pthread_create");
            pthread_detach(t);
        } else if (!strcmp(verb, "stormwait")) {
            while (!storm_done)
                usleep(1000);
        } else if (!strcmp(verb, "handoff")) {
            handoff(i);
            return;
        } else if (!strcmp(verb, "exec")) {
            /* the rest of the script in a new image of this program, on
             * the same connection (held bytes must be flushed first) */
            char fdarg[16];
            snprintf(fdarg, sizeof fdarg, "%d", cur);
            char **av = calloc((size_t)(ncmds - i) + 4, sizeof *av);
            int k = 0;
            av[k++] = "hs_server";
            av[k++] = "--fd";
            av[k++] = fdarg;
            for (int j = i + 1; j < ncmds; j++)
                av[k++] = cmds[j];
            av[k] = NULL;
            execv("/proc/self/exe", av);
            die("execv");
        } else if (!strcmp(verb, "libcexit")) {
            exit(0);                /* destructors run, nothing closed */
        } else {
            goto bad;
        }
        continue;
    bad:
        fprintf(stderr, "hs_server: bad command: %s\n", c);
        _exit(2);
    }
}

int main(int argc, char **argv)
{
    int i = 1;
    bool inetd = false;
    for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
        if (!strcmp(argv[i], "--inetd"))
            inetd = true;
        else if (!strcmp(argv[i], "--udp-to") && i + 1 < argc)
            udp_port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--fd") && i + 1 < argc)
            cur = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--unix") && i + 1 < argc)
            unix_path = argv[++i];
    }
    cmds = argv + i;
    ncmds = argc - i;
    signal(SIGPIPE, SIG_IGN);
    if (inetd) {
        cur = 1;                    /* the connection is 0, 1 and 2 */
    } else if (cur >= 0) {
        /* --fd: continuing after exec */
    } else if (unix_path) {
        struct sockaddr_un su = {.sun_family = AF_UNIX};
        snprintf(su.sun_path, sizeof su.sun_path, "%s", unix_path);
        unlink(unix_path);
        lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&su, sizeof su) != 0 ||
            listen(lfd, 16) != 0)
            die("listen unix");
        say("0");
    } else {
        lfd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof sa;
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
            listen(lfd, 16) != 0 ||
            getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0)
            die("listen");
        char port[16];
        snprintf(port, sizeof port, "%d", ntohs(sa.sin_port));
        say(port);
    }
    run(0);
    if (cur >= 0)
        close(cur);
    return 0;
}
