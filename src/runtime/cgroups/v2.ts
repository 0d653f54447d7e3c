// cgroup v2: one directory in the unified hierarchy. Controllers only show
// their files in a cgroup once every ancestor lists them in
// cgroup.subtree_control, so create() enables them on the way down.
import { dirname, join, relative } from 'node:path';
import type { Resources } from '../oci-types.ts';
import { RuntimeError } from '../errors.ts';
import type { Cgroup, CgroupStats } from './types.ts';
import { hierarchyDir } from './detect.ts';
import {
  CGROUP_ERROR, collectPids, mkdirCgroup, pollUntil, readKeyed, readOptional, removeEmptyParent, removeTree, writeProcs, writeValue,
} from './fsio.ts';
import { resourceProblems, throwProblems } from './problems.ts';
import { applyV2 } from './resources-v2.ts';
import { statsV2 } from './stats.ts';

const FREEZE_TIMEOUT_MS = 5000;

export class CgroupV2 implements Cgroup {
  readonly version = 2 as const;
  readonly path: string;
  readonly dirs: Record<string, string>;
  readonly #root: string;
  readonly #dir: string;
  readonly #warnings: string[] = [];

  /** `mountRoot` is the mount's root within the hierarchy, for relative paths under a bind mount. */
  constructor(path: string, root: string, mountRoot: string, own: string | undefined) {
    this.path = path;
    this.#root = root;
    this.#dir = hierarchyDir({ mountPoint: root, root: mountRoot }, path, own);
    this.dirs = { unified: this.#dir };
  }

  create(): void {
    mkdirCgroup(this.#dir);
    let level = this.#root;
    for (const seg of relative(this.#root, dirname(this.#dir)).split('/').filter(Boolean)) {
      enableControllers(level);
      level = join(level, seg);
    }
    enableControllers(level);
  }

  apply(resources: Resources | undefined): void {
    if (!resources) return;
    throwProblems(resourceProblems(resources, 2, 'create'));
    applyV2(this.#dir, resources, (w) => this.#warnings.push(w));
  }

  update(resources: Resources): void {
    throwProblems(resourceProblems(resources, 2, 'update'));
    applyV2(this.#dir, resources, (w) => this.#warnings.push(w));
  }

  addProcess(pid: number): void {
    writeProcs(this.#dir, pid);
  }

  pids(): number[] {
    const all = new Set<number>();
    collectPids(this.#dir, all);
    return [...all].sort((a, b) => a - b);
  }

  freeze(): void {
    this.#setFrozen(true);
  }

  thaw(): void {
    this.#setFrozen(false);
  }

  isFrozen(): boolean {
    return readKeyed(join(this.#dir, 'cgroup.events')).get('frozen') === 1;
  }

  stats(): CgroupStats {
    return statsV2(this.#dir, () => this.pids().length);
  }

  oomKills(): number {
    return readKeyed(join(this.#dir, 'memory.events')).get('oom_kill') ?? 0;
  }

  warnings(): string[] {
    return [...this.#warnings];
  }

  destroy(): void {
    removeTree(this.#dir);
    removeEmptyParent(this.#dir, this.path);
  }

  #setFrozen(frozen: boolean): void {
    const file = join(this.#dir, 'cgroup.freeze');
    writeValue(file, frozen ? '1' : '0', { hint: 'cgroup.freeze needs Linux 5.2 or later and a non-root cgroup' });
    // cgroup.events turns "frozen 1" only when every task has stopped.
    const want = frozen ? 1 : 0;
    if (pollUntil(() => this.isFrozen() === frozen, FREEZE_TIMEOUT_MS)) return;
    if (frozen) writeValue(file, '0');
    throw new RuntimeError(CGROUP_ERROR, `${frozen ? 'freeze' : 'thaw'} ${JSON.stringify(this.#dir)}: cgroup.events did not report "frozen ${want}" within ${FREEZE_TIMEOUT_MS} ms`, {
      op: frozen ? 'freeze' : 'thaw',
      path: file,
      hint: frozen ? 'a process is stuck in the kernel; the cgroup was thawed again' : 'is a parent cgroup frozen?',
    });
  }
}

/**
 * Enables in `dir`'s subtree_control every controller it has available.
 * One write per controller so one refusal (e.g. cpu while a realtime task
 * lives here, or EBUSY when `dir` itself holds processes) does not block the
 * rest; a controller left off surfaces later as a missing file that apply()
 * reports with the subtree_control hint.
 */
function enableControllers(dir: string): void {
  const available = (readOptional(join(dir, 'cgroup.controllers')) ?? '').split(/\s+/).filter(Boolean);
  const enabled = new Set((readOptional(join(dir, 'cgroup.subtree_control')) ?? '').split(/\s+/));
  for (const c of available) {
    if (enabled.has(c)) continue;
    try {
      writeValue(join(dir, 'cgroup.subtree_control'), `+${c}`);
    } catch {
      // reported through the missing file when a limit needs it
    }
  }
}
