// demo cpuusage: measuring a container's CPU use. A container limited to half
// a CPU runs a user-space loop and a syscall loop (dd with 1-byte blocks:
// mostly system time). An agent inside takes what the container's own tools
// see, /proc/stat, /proc/loadavg, nproc and busybox top, at the start and the
// end of a window; the demo reads the cgroup's CPU counters at the same
// moments from the host.
//
// What it shows: /proc inside a container is the host's (/proc/stat and
// /proc/loadavg are not namespaced, and nproc counts the CPUs the task may
// run on, not its quota), so top inside reports the host's CPUs and load.
// The container's own CPU use is in its cgroup: CPU time used over wall time.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../runtime/errors.ts';
import { checkControllers, ContainerCgroup, cpuBetween, DemoParent, round, unavailableReport, type CpuSample } from './cgroup-lab.ts';
import { hostCpuCount, loadavg } from './host-lab.ts';
import { startContainer } from './cpu.ts';
import { waitUntil, type Demo, type Lab } from './lab.ts';
import { formatNumber, type DemoReport } from './report.ts';

/** The agent: on /tmp/snap-N, copies what a tool inside would read, then writes /tmp/done-N. */
const AGENT = [
  'n=1',
  'while [ $n -le 2 ]; do',
  '  while [ ! -e /tmp/snap-$n ]; do sleep 0.01; done',
  '  cat /proc/stat > /tmp/stat-$n; cat /proc/loadavg > /tmp/loadavg-$n; nproc > /tmp/nproc-$n',
  '  top -b -n 1 | head -n 3 > /tmp/top-$n',
  '  echo > /tmp/done-$n; n=$((n+1))',
  'done',
  'sleep 1000',
].join('\n');

export interface ProcStatTotals {
  /** USER_HZ ticks summed over all CPUs (the "cpu" line). */
  total: number;
  idle: number;
  user: number;
  system: number;
  cpus: number;
}

/** The aggregate "cpu" line of /proc/stat: user nice system idle iowait irq softirq steal (guest is inside user). */
export function parseProcStat(text: string): ProcStatTotals {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  const f = (line ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  return {
    total: user + nice + system + idle + iowait + irq + softirq + steal,
    idle: idle + iowait,
    user: user + nice,
    system: system + irq + softirq,
    cpus: text.split('\n').filter((l) => /^cpu\d+ /.test(l)).length,
  };
}

async function run(lab: Lab): Promise<DemoReport> {
  const check = checkControllers(['cpu', 'cpuacct']);
  // On v2, cpu.stat's usage counters exist without the cpu controller; only the quota needs it.
  const usageMissing = check.version === 1 ? check.missing.filter((m) => m.controller === 'cpuacct') : [];
  if (usageMissing.length) return unavailableReport('cpuusage', 'Container CPU usage', check.version, usageMissing);
  const limited = !check.missing.some((m) => m.controller === 'cpu');
  const quotaCpus = 0.5;
  const windowMs = lab.ms(4000, 2000);
  const hostCpus = hostCpuCount();
  const parent = new DemoParent(lab);
  lab.step(`starting a container${limited ? ` limited to ${quotaCpus} CPU` : ''} with a user loop and a syscall loop`);
  const { run: c, bundle, cg } = await startContainer(lab, 'cpuusage', (cfg) => {
    cfg.process!.args = ['sh', '-c', `(while :; do :; done) & (dd if=/dev/zero of=/dev/null bs=1) & ${AGENT}`];
    if (limited) cfg.linux!.resources = { ...cfg.linux!.resources, cpu: { quota: quotaCpus * 100_000, period: 100_000 } };
  }, 4, parent);
  const snap = async (n: number): Promise<CpuSample> => {
    writeFileSync(join(bundle.exchange, 'snap.tmp'), '');
    renameSync(join(bundle.exchange, 'snap.tmp'), join(bundle.exchange, `snap-${n}`));
    if (!(await waitUntil(() => existsSync(join(bundle.exchange, `done-${n}`)), 10_000, 5))) {
      throw new RuntimeError('ERR_DEMO', `the agent inside did not answer: ${c.output().trim()}`);
    }
    return cg.cpu();
  };
  await new Promise((r) => setTimeout(r, 300));
  lab.step(`measuring for ${windowMs / 1000} s, inside and from the host`);
  const a = await snap(1);
  await new Promise((r) => setTimeout(r, windowMs));
  const b = await snap(2);
  await lab.tsrun(['kill', c.id, 'KILL']);
  await c.status;

  const read = (name: string): string => readFileSync(join(bundle.exchange, name), 'utf8');
  const use = cpuBetween(a, b);
  const s1 = parseProcStat(read('stat-1'));
  const s2 = parseProcStat(read('stat-2'));
  const ticks = s2.total - s1.total;
  const insideBusy = ticks > 0 ? round((ticks - (s2.idle - s1.idle)) / ticks, 3) : 0;
  const insideTicksPerSecond = round(ticks / use.seconds, 1);
  const top = read('top-2').split('\n').filter(Boolean);
  const load = loadavg(read('loadavg-2'));
  const nprocInside = Number(read('nproc-2').trim());
  const files = cg.cpuFiles();
  const pct = (n: number): number => round(n * 100, 1);
  const inside = {
    nproc: nprocInside,
    procStatCpus: s2.cpus,
    /** USER_HZ ticks the "cpu" line advanced per second: all host CPUs × 100. */
    ticksPerSecond: insideTicksPerSecond,
    busyPercentOfHost: pct(insideBusy),
    busyCpus: round(insideBusy * s2.cpus, 2),
    load1: load.load1,
    topHeader: top,
  };
  const container = {
    cpus: use.cpus,
    userCpus: use.userCpus,
    systemCpus: use.systemCpus,
    /** top's convention: 100 % = one CPU busy. */
    percentOfOneCpu: pct(use.cpus),
    percentOfHost: pct(use.cpus / hostCpus),
    percentOfLimit: limited ? pct(use.cpus / quotaCpus) : null,
    throttled: use.throttled,
    periods: use.periods,
  };
  return {
    demo: 'cpuusage',
    title: `Container CPU usage: inside view vs cgroup counters over ${formatNumber(use.seconds)} s${limited ? `, limit ${quotaCpus} CPU` : ''} (cgroup v${check.version})`,
    tables: [
      {
        title: 'What the container sees inside (the host):',
        headers: ['source', 'says'],
        rows: [
          ['nproc', `${nprocInside} CPUs (the host has ${hostCpus})`],
          ['/proc/stat', `${s2.cpus} cpuN lines; the cpu line advanced ${insideTicksPerSecond} ticks/s (${hostCpus} CPUs × USER_HZ 100)`],
          ['/proc/stat busy', `${pct(insideBusy)} % of the host = ${round(insideBusy * s2.cpus, 2)} CPUs busy`],
          ['/proc/loadavg', `${load.load1} ${load.load5} ${load.load15} (the host's)`],
          ...top.map((l, i) => [i === 0 ? 'top -b -n 1' : '', l]),
        ],
      },
      {
        title: 'What the container used (its cgroup):',
        headers: ['measure', 'CPUs', '% of one CPU', '% of the host', ...(limited ? ['% of the limit'] : [])],
        rows: [
          ['user + system', use.cpus, pct(use.cpus), pct(use.cpus / hostCpus), ...(limited ? [pct(use.cpus / quotaCpus)] : [])],
          ['user', use.userCpus, pct(use.userCpus), pct(use.userCpus / hostCpus), ...(limited ? [pct(use.userCpus / quotaCpus)] : [])],
          ['system', use.systemCpus, pct(use.systemCpus), pct(use.systemCpus / hostCpus), ...(limited ? [pct(use.systemCpus / quotaCpus)] : [])],
        ],
      },
    ],
    explanations: [
      `/proc/stat and /proc/loadavg are not namespaced: inside the container they are the host's (${s2.cpus} CPUs, ${insideTicksPerSecond} ticks per second, load ${load.load1}), so top inside shows the whole machine: ${pct(insideBusy)} % busy, while this container${limited ? `, limited to ${quotaCpus} CPU,` : ''} used ${formatNumber(use.cpus)} CPU.`,
      `nproc inside said ${nprocInside}: it counts the CPUs in the task's affinity mask (sched_getaffinity, i.e. cpuset.cpus), and a CFS quota does not change that mask, so runtimes like the JVM or Go size their thread pools for ${nprocInside} CPUs.`,
      `The container's CPU use is its cgroup's CPU time over wall time: ${files.usage} advanced ${formatNumber(use.cpus * use.seconds)} s in ${formatNumber(use.seconds)} s = ${formatNumber(use.cpus)} CPU = ${pct(use.cpus)} % in top's convention (100 % = one CPU), ${pct(use.cpus / hostCpus)} % of the host${limited ? `, ${pct(use.cpus / quotaCpus)} % of its limit` : ''}.`,
      check.version === 1
        ? `The kernel adds the exact run time of each task (sum_exec_runtime, via cpuacct_charge()) to the total; the user/system split (${files.user}, ${files.system}) comes from tick sampling (cpuacct_account_field() at each timer tick), so user + system is only about the total over short windows. The syscall loop (dd bs=1) is what shows up as system time.`
        : `On cgroup v2 these counters belong to the cgroup core, not to the cpu controller (the rstat base stats, cgroup_base_stat_cputime_show()), so they exist even where the cpu controller is not enabled: usage_usec is the exact run time, and the user/system split follows the tasks' tick-sampled utime/stime, so it only adds up to the total over longer windows. The syscall loop (dd bs=1) is what shows up as system time.`,
      'This is how docker stats computes CPU %: the container\'s usage delta over the host\'s /proc/stat delta, times the number of CPUs; lxcfs exists to make /proc/stat, /proc/loadavg and nproc inside a container tell the container\'s numbers instead.',
    ],
    chart: {
      title: 'CPUs: what /proc/stat inside says is busy vs what the container used',
      yLabel: 'CPUs',
      bars: [
        { label: '/proc/stat inside (host busy)', value: round(insideBusy * s2.cpus, 2), note: `${s2.cpus} CPUs` },
        { label: 'container (cgroup)', value: use.cpus, note: limited ? `limit ${quotaCpus}` : 'no limit' },
        { label: 'container user', value: use.userCpus },
        { label: 'container system', value: use.systemCpus },
      ],
    },
    data: { cgroupVersion: check.version, hostCpus, limited, quotaCpus: limited ? quotaCpus : null, seconds: use.seconds, inside, container, files },
  };
}

const demo: Demo = {
  name: 'cpuusage',
  summary: 'top inside a container shows the host; the container\'s CPU % from its cgroup counters',
  takes: 'about 6 s (4 s with --quick)',
  run,
};
export default demo;
