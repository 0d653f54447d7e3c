// tsrun hook network up|down [options]: the built-in OCI hooks. They read the
// container state on stdin and work under runc and crun as well.
import type { Context } from '../context.ts';
import { RuntimeError } from '../errors.ts';

export default async function hook(ctx: Context): Promise<number> {
  const [kind, ...args] = ctx.positionals;
  if (kind !== 'network') {
    throw new RuntimeError('ERR_USAGE', `unknown hook ${JSON.stringify(kind ?? '')}`, { hint: 'the built-in hook is "network": tsrun hook network up|down [options]' });
  }
  const { networkHookMain } = await import('../../hooks/network/cli.ts');
  return networkHookMain(args, process.stdin);
}
