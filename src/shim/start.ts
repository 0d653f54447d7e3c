// The `start` action (protocol in main.ts): find the daemon of this
// container's group, or become it, and say its address. The daemon's modules
// (protobuf, the runtime) load only when this process becomes the daemon.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { ShimFlags } from './flags.ts';

export const GROUP_ANNOTATIONS = ['io.kubernetes.cri.sandbox-id', 'io.containerd.runc.v2.group'];
export const SOCKET_DIR = '/run/containerd/s';
/** The group of a container with no group annotation: its containerd
 *  namespace's shim (see main.ts, "Groups"). No annotation names it, as
 *  groupOf only takes non-empty values. */
export const NAMESPACE_GROUP = '';

/** The launcher (bin/containerd-shim-tsrun-v2) hashes the same string with sha256sum: keep them alike. */
export function socketPath(address: string, namespace: string, group: string): string {
  return join(SOCKET_DIR, createHash('sha256').update(`${address}/${namespace}/${group}/tsrun`).digest('hex'));
}

export function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ path });
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
}

export function groupOf(bundle: string): string {
  try {
    const annotations = (JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { annotations?: Record<string, string> }).annotations ?? {};
    for (const key of GROUP_ANNOTATIONS) if (annotations[key]) return annotations[key];
  } catch {
    // no readable config: the namespace's group, and Create reports the config's problem
  }
  return NAMESPACE_GROUP;
}

/** The start action, run by bin/containerd-shim-tsrun-v2 with stdout on a
 *  FIFO it reads one line from: the address of the group's daemon, which is
 *  either already running (we exit) or this very process (we go on serving). */
export async function startAction(flags: ShimFlags): Promise<number> {
  const bundle = process.cwd();
  const group = groupOf(bundle);
  const socket = socketPath(flags.address, flags.namespace, group);
  const address = `unix://${socket}`;
  process.stdout.on('error', () => {}); // the launcher stops reading after one line
  if (await canConnect(socket)) {
    writeFileSync(join(bundle, 'address'), address);
    process.stdout.write(`${address}\n`);
    return 0;
  }
  let serving: boolean;
  try {
    const { serve } = await import('./daemon.ts');
    serving = await serve(flags, socket, group === NAMESPACE_GROUP);
    writeFileSync(join(bundle, 'address'), address);
  } catch (err) {
    process.stdout.write(`error ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`${address}\n`);
  if (!serving) return 0;
  process.chdir('/'); // the first bundle goes away before the group's last container
  // After the address is out, while containerd reads it: become a child
  // subreaper (a container's process outliving its helper stays our child;
  // this loads ffi-rs, a native addon) and make the protobuf codecs.
  const [{ warmUp }, { becomeSubreaper }] = await Promise.all([import('./messages.ts'), import('./syscalls.ts')]);
  setImmediate(() => {
    becomeSubreaper();
    warmUp();
  });
  return -1; // keep serving
}
