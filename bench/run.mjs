// npm run bench [-- --quick] [-- --out DIR]: tsrun against runc and crun, and
// against the floor of the Node it runs on. Prints a table with every target's
// verdict, writes DIR/latest.json and DIR/latest.svg (DIR: bench/results).
// bench/README.md says what each part measures and how to read it.
//
// crun 1.8 refuses a hybrid cgroup host, so on one the runtime parts run in a
// child of this script re-executed once under `unshare -m` with
// /sys/fs/cgroup/unified lazily unmounted: all three runtimes then see the
// same cgroup view and no call pays for a wrapper. The parent keeps the host
// view for the final leak check (which then covers cgroup2 too), the init
// footprint and the network demo.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureContainerd } from './containerd.mjs';
import { measureInitFootprint } from './init-footprint.mjs';
import { leftovers, removeStrayCgroupDirs } from './lib.mjs';
import { runNetlat } from './netlat.mjs';
import { Bench, lifecycle, perVerb, runningInits, seccompCreate, sequentialRuns, throughput } from './parts.mjs';
import { charts, evaluateTargets, formatReport } from './report.mjs';
import { makeFixtures, PROJECT, removeFixtures } from './setup.mjs';

const SCRIPT = fileURLToPath(import.meta.url);
const UNIFIED = '/sys/fs/cgroup/unified';
const SIZES = {
  full: { verbSamples: 15, lifecycleSamples: 15, concurrent: 50, concurrentRounds: 3, sequential: 100 },
  quick: { verbSamples: 3, lifecycleSamples: 3, concurrent: 5, concurrentRounds: 1, sequential: 5 },
};

function options(argv) {
  const o = { quick: process.env.TSRUN_BENCH_QUICK === '1', out: process.env.TSRUN_BENCH_OUT || join(PROJECT, 'bench/results') };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--quick') o.quick = true;
    else if (argv[i] === '--out') o.out = argv[++i];
    else if (argv[i].startsWith('--out=')) o.out = argv[i].slice(6);
    else if (argv[i] === '--help' || argv[i] === '-h') {
      console.log('usage: npm run bench [-- --quick] [-- --out DIR]   (env: TSRUN_BENCH_QUICK=1, TSRUN_BENCH_OUT=DIR)');
      process.exit(0);
    } else throw new Error(`bench: unknown option ${argv[i]}`);
  }
  return o;
}

const unifiedMounted = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === UNIFIED);

/** Parts 1-3, in whatever cgroup view this process has. */
async function measureRuntimes(size, idPrefix) {
  const fx = makeFixtures(idPrefix);
  const b = new Bench(fx, idPrefix);
  try {
    if (!fx.runtimes.some((rt) => rt.name === 'tsrun')) throw new Error(`bench: tsrun cannot run a container here: ${fx.skipped.tsrun}`);
    const result = {
      meta: { tmpDir: fx.dir, runtimes: fx.runtimes.map((rt) => rt.name), skipped: fx.skipped, versions: fx.versions, bundleSource: fx.bundleSource },
      perVerb: perVerb(b, size.verbSamples),
      lifecycle: lifecycle(b, size.lifecycleSamples),
      seccomp: seccompCreate(b, size.verbSamples),
      throughput: {
        concurrent: await throughput(b, size.concurrent, size.concurrentRounds),
        sequential: sequentialRuns(b, size.sequential),
      },
    };
    result.failures = b.failures;
    result.leaks = {
      view: Object.fromEntries(fx.runtimes.map((rt) => [rt.name, leftovers({ roots: [rt.root], idPrefix: `${idPrefix}-${rt.name}-`, tmpDir: rt.root })])),
      runningInits: runningInits(b),
    };
    return result;
  } finally {
    removeFixtures(fx);
    removeStrayCgroupDirs(idPrefix);
  }
}

async function inner() {
  const { size, idPrefix, resultFile } = JSON.parse(process.env.TSRUN_BENCH_INNER);
  writeFileSync(resultFile, JSON.stringify(await measureRuntimes(size, idPrefix)));
}

/** Runs parts 1-3 in a child under a private mount namespace without the cgroup2 mount. */
function measureInPrivateView(size, idPrefix) {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-bench-out-'));
  const resultFile = join(dir, 'inner.json');
  try {
    const script = `mount --make-rprivate / && umount -l ${UNIFIED} && exec "$0" "$@"`;
    const r = spawnSync('unshare', ['-m', 'sh', '-c', script, process.execPath, SCRIPT], {
      stdio: 'inherit',
      env: { ...process.env, TSRUN_BENCH_INNER: JSON.stringify({ size, idPrefix, resultFile }) },
    });
    if (r.status !== 0 || !existsSync(resultFile)) throw new Error(`bench: the measuring child failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`);
    return JSON.parse(readFileSync(resultFile, 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const opts = options(process.argv.slice(2));
  if (process.getuid() !== 0) throw new Error('bench: run as root (containers, namespaces and cgroups)');
  if (spawnSync(join(PROJECT, 'bin/tsrun'), ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('bench: bin/tsrun --version fails: build first (node scripts/build.mjs)');
  }
  const size = SIZES[opts.quick ? 'quick' : 'full'];
  const idPrefix = `tsb${process.pid}`;
  const started = Date.now();
  const privateView = unifiedMounted();
  const r = privateView ? measureInPrivateView(size, idPrefix) : await measureRuntimes(size, idPrefix);
  r.meta = {
    date: new Date().toISOString(), quick: opts.quick, idPrefix, sizes: size, kernel: release(), cpus: cpus().length,
    cgroupView: privateView ? `runtimes ran in a private mount namespace without ${UNIFIED} (cgroup v1 only)` : 'runtimes ran in the host cgroup view',
    ...r.meta,
  };
  process.stderr.write('bench: init footprint\n');
  try {
    r.initFootprint = await measureInitFootprint();
  } catch (e) {
    r.initFootprint = { skipped: e.message };
  }
  process.stderr.write('bench: network (tsrun demo netlat)\n');
  r.network = runNetlat(opts.quick);
  process.stderr.write('bench: containerd (tsrun shim, runc shim + runc, runc shim + tsrun)\n');
  try {
    r.containerd = await measureContainerd(opts.quick);
  } catch (e) {
    r.containerd = { skipped: e.message };
  }
  r.leaks.hostView = leftovers({ idPrefix });
  removeStrayCgroupDirs(idPrefix);
  r.meta.seconds = Math.round((Date.now() - started) / 1000);
  r.targets = evaluateTargets(r);

  console.log(formatReport(r));
  mkdirSync(opts.out, { recursive: true });
  writeFileSync(join(opts.out, 'latest.json'), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(join(opts.out, 'latest.svg'), charts(r));
  console.log(`\n${r.meta.seconds} s; wrote ${join(opts.out, 'latest.json')} and latest.svg`);
}

try {
  if (process.env.TSRUN_BENCH_INNER) await inner();
  else await main();
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
}
