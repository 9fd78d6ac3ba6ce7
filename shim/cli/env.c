/*
 * env.c - the HEADERSHIM_* variables `headershim apply` honours
 * (INTERFACE.md "The command"), parsed by the core's config.c as the
 * library parses them, with the library's messages.
 */
#include "cli.h"

#include <stdlib.h>

bool cli_env_csp(bool *report_only)
{
    const char *v = getenv("HEADERSHIM_CSP");
    if (v == NULL)
        return true;
    int i = hs_config_choice(v, "enforce|report-only");
    if (i < 0) {
        cli_err("HEADERSHIM_CSP: unknown value '%s' (expected "
                "enforce|report-only)", v);
        return false;
    }
    *report_only = i == 1;
    return true;
}

bool cli_env_size(const char *name, size_t *out)
{
    const char *v = getenv(name);
    if (v == NULL)
        return true;
    if (!hs_config_size(v, out)) {
        cli_err("%s: invalid value '%s' (expected %s)", name, v,
                HS_CONFIG_SIZE_EXPECTED);
        return false;
    }
    return true;
}
