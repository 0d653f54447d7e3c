// Shared pieces of the benchmark: statistics, timing one command, waiting for
// a container's init to stop, and looking for leftovers.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readdirSync, readSync, rmSync, rmdirSync, statfsSync } from 'node:fs';

const TMPFS_MAGIC = 0x01021994;

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
 * Leftovers, one string per item: entries in the given state dirs, cgroup
 * directories whose name starts with idPrefix (any hierarchy visible from here,
 * down to /sys/fs/cgroup/CTRL/tsrun/ID and below), and live processes whose
 * command line mentions tmpDir. An empty list means clean.
 */
export function leftovers({ roots = [], idPrefix, tmpDir }) {
  const found = [];
  for (const root of roots) {
    for (const e of existsSync(root) ? readdirSync(root) : []) found.push(`state ${root}/${e}`);
  }
  if (idPrefix) {
    const cg = spawnSync('find', ['/sys/fs/cgroup', '-maxdepth', '5', '-type', 'd', '-name', `${idPrefix}*`], { encoding: 'utf8' }).stdout;
    for (const d of cg.split('\n').filter(Boolean)) {
      let tmpfs = false;
      try { tmpfs = statfsSync(d).type === TMPFS_MAGIC; } catch { /* gone meanwhile */ }
      found.push(tmpfs ? `directory on the /sys/fs/cgroup tmpfs (not a cgroup) ${d}` : `cgroup ${d}`);
    }
  }
  if (tmpDir) {
    const ps = spawnSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' }).stdout.split('\n');
    // zombies are the VM's PID 1's to reap, not ours
    for (const l of ps) if (l.includes(tmpDir) && !/^\s*\d+\s+Z/.test(l) && !l.includes(' ps -eo ')) found.push(`process ${l.trim()}`);
  }
  return found;
}

/**
 * Removes directories named idPrefix* under /sys/fs/cgroup, after they were
 * reported. With the cgroup2 mount hidden, crun mkdirs its "unified" cgroup
 * on the /sys/fs/cgroup tmpfs itself and never removes it; those are plain
 * directories and go with their contents. Real cgroups are only rmdir'ed
 * (which fails while they hold processes).
 */
export function removeStrayCgroupDirs(idPrefix) {
  const out = spawnSync('find', ['/sys/fs/cgroup', '-maxdepth', '5', '-depth', '-type', 'd', '-name', `${idPrefix}*`], { encoding: 'utf8' }).stdout;
  for (const d of out.split('\n').filter(Boolean)) {
    try {
      if (statfsSync(d).type === TMPFS_MAGIC) rmSync(d, { recursive: true, force: true });
      else rmdirSync(d);
    } catch { /* still reported as a leak */ }
  }
}
