// demo blkio: a container's disk bandwidth limit (linux.resources.blockIO
// throttle{Read,Write}BpsDevice) on a filesystem of its own: an ext4 image on
// a loop device, bind-mounted at /var. tsrun writes the limits to
// blkio.throttle.{read,write}_bps_device (v1) or io.max (v2); the kernel's
// blk-throttle (blk_throtl_bio, at submit_bio time) holds back every bio of
// the cgroup beyond the rate. Four writes/reads of the same size show who is
// throttled: direct IO is submitted by the container's own task, so it obeys
// the limit; a buffered write only dirties the page cache and the flusher
// (a kworker in the root cgroup on v1) writes it later, unthrottled; an
// fsync makes the container's task submit the writeback itself, throttled
// again. Between steps the host reads the cgroup's own byte counters.
import { join } from 'node:path';
import { RuntimeError } from '../runtime/errors.ts';
import { atMark, cgroupDirOf, type CgroupDir, DiskLab, keyValues, markFn, must, NOW_FN, readText, requireController, requireHostTools } from './disk-lab.ts';
import { EXCHANGE, type Demo, type Lab } from './lab.ts';
import type { DemoReport } from './report.ts';

const MB = 1 << 20;
const VOLUME = '/var';

interface Counters {
  readBytes: number;
  writeBytes: number;
}

/** The bytes this cgroup submitted to device MAJ:MIN, as blk-throttle counted them. */
function counters(cg: CgroupDir, dev: string): Counters {
  if (cg.version === 2) {
    const line = readText(join(cg.dir, 'io.stat')).split('\n').find((l) => l.startsWith(`${dev} `)) ?? '';
    const field = (k: string): number => Number(new RegExp(`\\b${k}=(\\d+)`).exec(line)?.[1] ?? 0);
    return { readBytes: field('rbytes'), writeBytes: field('wbytes') };
  }
  const lines = readText(join(cg.dir, 'blkio.throttle.io_service_bytes')).split('\n');
  const field = (op: string): number => Number(lines.find((l) => l.startsWith(`${dev} ${op} `))?.split(' ')[2] ?? 0);
  return { readBytes: field('Read'), writeBytes: field('Write') };
}

interface Step {
  name: 'direct-write' | 'direct-read' | 'buffered-write' | 'fsync-write';
  label: string;
  command: string;
  bytes: number;
  seconds: number;
  mibPerSec: number;
  /** Bytes blk-throttle counted for the container's cgroup during the step. */
  chargedBytes: number;
  throttled: boolean;
}

async function run(lab: Lab): Promise<DemoReport> {
  requireHostTools(['losetup', 'mkfs.ext4', 'mount', 'umount', 'sync', 'truncate']);
  const limitMiB = 8;
  const sizeMiB = lab.quick ? 8 : 24;
  requireController('io', 'blkio', 'blkio');
  const disk = DiskLab.open();
  try {
    lab.step('an ext4 image on a loop device');
    const vol = disk.loopFs('volume', 256, 'ext4');
    const dev = `${vol.major}:${vol.minor}`;
    const rate = limitMiB * MB;
    const cmds = {
      'direct-write': `dd if=/dev/zero of=${VOLUME}/direct bs=1M count=${sizeMiB} oflag=direct`,
      'direct-read': `dd if=${VOLUME}/direct of=/dev/null bs=1M iflag=direct`,
      'buffered-write': `dd if=/dev/zero of=${VOLUME}/buffered bs=1M count=${sizeMiB}`,
      'fsync-write': `dd if=/dev/zero of=${VOLUME}/fsynced bs=1M count=${sizeMiB} conv=fsync`,
    } as const;
    const names = Object.keys(cmds) as Array<keyof typeof cmds>;
    const bundle = lab.bundle('blkio', (c) => {
      c.mounts!.push({ destination: VOLUME, type: 'bind', source: vol.mountpoint, options: ['rbind', 'rw'] });
      c.linux!.resources = {
        ...c.linux!.resources,
        blockIO: {
          throttleReadBpsDevice: [{ major: vol.major, minor: vol.minor, rate }],
          throttleWriteBpsDevice: [{ major: vol.major, minor: vol.minor, rate }],
        },
      };
      c.process!.args = ['sh', '-c', [
        NOW_FN,
        markFn(EXCHANGE),
        'mark start',
        ...names.flatMap((n) => [`t0=$(now); ${cmds[n]} 2>/dev/null || echo "failed_${n}=$?"; t1=$(now); echo "${n}_us=$((t1-t0))"`, `mark ${n}`]),
      ].join('\n')];
    });
    lab.step(`a container limited to ${limitMiB} MiB/s on ${vol.device} (${dev})`);
    const fg = lab.runForeground('blkio', bundle);
    const pid = await fg.pid;
    let exited = false;
    void fg.status.then(() => (exited = true));
    const cg = cgroupDirOf(pid, 'blkio');
    const limitFiles: Record<string, string> = cg.version === 2
      ? { 'io.max': readText(join(cg.dir, 'io.max')) }
      : {
        'blkio.throttle.read_bps_device': readText(join(cg.dir, 'blkio.throttle.read_bps_device')),
        'blkio.throttle.write_bps_device': readText(join(cg.dir, 'blkio.throttle.write_bps_device')),
      };
    let last = await atMark(bundle.exchange, 'start', () => counters(cg, dev), 30_000, () => exited);
    const charged: Record<string, Counters> = {};
    let hostSync = { seconds: 0, chargedWriteBytes: 0 };
    for (const n of names) {
      lab.step(`${n}: ${cmds[n]}`);
      await atMark(bundle.exchange, n, () => {
        const now = counters(cg, dev);
        charged[n] = { readBytes: now.readBytes - last.readBytes, writeBytes: now.writeBytes - last.writeBytes };
        if (n === 'buffered-write') {
          // The container's dirty pages, written back by the host (root cgroup) before the fsync step.
          const t0 = process.hrtime.bigint();
          must('sync the volume', 'sync', ['-f', vol.mountpoint]);
          const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
          const after = counters(cg, dev);
          hostSync = { seconds: Number(seconds.toFixed(3)), chargedWriteBytes: after.writeBytes - now.writeBytes };
          last = after;
        } else {
          last = now;
        }
      }, 120_000, () => exited);
    }
    const status = await fg.status;
    const kv = keyValues(fg.output());
    if (status !== 0 || names.some((n) => kv[`failed_${n}`] !== undefined || kv[`${n}_us`] === undefined)) {
      throw new RuntimeError('ERR_DEMO', `the blkio container failed (exit ${status}): ${fg.output().trim()}`);
    }
    const steps: Step[] = names.map((n) => {
      const seconds = Number(kv[`${n}_us`]) / 1e6;
      const c = charged[n]!;
      const chargedBytes = n === 'direct-read' ? c.readBytes : c.writeBytes;
      const mibPerSec = Number((sizeMiB / seconds).toFixed(1));
      return {
        name: n,
        label: { 'direct-write': 'direct write (O_DIRECT)', 'direct-read': 'direct read (O_DIRECT)', 'buffered-write': 'buffered write', 'fsync-write': 'buffered write + fsync' }[n],
        command: cmds[n],
        bytes: sizeMiB * MB,
        seconds: Number(seconds.toFixed(3)),
        mibPerSec,
        chargedBytes,
        throttled: mibPerSec <= limitMiB * 1.5,
      };
    });
    return report({ steps, limitMiB, sizeMiB, dev, device: vol.device, cgroupVersion: cg.version, limitFiles, hostSync, quick: lab.quick });
  } finally {
    disk.close();
  }
}

interface Result {
  steps: Step[];
  limitMiB: number;
  sizeMiB: number;
  dev: string;
  device: string;
  cgroupVersion: 1 | 2;
  limitFiles: Record<string, string>;
  hostSync: { seconds: number; chargedWriteBytes: number };
  quick: boolean;
}

function report(r: Result): DemoReport {
  const step = (n: Step['name']): Step => r.steps.find((s) => s.name === n)!;
  const mib = (b: number): number => Number((b / MB).toFixed(1));
  const files = Object.entries(r.limitFiles).map(([f, v]) => `${f} = "${v.replace(/\n/g, '; ')}"`).join(', ');
  const v1 = r.cgroupVersion === 1;
  return {
    demo: 'blkio',
    title: `Disk throttling: ${r.sizeMiB} MiB written and read by a container limited to ${r.limitMiB} MiB/s on ${r.device} (${r.dev}), cgroup v${r.cgroupVersion}`,
    tables: [{
      headers: ['step', 'command in the container', 'seconds', 'MiB/s', 'charged to the cgroup, MiB', 'obeys the limit'],
      rows: r.steps.map((s) => [s.label, s.command, s.seconds, s.mibPerSec, mib(s.chargedBytes), s.throttled ? 'yes' : 'no']),
    }, {
      headers: ['after the buffered write', 'result'],
      rows: [
        ['host: sync -f on the volume', `${r.hostSync.seconds} s`],
        ['written back, charged to the container\'s cgroup', `${mib(r.hostSync.chargedWriteBytes)} MiB`],
      ],
    }],
    explanations: [
      `tsrun wrote linux.resources.blockIO to the container's cgroup: ${files} (bytes per second for device ${r.dev}).`,
      'blk-throttle checks each bio when it is submitted (submit_bio -> blk_throtl_bio) against the cgroup of the task that submits it, and queues it until the cgroup\'s budget allows; blkio.throttle.io_service_bytes (io.stat on v2) counts what passed.',
      `Direct IO (O_DIRECT) is submitted by the container's own task: ${step('direct-write').mibPerSec} MiB/s written, ${step('direct-read').mibPerSec} MiB/s read, at the ${r.limitMiB} MiB/s limit.`,
      v1
        ? `A buffered write only copies into the page cache (generic_perform_write) and marks the pages dirty: ${step('buffered-write').mibPerSec} MiB/s, and ${mib(step('buffered-write').chargedBytes)} MiB charged to the container. The flusher (wb_workfn, a kworker in the root cgroup) writes them later, unthrottled: cgroup v1 has no writeback ownership, so nothing links those pages to the container's blkio cgroup. Here the host's sync wrote them in ${r.hostSync.seconds} s, ${mib(r.hostSync.chargedWriteBytes)} MiB charged to the container.`
        : `A buffered write only dirties the page cache: ${step('buffered-write').mibPerSec} MiB/s. On cgroup v2 with the memory and io controllers both enabled, the dirty pages belong to the container's writeback domain (cgroup writeback: wbc_init_bio tags the flusher's bios with the owner's cgroup), so their writeback is throttled later; here the host's sync took ${r.hostSync.seconds} s and ${mib(r.hostSync.chargedWriteBytes)} MiB were charged to the container.`,
      `An fsync makes the container's task write its own dirty pages (file_write_and_wait_range), so its bios carry its cgroup and are throttled: ${step('fsync-write').mibPerSec} MiB/s.`,
      'That is why a throttled container\'s write throughput looks unstable: writes are fast while they fit in the page cache, then slow whenever the container itself has to write back (fsync, or direct reclaim under its memory limit), and the limit does not hold for what the flusher writes for it on v1.',
    ],
    chart: {
      title: `Throughput under a ${r.limitMiB} MiB/s limit${r.quick ? ' (quick)' : ''}`,
      yLabel: 'MiB per second',
      bars: r.steps.map((s) => ({ label: s.label, value: s.mibPerSec, note: s.throttled ? 'throttled' : 'not throttled' })),
    },
    data: {
      cgroupVersion: r.cgroupVersion,
      device: r.device,
      dev: r.dev,
      limitBytesPerSec: r.limitMiB * MB,
      limitMiBPerSec: r.limitMiB,
      sizeBytes: r.sizeMiB * MB,
      limitFiles: r.limitFiles,
      steps: r.steps,
      hostSync: r.hostSync,
      summary: {
        directWriteMiBPerSec: step('direct-write').mibPerSec,
        directReadMiBPerSec: step('direct-read').mibPerSec,
        bufferedWriteMiBPerSec: step('buffered-write').mibPerSec,
        fsyncWriteMiBPerSec: step('fsync-write').mibPerSec,
        bufferedOverLimit: Number((step('buffered-write').mibPerSec / r.limitMiB).toFixed(1)),
      },
    },
  };
}

const demo: Demo = {
  name: 'blkio',
  summary: `disk throttling (blkio.throttle.* / io.max) on a loop device: direct IO obeys the limit, buffered writes do not, fsync does`,
  takes: 'about 15 s (5 s with --quick)',
  run,
};
export default demo;

