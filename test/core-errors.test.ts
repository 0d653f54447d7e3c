// Bad input: every refusal is one clear line naming the field or path, a
// non-zero exit, and nothing left behind (no state dir, cgroup, process, mount).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leftovers, sandbox, uniqueId } from './lib/tsrun.ts';
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

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
});

test.run();
