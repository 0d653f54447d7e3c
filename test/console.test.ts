// process.terminal with --console-socket, as containerd and conmon use it:
// the pty is made in the container, its master is sent over the socket
// (SCM_RIGHTS) to test/fixtures/recvtty.c, and everything the container reads
// and writes goes through it. Also exec --tty --console-socket --detach.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { leftovers, runCommand, sandbox, statusOf, TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';
import { startRecvtty } from './lib/recvtty.ts';

const sb = sandbox();
test.after(async () => {
  await sb.cleanup();
});

test('create --console-socket: the master arrives at create; after start the output comes out of it and input goes in', async () => {
  const id = uniqueId('console');
  const bundle = sb.bundle((c) => {
    c.process!.terminal = true;
    c.process!.consoleSize = { height: 33, width: 101 };
    c.process!.args = ['sh', '-c', 'tty; stty size; echo ready; read x; echo "got $x"'];
  });
  const tty = await startRecvtty(sb.dir, `${id}.sock`);
  try {
    const created = await sb.tsrun(['create', '--bundle', bundle, '--console-socket', tty.socket, id]);
    assert.is(created.exitCode, 0, String(created.stderr));
    assert.ok(await tty.received(), `the pty master was sent at create: ${tty.log()}`);
    assert.is(tty.output(), '', 'nothing runs before start');
    assert.is(await statusOf(sb, id), 'created');
    assert.is((await sb.tsrun(['start', id])).exitCode, 0);
    assert.ok(await tty.waitOutput(/ready\n/), `output arrives on the master: ${JSON.stringify(tty.output())}`);
    const [ttyName, size] = tty.output().split('\n');
    assert.match(ttyName!, /^\/dev\/pts\/\d+$/, 'stdin is a pty of the container');
    assert.is(size, '33 101', 'consoleSize was applied');
    tty.write('hello\n');
    assert.ok(await tty.waitOutput(/got hello\n/), `input reaches the container: ${JSON.stringify(tty.output())}`);
    assert.is(await tty.closed, 0, 'the master reports EOF once the container exits');
    assert.ok(await waitFor(async () => (await statusOf(sb, id)) === 'stopped'));
    assert.is((await sb.tsrun(['delete', id])).exitCode, 0);
  } finally {
    await tty.stop();
  }
});

test('the terminal is the controlling tty: ^C on the master interrupts the foreground process', async () => {
  const id = uniqueId('console-intr');
  const bundle = sb.bundle((c) => {
    c.process!.terminal = true;
    c.process!.args = ['sh', '-c', 'trap "echo interrupted; exit 7" INT; echo waiting; while true; do sleep 0.1; done'];
  });
  const tty = await startRecvtty(sb.dir, `${id}.sock`);
  try {
    assert.is((await sb.tsrun(['run', '--detach', '--bundle', bundle, '--console-socket', tty.socket, id])).exitCode, 0);
    assert.ok(await tty.waitOutput(/waiting\n/), tty.output());
    tty.write('\x03');
    assert.ok(await tty.waitOutput(/interrupted\n/), `the line discipline turned ^C into SIGINT: ${JSON.stringify(tty.output())}`);
    assert.ok(await waitFor(async () => (await statusOf(sb, id)) === 'stopped'));
    assert.is((await sb.tsrun(['delete', id])).exitCode, 0);
  } finally {
    await tty.stop();
  }
});

test('exec --tty --console-socket --detach: a second pty, relayed the same way', async () => {
  const id = uniqueId('console-exec');
  assert.is((await sb.tsrun(['run', '--detach', '--bundle', sb.bundle((c) => { c.process!.args = ['sleep', '300']; }), id])).exitCode, 0);
  const tty = await startRecvtty(sb.dir, `${id}.sock`);
  try {
    const r = await sb.tsrun(['exec', '--tty', '--console-socket', tty.socket, '--detach', id, 'sh', '-c', 'tty; echo ready; read y; echo "exec got $y"; exit 3']);
    assert.is(r.exitCode, 0, String(r.stderr));
    assert.ok(await tty.received(), tty.log());
    assert.ok(await tty.waitOutput(/ready\n/), JSON.stringify(tty.output()));
    assert.match(tty.output(), /^\/dev\/pts\/\d+\n/);
    tty.write('world\n');
    assert.ok(await tty.waitOutput(/exec got world\n/), JSON.stringify(tty.output()));
    assert.is(await tty.closed, 0);
    assert.is(await statusOf(sb, id), 'running', 'the exec ended, the container did not');
  } finally {
    await tty.stop();
  }
  assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
});

test('terminal: true without --console-socket on create is a clear error, and leaves nothing', async () => {
  const id = uniqueId('console-missing');
  const bundle = sb.bundle((c) => { c.process!.terminal = true; });
  const r = await sb.tsrun(['create', '--bundle', bundle, id]);
  assert.is(r.exitCode, 1);
  assert.match(r.stderr, 'a terminal needs --console-socket');
  assert.match((await sb.tsrun(['state', id])).stderr, `container "${id}" does not exist`);
  const detached = await sb.tsrun(['run', '--detach', '--bundle', bundle, `${id}-d`]);
  assert.is.not(detached.exitCode, 0, 'run --detach has no terminal to relay to either');
  assert.match(detached.stderr, '--console-socket');
});

test('a console socket nobody listens on is a clear error', async () => {
  const id = uniqueId('console-nolisten');
  const bundle = sb.bundle((c) => { c.process!.terminal = true; });
  const r = await sb.tsrun(['create', '--bundle', bundle, '--console-socket', `${sb.dir}/nobody.sock`, id]);
  assert.is(r.exitCode, 1);
  assert.match(r.stderr, 'nobody.sock');
  assert.match((await sb.tsrun(['state', id])).stderr, 'does not exist');
});

test('run in the foreground with process.terminal: the pty is relayed to our terminal, with its size', async () => {
  const id = uniqueId('console-run');
  const bundle = sb.bundle((c) => {
    c.process!.terminal = true;
    c.process!.args = ['sh', '-c', 'tty; stty size; read x; echo "got $x"; exit 6'];
  });
  const cmd = `stty rows 31 cols 97; ${TSRUN} --root ${sb.root} run --bundle ${bundle} ${id}`;
  const r = await runCommand('sh', ['-c', `(sleep 1; printf 'hello\\n') | script -qec '${cmd}' /dev/null`]);
  const out = r.stdout.replace(/\r/g, '');
  assert.match(out, /^\/dev\/pts\/\d+$/m, out);
  assert.match(out, /^31 97$/m, `the window size of our terminal: ${out}`);
  assert.match(out, /^got hello$/m, `input relayed: ${out}`);
  assert.is(r.exitCode, 6);
});

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
  assert.not.ok(existsSync(sb.dir));
});

test.run();
