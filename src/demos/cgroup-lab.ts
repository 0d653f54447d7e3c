// What the resource demos (cpu, cpuusage, loadavg, oom, pagecache, swap)
// share: where a demo container's cgroup is, and its counters read straight
// from the kernel's files, under the same names on cgroup v1 and v2. Every
// reader also says which file each number came from, so that a demo can name
// it in its explanations.
//
//   const cg = ContainerCgroup.of(id);           // after `tsrun run` created it
//   const a = cg.cpu(); await sleep(2000); const b = cg.cpu();
//   cpuBetween(a, b).cpus                         // CPUs used over the interval
//
// tsrun places a container without cgroupsPath at /tsrun/ID in every
// hierarchy; openCgroup() (the runtime's own code) finds the directories, so
// the demo looks exactly where tsrun wrote the limits.
import { mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCgroup } from '../runtime/cgroups/index.ts';
import { cgroupMounts, detectCgroupVersion, DEFAULT_CGROUP_ROOT } from '../runtime/cgroups/detect.ts';
import { readKeyed, readNumber, readOptional } from '../runtime/cgroups/fsio.ts';
import type { DemoReport } from './report.ts';
import type { Lab } from './lab.ts';

export type CgroupVersion = 1 | 2;

/** Whether the controllers a demo needs can be used by tsrun on this host, and if not, why. */
export interface ControllerCheck {
  version: CgroupVersion;
  available: string[];
  missing: Array<{ controller: string; reason: string }>;
}

/**
 * Checks the controllers a demo needs the way tsrun will find them: on v1,
 * a mounted hierarchy per controller; on v2, the controller listed in the
 * root's cgroup.controllers. A v2 controller can be missing because it is
 * bound to a v1 hierarchy: the kernel attaches each controller to exactly
 * one hierarchy (system-wide, not per mount namespace), and it can join the
 * unified hierarchy only once its v1 hierarchy is unmounted everywhere and
 * has no child cgroups left.
 */
export function checkControllers(needed: string[]): ControllerCheck {
  const version = detectCgroupVersion();
  const available: string[] = [];
  const missing: ControllerCheck['missing'] = [];
  if (version === 1) {
    const mounted = new Map<string, string>();
    for (const m of cgroupMounts()) for (const c of m.controllers) mounted.set(c, m.mountPoint);
    for (const c of needed) {
      if (mounted.has(c)) available.push(c);
      else missing.push({ controller: c, reason: `no cgroup v1 hierarchy with the ${c} controller is mounted` });
    }
    return { version, available, missing };
  }
  const list = (readOptional(join(DEFAULT_CGROUP_ROOT, 'cgroup.controllers')) ?? '').split(/\s+/);
  const hierarchies = v1Hierarchies();
  for (const c of needed) {
    if (list.includes(c)) {
      available.push(c);
      continue;
    }
    const h = hierarchies.get(c);
    missing.push({
      controller: c,
      reason: h
        ? `${c} is bound to cgroup v1 hierarchy ${h} (/proc/cgroups), so ${DEFAULT_CGROUP_ROOT}/cgroup.controllers does not list it: ` +
          'a controller belongs to one hierarchy kernel-wide, and moves to cgroup v2 only once its v1 hierarchy is unmounted in every mount namespace and has no child cgroups'
        : `${c} is not in ${DEFAULT_CGROUP_ROOT}/cgroup.controllers (not built into this kernel, or disabled with cgroup_disable=)`,
    });
  }
  return { version, available, missing };
}

/** controller → v1 hierarchy id, for controllers bound to a v1 hierarchy (/proc/cgroups column 2 is 0 for v2). */
function v1Hierarchies(): Map<string, number> {
  const out = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync('/proc/cgroups', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const [name, hierarchy] = line.split(/\s+/);
    if (name && !name.startsWith('#') && Number(hierarchy) > 0) out.set(name, Number(hierarchy));
  }
  return out;
}

export interface CpuSample {
  /** When it was read (ms, monotonic). */
  at: number;
  usageUs: number;
  userUs: number;
  systemUs: number;
  /** Enforcement periods that had runnable tasks, of which the quota ran out in nr_throttled. */
  periods: number;
  throttled: number;
  throttledUs: number;
}

export interface CpuUse {
  seconds: number;
  /** CPU seconds per wall second: 0.5 = half a CPU. */
  cpus: number;
  userCpus: number;
  systemCpus: number;
  periods: number;
  throttled: number;
  throttledSeconds: number;
}

export interface MemorySample {
  usage: number;
  /** Bytes; null = no limit. */
  limit: number | null;
  /** Page cache (v1 total_cache, v2 file). */
  cache: number;
  /** Anonymous memory (v1 total_rss, v2 anon). */
  rss: number;
  activeFile: number;
  inactiveFile: number;
  /** usage - inactive file: what the kubelet calls the working set. */
  workingSet: number;
  /** Times usage hit the limit (v1 memory.failcnt, v2 memory.events max). */
  hitLimit: number;
  /** OOM situations (v1: not counted; v2 memory.events oom) and processes killed (oom_kill). */
  oomKills: number;
  /** Swap in use by the cgroup (v1 memsw.usage - usage, v2 memory.swap.current); null without swap accounting. */
  swap: number | null;
  /** v1 memory.swappiness; null on v2 (no per-cgroup swappiness). */
  swappiness: number | null;
}

/** A demo container's cgroup, found the way tsrun finds it. */
export class ContainerCgroup {
  readonly version: CgroupVersion;
  readonly dirs: Record<string, string>;
  readonly #cg: ReturnType<typeof openCgroup>;

  private constructor(id: string, cgroupsPath: string | undefined) {
    this.#cg = openCgroup(cgroupsPath, id);
    this.version = this.#cg.version;
    this.dirs = this.#cg.dirs;
  }

  /** `cgroupsPath` as in the container's config.json (undefined: tsrun's /tsrun/ID). */
  static of(id: string, cgroupsPath?: string): ContainerCgroup {
    return new ContainerCgroup(id, cgroupsPath);
  }

  /** The file that holds `v1name` (in `controller`'s hierarchy) or `v2name`. */
  file(controller: string, v1name: string, v2name: string = v1name): string {
    if (this.version === 2) return join(this.dirs.unified ?? '', v2name);
    return join(this.dirs[controller] ?? `/nonexistent/${controller}`, v1name);
  }

  /** Host pids of the cgroup's processes (not zombies: the kernel drops them from cgroup.procs). */
  pids(): number[] {
    return this.#cg.pids();
  }

  /** Every thread of every process: tid → state letter. */
  threadStates(): Map<number, string> {
    const out = new Map<number, string>();
    for (const pid of this.pids()) {
      let tids: string[] = [];
      try {
        tids = readdirSync(`/proc/${pid}/task`);
      } catch {
        continue;
      }
      for (const tid of tids) {
        try {
          const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
          out.set(Number(tid), stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
        } catch {
          // exited meanwhile
        }
      }
    }
    return out;
  }

  cpu(): CpuSample {
    const at = performance.now();
    if (this.version === 2) {
      const s = readKeyed(this.file('cpu', '', 'cpu.stat'));
      return {
        at,
        usageUs: s.get('usage_usec') ?? 0,
        userUs: s.get('user_usec') ?? 0,
        systemUs: s.get('system_usec') ?? 0,
        periods: s.get('nr_periods') ?? 0,
        throttled: s.get('nr_throttled') ?? 0,
        throttledUs: s.get('throttled_usec') ?? 0,
      };
    }
    const stat = readKeyed(this.file('cpu', 'cpu.stat'));
    return {
      at,
      usageUs: (readNumber(this.file('cpuacct', 'cpuacct.usage')) ?? 0) / 1000,
      userUs: (readNumber(this.file('cpuacct', 'cpuacct.usage_user')) ?? 0) / 1000,
      systemUs: (readNumber(this.file('cpuacct', 'cpuacct.usage_sys')) ?? 0) / 1000,
      periods: stat.get('nr_periods') ?? 0,
      throttled: stat.get('nr_throttled') ?? 0,
      throttledUs: (stat.get('throttled_time') ?? 0) / 1000,
    };
  }

  /** The files cpu() reads, for the explanations. */
  cpuFiles(): { usage: string; user: string; system: string; throttling: string; quota: string; shares: string } {
    if (this.version === 2) {
      const stat = this.file('cpu', '', 'cpu.stat');
      return { usage: `${stat} usage_usec`, user: `${stat} user_usec`, system: `${stat} system_usec`, throttling: `${stat} nr_periods, nr_throttled, throttled_usec`, quota: this.file('cpu', '', 'cpu.max'), shares: this.file('cpu', '', 'cpu.weight') };
    }
    return {
      usage: this.file('cpuacct', 'cpuacct.usage'),
      user: this.file('cpuacct', 'cpuacct.usage_user'),
      system: this.file('cpuacct', 'cpuacct.usage_sys'),
      throttling: `${this.file('cpu', 'cpu.stat')} nr_periods, nr_throttled, throttled_time`,
      quota: `${this.file('cpu', 'cpu.cfs_quota_us')} / cpu.cfs_period_us`,
      shares: this.file('cpu', 'cpu.shares'),
    };
  }

  /** The CFS bandwidth limit as written: quota and period in µs (quota null = no limit), shares or weight. */
  cpuLimit(): { quotaUs: number | null; periodUs: number; shares: number | null; weight: number | null } {
    if (this.version === 2) {
      const [quota, period] = (readOptional(this.file('cpu', '', 'cpu.max')) ?? 'max 100000').split(/\s+/);
      return { quotaUs: quota === 'max' ? null : Number(quota), periodUs: Number(period), shares: null, weight: readNumber(this.file('cpu', '', 'cpu.weight')) ?? null };
    }
    const quota = readNumber(this.file('cpu', 'cpu.cfs_quota_us')) ?? -1;
    return {
      quotaUs: quota < 0 ? null : quota,
      periodUs: readNumber(this.file('cpu', 'cpu.cfs_period_us')) ?? 100000,
      shares: readNumber(this.file('cpu', 'cpu.shares')) ?? null,
      weight: null,
    };
  }

  memory(): MemorySample {
    if (this.version === 2) {
      const stat = readKeyed(this.file('memory', '', 'memory.stat'));
      const events = readKeyed(this.file('memory', '', 'memory.events'));
      const usage = readNumber(this.file('memory', '', 'memory.current')) ?? 0;
      const inactiveFile = stat.get('inactive_file') ?? 0;
      return {
        usage,
        limit: readNumber(this.file('memory', '', 'memory.max')) ?? null,
        cache: stat.get('file') ?? 0,
        rss: stat.get('anon') ?? 0,
        activeFile: stat.get('active_file') ?? 0,
        inactiveFile,
        workingSet: Math.max(0, usage - inactiveFile),
        hitLimit: events.get('max') ?? 0,
        oomKills: events.get('oom_kill') ?? 0,
        swap: readNumber(this.file('memory', '', 'memory.swap.current')) ?? null,
        swappiness: null,
      };
    }
    const stat = readKeyed(this.file('memory', 'memory.stat'));
    const usage = readNumber(this.file('memory', 'memory.usage_in_bytes')) ?? 0;
    const limit = readNumber(this.file('memory', 'memory.limit_in_bytes'));
    const memsw = readNumber(this.file('memory', 'memory.memsw.usage_in_bytes'));
    const inactiveFile = stat.get('total_inactive_file') ?? 0;
    return {
      usage,
      // The kernel's "no limit" is PAGE_COUNTER_MAX pages rounded down: anything near 2^63.
      limit: limit === undefined || limit > 2 ** 62 ? null : limit,
      cache: stat.get('total_cache') ?? 0,
      rss: stat.get('total_rss') ?? 0,
      activeFile: stat.get('total_active_file') ?? 0,
      inactiveFile,
      workingSet: Math.max(0, usage - inactiveFile),
      // With a memory+swap limit the memsw counter is charged first and may be the one that fails.
      hitLimit: (readNumber(this.file('memory', 'memory.failcnt')) ?? 0) + (readNumber(this.file('memory', 'memory.memsw.failcnt')) ?? 0),
      oomKills: readKeyed(this.file('memory', 'memory.oom_control')).get('oom_kill') ?? 0,
      swap: memsw === undefined ? null : Math.max(0, memsw - usage),
      swappiness: readNumber(this.file('memory', 'memory.swappiness')) ?? null,
    };
  }

  /** The files memory() reads, for the explanations. */
  memoryFiles(): { usage: string; limit: string; stat: string; failcnt: string; oom: string; swap: string } {
    if (this.version === 2) {
      return {
        usage: this.file('memory', '', 'memory.current'),
        limit: this.file('memory', '', 'memory.max'),
        stat: this.file('memory', '', 'memory.stat'),
        failcnt: `${this.file('memory', '', 'memory.events')} max`,
        oom: `${this.file('memory', '', 'memory.events')} oom_kill`,
        swap: this.file('memory', '', 'memory.swap.current'),
      };
    }
    return {
      usage: this.file('memory', 'memory.usage_in_bytes'),
      limit: this.file('memory', 'memory.limit_in_bytes'),
      stat: this.file('memory', 'memory.stat'),
      failcnt: `${this.file('memory', 'memory.failcnt')} + memory.memsw.failcnt`,
      oom: `${this.file('memory', 'memory.oom_control')} oom_kill`,
      swap: `${this.file('memory', 'memory.memsw.usage_in_bytes')} minus usage`,
    };
  }
}

/** CPU use between two samples of the same cgroup. */
export function cpuBetween(a: CpuSample, b: CpuSample): CpuUse {
  const seconds = (b.at - a.at) / 1000;
  const per = (us: number): number => round(us / 1e6 / seconds, 3);
  return {
    seconds: round(seconds, 3),
    cpus: per(b.usageUs - a.usageUs),
    userCpus: per(b.userUs - a.userUs),
    systemCpus: per(b.systemUs - a.systemUs),
    periods: b.periods - a.periods,
    throttled: b.throttled - a.throttled,
    throttledSeconds: round((b.throttledUs - a.throttledUs) / 1e6, 3),
  };
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export const MiB = 1024 * 1024;

/** "12.3 MiB". */
export function mib(bytes: number): string {
  return `${round(bytes / MiB, 1)} MiB`;
}

/**
 * The report of a demo that cannot run here because a controller it needs is
 * not usable by tsrun: it says which and why, and exits 0 (the demo ran and
 * explained what it found). `available: false` in the JSON.
 */
export function unavailableReport(demo: string, what: string, version: CgroupVersion, missing: ControllerCheck['missing']): DemoReport {
  return {
    demo,
    title: `${what}: cannot be shown on this host's cgroup v${version}`,
    tables: [{ headers: ['controller', 'why it is missing'], rows: missing.map((m) => [m.controller, m.reason]) }],
    explanations: [
      `tsrun would write the limits into files of the ${missing.map((m) => m.controller).join(' and ')} controller, which this cgroup v${version} hierarchy does not have, so a container with those limits would be refused at create.`,
      ...missing.map((m) => `${m.controller}: ${m.reason}.`),
    ],
    chart: { title: `${what}: nothing measured`, yLabel: 'missing controllers', bars: missing.map((m) => ({ label: m.controller, value: 1, note: 'unavailable' })) },
    data: { available: false, cgroupVersion: version, missing },
  };
}

/**
 * A parent cgroup of the demo's own, /demo-parent-PID-XXXX, whose CPU weight
 * is 16 times a normal task's (v1 cpu.shares 16384, v2 cpu.weight 1600). The
 * CPU demos put their containers below it so that the rest of a busy machine
 * cannot starve them: a quota can only be seen being enforced when the
 * container could otherwise get more. The lab removes it on close, after the
 * containers (tsrun removes empty parents only under /tsrun).
 */
export class DemoParent {
  readonly name: string;
  readonly shares: number;

  constructor(lab: Lab) {
    this.name = `demo-parent-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
    const version = detectCgroupVersion();
    lab.onClose(() => this.remove());
    if (version === 2) {
      mkdirSync(join(DEFAULT_CGROUP_ROOT, this.name));
      this.shares = 1600;
      this.settle();
      return;
    }
    const cpu = cgroupMounts().find((m) => m.controllers.includes('cpu'));
    this.shares = 16384;
    if (!cpu) return;
    const dir = join(cpu.mountPoint, this.name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'cpu.shares'), String(this.shares));
  }

  /** v2: cpu.weight appears only once tsrun has enabled the cpu controller on the way down (at the
   *  first container's create), so the weight is written again after the containers start. */
  settle(): void {
    if (detectCgroupVersion() !== 2) return;
    try {
      writeFileSync(join(DEFAULT_CGROUP_ROOT, this.name, 'cpu.weight'), String(this.shares));
    } catch {
      // no cpu controller on this v2 hierarchy: the demo says so itself
    }
  }

  /** The cgroupsPath for a container below it. */
  path(child: string): string {
    return `/${this.name}/${child}`;
  }

  remove(): void {
    const roots = detectCgroupVersion() === 2 ? [DEFAULT_CGROUP_ROOT] : cgroupMounts().map((m) => m.mountPoint);
    for (const root of roots) {
      try {
        rmdirSync(join(root, this.name));
      } catch {
        // not created in this hierarchy, or gone
      }
    }
  }
}
