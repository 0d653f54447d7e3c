// StatsResponse: a container's cgroup counters in the Metrics message of its
// cgroup version, as runc's shim sends them (`ctr task metrics` and the CRI,
// i.e. kubelet's stats, decode them): io.containerd.cgroups.v1.Metrics from
// tsrun's cgroup statistics (proto/metrics.proto), or, on cgroup v2,
// io.containerd.cgroups.v2.Metrics read from the cgroup's files
// (proto/metrics-v2.proto), where the CRI finds fields v1 lacks
// (inactive_file for the working set, pgfault, memory_events).
import { join } from 'node:path';
import { readKeyed, readNumber, readOptional } from '../runtime/cgroups/fsio.ts';
import type { Cgroup } from '../runtime/cgroups/types.ts';
import { toAny, type AnyMessage } from './messages.ts';

export function metrics(cgroup: Cgroup): AnyMessage {
  const dir = cgroup.version === 2 ? cgroup.dirs.unified : undefined;
  if (dir) return toAny('io.containerd.cgroups.v2.Metrics', 'io.containerd.cgroups.v2.Metrics', metricsV2(dir, () => cgroup.pids().length));
  return toAny('io.containerd.cgroups.v1.Metrics', 'io.containerd.cgroups.v1.Metrics', metricsV1(cgroup));
}

function metricsV1(cgroup: Cgroup): object {
  const s = cgroup.stats();
  return {
    pids: { current: s.pids.current, limit: s.pids.limit },
    cpu: {
      usage: { total: s.cpu.usageNs, kernel: s.cpu.kernelNs ?? 0, user: s.cpu.userNs ?? 0 },
      throttling: { throttled_periods: s.cpu.throttledPeriods ?? 0, throttled_time: s.cpu.throttledTimeNs ?? 0 },
    },
    memory: {
      cache: s.memory.cache ?? 0,
      total_cache: s.memory.cache ?? 0,
      usage: { usage: s.memory.usage, limit: s.memory.limit, max: s.memory.maxUsage ?? 0, failcnt: s.memory.failcnt ?? 0 },
      swap: { usage: s.memory.swapUsage ?? 0 },
    },
    blkio: {
      io_service_bytes_recursive: s.blkio.ioServiceBytesRecursive.map((e) => ({ op: e.op, major: e.major, minor: e.minor, value: e.value })),
    },
    memory_oom_control: { oom_kill: s.memory.oomKills ?? 0 },
  };
}

/** memory.stat keys that MemoryStat carries under the same names (fields 1-31). */
const MEMORY_STAT_KEYS = ['anon', 'file', 'kernel_stack', 'slab', 'sock', 'shmem', 'file_mapped', 'file_dirty', 'file_writeback', 'anon_thp',
  'inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable', 'slab_reclaimable', 'slab_unreclaimable', 'pgfault',
  'pgmajfault', 'workingset_refault', 'workingset_activate', 'workingset_nodereclaim', 'pgrefill', 'pgscan', 'pgsteal', 'pgactivate',
  'pgdeactivate', 'pglazyfree', 'pglazyfreed', 'thp_fault_alloc', 'thp_collapse_alloc'];
/** "max" (no limit) is reported as the largest uint64, as containerd's cgroups module does; absent files as 0. */
const UNLIMITED = '18446744073709551615';

/** A controller's files exist only where it is enabled: what is absent stays 0. */
export function metricsV2(dir: string, countPids: () => number): object {
  const f = (name: string): string => join(dir, name);
  const limit = (name: string): number | string => {
    const text = readOptional(f(name));
    return text === 'max' ? UNLIMITED : (readNumber(f(name)) ?? 0);
  };
  const cpu = readKeyed(f('cpu.stat'));
  const stat = readKeyed(f('memory.stat'));
  const events = readKeyed(f('memory.events'));
  const memory: Record<string, number | string> = {};
  for (const key of MEMORY_STAT_KEYS) memory[key] = stat.get(key) ?? (key === 'workingset_refault' ? (stat.get('workingset_refault_anon') ?? 0) + (stat.get('workingset_refault_file') ?? 0) : 0);
  Object.assign(memory, {
    usage: readNumber(f('memory.current')) ?? 0,
    usage_limit: limit('memory.max'),
    swap_usage: readNumber(f('memory.swap.current')) ?? 0,
    swap_limit: limit('memory.swap.max'),
    max_usage: readNumber(f('memory.peak')) ?? 0,
    swap_max_usage: readNumber(f('memory.swap.peak')) ?? 0,
  });
  const io = (readOptional(f('io.stat')) ?? '').split('\n').flatMap((line) => {
    const [dev, ...pairs] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!m) return [];
    const kv = new Map(pairs.map((p) => p.split('=') as [string, string]));
    const n = (k: string): number => Number(kv.get(k) ?? 0);
    return [{ major: Number(m[1]), minor: Number(m[2]), rbytes: n('rbytes'), wbytes: n('wbytes'), rios: n('rios'), wios: n('wios') }];
  });
  return {
    pids: { current: readNumber(f('pids.current')) ?? countPids(), limit: limit('pids.max') },
    cpu: {
      usage_usec: cpu.get('usage_usec') ?? 0, user_usec: cpu.get('user_usec') ?? 0, system_usec: cpu.get('system_usec') ?? 0,
      nr_periods: cpu.get('nr_periods') ?? 0, nr_throttled: cpu.get('nr_throttled') ?? 0, throttled_usec: cpu.get('throttled_usec') ?? 0,
    },
    memory,
    io: { usage: io },
    memory_events: { low: events.get('low') ?? 0, high: events.get('high') ?? 0, max: events.get('max') ?? 0, oom: events.get('oom') ?? 0, oom_kill: events.get('oom_kill') ?? 0 },
  };
}
