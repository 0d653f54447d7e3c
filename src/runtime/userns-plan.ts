// The user-namespace parts of the create plan (create-plan.ts): the order
// of namespaces, the step that creates a user namespace with its id maps
// (carried out by src/ns/nsexec-userns.c), and the mounts that need a
// substitute inside one. Pure: no file system, no processes.
import type { Config, Mount, Namespace } from './oci-types.ts';
import { step, type PlanStep } from '../ns/plan.ts';

export type IdMapping = { containerID: number; hostID: number; size: number };

/** How the maps are written: directly by a mapper in the parent namespace
 *  ("" = root, or a rootless caller mapping only itself, then setgroups is
 *  denied first as the kernel requires), or by newuidmap/newgidmap (paths). */
export interface IdmapWriter {
  newuidmap: string;
  newgidmap: string;
  denySetgroups: boolean;
}

const ROOT_WRITER: IdmapWriter = { newuidmap: '', newgidmap: '', denySetgroups: false };

/** 'new' (created with the config's maps), 'join' (by path), or undefined. */
export function userNamespaceOf(config: Config): 'new' | 'join' | undefined {
  const ns = config.linux?.namespaces?.find((n) => n.type === 'user');
  if (!ns) return undefined;
  return ns.path ? 'join' : 'new';
}

/** A joined user namespace last: the helper joins the others with the host's
 *  rights. Once inside the user namespace it has none over a process of a
 *  container that is created but not started (not dumpable, its memory still
 *  the host's), so /proc/PID/ns of such a process could not be opened. */
export function userLast(namespaces: Namespace[]): Namespace[] {
  return [...namespaces.filter((n) => n.type !== 'user'), ...namespaces.filter((n) => n.type === 'user')];
}

export function mapText(mappings: IdMapping[] | undefined): string {
  return (mappings ?? []).map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

export function userNamespaceStep(config: Config, writer: IdmapWriter = ROOT_WRITER): PlanStep {
  const uid = mapText(config.linux?.uidMappings), gid = mapText(config.linux?.gidMappings);
  return step('userns', [uid, gid, writer.denySetgroups ? 'deny' : '-', writer.newuidmap, writer.newgidmap], {
    what: `create user namespace (uidMappings ${uid.trim().replace(/\n/g, ', ')}; gidMappings ${gid.trim().replace(/\n/g, ', ')})`,
  });
}

/** Whether container id `id` is in one of the ranges. */
export function isMapped(mappings: IdMapping[] | undefined, id: number): boolean {
  return (mappings ?? []).some((m) => id >= m.containerID && id < m.containerID + m.size);
}

/**
 * A mount as it must be made inside a user namespace:
 * - devpts refuses gid=N when N is not mapped (a joined namespace's maps are
 *   not known here: the helper retries without gid then);
 * - a fresh sysfs needs a network namespace owned by the user namespace;
 *   sharing the host's, the host's /sys is bound read-only, as runc does (a
 *   joined network namespace's owner is not known here: the helper falls back).
 */
export function usernsMount(m: Mount, config: Config): Mount {
  const gids = config.linux?.gidMappings;
  if (m.type === 'devpts' && gids?.length) {
    const options = (m.options ?? []).filter((o) => {
      const g = /^gid=(\d+)$/.exec(o);
      return !g || isMapped(gids, Number(g[1]));
    });
    return { ...m, options };
  }
  if (m.type === 'sysfs' && !config.linux?.namespaces?.some((n) => n.type === 'network')) {
    const keep = (m.options ?? []).filter((o) => ['nosuid', 'nodev', 'noexec'].includes(o));
    return { destination: m.destination, type: 'bind', source: '/sys', options: ['rbind', 'ro', ...keep] };
  }
  return m;
}
