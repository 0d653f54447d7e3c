// The process attributes the kernel keeps across fork and exec, as plan
// steps for tsrun-nsexec (src/ns/nsexec-attr.c): linux.personality,
// process.ioPriority, process.scheduler, linux.memoryPolicy,
// process.execCPUAffinity, and the offsets of a new time namespace
// (linux.timeOffsets). Pure: names become the kernel's numbers here, so the
// helper only makes the syscalls. Values are checked by validate/unsupported.ts.
import type { Config, Process } from './oci-types.ts';
import { step, type PlanStep } from '../ns/plan.ts';

const PERSONALITY: Record<string, number> = { LINUX: 0x0000, LINUX32: 0x0008 };
const IOPRIO_CLASS: Record<string, number> = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 };
export const SCHED_POLICY: Record<string, number> = {
  SCHED_OTHER: 0, SCHED_FIFO: 1, SCHED_RR: 2, SCHED_BATCH: 3, SCHED_IDLE: 5, SCHED_DEADLINE: 6,
};
const SCHED_FLAG: Record<string, number> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01, SCHED_FLAG_RECLAIM: 0x02, SCHED_FLAG_DL_OVERRUN: 0x04, SCHED_FLAG_KEEP_POLICY: 0x08,
  SCHED_FLAG_KEEP_PARAMS: 0x10, SCHED_FLAG_UTIL_CLAMP_MIN: 0x20, SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
};
export const MPOL_MODE: Record<string, number> = {
  MPOL_DEFAULT: 0, MPOL_PREFERRED: 1, MPOL_BIND: 2, MPOL_INTERLEAVE: 3, MPOL_LOCAL: 4, MPOL_PREFERRED_MANY: 5, MPOL_WEIGHTED_INTERLEAVE: 6,
};
const MPOL_FLAG: Record<string, number> = { MPOL_F_NUMA_BALANCING: 1 << 13, MPOL_F_RELATIVE_NODES: 1 << 14, MPOL_F_STATIC_NODES: 1 << 15 };
const CLOCK_ID = { monotonic: 1, boottime: 7 } as const;

/** A list such as "0-3,7" (CPUs or NUMA nodes); undefined when malformed. */
export function parseIdList(list: string): number[] | undefined {
  const text = list.replace(/\s/g, '');
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) return undefined;
  const ids: number[] = [];
  for (const part of text.split(',')) {
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    const end = b ?? a;
    if (end < a || end >= 8192) return undefined;
    for (let i = a; i <= end; i++) ids.push(i);
  }
  return ids;
}

/** The ids as a hex mask, bit n = id n. */
export function idMask(list: string): string {
  let mask = 0n;
  for (const id of parseIdList(list) ?? []) mask |= 1n << BigInt(id);
  return mask.toString(16);
}

/** personality, ioprio, sched and mempolicy: set while still privileged, before identity. */
export function attributeSteps(proc: Process, linux: Config['linux']): PlanStep[] {
  const steps: PlanStep[] = [];
  const p = linux?.personality;
  if (p) steps.push(step('personality', [PERSONALITY[p.domain] ?? 0], { what: `set personality ${p.domain}`, detail: true }));
  const io = proc.ioPriority;
  if (io) {
    const value = ((IOPRIO_CLASS[io.class] ?? 0) << 13) | (io.priority ?? 0);
    steps.push(step('ioprio', [value], { what: `set I/O priority ${io.class}/${io.priority ?? 0}`, detail: true }));
  }
  const s = proc.scheduler;
  if (s) {
    const flags = (s.flags ?? []).reduce((f, name) => f | (SCHED_FLAG[name] ?? 0), 0);
    steps.push(step('sched', [SCHED_POLICY[s.policy] ?? 0, flags, s.nice ?? 0, s.priority ?? 0, s.runtime ?? 0, s.deadline ?? 0, s.period ?? 0],
      { what: `set scheduler ${s.policy}`, detail: true }));
  }
  const m = linux?.memoryPolicy;
  if (m) {
    const mode = (MPOL_MODE[m.mode] ?? 0) | (m.flags ?? []).reduce((f, name) => f | (MPOL_FLAG[name] ?? 0), 0);
    steps.push(step('mempolicy', [mode, m.nodes ? idMask(m.nodes) : '-'], { what: `set memory policy ${m.mode}`, detail: true }));
  }
  return steps;
}

/** exec only (the spec: "not applicable to the container's init process"). */
export function affinityStep(proc: Process, which: 'initial' | 'final'): PlanStep[] {
  const list = proc.execCPUAffinity?.[which];
  return list ? [step('affinity', [idMask(list)], { what: `set CPU affinity ${which} ${JSON.stringify(list)}`, detail: true })] : [];
}

/** A new time namespace's offsets, written before the first process enters it (fork). */
export function timeOffsetSteps(linux: Config['linux']): PlanStep[] {
  const offsets = linux?.timeOffsets;
  if (!offsets) return [];
  const lines = (['monotonic', 'boottime'] as const).flatMap((clock) => {
    const o = offsets[clock];
    return o ? [`${CLOCK_ID[clock]} ${o.secs ?? 0} ${o.nanosecs ?? 0}`] : [];
  });
  return lines.length ? [step('write', ['/proc/self/timens_offsets', lines.join('\n')], { what: 'write linux.timeOffsets to /proc/self/timens_offsets' })] : [];
}
