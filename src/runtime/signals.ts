// Signal names and numbers for x86-64 Linux, parsing of `kill` arguments, and
// decoding of the SigCgt/SigIgn/SigBlk/SigPnd masks of /proc/PID/status.
import { RuntimeError } from './errors.ts';

const NAMES = [
  '', 'HUP', 'INT', 'QUIT', 'ILL', 'TRAP', 'ABRT', 'BUS', 'FPE', 'KILL', 'USR1', 'SEGV', 'USR2',
  'PIPE', 'ALRM', 'TERM', 'STKFLT', 'CHLD', 'CONT', 'STOP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'XCPU',
  'XFSZ', 'VTALRM', 'PROF', 'WINCH', 'IO', 'PWR', 'SYS',
];
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** SIGTERM for 15, SIGRTMIN+3 for 37. */
export function signalName(n: number): string {
  if (n > 0 && n < NAMES.length) return `SIG${NAMES[n]}`;
  if (n === SIGRTMIN) return 'SIGRTMIN';
  if (n === SIGRTMAX) return 'SIGRTMAX';
  if (n > SIGRTMIN && n < SIGRTMAX) return `SIGRTMIN+${n - SIGRTMIN}`;
  return `signal ${n}`;
}

/** Accepts `TERM`, `SIGTERM`, `term`, `15`, `RTMIN+2`; throws a RuntimeError naming the input. */
export function parseSignal(input: string): number {
  const text = input.trim().toUpperCase();
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= SIGRTMAX) return n;
  } else {
    const bare = text.startsWith('SIG') ? text.slice(3) : text;
    const idx = NAMES.indexOf(bare);
    if (idx > 0) return idx;
    if (bare === 'IOT') return 6;
    if (bare === 'POLL') return 29;
    const rt = /^RTM(IN|AX)(?:([+-])(\d+))?$/.exec(bare);
    if (rt) {
      const base = rt[1] === 'IN' ? SIGRTMIN : SIGRTMAX;
      const n = base + (rt[2] === '-' ? -1 : 1) * Number(rt[3] ?? 0);
      if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
    }
  }
  throw new RuntimeError('ERR_BAD_SIGNAL', `unknown signal ${JSON.stringify(input)}`, {
    hint: 'use a name such as TERM or SIGKILL, or a number from 1 to 64',
  });
}

/** Bit N-1 of the hex mask is signal N. */
export function decodeSignalMask(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim() || '0'}`);
  const out: string[] = [];
  for (let n = 1; n <= SIGRTMAX; n++) {
    if ((mask >> BigInt(n - 1)) & 1n) out.push(signalName(n));
  }
  return out;
}

export interface SignalSets {
  caught: string[];
  ignored: string[];
  blocked: string[];
  pending: string[];
  shadowPending: string[];
}

/** Decodes the signal lines of a /proc/PID/status text. */
export function decodeStatusSignals(statusText: string): SignalSets {
  const field = (name: string): string => new RegExp(`^${name}:\\s*([0-9a-fA-F]+)`, 'm').exec(statusText)?.[1] ?? '0';
  return {
    caught: decodeSignalMask(field('SigCgt')),
    ignored: decodeSignalMask(field('SigIgn')),
    blocked: decodeSignalMask(field('SigBlk')),
    pending: decodeSignalMask(field('SigPnd')),
    shadowPending: decodeSignalMask(field('ShdPnd')),
  };
}
