// The long-lived shim (protocol in main.ts): the ttrpc server on the group's
// socket, the task service, the events publisher. It ignores the signals of
// a terminal it no longer has (start.ts then makes it a child subreaper).
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { createLogger } from '../runtime/cli/log.ts';
import { Publisher } from './events.ts';
import type { ShimFlags } from './flags.ts';
import { taskHandler } from './service.ts';
import { Tasks } from './task.ts';
import { ShimLog } from './shim-log.ts';
import { serveTtrpc } from './ttrpc.ts';
import { canConnect } from './start.ts';

export const DEFAULT_ROOT = '/run/containerd/tsrun';
/** How long a namespace's shim waits for the next container after its last
 *  one is gone: TSRUN_SHIM_IDLE in containerd's environment, in seconds (0:
 *  exit at once, as a pod's shim does). */
export const DEFAULT_IDLE_SECONDS = 60;
/** After the idle time: no new container joins (the pid file is gone), but
 *  one whose launcher read the pid file just before is still served. */
const GRACE_MS = 2000;

export function idleMs(env: NodeJS.ProcessEnv): number {
  const raw = env.TSRUN_SHIM_IDLE;
  const seconds = raw === undefined || raw === '' ? DEFAULT_IDLE_SECONDS : Number(raw);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, 86400) * 1000 : DEFAULT_IDLE_SECONDS * 1000;
}

/** Resolves true once the socket listens (the process then serves until
 *  Shutdown), false when the group's daemon turned out to be another process.
 *  `lingers`: the namespace's shim, which stays idle for a while (see idleMs). */
export async function serve(flags: ShimFlags, socket: string, lingers: boolean): Promise<boolean> {
  for (const sig of ['SIGINT', 'SIGHUP', 'SIGPIPE'] as const) process.on(sig, () => {});
  // SIGTERM: the socket goes with us; containerd then cleans the containers up through the delete action.
  process.on('SIGTERM', () => {
    rmSync(`${socket}.pid`, { force: true });
    rmSync(socket, { force: true });
    process.exit(143);
  });
  // Log lines (with TSRUN_SHIM_DEBUG=1 or -debug, each RPC with its duration) go to stderr: the
  // first bundle's shim.log until shim-log.ts points it into containerd's log.
  const log = createLogger(undefined, 'text', flags.debug || process.env.TSRUN_SHIM_DEBUG === '1');
  const ttrpcAddress = process.env.TTRPC_ADDRESS ?? '';
  const publisher = new Publisher(ttrpcAddress, flags.namespace, (m) => log.warn(m));
  const tasks = new Tasks(publisher, log);
  const server = createServer();
  const pidFile = `${socket}.pid`;
  const exit = async (containerdGone: boolean): Promise<void> => {
    server.close();
    rmSync(socket, { force: true });
    if (!containerdGone) await publisher.flush(2000);
    (globalThis as { tsrunShimServed?: boolean }).tsrunShimServed = true; // boot.ts may write its code cache now
    process.exit(0);
  };
  const idle = new Idle(lingers ? idleMs(process.env) : 0, ttrpcAddress.replace(/^unix:\/\//, ''), {
    stopJoins: () => rmSync(pidFile, { force: true }),
    allowJoins: () => writeFileSync(pidFile, String(process.pid)),
    exit: (containerdGone) => void exit(containerdGone),
    log: (m) => log.debug(m),
  });
  // Any connection may be a new container's containerd (or a losing launcher's probe before it).
  server.on('connection', () => idle.cancel());
  // A reader that went away (containerd, say) must not end the shim through an EPIPE.
  process.stderr.on('error', () => {});
  const shimLog = new ShimLog();
  // The first container's bundle (start.ts leaves it); once the address is out (this loads ffi-rs).
  const firstBundle = process.cwd();
  setImmediate(() => shimLog.attach(firstBundle));
  serveTtrpc(server, taskHandler({ tasks, defaultRoot: join(DEFAULT_ROOT, flags.namespace), onIdle: () => idle.begin(), log: shimLog }));
  mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
  if (!(await listen(server, socket))) return false;
  chmodSync(socket, 0o600);
  // For the launcher: a container of this group joins without a Node start.
  writeFileSync(pidFile, String(process.pid));
  process.on('uncaughtException', (err) => log.error(`uncaught: ${err.stack ?? err.message}`));
  process.on('unhandledRejection', (err) => log.error(`unhandled rejection: ${(err as Error)?.stack ?? String(err)}`));
  log.debug('listening');
  return true;
}

interface IdleActions {
  stopJoins(): void;
  allowJoins(): void;
  exit(containerdGone: boolean): void;
  log(msg: string): void;
}

/** The shim with no container left (Shutdown): a pod's shim exits at once; a
 *  namespace's waits `ms` for the next container, then takes no new one and
 *  exits after GRACE_MS. It exits at once when containerd goes away (its
 *  ttrpc socket closes our connection), so that no idle shim outlives it. */
class Idle {
  private timer: NodeJS.Timeout | undefined;
  private watch: Socket | undefined;
  private joinsStopped = false;
  private exiting = false;

  private readonly ms: number;
  private readonly containerd: string;
  private readonly act: IdleActions;

  constructor(ms: number, containerd: string, act: IdleActions) {
    this.ms = ms;
    this.containerd = containerd;
    this.act = act;
  }

  begin(): void {
    if (this.exiting || this.timer) return;
    if (this.ms === 0 || !this.containerd) return this.finish(20, false); // let the Shutdown reply go out first
    this.act.log(`idle: waiting ${this.ms} ms for another container`);
    this.timer = setTimeout(() => this.finish(GRACE_MS, false), this.ms);
    const watch = createConnection({ path: this.containerd });
    watch.on('error', () => {});
    watch.on('close', () => {
      if (this.watch === watch) this.finish(0, true);
    });
    this.watch = watch;
  }

  cancel(): void {
    if (this.exiting || !this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const watch = this.watch;
    this.watch = undefined;
    watch?.destroy();
    if (this.joinsStopped) this.act.allowJoins();
    this.joinsStopped = false;
    this.act.log('idle: a container came');
  }

  private finish(afterMs: number, containerdGone: boolean): void {
    if (this.exiting) return;
    this.act.stopJoins();
    this.joinsStopped = true;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.exiting = true;
      this.watch?.destroy();
      this.act.exit(containerdGone);
    }, afterMs);
  }
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
