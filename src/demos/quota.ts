// demo quota: a container filling the disk its writable layer lives on. A
// 320 MiB XFS image on a loop device stands in for the host's container
// storage (/var/lib/containers): both containers get an overlay root whose
// upper layer is on it. The first has no limit and writes until ENOSPC: the
// whole filesystem is full, and the host's own write to it fails too. The
// second's upper layer is a directory with an XFS project quota (what
// Docker's overlay2 size= and podman's --storage-opt size= use): it gets
// ENOSPC at its quota and the filesystem keeps its free space.
//
// Why XFS project quota and not a size-limited tmpfs: tmpfs would give each
// container a filesystem of its own, held in RAM (charged as shmem to memory,
// not disk); a project quota limits a directory tree on the one shared disk
// filesystem, which is how container storage really is laid out. XFS needs
// at least 300 MiB (mkfs.xfs refuses smaller), hence 320 MiB; the image is
// sparse and removed at the end.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { RuntimeError } from '../runtime/errors.ts';
import { DiskLab, keyValues, type LoopFs, must, requireHostTools } from './disk-lab.ts';
import type { Demo, Lab } from './lab.ts';
import type { DemoReport } from './report.ts';

const MB = 1 << 20;
const PROJECT_ID = 4242;

interface FsUsage {
  sizeBytes: number;
  usedBytes: number;
  availBytes: number;
}

interface CaseResult {
  name: 'no-quota' | 'limited';
  quotaBytes: number | null;
  /** What dd wrote before it failed (st_size of the file). */
  writtenBytes: number;
  ddExit: number;
  ddError: string;
  enospc: boolean;
  fsAfter: FsUsage;
  /** A 1 MiB write by the host to the same filesystem, right after. */
  hostWrite: { ok: boolean; error: string };
  /** The project's usage as XFS accounts it (xfs_quota), quota case only. */
  projectUsedBytes?: number;
}

function usage(fs: LoopFs): FsUsage {
  const [size, used, avail] = must('df on the storage', 'df', ['-B1', '--output=size,used,avail', fs.mountpoint]).trim().split('\n')[1]!.trim().split(/\s+/).map(Number);
  return { sizeBytes: size!, usedBytes: used!, availBytes: avail! };
}

function hostWrite(fs: LoopFs): { ok: boolean; error: string } {
  const file = join(fs.mountpoint, 'host-file');
  try {
    must('host write', 'dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', 'count=1', 'conv=fsync', 'status=none']);
    return { ok: true, error: '' };
  } catch (err) {
    const m = /No space left on device|Disk quota exceeded/.exec((err as Error).message);
    return { ok: false, error: m ? m[0] : (err as Error).message };
  } finally {
    must('remove the host file', 'rm', ['-f', file]);
  }
}

const FILL = ['out=$(dd if=/dev/zero of=/fill bs=1M 2>&1); echo "dd_exit=$?"', 'echo "dd_error=$(echo "$out" | grep -i error | tail -1)"', 'echo "written=$(stat -c %s /fill)"'].join('\n');

type Limit = { kind: 'none' } | { kind: 'xfs-project-quota'; mib: number } | { kind: 'tmpfs'; mib: number };

async function fill(lab: Lab, disk: DiskLab, fs: LoopFs, name: CaseResult['name'], limit: Limit): Promise<CaseResult> {
  const quotaMiB = limit.kind === 'none' ? null : limit.mib;
  // With a tmpfs the upper layer lives on a filesystem of its own, sized to the limit.
  const base = limit.kind === 'tmpfs' ? disk.tmpfs(`${name}-tmpfs`, limit.mib) : join(fs.mountpoint, name);
  must(`the ${name} dir`, 'mkdir', ['-p', base]);
  if (limit.kind === 'xfs-project-quota') {
    // Mark the dir as project PROJECT_ID with the inherit flag (project -s),
    // then set the project's hard block limit.
    must('xfs_quota project setup', 'xfs_quota', ['-x', '-c', `project -s -p ${base} ${PROJECT_ID}`, fs.mountpoint]);
    must('xfs_quota limit', 'xfs_quota', ['-x', '-c', `limit -p bhard=${quotaMiB}m ${PROJECT_ID}`, fs.mountpoint]);
  }
  const ov = disk.overlay(name, [lab.rootfs], base);
  const bundle = lab.bundle(`quota-${name}`, (c) => {
    c.root = { path: ov.merged, readonly: false };
    c.process!.args = ['sh', '-c', FILL];
  });
  lab.step(`${name}: the container writes /fill until the disk says no`);
  const r = await lab.tsrun(['run', '--bundle', bundle.dir, lab.id(`quota-${name}`)]);
  if (r.exitCode !== 0) throw new RuntimeError('ERR_DEMO', `the ${name} container failed (exit ${r.exitCode}): ${r.stderr || r.stdout}`);
  const kv = keyValues(r.stdout);
  // Make sure what was written is on the filesystem (XFS allocates delayed).
  must('sync the storage', 'sync', ['-f', fs.mountpoint]);
  const result: CaseResult = {
    name,
    quotaBytes: quotaMiB === null ? null : quotaMiB * MB,
    writtenBytes: Number(kv.written ?? 0),
    ddExit: Number(kv.dd_exit ?? -1),
    ddError: (kv.dd_error ?? '').replace(/^dd: /, ''),
    enospc: /No space left on device/.test(kv.dd_error ?? ''),
    fsAfter: usage(fs),
    hostWrite: hostWrite(fs),
  };
  if (limit.kind === 'xfs-project-quota') {
    const report = must('xfs_quota report', 'xfs_quota', ['-x', '-c', `quota -p -N -b ${PROJECT_ID}`, fs.mountpoint]);
    // "<device> <used KiB> <soft> <hard> <warn> <grace>"
    const used = Number(report.trim().split(/\s+/)[1]);
    if (Number.isFinite(used)) result.projectUsedBytes = used * 1024;
  }
  // Free the space for the next case. Through the overlay: it holds the
  // upper inode, so removing it from upperdir behind its back frees nothing.
  must('remove the fill file', 'rm', ['-f', join(ov.merged, 'fill')]);
  must('sync the storage', 'sync', ['-f', fs.mountpoint]);
  return result;
}

async function run(lab: Lab): Promise<DemoReport> {
  requireHostTools(['losetup', 'mkfs.xfs', 'xfs_quota', 'mount', 'umount', 'df', 'truncate']);
  const sizeMiB = 320;
  const quotaMiB = 32;
  const disk = DiskLab.open();
  try {
    lab.step(`a ${sizeMiB} MiB XFS image with project quota (prjquota) on a loop device`);
    let fs: LoopFs;
    let limit: Limit = { kind: 'xfs-project-quota', mib: quotaMiB };
    let fallback: string | undefined;
    try {
      fs = disk.loopFs('storage', sizeMiB, 'xfs', ['prjquota']);
    } catch (err) {
      // The kernel decides: XFS without CONFIG_XFS_QUOTA refuses the prjquota option.
      const config = kernelSays('CONFIG_XFS_QUOTA');
      fallback = `XFS refused the prjquota mount option${config || `: ${(err as Error).message.replace(/^.*failed: /, '').split(';')[0]}`}`;
      limit = { kind: 'tmpfs', mib: quotaMiB };
      lab.step(`no XFS project quota here: a ${sizeMiB} MiB XFS image without quota, and a ${quotaMiB} MiB tmpfs for the limited container`);
      fs = disk.loopFs('storage-plain', sizeMiB, 'xfs');
    }
    const before = usage(fs);
    const noQuota = await fill(lab, disk, fs, 'no-quota', { kind: 'none' });
    const withQuota = await fill(lab, disk, fs, 'limited', limit);
    return report(fs, before, [noQuota, withQuota], limit, fallback, lab.quick);
  } finally {
    disk.close();
  }
}

/** ' (this kernel: # CONFIG_X is not set)' when /proc/config.gz says so, else ''. */
function kernelSays(option: string): string {
  const r = spawnSync('sh', ['-c', `zcat /proc/config.gz 2>/dev/null | grep -E '^(# )?${option}[= ]'`], { encoding: 'utf8' });
  const line = r.stdout.trim();
  return line ? `; the kernel's config says "${line}"` : '';
}

function report(fs: LoopFs, before: FsUsage, cases: CaseResult[], limit: Limit, fallback: string | undefined, quick: boolean): DemoReport {
  const quotaMiB = limit.kind === 'none' ? 0 : limit.mib;
  const tmpfs = limit.kind === 'tmpfs';
  const mib = (b: number): number => Number((b / MB).toFixed(1));
  const [free, quota] = cases as [CaseResult, CaseResult];
  const limitLabel = tmpfs ? `${quotaMiB} MiB tmpfs` : `${quotaMiB} MiB project quota`;
  const how = tmpfs
    ? `This kernel has no project quota (${fallback}), so the limited container's upper layer is on a tmpfs of size=${quotaMiB}m instead: shmem_inode_acct_blocks refuses a page beyond the size with ENOSPC. The container stopped at ${mib(quota.writtenBytes)} MiB; the storage filesystem kept ${mib(quota.fsAfter.availBytes)} MiB free and the host's write ${quota.hostWrite.ok ? 'succeeded' : `failed (${quota.hostWrite.error})`}.`
    : `With a project quota the upper dir is XFS project ${PROJECT_ID} (xfs_quota "project -s" sets the project id and the inherit flag, so everything overlayfs creates in it, copy-ups included, is charged to the project) with bhard=${quotaMiB}m: XFS checks the project's dquot on every block reservation (xfs_trans_reserve_quota) and reports ENOSPC for a project limit. The container stopped at ${mib(quota.writtenBytes)} MiB (${quota.projectUsedBytes !== undefined ? `${mib(quota.projectUsedBytes)} MiB accounted to the project` : 'project usage unknown'}), ${mib(quota.fsAfter.availBytes)} MiB stayed free and the host's write ${quota.hostWrite.ok ? 'succeeded' : `failed (${quota.hostWrite.error})`}.`;
  return {
    demo: 'quota',
    title: `A container filling its disk: overlay upper layers on a ${mib(before.sizeBytes)} MiB XFS filesystem (${fs.device}), without a limit and with a ${limitLabel}`,
    tables: [{
      headers: ['container', 'upper layer on', 'written before ENOSPC, MiB', 'dd said', 'storage free after, MiB', 'host write after'],
      rows: cases.map((c) => [
        c.name === 'no-quota' ? 'no limit' : limitLabel,
        c.name === 'no-quota' || !tmpfs ? 'the XFS storage' : `tmpfs size=${quotaMiB}m`,
        mib(c.writtenBytes),
        c.ddError || `exit ${c.ddExit}`,
        mib(c.fsAfter.availBytes),
        c.hostWrite.ok ? 'ok' : `failed: ${c.hostWrite.error}`,
      ]),
    }],
    explanations: [
      `The storage filesystem (XFS on a loop device: a 320 MiB image, ${mib(before.sizeBytes)} MiB usable after XFS's log, ${mib(before.availBytes)} MiB free at the start) stands in for the host's /var/lib/containers: each container's root is an overlay whose upper layer (all its writes) is a directory on it.`,
      `Without a limit the container's writes only stop when the filesystem is full (the block reservation in xfs_file_buffered_write fails with ENOSPC): ${mib(free.writtenBytes)} MiB written, ${mib(free.fsAfter.availBytes)} MiB left, and the host's own 1 MiB write ${free.hostWrite.ok ? 'still succeeded' : `failed too (${free.hostWrite.error})`}. On a real host that is every other container, the logs and the engine.`,
      how,
      tmpfs
        ? 'Which limit and why: engines limit a container\'s writable layer with an XFS project quota on the shared storage (Docker overlay2 size=, podman --storage-opt size= with pquota); this demo tries that first. Without quota support in the kernel the only size limit left is a filesystem of the container\'s own; a tmpfs is one with no image to format, but its pages are RAM (charged as shmem to the container\'s memory cgroup), not disk.'
        : 'Why a project quota rather than a size-limited tmpfs: a tmpfs gives each container its own RAM-backed filesystem (its pages are shmem, charged to memory); a project quota limits one directory tree on the shared disk filesystem, which is how engines lay out container storage (Docker overlay2 size=, podman --storage-opt size= on XFS mounted with pquota).',
      'The image is a sparse temp file on a loop device; both are removed at the end, and the host\'s real disks are not touched beyond that file.',
    ],
    chart: {
      title: `MiB a container could write before ENOSPC${quick ? ' (quick)' : ''}`,
      yLabel: 'MiB',
      bars: cases.map((c) => ({ label: c.name === 'no-quota' ? 'no limit' : limitLabel, value: mib(c.writtenBytes), note: `${mib(c.fsAfter.availBytes)} MiB left` })),
    },
    data: {
      filesystem: { type: 'xfs', device: fs.device, sizeBytes: before.sizeBytes, availBytesBefore: before.availBytes },
      limit: { kind: limit.kind, bytes: quotaMiB * MB, ...(fallback ? { whyNotProjectQuota: fallback } : { projectId: PROJECT_ID }) },
      cases,
      summary: {
        noLimitFilledFs: free.enospc && free.fsAfter.availBytes < 4 * MB,
        limitStoppedAtLimit: quota.enospc && quota.writtenBytes <= quotaMiB * MB,
        fsFreeAfterLimitedBytes: quota.fsAfter.availBytes,
        hostWriteOkWithoutLimit: free.hostWrite.ok,
        hostWriteOkWithLimit: quota.hostWrite.ok,
      },
    },
  };
}

const demo: Demo = {
  name: 'quota',
  summary: 'a container filling the disk of its writable layer, then one with a limit (XFS project quota, or a tmpfs where the kernel has no quota): ENOSPC at the limit, the disk stays free',
  takes: 'about 8 s (--quick changes nothing)',
  run,
};
export default demo;
