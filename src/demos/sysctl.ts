// demo sysctl: which TCP settings a container sees. A new network namespace
// starts from the kernel defaults for most net.* keys (keepalive 7200/75/9),
// but copies tcp_congestion_control from the host's initial namespace; a
// linux.sysctl entry changes the value in the container's namespace only; the
// application cannot change it itself (/proc/sys is read-only in the default
// spec). The host values are read before and after: the demo never writes them.
import { readFileSync } from 'node:fs';
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

function hostValues(): Values {
  return Object.fromEntries(KEYS.map((k) => [k, readFileSync(file(k), 'utf8').trim()]));
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
  lab.step('running a container without sysctls and one with tcp_keepalive_time=600');
  const [plain, configured] = await Promise.all([
    inContainer(lab, 'default', undefined, false),
    inContainer(lab, 'configured', CONFIGURED, true),
  ]);
  const after = hostValues();
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
    title: 'Namespaced sysctls: the host, a container without sysctls, a container with net.ipv4.tcp_keepalive_time=600',
    tables: [{
      headers: ['key', 'host', 'container (no sysctl)', 'container (keepalive_time=600)'],
      rows: KEYS.map((k) => [k, before[k]!, plain[k] ?? '', configured[k] ?? '']),
    }, {
      headers: ['check', 'result'],
      rows: [
        [`write ${WRITE_KEY}=300 from inside`, writeFromInside.refused ? `refused: ${writeFromInside.message}` : 'allowed'],
        [`${WRITE_KEY} in the container afterwards`, writeFromInside.valueAfter],
        ['host values after the demo', unchanged ? 'unchanged' : `changed: ${KEYS.filter((k) => before[k] !== after[k]).join(', ')}`],
      ],
    }],
    explanations: [
      'net.* sysctls belong to the network namespace. A new namespace starts from the kernel defaults (keepalive 7200 s, 75 s, 9 probes), whatever the host was set to.',
      `tcp_congestion_control is the exception: a new namespace copies the host's initial namespace (${before['net.ipv4.tcp_congestion_control']} here).`,
      'linux.sysctl is written by the runtime inside the container\'s namespaces before pivot_root, so 600 applies to the container only and the host keeps its value.',
      'The default spec makes /proc/sys read-only for the application, so it cannot change the values itself (and could not touch non-namespaced keys either).',
      'tsrun refuses keys whose namespace the container shares with the host (net.* without a network namespace, IPC keys without an ipc namespace...) and keys that are not namespaced at all (vm.*, most of kernel.*).',
    ],
    chart: {
      title: 'net.ipv4.tcp_keepalive_time',
      yLabel: 'seconds',
      bars: [
        { label: 'host', value: Number(before[WRITE_KEY]) },
        { label: 'container, no sysctl', value: Number(plain[WRITE_KEY]), note: 'kernel default' },
        { label: 'container, sysctl 600', value: Number(configured[WRITE_KEY]), note: 'linux.sysctl' },
      ],
    },
    data: {
      sysctl: CONFIGURED,
      host: { before, after, unchanged },
      container: { default: pick(plain), configured: pick(configured) },
      writeFromInside,
    },
  };
}

const demo: Demo = {
  name: 'sysctl',
  summary: 'TCP keepalive and congestion control on the host, in a new network namespace, and with linux.sysctl',
  takes: 'about a second (--quick changes nothing)',
  run,
};
export default demo;
