"""Tests of the deployment recipes in docs/deploy.md.

Each test takes its configuration text from the recipe's code block in the
document (so the document cannot drift from what was tested), swaps the
install paths for the build tree's, and runs a server under `env -i` with
only that environment. Recipes that need what these machines lack (systemd
as PID 1, a container runtime, a cluster) are checked as far as their
environment goes and marked untested in the document.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import hscheck as H

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DOC = os.path.join(ROOT, "docs/deploy.md")
PY = "/usr/bin/python3"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def doc_block(heading_prefix, lang):
    """The first ```lang block under the heading that starts with the prefix."""
    with open(DOC) as f:
        text = f.read()
    i = text.index("\n## " + heading_prefix)
    j = text.find("\n## ", i + 1)
    section = text[i:j if j > 0 else len(text)]
    m = re.search(r"```%s\n(.*?)```" % re.escape(lang), section, re.S)
    if not m:
        raise ValueError("no %s block under '%s'" % (lang, heading_prefix))
    return m.group(1)


class Paths:
    def __init__(self, build, scratch, policy):
        self.lib = os.path.join(build, "libheadershim.so")
        self.cmd = os.path.join(build, "headershim")
        self.policy, self.scratch = policy, scratch

    def swap(self, text):
        return (text.replace("/usr/local/lib/headershim/libheadershim.so", self.lib)
                .replace("/usr/local/bin/headershim", self.cmd)
                .replace("/etc/headershim/site.policy", self.policy)
                .replace("/var/log/headershim.log", os.path.join(self.scratch, "shim.log")))


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, seconds):
    import socket
    end = time.time() + seconds
    while time.time() < end:
        try:   # answering HTTP, not just listening (Tomcat binds early)
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            try:
                s.sendall(b"GET / HTTP/1.1\r\nHost: ready\r\nConnection: close\r\n\r\n")
                if s.recv(16).startswith(b"HTTP/"):
                    return True
            finally:
                s.close()
            raise OSError("no HTTP answer yet")
        except OSError:
            if proc is not None and proc.poll() is not None:
                return False
            time.sleep(0.1)
    return False


def run_server(argv, env, port, seconds=20, cwd=None):
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    if not wait_port(port, proc, seconds):
        out = stop(proc)
        raise RuntimeError("server did not start (exit %s): %s" % (proc.returncode, out[-800:]))
    return proc


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return (out or b"").decode("utf-8", "replace")


def env_from_systemd(text, paths):
    env = {"PATH": BASE_PATH}
    for ln in paths.swap(text).splitlines():
        if ln.startswith("Environment="):
            k, v = ln[len("Environment="):].split("=", 1)
            env[k] = v
    return env


def env_from_docker(text, paths):
    """ENV lines of the Dockerfile (with continuation lines)."""
    env = {"PATH": BASE_PATH}
    joined = paths.swap(text).replace("\\\n", " ")
    for ln in joined.splitlines():
        if ln.startswith("ENV "):
            for k, v in re.findall(r"(\w+)=(\S+)", ln[4:]):
                env[k] = v
    return env


def env_from_k8s(text, paths):
    env = {"PATH": BASE_PATH}
    for k, v in re.findall(r"- name: (\w+)\n\s+value: (\S+)", paths.swap(text)):
        env[k] = v
    return env


def http_server(port, docroot):
    return [PY, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", docroot]


def check_custom(port, path="/index.html"):
    r = H.fetch(port, "GET", path)
    return H.expect_custom(r) + ([] if r.status == 200 else ["status %d" % r.status])


def nginx_conf(scratch, port, docroot, env_lines, daemon="off"):
    os.makedirs(os.path.join(scratch, "tmp"), exist_ok=True)
    conf = os.path.join(scratch, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""worker_processes 1;
daemon %(daemon)s;
user www-data;
pid %(s)s/nginx.pid;
error_log %(s)s/error.log warn;
%(env)s
events { worker_connections 64; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path %(s)s/tmp;
    proxy_temp_path %(s)s/tmp;
    fastcgi_temp_path %(s)s/tmp;
    uwsgi_temp_path %(s)s/tmp;
    scgi_temp_path %(s)s/tmp;
    server { listen 127.0.0.1:%(p)d; root %(d)s; }
}
""" % {"s": scratch, "p": port, "d": docroot, "env": env_lines, "daemon": daemon})
    return conf


def read_pid(path, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        try:
            with open(path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            time.sleep(0.1)
    return None


def nginx_upgrade(paths, docroot, scratch, with_env):
    """Start nginx under the launcher, binary-upgrade it, and fetch a page
    served by the new master's worker. Returns that response.

    nginx refuses USR2 while its master's parent is the process that started
    it ("the changing binary signal is ignored"), so this runs nginx as a
    daemon, as production does, and signals the masters by their pid files."""
    port = free_port()
    env_lines = doc_block("4.", "nginx") if with_env else ""
    os.makedirs(scratch)
    os.chmod(scratch, 0o755)
    conf = nginx_conf(scratch, port, docroot, env_lines, daemon="on")
    pidfile = os.path.join(scratch, "nginx.pid")
    # Output to a file: the daemon keeps its standard error open, so a pipe
    # would never reach end-of-file.
    with open(os.path.join(scratch, "stderr.log"), "w+") as err:
        r = subprocess.run([paths.cmd, "-p", paths.policy, "--", "/usr/sbin/nginx", "-p", scratch,
                            "-c", conf], env={"PATH": BASE_PATH}, timeout=20,
                           stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        err.seek(0)
        old = read_pid(pidfile)
        if r.returncode != 0 or old is None:
            raise RuntimeError("nginx did not start: %s" % err.read()[-500:])
    new_pid = None
    try:
        if not wait_port(port, None, 10):
            raise RuntimeError("nginx does not answer")
        before = H.fetch(port, "GET", "/index.html")
        if H.expect_custom(before):
            raise RuntimeError("nginx not rewritten before the upgrade: %s" % H.expect_custom(before))
        os.kill(old, signal.SIGUSR2)
        end = time.time() + 10
        while time.time() < end and not os.path.exists(pidfile + ".oldbin"):
            time.sleep(0.1)
        new_pid = read_pid(pidfile)
        if new_pid is None or new_pid == old:
            with open(os.path.join(scratch, "error.log")) as f:
                raise RuntimeError("binary upgrade did not start a new master: %s" % f.read()[-400:])
        time.sleep(0.5)
        os.kill(old, signal.SIGWINCH)      # old workers leave; the new ones serve
        time.sleep(1.0)
        return H.fetch(port, "GET", "/index.html")
    finally:
        for pid in (new_pid, old):
            if pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        time.sleep(0.5)


def run(res, build, top, docroot):
    policy = os.path.join(HERE, "custom.policy")

    def scratch(name):
        d = tempfile.mkdtemp(prefix="recipe-%s-" % name, dir=top)
        os.chmod(d, 0o755)
        return d

    def attempt(name, fn):
        try:
            res.check("recipes/" + name, fn())
        except Exception as e:   # a recipe test must report, never abort the matrix
            res.check("recipes/" + name, ["%s: %s" % (type(e).__name__, e)])

    # Report mode: no byte changes, one report line per response it would change.
    def report():
        s = scratch("report")
        log = os.path.join(s, "report.log")
        port = free_port()
        proc = run_server([os.path.join(build, "headershim"), "--report", "--log", "info",
                           "--log-file", log, "--"] + http_server(port, docroot),
                          {"PATH": BASE_PATH}, port)
        try:
            r = H.fetch(port, "GET", "/index.html")
            # Identical report lines are written once a minute, and the
            # readiness probe already made the text/html one: JSON is new.
            rj = H.fetch(port, "GET", "/data.json")
        finally:
            stop(proc)
        problems = H.expect_untouched(r) + H.expect_untouched(rj)
        if r.get("server") is None or rj.get("server") is None:
            problems.append("report mode removed Server")
        with open(log) as f:
            lines = f.read().splitlines()
        for typ, path in (("text/html", None), ("application/json", "/data.json")):
            if not any('"event":"report"' in ln and '"type":"%s"' % typ in ln and
                       '"removed":["Server"]' in ln and (path is None or '"path":"%s"' % path in ln)
                       for ln in lines):
                problems.append("no report line for %s in %r" % (typ, lines[-5:]))
        return problems
    attempt("report mode changes nothing and logs what it would change", report)

    # 2. Plain LD_PRELOAD, under env -i.
    def plain():
        s = scratch("plain")
        p = Paths(build, s, policy)
        block = p.swap(doc_block("2.", "sh"))
        env = {"PATH": BASE_PATH}
        for k, v in re.findall(r"(LD_PRELOAD|HEADERSHIM_\w+)=(\S+)", block):
            env[k] = v
        if set(env) != {"PATH", "LD_PRELOAD", "HEADERSHIM_POLICY", "HEADERSHIM_ON_ERROR"}:
            return ["unexpected variables in the recipe: %s" % sorted(env)]
        port = free_port()
        proc = run_server(http_server(port, docroot), env, port)
        try:
            return check_custom(port)
        finally:
            stop(proc)
    attempt("plain LD_PRELOAD under env -i", plain)

    # 3. systemd drop-in: its Environment= lines, and exit 78 on a bad policy.
    def systemd():
        s = scratch("systemd")
        p = Paths(build, s, policy)
        block = doc_block("3.", "ini")
        problems = []
        if "RestartPreventExitStatus=78" not in block:
            problems.append("drop-in lacks RestartPreventExitStatus=78")
        env = env_from_systemd(block, p)
        port = free_port()
        proc = run_server(http_server(port, docroot), env, port)
        try:
            problems += check_custom(port)
        finally:
            stop(proc)
        bad = os.path.join(s, "bad.policy")
        with open(bad, "w") as f:
            f.write("sett X-Foo bar\n")
        env["HEADERSHIM_POLICY"] = bad
        r = subprocess.run(http_server(free_port(), docroot), env=env, timeout=20,
                           capture_output=True, text=True)
        if r.returncode != 78:
            problems.append("bad policy: exit %d, want 78 (%s)" % (r.returncode, r.stderr[-300:]))
        elif "bad.policy:1:1" not in r.stderr:
            problems.append("bad policy: no FILE:LINE:COLUMN error: %r" % r.stderr[-300:])
        return problems
    attempt("systemd drop-in environment under env -i, exit 78", systemd)

    # 4. nginx env lines survive a binary upgrade; without them the shim is lost.
    if os.path.exists("/usr/sbin/nginx"):
        def upgrade_with():
            r = nginx_upgrade(Paths(build, top, policy), docroot,
                              os.path.join(top, "recipe-nginx-env"), True)
            return H.expect_custom(r)
        attempt("nginx binary upgrade keeps the shim with env lines", upgrade_with)

        def upgrade_without():
            r = nginx_upgrade(Paths(build, top, policy), docroot,
                              os.path.join(top, "recipe-nginx-noenv"), False)
            return [] if r.get("x-hs-class") is None else \
                ["without env lines the upgraded nginx still had the shim: the test proves nothing"]
        attempt("nginx binary upgrade loses the shim without env lines", upgrade_without)

    # 5. Apache envvars: what a sourced copy exports.
    if os.path.exists("/etc/apache2/envvars"):
        def envvars():
            s = scratch("apache")
            p = Paths(build, s, policy)
            copy = os.path.join(s, "envvars")
            shutil.copy("/etc/apache2/envvars", copy)
            with open(copy, "a") as f:
                f.write("\n" + p.swap(doc_block("5.", "sh")))
            out = subprocess.run(["env", "-i", "PATH=" + BASE_PATH, "sh", "-c", ". %s && env" % copy],
                                 capture_output=True, text=True, timeout=10).stdout
            got = dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)
            problems = []
            for k, v in (("LD_PRELOAD", p.lib), ("HEADERSHIM_POLICY", policy)):
                if got.get(k) != v:
                    problems.append("%s: %r, want %r" % (k, got.get(k), v))
            return problems
        attempt("Apache envvars exports the variables", envvars)

    # 6. Tomcat setenv.sh through Debian's catalina.sh, under env -i.
    home = "/usr/share/tomcat10"
    if os.path.exists(os.path.join(home, "bin/catalina.sh")):
        def tomcat():
            s = scratch("tomcat")
            p = Paths(build, s, policy)
            for d in ("bin", "conf", "logs", "temp", "work", "webapps/ROOT"):
                os.makedirs(os.path.join(s, d))
            with open(os.path.join(s, "bin/setenv.sh"), "w") as f:
                f.write(p.swap(doc_block("6.", "sh")))
            port = free_port()
            with open(os.path.join(HERE, "tomcat/server.xml")) as f:
                xml = f.read().replace("@PORT@", str(port))
            with open(os.path.join(s, "conf/server.xml"), "w") as f:
                f.write(xml)
            for n in ("web.xml", "context.xml", "catalina.properties", "logging.properties"):
                shutil.copy(os.path.join(home, "etc", n), os.path.join(s, "conf"))
            shutil.copy(os.path.join(HERE, "tomcat/hello.jsp"), os.path.join(s, "webapps/ROOT"))
            env = {"PATH": BASE_PATH, "CATALINA_BASE": s, "CATALINA_HOME": home}
            proc = run_server([os.path.join(home, "bin/catalina.sh"), "run"], env, port, 90)
            try:
                r = H.fetch(port, "GET", "/hello.jsp")
                return H.expect_custom(r) + ([] if r.status == 200 else ["status %d" % r.status])
            finally:
                stop(proc)
        attempt("Tomcat setenv.sh via catalina.sh run under env -i", tomcat)

    # 7/8. Docker ENV and Kubernetes env: the environment, with
    # HEADERSHIM_PROCESSES limiting the shim to nginx.
    for label, heading, lang, parse in (("Dockerfile ENV", "7.", "dockerfile", env_from_docker),
                                        ("Kubernetes env", "8.", "yaml", env_from_k8s)):
        def container(heading=heading, lang=lang, parse=parse, label=label):
            s = scratch("container")
            p = Paths(build, s, policy)
            env = parse(doc_block(heading, lang), p)
            if env.get("HEADERSHIM_POLICY") == "auto":
                env["HEADERSHIM_POLICY"] = policy      # custom marks are easier to see
            problems = []
            if env.get("HEADERSHIM_PROCESSES") != "nginx":
                problems.append("HEADERSHIM_PROCESSES=%r, want nginx" % env.get("HEADERSHIM_PROCESSES"))
            # A process that is not nginx is left alone...
            port = free_port()
            proc = run_server(http_server(port, docroot), env, port)
            try:
                r = H.fetch(port, "GET", "/index.html")
                if r.get("x-hs-class") is not None or r.get("server") is None:
                    problems.append("python3 was rewritten despite HEADERSHIM_PROCESSES")
            finally:
                stop(proc)
            # ...and nginx is rewritten.
            if os.path.exists("/usr/sbin/nginx"):
                port = free_port()
                conf = nginx_conf(s, port, docroot, "")
                proc = run_server(["/usr/sbin/nginx", "-p", s, "-c", conf], env, port)
                try:
                    problems += check_custom(port)
                finally:
                    stop(proc)
            return problems
        attempt("%s environment under env -i (HEADERSHIM_PROCESSES)" % label, container)
