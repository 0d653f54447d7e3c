// The containers one shim serves, run in-process through the code the CLI
// verbs use: createContainer (the create plan, tsrun-nsexec, cgroups, hooks,
// state store), releaseBarrier (start), deleteContainer (delete). Only
// tsrun-nsexec is forked; a container made here is an ordinary tsrun
// container under the shim's --root. Errors are RuntimeErrors; service.ts
// maps their codes onto ttrpc status codes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../runtime/cli/log.ts';
import { openCgroup } from '../runtime/cgroups/index.ts';
import type { Cgroup } from '../runtime/cgroups/types.ts';
import { loadContainer } from '../runtime/container.ts';
import type { Context } from '../runtime/context.ts';
import { createContainer } from '../runtime/create.ts';
import { RuntimeError } from '../runtime/errors.ts';
import { StateStore, type StoredState } from '../runtime/state-store.ts';
import { deleteContainer } from '../runtime/verbs/delete.ts';
import { signalAll } from '../runtime/verbs/kill.ts';
import { releaseBarrier } from '../runtime/verbs/start.ts';
import type { Publisher } from './events.ts';
import { parseFlags } from './flags.ts';
import { timestamp } from './messages.ts';
import { Proc, parseExecSpec, startExec, type IoPaths } from './process.ts';
import { mountRootfs, unmountRootfs, type RootfsMount } from './rootfs.ts';
import { ProcessIO } from './stdio.ts';

/** Written into each bundle: the `delete` action finds the container's state through it after a shim died. */
export const BUNDLE_ROOT_FILE = 'tsrun-root';
/** Written into the bundle once a container is deleted and its rootfs
 *  unmounted: the launcher's `delete` action then answers without Node. */
export const BUNDLE_DELETED_FILE = 'tsrun-deleted';

export interface CreateRequest extends IoPaths {
  id: string;
  bundle: string;
  rootfs: RootfsMount[];
  root: string;
  noPivot: boolean;
}

export class Container {
  readonly id: string;
  readonly bundle: string;
  readonly ctx: Context;
  readonly init: Proc;
  readonly execs = new Map<string, Proc>();
  state!: StoredState;
  mounted = false;
  /** OOM kills already reported as TaskOOM, and the cgroup the poll reads them from. */
  oomSeen = 0;
  oomCgroup: Cgroup | undefined;

  constructor(id: string, bundle: string, ctx: Context, init: Proc) {
    this.id = id;
    this.bundle = bundle;
    this.ctx = ctx;
    this.init = init;
  }

  proc(execId: string): Proc {
    if (!execId) return this.init;
    const p = this.execs.get(execId);
    if (!p) throw new RuntimeError('ERR_NOT_FOUND', `exec ${JSON.stringify(execId)} does not exist in container ${JSON.stringify(this.id)}`);
    return p;
  }

  cgroup() {
    return loadContainer(this.ctx, this.id).cgroup();
  }

  /** running, paused, created or stopped, as `tsrun state` derives it. */
  status(): string {
    if (this.init.exit) return 'stopped';
    if (!this.init.started) return 'created';
    try {
      return loadContainer(this.ctx, this.id).status;
    } catch {
      return 'stopped';
    }
  }
}

/** How often running containers' OOM kill counters are read (one small file each). */
const OOM_POLL_MS = 1000;

export class Tasks {
  readonly containers = new Map<string, Container>();
  private readonly claimed = new Set<string>();
  private oomTimer: NodeJS.Timeout | undefined;
  readonly publisher: Publisher;
  readonly log: Logger;
  /** The containerd namespace this shim serves (a logging binary's CONTAINER_NAMESPACE):
   *  by default the -namespace this daemon process was started with (start.ts). */
  readonly namespace: string;

  constructor(publisher: Publisher, log: Logger, namespace = parseFlags(process.argv.slice(2)).namespace) {
    this.publisher = publisher;
    this.log = log;
    this.namespace = namespace;
  }

  get(id: string): Container {
    const c = this.containers.get(id);
    if (!c) throw new RuntimeError('ERR_NOT_FOUND', `container ${JSON.stringify(id)} does not exist in this shim`);
    return c;
  }

  async create(req: CreateRequest): Promise<number> {
    if (this.containers.has(req.id) || this.claimed.has(req.id)) {
      throw new RuntimeError('ERR_EXISTS', `container ${JSON.stringify(req.id)} already exists`);
    }
    this.claimed.add(req.id);
    const ctx: Context = { store: new StateStore(req.root), log: this.log, options: {}, positionals: [], verb: 'shim' };
    const init = new Proc('', req);
    const c = new Container(req.id, req.bundle, ctx, init);
    try {
      if (req.rootfs.length) {
        mountRootfs(req.rootfs, req.bundle);
        c.mounted = true;
      }
      writeFileSync(join(req.bundle, BUNDLE_ROOT_FILE), req.root);
      init.io = await ProcessIO.open(req, { id: req.id, namespace: this.namespace, cwd: req.bundle });
      const created = await createContainer(ctx, req.id, { bundle: req.bundle, noPivot: req.noPivot, preserveFds: 0, monitor: true, stdio: init.io.stdio });
      init.io.attach(created.helper.child);
      init.helper = created.helper;
      init.pid = created.state.pid;
      c.state = created.state;
      void created.helper.exited().then((status) => this.onExit(c, init, status));
      created.helper.close();
    } catch (err) {
      await init.io?.release();
      if (c.mounted) unmountRootfs(req.bundle);
      this.claimed.delete(req.id);
      throw err;
    }
    this.containers.set(req.id, c);
    this.claimed.delete(req.id);
    this.oomTimer ??= setInterval(() => {
      for (const each of this.containers.values()) if (!each.init.exit) this.checkOom(each);
    }, OOM_POLL_MS).unref();
    this.publisher.publish('create', {
      container_id: req.id, bundle: req.bundle, rootfs: req.rootfs, pid: init.pid,
      io: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal },
    });
    return init.pid;
  }

  async start(id: string, execId: string): Promise<number> {
    const c = this.get(id);
    const p = c.proc(execId);
    if (p.started || p.exit) throw new RuntimeError('ERR_STATUS', `process ${JSON.stringify(execId || id)} was already started`);
    try {
      if (!execId) {
        await releaseBarrier(c.ctx, c.state);
        p.started = true;
        this.publisher.publish('start', { container_id: id, pid: p.pid });
      } else {
        if (!c.init.running) throw new RuntimeError('ERR_STATUS', `cannot exec in container ${JSON.stringify(id)}: container not running`);
        p.started = true;
        try {
          await startExec(p, c.init.pid, c.cgroup(), { id: execId, namespace: this.namespace, cwd: c.bundle }, (status) => this.onExit(c, p, status));
        } catch (err) {
          // No helper process (it could not be spawned): no exit will come from it.
          if (p.helper?.child.pid === undefined) p.recordExit(255);
          throw err;
        }
        this.publisher.publish('exec-started', { container_id: id, exec_id: execId, pid: p.pid });
      }
    } finally {
      p.settleStart();
    }
    return p.pid;
  }

  private async onExit(c: Container, p: Proc, status: number): Promise<void> {
    if (!p.recordExit(status)) return;
    await p.startSettled;
    if (!p.execId) {
      this.checkOom(c);
      try {
        const cg = c.cgroup();
        // What the init leaves behind (a shared pid namespace) goes with it, as runc's kill --all.
        signalAll(cg.pids(), 9);
      } catch {
        // the container's state is already gone (deleted from the CLI)
      }
    }
    this.publisher.publish('exit', { container_id: c.id, id: p.execId || c.id, pid: p.pid, exit_status: p.exit!.status, exited_at: timestamp(p.exit!.at) });
  }

  /** A TaskOOM for each new OOM kill in the container's cgroup (the CRI marks the container OOMKilled by it). */
  private checkOom(c: Container): void {
    try {
      c.oomCgroup ??= openCgroup(c.state.cgroupsPath, c.id);
      const kills = c.oomCgroup.oomKills();
      if (kills > c.oomSeen) {
        c.oomSeen = kills;
        this.publisher.publish('oom', { container_id: c.id });
      }
    } catch {
      // the container's state or cgroup is gone
    }
  }

  async delete(id: string, execId: string): Promise<{ pid: number; exit_status: number; exited_at: object }> {
    const c = this.get(id);
    const p = c.proc(execId);
    if (p.running) {
      throw new RuntimeError('ERR_STATUS', `cannot delete ${execId ? `exec ${JSON.stringify(execId)}` : `container ${JSON.stringify(id)}`}: it is running`, { hint: 'kill it first' });
    }
    if (execId) {
      if (!p.exit) p.recordExit(255);
      await p.io?.release();
      c.execs.delete(execId);
    } else {
      // A created container that never started is killed here, as `runc delete` does.
      try {
        await deleteContainer(c.ctx, id, true);
      } catch (err) {
        // deleted meanwhile through the CLI (`tsrun --root ... delete`): nothing left to remove
        if ((err as RuntimeError).code !== 'ERR_NOT_FOUND') throw err;
      }
      if (!p.exit) await Promise.race([p.exited, new Promise((r) => setTimeout(r, 5000))]);
      if (!p.exit) p.recordExit(137);
      // Logging binaries end with the task, those of execs not deleted on their own too.
      await Promise.all([p, ...c.execs.values()].map((each) => each.io?.release()));
      if (c.mounted) unmountRootfs(c.bundle);
      c.mounted = false;
      this.containers.delete(id);
      try {
        writeFileSync(join(c.bundle, BUNDLE_DELETED_FILE), '');
      } catch {
        // the bundle is gone already: the delete action finds nothing to do either way
      }
      if (this.containers.size === 0) {
        clearInterval(this.oomTimer);
        this.oomTimer = undefined;
      }
    }
    const exit = p.exit!;
    const reply = { pid: p.pid, exit_status: exit.status, exited_at: timestamp(exit.at) };
    if (!execId) this.publisher.publish('delete', { container_id: id, id, ...reply });
    return reply;
  }

  exec(id: string, execId: string, paths: IoPaths, spec: Uint8Array): void {
    const c = this.get(id);
    if (!execId) throw new RuntimeError('ERR_USAGE', 'an exec needs an exec id');
    if (c.execs.has(execId)) throw new RuntimeError('ERR_EXISTS', `exec ${JSON.stringify(execId)} already exists in container ${JSON.stringify(id)}`);
    if (c.init.exit) throw new RuntimeError('ERR_STATUS', `cannot exec in container ${JSON.stringify(id)}: container not running`);
    c.execs.set(execId, new Proc(execId, paths, parseExecSpec(spec)));
    this.publisher.publish('exec-added', { container_id: id, exec_id: execId });
  }

  kill(id: string, execId: string, signal: number, all: boolean): void {
    const c = this.get(id);
    const p = c.proc(execId);
    if (all && !execId) {
      const cg = c.cgroup();
      signalAll(cg.pids(), signal);
      if (signal === 9 && c.status() === 'paused') cg.thaw();
      return;
    }
    if (p.exit) throw new RuntimeError('ERR_NOT_FOUND', `process already finished`);
    if (!p.pid) throw new RuntimeError('ERR_STATUS', `process ${JSON.stringify(execId)} was not started`);
    try {
      process.kill(p.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') throw new RuntimeError('ERR_NOT_FOUND', 'process already finished');
      throw new RuntimeError('ERR_KILL', `kill pid ${p.pid}: ${(err as NodeJS.ErrnoException).code?.toLowerCase()}`);
    }
    if (signal === 9 && !execId && c.status() === 'paused') c.cgroup().thaw();
  }

  pause(id: string): void {
    const c = this.get(id);
    if (c.status() !== 'running') throw new RuntimeError('ERR_STATUS', `cannot pause container ${JSON.stringify(id)}: it is ${c.status()}`);
    c.cgroup().freeze();
    this.publisher.publish('paused', { container_id: id });
  }

  resume(id: string): void {
    const c = this.get(id);
    if (c.status() !== 'paused') throw new RuntimeError('ERR_STATUS', `cannot resume container ${JSON.stringify(id)}: it is ${c.status()}`);
    c.cgroup().thaw();
    this.publisher.publish('resumed', { container_id: id });
  }
}
