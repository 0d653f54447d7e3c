// The shim's Stats on cgroup v2 (src/shim/stats.ts): a real cgroup on this
// host's controller-less unified hierarchy with a busy process in it, its
// counters encoded as io.containerd.cgroups.v2.Metrics and decoded back with
// the field numbers of containerd's cgroups module; pure parts on sample
// files. The v1 path runs end to end in shim.test.ts (`ctr task metrics`).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openCgroup } from '../src/runtime/cgroups/index.ts';
import { decode } from '../src/shim/messages.ts';
import { metrics, metricsV2 } from '../src/shim/stats.ts';
import { cleanup, newId, start, stop, UNIFIED, v2test } from './lib/cgroup-fixtures.ts';

const MAX_U64 = 18446744073709551615n;

test('metricsV2 reads memory.stat, memory.events, io.stat and limits; "max" is the largest uint64, as containerd reports it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-v2stats-'));
  try {
    const files: Record<string, string> = {
      'cpu.stat': 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\nnr_throttled 2\nthrottled_usec 30\n',
      'memory.stat': 'anon 4096\nfile 8192\ninactive_file 4096\npgfault 11\npgmajfault 1\nworkingset_refault_anon 3\nworkingset_refault_file 4\n',
      'memory.events': 'low 0\nhigh 1\nmax 2\noom 3\noom_kill 4\n',
      'memory.current': '12288\n', 'memory.max': 'max\n', 'memory.peak': '20000\n', 'memory.swap.current': '0\n', 'memory.swap.max': '1048576\n',
      'pids.current': '3\n', 'pids.max': '100\n',
      'io.stat': '8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=5 wbytes=0 rios=1 wios=0\n',
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const m = metricsV2(dir, () => 99) as Record<string, Record<string, unknown>>;
    assert.equal(m.cpu, { usage_usec: 1500, user_usec: 1000, system_usec: 500, nr_periods: 7, nr_throttled: 2, throttled_usec: 30 });
    assert.equal(m.pids, { current: 3, limit: 100 });
    assert.is(m.memory!.anon, 4096);
    assert.is(m.memory!.inactive_file, 4096);
    assert.is(m.memory!.workingset_refault, 7, 'the kernel splits it into _anon and _file since 5.9');
    assert.is(m.memory!.usage, 12288);
    assert.is(m.memory!.usage_limit, MAX_U64.toString());
    assert.is(m.memory!.swap_limit, 1048576);
    assert.is(m.memory!.max_usage, 20000);
    assert.is(m.memory!.slab, 0, 'absent: 0');
    assert.equal(m.memory_events, { low: 0, high: 1, max: 2, oom: 3, oom_kill: 4 });
    assert.equal(m.io, { usage: [{ major: 8, minor: 0, rbytes: 10, wbytes: 20, rios: 1, wios: 2 }, { major: 253, minor: 1, rbytes: 5, wbytes: 0, rios: 1, wios: 0 }] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

v2test('Stats on a real cgroup v2: io.containerd.cgroups.v2.Metrics with the CPU time and processes of the cgroup', async () => {
  const id = newId();
  const cg = openCgroup(`/${id}`, id, { forceVersion: 2, v2Root: UNIFIED });
  let child: Awaited<ReturnType<typeof start>> | undefined;
  try {
    cg.create();
    child = start(['sh', '-c', 'read x; while :; do :; done']);
    cg.addProcess(child.pid);
    child.stdin?.write('go\n');
    await sleep(300);
    const any = metrics(cg) as { type_url: string; value: Uint8Array };
    assert.is(any.type_url, 'io.containerd.cgroups.v2.Metrics');
    const m = decode('io.containerd.cgroups.v2.Metrics', any.value) as { cpu: { usage_usec: number; user_usec: number }; pids: { current: number } };
    assert.ok(m.cpu.usage_usec > 0, `CPU time counted: ${JSON.stringify(m.cpu)}`);
    assert.ok(m.cpu.user_usec > 0);
    assert.is(m.pids.current, 1, 'one process (pids.current, or counted where the pids controller is not enabled)');
  } finally {
    await stop(child);
    await cleanup(cg);
  }
});

test('the largest uint64 survives the wire (protobufjs with long.js, as bundled)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-v2stats-'));
  try {
    writeFileSync(join(dir, 'memory.max'), 'max\n');
    const any = { value: (metrics({ version: 2, dirs: { unified: dir }, pids: () => [] } as never) as { value: Uint8Array }).value };
    const m = decode('io.containerd.cgroups.v2.Metrics', any.value) as { memory: { usage_limit: number | string | bigint } };
    assert.is(BigInt(String(m.memory.usage_limit)) > 2n ** 63n, true, String(m.memory.usage_limit));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
