// tsrun features: the runtime-spec features document, with the spec's field
// names and values that match what tsrun really does: every mount option it
// lists is one it interprets, every one it leaves out it refuses or passes on
// as filesystem data, and the listed namespaces are the ones it creates.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readlinkSync } from 'node:fs';
import { ALL_CAPABILITIES } from '../src/runtime/capabilities.ts';
import { HOOK_KINDS, OCI_VERSION } from '../src/runtime/oci-types.ts';
import { parseMountOptions } from '../src/runtime/validate/mount-options.ts';
import { SECCOMP_ACTIONS, SECCOMP_ARCHS } from '../src/runtime/seccomp.ts';
import { leftovers, sandbox, uniqueId, waitFor } from './lib/tsrun.ts';

const sb = sandbox();
test.after(async () => {
  await sb.cleanup();
});

let doc: Record<string, any>;

test('features prints one JSON document with the spec\'s field names', async () => {
  const r = await sb.tsrun(['features']);
  assert.is(r.exitCode, 0, r.stderr);
  doc = JSON.parse(r.stdout);
  assert.equal(Object.keys(doc).sort(), ['annotations', 'hooks', 'linux', 'mountOptions', 'ociVersionMax', 'ociVersionMin', 'potentiallyUnsafeConfigAnnotations']);
  assert.equal(Object.keys(doc.linux).sort(), ['apparmor', 'capabilities', 'cgroup', 'intelRdt', 'memoryPolicy', 'mountExtensions', 'namespaces', 'netDevices', 'seccomp', 'selinux']);
  assert.is(doc.ociVersionMin, '1.0.0');
  assert.is(doc.ociVersionMax, OCI_VERSION);
  assert.equal(doc.potentiallyUnsafeConfigAnnotations, []);
});

test('hooks are the six kinds and capabilities every one tsrun knows', () => {
  assert.equal(doc.hooks, [...HOOK_KINDS]);
  assert.is(doc.hooks.length, 6);
  assert.equal(doc.linux.capabilities, [...ALL_CAPABILITIES]);
  assert.ok(doc.linux.capabilities.includes('CAP_SYS_ADMIN'));
  assert.ok(doc.linux.capabilities.includes('CAP_CHECKPOINT_RESTORE'));
});

test('mountOptions are exactly options parseMountOptions turns into flags or propagation', () => {
  const opts: string[] = doc.mountOptions;
  for (const o of ['ro', 'rw', 'bind', 'rbind', 'nosuid', 'nodev', 'noexec', 'relatime', 'rprivate', 'rslave', 'shared', 'nosymfollow']) {
    assert.ok(opts.includes(o), `${o} is listed`);
  }
  for (const o of opts) {
    const parsed = parseMountOptions([o]);
    assert.is(parsed.data, '', `${o} is interpreted, not passed on as data`);
  }
  for (const o of ['rro', 'rnosuid', 'tmpcopyup']) {
    assert.not.ok(opts.includes(o), `${o} is not listed`);
    assert.throws(() => parseMountOptions([o]), /not supported/, `${o} is refused`);
  }
  assert.not.ok(opts.includes('acl'), 'filesystem data options are left out, as the spec asks');
});

test('linux: the namespaces tsrun creates, cgroup v1 and v2 without systemd, no LSMs', () => {
  assert.equal([...doc.linux.namespaces].sort(), ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts']);
  assert.equal(doc.linux.cgroup, { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false });
  assert.equal(doc.linux.apparmor, { enabled: false });
  assert.equal(doc.linux.selinux, { enabled: false });
  assert.equal(doc.linux.intelRdt, { enabled: false });
  assert.equal(doc.linux.mountExtensions, { idmap: { enabled: true } });
  for (const o of ['idmap', 'ridmap']) assert.ok(doc.mountOptions.includes(o), o);
  assert.equal(doc.linux.netDevices, { enabled: true });
  assert.ok(doc.linux.memoryPolicy.modes.includes('MPOL_BIND'));
  assert.ok(doc.linux.memoryPolicy.flags.includes('MPOL_F_STATIC_NODES'));
});

test('what features leaves out is refused naming the field: AppArmor, SELinux, Intel RDT', async () => {
  const bundle = sb.bundle((c) => {
    c.process!.apparmorProfile = 'tsrun-test';
    c.process!.selinuxLabel = 'system_u:system_r:container_t:s0';
    c.linux!.mountLabel = 'system_u:object_r:container_file_t:s0';
    c.linux!.intelRdt = { closID: 'x' };
  });
  const r = await sb.tsrun(['run', '--bundle', bundle, uniqueId('refused')]);
  assert.is.not(r.exitCode, 0);
  // The reason depends on the host: here, none of these is enabled.
  assert.match(r.stderr, /\/process\/apparmorProfile: (AppArmor is not enabled on this host|tsrun does not apply AppArmor profiles)/);
  assert.match(r.stderr, /\/process\/selinuxLabel: (SELinux is not enabled on this host|tsrun does not apply SELinux labels)/);
  assert.match(r.stderr, /\/linux\/mountLabel: (SELinux is not enabled on this host|tsrun does not apply SELinux labels)/);
  assert.match(r.stderr, /\/linux\/intelRdt: (Intel RDT \(resctrl\) is not available on this host|tsrun does not implement Intel RDT)/);
});

test('seccomp: enabled, with the actions, operators, architectures and flags tsrun really applies', async () => {
  const s = doc.linux.seccomp;
  assert.equal(Object.keys(s).sort(), ['actions', 'archs', 'enabled', 'knownFlags', 'operators', 'supportedFlags']);
  assert.is(s.enabled, true);
  assert.equal([...s.actions].sort(), Object.keys(SECCOMP_ACTIONS).sort(), 'every action, on this kernel (6.18)');
  assert.equal(s.operators, ['SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_LE', 'SCMP_CMP_LT', 'SCMP_CMP_MASKED_EQ', 'SCMP_CMP_NE']);
  for (const a of s.archs) assert.ok(SECCOMP_ARCHS[a], `${a} is accepted by the profile check`);
  for (const a of ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64']) assert.ok(s.archs.includes(a), a);
  assert.not.ok(s.archs.includes('SCMP_ARCH_S390X'), 'a big-endian architecture cannot share a filter with x86_64');
  assert.equal(s.knownFlags, ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV']);
  for (const f of s.supportedFlags) assert.ok(s.knownFlags.includes(f), f);
  assert.ok(s.supportedFlags.includes('SECCOMP_FILTER_FLAG_LOG'), 'kernel 6.18 has LOG');
  // Every listed action and flag is really applied: a profile with all of them creates.
  const id = uniqueId('feat-sc');
  const bundle = sb.bundle((c) => {
    c.linux!.seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: s.archs,
      flags: s.supportedFlags.filter((f: string) => f !== 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'),
      syscalls: s.actions.filter((a: string) => a !== 'SCMP_ACT_ALLOW' && a !== 'SCMP_ACT_NOTIFY').map((action: string, i: number) => ({
        names: [['acct', 'swapon', 'swapoff', 'reboot', 'kexec_load', 'init_module', 'delete_module'][i]!],
        action,
        args: [{ index: 0, value: 1, op: s.operators[i % s.operators.length] }],
      })),
    };
  });
  const r = await sb.tsrun(['create', '--bundle', bundle, id]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
});

test('every listed namespace really is created: a container with all of them runs in its own', async () => {
  const id = uniqueId('feat');
  const bundle = sb.bundle((c) => {
    c.linux!.namespaces = doc.linux.namespaces.map((type: string) => ({ type }));
    // An identity map: the container's root is the host's, who owns the rootfs.
    c.linux!.uidMappings = [{ containerID: 0, hostID: 0, size: 65536 }];
    c.linux!.gidMappings = [{ containerID: 0, hostID: 0, size: 65536 }];
  });
  const r = await sb.tsrun(['run', '--detach', '--bundle', bundle, id]);
  assert.is(r.exitCode, 0, r.stderr);
  const pid = JSON.parse((await sb.tsrun(['state', id])).stdout).pid;
  const nsName: Record<string, string> = { network: 'net', mount: 'mnt' };
  for (const type of doc.linux.namespaces as string[]) {
    const name = nsName[type] ?? type;
    assert.is.not(readlinkSync(`/proc/${pid}/ns/${name}`), readlinkSync(`/proc/self/ns/${name}`), `${type} namespace is new`);
  }
  assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
  assert.ok(await waitFor(async () => (await sb.tsrun(['state', id])).exitCode !== 0));
});

test('annotations name the config annotations tsrun reads, with their defaults', () => {
  assert.is(doc.annotations['run.tsrun.init'], 'auto');
  assert.match(doc.annotations['run.tsrun.init.grace-seconds'], /^\d+(\.\d+)?$/);
  assert.is(doc.annotations['run.tsrun.init.process-group'], 'false');
  for (const [k, v] of Object.entries(doc.annotations)) {
    assert.type(v, 'string', k);
    assert.ok(k.startsWith('run.tsrun.'), k);
  }
});

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
});

test.run();
