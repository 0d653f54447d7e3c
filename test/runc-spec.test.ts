// The unmodified `runc spec` config, the first one every runc user writes,
// runs under tsrun as under runc: only root.path (a busybox rootfs), args and
// terminal are changed. Its ambient set lists capabilities that are not
// inheritable; runc runs it without them (CapAmb 0), and so must tsrun.
// Also: ids outside 0..4294967294 are refused, and a failed identity step
// names the syscall.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { leftovers, runCommand, sandbox, uniqueId } from './lib/tsrun.ts';

const sb = sandbox();
const runc = spawnSync('runc', ['--version']).status === 0;
test.after(async () => {
  await sb.cleanup();
});

/** A bundle with `runc spec`'s config, edited only by `edit`. */
function runcSpecBundle(edit: (c: Record<string, any>) => void): string {
  const dir = join(sb.dir, uniqueId('spec'));
  mkdirSync(dir, { recursive: true });
  execFileSync('runc', ['spec', '--bundle', dir]);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.root.path = sb.rootfs;
  config.process.terminal = false;
  edit(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

const script = 'grep -E "^(Cap|NoNewPrivs|Uid|Gid|Groups)" /proc/self/status; id; hostname';

(runc ? test : test.skip)('the unmodified runc spec config runs, with the status runc shows (CapAmb 0)', async () => {
  const bundle = runcSpecBundle((c) => {
    c.process.args = ['sh', '-c', script];
  });
  const ours = await sb.tsrun(['run', '--bundle', bundle, uniqueId('ours')]);
  const theirs = await runCommand('runc', ['--root', join(sb.dir, 'runc-root'), 'run', '--bundle', bundle, uniqueId('runc')]);
  assert.is(theirs.exitCode, 0, theirs.stderr);
  assert.is(ours.exitCode, 0, ours.stderr);
  assert.match(ours.stdout, /CapAmb:\t0000000000000000/);
  assert.is(ours.stdout, theirs.stdout);
  // runc (1.2 and later) warns about each capability it cannot raise; so do we.
  assert.match(ours.stderr, /can't raise ambient capability CAP_KILL: it is not in the inheritable set/);
});

(runc ? test : test.skip)('ambient capabilities that are inheritable are raised, as under runc', async () => {
  const bundle = runcSpecBundle((c) => {
    c.process.args = ['sh', '-c', script];
    c.process.capabilities.inheritable = ['CAP_KILL'];
  });
  const ours = await sb.tsrun(['run', '--bundle', bundle, uniqueId('ours')]);
  const theirs = await runCommand('runc', ['--root', join(sb.dir, 'runc-root'), 'run', '--bundle', bundle, uniqueId('runc')]);
  assert.is(ours.exitCode, 0, ours.stderr);
  assert.match(ours.stdout, /CapAmb:\t0000000000000020/);
  assert.is(ours.stdout, theirs.stdout);
});

for (const [field, edit] of [
  ['/process/user/uid', (c: Record<string, any>) => { c.process.user.uid = 4294967295; }],
  ['/process/user/gid', (c: Record<string, any>) => { c.process.user.gid = 4294967295; }],
  ['/process/user/additionalGids/1', (c: Record<string, any>) => { c.process.user.additionalGids = [1, 4294967295]; }],
] as const) {
  (runc ? test : test.skip)(`${field} 4294967295 ("unchanged" to setresuid) is refused`, async () => {
    const bundle = runcSpecBundle((c) => {
      c.process.args = ['id'];
      edit(c);
    });
    const r = await sb.tsrun(['run', '--bundle', bundle, uniqueId('ids')]);
    assert.is.not(r.exitCode, 0);
    assert.match(r.stderr, `${field}: 4294967295 is not a valid id`);
  });
}

(runc ? test : test.skip)('exec --user 4294967295 is refused', async () => {
  const id = uniqueId('execid');
  const bundle = runcSpecBundle((c) => {
    c.process.args = ['sleep', '30'];
  });
  assert.is((await sb.tsrun(['run', '--detach', '--bundle', bundle, id])).exitCode, 0);
  const r = await sb.tsrun(['exec', '--user', '4294967295', id, 'id']);
  assert.is.not(r.exitCode, 0);
  assert.match(r.stderr, '/process/user/uid: 4294967295 is not a valid id');
  await sb.tsrun(['delete', '--force', id]);
});

(runc ? test : test.skip)('a failed identity step names the syscall and its errno', async () => {
  const bundle = runcSpecBundle((c) => {
    c.process.args = ['true'];
    // effective must be a subset of permitted: capset refuses this with EPERM.
    c.process.capabilities.effective = ['CAP_KILL', 'CAP_CHOWN'];
  });
  const r = await sb.tsrun(['run', '--bundle', bundle, uniqueId('capset')]);
  assert.is.not(r.exitCode, 0);
  assert.match(r.stderr, /switch to uid 0 gid 0: capset\(effective 21, permitted 20000420, inheritable 0\): operation not permitted/);
});

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
});

test.run();
