// tsrun start ID: opens the start barrier. The container answers on the same
// connection: EOF means its program was exec'd; an error line means a
// startContainer hook or the exec failed, and the container is gone.
import { unlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import { loadContainer, requireStatus } from '../container.ts';
import { positional, type Context } from '../context.ts';
import { RuntimeError } from '../errors.ts';
import { hookState, type StoredState } from '../state-store.ts';
import { errnoText } from '../../ns/errno.ts';
import { runHooksIfAny } from '../../hooks/run-if-any.ts';

export default async function start(ctx: Context): Promise<number> {
  const id = positional(ctx, 0, 'a container id');
  const c = loadContainer(ctx, id);
  requireStatus(id, c.status, ['created'], 'start');
  await releaseBarrier(ctx, c.state);
  return 0;
}

export async function releaseBarrier(ctx: Context, state: StoredState): Promise<void> {
  const socket = ctx.store.startSocket(state.id);
  const reply = await new Promise<string>((resolve, reject) => {
    // sun_path holds 107 bytes; long --root paths are reached relative to the state dir.
    const path = socket.length < 100 ? socket : (process.chdir(ctx.store.dir(state.id)), 'start.sock');
    const conn = createConnection({ path });
    let data = '';
    conn.setEncoding('utf8');
    conn.on('connect', () => {
      try {
        unlinkSync(socket);
      } catch {
        // a concurrent start got there first; the container answers only one of us
      }
    });
    conn.on('data', (chunk: string) => (data += chunk));
    conn.on('end', () => resolve(data));
    conn.on('error', (err) => reject(new RuntimeError('ERR_START', `cannot start container ${JSON.stringify(state.id)}: ${err.message}`)));
  });
  if (reply.startsWith('error ')) {
    const m = /^error -?\d+ (\d+) (.*)$/.exec(reply.trim());
    const text = m?.[2] ?? reply.trim();
    const message = / hook #\d+ /.test(text) || text.startsWith('exec: ') ? text : `${text}: ${errnoText(Number(m?.[1] ?? 0))}`;
    throw new RuntimeError('ERR_START', `cannot start container ${JSON.stringify(state.id)}: ${message}`);
  }
  await runHooksIfAny('poststart', state.hooks?.poststart, hookState(state, 'running'), { mode: 'warn', warn: (l) => ctx.log.warn(l) });
}
