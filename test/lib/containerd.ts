// A private containerd for the end-to-end tests. It runs with its own root,
// state, socket and config in a temp dir, in a private mount namespace whose
// /run is a bind mount of DIR/run: containerd 1.x hard-codes a few paths
// under /run/containerd (the shims' sockets in /run/containerd/s, ctr's
// FIFOs in /run/containerd/fifo, the runc shim's --root /run/containerd/runc),
// and this keeps all of them off the machine's /run. ctr runs in the same
// mount namespace (nsenter), so it sees the FIFOs the shims open.
// useContainerd() is the suite fixture around it (start, image, teardown, and
// the closing check that nothing is left behind).
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leftovers, PROJECT, runCommand, TSRUN, waitFor, type RunResult } from './tsrun.ts';
import { buildBusyboxImage, type BuiltImage } from './oci-image.ts';

/** Installs containerd with apt when it is missing; returns why it cannot run, or ''. */
export function ensureContainerd(): string {
  const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
  if (!have('containerd') || !have('ctr') || !have('containerd-shim-runc-v2')) {
    const r = spawnSync('apt-get', ['install', '-y', 'containerd'], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) return `apt-get install -y containerd failed: ${(r.stderr || r.stdout || String(r.error)).trim().split('\n').pop()}`;
  }
  for (const cmd of ['containerd', 'ctr', 'containerd-shim-runc-v2', 'unshare', 'nsenter', 'script']) {
    if (!have(cmd)) return `${cmd} is not installed`;
  }
  return '';
}

export interface Containerd {
  dir: string;
  /** The grpc socket. */
  address: string;
  /** The containerd namespace the tests use (also the parent cgroup of their containers). */
  namespace: string;
  pid: number;
  /** The snapshotter ctr uses (CONTAINERD_SNAPSHOTTER). */
  snapshotter: string;
  /** Where the runc shim keeps the runtime's state (its --root) for our namespace. */
  runtimeRoot: string;
  /** Where tsrun's shim (io.containerd.tsrun.v2) keeps it. */
  tsrunRoot: string;
  /** The bundle containerd makes for a container of our namespace. */
  bundle(id: string): string;
  /** The shims' sockets (and pid files) under the private /run. */
  sockets(): string[];
  /** The command line that runs ctr against this instance, shell-quoted: for
   *  `script -qec "$CTR ..."`, or `eval "$CTR ..."` in shell(). */
  ctrCommand(args: string[]): string;
  ctr(args: string[]): Promise<RunResult>;
  /** The argv that runs ctr against this instance (for timing it with spawnSync). */
  ctrArgv(args: string[]): string[];
  /** Runs a shell command line (e.g. a pipe into script) with $CTR set to ctrCommand([]). */
  shell(line: string): Promise<RunResult>;
  /** The shims still running for this instance (their pids). */
  shims(): number[];
  log(): string;
  restart(): Promise<void>;
  stop(): Promise<string[]>;
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export async function startContainerd(namespace: string): Promise<Containerd> {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-containerd-'));
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const run = join(dir, 'run');
  const address = join(dir, 'containerd.sock');
  const config = join(dir, 'config.toml');
  for (const d of [root, state, run]) mkdirSync(d, { recursive: true });
  writeFileSync(config, [
    'version = 2',
    `root = ${JSON.stringify(root)}`,
    `state = ${JSON.stringify(state)}`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",',
    '  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]',
    '[grpc]',
    `  address = ${JSON.stringify(address)}`,
    '[ttrpc]',
    '  address = ""',
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    '[plugins."io.containerd.grpc.v1.cri"]',
    '  disable = true',
    '',
  ].join('\n'));
  const logFile = join(dir, 'containerd.log');
  let child: ChildProcess;
  let exited = false;
  let gone: Promise<void>;
  let pid = 0;
  const launch = (): void => {
    const logFd = openSync(logFile, 'a');
    child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
      'mount --bind "$0" /run && exec containerd --root "$1" --state "$2" --address "$3" --config "$4" --log-level info',
      run, root, state, address, config], { stdio: ['ignore', logFd, logFd], detached: false });
    closeSync(logFd);
    exited = false;
    gone = new Promise<void>((resolve) => child.on('exit', () => { exited = true; resolve(); }));
    pid = child.pid!;
  };
  launch();
  const log = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  // `timeout`: a wedged ctr fails its test instead of hanging the suite.
  // --foreground keeps ctr in the terminal's foreground process group under
  // `script`: in a group of its own, `ctr -t` setting the terminal raw gets
  // SIGTTOU and stops (seen in CI, where script's $SHELL did not exec it).
  // The mount namespace is containerd's current one (restart() makes a new one).
  const prefix = (): string[] => ['timeout', '--foreground', '120', 'nsenter', `--mount=/proc/${pid}/ns/mnt`, '--', 'ctr', '--address', address, '--namespace', namespace];
  // overlayfs cannot stack on an overlayfs /tmp (a container CI): use native there
  // (or whatever TSRUN_TEST_SNAPSHOTTER names).
  const fsType = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).stdout.trim();
  const snapshotter = process.env.TSRUN_TEST_SNAPSHOTTER ?? (fsType === 'overlayfs' ? 'native' : 'overlayfs');
  const env = { ...process.env, CONTAINERD_SNAPSHOTTER: snapshotter };
  const ctr = (args: string[]): Promise<RunResult> => runCommand('timeout', [...prefix().slice(1), ...args], { env });
  const ctrCommand = (args: string[]): string => [...prefix(), ...args].map(quote).join(' ');

  const ready = (): Promise<boolean> => waitFor(async () => exited || (existsSync(address) && (await ctr(['version'])).exitCode === 0), 20000, 100);
  if (!(await ready()) || exited) {
    if (!exited) child!.kill('SIGKILL');
    await gone!;
    const text = log();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`containerd did not start:\n${text.split('\n').slice(-15).join('\n')}`);
  }

  const shims = (): number[] => spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout.split('\n')
    .filter((l) => l.includes('containerd-shim') && l.includes(address))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
  // If the test process dies without stop(), at least containerd and the shims go.
  const onExit = (): void => {
    for (const p of [...(exited ? [] : [pid]), ...shims()]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
  };
  process.on('exit', onExit);

  return {
    dir,
    address,
    namespace,
    get pid() {
      return pid;
    },
    runtimeRoot: join(run, 'containerd', 'runc', namespace),
    tsrunRoot: join(run, 'containerd', 'tsrun', namespace),
    bundle: (id) => join(state, 'io.containerd.runtime.v2.task', namespace, id),
    sockets: () => (existsSync(join(run, 'containerd', 's')) ? readdirSync(join(run, 'containerd', 's')) : []),
    ctr,
    ctrArgv: (args) => [...prefix(), ...args],
    ctrCommand,
    snapshotter,
    // SHELL: `script -c` runs its command with $SHELL, which differs between machines.
    shell: (line) => runCommand('sh', ['-c', line], { env: { ...env, SHELL: '/bin/sh', CTR: ctrCommand([]) } }),
    shims,
    log,
    /** Stops containerd with SIGTERM (its shims keep running) and starts it again on the same root, state and socket. */
    async restart() {
      child.kill('SIGTERM');
      await gone;
      launch();
      if (!(await ready()) || exited) throw new Error(`containerd did not restart:\n${log().split('\n').slice(-15).join('\n')}`);
    },
    /** Stops containerd (TERM, then KILL), kills stray shims by pid, removes the
     *  namespace's parent cgroups (only if empty) and the temp dir. Returns what
     *  had to be cleaned up by force. */
    async stop() {
      const forced: string[] = [];
      process.off('exit', onExit);
      if (!exited) {
        child.kill('SIGTERM');
        if (!(await waitFor(() => exited, 10000, 50))) {
          forced.push('containerd needed SIGKILL');
          child.kill('SIGKILL');
        }
      }
      await gone;
      // tsrun's namespace shim, idle, exits when containerd goes (src/shim/main.ts, "Groups").
      await waitFor(() => shims().length === 0, 3000, 50);
      for (const shim of shims()) {
        forced.push(`shim ${shim} still running`);
        try {
          process.kill(shim, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      await waitFor(() => shims().length === 0, 5000);
      for (const ctl of readdirSync('/sys/fs/cgroup')) {
        const nsDir = join('/sys/fs/cgroup', ctl, namespace);
        if (!existsSync(nsDir)) continue;
        try {
          rmdirSync(nsDir);
        } catch (err) {
          forced.push(`cgroup ${nsDir}: ${(err as Error).message}`);
        }
      }
      // Snapshots of the overlayfs snapshotter may be read-only for rm: make them writable.
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        execFileSync('chmod', ['-R', 'u+w', dir]);
        rmSync(dir, { recursive: true, force: true });
      }
      return forced;
    },
  };
}

/** `ctr task ls` as id → [pid, status]. */
async function ctrTasks(cd: Containerd): Promise<Map<string, [number, string]>> {
  const r = await cd.ctr(['task', 'ls']);
  if (r.exitCode !== 0) throw new Error(`ctr task ls: ${r.stderr}`);
  return new Map(r.stdout.split('\n').slice(1).filter(Boolean).map((l) => {
    const [id, pid, status] = l.trim().split(/\s+/);
    return [id!, [Number(pid), status!]];
  }));
}

/** Removes a task (forced) and its container. */
async function removeCtrTask(cd: Containerd, id: string): Promise<void> {
  const rm = await cd.ctr(['task', 'rm', '--force', id]);
  if (rm.exitCode !== 0) throw new Error(`ctr task rm --force ${id}: ${rm.stderr}`);
  const c = await cd.ctr(['containers', 'rm', id]);
  if (c.exitCode !== 0) throw new Error(`ctr containers rm ${id}: ${c.stderr}`);
}

export interface ContainerdSuite {
  /** Why containerd cannot run here, or '' (then the file registers its tests). */
  skip: string;
  /** tsrun-PID-NAME: containerd's namespace for the suite, and the parent cgroup of its containers. */
  namespace: string;
  /** The suite's containerd, from test.before on. */
  readonly cd: Containerd;
  /** The busybox image, imported into it. */
  readonly image: BuiltImage;
  /** ctr's flags that run a container with tsrun the suite's way (see useContainerd). */
  runtime: string[];
  /** Where tsrun keeps the suite's containers (its --root): the runc shim's root, or tsrun's shim's. */
  readonly stateRoot: string;
  tasks(): Promise<Map<string, [number, string]>>;
  /** ctr run -d ... sleep 300, the suite's way (`extra`: more flags for ctr run); it must start. */
  sleeper(id: string, extra?: string[]): Promise<void>;
  removeTask(id: string): Promise<void>;
  /** The closing test: no tasks, containers, state under either shim's root
   *  (also as `tsrun list` sees it), shims, shim sockets or container cgroups;
   *  then containerd stops with nothing to clean up by force (its shims gone,
   *  its namespace's cgroups empty), and its temp dir, cgroups, mounts and
   *  processes are gone, the machine's containerd dirs untouched. `idleShim`:
   *  the namespace's idle shim still runs (and has its socket) until
   *  containerd stops, and must exit with it. */
  nothingLeftBehind(opts?: { idleShim?: boolean }): Promise<void>;
}

/** The container cgroups still under the namespace's parent cgroup, in every hierarchy. */
function containerCgroups(namespace: string): string[] {
  return readdirSync('/sys/fs/cgroup').flatMap((ctl) => {
    const d = join('/sys/fs/cgroup', ctl, namespace);
    return existsSync(d) ? readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(d, e.name)) : [];
  });
}

function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

/**
 * A private containerd with the busybox image imported, for the uvu suite of
 * the test file NAME. test.before builds the image, sets `env` (containerd
 * passes its environment on to the shims, so it must be set before it
 * starts), starts containerd in the namespace tsrun-PID-NAME and imports the
 * image. test.after removes what a failed test left (tasks, containers),
 * stops containerd, removes the image and restores the environment. Without
 * containerd the suite gets one test saying why, and no hooks.
 * `runtime`: 'runc' runs bin/tsrun as the runc binary of containerd's
 * containerd-shim-runc-v2 (`ctr --runc-binary`); 'shim' runs tsrun's own shim,
 * io.containerd.tsrun.v2, which containerd finds on its PATH by the name
 * containerd-shim-tsrun-v2 (bin/ is put first on it).
 */
export function useContainerd(suite: Test, name: string, opts: { runtime?: 'runc' | 'shim'; env?: Record<string, string | undefined> } = {}): ContainerdSuite {
  const skip = ensureContainerd();
  const namespace = `tsrun-${process.pid}-${name}`;
  const shim = opts.runtime === 'shim';
  const runtime = shim ? ['--runtime', 'io.containerd.tsrun.v2'] : ['--runc-binary', TSRUN];
  const env = { ...(shim ? { PATH: `${join(PROJECT, 'bin')}:${process.env.PATH}` } : {}), ...opts.env };
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  // Seen before anything starts: the machine's containerd dirs must stay as they are.
  const hostDirs = ['/run/containerd', '/var/lib/containerd'].map((d) => [d, existsSync(d)] as const);
  let cd: Containerd | undefined;
  let image: BuiltImage | undefined;
  let work = '';
  const running = (): Containerd => {
    if (!cd) throw new Error('containerd is not running: test.before failed, or nothingLeftBehind() stopped it');
    return cd;
  };
  const built = (): BuiltImage => {
    if (!image) throw new Error('the image was not built: test.before failed');
    return image;
  };

  if (skip) {
    console.log(`SKIP ${name}: ${skip}`);
    suite('containerd is not available here', () => {
      assert.ok(skip.length > 0);
    });
  } else {
    suite.before(async () => {
      work = mkdtempSync(join(tmpdir(), 'tsrun-image-'));
      image = buildBusyboxImage(work, `tsrun-busybox-${process.pid}`);
      setEnv(env);
      cd = await startContainerd(namespace);
      const imp = await cd.ctr(['images', 'import', image.archive]);
      assert.is(imp.exitCode, 0, `${imp.stderr}\n${cd.log().slice(-2000)}`);
    });
    suite.after(async () => {
      const left = cd;
      cd = undefined;
      try {
        if (left) {
          try {
            for (const id of (await ctrTasks(left)).keys()) await left.ctr(['task', 'rm', '--force', id]);
            const cs = await left.ctr(['containers', 'ls', '-q']);
            for (const id of cs.stdout.split('\n').filter(Boolean)) await left.ctr(['containers', 'rm', id]);
          } finally {
            await left.stop();
          }
        }
      } finally {
        setEnv(saved);
        if (work) rmSync(work, { recursive: true, force: true });
      }
    });
  }

  return {
    skip,
    namespace,
    get cd() {
      return running();
    },
    get image() {
      return built();
    },
    runtime,
    get stateRoot() {
      return shim ? running().tsrunRoot : running().runtimeRoot;
    },
    tasks: () => ctrTasks(running()),
    async sleeper(id, extra = []) {
      const r = await running().ctr(['run', '-d', ...runtime, ...extra, built().name, id, 'sleep', '300']);
      assert.is(r.exitCode, 0, `${r.stderr}\n${running().log().slice(-3000)}`);
    },
    removeTask: (id) => removeCtrTask(running(), id),
    async nothingLeftBehind({ idleShim = false } = {}) {
      const c = running();
      assert.equal([...(await ctrTasks(c)).keys()], [], 'no tasks');
      assert.is((await c.ctr(['containers', 'ls', '-q'])).stdout, '', 'no containers');
      for (const root of [c.runtimeRoot, c.tsrunRoot]) {
        assert.equal(existsSync(root) ? readdirSync(root) : [], [], `no state dirs in ${root}`);
        assert.is((await runCommand(TSRUN, ['--root', root, 'list', '-q'])).stdout, '', `tsrun list --root ${root}`);
      }
      if (!idleShim) {
        assert.ok(await waitFor(() => c.shims().length === 0, 5000), 'the shims exited');
        assert.equal(c.sockets(), [], 'no shim sockets');
      }
      assert.equal(containerCgroups(namespace), [], 'no container cgroups');
      const forced = await c.stop();
      cd = undefined; // stopped: test.after has nothing to do
      assert.equal(forced, [], `containerd stopped cleanly${idleShim ? ', the idle shim exited with it,' : ''} and the namespace cgroups were empty`);
      assert.not.ok(existsSync(c.dir), 'its temp dir is gone');
      assert.equal(leftovers(c.dir), []);
      for (const [dir, was] of hostDirs) assert.is(existsSync(dir), was, `${dir} of the machine untouched`);
    },
  };
}
