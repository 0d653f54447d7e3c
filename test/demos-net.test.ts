// `tsrun demo netlat` and `tsrun demo reorder` end to end with --quick --json
// --svg: real containers, sockperf and iperf3 in a private network namespace.
// The JSON carries live measurements, so only their shape and sanity are
// checked (rates > 0, p99 >= p50, both reorder runs with numeric counters),
// never their values. Then: nothing left on the host (links, tsrun state,
// network-hook state, processes, temp dirs), also after a Ctrl-C (SIGINT).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleepMs, waitFor } from './lib/tsrun.ts';
import { demoRunner } from './lib/demo.ts';

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const missing = ['sockperf', 'iperf3', 'nstat', 'nsenter', 'taskset', 'ip', 'ss'].filter((c) => !has(c));
if (process.getuid?.() !== 0) missing.push('root');

const dir = mkdtempSync(join(tmpdir(), 'tsrun-demosnet-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const links = (): string[] => spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(':')[1]?.trim() ?? '').filter(Boolean).sort();
const labDirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('tsrun-demo-'));
const listing = (d: string): string[] => (existsSync(d) ? readdirSync(d).sort() : []);
/** Pids of the tools the demos start, and of containers' `sleep 1000`. */
// Zombies are left out: a SIGKILLed tool is gone, and this VM's PID 1 reaps
// orphans only every second or two.
// Only orphans (parent 1) count: a tool a demo left behind was re-parented to
// PID 1, while another run's live tools (other work on the machine) still
// have their demo as parent.
const toolPids = (): string[] => spawnSync('ps', ['-eo', 'pid=,ppid=,stat=,args='], { encoding: 'utf8' }).stdout.split('\n')
  .filter((l) => /\b(sockperf|iperf3)\b/.test(l) && /^\s*\d+\s+1\s/.test(l) && !/^\s*\d+\s+\d+\s+Z/.test(l)).map((l) => l.trim().split(/\s+/)[0]!);
const before = { links: links(), labs: new Set(labDirs()), run: listing('/run/tsrun'), net: listing('/run/tsrun-net'), tools: new Set(toolPids()), nstat: existsSync('/tmp/.nstat.u0') };

const demos = demoRunner(dir);
/** A lab dir of one of our demo runs (others may be running demos at the same
 *  time): the Lab's dir is tsrun-demo-PID-*, PID = the demo's. */
function ours(lab: string): boolean {
  return demos.pids.some((p) => lab.startsWith(`tsrun-demo-${p}-`));
}

/** What a demo run must not leave behind on the real host. */
function leftovers(): string[] {
  const found: string[] = [];
  const now = links();
  if (now.join(' ') !== before.links.join(' ')) found.push(`links: before ${before.links.join(' ')}, now ${now.join(' ')}`);
  const labs = labDirs().filter((d) => !before.labs.has(d) && ours(d));
  if (labs.length) found.push(`lab dirs: ${labs.join(' ')}`);
  if (listing('/run/tsrun').join(' ') !== before.run.join(' ')) found.push(`/run/tsrun: ${listing('/run/tsrun').join(' ')}`);
  if (listing('/run/tsrun-net').join(' ') !== before.net.join(' ')) found.push(`/run/tsrun-net: ${listing('/run/tsrun-net').join(' ')}`);
  const tools = toolPids().filter((p) => !before.tools.has(p));
  if (tools.length) found.push(`sockperf/iperf3 processes: ${tools.join(' ')}`);
  if (!before.nstat && existsSync('/tmp/.nstat.u0')) found.push('nstat history file /tmp/.nstat.u0');
  return found;
}

if (missing.length > 0) {
  console.log(`SKIP network demos: needs ${missing.join(', ')}`);
  test.skip('network demos', () => {});
} else {
  test('demo netlat --quick --json --svg: host, veth, veth + bridge, macvlan measured; ipvlan measured or skipped with the reason', async () => {
    const { json, svg } = await demos.json('netlat');
    assert.is(json.secondsPerPath, 1);
    assert.is(json.rounds, 1, '--quick measures one round');
    assert.is(json.pinnedCpu, 0);
    const paths = json.paths as Array<Record<string, any>>;
    assert.equal(json.roundOrder, [paths.filter((p) => !p.skipped).map((p) => p.name)]);
    assert.equal(paths.map((p) => p.name), ['host', 'veth', 'veth-bridge', 'macvlan', 'ipvlan']);
    for (const p of paths) {
      assert.type(p.label, 'string');
      assert.type(p.route, 'string');
      if (p.skipped) {
        assert.is(p.name, 'ipvlan', `only ipvlan may be skipped, not ${p.name}`);
        assert.match(p.reason, /ipvlan/);
        continue;
      }
      const r = p.result;
      assert.ok(r.transactionsPerSec > 0, `${p.name}: transactions/s ${r.transactionsPerSec}`);
      assert.ok(r.p50Usec > 0 && r.p99Usec >= r.p50Usec, `${p.name}: p50 ${r.p50Usec}, p99 ${r.p99Usec}`);
      assert.ok(r.avgUsec > 0 && r.maxUsec >= r.p99Usec);
      assert.ok(p.ratioToHost > 0, `${p.name}: ratio ${p.ratioToHost}`);
      assert.is(r.rounds, json.rounds);
      assert.equal(p.runs.map((x: Record<string, number>) => x.round), [1]);
      // One round: the median is that round's run.
      assert.is(r.transactionsPerSec, p.runs[0].transactionsPerSec);
      assert.is(r.minTransactionsPerSec, r.transactionsPerSec);
      assert.is(r.maxTransactionsPerSec, r.transactionsPerSec);
    }
    assert.is(paths[0]!.ratioToHost, 1);
    const ipvlan = paths[4]!;
    const kernelHasIpvlan = spawnSync('sh', ['-c', 'unshare --net sh -c "ip link add p0 type veth peer name p1 && ip link add i0 link p0 type ipvlan"']).status === 0;
    assert.is(ipvlan.skipped, !kernelHasIpvlan);
    if (!kernelHasIpvlan) {
      assert.match(ipvlan.reason, /CONFIG_IPVLAN/);
      assert.is(json.ratios.ipvlanOverHost, null);
    }
    // (ratioToHost per path stays: the raw measurement, noisy or not.)
    // A noisy machine (the host run twice disagrees by more than the limit) gets no ratios, and says so.
    assert.is(json.noise.judgedBy, 'host measured twice');
    assert.ok(json.noise.hostAgainTransactionsPerSec > 0);
    assert.is(json.noise.noisy, json.noise.worstSpread > json.noise.limit);
    assert.is(json.ratiosWithheld, json.noise.noisy);
    if (json.noise.noisy) {
      assert.equal(Object.values(json.ratios), [null, null, null, null, null]);
      assert.ok(json.explanations[0].startsWith('NOISY MACHINE'), json.explanations[0]);
    } else {
      assert.ok(json.ratios.macvlanOverHost > 0 && json.ratios.vethOverHost > 0 && json.ratios.vethBridgeOverHost > 0);
      assert.match(json.explanations[0], /^noise check: /);
    }
    assert.ok(json.explanations.some((e: string) => /taskset -c 0/.test(e)), 'says that it pins to CPU 0');
    assert.ok(json.explanations.some((e: string) => /one round/.test(e) && /median/.test(e)), 'says that --quick figures are one round, not medians');
    assert.ok(json.explanations.some((e: string) => /nsenter --net/.test(e)), 'says how the tools run');
    assert.match(svg, /^<svg/);
    assert.match(svg, /transactions per second/);
    assert.equal(leftovers(), []);
  });

  test('demo reorder --quick --json --svg: one stream without and one with RPS, numeric counters of both ends', async () => {
    const { json, svg } = await demos.json('reorder');
    assert.is(json.secondsPerRun, 2);
    const runs = json.runs as Array<Record<string, any>>;
    assert.equal(runs.map((r) => [r.name, r.rps]), [['without-rps', false], ['with-rps', true]]);
    for (const r of runs) {
      assert.match(r.hostIf, /^tsr[0-9a-f]{8}$/);
      assert.ok(r.throughputGbps > 0, `${r.name}: ${r.throughputGbps} Gbit/s`);
      assert.ok(Number.isInteger(r.retransmits) && r.retransmits >= 0);
      for (const k of ['TcpRetransSegs', 'TcpExtTCPSACKReorder', 'TcpExtTCPTSReorder', 'TcpExtTCPFastRetrans', 'TcpExtTCPLostRetransmit']) {
        assert.ok(Number.isInteger(r.client[k]) && r.client[k] >= 0, `${r.name}: client ${k} = ${r.client[k]}`);
      }
      assert.ok(Number.isInteger(r.server.TcpExtTCPOFOQueue) && r.server.TcpExtTCPOFOQueue >= 0);
    }
    assert.is(runs[0]!.rpsCpus.replace(/^[0,]+/, ''), '', 'no RPS on the first run');
    assert.is.not(runs[1]!.rpsCpus.replace(/^[0,]+/, ''), '', 'RPS set on the second run');
    assert.type(json.reproduced, 'boolean');
    if (!json.reproduced) console.log(`NOTE reorder did not reproduce this time: ${json.explanations[0]}`);
    assert.match(svg, /^<svg/);
    assert.match(svg, /segments in 2 s/);
    assert.equal(leftovers(), []);
  });

  test('demo netlat interrupted with SIGINT: exits 130 and removes its containers, tools and temp dir', async () => {
    const demo = demos.start(['netlat', '--json']);
    // Wait until a container of this run exists in its private --root.
    let containerPid: number | undefined;
    const running = await waitFor(() => {
      for (const lab of labDirs().filter((d) => !before.labs.has(d))) {
        for (const id of listing(join(tmpdir(), lab, 'state')).filter((i) => i.includes(`-${demo.pid}-`))) {
          try {
            containerPid = JSON.parse(readFileSync(join(tmpdir(), lab, 'state', id, 'state.json'), 'utf8')).pid;
            if (containerPid) return true;
          } catch {
            // not written yet
          }
        }
      }
      return false;
    }, 30_000);
    assert.ok(running, 'a container started');
    await sleepMs(300);
    process.kill(demo.pid, 'SIGINT');
    const r = await demo.done;
    assert.is(r.exitCode, 130, r.stderr);
    // The host's init reaps it: a zombie for a moment at most.
    assert.ok(await waitFor(() => !existsSync(`/proc/${containerPid}`), 5000), `container process ${containerPid} is gone`);
    // The tools were SIGKILLed as the demo exited; give the kernel a moment to finish them.
    await waitFor(() => leftovers().length === 0, 5000);
    assert.equal(leftovers(), []);
  });
}

test('netlat rounds: medians (an even count averages the middle two), rotated order, ratios from the medians', async () => {
  const { median, roundOrder, summarizeRounds } = await import('../src/demos/netlat.ts');
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  const names = ['host', 'veth', 'veth-bridge', 'macvlan'];
  assert.equal([0, 1, 2, 3, 4].map((r) => roundOrder(names, r)[0]), ['host', 'veth', 'veth-bridge', 'macvlan', 'host']);
  assert.equal(roundOrder(names, 2), ['veth-bridge', 'macvlan', 'host', 'veth']);
  const run = (tps: number, p50: number, p99: number, max: number) => ({ transactionsPerSec: tps, avgUsec: p50 + 0.05, p50Usec: p50, p99Usec: p99, maxUsec: max, observations: 10, attempts: 1 });
  const s = summarizeRounds([run(200_000, 2.3, 2.6, 40), run(180_000, 2.5, 3.1, 90), run(210_000, 2.2, 2.5, 30)]);
  assert.equal(
    [s.transactionsPerSec, s.p50Usec, s.p99Usec, s.avgUsec, s.maxUsec, s.observations, s.attempts, s.rounds, s.minTransactionsPerSec, s.maxTransactionsPerSec],
    [200_000, 2.3, 2.6, 2.35, 90, 30, 3, 3, 180_000, 210_000],
  );
});

test.run();
