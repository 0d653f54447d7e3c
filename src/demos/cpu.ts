// demo cpu: CPU limits. Three containers run one busy loop per host CPU:
// "quota" with a CFS quota of half a CPU (linux.resources.cpu quota 50000 µs
// per 100000 µs period), "low" with 256 shares and "high" with 1024 shares
// (no quota). First quota and low run while high waits for a trigger file;
// then high spins too. The demo reads each cgroup's counters before and after
// each phase: CPU time (cpuacct.usage / cpu.stat usage_usec) and throttling
// (cpu.stat nr_periods, nr_throttled, throttled_time).
//
// What it shows: the quota caps the container at quota/period whatever else
// runs, and the kernel counts every period in which it ran out; shares only
// divide the CPU between groups that all want it, so "low" takes what is
// free while it is alone and about a quarter of "high"'s share once both spin.
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../runtime/errors.ts';
import type { Config } from '../runtime/oci-types.ts';
import { checkControllers, ContainerCgroup, DemoParent, cpuBetween, round, unavailableReport, type CpuUse } from './cgroup-lab.ts';
import { hostCpuCount } from './host-lab.ts';
import { sleep, waitUntil, type Demo, type Foreground, type Lab, type LabBundle } from './lab.ts';
import { formatNumber, type DemoReport } from './report.ts';

/** One busy shell loop per CPU, started when /tmp/go exists. */
export function spinners(n: number, waitForTrigger = false): string {
  const wait = waitForTrigger ? 'while [ ! -e /tmp/go ]; do sleep 0.05; done; ' : '';
  return `${wait}i=0; while [ $i -lt ${n} ]; do (while :; do :; done) & i=$((i+1)); done; wait`;
}

export interface CpuContainer {
  name: 'quota' | 'low' | 'high';
  quotaUs: number | null;
  periodUs: number;
  shares: number | null;
  /** cgroup v2 cpu.weight (converted from shares by tsrun). */
  weight: number | null;
  /** The limit in CPUs (quota/period), null without a quota. */
  limitCpus: number | null;
}

export interface CpuPhase {
  phase: 'alone' | 'contention';
  seconds: number;
  /** CPU use of each container over the phase, by name. */
  use: Record<string, CpuUse>;
}

interface Started { spec: CpuContainer; run: Foreground; bundle: LabBundle; cg: ContainerCgroup }

/** Starts a container (below `parent` when given) and waits until its cgroup holds `minPids` processes. */
export async function startContainer(lab: Lab, name: string, edit: (c: Config) => void, minPids: number, parent?: DemoParent): Promise<{ run: Foreground; bundle: LabBundle; cg: ContainerCgroup }> {
  const cgroupsPath = parent?.path(name);
  const bundle = lab.bundle(name, (c) => {
    if (cgroupsPath) c.linux!.cgroupsPath = cgroupsPath;
    edit(c);
  });
  const run = lab.runForeground(name, bundle);
  await run.pid;
  const cg = ContainerCgroup.of(run.id, cgroupsPath);
  parent?.settle();
  if (!(await waitUntil(() => cg.pids().length >= minPids, 10_000, 20))) {
    throw new RuntimeError('ERR_DEMO', `container ${name} did not start its processes: ${run.output().trim()}`);
  }
  return { run, bundle, cg };
}

async function run(lab: Lab): Promise<DemoReport> {
  const check = checkControllers(['cpu', 'cpuacct']);
  const needed = check.version === 2 ? check.missing.filter((m) => m.controller === 'cpu') : check.missing;
  if (needed.length) return unavailableReport('cpu', 'CPU limits', check.version, needed);
  const cpus = hostCpuCount();
  const periodUs = 100_000;
  const quotaUs = periodUs / 2;
  const windowMs = lab.ms(5000, 2500);
  const specs: Array<{ name: CpuContainer['name']; cpu: NonNullable<NonNullable<Config['linux']>['resources']>['cpu']; trigger: boolean }> = [
    { name: 'quota', cpu: { quota: quotaUs, period: periodUs }, trigger: false },
    { name: 'low', cpu: { shares: 256 }, trigger: false },
    { name: 'high', cpu: { shares: 1024 }, trigger: true },
  ];
  const parent = new DemoParent(lab);
  lab.step(`starting 3 containers with ${cpus} busy loops each`);
  const started: Started[] = await Promise.all(specs.map(async (s) => {
    const c = await startContainer(lab, `cpu-${s.name}`, (cfg) => {
      cfg.process!.args = ['sh', '-c', spinners(cpus, s.trigger)];
      cfg.linux!.resources = { ...cfg.linux!.resources, cpu: s.cpu };
    }, s.trigger ? 1 : cpus + 1, parent);
    const limit = c.cg.cpuLimit();
    const spec: CpuContainer = {
      name: s.name,
      quotaUs: limit.quotaUs,
      periodUs: limit.periodUs,
      shares: limit.shares,
      weight: limit.weight,
      limitCpus: limit.quotaUs === null ? null : round(limit.quotaUs / limit.periodUs, 3),
    };
    return { spec, ...c };
  }));
  const byName = (n: string): Started => started.find((s) => s.spec.name === n)!;
  await sleep(300); // let the loops settle on the CPUs

  const measure = async (phase: CpuPhase['phase'], names: string[]): Promise<CpuPhase> => {
    lab.step(`${phase}: measuring ${names.join(', ')} for ${windowMs / 1000} s`);
    const before = new Map(names.map((n) => [n, byName(n).cg.cpu()]));
    await sleep(windowMs);
    const use: Record<string, CpuUse> = {};
    for (const n of names) use[n] = cpuBetween(before.get(n)!, byName(n).cg.cpu());
    return { phase, seconds: round(windowMs / 1000, 3), use };
  };
  const alone = await measure('alone', ['quota', 'low']);
  const high = byName('high');
  writeFileSync(join(high.bundle.exchange, 'go.tmp'), '');
  renameSync(join(high.bundle.exchange, 'go.tmp'), join(high.bundle.exchange, 'go'));
  if (!(await waitUntil(() => high.cg.pids().length >= cpus + 1, 10_000, 20))) {
    throw new RuntimeError('ERR_DEMO', 'container high did not start spinning');
  }
  await sleep(300);
  const contention = await measure('contention', ['quota', 'low', 'high']);

  lab.step('tsrun events --stats for the quota container');
  const ev = await lab.tsrun(['events', '--stats', byName('quota').run.id]);
  if (ev.exitCode !== 0) throw new RuntimeError('ERR_DEMO', `tsrun events --stats: ${ev.stderr}`);
  const throttling = (JSON.parse(ev.stdout) as { data: { cpu: { throttling: Record<string, number> } } }).data.cpu.throttling;

  for (const s of started) await lab.tsrun(['kill', s.run.id, 'KILL']);
  await Promise.all(started.map((s) => s.run.status));

  const files = byName('quota').cg.cpuFiles();
  const q = contention.use.quota!;
  const quotaCpus = quotaUs / periodUs;
  const ratio = contention.use.low!.cpus > 0 ? round(contention.use.high!.cpus / contention.use.low!.cpus, 2) : null;
  const limitText = (c: CpuContainer): string => c.limitCpus !== null
    ? `quota ${c.quotaUs} µs / ${c.periodUs} µs = ${formatNumber(c.limitCpus)} CPU`
    : c.weight !== null ? `weight ${c.weight} (shares ${c.name === 'low' ? 256 : 1024})` : `shares ${c.shares}`;
  const rows = [alone, contention].flatMap((p) => started.filter((s) => p.use[s.spec.name]).map((s) => {
    const u = p.use[s.spec.name]!;
    return [p.phase === 'alone' ? 'quota + low' : 'all three', s.spec.name, limitText(s.spec), u.cpus, u.userCpus, u.systemCpus, `${u.throttled} of ${u.periods}`, u.throttledSeconds];
  }));
  const perThrottle = q.throttled > 0 ? q.throttledSeconds / q.throttled : 0;
  return {
    demo: 'cpu',
    title: `CPU limits: 3 containers with ${cpus} busy loops each on ${cpus} CPUs, measured ${formatNumber(windowMs / 1000)} s per phase (cgroup v${check.version})`,
    tables: [{
      headers: ['running', 'container', 'limit', 'CPUs used', 'user', 'system', 'throttled periods', 'throttled (s)'],
      rows,
    }],
    explanations: [
      `The quota container used ${formatNumber(q.cpus)} CPU for a quota of ${formatNumber(quotaCpus)}: CFS bandwidth control gives its group ${quotaUs} µs of CPU time per ${periodUs} µs period, shared by all its threads on all CPUs (${files.quota}).`,
      `Its ${cpus} loops spend the ${quotaUs / 1000} ms in about ${formatNumber(quotaUs / 1000 / cpus)} ms of wall time; then throttle_cfs_rq() takes its run queues off the CPUs until the period timer (sched_cfs_period_timer) refills the quota: ${q.throttled} of ${q.periods} periods ran out, ${formatNumber(perThrottle * 1000)} ms throttled each on average (${files.throttling}).`,
      'A quota is a ceiling, not a reservation: the container is throttled even when CPUs are idle, and a short period with many threads gives bursts then stalls (latency), which is what nr_throttled shows.',
      `Shares (cgroup v2: cpu.weight) only set the weight of the group's scheduling entity: alone with the quota container, "low" (256 shares) used ${formatNumber(alone.use.low!.cpus)} CPU; once "high" (1024 shares) spun too, low got ${formatNumber(contention.use.low!.cpus)} and high ${formatNumber(contention.use.high!.cpus)}${ratio !== null ? `, a ratio of ${formatNumber(ratio)} for 1024:256 = 4` : ''} (${files.shares}).`,
      `Shares never cap anything: an idle CPU goes to whoever is runnable. The three containers sit below a parent cgroup of the demo with ${parent.shares} ${check.version === 2 ? 'cpu.weight' : 'cpu.shares'} (16 times a plain process), the same mechanism one level up: it keeps the host's other work from starving them, so the quota is what limits the quota container.`,
      `CPU time comes from ${files.usage} (split into ${files.user} and ${files.system}), read before and after each phase (the user/system split is sampled at timer ticks, so it need not add up to the exact total); tsrun events --stats reported throttling ${JSON.stringify(throttling)} for the quota container.`,
    ],
    chart: {
      title: 'CPUs used per container',
      yLabel: 'CPUs (CPU seconds per second)',
      bars: [alone, contention].flatMap((p) => Object.entries(p.use).map(([n, u]) => ({
        label: `${n} (${p.phase === 'alone' ? 'quota + low' : 'all three'})`,
        value: u.cpus,
        note: n === 'quota' ? `quota ${formatNumber(quotaCpus)}` : n === 'low' ? '256 shares' : '1024 shares',
      }))),
    },
    data: {
      cgroupVersion: check.version,
      hostCpus: cpus,
      quotaCpus,
      containers: started.map((s) => s.spec),
      phases: [alone, contention],
      sharesRatio: { configured: 4, measured: ratio },
      eventsStats: { throttling },
      files,
    },
  };
}

const demo: Demo = {
  name: 'cpu',
  summary: 'CPU quota vs shares: a half-CPU quota is throttled every period, shares only matter under contention',
  takes: 'about 12 s (7 s with --quick)',
  run,
};
export default demo;
