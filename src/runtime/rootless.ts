// Rootless: tsrun run by a non-root user (or with --rootless true). What such
// a caller may map, and how the maps get written: its own uid/gid alone
// directly (setgroups denied first, as the kernel requires of an unprivileged
// writer), anything more through newuidmap/newgidmap (Debian package uidmap)
// within its ranges in /etc/subuid and /etc/subgid. Everything is checked
// before anything is made, each refusal naming the field.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import type { Context } from './context.ts';
import { inUserNamespace } from './paths.ts';
import { RuntimeError } from './errors.ts';
import type { Config } from './oci-types.ts';
import type { IdMapping, IdmapWriter } from './userns-plan.ts';

/** --rootless true|false|auto (runc's): auto, the default, means "not root,
 *  or root only in a user namespace" (a rootless engine such as podman runs
 *  its runtime as root in a user namespace of its own). */
export function isRootless(ctx: Pick<Context, 'options'>): boolean {
  const v = ctx.options.rootless;
  if (v === 'true' || v === true) return true;
  if (v === 'false' || v === false) return false;
  return process.geteuid!() !== 0 || inUserNamespace();
}


/** Whether the caller can make these cgroup directories: the nearest existing
 *  ancestor of each is writable. */
export function canWriteCgroups(dirs: string[]): boolean {
  const writable = (dir: string): boolean => {
    for (let d = dir; ; d = dirname(d)) {
      if (existsSync(d)) {
        try {
          accessSync(d, constants.W_OK);
          return true;
        } catch {
          return false;
        }
      }
      if (d === '/') return false;
    }
  };
  return dirs.length > 0 && dirs.every(writable);
}

/** "name:start:count" (or "uid:start:count") lines of /etc/subuid or /etc/subgid for this user. */
export function subordinateRanges(text: string, name: string, id: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if ((who === name || who === String(id)) && /^\d+$/.test(start ?? '') && /^\d+$/.test(count ?? '')) out.push([Number(start), Number(count)]);
  }
  return out;
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function findTool(name: string): string | undefined {
  for (const dir of (process.env.PATH || '/usr/local/bin:/usr/bin:/bin').split(':').concat(['/usr/bin', '/usr/sbin'])) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * How a non-root caller's maps are written, or a RuntimeError naming the field
 * that cannot be: a range it does not own, or newuidmap missing.
 */
export function rootlessIdmapWriter(
  config: Config,
  ids = { uid: process.geteuid!(), gid: process.getegid!(), name: userInfo().username },
  env: { subids: (file: string) => string; tool: (name: string) => string | undefined } = { subids: readOr, tool: findTool },
): IdmapWriter | undefined {
  const userNs = config.linux?.namespaces?.find((n) => n.type === 'user');
  if (!userNs) {
    throw new RuntimeError('ERR_CONFIG', '/linux/namespaces: a rootless container needs a user namespace (add {"type": "user"} to linux.namespaces)', {
      hint: '`runc spec --rootless` writes such a config',
    });
  }
  if (userNs.path) return undefined; // joined: nothing to write
  const writer: IdmapWriter = { newuidmap: '', newgidmap: '', denySetgroups: false };
  const sides = [
    ['uidMappings', ids.uid, '/etc/subuid', 'newuidmap'],
    ['gidMappings', ids.gid, '/etc/subgid', 'newgidmap'],
  ] as const;
  for (const [field, own, subFile, tool] of sides) {
    const maps: IdMapping[] = config.linux?.[field] ?? [];
    const onlyOwn = maps.length === 1 && maps[0]!.hostID === own && maps[0]!.size === 1;
    if (onlyOwn) {
      if (field === 'gidMappings') writer.denySetgroups = true;
      continue;
    }
    const allowed: Array<[number, number]> = [[own, 1], ...subordinateRanges(env.subids(subFile), ids.name, own)];
    maps.forEach((m, i) => {
      const inside = allowed.some(([start, count]) => m.hostID >= start && m.hostID + m.size <= start + count);
      if (!inside) {
        const ranges = allowed.slice(1).map(([s, c]) => `${s}-${s + c - 1}`).join(', ') || 'none';
        throw new RuntimeError('ERR_CONFIG', `/linux/${field}/${i}: host ids ${m.hostID}-${m.hostID + m.size - 1} are not yours to map (yours: ${own}; ${subFile} gives ${ids.name}: ${ranges})`, {
          hint: `map only your own id, or add a range for ${ids.name} to ${subFile}`,
        });
      }
    });
    const path = env.tool(tool);
    if (!path) {
      throw new RuntimeError('ERR_CONFIG', `/linux/${field}: mapping more than your own id (${own}) needs ${tool}, which is not installed`, {
        hint: 'install the uidmap package (Debian), or map only your own id',
      });
    }
    writer[tool] = path;
  }
  return writer;
}

/** An id-mapped mount needs CAP_SYS_ADMIN over the source's filesystem: the host's root. */
export function refuseIdmappedMounts(config: Config): void {
  (config.mounts ?? []).forEach((m, i) => {
    if ((m.options ?? []).some((o) => o === 'idmap' || o === 'ridmap')) {
      throw new RuntimeError('ERR_CONFIG', `/mounts/${i}/options: an id-mapped mount needs root (the kernel wants CAP_SYS_ADMIN over the source's filesystem)`);
    }
  });
}
