// A process's stdio as containerd hands it over: paths (FIFOs ctr and the CRI
// made, or plain files; "file://" URIs too), "" for none, or a logging
// binary ("binary:///path?key=value", nerdctl's and `ctr run --log-uri`'s).
//
// Paths and files: stdout and stderr are opened read-write, which never
// blocks on a FIFO, and go to the process as they are: no copy through the
// shim. stdin is copied by the shim into a pipe, so CloseIO can give the
// process its EOF. Its FIFO is opened without blocking (a blocking open
// would hold one of libuv's threads, and the exit of the shim, until a
// writer came, which after a failed exec never does); a writer of our own
// keeps a read from seeing EOF before the caller's writer has come, and goes
// on CloseIO, after which the FIFO's EOF ends the copy.
//
// A logging binary, as containerd's runc shim runs one (pkg/process/io.go):
// stdout's URI decides, and then names the one logger of both streams. Its
// program is the URI's path (absolute, as containerd's clients write it),
// its arguments each query key then its first value, its environment only
// CONTAINER_ID (an exec's own id for an exec) and CONTAINER_NAMESPACE, its
// cwd the bundle (the runc shim's), fds 0-2 /dev/null, 3 and 4 the read ends
// of the stdout and stderr pipes, 5 the write end of a "ready" pipe. The
// process is created once the logger said ready on it: a byte, or EOF while
// it lives (an EOF from its exit fails the create, as does a failed spawn).
// The process's stdout and stderr are the pipes' write ends, real pipes
// (pipe2 through ffi-rs: Node's own 'pipe' stdio is a socketpair, on which
// e.g. open("/dev/stdout") fails), made close-on-exec so that no other
// process the shim spawns, a container or another logger, inherits them;
// fds the shim inherited are made close-on-exec before a logger starts.
// stdin is not used without a terminal (containerd gives the process
// /dev/null); with one, the terminal's input is copied as above and its
// output goes to the logger's fd 3. Our write ends close once the process
// has them, so the logger sees EOF when the process and what it left are
// gone; on delete it gets SIGTERM, then SIGKILL after containerd's 12 s.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, createReadStream, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import { dirname, isAbsolute } from 'node:path';
import type { Readable } from 'node:stream';
import { getSystemErrorMessage } from 'node:util';
import { RuntimeError } from '../runtime/errors.ts';
import { cloexecFrom, pipe2 } from './syscalls.ts';

export interface StdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  /** With a terminal, a logging binary gets its output on fd 3, and stdin is kept. */
  terminal?: boolean;
}

/** Whom a logging binary logs for (its CONTAINER_ID and CONTAINER_NAMESPACE), and its cwd. */
export interface LogOwner {
  id: string;
  namespace: string;
  cwd: string;
}

type Slot = 'ignore' | 'pipe' | number;

/** containerd's binaryIOProcTermTimeout: how long a logger has after SIGTERM. */
const LOGGER_TERM_MS = 12_000;
const PF_EXITING = 0x4;

const schemeOf = (uri: string): string => /^([a-z][a-z0-9+.-]*):\/\//i.exec(uri)?.[1]?.toLowerCase() ?? '';

/** A URI's path, %-escapes decoded (as Go's url.URL.Path). */
function uriPath(uri: string, which: string): string {
  try {
    return decodeURIComponent(new URL(uri).pathname);
  } catch (err) {
    throw new RuntimeError('ERR_CONFIG', `${which} ${JSON.stringify(uri)}: not a valid URI: ${(err as Error).message}`);
  }
}

function pathOf(uri: string, which: string): string {
  const scheme = schemeOf(uri);
  if (scheme === 'file') return uriPath(uri, which);
  if (scheme === 'binary') {
    throw new RuntimeError('ERR_UNSUPPORTED', `${which} ${JSON.stringify(uri)}: a logging binary is named by stdout's URI, for stdout and stderr both`);
  }
  if (scheme) {
    throw new RuntimeError('ERR_UNSUPPORTED', `${which} ${JSON.stringify(uri)}: the tsrun shim takes FIFO or file paths, file:// and binary:// URIs, not ${scheme}://`);
  }
  return uri;
}

function openOutput(uri: string, which: string): number | 'ignore' {
  if (!uri) return 'ignore';
  const path = pathOf(uri, which);
  try {
    let fifo = false;
    try {
      fifo = statSync(path).isFIFO();
    } catch {
      // a file that does not exist yet; a file:// URI's directory is made, as containerd does
      if (schemeOf(uri) === 'file') mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    }
    return fifo ? openSync(path, constants.O_RDWR) : openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  } catch (err) {
    throw new RuntimeError('ERR_IO', `open ${which} ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code?.toLowerCase() ?? String(err)}`);
  }
}

function closeAll(fds: number[]): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}

/** After an EOF on the ready pipe: did it come from the logger's exit? The
 *  kernel marks a task PF_EXITING before it closes its files, so a logger
 *  on its way out is seen as such even before it is a zombie. */
function exitedOrExiting(child: ChildProcess): boolean {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  try {
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' || fields[0] === 'X' || (Number(fields[6]) & PF_EXITING) !== 0;
  } catch {
    return true;
  }
}

/** true: the logger wrote a byte; false: EOF; an Error: the read failed. Our
 *  end is read through libuv, so a logger that never answers holds no thread. */
function readReady(fd: number): Promise<boolean | Error> {
  return new Promise((resolve) => {
    const socket = new Socket({ fd, readable: true, writable: false });
    const done = (v: boolean | Error): void => {
      socket.destroy();
      resolve(v);
    };
    socket.once('data', () => done(true));
    socket.once('end', () => done(false));
    socket.once('error', (err) => done(err));
  });
}

/** A logging binary the shim started; stop() ends it. */
class Logger {
  private readonly child: ChildProcess;
  /** Resolves with how it ended, once it was reaped. */
  private readonly exited: Promise<string>;
  private stopping: Promise<void> | undefined;

  constructor(child: ChildProcess, exited: Promise<string>) {
    this.child = child;
    this.exited = exited;
  }

  /** containerd's binaryIO.Close: SIGTERM, so the logger can flush; SIGKILL if it is still there after 12 s. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return;
      this.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([this.exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), LOGGER_TERM_MS)))]);
      clearTimeout(timer);
      if (late) {
        this.child.kill('SIGKILL');
        await this.exited;
      }
    })();
    return this.stopping;
  }

  /** Starts the logger of `uri` and waits until it is ready; returns it with
   *  the write ends of the stdout and stderr pipes. On failure nothing stays. */
  static async start(uri: string, owner: LogOwner): Promise<{ logger: Logger; out: number; err: number }> {
    const what = `logging binary ${JSON.stringify(uri)}`;
    const path = uriPath(uri, 'stdout');
    if (!isAbsolute(path)) throw new RuntimeError('ERR_CONFIG', `${what}: the path of the program must be absolute`);
    const args: string[] = [];
    const keys = new Set<string>();
    for (const [key, value] of new URL(uri).searchParams) {
      if (keys.has(key)) continue;
      keys.add(key);
      args.push(key, value);
    }
    const fds: number[] = [];
    try {
      for (let i = 0; i < 3; i++) fds.push(...pipe2());
    } catch (err) {
      closeAll(fds);
      throw err;
    }
    const [outR, outW, errR, errW, readyR, readyW] = fds as [number, number, number, number, number, number];
    let child: ChildProcess;
    try {
      // Go gives a logger its ExtraFiles and no other fd: nothing the shim inherited goes along either.
      cloexecFrom(3);
      child = spawn(path, args, {
        stdio: ['ignore', 'ignore', 'ignore', outR, errR, readyW],
        env: { CONTAINER_ID: owner.id, CONTAINER_NAMESPACE: owner.namespace },
        cwd: owner.cwd,
      });
    } catch (err) {
      closeAll(fds);
      throw new RuntimeError('ERR_IO', `${what}: start ${path}: ${reason(err)}`, { cause: err });
    }
    // The logger has its copies (or never will): ours would keep its reads and our ready read from EOF.
    closeAll([outR, errR, readyW]);
    const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit status ${code}`)));
    if (child.pid === undefined) {
      const err = await new Promise<Error>((resolve) => child.once('error', resolve));
      closeAll([outW, errW, readyR]);
      throw new RuntimeError('ERR_IO', `${what}: start ${path}: ${reason(err)}`, { cause: err });
    }
    child.on('error', () => {}); // a kill of a logger that is gone: stop() already knows
    const ready = await readReady(readyR);
    if (ready === true || (ready === false && !exitedOrExiting(child))) return { logger: new Logger(child, exited), out: outW, err: errW };
    closeAll([outW, errW]);
    if (ready instanceof Error) {
      child.kill('SIGKILL');
      const how = await exited;
      throw new RuntimeError('ERR_IO', `${what}: read its ready pipe: ${reason(ready)} (the logger was killed: ${how})`);
    }
    throw new RuntimeError('ERR_IO', `${what}: ${path} exited before it was ready (${await exited})`, { hint: 'a logger says ready with a byte on fd 5, or by closing it' });
  }
}

function reason(err: unknown): string {
  const errno = (err as NodeJS.ErrnoException)?.errno;
  return typeof errno === 'number' ? getSystemErrorMessage(errno) : String((err as Error)?.message ?? err);
}

export class ProcessIO {
  readonly stdio: Slot[];
  private readonly stdinPath: string;
  private readonly logger: Logger | undefined;
  private stdinStream: Readable | undefined;
  /** Our own writer on the stdin FIFO, until CloseIO. */
  private keepOpen: number | undefined;
  private stdinClosed = false;
  private child: ChildProcess | undefined;

  /** The process's stdio; with a binary:// stdout, after its logger is ready. */
  static async open(paths: StdioPaths, owner: LogOwner): Promise<ProcessIO> {
    if (schemeOf(paths.stdout) !== 'binary') return new ProcessIO(paths);
    // Without a terminal containerd leaves stdin out; with one it copies it, as we do.
    const stdinPath = paths.terminal && paths.stdin ? pathOf(paths.stdin, 'stdin') : '';
    const started = await Logger.start(paths.stdout, owner);
    return new ProcessIO(paths, { ...started, stdinPath });
  }

  private constructor(paths: StdioPaths, binary?: { logger: Logger; out: number; err: number; stdinPath: string }) {
    if (binary) {
      this.logger = binary.logger;
      this.stdinPath = binary.stdinPath;
      this.stdio = [this.stdinPath ? 'pipe' : 'ignore', binary.out, binary.err];
      return;
    }
    this.stdinPath = paths.stdin ? pathOf(paths.stdin, 'stdin') : '';
    const out = openOutput(paths.stdout, 'stdout');
    let err: number | 'ignore';
    try {
      err = openOutput(paths.stderr, 'stderr');
    } catch (e) {
      if (typeof out === 'number') closeSync(out);
      throw e;
    }
    this.stdio = [this.stdinPath ? 'pipe' : 'ignore', out, err];
  }

  /** The helper was spawned with our fds: drop ours, and start copying stdin. */
  attach(child: ChildProcess): void {
    this.closeOwnFds();
    this.child = child;
    const sink = child.stdin;
    if (!sink) return;
    sink.on('error', () => {});
    let stream: Readable;
    try {
      if (!statSync(this.stdinPath).isFIFO()) {
        stream = createReadStream(this.stdinPath);
      } else {
        const fd = openSync(this.stdinPath, constants.O_RDONLY | constants.O_NONBLOCK);
        if (!this.stdinClosed) this.keepOpen = openSync(this.stdinPath, constants.O_WRONLY | constants.O_NONBLOCK);
        stream = new Socket({ fd, readable: true, writable: false });
      }
    } catch {
      sink.end();
      return;
    }
    this.stdinStream = stream;
    stream.on('error', () => sink.end());
    stream.pipe(sink);
  }

  closeOwnFds(): void {
    for (let i = 1; i < 3; i++) {
      const fd = this.stdio[i];
      if (typeof fd === 'number') {
        closeSync(fd);
        this.stdio[i] = 'ignore';
      }
    }
  }

  /** CloseIO: the caller closed its end of the FIFO; once ours goes too,
   *  the copy ends at the FIFO's EOF, after what was written is through. */
  closeStdin(): void {
    if (this.stdinClosed) return;
    this.stdinClosed = true;
    if (this.keepOpen !== undefined) closeSync(this.keepOpen);
    this.keepOpen = undefined;
  }

  /** The process exited: stop copying. */
  close(): void {
    this.closeStdin();
    this.stdinStream?.unpipe();
    this.stdinStream?.destroy();
    this.child?.stdin?.destroy();
    this.closeOwnFds();
  }

  /** The process is deleted (or was never made): close, and end its logging binary. */
  async release(): Promise<void> {
    this.close();
    await this.logger?.stop();
  }
}
