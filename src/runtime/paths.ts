// Where tsrun's own files are: the bundle runs from build/tsrun.cjs and the C
// helpers sit beside it; sources run from src/ (tests) find them in build/.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const BUILD_DIR = here.endsWith('/build') ? here : join(here, '..', '..', 'build');
export const PROJECT_DIR = dirname(BUILD_DIR);

export function helperPath(name: 'tsrun-nsexec' | 'tsrun-init'): string {
  return join(BUILD_DIR, name);
}

/** The command that runs this tsrun: used in hook entries `tsrun spec --net` writes. */
export function tsrunCommand(): string {
  return join(PROJECT_DIR, 'bin', 'tsrun');
}

/** --root's default: /run/tsrun for root; for anyone else $XDG_RUNTIME_DIR/tsrun or /run/user/UID/tsrun, as runc. */
export function defaultStateRoot(): string {
  const uid = process.geteuid?.() ?? 0;
  if (uid === 0) return '/run/tsrun';
  return join(process.env.XDG_RUNTIME_DIR || `/run/user/${uid}`, 'tsrun');
}
