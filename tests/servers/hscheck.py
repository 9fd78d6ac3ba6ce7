"""Raw-socket HTTP/1.1 client and the header expectations of the matrix.

The client sends exact request bytes (one at a time, keep-alive, or
pipelined in one segment) and parses exactly what came back, so framing
damage (a wrong Content-Length, a broken chunk, a response glued to the
previous body) shows up as a parse error rather than being smoothed over
by a library. The expectations encode ../../shared/design/PRESETS.md
(`auto`) and tests/servers/custom.policy.
"""
import hashlib
import socket

TIMEOUT = 10.0

# PRESETS.md values, copied from the contract on purpose: if the presets
# drift from the contract, this is where it shows.
WEBSITE = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'self'",
    "x-frame-options": "SAMEORIGIN",
    "referrer-policy": "strict-origin-when-cross-origin",
    "permissions-policy": "accelerometer=(), camera=(), geolocation=(), "
    "gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()",
    "cross-origin-opener-policy": "same-origin-allow-popups",
    "cross-origin-resource-policy": "same-site",
    "x-xss-protection": "0",
}
API = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
}
# Headers any of the rule sets may add as a default; a response of a class
# that does not default one must not carry it (our servers never send them).
ALL_DEFAULTED = ("content-security-policy", "x-frame-options", "referrer-policy",
                 "permissions-policy", "cross-origin-opener-policy",
                 "cross-origin-resource-policy", "strict-transport-security")
# A sample of the strip list, the ones real servers and our apps send.
STRIPPED = ("server", "x-powered-by", "x-aspnet-version", "x-generator",
            "x-varnish-cache", "x-kong-upstream-latency")

API_TYPES = ("application/json", "application/x-ndjson", "application/xml",
             "text/xml", "text/event-stream")
HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = ("application/rss+xml", "application/x-rss+xml",
              "application/atom+xml", "image/svg+xml")


class ProtocolError(Exception):
    pass


class Response:
    def __init__(self):
        self.version = self.reason = ""
        self.status = 0
        self.headers = []        # [(name, value)] as sent
        self.raw_header = b""
        self.body = b""
        self.chunked = False
        self.request = None      # the Request it answers

    def get_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def get(self, name):
        v = self.get_all(name)
        return v[0] if v else None

    def media_type(self):
        ct = self.get("content-type")
        if ct is None:
            return None
        mt = ct.split(";")[0].strip().lower()
        return mt or None

    def sha256(self):
        return hashlib.sha256(self.body).hexdigest()


class Request:
    def __init__(self, method, path, host="127.0.0.1", headers=(), body=b""):
        self.method, self.path, self.host = method, path, host
        self.headers, self.body = list(headers), body

    def bytes(self):
        lines = ["%s %s HTTP/1.1" % (self.method, self.path), "Host: " + self.host,
                 "User-Agent: hscheck"]
        lines += ["%s: %s" % kv for kv in self.headers]
        if self.body:
            lines.append("Content-Length: %d" % len(self.body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    def __repr__(self):
        return "%s %s (Host %s)" % (self.method, self.path, self.host)


class Reader:
    """Buffered reads from a socket; EOF is a ProtocolError unless allowed."""

    def __init__(self, sock):
        self.sock, self.buf, self.eof = sock, b"", False

    def _fill(self):
        if self.eof:
            return False
        data = self.sock.recv(262144)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def until(self, marker, limit=1 << 20):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out, self.buf = self.buf[:i + len(marker)], self.buf[i + len(marker):]
                return out
            if len(self.buf) > limit:
                raise ProtocolError("no %r within %d bytes" % (marker, limit))
            if not self._fill():
                raise ProtocolError("connection closed while waiting for %r (have %r)"
                                    % (marker, self.buf[:200]))

    def exactly(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise ProtocolError("connection closed with %d of %d body bytes"
                                    % (len(self.buf), n))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self):
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out


def read_response(rd, request):
    r = Response()
    r.request = request
    # Header block: status line through the first empty line (CRLF or LF).
    block = b""
    while True:
        line = rd.until(b"\n")
        block += line
        if line in (b"\r\n", b"\n"):
            if not block.startswith(b"HTTP/"):
                raise ProtocolError("response does not start with a status line: %r"
                                    % block[:120])
            status = block.split(b"\n", 1)[0].split(b" ")
            if len(status) >= 2 and status[1][:1] == b"1":   # interim: skip
                block = b""
                continue
            break
    r.raw_header = block
    lines = block.decode("latin-1").split("\n")
    st = lines[0].rstrip("\r").split(" ", 2)
    r.version, r.status = st[0], int(st[1])
    r.reason = st[2] if len(st) > 2 else ""
    for ln in lines[1:]:
        ln = ln.rstrip("\r")
        if not ln:
            continue
        if ":" not in ln:
            raise ProtocolError("malformed header line %r" % ln)
        k, v = ln.split(":", 1)
        if k != k.strip() or not k:
            raise ProtocolError("malformed header name %r" % k)
        r.headers.append((k, v.strip(" \t")))
    # Body framing, RFC 9112 section 6.3.
    if request.method == "HEAD" or r.status in (204, 304) or r.status < 200:
        return r
    te = r.get("transfer-encoding")
    cl = r.get_all("content-length")
    if te is not None:
        if te.strip().lower() != "chunked":
            raise ProtocolError("unexpected Transfer-Encoding %r" % te)
        r.chunked = True
        body = []
        while True:
            size_line = rd.until(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while rd.until(b"\r\n") != b"\r\n":   # trailers
                    pass
                break
            body.append(rd.exactly(size))
            if rd.exactly(2) != b"\r\n":
                raise ProtocolError("chunk not followed by CRLF")
        r.body = b"".join(body)
    elif cl:
        if len(set(cl)) != 1:
            raise ProtocolError("conflicting Content-Length %r" % cl)
        r.body = rd.exactly(int(cl[0]))
    else:
        r.body = rd.rest()
    return r


def connect(port, host="127.0.0.1"):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def exchange(port, requests, pipeline=False, answered=None):
    """Send requests on one connection, one after the other or all in one
    segment, and return the parsed responses. `answered` limits how many
    responses are read (servers that close after the first)."""
    n = len(requests) if answered is None else answered
    s = connect(port)
    try:
        rd = Reader(s)
        out = []
        if pipeline:
            s.sendall(b"".join(r.bytes() for r in requests))
            for req in requests[:n]:
                out.append(read_response(rd, req))
        else:
            for req in requests[:n]:
                s.sendall(req.bytes())
                out.append(read_response(rd, req))
        return out
    finally:
        s.close()


def fetch(port, method, path, host="127.0.0.1", headers=()):
    req = Request(method, path, host, headers)
    req.headers.append(("Connection", "close"))
    return exchange(port, [req])[0]


# ---------------------------------------------------------------- classes --

def auto_class(media_type):
    """PRESETS.md `auto`: the first row that matches wins."""
    if media_type is None:
        return "none"
    if media_type in HTML_TYPES:
        return "website"
    if media_type in FEED_TYPES:
        return "static"
    if (media_type in API_TYPES or
            (media_type.startswith("application/") and
             (media_type.endswith("+json") or media_type.endswith("+xml")))):
        return "api"
    return "static"       # script rules check the same headers as static


def _check_common(r, problems, tls):
    for name in STRIPPED:
        if r.get(name) is not None:
            problems.append("%s not removed" % name)
    # The block keeps the status line's line ending throughout.
    eol = b"\r\n" if r.raw_header.split(b"\n", 1)[0].endswith(b"\r") else b"\n"
    body_lines = r.raw_header.split(b"\n")[:-1]
    for ln in body_lines:
        if (eol == b"\r\n") != ln.endswith(b"\r"):
            problems.append("mixed line endings in header block")
            break
    if not tls and r.get("strict-transport-security") is not None:
        problems.append("HSTS sent over plain HTTP")


def _want(r, problems, name, value):
    got = r.get_all(name)
    if got != [value]:
        problems.append("%s: want %r, got %r" % (name, value, got))


def _absent(r, problems, names):
    for n in names:
        if r.get(n) is not None:
            problems.append("%s should be absent, got %r" % (n, r.get(n)))


HSTS = "max-age=63072000"


def expect_auto_tls(r):
    """`auto` with HEADERSHIM_TLS=on (TLS terminated in front): HSTS on every
    response, 304s and responses without a Content-Type included, and the
    website CSP's defaulted value gains upgrade-insecure-requests."""
    return expect_auto(r, tls=True)


def expect_auto(r, tls=False):
    """Problems with a response served under the `auto` preset."""
    problems = []
    _check_common(r, problems, tls)
    cls = auto_class(r.media_type())
    if tls:
        _want(r, problems, "strict-transport-security", HSTS)
    if r.status == 304:
        # Removes and sets as usual, but no default header (RFC 9111 4.3.4).
        defaulted = tuple(h for h in ALL_DEFAULTED if h != "strict-transport-security" or not tls)
        _absent(r, problems, defaulted + ("cache-control",) if cls == "api" else defaulted)
        if cls != "none":
            _want(r, problems, "x-content-type-options", "nosniff")
        if cls == "website":
            _want(r, problems, "x-xss-protection", "0")
        if cls == "api":
            _absent(r, problems, ("x-xss-protection",))
        return problems
    if cls == "website":
        for k, v in WEBSITE.items():
            if tls and k == "content-security-policy":
                v += "; upgrade-insecure-requests"
            _want(r, problems, k, v)
    elif cls == "api":
        for k, v in API.items():
            _want(r, problems, k, v)
        _absent(r, problems, ("x-xss-protection", "permissions-policy",
                              "cross-origin-opener-policy"))
    elif cls == "static":
        _want(r, problems, "x-content-type-options", "nosniff")
        _absent(r, problems, [h for h in ALL_DEFAULTED if h != "strict-transport-security" or not tls])
        if r.get("cache-control") == "no-store":
            problems.append("static response got Cache-Control: no-store")
    else:
        _absent(r, problems, [h for h in ("x-content-type-options",) + ALL_DEFAULTED
                              if h != "strict-transport-security" or not tls])
    return problems


def _glob(pattern, s):
    import fnmatch
    return fnmatch.fnmatchcase(s, pattern.replace("[", "[[]").replace("?", "[?]"))


def expect_custom(r):
    """Problems with a response served under tests/servers/custom.policy."""
    problems = []
    _check_common(r, problems, False)
    req = r.request
    mt = r.media_type()
    if mt is None:
        _absent(r, problems, ("x-content-type-options",))
    else:
        _want(r, problems, "x-content-type-options", "nosniff")
    if r.status == 404:
        _want(r, problems, "x-hs-status", "not found")
    else:
        _absent(r, problems, ("x-hs-status",))
    if 200 <= r.status < 300 and mt in HTML_TYPES:
        _want(r, problems, "x-hs-class", "page")
        _want(r, problems, "content-security-policy", "default-src 'self'")
    elif mt == "application/json":
        _want(r, problems, "x-hs-class", "data")
        _want(r, problems, "cache-control", "no-store")
    else:
        _absent(r, problems, ("x-hs-class", "content-security-policy"))
    if req.method == "HEAD":
        _want(r, problems, "x-hs-method", "head")
    else:
        _absent(r, problems, ("x-hs-method",))
    path = req.path.split("?")[0]
    if _glob("/api/*", path) or _glob("*.json", path):
        _want(r, problems, "x-hs-path", "api")
    else:
        _absent(r, problems, ("x-hs-path",))
    if req.host.split(":")[0].lower() == "alt.test":
        _want(r, problems, "x-hs-host", "alt")
    else:
        _absent(r, problems, ("x-hs-host",))
    # Nothing of `auto` may leak in: the custom policy is what was loaded.
    _absent(r, problems, ("x-frame-options", "referrer-policy", "permissions-policy"))
    return problems


def expect_untouched(r):
    """Without the shim: the server's own headers, none of ours."""
    problems = []
    for n in ("x-frame-options", "permissions-policy", "x-hs-class"):
        if r.get(n) is not None:
            problems.append("%s present without the shim" % n)
    return problems
