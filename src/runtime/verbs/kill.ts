// tsrun kill [--all] ID [SIGNAL]: TERM by default; names, SIG-names and numbers.
// As runc: --all signals whatever is left in the container's cgroup even after
// its PID 1 has exited (containerd's shim sends `kill --all ID 9` after every
// exit), and signal 0 only tests that PID 1 is there.
import { loadContainer, requireStatus } from '../container.ts';
import { positional, type Context } from '../context.ts';
import { RuntimeError } from '../errors.ts';
import { parseSignal } from '../signals.ts';

export default async function kill(ctx: Context): Promise<number> {
  const id = positional(ctx, 0, 'a container id');
  const text = ctx.positionals[1] ?? 'TERM';
  const signal = text.trim() === '0' ? 0 : parseSignal(text);
  const c = loadContainer(ctx, id);
  if (ctx.options.all) {
    const cgroup = c.cgroup();
    const pids = cgroup.pids();
    signalAll(pids, signal);
    // Frozen tasks act on SIGKILL only once thawed.
    if (signal === 9 && pids.length > 0 && (c.status === 'paused' || c.status === 'stopped')) {
      try {
        cgroup.thaw();
      } catch {
        // the cgroup went with its last process
      }
    }
    return 0;
  }
  requireStatus(id, c.status, ['created', 'running', 'paused'], 'kill');
  try {
    process.kill(c.state.pid, signal);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // PID 1 exited between the status check and the signal: the same answer as a stopped container.
    const why = code === 'ESRCH' ? 'it is stopped (container not running: no such process)' : code?.toLowerCase();
    throw new RuntimeError('ERR_KILL', `cannot kill container ${JSON.stringify(id)} (pid ${c.state.pid}): ${why}`);
  }
  return 0;
}

export function signalAll(pids: number[], signal: number): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
  }
}
