// Process identity from /proc/PID/stat. A pid alone can be reused; the pair
// (pid, start time) cannot, so every "is it still that process?" check
// compares start times.
import { readFileSync } from 'node:fs';

/** Field 22 (starttime, clock ticks since boot) of a live process, or null when it is gone or a zombie. */
export function liveStartTime(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name may contain spaces and parentheses: fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return null;
  return fields[19] ?? null;
}

/** Polls until the process is gone or a zombie (its parent may be slow to reap it). */
export function waitGone(pid: number, startTime: string, timeoutMs = 10_000): boolean {
  const deadline = Date.now() + timeoutMs;
  const view = new Int32Array(new SharedArrayBuffer(4));
  while (liveStartTime(pid) === startTime && startTime !== '') {
    if (Date.now() > deadline) return false;
    Atomics.wait(view, 0, 0, 2);
  }
  return true;
}
