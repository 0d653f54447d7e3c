// Checks on linux.resources that need no cgroup to exist, so `create` can
// refuse a bad config before it makes anything. Each problem names the field
// by its JSON pointer and says what is wrong with the value.
import type { Resources } from '../oci-types.ts';
import { RuntimeError } from '../errors.ts';
import { hugepageSize, isSet } from './convert.ts';
import { CGROUP_ERROR } from './fsio.ts';

const CPU_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;
const P = '/linux/resources';
// Core files whose writes would move processes or change the tree's shape.
const MANAGED = new Set(['cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control', 'cgroup.type', 'cgroup.freeze', 'cgroup.kill']);

/**
 * `mode` "update" is for `tsrun update`, where a swap value alone is fine
 * because the memory limit already in force completes it.
 */
export function resourceProblems(resources: Resources | undefined, version: 1 | 2, mode: 'create' | 'update' = 'create'): string[] {
  if (!resources) return [];
  const out: string[] = [];
  const mem = resources.memory;
  if (mem) {
    for (const key of ['limit', 'reservation', 'swap', 'kernel', 'kernelTCP'] as const) {
      const v = mem[key];
      if (v !== undefined && v < -1) out.push(`${P}/memory/${key}: ${v} is negative (use -1 for no limit)`);
    }
    const { limit, swap } = mem;
    if (isSet(swap) && swap > 0) {
      if (isSet(limit) && limit > 0 && swap < limit) {
        out.push(`${P}/memory/swap: ${swap} is below memory.limit ${limit} (swap counts memory plus swap)`);
      } else if (limit === -1) {
        out.push(`${P}/memory/swap: ${swap} cannot be enforced while memory.limit is -1 (unlimited)`);
      } else if (!isSet(limit) && mode === 'create') {
        out.push(`${P}/memory/swap: ${swap} needs memory.limit (swap counts memory plus swap)`);
      }
    }
    if (mem.checkBeforeUpdate === true) {
      out.push(`${P}/memory/checkBeforeUpdate: tsrun does not compare usage with a new limit (the kernel refuses a limit below usage with EBUSY on v1)`);
    }
    const sw = mem.swappiness;
    if (sw !== undefined && (sw < 0 || sw > 100 || !Number.isInteger(sw))) {
      out.push(`${P}/memory/swappiness: ${sw} is outside 0 to 100`);
    }
  }
  const cpu = resources.cpu;
  if (cpu) {
    if (isSet(cpu.quota) && cpu.quota > 0 && cpu.quota < 1000) {
      out.push(`${P}/cpu/quota: ${cpu.quota} is below the kernel minimum of 1000 microseconds`);
    }
    if (isSet(cpu.period) && (cpu.period < 1000 || cpu.period > 1_000_000)) {
      out.push(`${P}/cpu/period: ${cpu.period} is outside 1000 to 1000000 microseconds`);
    }
    for (const key of ['cpus', 'mems'] as const) {
      const v = cpu[key];
      if (v !== undefined && v !== '' && !CPU_LIST.test(v.replace(/\s/g, ''))) {
        out.push(`${P}/cpu/${key}: ${JSON.stringify(v)} is not a list such as "0-3,5"`);
      }
    }
    if (cpu.idle !== undefined && cpu.idle !== 0 && cpu.idle !== 1) {
      out.push(`${P}/cpu/idle: ${cpu.idle} is neither 0 nor 1`);
    }
  }
  const bio = resources.blockIO;
  if (bio) {
    const weight = (field: string, w: number | undefined) => {
      if (isSet(w) && (w < 10 || w > 1000)) out.push(`${P}/blockIO/${field}: ${w} is outside 10 to 1000`);
    };
    weight('weight', bio.weight);
    weight('leafWeight', bio.leafWeight);
    (bio.weightDevice ?? []).forEach((d, i) => {
      weight(`weightDevice/${i}/weight`, d.weight);
      weight(`weightDevice/${i}/leafWeight`, d.leafWeight);
    });
    for (const field of ['throttleReadBpsDevice', 'throttleWriteBpsDevice', 'throttleReadIOPSDevice', 'throttleWriteIOPSDevice'] as const) {
      (bio[field] ?? []).forEach((d, i) => {
        if (d.rate < 0) out.push(`${P}/blockIO/${field}/${i}/rate: ${d.rate} is negative`);
      });
    }
  }
  (resources.hugepageLimits ?? []).forEach((h, i) => {
    if (!hugepageSize(h.pageSize)) out.push(`${P}/hugepageLimits/${i}/pageSize: ${JSON.stringify(h.pageSize)} is not a size such as "2MB" or "1GB"`);
    if (h.limit < 0) out.push(`${P}/hugepageLimits/${i}/limit: ${h.limit} is negative`);
  });
  (resources.devices ?? []).forEach((d, i) => {
    if (d.type !== undefined && !['a', 'b', 'c'].includes(d.type)) out.push(`${P}/devices/${i}/type: ${JSON.stringify(d.type)} is not a, b or c`);
    if (d.access !== undefined && !/^[rwm]*$/.test(d.access)) out.push(`${P}/devices/${i}/access: ${JSON.stringify(d.access)} may only contain r, w and m`);
  });
  const net = resources.network;
  if (version === 2 && (net?.classID !== undefined || (net?.priorities ?? []).length > 0)) {
    out.push(`${P}/network: net_cls and net_prio are cgroup v1 controllers; cgroup v2 has none (use eBPF or nftables cgroup matching)`);
  }
  (net?.priorities ?? []).forEach((p, i) => {
    if (!/^[^\s/]{1,15}$/.test(p.name)) out.push(`${P}/network/priorities/${i}/name: ${JSON.stringify(p.name)} is not an interface name`);
  });
  const unified = resources.unified;
  if (unified && Object.keys(unified).length > 0) {
    if (version === 1) {
      out.push(`${P}/unified: cgroup v2 files cannot be set on a cgroup v1 host`);
    } else {
      for (const key of Object.keys(unified)) {
        if (!/^[a-z0-9_]+\.[A-Za-z0-9_.]+$/.test(key) || key.includes('..')) {
          out.push(`${P}/unified: ${JSON.stringify(key)} is not a cgroup file name such as "memory.high"`);
        } else if (MANAGED.has(key)) {
          out.push(`${P}/unified: ${JSON.stringify(key)} is managed by the runtime`);
        }
      }
    }
  }
  return out;
}

export function throwProblems(problems: string[]): void {
  if (problems.length === 0) return;
  throw new RuntimeError(CGROUP_ERROR, problems.join('; '), { op: 'validate' });
}
