// Writes linux.resources into cgroup v1 hierarchies. Only the fields given
// are written, so the same code serves `create` and `tsrun update`.
import { join } from 'node:path';
import type { Resources } from '../oci-types.ts';
import { isRuntimeError, RuntimeError } from '../errors.ts';
import { CGROUP_ERROR, fileExists, intText, readNumber, writeValue } from './fsio.ts';
import {
  deviceRuleText, isSet, pidsMax, v1Bytes, v1MemswFirst, v1Quota, v1ThrottleLines,
} from './convert.ts';

const P = '/linux/resources';
type Warn = (message: string) => void;

function controllerDir(dirs: Record<string, string>, controller: string, field: string): string {
  const dir = dirs[controller];
  if (!dir) {
    throw new RuntimeError(CGROUP_ERROR, `cannot set ${field}: the ${controller} cgroup controller is not mounted`, {
      hint: `mount a cgroup v1 hierarchy with the ${controller} controller or drop ${field} from config.json`,
    });
  }
  return dir;
}

export function applyV1(dirs: Record<string, string>, r: Resources, warn: Warn): void {
  if (r.unified && Object.keys(r.unified).length > 0) {
    throw new RuntimeError(CGROUP_ERROR, `cannot set ${P}/unified: cgroup v2 files cannot be set on a cgroup v1 host`, {
      hint: 'translate the unified entries to their v1 fields or run on a cgroup v2 host',
    });
  }
  if (r.cpu) applyCpu(dirs, r.cpu);
  if (r.memory) applyMemory(dirs, r.memory, warn);
  if (r.pids) writeValue(join(controllerDir(dirs, 'pids', `${P}/pids`), 'pids.max'), pidsMax(r.pids.limit), { field: `${P}/pids/limit` });
  if (r.blockIO) applyBlkio(dirs, r.blockIO);
  if (r.hugepageLimits && r.hugepageLimits.length > 0) {
    const dir = controllerDir(dirs, 'hugetlb', `${P}/hugepageLimits`);
    r.hugepageLimits.forEach((h, i) => {
      writeValue(join(dir, `hugetlb.${h.pageSize}.limit_in_bytes`), intText(h.limit), {
        field: `${P}/hugepageLimits/${i}`,
        hint: `is ${h.pageSize} a huge page size this kernel supports? see /sys/kernel/mm/hugepages`,
      });
    });
  }
  if (r.devices) applyDevices(dirs, r.devices);
  if (r.network) applyNetwork(dirs, r.network);
}

/** net_cls tags the container's packets with a class id (for tc and
 *  iptables); net_prio sets their priority per interface. A host without
 *  those controllers mounted gets controllerDir's refusal, naming the field. */
function applyNetwork(dirs: Record<string, string>, net: NonNullable<Resources['network']>): void {
  if (net.classID !== undefined) {
    const dir = controllerDir(dirs, 'net_cls', `${P}/network/classID`);
    writeValue(join(dir, 'net_cls.classid'), String(net.classID), { field: `${P}/network/classID` });
  }
  (net.priorities ?? []).forEach((p, i) => {
    const dir = controllerDir(dirs, 'net_prio', `${P}/network/priorities`);
    writeValue(join(dir, 'net_prio.ifpriomap'), `${p.name} ${p.priority}`, {
      field: `${P}/network/priorities/${i}`,
      hint: `is ${JSON.stringify(p.name)} an interface name?`,
    });
  });
}

function applyCpu(dirs: Record<string, string>, cpu: NonNullable<Resources['cpu']>): void {
  const needsCpu = isSet(cpu.shares) || isSet(cpu.quota) || isSet(cpu.period) || cpu.burst !== undefined
    || isSet(cpu.realtimePeriod) || cpu.realtimeRuntime !== undefined || cpu.idle !== undefined;
  if (needsCpu) {
    const dir = controllerDir(dirs, 'cpu', `${P}/cpu`);
    const f = (name: string) => join(dir, name);
    if (isSet(cpu.shares)) writeValue(f('cpu.shares'), intText(cpu.shares), { field: `${P}/cpu/shares` });
    // A new period can be refused (EINVAL) while the old quota over the new
    // period would exceed the parent's bandwidth; the quota written next
    // fixes that, so the period is retried after it.
    let periodPending = false;
    if (isSet(cpu.period)) {
      try {
        writeValue(f('cpu.cfs_period_us'), intText(cpu.period), { field: `${P}/cpu/period` });
      } catch (err) {
        if (!(isRuntimeError(err) && err.errno === 22 && isSet(cpu.quota))) throw err;
        periodPending = true;
      }
    }
    if (isSet(cpu.quota)) writeValue(f('cpu.cfs_quota_us'), v1Quota(cpu.quota), { field: `${P}/cpu/quota` });
    if (periodPending && isSet(cpu.period)) writeValue(f('cpu.cfs_period_us'), intText(cpu.period), { field: `${P}/cpu/period` });
    if (cpu.burst !== undefined) writeValue(f('cpu.cfs_burst_us'), intText(cpu.burst), { field: `${P}/cpu/burst` });
    // The runtime must fit the period, so the period goes first.
    if (isSet(cpu.realtimePeriod)) writeValue(f('cpu.rt_period_us'), intText(cpu.realtimePeriod), { field: `${P}/cpu/realtimePeriod` });
    if (cpu.realtimeRuntime !== undefined) {
      writeValue(f('cpu.rt_runtime_us'), intText(cpu.realtimeRuntime), {
        field: `${P}/cpu/realtimeRuntime`,
        hint: 'every ancestor cgroup needs at least this much cpu.rt_runtime_us',
      });
    }
    if (cpu.idle !== undefined) writeValue(f('cpu.idle'), intText(cpu.idle), { field: `${P}/cpu/idle` });
  }
  if (cpu.cpus || cpu.mems) {
    const dir = controllerDir(dirs, 'cpuset', `${P}/cpu/${cpu.cpus ? 'cpus' : 'mems'}`);
    if (cpu.cpus) writeValue(join(dir, 'cpuset.cpus'), cpu.cpus, { field: `${P}/cpu/cpus` });
    if (cpu.mems) writeValue(join(dir, 'cpuset.mems'), cpu.mems, { field: `${P}/cpu/mems` });
  }
}

function applyMemory(dirs: Record<string, string>, mem: NonNullable<Resources['memory']>, warn: Warn): void {
  const dir = controllerDir(dirs, 'memory', `${P}/memory`);
  const f = (name: string) => join(dir, name);
  const limitFile = f('memory.limit_in_bytes');
  const memswFile = f('memory.memsw.limit_in_bytes');
  const hasMemsw = fileExists(memswFile);
  const limit = isSet(mem.limit) ? mem.limit : undefined;
  // Lifting the memory limit alone would be refused while memsw stays
  // below it, so an unlimited memory limit also lifts memory+swap.
  let swap = isSet(mem.swap) ? mem.swap : limit !== undefined && limit < 0 && hasMemsw ? -1 : undefined;
  if (swap !== undefined && !hasMemsw) {
    if (swap >= 0) {
      throw new RuntimeError(CGROUP_ERROR, `cannot set ${P}/memory/swap: ${memswFile} does not exist (swap accounting is off)`, {
        hint: 'boot the kernel with swapaccount=1 or drop memory.swap from config.json',
      });
    }
    swap = undefined; // unlimited is what a host without swap accounting already does
  }
  const writeLimit = (n: number) => writeValue(limitFile, v1Bytes(n), {
    field: `${P}/memory/limit`,
    ...(hasMemsw ? { hint: 'the memory limit cannot exceed memory.memsw.limit_in_bytes; set memory.swap as well' } : {}),
  });
  const writeSwap = (n: number) => writeValue(memswFile, v1Bytes(n), {
    field: `${P}/memory/swap`,
    hint: 'memory+swap cannot be below memory.limit_in_bytes',
  });
  if (limit !== undefined && swap !== undefined) {
    const current = readNumber(limitFile) ?? Number.MAX_SAFE_INTEGER;
    if (v1MemswFirst(current, swap)) {
      writeSwap(swap);
      writeLimit(limit);
    } else {
      writeLimit(limit);
      writeSwap(swap);
    }
  } else if (limit !== undefined) {
    writeLimit(limit);
  } else if (swap !== undefined) {
    writeSwap(swap);
  }
  if (isSet(mem.reservation)) writeValue(f('memory.soft_limit_in_bytes'), v1Bytes(mem.reservation), { field: `${P}/memory/reservation` });
  if (mem.swappiness !== undefined) writeValue(f('memory.swappiness'), intText(mem.swappiness), { field: `${P}/memory/swappiness` });
  if (mem.disableOOMKiller !== undefined) {
    writeValue(f('memory.oom_control'), mem.disableOOMKiller ? '1' : '0', { field: `${P}/memory/disableOOMKiller` });
  }
  if (isSet(mem.kernel)) warn(`${P}/memory/kernel is ignored: kernel memory limits are deprecated and not enforced by recent kernels`);
  if (isSet(mem.kernelTCP)) writeValue(f('memory.kmem.tcp.limit_in_bytes'), v1Bytes(mem.kernelTCP), { field: `${P}/memory/kernelTCP` });
  if (mem.useHierarchy === false) warn(`${P}/memory/useHierarchy false is ignored: the kernel always accounts memory hierarchically`);
}

function applyBlkio(dirs: Record<string, string>, bio: NonNullable<Resources['blockIO']>): void {
  const needs = isSet(bio.weight) || isSet(bio.leafWeight) || (bio.weightDevice?.length ?? 0) > 0
    || (bio.throttleReadBpsDevice?.length ?? 0) > 0 || (bio.throttleWriteBpsDevice?.length ?? 0) > 0
    || (bio.throttleReadIOPSDevice?.length ?? 0) > 0 || (bio.throttleWriteIOPSDevice?.length ?? 0) > 0;
  if (!needs) return;
  const dir = controllerDir(dirs, 'blkio', `${P}/blockIO`);
  // CFQ offered blkio.weight; with BFQ the same knob is blkio.bfq.weight; with
  // mq-deadline or none there is no proportional weight at all.
  const weightFile = (base: string, field: string): string => {
    for (const name of [`blkio.${base}`, `blkio.bfq.${base}`]) if (fileExists(join(dir, name))) return join(dir, name);
    throw new RuntimeError(CGROUP_ERROR, `cannot set ${field}: ${join(dir, `blkio.${base}`)} does not exist (nor blkio.bfq.${base})`, {
      hint: 'proportional io weights need the bfq io scheduler on the device; drop the weight or switch the scheduler',
    });
  };
  if (isSet(bio.weight)) writeValue(weightFile('weight', `${P}/blockIO/weight`), intText(bio.weight), { field: `${P}/blockIO/weight` });
  if (isSet(bio.leafWeight)) {
    writeValue(weightFile('leaf_weight', `${P}/blockIO/leafWeight`), intText(bio.leafWeight), { field: `${P}/blockIO/leafWeight` });
  }
  (bio.weightDevice ?? []).forEach((d, i) => {
    const field = `${P}/blockIO/weightDevice/${i}`;
    if (isSet(d.weight)) writeValue(weightFile('weight_device', field), `${d.major}:${d.minor} ${intText(d.weight)}`, { field });
    if (isSet(d.leafWeight)) writeValue(weightFile('leaf_weight_device', field), `${d.major}:${d.minor} ${intText(d.leafWeight)}`, { field });
  });
  const throttles = [
    ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
    ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
    ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
    ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
  ] as const;
  for (const [field, file] of throttles) {
    // The kernel takes one device per write.
    v1ThrottleLines(bio[field]).forEach((line, i) => {
      writeValue(join(dir, file), line, { field: `${P}/blockIO/${field}/${i}`, hint: 'throttles need a whole block device (not a partition) that exists' });
    });
  }
}

function applyDevices(dirs: Record<string, string>, rules: NonNullable<Resources['devices']>): void {
  const dir = controllerDir(dirs, 'devices', `${P}/devices`);
  // Start from nothing so the rules are the whole policy, then apply them in
  // order: later rules override earlier ones, as config-linux.md says.
  writeValue(join(dir, 'devices.deny'), 'a', { field: `${P}/devices` });
  rules.forEach((rule, i) => {
    const file = join(dir, rule.allow ? 'devices.allow' : 'devices.deny');
    writeValue(file, deviceRuleText(rule), { field: `${P}/devices/${i}` });
  });
}
