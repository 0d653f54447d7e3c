// Shared helpers for the cgroup suites (test/cgroups.test.ts for v1 and the
// general tests, test/cgroups-v2.test.ts for v2 on the unified hierarchy):
// which hierarchies this host has, unique cgroup ids (process.pid and a
// per-process counter), busybox processes the test owns, and cleanup that
// kills by pid and removes every cgroup a test made.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Cgroup } from '../../src/runtime/cgroups/index.ts';
import { RuntimeError } from '../../src/runtime/errors.ts';

export const BUSYBOX = '/bin/busybox';
export const UNIFIED = '/sys/fs/cgroup/unified';
export const hasV1 = existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes') || existsSync('/sys/fs/cgroup/memory/cgroup.procs');
export const hasUnified = existsSync(join(UNIFIED, 'cgroup.procs'));
export const v1test = hasV1 ? test : test.skip;
export const v2test = hasUnified ? test : test.skip;

let seq = 0;
export const newId = () => `tsrun-test-${process.pid}-${++seq}`;
export const read = (file: string) => readFileSync(file, 'utf8').trim();

export function uniqueDirs(cg: Cgroup): string[] {
  return [...new Set(Object.values(cg.dirs))];
}

/** Spawns a process that the test owns; stdin stays open so the process can be held at `read x`. */
export function start(args: string[]): ChildProcess & { pid: number } {
  const child = spawn(BUSYBOX, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`spawn ${args.join(' ')} failed`);
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  return child as ChildProcess & { pid: number };
}

/** Runs a cleanup step whose failure (process already gone, cgroup never made) is expected. */
export function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // nothing left to clean
  }
}

export async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  quietly(() => process.kill(child.pid as number, 'SIGKILL'));
  await exited;
}

/** Kills by pid whatever is left in the cgroup (children of our shells), then removes it. */
export async function cleanup(cg: Cgroup | undefined): Promise<void> {
  if (!cg) return;
  quietly(() => cg.isFrozen() && cg.thaw());
  for (const pid of cg.pids()) quietly(() => process.kill(pid, 'SIGKILL'));
  cg.destroy();
}

export function utime(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]);
}

export function thrown(fn: () => void): RuntimeError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, RuntimeError);
    return err as RuntimeError;
  }
  assert.unreachable('did not throw');
  throw new Error('unreachable');
}

/** A whole block device (not loop or zram, whose throttles are pointless) as "MAJ:MIN". */
export function realDisk(): { major: number; minor: number } | undefined {
  for (const name of readdirSync('/sys/block')) {
    if (/^(loop|zram|ram)/.test(name)) continue;
    const m = /^(\d+):(\d+)$/.exec(read(`/sys/block/${name}/dev`));
    if (m) return { major: Number(m[1]), minor: Number(m[2]) };
  }
  return undefined;
}
