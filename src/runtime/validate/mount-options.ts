// Splits a config mount's `options` into what mount(2) takes: flags, the
// flags an option explicitly turned off (a remount must clear them), the
// propagation change (which the kernel only accepts in a mount call of its
// own, without other flags), and the filesystem-specific data string.
import { RuntimeError } from '../errors.ts';

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_SYNCHRONOUS = 16;
export const MS_REMOUNT = 32;
export const MS_MANDLOCK = 64;
export const MS_DIRSYNC = 128;
export const MS_NOSYMFOLLOW = 256;
export const MS_NOATIME = 1024;
export const MS_NODIRATIME = 2048;
export const MS_BIND = 4096;
export const MS_MOVE = 8192;
export const MS_REC = 16384;
export const MS_SILENT = 32768;
export const MS_UNBINDABLE = 1 << 17;
export const MS_PRIVATE = 1 << 18;
export const MS_SLAVE = 1 << 19;
export const MS_SHARED = 1 << 20;
export const MS_RELATIME = 1 << 21;
export const MS_I_VERSION = 1 << 23;
export const MS_STRICTATIME = 1 << 24;
export const MS_LAZYTIME = 1 << 25;

export interface MountOptions {
  /** Flags to pass to mount(2). */
  flags: number;
  /** Flags an option turned off (rw, suid, dev, exec, atime...). */
  clearFlags: number;
  /** MS_PRIVATE/MS_SHARED/MS_SLAVE/MS_UNBINDABLE, maybe | MS_REC; 0 for none. */
  propagation: number;
  /** Everything mount(8) would pass on to the filesystem, comma-joined. */
  data: string;
  bind: boolean;
  recursive: boolean;
  readonly: boolean;
  /** An id-mapped mount (userns-plan.ts): "idmap" (this mount) or "ridmap" (and those below it). */
  idmap: '' | 'idmap' | 'ridmap';
}

// [clear, flag]: `clear` options remove the flag instead of setting it.
const FLAG_OPTIONS = new Map<string, readonly [boolean, number]>(Object.entries({
  defaults: [false, 0],
  ro: [false, MS_RDONLY],
  rw: [true, MS_RDONLY],
  nosuid: [false, MS_NOSUID],
  suid: [true, MS_NOSUID],
  nodev: [false, MS_NODEV],
  dev: [true, MS_NODEV],
  noexec: [false, MS_NOEXEC],
  exec: [true, MS_NOEXEC],
  sync: [false, MS_SYNCHRONOUS],
  async: [true, MS_SYNCHRONOUS],
  dirsync: [false, MS_DIRSYNC],
  remount: [false, MS_REMOUNT],
  mand: [false, MS_MANDLOCK],
  nomand: [true, MS_MANDLOCK],
  atime: [true, MS_NOATIME],
  noatime: [false, MS_NOATIME],
  diratime: [true, MS_NODIRATIME],
  nodiratime: [false, MS_NODIRATIME],
  relatime: [false, MS_RELATIME],
  norelatime: [true, MS_RELATIME],
  strictatime: [false, MS_STRICTATIME],
  nostrictatime: [true, MS_STRICTATIME],
  lazytime: [false, MS_LAZYTIME],
  nolazytime: [true, MS_LAZYTIME],
  iversion: [false, MS_I_VERSION],
  noiversion: [true, MS_I_VERSION],
  symfollow: [true, MS_NOSYMFOLLOW],
  nosymfollow: [false, MS_NOSYMFOLLOW],
  silent: [false, MS_SILENT],
  loud: [true, MS_SILENT],
  bind: [false, MS_BIND],
  rbind: [false, MS_BIND | MS_REC],
} satisfies Record<string, readonly [boolean, number]>));

const PROPAGATION = new Map<string, number>(Object.entries({
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
}));

// runc options that need mount_setattr(2). Passed on
// as data they would be silently ignored by a bind mount (an "rro" mount
// left writable), so they are refused until implemented.
const UNSUPPORTED = /^(?:r(?:ro|rw|nosuid|suid|nodev|dev|noexec|exec|atime|noatime|diratime|nodiratime|relatime|norelatime|strictatime|nostrictatime|nosymfollow|symfollow)|tmpcopyup)$/;

/**
 * Parses a mount's options in order, later options winning over earlier ones
 * (`ro,rw` is read-write). When several propagation options are given the
 * last one is returned, since only one propagation type can be in effect.
 */
export function parseMountOptions(options: string[] | undefined): MountOptions {
  let flags = 0;
  let clearFlags = 0;
  let propagation = 0;
  let idmap: MountOptions['idmap'] = '';
  const data: string[] = [];
  for (const opt of options ?? []) {
    const flag = FLAG_OPTIONS.get(opt);
    if (flag) {
      const [clear, bits] = flag;
      if (clear) {
        flags &= ~bits;
        clearFlags |= bits;
      } else {
        flags |= bits;
        clearFlags &= ~bits;
      }
      continue;
    }
    const prop = PROPAGATION.get(opt);
    if (prop !== undefined) {
      propagation = prop;
      continue;
    }
    if (opt === 'idmap' || opt === 'ridmap') {
      idmap = opt;
      continue;
    }
    if (UNSUPPORTED.test(opt)) {
      throw new RuntimeError('ERR_CONFIG', `mount option ${JSON.stringify(opt)} is not supported`, {
        hint: 'recursive mount attributes and tmpcopyup are not implemented',
      });
    }
    if (opt !== '') data.push(opt);
  }
  return {
    flags,
    clearFlags,
    propagation,
    data: data.join(','),
    bind: (flags & MS_BIND) !== 0,
    recursive: (flags & MS_REC) !== 0,
    readonly: (flags & MS_RDONLY) !== 0,
    idmap,
  };
}

/**
 * linux.rootfsPropagation as mount(2) flags, applied to the container's / after
 * pivot_root. Like runc, an unset (or empty) value means MS_SLAVE|MS_REC: host
 * mounts still propagate in, but nothing the container mounts leaks out.
 */
export function rootfsPropagationFlags(name?: string): number {
  if (name === undefined || name === '') return MS_SLAVE | MS_REC;
  const flags = PROPAGATION.get(name);
  if (flags === undefined) {
    throw new RuntimeError('ERR_CONFIG', `/linux/rootfsPropagation: unknown propagation ${JSON.stringify(name)}`, {
      hint: `use one of ${[...PROPAGATION.keys()].join(', ')}`,
    });
  }
  return flags;
}

/**
 * How / of the new mount namespace is prepared before the rootfs bind, for a
 * given rootfsPropagation (flags from rootfsPropagationFlags). Two kernel rules
 * decide: pivot_root refuses a shared / or a shared parent of the new root
 * (EINVAL), and an unbindable mount cannot be bound (the rootfs bind). So:
 * - slave (the default): / recursively slave, as runc does;
 * - private, unbindable: / recursively private; unbindable is applied after
 *   pivot_root;
 * - shared: / itself private and the rootfs's own mount private, the rest
 *   left as unshare(2) copied it, so a bind of a shared host directory stays
 *   in the host's peer group (both ways, Kubernetes' Bidirectional); shared is
 *   applied after pivot_root.
 */
export function rootPreparation(flags: number): { root: number; privateRootfsMount: boolean } {
  if (flags & MS_SHARED) return { root: MS_PRIVATE, privateRootfsMount: true };
  if (flags & MS_SLAVE) return { root: MS_SLAVE | MS_REC, privateRootfsMount: false };
  return { root: MS_PRIVATE | MS_REC, privateRootfsMount: false };
}
