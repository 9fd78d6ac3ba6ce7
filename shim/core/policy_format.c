/*
 * policy_format.c - the normalised text of a policy, as `headershim check`
 * prints it: includes spliced in, one directive a line, blocks indented by
 * four spaces, arguments quoted only where the lexical rules need it. The
 * output parses back to the same policy (tests/unit/test_policy_format.c
 * holds it to that).
 */
#include "policy_rules.h"

#include <string.h>

static const char *const dir_names[] = {
    [HS_D_SET] = "set", [HS_D_DEFAULT] = "default", [HS_D_ADD] = "add",
    [HS_D_APPEND] = "append", [HS_D_MERGE] = "merge",
    [HS_D_REMOVE] = "remove", [HS_D_RENAME] = "rename", [HS_D_EDIT] = "edit",
    [HS_D_EDIT_ALL] = "edit*", [HS_D_COOKIE] = "cookie",
};
static const char *const subject_names[] = {
    [HS_S_STATUS] = "status", [HS_S_CONTENT_TYPE] = "content-type",
    [HS_S_HEADER] = "header", [HS_S_METHOD] = "method", [HS_S_PATH] = "path",
    [HS_S_HOST] = "host", [HS_S_REQUEST_HEADER] = "request-header",
    [HS_S_PORT] = "port", [HS_S_TLS] = "tls",
};

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Would this text, written bare, read back differently? */
static bool needs_quotes(const char *p, size_t n, bool value)
{
    if (n == 0 || p[0] == '#' || p[n - 1] == '\\' || memchr(p, '"', n))
        return true;
    if (value) {
        if (blank(p[0]) || blank(p[n - 1]))
            return true;
        for (size_t i = 1; i < n; i++)
            if (p[i] == '#' && blank(p[i - 1]))
                return true;
        return false;
    }
    if ((n == 1 && (p[0] == '{' || p[0] == '}')))
        return true;
    for (size_t i = 0; i < n; i++)
        if (blank(p[i]))
            return true;
    return false;
}

static bool put(hs_buf *o, const char *s)
{
    return hs_buf_append(o, s, strlen(s));
}

static bool arg(hs_buf *o, const char *p, size_t n, bool value)
{
    if (!hs_buf_append(o, " ", 1))
        return false;
    if (!needs_quotes(p, n, value))
        return hs_buf_append(o, p, n);
    if (!hs_buf_append(o, "\"", 1))
        return false;
    for (size_t i = 0; i < n; i++) {
        if ((p[i] == '"' || p[i] == '\\') && !hs_buf_append(o, "\\", 1))
            return false;
        if (!hs_buf_append(o, &p[i], 1))
            return false;
    }
    return hs_buf_append(o, "\"", 1);
}

static bool indent(hs_buf *o, unsigned depth)
{
    for (unsigned i = 0; i < depth; i++)
        if (!put(o, "    "))
            return false;
    return true;
}

static bool node(hs_buf *o, const hs_node *n, unsigned depth)
{
    if (!indent(o, depth))
        return false;
    if (n->dir != HS_D_BLOCK) {
        bool ok = put(o, dir_names[n->dir]) &&
                  arg(o, n->name, n->name_len, false);
        switch (n->dir) {
        case HS_D_SET: case HS_D_DEFAULT: case HS_D_ADD: case HS_D_APPEND:
        case HS_D_MERGE:
            ok = ok && arg(o, n->arg, n->arg_len, true);
            break;
        case HS_D_RENAME:
            ok = ok && arg(o, n->arg, n->arg_len, false);
            break;
        case HS_D_EDIT: case HS_D_EDIT_ALL:
            ok = ok && arg(o, n->arg, n->arg_len, false) &&
                 arg(o, n->repl, n->repl_len, false);
            break;
        default:
            break;
        }
        return ok && put(o, "\n");
    }
    if (!put(o, n->unless ? "unless " : "when ") ||
        !put(o, subject_names[n->subject]))
        return false;
    for (size_t i = 0; i < n->npats; i++)
        if (!arg(o, n->pats[i].text, n->pats[i].len, false))
            return false;
    if (!put(o, " {\n"))
        return false;
    for (size_t i = 0; i < n->nkids; i++)
        if (!node(o, &n->kids[i], depth + 1))
            return false;
    return indent(o, depth) && put(o, "}\n");
}

bool hs_policy_format(const hs_policy *p, hs_buf *out)
{
    for (size_t i = 0; i < p->root.nkids; i++)
        if (!node(out, &p->root.kids[i], 0))
            return false;
    return true;
}

unsigned hs_policy_needs(const hs_policy *p)
{
    return p ? p->needs : 0;
}
