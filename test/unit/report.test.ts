// The demos' shared output (src/demos/report.ts): the SVG bar chart
// (well-formed, escaped, bars scaled to their values), the text table, the
// number format, the progress line (silent off a TTY), and the text, JSON
// and SVG outputs of a report.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  barChartSvg, createProgress, escapeXml, formatNumber, formatTable, renderJson, renderText, writeReport, type DemoReport,
} from '../../src/demos/report.ts';

/** Checks that every tag is closed in order; returns the tag names seen. */
function wellFormed(xml: string): string[] {
  const stack: string[] = [];
  const seen: string[] = [];
  for (const m of xml.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g)) {
    const [, closing, name, , selfClosing] = m;
    seen.push(name!);
    if (closing) assert.is(stack.pop(), name, `</${name}> closes the open tag`);
    else if (!selfClosing) stack.push(name!);
  }
  assert.equal(stack, [], 'every tag is closed');
  // Nothing tag-like is left over once the tags are removed: text is escaped.
  assert.not.match(xml.replace(/<[^>]*>/g, ''), /[<>]/);
  return seen;
}

const barHeights = (svg: string): number[] =>
  [...svg.matchAll(/<rect class="bar"[^>]* height="([\d.]+)"/g)].map((m) => Number(m[1]));

test('barChartSvg: a standalone, well-formed SVG document with title, axes and labels', () => {
  const svg = barChartSvg({ title: 'Zombies left', yLabel: 'zombie processes', bars: [{ label: 'sleep as PID 1', value: 5, note: '5 orphans' }, { label: 'tsrun-init', value: 0 }] });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  const tags = wellFormed(svg);
  assert.ok(tags.includes('title'));
  assert.ok(tags.filter((t) => t === 'line').length >= 2, 'two axes and grid lines');
  for (const text of ['Zombies left', 'zombie processes', 'sleep as', 'PID 1', 'tsrun-init', '5 orphans', '>5<', '>0<']) assert.ok(svg.includes(text), text);
  assert.match(svg, /viewBox="0 0 \d+ \d+"/);
  assert.not.match(svg, /NaN|undefined|Infinity/);
});

test('barChartSvg escapes labels, notes, title and axis label', () => {
  const svg = barChartSvg({ title: 'a <b> & "c"', yLabel: "y's <unit>", bars: [{ label: '<script>alert(1)</script>', value: 1, note: 'x & y' }] });
  wellFormed(svg);
  assert.not.ok(svg.includes('<script>'));
  assert.not.ok(svg.includes('<b>'));
  assert.ok(svg.includes('a &lt;b&gt; &amp; &quot;c&quot;'));
  assert.ok(svg.includes('y&apos;s &lt;unit&gt;'));
  assert.ok(svg.includes('x &amp; y'));
  assert.is(escapeXml(`<&>"'`), '&lt;&amp;&gt;&quot;&apos;');
});

test('barChartSvg scales bars to their values on a shared axis', () => {
  const [a, b, c, d] = barHeights(barChartSvg({ title: 't', yLabel: 'y', bars: [{ label: 'a', value: 10 }, { label: 'b', value: 5 }, { label: 'c', value: 0 }, { label: 'd', value: 2.5 }] }));
  assert.ok(a! > 0);
  assert.ok(Math.abs(a! / b! - 2) < 0.02, `10 is twice 5 (${a} vs ${b})`);
  assert.ok(Math.abs(b! / d! - 2) < 0.05, `5 is twice 2.5 (${b} vs ${d})`);
  assert.is(c, 0, 'a zero value has no bar');
  const [big, small] = barHeights(barChartSvg({ title: 't', yLabel: 'y', bars: [{ label: 'host', value: 7200 }, { label: 'ct', value: 600 }] }));
  assert.ok(Math.abs(big! / small! - 12) < 0.1);
});

test('barChartSvg copes with nothing to draw: no bars, all zero, negative and NaN values', () => {
  for (const bars of [[], [{ label: 'z', value: 0 }], [{ label: 'n', value: -3 }, { label: 'q', value: Number.NaN }]]) {
    const svg = barChartSvg({ title: 'empty', yLabel: 'y', bars });
    wellFormed(svg);
    assert.not.match(svg, /="NaN"|="-|Infinity/);
    assert.ok(barHeights(svg).every((h) => h === 0));
  }
});

test('barChartSvg: the y axis has ticks up to at least the largest value', () => {
  const svg = barChartSvg({ title: 't', yLabel: 'y', bars: [{ label: 'a', value: 3.05 }, { label: 'b', value: 0.01 }] });
  const ticks = [...svg.matchAll(/text-anchor="end" font-size="12">([\d.]+)</g)].map((m) => Number(m[1]));
  assert.is(ticks[0], 0);
  assert.ok(ticks[ticks.length - 1]! >= 3.05);
  assert.ok(ticks.length >= 3 && ticks.length <= 7, `${ticks.length} ticks`);
});

test('formatTable: headers, a rule, text left-aligned and numbers right-aligned', () => {
  const text = formatTable(['PID 1', 'zombies'], [['sleep', 10], ['tsrun-init', 0]]);
  assert.is(text, [
    'PID 1       zombies',
    '----------  -------',
    'sleep            10',
    'tsrun-init        0',
  ].join('\n'));
  assert.is(formatTable(['a'], []), 'a\n-');
});

test('formatNumber keeps at most 3 significant decimals and no trailing zeros', () => {
  assert.is(formatNumber(7200), '7200');
  assert.is(formatNumber(0), '0');
  assert.is(formatNumber(0.0234), '0.02');
  assert.is(formatNumber(1.5), '1.5');
  assert.is(formatNumber(3.049), '3.05');
  assert.is(formatNumber(12.34), '12.3');
  assert.is(formatNumber(123.4), '123');
});

test('createProgress writes nothing when the stream is not a TTY, and a clearable line on a TTY', () => {
  const written: string[] = [];
  const pipe = createProgress({ isTTY: false, write: (s: string) => written.push(s) });
  pipe.step('starting');
  pipe.done();
  assert.equal(written, []);
  const tty = createProgress({ isTTY: true, write: (s: string) => written.push(s) });
  tty.step('starting the container');
  tty.done();
  assert.ok(written.some((s) => s.includes('starting the container')));
  assert.is(written[written.length - 1], '\r\x1b[K', 'done() clears the line');
  const narrow: string[] = [];
  const small = createProgress({ isTTY: true, columns: 20, write: (s: string) => narrow.push(s) });
  small.step('x'.repeat(100));
  small.done();
  assert.is(narrow[0]!.replace('\r\x1b[K', '').length, 19, 'the line is cut to the terminal width');
});

const REPORT: DemoReport = {
  demo: 'zombies',
  title: 'Zombies: 5 orphans',
  tables: [{ title: 'Counts:', headers: ['PID 1', 'zombies'], rows: [['sleep', 5], ['tsrun-init', 0]] }],
  explanations: ['sleep never waits.'],
  chart: { title: 'Zombies', yLabel: 'count', bars: [{ label: 'sleep', value: 5 }, { label: 'tsrun-init', value: 0 }] },
  data: { orphans: 5, results: [{ pid1: 'sleep', zombies: 5 }] },
};

test('renderText and renderJson show the same report', () => {
  const text = renderText(REPORT);
  assert.ok(text.startsWith('Zombies: 5 orphans\n\nCounts:\nPID 1'));
  assert.match(text, /\n- sleep never waits\.\n$/);
  const json = JSON.parse(renderJson(REPORT, true));
  assert.equal(json, { demo: 'zombies', quick: true, orphans: 5, results: [{ pid1: 'sleep', zombies: 5 }], explanations: ['sleep never waits.'] });
});

test('writeReport prints text or JSON and writes the chart for --svg', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-report-test-'));
  try {
    let out = '';
    const svg = join(dir, 'chart.svg');
    writeReport(REPORT, { json: false, svg, quick: false }, { write: (s: string) => (out += s) });
    assert.match(out, /chart written to .*chart\.svg\n$/);
    assert.ok(readFileSync(svg, 'utf8').startsWith('<svg'));
    out = '';
    writeReport(REPORT, { json: true, quick: false }, { write: (s: string) => (out += s) });
    assert.is(JSON.parse(out).demo, 'zombies');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
