// The cgroup interface the rest of tsrun programs against; v1.ts and v2.ts
// implement it for the two kernel APIs.
import type { Resources } from '../oci-types.ts';

export interface CgroupStats {
  cpu: { usageNs: number; userNs?: number; kernelNs?: number; throttledPeriods?: number; throttledTimeNs?: number };
  /** Byte counts; `limit` 0 = no limit. `swapUsage` is swap alone (v1: memsw usage minus memory usage). */
  memory: { usage: number; limit: number; cache?: number; maxUsage?: number; swapUsage?: number; failcnt?: number; oomKills?: number };
  /** `limit` 0 = max. */
  pids: { current: number; limit: number };
  blkio: { ioServiceBytesRecursive: Array<{ major: number; minor: number; op: string; value: number }> };
}

export interface Cgroup {
  readonly version: 1 | 2;
  /** A rootless container without a cgroup (none.ts). */
  readonly skipped?: boolean;
  /** The cgroupsPath in use, e.g. "/tsrun/ID" (absolute) or "a/b" (relative to the caller's cgroup). */
  readonly path: string;
  /** Controller → absolute directory. v1: one key per controller ("name=systemd" for named hierarchies, "unified" for the hybrid mirror); v2: { unified }. */
  readonly dirs: Record<string, string>;
  /** mkdir -p in every hierarchy (idempotent); v1 fills empty cpuset.cpus/mems from the parent, v2 enables controllers on the way down. */
  create(): void;
  /** Writes the limits given; errors name the field, file, value and errno. Problems from resourceProblems() are thrown first. */
  apply(resources: Resources | undefined): void;
  /** As apply() for a running container: only the fields given are touched. */
  update(resources: Resources): void;
  /** Writes the pid to cgroup.procs in every hierarchy. */
  addProcess(pid: number): void;
  /** Every pid in the cgroup and its descendants, ascending; [] when the cgroup does not exist. */
  pids(): number[];
  /** Returns once the kernel reports the cgroup frozen; throws (after thawing again) when it does not settle. */
  freeze(): void;
  thaw(): void;
  isFrozen(): boolean;
  stats(): CgroupStats;
  /** OOM kills so far (v1 memory.oom_control oom_kill; v2 memory.events oom_kill); 0 when unknown. */
  oomKills(): number;
  /** What apply()/update() could not enforce, for the CLI to print. */
  warnings(): string[];
  /** rmdir in every hierarchy, children first; retries briefly on EBUSY; a missing cgroup is fine.
   *  The shared default parent (/tsrun) goes too once it is empty. */
  destroy(): void;
}

export interface OpenOptions {
  /** Use this version instead of detecting it (tests). */
  forceVersion?: 1 | 2;
  /** Mount point of the v2 hierarchy (default /sys/fs/cgroup). */
  v2Root?: string;
}
