// Test helpers: run the built tsrun with a private --root, build busybox
// bundles, and check that nothing was left behind.
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync, type StdioOptions } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultSpec } from '../../src/runtime/default-spec.ts';
import type { Config } from '../../src/runtime/oci-types.ts';

export const PROJECT = fileURLToPath(new URL('../..', import.meta.url));
export const TSRUN = join(PROJECT, 'bin', 'tsrun');

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

let outputs = 0;
/** Runs a command and resolves when it exits. Output goes through files, not
 *  pipes: a detached container inherits tsrun's stdout and stderr and keeps
 *  them open, so waiting for pipes to close would wait for the container. */
export function runCommand(cmd: string, args: string[], opts: { extraFds?: number[]; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const base = join(tmpdir(), `tsrun-out-${process.pid}-${outputs++}`);
  const out = openSync(`${base}.out`, 'w+');
  const err = openSync(`${base}.err`, 'w+');
  const stdio: StdioOptions = ['ignore', out, err, ...(opts.extraFds ?? [])];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio, env: opts.env ?? process.env });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const read = (p: string): string => readFileSync(p, 'utf8').replace(/\n$/, '');
      const result = { exitCode: code ?? 128 + (signal ? 15 : 0), stdout: read(`${base}.out`), stderr: read(`${base}.err`) };
      closeSync(out);
      closeSync(err);
      rmSync(`${base}.out`, { force: true });
      rmSync(`${base}.err`, { force: true });
      resolve(result);
    });
  });
}

export interface Sandbox {
  root: string;
  dir: string;
  rootfs: string;
  tsrun(args: string[], opts?: { extraFds?: number[] }): Promise<RunResult>;
  /** A bundle whose config is the default spec edited by `edit`. */
  bundle(edit?: (c: Config) => void, name?: string): string;
  cleanup(): Promise<void>;
}

let rootfsCache: string | undefined;
/** One busybox rootfs per test process, shared read-only by its bundles. */
export function busyboxRootfs(): string {
  if (rootfsCache) return rootfsCache;
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-rootfs-'));
  execFileSync(join(PROJECT, 'examples/busybox/make-rootfs.sh'), [join(dir, 'rootfs')]);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  rootfsCache = join(dir, 'rootfs');
  return rootfsCache;
}

export function sandbox(): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-test-'));
  const root = join(dir, 'state');
  const rootfs = busyboxRootfs();
  let n = 0;
  const sb: Sandbox = {
    root,
    dir,
    rootfs,
    tsrun: (args, opts = {}) => runCommand(TSRUN, ['--root', root, ...args], opts),
    bundle(edit, name) {
      const b = join(dir, name ?? `bundle${n++}`);
      execFileSync('mkdir', ['-p', b]);
      const config = defaultSpec();
      config.root = { path: rootfs, readonly: true };
      config.process!.args = ['sleep', '30'];
      edit?.(config);
      writeFileSync(join(b, 'config.json'), JSON.stringify(config, null, 2));
      return b;
    },
    async cleanup() {
      for (const id of existsSync(root) ? readdirSync(root) : []) {
        await sb.tsrun(['delete', '--force', id]);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return sb;
}

/** Everything a test must not leave behind, as a list of findings (empty = clean).
 *  Ids made by uniqueId() carry this process's pid, which is what is looked for. */
export function leftovers(root: string, idPrefix = `*-${process.pid}-`): string[] {
  const found: string[] = [];
  if (existsSync(root) && readdirSync(root).length > 0) found.push(`state dirs: ${readdirSync(root).join(' ')}`);
  const cgroups = spawnSync('find', ['/sys/fs/cgroup', '-maxdepth', '4', '-type', 'd', '-name', `${idPrefix}*`], { encoding: 'utf8' }).stdout.trim();
  if (cgroups) found.push(`cgroups: ${cgroups.split('\n').join(' ')}`);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(idPrefix) || l.includes('tsrun-rootfs-'));
  if (mounts.length) found.push(`mounts: ${mounts.length}`);
  const procs = spawnSync('ps', ['-eo', 'pid=,ppid=,stat=,args='], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(root));
  if (procs.length) found.push(`processes: ${procs.join('; ')}`);
  return found;
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000, stepMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleepMs(stepMs);
  }
  return check();
}

/** The status field of `tsrun state`. */
export async function statusOf(sb: Sandbox, id: string): Promise<string> {
  const r = await sb.tsrun(['state', id]);
  return r.exitCode === 0 ? JSON.parse(String(r.stdout)).status : `error: ${r.stderr}`;
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
}

/** A container's shell line: lo's addresses, then a ping to each of its own; see assertLoopback. */
export const LOOPBACK_PROBE = 'ip -o addr show dev lo; ping -c1 -W2 127.0.0.1 >/dev/null && echo v4-ok; ping -c1 -W2 ::1 >/dev/null && echo v6-ok';

/** LOOPBACK_PROBE's run: lo is up with 127.0.0.1/8 and ::1, and both answered. */
export function assertLoopback(r: RunResult): void {
  assert.is(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /inet 127\.0\.0\.1\/8/);
  assert.match(r.stdout, /inet6 ::1\/128/);
  assert.match(r.stdout, /^v4-ok$/m);
  assert.match(r.stdout, /^v6-ok$/m);
}
