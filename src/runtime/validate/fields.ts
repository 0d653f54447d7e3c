// Every field of the runtime-spec config and what tsrun does with it:
// 'applied' (and where), 'refused' (with the reason the error gives), or
// 'pending' (applied by work merged separately). A path
// covers its descendants unless one of them has an entry of its own; "*" is
// an array item or a map value. test/unit/config-fields.test.ts walks
// spec/config.schema.json and fails on a field that has no entry, a refused
// one that is not refused, or a plan one that does not change the plan;
// docs/config-fields.md is this table in prose. Not loaded by any verb.

export type FieldStatus = 'applied' | 'refused' | 'pending';

export interface FieldEntry {
  path: string;
  status: FieldStatus;
  /** Where it is applied, or why it is refused. */
  how: string;
  /** Set on a default config to check the claim: a refused field must be refused
   *  naming its path; an applied one marked `plan` must change the create plan
   *  (or, with `exec`, the exec plan). */
  sample?: unknown;
  plan?: 'create' | 'exec';
}

export const CONFIG_FIELDS: FieldEntry[] = [
  { path: '/ociVersion', status: 'applied', how: 'required by the schema, kept in the state' },
  { path: '/root', status: 'applied', how: 'see path and readonly' },
  { path: '/root/path', status: 'applied', how: 'the rootfs, resolved against the bundle (load-config.ts), bound and pivoted into (create plan)' },
  { path: '/root/readonly', status: 'applied', how: 'remount / read-only (create plan)', sample: false, plan: 'create' },
  { path: '/mounts', status: 'applied', how: 'mounted inside the rootfs, options parsed (create plan)', sample: [], plan: 'create' },
  { path: '/mounts/*/uidMappings', status: 'applied', how: 'an id-mapped bind mount (with the idmap or ridmap option): mount_setattr(MOUNT_ATTR_IDMAP) with a user namespace of these maps (userns-plan.ts, nsexec-userns.c)' },
  { path: '/mounts/*/gidMappings', status: 'applied', how: 'as /mounts/*/uidMappings' },
  { path: '/process', status: 'applied', how: 'the container\'s process (create plan)' },
  { path: '/process/terminal', status: 'applied', how: 'a pty, its master to --console-socket (create plan)' },
  { path: '/process/consoleSize', status: 'applied', how: 'the pty\'s size (create plan)' },
  { path: '/process/user/uid', status: 'applied', how: 'setresuid, 0..4294967294 (identity step)', sample: 1000, plan: 'create' },
  { path: '/process/user/gid', status: 'applied', how: 'setresgid, 0..4294967294 (identity step)', sample: 1000, plan: 'create' },
  { path: '/process/user/umask', status: 'applied', how: 'umask (create plan)', sample: 0o077, plan: 'create' },
  { path: '/process/user/additionalGids', status: 'applied', how: 'setgroups, 0..4294967294 (identity step)', sample: [10], plan: 'create' },
  { path: '/process/user/username', status: 'refused', how: 'Windows only; use /process/user/uid', sample: 'root' },
  { path: '/process/args', status: 'applied', how: 'the program and its arguments (exec step)', sample: ['true'], plan: 'create' },
  { path: '/process/commandLine', status: 'refused', how: 'Windows only; use /process/args', sample: 'sh' },
  { path: '/process/env', status: 'applied', how: 'the environment and PATH lookup (exec step)', sample: ['A=1'], plan: 'create' },
  { path: '/process/cwd', status: 'applied', how: 'created if missing, chdir (create plan)', sample: '/tmp', plan: 'create' },
  { path: '/process/capabilities', status: 'applied', how: 'bounding, then capset, then ambient ∩ inheritable ∩ permitted, as runc (identity step)', sample: { bounding: ['CAP_KILL'] }, plan: 'create' },
  { path: '/process/rlimits', status: 'applied', how: 'setrlimit (create plan)', sample: [{ type: 'RLIMIT_CORE', soft: 0, hard: 0 }], plan: 'create' },
  { path: '/process/noNewPrivileges', status: 'applied', how: 'PR_SET_NO_NEW_PRIVS (create plan)', sample: false, plan: 'create' },
  { path: '/process/oomScoreAdj', status: 'applied', how: '/proc/self/oom_score_adj (create plan)', sample: 100, plan: 'create' },
  { path: '/process/apparmorProfile', status: 'refused', how: 'AppArmor is not enabled on this host (or: tsrun does not apply AppArmor profiles)', sample: 'docker-default' },
  { path: '/process/selinuxLabel', status: 'refused', how: 'SELinux is not enabled on this host (or: tsrun does not apply SELinux labels)', sample: 'system_u:system_r:container_t:s0' },
  { path: '/process/scheduler', status: 'applied', how: 'sched_setattr before the identity step (create and exec plans)', sample: { policy: 'SCHED_BATCH', nice: 5 }, plan: 'create' },
  { path: '/process/ioPriority', status: 'applied', how: 'ioprio_set before the identity step (create and exec plans)', sample: { class: 'IOPRIO_CLASS_BE', priority: 6 }, plan: 'create' },
  { path: '/process/execCPUAffinity', status: 'applied', how: 'sched_setaffinity in exec only (the spec: not for the init): initial before the cgroup join, final before exec', sample: { final: '0' }, plan: 'exec' },
  { path: '/hostname', status: 'applied', how: 'sethostname, needs a uts namespace (create plan)', sample: 'h', plan: 'create' },
  { path: '/domainname', status: 'applied', how: 'setdomainname, needs a uts namespace (create plan)', sample: 'd', plan: 'create' },
  { path: '/hooks', status: 'applied', how: 'the six kinds below' },
  { path: '/hooks/prestart', status: 'applied', how: 'run by create in the runtime\'s namespaces' },
  { path: '/hooks/createRuntime', status: 'applied', how: 'run by create in the runtime\'s namespaces' },
  { path: '/hooks/createContainer', status: 'applied', how: 'run by the helper in the container\'s namespaces (create plan)', sample: [{ path: '/bin/true' }], plan: 'create' },
  { path: '/hooks/startContainer', status: 'applied', how: 'run by the helper after the start barrier (create plan)', sample: [{ path: '/bin/true' }], plan: 'create' },
  { path: '/hooks/poststart', status: 'applied', how: 'run by start' },
  { path: '/hooks/poststop', status: 'applied', how: 'run by delete (and a failed create)' },
  { path: '/annotations', status: 'applied', how: 'kept in the state; run.tsrun.* read by create (tsrun features lists them)' },
  { path: '/linux', status: 'applied', how: 'the fields below' },
  { path: '/linux/namespaces', status: 'applied', how: 'setns by path, unshare the rest (create plan); time with /linux/timeOffsets', sample: [{ type: 'mount' }, { type: 'uts' }], plan: 'create' },
  { path: '/linux/uidMappings', status: 'applied', how: 'written to the new user namespace by a mapper in the parent namespace, or newuidmap (userns-plan.ts, nsexec-userns.c)' },
  { path: '/linux/gidMappings', status: 'applied', how: 'as /linux/uidMappings (newgidmap for a rootless caller)' },
  { path: '/linux/timeOffsets', status: 'applied', how: '/proc/self/timens_offsets after unshare(CLONE_NEWTIME), before the fork (create plan); refused without a new time namespace', sample: { boottime: { secs: 1 } } },
  { path: '/linux/devices', status: 'applied', how: 'mknod inside the rootfs (create plan)', sample: [{ type: 'c', path: '/dev/x', major: 1, minor: 3 }], plan: 'create' },
  { path: '/linux/netDevices', status: 'applied', how: 'ip link set ... netns PID name NAME once the process exists (net-devices.ts); moved back by delete while the container lives; refused naming the device when it does not exist' },
  { path: '/linux/cgroupsPath', status: 'applied', how: 'the container\'s cgroup (cgroups/)' },
  { path: '/linux/resources', status: 'applied', how: 'written to the cgroup before the process runs (cgroups/resources-v1.ts, resources-v2.ts); a field the cgroup version cannot enforce (v2: devices, swappiness, disableOOMKiller, realtime*, kernel*, leafWeight, useHierarchy false) is a warning naming it' },
  { path: '/linux/resources/memory/checkBeforeUpdate', status: 'refused', how: 'tsrun does not compare usage with a new limit', sample: true },
  { path: '/linux/resources/network', status: 'applied', how: 'net_cls.classid and net_prio.ifpriomap where those v1 controllers are mounted; refused where not (this host) and on cgroup v2' },
  { path: '/linux/resources/rdma', status: 'refused', how: 'tsrun does not implement the rdma cgroup controller', sample: { mlx5_0: { hcaHandles: 3 } } },
  { path: '/linux/resources/unified', status: 'applied', how: 'cgroup v2 files; refused on a v1 host' },
  { path: '/linux/intelRdt', status: 'refused', how: 'Intel RDT (resctrl) is not available on this host (or: tsrun does not implement Intel RDT)', sample: { closID: 'x' } },
  { path: '/linux/sysctl', status: 'applied', how: '/proc/sys writes in the container\'s namespaces, checked first (create plan)', sample: { 'kernel.shmmax': '1' }, plan: 'create' },
  { path: '/linux/rootfsPropagation', status: 'applied', how: 'propagation of / (create plan)', sample: 'shared', plan: 'create' },
  { path: '/linux/maskedPaths', status: 'applied', how: 'masked after pivot_root (create plan)', sample: ['/proc/x'], plan: 'create' },
  { path: '/linux/readonlyPaths', status: 'applied', how: 'bound read-only after pivot_root (create plan)', sample: ['/proc/y'], plan: 'create' },
  { path: '/linux/mountLabel', status: 'refused', how: 'SELinux is not enabled on this host (or: tsrun does not apply SELinux labels)', sample: 'system_u:object_r:container_file_t:s0' },
  { path: '/linux/personality/domain', status: 'applied', how: 'personality(2) before the identity step (create plan), and for exec\'d processes (exec plan), as runc', sample: 'LINUX32', plan: 'create' },
  { path: '/linux/personality/flags', status: 'refused', how: 'the runtime-spec defines no personality flags', sample: ['X'] },
  { path: '/linux/personality', status: 'applied', how: 'see domain and flags' },
  { path: '/linux/memoryPolicy', status: 'applied', how: 'set_mempolicy before the identity step (create plan)', sample: { mode: 'MPOL_BIND', nodes: '0' }, plan: 'create' },
  { path: '/linux/seccomp', status: 'applied', how: 'compiled by libseccomp (cached by content), loaded by seccomp(2) before the identity switch, or last before exec with noNewPrivileges; notify fds to listenerPath (seccomp.ts, seccomp-compile.c, nsexec-seccomp.c); exec gets the container\'s' },
  { path: '/solaris', status: 'refused', how: 'another platform\'s section; tsrun runs Linux containers', sample: {} },
  { path: '/windows', status: 'refused', how: 'another platform\'s section; tsrun runs Linux containers', sample: {} },
  { path: '/vm', status: 'refused', how: 'another platform\'s section; tsrun runs Linux containers', sample: {} },
  { path: '/zos', status: 'refused', how: 'another platform\'s section; tsrun runs Linux containers', sample: {} },
];

/** The entry that decides for `path` (with "*" for items): its own, or its nearest ancestor's. */
export function fieldEntry(path: string): FieldEntry | undefined {
  for (let p = path; p !== ''; p = p.slice(0, p.lastIndexOf('/'))) {
    const e = CONFIG_FIELDS.find((f) => f.path === p);
    if (e) return e;
  }
  return undefined;
}
