// `tsrun run` of a busybox bundle prints the same output and exits with the
// same status as `runc run` of the same bundle (when runc is installed).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { leftovers, runCommand, sandbox, uniqueId } from './lib/tsrun.ts';

const sb = sandbox();
const runc = spawnSync('runc', ['--version']).status === 0;
if (!runc) console.log('SKIP runc-compat: runc is not installed');
test.after(async () => {
  await sb.cleanup();
});

const scripts = [
  'echo hello; hostname; id; ls /; cat /etc/passwd | wc -l',
  'echo to-stderr >&2; exit 3',
  'cat /proc/self/status | grep -E "^(CapEff|CapBnd|NoNewPrivs)"; ulimit -n; ls /dev | sort | tr "\\n" " "',
  'grep -E " / | /proc | /sys " /proc/self/mountinfo | cut -d" " -f5,6 | sort',
];

for (const script of scripts) {
  (runc ? test : test.skip)(`same output and status as runc: ${script.slice(0, 40)}`, async () => {
    const bundle = sb.bundle((c) => {
      c.process!.args = ['sh', '-c', script];
    });
    const ours = await sb.tsrun(['run', '--bundle', bundle, uniqueId('cmp')]);
    const theirs = await runCommand('runc', ['--root', join(sb.dir, 'runc-root'), 'run', '--bundle', bundle, uniqueId('runc')]);
    assert.is(ours.exitCode, theirs.exitCode);
    assert.is(ours.stdout, theirs.stdout);
    assert.is(ours.stderr, theirs.stderr);
  });
}

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
});

test.run();
