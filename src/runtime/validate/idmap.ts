// Id mappings (linux.uidMappings/gidMappings, and a mount's own for an
// id-mapped mount) as the kernel will take them (user_namespaces(7),
// kernel/user_namespace.c map_write): at most 340 ranges, none empty, none
// reaching id 4294967295 ((uid_t)-1 is never an id), and no two overlapping
// on the container side or on the host side. Checked before anything is made.
import type { Config, Mount } from '../oci-types.ts';
import { parseMountOptions } from './mount-options.ts';

export const MAX_ID_RANGES = 340;
const LAST_ID_END = 0xffffffff; // containerID + size may reach this, not pass it

interface Range { containerID: number; hostID: number; size: number }

/** Problems of one list of ranges at JSON path `at`, each "<path>: <reason>". */
export function mappingProblems(ranges: unknown, at: string): string[] {
  if (!Array.isArray(ranges)) return [];
  const problems: string[] = [];
  if (ranges.length > MAX_ID_RANGES) problems.push(`${at}: ${ranges.length} ranges, the kernel accepts at most ${MAX_ID_RANGES}`);
  const ok: Array<[Range, number]> = [];
  ranges.forEach((r: Range, i) => {
    const p = `${at}/${i}`;
    if (typeof r?.containerID !== 'number' || typeof r.hostID !== 'number' || typeof r.size !== 'number') return; // the schema says why
    if (r.size < 1) {
      problems.push(`${p}/size: an id range must not be empty (size 0)`);
      return;
    }
    let bad = false;
    for (const side of ['containerID', 'hostID'] as const) {
      if (r[side] + r.size > LAST_ID_END) {
        problems.push(`${p}: ${side} ${r[side]} + size ${r.size} goes past the last id 4294967294`);
        bad = true;
      }
    }
    if (bad) return;
    for (const [o, j] of ok) {
      for (const side of ['containerID', 'hostID'] as const) {
        if (r[side] < o[side] + o.size && o[side] < r[side] + r.size) {
          problems.push(`${p}: ${side} range ${r[side]}-${r[side] + r.size - 1} overlaps ${at}/${j} (${o[side]}-${o[side] + o.size - 1})`);
        }
      }
    }
    ok.push([r, i]);
  });
  return problems;
}

/** The config's user namespace mappings and every mount's own. */
export function idmapProblems(config: Config): string[] {
  const problems = [
    ...mappingProblems(config.linux?.uidMappings, '/linux/uidMappings'),
    ...mappingProblems(config.linux?.gidMappings, '/linux/gidMappings'),
  ];
  (Array.isArray(config.mounts) ? config.mounts : []).forEach((m, i) => {
    problems.push(...mappingProblems(m?.uidMappings, `/mounts/${i}/uidMappings`), ...mappingProblems(m?.gidMappings, `/mounts/${i}/gidMappings`));
    problems.push(...idmappedMountProblems(m, i, config));
  });
  return problems;
}

/** An id-mapped mount is a bind mount with maps to use, and maps on a mount ask for one. */
function idmappedMountProblems(m: Mount, i: number, config: Config): string[] {
  let opts;
  try {
    opts = parseMountOptions(Array.isArray(m?.options) ? m.options : []);
  } catch {
    return []; // the mount-option check says why
  }
  const own = (m?.uidMappings?.length ?? 0) + (m?.gidMappings?.length ?? 0) > 0;
  if (!opts.idmap) return own ? [`/mounts/${i}/uidMappings: a mount's own id mappings need the "idmap" or "ridmap" option`] : [];
  const problems: string[] = [];
  if (!opts.bind && m?.type !== 'bind') problems.push(`/mounts/${i}/options: "${opts.idmap}" needs a bind mount (tsrun id-maps bind mounts only)`);
  for (const field of ['uidMappings', 'gidMappings'] as const) {
    if (!(m?.[field]?.length || config.linux?.[field]?.length)) {
      problems.push(`/mounts/${i}/${field}: "${opts.idmap}" needs id mappings, the mount's own or /linux/${field}`);
    }
  }
  return problems;
}
