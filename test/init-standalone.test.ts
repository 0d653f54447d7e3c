// tsrun-init on its own, no runtime: run as PID 1 of a fresh pid namespace
// (unshare -fp --mount-proc) or as a subreaper on the host, with busybox as the
// workload, and check what a container's PID 1 owes its namespace: exit status,
// signal forwarding, reaping, and the TERM-grace-KILL stop of everything left
// (a SIGTERM from outside is forwarded and waited on; only -k adds a deadline).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src/init/tsrun-init.c');
const B = '/bin/busybox';
const CC_ARGS = ['-Wall', '-Wextra', '-Werror', '-Wno-unused-parameter', '-Os', '-static', '-s',
  '-fno-asynchronous-unwind-tables', '-Wl,--gc-sections', '-ffunction-sections', '-fdata-sections'];

const hasCmd = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

// The build's binary if it is at least as new as the source, else our own
// build into a temp dir (removed in test.after), so the suite stands alone.
let buildDir: string | undefined;
function findInit(): string | undefined {
  const built = join(root, 'build/tsrun-init');
  if (existsSync(built) && statSync(built).mtimeMs >= statSync(src).mtimeMs) return built;
  if (!hasCmd('musl-gcc')) return undefined;
  buildDir = mkdtempSync(join(tmpdir(), 'tsrun-init-build-'));
  const out = join(buildDir, 'tsrun-init');
  const res = spawnSync('musl-gcc', [...CC_ARGS, '-o', out, src], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`musl-gcc tsrun-init.c failed: ${res.stderr}`);
  return out;
}

const INIT = findInit() ?? '';
const haveInit = INIT !== '' && existsSync(B);
const canNs = haveInit && process.getuid?.() === 0 && hasCmd('unshare');
const nsTest = canNs ? test : test.skip;
const hostTest = haveInit ? test : test.skip;
if (!haveInit) console.log('SKIP init-standalone: no build/tsrun-init and no musl-gcc, or no /bin/busybox');
else if (!canNs) console.log('SKIP init-standalone namespace tests: need root and unshare(1)');

interface Result { code: number | null; signal: string | null; stdout: string; stderr: string; ended: number }
interface Run { pid: number; done: Promise<Result>; exited: () => boolean }

const started: Run[] = [];
const dirs: string[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tsrun-init-test-'));
  dirs.push(d);
  return d;
}

function start(argv: string[], dir: string): Run {
  const [cmd, ...args] = argv as [string, ...string[]];
  const proc = spawn(cmd, args, { env: { ...process.env, D: dir, B }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '', over = false;
  proc.stdout.on('data', (c: Buffer) => { stdout += c; });
  proc.stderr.on('data', (c: Buffer) => { stderr += c; });
  const done = new Promise<Result>((resolve) => {
    proc.on('close', (code, signal) => { over = true; resolve({ code, signal, stdout, stderr, ended: Date.now() }); });
  });
  const run = { pid: proc.pid ?? -1, done, exited: () => over };
  started.push(run);
  return run;
}

/** tsrun-init as PID 1 of a new pid namespace with its own /proc. */
const inNs = (initArgs: string[], script: string, dir: string) =>
  start(['unshare', '-fp', '--mount-proc', INIT, ...initArgs, '--', B, 'sh', '-c', script], dir);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, get: () => T | undefined | false, ms = 5000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(10)) {
    const v = get();
    if (v !== undefined && v !== false) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

/** The init's host pid: unshare's only child, not a guess. */
const initPid = (run: Run) => waitFor('init under unshare', () => childrenOf(run.pid)[0]);

function stat(pid: number): { state: string; ppid: number; pgrp: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: f[0] ?? '', ppid: Number(f[1]), pgrp: Number(f[2]) };
  } catch {
    return undefined;
  }
}

const alive = (pid: number) => { const s = stat(pid); return s !== undefined && s.state !== 'Z'; };
const ready = (dir: string, name = 'ready') => waitFor(name, () => existsSync(join(dir, name)));
const read = (dir: string, name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : '');

// A test that fails midway must not leave anything behind: SIGKILL by PID what
// is still running (killing a namespace's init takes the namespace with it).
test.after.each(async () => {
  for (const run of started.splice(0)) {
    if (run.exited()) continue;
    for (const pid of childrenOf(run.pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    try { process.kill(run.pid, 'SIGKILL'); } catch { /* gone */ }
    await run.done;
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

test.after(() => {
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
});

hostTest('usage error exits 125, exec failures 127 and 126 with a message', async () => {
  const dir = tempDir();
  const usage = await start([INIT, '-x', '--', B, 'true'], dir).done;
  assert.is(usage.code, 125);
  assert.match(usage.stderr, /^tsrun-init: usage: /);
  const none = await start([INIT, '--', join(dir, 'missing')], dir).done;
  assert.is(none.code, 127);
  assert.is(none.stderr, `tsrun-init: exec ${join(dir, 'missing')}: No such file or directory\n`);
  const plain = join(dir, 'plain-file');
  writeFileSync(plain, 'not a program\n', { mode: 0o644 });
  const notExec = await start([INIT, '--', plain], dir).done;
  assert.is(notExec.code, 126, 'found but not executable');
  assert.is(notExec.stderr, `tsrun-init: exec ${plain}: Permission denied\n`);
  const viaPath = await start([INIT, '-t', '0.5', '--', 'true'], dir).done;
  assert.is(viaPath.code, 0, 'PROGRAM is looked up in PATH');
  const badGrace = await start([INIT, '-t', 'soon', '--', 'true'], dir).done;
  assert.is(badGrace.code, 125);
  assert.is((await start([INIT, '-k', 'later', '--', 'true'], dir).done).code, 125, 'a bad -k too');
});

nsTest('exit codes 0 and 42 propagate; death by SIGKILL is 137', async () => {
  const dir = tempDir();
  assert.is((await inNs(['-t', '1'], 'exit 0', dir).done).code, 0);
  assert.is((await inNs(['-t', '1'], 'exit 42', dir).done).code, 42);
  assert.is((await inNs(['-t', '1'], 'kill -KILL $$', dir).done).code, 137);
  const pid1 = await inNs([], 'echo $$ $PPID', dir).done;
  assert.is(pid1.stdout, '2 1\n', 'the workload is pid 2, child of the init as pid 1');
});

nsTest('SIGTERM from the host reaches the child: 143 by default, the trap\'s code if trapped', async () => {
  const dir = tempDir();
  const plain = inNs(['-t', '5'], `touch $D/ready; exec $B sleep 30`, dir);
  const init = await initPid(plain);
  await ready(dir);
  const status = readFileSync(`/proc/${init}/status`, 'utf8');
  const caught = BigInt(`0x${/SigCgt:\s*([0-9a-f]+)/.exec(status)?.[1] ?? '0'}`);
  assert.ok(caught & (1n << 14n), 'SigCgt has SIGTERM');
  assert.not.ok(caught & (1n << 10n), 'SIGSEGV keeps SIG_DFL');
  const t0 = Date.now();
  process.kill(init, 'SIGTERM');
  const r = await plain.done;
  assert.is(r.code, 143);
  assert.ok(r.ended - t0 < 2000, 'no grace wait when the child dies of the forwarded TERM');

  rmSync(join(dir, 'ready'));
  const trapped = inNs(['-t', '5'], `trap 'exit 7' TERM; touch $D/ready; while :; do $B sleep 0.05; done`, dir);
  const init2 = await initPid(trapped);
  await ready(dir);
  process.kill(init2, 'SIGTERM');
  assert.is((await trapped.done).code, 7);
});

nsTest('a child that ignores SIGTERM keeps running: the caller owns the stop timeout and sends SIGKILL itself', async () => {
  const dir = tempDir();
  const run = inNs(['-t', '0.5'], `trap '' TERM; touch $D/ready; exec $B sleep 30`, dir);
  const init = await initPid(run);
  await ready(dir);
  const [child] = childrenOf(init);
  process.kill(init, 'SIGTERM');
  await sleep(1500);
  assert.ok(child && alive(child), 'three grace periods after TERM the child still runs');
  process.kill(child!, 'SIGKILL');
  assert.is((await run.done).code, 137, 'then the caller\'s SIGKILL ends it: 128+9');
});

nsTest('with -k the init itself kills a child that ignores SIGTERM, that long after the TERM: 137', async () => {
  const dir = tempDir();
  const run = inNs(['-t', '5', '-k', '0.5'], `trap '' TERM; touch $D/ready; exec $B sleep 30`, dir);
  const init = await initPid(run);
  await ready(dir);
  const t0 = Date.now();
  process.kill(init, 'SIGTERM');
  const r = await run.done;
  assert.is(r.code, 137);
  const took = r.ended - t0;
  assert.ok(took >= 450, `killed after ${took} ms, -k 500 ms`);
});

nsTest('SIGUSR1 is forwarded to the child', async () => {
  const dir = tempDir();
  const run = inNs(['-t', '1'], `trap 'echo usr1 > $D/marker; exit 0' USR1; touch $D/ready; while :; do $B sleep 0.05; done`, dir);
  const init = await initPid(run);
  await ready(dir);
  process.kill(init, 'SIGUSR1');
  assert.is((await run.done).code, 0);
  assert.is(read(dir, 'marker'), 'usr1\n');
});

nsTest('TSTP, TTIN and TTOU go to the child and never stop the init', async () => {
  const dir = tempDir();
  const script = `for s in TSTP TTIN TTOU; do trap "echo $s >> $D/marks" $s; done; trap 'exit 9' TERM
    touch $D/ready; while :; do $B sleep 0.05; done`;
  const run = inNs(['-t', '1'], script, dir);
  const init = await initPid(run);
  await ready(dir);
  for (const sig of ['SIGTSTP', 'SIGTTIN', 'SIGTTOU'] as const) {
    process.kill(init, sig);
    await waitFor(`${sig} marker`, () => read(dir, 'marks').includes(sig.slice(3)));
  }
  await sleep(50);
  assert.is(stat(init)?.state, 'S', 'the init is asleep in sigtimedwait, not stopped');
  assert.is(read(dir, 'marks'), 'TSTP\nTTIN\nTTOU\n');
  process.kill(init, 'SIGTERM');
  assert.is((await run.done).code, 9);
});

nsTest('orphans are reparented to the init and reaped: no zombies in the namespace', async () => {
  const dir = tempDir();
  // Five short-lived orphans; the workload then checks from inside the
  // namespace that they had ppid 1 and that nothing is left as a zombie.
  // The orphans live 2 s, long enough to read a ppid on a loaded machine; then
  // the workload waits (up to 10 s) for them to be gone before counting.
  const script = `for i in 1 2 3 4 5; do $B sh -c "$B sleep 2 & echo \\$! > $D/o$i"; done
    p=$($B cut -d' ' -f4 /proc/$($B cat $D/o1)/stat)
    n=0; while [ $n -lt 200 ]; do
      left=0; for i in 1 2 3 4 5; do [ -e /proc/$($B cat $D/o$i) ] && left=$((left+1)); done
      [ $left = 0 ] && break; n=$((n+1)); $B sleep 0.05
    done
    z=$($B grep -lE '^State:[[:space:]]+Z' /proc/[0-9]*/status 2>/dev/null | $B wc -l)
    echo "ppid=$p zombies=$z left=$left"`;
  const r = await inNs(['-t', '1'], script, dir).done;
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'ppid=1 zombies=0 left=0\n');
});

nsTest('after the child exits: SIGTERM to the rest, SIGKILL after the grace', async () => {
  const dir = tempDir();
  const script = `(trap '' TERM; exec $B sleep 30) &
    $B sh -c "trap 'echo TERM >> $D/log; exit 0' TERM; touch $D/b; while :; do $B sleep 0.05; done" &
    while [ ! -e $D/b ]; do $B sleep 0.02; done; touch $D/ready; exit 3`;
  const run = inNs(['-t', '1'], script, dir);
  await ready(dir);
  const t0 = Date.now();
  const r = await run.done;
  assert.is(r.code, 3, 'the main child\'s code, not that of the rest');
  assert.is(read(dir, 'log'), 'TERM\n', 'the trapping grandchild saw SIGTERM');
  const took = r.ended - t0;
  assert.ok(took >= 900 && took < 3000, `TERM-ignoring grandchild killed after ${took} ms, grace 1000 ms`);

  // With nothing ignoring SIGTERM the init leaves as soon as all is reaped.
  rmSync(join(dir, 'ready'));
  const quick = inNs(['-t', '5'], `$B sleep 30 & touch $D/ready; exit 0`, dir);
  await ready(dir);
  const t1 = Date.now();
  const q = await quick.done;
  assert.is(q.code, 0);
  assert.ok(q.ended - t1 < 1500, `took ${q.ended - t1} ms with a 5 s grace`);
});

nsTest('a process that joined with setns gets SIGTERM and its grace too', async () => {
  const dir = tempDir();
  const run = inNs(['-t', '3'], `touch $D/ready; while [ ! -e $D/joined ]; do $B sleep 0.02; done; exit 0`, dir);
  const init = await initPid(run);
  await ready(dir);
  // nsenter stays outside as its parent: the init can signal it, never reap it
  const joined = start(['nsenter', '-t', String(init), '-p', '--', B, 'sh', '-c',
    `trap 'echo TERM >> $D/log; $B sleep 0.3; echo done >> $D/log; exit 0' TERM
     touch $D/joined; while :; do $B sleep 0.05; done`], dir);
  const r = await run.done;
  assert.is(r.code, 0);
  assert.is(read(dir, 'log'), 'TERM\ndone\n', 'the init waited for it to finish its trap');
  assert.is((await joined.done).code, 0, 'it was not killed');
});

// The workload and a background grandchild both trap USR1; the workload waits
// a little for the grandchild's mark before it exits.
const pgrpScript = `trap 'echo main >> $D/marks; i=0; while [ ! -e $D/gc ] && [ $i -lt 10 ]; do $B sleep 0.05; i=$((i+1)); done; exit 0' USR1
  $B sh -c "trap 'echo gc >> $D/marks; touch $D/gc; exit 0' USR1; touch $D/gcready; while :; do $B sleep 0.05; done" &
  while [ ! -e $D/gcready ]; do $B sleep 0.02; done
  echo "$$ $($B cut -d' ' -f5 /proc/$$/stat)" > $D/pg; touch $D/ready
  while :; do $B sleep 0.05; done`;

nsTest('-g forwards to the child\'s process group; without it only the child', async () => {
  const dir = tempDir();
  const grp = inNs(['-g', '-t', '1'], pgrpScript, dir);
  const init = await initPid(grp);
  await ready(dir);
  const [pid, pgrp] = read(dir, 'pg').trim().split(' ');
  assert.is(pgrp, pid, 'the child leads its own process group');
  process.kill(init, 'SIGUSR1');
  assert.is((await grp.done).code, 0);
  assert.equal(read(dir, 'marks').trim().split('\n').sort(), ['gc', 'main']);

  for (const f of ['ready', 'gcready', 'marks', 'gc']) rmSync(join(dir, f), { force: true });
  const one = inNs(['-t', '1'], pgrpScript, dir);
  const init2 = await initPid(one);
  await ready(dir);
  process.kill(init2, 'SIGUSR1');
  assert.is((await one.done).code, 0);
  assert.is(read(dir, 'marks'), 'main\n');
});

const ttyTest = haveInit && hasCmd('script') ? test : test.skip;
if (haveInit && !hasCmd('script')) console.log('SKIP -g terminal test: no script(1) to make a pty');

ttyTest('-g makes the child\'s group the terminal\'s foreground group', async () => {
  const dir = tempDir();
  // script(1) gives the init a pty as controlling terminal; tpgid is field 8
  const probe = `echo $$ $($B cut -d' ' -f5 /proc/$$/stat) $($B cut -d' ' -f8 /proc/$$/stat)`;
  const cmd = (flags: string) => `${INIT} ${flags} -- ${B} sh -c "${probe.replaceAll('$', '\\$')}"`;
  const withG = await start(['script', '-qec', cmd('-g'), '/dev/null'], dir).done;
  const [pid, pgrp, tpgid] = withG.stdout.trim().split(/\s+/);
  assert.ok(pid && Number(pid) > 0, withG.stdout);
  assert.is(pgrp, pid, 'own process group');
  assert.is(tpgid, pid, 'foreground on the terminal');
  const noG = await start(['script', '-qec', cmd(''), '/dev/null'], dir).done;
  const [pid2, pgrp2] = noG.stdout.trim().split(/\s+/);
  assert.is.not(pgrp2, pid2, 'without -g the child stays in the init\'s group');
});

hostTest('-s outside a pid namespace: reaps orphans, stops only its own tree', async () => {
  const dir = tempDir();
  // A bystander outside the init's tree, same uid: must survive the stop.
  const bystander = start([B, 'sleep', '30'], dir);
  const script = `$B sh -c "$B sleep 0.3 & echo \\$! > $D/orphan"
    (trap '' TERM; exec $B sleep 30) & echo $! > $D/ign
    touch $D/ready; $B sleep 1; exit 4`;
  const run = start([INIT, '-s', '-t', '1', '--', B, 'sh', '-c', script], dir);
  await ready(dir);
  const orphan = Number(read(dir, 'orphan'));
  const ign = Number(read(dir, 'ign'));
  await waitFor('orphan reparented to the init', () => stat(orphan)?.ppid === run.pid || !alive(orphan));
  await waitFor('orphan reaped', () => stat(orphan) === undefined);
  assert.not.ok(run.exited(), 'the orphan was reaped while the init was running');
  const t0 = Date.now();
  const r = await run.done;
  assert.is(r.code, 4);
  assert.not.ok(alive(ign), 'the TERM-ignoring grandchild was killed');
  assert.ok(r.ended - t0 >= 1500, `exited ${r.ended - t0} ms after ready: 1 s of work plus 1 s grace`);
  assert.ok(alive(bystander.pid), 'a process outside the tree was not signalled');
});

test.run();
