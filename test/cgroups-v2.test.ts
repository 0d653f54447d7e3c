// Real cgroup v2 on this host's controller-less unified hierarchy
// (/sys/fs/cgroup/unified, hybrid layout) through openCgroup's v2Root option:
// create, processes, freezing, stats, hugetlb, warnings and destroy. The v1
// and general tests are in cgroups.test.ts; shared helpers in
// lib/cgroup-fixtures.ts. The test kills what it spawned by pid, removes every
// cgroup it made and restores the root's cgroup.subtree_control.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openCgroup } from '../src/runtime/cgroups/index.ts';
import { cleanup, hasUnified, newId, quietly, read, start, stop, thrown, UNIFIED, utime, v2test } from './lib/cgroup-fixtures.ts';

if (!hasUnified) console.log(`SKIP cgroup v2 tests: no cgroup2 hierarchy at ${UNIFIED}`);

v2test('v2 on the unified hierarchy: create, processes, freeze, stats, hugetlb, warnings, destroy', async () => {
  const id = newId();
  const rootControl = join(UNIFIED, 'cgroup.subtree_control');
  const enabledBefore = new Set(read(rootControl).split(/\s+/).filter(Boolean));
  const cg = openCgroup(`/${id}/leaf`, id, { forceVersion: 2, v2Root: UNIFIED });
  const top = openCgroup(`/${id}`, id, { forceVersion: 2, v2Root: UNIFIED });
  let child: (ChildProcess & { pid: number }) | undefined;
  try {
    assert.is(cg.version, 2);
    assert.equal(cg.dirs, { unified: join(UNIFIED, id, 'leaf') });
    cg.create();
    assert.ok(existsSync(join(cg.dirs.unified ?? '', 'cgroup.procs')));
    child = start(['sh', '-c', 'read x; while :; do :; done']);
    cg.addProcess(child.pid);
    assert.equal(cg.pids(), [child.pid]);
    assert.equal(top.pids(), [child.pid], 'the parent sees its descendants');
    assert.ok(read(`/proc/${child.pid}/cgroup`).split('\n').includes(`0::/${id}/leaf`));
    child.stdin?.write('go\n');
    await sleep(100);
    cg.freeze();
    assert.ok(cg.isFrozen());
    const before = utime(child.pid);
    await sleep(300);
    assert.is(utime(child.pid), before, 'no cpu time while frozen');
    cg.thaw();
    assert.not.ok(cg.isFrozen());
    const s = cg.stats();
    assert.ok(s.cpu.usageNs > 0, 'cpu.stat works without the cpu controller');
    assert.is(s.pids.current, 1, 'counted from cgroup.procs without the pids controller');
    assert.is(s.memory.limit, 0);
    assert.is(cg.oomKills(), 0);
    // This hierarchy has no memory controller: the error names the file and the fix.
    const mem = thrown(() => cg.apply({ memory: { limit: 64 << 20 } }));
    assert.match(mem.message, /cannot set \/linux\/resources\/memory\/limit: write "67108864" to ".*\/leaf\/memory.max": enoent/);
    assert.match(mem.hint ?? '', /the memory controller is not enabled in .*\/cgroup.subtree_control/);
    const available = read(join(UNIFIED, 'cgroup.controllers')).split(/\s+/);
    if (available.includes('hugetlb') && existsSync('/sys/kernel/mm/hugepages/hugepages-2048kB')) {
      cg.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 4 << 21 }], devices: [{ allow: false, access: 'rwm' }] });
      assert.is(read(join(cg.dirs.unified ?? '', 'hugetlb.2MB.max')), String(4 << 21));
      assert.match(cg.warnings().join('\n'), /devices is not enforced/);
      cg.update({ unified: { 'hugetlb.2MB.max': String(2 << 21) } });
      assert.is(read(join(cg.dirs.unified ?? '', 'hugetlb.2MB.max')), String(2 << 21), 'unified map written as given');
      const size = thrown(() => cg.apply({ hugepageLimits: [{ pageSize: '3MB', limit: 0 }] }));
      assert.match(size.message, /hugepageLimits\/0: write "0" to ".*\/hugetlb.3MB.max": enoent/);
      assert.match(size.hint ?? '', /huge page size/);
    }
  } finally {
    await stop(child);
    await cleanup(cg);
    await cleanup(top);
    // Put the root's subtree_control back as it was (create enabled what it could).
    for (const c of read(rootControl).split(/\s+/).filter(Boolean)) {
      if (!enabledBefore.has(c)) quietly(() => writeFileSync(rootControl, `-${c}`));
    }
  }
  assert.not.ok(existsSync(join(UNIFIED, id)), 'removed');
});

test.run();
