// demo loadavg: the load average under a CPU limit. One container with a CFS
// quota of one CPU runs N busy loops, and M processes stuck in
// uninterruptible sleep: they allocate past a 16 MiB memory limit whose OOM
// killer is disabled (linux.resources.memory.disableOOMKiller, v1
// memory.oom_control), so each waits in mem_cgroup_oom_synchronize() in
// TASK_KILLABLE (state D) for memory that never comes.
//
// The demo samples the state of every thread of the container (R, D...) over
// a window, reads the cgroup's CPU time and throttling, and the host's
// /proc/loadavg before and after. The load average counts tasks, not CPU:
// N+M here, for a container that uses one CPU.
import { readFileSync } from 'node:fs';
import { RuntimeError } from '../runtime/errors.ts';
import { checkControllers, ContainerCgroup, cpuBetween, DemoParent, MiB, round, unavailableReport } from './cgroup-lab.ts';
import { hostCpuCount, loadavg } from './host-lab.ts';
import { spinners, startContainer } from './cpu.ts';
import { sleep, waitUntil, type Demo, type Lab } from './lab.ts';
import { formatNumber, type DemoReport } from './report.ts';

/** The kernel's 1-minute decay per 5 s sample: EXP_1 / FIXED_1 = 1884 / 2048 (include/linux/sched/loadavg.h). */
const EXP_1 = 1884 / 2048;

export interface StateCounts {
  samples: number;
  /** Mean number of the container's threads in each state. */
  running: number;
  uninterruptible: number;
  sleeping: number;
}

const signed = (n: number): string => (n >= 0 ? `+${formatNumber(n)}` : `−${formatNumber(-n)}`);

async function run(lab: Lab): Promise<DemoReport> {
  const check = checkControllers(['cpu', 'cpuacct', 'memory']);
  const cpuMissing = check.missing.filter((m) => m.controller === 'cpu' || (check.version === 1 && m.controller === 'cpuacct'));
  if (cpuMissing.length) return unavailableReport('loadavg', 'The load average under a CPU limit', check.version, cpuMissing);
  // Stuck allocators need memory.oom_control's oom_kill_disable, which only cgroup v1 has.
  const stuck = check.version === 1 && !check.missing.some((m) => m.controller === 'memory') ? 2 : 0;
  const busy = lab.quick ? 4 : 6;
  const limitCpus = 1;
  const windowMs = lab.ms(20_000, 4000);
  const hostCpus = hostCpuCount();
  const parent = new DemoParent(lab);
  lab.step(`starting a container limited to ${limitCpus} CPU with ${busy} busy loops${stuck ? ` and ${stuck} stuck allocators` : ''}`);
  // awk doubling a string: malloc'd memory written from user space, so the memcg OOM wait happens at the page fault.
  const allocators = Array.from({ length: stuck }, () => `(awk 'BEGIN { s = "x"; while (1) s = s s }') &`).join(' ');
  const { run: c, cg } = await startContainer(lab, 'loadavg', (cfg) => {
    cfg.process!.args = ['sh', '-c', `${allocators} ${spinners(busy)}`];
    cfg.linux!.resources = {
      ...cfg.linux!.resources,
      cpu: { quota: limitCpus * 100_000, period: 100_000 },
      ...(stuck ? { memory: { limit: 16 * MiB, disableOOMKiller: true } } : {}),
    };
  }, 1 + stuck + busy, parent);
  const stuckNow = (): number => [...cg.threadStates().values()].filter((s) => s === 'D').length;
  if (stuck && !(await waitUntil(() => stuckNow() >= stuck, 10_000, 20))) {
    throw new RuntimeError('ERR_DEMO', `the allocators did not get stuck at the memory limit: ${c.output().trim()}`);
  }
  await sleep(300);
  lab.step(`sampling the container's threads for ${windowMs / 1000} s`);
  const hostBefore = loadavg();
  const a = cg.cpu();
  const counts = { samples: 0, R: 0, D: 0, S: 0 };
  const hostRunnable: number[] = [];
  const end = Date.now() + windowMs;
  while (Date.now() < end) {
    const states = [...cg.threadStates().values()];
    counts.samples++;
    counts.R += states.filter((s) => s === 'R').length;
    counts.D += states.filter((s) => s === 'D').length;
    counts.S += states.filter((s) => s === 'S').length;
    hostRunnable.push(loadavg().runnable);
    await sleep(50);
  }
  const b = cg.cpu();
  const hostAfter = loadavg();
  const mem = stuck ? cg.memory() : undefined;
  const underOom = stuck ? /under_oom (\d)/.exec(readFileSync(cg.file('memory', 'memory.oom_control'), 'utf8'))?.[1] === '1' : false;
  await lab.tsrun(['kill', c.id, 'KILL']);
  await c.status;

  const use = cpuBetween(a, b);
  const states: StateCounts = {
    samples: counts.samples,
    running: round(counts.R / counts.samples, 2),
    uninterruptible: round(counts.D / counts.samples, 2),
    sleeping: round(counts.S / counts.samples, 2),
  };
  // While a CPU's part of the group is throttled its tasks are off that run queue and not counted;
  // throttled_time sums those spans over the CPUs.
  const throttledShare = Math.min(1, use.throttledSeconds / (hostCpus * use.seconds));
  const contribution = round(states.running * (1 - throttledShare) + states.uninterruptible, 2);
  const samples5s = Math.floor(use.seconds / 5);
  const expectedRise = round(contribution * (1 - EXP_1 ** samples5s), 2);
  const files = cg.cpuFiles();
  return {
    demo: 'loadavg',
    title: `Load average under a CPU limit: ${busy} busy loops${stuck ? ` + ${stuck} tasks in D` : ''} in a container limited to ${limitCpus} CPU, sampled for ${formatNumber(use.seconds)} s (cgroup v${check.version})`,
    tables: [
      {
        headers: ['measure', 'value'],
        rows: [
          ['CPU used (cgroup)', `${formatNumber(use.cpus)} CPU (limit ${limitCpus})`],
          ['threads runnable (R), mean', String(states.running)],
          ['threads in uninterruptible sleep (D), mean', String(states.uninterruptible)],
          ['periods throttled', `${use.throttled} of ${use.periods} (${formatNumber(use.throttledSeconds)} s throttled, summed over CPUs)`],
          ['estimated load the container adds', `${contribution} = ${states.running} R × (1 − ${formatNumber(round(throttledShare, 2))} throttled) + ${states.uninterruptible} D`],
          ['load per CPU of its limit', String(round(contribution / limitCpus, 2))],
          ['host /proc/loadavg before', `${hostBefore.load1} ${hostBefore.load5} ${hostBefore.load15}`],
          ['host /proc/loadavg after', `${hostAfter.load1} ${hostAfter.load5} ${hostAfter.load15} (${signed(round(hostAfter.load1 - hostBefore.load1, 2))} in the 1-minute average; this container alone: about +${expectedRise})`],
        ],
      },
    ],
    explanations: [
      `The load average counts tasks, not CPU time: every 5 s (LOAD_FREQ) calc_global_load() folds each CPU's nr_running + nr_uninterruptible into avenrun. The container's ${busy} loops are runnable all the time, yet its CPU use stays at ${formatNumber(use.cpus)}: the quota (${files.quota}) decides how much they run, not how many are waiting.`,
      `While its quota is spent, throttle_cfs_rq() takes the group's tasks off the run queue, and for that time they do not count: ${use.throttled} of ${use.periods} periods were throttled (${files.throttling}). Their state in /proc stays R, which is why the estimate scales the R count by the throttled share.`,
      stuck
        ? `The ${stuck} allocators are in D (TASK_KILLABLE in mem_cgroup_oom_synchronize(), memory.oom_control under_oom ${underOom ? 1 : 0}, usage ${formatNumber(round((mem?.usage ?? 0) / MiB, 1))} MiB of 16): uninterruptible sleep counts in nr_uninterruptible, so they add to the load while using no CPU at all, like tasks waiting for a disk or an NFS server.`
        : 'cgroup v2 has no oom_kill_disable, so this run has no stuck allocators; tasks in D (waiting for a disk, for memory.high throttling) would add to the load the same way.',
      `So a container limited to ${limitCpus} CPU can show a load of ${contribution}: ${formatNumber(round(contribution / limitCpus, 1))} per CPU it may use. Judged by load per CPU it looks overloaded; its own CPU use says it is simply at its limit, and the throttling counters say its tasks wait for quota, not for CPUs.`,
      `The load average is the host's: one number for all containers (inside, /proc/loadavg is the host's file). The 1-minute average moves by (1 − ${formatNumber(round(EXP_1, 3))}) of the difference per 5 s sample, so ${samples5s} sample${samples5s === 1 ? '' : 's'} in ${formatNumber(use.seconds)} s move it about +${expectedRise} for this container; the host's other work moves it too (its runnable count averaged ${formatNumber(round(hostRunnable.reduce((x, y) => x + y, 0) / Math.max(1, hostRunnable.length), 1))}).`,
    ],
    chart: {
      title: `${busy} busy loops${stuck ? ` + ${stuck} in D` : ''} limited to ${limitCpus} CPU`,
      yLabel: 'CPUs / tasks',
      bars: [
        { label: 'CPU used', value: use.cpus, note: `limit ${limitCpus}` },
        { label: 'runnable (R)', value: states.running },
        { label: 'uninterruptible (D)', value: states.uninterruptible },
        { label: 'load it adds (estimate)', value: contribution },
      ],
    },
    data: {
      cgroupVersion: check.version,
      hostCpus,
      limitCpus,
      busyLoops: busy,
      stuckTasks: stuck,
      seconds: use.seconds,
      cpu: use,
      states,
      throttledShare: round(throttledShare, 3),
      loadContribution: contribution,
      loadPerLimitCpu: round(contribution / limitCpus, 2),
      host: { before: hostBefore, after: hostAfter, expectedRiseLoad1: expectedRise },
      underOom,
      files,
    },
  };
}

const demo: Demo = {
  name: 'loadavg',
  summary: 'N busy threads and tasks in D under a one-CPU limit: load N+M, CPU use 1',
  takes: 'about 22 s (6 s with --quick)',
  run,
};
export default demo;
