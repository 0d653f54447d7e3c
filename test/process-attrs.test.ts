// The process attributes applied from the config, observed on the real
// kernel: linux.personality, process.ioPriority, process.scheduler,
// linux.memoryPolicy, linux.timeOffsets (a new time namespace) and
// process.execCPUAffinity (exec only); and the refusals of fields tsrun
// cannot apply, each naming its JSON path.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { leftovers, sandbox, uniqueId } from './lib/tsrun.ts';

const sb = sandbox();
test.after(async () => {
  await sb.cleanup();
});

test('personality, ioPriority, scheduler, memoryPolicy and timeOffsets are applied to the container\'s processes', async () => {
  const attrs = (args: string[]) => sb.bundle((c) => {
    c.process!.args = args;
    c.process!.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 6 };
    c.process!.scheduler = { policy: 'SCHED_BATCH', nice: 5 };
    c.linux!.personality = { domain: 'LINUX32' };
    c.linux!.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0' };
    c.linux!.namespaces!.push({ type: 'time' });
    c.linux!.timeOffsets = { boottime: { secs: 864000, nanosecs: 0 }, monotonic: { secs: 3600 } };
  });
  const fg = await sb.tsrun(['run', '--bundle', attrs(['sh', '-c', 'uname -m; cut -d" " -f1 /proc/uptime']), uniqueId('attrs-fg')]);
  assert.is(fg.exitCode, 0, fg.stderr);
  const [machine, uptime] = fg.stdout.split('\n');
  assert.is(machine, 'i686', 'PER_LINUX32');
  assert.ok(Number(uptime) > 864000, `boottime is offset: uptime ${uptime}`);
  const id = uniqueId('attrs');
  const r = await sb.tsrun(['run', '--detach', '--bundle', attrs(['sleep', '300']), id]);
  assert.is(r.exitCode, 0, r.stderr);
  const pid = JSON.parse((await sb.tsrun(['state', id])).stdout).pid as number;
  const e = await sb.tsrun(['exec', id, 'uname', '-m']);
  assert.is(e.stdout, 'i686', 'an exec\'d process gets the container\'s personality, as under runc');
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  assert.is(stat[16], '5', 'nice 5');
  assert.is(stat[38], '3', 'policy SCHED_BATCH');
  assert.match(readFileSync(`/proc/${pid}/timens_offsets`, 'utf8'), /monotonic\s+3600\s+0\s+boottime\s+864000\s+0/);
  assert.match(readFileSync(`/proc/${pid}/numa_maps`, 'utf8'), /bind:0/);
  assert.is(execFileSync('ionice', ['-p', String(pid)], { encoding: 'utf8' }).trim(), 'best-effort: prio 6');
  assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
});

test('execCPUAffinity applies to an exec\'d process', async () => {
  const id = uniqueId('affinity');
  const r = await sb.tsrun(['run', '--detach', '--bundle', sb.bundle(), id]);
  assert.is(r.exitCode, 0, r.stderr);
  const processFile = join(sb.dir, `${id}.process.json`);
  writeFileSync(processFile, JSON.stringify({
    args: ['grep', 'Cpus_allowed_list', '/proc/self/status'], cwd: '/', user: { uid: 0, gid: 0 }, execCPUAffinity: { initial: '0-1', final: '0' },
  }));
  const e = await sb.tsrun(['exec', '--process', processFile, id]);
  assert.is(e.exitCode, 0, e.stderr);
  assert.match(e.stdout, /Cpus_allowed_list:\s+0$/);
  assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
});

for (const [path, edit, reason] of [
  ['/linux/timeOffsets', (c: any) => { c.linux.timeOffsets = { boottime: { secs: 1 } }; }, 'needs a new time namespace'],
  ['/linux/personality/flags', (c: any) => { c.linux.personality = { domain: 'LINUX', flags: ['X'] }; }, 'the runtime-spec defines no personality flags'],
  ['/process/execCPUAffinity/final', (c: any) => { c.process.execCPUAffinity = { final: 'all' }; }, 'is not a CPU list'],
  ['/linux/memoryPolicy/nodes', (c: any) => { c.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '3-1' }; }, 'is not a list'],
  ['/process/scheduler/runtime', (c: any) => { c.process.scheduler = { policy: 'SCHED_OTHER', runtime: 5 }; }, 'applies only to SCHED_DEADLINE'],
  ['/linux/resources/rdma', (c: any) => { c.linux.resources.rdma = { mlx5_0: { hcaHandles: 3 } }; }, 'tsrun does not implement the rdma cgroup controller'],
  ['/windows', (c: any) => { c.windows = {}; }, 'tsrun runs Linux containers'],
  ['/mounts/0/uidMappings', (c: any) => { c.mounts[0].uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }]; }, 'a mount\'s own id mappings need the "idmap" or "ridmap" option'],
] as const) {
  test(`${path} is refused: ${reason}`, async () => {
    const r = await sb.tsrun(['run', '--bundle', sb.bundle(edit as never), uniqueId('refuse')]);
    assert.is.not(r.exitCode, 0);
    assert.match(r.stderr, `${path}: `);
    assert.match(r.stderr, reason);
  });
}

test('linux.resources.network: applied to net_cls/net_prio where mounted, refused naming the field where not', async () => {
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8').includes('net_cls');
  const id = uniqueId('netcls');
  const r = await sb.tsrun(['run', '--detach', '--bundle', sb.bundle((c) => {
    c.linux!.resources!.network = { classID: 0x100001, priorities: [{ name: 'lo', priority: 3 }] };
  }), id]);
  if (mounted) {
    assert.is(r.exitCode, 0, r.stderr);
    assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
  } else {
    assert.is.not(r.exitCode, 0);
    assert.match(r.stderr, 'cannot set /linux/resources/network/classID: the net_cls cgroup controller is not mounted');
  }
});

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
});

test.run();
