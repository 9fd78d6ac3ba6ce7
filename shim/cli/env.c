/*
 * env.c - the HEADERSHIM_* variables `headershim apply` honours
 * (INTERFACE.md "The command"), with the library's validation and
 * messages (shim/shell/env.c), so that a value apply accepts is one the
 * library accepts: an empty value is an error there too.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

bool cli_env_csp(bool *report_only)
{
    const char *v = getenv("HEADERSHIM_CSP");
    if (v == NULL)
        return true;
    if (strcmp(v, "enforce") == 0) {
        *report_only = false;
        return true;
    }
    if (strcmp(v, "report-only") == 0) {
        *report_only = true;
        return true;
    }
    cli_err("HEADERSHIM_CSP: unknown value '%s' (expected enforce|report-only)",
            v);
    return false;
}

bool cli_env_size(const char *name, size_t *out)
{
    const char *v = getenv(name);
    if (v == NULL)
        return true;
    /* Digits only: strtoul would accept "-1", " 8", "0x10". */
    size_t n = 0;
    const char *s = v;
    for (; *s >= '0' && *s <= '9' && n <= HS_MAX_BLOCK_LIMIT; s++)
        n = n * 10 + (size_t)(*s - '0');
    if (*s != '\0' || n == 0 || n > HS_MAX_BLOCK_LIMIT) { /* "" too */
        cli_err("%s: invalid value '%s' (expected a number of bytes from 1 "
                "to %d)", name, v, HS_MAX_BLOCK_LIMIT);
        return false;
    }
    *out = n;
    return true;
}
