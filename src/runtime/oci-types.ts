// The subset of the OCI runtime-spec (config.md, config-linux.md, runtime.md)
// that tsrun supports. spec/config.schema.json is the executable form of these
// types; keep both in step.

export const OCI_VERSION = '1.2.0';

export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export interface Namespace {
  type: NamespaceType;
  path?: string;
}

export interface Mount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
  /** An id-mapped mount's own maps (runtime-spec 1.1); without them, the user namespace's. */
  uidMappings?: { containerID: number; hostID: number; size: number }[];
  gidMappings?: { containerID: number; hostID: number; size: number }[];
}

export interface Rlimit {
  type: string;
  soft: number;
  hard: number;
}

export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  permitted?: string[];
  inheritable?: string[];
  ambient?: string[];
}

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

export interface ConsoleSize {
  height: number;
  width: number;
}

export interface Process {
  terminal?: boolean;
  consoleSize?: ConsoleSize;
  user: User;
  args: string[];
  env?: string[];
  cwd: string;
  capabilities?: Capabilities;
  rlimits?: Rlimit[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
  apparmorProfile?: string;
  selinuxLabel?: string;
  scheduler?: Scheduler;
  ioPriority?: { class: 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE'; priority?: number };
  /** CPU lists ("0-3,7"): before the process joins the cgroup, and just before exec (exec only). */
  execCPUAffinity?: { initial?: string; final?: string };
}

export interface Scheduler {
  policy: string;
  nice?: number;
  priority?: number;
  flags?: string[];
  runtime?: number;
  deadline?: number;
  period?: number;
}

export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export const HOOK_KINDS = [
  'prestart',
  'createRuntime',
  'createContainer',
  'startContainer',
  'poststart',
  'poststop',
] as const;
export type HookKind = (typeof HOOK_KINDS)[number];
export type Hooks = Partial<Record<HookKind, Hook[]>>;

export interface Device {
  type: 'c' | 'b' | 'u' | 'p';
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface DeviceCgroupRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number | null;
  minor?: number | null;
  access?: string;
}

export interface ThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

export interface WeightDevice {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
}

export interface Resources {
  devices?: DeviceCgroupRule[];
  memory?: {
    limit?: number;
    reservation?: number;
    swap?: number;
    kernel?: number;
    kernelTCP?: number;
    swappiness?: number;
    disableOOMKiller?: boolean;
    useHierarchy?: boolean;
    checkBeforeUpdate?: boolean;
  };
  cpu?: {
    shares?: number;
    quota?: number;
    burst?: number;
    period?: number;
    realtimeRuntime?: number;
    realtimePeriod?: number;
    cpus?: string;
    mems?: string;
    idle?: number;
  };
  blockIO?: {
    weight?: number;
    leafWeight?: number;
    weightDevice?: WeightDevice[];
    throttleReadBpsDevice?: ThrottleDevice[];
    throttleWriteBpsDevice?: ThrottleDevice[];
    throttleReadIOPSDevice?: ThrottleDevice[];
    throttleWriteIOPSDevice?: ThrottleDevice[];
  };
  hugepageLimits?: { pageSize: string; limit: number }[];
  pids?: { limit: number };
  /** net_cls.classid and net_prio.ifpriomap (cgroup v1 only). */
  network?: { classID?: number; priorities?: { name: string; priority: number }[] };
  rdma?: Record<string, { hcaHandles?: number; hcaObjects?: number }>;
  unified?: Record<string, string>;
}

export interface Linux {
  namespaces?: Namespace[];
  uidMappings?: { containerID: number; hostID: number; size: number }[];
  gidMappings?: { containerID: number; hostID: number; size: number }[];
  devices?: Device[];
  cgroupsPath?: string;
  resources?: Resources;
  sysctl?: Record<string, string>;
  rootfsPropagation?: 'private' | 'shared' | 'slave' | 'unbindable' | 'rprivate' | 'rshared' | 'rslave' | 'runbindable';
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  timeOffsets?: Partial<Record<'monotonic' | 'boottime', { secs?: number; nanosecs?: number }>>;
  netDevices?: Record<string, { name?: string }>;
  intelRdt?: Record<string, unknown>;
  personality?: { domain: 'LINUX' | 'LINUX32'; flags?: string[] };
  memoryPolicy?: { mode: string; nodes?: string; flags?: string[] };
  seccomp?: Seccomp;
}

/** linux.seccomp (config-linux.md); src/runtime/seccomp.ts checks and encodes it. */
export interface Seccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: SeccompSyscall[];
}

export interface SeccompSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  /** value and valueTwo are uint64: a bigint where JSON's number would round (seccomp.ts, withExactValues). */
  args?: { index: number; value: number | bigint; valueTwo?: number | bigint; op: string }[];
}

export interface Config {
  ociVersion: string;
  root: { path: string; readonly?: boolean };
  mounts?: Mount[];
  process?: Process;
  hostname?: string;
  domainname?: string;
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: Linux;
}

export type Status = 'creating' | 'created' | 'running' | 'stopped' | 'paused';

/** The state object of runtime.md, as `state` prints it and hooks read it. */
export interface State {
  ociVersion: string;
  id: string;
  status: Status;
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}
