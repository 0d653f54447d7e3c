// Whether tsrun-init becomes PID 1: the default, the CRI's configs, an engine's
// own init as the first program (by name, through symlinks in the rootfs), and
// the annotation that decides either way.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decideInit, engineInitName, programNames } from '../../src/runtime/init-options.ts';
import { defaultSpec } from '../../src/runtime/default-spec.ts';
import type { Config } from '../../src/runtime/oci-types.ts';

const rootfs = mkdtempSync(join(tmpdir(), 'tsrun-init-options-'));
mkdirSync(join(rootfs, 'usr/bin'), { recursive: true });
mkdirSync(join(rootfs, 'sbin'));
writeFileSync(join(rootfs, 'usr/bin/tini'), '');
writeFileSync(join(rootfs, 'usr/bin/app'), '');
symlinkSync('/usr/bin/tini', join(rootfs, 'sbin/init'));
symlinkSync('../usr/bin/app', join(rootfs, 'sbin/entry'));
symlinkSync('../../../../../host-tini', join(rootfs, 'sbin/climb'));
test.after(() => rmSync(rootfs, { recursive: true, force: true }));

function config(args: string[], annotations?: Record<string, string>): Config {
  const c = defaultSpec();
  c.process!.args = args;
  c.process!.env = ['PATH=/usr/bin:/sbin'];
  if (annotations) c.annotations = annotations;
  return c;
}
const decide = (args: string[], annotations?: Record<string, string>) => decideInit(config(args, annotations), rootfs, '/opt/tsrun-init');

test('default: tsrun-init with a 1 s grace and no kill deadline of its own', () => {
  const d = decide(['sleep', '300']);
  assert.equal(d.init, { path: '/opt/tsrun-init', graceSeconds: 1, killAfterSeconds: null, processGroup: false });
  assert.is(d.reason, 'default');
});

test('the annotations set the grace, the kill deadline and the process group; bad numbers are refused by name', () => {
  const d = decide(['sleep'], { 'run.tsrun.init.grace-seconds': '0.5', 'run.tsrun.init.kill-after-seconds': '20', 'run.tsrun.init.process-group': 'true' });
  assert.equal(d.init, { path: '/opt/tsrun-init', graceSeconds: 0.5, killAfterSeconds: 20, processGroup: true });
  assert.throws(() => decide(['sleep'], { 'run.tsrun.init.kill-after-seconds': 'soon' }), /\/annotations\/run\.tsrun\.init\.kill-after-seconds: "soon" is not a number of seconds/);
  assert.throws(() => decide(['sleep'], { 'run.tsrun.init': 'yes' }), /\/annotations\/run\.tsrun\.init: "yes" is neither "true" nor "false"/);
});

test('a CRI config (sandbox or container) runs its own process as PID 1, unless the annotation asks for the init', () => {
  for (const type of ['sandbox', 'container']) {
    const d = decide(['/pause'], { 'io.kubernetes.cri.container-type': type });
    assert.is(d.init, null);
    assert.match(d.reason, `io.kubernetes.cri.container-type=${type}`);
  }
  assert.ok(decide(['/pause'], { 'io.kubernetes.cri.container-type': 'container', 'run.tsrun.init': 'true' }).init);
  assert.is(decide(['sleep'], { 'run.tsrun.init': 'false' }).init, null);
});

test('an engine\'s init as the first program: no second one', () => {
  for (const args of [['/run/podman-init', '--', 'sleep', '1'], ['/sbin/docker-init', '--', 'sh'], ['tini', '--', 'sh'], ['/usr/bin/dumb-init', 'sh'], ['catatonit', '--', 'sh']]) {
    const d = decide(args);
    assert.is(d.init, null, args[0]);
    assert.match(d.reason, 'already an init');
  }
  assert.ok(decide(['/run/podman-init', '--', 'sh'], { 'run.tsrun.init': 'true' }).init, 'the annotation wins');
});

test('symlinks are followed inside the rootfs: /sbin/init -> tini is an init, /sbin/entry -> app is not', () => {
  assert.is(engineInitName(config(['/sbin/init']), rootfs), 'tini');
  assert.is(engineInitName(config(['init']), rootfs), 'tini', 'found in PATH');
  assert.is(engineInitName(config(['/sbin/entry']), rootfs), '');
  assert.equal(programNames('/sbin/entry', [], '/', rootfs), ['entry', 'app']);
  assert.equal(programNames('/sbin/climb', [], '/', rootfs), ['climb', 'host-tini'], 'a ".." link stops at the rootfs\'s /');
  assert.equal(programNames('missing', ['PATH=/usr/bin'], '/', rootfs), ['missing']);
  assert.equal(programNames('./init', [], '/sbin', rootfs), ['init', 'tini'], 'relative to cwd');
});

test.run();
