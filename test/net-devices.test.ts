// linux.netDevices on the real kernel, inside a private network namespace
// standing for the host (test/lib/netns.ts): a veth end is moved into the
// container under a new name, and back under its own name by delete; a
// device that does not exist is refused naming it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { hostStandIn, must } from './lib/netns.ts';
import { leftovers, sandbox, uniqueId } from './lib/tsrun.ts';

function defineTests(): void {
  const sb = sandbox();
  test.after(async () => {
    await sb.cleanup();
  });

  test('a host interface is moved in, renamed, and moved back by delete', async () => {
    await must('ip', ['link', 'add', 'tsnd0', 'type', 'veth', 'peer', 'name', 'tsnd1']);
    const id = uniqueId('netdev');
    const r = await sb.tsrun(['run', '--detach', '--bundle', sb.bundle((c) => {
      c.linux!.netDevices = { tsnd0: { name: 'eth7' } };
    }), id]);
    assert.is(r.exitCode, 0, r.stderr);
    assert.not.ok(existsSync('/sys/class/net/tsnd0'), 'gone from the host');
    const e = await sb.tsrun(['exec', id, 'ls', '/sys/class/net']);
    assert.is(e.exitCode, 0, e.stderr);
    assert.equal(e.stdout.split(/\s+/).sort(), ['eth7', 'lo']);
    assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
    assert.ok(existsSync('/sys/class/net/tsnd0'), 'back on the host under its own name');
    await must('ip', ['link', 'del', 'tsnd0']);
  });

  test('a create that fails after the move gives the device back', async () => {
    await must('ip', ['link', 'add', 'tsnd2', 'type', 'veth', 'peer', 'name', 'tsnd3']);
    const r = await sb.tsrun(['run', '--bundle', sb.bundle((c) => {
      c.linux!.netDevices = { tsnd2: { name: 'eth8' } };
      c.hooks = { createRuntime: [{ path: '/bin/false' }] };
    }), uniqueId('netdev')]);
    assert.is.not(r.exitCode, 0);
    assert.match(r.stderr, 'createRuntime');
    assert.ok(existsSync('/sys/class/net/tsnd2'), 'back on the host under its own name');
    await must('ip', ['link', 'del', 'tsnd2']);
  });

  test('a device that does not exist is refused naming it', async () => {
    const r = await sb.tsrun(['run', '--bundle', sb.bundle((c) => {
      c.linux!.netDevices = { tsnd9: {} };
    }), uniqueId('netdev')]);
    assert.is.not(r.exitCode, 0);
    assert.match(r.stderr, '/linux/netDevices/tsnd9: no network interface "tsnd9" on this host');
  });

  test('nothing is left behind', async () => {
    await sb.cleanup();
    assert.equal(leftovers(sb.root), []);
  });
}

hostStandIn('netDevices', import.meta.url, [], defineTests);
