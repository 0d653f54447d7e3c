// The `delete` action (protocol in main.ts): containerd runs it when a shim
// died, to clean up one container: kill and delete it as `tsrun delete
// --force` does, unmount its rootfs, and report it killed.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../runtime/cli/log.ts';
import type { Context } from '../runtime/context.ts';
import { isRuntimeError } from '../runtime/errors.ts';
import { StateStore } from '../runtime/state-store.ts';
import { deleteContainer } from '../runtime/verbs/delete.ts';
import { DEFAULT_ROOT } from './daemon.ts';
import type { ShimFlags } from './flags.ts';
import { encode, timestamp } from './messages.ts';
import { unmountRootfs } from './rootfs.ts';
import { canConnect } from './start.ts';
import { BUNDLE_ROOT_FILE } from './task.ts';

export async function deleteAction(flags: ShimFlags): Promise<number> {
  const bundle = flags.bundle || process.cwd();
  let root = join(DEFAULT_ROOT, flags.namespace);
  try {
    root = readFileSync(join(bundle, BUNDLE_ROOT_FILE), 'utf8');
  } catch {
    // the container was never created: the default root
  }
  const warn = (msg: string): boolean => process.stderr.write(`${msg}\n`);
  const ctx: Context = { store: new StateStore(root), log: createLogger(undefined, 'text', false), options: {}, positionals: [], verb: 'shim-delete' };
  let pid = 0;
  try {
    pid = ctx.store.load(flags.id)?.pid ?? 0;
    await deleteContainer(ctx, flags.id, true);
  } catch (err) {
    if (!(isRuntimeError(err) && err.code === 'ERR_NOT_FOUND')) warn(`delete container ${flags.id}: ${(err as Error).message}`);
    if (isRuntimeError(err) && err.code === 'ERR_CREATING') ctx.store.remove(flags.id);
  }
  try {
    unmountRootfs(bundle);
  } catch (err) {
    warn((err as Error).message);
  }
  // The dead shim's socket, unless another container of its group brought up a new one.
  try {
    const socket = readFileSync(join(bundle, 'address'), 'utf8').replace(/^unix:\/\//, '');
    if (!(await canConnect(socket))) for (const f of [socket, `${socket}.pid`]) rmSync(f, { force: true });
  } catch {
    // no address: the shim never started
  }
  process.stdout.write(encode('containerd.task.v2.DeleteResponse', { pid, exit_status: 137, exited_at: timestamp(Date.now()) }));
  return 0;
}
