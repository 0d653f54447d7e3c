// A console-socket receiver for the tests. Node cannot receive SCM_RIGHTS, so
// test/fixtures/recvtty.c (compiled once per test process with gcc) listens on
// a unix socket, receives the pty master that tsrun sends, and relays it: what
// the test writes to its stdin goes to the master (the container's terminal
// input), what the container prints comes back on its stdout.
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT, waitFor } from './tsrun.ts';

let binary: string | undefined;
/** Builds recvtty into a temp dir (removed when the process exits). */
export function recvttyBinary(): string {
  if (binary) return binary;
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-recvtty-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'recvtty');
  execFileSync('gcc', ['-O2', '-Wall', '-o', out, join(PROJECT, 'test/fixtures/recvtty.c')]);
  binary = out;
  return out;
}

export interface TtyReceiver {
  /** The socket to pass as --console-socket. */
  socket: string;
  pid: number;
  /** Everything the container printed on its terminal so far, with "\r\n" made "\n". */
  output(): string;
  /** Resolves true once recvtty got a pty master (it says so on stderr). */
  received(timeoutMs?: number): Promise<boolean>;
  /** Types into the container's terminal. */
  write(text: string): void;
  /** Waits until the output matches. */
  waitOutput(pattern: RegExp, timeoutMs?: number): Promise<boolean>;
  /** Resolves with recvtty's exit code once the last slave was closed. */
  closed: Promise<number>;
  /** recvtty's diagnostics (stderr). */
  log(): string;
  /** Kills recvtty by its pid if it is still running. */
  stop(): Promise<void>;
}

/** Starts a receiver listening on DIR/NAME and resolves once it listens. */
export async function startRecvtty(dir: string, name = 'console.sock'): Promise<TtyReceiver> {
  const socket = join(dir, name);
  const child: ChildProcessWithoutNullStreams = spawn(recvttyBinary(), [socket], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let exited = false;
  child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8'); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString('utf8'); });
  child.stdin.on('error', () => { /* recvtty exited */ });
  const closed = new Promise<number>((resolve) => {
    child.on('close', (code) => {
      exited = true;
      resolve(code ?? -1);
    });
  });
  const listening = await waitFor(() => err.includes('recvtty: listening') || exited, 5000);
  if (!listening || exited) throw new Error(`recvtty did not start: ${err}`);
  const output = (): string => out.replace(/\r\n/g, '\n');
  return {
    socket,
    pid: child.pid!,
    output,
    received: (timeoutMs = 5000) => waitFor(() => err.includes('recvtty: got '), timeoutMs),
    write: (text) => { child.stdin.write(text); },
    waitOutput: (pattern, timeoutMs = 5000) => waitFor(() => pattern.test(output()), timeoutMs),
    closed,
    log: () => err,
    async stop() {
      if (!exited) {
        try {
          process.kill(child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
        await closed;
      }
    },
  };
}
