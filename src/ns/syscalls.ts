// Syscalls Node does not expose, called through ffi-rs on the main thread.
// Namespaces are per thread: unshare() here moves only the main thread, and
// every process Node spawns afterwards (libuv forks from the main thread)
// starts in the new namespaces. That is safe for the network, uts, ipc and
// mount namespaces; a user namespace or a setns into a mount namespace needs
// a single-threaded process and is tsrun-nsexec's job.
//
// Used by the demos and tests to build a private sandbox (a network namespace
// standing for the host, a private mount namespace) that the kernel removes
// when the process exits, so even a Ctrl-C leaves nothing behind.
import { closeSync, mkdtempSync, openSync, rmdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { RuntimeError } from '../runtime/errors.ts';
import { CLONE_FLAGS } from './clone-flags.ts';

export const MS_BIND = 0x1000;
export const MS_MOVE = 0x2000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 0x40000;

type Ffi = typeof import('ffi-rs');
let ffi: Ffi | undefined;

/** ffi-rs is a native addon: loaded on first use, never on a verb's hot path. */
async function libc(): Promise<Ffi> {
  if (!ffi) {
    // require, not import(): the bundle is compiled by boot.ts as a vm.Script,
    // which has no loader for a dynamic import.
    ffi = createRequire(import.meta.url)('ffi-rs') as Ffi;
    ffi.open({ library: 'libc', path: '' });
  }
  return ffi;
}

async function call(name: string, types: Array<'i32' | 'string' | 'i64'>, values: Array<number | string | null>): Promise<void> {
  const f = await libc();
  const map = { i32: f.DataType.I32, i64: f.DataType.I64, string: f.DataType.String };
  const result = f.load({
    library: 'libc',
    funcName: name,
    retType: f.DataType.I32,
    paramsType: types.map((t) => map[t]),
    paramsValue: values,
    errno: true,
  }) as unknown as { errnoCode: number; errnoMessage: string; value: number };
  if (result.value < 0) {
    throw new RuntimeError('ERR_SYSCALL', `${name}(${values.join(', ')}): ${result.errnoMessage.toLowerCase()}`, { errno: result.errnoCode });
  }
}

/** unshare(2) for the calling (main) thread; children spawned later inherit it. */
export function unshare(flags: number): Promise<void> {
  return call('unshare', ['i32'], [flags]);
}

/** setns(2) into a namespace by path, for the main thread (not for mount namespaces). */
export async function setns(path: string, nstype: number): Promise<void> {
  const fd = openSync(path, 'r');
  try {
    await call('setns', ['i32', 'i32'], [fd, nstype]);
  } finally {
    closeSync(fd);
  }
}

/** mount(2) with no data: enough for propagation changes and binds. */
export function mount(source: string, target: string, fstype: string, flags: number): Promise<void> {
  return call('mount', ['string', 'string', 'string', 'i64', 'i64'], [source, target, fstype, flags, 0]);
}

export function umount2(target: string, flags: number): Promise<void> {
  return call('umount2', ['string', 'i32'], [target, flags]);
}

/** A private network + mount namespace for this process and its future children:
 *  links, bridges, iptables rules and mounts made in it vanish when it exits. */
export async function enterSandbox(): Promise<void> {
  await unshare(CLONE_FLAGS.network! | CLONE_FLAGS.mount!);
  await mount('none', '/', '', MS_REC | MS_PRIVATE);
  // /sys/class/net shows the network namespace of whoever mounted sysfs, so a
  // fresh sysfs replaces /sys; the cgroup hierarchies under it are carried over.
  const fresh = mkdtempSync('/tmp/tsrun-sysfs-');
  await mount('sysfs', fresh, 'sysfs', 0);
  await mount('/sys/fs/cgroup', `${fresh}/fs/cgroup`, '', MS_BIND | MS_REC);
  await umount2('/sys', 2 /* MNT_DETACH */);
  await mount(fresh, '/sys', '', MS_MOVE);
  rmdirSync(fresh);
}
