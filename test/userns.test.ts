// Containers in a user namespace, as root, against the real kernel: the id
// maps (one and several ranges) seen from inside and from the host, every
// mount kind of the default config inside the namespace, exec, sysctls,
// in-container hooks, joining a user namespace by path, id-mapped bind
// mounts, and bad maps refused before anything is made.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Config } from '../src/runtime/oci-types.ts';
import { leftovers, sandbox, uniqueId, waitFor } from './lib/tsrun.ts';
import { spawn } from 'node:child_process';

const sb = sandbox();
// The container's root (host uid 100000) must reach the rootfs, as with runc.
chmodSync(dirname(sb.rootfs), 0o755);
const shared = mkdtempSync(join(tmpdir(), 'tsrun-userns-'));
chmodSync(shared, 0o1777);
test.after(async () => {
  await sb.cleanup();
  rmSync(shared, { recursive: true, force: true });
});

const ONE_RANGE = [{ containerID: 0, hostID: 100000, size: 65536 }];
function inUserns(c: Config, uid = ONE_RANGE, gid = ONE_RANGE): void {
  c.linux!.namespaces!.push({ type: 'user' });
  c.linux!.uidMappings = uid;
  c.linux!.gidMappings = gid;
}

async function runOutput(edit: (c: Config) => void, script: string): Promise<string> {
  const r = await sb.tsrun(['run', '--bundle', sb.bundle((c) => { inUserns(c); edit(c); c.process!.args = ['sh', '-c', script]; }), uniqueId('uns')]);
  assert.is(r.exitCode, 0, r.stderr);
  return r.stdout;
}

async function start(edit: (c: Config) => void = () => {}): Promise<{ id: string; pid: number }> {
  const id = uniqueId('uns');
  const r = await sb.tsrun(['run', '--detach', '--bundle', sb.bundle((c) => { inUserns(c); edit(c); c.process!.args = ['sleep', '300']; }), id]);
  assert.is(r.exitCode, 0, r.stderr);
  return { id, pid: JSON.parse((await sb.tsrun(['state', id])).stdout).pid };
}

const statusIds = (pid: number, field: 'Uid' | 'Gid'): string[] =>
  new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!.split(/\s+/);

test('uid 0 inside is host uid 100000: /proc/PID/status from the host, id from inside; host-owned files show as nobody', async () => {
  const { id, pid } = await start();
  assert.equal(statusIds(pid, 'Uid'), ['100000', '100000', '100000', '100000']);
  assert.equal(statusIds(pid, 'Gid'), ['100000', '100000', '100000', '100000']);
  assert.match(readFileSync(`/proc/${pid}/uid_map`, 'utf8'), /^\s*0\s+100000\s+65536\s*$/);
  const r = await sb.tsrun(['exec', id, 'sh', '-c', 'id -u; id -g; stat -c %u /bin']);
  assert.is(r.exitCode, 0, r.stderr);
  assert.equal(r.stdout.split('\n'), ['0', '0', '65534']);
  assert.is(readlinkSync(`/proc/${pid}/ns/user`) === readlinkSync('/proc/self/ns/user'), false);
  assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
});

test('several ranges: the maps as written, and exec --user 1000 is host uid 300000', async () => {
  const uid = [{ containerID: 0, hostID: 100000, size: 1000 }, { containerID: 1000, hostID: 300000, size: 64536 }];
  const gid = [{ containerID: 0, hostID: 100000, size: 10 }, { containerID: 10, hostID: 200010, size: 65526 }];
  const { id, pid } = await start((c) => {
    c.linux!.uidMappings = uid;
    c.linux!.gidMappings = gid;
  });
  const rows = (file: string) => readFileSync(`/proc/${pid}/${file}`, 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  assert.equal(rows('uid_map'), [[0, 100000, 1000], [1000, 300000, 64536]]);
  assert.equal(rows('gid_map'), [[0, 100000, 10], [10, 200010, 65526]]);
  const pidFile = join(sb.dir, `${id}.pid`);
  const r = await sb.tsrun(['exec', '--detach', '--pid-file', pidFile, '--user', '1000:1000', id, 'sleep', '300']);
  assert.is(r.exitCode, 0, r.stderr);
  const execPid = Number(readFileSync(pidFile, 'utf8'));
  assert.equal(statusIds(execPid, 'Uid'), ['300000', '300000', '300000', '300000']);
  assert.equal(statusIds(execPid, 'Gid'), ['201000', '201000', '201000', '201000']);
  assert.is(readlinkSync(`/proc/${execPid}/ns/user`), readlinkSync(`/proc/${pid}/ns/user`));
  assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
});

test('every mount kind inside: proc, dev tmpfs, devpts with gid=5, mqueue, fresh sysfs, cgroup, device nodes', async () => {
  const out = await runOutput(() => {}, [
    'cut -d" " -f2,3 /proc/self/mounts',
    'grep " /dev/pts " /proc/self/mounts | grep -o "gid=[0-9]*"',
    'ls /sys/fs/cgroup | grep -c .',
    'echo x > /dev/null && head -c 4 /dev/zero | wc -c',
    'ls /proc/1/status && stat -c %u:%g /dev/pts/ptmx',
  ].join('; '));
  const lines = out.split('\n');
  for (const m of ['/proc proc', '/dev tmpfs', '/dev/pts devpts', '/dev/mqueue mqueue', '/sys sysfs', '/sys/fs/cgroup tmpfs']) assert.ok(lines.includes(m), `${m} in ${out}`);
  // /proc/mounts shows devpts's gid as the host sees it: container gid 5 is host 100005.
  assert.ok(lines.includes('gid=100005'), `devpts gid=5: ${out}`);
  assert.ok(Number(lines[lines.indexOf('gid=100005') + 1]) > 0, 'cgroup hierarchies visible');
  assert.ok(lines.includes('4'), 'device nodes work');
  assert.ok(lines.includes('/proc/1/status'));
});

test('devpts without gid=5 when gid 5 is not mapped; host /sys bound read-only without a network namespace', async () => {
  const gid = [{ containerID: 0, hostID: 100000, size: 1 }, { containerID: 100, hostID: 100100, size: 100 }];
  const out = await runOutput((c) => {
    c.linux!.gidMappings = gid;
    c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== 'network');
  }, 'grep " /dev/pts " /proc/self/mounts; grep " /sys " /proc/self/mounts | cut -d" " -f3,4; touch /sys/x 2>&1 || echo refused');
  assert.not.match(out, /gid=/);
  assert.match(out, /devpts/);
  assert.match(out, /^sysfs ro,/m);
  assert.match(out, /refused/);
});

test('sysctls are written inside the user namespace (net and ipc), not on the host', async () => {
  const hostMsgmax = readFileSync('/proc/sys/kernel/msgmax', 'utf8').trim();
  const out = await runOutput((c) => {
    c.linux!.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.msgmax': '4097', 'net.ipv4.ping_group_range': '0 10' };
  }, 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax /proc/sys/net/ipv4/ping_group_range');
  assert.equal(out.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')), ['1', '4097', '0 10']);
  assert.is(readFileSync('/proc/sys/kernel/msgmax', 'utf8').trim(), hostMsgmax);
});

test('createContainer and startContainer hooks run inside the user namespace as its root', async () => {
  // createContainer runs before pivot_root (host paths), startContainer after (the container's: the bind on /tmp).
  const hook = (file: string) => ({ path: '/bin/sh', args: ['sh', '-c', `cat /proc/self/uid_map > ${file}; id -u >> ${file}`] });
  await runOutput((c) => {
    c.mounts!.push({ destination: '/tmp', type: 'bind', source: shared, options: ['rbind'] });
    c.hooks = { createContainer: [hook(`${shared}/create`)], startContainer: [hook('/tmp/start')] };
  }, 'true');
  for (const name of ['create', 'start']) {
    const [map, uid] = readFileSync(join(shared, name), 'utf8').trim().split('\n');
    assert.match(map!, /^\s*0\s+100000\s+65536/, name);
    assert.is(uid, '0', name);
  }
});

test('joining a user namespace (and its network namespace) by path, as pods share one', async () => {
  const first = await start();
  const out = await runOutput((c) => {
    delete c.linux!.uidMappings;
    delete c.linux!.gidMappings;
    c.linux!.namespaces = c.linux!.namespaces!.map((n) =>
      n.type === 'user' ? { type: 'user', path: `/proc/${first.pid}/ns/user` } : n.type === 'network' ? { type: 'network', path: `/proc/${first.pid}/ns/net` } : n);
  }, 'id -u; readlink /proc/self/ns/user; readlink /proc/self/ns/net; grep -c " /sys sysfs" /proc/self/mounts');
  assert.equal(out.split('\n'), ['0', readlinkSync(`/proc/${first.pid}/ns/user`), readlinkSync(`/proc/${first.pid}/ns/net`), '1']);
  assert.is((await sb.tsrun(['delete', '--force', first.id])).exitCode, 0);
});

test('a host-owned network namespace joined by path (a pod\'s), a new user namespace: create and exec both join it', async () => {
  const holder = spawn('unshare', ['--net', 'sleep', '300'], { stdio: 'ignore' });
  try {
    assert.ok(await waitFor(() => readlinkSync(`/proc/${holder.pid}/ns/net`) !== readlinkSync('/proc/self/ns/net')));
    const netns = readlinkSync(`/proc/${holder.pid}/ns/net`);
    const { id, pid } = await start((c) => {
      c.linux!.namespaces = c.linux!.namespaces!.map((n) => (n.type === 'network' ? { type: 'network', path: `/proc/${holder.pid}/ns/net` } : n));
    });
    assert.is(readlinkSync(`/proc/${pid}/ns/net`), netns);
    const r = await sb.tsrun(['exec', id, 'sh', '-c', 'id -u; readlink /proc/self/ns/net']);
    assert.is(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout.split('\n'), ['0', netns]);
    assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
  } finally {
    holder.kill('SIGKILL');
  }
});

test('a created, not yet started container in a user namespace starts, and is killed and deleted', async () => {
  const id = uniqueId('uns');
  const bundle = sb.bundle((c) => { inUserns(c); c.process!.args = ['sleep', '300']; });
  assert.is((await sb.tsrun(['create', '--bundle', bundle, id])).exitCode, 0);
  const pid = JSON.parse((await sb.tsrun(['state', id])).stdout).pid;
  assert.equal(statusIds(pid, 'Uid')[0], '100000');
  assert.is((await sb.tsrun(['start', id])).exitCode, 0);
  assert.is((await sb.tsrun(['kill', id, 'KILL'])).exitCode, 0);
  assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
});

test('an id-mapped bind mount shows host-root files as owned by the container\'s root; a plain bind shows nobody', async () => {
  const data = mkdtempSync(join(tmpdir(), 'tsrun-idmap-'));
  chmodSync(data, 0o755);
  writeFileSync(join(data, 'f'), 'x');
  try {
    const out = await runOutput((c) => {
      c.mounts!.push({ destination: '/tmp', type: 'bind', source: data, options: ['rbind', 'idmap'] });
      c.mounts!.push({ destination: '/root', type: 'bind', source: data, options: ['rbind', 'ro'] });
      // A mount's own maps: host id 0 on disk appears as container id 1000 (host 101000).
      c.mounts!.push({ destination: '/var', type: 'bind', source: data, options: ['rbind', 'ridmap'],
        uidMappings: [{ containerID: 0, hostID: 101000, size: 1 }], gidMappings: [{ containerID: 0, hostID: 101000, size: 1 }] });
    }, 'stat -c %u:%g /tmp/f /root/f /var/f; echo new > /tmp/g && stat -c %u /tmp/g; grep -c idmapped /proc/self/mountinfo');
    assert.equal(out.split('\n'), ['0:0', '65534:65534', '1000:1000', '0', '2']);
    const st = statSync(join(data, 'g'));
    assert.equal([st.uid, st.gid], [0, 0], 'written through the id-mapped mount as host root');
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test('bad maps are refused before anything is made, naming the field and the reason', async () => {
  const cases: Array<[string, (c: Config) => void, RegExp]> = [
    ['overlap', (c) => inUserns(c, [{ containerID: 0, hostID: 100000, size: 100 }, { containerID: 50, hostID: 200000, size: 10 }]), /\/linux\/uidMappings\/1: containerID range 50-59 overlaps \/linux\/uidMappings\/0/],
    ['host overlap', (c) => inUserns(c, ONE_RANGE, [{ containerID: 0, hostID: 100000, size: 100 }, { containerID: 100, hostID: 100050, size: 10 }]), /\/linux\/gidMappings\/1: hostID range .* overlaps/],
    ['size 0', (c) => inUserns(c, [{ containerID: 0, hostID: 100000, size: 0 }]), /\/linux\/uidMappings\/0\/size: an id range must not be empty/],
    ['past 2^32', (c) => inUserns(c, [{ containerID: 0, hostID: 4294967000, size: 65536 }]), /\/linux\/uidMappings\/0: hostID 4294967000 \+ size 65536 goes past/],
    ['341 ranges', (c) => inUserns(c, Array.from({ length: 341 }, (_, i) => ({ containerID: i, hostID: 100000 + i, size: 1 }))), /\/linux\/uidMappings: 341 ranges, the kernel accepts at most 340/],
    ['no user ns', (c) => { c.linux!.uidMappings = ONE_RANGE; }, /\/linux\/uidMappings: id mappings need a user namespace/],
    ['mount maps without idmap', (c) => { inUserns(c); c.mounts!.push({ destination: '/tmp', type: 'bind', source: '/tmp', options: ['rbind'], uidMappings: ONE_RANGE }); }, /\/mounts\/\d+\/uidMappings: a mount's own id mappings need the "idmap" or "ridmap" option/],
    ['idmap on tmpfs', (c) => { inUserns(c); c.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['idmap'] }); }, /\/mounts\/\d+\/options: "idmap" needs a bind mount/],
    ['idmap without maps', (c) => { c.mounts!.push({ destination: '/tmp', type: 'bind', source: '/tmp', options: ['rbind', 'idmap'] }); }, /\/mounts\/\d+\/uidMappings: "idmap" needs id mappings/],
    ['unmapped root', (c) => inUserns(c, [{ containerID: 1, hostID: 100000, size: 10 }]), /uid 0 is not mapped/],
  ];
  for (const [name, edit, message] of cases) {
    const id = uniqueId('bad');
    const r = await sb.tsrun(['run', '--bundle', sb.bundle(edit), id]);
    assert.is.not(r.exitCode, 0, name);
    assert.match(r.stderr, message, `${name}: ${r.stderr}`);
    assert.is((await sb.tsrun(['state', id])).exitCode, 1, `${name}: nothing left`);
  }
});

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
});

test.run();
