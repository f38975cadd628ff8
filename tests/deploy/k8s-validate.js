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
const find = (kind, name) => objs.map((x) => x.o).find((o) => o.kind === kind && o.metadata && o.metadata.name === name);
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
  for (const { file, o } of objs) {
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
        const pe = envOf(podSpec(ss).containers[0], out);
        for (const [k, v] of [['dbname', 'POSTGRES_DB'], ['user', 'POSTGRES_USER'], ['password', 'POSTGRES_PASSWORD']]) {
          if (ci[k] !== pe[v]) out.push(`${p.name}: REBUTTAL_PG ${k} is not postgres's ${v}`);
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
    if (!src.includes(base) && !src.includes(tail)) out.push(`dashboard plots ${n}, which no part prints`);
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
  const d = all('Deployment').find((x) => (podSpec(x).containers || []).some((c) => /^nats(:|$)/.test(c.image)));
  if (!d) return 'no Deployment running the nats image';
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
  const t = L.natsConfigTest(text);
  if (t) out.push(t);
  const port = (text.match(/^\s*port\s*[:=]\s*(\d+)/m) || [])[1] || 4222;
  if (!(c.ports || []).some((p) => p.containerPort === Number(port))) out.push(`nats container does not declare its client port ${port}`);
  return out;
});

L.done();
