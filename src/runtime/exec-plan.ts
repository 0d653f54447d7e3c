// `tsrun exec`: a process joins a running container. The plan joins every
// namespace the container's PID 1 has that differs from ours (the mount
// namespace last: after it, host /proc paths no longer resolve), forks into
// the pid namespace, waits while tsrun puts it in the cgroup, then takes the
// process's identity and execs. No barrier: EOF on the sync socket means exec
// succeeded. Pure: the namespace list is found by the caller.
import { CLONE_FLAGS } from '../ns/clone-flags.ts';
import { affinityStep, attributeSteps } from './attr-plan.ts';
import { DEFAULT_PATH, cgroupOpenSteps, identityStep, ptyStep, rlimitSteps, terminalSteps } from './create-plan.ts';
import type { Config, Process, Seccomp } from './oci-types.ts';
import { seccompLoadSteps, seccompSteps } from './seccomp.ts';
import { step, type PlanStep } from '../ns/plan.ts';

/** Join order: user first (it grants the rights for the rest), mount last. */
export const JOIN_ORDER = ['user', 'cgroup', 'ipc', 'uts', 'net', 'pid', 'time', 'mnt'] as const;
const NS_TYPE: Record<string, string> = { net: 'network', mnt: 'mount' };

export interface ExecInput {
  process: Process;
  /** [proc ns name, path] of the namespaces to join, in JOIN_ORDER (the host's root: user just before mnt, see verbs/exec.ts). */
  namespaces: Array<[string, string]>;
  consoleSocket?: string;
  monitor: boolean;
  preserveFds: number;
  /** v1 "tasks" files the process joins itself (see create-plan.ts); empty on v2. */
  cgroupTasks?: string[];
  /** The container's root to chroot into when its mount namespace is ours (a
   *  config without one: the container was entered with chroot). */
  root?: string;
  /** The container's linux.personality (runc gives it to exec'd processes too). */
  personality?: NonNullable<Config['linux']>['personality'];
  /** The container's linux.seccomp: an exec'd process is confined like the container's (runc's setns_init). */
  seccomp?: Seccomp;
}

export function buildExecPlan(input: ExecInput): PlanStep[] {
  const proc = input.process;
  const plan: PlanStep[] = [...terminalSteps(proc.terminal === true, input), ...cgroupOpenSteps(input.cgroupTasks ?? [])];
  plan.push(...seccompSteps(input.seccomp)); // before the mount namespace hides the listener's path
  for (const [name, path] of input.namespaces) {
    const type = NS_TYPE[name] ?? name;
    plan.push(step('setns', [path, CLONE_FLAGS[type] ?? 0], { what: `join the container's ${type} namespace` }));
  }
  if (input.root) plan.push(step('enter-root', [input.root], { what: 'enter the container\'s root' }));
  plan.push(step('fork', [input.monitor ? 1 : 0], { what: 'fork the process' }));
  plan.push(...affinityStep(proc, 'initial'), step('wait-go'));
  if (input.cgroupTasks?.length) plan.push(step('cgroup-join', [], { what: 'join the container\'s cgroup' }));
  if (proc.terminal) plan.push(ptyStep({ process: proc } as Pick<Config, 'process'>));
  // An exec'd process gets the container's personality (as under runc) and
  // its own ioPriority and scheduler; the memory policy stays the init's.
  plan.push(...rlimitSteps(proc), ...attributeSteps(proc, input.personality ? { personality: input.personality } : undefined));
  if (proc.oomScoreAdj !== undefined) plan.push(step('write', ['/proc/self/oom_score_adj', proc.oomScoreAdj], { what: `set oomScoreAdj ${proc.oomScoreAdj}` }));
  plan.push(step('umask', [proc.user.umask ?? 0o022]));
  plan.push(...seccompLoadSteps(input.seccomp, proc, 'before-identity'));
  plan.push(identityStep(proc));
  if (proc.noNewPrivileges) plan.push(step('no-new-privs', [], { what: 'set no_new_privs' }));
  plan.push(step('chdir', [proc.cwd], { what: `change to cwd ${JSON.stringify(proc.cwd)}` }));
  const env = proc.env ?? [];
  const path = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  plan.push(step('lookup', [path, proc.args[0]!], { rawError: true }));
  plan.push(...affinityStep(proc, 'final'), step('close-fds', [3 + input.preserveFds]));
  plan.push(...seccompLoadSteps(input.seccomp, proc, 'before-exec'));
  plan.push(step('exec', ['@lookup', env.length, ...env, ...proc.args], { what: `exec ${JSON.stringify(proc.args[0])}` }));
  return plan;
}
