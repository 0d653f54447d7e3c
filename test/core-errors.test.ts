// Bad input: every refusal is one clear line naming the field or path, a
// non-zero exit, and nothing left behind (no state dir, cgroup, process, mount).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leftovers, PROJECT, runCommand, sandbox, TSRUN, uniqueId } from './lib/tsrun.ts';
import { execFileSync } from 'node:child_process';
import type { Config } from '../src/runtime/oci-types.ts';

const sb = sandbox();
test.after(async () => {
  await sb.cleanup();
});

async function refused(edit: (c: Config) => void, expected: string | RegExp, bundleEdit?: (dir: string) => void): Promise<void> {
  const id = uniqueId('bad');
  const bundle = sb.bundle(edit);
  bundleEdit?.(bundle);
  const r = await sb.tsrun(['create', '--bundle', bundle, id]);
  assert.is.not(r.exitCode, 0, 'create must fail');
  assert.match(r.stderr, expected);
  assert.is(r.stderr.split('\n').length, 1, `one line: ${r.stderr}`);
  assert.not.ok(existsSync(join(sb.root, id)), 'no state dir');
  assert.equal(leftovers(sb.root), []);
}

test('schema errors name the JSON path', async () => {
  await refused((c) => { c.process!.args = []; }, 'config.json: /process/args: must have at least 1 item');
  await refused((c) => { (c.process!.user as { uid: unknown }).uid = 'root'; }, '/process/user/uid: must be an integer');
  await refused((c) => { (c.linux!.namespaces![0] as { type: string }).type = 'pids'; }, /\/linux\/namespaces\/0\/type: must be one of/);
});

test('invalid JSON and a missing config', async () => {
  await refused(() => {}, /config.json: invalid JSON/, (dir) => writeFileSync(join(dir, 'config.json'), '{"ociVersion": '));
  await refused(() => {}, /read config ".*config.json": enoent/, (dir) => rmSync(join(dir, 'config.json')));
});

test('semantic errors: missing rootfs, relative paths, hostname without uts, unknown capability', async () => {
  await refused((c) => { c.root.path = '/does/not/exist'; }, '/root/path: rootfs "/does/not/exist" does not exist');
  await refused((c) => { c.mounts!.push({ destination: 'data', type: 'tmpfs' }); }, /\/mounts\/7\/destination: must be an absolute path, got "data"/);
  await refused((c) => { c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== 'uts'); }, /hostname/);
  await refused((c) => { c.process!.capabilities!.bounding!.push('CAP_FLY'); }, '/process/capabilities/bounding/3: unknown capability "CAP_FLY"');
});

test('a program that is not there fails create, as in runc', async () => {
  await refused((c) => { c.process!.args = ['no-such-program']; }, 'exec: "no-such-program": executable file not found in $PATH');
});

test('a mount destination that climbs out of the rootfs through a symlink is refused; the host is untouched', async () => {
  const rootfs = mkdtempSync(join(tmpdir(), 'tsrun-escape-'));
  const victim = mkdtempSync(join(tmpdir(), 'tsrun-victim-'));
  try {
    mkdirSync(join(rootfs, 'bin'));
    symlinkSync(join(sb.rootfs, 'bin', 'busybox'), join(rootfs, 'bin', 'sh'));
    // ../../.. from the rootfs reaches the host's /: the planted link aims at the victim dir.
    symlinkSync(`../../../../../../../..${victim}`, join(rootfs, 'evil'));
    await refused((c) => {
      c.root = { path: rootfs, readonly: false };
      c.mounts = [{ destination: '/evil/x', type: 'tmpfs', source: 'tmpfs' }];
      c.process!.args = ['/bin/sh', '-c', 'true'];
    }, /mount "tmpfs" on "\/evil\/x": path \/evil\/x escapes the rootfs/);
    assert.equal(readdirSync(victim), [], 'nothing was created on the host');
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
    rmSync(victim, { recursive: true, force: true });
  }
});

test('an absolute symlink in the rootfs is followed inside the rootfs, never on the host', async () => {
  const rootfs = mkdtempSync(join(tmpdir(), 'tsrun-abs-'));
  const victim = mkdtempSync(join(tmpdir(), 'tsrun-victim-'));
  try {
    for (const d of ['bin', 'proc', 'dev']) mkdirSync(join(rootfs, d));
    copyFileSync(join(sb.rootfs, 'bin', 'busybox'), join(rootfs, 'bin', 'busybox'));
    chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
    symlinkSync('busybox', join(rootfs, 'bin', 'sh'));
    symlinkSync(victim, join(rootfs, 'link'));
    const id = uniqueId('abs');
    const bundle = sb.bundle((c) => {
      c.root = { path: rootfs, readonly: false };
      c.mounts = [{ destination: '/link/inside', type: 'tmpfs', source: 'tmpfs' }];
      c.process!.args = ['/bin/sh', '-c', 'true'];
    });
    const r = await sb.tsrun(['run', '--bundle', bundle, id]);
    assert.is(r.exitCode, 0, r.stderr);
    assert.equal(readdirSync(victim), [], 'the host directory the link names is untouched');
    assert.ok(existsSync(join(rootfs, victim, 'inside')), 'the mount point was made inside the rootfs');
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
    rmSync(victim, { recursive: true, force: true });
  }
});

test('bad ids and unknown verbs and options', async () => {
  const r1 = await sb.tsrun(['create', '--bundle', sb.bundle(), '../x']);
  assert.is(r1.exitCode, 1);
  assert.match(r1.stderr, 'invalid container id "../x"');
  const r2 = await sb.tsrun(['frobnicate']);
  assert.is(r2.exitCode, 2);
  assert.match(r2.stderr, 'unknown command "frobnicate"');
  const r3 = await sb.tsrun(['kill', '--bogus', 'x']);
  assert.is(r3.exitCode, 2);
  assert.match(r3.stderr, 'unknown option "--bogus" for "tsrun kill"');
  const r4 = await sb.tsrun(['start']);
  assert.is(r4.exitCode, 2);
  assert.match(r4.stderr, '"tsrun start" needs a container id');
});

test('a failing createContainer step (bad mount type) undoes everything', async () => {
  await refused((c) => { c.mounts!.push({ destination: '/x', type: 'nosuchfs', source: 'none' }); }, /mount "nosuchfs" on "\/x": no such device \(ENODEV\)/);
});

// runc's command line: what it refuses, tsrun refuses in one line (never an
// "internal error" with a stack trace), and nothing is made or removed.
const oneLine = (r: { exitCode: number; stderr: string }, expected: string | RegExp): void => {
  assert.is.not(r.exitCode, 0);
  assert.match(r.stderr, expected);
  assert.is(r.stderr.split('\n').length, 1, `one line: ${r.stderr}`);
  assert.not.match(r.stderr, 'internal error');
};

test('extra arguments are refused, as runc does ("delete -f a b" deleted a and exited 0)', async () => {
  const a = uniqueId('extra');
  assert.is((await sb.tsrun(['create', '--bundle', sb.bundle(), a])).exitCode, 0);
  const del = await sb.tsrun(['delete', '-f', a, 'b']);
  assert.is(del.exitCode, 2);
  oneLine(del, '"tsrun delete" requires exactly 1 argument; unexpected "b"');
  assert.is((await sb.tsrun(['state', a])).exitCode, 0, 'a is still there');
  oneLine(await sb.tsrun(['kill', a, 'KILL', 'extra']), '"tsrun kill" requires a maximum of 2 arguments');
  oneLine(await sb.tsrun(['list', 'x']), '"tsrun list" requires exactly 0 arguments');
  assert.is((await sb.tsrun(['delete', '-f', a])).exitCode, 0);
});

test('a wrong --bundle, a config.json that is not a regular file, a missing example rootfs', async () => {
  const id = uniqueId('bundle');
  oneLine(await sb.tsrun(['create', '--bundle', '/does/not/exist', id]), 'bundle "/does/not/exist": no such directory');
  const file = join(sb.dir, 'a-file');
  writeFileSync(file, '');
  oneLine(await sb.tsrun(['create', '--bundle', file, id]), `bundle "${file}": not a directory`);
  // A FIFO: reading it would block until someone writes.
  const fifoBundle = join(sb.dir, 'fifo-bundle');
  mkdirSync(fifoBundle);
  execFileSync('mkfifo', [join(fifoBundle, 'config.json')]);
  oneLine(await sb.tsrun(['create', '--bundle', fifoBundle, id]), /read config ".*fifo-bundle\/config.json": not a regular file/);
  // examples/busybox before make-rootfs.sh ran.
  const example = join(sb.dir, 'busybox-example');
  mkdirSync(example);
  copyFileSync(join(PROJECT, 'examples/busybox/config.json'), join(example, 'config.json'));
  copyFileSync(join(PROJECT, 'examples/busybox/make-rootfs.sh'), join(example, 'make-rootfs.sh'));
  oneLine(await sb.tsrun(['create', '--bundle', example, id]), `does not exist (make it with ${example}/make-rootfs.sh)`);
  assert.not.ok(existsSync(join(sb.root, id)));
});

test('a NUL byte in process.args is a validation error with its JSON path', async () => {
  await refused((c) => { c.process!.args = ['sh', '-c', 'true\u0000false']; }, /config.json: \/process\/args\/2: must not contain a NUL byte/);
});

test('--pid-file in a missing directory is refused before anything is made', async () => {
  const id = uniqueId('pidfile');
  oneLine(await sb.tsrun(['create', '--bundle', sb.bundle(), '--pid-file', join(sb.dir, 'no/such/dir/pid'), id]), /--pid-file ".*no\/such\/dir\/pid": no such directory/);
  assert.not.ok(existsSync(join(sb.root, id)), 'no state dir');
  assert.equal(leftovers(sb.root), []);
});

test('delete on a read-only --root: one line, and the container is left as it was', async () => {
  const root = join(sb.dir, 'ro-root');
  mkdirSync(root);
  const ts = (args: string[]) => runCommand(TSRUN, ['--root', root, ...args]);
  const id = uniqueId('roroot');
  assert.is((await ts(['run', '-d', '--bundle', sb.bundle(), id])).exitCode, 0);
  execFileSync('mount', ['--bind', root, root]);
  try {
    execFileSync('mount', ['-o', 'remount,bind,ro', root]);
    oneLine(await ts(['delete', '-f', id]), /remove state directory ".*": erofs \(--root .* is on a read-only file system\)/);
    assert.match((await ts(['state', id])).stdout, '"status": "running"', 'nothing was killed');
  } finally {
    execFileSync('umount', [root]);
  }
  assert.is((await ts(['delete', '-f', id])).exitCode, 0);
  assert.equal(leftovers(root), []);
});

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
});

test.run();
