// `tsrun demo pid1|zombies|shutdown|sysctl --quick --json --svg FILE` run to
// the end with real containers; their JSON carries what the kernel did. Also
// the demo verb's help and usage errors, and that a demo interrupted with
// SIGINT (Ctrl-C) removes its containers, cgroups and temp dir.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleepMs, waitFor } from './lib/tsrun.ts';
import { demoRunner } from './lib/demo.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsrun-demos-test-'));
const demos = demoRunner(dir);
const labDirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('tsrun-demo-')).map((n) => join(tmpdir(), n));
const labsBefore = new Set(labDirs());

test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A lab dir or process of one of our demo runs: the Lab's dir carries the
 *  demo's pid (tsrun-demo-PID-*); other helpers may run demos at the same time. */
const ours = (text: string): boolean => demos.pids.some((p) => text.includes(`tsrun-demo-${p}-`));

/** What a demo run must not leave: its temp dir, cgroups named after its pid, mounts, processes. */
function demoLeftovers(): string[] {
  const found: string[] = [];
  const labs = labDirs().filter((d) => !labsBefore.has(d) && ours(d));
  if (labs.length) found.push(`lab dirs: ${labs.join(' ')}`);
  for (const pid of demos.pids) {
    const cg = spawnSync('find', ['/sys/fs/cgroup', '-maxdepth', '4', '-type', 'd', '-name', `demo-*-${pid}-*`], { encoding: 'utf8' }).stdout.trim();
    if (cg) found.push(`cgroups: ${cg.split('\n').join(' ')}`);
  }
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(ours);
  if (mounts.length) found.push(`mounts: ${mounts.length}`);
  const procs = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout.split('\n').filter(ours);
  if (procs.length) found.push(`processes: ${procs.join('; ')}`);
  return found;
}

type Case = { pid1: string; signal: string; from: string; stillRunning: boolean; exitStatus: number | null; termHandler: boolean };

test('demo pid1: what TERM and KILL do to sleep and to tsrun-init as PID 1, from inside and from the host', async () => {
  const { json, svg } = await demos.json('pid1', { quiet: true });
  const cases = json.cases as Case[];
  assert.is(cases.length, 8);
  const find = (pid1: string, signal: string, from: string): Case => {
    const c = cases.find((x) => x.pid1 === pid1 && x.signal === signal && x.from === from);
    assert.ok(c, `${pid1} ${signal} ${from}`);
    return c!;
  };
  const running = (c: Case) => [c.stillRunning, c.exitStatus];
  // The opt-out: sleep has no handler; only SIGKILL from the host gets through.
  assert.equal(running(find('sleep', 'SIGTERM', 'host')), [true, null], 'opt-out + host TERM: still running');
  assert.equal(running(find('sleep', 'SIGTERM', 'inside')), [true, null]);
  assert.equal(running(find('sleep', 'SIGKILL', 'inside')), [true, null]);
  assert.equal(running(find('sleep', 'SIGKILL', 'host')), [false, 137]);
  // tsrun-init catches TERM; SIGKILL from inside is still dropped.
  assert.equal(running(find('tsrun-init', 'SIGTERM', 'host')), [false, 143], 'init + host TERM: exited 143');
  assert.equal(running(find('tsrun-init', 'SIGTERM', 'inside')), [false, 143]);
  assert.equal(running(find('tsrun-init', 'SIGKILL', 'inside')), [true, null]);
  assert.equal(running(find('tsrun-init', 'SIGKILL', 'host')), [false, 137]);
  for (const c of cases) assert.is(c.termHandler, c.pid1 === 'tsrun-init', `${c.pid1} TERM handler`);
  assert.is(json.watchSeconds, 1);
  assert.not.ok(json.explanations.some((e: string) => e.startsWith('unexpected')));
  assert.match(svg, /^<svg/);
});

test('demo zombies: zombies pile up under a sleep as PID 1, none under tsrun-init', async () => {
  const { json, svg } = await demos.json('zombies', { quiet: true });
  const byInit = (init: boolean) => json.results.find((r: { init: boolean }) => r.init === init);
  assert.is(json.orphans, 5);
  assert.ok(byInit(false).zombies > 0, 'zombies without an init');
  assert.is(byInit(false).zombies, json.orphans, 'one per orphan: sleep never waits');
  assert.is(byInit(false).pid1, 'sleep');
  assert.is(byInit(true).zombies, 0, 'tsrun-init reaps them');
  assert.is(byInit(true).pid1, 'tsrun-init');
  assert.match(svg, /^<svg/);
  assert.match(svg, /Zombies left/);
});

test('demo shutdown: the workers get TERM with tsrun-init, and only SIGKILL without', async () => {
  const { json, svg } = await demos.json('shutdown', { quiet: true });
  assert.is(json.graceSeconds, 1);
  const byInit = (init: boolean) => json.results.find((r: { init: boolean }) => r.init === init);
  const proc = (init: boolean, name: string) => byInit(init).processes.find((p: { name: string }) => p.name === name);
  for (const name of ['main', 'worker-1', 'worker-2', 'stubborn']) assert.ok(proc(true, name).gotTerm, `${name} got TERM with the init`);
  assert.is(proc(true, 'worker-1').fate, 'exited on TERM');
  assert.is(proc(true, 'stubborn').fate, 'SIGKILL after TERM');
  assert.is(proc(false, 'main').fate, 'exited on TERM', 'main is PID 1 and traps TERM');
  for (const name of ['worker-1', 'worker-2', 'stubborn']) assert.is(proc(false, name).fate, 'SIGKILL without TERM', name);
  assert.is(byInit(true).exitStatus, 0);
  assert.is(byInit(false).exitStatus, 0);
  assert.ok(byInit(true).secondsToStop < 10, 'sanity: stopped within 10 s');
  assert.match(svg, /^<svg/);
});

test('demo sysctl: from a host tuned to 300, default 7200 and init_net\'s congestion control, 600 when configured, write refused, host unchanged', async () => {
  const host = readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim();
  const { json, svg } = await demos.json('sysctl', { quiet: true });
  assert.equal(json.sysctl, { 'net.ipv4.tcp_keepalive_time': '600' });
  assert.is(json.container.default['net.ipv4.tcp_keepalive_time'], '7200');
  assert.is(json.container.default['net.ipv4.tcp_keepalive_intvl'], '75');
  assert.is(json.container.default['net.ipv4.tcp_keepalive_probes'], '9');
  assert.is(json.container.default['net.ipv4.tcp_congestion_control'], host, 'inherited from the host');
  assert.is(json.host.before['net.ipv4.tcp_congestion_control'], host);
  assert.is(json.container.configured['net.ipv4.tcp_keepalive_time'], '600');
  // The stand-in host was tuned; the container did not inherit it.
  assert.is(json.standInHost['net.ipv4.tcp_keepalive_time'], '300');
  assert.is.not(json.standInHost['net.ipv4.tcp_congestion_control'], host, 'tuned away from the real host');
  assert.is(json.host.unchanged, true);
  assert.equal(json.host.before, json.host.after);
  assert.is(json.writeFromInside.refused, true);
  assert.match(json.writeFromInside.message, /Read-only file system/);
  assert.is(json.writeFromInside.valueAfter, '600');
  assert.match(svg, /^<svg/);
});

test('demo text output: the table and the explanations', async () => {
  const r = await demos.start(['zombies', '--quick']).done;
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /^Zombies: 5 orphans/);
  assert.match(r.stdout, /\nPID 1 +orphans +zombies left/);
  assert.match(r.stdout, /\ntsrun-init +5 +0 +5 /);
  assert.match(r.stdout, /\n- sleep never calls wait\(\)/);
});

test('demo help, per-demo help and usage errors', async () => {
  const help = await demos.start(['help']).done;
  assert.is(help.exitCode, 0);
  for (const name of ['pid1', 'zombies', 'shutdown', 'sysctl', 'netlat', 'reorder']) assert.match(help.stdout, new RegExp(`\\n  ${name} +\\S`));
  assert.match(help.stdout, /takes about/);
  const none = await demos.start([]).done;
  assert.is(none.exitCode, 2);
  assert.match(none.stderr, /usage: tsrun demo NAME/);
  const one = await demos.start(['zombies', '--help']).done;
  assert.is(one.exitCode, 0);
  assert.match(one.stdout, /^tsrun demo zombies \[--json\] \[--svg FILE\] \[--quick\]\n\n.+\nTakes about /);
  const unknown = await demos.start(['nope']).done;
  assert.is(unknown.exitCode, 2);
  assert.match(unknown.stderr, /unknown demo "nope" \(one of pid1, zombies, shutdown, cpu, cpuusage, loadavg, oom, pagecache, swap, overlay, quota, blkio, dirty, sysctl, netlat, reorder\)/);
  const bad = await demos.start(['sysctl', '--bogus']).done;
  assert.is(bad.exitCode, 2);
  assert.match(bad.stderr, 'unknown argument "--bogus" for "tsrun demo"');
  const noFile = await demos.start(['sysctl', '--svg']).done;
  assert.is(noFile.exitCode, 2);
  assert.match(noFile.stderr, 'option --svg needs a file name');
});

test('a demo interrupted with SIGINT removes its containers and temp dir', async () => {
  const before = new Set(labDirs());
  const d = demos.start(['pid1']);
  let lab: string | undefined;
  const hasContainer = (): boolean => {
    lab ??= labDirs().find((x) => !before.has(x) && x.includes(`tsrun-demo-${d.pid}-`));
    const state = lab && join(lab, 'state');
    return !!state && existsSync(state) && readdirSync(state).length > 0;
  };
  assert.ok(await waitFor(hasContainer, 15_000), 'a demo container exists');
  await sleepMs(100);
  process.kill(d.pid, 'SIGINT');
  const r = await d.done;
  assert.is(r.exitCode, 130, r.stderr);
  assert.match(r.stderr, 'SIGINT: removing the demo containers');
  assert.not.ok(existsSync(lab!), 'the lab dir is gone');
  assert.equal(demoLeftovers(), []);
});

test('nothing is left behind', () => {
  assert.equal(demoLeftovers(), []);
});

test.run();
