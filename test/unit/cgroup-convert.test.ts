// Pure cgroup conversions and checks: shares→weight, swap math, cpu.max and
// io.max lines, device rules, resourceProblems, mountinfo and
// /proc/self/cgroup parsing, cgroupsPath normalisation and stats parsing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  blkioWeightToIoWeight, cpuMaxLine, cpuSharesToWeight, deviceRuleText, ioMaxLines, limitOrZero, pidsMax,
  v1Bytes, v1MemswFirst, v1Quota, v1ThrottleLines, v2Bytes, v2SwapMax,
} from '../../src/runtime/cgroups/convert.ts';
import { hierarchyDir, normaliseCgroupsPath, ownCgroups, parseCgroupMounts } from '../../src/runtime/cgroups/detect.ts';
import { resourceProblems } from '../../src/runtime/cgroups/index.ts';
import { parseIoStat, parseV1Blkio } from '../../src/runtime/cgroups/stats.ts';
import { RuntimeError } from '../../src/runtime/errors.ts';

test('cpu shares map to cpu.weight on the quadratic log curve', () => {
  assert.is(cpuSharesToWeight(2), 1);
  assert.is(cpuSharesToWeight(1), 1);
  assert.is(cpuSharesToWeight(1024), 100, 'the v1 default maps to the v2 default');
  assert.is(cpuSharesToWeight(262144), 10000);
  assert.is(cpuSharesToWeight(1_000_000), 10000);
  assert.is(cpuSharesToWeight(512), 59);
  assert.is(cpuSharesToWeight(2048), 174);
  assert.is(cpuSharesToWeight(100), 17);
  let last = 0;
  for (let s = 2; s <= 262144; s *= 2) {
    const w = cpuSharesToWeight(s);
    assert.ok(w > last || (w === last && w === 10000), `monotonic at ${s}`);
    last = w;
  }
});

test('blkio weight maps linearly onto io.weight', () => {
  assert.is(blkioWeightToIoWeight(10), 1);
  assert.is(blkioWeightToIoWeight(1000), 10000);
  assert.is(blkioWeightToIoWeight(500), 1 + Math.floor((490 * 9999) / 990));
});

test('v2 swap is memory+swap minus the limit', () => {
  assert.is(v2SwapMax(300, 100), '200');
  assert.is(v2SwapMax(100, 100), '0', 'swap equal to the limit means no swap');
  assert.is(v2SwapMax(-1, 100), 'max');
  assert.is(v2SwapMax(-1, -1), 'max');
  assert.is(v2SwapMax(50, 100), undefined, 'below the limit');
  assert.is(v2SwapMax(500, -1), undefined, 'no limit to subtract');
  assert.is(v2SwapMax(2 ** 40, 2 ** 30), String(2 ** 40 - 2 ** 30));
});

test('v1 memsw write order keeps limit <= memsw', () => {
  assert.ok(v1MemswFirst(100, 400), 'raising: memsw first');
  assert.not.ok(v1MemswFirst(9.2e18, 400), 'lowering from unlimited: limit first');
  assert.not.ok(v1MemswFirst(400, 300), 'lowering: limit first');
  assert.ok(v1MemswFirst(400, -1), 'unlimited memsw first');
});

test('cpu.max lines keep the half that is not given', () => {
  assert.is(cpuMaxLine(50000, 100000), '50000 100000');
  assert.is(cpuMaxLine(-1, 100000), 'max 100000');
  assert.is(cpuMaxLine(50000, undefined, 'max 200000'), '50000 200000');
  assert.is(cpuMaxLine(undefined, 250000, '20000 100000'), '20000 250000');
  assert.is(cpuMaxLine(undefined, 250000), 'max 250000');
  assert.is(cpuMaxLine(0, 0, '30000 100000\n'), '30000 100000', 'zero means unset');
});

test('io.max gets one line per device with only the given keys', () => {
  const lines = ioMaxLines({
    throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }, { major: 254, minor: 0, rate: 10 }],
    throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 2097152 }],
    throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 0 }],
    throttleWriteIOPSDevice: [{ major: 254, minor: 0, rate: 300 }],
  });
  assert.equal(lines, ['8:0 rbps=1048576 wbps=2097152 riops=max', '254:0 rbps=10 wiops=300']);
  assert.equal(ioMaxLines(undefined), []);
  assert.equal(ioMaxLines({ weight: 100 }), []);
  assert.equal(v1ThrottleLines([{ major: 8, minor: 16, rate: 4096 }]), ['8:16 4096']);
});

test('small value encoders', () => {
  assert.is(pidsMax(0), 'max');
  assert.is(pidsMax(-1), 'max');
  assert.is(pidsMax(32), '32');
  assert.is(v1Quota(-5), '-1');
  assert.is(v1Quota(20000), '20000');
  assert.is(v1Bytes(-1), '-1');
  assert.is(v2Bytes(-1), 'max');
  assert.is(v2Bytes(1e21), '1000000000000000000000', 'no exponent notation');
  assert.is(limitOrZero(9223372036854771712), 0);
  assert.is(limitOrZero(undefined), 0);
  assert.is(limitOrZero(4096), 4096);
});

test('device rules spell wildcards and defaults', () => {
  assert.is(deviceRuleText({ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }), 'c 1:3 rwm');
  assert.is(deviceRuleText({ allow: false, access: 'rwm' }), 'a *:* rwm');
  assert.is(deviceRuleText({ allow: true, type: 'c', major: 136, minor: null, access: 'rw' }), 'c 136:* rw');
  assert.is(deviceRuleText({ allow: true, type: 'b', major: -1, minor: -1 }), 'b *:* rwm');
});

test('resourceProblems names the field and the reason', () => {
  assert.equal(resourceProblems(undefined, 1), []);
  assert.equal(resourceProblems({ memory: { limit: 2000, swap: 3000 }, pids: { limit: 5 } }, 2), []);
  assert.equal(resourceProblems({ memory: { limit: 2000, swap: 1000 } }, 1), [
    '/linux/resources/memory/swap: 1000 is below memory.limit 2000 (swap counts memory plus swap)',
  ]);
  assert.match(resourceProblems({ memory: { swap: 1000 } }, 2)[0] ?? '', /memory\/swap: 1000 needs memory.limit/);
  assert.equal(resourceProblems({ memory: { swap: 1000 } }, 2, 'update'), [], 'update completes swap from the limit in force');
  assert.match(resourceProblems({ memory: { limit: -1, swap: 1000 } }, 1)[0] ?? '', /while memory.limit is -1/);
  assert.match(resourceProblems({ memory: { limit: -7 } }, 1)[0] ?? '', /memory\/limit: -7 is negative/);
  assert.match(resourceProblems({ memory: { swappiness: 101 } }, 1)[0] ?? '', /swappiness: 101 is outside 0 to 100/);
  assert.match(resourceProblems({ cpu: { quota: 500 } }, 1)[0] ?? '', /cpu\/quota: 500 is below/);
  assert.match(resourceProblems({ cpu: { period: 10 } }, 2)[0] ?? '', /cpu\/period: 10 is outside/);
  assert.match(resourceProblems({ cpu: { cpus: '0-x' } }, 1)[0] ?? '', /cpu\/cpus: "0-x" is not a list/);
  assert.equal(resourceProblems({ cpu: { cpus: '0-3,5', mems: '0' } }, 1), []);
  assert.match(resourceProblems({ blockIO: { weight: 5 } }, 1)[0] ?? '', /blockIO\/weight: 5 is outside 10 to 1000/);
  assert.match(resourceProblems({ blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: -1 }] } }, 2)[0] ?? '',
    /throttleReadBpsDevice\/0\/rate: -1 is negative/);
  assert.match(resourceProblems({ hugepageLimits: [{ pageSize: '2M', limit: 1 }] }, 1)[0] ?? '', /hugepageLimits\/0\/pageSize: "2M"/);
  assert.match(resourceProblems({ devices: [{ allow: true, access: 'rwx' }] }, 1)[0] ?? '', /devices\/0\/access/);
  assert.match(resourceProblems({ unified: { 'memory.high': '1G' } }, 1)[0] ?? '', /unified: cgroup v2 files cannot be set on a cgroup v1 host/);
  assert.equal(resourceProblems({ unified: { 'memory.high': '1G', 'cgroup.max.depth': '3' } }, 2), []);
  assert.match(resourceProblems({ unified: { '../memory.max': '1' } }, 2)[0] ?? '', /is not a cgroup file name/);
  assert.match(resourceProblems({ unified: { 'cgroup.procs': '1' } }, 2)[0] ?? '', /managed by the runtime/);
});

test('mountinfo parsing finds co-mounted and named v1 hierarchies and cgroup2', () => {
  const known = new Set(['cpu', 'cpuacct', 'memory', 'pids', 'net_cls', 'net_prio']);
  const info = [
    '25 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755',
    '26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate',
    '27 25 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd',
    '28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct',
    '29 25 0:26 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
    '30 25 0:25 / /mnt/cpu\\040again rw - cgroup cgroup rw,cpu,cpuacct',
    '31 25 0:27 / /sys/fs/cgroup/pids rw shared:9 - cgroup cgroup rw,pids',
  ].join('\n');
  const mounts = parseCgroupMounts(info, known);
  assert.equal(mounts.map((m) => [m.fsType, m.mountPoint, m.root, m.controllers.join(',')]), [
    ['cgroup2', '/sys/fs/cgroup/unified', '/', ''],
    ['cgroup', '/sys/fs/cgroup/systemd', '/', 'name=systemd'],
    ['cgroup', '/sys/fs/cgroup/cpu,cpuacct', '/', 'cpu,cpuacct'],
    ['cgroup', '/sys/fs/cgroup/memory', '/docker/abc', 'memory'],
    ['cgroup', '/sys/fs/cgroup/pids', '/', 'pids'],
  ]);
});

test('own cgroup parsing and directory resolution', () => {
  const own = ownCgroups('12:cpu,cpuacct:/user/a\n4:memory:/docker/abc/x\n1:name=systemd:/init.scope\n0::/user.slice\n');
  assert.is(own.get('cpu'), '/user/a');
  assert.is(own.get('cpuacct'), '/user/a');
  assert.is(own.get('name=systemd'), '/init.scope');
  assert.is(own.get(''), '/user.slice');
  const mem = { mountPoint: '/sys/fs/cgroup/memory', root: '/docker/abc' };
  assert.is(hierarchyDir(mem, '/tsrun/c1', own.get('memory')), '/sys/fs/cgroup/memory/tsrun/c1');
  assert.is(hierarchyDir(mem, 'sub/c1', own.get('memory')), '/sys/fs/cgroup/memory/x/sub/c1', 'relative goes under our own cgroup, seen through the bind root');
  assert.is(hierarchyDir({ mountPoint: '/sys/fs/cgroup', root: '/' }, 'c1', '/user.slice'), '/sys/fs/cgroup/user.slice/c1');
});

test('cgroupsPath normalisation', () => {
  assert.is(normaliseCgroupsPath(undefined, 'abc'), '/tsrun/abc');
  assert.is(normaliseCgroupsPath('', 'abc'), '/tsrun/abc');
  assert.is(normaliseCgroupsPath('/a//b/', 'x'), '/a/b');
  assert.is(normaliseCgroupsPath('a/./b', 'x'), 'a/b');
  for (const bad of ['/', '/a/../..', '..', 'system.slice:docker:abc']) {
    try {
      normaliseCgroupsPath(bad, 'x');
      assert.unreachable(`accepted ${bad}`);
    } catch (err) {
      assert.instance(err, RuntimeError);
      assert.match((err as RuntimeError).message, /^\/linux\/cgroupsPath: /);
    }
  }
});

test('blkio and io.stat parsing', () => {
  assert.equal(parseV1Blkio('254:0 Read 4096\n254:0 Write 8192\n254:0 Total 12288\nTotal 12288\n'), [
    { major: 254, minor: 0, op: 'Read', value: 4096 },
    { major: 254, minor: 0, op: 'Write', value: 8192 },
    { major: 254, minor: 0, op: 'Total', value: 12288 },
  ]);
  assert.equal(parseIoStat('8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n'), [
    { major: 8, minor: 0, op: 'Read', value: 100 },
    { major: 8, minor: 0, op: 'Write', value: 200 },
  ]);
  assert.equal(parseIoStat(undefined), []);
});

test.run();
