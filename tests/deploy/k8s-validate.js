// Checks deploy/k8s offline: every object against the Kubernetes schemas of
// kubernetes-models, the kustomization, and what the API server does not
// catch: parts without a Deployment, addresses pointing nowhere, probes on the
// wrong port, selectors that select nothing, NATS max_payload.
'use strict';
const fs = require('fs');
const path = require('path');
const yaml = require('js-yaml');
const { runValidateFunc } = require('@kubernetes-models/validate');
const L = require('./lib.js');

const DIR = path.join(L.ROOT, 'deploy', 'k8s');
const parts = L.parts();
const df = L.dockerfile();
const bins = L.imageBinaries(df);

// Every object of every manifest, with the file it came from.
const objs = [];
let kust = null;
const loadProblems = [];
for (const f of fs.readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).sort()) {
  try {
    const docs = yaml.loadAll(fs.readFileSync(path.join(DIR, f), 'utf8')).filter((d) => d != null);
    if (f === 'kustomization.yaml') kust = docs[0];
    else docs.forEach((o) => objs.push({ file: f, o }));
  } catch (e) { loadProblems.push(`${f}: ${e.message.split('\n')[0]}`); }
}
// The Secret is not applied from a file here (no placeholder in the
// repository): deploy/secrets.sh k8s makes it; it is checked like the rest.
const generated = [];
try { generated.push({ file: '(deploy/secrets.sh k8s)', o: L.secretsK8s() }); }
catch (e) { loadProblems.push(`deploy/secrets.sh k8s: ${e.message.split('\n')[0]}`); }
const find = (kind, name) => [...objs, ...generated].map((x) => x.o).find((o) => o.kind === kind && o.metadata && o.metadata.name === name);
const all = (kind) => objs.map((x) => x.o).filter((o) => o.kind === kind);
const podSpec = (o) => (o.spec && o.spec.template && o.spec.template.spec) || {};

// The model class for apiVersion + kind: "apps/v1" → kubernetes-models/apps/v1.
function model(apiVersion, kind) {
  try {
    const mod = require(`kubernetes-models/${apiVersion}`);
    return mod[kind] && { M: mod[kind], schema: Object.keys(mod).find((k) => k.startsWith('IoK8s') && mod[kind] === mod[k]) };
  } catch { return undefined; }
}

// Fields the schema does not know.  The schemas allow them (as kubectl's
// client-side validation did), the API server rejects them, and a typo like
// "paht:" would otherwise pass.  How: run the compiled schema on a Proxy of
// the object and list the keys it never looked at, skipping maps (objects
// whose keys the validator enumerates: labels, ConfigMap data, ...).
const SCHEMAS = require.resolve('kubernetes-models/v1').replace(/[\\/]v1[\\/]index\.js$/, '/_schemas');
function unknownFields(schema, o) {
  const { validate } = require(`${SCHEMAS}/${schema}.js`);
  const nodes = [];
  const wrap = (v, p) => {
    if (!v || typeof v !== 'object') return v;
    const n = { v, p, got: new Set(), enumerated: false, kids: new Map() };
    nodes.push(n);
    return new Proxy(v, {
      get(t, k) {
        if (typeof k !== 'string') return t[k];
        n.got.add(k);
        if (!n.kids.has(k)) n.kids.set(k, wrap(t[k], `${p}/${k}`));
        return n.kids.get(k);
      },
      ownKeys(t) { n.enumerated = true; return Reflect.ownKeys(t); },
    });
  };
  runValidateFunc(validate, wrap(o, ''));
  return nodes.filter((n) => !Array.isArray(n.v) && !n.enumerated)
    .flatMap((n) => Object.keys(n.v).filter((k) => !n.got.has(k)).map((k) => `${n.p}/${k}`));
}

L.check('k8s-schema', () => {
  const out = [...loadProblems];
  for (const { file, o } of [...objs, ...generated]) {
    const id = `${file}: ${o.kind}/${o.metadata && o.metadata.name}`;
    const m = model(o.apiVersion, o.kind);
    if (!m) { out.push(`${id}: unknown apiVersion/kind ${o.apiVersion} ${o.kind}`); continue; }
    try {
      new m.M(o).validate();
      const unknown = unknownFields(m.schema, o);
      if (unknown.length) out.push(`${id}: unknown field ${unknown.join(', ')}`);
    } catch (e) {
      out.push(`${id}: ${(e.errors || [e]).map((x) => `${x.instancePath || ''} ${x.message}`.trim()).join(', ')}`);
    }
  }
  return out;
});

L.check('k8s-kustomization', () => {
  if (!kust) return 'no deploy/k8s/kustomization.yaml';
  const out = [];
  const listed = kust.resources || [];
  for (const r of listed) if (!fs.existsSync(path.join(DIR, r))) out.push(`lists ${r}, which does not exist`);
  for (const f of new Set(objs.map((x) => x.file))) if (!listed.includes(f)) out.push(`${f} is not in resources`);
  if (kust.namespace && !find('Namespace', kust.namespace)) out.push(`namespace ${kust.namespace} has no Namespace object`);
  for (const { o } of objs) if (o.metadata && o.metadata.namespace && o.metadata.namespace !== kust.namespace) {
    out.push(`${o.kind}/${o.metadata.name} is in namespace ${o.metadata.namespace}`);
  }
  return out;
});

// The image name the parts use, before kustomize's images: rewrite.
const partImage = kust && kust.images && kust.images[0] ? kust.images[0].name : 'rebuttal';
const mainContainer = (name) => {
  const d = find('Deployment', name);
  return d && (podSpec(d).containers || []).find((c) => c.name === name);
};

L.check('k8s-parts', () => parts.flatMap(({ name }) => {
  const d = find('Deployment', name);
  if (!d) return [`no Deployment ${name}`];
  const c = mainContainer(name);
  if (!c) return [`Deployment ${name} has no container named ${name}`];
  const run = [...(c.command || []), ...(c.args || [])];
  const out = [];
  if (run[0] !== name) out.push(`${name}: command ${JSON.stringify(run)} does not run ${name}`);
  if (!bins.has(run[0])) out.push(`${name}: the image has no program ${run[0]}`);
  if (c.image.split(':')[0] !== partImage) out.push(`${name}: image ${c.image}, want ${partImage} (the Dockerfile's image)`);
  return out;
}));

// A container's environment: envFrom and env, values looked up in the
// ConfigMaps and Secrets of the manifests.  Missing references are problems.
function envOf(c, problems) {
  const env = {};
  const source = (kind, name) => {
    const o = find(kind, name);
    if (!o) { problems.push(`${kind} ${name} does not exist`); return {}; }
    if (kind === 'Secret') {
      const d = Object.fromEntries(Object.entries(o.data || {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
      return { ...d, ...(o.stringData || {}) };
    }
    return o.data || {};
  };
  for (const ef of c.envFrom || []) {
    if (ef.configMapRef) Object.assign(env, source('ConfigMap', ef.configMapRef.name));
    if (ef.secretRef) Object.assign(env, source('Secret', ef.secretRef.name));
  }
  for (const e of c.env || []) {
    const ref = e.valueFrom && (e.valueFrom.secretKeyRef || e.valueFrom.configMapKeyRef);
    if (!ref) { env[e.name] = e.value; continue; }
    const data = source(e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap', ref.name);
    if (!(ref.key in data)) problems.push(`${e.name}: key ${ref.key} is not in ${ref.name}`);
    env[e.name] = data[ref.key];
  }
  return env;
}

// The port a Service named HOST offers as PORT, or a problem.
// The key of the Secret mounted at file in container c of workload w, or
// undefined.
function secretFileKey(w, c, file) {
  if (!file) return undefined;
  for (const m of c.volumeMounts || []) {
    const dir = m.mountPath.replace(/\/$/, '');
    if (path.posix.dirname(file) !== dir) continue;
    const v = (podSpec(w).volumes || []).find((x) => x.name === m.name);
    if (!v || !v.secret) continue;
    const base = path.posix.basename(file);
    const items = v.secret.items;
    if (!items) return base;
    const it = items.find((i) => i.path === base);
    if (it) return it.key;
  }
  return undefined;
}

function servicePort(host, port, what) {
  const s = find('Service', host);
  if (!s) return `${what}: no Service "${host}"`;
  if (!(s.spec.ports || []).some((p) => p.port === Number(port))) return `${what}: Service ${host} has no port ${port}`;
  return null;
}

L.check('k8s-addresses', () => {
  const out = [];
  for (const p of parts) {
    const c = mainContainer(p.name);
    if (!c) continue;
    const probs = [];
    const env = envOf(c, probs);
    out.push(...probs.map((x) => `${p.name}: ${x}`));
    for (const v of L.mustSet(p)) if (!env[v]) out.push(`${p.name}: ${v} not set`);
    if (env.REBUTTAL_NATS_URL) {
      const u = new URL(env.REBUTTAL_NATS_URL);
      out.push(servicePort(u.hostname, u.port || 4222, `${p.name} REBUTTAL_NATS_URL`));
    }
    if (env.REBUTTAL_REDIS_HOST) out.push(servicePort(env.REBUTTAL_REDIS_HOST, env.REBUTTAL_REDIS_PORT || 6379, `${p.name} REBUTTAL_REDIS_HOST/PORT`));
    if (env.REBUTTAL_PG) {
      const ci = L.conninfo(env.REBUTTAL_PG);
      out.push(servicePort(ci.host, ci.port || 5432, `${p.name} REBUTTAL_PG`));
      // The database the postgres StatefulSet creates must be the one used.
      const ss = all('StatefulSet').find((s) => (podSpec(s).containers || []).some((x) => /^postgres(:|$)/.test(x.image)));
      if (ss) {
        // Its own role, not the superuser, with the password that
        // deploy/postgres-init.sh gives that role (Secret key pg-<role>).
        const pe = envOf(podSpec(ss).containers[0], out);
        if (ci.dbname !== pe.POSTGRES_DB) out.push(`${p.name}: REBUTTAL_PG dbname is not postgres's POSTGRES_DB`);
        if (ci.user === pe.POSTGRES_USER) out.push(`${p.name}: REBUTTAL_PG user is the superuser ${ci.user}`);
        if (ci.password) out.push(`${p.name}: a password in REBUTTAL_PG: use REBUTTAL_PG_PASSWORD_FILE`);
        const key = secretFileKey(find('Deployment', p.name), c, env.REBUTTAL_PG_PASSWORD_FILE);
        if (key !== `pg-${ci.user}`) out.push(`${p.name}: REBUTTAL_PG_PASSWORD_FILE is Secret key ${key}, want pg-${ci.user}`);
        if (secretFileKey(ss, podSpec(ss).containers[0], `/run/secrets/rebuttal/pg-${ci.user}`) !== `pg-${ci.user}`) {
          out.push(`postgres: no pg-${ci.user} at /run/secrets/rebuttal for its init script`);
        }
      }
    }
  }
  return out.filter(Boolean);
});

L.check('k8s-probes-and-metrics', () => parts.flatMap((p) => {
  const c = mainContainer(p.name);
  if (!c) return [];
  const want = L.healthPort(p, envOf(c, []));
  const named = Object.fromEntries((c.ports || []).map((x) => [x.name, x.containerPort]));
  const port = (x) => (typeof x === 'string' ? named[x] : x);
  const out = [];
  for (const [probe, pathWant] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']]) {
    const g = c[probe] && c[probe].httpGet;
    if (!g) out.push(`${p.name}: no ${probe}.httpGet`);
    else if (g.path !== pathWant || port(g.port) !== want) out.push(`${p.name}: ${probe} GET ${g.path} on ${g.port}, want ${pathWant} on ${want}`);
  }
  if (!(c.ports || []).some((x) => x.containerPort === want)) out.push(`${p.name}: containerPort ${want} not declared`);
  const a = (find('Deployment', p.name).spec.template.metadata || {}).annotations || {};
  if (a['prometheus.io/scrape'] !== 'true' || Number(a['prometheus.io/port']) !== want || (a['prometheus.io/path'] || '/metrics') !== '/metrics') {
    out.push(`${p.name}: prometheus.io annotations do not say scrape "true", port ${want}, path /metrics`);
  }
  return out;
}));

// deploy/k8s/loadtest: a Job of the load generator against the deployment
// above (its own kustomization: not applied with the parts).
L.check('k8s-loadtest-job', () => {
  const dir = path.join(DIR, 'loadtest');
  const out = [];
  const lobjs = [];
  let lk = null;
  for (const f of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    const docs = yaml.loadAll(fs.readFileSync(path.join(dir, f), 'utf8')).filter((d) => d != null);
    if (f === 'kustomization.yaml') lk = docs[0];
    else docs.forEach((o) => lobjs.push({ file: f, o }));
  }
  if (!lk) return 'no deploy/k8s/loadtest/kustomization.yaml';
  for (const r of lk.resources || []) if (!fs.existsSync(path.join(dir, r))) out.push(`lists ${r}, which does not exist`);
  for (const f of new Set(lobjs.map((x) => x.file))) if (!(lk.resources || []).includes(f)) out.push(`${f} is not in resources`);
  if (kust && lk.namespace !== kust.namespace) out.push(`namespace ${lk.namespace}, the deployment's is ${kust.namespace}`);
  for (const { file, o } of lobjs) {
    const m = model(o.apiVersion, o.kind);
    if (!m) { out.push(`${file}: unknown apiVersion/kind ${o.apiVersion} ${o.kind}`); continue; }
    try {
      new m.M(o).validate();
      const unknown = unknownFields(m.schema, o);
      if (unknown.length) out.push(`${file}: unknown field ${unknown.join(', ')}`);
    } catch (e) {
      out.push(`${file}: ${(e.errors || [e]).map((x) => `${x.instancePath || ''} ${x.message}`.trim()).join(', ')}`);
    }
  }
  const job = lobjs.map((x) => x.o).find((o) => o.kind === 'Job');
  if (!job) return out.concat('no Job');
  const spec = podSpec(job);
  const c = (spec.containers || [])[0] || {};
  const run = [...(c.command || []), ...(c.args || [])];
  if (run[0] !== 'loadgen') out.push(`the Job runs ${JSON.stringify(run)}, not loadgen`);
  const copied = df.copies.some((x) => x.from && x.src.some((s) => /build\/tests\/loadgen$/.test(s)) && x.dest === '/usr/local/bin/loadgen');
  if (!copied) out.push('the Dockerfile does not copy build/tests/loadgen to /usr/local/bin/loadgen');
  if (c.image && c.image.split(':')[0] !== partImage) out.push(`image ${c.image}, want ${partImage}`);
  const scenarios = fs.readFileSync(path.join(L.ROOT, 'tests/load/scenarios.c'), 'utf8');
  if (run[1] && !scenarios.includes(`{"${run[1]}",`)) out.push(`no scenario ${run[1]} in tests/load/scenarios.c`);
  if (spec.restartPolicy !== 'Never') out.push('restartPolicy must be Never (a failed run is a result, not a crash)');
  const problems = [];
  const env = envOf(c, problems);
  out.push(...problems);
  if (!env.REBUTTAL_NATS_URL) out.push('no REBUTTAL_NATS_URL');
  const known = fs.readFileSync(path.join(L.ROOT, 'tests/load/loadgen.c'), 'utf8');
  for (const k of Object.keys(env)) if (/^REBUTTAL_LOAD_/.test(k) && !known.includes(`"${k}"`)) out.push(`${k} is not a loadgen setting`);
  return out;
});

// deploy/prometheus.yml scrapes every part where it serves /metrics, and
// every series deploy/grafana/rebuttal.json plots is one the code prints.
L.check('prometheus-and-dashboard', () => {
  const out = [];
  const prom = yaml.load(fs.readFileSync(path.join(L.ROOT, 'deploy/prometheus.yml'), 'utf8'));
  const compose = yaml.load(fs.readFileSync(path.join(L.ROOT, 'docker-compose.yml'), 'utf8'));
  const job = (prom.scrape_configs || []).find((j) => j.static_configs);
  const targets = job ? job.static_configs.flatMap((c) => c.targets) : [];
  for (const { name } of parts) {
    const env = ((compose.services || {})[name] || {}).environment || {};
    const port = env.REBUTTAL_HEALTH_PORT || env.REBUTTAL_PORT;
    if (!targets.includes(`${name}:${port}`)) out.push(`prometheus.yml does not scrape ${name}:${port}`);
  }
  const src = ['lib', ...parts.map((p) => p.name)].flatMap((d) => fs.readdirSync(path.join(L.ROOT, d))
    .filter((f) => f.endsWith('.c')).map((f) => fs.readFileSync(path.join(L.ROOT, d, f), 'utf8'))).join('\n');
  const dash = JSON.parse(fs.readFileSync(path.join(L.ROOT, 'deploy/grafana/rebuttal.json'), 'utf8'));
  const names = new Set(dash.panels.flatMap((p) => p.targets.map((t) => t.expr))
    .flatMap((e) => e.match(/\b(rebuttal_gateway|authsvc|roomsvc|msgsvc|mediasvc)_[a-z_]+/g) || []));
  for (const n of names) {
    const base = n.replace(/_(bucket|count|sum)$/, '');
    const tail = base.replace(/^(authsvc|roomsvc|msgsvc|mediasvc)_/, '%s_');
    // The gateway's gauges come from a table of {"name", offsetof(gw, ...)}
    // printed as rebuttal_gateway_<name> (gateway/http.c).
    const row = `{"${base.replace(/^rebuttal_gateway_/, '')}", offsetof(gw,`;
    if (!src.includes(base) && !src.includes(tail) && !(base.startsWith('rebuttal_gateway_') && src.includes(row))) out.push(`dashboard plots ${n}, which no part prints`);
  }
  return out;
});


L.check('k8s-pods-resources-security', () => {
  const uid = Number(String(df.user).split(':')[0]);
  return parts.flatMap((p) => {
    const d = find('Deployment', p.name), c = mainContainer(p.name);
    if (!c) return [];
    const ps = podSpec(d), out = [];
    const r = c.resources || {};
    for (const k of ['requests', 'limits']) for (const x of ['cpu', 'memory']) if (!(r[k] && r[k][x])) out.push(`${p.name}: no resources.${k}.${x}`);
    const sc = ps.securityContext || {};
    if (sc.runAsNonRoot !== true) out.push(`${p.name}: runAsNonRoot is not true`);
    if (sc.runAsUser !== undefined && sc.runAsUser !== uid) out.push(`${p.name}: runAsUser ${sc.runAsUser}, the image's USER is ${uid}`);
    if (ps.enableServiceLinks !== false) out.push(`${p.name}: enableServiceLinks is not false (Service variables would reach the part's environment)`);
    return out;
  });
});

// Selectors: a workload's selector must match its pod labels, a Service's
// selector the pods of some workload, an Ingress backend an existing port.
L.check('k8s-selectors-and-routes', () => {
  const out = [];
  const matches = (sel, labels) => Object.entries(sel || {}).every(([k, v]) => (labels || {})[k] === v);
  const workloads = [...all('Deployment'), ...all('StatefulSet')];
  for (const w of workloads) {
    if (!matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels)) out.push(`${w.kind}/${w.metadata.name}: selector does not match its pod labels`);
    if (w.kind === 'StatefulSet' && !find('Service', w.spec.serviceName)) out.push(`StatefulSet/${w.metadata.name}: serviceName ${w.spec.serviceName} is no Service`);
  }
  for (const s of all('Service')) {
    const pods = workloads.filter((w) => matches(s.spec.selector, w.spec.template.metadata.labels));
    if (!pods.length) { out.push(`Service/${s.metadata.name} selects no pods`); continue; }
    for (const sp of s.spec.ports) {
      const tp = sp.targetPort ?? sp.port;
      const ok = pods.some((w) => (podSpec(w).containers || []).some((c) => (c.ports || []).some((cp) => cp.containerPort === tp || cp.name === tp)));
      if (!ok) out.push(`Service/${s.metadata.name}: targetPort ${tp} is no container port of its pods`);
    }
  }
  for (const ing of all('Ingress')) {
    for (const rule of ing.spec.rules || []) for (const p of (rule.http || {}).paths || []) {
      const b = p.backend.service;
      const problem = servicePort(b.name, b.port.number, `Ingress/${ing.metadata.name} ${p.path}`);
      if (problem) out.push(problem);
    }
  }
  return out;
});

L.check('k8s-ingress-websocket-tls', () => {
  const ings = all('Ingress');
  if (!ings.length) return 'no Ingress';
  const out = [];
  const cm = find('ConfigMap', 'rebuttal-config') || { data: {} };
  for (const ing of ings) {
    const hosts = (ing.spec.tls || []).flatMap((t) => t.hosts || []);
    if (!hosts.length) out.push(`Ingress/${ing.metadata.name}: no tls hosts`);
    const paths = (ing.spec.rules || []).flatMap((r) => ((r.http || {}).paths || []).map((p) => p.path));
    if (!paths.some((p) => p === '/ipc' || p === '/')) out.push(`Ingress/${ing.metadata.name}: the WebSocket path /ipc is not routed`);
    const pub = cm.data.REBUTTAL_PUBLIC_URL;
    if (hosts.length && !hosts.some((h) => pub === `https://${h}`)) out.push(`REBUTTAL_PUBLIC_URL ${pub} is not https://<an Ingress TLS host>`);
  }
  return out;
});

L.check('k8s-nats-max-payload', () => {
  const d = [...all('Deployment'), ...all('StatefulSet')].find((x) => (podSpec(x).containers || []).some((c) => /^nats(:|$)/.test(c.image)));
  if (!d) return 'no Deployment or StatefulSet running the nats image';
  const c = podSpec(d).containers.find((x) => /^nats(:|$)/.test(x.image));
  const run = [...(c.command || []), ...(c.args || [])];
  const i = run.findIndex((a) => a === '--config' || a === '-c');
  if (i < 0) return `nats runs ${JSON.stringify(run)}: no --config`;
  const file = run[i + 1];
  const vm = (c.volumeMounts || []).find((m) => path.posix.dirname(file) === m.mountPath.replace(/\/$/, ''));
  const vol = vm && (podSpec(d).volumes || []).find((v) => v.name === vm.name);
  const cm = vol && vol.configMap && find('ConfigMap', vol.configMap.name);
  const text = cm && (cm.data || {})[path.posix.basename(file)];
  if (text === undefined) return `${file} is not a key of a ConfigMap mounted at ${path.posix.dirname(file)}`;
  const v = L.natsMaxPayload(text);
  const out = v === L.NATS_MAX_PAYLOAD ? [] : [`max_payload is ${JSON.stringify(v)}, want ${L.NATS_MAX_PAYLOAD} (a plain byte count)`];
  const t = L.natsConfigTest(text, { ...L.secretsEnv(), POD_NAME: `${d.metadata.name}-0` });
  if (t) out.push(t);
  const perms = (cm.data || {})['nats-permissions.conf'];
  if (perms !== fs.readFileSync(path.join(L.ROOT, 'deploy', 'nats-permissions.conf'), 'utf8')) {
    out.push(`ConfigMap ${cm.metadata.name}: nats-permissions.conf is not a copy of deploy/nats-permissions.conf`);
  }
  const port = (text.match(/^\s*port\s*[:=]\s*(\d+)/m) || [])[1] || 4222;
  if (!(c.ports || []).some((p) => p.containerPort === Number(port))) out.push(`nats container does not declare its client port ${port}`);
  return out;
});

// What the repository applies holds no secret: rebuttal-secrets is made by
// deploy/secrets.sh (or a secret manager), so no known placeholder runs.
L.check('k8s-no-placeholder-secret', () => {
  const out = [];
  for (const { file, o } of objs) {
    if (o.kind === 'Secret') out.push(`${file}: applies Secret ${o.metadata.name}: make it with deploy/secrets.sh k8s instead`);
    if (/CHANGE-ME/.test(JSON.stringify(o))) out.push(`${file}: ${o.kind}/${o.metadata.name} holds a CHANGE-ME placeholder`);
  }
  const gen = generated[0] && generated[0].o;
  if (gen && /CHANGE-ME/.test(JSON.stringify(gen))) out.push('deploy/secrets.sh k8s makes a CHANGE-ME value');
  return out;
});

// Every pod, the infrastructure's included: not root, no privilege to
// gain, no capabilities, a read-only root file system.
L.check('k8s-security-context', () => {
  const out = [];
  for (const w of [...all('Deployment'), ...all('StatefulSet')]) {
    const ps = podSpec(w), id = `${w.kind}/${w.metadata.name}`;
    if (!(ps.securityContext && ps.securityContext.runAsNonRoot === true)) out.push(`${id}: runAsNonRoot is not true`);
    for (const c of [...(ps.initContainers || []), ...(ps.containers || [])]) {
      const sc = c.securityContext || {};
      if (sc.allowPrivilegeEscalation !== false) out.push(`${id} ${c.name}: allowPrivilegeEscalation is not false`);
      if (sc.readOnlyRootFilesystem !== true) out.push(`${id} ${c.name}: readOnlyRootFilesystem is not true`);
      if (!((sc.capabilities || {}).drop || []).includes('ALL')) out.push(`${id} ${c.name}: capabilities do not drop ALL`);
      if (sc.privileged) out.push(`${id} ${c.name}: privileged`);
    }
  }
  return out;
});

// Each part logs in to NATS and Redis as its own user, with the password
// the server has for that user (same Secret key); the probes reach the
// services' health ports (not on loopback).
L.check('k8s-credentials', () => {
  const out = [];
  const infra = (image) => [...all('Deployment'), ...all('StatefulSet')]
    .find((w) => (podSpec(w).containers || []).some((x) => image.test(x.image)));
  const nd = infra(/^nats(:|$)/), rd = infra(/^redis(:|$)/);
  const refKey = (w, name) => {
    const e = ((podSpec(w).containers || [])[0].env || []).find((x) => x.name === name);
    return e && e.valueFrom && e.valueFrom.secretKeyRef && e.valueFrom.secretKeyRef.key;
  };
  const natsText = nd && ((find('ConfigMap', 'nats-config') || {}).data || {})['nats.conf'] || '';
  for (const p of parts) {
    const c = mainContainer(p.name);
    if (!c) continue;
    const env = envOf(c, []), d = find('Deployment', p.name);
    const u = env.REBUTTAL_NATS_USER, U = String(u).toUpperCase();
    if (u !== p.name) out.push(`${p.name}: REBUTTAL_NATS_USER is ${u}, want ${p.name}`);
    else {
      const key = secretFileKey(d, c, env.REBUTTAL_NATS_PASSWORD_FILE);
      if (key !== `nats-${u}`) out.push(`${p.name}: REBUTTAL_NATS_PASSWORD_FILE is Secret key ${key}, want nats-${u}`);
      if (!nd || refKey(nd, `NATS_${U}_PASSWORD`) !== `nats-${u}`) out.push(`nats: NATS_${U}_PASSWORD is not Secret key nats-${u}`);
      if (!new RegExp(`user:\\s*${u},\\s*password:\\s*\\$NATS_${U}_PASSWORD`).test(natsText)) out.push(`nats.conf: no user ${u}`);
    }
    if ('REBUTTAL_REDIS_HOST' in p.settings) {
      const ru = env.REBUTTAL_REDIS_USER, RU = String(ru).toUpperCase();
      if (ru !== p.name) out.push(`${p.name}: REBUTTAL_REDIS_USER is ${ru}, want ${p.name}`);
      else {
        const key = secretFileKey(d, c, env.REBUTTAL_REDIS_PASSWORD_FILE);
        if (key !== `redis-${ru}`) out.push(`${p.name}: REBUTTAL_REDIS_PASSWORD_FILE is Secret key ${key}, want redis-${ru}`);
        if (!rd || refKey(rd, `REDIS_${RU}_PASSWORD`) !== `redis-${ru}`) out.push(`redis: REDIS_${RU}_PASSWORD is not Secret key redis-${ru}`);
      }
    }
    if ('REBUTTAL_HEALTH_ADDR' in p.settings && env.REBUTTAL_HEALTH_ADDR !== '0.0.0.0') {
      out.push(`${p.name}: REBUTTAL_HEALTH_ADDR is ${env.REBUTTAL_HEALTH_ADDR}: the kubelet's probes need 0.0.0.0`);
    }
  }
  const init = ((find('ConfigMap', 'postgres-init') || {}).data || {})['10-rebuttal-roles.sh'];
  if (init !== fs.readFileSync(path.join(L.ROOT, 'deploy', 'postgres-init.sh'), 'utf8')) {
    out.push('ConfigMap postgres-init: 10-rebuttal-roles.sh is not a copy of deploy/postgres-init.sh');
  }
  return out;
});

// ------------------------------------------------- NATS cluster, scaling, policies

// The workload that runs the nats image.
const natsWorkload = () => [...all('Deployment'), ...all('StatefulSet')]
  .find((w) => (podSpec(w).containers || []).some((c) => /^nats(:|$)/.test(c.image)));

// NATS is a cluster of 3: a StatefulSet whose headless Service names each pod,
// a cluster block routing to every pod by that name on the declared cluster
// port, the same users everywhere, and the parts on the client Service.
L.check('k8s-nats-cluster', () => {
  const w = natsWorkload();
  if (!w) return 'no workload runs nats';
  const out = [];
  if (w.kind !== 'StatefulSet') out.push(`nats is a ${w.kind}, want a StatefulSet (stable names for the routes)`);
  const n = w.spec.replicas;
  if (!(n >= 3 && n % 2 === 1)) out.push(`nats replicas ${n}, want an odd number of 3 or more`);
  const hs = find('Service', w.spec.serviceName);
  if (!hs) return [...out, `serviceName ${w.spec.serviceName} is no Service`];
  if (hs.spec.clusterIP !== 'None') out.push(`Service ${hs.metadata.name} is not headless (clusterIP: None)`);
  if (hs.spec.publishNotReadyAddresses !== true) out.push(`Service ${hs.metadata.name}: publishNotReadyAddresses is not true (routes could not form before readiness)`);
  const text = ((find('ConfigMap', 'nats-config') || {}).data || {})['nats.conf'] || '';
  const cl = text.match(/^\s*cluster\s*\{([\s\S]*?)^\s*\}/m);
  if (!cl) return [...out, 'nats.conf has no cluster { } block'];
  const cport = Number((cl[1].match(/^\s*port\s*[:=]\s*(\d+)/m) || [])[1]);
  const c = podSpec(w).containers.find((x) => /^nats(:|$)/.test(x.image));
  if (!(c.ports || []).some((p) => p.containerPort === cport)) out.push(`cluster port ${cport} is no containerPort of nats`);
  if (!(hs.spec.ports || []).some((p) => p.port === cport)) out.push(`headless Service has no port ${cport}`);
  const routes = [...cl[1].matchAll(/nats-route:\/\/([\w.-]+):(\d+)/g)].map((m) => [m[1], Number(m[2])]);
  for (let i = 0; i < n; i++) {
    const host = `${w.metadata.name}-${i}.${hs.metadata.name}`;
    if (!routes.some(([h, p]) => (h === host || h.startsWith(`${host}.`)) && p === cport)) out.push(`no route to ${host}:${cport}`);
  }
  for (const [h] of routes) {
    const m = h.match(/^(.*)-(\d+)\.([\w-]+)/);
    if (!m || m[1] !== w.metadata.name || m[3] !== hs.metadata.name || Number(m[2]) >= n) out.push(`route to ${h}, which is no pod of the StatefulSet`);
  }
  if (!/server_name:\s*\$POD_NAME/.test(text)) out.push('server_name is not $POD_NAME (each server needs its own name)');
  else if (!((c.env || []).find((e) => e.name === 'POD_NAME') || {}).valueFrom) out.push('POD_NAME is not set from the Downward API');
  // Lame-duck on the way out, within the grace period.
  const pre = (((c.lifecycle || {}).preStop || {}).exec || {}).command || [];
  if (!/--signal ldm=|-sl[= ]ldm/.test(pre.join(' '))) out.push('no preStop hook that puts nats in lame-duck mode');
  const ld = Number((text.match(/lame_duck_duration:\s*"?(\d+)s/) || [])[1] || 120);
  const gr = Number((text.match(/lame_duck_grace_period:\s*"?(\d+)s/) || [])[1] || 10);
  if ((podSpec(w).terminationGracePeriodSeconds || 30) < ld + gr) out.push(`terminationGracePeriodSeconds is under lame-duck's ${gr} + ${ld} s`);
  // The parts reach the cluster through the client Service (not a pod).
  const cm = find('ConfigMap', 'rebuttal-config') || { data: {} };
  const u = cm.data.REBUTTAL_NATS_URL || '';
  if (/,/.test(u)) out.push(`REBUTTAL_NATS_URL ${u} is a list: lib/bus.c takes one URL (natsOptions_SetURL)`);
  else {
    const s = find('Service', new URL(u).hostname);
    if (!s || s.spec.clusterIP === 'None') out.push(`REBUTTAL_NATS_URL ${u} is not the client Service of nats`);
  }
  return out;
});

// Every part has a CPU HorizontalPodAutoscaler (2 or more pods), its Deployment
// leaves replicas to it and has the CPU request utilisation is measured against.
L.check('k8s-hpa', () => {
  const out = [];
  const hpas = all('HorizontalPodAutoscaler');
  for (const p of parts) {
    const d = find('Deployment', p.name);
    if (!d) continue;
    const h = hpas.find((x) => x.spec.scaleTargetRef.kind === 'Deployment' && x.spec.scaleTargetRef.name === p.name);
    if (!h) { out.push(`${p.name}: no HorizontalPodAutoscaler`); continue; }
    if (h.apiVersion !== 'autoscaling/v2') out.push(`${p.name}: HPA is ${h.apiVersion}, want autoscaling/v2`);
    if (!(h.spec.minReplicas >= 2)) out.push(`${p.name}: minReplicas ${h.spec.minReplicas}, want 2 or more`);
    if (!(h.spec.maxReplicas > h.spec.minReplicas)) out.push(`${p.name}: maxReplicas ${h.spec.maxReplicas} leaves nothing to scale`);
    const cpu = (h.spec.metrics || []).find((m) => m.type === 'Resource' && m.resource.name === 'cpu');
    if (!cpu || cpu.resource.target.type !== 'Utilization' || !(cpu.resource.target.averageUtilization > 0 && cpu.resource.target.averageUtilization <= 90)) {
      out.push(`${p.name}: no CPU utilisation target (1-90 %)`);
    }
    if (d.spec.replicas !== undefined) out.push(`${p.name}: Deployment sets replicas ${d.spec.replicas}; every apply would undo the HPA`);
    if (!(((mainContainer(p.name) || {}).resources || {}).requests || {}).cpu) out.push(`${p.name}: no CPU request for the HPA to measure against`);
  }
  for (const h of hpas) {
    const r = h.spec.scaleTargetRef;
    if (!find(r.kind, r.name)) out.push(`HPA ${h.metadata.name} targets ${r.kind}/${r.name}, which does not exist`);
  }
  return out;
});

// A PodDisruptionBudget for every part and for NATS that selects exactly
// that workload's pods and lets one go at a time (never blocks a drain).
L.check('k8s-pdb', () => {
  const out = [];
  const matches = (sel, labels) => Object.entries(sel || {}).every(([k, v]) => (labels || {})[k] === v);
  const nw = natsWorkload();
  const targets = [...parts.map((p) => find('Deployment', p.name)).filter(Boolean), ...(nw ? [nw] : [])];
  const workloads = [...all('Deployment'), ...all('StatefulSet')];
  for (const w of targets) {
    const labels = w.spec.template.metadata.labels;
    const pdbs = all('PodDisruptionBudget').filter((b) => matches(b.spec.selector.matchLabels, labels));
    if (pdbs.length !== 1) { out.push(`${w.kind}/${w.metadata.name}: ${pdbs.length} PodDisruptionBudgets, want 1`); continue; }
    const b = pdbs[0];
    const others = workloads.filter((x) => x !== w && matches(b.spec.selector.matchLabels, x.spec.template.metadata.labels));
    if (others.length) out.push(`PDB ${b.metadata.name} also selects ${others.map((x) => x.metadata.name).join(', ')}`);
    const mu = b.spec.maxUnavailable, ma = b.spec.minAvailable;
    if (mu === undefined && ma === undefined) out.push(`PDB ${b.metadata.name}: neither maxUnavailable nor minAvailable`);
    if (mu !== undefined && !(Number(mu) >= 1 || /^[1-9]\d*%$/.test(String(mu)))) out.push(`PDB ${b.metadata.name}: maxUnavailable ${mu} blocks every drain`);
    if (ma !== undefined) {
      const h = all('HorizontalPodAutoscaler').find((x) => x.spec.scaleTargetRef.name === w.metadata.name);
      const least = h ? h.spec.minReplicas : (w.spec.replicas ?? 1);
      if (!(Number(ma) < least)) out.push(`PDB ${b.metadata.name}: minAvailable ${ma} with ${least} pods blocks every drain`);
    }
  }
  return out;
});

// Pods of one part (and the NATS servers) spread over nodes.
L.check('k8s-topology-spread', () => {
  const out = [];
  const nw = natsWorkload();
  const targets = [...parts.map((p) => find('Deployment', p.name)).filter(Boolean), ...(nw ? [nw] : [])];
  for (const w of targets) {
    const labels = w.spec.template.metadata.labels;
    const tsc = (podSpec(w).topologySpreadConstraints || []).find((t) => t.topologyKey === 'kubernetes.io/hostname');
    if (!tsc) { out.push(`${w.kind}/${w.metadata.name}: no topologySpreadConstraints on kubernetes.io/hostname`); continue; }
    const sel = (tsc.labelSelector || {}).matchLabels || {};
    if (!Object.keys(sel).length || !Object.entries(sel).every(([k, v]) => labels[k] === v)) out.push(`${w.metadata.name}: the spread's labelSelector does not select its own pods`);
    if (!(tsc.maxSkew >= 1)) out.push(`${w.metadata.name}: maxSkew ${tsc.maxSkew}`);
  }
  return out;
});

// Requests and limits say where their numbers come from (a comment naming a
// measurement just above `resources:`), the services' thread counts are set
// (the default is the node's CPUs, not the pod's), and authsvc's memory limit
// holds one argon2id area per thread plus one.
const MiB = (q) => {
  const m = String(q).match(/^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/);
  if (!m) return NaN;
  const f = { Ki: 1 / 1024, Mi: 1, Gi: 1024, k: 1e3 / 2 ** 20, M: 1e6 / 2 ** 20, G: 1e9 / 2 ** 20 }[m[2]] ?? 1 / 2 ** 20;
  return Number(m[1]) * f;
};
L.check('k8s-resources-measured', () => {
  const out = [];
  for (const p of parts) {
    const file = objs.find((x) => x.o.kind === 'Deployment' && x.o.metadata.name === p.name);
    if (!file) continue;
    const lines = fs.readFileSync(path.join(DIR, file.file), 'utf8').split('\n');
    const i = lines.findIndex((l) => /^\s*resources:\s*$/.test(l));
    const above = [];
    for (let j = i - 1; j >= 0 && /^\s*#/.test(lines[j]); j--) above.unshift(lines[j]);
    if (i < 0 || !/Measured|measure|docs\/notes|docker stats/i.test(above.join('\n'))) out.push(`${p.name}: no comment above resources: saying where the numbers come from`);
    const c = mainContainer(p.name), env = envOf(c, []);
    if ('REBUTTAL_THREADS' in p.settings) {
      const t = Number(env.REBUTTAL_THREADS);
      if (!(t >= 1)) out.push(`${p.name}: REBUTTAL_THREADS not set (0 means one per CPU of the node)`);
      const lim = c.resources && c.resources.limits && c.resources.limits.cpu;
      const cores = String(lim).endsWith('m') ? parseInt(lim, 10) / 1000 : Number(lim);
      if (t >= 1 && cores && t > Math.max(2, 2 * Math.ceil(cores))) out.push(`${p.name}: ${t} threads for a CPU limit of ${lim}`);
      if ('REBUTTAL_PWHASH_MEMLIMIT' in p.settings) {
        const area = Number(env.REBUTTAL_PWHASH_MEMLIMIT || p.settings.REBUTTAL_PWHASH_MEMLIMIT) / 2 ** 20;
        const need = (t + 1) * area + 16;
        const limMem = MiB(c.resources.limits.memory);
        if (!(limMem >= need)) out.push(`${p.name}: memory limit ${c.resources.limits.memory} < (${t} threads + 1) x ${area} MiB argon2id + 16 MiB`);
      }
    }
    const r = c.resources || {};
    if (r.requests && r.limits && MiB(r.requests.memory) > MiB(r.limits.memory)) out.push(`${p.name}: memory request above its limit`);
  }
  return out;
});

// NetworkPolicy, evaluated: who reaches whom on which port.  A connection
// from pod A to pod B:port is allowed when B's policies (if any select B for
// Ingress) admit it and, for A in this namespace, A's policies (if any select A
// for Egress) let it out.  Checked against the one list of what must work and
// that everything else is refused.
L.check('k8s-network-policies', () => {
  const pols = all('NetworkPolicy');
  if (!pols.length) return 'no NetworkPolicy';
  const out = [];
  const NS = (kust && kust.namespace) || 'rebuttal';
  const selMatch = (sel, labels) => {
    if (!sel) return true;
    const ml = Object.entries(sel.matchLabels || {}).every(([k, v]) => labels[k] === v);
    const me = (sel.matchExpressions || []).every((e) => {
      const has = Object.prototype.hasOwnProperty.call(labels, e.key);
      if (e.operator === 'In') return has && e.values.includes(labels[e.key]);
      if (e.operator === 'NotIn') return !has || !e.values.includes(labels[e.key]);
      if (e.operator === 'Exists') return has;
      if (e.operator === 'DoesNotExist') return !has;
      return false;
    });
    return ml && me;
  };
  // peer: { ns, nsLabels, labels }.  A policy peer without namespaceSelector
  // means the policy's own namespace.
  const peerOk = (rulePeers, peer) => !rulePeers || !rulePeers.length || rulePeers.some((x) => {
    if (x.ipBlock) return false;
    const nsOk = x.namespaceSelector ? selMatch(x.namespaceSelector, peer.nsLabels) : peer.ns === NS;
    return nsOk && (!x.podSelector || selMatch(x.podSelector, peer.labels));
  });
  const portOk = (rulePorts, port, proto) => !rulePorts || !rulePorts.length || rulePorts.some((p) =>
    (p.protocol || 'TCP') === proto && (p.port === undefined || p.port === port || (p.endPort && port >= p.port && port <= p.endPort)));
  const types = (pol) => pol.spec.policyTypes || ['Ingress', ...(pol.spec.egress ? ['Egress'] : [])];
  const allowed = (dir, selfLabels, peer, port, proto) => {
    const mine = pols.filter((pol) => selMatch(pol.spec.podSelector, selfLabels) && types(pol).includes(dir));
    if (!mine.length) return true;
    const key = dir === 'Ingress' ? 'from' : 'to';
    return mine.some((pol) => (pol.spec[dir.toLowerCase()] || []).some((r) => peerOk(r[key], peer) && portOk(r.ports, port, proto)));
  };
  const pod = (name) => {
    const w = [...all('Deployment'), ...all('StatefulSet')].find((x) => x.metadata.name === name);
    return { ns: NS, nsLabels: { 'kubernetes.io/metadata.name': NS }, labels: w ? w.spec.template.metadata.labels : { 'app.kubernetes.io/name': name } };
  };
  const ext = (ns, labels, nsLabels = {}) => ({ ns, nsLabels: { 'kubernetes.io/metadata.name': ns, ...nsLabels }, labels, external: true });
  const can = (from, to, port, proto = 'TCP') => allowed('Ingress', to.labels, from, port, proto)
    && (from.external || allowed('Egress', from.labels, to, port, proto));
  const names = ['gateway', 'authsvc', 'roomsvc', 'msgsvc', 'mediasvc', 'nats', 'redis', 'postgres', 'rebuttalctl'];
  const sources = {
    ...Object.fromEntries(names.map((n) => [n, pod(n)])),
    'ingress-controller': ext('ingress-nginx', { 'app.kubernetes.io/name': 'ingress-nginx' }),
    'other-pod-in-ingress-nginx': ext('ingress-nginx', { app: 'something-else' }),
    prometheus: ext('monitoring', { app: 'prometheus' }, { 'rebuttal-monitoring': 'true' }),
    'pod-elsewhere': ext('default', { app: 'anything' }),
    'unlabelled-pod-here': { ns: NS, nsLabels: { 'kubernetes.io/metadata.name': NS }, labels: { app: 'debug' } },
  };
  const health = { gateway: 9000, authsvc: 9101, roomsvc: 9102, msgsvc: 9103, mediasvc: 9104, nats: 8222 };
  const targets = { gateway: [9000], authsvc: [9101], roomsvc: [9102], msgsvc: [9103], mediasvc: [9104], nats: [4222, 6222, 8222], redis: [6379], postgres: [5432] };
  const want = new Set([
    'ingress-controller>gateway:9000',
    ...['gateway', 'authsvc', 'roomsvc', 'msgsvc', 'mediasvc', 'rebuttalctl'].map((s) => `${s}>nats:4222`),
    'nats>nats:6222',
    'authsvc>postgres:5432', 'msgsvc>postgres:5432',
    'roomsvc>redis:6379', 'mediasvc>redis:6379',
    ...Object.entries(health).map(([t, p]) => `prometheus>${t}:${p}`),
  ]);
  for (const [sn, s] of Object.entries(sources)) {
    for (const [tn, ports] of Object.entries(targets)) {
      for (const port of ports) {
        const k = `${sn}>${tn}:${port}`, got = can(s, pod(tn), port);
        if (got && !want.has(k)) out.push(`${sn} reaches ${tn}:${port}`);
        if (!got && want.has(k)) out.push(`${sn} cannot reach ${tn}:${port}`);
      }
    }
  }
  // Name lookups work from every pod; nothing else leaves the namespace.
  const dns = ext('kube-system', { 'k8s-app': 'kube-dns' });
  for (const n of names) {
    if (!allowed('Egress', pod(n).labels, dns, 53, 'UDP')) out.push(`${n} cannot reach DNS (kube-dns:53/UDP)`);
    if (allowed('Egress', pod(n).labels, ext('default', { app: 'anything' }), 443, 'TCP')) out.push(`${n} may connect out of the namespace`);
  }
  // Default deny, both ways, for every pod of the namespace.
  if (!pols.some((pol) => Object.keys(pol.spec.podSelector || {}).length === 0 && types(pol).includes('Ingress') && types(pol).includes('Egress') && !(pol.spec.ingress || []).length && !(pol.spec.egress || []).length)) {
    out.push('no default-deny policy (podSelector {}, Ingress and Egress, no rules)');
  }
  // Every port a rule names is a port of the pods it guards.
  for (const pol of pols) for (const r of pol.spec.ingress || []) for (const p of r.ports || []) {
    const ws = [...all('Deployment'), ...all('StatefulSet')].filter((w) => selMatch(pol.spec.podSelector, w.spec.template.metadata.labels));
    for (const w of ws) if (!(podSpec(w).containers || []).some((c) => (c.ports || []).some((cp) => cp.containerPort === p.port))) {
      out.push(`NetworkPolicy ${pol.metadata.name}: port ${p.port} is no container port of ${w.metadata.name}`);
    }
  }
  return out;
});

L.done();
