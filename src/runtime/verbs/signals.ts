// tsrun signals [--pid N] ID: what the container's PID 1 (or process N, by its
// pid inside the container) does with each signal, decoded from
// /proc/PID/status. Shows why `kill` does nothing to a shell as PID 1: SIGTERM
// is neither caught nor ignored, and the kernel drops it for a pid ns init.
// Each name carries its number, and the raw masks follow: in SigCgt, SigIgn,
// SigBlk and SigPnd signal N is bit N counted from 1 (bit 15 = SIGTERM =
// 0x4000), as the kernel's render_sigset_t prints them.
import { readdirSync, readFileSync } from 'node:fs';
import { loadContainer, requireStatus } from '../container.ts';
import { positional, type Context } from '../context.ts';
import { RuntimeError } from '../errors.ts';
import { decodeStatusSignals, parseSignal } from '../signals.ts';

const MASKS = ['SigCgt', 'SigIgn', 'SigBlk', 'SigPnd', 'ShdPnd'] as const;

export default async function signals(ctx: Context): Promise<number> {
  const id = positional(ctx, 0, 'a container id');
  const c = loadContainer(ctx, id);
  requireStatus(id, c.status, ['created', 'running', 'paused'], 'inspect');
  const inner = ctx.options.pid === undefined ? 1 : Number(ctx.options.pid);
  const hostPid = inner === 1 ? c.state.pid : hostPidOf(c.cgroup().pids(), inner);
  if (hostPid === undefined) throw new RuntimeError('ERR_NOT_FOUND', `no process with pid ${inner} in container ${JSON.stringify(id)}`);
  const status = readFileSync(`/proc/${hostPid}/status`, 'utf8');
  const name = /^Name:\s*(.*)$/m.exec(status)?.[1] ?? '?';
  const sets = decodeStatusSignals(status);
  const masks = Object.fromEntries(MASKS.map((m) => [m, new RegExp(`^${m}:\\s*([0-9a-fA-F]+)`, 'm').exec(status)?.[1] ?? '']));
  if (ctx.options.format === 'json') {
    process.stdout.write(`${JSON.stringify({ pid: inner, hostPid, name, ...sets, masks }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(`pid ${inner} in the container (host pid ${hostPid}, ${name})\n`);
  const rows: Array<[string, string[], string]> = [['caught', sets.caught, 'SigCgt'], ['ignored', sets.ignored, 'SigIgn'], ['blocked', sets.blocked, 'SigBlk'], ['pending', sets.pending, 'SigPnd']];
  for (const [label, list] of rows) process.stdout.write(`  ${label.padEnd(8)} ${list.length ? list.map(withNumber).join(' ') : '-'}\n`);
  process.stdout.write(`  raw masks from /proc/${hostPid}/status (signal N = bit N counted from 1: SIGTERM = bit 15 = 0x4000):\n`);
  for (const [label, , mask] of rows) process.stdout.write(`    ${mask} ${masks[mask]}  (${label})\n`);
  if (inner === 1 && !sets.caught.includes('SIGTERM') && !sets.ignored.includes('SIGTERM')) {
    process.stdout.write('  SIGTERM has no handler: as PID 1 of a pid namespace this process will not be stopped by it\n');
  }
  return 0;
}

/** The host pid whose innermost namespace pid (NSpid's last field) is `inner`. */
function hostPidOf(pids: number[], inner: number): number | undefined {
  const candidates = pids.length ? pids : readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number);
  for (const pid of candidates) {
    try {
      const nspid = /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim().split(/\s+/);
      if (nspid && Number(nspid[nspid.length - 1]) === inner && nspid.length > 1) return pid;
    } catch {
      // exited
    }
  }
  return undefined;
}

/** SIGTERM -> SIGTERM(15): the bit of the raw mask, counted from 1. */
function withNumber(name: string): string {
  try {
    return `${name}(${parseSignal(name)})`;
  } catch {
    return name;
  }
}
