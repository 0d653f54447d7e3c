// A process's stdio as containerd hands it over: paths (FIFOs ctr and the CRI
// made, or plain files; "file://" URIs too), "" for none. stdout and stderr
// are opened read-write, which never blocks on a FIFO, and go to the process
// as they are: no copy through the shim. stdin is copied by the shim into a
// pipe, so CloseIO can give the process its EOF. Its FIFO is opened without
// blocking (a blocking open would hold one of libuv's threads, and the exit
// of the shim, until a writer came, which after a failed exec never does);
// a writer of our own keeps a read from seeing EOF before the caller's writer
// has come, and goes on CloseIO, after which the FIFO's EOF ends the copy.
import type { ChildProcess } from 'node:child_process';
import { closeSync, constants, createReadStream, openSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
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
  private stdinStream: Readable | undefined;
  /** Our own writer on the stdin FIFO, until CloseIO. */
  private keepOpen: number | undefined;
  private stdinClosed = false;
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
}
