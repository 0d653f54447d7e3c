// veth mode: one veth pair per container, its host end attached to the
// network's bridge, which holds the gateway address. The peer is created
// directly inside the container's netns under its final name, so no
// temporary name ever shows in the host netns.
import { createHash } from 'node:crypto';
import { RuntimeError } from '../../runtime/errors.ts';
import { deleteLink, ip, ipBatch, oneLine, run, showLink } from './ip.ts';
import { isLinkName } from './options.ts';

const hash8 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 8);

/** Host end of a container's pair: "tsr" + 8 hex digits of the id, 11 chars, unique per id. */
export function hostIfName(id: string): string {
  return `tsr${hash8(id)}`;
}

/** The bridge of a network: its name when that is a valid link name, else a hash of it. */
export function defaultBridgeName(network: string): string {
  return isLinkName(network) ? network : `tsrb${hash8(network)}`;
}

/**
 * A fixed, locally administered MAC per bridge: otherwise the bridge takes
 * the lowest MAC of its ports, and the gateway's MAC would change under the
 * containers' ARP caches each time a container comes or goes.
 */
export function bridgeMac(bridge: string): string {
  const h = createHash('sha256').update(`tsrun bridge ${bridge}`).digest('hex');
  return `02:${[0, 2, 4, 6, 8].map((i) => h.slice(i, i + 2)).join(':')}`;
}

export interface BridgeResult {
  created: boolean;
  gatewayAdded: boolean;
  mtu: number;
}

/** Makes sure `bridge` exists, holds `gatewayCidr` and is up. Runs under the state lock. */
export async function ensureBridge(bridge: string, gatewayCidr: string, mtu: number | undefined): Promise<BridgeResult> {
  const link = await showLink(`bridge ${bridge}`, bridge);
  if (!link) {
    const mtuArg = mtu === undefined ? [] : ['mtu', String(mtu)];
    await ip(`create bridge ${bridge}`, ['link', 'add', 'name', bridge, 'address', bridgeMac(bridge), ...mtuArg, 'type', 'bridge']);
    try {
      await ipBatch(`set up bridge ${bridge}`, [`addr add ${gatewayCidr} dev ${bridge}`, `link set dev ${bridge} up`]);
    } catch (err) {
      // All or nothing: a half-made bridge would not be in the state to undo.
      await deleteLink(`remove half-made bridge ${bridge}`, bridge).catch(() => {});
      throw err;
    }
    return { created: true, gatewayAdded: true, mtu: mtu ?? 1500 };
  }
  if (link.kind !== 'bridge') {
    throw new RuntimeError('ERR_NET_SETUP', `bridge ${bridge}: a link of that name exists and is not a bridge (${link.kind ?? 'kind unknown'})`, {
      hint: 'choose another name with bridge=NAME',
    });
  }
  const gatewayAdded = !link.addresses.includes(gatewayCidr);
  await ipBatch(`set up bridge ${bridge}`, [
    ...(gatewayAdded ? [`addr add ${gatewayCidr} dev ${bridge}`] : []),
    `link set dev ${bridge} up`,
  ]);
  return { created: false, gatewayAdded, mtu: link.mtu };
}

/** Undoes ensureBridge when a network's last container goes. */
export async function removeBridge(bridge: string, created: boolean, gatewayAdded: boolean, gatewayCidr: string): Promise<void> {
  if (created) return deleteLink(`remove bridge ${bridge}`, bridge);
  if (!gatewayAdded) return;
  const res = await run('ip', ['addr', 'del', gatewayCidr, 'dev', bridge]);
  // Gone already (address or bridge): nothing left to undo.
  if (res.code !== 0 && !/Cannot assign requested address|Cannot find device|does not exist/.test(res.stderr)) {
    throw new RuntimeError('ERR_NET_SETUP', `remove gateway ${gatewayCidr} from bridge ${bridge}: "ip addr del" failed: ${oneLine(res.stderr)}`);
  }
}

/** Creates the pair: `hostIf` on the bridge and up, the peer as `ifname` inside `netns`. */
export async function createVeth(hostIf: string, ifname: string, netns: string, bridge: string, mtu: number): Promise<void> {
  await ipBatch(`veth ${hostIf}`, [
    `link add name ${hostIf} mtu ${mtu} type veth peer name ${ifname} mtu ${mtu} netns ${netns}`,
    `link set dev ${hostIf} master ${bridge}`,
    `link set dev ${hostIf} up`,
  ]);
}
