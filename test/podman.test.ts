// podman drives tsrun through conmon (`podman --runtime bin/tsrun`): run with
// output and exit status, a detached container with exec, top, pause/unpause
// and a graceful stop. Private storage and run roots in a temp dir.
// podman's default RLIMIT_NOFILE (1048576) is above this machine's hard limit
// and the bounding set lacks CAP_SYS_RESOURCE: runc refuses it just as tsrun
// does, so the containers ask for limits the machine can give.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hasPodman, LIMITS, privatePodman } from './lib/podman.ts';
import { runCommand } from './lib/tsrun.ts';
import { probeUnderCaptured, syscallProbe } from './lib/syscall-probe.ts';

const pm = privatePodman('podman');
const { work, base, podman } = pm;
const limits = LIMITS;
const image = 'localhost/tsrun-busybox:test';
const name = `tsrun-pod-${process.pid}`;

test.after(() => pm.cleanup());

(hasPodman ? test : test.skip)('podman imports a busybox image and runs it with tsrun: output and exit status', async () => {
  const imported = await pm.importBusybox(image);
  assert.is(imported.exitCode, 0, imported.stderr);
  const r = await podman(['run', '--rm', ...limits, image, 'sh', '-c', 'echo hello from podman; cat /proc/1/comm; exit 3']);
  assert.is(r.exitCode, 3, r.stderr);
  assert.is(r.stdout, 'hello from podman\ntsrun-init');
});

(hasPodman ? test : test.skip)('a detached container: exec, top, pause/unpause, stop with SIGTERM through tsrun-init', async () => {
  assert.is((await podman(['run', '-d', '--name', name, ...limits, image, 'sleep', '300'])).exitCode, 0);
  const exec = await podman(['exec', name, 'sh', '-c', 'echo exec-ok; exit 4']);
  assert.is(exec.exitCode, 4);
  assert.is(exec.stdout, 'exec-ok');
  const top = await podman(['top', name]);
  assert.match(top.stdout, /tsrun-init -t 1 -- sleep 300/);
  assert.match(top.stdout, /\n.*sleep 300\s*$/);
  assert.is((await podman(['pause', name])).exitCode, 0);
  assert.is((await podman(['inspect', name, '--format', '{{.State.Status}}'])).stdout, 'paused');
  assert.is((await podman(['unpause', name])).exitCode, 0);
  assert.is((await podman(['inspect', name, '--format', '{{.State.Status}}'])).stdout, 'running');
  assert.is((await podman(['stop', '-t', '10', name])).exitCode, 0);
  assert.is((await podman(['inspect', name, '--format', '{{.State.ExitCode}}'])).stdout, '143', 'sleep got SIGTERM from tsrun-init, not SIGKILL after the timeout');
  assert.is((await podman(['rm', name])).exitCode, 0);
  assert.is((await podman(['ps', '-a', '--format', '{{.Names}}'])).stdout, '');
});

// podman maps a runtime's exec failure to an exit status by its words:
// "no such file or directory" or "executable file not found in $PATH" → 127,
// "permission denied" → 126 (runc gives the same statuses).
(hasPodman ? test : test.skip)('a program that cannot be run: podman run and podman exec exit 127 (not found) and 126 (not executable), as with runc', async () => {
  for (const [program, status] of [['/missing', 127], ['missing', 127], ['/etc/passwd', 126]] as const) {
    const r = await podman(['run', '--rm', ...limits, image, program]);
    assert.is(r.exitCode, status, `podman run ${program}: ${r.stderr}`);
  }
  const box = `${name}-exec`;
  assert.is((await podman(['run', '-d', '--name', box, ...limits, image, 'sleep', '300'])).exitCode, 0);
  for (const [program, status] of [['/missing', 127], ['missing', 127], ['/etc/passwd', 126]] as const) {
    const r = await podman(['exec', box, program]);
    assert.is(r.exitCode, status, `podman exec ${program}: ${r.stderr}`);
  }
  assert.is((await podman(['rm', '-f', '-t', '0', box])).exitCode, 0);
});

// What podman's default seccomp profile denies and allows, probed from inside
// by test/fixtures/syscall-probe.c: add_key is not on its list, so it fails
// with its default ERRNO(ENOSYS), where unconfined it would fail with EFAULT;
// swapoff, settimeofday and delete_module meet its EPERM rules; unshare of a
// user namespace is allowed. A normal shell works. Printed as lines, to
// compare runtimes.
const PROBE = [
  'grep "^Seccomp:" /proc/self/status',
  '/probe',
  'swapoff /nothing 2>&1 | tail -1',
  'date -s 2000-01-01 >/dev/null 2>&1 || echo "date -s: refused"',
  'rmmod nothing 2>&1 | tail -1',
  'mkdir /tmp/d && touch /tmp/d/f && ls /tmp/d && rm -r /tmp/d && echo "files: ok"',
  'linux32 true && echo "personality: ok"',
  'echo "sum $((6*7))"; sleep 0.01 && echo "sleep: ok"',
].join('; ');
const probeMount = () => ['-v', `${syscallProbe()}:/probe:ro`];

(hasPodman ? test : test.skip)('podman\'s default seccomp profile: the container is confined under tsrun exactly as under runc', async () => {
  const withTsrun = await podman(['run', '--rm', ...limits, ...probeMount(), image, 'sh', '-c', PROBE]);
  assert.is(withTsrun.exitCode, 0, withTsrun.stderr);
  assert.match(withTsrun.stdout, /^Seccomp:\s+2$/m);
  assert.match(withTsrun.stdout, /^add_key: Function not implemented$/m);
  assert.match(withTsrun.stdout, /^unshare\(CLONE_NEWUSER\): ok$/m);
  assert.match(withTsrun.stdout, /swapoff: \/nothing: Operation not permitted/);
  assert.match(withTsrun.stdout, /files: ok\npersonality: ok\nsum 42\nsleep: ok/);
  const runcBase = base.slice(0, base.indexOf('--runtime'));
  const withRunc = await runCommand('podman', [...runcBase, '--runtime', 'runc', 'run', '--rm', ...limits, ...probeMount(), image, 'sh', '-c', PROBE]);
  assert.is(withRunc.exitCode, 0, withRunc.stderr);
  assert.is(withTsrun.stdout, withRunc.stdout, 'the same answers as runc');
});

(hasPodman ? test : test.skip)('the profile podman generates, captured from its config.json, runs a busybox shell under tsrun run and denies what it denies', async () => {
  const ctr = `${name}-sc`;
  assert.is((await podman(['run', '-d', '--name', ctr, ...limits, image, 'sleep', '300'])).exitCode, 0);
  const path = (await podman(['inspect', ctr, '--format', '{{.OCIConfigPath}}'])).stdout;
  const captured = JSON.parse(readFileSync(path, 'utf8'));
  assert.is((await podman(['rm', '-f', '-t', '0', ctr])).exitCode, 0);
  const profile = captured.linux.seccomp;
  assert.is(profile.defaultAction, 'SCMP_ACT_ERRNO');
  assert.ok(profile.syscalls.flatMap((s: { names: string[] }) => s.names).length > 300, 'podman\'s ~400 names');
  const expected = (await podman(['run', '--rm', ...limits, ...probeMount(), image, 'sh', '-c', PROBE])).stdout;
  for (const [nnp, out] of await probeUnderCaptured(captured, PROBE)) assert.is(out, expected, `what podman saw under tsrun (noNewPrivileges ${nnp})`);
});

test('nothing is left behind', async () => {
  const ps = spawnSync('ps', ['-eo', 'args='], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(work));
  assert.equal(ps, []);
});

test.run();
