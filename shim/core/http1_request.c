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
 * bytes 0x00..0x0F (SSE2: OR 0x0F, compare with 0x0F), which are CR, LF,
 * and the NUL, HTAB and other controls that send a head to the careful
 * parse. Lines are walked by the first byte of each run of such bytes:
 * it must be the CR of a CRLF or an LF, and the byte after the line end
 * is the next line's first byte, so every byte of the mask up to the head
 * end is judged exactly once. A line's first byte is then looked up:
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
 * request side ~340 instructions for wrk's 43-byte request and ~910 for
 * the 751-byte, 15-field browser request of bench/servers (the careful
 * parse: ~1,090 and ~5,590). The scan itself is ~190 (SSE2: one window)
 * and ~760 (AVX2): ~170 fixed (request line, set-up), ~20 per 64-byte
 * window and ~20 per field line; SSE2 alone costs ~180 more on the
 * browser request. That is still above the ~500 hoped for: classifying
 * takes a few instructions per 32 bytes, and each line needs its end
 * found and checked and its first byte looked up.
 * --------------------------------------------------------------------- */

#if defined(__SSE2__) && !defined(HS_HTTP1_NO_SIMD)
#include <emmintrin.h>

/* Bytes 0x00..0x0F of the 16 at p. */
static inline uint64_t low16(const char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i f = _mm_set1_epi8(0x0f);
    return (unsigned)_mm_movemask_epi8(
        _mm_cmpeq_epi8(_mm_or_si128(v, f), f));
}

/* Bytes of the 16 at p that no request target holds: SP, CTLs, DEL. */
static inline unsigned bad_target16(const char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i sp = _mm_set1_epi8(' ');
    __m128i low = _mm_cmpeq_epi8(_mm_max_epu8(v, sp), sp);
    __m128i del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(low, del));
}
#else
static inline uint64_t low16(const char *p)
{
    uint64_t m = 0;
    for (int i = 0; i < 16; i++)
        m |= (uint64_t)((unsigned char)p[i] <= 0x0f) << i;
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

/* The low-byte mask of the 64 bytes at p. */
typedef uint64_t low64_fn(const char *p);

static inline __attribute__((always_inline)) uint64_t low64(const char *p)
{
    return low16(p) | low16(p + 16) << 16 | low16(p + 32) << 32 |
           low16(p + 48) << 48;
}

/* With AVX2, 32 bytes a step: the classification is most of the scan's
 * cost (a 751-byte browser head is 12 windows and 15 lines), and AVX2
 * halves it. The CPU is asked once (cpu_has_avx2). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(HS_HTTP1_NO_SIMD)
#define HAVE_AVX2_SCAN 1
#include <immintrin.h>
#include <stdatomic.h>

__attribute__((target("avx2"))) static inline uint64_t
low64_avx2(const char *p)
{
    __m256i f = _mm256_set1_epi8(0x0f);
    __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);
    __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
    uint64_t lo = (uint32_t)_mm256_movemask_epi8(
        _mm256_cmpeq_epi8(_mm256_or_si256(a, f), f));
    uint64_t hi = (uint32_t)_mm256_movemask_epi8(
        _mm256_cmpeq_epi8(_mm256_or_si256(b, f), f));
    return lo | hi << 32;
}

static atomic_int avx2_known; /* 0: not asked yet, 1: no, 2: yes */

static __attribute__((noinline, cold)) int ask_cpu_for_avx2(void)
{
    /* Also before the constructors that set up __cpu_model. */
    __builtin_cpu_init();
    int k = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi")
                ? 2
                : 1;
    atomic_store_explicit(&avx2_known, k, memory_order_relaxed);
    return k;
}

static inline bool cpu_has_avx2(void)
{
    int k = atomic_load_explicit(&avx2_known, memory_order_relaxed);
    return (k ? k : ask_cpu_for_avx2()) == 2;
}
#endif

/* The mask of buf[base .. min(base + 64, len)), len >= 16: bits past len
 * are 0, and no byte outside buf[0, len) is read (a short window is read
 * as the bytes that end at len, shifted). */
static inline __attribute__((always_inline)) uint64_t
low_window(const char *buf, size_t len, size_t base, low64_fn *low64_of)
{
    size_t have = len - base;
    if (have >= 64)
        return low64_of(buf + base);
    if (len >= 64)
        return low64_of(buf + len - 64) >> (64 - have);
    /* buf is under 64 bytes (base is 0): 16-byte chunks from the start
     * and the 16 bytes that end at len (which may overlap them: the same
     * bytes give the same bits). */
    uint64_t m = low16(buf) | low16(buf + len - 16) << (len - 16);
    if (len > 32)
        m |= low16(buf + 16) << 16;
    if (len > 48)
        m |= low16(buf + 32) << 32;
    return m;
}

/* Runs of low bytes in the window at base, by their first byte: m is the
 * window's mask, *carry says the window before ended in a low byte (and
 * is set for the next). */
static inline uint64_t run_starts(uint64_t m, uint64_t *carry)
{
    uint64_t starts = m & ~(m << 1 | *carry);
    *carry = m >> 63;
    return starts;
}

/* What a line's first byte says (the table below). */
enum {
    LINE_CAREFUL = 0,  /* not a tchar: obs-fold, ':', a control, obs-text */
    LINE_FIELD,        /* a tchar that starts no framing field name */
    LINE_C,            /* c or C: Content-Length? */
    LINE_T,            /* t or T: Transfer-Encoding? */
    LINE_U,            /* u or U: Upgrade? */
    LINE_END,          /* CR or LF: the blank line */
};

static const unsigned char line_class[256] = {
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
    ['\r'] = LINE_END, ['\n'] = LINE_END,
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

#define NO_LENGTH UINT64_MAX

/* What a field line whose first byte is c, t or u turns out to be. */
#define LINE_OTHER_FIELD UINT64_MAX       /* no framing field */
#define LINE_GO_CAREFUL (UINT64_MAX - 1)  /* for hs_request_parse */

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
static uint64_t framing_line_rest(const char *p, size_t n, unsigned cls)
{
    static const unsigned char name_len[] = {[LINE_C] = 14, [LINE_T] = 17,
                                             [LINE_U] = 7};
    size_t nl = name_len[cls];
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

/* The first 8 bytes of each framing field name, letters OR-ed with
 * 0x20; Upgrade's 8th byte is ignored (its and-mask byte is 0). */
static const uint64_t name8[] = {
    [LINE_C] = 0x2d746e65746e6f63ull,  /* "content-" */
    [LINE_T] = 0x726566736e617274ull,  /* "transfer" */
    [LINE_U] = 0x0065646172677075ull,  /* "upgrade" */
};
static const uint64_t name8_or[] = {
    [LINE_C] = 0x0020202020202020ull,
    [LINE_T] = 0x2020202020202020ull,
    [LINE_U] = 0x0020202020202020ull,
};
static const uint64_t name8_and[] = {
    [LINE_C] = UINT64_MAX,
    [LINE_T] = UINT64_MAX,
    [LINE_U] = 0x00ffffffffffffffull,
};

/* Whether the 8 bytes at p (a line whose first byte is c, t or u: cls)
 * may start a framing field name. Most such lines (Cookie, Connection,
 * User-Agent, Cache-Control) differ in them, and need no more. The bytes
 * may reach past a short line: a CR or LF never passes for a letter or
 * '-' here, so a "no" is always right. */
static inline bool may_name_framing(const char *p, unsigned cls)
{
    return ((load8_le(p) | name8_or[cls]) & name8_and[cls]) == name8[cls];
}

/* A field line p[0, n) (content only) whose first byte is c, t or u
 * (cls): a Content-Length value, LINE_OTHER_FIELD or LINE_GO_CAREFUL. */
static __attribute__((noinline)) uint64_t
framing_line(const char *p, size_t n, unsigned cls)
{
    static const unsigned char min_len[] = {[LINE_C] = 14, [LINE_T] = 17,
                                            [LINE_U] = 7};
    if (n < min_len[cls] || !may_name_framing(p, cls))
        return LINE_OTHER_FIELD;
    return framing_line_rest(p, n, cls);
}

/* at = the first byte of the next run, refilling the window (see
 * quick_scan); gives the head up (false) when no run is left before scan.
 * A macro, so that giving up returns from quick_scan and the common path
 * carries no "none" value to test. */
#define NEXT_RUN_OR_GIVE_UP(at)                                              \
    do {                                                                     \
        while (!starts) {                                                    \
            base += 64;                                                      \
            uint64_t m_;                                                     \
            if (base + 64 <= scan)                                           \
                m_ = low64_of(buf + base);                                   \
            else if (base < scan) /* the last window; scan > 64 */           \
                m_ = low64_of(buf + scan - 64) >> (64 - (scan - base));      \
            else                                                             \
                return false;                                                \
            starts = run_starts(m_, &carry);                                 \
        }                                                                    \
        (at) = base + (size_t)__builtin_ctzll(starts);                       \
        starts &= starts - 1;                                                \
    } while (0)

/* Shorter heads go careful ("GET / HTTP/1.1\n\n" is 16 bytes: nothing
 * real is that short), so that the SIMD loads of 16 bytes fit in buf. */
#define QUICK_MIN_HEAD 18

static inline __attribute__((always_inline)) bool
quick_scan(const char *buf, size_t len, hs_request_quick *q,
           low64_fn *low64_of)
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
    size_t scan = len - 1 - (buf[len - 2] == '\r'), base = 0;
    uint64_t carry = 0;
    uint64_t starts = run_starts(low_window(buf, scan, 0, low64_of), &carry);

    /* Request line: method SP target SP "HTTP/1." DIGIT (RFC 9112 3),
     * exactly as parse_request_line reads it; it ends at the first low
     * byte, which the loop below checks for CRLF or LF. */
    size_t at;
    NEXT_RUN_OR_GIVE_UP(at);
    if (at < 12 || hs_load64(buf + at - 9) != hs_load64(" HTTP/1.") ||
        (unsigned)(buf[at - 1] - '0') > 9)
        return false;
    size_t mlen = 3;
    if (hs_load32(buf) != hs_load32("GET ")) {
        for (mlen = 0; hs_http1_tchar[(unsigned char)buf[mlen]]; mlen++)
            ;
        if (mlen == 0 || buf[mlen] != ' ')
            return false;
    }
    q->kind = HS_METHOD_OTHER;
    if (mlen == 4 && hs_load32(buf) == hs_load32("HEAD"))
        q->kind = HS_METHOD_HEAD;
    else if (mlen == 7 && memcmp(buf, "CONNECT", 7) == 0)
        return false; /* a tunnel: the careful way pauses reading */
    /* The target: no SP, CTL or DEL (16 bytes a step; the line and the
     * 11 bytes after the target lie inside buf). */
    size_t t = mlen + 1, tend = at - 9;
    if (t >= tend)
        return false;
    for (; tend - t > 16; t += 16)
        if (bad_target16(buf + t))
            return false;
    unsigned tail = t + 16 <= len
                        ? bad_target16(buf + t)
                        : bad_target16(buf + len - 16) >> (t + 16 - len);
    if (tail & ((1u << (tend - t)) - 1))
        return false;

    /* Field lines: `at` is where the line before ended (at + 2 < len). */
    uint64_t length = NO_LENGTH;
    size_t fields = 0, pos;
    for (;;) {
        if (__builtin_expect(hs_load16(buf + at) == hs_load16("\r\n"), 1))
            pos = at + 2;
        else if (buf[at] == '\n')
            pos = at + 1;
        else
            return false; /* bare CR, NUL, HTAB or another control */
        unsigned cls = line_class[(unsigned char)buf[pos]];
        if (__builtin_expect(cls != LINE_FIELD, 0)) {
            if (cls == LINE_END)
                break;
            if (cls == LINE_CAREFUL)
                return false;
            if (pos + 8 > len || may_name_framing(buf + pos, cls)) {
                NEXT_RUN_OR_GIVE_UP(at);
                fields++;
                /* If `at` is a low byte that ends no line, the next round
                 * refuses it; until then it bounds the line. */
                uint64_t v = framing_line(buf + pos, at - pos, cls);
                if (v != LINE_OTHER_FIELD) {
                    if (v == LINE_GO_CAREFUL ||
                        (length != NO_LENGTH && length != v))
                        return false;
                    length = v;
                }
                continue;
            }
        }
        NEXT_RUN_OR_GIVE_UP(at);
        fields++;
    }
    if (fields > HS_MAX_FIELDS)
        return false;
    /* The blank line at pos. */
    if (buf[pos] == '\n') {
        q->len = pos + 1;
    } else {
        if (pos + 1 == len || buf[pos + 1] != '\n')
            return false;
        q->len = pos + 2;
    }
    if (q->len < QUICK_MIN_HEAD)
        return false; /* as if buf held only the head */
    q->body.kind = length != NO_LENGTH ? HS_REQ_BODY_LENGTH : HS_REQ_BODY_NONE;
    q->body.length = length != NO_LENGTH ? length : 0;
    return true;
}

/* Not inlined into hs_request_quick_scan, which stays a jump to one of
 * the two. */
__attribute__((noinline)) bool
hs_request_quick_scan_sse2(const char *buf, size_t len, hs_request_quick *q)
{
    return quick_scan(buf, len, q, low64);
}

#ifdef HAVE_AVX2_SCAN
__attribute__((target("avx2,bmi"))) static bool
quick_scan_avx2(const char *buf, size_t len, hs_request_quick *q)
{
    return quick_scan(buf, len, q, low64_avx2);
}
#endif

bool hs_request_quick_scan(const char *buf, size_t len, hs_request_quick *q)
{
#ifdef HAVE_AVX2_SCAN
    /* Under 64 bytes (wrk's 43) there is one window, and the AVX2
     * function's frame (stack realigned, vzeroupper) costs more than the
     * wider loads save. */
    if (len >= 64 && cpu_has_avx2())
        return quick_scan_avx2(buf, len, q);
#endif
    return hs_request_quick_scan_sse2(buf, len, q);
}
