// demo swap: swap per container. Three containers with a 32 MiB memory limit
// each fill a 64 MiB dd buffer (held, blocked on a FIFO):
//   swap allowed        memory+swap 128 MiB, swappiness 60
//   swappiness 0        memory+swap 128 MiB, memory.swappiness 0 (v1 only)
//   no swap allowed     memory+swap = memory = 32 MiB
// With swap on the host, the first pushes its excess out to swap and lives;
// the other two are OOM-killed: cgroup reclaim with swappiness 0 scans only
// file pages, and a memory+swap limit equal to the memory limit leaves no
// room in swap.
//
// This host may have no swap. With --use-swapfile the demo makes a 128 MiB
// swap file in its temp dir, enables it (swapon) for the run and disables and
// removes it at the end, also on failure and Ctrl-C. Without it and without
// swap, the demo says what it would show and exits 0.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../runtime/errors.ts';
import { cgroupMounts } from '../runtime/cgroups/detect.ts';
import { sleepMs } from '../runtime/cgroups/fsio.ts';
import { checkControllers, ContainerCgroup, MiB, mib, round, unavailableReport, type CgroupVersion, type MemorySample } from './cgroup-lab.ts';
import { alive, sleep, waitUntil, type Demo, type Lab } from './lab.ts';
import { type DemoReport } from './report.ts';

const LIMIT = 32 * MiB;
const ALLOC = 64 * MiB;
const SWAPFILE_SIZE = 128 * MiB;

interface SwapCaseSpec {
  name: 'swap allowed' | 'swappiness 0' | 'no swap allowed';
  /** OCI memory.swap: memory + swap, bytes. */
  memoryPlusSwap: number;
  swappiness: number | null;
}

export interface SwapCase extends SwapCaseSpec {
  /** Whether the 64 MiB holder was still alive at the end. */
  survived: boolean;
  memory: MemorySample;
  /** The kernel's file holding the limit: memory.memsw.limit_in_bytes or memory.swap.max. */
  swapLimitFile: string;
}

const CASES: SwapCaseSpec[] = [
  { name: 'swap allowed', memoryPlusSwap: 4 * LIMIT, swappiness: 60 },
  { name: 'swappiness 0', memoryPlusSwap: 4 * LIMIT, swappiness: 0 },
  { name: 'no swap allowed', memoryPlusSwap: LIMIT, swappiness: null },
];

function activeSwaps(): string[] {
  return readFileSync('/proc/swaps', 'utf8').trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]!).filter(Boolean);
}

/** A zero-filled file (swap files must have no holes), mkswap, swapon; swapoff and unlink registered on the lab. */
function enableSwapfile(lab: Lab): string {
  const file = join(lab.dir, 'swapfile');
  const fd = openSync(file, 'w', 0o600);
  try {
    const chunk = Buffer.alloc(MiB);
    for (let i = 0; i < SWAPFILE_SIZE / MiB; i++) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
  lab.onClose(() => {
    // A few tries: swapoff has to read back what is still swapped out, and can fail transiently (EINTR, ENOMEM).
    let last = '';
    for (let attempt = 0; attempt < 5 && activeSwaps().includes(file); attempt++) {
      if (attempt > 0) sleepMs(200 * attempt);
      try {
        execFileSync('swapoff', [file], { stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (err) {
        last = String((err as { stderr?: Buffer }).stderr ?? '').trim() || (err as Error).message;
      }
    }
    if (activeSwaps().includes(file)) throw new Error(`swapoff ${file}: ${last}; run swapoff ${file} by hand, then remove it`);
  });
  try {
    execFileSync('mkswap', [file], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('swapon', [file], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    throw new RuntimeError('ERR_DEMO', `cannot enable the swap file ${file}: ${stderr || (err as Error).message}`, {
      hint: 'swapon needs CAP_SYS_ADMIN and a filesystem that supports swap files (ext4, xfs; not tmpfs or overlayfs)',
    });
  }
  return file;
}

function wouldShow(version: CgroupVersion): DemoReport {
  const rows = CASES.filter((c) => version === 1 || c.swappiness !== 0).map((c) => [c.name, mib(LIMIT), mib(c.memoryPlusSwap), c.swappiness ?? 'default',
    c.name === 'swap allowed' ? `about ${mib(ALLOC - LIMIT)} swapped out, survives` : 'OOM-killed']);
  return {
    demo: 'swap',
    title: 'Swap per container: this host has no swap, so nothing was run',
    tables: [{ title: 'What the demo would run, and what the kernel would do:', headers: ['container', 'memory limit', 'memory+swap limit', 'swappiness', `holding ${mib(ALLOC)}`], rows }],
    explanations: [
      '/proc/swaps lists no swap area: with no swap a container can only use its memory limit, and memory+swap limits and swappiness change nothing.',
      `Run it again with --use-swapfile: the demo then makes a ${mib(SWAPFILE_SIZE)} swap file in its temp dir, enables it with swapon for the run, and swapoffs and removes it afterwards (also on failure or Ctrl-C).`,
      `Each container would fill ${mib(ALLOC)} under a ${mib(LIMIT)} limit: the kernel's cgroup reclaim can push anonymous pages to swap only while memory+swap (${version === 1 ? 'memory.memsw.limit_in_bytes' : 'memory.swap.max, which holds the swap part alone'}) leaves room${version === 1 ? ' and memory.swappiness is not 0' : ''}.`,
    ],
    chart: { title: 'Swap per container: not run (no swap)', yLabel: 'MiB', bars: CASES.map((c) => ({ label: c.name, value: 0, note: 'not run' })) },
    data: { ran: false, reason: 'no swap', cgroupVersion: version, limit: LIMIT, allocation: ALLOC, cases: CASES },
  };
}

async function runCase(lab: Lab, spec: SwapCaseSpec): Promise<SwapCase> {
  const slug = spec.name.replace(/\s+/g, '-');
  const bundle = lab.bundle(`swap-${slug}`, (c) => {
    c.process!.args = ['sh', '-c', [
      'mkfifo /tmp/hold.fifo',
      'sleep 1000 < /tmp/hold.fifo &',
      `(echo $$ > /tmp/hold.pid; exec dd if=/dev/zero of=/tmp/hold.fifo bs=${ALLOC} count=1 2>/dev/null; echo $? > /tmp/hold.status) &`,
      'exec sleep 1000',
    ].join('\n')];
    c.linux!.resources = {
      ...c.linux!.resources,
      memory: { limit: LIMIT, swap: spec.memoryPlusSwap, ...(spec.swappiness !== null ? { swappiness: spec.swappiness } : {}) },
    };
  });
  const run = lab.runForeground(`swap-${slug}`, bundle, { keep: true });
  await run.pid;
  const cg = ContainerCgroup.of(run.id);
  const status = join(bundle.exchange, 'hold.status');
  let memory = cg.memory();
  // Done when the holder has its 64 MiB (resident or swapped) or was killed.
  const settled = await waitUntil(() => {
    if (existsSync(cg.file('memory', 'memory.stat'))) memory = cg.memory();
    return existsSync(status) || memory.oomKills > 0 || memory.rss + (memory.swap ?? 0) >= ALLOC;
  }, 20_000, 20);
  if (!settled) throw new RuntimeError('ERR_DEMO', `${spec.name}: the holder neither filled ${mib(ALLOC)} nor was killed: ${run.output().trim()}`);
  await sleep(200);
  if (existsSync(cg.file('memory', 'memory.stat'))) memory = cg.memory();
  const pidFile = join(bundle.exchange, 'hold.pid');
  const survived = !existsSync(status) && memory.oomKills === 0 && existsSync(pidFile) && alive(await run.pid);
  await lab.tsrun(['kill', run.id, 'KILL']);
  await run.status;
  return { ...spec, survived, memory, swapLimitFile: cg.version === 1 ? 'memory.memsw.limit_in_bytes' : 'memory.swap.max' };
}

async function run(lab: Lab): Promise<DemoReport> {
  const check = checkControllers(['memory']);
  if (check.missing.length) return unavailableReport('swap', 'Swap per container', check.version, check.missing);
  let swapfile: string | null = null;
  if (activeSwaps().length === 0) {
    if (!lab.useSwapfile) return wouldShow(check.version);
    lab.step(`making and enabling a ${mib(SWAPFILE_SIZE)} swap file`);
    swapfile = enableSwapfile(lab);
  }
  const swaps = activeSwaps();
  const specs = CASES.filter((c) => check.version === 1 || c.swappiness !== 0);
  const memoryRoot = cgroupMounts().find((mt) => mt.controllers.includes('memory'))?.mountPoint;
  if (check.version === 1 && !existsSync(join(memoryRoot ?? '', 'memory.memsw.limit_in_bytes'))) {
    throw new RuntimeError('ERR_DEMO', 'memory.memsw.limit_in_bytes does not exist: swap accounting is off', { hint: 'boot with swapaccount=1' });
  }
  lab.step(`${specs.length} containers fill ${mib(ALLOC)} under a ${mib(LIMIT)} limit`);
  const cases = await Promise.all(specs.map((s) => runCase(lab, s)));
  const m = (n: number | null): number | string => (n === null ? 'n/a' : round(n / MiB, 1));
  const allowed = cases.find((c) => c.name === 'swap allowed')!;
  return {
    demo: 'swap',
    title: `Swap per container: ${cases.length} containers fill ${mib(ALLOC)} under a ${mib(LIMIT)} limit (cgroup v${check.version}, swap: ${swaps.join(', ')})`,
    tables: [{
      headers: ['container', 'memory+swap limit', 'swappiness', 'in memory MiB', 'in swap MiB', 'OOM kills', 'holder'],
      rows: cases.map((c) => [c.name, mib(c.memoryPlusSwap), c.swappiness ?? 'default', m(c.memory.usage), m(c.memory.swap), c.memory.oomKills, c.survived ? 'alive' : 'OOM-killed']),
    }],
    explanations: [
      `When a charge would pass the memory limit, the kernel reclaims from the cgroup's own LRU lists; with swap available, shrink_lruvec() can write anonymous pages out (swap_writepage) and the holder keeps all ${mib(ALLOC)}: ${m(allowed.memory.usage)} MiB in memory, ${m(allowed.memory.swap)} MiB in swap.`,
      ...(check.version === 1 ? [`memory.swappiness is per cgroup on v1: at 0, cgroup reclaim scans only file pages (get_scan_count() picks SCAN_FILE), so the anonymous buffer cannot go to swap and the OOM killer runs even though swap is free.`] : ['cgroup v2 has no per-cgroup swappiness (only the global vm.swappiness), so the swappiness 0 case is left out; memory.swap.max = 0 is how v2 forbids swap per cgroup.']),
      `The OCI memory.swap field is memory + swap (runc's meaning): v1 writes it to memory.memsw.limit_in_bytes, v2 writes the swap part alone (swap - limit) to memory.swap.max. Equal to the memory limit, it leaves no room in swap: OOM-killed like a host without swap.`,
      `Swap in use is ${check.version === 1 ? 'memory.memsw.usage_in_bytes minus memory.usage_in_bytes' : 'memory.swap.current'}; tsrun events --stats reports it as swap usage.`,
      swapfile
        ? `The swap file ${swapfile} (${mib(SWAPFILE_SIZE)}) was made for this run (zero-filled, mkswap, swapon) and is swapoff'd and removed when the demo ends.`
        : `The host's own swap was used (${swaps.join(', ')}).`,
    ],
    chart: {
      title: `${mib(ALLOC)} under a ${mib(LIMIT)} limit: where it went`,
      yLabel: 'MiB',
      bars: cases.flatMap((c) => [
        { label: `${c.name}: memory`, value: Number(m(c.memory.usage)) || 0, note: c.survived ? 'alive' : 'OOM-killed' },
        { label: `${c.name}: swap`, value: Number(m(c.memory.swap)) || 0 },
      ]),
    },
    data: { ran: true, cgroupVersion: check.version, swapfile: swapfile !== null, swaps, limit: LIMIT, allocation: ALLOC, cases },
  };
}

const demo: Demo = {
  name: 'swap',
  summary: 'memory+swap limits and per-cgroup swappiness (--use-swapfile makes a temporary swap file)',
  takes: 'about 3 s with --use-swapfile',
  run,
};
export default demo;
