// What the deploy checks compare the deployment files against: the parts in
// the repo (folders with a main.c) and their settings, the Dockerfile, a tiny
// check runner.  Used by compose-check.js and k8s-validate.js.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..', '..');
const read = (rel) => fs.readFileSync(path.join(ROOT, rel), 'utf8');

// Folders with a main.c that are tools, not deployed processes.
const NOT_DEPLOYED = new Set(['rebuttalctl']);

// Settings that tell a part where everything is, plus the admin secret: a
// hosted run must set each one a part reads (the defaults point at 127.0.0.1).
const MUST_SET = ['REBUTTAL_NATS_URL', 'REBUTTAL_PG', 'REBUTTAL_REDIS_HOST',
  'REBUTTAL_REDIS_PORT', 'REBUTTAL_PUBLIC_URL', 'REBUTTAL_ADMIN_PASSWORD'];

const NATS_MAX_PAYLOAD = 16777216; // DESIGN.md: 16 MiB everywhere

// Folders with a main.c: what the Makefile builds as build/bin/<folder>.
const programs = () => fs.readdirSync(ROOT).filter((d) => fs.existsSync(path.join(ROOT, d, 'main.c'))).sort();

// The arguments of a macro call whose text starts after its "(": split at
// the commas outside strings and parentheses; also where the call ends.
function callArgs(s, from) {
  const args = [];
  let depth = 0, cur = '', i = from;
  for (; i < s.length; i++) {
    const c = s[i];
    if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      cur += s.slice(i, j + 1);
      i = j;
    } else if (c === '(') { depth++; cur += c; } else if (c === ')') {
      if (depth-- === 0) break;
      cur += c;
    } else if (c === ',' && depth === 0) { args.push(cur.trim()); cur = ''; } else cur += c;
  }
  args.push(cur.trim());
  return { args, end: i + 1 };
}

// body with each parameter (an identifier outside string literals)
// replaced by its argument.
function substitute(body, params, args) {
  return body.split(/("(?:[^"\\]|\\.)*")/).map((piece, k) => (k % 2 ? piece
    : piece.replace(/\b\w+\b/g, (w) => (params.includes(w) ? args[params.indexOf(w)] : w))))
    .join('');
}

// A part's source with lib/part.h's PART_CFG_* rows (the settings every part
// has) written out, as the preprocessor would, and adjacent string literals
// joined.
function expandPartRows(src) {
  const h = read('lib/part.h').replace(/\\\n/g, ' ');
  const macros = {};
  for (const m of h.matchAll(/#define (PART_CFG_\w+)\(([^)]*)\)(.*)/g))
    macros[m[1]] = { params: m[2].split(',').map((p) => p.trim()), body: m[3] };
  for (let m; (m = /\b(PART_CFG_\w+)\(/.exec(src)) && macros[m[1]];) {
    const { args, end } = callArgs(src, m.index + m[0].length);
    const { params, body } = macros[m[1]];
    src = src.slice(0, m.index) + substitute(body, params, args) + src.slice(end);
  }
  return src.replace(/"\s+"/g, '');
}

// Every deployed part: { name, settings: { VAR: default-as-text } } from its
// settings table (CFG_S/CFG_I/CFG_SECRET("VAR", struct, field, default, ...),
// and the PART_CFG_* rows of lib/part.h).
function parts() {
  const out = [];
  for (const dir of programs()) {
    if (NOT_DEPLOYED.has(dir)) continue;
    const settings = {};
    for (const f of fs.readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith('.c'))) {
      const src = expandPartRows(read(path.join(dir, f)));
      const re = /CFG_[A-Z]+\(\s*"(REBUTTAL_\w+)"\s*,\s*\w+\s*,\s*[\w.]+\s*,\s*("(?:[^"\\]|\\.)*"|[^,]+)/g;
      for (const m of src.matchAll(re)) settings[m[1]] = m[2].trim().replace(/^"|"$/g, '');
      // lib/part.h's PART_CFG_HEALTH(struct, default port): the health settings.
      for (const m of src.matchAll(/PART_CFG_HEALTH\(\s*\w+\s*,\s*(\d+)\s*\)/g)) {
        settings.REBUTTAL_HEALTH_ADDR = '127.0.0.1';
        settings.REBUTTAL_HEALTH_PORT = m[1];
      }
    }
    out.push({ name: dir, settings });
  }
  return out;
}

// The port of a part's /healthz, /readyz, /metrics given its environment:
// REBUTTAL_HEALTH_PORT if the part has that setting, else REBUTTAL_PORT (the
// gateway serves them on its main port).
function healthPort(part, env) {
  const v = 'REBUTTAL_HEALTH_PORT' in part.settings ? 'REBUTTAL_HEALTH_PORT' : 'REBUTTAL_PORT';
  return Number(env[v] ?? part.settings[v]);
}

// The variables of MUST_SET that a part reads.
const mustSet = (part) => MUST_SET.filter((v) => v in part.settings);

// The Dockerfile as stages of instructions (comments dropped, continuation
// lines joined).  Enough for this Dockerfile; not a full parser.
function dockerfile() {
  const lines = read('Dockerfile').split('\n').filter((l) => !/^\s*#/.test(l));
  const stages = [];
  for (const line of lines.join('\n').replace(/\\\n/g, ' ').split('\n')) {
    const m = line.trim().match(/^(\w+)\s+(.*)$/);
    if (!m) continue;
    const ins = m[1].toUpperCase(), args = m[2].trim();
    if (ins === 'FROM') {
      const [image, , name] = args.split(/\s+/);
      stages.push({ image, name, ins: [] });
    } else if (stages.length) {
      stages[stages.length - 1].ins.push({ ins, args });
    }
  }
  const all = (st, ins) => st.ins.filter((i) => i.ins === ins).map((i) => i.args);
  const last = (st, ins) => all(st, ins).pop();
  // Packages after `apt-get install` up to the end of that command.
  const aptPackages = (st) => all(st, 'RUN').flatMap((run) =>
    run.split(/&&|;/).filter((c) => /apt-get\s+install/.test(c)).flatMap((c) =>
      c.split(/apt-get\s+install/)[1].trim().split(/\s+/).filter((w) => w && !w.startsWith('-'))));
  const build = stages[0], runtime = stages[stages.length - 1];
  const makeTargets = all(build, 'RUN').filter((r) => /\bmake\b/.test(r))
    .flatMap((r) => [...r.matchAll(/(?:^|\s)build\/bin\/([\w-]+)/g)].map((m) => m[1]));
  const copies = all(runtime, 'COPY').map((c) => {
    const w = c.split(/\s+/), opts = w.filter((x) => x.startsWith('--'));
    const from = (opts.find((o) => o.startsWith('--from=')) || '').slice(7) || null;
    const rest = w.filter((x) => !x.startsWith('--'));
    return { from, src: rest.slice(0, -1), dest: rest[rest.length - 1] };
  });
  const parseJsonOr = (s) => { try { return JSON.parse(s); } catch { return s ? s.split(/\s+/) : []; } };
  return {
    stages, build, runtime, makeTargets, copies,
    buildPackages: aptPackages(build),
    runtimePackages: aptPackages(runtime),
    buildWorkdir: last(build, 'WORKDIR') || '/',
    user: last(runtime, 'USER'),
    expose: all(runtime, 'EXPOSE').flatMap((e) => e.split(/\s+/)).map((p) => Number(p.split('/')[0])),
    cmd: parseJsonOr(last(runtime, 'CMD')),
    entrypoint: last(runtime, 'ENTRYPOINT'),
  };
}

// Names of the programs the image has in /usr/local/bin: what the build stage
// makes (if the runtime stage copies build/bin there) plus files copied there.
function imageBinaries(df) {
  const bins = new Set();
  const binDir = path.posix.join(df.buildWorkdir, 'build/bin');
  for (const c of df.copies) {
    const dest = c.dest.replace(/\/$/, '');
    if (c.from === (df.build.name || '0') && c.src.some((s) => s.replace(/\/$/, '') === binDir)
        && dest === '/usr/local/bin') {
      df.makeTargets.forEach((t) => bins.add(t));
    } else if (!c.from && dest.startsWith('/usr/local/bin/')) {
      bins.add(path.posix.basename(dest));
    } else if (!c.from && dest === '/usr/local/bin') {
      c.src.forEach((s) => bins.add(path.posix.basename(s)));
    }
  }
  return bins;
}

// NATS config text: the value of max_payload, a number when it is a plain
// byte count (else the text, or undefined when absent or repeated).
function natsMaxPayload(text) {
  const vals = text.split('\n').map((l) => l.replace(/#.*/, '').trim())
    .map((l) => l.match(/^max_payload\s*[:=]?\s*(\S+?)\s*,?$/)).filter(Boolean).map((m) => m[1]);
  if (vals.length !== 1) return undefined;
  return /^\d+$/.test(vals[0]) ? Number(vals[0]) : vals[0];
}

// `nats-server -t -c FILE` when nats-server is installed (scripts/deps.sh
// installs it), with deploy/nats-permissions.conf beside it (the file every
// configuration includes) and env (the passwords it refers to); returns an
// error text or ''.
function natsConfigTest(text, env = {}) {
  const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'rebuttal-nats-'));
  const tmp = path.join(dir, 'nats.conf');
  fs.writeFileSync(tmp, text);
  fs.copyFileSync(path.join(ROOT, 'deploy', 'nats-permissions.conf'), path.join(dir, 'nats-permissions.conf'));
  try {
    execFileSync('nats-server', ['-t', '-c', tmp], { stdio: 'pipe', env: { ...process.env, ...env } });
    return '';
  } catch (e) {
    if (e.code === 'ENOENT') return ''; // not installed: only the number is checked
    return `nats-server -t: ${String(e.stderr || e.stdout).trim()}`;
  }
  finally { fs.rmSync(dir, { recursive: true, force: true }); }
}

// Fresh secrets from deploy/secrets.sh: { env: { NAME: value } } of `env`,
// or the Secret object of `k8s`.
function secretsEnv() {
  const out = {};
  const text = execFileSync(path.join(ROOT, 'deploy', 'secrets.sh'), ['env'], { encoding: 'utf8' });
  for (const line of text.split('\n')) {
    const m = line.match(/^([A-Z_]+)=(.+)$/);
    if (m) out[m[1]] = m[2];
  }
  return out;
}
function secretsK8s() {
  const yaml = require('js-yaml');
  return yaml.load(execFileSync(path.join(ROOT, 'deploy', 'secrets.sh'), ['k8s'], { encoding: 'utf8' }));
}

// libpq conninfo "k=v k='v w'" → { k: v }.
function conninfo(s) {
  const out = {};
  for (const m of String(s).matchAll(/(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/g)) {
    out[m[1]] = m[2].startsWith("'") ? m[2].slice(1, -1).replace(/\\(.)/g, '$1') : m[2];
  }
  return out;
}

// check(name, fn): fn returns a list of problems (or throws), or { note }
// for a pass worth a remark; prints one line.
let passed = 0, failed = 0;
function check(name, fn) {
  let r;
  try { r = fn(); } catch (e) { r = [`crashed: ${e.stack || e}`]; }
  const problems = r && r.note !== undefined ? [] : [].concat(r || []);
  if (problems.length) { failed++; console.log(`FAIL ${name}: ${problems.join('; ')}`); }
  else { passed++; console.log(`ok   ${name}${r && r.note ? ` (${r.note})` : ''}`); }
}
function done() { process.exitCode = failed ? 1 : 0; }

module.exports = { ROOT, read, programs, parts, healthPort, mustSet, dockerfile, imageBinaries,
  natsMaxPayload, natsConfigTest, secretsEnv, secretsK8s, conninfo, check, done, NATS_MAX_PAYLOAD,
  MUST_SET };
