// Where tsrun's own files are: the bundle runs from build/tsrun.cjs and the C
// helpers sit beside it; sources run from src/ (tests) find them in build/.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const BUILD_DIR = here.endsWith('/build') ? here : join(here, '..', '..', 'build');
export const PROJECT_DIR = dirname(BUILD_DIR);

export function helperPath(name: 'tsrun-nsexec' | 'tsrun-seccomp' | 'tsrun-init'): string {
  return join(BUILD_DIR, name);
}

/** The command that runs this tsrun: used in hook entries `tsrun spec --net` writes. */
export function tsrunCommand(): string {
  return join(PROJECT_DIR, 'bin', 'tsrun');
}

/** --root's default, as runc's: /run/tsrun for root; for anyone else
 *  $XDG_RUNTIME_DIR/tsrun or /run/user/UID/tsrun; for root in a user namespace
 *  (a rootless engine such as podman) $XDG_RUNTIME_DIR/tsrun when it is set
 *  and $USER is not root. */
export function defaultStateRoot(): string {
  const uid = process.geteuid?.() ?? 0;
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (uid !== 0) return join(xdg || `/run/user/${uid}`, 'tsrun');
  if (xdg && process.env.USER !== 'root' && inUserNamespace()) return join(xdg, 'tsrun');
  return '/run/tsrun';
}

/** This process's user namespace is not the host's: its uid map is not the identity. */
export function inUserNamespace(): boolean {
  try {
    return !/^\s*0\s+0\s+4294967295\s*$/.test(readFileSync('/proc/self/uid_map', 'utf8'));
  } catch {
    return false;
  }
}
