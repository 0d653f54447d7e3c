// Small synchronous file helpers for cgroupfs. Every failure becomes a
// RuntimeError that names the file, the value written and the errno, because
// a bare EINVAL from a cgroup write is useless without knowing which knob.
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmdirSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RuntimeError } from '../errors.ts';

export const CGROUP_ERROR = 'ERR_CGROUP';
/** Where containers without a cgroupsPath go: /tsrun/ID in every hierarchy. */
export const DEFAULT_CGROUP_PARENT = '/tsrun';

function errnoOf(err: unknown): { code: string; errno: number | undefined } {
  const e = err as NodeJS.ErrnoException;
  return { code: e?.code ?? String(e?.message ?? err), errno: typeof e?.errno === 'number' ? -e.errno : undefined };
}

export function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** Blocks the thread; the CLI is short-lived and has nothing else to do while the kernel settles. */
export function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Integers as decimal text: String(1e21) would print an exponent the kernel rejects. */
export function intText(n: number): string {
  return BigInt(Math.trunc(n)).toString();
}

export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw readError(file, err);
  }
}

/** The file's trimmed text, or undefined when the file (or its cgroup or controller) does not exist. */
export function readOptional(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    if (errCode(err) === 'ENOENT' || errCode(err) === 'ENODEV') return undefined;
    throw readError(file, err);
  }
}

function readError(file: string, err: unknown): RuntimeError {
  const { code, errno } = errnoOf(err);
  return new RuntimeError(CGROUP_ERROR, `read ${JSON.stringify(file)}: ${code.toLowerCase()}`, {
    op: 'read', path: file, errno, cause: err,
  });
}

/** A number from a single-value file; NaN-free: undefined when absent or not numeric ("max"). */
export function readNumber(file: string | undefined): number | undefined {
  const text = readOptional(file);
  if (text === undefined || !/^-?\d+$/.test(text)) return undefined;
  return Number(text);
}

/** "key value" lines (memory.stat, cpu.stat, memory.events, oom_control) as a map. */
export function readKeyed(file: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  const text = readOptional(file);
  if (text === undefined) return out;
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^-?\d+$/.test(value)) out.set(key, Number(value));
  }
  return out;
}

export interface WriteOptions {
  /** What to try, e.g. which controller must be enabled; a function picks by errno code. */
  hint?: string | ((code: string) => string | undefined);
  /** What the value configures, e.g. "/linux/resources/memory/limit". */
  field?: string;
}

/**
 * Writes one value in a single write(2); the error names field, file, value
 * and errno. No O_CREAT: kernfs answers a create with EACCES, which would hide
 * the real story (the file is missing because a controller is off).
 */
export function writeValue(file: string, value: string, opts: WriteOptions = {}): void {
  try {
    const fd = openSync(file, constants.O_WRONLY);
    try {
      writeSync(fd, value);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const { code, errno } = errnoOf(err);
    const what = opts.field ? `cannot set ${opts.field}: ` : '';
    const missing = code === 'ENOENT' ? ' (file does not exist)' : '';
    const hint = typeof opts.hint === 'function' ? opts.hint(code) : opts.hint;
    throw new RuntimeError(
      CGROUP_ERROR,
      `${what}write ${JSON.stringify(value)} to ${JSON.stringify(file)}: ${code.toLowerCase()}${missing}`,
      { op: 'write', path: file, errno, cause: err, ...(hint ? { hint } : {}) },
    );
  }
}

export function fileExists(file: string): boolean {
  return existsSync(file);
}

/** Direct child cgroups of a directory (empty when the directory is gone). */
export function childDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(dir, d.name));
  } catch (err) {
    if (errCode(err) === 'ENOENT') return [];
    throw readError(dir, err);
  }
}

/** Pids listed in cgroup.procs of a directory and all its descendants. */
export function collectPids(dir: string, into: Set<number>): void {
  const text = readOptional(join(dir, 'cgroup.procs'));
  if (text === undefined) return;
  for (const line of text.split('\n')) if (line) into.add(Number(line));
  for (const child of childDirs(dir)) collectPids(child, into);
}

/**
 * Removes a cgroup directory, children first. rmdir fails with EBUSY while
 * exiting tasks are still being unhooked from the cgroup, so retry briefly.
 */
export function removeTree(dir: string): void {
  for (const child of childDirs(dir)) removeTree(child);
  let delay = 5;
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      const code = errCode(err);
      if (code === 'ENOENT') return;
      if (code === 'EBUSY' && attempt < 12) {
        sleepMs(delay);
        delay = Math.min(delay * 2, 200);
        continue;
      }
      const { errno } = errnoOf(err);
      throw new RuntimeError(CGROUP_ERROR, `remove cgroup ${JSON.stringify(dir)}: ${String(code).toLowerCase()}`, {
        op: 'rmdir', path: dir, errno, cause: err,
        ...(code === 'EBUSY' ? { hint: 'processes are still in the cgroup; kill them first' } : {}),
      });
    }
  }
}

/** The parent of a default cgroupsPath ("/tsrun/ID") is shared by every such
 *  container; the last one out removes it, so no trace is left behind. */
export function removeEmptyParent(dir: string, cgroupsPath: string): void {
  if (dirname(cgroupsPath) !== DEFAULT_CGROUP_PARENT) return;
  try {
    rmdirSync(dirname(dir));
  } catch {
    // still used by another container, or gone already
  }
}

/**
 * Polls `done` with growing sleeps until it returns true or `timeoutMs`
 * passes; `nudge` runs every tenth round (e.g. to re-request a freeze).
 */
export function pollUntil(done: () => boolean, timeoutMs: number, nudge?: () => void): boolean {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (let round = 1; ; round++) {
    if (done()) return true;
    if (Date.now() >= deadline) return false;
    sleepMs(delay);
    delay = Math.min(delay * 2, 20);
    if (nudge && round % 10 === 0) nudge();
  }
}

/** mkdir -p. Once more on ENOENT: a concurrent destroy may have removed the
 *  shared default parent (see removeEmptyParent) between our two mkdirs. */
export function mkdirCgroup(dir: string): void {
  try {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err;
      mkdirSync(dir, { recursive: true });
    }
  } catch (err) {
    const code = errCode(err) ?? String(err);
    throw new RuntimeError(CGROUP_ERROR, `create cgroup ${JSON.stringify(dir)}: ${code.toLowerCase()}`, {
      op: 'mkdir', path: dir, cause: err,
      ...(code === 'EROFS' ? { hint: 'the cgroup filesystem is mounted read-only' } : {}),
    });
  }
}

export function writeProcs(dir: string, pid: number): void {
  writeValue(join(dir, 'cgroup.procs'), String(pid), {
    hint: (code) => ({
      ESRCH: `process ${pid} has exited`,
      ENOSPC: 'the cgroup has no cpus or memory nodes in cpuset.cpus/cpuset.mems',
      EBUSY: 'on cgroup v2 a cgroup whose children have controllers enabled cannot hold processes',
      ENOENT: 'the cgroup does not exist; was it created?',
    } as Record<string, string>)[code],
  });
}
