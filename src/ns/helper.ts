// The TypeScript side of tsrun-nsexec, and the one place its protocol is written down.
//
//  tsrun create (Node)                 tsrun-nsexec                       container init (child)
//  ───────────────────                 ────────────                       ──────────────────────
//  seccomp profile → BPF: its cache, or
//  tsrun-seccomp on a miss (seccomp.ts)
//  spawn nsexec IN OUT ────────────▶
//  plan: "<len>\n" + steps ────────▶  id-mapped mounts: open_tree + mount_setattr
//  + "<len>\n" BPF (seccomp step) ─▶  (the host's rights), kept as fds for later
//                                      setns(paths; a user namespace last)
//                                      a new user namespace, alone: fork a mapper,
//                                      unshare(CLONE_NEWUSER); the mapper writes
//                                      /proc/<helper>/uid_map, gid_map (or runs
//                                      newuidmap/newgidmap) and exits
//                                      unshare(flags): owned by the user namespace
//  cgroup: create, apply limits
//  "0\n" (cgroup ready) ───────────▶  wait-cgroup; cgroup-join: "0" > tasks (v1,
//                                      files opened first, before any setns)
//                                      fork ─────────────────────────────▶ (PID 1 of the new pid ns)
//          ◀──────────── "pid <hostpid>\n"                               (run: the child waits for
//                                      create: exit 0                       cgroup ready and joins)
//                                      run:    wait for the child, exit    user ns: bind start.sock, load
//                                              with its status (128+N)     the init (as the host's root),
//                                                                          then setresuid(0) in the ns
//                                                                          wait-go: blocks on IN
//  (v2: tsrun moves the helper, or the child in run, by pid)
//  prestart + createRuntime hooks
//  "go": "<len>\n" state(creating) ─────────────────────────────────────▶ mounts, devices, hostname,
//        "<len>\n" state(created)                                         sysctls, createContainer hooks,
//        "<len>\n" process state (seccomp listener, or empty)
//                                                                          bind <state>/start.sock,
//                                                                          pivot_root, masks, rlimits,
//                                                                          identity, caps, lookup
//          ◀──────────────────────────────────────────────── "ready\n"
//  write state.json
//  "0\n" (recorded) ───────────────────────────────────────────────────▶ (IN, OUT closed)
//  write the pid file; exit                                                accept() on start.sock ...
//                                                                          EOF instead of "recorded":
//                                                                          tsrun died before anyone
//                                                                          could find us: exit
//
//  tsrun start ── connect(start.sock) ─────────────────────────────────▶ startContainer hooks
//          ◀──────────────────────────────── EOF (exec closed the CLOEXEC connection): started
//          ◀────────────────────── "error <step> <errno> <text>\n": the container exits
//
// Errors: at any point before the barrier the helper or the child writes
// "error <step> <errno> <text>\n" on OUT and exits 1; <step> indexes the
// plan, so the message names the object the step was about (sysctl key, mount
// destination, hook). A <text> starting with "!" is an explanation that
// replaces the errno's (a mount path escaping the rootfs). After the barrier
// the same line goes to the connection of `tsrun start`. EOF on OUT
// without "ready" means the helper died. EOF on IN means tsrun died: every
// wait for tsrun (wait-cgroup, wait-go, the barrier's "recorded") ends the
// helper or the child then, so a killed create leaves no process behind.
//
// exec (src/runtime/exec-plan.ts) is the same up to "go": the helper joins the
// container's namespaces, forks, and the child joins the cgroup after an empty
// "go" (v1; on v2 tsrun moves it by pid first); there is no barrier, so EOF on OUT (close-on-exec) means the
// process was exec'd and an "error" line means it was not.
//
// Terminals (src/ns/nsexec-console.c): before any setns the helper connects to
// --console-socket; the child makes a pty in the container's /dev/pts and sends
// the master there with SCM_RIGHTS. In a foreground run or exec without a
// console socket, the master goes instead to the helper over a socketpair made
// before fork, and the helper relays it to tsrun's terminal (raw mode,
// SIGWINCH → TIOCSWINSZ) until the process exits.
//
// Fds: 0-2 are the container's stdio (those of create/run); 3..3+N-1 are the
// --preserve-fds fds; IN = 3+N and OUT = 4+N are two one-way channels (a
// failed write to a dead helper must not cost the error line waiting on OUT).
// Everything from 3+N up is marked close-on-exec just before exec, so callers'
// stray fds never leak into the container.

import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { RuntimeError } from '../runtime/errors.ts';
import { helperPath } from '../runtime/paths.ts';
import { errnoText } from './errno.ts';
import { encodePlan, frame, type PlanStep } from './plan.ts';

export interface HelperOptions {
  preserveFds?: number;
  /** 'inherit' for the container's stdio, or explicit fds. */
  stdio?: Array<'inherit' | 'ignore' | 'pipe' | number>;
  /** Where the helper's "debug" lines go (tsrun --debug). */
  onDebug?: (line: string) => void;
}

export class NsHelper {
  readonly child: ChildProcess;
  private readonly toHelper: Writable;
  private readonly fromHelper: Readable;
  private buffered = '';
  private waiters: Array<() => void> = [];
  private ended = false;
  private spawnError: Error | undefined;
  private readonly plan: PlanStep[];
  private readonly onDebug: (line: string) => void;

  constructor(plan: PlanStep[], opts: HelperOptions = {}) {
    this.plan = plan;
    this.onDebug = opts.onDebug ?? (() => {});
    const preserve = opts.preserveFds ?? 0;
    const stdio: Array<'inherit' | 'ignore' | 'pipe' | number> = [...(opts.stdio ?? ['inherit', 'inherit', 'inherit'])];
    for (let fd = 3; fd < 3 + preserve; fd++) stdio.push(fd);
    stdio.push('pipe', 'pipe');
    const inFd = stdio.length - 2;
    // What the host makes for the plan (a seccomp step's program), before the
    // helper exists: a profile libseccomp refuses starts nothing.
    const hostInputs = plan.flatMap((s) => (s.hostInput ? [frame(s.hostInput(this.onDebug))] : []));
    this.child = spawn(helperPath('tsrun-nsexec'), [String(inFd), String(inFd + 1)], { stdio });
    this.child.on('error', (err) => {
      this.spawnError = err;
    });
    this.toHelper = this.child.stdio[inFd] as unknown as Writable;
    this.toHelper.on('error', () => {}); // the helper died: its error line, or EOF, says why
    this.fromHelper = this.child.stdio[inFd + 1] as unknown as Readable;
    this.fromHelper.setEncoding('utf8');
    this.fromHelper.on('data', (chunk: string) => {
      this.buffered += chunk;
      this.wake();
    });
    this.fromHelper.on('error', () => {});
    this.fromHelper.on('close', () => {
      this.ended = true;
      this.wake();
    });
    this.toHelper.write(hostInputs.length ? Buffer.concat([encodePlan(plan), ...hostInputs]) : encodePlan(plan));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** The next line from the helper, or null at EOF. */
  private async line(): Promise<string | null> {
    for (;;) {
      const nl = this.buffered.indexOf('\n');
      if (nl >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        if (line.startsWith('debug ')) {
          this.onDebug(line.slice(6));
          continue;
        }
        return line;
      }
      if (this.ended) return null;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Waits for `expected` ("pid" or "ready"); an error line becomes a RuntimeError naming the step. */
  async expect(expected: 'pid' | 'ready'): Promise<string> {
    const line = await this.line();
    if (line === null) {
      const why = this.spawnError ? `cannot run ${helperPath('tsrun-nsexec')}: ${this.spawnError.message}` : `the helper exited unexpectedly${await this.exitDescription()}`;
      throw new RuntimeError('ERR_HELPER', `container setup ended before "${expected}": ${why}`);
    }
    const [word, ...rest] = line.split(' ');
    if (word === expected) return rest.join(' ');
    if (word === 'error') throw helperError(this.plan, line);
    throw new RuntimeError('ERR_HELPER', `unexpected message from the helper: ${JSON.stringify(line)}`);
  }

  /** exec: EOF means the process was exec'd (the sync fd is close-on-exec). */
  async expectExec(): Promise<void> {
    const line = await this.line();
    if (line === null) return;
    if (line.startsWith('error ')) throw helperError(this.plan, line);
    throw new RuntimeError('ERR_HELPER', `unexpected message from the helper: ${JSON.stringify(line)}`);
  }

  /** The cgroup exists and has its limits: the process may join it. */
  sendCgroupReady(): void {
    this.toHelper.write(frame(''));
  }

  /** state.json is written: the container may wait at the barrier for as long as it takes. */
  sendRecorded(): void {
    this.toHelper.write(frame(''));
  }

  /** processState: what a seccomp notify listener receives with its fd (src/runtime/seccomp.ts). */
  sendGo(stateCreating: string, stateCreated: string, processState = ''): void {
    this.toHelper.write(Buffer.concat([frame(stateCreating), frame(stateCreated), frame(processState)]));
  }

  private async exitDescription(): Promise<string> {
    const c = this.child;
    if (c.exitCode === null && c.signalCode === null) await Promise.race([this.exited(), new Promise((r) => setTimeout(r, 200))]);
    if (c.signalCode) return ` (killed by ${c.signalCode})`;
    return c.exitCode === null ? '' : ` (exit status ${c.exitCode})`;
  }

  /** Resolves with the helper's exit code (run mode: the container's status). */
  exited(): Promise<number> {
    if (this.child.exitCode !== null) return Promise.resolve(this.child.exitCode);
    return new Promise((resolve) => this.child.on('exit', (code, signal) => resolve(code ?? 128 + signalNumber(signal))));
  }

  close(): void {
    this.toHelper.destroy();
    this.fromHelper.destroy();
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? constants.signals[signal] : 0;
}


/** The program lookup's sentence plus runc's words for the errno, which
 *  podman maps to an exit status: "no such file or directory" (or "executable
 *  file not found in $PATH") to 127, "permission denied" to 126. */
export function lookupText(text: string, errno: number): string {
  if (text.includes('executable file not found in $PATH')) return text;
  const words = errno === 2 ? 'no such file or directory' : errno === 13 ? 'permission denied' : errnoText(errno);
  return `${text}: ${words}`;
}

/** "error <step> <errno> <text>" → a RuntimeError whose message names what the step was about. */
export function helperError(plan: PlanStep[], line: string): RuntimeError {
  const m = /^error (-?\d+) (\d+) (.*)$/.exec(line);
  if (!m) return new RuntimeError('ERR_HELPER', `container setup failed: ${line}`);
  const step = plan[Number(m[1])];
  const errno = Number(m[2]);
  const text = m[3] ?? '';
  if (step?.op === 'lookup') return new RuntimeError('ERR_EXEC', lookupText(text, errno), { errno });
  if (step?.rawError) return new RuntimeError(step.op === 'hook' ? 'ERR_HOOK' : 'ERR_EXEC', text, { errno });
  // A text starting with "!" explains the failure better than the errno does.
  if (text.startsWith('!')) return new RuntimeError('ERR_SETUP', `${step?.what ?? step?.op}: ${text.slice(1)}`, { errno, op: step?.op });
  const what = step?.what ? (step.detail && text ? `${step.what}: ${text}` : step.what) : text;
  return new RuntimeError('ERR_SETUP', `${what}: ${errnoText(errno)}`, { errno, op: step?.op });
}
