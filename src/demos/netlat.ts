// tsrun demo netlat: TCP request/response latency to one server from the
// host and from containers on veth (routed), veth + bridge, macvlan and ipvlan.
//
// Everything lives in the sandbox (see net-lab.ts). Not every kernel has a
// dummy device, so the "uplink" (the NIC of a real host) is a veth pair:
// one end in a server namespace, the other in the host stand-in, where it is
// the parent of the macvlan/ipvlan links and carries the host's own address.
// Every path therefore crosses the uplink once; what differs is the device
// the client's packets go through before it.
//
// On a noisy machine one run per path swings by a few percent, as much as the
// differences being measured, so the paths are measured in interleaved rounds
// (the order rotated each round, so no path always goes first or last) and
// each figure is the median across rounds, as bench/ does. When the rounds
// of one path disagree by more than the differences being measured (a noisy
// machine), the demo says so and withholds the ratios: it reports the spread
// instead of a ratio it cannot stand behind. With --quick (one round) the host
// is measured a second time at the end of the round to judge the noise.
import { RuntimeError } from '../runtime/errors.ts';
import type { Demo, Lab } from './lab.ts';
import { type NetContainer, type NetLab, openNetLab, requireTools, waitListening } from './net-lab.ts';
import { formatNumber, type DemoReport } from './report.ts';

const SERVER = '10.99.0.1';
const HOST = '10.99.0.2';
const UPLINK_SUBNET = '10.99.0.0/24';
const BRIDGE_SUBNET = '10.98.0.0/24';
const BRIDGE = 'tsrlab0';
const UPLINK = 'uplink0';
const ROUTED_SUBNET = '10.97.0.0/24';
const ROUTED_GATEWAY = '10.97.0.1';
const ROUTED_CONTAINER = '10.97.0.2';
const ROUTED_HOST_IF = 'vroute0';
const PORT = 11111;
const CPU = '0';
/** A path's rounds may differ by this much ((max - min) / median of transactions/s)
 *  before the machine counts as too noisy for ratios: the differences between
 *  the paths are a few percent (see the reference figures in the explanations). */
export const NOISE_LIMIT = 0.1;

export interface Noise {
  /** How the noise was judged: the spread of each path's rounds, or (one round) the host run twice. */
  judgedBy: 'rounds' | 'host measured twice';
  limit: number;
  /** (max - min) / median of transactions/s, per path (one round: the host's two runs). */
  spreads: Record<string, number>;
  worstPath: string;
  worstSpread: number;
  noisy: boolean;
}

/** The spread of `tps` values: (max - min) / median. */
export function spread(tps: number[]): number {
  const m = median(tps);
  return tps.length < 2 || !(m > 0) ? 0 : Number(((Math.max(...tps) - Math.min(...tps)) / m).toFixed(3));
}

/** Noisy when any path's spread is above NOISE_LIMIT. */
export function judgeNoise(byPath: Record<string, number[]>, judgedBy: Noise['judgedBy']): Noise {
  const spreads = Object.fromEntries(Object.entries(byPath).map(([name, tps]) => [name, spread(tps)]));
  const [worstPath, worstSpread] = Object.entries(spreads).reduce((a, b) => (b[1] > a[1] ? b : a), ['', 0] as [string, number]);
  return { judgedBy, limit: NOISE_LIMIT, spreads, worstPath, worstSpread, noisy: worstSpread > NOISE_LIMIT };
}

export interface Latency {
  transactionsPerSec: number;
  /** sockperf's latency: half the round trip, in microseconds. */
  avgUsec: number;
  p50Usec: number;
  p99Usec: number;
  maxUsec: number;
  observations: number;
  /** 2 when the first run had no valid observation and was repeated. */
  attempts?: number;
}

/** One run of one path in one round. */
export interface RoundRun extends Latency {
  /** 1-based round number. */
  round: number;
  /** 1-based position of this path in that round's order. */
  position: number;
}

/** A path's figures across rounds: the medians of transactions/s, p50, p99
 *  and avg, the largest max, the total observations. */
export interface RoundsLatency extends Latency {
  rounds: number;
  minTransactionsPerSec: number;
  maxTransactionsPerSec: number;
}

export interface PathResult {
  name: 'host' | 'veth' | 'veth-bridge' | 'macvlan' | 'ipvlan';
  label: string;
  client: string;
  route: string;
  skipped: boolean;
  reason?: string;
  /** Medians across rounds (ratioToHost is computed from these). */
  result?: RoundsLatency;
  /** Each round's run, in round order. */
  runs?: RoundRun[];
  ratioToHost?: number;
}

/** The median; the mean of the two middle values for an even count. */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const round3 = (x: number): number => Number(x.toFixed(3));

/** One path's rounds summarised: medians, the largest max, the tps spread. */
export function summarizeRounds(runs: Latency[]): RoundsLatency {
  const tps = runs.map((r) => r.transactionsPerSec);
  return {
    transactionsPerSec: Math.round(median(tps)),
    avgUsec: round3(median(runs.map((r) => r.avgUsec))),
    p50Usec: round3(median(runs.map((r) => r.p50Usec))),
    p99Usec: round3(median(runs.map((r) => r.p99Usec))),
    maxUsec: Math.max(...runs.map((r) => r.maxUsec)),
    observations: runs.reduce((n, r) => n + r.observations, 0),
    attempts: runs.reduce((n, r) => n + (r.attempts ?? 1), 0),
    rounds: runs.length,
    minTransactionsPerSec: Math.min(...tps),
    maxTransactionsPerSec: Math.max(...tps),
  };
}

/** Round `r` (0-based) measures `names` rotated left by r: each path goes first once every names.length rounds. */
export function roundOrder<T>(names: T[], r: number): T[] {
  const k = names.length === 0 ? 0 : r % names.length;
  return [...names.slice(k), ...names.slice(0, k)];
}

/** The summary of `sockperf ping-pong`: valid-duration message rate and the percentile lines. */
export function parseSockperf(text: string): Latency {
  const clean = text.replace(/\x1b\[[0-9;]*m/g, '');
  const valid = /\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)/.exec(clean);
  const pct = (p: string): number => {
    const m = new RegExp(`percentile ${p.replace('.', '\\.')} =\\s*([\\d.]+)`).exec(clean);
    return m ? Number(m[1]) : NaN;
  };
  const avg = /Summary: Latency is ([\d.]+) usec/.exec(clean);
  const max = /<MAX> observation =\s*([\d.]+)/.exec(clean);
  if (!valid || !avg) throw new Error(`no sockperf summary in its output: ${clean.trim().split('\n').slice(-3).join('; ') || 'nothing'}`);
  const seconds = Number(valid[1]);
  const received = Number(valid[3]);
  return {
    transactionsPerSec: seconds > 0 ? Math.round(received / seconds) : 0,
    avgUsec: Number(avg[1]),
    p50Usec: pct('50.000'),
    p99Usec: pct('99.000'),
    maxUsec: max ? Number(max[1]) : NaN,
    observations: received,
  };
}

/** One sockperf run; a run with no valid observation (the client stalled for
 *  the whole window, seen once on a loaded machine) is repeated once. */
async function pingPong(net: NetLab, seconds: number, netns?: string): Promise<Latency & { attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    const r = await net.run('taskset', ['-c', CPU, 'sockperf', 'ping-pong', '--tcp', '-i', SERVER, '-p', String(PORT), '-t', String(seconds)], netns);
    try {
      return { ...parseSockperf(r.stdout + r.stderr), attempts: attempt };
    } catch (err) {
      if (attempt < 2 && r.code === 0) continue;
      throw new RuntimeError('ERR_DEMO', `sockperf ping-pong${netns ? ` in ${netns}` : ''} (exit ${r.code}): ${(err as Error).message}`);
    }
  }
}

/** A container on a plain veth pair with no bridge (like CNI's ptp plugin):
 *  the hooks always use a bridge, so this one is wired by hand. */
async function routedVethContainer(net: NetLab): Promise<NetContainer> {
  const c = await net.startContainer('netlat-veth');
  await net.must('the routed veth pair', 'ip', ['link', 'add', ROUTED_HOST_IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c.netns]);
  await net.must('the routed veth, host end', 'ip', ['addr', 'add', `${ROUTED_GATEWAY}/24`, 'dev', ROUTED_HOST_IF]);
  await net.must('the routed veth, host end', 'ip', ['link', 'set', ROUTED_HOST_IF, 'up']);
  await net.must('the routed veth, container end', 'ip', ['addr', 'add', `${ROUTED_CONTAINER}/24`, 'dev', 'eth0'], c.netns);
  await net.must('the routed veth, container end', 'ip', ['link', 'set', 'eth0', 'up'], c.netns);
  await net.must('the routed veth, default route', 'ip', ['route', 'add', 'default', 'via', ROUTED_GATEWAY], c.netns);
  return c;
}

/** Why ipvlan cannot be used here, or undefined when it can: asks the kernel by making one. */
async function ipvlanUnavailable(net: NetLab): Promise<string | undefined> {
  const r = await net.run('ip', ['link', 'add', 'tsrprobe0', 'link', UPLINK, 'type', 'ipvlan', 'mode', 'l2']);
  if (r.code === 0) {
    await net.run('ip', ['link', 'del', 'tsrprobe0']);
    return undefined;
  }
  const said = r.stderr.trim().split('\n')[0] ?? '';
  return /Unknown device type/i.test(said)
    ? `the kernel has no ipvlan support (CONFIG_IPVLAN): "ip link add ... type ipvlan" said "${said}"`
    : `ipvlan on ${UPLINK} failed: ${said}`;
}

async function run(lab: Lab): Promise<DemoReport> {
  await requireTools(['sockperf', 'taskset', 'nsenter', 'ip', 'ss']);
  // 3 rounds x 4 paths x 2 s: each path gets 3 x 1.55 s of valid sockperf
  // interval, as much as the single 5 s run it used to get; but every sockperf
  // run costs ~2 s more than -t, so the demo takes ~52 s. --quick: one round of 1 s.
  const seconds = lab.quick ? 1 : 2;
  const rounds = lab.quick ? 1 : 3;
  lab.step('setting up: sandbox, uplink, server namespace');
  const net = await openNetLab(lab);
  try {
    return await measure(lab, net, seconds, rounds);
  } finally {
    net.close();
  }
}

async function measure(lab: Lab, net: NetLab, seconds: number, rounds: number): Promise<DemoReport> {
  const serverNs = await net.openNetns();
  await net.must('the uplink veth pair', 'ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', UPLINK, 'netns', `/proc/${process.pid}/ns/net`], serverNs);
  await net.must('the server address', 'ip', ['addr', 'add', `${SERVER}/24`, 'dev', 'eth0'], serverNs);
  await net.must('the server link', 'ip', ['link', 'set', 'eth0', 'up'], serverNs);
  // Replies to the veth containers go back through the host stand-in, which routes.
  for (const subnet of [BRIDGE_SUBNET, ROUTED_SUBNET]) await net.must('the server routes to the containers', 'ip', ['route', 'add', subnet, 'via', HOST], serverNs);
  await net.must('the host address', 'ip', ['addr', 'add', `${HOST}/24`, 'dev', UPLINK]);
  await net.must('the uplink', 'ip', ['link', 'set', UPLINK, 'up']);
  await net.must('forwarding in the host stand-in', 'sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
  const server = net.background('taskset', ['-c', CPU, 'sockperf', 'server', '--tcp', '-i', SERVER, '-p', String(PORT)], serverNs);
  await waitListening(net, 'sockperf server', PORT, serverNs);

  const paths: PathResult[] = [
    { name: 'host', label: 'host', client: `host stand-in, ${HOST} on ${UPLINK}`, route: `${UPLINK} (veth) -> server`, skipped: false },
    { name: 'veth', label: 'veth (routed)', client: `container, eth0 = veth, ${ROUTED_CONTAINER}`, route: `veth -> routed by the host -> ${UPLINK} -> server`, skipped: false },
    { name: 'veth-bridge', label: 'veth + bridge', client: 'container, eth0 = veth, 10.98.0.2', route: `veth -> bridge ${BRIDGE} -> routed by the host -> ${UPLINK} -> server`, skipped: false },
    { name: 'macvlan', label: 'macvlan', client: `container, eth0 = macvlan of ${UPLINK}, 10.99.0.10`, route: `macvlan -> ${UPLINK} -> server`, skipped: false },
    { name: 'ipvlan', label: 'ipvlan', client: `container, eth0 = ipvlan (l2) of ${UPLINK}, 10.99.0.11`, route: `ipvlan -> ${UPLINK} -> server`, skipped: false },
  ];
  const specs: Record<string, string> = {
    'veth-bridge': `veth,subnet=${BRIDGE_SUBNET},bridge=${BRIDGE}`,
    macvlan: `macvlan,parent=${UPLINK},subnet=${UPLINK_SUBNET},ip=10.99.0.10,gateway=${SERVER}`,
    ipvlan: `ipvlan,parent=${UPLINK},subnet=${UPLINK_SUBNET},ip=10.99.0.11,gateway=${SERVER}`,
  };
  for (const path of paths) {
    if (path.name !== 'ipvlan') continue;
    const why = await ipvlanUnavailable(net);
    if (why) {
      path.skipped = true;
      path.reason = why;
    }
  }
  const measured = paths.filter((p) => !p.skipped);

  // The veth containers stay up across rounds: they do not touch the uplink
  // and an idle container uses no CPU. A macvlan or ipvlan container is made
  // just for its run and deleted after it: the two cannot share a parent, and
  // while one exists the uplink's rx handler (macvlan's or ipvlan's) sees
  // every packet of the other paths too, which would slow them down.
  const perRun = (p: PathResult): boolean => p.name === 'macvlan' || p.name === 'ipvlan';
  const kept = new Map<string, NetContainer>();
  for (const path of measured) {
    if (path.name === 'host' || perRun(path)) continue;
    lab.step(`${path.label}: starting a container (kept up for all rounds)`);
    kept.set(path.name, path.name === 'veth' ? await routedVethContainer(net) : await net.startContainer(`netlat-${path.name}`, specs[path.name]!));
  }

  const order: string[][] = [];
  for (let r = 0; r < rounds; r++) {
    const these = roundOrder(measured, r);
    order.push(these.map((p) => p.name));
    for (const [i, path] of these.entries()) {
      const tag = `round ${r + 1}/${rounds}, ${path.label}`;
      let c: NetContainer | undefined;
      if (perRun(path)) {
        lab.step(`${tag}: starting a container`);
        c = await net.startContainer(`netlat-${path.name}`, specs[path.name]!);
      }
      lab.step(`${tag}: sockperf ping-pong for ${seconds} s`);
      const netns = path.name === 'host' ? undefined : (c ?? kept.get(path.name)!).netns;
      const result = await pingPong(net, seconds, netns);
      (path.runs ??= []).push({ round: r + 1, position: i + 1, ...result });
      if (c) await net.deleteContainer(c.id);
    }
  }
  // One round has no spread: run the host path again to see how much the same path moves.
  let hostAgain: number | undefined;
  if (rounds === 1) {
    lab.step(`host again: sockperf ping-pong for ${seconds} s, to judge the noise`);
    hostAgain = (await pingPong(net, seconds)).transactionsPerSec;
  }
  for (const c of kept.values()) await net.deleteContainer(c.id);
  await server.stop();

  for (const p of measured) p.result = summarizeRounds(p.runs!);
  const host = paths[0]!.result!.transactionsPerSec;
  for (const p of paths) if (p.result) p.ratioToHost = Number((p.result.transactionsPerSec / host).toFixed(3));
  const noise = hostAgain !== undefined
    ? judgeNoise({ host: [host, hostAgain] }, 'host measured twice')
    : judgeNoise(Object.fromEntries(measured.map((p) => [p.name, p.runs!.map((r) => r.transactionsPerSec)])), 'rounds');
  return report(paths, seconds, rounds, order, lab.quick, noise, hostAgain);
}

function report(paths: PathResult[], seconds: number, rounds: number, order: string[][], quick: boolean, noise: Noise, hostAgain: number | undefined): DemoReport {
  // A noisy run keeps its raw per-path ratios (paths[].ratioToHost) but no summary ratio.
  const rawRatio = (name: string): number | null => paths.find((p) => p.name === name)?.ratioToHost ?? null;
  const ratio = (name: string): number | null => (noise.noisy ? null : rawRatio(name));
  const pct = (x: number): string => `${Math.round(x * 100)} %`;
  const noiseText = noise.noisy
    ? `NOISY MACHINE: ${noise.judgedBy === 'rounds' ? `the rounds of ${noise.worstPath} differ by ${pct(noise.worstSpread)}` : `the host path measured twice differed by ${pct(noise.worstSpread)} (${paths[0]!.result!.transactionsPerSec} then ${hostAgain} transactions/s)`}, more than the ${pct(noise.limit)} this demo accepts and more than the differences between the paths (a few %): the ratios to the host are not shown, because this run cannot tell them apart from noise. Run it again on a quiet machine (the raw per-path figures are still in the table and in --json).`
    : `noise check: ${noise.judgedBy === 'rounds' ? `every path's rounds agree within ${pct(noise.worstSpread)} (worst: ${noise.worstPath})` : `the host path measured twice agreed within ${pct(noise.worstSpread)} (${paths[0]!.result!.transactionsPerSec} and ${hostAgain} transactions/s)`}, below the ${pct(noise.limit)} limit: the ratios can be trusted to about that much.`;
  const skipped = paths.filter((p) => p.skipped);
  const label = (name: string): string => paths.find((p) => p.name === name)?.label ?? name;
  const medians = rounds === 1
    ? `one round of ${seconds} s per path (--quick): single runs, not medians; without --quick the figures are medians of several interleaved rounds`
    : `every figure is the median of ${rounds} interleaved rounds, ${seconds} s per path per round, the order rotated each round (${order.map((o, i) => `round ${i + 1}: ${o.map(label).join(', ')}`).join('; ')}); ratios are of the median transactions/s; max is the largest of the rounds; "range" is the lowest and highest transactions/s of the rounds`;
  const explanations = [
    noiseText,
    medians,
    `client and server are both pinned to CPU ${CPU} (taskset -c ${CPU}): unpinned, waking the other CPU for every reply costs more than the devices do and hides the difference.`,
    'sockperf runs on the host side inside each container\'s network namespace (nsenter --net=/proc/PID/ns/net): it is dynamically linked and the busybox rootfs has no libraries; the network path measured is the container\'s.',
    'latency is sockperf\'s: half the round trip, in microseconds; transactions/s = round trips per second over the measured (post warm-up) interval.',
    'veth (routed): a packet sent into a veth is handed to its peer with netif_rx, queued on a per-CPU backlog and received again in a softirq, then the host stand-in routes it out of the uplink: each direction pays a second pass through the receive path plus a forwarding lookup.',
    'veth + bridge: the same plus the bridge: the host end is a bridge port, so the packet first goes through the bridge\'s MAC lookup and is received once more by the bridge device before it is routed: one more hop each way.',
    'macvlan/ipvlan: the container\'s packet is transmitted straight on the parent device (dev_queue_xmit of the uplink); replies are handed to the container by the parent\'s rx handler, with no extra backlog or forwarding hop.',
    'for reference only (not used in any computation): pinned on the 2-core VM this demo was written on, host 1.00, macvlan ~0.98, veth ~0.95, veth+bridge ~0.88.',
    ...skipped.map((p) => `${p.label} skipped: ${p.reason}.`),
  ];
  return {
    demo: 'netlat',
    title: `TCP request/response latency to ${SERVER}:${PORT} (sockperf ping-pong, pinned to CPU ${CPU}, ${rounds === 1 ? `1 round of ${seconds} s per path` : `medians of ${rounds} interleaved rounds, ${seconds} s per path per round`})`,
    tables: [
      {
        title: 'Topology (all inside a private network namespace; the uplink is a veth pair to the server\'s namespace):',
        headers: ['path', 'client', 'route to the server'],
        rows: paths.map((p) => [p.label, p.client, p.route]),
      },
      {
        title: rounds === 1 ? `Results (1 round of ${seconds} s):` : `Results (medians of ${rounds} interleaved rounds, ${seconds} s each):`,
        headers: ['path', 'transactions/s', 'p50 usec', 'p99 usec', 'avg usec', 'vs host', 'rounds', 'range transactions/s'],
        rows: paths.map((p) => p.result
          ? [p.label, p.result.transactionsPerSec, p.result.p50Usec, p.result.p99Usec, p.result.avgUsec, noise.noisy ? 'noisy' : p.ratioToHost ?? '-', p.result.rounds, `${p.result.minTransactionsPerSec}-${p.result.maxTransactionsPerSec}`]
          : [p.label, 'skipped', '-', '-', '-', '-', '-', '-']),
      },
    ],
    explanations,
    chart: {
      title: `TCP ping-pong transactions/s to one server${rounds > 1 ? `, median of ${rounds} rounds` : ''}${quick ? ' (quick)' : ''}${noise.noisy ? ' - noisy run' : ''}`,
      yLabel: 'transactions per second',
      bars: paths.map((p) => ({ label: p.label, value: p.result?.transactionsPerSec ?? 0, ...(p.skipped ? { note: 'skipped' } : noise.noisy ? { note: 'noisy: no ratio' } : p.ratioToHost !== undefined ? { note: `${formatNumber(p.ratioToHost)} x host` } : {}) })),
    },
    data: {
      server: `${SERVER}:${PORT}`,
      secondsPerPath: seconds,
      rounds,
      roundOrder: order,
      pinnedCpu: Number(CPU),
      tool: 'sockperf ping-pong --tcp',
      clientsRunVia: 'nsenter --net',
      paths,
      noise: { ...noise, ...(hostAgain !== undefined ? { hostAgainTransactionsPerSec: hostAgain } : {}) },
      ratiosWithheld: noise.noisy,
      ratios: {
        hostOverHost: noise.noisy ? null : 1,
        vethOverHost: ratio('veth'),
        vethBridgeOverHost: ratio('veth-bridge'),
        macvlanOverHost: ratio('macvlan'),
        ipvlanOverHost: ratio('ipvlan'),
      },
      // The same from the medians whatever the noise (bench/ reads them when ratios are withheld).
      rawRatios: {
        hostOverHost: 1,
        vethOverHost: rawRatio('veth'),
        vethBridgeOverHost: rawRatio('veth-bridge'),
        macvlanOverHost: rawRatio('macvlan'),
        ipvlanOverHost: rawRatio('ipvlan'),
      },
    },
  };
}

const demo: Demo = {
  name: 'netlat',
  summary: 'TCP request/response latency (sockperf ping-pong, pinned to one CPU) from the host and from containers on veth, veth + bridge, macvlan and ipvlan, each as a ratio to the host: medians of 3 interleaved rounds',
  // sockperf adds ~2 s to every run whatever -t says (and counts only the last t - 0.45 s).
  takes: 'about 55 s (17 s with --quick): 3 rounds of 2 s per path, 1 round of 1 s and the host twice with --quick',
  run,
};
export default demo;
