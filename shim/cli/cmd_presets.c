/*
 * cmd_presets.c - `headershim presets [NAME]`: the built-in presets
 * (compiled in from policies/NAME.policy) with their one-line descriptions,
 * or one preset's source exactly as compiled in.
 */
#include "cli.h"

#include <errno.h>
#include <string.h>

static int list_presets(void)
{
    size_t width = 0;
    for (size_t i = 0; i < hs_npresets; i++)
        if (strlen(hs_presets[i].name) > width)
            width = strlen(hs_presets[i].name);
    for (size_t i = 0; i < hs_npresets; i++)
        printf("%-*s  %s\n", (int)width, hs_presets[i].name,
               hs_presets[i].description);
    return CLI_EXIT_OK;
}

static void known_names(char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < hs_npresets && used < cap; i++) {
        int n = snprintf(out + used, cap - used, "%s%s", i ? ", " : "",
                         hs_presets[i].name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

int cli_presets(int argc, char **argv)
{
    int rc;
    if (argc == 0) {
        rc = list_presets();
    } else if (argc == 1 && argv[0][0] != '-') {
        const hs_preset *p = hs_preset_find(argv[0]);
        if (p == NULL) {
            char names[256];
            known_names(names, sizeof names);
            cli_err("presets: no preset named '%s' (known: %s)", argv[0],
                    names);
            return CLI_EXIT_INVALID;
        }
        fwrite(p->source, 1, p->source_len, stdout);
        rc = CLI_EXIT_OK;
    } else {
        cli_err("presets: expected at most one preset NAME");
        return CLI_EXIT_USAGE;
    }
    if (fflush(stdout) != 0) {
        cli_err("presets: cannot write standard output: %s", strerror(errno));
        return CLI_EXIT_IO;
    }
    return rc;
}
