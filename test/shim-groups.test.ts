// The shim's groups (src/shim/main.ts, "Groups") with a private containerd:
// containers without a group annotation share their namespace's shim, which
// outlives its last container for TSRUN_SHIM_IDLE seconds and serves the next
// one, and exits at once when containerd goes away; a container with a group
// of its own gets a shim of its own. Nothing may be left behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { idleMs } from '../src/shim/daemon.ts';
import { uniqueId, waitFor } from './lib/tsrun.ts';
import { useContainerd } from './lib/containerd.ts';

const ctd = useContainerd(test, 'shim-groups', {
  runtime: 'shim',
  env: {
    TSRUN_SHIM_IDLE: undefined, // the default: containerd passes its environment to the shims
    TSRUN_SHIM_DEBUG: '1', // each RPC logged: the log lines' way into containerd's log is tested
  },
});

const running = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
const runOnce = async (id: string): Promise<void> => {
  const r = await ctd.cd.ctr(['run', '--rm', ...ctd.runtime, ctd.image.name, id, '/bin/true']);
  assert.is(r.exitCode, 0, r.stderr);
};

test('TSRUN_SHIM_IDLE: seconds, 60 by default, 0 allowed; nonsense is the default', () => {
  assert.is(idleMs({}), 60000);
  assert.is(idleMs({ TSRUN_SHIM_IDLE: '' }), 60000);
  assert.is(idleMs({ TSRUN_SHIM_IDLE: '0' }), 0);
  assert.is(idleMs({ TSRUN_SHIM_IDLE: '2.5' }), 2500);
  assert.is(idleMs({ TSRUN_SHIM_IDLE: '-1' }), 60000);
  assert.is(idleMs({ TSRUN_SHIM_IDLE: 'soon' }), 60000);
  assert.is(idleMs({ TSRUN_SHIM_IDLE: '1e9' }), 86400000);
});

if (!ctd.skip) {
  let namespaceShim = 0;
  const a = uniqueId('grp-a');
  const b = uniqueId('grp-b');

  test('containers without a group share the namespace\'s shim; the second joins it without a Node start', async () => {
    await ctd.sleeper(a);
    await ctd.sleeper(b);
    const shims = ctd.cd.shims();
    assert.is(shims.length, 1, 'one shim for the namespace');
    namespaceShim = shims[0]!;
    assert.ok(existsSync(join(ctd.cd.bundle(a), 'shim.log')), 'the first container started the shim (its stderr goes to shim.log)');
    assert.not.ok(existsSync(join(ctd.cd.bundle(b), 'shim.log')), 'the second joined through the launcher');
    const t = await ctd.tasks();
    assert.is(t.get(a)?.[1], 'RUNNING');
    assert.is(t.get(b)?.[1], 'RUNNING');
  });

  test('a container with a group of its own gets a shim of its own, which exits with it', async () => {
    const c = uniqueId('grp-own');
    await ctd.sleeper(c, ['--annotation', `io.containerd.runc.v2.group=${c}`]);
    assert.is(ctd.cd.shims().length, 2, 'the namespace\'s shim and its own');
    await ctd.removeTask(c);
    assert.ok(await waitFor(() => ctd.cd.shims().length === 1, 15000, 50), 'its shim exited');
    assert.equal(ctd.cd.shims(), [namespaceShim], 'the namespace\'s shim is the one left');
  });

  test('the shim\'s log lines reach containerd\'s log after the container it started with is gone', async () => {
    await ctd.removeTask(a); // the shim started with a, and wrote into a's log FIFO
    const c = uniqueId('grp-log');
    await runOnce(c);
    assert.ok(await waitFor(() => ctd.cd.log().includes(`Create ${c}`), 5000, 100), `containerd's log has the shim's lines for ${c}:\n${ctd.cd.log().slice(-1500)}`);
    assert.equal(ctd.cd.shims(), [namespaceShim]);
  });

  test('the namespace\'s shim outlives its last container and serves the next one', async () => {
    await ctd.removeTask(b);
    assert.equal([...(await ctd.tasks()).keys()], []);
    assert.equal(ctd.cd.shims(), [namespaceShim], 'idle, still there');
    for (let i = 0; i < 3; i++) await runOnce(uniqueId('grp-next'));
    assert.equal(ctd.cd.shims(), [namespaceShim], 'the same process served them');
  });

  test('several containers at once with no shim running: one shim serves them all', async () => {
    await ctd.cd.restart(); // containerd going away ends the idle shim
    assert.ok(await waitFor(() => ctd.cd.shims().length === 0, 5000, 50), 'the idle shim exited when containerd went away');
    assert.not.ok(running(namespaceShim), 'that process is gone (or a zombie of its new parent)');
    const ids = Array.from({ length: 4 }, () => uniqueId('grp-herd'));
    await Promise.all(ids.map((id) => ctd.sleeper(id)));
    // A loser of the race says the winner's address, then exits (wait for that, not for a time).
    assert.ok(await waitFor(() => ctd.cd.shims().length === 1, 5000, 50), `the losers of the race joined the winner: ${ctd.cd.shims().length} shims`);
    const t = await ctd.tasks();
    for (const id of ids) assert.is(t.get(id)?.[1], 'RUNNING', id);
    for (const id of ids) await ctd.removeTask(id);
  });

  test('TSRUN_SHIM_IDLE=1: the idle shim takes no new container after a second, then exits and removes its socket', async () => {
    process.env.TSRUN_SHIM_IDLE = '1';
    await ctd.cd.restart();
    assert.ok(await waitFor(() => ctd.cd.shims().length === 0, 5000, 50), 'the previous idle shim exited with containerd');
    await runOnce(uniqueId('grp-idle'));
    assert.ok(await waitFor(() => ctd.cd.shims().length === 0, 15000, 100), 'the shim exited after its idle time and grace');
    assert.equal(ctd.cd.sockets(), [], 'no socket or pid file left');
    await runOnce(uniqueId('grp-after')); // a new shim starts for the next container
  });

  test('nothing is left behind: no tasks, containers, tsrun state, shims, sockets', async () => {
    await ctd.nothingLeftBehind({ idleShim: true });
  });
}

test.run();
