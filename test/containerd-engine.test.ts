// tsrun as containerd 1.6 and Kubernetes drive it (issue #11, items 3 and 4):
// a private containerd (test/lib/containerd.ts) with bin/tsrun as the
// BinaryName of containerd-shim-runc-v2 (`ctr --runc-binary`). Checks that a
// plain `ctr run` has a working loopback, that a TERM the container ignores
// leaves the stop to the caller (`ctr task kill`, then `kill --all -s KILL`, as
// with runc), and that a config carrying the CRI's container-type annotation
// runs its entrypoint as PID 1, with no tsrun-init.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { assertLoopback, LOOPBACK_PROBE, sleepMs, uniqueId, waitFor } from './lib/tsrun.ts';
import { useContainerd } from './lib/containerd.ts';

const ctd = useContainerd(test, 'containerd-engine', { runtime: 'runc' });

async function taskPids(id: string): Promise<number[]> {
  const ps = await ctd.cd.ctr(['task', 'ps', id]);
  assert.is(ps.exitCode, 0, ps.stderr);
  return ps.stdout.split('\n').slice(1).filter(Boolean).map((l) => Number(l.trim().split(/\s+/)[0]));
}

const comm = (pid: number): string => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

if (!ctd.skip) {
  test('ctr run: lo is up with 127.0.0.1/8 and ::1, and both answer (nothing else brings lo up for ctr)', async () => {
    const id = uniqueId('ctr-lo');
    assertLoopback(await ctd.cd.ctr(['run', '--rm', ...ctd.runtime, ctd.image.name, id, 'sh', '-c', LOOPBACK_PROBE]));
  });

  test('ctr task kill of a workload that ignores TERM: tsrun-init forwards it and waits; kill --all -s KILL ends it, as with runc', async () => {
    const id = uniqueId('ctr-stop');
    const r = await ctd.cd.ctr(['run', '-d', ...ctd.runtime, ctd.image.name, id, 'sh', '-c', 'trap "" TERM; while :; do sleep 0.1; done']);
    assert.is(r.exitCode, 0, r.stderr);
    const [init] = (await ctd.tasks()).get(id)!;
    assert.is(comm(init), 'tsrun-init');
    const kill = await ctd.cd.ctr(['task', 'kill', id]);
    assert.is(kill.exitCode, 0, kill.stderr);
    // Past the 5 s an init deadline used to impose (and 6 of today's graces):
    // the stop timeout belongs to the caller.
    await sleepMs(6000);
    assert.is((await ctd.tasks()).get(id)?.[1], 'RUNNING', 'still running: nobody asked for SIGKILL yet');
    const all = await ctd.cd.ctr(['task', 'kill', '--all', '-s', 'KILL', id]);
    assert.is(all.exitCode, 0, all.stderr);
    assert.ok(await waitFor(async () => (await ctd.tasks()).get(id)?.[1] === 'STOPPED', 10000, 100), 'KILL stopped it');
    const rm = await ctd.cd.ctr(['task', 'rm', id]);
    assert.is(rm.exitCode, 0, rm.stderr);
    assert.match(rm.stderr, 'exit code 137', 'sleep\'s shell died of SIGKILL: 128+9');
    assert.is((await ctd.cd.ctr(['containers', 'rm', id])).exitCode, 0);
  });

  test('a CRI config (io.kubernetes.cri.container-type): the entrypoint is PID 1, no tsrun-init; ctr task ps lists it alone', async () => {
    const id = uniqueId('ctr-cri');
    const r = await ctd.cd.ctr(['run', '-d', ...ctd.runtime, '--annotation', 'io.kubernetes.cri.container-type=container', ctd.image.name, id, 'sleep', '300']);
    assert.is(r.exitCode, 0, r.stderr);
    const ex = await ctd.cd.ctr(['task', 'exec', '--exec-id', 'c1', id, 'sh', '-c', 'tr "\\0" " " < /proc/1/cmdline; echo']);
    assert.is(ex.exitCode, 0, ex.stderr);
    assert.is(ex.stdout.trim(), 'sleep 300', '/proc/1/cmdline is the entrypoint, as the Kubernetes conformance checks');
    const [pid] = (await ctd.tasks()).get(id)!;
    assert.is(comm(pid), 'sleep');
    assert.equal(await taskPids(id), [pid], 'one process: nothing added');
    const plain = uniqueId('ctr-plain');
    await ctd.sleeper(plain);
    const pids = await taskPids(plain);
    assert.equal(pids.map(comm).sort(), ['sleep', 'tsrun-init'], 'without the annotation tsrun-init adds one process');
    await ctd.removeTask(id);
    await ctd.removeTask(plain);
  });

  test('the CRI default can be overridden: run.tsrun.init=true puts tsrun-init back', async () => {
    const id = uniqueId('ctr-cri-init');
    const r = await ctd.cd.ctr(['run', '--rm', ...ctd.runtime, '--annotation', 'io.kubernetes.cri.container-type=container',
      '--annotation', 'run.tsrun.init=true', ctd.image.name, id, 'cat', '/proc/1/comm']);
    assert.is(r.exitCode, 0, r.stderr);
    assert.is(r.stdout, 'tsrun-init');
  });

  test('nothing is left behind', async () => {
    await ctd.nothingLeftBehind();
  });
}

test.run();
