// A private podman for the end-to-end tests: its own storage and run roots in
// a temp dir (vfs, cgroupfs, file events), tsrun as the runtime through conmon.
// podman's default RLIMIT_NOFILE (1048576) is above this machine's hard limit
// and the bounding set lacks CAP_SYS_RESOURCE: runc refuses it just as tsrun
// does, so containers ask for limits the machine can give (LIMITS).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT, runCommand, TSRUN, type RunResult } from './tsrun.ts';

export const hasPodman = spawnSync('podman', ['--version']).status === 0 && spawnSync('conmon', ['--version']).status === 0;
if (!hasPodman) console.log('SKIP podman: podman or conmon is not installed (scripts/setup.sh installs them)');

export const LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--net', 'none'];

export interface Podman {
  work: string;
  /** The global options before the verb (roots, drivers, --runtime). */
  base: string[];
  podman(args: string[]): Promise<RunResult>;
  /** Imports the busybox example rootfs as IMAGE. */
  importBusybox(image: string): Promise<RunResult>;
  /** Removes every container and image of this podman, podman's empty parent cgroups, and the temp dir. */
  cleanup(): Promise<void>;
}

export function privatePodman(name: string, runtime = TSRUN): Podman {
  const work = mkdtempSync(join(tmpdir(), `tsrun-${name}-`));
  const base = ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', runtime];
  const podman = (args: string[]): Promise<RunResult> => runCommand('podman', [...base, ...args]);
  return {
    work,
    base,
    podman,
    importBusybox(image) {
      execFileSync(join(PROJECT, 'examples/busybox/make-rootfs.sh'), [join(work, 'rootfs')]);
      execFileSync('tar', ['-C', join(work, 'rootfs'), '-cf', join(work, 'bb.tar'), '.']);
      return podman(['import', join(work, 'bb.tar'), image]);
    },
    async cleanup() {
      if (hasPodman) {
        await podman(['rm', '-f', '-a']);
        await podman(['rmi', '-a', '-f']);
        // podman's own parent cgroup, left empty once its containers are gone.
        for (const h of readdirSync('/sys/fs/cgroup')) {
          const parent = join('/sys/fs/cgroup', h, 'libpod_parent');
          if (!existsSync(parent)) continue;
          for (const child of readdirSync(parent, { withFileTypes: true })) if (child.isDirectory()) try { rmdirSync(join(parent, child.name)); } catch { /* in use */ }
          try { rmdirSync(parent); } catch { /* in use by another podman */ }
        }
      }
      rmSync(work, { recursive: true, force: true });
    },
  };
}
