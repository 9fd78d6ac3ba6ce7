"""A Python handler speaking HTTP/1.1 (keep-alive, pipelining) that serves
the matrix's docroot, a JSON API and a hand-chunked response: send(H), then
three sends per chunk (servers-io.md section 2, "Python handler").
Usage: pyapp.py PORT DOCROOT"""
import email.utils
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DOCROOT = sys.argv[2]
TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json",
         ".bin": "application/octet-stream", ".js": "text/javascript",
         ".txt": "text/plain"}
CHUNK_LINES = [b"line %05d of the chunked response\n" % i for i in range(200)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LegacyPy/0.9"

    def log_message(self, *args):
        pass

    def _head(self, status, ctype, length=None, extra=()):
        self.send_response(status)
        self.send_header("X-Powered-By", "Python/legacy")
        if ctype:
            self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_GET(self, head=False):
        path = self.path.split("?")[0]
        if path == "/api/items":
            body = json.dumps({"items": [1, 2, 3], "source": "pyapp"}).encode()
            self._head(200, "application/json", len(body))
            if not head:
                self.wfile.write(body)
            return
        if path == "/chunked":
            self._head(200, "text/plain", extra=[("Transfer-Encoding", "chunked")])
            if head:
                return
            for i in range(0, len(CHUNK_LINES), 20):
                data = b"".join(CHUNK_LINES[i:i + 20])
                self.wfile.write(b"%x\r\n" % len(data))
                self.wfile.write(data)
                self.wfile.write(b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        fs = os.path.join(DOCROOT, path.lstrip("/") or "index.html")
        if path == "/":
            fs = os.path.join(DOCROOT, "index.html")
        if not os.path.isfile(fs):
            body = json.dumps({"error": "not found", "path": path}).encode()
            self._head(404, "application/json", len(body))
            if not head:
                self.wfile.write(body)
            return
        st = os.stat(fs)
        etag = '"%x-%x"' % (int(st.st_mtime), st.st_size)
        if self.headers.get("If-None-Match") == etag:
            self._head(304, None, extra=[("ETag", etag)])
            return
        ctype = TYPES.get(os.path.splitext(fs)[1], "application/octet-stream")
        self._head(200, ctype, st.st_size,
                   [("ETag", etag), ("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))])
        if not head:
            with open(fs, "rb") as f:
                while True:
                    data = f.read(65536)
                    if not data:
                        break
                    self.wfile.write(data)


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
