// `tsrun create`, step by step. Everything that can be checked is checked
// before anything is made; from the moment the id is claimed, a failure
// undoes what was made (process, cgroup, state directory) and still runs the
// poststop hooks, so a failed create leaves nothing behind.
import { renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { openCgroup, resourceProblems } from './cgroups/index.ts';
import { limitFields, NoCgroup } from './cgroups/none.ts';
import type { Cgroup } from './cgroups/types.ts';
import type { Context } from './context.ts';
import { ambientWarnings, buildCreatePlan } from './create-plan.ts';
import { decideInit } from './init-options.ts';
import { RuntimeError, fromSystemError } from './errors.ts';
import { configWarnings, loadConfig } from './load-config.ts';
import type { Config, Device, HookKind, Resources } from './oci-types.ts';
import type { PlanStep } from '../ns/plan.ts';
import { OCI_VERSION } from './oci-types.ts';
import { ALWAYS_ALLOWED_DEVICES } from './default-spec.ts';
import { helperPath, inUserNamespace } from './paths.ts';
import { canWriteCgroups, isRootless, refuseIdmappedMounts, rootlessIdmapWriter } from './rootless.ts';
import { seccompProcessState, stringifyProfile } from './seccomp.ts';
import { waitGone } from './proc-stat.ts';
import { moveIn, moveOut } from './net-devices.ts';
import { hookState, liveStartTime, validateId, type StoredState } from './state-store.ts';
import { NsHelper, type HelperOptions } from '../ns/helper.ts';
import { runHooksIfAny } from '../hooks/run-if-any.ts';

export interface CreateOptions {
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot: boolean;
  preserveFds: number;
  /** Foreground run: the helper stays the container's parent and exits with its status. */
  monitor: boolean;
  /** The container's stdio when not create's own (the containerd shim passes FIFOs). */
  stdio?: HelperOptions['stdio'];
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
  for (const w of configWarnings(config)) ctx.log.warn(`warning: ${w}`);
  if (config.process?.terminal && !opts.consoleSocket && !opts.monitor) {
    throw new RuntimeError('ERR_CONFIG', '/process/terminal: a terminal needs --console-socket', {
      hint: 'set process.terminal to false, or pass --console-socket',
    });
  }
  if (opts.pidFile) checkPidFileDir(resolve(opts.pidFile));
  const { init, reason: initReason } = decideInit(config, rootfs, helperPath('tsrun-init'));
  // Rootless (rootless.ts): a non-root caller writes only the maps it owns; root,
  // also root in a rootless engine's user namespace, any its namespace holds.
  // Rootless, the cgroup is kept only where it can be written.
  const idmapWriter = process.geteuid!() !== 0 ? rootlessIdmapWriter(config) : undefined;
  if (process.geteuid!() !== 0 || inUserNamespace()) refuseIdmappedMounts(config);
  let cgroup = openCgroup(config.linux?.cgroupsPath, id);
  if (isRootless(ctx) && !canWriteCgroups(Object.values(cgroup.dirs))) cgroup = rootlessCgroup(config);
  const problems = resourceProblems(config.linux?.resources, cgroup.version);
  if (problems.length) throw new RuntimeError('ERR_CONFIG', problems.join('; '));
  if (cgroup.skipped) ctx.log.warn('warning: cgroups skipped: rootless, the host\'s cgroups are not writable (device rules are not applied either; the container cannot be paused)');
  // 2. Claim the id: exactly one of two concurrent creates gets past here. The
  //    first record names the cgroup, so whatever a kill of tsrun leaves from
  //    here on, `delete --force` finds and removes.
  const created = new Date().toISOString();
  const dir = ctx.store.claim(id, {
    ociVersion: OCI_VERSION, id, pid: 0, pidStartTime: '', bundle, rootfs, created, annotations: config.annotations,
    cgroupsPath: cgroup.path, init: init !== null, creator: { pid: process.pid, startTime: liveStartTime(process.pid) ?? '' },
  });
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
      preserveFds: opts.preserveFds, monitor: opts.monitor, consoleSocket: opts.consoleSocket, idmapWriter,
      runtimeEnv: Object.entries(process.env).map(([k, v]) => `${k}=${v}`),
    });
    ctx.log.debug(`create ${id}: validated, plan of ${plan.length} steps, tsrun-init ${init ? 'on' : 'off'} (${initReason})`);
    for (const w of ambientWarnings(config.process)) ctx.log.warn(`warning: ${w}`);
    if (ctx.options.debug === true) plan.forEach((s, i) => ctx.log.debug(`create ${id}: plan ${i + 1}/${plan.length}: ${describeStep(s)}`));
    // 4. The cgroup, made and limited before the container's process exists;
    //    on v1 the helper (or, in a foreground run, the child) joins it itself.
    cgroup.create();
    cgroup.apply(withDefaultDevices(config.linux?.resources, config.linux?.devices));
    for (const w of cgroup.warnings()) ctx.log.warn(`warning: ${w}`);
    // 5. Fork the container's PID 1 into its namespaces and its cgroup (tsrun-nsexec).
    helper = new NsHelper(plan, { preserveFds: opts.preserveFds, stdio: opts.stdio, onDebug: (line) => ctx.log.debug(line) });
    const moveByPid = cgroup.version === 2;
    if (moveByPid && !opts.monitor) cgroup.addProcess(helper.child.pid ?? 0);
    helper.sendCgroupReady();
    const pid = Number(await helper.expect('pid'));
    if (moveByPid && opts.monitor) cgroup.addProcess(pid);
    ctx.log.debug(`create ${id}: pid ${pid} in cgroup ${cgroup.path}`);
    const netDevices = config.linux?.netDevices;
    if (netDevices && Object.keys(netDevices).length) moveIn(netDevices, pid);
    state = {
      ociVersion: OCI_VERSION, id, pid, pidStartTime: liveStartTime(pid) ?? '', bundle, rootfs,
      created, annotations: config.annotations, cgroupsPath: cgroup.path,
      hooks: { poststart: config.hooks?.poststart, poststop: config.hooks?.poststop }, init: init !== null,
      process: config.process, netDevices: config.linux?.netDevices, personality: config.linux?.personality,
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
    // 8. Record it: state.json, and tell the container (until then, it exits
    //    if we die); then the pid file callers wait for.
    if (seccomp) writeFileSync(join(dir, SECCOMP_FILE), stringifyProfile(seccomp)); // for exec
    ctx.store.save(state);
    helper.sendRecorded();
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
  if (cgroup.version === 2 || cgroup.skipped) return [];
  return Object.entries(cgroup.dirs).filter(([name]) => name !== 'unified').map(([, dir]) => `${dir}/tasks`);
}

/** Device rules end with the devices every container needs (the default nodes,
 *  ptys), as runc appends them: a deny-all rule must not break /dev/null. And
 *  the nodes of linux.devices may be made: runc creates them before it writes
 *  the device rules; tsrun writes the rules before the container's process
 *  exists (no window without them), so it allows mknod ("m", not read or
 *  write: the config's rules decide access) of exactly those nodes. */
export function withDefaultDevices(resources: Resources | undefined, nodes: Device[] = []): Resources | undefined {
  if (!resources?.devices?.length) return resources;
  const makeNodes = nodes.filter((d) => d.type !== 'p').map((d) => ({
    allow: true, type: d.type === 'b' ? 'b' as const : 'c' as const, major: d.major ?? null, minor: d.minor ?? null, access: 'm',
  }));
  return { ...resources, devices: [...resources.devices, ...ALWAYS_ALLOWED_DEVICES, ...makeNodes] };
}

function undo(ctx: Context, cgroup: Cgroup, state: StoredState | undefined, helper: NsHelper | undefined, id: string): void {
  const pid = state?.pid;
  // Moved back before the kill: a virtual device would die with the namespace.
  if (pid && state.netDevices && Object.keys(state.netDevices).length) moveOut(state.netDevices, pid, (l) => ctx.log.warn(l));
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
  try {
    ctx.store.remove(id);
  } catch (err) {
    ctx.log.warn(`warning: ${(err as Error).message}`);
  }
}

/** One plan step for --debug: the op and its arguments, environments left out
 *  (they can hold secrets): exec and hook steps show only how many variables. */
function describeStep(s: PlanStep): string {
  let args: Array<string | number> = s.args;
  if (s.op === 'exec') {
    const n = Number(s.args[1]);
    args = [s.args[0]!, ...s.args.slice(2 + n), `(${n} env vars)`];
  } else if (s.op === 'hook') {
    const argc = Number(s.args[4]);
    args = [...s.args.slice(0, 4), ...s.args.slice(5, 5 + argc), `(${s.args.length - 5 - argc} env vars)`];
  }
  return `${s.op} ${args.map((a) => (/^[\w@/.:=,+-]+$/.test(String(a)) ? String(a) : JSON.stringify(String(a)))).join(' ')}${s.what ? `  # ${s.what}` : ''}`;
}

/** The container's linux.seccomp, kept in its state directory for `exec`. */
export const SECCOMP_FILE = 'seccomp.json';

export function writePidFile(file: string, pid: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, String(pid));
    renameSync(tmp, file);
  } catch (err) {
    throw fromSystemError('ERR_PID_FILE', 'write --pid-file', file, err);
  }
}

/** Checked before anything is made: the pid file is written only once the container exists. */
export function checkPidFileDir(file: string): void {
  const dir = dirname(file);
  let ok = false;
  try {
    ok = statSync(dir).isDirectory();
  } catch {
    // missing: said below
  }
  if (!ok) throw new RuntimeError('ERR_PID_FILE', `--pid-file ${JSON.stringify(file)}: no such directory ${JSON.stringify(dir)}`);
}

/** A rootless container without a writable cgroup has none: limits it asks for are refused, naming them. */
function rootlessCgroup(config: Config): NoCgroup {
  const fields = limitFields(config.linux?.resources);
  if (fields.length) {
    throw new RuntimeError('ERR_CONFIG', `${fields.join(', ')}: a rootless container cannot have resource limits here (the host's cgroups are not writable)`, {
      hint: 'remove the limits, or run as root',
    });
  }
  return new NoCgroup();
}
