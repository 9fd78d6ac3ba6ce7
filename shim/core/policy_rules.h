/*
 * policy_rules.h - the parsed and compiled forms of a policy, shared by the
 * policy_*.c files (which build them) and rewrite*.c (which runs them).
 * Not part of the public API: nothing outside those files includes it.
 *
 * Two forms live side by side in an hs_policy:
 *   - the tree (hs_node): directives and blocks as written, includes spliced
 *     in; `headershim check` prints it (hs_policy_format) and the compiler
 *     reads it;
 *   - the program (hs_op): a flat list of operations in file order, blocks
 *     turned into "skip to" jumps, header names interned to small integers so
 *     a rewrite hashes each field name once (the per-response budget is about
 *     1,300 instructions in all, POLICY.md "Evaluation and output").
 */
#ifndef HS_POLICY_RULES_H
#define HS_POLICY_RULES_H

#include "headershim.h"
#include "load.h"

#include <regex.h>
#include <stdint.h>

/* ---- the tree ---------------------------------------------------------- */

typedef enum hs_dir {
    HS_D_SET,
    HS_D_DEFAULT,
    HS_D_ADD,
    HS_D_APPEND,
    HS_D_MERGE,
    HS_D_REMOVE,
    HS_D_RENAME,
    HS_D_EDIT,
    HS_D_EDIT_ALL,
    HS_D_COOKIE,
    HS_D_BLOCK,     /* when/unless; the root is a block without condition */
} hs_dir;

typedef enum hs_subject {
    HS_S_NONE,      /* the root */
    HS_S_STATUS,
    HS_S_CONTENT_TYPE,
    HS_S_HEADER,
    HS_S_METHOD,
    HS_S_PATH,
    HS_S_HOST,
    HS_S_REQUEST_HEADER,
    HS_S_PORT,
    HS_S_TLS,
} hs_subject;

/* One pattern of a condition, as written and as compiled. */
typedef struct hs_pattern {
    char *text;             /* as written (for format) */
    size_t len;
    int lo, hi;             /* status and port ranges */
    bool none;              /* content-type none */
    char *name;             /* header / request-header NAME (as written) */
    size_t name_len;
    int name_id;            /* header: interned id */
    bool has_glob;          /* NAME=GLOB */
    char *glob;             /* lowercased where matching is case-insensitive */
    size_t glob_len;
    unsigned nstars;        /* 0 or 1: matched with two compares */
    size_t star_at;
} hs_pattern;

typedef struct hs_node hs_node;
struct hs_node {
    hs_dir dir;
    const char *file;       /* for warnings after parsing */
    unsigned line, col;
    /* directives */
    char *name;             /* NAME, OLD, PATTERN (remove), ATTRIBUTE (cookie) */
    size_t name_len;
    char *arg;              /* VALUE, NEW (rename), REGEX (edit) */
    size_t arg_len;
    char *repl;             /* REPLACEMENT (edit) */
    size_t repl_len;
    regex_t *re;            /* edit, compiled at parse time */
    /* blocks */
    bool unless;
    hs_subject subject;
    hs_pattern *pats;
    size_t npats;
    hs_node *kids;          /* an array of nkids nodes */
    size_t nkids, kcap;
};

/* ---- interned names ---------------------------------------------------- */

/* Fixed ids: the names a wildcard never matches (POLICY.md "Names a policy
 * may not touch"), then the names the engine itself looks at. */
enum {
    HS_ID_CONTENT_TYPE = 0,
    HS_ID_SET_COOKIE,
    HS_ID_CONTENT_ENCODING,
    HS_ID_CONTENT_RANGE,
    HS_ID_LOCATION,
    HS_ID_WWW_AUTHENTICATE,
    HS_ID_VARY,
    HS_ID_DATE,
    HS_ID_ETAG,
    HS_ID_LAST_MODIFIED,
    HS_ID_CONTENT_LENGTH,       /* framing and hop-by-hop: refused at load */
    HS_ID_TRANSFER_ENCODING,
    HS_ID_CONNECTION,
    HS_ID_KEEP_ALIVE,
    HS_ID_UPGRADE,
    HS_ID_TE,
    HS_ID_TRAILER,
    HS_ID_NPROTECTED,           /* ids below this: wildcards skip them */
    HS_ID_CSP = HS_ID_NPROTECTED,
    HS_ID_NFIXED,
};
#define HS_ID_FIRST_FRAMING HS_ID_CONTENT_LENGTH

typedef struct hs_name {
    char *key;              /* each byte |0x20 (see hs_pol_name_eq) */
    size_t len;
    bool slow;              /* contains ^ ` | or ~: compare byte by byte */
    bool indexed;           /* in the hash index: a fixed name is only
                               there when the policy names it, so the
                               common Date, Content-Length... cost a miss */
    bool touched;           /* a directive reads or changes lines of this
                               name (set ... cookie, remove, rename): a
                               rewrite tracks only such lines */
} hs_name;

/* ---- the program ------------------------------------------------------- */

typedef enum hs_opkind {
    HS_OP_BLOCK,            /* if the condition fails, jump to skip_to */
    HS_OP_SET,
    HS_OP_DEFAULT,
    HS_OP_ADD,
    HS_OP_APPEND,
    HS_OP_MERGE,
    HS_OP_REMOVE,           /* consecutive removes merged into one set */
    HS_OP_RENAME,
    HS_OP_EDIT,
    HS_OP_EDIT_ALL,
    HS_OP_COOKIE,
} hs_opkind;

#define HS_COND_SLOTS 128

typedef struct hs_glob {
    char *pat;              /* lowercased */
    size_t len;
    bool prefix;            /* "abc*": a prefix compare suffices */
    uint64_t head;          /* prefix of 8+ bytes: the first 8, |0x20 */
} hs_glob;

typedef struct hs_op {
    hs_opkind kind;
    const hs_node *node;
    /* BLOCK */
    size_t skip_to;
    int slot;               /* where its condition's result is kept, or -1 */
    int same_as;            /* slot of an earlier sibling with the very same
                               condition (the `when X` of an `unless X`),
                               or -1 */
    /* name-based ops */
    int id, id2;            /* NAME (OLD), and NEW for rename */
    const char *name;       /* the policy's spelling */
    size_t name_len;
    const char *value;
    size_t value_len;
    /* "Name: value\r\n" precomputed for the lines this op writes, and the
     * same with Content-Security-Policy-Report-Only (HEADERSHIM_CSP). */
    char *line, *line_ro;
    size_t line_len, line_ro_len;
    /* rename: "NEW" and its report-only spelling */
    char *name_ro;
    size_t name_ro_len;
    /* REMOVE */
    uint8_t *idset;         /* bitmap over name ids */
    hs_glob *globs;
    size_t nglobs;
    uint8_t first[128];     /* bitmap over (byte 0, byte 2) of the globs,
                               see hs_glob_key: "X-Request-Id" is told from
                               "X-Kong-*" without a compare */
    bool glob_any_first;    /* a glob has '*' among its first three bytes */
    /* COOKIE: attribute name (before '=') */
    size_t attr_name_len;
    bool attr_samesite;
} hs_op;

struct hs_policy {
    hs_node root;
    /* strings the tree does not own (file names) */
    char **files;
    size_t nfiles, fcap;
    /* interned names and their hash index */
    hs_name *names;
    size_t nnames, ncap;
    uint16_t *index;        /* open addressing; 0 empty, else id + 1 */
    size_t index_mask;
    uint8_t index_maybe[128];   /* bit hs_pol_name_key of every indexed
                                   name: most field names of a response
                                   are told absent without hashing */
    hs_op *ops;
    size_t nops;
    char *line_pool;        /* every op's line, in program order (not
                               NUL-terminated: lengths are kept) */
    size_t max_added;       /* upper bound of lines one rewrite can add */
    unsigned needs;
    bool uses_content_type;     /* Content-Type is then indexed, so the
                                   name pass finds the line */
    /* every remove glob of the program, prefiltered as hs_op.first: a
     * field whose name no glob can match and whose id no directive
     * touches is copied through without being looked at again */
    /* bit hs_field_key of every indexed name of 3+ bytes, and of every
     * (byte 0, byte 2) a remove glob starts with, at all lengths: a
     * field whose bit is clear is neither looked up nor glob-tested */
    uint8_t field_maybe[1024];
    /* Rewrite plans remembered by response shape (rewrite_plan.c);
     * NULL when the policy's conditions read more than the status, the
     * media type and TLS. Mutable behind the const policy: filled once
     * per shape, shared by every thread. */
    struct hs_plan_cache *plans;
    bool glob_short;            /* a name under 3 bytes may match */
    uint8_t glob_maybe[1024];   /* by hs_glob_key: a name of 3+ bytes
                                   may match */
};

static inline unsigned hs_glob_key(const char *p)
{
    return (((unsigned char)p[0] | 0x20u) ^
            (((unsigned char)p[2] | 0x20u) << 3)) & 1023u;
}

/* Bytes 0 and 2 (case-folded: bit 5 unused) and the length mod 8 of a
 * name of 3+ bytes: 13 bits. */
static inline unsigned hs_field_key(const char *p, size_t n)
{
    return ((unsigned char)p[0] & 31u) << 8 | ((unsigned char)p[2] & 31u) << 3 |
           (unsigned)(n & 7);
}

/* ---- shared helpers (policy_match.c) ----------------------------------- */

extern const char *const hs_fixed_names[HS_ID_NFIXED];

/* The hash that the index uses: the length and the first, middle and last
 * bytes (|0x20), mixed by one 64-bit multiplication whose high half is
 * kept. Header names share prefixes ("X-", "Content-") and lengths, so all
 * four count; the low bits of a product depend only on the low bits of
 * its input, so the index slot comes from the high ones. */
static inline uint32_t hs_pol_name_hash(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    uint64_t x = ((uint64_t)(unsigned char)p[0] |
                  (uint64_t)(unsigned char)p[n / 2] << 8 |
                  (uint64_t)(unsigned char)p[n - 1] << 16 | 0x202020u) |
                 (uint64_t)n << 24;
    return (uint32_t)((x * 0x9e3779b97f4a7c15ull) >> 32);
}

/* Field name p[0..n) equals interned name nm (ASCII case-insensitively). */
bool hs_pol_name_eq_slow(const hs_name *nm, const char *p, size_t n);


static inline bool hs_pol_name_eq(const hs_name *nm, const char *p, size_t n)
{
    if (n != nm->len)
        return false;
    const char *k = nm->key;
    if (nm->slow || n < 4)
        return hs_pol_name_eq_slow(nm, p, n);
    if (n >= 8) {
        const uint64_t m = 0x2020202020202020ull;
        size_t i = 0;
        for (; i + 8 <= n; i += 8)
            if ((hs_load64(p + i) | m) != hs_load64(k + i))
                return false;
        return i == n ||
               (hs_load64(p + n - 8) | m) == hs_load64(k + n - 8);
    }
    const uint32_t m = 0x20202020u;
    return (hs_load32(p) | m) == hs_load32(k) &&
           (hs_load32(p + n - 4) | m) == hs_load32(k + n - 4);
}

/* The length and first byte of a name, 10 bits (case-folded: bit 5 of
 * the byte is not used). n > 0. */
static inline unsigned hs_pol_name_key(const char *p, size_t n)
{
    return (unsigned)((n & 31) << 5 | ((unsigned char)p[0] & 31));
}

static inline bool hs_pol_maybe_indexed(const hs_policy *pol, const char *p,
                                        size_t n)
{
    if (n == 0)
        return false;
    unsigned k = hs_pol_name_key(p, n);
    return pol->index_maybe[k >> 3] & (1u << (k & 7));
}

/* Id of a field name, or -1. */
static inline int hs_pol_lookup(const hs_policy *pol, const char *p, size_t n)
{
    if (!pol->index || !hs_pol_maybe_indexed(pol, p, n))
        return -1;
    size_t i = hs_pol_name_hash(p, n) & pol->index_mask;
    for (;;) {
        unsigned e = pol->index[i];
        if (e == 0)
            return -1;
        if (hs_pol_name_eq(&pol->names[e - 1], p, n))
            return (int)e - 1;
        i = (i + 1) & pol->index_mask;
    }
}

/* rewrite_plan.c: the plan cache of a compiled policy (false: out of
 * memory). */
bool hs_plan_cache_init(hs_policy *pol);
void hs_plan_cache_free(hs_policy *pol);

/* Is a name one that wildcards never match? For names without an id. */
bool hs_pol_is_protected(const hs_policy *pol, const char *p, size_t n);
/* Adds the fixed names (ids 0 .. HS_ID_NFIXED-1), unindexed. */
bool hs_pol_add_fixed(hs_policy *pol);

/* Pattern with at most one '*' (nstars) against s; pat is lowercase when
 * icase. */
bool hs_pol_pat_match(const char *pat, size_t plen, unsigned nstars,
                      size_t star_at, const char *s, size_t n, bool icase);
/* Interns a name; returns its id or -1 when memory runs out. */
int hs_pol_intern(hs_policy *pol, const char *p, size_t n);

/* '*' matches any run; the whole string must match. icase: pattern is
 * already lowercased and s is compared lowercased. */
bool hs_pol_glob(const char *pat, size_t plen, const char *s, size_t slen,
                 bool icase);
bool hs_pol_is_tchar(unsigned char c);
bool hs_pol_is_token(const char *p, size_t n);
bool hs_pol_ieq(const char *a, size_t an, const char *b, size_t bn);

/* ---- the lexer (policy_lex.c) ------------------------------------------ */

/* One argument of a logical line. text is the argument's meaning (quotes
 * removed, \" and \\ unescaped for a quoted string; the raw bytes for a
 * word); raw is what was written. */
typedef struct hs_tok {
    const char *raw;
    size_t raw_len;
    const char *text;
    size_t len;
    bool quoted;            /* exactly one double-quoted string */
    size_t off;             /* offset of raw in the logical line */
    unsigned line, col;
} hs_tok;

typedef struct hs_lex_seg {
    size_t off;             /* offset in the logical line */
    unsigned line, col;     /* where those bytes start in the file */
} hs_lex_seg;

typedef void (*hs_lex_err_fn)(void *ctx, unsigned line, unsigned col,
                              const char *msg);

typedef struct hs_lexer {
    const char *text;
    size_t len, pos;
    unsigned lineno;        /* next physical line */
    bool at_start;          /* the BOM is skipped on the first line */
    hs_lex_err_fn err;
    void *err_ctx;
    /* the current logical line */
    char *buf;
    size_t blen, bcap;
    char *ubuf;
    size_t ucap;
    hs_lex_seg *segs;
    size_t nsegs, scap;
    hs_tok *toks;
    size_t ntoks, tcap;
    bool bad;               /* an error was reported on this line */
} hs_lexer;

void hs_lex_init(hs_lexer *lx, const char *text, size_t len,
                 hs_lex_err_fn err, void *err_ctx);
/* 1: a logical line is ready (possibly without tokens); 0: end of text;
 * -1: out of memory. */
int hs_lex_next(hs_lexer *lx);
/* File position of offset off in the current logical line. */
void hs_lex_pos(const hs_lexer *lx, size_t off, unsigned *line,
                unsigned *col);
void hs_lex_free(hs_lexer *lx);

/* ---- the parser (policy_parse.c, policy_load.c) ----------------------- */

#define HS_MAX_INCLUDE_DEPTH 8
#define HS_MAX_ERRORS 100

typedef struct hs_parse_ctx {
    hs_policy *pol;
    hs_load_fn load;
    void *load_ctx;
    hs_diag_fn diag;
    void *diag_ctx;
    unsigned nerrors;
    bool oom;
    /* keys of the files being parsed, outermost first ("preset:NAME" or a
     * normalised path), for cycle detection */
    char *stack[HS_MAX_INCLUDE_DEPTH + 2];
    size_t nstack;
    unsigned pathhost_blocks;   /* open `when path`/`when host` blocks */
} hs_parse_ctx;

/* Reports one error or warning; fmt is printf-like. */
void hs_pol_diag(hs_parse_ctx *c, hs_diag_level lv, const char *file,
                 unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* 'word' for messages: at most 60 bytes, unprintable bytes as \xNN. */
const char *hs_pol_quote(char *out, size_t cap, const char *p, size_t n);
/* Parses one file's text into the block `into`. dir anchors relative
 * includes; NULL for a preset (which may include presets only). */
void hs_pol_parse_text(hs_parse_ctx *c, const char *file, const char *dir,
                       const char *text, size_t len, unsigned depth,
                       hs_node *into);
/* Per-file parser state (policy_parse.c, policy_cond.c). */
typedef struct hs_pfile {
    hs_parse_ctx *c;
    const char *file;
    const char *dir;
    unsigned depth;
    hs_lexer lx;
    hs_node **stack;        /* open blocks; stack[0] is the file's target */
    size_t nstack, scap;
} hs_pfile;

bool hs_pol_teq(const hs_tok *t, const char *s);
/* An error at token t; fmt takes the two strings a and b. */
void hs_pol_err_at(hs_pfile *f, const hs_tok *t, const char *fmt,
                   const char *a, const char *b);
void hs_pol_unknown_word(hs_pfile *f, const hs_tok *t, const char *what,
                         const char *const *words, size_t n);
bool hs_pol_check_controls(hs_pfile *f, const hs_tok *at, const char *p,
                           size_t n, bool value);
hs_node *hs_pol_new_kid(hs_pfile *f, const hs_tok *at, hs_dir k);
void hs_pol_open_block(hs_pfile *f, const hs_tok *t, size_t n, bool unless);
void hs_pol_close_block(hs_pfile *f);

/* Whether an edit's regular expression stays within the bounds regcomp
 * can compile quickly and regexec can run in polynomial time
 * (policy_regex.c); why says how it does not. */
bool hs_pol_regex_bounded(const char *re, size_t n, char *why,
                          size_t why_len);

/* The include directive (policy_load.c). */
void hs_pol_include(hs_parse_ctx *c, const char *file, const hs_tok *arg,
                    const char *dir, unsigned depth, hs_node *into);
/* Keeps a string alive as long as the policy (file names). */
const char *hs_pol_keep(hs_parse_ctx *c, const char *s, size_t n);
char *hs_pol_dup(const char *p, size_t n);
void hs_pol_node_free(hs_node *n);
/* Compiler (policy_compile.c): builds names and program from the tree.
 * Returns false when memory runs out. */
bool hs_pol_compile(hs_policy *pol);
void hs_pol_program_free(hs_policy *pol);

#endif /* HS_POLICY_RULES_H */
