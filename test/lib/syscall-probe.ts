// test/fixtures/syscall-probe.c, compiled once per test process (static, so
// it runs from a bind mount in any rootfs). See the fixture for what it probes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT } from './tsrun.ts';

let binary: string | undefined;
export function syscallProbe(): string {
  if (binary) return binary;
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-probe-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  binary = join(dir, 'syscall-probe');
  execFileSync('gcc', ['-static', '-O2', '-Wall', '-o', binary, join(PROJECT, 'test/fixtures/syscall-probe.c')]);
  return binary;
}
