// macvlan (bridge mode) and ipvlan (l2/l3) modes: a sub-interface of a host
// parent, created directly inside the container's netns under its final
// name. The kernel resolves `link PARENT` in the netns of the caller (the
// runtime's) and registers the new link in the target netns, so nothing
// shows in the host netns even for a moment and a failed `up` leaves nothing
// behind there; the link dies with the container's netns.
import { RuntimeError } from '../../runtime/errors.ts';
import { oneLine, run } from './ip.ts';
import type { IpvlanMode } from './options.ts';

export async function createSubInterface(
  kind: 'macvlan' | 'ipvlan',
  parent: string,
  ifname: string,
  netns: string,
  mtu: number | undefined,
  ipvlanMode: IpvlanMode,
): Promise<void> {
  const args = ['link', 'add', 'name', ifname, 'link', parent, 'netns', netns];
  if (mtu !== undefined) args.push('mtu', String(mtu));
  args.push('type', kind, 'mode', kind === 'macvlan' ? 'bridge' : ipvlanMode);
  const res = await run('ip', args);
  if (res.code === 0) return;
  const said = oneLine(res.stderr) || `exit status ${res.code}`;
  if (/Unknown device type/i.test(res.stderr)) {
    const config = kind === 'macvlan' ? 'CONFIG_MACVLAN' : 'CONFIG_IPVLAN';
    throw new RuntimeError('ERR_UNSUPPORTED', `${kind} is not available: the kernel has no ${kind} support (${config}); ip said: ${said}`, {
      hint: kind === 'ipvlan' ? 'use macvlan' : 'use veth',
    });
  }
  if (/Cannot find device|does not exist/.test(res.stderr)) {
    throw new RuntimeError('ERR_NET_SETUP', `${kind} parent ${parent}: no such interface in the runtime's network namespace; ip said: ${said}`);
  }
  throw new RuntimeError('ERR_NET_SETUP', `${kind} on ${parent}: "ip ${args.join(' ')}" failed: ${said}`);
}
