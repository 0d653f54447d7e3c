// The rps option: Receive Packet Steering on the host end of a veth pair, so
// that packets a container sends are processed on several CPUs of the host
// instead of the one that queued them. Written to
// /sys/class/net/<dev>/queues/rx-*/rps_cpus.
//
// /sys/class/net shows the links of the netns of whoever mounted that sysfs,
// not of the reader. The hook runs in the runtime's netns, which is normally
// the one /sys was mounted for; when it is not (a runtime started by
// `nsenter --net` or inside some other netns), the same name could be missing
// or, worse, another netns's link. So the link seen in /sys must match the one
// ip sees (name, ifindex and MAC); otherwise the write goes through a fresh
// sysfs mounted in a private mount namespace, which shows our own netns.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { RuntimeError } from '../../runtime/errors.ts';
import { oneLine, run, showLink } from './ip.ts';

/** "0-3,6" (the kernel's cpu list format) -> [0, 1, 2, 3, 6]. */
export function parseCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    for (let c = from; c <= to; c++) cpus.push(c);
  }
  return cpus;
}

/** The kernel's cpumask format: hex, in 32-bit groups separated by commas, e.g. [0,1] -> "3", 40 cpus -> "ff,ffffffff". */
export function cpuMask(cpus: number[]): string {
  let bits = 0n;
  for (const c of cpus) bits |= 1n << BigInt(c);
  const hex = bits.toString(16);
  const groups: string[] = [];
  for (let end = hex.length; end > 0; end -= 8) groups.unshift(hex.slice(Math.max(0, end - 8), end));
  return groups.map((g, i) => (i === 0 ? g : g.padStart(8, '0'))).join(',');
}

/** Every online CPU of the machine. */
export function allCpusMask(): string {
  let list = '';
  try {
    list = readFileSync('/sys/devices/system/cpu/online', 'utf8');
  } catch {
    // no sysfs cpu view: fall through to an empty list
  }
  const cpus = parseCpuList(list);
  if (cpus.length === 0) throw new RuntimeError('ERR_NET_RPS', 'rps: cannot read the online cpus from /sys/devices/system/cpu/online');
  return cpuMask(cpus);
}

function noRps(dev: string): RuntimeError {
  return new RuntimeError('ERR_NET_RPS', `rps is not available on ${dev}: no rps_cpus in its rx queues, the kernel has no rps support (CONFIG_RPS)`);
}

function writeDirect(dev: string, mask: string): void {
  const queues = `/sys/class/net/${dev}/queues`;
  const rx = readdirSync(queues).filter((q) => q.startsWith('rx-'));
  if (rx.length === 0) throw noRps(dev);
  for (const q of rx) {
    const path = `${queues}/${q}/rps_cpus`;
    try {
      writeFileSync(path, `${mask}\n`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw noRps(dev);
      throw new RuntimeError('ERR_NET_RPS', `rps on ${dev}: write "${mask}" to ${path}: ${code?.toLowerCase() ?? String(err)}${code === 'EINVAL' || code === 'EOVERFLOW' ? ' (not a valid cpu mask for this machine)' : ''}`);
    }
  }
}

// $1 = device, $2 = mask. Exit codes tell the steps apart.
const VIA_FRESH_SYSFS = [
  'mount -t sysfs sysfs /sys || exit 3',
  'cd "/sys/class/net/$1/queues" || exit 4',
  'for q in rx-*; do [ -e "$q/rps_cpus" ] || exit 5; echo "$2" > "$q/rps_cpus" || exit 6; done',
].join('\n');

async function writeViaFreshSysfs(dev: string, mask: string): Promise<void> {
  const res = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', VIA_FRESH_SYSFS, 'sh', dev, mask]);
  if (res.code === 0) return;
  if (res.code === 5) throw noRps(dev);
  const step = res.code === 3 ? 'mount a private sysfs' : res.code === 4 ? `find ${dev} in it` : res.code === 6 ? `write "${mask}" to rps_cpus` : 'run unshare';
  throw new RuntimeError('ERR_NET_RPS', `rps on ${dev}: ${step} failed: ${oneLine(res.stderr) || `exit status ${res.code}`}`);
}

/** Writes `mask` ("all" or hex) to rps_cpus of every rx queue of `dev`, a link of the caller's netns. */
export async function setRps(dev: string, mask: string): Promise<void> {
  const want = mask === 'all' ? allCpusMask() : mask;
  const link = await showLink(`rps on ${dev}`, dev);
  if (!link) throw new RuntimeError('ERR_NET_RPS', `rps on ${dev}: no such link`);
  let same = false;
  try {
    const sys = `/sys/class/net/${dev}`;
    same = Number(readFileSync(`${sys}/ifindex`, 'utf8')) === link.ifindex && readFileSync(`${sys}/address`, 'utf8').trim() === link.address;
  } catch {
    // not in this sysfs: it shows another netns
  }
  if (same) writeDirect(dev, want);
  else await writeViaFreshSysfs(dev, want);
}
