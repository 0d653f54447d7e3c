// tsrun features: not written yet.
import type { Context } from '../context.ts';
import { RuntimeError } from '../errors.ts';

export default async function featuresVerb(_ctx: Context): Promise<number> {
  throw new RuntimeError('ERR_UNSUPPORTED', 'tsrun features is not implemented yet');
}
