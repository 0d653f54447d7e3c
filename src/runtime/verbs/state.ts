// tsrun state ID: the runtime-spec state object, status derived from live facts.
import { printOut } from '../cli/stdout.ts';
import { loadContainer } from '../container.ts';
import { positional, type Context } from '../context.ts';
import { OCI_VERSION } from '../oci-types.ts';
import { publicState, validateId } from '../state-store.ts';

export default async function state(ctx: Context): Promise<number> {
  const id = validateId(positional(ctx, 0, 'a container id'));
  const stored = ctx.store.load(id);
  if (!stored) {
    printOut(`${JSON.stringify({ ociVersion: OCI_VERSION, id, status: 'creating', pid: 0, bundle: '' }, null, 2)}\n`);
    return 0;
  }
  const c = loadContainer(ctx, id);
  printOut(`${JSON.stringify(publicState(c.state, c.status), null, 2)}\n`);
  return 0;
}
