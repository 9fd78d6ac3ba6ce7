/*
 * realfn.c - the libc functions behind our wrappers, bound once.
 *
 * Bound in the constructor and again in the atfork prepare handler
 * (interposition.md 5.6: lazy dlsym from a signal handler or from close
 * deadlocks on allocator and loader locks). Calls that arrive before the
 * constructor ran (another library's constructor, 5.3) go to the kernel
 * through raw system calls: no dlsym, no malloc, no libc wrapper of ours.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shell.h"

/* Until bound (and if libc lacks them), write and writev go to the kernel
 * directly: with a pointer that is never NULL, their pass-through path
 * needs no test (every write to a file, pipe or terminal pays for it). */
static ssize_t raw_write(int fd, const void *buf, size_t n)
{
    return hs_sys(SYS_write, fd, buf, n);
}

static ssize_t raw_writev(int fd, const struct iovec *iov, int iovcnt)
{
    return hs_sys(SYS_writev, fd, iov, iovcnt);
}

hs_real hs_libc = {.write = raw_write, .writev = raw_writev};
_Atomic bool hs_bound;

long hs_raw6(long nr, long a, long b, long c, long d, long e, long f)
{
    long ret;
#if defined(__x86_64__)
    ret = hs_raw6_inline(nr, a, b, c, d, e, f);
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    ret = x0;
#else
#error "raw system calls are written for x86-64 and aarch64 only"
#endif
    return ret;
}

long hs_sys6(long nr, long a, long b, long c, long d, long e, long f)
{
    long r = hs_raw6(nr, a, b, c, d, e, f);
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

/* proxychains-ng aborts when RTLD_NEXT hands back the hook itself; we keep
 * the pointer NULL instead, and the wrapper then uses the raw path. */
static void *next_symbol(const char *name, void *self)
{
    void *p = dlsym(RTLD_NEXT, name);
    return p == self ? NULL : p;
}


#define BIND(field, name) \
    hs_libc.field = (__typeof__(hs_libc.field))next_symbol(#name, (void *)&name)

void hs_real_bind(void)
{
    int saved = errno;
    hs_in_shim++;
    /* write and writev keep their raw fallback unless libc has them:
     * never NULL, not even for a moment (a signal handler may write). */
    void *w = next_symbol("write", (void *)&write);
    if (w)
        hs_libc.write = (__typeof__(hs_libc.write))w;
    void *wv = next_symbol("writev", (void *)&writev);
    if (wv)
        hs_libc.writev = (__typeof__(hs_libc.writev))wv;
    BIND(send, send);
    BIND(sendto, sendto);
    BIND(sendmsg, sendmsg);
    BIND(pwritev2, pwritev2);
    BIND(pwritev64v2, pwritev64v2);
    BIND(sendfile, sendfile);
    BIND(sendfile64, sendfile64);
    BIND(splice, splice);
    BIND(read, read);
    BIND(readv, readv);
    BIND(recv, recv);
    BIND(recvfrom, recvfrom);
    BIND(recvmsg, recvmsg);
    hs_libc.read_chk = (__typeof__(hs_libc.read_chk))dlsym(RTLD_NEXT, "__read_chk");
    hs_libc.recv_chk = (__typeof__(hs_libc.recv_chk))dlsym(RTLD_NEXT, "__recv_chk");
    hs_libc.recvfrom_chk =
        (__typeof__(hs_libc.recvfrom_chk))dlsym(RTLD_NEXT, "__recvfrom_chk");
    BIND(accept, accept);
    BIND(accept4, accept4);
    BIND(connect, connect);
    BIND(socket, socket);
    BIND(close, close);
    BIND(close_range, close_range);
    BIND(closefrom, closefrom);
    BIND(dup, dup);
    BIND(dup2, dup2);
    BIND(dup3, dup3);
    BIND(fcntl, fcntl);
    hs_libc.fcntl64 = (__typeof__(hs_libc.fcntl64))dlsym(RTLD_NEXT, "fcntl64");
    BIND(shutdown, shutdown);
    BIND(syscall, syscall);
    BIND(execve, execve);
    BIND(execv, execv);
    BIND(execvp, execvp);
    BIND(execvpe, execvpe);
    BIND(fexecve, fexecve);
    atomic_store(&hs_bound, true);
    hs_in_shim--;
    errno = saved;
}
