// Chat clients for tests/containers/run.sh, over a raw WebSocket (node's `net`,
// no npm packages).
//
//   node chat.mjs smoke PORT_A PORT_B        log in through each gateway; a message
//                                            sent through one is seen through the other
//   node chat.mjs traffic STOPFILE PORT...   clients send until STOPFILE exists, then
//                                            check the room's history; prints a summary
//
// Both log in as root@localhost with REBUTTAL_ADMIN_PASSWORD.  `traffic`: SENDERS
// clients (default 4) spread over the gateways, each sending its own numbered
// messages one at a time (the next once the previous came back as `sendMessage`).
// A client whose connection closes (a gateway restarted) reconnects to the next
// gateway that answers and logs in again; a message that was under way is looked up
// in the history and sent again only if it is not there.  Fails on any `error`
// packet, on a message seen twice by one client, and on a history that misses a
// message, holds one twice or has a gap in idx.
import net from 'node:net';
import crypto from 'node:crypto';
import fs from 'node:fs';

const PASSWORD = process.env.REBUTTAL_ADMIN_PASSWORD;
const EMAIL = process.env.REBUTTAL_TEST_EMAIL || 'root@localhost';
const log = (...a) => console.log(`chat.mjs ${new Date().toISOString().slice(11, 23)}`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One WebSocket to 127.0.0.1:port/ipc.  onPacket(obj) for each text frame;
// `closed` resolves with the close code (1006 when the TCP connection just ended).
class WS {
  constructor(port) {
    this.port = port;
    this.waiters = [];
    this.buf = Buffer.alloc(0);
    this.onPacket = () => {};
    this.closed = new Promise((r) => { this.closeResolve = r; });
    this.code = null;
  }
  open(timeoutMs = 3000) {
    return new Promise((resolve, reject) => {
      const key = crypto.randomBytes(16).toString('base64');
      const s = net.connect(this.port, '127.0.0.1');
      this.sock = s;
      let upgraded = false;
      const t = setTimeout(() => { s.destroy(); reject(new Error('open timed out')); }, timeoutMs);
      s.on('error', (e) => { clearTimeout(t); if (!upgraded) reject(e); });
      s.on('close', () => { clearTimeout(t); if (!upgraded) reject(new Error('closed before upgrade')); this.finish(1006); });
      s.on('connect', () => s.write(`GET /ipc HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`));
      s.on('data', (d) => {
        this.buf = Buffer.concat([this.buf, d]);
        if (!upgraded) {
          const end = this.buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = this.buf.subarray(0, end).toString();
          this.buf = this.buf.subarray(end + 4);
          if (!/^HTTP\/1\.1 101/.test(head)) { s.destroy(); clearTimeout(t); reject(new Error(`no upgrade: ${head.split('\r\n')[0]}`)); return; }
          upgraded = true;
          clearTimeout(t);
          resolve(this);
        }
        this.frames();
      });
    });
  }
  finish(code) {
    if (this.code !== null) return;
    this.code = code;
    this.closeResolve(code);
  }
  frames() {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      let len = b[1] & 0x7f, off = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10; }
      if (b.length < off + len) return;
      const op = b[0] & 0x0f, payload = b.subarray(off, off + len);
      this.buf = b.subarray(off + len);
      // The server sends whole messages (no fragments) to these small packets.
      if (op === 1) this.onPacket(JSON.parse(payload.toString()));
      else if (op === 8) { this.finish(len >= 2 ? payload.readUInt16BE(0) : 1005); this.sock.end(); }
      else if (op === 9) this.write(10, payload);
    }
  }
  write(op, data) {
    const p = Buffer.from(data), mask = crypto.randomBytes(4);
    const head = p.length < 126 ? Buffer.from([0x80 | op, 0x80 | p.length])
      : Buffer.from([0x80 | op, 0x80 | 126, p.length >> 8, p.length & 0xff]);
    const body = Buffer.alloc(p.length);
    for (let i = 0; i < p.length; i++) body[i] = p[i] ^ mask[i & 3];
    if (!this.sock.destroyed) this.sock.write(Buffer.concat([head, mask, body]));
  }
  send(obj) { this.write(1, JSON.stringify(obj)); }
  close() { this.write(8, Buffer.from([0x03, 0xe8])); setTimeout(() => this.sock.destroy(), 200); }
}

// A logged-in connection with a packet queue: next(pred, ms) waits for the first
// packet (from now on or already queued) that pred accepts.
class Client {
  constructor(name) { this.name = name; this.errors = []; this.seen = new Map(); this.dups = []; this.onMessage = () => {}; }
  async connect(port) {
    this.ws = new WS(port);
    this.port = port;
    this.queue = [];
    this.waiters = [];
    this.ws.onPacket = (p) => this.packet(p);
    await this.ws.open();
    this.send({ type: 'login', email: EMAIL, password: PASSWORD, protocol: 'v1' });
    const w = await this.next((p) => p.type === 'welcome' || p.type === 'error', 15000);
    if (w.type !== 'welcome') throw new Error(`login through :${port}: ${JSON.stringify(w)}`);
    return this;
  }
  packet(p) {
    if (p.type === 'error') this.errors.push({ port: this.port, ...p });
    if (p.type === 'sendMessage' && p.message) {
      const k = `${p.roomid}/${Number(p.message.idx)}`;
      if (this.seen.has(k)) this.dups.push(k);
      this.seen.set(k, p.message.text);
      this.onMessage(p);
    }
    if (p.type === 'updateRooms') this.rooms = p.roomList;
    const i = this.waiters.findIndex((w) => w.pred(p));
    if (i >= 0) { const [w] = this.waiters.splice(i, 1); clearTimeout(w.t); w.resolve(p); }
    else { this.queue.push(p); if (this.queue.length > 500) this.queue.shift(); }
  }
  next(pred, ms = 5000) {
    const i = this.queue.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.t = setTimeout(() => { this.waiters.splice(this.waiters.indexOf(w), 1); reject(new Error(`${this.name}: timed out waiting (${ms} ms)`)); }, ms);
      this.waiters.push(w);
      // A closed socket ends every wait at once.
      this.ws.closed.then(() => { if (this.waiters.includes(w)) { this.waiters.splice(this.waiters.indexOf(w), 1); clearTimeout(w.t); reject(new Error(`${this.name}: connection closed (${this.ws.code})`)); } });
    });
  }
  send(obj) { this.ws.send(obj); }
  async textRoom() {
    const deadline = Date.now() + 5000;
    while (!this.rooms && Date.now() < deadline) await sleep(20);
    const r = (this.rooms || []).find((x) => x.type === 'text');
    if (!r) throw new Error(`${this.name}: no text room in updateRooms`);
    return r.id;
  }
  // One segment of a room: { segment, messages }.
  async segment(roomid, seg) {
    this.send(seg === undefined ? { type: 'getmessages', roomid } : { type: 'getmessages', roomid, segment: seg });
    // Numbers may come as JSON numbers or strings (int64): compare as numbers.
    const u = await this.next((p) => p.type === 'error' || (p.type === 'updateText' && p.roomid === roomid && (seg === undefined || Number(p.segment) === seg)), 10000);
    if (u.type === 'error') throw new Error(`${this.name}: getmessages ${seg}: ${u.message}`);
    return { segment: Number(u.segment), messages: u.messages.map((m) => ({ ...m, idx: Number(m.idx) })) };
  }
}

async function smoke(ports) {
  const a = await new Client('A').connect(ports[0]);
  const b = await new Client('B').connect(ports[1]);
  const room = await a.textRoom();
  for (const [from, to, label] of [[a, b, 'A->B'], [b, a, 'B->A']]) {
    const text = `smoke ${label} ${crypto.randomUUID()}`;
    const t0 = Date.now();
    from.send({ type: 'message', roomid: room, message: { text } });
    await to.next((p) => p.type === 'sendMessage' && p.message.text === text, 10000);
    log(`smoke: "${label}" sent through :${from.port}, seen through :${to.port} after ${Date.now() - t0} ms`);
  }
  const errs = [...a.errors, ...b.errors];
  a.ws.close(); b.ws.close();
  if (errs.length) throw new Error(`error packets: ${JSON.stringify(errs)}`);
  log('smoke: ok');
}

// ------------------------------------------------------------------ traffic
async function traffic(stopFile, ports) {
  const SENDERS = Number(process.env.SENDERS || 4);
  const GAP = Number(process.env.SEND_GAP_MS || 40);
  const run = crypto.randomBytes(3).toString('hex');
  const stats = { sent: 0, resent: 0, reconnects: 0, found: 0, maxOutMs: 0, lostEcho: 0 };
  const problems = [];
  let room;
  let stopping = false;

  // Reconnect from port index i onwards until some gateway lets us in.
  async function connectAny(c, i) {
    const t0 = Date.now();
    for (let k = 0; ; k++) {
      const port = ports[(i + k) % ports.length];
      try { await c.connect(port); return port; }
      catch (e) {
        if (Date.now() - t0 > 60000) throw new Error(`${c.name}: no gateway let us in for 60 s: ${e.message}`);
        await sleep(100);
      }
    }
  }

  // Is text in the room's history?  Scans from the newest segment back until it
  // finds text (true) or the sender's previous message (false).
  async function stored(c, text, prev) {
    let u = await c.segment(room);
    for (let seg = u.segment; seg >= 0; seg--) {
      if (seg !== u.segment) u = await c.segment(room, seg);
      const texts = u.messages.map((m) => m.text);
      if (texts.includes(text)) return true;
      if (prev !== null && texts.includes(prev)) return false;
    }
    return false;
  }

  async function sender(k) {
    const c = new Client(`c${k}`);
    let portIdx = k % ports.length;
    await connectAny(c, portIdx);
    let n = 0, pending = null;
    while (!stopping) {
      const text = `${run} c${k} #${n}`;
      const prev = n ? `${run} c${k} #${n - 1}` : null;
      try {
        if (pending === text) {
          // Sent before the connection went: only if it did not get stored.
          if (await stored(c, text, prev)) { stats.found++; n++; pending = null; continue; }
          stats.resent++;
        }
        pending = text;
        const t0 = Date.now();
        c.send({ type: 'message', roomid: room, message: { text } });
        stats.sent++;
        await c.next((p) => (p.type === 'sendMessage' && p.message.text === text) || p.type === 'error', 30000);
        stats.maxOutMs = Math.max(stats.maxOutMs, Date.now() - t0);
        pending = null;
        n++;
        await sleep(GAP);
      } catch (e) {
        if (c.ws.code === null) {
          // A timeout on an open connection: a failure, but go on to find out
          // whether the message was stored (then only its delivery was lost).
          if (!/timed out/.test(e.message) || pending === null) throw e;
          const text = pending, port = c.port;
          const was = await stored(c, text, n ? `${run} c${k} #${n - 1}` : null);
          problems.push(`${c.name}: no sendMessage for "${text}" within 30 s on an open connection through :${port}; ${was ? 'it was stored' : 'it was not stored'}`);
          stats.lostEcho++;
          continue;
        }
        const gone = c.port, code = c.ws.code;
        stats.reconnects++;
        portIdx++;
        const port = await connectAny(c, portIdx);
        log(`${c.name}: connection to :${gone} closed (code ${code}); logged in again through :${port}`);
      }
    }
    return { c, last: n };
  }

  const first = await new Client('setup').connect(ports[0]);
  room = await first.textRoom();
  first.ws.close();
  const stopper = (async () => { while (!fs.existsSync(stopFile)) await sleep(100); stopping = true; })();
  const t0 = Date.now();
  const results = await Promise.all([...Array(SENDERS).keys()].map(sender));
  await stopper;
  const secs = (Date.now() - t0) / 1000;

  // The history, whole: every message once, idx without gap, each sender's
  // messages 0..last present exactly once.
  const cc = new Client('check');
  await connectAny(cc, 0);
  const newest = await cc.segment(room);
  const all = [];
  // Paced: the gateway lets a user send REBUTTAL_USER_RATE (200) packets a second.
  for (let s = 0; s <= newest.segment; s++) {
    all.push(...(s === newest.segment ? newest : await cc.segment(room, s)).messages);
    await sleep(10);
  }
  all.sort((x, y) => x.idx - y.idx);
  for (let i = 0; i < all.length; i++) if (all[i].idx !== i + (all.length ? all[0].idx : 0)) { problems.push(`history: idx ${all[i].idx} at position ${i} (gap or repeat)`); break; }
  const count = new Map();
  for (const m of all) if (m.text.startsWith(run)) count.set(m.text, (count.get(m.text) || 0) + 1);
  let total = 0;
  for (const [k, { c, last }] of results.entries()) {
    for (let n = 0; n < last; n++) {
      const t = `${run} c${k} #${n}`;
      const got = count.get(t) || 0;
      if (got !== 1) problems.push(`${t}: ${got} times in the history`);
      total++;
    }
    if (c.errors.length) problems.push(`${c.name}: error packets ${JSON.stringify(c.errors.slice(0, 5))}`);
    if (c.dups.length) problems.push(`${c.name}: sendMessage seen twice for ${c.dups.slice(0, 5).join(', ')}`);
    c.ws.close();
  }
  for (const [t, got] of count) if (got > 1 && !problems.some((p) => p.startsWith(t))) problems.push(`${t}: ${got} times in the history`);
  if (cc.errors.length) problems.push(`check: error packets ${JSON.stringify(cc.errors)}`);
  cc.ws.close();
  log(`traffic: ${SENDERS} clients, ${secs.toFixed(1)} s, ${total} messages stored (${(total / secs).toFixed(0)}/s), ` +
    `${stats.reconnects} reconnects, ${stats.found} in-flight found stored, ${stats.resent} sent again, ` +
    `slowest send→sendMessage ${stats.maxOutMs} ms, ${stats.lostEcho} sendMessage never came, history ${all.length} messages`);
  if (problems.length) { for (const p of problems.slice(0, 30)) log(`PROBLEM ${p}`); throw new Error(`${problems.length} problems`); }
  log('traffic: ok (no error, nothing lost, nothing twice)');
}

const [mode, ...args] = process.argv.slice(2);
if (!PASSWORD) { console.error('chat.mjs: REBUTTAL_ADMIN_PASSWORD not set'); process.exit(2); }
const main = mode === 'smoke' ? () => smoke(args.map(Number))
  : mode === 'traffic' ? () => traffic(args[0], args.slice(1).map(Number)) : null;
if (!main) { console.error('usage: chat.mjs smoke PORT_A PORT_B | traffic STOPFILE PORT...'); process.exit(2); }
main().then(() => process.exit(0), (e) => { log(`FAILED: ${e.message}`); process.exit(1); });
