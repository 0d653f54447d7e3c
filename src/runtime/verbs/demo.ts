// tsrun demo: not written yet.
import type { Context } from '../context.ts';
import { RuntimeError } from '../errors.ts';

export default async function demoVerb(_ctx: Context): Promise<number> {
  throw new RuntimeError('ERR_UNSUPPORTED', 'tsrun demo is not implemented yet');
}
