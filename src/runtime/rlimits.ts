// Resource limit names (as config.json spells them) and numbers for x86-64
// Linux (asm-generic/resource.h), and the encoding of limit values for the C
// helper, which reads them as decimal strings.
import { RuntimeError } from './errors.ts';

const NAMES = [
  'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_DATA', 'RLIMIT_STACK', 'RLIMIT_CORE', 'RLIMIT_RSS',
  'RLIMIT_NPROC', 'RLIMIT_NOFILE', 'RLIMIT_MEMLOCK', 'RLIMIT_AS', 'RLIMIT_LOCKS',
  'RLIMIT_SIGPENDING', 'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_RTPRIO', 'RLIMIT_RTTIME',
] as const;

export type RlimitName = (typeof NAMES)[number];

export const RLIMIT_NAMES: readonly RlimitName[] = NAMES;

const NUMBERS = new Map<string, number>(NAMES.map((n, i) => [n, i]));

/** The resource number of `RLIMIT_NOFILE` and friends; undefined if unknown. */
export function rlimitNumber(type: string): number | undefined {
  return NUMBERS.get(type);
}

const TWO_63 = 2 ** 63;

/** True when a config limit value means RLIM_INFINITY (see rlimitValue). */
export function isUnlimited(n: number): boolean {
  return n >= TWO_63;
}

/**
 * The decimal string the C helper passes to setrlimit. Limits are uint64 in
 * the spec, but JSON numbers are doubles: 18446744073709551615 (RLIM_INFINITY,
 * what engines write for "unlimited") parses as 18446744073709552000, which no
 * longer fits in 64 bits. No real limit is 2^63 or more, so every value from
 * 2^63 up is taken as RLIM_INFINITY and encoded as "-1", which the helper
 * casts to (rlim_t)-1. Values below 2^63 print exactly as the double holds
 * them (values above 2^53 may already have been rounded by JSON.parse).
 */
export function rlimitValue(n: number): string {
  if (!Number.isInteger(n) || n < 0) {
    throw new RuntimeError('ERR_CONFIG', `rlimit value ${String(n)} is invalid: must be a non-negative integer`);
  }
  return isUnlimited(n) ? '-1' : BigInt(n).toString();
}
