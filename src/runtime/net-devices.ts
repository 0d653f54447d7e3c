// linux.netDevices: host network interfaces moved into the container's
// network namespace (renamed to `name` there), and moved back under their
// host name by `delete` while the container still lives. When the container
// exits first, its network namespace goes with it and the kernel returns
// physical devices to the host (under their container name) and destroys
// virtual ones (veth, macvlan): as with runc, nothing tsrun can undo then.
// Loaded only when the config has netDevices.
import { execFileSync } from 'node:child_process';
import { RuntimeError } from './errors.ts';

type NetDevices = Record<string, { name?: string }>;

function run(cmd: string, args: string[], what: string): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    throw new RuntimeError('ERR_SETUP', `${what}: ${stderr || (err as Error).message}`, { op: 'ip link set' });
  }
}

/** Moves each device into the network namespace of `pid`, renamed as asked:
 *  all or none (a failure moves back the ones already moved, then throws). */
export function moveIn(devices: NetDevices, pid: number): void {
  const moved: NetDevices = {};
  for (const [host, dev] of Object.entries(devices)) {
    const name = dev.name || host;
    try {
      run('ip', ['link', 'set', 'dev', host, 'netns', String(pid), 'name', name],
        `/linux/netDevices/${host}: move ${JSON.stringify(host)} into the container as ${JSON.stringify(name)}`);
    } catch (err) {
      moveOut(moved, pid, () => {});
      throw err;
    }
    moved[host] = dev;
  }
}

/** Moves each device back to the namespace of our own pid 1, under its host name. */
export function moveOut(devices: NetDevices, pid: number, warn: (m: string) => void): void {
  for (const [host, { name }] of Object.entries(devices)) {
    try {
      // Run inside the container's network namespace; "netns <our pid>" names ours.
      run('nsenter', [`--net=/proc/${pid}/ns/net`, '--', 'ip', 'link', 'set', 'dev', name || host, 'netns', String(process.pid), 'name', host],
        `/linux/netDevices/${host}: move ${JSON.stringify(name || host)} back to the host`);
    } catch (err) {
      warn(`warning: ${(err as Error).message}`);
    }
  }
}
