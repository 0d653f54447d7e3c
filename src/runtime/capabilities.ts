// Linux capability names and numbers (linux/capability.h) and conversion
// between the config's name lists and the 64-bit masks that capset(2) and
// /proc/PID/status use.
import { RuntimeError } from './errors.ts';

// Index = capability number. CAP_LAST_CAP on kernels >= 5.9 is 40.
const NAMES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

export type CapabilityName = (typeof NAMES)[number];

/** Every known capability, in number order. */
export const ALL_CAPABILITIES: readonly CapabilityName[] = NAMES;

/** The set `runc spec` puts in every capability list of its default config. */
export const DEFAULT_CAPABILITIES: readonly CapabilityName[] = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

const NUMBERS = new Map<string, number>(NAMES.map((n, i) => [n, i]));

/** The number of a capability given as in config.json (`CAP_SYS_ADMIN`); undefined if unknown. */
export function capabilityNumber(name: string): number | undefined {
  return NUMBERS.get(name);
}

/**
 * The mask of a config capability list; `field` names the list in errors
 * as a JSON pointer (e.g. "/process/capabilities/bounding"), so an error
 * reads like the validator's: `/process/capabilities/bounding/3: unknown
 * capability "CAP_FOO"`. An absent list is the empty mask.
 */
export function capabilityMask(names: string[] | undefined, field: string): bigint {
  let mask = 0n;
  (names ?? []).forEach((name, i) => {
    const n = capabilityNumber(name);
    if (n === undefined) {
      throw new RuntimeError('ERR_CONFIG', `${field}/${i}: unknown capability ${JSON.stringify(name)}`, {
        hint: 'capability names look like CAP_NET_ADMIN',
      });
    }
    mask |= 1n << BigInt(n);
  });
  return mask;
}

/** Names of the bits set in `mask`; bits beyond the known table print as `CAP_<n>`. */
export function capabilityNames(mask: bigint): string[] {
  const out: string[] = [];
  for (let n = 0; mask >> BigInt(n) !== 0n; n++) {
    if ((mask >> BigInt(n)) & 1n) out.push(NAMES[n] ?? `CAP_${n}`);
  }
  return out;
}
