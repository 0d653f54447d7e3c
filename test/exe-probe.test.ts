// No tsrun binary is reachable from a container (CVE-2019-5736 class). A
// probe inside a container (test/fixtures/exe-probe.c, with CAP_SYS_PTRACE
// and CAP_DAC_OVERRIDE, so that it gets past PR_SET_DUMPABLE 0 and tests the
// sealed copy too) scans /proc/*/exe of every process it sees and tries to
// reopen each for writing, while 100 `tsrun exec` calls run in its container
// and while a second container sharing its pid namespace (a pod) sits in
// `created`. It must see tsrun-nsexec only as a sealed memfd, never open a
// host file for writing, and never write to a memfd.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CAPABILITIES } from '../src/runtime/capabilities.ts';
import { leftovers, PROJECT, sandbox, statusOf, uniqueId, waitFor } from './lib/tsrun.ts';

const sb = sandbox();
test.after(async () => {
  await sb.cleanup();
});

test('a probe in the container never reaches a host binary during 100 execs and a pod member\'s created phase', async () => {
  const probeDir = join(sb.dir, 'probe');
  mkdirSync(probeDir);
  execFileSync('musl-gcc', ['-O2', '-static', '-Wall', '-o', join(probeDir, 'exe-probe'), join(PROJECT, 'test/fixtures/exe-probe.c')]);
  const caps = [...DEFAULT_CAPABILITIES, 'CAP_SYS_PTRACE', 'CAP_DAC_OVERRIDE'];
  const id = uniqueId('probe');
  const r = await sb.tsrun(['run', '--detach', '--bundle', sb.bundle((c) => {
    c.process!.args = ['/probe/exe-probe', '/probe'];
    c.process!.capabilities = { bounding: caps, effective: caps, permitted: caps };
    c.mounts!.push({ destination: '/probe', type: 'bind', source: probeDir, options: ['rbind', 'rw'] });
  }), id]);
  assert.is(r.exitCode, 0, r.stderr);
  const pid = JSON.parse((await sb.tsrun(['state', id])).stdout).pid as number;

  // A pod member in `created`: its PID 1 is tsrun-nsexec waiting at the start barrier.
  const member = uniqueId('member');
  const created = await sb.tsrun(['create', '--bundle', sb.bundle((c) => {
    c.linux!.namespaces = c.linux!.namespaces!.map((ns) => (ns.type === 'pid' ? { type: 'pid', path: `/proc/${pid}/ns/pid` } : ns));
  }), member]);
  assert.is(created.exitCode, 0, created.stderr);
  assert.is(await statusOf(sb, member), 'created');

  for (let i = 0; i < 100; i++) {
    const e = await sb.tsrun(['exec', id, 'true']);
    assert.is(e.exitCode, 0, e.stderr);
  }
  writeFileSync(join(probeDir, 'stop'), '');
  assert.ok(await waitFor(() => existsSync(join(probeDir, 'report')), 10000), 'the probe wrote its report');
  const report = readFileSync(join(probeDir, 'report'), 'utf8').trim().split('\n');
  const seen = report.filter((l) => l.startsWith('seen ')).map((l) => l.slice(5));
  assert.ok(seen.some((t) => t.startsWith('/memfd:tsrun-nsexec')), `the probe saw the helper: ${seen.join(', ')}`);
  assert.equal(seen.filter((t) => /tsrun/.test(t) && !t.startsWith('/memfd:')), [], 'no tsrun binary is seen except as a memfd');
  assert.equal(report.filter((l) => l.startsWith('writable ') && !l.startsWith('writable /memfd:')), [], 'no host file was opened for writing');
  assert.equal(report.filter((l) => l.startsWith('wrote ')), [], 'no memfd copy could be written');
  for (const c of [member, id]) assert.is((await sb.tsrun(['delete', '--force', c])).exitCode, 0);
});

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
});

test.run();
