// The user-namespace parts of the create plan (create-plan.ts): the order
// of namespaces, the step that creates a user namespace with its id maps
// (carried out by src/ns/nsexec-userns.c), the mounts that need a
// substitute inside one, and id-mapped mounts. Pure: no file system, no processes.
import { isAbsolute, resolve } from 'node:path';
import type { Config, Mount, Namespace } from './oci-types.ts';
import {
  MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_NOSYMFOLLOW, MS_RDONLY, MS_RELATIME, MS_STRICTATIME, parseMountOptions,
} from './validate/mount-options.ts';
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

// mount_setattr(2) attributes for the flags an id-mapped mount carries.
const MOUNT_ATTR: Array<[number, number]> = [
  [MS_RDONLY, 0x1], [MS_NOSUID, 0x2], [MS_NODEV, 0x4], [MS_NOEXEC, 0x8],
  [MS_NOATIME, 0x10], [MS_STRICTATIME, 0x20], [MS_NODIRATIME, 0x80], [MS_NOSYMFOLLOW, 0x200000],
];
const MOUNT_ATTR_ATIME = 0x70;

/** The maps an id-mapped mount uses: its own, or else the user namespace's. */
export function mountMaps(m: Mount, config: Config): { uid: IdMapping[]; gid: IdMapping[] } {
  return { uid: m.uidMappings ?? config.linux?.uidMappings ?? [], gid: m.gidMappings ?? config.linux?.gidMappings ?? [] };
}

/** The id-mapped mounts, in config order: [mount, index into the helper's table]. */
export function idmappedMounts(config: Config): Array<[Mount, number]> {
  return (config.mounts ?? []).filter((m) => parseMountOptions(m.options).idmap).map((m, i) => [m, i]);
}

/** Made by the helper as the host's root before any namespace step (nsexec-userns.c). */
export function idmapOpenSteps(config: Config, bundle: string): PlanStep[] {
  return idmappedMounts(config).map(([m, index]) => {
    const opts = parseMountOptions(m.options);
    const source = m.source && !isAbsolute(m.source) ? resolve(bundle, m.source) : m.source ?? '';
    let set = 0;
    for (const [flag, attr] of MOUNT_ATTR) if (opts.flags & flag) set |= attr;
    const clear = opts.flags & (MS_NOATIME | MS_STRICTATIME | MS_RELATIME) ? MOUNT_ATTR_ATIME : 0;
    const { uid, gid } = mountMaps(m, config);
    return step('idmap-open', [index, source, opts.recursive ? 1 : 0, opts.idmap === 'ridmap' ? 1 : 0, set, clear, mapText(uid), mapText(gid)], {
      what: `id-mapped mount of ${JSON.stringify(source)} for ${JSON.stringify(m.destination)}`,
    });
  });
}

export function idmapMoveStep(m: Mount, config: Config): PlanStep {
  const index = idmappedMounts(config).find(([x]) => x === m)![1];
  return step('idmap-move', [index, m.destination], { what: `mount id-mapped ${JSON.stringify(m.source)} on ${JSON.stringify(m.destination)}` });
}
