// tsrun run [--detach] [--keep] ID: create + start. In the foreground tsrun
// stays: it forwards the signals it gets to the container's PID 1, exits with
// the container's status (128+N when killed by signal N) and deletes it unless
// --keep. The helper is the container's parent, so the status is exact.
import { positional, type Context } from '../context.ts';
import { createContainer } from '../create.ts';
import { forwardSignals } from '../forward-signals.ts';
import { createOptions } from './create.ts';
import { deleteContainer } from './delete.ts';
import { releaseBarrier } from './start.ts';

export default async function run(ctx: Context): Promise<number> {
  const id = positional(ctx, 0, 'a container id');
  const detach = ctx.options.detach === true;
  const created = await createContainer(ctx, id, createOptions(ctx, !detach));
  const stopForwarding = detach ? () => {} : forwardSignals(created.state.pid);
  try {
    await releaseBarrier(ctx, created.state);
  } catch (err) {
    await deleteContainer(ctx, id, true).catch(() => {});
    throw err;
  }
  if (detach) {
    created.helper.close();
    return 0;
  }
  const status = await created.helper.exited();
  stopForwarding();
  if (ctx.options.keep !== true) await deleteContainer(ctx, id, true);
  return status;
}
