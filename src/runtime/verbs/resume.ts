// tsrun resume: not written yet.
import type { Context } from '../context.ts';
import { RuntimeError } from '../errors.ts';

export default async function resumeVerb(_ctx: Context): Promise<number> {
  throw new RuntimeError('ERR_UNSUPPORTED', 'tsrun resume is not implemented yet');
}
