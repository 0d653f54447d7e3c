// Shared pieces of the benchmark: statistics, timing one command, waiting for
// a container's init to stop, and looking for leftovers.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readdirSync, readSync } from 'node:fs';

export const median = (xs) => quantile(xs, 0.5);

/** Linear interpolation between order statistics; NaN for an empty list. */
export function quantile(xs, q) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export function summary(xs) {
  return { n: xs.length, median: median(xs), p25: quantile(xs, 0.25), p75: quantile(xs, 0.75), min: Math.min(...xs), max: Math.max(...xs) };
}

export const round = (x, digits = 2) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

const cell = new Int32Array(new SharedArrayBuffer(4));
/** A synchronous sleep: the timed loops are synchronous so nothing else runs between samples. */
export const sleepSync = (ms) => Atomics.wait(cell, 0, 0, ms);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Stderr of every runtime call goes to one append-only file, not a pipe: a
 * detached container inherits the runtime's stdio, and spawnSync would wait
 * for a pipe to close, i.e. for the container to exit. On failure the bytes
 * written since the call started are the error message.
 */
export class ErrLog {
  constructor(path) {
    this.path = path;
    this.fd = openSync(path, 'a+');
  }
  mark() {
    return fstatSync(this.fd).size;
  }
  since(mark) {
    const size = fstatSync(this.fd).size;
    const buf = Buffer.alloc(Math.min(size - mark, 4000));
    if (buf.length > 0) readSync(this.fd, buf, 0, buf.length, mark);
    return buf.toString('utf8').trim();
  }
  close() {
    closeSync(this.fd);
  }
}

export class CommandError extends Error {}

/** Runs argv to completion and returns the wall time in ms (hrtime around spawnSync). */
export function timed(errlog, argv, { capture = false } = {}) {
  const mark = errlog.mark();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', capture ? 'pipe' : 'ignore', errlog.fd], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) {
    const why = r.error?.message ?? errlog.since(mark) ?? '';
    throw new CommandError(`${argv.join(' ')}: ${r.signal ? `signal ${r.signal}` : `exit ${r.status}`}: ${why}`);
  }
  return { ms, stdout: r.stdout };
}

/** The async twin of timed(), for the concurrency test; resolves to an error string or undefined. */
export function runAsync(errlog, argv) {
  return new Promise((resolve) => {
    const mark = errlog.mark();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', errlog.fd] });
    child.on('error', (e) => resolve(`${argv.join(' ')}: ${e.message}`));
    child.on('exit', (code, signal) =>
      resolve(code === 0 ? undefined : `${argv.join(' ')}: ${signal ?? `exit ${code}`}: ${errlog.since(mark)}`));
  });
}

export function readPid(pidFile) {
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new CommandError(`${pidFile}: no pid`);
  return pid;
}

/** Stopped = gone or a zombie. This VM's PID 1 reaps orphans only every second
 *  or two, and every runtime's state verb also calls a zombie init stopped. */
export function isStopped(pid) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true;
  }
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
}

/** Polls /proc every 0.5 ms: the same waiting method for every runtime. */
export function waitStoppedSync(pid, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (!isStopped(pid)) {
    if (Date.now() > end) throw new CommandError(`pid ${pid} still running after ${timeoutMs} ms`);
    sleepSync(0.5);
  }
}

export async function waitStopped(pid, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (!isStopped(pid)) {
    if (Date.now() > end) throw new CommandError(`pid ${pid} still running after ${timeoutMs} ms`);
    await sleep(2);
  }
}

/**
 * Leftovers of containers whose ids start with idPrefix: entries in the
 * runtimes' state dirs, cgroup directories (any hierarchy visible from here,
 * any depth up to /sys/fs/cgroup/CTRL/tsrun/ID) and processes that mention the
 * bench's temp dir. An empty list means clean.
 */
export function leftovers({ roots = [], idPrefix, tmpDir }) {
  const found = [];
  for (const root of roots) {
    const left = existsSync(root) ? readdirSync(root) : [];
    if (left.length) found.push(`state dir ${root}: ${left.join(' ')}`);
  }
  const cg = spawnSync('find', ['/sys/fs/cgroup', '-maxdepth', '5', '-type', 'd', '-name', `${idPrefix}*`], { encoding: 'utf8' }).stdout.trim();
  if (cg) found.push(`cgroups: ${cg.split('\n').join(' ')}`);
  if (tmpDir) {
    const ps = spawnSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' }).stdout.split('\n');
    // zombies are the VM's PID 1's to reap, not ours
    const procs = ps.filter((l) => l.includes(tmpDir) && !/^\s*\d+\s+Z/.test(l));
    if (procs.length) found.push(`processes: ${procs.map((l) => l.trim()).join('; ')}`);
  }
  return found;
}
