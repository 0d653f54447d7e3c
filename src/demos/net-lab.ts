// What the network demos (netlat, reorder) add to the demo Lab (lab.ts):
//
//   - the sandbox (enterSandbox): from here on this process and everything it
//     spawns live in a private network namespace standing for the host; the
//     kernel deletes it, with every link, bridge, address and route in it,
//     when we exit, even after a SIGKILL;
//   - containers with the network hooks (a private state-dir in the lab dir),
//     started detached; Lab.close() deletes them, also on Ctrl-C;
//   - background tools (sockperf, iperf3 servers) in a chosen namespace,
//     killed by pid when they are stopped or when the process exits;
//   - extra namespaces with no process in them (openNetns), held by a file
//     descriptor of ours, so they die with us too.
//
// Host tools run on the host side inside a container's network namespace
// (`nsenter --net=/proc/PID/ns/net`): sockperf and iperf3 are dynamically
// linked and the busybox rootfs has no libraries, and what the demos measure
// is the network path, which is the same for any process in that namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addNetworkToConfig } from '../hooks/network/config-edit.ts';
import { CLONE_FLAGS } from '../ns/clone-flags.ts';
import { enterSandbox, setns, unshare } from '../ns/syscalls.ts';
import { RuntimeError } from '../runtime/errors.ts';
import { tsrunCommand } from '../runtime/paths.ts';
import type { Lab } from './lab.ts';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface NetContainer {
  id: string;
  pid: number;
  /** /proc/PID/ns/net */
  netns: string;
  /** The host end of its veth pair (veth mode only). */
  hostIf?: string;
}

export interface Background {
  output(): string;
  /** SIGTERM by pid, then waits for the exit. */
  stop(): Promise<void>;
}

export interface NetLab {
  lab: Lab;
  run(cmd: string, args: string[], netns?: string): Promise<CommandResult>;
  /** Like run, but a non-zero exit is a RuntimeError naming `step`; returns stdout. */
  must(step: string, cmd: string, args: string[], netns?: string): Promise<string>;
  background(cmd: string, args: string[], netns?: string): Background;
  /** A detached busybox container (`sleep`) in a new network namespace, wired
   *  by the network hooks for `netSpec` (without one: only lo, for wiring by hand). */
  startContainer(prefix: string, netSpec?: string): Promise<NetContainer>;
  deleteContainer(id: string): Promise<void>;
  /** A new network namespace with only lo (up); its path is valid while we run. */
  openNetns(): Promise<string>;
  /** Kills every tool still running (by pid): call it in a finally, or a
   *  server left behind by a failure would keep the process alive. */
  close(): void;
}

/** One clear line when host tools are missing: the demos install nothing. */
export async function requireTools(tools: string[]): Promise<void> {
  const missing: string[] = [];
  for (const t of tools) if ((await runCommand('sh', ['-c', `command -v ${t}`])).code !== 0) missing.push(t);
  if (missing.length > 0) {
    throw new RuntimeError('ERR_DEMO', `missing host tools: ${missing.join(', ')}`, {
      hint: 'scripts/setup.sh installs them (apt-get install sockperf iperf3 iproute2 util-linux); the demo installs nothing',
    });
  }
}

/** Every tool we started that has not exited: killed by pid when the process exits. */
const children = new Set<ChildProcess>();

function argv(cmd: string, args: string[], netns: string | undefined): [string, string[]] {
  return netns === undefined ? [cmd, args] : ['nsenter', [`--net=${netns}`, '--', cmd, ...args]];
}

const env = (): NodeJS.ProcessEnv => ({ ...process.env, PATH: process.env.PATH || PATH, LC_ALL: 'C' });

function runCommand(cmd: string, args: string[], netns?: string): Promise<CommandResult> {
  const [c, a] = argv(cmd, args, netns);
  return new Promise((resolve) => {
    const child = spawn(c, a, { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => resolve({ code: 127, stdout, stderr: `${stderr}${c}: ${err.message}` }));
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code: code ?? 128 + (signal ? 15 : 0), stdout, stderr });
    });
  });
}

export function oneLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).join('; ').slice(0, 400);
}

let exitHook = false;

function killAll(): void {
  for (const child of children) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Enters the sandbox (once per process) and returns the network helpers. */
export async function openNetLab(lab: Lab): Promise<NetLab> {
  await enterSandbox();
  if (!exitHook) {
    exitHook = true;
    // Lab's signal handler ends the process with process.exit: our tools go
    // with it, by pid (a signal sent to us alone would not reach them).
    process.on('exit', killAll);
  }
  const stateDir = join(lab.dir, 'net');
  const net: NetLab = {
    lab,
    run: runCommand,
    async must(step, cmd, args, netns) {
      const r = await runCommand(cmd, args, netns);
      if (r.code !== 0) throw new RuntimeError('ERR_DEMO', `${step}: "${cmd} ${args.join(' ')}" failed: ${oneLine(r.stderr) || `exit status ${r.code}`}`);
      return r.stdout;
    },
    background(cmd, args, netns) {
      const [c, a] = argv(cmd, args, netns);
      const child = spawn(c, a, { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      let out = '';
      let exited = false;
      child.stdout!.setEncoding('utf8').on('data', (d: string) => void (out += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => void (out += d));
      const exit = new Promise<void>((resolve) => {
        child.on('error', (err) => void (out += `${c}: ${err.message}\n`));
        child.on('close', () => {
          exited = true;
          children.delete(child);
          resolve();
        });
      });
      return {
        output: () => out,
        async stop() {
          if (!exited && child.pid !== undefined) {
            try {
              process.kill(child.pid, 'SIGTERM');
            } catch {
              // already gone
            }
          }
          await exit;
        },
      };
    },
    async startContainer(prefix, netSpec) {
      const id = lab.id(prefix);
      const bundle = lab.bundle(id, (c) => {
        if (netSpec !== undefined) Object.assign(c, addNetworkToConfig(c, `${netSpec},state-dir=${stateDir}`, [tsrunCommand(), 'hook', 'network']));
      });
      const r = await lab.tsrun(['run', '--detach', '--bundle', bundle.dir, id]);
      if (r.exitCode !== 0) throw new RuntimeError('ERR_DEMO', `container ${id} (${netSpec ?? 'no network hook'}): tsrun run failed: ${oneLine(r.stderr) || `exit status ${r.exitCode}`}`);
      const state = await lab.tsrun(['state', id]);
      if (state.exitCode !== 0) throw new RuntimeError('ERR_DEMO', `container ${id}: tsrun state failed: ${oneLine(state.stderr)}`);
      const pid = (JSON.parse(state.stdout) as { pid: number }).pid;
      let hostIf: string | undefined;
      try {
        hostIf = (JSON.parse(readFileSync(join(stateDir, 'containers', `${id}.json`), 'utf8')) as { hostIf?: string }).hostIf;
      } catch {
        // no record of a host end: not a veth container
      }
      return { id, pid, netns: `/proc/${pid}/ns/net`, ...(hostIf ? { hostIf } : {}) };
    },
    async deleteContainer(id) {
      const r = await lab.tsrun(['delete', '--force', id]);
      if (r.exitCode !== 0) throw new RuntimeError('ERR_DEMO', `container ${id}: tsrun delete failed: ${oneLine(r.stderr)}`);
    },
    async openNetns() {
      // Namespaces are per thread and spawn() forks from this (the main)
      // thread: step into a fresh netns, keep an fd to it, step back.
      const home = openSync('/proc/self/ns/net', 'r');
      try {
        await unshare(CLONE_FLAGS.network!);
        const fd = openSync('/proc/self/ns/net', 'r');
        await setns(`/proc/self/fd/${home}`, CLONE_FLAGS.network!);
        const path = `/proc/${process.pid}/fd/${fd}`;
        await net.must('lo in a new network namespace', 'ip', ['link', 'set', 'lo', 'up'], path);
        return path;
      } finally {
        closeSync(home);
      }
    },
    close: killAll,
  };
  await net.must('lo of the host stand-in', 'ip', ['link', 'set', 'lo', 'up']);
  return net;
}

/** Polls `ss` in `netns` until something listens on TCP `port` (the tools buffer
 *  their output in a pipe, so their "ready" lines cannot be relied on). */
export async function waitListening(net: NetLab, what: string, port: number, netns: string | undefined, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await net.run('ss', ['-Htln', `sport = :${port}`], netns);
    if (r.code === 0 && r.stdout.trim() !== '') return;
    if (Date.now() > deadline) throw new RuntimeError('ERR_DEMO', `${what} is not listening on port ${port} after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The absolute counters `nstat -asz` prints in `netns` (-s: no history file is written). */
export async function nstat(net: NetLab, netns?: string): Promise<Record<string, number>> {
  const out = await net.must('read the TCP counters', 'nstat', ['-asz'], netns);
  const counters: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const m = /^(\w+)\s+(\d+)/.exec(line);
    if (m) counters[m[1]!] = Number(m[2]);
  }
  return counters;
}

/** after - before for each name (a counter this kernel lacks counts as 0). */
export function counterDelta(before: Record<string, number>, after: Record<string, number>, names: string[]): Record<string, number> {
  return Object.fromEntries(names.map((n) => [n, (after[n] ?? 0) - (before[n] ?? 0)]));
}
