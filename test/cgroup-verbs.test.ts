// The cgroup-facing verbs containerd and podman drive, against the real
// kernel: ps, pause/resume, events (--stats, streaming, OOM), update,
// kill --all, and delete --force of a paused container.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../src/runtime/oci-types.ts';
import type { CgroupStats } from '../src/runtime/cgroups/types.ts';
import { oomEvent, runcStats, statsEvent } from '../src/runtime/stats-json.ts';
import { parseDuration } from '../src/runtime/verbs/events.ts';
import { leftovers, sandbox, sleepMs, statusOf, TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';

const sb = sandbox();
test.after(async () => {
  await sb.cleanup();
});

const V2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
/** A file of the container's cgroup: v1 knob names, mapped to v2 when the host is v2. */
function cgFile(id: string, controller: string, v1: string, v2: string): string {
  return V2 ? `/sys/fs/cgroup/tsrun/${id}/${v2}` : `/sys/fs/cgroup/${controller}/tsrun/${id}/${v1}`;
}
const readCg = (id: string, controller: string, v1: string, v2: string) => readFileSync(cgFile(id, controller, v1, v2), 'utf8').trim();

/** A host directory bind-mounted read-write at /tmp in the container, for markers and scripts. */
function shared(c: Config): string {
  const dir = mkdtempSync(join(sb.dir, 'shared-'));
  c.mounts!.push({ destination: '/tmp', type: 'bind', source: dir, options: ['rbind', 'rw'] });
  return dir;
}

async function runDetached(edit: (c: Config) => void): Promise<{ id: string; pid: number }> {
  const id = uniqueId('cgv');
  const r = await sb.tsrun(['run', '--detach', '--bundle', sb.bundle(edit), id]);
  assert.is(r.exitCode, 0, r.stderr);
  return { id, pid: JSON.parse((await sb.tsrun(['state', id])).stdout).pid };
}

async function psJson(id: string): Promise<number[]> {
  const r = await sb.tsrun(['ps', '--format', 'json', id]);
  assert.is(r.exitCode, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** utime (field 14 of /proc/PID/stat) in clock ticks. */
function utime(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[11]);
}

/** A tsrun that keeps running (events): stdout to a file we can poll. */
function background(args: string[]): { out: () => string; exit: Promise<number> } {
  const file = join(sb.dir, `bg-${Math.random().toString(36).slice(2)}.out`);
  const fd = openSync(file, 'w+');
  const child = spawn(TSRUN, ['--root', sb.root, ...args], { stdio: ['ignore', fd, 'inherit'] });
  closeSync(fd);
  const exit = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  return { out: () => readFileSync(file, 'utf8'), exit };
}

test('ps lists the init and its children as host pids in the container\'s pid namespace, as json and as a table', async () => {
  const { id, pid } = await runDetached((c) => {
    c.process!.args = ['sh', '-c', 'sleep 30 & sleep 30 & wait'];
  });
  assert.ok(await waitFor(async () => (await psJson(id)).length >= 4), 'tsrun-init, sh and two sleeps');
  const pids = await psJson(id);
  assert.ok(pids.includes(pid), 'the init is listed');
  const containerNs = readlinkSync(`/proc/${pid}/ns/pid`);
  assert.is.not(containerNs, readlinkSync('/proc/self/ns/pid'));
  for (const p of pids) assert.is(readlinkSync(`/proc/${p}/ns/pid`), containerNs, `pid ${p} is in the container`);

  const table = await sb.tsrun(['ps', id]);
  assert.is(table.exitCode, 0, table.stderr);
  const [header, ...rows] = table.stdout.split('\n');
  const cols = header!.trim().split(/\s+/);
  assert.ok(cols.includes('PID') && cols.includes('CMD'), header);
  const listed = rows.map((r) => Number(r.trim().split(/\s+/)[cols.indexOf('PID')]));
  assert.equal(listed.sort((a, b) => a - b), pids);
  assert.ok(rows.some((r) => /sleep 30/.test(r)), table.stdout);
  // As with runc, what follows the id is passed to ps in place of -ef.
  const custom = await sb.tsrun(['ps', id, '--', '-o', 'pid,args']);
  assert.is(custom.exitCode, 0, custom.stderr);
  const [h, ...lines] = custom.stdout.split('\n');
  assert.equal(h!.trim().split(/\s+/), ['PID', 'COMMAND']);
  assert.equal(lines.map((l) => Number(l.trim().split(/\s+/)[0])).sort((a, b) => a - b), pids);

  await sb.tsrun(['kill', id, 'KILL']);
  assert.ok(await waitFor(async () => (await statusOf(sb, id)) === 'stopped'));
  assert.ok(await waitFor(async () => (await psJson(id)).length === 0), 'a stopped container lists no processes');
  await sb.tsrun(['delete', id]);
  const missing = await sb.tsrun(['ps', id]);
  assert.is(missing.exitCode, 1);
  assert.match(missing.stderr, `container "${id}" does not exist`);
});

test('pause freezes a busy loop (its CPU time stops), state says paused; resume runs it again', async () => {
  const { id, pid } = await runDetached((c) => {
    c.process!.args = ['sh', '-c', 'while :; do :; done'];
  });
  let busy = 0;
  assert.ok(await waitFor(async () => {
    busy = (await psJson(id)).find((p) => p !== pid && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('while')) ?? 0;
    return busy > 0;
  }), 'the busy shell is found');
  assert.ok(await waitFor(() => utime(busy) > 0), 'the loop burns CPU');

  const p = await sb.tsrun(['pause', id]);
  assert.is(p.exitCode, 0, p.stderr);
  assert.is(await statusOf(sb, id), 'paused');
  assert.is(readCg(id, 'freezer', 'freezer.state', 'cgroup.freeze'), V2 ? '1' : 'FROZEN');
  const frozenAt = utime(busy);
  await sleepMs(300);
  assert.is(utime(busy), frozenAt, 'no CPU time while frozen');

  const r = await sb.tsrun(['resume', id]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(await statusOf(sb, id), 'running');
  assert.ok(await waitFor(() => utime(busy) > frozenAt), 'CPU time grows again');
  await sb.tsrun(['delete', '--force', id]);
});

test('pause and resume in the wrong state are clear errors', async () => {
  const { id } = await runDetached(() => {});
  const resume = await sb.tsrun(['resume', id]);
  assert.is(resume.exitCode, 1);
  assert.match(resume.stderr, `cannot resume container "${id}": it is running`);
  assert.is((await sb.tsrun(['pause', id])).exitCode, 0);
  const twice = await sb.tsrun(['pause', id]);
  assert.is(twice.exitCode, 1);
  assert.match(twice.stderr, `cannot pause container "${id}": it is paused`);
  assert.is((await sb.tsrun(['resume', id])).exitCode, 0);
  await sb.tsrun(['kill', id, 'KILL']);
  assert.ok(await waitFor(async () => (await statusOf(sb, id)) === 'stopped'));
  const stopped = await sb.tsrun(['pause', id]);
  assert.is(stopped.exitCode, 1);
  assert.match(stopped.stderr, `cannot pause container "${id}": it is stopped`);
  await sb.tsrun(['delete', id]);
  const missing = await sb.tsrun(['resume', 'no-such-container']);
  assert.is(missing.exitCode, 1);
  assert.match(missing.stderr, 'container "no-such-container" does not exist');
});

test('delete --force removes a paused container', async () => {
  const { id, pid } = await runDetached(() => {});
  assert.is((await sb.tsrun(['pause', id])).exitCode, 0);
  const del = await sb.tsrun(['delete', '--force', id]);
  assert.is(del.exitCode, 0, del.stderr);
  assert.not.ok(existsSync(join(sb.root, id)));
  assert.ok(await waitFor(() => !existsSync(`/proc/${pid}`)), 'the init is gone');
  assert.not.ok(existsSync(cgFile(id, 'freezer', '', '')), 'the cgroup is gone');
});

test('events --stats prints one runc-shaped stats object with live numbers', async () => {
  const { id } = await runDetached((c) => {
    c.process!.args = ['sh', '-c', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 30'];
  });
  const r = await sb.tsrun(['events', '--stats', id]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.stdout.split('\n').length, 1, 'one line');
  const ev = JSON.parse(r.stdout);
  assert.is(ev.type, 'stats');
  assert.is(ev.id, id);
  const d = ev.data;
  assert.ok(d.cpu.usage.total > 0, 'cpu total');
  assert.type(d.cpu.usage.kernel, 'number');
  assert.type(d.cpu.usage.user, 'number');
  assert.type(d.cpu.throttling, 'object');
  assert.ok(d.memory.usage.usage > 0, 'memory usage');
  assert.ok(d.memory.usage.limit > 0, 'no limit is reported as the kernel\'s maximum, not 0');
  assert.type(d.memory.usage.failcnt, 'number');
  for (const k of ['swap', 'kernel', 'kernelTCP']) assert.type(d.memory[k].limit, 'number', k);
  assert.ok(d.pids.current >= 1, 'pids current');
  assert.type(d.blkio, 'object');
  assert.equal(d.hugetlb, {});
  await sb.tsrun(['delete', '--force', id]);
});

test('events streams a stats line per --interval and exits when the container stops', async () => {
  const { id } = await runDetached(() => {});
  const ev = background(['events', '--interval', '200ms', id]);
  assert.ok(await waitFor(() => ev.out().split('\n').filter(Boolean).length >= 2, 10_000), 'two lines');
  for (const line of ev.out().split('\n').filter(Boolean)) {
    const e = JSON.parse(line);
    assert.is(e.type, 'stats');
    assert.is(e.id, id);
    assert.ok(e.data.pids.current >= 1);
  }
  await sb.tsrun(['kill', id, 'KILL']);
  assert.is(await ev.exit, 0, 'events ends by itself');
  await sb.tsrun(['delete', id]);
});

test('events reports an OOM kill in a container with a 32 MiB memory limit', async () => {
  let dir = '';
  const { id } = await runDetached((c) => {
    dir = shared(c);
    c.linux!.resources = { ...c.linux!.resources, memory: { limit: 32 * 2 ** 20 } };
    // tail keeps the newline-free input whole, so it grows past the limit.
    c.process!.args = ['sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.05; done; head -c 200m /dev/zero | tail; sleep 30'];
  });
  assert.is(readCg(id, 'memory', 'memory.limit_in_bytes', 'memory.max'), String(32 * 2 ** 20));
  const ev = background(['events', '--interval', '200ms', id]);
  assert.ok(await waitFor(() => ev.out().includes('"type":"stats"'), 10_000), 'events is watching');
  writeFileSync(join(dir, 'go'), '');
  assert.ok(await waitFor(() => ev.out().includes(`{"type":"oom","id":"${id}"}`), 15_000), ev.out().slice(-300));
  await sb.tsrun(['kill', id, 'KILL']);
  assert.is(await ev.exit, 0);
  await sb.tsrun(['delete', id]);
});

test('events: bad intervals and stopped containers are refused; Go durations parse', async () => {
  assert.is(parseDuration('5s'), 5000);
  assert.is(parseDuration('500ms'), 500);
  assert.is(parseDuration('1m'), 60_000);
  assert.is(parseDuration('1m30s'), 90_000);
  assert.is(parseDuration('1.5h'), 5_400_000);
  assert.is(parseDuration('250us'), 0.25);
  const { id } = await runDetached(() => {});
  for (const bad of ['5', '5x', '0s', '-1s', 's']) {
    const r = await sb.tsrun(['events', '--interval', bad, id]);
    assert.is(r.exitCode, 2, bad);
    assert.match(r.stderr, `--interval: ${JSON.stringify(bad)}`);
  }
  await sb.tsrun(['kill', id, 'KILL']);
  assert.ok(await waitFor(async () => (await statusOf(sb, id)) === 'stopped'));
  const r = await sb.tsrun(['events', '--stats', id]);
  assert.is(r.exitCode, 1);
  assert.match(r.stderr, `cannot read events of container "${id}": it is stopped`);
  await sb.tsrun(['delete', id]);
});

test('update changes the memory and pids limits in the cgroup files', async () => {
  const { id } = await runDetached(() => {});
  const r = await sb.tsrun(['update', '--memory', '64m', '--pids-limit', '10', id]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(readCg(id, 'memory', 'memory.limit_in_bytes', 'memory.max'), '67108864');
  assert.is(readCg(id, 'pids', 'pids.max', 'pids.max'), '10');
  const lift = await sb.tsrun(['update', '--memory', '-1', '--pids-limit', '-1', id]);
  assert.is(lift.exitCode, 0, lift.stderr);
  assert.is(readCg(id, 'pids', 'pids.max', 'pids.max'), 'max');
  assert.ok(Number(readCg(id, 'memory', 'memory.limit_in_bytes', 'memory.max').replace('max', 'Infinity')) > 2 ** 62, 'memory unlimited again');
  await sb.tsrun(['delete', '--force', id]);
});

test('update --resources - reads linux.resources from stdin; flags override it; device rules are left alone', async () => {
  const { id } = await runDetached(() => {});
  const devicesBefore = V2 ? '' : readCg(id, 'devices', 'devices.list', '');
  // The shape containerd sends: the whole linux.resources, devices included.
  const doc = { devices: [{ allow: false, access: 'rwm' }], memory: { limit: 67108864, swap: 134217728 }, cpu: { shares: 512 }, pids: { limit: 50 } };
  const r = await execa(TSRUN, ['--root', sb.root, 'update', '--resources', '-', '--pids-limit', '20', id], { input: JSON.stringify(doc), reject: false });
  assert.is(r.exitCode, 0, String(r.stderr));
  assert.is(readCg(id, 'memory', 'memory.limit_in_bytes', 'memory.max'), '67108864');
  if (!V2) assert.is(readCg(id, 'memory', 'memory.memsw.limit_in_bytes', ''), '134217728');
  assert.is(readCg(id, 'cpu', 'cpu.shares', 'cpu.weight'), V2 ? '59' : '512');
  assert.is(readCg(id, 'pids', 'pids.max', 'pids.max'), '20', 'the flag wins over the document');
  if (!V2) assert.is(readCg(id, 'devices', 'devices.list', ''), devicesBefore);

  const file = join(sb.dir, 'resources.json');
  writeFileSync(file, JSON.stringify({ pids: { limit: 30 } }));
  assert.is((await sb.tsrun(['update', '-r', file, id])).exitCode, 0);
  assert.is(readCg(id, 'pids', 'pids.max', 'pids.max'), '30');
  await sb.tsrun(['delete', '--force', id]);
});

test('update refuses bad input and stopped containers with clear errors', async () => {
  const { id } = await runDetached(() => {});
  const cases: Array<[string[], number, string | RegExp]> = [
    [['update', id], 2, '"tsrun update" needs --resources or a limit flag'],
    [['update', '--memory', '12x', id], 2, '--memory: "12x" is not a size in bytes'],
    [['update', '--cpu-shares', '-3', id], 2, '--cpu-shares: "-3" is not a non-negative integer'],
    [['update', '--cpu-quota', '10', id], 1, '/linux/resources/cpu/quota: 10 is below the kernel minimum'],
    [['update', '--cpuset-cpus', 'zero', id], 1, '/linux/resources/cpu/cpus: "zero" is not a list'],
    [['update', '--resources', join(sb.dir, 'missing.json'), id], 1, /read resources .*missing\.json.*enoent/],
  ];
  for (const [args, code, message] of cases) {
    const r = await sb.tsrun(args);
    assert.is(r.exitCode, code, args.join(' '));
    assert.match(r.stderr, message);
  }
  const typed = await execa(TSRUN, ['--root', sb.root, 'update', '-r', '-', id], { input: '{"memory":{"limit":"64m"}}', reject: false });
  assert.is(typed.exitCode, 1);
  assert.match(String(typed.stderr), '/linux/resources/memory/limit');
  const notJson = await execa(TSRUN, ['--root', sb.root, 'update', '-r', '-', id], { input: '{memory', reject: false });
  assert.is(notJson.exitCode, 1);
  assert.match(String(notJson.stderr), 'resources from stdin: invalid JSON');
  await sb.tsrun(['kill', id, 'KILL']);
  assert.ok(await waitFor(async () => (await statusOf(sb, id)) === 'stopped'));
  const stopped = await sb.tsrun(['update', '--pids-limit', '5', id]);
  assert.is(stopped.exitCode, 1);
  assert.match(stopped.stderr, `cannot update container "${id}": it is stopped`);
  await sb.tsrun(['delete', id]);
});

test('a pids limit set by update stops a fork loop in the container', async () => {
  let dir = '';
  const { id } = await runDetached((c) => {
    dir = shared(c);
    c.process!.args = ['sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.05; done; i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done 2>/tmp/err; wait'];
  });
  assert.is((await sb.tsrun(['update', '--pids-limit', '6', id])).exitCode, 0);
  writeFileSync(join(dir, 'go'), '');
  assert.ok(await waitFor(() => existsSync(join(dir, 'err')) && readFileSync(join(dir, 'err'), 'utf8').includes('fork')), 'a fork failed');
  assert.ok(Number(readCg(id, 'pids', 'pids.current', 'pids.current')) <= 6);
  if (!V2) assert.match(readCg(id, 'pids', 'pids.events', ''), /^max [1-9]/, 'the kernel counted refused forks');
  await sb.tsrun(['delete', '--force', id]);
});

test('kill --all signals every process of the container, not just the init', async () => {
  let dir = '';
  const { id } = await runDetached((c) => {
    dir = shared(c);
    // Each shell records the USR1 it handles; the sleeps it runs just die of it.
    writeFileSync(join(dir, 'child.sh'), 'trap \'echo $$ > /tmp/got.$$\' USR1\ntouch /tmp/ready.$$\nwhile :; do sleep 0.05; done\n');
    writeFileSync(join(dir, 'main.sh'), 'trap \'echo main > /tmp/got.main\' USR1\n'
      + 'for i in 1 2 3; do sh /tmp/child.sh & done\nwhile :; do sleep 0.05; done\n');
    c.process!.args = ['sh', '/tmp/main.sh'];
  });
  const ready = () => readdirSync(dir).filter((f) => f.startsWith('ready.')).map((f) => f.slice('ready.'.length));
  assert.ok(await waitFor(() => ready().length === 3, 10_000), 'three children are ready');
  const got = () => readdirSync(dir).filter((f) => f.startsWith('got.'));
  // Without --all the signal goes to the init, which passes it to its child only.
  assert.is((await sb.tsrun(['kill', id, 'USR1'])).exitCode, 0);
  assert.ok(await waitFor(() => existsSync(join(dir, 'got.main'))), 'the init\'s shell got USR1');
  assert.equal(got(), ['got.main'], 'no child got it');
  rmSync(join(dir, 'got.main'));
  const k = await sb.tsrun(['kill', '--all', id, 'USR1']);
  assert.is(k.exitCode, 0, k.stderr);
  for (const child of ready()) {
    assert.ok(await waitFor(() => existsSync(join(dir, `got.${child}`))), `child ${child} got USR1`);
  }
  assert.ok(await waitFor(() => existsSync(join(dir, 'got.main'))), 'the init\'s shell got USR1');
  assert.is(await statusOf(sb, id), 'running', 'USR1 was handled, nothing died');
  await sb.tsrun(['delete', '--force', id]);
});

test('stats JSON: runc\'s omitempty rules, and "no limit" printed as an exact uint64 a Go decoder accepts', () => {
  const stats: CgroupStats = {
    cpu: { usageNs: 5, userNs: 0, kernelNs: 0, throttledPeriods: 0, throttledTimeNs: 0 },
    memory: { usage: 10, limit: 0, cache: 0, maxUsage: 0, failcnt: 0 },
    pids: { current: 1, limit: 0 },
    blkio: { ioServiceBytesRecursive: [{ major: 8, minor: 0, op: 'Read', value: 0 }] },
  };
  const v2 = statsEvent('x', runcStats(stats, 2, { swap: { usage: 10, limit: 0 } }));
  assert.ok(v2.endsWith('}\n'));
  assert.match(v2, '"usage":{"limit":18446744073709551615,"usage":10,"failcnt":0}');
  assert.match(v2, '"swap":{"limit":18446744073709551615,"usage":10,"failcnt":0}');
  assert.match(v2, '"kernel":{"limit":0,"failcnt":0}');
  assert.match(v2, '"cpu":{"usage":{"total":5,"kernel":0,"user":0},"throttling":{}}');
  assert.match(v2, '"pids":{"current":1}');
  assert.match(v2, '"ioServiceBytesRecursive":[{"major":8,"op":"Read"}]');
  const v1 = statsEvent('x', runcStats({ ...stats, memory: { ...stats.memory, limit: 4096 } }, 1, { raw: { cache: 2n ** 63n - 4096n } }));
  assert.match(v1, '"usage":{"limit":4096,"usage":10,"failcnt":0}');
  assert.match(v1, '"raw":{"cache":9223372036854771712}');
  assert.is(oomEvent('x'), '{"type":"oom","id":"x"}\n');
});

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
});

test.run();
