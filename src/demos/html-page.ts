// One HTML page for a class: every demo's title, tables, explanations and
// chart (`tsrun demo all --html DIR`). Self-contained: the charts are inline
// SVG (report.ts barChartSvg) and the style is inline, so the page has no
// image or stylesheet that could fail to load, and it can be mailed or
// opened from a USB stick. Pure: the caller writes the file.
import { barChartSvg, escapeXml, type DemoReport, type Table } from './report.ts';

export interface PageEntry {
  name: string;
  summary: string;
  /** Wall-clock seconds the demo took. */
  seconds: number;
  report?: DemoReport;
  /** Why the demo failed, when it did. */
  error?: string;
}

export interface PageMeta {
  generated: string;
  kernel: string;
  cgroup: string;
  quick: boolean;
}

const esc = escapeXml;

function table(t: Table): string {
  const cell = (c: string | number, tag: 'td' | 'th'): string => `<${tag}${typeof c === 'number' ? ' class="num"' : ''}>${esc(String(c))}</${tag}>`;
  return [
    t.title ? `<p class="table-title">${esc(t.title)}</p>` : '',
    '<table>',
    `<thead><tr>${t.headers.map((h) => cell(h, 'th')).join('')}</tr></thead>`,
    `<tbody>${t.rows.map((r) => `<tr>${r.map((c) => cell(c, 'td')).join('')}</tr>`).join('\n')}</tbody>`,
    '</table>',
  ].join('\n');
}

function section(e: PageEntry): string {
  const head = `<h2 id="${esc(e.name)}">${esc(e.name)} <span class="took">${e.seconds.toFixed(1)} s${e.error ? ', failed' : ''}</span></h2>\n<p class="summary">${esc(e.summary)}</p>`;
  if (!e.report) return `<section class="demo failed">\n${head}\n<pre class="error">${esc(e.error ?? 'no report')}</pre>\n</section>`;
  const r = e.report;
  return [
    '<section class="demo">',
    head,
    `<p class="title">${esc(r.title)}</p>`,
    ...r.tables.map(table),
    `<ul class="why">${r.explanations.map((x) => `<li>${esc(x)}</li>`).join('\n')}</ul>`,
    // Inline: the SVG document minus nothing (an <svg> element is valid HTML).
    r.chart ? `<figure class="chart">${barChartSvg(r.chart)}</figure>` : '',
    '</section>',
  ].join('\n');
}

export function renderPage(entries: PageEntry[], meta: PageMeta): string {
  const failed = entries.filter((e) => e.error).length;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tsrun demos</title>
<style>
body { font-family: sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
.meta { color: #555; }
nav ol { columns: 3; }
section.demo { border-top: 2px solid #4e79a7; margin-top: 2.5em; padding-top: 0.5em; }
section.failed { border-top-color: #e15759; }
.took { font-size: 0.6em; color: #666; font-weight: normal; }
.summary { font-style: italic; }
.title { font-weight: bold; }
.table-title { margin-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f4f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.why li { margin-bottom: 0.4em; line-height: 1.35; }
figure.chart { margin: 1em 0; overflow-x: auto; }
pre.error { background: #fff0f0; padding: 0.8em; white-space: pre-wrap; }
</style>
</head>
<body>
<h1>tsrun demos</h1>
<p class="meta">${entries.length} demos run ${esc(meta.generated)}${meta.quick ? ' with --quick' : ''} on Linux ${esc(meta.kernel)} (${esc(meta.cgroup)}), ${failed === 0 ? 'all ran to the end' : `${failed} failed`}. Every number below was measured during that run.</p>
<nav><ol>${entries.map((e) => `<li><a href="#${esc(e.name)}">${esc(e.name)}</a>${e.error ? ' (failed)' : ''}</li>`).join('')}</ol></nav>
${entries.map(section).join('\n')}
</body>
</html>
`;
}
