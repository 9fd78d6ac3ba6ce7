/*
 * policy_lex.c - policy text to logical lines of arguments (POLICY.md
 * "Lexical rules").
 *
 * A physical line ends at LF (a CR right before it is dropped). A '#' that
 * is the first non-blank byte of a line, or follows a blank outside quotes,
 * starts a comment, so "/page#top" keeps its '#'. A line whose last byte is
 * '\' continues on the next: backslash, line break and the next line's
 * leading blanks become one space. Each piece of a logical line remembers
 * where it came from, so every error can name FILE:LINE:COLUMN of the word
 * it is about, even on a continuation line.
 */
#include "policy_rules.h"

#include <stdlib.h>
#include <string.h>

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

void hs_lex_init(hs_lexer *lx, const char *text, size_t len,
                 hs_lex_err_fn err, void *err_ctx)
{
    memset(lx, 0, sizeof *lx);
    lx->text = text;
    lx->len = len;
    lx->lineno = 1;
    lx->at_start = true;
    lx->err = err;
    lx->err_ctx = err_ctx;
}

void hs_lex_free(hs_lexer *lx)
{
    free(lx->buf);
    free(lx->ubuf);
    free(lx->segs);
    free(lx->toks);
    memset(lx, 0, sizeof *lx);
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

static bool append(hs_lexer *lx, const char *p, size_t n, unsigned line,
                   unsigned col)
{
    if (!grow((void **)&lx->segs, &lx->scap, lx->nsegs + 1, sizeof *lx->segs))
        return false;
    lx->segs[lx->nsegs++] = (hs_lex_seg){ lx->blen, line, col };
    if (!grow((void **)&lx->buf, &lx->bcap, lx->blen + n + 2, 1))
        return false;
    memcpy(lx->buf + lx->blen, p, n);
    lx->blen += n;
    return true;
}

void hs_lex_pos(const hs_lexer *lx, size_t off, unsigned *line, unsigned *col)
{
    size_t i = lx->nsegs;
    while (i > 1 && lx->segs[i - 1].off > off)
        i--;
    if (i == 0) {
        *line = lx->lineno;
        *col = 1;
        return;
    }
    const hs_lex_seg *s = &lx->segs[i - 1];
    *line = s->line;
    *col = s->col + (unsigned)(off - s->off);
}

/* Reads physical lines into lx->buf until the logical line is complete. */
static int read_logical(hs_lexer *lx)
{
    bool continuing = false;
    lx->blen = 0;
    lx->nsegs = 0;
    lx->bad = false;
    if (lx->pos >= lx->len)
        return 0;
    while (lx->pos < lx->len) {
        const char *t = lx->text;
        size_t start = lx->pos;
        if (lx->at_start) {
            lx->at_start = false;
            /* A byte-order mark is skipped and not counted in columns. */
            if (lx->len - start >= 3 && memcmp(t + start, "\xEF\xBB\xBF", 3) == 0)
                start += 3;
        }
        const char *lf = memchr(t + start, '\n', lx->len - start);
        size_t end = lf ? (size_t)(lf - t) : lx->len;
        lx->pos = lf ? end + 1 : lx->len;
        size_t ce = end;
        if (ce > start && t[ce - 1] == '\r')
            ce--;
        unsigned line = lx->lineno++;
        size_t s = start;
        if (continuing)
            while (s < ce && is_blank(t[s]))
                s++;
        /* Comments and quotes. */
        bool inq = false;
        size_t qpos = 0;
        bool only_blanks = true;
        for (size_t i = s; i < ce; i++) {
            char c = t[i];
            if (inq) {
                if (c == '\\' && i + 1 < ce && (t[i + 1] == '"' || t[i + 1] == '\\'))
                    i++;
                else if (c == '"')
                    inq = false;
            } else if (c == '"') {
                inq = true;
                qpos = i;
            } else if (c == '#' && (only_blanks || is_blank(t[i - 1]))) {
                ce = i;
                break;
            }
            if (!is_blank(c))
                only_blanks = false;
        }
        if (inq) {
            if (lx->err)
                lx->err(lx->err_ctx, line, (unsigned)(qpos - start + 1),
                        "unterminated quote: a quoted string must end on the "
                        "line it starts");
            lx->bad = true;
        }
        if (!append(lx, t + s, ce - s, line, (unsigned)(s - start + 1)))
            return -1;
        if (!inq && ce > s && t[ce - 1] == '\\') {
            lx->buf[lx->blen - 1] = ' ';
            continuing = true;
            continue;
        }
        break;
    }
    return 1;
}

static bool push_tok(hs_lexer *lx, hs_tok t)
{
    if (!grow((void **)&lx->toks, &lx->tcap, lx->ntoks + 1, sizeof *lx->toks))
        return false;
    hs_lex_pos(lx, t.off, &t.line, &t.col);
    lx->toks[lx->ntoks++] = t;
    return true;
}

/* Splits lx->buf into arguments. A quoted string directly followed by more
 * bytes is kept as a word (its quotes then are part of it). */
static int tokenize(hs_lexer *lx)
{
    lx->ntoks = 0;
    if (!grow((void **)&lx->ubuf, &lx->ucap, lx->blen + 1, 1))
        return -1;
    const char *b = lx->buf;
    size_t n = lx->blen, u = 0, i = 0;
    while (i < n) {
        while (i < n && is_blank(b[i]))
            i++;
        if (i >= n)
            break;
        size_t start = i;
        if (b[i] == '"') {
            size_t j = i + 1, ustart = u;
            while (j < n && b[j] != '"') {
                if (b[j] == '\\' && j + 1 < n && (b[j + 1] == '"' || b[j + 1] == '\\'))
                    j++;
                lx->ubuf[u++] = b[j++];
            }
            if (j < n && (j + 1 == n || is_blank(b[j + 1]))) {
                hs_tok t = { b + start, j + 1 - start, lx->ubuf + ustart,
                             u - ustart, true, start, 0, 0 };
                if (!push_tok(lx, t))
                    return -1;
                i = j + 1;
                continue;
            }
            u = ustart;
        }
        /* A word: up to the next blank outside quotes. */
        bool inq = false;
        size_t j = i;
        while (j < n && (inq || !is_blank(b[j]))) {
            if (inq) {
                if (b[j] == '\\' && j + 1 < n && (b[j + 1] == '"' || b[j + 1] == '\\'))
                    j++;
                else if (b[j] == '"')
                    inq = false;
            } else if (b[j] == '"') {
                inq = true;
            }
            j++;
        }
        if (j > n)
            j = n;
        hs_tok t = { b + start, j - start, b + start, j - start, false, start,
                     0, 0 };
        if (!push_tok(lx, t))
            return -1;
        i = j;
    }
    return 1;
}

int hs_lex_next(hs_lexer *lx)
{
    int r = read_logical(lx);
    if (r <= 0)
        return r;
    if (lx->bad) {
        lx->ntoks = 0;
        return 1;
    }
    return tokenize(lx);
}
