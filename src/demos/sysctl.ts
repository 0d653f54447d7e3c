// demo sysctl: which TCP settings a container sees. A new network namespace
// starts from the kernel defaults for most net.* keys (keepalive 7200/75/9),
// but copies tcp_congestion_control from the host's initial namespace; a
// linux.sysctl entry changes the value in the container's namespace only; the
// application cannot change it itself (/proc/sys is read-only in the default
// spec).
//
// So that the reset shows even on a host left at the defaults, the demo runs
// from a stand-in "host": a private network namespace (the sandbox, as netlat
// uses) whose keepalive values and congestion control it tunes. The
// containers are created from there, exactly as from a tuned host. The real
// host's values are read before and after (through a handle on its network
// namespace): the demo never writes them.
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { enterSandbox } from '../ns/syscalls.ts';
import { RuntimeError } from '../runtime/errors.ts';
import type { Demo, Lab } from './lab.ts';
import type { DemoReport } from './report.ts';

const KEYS = [
  'net.ipv4.tcp_congestion_control',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
];
const CONFIGURED: Record<string, string> = { 'net.ipv4.tcp_keepalive_time': '600' };
const WRITE_KEY = 'net.ipv4.tcp_keepalive_time';
const file = (key: string): string => `/proc/sys/${key.replaceAll('.', '/')}`;

type Values = Record<string, string>;

/** The values in this process's network namespace (/proc/sys/net follows the reader's). */
function hostValues(): Values {
  return Object.fromEntries(KEYS.map((k) => [k, readFileSync(file(k), 'utf8').trim()]));
}

/** The values in the network namespace `netns` (a path to an ns file). */
function valuesIn(netns: string): Values {
  const r = spawnSync('nsenter', [`--net=${netns}`, '--', 'cat', ...KEYS.map(file)], { encoding: 'utf8' });
  if (r.status !== 0) throw new RuntimeError('ERR_DEMO', `reading the host's sysctls through ${netns} failed: ${r.stderr.trim()}`);
  const lines = r.stdout.trim().split('\n');
  return Object.fromEntries(KEYS.map((k, i) => [k, lines[i] ?? '']));
}

/** Tuned values for the stand-in host: keepalive far from the defaults, and a
 *  congestion control other than the real host's. */
function tunedValues(real: Values): Values {
  const available = readFileSync('/proc/sys/net/ipv4/tcp_available_congestion_control', 'utf8').trim().split(/\s+/);
  const cc = ['reno', 'cubic', ...available].find((c) => available.includes(c) && c !== real['net.ipv4.tcp_congestion_control']) ?? real['net.ipv4.tcp_congestion_control']!;
  return {
    'net.ipv4.tcp_congestion_control': cc,
    'net.ipv4.tcp_keepalive_time': '300',
    'net.ipv4.tcp_keepalive_intvl': '30',
    'net.ipv4.tcp_keepalive_probes': '5',
  };
}

/** Prints KEY=VALUE for each key, then (when asked) tries to write WRITE_KEY from inside. */
function script(tryWrite: boolean): string {
  const reads = KEYS.map((k) => `echo "${k}=$(cat ${file(k)})"`);
  const write = tryWrite
    ? [`if err=$(echo 300 2>&1 > ${file(WRITE_KEY)}); then echo "write=ok"; else echo "write=refused $err"; fi`, `echo "after=$(cat ${file(WRITE_KEY)})"`]
    : [];
  return [...reads, ...write].join('; ');
}

async function inContainer(lab: Lab, name: string, sysctl: Values | undefined, tryWrite: boolean): Promise<Values> {
  const bundle = lab.bundle(`sysctl-${name}`, (c) => {
    c.process!.args = ['sh', '-c', script(tryWrite)];
    if (sysctl) c.linux!.sysctl = sysctl;
  });
  const r = await lab.tsrun(['run', '--bundle', bundle.dir, lab.id(`sysctl-${name}`)]);
  if (r.exitCode !== 0) throw new RuntimeError('ERR_DEMO', `container ${name}: tsrun run failed: ${r.stderr}`);
  return Object.fromEntries(r.stdout.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

async function run(lab: Lab): Promise<DemoReport> {
  lab.step('reading the host values');
  const before = hostValues();
  // A handle on the real host's namespace, to read it again from the sandbox.
  const hostNs = openSync('/proc/self/ns/net', 'r');
  let plain: Values, configured: Values, after: Values, standIn: Values;
  try {
    lab.step('the stand-in host: a private network namespace with tuned keepalive and congestion control');
    await enterSandbox();
    const tuned = tunedValues(before);
    for (const k of KEYS) writeFileSync(file(k), tuned[k]!);
    standIn = hostValues();
    lab.step('running a container without sysctls and one with tcp_keepalive_time=600');
    [plain, configured] = await Promise.all([
      inContainer(lab, 'default', undefined, false),
      inContainer(lab, 'configured', CONFIGURED, true),
    ]);
    after = valuesIn(`/proc/${process.pid}/fd/${hostNs}`);
  } finally {
    closeSync(hostNs);
  }
  const unchanged = KEYS.every((k) => before[k] === after[k]);
  const write = configured.write ?? '';
  const writeFromInside = {
    key: WRITE_KEY,
    value: '300',
    refused: write.startsWith('refused'),
    message: write.replace(/^(refused|ok) ?/, '').replace(/^sh: /, ''),
    valueAfter: configured.after ?? '',
  };
  const pick = (v: Values): Values => Object.fromEntries(KEYS.map((k) => [k, v[k] ?? '']));
  return {
    demo: 'sysctl',
    title: 'Namespaced sysctls: a tuned host, a container without sysctls, a container with net.ipv4.tcp_keepalive_time=600',
    tables: [{
      headers: ['key', 'real host (not changed)', 'stand-in host (tuned)', 'container (no sysctl)', 'container (keepalive_time=600)'],
      rows: KEYS.map((k) => [k, before[k]!, standIn[k] ?? '', plain[k] ?? '', configured[k] ?? '']),
    }, {
      headers: ['check', 'result'],
      rows: [
        [`write ${WRITE_KEY}=300 from inside`, writeFromInside.refused ? `refused: ${writeFromInside.message}` : 'allowed'],
        [`${WRITE_KEY} in the container afterwards`, writeFromInside.valueAfter],
        ['host values after the demo', unchanged ? 'unchanged' : `changed: ${KEYS.filter((k) => before[k] !== after[k]).join(', ')}`],
      ],
    }],
    explanations: [
      `The containers are created from a stand-in host: a private network namespace (as the network demos use) whose keepalive was tuned to ${standIn[WRITE_KEY]} s / ${standIn['net.ipv4.tcp_keepalive_intvl']} s / ${standIn['net.ipv4.tcp_keepalive_probes']} probes and congestion control to ${standIn['net.ipv4.tcp_congestion_control']}, as an administrator tunes a server. The real host is only read, before and after.`,
      'net.* sysctls belong to the network namespace. A new namespace starts from the kernel defaults (tcp_sk_init: keepalive 7200 s, 75 s, 9 probes), whatever the namespace that created it was set to: the tuning of the host is lost in every container.',
      `tcp_congestion_control is the exception: tcp_sk_init copies it from the initial namespace (init_net, the real host: ${before['net.ipv4.tcp_congestion_control']}), not from the namespace the container was created from (${standIn['net.ipv4.tcp_congestion_control']}).`,
      'linux.sysctl is written by the runtime inside the container\'s namespaces before pivot_root, so 600 applies to the container only and the host keeps its value.',
      'The default spec makes /proc/sys read-only for the application, so it cannot change the values itself (and could not touch non-namespaced keys either).',
      'tsrun refuses keys whose namespace the container shares with the host (net.* without a network namespace, IPC keys without an ipc namespace...) and keys that are not namespaced at all (vm.*, most of kernel.*).',
    ],
    chart: {
      title: 'net.ipv4.tcp_keepalive_time',
      yLabel: 'seconds',
      bars: [
        { label: 'real host', value: Number(before[WRITE_KEY]) },
        { label: 'stand-in host', value: Number(standIn[WRITE_KEY]), note: 'tuned' },
        { label: 'container, no sysctl', value: Number(plain[WRITE_KEY]), note: 'kernel default' },
        { label: 'container, sysctl 600', value: Number(configured[WRITE_KEY]), note: 'linux.sysctl' },
      ],
    },
    data: {
      sysctl: CONFIGURED,
      host: { before, after, unchanged },
      standInHost: standIn,
      container: { default: pick(plain), configured: pick(configured) },
      writeFromInside,
    },
  };
}

const demo: Demo = {
  name: 'sysctl',
  summary: 'TCP keepalive and congestion control on a tuned (stand-in) host, in a new network namespace, and with linux.sysctl',
  takes: 'about 2 s (--quick changes nothing)',
  run,
};
export default demo;
