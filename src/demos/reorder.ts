// demo reorder: one bulk TCP stream (iperf3) from a container on veth to a
// server outside it, first without and then with RPS on the host end of the
// veth, and what the TCP counters of both ends say about reordering.
//
// Why it happens: a packet sent into a veth is queued with netif_rx on the
// backlog of the CPU that sent it. TCP transmits from the sending process and
// also from the softirq that handles incoming ACKs, so when those run on
// different CPUs, one flow's packets sit in two backlogs that are drained
// independently, and the receiver sees them out of order. RPS (rps_cpus on
// the receiving queue) hashes each flow to one CPU's backlog instead.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { RuntimeError } from '../runtime/errors.ts';
import type { Demo, Lab } from './lab.ts';
import { counterDelta, type NetLab, nstat, oneLine, openNetLab, requireTools, waitListening } from './net-lab.ts';
import { formatNumber, type DemoReport } from './report.ts';

const SUBNET = '10.98.0.0/24';
const SERVER = '10.98.0.1';
const BRIDGE = 'tsrlab0';
const PORT = 5201;

/** Counters of the sender (the container's namespace) and what they count. */
const CLIENT_COUNTERS: Record<string, string> = {
  TcpRetransSegs: 'segments retransmitted',
  TcpExtTCPFastRetrans: 'fast retransmits (after dup ACKs / SACKs)',
  TcpExtTCPLostRetransmit: 'retransmits that were lost again',
  TcpExtTCPSACKReorder: 'reordering detected from SACKs',
  TcpExtTCPTSReorder: 'reordering detected from timestamps',
  TcpExtTCPRenoReorder: 'reordering detected without SACK',
  TcpExtTCPDSACKRecv: 'D-SACKs received: a retransmit was not needed',
};
/** Counters of the receiver (the host stand-in's namespace). */
const SERVER_COUNTERS: Record<string, string> = {
  TcpExtTCPOFOQueue: 'segments that arrived out of order',
  TcpExtTCPDSACKOldSent: 'D-SACKs sent for data it already had',
};

export interface ReorderRun {
  name: 'without-rps' | 'with-rps';
  rps: boolean;
  /** rps_cpus of the host end's rx queue, as read back from sysfs. */
  rpsCpus: string;
  hostIf: string;
  seconds: number;
  throughputGbps: number;
  /** iperf3's own count for the stream. */
  retransmits: number;
  client: Record<string, number>;
  server: Record<string, number>;
}

interface IperfResult {
  end?: { sum_sent?: { retransmits?: number }; sum_received?: { bits_per_second?: number } };
  error?: string;
}

async function stream(net: NetLab, rps: boolean, seconds: number): Promise<ReorderRun> {
  const name = rps ? 'with-rps' : 'without-rps';
  net.lab.step(`${name}: starting a veth container`);
  const c = await net.startContainer(`reorder-${rps ? 'rps' : 'plain'}`, `veth,subnet=${SUBNET},bridge=${BRIDGE}${rps ? ',rps' : ''}`);
  if (!c.hostIf) throw new RuntimeError('ERR_DEMO', `container ${c.id}: no host end of its veth pair in the network hook's records`);
  const rpsCpus = readFileSync(`/sys/class/net/${c.hostIf}/queues/rx-0/rps_cpus`, 'utf8').trim();
  // The bridge (and its address) exists from the first container on.
  const server = net.background('iperf3', ['-s', '-1', '-B', SERVER, '-p', String(PORT)]);
  await waitListening(net, 'iperf3 server', PORT, undefined);
  const names = { client: Object.keys(CLIENT_COUNTERS), server: Object.keys(SERVER_COUNTERS) };
  const before = { client: await nstat(net, c.netns), server: await nstat(net) };
  net.lab.step(`${name}: iperf3 stream for ${seconds} s`);
  const r = await net.run('iperf3', ['-c', SERVER, '-p', String(PORT), '-t', String(seconds), '-J'], c.netns);
  const after = { client: await nstat(net, c.netns), server: await nstat(net) };
  await server.stop();
  await net.deleteContainer(c.id);
  let result: IperfResult;
  try {
    result = JSON.parse(r.stdout) as IperfResult;
  } catch {
    throw new RuntimeError('ERR_DEMO', `iperf3 client in container ${c.id} (exit ${r.code}): ${oneLine(r.stderr || r.stdout) || 'no output'}`);
  }
  if (result.error || r.code !== 0) throw new RuntimeError('ERR_DEMO', `iperf3 client in container ${c.id}: ${result.error ?? `exit status ${r.code}`}`);
  return {
    name,
    rps,
    rpsCpus,
    hostIf: c.hostIf,
    seconds,
    throughputGbps: Number(((result.end?.sum_received?.bits_per_second ?? 0) / 1e9).toFixed(2)),
    retransmits: result.end?.sum_sent?.retransmits ?? 0,
    client: counterDelta(before.client, after.client, names.client),
    server: counterDelta(before.server, after.server, names.server),
  };
}

async function run(lab: Lab): Promise<DemoReport> {
  await requireTools(['iperf3', 'nstat', 'nsenter', 'ip', 'ss']);
  const seconds = lab.quick ? 2 : 10;
  lab.step('setting up the sandbox');
  const net = await openNetLab(lab);
  try {
    const runs = [await stream(net, false, seconds), await stream(net, true, seconds)];
    return report(runs, seconds, lab.quick);
  } finally {
    net.close();
  }
}

const reordered = (r: ReorderRun): number => r.retransmits + (r.server.TcpExtTCPOFOQueue ?? 0);

function report(runs: ReorderRun[], seconds: number, quick: boolean): DemoReport {
  const [plain, rps] = runs as [ReorderRun, ReorderRun];
  const cpus = availableParallelism();
  const reproduced = reordered(plain) > 0 && reordered(rps) < reordered(plain);
  const outcome = reproduced
    ? `this run: ${plain.retransmits} retransmits and ${plain.server.TcpExtTCPOFOQueue} out-of-order segments without RPS, ${rps.retransmits} and ${rps.server.TcpExtTCPOFOQueue} with it.`
    : reordered(plain) === 0
      ? `this run did not reproduce it: no retransmits and no out-of-order segments even without RPS (the sender and the ACK softirq happened to stay on one CPU${cpus < 2 ? ', and this machine has a single CPU' : ''}); run it again or without --quick.`
      : `this run did not show RPS helping: ${reordered(plain)} retransmits + out-of-order segments without RPS, ${reordered(rps)} with it.`;
  const row = (label: string, get: (r: ReorderRun) => number, meaning: string): Array<string | number> => [label, get(plain), get(rps), meaning];
  return {
    demo: 'reorder',
    title: `One bulk TCP stream (iperf3, ${seconds} s) from a veth container to ${SERVER}:${PORT} in the host stand-in, without and with RPS on the host end of the veth (${cpus} CPUs)`,
    tables: [
      {
        title: 'Runs:',
        headers: ['run', 'host end', 'rps_cpus', 'Gbit/s', 'retransmits (iperf3)'],
        rows: runs.map((r) => [r.name, r.hostIf, r.rpsCpus, r.throughputGbps, r.retransmits]),
      },
      {
        title: 'TCP counters during the stream (nstat deltas; sender = the container\'s namespace, receiver = the host stand-in\'s):',
        headers: ['counter', 'without RPS', 'with RPS', 'meaning'],
        rows: [
          ...Object.entries(CLIENT_COUNTERS).map(([k, m]) => row(`sender ${k}`, (r) => r.client[k] ?? 0, m)),
          ...Object.entries(SERVER_COUNTERS).map(([k, m]) => row(`receiver ${k}`, (r) => r.server[k] ?? 0, m)),
        ],
      },
    ],
    explanations: [
      outcome,
      'without RPS a packet the container sends into its veth is queued (netif_rx) on the backlog of whichever CPU sent it; TCP sends both from iperf3 and from the softirq that processes ACKs, so one flow\'s segments can wait in two CPUs\' backlogs and be delivered out of order.',
      'the receiver queues out-of-order segments (TCPOFOQueue) and answers with duplicate ACKs carrying SACK blocks; the sender\'s loss detection (SACK scoreboard, RACK) takes the gap for a loss and fast-retransmits (TCPFastRetrans) data that was only late; the receiver reports such duplicates back as D-SACKs, and the sender then learns the path reorders (TCPSACKReorder, TCPTSReorder).',
      'with RPS (the network hook\'s rps option writes rps_cpus on the host end\'s rx queue) the kernel hashes each flow to one CPU\'s backlog, so its segments stay in order whichever CPU sent them.',
      `RPS is not free: steering a packet to another CPU's backlog costs an inter-processor interrupt, so bulk throughput can drop a little even as the retransmits vanish (this run: ${plain.throughputGbps} Gbit/s without, ${rps.throughputGbps} Gbit/s with).`,
      'iperf3 and nstat run on the host side inside the container\'s network namespace (nsenter --net=/proc/PID/ns/net), unpinned: reordering needs more than one CPU; the counters are per network namespace.',
    ],
    chart: {
      title: `Retransmits and out-of-order segments in ${seconds} s${quick ? ' (quick)' : ''}`,
      yLabel: `segments in ${seconds} s`,
      bars: [
        { label: 'retransmits without RPS', value: plain.retransmits },
        { label: 'retransmits with RPS', value: rps.retransmits },
        { label: 'out-of-order without RPS', value: plain.server.TcpExtTCPOFOQueue ?? 0 },
        { label: 'out-of-order with RPS', value: rps.server.TcpExtTCPOFOQueue ?? 0 },
      ],
    },
    data: {
      server: `${SERVER}:${PORT}`,
      secondsPerRun: seconds,
      cpus,
      tool: 'iperf3 -c (unpinned) + nstat -asz',
      clientsRunVia: 'nsenter --net',
      runs,
      reproduced,
      summary: `${formatNumber(plain.retransmits)} -> ${formatNumber(rps.retransmits)} retransmits`,
    },
  };
}

const demo: Demo = {
  name: 'reorder',
  summary: 'a bulk TCP stream (iperf3) from a veth container, without and with RPS on the host end of the veth: retransmits and reordering counters (nstat) of both ends',
  takes: 'about 25 s (6 s with --quick): two 10 s streams, 2 s each with --quick',
  run,
};
export default demo;
