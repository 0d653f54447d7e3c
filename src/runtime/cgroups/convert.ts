// Pure conversions from OCI resource values to the text cgroup files take.
// No I/O here, so test/unit/cgroup-convert.test.ts can pin every rule.
//
// Zero means "not set" for memory limit/reservation/swap/kernelTCP, cpu
// shares/quota/period and blkio weight, as in runc: configs written for runc
// carry zeros for unset fields, and 0 is never a useful value for these knobs.
import type { DeviceCgroupRule, Resources, ThrottleDevice } from '../oci-types.ts';
import { intText } from './fsio.ts';

export function isSet(n: number | undefined): n is number {
  return n !== undefined && n !== 0;
}

/**
 * cpu.shares [2, 262144] → cpu.weight [1, 10000]. A quadratic in log2(shares)
 * chosen so the defaults line up (1024 → 100) and both ends map to both ends
 * (2 → 1, 262144 → 10000): weight = ceil(10^((l² + 125·l) / 612 − 7/34)),
 * l = log2(shares). This is the mapping crun adopted in containers/crun#1767
 * and runc in opencontainers/runc#4785 (replacing the old linear one, which
 * turned the default 1024 shares into weight 39).
 */
export function cpuSharesToWeight(shares: number): number {
  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  const l = Math.log2(shares);
  const exponent = (l * l + 125 * l) / 612 - 7 / 34;
  return Math.min(10000, Math.max(1, Math.ceil(10 ** exponent)));
}

/** blkio.weight [10, 1000] → io.weight [1, 10000], linear, as runc and crun convert it. */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight <= 10) return 1;
  if (weight >= 1000) return 10000;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/** v1 byte limits: negative means unlimited, written as -1. */
export function v1Bytes(n: number): string {
  return n < 0 ? '-1' : intText(n);
}

/** v2 byte limits: negative means unlimited, written as "max". */
export function v2Bytes(n: number): string {
  return n < 0 ? 'max' : intText(n);
}

/** pids.max: zero or negative means no limit. */
export function pidsMax(limit: number): string {
  return limit > 0 ? intText(limit) : 'max';
}

/** v1 cpu.cfs_quota_us: any negative quota is unlimited, which the kernel only accepts as -1. */
export function v1Quota(quota: number): string {
  return quota < 0 ? '-1' : intText(quota);
}

/**
 * cpu.max "QUOTA PERIOD". A missing half keeps what the file holds now
 * (`current`, e.g. "max 100000"), so an update of the period alone does not
 * lift the quota.
 */
export function cpuMaxLine(quota: number | undefined, period: number | undefined, current = 'max 100000'): string {
  const [curQuota = 'max', curPeriod = '100000'] = current.trim().split(/\s+/);
  const q = isSet(quota) ? (quota < 0 ? 'max' : intText(quota)) : curQuota;
  const p = isSet(period) ? intText(period) : curPeriod;
  return `${q} ${p}`;
}

/**
 * OCI swap is memory+swap; v2 memory.swap.max is swap alone, so it is
 * swap − limit. `limit` is the memory limit in force (-1 when unlimited).
 * Returns undefined when the pair cannot be expressed (swap without a limit,
 * swap below the limit); resourceProblems reports those first.
 */
export function v2SwapMax(swap: number, limit: number): string | undefined {
  if (swap < 0) return 'max';
  if (limit < 0 || swap < limit) return undefined;
  return intText(swap - limit);
}

/**
 * v1 keeps memory.limit_in_bytes ≤ memory.memsw.limit_in_bytes at every
 * moment, so the order of the two writes depends on where the limit is now:
 * raise memsw first when the new memsw is above the current limit, otherwise
 * lower the limit first.
 */
export function v1MemswFirst(currentLimit: number, newSwap: number): boolean {
  return newSwap < 0 || currentLimit < newSwap;
}

/** A v1 devices.allow/deny line: "c 1:3 rwm", "*" for a missing number, "a" for all devices. */
export function deviceRuleText(rule: DeviceCgroupRule): string {
  const type = rule.type ?? 'a';
  const num = (n: number | null | undefined) => (n === undefined || n === null || n < 0 ? '*' : String(n));
  const access = rule.access && rule.access.length > 0 ? rule.access : 'rwm';
  return `${type} ${num(rule.major)}:${num(rule.minor)} ${access}`;
}

/** "MAJ:MIN RATE" lines for a v1 blkio.throttle.* file. */
export function v1ThrottleLines(devices: ThrottleDevice[] | undefined): string[] {
  return (devices ?? []).map((d) => `${d.major}:${d.minor} ${intText(d.rate)}`);
}

const IO_MAX_KEYS = [
  ['throttleReadBpsDevice', 'rbps'],
  ['throttleWriteBpsDevice', 'wbps'],
  ['throttleReadIOPSDevice', 'riops'],
  ['throttleWriteIOPSDevice', 'wiops'],
] as const;

/**
 * One io.max line per device, "MAJ:MIN rbps=… wbps=… riops=… wiops=…", with
 * only the keys the config gives. Rate 0 lifts a limit, which v2 spells "max".
 */
export function ioMaxLines(blockIO: Resources['blockIO']): string[] {
  const byDevice = new Map<string, string[]>();
  for (const [field, key] of IO_MAX_KEYS) {
    for (const d of blockIO?.[field] ?? []) {
      const dev = `${d.major}:${d.minor}`;
      const parts = byDevice.get(dev) ?? [];
      const rest = parts.filter((p) => !p.startsWith(`${key}=`));
      rest.push(`${key}=${d.rate > 0 ? intText(d.rate) : 'max'}`);
      byDevice.set(dev, rest);
    }
  }
  return [...byDevice].map(([dev, parts]) => `${dev} ${parts.join(' ')}`);
}

/** Numbers from cgroup files at or above 2^62 mean "no limit" (v1 prints PAGE_COUNTER_MAX pages in bytes). */
export function limitOrZero(n: number | undefined): number {
  return n === undefined || n >= 2 ** 62 ? 0 : n;
}

/** Hugepage size as the file names spell it ("2MB", "1GB"); undefined when malformed. */
export function hugepageSize(pageSize: string): string | undefined {
  return /^\d+(KB|MB|GB)$/.test(pageSize) ? pageSize : undefined;
}
