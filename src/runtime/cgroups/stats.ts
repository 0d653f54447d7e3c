// Usage counters for `tsrun events --stats`. Missing files read as zero: a
// controller may be absent (v1 without hugetlb, v2 without memory enabled)
// and stats should still report what the host does have.
import { join } from 'node:path';
import { readKeyed, readNumber, readOptional } from './fsio.ts';
import { limitOrZero } from './convert.ts';
import type { CgroupStats } from './types.ts';

type BlkioEntry = CgroupStats['blkio']['ioServiceBytesRecursive'][number];

/** "8:0 Read 4096" lines of blkio.*io_service_bytes_recursive; the trailing "Total N" line is skipped. */
export function parseV1Blkio(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):(\d+)\s+(\S+)\s+(\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3] ?? '', value: Number(m[4]) });
  }
  return out;
}

/** io.stat "8:0 rbytes=1 wbytes=2 rios=3 …" as v1-style Read/Write byte entries. */
export function parseIoStat(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [dev, ...pairs] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!m) continue;
    const kv = new Map(pairs.map((p) => p.split('=') as [string, string]));
    for (const [key, op] of [['rbytes', 'Read'], ['wbytes', 'Write']] as const) {
      const v = kv.get(key);
      if (v !== undefined) out.push({ major: Number(m[1]), minor: Number(m[2]), op, value: Number(v) });
    }
  }
  return out;
}

export function statsV1(dirs: Record<string, string>): CgroupStats {
  const at = (controller: string, file: string) => (dirs[controller] ? join(dirs[controller], file) : undefined);
  // cpuacct.usage_user/_sys are in ns; older kernels only have cpuacct.stat in USER_HZ ticks.
  const ticks = readKeyed(at('cpuacct', 'cpuacct.stat'));
  const userNs = readNumber(at('cpuacct', 'cpuacct.usage_user')) ?? (ticks.has('user') ? (ticks.get('user') ?? 0) * 1e7 : undefined);
  const kernelNs = readNumber(at('cpuacct', 'cpuacct.usage_sys')) ?? (ticks.has('system') ? (ticks.get('system') ?? 0) * 1e7 : undefined);
  const cpuStat = readKeyed(at('cpu', 'cpu.stat'));
  const memStat = readKeyed(at('memory', 'memory.stat'));
  const usage = readNumber(at('memory', 'memory.usage_in_bytes')) ?? 0;
  const memsw = readNumber(at('memory', 'memory.memsw.usage_in_bytes'));
  const blkio = readOptional(at('blkio', 'blkio.throttle.io_service_bytes_recursive'))
    ?? readOptional(at('blkio', 'blkio.io_service_bytes_recursive'));
  return {
    cpu: {
      usageNs: readNumber(at('cpuacct', 'cpuacct.usage')) ?? 0,
      ...(userNs !== undefined ? { userNs } : {}),
      ...(kernelNs !== undefined ? { kernelNs } : {}),
      throttledPeriods: cpuStat.get('nr_throttled') ?? 0,
      throttledTimeNs: cpuStat.get('throttled_time') ?? 0,
    },
    memory: {
      usage,
      limit: limitOrZero(readNumber(at('memory', 'memory.limit_in_bytes'))),
      cache: memStat.get('total_cache') ?? memStat.get('cache') ?? 0,
      maxUsage: readNumber(at('memory', 'memory.max_usage_in_bytes')) ?? 0,
      // memsw counts memory plus swap; report the swap part alone, as v2 does.
      ...(memsw !== undefined ? { swapUsage: Math.max(0, memsw - usage) } : {}),
      failcnt: readNumber(at('memory', 'memory.failcnt')) ?? 0,
      oomKills: readKeyed(at('memory', 'memory.oom_control')).get('oom_kill') ?? 0,
    },
    pids: {
      current: readNumber(at('pids', 'pids.current')) ?? 0,
      limit: readNumber(at('pids', 'pids.max')) ?? 0,
    },
    blkio: { ioServiceBytesRecursive: parseV1Blkio(blkio) },
  };
}

/** `countPids` stands in for pids.current when the pids controller is not enabled. */
export function statsV2(dir: string, countPids: () => number): CgroupStats {
  const f = (name: string) => join(dir, name);
  const cpuStat = readKeyed(f('cpu.stat'));
  const memStat = readKeyed(f('memory.stat'));
  const events = readKeyed(f('memory.events'));
  const swap = readNumber(f('memory.swap.current'));
  const peak = readNumber(f('memory.peak'));
  return {
    cpu: {
      usageNs: (cpuStat.get('usage_usec') ?? 0) * 1000,
      userNs: (cpuStat.get('user_usec') ?? 0) * 1000,
      kernelNs: (cpuStat.get('system_usec') ?? 0) * 1000,
      throttledPeriods: cpuStat.get('nr_throttled') ?? 0,
      throttledTimeNs: (cpuStat.get('throttled_usec') ?? 0) * 1000,
    },
    memory: {
      usage: readNumber(f('memory.current')) ?? 0,
      limit: limitOrZero(readNumber(f('memory.max'))),
      cache: memStat.get('file') ?? 0,
      ...(peak !== undefined ? { maxUsage: peak } : {}),
      ...(swap !== undefined ? { swapUsage: swap } : {}),
      failcnt: events.get('max') ?? 0,
      oomKills: events.get('oom_kill') ?? 0,
    },
    pids: {
      current: readNumber(f('pids.current')) ?? countPids(),
      limit: readNumber(f('pids.max')) ?? 0,
    },
    blkio: { ioServiceBytesRecursive: parseIoStat(readOptional(f('io.stat'))) },
  };
}
