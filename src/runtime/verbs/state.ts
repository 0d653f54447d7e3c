// tsrun state ID: the runtime-spec state object, status derived from live facts.
import { printOut } from '../cli/stdout.ts';
import { loadContainer } from '../container.ts';
import { positional, type Context } from '../context.ts';
import { creatingState, publicState, validateId } from '../state-store.ts';

export default async function state(ctx: Context): Promise<number> {
  const id = validateId(positional(ctx, 0, 'a container id'));
  const stored = ctx.store.load(id);
  if (!stored || stored.creator) {
    printOut(`${JSON.stringify(stored ? publicState(stored, 'creating') : creatingState(id), null, 2)}\n`);
    return 0;
  }
  const c = loadContainer(ctx, id);
  printOut(`${JSON.stringify(publicState(c.state, c.status), null, 2)}\n`);
  return 0;
}
