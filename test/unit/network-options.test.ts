// Network hook options (spec strings and hook argv) and the config edit that
// `tsrun spec --net` makes: one new network namespace, the up/down hooks,
// other hooks kept.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RuntimeError } from '../../src/runtime/errors.ts';
import type { Config } from '../../src/runtime/oci-types.ts';
import { addNetworkToConfig } from '../../src/hooks/network/config-edit.ts';
import { parseNetworkArgs, parseNetworkSpec } from '../../src/hooks/network/options.ts';
import { cpuMask, parseCpuList } from '../../src/hooks/network/rps.ts';

function throwsNaming(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, RuntimeError);
    const e = err as RuntimeError;
    assert.ok(pattern.test(e.message), `message ${JSON.stringify(e.message)} should match ${pattern}`);
    assert.is(e.message[0], e.message[0]?.toLowerCase(), 'messages start lowercase');
    assert.not.ok(e.message.endsWith('.'), 'no trailing period');
    return;
  }
  assert.unreachable(`expected a RuntimeError matching ${pattern}`);
}

test('the empty spec is a veth container on the default network', () => {
  const o = parseNetworkSpec('');
  assert.is(o.mode, 'veth');
  assert.is(o.name, 'tsrun0');
  assert.is(o.stateDir, '/run/tsrun-net');
  assert.is(o.nat, false);
  assert.is(o.subnet, undefined);
  assert.is(o.rps, undefined);
  assert.is(o.mtu, undefined);
});

test('a full veth spec', () => {
  const o = parseNetworkSpec('veth, subnet=10.89.0.0/16,nat,rps,mtu=1400,bridge=br-x,name=web,gateway=10.89.0.254,state-dir=/tmp/n/');
  assert.equal(o, {
    mode: 'veth', name: 'web', stateDir: '/tmp/n', subnet: '10.89.0.0/16', gateway: '10.89.0.254',
    bridge: 'br-x', nat: true, rps: 'all', mtu: 1400,
  });
});

test('the bridge names a veth network when name= is not given', () => {
  assert.is(parseNetworkSpec('bridge=br7').name, 'br7');
});

test('rps with a mask, in the kernel format', () => {
  assert.is(parseNetworkSpec('rps=3').rps, '3');
  assert.is(parseNetworkSpec('rps=FF,ffffffff').rps, 'ff,ffffffff');
  assert.is(parseNetworkSpec('rps=1,00000000,nat').rps, '1,00000000');
  assert.equal(parseNetworkArgs(['rps=ff,ffffffff', 'nat']), parseNetworkSpec('rps=ff,ffffffff,nat'));
  throwsNaming(() => parseNetworkSpec('rps=0x3'), /option rps: "0x3" is not a hex cpu mask/);
});

test('rps=all becomes a kernel cpumask of the online cpus', () => {
  assert.equal(parseCpuList('0-1'), [0, 1]);
  assert.equal(parseCpuList('0-2,5,7-8\n'), [0, 1, 2, 5, 7, 8]);
  assert.is(cpuMask([0, 1]), '3');
  assert.is(cpuMask([0]), '1');
  assert.is(cpuMask([4]), '10');
  assert.is(cpuMask(parseCpuList('0-39')), 'ff,ffffffff');
  assert.is(cpuMask([32]), '1,00000000');
});

test('ip= alone gives the subnet; with subnet= it must lie inside', () => {
  const o = parseNetworkSpec('ip=10.90.1.7/24');
  assert.is(o.ip, '10.90.1.7');
  assert.is(o.subnet, '10.90.1.0/24');
  assert.is(parseNetworkSpec('ip=10.88.0.9').ip, '10.88.0.9');
  assert.is(parseNetworkSpec('ip=10.88.0.9').subnet, undefined);
  throwsNaming(() => parseNetworkSpec('subnet=10.1.0.0/24,ip=10.2.0.5/24'), /option ip: "10.2.0.5\/24" is not in subnet 10.1.0.0\/24/);
  throwsNaming(() => parseNetworkSpec('ip=10.2.0.500'), /option ip: "10.2.0.500" is not an ipv4 address/);
});

test('macvlan and ipvlan need a parent; ipvlan modes', () => {
  const m = parseNetworkSpec('macvlan,parent=ens3,subnet=192.168.5.0/24,ip=192.168.5.40');
  assert.is(m.mode, 'macvlan');
  assert.is(m.parent, 'ens3');
  assert.is(m.name, 'macvlan-ens3');
  assert.is(parseNetworkSpec('ipvlan,parent=ens3').ipvlanMode, undefined);
  assert.is(parseNetworkSpec('ipvlan,parent=ens3,ipvlan-mode=l3').ipvlanMode, 'l3');
  assert.is(parseNetworkSpec('mode=ipvlan,parent=ens3').mode, 'ipvlan');
  throwsNaming(() => parseNetworkSpec('macvlan'), /option parent: macvlan needs parent=IFACE/);
  throwsNaming(() => parseNetworkSpec('ipvlan,parent=e,ipvlan-mode=l4'), /option ipvlan-mode: "l4" is not l2 or l3/);
});

test('options that do not belong to the mode are refused by name', () => {
  throwsNaming(() => parseNetworkSpec('macvlan,parent=e0,nat'), /option nat: not available in macvlan mode/);
  throwsNaming(() => parseNetworkSpec('macvlan,parent=e0,rps'), /option rps: not available in macvlan mode/);
  throwsNaming(() => parseNetworkSpec('ipvlan,parent=e0,bridge=b'), /option bridge: not available in ipvlan mode/);
  throwsNaming(() => parseNetworkSpec('veth,parent=e0'), /option parent: not available in veth mode/);
  throwsNaming(() => parseNetworkSpec('veth,ipvlan-mode=l2'), /option ipvlan-mode: not available in veth mode/);
});

test('bad keys and values name the option', () => {
  throwsNaming(() => parseNetworkSpec('veth,colour=red'), /unknown network option "colour"/);
  throwsNaming(() => parseNetworkSpec('subnet=10.88.0.1/24'), /option subnet: "10.88.0.1\/24" has host bits set, the subnet is 10.88.0.0\/24/);
  throwsNaming(() => parseNetworkSpec('subnet=10.88.0.0/31'), /option subnet: "10.88.0.0\/31" is too small/);
  throwsNaming(() => parseNetworkSpec('subnet=10.88.0.0'), /option subnet: "10.88.0.0" is not an ipv4 address with a prefix length/);
  throwsNaming(() => parseNetworkSpec('mtu=67'), /option mtu: "67" is not a number from 68 to 65535/);
  throwsNaming(() => parseNetworkSpec('mtu=9000x'), /option mtu/);
  throwsNaming(() => parseNetworkSpec('bridge=a-very-long-bridge-name'), /option bridge: "a-very-long-bridge-name" is not a valid interface name/);
  throwsNaming(() => parseNetworkSpec('state-dir=run/x'), /option state-dir: "run\/x" is not an absolute path/);
  throwsNaming(() => parseNetworkSpec('nat=yes'), /option nat: takes no value/);
  throwsNaming(() => parseNetworkSpec('subnet='), /option subnet: needs a value/);
  throwsNaming(() => parseNetworkSpec('nat,nat'), /option nat: given twice/);
  throwsNaming(() => parseNetworkSpec('gateway=1.2.3'), /option gateway: "1.2.3" is not an ipv4 address/);
  throwsNaming(() => parseNetworkSpec('name=-x'), /option name/);
  throwsNaming(() => parseNetworkSpec('mode=vxlan'), /option mode: "vxlan" is not one of veth, macvlan, ipvlan/);
});

test('hook argv: separate arguments, comma lists and --key=value all parse alike', () => {
  const a = parseNetworkArgs(['veth', 'subnet=10.5.0.0/24', 'nat']);
  const b = parseNetworkArgs(['veth,subnet=10.5.0.0/24,nat']);
  const c = parseNetworkArgs(['--subnet=10.5.0.0/24', '--nat']);
  assert.equal(a, b);
  assert.equal(a, c);
  assert.equal(parseNetworkArgs([]), parseNetworkSpec(''));
});

const HOOK = ['/opt/tsrun/bin/tsrun', 'hook', 'network'];

function baseConfig(): Config {
  return {
    ociVersion: '1.2.0',
    root: { path: 'rootfs' },
    process: { user: { uid: 0, gid: 0 }, args: ['sh'], cwd: '/' },
    hooks: {
      createRuntime: [{ path: '/usr/bin/other', args: ['other', 'x'] }],
      poststop: [{ path: '/usr/bin/cleanup' }],
      prestart: [{ path: '/usr/bin/pre' }],
    },
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }] },
  };
}

test('addNetworkToConfig adds a network namespace and the two hooks, keeping the others', () => {
  const before = baseConfig();
  const snapshot = structuredClone(before);
  const out = addNetworkToConfig(before, 'veth,nat,subnet=10.60.0.0/24', HOOK);
  assert.equal(before, snapshot, 'the input config is not modified');
  assert.equal(out.linux?.namespaces, [{ type: 'pid' }, { type: 'mount' }, { type: 'network' }]);
  assert.equal(out.hooks?.createRuntime, [
    { path: '/usr/bin/other', args: ['other', 'x'] },
    { path: HOOK[0], args: [...HOOK, 'up', 'veth', 'nat', 'subnet=10.60.0.0/24'] },
  ]);
  assert.equal(out.hooks?.poststop, [
    { path: '/usr/bin/cleanup' },
    { path: HOOK[0], args: [...HOOK, 'down', 'veth', 'nat', 'subnet=10.60.0.0/24'] },
  ]);
  assert.equal(out.hooks?.prestart, [{ path: '/usr/bin/pre' }]);
});

test('addNetworkToConfig twice: one network namespace, the newer hooks replace ours', () => {
  const once = addNetworkToConfig(baseConfig(), 'veth', HOOK);
  const twice = addNetworkToConfig(once, 'veth,nat', HOOK);
  assert.is(twice.linux?.namespaces?.filter((n) => n.type === 'network').length, 1);
  assert.is(twice.hooks?.createRuntime?.length, 2);
  assert.is(twice.hooks?.poststop?.length, 2);
  assert.equal(twice.hooks?.createRuntime?.[1]?.args, [...HOOK, 'up', 'veth', 'nat']);
});

test('addNetworkToConfig keeps an existing new network namespace and works without hooks or linux', () => {
  const withNet: Config = { ociVersion: '1.2.0', root: { path: 'r' }, linux: { namespaces: [{ type: 'network' }] } };
  assert.equal(addNetworkToConfig(withNet, '', HOOK).linux?.namespaces, [{ type: 'network' }]);
  const bare: Config = { ociVersion: '1.2.0', root: { path: 'r' } };
  const out = addNetworkToConfig(bare, 'macvlan,parent=ens3', HOOK);
  assert.equal(out.linux?.namespaces, [{ type: 'network' }]);
  assert.equal(out.hooks?.createRuntime, [{ path: HOOK[0], args: [...HOOK, 'up', 'macvlan', 'parent=ens3'] }]);
  const rps = addNetworkToConfig(bare, 'rps=ff,ffffffff,nat', HOOK);
  assert.equal(rps.hooks?.createRuntime?.[0]?.args, [...HOOK, 'up', 'rps=ff,ffffffff', 'nat']);
});

test('addNetworkToConfig refuses a joined netns, a bad spec and a relative hook path', () => {
  const joined: Config = { ociVersion: '1.2.0', root: { path: 'r' }, linux: { namespaces: [{ type: 'network', path: '/run/netns/x' }] } };
  throwsNaming(() => addNetworkToConfig(joined, 'veth', HOOK), /joins the network namespace \/run\/netns\/x/);
  throwsNaming(() => addNetworkToConfig(baseConfig(), 'veth,bogus', HOOK), /unknown network option "bogus"/);
  throwsNaming(() => addNetworkToConfig(baseConfig(), 'veth', ['tsrun', 'hook', 'network']), /needs an absolute program path/);
});

test.run();
