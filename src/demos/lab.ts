// The bench every demo runs on: a temp dir with a private --root, a busybox
// rootfs, bundles made from the default spec, and tsrun itself run as a
// separate process (bin/tsrun), exactly as a user would. Whatever happens —
// the demo throws, or the user presses Ctrl-C — close() kills the `tsrun run`
// processes it started (by pid), deletes every container left in the private
// root by id, and removes the temp dir.
//
//   const lab = Lab.open({ quick, progress });
//   try {
//     const b = lab.bundle('plain', (c) => { c.process!.args = ['sh', '-c', '...']; });
//     const run = lab.runForeground('pid1', b);        // tsrun run, in the background
//     const pid = await run.pid;                       // host pid of the container's PID 1
//     ... lab.tsrun(['kill', run.id, 'TERM']) ...
//     const status = await run.status;                 // 0, 143, 137...
//   } finally {
//     lab.close();
//   }
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSpec } from '../runtime/default-spec.ts';
import { RuntimeError } from '../runtime/errors.ts';
import type { Config } from '../runtime/oci-types.ts';
import { PROJECT_DIR, tsrunCommand } from '../runtime/paths.ts';
import type { DemoReport, Progress } from './report.ts';

/** What a demo module exports as default. */
export interface Demo {
  name: string;
  /** What it shows, one line (tsrun demo help). */
  summary: string;
  /** How long it takes, e.g. "about 10 s (4 s with --quick)". */
  takes: string;
  run(lab: Lab): Promise<DemoReport>;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface LabBundle {
  dir: string;
  /** A host dir bind-mounted read-write at /tmp in the container: trigger and result files. */
  exchange: string;
}

export interface Foreground {
  id: string;
  /** Host pid of the container's PID 1, once created (rejects if `tsrun run` fails first). */
  pid: Promise<number>;
  /** The exit status of `tsrun run`: the container's (128+N after signal N). */
  status: Promise<number>;
  /** The container's stdout and stderr so far. */
  output(): string;
}

/** Mount point of the exchange dir: /tmp exists in every busybox rootfs, so
 *  nothing has to be created in a rootfs that may be shared. */
export const EXCHANGE = '/tmp';

export class Lab {
  readonly quick: boolean;
  /** `--use-swapfile` (demo swap): the demo may make and enable a swap file of its own. */
  readonly useSwapfile: boolean;
  readonly dir: string;
  readonly root: string;
  readonly rootfs: string;
  readonly #progress: Progress;
  /** Every tsrun process we started that has not exited yet. */
  readonly #children = new Set<number>();
  #files = 0;
  #closed = false;
  /** Run by close() after the containers are deleted (e.g. a demo's own parent cgroup). */
  readonly #cleanups: Array<() => void> = [];
  readonly #onSignal: (signal: NodeJS.Signals) => void;

  private constructor(quick: boolean, progress: Progress, useSwapfile: boolean) {
    this.quick = quick;
    this.useSwapfile = useSwapfile;
    this.#progress = progress;
    // The pid in the name lets tests tell their labs from other runs' on the same machine.
    this.dir = mkdtempSync(join(tmpdir(), `tsrun-demo-${process.pid}-`));
    this.root = join(this.dir, 'state');
    this.#onSignal = (signal) => {
      this.#progress.done();
      process.stderr.write(`tsrun demo: ${signal}: removing the demo containers\n`);
      this.close();
      process.exit(128 + (signal === 'SIGHUP' ? 1 : signal === 'SIGINT' ? 2 : 15));
    };
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, this.#onSignal);
    try {
      this.rootfs = findRootfs(this.dir);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  static open(opts: { quick: boolean; progress: Progress; useSwapfile?: boolean }): Lab {
    if (process.getuid?.() !== 0) {
      throw new RuntimeError('ERR_PERMISSION', 'tsrun demo needs root: it creates containers', { hint: 'run it with sudo' });
    }
    return new Lab(opts.quick, opts.progress, opts.useSwapfile === true);
  }

  /** Registers `fn` to run in close(), after the containers are deleted, also on Ctrl-C. */
  onClose(fn: () => void): void {
    this.#cleanups.push(fn);
  }

  /** Says what is happening now (spinner line on a TTY). */
  step(text: string): void {
    this.#progress.step(text);
  }

  /** `normal` ms, or `quick` ms with --quick. */
  ms(normal: number, quick: number): number {
    return this.quick ? quick : normal;
  }

  /** A container id unique on this host (cgroup paths are global). */
  id(prefix: string): string {
    return `demo-${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
  }

  /** A bundle from the default spec (args `sleep 1000`, the exchange dir at /tmp), then `edit`. */
  bundle(name: string, edit: (c: Config) => void = () => {}): LabBundle {
    let dir = join(this.dir, name);
    for (let n = 2; existsSync(dir); n++) dir = join(this.dir, `${name}-${n}`);
    const exchange = join(dir, 'exchange');
    mkdirSync(exchange, { recursive: true });
    const config = defaultSpec();
    config.root = { path: this.rootfs, readonly: true };
    config.process!.args = ['sleep', '1000'];
    config.mounts!.push({ destination: EXCHANGE, type: 'bind', source: exchange, options: ['rbind', 'rw'] });
    edit(config);
    writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    return { dir, exchange };
  }

  /** Runs bin/tsrun with the private --root. Output goes through files: a
   *  container keeps inherited pipes open, files do not make us wait for it. */
  tsrun(args: string[]): Promise<RunResult> {
    const base = join(this.dir, `out-${this.#files++}`);
    const out = openSync(`${base}.out`, 'w+');
    const err = openSync(`${base}.err`, 'w+');
    const child = spawn(tsrunCommand(), ['--root', this.root, ...args], { stdio: ['ignore', out, err] });
    const done = new Promise<RunResult>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, sig) => {
        const read = (p: string): string => readFileSync(p, 'utf8').trim();
        resolve({ exitCode: code ?? 128 + signalNumber(sig), stdout: read(`${base}.out`), stderr: read(`${base}.err`) });
        closeSync(out);
        closeSync(err);
        rmSync(`${base}.out`, { force: true });
        rmSync(`${base}.err`, { force: true });
      });
    });
    this.#track(child.pid, done.catch(() => {}));
    return done;
  }

  /** `tsrun run` in the background: the container's status arrives when it stops.
   *  `keep`: `tsrun run --keep`, the stopped container (and its cgroup) stays until close(). */
  runForeground(prefix: string, bundle: LabBundle, opts: { keep?: boolean } = {}): Foreground {
    const id = this.id(prefix);
    const pidFile = join(this.dir, `${id}.pid`);
    const logFile = join(this.dir, `${id}.log`);
    const log = openSync(logFile, 'w+');
    const child = spawn(tsrunCommand(), ['--root', this.root, 'run', ...(opts.keep ? ['--keep'] : []), '--pid-file', pidFile, '--bundle', bundle.dir, id], {
      stdio: ['ignore', log, log],
    });
    let exited = false;
    const status = new Promise<number>((resolve) => {
      const finish = (code: number): void => {
        exited = true;
        closeSync(log);
        resolve(code);
      };
      child.on('error', () => finish(127));
      child.on('exit', (code, sig) => finish(code ?? 128 + signalNumber(sig)));
    });
    this.#track(child.pid, status);
    const pid = (async () => {
      for (;;) {
        if (existsSync(pidFile)) {
          const text = readFileSync(pidFile, 'utf8');
          if (text) return Number(text);
        }
        if (exited) {
          throw new RuntimeError('ERR_DEMO', `tsrun run ${id} failed: ${readFileSync(logFile, 'utf8').trim() || `exit ${await status}`}`);
        }
        await sleep(10);
      }
    })();
    pid.catch(() => {});
    return { id, pid, status, output: () => readFileSync(logFile, 'utf8') };
  }

  /** Stops the tsrun processes still running (TERM: a `tsrun run` in the
   *  middle of create undoes it; then KILL), deletes every container left in
   *  the private root, removes the temp dir. Synchronous, so that a signal
   *  handler can run it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, this.#onSignal);
    const children = [...this.#children];
    signal(children, 'SIGTERM');
    const tick = new Int32Array(new SharedArrayBuffer(4));
    for (const deadline = Date.now() + 3000; Date.now() < deadline && children.some(alive);) Atomics.wait(tick, 0, 0, 10);
    signal(children.filter(alive), 'SIGKILL');
    for (const id of existsSync(this.root) ? readdirSync(this.root) : []) {
      spawnSync(tsrunCommand(), ['--root', this.root, 'delete', '--force', id], { stdio: 'ignore' });
    }
    for (const fn of this.#cleanups.splice(0).reverse()) {
      try {
        fn();
      } catch (err) {
        // The rest must still run; what could not be undone is said.
        process.stderr.write(`tsrun demo: cleanup: ${(err as Error).message}\n`);
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    this.#progress.done();
  }

  #track(pid: number | undefined, exited: Promise<unknown>): void {
    if (!pid) return;
    this.#children.add(pid);
    void exited.then(() => this.#children.delete(pid));
  }
}

function signal(pids: number[], name: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, name);
    } catch {
      // already gone
    }
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === 'SIGKILL' ? 9 : signal === 'SIGINT' ? 2 : signal ? 15 : 0;
}

/** examples/busybox/rootfs when it is built (used read-only), else a fresh one
 *  from examples/busybox/make-rootfs.sh in the lab dir. */
function findRootfs(labDir: string): string {
  const example = join(PROJECT_DIR, 'examples', 'busybox');
  if (existsSync(join(example, 'rootfs', 'bin', 'busybox')) && existsSync(join(example, 'rootfs', 'tmp'))) return join(example, 'rootfs');
  const rootfs = join(labDir, 'rootfs');
  try {
    execFileSync(join(example, 'make-rootfs.sh'), [rootfs], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    throw new RuntimeError('ERR_DEMO', `cannot make a busybox rootfs in ${JSON.stringify(rootfs)}: ${stderr || (err as Error).message}`, {
      hint: 'install busybox-static, or build examples/busybox/rootfs with examples/busybox/make-rootfs.sh',
    });
  }
  return rootfs;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every `stepMs` until it holds or `timeoutMs` passes; the last answer. */
export async function waitUntil(check: () => boolean, timeoutMs: number, stepMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(stepMs);
  }
  return check();
}

/** The state letter of a host pid (R, S, Z...), or undefined when it is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** Running: present and not a zombie. */
export function alive(pid: number): boolean {
  const s = processState(pid);
  return s !== undefined && s !== 'Z' && s !== 'X';
}

export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

export interface NsProcess {
  /** Host pid. */
  pid: number;
  /** Pid inside the container (last field of NSpid). */
  inner: number;
  state: string;
  cmdline: string[];
}

/** The pid of a host process in its innermost pid namespace. */
export function innerPid(pid: number): number | undefined {
  try {
    const nspid = /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim().split(/\s+/);
    return nspid ? Number(nspid[nspid.length - 1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every process in the pid namespace of host pid `initPid`, zombies included.
 * Walks /proc comparing /proc/PID/ns/pid links rather than reading the pids
 * cgroup: the kernel drops a task from cgroup.procs when it exits, so zombies
 * are never listed there, but a zombie's ns/pid link still resolves.
 */
export function namespaceProcesses(initPid: number): NsProcess[] {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${initPid}/ns/pid`);
  } catch {
    return [];
  }
  const out: NsProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    try {
      if (readlinkSync(`/proc/${name}/ns/pid`) !== ns) continue;
    } catch {
      continue;
    }
    const state = processState(pid);
    const inner = innerPid(pid);
    if (state && inner !== undefined) out.push({ pid, inner, state, cmdline: cmdline(pid) });
  }
  return out;
}
