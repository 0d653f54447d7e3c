// tsrun features: the runtime-spec features document (features.md,
// features-linux.md). It lists what tsrun implements, not what this host
// offers, and leaves out what tsrun would refuse. docs/config-fields.md says,
// field by field, what is applied and what refused.
import type { Context } from '../context.ts';
import { ALL_CAPABILITIES } from '../capabilities.ts';
import { DEFAULT_GRACE_SECONDS, GRACE_ANNOTATION, INIT_ANNOTATION, KILL_AFTER_ANNOTATION, PGRP_ANNOTATION } from '../annotations.ts';
import { HOOK_KINDS, OCI_VERSION } from '../oci-types.ts';
import { parseMountOptions } from '../validate/mount-options.ts';
import { MPOL_MODE } from '../attr-plan.ts';
import { execFileSync } from 'node:child_process';
import { helperPath } from '../paths.ts';
import { SECCOMP_FLAGS, SECCOMP_OPERATORS } from '../seccomp.ts';

// Set by the build when it knows the version (see cli/help.ts).
declare const TSRUN_VERSION: string | undefined;

// Every option name runtime-spec 1.2 lists in features.md, plus idmap/ridmap;
// mountOptionsTsrunKnows() keeps the ones parseMountOptions turns into flags.
const SPEC_MOUNT_OPTIONS = [
  'acl', 'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'idmap', 'iversion', 'lazytime',
  'loud', 'mand', 'noacl', 'noatime', 'nodev', 'nodiratime', 'noexec', 'noiversion', 'nolazytime', 'nomand',
  'norelatime', 'nostrictatime', 'nosuid', 'nosymfollow', 'private', 'ratime', 'rbind', 'rdev', 'rdiratime',
  'relatime', 'remount', 'rexec', 'ridmap', 'rnoatime', 'rnodev', 'rnodiratime', 'rnoexec', 'rnorelatime',
  'rnostrictatime', 'rnosuid', 'rnosymfollow', 'ro', 'rprivate', 'rrelatime', 'rro', 'rrw', 'rshared', 'rslave',
  'rstrictatime', 'rsuid', 'rsymfollow', 'runbindable', 'rw', 'shared', 'silent', 'slave', 'strictatime', 'suid',
  'symfollow', 'sync', 'tmpcopyup', 'unbindable',
];

// What the create plan makes (a time namespace with linux.timeOffsets, a
// user namespace with its id maps).
const NAMESPACES = ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts'];

/**
 * The options tsrun itself interprets: parseMountOptions accepts them and
 * turns them into mount flags or propagation, rather than refusing them
 * (rro, idmap, tmpcopyup...) or passing them on as filesystem data (acl).
 */
export function mountOptionsTsrunKnows(): string[] {
  return SPEC_MOUNT_OPTIONS.filter((opt) => {
    try {
      return parseMountOptions([opt]).data === '';
    } catch {
      return false;
    }
  });
}

/** linux.seccomp as this build carries it out: the actions this kernel has,
 *  the architectures this libseccomp knows and the flags this kernel takes,
 *  asked of tsrun-seccomp itself (src/ns/seccomp-compile.c). */
function seccompFeatures(): Record<string, unknown> {
  const probe = JSON.parse(execFileSync(helperPath('tsrun-seccomp'), ['features'], { encoding: 'utf8' })) as
    { actions: string[]; archs: string[]; supportedFlags: string[] };
  return {
    enabled: true,
    actions: probe.actions,
    operators: Object.keys(SECCOMP_OPERATORS).sort(),
    archs: probe.archs,
    knownFlags: Object.keys(SECCOMP_FLAGS),
    supportedFlags: probe.supportedFlags,
  };
}

export function featuresDocument(): Record<string, unknown> {
  const annotations: Record<string, string> = {
    // The config annotations tsrun reads, with the value it assumes when one is
    // absent ("auto": on, except for CRI configs and an engine's own init, see
    // src/runtime/init-options.ts; "": unset, tsrun-init never kills on its own).
    [INIT_ANNOTATION]: 'auto',
    [GRACE_ANNOTATION]: DEFAULT_GRACE_SECONDS,
    [KILL_AFTER_ANNOTATION]: '',
    [PGRP_ANNOTATION]: 'false',
  };
  if (typeof TSRUN_VERSION === 'string') annotations['run.tsrun.version'] = TSRUN_VERSION;
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: OCI_VERSION,
    hooks: [...HOOK_KINDS],
    mountOptions: mountOptionsTsrunKnows(),
    linux: {
      namespaces: NAMESPACES,
      capabilities: [...ALL_CAPABILITIES],
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
      seccomp: seccompFeatures(),
      // Refused with their JSON path on every host (validate/unsupported.ts).
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      // set_mempolicy(2) with these, from linux.memoryPolicy (attr-plan.ts).
      memoryPolicy: { modes: Object.keys(MPOL_MODE), flags: ['MPOL_F_NUMA_BALANCING', 'MPOL_F_RELATIVE_NODES', 'MPOL_F_STATIC_NODES'] },
      mountExtensions: { idmap: { enabled: true } },
      netDevices: { enabled: true },
    },
    annotations,
    potentiallyUnsafeConfigAnnotations: [],
  };
}

export default async function features(_ctx: Context): Promise<number> {
  process.stdout.write(`${JSON.stringify(featuresDocument(), null, 4)}\n`);
  return 0;
}
