// tsrun create [--bundle DIR] [--pid-file F] [--console-socket S] [--no-pivot] [--preserve-fds N] ID
import { positional, stringOption, type Context } from '../context.ts';
import { createContainer, type CreateOptions } from '../create.ts';

export default async function create(ctx: Context): Promise<number> {
  const created = await createContainer(ctx, positional(ctx, 0, 'a container id'), createOptions(ctx, false));
  created.helper.close();
  return 0;
}

/** The options create and run share. */
export function createOptions(ctx: Context, monitor: boolean): CreateOptions {
  return {
    bundle: stringOption(ctx, 'bundle') ?? '.',
    pidFile: stringOption(ctx, 'pid-file'),
    consoleSocket: stringOption(ctx, 'console-socket'),
    noPivot: ctx.options['no-pivot'] === true,
    preserveFds: Number(ctx.options['preserve-fds'] ?? 0),
    monitor,
  };
}
