// The ctr scenarios that both ways of running tsrun under containerd go
// through, with the same checks: test/containerd.test.ts (bin/tsrun as the
// runc binary of containerd-shim-runc-v2) and test/shim.test.ts (tsrun's own
// shim). One body for both: the two paths must answer alike.
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand, TSRUN, waitFor } from './tsrun.ts';
import type { ContainerdSuite } from './containerd.ts';

const comm = (pid: number): string => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

/** ctr run --rm: the container's stdout, stderr and exit code; its task and tsrun's state gone after. */
export async function runOutput(ctd: ContainerdSuite, id: string): Promise<void> {
  const r = await ctd.cd.ctr(['run', '--rm', ...ctd.runtime, ctd.image.name, id, 'sh', '-c', 'echo hi; echo err >&2; exit 3']);
  assert.is(r.exitCode, 3, `${r.stderr}\n${ctd.cd.log().slice(-3000)}`);
  assert.is(r.stdout, 'hi');
  assert.match(r.stderr, 'err');
  assert.not.ok((await ctd.tasks()).has(id), '--rm removed the task');
  assert.not.ok(existsSync(join(ctd.stateRoot, id)), 'and tsrun\'s state');
}

/** A sleeper started: RUNNING, and an ordinary tsrun container (`tsrun state` agrees) with tsrun-init as PID 1. Returns that pid. */
export async function sleeperUnderTsrun(ctd: ContainerdSuite, id: string): Promise<number> {
  await ctd.sleeper(id);
  const [pid, status] = (await ctd.tasks()).get(id) ?? [0, 'missing'];
  assert.is(status, 'RUNNING');
  const state = await runCommand(TSRUN, ['--root', ctd.stateRoot, 'state', id]);
  assert.is(state.exitCode, 0, state.stderr);
  assert.is(JSON.parse(state.stdout).pid, pid, 'the shim called tsrun with --root in its root');
  assert.is(JSON.parse(state.stdout).status, 'running');
  assert.is(comm(pid), 'tsrun-init', 'tsrun-init is PID 1 (run from a sealed memfd copy, it names itself)');
  return pid;
}

/** ctr task kill (SIGTERM) stops a sleeper; its delete says 143, and tsrun's state goes with it. */
export async function stopWithTerm(ctd: ContainerdSuite, id: string): Promise<void> {
  const kill = await ctd.cd.ctr(['task', 'kill', id]);
  assert.is(kill.exitCode, 0, kill.stderr);
  assert.ok(await waitFor(async () => (await ctd.tasks()).get(id)?.[1] === 'STOPPED', 10000, 100), 'TERM stops sleep under tsrun-init');
  const rm = await ctd.cd.ctr(['task', 'rm', id]);
  assert.is(rm.exitCode, 0, rm.stderr);
  assert.match(rm.stderr, 'exit code 143', 'sleep died of SIGTERM: 128+15');
  assert.is((await ctd.cd.ctr(['containers', 'rm', id])).exitCode, 0);
  assert.not.ok(existsSync(join(ctd.stateRoot, id)), 'tsrun delete ran');
}

/** ctr task exec in a sleeper: output and exit code, in the container's pid
 *  namespace; then ctr task ps lists tsrun-init and sleep, and nothing else. */
export async function execAndPs(ctd: ContainerdSuite, id: string): Promise<void> {
  const ex = await ctd.cd.ctr(['task', 'exec', '--exec-id', 'x1', id, 'sh', '-c', 'echo "in exec $$"; cat /proc/1/comm; exit 4']);
  assert.is(ex.exitCode, 4, `${ex.stderr}\n${ctd.cd.log().slice(-3000)}`);
  const [first, pid1] = ex.stdout.split('\n');
  assert.match(first!, /^in exec \d$/, 'a small pid: in the container\'s pid namespace');
  assert.is(pid1, 'tsrun-init', 'where tsrun-init is PID 1');
  const ps = await ctd.cd.ctr(['task', 'ps', id]);
  assert.is(ps.exitCode, 0, ps.stderr);
  const pids = ps.stdout.split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0]));
  const [init] = (await ctd.tasks()).get(id)!;
  assert.ok(pids.includes(init), `ps lists the init ${init}: ${ps.stdout}`);
  assert.is(pids.length, 2, `tsrun-init and sleep (the exec is gone): ${ps.stdout}`);
  assert.equal(pids.map(comm).sort(), ['sleep', 'tsrun-init'], ps.stdout);
}

/** ctr task pause of a sleeper: PAUSED, frozen, a second pause refused; resume: RUNNING, and it works. */
export async function pauseResume(ctd: ContainerdSuite, id: string): Promise<void> {
  const pause = await ctd.cd.ctr(['task', 'pause', id]);
  assert.is(pause.exitCode, 0, pause.stderr);
  const [init, status] = (await ctd.tasks()).get(id)!;
  assert.is(status, 'PAUSED');
  assert.match(readFileSync(`/proc/${init}/status`, 'utf8'), /State:\s+[DS]/, 'frozen in the freezer');
  const again = await ctd.cd.ctr(['task', 'pause', id]);
  assert.not.equal(again.exitCode, 0, 'pausing a paused container is refused');
  const resume = await ctd.cd.ctr(['task', 'resume', id]);
  assert.is(resume.exitCode, 0, resume.stderr);
  assert.is((await ctd.tasks()).get(id)?.[1], 'RUNNING');
  const ex = await ctd.cd.ctr(['task', 'exec', '--exec-id', 'after', id, 'echo', 'thawed']);
  assert.is(ex.stdout, 'thawed', 'the container works after resume');
}

/** stdin without a terminal reaches a container (ctr run) and an exec (ctr task exec), and its EOF ends them. */
export async function stdinAndEof(ctd: ContainerdSuite, id: string, execId: string): Promise<void> {
  // ctr only passes stdin's EOF on (CloseIO) once its task or exec exists
  // (containerd#4489), so the input ends only after the process is listed.
  const runtime = ctd.runtime.join(' ');
  const whenRunning = `n=0; until eval "$CTR task ls" | grep -q "^${id} .*RUNNING" || [ $n -gt 400 ]; do n=$((n+1)); sleep 0.05; done`;
  const run = await ctd.cd.shell(`(${whenRunning}; echo from-stdin) | eval "$CTR run --rm ${runtime} ${ctd.image.name} ${id} sh -c 'cat; echo eof'"`);
  assert.is(run.exitCode, 0, run.stderr);
  assert.is(run.stdout, 'from-stdin\neof');
  await ctd.sleeper(execId);
  const whenExec = `n=0; until [ "$(eval "$CTR task ps ${execId}" | wc -l)" -gt 3 ] || [ $n -gt 400 ]; do n=$((n+1)); sleep 0.05; done`;
  const ex = await ctd.cd.shell(`(${whenExec}; echo exec-stdin) | eval "$CTR task exec --exec-id in1 ${execId} sh -c 'cat; echo eof'"`);
  assert.is(ex.exitCode, 0, ex.stderr);
  assert.is(ex.stdout, 'exec-stdin\neof');
}

// Typed before the shell runs; $((6*7)) tells the echo of the input from its
// output. `script` gives ctr a terminal of 33 rows and 101 columns.
const inTerminal = (ctr: string, input: string): string => `printf '${input}; exit\\n' | script -qec "stty rows 33 cols 101; $CTR ${ctr}" /dev/null`;

/** ctr run -t: a terminal through --console-socket, input and output relayed; the task gone after. */
export async function runTerminal(ctd: ContainerdSuite, id: string): Promise<void> {
  const r = await ctd.cd.shell(inTerminal(`run -t --rm ${ctd.runtime.join(' ')} ${ctd.image.name} ${id} sh`, 'tty; echo inside-$((6*7))'));
  const out = r.stdout.replace(/\r/g, '');
  assert.match(out, /^inside-42$/m, `${out}\n${r.stderr}`);
  assert.match(out, /^\/dev\/pts\/\d+$/m);
  assert.not.ok((await ctd.tasks()).has(id));
}

/** ctr task exec -t in a sleeper: a terminal of its own, with ctr's window size. */
export async function execTerminal(ctd: ContainerdSuite, id: string): Promise<void> {
  // ctr sets the size after Start: the exec waits for it (up to 10 s) rather than race it.
  const waitSize = 'n=0; while [ "$(stty size)" != "33 101" ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done';
  const e = await ctd.cd.shell(inTerminal(`task exec -t --exec-id t1 ${id} sh`, `${waitSize}; echo exec-$((6*7)); tty; stty size`));
  const out = e.stdout.replace(/\r/g, '');
  assert.match(out, /^exec-42$/m, `${out}\n${e.stderr}`);
  assert.match(out, /^\/dev\/pts\/\d+$/m);
  assert.match(out, /^33 101$/m, 'ResizePty gave the exec our window size');
}
