// tsrun resume ID: thaws a paused container.
import { loadContainer, requireStatus } from '../container.ts';
import { positional, type Context } from '../context.ts';

export default async function resume(ctx: Context): Promise<number> {
  const id = positional(ctx, 0, 'a container id');
  const c = loadContainer(ctx, id);
  requireStatus(id, c.status, ['paused'], 'resume');
  c.cgroup().thaw();
  return 0;
}
