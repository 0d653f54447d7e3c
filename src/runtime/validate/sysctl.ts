// Which linux.sysctl keys a container may set. /proc/sys is only partly
// namespaced: a key is allowed only when the namespace that owns it is the
// container's own, otherwise writing it would change the host. The rules
// are runc's (libcontainer/configs/validate), plus user.* for user
// namespaces and checks that keep a key from naming a file outside /proc/sys.
import { statSync } from 'node:fs';
import { RuntimeError } from '../errors.ts';
import type { Config, Namespace } from '../oci-types.ts';

export type NetworkNamespaceKind = 'new' | 'joined' | 'host';

export interface NamespaceFacts {
  /** An ipc namespace entry, new or joined. */
  ipc: boolean;
  net: NetworkNamespaceKind;
  /** A uts namespace entry, new or joined. */
  uts: boolean;
  /** A user namespace entry, new or joined. */
  user: boolean;
}

const IPC_KEYS = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

/**
 * The dotted form of a key. sysctl(8) accepts `/` as the separator too; then
 * dots are part of a name (an interface called eth0.100), so when the first
 * separator is `/` the two characters swap: `net/ipv4/conf/eth0.100/rp_filter`
 * becomes `net.ipv4.conf.eth0/100.rp_filter`. Idempotent.
 */
export function normalizeSysctlKey(key: string): string {
  const first = key.search(/[./]/);
  if (first === -1 || key[first] === '.') return key;
  return key.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

function fileComponents(key: string): string[] {
  return normalizeSysctlKey(key)
    .split('.')
    .map((part) => part.replaceAll('/', '.'));
}

/** The file under /proc/sys to write for a key, in either form. */
export function sysctlFile(key: string): string {
  return `/proc/sys/${fileComponents(key).join('/')}`;
}

function keyProblem(key: string): string | undefined {
  if (key === '') return 'it is empty';
  if (key.includes('\0')) return 'it contains a NUL byte';
  if (key.includes('..')) return 'it contains ".."';
  if (normalizeSysctlKey(key).split('.').some((part) => part === '')) return 'it has an empty component';
  // A component of only slashes would become "." or ".." in the file path.
  if (fileComponents(key).some((part) => part === '.' || part === '..')) return 'it names a file outside /proc/sys';
  return undefined;
}

const SHARED = (ns: 'ipc' | 'network' | 'uts' | 'user') =>
  `the container shares the host ${ns} namespace (add ${ns === 'ipc' ? 'an' : 'a'} ${ns} namespace to linux.namespaces)`;

function ruleProblem(dotted: string, ns: NamespaceFacts): string | undefined {
  if (IPC_KEYS.has(dotted) || dotted.startsWith('fs.mqueue.')) return ns.ipc ? undefined : SHARED('ipc');
  if (dotted.startsWith('net.')) return ns.net === 'host' ? SHARED('network') : undefined;
  if (dotted === 'kernel.domainname') return ns.uts ? undefined : SHARED('uts');
  if (dotted === 'kernel.hostname') return 'it conflicts with the hostname field (set "hostname" in config.json instead)';
  if (dotted.startsWith('user.')) return ns.user ? undefined : SHARED('user');
  return 'it is not namespaced, so it would change the host';
}

/** Every problem with the sysctl map, one message per key (and per bad value). */
export function sysctlProblems(sysctl: Record<string, string> | undefined, ns: NamespaceFacts): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(sysctl ?? {})) {
    const name = JSON.stringify(key);
    const bad = keyProblem(key);
    if (bad) {
      problems.push(`sysctl ${name} is not a valid key: ${bad}`);
      continue;
    }
    const refused = ruleProblem(normalizeSysctlKey(key), ns);
    if (refused) problems.push(`sysctl ${name} is not allowed: ${refused}`);
    if (typeof value !== 'string') problems.push(`sysctl ${name} has an invalid value: must be a string`);
    else if (/[\n\r]/.test(value)) problems.push(`sysctl ${name} has an invalid value: it contains a newline`);
    else if (value.includes('\0')) problems.push(`sysctl ${name} has an invalid value: it contains a NUL byte`);
  }
  return problems;
}

/** Throws ERR_SYSCTL with every problem joined by "; ". */
export function validateSysctls(sysctl: Record<string, string> | undefined, ns: NamespaceFacts): void {
  const problems = sysctlProblems(sysctl, ns);
  if (problems.length > 0) {
    throw new RuntimeError('ERR_SYSCTL', problems.join('; '), { op: 'validate sysctl' });
  }
}

/**
 * 'host' when there is no network namespace entry or its path is the
 * namespace the runtime itself is in ("host" means "current", as in runc:
 * joining our own namespace isolates nothing), 'joined' for another
 * namespace's path, 'new' for an entry without a path. Stats the path, so
 * call it only when the answer matters (there are net.* sysctls).
 */
export function networkNamespaceKind(namespaces: Namespace[] | undefined): NetworkNamespaceKind {
  const index = (namespaces ?? []).findIndex((n) => n.type === 'network');
  const entry = namespaces?.[index];
  if (!entry) return 'host';
  if (!entry.path) return 'new';
  const self = '/proc/self/ns/net';
  const stat = (p: string) => {
    try {
      return statSync(p, { bigint: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code?.toLowerCase() ?? String(err);
      throw new RuntimeError('ERR_CONFIG', `/linux/namespaces/${index}/path: cannot stat network namespace ${JSON.stringify(p)}: ${code}`, {
        op: 'stat',
        path: p,
        cause: err,
      });
    }
  };
  const own = stat(self);
  const target = stat(entry.path);
  return own.dev === target.dev && own.ino === target.ino ? 'host' : 'joined';
}

/** The namespace facts sysctlProblems needs (stats the network namespace path, if any). */
export function namespaceFacts(config: Config): NamespaceFacts {
  const namespaces = config.linux?.namespaces;
  const has = (type: Namespace['type']) => (namespaces ?? []).some((n) => n.type === type);
  return { ipc: has('ipc'), net: networkNamespaceKind(namespaces), uts: has('uts'), user: has('user') };
}
