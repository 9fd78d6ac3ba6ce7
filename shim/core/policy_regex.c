/*
 * policy_regex.c - the bounds an edit directive's regular expression must
 * keep before it reaches regcomp.
 *
 * glibc's regcomp expands bounded repetition by copying the repeated
 * expression, and nested counts multiply: "(a{1,999}){1,999}" took more
 * than 60 s and 6.6 GB in regcomp on this project's machines (fuzz_policy
 * found it). A policy is compiled inside the server's process, so one
 * such line would stall or kill the server at start. We refuse an
 * expression whose repetitions expand to more than HS_REGEX_MAX_POSITIONS
 * positions (RE2 draws the line at 1,000 too), nests groups deeper than
 * HS_REGEX_MAX_DEPTH (glibc's parser recurses per group), or uses a
 * back-reference: POSIX extended expressions have none (glibc adds them),
 * and matching with one can take exponential time on every response.
 *
 * The scan is deliberately conservative, not a second regex parser: it
 * overestimates (every alternative counts, `+` counts twice), and leaves
 * syntax errors to regcomp, which reports them with its own message.
 */
#include "policy_rules.h"

#include <stdio.h>

#define HS_REGEX_MAX_POSITIONS 1000
#define HS_REGEX_MAX_DEPTH 32

/* Positions are counted saturating just above the limit. */
static size_t capped(size_t a)
{
    return a > HS_REGEX_MAX_POSITIONS ? HS_REGEX_MAX_POSITIONS + 1 : a;
}

static size_t times(size_t a, size_t b)
{
    if (a == 0 || b == 0)
        return 0;
    return a > (HS_REGEX_MAX_POSITIONS + 1) / b ? HS_REGEX_MAX_POSITIONS + 1
                                                : a * b;
}

/* Past a bracket expression that starts at re[i] == '['; returns the index
 * after its closing ']', or n when it does not close (regcomp says so). */
static size_t skip_bracket(const char *re, size_t n, size_t i)
{
    i++;
    if (i < n && re[i] == '^')
        i++;
    if (i < n && re[i] == ']')      /* a leading ']' is a member */
        i++;
    while (i < n && re[i] != ']') {
        if (re[i] == '[' && i + 1 < n &&
            (re[i + 1] == ':' || re[i + 1] == '=' || re[i + 1] == '.')) {
            char close = re[i + 1];
            i += 2;
            while (i + 1 < n && !(re[i] == close && re[i + 1] == ']'))
                i++;
            i += 2;
            continue;
        }
        i++;
    }
    return i < n ? i + 1 : n;
}

/* A bound "{m}", "{m,}", "{,n}" or "{m,n}" at re[i] == '{': its largest
 * expansion factor, and the index after '}'. False when the brace does not
 * start a well-formed bound (regcomp then reports or takes it literally). */
static bool read_bound(const char *re, size_t n, size_t *i, size_t *factor)
{
    size_t j = *i + 1, m = 0, hi = 0;
    bool has_m = false, comma = false, has_hi = false;
    for (; j < n && re[j] >= '0' && re[j] <= '9'; j++, has_m = true)
        m = capped(m * 10 + (size_t)(re[j] - '0'));
    if (j < n && re[j] == ',') {
        comma = true;
        for (j++; j < n && re[j] >= '0' && re[j] <= '9'; j++, has_hi = true)
            hi = capped(hi * 10 + (size_t)(re[j] - '0'));
    }
    if (j >= n || re[j] != '}' || (!has_m && !has_hi))
        return false;
    /* "{m,}" is m copies and a star. */
    size_t f = has_hi ? (hi > m ? hi : m) : comma ? m + 1 : m;
    *factor = f ? f : 1;
    *i = j + 1;
    return true;
}

bool hs_pol_regex_bounded(const char *re, size_t n, char *why, size_t why_len)
{
    /* One frame per open group: positions so far, and the size of the
     * last atom (what a following repetition copies). */
    struct { size_t total, last; } fr[HS_REGEX_MAX_DEPTH + 1] = { { 0, 0 } };
    size_t depth = 0;
    size_t i = 0;
    while (i < n) {
        char c = re[i];
        size_t factor;
        if (c == '\\' && i + 1 < n && re[i + 1] >= '1' && re[i + 1] <= '9') {
            snprintf(why, why_len,
                     "uses the back-reference \\%c, which POSIX extended "
                     "expressions do not have (matching with one can take "
                     "exponential time)", re[i + 1]);
            return false;
        }
        if (c == '(') {
            if (depth == HS_REGEX_MAX_DEPTH) {
                snprintf(why, why_len, "nests groups more than %d deep",
                         HS_REGEX_MAX_DEPTH);
                return false;
            }
            fr[++depth].total = 0;
            fr[depth].last = 0;
            i++;
            continue;
        }
        if (c == ')' && depth > 0) {
            size_t g = fr[depth].total ? fr[depth].total : 1;
            depth--;
            fr[depth].total = capped(fr[depth].total + g);
            fr[depth].last = g;
            i++;
            continue;
        }
        if (c == '|') {
            fr[depth].last = 0;
            i++;
            continue;
        }
        if (c == '*' || c == '?' || c == '+' ||
            (c == '{' && read_bound(re, n, &i, &factor))) {
            /* glibc writes x+ as xx*: count the copy. */
            if (c != '{') {
                factor = c == '+' ? 2 : 1;
                i++;
            }
            size_t grown = times(fr[depth].last, factor);
            fr[depth].total = capped(fr[depth].total - fr[depth].last + grown);
            fr[depth].last = grown;
            if (fr[depth].total > HS_REGEX_MAX_POSITIONS)
                break;
            continue;
        }
        /* One position: a character, an escape, a bracket expression. */
        if (c == '[')
            i = skip_bracket(re, n, i);
        else
            i += c == '\\' && i + 1 < n ? 2 : 1;
        fr[depth].total = capped(fr[depth].total + 1);
        fr[depth].last = 1;
    }
    size_t total = 0;
    for (size_t d = 0; d <= depth; d++)
        total = capped(total + fr[d].total);
    if (total > HS_REGEX_MAX_POSITIONS) {
        snprintf(why, why_len,
                 "is too large: its repetitions expand to more than %d "
                 "positions", HS_REGEX_MAX_POSITIONS);
        return false;
    }
    return true;
}
