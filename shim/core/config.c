/*
 * config.c - the values of the HEADERSHIM_* variables, parsed by one piece
 * of code for the library (shim/shell/env.c) and the command
 * (shim/cli/env.c): a value that one accepts the other accepts too
 * (INTERFACE.md: `apply` honours the variables "as the library does").
 */
#include "headershim.h"

#include <string.h>

int hs_config_choice(const char *value, const char *words)
{
    size_t n = strlen(value);
    const char *p = words;
    for (int i = 0;; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, value, n) == 0)
            return i;
        if (!bar)
            return -1;
        p = bar + 1;
    }
}

bool hs_config_size(const char *value, size_t *out)
{
    /* Digits only: strtoul would take " 8", "+8", "-1" and "0x10". */
    size_t n = 0;
    const char *s = value;
    for (; *s >= '0' && *s <= '9'; s++) {
        n = n * 10 + (size_t)(*s - '0');
        if (n > HS_MAX_BLOCK_LIMIT)
            return false;
    }
    if (s == value || *s != '\0' || n == 0)
        return false;
    *out = n;
    return true;
}
