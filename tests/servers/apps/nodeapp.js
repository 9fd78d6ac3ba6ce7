// A Node.js `http` server: docroot files with Content-Length (big files
// streamed), a JSON document by res.end(string), a string body, and chunked
// res.write() calls (servers-io.md: header and first chunk digits share an
// iovec). Usage: node nodeapp.js PORT DOCROOT
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const [port, docroot] = process.argv.slice(2);
const TYPES = { '.html': 'text/html; charset=utf-8', '.json': 'application/json',
                '.bin': 'application/octet-stream' };
const lines = [];
for (let i = 0; i < 200; i++) lines.push(`line ${String(i).padStart(5, '0')} of the chunked response\n`);

http.createServer((req, res) => {
  const p = req.url.split('?')[0];
  res.setHeader('X-Powered-By', 'Express');
  res.setHeader('Server', 'node-legacy');
  if (p === '/__gc' && global.gc) {
    // The matrix collects garbage before it reads VmRSS: V8 grows its heap
    // lazily under load, which would hide (or fake) a leak in the shim.
    global.gc();
    res.statusCode = 204;
    res.end();
    return;
  }
  if (p === '/api/items') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ items: [1, 2, 3], source: 'node' }));
    return;
  }
  if (p === '/hello') {
    res.setHeader('Content-Type', 'text/html');
    res.end('<!doctype html><title>hello</title><p>string body</p>\n');
    return;
  }
  if (p === '/chunked') {
    res.setHeader('Content-Type', 'text/plain');
    if (req.method === 'HEAD') { res.end(); return; }
    for (let i = 0; i < 200; i += 20) res.write(lines.slice(i, i + 20).join(''));
    res.end();
    return;
  }
  const file = path.join(docroot, p === '/' ? 'index.html' : path.normalize(p));
  fs.stat(file, (err, st) => {
    if (err || !st.isFile()) {
      res.statusCode = 404;
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ error: 'not found' }));
      return;
    }
    const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    res.setHeader('ETag', etag);
    if (req.headers['if-none-match'] === etag) { res.statusCode = 304; res.end(); return; }
    res.setHeader('Content-Type', TYPES[path.extname(file)] || 'application/octet-stream');
    res.setHeader('Content-Length', st.size);
    if (req.method === 'HEAD') { res.end(); return; }
    fs.createReadStream(file).pipe(res);
  });
}).listen(Number(port), '127.0.0.1');
