// tsrun delete [--force] ID: removes a stopped (or created) container; with
// --force a running or paused one is killed first. Then the cgroup goes, the
// poststop hooks run (failures are warnings) and the state directory goes.
// --force also removes what a killed `tsrun create` left (status creating).
import { openCgroup } from '../cgroups/index.ts';
import { loadContainer } from '../container.ts';
import { positional, type Context } from '../context.ts';
import { liveStartTime, waitGone } from '../proc-stat.ts';
import { RuntimeError, isRuntimeError } from '../errors.ts';
import { hookState, validateId, type StoredState } from '../state-store.ts';
import { runHooksIfAny } from '../../hooks/run-if-any.ts';
import { signalAll } from './kill.ts';

export default async function del(ctx: Context): Promise<number> {
  const id = validateId(positional(ctx, 0, 'a container id'));
  const force = ctx.options.force === true;
  let stored;
  try {
    stored = ctx.store.load(id);
  } catch (err) {
    // runc semantics: delete --force of a container that does not exist succeeds.
    if (force && isRuntimeError(err) && err.code === 'ERR_NOT_FOUND') return 0;
    throw err;
  }
  if (!stored || stored.creator) {
    if (!force) throw new RuntimeError('ERR_STATUS', `container ${JSON.stringify(id)} is being created`, { hint: 'use --force to remove what is left of a failed create' });
    const unwritable = ctx.store.unwritable(id);
    if (unwritable) throw unwritable;
    if (stored) removeUnfinished(stored);
    ctx.store.remove(id);
    return 0;
  }
  await deleteContainer(ctx, id, force);
  return 0;
}

/** A create that never finished: its tsrun (if still there) and every process
 *  in the cgroup its first record names are killed, then the cgroup goes. */
function removeUnfinished(record: StoredState): void {
  const creator = record.creator!;
  if (creator.startTime && liveStartTime(creator.pid) === creator.startTime) {
    signalAll([creator.pid], 9);
    waitGone(creator.pid, creator.startTime);
  }
  const cgroup = openCgroup(record.cgroupsPath, record.id);
  const pids = cgroup.pids();
  signalAll(pids, 9);
  for (const pid of pids) waitGone(pid, liveStartTime(pid) ?? '');
  cgroup.destroy();
}

export async function deleteContainer(ctx: Context, id: string, force: boolean): Promise<void> {
  const c = loadContainer(ctx, id);
  const unwritable = ctx.store.unwritable(id);
  if (unwritable) throw unwritable;
  if ((c.status === 'running' || c.status === 'paused') && !force) {
    throw new RuntimeError('ERR_STATUS', `container ${JSON.stringify(id)} is ${c.status}: stop it first or use --force`);
  }
  if (c.status !== 'stopped') {
    const devices = c.state.netDevices;
    if (devices && Object.keys(devices).length) (await import('../net-devices.ts')).moveOut(devices, c.state.pid, (l) => ctx.log.warn(l));
    const cgroup = c.cgroup();
    const pids = cgroup.pids();
    signalAll(pids.length ? pids : [c.state.pid], 9);
    if (c.status === 'paused') cgroup.thaw();
    if (!waitGone(c.state.pid, c.state.pidStartTime)) {
      throw new RuntimeError('ERR_DELETE', `container ${JSON.stringify(id)} (pid ${c.state.pid}) did not exit after SIGKILL`);
    }
  }
  c.cgroup().destroy();
  await runHooksIfAny('poststop', c.state.hooks?.poststop, hookState(c.state, 'stopped'), { mode: 'warn', warn: (l) => ctx.log.warn(l) });
  ctx.store.remove(id);
}
