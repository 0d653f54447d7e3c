// The network hooks with a container in a user namespace: `tsrun spec --net
// veth` plus a user namespace; the hook (host root) moves the veth end into a
// network namespace the user namespace owns, the container reaches the
// gateway, and everything goes with delete. Runs in a network namespace that
// stands for the host (test/lib/netns.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../src/runtime/oci-types.ts';
import { leftovers, sandbox, uniqueId } from './lib/tsrun.ts';
import { addresses, hostStandIn, linkNames } from './lib/netns.ts';

hostStandIn('network hooks in a user namespace', import.meta.url, ['iptables'], defineTests);

function defineTests(): void {
  const sb = sandbox();
  chmodSync(dirname(sb.rootfs), 0o755);
  const stateDir = join(sb.dir, 'net-state');

  test('veth into a user namespace\'s network namespace: an address, a route, a ping to the gateway; nothing left', async () => {
    const bundle = join(sb.dir, 'net');
    mkdirSync(bundle);
    assert.is((await sb.tsrun(['spec', '--bundle', bundle, '--net', `veth,name=ttu,subnet=10.83.0.0/24,state-dir=${stateDir}`])).exitCode, 0);
    const file = join(bundle, 'config.json');
    const c = JSON.parse(readFileSync(file, 'utf8')) as Config;
    c.root = { path: sb.rootfs, readonly: true };
    c.process!.args = ['sleep', '300'];
    for (const set of ['bounding', 'effective', 'permitted'] as const) c.process!.capabilities![set]!.push('CAP_NET_RAW');
    c.linux!.namespaces!.push({ type: 'user' });
    c.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    c.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    writeFileSync(file, JSON.stringify(c));
    const id = uniqueId('unet');
    try {
      const r = await sb.tsrun(['run', '-d', '--bundle', bundle, id]);
      assert.is(r.exitCode, 0, r.stderr);
      const addr = await sb.tsrun(['exec', id, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
      assert.match(addr.stdout, /inet 10\.83\.0\.2\/24/, addr.stderr);
      const ping = await sb.tsrun(['exec', id, 'ping', '-c1', '-W2', '10.83.0.1']);
      assert.is(ping.exitCode, 0, ping.stdout + ping.stderr);
      const lo = await sb.tsrun(['exec', id, 'ping', '-c1', '-W2', '127.0.0.1']);
      assert.is(lo.exitCode, 0, `loopback: ${lo.stdout} ${lo.stderr}`);
    } finally {
      assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
    }
    assert.equal((await linkNames()).filter((n) => n.startsWith('tsr') || n === 'ttu'), []);
    assert.equal((await addresses()).filter((a) => !a.startsWith('lo ')), []);
    const records = (kind: string) => (existsSync(join(stateDir, kind)) ? readdirSync(join(stateDir, kind)) : []);
    assert.equal([...records('networks'), ...records('containers')], []);
  });

  test('nothing is left behind', async () => {
    await sb.cleanup();
    assert.equal(leftovers(sb.root), []);
  });
}
