// The nat option: IPv4 forwarding on, and one MASQUERADE rule per network
// for traffic from its subnet to anywhere else. The rule carries a comment
// naming the network so that `iptables -t nat -S` shows whose it is. The
// refcount (who still needs the rule) is kept by the caller in the network's
// state; this file only adds and removes, idempotently.
import { readFileSync, writeFileSync } from 'node:fs';
import { RuntimeError, fromSystemError } from '../../runtime/errors.ts';
import { oneLine, run } from './ip.ts';

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/**
 * Turns on net.ipv4.ip_forward of the calling process's netns. It is left on
 * at `down`: other software of the host may rely on it by then.
 */
export function enableForwarding(): void {
  try {
    if (readFileSync(IP_FORWARD, 'utf8').trim() !== '1') writeFileSync(IP_FORWARD, '1\n');
  } catch (err) {
    throw fromSystemError('ERR_NET_NAT', 'enable ip forwarding: write', IP_FORWARD, err);
  }
}

export function masqueradeRule(subnet: string, network: string): string[] {
  return ['POSTROUTING', '-s', subnet, '!', '-d', subnet, '-m', 'comment', '--comment', `tsrun network ${network}`, '-j', 'MASQUERADE'];
}

// iptables exits 1 and says "Bad rule (does a matching rule exist...)" when
// -C or -D finds no such rule: that is an answer, not a failure.
const NO_SUCH_RULE = /Bad rule|does a matching rule exist|No chain\/target\/match by that name/;

async function iptables(op: '-C' | '-A' | '-D', rule: string[]): Promise<boolean> {
  const args = ['-w', '-t', 'nat', op, ...rule];
  const res = await run('iptables', args);
  if (res.code === 0) return true;
  if (op !== '-A' && res.code === 1 && NO_SUCH_RULE.test(res.stderr)) return false;
  const verb = op === '-A' ? 'add' : op === '-D' ? 'remove' : 'check';
  throw new RuntimeError('ERR_NET_NAT', `${verb} masquerade rule: "iptables ${args.map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ')}" failed: ${oneLine(res.stderr) || `exit status ${res.code}`}`);
}

export async function addMasquerade(subnet: string, network: string): Promise<void> {
  const rule = masqueradeRule(subnet, network);
  if (!(await iptables('-C', rule))) await iptables('-A', rule);
}

/** Removes the rule; one that is already gone is fine (down is idempotent). */
export async function removeMasquerade(subnet: string, network: string): Promise<void> {
  await iptables('-D', masqueradeRule(subnet, network));
}
