// The resource demos (cpu, cpuusage, loadavg, oom, pagecache, swap) run to
// the end with --quick --json --svg, and their JSON shows the effect each
// exists for. The machine is shared and loaded: the checks compare effects
// (the quota container near its quota and throttled, a ratio of shares), never
// absolute speeds. Ends with the leftovers check: no lab dir, cgroup, mount
// or process of a demo is left.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoRunner } from './lib/demo.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsrun-demos-res-test-'));
const demos = demoRunner(dir);
const labDirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('tsrun-demo-')).map((n) => join(tmpdir(), n));
const labsBefore = new Set(labDirs());
const swapsBefore = readFileSync('/proc/swaps', 'utf8');

test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** What a demo run must not leave: its temp dir, cgroups named after its pid, mounts, processes, swap. */
function demoLeftovers(): string[] {
  const found: string[] = [];
  const labs = labDirs().filter((d) => !labsBefore.has(d));
  if (labs.length) found.push(`lab dirs: ${labs.join(' ')}`);
  for (const pid of demos.pids) {
    const cg = spawnSync('find', ['/sys/fs/cgroup', '-maxdepth', '4', '-type', 'd', '-name', `demo-*-${pid}-*`], { encoding: 'utf8' }).stdout.trim();
    if (cg) found.push(`cgroups: ${cg.split('\n').join(' ')}`);
  }
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('tsrun-demo-'));
  if (mounts.length) found.push(`mounts: ${mounts.length}`);
  const procs = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes('tsrun-demo-'));
  if (procs.length) found.push(`processes: ${procs.join('; ')}`);
  if (readFileSync('/proc/swaps', 'utf8') !== swapsBefore) found.push(`swap: ${readFileSync('/proc/swaps', 'utf8')}`);
  return found;
}

const within = (value: number, target: number, tolerance: number): boolean => Math.abs(value - target) <= target * tolerance;

test('demo cpu: the quota container stays near half a CPU and is throttled; shares split the CPU only under contention', async () => {
  const { json, svg } = await demos.json('cpu', { quiet: true });
  assert.is(json.cgroupVersion, 1);
  assert.is(json.quotaCpus, 0.5);
  const [alone, contention] = json.phases;
  assert.is(alone.phase, 'alone');
  assert.is(contention.phase, 'contention');
  for (const p of json.phases) {
    const q = p.use.quota;
    assert.ok(within(q.cpus, 0.5, 0.2), `${p.phase}: quota container used ${q.cpus} CPU for a quota of 0.5`);
    assert.ok(q.throttled > 0, `${p.phase}: throttled in ${q.throttled} of ${q.periods} periods`);
    assert.ok(q.throttledSeconds > 0);
  }
  // Shares under contention: high (1024) gets clearly more than low (256); low got more alone.
  assert.ok(json.sharesRatio.measured > 1.5, `high/low = ${json.sharesRatio.measured}`);
  assert.ok(alone.use.low.cpus > contention.use.low.cpus * 1.3, `low alone ${alone.use.low.cpus}, under contention ${contention.use.low.cpus}`);
  assert.ok(json.eventsStats.throttling.throttledPeriods > 0, 'tsrun events --stats saw the throttling');
  assert.match(svg, /^<svg/);
});

test('demo oom: the victim is the process with the highest badness; counters, events, kernel log and 137', async () => {
  const { json, svg } = await demos.json('oom', { quiet: true });
  const byCase = (c: string) => json.cases.find((x: { case: string }) => x.case === c);
  for (const c of json.cases) {
    assert.ok(c.victim, `${c.case}: someone was killed`);
    assert.ok(c.victimHadHighestBadness, `${c.case}: the victim had the highest badness`);
    const top = [...c.processes].sort((a, b) => b.badness - a.badness)[0];
    assert.is(c.victim, top.name);
    assert.is(c.oomKills, 1, `${c.case}: one kill counted by the cgroup`);
    assert.is(c.eventsOom, 1, `${c.case}: tsrun events printed one oom event`);
    assert.is(c.processes.find((p: { killed: boolean }) => p.killed).exitStatus, 137);
    assert.ok(c.kernelLog.some((l: string) => /Killed process \d+ \(dd\)/.test(l)), 'the kernel logged the kill');
  }
  assert.is(byCase('default').victim, 'big', 'the biggest process, not the one asking');
  assert.is(byCase('default').containerExitStatus, 137);
  assert.is(byCase('adjusted').victim, 'grow', 'oom_score_adj 500 moved the blame');
  assert.is(byCase('adjusted').containerExitStatus, null, 'the container survived');
  assert.match(svg, /^<svg/);
});

test('nothing is left behind', () => {
  assert.equal(demoLeftovers(), []);
});

test.run();
