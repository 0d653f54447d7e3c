// `tsrun create`, step by step. Everything that can be checked is checked
// before anything is made; from the moment the id is claimed, a failure
// undoes what was made (process, cgroup, state directory) and still runs the
// poststop hooks, so a failed create leaves nothing behind.
import { renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openCgroup, resourceProblems } from './cgroups/index.ts';
import type { Cgroup } from './cgroups/types.ts';
import type { Context } from './context.ts';
import { DEFAULT_GRACE_SECONDS, GRACE_ANNOTATION, INIT_ANNOTATION, PGRP_ANNOTATION } from './annotations.ts';
import { buildCreatePlan } from './create-plan.ts';
import { RuntimeError } from './errors.ts';
import { loadConfig } from './load-config.ts';
import type { Config, HookKind, Resources } from './oci-types.ts';
import { OCI_VERSION } from './oci-types.ts';
import { ALWAYS_ALLOWED_DEVICES } from './default-spec.ts';
import { helperPath } from './paths.ts';
import { seccompProcessState, stringifyProfile } from './seccomp.ts';
import { waitGone } from './proc-stat.ts';
import { hookState, liveStartTime, validateId, type StoredState } from './state-store.ts';
import { NsHelper } from '../ns/helper.ts';
import { runHooksIfAny } from '../hooks/run-if-any.ts';

export interface CreateOptions {
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot: boolean;
  preserveFds: number;
  /** Foreground run: the helper stays the container's parent and exits with its status. */
  monitor: boolean;
}

export interface Created {
  state: StoredState;
  helper: NsHelper;
  cgroup: Cgroup;
}

export async function createContainer(ctx: Context, id: string, opts: CreateOptions): Promise<Created> {
  // 1. Validate: the id, the config (schema, semantics, sysctls), the resources.
  validateId(id);
  const { config, bundle, rootfs } = loadConfig(opts.bundle);
  if (config.process?.terminal && !opts.consoleSocket && !opts.monitor) {
    throw new RuntimeError('ERR_CONFIG', '/process/terminal: a terminal needs --console-socket', {
      hint: 'set process.terminal to false, or pass --console-socket',
    });
  }
  const init = initOptions(config);
  const cgroup = openCgroup(config.linux?.cgroupsPath, id);
  const problems = resourceProblems(config.linux?.resources, cgroup.version);
  if (problems.length) throw new RuntimeError('ERR_CONFIG', problems.join('; '));
  // 2. Claim the id: exactly one of two concurrent creates gets past here.
  const dir = ctx.store.claim(id);
  let helper: NsHelper | undefined;
  let state: StoredState | undefined;
  const abort = (): void => undo(ctx, cgroup, state, helper, id);
  const onSignal = (): void => {
    abort();
    process.exit(130);
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal).once('SIGHUP', onSignal);
  try {
    // 3. The plan for the container's PID 1 (create-plan.ts).
    const plan = buildCreatePlan({
      config, bundle, rootfs, stateDir: dir, init, cgroupDirs: cgroup.dirs, cgroupTasks: selfJoinFiles(cgroup), noPivot: opts.noPivot,
      preserveFds: opts.preserveFds, monitor: opts.monitor, consoleSocket: opts.consoleSocket,
      runtimeEnv: Object.entries(process.env).map(([k, v]) => `${k}=${v}`),
    });
    ctx.log.debug(`create ${id}: validated, plan of ${plan.length} steps`);
    // 4. The cgroup, made and limited before the container's process exists;
    //    on v1 the helper (or, in a foreground run, the child) joins it itself.
    cgroup.create();
    cgroup.apply(withDefaultDevices(config.linux?.resources));
    for (const w of cgroup.warnings()) ctx.log.warn(`warning: ${w}`);
    // 5. Fork the container's PID 1 into its namespaces and its cgroup (tsrun-nsexec).
    helper = new NsHelper(plan, { preserveFds: opts.preserveFds, onDebug: (line) => ctx.log.debug(line) });
    const moveByPid = cgroup.version === 2;
    if (moveByPid && !opts.monitor) cgroup.addProcess(helper.child.pid ?? 0);
    helper.sendCgroupReady();
    const pid = Number(await helper.expect('pid'));
    if (moveByPid && opts.monitor) cgroup.addProcess(pid);
    ctx.log.debug(`create ${id}: pid ${pid} in cgroup ${cgroup.path}`);
    state = {
      ociVersion: OCI_VERSION, id, pid, pidStartTime: liveStartTime(pid) ?? '', bundle, rootfs,
      created: new Date().toISOString(), annotations: config.annotations, cgroupsPath: cgroup.path,
      hooks: { poststart: config.hooks?.poststart, poststop: config.hooks?.poststop }, init: init !== null,
      process: config.process,
    };
    // 6. prestart and createRuntime hooks, in the runtime's namespaces.
    for (const kind of ['prestart', 'createRuntime'] as HookKind[]) {
      await runHooksIfAny(kind, config.hooks?.[kind], hookState(state, 'creating'), { mode: 'fatal' });
    }
    // 7. Go: the child mounts, runs createContainer hooks, pivots, and waits at the barrier.
    // A seccomp listener gets the fd when the filter is loaded: during create, or at start with no_new_privs (seccomp.ts).
    const seccomp = config.linux?.seccomp;
    const notifyState = seccompProcessState(seccomp, pid, hookState(state, config.process?.noNewPrivileges ? 'created' : 'creating'));
    helper.sendGo(JSON.stringify(hookState(state, 'creating')), JSON.stringify(hookState(state, 'created')), notifyState);
    ctx.log.debug(`create ${id}: go`);
    await helper.expect('ready');
    ctx.log.debug(`create ${id}: ready at the barrier`);
    // 8. Record it: state.json, then the pid file callers wait for.
    if (seccomp) writeFileSync(join(dir, SECCOMP_FILE), stringifyProfile(seccomp)); // for exec
    ctx.store.save(state);
    if (opts.pidFile) writePidFile(resolve(opts.pidFile), pid);
    return { state, helper, cgroup };
  } catch (err) {
    abort();
    if (state) {
      await runHooksIfAny('poststop', config.hooks?.poststop, hookState(state, 'stopped'), { mode: 'warn', warn: (l) => ctx.log.warn(l) });
    }
    throw err;
  } finally {
    process.removeListener('SIGINT', onSignal).removeListener('SIGTERM', onSignal).removeListener('SIGHUP', onSignal);
  }
}

/** The v1 "tasks" files the container's process writes "0" to. The hybrid
 *  unified mirror has no tasks file and enforces nothing, so it is left out. */
export function selfJoinFiles(cgroup: Cgroup): string[] {
  if (cgroup.version === 2) return [];
  return Object.entries(cgroup.dirs).filter(([name]) => name !== 'unified').map(([, dir]) => `${dir}/tasks`);
}

/** Device rules end with the devices every container needs (the default nodes,
 *  ptys), as runc appends them: a deny-all rule must not break /dev/null. */
export function withDefaultDevices(resources: Resources | undefined): Resources | undefined {
  if (!resources?.devices?.length) return resources;
  return { ...resources, devices: [...resources.devices, ...ALWAYS_ALLOWED_DEVICES] };
}

function initOptions(config: Config): { path: string; graceSeconds: number; processGroup: boolean } | null {
  const a = config.annotations ?? {};
  if (a[INIT_ANNOTATION] === 'false') return null;
  const grace = a[GRACE_ANNOTATION] ?? DEFAULT_GRACE_SECONDS;
  if (!/^\d+(\.\d+)?$/.test(grace)) {
    throw new RuntimeError('ERR_CONFIG', `/annotations/${GRACE_ANNOTATION}: ${JSON.stringify(grace)} is not a number of seconds`);
  }
  return { path: helperPath('tsrun-init'), graceSeconds: Number(grace), processGroup: a[PGRP_ANNOTATION] === 'true' };
}

function undo(ctx: Context, cgroup: Cgroup, state: StoredState | undefined, helper: NsHelper | undefined, id: string): void {
  const pid = state?.pid;
  if (pid) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    waitGone(pid, state.pidStartTime);
  }
  helper?.close();
  try {
    cgroup.destroy();
  } catch (err) {
    ctx.log.warn(`warning: ${(err as Error).message}`);
  }
  ctx.store.remove(id);
}

/** The container's linux.seccomp, kept in its state directory for `exec`. */
export const SECCOMP_FILE = 'seccomp.json';

export function writePidFile(file: string, pid: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, String(pid));
  renameSync(tmp, file);
}
