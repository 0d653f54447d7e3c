// linux.sysctl end to end: each namespace rule refuses `create` with a
// message naming the key and the reason, and leaves nothing behind; allowed
// keys are written inside the container's namespaces (new or joined) and never
// on the host, in either key form; keys and values the kernel refuses fail
// `create` with the key, the value and the errno; and the values land even
// though the application itself sees /proc/sys read-only.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Config, Namespace } from '../src/runtime/oci-types.ts';
import { leftovers, sandbox, uniqueId, waitFor } from './lib/tsrun.ts';

const sb = sandbox();
test.after(async () => {
  await sb.cleanup();
});

const KEEPALIVE = '/proc/sys/net/ipv4/tcp_keepalive_time';
const hostValue = (file: string): string => readFileSync(file, 'utf8').trim();
const HOST = {
  keepalive: hostValue(KEEPALIVE),
  msgmax: hostValue('/proc/sys/kernel/msgmax'),
  shmmni: hostValue('/proc/sys/kernel/shmmni'),
  domainname: hostValue('/proc/sys/kernel/domainname'),
};

function withoutNamespace(c: Config, type: Namespace['type']): void {
  c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== type);
}

function setNamespacePath(c: Config, type: Namespace['type'], path: string): void {
  c.linux!.namespaces = c.linux!.namespaces!.map((n) => (n.type === type ? { type, path } : n));
}

/** `create` must fail with `message`, and leave no state, cgroup or process behind. */
async function refused(edit: (c: Config) => void, message: string | RegExp): Promise<void> {
  const id = uniqueId('sysctl-no');
  const r = await sb.tsrun(['create', '--bundle', sb.bundle(edit), id]);
  assert.is(r.exitCode, 1, `created: ${r.stdout}`);
  assert.match(r.stderr, message);
  assert.not.ok(existsSync(join(sb.root, id)), 'no state dir');
  assert.equal(leftovers(sb.root, id), []);
}

/** Runs `script` in the foreground with `sysctl` set; returns its stdout. */
async function inside(sysctl: Record<string, string>, script: string, edit?: (c: Config) => void): Promise<string> {
  const r = await sb.tsrun(['run', '--bundle', sb.bundle((c) => {
    c.linux!.sysctl = sysctl;
    c.process!.args = ['sh', '-c', script];
    edit?.(c);
  }), uniqueId('sysctl')]);
  assert.is(r.exitCode, 0, r.stderr);
  return r.stdout;
}

function assertHostUnchanged(): void {
  assert.is(hostValue(KEEPALIVE), HOST.keepalive, 'host tcp_keepalive_time unchanged');
  assert.is(hostValue('/proc/sys/kernel/msgmax'), HOST.msgmax, 'host msgmax unchanged');
  assert.is(hostValue('/proc/sys/kernel/shmmni'), HOST.shmmni, 'host shmmni unchanged');
  assert.is(hostValue('/proc/sys/kernel/domainname'), HOST.domainname, 'host domainname unchanged');
}

test('refused: net.* without a network namespace', async () => {
  await refused((c) => {
    withoutNamespace(c, 'network');
    c.linux!.sysctl = { 'net.ipv4.tcp_keepalive_time': '600' };
  }, 'sysctl "net.ipv4.tcp_keepalive_time" is not allowed: the container shares the host network namespace (add a network namespace to linux.namespaces)');
});

test('refused: net.* in a network namespace path that is the host\'s own', async () => {
  await refused((c) => {
    setNamespacePath(c, 'network', '/proc/self/ns/net');
    c.linux!.sysctl = { 'net.ipv4.tcp_keepalive_time': '600' };
  }, 'sysctl "net.ipv4.tcp_keepalive_time" is not allowed: the container shares the host network namespace');
});

test('refused: an IPC key without an ipc namespace', async () => {
  await refused((c) => {
    withoutNamespace(c, 'ipc');
    c.linux!.sysctl = { 'kernel.msgmax': '16384' };
  }, 'sysctl "kernel.msgmax" is not allowed: the container shares the host ipc namespace (add an ipc namespace to linux.namespaces)');
});

test('refused: kernel.domainname without a uts namespace', async () => {
  await refused((c) => {
    withoutNamespace(c, 'uts');
    delete c.hostname;
    c.linux!.sysctl = { 'kernel.domainname': 'example.test' };
  }, 'sysctl "kernel.domainname" is not allowed: the container shares the host uts namespace (add a uts namespace to linux.namespaces)');
});

test('refused: kernel.hostname, which the hostname field owns', async () => {
  await refused((c) => {
    c.linux!.sysctl = { 'kernel.hostname': 'box' };
  }, 'sysctl "kernel.hostname" is not allowed: it conflicts with the hostname field (set "hostname" in config.json instead)');
});

test('refused: user.* without a user namespace', async () => {
  await refused((c) => {
    c.linux!.sysctl = { 'user.max_user_namespaces': '10' };
  }, 'sysctl "user.max_user_namespaces" is not allowed: the container shares the host user namespace (add a user namespace to linux.namespaces)');
});

test('refused: vm.swappiness, which is not namespaced', async () => {
  await refused((c) => {
    c.linux!.sysctl = { 'vm.swappiness': '10' };
  }, 'sysctl "vm.swappiness" is not allowed: it is not namespaced, so it would change the host');
});

test('a new network namespace gets tcp_keepalive_time=600 while the host keeps its value', async () => {
  assert.is(await inside({ 'net.ipv4.tcp_keepalive_time': '600' }, `cat ${KEEPALIVE}`), '600');
  assert.is.not(HOST.keepalive, '600', 'the host value differs, so the test shows something');
  assertHostUnchanged();
});

test('the slashed key form is normalised and applied the same', async () => {
  assert.is(await inside({ 'net/ipv4/tcp_keepalive_time': '610', 'net/ipv4/tcp_keepalive_intvl': '30' },
    `cat ${KEEPALIVE} /proc/sys/net/ipv4/tcp_keepalive_intvl`), '610\n30');
  assertHostUnchanged();
});

test('a joined network namespace gets the value; nsenter sees it there after the container is gone', async () => {
  const holder = spawn('unshare', ['-n', 'sleep', '30'], { stdio: 'ignore' });
  try {
    const nsPath = `/proc/${holder.pid}/ns/net`;
    assert.ok(await waitFor(() => {
      try {
        return readlinkSync(nsPath) !== readlinkSync('/proc/self/ns/net');
      } catch {
        return false;
      }
    }), 'unshare has made its namespace');
    const before = spawnSync('nsenter', [`--net=${nsPath}`, 'cat', KEEPALIVE], { encoding: 'utf8' }).stdout.trim();
    assert.is(before, '7200', 'a fresh namespace starts at the kernel default');
    const out = await inside({ 'net.ipv4.tcp_keepalive_time': '900' }, `cat ${KEEPALIVE}; readlink /proc/self/ns/net`, (c) => {
      setNamespacePath(c, 'network', nsPath);
    });
    assert.is(out, `900\n${readlinkSync(nsPath)}`);
    const after = spawnSync('nsenter', [`--net=${nsPath}`, 'cat', KEEPALIVE], { encoding: 'utf8' });
    assert.is(after.status, 0, after.stderr);
    assert.is(after.stdout.trim(), '900', 'the value belongs to the namespace, which outlives the container');
    assertHostUnchanged();
  } finally {
    holder.kill('SIGKILL');
  }
});

test('IPC keys apply inside a new ipc namespace', async () => {
  const out = await inside({ 'kernel.msgmax': '12345', 'kernel.shmmni': '2048', 'kernel.msgmnb': '23456' },
    'cat /proc/sys/kernel/msgmax /proc/sys/kernel/shmmni /proc/sys/kernel/msgmnb');
  assert.is(out, '12345\n2048\n23456');
  assertHostUnchanged();
});

test('kernel.domainname applies inside a new uts namespace', async () => {
  assert.is(await inside({ 'kernel.domainname': 'sysctl.example' }, 'cat /proc/sys/kernel/domainname; hostname'), 'sysctl.example\ntsrun');
  assertHostUnchanged();
});

test('a key the kernel does not have fails create with key, value and ENOENT; nothing is left', async () => {
  await refused((c) => {
    c.linux!.sysctl = { 'net.ipv4.no_such_key': '1' };
  }, 'sysctl "net.ipv4.no_such_key" = "1": no such file or directory (ENOENT)');
});

test('a value the kernel refuses fails create with key, value and EINVAL; nothing is left', async () => {
  await refused((c) => {
    c.linux!.sysctl = { 'net.ipv4.tcp_keepalive_time': 'abc' };
  }, 'sysctl "net.ipv4.tcp_keepalive_time" = "abc": invalid argument (EINVAL)');
  // tcp_syn_retries is bounded (1..127): an out-of-range number is refused the same way
  await refused((c) => {
    c.linux!.sysctl = { 'net.ipv4.tcp_syn_retries': '1000' };
  }, 'sysctl "net.ipv4.tcp_syn_retries" = "1000": invalid argument (EINVAL)');
  assertHostUnchanged();
});

test('the values apply although /proc/sys is read-only for the application, which cannot write it', async () => {
  const out = await inside({ 'net.ipv4.tcp_keepalive_time': '600' }, [
    `cat ${KEEPALIVE}`,
    `(echo 300 > ${KEEPALIVE}) 2>/dev/null && echo written || echo refused`,
    `cat ${KEEPALIVE}`,
    'grep " /proc/sys " /proc/self/mountinfo | cut -d" " -f6 | cut -d, -f1',
  ].join('; '));
  assert.is(out, '600\nrefused\n600\nro');
  assertHostUnchanged();
});

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
});

test.run();
