// What the resource demos observe outside the cgroup files: the host's CPUs
// and load average, the kernel log (/dev/kmsg, for the OOM killer's report)
// and `tsrun events` running in the background, as containerd's shim runs it.
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, readSync } from 'node:fs';
import { tsrunCommand } from '../runtime/paths.ts';
import type { Lab } from './lab.ts';

/** The CPUs of the host, as /proc/stat lists them (cpu0, cpu1...). */
export function hostCpuCount(): number {
  return readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d+ /.test(l)).length;
}

/** The host's /proc/loadavg: the three averages, and the runnable/total field. */
export function loadavg(text = readFileSync('/proc/loadavg', 'utf8')): { load1: number; load5: number; load15: number; runnable: number; tasks: number } {
  const [l1, l5, l15, rt] = text.trim().split(/\s+/);
  const [r, t] = (rt ?? '0/0').split('/');
  return { load1: Number(l1), load5: Number(l5), load15: Number(l15), runnable: Number(r), tasks: Number(t) };
}

/** The sequence number of the last record in the kernel log (/dev/kmsg), to read what comes after it. */
export function kernelLogCursor(): number {
  const recs = readKernelLog();
  return recs.length ? recs[recs.length - 1]!.seq : -1;
}

/** The kernel log records after `cursor` (kernelLogCursor()), continuation lines dropped. */
export function kernelLogSince(cursor: number): Array<{ seq: number; text: string }> {
  return readKernelLog().filter((r) => r.seq > cursor);
}

/** Every record /dev/kmsg still holds; [] when it cannot be read (no CAP_SYSLOG, dmesg_restrict). */
function readKernelLog(): Array<{ seq: number; text: string }> {
  const out: Array<{ seq: number; text: string }> = [];
  let fd: number;
  try {
    // O_NONBLOCK: a read at the end of the buffer would block otherwise. Each read returns one record.
    fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return out;
  }
  const buf = Buffer.alloc(16384);
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EPIPE') continue; // overwritten while we read: skip it
        break; // EAGAIN: the end
      }
      if (n <= 0) break;
      const rec = buf.subarray(0, n).toString('utf8');
      const semi = rec.indexOf(';');
      if (semi < 0) continue;
      const text = rec.slice(semi + 1).split('\n')[0]!.replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
      out.push({ seq: Number(rec.slice(0, semi).split(',')[1]), text });
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

export interface EventsWatch {
  /** Resolves at the first stats line: from then on every OOM kill is reported. */
  ready: Promise<void>;
  /** Resolves when `tsrun events` exits (the container stopped). */
  done: Promise<void>;
  /** The JSON lines printed so far. */
  lines(): Array<Record<string, unknown>>;
}

/**
 * `tsrun events --interval MS ID` in the background, as containerd's shim
 * runs it. It reads the OOM counter when it starts, so a kill counts only
 * once `ready` has resolved (its first stats line has come out).
 */
export function watchEvents(lab: Lab, id: string, intervalMs: number): EventsWatch {
  const child = spawn(tsrunCommand(), ['--root', lab.root, 'events', '--interval', `${intervalMs}ms`, id], { stdio: ['ignore', 'pipe', 'ignore'] });
  let text = '';
  let exited = false;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
    if (text.includes('\n')) markReady();
  });
  const done = new Promise<void>((resolve) => {
    child.on('exit', () => {
      exited = true;
      markReady();
      resolve();
    });
    child.on('error', () => resolve());
  });
  lab.onClose(() => {
    if (!exited && child.pid) process.kill(child.pid, 'SIGKILL');
  });
  return {
    ready,
    done,
    lines: () => text.split('\n').filter(Boolean).map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return { unparsed: l };
      }
    }),
  };
}
