// Rootless podman with tsrun as its runtime: a throwaway user (made and
// removed here) with a subordinate range runs `podman --runtime bin/tsrun`:
// podman puts itself, conmon and tsrun in a user namespace of its own, where
// tsrun is root without the host's rights (no cgroups, state under
// $XDG_RUNTIME_DIR). run --rm id, --userns=keep-id, and exec. The user's
// podman pause process, storage and subordinate ids go with it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxRootfs, runCommand, TSRUN } from './lib/tsrun.ts';

const hasPodman = spawnSync('podman', ['--version']).status === 0 && spawnSync('newuidmap', ['--help']).error === undefined;
if (!hasPodman) console.log('SKIP rootless podman: podman or newuidmap is not installed (scripts/setup.sh installs them)');
const user = `tsrp${process.pid % 100000}`;
const work = mkdtempSync(join(tmpdir(), 'tsrun-podman-rootless-'));
chmodSync(work, 0o755);
const home = join(work, 'home');
const xdg = join(work, 'xdg');
let uid = -1;
const SUBID = `${user}:${600000 + (process.pid % 1000) * 65536}:65536`;

function userPids(): number[] {
  if (uid < 0) return [];
  return spawnSync('ps', ['-u', String(uid), '-o', 'pid='], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.trim()).map(Number);
}

test.before(() => {
  if (!hasPodman) return;
  execFileSync('useradd', ['--home-dir', home, '--create-home', '--shell', '/bin/sh', user]);
  uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  for (const f of ['/etc/subuid', '/etc/subgid']) writeFileSync(f, `${readFileSync(f, 'utf8')}${SUBID}\n`);
  mkdirSync(xdg, { mode: 0o700 });
  execFileSync('tar', ['-C', busyboxRootfs(), '-cf', join(work, 'bb.tar'), '.']);
  chmodSync(join(work, 'bb.tar'), 0o644);
  execFileSync('chown', [`${uid}:${uid}`, xdg]);
});

test.after(async () => {
  if (uid >= 0) {
    await podman(['rm', '-f', '-a']);
    // podman's pause process (catatonit) holds the user namespace: ours to end.
    for (const pid of userPids()) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    spawnSync('userdel', [user]);
  }
  for (const f of ['/etc/subuid', '/etc/subgid']) {
    if (existsSync(f)) writeFileSync(f, readFileSync(f, 'utf8').split('\n').filter((l) => !l.startsWith(`${user}:`)).join('\n'));
  }
  rmSync(work, { recursive: true, force: true });
});

function podman(args: string[]) {
  const base = ['--root', join(home, 'storage'), '--runroot', join(xdg, 'run'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', TSRUN];
  return runCommand('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--init-groups', 'env', `HOME=${home}`, `XDG_RUNTIME_DIR=${xdg}`, `USER=${user}`, 'podman', ...base, ...args]);
}
const image = 'localhost/tsrun-busybox-rootless:test';
const limits = ['--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

(hasPodman ? test : test.skip)('rootless podman run --rm id: root inside, the user\'s uid and subordinate range outside', async () => {
  const imported = await podman(['import', join(work, 'bb.tar'), image]);
  assert.is(imported.exitCode, 0, imported.stderr);
  const r = await podman(['run', '--rm', ...limits, image, 'sh', '-c', 'id -u; cat /proc/self/uid_map']);
  assert.is(r.exitCode, 0, r.stderr);
  const [id, ...maps] = r.stdout.split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
  assert.is(id, '0');
  assert.is(maps[0], `0 ${uid} 1`);
  assert.ok(maps.some((m) => m.endsWith(` ${SUBID.split(':')[1]} 65536`)) || maps.length > 1, maps.join('; '));
});

(hasPodman ? test : test.skip)('rootless podman --userns=keep-id: the user\'s own uid inside', async () => {
  const r = await podman(['run', '--rm', ...limits, '--userns=keep-id', image, 'id', '-u']);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.stdout, String(uid));
});

(hasPodman ? test : test.skip)('rootless podman: a detached container, exec into it, rm -f', async () => {
  const name = `rl-${process.pid}`;
  const r = await podman(['run', '-d', '--name', name, ...limits, image, 'sleep', '300']);
  assert.is(r.exitCode, 0, r.stderr);
  const exec = await podman(['exec', name, 'id', '-u']);
  assert.is(exec.exitCode, 0, exec.stderr);
  assert.is(exec.stdout, '0');
  assert.is((await podman(['rm', '-f', '-t', '0', name])).exitCode, 0);
});

test('nothing is left behind', async () => {
  const ps = spawnSync('ps', ['-eo', 'args='], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(work));
  assert.equal(ps, []);
});

test.run();
