// Entry point: pick the cgroup version the host runs and open the container's
// cgroup there. Nothing is created until create() is called.
//
// cgroupsPath, as config-linux.md leaves the choice to the runtime:
//   undefined or ""  → "/tsrun/<id>"
//   "/a/b" (absolute) → /a/b below the root of every hierarchy
//   "a/b" (relative)  → a/b below the caller's own cgroup in each hierarchy
//                       (from /proc/self/cgroup), as runc does; on v2 the
//                       caller's cgroup then must hold no processes for
//                       controllers to be enabled below it
//   "slice:prefix:name" (systemd driver syntax) and paths with ".." are refused
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../errors.ts';
import type { Cgroup, OpenOptions } from './types.ts';
import { CGROUP_ERROR } from './fsio.ts';
import { DEFAULT_CGROUP_ROOT, cgroupMounts, detectCgroupVersion, normaliseCgroupsPath, ownCgroups } from './detect.ts';
import { CgroupV1 } from './v1.ts';
import { CgroupV2 } from './v2.ts';

export type { Cgroup, CgroupStats, OpenOptions } from './types.ts';
export { detectCgroupVersion } from './detect.ts';
export { resourceProblems } from './problems.ts';

export function openCgroup(cgroupsPath: string | undefined, id: string, opts: OpenOptions = {}): Cgroup {
  const path = normaliseCgroupsPath(cgroupsPath, id);
  const version = opts.forceVersion ?? detectCgroupVersion();
  const mounts = cgroupMounts();
  const own = ownCgroups();
  if (version === 1) return new CgroupV1(path, mounts, own);
  const root = (opts.v2Root ?? DEFAULT_CGROUP_ROOT).replace(/\/+$/, '') || '/';
  // Without this check a forced v2 on a v1 host would mkdir into the tmpfs at /sys/fs/cgroup.
  if (!existsSync(join(root, 'cgroup.controllers'))) {
    throw new RuntimeError(CGROUP_ERROR, `${root} is not a cgroup v2 hierarchy (no cgroup.controllers)`, {
      hint: 'mount cgroup2 there or let tsrun detect the cgroup version',
    });
  }
  const mount = mounts.find((m) => m.fsType === 'cgroup2' && m.mountPoint === root);
  return new CgroupV2(path, root, mount?.root ?? '/', own.get(''));
}
