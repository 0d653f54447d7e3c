// tsrun update: not written yet.
import type { Context } from '../context.ts';
import { RuntimeError } from '../errors.ts';

export default async function updateVerb(_ctx: Context): Promise<number> {
  throw new RuntimeError('ERR_UNSUPPORTED', 'tsrun update is not implemented yet');
}
