// Signal names, `kill` argument parsing and the SigCgt/SigIgn/... decoder of
// /proc/PID/status. The sample mask is a real SigCgt line of a shell-like
// program: bit N-1 set means signal N is caught, so bit 14 (0x4000) is SIGTERM.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RuntimeError } from '../../src/runtime/errors.ts';
import { decodeSignalMask, decodeStatusSignals, parseSignal, signalName } from '../../src/runtime/signals.ts';

test('decodeSignalMask: 00000001880046eb is HUP INT ILL ABRT BUS FPE USR1 SEGV TERM WINCH and 32, 33', () => {
  assert.equal(decodeSignalMask('00000001880046eb'), [
    'SIGHUP', 'SIGINT', 'SIGILL', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGUSR1', 'SIGSEGV', 'SIGTERM', 'SIGWINCH',
    // glibc keeps 32 and 33 for its threads; they have no name of their own
    'signal 32', 'signal 33',
  ]);
  assert.ok(decodeSignalMask('0000000000004000').includes('SIGTERM'), 'bit 14 alone is SIGTERM');
  assert.equal(decodeSignalMask('0000000000004000'), ['SIGTERM']);
});

test('decodeSignalMask: empty, zero, all bits, real-time signals, surrounding whitespace', () => {
  assert.equal(decodeSignalMask('0000000000000000'), []);
  assert.equal(decodeSignalMask(''), []);
  assert.equal(decodeSignalMask(' 0000000000000100\n'), ['SIGKILL']);
  const all = decodeSignalMask('ffffffffffffffff');
  assert.is(all.length, 64);
  assert.is(all[0], 'SIGHUP');
  assert.is(all[33], 'SIGRTMIN');
  assert.is(all[35], 'SIGRTMIN+2');
  assert.is(all[63], 'SIGRTMAX');
});

test('decodeStatusSignals reads every mask line of a status text', () => {
  const status = [
    'Name:\tsh', 'State:\tS (sleeping)', 'ShdPnd:\t0000000000000000', 'SigPnd:\t0000000000000200',
    'SigBlk:\t0000000000010000', 'SigIgn:\t0000000000000004', 'SigCgt:\t00000001880046eb',
  ].join('\n');
  const sets = decodeStatusSignals(status);
  assert.ok(sets.caught.includes('SIGTERM'));
  assert.is(sets.caught.length, 12);
  assert.equal(sets.ignored, ['SIGQUIT']);
  assert.equal(sets.blocked, ['SIGCHLD']);
  assert.equal(sets.pending, ['SIGUSR1']);
  assert.equal(sets.shadowPending, []);
  assert.equal(decodeStatusSignals('Name:\tx\n').caught, [], 'missing lines decode as empty');
});

test('signalName covers names, real-time offsets and numbers without a name', () => {
  assert.is(signalName(15), 'SIGTERM');
  assert.is(signalName(9), 'SIGKILL');
  assert.is(signalName(31), 'SIGSYS');
  assert.is(signalName(34), 'SIGRTMIN');
  assert.is(signalName(37), 'SIGRTMIN+3');
  assert.is(signalName(64), 'SIGRTMAX');
  assert.is(signalName(32), 'signal 32');
  assert.is(signalName(0), 'signal 0');
});

test('parseSignal accepts TERM, SIGTERM, term, 15 and the real-time forms', () => {
  for (const input of ['TERM', 'SIGTERM', 'term', 'sigterm', '15', ' TERM ']) assert.is(parseSignal(input), 15, input);
  assert.is(parseSignal('KILL'), 9);
  assert.is(parseSignal('9'), 9);
  assert.is(parseSignal('USR1'), 10);
  assert.is(parseSignal('IOT'), 6);
  assert.is(parseSignal('RTMIN'), 34);
  assert.is(parseSignal('RTMIN+2'), 36);
  assert.is(parseSignal('SIGRTMIN+2'), 36);
  assert.is(parseSignal('rtmax-1'), 63);
  assert.is(parseSignal('RTMAX'), 64);
  assert.is(parseSignal('64'), 64);
});

test('parseSignal refuses bad input with a message naming it and a hint', () => {
  for (const input of ['FOO', 'SIGFOO', '0', '65', '-1', '', 'RTMIN+31', 'RTMAX+1', '1.5']) {
    try {
      parseSignal(input);
      assert.unreachable(`accepted ${JSON.stringify(input)}`);
    } catch (err) {
      assert.instance(err, RuntimeError);
      const e = err as RuntimeError;
      assert.is(e.code, 'ERR_BAD_SIGNAL');
      assert.is(e.message, `unknown signal ${JSON.stringify(input)}`);
      assert.is(e.line, `unknown signal ${JSON.stringify(input)} (use a name such as TERM or SIGKILL, or a number from 1 to 64)`);
    }
  }
});

test.run();
