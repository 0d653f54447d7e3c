// The shim's pure parts: ttrpc frames cut from a byte stream however it is
// split (an oversized frame skipped without buffering it), protobuf round
// trips of the task API's messages, and containerd's flag syntax.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseFlags } from '../../src/shim/flags.ts';
import { decode, encode, timestamp, toAny } from '../../src/shim/messages.ts';
import { FrameReader, MAX_MESSAGE, frame } from '../../src/shim/ttrpc.ts';

test('frames come out whole whatever the chunking', () => {
  const bytes = Buffer.concat([frame(1, 1, Buffer.from('hello')), frame(3, 1, Buffer.alloc(0)), frame(5, 2, Buffer.from('x'.repeat(300)))]);
  for (const size of [1, 3, 10, 11, 64, bytes.length]) {
    const r = new FrameReader();
    const out = [];
    for (let i = 0; i < bytes.length; i += size) out.push(...r.push(bytes.subarray(i, i + size)));
    assert.equal(out.map((f) => [f.streamId, f.type, f.payload?.length]), [[1, 1, 5], [3, 1, 0], [5, 2, 300]], `chunks of ${size}`);
    assert.is(out[0]!.payload!.toString(), 'hello');
  }
});

test('a frame over 4 MiB is reported with a null payload and its bytes are skipped', () => {
  const header = Buffer.alloc(10);
  header.writeUInt32BE(MAX_MESSAGE + 1, 0);
  header.writeUInt32BE(7, 4);
  header.writeUInt8(1, 8);
  const r = new FrameReader();
  const first = r.push(Buffer.concat([header, Buffer.alloc(1000)]));
  assert.equal(first.map((f) => [f.streamId, f.payload]), [[7, null]]);
  assert.equal(r.push(Buffer.alloc(MAX_MESSAGE + 1 - 1000 - 5)), []);
  const next = r.push(Buffer.concat([Buffer.alloc(5), frame(9, 1, Buffer.from('ok'))]));
  assert.equal(next.map((f) => [f.streamId, f.payload?.toString()]), [[9, 'ok']], 'the stream is back in step after the skipped bytes');
});

test('task API messages round-trip with their proto field names and defaults', () => {
  const req = { id: 'c1', bundle: '/b', rootfs: [{ type: 'overlay', source: 'overlay', options: ['lowerdir=/l'] }], terminal: true, stdin: '', stdout: '/f1', stderr: '/f2' };
  const back = decode('containerd.task.v2.CreateTaskRequest', encode('containerd.task.v2.CreateTaskRequest', req));
  assert.is(back.id, 'c1');
  assert.is(back.terminal, true);
  assert.is(back.stdin, '', 'an unset string decodes as ""');
  assert.equal((back.rootfs as Array<{ options: string[] }>)[0]!.options, ['lowerdir=/l']);
  const wait = decode('containerd.task.v2.WaitResponse', encode('containerd.task.v2.WaitResponse', { exit_status: 137, exited_at: timestamp(1700000000123) }));
  assert.equal(wait, { exit_status: 137, exited_at: { seconds: 1700000000, nanos: 123000000 } });
  const any = toAny('containerd.events.TaskExit', 'containerd.events.TaskExit', { container_id: 'c1', exit_status: 3 });
  assert.is(any.type_url, 'containerd.events.TaskExit', "containerd's typeurl names events without a prefix");
  assert.is(decode('containerd.events.TaskExit', any.value).exit_status, 3);
});

test('a payload that is not protobuf is an error, not a crash', () => {
  assert.throws(() => decode('containerd.task.v2.StateRequest', Buffer.from([0xff, 0xff, 0xff])));
});

test('flags as containerd passes them: -name value, -name=value, booleans, the action', () => {
  const f = parseFlags(['-namespace', 'k8s.io', '-address', '/run/c.sock', '-publish-binary', '/usr/bin/containerd', '-id', 'abc', '-debug', 'start']);
  assert.equal([f.namespace, f.address, f.id, f.debug, f.action], ['k8s.io', '/run/c.sock', 'abc', true, 'start']);
  const g = parseFlags(['--namespace=ns', '-id', 'x', '-bundle', '/b', 'delete']);
  assert.equal([g.namespace, g.id, g.bundle, g.action, g.debug], ['ns', 'x', '/b', 'delete', false]);
});

test.run();
