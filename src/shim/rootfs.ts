// The rootfs mounts containerd passes in CreateTaskRequest (an overlay from
// the overlayfs snapshotter, a bind from the native one) go onto
// BUNDLE/rootfs before the container is created, in order, and come off on
// delete (or in the `delete` action after a shim died).
import { join } from 'node:path';
import { RuntimeError } from '../runtime/errors.ts';
import { MS_BIND, MS_RDONLY, MS_REMOUNT, parseMountOptions } from '../runtime/validate/mount-options.ts';
import { mount, unmountAll } from './syscalls.ts';

export interface RootfsMount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

export function rootfsDir(bundle: string): string {
  return join(bundle, 'rootfs');
}

export function mountRootfs(mounts: RootfsMount[], bundle: string): void {
  const target = rootfsDir(bundle);
  try {
    for (const m of mounts) {
      if (m.target) throw new RuntimeError('ERR_MOUNT', `rootfs mount of ${JSON.stringify(m.source)}: a target inside the rootfs (${JSON.stringify(m.target)}) is not supported`);
      const opts = parseMountOptions(m.options);
      const type = m.type === 'bind' || opts.bind ? '' : m.type;
      mount(m.source, target, type, opts.flags, opts.data);
      // A bind mount ignores MS_RDONLY until it is remounted.
      if (opts.bind && opts.readonly) mount('', target, '', MS_REMOUNT | MS_BIND | MS_RDONLY, '');
    }
  } catch (err) {
    unmountRootfs(bundle);
    throw err;
  }
}

export function unmountRootfs(bundle: string): void {
  unmountAll(rootfsDir(bundle));
}
