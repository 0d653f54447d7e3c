// Which cgroup version the host runs, where each v1 hierarchy is mounted and
// which cgroup the calling process sits in. Read fresh on every call: the CLI
// is short-lived and another process may have changed the mounts.
import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { RuntimeError } from '../errors.ts';
import { CGROUP_ERROR, DEFAULT_CGROUP_PARENT, readText } from './fsio.ts';

export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';

/** v2 when the unified hierarchy is mounted at /sys/fs/cgroup itself; hybrid and legacy hosts are v1. */
export function detectCgroupVersion(): 1 | 2 {
  return existsSync(`${DEFAULT_CGROUP_ROOT}/cgroup.controllers`) ? 2 : 1;
}

export interface CgroupMount {
  mountPoint: string;
  /** The mount's root within its hierarchy ("/" unless bind-mounted from a subtree). */
  root: string;
  fsType: 'cgroup' | 'cgroup2';
  /** v1: controller names and "name=..." for named hierarchies. */
  controllers: string[];
}

// mountinfo escapes space, tab, newline and backslash as \ooo
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** cgroup and cgroup2 mounts, first mount of each hierarchy only (later ones are bind mounts). */
export function parseCgroupMounts(mountinfo: string, knownControllers: Set<string>): CgroupMount[] {
  const out: CgroupMount[] = [];
  const seen = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fsType = right[0];
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const root = unescapeOctal(left[3] ?? '/');
    const mountPoint = unescapeOctal(left[4] ?? '');
    const opts = (right[2] ?? '').split(',');
    const controllers = fsType === 'cgroup2' ? [] : opts.filter((o) => knownControllers.has(o) || o.startsWith('name='));
    const key = fsType === 'cgroup2' ? 'cgroup2' : [...controllers].sort().join(',');
    if (!mountPoint || seen.has(key) || (fsType === 'cgroup' && controllers.length === 0)) continue;
    seen.add(key);
    out.push({ mountPoint, root, fsType, controllers });
  }
  return out;
}

/** Controller names the kernel knows, from /proc/cgroups (v1 names; empty file on some v2-only kernels). */
function knownControllers(): Set<string> {
  const names = new Set<string>();
  let text = '';
  try {
    text = readFileSync('/proc/cgroups', 'utf8');
  } catch {
    // Without /proc/cgroups fall back to the usual set; a mount option that is not a
    // controller (rw, xattr) must not be mistaken for one.
    text = ['cpuset', 'cpu', 'cpuacct', 'blkio', 'memory', 'devices', 'freezer', 'net_cls', 'perf_event',
      'net_prio', 'hugetlb', 'pids', 'rdma', 'misc'].join('\n');
  }
  for (const line of text.split('\n')) {
    const name = line.split(/\s+/)[0];
    if (name && !name.startsWith('#')) names.add(name);
  }
  return names;
}

export function cgroupMounts(): CgroupMount[] {
  return parseCgroupMounts(readText('/proc/self/mountinfo'), knownControllers());
}

/**
 * The calling process's cgroup per hierarchy, from /proc/self/cgroup:
 * controller (or "name=systemd") → path; the v2 entry is under "".
 */
export function ownCgroups(text?: string): Map<string, string> {
  const out = new Map<string, string>();
  const body = text ?? readText('/proc/self/cgroup');
  for (const line of body.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const path = m[2] ?? '/';
    for (const c of (m[1] ?? '').split(',')) out.set(c, path);
  }
  return out;
}

/**
 * Normalises a cgroupsPath and refuses what would leave the hierarchy or hit
 * its root. Returns the path as used: "/a/b" absolute or "a/b" relative.
 */
export function normaliseCgroupsPath(cgroupsPath: string | undefined, id: string): string {
  const raw = cgroupsPath === undefined || cgroupsPath === '' ? `${DEFAULT_CGROUP_PARENT}/${id}` : cgroupsPath;
  if (!raw.startsWith('/') && /^[^/:]*:[^/:]*:[^/:]*$/.test(raw)) {
    throw new RuntimeError(CGROUP_ERROR, `/linux/cgroupsPath: ${JSON.stringify(raw)} is a systemd unit path`, {
      hint: 'tsrun has no systemd cgroup driver; use a path such as /tsrun/NAME',
    });
  }
  if (raw.split('/').includes('..')) {
    throw new RuntimeError(CGROUP_ERROR, `/linux/cgroupsPath: ${JSON.stringify(raw)} contains ".."`);
  }
  const absolute = raw.startsWith('/');
  const norm = posix.normalize(`/${raw}`).replace(/\/+$/, '');
  if (norm === '' || norm === '/') {
    throw new RuntimeError(CGROUP_ERROR, `/linux/cgroupsPath: ${JSON.stringify(raw)} names the root cgroup`);
  }
  return absolute ? norm : norm.slice(1);
}

/**
 * Directory of `cgroupsPath` in a hierarchy mounted at `mount`. Absolute paths
 * hang off the mount point; relative ones off the caller's own cgroup there
 * (as runc does), translated through the mount's root for bind mounts.
 */
export function hierarchyDir(mount: { mountPoint: string; root: string }, cgroupsPath: string, own: string | undefined): string {
  if (cgroupsPath.startsWith('/')) return posix.join(mount.mountPoint, cgroupsPath);
  let base = own ?? '/';
  if (mount.root !== '/' && (base === mount.root || base.startsWith(`${mount.root}/`))) base = base.slice(mount.root.length) || '/';
  return posix.join(mount.mountPoint, base, cgroupsPath);
}
