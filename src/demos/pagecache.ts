// demo pagecache: the page cache counts in a container's memory. A container
// with a 64 MiB limit holds 16 MiB of anonymous memory (a dd buffer blocked
// on a FIFO), then reads a 128 MiB file, twice its limit, and then reads a
// 16 MiB file twice. The files are sparse files in the exchange dir (ext4 on
// the host): reading a hole still fills page-cache pages, charged to the
// reader's memory cgroup, without any disk I/O. After each step the demo
// reads the cgroup's memory.stat, usage and counters.
//
// What it shows: reading pushes usage to the limit and it stays there, yet no
// OOM: the kernel reclaims the cgroup's own page cache. The working set the
// kubelet uses for evictions (usage minus inactive file) stays small, except
// for file pages read twice, which become active.
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../runtime/errors.ts';
import { checkControllers, ContainerCgroup, MiB, mib, round, unavailableReport, type MemorySample } from './cgroup-lab.ts';
import { alive, sleep, waitUntil, type Demo, type Lab } from './lab.ts';
import { formatNumber, type DemoReport } from './report.ts';

const LIMIT = 64 * MiB;
const ANON = 16 * MiB;
const BIG = 2 * LIMIT;
const SMALL = 16 * MiB;

export interface PagecacheStep extends MemorySample {
  step: string;
  /** What the container ran for this step. */
  command: string;
}

/** The steps after the anonymous memory is in place: what is read, and how. */
const STEPS = [
  { step: 'read a file twice the limit', command: 'dd if=/tmp/big of=/dev/null bs=64k' },
  { step: 'read a small file twice', command: 'dd if=/tmp/small of=/dev/null bs=64k; dd if=/tmp/small of=/dev/null bs=64k' },
  { step: 'copy another small file once with cat', command: 'cat /tmp/small2 > /dev/null' },
];

const SCRIPT = [
  'mkfifo /tmp/anon.fifo',
  'sleep 1000 < /tmp/anon.fifo &',
  `dd if=/dev/zero of=/tmp/anon.fifo bs=${ANON} count=1 2>/dev/null &`,
  ...STEPS.flatMap((s, i) => [
    `while [ ! -e /tmp/read-${i + 1} ]; do sleep 0.02; done`,
    `{ ${s.command}; } 2>/dev/null; echo $? > /tmp/done-${i + 1}`,
  ]),
  'exec sleep 1000',
].join('\n');

/** A sparse file of `bytes`: holes read as zeros and still fill the page cache. */
function sparseFile(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}

async function run(lab: Lab): Promise<DemoReport> {
  const check = checkControllers(['memory']);
  if (check.missing.length) return unavailableReport('pagecache', 'Page cache in container memory', check.version, check.missing);
  lab.step(`starting a container limited to ${mib(LIMIT)} holding ${mib(ANON)}`);
  const bundle = lab.bundle('pagecache', (c) => {
    c.process!.args = ['sh', '-c', SCRIPT];
    c.linux!.resources = { ...c.linux!.resources, memory: { limit: LIMIT } };
  });
  sparseFile(join(bundle.exchange, 'big'), BIG);
  sparseFile(join(bundle.exchange, 'small'), SMALL);
  sparseFile(join(bundle.exchange, 'small2'), SMALL);
  const c = lab.runForeground('pagecache', bundle);
  const pid = await c.pid;
  const cg = ContainerCgroup.of(c.id);
  if (!(await waitUntil(() => cg.memory().rss >= ANON, 10_000, 20))) {
    throw new RuntimeError('ERR_DEMO', `the container did not fill its ${mib(ANON)}: ${c.output().trim()}`);
  }
  const steps: PagecacheStep[] = [{ step: 'anonymous memory only', command: `dd bs=${ANON} into a FIFO`, ...cg.memory() }];
  let peak = 0;
  for (const [i, { step: what, command }] of STEPS.entries()) {
    const n = i + 1;
    const label = `${what}: ${command}`;
    lab.step(label);
    writeFileSync(join(bundle.exchange, 'read.tmp'), '');
    renameSync(join(bundle.exchange, 'read.tmp'), join(bundle.exchange, `read-${n}`));
    const done = join(bundle.exchange, `done-${n}`);
    const finished = await waitUntil(() => {
      peak = Math.max(peak, cg.memory().usage);
      return existsSync(done) && readFileSync(done, 'utf8').endsWith('\n');
    }, 30_000, 5);
    if (!finished) throw new RuntimeError('ERR_DEMO', `${label} did not finish: ${c.output().trim()}`);
    if (readFileSync(done, 'utf8').trim() !== '0') throw new RuntimeError('ERR_DEMO', `${label}: cat failed: ${c.output().trim()}`);
    await sleep(100);
    steps.push({ step: what, command, ...cg.memory() });
  }
  const stillRunning = alive(pid);
  await lab.tsrun(['kill', c.id, 'KILL']);
  await c.status;

  const [, read, reread, cat] = steps as [PagecacheStep, PagecacheStep, PagecacheStep, PagecacheStep];
  const files = cg.memoryFiles();
  const m = (n: number): number => round(n / MiB, 1);
  return {
    demo: 'pagecache',
    title: `Page cache in container memory: a ${mib(LIMIT)} limit, ${mib(ANON)} anonymous, then a ${mib(BIG)} file read (cgroup v${check.version})`,
    tables: [{
      headers: ['after', 'usage MiB', 'cache', 'rss (anon)', 'active file', 'inactive file', 'working set', 'limit hits', 'OOM kills'],
      rows: steps.map((s) => [s.step, m(s.usage), m(s.cache), m(s.rss), m(s.activeFile), m(s.inactiveFile), m(s.workingSet), s.hitLimit, s.oomKills]),
    }],
    explanations: [
      `Every page-cache page is charged to the memory cgroup of the task that brought it in (mem_cgroup_charge() when filemap_add_folio() inserts it), so reading ${mib(BIG)} filled the container's ${mib(LIMIT)}: usage went to ${formatNumber(m(read.usage))} MiB (peak ${formatNumber(m(peak))} MiB) and stays there after dd has exited (${files.usage}).`,
      `No OOM (${read.oomKills} kills): when a charge would pass the limit, try_charge_memcg() first reclaims from the cgroup's own LRU lists (try_to_free_mem_cgroup_pages()), and clean file pages are the easiest to drop. ${read.hitLimit} charges hit the limit and were satisfied by reclaim (${files.failcnt}).`,
      `memory.stat splits usage into cache ${formatNumber(m(read.cache))} MiB and rss ${formatNumber(m(read.rss))} MiB (${files.stat}); a full usage says nothing about pressure when most of it is cache.`,
      `The working set is usage minus inactive file pages (total_inactive_file on v1, inactive_file on v2): ${formatNumber(m(read.workingSet))} MiB after the big read. cAdvisor reports it as container_memory_working_set_bytes and the kubelet compares it with the limit and with its eviction thresholds, because inactive file pages are the first the kernel drops.`,
      `The big file was read with read(2) (dd bs=64k): folio_mark_accessed() marks each page once, so they ${read.inactiveFile > read.activeFile ? 'stayed' : 'should have stayed (here most did not)'} on the inactive list. Pages read a second time are promoted to the active list: after reading ${mib(SMALL)} twice with dd, active file went from ${formatNumber(m(read.activeFile))} to ${formatNumber(m(reread.activeFile))} MiB and the working set from ${formatNumber(m(read.workingSet))} to ${formatNumber(m(reread.workingSet))} MiB, though those pages are just as reclaimable. That is how a container that only reads files can look close to eviction.`,
      `How a file is read matters too: busybox cat copies with sendfile(), and the ${mib(SMALL)} it copied once ${cat.activeFile - reread.activeFile > SMALL / 2 ? `went straight to the active list (active file +${formatNumber(m(cat.activeFile - reread.activeFile))} MiB): sendfile() reads through the splice path (filemap_splice_read()), not filemap_read(), and on this kernel the two mark the page-cache folios accessed differently` : `changed active file by ${formatNumber(m(cat.activeFile - reread.activeFile))} MiB`}.`,
      `The files are sparse: reading a hole allocates zeroed page-cache pages without disk I/O, so the demo never writes ${mib(BIG)} to the disk.`,
    ],
    chart: {
      title: `Memory of a container limited to ${mib(LIMIT)}, MiB`,
      yLabel: 'MiB',
      bars: steps.flatMap((s, i) => {
        const when = ['anon only', 'after big read', 'after re-read', 'after cat'][i];
        return [{ label: `usage (${when})`, value: m(s.usage) }, { label: `working set (${when})`, value: m(s.workingSet) }];
      }),
    },
    data: { cgroupVersion: check.version, limit: LIMIT, anonymous: ANON, fileBytes: BIG, smallFileBytes: SMALL, peakUsage: peak, steps, containerSurvived: stillRunning, files },
  };
}

const demo: Demo = {
  name: 'pagecache',
  summary: 'reading a file twice the limit fills memory with cache, without an OOM; usage vs working set',
  takes: 'about 3 s',
  run,
};
export default demo;
