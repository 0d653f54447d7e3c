// Writes linux.resources into a cgroup v2 directory. Only the fields given
// are written, so the same code serves `create` and `tsrun update`. What v2
// has no file for (device rules, swappiness, the OOM killer switch) becomes
// a warning for the CLI to print rather than a silent drop.
import { dirname, join } from 'node:path';
import type { Resources } from '../oci-types.ts';
import { RuntimeError } from '../errors.ts';
import { CGROUP_ERROR, fileExists, intText, readNumber, readOptional, writeValue } from './fsio.ts';
import {
  blkioWeightToIoWeight, cpuMaxLine, cpuSharesToWeight, ioMaxLines, isSet, pidsMax, v2Bytes, v2SwapMax,
} from './convert.ts';

const P = '/linux/resources';
type Warn = (message: string) => void;

export function applyV2(dir: string, r: Resources, warn: Warn): void {
  const put = (name: string, value: string, field: string) => writeValue(join(dir, name), value, {
    field,
    hint: (code) => (code === 'ENOENT' ? missingFileHint(dir, name) : undefined),
  });
  if (r.cpu) applyCpu(r.cpu, put, dir, warn);
  if (r.memory) applyMemory(r.memory, put, dir, warn);
  if (r.pids) put('pids.max', pidsMax(r.pids.limit), `${P}/pids/limit`);
  if (r.blockIO) applyIo(r.blockIO, put, dir, warn);
  (r.hugepageLimits ?? []).forEach((h, i) => put(`hugetlb.${h.pageSize}.max`, intText(h.limit), `${P}/hugepageLimits/${i}`));
  if (r.devices && r.devices.length > 0) {
    warn(`${P}/devices is not enforced: device rules on cgroup v2 need an eBPF program, which tsrun does not load`);
  }
  // Last, so an explicit file wins over the value derived from a field above.
  for (const [key, value] of Object.entries(r.unified ?? {})) {
    put(key, value, `${P}/unified/${key}`);
  }
}

type Put = (name: string, value: string, field: string) => void;

/**
 * A v2 file is missing either because its controller is not enabled for
 * this cgroup (the parent's subtree_control) or because the kernel has no
 * such knob (a huge page size it lacks, io.bfq.weight without bfq).
 */
function missingFileHint(dir: string, name: string): string {
  const controller = name.split('.')[0] ?? name;
  const enabled = (readOptional(join(dir, 'cgroup.controllers')) ?? '').split(/\s+/);
  if (!enabled.includes(controller)) {
    return `the ${controller} controller is not enabled in ${join(dirname(dir), 'cgroup.subtree_control')}`;
  }
  if (controller === 'hugetlb') return 'is that a huge page size this kernel supports? see /sys/kernel/mm/hugepages';
  return `this kernel has no ${name}`;
}

function applyCpu(cpu: NonNullable<Resources['cpu']>, put: Put, dir: string, warn: Warn): void {
  if (isSet(cpu.shares)) put('cpu.weight', String(cpuSharesToWeight(cpu.shares)), `${P}/cpu/shares`);
  if (isSet(cpu.quota) || isSet(cpu.period)) {
    const current = readOptional(join(dir, 'cpu.max'));
    put('cpu.max', cpuMaxLine(cpu.quota, cpu.period, current), `${P}/cpu/${isSet(cpu.quota) ? 'quota' : 'period'}`);
  }
  if (cpu.burst !== undefined) put('cpu.max.burst', intText(cpu.burst), `${P}/cpu/burst`);
  if (cpu.idle !== undefined) put('cpu.idle', intText(cpu.idle), `${P}/cpu/idle`);
  if (isSet(cpu.realtimeRuntime) || isSet(cpu.realtimePeriod)) {
    warn(`${P}/cpu/realtimeRuntime and realtimePeriod are not enforced: cgroup v2 has no realtime cpu controller`);
  }
  if (cpu.cpus) put('cpuset.cpus', cpu.cpus, `${P}/cpu/cpus`);
  if (cpu.mems) put('cpuset.mems', cpu.mems, `${P}/cpu/mems`);
}

function applyMemory(mem: NonNullable<Resources['memory']>, put: Put, dir: string, warn: Warn): void {
  const limit = isSet(mem.limit) ? mem.limit : undefined;
  if (limit !== undefined) put('memory.max', v2Bytes(limit), `${P}/memory/limit`);
  // Lifting the memory limit lifts swap too, as on v1, unless swap is given.
  const swap = isSet(mem.swap) ? mem.swap : limit !== undefined && limit < 0 ? -1 : undefined;
  if (swap !== undefined) {
    const swapFile = join(dir, 'memory.swap.max');
    if (!fileExists(swapFile)) {
      if (swap >= 0) {
        throw new RuntimeError(CGROUP_ERROR, `cannot set ${P}/memory/swap: ${swapFile} does not exist (swap accounting is off or the memory controller is not enabled)`, {
          hint: 'drop memory.swap from config.json or enable swap accounting',
        });
      }
    } else {
      // For `update` with swap alone, the limit in force completes the sum.
      const inForce = limit ?? readNumber(join(dir, 'memory.max')) ?? -1;
      const value = v2SwapMax(swap, inForce);
      if (value === undefined) {
        throw new RuntimeError(CGROUP_ERROR, `cannot set ${P}/memory/swap: ${swap} is below the memory limit ${inForce < 0 ? 'max' : inForce} or the memory limit is unlimited`, {
          hint: 'swap counts memory plus swap, so it must be at least memory.limit',
        });
      }
      put('memory.swap.max', value, `${P}/memory/swap`);
    }
  }
  if (isSet(mem.reservation)) put('memory.low', v2Bytes(mem.reservation), `${P}/memory/reservation`);
  if (mem.swappiness !== undefined) warn(`${P}/memory/swappiness is not enforced: cgroup v2 has no per-cgroup swappiness`);
  if (mem.disableOOMKiller) warn(`${P}/memory/disableOOMKiller is not enforced: cgroup v2 cannot disable the OOM killer`);
  if (isSet(mem.kernel)) warn(`${P}/memory/kernel is ignored: kernel memory is part of memory.max on cgroup v2`);
  if (isSet(mem.kernelTCP)) warn(`${P}/memory/kernelTCP is ignored: tcp memory is part of memory.max on cgroup v2`);
  if (mem.useHierarchy === false) warn(`${P}/memory/useHierarchy false is ignored: cgroup v2 always accounts memory hierarchically`);
}

function applyIo(bio: NonNullable<Resources['blockIO']>, put: Put, dir: string, warn: Warn): void {
  // BFQ takes the v1 range (1-1000) as is; the iocost io.weight wants 1-10000.
  const bfq = fileExists(join(dir, 'io.bfq.weight'));
  const weightOf = (w: number) => String(bfq ? w : blkioWeightToIoWeight(w));
  const file = bfq ? 'io.bfq.weight' : 'io.weight';
  if (isSet(bio.weight)) put(file, `default ${weightOf(bio.weight)}`, `${P}/blockIO/weight`);
  (bio.weightDevice ?? []).forEach((d, i) => {
    if (isSet(d.weight)) put(file, `${d.major}:${d.minor} ${weightOf(d.weight)}`, `${P}/blockIO/weightDevice/${i}`);
  });
  if (isSet(bio.leafWeight) || (bio.weightDevice ?? []).some((d) => isSet(d.leafWeight))) {
    warn(`${P}/blockIO leaf weights are not enforced: cgroup v2 has no leaf weights`);
  }
  // The kernel takes one device per write.
  for (const line of ioMaxLines(bio)) put('io.max', line, `${P}/blockIO`);
}
