// demo dirty: the latency of small buffered writes in a container, with a
// small and a large memory limit. Each container appends 1 MiB batches of
// 4 KiB writes (dd bs=4k) to a file on an ext4 loop device and times every
// batch inside the container. The global dirty limits (vm.dirty_ratio,
// vm.dirty_background_ratio, as pages in /proc/vmstat nr_dirty_threshold and
// nr_dirty_background_threshold) are only read, never changed: on this host
// they are gigabytes, so only the container's memory limit decides when a
// write has to wait. Between the batches the host samples the cgroup's dirty
// and writeback pages (memory.stat) to show why.
import { join } from 'node:path';
import { RuntimeError } from '../runtime/errors.ts';
import { cgroupDirOf, type CgroupDir, DiskLab, keyValues, median, ms, NOW_FN, readText, requireController, requireHostTools } from './disk-lab.ts';
import type { Demo, Lab } from './lab.ts';
import type { DemoReport } from './report.ts';

const MB = 1 << 20;
const VOLUME = '/var';

interface CaseResult {
  limitBytes: number;
  batches: number;
  /** Per 1 MiB batch of 256 x 4 KiB writes, in microseconds. */
  medianUs: number;
  p90Us: number;
  worstUs: number;
  worstOverMedian: number;
  /** The largest dirty and writeback page counts seen in the cgroup (bytes). */
  maxDirtyBytes: number;
  maxWritebackBytes: number;
  /** v1 memory.failcnt / v2 memory.events max: how often the cgroup hit its limit. */
  limitHits: number;
  /** /proc/vmstat nr_vmscan_immediate_reclaim during the run: dirty or
   *  writeback pages reclaim met and left for the flusher (machine-wide). */
  immediateReclaimPages: number;
}

function memStat(cg: CgroupDir): { dirty: number; writeback: number } {
  const stat = readText(join(cg.dir, 'memory.stat')).split('\n');
  const get = (k: string): number => Number(stat.find((l) => l.startsWith(`${k} `))?.split(' ')[1] ?? 0);
  return cg.version === 2 ? { dirty: get('file_dirty'), writeback: get('file_writeback') } : { dirty: get('dirty'), writeback: get('writeback') };
}

function limitHits(cg: CgroupDir): number {
  if (cg.version === 2) return Number(/^max (\d+)/m.exec(readText(join(cg.dir, 'memory.events')))?.[1] ?? 0);
  return Number(readText(join(cg.dir, 'memory.failcnt')) || 0);
}

function vmstat(key: string): number {
  return Number(new RegExp(`^${key} (\\d+)`, 'm').exec(readText('/proc/vmstat'))?.[1] ?? NaN);
}

const percentile = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function measure(lab: Lab, volume: string, name: string, limitMiB: number, batches: number): Promise<CaseResult> {
  const bundle = lab.bundle(`dirty-${name}`, (c) => {
    c.mounts!.push({ destination: VOLUME, type: 'bind', source: volume, options: ['rbind', 'rw'] });
    c.linux!.resources = { ...c.linux!.resources, memory: { limit: limitMiB * MB } };
    c.process!.args = ['sh', '-c', [
      NOW_FN,
      `i=0; while [ $i -lt ${batches} ]; do`,
      `  t0=$(now); dd if=/dev/zero of=${VOLUME}/${name} bs=4k count=256 seek=$((i*256)) conv=notrunc 2>/dev/null || echo "failed=$i"; t1=$(now)`,
      '  echo "b$i=$((t1-t0))"; i=$((i+1))',
      'done',
    ].join('\n')];
  });
  lab.step(`${name}: ${batches} MiB in 4 KiB writes under a ${limitMiB} MiB memory limit`);
  const immediateBefore = vmstat('nr_vmscan_immediate_reclaim');
  const fg = lab.runForeground(`dirty-${name}`, bundle);
  const pid = await fg.pid;
  let done = false;
  void fg.status.then(() => (done = true));
  const cg = cgroupDirOf(pid, 'memory');
  let maxDirty = 0;
  let maxWriteback = 0;
  let hits = 0;
  while (!done) {
    const s = memStat(cg);
    maxDirty = Math.max(maxDirty, s.dirty);
    maxWriteback = Math.max(maxWriteback, s.writeback);
    hits = Math.max(hits, limitHits(cg));
    await new Promise((r) => setTimeout(r, 20));
  }
  const status = await fg.status;
  const immediate = vmstat('nr_vmscan_immediate_reclaim') - immediateBefore;
  const kv = keyValues(fg.output());
  const times = Array.from({ length: batches }, (_, i) => Number(kv[`b${i}`]));
  if (status !== 0 || kv.failed !== undefined || times.some((t) => !Number.isFinite(t))) {
    throw new RuntimeError('ERR_DEMO', `the ${name} container failed (exit ${status}): ${fg.output().trim().split('\n').slice(-3).join('; ')}`);
  }
  const med = median(times);
  const worst = Math.max(...times);
  return {
    limitBytes: limitMiB * MB,
    batches,
    medianUs: med,
    p90Us: percentile(times, 0.9),
    worstUs: worst,
    worstOverMedian: Number((worst / Math.max(1, med)).toFixed(1)),
    maxDirtyBytes: maxDirty,
    maxWritebackBytes: maxWriteback,
    limitHits: hits,
    immediateReclaimPages: Number.isFinite(immediate) ? immediate : 0,
  };
}

async function run(lab: Lab): Promise<DemoReport> {
  requireHostTools(['losetup', 'mkfs.ext4', 'mount', 'umount', 'truncate']);
  const batches = lab.quick ? 64 : 160;
  const small = 16;
  const large = 1024;
  const page = 4096;
  const global = {
    dirtyRatio: Number(readText('/proc/sys/vm/dirty_ratio')),
    dirtyBackgroundRatio: Number(readText('/proc/sys/vm/dirty_background_ratio')),
    dirtyBytes: Number(readText('/proc/sys/vm/dirty_bytes')),
    dirtyBackgroundBytes: Number(readText('/proc/sys/vm/dirty_background_bytes')),
    dirtyThresholdBytes: vmstat('nr_dirty_threshold') * page,
    dirtyBackgroundThresholdBytes: vmstat('nr_dirty_background_threshold') * page,
  };
  requireController('memory', 'memory', 'dirty');
  const disk = DiskLab.open();
  try {
    lab.step('an ext4 image on a loop device');
    const vol = disk.loopFs('volume', 512, 'ext4', [], ['--direct-io=on']);
    const smallCase = await measure(lab, vol.mountpoint, 'small', small, batches);
    const largeCase = await measure(lab, vol.mountpoint, 'large', large, batches);
    const after = { dirtyRatio: Number(readText('/proc/sys/vm/dirty_ratio')), dirtyBackgroundRatio: Number(readText('/proc/sys/vm/dirty_background_ratio')) };
    const unchanged = after.dirtyRatio === global.dirtyRatio && after.dirtyBackgroundRatio === global.dirtyBackgroundRatio;
    const cgVersion = existsV2() ? 2 : 1;
    return report({ small: smallCase, large: largeCase, global, unchanged, cgVersion, quick: lab.quick });
  } finally {
    disk.close();
  }
}

const existsV2 = (): boolean => readText('/sys/fs/cgroup/cgroup.controllers') !== '' || readText('/proc/self/cgroup').split('\n').length === 1;

interface Result {
  small: CaseResult;
  large: CaseResult;
  global: { dirtyRatio: number; dirtyBackgroundRatio: number; dirtyBytes: number; dirtyBackgroundBytes: number; dirtyThresholdBytes: number; dirtyBackgroundThresholdBytes: number };
  unchanged: boolean;
  cgVersion: 1 | 2;
  quick: boolean;
}

function report(r: Result): DemoReport {
  const mib = (b: number): number => Number((b / MB).toFixed(1));
  const row = (label: string, c: CaseResult) => [label, mib(c.limitBytes), ms(c.medianUs), ms(c.p90Us), ms(c.worstUs), c.worstOverMedian, mib(c.maxDirtyBytes), mib(c.maxWritebackBytes), c.limitHits, c.immediateReclaimPages];
  const v1 = r.cgVersion === 1;
  const stalls = r.small.worstOverMedian > 1.5 * r.large.worstOverMedian;
  return {
    demo: 'dirty',
    title: `Small writes under a memory limit: ${r.small.batches} MiB as 4 KiB writes, timed per 1 MiB, with a ${mib(r.small.limitBytes)} MiB and a ${mib(r.large.limitBytes)} MiB limit (cgroup v${r.cgVersion})`,
    tables: [{
      headers: ['memory limit', 'MiB', 'median ms / MiB', 'p90 ms', 'worst ms', 'worst / median', 'max dirty MiB', 'max writeback MiB', v1 ? 'memory.failcnt' : 'memory.events max', 'reclaim met dirty pages'],
      rows: [row('small', r.small), row('large', r.large)],
    }, {
      headers: ['global dirty limit (not changed)', 'value'],
      rows: [
        ['vm.dirty_background_ratio', `${r.global.dirtyBackgroundRatio} % -> ${mib(r.global.dirtyBackgroundThresholdBytes)} MiB (nr_dirty_background_threshold)`],
        ['vm.dirty_ratio', `${r.global.dirtyRatio} % -> ${mib(r.global.dirtyThresholdBytes)} MiB (nr_dirty_threshold)`],
        ['host values after the demo', r.unchanged ? 'unchanged' : 'changed (by someone else: this demo never writes them)'],
      ],
    }],
    explanations: [
      `The global limits are percentages of the host's reclaimable memory: the flusher starts writing back above ${mib(r.global.dirtyBackgroundThresholdBytes)} MiB of dirty pages (dirty_background_ratio ${r.global.dirtyBackgroundRatio} %), and balance_dirty_pages makes writers wait above ${mib(r.global.dirtyThresholdBytes)} MiB (dirty_ratio ${r.global.dirtyRatio} %). A container's few MiB never get near them; the demo reads them and leaves them alone.`,
      `With the large limit (${mib(r.large.limitBytes)} MiB) the writes just fill the page cache: median ${ms(r.large.medianUs)} ms per MiB, worst ${ms(r.large.worstUs)} ms (${r.large.worstOverMedian} x).`,
      v1
        ? `With the small limit (${mib(r.small.limitBytes)} MiB) the cgroup's page cache hits the limit (memory.failcnt ${r.small.limitHits}) and every new page needs reclaim in the cgroup first (try_charge -> try_to_free_mem_cgroup_pages). On cgroup v1 there is no per-cgroup dirty limit, so nothing slowed the writer down before: reclaim finds dirty pages it cannot write itself, wakes the flusher and, being a legacy memcg (writeback_throttling_sane() is false), waits for pages under writeback (shrink_folio_list -> folio_wait_writeback). Median ${ms(r.small.medianUs)} ms, worst ${ms(r.small.worstUs)} ms (${r.small.worstOverMedian} x the median)${stalls ? ': the writes are fast on average and stall now and then.' : `: here the loop device (direct IO to the host's disk) writes back fast enough that these waits stay within the noise of the machine (the large limit's worst is ${r.large.worstOverMedian} x its median); on a slow or busy disk they are the stalls applications see.`}`
        : `With the small limit (${mib(r.small.limitBytes)} MiB) cgroup v2's writeback domain applies: balance_dirty_pages also computes a dirty limit for the memcg (mem_cgroup_wb_stats: dirty_ratio of what the cgroup may still use) and throttles the writer early and evenly, instead of stalls in reclaim. Median ${ms(r.small.medianUs)} ms, worst ${ms(r.small.worstUs)} ms (${r.small.worstOverMedian} x).`,
      `"reclaim met dirty pages" is the rise of nr_vmscan_immediate_reclaim in /proc/vmstat during each run (shrink_folio_list counts a dirty or writeback page it has to skip and leave for the flusher; machine-wide, so other work can add to it): ${r.small.immediateReclaimPages} pages with the small limit, ${r.large.immediateReclaimPages} with the large one.`,
      `The host sampled the cgroup's memory.stat every 20 ms: at most ${mib(r.small.maxDirtyBytes)} MiB dirty and ${mib(r.small.maxWritebackBytes)} MiB under writeback with the small limit, ${mib(r.large.maxDirtyBytes)} / ${mib(r.large.maxWritebackBytes)} MiB with the large one.`,
      'Each figure includes reading the clock and starting dd (a fork and exec): the median is mostly that; the worst case is what a latency-sensitive application notices.',
    ],
    chart: {
      title: `Worst vs median time per MiB of 4 KiB writes${r.quick ? ' (quick)' : ''}`,
      yLabel: 'milliseconds per MiB',
      bars: [
        { label: `${mib(r.small.limitBytes)} MiB limit, median`, value: ms(r.small.medianUs) },
        { label: `${mib(r.small.limitBytes)} MiB limit, worst`, value: ms(r.small.worstUs) },
        { label: `${mib(r.large.limitBytes)} MiB limit, median`, value: ms(r.large.medianUs) },
        { label: `${mib(r.large.limitBytes)} MiB limit, worst`, value: ms(r.large.worstUs) },
      ],
    },
    data: {
      cgroupVersion: r.cgVersion,
      writeSize: 4096,
      batchBytes: MB,
      global: { ...r.global, unchanged: r.unchanged },
      small: r.small,
      large: r.large,
      summary: {
        smallDirtyCappedByLimit: r.small.maxDirtyBytes <= r.small.limitBytes,
        largeDirtyAboveSmallLimit: r.large.maxDirtyBytes > r.small.limitBytes,
        smallHitItsLimit: r.small.limitHits > 0,
        stallsBeyondNoise: stalls,
      },
    },
  };
}

const demo: Demo = {
  name: 'dirty',
  summary: 'small-write latency (median vs worst) in a container with a small and a large memory limit, against the global dirty_ratio / dirty_background_ratio',
  takes: 'about 20 s (8 s with --quick)',
  run,
};
export default demo;
