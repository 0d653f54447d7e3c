// Where the shim's stderr (its log lines) goes. Before it runs a shim's start
// action, containerd makes a FIFO named `log` in the bundle, opens its read
// end and copies whatever comes into its own log, until that task's ttrpc
// connection closes (runtime/v2/binary.go; runc's shim writes its log there).
// A group's shim outlives the container it started with, so its stderr
// follows the bundles: the newest live container's FIFO, another live one's
// when that container is deleted, /dev/null when none is left. Deleting comes
// before containerd closes the reader, so no line meets a closed FIFO.
import { closeSync, constants, openSync } from 'node:fs';
import { join } from 'node:path';
import { syscall } from './syscalls.ts';

const F_SETFL = 4;
const STDERR = 2;

export class ShimLog {
  /** bundle → our write end of its log FIFO, in the order they came. */
  private readonly fds = new Map<string, number>();
  private current: string | undefined;
  private devNull: number | undefined;

  /** Points stderr at BUNDLE/log; quietly nothing when containerd made no FIFO there (no reader). */
  attach(bundle: string): void {
    if (this.fds.has(bundle)) return;
    let fd: number;
    try {
      // O_NONBLOCK: ENXIO at once when nobody reads, instead of blocking
      // the daemon; then blocking again, so a full FIFO slows the writer
      // (as with runc's shim) instead of failing its writes with EAGAIN.
      fd = openSync(join(bundle, 'log'), constants.O_WRONLY | constants.O_NONBLOCK);
    } catch {
      return;
    }
    if (!blocking(fd)) {
      closeSync(fd);
      return;
    }
    this.fds.set(bundle, fd);
    this.point(bundle);
  }

  /** The container of BUNDLE is gone: stderr moves on before containerd closes that FIFO. */
  detach(bundle: string): void {
    const fd = this.fds.get(bundle);
    if (fd === undefined) return;
    this.fds.delete(bundle);
    if (this.current === bundle) this.point([...this.fds.keys()].pop());
    closeSync(fd);
  }

  private point(bundle: string | undefined): void {
    let fd = bundle === undefined ? undefined : this.fds.get(bundle);
    if (fd === undefined) fd = this.devNull ??= openSync('/dev/null', constants.O_WRONLY);
    if (syscall('dup2', [{ i32: fd }, { i32: STDERR }]).ok) this.current = bundle;
  }
}

/** F_SETFL with no flags: clears O_NONBLOCK (we set no other status flag). */
function blocking(fd: number): boolean {
  return syscall('fcntl', [{ i32: fd }, { i32: F_SETFL }, { i64: 0 }]).ok;
}
