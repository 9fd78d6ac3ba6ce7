/*
 * cmd_check.c - `headershim check POLICY`: compile a policy, print it
 * normalised (includes spliced, one directive a line) on standard output
 * and its warnings on standard error; errors as FILE:LINE:COLUMN, exit 1.
 */
#include "cli.h"

#include <errno.h>
#include <string.h>

int cli_check(int argc, char **argv)
{
    if (argc == 1 && (strcmp(argv[0], "--help") == 0 ||
                      strcmp(argv[0], "-h") == 0)) {
        puts("usage: headershim check POLICY\n"
             "POLICY is a preset name or a policy file (a value that "
             "contains '/' or ends in .policy).");
        return CLI_EXIT_OK;
    }
    if (argc != 1) {
        cli_err("check: expected one POLICY (a preset name or a file), "
                "got %d arguments", argc);
        return CLI_EXIT_USAGE;
    }
    hs_policy *p = cli_policy_load(argv[0]);
    if (p == NULL)
        return CLI_EXIT_INVALID;
    hs_buf out = {0};
    int rc = CLI_EXIT_OK;
    if (!hs_policy_format(p, &out)) {
        cli_err("check: out of memory");
        rc = CLI_EXIT_IO;
    } else if ((out.len && fwrite(out.p, 1, out.len, stdout) != out.len) ||
               fflush(stdout) != 0) {
        cli_err("check: cannot write standard output: %s", strerror(errno));
        rc = CLI_EXIT_IO;
    }
    hs_buf_free(&out);
    hs_policy_free(p);
    return rc;
}
