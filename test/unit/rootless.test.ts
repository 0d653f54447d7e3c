// Rootless decisions as data: subordinate ranges, who writes the maps, the
// refusals, `spec --rootless`, and which resource fields ask for a limit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultSpec } from '../../src/runtime/default-spec.ts';
import type { Config } from '../../src/runtime/oci-types.ts';
import { rootlessIdmapWriter, subordinateRanges } from '../../src/runtime/rootless.ts';
import { limitFields } from '../../src/runtime/cgroups/none.ts';
import { rootlessSpec } from '../../src/runtime/verbs/spec.ts';
import type { IdMapping } from '../../src/runtime/userns-plan.ts';

const me = { uid: 1000, gid: 1000, name: 'alice' };
function cfg(uid: IdMapping[], gid = uid): Config {
  const c = defaultSpec();
  c.linux!.namespaces!.push({ type: 'user' });
  c.linux!.uidMappings = uid;
  c.linux!.gidMappings = gid;
  return c;
}

test('subordinateRanges: by name or uid, malformed lines skipped', () => {
  assert.equal(subordinateRanges('alice:100000:65536\nbob:1:2\n1000:300000:10\nalice:x:1\n', 'alice', 1000), [[100000, 65536], [300000, 10]]);
});

test('the caller alone: written directly, setgroups denied; a user namespace is required', () => {
  assert.equal(rootlessIdmapWriter(cfg([{ containerID: 0, hostID: 1000, size: 1 }]), me), { newuidmap: '', newgidmap: '', denySetgroups: true });
  assert.throws(() => rootlessIdmapWriter(defaultSpec(), me), /\/linux\/namespaces: a rootless container needs a user namespace/);
  const joined = defaultSpec();
  joined.linux!.namespaces!.push({ type: 'user', path: '/proc/1/ns/user' });
  assert.is(rootlessIdmapWriter(joined, me), undefined);
});

test('ranges not in /etc/subuid are refused, naming the range', () => {
  assert.throws(() => rootlessIdmapWriter(cfg([{ containerID: 0, hostID: 1000, size: 1 }, { containerID: 1, hostID: 5, size: 2 }]), { ...me, name: 'nobody-has-this-name' }),
    /\/linux\/uidMappings\/1: host ids 5-6 are not yours to map/);
});

test('subordinate ranges go through newuidmap/newgidmap; without them, a clear refusal naming the field', () => {
  const maps = [{ containerID: 0, hostID: 1000, size: 1 }, { containerID: 1, hostID: 100000, size: 65536 }];
  const subids = () => 'alice:100000:65536\n';
  assert.equal(rootlessIdmapWriter(cfg(maps), me, { subids, tool: (n) => `/usr/bin/${n}` }), { newuidmap: '/usr/bin/newuidmap', newgidmap: '/usr/bin/newgidmap', denySetgroups: false });
  assert.throws(() => rootlessIdmapWriter(cfg(maps), me, { subids, tool: () => undefined }),
    /\/linux\/uidMappings: mapping more than your own id \(1000\) needs newuidmap, which is not installed/);
  assert.throws(() => rootlessIdmapWriter(cfg(maps), me, { subids: () => 'alice:100000:100\n', tool: (n) => n }),
    /\/linux\/uidMappings\/1: host ids 100000-165535 are not yours to map \(yours: 1000; \/etc\/subuid gives alice: 100000-100099\)/);
});

test('spec --rootless: the caller mapped, no network or cgroup namespace, /sys bound, devpts without gid, no limits', () => {
  const c = rootlessSpec(defaultSpec());
  assert.equal(c.linux!.namespaces!.map((n) => n.type).sort(), ['ipc', 'mount', 'pid', 'user', 'uts']);
  assert.equal(c.linux!.uidMappings, [{ containerID: 0, hostID: process.geteuid!(), size: 1 }]);
  assert.is(c.mounts!.find((m) => m.destination === '/sys')!.source, '/sys');
  assert.not.ok(c.mounts!.find((m) => m.type === 'devpts')!.options!.some((o) => o.startsWith('gid=')));
  assert.is(c.linux!.resources, undefined);
});

test('limitFields: everything but device rules and empty objects', () => {
  assert.equal(limitFields({ devices: [{ allow: false, access: 'rwm' }], memory: {}, pids: { limit: 10 } }), ['/linux/resources/pids']);
  assert.equal(limitFields(undefined), []);
});

test.run();
