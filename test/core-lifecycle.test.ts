// The lifecycle verbs against the real kernel: create → created → start →
// running → stopped → delete, kill, run's exit status, list, pid files,
// concurrent creates, id reuse, fds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { leftovers, sandbox, statusOf, TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';

const sb = sandbox();
test.after(async () => {
  await sb.cleanup();
});

test('create stops at the barrier, start runs, the container stops by itself, delete removes it', async () => {
  const id = uniqueId('life');
  const marker = join(sb.dir, 'started');
  const bundle = sb.bundle((c) => {
    c.process!.args = ['sh', '-c', 'sleep 1']; // long enough for `state` to see it running on a loaded machine
  });
  const pidFile = join(sb.dir, `${id}.pid`);
  const created = await sb.tsrun(['create', '--bundle', bundle, '--pid-file', pidFile, id]);
  assert.is(created.exitCode, 0, String(created.stderr));
  assert.is(await statusOf(sb, id), 'created');
  const state = JSON.parse(String((await sb.tsrun(['state', id])).stdout));
  assert.is(state.id, id);
  assert.is(state.bundle, bundle);
  assert.is(Number(readFileSync(pidFile, 'utf8')), state.pid, 'pid file holds the init host pid');
  assert.ok(existsSync(`/proc/${state.pid}`));
  assert.is((await sb.tsrun(['start', id])).exitCode, 0);
  assert.is(await statusOf(sb, id), 'running');
  assert.ok(await waitFor(async () => (await statusOf(sb, id)) === 'stopped', 5000), 'stops after its program exits');
  void marker;
  const del = await sb.tsrun(['delete', id]);
  assert.is(del.exitCode, 0, String(del.stderr));
  const gone = await sb.tsrun(['state', id]);
  assert.is(gone.exitCode, 1);
  assert.match(String(gone.stderr), `container "${id}" does not exist`);
});

test('kill TERM stops a container whose init handles it; kill KILL always does', async () => {
  for (const signal of ['TERM', 'SIGKILL', '9']) {
    const id = uniqueId('kill');
    const bundle = sb.bundle();
    assert.is((await sb.tsrun(['run', '--detach', '--bundle', bundle, id])).exitCode, 0);
    assert.is(await statusOf(sb, id), 'running');
    const k = await sb.tsrun(['kill', id, signal]);
    assert.is(k.exitCode, 0, String(k.stderr));
    assert.ok(await waitFor(async () => (await statusOf(sb, id)) === 'stopped'), `stopped after ${signal}`);
    assert.is((await sb.tsrun(['delete', id])).exitCode, 0);
  }
});

test('kill of a stopped container and an unknown signal are clear errors', async () => {
  const id = uniqueId('killerr');
  assert.is((await sb.tsrun(['run', '-d', '--bundle', sb.bundle(), id])).exitCode, 0);
  const bad = await sb.tsrun(['kill', id, 'SIGFOO']);
  assert.is(bad.exitCode, 1);
  assert.match(String(bad.stderr), 'unknown signal "SIGFOO"');
  await sb.tsrun(['kill', id, 'KILL']);
  assert.ok(await waitFor(async () => (await statusOf(sb, id)) === 'stopped'));
  const again = await sb.tsrun(['kill', id]);
  assert.is(again.exitCode, 1);
  assert.match(String(again.stderr), `cannot kill container "${id}": it is stopped`);
  await sb.tsrun(['delete', id]);
});

test('run in the foreground exits with the container status: 0, 42, 137 after SIGKILL', async () => {
  const cases: Array<[string, number]> = [['exit 0', 0], ['exit 42', 42], ['kill -9 $$', 137]];
  for (const [script, expected] of cases) {
    const id = uniqueId('run');
    const bundle = sb.bundle((c) => {
      c.process!.args = ['sh', '-c', script];
    });
    const r = await sb.tsrun(['run', '--bundle', bundle, id]);
    assert.is(r.exitCode, expected, `${script}: ${r.stderr}`);
    assert.not.ok(existsSync(join(sb.root, id)), 'run removes the container');
  }
});

test('run prints the container output on its own stdout, like runc run', async () => {
  const id = uniqueId('out');
  const bundle = sb.bundle((c) => {
    c.process!.args = ['sh', '-c', 'echo hello; echo oops >&2; hostname'];
  });
  const r = await sb.tsrun(['run', '--bundle', bundle, id]);
  assert.is(r.exitCode, 0);
  assert.is(String(r.stdout), 'hello\ntsrun');
  assert.is(String(r.stderr), 'oops');
});

test('run forwards SIGTERM to the container and exits 143', async () => {
  const id = uniqueId('fwd');
  const bundle = sb.bundle((c) => {
    c.annotations = { 'run.tsrun.init': 'false' };
    c.process!.args = ['sh', '-c', 'trap "exit 143" TERM; echo ready; while true; do sleep 0.05; done'];
  });
  const child = execa(TSRUN, ['--root', sb.root, 'run', '--bundle', bundle, id], { reject: false, buffer: true });
  await waitFor(async () => (await statusOf(sb, id)) === 'running');
  await new Promise((r) => setTimeout(r, 200));
  child.kill('SIGTERM');
  const r = await child;
  assert.is(r.exitCode, 143, String(r.stderr));
});

test('run --keep leaves a stopped container to inspect and delete', async () => {
  const id = uniqueId('keep');
  const r = await sb.tsrun(['run', '--keep', '--bundle', sb.bundle((c) => { c.process!.args = ['true']; }), id]);
  assert.is(r.exitCode, 0);
  assert.is(await statusOf(sb, id), 'stopped');
  assert.is((await sb.tsrun(['delete', id])).exitCode, 0);
});

test('delete refuses a running container without --force, and --force kills it', async () => {
  const id = uniqueId('del');
  await sb.tsrun(['run', '-d', '--bundle', sb.bundle(), id]);
  const refused = await sb.tsrun(['delete', id]);
  assert.is(refused.exitCode, 1);
  assert.match(String(refused.stderr), `container "${id}" is running: stop it first or use --force`);
  const pid = JSON.parse(String((await sb.tsrun(['state', id])).stdout)).pid;
  assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
  assert.not.ok(existsSync(join(sb.root, id)));
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  assert.ok(stat === '' || / Z /.test(stat), 'the init is gone');
  assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0, 'delete --force of a missing container succeeds, as in runc');
});

test('start of a running container is a clear error', async () => {
  const id = uniqueId('start2');
  await sb.tsrun(['run', '-d', '--bundle', sb.bundle(), id]);
  const again = await sb.tsrun(['start', id]);
  assert.is(again.exitCode, 1);
  assert.match(String(again.stderr), `cannot start container "${id}": it is running`);
  await sb.tsrun(['delete', '-f', id]);
});

test('two concurrent creates of one id: exactly one succeeds; the id is reusable after delete', async () => {
  const id = uniqueId('dup');
  const bundle = sb.bundle();
  const results = await Promise.all([0, 1, 2].map(() => sb.tsrun(['create', '--bundle', bundle, id])));
  const ok = results.filter((r) => r.exitCode === 0);
  assert.is(ok.length, 1);
  for (const r of results.filter((x) => x.exitCode !== 0)) assert.match(String(r.stderr), `container "${id}" already exists`);
  assert.is((await sb.tsrun(['delete', id])).exitCode, 0, 'a created container can be deleted');
  assert.is((await sb.tsrun(['create', '--bundle', bundle, id])).exitCode, 0, 'the id is free again');
  assert.is((await sb.tsrun(['delete', id])).exitCode, 0);
});

test('list shows containers as a table and as JSON', async () => {
  const id = uniqueId('list');
  await sb.tsrun(['create', '--bundle', sb.bundle(), id]);
  const table = String((await sb.tsrun(['list'])).stdout);
  assert.match(table, /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED/);
  assert.match(table, new RegExp(`${id}\\s+\\d+\\s+created`));
  const json = JSON.parse(String((await sb.tsrun(['list', '--format', 'json'])).stdout));
  assert.ok(json.some((c: { id: string; status: string }) => c.id === id && c.status === 'created'));
  await sb.tsrun(['delete', id]);
});

test('extra fds of the caller do not leak into the container; --preserve-fds passes them', async () => {
  const id = uniqueId('fds');
  const bundle = sb.bundle((c) => {
    c.process!.args = ['sh', '-c', 'ls /proc/self/fd | sort -n | tr "\\n" " "'];
  });
  const fd = openSync('/dev/null', 'r');
  try {
    const plain = await sb.tsrun(['run', '--bundle', bundle, id], { extraFds: [fd, fd] });
    assert.is(plain.exitCode, 0, String(plain.stderr));
    assert.is(String(plain.stdout).trim(), '0 1 2 3', 'only stdio (and ls\'s own dir fd 3)');
    const kept = await sb.tsrun(['run', '--preserve-fds', '1', '--bundle', bundle, `${id}b`], { extraFds: [fd, fd] });
    assert.is(String(kept.stdout).trim(), '0 1 2 3 4', 'fd 3 is passed, ls opens 4');
  } finally {
    closeSync(fd);
  }
});

test('--log with --log-format json gets the error as a JSON line', async () => {
  const log = join(sb.dir, 'log.json');
  const r = await sb.tsrun(['--log', log, '--log-format', 'json', 'state', 'nope']);
  assert.is(r.exitCode, 1);
  const line = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!);
  assert.is(line.level, 'error');
  assert.is(line.msg, 'container "nope" does not exist');
  assert.ok(!Number.isNaN(Date.parse(line.time)));
});

test('spec writes a valid default config and refuses to overwrite it', async () => {
  const dir = join(sb.dir, 'spec');
  await execa('mkdir', ['-p', dir]);
  assert.is((await sb.tsrun(['spec', '--bundle', dir])).exitCode, 0);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.equal(config.process.args, ['sh']);
  assert.is(config.root.path, 'rootfs');
  const again = await sb.tsrun(['spec', '--bundle', dir]);
  assert.is(again.exitCode, 1);
  assert.match(String(again.stderr), 'exists: remove it first');
});

test('--help works for every verb and --version prints the version', async () => {
  for (const verb of ['create', 'start', 'state', 'kill', 'delete', 'run', 'list', 'spec']) {
    const r = await sb.tsrun([verb, '--help']);
    assert.is(r.exitCode, 0, verb);
    assert.match(String(r.stdout), verb);
  }
  const v = await sb.tsrun(['--version']);
  assert.match(String(v.stdout), /tsrun version/);
});

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
});

test.run();
