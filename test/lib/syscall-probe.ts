// test/fixtures/syscall-probe.c, compiled once per test process (static, so
// it runs from a bind mount in any rootfs). See the fixture for what it probes.
// probeUnderCaptured() runs it under a seccomp profile an engine generated.
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../src/runtime/oci-types.ts';
import { PROJECT, sandbox, uniqueId } from './tsrun.ts';

let binary: string | undefined;
export function syscallProbe(): string {
  if (binary) return binary;
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-probe-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  binary = join(dir, 'syscall-probe');
  execFileSync('gcc', ['-static', '-O2', '-Wall', '-o', binary, join(PROJECT, 'test/fixtures/syscall-probe.c')]);
  return binary;
}

/** Runs the shell line `probe` with `tsrun run` in a busybox bundle that has
 *  the seccomp profile and capabilities of `captured` (the config.json an
 *  engine wrote), the probe at /probe and a tmpfs /tmp: without and with
 *  noNewPrivileges, which loads the filter at another point. Each run must
 *  exit 0; returns [noNewPrivileges, output] of each. */
export async function probeUnderCaptured(captured: Config, probe: string): Promise<Array<[boolean, string]>> {
  const sb = sandbox();
  const outputs: Array<[boolean, string]> = [];
  try {
    for (const nnp of [false, true]) {
      const bundle = sb.bundle((c) => {
        c.process!.args = ['sh', '-c', probe];
        c.process!.noNewPrivileges = nnp;
        c.process!.capabilities = captured.process!.capabilities;
        c.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs' }, { destination: '/probe', type: 'bind', source: syscallProbe(), options: ['ro', 'bind'] });
        c.linux!.seccomp = captured.linux!.seccomp;
      });
      const r = await sb.tsrun(['run', '--bundle', bundle, uniqueId('profile')]);
      assert.is(r.exitCode, 0, `noNewPrivileges ${nnp}: ${r.stderr}`);
      outputs.push([nnp, r.stdout]);
    }
  } finally {
    await sb.cleanup();
  }
  return outputs;
}
