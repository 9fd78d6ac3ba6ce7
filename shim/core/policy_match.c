/*
 * policy_match.c - the small matchers the policy compiler and the rewriter
 * share: header-name interning and lookup, globs, RFC 9110 tokens.
 *
 * Name lookup is the hot path of every rewrite: each field name of a
 * response is looked up once. The index hashes the length and three bytes;
 * the compare that confirms a hit works eight bytes at a time with every
 * byte |0x20, which folds ASCII letters and leaves the other token
 * characters alone except ^/~, `/@ and |/\ (names with ^ ` | ~ take the
 * byte-by-byte path).
 */
#include "policy_rules.h"

#include <stdlib.h>
#include <string.h>

const char *const hs_fixed_names[HS_ID_NFIXED] = {
    [HS_ID_CONTENT_TYPE] = "Content-Type",
    [HS_ID_SET_COOKIE] = "Set-Cookie",
    [HS_ID_CONTENT_ENCODING] = "Content-Encoding",
    [HS_ID_CONTENT_RANGE] = "Content-Range",
    [HS_ID_LOCATION] = "Location",
    [HS_ID_WWW_AUTHENTICATE] = "WWW-Authenticate",
    [HS_ID_VARY] = "Vary",
    [HS_ID_DATE] = "Date",
    [HS_ID_ETAG] = "ETag",
    [HS_ID_LAST_MODIFIED] = "Last-Modified",
    [HS_ID_CONTENT_LENGTH] = "Content-Length",
    [HS_ID_TRANSFER_ENCODING] = "Transfer-Encoding",
    [HS_ID_CONNECTION] = "Connection",
    [HS_ID_KEEP_ALIVE] = "Keep-Alive",
    [HS_ID_UPGRADE] = "Upgrade",
    [HS_ID_TE] = "TE",
    [HS_ID_TRAILER] = "Trailer",
    [HS_ID_CSP] = "Content-Security-Policy",
};

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

bool hs_pol_ieq(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

bool hs_pol_name_eq_slow(const hs_name *nm, const char *p, size_t n)
{
    if (n != nm->len)
        return false;
    const char *k = nm->key;
    if (nm->slow) {
        for (size_t i = 0; i < n; i++)
            if (lower((unsigned char)p[i]) != lower((unsigned char)k[i]))
                return false;
        return true;
    }
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p[i] | 0x20) != (unsigned char)k[i])
            return false;
    return true;
}

bool hs_pol_is_protected(const hs_policy *pol, const char *p, size_t n)
{
    for (int id = 0; id < HS_ID_NPROTECTED && id < (int)pol->nnames; id++)
        if (hs_pol_name_eq(&pol->names[id], p, n))
            return true;
    return false;
}

bool hs_pol_pat_match(const char *pat, size_t plen, unsigned nstars,
                      size_t star_at, const char *s, size_t n, bool icase)
{
    if (nstars == 0) {
        if (n != plen)
            return false;
        if (!icase)
            return memcmp(s, pat, n) == 0;
        for (size_t i = 0; i < n; i++)
            if (lower((unsigned char)s[i]) != (unsigned char)pat[i])
                return false;
        return true;
    }
    if (nstars > 1)
        return hs_pol_glob(pat, plen, s, n, icase);
    size_t suf = plen - star_at - 1;
    if (n < star_at + suf)
        return false;
    if (!icase)
        return memcmp(s, pat, star_at) == 0 &&
               memcmp(s + n - suf, pat + star_at + 1, suf) == 0;
    for (size_t i = 0; i < star_at; i++)
        if (lower((unsigned char)s[i]) != (unsigned char)pat[i])
            return false;
    for (size_t i = 0; i < suf; i++)
        if (lower((unsigned char)s[n - suf + i]) !=
            (unsigned char)pat[star_at + 1 + i])
            return false;
    return true;
}

static void mark_maybe(hs_policy *pol, const hs_name *nm)
{
    if (nm->len == 0)
        return;
    unsigned k = hs_pol_name_key(nm->key, nm->len);
    pol->index_maybe[k >> 3] |= (uint8_t)(1u << (k & 7));
}

static bool index_rebuild(hs_policy *pol, size_t size)
{
    uint16_t *idx = calloc(size, sizeof *idx);
    if (!idx)
        return false;
    free(pol->index);
    pol->index = idx;
    pol->index_mask = size - 1;
    for (size_t id = 0; id < pol->nnames; id++) {
        const hs_name *nm = &pol->names[id];
        if (!nm->indexed)
            continue;
        size_t i = hs_pol_name_hash(nm->key, nm->len) & pol->index_mask;
        while (idx[i])
            i = (i + 1) & pol->index_mask;
        idx[i] = (uint16_t)(id + 1);
        mark_maybe(pol, nm);
    }
    return true;
}

static size_t nindexed(const hs_policy *pol)
{
    size_t n = 0;
    for (size_t i = 0; i < pol->nnames; i++)
        n += pol->names[i].indexed;
    return n;
}

static bool index_insert(hs_policy *pol, int id)
{
    pol->names[id].indexed = true;
    size_t size = pol->index ? pol->index_mask + 1 : 0;
    size_t want = nindexed(pol) * 4;
    if (want > size) {
        /* Keep the index at most a quarter full: a miss (most field names
         * of a response) then usually ends at the first slot. */
        size_t ns = size ? size * 2 : 64;
        while (want > ns)
            ns *= 2;
        if (!index_rebuild(pol, ns)) {
            pol->names[id].indexed = false;
            return false;
        }
        return true;
    }
    const hs_name *nm = &pol->names[id];
    size_t i = hs_pol_name_hash(nm->key, nm->len) & pol->index_mask;
    while (pol->index[i])
        i = (i + 1) & pol->index_mask;
    pol->index[i] = (uint16_t)(id + 1);
    mark_maybe(pol, nm);
    return true;
}

static int add_name(hs_policy *pol, const char *p, size_t n)
{
    if (pol->nnames >= 65000)
        return -1;
    if (pol->nnames == pol->ncap) {
        size_t cap = pol->ncap ? pol->ncap * 2 : 64;
        hs_name *nn = realloc(pol->names, cap * sizeof *nn);
        if (!nn)
            return -1;
        pol->names = nn;
        pol->ncap = cap;
    }
    char *key = malloc(n + 1);
    if (!key)
        return -1;
    bool slow = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '^' || c == '`' || c == '|' || c == '~')
            slow = true;
        key[i] = (char)(c | 0x20);
    }
    key[n] = '\0';
    if (slow)
        for (size_t i = 0; i < n; i++)
            key[i] = (char)lower((unsigned char)p[i]);
    hs_name *nm = &pol->names[pol->nnames];
    nm->key = key;
    nm->len = n;
    nm->slow = slow;
    nm->indexed = false;
    nm->touched = false;
    return (int)pol->nnames++;
}

bool hs_pol_add_fixed(hs_policy *pol)
{
    for (int id = 0; id < HS_ID_NFIXED; id++)
        if (add_name(pol, hs_fixed_names[id], strlen(hs_fixed_names[id])) != id)
            return false;
    return true;
}

int hs_pol_intern(hs_policy *pol, const char *p, size_t n)
{
    int id = hs_pol_lookup(pol, p, n);
    if (id >= 0)
        return id;
    for (id = 0; id < HS_ID_NFIXED && id < (int)pol->nnames; id++)
        if (hs_pol_name_eq(&pol->names[id], p, n))
            return index_insert(pol, id) ? id : -1;
    id = add_name(pol, p, n);
    if (id < 0)
        return -1;
    if (!index_insert(pol, id)) {
        free(pol->names[id].key);
        pol->nnames--;
        return -1;
    }
    return id;
}

/* Iterative glob with one backtrack point: linear for patterns with a single
 * '*', O(n*m) worst case, never recursive (fuzzed patterns stay cheap). */
bool hs_pol_glob(const char *pat, size_t plen, const char *s, size_t slen,
                 bool icase)
{
    size_t p = 0, i = 0, star = (size_t)-1, mark = 0;
    while (i < slen) {
        if (p < plen && pat[p] == '*') {
            star = p++;
            mark = i;
        } else if (p < plen &&
                   (icase ? lower((unsigned char)s[i]) == (unsigned char)pat[p]
                          : s[i] == pat[p])) {
            p++;
            i++;
        } else if (star != (size_t)-1) {
            p = star + 1;
            i = ++mark;
        } else {
            return false;
        }
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}

bool hs_pol_is_tchar(unsigned char c)
{
    /* RFC 9110 5.6.2: tchar */
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool hs_pol_is_token(const char *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!hs_pol_is_tchar((unsigned char)p[i]))
            return false;
    return true;
}
