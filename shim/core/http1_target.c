/*
 * http1_target.c - the request target as the policy's `path` and `host`
 * subjects see it (POLICY.md): origin-form and absolute-form reduced to a
 * normalised path (RFC 3986 6.2.2 and 5.2.4), and Host without its port.
 */
#include "http1_util.h"

#include <string.h>

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* RFC 3986 2.3: ALPHA / DIGIT / "-" / "." / "_" / "~" */
static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* The path part of a target: origin-form "/p?q", or absolute-form
 * "scheme://authority/p?q" (RFC 9112 3.2.1, 3.2.2) whose path may be
 * empty. Asterisk-form and authority-form have no path: false. */
static bool target_path(const char *t, size_t len, const char **path,
                        size_t *path_len)
{
    size_t i = 0;
    if (len && t[0] != '/') {
        /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), any one:
         * only the path matters, and proxies see ftp:// too. */
        if (!((t[0] | 0x20) >= 'a' && (t[0] | 0x20) <= 'z'))
            return false;
        for (i = 1; i < len && t[i] != ':'; i++) {
            unsigned char c = (unsigned char)t[i];
            if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z') &&
                !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.')
                return false;
        }
        if (len - i < 3 || memcmp(t + i, "://", 3) != 0)
            return false;
        for (i += 3; i < len && t[i] != '/' && t[i] != '?' && t[i] != '#';
             i++)
            ;
    } else if (!len) {
        return false;
    }
    size_t end = i;
    while (end < len && t[end] != '?' && t[end] != '#')
        end++;
    *path = t + i;
    *path_len = end - i;
    return true;
}

/* Percent-decoding of unreserved characters (RFC 3986 6.2.2.2), other
 * escapes kept with uppercase hex (6.2.2.1). Writes into out; false on an
 * invalid escape, a NUL (raw or %00: a server that decodes would see it),
 * or running out of cap. */
static bool decode_unreserved(const char *p, size_t n, char *out, size_t cap,
                              size_t *out_len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\0')
            return false;
        if (c == '%') {
            if (n - i < 3)
                return false;
            int hi = hex_digit((unsigned char)p[i + 1]);
            int lo = hex_digit((unsigned char)p[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            unsigned char v = (unsigned char)(hi << 4 | lo);
            if (v == 0)
                return false;
            i += 2;
            if (unreserved(v)) {
                if (w == cap)
                    return false;
                out[w++] = (char)v;
            } else {
                if (cap - w < 3)
                    return false;
                out[w++] = '%';
                out[w++] = hex[v >> 4];
                out[w++] = hex[v & 15];
            }
            continue;
        }
        if (w == cap)
            return false;
        out[w++] = (char)c;
    }
    *out_len = w;
    return true;
}

/* RFC 3986 5.2.4 on an absolute path, in place (the result is never longer):
 * segment by segment, "." dropped, ".." dropping the segment before it, a
 * final "." or ".." leaving the path ending in "/". */
static size_t remove_dot_segments(char *s, size_t n)
{
    size_t w = 0, r = 0;
    while (r < n) {
        /* s[r] is '/': the segment is s[r+1 .. next '/' or n). */
        size_t seg = r + 1, e = seg;
        while (e < n && s[e] != '/')
            e++;
        size_t seg_len = e - seg;
        bool last = e == n;
        if (seg_len == 1 && s[seg] == '.') {
            if (last)
                s[w++] = '/';
        } else if (seg_len == 2 && s[seg] == '.' && s[seg + 1] == '.') {
            while (w > 0 && s[w - 1] != '/')
                w--;
            if (w > 0)
                w--; /* the '/' before the dropped segment */
            if (last)
                s[w++] = '/';
        } else {
            memmove(s + w, s + r, e - r);
            w += e - r;
        }
        r = e;
    }
    return w;
}

bool hs_normalize_path(const char *target, size_t len, char *out, size_t cap,
                       size_t *out_len)
{
    const char *path;
    size_t path_len, n;
    if (!target_path(target, len, &path, &path_len))
        return false;
    if (memchr(target, '\0', len))
        return false;
    if (path_len == 0) {
        /* absolute-form without a path: RFC 9112 3.2.2 gives it "/" */
        if (cap < 1)
            return false;
        out[0] = '/';
        *out_len = 1;
        return true;
    }
    if (!decode_unreserved(path, path_len, out, cap, &n))
        return false;
    *out_len = remove_dot_segments(out, n);
    return true;
}

hs_str hs_host_without_port(hs_str host)
{
    if (host.len && host.p[0] == '[') {
        /* IP-literal (RFC 3986 3.2.2): the port follows the ']' */
        const char *close = memchr(host.p, ']', host.len);
        if (close)
            host.len = (size_t)(close + 1 - host.p);
        return host;
    }
    const char *colon = host.len ? memchr(host.p, ':', host.len) : NULL;
    /* Exactly one colon: host ":" port. Several (an IPv6 address without
     * brackets, which Host may not carry) are left alone. */
    size_t before = colon ? (size_t)(colon - host.p) : 0;
    if (colon && (before + 1 == host.len ||
                  !memchr(colon + 1, ':', host.len - before - 1)))
        host.len = before;
    return host;
}
