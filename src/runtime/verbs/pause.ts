// tsrun pause: not written yet.
import type { Context } from '../context.ts';
import { RuntimeError } from '../errors.ts';

export default async function pauseVerb(_ctx: Context): Promise<number> {
  throw new RuntimeError('ERR_UNSUPPORTED', 'tsrun pause is not implemented yet');
}
