// The long-lived shim (protocol in main.ts): the ttrpc server on the group's
// socket, the task service, the events publisher. It ignores the signals of
// a terminal it no longer has (start.ts then makes it a child subreaper).
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { createLogger } from '../runtime/cli/log.ts';
import { Publisher } from './events.ts';
import type { ShimFlags } from './flags.ts';
import { taskHandler } from './service.ts';
import { Tasks } from './task.ts';
import { serveTtrpc } from './ttrpc.ts';
import { canConnect } from './start.ts';

export const DEFAULT_ROOT = '/run/containerd/tsrun';

/** Resolves true once the socket listens (the process then serves until
 *  Shutdown), false when the group's daemon turned out to be another process. */
export async function serve(flags: ShimFlags, socket: string): Promise<boolean> {
  for (const sig of ['SIGINT', 'SIGHUP', 'SIGPIPE'] as const) process.on(sig, () => {});
  // SIGTERM: the socket goes with us; containerd then cleans the containers up through the delete action.
  process.on('SIGTERM', () => {
    rmSync(`${socket}.pid`, { force: true });
    rmSync(socket, { force: true });
    process.exit(143);
  });
  // Debug lines (each RPC with its duration, ms since start) go to BUNDLE/shim.log.
  const log = createLogger(undefined, 'text', flags.debug || process.env.TSRUN_SHIM_DEBUG === '1');
  const publisher = new Publisher(process.env.TTRPC_ADDRESS ?? '', flags.namespace, (m) => log.warn(m));
  const tasks = new Tasks(publisher, log);
  const server = createServer();
  let closing = false;
  const onIdle = (): void => {
    if (closing) return;
    closing = true;
    rmSync(`${socket}.pid`, { force: true }); // no new container joins from here on
    // Let the Shutdown reply go out first.
    setTimeout(async () => {
      server.close();
      rmSync(socket, { force: true });
      await publisher.flush(2000);
      (globalThis as { tsrunShimServed?: boolean }).tsrunShimServed = true; // boot.ts may write its code cache now
      process.exit(0);
    }, 20);
  };
  serveTtrpc(server, taskHandler({ tasks, defaultRoot: join(DEFAULT_ROOT, flags.namespace), onIdle }));
  mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
  if (!(await listen(server, socket))) return false;
  chmodSync(socket, 0o600);
  // For the launcher: a container of this group joins without a Node start.
  writeFileSync(`${socket}.pid`, String(process.pid));
  process.on('uncaughtException', (err) => log.error(`uncaught: ${err.stack ?? err.message}`));
  process.on('unhandledRejection', (err) => log.error(`unhandled rejection: ${(err as Error)?.stack ?? String(err)}`));
  log.debug('listening');
  return true;
}

/** Listens on the socket; false when another daemon of the group got there
 *  first (two containers of a pod started at once). A stale socket file is replaced. */
async function listen(server: Server, socket: string): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      server.once('error', resolve);
      server.listen(socket, () => {
        server.off('error', resolve);
        resolve(undefined);
      });
    });
    if (!err) return true;
    if (err.code !== 'EADDRINUSE' || attempt > 0) throw err;
    if (await canConnect(socket)) return false;
    rmSync(socket, { force: true });
  }
}
