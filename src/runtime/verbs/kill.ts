// tsrun kill [--all] ID [SIGNAL]: TERM by default; names, SIG-names and numbers.
import { loadContainer, requireStatus } from '../container.ts';
import { positional, type Context } from '../context.ts';
import { RuntimeError } from '../errors.ts';
import { parseSignal } from '../signals.ts';

export default async function kill(ctx: Context): Promise<number> {
  const id = positional(ctx, 0, 'a container id');
  const signal = parseSignal(ctx.positionals[1] ?? 'TERM');
  const c = loadContainer(ctx, id);
  requireStatus(id, c.status, ['created', 'running', 'paused'], 'kill');
  if (ctx.options.all) {
    signalAll(c.cgroup().pids(), signal);
    // Frozen tasks act on SIGKILL only once thawed.
    if (signal === 9 && c.status === 'paused') c.cgroup().thaw();
    return 0;
  }
  try {
    process.kill(c.state.pid, signal);
  } catch (err) {
    throw new RuntimeError('ERR_KILL', `kill container ${JSON.stringify(id)} (pid ${c.state.pid}): ${(err as NodeJS.ErrnoException).code?.toLowerCase()}`);
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
