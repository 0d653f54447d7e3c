// linux.seccomp → what tsrun-seccomp and the helper get: action values with their errno,
// operators, flags, architectures, runc's rule splitting and skipping, where
// the filter is loaded in create and exec, and the listener's process state.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildCreatePlan, type PlanInput } from '../../src/runtime/create-plan.ts';
import { buildExecPlan } from '../../src/runtime/exec-plan.ts';
import { defaultSpec } from '../../src/runtime/default-spec.ts';
import type { Seccomp } from '../../src/runtime/oci-types.ts';
import { encodeSeccomp, seccompKey, seccompProcessState, seccompSteps, stringifyProfile, withExactValues } from '../../src/runtime/seccomp.ts';

/** As the old single step had them: DEFAULT FLAGS ARCHS LISTENER, then the RULEs. */
const args = (p: Seccomp): string[] => {
  const e = encodeSeccomp(p);
  return [String(e.defaultAction), String(e.flags), e.archs, e.listener, ...e.rules];
};

test('no profile, no steps', () => {
  assert.equal(seccompSteps(undefined), []);
});

test('actions are libseccomp values; ERRNO and TRACE carry errnoRet, EPERM by default', () => {
  const a = args({
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 38,
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
      { names: ['mkdir'], action: 'SCMP_ACT_ERRNO' },
      { names: ['rmdir'], action: 'SCMP_ACT_TRACE', errnoRet: 7 },
      { names: ['kill'], action: 'SCMP_ACT_KILL' },
      { names: ['tkill'], action: 'SCMP_ACT_KILL_PROCESS' },
      { names: ['uname'], action: 'SCMP_ACT_LOG' },
      { names: ['ptrace'], action: 'SCMP_ACT_TRAP' },
    ],
  });
  assert.is(a[0], String(0x50000 | 38));
  assert.is(a[1], 'default', 'no flags: SPEC_ALLOW where the kernel has it, as runc');
  assert.equal(a.slice(4), [
    `0 ${0x7fff0000} read,write`,
    `1 ${0x50001} mkdir`,
    `2 ${0x7ff00007} rmdir`,
    '3 0 kill',
    `4 ${0x80000000} tkill`,
    `5 ${0x7ffc0000} uname`,
    `6 ${0x30000} ptrace`,
  ]);
});

test('a rule doing what the default does is left out, as runc does: sent as "-", its names only for the -ENOSYS stub', () => {
  const a = args({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }, { names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] });
  assert.equal(a.slice(4), ['0 - read', `1 ${0x50001} mkdir`]);
});

test('conditions: one rule when on distinct arguments, one rule each when two share an argument', () => {
  const a = args({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [
      { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }, { index: 1, value: 3, valueTwo: 1, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['clone'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_GT' }, { index: 0, value: 9, op: 'SCMP_CMP_LT' }] },
    ],
  });
  assert.equal(a.slice(4), [`0 ${0x50001} personality 0:4:8:0 1:7:3:1`, `1 ${0x50001} clone 0:6:1:0`, `1 ${0x50001} clone 0:2:9:0`]);
});

test('flags, architectures and the listener', () => {
  const a = args({
    defaultAction: 'SCMP_ACT_ALLOW',
    flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'],
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    listenerPath: '/run/agent.sock',
    syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }],
  });
  assert.equal(a.slice(0, 4), [String(0x7fff0000), String(2 | 32), 'x86_64,x86,x32', '/run/agent.sock']);
  assert.equal(args({ defaultAction: 'SCMP_ACT_ALLOW', flags: [] })[1], '0', 'an empty list is no flags');
  assert.is(args({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock' })[3], '', 'no NOTIFY rule: no listener');
});

test('the seccomp step: FLAGS NOTIFY LISTENER for tsrun-nsexec; the rules, one a line, for tsrun-seccomp and the cache key', () => {
  const profile: Seccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64'],
    listenerPath: '/run/agent.sock',
    syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }, { names: ['rmdir', 'unlink'], action: 'SCMP_ACT_ERRNO' }],
  };
  const [s] = seccompSteps(profile);
  assert.equal(s!.args, ['default', '1', '/run/agent.sock']);
  assert.type(s!.hostInput, 'function', 'the program is made on the host when the helper starts');
  assert.is(seccompKey(encodeSeccomp(profile)), `${0x7fff0000}\nx86_64\n0 ${0x7fc00000} mkdir\n1 ${0x50001} rmdir,unlink\n`);
  assert.equal(seccompSteps({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG'] })[0]!.args, ['2', '0', '']);
});

test('uint64 values above 2^53 are read exactly from the JSON text, and kept exactly for exec', () => {
  const text = '{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO",'
    + '"args":[{"index":0,"value":18446744073709551615,"valueTwo":18446744069414584320,"op":"SCMP_CMP_MASKED_EQ"},{"index":1,"value":7,"op":"SCMP_CMP_EQ"}]}]}}}';
  const lossy = JSON.parse(text).linux.seccomp as Seccomp;
  const exactProfile = withExactValues<{ linux: { seccomp: Seccomp } }>(lossy, text, (c) => c.linux.seccomp)!;
  assert.equal(args(exactProfile).slice(4), [`0 ${0x50001} x 0:7:18446744073709551615:18446744069414584320 1:4:7:0`]);
  const stored = stringifyProfile(exactProfile);
  assert.match(stored, '"value":18446744073709551615');
  assert.equal(args(withExactValues<Seccomp>(JSON.parse(stored), stored, (p) => p)!), args(exactProfile));
  const plain: Seccomp = { defaultAction: 'SCMP_ACT_ALLOW' };
  assert.is(withExactValues(plain, '{}', () => undefined), plain, 'nothing to re-read: the same object');
  const over = '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":18446744073709551616,"op":"SCMP_CMP_EQ"}]}]}';
  assert.throws(() => seccompSteps(withExactValues<Seccomp>(JSON.parse(over), over, (p) => p)), /args\/0\/value: 18446744073709551616 is not a 64-bit unsigned integer/);
});

test('refusals name the JSON path', () => {
  const bad = (p: unknown, re: RegExp) => assert.throws(() => seccompSteps(p as Seccomp), re);
  bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ERRNO', errnoRet: 70000 }] }, /\/linux\/seccomp\/syscalls\/0\/errnoRet: 70000 does not fit/);
  assert.not.throws(() => seccompSteps({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_NOTIFY' }], listenerPath: '/a' }));
  bad({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/a', syscalls: [{ names: ['read', 'sendmsg'], action: 'SCMP_ACT_NOTIFY' }] }, /\/linux\/seccomp\/syscalls\/0\/names\/1: SCMP_ACT_NOTIFY cannot apply to sendmsg/);
  bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 2 ** 64, op: 'SCMP_CMP_EQ' }] }] }, /args\/0\/value: .* is not a 64-bit unsigned integer/);
  bad({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_LOONGARCH64'] }, /\/linux\/seccomp\/architectures\/0/);
});

function createInput(nnp: boolean): PlanInput {
  const config = defaultSpec();
  config.process!.noNewPrivileges = nnp;
  config.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
  return {
    config, bundle: '/b', rootfs: '/b/rootfs', stateDir: '/run/tsrun/x', init: null, cgroupDirs: {}, cgroupTasks: [],
    noPivot: false, preserveFds: 0, monitor: false, runtimeEnv: [],
  };
}

test('create: compiled before pivot_root; loaded before identity without no_new_privs, right before exec with it', () => {
  for (const nnp of [false, true]) {
    const o = buildCreatePlan(createInput(nnp)).map((s) => s.op);
    assert.ok(o.indexOf('seccomp') < o.indexOf('pivot'));
    assert.is(o.filter((op) => op === 'seccomp-load').length, 1);
    if (nnp) assert.is(o.indexOf('seccomp-load'), o.indexOf('exec') - 1);
    else assert.is(o.indexOf('seccomp-load'), o.indexOf('identity') - 1);
  }
});

test('exec: compiled before the namespaces are joined, loaded like create', () => {
  for (const nnp of [false, true]) {
    const plan = buildExecPlan({
      process: { ...defaultSpec().process!, noNewPrivileges: nnp }, namespaces: [['mnt', '/proc/1/ns/mnt']], monitor: false, preserveFds: 0,
      seccomp: { defaultAction: 'SCMP_ACT_ALLOW' },
    });
    const o = plan.map((s) => s.op);
    assert.ok(o.indexOf('seccomp') < o.indexOf('setns'));
    if (nnp) assert.is(o.indexOf('seccomp-load'), o.indexOf('exec') - 1);
    else assert.is(o.indexOf('seccomp-load'), o.indexOf('identity') - 1);
  }
});

test('the container process state for a listener, and none without one', () => {
  const profile: Seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/a.sock', listenerMetadata: 'm', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] };
  const state = { ociVersion: '1.2.0', id: 'c', status: 'creating', pid: 42, bundle: '/b' };
  assert.equal(JSON.parse(seccompProcessState(profile, 42, state)), { ociVersion: '1.2.0', fds: ['seccompFd'], pid: 42, metadata: 'm', state });
  assert.is(seccompProcessState({ ...profile, listenerMetadata: undefined }, 42, state).includes('metadata'), false);
  assert.is(seccompProcessState({ defaultAction: 'SCMP_ACT_ALLOW' }, 42, state), '');
});

test.run();
