// The container-init sequence, as one checklist. buildCreatePlan turns a
// validated config into the steps tsrun-nsexec carries out (src/ns/helper.ts
// has the protocol); each step says what it is about, so a failure names the
// mount, sysctl or hook that failed. Pure: no file system, no processes.
import { isAbsolute, join, resolve } from 'node:path';
import { capabilityMask } from './capabilities.ts';
import type { Config, Hook, Mount, Process } from './oci-types.ts';
import { rlimitNumber, rlimitValue } from './rlimits.ts';
import { MS_BIND, MS_REC, MS_RDONLY, parseMountOptions, rootfsPropagationFlags } from './validate/mount-options.ts';
import { normalizeSysctlKey, sysctlFile } from './validate/sysctl.ts';
import { seccompLoadSteps, seccompSteps } from './seccomp.ts';
import { CLONE_FLAGS } from '../ns/clone-flags.ts';
import { step, type PlanStep } from '../ns/plan.ts';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface PlanInput {
  config: Config;
  bundle: string;
  rootfs: string;
  stateDir: string;
  /** Run tsrun-init as PID 1 (annotation run.tsrun.init != "false"). */
  init: { path: string; graceSeconds: number; processGroup: boolean } | null;
  /** Directories of the container's cgroup, for a "cgroup" mount: controller → host dir. */
  cgroupDirs: Record<string, string>;
  /** cgroup v1 "tasks" files the process joins itself (empty on v2: tsrun moves it). */
  cgroupTasks: string[];
  noPivot: boolean;
  preserveFds: number;
  /** Stay the container's parent and exit with its status (foreground run). */
  monitor: boolean;
  /** The runtime's own environment, for createContainer hooks that have none. */
  runtimeEnv: string[];
  /** process.terminal: where the pty master goes (a foreground run relays it itself). */
  consoleSocket?: string;
}

const DEFAULT_DEVICES: Array<[string, number, number]> = [
  ['/dev/null', 1, 3], ['/dev/zero', 1, 5], ['/dev/full', 1, 7],
  ['/dev/random', 1, 8], ['/dev/urandom', 1, 9], ['/dev/tty', 5, 0],
];
const DEV_LINKS: Array<[string, string]> = [
  ['/proc/self/fd', '/dev/fd'], ['/proc/self/fd/0', '/dev/stdin'], ['/proc/self/fd/1', '/dev/stdout'],
  ['/proc/self/fd/2', '/dev/stderr'], ['pts/ptmx', '/dev/ptmx'],
];

export function buildCreatePlan(input: PlanInput): PlanStep[] {
  const { config } = input;
  const proc = config.process;
  if (!proc) throw new Error('buildCreatePlan: config has no process');
  const env = proc.env ?? [];
  const plan: PlanStep[] = [];

  // 1. A terminal's master goes to the caller's socket, and the cgroup's tasks
  //    files are opened, while their host paths are still reachable.
  plan.push(...terminalSteps(proc.terminal === true, input), ...cgroupOpenSteps(input.cgroupTasks));
  // 2. Namespaces: join the given paths first, then create the rest at once.
  //    A new cgroup namespace waits until tsrun has moved us into the cgroup.
  let unshare = 0;
  for (const ns of config.linux?.namespaces ?? []) {
    const flag = CLONE_FLAGS[ns.type] ?? 0;
    if (ns.path) plan.push(step('setns', [ns.path, flag], { what: `join ${ns.type} namespace ${JSON.stringify(ns.path)}` }));
    else if (ns.type !== 'cgroup') unshare |= flag;
  }
  if (unshare) plan.push(step('unshare', [unshare], { what: 'create namespaces' }));
  // 3. The container's PID 1, in its cgroup before it runs anything. A write of
  //    a pid to cgroup.procs takes the kernel's global threadgroup lock, which
  //    costs an RCU grace period (~11 ms here); a single-threaded process that
  //    writes "0" to a v1 "tasks" file moves itself without it. So the helper
  //    joins and forks (the child is born in the cgroup), or, in a foreground
  //    run, where the helper stays as the parent outside the cgroup, the child
  //    joins after fork. On v2 tsrun moves the process (cgroupTasks is empty).
  const join = [step('wait-cgroup'), ...(input.cgroupTasks.length ? [step('cgroup-join', [], { what: 'join the container\'s cgroup' })] : [])];
  if (!input.monitor) plan.push(...join);
  plan.push(step('fork', [input.monitor ? 1 : 0], { what: 'fork the container process' }));
  if (input.monitor) plan.push(...join);
  plan.push(step('wait-go'));
  if (config.linux?.namespaces?.some((ns) => ns.type === 'cgroup' && !ns.path)) {
    plan.push(step('unshare', [CLONE_FLAGS.cgroup!], { what: 'create cgroup namespace' }));
  }
  // 4. The rootfs and the config's mounts, resolved inside the rootfs.
  plan.push(step('propagation', ['/', rootfsPropagationFlags(config.linux?.rootfsPropagation)], { what: 'set mount propagation of /' }));
  plan.push(step('rootfs', [input.rootfs], { what: `bind rootfs ${JSON.stringify(input.rootfs)}` }));
  for (const m of config.mounts ?? []) plan.push(...mountSteps(m, input));
  // 5. Devices and the /dev links every program expects.
  const configured = new Set((config.linux?.devices ?? []).map((d) => d.path));
  for (const [path, major, minor] of DEFAULT_DEVICES) {
    if (!configured.has(path)) plan.push(step('mknod', [path, 'c', major, minor, 0o666, 0, 0], { what: `create device ${path}` }));
  }
  for (const d of config.linux?.devices ?? []) {
    plan.push(step('mknod', [d.path, d.type === 'u' ? 'c' : d.type, d.major ?? 0, d.minor ?? 0, d.fileMode ?? 0o666, d.uid ?? 0, d.gid ?? 0], { what: `create device ${d.path}` }));
  }
  for (const [target, link] of DEV_LINKS) plan.push(step('symlink', [target, link], { what: `link ${link}` }));
  // 6. Names and namespaced sysctls, written now that we are in the new
  //    namespaces (the /proc/sys files follow the writer's namespaces).
  if (config.hostname !== undefined) plan.push(step('hostname', [config.hostname], { what: `set hostname ${JSON.stringify(config.hostname)}` }));
  if (config.domainname !== undefined) plan.push(step('domainname', [config.domainname], { what: `set domainname ${JSON.stringify(config.domainname)}` }));
  for (const [key, value] of Object.entries(config.linux?.sysctl ?? {})) {
    const name = normalizeSysctlKey(key);
    plan.push(step('write', [sysctlFile(name), value], { what: `sysctl ${JSON.stringify(name)} = ${JSON.stringify(value)}` }));
  }
  if (proc.oomScoreAdj !== undefined) {
    plan.push(step('write', ['/proc/self/oom_score_adj', proc.oomScoreAdj], { what: `set oomScoreAdj ${proc.oomScoreAdj}` }));
  }
  // 7. createContainer hooks: container namespaces, host paths, before pivot_root.
  (config.hooks?.createContainer ?? []).forEach((h, i) => plan.push(hookStep('createContainer', i, h, input.runtimeEnv)));
  // 8. The start barrier's socket must be bound while the state dir is reachable,
  //    and the init copied into a sealed memfd while the host binary is.
  plan.push(step('listen', [input.stateDir], { what: 'create the start barrier' }));
  if (input.init) plan.push(step('init-memfd', [input.init.path], { what: `load ${input.init.path}` }));
  plan.push(...seccompSteps(config.linux?.seccomp)); // compiled, and its listener reached, while host paths are
  if (proc.cwd !== '/') plan.push(step('mkdir', [proc.cwd], { what: `create cwd ${JSON.stringify(proc.cwd)}` }));
  plan.push(step(input.noPivot ? 'chroot' : 'pivot', [input.rootfs], { what: `${input.noPivot ? 'chroot' : 'pivot_root'} into ${JSON.stringify(input.rootfs)}` }));
  // A mount's own propagation is set after pivot_root: pivot_root's clean-up
  // makes the whole tree a slave, which would undo a "shared" set before it.
  for (const m of config.mounts ?? []) {
    const { propagation } = parseMountOptions(m.options);
    if (propagation) plan.push(step('propagation', [m.destination, propagation], { what: `set propagation of ${m.destination}` }));
  }
  for (const p of config.linux?.maskedPaths ?? []) plan.push(step('mask', [p], { what: `mask ${p}` }));
  for (const p of config.linux?.readonlyPaths ?? []) plan.push(step('readonly', [p], { what: `make ${p} read-only` }));
  if (config.root.readonly) plan.push(step('remount-root-ro', [], { what: 'remount / read-only' }));
  // 9. The process: its terminal, limits, identity, capabilities, cwd, and the program itself.
  if (proc.terminal) plan.push(ptyStep(config));
  plan.push(...rlimitSteps(proc));
  plan.push(step('umask', [proc.user.umask ?? 0o022]));
  plan.push(...seccompLoadSteps(config.linux?.seccomp, proc, 'before-identity')); // without no_new_privs: while we hold CAP_SYS_ADMIN
  plan.push(identityStep(proc));
  if (proc.noNewPrivileges) plan.push(step('no-new-privs', [], { what: 'set no_new_privs' }));
  plan.push(step('chdir', [proc.cwd], { what: `change to cwd ${JSON.stringify(proc.cwd)}` }));
  const path = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  plan.push(step('lookup', [path, proc.args[0]!], { rawError: true }));
  plan.push(step('close-fds', [3 + input.preserveFds]));
  // 10. Wait for `tsrun start`; then startContainer hooks and exec.
  plan.push(step('barrier'));
  (config.hooks?.startContainer ?? []).forEach((h, i) => plan.push(hookStep('startContainer', i, h, env)));
  const argv = input.init
    ? ['tsrun-init', '-t', String(input.init.graceSeconds), ...(input.init.processGroup ? ['-g'] : []), '--', ...proc.args]
    : proc.args;
  plan.push(...seccompLoadSteps(config.linux?.seccomp, proc, 'before-exec')); // with no_new_privs: last (see seccomp.ts)
  plan.push(step('exec', [input.init ? '@init' : '@lookup', env.length, ...env, ...argv], { what: `exec ${JSON.stringify(proc.args[0])}` }));
  return plan;
}

export function cgroupOpenSteps(tasks: string[]): PlanStep[] {
  return tasks.map((f) => step('cgroup-open', [f], { what: `open cgroup ${f}` }));
}

export function terminalSteps(terminal: boolean, input: { consoleSocket?: string; monitor: boolean }): PlanStep[] {
  if (!terminal) return [];
  if (input.consoleSocket) return [step('console-socket', [resolve(input.consoleSocket)], { what: `connect to console socket ${JSON.stringify(input.consoleSocket)}` })];
  if (input.monitor) return [step('pty-pair')];
  throw new Error('terminalSteps: a terminal needs a console socket or a foreground monitor');
}

export function ptyStep(config: Pick<Config, 'process'>): PlanStep {
  const p = config.process!;
  return step('pty', [p.user.uid, p.user.gid, p.consoleSize?.height ?? 0, p.consoleSize?.width ?? 0], { what: 'create the container\'s terminal' });
}

function mountSteps(m: Mount, input: PlanInput): PlanStep[] {
  const opts = parseMountOptions(m.options);
  const what = `mount ${JSON.stringify(m.type ?? m.source ?? 'bind')} on ${JSON.stringify(m.destination)}`;
  if (m.type === 'cgroup' || m.type === 'cgroup2') return cgroupMountSteps(m, input, opts.flags);
  let flags = opts.flags;
  if (m.type === 'bind') flags |= MS_BIND;
  const bind = (flags & MS_BIND) !== 0;
  const source = bind && m.source && !isAbsolute(m.source) ? resolve(input.bundle, m.source) : (m.source ?? m.type ?? 'none');
  return [step('mount', [source, m.destination, bind ? '' : (m.type ?? ''), flags, opts.data], { what })];
}

/** A "cgroup" mount shows the container its own cgroup: on v2 the unified dir, on
 *  v1 a tmpfs with one bind per hierarchy carrying the mount's flags, named as
 *  runc names them ("systemd" for name=systemd; no hybrid "unified" mirror).
 *  Mounting cgroup v1 anew would fail: the controllers are mounted on the host. */
function cgroupMountSteps(m: Mount, input: PlanInput, flags: number): PlanStep[] {
  const what = `mount cgroup on ${JSON.stringify(m.destination)}`;
  const dirs = Object.entries(input.cgroupDirs);
  const unified = input.cgroupDirs.unified;
  if (unified && dirs.length === 1) {
    return [step('mount', [unified, m.destination, '', MS_BIND | MS_REC | flags, ''], { what })];
  }
  const steps = [step('mount', ['tmpfs', m.destination, 'tmpfs', flags & ~MS_RDONLY, 'mode=755'], { what })];
  for (const [controller, dir] of dirs) {
    if (controller === 'unified') continue;
    const name = controller.replace(/^name=/, '');
    steps.push(step('mount', [dir, join(m.destination, name), '', MS_BIND | flags, ''], { what: `${what} (${name})` }));
  }
  return steps;
}

function hookStep(kind: 'createContainer' | 'startContainer', index: number, hook: Hook, defaultEnv: string[]): PlanStep {
  const args = hook.args ?? [hook.path];
  return step('hook', [kind, index, hook.timeout ?? 0, hook.path, args.length, ...args, ...(hook.env ?? defaultEnv)], { rawError: true });
}

/** setrlimit for each of the process's rlimits. */
export function rlimitSteps(proc: Process): PlanStep[] {
  return (proc.rlimits ?? []).map((r) =>
    step('rlimit', [rlimitNumber(r.type) ?? -1, rlimitValue(r.soft), rlimitValue(r.hard)], { what: `set ${r.type} to ${r.soft}/${r.hard}` }));
}

/** Groups, gid, uid, then the five capability sets ("-": leave them as they are). */
export function identityStep(proc: Process): PlanStep {
  const caps = proc.capabilities;
  const hex = (names: string[] | undefined, field: string): string => capabilityMask(names, `/process/capabilities/${field}`).toString(16);
  const capArgs = caps
    ? [hex(caps.bounding, 'bounding'), hex(caps.effective, 'effective'), hex(caps.permitted, 'permitted'), hex(caps.inheritable, 'inheritable'), hex(caps.ambient, 'ambient')]
    : ['-', '-', '-', '-', '-'];
  const groups = proc.user.additionalGids?.length ? proc.user.additionalGids.join(',') : '-';
  return step('identity', [proc.user.uid, proc.user.gid, groups, ...capArgs], { what: `switch to uid ${proc.user.uid} gid ${proc.user.gid}` });
}
