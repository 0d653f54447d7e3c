// The few syscalls the shim needs that Node lacks, through ffi-rs (as
// src/ns/syscalls.ts does): mount/umount2 for the rootfs containerd passes,
// prctl(PR_SET_CHILD_SUBREAPER), and pipe2 for the pipes to a logging binary.
import { createRequire } from 'node:module';
import { RuntimeError } from '../runtime/errors.ts';

type Ffi = typeof import('ffi-rs');
let ffi: Ffi | undefined;

function libc(): Ffi {
  if (!ffi) {
    ffi = createRequire(import.meta.url)('ffi-rs') as Ffi;
    ffi.open({ library: 'libc', path: '' });
  }
  return ffi;
}

type Arg = { i32: number } | { i64: number } | { str: string | null };

/** Calls a libc function returning int; a negative result becomes {errno, message}. */
export function syscall(name: string, args: Arg[]): { ok: true } | { ok: false; errno: number; message: string } {
  const f = libc();
  const types = args.map((a) => ('i32' in a ? f.DataType.I32 : 'i64' in a ? f.DataType.I64 : f.DataType.String));
  const values = args.map((a) => ('i32' in a ? a.i32 : 'i64' in a ? a.i64 : a.str));
  const r = f.load({ library: 'libc', funcName: name, retType: f.DataType.I32, paramsType: types, paramsValue: values, errno: true }) as unknown as {
    errnoCode: number;
    errnoMessage: string;
    value: number;
  };
  return r.value < 0 ? { ok: false, errno: r.errnoCode, message: r.errnoMessage.toLowerCase() } : { ok: true };
}

export function mount(source: string, target: string, fstype: string, flags: number, data: string): void {
  const r = syscall('mount', [{ str: source }, { str: target }, { str: fstype }, { i64: flags }, { str: data || null }]);
  if (!r.ok) {
    throw new RuntimeError('ERR_MOUNT', `mount ${fstype || 'bind'} ${JSON.stringify(source)} on ${JSON.stringify(target)}: ${r.message}`, { errno: r.errno });
  }
}

const MNT_DETACH = 2;
const EINVAL = 22;
const ENOENT = 2;

/** Unmounts everything stacked on target; false when nothing was mounted there. */
export function unmountAll(target: string): boolean {
  let any = false;
  for (let i = 0; i < 64; i++) {
    const r = syscall('umount2', [{ str: target }, { i32: MNT_DETACH }]);
    if (!r.ok) {
      if (r.errno === EINVAL || r.errno === ENOENT) return any;
      throw new RuntimeError('ERR_MOUNT', `unmount ${JSON.stringify(target)}: ${r.message}`, { errno: r.errno });
    }
    any = true;
  }
  return any;
}

const PR_SET_CHILD_SUBREAPER = 36;

export function becomeSubreaper(): void {
  syscall('prctl', [{ i32: PR_SET_CHILD_SUBREAPER }, { i64: 1 }, { i64: 0 }, { i64: 0 }, { i64: 0 }]);
}

const O_CLOEXEC = 0o2000000;

/** pipe2(O_CLOEXEC): [read end, write end]. Close-on-exec, so neither end
 *  leaks into a process the shim spawns unless passed to it in its stdio
 *  (libuv dup2s those, which clears the flag on the child's copy only). */
export function pipe2(): [number, number] {
  const f = libc();
  const pair = f.arrayConstructor({ type: f.DataType.I32Array, length: 2 });
  const ptr = f.createPointer({ paramsType: [pair], paramsValue: [[-1, -1]] });
  try {
    const r = f.load({
      library: 'libc', funcName: 'pipe2', retType: f.DataType.I32, paramsType: [f.DataType.External, f.DataType.I32],
      paramsValue: [f.unwrapPointer(ptr)[0], O_CLOEXEC], errno: true,
    }) as unknown as { errnoCode: number; errnoMessage: string; value: number };
    if (r.value < 0) throw new RuntimeError('ERR_IO', `pipe2: ${r.errnoMessage.toLowerCase()}`, { errno: r.errnoCode });
    const [fds] = f.restorePointer({ retType: [pair], paramsValue: ptr }) as unknown as [[number, number]];
    return [fds[0], fds[1]];
  } finally {
    f.freePointer({ paramsType: [pair], paramsValue: ptr, pointerType: f.PointerType.RsPointer });
  }
}

const CLOSE_RANGE_CLOEXEC = 4;

/** Marks every fd from `first` up close-on-exec (close_range, Linux 5.11, as
 *  tsrun-nsexec uses it): fds the shim inherited without the flag (from
 *  whatever started containerd) then reach no process it spawns, libuv
 *  passing on any fd not so marked. */
export function cloexecFrom(first: number): void {
  const r = syscall('close_range', [{ i32: first }, { i32: -1 }, { i32: CLOSE_RANGE_CLOEXEC }]);
  if (!r.ok) throw new RuntimeError('ERR_IO', `close_range(${first}, ~0, CLOSE_RANGE_CLOEXEC): ${r.message}`, { errno: r.errno });
}
