// Rootless: a throwaway non-root user (made and removed here) runs tsrun on a
// `tsrun spec --rootless` config (its own uid mapped, written directly) and on
// one with a range from /etc/subuid (written by newuidmap): run, state, list,
// exec, ps, kill, delete; the refusals a non-root caller gets, each naming
// the field. Its state lives under $XDG_RUNTIME_DIR/tsrun.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../src/runtime/oci-types.ts';
import { busyboxRootfs, runCommand, TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';

const user = `tsrl${process.pid % 100000}`;
execFileSync('useradd', ['--no-create-home', '--shell', '/bin/sh', user]);
const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
const work = mkdtempSync(join(tmpdir(), 'tsrun-rootless-'));
chmodSync(work, 0o755);
const xdg = join(work, 'xdg');
const stateRoot = join(xdg, 'tsrun');
mkdirSync(xdg, { mode: 0o700 });
execFileSync('cp', ['-a', busyboxRootfs(), join(work, 'rootfs')]);
execFileSync('chown', ['-R', `${uid}:${gid}`, work]);
const SUBID = `${user}:${400000 + (process.pid % 1000) * 65536}:65536`;
const subStart = Number(SUBID.split(':')[1]);

function removeSubids(): void {
  for (const f of ['/etc/subuid', '/etc/subgid']) {
    if (existsSync(f)) writeFileSync(f, readFileSync(f, 'utf8').split('\n').filter((l) => l !== SUBID).join('\n'));
  }
}

test.after(async () => {
  for (const id of existsSync(stateRoot) ? readdirSync(stateRoot) : []) await asUser(['delete', '--force', id]);
  removeSubids();
  spawnSync('userdel', [user]);
  rmSync(work, { recursive: true, force: true });
});

/** tsrun as the test user, with its own runtime dir and no --root. */
function asUser(args: string[]) {
  return runCommand('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', 'env', `XDG_RUNTIME_DIR=${xdg}`, `HOME=${work}`, TSRUN, ...args]);
}

let n = 0;
/** A bundle owned by the user: `tsrun spec --rootless` as the user, then edited. */
async function bundle(edit: (c: Config) => void): Promise<string> {
  const dir = join(work, `b${n++}`);
  mkdirSync(dir);
  execFileSync('chown', [`${uid}:${gid}`, dir]);
  const r = await asUser(['spec', '--rootless', '--bundle', dir]);
  assert.is(r.exitCode, 0, r.stderr);
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Config;
  c.root = { path: join(work, 'rootfs'), readonly: true };
  c.process!.terminal = false;
  edit(c);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
  return dir;
}

const hostUid = (pid: number): number => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

test('spec --rootless maps the caller alone; run: uid 0 inside, the user outside; one warning about cgroups', async () => {
  const b = await bundle((c) => { c.process!.args = ['sh', '-c', 'id -u; cat /proc/self/uid_map; echo x > /dev/null && echo dev-ok; ls /proc/1/status']; });
  const spec = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8')) as Config;
  assert.equal(spec.linux!.uidMappings, [{ containerID: 0, hostID: uid, size: 1 }]);
  const r = await asUser(['run', '--bundle', b, uniqueId('rl')]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.equal(r.stdout.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')), ['0', `0 ${uid} 1`, 'dev-ok', '/proc/1/status']);
  assert.is(r.stderr.split('\n').filter((l) => /warning/.test(l)).length, 1, r.stderr);
  assert.match(r.stderr, /cgroups skipped/);
});

test('a detached rootless container: state, list, exec, ps, kill, delete; its state under $XDG_RUNTIME_DIR/tsrun', async () => {
  const id = uniqueId('rl');
  const b = await bundle((c) => { c.process!.args = ['sleep', '300']; });
  const r = await asUser(['run', '--detach', '--bundle', b, id]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.ok(existsSync(join(stateRoot, id, 'state.json')), 'state under XDG_RUNTIME_DIR');
  const state = JSON.parse((await asUser(['state', id])).stdout);
  assert.is(state.status, 'running');
  assert.is(hostUid(state.pid), uid);
  assert.match((await asUser(['list'])).stdout, new RegExp(`${id}\\s+${state.pid}\\s+running`));
  const exec = await asUser(['exec', id, 'sh', '-c', 'id -u; cat /proc/self/uid_map']);
  assert.is(exec.exitCode, 0, exec.stderr);
  assert.equal(exec.stdout.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')), ['0', `0 ${uid} 1`]);
  const ps = await asUser(['ps', '--format', 'json', id]);
  assert.is(ps.exitCode, 0, ps.stderr);
  assert.ok((JSON.parse(ps.stdout) as number[]).includes(state.pid), ps.stdout);
  const pause = await asUser(['pause', id]);
  assert.is(pause.exitCode, 1);
  assert.match(pause.stderr, /pause needs the container's cgroup/);
  assert.is((await asUser(['kill', id, 'KILL'])).exitCode, 0);
  assert.ok(await waitFor(async () => JSON.parse((await asUser(['state', id])).stdout).status === 'stopped'));
  const del = await asUser(['delete', id]);
  assert.is(del.exitCode, 0, del.stderr);
  assert.not.ok(existsSync(join(stateRoot, id)));
});

test('several ranges from /etc/subuid, written by newuidmap/newgidmap: exec --user 1000 is the subordinate id', async () => {
  for (const f of ['/etc/subuid', '/etc/subgid']) writeFileSync(f, `${readFileSync(f, 'utf8')}${SUBID}\n`);
  const id = uniqueId('rl');
  const b = await bundle((c) => {
    c.process!.args = ['sleep', '300'];
    c.linux!.uidMappings = [{ containerID: 0, hostID: uid, size: 1 }, { containerID: 1, hostID: subStart, size: 65536 }];
    c.linux!.gidMappings = [{ containerID: 0, hostID: gid, size: 1 }, { containerID: 1, hostID: subStart, size: 65536 }];
  });
  const r = await asUser(['run', '--detach', '--bundle', b, id]);
  assert.is(r.exitCode, 0, r.stderr);
  const exec = await asUser(['exec', '--user', '1000:1000', id, 'sh', '-c', 'id -u; cat /proc/self/uid_map']);
  assert.is(exec.exitCode, 0, exec.stderr);
  assert.equal(exec.stdout.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')), ['1000', `0 ${uid} 1`, `1 ${subStart} 65536`]);
  const pidFile = join(work, `${id}.pid`);
  assert.is((await asUser(['exec', '--detach', '--pid-file', pidFile, '--user', '1000:1000', id, 'sleep', '300'])).exitCode, 0);
  assert.is(hostUid(Number(readFileSync(pidFile, 'utf8'))), subStart + 999);
  assert.is((await asUser(['delete', '--force', id])).exitCode, 0);
  removeSubids();
});

test('refused for a non-root caller, naming the field, nothing left behind', async () => {
  const cases: Array<[string, (c: Config) => void, RegExp]> = [
    ['a range that is not the user\'s', (c) => { c.linux!.uidMappings!.push({ containerID: 1, hostID: 1, size: 10 }); }, /\/linux\/uidMappings\/1: host ids 1-10 are not yours to map/],
    ['no user namespace', (c) => {
      c.linux!.namespaces = c.linux!.namespaces!.filter((x) => x.type !== 'user');
      delete c.linux!.uidMappings;
      delete c.linux!.gidMappings;
    }, /\/linux\/namespaces: a rootless container needs a user namespace/],
    ['a memory limit', (c) => { c.linux!.resources = { memory: { limit: 1 << 26 } }; }, /\/linux\/resources\/memory: a rootless container cannot have resource limits here/],
    ['the network hook', (c) => { c.hooks = { createRuntime: [{ path: TSRUN, args: [TSRUN, 'hook', 'network', 'up', 'veth'] }] }; }, /tsrun hook network: needs root on the host/],
    ['an id-mapped mount', (c) => { c.mounts!.push({ destination: '/tmp', type: 'bind', source: work, options: ['rbind', 'idmap'] }); }, /\/mounts\/\d+\/options: an id-mapped mount needs root/],
  ];
  for (const [name, edit, message] of cases) {
    const id = uniqueId('rlbad');
    const r = await asUser(['run', '--bundle', await bundle(edit), id]);
    assert.is.not(r.exitCode, 0, name);
    assert.match(r.stderr, message, `${name}: ${r.stderr}`);
    assert.not.ok(existsSync(join(stateRoot, id)), `${name}: nothing left`);
  }
  const empty = join(work, 'net');
  mkdirSync(empty);
  execFileSync('chown', [`${uid}:${gid}`, empty]);
  const net = await asUser(['spec', '--rootless', '--net', 'veth', '--bundle', empty]);
  assert.is(net.exitCode, 2);
  assert.match(net.stderr, /network hooks need root on the host/);
});

test('nothing is left behind: no state, no processes of the user', async () => {
  assert.equal(existsSync(stateRoot) ? readdirSync(stateRoot) : [], []);
  // An orphaned zombie is reaped by the machine's PID 1, which here does so
  // only every second or two: wait for that rather than count it.
  const procs = (): string => spawnSync('ps', ['-u', String(uid), '-o', 'pid=,args='], { encoding: 'utf8' }).stdout.trim();
  await waitFor(() => procs() === '', 10_000, 100);
  assert.is(procs(), '');
});

test.run();
