// tsrun pause ID: freezes every process of a running container (freezer).
// `state` then says "paused": the status is read from the freezer.
import { loadContainer, requireStatus } from '../container.ts';
import { positional, type Context } from '../context.ts';

export default async function pause(ctx: Context): Promise<number> {
  const id = positional(ctx, 0, 'a container id');
  const c = loadContainer(ctx, id);
  requireStatus(id, c.status, ['running'], 'pause');
  c.cgroup().freeze();
  return 0;
}
