// Checks the Dockerfile and .dockerignore against the repo: every part is
// built and installed, the packages exist in Debian 12, the runtime stage has
// the libraries the binaries link against, the build inputs reach the build.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const L = require('./lib.js');

const df = L.dockerfile();
const parts = L.parts();
const bins = L.imageBinaries(df);
const run = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8' });

L.check('dockerfile-builds-every-part', () => {
  const out = parts.filter((p) => !df.makeTargets.includes(p.name))
    .map((p) => `no make target build/bin/${p.name}`);
  const names = new Set(L.programs());
  return out.concat(df.makeTargets.filter((t) => !names.has(t)).map((t) => `build/bin/${t}: no ${t}/main.c`));
});

L.check('dockerfile-runtime-stage', () => {
  const out = [];
  if (df.stages.length < 2) out.push('not multi-stage');
  for (const st of df.stages) if (st.image !== 'debian:12-slim') out.push(`stage from ${st.image}, want debian:12-slim`);
  const missing = df.makeTargets.filter((t) => !bins.has(t));
  if (missing.length) out.push(`runtime stage does not copy ${path.posix.join(df.buildWorkdir, 'build/bin')} to /usr/local/bin (missing ${missing.join(', ')})`);
  const user = String(df.user || 'root').split(':')[0];
  if (!/^\d+$/.test(user) || user === '0') out.push(`USER ${df.user}: want a numeric non-root uid`);
  const gw = parts.filter((p) => 'REBUTTAL_PORT' in p.settings).map((p) => Number(p.settings.REBUTTAL_PORT));
  for (const port of gw) if (!df.expose.includes(port)) out.push(`no EXPOSE ${port}`);
  if (df.entrypoint) out.push('ENTRYPOINT set: the command is meant to name the part');
  if (!bins.has(df.cmd[0])) out.push(`CMD ${JSON.stringify(df.cmd)} is not a program of the image`);
  return out;
});

L.check('dockerfile-packages-in-debian', () => {
  // One apt-cache call for all (each call reads the package lists: ~0.6 s).
  const pkgs = [...df.buildPackages, ...df.runtimePackages];
  const r = run('apt-cache', ['show', '--no-all-versions', ...pkgs]);
  if (r.error) return `apt-cache: ${r.error.message}`;
  const found = new Set([...r.stdout.matchAll(/^Package: (\S+)/gm)].map((m) => m[1]));
  const out = pkgs.filter((p) => !found.has(p)).map((p) => `${p}: not found by apt-cache show`);
  if (!df.runtimePackages.length) out.push('runtime stage installs no packages');
  const rel = fs.existsSync('/etc/os-release') && fs.readFileSync('/etc/os-release', 'utf8').match(/^VERSION_ID="?(\d+)/m);
  if (!rel || rel[1] !== '12') out.push(`this machine is not Debian 12, apt-cache answers for ${rel ? rel[1] : '?'}`);
  return out;
});

// The libraries each built binary names (NEEDED) must come from a runtime
// package (or libc6, in the base image).  Needs build/bin (`make`).
L.check('dockerfile-runtime-libs', () => {
  const dir = path.join(L.ROOT, 'build', 'bin');
  const built = df.makeTargets.filter((t) => fs.existsSync(path.join(dir, t)));
  if (!built.length) return { note: 'nothing compared: no binaries in build/bin, run make' };
  const have = new Set([...df.runtimePackages, 'libc6']);
  const needs = {}; // soname -> binaries
  const out = [];
  for (const t of built) {
    const r = run('readelf', ['-d', path.join(dir, t)]);
    if (r.status !== 0) { out.push(`readelf ${t}: ${r.stderr.trim()}`); continue; }
    for (const [, so] of r.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)) (needs[so] ||= []).push(t);
  }
  // One dpkg -S for all: "pkg:arch: /path/soname" lines for those it knows.
  const q = run('dpkg', ['-S', ...Object.keys(needs).map((so) => `*/${so}`)]);
  const owners = {};
  for (const [, pkg, so] of (q.stdout || '').matchAll(/^([^:\s]+)(?::\S+)?: .*\/([^/\n]+)$/gm)) (owners[so] ||= []).push(pkg);
  for (const [so, ts] of Object.entries(needs)) {
    const pkgs = owners[so] || [];
    if (!pkgs.some((p) => have.has(p))) out.push(`${ts.join(', ')} need ${so} (${pkgs.join(' ') || 'no package'}), not in the runtime stage`);
  }
  return out;
});

// .dockerignore, matched the way Docker does: last matching line wins, a
// line matches a path or one of its parent folders, "!" re-includes.
function ignored(rel, rules) {
  let out = false;
  const prefixes = rel.split('/').map((_, i, a) => a.slice(0, i + 1).join('/'));
  for (const { neg, re } of rules) if (prefixes.some((p) => re.test(p))) out = !neg;
  return out;
}
function readIgnore() {
  const f = path.join(L.ROOT, '.dockerignore');
  if (!fs.existsSync(f)) return [];
  return fs.readFileSync(f, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const neg = l.startsWith('!'), pat = path.posix.normalize(l.replace(/^!/, '')).replace(/^\/|\/$/g, '');
    const re = pat.split('/').map((seg) => seg === '**' ? '(?:.*)' :
      seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('/')
      .replace(/\(\?:\.\*\)\//g, '(?:.*/)?');
    return { neg, re: new RegExp(`^${re}$`) };
  });
}

L.check('dockerignore-keeps-build-inputs', () => {
  const rules = readIgnore();
  const inputs = ['Makefile', 'proto/rebuttal.proto',
    ...fs.readdirSync(path.join(L.ROOT, 'lib')).map((f) => `lib/${f}`),
    ...parts.flatMap((p) => fs.readdirSync(path.join(L.ROOT, p.name)).map((f) => `${p.name}/${f}`)),
    ...df.copies.filter((c) => !c.from).flatMap((c) => c.src).filter((s) => s !== '.')];
  const out = inputs.filter((f) => ignored(f, rules)).map((f) => `${f} is excluded by .dockerignore`);
  const missing = df.copies.filter((c) => !c.from).flatMap((c) => c.src).filter((s) => !fs.existsSync(path.join(L.ROOT, s)));
  out.push(...missing.map((s) => `COPY source ${s} does not exist`));
  if (!ignored('build/bin/gateway', rules)) out.push('build/ is not excluded (host binaries would shadow the build)');
  return out;
});

L.done();
