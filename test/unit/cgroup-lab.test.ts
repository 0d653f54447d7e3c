// Pure parts of the resource demos: /proc/stat and /proc/loadavg parsing, CPU
// use between two cgroup samples, the demo option parser's --use-swapfile.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpuBetween, mib, round } from '../../src/demos/cgroup-lab.ts';
import { loadavg } from '../../src/demos/host-lab.ts';
import { parseProcStat } from '../../src/demos/cpuusage.ts';
import { parseDemoArgs } from '../../src/runtime/verbs/demo.ts';

test('parseProcStat: the aggregate cpu line, idle with iowait, system with irq and softirq, the cpuN count', () => {
  const text = [
    'cpu  100 5 40 800 10 1 2 3 0 0',
    'cpu0 50 2 20 400 5 1 1 1 0 0',
    'cpu1 50 3 20 400 5 0 1 2 0 0',
    'intr 12345',
    'ctxt 678',
  ].join('\n');
  assert.equal(parseProcStat(text), { total: 961, idle: 810, user: 105, system: 43, cpus: 2 });
  assert.equal(parseProcStat(''), { total: 0, idle: 0, user: 0, system: 0, cpus: 0 });
});

test('loadavg: the three averages and the runnable/total field', () => {
  assert.equal(loadavg('2.51 1.54 0.79 8/151 31492\n'), { load1: 2.51, load5: 1.54, load15: 0.79, runnable: 8, tasks: 151 });
});

test('cpuBetween: CPU seconds per wall second, throttling deltas', () => {
  const a = { at: 1000, usageUs: 1_000_000, userUs: 600_000, systemUs: 300_000, periods: 10, throttled: 4, throttledUs: 100_000 };
  const b = { at: 3000, usageUs: 2_000_000, userUs: 1_400_000, systemUs: 500_000, periods: 30, throttled: 24, throttledUs: 1_100_000 };
  assert.equal(cpuBetween(a, b), { seconds: 2, cpus: 0.5, userCpus: 0.4, systemCpus: 0.1, periods: 20, throttled: 20, throttledSeconds: 1 });
  assert.is(round(1.23456, 2), 1.23);
  assert.is(mib(48 * 1024 * 1024), '48 MiB');
});

test('parseDemoArgs: --use-swapfile is a flag; with a value it is refused', () => {
  assert.is(parseDemoArgs(['--use-swapfile', '--quick'], {} as never).useSwapfile, true);
  assert.is(parseDemoArgs(['--json'], {} as never).useSwapfile, false);
  assert.throws(() => parseDemoArgs(['--use-swapfile=yes'], {} as never), /unknown argument "--use-swapfile=yes"/);
});

test.run();
