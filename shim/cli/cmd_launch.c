/*
 * cmd_launch.c - `headershim [OPTIONS] -- COMMAND [ARG...]`: run a server
 * with the shim preloaded (INTERFACE.md "The command").
 *
 * In order: parse and check the options, validate the policy (exit 78,
 * FILE:LINE:COLUMN errors), make policy and log paths absolute (servers
 * chdir, nginx to its prefix, daemons to /), resolve COMMAND through PATH
 * as execvp does, refuse what LD_PRELOAD cannot reach (exit 126, unless
 * --force), find the library, set LD_PRELOAD and HEADERSHIM_*, exec.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIB_NAME "libheadershim.so"
#define SHEBANG_DEPTH 4 /* Linux's BINPRM_MAX_RECURSION */

typedef struct launch_opts {
    const char *policy;
    bool report;
    bool tls;
    const char *tls_ports;
    bool csp_report_only;
    const char *log;
    const char *log_file;
    const char *ports;
    const char *processes;
    bool force;
    char **command; /* NULL-terminated */
} launch_opts;

/* "80,443,8000-8099": ports 0..65535, ranges low-high, as the library
 * reads HEADERSHIM_PORTS and HEADERSHIM_TLS (shim/shell/env.c). */
static bool valid_port_list(const char *s)
{
    if (*s == '\0')
        return false;
    while (*s) {
        long lo = 0, hi;
        const char *start = s;
        for (; *s >= '0' && *s <= '9' && lo <= 65535; s++)
            lo = lo * 10 + (*s - '0');
        if (s == start || lo > 65535)
            return false;
        hi = lo;
        if (*s == '-') {
            start = ++s;
            hi = 0;
            for (; *s >= '0' && *s <= '9' && hi <= 65535; s++)
                hi = hi * 10 + (*s - '0');
            if (s == start || hi < lo || hi > 65535)
                return false;
        }
        if (*s == ',' && s[1] != '\0')
            s++;
        else if (*s != '\0')
            return false;
    }
    return true;
}

static int parse_args(int argc, char **argv, launch_opts *o)
{
    int i = 1;
    while (i < argc) {
        const char *a = argv[i];
        const char *v;
        int r = 0;
        if (strcmp(a, "--") == 0) {
            if (i + 1 >= argc) {
                cli_err("expected a COMMAND after '--'");
                return -1;
            }
            o->command = argv + i + 1;
            break;
        } else if (strcmp(a, "--report") == 0) {
            o->report = true;
            i++;
        } else if (strcmp(a, "--tls") == 0) {
            o->tls = true;
            i++;
        } else if (strncmp(a, "--tls=", 6) == 0) {
            o->tls = true;
            o->tls_ports = a + 6;
            i++;
            if (!valid_port_list(o->tls_ports)) {
                cli_err("--tls: invalid port list '%s' (expected ports or "
                        "ranges like 443,8443-8444)", o->tls_ports);
                return -1;
            }
        } else if (strcmp(a, "--csp-report-only") == 0) {
            o->csp_report_only = true;
            i++;
        } else if (strcmp(a, "--force") == 0) {
            o->force = true;
            i++;
        } else if ((r = cli_opt_value(argc, argv, &i, "-p", &v)) ||
                   (r = cli_opt_value(argc, argv, &i, "--policy", &v))) {
            o->policy = v;
        } else if ((r = cli_opt_value(argc, argv, &i, "--log-file", &v))) {
            o->log_file = v;
        } else if ((r = cli_opt_value(argc, argv, &i, "--log", &v))) {
            o->log = v;
        } else if ((r = cli_opt_value(argc, argv, &i, "--ports", &v))) {
            o->ports = v;
        } else if ((r = cli_opt_value(argc, argv, &i, "--processes", &v))) {
            o->processes = v;
        } else if (a[0] == '-') {
            cli_err("unknown option '%s' (try 'headershim --help')", a);
            return -1;
        } else {
            cli_err("unexpected '%s': write the command after '--', as in "
                    "headershim [OPTIONS] -- %s", a, a);
            return -1;
        }
        if (r < 0)
            return -1;
    }
    if (o->command == NULL) {
        cli_err("no COMMAND: usage: headershim [OPTIONS] -- COMMAND [ARG...]");
        return -1;
    }
    if (o->policy && *o->policy == '\0') {
        cli_err("-p: empty policy (a preset name or a policy file)");
        return -1;
    }
    if (o->log && strcmp(o->log, "off") && strcmp(o->log, "error") &&
        strcmp(o->log, "info") && strcmp(o->log, "debug")) {
        cli_err("--log: unknown value '%s' (expected off|error|info|debug)",
                o->log);
        return -1;
    }
    if (o->log_file && *o->log_file == '\0') {
        cli_err("--log-file: empty file name");
        return -1;
    }
    if (o->ports && !valid_port_list(o->ports)) {
        cli_err("--ports: invalid port list '%s' (expected ports or ranges "
                "like 80,8000-8099)", o->ports);
        return -1;
    }
    if (o->processes && *o->processes == '\0') {
        cli_err("--processes: empty list (expected program names like "
                "nginx,httpd)");
        return -1;
    }
    return 0;
}

/* path made absolute against the working directory (not resolved: a
 * symlinked log file keeps following its link). malloc'd, or NULL. */
static char *absolute(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL)
        return NULL;
    const char *rel = path;
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    size_t n = strlen(cwd) + 1 + strlen(rel) + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", rel);
    return out;
}

static bool is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
           access(path, X_OK) == 0;
}

/* execvp's search: a name with a slash is used as it is; otherwise each
 * PATH element in turn (empty = current directory; PATH unset = glibc's
 * default). Returns 0, or CLI_EXIT_NOT_FOUND / CLI_EXIT_CANNOT_RUN. */
static int resolve_command(const char *name, char *out, size_t cap)
{
    if (strchr(name, '/')) {
        snprintf(out, cap, "%s", name);
        if (access(name, F_OK) != 0)
            return CLI_EXIT_NOT_FOUND;
        return is_executable_file(name) ? 0 : CLI_EXIT_CANNOT_RUN;
    }
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/bin:/usr/bin";
    bool denied = false;
    for (const char *p = path;; p++) {
        const char *end = strchrnul(p, ':');
        int dirlen = (int)(end - p);
        int n = dirlen ? snprintf(out, cap, "%.*s/%s", dirlen, p, name)
                       : snprintf(out, cap, "%s", name);
        if (n > 0 && (size_t)n < cap) {
            if (is_executable_file(out))
                return 0;
            if (access(out, F_OK) == 0)
                denied = true;
        }
        if (*end == '\0')
            break;
        p = end;
    }
    snprintf(out, cap, "%s", name);
    return denied ? CLI_EXIT_CANNOT_RUN : CLI_EXIT_NOT_FOUND;
}

/* If path starts with "#!", the program the kernel runs instead, with
 * `env NAME` looked through (the common "#!/usr/bin/env python3").
 * Returns false when path is no script. */
static bool script_interpreter(const char *path, char *out, size_t cap)
{
    char line[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return false;
    ssize_t got = read(fd, line, sizeof line - 1);
    close(fd);
    if (got < 3 || line[0] != '#' || line[1] != '!')
        return false;
    line[got] = '\0';
    char *nl = strchr(line, '\n');
    if (nl)
        *nl = '\0';
    char *words[4];
    int nwords = 0;
    for (char *tok = strtok(line + 2, " \t"); tok && nwords < 4;
         tok = strtok(NULL, " \t"))
        words[nwords++] = tok;
    if (nwords == 0)
        return false;
    const char *interp = words[0];
    const char *base = strrchr(interp, '/');
    base = base ? base + 1 : interp;
    if (strcmp(base, "env") == 0) {
        for (int w = 1; w < nwords; w++) {
            if (words[w][0] == '-')
                continue; /* env -S, env -i */
            if (resolve_command(words[w], out, cap) == 0)
                return true;
            break;
        }
    }
    snprintf(out, cap, "%s", interp);
    return true;
}

/* Why COMMAND (resolved) cannot be reached, following #! lines. */
static const char *obstacle(const char *resolved, char *why, size_t why_len)
{
    char prog[PATH_MAX], next[PATH_MAX];
    snprintf(prog, sizeof prog, "%s", resolved);
    char reason[512];
    for (int depth = 0; depth <= SHEBANG_DEPTH; depth++) {
        if (!script_interpreter(prog, next, sizeof next))
            break;
        snprintf(prog, sizeof prog, "%s", next);
    }
    if (cli_preload_obstacle(prog, reason, sizeof reason) == NULL)
        return NULL;
    if (strcmp(prog, resolved) == 0)
        snprintf(why, why_len, "%s: it %s", resolved, reason);
    else
        snprintf(why, why_len, "%s: its interpreter %s %s", resolved, prog,
                 reason);
    return why;
}

/* The library: next to the command (build/headershim beside
 * build/libheadershim.so) or under its install prefix
 * (PREFIX/bin/headershim, PREFIX/lib/headershim/libheadershim.so). */
static bool find_library(const char *argv0, char *out, size_t cap)
{
    char self[PATH_MAX];
    snprintf(out, cap, "no directory: cannot tell where %s is", argv0);
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
    } else if (strchr(argv0, '/') == NULL ||
               realpath(argv0, self) == NULL) { /* no /proc */
        char found[PATH_MAX];
        if (resolve_command(argv0, found, sizeof found) != 0 ||
            realpath(found, self) == NULL)
            return false;
    }
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return false;
    *slash = '\0';
    static const char *const candidates[] = {
        "%s/" LIB_NAME,
        "%s/../lib/headershim/" LIB_NAME,
    };
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, candidates[i], self);
        struct stat st;
        if (realpath(path, out) != NULL && strlen(out) < cap &&
            stat(out, &st) == 0 && S_ISREG(st.st_mode))
            return true;
    }
    snprintf(out, cap, "%s", self);
    return false;
}

static bool set(const char *name, const char *value)
{
    if (setenv(name, value, 1) == 0)
        return true;
    cli_err("cannot set %s: %s", name, strerror(errno));
    return false;
}

static bool set_environment(const launch_opts *o, const char *lib,
                            const char *policy)
{
    const char *old = getenv("LD_PRELOAD");
    size_t n = strlen(lib) + (old ? strlen(old) + 1 : 0) + 1;
    char *preload = malloc(n);
    if (preload == NULL)
        return false;
    snprintf(preload, n, "%s%s%s", lib, old && *old ? ":" : "",
             old ? old : "");
    bool ok = set("LD_PRELOAD", preload);
    free(preload);

    char tls[512];
    if (o->tls)
        snprintf(tls, sizeof tls, o->tls_ports ? "on:%s" : "on",
                 o->tls_ports);
    char *log_file = o->log_file ? absolute(o->log_file) : NULL;
    ok = ok && (!policy || set("HEADERSHIM_POLICY", policy)) &&
         (!o->report || set("HEADERSHIM_MODE", "report")) &&
         (!o->tls || set("HEADERSHIM_TLS", tls)) &&
         (!o->csp_report_only || set("HEADERSHIM_CSP", "report-only")) &&
         (!o->log || set("HEADERSHIM_LOG", o->log)) &&
         (!o->log_file || (log_file && set("HEADERSHIM_LOG_FILE", log_file))) &&
         (!o->ports || set("HEADERSHIM_PORTS", o->ports)) &&
         (!o->processes || set("HEADERSHIM_PROCESSES", o->processes));
    free(log_file);
    return ok;
}

int cli_launch(int argc, char **argv)
{
    launch_opts o = {0};
    if (parse_args(argc, argv, &o) != 0)
        return CLI_EXIT_USAGE;

    /* The policy the library will load: -p, else the inherited variable,
     * else the default. A relative path becomes absolute. */
    const char *spec = o.policy ? o.policy : getenv("HEADERSHIM_POLICY");
    bool inherited = o.policy == NULL && spec && *spec;
    if (spec == NULL || *spec == '\0')
        spec = "auto";
    char *policy = NULL;
    if (cli_spec_is_path(spec)) {
        if ((policy = absolute(spec)) == NULL) {
            cli_err("%s: cannot make the policy path absolute: %s", spec,
                    strerror(errno));
            return CLI_EXIT_CONFIG;
        }
    } else if (o.policy || inherited) {
        policy = strdup(spec);
    }
    hs_policy *compiled = cli_policy_load(policy ? policy : spec);
    if (compiled == NULL) {
        free(policy);
        return CLI_EXIT_CONFIG;
    }
    hs_policy_free(compiled);

    char resolved[PATH_MAX];
    int rc = resolve_command(o.command[0], resolved, sizeof resolved);
    if (rc != 0) {
        cli_err("%s: %s", o.command[0],
                rc == CLI_EXIT_NOT_FOUND ? "command not found"
                                         : "permission denied");
        free(policy);
        return rc;
    }

    char why[PATH_MAX * 2 + 1024];
    if (obstacle(resolved, why, sizeof why)) {
        if (!o.force) {
            cli_err("refusing to run %s; its responses would go out "
                    "unchanged (--force runs it anyway)", why);
            free(policy);
            return CLI_EXIT_CANNOT_RUN;
        }
        cli_err("warning: %s; running it anyway (--force), its responses "
                "will go out unchanged", why);
    }

    char lib[PATH_MAX];
    if (!find_library(argv[0], lib, sizeof lib)) {
        cli_err("cannot find " LIB_NAME " next to the command or in "
                "../lib/headershim/ (looked in %s)", lib);
        free(policy);
        return CLI_EXIT_SETUP;
    }
    if (strpbrk(lib, " :\t")) {
        cli_err("%s: LD_PRELOAD cannot carry a path with a space or a colon",
                lib);
        free(policy);
        return CLI_EXIT_SETUP;
    }
    bool ok = set_environment(&o, lib, policy);
    free(policy);
    if (!ok)
        return CLI_EXIT_SETUP;

    execv(resolved, o.command);
    if (errno == ENOEXEC) {
        /* execvp runs a script without #! with the shell; so do we. */
        int n = 0;
        while (o.command[n])
            n++;
        char **sh_argv = calloc((size_t)n + 2, sizeof *sh_argv);
        if (sh_argv) {
            sh_argv[0] = "/bin/sh";
            sh_argv[1] = resolved;
            for (int i = 1; i < n; i++)
                sh_argv[i + 1] = o.command[i];
            execv("/bin/sh", sh_argv);
            free(sh_argv);
        }
    }
    int err = errno;
    cli_err("%s: %s", resolved, strerror(err));
    return err == ENOENT ? CLI_EXIT_NOT_FOUND : CLI_EXIT_CANNOT_RUN;
}
