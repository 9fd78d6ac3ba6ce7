/*
 * http1_request.c - request heads as the read side sees them (IO-CONTRACT.md
 * "The request side"): the request line, the header lines, and how the body
 * that follows is framed, so that a request line inside a POST body is
 * never taken for a request.
 *
 * The request side follows servers, not the strict grammar: each line may
 * end in CRLF or a bare LF on its own (nginx, Apache and Node accept mixed
 * endings in requests), and empty lines before a request line are skipped
 * (RFC 9112 2.2). What a server would frame differently from us, or refuse,
 * is INVALID: the connection then desyncs, which is always safe.
 */
#include "conn_internal.h"
#include "cpu.h"
#include "http1_util.h"
#include "load.h"

#include <string.h>

static const char h2_preface[] = "PRI * HTTP/2.0";
#define H2_PREFACE_LEN (sizeof h2_preface - 1)

/* Bytes allowed in a request target: visible ASCII and obs-text (nginx and
 * Apache accept raw UTF-8 there); never SP, a CTL or DEL. */
static bool target_byte(unsigned char c)
{
    return c > 0x20 && c != 0x7f;
}

/* Whether buf[0..n) can still grow into a request line: the method so far
 * is a token, and once the method is complete the target bytes are valid.
 * Used to refuse non-HTTP (a TLS ClientHello starts with 0x16) without
 * waiting for 16 KiB. */
static bool could_be_request_line(const char *buf, size_t n)
{
    size_t i = 0;
    while (i < n && hs_http1_tchar[(unsigned char)buf[i]])
        i++;
    if (i == n)
        return true;
    if (i == 0 || buf[i] != ' ')
        return false;
    for (i++; i < n && buf[i] != ' '; i++)
        if (!target_byte((unsigned char)buf[i]))
            return false;
    if (i == n)
        return true;
    static const char version[] = " HTTP/1.";
    size_t k = n - i < 8 ? n - i : 8;
    if (memcmp(buf + i, version, k) != 0)
        return false;
    i += 8;
    if (i < n && (unsigned)(buf[i] - '0') > 9)
        return false;
    /* after the digit only the CR of the line end may come */
    return n <= i + 1 || (n == i + 2 && buf[i + 1] == '\r');
}

/* Content end of the line starting at p whose LF is at nl: before a CR
 * that precedes the LF. */
static const char *line_content_end(const char *p, const char *nl)
{
    return (nl > p && nl[-1] == '\r') ? nl - 1 : nl;
}

static hs_request_status parse_request_line(const char *p, const char *le,
                                            hs_request_head *r)
{
    const char *q = p;
    while (hs_http1_tchar[(unsigned char)*q])
        q++;
    if (q == p || q >= le || *q != ' ')
        return HS_REQUEST_INVALID;
    r->method = (hs_str){p, (size_t)(q - p)};
    const char *t = ++q;
    while (q < le && target_byte((unsigned char)*q))
        q++;
    if (q == t || q >= le || *q != ' ')
        return HS_REQUEST_INVALID;
    r->target = (hs_str){t, (size_t)(q - t)};
    q++;
    if (le - q != 8 || memcmp(q, "HTTP/1.", 7) != 0 ||
        (unsigned)(q[7] - '0') > 9)
        return HS_REQUEST_INVALID;
    r->minor = q[7] - '0';
    return HS_REQUEST_OK;
}

/* The token p[0, q) is the name of a field that frames a request (RFC
 * 9112 6: Content-Length, Transfer-Encoding; Upgrade, which pauses it). */
static bool framing_name_at(const char *p, const char *q)
{
    size_t n = (size_t)(q - p);
    return (n == 14 && hs_http1_ieq(p, "content-length", 14)) ||
           (n == 17 && hs_http1_ieq(p, "transfer-encoding", 17)) ||
           (n == 7 && hs_http1_ieq(p, "upgrade", 7));
}

hs_request_status hs_request_parse(const char *buf, size_t len,
                                   hs_request_head *r)
{
    r->len = 0;
    r->nfields = 0;
    if (len == 0)
        return HS_REQUEST_INCOMPLETE;

    /* RFC 9112 2.2: a server SHOULD ignore at least one empty line before
     * a request line (clients sent a CRLF after a POST body). */
    size_t start = 0;
    for (;;) {
        if (start < len && buf[start] == '\n') {
            start++;
        } else if (start < len && buf[start] == '\r') {
            if (start + 1 == len)
                return HS_REQUEST_INCOMPLETE;
            if (buf[start + 1] != '\n')
                return HS_REQUEST_INVALID;
            start += 2;
        } else {
            break;
        }
        if (start > HS_MAX_REQUEST_HEAD)
            return HS_REQUEST_INVALID;
    }
    const char *head = buf + start;
    size_t avail = len - start;

    /* The HTTP/2 connection preface (RFC 9113 3.4) is not HTTP/1. */
    size_t k = avail < H2_PREFACE_LEN ? avail : H2_PREFACE_LEN;
    if (memcmp(head, h2_preface, k) == 0) {
        if (avail < H2_PREFACE_LEN)
            return HS_REQUEST_INCOMPLETE;
        return HS_REQUEST_HTTP2;
    }

    size_t end = hs_block_end(head, avail, 0);
    /* The 16 KiB bound holds for a complete head too: otherwise whether a
     * request passes would depend on how the reads were cut. */
    if (end == 0 || start + end > HS_MAX_REQUEST_HEAD) {
        if (len >= HS_MAX_REQUEST_HEAD || end != 0)
            return HS_REQUEST_INVALID;
        const char *nl = memchr(head, '\n', avail);
        size_t line = nl ? (size_t)(nl - head) : avail;
        if (!could_be_request_line(head, line))
            return HS_REQUEST_INVALID;
        /* A complete request line that is not one: no need to wait. */
        if (nl && parse_request_line(head, line_content_end(head, nl), r) !=
                      HS_REQUEST_OK)
            return HS_REQUEST_INVALID;
        return HS_REQUEST_INCOMPLETE;
    }
    if (memchr(head, '\0', end))
        return HS_REQUEST_INVALID;

    const char *p = head, *stop = head + end;
    const char *nl = memchr(p, '\n', end);
    const char *le = line_content_end(p, nl);
    if (memchr(p, '\r', (size_t)(le - p)) ||
        parse_request_line(p, le, r) != HS_REQUEST_OK)
        return HS_REQUEST_INVALID;

    for (p = nl + 1;; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(stop - p));
        le = line_content_end(p, nl);
        if (le == p)
            break;
        /* obs-fold (RFC 9112 5.2) and whitespace before the colon (5.1):
         * servers refuse or read them differently. */
        if (hs_http1_is_blank(*p))
            return HS_REQUEST_INVALID;
        const char *q = p;
        while (hs_http1_tchar[(unsigned char)*q])
            q++;
        if (q == p || *q != ':' || q > le) {
            /* Not a field line ("Foo Bar: 1", "NoColon"). One that starts
             * with a framing field's name could be read as that field by
             * some server: the head cannot be framed. Any other cannot
             * frame the body for any server (nginx ignores it by default,
             * ignore_invalid_headers; others answer 400), so it is passed
             * over as the quick scan passes it, and is no field. */
            if (q == p || framing_name_at(p, q) ||
                memchr(p, '\r', (size_t)(le - p)))
                return HS_REQUEST_INVALID;
            continue;
        }
        const char *v = q + 1;
        if (memchr(v, '\r', (size_t)(le - v)))
            return HS_REQUEST_INVALID;
        if (r->nfields == HS_MAX_FIELDS)
            return HS_REQUEST_INVALID;
        hs_field *f = &r->fields[r->nfields++];
        f->name = (hs_str){p, (size_t)(q - p)};
        f->value = hs_str_trim((hs_str){v, (size_t)(le - v)});
        f->line_off = (size_t)(p - buf);
        f->line_len = (size_t)(nl + 1 - p);
    }
    r->len = start + end;
    return HS_REQUEST_OK;
}

bool hs_request_body_framing(const hs_request_head *r, hs_request_body *b)
{
    b->kind = HS_REQ_BODY_NONE;
    b->length = 0;
    uint64_t length = 0;
    hs_http1_cl cl =
        hs_http1_content_length(r->fields, r->nfields, 0, &length);
    if (hs_http1_find(r->fields, r->nfields, "transfer-encoding", 17, 0) >=
        0) {
        /* RFC 9112 6.1: TE with CL, or TE in HTTP/1.0, is faulty framing;
         * 6.3 item 4: a request TE not ending in chunked cannot be framed
         * (the server answers 400 and closes). */
        if (cl != HS_HTTP1_CL_NONE || r->minor == 0)
            return false;
        if (!hs_http1_fields_last_is(r->fields, r->nfields,
                                     "transfer-encoding", 17, "chunked", 7))
            return false;
        b->kind = HS_REQ_BODY_CHUNKED;
        return true;
    }
    switch (cl) {
    case HS_HTTP1_CL_NONE:
        return true;
    case HS_HTTP1_CL_OK:
        b->kind = HS_REQ_BODY_LENGTH;
        b->length = length;
        return true;
    default:
        return false;
    }
}

hs_method_kind hs_method_kind_of(hs_str method)
{
    /* Methods are case-sensitive (RFC 9110 9.1). */
    if (method.len == 4 && memcmp(method.p, "HEAD", 4) == 0)
        return HS_METHOD_HEAD;
    if (method.len == 7 && memcmp(method.p, "CONNECT", 7) == 0)
        return HS_METHOD_CONNECT;
    return HS_METHOD_OTHER;
}

/* ---------------------------------------------------------------------
 * The quick scan (conn_request.c, when nothing reads the request)
 *
 * When the policy reads no request subject and no event names the
 * request (hs_policy_needs() == 0, no event_details), the engine needs a
 * head for three things only: where it ends, whether the method is HEAD,
 * and how its body is framed. Every byte a server reads passes here, and
 * the whole per-response budget is ~1,300 instructions (issue 4), so this
 * looks at each field line's first byte and nothing else of it, unless
 * that byte could start a framing field.
 *
 * One pass classifies the head 64 bytes at a time into a bit mask of its
 * bytes 0x00..0x0F, the low bytes, which are CR, LF, and the NUL, HTAB
 * and other controls that send a head to the careful parse (the mask
 * holds their complement: SSE2 sets the top bit of exactly the other
 * bytes with one saturating add). Lines are walked by the first byte of
 * each run of low bytes: it must be the CR of a CRLF or an LF, and the
 * byte after the line end is the next line's first byte, so every byte
 * of the mask up to the head end is judged exactly once. A line's first
 * byte is then looked up:
 *
 * - CR or LF: the blank line, the head ends.
 * - c, t or u (any case): it may start Content-Length, Transfer-Encoding
 *   or Upgrade. If the name is one of those followed by ':', the field
 *   counts (a plain Content-Length value) or goes careful (the rest); if
 *   followed by another tchar it is a longer name ("Upgrade-Insecure-
 *   Requests"); followed by anything else ("Content-Length : 5", obs-text,
 *   a control) it goes careful, since some server might read it as the
 *   framing field.
 * - any other tchar: a field line whose name no server reads as framing;
 *   nothing more of it is looked at.
 * - anything else (SP or HTAB: obs-fold, RFC 9112 5.2, which a server may
 *   join to the line before; ':'; a control; obs-text): careful.
 *
 * A field line that starts with a tchar and is no valid field line ("Foo
 * Bar: x", "NoColon") passes here, as it passes hs_request_parse when its
 * name is no framing field's: such a line cannot frame the body for any
 * server; the server answers 400 or ignores it, and either way the
 * framing here is the server's. Everything else agrees with hs_request_parse and
 * hs_request_body_framing or is left to them: bare CR (some servers end a
 * line there), NUL, HTAB anywhere, obs-fold, a bad request line (the
 * HTTP/2 preface included), CONNECT, Transfer-Encoding, Upgrade, a
 * Content-Length that is not one plain number, the 16 KiB and 256-field
 * bounds, and incomplete heads (tests/unit/test_request_framing.c and
 * tests/fuzz/fuzz_request.c compare the two). The verdict depends on the
 * head's bytes alone, never on what follows it in the buffer, so that
 * reads cut anywhere frame alike.
 *
 * Cost (valgrind --tool=callgrind, bench_engine's request cases, which
 * read a request, take its view and pop it; gcc 12 -O2): the whole
 * request side ~270 instructions for wrk's 43-byte request and ~670 for
 * the 751-byte, 15-field browser request of bench/servers (the careful
 * parse: ~1,090 and ~5,590). The scan itself is ~140 (SSE2: one window)
 * and ~530 (AVX2): ~120 fixed (set-up, request line, the end), ~12 per
 * later window and ~13 per field line (~20 more when it starts with c, t
 * or u). The fixed part is mostly the request line's checks and the
 * register saves a loop with this many values needs; the rest is each
 * line's end checked and its first byte looked up.
 * --------------------------------------------------------------------- */

#if defined(__SSE2__) && !defined(HS_HTTP1_NO_SIMD)
#include <emmintrin.h>

/* Bytes 0x10..0xFF of the 16 at p, the complement of the low bytes: an
 * unsigned saturating add of 0x70 sets the top bit of exactly those, so
 * one instruction classifies 16 bytes. */
static inline uint64_t high16(const char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    return (unsigned)_mm_movemask_epi8(
        _mm_adds_epu8(v, _mm_set1_epi8(0x70)));
}

/* Bytes of the 16 at p that no request target holds: SP, CTLs, DEL. The
 * complement of 0x21..0x7E and obs-text: adding 0x5F with unsigned
 * saturation sets the top bit of the bytes from 0x21 on, DEL aside. */
static inline unsigned bad_target16(const char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i above_sp = _mm_adds_epu8(v, _mm_set1_epi8(0x5f));
    __m128i del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f));
    return (unsigned)_mm_movemask_epi8(_mm_andnot_si128(del, above_sp)) ^
           0xffff;
}
#else
static inline uint64_t high16(const char *p)
{
    uint64_t m = 0;
    for (int i = 0; i < 16; i++)
        m |= (uint64_t)((unsigned char)p[i] > 0x0f) << i;
    return m;
}

static inline unsigned bad_target16(const char *p)
{
    unsigned m = 0;
    for (int i = 0; i < 16; i++)
        m |= (unsigned)!target_byte((unsigned char)p[i]) << i;
    return m;
}
#endif

/* The mask of bytes 0x10..0xFF (the complement of the low bytes) of the
 * 64 bytes at p. The scan works on it directly: a run of low bytes starts
 * at a zero bit whose neighbour below is a one (window_starts). */
typedef uint64_t high64_fn(const char *p);

static inline __attribute__((always_inline)) uint64_t high64(const char *p)
{
    return high16(p) | high16(p + 16) << 16 | high16(p + 32) << 32 |
           high16(p + 48) << 48;
}

/* With AVX2, 32 bytes a step: the classification is most of the scan's
 * cost (a 751-byte browser head is 12 windows and 15 lines), and AVX2
 * halves it. The CPU is asked once (cpu.h). */
#ifdef HS_HAVE_AVX2
#define HAVE_AVX2_SCAN 1
#include <immintrin.h>

__attribute__((target("avx2"))) static inline uint64_t
high64_avx2(const char *p)
{
    __m256i k = _mm256_set1_epi8(0x70); /* as in high16 */
    __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);
    __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
    uint64_t lo = (uint32_t)_mm256_movemask_epi8(_mm256_adds_epu8(a, k));
    uint64_t hi = (uint32_t)_mm256_movemask_epi8(_mm256_adds_epu8(b, k));
    return lo | hi << 32;
}

#endif

/* Runs of low bytes, by their first byte, in the first window, buf[0,
 * min(64, scan)) (scan >= 16); no byte from scan on is looked at. Sets
 * *whole_lim (see NEXT_RUN_OR_GIVE_UP): the window after the one at win
 * is whole, 64 bytes before scan, while win < *whole_lim. Set here, where
 * a head within one window (wrk's 43 bytes) pays no test for it. */
static inline __attribute__((always_inline)) uint64_t
first_window_starts(const char *buf, size_t scan, const char **whole_lim,
                    high64_fn *high64_of)
{
    uint64_t h;
    *whole_lim = buf; /* none */
    if (scan >= 64) {
        h = high64_of(buf);
        if (scan >= 127)
            *whole_lim = buf + scan - 126;
    } else {
        /* 16-byte chunks from the start and the 16 bytes that end at
         * scan (which may overlap them: the same bytes give the same
         * bits), above which the bits are set: no run starts there. */
        h = high16(buf) | (high16(buf + scan - 16) | ~(uint64_t)0xffff)
                              << (scan - 16);
        if (scan > 32)
            h |= high16(buf + 16) << 16;
        if (scan > 48)
            h |= high16(buf + 32) << 32;
    }
    /* A low byte after a high one, or at the start. */
    return ~h & (h << 1 | 1);
}

/* The run starts of a later window: the 64 bytes from w, 63 on from the
 * window before, whose last byte is the first here, so that a run that
 * goes on from there is not taken to start here. Windows overlap by that
 * byte rather than carry it from one to the next: a value less for the
 * scan loop to hold. Only w[0, n) is looked at (n >= 2; when n < 64, the
 * 64 bytes that end at w + n are read, shifted, with the bits from n on
 * set). */
static inline __attribute__((always_inline)) uint64_t
window_starts(const char *w, size_t n, high64_fn *high64_of)
{
    uint64_t h = __builtin_expect(n >= 64, 1)
                     ? high64_of(w)
                     : ~(~high64_of(w + n - 64) >> (64 - n));
    /* A low byte after a high one; bit 0 is never set: the byte there
     * was judged in the window before. */
    return ~h & h << 1;
}

/* What a line's first byte says (quick_tables.line_class). */
enum {
    LINE_STOP = 0,     /* CR or LF, the blank line; or no tchar (obs-fold,
                        * ':', a control, obs-text), which the check of
                        * the blank line refuses: it is neither */
    LINE_FIELD,        /* a tchar that starts no framing field name */
    LINE_C,            /* c or C: Content-Length? */
    LINE_T,            /* t or T: Transfer-Encoding? */
    LINE_U,            /* u or U: Upgrade? */
    LINE_CLASSES
};

/* 8 bytes as a little-endian number, whatever the machine. */
static inline uint64_t load8_le(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    (void)u;
    return hs_load64(p);
#else
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = x << 8 | u[i];
    return x;
#endif
}


/* p[0..8) is lit, letters in any case: mask holds 0x20 where lit has a
 * letter and 0 elsewhere, so a '-' must be a '-' (OR-ing 0x20 would let a
 * CR pass for it). The literals fold to constants. */
static inline bool is8(const char *p, const char *lit, const char *mask)
{
    return (hs_load64(p) | hs_load64(mask)) == hs_load64(lit);
}

#define LETTERS8 "\x20\x20\x20\x20\x20\x20\x20\x20"

/* What a field line whose first byte is c, t or u turns out to be. */
#define LINE_OTHER_FIELD UINT64_MAX       /* no framing field */
#define LINE_GO_CAREFUL (UINT64_MAX - 1)  /* for hs_request_parse */

/* The scan loop's tables, in one object so that it holds one address
 * for them all: each byte's class as a line's first byte, and per class
 * c, t or u the framing field name's length and its first 8 bytes,
 * letters OR-ed with 0x20, with the masks that compare them (Upgrade's
 * 8th byte is ignored: its and-mask byte is 0). The per-class values are
 * arrays indexed by the class, so that each is one load off that
 * address. */
static const struct quick_tables {
    unsigned char line_class[256];
    uint64_t first8[LINE_CLASSES], or8[LINE_CLASSES], and8[LINE_CLASSES];
    uint64_t name_len[LINE_CLASSES];
} quick_tables = {
    .line_class = {
        ['!'] = LINE_FIELD, ['#'] = LINE_FIELD, ['$'] = LINE_FIELD,
        ['%'] = LINE_FIELD, ['&'] = LINE_FIELD, ['\''] = LINE_FIELD,
        ['*'] = LINE_FIELD, ['+'] = LINE_FIELD, ['-'] = LINE_FIELD,
        ['.'] = LINE_FIELD, ['^'] = LINE_FIELD, ['_'] = LINE_FIELD,
        ['`'] = LINE_FIELD, ['|'] = LINE_FIELD, ['~'] = LINE_FIELD,
        ['0'] = LINE_FIELD, ['1'] = LINE_FIELD, ['2'] = LINE_FIELD,
        ['3'] = LINE_FIELD, ['4'] = LINE_FIELD, ['5'] = LINE_FIELD,
        ['6'] = LINE_FIELD, ['7'] = LINE_FIELD, ['8'] = LINE_FIELD,
        ['9'] = LINE_FIELD,
        ['A'] = LINE_FIELD, ['B'] = LINE_FIELD, ['C'] = LINE_C,
        ['D'] = LINE_FIELD, ['E'] = LINE_FIELD, ['F'] = LINE_FIELD,
        ['G'] = LINE_FIELD, ['H'] = LINE_FIELD, ['I'] = LINE_FIELD,
        ['J'] = LINE_FIELD, ['K'] = LINE_FIELD, ['L'] = LINE_FIELD,
        ['M'] = LINE_FIELD, ['N'] = LINE_FIELD, ['O'] = LINE_FIELD,
        ['P'] = LINE_FIELD, ['Q'] = LINE_FIELD, ['R'] = LINE_FIELD,
        ['S'] = LINE_FIELD, ['T'] = LINE_T, ['U'] = LINE_U,
        ['V'] = LINE_FIELD, ['W'] = LINE_FIELD, ['X'] = LINE_FIELD,
        ['Y'] = LINE_FIELD, ['Z'] = LINE_FIELD,
        ['a'] = LINE_FIELD, ['b'] = LINE_FIELD, ['c'] = LINE_C,
        ['d'] = LINE_FIELD, ['e'] = LINE_FIELD, ['f'] = LINE_FIELD,
        ['g'] = LINE_FIELD, ['h'] = LINE_FIELD, ['i'] = LINE_FIELD,
        ['j'] = LINE_FIELD, ['k'] = LINE_FIELD, ['l'] = LINE_FIELD,
        ['m'] = LINE_FIELD, ['n'] = LINE_FIELD, ['o'] = LINE_FIELD,
        ['p'] = LINE_FIELD, ['q'] = LINE_FIELD, ['r'] = LINE_FIELD,
        ['s'] = LINE_FIELD, ['t'] = LINE_T, ['u'] = LINE_U,
        ['v'] = LINE_FIELD, ['w'] = LINE_FIELD, ['x'] = LINE_FIELD,
        ['y'] = LINE_FIELD, ['z'] = LINE_FIELD,
        ['\r'] = LINE_STOP, ['\n'] = LINE_STOP,
    },
    .first8 = {[LINE_C] = 0x2d746e65746e6f63ull,  /* "content-" */
               [LINE_T] = 0x726566736e617274ull,  /* "transfer" */
               [LINE_U] = 0x0065646172677075ull}, /* "upgrade" */
    .or8 = {[LINE_C] = 0x0020202020202020ull,
            [LINE_T] = 0x2020202020202020ull,
            [LINE_U] = 0x0020202020202020ull},
    .and8 = {[LINE_C] = UINT64_MAX, [LINE_T] = UINT64_MAX,
             [LINE_U] = 0x00ffffffffffffffull},
    .name_len = {[LINE_C] = 14, [LINE_T] = 17, [LINE_U] = 7},
};

/* Whether p[0, n) starts with the name lit (lowercase, n >= its length
 * already checked), letters in any case; the first 8 bytes were already
 * compared by the caller. */
static bool framing_name_rest(const char *p, unsigned cls)
{
    if (cls == LINE_C)
        return is8(p + 6, "t-length", "\x20\0\x20\x20\x20\x20\x20\x20");
    if (cls == LINE_T)
        return is8(p + 8, "-encodin", "\0\x20\x20\x20\x20\x20\x20\x20") &&
               is8(p + 9, "encoding", LETTERS8);
    return true;
}

/* The rest of the judgement of a field line p[0, n) whose first 8 bytes
 * (7 for Upgrade) matched a framing field name (framing_line): a
 * Content-Length value (1 to 18 digits between spaces; HTAB never gets
 * here, it is a low byte), LINE_OTHER_FIELD, or LINE_GO_CAREFUL for
 * Transfer-Encoding, Upgrade, a Content-Length that is not one plain
 * number, and a framing name followed by a byte that is neither ':' nor
 * a tchar ("Content-Length : 5": some server might read it as the field). */
static __attribute__((noinline, cold)) uint64_t
framing_line_rest(const char *p, size_t n, unsigned cls)
{
    size_t nl = quick_tables.name_len[cls];
    if (!framing_name_rest(p, cls))
        return LINE_OTHER_FIELD;
    if (n > nl && hs_http1_tchar[(unsigned char)p[nl]])
        return LINE_OTHER_FIELD; /* a longer name: Upgrade-Insecure-... */
    if (cls != LINE_C || n == 14 || p[14] != ':')
        return LINE_GO_CAREFUL;
    size_t i = 15, digits = 0;
    uint64_t x = 0;
    while (i < n && p[i] == ' ')
        i++;
    for (unsigned d; i < n && (d = (unsigned char)p[i] - '0') <= 9; i++) {
        x = x * 10 + d;
        digits++;
    }
    while (i < n && p[i] == ' ')
        i++;
    return i == n && digits - 1 < 18 ? x : LINE_GO_CAREFUL;
}

/* A field line p[0, n) (content only) whose first byte is c, t or u
 * (cls): a Content-Length value, LINE_OTHER_FIELD or LINE_GO_CAREFUL.
 * Most such lines (Cookie, Connection, User-Agent, Cache-Control) are
 * too short or differ in the first 8 bytes, and need no more. */
static inline __attribute__((always_inline)) uint64_t
framing_line(const char *p, size_t n, size_t cls)
{
    const struct quick_tables *t = &quick_tables;
    if (n < t->name_len[cls] ||
        ((load8_le(p) | t->or8[cls]) & t->and8[cls]) != t->first8[cls])
        return LINE_OTHER_FIELD;
    return framing_line_rest(p, n, cls);
}

/* at = the first byte of the next run (a pointer), reading windows on
 * as needed (see quick_scan: win is the byte of bit 0 of the window; the
 * next window is whole, 64 bytes before scan, while win < whole_lim, one
 * compare; the last, shorter one is worked out from scan); gives the
 * head up (false) when no run is left before scan. A macro, so that
 * giving up returns from quick_scan and the common path carries no
 * "none" value to test. The empty asm keeps win the loop's one pointer:
 * without it GCC keeps win and win + 63 as two, with copies each window.
 * The do-while leaves to the bit's use straight from a window's test. */
#define NEXT_RUN_OR_GIVE_UP(at)                                              \
    do {                                                                     \
        if (__builtin_expect(!starts, 0)) {                                  \
            do {                                                             \
                if (__builtin_expect(win < whole_lim, 1)) {                  \
                    win += 63;                                               \
                    __asm__("" : "+r"(win));                                 \
                    starts = window_starts(win, 64, high64_of);              \
                } else {                                                     \
                    size_t left_ = scan - (size_t)(win - buf);               \
                    if (left_ <= 64)                                         \
                        return false; /* no byte left for a window */        \
                    win += 63;                                               \
                    starts = window_starts(win, left_ - 63, high64_of);      \
                }                                                            \
            } while (!starts);                                               \
        }                                                                    \
        (at) = win + (unsigned)__builtin_ctzll(starts);                      \
        starts &= starts - 1;                                                \
    } while (0)

/* Shorter heads go careful ("GET / HTTP/1.1\n\n" is 16 bytes: nothing
 * real is that short), so that the SIMD loads of 16 bytes fit in buf. */
#define QUICK_MIN_HEAD 18

/* The method of the request line at buf: its length (the SP after it is
 * buf[result]), or 0 to go careful (no token, no SP after it, CONNECT).
 * Sets q->kind. GET, nearly every request, is one compare. */
static inline size_t method_len(const char *buf, hs_request_quick *q)
{
    q->kind = HS_METHOD_OTHER;
    if (hs_load32(buf) == hs_load32("GET "))
        return 3;
    size_t n = 0;
    while (hs_http1_tchar[(unsigned char)buf[n]])
        n++;
    if (buf[n] != ' ')
        return 0;
    if (n == 4 && hs_load32(buf) == hs_load32("HEAD"))
        q->kind = HS_METHOD_HEAD;
    else if (n == 7 && memcmp(buf, "CONNECT", 7) == 0)
        return 0; /* a tunnel: the careful way pauses reading */
    return n;
}

/* Whether buf[t, tend) is a request target: not empty, no SP, CTL or DEL
 * (16 bytes a step). buf[tend] is the SP before "HTTP/1.", which ends the
 * last step's bytes; the line lies inside buf[0, len), 11 bytes after
 * the target at least, and len >= 16. */
static inline bool target_ok(const char *buf, size_t len, size_t t,
                             size_t tend)
{
    if (t >= tend)
        return false;
    /* Nearly every GET: the target ends within the line's first 16
     * bytes. Their first bad byte is the SP after the method (at t - 1:
     * the method is tchars), and the next must be the SP at tend. */
    if (tend < 16) {
        unsigned bad = bad_target16(buf);
        return __builtin_ctz(bad & (bad - 1)) == (int)tend;
    }
    for (; tend - t > 16; t += 16)
        if (bad_target16(buf + t))
            return false;
    /* The last 1 to 16 bytes: the first bad byte from t on must be the
     * SP at tend (bit 16 stands for it when the target fills all 16). */
    unsigned tail = t + 16 <= len
                        ? bad_target16(buf + t)
                        : bad_target16(buf + len - 16) >> (t + 16 - len);
    return (unsigned)__builtin_ctz(tail | 1u << 16) == tend - t;
}

static inline __attribute__((always_inline)) bool
quick_scan(const char *buf, size_t len, hs_request_quick *q,
           high64_fn *high64_of)
{
    /* The verdict depends on the head's bytes only, never on what
     * follows it in buf: the engine scans a head from a read that may
     * hold more, or from its buffer of exactly the head (reads cut
     * anywhere must frame alike). */
    if (len > HS_MAX_REQUEST_HEAD)
        len = HS_MAX_REQUEST_HEAD; /* a head must end within the bound */
    if (len < QUICK_MIN_HEAD)
        return false;
    /* Runs are looked for in buf[0, scan) only, so that the byte after a
     * line end is in buf: before len - 1 (room for an LF line end's next
     * byte), and before len - 2 when buf[len - 2] is a CR (a CRLF there
     * would end a line at the end of buf: the head is incomplete either
     * way, and a head's blank line is never a run's first byte). */
    size_t scan = len - 1 - (buf[len - 2] == '\r');
    const char *win = buf, *whole_lim;
    uint64_t starts = first_window_starts(buf, scan, &whole_lim, high64_of);

    /* Request line: method SP target SP "HTTP/1." DIGIT (RFC 9112 3),
     * exactly as parse_request_line reads it; it ends at the first low
     * byte, which the loop below checks for CRLF or LF. */
    const char *at;
    size_t rl;
    if (__builtin_expect(starts != 0, 1)) {
        /* It ends in the first window: NEXT_RUN_OR_GIVE_UP's first step,
         * with the line's length at hand. */
        rl = (unsigned)__builtin_ctzll(starts);
        starts &= starts - 1;
        at = buf + rl;
    } else {
        NEXT_RUN_OR_GIVE_UP(at);
        rl = (size_t)(at - buf);
    }
    if (rl < 12 || hs_load64(at - 9) != hs_load64(" HTTP/1.") ||
        (unsigned)(at[-1] - '0') > 9)
        return false;
    size_t mlen = method_len(buf, q);
    if (!mlen || !target_ok(buf, len, mlen + 1, rl - 9))
        return false;

    /* Field lines: `at` is where the line before ended (at + 2 < len).
     * The body framing so far is in q->body. */
    q->body.kind = HS_REQ_BODY_NONE;
    q->body.length = 0;
    ptrdiff_t fields_left = HS_MAX_FIELDS; /* below 0: too many fields */
    for (;;) {
        /* The class of the line's first byte, after the line end at. The
         * line's start is worked out again below for the rarer classes:
         * the common path holds one value less. */
        size_t cls; /* an index: no widening at each use */
        if (__builtin_expect(hs_load16(at) == hs_load16("\r\n"), 1))
            cls = quick_tables.line_class[(unsigned char)at[2]];
        else if (*at == '\n')
            cls = quick_tables.line_class[(unsigned char)at[1]];
        else
            return false; /* bare CR, NUL, HTAB or another control */
        if (__builtin_expect(cls == LINE_FIELD, 1)) {
            NEXT_RUN_OR_GIVE_UP(at);
            fields_left--;
            continue;
        }
        if (cls == LINE_STOP)
            break; /* the blank line, or careful (refused below) */
        /* c, t or u: framing_line judges the line once its end is known
         * (most such lines are no framing field: its first test). If
         * `at` is a low byte that ends no line, the next round refuses
         * it; until then it bounds the line. */
        const char *p = at + 1 + (*at == '\r');
        NEXT_RUN_OR_GIVE_UP(at);
        fields_left--;
        uint64_t v = framing_line(p, (size_t)(at - p), cls);
        if (v != LINE_OTHER_FIELD) {
            if (v == LINE_GO_CAREFUL ||
                (q->body.kind == HS_REQ_BODY_LENGTH && q->body.length != v))
                return false;
            q->body.kind = HS_REQ_BODY_LENGTH;
            q->body.length = v;
        }
    }
    if (fields_left < 0)
        return false;
    /* The blank line after the line end at: LF, or CR LF (whose LF may
     * be past buf); any other byte there (LINE_STOP's careful ones) is
     * refused. Nearly always, the line end and it are CRLF CRLF. */
    size_t end = (size_t)(at - buf) + 4;
    if (__builtin_expect(end > len ||
                             hs_load32(at) != hs_load32("\r\n\r\n"),
                         0)) {
        const char *p = at + 1 + (*at == '\r');
        end = (size_t)(p - buf) + 1 + (*p == '\r');
        if (end > len || buf[end - 1] != '\n')
            return false;
    }
    if (end < QUICK_MIN_HEAD)
        return false; /* as if buf held only the head */
    q->len = end;
    return true;
}

/* Not inlined into hs_request_quick_scan, which stays a jump to one of
 * the two. */
__attribute__((noinline)) bool
hs_request_quick_scan_sse2(const char *buf, size_t len, hs_request_quick *q)
{
    return quick_scan(buf, len, q, high64);
}

#ifdef HAVE_AVX2_SCAN
__attribute__((target("avx2,bmi"))) static bool
quick_scan_avx2(const char *buf, size_t len, hs_request_quick *q)
{
    return quick_scan(buf, len, q, high64_avx2);
}
#endif

bool hs_request_quick_scan(const char *buf, size_t len, hs_request_quick *q)
{
#ifdef HAVE_AVX2_SCAN
    /* Under 64 bytes (wrk's 43) there is one window, and the AVX2
     * function's frame (stack realigned, vzeroupper) costs more than the
     * wider loads save. */
    if (len >= 64 && hs_cpu_has_avx2())
        return quick_scan_avx2(buf, len, q);
#endif
    return hs_request_quick_scan_sse2(buf, len, q);
}
