// `tsrun demo all --quick --html DIR --json`: every demo of the registry
// (src/demos/index.ts) runs to the end in its own child, with one progress
// line each, and the page has each demo's section, tables, explanations and
// an inline chart. Headless Chromium then renders it: the screenshot must be
// a real image, and the rendered DOM must have no image that fails to load.
// Also `tsrun demo NAME --html DIR` for a single demo, and Ctrl-C during `demo all`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMOS } from '../src/demos/index.ts';
import { demoRunner } from './lib/demo.ts';
import { sleepMs, waitFor } from './lib/tsrun.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsrun-demospage-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const demos = demoRunner(dir);
const allBefore = new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('tsrun-demoall-')));
const chromium = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout.trim();

/** Chromium as root needs --no-sandbox; no GPU on a server. */
function chrome(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--user-data-dir=${join(dir, 'chrome')}`, ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
}

/** Every <img> of the rendered DOM must be inline data or a file beside the page. */
function brokenImages(dom: string, base: string): string[] {
  return [...dom.matchAll(/<img\b[^>]*\bsrc="([^"]*)"/g)].map((m) => m[1]!).filter((src) => !src.startsWith('data:') && !existsSync(join(base, src)));
}

test('demo all --quick --html: every demo of the registry on one page, checked in headless Chromium', async () => {
  const html = join(dir, 'class');
  const r = await demos.start(['all', '--quick', '--json', '--html', html]).done;
  const names = Object.keys(DEMOS);
  const json = JSON.parse(r.stdout);
  assert.equal(json.demos.map((d: { name: string }) => d.name), names, 'all of them, in registry order');
  for (const d of json.demos) assert.ok(d.ok, `${d.name}: ${d.error}`);
  assert.is(r.exitCode, 0, r.stderr);
  for (const [i, n] of names.entries()) assert.match(r.stderr, `[${i + 1}/${names.length}] ${n}: ok in `);
  const page = readFileSync(join(html, 'index.html'), 'utf8');
  assert.is(json.html, join(html, 'index.html'));
  for (const n of names) assert.match(page, `<h2 id="${n}">`);
  assert.is(page.match(/<section class="demo">/g)?.length, names.length, 'no failed section');
  assert.is(page.match(/<svg /g)?.length, names.length, 'one inline chart per demo');
  assert.ok((page.match(/<table>/g)?.length ?? 0) >= names.length);
  assert.not.match(page, /<img\b/, 'charts are inline SVG: nothing to load');
  if (!chromium) {
    console.log('SKIP the Chromium check: no chromium (scripts/setup.sh installs it)');
    return;
  }
  const png = join(dir, 'page.png');
  const shot = chrome(['--window-size=1280,2400', `--screenshot=${png}`, `file://${join(html, 'index.html')}`]);
  assert.ok(existsSync(png), `chromium wrote no screenshot: ${shot.stderr.slice(-400)}`);
  const bytes = readFileSync(png);
  assert.equal([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
  assert.is(bytes.readUInt32BE(16), 1280, 'as wide as the window');
  assert.ok(statSync(png).size > 20_000, `a page with content, not a blank image (${statSync(png).size} bytes)`);
  const dom = chrome(['--dump-dom', `file://${join(html, 'index.html')}`]);
  assert.is(dom.status, 0, dom.stderr.slice(-400));
  assert.is(dom.stdout.match(/<svg /g)?.length, names.length, 'the charts are in the rendered DOM');
  assert.equal(brokenImages(dom.stdout, html), []);
});

test('demo NAME --html DIR: a page for one demo; bad option values are usage errors', async () => {
  const html = join(dir, 'one');
  const r = await demos.start(['sysctl', '--quick', '--html', html]).done;
  assert.is(r.exitCode, 0, r.stderr);
  const page = readFileSync(join(html, 'index.html'), 'utf8');
  assert.match(page, '<h2 id="sysctl">');
  assert.match(page, /1 demos run .* with --quick/);
  const noDir = await demos.start(['sysctl', '--html']).done;
  assert.is(noDir.exitCode, 2);
  assert.match(noDir.stderr, 'option --html needs a directory name');
  const svgAll = await demos.start(['all', '--svg', join(dir, 'x.svg')]).done;
  assert.is(svgAll.exitCode, 2);
  assert.match(svgAll.stderr, /"tsrun demo all" takes --html DIR/);
});

test('demo all interrupted with SIGINT: the running demo cleans up, then it stops with 130', async () => {
  const d = demos.start(['all', '--quick']);
  // The running demo is the child of `demo all`; its lab dir carries its pid.
  const child = (): number | undefined => Number(spawnSync('ps', ['-o', 'pid=', '--ppid', String(d.pid)], { encoding: 'utf8' }).stdout.trim().split('\n')[0]) || undefined;
  const childLab = (pid: number): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith(`tsrun-demo-${pid}-`));
  let pid: number | undefined;
  assert.ok(await waitFor(() => (pid = child()) !== undefined && childLab(pid).length > 0, 30_000), 'the first demo is running');
  await sleepMs(500);
  process.kill(d.pid, 'SIGINT');
  const r = await d.done;
  assert.is(r.exitCode, 130, r.stderr);
  assert.match(r.stderr, 'tsrun demo all: SIGINT: stopped');
  assert.equal(childLab(pid!), [], 'the demo removed its lab');
  assert.is(spawnSync('ps', ['-p', String(pid)]).status, 1, 'and is gone');
  assert.not.ok(readdirSync(tmpdir()).some((n) => n.startsWith('tsrun-demoall-') && !allBefore.has(n)), 'the work dir of demo all is gone');
});

test.run();
