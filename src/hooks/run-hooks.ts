// Runs the OCI hooks that execute in the runtime's namespaces (prestart,
// createRuntime, poststart, poststop); createContainer and startContainer are
// run by the C helper inside the container. See src/hooks/README.md for where
// each kind runs and the failure rules. Loaded by every create/start/delete,
// so it imports only node: built-ins.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { RuntimeError } from '../runtime/errors.ts';
import type { Hook, HookKind, State } from '../runtime/oci-types.ts';

export interface HookFailure {
  kind: HookKind;
  index: number;
  path: string;
  reason: string;
  stderr: string;
}

export interface RunHooksOptions {
  mode?: 'fatal' | 'warn';
  warn?: (line: string) => void;
  cwd?: string;
}

/** How much of a hook's stderr (or stdout) goes into an error message. */
const TAIL_CHARS = 2048;
/** Bytes kept per stream while the hook runs; the rest is dropped from the front. */
const KEEP_BYTES = 8192;
/**
 * After the hook exits, how long to wait for its stdout/stderr to reach EOF.
 * A background child the hook left behind keeps the pipes open; runc then
 * blocks until that child exits, we stop reading instead.
 */
const DRAIN_MS = 100;

export function hookMode(kind: HookKind): 'fatal' | 'warn' {
  return kind === 'poststart' || kind === 'poststop' ? 'warn' : 'fatal';
}

/** `createRuntime hook #1 (/usr/bin/x)`; the index is 0-based like runc's. */
export function describeHook(kind: HookKind, index: number, path: string): string {
  return `${kind} hook #${index} (${path})`;
}

/**
 * Runs the hooks of one kind in order with `state` on stdin. In 'fatal' mode
 * the first failure throws a RuntimeError (code ERR_HOOK) and later hooks of
 * the kind do not run; in 'warn' mode each failure is reported through
 * `warn` and the rest still run. Returns the failures (always empty in
 * 'fatal' mode, which throws instead).
 */
export async function runHooks(
  kind: HookKind,
  hooks: Hook[] | undefined,
  state: State,
  opts: RunHooksOptions = {},
): Promise<HookFailure[]> {
  const failures: HookFailure[] = [];
  if (!hooks || hooks.length === 0) return failures;
  const mode = opts.mode ?? hookMode(kind);
  const warn = opts.warn ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const input = stateJson(state);
  const cwd = opts.cwd ?? (state.bundle || undefined);
  for (const [index, hook] of hooks.entries()) {
    const result = await runOne(hook, input, cwd);
    if (result === null) continue;
    const failure: HookFailure = { kind, index, path: hook.path, reason: result.reason, stderr: result.stderr };
    const message = failureMessage(failure, result.stdout);
    if (mode === 'fatal') {
      throw new RuntimeError('ERR_HOOK', message, {
        op: `${kind} hook`,
        path: hook.path,
        hint: result.hint,
        errno: result.errno,
        cause: result.cause,
      });
    }
    failures.push(failure);
    warn(`warning: ${message}`);
  }
  return failures;
}

/** runtime.md's state, keys in the spec's order; absent pid/annotations stay absent. */
function stateJson(s: State): string {
  return JSON.stringify({
    ociVersion: s.ociVersion,
    id: s.id,
    status: s.status,
    pid: s.pid,
    bundle: s.bundle,
    annotations: s.annotations,
  });
}

function failureMessage(f: HookFailure, stdout: string): string {
  const base = `${describeHook(f.kind, f.index, f.path)} failed: ${f.reason}`;
  // The CLI prints errors as one line, so multi-line output is folded.
  const out = f.stderr ? oneLine(f.stderr) : stdout ? `stdout: ${oneLine(stdout)}` : '';
  return out ? `${base}: ${out}` : base;
}

function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join('; ');
}

interface RunFailure {
  reason: string;
  stderr: string;
  stdout: string;
  hint?: string;
  errno?: number;
  cause?: unknown;
}

/**
 * The hook's environment. Given `env` is passed exactly (a later duplicate
 * key wins, as with runc). Without `env` the hook inherits the runtime's
 * environment, which is what runc does (Go's exec.Cmd with a nil Env).
 */
function hookEnv(env: string[] | undefined): NodeJS.ProcessEnv {
  if (env === undefined) return { ...process.env };
  const out: NodeJS.ProcessEnv = {};
  for (const entry of env) {
    const eq = entry.indexOf('=');
    // An entry without '=' cannot be expressed to spawn(); it is dropped.
    if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

/** Keeps the last KEEP_BYTES of a stream. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  private dropped = false;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - this.chunks[0]!.length >= KEEP_BYTES) {
      this.size -= this.chunks.shift()!.length;
      this.dropped = true;
    }
  }

  text(): string {
    let s = Buffer.concat(this.chunks).toString('utf8').trim();
    if (this.dropped || s.length > TAIL_CHARS) s = `...${s.slice(-TAIL_CHARS).trimStart()}`;
    return s;
  }
}

function spawnFailure(err: NodeJS.ErrnoException, hook: Hook, cwd: string | undefined): RunFailure {
  const code = err.code ?? '';
  const base = { stderr: '', stdout: '', errno: typeof err.errno === 'number' ? -err.errno : undefined, cause: err };
  // libuv reports a failed chdir as ENOENT for the executable; tell them apart.
  if (code === 'ENOENT' && cwd !== undefined && !existsSync(cwd)) {
    return { ...base, reason: `cannot change to directory ${JSON.stringify(cwd)}: no such file or directory` };
  }
  if (code === 'ENOENT') {
    return { ...base, reason: 'cannot execute: no such file or directory', hint: 'check the hook path in config.json' };
  }
  if (code === 'EACCES') {
    return { ...base, reason: 'cannot execute: permission denied', hint: 'the hook must be an executable file' };
  }
  return { ...base, reason: `cannot execute: ${code ? code.toLowerCase() : err.message}` };
}

/** Resolves to null when the hook succeeded. Never rejects. */
function runOne(hook: Hook, input: string, cwd: string | undefined): Promise<RunFailure | null> {
  if (typeof hook.path !== 'string' || !isAbsolute(hook.path)) {
    return Promise.resolve({ reason: 'path is not absolute', stderr: '', stdout: '' });
  }
  const timeout = hook.timeout;
  if (timeout !== undefined && !(typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0)) {
    return Promise.resolve({ reason: `invalid timeout ${JSON.stringify(timeout)}: must be a number of seconds above 0`, stderr: '', stdout: '' });
  }
  // Like execv: args includes argv[0]; absent or empty, argv is [path].
  const argv = hook.args && hook.args.length > 0 ? hook.args : [hook.path];

  let child: ChildProcess;
  try {
    child = spawn(hook.path, argv.slice(1), {
      argv0: argv[0],
      cwd,
      env: hookEnv(hook.env),
      stdio: ['pipe', 'pipe', 'pipe'],
      // Own session and process group, so a timeout can kill what a shell hook started.
      detached: true,
    });
  } catch (err) {
    // Synchronous failures: a NUL byte in an argument or in the environment.
    const e = err as Error;
    return Promise.resolve({ reason: `cannot execute: ${e.message}`, stderr: '', stdout: '', cause: err });
  }

  return new Promise((resolve) => {
    const out = new Tail();
    const errTail = new Tail();
    let timedOut = false;
    let exited = false;
    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    let timer: NodeJS.Timeout | undefined;
    let drain: NodeJS.Timeout | undefined;
    let settled = false;

    const finish = (failure: RunFailure | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(drain);
      child.stdout?.destroy();
      child.stderr?.destroy();
      child.stdin?.destroy();
      resolve(failure);
    };

    const verdict = (): void => {
      const captured = { stderr: errTail.text(), stdout: out.text() };
      if (timedOut) finish({ reason: `timed out after ${timeout}s`, ...captured });
      else if (exitSignal) finish({ reason: `killed by signal ${exitSignal}`, ...captured });
      else if (exitCode !== 0) finish({ reason: `exit status ${exitCode}`, ...captured });
      else finish(null);
    };

    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => errTail.push(b));
    // EPIPE/ECONNRESET when the hook exits without reading its stdin: harmless.
    child.stdin?.on('error', () => {});
    child.stdout?.on('error', () => {});
    child.stderr?.on('error', () => {});

    child.on('error', (err: NodeJS.ErrnoException) => {
      if (child.pid === undefined) finish(spawnFailure(err, hook, cwd));
      // A later 'error' (a failed kill) changes nothing: 'exit' still comes.
    });
    child.on('exit', (code, signal) => {
      exited = true;
      exitCode = code;
      exitSignal = signal;
      drain = setTimeout(verdict, DRAIN_MS);
    });
    child.on('close', () => {
      if (exited) verdict();
    });

    if (timeout !== undefined && child.pid !== undefined) {
      const pid = child.pid;
      // setTimeout treats anything above 2^31-1 ms as 1 ms.
      timer = setTimeout(() => {
        if (exited) return;
        timedOut = true;
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // ESRCH: the group is already gone; 'exit' follows.
        }
      }, Math.min(timeout * 1000, 2 ** 31 - 1));
    }

    child.stdin?.end(input);
  });
}
