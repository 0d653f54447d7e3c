// containerd end to end: a private containerd (its own root, state, socket,
// config, and a private /run: see test/lib/containerd.ts) runs a busybox OCI
// image that the suite builds (test/lib/oci-image.ts) with bin/tsrun as the
// runc binary of containerd-shim-runc-v2. ctr drives it: run (output, exit
// code, -t), a detached task killed with SIGTERM, task exec (plain and -t),
// ps, pause/resume, metrics; then nothing may be left behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leftovers, runCommand, sandbox, TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';
import { syscallProbe } from './lib/syscall-probe.ts';
import { ensureContainerd, startContainerd, type Containerd, ctrTasks, removeCtrTask } from './lib/containerd.ts';
import { buildBusyboxImage, type BuiltImage } from './lib/oci-image.ts';

const skip = ensureContainerd();
const hostRunContainerd = existsSync('/run/containerd');
const hostVarLib = existsSync('/var/lib/containerd');
let cd: Containerd;
let image: BuiltImage;
let work: string;
const namespace = `tsrun-${process.pid}-ns`;
const RUNTIME = ['--runc-binary', TSRUN];

const tasks = (): Promise<Map<string, [number, string]>> => ctrTasks(cd);

const removeTask = (id: string): Promise<void> => removeCtrTask(cd, id);

const bundleOf = (id: string): string => join(cd.dir, 'state', 'io.containerd.runtime.v2.task', namespace, id);

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

  test('the built OCI image imports, with its name and platform', async () => {
    const imp = await cd.ctr(['images', 'import', image.archive]);
    assert.is(imp.exitCode, 0, `${imp.stderr}\n${cd.log().slice(-2000)}`);
    const ls = await cd.ctr(['images', 'ls']);
    const line = ls.stdout.split('\n').find((l) => l.startsWith(`${image.name} `));
    assert.ok(line, ls.stdout);
    assert.match(line!, image.manifest.digest);
    assert.match(line!, 'linux/');
  });

  test('ctr run: the output and the exit code of the container', async () => {
    const id = uniqueId('ctr-run');
    const r = await cd.ctr(['run', '--rm', ...RUNTIME, image.name, id, 'sh', '-c', 'echo hi; echo err >&2; exit 3']);
    assert.is(r.exitCode, 3, `${r.stderr}\n${cd.log().slice(-2000)}`);
    assert.is(r.stdout, 'hi');
    assert.match(r.stderr, 'err');
    assert.not.ok((await tasks()).has(id), '--rm removed the task');
    assert.not.ok(existsSync(join(cd.runtimeRoot, id)), 'and tsrun\'s state');
  });

  test('a detached task runs under tsrun (its state agrees), logs JSON lines, and SIGTERM from ctr task kill stops it', async () => {
    const id = uniqueId('ctr-kill');
    const r = await cd.ctr(['run', '-d', ...RUNTIME, image.name, id, 'sleep', '300']);
    assert.is(r.exitCode, 0, r.stderr);
    const [pid, status] = (await tasks()).get(id) ?? [0, 'missing'];
    assert.is(status, 'RUNNING');
    const state = await runCommand(TSRUN, ['--root', cd.runtimeRoot, 'state', id]);
    assert.is(state.exitCode, 0, state.stderr);
    assert.is(JSON.parse(state.stdout).pid, pid, 'the shim called tsrun with --root in its runc root');
    assert.is(JSON.parse(state.stdout).status, 'running');
    assert.is(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'tsrun-init', 'tsrun-init is PID 1 (run from a sealed memfd copy, it names itself)');
    const logFile = join(bundleOf(id), 'log.json');
    const lines = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : [];
    for (const l of lines) assert.not.equal(JSON.parse(l).level, 'error', `--log-format json: ${l}`);
    const kill = await cd.ctr(['task', 'kill', id]);
    assert.is(kill.exitCode, 0, kill.stderr);
    assert.ok(await waitFor(async () => (await tasks()).get(id)?.[1] === 'STOPPED', 10000, 100), 'TERM stops sleep under tsrun-init');
    const rm = await cd.ctr(['task', 'rm', id]);
    assert.is(rm.exitCode, 0, rm.stderr);
    assert.match(rm.stderr, 'exit code 143', 'sleep died of SIGTERM: 128+15');
    assert.is((await cd.ctr(['containers', 'rm', id])).exitCode, 0);
    assert.not.ok(existsSync(join(cd.runtimeRoot, id)), 'tsrun delete ran');
  });

  test('ctr task exec: output and exit code; ctr task ps lists init, the workload and nothing else', async () => {
    const id = uniqueId('ctr-exec');
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, id, 'sleep', '300'])).exitCode, 0);
    const ex = await cd.ctr(['task', 'exec', '--exec-id', 'x1', id, 'sh', '-c', 'echo "in exec $$"; cat /proc/1/comm; exit 4']);
    assert.is(ex.exitCode, 4, ex.stderr);
    const [first, comm] = ex.stdout.split('\n');
    assert.match(first!, /^in exec \d$/, 'a small pid: in the container\'s pid namespace');
    assert.is(comm, 'tsrun-init', 'where tsrun-init is PID 1');
    const ps = await cd.ctr(['task', 'ps', id]);
    assert.is(ps.exitCode, 0, ps.stderr);
    const pids = ps.stdout.split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0]));
    const [init] = (await tasks()).get(id)!;
    assert.ok(pids.includes(init), `ps lists the init ${init}: ${ps.stdout}`);
    assert.is(pids.length, 2, `tsrun-init and sleep (the exec is gone): ${ps.stdout}`);
    const comms = pids.map((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim()).sort();
    assert.equal(comms, ['sleep', 'tsrun-init']);
    await removeTask(id);
  });

  test('ctr task pause and resume: PAUSED, then RUNNING again', async () => {
    const id = uniqueId('ctr-pause');
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, id, 'sleep', '300'])).exitCode, 0);
    const pause = await cd.ctr(['task', 'pause', id]);
    assert.is(pause.exitCode, 0, pause.stderr);
    assert.is((await tasks()).get(id)?.[1], 'PAUSED');
    const [init] = (await tasks()).get(id)!;
    assert.match(readFileSync(`/proc/${init}/status`, 'utf8'), /State:\s+[DS]/, 'frozen in the freezer');
    const resume = await cd.ctr(['task', 'resume', id]);
    assert.is(resume.exitCode, 0, resume.stderr);
    assert.is((await tasks()).get(id)?.[1], 'RUNNING');
    const ex = await cd.ctr(['task', 'exec', '--exec-id', 'after', id, 'echo', 'thawed']);
    assert.is(ex.stdout, 'thawed', 'the container works after resume');
    await removeTask(id);
  });

  test('ctr task metrics prints the cgroup metrics of a task', async () => {
    const id = uniqueId('ctr-metrics');
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, id, 'sleep', '300'])).exitCode, 0);
    const m = await cd.ctr(['task', 'metrics', id]);
    assert.is(m.exitCode, 0, m.stderr);
    assert.match(m.stdout, id);
    assert.match(m.stdout, /memory\.usage_in_bytes\s+\d+|memory\.usage\s+\d+/);
    assert.match(m.stdout, /pids\.current\s+2\b/, `tsrun-init and sleep: ${m.stdout}`);
    await removeTask(id);
  });

  test('stdin without a terminal reaches the container and its EOF ends it (run and task exec)', async () => {
    // ctr only passes stdin's EOF on (CloseIO) once its task or exec exists
    // (containerd#4489), so the input ends only after the process is listed.
    const id = uniqueId('ctr-stdin');
    const whenRunning = `n=0; until eval "$CTR task ls" | grep -q "^${id} .*RUNNING" || [ $n -gt 400 ]; do n=$((n+1)); sleep 0.05; done`;
    const run = await cd.shell(`(${whenRunning}; echo from-stdin) | eval "$CTR run --rm --runc-binary ${TSRUN} ${image.name} ${id} sh -c 'cat; echo eof'"`);
    assert.is(run.exitCode, 0, run.stderr);
    assert.is(run.stdout, 'from-stdin\neof');
    const id2 = uniqueId('ctr-stdin-exec');
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, id2, 'sleep', '300'])).exitCode, 0);
    const whenExec = `n=0; until [ "$(eval "$CTR task ps ${id2}" | wc -l)" -gt 3 ] || [ $n -gt 400 ]; do n=$((n+1)); sleep 0.05; done`;
    const ex = await cd.shell(`(${whenExec}; echo exec-stdin) | eval "$CTR task exec --exec-id in1 ${id2} sh -c 'cat; echo eof'"`);
    assert.is(ex.exitCode, 0, ex.stderr);
    assert.is(ex.stdout, 'exec-stdin\neof');
    await removeTask(id2);
  });

  test('ctr run -t: a terminal through --console-socket, input and output relayed', async () => {
    const id = uniqueId('ctr-tty');
    // Typed before the shell runs; $((6*7)) tells the echo of the input from its output.
    const r = await cd.shell(`printf 'tty; echo inside-$((6*7)); exit\\n' | script -qec "$CTR run -t --rm --runc-binary ${TSRUN} ${image.name} ${id} sh" /dev/null`);
    const out = r.stdout.replace(/\r/g, '');
    assert.match(out, /^inside-42$/m, `${out}\n${r.stderr}`);
    assert.match(out, /^\/dev\/pts\/\d+$/m);
    assert.not.ok((await tasks()).has(id));
  });

  test('ctr task exec -t: the exec gets its own terminal', async () => {
    const id = uniqueId('ctr-exectty');
    assert.is((await cd.ctr(['run', '-d', ...RUNTIME, image.name, id, 'sleep', '300'])).exitCode, 0);
    const r = await cd.shell(`printf 'echo exec-$((6*7)); tty; exit\\n' | script -qec "$CTR task exec -t --exec-id t1 ${id} sh" /dev/null`);
    const out = r.stdout.replace(/\r/g, '');
    assert.match(out, /^exec-42$/m, `${out}\n${r.stderr}`);
    assert.match(out, /^\/dev\/pts\/\d+$/m);
    await removeTask(id);
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
      const r = await cd.ctr(['run', '-d', '--runc-binary', binary, image.name, id, 'sh', '-c', 'trap "exit 7" TERM; while :; do sleep 0.05; done']);
      assert.is(r.exitCode, 0, r.stderr);
      assert.ok(await waitFor(async () => (await tasks()).get(id)?.[1] === 'RUNNING', 10000, 50));
      const term = await cd.ctr(['task', 'kill', id]);
      assert.is(term.exitCode, 0, `${name}: ${term.stderr}`);
      assert.ok(await waitFor(async () => (await tasks()).get(id)?.[1] === 'STOPPED', 10000, 50), `${name}: the trap ended PID 1`);
      const kill = await cd.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
      const all = await cd.ctr(['task', 'kill', '--all', '-s', 'SIGKILL', id]);
      const probe = await cd.ctr(['task', 'kill', '-s', '0', id]);
      for (const x of [kill, all, probe]) assert.not.match(x.stderr, 'unknown error after kill', `${name}: ${x.stderr}`);
      seen[name] = [kill, all, probe].map((x) => `${x.exitCode} ${x.stderr.replace(new RegExp(id, 'g'), 'ID').replace(/^.*level=\w+ msg="?/, '')}`);
      const rm = await cd.ctr(['task', 'rm', id]);
      assert.is(rm.exitCode, 0, `${name}: ${rm.stderr}`);
      assert.match(rm.stderr, 'exit code 7');
      assert.is((await cd.ctr(['containers', 'rm', id])).exitCode, 0);
      // The shim's own `kill --all ID 9` after the exit must not have failed either.
      const complaints = cd.log().split('\n').filter((l) => l.includes(id) && /failed to kill|unknown error/.test(l));
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
    const withTsrun = await cd.ctr(['run', '--rm', '--seccomp', ...probeMount(), ...RUNTIME, image.name, uniqueId('ctr-sc'), 'sh', '-c', PROBE]);
    assert.is(withTsrun.exitCode, 0, withTsrun.stderr);
    assert.match(withTsrun.stdout, /^Seccomp:\s+2$/m);
    assert.match(withTsrun.stdout, /^add_key: Operation not permitted$/m);
    assert.match(withTsrun.stdout, /^unshare\(CLONE_NEWUSER\): Operation not permitted$/m);
    assert.match(withTsrun.stdout, /\/tmp\/d\nsum 42$/);
    const withRunc = await cd.ctr(['run', '--rm', '--seccomp', ...probeMount(), image.name, uniqueId('ctr-sc-runc'), 'sh', '-c', PROBE]);
    assert.is(withRunc.exitCode, 0, withRunc.stderr);
    assert.is(withTsrun.stdout, withRunc.stdout, 'the same answers as runc');
    const unconfined = await cd.ctr(['run', '--rm', ...probeMount(), ...RUNTIME, image.name, uniqueId('ctr-nosc'), 'sh', '-c', PROBE]);
    assert.match(unconfined.stdout, /^Seccomp:\s+0$/m);
    assert.match(unconfined.stdout, /^add_key: Bad address$/m, 'without the profile the kernel answers');
  });

  test('the profile containerd generates, captured from the bundle\'s config.json, runs a busybox shell under tsrun run and denies what it denies', async () => {
    const id = uniqueId('ctr-capture');
    assert.is((await cd.ctr(['run', '-d', '--seccomp', ...RUNTIME, image.name, id, 'sleep', '300'])).exitCode, 0);
    const captured = JSON.parse(readFileSync(join(bundleOf(id), 'config.json'), 'utf8'));
    await removeTask(id);
    const profile = captured.linux.seccomp;
    assert.is(profile.defaultAction, 'SCMP_ACT_ERRNO');
    assert.ok(profile.syscalls.flatMap((s: { names: string[] }) => s.names).length > 300, 'containerd\'s ~350 names');
    const sb = sandbox();
    try {
      for (const nnp of [false, true]) {
        const bundle = sb.bundle((c) => {
          c.process!.args = ['sh', '-c', PROBE];
          c.process!.noNewPrivileges = nnp;
          c.process!.capabilities = captured.process.capabilities;
          c.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs' }, { destination: '/probe', type: 'bind', source: syscallProbe(), options: ['ro', 'bind'] });
          c.linux!.seccomp = profile;
        });
        const r = await sb.tsrun(['run', '--bundle', bundle, uniqueId('ctr-profile')]);
        assert.is(r.exitCode, 0, r.stderr);
        assert.match(r.stdout, /^Seccomp:\s+2\nadd_key: Operation not permitted\nunshare\(CLONE_NEWUSER\): Operation not permitted\n\/tmp\/d\nsum 42$/, `noNewPrivileges ${nnp}`);
      }
    } finally {
      await sb.cleanup();
    }
  });

  test('nothing is left behind: no tasks, containers, tsrun state, shims, cgroups, and the machine\'s containerd dirs untouched', async () => {
    assert.equal([...(await tasks()).keys()], []);
    const cs = await cd.ctr(['containers', 'ls', '-q']);
    assert.is(cs.stdout, '');
    assert.equal(existsSync(cd.runtimeRoot) ? readdirSync(cd.runtimeRoot) : [], [], 'no state dirs in the shim\'s runc root');
    assert.ok(await waitFor(() => cd.shims().length === 0, 5000), 'the shims exited');
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
    assert.is(existsSync('/run/containerd'), hostRunContainerd, '/run/containerd of the machine untouched');
    assert.is(existsSync('/var/lib/containerd'), hostVarLib, '/var/lib/containerd of the machine untouched');
    cd = undefined as unknown as Containerd;
  });
}

test.run();
