// Runs every test/**/*.test.ts file (uvu suites, executed directly: Node 24
// strips the types) in its own process, one after the other, because the
// end-to-end suites create real namespaces, mounts and cgroups. Prints a
// closing "N passed, N failed, N skipped" line and exits non-zero on failure.
//   bin/node-pinned test/run.mjs [substring...]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filters = process.argv.slice(2);

function walk(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'lib' || name === 'fixtures' ? [] : walk(p);
    return name.endsWith('.test.ts') ? [p] : [];
  });
}

// Filters match the path relative to the project, so a checkout's own path
// (say /work/wt/shim) does not select every file.
const files = walk(join(root, 'test')).filter((f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)));
let passed = 0, failed = 0, skipped = 0;
const broken = [];
const started = Date.now();
for (const file of files) {
  const name = relative(root, file);
  const t0 = Date.now();
  const res = spawnSync(process.execPath, [file], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15 * 60_000 });
  const out = `${res.stdout ?? ''}${res.stderr ?? ''}`;
  const num = (label) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(out)?.[1] ?? 0);
  const total = num('Total'), ok = num('Passed'), skip = num('Skipped');
  passed += ok;
  skipped += skip;
  const bad = res.status !== 0 || total === 0 || ok + skip < total;
  if (bad) {
    failed += Math.max(1, total - ok - skip);
    broken.push(name);
  }
  console.log(`${bad ? 'FAIL' : 'ok  '} ${name} (${ok}/${total} passed${skip ? `, ${skip} skipped` : ''}, ${Date.now() - t0} ms)`);
  if (bad || process.env.TSRUN_TEST_VERBOSE) console.log(out.replace(/^/gm, '    '));
  for (const line of out.split('\n').filter((l) => l.startsWith('SKIP '))) console.log(`    ${line}`);
}
console.log(`\n${files.length} files in ${((Date.now() - started) / 1000).toFixed(1)} s${broken.length ? `; failed: ${broken.join(', ')}` : ''}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || files.length === 0 ? 1 : 0);
