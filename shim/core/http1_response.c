/*
 * http1_response.c - response header blocks: where one ends, what its status
 * line and field lines are, and whether it is unambiguous (IO-CONTRACT.md,
 * "A block is rewritten only if it is unambiguous"), and the character
 * tables of http1_util.h.
 *
 * Speed: a block is parsed once per response, on the write path, inside a
 * budget of ~1,300 instructions for the whole response. Nothing is
 * allocated and no function is called per byte. Two parsers: a fast one
 * that only recognises good blocks (bit masks of line ends, see "the fast
 * way" below) and a careful one that names the first rule a block breaks.
 */
#include "http1_util.h"

#include <string.h>

/* ---------------------------------------------------------------------
 * Character tables (http1_util.h)
 * --------------------------------------------------------------------- */

const unsigned char hs_http1_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

#define L4(a) a, a + 1, a + 2, a + 3
#define L16(a) L4(a), L4(a + 4), L4(a + 8), L4(a + 12)
const unsigned char hs_http1_lower[256] = {
    L16(0x00), L16(0x10), L16(0x20), L16(0x30),
    /* 0x40 '@', then 'A'..'O' -> 'a'..'o' */
    0x40, L4(0x61), L4(0x65), L4(0x69), 0x6d, 0x6e, 0x6f,
    /* 'P'..'Z' -> 'p'..'z', then [\]^_ */
    L4(0x70), L4(0x74), 0x78, 0x79, 0x7a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
    L16(0x60), L16(0x70),
    L16(0x80), L16(0x90), L16(0xa0), L16(0xb0),
    L16(0xc0), L16(0xd0), L16(0xe0), L16(0xf0),
};
#undef L16
#undef L4

/* ---------------------------------------------------------------------
 * Status line
 * --------------------------------------------------------------------- */

bool hs_could_be_status_line(const char *buf, size_t n)
{
    static const char prefix[] = "HTTP/1.";
    if (n >= 9)
        return hs_http1_status9(buf);   /* every response asks */
    if (n == 0)
        return true;
    size_t k = n < 7 ? n : 7;
    if (memcmp(buf, prefix, k) != 0)
        return false;
    if (n > 7 && (unsigned)(buf[7] - '0') > 9)
        return false;
    if (n > 8 && buf[8] != ' ')
        return false;
    return true;
}

/* ---------------------------------------------------------------------
 * hs_block_parse, the careful way
 *
 * Line by line with memchr, naming the first rule a block breaks. It is
 * the reference: the fast path below only ever says "OK" for blocks this
 * one calls OK (tests/fuzz/fuzz_http1.c compares the two), and hands
 * every other block here for its reason.
 * --------------------------------------------------------------------- */

static hs_block_status refuse(hs_block_status s, const char *reason,
                              const char **why)
{
    if (why)
        *why = reason;
    return s;
}

/* Why a field line stopped being a token name at q (p is its start, le its
 * content end, crlf the block's line ending). */
static const char *bad_name_reason(const char *p, const char *q,
                                   const char *le, bool crlf)
{
    if (q == le)
        return q == p ? "empty line inside block" : "field line without colon";
    if (*q == '\r')
        return (!crlf && q + 1 == le) ? "mixed line endings" : "bare CR";
    if (*q == ':')
        return "empty field name";
    if (hs_http1_is_blank(*q))
        return "whitespace before colon";
    return "invalid character in field name";
}

hs_block_status hs_http1_block_parse_careful(const char *buf, size_t len,
                                             hs_block *b, const char **why)
{
    b->base = buf;
    b->len = len;
    b->nfields = 0;
    b->shape = NULL;
    b->shape_facts = NULL;

    /* Status line: "HTTP/1.<digit> <3 digits>" then SP reason or the line
     * end. RFC 9112 4 requires the SP before an empty reason, but servers
     * write "HTTP/1.1 200\r\n" (hand-written CGI and Python scripts), and
     * curl, browsers and Node accept it, so refusing it would only leave
     * those responses unrewritten while every client agrees on them. */
    if (!hs_http1_status_prefix(buf, len))
        return refuse(HS_BLOCK_NOT_HTTP, "no status line", why);
    const char *end = buf + len;
    b->minor = buf[7] - '0';
    b->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');

    if (memchr(buf, '\0', len))
        return refuse(HS_BLOCK_AMBIGUOUS, "NUL byte", why);

    const char *nl = memchr(buf + 12, '\n', len - 12);
    if (!nl)
        return refuse(HS_BLOCK_AMBIGUOUS, "incomplete block", why);
    bool crlf = nl[-1] == '\r';
    const char *le = crlf ? nl - 1 : nl;
    if (le != buf + 12) {
        if (buf[12] != ' ')
            return refuse(HS_BLOCK_NOT_HTTP, "no status line", why);
        if (memchr(buf + 13, '\r', (size_t)(le - (buf + 13))))
            return refuse(HS_BLOCK_AMBIGUOUS, "bare CR", why);
    }
    b->crlf = crlf;
    b->status_line_len = (size_t)(nl + 1 - buf);

    /* Field lines up to the blank line. Content-Length and
     * Transfer-Encoding are noted by name length first (14, 17): one
     * compare for every other line. */
    int first_cl = -1;
    bool te = false;
    const char *p = nl + 1;
    for (;;) {
        nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        if (!nl)
            return refuse(HS_BLOCK_AMBIGUOUS, "incomplete block", why);
        le = nl;
        if (crlf) {
            if (le == p || le[-1] != '\r')
                return refuse(HS_BLOCK_AMBIGUOUS, "mixed line endings", why);
            le--;
        }
        if (le == p)
            break; /* the blank line */
        if (hs_http1_is_blank(*p))
            return refuse(HS_BLOCK_AMBIGUOUS, "obs-fold", why);

        const char *q = p;
        while (hs_http1_tchar[(unsigned char)*q])
            q++;
        if (q == p || *q != ':')
            return refuse(HS_BLOCK_AMBIGUOUS, bad_name_reason(p, q, le, crlf),
                          why);

        const char *v = q + 1;
        const char *cr = memchr(v, '\r', (size_t)(le - v));
        if (cr)
            return refuse(HS_BLOCK_AMBIGUOUS,
                          (!crlf && cr + 1 == le) ? "mixed line endings"
                                                  : "bare CR",
                          why);
        while (v < le && hs_http1_is_blank(*v))
            v++;
        const char *ve = le;
        while (ve > v && hs_http1_is_blank(ve[-1]))
            ve--;

        if (b->nfields == HS_MAX_FIELDS)
            return refuse(HS_BLOCK_TOO_MANY_FIELDS, "too many fields", why);
        hs_field *f = &b->fields[b->nfields];
        size_t name_len = (size_t)(q - p);
        f->name.p = p;
        f->name.len = name_len;
        f->value.p = v;
        f->value.len = (size_t)(ve - v);
        f->line_off = (size_t)(p - buf);
        f->line_len = (size_t)(nl + 1 - p);
        if (name_len == 14 && first_cl < 0 &&
            hs_http1_ieq(p, "content-length", 14))
            first_cl = (int)b->nfields;
        else if (name_len == 17 && hs_http1_ieq(p, "transfer-encoding", 17))
            te = true;
        b->nfields++;
        p = nl + 1;
    }
    if (nl + 1 != end)
        return refuse(HS_BLOCK_AMBIGUOUS, "bytes after blank line", why);

    /* RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message is a sign of
     * smuggling; 6.3 item 3: with Content-Length it is an attack or an
     * error. Either way a client might frame it differently. */
    if (te && b->minor == 0)
        return refuse(HS_BLOCK_AMBIGUOUS, "Transfer-Encoding in HTTP/1.0",
                      why);
    if (first_cl >= 0) {
        if (te)
            return refuse(HS_BLOCK_AMBIGUOUS,
                          "Transfer-Encoding with Content-Length", why);
        uint64_t n;
        switch (hs_http1_content_length(b->fields, b->nfields,
                                        (size_t)first_cl, &n)) {
        case HS_HTTP1_CL_INVALID:
            return refuse(HS_BLOCK_AMBIGUOUS, "invalid Content-Length", why);
        case HS_HTTP1_CL_CONFLICT:
            return refuse(HS_BLOCK_AMBIGUOUS, "two Content-Length values",
                          why);
        default:
            break;
        }
    }
    return HS_BLOCK_OK;
}

/* ---------------------------------------------------------------------
 * hs_block_parse, the fast way
 *
 * One pass classifies the block 64 bytes at a time into bit masks of LF,
 * CR and NUL (SSE2, which every x86-64 has; a plain loop elsewhere) and
 * checks the line-ending rule on the masks: in a CRLF block every CR is
 * followed by an LF and every LF preceded by a CR (cr == lf >> 1), in an
 * LF block there is no CR, and there is no NUL anywhere. Lines are then
 * walked by counting trailing zeros of the LF mask, and a value needs no
 * look at all beyond its trimming. Whatever is unusual (a failed check, a
 * Content-Length list, Transfer-Encoding) goes to the careful parser, which
 * decides and names the reason.
 *
 * Cost (valgrind --tool=callgrind on a /tmp loop calling hs_block_end and
 * hs_block_parse 100,000 times on the 238-byte, 8-field nginx block
 * `typical` of tests/unit/test_http1_response.c; Ir divided by the count,
 * gcc 12 -O2): hs_block_end ~230 instructions (~350 with memchr per
 * line), hs_block_parse ~1,390, of which ~300 classify the 4 windows (the
 * careful parser alone: ~2,320). That is above the few hundred hoped
 * for: what remains is ~100 instructions of bookkeeping per field line
 * (take the LF, scan the name, trim, store six words, check the name
 * length). clang 14 -O2 builds the same code somewhat slower.
 * --------------------------------------------------------------------- */

#if defined(__SSE2__) && !defined(HS_HTTP1_NO_SIMD)
#include <emmintrin.h>

static inline uint64_t eq16(__m128i v, char c)
{
    return (uint64_t)(unsigned)_mm_movemask_epi8(
        _mm_cmpeq_epi8(v, _mm_set1_epi8(c)));
}

/* LF and CR masks of the 64 bytes at p; *nul: one of them is NUL (found
 * with an unsigned minimum, cheaper than a third mask). */
static inline void classify64(const char *p, uint64_t *lf, uint64_t *cr,
                              bool *nul)
{
    const __m128i *q = (const __m128i *)(const void *)p;
    __m128i v0 = _mm_loadu_si128(q), v1 = _mm_loadu_si128(q + 1);
    __m128i v2 = _mm_loadu_si128(q + 2), v3 = _mm_loadu_si128(q + 3);
    *lf = eq16(v0, '\n') | eq16(v1, '\n') << 16 | eq16(v2, '\n') << 32 |
          eq16(v3, '\n') << 48;
    *cr = eq16(v0, '\r') | eq16(v1, '\r') << 16 | eq16(v2, '\r') << 32 |
          eq16(v3, '\r') << 48;
    __m128i min = _mm_min_epu8(_mm_min_epu8(v0, v1), _mm_min_epu8(v2, v3));
    *nul = eq16(min, '\0') != 0;
}

/* Which of the 16 bytes of v are ASCII letters, digits or '-' (the bytes
 * of nearly every field name), as a 16-bit mask. Biased signed compares
 * stand in for the unsigned range compares SSE2 lacks. */
static inline unsigned name_chars16(__m128i v)
{
    __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
    __m128i alpha = _mm_cmplt_epi8(
        _mm_add_epi8(lower, _mm_set1_epi8((char)(0x80 - 'a'))),
        _mm_set1_epi8((char)(-128 + 26)));
    __m128i digit = _mm_cmplt_epi8(
        _mm_add_epi8(v, _mm_set1_epi8((char)(0x80 - '0'))),
        _mm_set1_epi8((char)(-128 + 10)));
    __m128i dash = _mm_cmpeq_epi8(v, _mm_set1_epi8('-'));
    return (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_or_si128(alpha, digit), dash));
}

/* How many of the 16 bytes at p, from the first, are name bytes. */
static inline unsigned name_run16(const char *p)
{
    unsigned m =
        name_chars16(_mm_loadu_si128((const __m128i *)(const void *)p));
    return (unsigned)__builtin_ctz(~m | 0x10000u);
}
#define HAVE_NAME_RUN16 1

/* The common field name in one step: up to 15 letters, digits or '-'
 * followed by ':' (all of nginx's and Apache's but
 * Content-Security-Policy). Returns its length, or 0 when the name is
 * longer or holds another tchar: the caller then walks it. */
static inline unsigned short_name16(const char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    unsigned m = name_chars16(v);
    unsigned colon = (unsigned)_mm_movemask_epi8(
        _mm_cmpeq_epi8(v, _mm_set1_epi8(':')));
    unsigned t = (unsigned)__builtin_ctz(~m | 0x10000u);
    return (colon >> t) & 1 ? t : 0;
}
#else
static inline unsigned short_name16(const char *p)
{
    (void)p;
    return 0;
}

static inline void classify64(const char *p, uint64_t *lf, uint64_t *cr,
                              bool *nul)
{
    uint64_t l = 0, c = 0;
    bool z = false;
    for (int i = 0; i < 64; i++) {
        l |= (uint64_t)(p[i] == '\n') << i;
        c |= (uint64_t)(p[i] == '\r') << i;
        z |= p[i] == '\0';
    }
    *lf = l;
    *cr = c;
    *nul = z;
}
#endif

/* Masks of buf[base .. min(base + 64, len)); bits at or past len are 0.
 * A short last window is read as the 64 bytes that end at len, shifted:
 * no byte past len is touched and nothing is copied. Its *nul may then
 * come from bytes before base, which callers have already checked. */
static inline void window_masks(const char *buf, size_t len, size_t base,
                                uint64_t *lf, uint64_t *cr, bool *nul)
{
    size_t have = len - base;
    if (have >= 64) {
        classify64(buf + base, lf, cr, nul);
    } else if (len >= 64) {
        classify64(buf + len - 64, lf, cr, nul);
        *lf >>= 64 - have;
        *cr >>= 64 - have;
    } else {
        char tail[64];
        memset(tail, 'x', sizeof tail);
        memcpy(tail, buf + base, have);
        classify64(tail, lf, cr, nul);
    }
}

/* Every blank line follows an LF, so a block ends at an LF followed by LF
 * or by CR LF; the masks find it 62 bytes a step (windows overlap by the 2
 * bytes a pattern may reach past its LF). A bare CR before the LF
 * ("\n\r\r\n") is no end here; hs_block_parse would call such a block
 * ambiguous anyway. */
size_t hs_block_end(const char *buf, size_t len, size_t from)
{
    if (from >= len)
        return 0;
    for (size_t base = from;; base += 62) {
        uint64_t lf, cr;
        bool nul;
        window_masks(buf, len, base, &lf, &cr, &nul);
        /* A pattern starting at bit 62 or 63 that needs bytes past the
         * window shifts in zeros and does not match here; the next
         * window, 62 bytes on, sees it at bit 0 or 1. */
        uint64_t m = lf & ((lf >> 1) | ((cr >> 1) & (lf >> 2)));
        if (m) {
            unsigned i = (unsigned)__builtin_ctzll(m);
            return base + i + (((lf >> (i + 1)) & 1) ? 2 : 3);
        }
        if (len - base <= 64)
            return 0;
    }
}

/* Bits [0, n) of a 64-bit mask, n <= 64. */
static inline uint64_t below(unsigned n)
{
    return n >= 64 ? ~0ull : (1ull << n) - 1;
}

/* A Content-Length (14) or Transfer-Encoding (17) line: the framing
 * fields the fast path checks itself. Kept out of the line loop, which
 * then holds fewer values at once. False: let the careful parser decide
 * (a list, a second differing value, both fields). */
#define SEEN_TE 1u
#define SEEN_CL 2u
static bool framing_field(const char *name, size_t n, const char *v,
                          const char *ve, unsigned *seen, uint64_t *cl_value)
{
    if (n == 17) {
        if (hs_http1_token_is(name, "transfer-encoding", 17))
            *seen |= SEEN_TE;
        return true;
    }
    if (!hs_http1_token_is(name, "content-length", 14))
        return true;
    /* One plain number; a list or anything odd goes careful. */
    uint64_t x;
    if (!hs_http1_plain_number((hs_str){ v, (size_t)(ve - v) }, &x) ||
        ((*seen & SEEN_CL) && x != *cl_value))
        return false;
    *seen |= SEEN_CL;
    *cl_value = x;
    return true;
}

/* The rule-breaking pairs of a window (see parse_fast); *carry_bad: its
 * first LF has no CR before it (the previous window's last byte). */
static inline uint64_t window_pairs(uint64_t lf, uint64_t cr, bool crlf,
                                    uint64_t *cr_carry, bool *carry_bad)
{
    /* Bit i: bytes i and i + 1 are not "CR then LF" where one of them is
     * either (bit 63 waits for the next window). */
    uint64_t pairs = crlf ? cr ^ ((lf >> 1) | (cr & (1ull << 63))) : cr;
    *carry_bad = crlf && (lf & 1) != *cr_carry;
    *cr_carry = cr >> 63;
    return pairs;
}

/* True when the block at the start of buf is OK (b filled in, b->len its
 * length); false: ask the careful parser. `avail` may run past the block
 * into body bytes (hs_block_parse_stream), so the line-ending rules are
 * checked on each window only up to the blank line.
 *
 * Per 64-byte window: the LF mask, and the pairs of bytes that break the
 * rules (a CR that is not right before an LF, or an LF without its CR, in
 * a CRLF block; any CR in an LF block) and whether it holds a NUL. Per
 * line: the LF from the mask, the name by name_run16, the value trimmed,
 * six words stored. */
static bool parse_fast(const char *buf, size_t avail, hs_block *b)
{
    if (!hs_http1_status_prefix(buf, avail))
        return false;
    uint64_t lf, cr, cr_carry = 0;
    bool nul, carry_bad;
    window_masks(buf, avail, 0, &lf, &cr, &nul);
    if (!lf)
        return false;
    /* The status line: its LF sets the block's line ending; then
     * "HTTP/1.1 200" is followed by SP reason, or by the line end. */
    size_t nlo = (size_t)__builtin_ctzll(lf);
    const size_t crlf = nlo > 0 && ((cr >> (nlo - 1)) & 1);
    if (nlo - crlf != 12 && buf[12] != ' ')
        return false;
    uint64_t pairs = window_pairs(lf, cr, crlf, &cr_carry, &carry_bad);
    lf &= lf - 1;
    b->status_line_len = nlo + 1;

    size_t base = 0, pos = nlo + 1;
    hs_field *f = b->fields, *const fend = b->fields + HS_MAX_FIELDS;
    const char *const lim = buf + avail;
    unsigned seen = 0;
    uint64_t cl_value = 0;
    for (;;) {
        while (lf) {
            nlo = base + (size_t)__builtin_ctzll(lf);
            lf &= lf - 1;
            const char *p = buf + pos;
            const char *le = buf + nlo - crlf;
            if (le <= p) {
                /* The blank line (le < p: an LF without its CR in a CRLF
                 * block, which the pairs refuse). Only the block's own
                 * bytes count: pairs up to the one that ends at this LF. */
                size_t at = nlo - base;
                if (carry_bad || (pairs & below((unsigned)at)) ||
                    (nul && memchr(buf + base, '\0', at + 1)))
                    return false;
                goto done;
            }
            const char *q = p + (p + 16 <= lim ? short_name16(p) : 0);
            if (q == p) {
#ifdef HAVE_NAME_RUN16
                for (unsigned r = 16; r == 16 && q + 16 <= lim; q += r)
                    r = name_run16(q);
#endif
                while (hs_http1_tchar[(unsigned char)*q])
                    q++;
                if (q == p || *q != ':')
                    return false;
            }
            if (f == fend)
                return false;
            /* *le is CR or LF: the blank skip stops there unbounded
             * (nearly every value follows one space). */
            const char *v = q + 1;
            v += *v == ' ';
            while (hs_http1_is_blank(*v))
                v++;
            const char *ve = le;
            while (ve > v && hs_http1_is_blank(ve[-1]))
                ve--;
            size_t name_len = (size_t)(q - p);
            f->name.p = p;
            f->name.len = name_len;
            f->value.p = v;
            f->value.len = (size_t)(ve - v);
            f->line_off = pos;
            f->line_len = nlo + 1 - pos;
            f++;
            if ((name_len == 14 || name_len == 17) &&
                !framing_field(p, name_len, v, ve, &seen, &cl_value))
                return false;
            pos = nlo + 1;
        }
        /* Every byte of this window belongs to the block. */
        if (pairs || carry_bad || nul)
            return false;
        base += 64;
        if (base >= avail)
            return false;
        window_masks(buf, avail, base, &lf, &cr, &nul);
        pairs = window_pairs(lf, cr, crlf, &cr_carry, &carry_bad);
    }
done:
    if ((seen & SEEN_TE) && ((seen & SEEN_CL) || buf[7] == '0'))
        return false;
    b->base = buf;
    b->len = nlo + 1;
    b->minor = buf[7] - '0';
    b->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    b->crlf = crlf;
    b->nfields = (size_t)(f - b->fields);
    b->shape = NULL;
    b->shape_facts = NULL;
    return true;
}

hs_block_status hs_block_parse_stream(const char *buf, size_t avail,
                                      hs_block *b, const char **why)
{
    if (parse_fast(buf, avail, b))
        return HS_BLOCK_OK;
    size_t end = hs_block_end(buf, avail, 0);
    if (!end) {
        /* A status line that is already wrong says so without the rest. */
        if (avail >= 12 && !hs_http1_status_prefix(buf, avail))
            return refuse(HS_BLOCK_NOT_HTTP, "no status line", why);
        return refuse(HS_BLOCK_INCOMPLETE, "incomplete block", why);
    }
    return hs_http1_block_parse_careful(buf, end, b, why);
}

hs_block_status hs_block_parse(const char *buf, size_t len, hs_block *b,
                               const char **why)
{
    if (parse_fast(buf, len, b) && b->len == len)
        return HS_BLOCK_OK;
    return hs_http1_block_parse_careful(buf, len, b, why);
}

int hs_block_find(const hs_block *b, const char *name, size_t name_len,
                  size_t from)
{
    return hs_http1_find(b->fields, b->nfields, name, name_len, from);
}
