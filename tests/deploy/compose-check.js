// Checks docker-compose.yml: valid for docker-compose (1.29, offline), and
// consistent with the parts, the Dockerfile and DESIGN.md.  The semantic
// checks read `docker-compose config` output (anchors merged, variables set).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const yaml = require('js-yaml');
const L = require('./lib.js');

const FILE = path.join(L.ROOT, 'docker-compose.yml');
// The secrets: what `deploy/secrets.sh env` makes, which is what a user
// puts in .env (the check also proves the script works).
const DUMMY = L.secretsEnv();
const SECRETS = Object.keys(DUMMY);

// docker-compose with only the given variables: none of the caller's
// REBUTTAL_*/COMPOSE_* and an empty env file, so a developer's .env or shell
// cannot make a check pass.
const emptyEnv = path.join(os.tmpdir(), `rebuttal-empty-${process.pid}.env`);
fs.writeFileSync(emptyEnv, '');
process.on('exit', () => fs.rmSync(emptyEnv, { force: true }));
function compose(vars, ...args) {
  const env = Object.fromEntries(Object.entries(process.env)
    .filter(([k]) => !/^(REBUTTAL_|COMPOSE_|DOCKER_)/.test(k)));
  const r = spawnSync('docker-compose', ['-f', FILE, '--env-file', emptyEnv, ...args],
    { env: { ...env, ...vars }, encoding: 'utf8' });
  if (r.error) throw new Error(`docker-compose: ${r.error.message}`);
  return r;
}

const parts = L.parts();
const bins = L.imageBinaries(L.dockerfile());
let cfg = null;

L.check('compose-config-valid', () => {
  const r = compose(DUMMY, 'config');
  if (r.status !== 0) return `docker-compose config: ${r.stderr.trim()}`;
  cfg = yaml.load(r.stdout);
  return [];
});
if (!cfg) { L.done(); return; }
const S = cfg.services || {};
const envOf = (svc) => {
  const e = (S[svc] && S[svc].environment) || {};
  return Array.isArray(e) ? Object.fromEntries(e.map((x) => x.split(/=(.*)/s).slice(0, 2))) : e;
};
const cmdOf = (svc) => [].concat((S[svc] && S[svc].command) || []);

L.check('compose-secrets-required', () => SECRETS.map((v) => {
  const r = compose({ ...DUMMY, [v]: '' }, 'config', '-q');
  return r.status === 0 ? `config passes with ${v} unset: use \${${v}:?message}` : null;
}).filter(Boolean));

L.check('compose-parts', () => {
  const images = new Set();
  const p = parts.flatMap(({ name }) => {
    const s = S[name];
    if (!s) return [`no service ${name}`];
    images.add(s.image);
    const out = [];
    if (cmdOf(name)[0] !== name) out.push(`${name}: command ${JSON.stringify(cmdOf(name))} does not run ${name}`);
    if (!bins.has(cmdOf(name)[0])) out.push(`${name}: the image has no program ${cmdOf(name)[0]}`);
    const ctx = s.build && path.resolve(L.ROOT, typeof s.build === 'string' ? s.build : s.build.context);
    if (ctx !== L.ROOT) out.push(`${name}: not built from ./Dockerfile (build: ${JSON.stringify(s.build)})`);
    return out;
  });
  if (images.size > 1) p.push(`parts use different images: ${[...images].join(', ')}`);
  return p;
});

// The host and port of each address a part is given must be a compose
// service on the port its server listens on.
function checkAddresses(name, env, portOf) {
  const out = [];
  const host = (h, what) => { if (!S[h]) out.push(`${name}: ${what} host "${h}" is not a service`); };
  for (const v of L.mustSet(parts.find((p) => p.name === name))) {
    if (!env[v]) { out.push(`${name}: ${v} not set`); continue; }
  }
  if (env.REBUTTAL_NATS_URL) {
    const u = new URL(env.REBUTTAL_NATS_URL);
    host(u.hostname, 'REBUTTAL_NATS_URL');
    if (Number(u.port || 4222) !== portOf.nats) out.push(`${name}: NATS port ${u.port} is not ${portOf.nats}`);
  }
  if (env.REBUTTAL_REDIS_HOST) {
    host(env.REBUTTAL_REDIS_HOST, 'REBUTTAL_REDIS_HOST');
    if (Number(env.REBUTTAL_REDIS_PORT) !== portOf.redis) out.push(`${name}: REBUTTAL_REDIS_PORT is not ${portOf.redis}`);
  }
  if (env.REBUTTAL_PG) {
    const c = L.conninfo(env.REBUTTAL_PG);
    host(c.host, 'REBUTTAL_PG');
    const pg = envOf(c.host);
    if (Number(c.port || 5432) !== portOf.postgres) out.push(`${name}: REBUTTAL_PG port is not ${portOf.postgres}`);
    // A role of its own, not the superuser, whose password is the one
    // deploy/postgres-init.sh gives that role (PG_<ROLE>_PASSWORD).
    if (S[c.host] && c.dbname !== pg.POSTGRES_DB) out.push(`${name}: REBUTTAL_PG dbname is not ${c.host}'s POSTGRES_DB`);
    if (S[c.host] && c.user === pg.POSTGRES_USER) out.push(`${name}: REBUTTAL_PG user is the superuser ${c.user}`);
    if (c.password) out.push(`${name}: the password is in REBUTTAL_PG (printed in logs): use REBUTTAL_PG_PASSWORD`);
    const want = pg[`PG_${String(c.user).toUpperCase()}_PASSWORD`];
    if (S[c.host] && (!want || env.REBUTTAL_PG_PASSWORD !== want)) {
      out.push(`${name}: REBUTTAL_PG_PASSWORD is not ${c.host}'s PG_${String(c.user).toUpperCase()}_PASSWORD`);
    }
  }
  if (env.REBUTTAL_PUBLIC_URL && !/^https?:\/\/[^/]+/.test(env.REBUTTAL_PUBLIC_URL)) {
    out.push(`${name}: REBUTTAL_PUBLIC_URL is not an http(s) URL`);
  }
  return out;
}

// Ports the infrastructure listens on: NATS from its config file, Redis and
// Postgres from their images' defaults (or a --port in the command).
function natsConfig() {
  const cmd = cmdOf('nats');
  const i = cmd.findIndex((a) => a === '--config' || a === '-c');
  if (i < 0) return { problem: `nats command ${JSON.stringify(cmd)} has no --config` };
  const mount = (S.nats.volumes || []).find((v) => (typeof v === 'string' ? v.split(':')[1] : v.target) === cmd[i + 1]);
  if (!mount) return { problem: `no volume of service nats is mounted at ${cmd[i + 1]}` };
  const src = typeof mount === 'string' ? mount.split(':')[0] : mount.source;
  const file = path.resolve(L.ROOT, src);
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) return { problem: `${src} is not a file` };
  return { file, text: fs.readFileSync(file, 'utf8') };
}
const portFlag = (svc, dflt) => {
  const cmd = cmdOf(svc), i = cmd.indexOf('--port');
  return i >= 0 ? Number(cmd[i + 1]) : dflt;
};
const nc = natsConfig();
const portOf = {
  nats: nc.text && /^\s*port\s*[:=]\s*(\d+)/m.test(nc.text) ? Number(nc.text.match(/^\s*port\s*[:=]\s*(\d+)/m)[1]) : 4222,
  redis: portFlag('redis', 6379),
  postgres: 5432,
};

L.check('compose-addresses', () => parts.flatMap((p) => S[p.name] ? checkAddresses(p.name, envOf(p.name), portOf) : []));

L.check('compose-healthchecks', () => {
  const out = [];
  for (const p of parts) {
    if (!S[p.name]) continue;
    const t = [].concat((S[p.name].healthcheck || {}).test || []);
    const want = L.healthPort(p, envOf(p.name));
    if (t[0] !== 'CMD' || !bins.has(t[1])) out.push(`${p.name}: healthcheck ${JSON.stringify(t)} is not ["CMD", <program in the image>, ...]`);
    else if (Number(t[2]) !== want || (t[3] || '/healthz') !== '/healthz') out.push(`${p.name}: healthcheck asks port ${t[2]} ${t[3] || ''}, health is on ${want} /healthz`);
  }
  for (const s of ['nats', 'redis', 'postgres']) {
    if (!S[s]) out.push(`no service ${s}`);
    else if (!(S[s].healthcheck && S[s].healthcheck.test)) out.push(`${s} has no healthcheck`);
  }
  return out;
});

L.check('compose-depends-on', () => parts.flatMap((p) => {
  const env = envOf(p.name), deps = (S[p.name] && S[p.name].depends_on) || {};
  const needs = [env.REBUTTAL_NATS_URL && new URL(env.REBUTTAL_NATS_URL).hostname,
    env.REBUTTAL_REDIS_HOST, env.REBUTTAL_PG && L.conninfo(env.REBUTTAL_PG).host].filter(Boolean);
  return needs.filter((n) => !(deps[n] && deps[n].condition === 'service_healthy'))
    .map((n) => `${p.name} does not wait for ${n} (depends_on: {${n}: {condition: service_healthy}})`);
}));

L.check('compose-gateway-published', () => {
  const gws = parts.filter((p) => 'REBUTTAL_PORT' in p.settings);
  if (!gws.length) return 'no part with REBUTTAL_PORT (gateway) found';
  return gws.flatMap((p) => {
    const port = Number(envOf(p.name).REBUTTAL_PORT || p.settings.REBUTTAL_PORT);
    const ok = ((S[p.name] || {}).ports || []).some((x) => Number(typeof x === 'object' ? x.target : String(x).split(':').pop()) === port);
    return ok ? [] : [`${p.name}: port ${port} is not published`];
  });
});

// Each part logs in to NATS (and Redis) as its own user with that user's
// password as the servers have it.
L.check('compose-credentials', () => parts.flatMap((p) => {
  if (!S[p.name]) return [];
  const env = envOf(p.name), out = [];
  const nats = envOf('nats'), redis = envOf('redis');
  const user = env.REBUTTAL_NATS_USER;
  if (user !== p.name) out.push(`${p.name}: REBUTTAL_NATS_USER is ${user}, want ${p.name}`);
  else if (!nc.text || !new RegExp(`user:\\s*${user},\\s*password:\\s*\\$NATS_${user.toUpperCase()}_PASSWORD`).test(nc.text)) {
    out.push(`${p.name}: the NATS configuration has no user ${user} with password $NATS_${user.toUpperCase()}_PASSWORD`);
  } else if (!env.REBUTTAL_NATS_PASSWORD || env.REBUTTAL_NATS_PASSWORD !== nats[`NATS_${user.toUpperCase()}_PASSWORD`]) {
    out.push(`${p.name}: REBUTTAL_NATS_PASSWORD is not nats's NATS_${user.toUpperCase()}_PASSWORD`);
  }
  if (env.REBUTTAL_REDIS_HOST) {
    const ru = env.REBUTTAL_REDIS_USER;
    if (ru !== p.name) out.push(`${p.name}: REBUTTAL_REDIS_USER is ${ru}, want ${p.name}`);
    else if (!env.REBUTTAL_REDIS_PASSWORD || env.REBUTTAL_REDIS_PASSWORD !== redis[`REDIS_${ru.toUpperCase()}_PASSWORD`]) {
      out.push(`${p.name}: REBUTTAL_REDIS_PASSWORD is not redis's REDIS_${ru.toUpperCase()}_PASSWORD`);
    }
  }
  return out;
}));

// No placeholder secret anywhere, and every part runs read-only, without
// capabilities, unable to gain privileges.
L.check('compose-hardened', () => {
  const out = [];
  // In the resolved configuration: what compose would run (comments aside).
  if (/CHANGE-ME/.test(JSON.stringify(cfg))) out.push('docker-compose.yml gives a CHANGE-ME placeholder');
  const example = fs.readFileSync(path.join(L.ROOT, 'deploy', 'compose.env.example'), 'utf8');
  for (const v of SECRETS) {
    if (!new RegExp(`^${v}=$`, 'm').test(example)) out.push(`deploy/compose.env.example: no empty ${v}= line`);
  }
  for (const p of parts) {
    const sv = S[p.name];
    if (!sv) continue;
    if (sv.read_only !== true) out.push(`${p.name}: read_only is not true`);
    if (!(sv.cap_drop || []).includes('ALL')) out.push(`${p.name}: cap_drop has no ALL`);
    if (!(sv.security_opt || []).some((o) => /^no-new-privileges(:true)?$/.test(o))) out.push(`${p.name}: no security_opt no-new-privileges`);
  }
  for (const sv of Object.keys(S)) {
    if (!(S[sv].security_opt || []).some((o) => /^no-new-privileges(:true)?$/.test(o))) out.push(`${sv}: no security_opt no-new-privileges`);
  }
  return out;
});

// Run-on-request tools (a profile) are not restarted.
L.check('compose-restart', () => Object.keys(S).filter((s) => !S[s].profiles && S[s].restart !== 'unless-stopped')
  .map((s) => `${s}: restart is ${S[s].restart}, want unless-stopped`));

L.check('compose-stores-persist', () => {
  const out = [];
  const vol = (svc, target) => ((S[svc] || {}).volumes || []).some((v) => (typeof v === 'string' ? v.split(':')[1] : v.target) === target);
  if (!cmdOf('redis').join(' ').includes('--appendonly yes')) out.push('redis runs without --appendonly yes');
  if (!vol('redis', '/data')) out.push('redis has no volume at /data');
  if (!vol('postgres', '/var/lib/postgresql/data')) out.push('postgres has no volume at /var/lib/postgresql/data');
  return out;
});

L.check('compose-nats-max-payload', () => {
  if (nc.problem) return nc.problem;
  const v = L.natsMaxPayload(nc.text);
  const out = v === L.NATS_MAX_PAYLOAD ? [] : [`${path.relative(L.ROOT, nc.file)}: max_payload is ${JSON.stringify(v)}, want ${L.NATS_MAX_PAYLOAD} (a plain byte count)`];
  const t = L.natsConfigTest(nc.text, DUMMY);
  return t ? out.concat(t) : out;
});

L.done();
