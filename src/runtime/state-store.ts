// One directory per container under --root: state.json (written to a temp file
// and renamed, so readers never see half a file) and start.sock while the
// container waits at the start barrier. Status is never stored: it is derived
// from live facts each time it is read (see deriveStatus).
//
// Crash safety: the id is claimed with a first record (`creator` set: who is
// creating it, and the cgroup it will use) before anything is made, so a
// tsrun killed at any moment of create leaves a container that `list` shows
// as "creating" and `delete --force` can remove: processes, cgroup, directory.
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError, fromSystemError } from './errors.ts';
import type { Hooks, Process, State, Status } from './oci-types.ts';
import { OCI_VERSION } from './oci-types.ts';
import { liveStartTime } from './proc-stat.ts';

export { liveStartTime };

export interface StoredState {
  ociVersion: string;
  id: string;
  pid: number;
  /** Field 22 of /proc/PID/stat when the container was created: guards against pid reuse. */
  pidStartTime: string;
  bundle: string;
  rootfs: string;
  created: string;
  annotations?: Record<string, string>;
  cgroupsPath: string;
  /** Only the hooks that run after create: start runs poststart, delete poststop. */
  hooks?: Pick<Hooks, 'poststart' | 'poststop'>;
  init: boolean;
  /** The config's process: `exec` starts from it (env, cwd, user, capabilities). */
  process?: Process;
  /** Set only in the first record, while `tsrun create` (this process) is making the container. */
  creator?: { pid: number; startTime: string };
  /** linux.netDevices, moved back to the host by delete. */
  netDevices?: Record<string, { name?: string }>;
  /** linux.personality: exec'd processes get it too, as under runc. */
  personality?: { domain: 'LINUX' | 'LINUX32'; flags?: string[] };
}

const ID_PATTERN = /^[\w+.-]+$/;

export function validateId(id: string | undefined): string {
  if (!id) throw new RuntimeError('ERR_USAGE', 'a container id is required');
  if (!ID_PATTERN.test(id) || id === '.' || id === '..' || id.length > 1024) {
    throw new RuntimeError('ERR_BAD_ID', `invalid container id ${JSON.stringify(id)}`, {
      hint: 'use letters, digits, "_", "+", "-" and "."',
    });
  }
  return id;
}

export class StateStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  dir(id: string): string {
    return join(this.root, id);
  }

  /** Claims the id: mkdir is atomic, so of two concurrent creates exactly one
   *  wins; the winner records at once what it is about to make. */
  claim(id: string, first: StoredState): string {
    const dir = this.dir(id);
    mkdirSync(this.root, { recursive: true, mode: 0o711 });
    try {
      mkdirSync(dir, { mode: 0o711 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new RuntimeError('ERR_EXISTS', `container ${JSON.stringify(id)} already exists`, {
          hint: 'delete it first or choose another id',
        });
      }
      throw fromSystemError('ERR_STATE', 'create state directory', dir, err);
    }
    this.save(first);
    return dir;
  }

  save(state: StoredState): void {
    const file = join(this.dir(state.id), 'state.json');
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(state));
      renameSync(tmp, file);
    } catch (err) {
      throw fromSystemError('ERR_STATE', 'write state', file, err);
    }
  }

  /** The stored state, or null while the container is still being created. */
  load(id: string): StoredState | null {
    validateId(id);
    let text: string;
    try {
      text = readFileSync(join(this.dir(id), 'state.json'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromSystemError('ERR_STATE', 'read state', this.dir(id), err);
      if (existsSync(this.dir(id))) return null;
      throw new RuntimeError('ERR_NOT_FOUND', `container ${JSON.stringify(id)} does not exist`);
    }
    return JSON.parse(text) as StoredState;
  }

  /** Like load, but a container still being created is an error. */
  get(id: string): StoredState {
    const state = this.load(id);
    if (!state || state.creator) throw new RuntimeError('ERR_CREATING', `container ${JSON.stringify(id)} is still being created`);
    return state;
  }

  ids(): string[] {
    try {
      return readdirSync(this.root).filter((name) => ID_PATTERN.test(name)).sort();
    } catch {
      return [];
    }
  }

  remove(id: string): void {
    try {
      rmSync(this.dir(id), { recursive: true, force: true });
    } catch (err) {
      // rmSync's own error has an empty code on EROFS (Node 24): access() names it.
      throw this.unwritable(id) ?? fromSystemError('ERR_STATE', 'remove state directory', this.dir(id), err);
    }
  }

  /** Why the state directory cannot be removed (a read-only --root), or null: checked before delete kills anything. */
  unwritable(id: string): RuntimeError | null {
    try {
      accessSync(this.dir(id), constants.W_OK);
      return null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      const e = fromSystemError('ERR_STATE', 'remove state directory', this.dir(id), err);
      return (err as NodeJS.ErrnoException).code === 'EROFS' ? new RuntimeError(e.code, e.message, { path: e.path, hint: `--root ${this.root} is on a read-only file system` }) : e;
    }
  }

  startSocket(id: string): string {
    return join(this.dir(id), 'start.sock');
  }
}

export function isAlive(state: StoredState): boolean {
  return state.pid > 0 && liveStartTime(state.pid) === state.pidStartTime;
}

/** created: waiting at the barrier; paused: frozen; stopped: init gone, a zombie, or its pid reused. */
export function deriveStatus(store: StateStore, state: StoredState | null, isFrozen: () => boolean): Status {
  if (!state || state.creator) return 'creating';
  if (!isAlive(state)) return 'stopped';
  if (existsSync(store.startSocket(state.id))) return 'created';
  return isFrozen() ? 'paused' : 'running';
}

/** The spec's state object plus runc's rootfs and created, which containerd reads; pid 0 once stopped, as runc prints it. */
export function publicState(state: StoredState, status: Status): State & { rootfs: string; created: string } {
  return {
    ociVersion: state.ociVersion || OCI_VERSION,
    id: state.id,
    status,
    pid: status === 'stopped' ? 0 : state.pid,
    bundle: state.bundle,
    rootfs: state.rootfs,
    created: state.created,
    annotations: state.annotations ?? {},
  };
}

/** A container whose directory exists but whose first record is not written yet. */
export function creatingState(id: string): ReturnType<typeof publicState> {
  return { ociVersion: OCI_VERSION, id, status: 'creating', pid: 0, bundle: '', rootfs: '', created: '', annotations: {} };
}

/** The state hooks receive on stdin (runtime.md): only the spec's fields. */
export function hookState(state: StoredState, status: Status): State {
  const out: State = { ociVersion: state.ociVersion || OCI_VERSION, id: state.id, status, pid: state.pid, bundle: state.bundle };
  if (state.annotations) out.annotations = state.annotations;
  return out;
}
