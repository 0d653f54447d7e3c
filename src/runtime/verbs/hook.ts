// tsrun hook network up|down [options]: the built-in OCI hooks. They read the
// container state on stdin and work under runc and crun as well.
import type { Context } from '../context.ts';
import { RuntimeError } from '../errors.ts';
import { inUserNamespace } from '../paths.ts';

export default async function hook(ctx: Context): Promise<number> {
  const [kind, ...args] = ctx.positionals;
  if (kind !== 'network') {
    throw new RuntimeError('ERR_USAGE', `unknown hook ${JSON.stringify(kind ?? '')}`, { hint: 'the built-in hook is "network": tsrun hook network up|down [options]' });
  }
  if (process.geteuid!() !== 0 || inUserNamespace()) {
    throw new RuntimeError('ERR_UNSUPPORTED', 'tsrun hook network: needs root on the host (it makes veth pairs, a bridge and NAT rules there)', {
      hint: 'a rootless container has its own loopback only (keep its network namespace), or shares the host\'s network',
    });
  }
  const { networkHookMain } = await import('../../hooks/network/cli.ts');
  return networkHookMain(args, process.stdin);
}
