// The container-init sequence, as one checklist. buildCreatePlan turns a
// validated config into the steps tsrun-nsexec carries out (src/ns/helper.ts
// has the protocol); each step says what it is about, so a failure names the
// mount, sysctl or hook that failed. Pure: no file system, no processes.
import { isAbsolute, join, resolve } from 'node:path';
import { attributeSteps, timeOffsetSteps } from './attr-plan.ts';
import { capabilityMask } from './capabilities.ts';
import type { Config, Hook, Mount, Process } from './oci-types.ts';
import { rlimitNumber, rlimitValue } from './rlimits.ts';
import { MS_BIND, MS_REC, MS_RDONLY, parseMountOptions, rootfsPropagationFlags, rootPreparation } from './validate/mount-options.ts';
import { normalizeSysctlKey, sysctlFile } from './validate/sysctl.ts';
import { seccompLoadSteps, seccompSteps } from './seccomp.ts';
import { CLONE_FLAGS } from '../ns/clone-flags.ts';
import type { InitOptions } from './init-options.ts';
import { step, type PlanStep } from '../ns/plan.ts';
import { type IdmapWriter, idmapMoveStep, idmapOpenSteps, userLast, userNamespaceOf, userNamespaceStep, usernsMount } from './userns-plan.ts';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface PlanInput {
  config: Config;
  bundle: string;
  rootfs: string;
  stateDir: string;
  /** Run tsrun-init as PID 1 (init-options.ts decides). */
  init: InitOptions | null;
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
  /** How a new user namespace's maps are written (root: directly; rootless: see userns-plan.ts). */
  idmapWriter?: IdmapWriter;
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
  //    files are opened, while their host paths are still reachable. The init
  //    is copied into a sealed memfd before any container process can see us
  //    holding the host's binary open.
  plan.push(...terminalSteps(proc.terminal === true, input), ...cgroupOpenSteps(input.cgroupTasks));
  if (input.init) plan.push(step('init-memfd', [input.init.path], { what: `load ${input.init.path}` }));
  //    Id-mapped mounts need the host's rights over their source: made now, moved in place later.
  plan.push(...idmapOpenSteps(config, input.bundle));
  // 2. Namespaces: join the given paths first (a user namespace last: see
  //    userns-plan.ts), then create the rest at once. A new user namespace
  //    comes first, alone, with its id maps, so that it owns the namespaces
  //    created after it. A new cgroup namespace waits until tsrun has moved
  //    us into the cgroup.
  let unshare = 0;
  for (const ns of userLast(config.linux?.namespaces ?? [])) {
    const flag = CLONE_FLAGS[ns.type] ?? 0;
    if (ns.path) plan.push(step('setns', [ns.path, flag], { what: `join ${ns.type} namespace ${JSON.stringify(ns.path)}` }));
    else if (ns.type !== 'cgroup' && ns.type !== 'user') unshare |= flag;
  }
  const userns = userNamespaceOf(config);
  if (userns === 'new') plan.push(userNamespaceStep(config, input.idmapWriter));
  if (unshare) plan.push(step('unshare', [unshare], { what: 'create namespaces' }));
  //    A new network namespace gets `lo` up (127.0.0.1/8 and ::1) before any
  //    hook or process runs, as runc does; a joined one is left as it is.
  if (unshare & CLONE_FLAGS.network!) plan.push(step('loopback-up', [], { what: 'bring up the loopback device' }));
  plan.push(...timeOffsetSteps(config.linux));
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
  // In a user namespace the child reads and writes host files (the state
  // directory, the init binary) before it becomes the namespace's root, which
  // cannot; from then on it is the container's root (mounts, devices, sysctls).
  if (userns) plan.push(listenStep(input), step('userns-root', [], { what: 'become root in the user namespace' }));
  plan.push(step('wait-go'));
  if (config.linux?.namespaces?.some((ns) => ns.type === 'cgroup' && !ns.path)) {
    plan.push(step('unshare', [CLONE_FLAGS.cgroup!], { what: 'create cgroup namespace' }));
  }
  // 4. The rootfs and the config's mounts, resolved inside the rootfs. Until
  //    pivot_root, / is slave or private (pivot_root refuses a shared one, the
  //    rootfs bind an unbindable one); the configured propagation comes after.
  //    Without a mount namespace of its own the container shares the host's:
  //    the rootfs is only opened (for the cwd) and entered with chroot, and
  //    nothing is mounted or created (validation refused mounts and devices).
  const ownMounts = (config.linux?.namespaces ?? []).some((ns) => ns.type === 'mount');
  const rootPropagation = rootfsPropagationFlags(config.linux?.rootfsPropagation);
  if (ownMounts) {
    const prepare = rootPreparation(rootPropagation);
    plan.push(step('propagation', ['/', prepare.root], { what: 'set mount propagation of / before pivot_root' }));
    if (prepare.privateRootfsMount) plan.push(step('private-mount-of', [input.rootfs], { what: `make the mount of ${JSON.stringify(input.rootfs)} private` }));
    plan.push(step('rootfs', [input.rootfs], { what: `bind rootfs ${JSON.stringify(input.rootfs)}` }));
    for (const m of config.mounts ?? []) plan.push(...mountSteps(userns ? usernsMount(m, config) : m, input));
    // 5. Devices and the /dev links every program expects.
    const configured = new Set((config.linux?.devices ?? []).map((d) => d.path));
    for (const [path, major, minor] of DEFAULT_DEVICES) {
      if (!configured.has(path)) plan.push(step('mknod', [path, 'c', major, minor, 0o666, 0, 0], { what: `create device ${path}` }));
    }
    for (const d of config.linux?.devices ?? []) {
      plan.push(step('mknod', [d.path, d.type === 'u' ? 'c' : d.type, d.major ?? 0, d.minor ?? 0, d.fileMode ?? 0o666, d.uid ?? 0, d.gid ?? 0], { what: `create device ${d.path}` }));
    }
    for (const [target, link] of DEV_LINKS) plan.push(step('symlink', [target, link], { what: `link ${link}` }));
  } else {
    plan.push(step('rootfs-open', [input.rootfs], { what: `open rootfs ${JSON.stringify(input.rootfs)}` }));
  }
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
  // 8. The start barrier's socket must be bound while the state dir is reachable
  //    (in a user namespace that was done before becoming its root).
  if (!userns) plan.push(listenStep(input));
  plan.push(...seccompSteps(config.linux?.seccomp)); // its listener reached while host paths are (compiled on the host before the helper starts)
  if (proc.cwd !== '/') plan.push(step('mkdir', [proc.cwd], { what: `create cwd ${JSON.stringify(proc.cwd)}` }));
  if (!ownMounts) plan.push(step('enter-root', [input.rootfs], { what: `chroot into ${JSON.stringify(input.rootfs)}` }));
  else plan.push(step(input.noPivot ? 'chroot' : 'pivot', [input.rootfs], { what: `${input.noPivot ? 'chroot' : 'pivot_root'} into ${JSON.stringify(input.rootfs)}` }));
  for (const p of config.linux?.maskedPaths ?? []) plan.push(step('mask', [p], { what: `mask ${p}` }));
  for (const p of config.linux?.readonlyPaths ?? []) plan.push(step('readonly', [p], { what: `make ${p} read-only` }));
  if (config.root.readonly) plan.push(step('remount-root-ro', [], { what: 'remount / read-only' }));
  // The configured propagation of /, then each mount's own (which wins over a
  // recursive one of /): after pivot_root, which refuses a shared /, and after
  // the masks and read-only binds, which an unbindable mount would refuse.
  if (ownMounts) plan.push(step('propagation', ['/', rootPropagation], { what: `set mount propagation of / to ${config.linux?.rootfsPropagation || 'rslave'}` }));
  for (const m of config.mounts ?? []) {
    const { propagation } = parseMountOptions(m.options);
    if (propagation) plan.push(step('propagation', [m.destination, propagation], { what: `set propagation of ${m.destination}` }));
  }
  // 9. The process: its terminal, limits, identity, capabilities, cwd, and the program itself.
  if (proc.terminal) plan.push(ptyStep(config));
  plan.push(...rlimitSteps(proc), ...attributeSteps(proc, config.linux));
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
    ? ['tsrun-init', '-t', String(input.init.graceSeconds), ...(input.init.killAfterSeconds !== null ? ['-k', String(input.init.killAfterSeconds)] : []),
      ...(input.init.processGroup ? ['-g'] : []), '--', ...proc.args]
    : proc.args;
  plan.push(...seccompLoadSteps(config.linux?.seccomp, proc, 'before-exec')); // with no_new_privs: last (see seccomp.ts)
  plan.push(step('exec', [input.init ? '@init' : '@lookup', env.length, ...env, ...argv], { what: `exec ${JSON.stringify(proc.args[0])}` }));
  return plan;
}

function listenStep(input: PlanInput): PlanStep {
  return step('listen', [input.stateDir], { what: 'create the start barrier' });
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
  if (opts.idmap) return [idmapMoveStep(m, input.config)];
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

/** Groups, gid, uid, then the five capability sets ("-": leave them as they are).
 *  The ambient set is reduced to what the kernel lets us raise: a capability
 *  must be in both the permitted and the inheritable set (the unmodified
 *  `runc spec` config lists ambient capabilities it does not make inheritable,
 *  and runc runs it without them; ambientWarnings says which were dropped). */
export function identityStep(proc: Process): PlanStep {
  const caps = proc.capabilities;
  const mask = (names: string[] | undefined, field: string): bigint => capabilityMask(names, `/process/capabilities/${field}`);
  const capArgs = caps
    ? [mask(caps.bounding, 'bounding'), mask(caps.effective, 'effective'), mask(caps.permitted, 'permitted'), mask(caps.inheritable, 'inheritable'),
      mask(caps.ambient, 'ambient') & mask(caps.inheritable, 'inheritable') & mask(caps.permitted, 'permitted')].map((m) => m.toString(16))
    : ['-', '-', '-', '-', '-'];
  const groups = proc.user.additionalGids?.length ? proc.user.additionalGids.join(',') : '-';
  return step('identity', [proc.user.uid, proc.user.gid, groups, ...capArgs], { what: `switch to uid ${proc.user.uid} gid ${proc.user.gid}`, detail: true });
}

/** The ambient capabilities that will not be raised, as runc words its warning. */
export function ambientWarnings(proc: Process | undefined): string[] {
  const caps = proc?.capabilities;
  const inheritable = new Set(caps?.inheritable ?? []);
  const permitted = new Set(caps?.permitted ?? []);
  return (caps?.ambient ?? []).flatMap((name, i) => {
    const missing = [inheritable.has(name) ? '' : 'inheritable', permitted.has(name) ? '' : 'permitted'].filter(Boolean);
    return missing.length
      ? [`/process/capabilities/ambient/${i}: can't raise ambient capability ${name}: it is not in the ${missing.join(' and ')} set (the process runs without it, as under runc)`]
      : [];
  });
}
