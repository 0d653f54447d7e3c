// The one exclusive lock of a network state dir. Hooks of concurrently
// started containers are separate processes, so the lock is a file: its
// content ("pid starttime nonce") is written to a private temp file first and
// then hard-linked into place, so the lock never exists half-written.
//
// A lock whose owner is dead (pid gone, zombie, or pid reused: the start time
// differs) is stale. Breaking it is itself exclusive: only the process that
// creates the marker "lock.broken.<nonce>" with O_EXCL may unlink that lock,
// so two waiters can never both break it and then delete each other's fresh
// lock. Markers stay a while (a slow waiter that read the stale content long
// ago must still find them) and the next holder sweeps the old ones.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError, fromSystemError } from '../../runtime/errors.ts';
import { liveStartTime } from '../../runtime/proc-stat.ts';

const LOCK = 'lock';
const MARKER_ABANDONED_MS = 30_000;
const LEFTOVER_MS = 60_000;

/** Start time (clock ticks since boot) of a live, non-zombie process; null otherwise. */
export function processStartTime(pid: number): number | null {
  const start = Number(liveStartTime(pid) ?? Number.NaN);
  return Number.isFinite(start) ? start : null;
}

/** Whether `pid` still is the process that had `startTime` (pids get reused). */
export function isAlive(pid: number, startTime: number | undefined): boolean {
  const now = processStartTime(pid);
  return now !== null && (startTime === undefined || now === startTime);
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromSystemError('ERR_NET_LOCK', 'read lock', path, err);
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone: someone else cleaned up
  }
}

interface Owner {
  pid: number;
  start: number | undefined;
  nonce: string;
}

function parseOwner(content: string): Owner | null {
  const m = /^(\d+) (\d+|null) ([0-9a-f]+)\n?$/.exec(content);
  if (!m) return null;
  return { pid: Number(m[1]), start: m[2] === 'null' ? undefined : Number(m[2]), nonce: m[3] ?? '' };
}

function breakStale(dir: string, content: string, key: string): void {
  const marker = join(dir, `${LOCK}.broken.${key}`);
  try {
    closeSync(openSync(marker, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError('ERR_NET_LOCK', 'create', marker, err);
    // Another waiter is breaking this lock. If it died doing so, its marker
    // grows old while the stale lock stays: drop the marker to try again.
    try {
      if (Date.now() - statSync(marker).mtimeMs > MARKER_ABANDONED_MS && readOrNull(join(dir, LOCK)) === content) unlinkQuiet(marker);
    } catch {
      // the marker went away meanwhile
    }
    return;
  }
  if (readOrNull(join(dir, LOCK)) === content) unlinkQuiet(join(dir, LOCK));
}

function sweepLeftovers(dir: string, ownTmp: string): void {
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(`${LOCK}.`) || name === ownTmp) continue;
    const path = join(dir, name);
    const tmp = /^lock\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
    try {
      if (tmp ? !isAlive(Number(tmp[1]), undefined) : Date.now() - statSync(path).mtimeMs > LEFTOVER_MS) unlinkQuiet(path);
    } catch {
      // gone meanwhile
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Takes the lock of `dir` (created if missing); returns the token for release(). */
export async function acquire(dir: string, timeoutMs = 30_000): Promise<string> {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fromSystemError('ERR_NET_LOCK', 'create state dir', dir, err);
  }
  const nonce = randomBytes(8).toString('hex');
  const token = `${process.pid} ${processStartTime(process.pid)} ${nonce}\n`;
  const tmpName = `${LOCK}.${process.pid}.${nonce}.tmp`;
  const tmp = join(dir, tmpName);
  const path = join(dir, LOCK);
  try {
    writeFileSync(tmp, token, { mode: 0o600 });
  } catch (err) {
    throw fromSystemError('ERR_NET_LOCK', 'write', tmp, err);
  }
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        linkSync(tmp, path);
        sweepLeftovers(dir, tmpName);
        return token;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError('ERR_NET_LOCK', 'link lock', path, err);
      }
      const held = readOrNull(path);
      if (held === null) continue;
      const owner = parseOwner(held);
      if (!owner || !isAlive(owner.pid, owner.start)) {
        // Its owner is gone, or it is not a lock we wrote: markers are keyed
        // by the lock's nonce, or by a hash of content we cannot parse.
        const key = owner?.nonce ?? createHash('sha256').update(held).digest('hex').slice(0, 16);
        breakStale(dir, held, key);
        continue;
      }
      if (Date.now() > deadline) {
        throw new RuntimeError('ERR_NET_LOCK', `network state lock ${path}: still held by pid ${owner.pid} after ${timeoutMs} ms`, {
          hint: 'another network hook is running; if none is, remove the file',
          path,
        });
      }
      await sleep(5 + Math.random() * 20);
    }
  } finally {
    unlinkQuiet(tmp);
  }
}

export function release(dir: string, token: string): void {
  const path = join(dir, LOCK);
  if (readOrNull(path) === token) unlinkQuiet(path);
}

export async function withLock<T>(dir: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T> {
  const token = await acquire(dir, timeoutMs);
  try {
    return await fn();
  } finally {
    release(dir, token);
  }
}
