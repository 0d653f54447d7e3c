// runtime-spec exactness (issue #11 item 5), against the real kernel:
// every linux.rootfsPropagation value works (shared used to fail pivot_root,
// unbindable the rootfs bind) and gives / the propagation asked for; an
// `rshared` bind of a shared host directory propagates both ways (Kubernetes'
// Bidirectional mounts) without anything else of the container reaching the
// host; linux.devices nodes are made under a deny-all device cgroup rule; a
// config without a mount namespace (or without any) inherits the runtime's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import { leftovers, sandbox, TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';
import type { Config } from '../src/runtime/oci-types.ts';

type Propagation = NonNullable<NonNullable<Config['linux']>['rootfsPropagation']>;
const sb = sandbox();
const hostMounts: string[] = []; // made by the test on the host, unmounted in reverse
const mountHere = (args: string[]): void => {
  execFileSync('mount', args);
  hostMounts.push(args.at(-1)!);
};
const unmountHost = (): void => {
  for (const m of hostMounts.splice(0).reverse()) try { execFileSync('umount', ['-l', m]); } catch { /* already gone */ }
};
test.after(async () => {
  unmountHost();
  await sb.cleanup();
});

/** The host's mounts under `dir` (mount points only). */
const mountsUnder = (dir: string): string[] => readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
  .map((l) => l.split(' ')[4] ?? '').filter((p) => p === dir || p.startsWith(`${dir}/`));

/** The busybox rootfs as a plain directory in a shared host mount: what a
 *  bundle's rootfs looks like on a systemd machine, where / is shared. */
function sharedRootfs(): string {
  const holder = join(sb.dir, 'shared-holder');
  const rootfs = join(holder, basename(sb.rootfs));
  if (existsSync(join(rootfs, 'bin'))) return rootfs;
  mkdirSync(holder);
  mountHere(['--bind', dirname(sb.rootfs), holder]);
  execFileSync('mount', ['--make-shared', holder]);
  return rootfs;
}

async function run(edit: (c: Config) => void, script: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await sb.tsrun(['run', '--bundle', sb.bundle((c) => { c.process!.args = ['sh', '-c', script]; edit(c); }), uniqueId('spec')]);
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

// The optional fields of /'s mountinfo line: shared:N, master:N, unbindable.
const ROOT_FIELDS = 'awk \'$5 == "/" { for (i = 7; $i != "-"; i++) printf "%s ", $i; print "" }\' /proc/self/mountinfo';

test('every rootfsPropagation works and gives / what it asks for; nothing reaches the host', async () => {
  const rootfs = sharedRootfs();
  const holder = join(sb.dir, 'shared-holder');
  const before = mountsUnder(holder);
  const expect: Record<string, RegExp> = {
    shared: /^shared:\d+ $/, rshared: /^shared:\d+ $/,
    slave: /^master:\d+ $/, rslave: /^master:\d+ $/,
    private: /^$/, rprivate: /^$/,
    unbindable: /^unbindable $/, runbindable: /^unbindable $/,
  };
  for (const [propagation, want] of Object.entries(expect)) {
    const r = await run((c) => { c.root = { path: rootfs, readonly: true }; c.linux!.rootfsPropagation = propagation as Propagation; }, ROOT_FIELDS);
    assert.is(r.exitCode, 0, `${propagation}: ${r.stderr}`);
    assert.match(r.stdout, want, `${propagation}: / has "${r.stdout}"`);
  }
  // root.path through a symlink: the mount made private must be the rootfs's, not the link's
  const link = join(sb.dir, 'rootfs-link');
  symlinkSync(rootfs, link);
  for (const propagation of ['shared', 'rshared'] as const) {
    const r = await run((c) => { c.root = { path: link, readonly: true }; c.linux!.rootfsPropagation = propagation; }, ROOT_FIELDS);
    assert.is(r.exitCode, 0, `${propagation} through a link: ${r.stderr}`);
  }
  assert.equal(mountsUnder(holder), before, 'no mount of any container propagated to the host');
});

test('an rshared bind of a shared host dir (rootfsPropagation rshared, as the CRI makes Bidirectional): mounts propagate both ways', async () => {
  const shared = join(sb.dir, 'bidi');
  mkdirSync(shared);
  mountHere(['--bind', shared, shared]);
  execFileSync('mount', ['--make-shared', shared]);
  mkdirSync(join(shared, 'from-container'));
  mkdirSync(join(shared, 'from-host'));
  const id = uniqueId('bidi');
  const bundle = sb.bundle((c) => {
    c.linux!.rootfsPropagation = 'rshared';
    c.mounts!.push({ destination: '/data', type: 'bind', source: shared, options: ['rbind', 'rshared'] });
    for (const set of ['bounding', 'effective', 'permitted'] as const) c.process!.capabilities![set]!.push('CAP_SYS_ADMIN');
    c.process!.args = ['sh', '-c', [
      'mount -t tmpfs made-inside /data/from-container && echo inside > /data/from-container/f',
      'i=0; while [ ! -e /data/from-host/f ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done',
      'cat /data/from-host/f',
    ].join('; ')];
  });
  const child = execa(TSRUN, ['--root', sb.root, 'run', '--bundle', bundle, id], { reject: false });
  try {
    assert.ok(await waitFor(() => existsSync(join(shared, 'from-container', 'f')), 10000), 'the container\'s mount appeared on the host');
    assert.is(readFileSync(join(shared, 'from-container', 'f'), 'utf8'), 'inside\n');
    mountHere(['-t', 'tmpfs', 'made-outside', join(shared, 'from-host')]);
    writeFileSync(join(shared, 'from-host', 'f'), 'outside\n');
    const r = await child;
    assert.is(r.exitCode, 0, r.stderr);
    assert.is(r.stdout, 'outside', 'the host\'s mount appeared in the container');
  } finally {
    child.kill('SIGKILL');
    await sb.tsrun(['delete', '-f', id]);
    for (const d of ['from-container', 'from-host']) try { execFileSync('umount', [join(shared, d)]); } catch { /* not mounted */ }
  }
});

test('the default (rslave) with an rshared mount: host mounts come in, the container\'s stay inside', async () => {
  const shared = join(sb.dir, 'oneway');
  mkdirSync(shared);
  mountHere(['--bind', shared, shared]);
  execFileSync('mount', ['--make-shared', shared]);
  mkdirSync(join(shared, 'in'));
  mountHere(['-t', 'tmpfs', 'host-side', join(shared, 'in')]);
  const r = await run((c) => {
    c.mounts!.push({ destination: '/data', type: 'bind', source: shared, options: ['rbind', 'rshared'] });
    for (const set of ['bounding', 'effective', 'permitted'] as const) c.process!.capabilities![set]!.push('CAP_SYS_ADMIN');
  }, 'grep -c " /data/in " /proc/self/mountinfo; mkdir -p /data/in/x && mount -t tmpfs c /data/in/x && echo mounted');
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.stdout, '1\nmounted');
  assert.equal(mountsUnder(join(shared, 'in')), [join(shared, 'in')], 'the container\'s mount did not reach the host');
});

test('linux.devices are made under a deny-all device rule; the rule still denies their use', async () => {
  const r = await run((c) => {
    c.linux!.devices = [{ type: 'c', path: '/dev/kmsg-copy', major: 1, minor: 11, fileMode: 0o600 }];
    c.linux!.resources = { devices: [{ allow: false, access: 'rwm' }] };
  }, 'ls -l /dev/kmsg-copy | awk \'{print $1, $5, $6}\'; head -c1 /dev/kmsg-copy 2>&1 >/dev/null | grep -o "Operation not permitted"; head -c1 /dev/zero | wc -c');
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.stdout, 'crw------- 1, 11\nOperation not permitted\n1', 'the node exists, reading it is denied, /dev/zero still works');
});

/** The default config without a mount namespace and what needs one. */
function noMountNamespace(c: Config, keep: string[]): void {
  c.linux!.namespaces = c.linux!.namespaces!.filter((ns) => keep.includes(ns.type));
  c.mounts = [];
  c.root = { path: sb.rootfs, readonly: false };
  c.linux!.maskedPaths = [];
  c.linux!.readonlyPaths = [];
  if (!keep.includes('uts')) delete c.hostname;
}

test('no mount namespace: the container inherits tsrun\'s, with a warning; chroot into the rootfs, nothing mounted; exec enters the same root', async () => {
  const mountsBefore = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').length;
  const id = uniqueId('nomnt');
  const bundle = sb.bundle((c) => noMountNamespace(c, ['pid', 'network', 'ipc', 'uts']));
  const r = await sb.tsrun(['run', '-d', '--bundle', bundle, id]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stderr, 'warning: /linux/namespaces has no mount namespace: the container shares tsrun\'s (the host\'s)');
  const pid = JSON.parse((await sb.tsrun(['state', id])).stdout).pid;
  assert.is(readlinkSync(`/proc/${pid}/ns/mnt`), readlinkSync('/proc/self/ns/mnt'), 'the mount namespace is the runtime\'s');
  assert.is.not(readlinkSync(`/proc/${pid}/ns/pid`), readlinkSync('/proc/self/ns/pid'), 'the listed ones are its own');
  assert.is(readlinkSync(`/proc/${pid}/root`), realpathSync(sb.rootfs), 'its root is the rootfs (chroot)');
  const ex = await sb.tsrun(['exec', id, 'sh', '-c', 'ls /; readlink /proc/self/root 2>/dev/null || echo no-proc']);
  assert.is(ex.exitCode, 0, ex.stderr);
  assert.ok(ex.stdout.split('\n').includes('bin') && !ex.stdout.split('\n').includes('work'), `exec sees the rootfs: ${ex.stdout}`);
  assert.is(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').length, mountsBefore, 'nothing was mounted on the host');
  assert.is((await sb.tsrun(['delete', '-f', id])).exitCode, 0);
});

test('no namespace listed at all: every one is inherited; mounts without a mount namespace are refused by name, nothing left', async () => {
  const r = await run((c) => noMountNamespace(c, []), 'echo fine');
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.stdout, 'fine');
  const id = uniqueId('nomnt-refused');
  const bad = await sb.tsrun(['create', '--bundle', sb.bundle((c) => {
    noMountNamespace(c, ['pid']);
    c.mounts = [{ destination: '/proc', type: 'proc', source: 'proc' }];
  }), id]);
  assert.is.not(bad.exitCode, 0);
  assert.match(bad.stderr, '/mounts: needs a mount namespace (add {"type": "mount"} to linux.namespaces): without one they would be mounted in the host\'s mount namespace');
  assert.not.ok(existsSync(join(sb.root, id)));
});

test('nothing is left behind', async () => {
  for (const id of existsSync(sb.root) ? readdirSync(sb.root) : []) await sb.tsrun(['delete', '-f', id]);
  unmountHost();
  assert.equal(mountsUnder(sb.dir), []);
  assert.equal(leftovers(sb.root), []);
});

test.run();
