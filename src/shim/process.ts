// One process the shim runs: a container's init or an exec. Its tsrun-nsexec
// helper stays its parent (the "monitor" mode of a foreground `tsrun run`)
// and exits with its status, so libuv reaps the helper and the exit status
// is exact without the shim waiting on pids it did not spawn. The exit is
// recorded once; its event waits until the start event went out, so
// containerd always sees start before exit.
import { readFileSync, readlinkSync } from 'node:fs';
import { spawn } from 'node:child_process';
import validateSchema from '../../build/config-validator.mjs';
import type { Cgroup } from '../runtime/cgroups/types.ts';
import { selfJoinFiles } from '../runtime/create.ts';
import { RuntimeError } from '../runtime/errors.ts';
import { buildExecPlan, JOIN_ORDER } from '../runtime/exec-plan.ts';
import type { Process } from '../runtime/oci-types.ts';
import { formatSchemaErrors } from '../runtime/validate/schema-errors.ts';
import { semanticProblems } from '../runtime/validate/semantic.ts';
import { NsHelper } from '../ns/helper.ts';
import { ProcessIO, type LogOwner, type StdioPaths } from './stdio.ts';

export interface Exit {
  status: number;
  /** ms since the epoch */
  at: number;
}

export interface IoPaths extends StdioPaths {
  terminal: boolean;
}

export class Proc {
  /** '' for the container's init. */
  readonly execId: string;
  readonly paths: IoPaths;
  pid = 0;
  io: ProcessIO | undefined;
  helper: NsHelper | undefined;
  /** exec: the process spec from ExecProcessRequest. */
  readonly spec: Process | undefined;
  started = false;
  exit: Exit | undefined;
  readonly exited: Promise<Exit>;
  private resolveExit!: (e: Exit) => void;
  /** Settles once Start succeeded or failed: the exit event waits for it. */
  readonly startSettled: Promise<void>;
  settleStart!: () => void;

  constructor(execId: string, paths: IoPaths, spec?: Process) {
    this.execId = execId;
    this.paths = paths;
    this.spec = spec;
    this.exited = new Promise((r) => (this.resolveExit = r));
    this.startSettled = new Promise((r) => (this.settleStart = r));
  }

  /** true the first time only: an exit is reported exactly once. */
  recordExit(status: number): boolean {
    if (this.exit) return false;
    this.exit = { status, at: Date.now() };
    this.io?.close();
    this.resolveExit(this.exit);
    return true;
  }

  get running(): boolean {
    return this.started && !this.exit;
  }

  /** ResizePty: the window size is set on the process's terminal (its fd 0, the pty's slave). */
  async resize(width: number, height: number): Promise<void> {
    if (!this.paths.terminal) throw new RuntimeError('ERR_STATUS', `process ${JSON.stringify(this.execId || 'init')} has no terminal`);
    if (!this.running) throw new RuntimeError('ERR_NOT_FOUND', 'process already finished');
    const result = await new Promise<string>((resolve) => {
      let err = '';
      const stty = spawn('stty', ['-F', `/proc/${this.pid}/fd/0`, 'rows', String(height), 'cols', String(width)], { stdio: ['ignore', 'ignore', 'pipe'] });
      stty.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      stty.on('error', (e) => resolve(e.message));
      stty.on('close', (c) => resolve(c === 0 ? '' : err.trim() || `exit status ${c}`));
    });
    if (result) throw new RuntimeError('ERR_IO', `resize the terminal of pid ${this.pid}: ${result}`);
  }
}

/** The process spec of an exec (JSON in an Any), checked like `tsrun exec --process`. */
export function parseExecSpec(value: Uint8Array): Process {
  let proc: unknown;
  try {
    proc = JSON.parse(Buffer.from(value).toString('utf8'));
  } catch (err) {
    throw new RuntimeError('ERR_CONFIG', `exec spec: invalid JSON: ${(err as Error).message}`);
  }
  const wrapped = { ociVersion: '1.2.0', root: { path: '/' }, process: proc };
  if (!validateSchema(wrapped)) throw new RuntimeError('ERR_CONFIG', `exec spec: ${formatSchemaErrors(validateSchema.errors).join('; ')}`);
  const problems = semanticProblems(wrapped as never, { rootfs: 'dir' });
  if (problems.length) throw new RuntimeError('ERR_CONFIG', `exec spec: ${problems.join('; ')}`);
  return proc as Process;
}

/** Starts an exec'd process in the container whose init is initPid: the
 *  same plan `tsrun exec` runs, with the helper staying as its parent.
 *  `owner`: for a logging binary of the exec's stdout (stdio.ts). */
export async function startExec(proc: Proc, initPid: number, cgroup: Cgroup, owner: LogOwner, onExit: (status: number) => void): Promise<number> {
  const spec = { ...proc.spec!, terminal: proc.paths.terminal };
  const namespaces = JOIN_ORDER.flatMap((name): Array<[string, string]> => {
    const theirs = `/proc/${initPid}/ns/${name}`;
    try {
      return readlinkSync(theirs) === readlinkSync(`/proc/self/ns/${name}`) ? [] : [[name, theirs]];
    } catch {
      return [];
    }
  });
  const cgroupTasks = selfJoinFiles(cgroup);
  const plan = buildExecPlan({ process: spec, namespaces, monitor: true, preserveFds: 0, cgroupTasks });
  const io = await ProcessIO.open(proc.paths, owner);
  proc.io = io;
  let helper: NsHelper;
  try {
    helper = new NsHelper(plan, { stdio: io.stdio });
  } catch (err) {
    await io.release();
    throw err;
  }
  proc.helper = helper;
  io.attach(helper.child);
  void helper.exited().then(onExit);
  const pid = Number(await helper.expect('pid'));
  proc.pid = pid;
  if (cgroupTasks.length === 0) {
    try {
      cgroup.addProcess(pid);
    } catch (err) {
      process.kill(pid, 'SIGKILL');
      throw err;
    }
  }
  helper.sendGo('', '');
  await helper.expectExec();
  helper.close();
  return pid;
}

/** The bundle's config annotations, for grouping (start action). */
export function bundleAnnotations(bundle: string): Record<string, string> {
  try {
    return (JSON.parse(readFileSync(`${bundle}/config.json`, 'utf8')) as { annotations?: Record<string, string> }).annotations ?? {};
  } catch {
    return {};
  }
}
