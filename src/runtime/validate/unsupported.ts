// The config fields tsrun refuses rather than ignore, and the values of the
// rarely used fields it applies (scheduler, memory policy, CPU lists, time
// offsets). Every problem names the field's JSON path and the reason. Cheap
// on the create path: each check is a property test, and the host is read
// (/sys) only when the field is set. docs/config-fields.md lists every field.
import { existsSync, readFileSync } from 'node:fs';
import type { Config } from '../oci-types.ts';
import { MPOL_MODE, parseIdList, SCHED_POLICY } from '../attr-plan.ts';

const q = (s: unknown) => JSON.stringify(s);
const set = (v: unknown): boolean => v !== undefined && v !== null && v !== '';
const list = <T>(v: T[] | undefined): T[] => (Array.isArray(v) ? v : []);
const isList = (v: unknown): boolean => typeof v === 'string' && parseIdList(v) !== undefined;
const nonEmpty = (v: unknown): boolean => set(v) && !(typeof v === 'object' && Object.keys(v as object).length === 0);

function apparmorEnabled(): boolean {
  try {
    return readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    return false;
  }
}

const selinuxEnabled = (): boolean => existsSync('/sys/fs/selinux/enforce');

export function unsupportedProblems(config: Config): string[] {
  const problems: string[] = [];
  const proc = config.process;
  const linux = config.linux;
  // Security labels: an LSM tsrun cannot apply is a refusal, as in runc.
  if (set(proc?.apparmorProfile)) {
    problems.push(`/process/apparmorProfile: ${apparmorEnabled() ? 'tsrun does not apply AppArmor profiles' : 'AppArmor is not enabled on this host'}`);
  }
  for (const [path, value] of [['/process/selinuxLabel', proc?.selinuxLabel], ['/linux/mountLabel', linux?.mountLabel]] as const) {
    if (set(value)) problems.push(`${path}: ${selinuxEnabled() ? 'tsrun does not apply SELinux labels' : 'SELinux is not enabled on this host'}`);
  }
  if (linux?.intelRdt !== undefined) {
    problems.push(`/linux/intelRdt: ${existsSync('/sys/fs/resctrl/schemata') ? 'tsrun does not implement Intel RDT' : 'Intel RDT (resctrl) is not available on this host'}`);
  }
  if (nonEmpty(linux?.resources?.rdma)) problems.push('/linux/resources/rdma: tsrun does not implement the rdma cgroup controller');
  if (nonEmpty(linux?.netDevices)) problems.push(...netDeviceProblems(config));
  // Other platforms' sections and fields.
  for (const key of ['solaris', 'windows', 'vm', 'zos'] as const) {
    if ((config as unknown as Record<string, unknown>)[key] !== undefined) problems.push(`/${key}: a ${key} container's section; tsrun runs Linux containers`);
  }
  if (proc?.['commandLine' as keyof typeof proc] !== undefined) problems.push('/process/commandLine: Windows only; use /process/args');
  if ((proc?.user as { username?: unknown } | undefined)?.username !== undefined) problems.push('/process/user/username: Windows only; use /process/user/uid');
  // Values of the fields tsrun applies through attr-plan.ts.
  const sched = proc?.scheduler;
  if (sched && typeof sched === 'object') {
    if (!(sched.policy in SCHED_POLICY)) problems.push(`/process/scheduler/policy: ${q(sched.policy)} is not a policy this kernel has`);
    const deadline = sched.policy === 'SCHED_DEADLINE';
    for (const key of ['runtime', 'deadline', 'period'] as const) {
      if (!deadline && sched[key] !== undefined && sched[key] !== 0) problems.push(`/process/scheduler/${key}: applies only to SCHED_DEADLINE`);
    }
  }
  const mempolicy = linux?.memoryPolicy;
  if (mempolicy && typeof mempolicy === 'object') {
    if (!(mempolicy.mode in MPOL_MODE)) problems.push(`/linux/memoryPolicy/mode: unknown mode ${q(mempolicy.mode)}`);
    if (set(mempolicy.nodes) && !isList(mempolicy.nodes)) problems.push(`/linux/memoryPolicy/nodes: ${q(mempolicy.nodes)} is not a list such as "0-3,7"`);
  }
  for (const which of ['initial', 'final'] as const) {
    const cpus = proc?.execCPUAffinity?.[which];
    if (set(cpus) && !isList(cpus)) problems.push(`/process/execCPUAffinity/${which}: ${q(cpus)} is not a CPU list such as "0-3,7"`);
  }
  const flags = list(linux?.personality?.flags);
  if (flags.length) problems.push(`/linux/personality/flags: ${q(flags)}: the runtime-spec defines no personality flags`);
  if (linux?.timeOffsets !== undefined && linux) {
    const timeNs = list(linux.namespaces).find((ns) => ns?.type === 'time');
    if (!timeNs) problems.push('/linux/timeOffsets: needs a new time namespace (add {"type": "time"} to linux.namespaces)');
    else if (timeNs.path) problems.push('/linux/timeOffsets: offsets can only be set on a new time namespace, not one joined by path');
    for (const clock of ['monotonic', 'boottime'] as const) {
      const n = linux.timeOffsets?.[clock]?.nanosecs;
      if (n !== undefined && n >= 1e9) problems.push(`/linux/timeOffsets/${clock}/nanosecs: ${n} is not below 1000000000`);
    }
  }
  return problems;
}

const IFNAME = /^[^\s/:]{1,15}$/;

/** linux.netDevices: host interfaces that exist, valid and distinct names, a network namespace to move them to. */
function netDeviceProblems(config: Config): string[] {
  const problems: string[] = [];
  const devices = config.linux?.netDevices ?? {};
  if (!list(config.linux?.namespaces).some((ns) => ns?.type === 'network')) {
    problems.push('/linux/netDevices: needs a network namespace to move the devices to (add {"type": "network"} to linux.namespaces)');
  }
  const targets = new Map<string, string>();
  for (const [host, dev] of Object.entries(devices)) {
    const at = `/linux/netDevices/${host}`;
    const name = dev?.name || host;
    if (!IFNAME.test(host)) problems.push(`${at}: ${q(host)} is not an interface name`);
    else if (!existsSync(`/sys/class/net/${host}`)) problems.push(`${at}: no network interface ${q(host)} on this host`);
    if (!IFNAME.test(name)) problems.push(`${at}/name: ${q(name)} is not an interface name`);
    const other = targets.get(name);
    if (other !== undefined) problems.push(`${at}/name: ${q(name)} is also the name of /linux/netDevices/${other}`);
    targets.set(name, host);
  }
  return problems;
}
