// The resource demos (cpu, cpuusage, loadavg, oom, pagecache, swap) run to
// the end with --quick --json --svg, and their JSON shows the effect each
// exists for. The machine is shared and loaded: the checks compare effects
// (the quota container near its quota and throttled, a ratio of shares), never
// absolute speeds. Ends with the leftovers check: no lab dir, cgroup, mount
// or process of a demo is left.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoRunner } from './lib/demo.ts';
import { TSRUN, waitFor } from './lib/tsrun.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsrun-demos-res-test-'));
const demos = demoRunner(dir);
const labDirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('tsrun-demo-')).map((n) => join(tmpdir(), n));
const labsBefore = new Set(labDirs());
const swapsBefore = readFileSync('/proc/swaps', 'utf8');

test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** What our demo runs must not leave: their temp dirs, cgroups, mounts, processes (named after the
 *  demo's pid: container ids are demo-NAME-PID-XXXX; other demos may run on the machine meanwhile), swap. */
function demoLeftovers(): string[] {
  const found: string[] = [];
  const ours = (text: string): boolean => demos.pids.some((pid) => text.includes(`-${pid}-`));
  const labs = labDirs().filter((d) => !labsBefore.has(d) && readdirSync(d).some(ours));
  if (labs.length) found.push(`lab dirs: ${labs.join(' ')}`);
  for (const pid of demos.pids) {
    const cg = spawnSync('find', ['/sys/fs/cgroup', '-maxdepth', '4', '-type', 'd', '-name', `demo-*-${pid}-*`], { encoding: 'utf8' }).stdout.trim();
    if (cg) found.push(`cgroups: ${cg.split('\n').join(' ')}`);
  }
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('tsrun-demo-') && (ours(l) || labs.some((d) => l.includes(d))));
  if (mounts.length) found.push(`mounts: ${mounts.length}`);
  const procs = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout.split('\n')
    .filter((l) => demos.pids.some((pid) => l.trim().startsWith(`${pid} `)) || ours(l));
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
    // One kill; on a loaded machine sometimes a second one (the victim's pages not yet uncharged when the
    // allocator faults again): the demo explains it, and the first kill is the one that shows the choice.
    assert.ok(c.oomKills >= 1 && c.oomKills === c.kills.length, `${c.case}: kills counted by the cgroup ${c.oomKills}, logged ${c.kills.length}`);
    assert.is(c.kills[0].pid, c.processes.find((p: { name: string }) => p.name === c.victim).hostPid);
    assert.is(c.eventsOom, c.oomKills, `${c.case}: tsrun events printed one oom event per kill`);
    assert.is(c.processes.find((p: { killed: boolean }) => p.killed).exitStatus, 137);
    assert.ok(c.kernelLog.some((l: string) => /Killed process \d+ \(dd\)/.test(l)), 'the kernel logged the kill');
  }
  assert.is(byCase('default').victim, 'big', 'the biggest process, not the one asking');
  assert.is(byCase('default').containerExitStatus, 137);
  assert.is(byCase('adjusted').victim, 'grow', 'oom_score_adj 500 moved the blame');
  assert.is(byCase('adjusted').containerExitStatus, null, 'the container survived');
  assert.match(svg, /^<svg/);
});

test('demo cpuusage: inside, /proc shows the host; the cgroup counters give the container\'s CPU use', async () => {
  const { json, svg } = await demos.json('cpuusage', { quiet: true });
  const hostCpus = readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d+ /.test(l)).length;
  assert.is(json.hostCpus, hostCpus);
  assert.is(json.inside.nproc, hostCpus, 'nproc inside counts the host CPUs');
  assert.is(json.inside.procStatCpus, hostCpus, '/proc/stat inside lists the host CPUs');
  // USER_HZ is 100: the cpu line of /proc/stat advances about 100 ticks per second per host CPU.
  assert.ok(within(json.inside.ticksPerSecond, 100 * hostCpus, 0.3), `${json.inside.ticksPerSecond} ticks/s`);
  assert.ok(json.inside.topHeader.some((l: string) => /^Load average:/.test(l)), 'top ran inside');
  assert.is(json.limited, true);
  assert.ok(within(json.container.cpus, 0.5, 0.2), `container used ${json.container.cpus} CPU for a limit of 0.5`);
  assert.ok(json.container.systemCpus > 0.02, `system time from the syscall loop: ${json.container.systemCpus}`);
  assert.ok(json.container.userCpus > 0.02, `user time from the busy loop: ${json.container.userCpus}`);
  assert.match(svg, /^<svg/);
});

test('demo loadavg: N busy loops and M tasks in D under a one-CPU limit: load N+M, CPU use 1', async () => {
  const { json, svg } = await demos.json('loadavg', { quiet: true });
  assert.is(json.limitCpus, 1);
  assert.is(json.busyLoops, 4);
  assert.is(json.stuckTasks, 2);
  assert.ok(json.cpu.cpus <= 1.2 && json.cpu.cpus >= 0.6, `CPU use ${json.cpu.cpus} at the limit of 1`);
  assert.ok(json.cpu.throttled > 0, 'throttled');
  assert.ok(json.states.running >= json.busyLoops - 0.5, `runnable ${json.states.running}`);
  assert.ok(json.states.uninterruptible >= json.stuckTasks - 0.2, `in D ${json.states.uninterruptible}`);
  assert.is(json.underOom, true);
  assert.ok(json.loadContribution > 2 * json.cpu.cpus, `load ${json.loadContribution} vs CPU ${json.cpu.cpus}`);
  assert.match(svg, /^<svg/);
});

test('demo pagecache: reading past the limit fills it with cache without an OOM; the working set', async () => {
  const { json, svg } = await demos.json('pagecache', { quiet: true });
  const [anon, read, reread] = json.steps;
  assert.is(json.fileBytes, 2 * json.limit);
  assert.ok(anon.rss >= json.anonymous, 'the anonymous memory is in place');
  assert.ok(read.usage >= 0.85 * json.limit, `usage ${read.usage} near the limit ${json.limit}`);
  assert.ok(read.usage <= json.limit);
  assert.is(read.oomKills, 0, 'no OOM');
  assert.ok(read.hitLimit > 0, 'the limit was hit and reclaim made room');
  assert.ok(read.cache > read.rss, 'most of it is cache');
  assert.ok(read.workingSet < read.usage - json.limit / 4, `working set ${read.workingSet} well below usage ${read.usage}`);
  assert.ok(reread.activeFile - read.activeFile >= json.smallFileBytes / 2, 'a file read twice became active');
  assert.ok(reread.workingSet > read.workingSet);
  assert.is(json.containerSurvived, true);
  assert.match(svg, /^<svg/);
});

test('demo swap without swap: says what it would show and exits 0', async () => {
  if (readFileSync('/proc/swaps', 'utf8').trim().split('\n').length > 1) return; // the host has swap: covered below
  const { json } = await demos.json('swap', { quiet: true });
  assert.is(json.ran, false);
  assert.is(json.reason, 'no swap');
  assert.match(json.explanations.join(' '), /--use-swapfile/);
});

test('demo swap --use-swapfile: swap allowed survives with pages in swap; swappiness 0 and memory+swap = memory are OOM-killed; the swap file is gone', async () => {
  const svgFile = join(dir, 'swap.svg');
  const r = await demos.start(['swap', '--use-swapfile', '--quick', '--json', '--svg', svgFile]).done;
  assert.is(r.exitCode, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.is(json.ran, true);
  const byName = (n: string) => json.cases.find((c: { name: string }) => c.name === n);
  const allowed = byName('swap allowed');
  assert.ok(allowed.survived, 'survived with swap');
  assert.ok(allowed.memory.swap >= 16 * 2 ** 20, `in swap: ${allowed.memory.swap}`);
  assert.ok(allowed.memory.usage <= json.limit);
  assert.is(allowed.memory.oomKills, 0);
  const none = byName('no swap allowed');
  assert.not.ok(none.survived);
  assert.is(none.memory.oomKills, 1);
  if (json.cgroupVersion === 1) {
    const zero = byName('swappiness 0');
    assert.not.ok(zero.survived, 'swappiness 0: no anonymous pages to swap, OOM');
    assert.is(zero.memory.oomKills, 1);
  }
  assert.is(readFileSync('/proc/swaps', 'utf8'), swapsBefore, 'the swap file is off');
  assert.match(readFileSync(svgFile, 'utf8'), /^<svg/);
  const other = await demos.start(['cpu', '--use-swapfile']).done;
  assert.is(other.exitCode, 2);
  assert.match(other.stderr, '--use-swapfile is an option of "tsrun demo swap"');
});

test('demo swap --use-swapfile interrupted with SIGINT: swap off, containers and temp dir gone', async () => {
  const d = demos.start(['swap', '--use-swapfile']);
  const ours = (): boolean => readFileSync('/proc/swaps', 'utf8').includes('/tsrun-demo-');
  assert.ok(await waitFor(ours, 20_000), 'the swap file was enabled');
  process.kill(d.pid, 'SIGINT');
  const r = await d.done;
  assert.is(r.exitCode, 130, r.stderr);
  assert.is(readFileSync('/proc/swaps', 'utf8'), swapsBefore, 'swapoff on SIGINT');
  assert.equal(demoLeftovers(), []);
});

test('demo zombies (chapter 03): zombies under a sleep exhaust pids.max and fork fails; not under tsrun-init', async () => {
  const { json } = await demos.json('zombies', { quiet: true });
  assert.is(json.pidsLimit, true);
  const byInit = (init: boolean) => json.results.find((r: { init: boolean }) => r.init === init);
  const plain = byInit(false).pids;
  const init = byInit(true).pids;
  assert.is(plain.max, json.orphans + 4);
  assert.ok(plain.current >= json.orphans + 2, `zombies count in pids.current: ${plain.current}`);
  assert.ok(plain.forksOk < plain.forkAttempts, `forks under sleep: ${plain.forksOk} of ${plain.forkAttempts}`);
  assert.ok(plain.refused >= 1, 'pids.events max counted the refusal');
  assert.match(plain.forkError, /can't fork: Resource temporarily unavailable/);
  assert.is(init.forksOk, init.forkAttempts, 'every fork worked under tsrun-init');
  assert.is(init.refused, 0);
  assert.ok(init.current < plain.current);
});

test('demo shutdown (chapter 04): the runtime stop path, TERM to PID 1 only, then kill --all KILL', async () => {
  const { json } = await demos.json('shutdown', { quiet: true });
  const engine = json.results.find((r: { mode: string }) => r.mode === 'engine');
  assert.ok(engine, 'the runtime stop path ran');
  assert.is(engine.killAll, true, 'kill --all KILL was needed: main ignores TERM');
  assert.is(engine.exitStatus, 137);
  const proc = (name: string) => engine.processes.find((p: { name: string }) => p.name === name);
  assert.is(proc('main').fate, 'SIGKILL after TERM', 'PID 1 got TERM, then KILL');
  for (const name of ['worker-1', 'worker-2', 'stubborn']) assert.is(proc(name).fate, 'SIGKILL without TERM', `${name}: KILL only`);
  assert.ok(proc('main').secondsAfterTerm >= json.graceSeconds, 'nothing died before the stop timeout');
  for (const mode of ['plain', 'init']) assert.is(json.results.find((r: { mode: string }) => r.mode === mode).killAll, false);
});

/** `tsrun demo NAME --quick --json` in a private mount namespace where cgroup2 is mounted at
 *  /sys/fs/cgroup, so tsrun (and the demo) find cgroup v2 there. unshare -m makes the mounts
 *  private: nothing leaks to the host's mount table. */
function demoOnV2(name: string): Promise<{ exitCode: number; json: Record<string, any>; stderr: string }> {
  const base = join(dir, `v2-${name}`);
  const out = openSync(`${base}.out`, 'w+');
  const err = openSync(`${base}.err`, 'w+');
  const child = spawn('unshare', ['-m', 'sh', '-c', 'mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec "$0" demo "$@"', TSRUN, name, '--quick', '--json'], { stdio: ['ignore', out, err] });
  demos.pids.push(child.pid!); // unshare and sh exec: the demo keeps this pid
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      closeSync(out);
      closeSync(err);
      const stdout = readFileSync(`${base}.out`, 'utf8');
      let json: Record<string, any> = {};
      try {
        json = JSON.parse(stdout);
      } catch {
        // reported by the caller through exitCode and stderr
      }
      resolve({ exitCode: code ?? 128, json, stderr: readFileSync(`${base}.err`, 'utf8') });
    });
  });
}

test('cgroup v2 (private mount namespace): cpuusage measures from cpu.stat; the limit demos say the controller is bound to v1', async () => {
  const controllers = readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').split(/\s+/);
  const usage = await demoOnV2('cpuusage');
  assert.is(usage.exitCode, 0, usage.stderr);
  assert.is(usage.json.cgroupVersion, 2);
  assert.ok(usage.json.container.cpus > 0.05, `measured on v2: ${usage.json.container.cpus} CPU`);
  assert.is(usage.json.inside.procStatCpus, usage.json.hostCpus);
  assert.is(usage.json.limited, controllers.includes('cpu'));
  for (const [name, controller] of [['cpu', 'cpu'], ['loadavg', 'cpu'], ['oom', 'memory'], ['pagecache', 'memory'], ['swap', 'memory']] as const) {
    const r = await demoOnV2(name);
    assert.is(r.exitCode, 0, `${name}: ${r.stderr}`);
    assert.is(r.json.cgroupVersion, 2, name);
    if (controllers.includes(controller)) {
      assert.is.not(r.json.available, false, `${name} runs where v2 has ${controller}`);
    } else {
      // This hybrid host binds cpu and memory to v1 hierarchies: the demo explains, runs nothing, exits 0.
      assert.is(r.json.available, false, name);
      const missing = r.json.missing.find((m: { controller: string }) => m.controller === controller);
      assert.ok(missing, `${name}: ${controller} reported missing`);
      assert.match(missing.reason, /bound to cgroup v1 hierarchy \d+/);
    }
  }
  const zombies = await demoOnV2('zombies');
  assert.is(zombies.exitCode, 0, zombies.stderr);
  assert.is(zombies.json.pidsLimit, controllers.includes('pids'));
  assert.is(zombies.json.results.find((r: { init: boolean }) => !r.init).zombies, zombies.json.orphans, 'zombies pile up on v2 too');
});

test('nothing is left behind', () => {
  assert.equal(demoLeftovers(), []);
});

test.run();
