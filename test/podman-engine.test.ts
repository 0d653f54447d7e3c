// tsrun as podman 4.3 drives it through conmon (`podman --runtime bin/tsrun`),
// issue #11 items 3 and 4: `--network none` has a working loopback (netavark
// brings lo up only for the networks it makes); `podman stop -t N` of a
// workload that ignores TERM takes the N seconds podman owns, then podman's
// SIGKILL ends it; `podman run --init` gets podman's init as PID 1 and no
// second one; `podman top` shows what tsrun-init adds. Private storage and
// run roots in a temp dir, as in test/podman.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { hasPodman, LIMITS, privatePodman } from './lib/podman.ts';
import { assertLoopback, LOOPBACK_PROBE } from './lib/tsrun.ts';

const pm = privatePodman('podman-engine');
const { work, podman } = pm;
const limits = LIMITS;
const image = 'localhost/tsrun-busybox:engine';
const pt = hasPodman ? test : test.skip;

test.before(async () => {
  if (!hasPodman) return;
  const imported = await pm.importBusybox(image);
  assert.is(imported.exitCode, 0, imported.stderr);
});

test.after(() => pm.cleanup());

pt('podman run --network none: lo is up with 127.0.0.1/8 and ::1, and both answer', async () => {
  assertLoopback(await podman(['run', '--rm', ...limits, '--cap-add', 'NET_RAW', image, 'sh', '-c', LOOPBACK_PROBE]));
});

pt('podman stop -t 8 of a workload that ignores TERM takes podman\'s 8 s (not an init deadline of 5), then ends by SIGKILL', async () => {
  const name = `tsrun-stop-${process.pid}`;
  assert.is((await podman(['run', '-d', '--name', name, ...limits, image, 'sh', '-c', 'trap "" TERM; while :; do sleep 0.1; done'])).exitCode, 0);
  const t0 = Date.now();
  const stop = await podman(['stop', '-t', '8', name]);
  const took = (Date.now() - t0) / 1000;
  assert.is(stop.exitCode, 0, stop.stderr);
  assert.ok(took >= 7, `podman stop -t 8 took ${took} s: tsrun-init must not SIGKILL on a deadline of its own`);
  assert.is((await podman(['inspect', name, '--format', '{{.State.ExitCode}}'])).stdout, '137', 'ended by podman\'s SIGKILL');
  assert.is((await podman(['rm', name])).exitCode, 0);
});

pt('podman top: tsrun-init (with its 1 s grace) and the workload: one process added', async () => {
  const name = `tsrun-top-${process.pid}`;
  assert.is((await podman(['run', '-d', '--name', name, ...limits, image, 'sleep', '300'])).exitCode, 0);
  const top = await podman(['top', name, 'pid', 'args']);
  assert.is(top.exitCode, 0, top.stderr);
  const rows = top.stdout.split('\n').slice(1).map((l) => l.trim());
  assert.is(rows.length, 2, top.stdout);
  assert.match(rows[0]!, /^1\s+tsrun-init -t 1 -- sleep 300$/);
  assert.match(rows[1]!, /^2\s+sleep 300$/);
  assert.is((await podman(['rm', '-f', '-t', '0', name])).exitCode, 0);
});

pt('podman run --init: podman\'s init is PID 1 and tsrun adds no second one', async () => {
  const name = `tsrun-init-${process.pid}`;
  assert.is((await podman(['run', '-d', '--init', '--name', name, ...limits, image, 'sleep', '300'])).exitCode, 0);
  const top = await podman(['top', name, 'pid', 'args']);
  assert.is(top.exitCode, 0, top.stderr);
  const rows = top.stdout.split('\n').slice(1).map((l) => l.trim());
  assert.is(rows.length, 2, `podman-init and sleep only: ${top.stdout}`);
  assert.match(rows[0]!, /^1\s+\/run\/podman-init -- sleep 300$/);
  assert.match(rows[1]!, /^2\s+sleep 300$/);
  assert.not.match(top.stdout, 'tsrun-init');
  assert.is((await podman(['stop', '-t', '10', name])).exitCode, 0);
  assert.is((await podman(['inspect', name, '--format', '{{.State.ExitCode}}'])).stdout, '143', 'podman-init forwarded TERM to sleep');
  assert.is((await podman(['rm', name])).exitCode, 0);
});

test('nothing is left behind', async () => {
  const ps = spawnSync('ps', ['-eo', 'args='], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(work));
  assert.equal(ps, []);
  if (hasPodman) assert.is((await podman(['ps', '-a', '--format', '{{.Names}}'])).stdout, '');
});

test.run();
