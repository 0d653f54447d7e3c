// tsrun-init as the container's PID 1, seen through tsrun: who is PID 1 and
// which pid tsrun reports, SIGTERM, forwarding, reaping, exit statuses, the
// grace period before SIGKILL, the runc-like opt-out, and `tsrun signals`.
//
// Zombies are counted by walking /proc for processes whose pid namespace
// (/proc/PID/ns/pid) is the container's, not from the pids cgroup: the kernel
// takes a task off its cgroup's process list when it exits, so cgroup.procs
// never shows a zombie, while the ns/pid link of a zombie still resolves (it
// comes from the task's struct pid, which lives until the parent reaps it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../src/runtime/oci-types.ts';
import { leftovers, sandbox, sleepMs, statusOf, TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';

const sb = sandbox();
test.after(async () => {
  await sb.cleanup();
});

const OPT_OUT = { 'run.tsrun.init': 'false' };

/** A fresh host directory bind-mounted read-write at /m in the container. */
function markerDir(c: Config): string {
  const dir = mkdtempSync(join(sb.dir, 'm-'));
  c.mounts!.push({ destination: '/m', type: 'bind', source: dir, options: ['rbind', 'rw'] });
  return dir;
}

async function hostPid(id: string): Promise<number> {
  return JSON.parse((await sb.tsrun(['state', id])).stdout).pid;
}

function statusField(pid: number, field: string): string | undefined {
  try {
    return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim();
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return []; // exited meanwhile
  }
}
const innerPid = (pid: number): number => Number(statusField(pid, 'NSpid')?.split(/\s+/).pop());

/** Every process in the pid namespace of `initPid` (zombies included), with its state letter. */
function namespaceProcesses(initPid: number): Array<{ pid: number; state: string }> {
  const ns = readlinkSync(`/proc/${initPid}/ns/pid`);
  const out: Array<{ pid: number; state: string }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/ns/pid`) !== ns) continue;
      out.push({ pid: Number(name), state: statusField(Number(name), 'State')?.charAt(0) ?? '?' });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const runningAfter = async (id: string, ms: number): Promise<boolean> => {
  await sleepMs(ms);
  return (await statusOf(sb, id)) === 'running';
};
const stopped = (id: string, ms = 10_000) => waitFor(async () => (await statusOf(sb, id)) === 'stopped', ms);

test('the default init is PID 1: tsrun-init runs the config process as PID 2', async () => {
  const r = await sb.tsrun(['run', '--bundle', sb.bundle((c) => {
    c.process!.args = ['sh', '-c', 'tr "\\0" " " < /proc/1/cmdline; echo; echo $$; echo $PPID'];
  }), uniqueId('pid1')]);
  assert.is(r.exitCode, 0, r.stderr);
  const [pid1, self, parent] = r.stdout.split('\n');
  assert.match(pid1!, /^tsrun-init -t 1 -- sh -c /);
  assert.is(self, '2', 'the config process is PID 2');
  assert.is(parent, '1', 'its parent is the init');
});

test('state and --pid-file report the host pid of the init; the workload is its child', async () => {
  const id = uniqueId('pidfile');
  const pidFile = join(sb.dir, `${id}.pid`);
  assert.is((await sb.tsrun(['create', '--pid-file', pidFile, '--bundle', sb.bundle(), id])).exitCode, 0);
  assert.is((await sb.tsrun(['start', id])).exitCode, 0);
  const pid = await hostPid(id);
  assert.is(Number(readFileSync(pidFile, 'utf8')), pid);
  assert.ok(await waitFor(() => cmdline(pid)[0] === 'tsrun-init'), `host pid ${pid} runs tsrun-init`);
  assert.is(innerPid(pid), 1);
  let child: number | undefined;
  assert.ok(await waitFor(() => {
    child = namespaceProcesses(pid).find((p) => p.pid !== pid && statusField(p.pid, 'PPid') === String(pid))?.pid;
    return child !== undefined && cmdline(child)[0] === 'sleep';
  }), 'sleep runs under the init');
  assert.equal(cmdline(child!), ['sleep', '30']);
  assert.is(innerPid(child!), 2);
  assert.is((await sb.tsrun(['delete', '-f', id])).exitCode, 0);
});

test('SIGTERM stops a sleep under the default init', async () => {
  const id = uniqueId('term');
  assert.is((await sb.tsrun(['run', '-d', '--bundle', sb.bundle(), id])).exitCode, 0);
  assert.is((await sb.tsrun(['kill', id, 'TERM'])).exitCode, 0);
  assert.ok(await stopped(id), 'stopped after TERM');
  assert.is((await sb.tsrun(['delete', id])).exitCode, 0);
});

test('opt-out: a bare sleep as PID 1 ignores TERM, and only KILL stops it', async () => {
  const id = uniqueId('optterm');
  const bundle = sb.bundle((c) => { c.annotations = OPT_OUT; });
  assert.is((await sb.tsrun(['run', '-d', '--bundle', bundle, id])).exitCode, 0);
  assert.is((await sb.tsrun(['kill', id, 'TERM'])).exitCode, 0);
  assert.ok(await runningAfter(id, 1000), 'still running 1 s after TERM');
  assert.is((await sb.tsrun(['kill', id, 'KILL'])).exitCode, 0);
  assert.ok(await stopped(id), 'stopped after KILL');
  assert.is((await sb.tsrun(['delete', id])).exitCode, 0);
});

test('SIGUSR1 sent with tsrun kill is forwarded to the child, which traps it', async () => {
  const id = uniqueId('usr1');
  let dir = '';
  const bundle = sb.bundle((c) => {
    dir = markerDir(c);
    c.process!.args = ['sh', '-c', 'trap "echo got-usr1-in-\\$\\$ > /m/usr1" USR1; echo $$ > /m/ready; while :; do sleep 0.05; done'];
  });
  assert.is((await sb.tsrun(['run', '-d', '--bundle', bundle, id])).exitCode, 0);
  assert.ok(await waitFor(() => existsSync(join(dir, 'ready'))), 'the workload is up');
  assert.is((await sb.tsrun(['kill', id, 'USR1'])).exitCode, 0);
  assert.ok(await waitFor(() => existsSync(join(dir, 'usr1'))), 'the trap ran');
  assert.is(readFileSync(join(dir, 'usr1'), 'utf8').trim(), 'got-usr1-in-2', 'PID 2 got it');
  assert.is(await statusOf(sb, id), 'running', 'USR1 does not stop the container');
  assert.is((await sb.tsrun(['delete', '-f', id])).exitCode, 0);
});

test('orphans are reaped by the init; with the opt-out a sleep as PID 1 leaves them as zombies', async () => {
  // Each `sh -c "(...) &"` exits at once, so its subshell is re-parented to
  // PID 1; the subshells exit together when /m/go appears, after PID 1 has
  // become (or started) sleep, so the count does not depend on timing.
  const orphan = '(while [ ! -e /m/go ]; do sleep 0.05; done; touch /m/done.$$) &';
  const script = `for i in 1 2 3 4 5; do sh -c '${orphan}'; done; exec sleep 30`;
  const zombies: Record<string, number> = {};
  for (const mode of ['init', 'opt-out']) {
    const id = uniqueId('zomb');
    let dir = '';
    const bundle = sb.bundle((c) => {
      dir = markerDir(c);
      c.process!.args = ['sh', '-c', script];
      if (mode === 'opt-out') c.annotations = OPT_OUT;
    });
    assert.is((await sb.tsrun(['run', '-d', '--bundle', bundle, id])).exitCode, 0);
    const pid = await hostPid(id);
    assert.ok(await waitFor(() => namespaceProcesses(pid).some((p) => cmdline(p.pid).join(' ') === 'sleep 30')), 'sleep runs');
    writeFileSync(join(dir, 'go'), '');
    const done = () => readdirSync(dir).filter((f) => f.startsWith('done.')).length;
    assert.ok(await waitFor(() => done() === 5, 10_000), 'every orphan finished');
    // Then every orphan has exited once the namespace holds only PID 1, its sleep and zombies.
    const live = mode === 'init' ? 2 : 1;
    assert.ok(await waitFor(() => namespaceProcesses(pid).filter((p) => p.state !== 'Z').length === live, 10_000));
    await sleepMs(200);
    zombies[mode] = namespaceProcesses(pid).filter((p) => p.state === 'Z').length;
    assert.is((await sb.tsrun(['delete', '-f', id])).exitCode, 0);
  }
  assert.is(zombies.init, 0, 'the init reaps every orphan');
  assert.is(zombies['opt-out'], 5, 'sleep never waits: one zombie per orphan');
});

test('exit statuses propagate through run with the init: 0, 42, 143, 137', async () => {
  const cases: Array<[string, number]> = [['exit 0', 0], ['exit 42', 42], ['kill -TERM $$', 143], ['kill -KILL $$', 137]];
  for (const [script, expected] of cases) {
    const r = await sb.tsrun(['run', '--bundle', sb.bundle((c) => { c.process!.args = ['sh', '-c', script]; }), uniqueId('exit')]);
    assert.is(r.exitCode, expected, `${script}: ${r.stderr}`);
  }
});

test('kill-after then grace: a child ignoring TERM is killed after run.tsrun.init.kill-after-seconds; a trapping grandchild logs TERM first', async () => {
  const id = uniqueId('grace');
  let dir = '';
  const bundle = sb.bundle((c) => {
    dir = markerDir(c);
    c.annotations = { 'run.tsrun.init.kill-after-seconds': '1' };
    c.process!.args = ['sh', '-c', [
      '(trap "echo TERM >> /m/log" TERM; while :; do sleep 0.05; done) &',
      'trap "" TERM; echo > /m/ready; while :; do sleep 0.05; done',
    ].join(' ')];
  });
  const started = Date.now();
  const run = execa(TSRUN, ['--root', sb.root, 'run', '--bundle', bundle, id], { reject: false });
  try {
    assert.ok(await waitFor(() => existsSync(join(dir, 'ready'))), 'the workload is up');
    assert.is((await sb.tsrun(['kill', id, 'TERM'])).exitCode, 0);
    const r = await Promise.race([run, sleepMs(10_000).then(() => undefined)]);
    assert.ok(r, 'stopped within 10 s');
    assert.is(r!.exitCode, 137, 'the child ignored TERM and was SIGKILLed after the kill-after period');
    assert.is(readFileSync(join(dir, 'log'), 'utf8'), 'TERM\n', 'the grandchild was sent TERM before the end');
    assert.ok(Date.now() - started < 15_000);
  } finally {
    run.kill('SIGKILL');
    await sb.tsrun(['delete', '-f', id]);
  }
});

test('opt-out gives runc semantics: the config process is PID 1', async () => {
  const r = await sb.tsrun(['run', '--bundle', sb.bundle((c) => {
    c.annotations = OPT_OUT;
    c.process!.args = ['sh', '-c', 'echo $$; tr "\\0" " " < /proc/1/cmdline; echo; cat /proc/[0-9]*/comm | grep -c tsrun-init'];
  }), uniqueId('runc')]);
  assert.is(r.exitCode, 1, `grep -c found nothing: ${r.stderr}`);
  const [self, pid1, count] = r.stdout.split('\n');
  assert.is(self, '1');
  assert.match(pid1!, /^sh -c echo/);
  // (a count of the pipeline's processes raced with their fork on a loaded machine)
  assert.is(count, '0', 'no tsrun-init anywhere in the pid namespace');
  const id = uniqueId('runcpid');
  assert.is((await sb.tsrun(['run', '-d', '--bundle', sb.bundle((c) => { c.annotations = OPT_OUT; }), id])).exitCode, 0);
  const pid = await hostPid(id);
  assert.ok(await waitFor(() => cmdline(pid)[0] === 'sleep'), 'the host pid tsrun reports runs sleep itself');
  assert.is(innerPid(pid), 1);
  assert.is((await sb.tsrun(['delete', '-f', id])).exitCode, 0);
});

test('tsrun signals: SIGTERM is caught by the default init (table and JSON)', async () => {
  const id = uniqueId('sig');
  assert.is((await sb.tsrun(['run', '-d', '--bundle', sb.bundle(), id])).exitCode, 0);
  const pid = await hostPid(id);
  assert.ok(await waitFor(() => cmdline(pid)[0] === 'tsrun-init'));
  const table = await sb.tsrun(['signals', id]);
  assert.is(table.exitCode, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`^pid 1 in the container \\(host pid ${pid}, `));
  assert.match(table.stdout, /\n {2}caught +.*\bSIGTERM\b/);
  assert.not.match(table.stdout, /has no handler/);
  const json = JSON.parse((await sb.tsrun(['signals', '--format', 'json', id])).stdout);
  assert.is(json.pid, 1);
  assert.is(json.hostPid, pid);
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGCHLD']) assert.ok(json.caught.includes(s), s);
  assert.not.ok(json.caught.includes('SIGKILL'));
  for (const key of ['ignored', 'blocked', 'pending', 'shadowPending']) assert.ok(Array.isArray(json[key]), key);
  assert.is((await sb.tsrun(['delete', '-f', id])).exitCode, 0);
});

test('tsrun signals: with the opt-out a sleep as PID 1 catches nothing and the hint says why', async () => {
  const id = uniqueId('sigopt');
  assert.is((await sb.tsrun(['run', '-d', '--bundle', sb.bundle((c) => { c.annotations = OPT_OUT; }), id])).exitCode, 0);
  const pid = await hostPid(id);
  assert.ok(await waitFor(() => cmdline(pid)[0] === 'sleep'));
  const table = await sb.tsrun(['signals', id]);
  assert.is(table.exitCode, 0, table.stderr);
  assert.match(table.stdout, /\n {2}caught +-\n/);
  assert.match(table.stdout, 'SIGTERM has no handler: as PID 1 of a pid namespace this process will not be stopped by it');
  const json = JSON.parse((await sb.tsrun(['signals', '--format', 'json', id])).stdout);
  assert.not.ok(json.caught.includes('SIGTERM'));
  assert.not.ok(json.ignored.includes('SIGTERM'));
  assert.is((await sb.tsrun(['delete', '-f', id])).exitCode, 0);
});

test('tsrun signals --pid 2 looks at the child of the init', async () => {
  const id = uniqueId('sig2');
  let dir = '';
  const bundle = sb.bundle((c) => {
    dir = markerDir(c);
    c.process!.args = ['sh', '-c', 'trap "echo" USR2; echo > /m/ready; while :; do sleep 0.05; done'];
  });
  assert.is((await sb.tsrun(['run', '-d', '--bundle', bundle, id])).exitCode, 0);
  assert.ok(await waitFor(() => existsSync(join(dir, 'ready'))));
  const json = JSON.parse((await sb.tsrun(['signals', '--pid', '2', '--format', 'json', id])).stdout);
  assert.is(json.pid, 2);
  assert.is(innerPid(json.hostPid), 2);
  assert.is(json.hostPid === (await hostPid(id)), false, 'not the init');
  assert.ok(json.caught.includes('SIGUSR2'), 'the trap of the shell');
  assert.not.ok(json.caught.includes('SIGTERM'), 'the shell has no TERM trap');
  const table = await sb.tsrun(['signals', '--pid', '2', id]);
  assert.match(table.stdout, /^pid 2 in the container/);
  assert.not.match(table.stdout, /has no handler/, 'the hint is only about PID 1');
  const missing = await sb.tsrun(['signals', '--pid', '999', id]);
  assert.is(missing.exitCode, 1);
  assert.match(missing.stderr, `no process with pid 999 in container "${id}"`);
  assert.is((await sb.tsrun(['delete', '-f', id])).exitCode, 0);
});

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
});

test.run();
