// The JSON lines `tsrun events` prints, in the shapes runc prints them
// (runc types/events.go), because containerd's go-runc decodes them into its
// Event and Stats structs. Field names, nesting and which zero values are left
// out follow runc's Go `omitempty` tags: a Go decoder reads a missing number
// as 0, so both forms decode alike, but printing what runc prints keeps the
// output diffable against runc's.
//
// cgroup().stats() supplies the counters every verb shares; the few runc
// fields it does not carry (per-cpu time, period count, the memory+swap,
// kmem and kmem.tcp entries, memory.stat) are read here by readRuncExtras.
import { join } from 'node:path';
import type { Cgroup, CgroupStats } from './cgroups/types.ts';
import { readKeyed, readNumber, readOptional } from './cgroups/fsio.ts';
import { limitOrZero } from './cgroups/convert.ts';

/** The "no limit" value runc reports: v1 files hold PAGE_COUNTER_MAX in bytes, v2 "max" becomes MaxUint64. */
const UNLIMITED = { 1: 9223372036854771712n, 2: 18446744073709551615n } as const;

type Uint = number | bigint;

/** A usage counter group in our terms: `limit` 0 = no limit. */
export interface MemoryCounters {
  usage: number;
  max?: number;
  failcnt?: number;
  limit: number;
}

export interface RuncExtras {
  percpu?: number[];
  percpuKernel?: number[];
  percpuUser?: number[];
  periods?: number;
  /** Memory plus swap, as runc reports it on both versions. */
  swap?: MemoryCounters;
  kernel?: MemoryCounters;
  kernelTCP?: MemoryCounters;
  raw?: Record<string, Uint>;
}

interface MemoryEntry { limit: Uint; usage?: number; max?: number; failcnt: number }
interface BlkioEntry { major?: number; minor?: number; op?: string; value?: number }

export interface RuncStats {
  cpu: {
    usage: { total?: number; percpu?: number[]; percpu_kernel?: number[]; percpu_user?: number[]; kernel: number; user: number };
    throttling: { periods?: number; throttledPeriods?: number; throttledTime?: number };
  };
  memory: {
    cache?: number;
    usage: MemoryEntry;
    swap: MemoryEntry;
    kernel: MemoryEntry;
    kernelTCP: MemoryEntry;
    raw?: Record<string, Uint>;
  };
  pids: { current?: number; limit?: number };
  blkio: { ioServiceBytesRecursive?: BlkioEntry[] };
  hugetlb: Record<string, never>;
}

/** Keeps the keys whose value is not 0, "", undefined or an empty array: Go's omitempty. */
function omitEmpty<T extends object>(obj: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(obj) as Array<[keyof T, unknown]>) {
    if (v === undefined || v === 0 || v === 0n || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v as T[keyof T];
  }
  return out;
}

function entry(c: MemoryCounters | undefined, version: 1 | 2): MemoryEntry {
  if (!c) return { limit: 0, failcnt: 0 };
  return {
    limit: c.limit === 0 ? UNLIMITED[version] : c.limit,
    ...omitEmpty({ usage: c.usage, max: c.max }),
    failcnt: c.failcnt ?? 0,
  };
}

/** runc's Stats object from tsrun's counters. Pure. */
export function runcStats(s: CgroupStats, version: 1 | 2, extras: RuncExtras = {}): RuncStats {
  const blkio = s.blkio.ioServiceBytesRecursive.map((e) => omitEmpty(e));
  return {
    cpu: {
      usage: {
        ...omitEmpty({ total: s.cpu.usageNs, percpu: extras.percpu, percpu_kernel: extras.percpuKernel, percpu_user: extras.percpuUser }),
        kernel: s.cpu.kernelNs ?? 0,
        user: s.cpu.userNs ?? 0,
      },
      throttling: omitEmpty({ periods: extras.periods, throttledPeriods: s.cpu.throttledPeriods, throttledTime: s.cpu.throttledTimeNs }),
    },
    memory: {
      ...omitEmpty({ cache: s.memory.cache }),
      usage: entry({ usage: s.memory.usage, max: s.memory.maxUsage ?? 0, failcnt: s.memory.failcnt ?? 0, limit: s.memory.limit }, version),
      swap: entry(extras.swap, version),
      kernel: entry(extras.kernel, version),
      kernelTCP: entry(extras.kernelTCP, version),
      ...(extras.raw && Object.keys(extras.raw).length > 0 ? { raw: extras.raw } : {}),
    },
    pids: omitEmpty({ current: s.pids.current, limit: s.pids.limit }),
    blkio: blkio.length > 0 ? { ioServiceBytesRecursive: blkio } : {},
    hugetlb: {},
  };
}

function v1Counters(dir: string | undefined, prefix: string): MemoryCounters | undefined {
  if (!dir) return undefined;
  const f = (name: string) => join(dir, `${prefix}.${name}`);
  const usage = readNumber(f('usage_in_bytes'));
  if (usage === undefined) return undefined;
  return {
    usage,
    max: readNumber(f('max_usage_in_bytes')) ?? 0,
    failcnt: readNumber(f('failcnt')) ?? 0,
    limit: limitOrZero(readNumber(f('limit_in_bytes'))),
  };
}

/** memory.stat as a map; values past 2^53 (v1's hierarchical_*_limit) stay exact as bigints. */
function memoryStat(file: string | undefined): Record<string, Uint> {
  const out: Record<string, Uint> = {};
  for (const line of (readOptional(file) ?? '').split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (!key || value === undefined || !/^\d+$/.test(value)) continue;
    const n = Number(value);
    out[key] = Number.isSafeInteger(n) ? n : BigInt(value);
  }
  return out;
}

/** The runc fields cgroup().stats() leaves out; absent files leave fields out. */
export function readRuncExtras(cg: Cgroup): RuncExtras {
  if (cg.version === 1) {
    const mem = cg.dirs.memory;
    const acct = cg.dirs.cpuacct;
    const perCpu = (file: string): number[] | undefined => {
      const text = readOptional(acct ? join(acct, file) : undefined);
      return text ? text.split(/\s+/).filter(Boolean).map(Number) : undefined;
    };
    const out: RuncExtras = {
      periods: readKeyed(cg.dirs.cpu ? join(cg.dirs.cpu, 'cpu.stat') : undefined).get('nr_periods') ?? 0,
      raw: memoryStat(mem ? join(mem, 'memory.stat') : undefined),
    };
    const percpu = perCpu('cpuacct.usage_percpu');
    const percpuKernel = perCpu('cpuacct.usage_percpu_sys');
    const percpuUser = perCpu('cpuacct.usage_percpu_user');
    if (percpu) out.percpu = percpu;
    if (percpuKernel) out.percpuKernel = percpuKernel;
    if (percpuUser) out.percpuUser = percpuUser;
    const swap = v1Counters(mem, 'memory.memsw');
    const kernel = v1Counters(mem, 'memory.kmem');
    const kernelTCP = v1Counters(mem, 'memory.kmem.tcp');
    if (swap) out.swap = swap;
    if (kernel) out.kernel = kernel;
    if (kernelTCP) out.kernelTCP = kernelTCP;
    return out;
  }
  const dir = cg.dirs.unified;
  if (!dir) return {};
  const f = (name: string) => join(dir, name);
  const out: RuncExtras = {
    periods: readKeyed(f('cpu.stat')).get('nr_periods') ?? 0,
    raw: memoryStat(f('memory.stat')),
  };
  // v2 accounts swap alone; runc adds memory to it so the entry means what v1's memsw means.
  const swapNow = readNumber(f('memory.swap.current'));
  const memNow = readNumber(f('memory.current'));
  if (swapNow !== undefined && memNow !== undefined) {
    const swapMax = readNumber(f('memory.swap.max'));
    const memMax = readNumber(f('memory.max'));
    out.swap = {
      usage: swapNow + memNow,
      limit: swapMax !== undefined && memMax !== undefined ? limitOrZero(swapMax + memMax) : 0,
      failcnt: readKeyed(f('memory.swap.events')).get('fail') ?? 0,
    };
  }
  return out;
}

/**
 * JSON.stringify with bigint support, for runc's uint64 "no limit" values
 * that a double cannot hold (2^64-1 would print as 18446744073709552000,
 * which overflows a Go uint64 and fails the whole decode).
 */
export function toJson(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const parts = Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** One `events` line: {"type":"stats","id":ID,"data":{...}}. */
export function statsEvent(id: string, data: RuncStats): string {
  return `${toJson({ type: 'stats', id, data })}\n`;
}

/** runc prints an OOM with no data. */
export function oomEvent(id: string): string {
  return `${toJson({ type: 'oom', id })}\n`;
}
