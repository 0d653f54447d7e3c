// The options of the network hooks, as one spec string ("veth,subnet=10.88.0.0/24,nat")
// for `tsrun spec --net` / `tsrun network add`, or as the hook's argv
// ("up veth subnet=10.88.0.0/24 nat"). Both forms share one parser so that a
// spec that parses at config time also parses when the hook runs.
import { RuntimeError } from '../../runtime/errors.ts';
import { formatIPv4, formatSubnet, parseAddressWithPrefix, parseIPv4, parseSubnet, subnetOf } from './allocator.ts';

export type NetworkMode = 'veth' | 'macvlan' | 'ipvlan';
export type IpvlanMode = 'l2' | 'l3';

export interface NetworkOptions {
  mode: NetworkMode;
  /** Allocator scope: containers with the same name share subnet, bridge and NAT rule. */
  name: string;
  stateDir: string;
  /** Normalized CIDR; undefined: the network's recorded subnet, else DEFAULT_SUBNET. */
  subnet?: string;
  /** A fixed address ("A.B.C.D") instead of the next free one. */
  ip?: string;
  gateway?: string;
  bridge?: string;
  parent?: string;
  /** undefined: the network's recorded mode, else l2. */
  ipvlanMode?: IpvlanMode;
  nat: boolean;
  /** "all" or a hex CPU mask for rps_cpus. */
  rps?: string;
  mtu?: number;
}

export const DEFAULT_STATE_DIR = '/run/tsrun-net';
export const DEFAULT_SUBNET = '10.88.0.0/24';
export const DEFAULT_VETH_NETWORK = 'tsrun0';
const MODES: readonly string[] = ['veth', 'macvlan', 'ipvlan'];
const KEYS = ['mode', 'name', 'subnet', 'ip', 'gateway', 'bridge', 'parent', 'ipvlan-mode', 'nat', 'rps', 'mtu', 'state-dir'];

/** Linux interface names: 1-15 bytes, letters, digits, '_', '.', '-', not "." or "..". */
export function isLinkName(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,15}$/.test(name) && name !== '.' && name !== '..';
}

function bad(key: string, message: string): RuntimeError {
  return new RuntimeError('ERR_NET_OPTION', `network option ${key}: ${message}`);
}

/**
 * The items of a spec: comma-separated, blanks dropped. A cpu mask for more
 * than 32 CPUs has commas of its own (rps=ff,ffffffff): a bare hex group
 * right after rps= belongs to it. No option name is a hex number, so this
 * cannot swallow an option.
 */
export function specItems(spec: string): string[] {
  const items: string[] = [];
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    const last = items.length - 1;
    if (last >= 0 && /^[0-9a-fA-F]{1,8}$/.test(item) && /^(--)?rps=/.test(items[last] ?? '')) items[last] += `,${item}`;
    else if (item !== '') items.push(item);
  }
  return items;
}

export function parseNetworkSpec(spec: string): NetworkOptions {
  return parseNetworkItems(specItems(spec));
}

/** The hook's argv after up|down: each argument may itself hold a comma-separated spec; a leading "--" is accepted. */
export function parseNetworkArgs(args: string[]): NetworkOptions {
  return parseNetworkItems(args.flatMap((a) => specItems(a)).map((a) => a.replace(/^--/, '')));
}

function parseNetworkItems(items: string[]): NetworkOptions {
  const given = new Map<string, string | undefined>();
  for (const item of items) {
    const eq = item.indexOf('=');
    let key = eq < 0 ? item : item.slice(0, eq);
    let value = eq < 0 ? undefined : item.slice(eq + 1);
    if (MODES.includes(key) && value === undefined) {
      value = key;
      key = 'mode';
    }
    if (!KEYS.includes(key)) {
      throw new RuntimeError('ERR_NET_OPTION', `unknown network option "${key}"`, {
        hint: `known: veth, macvlan, ipvlan, ${KEYS.filter((k) => k !== 'mode').join(', ')}`,
      });
    }
    if (given.has(key)) throw bad(key, `given twice ("${item}")`);
    given.set(key, value);
  }
  const str = (key: string): string | undefined => {
    if (!given.has(key)) return undefined;
    const v = given.get(key);
    if (v === undefined || v === '') throw bad(key, 'needs a value');
    return v;
  };

  const modeText = str('mode') ?? 'veth';
  if (!MODES.includes(modeText)) throw bad('mode', `"${modeText}" is not one of veth, macvlan, ipvlan`);
  const mode = modeText as NetworkMode;
  const onlyFor = (key: string, modes: NetworkMode[]) => {
    if (given.has(key) && !modes.includes(mode)) throw bad(key, `not available in ${mode} mode (only ${modes.join(', ')})`);
  };
  onlyFor('bridge', ['veth']);
  onlyFor('nat', ['veth']);
  onlyFor('rps', ['veth']);
  onlyFor('parent', ['macvlan', 'ipvlan']);
  onlyFor('ipvlan-mode', ['ipvlan']);

  const opts: NetworkOptions = { mode, name: '', stateDir: DEFAULT_STATE_DIR, nat: false };

  const stateDir = str('state-dir');
  if (stateDir !== undefined) {
    if (!stateDir.startsWith('/')) throw bad('state-dir', `"${stateDir}" is not an absolute path`);
    opts.stateDir = stateDir.replace(/(.)\/+$/, '$1');
  }

  const subnet = str('subnet');
  if (subnet !== undefined) opts.subnet = formatSubnet(parseSubnet(subnet));

  const ip = str('ip');
  if (ip !== undefined) {
    const a = ip.includes('/') ? parseAddressWithPrefix(ip, 'ip') : { address: parseIPv4(ip), prefix: undefined };
    if (a.address === null) throw bad('ip', `"${ip}" is not an ipv4 address`);
    opts.ip = formatIPv4(a.address);
    if (a.prefix !== undefined) {
      const own = formatSubnet(subnetOf(a.address, a.prefix));
      if (opts.subnet !== undefined && opts.subnet !== own) throw bad('ip', `"${ip}" is not in subnet ${opts.subnet}`);
      // ip=A.B.C.D/len alone says which subnet the container is on.
      opts.subnet = formatSubnet(parseSubnet(own, 'ip'));
    }
  }

  const gateway = str('gateway');
  if (gateway !== undefined) {
    const g = parseIPv4(gateway);
    if (g === null) throw bad('gateway', `"${gateway}" is not an ipv4 address`);
    opts.gateway = formatIPv4(g);
  }

  for (const key of ['bridge', 'parent'] as const) {
    const v = str(key);
    if (v !== undefined && !isLinkName(v)) throw bad(key, `"${v}" is not a valid interface name (1-15 characters)`);
    if (v !== undefined) opts[key] = v;
  }
  if ((mode === 'macvlan' || mode === 'ipvlan') && opts.parent === undefined) {
    throw bad('parent', `${mode} needs parent=IFACE, the host interface to attach to`);
  }

  const ipvlanMode = str('ipvlan-mode');
  if (ipvlanMode !== undefined) {
    if (ipvlanMode !== 'l2' && ipvlanMode !== 'l3') throw bad('ipvlan-mode', `"${ipvlanMode}" is not l2 or l3`);
    opts.ipvlanMode = ipvlanMode;
  }

  if (given.has('nat')) {
    if (given.get('nat') !== undefined) throw bad('nat', 'takes no value');
    opts.nat = true;
  }

  if (given.has('rps')) {
    const v = given.get('rps');
    if (v === undefined) opts.rps = 'all';
    else if (/^[0-9a-fA-F]{1,8}(,[0-9a-fA-F]{1,8})*$/.test(v)) opts.rps = v.toLowerCase();
    else throw bad('rps', `"${v}" is not a hex cpu mask (e.g. rps=3 or rps=ff,ffffffff)`);
  }

  const mtu = str('mtu');
  if (mtu !== undefined) {
    const n = /^\d{1,5}$/.test(mtu) ? Number(mtu) : NaN;
    if (!(n >= 68 && n <= 65535)) throw bad('mtu', `"${mtu}" is not a number from 68 to 65535`);
    opts.mtu = n;
  }

  const name = str('name');
  if (name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) {
    throw bad('name', `"${name}" must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit`);
  }
  opts.name = name ?? defaultNetworkName(opts);
  return opts;
}

function defaultNetworkName(opts: NetworkOptions): string {
  if (opts.mode === 'veth') return opts.bridge ?? DEFAULT_VETH_NETWORK;
  return `${opts.mode}-${opts.parent ?? ''}`;
}
