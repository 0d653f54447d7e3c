// The address allocator: subnet math, next free address (gateway excluded,
// exhaustion), how a container's options meet a recorded network, and the
// state dir lock (mutual exclusion across processes, stale owners).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RuntimeError } from '../../src/runtime/errors.ts';
import {
  contains, defaultGateway, formatIPv4, hostRange, nextFreeAddress, overlaps, parseIPv4, parseSubnet, subnetOf,
} from '../../src/hooks/network/allocator.ts';
import { chooseAddress, resolveNetwork } from '../../src/hooks/network/hook.ts';
import { acquire, release, withLock } from '../../src/hooks/network/lock.ts';
import { parseNetworkSpec } from '../../src/hooks/network/options.ts';
import type { NetworkState } from '../../src/hooks/network/store.ts';

function ip(s: string): number {
  const n = parseIPv4(s);
  if (n === null) throw new Error(`bad test address ${s}`);
  return n;
}

function rejects(fn: () => unknown, pattern: RegExp): RuntimeError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, RuntimeError);
    assert.match((err as RuntimeError).message, pattern);
    return err as RuntimeError;
  }
  assert.unreachable(`expected an error matching ${pattern}`);
  throw new Error('unreachable');
}

test('ipv4 parsing and formatting', () => {
  assert.is(parseIPv4('10.88.0.2'), 0x0a580002);
  assert.is(parseIPv4('255.255.255.255'), 0xffffffff);
  assert.is(formatIPv4(0xc0a80101), '192.168.1.1');
  assert.is(formatIPv4(0xffffffff), '255.255.255.255');
  for (const bad of ['10.88.0', '10.88.0.256', '10.088.0.1', 'a.b.c.d', '1.2.3.4 ', '']) assert.is(parseIPv4(bad), null, bad);
});

test('subnet math', () => {
  const s = parseSubnet('10.88.0.0/24');
  assert.equal(hostRange(s), { first: ip('10.88.0.1'), last: ip('10.88.0.254') });
  assert.is(defaultGateway(s), ip('10.88.0.1'));
  assert.ok(contains(s, ip('10.88.0.200')));
  assert.not.ok(contains(s, ip('10.88.1.1')));
  assert.equal(subnetOf(ip('172.16.5.77'), 20), parseSubnet('172.16.0.0/20'));
  assert.equal(hostRange(parseSubnet('10.0.0.0/30')), { first: ip('10.0.0.1'), last: ip('10.0.0.2') });
  assert.equal(hostRange(parseSubnet('0.0.0.0/0')), { first: 1, last: 0xfffffffe });
  assert.ok(overlaps(parseSubnet('10.88.0.0/16'), parseSubnet('10.88.7.0/24')));
  assert.ok(overlaps(parseSubnet('10.88.7.0/24'), parseSubnet('10.88.0.0/16')));
  assert.not.ok(overlaps(parseSubnet('10.88.0.0/24'), parseSubnet('10.88.1.0/24')));
  rejects(() => parseSubnet('10.88.0.1/24'), /has host bits set, the subnet is 10.88.0.0\/24/);
  rejects(() => parseSubnet('10.88.0.0/33'), /not an ipv4 address with a prefix length/);
});

test('next free address: lowest first, gateway and used ones skipped', () => {
  const s = parseSubnet('10.88.0.0/24');
  const gw = ip('10.88.0.1');
  assert.is(formatIPv4(nextFreeAddress(s, gw, [], 'n')), '10.88.0.2');
  assert.is(formatIPv4(nextFreeAddress(s, gw, [ip('10.88.0.2'), ip('10.88.0.3')], 'n')), '10.88.0.4');
  assert.is(formatIPv4(nextFreeAddress(s, gw, [ip('10.88.0.3')], 'n')), '10.88.0.2', 'a released address is reused');
  // A gateway that is not the first host address is still never handed out.
  assert.is(formatIPv4(nextFreeAddress(s, ip('10.88.0.2'), [], 'n')), '10.88.0.1');
});

test('exhaustion is an error naming the network and subnet', () => {
  const s = parseSubnet('10.9.0.0/30');
  const gw = ip('10.9.0.1');
  assert.is(formatIPv4(nextFreeAddress(s, gw, [], 'small')), '10.9.0.2');
  const e = rejects(() => nextFreeAddress(s, gw, [ip('10.9.0.2')], 'small'), /network "small": subnet 10.9.0.0\/30 has no free address/);
  assert.is(e.code, 'ERR_NET_EXHAUSTED');
  assert.ok(e.hint);
});

function network(over: Partial<NetworkState> = {}): NetworkState {
  return { name: 'n1', mode: 'veth', subnet: '10.70.0.0/24', gateway: '10.70.0.1', bridge: 'n1', allocations: {}, natUsers: [], ...over };
}

test('resolveNetwork: a new network gets defaults, bridge named after it', () => {
  const n = resolveNetwork(parseNetworkSpec('name=web'), null, []);
  assert.equal(n, { name: 'web', mode: 'veth', subnet: '10.88.0.0/24', gateway: '10.88.0.1', bridge: 'web', allocations: {}, natUsers: [] });
  const long = resolveNetwork(parseNetworkSpec('name=a-long-network-name,subnet=10.1.0.0/24'), null, []);
  assert.match(long.bridge ?? '', /^tsrb[0-9a-f]{8}$/);
  const mv = resolveNetwork(parseNetworkSpec('ipvlan,parent=p0,subnet=10.2.0.0/24,gateway=10.2.0.254'), null, []);
  assert.equal(mv, { name: 'ipvlan-p0', mode: 'ipvlan', subnet: '10.2.0.0/24', gateway: '10.2.0.254', parent: 'p0', ipvlanMode: 'l2', allocations: {}, natUsers: [] });
  rejects(() => resolveNetwork(parseNetworkSpec('subnet=10.3.0.0/24,gateway=10.4.0.1'), null, []), /option gateway: 10.4.0.1 is not a host address of subnet 10.3.0.0\/24/);
});

test('resolveNetwork: a recorded network must agree, and new ones must not overlap', () => {
  const rec = network();
  assert.equal(resolveNetwork(parseNetworkSpec('name=n1'), rec, [rec]), rec);
  assert.equal(resolveNetwork(parseNetworkSpec('name=n1,subnet=10.70.0.0/24'), rec, [rec]), rec);
  rejects(() => resolveNetwork(parseNetworkSpec('name=n1,subnet=10.71.0.0/24'), rec, [rec]), /network "n1" has subnet 10.70.0.0\/24, not 10.71.0.0\/24/);
  rejects(() => resolveNetwork(parseNetworkSpec('name=n1,macvlan,parent=x'), rec, [rec]), /network "n1" has mode veth, not macvlan/);
  rejects(() => resolveNetwork(parseNetworkSpec('name=n2,subnet=10.70.0.128/25'), null, [rec]), /subnet 10.70.0.128\/25 overlaps subnet 10.70.0.0\/24 of network "n1"/);
  rejects(() => resolveNetwork(parseNetworkSpec('name=n2,subnet=10.72.0.0/24,bridge=n1'), null, [rec]), /bridge n1 belongs to network "n1"/);
});

test('chooseAddress: next free, or the fixed ip= when it is free and in the subnet', () => {
  const n = network({ allocations: { a: '10.70.0.2', b: '10.70.0.4' } });
  assert.is(formatIPv4(chooseAddress(n, 'c', undefined)), '10.70.0.3');
  assert.is(formatIPv4(chooseAddress(n, 'a', undefined)), '10.70.0.2', 'its own allocation does not count against it');
  assert.is(formatIPv4(chooseAddress(n, 'c', '10.70.0.50')), '10.70.0.50');
  rejects(() => chooseAddress(n, 'c', '10.70.0.4'), /ip: 10.70.0.4 is in use by container "b"/);
  rejects(() => chooseAddress(n, 'c', '10.70.0.1'), /ip: 10.70.0.1 is the gateway of network "n1"/);
  rejects(() => chooseAddress(n, 'c', '10.70.0.255'), /ip: 10.70.0.255 is not a host address of subnet 10.70.0.0\/24/);
  rejects(() => chooseAddress(n, 'c', '10.99.0.5'), /ip: 10.99.0.5 is not a host address/);
});

const lockModule = fileURLToPath(new URL('../../src/hooks/network/lock.ts', import.meta.url));

// Each worker increments a counter file N times under the lock, with a gap
// between read and write that a missing lock would turn into lost updates.
const WORKER = `
import { withLock } from ${JSON.stringify(lockModule)};
import { readFileSync, writeFileSync } from 'node:fs';
const [dir, n] = process.argv.slice(1);
for (let i = 0; i < Number(n); i++) {
  await withLock(dir, async () => {
    const v = Number(readFileSync(dir + '/counter', 'utf8'));
    await new Promise((r) => setTimeout(r, 1));
    writeFileSync(dir + '/counter', String(v + 1));
  });
}
`;

function runWorker(dir: string, n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', WORKER, dir, String(n)], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

test('the lock excludes concurrent processes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-lock-'));
  try {
    writeFileSync(join(dir, 'counter'), '0');
    const codes = await Promise.all([1, 2, 3, 4].map(() => runWorker(dir, 15)));
    assert.equal(codes, [0, 0, 0, 0]);
    assert.is(readFileSync(join(dir, 'counter'), 'utf8'), '60');
    assert.equal(readdirSync(dir).sort(), ['counter'], 'no lock or temp files left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lock left by a dead process, or garbage, is broken', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-lock-'));
  try {
    // pid_max is at most 2^22: this pid cannot exist.
    writeFileSync(join(dir, 'lock'), '4194305 12345 00c0ffee\n');
    await withLock(dir, async () => {
      assert.match(readFileSync(join(dir, 'lock'), 'utf8'), new RegExp(`^${process.pid} `));
    });
    assert.ok(existsSync(join(dir, 'lock.broken.00c0ffee')), 'breaking left its marker for slow waiters');
    assert.not.ok(existsSync(join(dir, 'lock')));
    writeFileSync(join(dir, 'lock'), 'not a lock\n');
    await withLock(dir, async () => {});
    assert.not.ok(existsSync(join(dir, 'lock')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lock held by a live process times out with a message naming it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-lock-'));
  try {
    const token = await acquire(dir);
    try {
      await acquire(dir, 150);
      assert.unreachable('second acquire should time out');
    } catch (err) {
      assert.instance(err, RuntimeError);
      assert.match((err as RuntimeError).message, new RegExp(`lock ${dir}/lock: still held by pid ${process.pid} after 150 ms`));
    } finally {
      release(dir, token);
    }
    assert.not.ok(existsSync(join(dir, 'lock')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
