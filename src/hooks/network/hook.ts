// What `up` and `down` do. `up` first reserves, under the state dir's lock,
// everything containers of one network share (address, bridge, NAT rule) and
// records what it is about to make; then, outside the lock, it makes this
// container's link and configures the container's netns. Any failure runs
// `down`, which undoes from the record alone: at poststop the container's
// process and netns are gone, and a failed `up` may have got anywhere.
import { existsSync, statSync } from 'node:fs';
import { RuntimeError } from '../../runtime/errors.ts';
import {
  contains, defaultGateway, formatIPv4, formatSubnet, isHostAddress, nextFreeAddress, overlaps, parseIPv4, parseSubnet,
} from './allocator.ts';
import { deleteLink, ipBatch, netnsPathOf } from './ip.ts';
import { isAlive, processStartTime, withLock } from './lock.ts';
import { createSubInterface } from './macvlan.ts';
import { addMasquerade, enableForwarding, removeMasquerade } from './nat.ts';
import { DEFAULT_SUBNET } from './options.ts';
import type { NetworkOptions } from './options.ts';
import { setRps } from './rps.ts';
import * as store from './store.ts';
import type { ContainerRecord, NetworkState } from './store.ts';
import { createVeth, defaultBridgeName, ensureBridge, hostIfName, removeBridge } from './veth.ts';

/** The interface name inside the container. */
export const IFNAME = 'eth0';

function conflict(net: NetworkState, key: string, have: string | undefined, want: string | undefined): void {
  if (want !== undefined && want !== have) {
    throw new RuntimeError('ERR_NET_CONFLICT', `network "${net.name}" has ${key} ${have ?? '(none)'}, not ${want}`, {
      hint: 'containers of one network share these settings; use name=OTHER for another network',
    });
  }
}

/** The network the options ask for: the recorded one (settings must agree) or a new one. */
export function resolveNetwork(opts: NetworkOptions, existing: NetworkState | null, all: NetworkState[]): NetworkState {
  if (existing) {
    conflict(existing, 'mode', existing.mode, opts.mode);
    conflict(existing, 'subnet', existing.subnet, opts.subnet);
    conflict(existing, 'gateway', existing.gateway, opts.gateway);
    conflict(existing, 'bridge', existing.bridge, opts.bridge);
    conflict(existing, 'parent', existing.parent, opts.parent);
    conflict(existing, 'ipvlan-mode', existing.ipvlanMode, opts.ipvlanMode);
    return structuredClone(existing);
  }
  const subnet = parseSubnet(opts.subnet ?? DEFAULT_SUBNET);
  const gateway = opts.gateway === undefined ? defaultGateway(subnet) : (parseIPv4(opts.gateway) ?? -1);
  if (!isHostAddress(subnet, gateway)) {
    throw new RuntimeError('ERR_NET_OPTION', `network option gateway: ${opts.gateway} is not a host address of subnet ${formatSubnet(subnet)}`);
  }
  const bridge = opts.mode === 'veth' ? (opts.bridge ?? defaultBridgeName(opts.name)) : undefined;
  for (const other of all) {
    if (other.name === opts.name) continue;
    if (overlaps(subnet, parseSubnet(other.subnet))) {
      throw new RuntimeError('ERR_NET_CONFLICT', `network "${opts.name}": subnet ${formatSubnet(subnet)} overlaps subnet ${other.subnet} of network "${other.name}"`, {
        hint: 'give it another subnet=CIDR',
      });
    }
    if (bridge !== undefined && other.bridge === bridge) {
      throw new RuntimeError('ERR_NET_CONFLICT', `network "${opts.name}": bridge ${bridge} belongs to network "${other.name}"`, { hint: 'give it another bridge=NAME' });
    }
  }
  const net: NetworkState = { name: opts.name, mode: opts.mode, subnet: formatSubnet(subnet), gateway: formatIPv4(gateway), allocations: {}, natUsers: [] };
  if (bridge !== undefined) net.bridge = bridge;
  if (opts.parent !== undefined) net.parent = opts.parent;
  if (opts.mode === 'ipvlan') net.ipvlanMode = opts.ipvlanMode ?? 'l2';
  return net;
}

/** The address for container `id`: ip= if given and free, else the lowest free one. */
export function chooseAddress(net: NetworkState, id: string, wanted: string | undefined): number {
  const subnet = parseSubnet(net.subnet);
  const gateway = parseIPv4(net.gateway) ?? -1;
  if (wanted === undefined) {
    const used = Object.entries(net.allocations).filter(([cid]) => cid !== id).map(([, a]) => parseIPv4(a) ?? -1);
    return nextFreeAddress(subnet, gateway, used, net.name);
  }
  const a = parseIPv4(wanted) ?? -1;
  if (!contains(subnet, a) || !isHostAddress(subnet, a)) throw new RuntimeError('ERR_NET_OPTION', `network option ip: ${wanted} is not a host address of subnet ${net.subnet}`);
  if (a === gateway) throw new RuntimeError('ERR_NET_OPTION', `network option ip: ${wanted} is the gateway of network "${net.name}"`);
  const owner = Object.entries(net.allocations).find(([cid, x]) => x === wanted && cid !== id);
  if (owner) throw new RuntimeError('ERR_NET_CONFLICT', `network option ip: ${wanted} is in use by container "${owner[0]}" on network "${net.name}"`);
  return a;
}

interface Reservation {
  rec: ContainerRecord;
  net: NetworkState;
  mtu: number | undefined;
}

async function reserve(id: string, pid: number, opts: NetworkOptions): Promise<Reservation> {
  const dir = opts.stateDir;
  const old = store.readContainer(dir, id);
  if (old) {
    if (isAlive(old.pid, old.pidStart)) {
      throw new RuntimeError('ERR_NET_CONFLICT', `container "${id}" already has a network ("${old.network}", ${old.address}) in ${dir}`, {
        hint: 'container ids must be unique per network state dir',
      });
    }
    // Its process is gone but its poststop never ran (a crash): clean up
    // what can be, as its poststop would have.
    await release(dir, id).catch(() => {});
  }
  const net = resolveNetwork(opts, store.readNetwork(dir, opts.name), store.listNetworks(dir));
  const rec: ContainerRecord = {
    id,
    network: net.name,
    mode: net.mode,
    address: formatIPv4(chooseAddress(net, id, opts.ip)),
    prefix: parseSubnet(net.subnet).prefix,
    pid,
    nat: opts.nat,
  };
  const start = processStartTime(pid);
  if (start !== null) rec.pidStart = start;
  if (net.mode === 'veth') rec.hostIf = hostIfName(id);
  net.allocations[id] = rec.address;
  if (opts.nat) net.natUsers.push(id);
  // Recorded before anything is made: from here on, release() can undo it.
  store.writeContainer(dir, rec);
  store.writeNetwork(dir, net);
  let mtu = opts.mtu;
  try {
    if (net.bridge !== undefined) {
      const br = await ensureBridge(net.bridge, `${net.gateway}/${rec.prefix}`, opts.mtu);
      if (br.created) net.bridgeCreated = true;
      else if (br.gatewayAdded) net.gatewayAdded = true;
      store.writeNetwork(dir, net);
      mtu ??= br.mtu;
    }
    if (opts.nat) {
      enableForwarding();
      if (!net.natRule) {
        net.natRule = true;
        store.writeNetwork(dir, net);
        await addMasquerade(net.subnet, net.name);
      }
    }
  } catch (err) {
    await release(dir, id).catch(() => {});
    throw err;
  }
  return { rec, net, mtu };
}

async function wire({ rec, net, mtu }: Reservation, opts: NetworkOptions, netns: string): Promise<void> {
  if (rec.hostIf !== undefined && net.bridge !== undefined) {
    await createVeth(rec.hostIf, IFNAME, netns, net.bridge, mtu ?? 1500);
  } else if (net.parent !== undefined && rec.mode !== 'veth') {
    await createSubInterface(rec.mode, net.parent, IFNAME, netns, mtu, net.ipvlanMode ?? 'l2');
  }
  // ipvlan l3 forwards by the parent's routing, not by a next hop on a shared segment.
  const l3 = rec.mode === 'ipvlan' && net.ipvlanMode === 'l3';
  await ipBatch(`configure ${IFNAME} of container ${rec.id}`, [
    'link set dev lo up',
    `addr add ${rec.address}/${rec.prefix} dev ${IFNAME}`,
    `link set dev ${IFNAME} up`,
    l3 ? `route add default dev ${IFNAME}` : `route add default via ${net.gateway} dev ${IFNAME}`,
  ], netns);
  if (opts.rps !== undefined && rec.hostIf !== undefined) await setRps(rec.hostIf, opts.rps);
}

export async function networkUp(id: string, pid: number, opts: NetworkOptions): Promise<void> {
  const netns = netnsPathOf(pid);
  let inode: number;
  try {
    inode = statSync(netns).ino;
  } catch {
    throw new RuntimeError('ERR_NET_STATE', `container "${id}": no network namespace at ${netns}`, { hint: `is its process ${pid} running?` });
  }
  // Without a network namespace of its own, "the container's" eth0, address
  // and default route would be the host's.
  if (inode === statSync('/proc/self/ns/net').ino) {
    throw new RuntimeError('ERR_NET_STATE', `container "${id}" shares the runtime's network namespace`, {
      hint: 'the config needs a new network namespace (linux.namespaces: {"type": "network"})',
    });
  }
  const reservation = await withLock(opts.stateDir, () => reserve(id, pid, opts));
  try {
    await wire(reservation, opts, netns);
  } catch (err) {
    await networkDown(id, opts.stateDir).catch(() => {});
    throw err;
  }
}

/** Undoes what `up` recorded for `id`; the caller holds the lock. Best effort: every step runs, then the failures are reported. */
async function release(dir: string, id: string): Promise<void> {
  const rec = store.readContainer(dir, id);
  if (!rec) return;
  const failures: string[] = [];
  const attempt = async (step: () => Promise<void>): Promise<boolean> => {
    try {
      await step();
      return true;
    } catch (err) {
      failures.push(err instanceof Error ? err.message : String(err));
      return false;
    }
  };
  const hostIf = rec.hostIf;
  if (hostIf !== undefined) {
    // Deleting one end of a veth pair deletes the other, inside the container.
    await attempt(() => deleteLink(`remove veth ${hostIf}`, hostIf));
  } else if (isAlive(rec.pid, rec.pidStart)) {
    // A macvlan/ipvlan link lives in the container's netns and dies with it;
    // only when that netns is still there (a failed up, a manual down) is there anything to remove.
    await attempt(() => deleteLink(`remove ${rec.mode} ${IFNAME} of container ${id}`, IFNAME, netnsPathOf(rec.pid)));
  }
  const net = store.readNetwork(dir, rec.network);
  if (net) {
    delete net.allocations[id];
    net.natUsers = net.natUsers.filter((u) => u !== id);
    if (net.natRule && net.natUsers.length === 0 && (await attempt(() => removeMasquerade(net.subnet, net.name)))) {
      net.natRule = false;
    }
    let bridgeGone = net.bridge === undefined;
    if (Object.keys(net.allocations).length === 0 && net.bridge !== undefined) {
      const bridge = net.bridge;
      bridgeGone = await attempt(() => removeBridge(bridge, net.bridgeCreated === true, net.gatewayAdded === true, `${net.gateway}/${rec.prefix}`));
    }
    // A network whose leftovers could not be removed stays recorded, so that its next user retries.
    if (Object.keys(net.allocations).length === 0 && !net.natRule && bridgeGone) store.deleteNetwork(dir, net.name);
    else store.writeNetwork(dir, net);
  }
  store.deleteContainer(dir, id);
  if (failures.length > 0) throw new RuntimeError('ERR_NET_TEARDOWN', `container "${id}": ${failures.join('; ')}`);
}

/** Removes everything `up` made for container `id`. Idempotent: an unknown id is not an error. */
export async function networkDown(id: string, stateDir: string): Promise<void> {
  if (!existsSync(stateDir)) return;
  await withLock(stateDir, () => release(stateDir, id));
}
