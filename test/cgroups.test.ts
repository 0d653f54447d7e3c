// Real cgroups on this host: v1 hierarchies (hybrid layout) for every
// resource, processes, freezing, stats, a pids limit against a fork loop and
// a memory limit against a hog. The v2 tests (the controller-less unified
// hierarchy) are in cgroups-v2.test.ts; shared helpers in
// lib/cgroup-fixtures.ts. Each test kills what it spawned by pid and removes
// every cgroup it made.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { detectCgroupVersion, openCgroup } from '../src/runtime/cgroups/index.ts';
import { cleanup, hasUnified, hasV1, newId, quietly, read, realDisk, start, stop, thrown, uniqueDirs, UNIFIED, utime, v1test } from './lib/cgroup-fixtures.ts';

if (!hasV1) console.log('SKIP cgroup v1 tests: no v1 memory hierarchy at /sys/fs/cgroup/memory');

test('detectCgroupVersion follows /sys/fs/cgroup/cgroup.controllers', () => {
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
  assert.is(detectCgroupVersion(), v2 ? 2 : 1);
  if (!v2) {
    const err = thrown(() => openCgroup(undefined, newId(), { forceVersion: 2 }));
    assert.match(err.message, /^\/sys\/fs\/cgroup is not a cgroup v2 hierarchy/);
  }
});

v1test('default path is /tsrun/<id>, one dir per controller, nothing made until create', () => {
  const id = newId();
  const cg = openCgroup(undefined, id, { forceVersion: 1 });
  assert.is(cg.version, 1);
  assert.is(cg.path, `/tsrun/${id}`);
  assert.is(cg.dirs.memory, `/sys/fs/cgroup/memory/tsrun/${id}`);
  assert.is(cg.dirs.pids, `/sys/fs/cgroup/pids/tsrun/${id}`);
  assert.ok(cg.dirs.cpu && cg.dirs.cpuacct && cg.dirs.freezer && cg.dirs.devices, 'the usual controllers are found');
  if (hasUnified) assert.is(cg.dirs.unified, join(UNIFIED, 'tsrun', id), 'hybrid mirror');
  assert.not.ok(existsSync(cg.dirs.memory ?? '/'), 'opening creates nothing');
  assert.equal(cg.pids(), [], 'a missing cgroup has no pids');
  cg.destroy(); // idempotent on a cgroup that never existed
});

v1test('create makes every hierarchy and fills cpuset; destroy removes them all', async () => {
  const id = newId();
  const cg = openCgroup(`/${id}/nested/leaf`, id, { forceVersion: 1 });
  const top = openCgroup(`/${id}`, id, { forceVersion: 1 });
  try {
    cg.create();
    cg.create(); // idempotent
    for (const dir of uniqueDirs(cg)) assert.ok(existsSync(join(dir, 'cgroup.procs')), `${dir} exists`);
    const cpuset = cg.dirs.cpuset;
    assert.ok(cpuset);
    assert.is(read(join(cpuset, 'cpuset.cpus')), read('/sys/fs/cgroup/cpuset/cpuset.cpus'), 'cpus copied down');
    assert.is(read(join(cpuset, 'cpuset.mems')), read('/sys/fs/cgroup/cpuset/cpuset.mems'), 'mems copied down');
    assert.is(read(join(cpuset, '..', 'cpuset.cpus')), read('/sys/fs/cgroup/cpuset/cpuset.cpus'), 'intermediate level too');
    cg.destroy();
    for (const dir of uniqueDirs(cg)) assert.not.ok(existsSync(dir), `${dir} removed`);
    cg.destroy();
  } finally {
    await cleanup(cg);
    await cleanup(top);
  }
  for (const dir of uniqueDirs(top)) assert.not.ok(existsSync(dir), `${dir} removed`);
});

v1test('apply writes each v1 resource and the files read back', async () => {
  const id = newId();
  const cg = openCgroup(`/${id}`, id, { forceVersion: 1 });
  const disk = realDisk();
  try {
    cg.create();
    cg.apply({
      cpu: { shares: 512, quota: 50000, period: 200000, burst: 1000, cpus: '0', mems: '0', idle: 0 },
      memory: { limit: 64 << 20, reservation: 32 << 20, swap: 96 << 20, swappiness: 10, disableOOMKiller: true, kernelTCP: 16 << 20, kernel: 1 << 20 },
      pids: { limit: 42 },
      devices: [
        { allow: false, access: 'rwm' },
        { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
        { allow: true, type: 'c', major: 136, minor: null, access: 'rw' },
      ],
      ...(disk ? { blockIO: { weight: 500, throttleReadBpsDevice: [{ ...disk, rate: 1048576 }], throttleWriteIOPSDevice: [{ ...disk, rate: 100 }] } } : {}),
    });
    const d = cg.dirs;
    const f = (c: string, name: string) => read(join(d[c] ?? '/nonexistent', name));
    assert.is(f('cpu', 'cpu.shares'), '512');
    assert.is(f('cpu', 'cpu.cfs_quota_us'), '50000');
    assert.is(f('cpu', 'cpu.cfs_period_us'), '200000');
    assert.is(f('cpu', 'cpu.cfs_burst_us'), '1000');
    assert.is(f('cpuset', 'cpuset.cpus'), '0');
    assert.is(f('cpuset', 'cpuset.mems'), '0');
    assert.is(f('memory', 'memory.limit_in_bytes'), String(64 << 20));
    assert.is(f('memory', 'memory.soft_limit_in_bytes'), String(32 << 20));
    assert.is(f('memory', 'memory.memsw.limit_in_bytes'), String(96 << 20));
    assert.is(f('memory', 'memory.swappiness'), '10');
    assert.match(f('memory', 'memory.oom_control'), /oom_kill_disable 1/);
    assert.is(f('memory', 'memory.kmem.tcp.limit_in_bytes'), String(16 << 20));
    assert.is(f('pids', 'pids.max'), '42');
    assert.equal(f('devices', 'devices.list').split('\n'), ['c 1:3 rwm', 'c 136:* rw']);
    if (disk) {
      const bfq = existsSync(join(d.blkio ?? '', 'blkio.weight')) ? 'blkio.weight' : 'blkio.bfq.weight';
      assert.match(f('blkio', bfq), /^(default )?500$/m);
      assert.is(f('blkio', 'blkio.throttle.read_bps_device'), `${disk.major}:${disk.minor} 1048576`);
      assert.is(f('blkio', 'blkio.throttle.write_iops_device'), `${disk.major}:${disk.minor} 100`);
    }
    assert.equal(cg.warnings().length, 1, 'kernel memory is a warning');
    assert.match(cg.warnings()[0] ?? '', /memory\/kernel is ignored/);
    // Unlimited values and a pids limit of 0 read back as the kernel's "no limit".
    cg.update({ cpu: { quota: -1 }, memory: { limit: -1 }, pids: { limit: 0 } });
    assert.is(f('cpu', 'cpu.cfs_quota_us'), '-1');
    assert.is(f('memory', 'memory.limit_in_bytes'), f('memory', 'memory.memsw.limit_in_bytes'), 'both lifted');
    assert.ok(Number(f('memory', 'memory.limit_in_bytes')) > 2 ** 62);
    assert.is(f('pids', 'pids.max'), 'max');
  } finally {
    await cleanup(cg);
  }
  for (const dir of uniqueDirs(cg)) assert.not.ok(existsSync(dir));
});

v1test('apply errors name the field, file and errno; problems come first', async () => {
  const id = newId();
  const cg = openCgroup(`/${id}`, id, { forceVersion: 1 });
  try {
    cg.create();
    const problem = thrown(() => cg.apply({ memory: { limit: 2000 << 10, swap: 1000 << 10 } }));
    assert.match(problem.message, /^\/linux\/resources\/memory\/swap: 1024000 is below memory.limit 2048000/);
    assert.is(read(join(cg.dirs.memory ?? '', 'memory.limit_in_bytes')) !== String(2000 << 10), true, 'nothing written');
    assert.match(thrown(() => cg.apply({ unified: { 'memory.high': '1M' } })).message, /\/linux\/resources\/unified: cgroup v2 files/);
    const bad = thrown(() => cg.apply({ cpu: { cpus: '63' } }));
    assert.match(bad.message, /^cannot set \/linux\/resources\/cpu\/cpus: write "63" to ".*\/cpuset.cpus": e[a-z]+$/);
    assert.type(bad.errno, 'number');
    // CFQ's leaf weights are gone from current kernels (neither blkio.leaf_weight nor a bfq twin).
    const leaf = thrown(() => cg.apply({ blockIO: { leafWeight: 500 } }));
    assert.match(leaf.message, /^cannot set \/linux\/resources\/blockIO\/leafWeight: .*\/blkio\.leaf_weight does not exist \(nor blkio\.bfq\.leaf_weight\)/);
    assert.match(leaf.hint ?? '', /bfq/);
    if (!cg.dirs.hugetlb) {
      const huge = thrown(() => cg.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 2 << 20 }] }));
      assert.match(huge.message, /hugepageLimits: the hugetlb cgroup controller is not mounted/);
    }
  } finally {
    await cleanup(cg);
  }
});

v1test('update orders limit and memsw writes in both directions and touches only what is given', async () => {
  const id = newId();
  const cg = openCgroup(`/${id}`, id, { forceVersion: 1 });
  const mem = (name: string) => read(join(cg.dirs.memory ?? '', name));
  try {
    cg.create();
    cg.apply({ memory: { limit: 100 << 20, swap: 200 << 20 }, cpu: { shares: 300 } });
    cg.update({ memory: { limit: 300 << 20, swap: 400 << 20 } }); // raise above the old memsw
    assert.is(mem('memory.limit_in_bytes'), String(300 << 20));
    assert.is(mem('memory.memsw.limit_in_bytes'), String(400 << 20));
    cg.update({ memory: { limit: 50 << 20, swap: 60 << 20 } }); // lower below the old limit
    assert.is(mem('memory.limit_in_bytes'), String(50 << 20));
    assert.is(mem('memory.memsw.limit_in_bytes'), String(60 << 20));
    cg.update({ memory: { swap: 70 << 20 } }); // swap alone is fine in update
    assert.is(mem('memory.memsw.limit_in_bytes'), String(70 << 20));
    cg.update({ pids: { limit: 9 } });
    assert.is(read(join(cg.dirs.cpu ?? '', 'cpu.shares')), '300', 'cpu untouched');
    assert.is(mem('memory.limit_in_bytes'), String(50 << 20), 'memory untouched');
    const over = thrown(() => cg.update({ memory: { limit: 100 << 20 } }));
    assert.match(over.message, /memory.limit_in_bytes": einval/);
    assert.match(over.hint ?? '', /set memory.swap as well/);
  } finally {
    await cleanup(cg);
  }
});

v1test('addProcess puts a process in every hierarchy; pids() sees nested cgroups', async () => {
  const id = newId();
  const cg = openCgroup(`/${id}`, id, { forceVersion: 1 });
  let child: (ChildProcess & { pid: number }) | undefined;
  let nested: string | undefined;
  try {
    cg.create();
    child = start(['sleep', '60']);
    cg.addProcess(child.pid);
    assert.equal(cg.pids(), [child.pid]);
    const lines = read(`/proc/${child.pid}/cgroup`).split('\n');
    for (const c of ['memory', 'pids', 'freezer', 'cpuset']) {
      assert.ok(lines.some((l) => l.endsWith(`:${c}:/${id}`) || new RegExp(`:(.*,)?${c}(,.*)?:/${id}$`).test(l)), `in ${c}`);
    }
    if (cg.dirs.unified) assert.ok(lines.includes(`0::/${id}`), 'in the hybrid v2 mirror');
    nested = join(cg.dirs.pids ?? '', 'inner');
    mkdirSync(nested);
    writeFileSync(join(nested, 'cgroup.procs'), String(child.pid));
    assert.equal(cg.pids(), [child.pid], 'still found one level down');
    const gone = thrown(() => cg.addProcess(2 ** 22 + 1));
    assert.match(gone.message, /cgroup.procs": esrch/);
  } finally {
    await stop(child);
    await cleanup(cg);
  }
  if (nested) assert.not.ok(existsSync(nested), 'children removed first');
});

v1test('freeze stops a busy loop and thaw lets it run again', async () => {
  const id = newId();
  const cg = openCgroup(`/${id}`, id, { forceVersion: 1 });
  let child: (ChildProcess & { pid: number }) | undefined;
  try {
    cg.create();
    child = start(['sh', '-c', 'read x; while :; do :; done']);
    cg.addProcess(child.pid);
    child.stdin?.write('go\n');
    await sleep(100);
    cg.freeze();
    assert.ok(cg.isFrozen());
    assert.is(read(join(cg.dirs.freezer ?? '', 'freezer.state')), 'FROZEN');
    const before = utime(child.pid);
    await sleep(300);
    assert.is(utime(child.pid), before, 'no cpu time while frozen');
    cg.thaw();
    assert.not.ok(cg.isFrozen());
    const thawed = utime(child.pid);
    await sleep(300);
    assert.ok(utime(child.pid) > thawed, 'runs again after thaw');
  } finally {
    await cleanup(cg);
    await stop(child);
  }
});

v1test('stats reports numbers for cpu, memory, pids and blkio', async () => {
  const id = newId();
  const cg = openCgroup(`/${id}`, id, { forceVersion: 1 });
  let child: (ChildProcess & { pid: number }) | undefined;
  try {
    cg.create();
    cg.apply({ memory: { limit: 256 << 20 }, pids: { limit: 50 } });
    child = start(['sh', '-c', 'read x; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo done; read y']);
    cg.addProcess(child.pid);
    child.stdin?.write('go\n');
    await new Promise((r) => child?.stdout?.once('data', r));
    const s = cg.stats();
    assert.ok(s.cpu.usageNs > 0, 'cpu used');
    assert.type(s.cpu.userNs, 'number');
    assert.type(s.cpu.kernelNs, 'number');
    assert.type(s.cpu.throttledPeriods, 'number');
    assert.ok(s.memory.usage > 0, 'memory used');
    assert.is(s.memory.limit, 256 << 20);
    assert.type(s.memory.cache, 'number');
    assert.type(s.memory.maxUsage, 'number');
    assert.type(s.memory.failcnt, 'number');
    assert.is(s.pids.current, 1);
    assert.is(s.pids.limit, 50);
    assert.ok(Array.isArray(s.blkio.ioServiceBytesRecursive));
    assert.is(cg.oomKills(), 0);
  } finally {
    await stop(child);
    await cleanup(cg);
  }
});

v1test('a pids limit stops a fork loop', async () => {
  const id = newId();
  const cg = openCgroup(`/${id}`, id, { forceVersion: 1 });
  let child: (ChildProcess & { pid: number }) | undefined;
  try {
    cg.create();
    cg.apply({ pids: { limit: 4 } });
    child = start(['sh', '-c', 'read x; for i in 1 2 3 4 5 6 7 8 9 10; do /bin/busybox sleep 30 & done; echo looped']);
    cg.addProcess(child.pid);
    let stderr = '';
    child.stderr?.on('data', (s: string) => { stderr += s; });
    // ash gives up on the first failed fork, so either the loop ends or the shell does.
    const settled = new Promise((r) => {
      child?.stdout?.once('data', r);
      child?.once('exit', r);
    });
    child.stdin?.write('go\n');
    await settled;
    const s = cg.stats();
    assert.ok(s.pids.current <= 4, `pids.current ${s.pids.current} <= 4`);
    assert.ok(cg.pids().length <= 4);
    assert.match(read(join(cg.dirs.pids ?? '', 'pids.events')), /max [1-9]/, 'the limit was hit');
    await sleep(50);
    assert.match(stderr, /fork/i, 'the shell saw fork fail');
  } finally {
    await stop(child);
    await cleanup(cg);
  }
});

v1test('a memory limit OOM-kills a hog and oomKills counts it', async () => {
  const id = newId();
  const cg = openCgroup(`/${id}`, id, { forceVersion: 1 });
  let child: (ChildProcess & { pid: number }) | undefined;
  try {
    cg.create();
    cg.apply({ memory: { limit: 32 << 20, swap: 32 << 20 } });
    assert.is(cg.oomKills(), 0);
    child = start(['sh', '-c', 'read x; /bin/busybox head -c 200000000 /dev/zero | /bin/busybox tail -c 150000000 >/dev/null; echo survived']);
    cg.addProcess(child.pid);
    const exited = new Promise<string | null>((r) => child?.once('exit', (_code, sig) => r(sig)));
    child.stdin?.write('go\n');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((r) => { timer = setTimeout(() => r('timeout'), 30_000); });
    const killed = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    assert.ok(cg.oomKills() > 0, `oom kills ${cg.oomKills()}`);
    assert.is(cg.stats().memory.oomKills, cg.oomKills());
    assert.ok(killed === 'SIGKILL' || killed === null, `shell ended by ${killed}`);
  } finally {
    await stop(child);
    await cleanup(cg);
  }
});

v1test('a relative cgroupsPath lands under our own cgroup in each hierarchy', async () => {
  const id = newId();
  const cg = openCgroup(`${id}/c`, id, { forceVersion: 1 });
  try {
    assert.is(cg.path, `${id}/c`);
    const memOwn = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/m.exec(read('/proc/self/cgroup'))?.[1] ?? '/';
    assert.is(cg.dirs.memory, join('/sys/fs/cgroup/memory', memOwn, id, 'c'));
    cg.create();
    assert.ok(existsSync(cg.dirs.memory ?? ''));
  } finally {
    await cleanup(cg);
    for (const dir of uniqueDirs(cg)) quietly(() => rmdirSync(join(dir, '..'))); // the parent this test made
  }
  for (const dir of uniqueDirs(cg)) assert.not.ok(existsSync(join(dir, '..')), `${dir}/.. removed`);
});

test.run();
