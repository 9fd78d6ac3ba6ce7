"""The real-server matrix: each server in the foreground on loopback, with a
scratch configuration, under `headershim -- SERVER`; functional checks under
the `auto` preset and under custom.policy, then a bounded load with sampled
checks and a resident-memory bound.

Usage: matrix.py [--no-shim] [--only NAME,...] [--load-seconds N]
Environment: HS_BUILD (default build), CI=true makes a missing server fail.
Prints one PASS/FAIL/SKIP line per check and ends with "N passed, N failed".
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import hscheck as H
import recipes

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHUNK_BODY = b"".join(b"line %05d of the chunked response\n" % i for i in range(200))
BIG_SIZE = 3 * 1024 * 1024 + 12345      # multi-MiB, and not a round number
DEBIAN_PY = "/usr/bin/python3"           # the servers run Debian's interpreter
MEM_SLACK_KIB = 1024

INDEX_HTML = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>matrix page</title></head>
<body><h1>A page served by a legacy server</h1>
<p>This page is the HTML document of the headershim server matrix. The shim
must give it the website rules of the auto preset.</p>
</body></html>
"""
DATA_JSON = b'{"name": "matrix", "values": [1, 2, 3], "nested": {"ok": true}}\n'


# ------------------------------------------------------------------ results --

class Results:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def check(self, name, problems):
        if problems:
            self.failed += 1
            print("FAIL %s" % name)
            for p in problems[:12]:
                print("     %s" % p)
            if len(problems) > 12:
                print("     ... %d more" % (len(problems) - 12))
        else:
            self.passed += 1
            print("PASS %s" % name)
        sys.stdout.flush()

    def skip(self, name, why):
        self.skipped += 1
        print("SKIP %s: %s" % (name, why))


# ------------------------------------------------------------------ servers --

def render(template, dest, subst):
    with open(os.path.join(HERE, template)) as f:
        text = f.read()
    for k, v in subst.items():
        text = text.replace("@%s@" % k, v)
    with open(dest, "w") as f:
        f.write(text)
    return dest


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One row of the matrix. Subclass attributes describe what it serves."""
    name = ""
    needs = ()                 # executables that must exist
    html = "/index.html"
    json = "/data.json"
    json_static = True         # json path is the docroot file (compare bytes)
    big = "/big.bin"
    missing = "/missing.html"
    conditional = "etag"       # "etag", "ims" or None
    keepalive = True
    pipelining = True          # answers requests that arrive in one segment
    chunked = ()               # paths answered with Transfer-Encoding: chunked
    streamed = ()              # paths whose body is CHUNK_BODY, framing free
    extra = ()                 # (path, check) pairs: check(resp) -> problems
    start_timeout = 20
    gc_path = None             # GET it before reading VmRSS (garbage-collected runtimes)
    tls_run = False            # also run under --tls (TLS terminated in front)
    load_conns = 16
    warmup_seconds = 3

    def command(self, scratch, port, docroot):
        raise NotImplementedError

    def env(self, scratch, docroot):
        return {}


class Nginx(Server):
    name = "nginx-writev"
    tls_run = True
    needs = ("/usr/sbin/nginx",)
    sendfile = "sendfile off;"
    extra = (("/api/items", "json"),)

    def command(self, scratch, port, docroot):
        os.makedirs(os.path.join(scratch, "tmp"))
        conf = render("nginx/nginx.conf", os.path.join(scratch, "nginx.conf"),
                      {"SCRATCH": scratch, "PORT": str(port), "DOCROOT": docroot,
                       "SENDFILE": self.sendfile})
        return ["/usr/sbin/nginx", "-p", scratch, "-c", conf]


class NginxSendfile(Nginx):
    name = "nginx-sendfile"
    tls_run = False
    sendfile = "sendfile on; tcp_nopush on;"


class Lighttpd(Server):
    name = "lighttpd"
    needs = ("/usr/sbin/lighttpd",)

    def command(self, scratch, port, docroot):
        conf = render("lighttpd/lighttpd.conf", os.path.join(scratch, "lighttpd.conf"),
                      {"SCRATCH": scratch, "PORT": str(port), "DOCROOT": docroot})
        return ["/usr/sbin/lighttpd", "-D", "-f", conf]


class ApacheEvent(Server):
    name = "apache-event"
    needs = ("/usr/sbin/apache2",)
    mpm, cgimod, sendfile = "event", "cgid", "Off"
    mpmconf = ("StartServers 1\nServerLimit 1\nThreadsPerChild 32\n"
               "MaxRequestWorkers 32\nMinSpareThreads 1\nMaxSpareThreads 32\n"
               "ThreadLimit 32\nMaxConnectionsPerChild 0\n")
    chunked = ("/cgi-bin/hello.cgi",)

    def command(self, scratch, port, docroot):
        # httpd runs CGI scripts as www-data: copy the script to the scratch
        # directory, which www-data can reach wherever the tree is cloned.
        cgidir = os.path.join(scratch, "cgi-bin")
        os.makedirs(cgidir)
        os.chmod(cgidir, 0o755)
        shutil.copy(os.path.join(HERE, "cgi/hello.cgi"), cgidir)
        os.chmod(os.path.join(cgidir, "hello.cgi"), 0o755)
        conf = render("apache/httpd.conf", os.path.join(scratch, "httpd.conf"),
                      {"SCRATCH": scratch, "PORT": str(port), "DOCROOT": docroot,
                       "MPM": self.mpm, "CGIMOD": self.cgimod, "SENDFILE": self.sendfile,
                       "CGIDIR": cgidir, "MPMCONF": self.mpmconf})
        return ["/usr/sbin/apache2", "-D", "FOREGROUND", "-f", conf, "-d", scratch]


class ApachePrefork(ApacheEvent):
    name = "apache-prefork-sendfile"
    mpm, cgimod, sendfile = "prefork", "cgi", "On"
    # A fixed set of children, so that resident memory is comparable before
    # and after the load; one connection per child with keep-alive.
    mpmconf = ("StartServers 6\nMinSpareServers 6\nMaxSpareServers 6\n"
               "ServerLimit 6\nMaxRequestWorkers 6\nMaxConnectionsPerChild 0\n")
    load_conns = 4


class BusyBox(Server):
    name = "busybox-httpd"
    tls_run = True
    needs = ("/bin/busybox",)
    keepalive = False
    conditional = "etag"       # If-Modified-Since gets a 200 (servers-io.md)
    streamed = ("/cgi-bin/hello.cgi",)

    def command(self, scratch, port, docroot):
        shutil.copy(os.path.join(HERE, "busybox/httpd.conf"), scratch)
        cgi = os.path.join(docroot, "cgi-bin")
        if not os.path.isdir(cgi):
            os.makedirs(cgi)
            shutil.copy(os.path.join(HERE, "cgi/hello.cgi"), cgi)
        return ["/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:%d" % port,
                "-h", docroot, "-c", os.path.join(scratch, "httpd.conf")]


class PyHttpServer(Server):
    name = "python-http.server"
    needs = (DEBIAN_PY,)
    keepalive = False          # HTTP/1.0: answers the first request, then closes
    conditional = "ims"
    missing = "/missing.html"

    def command(self, scratch, port, docroot):
        return [DEBIAN_PY, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                "--directory", docroot]


class PyHandler(Server):
    name = "python-handler-http11"
    tls_run = True
    needs = (DEBIAN_PY,)
    # A thread per connection: glibc's per-thread malloc arenas keep growing
    # for a while, with or without the shim; warm up as long as the load.
    warmup_seconds = 10
    chunked = ("/chunked",)
    extra = (("/api/items", "json"),)

    def command(self, scratch, port, docroot):
        return [DEBIAN_PY, os.path.join(HERE, "apps/pyapp.py"), str(port), docroot]


class Gunicorn(Server):
    name = "gunicorn"
    # gthread workers answer the first of several pipelined requests and
    # drop the rest (seen without the shim too), so only keep-alive is run.
    pipelining = False
    needs = ("/usr/bin/gunicorn",)
    chunked = ("/chunked",)
    extra = (("/api/items", "json"),)
    missing = "/missing.html"

    def command(self, scratch, port, docroot):
        # gthread workers keep connections alive; sync workers close each one.
        return ["/usr/bin/gunicorn", "--bind", "127.0.0.1:%d" % port,
                "--workers", "2", "--worker-class", "gthread", "--threads", "4",
                "--chdir", os.path.join(HERE, "apps"), "--error-logfile",
                os.path.join(scratch, "error.log"), "wsgiapp:app"]

    def env(self, scratch, docroot):
        return {"HS_DOCROOT": docroot}


class NodeHttp(Server):
    name = "node-http"
    needs = ("node",)
    # V8 grows its heap lazily under load (24 MiB after a 3 s warm-up,
    # without the shim): a full collection before each VmRSS reading, a
    # fixed young generation and a warm-up as long as the load make its
    # resident size comparable.
    warmup_seconds = 10
    gc_path = "/__gc"
    chunked = ("/chunked",)
    extra = (("/api/items", "json"), ("/hello", "html"))

    def command(self, scratch, port, docroot):
        return [shutil.which("node") or "node", "--expose-gc", "--max-semi-space-size=1",
                os.path.join(HERE, "apps/nodeapp.js"),
                str(port), docroot]


class Tomcat(Server):
    name = "tomcat"
    needs = ("/usr/share/tomcat10/bin/bootstrap.jar", "java", "javac")
    html = "/index.html"
    chunked = ("/chunked",)
    extra = (("/hello.jsp", "html"),)
    start_timeout = 90
    warmup_seconds = 15

    def command(self, scratch, port, docroot):
        home = "/usr/share/tomcat10"
        for d in ("conf", "logs", "temp", "work", "webapps"):
            os.makedirs(os.path.join(scratch, d), exist_ok=True)
        render("tomcat/server.xml", os.path.join(scratch, "conf/server.xml"),
               {"PORT": str(port)})
        for f in ("web.xml", "context.xml", "catalina.properties", "logging.properties"):
            shutil.copy(os.path.join(home, "etc", f), os.path.join(scratch, "conf", f))
        app = os.path.join(scratch, "webapps/ROOT")
        shutil.copytree(docroot, app, symlinks=False)
        shutil.copy(os.path.join(HERE, "tomcat/hello.jsp"), app)
        classes = os.path.join(app, "WEB-INF/classes")
        os.makedirs(classes)
        shutil.copy(os.path.join(HERE, "tomcat/web.xml"), os.path.join(app, "WEB-INF"))
        subprocess.run([shutil.which("javac"), "-d", classes, "-cp",
                        os.path.join(home, "lib/servlet-api.jar"),
                        os.path.join(HERE, "tomcat/ChunkedServlet.java")], check=True)
        java = os.path.realpath(shutil.which("java"))
        cp = ":".join(os.path.join(home, "bin", j) for j in ("bootstrap.jar", "tomcat-juli.jar"))
        # A heap of fixed size, touched at start: the VmRSS bound then sees
        # what grows outside the Java heap (the shim's memory is there).
        return [java, "-Xms64m", "-Xmx64m", "-XX:+AlwaysPreTouch", "-XX:+UseSerialGC",
                "-Dcatalina.home=" + home, "-Dcatalina.base=" + scratch,
                "-Djava.io.tmpdir=" + os.path.join(scratch, "temp"),
                "-Djava.util.logging.config.file=" + os.path.join(scratch, "conf/logging.properties"),
                "-Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager",
                "-cp", cp, "org.apache.catalina.startup.Bootstrap", "start"]


SERVERS = [Nginx(), NginxSendfile(), Lighttpd(), ApacheEvent(), ApachePrefork(),
           BusyBox(), PyHttpServer(), PyHandler(), Gunicorn(), NodeHttp(), Tomcat()]


# ------------------------------------------------------------------ running --

def have(exe):
    return os.path.exists(exe) if exe.startswith("/") else shutil.which(exe) is not None


def make_docroot(top):
    d = os.path.join(top, "docroot")
    os.makedirs(d)
    with open(os.path.join(d, "index.html"), "wb") as f:
        f.write(INDEX_HTML)
    with open(os.path.join(d, "data.json"), "wb") as f:
        f.write(DATA_JSON)
    with open(os.path.join(d, "big.bin"), "wb") as f:
        f.write(random.Random(20261129).randbytes(BIG_SIZE))
    os.chmod(top, 0o755)
    os.chmod(d, 0o755)
    for n in os.listdir(d):
        os.chmod(os.path.join(d, n), 0o644)
    return d


class Running:
    def __init__(self, server, policy, args, top, docroot, tls=False):
        self.server = server
        self.scratch = tempfile.mkdtemp(prefix=server.name + "-", dir=top)
        os.chmod(self.scratch, 0o755)
        self.port = free_port()
        self.log = os.path.join(self.scratch, "shim.log")
        argv = server.command(self.scratch, self.port, docroot)
        env = dict(os.environ)
        env.update(server.env(self.scratch, docroot))
        env.pop("LD_PRELOAD", None)
        if not args.no_shim:
            launcher = [os.path.join(args.build, "headershim"), "-p", policy,
                        "--log", "error", "--log-file", self.log]
            if tls:
                launcher.append("--tls")
            launcher.append("--")
            argv = launcher + argv
        self.out = open(os.path.join(self.scratch, "stdout.log"), "wb")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        # Ready means answering HTTP, not just listening: Tomcat binds its
        # port before it has deployed the webapp.
        deadline = time.time() + server.start_timeout
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                try:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: ready\r\nConnection: close\r\n\r\n")
                    if s.recv(16).startswith(b"HTTP/"):
                        break
                finally:
                    s.close()
                raise OSError("no HTTP answer yet")
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError("%s did not start (exit %s): %s" % (
                        server.name, self.proc.returncode, self.output()[-1500:]))
                time.sleep(0.1)

    def output(self):
        try:
            with open(os.path.join(self.scratch, "stdout.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def shim_log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def pids(self):
        """The server process and all its descendants."""
        children = {}
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % p) as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(p))
        out, todo = [], [self.proc.pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo.extend(children.get(p, []))
        return out

    def rss_kib(self):
        total = 0
        for p in self.pids():
            try:
                with open("/proc/%d/status" % p) as f:
                    m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
                if m:
                    total += int(m.group(1))
            except OSError:
                pass
        return total

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        # Children that left the process group (none expected) are not ours
        # to hunt; a server that forked out of its group would show as a
        # port still bound on the next run, which free_port() avoids.
        self.out.close()


# ------------------------------------------------------------------- checks --

def docfile(docroot, path):
    with open(os.path.join(docroot, path.lstrip("/")), "rb") as f:
        return f.read()


def body_problems(server, docroot, r):
    """Does the body match what the path must return?"""
    p = r.request.path
    if r.request.method == "HEAD" or r.status in (304, 404):
        return []
    if p in (server.html, server.big) or (p == server.json and server.json_static):
        want = docfile(docroot, p)
        if r.body != want:
            return ["body of %s differs: %d bytes, sha256 %s, want %d bytes" % (
                p, len(r.body), r.sha256()[:16], len(want))]
    if p in server.chunked or p in server.streamed:
        if r.body != CHUNK_BODY:
            return ["streamed body of %s differs (%d bytes)" % (p, len(r.body))]
    return []


def run_functional(server, port, docroot, res, label, expect):
    """The per-response checks; `expect(resp)` judges the header block."""
    def judge(name, responses, statuses=None):
        problems = []
        for i, r in enumerate(responses):
            if statuses and r.status != statuses[i]:
                problems.append("%r: status %d, want %d" % (r.request, r.status, statuses[i]))
            problems += ["%r: %s" % (r.request, p) for p in expect(r)]
            problems += body_problems(server, docroot, r)
        res.check("%s/%s/%s" % (server.name, label, name), problems)

    def attempt(name, fn):
        try:
            fn()
        except (OSError, H.ProtocolError, ValueError) as e:
            res.check("%s/%s/%s" % (server.name, label, name), ["%s: %s" % (type(e).__name__, e)])

    attempt("html", lambda: judge("html", [H.fetch(port, "GET", server.html)], [200]))

    def json_check():
        r = H.fetch(port, "GET", server.json)
        extra = [] if json.loads(r.body) else ["empty JSON"]
        judge("json", [r], [200])
        if extra:
            res.check("%s/%s/json-parse" % (server.name, label), extra)
    attempt("json", json_check)

    def big():
        r = H.fetch(port, "GET", server.big)
        judge("big-file-sha256", [r], [200])
    attempt("big-file-sha256", big)
    attempt("404", lambda: judge("404", [H.fetch(port, "GET", server.missing)], [404]))
    attempt("head", lambda: judge("head", [H.fetch(port, "HEAD", server.html, host="alt.test")], [200]))

    if server.conditional:
        def cond():
            first = H.fetch(port, "GET", server.html)
            if server.conditional == "etag":
                tag = first.get("etag")
                hdr = ("If-None-Match", tag)
            else:
                tag = first.get("last-modified")
                hdr = ("If-Modified-Since", tag)
            if not tag:
                res.check("%s/%s/conditional-304" % (server.name, label),
                          ["no validator in %r" % first.headers])
                return
            judge("conditional-304", [H.fetch(port, "GET", server.html, headers=[hdr])], [304])
        attempt("conditional-304", cond)

    if server.keepalive:
        attempt("keep-alive", lambda: judge("keep-alive", H.exchange(port, [
            H.Request("GET", server.json), H.Request("GET", server.html, host="alt.test"),
            H.Request("GET", server.missing)]), [200, 200, 404]))
    if server.keepalive and server.pipelining:
        attempt("pipelined", lambda: judge("pipelined", H.exchange(port, [
            H.Request("GET", server.html), H.Request("HEAD", server.json, host="alt.test"),
            H.Request("GET", server.missing), H.Request("GET", server.big),
            H.Request("GET", server.json)], pipeline=True), [200, 200, 404, 200, 200]))
    elif not server.keepalive:
        # The server answers the first request and closes (servers-io.md 2).
        attempt("pipelined-first", lambda: judge("pipelined-first", H.exchange(port, [
            H.Request("GET", server.html, host="alt.test"), H.Request("GET", server.json)],
            pipeline=True, answered=1), [200]))

    for path in server.chunked:
        def ch(path=path):
            r = H.fetch(port, "GET", path)
            problems = [] if r.chunked else ["%s was not sent chunked" % path]
            res.check("%s/%s/chunked-framing %s" % (server.name, label, path), problems)
            judge("chunked %s" % path, [r], [200])
        attempt("chunked %s" % path, ch)
    for path in server.streamed:
        attempt("streamed %s" % path,
                lambda path=path: judge("streamed %s" % path, [H.fetch(port, "GET", path)], [200]))
    for path, kind in server.extra:
        def ex(path=path, kind=kind):
            r = H.fetch(port, "GET", path)
            problems = []
            if kind == "json":
                try:
                    json.loads(r.body)
                except ValueError as e:
                    problems.append("bad JSON from %s: %s" % (path, e))
            elif b"<" not in r.body:
                problems.append("no HTML from %s" % path)
            res.check("%s/%s/body %s" % (server.name, label, path), problems)
            judge("dynamic %s" % path, [r], [200])
        attempt("dynamic %s" % path, ex)


WRK_LUA = """
local paths = {}
local i = 0
init = function(args) for _, p in ipairs(args) do paths[#paths + 1] = p end end
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
"""


def wrk(port, paths, seconds, conns, top):
    lua = os.path.join(top, "rotate.lua")
    if not os.path.exists(lua):
        with open(lua, "w") as f:
            f.write(WRK_LUA.replace("%%", "%"))
    out = subprocess.run(["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds, "--timeout", "5s",
                          "-s", lua, "http://127.0.0.1:%d" % port, "--"] + list(paths),
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    reqs = re.search(r"(\d+) requests in", out)
    errors = []
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m and any(int(x) for x in m.groups()):
        errors.append("wrk socket errors: " + m.group(0))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors.append("wrk: %s non-2xx/3xx responses" % m.group(1))
    if not reqs:
        errors.append("wrk printed no request count: %s" % out[-500:])
    return (int(reqs.group(1)) if reqs else 0), errors


def run_load(server, run, docroot, res, seconds, top, expect, label):
    name = "%s/%s/load" % (server.name, label)
    if not have("wrk"):
        res.check(name, ["wrk is not installed"])
        return
    paths = [server.html, server.json]
    samples, sample_problems = [0], []

    def sampler(stop):
        k = 0
        while not stop.is_set():
            path = (server.html, server.json, server.big)[k % 3]
            k += 1
            try:
                r = H.fetch(run.port, "GET", path)
                pr = expect(r) + body_problems(server, docroot, r)
                if r.status != 200:
                    pr.append("status %d" % r.status)
                sample_problems.extend("%s: %s" % (path, p) for p in pr)
                samples[0] += 1
            except (OSError, H.ProtocolError) as e:
                sample_problems.append("%s: %s" % (path, e))
            time.sleep(0.05)

    def loaded(seconds):
        """wrk plus the sampler (big files included), so that the warm-up
        exercises every code path the measured load does."""
        stop = threading.Event()
        t = threading.Thread(target=sampler, args=(stop,))
        t.start()
        try:
            return wrk(run.port, paths, seconds, server.load_conns, top)
        finally:
            stop.set()
            t.join()
            time.sleep(1)

    def rss():
        if server.gc_path:
            for _ in range(2):
                H.fetch(run.port, "GET", server.gc_path)
                time.sleep(0.5)
        return run.rss_kib()

    _, errs = loaded(server.warmup_seconds)
    before = rss()
    samples[0] = 0
    count, load_errs = loaded(seconds)
    after = rss()
    rounds = [(before, after)]
    # A garbage-collected or arena-growing runtime may still be settling
    # after the warm-up; a leak grows on every round, settling does not. So
    # a round over the bound counts as more warm-up, at most twice, and the
    # figures of every round are printed.
    while after - before > MEM_SLACK_KIB and len(rounds) < 3:
        before = after
        more, more_errs = loaded(seconds)
        count += more
        load_errs += more_errs
        after = rss()
        rounds.append((before, after))
    problems = errs + load_errs + sample_problems[:20]
    if samples[0] < 10:
        problems.append("only %d sampled responses" % samples[0])
    print("     load: %d requests in %ds over %d connections, %d samples checked, VmRSS %s" % (
        count, seconds * len(rounds), server.load_conns, samples[0],
        "; ".join("%d -> %d KiB (%+d)" % (b, a, a - b) for b, a in rounds)))
    res.check(name, problems)
    res.check("%s/%s/memory" % (server.name, label),
              [] if after - before <= MEM_SLACK_KIB else
              ["VmRSS grew by more than %d KiB in each of %d rounds: %s" % (
                  MEM_SLACK_KIB, len(rounds), rounds)])


def log_problems(run):
    """The shim logs at level error only; any desync/oversize line is a bug
    the client-side checks might not have seen."""
    bad = [ln for ln in run.shim_log().splitlines()
           if '"event":"desync"' in ln or '"event":"oversize"' in ln
           or '"event":"error"' in ln]
    return ["shim log: " + ln[:300] for ln in bad[:5]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-shim", action="store_true",
                    help="run the servers without the shim (checks they are untouched)")
    ap.add_argument("--only", default="")
    ap.add_argument("--load-seconds", type=int, default=int(os.environ.get("HS_LOAD_SECONDS", "10")))
    ap.add_argument("--no-load", action="store_true")
    args = ap.parse_args()
    args.build = os.path.abspath(os.path.join(ROOT, os.environ.get("HS_BUILD", "build")))
    ci = os.environ.get("CI") == "true"
    res = Results()
    only = set(filter(None, args.only.split(",")))
    top = tempfile.mkdtemp(prefix="hs-servers-")
    os.chmod(top, 0o755)
    docroot = make_docroot(top)
    custom = os.path.join(HERE, "custom.policy")
    if not args.no_shim:
        for f in ("headershim", "libheadershim.so"):
            if not os.path.exists(os.path.join(args.build, f)):
                res.check("build", ["%s/%s is missing: run make first" % (args.build, f)])
                print("%d passed, %d failed" % (res.passed, res.failed))
                return 1
    try:
        for server in SERVERS:
            if only and server.name not in only:
                continue
            missing = [n for n in server.needs if not have(n)]
            if missing:
                why = "not installed: %s (tools/ci-install-servers.sh installs it)" % ", ".join(missing)
                if ci:
                    res.check(server.name, [why])
                else:
                    res.skip(server.name, why)
                continue
            runs = [("noshim", H.expect_untouched)] if args.no_shim else \
                [("auto", H.expect_auto), ("custom", H.expect_custom)]
            if server.tls_run and not args.no_shim:
                runs.append(("auto-tls", H.expect_auto_tls))
            for label, expect in runs:
                policy = custom if label == "custom" else "auto"
                try:
                    run = Running(server, policy, args, top, docroot, tls=(label == "auto-tls"))
                except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
                    res.check("%s/%s/start" % (server.name, label), [str(e)])
                    continue
                try:
                    run_functional(server, run.port, docroot, res, label, expect)
                    if label in ("auto", "noshim") and not args.no_load:
                        run_load(server, run, docroot, res, args.load_seconds, top, expect, label)
                finally:
                    run.stop()
                if not args.no_shim:
                    res.check("%s/%s/shim-log-clean" % (server.name, label), log_problems(run))
        if not args.no_shim and (not only or "recipes" in only):
            recipes.run(res, args.build, top, docroot)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    skipped = ", %d skipped" % res.skipped if res.skipped else ""
    print("%d passed, %d failed%s" % (res.passed, res.failed, skipped))
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
