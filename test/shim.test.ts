// The containerd shim end to end: a private containerd (test/lib/containerd.ts)
// finds bin/containerd-shim-tsrun-v2 on its PATH and runs the busybox image
// with `--runtime io.containerd.tsrun.v2`: ctr run (output, exit codes, -t,
// stdin), task exec/kill/pause/resume/metrics/ps, a container that exits before
// kill, the tsrun CLI seeing the shim's containers; then containerd restarted
// while a container runs, the shim killed with SIGKILL (cleanup through the
// `delete` action), two containers grouped in one shim, and bad input on the
// ttrpc socket. Nothing may be left behind. The scenarios test/containerd.test.ts
// also runs through runc's shim are in test/lib/ctr-scenarios.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { decode, encode } from '../src/shim/messages.ts';
import { runCommand, sleepMs, TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';
import { useContainerd } from './lib/containerd.ts';
import { execAndPs, execTerminal, pauseResume, runOutput, runTerminal, sleeperUnderTsrun, stdinAndEof, stopWithTerm } from './lib/ctr-scenarios.ts';

// The namespace's shim exits with its last container here, as runc's does
// (containerd passes its environment on): each test sees its own shim start
// and end. test/shim-groups.test.ts tests the idle namespace shim.
const ctd = useContainerd(test, 'shim', { runtime: 'shim', env: { TSRUN_SHIM_IDLE: '0' } });

/** Removes the task and the container; with `shimGone`, waits until its shim exited too. */
async function removeTask(id: string, shimGone = true): Promise<void> {
  await ctd.removeTask(id);
  if (shimGone) assert.ok(await waitFor(() => ctd.cd.shims().length === 0, 30000, 50), `the shim exited with its last container: ${shimList()}`);
}

// The shim's socket path is too long for sun_path: the bad-input test reaches
// it through this short symlink (connect follows it).
const socketLink = join(tmpdir(), `tsrun-shim-${process.pid}.sock`);
const debug = (): string => ctd.cd.log().slice(-3000);
const shimList = (): string => ctd.cd.shims().map((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')).join('; ');

function header(length: number, stream: number, type: number): Buffer {
  const h = Buffer.alloc(10);
  h.writeUInt32BE(length, 0);
  h.writeUInt32BE(stream, 4);
  h.writeUInt8(type, 8);
  return h;
}

/** Sends raw bytes to the shim's socket; with `answer`, decodes the first response frame. */
function rawFrame(socket: string, bytes: Buffer, answer = true): Promise<{ code: number; message: string }> {
  return new Promise((resolve, reject) => {
    const conn = createConnection({ path: socket });
    let data = Buffer.alloc(0);
    conn.on('connect', () => {
      conn.write(bytes);
      if (!answer) setTimeout(() => (conn.destroy(), resolve({ code: 0, message: '' })), 200);
    });
    conn.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      if (data.length < 10) return;
      const length = data.readUInt32BE(0);
      if (data.length < 10 + length) return;
      conn.destroy();
      const res = decode('ttrpc.Response', data.subarray(10, 10 + length)) as { status?: { code: number; message: string } };
      resolve({ code: res.status?.code ?? 0, message: res.status?.message ?? '' });
    });
    conn.on('error', reject);
  });
}

function rawCall(socket: string, service: string, method: string, payload: Uint8Array): Promise<{ code: number; message: string }> {
  const body = encode('ttrpc.Request', { service, method, payload });
  return rawFrame(socket, Buffer.concat([header(body.length, 1, 1), body]));
}

/** `ctr events` in the background: the topics seen for a container id, in order. */
async function watchEvents(): Promise<{ seen: (id: string) => string[]; stop: () => void }> {
  const file = join(ctd.cd.dir, `events-${Date.now()}.txt`);
  const watcher = spawn('sh', ['-c', `exec ${ctd.cd.ctrCommand(['events'])} > ${file}`], { stdio: 'ignore' });
  await sleepMs(300); // subscribed before the container starts (no timing is asserted)
  return {
    seen: (id) => (existsSync(file) ? readFileSync(file, 'utf8') : '').split('\n').filter((l) => l.includes(id))
      .map((l) => l.split(/\s+/).find((w) => w.startsWith('/tasks/')) ?? ''),
    stop: () => watcher.kill('SIGTERM'),
  };
}

if (!ctd.skip) {
  test.after(() => {
    // unlink, not rmSync: rmSync({force}) follows a dangling link and quietly leaves it.
    try {
      unlinkSync(socketLink);
    } catch {
      // removed already, or never made
    }
  });

  test('ctr run --rm through io.containerd.tsrun.v2: output, stderr and exit code', () => runOutput(ctd, uniqueId('shim-run')));

  test('a detached task is an ordinary tsrun container (state, list, ps, exec through the CLI); SIGTERM from ctr task kill stops it', async () => {
    const id = uniqueId('shim-kill');
    await sleeperUnderTsrun(ctd, id);
    const list = await runCommand(TSRUN, ['--root', ctd.stateRoot, 'list', '-q']);
    assert.ok(list.stdout.split('\n').includes(id), list.stdout);
    const ps = await runCommand(TSRUN, ['--root', ctd.stateRoot, 'ps', id]);
    assert.is(ps.exitCode, 0, ps.stderr);
    assert.match(ps.stdout, 'sleep');
    const ex = await runCommand(TSRUN, ['--root', ctd.stateRoot, 'exec', id, 'cat', '/proc/1/comm']);
    assert.is(ex.stdout, 'tsrun-init', ex.stderr);
    await stopWithTerm(ctd, id);
  });

  test('a container that exits before kill: STOPPED with its status; kill answers "process already finished" (NotFound)', async () => {
    const id = uniqueId('shim-early');
    assert.is((await ctd.cd.ctr(['run', '-d', ...ctd.runtime, ctd.image.name, id, 'sh', '-c', 'exit 7'])).exitCode, 0);
    assert.ok(await waitFor(async () => (await ctd.tasks()).get(id)?.[1] === 'STOPPED', 10000, 100), 'it exited');
    const kill = await ctd.cd.ctr(['task', 'kill', '-s', 'KILL', id]);
    assert.not.equal(kill.exitCode, 0);
    assert.match(kill.stderr, /process already finished|not found/);
    const rm = await ctd.cd.ctr(['task', 'rm', id]);
    assert.is(rm.exitCode, 0, rm.stderr);
    assert.match(rm.stderr, 'exit code 7');
    assert.is((await ctd.cd.ctr(['containers', 'rm', id])).exitCode, 0);
  });

  test('ctr task exec: output and exit code; exec ids are checked; task ps lists init and the workload', async () => {
    const id = uniqueId('shim-exec');
    await ctd.sleeper(id);
    const missing = await ctd.cd.ctr(['task', 'exec', '--exec-id', 'x2', id, 'no-such-program']);
    assert.not.equal(missing.exitCode, 0);
    assert.match(missing.stderr, /no-such-program/);
    await execAndPs(ctd, id);
    await removeTask(id);
  });

  test('ctr task ps: a running exec\'s process carries its exec id, as runc\'s shim reports it', async () => {
    const id = uniqueId('shim-ps');
    await ctd.sleeper(id);
    const ex = await ctd.cd.ctr(['task', 'exec', '--detach', '--exec-id', 'pslong', id, 'sleep', '301']);
    assert.is(ex.exitCode, 0, ex.stderr);
    let ps = '';
    assert.ok(await waitFor(async () => (ps = (await ctd.cd.ctr(['task', 'ps', id])).stdout).includes('pslong'), 10000, 100), ps);
    const line = ps.split('\n').find((l) => l.includes('pslong'))!;
    const pid = Number(line.trim().split(/\s+/)[0]);
    assert.is(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[1], '301', 'the exec\'s own process');
    assert.is(ps.split('\n').filter((l) => l.includes('pslong')).length, 1, 'only that one');
    await removeTask(id);
  });

  test('ctr task pause and resume: PAUSED and frozen (a second pause refused), then RUNNING again; metrics from the cgroup', async () => {
    const id = uniqueId('shim-pause');
    await ctd.sleeper(id);
    await pauseResume(ctd, id);
    const m = await ctd.cd.ctr(['task', 'metrics', id]);
    assert.is(m.exitCode, 0, m.stderr);
    assert.match(m.stdout, /memory\.usage_in_bytes\s+\d+/);
    assert.match(m.stdout, /pids\.current\s+2\b/, `tsrun-init and sleep: ${m.stdout}`);
    await removeTask(id);
  });

  test('stdin without a terminal reaches the container and its EOF ends it (run and task exec)', async () => {
    const exec = uniqueId('shim-stdin-exec');
    await stdinAndEof(ctd, uniqueId('shim-stdin'), exec);
    await removeTask(exec);
  });

  test('ctr run -t and task exec -t: a terminal each, input and output relayed, the window size set', async () => {
    await runTerminal(ctd, uniqueId('shim-tty'));
    const id = uniqueId('shim-exectty');
    await ctd.sleeper(id);
    await execTerminal(ctd, id);
    await removeTask(id);
  });

  test('the task events reach containerd: create, start, exec-added, exec-started, paused, resumed, exit, delete', async () => {
    const id = uniqueId('shim-events');
    const events = await watchEvents();
    try {
      await ctd.sleeper(id);
      assert.is((await ctd.cd.ctr(['task', 'exec', '--exec-id', 'e1', id, 'true'])).exitCode, 0);
      assert.is((await ctd.cd.ctr(['task', 'pause', id])).exitCode, 0);
      assert.is((await ctd.cd.ctr(['task', 'resume', id])).exitCode, 0);
      await removeTask(id);
      const want = ['/tasks/create', '/tasks/start', '/tasks/exec-added', '/tasks/exec-started', '/tasks/paused', '/tasks/resumed', '/tasks/exit', '/tasks/delete'];
      assert.ok(await waitFor(() => want.every((t) => events.seen(id).includes(t)), 10000, 100), `events seen: ${events.seen(id).join(' ')}`);
      const order = events.seen(id).filter((t) => want.includes(t));
      assert.ok(order.indexOf('/tasks/exec-started') < order.lastIndexOf('/tasks/exit'), `exec started before exits: ${order.join(' ')}`);
      assert.ok(order.indexOf('/tasks/start') < order.indexOf('/tasks/exit'), `start before exit: ${order.join(' ')}`);
    } finally {
      events.stop();
    }
  });

  test('a container killed by the OOM killer: TaskOOM, then its exit (137)', async () => {
    const id = uniqueId('shim-oom');
    const events = await watchEvents();
    try {
      // A 64 MiB shell variable under a 16 MiB limit (no swap here).
      const r = await ctd.cd.ctr(['run', '--rm', ...ctd.runtime, '--memory-limit', String(16 << 20), ctd.image.name, id, 'sh', '-c', 'x=$(head -c 67108864 /dev/zero | tr "\\000" a); echo survived']);
      assert.is(r.exitCode, 137, `${r.stdout}\n${r.stderr}`);
      assert.ok(await waitFor(() => events.seen(id).includes('/tasks/oom'), 10000, 100), `events seen: ${events.seen(id).join(' ')}`);
      const order = events.seen(id);
      assert.ok(order.indexOf('/tasks/oom') < order.indexOf('/tasks/exit'), `oom before exit: ${order.join(' ')}`);
    } finally {
      events.stop();
    }
  });

  test('containerd restarted while a container runs: the shim stays, containerd reconnects, exec and kill work, the exit reaches it', async () => {
    const id = uniqueId('shim-restart');
    await ctd.sleeper(id);
    const [pid] = (await ctd.tasks()).get(id)!;
    const shimsBefore = ctd.cd.shims();
    assert.is(shimsBefore.length, 1, 'one shim serves the container');
    await ctd.cd.restart();
    assert.equal(ctd.cd.shims(), shimsBefore, 'the same shim process');
    assert.equal((await ctd.tasks()).get(id), [pid, 'RUNNING'], 'containerd found the task again');
    const ex = await ctd.cd.ctr(['task', 'exec', '--exec-id', 'r1', id, 'echo', 'after-restart']);
    assert.is(ex.stdout, 'after-restart', ex.stderr);
    assert.is((await ctd.cd.ctr(['task', 'kill', '-s', 'KILL', id])).exitCode, 0);
    assert.ok(await waitFor(async () => (await ctd.tasks()).get(id)?.[1] === 'STOPPED', 10000, 100));
    const rm = await ctd.cd.ctr(['task', 'rm', id]);
    assert.match(rm.stderr, 'exit code 137');
    assert.is((await ctd.cd.ctr(['containers', 'rm', id])).exitCode, 0);
    assert.ok(await waitFor(() => ctd.cd.shims().length === 0, 10000), 'the shim exited after Shutdown');
  });

  test('the shim killed with SIGKILL: containerd cleans up through the `delete` action (container, state, rootfs mount)', async () => {
    const id = uniqueId('shim-sigkill');
    await ctd.sleeper(id);
    const [pid] = (await ctd.tasks()).get(id)!;
    const [shim] = ctd.cd.shims();
    assert.ok(shim, 'the shim runs');
    const bundle = ctd.cd.bundle(id);
    const mounted = (): boolean => readFileSync(`/proc/${ctd.cd.pid}/mountinfo`, 'utf8').includes(join(bundle, 'rootfs'));
    assert.ok(mounted(), 'the rootfs is mounted in containerd\'s mount namespace');
    process.kill(shim!, 'SIGKILL');
    assert.ok(await waitFor(async () => !(await ctd.tasks()).has(id), 15000, 100), `containerd dropped the task\n${debug()}`);
    // containerd lists the task no more before its clean-up (the delete action) has finished.
    assert.ok(await waitFor(() => !existsSync(join(ctd.stateRoot, id)), 15000, 50), 'its tsrun state is gone');
    assert.not.ok(existsSync(`/proc/${pid}`), 'the container was killed');
    assert.ok(await waitFor(() => !mounted(), 5000, 50), 'its rootfs was unmounted');
    assert.is((await ctd.cd.ctr(['containers', 'rm', id])).exitCode, 0);
  });

  test('two containers with one group annotation share one shim; each is deleted on its own', async () => {
    const a = uniqueId('shim-group-a');
    const b = uniqueId('shim-group-b');
    const group = ['--annotation', `io.kubernetes.cri.sandbox-id=${a}`];
    await ctd.sleeper(a, group);
    await ctd.sleeper(b, group);
    assert.is(ctd.cd.shims().length, 1, 'one shim for the group');
    const bundleB = ctd.cd.bundle(b);
    assert.not.ok(existsSync(join(bundleB, 'shim.log')), 'the second container joined without a Node start (no shim.log of its own)');
    const t = await ctd.tasks();
    assert.is(t.get(a)?.[1], 'RUNNING');
    assert.is(t.get(b)?.[1], 'RUNNING');
    await removeTask(b, false);
    assert.is(ctd.cd.shims().length, 1, 'the shim stays while a container is left');
    assert.is((await ctd.tasks()).get(a)?.[1], 'RUNNING');
    await removeTask(a);
    assert.ok(await waitFor(() => ctd.cd.shims().length === 0, 10000), 'the shim exited with its last container');
  });

  test('bad input on the ttrpc socket: clear errors with containerd\'s codes, and the shim and its container survive', async () => {
    const id = uniqueId('shim-bad');
    await ctd.sleeper(id);
    const socketPath = readFileSync(join(ctd.cd.bundle(id), 'address'), 'utf8').replace('unix:///run/', `${ctd.cd.dir}/run/`);
    symlinkSync(socketPath, socketLink);
    const socket = socketLink;
    const call = (method: string, type: string, body: object, service = 'containerd.task.v2.Task') => rawCall(socket, service, method, type ? encode(`containerd.task.v2.${type}`, body) : Buffer.from([0xff, 0xff, 0xff]));
    let r = await call('State', 'StateRequest', { id: 'no-such-container' });
    assert.is(r.code, 5, 'NotFound');
    assert.match(r.message, 'no-such-container');
    r = await call('State', 'StateRequest', { id, exec_id: 'no-such-exec' });
    assert.is(r.code, 5);
    assert.match(r.message, 'no-such-exec');
    r = await call('Frobnicate', 'StateRequest', { id });
    assert.is(r.code, 12, 'Unimplemented');
    r = await call('State', 'StateRequest', { id }, 'some.Other');
    assert.is(r.code, 12);
    r = await call('State', '', {});
    assert.is(r.code, 3, 'InvalidArgument: a payload that is not protobuf');
    const bundle = ctd.cd.bundle(id);
    r = await call('Create', 'CreateTaskRequest', { id, bundle });
    assert.is(r.code, 6, 'AlreadyExists');
    assert.match(r.message, 'already exists');
    r = await call('Delete', 'DeleteRequest', { id });
    assert.is(r.code, 9, 'FailedPrecondition: a running container');
    r = await call('Checkpoint', 'CheckpointTaskRequest', { id });
    assert.is(r.code, 12);
    assert.match(r.message, 'checkpoint');
    // A frame announcing more than ttrpc's 4 MiB, then garbage that is not a frame at all.
    const big = await rawFrame(socket, Buffer.concat([header(5 << 20, 1, 1), Buffer.alloc(64)]));
    assert.is(big.code, 8, 'ResourceExhausted');
    await rawFrame(socket, Buffer.from('GET / HTTP/1.1\r\n\r\n'), false);
    r = await call('State', 'StateRequest', { id });
    assert.is(r.code, 0, r.message);
    assert.equal((await ctd.tasks()).get(id)?.[1], 'RUNNING', 'the container is still there');
    unlinkSync(socketLink);
    await removeTask(id);
  });

  test('nothing is left behind: no tasks, containers, tsrun state, shims, sockets, cgroups', async () => {
    await ctd.nothingLeftBehind();
  });
}

test.run();
