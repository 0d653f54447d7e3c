// The network hooks' records under the state dir (default /run/tsrun-net):
//   networks/<name>.json   subnet, gateway, bridge, NAT rule, allocations (id -> address)
//   containers/<id>.json   what `up` made for one container, so that `down`
//                          can undo it after the container's process is gone
// Callers hold the state dir's lock (lock.ts). Writes go to a temp file and
// are renamed into place: a crash never leaves half a record.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError, fromSystemError } from '../../runtime/errors.ts';
import type { IpvlanMode, NetworkMode } from './options.ts';

export interface NetworkState {
  name: string;
  mode: NetworkMode;
  subnet: string;
  gateway: string;
  bridge?: string;
  /** We created the bridge, so we delete it with the last container. */
  bridgeCreated?: boolean;
  /** We put the gateway address on a bridge we did not create, so we take it off again. */
  gatewayAdded?: boolean;
  parent?: string;
  ipvlanMode?: IpvlanMode;
  /** The MASQUERADE rule is installed. */
  natRule?: boolean;
  /** Container id -> address. The number of entries is the network's refcount. */
  allocations: Record<string, string>;
  /** Containers that asked for nat: the rule stays while this is not empty. */
  natUsers: string[];
}

export interface ContainerRecord {
  id: string;
  network: string;
  mode: NetworkMode;
  address: string;
  prefix: number;
  /** Host end of the veth pair. */
  hostIf?: string;
  /** The container's process at `up`, to tell a live container from a stale record. */
  pid: number;
  pidStart?: number;
  nat: boolean;
}

/** Container ids become file names: runc's id charset passes as is, anything else is hashed. */
function fileName(key: string): string {
  if (/^[A-Za-z0-9_+.-]{1,200}$/.test(key) && key !== '.' && key !== '..') return `${key}.json`;
  return `sha256-${createHash('sha256').update(key).digest('hex')}.json`;
}

function readJson<T>(path: string): T | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromSystemError('ERR_NET_STATE', 'read', path, err);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new RuntimeError('ERR_NET_STATE', `network state file ${path} is not valid json`, {
      path,
      hint: 'remove it and clean up the links and iptables rules it described by hand',
    });
  }
}

function writeJson(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
    writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, path);
  } catch (err) {
    throw fromSystemError('ERR_NET_STATE', 'write', path, err);
  }
}

function remove(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromSystemError('ERR_NET_STATE', 'remove', path, err);
  }
}

const networkPath = (dir: string, name: string) => join(dir, 'networks', fileName(name));
const containerPath = (dir: string, id: string) => join(dir, 'containers', fileName(id));

export const readNetwork = (dir: string, name: string) => readJson<NetworkState>(networkPath(dir, name));
export const writeNetwork = (dir: string, net: NetworkState) => writeJson(networkPath(dir, net.name), net);
export const deleteNetwork = (dir: string, name: string) => remove(networkPath(dir, name));
export const readContainer = (dir: string, id: string) => readJson<ContainerRecord>(containerPath(dir, id));
export const writeContainer = (dir: string, rec: ContainerRecord) => writeJson(containerPath(dir, rec.id), rec);
export const deleteContainer = (dir: string, id: string) => remove(containerPath(dir, id));

export function listNetworks(dir: string): NetworkState[] {
  let names: string[];
  try {
    names = readdirSync(join(dir, 'networks'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fromSystemError('ERR_NET_STATE', 'list', join(dir, 'networks'), err);
  }
  return names
    .filter((n) => n.endsWith('.json'))
    .map((n) => readJson<NetworkState>(join(dir, 'networks', n)))
    .filter((n): n is NetworkState => n !== null);
}
