// Pure parts of the demos added for chapters 11-14 and the class page:
// netlat's noise judgement, the disk demos' key=value parsing, and the HTML
// page (escaping, one section per demo, inline charts, failures shown).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { judgeNoise, NOISE_LIMIT, spread } from '../../src/demos/netlat.ts';
import { keyValues, median } from '../../src/demos/disk-lab.ts';
import { renderPage } from '../../src/demos/html-page.ts';
import type { DemoReport } from '../../src/demos/report.ts';

test('spread: (max - min) / median, 0 for one value', () => {
  assert.is(spread([100]), 0);
  assert.is(spread([90, 100, 110]), 0.2);
  assert.is(spread([100, 105]), Number((5 / 102.5).toFixed(3)));
});

test('judgeNoise: noisy when any path spreads more than the limit', () => {
  const quiet = judgeNoise({ host: [100, 104], veth: [95, 97] }, 'rounds');
  assert.is(quiet.noisy, false);
  assert.is(quiet.worstPath, 'host');
  assert.is(quiet.limit, NOISE_LIMIT);
  const noisy = judgeNoise({ host: [100, 104], veth: [80, 97, 95] }, 'rounds');
  assert.is(noisy.noisy, true);
  assert.is(noisy.worstPath, 'veth');
  assert.ok(noisy.worstSpread > NOISE_LIMIT);
  assert.is(judgeNoise({ host: [100, 100] }, 'host measured twice').noisy, false);
});

test('keyValues and median', () => {
  assert.equal(keyValues('a=1\nnoise line\n b_2=x=y \nfirst_file-16m=35'), { a: '1', b_2: 'x=y', 'first_file-16m': '35' });
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 2, 3]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('renderPage: a section per demo with escaped tables, explanations and an inline chart; failures shown', () => {
  const report: DemoReport = {
    demo: 'x<y',
    title: 'A & B',
    tables: [{ title: 't', headers: ['h'], rows: [['<b>'], [42]] }],
    explanations: ['why "so"'],
    chart: { title: 'c', yLabel: 'ms', bars: [{ label: 'one', value: 1 }] },
    data: {},
  };
  const page = renderPage([
    { name: 'ok', summary: 's', seconds: 1.25, report },
    { name: 'bad', summary: 's2', seconds: 2, error: 'boom <here>' },
  ], { generated: 'now', kernel: '6.x', cgroup: 'cgroup v1', quick: true });
  assert.match(page, /^<!DOCTYPE html>/);
  assert.match(page, '<h2 id="ok">ok <span class="took">1.3 s</span></h2>');
  assert.match(page, '<td>&lt;b&gt;</td>');
  assert.match(page, '<td class="num">42</td>');
  assert.match(page, '<li>why &quot;so&quot;</li>');
  assert.match(page, 'A &amp; B');
  assert.is(page.match(/<svg /g)?.length, 1);
  assert.match(page, '<section class="demo failed">');
  assert.match(page, 'boom &lt;here&gt;');
  assert.match(page, '2 demos run now with --quick on Linux 6.x (cgroup v1), 1 failed.');
  assert.not.match(page, /<img\b/);
});

test.run();
