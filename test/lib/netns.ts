// Helpers for tests that build networks: the test file re-executes itself
// under `unshare --net --mount` with a fresh sysfs on /sys (the cgroup mounts
// moved back under it, so the runtime still finds its cgroups). That private
// network namespace stands for the host: bridges, veth host ends, iptables
// rules and ip_forward never touch the machine's own. Further namespaces
// ("outside" servers, macvlan peers) are held by `unshare --net` processes
// that the tests start and kill by pid.
//
//   import { hostStandIn } from './lib/netns.ts';
//   hostStandIn('network with tsrun', import.meta.url, ['iptables'], () => { test(...); });
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const INNER = 'TSRUN_TEST_NETNS_INNER';

/** The stand-in: a fresh sysfs (it shows the new netns), cgroups moved back, lo up. */
const SETUP = `set -e
d=$(mktemp -d /tmp/tsrun-netns-cg.XXXXXX)
mount --rbind /sys/fs/cgroup "$d"
mount -t sysfs sysfs /sys
mount --move "$d" /sys/fs/cgroup
rmdir "$d"
ip link set lo up
exec "$@"`;

export const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Whether this process runs inside the host stand-in. */
export function insideHostStandIn(): boolean {
  return process.env[INNER] === '1';
}

/**
 * Defines and runs the tests inside the host stand-in. Outside it, the file
 * `fileUrl` (the caller's import.meta.url) is run again under unshare and this
 * process exits with its status; when a tool in `needs` (or root, or
 * /bin/busybox) is missing, one skipped test is reported instead.
 */
export function hostStandIn(name: string, fileUrl: string, needs: string[], define: () => void): void {
  if (insideHostStandIn()) {
    define();
    test.run();
    return;
  }
  const missing = ['unshare', 'nsenter', 'ip', ...needs].filter((c) => !has(c));
  if (process.getuid?.() !== 0) missing.push('root');
  if (!existsSync('/bin/busybox')) missing.push('/bin/busybox');
  if (missing.length > 0) {
    console.log(`SKIP ${name}: needs ${missing.join(', ')}`);
    test.skip(name, () => {});
    test.run();
    return;
  }
  const res = spawnSync('unshare', ['--net', '--mount', '--propagation', 'private', 'sh', '-c', SETUP, 'sh', process.execPath, fileURLToPath(fileUrl)], {
    stdio: 'inherit',
    env: { ...process.env, [INNER]: '1' },
  });
  process.exit(res.status ?? 1);
}

export interface Res {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command with pipes (not for commands that leave a daemon holding them). */
export function sh(cmd: string, args: string[], input?: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin?.on('error', () => {}).end(input);
  });
}

/** Runs a command and asserts it succeeded; resolves to its stdout. */
export async function must(cmd: string, args: string[], input?: string): Promise<string> {
  const res = await sh(cmd, args, input);
  assert.is(res.code, 0, `${cmd} ${args.join(' ')}: ${res.stderr.trim()}`);
  return res.stdout;
}

/** Network namespaces held by processes of ours, killed by pid when done. */
export class NetnsHolders {
  private readonly children = new Set<ChildProcess>();

  constructor() {
    // A holder must not outlive the test process, whatever happened.
    process.on('exit', () => this.stopAll());
  }

  /** `unshare --net CMD`; resolves to the pid once CMD runs in the new netns. */
  async add(cmd: string[] = ['/bin/busybox', 'sleep', '300']): Promise<number> {
    const child = spawn('unshare', ['--net', ...cmd], { stdio: 'ignore' });
    // Unref'd: a leftover holder must not keep the test process alive.
    child.unref();
    this.children.add(child);
    const pid = child.pid;
    if (pid === undefined) throw new Error('unshare did not start');
    // unshare execs CMD once the netns exists: wait for that.
    for (let i = 0; i < 200 && comm(pid) === 'unshare'; i++) await new Promise((r) => setTimeout(r, 10));
    return pid;
  }

  /** Kills the holder with this pid (one of ours), if it still runs. */
  stop(pid: number): void {
    for (const c of this.children) {
      if (c.pid !== pid) continue;
      kill(c);
      this.children.delete(c);
    }
  }

  stopAll(): void {
    for (const c of this.children) kill(c);
    this.children.clear();
  }
}

function kill(c: ChildProcess): void {
  try {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  } catch {
    // already gone
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Runs a command in the netns of `pid` and asserts it succeeded. */
export const inNetns = (pid: number, args: string[], input?: string): Promise<string> => must('nsenter', [`--net=/proc/${pid}/ns/net`, ...args], input);

/** The link names of the current netns. */
export async function linkNames(): Promise<string[]> {
  return (JSON.parse(await must('ip', ['-j', 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname);
}

/** The current netns's IPv4 addresses as `name addr/len`. */
export async function addresses(): Promise<string[]> {
  const links = JSON.parse(await must('ip', ['-j', '-4', 'addr', 'show'])) as { ifname: string; addr_info: { local: string; prefixlen: number }[] }[];
  return links.flatMap((l) => l.addr_info.map((a) => `${l.ifname} ${a.local}/${a.prefixlen}`));
}

/** The tsrun network hook's NAT rules (they carry a "tsrun" comment). */
export async function natRules(): Promise<string[]> {
  return (await must('iptables', ['-w', '-t', 'nat', '-S', 'POSTROUTING'])).split('\n').filter((l) => l.includes('tsrun'));
}

/**
 * Whether the kernel can make ipvlan links, probed on a scratch veth pair in
 * the current netns; `reason` is what ip said.
 */
export function probeIpvlan(): { missing: boolean; reason: string } {
  const probe = spawnSync('sh', ['-c', 'ip link add name tprobe0 type veth peer name tprobe1 && ip link add name tprobe2 link tprobe0 type ipvlan mode l2; r=$?; ip link del tprobe0; exit $r'], { encoding: 'utf8' });
  return { missing: /Unknown device type/.test(probe.stderr), reason: probe.stderr.trim() };
}
