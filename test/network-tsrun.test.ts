// Container networking with tsrun itself: bundles from `tsrun spec --net` and
// `tsrun network add`, containers run by `tsrun run -d`, pings by `tsrun
// exec`. The file re-executes itself inside a network namespace that stands
// for the host (test/lib/netns.ts), so no real interface, route or iptables
// rule of the machine is touched. The hooks' state goes to a private
// state-dir, which must be empty again after the containers are deleted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../src/runtime/oci-types.ts';
import { allCpusMask } from '../src/hooks/network/rps.ts';
import { hostIfName } from '../src/hooks/network/veth.ts';
import { leftovers, sandbox, TSRUN, uniqueId } from './lib/tsrun.ts';
import { addresses, hostStandIn, inNetns, linkNames, must, natRules, NetnsHolders, probeIpvlan, sh } from './lib/netns.ts';

hostStandIn('network with tsrun', import.meta.url, ['iptables'], defineTests);

function defineTests(): void {
  const sb = sandbox();
  const stateDir = join(sb.dir, 'net-state');
  const holders = new NetnsHolders();
  const running = new Set<string>();
  const BRIDGES = ['ttv', 'ttn', 'ttc'];
  const ipvlan = probeIpvlan();
  const ipvlanName = 'ipvlan l2: a container reaches a peer on the same parent';
  if (ipvlan.missing) console.log(`SKIP ${ipvlanName}: the kernel has no ipvlan support (ip said: ${ipvlan.reason})`);
  else console.log('SKIP create with ipvlan fails clearly: this kernel has ipvlan');

  /** A bundle made by `tsrun spec --net` (or `tsrun spec` + `tsrun network add`), then pointed at busybox. */
  async function netBundle(spec: string, how: 'spec' | 'add' = 'spec'): Promise<string> {
    const bundle = join(sb.dir, `net-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(bundle);
    const full = `${spec},state-dir=${stateDir}`;
    const made = await sb.tsrun(how === 'spec' ? ['spec', '--bundle', bundle, '--net', full] : ['spec', '--bundle', bundle]);
    assert.is(made.exitCode, 0, made.stderr);
    if (how === 'add') {
      const added = await sb.tsrun(['network', 'add', '--bundle', bundle, full]);
      assert.is(added.exitCode, 0, added.stderr);
    }
    const file = join(bundle, 'config.json');
    const c = JSON.parse(readFileSync(file, 'utf8')) as Config;
    c.root = { path: sb.rootfs, readonly: true };
    c.process!.args = ['sleep', '300'];
    const caps = c.process!.capabilities!;
    for (const set of ['bounding', 'effective', 'permitted'] as const) caps[set] = [...(caps[set] ?? []), 'CAP_NET_RAW'];
    writeFileSync(file, JSON.stringify(c));
    return bundle;
  }

  async function start(bundle: string, name: string): Promise<string> {
    const id = uniqueId(name);
    running.add(id);
    const r = await sb.tsrun(['run', '-d', '--bundle', bundle, id]);
    assert.is(r.exitCode, 0, `run ${id}: ${r.stderr}`);
    return id;
  }

  async function remove(id: string): Promise<void> {
    const r = await sb.tsrun(['delete', '--force', id]);
    assert.is(r.exitCode, 0, `delete ${id}: ${r.stderr}`);
    running.delete(id);
  }

  const exec = (id: string, args: string[]) => sb.tsrun(['exec', id, ...args]);
  async function ping(id: string, address: string): Promise<void> {
    const r = await exec(id, ['ping', '-c1', '-W2', address]);
    assert.is(r.exitCode, 0, `${id} ping ${address}: ${r.stdout} ${r.stderr}`);
  }
  async function addressOf(id: string): Promise<string> {
    const r = await exec(id, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
    assert.is(r.exitCode, 0, r.stderr);
    return /inet (\S+)/.exec(r.stdout)?.[1] ?? '';
  }

  const records = (kind: string) => (existsSync(join(stateDir, kind)) ? readdirSync(join(stateDir, kind)) : []);

  async function assertNothingLeft(): Promise<void> {
    assert.equal((await linkNames()).filter((n) => n.startsWith('tsr') || BRIDGES.includes(n)), [], 'no veth host ends or bridges');
    assert.equal((await addresses()).filter((a) => !a.startsWith('lo ')), [], 'no addresses but lo\'s');
    assert.equal(await natRules(), [], 'no masquerade rules');
    assert.equal(records('networks'), [], 'no network records');
    assert.equal(records('containers'), [], 'no container records');
    assert.equal(leftovers(sb.root), [], 'no container state, cgroup, mount or process');
  }

  async function cleanup(links: string[] = []): Promise<void> {
    for (const id of running) await sb.tsrun(['delete', '--force', id]);
    running.clear();
    holders.stopAll();
    for (const l of links) await sh('ip', ['link', 'del', l]);
  }

  test('spec --net and network add write the network hooks and a network namespace', async () => {
    try {
      const spec = 'veth,name=ttv,subnet=10.81.0.0/24';
      const a = JSON.parse(readFileSync(join(await netBundle(spec, 'spec'), 'config.json'), 'utf8')) as Config;
      const b = JSON.parse(readFileSync(join(await netBundle(spec, 'add'), 'config.json'), 'utf8')) as Config;
      const opts = ['veth', 'name=ttv', 'subnet=10.81.0.0/24', `state-dir=${stateDir}`];
      for (const c of [a, b]) {
        assert.equal(c.hooks?.createRuntime, [{ path: TSRUN, args: [TSRUN, 'hook', 'network', 'up', ...opts] }]);
        assert.equal(c.hooks?.poststop, [{ path: TSRUN, args: [TSRUN, 'hook', 'network', 'down', ...opts] }]);
        assert.is(c.linux?.namespaces?.filter((n) => n.type === 'network').length, 1);
      }
      // network add twice: still one pair of hooks, the new options win.
      const bundle = await netBundle(spec, 'add');
      assert.is((await sb.tsrun(['network', 'add', '--bundle', bundle, 'veth,name=ttv,nat'])).exitCode, 0);
      const again = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as Config;
      assert.equal(again.hooks?.createRuntime?.map((h) => h.args?.slice(3)), [['up', 'veth', 'name=ttv', 'nat']]);
      assert.is(again.hooks?.poststop?.length, 1);
      const bad = await sb.tsrun(['network', 'add', '--bundle', bundle, 'veth,mtu=9000x']);
      assert.is(bad.exitCode, 1);
      assert.match(bad.stderr, 'network option mtu: "9000x" is not a number from 68 to 65535');
    } finally {
      await cleanup();
    }
  });

  test('veth: containers reach the gateway and each other over the bridge; rps written; all gone after delete', async () => {
    try {
      const spec = 'veth,name=ttv,subnet=10.81.0.0/24';
      const a = await start(await netBundle(`${spec},rps`, 'spec'), 'va');
      const b = await start(await netBundle(`${spec},rps=1`, 'add'), 'vb');
      assert.is(await addressOf(a), '10.81.0.2/24');
      assert.is(await addressOf(b), '10.81.0.3/24');
      const route = await exec(a, ['ip', 'route']);
      assert.match(route.stdout, /default via 10\.81\.0\.1 dev eth0/);
      await ping(a, '10.81.0.1');
      await ping(a, '10.81.0.3');
      await ping(b, '10.81.0.2');
      assert.ok((await addresses()).includes('ttv 10.81.0.1/24'), 'the bridge holds the gateway');
      assert.match(await must('ip', ['-o', 'link', 'show', 'dev', hostIfName(a)]), /master ttv .*state UP/);
      const rps = (id: string) => parseInt(readFileSync(`/sys/class/net/${hostIfName(id)}/queues/rx-0/rps_cpus`, 'utf8').replace(/,/g, ''), 16);
      assert.is(rps(a), parseInt(allCpusMask().replace(/,/g, ''), 16), 'rps: every online cpu');
      assert.is(rps(b), 1, 'rps=1');
      await remove(a);
      assert.not.ok((await linkNames()).includes(hostIfName(a)), 'the host end went with its container');
      await ping(b, '10.81.0.1');
      await remove(b);
      await assertNothingLeft();
    } finally {
      await cleanup();
    }
  });

  test('nat: a container reaches a server in another namespace through the masquerade', async () => {
    try {
      const www = join(sb.dir, 'www');
      mkdirSync(www, { recursive: true });
      writeFileSync(join(www, 'token.txt'), `token-${process.pid}\n`);
      const outside = await holders.add(['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', www]);
      await must('ip', ['link', 'add', 'name', 'tto0', 'type', 'veth', 'peer', 'name', 'tto1', 'netns', `/proc/${outside}/ns/net`]);
      await must('ip', ['-batch', '-'], 'addr add 192.0.2.1/24 dev tto0\nlink set dev tto0 up\n');
      await inNetns(outside, ['ip', '-batch', '-'], 'addr add 192.0.2.2/24 dev tto1\nlink set dev tto1 up\nlink set dev lo up\n');
      assert.not.match(await inNetns(outside, ['ip', 'route']), /10\.82\./, 'outside has no route back to the containers');
      const n1 = await start(await netBundle('veth,name=ttn,subnet=10.82.0.0/24,nat'), 'nat');
      assert.is(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), '1');
      assert.is((await natRules()).length, 1);
      const got = await exec(n1, ['timeout', '10', 'wget', '-q', '-O', '-', 'http://192.0.2.2:8080/token.txt']);
      assert.is(got.stdout, `token-${process.pid}`, `wget through the masquerade: ${got.stderr}`);
      await remove(n1);
      await must('ip', ['link', 'del', 'tto0']);
      await assertNothingLeft();
    } finally {
      await cleanup(['tto0']);
    }
  });

  test('macvlan: a container reaches a peer on the same parent', async () => {
    try {
      const peer = await holders.add();
      await must('ip', ['link', 'add', 'name', 'ttm0', 'type', 'veth', 'peer', 'name', 'ttm1', 'netns', `/proc/${peer}/ns/net`]);
      await must('ip', ['link', 'set', 'dev', 'ttm0', 'up']);
      await inNetns(peer, ['ip', '-batch', '-'], 'addr add 10.84.0.1/24 dev ttm1\nlink set dev ttm1 up\n');
      const m = await start(await netBundle('macvlan,parent=ttm0,subnet=10.84.0.0/24'), 'mac');
      assert.is(await addressOf(m), '10.84.0.2/24');
      await ping(m, '10.84.0.1');
      const kinds = JSON.parse(await must('ip', ['-d', '-j', 'link', 'show'])) as { linkinfo?: { info_kind?: string } }[];
      assert.not.ok(kinds.some((l) => l.linkinfo?.info_kind === 'macvlan'), 'no macvlan link in the host stand-in');
      await remove(m);
      assert.ok((await linkNames()).includes('ttm0'), 'the parent is left alone');
      await must('ip', ['link', 'del', 'ttm0']);
      await assertNothingLeft();
    } finally {
      await cleanup(['ttm0']);
    }
  });

  test('containers started concurrently get different addresses', async () => {
    try {
      const bundle = await netBundle('veth,name=ttc,subnet=10.85.0.0/24');
      const ids = await Promise.all(['c1', 'c2', 'c3'].map((n) => start(bundle, n)));
      const addrs = await Promise.all(ids.map(addressOf));
      assert.equal([...addrs].sort(), ['10.85.0.2/24', '10.85.0.3/24', '10.85.0.4/24']);
      await ping(ids[0] ?? '', (addrs[2] ?? '').split('/')[0] ?? '');
      await Promise.all(ids.map(remove));
      await assertNothingLeft();
    } finally {
      await cleanup();
    }
  });

  (ipvlan.missing ? test.skip : test)(ipvlanName, async () => {
    try {
      const peer = await holders.add();
      await must('ip', ['link', 'add', 'name', 'tti0', 'type', 'veth', 'peer', 'name', 'tti1', 'netns', `/proc/${peer}/ns/net`]);
      await must('ip', ['link', 'set', 'dev', 'tti0', 'up']);
      await inNetns(peer, ['ip', '-batch', '-'], 'addr add 10.86.0.1/24 dev tti1\nlink set dev tti1 up\n');
      const i = await start(await netBundle('ipvlan,parent=tti0,subnet=10.86.0.0/24'), 'ipv');
      await ping(i, '10.86.0.1');
      await remove(i);
      await must('ip', ['link', 'del', 'tti0']);
      await assertNothingLeft();
    } finally {
      await cleanup(['tti0']);
    }
  });

  (ipvlan.missing ? test : test.skip)('create with ipvlan fails clearly when the kernel has no ipvlan, and leaves nothing', async () => {
    try {
      await must('ip', ['link', 'add', 'name', 'tti0', 'type', 'veth', 'peer', 'name', 'tti1']);
      const bundle = await netBundle('ipvlan,parent=tti0,subnet=10.86.0.0/24');
      const id = uniqueId('ipv');
      running.add(id);
      const r = await sb.tsrun(['create', '--bundle', bundle, id]);
      assert.is(r.exitCode, 1);
      assert.match(r.stderr, /createRuntime hook #0 \(\/\S+\/bin\/tsrun\) failed: exit status 1: tsrun hook network up: ipvlan is not available: the kernel has no ipvlan support \(CONFIG_IPVLAN\)/);
      assert.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      running.delete(id);
      await must('ip', ['link', 'del', 'tti0']);
      await assertNothingLeft();
    } finally {
      await cleanup(['tti0']);
    }
  });

  test('nothing is left behind', async () => {
    await cleanup();
    await assertNothingLeft();
  });

  test.after(async () => {
    await cleanup();
    await sb.cleanup();
  });
}
