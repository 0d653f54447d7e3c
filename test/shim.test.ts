// The containerd shim end to end: a private containerd (test/lib/containerd.ts)
// finds bin/containerd-shim-tsrun-v2 on its PATH and runs the busybox image
// with `--runtime io.containerd.tsrun.v2`: ctr run (output, exit codes, -t,
// stdin), task exec/kill/pause/resume/metrics/ps, a container that exits before
// kill, the tsrun CLI seeing the shim's containers; then containerd restarted
// while a container runs, the shim killed with SIGKILL (cleanup through the
// `delete` action), two containers grouped in one shim, and bad input on the
// ttrpc socket. Nothing may be left behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { decode, encode } from '../src/shim/messages.ts';
import { leftovers, PROJECT, runCommand, sleepMs, TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';
import { ensureContainerd, startContainerd, type Containerd, ctrTasks, removeCtrTask } from './lib/containerd.ts';
import { buildBusyboxImage, type BuiltImage } from './lib/oci-image.ts';

const skip = ensureContainerd();
let cd: Containerd;
let image: BuiltImage;
let work: string;
const namespace = `tsrun-${process.pid}-shim`;
const RUNTIME = ['--runtime', 'io.containerd.tsrun.v2'];
// containerd finds a runtime v2 shim on its PATH by the name containerd-shim-<name>-<version>.
process.env.PATH = `${join(PROJECT, 'bin')}:${process.env.PATH}`;
// The namespace's shim exits with its last container here, as runc's does
// (containerd passes its environment on): each test sees its own shim start
// and end. test/shim-groups.test.ts tests the idle namespace shim.
process.env.TSRUN_SHIM_IDLE = '0';

const tasks = (): Promise<Map<string, [number, string]>> => ctrTasks(cd);

/** Removes the task and the container; with `shimGone`, waits until its shim exited too. */
async function removeTask(id: string, shimGone = true): Promise<void> {
  await removeCtrTask(cd, id);
  if (shimGone) assert.ok(await waitFor(() => cd.shims().length === 0, 30000, 50), `the shim exited with its last container: ${shimList()}`);
}

const tsrunRoot = (): string => join(cd.dir, 'run', 'containerd', 'tsrun', namespace);
const debug = (): string => cd.log().slice(-3000);
const after: Array<() => void> = [];
const shimList = (): string => cd.shims().map((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')).join('; ');

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
  const file = join(cd.dir, `events-${Date.now()}.txt`);
  const watcher = spawn('sh', ['-c', `exec ${cd.ctrCommand(['events'])} > ${file}`], { stdio: 'ignore' });
  await sleepMs(300); // subscribed before the container starts (no timing is asserted)
  return {
    seen: (id) => (existsSync(file) ? readFileSync(file, 'utf8') : '').split('\n').filter((l) => l.includes(id))
      .map((l) => l.split(/\s+/).find((w) => w.startsWith('/tasks/')) ?? ''),
    stop: () => watcher.kill('SIGTERM'),
  };
}

if (skip) {
  console.log(`SKIP shim: ${skip}`);
  test('containerd is not available here', () => {
    assert.ok(skip.length > 0);
  });
} else {
  test.before(async () => {
    work = mkdtempSync(join(tmpdir(), 'tsrun-image-'));
    image = buildBusyboxImage(work, `tsrun-busybox-${process.pid}`);
    cd = await startContainerd(namespace);
    const imp = await cd.ctr(['images', 'import', image.archive]);
    assert.is(imp.exitCode, 0, imp.stderr);
  });
  test.after(async () => {
    for (const f of after) f();
    if (cd) {
      for (const id of (await tasks()).keys()) await cd.ctr(['task', 'rm', '--force', id]);
      const cs = await cd.ctr(['containers', 'ls', '-q']);
      for (const id of cs.stdout.split('\n').filter(Boolean)) await cd.ctr(['containers', 'rm', id]);
      await cd.stop();
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('ctr run --rm through io.containerd.tsrun.v2: output, stderr and exit code', async () => {
    const id = uniqueId('shim-run');
    const r = await cd.ctr(['run', '--rm', ...RUNTIME, image.name, id, 'sh', '-c', 'echo hi; echo err >&2; exit 3']);
    assert.is(r.exitCode, 3, `${r.stderr}\n${debug()}`);
    assert.is(r.stdout, 'hi');
    assert.match(r.stderr, 'err');
    assert.not.ok((await tasks()).has(id), '--rm removed the task');
    assert.not.ok(existsSync(join(tsrunRoot(), id)), 'and tsrun\'s state');
  });

  test('a detached task is an ordinary tsrun container (state, list, ps, exec through the CLI); SIGTERM from ctr task kill stops it', async () => {
    const id = uniqueId('shim-kill');
    const r = await cd.ctr(['run', '-d', ...RUNTIME, image.name, id, 'sleep', '300']);
    assert.is(r.exitCode, 0, `${r.stderr}\n${debug()}`);
    const [pid, status] = (await tasks()).get(id) ?? [0, 'missing'];
    assert.is(status, 'RUNNING');
    const state = await runCommand(TSRUN, ['--root', tsrunRoot(), 'state', id]);
    assert.is(state.exitCode, 0, state.stderr);
    assert.is(JSON.parse(state.stdout).pid, pid);
    assert.is(JSON.parse(state.stdout).status, 'running');
    assert.is(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'tsrun-init');
    const list = await runCommand(TSRUN, ['--root', tsrunRoot(), 'list', '-q']);
    assert.ok(list.stdout.split('\n').includes(id), list.stdout);
    const ps = await runCommand(TSRUN, ['--root', tsrunRoot(), 'ps', id]);
    assert.is(ps.exitCode, 0, ps.stderr);
    assert.match(ps.stdout, 'sleep');
    const ex = await runCommand(TSRUN, ['--root', tsrunRoot(), 'exec', id, 'cat', '/proc/1/comm']);
    assert.is(ex.stdout, 'tsrun-init', ex.stderr);
    const kill = await cd.ctr(['task', 'kill', id]);
    assert.is(kill.exitCode, 0, kill.stderr);
    assert.ok(await waitFor(async () => (await tasks()).get(id)?.[1] === 'STOPPED', 10000, 100), 'TERM stops sleep under tsrun-init');
    const rm = await cd.ctr(['task', 'rm', id]);
    assert.is(rm.exitCode, 0, rm.stderr);
    assert.match(rm.stderr, 'exit code 143', 'sleep died of SIGTERM: 128+15');
    assert.is((await cd.ctr(['containers', 'rm', id])).exitCode, 0);
    assert.not.ok(existsSync(join(tsrunRoot(), id)), 'the shim deleted the container');
  });

  test('a container that exits before kill: STOPPED with its status; kill answers "process already finished" (NotFound)', async () => {
    const id = uniqueId('shim-early');
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, id, 'sh', '-c', 'exit 7'])).exitCode, 0);
    assert.ok(await waitFor(async () => (await tasks()).get(id)?.[1] === 'STOPPED', 10000, 100), 'it exited');
    const kill = await cd.ctr(['task', 'kill', '-s', 'KILL', id]);
    assert.not.equal(kill.exitCode, 0);
    assert.match(kill.stderr, /process already finished|not found/);
    const rm = await cd.ctr(['task', 'rm', id]);
    assert.is(rm.exitCode, 0, rm.stderr);
    assert.match(rm.stderr, 'exit code 7');
    assert.is((await cd.ctr(['containers', 'rm', id])).exitCode, 0);
  });

  test('ctr task exec: output and exit code; task ps lists init and the workload; exec ids are checked', async () => {
    const id = uniqueId('shim-exec');
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, id, 'sleep', '300'])).exitCode, 0);
    const ex = await cd.ctr(['task', 'exec', '--exec-id', 'x1', id, 'sh', '-c', 'echo "in exec $$"; cat /proc/1/comm; exit 4']);
    assert.is(ex.exitCode, 4, `${ex.stderr}\n${debug()}`);
    const [first, comm] = ex.stdout.split('\n');
    assert.match(first!, /^in exec \d$/, 'a small pid: in the container\'s pid namespace');
    assert.is(comm, 'tsrun-init');
    const missing = await cd.ctr(['task', 'exec', '--exec-id', 'x2', id, 'no-such-program']);
    assert.not.equal(missing.exitCode, 0);
    assert.match(missing.stderr, /no-such-program/);
    const ps = await cd.ctr(['task', 'ps', id]);
    assert.is(ps.exitCode, 0, ps.stderr);
    const pids = ps.stdout.split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0]));
    const comms = pids.map((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim()).sort();
    assert.equal(comms, ['sleep', 'tsrun-init'], ps.stdout);
    await removeTask(id);
  });

  test('ctr task ps: a running exec\'s process carries its exec id, as runc\'s shim reports it', async () => {
    const id = uniqueId('shim-ps');
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, id, 'sleep', '300'])).exitCode, 0);
    const ex = await cd.ctr(['task', 'exec', '--detach', '--exec-id', 'pslong', id, 'sleep', '301']);
    assert.is(ex.exitCode, 0, ex.stderr);
    let ps = '';
    assert.ok(await waitFor(async () => (ps = (await cd.ctr(['task', 'ps', id])).stdout).includes('pslong'), 10000, 100), ps);
    const line = ps.split('\n').find((l) => l.includes('pslong'))!;
    const pid = Number(line.trim().split(/\s+/)[0]);
    assert.is(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[1], '301', 'the exec\'s own process');
    assert.is(ps.split('\n').filter((l) => l.includes('pslong')).length, 1, 'only that one');
    await removeTask(id);
  });

  test('ctr task pause and resume: PAUSED, then RUNNING again; metrics from the cgroup', async () => {
    const id = uniqueId('shim-pause');
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, id, 'sleep', '300'])).exitCode, 0);
    const pause = await cd.ctr(['task', 'pause', id]);
    assert.is(pause.exitCode, 0, pause.stderr);
    assert.is((await tasks()).get(id)?.[1], 'PAUSED');
    const again = await cd.ctr(['task', 'pause', id]);
    assert.not.equal(again.exitCode, 0, 'pausing a paused container is refused');
    const resume = await cd.ctr(['task', 'resume', id]);
    assert.is(resume.exitCode, 0, resume.stderr);
    assert.is((await tasks()).get(id)?.[1], 'RUNNING');
    const ex = await cd.ctr(['task', 'exec', '--exec-id', 'after', id, 'echo', 'thawed']);
    assert.is(ex.stdout, 'thawed', 'the container works after resume');
    const m = await cd.ctr(['task', 'metrics', id]);
    assert.is(m.exitCode, 0, m.stderr);
    assert.match(m.stdout, /memory\.usage_in_bytes\s+\d+/);
    assert.match(m.stdout, /pids\.current\s+2\b/, `tsrun-init and sleep: ${m.stdout}`);
    await removeTask(id);
  });

  test('stdin without a terminal reaches the container and its EOF ends it (run and task exec)', async () => {
    const id = uniqueId('shim-stdin');
    const whenRunning = `n=0; until eval "$CTR task ls" | grep -q "^${id} .*RUNNING" || [ $n -gt 400 ]; do n=$((n+1)); sleep 0.05; done`;
    const run = await cd.shell(`(${whenRunning}; echo from-stdin) | eval "$CTR run --rm --runtime io.containerd.tsrun.v2 ${image.name} ${id} sh -c 'cat; echo eof'"`);
    assert.is(run.exitCode, 0, run.stderr);
    assert.is(run.stdout, 'from-stdin\neof');
    const id2 = uniqueId('shim-stdin-exec');
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, id2, 'sleep', '300'])).exitCode, 0);
    const whenExec = `n=0; until [ "$(eval "$CTR task ps ${id2}" | wc -l)" -gt 3 ] || [ $n -gt 400 ]; do n=$((n+1)); sleep 0.05; done`;
    const ex = await cd.shell(`(${whenExec}; echo exec-stdin) | eval "$CTR task exec --exec-id in1 ${id2} sh -c 'cat; echo eof'"`);
    assert.is(ex.exitCode, 0, ex.stderr);
    assert.is(ex.stdout, 'exec-stdin\neof');
    await removeTask(id2);
  });

  test('ctr run -t and task exec -t: a terminal each, input and output relayed, the window size set', async () => {
    const id = uniqueId('shim-tty');
    const r = await cd.shell(`printf 'tty; echo inside-$((6*7)); exit\\n' | script -qec "stty rows 33 cols 101; $CTR run -t --rm --runtime io.containerd.tsrun.v2 ${image.name} ${id} sh" /dev/null`);
    const out = r.stdout.replace(/\r/g, '');
    assert.match(out, /^inside-42$/m, `${out}\n${r.stderr}`);
    assert.match(out, /^\/dev\/pts\/\d+$/m);
    assert.not.ok((await tasks()).has(id));
    const id2 = uniqueId('shim-exectty');
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, id2, 'sleep', '300'])).exitCode, 0);
    // ctr sets the size after Start: the exec waits for it (up to 10 s) rather than race it.
    const waitSize = `n=0; while [ "$(stty size)" != "33 101" ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done`;
    const e = await cd.shell(`printf '${waitSize}; echo exec-$((6*7)); stty size; exit\\n' | script -qec "stty rows 33 cols 101; $CTR task exec -t --exec-id t1 ${id2} sh" /dev/null`);
    const eout = e.stdout.replace(/\r/g, '');
    assert.match(eout, /^exec-42$/m, `${eout}\n${e.stderr}`);
    assert.match(eout, /^33 101$/m, 'ResizePty gave the exec our window size');
    await removeTask(id2);
  });

  test('the task events reach containerd: create, start, exec-added, exec-started, paused, resumed, exit, delete', async () => {
    const id = uniqueId('shim-events');
    const events = await watchEvents();
    try {
      assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, id, 'sleep', '300'])).exitCode, 0);
      assert.is((await cd.ctr(['task', 'exec', '--exec-id', 'e1', id, 'true'])).exitCode, 0);
      assert.is((await cd.ctr(['task', 'pause', id])).exitCode, 0);
      assert.is((await cd.ctr(['task', 'resume', id])).exitCode, 0);
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
      const r = await cd.ctr(['run', '--rm', ...RUNTIME, '--memory-limit', String(16 << 20), image.name, id, 'sh', '-c', 'x=$(head -c 67108864 /dev/zero | tr "\\000" a); echo survived']);
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
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, id, 'sleep', '300'])).exitCode, 0);
    const [pid] = (await tasks()).get(id)!;
    const shimsBefore = cd.shims();
    assert.is(shimsBefore.length, 1, 'one shim serves the container');
    await cd.restart();
    assert.equal(cd.shims(), shimsBefore, 'the same shim process');
    assert.equal((await tasks()).get(id), [pid, 'RUNNING'], 'containerd found the task again');
    const ex = await cd.ctr(['task', 'exec', '--exec-id', 'r1', id, 'echo', 'after-restart']);
    assert.is(ex.stdout, 'after-restart', ex.stderr);
    assert.is((await cd.ctr(['task', 'kill', '-s', 'KILL', id])).exitCode, 0);
    assert.ok(await waitFor(async () => (await tasks()).get(id)?.[1] === 'STOPPED', 10000, 100));
    const rm = await cd.ctr(['task', 'rm', id]);
    assert.match(rm.stderr, 'exit code 137');
    assert.is((await cd.ctr(['containers', 'rm', id])).exitCode, 0);
    assert.ok(await waitFor(() => cd.shims().length === 0, 10000), 'the shim exited after Shutdown');
  });

  test('the shim killed with SIGKILL: containerd cleans up through the `delete` action (container, state, rootfs mount)', async () => {
    const id = uniqueId('shim-sigkill');
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, id, 'sleep', '300'])).exitCode, 0);
    const [pid] = (await tasks()).get(id)!;
    const [shim] = cd.shims();
    assert.ok(shim, 'the shim runs');
    const bundle = join(cd.dir, 'state', 'io.containerd.runtime.v2.task', namespace, id);
    const mounted = (): boolean => readFileSync(`/proc/${cd.pid}/mountinfo`, 'utf8').includes(join(bundle, 'rootfs'));
    assert.ok(mounted(), 'the rootfs is mounted in containerd\'s mount namespace');
    process.kill(shim!, 'SIGKILL');
    assert.ok(await waitFor(async () => !(await tasks()).has(id), 15000, 100), `containerd dropped the task\n${debug()}`);
    // containerd lists the task no more before its clean-up (the delete action) has finished.
    assert.ok(await waitFor(() => !existsSync(join(tsrunRoot(), id)), 15000, 50), 'its tsrun state is gone');
    assert.not.ok(existsSync(`/proc/${pid}`), 'the container was killed');
    assert.ok(await waitFor(() => !mounted(), 5000, 50), 'its rootfs was unmounted');
    assert.is((await cd.ctr(['containers', 'rm', id])).exitCode, 0);
  });

  test('two containers with one group annotation share one shim; each is deleted on its own', async () => {
    const a = uniqueId('shim-group-a');
    const b = uniqueId('shim-group-b');
    const group = ['--annotation', `io.kubernetes.cri.sandbox-id=${a}`];
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, ...group, image.name, a, 'sleep', '300'])).exitCode, 0);
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, ...group, image.name, b, 'sleep', '300'])).exitCode, 0);
    assert.is(cd.shims().length, 1, 'one shim for the group');
    const bundleB = join(cd.dir, 'state', 'io.containerd.runtime.v2.task', namespace, b);
    assert.not.ok(existsSync(join(bundleB, 'shim.log')), 'the second container joined without a Node start (no shim.log of its own)');
    const t = await tasks();
    assert.is(t.get(a)?.[1], 'RUNNING');
    assert.is(t.get(b)?.[1], 'RUNNING');
    await removeTask(b, false);
    assert.is(cd.shims().length, 1, 'the shim stays while a container is left');
    assert.is((await tasks()).get(a)?.[1], 'RUNNING');
    await removeTask(a);
    assert.ok(await waitFor(() => cd.shims().length === 0, 10000), 'the shim exited with its last container');
  });

  test('bad input on the ttrpc socket: clear errors with containerd\'s codes, and the shim and its container survive', async () => {
    const id = uniqueId('shim-bad');
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, id, 'sleep', '300'])).exitCode, 0);
    const socketPath = readFileSync(join(cd.dir, 'state', 'io.containerd.runtime.v2.task', namespace, id, 'address'), 'utf8').replace('unix:///run/', `${cd.dir}/run/`);
    // Too long for sun_path: reached through a short symlink (connect follows it).
    const link = join(tmpdir(), `tsrun-shim-${process.pid}.sock`);
    symlinkSync(socketPath, link);
    // unlink, not rmSync: rmSync({force}) follows a dangling link and quietly leaves it.
    after.push(() => {
      try {
        unlinkSync(link);
      } catch {
        // removed already
      }
    });
    const socket = link;
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
    const bundle = join(cd.dir, 'state', 'io.containerd.runtime.v2.task', namespace, id);
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
    assert.equal((await tasks()).get(id)?.[1], 'RUNNING', 'the container is still there');
    unlinkSync(link);
    await removeTask(id);
  });

  test('nothing is left behind: no tasks, containers, tsrun state, shims, cgroups', async () => {
    assert.equal([...(await tasks()).keys()], []);
    const cs = await cd.ctr(['containers', 'ls', '-q']);
    assert.is(cs.stdout, '');
    assert.equal(existsSync(tsrunRoot()) ? readdirSync(tsrunRoot()) : [], [], 'no state dirs under the shim\'s root');
    assert.ok(await waitFor(() => cd.shims().length === 0, 5000), 'the shims exited');
    const sockets = join(cd.dir, 'run', 'containerd', 's');
    assert.equal(existsSync(sockets) ? readdirSync(sockets) : [], [], 'no shim sockets');
    const leaves = readdirSync('/sys/fs/cgroup').flatMap((ctl) => {
      const d = join('/sys/fs/cgroup', ctl, namespace);
      return existsSync(d) ? readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(d, e.name)) : [];
    });
    assert.equal(leaves, [], 'no container cgroups');
    const dir = cd.dir;
    const forced = await cd.stop();
    assert.equal(forced, [], 'containerd stopped cleanly and the namespace cgroups were empty');
    assert.not.ok(existsSync(dir));
    assert.equal(leftovers(join(dir, 'nothing')), []);
    cd = undefined as unknown as Containerd;
  });
}

test.run();
