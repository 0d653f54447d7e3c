// The loopback device of a container's network namespace (issue #11 item 3):
// a new network namespace has lo up, with 127.0.0.1/8 and ::1, before any
// hook or process runs, as runc does; a joined network namespace is left as
// its owner made it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertLoopback, leftovers, LOOPBACK_PROBE, sandbox, uniqueId, waitFor } from './lib/tsrun.ts';
import type { Config } from '../src/runtime/oci-types.ts';

const sb = sandbox();
test.after(async () => {
  await sb.cleanup();
});

const withRawSockets = (c: Config): void => {
  for (const set of ['bounding', 'effective', 'permitted'] as const) c.process!.capabilities![set]!.push('CAP_NET_RAW');
};

test('a new network namespace: lo is up with 127.0.0.1/8 and ::1, and both answer', async () => {
  const r = await sb.tsrun(['run', '--bundle', sb.bundle((c) => {
    withRawSockets(c);
    c.process!.args = ['sh', '-c', LOOPBACK_PROBE];
  }), uniqueId('lo')]);
  assertLoopback(r);
});

test('lo is already up when the prestart and createRuntime hooks run', async () => {
  const hook = join(sb.dir, 'lo-hook.sh');
  const log = join(sb.dir, 'lo-hook.log');
  writeFileSync(hook, `#!/bin/sh
pid=$(sed -n 's/.*"pid":\\([0-9]*\\).*/\\1/p')
nsenter --net=/proc/$pid/ns/net ip -o link show dev lo | grep -o '<[^>]*>' >> ${log}
`);
  chmodSync(hook, 0o755);
  const r = await sb.tsrun(['run', '--bundle', sb.bundle((c) => {
    c.hooks = { prestart: [{ path: hook }], createRuntime: [{ path: hook }] };
    c.process!.args = ['true'];
  }), uniqueId('lo-hook')]);
  assert.is(r.exitCode, 0, r.stderr);
  const flags = readFileSync(log, 'utf8').trim().split('\n');
  assert.is(flags.length, 2, flags.join(' | '));
  for (const f of flags) assert.match(f, /\bUP\b/, `lo flags seen by the hook: ${f}`);
});

test('a joined network namespace is left as it is: its lo stays down', async () => {
  const holder = spawn('unshare', ['--net', 'sleep', '30'], { stdio: 'ignore' });
  try {
    assert.ok(await waitFor(() => {
      try {
        return readFileSync(`/proc/${holder.pid}/cmdline`, 'utf8').startsWith('sleep');
      } catch {
        return false;
      }
    }), 'the holder runs in its netns');
    const r = await sb.tsrun(['run', '--bundle', sb.bundle((c) => {
      c.linux!.namespaces = c.linux!.namespaces!.map((ns) => (ns.type === 'network' ? { type: 'network', path: `/proc/${holder.pid}/ns/net` } : ns));
      c.process!.args = ['sh', '-c', 'ip -o link show dev lo | grep -o "<[^>]*>"'];
    }), uniqueId('lo-joined')]);
    assert.is(r.exitCode, 0, r.stderr);
    assert.not.match(r.stdout, /\bUP\b/, `lo of the joined netns: ${r.stdout}`);
  } finally {
    holder.kill('SIGKILL');
  }
});

test('nothing is left behind', () => {
  assert.equal(leftovers(sb.root), []);
});

test.run();
