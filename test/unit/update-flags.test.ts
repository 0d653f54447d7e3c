// tsrun update's flags as linux.resources: byte suffixes, signed and unsigned
// integers, flags laid over the --resources document, bad values named.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseBytes, resourcesFromFlags } from '../../src/runtime/verbs/update.ts';
import { RuntimeError } from '../../src/runtime/errors.ts';

function usageError(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, RuntimeError);
    assert.is((err as RuntimeError).code, 'ERR_USAGE');
    assert.match((err as RuntimeError).message, pattern);
    return;
  }
  assert.unreachable(`expected a usage error matching ${pattern}`);
}

test('byte sizes take binary k/m/g/t suffixes, optional b or ib, any case; -1 is unlimited', () => {
  assert.is(parseBytes('memory', '67108864'), 67108864);
  assert.is(parseBytes('memory', '64m'), 64 * 2 ** 20);
  assert.is(parseBytes('memory', '64M'), 64 * 2 ** 20);
  assert.is(parseBytes('memory', '64MB'), 64 * 2 ** 20);
  assert.is(parseBytes('memory', '64MiB'), 64 * 2 ** 20);
  assert.is(parseBytes('memory', '512k'), 512 * 1024);
  assert.is(parseBytes('memory', '1g'), 2 ** 30);
  assert.is(parseBytes('memory', '1.5g'), 1.5 * 2 ** 30);
  assert.is(parseBytes('memory', '2t'), 2 * 2 ** 40);
  assert.is(parseBytes('memory', '100b'), 100);
  assert.is(parseBytes('memory-swap', '-1'), -1);
});

test('malformed sizes are usage errors naming the flag and the value', () => {
  usageError(() => parseBytes('memory', '12x'), /--memory: "12x" is not a size in bytes/);
  usageError(() => parseBytes('memory', ''), /--memory: ""/);
  usageError(() => parseBytes('memory-swap', '-2'), /--memory-swap: "-2"/);
  usageError(() => parseBytes('memory', 'm'), /--memory: "m"/);
  usageError(() => parseBytes('memory', '99999999999p'), /--memory: "99999999999p"/);
});

test('each flag lands on its linux.resources field', () => {
  const r = resourcesFromFlags({
    memory: '64m', 'memory-swap': '128m', 'memory-reservation': '32m',
    'cpu-shares': '512', 'cpu-quota': '50000', 'cpu-period': '100000',
    'cpuset-cpus': '0-1', 'cpuset-mems': '0', 'pids-limit': '100', 'blkio-weight': '300',
  });
  assert.equal(r, {
    memory: { limit: 67108864, swap: 134217728, reservation: 33554432 },
    cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0-1', mems: '0' },
    pids: { limit: 100 },
    blockIO: { weight: 300 },
  });
});

test('no flags give no fields; empty strings count as absent', () => {
  assert.equal(resourcesFromFlags({}), {});
  assert.equal(resourcesFromFlags({ memory: '', 'pids-limit': undefined }), {});
});

test('negative values: quota and pids limit may be -1, shares, period and weight may not', () => {
  assert.equal(resourcesFromFlags({ 'cpu-quota': '-1', 'pids-limit': '-1' }), { cpu: { quota: -1 }, pids: { limit: -1 } });
  usageError(() => resourcesFromFlags({ 'cpu-shares': '-5' }), /--cpu-shares: "-5" is not a non-negative integer/);
  usageError(() => resourcesFromFlags({ 'cpu-period': '1.5' }), /--cpu-period: "1.5"/);
  usageError(() => resourcesFromFlags({ 'blkio-weight': 'heavy' }), /--blkio-weight: "heavy"/);
  usageError(() => resourcesFromFlags({ 'pids-limit': 'lots' }), /--pids-limit: "lots" is not an integer/);
});

test('flags override the fields of the --resources document and keep the rest', () => {
  const base = {
    memory: { limit: 1000, swap: 5000, swappiness: 10 },
    cpu: { shares: 100, cpus: '0' },
    pids: { limit: 50 },
    hugepageLimits: [{ pageSize: '2MB', limit: 0 }],
  };
  const r = resourcesFromFlags({ memory: '2k', 'pids-limit': '20', 'cpuset-cpus': '1' }, base);
  assert.equal(r, {
    memory: { limit: 2048, swap: 5000, swappiness: 10 },
    cpu: { shares: 100, cpus: '1' },
    pids: { limit: 20 },
    hugepageLimits: [{ pageSize: '2MB', limit: 0 }],
  });
  assert.is(base.memory.limit, 1000, 'the document itself is not modified');
  assert.is(base.pids.limit, 50);
});

test('options that are not update flags are ignored', () => {
  assert.equal(resourcesFromFlags({ root: '/run/tsrun', debug: true, memory: '1m' } as Record<string, unknown>), { memory: { limit: 1048576 } });
});

test.run();
