// What the disk demos (overlay, quota, blkio, dirty) add to the demo Lab
// (lab.ts): filesystem images on loop devices, overlay mounts, a clock with
// microseconds inside a busybox container, and the container's cgroup dir.
//
//   const disk = DiskLab.open();             // its own temp dir, outside lab.dir
//   try {
//     const vol = disk.loopFs('data', 64, 'ext4');   // image + losetup + mkfs + mount
//     const ov = disk.overlay('root', [layer, lab.rootfs]);
//     ...
//   } finally {
//     disk.close();                          // umount, losetup -d, rm, in reverse order
//   }
//
// Mounts and loop devices are undone in reverse order by close(), which also
// runs on process exit: Lab's Ctrl-C handler deletes the containers and then
// calls process.exit, so by the time we unmount nothing holds the mounts. The
// temp dir is not inside lab.dir because Lab.close() removes that one
// recursively, which must never walk into a mounted filesystem.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeError } from '../runtime/errors.ts';
import { sleep } from './lab.ts';

export interface LoopFs {
  image: string;
  /** /dev/loopN */
  device: string;
  major: number;
  minor: number;
  mountpoint: string;
  fstype: 'ext4' | 'xfs';
}

export interface Overlay {
  merged: string;
  upper: string;
  work: string;
  lowers: string[];
}

/** One line when host tools are missing: the demos install nothing. */
export function requireHostTools(tools: string[]): void {
  const missing = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0);
  if (missing.length > 0) {
    throw new RuntimeError('ERR_DEMO', `missing host tools: ${missing.join(', ')}`, {
      hint: 'scripts/setup.sh installs them (apt-get install util-linux e2fsprogs xfsprogs); the demo installs nothing',
    });
  }
}

/** Runs a host command; a failure is a RuntimeError naming `what`. */
export function must(what: string, cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (r.status !== 0) {
    const said = `${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim().split('\n').slice(-2).join('; ');
    throw new RuntimeError('ERR_DEMO', `${what}: "${cmd} ${args.join(' ')}" failed: ${said || `exit status ${r.status}`}`);
  }
  return r.stdout;
}

export class DiskLab {
  readonly dir: string;
  readonly #undo: Array<{ what: string; run: () => void }> = [];
  readonly #onExit = (): void => this.close();
  #closed = false;

  private constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'tsrun-disk-'));
    process.on('exit', this.#onExit);
  }

  /** Opens one per demo run, beside (not inside) the lab's dir. */
  static open(): DiskLab {
    return new DiskLab();
  }

  /** A sparse image of `sizeMB`, formatted `fstype`, attached to a free loop
   *  device and mounted (with `mountOptions`) on a dir of ours. */
  loopFs(name: string, sizeMB: number, fstype: 'ext4' | 'xfs', mountOptions: string[] = [], loopOptions: string[] = []): LoopFs {
    const image = join(this.dir, `${name}.img`);
    must(`the ${name} image`, 'truncate', ['-s', `${sizeMB}M`, image]);
    this.#undo.push({ what: `rm ${image}`, run: () => rmSync(image, { force: true }) });
    if (fstype === 'ext4') must(`mkfs.ext4 on the ${name} image`, 'mkfs.ext4', ['-q', '-F', '-m', '0', image]);
    else must(`mkfs.xfs on the ${name} image`, 'mkfs.xfs', ['-q', '-f', image]);
    const device = must(`a loop device for the ${name} image`, 'losetup', [...loopOptions, '--find', '--show', image]).trim();
    this.#undo.push({ what: `losetup -d ${device}`, run: () => void spawnSync('losetup', ['-d', device], { stdio: 'ignore' }) });
    const [major, minor] = readText(`/sys/block/${device.replace('/dev/', '')}/dev`).split(':').map(Number);
    const mountpoint = join(this.dir, name);
    mkdirSync(mountpoint);
    this.#mount(`the ${name} filesystem`, ['-t', fstype, ...(mountOptions.length ? ['-o', mountOptions.join(',')] : []), device, mountpoint], mountpoint);
    return { image, device, major: major!, minor: minor!, mountpoint, fstype };
  }

  /** An overlay of `lowers` (first = top) with a fresh upper and work dir
   *  under `base` (default: our temp dir, on the host's disk). */
  overlay(name: string, lowers: string[], base = this.dir): Overlay {
    const at = (d: string): string => join(base, `${name}-${d}`);
    const [upper, work, merged] = [at('upper'), at('work'), join(this.dir, `${name}-merged`)];
    for (const d of [upper, work, merged]) mkdirSync(d, { recursive: true });
    this.#mount(`the ${name} overlay`, ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work}`, merged], merged);
    return { merged, upper, work, lowers };
  }

  /** A tmpfs of at most `sizeMiB` mounted on a dir of ours. */
  tmpfs(name: string, sizeMiB: number): string {
    const mountpoint = join(this.dir, name);
    mkdirSync(mountpoint);
    this.#mount(`the ${name} tmpfs`, ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', mountpoint], mountpoint);
    return mountpoint;
  }

  /** A dir of ours (removed with the temp dir). */
  mkdir(name: string): string {
    const d = join(this.dir, name);
    mkdirSync(d, { recursive: true });
    return d;
  }

  #mount(what: string, args: string[], target: string): void {
    must(`mount ${what}`, 'mount', args);
    this.#undo.push({
      what: `umount ${target}`,
      run: () => {
        // A container that has just exited may still pin it for a moment: retry, then detach lazily.
        for (let i = 0; i < 20; i++) {
          if (spawnSync('umount', [target], { stdio: 'ignore' }).status === 0) return;
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        }
        spawnSync('umount', ['-l', target], { stdio: 'ignore' });
      },
    });
  }

  /** Undoes everything in reverse order and removes the temp dir. Synchronous
   *  (it runs from the process 'exit' event too); never throws. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    process.off('exit', this.#onExit);
    for (const step of this.#undo.reverse()) {
      try {
        step.run();
      } catch {
        // keep undoing the rest
      }
    }
    // Only once nothing is mounted below it: never recurse into a mount.
    const mounted = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4]?.startsWith(`${this.dir}/`));
    if (!mounted) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A shell function `now` printing the wall clock in microseconds: busybox
 *  `date` has no %N, but `adjtimex` (read-only, no capability needed) prints
 *  time.tv_sec and time.tv_usec. */
export const NOW_FN = `now() { adjtimex | awk '/tv_sec/{s=$2} /tv_usec/{u=$2} END{printf "%d%06d\\n", s, u}'; }`;

/** `mark NAME` in a container script: tells the host it reached NAME (file
 *  NAME.done in DIR) and waits until the host says go (NAME.go). */
export const markFn = (dir: string): string => `mark() { : > ${dir}/$1.done; while [ ! -e ${dir}/$1.go ]; do usleep 5000; done; }`;

/** Host side of `mark`: waits for NAME.done in the host dir, runs `between`, says go. */
export async function atMark<T>(hostDir: string, name: string, between: () => T, timeoutMs = 60_000, exited?: () => boolean): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(join(hostDir, `${name}.done`))) {
    if (exited?.()) throw new RuntimeError('ERR_DEMO', `the container exited before it reached "${name}"`);
    if (Date.now() > deadline) throw new RuntimeError('ERR_DEMO', `the container did not reach "${name}" within ${timeoutMs / 1000} s`);
    await sleep(10);
  }
  const value = between();
  execFileSync('touch', [join(hostDir, `${name}.go`)]);
  return value;
}

/** KEY=VALUE lines of a container's output (other lines ignored). */
export function keyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][\w.-]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export interface CgroupDir {
  version: 1 | 2;
  /** The controller's dir for the process (v1) or its unified dir (v2). */
  dir: string;
}

/** The cgroup dir of host pid `pid` for a v1 `controller`, or its v2 dir when
 *  /sys/fs/cgroup is a cgroup2 mount (what tsrun itself uses to choose). */
export function cgroupDirOf(pid: number, controller: string): CgroupDir {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    const path = lines.find((l) => l.startsWith('0::'))?.slice(3) ?? '/';
    return { version: 2, dir: join('/sys/fs/cgroup', path) };
  }
  const line = lines.find((l) => l.split(':')[1]?.split(',').includes(controller));
  if (!line) throw new RuntimeError('ERR_DEMO', `process ${pid} is in no ${controller} cgroup (is the v1 ${controller} controller mounted?)`);
  return { version: 1, dir: join('/sys/fs/cgroup', controller, line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1)) };
}

/**
 * Refuses early, with the reason, when the cgroup controller a demo needs is
 * not usable: on cgroup v2 (/sys/fs/cgroup is cgroup2) it must be listed in
 * cgroup.controllers; a controller bound to a v1 hierarchy (as on a hybrid
 * host) never is, since a controller lives in one hierarchy at a time.
 */
export function requireController(v2Name: string, v1Name: string, demo: string): 1 | 2 {
  const v2 = readText('/sys/fs/cgroup/cgroup.controllers');
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    if (v2.split(/\s+/).includes(v2Name)) return 2;
    const v1 = readText('/proc/self/mounts').split('\n').some((l) => l.split(' ')[2] === 'cgroup' && l.split(' ')[3]?.split(',').includes(v1Name));
    throw new RuntimeError('ERR_DEMO', `demo ${demo} needs the ${v2Name} controller, which this cgroup v2 hierarchy does not have (cgroup.controllers: "${v2 || 'empty'}")`, {
      hint: v1 || readText('/proc/cgroups').split('\n').some((l) => l.startsWith(`${v1Name}\t`) && l.split('\t')[1] !== '0')
        ? `the ${v1Name} controller is bound to a cgroup v1 hierarchy (a hybrid host): a controller can be in one hierarchy only, so run the demo on the v1 layout or on a pure v2 host`
        : `enable it in the parent's cgroup.subtree_control`,
    });
  }
  return 1;
}

export function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The median; the mean of the two middle values for an even count. */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const ms = (us: number): number => Number((us / 1000).toFixed(us >= 100_000 ? 0 : 2));
