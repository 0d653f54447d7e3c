// Loading a container by id with its live status, shared by the verbs.
import { openCgroup } from './cgroups/index.ts';
import { NoCgroup } from './cgroups/none.ts';
import type { Cgroup } from './cgroups/types.ts';
import type { Context } from './context.ts';
import { RuntimeError } from './errors.ts';
import type { Status } from './oci-types.ts';
import { deriveStatus, type StoredState } from './state-store.ts';

export interface LiveContainer {
  state: StoredState;
  status: Status;
  cgroup: () => Cgroup;
}

export function loadContainer(ctx: Context, id: string): LiveContainer {
  const state = ctx.store.get(id);
  let cg: Cgroup | undefined;
  // An empty cgroupsPath: a rootless container without a cgroup (cgroups/none.ts).
  const cgroup = (): Cgroup => (cg ??= state.cgroupsPath === '' ? new NoCgroup(state.pid) : openCgroup(state.cgroupsPath, id));
  const status = deriveStatus(ctx.store, state, () => frozen(cgroup));
  return { state, status, cgroup };
}

function frozen(cgroup: () => Cgroup): boolean {
  try {
    return cgroup().isFrozen();
  } catch {
    return false;
  }
}

export function requireStatus(id: string, status: Status, allowed: Status[], action: string): void {
  if (allowed.includes(status)) return;
  throw new RuntimeError('ERR_STATUS', `cannot ${action} container ${JSON.stringify(id)}: it is ${status}${runcWords(status, allowed)}`);
}

/** runc's words for the same refusal, which engines match on: containerd's
 *  shim treats a kill or delete error as "already gone" only when it says
 *  "container not running" (or "does not exist"), and its stop then completes. */
function runcWords(status: Status, allowed: Status[]): string {
  if (status === 'stopped' || (status === 'created' && !allowed.includes('created'))) return ' (container not running)';
  if (allowed.length === 1 && allowed[0] === 'paused') return ' (container not paused)';
  return '';
}

