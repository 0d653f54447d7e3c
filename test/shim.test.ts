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
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leftovers, PROJECT, runCommand, TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';
import { ensureContainerd, startContainerd, type Containerd } from './lib/containerd.ts';
import { buildBusyboxImage, type BuiltImage } from './lib/oci-image.ts';

const skip = ensureContainerd();
let cd: Containerd;
let image: BuiltImage;
let work: string;
const namespace = `tsrun-${process.pid}-shim`;
const RUNTIME = ['--runtime', 'io.containerd.tsrun.v2'];
// containerd finds a runtime v2 shim on its PATH by the name containerd-shim-<name>-<version>.
process.env.PATH = `${join(PROJECT, 'bin')}:${process.env.PATH}`;

/** `ctr task ls` as id → [pid, status]. */
async function tasks(): Promise<Map<string, [number, string]>> {
  const r = await cd.ctr(['task', 'ls']);
  assert.is(r.exitCode, 0, r.stderr);
  return new Map(r.stdout.split('\n').slice(1).filter(Boolean).map((l) => {
    const [id, pid, status] = l.trim().split(/\s+/);
    return [id!, [Number(pid), status!]];
  }));
}

async function removeTask(id: string): Promise<void> {
  const rm = await cd.ctr(['task', 'rm', '--force', id]);
  assert.is(rm.exitCode, 0, rm.stderr);
  const c = await cd.ctr(['containers', 'rm', id]);
  assert.is(c.exitCode, 0, c.stderr);
}

const tsrunRoot = (): string => join(cd.dir, 'run', 'containerd', 'tsrun', namespace);
const debug = (): string => cd.log().slice(-3000);

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
}

test.run();
