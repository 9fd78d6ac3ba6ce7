"""A small WSGI application for gunicorn: docroot files (bodies through
wsgi.file_wrapper, which gunicorn sends with sendfile), a JSON API, and a
generator body without Content-Length, which gunicorn sends chunked.
The docroot comes from HS_DOCROOT."""
import json
import os

DOCROOT = os.environ["HS_DOCROOT"]
TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json",
         ".bin": "application/octet-stream"}
CHUNK_LINES = [b"line %05d of the chunked response\n" % i for i in range(200)]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    base = [("X-Powered-By", "WSGI/legacy")]
    if path == "/api/items":
        body = json.dumps({"items": [1, 2, 3], "source": "wsgi"}).encode()
        start_response("200 OK", base + [("Content-Type", "application/json"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    if path == "/chunked":
        start_response("200 OK", base + [("Content-Type", "text/plain")])
        return (b"".join(CHUNK_LINES[i:i + 20]) for i in range(0, 200, 20))
    fs = os.path.join(DOCROOT, "index.html" if path == "/" else path.lstrip("/"))
    if ".." in path or not os.path.isfile(fs):
        body = b"<!doctype html><title>404</title><p>not found</p>\n"
        start_response("404 Not Found", base + [("Content-Type", "text/html"),
                                                ("Content-Length", str(len(body)))])
        return [body]
    st = os.stat(fs)
    etag = '"%x-%x"' % (int(st.st_mtime), st.st_size)
    if environ.get("HTTP_IF_NONE_MATCH") == etag:
        start_response("304 Not Modified", base + [("ETag", etag)])
        return [b""]
    ctype = TYPES.get(os.path.splitext(fs)[1], "application/octet-stream")
    start_response("200 OK", base + [("Content-Type", ctype), ("ETag", etag),
                                     ("Content-Length", str(st.st_size))])
    f = open(fs, "rb")
    return environ["wsgi.file_wrapper"](f, 65536)
