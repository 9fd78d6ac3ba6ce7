/*
 * main.c - the `headershim` command: dispatch, --help, --version.
 *
 * headershim [options] -- COMMAND [ARG...]   run a server under the shim
 * headershim check POLICY                    validate and normalise a policy
 * headershim apply [options] [FILE]          replay a connection offline
 * headershim presets [NAME]                  list or print the presets
 */
#include "cli.h"

#include <stdarg.h>
#include <string.h>

void cli_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("headershim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_opt_value(int argc, char **argv, int *i, const char *name,
                  const char **value)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        *i += 1;
        return 1;
    }
    if (arg[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        cli_err("option %s needs a value (try 'headershim --help')", name);
        return -1;
    }
    *value = argv[*i + 1];
    *i += 2;
    return 1;
}

void cli_usage(FILE *to)
{
    fputs(
"usage: headershim [OPTIONS] -- COMMAND [ARG...]\n"
"       headershim check POLICY\n"
"       headershim apply [-p POLICY] [--requests FILE] [--method M] [--path P]\n"
"                        [--host H] [--port N] [--tls] [--csp-report-only] [FILE]\n"
"       headershim presets [NAME]\n"
"       headershim --help | --version\n"
"\n"
"Run COMMAND (an unmodified HTTP/1.x server) with libheadershim.so preloaded,\n"
"so that its response header blocks are rewritten by POLICY.\n"
"\n"
"Launcher options (each sets the HEADERSHIM_* variable in brackets):\n"
"  -p, --policy POLICY   a preset (auto, api, website, strip) or a policy file\n"
"                        [HEADERSHIM_POLICY; default auto]\n"
"  --report              change nothing, log what would change [MODE=report]\n"
"  --tls[=PORTS]         TLS is terminated in front of every port, or of PORTS\n"
"                        [TLS=on or on:PORTS]\n"
"  --csp-report-only     write CSP as Content-Security-Policy-Report-Only [CSP]\n"
"  --log LEVEL           off, error, info or debug [LOG]\n"
"  --log-file FILE       append log lines to FILE [LOG_FILE]\n"
"  --ports LIST          act only on these local ports: 80,8000-8099 [PORTS]\n"
"  --processes LIST      act only in these programs: nginx,httpd [PROCESSES]\n"
"  --force               run COMMAND even where LD_PRELOAD cannot reach it\n"
"                        (static, Go, setuid/setgid, file capabilities)\n"
"\n"
"Subcommands:\n"
"  check POLICY          print the normalised policy and its warnings\n"
"  apply [FILE]          read what a server wrote on one connection (FILE or\n"
"                        standard input) and write what the shim would send\n"
"  presets [NAME]        list the built-in presets, or print one's source\n"
"\n"
"Exit status: 0 ok; 1 invalid policy, preset or variable; 2 usage error;\n"
"3 apply could not read its input or write its output; the launcher: 78\n"
"policy errors, 125 library not found, 126 COMMAND refused or not\n"
"executable, 127 COMMAND not found, else COMMAND's own status.\n"
"See docs/command.md.\n", to);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cli_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        cli_usage(stdout);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_IO;
    }
    if (strcmp(cmd, "--version") == 0) {
        puts("headershim " HS_VERSION);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_IO;
    }
    if (strcmp(cmd, "check") == 0)
        return cli_check(argc - 2, argv + 2);
    if (strcmp(cmd, "apply") == 0)
        return cli_apply(argc - 2, argv + 2);
    if (strcmp(cmd, "presets") == 0)
        return cli_presets(argc - 2, argv + 2);
    if (cmd[0] == '-')
        return cli_launch(argc, argv);
    cli_err("unknown command '%s' (to run a program under the shim: "
            "headershim [OPTIONS] -- %s ...; see 'headershim --help')",
            cmd, cmd);
    return CLI_EXIT_USAGE;
}
