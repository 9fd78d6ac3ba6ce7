// A real browser proves the shim's headers work (issue 5, part 2).
//
// Debian's Chromium, driven by playwright-core (no browser download), loads
// pages from a legacy server (Python's http.server, which sends no security
// header of its own) started under `headershim --`, and a page from a second
// origin (another port, no shim) that frames it. Three runs:
//   shim      enforce: framing blocked, inline script blocked, same-origin
//             script runs, text/plain script refused (nosniff), same-origin
//             frame loads;
//   report    HEADERSHIM_CSP=report-only: the inline script runs and the
//             violation is reported;
//   noshim    the same server without the shim: every protection is absent
//             (so the assertions above can fail).
// Usage: node browser_check.js BUILD_DIR   (prints "N passed, N failed")
'use strict';
const { chromium } = require('playwright-core');
const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const BUILD = path.resolve(process.argv[2] || path.join(__dirname, '../../build'));
const CHROMIUM = process.env.HS_CHROMIUM || '/usr/bin/chromium';
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
let passed = 0, failed = 0;

function check(name, ok, detail) {
  if (ok) { passed++; console.log(`PASS browser/${name}`); }
  else { failed++; console.log(`FAIL browser/${name}: ${detail}`); }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

function waitPort(port, child, ms) {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const c = net.connect(port, '127.0.0.1');
      c.on('connect', () => { c.destroy(); resolve(); });
      c.on('error', () => {
        if (child.exitCode !== null) return reject(new Error(`server exited ${child.exitCode}`));
        if (Date.now() > end) return reject(new Error(`port ${port} never opened`));
        setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

async function startServer(dir, port, mode) {
  const base = [PYTHON, '-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', dir];
  let argv = base;
  if (mode === 'shim') argv = [path.join(BUILD, 'headershim'), '--', ...base];
  if (mode === 'report') argv = [path.join(BUILD, 'headershim'), '--csp-report-only', '--', ...base];
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.on('error', (e) => { err += e.message; });
  child.stderr.on('data', (d) => { err += d; });
  try { await waitPort(port, child, 15000); }
  catch (e) { throw new Error(`${argv.join(' ')}: ${e.message}\n${err.slice(-800)}`); }
  return child;
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.on('exit', resolve);
    child.kill('SIGTERM');
  });
}

// What one frame shows: its URL and the start of its text, or the error
// page Chromium puts in place of a document it refused to frame.
async function frameState(frame) {
  try {
    const s = await frame.evaluate(() => ({
      href: location.href,
      text: document.body ? document.body.innerText.slice(0, 200) : '',
      sameRan: window.sameRan === true,
    }));
    const loaded = !s.href.startsWith('chrome-error:') && s.href !== 'about:blank';
    return { loaded, ...s };
  } catch (e) {
    return { loaded: false, href: frame.url(), text: '', error: e.message };
  }
}

async function observe(browser, shimPort, otherPort) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(m.text()));
  await page.goto(`http://127.0.0.1:${shimPort}/page.html`, { waitUntil: 'load' });
  await page.waitForTimeout(300);  // violation events are queued as tasks
  const own = await page.evaluate(() => ({
    inlineRan: window.inlineRan === true,
    sameRan: window.sameRan === true,
    plainRan: window.plainRan === true,
    innerLoaded: window.innerLoaded === true,
    violations: window.violations || [],
  }));
  own.console = consoleLines.join('\n');

  const other = await ctx.newPage();
  await other.goto(`http://127.0.0.1:${otherPort}/other.html`, { waitUntil: 'load' });
  await other.waitForTimeout(500);
  const frames = {};
  for (const id of ['framepage', 'framejson']) {
    const handle = await other.$(`#${id}`);
    const f = handle && await handle.contentFrame();
    frames[id] = f ? await frameState(f) : { loaded: false, href: '(no frame)', text: '' };
  }
  frames.framejson.loaded = frames.framejson.loaded && frames.framejson.text.includes('framable json');
  frames.framepage.loaded = frames.framepage.loaded && frames.framepage.sameRan;
  await ctx.close();
  return { own, frames };
}

async function main() {
  if (!fs.existsSync(CHROMIUM)) {
    console.log(`FAIL browser/setup: ${CHROMIUM} is missing (tools/ci-install-servers.sh installs it)`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-browser-'));
  const site = path.join(__dirname, 'site');
  const otherDir = path.join(tmp, 'other');
  fs.mkdirSync(otherDir);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const children = [];
  try {
    for (const mode of (process.env.HS_BROWSER_MODES || 'shim,report,noshim').split(',')) {
      const shimPort = await freePort();
      const otherPort = await freePort();
      fs.writeFileSync(path.join(otherDir, 'other.html'),
        fs.readFileSync(path.join(__dirname, 'other/other.html.in'), 'utf8').replace(/@PORT@/g, String(shimPort)));
      const legacy = await startServer(site, shimPort, mode);
      children.push(legacy);
      const second = await startServer(otherDir, otherPort, 'noshim');
      children.push(second);
      let r;
      try { r = await observe(browser, shimPort, otherPort); }
      finally { await stop(legacy); await stop(second); }
      const o = r.own, f = r.frames;
      const show = (x) => JSON.stringify(x).slice(0, 400);
      const inlineViolation = o.violations.some((v) => v.blocked === 'inline' && v.directive.startsWith('script-src'));
      if (mode === 'shim') {
        check('shim: other origin cannot frame the HTML page', !f.framepage.loaded, show(f.framepage));
        check('shim: other origin cannot frame the JSON', !f.framejson.loaded, show(f.framejson));
        check('shim: inline script blocked by CSP', !o.inlineRan && inlineViolation &&
              o.violations.some((v) => v.disposition === 'enforce'), show(o));
        check('shim: same-origin script runs', o.sameRan, show(o));
        check('shim: text/plain script refused (nosniff)', !o.plainRan &&
              /MIME type \('text\/plain'\).*strict MIME type checking is enabled/s.test(o.console), show(o));
        check('shim: same-origin frame loads', o.innerLoaded, show(o));
      } else if (mode === 'report') {
        check('report-only: inline script runs', o.inlineRan, show(o));
        check('report-only: violation reported', inlineViolation &&
              o.violations.every((v) => v.disposition === 'report'), show(o));
        check('report-only: frames still blocked (X-Frame-Options)',
              !f.framepage.loaded && !f.framejson.loaded, show(f));
      } else {
        // Without the shim each protection is absent: the checks above
        // would fail, which is what makes them worth something.
        check('no shim: other origin frames the HTML page', f.framepage.loaded, show(f.framepage));
        check('no shim: other origin frames the JSON', f.framejson.loaded, show(f.framejson));
        check('no shim: inline script runs, no violation', o.inlineRan && o.violations.length === 0, show(o));
        check('no shim: text/plain script runs', o.plainRan, show(o));
        check('no shim: same-origin script and frame work', o.sameRan && o.innerLoaded, show(o));
      }
    }
  } catch (e) {
    check('run', false, e.stack || String(e));
  } finally {
    await browser.close();
    for (const c of children) await stop(c);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main();
