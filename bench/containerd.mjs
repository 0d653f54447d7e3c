// Part 6: containerd. A private containerd (test/lib/containerd.ts) runs the
// busybox image three ways: tsrun's own shim (io.containerd.tsrun.v2), the
// runc shim with runc, and the runc shim with bin/tsrun as its BinaryName.
// Latency: `ctr run --rm IMAGE ID /bin/true`, interleaved, median; ctr's own
// start-up and containerd's work are in every sample alike. Throughput: N of
// those at once, containers per second until the last returned. tsrun's shim
// serves all of them from the namespace's shim (src/shim/main.ts, "Groups"),
// started by the warm-up run. Memory: VmRSS
// of the shim serving 1 and 10 `sleep` containers (one group: the CRI
// sandbox-id annotation, which both shims group by); for tsrun, also the
// tsrun-nsexec helpers that stay as each process's parent.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep, summary } from './lib.mjs';
import { PROJECT } from './setup.mjs';

const TSRUN = join(PROJECT, 'bin/tsrun');
export const CONTAINERD_CONFIGS = {
  'tsrun shim': ['--runtime', 'io.containerd.tsrun.v2'],
  'runc shim + runc': ['--runtime', 'io.containerd.runc.v2'],
  'runc shim + tsrun': ['--runtime', 'io.containerd.runc.v2', '--runc-binary', TSRUN],
};
const SIZES = { full: { samples: 15, concurrent: 50, rounds: 2, groups: [1, 10] }, quick: { samples: 3, concurrent: 5, rounds: 1, groups: [1, 3] } };

const vmRssKb = (pid) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
};
const childrenOf = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const comm = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
};

function run(argv) {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve(code === 0 ? undefined : `exit ${code}: ${err.trim().split('\n').pop()}`));
  });
}

export async function measureContainerd(quick) {
  const { ensureContainerd, startContainerd } = await import('../test/lib/containerd.ts');
  const { buildBusyboxImage } = await import('../test/lib/oci-image.ts');
  const why = ensureContainerd();
  if (why) return { skipped: why };
  // containerd finds containerd-shim-tsrun-v2 on its PATH.
  process.env.PATH = `${join(PROJECT, 'bin')}:${process.env.PATH}`;
  const size = SIZES[quick ? 'quick' : 'full'];
  const work = mkdtempSync(join(tmpdir(), 'tsrun-bench-image-'));
  const image = buildBusyboxImage(work, `tsrun-bench-${process.pid}`);
  const cd = await startContainerd(`tsrun-bench-${process.pid}-cd`);
  const names = Object.keys(CONTAINERD_CONFIGS);
  const failures = [];
  let n = 0;
  let result;
  const id = (name) => `cb${process.pid}-${name.replace(/[^a-z]+/g, '')}-${n++}`;
  const timedRun = (name) => {
    const argv = cd.ctrArgv(['run', '--rm', ...CONTAINERD_CONFIGS[name], image.name, id(name), '/bin/true']);
    const t0 = process.hrtime.bigint();
    const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) failures.push(`${name}: ctr run: exit ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
    return ms;
  };
  try {
    const imp = await cd.ctr(['images', 'import', image.archive]);
    if (imp.exitCode !== 0) return { skipped: `ctr images import: ${imp.stderr}` };
    process.stderr.write('bench: containerd latency\n');
    for (const name of names) timedRun(name); // warm-up
    const latency = Object.fromEntries(names.map((nm) => [nm, []]));
    for (let i = 0; i < size.samples; i++) for (const name of names) latency[name].push(timedRun(name));

    process.stderr.write(`bench: containerd, ${size.concurrent} at once\n`);
    const rates = Object.fromEntries(names.map((nm) => [nm, []]));
    for (let r = 0; r < size.rounds; r++) {
      for (const name of names) {
        const t0 = process.hrtime.bigint();
        const errs = await Promise.all(Array.from({ length: size.concurrent }, () => run(cd.ctrArgv(['run', '--rm', ...CONTAINERD_CONFIGS[name], image.name, id(name), '/bin/true']))));
        const s = Number(process.hrtime.bigint() - t0) / 1e9;
        for (const e of errs.filter(Boolean)) failures.push(`${name}: concurrent ctr run: ${e}`);
        rates[name].push(size.concurrent / s);
      }
    }

    process.stderr.write('bench: containerd shim memory\n');
    const memory = {};
    for (const name of ['tsrun shim', 'runc shim + runc']) {
      memory[name] = {};
      for (const count of size.groups) {
        // tsrun's namespace shim may be idling from the parts before: count the group's shim only.
        const before = new Set(cd.shims());
        const groupShims = () => cd.shims().filter((p) => !before.has(p));
        const ids = Array.from({ length: count }, () => id(name));
        const group = ['--annotation', `io.kubernetes.cri.sandbox-id=${ids[0]}`];
        for (const cid of ids) {
          const e = await run(cd.ctrArgv(['run', '-d', ...CONTAINERD_CONFIGS[name], ...group, image.name, cid, 'sleep', '300']));
          if (e) failures.push(`${name}: ctr run -d: ${e}`);
        }
        await sleep(500); // let the shim settle after the last start (RSS is read once)
        const shims = groupShims();
        const helpers = shims.flatMap(childrenOf).filter((p) => comm(p) === 'tsrun-nsexec');
        memory[name][count] = {
          shims: shims.length,
          shimRssKb: shims.reduce((a, p) => a + vmRssKb(p), 0),
          helpers: helpers.length,
          helperRssKb: helpers.reduce((a, p) => a + vmRssKb(p), 0),
        };
        for (const cid of ids) {
          await run(cd.ctrArgv(['task', 'kill', '-s', 'KILL', cid]));
          await run(cd.ctrArgv(['task', 'rm', '-f', cid]));
          await run(cd.ctrArgv(['containers', 'rm', cid]));
        }
        for (let i = 0; i < 200 && groupShims().length; i++) await sleep(50);
      }
    }
    const latencySummary = Object.fromEntries(names.map((nm) => [nm, summary(latency[nm])]));
    return result = {
      samples: size.samples,
      concurrent: size.concurrent,
      rounds: size.rounds,
      latency: latencySummary,
      perSecond: Object.fromEntries(names.map((nm) => [nm, summary(rates[nm])])),
      memory,
      failures,
      versions: { containerd: spawnSync('containerd', ['--version'], { encoding: 'utf8' }).stdout.trim() },
    };
  } finally {
    const ls = await cd.ctr(['containers', 'ls', '-q']);
    for (const cid of ls.stdout.split('\n').filter(Boolean)) {
      await cd.ctr(['task', 'rm', '-f', cid]);
      await cd.ctr(['containers', 'rm', cid]);
    }
    const forced = await cd.stop();
    if (result) result.leftovers = forced; // shims, cgroups that needed force: none expected
    rmSync(work, { recursive: true, force: true });
  }
}

/** Part 6's targets: tsrun's shim at or below runc's shim with runc in latency, at or above it in throughput. */
export function containerdTargets(c, target) {
  const tsrun = 'tsrun shim';
  const runc = 'runc shim + runc';
  const note = c?.skipped ? { note: c.skipped } : {};
  return [
    target('containerd: ctr run --rm latency, tsrun shim / runc shim + runc', c?.latency?.[tsrun]?.median / c?.latency?.[runc]?.median, '<=', 1, '×', note),
    target(`containerd: ${c?.concurrent} at once, tsrun shim rate / runc shim + runc rate`, c?.perSecond?.[tsrun]?.median / c?.perSecond?.[runc]?.median, '>=', 1, '×', note),
    target('containerd: tsrun shim failures', c?.skipped ? NaN : (c?.failures ?? []).filter((x) => x.startsWith(tsrun)).length, '<=', 0, 'failures', note),
  ];
}

/** The lines part 6 adds to the report. */
export function containerdReport(c, f) {
  if (!c || c.skipped) return [`containerd: skipped: ${c?.skipped ?? 'not run'}`];
  const names = Object.keys(c.latency);
  const out = [`containerd (${c.versions.containerd}): ctr run --rm of /bin/true, median ms of ${c.samples} interleaved samples [p25-p75]; ${c.concurrent} at once (median of ${c.rounds} rounds)`];
  const w = Math.max(...names.map((n) => n.length));
  for (const nm of names) {
    const l = c.latency[nm];
    out.push(`  ${nm.padEnd(w)}  ${f(l.median)} ms [${f(l.p25)}-${f(l.p75)}]   ${f(c.perSecond[nm].median)} containers/s`);
  }
  for (const [nm, byCount] of Object.entries(c.memory)) {
    out.push(`  ${nm.padEnd(w)}  shim VmRSS: ${Object.entries(byCount).map(([k, m]) => `${k} container${k === '1' ? '' : 's'} ${m.shimRssKb} kB (${m.shims} shim${m.shims === 1 ? '' : 's'}${m.helpers ? `, + ${m.helpers} helpers ${m.helperRssKb} kB` : ''})`).join('; ')}`);
  }
  if (c.leftovers?.length) out.push(`  leftovers: ${c.leftovers.join('; ')}`);
  if (c.failures.length) out.push(`  failures (${c.failures.length}): ${c.failures.slice(0, 5).join(' | ')}`);
  return out;
}

