// The long-lived shim (`serve`, protocol in main.ts): the ttrpc server on the
// group's socket, the task service, the events publisher. It becomes a child
// subreaper, so a container's process outliving its helper still has the
// shim as its parent, and it ignores the signals of a terminal it no longer has.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { createLogger } from '../runtime/cli/log.ts';
import { Publisher } from './events.ts';
import type { ShimFlags } from './main.ts';
import { taskHandler } from './service.ts';
import { becomeSubreaper } from './syscalls.ts';
import { Tasks } from './task.ts';
import { serveTtrpc } from './ttrpc.ts';

export const DEFAULT_ROOT = '/run/containerd/tsrun';

export async function serve(flags: ShimFlags): Promise<number> {
  for (const sig of ['SIGINT', 'SIGHUP', 'SIGPIPE'] as const) process.on(sig, () => {});
  becomeSubreaper();
  const log = createLogger(undefined, 'text', flags.debug);
  const publisher = new Publisher(process.env.TTRPC_ADDRESS ?? '', flags.namespace, (m) => log.warn(m));
  const tasks = new Tasks(publisher, log);
  const server = createServer();
  let closing = false;
  const onIdle = (): void => {
    if (closing) return;
    closing = true;
    // Let the Shutdown reply go out first.
    setTimeout(async () => {
      server.close();
      rmSync(flags.socket, { force: true });
      await publisher.flush(2000);
      process.exit(0);
    }, 20);
  };
  serveTtrpc(server, taskHandler({ tasks, defaultRoot: join(DEFAULT_ROOT, flags.namespace), onIdle }));
  mkdirSync(dirname(flags.socket), { recursive: true, mode: 0o700 });
  rmSync(flags.socket, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(flags.socket, () => resolve());
  });
  chmodSync(flags.socket, 0o600);
  process.on('uncaughtException', (err) => log.error(`uncaught: ${err.stack ?? err.message}`));
  process.on('unhandledRejection', (err) => log.error(`unhandled rejection: ${(err as Error)?.stack ?? String(err)}`));
  process.stdout.write('ready\n');
  return -1; // keep serving
}
