// containerd end to end: a private containerd (its own root, state, socket,
// config, and a private /run: see test/lib/containerd.ts) runs a busybox OCI
// image that the suite builds (test/lib/oci-image.ts) with bin/tsrun as the
// runc binary of containerd-shim-runc-v2. ctr drives it: run (output, exit
// code, stdin, -t), a detached task killed with SIGTERM, task exec (plain,
// stdin and -t), ps, pause/resume, metrics, kill after PID 1 exited, and
// containerd's seccomp profile; then nothing may be left behind. The
// scenarios that test/shim.test.ts also runs through tsrun's own shim are in
// test/lib/ctr-scenarios.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';
import { probeUnderCaptured, syscallProbe } from './lib/syscall-probe.ts';
import { useContainerd } from './lib/containerd.ts';
import { execAndPs, execTerminal, pauseResume, runOutput, runTerminal, sleeperUnderTsrun, stdinAndEof, stopWithTerm } from './lib/ctr-scenarios.ts';

const ctd = useContainerd(test, 'containerd', { runtime: 'runc' });

if (!ctd.skip) {
  test('the built OCI image is imported with its name, digest and platform', async () => {
    const ls = await ctd.cd.ctr(['images', 'ls']);
    const line = ls.stdout.split('\n').find((l) => l.startsWith(`${ctd.image.name} `));
    assert.ok(line, ls.stdout);
    assert.match(line!, ctd.image.manifest.digest);
    assert.match(line!, 'linux/');
  });

  test('ctr run: the output and the exit code of the container', () => runOutput(ctd, uniqueId('ctr-run')));

  test('a detached task runs under tsrun (its state agrees), logs JSON lines, and SIGTERM from ctr task kill stops it', async () => {
    const id = uniqueId('ctr-kill');
    await sleeperUnderTsrun(ctd, id);
    const logFile = join(ctd.cd.bundle(id), 'log.json');
    const lines = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : [];
    for (const l of lines) assert.not.equal(JSON.parse(l).level, 'error', `--log-format json: ${l}`);
    await stopWithTerm(ctd, id);
  });

  test('ctr task exec: output and exit code; ctr task ps lists init, the workload and nothing else', async () => {
    const id = uniqueId('ctr-exec');
    await ctd.sleeper(id);
    await execAndPs(ctd, id);
    await ctd.removeTask(id);
  });

  test('ctr task pause and resume: PAUSED and frozen (a second pause refused), then RUNNING again', async () => {
    const id = uniqueId('ctr-pause');
    await ctd.sleeper(id);
    await pauseResume(ctd, id);
    await ctd.removeTask(id);
  });

  test('ctr task metrics prints the cgroup metrics of a task', async () => {
    const id = uniqueId('ctr-metrics');
    await ctd.sleeper(id);
    const m = await ctd.cd.ctr(['task', 'metrics', id]);
    assert.is(m.exitCode, 0, m.stderr);
    assert.match(m.stdout, id);
    assert.match(m.stdout, /memory\.usage_in_bytes\s+\d+|memory\.usage\s+\d+/);
    assert.match(m.stdout, /pids\.current\s+2\b/, `tsrun-init and sleep: ${m.stdout}`);
    await ctd.removeTask(id);
  });

  test('stdin without a terminal reaches the container and its EOF ends it (run and task exec)', async () => {
    const exec = uniqueId('ctr-stdin-exec');
    await stdinAndEof(ctd, uniqueId('ctr-stdin'), exec);
    await ctd.removeTask(exec);
  });

  test('ctr run -t: a terminal through --console-socket, input and output relayed', () => runTerminal(ctd, uniqueId('ctr-tty')));

  test('ctr task exec -t: the exec gets its own terminal, with ctr\'s window size', async () => {
    const id = uniqueId('ctr-exectty');
    await ctd.sleeper(id);
    await execTerminal(ctd, id);
    await ctd.removeTask(id);
  });

  // What kubelet's StopContainer does through the CRI plugin: SIGTERM, and
  // SIGKILL after the grace period; the shim itself sends `kill --all ID 9`
  // once a task's PID 1 has exited. The shim takes a runtime error as "already
  // gone" only when it says "container not running" (runc's words);
  // anything else is "unknown error after kill" and the stop never completes.
  test('a task whose PID 1 has exited: ctr task kill (TERM, KILL, --all) answers as with runc, and ctr task rm completes with the status', async () => {
    const seen: Record<string, string[]> = {};
    for (const [name, binary] of [['runc', 'runc'], ['tsrun', TSRUN]] as const) {
      const id = uniqueId(`ctr-exited-${name}`);
      // PID 1 exits on its own during the grace period SIGTERM started.
      const r = await ctd.cd.ctr(['run', '-d', '--runc-binary', binary, ctd.image.name, id, 'sh', '-c', 'trap "exit 7" TERM; while :; do sleep 0.05; done']);
      assert.is(r.exitCode, 0, r.stderr);
      assert.ok(await waitFor(async () => (await ctd.tasks()).get(id)?.[1] === 'RUNNING', 10000, 50));
      const term = await ctd.cd.ctr(['task', 'kill', id]);
      assert.is(term.exitCode, 0, `${name}: ${term.stderr}`);
      assert.ok(await waitFor(async () => (await ctd.tasks()).get(id)?.[1] === 'STOPPED', 10000, 50), `${name}: the trap ended PID 1`);
      const kill = await ctd.cd.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
      const all = await ctd.cd.ctr(['task', 'kill', '--all', '-s', 'SIGKILL', id]);
      const probe = await ctd.cd.ctr(['task', 'kill', '-s', '0', id]);
      for (const x of [kill, all, probe]) assert.not.match(x.stderr, 'unknown error after kill', `${name}: ${x.stderr}`);
      seen[name] = [kill, all, probe].map((x) => `${x.exitCode} ${x.stderr.replace(new RegExp(id, 'g'), 'ID').replace(/^.*level=\w+ msg="?/, '')}`);
      const rm = await ctd.cd.ctr(['task', 'rm', id]);
      assert.is(rm.exitCode, 0, `${name}: ${rm.stderr}`);
      assert.match(rm.stderr, 'exit code 7');
      assert.is((await ctd.cd.ctr(['containers', 'rm', id])).exitCode, 0);
      // The shim's own `kill --all ID 9` after the exit must not have failed either.
      const complaints = ctd.cd.log().split('\n').filter((l) => l.includes(id) && /failed to kill|unknown error/.test(l));
      assert.equal(complaints, [], `${name}: the shim logged no kill failure`);
    }
    assert.equal(seen.tsrun, seen.runc, 'the same answers as runc');
  });

  // containerd's default seccomp profile (ctr run --seccomp; CRI's RuntimeDefault),
  // probed by test/fixtures/syscall-probe.c: it denies the keyring (add_key)
  // and, without CAP_SYS_ADMIN, unshare; both with EPERM, its default errno.
  const PROBE = 'grep "^Seccomp:" /proc/self/status; /probe; mkdir /tmp/d && ls -d /tmp/d && echo "sum $((6*7))"';
  const probeMount = (): string[] => ['--mount', `type=bind,src=${syscallProbe()},dst=/probe,options=rbind:ro`];

  test('ctr run --seccomp: containerd\'s default profile confines the task under tsrun exactly as under runc', async () => {
    const withTsrun = await ctd.cd.ctr(['run', '--rm', '--seccomp', ...probeMount(), ...ctd.runtime, ctd.image.name, uniqueId('ctr-sc'), 'sh', '-c', PROBE]);
    assert.is(withTsrun.exitCode, 0, withTsrun.stderr);
    assert.match(withTsrun.stdout, /^Seccomp:\s+2$/m);
    assert.match(withTsrun.stdout, /^add_key: Operation not permitted$/m);
    assert.match(withTsrun.stdout, /^unshare\(CLONE_NEWUSER\): Operation not permitted$/m);
    assert.match(withTsrun.stdout, /\/tmp\/d\nsum 42$/);
    const withRunc = await ctd.cd.ctr(['run', '--rm', '--seccomp', ...probeMount(), ctd.image.name, uniqueId('ctr-sc-runc'), 'sh', '-c', PROBE]);
    assert.is(withRunc.exitCode, 0, withRunc.stderr);
    assert.is(withTsrun.stdout, withRunc.stdout, 'the same answers as runc');
    const unconfined = await ctd.cd.ctr(['run', '--rm', ...probeMount(), ...ctd.runtime, ctd.image.name, uniqueId('ctr-nosc'), 'sh', '-c', PROBE]);
    assert.match(unconfined.stdout, /^Seccomp:\s+0$/m);
    assert.match(unconfined.stdout, /^add_key: Bad address$/m, 'without the profile the kernel answers');
  });

  test('the profile containerd generates, captured from the bundle\'s config.json, runs a busybox shell under tsrun run and denies what it denies', async () => {
    const id = uniqueId('ctr-capture');
    await ctd.sleeper(id, ['--seccomp']);
    const captured = JSON.parse(readFileSync(join(ctd.cd.bundle(id), 'config.json'), 'utf8'));
    await ctd.removeTask(id);
    const profile = captured.linux.seccomp;
    assert.is(profile.defaultAction, 'SCMP_ACT_ERRNO');
    assert.ok(profile.syscalls.flatMap((s: { names: string[] }) => s.names).length > 300, 'containerd\'s ~350 names');
    for (const [nnp, out] of await probeUnderCaptured(captured, PROBE)) {
      assert.match(out, /^Seccomp:\s+2\nadd_key: Operation not permitted\nunshare\(CLONE_NEWUSER\): Operation not permitted\n\/tmp\/d\nsum 42$/, `noNewPrivileges ${nnp}`);
    }
  });

  test('nothing is left behind: no tasks, containers, tsrun state, shims, cgroups, and the machine\'s containerd dirs untouched', async () => {
    await ctd.nothingLeftBehind();
  });
}

test.run();
