// The containerd shim end to end: a private containerd (test/lib/containerd.ts)
// finds bin/containerd-shim-tsrun-v2 on its PATH and runs the busybox image
// with `--runtime io.containerd.tsrun.v2`: ctr run (output, exit codes, -t,
// stdin), task exec/kill/pause/resume/metrics/ps, a container that exits before
// kill, the tsrun CLI seeing the shim's containers; then containerd restarted
// while a container runs, the shim killed with SIGKILL (cleanup through the
// `delete` action), two containers grouped in one shim, and bad input on the
// ttrpc socket. Nothing may be left behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leftovers, PROJECT, runCommand, TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';
import { ensureContainerd, startContainerd, type Containerd } from './lib/containerd.ts';
import { buildBusyboxImage, type BuiltImage } from './lib/oci-image.ts';

const skip = ensureContainerd();
let cd: Containerd;
let image: BuiltImage;
let work: string;
const namespace = `tsrun-${process.pid}-shim`;
const RUNTIME = ['--runtime', 'io.containerd.tsrun.v2'];
// containerd finds a runtime v2 shim on its PATH by the name containerd-shim-<name>-<version>.
process.env.PATH = `${join(PROJECT, 'bin')}:${process.env.PATH}`;

/** `ctr task ls` as id → [pid, status]. */
async function tasks(): Promise<Map<string, [number, string]>> {
  const r = await cd.ctr(['task', 'ls']);
  assert.is(r.exitCode, 0, r.stderr);
  return new Map(r.stdout.split('\n').slice(1).filter(Boolean).map((l) => {
    const [id, pid, status] = l.trim().split(/\s+/);
    return [id!, [Number(pid), status!]];
  }));
}

async function removeTask(id: string): Promise<void> {
  const rm = await cd.ctr(['task', 'rm', '--force', id]);
  assert.is(rm.exitCode, 0, rm.stderr);
  const c = await cd.ctr(['containers', 'rm', id]);
  assert.is(c.exitCode, 0, c.stderr);
}

const tsrunRoot = (): string => join(cd.dir, 'run', 'containerd', 'tsrun', namespace);
const debug = (): string => cd.log().slice(-3000);

if (skip) {
  console.log(`SKIP shim: ${skip}`);
  test('containerd is not available here', () => {
    assert.ok(skip.length > 0);
  });
} else {
  test.before(async () => {
    work = mkdtempSync(join(tmpdir(), 'tsrun-image-'));
    image = buildBusyboxImage(work, `tsrun-busybox-${process.pid}`);
    cd = await startContainerd(namespace);
    const imp = await cd.ctr(['images', 'import', image.archive]);
    assert.is(imp.exitCode, 0, imp.stderr);
  });
  test.after(async () => {
    if (cd) {
      for (const id of (await tasks()).keys()) await cd.ctr(['task', 'rm', '--force', id]);
      const cs = await cd.ctr(['containers', 'ls', '-q']);
      for (const id of cs.stdout.split('\n').filter(Boolean)) await cd.ctr(['containers', 'rm', id]);
      await cd.stop();
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('ctr run --rm through io.containerd.tsrun.v2: output, stderr and exit code', async () => {
    const id = uniqueId('shim-run');
    const r = await cd.ctr(['run', '--rm', ...RUNTIME, image.name, id, 'sh', '-c', 'echo hi; echo err >&2; exit 3']);
    assert.is(r.exitCode, 3, `${r.stderr}\n${debug()}`);
    assert.is(r.stdout, 'hi');
    assert.match(r.stderr, 'err');
    assert.not.ok((await tasks()).has(id), '--rm removed the task');
    assert.not.ok(existsSync(join(tsrunRoot(), id)), 'and tsrun\'s state');
  });
}

test.run();
