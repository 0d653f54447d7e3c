// Sysctl key normalisation, the file each key writes, runc's namespace rules
// with their messages, and the network namespace comparison on real
// namespace files (one made by `unshare -n`, killed by PID afterwards).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError } from '../../src/runtime/errors.ts';
import type { Config } from '../../src/runtime/oci-types.ts';
import {
  namespaceFacts,
  networkNamespaceKind,
  normalizeSysctlKey,
  sysctlFile,
  sysctlProblems,
  validateSysctls,
  type NamespaceFacts,
} from '../../src/runtime/validate/sysctl.ts';

const ALL: NamespaceFacts = { ipc: true, net: 'new', uts: true, user: true };
const NONE: NamespaceFacts = { ipc: false, net: 'host', uts: false, user: false };

test('normalizeSysctlKey swaps separators only when the first one is a slash', () => {
  assert.is(normalizeSysctlKey('net/ipv4/conf/eth0.100/rp_filter'), 'net.ipv4.conf.eth0/100.rp_filter');
  assert.is(normalizeSysctlKey('net.ipv4.conf.eth0/100.rp_filter'), 'net.ipv4.conf.eth0/100.rp_filter');
  assert.is(normalizeSysctlKey('net/ipv4/ip_forward'), 'net.ipv4.ip_forward');
  assert.is(normalizeSysctlKey('kernel.msgmax'), 'kernel.msgmax');
  assert.is(normalizeSysctlKey('nodots'), 'nodots');
  assert.is(normalizeSysctlKey(''), '');
  const k = 'net/ipv4/conf/eth0.100/rp_filter';
  assert.is(normalizeSysctlKey(normalizeSysctlKey(k)), normalizeSysctlKey(k), 'idempotent');
});

test('sysctlFile maps dots to directories and slashes to dots', () => {
  assert.is(sysctlFile('net.ipv4.conf.eth0/100.rp_filter'), '/proc/sys/net/ipv4/conf/eth0.100/rp_filter');
  assert.is(sysctlFile('net/ipv4/conf/eth0.100/rp_filter'), '/proc/sys/net/ipv4/conf/eth0.100/rp_filter');
  assert.is(sysctlFile('kernel.shm_rmid_forced'), '/proc/sys/kernel/shm_rmid_forced');
  assert.is(sysctlFile('fs.mqueue.msg_max'), '/proc/sys/fs/mqueue/msg_max');
});

test('ipc keys and fs.mqueue.* need an ipc namespace', () => {
  const keys = ['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax',
    'kernel.shmmni', 'kernel.shm_rmid_forced', 'fs.mqueue.queues_max', 'fs/mqueue/msg_max'];
  const sysctl = Object.fromEntries(keys.map((k) => [k, '1']));
  assert.equal(sysctlProblems(sysctl, { ...NONE, ipc: true }), []);
  const out = sysctlProblems(sysctl, { ...ALL, ipc: false });
  assert.is(out.length, keys.length);
  assert.is(out[0], 'sysctl "kernel.msgmax" is not allowed: the container shares the host ipc namespace (add an ipc namespace to linux.namespaces)');
  assert.is(out[9], 'sysctl "fs/mqueue/msg_max" is not allowed: the container shares the host ipc namespace (add an ipc namespace to linux.namespaces)');
  assert.equal(sysctlProblems({ 'fs.file-max': '1' }, ALL), ['sysctl "fs.file-max" is not allowed: it is not namespaced, so it would change the host']);
  assert.equal(sysctlProblems({ 'kernel.msgmaxx': '1' }, ALL), ['sysctl "kernel.msgmaxx" is not allowed: it is not namespaced, so it would change the host']);
});

test('net.* is refused only in the host network namespace', () => {
  const sysctl = { 'net.ipv4.ip_forward': '1', 'net/ipv4/conf/eth0.100/rp_filter': '2' };
  assert.equal(sysctlProblems(sysctl, { ...NONE, net: 'new' }), []);
  assert.equal(sysctlProblems(sysctl, { ...NONE, net: 'joined' }), []);
  assert.equal(sysctlProblems(sysctl, { ...ALL, net: 'host' }), [
    'sysctl "net.ipv4.ip_forward" is not allowed: the container shares the host network namespace (add a network namespace to linux.namespaces)',
    'sysctl "net/ipv4/conf/eth0.100/rp_filter" is not allowed: the container shares the host network namespace (add a network namespace to linux.namespaces)',
  ]);
});

test('kernel.domainname needs uts; kernel.hostname is always refused', () => {
  assert.equal(sysctlProblems({ 'kernel.domainname': 'example.org' }, { ...NONE, uts: true }), []);
  assert.equal(sysctlProblems({ 'kernel.domainname': 'example.org' }, { ...ALL, uts: false }), [
    'sysctl "kernel.domainname" is not allowed: the container shares the host uts namespace (add a uts namespace to linux.namespaces)',
  ]);
  const hostname = 'sysctl "kernel.hostname" is not allowed: it conflicts with the hostname field (set "hostname" in config.json instead)';
  assert.equal(sysctlProblems({ 'kernel.hostname': 'box' }, ALL), [hostname]);
  assert.equal(sysctlProblems({ 'kernel.hostname': 'box' }, NONE), [hostname]);
});

test('user.* needs a user namespace', () => {
  assert.equal(sysctlProblems({ 'user.max_user_namespaces': '10' }, { ...NONE, user: true }), []);
  assert.equal(sysctlProblems({ 'user.max_user_namespaces': '10' }, { ...ALL, user: false }), [
    'sysctl "user.max_user_namespaces" is not allowed: the container shares the host user namespace (add a user namespace to linux.namespaces)',
  ]);
});

test('everything else is refused as not namespaced', () => {
  for (const key of ['vm.swappiness', 'kernel.pid_max', 'kernel.random.boot_id', 'dev.tty.ldisc_autoload', 'abi.vsyscall32', 'netx.a']) {
    assert.equal(sysctlProblems({ [key]: '1' }, ALL), [`sysctl ${JSON.stringify(key)} is not allowed: it is not namespaced, so it would change the host`]);
  }
});

test('bad keys: empty, "..", empty components, NUL, paths out of /proc/sys', () => {
  const cases: [string, string][] = [
    ['', 'it is empty'],
    ['net..ipv4', 'it contains ".."'],
    ['net/ipv4/../../vm/swappiness', 'it contains ".."'],
    ['net.ipv4.', 'it has an empty component'],
    ['.net.ipv4', 'it has an empty component'],
    ['net//ipv4', 'it has an empty component'],
    ['net.ipv4\0.x', 'it contains a NUL byte'],
    ['net.//.x', 'it names a file outside /proc/sys'],
    ['net./.x', 'it names a file outside /proc/sys'],
  ];
  for (const [key, why] of cases) {
    assert.equal(sysctlProblems({ [key]: '1' }, ALL), [`sysctl ${JSON.stringify(key)} is not a valid key: ${why}`], key);
  }
});

test('bad values: newline, NUL, non-string', () => {
  assert.equal(sysctlProblems({ 'net.ipv4.ip_forward': '1\n' }, ALL), ['sysctl "net.ipv4.ip_forward" has an invalid value: it contains a newline']);
  assert.equal(sysctlProblems({ 'net.ipv4.ip_forward': '1\r' }, ALL), ['sysctl "net.ipv4.ip_forward" has an invalid value: it contains a newline']);
  assert.equal(sysctlProblems({ 'net.ipv4.ip_forward': '1\0' }, ALL), ['sysctl "net.ipv4.ip_forward" has an invalid value: it contains a NUL byte']);
  assert.equal(sysctlProblems({ 'net.ipv4.ip_forward': 1 as unknown as string }, ALL), ['sysctl "net.ipv4.ip_forward" has an invalid value: must be a string']);
  assert.equal(sysctlProblems({ 'net.ipv4.tcp_rmem': '4096 87380 6291456' }, ALL), [], 'spaces are fine');
  assert.equal(sysctlProblems({ 'vm.swappiness': 'x\n' }, ALL).length, 2, 'both the key and the value are reported');
});

test('validateSysctls throws ERR_SYSCTL with every problem', () => {
  validateSysctls(undefined, NONE);
  validateSysctls({}, NONE);
  validateSysctls({ 'net.core.somaxconn': '1024' }, ALL);
  assert.throws(() => validateSysctls({ 'vm.swappiness': '1', 'net.ipv4.ip_forward': '1' }, NONE), (e: unknown) =>
    e instanceof RuntimeError &&
    e.code === 'ERR_SYSCTL' &&
    e.message === 'sysctl "vm.swappiness" is not allowed: it is not namespaced, so it would change the host; ' +
      'sysctl "net.ipv4.ip_forward" is not allowed: the container shares the host network namespace (add a network namespace to linux.namespaces)');
});

test('networkNamespaceKind: no entry, entry without path, own namespace path', () => {
  assert.is(networkNamespaceKind(undefined), 'host');
  assert.is(networkNamespaceKind([{ type: 'pid' }]), 'host');
  assert.is(networkNamespaceKind([{ type: 'network' }]), 'new');
  assert.is(networkNamespaceKind([{ type: 'network', path: '' }]), 'new');
  assert.is(networkNamespaceKind([{ type: 'pid' }, { type: 'network', path: '/proc/self/ns/net' }]), 'host');
  assert.is(networkNamespaceKind([{ type: 'network', path: `/proc/${process.pid}/ns/net` }]), 'host');
});

test('networkNamespaceKind: a missing path is an ERR_CONFIG naming the entry', () => {
  assert.throws(() => networkNamespaceKind([{ type: 'pid' }, { type: 'network', path: '/nonexistent/netns' }]), (e: unknown) =>
    e instanceof RuntimeError && e.code === 'ERR_CONFIG' &&
    e.message === '/linux/namespaces/1/path: cannot stat network namespace "/nonexistent/netns": enoent');
});

test('networkNamespaceKind: another process\'s network namespace is joined', async () => {
  const child = spawn('unshare', ['-n', 'sleep', '30'], { stdio: 'ignore' });
  const pid = child.pid;
  assert.ok(pid, 'unshare started');
  try {
    // unshare execs sleep in the same process once the namespace exists.
    const own = readlinkSync('/proc/self/ns/net');
    for (let i = 0; i < 200 && readlinkSync(`/proc/${pid}/ns/net`) === own; i++) await sleep(10);
    assert.is.not(readlinkSync(`/proc/${pid}/ns/net`), own, 'child is in a new network namespace');
    assert.is(networkNamespaceKind([{ type: 'network', path: `/proc/${pid}/ns/net` }]), 'joined');
    const config: Config = {
      ociVersion: '1.2.0',
      root: { path: 'rootfs' },
      linux: { namespaces: [{ type: 'network', path: `/proc/${pid}/ns/net` }, { type: 'ipc' }] },
    };
    assert.equal(namespaceFacts(config), { ipc: true, net: 'joined', uts: false, user: false });
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(pid!, 'SIGKILL');
    await exited;
  }
});

test('namespaceFacts reads every entry, joined or new', () => {
  assert.equal(namespaceFacts({ ociVersion: '1', root: { path: 'r' } }), NONE);
  const config: Config = {
    ociVersion: '1',
    root: { path: 'r' },
    linux: { namespaces: [{ type: 'uts', path: '/proc/self/ns/uts' }, { type: 'user' }, { type: 'network' }] },
  };
  assert.equal(namespaceFacts(config), { ipc: false, net: 'new', uts: true, user: true });
});

test.run();
