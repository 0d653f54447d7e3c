// A process's stdio as containerd hands it over: paths (FIFOs ctr and the CRI
// made, or plain files; "file://" URIs too), "" for none. stdout and stderr
// are opened read-write, which never blocks on a FIFO, and go to the process
// as they are: no copy through the shim. stdin is copied by the shim into a
// pipe, so CloseIO can give the process its EOF; its blocking open runs on
// libuv's thread pool and is released by a writer of our own on close.
import type { ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync, statSync, type ReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { RuntimeError } from '../runtime/errors.ts';

export interface StdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
}

type Slot = 'ignore' | 'pipe' | number;

function pathOf(uri: string, which: string): string {
  if (uri.startsWith('file://')) return uri.slice('file://'.length);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) {
    throw new RuntimeError('ERR_UNSUPPORTED', `${which} ${JSON.stringify(uri)}: the tsrun shim takes FIFO or file paths (and file:// URIs), not ${uri.split(':')[0]}://`);
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
      // a file that does not exist yet
    }
    return fifo ? openSync(path, constants.O_RDWR) : openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  } catch (err) {
    throw new RuntimeError('ERR_IO', `open ${which} ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code?.toLowerCase() ?? String(err)}`);
  }
}

export class ProcessIO {
  readonly stdio: Slot[];
  private readonly stdinPath: string;
  private stdinStream: ReadStream | undefined;
  private stdinClosed = false;
  private exited = false;
  private child: ChildProcess | undefined;

  constructor(paths: StdioPaths) {
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
    void open(this.stdinPath, constants.O_RDONLY).then((handle) => {
      if (this.exited) {
        void handle.close();
        return;
      }
      this.stdinStream = handle.createReadStream();
      this.stdinStream.on('error', () => sink.end());
      this.stdinStream.pipe(sink);
    }, () => sink.end());
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

  /** CloseIO: ctr closed its end of the FIFO, so the copy ends at the FIFO's
   *  EOF, once what was written is through; an open still waiting for a
   *  writer is released, and then reads EOF at once. */
  closeStdin(): void {
    if (this.stdinClosed) return;
    this.stdinClosed = true;
    if (!this.stdinStream && this.stdinPath) this.releaseBlockedOpen();
  }

  /** An open(O_RDONLY) still waiting for a writer returns once one comes. */
  private releaseBlockedOpen(): void {
    try {
      closeSync(openSync(this.stdinPath, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // no reader waiting, or the FIFO is gone
    }
  }

  /** The process exited: stop copying. */
  close(): void {
    this.exited = true;
    if (this.stdinStream) {
      this.stdinStream.unpipe();
      this.stdinStream.destroy();
    } else if (this.stdinPath) {
      this.releaseBlockedOpen();
    }
    this.child?.stdin?.destroy();
    this.closeOwnFds();
  }
}
