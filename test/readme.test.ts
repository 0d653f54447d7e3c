// README.md's "Using it" walkthrough, run as written on this checkout: each
// line of the first sh block under "## Using it", from examples/busybox.
// Two changes only, so the test cannot collide with anything else on the
// machine: every tsrun gets a private --root, and /tmp/b and /tmp/demos are
// temp dirs of ours. `npm run bench` (minutes) and `demo all` (a minute and
// a half; test/demos-page.test.ts runs exactly that line) are left out, and
// `demo pid1` runs with --quick. Each line must exit 0; what matters is checked on the output.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT } from './lib/tsrun.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsrun-readme-test-'));
const root = join(dir, 'root');
test.after(() => {
  spawnSync(join(PROJECT, 'bin', 'tsrun'), ['--root', root, 'delete', '--force', 'web'], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
});

/** The commands of the "Using it" block, comments dropped. */
function walkthrough(): string[] {
  const readme = readFileSync(join(PROJECT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Using it'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  return block.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean);
}

test('README "Using it": every line works as written', () => {
  const lines = walkthrough();
  assert.is(lines[0], 'cd examples/busybox');
  const run = lines.slice(1).filter((l) => !l.startsWith('npm run bench') && !l.includes('tsrun demo all'));
  assert.ok(lines.some((l) => l.includes('tsrun demo all --quick --html /tmp/demos')), 'the line demos-page.test.ts covers');
  const outputs: string[] = [];
  for (const line of run) {
    const cmd = line
      .replaceAll('../../bin/tsrun ', `../../bin/tsrun --root ${root} `)
      .replaceAll('/tmp/b ', `${dir}/b `).replaceAll('/tmp/b;', `${dir}/b;`)
      .replaceAll('/tmp/demos', `${dir}/demos`)
      .replace(/demo pid1$/, 'demo pid1 --quick');
    // Output through files: a container started by `create` inherits them and
    // stays up, so pipes would never reach EOF.
    const [o, e] = [join(dir, 'out'), join(dir, 'err')].map((f) => openSync(f, 'w')) as [number, number];
    const r = spawnSync('sh', ['-c', cmd], { cwd: join(PROJECT, 'examples', 'busybox'), stdio: ['ignore', o, e], timeout: 120_000 });
    closeSync(o);
    closeSync(e);
    assert.is(r.status, 0, `${line}\n${readFileSync(join(dir, 'err'), 'utf8')}`);
    outputs.push(readFileSync(join(dir, 'out'), 'utf8'));
  }
  const out = (prefix: string): string => outputs[run.findIndex((l) => l.startsWith(prefix))]!;
  assert.match(out('../../bin/tsrun run demo'), /hello from tsrun/);
  assert.match(out('../../bin/tsrun start web'), /"status": "running"/);
  assert.match(out('../../bin/tsrun exec web ps'), /httpd -f/, 'exec reached the running container');
  assert.match(out('../../bin/tsrun signals web'), /caught .*SIGTERM/);
  assert.ok(existsSync(join(dir, 'b', 'config.json')));
  assert.equal(readdirSync(root), [], 'web was deleted');
});

test('--debug prints the create plan step by step, environments left out', () => {
  const r = spawnSync(join(PROJECT, 'bin', 'tsrun'), ['--root', root, '--debug', 'run', '--bundle', join(PROJECT, 'examples', 'busybox'), 'plan'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const steps = r.stderr.split('\n').filter((l) => / create plan: plan \d+\/\d+: /.test(l));
  const total = Number(/plan of (\d+) steps/.exec(r.stderr)?.[1]);
  assert.is(steps.length, total, 'one line per step');
  assert.ok(steps.some((l) => / pivot .*# pivot_root into/.test(l)));
  const exec = steps.find((l) => / exec /.test(l))!;
  assert.match(exec, /\(2 env vars\)/);
  assert.not.match(r.stderr, /TERM=xterm/, 'no environment in the debug output');
});

test.run();
