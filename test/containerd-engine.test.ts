// tsrun as containerd 1.6 and Kubernetes drive it (issue #11, items 3 and 4):
// a private containerd (test/lib/containerd.ts) with bin/tsrun as the
// BinaryName of containerd-shim-runc-v2 (`ctr --runc-binary`). Checks that a
// plain `ctr run` has a working loopback, that a TERM the container ignores
// leaves the stop to the caller (`ctr task kill`, then `kill --all -s KILL`, as
// with runc), and that a config carrying the CRI's container-type annotation
// runs its entrypoint as PID 1, with no tsrun-init.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leftovers, runCommand, sleepMs, TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';
import { ensureContainerd, startContainerd, type Containerd, ctrTasks, removeCtrTask } from './lib/containerd.ts';
import { buildBusyboxImage, type BuiltImage } from './lib/oci-image.ts';

const skip = ensureContainerd();
let cd: Containerd;
let image: BuiltImage;
let work: string;
const namespace = `tsrun-${process.pid}-eng`;
const RUNTIME = ['--runc-binary', TSRUN];

const tasks = (): Promise<Map<string, [number, string]>> => ctrTasks(cd);

const removeTask = (id: string): Promise<void> => removeCtrTask(cd, id);

async function taskPids(id: string): Promise<number[]> {
  const ps = await cd.ctr(['task', 'ps', id]);
  assert.is(ps.exitCode, 0, ps.stderr);
  return ps.stdout.split('\n').slice(1).filter(Boolean).map((l) => Number(l.trim().split(/\s+/)[0]));
}

const comm = (pid: number): string => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

if (skip) {
  console.log(`SKIP containerd: ${skip}`);
  test('containerd is not available here', () => {
    assert.ok(skip.length > 0);
  });
} else {
  test.before(async () => {
    work = mkdtempSync(join(tmpdir(), 'tsrun-image-'));
    image = buildBusyboxImage(work, `tsrun-busybox-${process.pid}`);
    cd = await startContainerd(namespace);
    const imp = await cd.ctr(['images', 'import', image.archive]);
    assert.is(imp.exitCode, 0, `${imp.stderr}\n${cd.log().slice(-2000)}`);
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

  test('ctr run: lo is up with 127.0.0.1/8 and ::1, and both answer (nothing else brings lo up for ctr)', async () => {
    const id = uniqueId('ctr-lo');
    const r = await cd.ctr(['run', '--rm', ...RUNTIME, image.name, id, 'sh', '-c',
      'ip -o addr show dev lo; ping -c1 -W2 127.0.0.1 >/dev/null && echo v4-ok; ping -c1 -W2 ::1 >/dev/null && echo v6-ok']);
    assert.is(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /inet 127\.0\.0\.1\/8/);
    assert.match(r.stdout, /inet6 ::1\/128/);
    assert.match(r.stdout, /^v4-ok$/m);
    assert.match(r.stdout, /^v6-ok$/m);
  });

  test('ctr task kill of a workload that ignores TERM: tsrun-init forwards it and waits; kill --all -s KILL ends it, as with runc', async () => {
    const id = uniqueId('ctr-stop');
    const r = await cd.ctr(['run', '-d', ...RUNTIME, image.name, id, 'sh', '-c', 'trap "" TERM; while :; do sleep 0.1; done']);
    assert.is(r.exitCode, 0, r.stderr);
    const [init] = (await tasks()).get(id)!;
    assert.is(comm(init), 'tsrun-init');
    const kill = await cd.ctr(['task', 'kill', id]);
    assert.is(kill.exitCode, 0, kill.stderr);
    // Past the 5 s an init deadline used to impose (and 6 of today's graces):
    // the stop timeout belongs to the caller.
    await sleepMs(6000);
    assert.is((await tasks()).get(id)?.[1], 'RUNNING', 'still running: nobody asked for SIGKILL yet');
    const all = await cd.ctr(['task', 'kill', '--all', '-s', 'KILL', id]);
    assert.is(all.exitCode, 0, all.stderr);
    assert.ok(await waitFor(async () => (await tasks()).get(id)?.[1] === 'STOPPED', 10000, 100), 'KILL stopped it');
    const rm = await cd.ctr(['task', 'rm', id]);
    assert.is(rm.exitCode, 0, rm.stderr);
    assert.match(rm.stderr, 'exit code 137', 'sleep\'s shell died of SIGKILL: 128+9');
    assert.is((await cd.ctr(['containers', 'rm', id])).exitCode, 0);
  });

  test('a CRI config (io.kubernetes.cri.container-type): the entrypoint is PID 1, no tsrun-init; ctr task ps lists it alone', async () => {
    const id = uniqueId('ctr-cri');
    const r = await cd.ctr(['run', '-d', ...RUNTIME, '--annotation', 'io.kubernetes.cri.container-type=container', image.name, id, 'sleep', '300']);
    assert.is(r.exitCode, 0, r.stderr);
    const ex = await cd.ctr(['task', 'exec', '--exec-id', 'c1', id, 'sh', '-c', 'tr "\\0" " " < /proc/1/cmdline; echo']);
    assert.is(ex.exitCode, 0, ex.stderr);
    assert.is(ex.stdout.trim(), 'sleep 300', '/proc/1/cmdline is the entrypoint, as the Kubernetes conformance checks');
    const [pid] = (await tasks()).get(id)!;
    assert.is(comm(pid), 'sleep');
    assert.equal(await taskPids(id), [pid], 'one process: nothing added');
    const plain = uniqueId('ctr-plain');
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, plain, 'sleep', '300'])).exitCode, 0);
    const pids = await taskPids(plain);
    assert.equal(pids.map(comm).sort(), ['sleep', 'tsrun-init'], 'without the annotation tsrun-init adds one process');
    await removeTask(id);
    await removeTask(plain);
  });

  test('the CRI default can be overridden: run.tsrun.init=true puts tsrun-init back', async () => {
    const id = uniqueId('ctr-cri-init');
    const r = await cd.ctr(['run', '--rm', ...RUNTIME, '--annotation', 'io.kubernetes.cri.container-type=container',
      '--annotation', 'run.tsrun.init=true', image.name, id, 'cat', '/proc/1/comm']);
    assert.is(r.exitCode, 0, r.stderr);
    assert.is(r.stdout, 'tsrun-init');
  });

  test('nothing is left behind', async () => {
    assert.equal([...(await tasks()).keys()], []);
    assert.equal(existsSync(cd.runtimeRoot) ? readdirSync(cd.runtimeRoot) : [], [], 'no state dirs in the shim\'s runc root');
    const state = await runCommand(TSRUN, ['--root', cd.runtimeRoot, 'list', '-q']);
    assert.is(state.stdout, '');
    assert.ok(await waitFor(() => cd.shims().length === 0, 5000), 'the shims exited');
    const dir = cd.dir;
    const forced = await cd.stop();
    assert.equal(forced, [], 'containerd stopped cleanly and the namespace cgroups were empty');
    assert.equal(leftovers(join(dir, 'nothing')), []);
    cd = undefined as unknown as Containerd;
  });
}

test.run();
