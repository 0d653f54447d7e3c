// The cgroup of a rootless container that has none: a non-root caller cannot
// write the host's cgroup hierarchies (only a delegated v2 subtree would do,
// which tsrun does not use yet). Limits are refused before anything is made
// (limitFields); device rules, which a container in a user namespace cannot
// use anyway (it may not mknod), are skipped with the one warning. The
// container's processes are found through its pid namespace instead.
import { readdirSync, readlinkSync } from 'node:fs';
import { RuntimeError } from '../errors.ts';
import type { Resources } from '../oci-types.ts';
import type { Cgroup, CgroupStats } from './types.ts';
import { cgroupMounts, detectCgroupVersion, hierarchyDir, ownCgroups } from './detect.ts';

/** The resource fields that ask for a limit (all but device rules), as JSON paths. */
export function limitFields(resources: Resources | undefined): string[] {
  const set = (v: unknown): boolean => v !== undefined && v !== null && !(typeof v === 'object' && Object.keys(v as object).length === 0);
  return Object.entries(resources ?? {}).filter(([k, v]) => k !== 'devices' && set(v)).map(([k]) => `/linux/resources/${k}`);
}

function unsupported(what: string): RuntimeError {
  return new RuntimeError('ERR_UNSUPPORTED', `${what} needs the container's cgroup, and this rootless container has none`, {
    hint: 'a non-root caller cannot write the host\'s cgroups; run as root',
  });
}

export class NoCgroup implements Cgroup {
  readonly version: 1 | 2;
  readonly path = '';
  readonly skipped = true;
  /** The caller's own cgroups, which a "cgroup" mount shows read-only. */
  readonly dirs: Record<string, string> = {};
  readonly #initPid: number | undefined;

  constructor(initPid?: number) {
    this.version = detectCgroupVersion();
    this.#initPid = initPid;
    const own = ownCgroups();
    for (const m of cgroupMounts()) {
      if (this.version === 1 && m.fsType === 'cgroup2') continue;
      const dir = hierarchyDir(m, '.', own.get(m.fsType === 'cgroup2' ? '' : (m.controllers[0] ?? '')));
      if (m.fsType === 'cgroup2') this.dirs.unified = dir;
      else for (const c of m.controllers) this.dirs[c] = dir;
    }
  }

  create(): void {}
  apply(resources: Resources | undefined): void {
    const fields = limitFields(resources);
    if (fields.length) throw unsupported(fields.join(', '));
  }
  update(): void {
    throw unsupported('update');
  }
  addProcess(): void {}
  /** The processes in the init's pid namespace (only the init without one of its own). */
  pids(): number[] {
    const pid = this.#initPid;
    if (!pid) return [];
    let ns: string;
    try {
      ns = readlinkSync(`/proc/${pid}/ns/pid`);
    } catch {
      return [];
    }
    if (ns === readlinkSync('/proc/self/ns/pid')) return [pid];
    const out: number[] = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (readlinkSync(`/proc/${name}/ns/pid`) === ns) out.push(Number(name));
      } catch {
        // gone, or not ours to look at
      }
    }
    return out.sort((a, b) => a - b);
  }
  freeze(): void {
    throw unsupported('pause');
  }
  thaw(): void {
    throw unsupported('resume');
  }
  isFrozen(): boolean {
    return false;
  }
  stats(): CgroupStats {
    throw unsupported('stats');
  }
  oomKills(): number {
    return 0;
  }
  warnings(): string[] {
    return [];
  }
  destroy(): void {}
}
