// The built-in web client (gateway/web/) in a real browser: Debian's
// chromium, headless, driven over the DevTools protocol through
// --remote-debugging-pipe (JSON messages ended by a NUL byte: fd 3 to the
// browser, fd 4 from it). No npm packages.
//
// Usage: node tests/browser/browser.mjs PORT EMAIL PASSWORD OUTDIR h2|h1
//   PORT: a TLS gateway (self-signed certificate) serving the client.
//   h1 starts chromium with --disable-http2.
// Two browser contexts (two users: the admin, and one signed up through an
// invite link) chat, upload an image and see it, and join a voice room with
// fake camera and microphone until both RTCPeerConnections are connected.
// Screenshots go to OUTDIR. Prints one line per step ("ok ..." / "FAIL
// ...") and exits non-zero on failure. Bounded: 50 s in all (the test runner allows a test 60 s).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const [port, email, password, outdir, mode] = process.argv.slice(2);
const origin = `https://127.0.0.1:${port}`;
const T0 = Date.now();
const secs = () => ((Date.now() - T0) / 1000).toFixed(1);
const ok = (what) => console.log(`ok ${what} (${secs()} s)`);
let browser = null;
function die(what) {
  console.log(`FAIL ${what} (${secs()} s)`);
  if (browser) browser.kill('SIGKILL');
  process.exit(1);
}
setTimeout(() => die("timed out after 50 s"), 50000).unref();

// ------------------------------------------------------------ the browser

function launch() {
  const profile = fs.mkdtempSync(path.join(outdir, `chromium-${mode}-`));
  const args = [
    '--headless=new', '--remote-debugging-pipe', `--user-data-dir=${profile}`,
    // a root container: no sandbox, no GPU, no /dev/shm
    '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--no-first-run', '--no-default-browser-check', '--mute-audio', '--window-size=1200,800',
    '--ignore-certificate-errors',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    '--autoplay-policy=no-user-gesture-required',
    // loopback host candidates, not mDNS names nobody here resolves
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ];
  if (mode === 'h1') args.push('--disable-http2');
  browser = spawn('chromium', args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  let errTail = '';
  browser.stdio[2].on('data', (d) => { errTail = (errTail + d).slice(-2000); });
  browser.on('exit', (code, sig) => {
    if (!done) die(`chromium exited (${code ?? sig}): ${errTail.split('\n').slice(-5).join(' | ')}`);
  });
  browser.on('error', (e) => die(`cannot start chromium: ${e.message}`));
}

let nextId = 1, done = false;
const waiting = new Map();   // id -> {resolve, reject, method}
const listeners = [];        // (msg) => void, for events

function cdp(method, params = {}, sessionId) {
  const id = nextId++;
  const msg = { id, method, params };
  if (sessionId) msg.sessionId = sessionId;
  browser.stdio[3].write(JSON.stringify(msg) + '\0');
  return new Promise((resolve, reject) => waiting.set(id, { resolve, reject, method }));
}

function readPipe() {
  let acc = Buffer.alloc(0);
  browser.stdio[4].on('data', (chunk) => {
    acc = Buffer.concat([acc, chunk]);
    for (let end; (end = acc.indexOf(0)) >= 0;) {
      const msg = JSON.parse(acc.subarray(0, end).toString('utf8'));
      acc = acc.subarray(end + 1);
      if (msg.id && waiting.has(msg.id)) {
        const w = waiting.get(msg.id);
        waiting.delete(msg.id);
        if (msg.error) w.reject(new Error(`${w.method}: ${msg.error.message}`));
        else w.resolve(msg.result);
      } else {
        for (const l of listeners) l(msg);
      }
    }
  });
}

// ------------------------------------------------------------ one page per user

async function openUser(name) {
  const { browserContextId } = await cdp('Target.createBrowserContext');
  const { targetId } = await cdp('Target.createTarget', { url: 'about:blank', browserContextId });
  const { sessionId } = await cdp('Target.attachToTarget', { targetId, flatten: true });
  const page = { name, sessionId, responses: [], answers: [] };
  listeners.push((m) => {
    if (m.sessionId !== sessionId) return;
    // prompt() and confirm() of the page: answered from page.answers.
    if (m.method === 'Page.javascriptDialogOpening') {
      const a = page.answers.shift();
      cdp('Page.handleJavaScriptDialog', { accept: a !== false, promptText: typeof a === 'string' ? a : '' },
        sessionId).catch((e) => die(e.message));
    }
    if (m.method === 'Network.responseReceived')
      page.responses.push({ url: m.params.response.url, status: m.params.response.status,
        protocol: m.params.response.protocol });
    if (m.method === 'Runtime.exceptionThrown')
      console.log(`  [${name}] exception: ${m.params.exceptionDetails.exception?.description ?? m.params.exceptionDetails.text}`);
    if (m.method === 'Runtime.consoleAPICalled' && (m.params.type === 'error' || m.params.type === 'warning'))
      console.log(`  [${name}] console.${m.params.type}: ${m.params.args.map((a) => a.value ?? a.description).join(' ')}`);
  });
  for (const d of ['Page', 'Runtime', 'Network']) await cdp(`${d}.enable`, {}, sessionId);
  return page;
}

async function evaluate(page, expression) {
  const r = await cdp('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, page.sessionId);
  if (r.exceptionDetails) throw new Error(`${page.name}: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
  return r.result.value;
}

// Polls expression until it is truthy; dies after ms (soft: returns '').
async function waitFor(page, expression, what, ms = 15000, soft = false) {
  const end = Date.now() + ms;
  for (;;) {
    let v;
    try { v = await evaluate(page, expression); } catch { v = undefined; }
    if (v) return v;
    if (Date.now() > end) {
      if (soft) return '';
      // What the page says: its status line or the login form's message.
      const said = await evaluate(page, `[document.getElementById('status')?.textContent,
        document.getElementById('auth-msg')?.textContent].filter(Boolean).join(' / ')`).catch(() => '');
      die(`${page.name}: ${what} not within ${ms} ms${said ? ` (page says: ${said})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function navigate(page, url) {
  await cdp('Page.navigate', { url }, page.sessionId);
  await waitFor(page, `document.readyState === 'complete' && !!window.rebuttal`, `page ${url} loaded`);
}

async function screenshot(page, file) {
  const { data } = await cdp('Page.captureScreenshot', { format: 'png' }, page.sessionId);
  fs.writeFileSync(path.join(outdir, file), Buffer.from(data, 'base64'));
}

const js = (v) => JSON.stringify(v);

async function fillAndSubmit(page, form, values) {
  await evaluate(page, `(() => {
    const f = document.getElementById(${js(form)});
    for (const [k, v] of Object.entries(${js(values)})) f.elements[k].value = v;
    f.requestSubmit();
    return true;
  })()`);
}

async function logIn(page, mail, pw) {
  await fillAndSubmit(page, 'login-form', { email: mail, password: pw });
  await waitFor(page, `!document.getElementById('app').hidden && rebuttal.state.rooms.length > 0`, 'logged in');
}

async function say(page, text) {
  await evaluate(page, `(() => { document.getElementById('text').value = ${js(text)};
    document.getElementById('send').requestSubmit(); return true; })()`);
}

const seesText = (page, text) => waitFor(page,
  `[...document.querySelectorAll('#messages .text')].some((e) => e.textContent === ${js(text)})`,
  `message "${text}" shown`);

// ------------------------------------------------------------ the scenario

async function main() {
  launch();
  readPipe();
  const a = await openUser('A');
  const b = await openUser('B');

  // The client's files, and a second load revalidating them (304).
  await navigate(a, `${origin}/`);
  const first = a.responses.find((r) => r.url.endsWith('/app.js'));
  if (!first || first.status !== 200) die(`first load of app.js: ${js(first)}`);
  const proto = first.protocol;
  if ((mode === 'h2') !== (proto === 'h2')) die(`app.js came over ${proto} in mode ${mode}`);
  a.responses.length = 0;
  await cdp('Page.reload', {}, a.sessionId);
  await waitFor(a, `document.readyState === 'complete' && !!window.rebuttal`, 'reloaded');
  const again = a.responses.find((r) => r.url.endsWith('/app.js'));
  if (!again || again.status !== 304) die(`second load of app.js: ${js(again)}`);
  ok(`client loaded over ${proto}; second load of app.js: 304`);

  await logIn(a, email, password);
  ok('A (admin) logged in');

  // B signs up through an invite link made by A.
  await evaluate(a, `document.getElementById('invite').click(), true`);
  const code = await waitFor(a, `document.getElementById('invite-url').dataset.code`, 'invite made');
  await navigate(b, `${origin}/invite/${code}`);
  await waitFor(b, `location.search === '?invite=${code}' && !document.getElementById('signup-form').hidden`,
    'signup form from the invite link');
  const bMail = `b-${crypto.randomBytes(4).toString('hex')}@example.com`, bPw = 'password-b-123';
  await fillAndSubmit(b, 'signup-form', { userName: `Bea ${mode}`, email: bMail, password: bPw });
  await waitFor(b, `!document.getElementById('login-form').hidden`, 'back at the login form after signing up');
  await logIn(b, bMail, bPw);
  ok('B signed up from the invite link and logged in');

  // Chat both ways.
  const tag = crypto.randomBytes(3).toString('hex');
  await say(a, `hello from A ${tag}`);
  await seesText(b, `hello from A ${tag}`);
  await say(b, `hi A, B here ${tag}`);
  await seesText(a, `hi A, B here ${tag}`);
  ok('A and B each see the other\'s message');

  // A edits, then deletes, its message (prompt and confirm answered).
  const toolOf = (text, tool) => `(() => { const li = [...document.querySelectorAll('#messages li')]
    .find((l) => l.querySelector('.text').textContent === ${js(text)});
    [...li.querySelectorAll('.tools button')].find((b) => b.textContent === ${js(tool)}).click(); return true; })()`;
  a.answers.push(`edited by A ${tag}`);
  await evaluate(a, toolOf(`hello from A ${tag}`, 'edit'));
  await seesText(b, `edited by A ${tag}`);
  a.answers.push(true);
  await evaluate(a, toolOf(`edited by A ${tag}`, 'delete'));
  await seesText(b, 'message removed');
  // A creates a text room (name, then "voice?" answered no); B sees it.
  a.answers.push(`room ${tag}`, false);
  await evaluate(a, `document.getElementById('new-room').click(), true`);
  await waitFor(b, `rebuttal.state.rooms.some((r) => r.name === ${js(`room ${tag}`)} && r.type === 'text')`, 'new room listed');
  ok('A edited and deleted its message, created a room; B saw each');

  // An image drawn on a canvas, attached through the file input.
  await evaluate(a, `new Promise((resolve) => {
    const c = document.createElement('canvas'); c.width = 120; c.height = 80;
    const g = c.getContext('2d');
    g.fillStyle = '#5b9cf5'; g.fillRect(0, 0, 120, 80);
    g.fillStyle = '#f5b942'; g.beginPath(); g.arc(60, 40, 28, 0, 7); g.fill();
    c.toBlob((blob) => {
      const dt = new DataTransfer();
      dt.items.add(new File([blob], 'drawing.png', { type: 'image/png' }));
      document.getElementById('file').files = dt.files;
      document.getElementById('text').value = 'a picture ${tag}';
      document.getElementById('send').requestSubmit();
      resolve(true);
    }, 'image/png');
  })`);
  const shown = `[...document.querySelectorAll('#messages img')].some((i) => i.complete && i.naturalWidth === 120)`;
  await waitFor(b, shown, 'uploaded image rendered');
  await waitFor(a, shown, 'uploaded image rendered');
  ok('image uploaded by A is rendered for both (naturalWidth 120)');

  // History paging: more than a segment (5 messages) later, B reloads and
  // gets only the newest segment; "Load older" brings the earlier ones.
  for (let i = 0; i < 6; i++) await say(a, `filler ${i} ${tag}`);
  await seesText(b, `filler 5 ${tag}`);
  await cdp('Page.reload', {}, b.sessionId);
  await waitFor(b, `document.readyState === 'complete' && !!window.rebuttal`, 'reloaded');
  await logIn(b, bMail, bPw);
  await waitFor(b, `!document.getElementById('older').hidden`, '"Load older messages" offered');
  const before = await evaluate(b, `document.querySelectorAll('#messages li').length`);
  await evaluate(b, `document.getElementById('older').click(), true`);
  await waitFor(b, `document.querySelectorAll('#messages li').length > ${before}`, 'older messages shown');
  ok(`history paging: ${before} messages after a reload, more after "Load older"`);

  // Voice: both join the voice room with fake devices.
  const voiceRoom = await evaluate(a, `rebuttal.state.rooms.find((r) => r.type === 'voice').id`);
  for (const p of [a, b]) {
    await evaluate(p, `document.querySelector('#rooms li[data-id=${js(voiceRoom)}]').click(), true`);
  }
  const connected = `(() => { const s = rebuttal.voice.states(); return s.length > 0 && s.every((x) => x === 'connected'); })()`;
  await waitFor(a, connected, 'RTCPeerConnection connected', 30000);
  await waitFor(b, connected, 'RTCPeerConnection connected', 30000);
  ok('voice room: RTCPeerConnection.connectionState is connected on both');
  // The remote video plays (frames decoded), and someone's talking
  // indicator lit up (the fake microphone beeps).
  await waitFor(a, `[...document.querySelectorAll('#videos video')].some((v) => !v.muted && v.videoWidth > 0)`,
    'remote video playing');
  const talked = await waitFor(b, `document.querySelector('#users li.talking, #rooms .members li.talking') ? 'yes' : ''`,
    'a talking indicator', 10000, true);
  ok(`remote video plays for A; talking indicator seen by B: ${talked || 'no'}`);

  await screenshot(a, `client-${mode}-A.png`);
  await screenshot(b, `client-${mode}-B.png`);
  ok(`screenshots in ${outdir}`);
  done = true;
  await cdp('Browser.close').catch(() => {});
  browser.kill('SIGKILL');
}

main().then(() => {
  console.log(`all ok in ${secs()} s`);
  process.exit(0);
}, (e) => die(e.message));
