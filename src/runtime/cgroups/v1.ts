// cgroup v1: one directory per mounted hierarchy (co-mounted controllers such
// as cpu,cpuacct share one). On a hybrid host the path is mirrored in the
// controller-less cgroup2 hierarchy too, so tools that track processes there
// (systemd, `ps -o cgroup`) see the container; that mirror is best-effort.
import { join, relative } from 'node:path';
import type { Resources } from '../oci-types.ts';
import { isRuntimeError, RuntimeError } from '../errors.ts';
import type { Cgroup, CgroupStats } from './types.ts';
import type { CgroupMount } from './detect.ts';
import { hierarchyDir } from './detect.ts';
import {
  CGROUP_ERROR, collectPids, errCode, mkdirCgroup, pollUntil, readKeyed, readOptional, removeEmptyParent, removeTree, writeProcs, writeValue,
} from './fsio.ts';
import { resourceProblems, throwProblems } from './problems.ts';
import { applyV1 } from './resources-v1.ts';
import { statsV1 } from './stats.ts';

const FREEZE_TIMEOUT_MS = 5000;

export class CgroupV1 implements Cgroup {
  readonly version = 1 as const;
  readonly path: string;
  readonly dirs: Record<string, string> = {};
  readonly #mounts = new Map<string, CgroupMount>(); // dir → its hierarchy
  #mirror: string | undefined;
  readonly #warnings: string[] = [];

  constructor(path: string, mounts: CgroupMount[], own: Map<string, string>) {
    this.path = path;
    for (const m of mounts) {
      if (m.fsType === 'cgroup2') continue;
      const dir = hierarchyDir(m, path, own.get(m.controllers[0] ?? ''));
      this.#mounts.set(dir, m);
      for (const c of m.controllers) this.dirs[c] = dir;
    }
    const unified = mounts.find((m) => m.fsType === 'cgroup2');
    if (unified) {
      this.#mirror = hierarchyDir(unified, path, own.get(''));
      this.dirs.unified = this.#mirror;
    }
    if (this.#mounts.size === 0) {
      throw new RuntimeError(CGROUP_ERROR, 'no cgroup v1 hierarchy is mounted', {
        hint: 'mount the cgroup controllers under /sys/fs/cgroup',
      });
    }
  }

  /** Every distinct directory, the hybrid mirror last. */
  #allDirs(): string[] {
    return [...this.#mounts.keys(), ...(this.#mirror ? [this.#mirror] : [])];
  }

  create(): void {
    for (const dir of this.#mounts.keys()) mkdirCgroup(dir);
    const cpuset = this.dirs.cpuset;
    const mount = cpuset ? this.#mounts.get(cpuset) : undefined;
    if (cpuset && mount) fillCpuset(mount.mountPoint, cpuset);
    if (this.#mirror) {
      try {
        mkdirCgroup(this.#mirror);
      } catch (err) {
        this.#warnings.push(`cgroup v2 mirror ${this.#mirror} not created: ${(err as Error).message}`);
        delete this.dirs.unified;
        this.#mirror = undefined;
      }
    }
  }

  apply(resources: Resources | undefined): void {
    if (!resources) return;
    throwProblems(resourceProblems(resources, 1, 'create'));
    applyV1(this.dirs, resources, (w) => this.#warnings.push(w));
  }

  update(resources: Resources): void {
    throwProblems(resourceProblems(resources, 1, 'update'));
    applyV1(this.dirs, resources, (w) => this.#warnings.push(w));
  }

  addProcess(pid: number): void {
    for (const dir of this.#mounts.keys()) writeProcs(dir, pid);
    if (this.#mirror) {
      try {
        writeProcs(this.#mirror, pid);
      } catch {
        // The mirror only helps other tools find the container; the limits live in v1.
      }
    }
  }

  pids(): number[] {
    const all = new Set<number>();
    for (const dir of this.#allDirs()) collectPids(dir, all);
    return [...all].sort((a, b) => a - b);
  }

  freeze(): void {
    const file = this.#freezerState();
    writeValue(file, 'FROZEN');
    // Tasks in uninterruptible sleep can leave the state at FREEZING; writing
    // FROZEN again re-sends the freeze request to the stragglers.
    const ok = pollUntil(() => readOptional(file) === 'FROZEN', FREEZE_TIMEOUT_MS, () => writeValue(file, 'FROZEN'));
    if (!ok) {
      const state = readOptional(file);
      writeValue(file, 'THAWED');
      throw new RuntimeError(CGROUP_ERROR, `freeze ${JSON.stringify(file)}: still ${state} after ${FREEZE_TIMEOUT_MS} ms`, {
        op: 'freeze', path: file, hint: 'a process is stuck in the kernel; the cgroup was thawed again',
      });
    }
  }

  thaw(): void {
    const file = this.#freezerState();
    writeValue(file, 'THAWED');
    if (!pollUntil(() => readOptional(file) === 'THAWED', FREEZE_TIMEOUT_MS)) {
      throw new RuntimeError(CGROUP_ERROR, `thaw ${JSON.stringify(file)}: still ${readOptional(file)}`, {
        op: 'thaw', path: file, hint: 'is a parent cgroup frozen?',
      });
    }
  }

  isFrozen(): boolean {
    const dir = this.dirs.freezer;
    return dir !== undefined && readOptional(join(dir, 'freezer.state')) === 'FROZEN';
  }

  stats(): CgroupStats {
    return statsV1(this.dirs);
  }

  oomKills(): number {
    const dir = this.dirs.memory;
    return dir ? (readKeyed(join(dir, 'memory.oom_control')).get('oom_kill') ?? 0) : 0;
  }

  warnings(): string[] {
    return [...this.#warnings];
  }

  destroy(): void {
    for (const dir of this.#mounts.keys()) {
      removeTree(dir);
      removeEmptyParent(dir, this.path);
    }
    if (this.#mirror) {
      try {
        removeTree(this.#mirror);
        removeEmptyParent(this.#mirror, this.path);
      } catch (err) {
        if (!(isRuntimeError(err) && ['EROFS', 'EACCES', 'EPERM'].includes(errCode(err.cause) ?? ''))) throw err;
      }
    }
  }

  #freezerState(): string {
    const dir = this.dirs.freezer;
    if (!dir) {
      throw new RuntimeError(CGROUP_ERROR, 'cannot freeze: the freezer cgroup controller is not mounted', {
        hint: 'mount a cgroup v1 hierarchy with the freezer controller',
      });
    }
    return join(dir, 'freezer.state');
  }
}

/**
 * A new v1 cpuset cgroup starts with empty cpuset.cpus and cpuset.mems, and
 * a task cannot join a cgroup with no cpus (ENOSPC). Copy each level's
 * parent values down from the mount point to the leaf.
 */
function fillCpuset(mountPoint: string, leaf: string): void {
  let parent = mountPoint;
  for (const seg of relative(mountPoint, leaf).split('/').filter(Boolean)) {
    const dir = join(parent, seg);
    for (const name of ['cpuset.cpus', 'cpuset.mems']) {
      if (readOptional(join(dir, name)) === '') {
        writeValue(join(dir, name), readOptional(join(parent, name)) ?? '', { hint: `copying ${name} down from ${parent}` });
      }
    }
    parent = dir;
  }
}
