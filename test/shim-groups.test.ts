// The shim's groups (src/shim/main.ts, "Groups") with a private containerd:
// containers without a group annotation share their namespace's shim, which
// outlives its last container for TSRUN_SHIM_IDLE seconds and serves the next
// one, and exits at once when containerd goes away; a container with a group
// of its own gets a shim of its own. Nothing may be left behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { idleMs } from '../src/shim/daemon.ts';
import { leftovers, PROJECT, uniqueId, waitFor } from './lib/tsrun.ts';
import { ensureContainerd, startContainerd, type Containerd, ctrTasks, removeCtrTask } from './lib/containerd.ts';
import { buildBusyboxImage, type BuiltImage } from './lib/oci-image.ts';

const skip = ensureContainerd();
let cd: Containerd;
let image: BuiltImage;
let work: string;
const namespace = `tsrun-${process.pid}-groups`;
const RUNTIME = ['--runtime', 'io.containerd.tsrun.v2'];
process.env.PATH = `${join(PROJECT, 'bin')}:${process.env.PATH}`;
const savedIdle = process.env.TSRUN_SHIM_IDLE;

const bundle = (id: string): string => join(cd.dir, 'state', 'io.containerd.runtime.v2.task', namespace, id);
const sockets = (): string[] => {
  const dir = join(cd.dir, 'run', 'containerd', 's');
  return existsSync(dir) ? readdirSync(dir) : [];
};
const running = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
const runDetached = async (id: string, extra: string[] = []): Promise<void> => {
  const r = await cd.ctr(['run', '-d', ...RUNTIME, ...extra, image.name, id, 'sleep', '300']);
  assert.is(r.exitCode, 0, r.stderr);
};
const runOnce = async (id: string): Promise<void> => {
  const r = await cd.ctr(['run', '--rm', ...RUNTIME, image.name, id, '/bin/true']);
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

if (skip) {
  console.log(`SKIP shim-groups: ${skip}`);
  test('containerd is not available here', () => {
    assert.ok(skip.length > 0);
  });
} else {
  test.before(async () => {
    work = mkdtempSync(join(tmpdir(), 'tsrun-image-'));
    image = buildBusyboxImage(work, `tsrun-busybox-${process.pid}`);
    delete process.env.TSRUN_SHIM_IDLE; // the default: containerd passes its environment to the shims
    process.env.TSRUN_SHIM_DEBUG = '1'; // each RPC logged: the log lines' way into containerd's log is tested
    cd = await startContainerd(namespace);
    const imp = await cd.ctr(['images', 'import', image.archive]);
    assert.is(imp.exitCode, 0, imp.stderr);
  });
  test.after(async () => {
    delete process.env.TSRUN_SHIM_DEBUG;
    if (savedIdle === undefined) delete process.env.TSRUN_SHIM_IDLE;
    else process.env.TSRUN_SHIM_IDLE = savedIdle;
    if (cd) {
      for (const id of (await ctrTasks(cd)).keys()) await cd.ctr(['task', 'rm', '--force', id]);
      const cs = await cd.ctr(['containers', 'ls', '-q']);
      for (const id of cs.stdout.split('\n').filter(Boolean)) await cd.ctr(['containers', 'rm', id]);
      await cd.stop();
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  let namespaceShim = 0;
  const a = uniqueId('grp-a');
  const b = uniqueId('grp-b');

  test('containers without a group share the namespace\'s shim; the second joins it without a Node start', async () => {
    await runDetached(a);
    await runDetached(b);
    const shims = cd.shims();
    assert.is(shims.length, 1, 'one shim for the namespace');
    namespaceShim = shims[0]!;
    assert.ok(existsSync(join(bundle(a), 'shim.log')), 'the first container started the shim (its stderr goes to shim.log)');
    assert.not.ok(existsSync(join(bundle(b), 'shim.log')), 'the second joined through the launcher');
    const t = await ctrTasks(cd);
    assert.is(t.get(a)?.[1], 'RUNNING');
    assert.is(t.get(b)?.[1], 'RUNNING');
  });

  test('a container with a group of its own gets a shim of its own, which exits with it', async () => {
    const c = uniqueId('grp-own');
    await runDetached(c, ['--annotation', `io.containerd.runc.v2.group=${c}`]);
    assert.is(cd.shims().length, 2, 'the namespace\'s shim and its own');
    await removeCtrTask(cd, c);
    assert.ok(await waitFor(() => cd.shims().length === 1, 15000, 50), 'its shim exited');
    assert.equal(cd.shims(), [namespaceShim], 'the namespace\'s shim is the one left');
  });

  test('the shim\'s log lines reach containerd\'s log after the container it started with is gone', async () => {
    await removeCtrTask(cd, a); // the shim started with a, and wrote into a's log FIFO
    const c = uniqueId('grp-log');
    await runOnce(c);
    assert.ok(await waitFor(() => cd.log().includes(`Create ${c}`), 5000, 100), `containerd's log has the shim's lines for ${c}:\n${cd.log().slice(-1500)}`);
    assert.equal(cd.shims(), [namespaceShim]);
  });

  test('the namespace\'s shim outlives its last container and serves the next one', async () => {
    await removeCtrTask(cd, b);
    assert.equal([...(await ctrTasks(cd)).keys()], []);
    assert.equal(cd.shims(), [namespaceShim], 'idle, still there');
    for (let i = 0; i < 3; i++) await runOnce(uniqueId('grp-next'));
    assert.equal(cd.shims(), [namespaceShim], 'the same process served them');
  });

  test('several containers at once with no shim running: one shim serves them all', async () => {
    await cd.restart(); // containerd going away ends the idle shim
    assert.ok(await waitFor(() => cd.shims().length === 0, 5000, 50), 'the idle shim exited when containerd went away');
    assert.not.ok(running(namespaceShim), 'that process is gone (or a zombie of its new parent)');
    const ids = Array.from({ length: 4 }, () => uniqueId('grp-herd'));
    await Promise.all(ids.map((id) => runDetached(id)));
    // A loser of the race says the winner's address, then exits (wait for that, not for a time).
    assert.ok(await waitFor(() => cd.shims().length === 1, 5000, 50), `the losers of the race joined the winner: ${cd.shims().length} shims`);
    const t = await ctrTasks(cd);
    for (const id of ids) assert.is(t.get(id)?.[1], 'RUNNING', id);
    for (const id of ids) await removeCtrTask(cd, id);
  });

  test('TSRUN_SHIM_IDLE=1: the idle shim takes no new container after a second, then exits and removes its socket', async () => {
    process.env.TSRUN_SHIM_IDLE = '1';
    await cd.restart();
    assert.ok(await waitFor(() => cd.shims().length === 0, 5000, 50), 'the previous idle shim exited with containerd');
    await runOnce(uniqueId('grp-idle'));
    assert.ok(await waitFor(() => cd.shims().length === 0, 15000, 100), 'the shim exited after its idle time and grace');
    assert.equal(sockets(), [], 'no socket or pid file left');
    await runOnce(uniqueId('grp-after')); // a new shim starts for the next container
  });

  test('nothing is left behind: no tasks, containers, tsrun state, shims, sockets', async () => {
    assert.equal([...(await ctrTasks(cd)).keys()], []);
    const cs = await cd.ctr(['containers', 'ls', '-q']);
    assert.is(cs.stdout, '');
    const root = join(cd.dir, 'run', 'containerd', 'tsrun', namespace);
    assert.equal(existsSync(root) ? readdirSync(root) : [], []);
    const dir = cd.dir;
    const forced = await cd.stop();
    assert.equal(forced, [], 'the idle shim exited with containerd; the namespace cgroups were empty');
    assert.not.ok(existsSync(dir));
    assert.equal(leftovers(join(dir, 'nothing')), []);
    cd = undefined as unknown as Containerd;
  });
}

test.run();
