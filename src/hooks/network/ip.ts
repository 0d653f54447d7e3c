// Running ip, nsenter, iptables and friends for the network hooks. Every
// failure becomes a RuntimeError naming the step, the command and what the
// tool printed. Commands inside a container's netns go through
// `nsenter --net=PATH`, and several ip commands go into one `ip -batch -` to
// save spawns.
import { spawn } from 'node:child_process';
import { RuntimeError } from '../../runtime/errors.ts';

// OCI runtimes may start hooks with an empty environment (hook.env unset):
// without PATH, ip and iptables in /usr/sbin would not be found.
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function toolEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: process.env.PATH || DEFAULT_PATH, LC_ALL: 'C' };
}

/** Runs a command to completion; rejects only when it cannot be started. */
export function run(cmd: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: toolEnv(), stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err: NodeJS.ErrnoException) => {
      const hint = cmd === 'ip' ? 'install iproute2' : cmd === 'iptables' ? 'install iptables' : cmd === 'nsenter' || cmd === 'unshare' ? 'install util-linux' : undefined;
      reject(new RuntimeError('ERR_NET_TOOL', `cannot run ${cmd}: ${err.code === 'ENOENT' ? 'not found in PATH' : err.message}`, { cause: err, hint }));
    });
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    if (input !== undefined && child.stdin) {
      child.stdin.on('error', () => {
        // the tool exited before reading all input; its exit status says why
      });
      child.stdin.end(input);
    }
  });
}

/** What a tool printed, as one line. */
export function oneLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '').join('; ');
}

export function netnsPathOf(pid: number): string {
  return `/proc/${pid}/ns/net`;
}

function withNetns(netns: string | undefined, argv: string[]): [string, string[]] {
  return netns === undefined ? [argv[0] ?? '', argv.slice(1)] : ['nsenter', [`--net=${netns}`, ...argv]];
}

/** `ip ARGS` (in `netns` when given); throws naming `step` on failure, returns stdout. */
export async function ip(step: string, args: string[], netns?: string): Promise<string> {
  const [cmd, argv] = withNetns(netns, ['ip', ...args]);
  const res = await run(cmd, argv);
  if (res.code !== 0) {
    throw new RuntimeError('ERR_NET_SETUP', `${step}: "ip ${args.join(' ')}"${where(netns)} failed: ${oneLine(res.stderr) || `exit status ${res.code}`}`);
  }
  return res.stdout;
}

function where(netns: string | undefined): string {
  return netns === undefined ? '' : ` in netns ${netns}`;
}

/**
 * Runs `lines` through one `ip -batch -`. ip stops at the first failing line
 * and reports it as "Command failed -:N": the error names that command.
 */
export async function ipBatch(step: string, lines: string[], netns?: string): Promise<void> {
  const [cmd, argv] = withNetns(netns, ['ip', '-batch', '-']);
  const res = await run(cmd, argv, `${lines.join('\n')}\n`);
  if (res.code === 0) return;
  const failed = /Command failed -:(\d+)/.exec(res.stderr);
  const line = failed ? lines[Number(failed[1]) - 1] : undefined;
  const said = oneLine(res.stderr.replace(/Command failed -:\d+\n?/g, '')) || `exit status ${res.code}`;
  const what = line === undefined ? `"ip -batch"` : `"ip ${line}"`;
  throw new RuntimeError('ERR_NET_SETUP', `${step}: ${what}${where(netns)} failed: ${said}`);
}

export interface LinkInfo {
  ifindex: number;
  ifname: string;
  mtu: number;
  address: string;
  kind: string | undefined;
  addresses: string[];
}

/** The link `name` with its kind and IPv4 addresses ("A.B.C.D/len"); null when there is no such link. */
export async function showLink(step: string, name: string, netns?: string): Promise<LinkInfo | null> {
  const [cmd, argv] = withNetns(netns, ['ip', '-d', '-j', 'addr', 'show', 'dev', name]);
  const res = await run(cmd, argv);
  if (res.code !== 0) {
    if (/does not exist|Cannot find device/.test(res.stderr)) return null;
    throw new RuntimeError('ERR_NET_SETUP', `${step}: "ip addr show dev ${name}"${where(netns)} failed: ${oneLine(res.stderr)}`);
  }
  type Raw = { ifindex: number; ifname: string; mtu: number; address: string; linkinfo?: { info_kind?: string }; addr_info?: { family: string; local: string; prefixlen: number }[] };
  const raw = (JSON.parse(res.stdout) as Raw[])[0];
  if (!raw) return null;
  return {
    ifindex: raw.ifindex,
    ifname: raw.ifname,
    mtu: raw.mtu,
    address: raw.address,
    kind: raw.linkinfo?.info_kind,
    addresses: (raw.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
  };
}

/** `ip link del NAME`; a link that is already gone is not an error (down must be idempotent). */
export async function deleteLink(step: string, name: string, netns?: string): Promise<void> {
  const [cmd, argv] = withNetns(netns, ['ip', 'link', 'del', 'dev', name]);
  const res = await run(cmd, argv);
  if (res.code !== 0 && !/does not exist|Cannot find device/.test(res.stderr)) {
    throw new RuntimeError('ERR_NET_SETUP', `${step}: "ip link del dev ${name}"${where(netns)} failed: ${oneLine(res.stderr)}`);
  }
}
