// tsrun-seccomp and the compiled-profile cache, without a container: the
// real compiler, run through a wrapper that logs each start, so the tests
// see that a cache miss starts it and a hit starts nothing; that a damaged
// file, another profile's, or one another user owns is compiled again and
// replaced; and that a profile libseccomp refuses names its JSON path. The
// same through tsrun create is in seccomp.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT } from './lib/tsrun.ts';
import { encodeSeccomp, seccompKey, seccompProgram, type SeccompCompiler } from '../src/runtime/seccomp.ts';
import { RuntimeError } from '../src/runtime/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsrun-seccomp-compiler-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const log = join(dir, 'starts.log');
const compiler = join(dir, 'tsrun-seccomp');
writeFileSync(compiler, `#!/bin/sh\necho "$*" >> ${log}\nexec ${join(PROJECT, 'build/tsrun-seccomp')} "$@"\n`);
chmodSync(compiler, 0o755);
let n = 0;
/** A fresh cache directory. */
const where = (): SeccompCompiler => ({ compiler, cacheDir: join(dir, `cache-${n++}`) });
const starts = (): number => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0);

const key = seccompKey(encodeSeccomp({
  defaultAction: 'SCMP_ACT_ALLOW',
  architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
  syscalls: [{ names: ['mkdir', 'mkdirat', 'no_such_syscall'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }],
}));

function program(w: SeccompCompiler, k = key): { bpf: Buffer; debug: string[] } {
  const debug: string[] = [];
  const bpf = seccompProgram(k, k.split('\n').length - 3, (line) => debug.push(line), w);
  return { bpf, debug };
}

test('a miss starts tsrun-seccomp, which fills the cache; a hit starts nothing and gives the same program', () => {
  const w = where();
  const before = starts();
  const first = program(w);
  assert.is(starts(), before + 1, 'the compiler ran once');
  assert.ok(first.bpf.length > 0 && first.bpf.length % 8 === 0, 'struct sock_filter[]');
  assert.match(first.debug.join('\n'), /seccomp: 1 rules, \d+ BPF instructions, compiled by libseccomp/);
  assert.match(first.debug.join('\n'), /syscall no_such_syscall \(\/linux\/seccomp\/syscalls\/0\/names\/2\) is unknown to libseccomp/);
  assert.equal(readdirSync(w.cacheDir).filter((f) => f.endsWith('.bpf')).length, 1, 'one file, no temporary left');
  assert.equal(readdirSync(w.cacheDir).length, 1);
  const second = program(w);
  assert.is(starts(), before + 1, 'a hit starts no process');
  assert.ok(second.bpf.equals(first.bpf));
  assert.match(second.debug.join('\n'), /from the cache/);
  assert.match(second.debug.join('\n'), /no_such_syscall .* is unknown to libseccomp/, 'the cached debug text says the same');
});

test('a damaged file, another profile\'s key, or a file another user owns is compiled again and replaced', () => {
  const w = where();
  const good = program(w).bpf;
  const file = join(w.cacheDir, readdirSync(w.cacheDir)[0]!);
  const edits: Array<[string, () => void]> = [
    ['another profile\'s key', () => {
      const bytes = readFileSync(file);
      const at = bytes.indexOf(10) + 1;
      bytes[at] = bytes[at] === 0x31 ? 0x32 : 0x31;
      writeFileSync(file, bytes);
    }],
    ['cut short', () => writeFileSync(file, readFileSync(file).subarray(0, -3))],
    ['owned by nobody', () => chownSync(file, 65534, 65534)],
  ];
  for (const [what, damage] of edits) {
    damage();
    const before = starts();
    const again = program(w);
    assert.is(starts(), before + 1, `${what}: compiled again`);
    assert.ok(again.bpf.equals(good), what);
    const hit = program(w);
    assert.is(starts(), before + 1, `${what}: and replaced, so the next is a hit`);
    assert.match(hit.debug.join('\n'), /from the cache/);
  }
});

test('a cache directory that cannot be made still gives the program (compiled each time)', () => {
  const blocker = join(dir, 'not-a-dir');
  writeFileSync(blocker, '');
  const w = { compiler, cacheDir: join(blocker, 'cache') };
  const before = starts();
  assert.ok(program(w).bpf.length > 0);
  assert.ok(program(w).bpf.length > 0);
  assert.is(starts(), before + 2);
});

test('a profile libseccomp refuses names its JSON path, with the rule\'s index, and caches nothing', () => {
  const w = where();
  const refused = (k: string, message: RegExp, errno: number): void => {
    try {
      program(w, k);
      assert.unreachable('must throw');
    } catch (err) {
      assert.instance(err, RuntimeError);
      const e = err as RuntimeError;
      assert.match(e.message, message);
      assert.is(e.errno, errno);
      assert.is(e.op, 'seccomp');
    }
  };
  const s390x = seccompKey(encodeSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_S390X'] }));
  refused(s390x, /^compile the seccomp profile: \/linux\/seccomp\/architectures\/0: s390x has the other byte order/, 33);
  // A rule tsrun's checks would not let through (argument 7): what libseccomp says of a rule it refuses.
  refused(`${0x7fff0000}\nx86_64\n0 ${0x50001} rmdir\n3 ${0x50001} mkdir 7:4:1:0\n`, /^compile the seccomp profile: \/linux\/seccomp\/syscalls\/3 \(mkdir\): libseccomp refused the rule: /, 22);
  assert.not.ok(existsSync(w.cacheDir) && readdirSync(w.cacheDir).some((f) => f.endsWith('.bpf')), 'nothing cached');
});

test.run();
