// The capability table, masks both ways, and (no file of its own) the
// rlimit table and the value encoding for the C helper.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  capabilityMask,
  capabilityNames,
  capabilityNumber,
} from '../../src/runtime/capabilities.ts';
import { RuntimeError } from '../../src/runtime/errors.ts';
import { RLIMIT_NAMES, isUnlimited, rlimitNumber, rlimitValue } from '../../src/runtime/rlimits.ts';

test('capability numbers follow linux/capability.h', () => {
  assert.is(ALL_CAPABILITIES.length, 41);
  const spot: [string, number][] = [
    ['CAP_CHOWN', 0], ['CAP_KILL', 5], ['CAP_SETPCAP', 8], ['CAP_NET_BIND_SERVICE', 10], ['CAP_NET_RAW', 13],
    ['CAP_SYS_ADMIN', 21], ['CAP_MKNOD', 27], ['CAP_AUDIT_WRITE', 29], ['CAP_SETFCAP', 31], ['CAP_SYSLOG', 34],
    ['CAP_AUDIT_READ', 37], ['CAP_PERFMON', 38], ['CAP_BPF', 39], ['CAP_CHECKPOINT_RESTORE', 40],
  ];
  for (const [name, n] of spot) assert.is(capabilityNumber(name), n, name);
  ALL_CAPABILITIES.forEach((name, i) => assert.is(capabilityNumber(name), i));
  assert.is(capabilityNumber('CAP_FOO'), undefined);
  assert.is(capabilityNumber('cap_kill'), undefined, 'names are case-sensitive, as in runc');
  assert.is(capabilityNumber('constructor'), undefined);
});

test('the kernel knows no capability beyond the table', async () => {
  const { readFileSync } = await import('node:fs');
  const last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  assert.ok(last <= ALL_CAPABILITIES.length - 1, `cap_last_cap ${last}`);
});

test('DEFAULT_CAPABILITIES is runc spec\'s set', () => {
  assert.equal([...DEFAULT_CAPABILITIES].sort(), ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']);
});

test('capabilityMask builds the bit mask; unknown names name the field', () => {
  assert.is(capabilityMask(undefined, '/process/capabilities/bounding'), 0n);
  assert.is(capabilityMask([], '/x'), 0n);
  assert.is(capabilityMask(['CAP_CHOWN'], '/x'), 1n);
  assert.is(capabilityMask([...DEFAULT_CAPABILITIES], '/x'), (1n << 29n) | (1n << 5n) | (1n << 10n));
  assert.is(capabilityMask(['CAP_KILL', 'CAP_KILL'], '/x'), 1n << 5n);
  assert.is(capabilityMask([...ALL_CAPABILITIES], '/x'), (1n << 41n) - 1n);
  assert.throws(() => capabilityMask(['CAP_KILL', 'CAP_CHOWN', 'CAP_NET_RAW', 'CAP_FOO'], '/process/capabilities/bounding'), (e: unknown) =>
    e instanceof RuntimeError && e.code === 'ERR_CONFIG' &&
    e.message === '/process/capabilities/bounding/3: unknown capability "CAP_FOO"');
});

test('capabilityNames decodes masks, including /proc status masks', () => {
  assert.equal(capabilityNames(0n), []);
  assert.equal(capabilityNames((1n << 29n) | (1n << 5n) | (1n << 10n)), ['CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_AUDIT_WRITE']);
  assert.equal(capabilityNames(BigInt('0x000001ffffffffff')), [...ALL_CAPABILITIES]);
  assert.equal(capabilityNames(1n << 45n), ['CAP_45'], 'unknown bits are still shown');
  for (const name of ALL_CAPABILITIES) assert.equal(capabilityNames(capabilityMask([name], '/x')), [name]);
});

test('rlimit numbers follow asm-generic/resource.h', () => {
  const expected = ['CPU', 'FSIZE', 'DATA', 'STACK', 'CORE', 'RSS', 'NPROC', 'NOFILE', 'MEMLOCK', 'AS', 'LOCKS',
    'SIGPENDING', 'MSGQUEUE', 'NICE', 'RTPRIO', 'RTTIME'];
  expected.forEach((name, i) => assert.is(rlimitNumber(`RLIMIT_${name}`), i, name));
  assert.is(RLIMIT_NAMES.length, 16);
  assert.is(rlimitNumber('RLIMIT_FOO'), undefined);
  assert.is(rlimitNumber('NOFILE'), undefined);
  assert.is(rlimitNumber('toString'), undefined);
});

test('rlimitValue: decimal strings, infinity as -1', () => {
  assert.is(rlimitValue(0), '0');
  assert.is(rlimitValue(1024), '1024');
  assert.is(rlimitValue(Number.MAX_SAFE_INTEGER), '9007199254740991');
  assert.is(rlimitValue(2 ** 62), '4611686018427387904');
  assert.is(rlimitValue(2 ** 63 - 1024), '9223372036854774784', 'largest double below 2^63 is exact');
  assert.is(rlimitValue(2 ** 63), '-1');
  assert.is(rlimitValue(JSON.parse('18446744073709551615') as number), '-1');
  assert.is(rlimitValue(18446744073709552000), '-1');
  assert.ok(isUnlimited(2 ** 64));
  assert.not.ok(isUnlimited(2 ** 62));
  for (const bad of [-1, 1.5, NaN, Infinity]) {
    assert.throws(() => rlimitValue(bad), (e: unknown) => e instanceof RuntimeError && e.code === 'ERR_CONFIG', String(bad));
  }
});

test.run();
