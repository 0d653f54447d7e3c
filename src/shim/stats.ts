// StatsResponse: tsrun's cgroup counters in the cgroup v1 Metrics message
// `ctr task metrics` and the CRI decode (proto/metrics.proto).
import type { Cgroup } from '../runtime/cgroups/types.ts';
import { RuntimeError } from '../runtime/errors.ts';

export function metrics(cgroup: Cgroup): object {
  if (cgroup.version !== 1) {
    throw new RuntimeError('ERR_UNSUPPORTED', 'task metrics on cgroup v2 (io.containerd.cgroups.v2.Metrics) are not implemented by the tsrun shim');
  }
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
