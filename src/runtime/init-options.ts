// Whether tsrun-init becomes the container's PID 1, and with which options.
//
// It is the default, except where the caller expects something else as PID 1:
// - Kubernetes (a config with the CRI's io.kubernetes.cri.container-type):
//   its conformance checks that /proc/1/cmdline of a container with its own
//   pid namespace is the entrypoint, and a pod's shared pid namespace must
//   have the pause container as PID 1;
// - an engine that already made an init the first program (podman --init
//   runs /run/podman-init, docker --init docker-init, images ship tini,
//   dumb-init, catatonit): a second init would only add a process.
// The annotation run.tsrun.init ("true"/"false") decides explicitly either way.
import { lstatSync, readlinkSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import {
  CRI_CONTAINER_TYPE_ANNOTATION, DEFAULT_GRACE_SECONDS, GRACE_ANNOTATION, INIT_ANNOTATION, KILL_AFTER_ANNOTATION, PGRP_ANNOTATION,
} from './annotations.ts';
import { RuntimeError } from './errors.ts';
import type { Config } from './oci-types.ts';
import { DEFAULT_PATH } from './create-plan.ts';

export interface InitOptions {
  path: string;
  /** -t: after the main process exited, TERM to the rest, then KILL after this. */
  graceSeconds: number;
  /** -k: KILL the main process this long after a SIGTERM from outside; null: never. */
  killAfterSeconds: number | null;
  processGroup: boolean;
}

/** The inits engines put in front of the workload, by file name. */
export const ENGINE_INITS = new Set(['podman-init', 'docker-init', 'catatonit', 'tini', 'tini-static', 'dumb-init']);

export type InitDecision = { init: InitOptions; reason: string } | { init: null; reason: string };

export function decideInit(config: Config, rootfs: string, initPath: string): InitDecision {
  const a = config.annotations ?? {};
  const explicit = a[INIT_ANNOTATION];
  if (explicit !== undefined && explicit !== 'true' && explicit !== 'false') {
    throw new RuntimeError('ERR_CONFIG', `/annotations/${INIT_ANNOTATION}: ${JSON.stringify(explicit)} is neither "true" nor "false"`);
  }
  const options = (): InitOptions => ({
    path: initPath,
    graceSeconds: seconds(a, GRACE_ANNOTATION, DEFAULT_GRACE_SECONDS)!,
    killAfterSeconds: seconds(a, KILL_AFTER_ANNOTATION, undefined),
    processGroup: a[PGRP_ANNOTATION] === 'true',
  });
  if (explicit === 'true') return { init: options(), reason: `annotation ${INIT_ANNOTATION}=true` };
  if (explicit === 'false') return { init: null, reason: `annotation ${INIT_ANNOTATION}=false` };
  if (a[CRI_CONTAINER_TYPE_ANNOTATION] !== undefined) {
    return { init: null, reason: `a Kubernetes (CRI) config: ${CRI_CONTAINER_TYPE_ANNOTATION}=${a[CRI_CONTAINER_TYPE_ANNOTATION]}` };
  }
  const engineInit = engineInitName(config, rootfs);
  if (engineInit) return { init: null, reason: `the first program is already an init (${engineInit})` };
  return { init: options(), reason: 'default' };
}

function seconds(a: Record<string, string>, key: string, fallback: string | undefined): number | null {
  const value = a[key] ?? fallback;
  if (value === undefined) return null;
  if (!/^\d+(\.\d+)?$/.test(value)) {
    throw new RuntimeError('ERR_CONFIG', `/annotations/${key}: ${JSON.stringify(value)} is not a number of seconds`);
  }
  return Number(value);
}

/** The known init that process.args[0] names, directly or through the symlinks
 *  it resolves to inside the rootfs (e.g. /sbin/init -> tini); '' if none. */
export function engineInitName(config: Config, rootfs: string): string {
  const proc = config.process;
  const program = proc?.args?.[0];
  if (!proc || !program) return '';
  for (const name of programNames(program, proc.env ?? [], proc.cwd ?? '/', rootfs)) {
    if (ENGINE_INITS.has(name)) return name;
  }
  return '';
}

/** The basenames along the way from `program` to the file it runs. Paths are
 *  container paths, looked at under `rootfs`; an absolute link restarts at the
 *  rootfs and nothing is followed above it. What does not exist (yet: podman
 *  binds /run/podman-init at create) still contributes its name. Only names
 *  are read (lstat, readlink), nothing is opened or changed: a link planted in
 *  a directory component can at worst change this decision, which the
 *  annotation overrides. */
export function programNames(program: string, env: string[], cwd: string, rootfs: string): string[] {
  const names = [basename(program)];
  let path: string | undefined;
  if (program.includes('/')) {
    path = posix.resolve(cwd, program);
  } else {
    const dirs = (env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH).split(':');
    path = dirs.map((d) => posix.join(posix.resolve('/', d), program)).find((p) => exists(join(rootfs, p)));
  }
  for (let hops = 0; path && hops < 40; hops++) {
    let target: string;
    try {
      if (!lstatSync(join(rootfs, path)).isSymbolicLink()) break;
      target = readlinkSync(join(rootfs, path));
    } catch {
      break;
    }
    path = posix.resolve(target.startsWith('/') ? '/' : dirname(path), target);
    names.push(basename(path));
  }
  return names;
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
