// IPv4 subnet arithmetic and address choice for the network hooks. Pure: the
// state files and the lock live in store.ts and lock.ts, so everything here
// can be unit-tested without root or a kernel.
import { RuntimeError } from '../../runtime/errors.ts';

export interface Subnet {
  /** Network address as an unsigned 32-bit integer. */
  base: number;
  prefix: number;
}

/** 10.88.0.2 -> 0x0a580002; null when `text` is not a dotted quad. */
export function parseIPv4(text: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] ?? '';
    // Leading zeros are ambiguous (inet_aton reads them as octal): refuse them.
    if (part.length > 1 && part.startsWith('0')) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    n = n * 256 + octet;
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "A.B.C.D/len" into address and prefix; `what` names the option in errors. */
export function parseAddressWithPrefix(text: string, what: string): { address: number; prefix: number } {
  const slash = text.indexOf('/');
  const address = parseIPv4(slash < 0 ? text : text.slice(0, slash));
  const prefixText = slash < 0 ? '' : text.slice(slash + 1);
  const prefix = /^\d{1,2}$/.test(prefixText) ? Number(prefixText) : -1;
  if (address === null || prefix < 0 || prefix > 32) {
    throw new RuntimeError('ERR_NET_OPTION', `network option ${what}: "${text}" is not an ipv4 address with a prefix length (A.B.C.D/len)`);
  }
  return { address, prefix };
}

/** Parses a subnet in CIDR form; host bits must be zero and there must be room for a gateway and a container. */
export function parseSubnet(text: string, what = 'subnet'): Subnet {
  const { address, prefix } = parseAddressWithPrefix(text, what);
  const base = (address & maskOf(prefix)) >>> 0;
  if (base !== address) {
    throw new RuntimeError('ERR_NET_OPTION', `network option ${what}: "${text}" has host bits set, the subnet is ${formatSubnet({ base, prefix })}`);
  }
  if (prefix > 30) {
    throw new RuntimeError('ERR_NET_OPTION', `network option ${what}: "${text}" is too small, it needs a prefix of /30 or shorter (room for a gateway and a container)`);
  }
  return { base, prefix };
}

export function formatSubnet(s: Subnet): string {
  return `${formatIPv4(s.base)}/${s.prefix}`;
}

/** The subnet an address belongs to, e.g. 10.88.0.7/24 -> 10.88.0.0/24. */
export function subnetOf(address: number, prefix: number): Subnet {
  return { base: (address & maskOf(prefix)) >>> 0, prefix };
}

export function contains(s: Subnet, address: number): boolean {
  return ((address & maskOf(s.prefix)) >>> 0) === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  return ((a.base & maskOf(prefix)) >>> 0) === ((b.base & maskOf(prefix)) >>> 0);
}

/** First and last usable host address: the network and broadcast addresses are excluded. */
export function hostRange(s: Subnet): { first: number; last: number } {
  const size = 2 ** (32 - s.prefix);
  return { first: s.base + 1, last: s.base + size - 2 };
}

export function isHostAddress(s: Subnet, address: number): boolean {
  const { first, last } = hostRange(s);
  return address >= first && address <= last;
}

/** The conventional gateway: the first host address. */
export function defaultGateway(s: Subnet): number {
  return hostRange(s).first;
}

/**
 * The lowest host address of `s` that is neither the gateway nor in `used`.
 * Lowest-free keeps addresses predictable for users; `network` names the
 * network in the exhaustion error.
 */
export function nextFreeAddress(s: Subnet, gateway: number, used: Iterable<number>, network: string): number {
  const taken = new Set(used);
  taken.add(gateway);
  const { first, last } = hostRange(s);
  for (let a = first; a <= last; a++) {
    if (!taken.has(a)) return a;
  }
  throw new RuntimeError(
    'ERR_NET_EXHAUSTED',
    `network "${network}": subnet ${formatSubnet(s)} has no free address (${last - first + 1} host addresses, gateway included, all in use)`,
    { hint: 'stop a container on this network or use a larger subnet' },
  );
}
