// Checks the schema cannot express: absolute paths, namespace requirements
// of other fields, names that must come from a table, relations between
// values. Runs after the schema validator, but tolerates malformed input so
// it is safe on its own. Sysctls are checked separately (validate/sysctl.ts)
// because their rules depend on the host's network namespace.
import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { capabilityNumber } from '../capabilities.ts';
import { RuntimeError } from '../errors.ts';
import type { Capabilities, Config, NamespaceType } from '../oci-types.ts';
import { HOOK_KINDS } from '../oci-types.ts';
import { isUnlimited, rlimitNumber } from '../rlimits.ts';
import { unsupportedProblems } from './unsupported.ts';
import { idmapProblems } from './idmap.ts';

export type RootfsFact = 'dir' | 'missing' | 'not-dir';

export interface SemanticFacts {
  rootfs: RootfsFact;
  /** The resolved rootfs path, for messages; defaults to root.path. */
  rootfsPath?: string;
}

const NAMESPACE_TYPES: ReadonlySet<string> = new Set<NamespaceType>(['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time']);
const CAPABILITY_SETS: readonly (keyof Capabilities)[] = ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'];

const q = (s: unknown) => JSON.stringify(s);
const list = <T>(v: T[] | undefined): T[] => (Array.isArray(v) ? v : []);
const addNamespace = (type: string) => `(add {"type": "${type}"} to linux.namespaces)`;

function absolute(problems: string[], path: string, value: unknown): void {
  if (typeof value === 'string' && !value.startsWith('/')) {
    problems.push(`${path}: must be an absolute path, got ${q(value)}`);
  }
}

function checkNamespaces(config: Config, problems: string[]): Set<string> {
  const seen = new Map<string, number>();
  list(config.linux?.namespaces).forEach((ns, i) => {
    const at = `/linux/namespaces/${i}`;
    if (!NAMESPACE_TYPES.has(ns?.type)) {
      problems.push(`${at}/type: unknown namespace type ${q(ns?.type)}`);
      return;
    }
    const first = seen.get(ns.type);
    if (first !== undefined) problems.push(`${at}/type: duplicate namespace type ${q(ns.type)} (also at /linux/namespaces/${first})`);
    else seen.set(ns.type, i);
    if (ns.path !== undefined && ns.path !== '') absolute(problems, `${at}/path`, ns.path);
  });
  return new Set(seen.keys());
}

function checkPaths(config: Config, problems: string[]): void {
  absolute(problems, '/process/cwd', config.process?.cwd);
  list(config.mounts).forEach((m, i) => {
    absolute(problems, `/mounts/${i}/destination`, m?.destination);
    const bind = m?.type === 'bind' || list(m?.options).some((o) => o === 'bind' || o === 'rbind');
    if (bind && (typeof m?.source !== 'string' || m.source === '')) problems.push(`/mounts/${i}/source: a bind mount needs a source`);
  });
  list(config.linux?.maskedPaths).forEach((p, i) => absolute(problems, `/linux/maskedPaths/${i}`, p));
  list(config.linux?.readonlyPaths).forEach((p, i) => absolute(problems, `/linux/readonlyPaths/${i}`, p));
  list(config.linux?.devices).forEach((d, i) => absolute(problems, `/linux/devices/${i}/path`, d?.path));
  for (const kind of HOOK_KINDS) {
    list(config.hooks?.[kind]).forEach((h, i) => absolute(problems, `/hooks/${kind}/${i}/path`, h?.path));
  }
}

// runc counts any uts entry, joined (with a path) or new: joining another
// container's uts namespace and setting its hostname is allowed, since the
// hostname then changes in that namespace, not the host's.
function checkNamespaceUsers(config: Config, namespaces: Set<string>, problems: string[]): void {
  if (config.hostname && !namespaces.has('uts')) {
    problems.push(`/hostname: cannot set the hostname without a uts namespace ${addNamespace('uts')}`);
  }
  if (config.domainname && !namespaces.has('uts')) {
    problems.push(`/domainname: cannot set the domainname without a uts namespace ${addNamespace('uts')}`);
  }
  const userNs = list(config.linux?.namespaces).find((n) => n?.type === 'user');
  for (const field of ['uidMappings', 'gidMappings'] as const) {
    const mappings = config.linux?.[field];
    if (!userNs && list(mappings).length > 0) {
      problems.push(`/linux/${field}: id mappings need a user namespace ${addNamespace('user')}`);
    } else if (userNs && !userNs.path && list(mappings).length === 0) {
      problems.push(`/linux/${field}: a new user namespace needs at least one mapping`);
    }
  }
  // Masking or remounting host paths read-only outside a mount namespace
  // would do it to the host (runc refuses this too).
  for (const field of ['maskedPaths', 'readonlyPaths'] as const) {
    if (list(config.linux?.[field]).length > 0 && !namespaces.has('mount')) {
      problems.push(`/linux/${field}: needs a mount namespace ${addNamespace('mount')}`);
    }
  }
  // Without a mount namespace the container inherits the runtime's (as the
  // spec says of any namespace not listed): tsrun enters the rootfs with
  // chroot and mounts nothing. Mounts, nodes and remounts made there would
  // land in the host's mount table and filesystem and outlive the container
  // (runc makes them and leaves them behind), so they are refused.
  if (!namespaces.has('mount')) {
    const reason = (what: string) => `needs a mount namespace ${addNamespace('mount')}: without one ${what}`;
    if (list(config.mounts).length > 0) problems.push(`/mounts: ${reason('they would be mounted in the host\'s mount namespace and outlive the container')}`);
    if (list(config.linux?.devices).length > 0) problems.push(`/linux/devices: ${reason('the nodes would be created in the rootfs on the host')}`);
    if (config.root?.readonly) problems.push(`/root/readonly: ${reason('the read-only remount would be the host\'s')}`);
    if (config.linux?.rootfsPropagation) problems.push(`/linux/rootfsPropagation: ${reason('there is no container mount tree to set it on')}`);
  }
}

function checkCapabilities(config: Config, problems: string[]): void {
  const caps = config.process?.capabilities;
  for (const set of CAPABILITY_SETS) {
    list(caps?.[set]).forEach((name, i) => {
      if (typeof name !== 'string' || capabilityNumber(name) === undefined) {
        problems.push(`/process/capabilities/${set}/${i}: unknown capability ${q(name)}`);
      }
    });
  }
}

/** The largest id a process can take: (uid_t)-1 means "leave unchanged" to
 *  setresuid(2) and friends, so 4294967295 would silently keep the caller's
 *  id (root). runc refuses it too ("uids and gids must be in range"). */
export const MAX_ID = 4294967294;

/** uid, gid and additionalGids outside 0..MAX_ID, each as `<JSON path>: <reason>`. */
export function userProblems(user: { uid?: unknown; gid?: unknown; additionalGids?: unknown } | undefined, at = '/process/user'): string[] {
  const problems: string[] = [];
  const check = (path: string, v: unknown): void => {
    if (typeof v === 'number' && (!Number.isInteger(v) || v < 0 || v > MAX_ID)) {
      problems.push(`${path}: ${v} is not a valid id (ids are 0..${MAX_ID}; ${MAX_ID + 1} means "unchanged" to setresuid and would keep the runtime's root)`);
    }
  };
  check(`${at}/uid`, user?.uid);
  check(`${at}/gid`, user?.gid);
  list(user?.additionalGids as unknown[] | undefined).forEach((g, i) => check(`${at}/additionalGids/${i}`, g));
  return problems;
}

// Compares in the space setrlimit sees: every value from 2^63 up is infinity.
const limitOf = (n: number) => (isUnlimited(n) ? Infinity : n);

function checkRlimits(config: Config, problems: string[]): void {
  const seen = new Map<string, number>();
  list(config.process?.rlimits).forEach((r, i) => {
    const at = `/process/rlimits/${i}`;
    if (typeof r?.type !== 'string' || rlimitNumber(r.type) === undefined) {
      problems.push(`${at}/type: unknown rlimit type ${q(r?.type)}`);
    } else if (seen.has(r.type)) {
      problems.push(`${at}/type: duplicate rlimit type ${q(r.type)} (also at /process/rlimits/${seen.get(r.type)})`);
    } else {
      seen.set(r.type, i);
    }
    if (typeof r?.soft === 'number' && typeof r.hard === 'number' && limitOf(r.soft) > limitOf(r.hard)) {
      problems.push(`${at}: soft limit ${r.soft} is greater than hard limit ${r.hard}`);
    }
  });
}

// A positive swap below the limit is refused by the kernel (memsw.limit <
// limit); -1 is unlimited and 0 or unset leaves swap alone, as in runc.
function checkMemory(config: Config, problems: string[]): void {
  const memory = config.linux?.resources?.memory;
  const limit = memory?.limit;
  const swap = memory?.swap;
  if (typeof limit === 'number' && typeof swap === 'number' && limit > 0 && swap > 0 && swap < limit) {
    problems.push(`/linux/resources/memory/swap: must be -1 or at least the memory limit ${limit} (it limits memory plus swap), got ${swap}`);
  }
}

/** Every semantic problem, each `<JSON path>: <reason>`; [] for a valid config. */
export function semanticProblems(config: Config, facts: SemanticFacts): string[] {
  const problems: string[] = [];
  const rootfs = facts.rootfsPath ?? config.root?.path;
  // Non-empty strings are checked here, not in the schema: Ajv's minLength
  // needs a runtime require() that the standalone ESM validator cannot do.
  if (config.root?.path === '') problems.push('/root/path: must not be empty');
  if (facts.rootfs === 'missing') problems.push(`/root/path: rootfs ${q(rootfs)} does not exist`);
  if (facts.rootfs === 'not-dir') problems.push(`/root/path: rootfs ${q(rootfs)} is not a directory`);
  checkPaths(config, problems);
  const namespaces = checkNamespaces(config, problems);
  checkNamespaceUsers(config, namespaces, problems);
  problems.push(...userProblems(config.process?.user));
  checkCapabilities(config, problems);
  checkRlimits(config, problems);
  checkMemory(config, problems);
  problems.push(...unsupportedProblems(config));
  problems.push(...idmapProblems(config));
  return problems;
}

/** root.path resolved against the bundle directory unless already absolute. */
export function rootfsPath(config: Config, bundleDir: string): string {
  const path = config.root.path;
  return isAbsolute(path) ? path : resolve(bundleDir, path);
}

/** Stats the rootfs; anything that is not a directory (or a link to one) is 'not-dir'. */
export function rootfsFact(path: string): RootfsFact {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'not-dir';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    if (code === 'ENOTDIR') return 'not-dir';
    throw new RuntimeError('ERR_CONFIG', `/root/path: cannot stat rootfs ${q(path)}: ${code?.toLowerCase() ?? String(err)}`, {
      op: 'stat',
      path,
      cause: err,
    });
  }
}

/** Throws ERR_CONFIG listing every problem (joined by "; ") of the config in `bundleDir`. */
export function validateSemantics(config: Config, bundleDir: string): void {
  const path = rootfsPath(config, bundleDir);
  const problems = semanticProblems(config, { rootfs: rootfsFact(path), rootfsPath: path });
  if (problems.length > 0) {
    throw new RuntimeError('ERR_CONFIG', problems.join('; '), { op: 'validate config', path: resolve(bundleDir, 'config.json') });
  }
}
