// The network hooks end to end, under runc, on the real kernel. The file
// re-executes itself inside a network namespace that stands for the host
// (test/lib/netns.ts), so bridges, veth host ends, iptables rules and
// ip_forward never touch the machine's own; "outside" servers and macvlan
// peers live in further netns held by processes the tests kill by pid.
// Containers are busybox bundles run by runc with the hook as createRuntime
// up / poststop down.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Config } from '../src/runtime/oci-types.ts';
import { addNetworkToConfig, networkHookMain } from '../src/hooks/network/cli.ts';
import { isAlive } from '../src/hooks/network/lock.ts';
import { allCpusMask } from '../src/hooks/network/rps.ts';
import { hostIfName } from '../src/hooks/network/veth.ts';
import { has, hostStandIn, inNetns, linkNames, must, natRules, NetnsHolders, probeIpvlan, sh } from './lib/netns.ts';
import type { Res } from './lib/netns.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HOOK = [join(ROOT, 'bin/node-pinned'), join(ROOT, 'src/hooks/network/cli.ts')];

hostStandIn('network hooks end to end', import.meta.url, ['iptables', 'runc'], defineTests);

function defineTests(): void {
  const base = mkdtempSync('/tmp/tsrun-nettest-');
  const rootfs = join(base, 'rootfs');
  const RUNC = ['runc', '--root', join(base, 'runc')];
  // crun refuses hybrid cgroup setups: give it a cgroup2 view of its own and no cgroup manager.
  const CRUN = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
    'mount -t cgroup2 none /sys/fs/cgroup && exec crun --cgroup-manager=disabled --root "$0" "$@"', join(base, 'crun')];
  const stateDir = join(base, 'state');
  const prefix = `nh${process.pid}`;
  /** Container id -> the runtime argv that runs it. */
  const started = new Map<string, string[]>();
  const holders = new NetnsHolders();

  // A busybox rootfs: the static binary and relative links for its applets.
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
  for (const applet of spawnSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).stdout.split('\n')) {
    if (applet !== '' && applet !== 'busybox') symlinkSync('busybox', join(rootfs, 'bin', applet));
  }
  spawnSync('runc', ['spec', '--bundle', base]);
  const baseConfig = JSON.parse(readFileSync(join(base, 'config.json'), 'utf8')) as Config;

  // Probe once, before the ipvlan tests are defined.
  const probe = probeIpvlan();
  const ipvlanMissing = probe.missing;
  const ipvlanSkip = 'ipvlan l2: a container reaches a peer on the same parent';
  if (!has('crun')) console.log('SKIP crun runs the same hooks: no crun');
  if (ipvlanMissing) console.log(`SKIP ${ipvlanSkip}: the kernel has no ipvlan support (ip said: ${probe.reason})`);
  else console.log('SKIP up with ipvlan fails clearly: this kernel has ipvlan');

  function config(spec: string, args: string[]): Config {
    const c = structuredClone(baseConfig);
    c.root = { path: rootfs, readonly: true };
    if (c.process) {
      c.process.terminal = false;
      c.process.args = args;
      const caps = c.process.capabilities ?? {};
      for (const set of ['bounding', 'effective', 'permitted'] as const) caps[set] = [...(caps[set] ?? []), 'CAP_NET_RAW'];
    }
    return addNetworkToConfig(c, `${spec},state-dir=${stateDir}`, HOOK);
  }

  /** `runc run -d`; resolves to runc's exit code and stderr (the container keeps runc's stdio, so no pipes). */
  async function run(name: string, spec: string, runtime = RUNC): Promise<Res> {
    const id = `${prefix}-${name}`;
    const bundle = join(base, `bundle-${name}`);
    mkdirSync(bundle, { recursive: true });
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config(spec, ['sleep', '120'])));
    const errFile = join(bundle, 'runc.err');
    const fd = openSync(errFile, 'w');
    started.set(id, runtime);
    const code = await new Promise<number>((resolve) => {
      const [cmd = '', ...argv] = runtime;
      const child = spawn(cmd, [...argv, 'run', '-d', '--bundle', bundle, id], { stdio: ['ignore', 'ignore', fd] });
      child.on('exit', (c) => resolve(c ?? 1));
    });
    closeSync(fd);
    return { code, stdout: '', stderr: readFileSync(errFile, 'utf8') };
  }

  async function start(name: string, spec: string, runtime = RUNC): Promise<string> {
    const res = await run(name, spec, runtime);
    assert.is(res.code, 0, `runc run ${name}: ${res.stderr}`);
    return `${prefix}-${name}`;
  }

  const runtimeOf = (id: string) => started.get(id) ?? RUNC;
  const exec = (id: string, args: string[]) => sh(runtimeOf(id)[0] ?? '', [...runtimeOf(id).slice(1), 'exec', id, ...args]);
  async function execOut(id: string, args: string[]): Promise<string> {
    const res = await exec(id, args);
    assert.is(res.code, 0, `exec ${args.join(' ')} in ${id}: ${res.stderr}`);
    return res.stdout;
  }

  async function remove(id: string): Promise<void> {
    const res = await sh(runtimeOf(id)[0] ?? '', [...runtimeOf(id).slice(1), 'delete', '-f', id]);
    assert.is(res.code, 0, `delete ${id}: ${res.stderr}`);
    started.delete(id);
  }

  /** The container's eth0 address as it sees it. */
  async function addressOf(id: string): Promise<string> {
    const out = await execOut(id, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
    return /inet (\S+)/.exec(out)?.[1] ?? '';
  }

  async function ping(id: string, address: string): Promise<void> {
    const res = await exec(id, ['ping', '-c1', '-W2', address]);
    assert.is(res.code, 0, `${id} ping ${address}: ${res.stdout}${res.stderr}`);
  }

  const records = (kind: 'networks' | 'containers') => (existsSync(join(stateDir, kind)) ? readdirSync(join(stateDir, kind)) : []);
  const hookState = (id: string, pid?: number) => JSON.stringify({ ociVersion: '1.2.0', id, status: 'creating', pid, bundle: base });
  const cli = (args: string[], state: string) => sh(HOOK[0] ?? '', [HOOK[1] ?? '', ...args], state);

  const BRIDGES = ['tnv', 'tnn', 'tnc', 'tnf'];
  async function assertNothingLeft(): Promise<void> {
    assert.equal((await linkNames()).filter((n) => n.startsWith('tsr') || BRIDGES.includes(n)), [], 'no veth host ends or bridges');
    assert.equal(await natRules(), [], 'no masquerade rules');
    assert.equal(records('networks'), [], 'no network records');
    assert.equal(records('containers'), [], 'no container records');
  }

  async function cleanup(): Promise<void> {
    for (const [id, rt] of started) await sh(rt[0] ?? '', [...rt.slice(1), 'delete', '-f', id]);
    started.clear();
    holders.stopAll();
  }

  test('veth: a container reaches the gateway and another container over the bridge; rps written; all gone after delete', async () => {
    try {
      const spec = 'veth,name=tnv,subnet=10.91.0.0/24';
      const a = await start('va', `${spec},rps`);
      const b = await start('vb', `${spec},rps=1`);
      assert.is(await addressOf(a), '10.91.0.2/24');
      assert.is(await addressOf(b), '10.91.0.3/24');
      assert.match(await execOut(a, ['ip', 'route']), /default via 10\.91\.0\.1 dev eth0/);
      await ping(a, '10.91.0.1');
      await ping(a, '10.91.0.3');
      await ping(b, '10.91.0.2');
      const bridge = JSON.parse(await must('ip', ['-j', 'addr', 'show', 'dev', 'tnv'])) as { addr_info: { local: string; prefixlen: number }[] }[];
      assert.ok(bridge[0]?.addr_info.some((x) => x.local === '10.91.0.1' && x.prefixlen === 24), 'the bridge holds the gateway');
      assert.match(await must('ip', ['-o', 'link', 'show', 'dev', hostIfName(a)]), /master tnv .*state UP/);
      const rps = (id: string) => parseInt(readFileSync(`/sys/class/net/${hostIfName(id)}/queues/rx-0/rps_cpus`, 'utf8').replace(/,/g, ''), 16);
      assert.is(rps(a), parseInt(allCpusMask().replace(/,/g, ''), 16), 'rps: every online cpu');
      assert.is(rps(b), 1, 'rps=1');

      await remove(a);
      assert.not.ok((await linkNames()).includes(hostIfName(a)), 'the host end went with its container');
      assert.ok((await linkNames()).includes('tnv'), 'the bridge stays while a container uses it');
      await ping(b, '10.91.0.1');
      await remove(b);
      await assertNothingLeft();

      // down again, by the program and in-process: nothing to do, no error.
      assert.is((await cli(['down', `state-dir=${stateDir}`], hookState(a))).code, 0);
      assert.is(await networkHookMain(['down', `state-dir=${stateDir}`], Readable.from([hookState(a)])), 0);
      assert.is(await networkHookMain(['down', `state-dir=${join(base, 'never-made')}`], Readable.from([hookState('nobody')])), 0);
    } finally {
      await cleanup();
    }
  });

  test('nat: forwarding on, one masquerade rule while nat containers run, a server outside is reached through it', async () => {
    try {
      const www = join(base, 'www');
      mkdirSync(www, { recursive: true });
      writeFileSync(join(www, 'token.txt'), `token-${process.pid}\n`);
      const outside = await holders.add(['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', www]);
      await must('ip', ['link', 'add', 'name', 'tno0', 'type', 'veth', 'peer', 'name', 'tno1', 'netns', `/proc/${outside}/ns/net`]);
      await must('ip', ['-batch', '-'], 'addr add 192.0.2.1/24 dev tno0\nlink set dev tno0 up\n');
      await inNetns(outside, ['ip', '-batch', '-'], 'addr add 192.0.2.2/24 dev tno1\nlink set dev tno1 up\nlink set dev lo up\n');
      assert.not.match(await inNetns(outside, ['ip', 'route']), /10\.93\./, 'outside has no route back to the containers');

      const spec = 'veth,name=tnn,subnet=10.93.0.0/24,nat';
      const n1 = await start('n1', spec);
      const n2 = await start('n2', spec);
      assert.is(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), '1');
      assert.equal(await natRules(), ['-A POSTROUTING -s 10.93.0.0/24 ! -d 10.93.0.0/24 -m comment --comment "tsrun network tnn" -j MASQUERADE']);
      // busybox wget crashes on -T: bound it with timeout instead.
      const got = await exec(n1, ['timeout', '10', 'wget', '-q', '-O', '-', 'http://192.0.2.2:8080/token.txt']);
      assert.is(got.stdout, `token-${process.pid}\n`, `wget through the masquerade: ${got.stderr}`);

      await remove(n1);
      assert.is((await natRules()).length, 1, 'the rule stays while n2 needs it');
      await remove(n2);
      await assertNothingLeft();
    } finally {
      await cleanup();
      await sh('ip', ['link', 'del', 'tno0']);
    }
  });

  test('macvlan: containers reach a peer on the same parent and each other; mtu from the option', async () => {
    try {
      const peer = await holders.add();
      await must('ip', ['link', 'add', 'name', 'tnm0', 'type', 'veth', 'peer', 'name', 'tnm1', 'netns', `/proc/${peer}/ns/net`]);
      await must('ip', ['link', 'set', 'dev', 'tnm0', 'up']);
      await inNetns(peer, ['ip', '-batch', '-'], 'addr add 10.94.0.1/24 dev tnm1\nlink set dev tnm1 up\n');
      const spec = 'macvlan,parent=tnm0,subnet=10.94.0.0/24,mtu=1400';
      const m1 = await start('m1', spec);
      const m2 = await start('m2', spec);
      assert.is(await addressOf(m1), '10.94.0.2/24');
      assert.match(await execOut(m1, ['ip', 'link', 'show', 'eth0']), /mtu 1400/);
      assert.match(await execOut(m1, ['ip', 'route']), /default via 10\.94\.0\.1 dev eth0/);
      await ping(m1, '10.94.0.1');
      await ping(m2, '10.94.0.2');
      const kinds = JSON.parse(await must('ip', ['-d', '-j', 'link', 'show'])) as { linkinfo?: { info_kind?: string } }[];
      assert.not.ok(kinds.some((l) => l.linkinfo?.info_kind === 'macvlan'), 'no macvlan link in the host netns');
      await remove(m1);
      await remove(m2);
      assert.equal(records('networks'), []);
      assert.equal(records('containers'), []);
      assert.ok((await linkNames()).includes('tnm0'), 'the parent is left alone');
    } finally {
      await cleanup();
      await sh('ip', ['link', 'del', 'tnm0']);
    }
  });

  test('containers started concurrently get different addresses', async () => {
    try {
      const spec = 'veth,name=tnc,subnet=10.95.0.0/24';
      const ids = await Promise.all(['c1', 'c2', 'c3'].map((n) => start(n, spec)));
      const addrs = await Promise.all(ids.map(addressOf));
      assert.equal([...addrs].sort(), ['10.95.0.2/24', '10.95.0.3/24', '10.95.0.4/24']);
      await ping(ids[0] ?? '', (addrs[2] ?? '').split('/')[0] ?? '');
      await Promise.all(ids.map(remove));
      await assertNothingLeft();
    } finally {
      await cleanup();
    }
  });

  (has('crun') ? test : test.skip)('crun runs the same hooks (with an empty hook environment)', async () => {
    try {
      const c = await start('cr', 'veth,name=tnv,subnet=10.91.0.0/24,nat', CRUN);
      assert.is(await addressOf(c), '10.91.0.2/24');
      await ping(c, '10.91.0.1');
      assert.is((await natRules()).length, 1);
      await remove(c);
      await assertNothingLeft();
    } finally {
      await cleanup();
    }
  });

  test('a failed up is rolled back, and down after it is fine', async () => {
    try {
      // The container netns already has an eth0: the veth peer cannot be made.
      const ctr = await holders.add();
      await inNetns(ctr, ['ip', 'link', 'add', 'name', 'eth0', 'type', 'veth', 'peer', 'name', 'x0']);
      const res = await cli(['up', 'veth', 'name=tnf', 'subnet=10.96.0.0/24', `state-dir=${stateDir}`], hookState('failing', ctr));
      assert.is(res.code, 1);
      assert.is(res.stderr.trim().split('\n').length, 1, 'one line on stderr');
      assert.match(res.stderr, new RegExp(`^tsrun hook network up: veth ${hostIfName('failing')}: "ip link add name ${hostIfName('failing')} .*" failed: .*File exists`));
      await assertNothingLeft();
      for (let i = 0; i < 2; i++) assert.is((await cli(['down', `state-dir=${stateDir}`], hookState('failing'))).code, 0);
      // A container that died without its poststop: the next up of its id cleans up after it.
      const first = await holders.add();
      const spec = ['up', 'veth', 'name=tnf', 'subnet=10.96.0.0/24', `state-dir=${stateDir}`];
      assert.is((await cli(spec, hookState('again', first))).code, 0);
      holders.stop(first);
      while (isAlive(first, undefined)) await new Promise((r) => setTimeout(r, 10));
      const second = await holders.add();
      const again = await cli(spec, hookState('again', second));
      assert.is(again.code, 0, again.stderr);
      assert.equal(JSON.parse(readFileSync(join(stateDir, 'networks/tnf.json'), 'utf8')).allocations, { again: '10.96.0.2' });
      assert.is((await cli(['down', `state-dir=${stateDir}`], hookState('again'))).code, 0);
      await assertNothingLeft();
      const shared = await cli(['up', `state-dir=${stateDir}`], hookState('shared', process.pid));
      assert.match(shared.stderr, /container "shared" shares the runtime's network namespace/);
      const noPid = await cli(['up', `state-dir=${stateDir}`], hookState('nopid'));
      assert.match(noPid.stderr, /state of "nopid" on stdin: no pid/);
    } finally {
      await cleanup();
    }
  });

  test('rps through a fresh sysfs when /sys shows another netns', async () => {
    try {
      const other = await holders.add();
      await inNetns(other, ['ip', 'link', 'add', 'name', 'tnr0', 'type', 'veth', 'peer', 'name', 'tnr1']);
      // A namesake in the host stand-in, which /sys shows: it must stay untouched.
      await must('ip', ['link', 'add', 'name', 'tnr0', 'type', 'veth', 'peer', 'name', 'tnr9']);
      const rpsModule = join(ROOT, 'src/hooks/network/rps.ts');
      await inNetns(other, [process.execPath, '--input-type=module', '-e', `import { setRps } from ${JSON.stringify(rpsModule)}; await setRps('tnr0', '1');`]);
      const seen = await inNetns(other, ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount -t sysfs sysfs /sys && cat /sys/class/net/tnr0/queues/rx-*/rps_cpus']);
      assert.ok(seen.trim().split('\n').every((m) => parseInt(m, 16) === 1), `rps_cpus in the other netns: ${seen}`);
      assert.is(parseInt(readFileSync('/sys/class/net/tnr0/queues/rx-0/rps_cpus', 'utf8'), 16), 0, 'the namesake is untouched');
    } finally {
      await cleanup();
      await sh('ip', ['link', 'del', 'tnr0']);
    }
  });

  (ipvlanMissing ? test.skip : test)(ipvlanSkip, async () => {
    try {
      const peer = await holders.add();
      await must('ip', ['link', 'add', 'name', 'tni0', 'type', 'veth', 'peer', 'name', 'tni1', 'netns', `/proc/${peer}/ns/net`]);
      await must('ip', ['link', 'set', 'dev', 'tni0', 'up']);
      await inNetns(peer, ['ip', '-batch', '-'], 'addr add 10.97.0.1/24 dev tni1\nlink set dev tni1 up\n');
      const i1 = await start('i1', 'ipvlan,parent=tni0,subnet=10.97.0.0/24');
      await ping(i1, '10.97.0.1');
      await remove(i1);
      await assertNothingLeft();
    } finally {
      await cleanup();
      await sh('ip', ['link', 'del', 'tni0']);
    }
  });

  (ipvlanMissing ? test : test.skip)('up with ipvlan fails clearly when the kernel has no ipvlan, and leaves nothing', async () => {
    try {
      await must('ip', ['link', 'add', 'name', 'tni0', 'type', 'veth', 'peer', 'name', 'tni1']);
      const ctr = await holders.add();
      const direct = await cli(['up', 'ipvlan', 'parent=tni0', 'subnet=10.97.0.0/24', `state-dir=${stateDir}`], hookState('ipv', ctr));
      assert.is(direct.code, 1);
      assert.match(direct.stderr, /^tsrun hook network up: ipvlan is not available: the kernel has no ipvlan support \(CONFIG_IPVLAN\); ip said: .*Unknown device type.* \(use macvlan\)\n$/);
      const viaRunc = await run('i2', 'ipvlan,parent=tni0,subnet=10.97.0.0/24');
      assert.is.not(viaRunc.code, 0);
      assert.match(viaRunc.stderr, /ipvlan is not available: the kernel has no ipvlan support/);
      await assertNothingLeft();
      assert.is((await cli(['down', `state-dir=${stateDir}`], hookState('ipv'))).code, 0);
    } finally {
      await cleanup();
      await sh('ip', ['link', 'del', 'tni0']);
    }
  });

  test.after(() => {
    rmSync(base, { recursive: true, force: true });
  });
  // Even when a test throws past its finally (or uvu exits early), no
  // container of ours may outlive the run: their poststop hooks run here, in
  // the host stand-in, before it goes away.
  process.on('exit', () => {
    for (const [id, rt] of started) spawnSync(rt[0] ?? '', [...rt.slice(1), 'delete', '-f', id]);
    holders.stopAll();
    try {
      rmSync(base, { recursive: true, force: true });
    } catch {
      // best effort: never throw from an exit handler
    }
  });
}
