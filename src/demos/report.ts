// What every demo prints, in one place so all demos look alike:
//
//   formatTable(headers, rows)      plain-text table (numbers right-aligned)
//   barChartSvg({title, yLabel, bars})   a standalone SVG bar chart (pure)
//   createProgress(stream)          a spinner + step line on a TTY, silent otherwise
//   writeReport(report, options)    the table(s) and explanations, or --json,
//                                   and the chart file for --svg
//
// A demo builds a DemoReport: `data` is its machine-readable result (the JSON
// of --json, with stable field names), `tables` and `explanations` are the
// human view of the same numbers, `chart` is what --svg draws.
import { writeFileSync } from 'node:fs';
import { RuntimeError } from '../runtime/errors.ts';

export type Cell = string | number;

export interface Table {
  title?: string;
  headers: string[];
  rows: Cell[][];
}

export interface Bar {
  label: string;
  /** Drawn from 0; negative and non-finite values are drawn as 0. */
  value: number;
  /** A short second line under the label (e.g. "still running"). */
  note?: string;
}

export interface BarChart {
  title: string;
  yLabel: string;
  bars: Bar[];
}

export interface DemoReport {
  demo: string;
  /** One line saying what was run. */
  title: string;
  tables: Table[];
  /** One sentence each: why the numbers came out as they did. */
  explanations: string[];
  chart?: BarChart;
  /** The --json output (besides demo, quick and explanations). */
  data: Record<string, unknown>;
}

export interface ReportOptions {
  json: boolean;
  svg?: string;
  quick: boolean;
}

/** Text columns left-aligned, numbers right-aligned, two spaces between. */
export function formatTable(headers: string[], rows: Cell[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)));
  const line = (cells: Cell[]): string =>
    widths.map((w, i) => {
      const cell = cells[i] ?? '';
      return typeof cell === 'number' ? String(cell).padStart(w) : String(cell).padEnd(w);
    }).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** 3 significant digits at most, no trailing zeros: 0.25, 1.5, 42, 7200. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return String(n);
  const abs = Math.abs(n);
  return String(Number(n.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : 2)));
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** The smallest 1/2/5×10^n step that divides [0, max] into at most 5 parts. */
function niceStep(max: number): number {
  const raw = max / 5;
  const base = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * base).find((s) => s >= raw)!;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1', '#edc948', '#9c755f'];

/** A bar chart as a standalone SVG document: title, y axis with ticks and
 *  label, one bar per entry with its value above and its label (and note)
 *  below. Pure; labels are escaped. */
export function barChartSvg(chart: BarChart): string {
  const slot = 110;
  const left = 80, right = 24, top = 56, bottom = 92, plotH = 260;
  // Wide enough for the bars and for the title at ~10 px a character.
  const width = Math.max(left + right + Math.max(1, chart.bars.length) * slot, 40 + chart.title.length * 10);
  const height = top + plotH + bottom;
  const values = chart.bars.map((b) => (Number.isFinite(b.value) && b.value > 0 ? b.value : 0));
  const step = niceStep(Math.max(...values, 0) || 1);
  const max = Math.ceil((Math.max(...values, 0) || 1) / step) * step;
  const y = (v: number): number => top + plotH - (v / max) * plotH;
  const r = (n: number): string => String(Math.round(n * 10) / 10);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(chart.title)}" font-family="sans-serif">`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${r(width / 2)}" y="28" text-anchor="middle" font-size="17" font-weight="bold">${escapeXml(chart.title)}</text>`,
  ];
  for (let v = 0; v <= max + step / 1000; v += step) {
    out.push(`<line x1="${left}" y1="${r(y(v))}" x2="${width - right}" y2="${r(y(v))}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${left - 8}" y="${r(y(v) + 4)}" text-anchor="end" font-size="12">${formatNumber(v)}</text>`);
  }
  const midY = top + plotH / 2;
  out.push(`<text x="20" y="${r(midY)}" text-anchor="middle" font-size="13" transform="rotate(-90 20 ${r(midY)})">${escapeXml(chart.yLabel)}</text>`);
  chart.bars.forEach((bar, i) => {
    const cx = left + slot * i + slot / 2;
    const h = (values[i]! / max) * plotH;
    out.push(`<g class="bar"><title>${escapeXml(`${bar.label}: ${formatNumber(bar.value)}${bar.note ? ` (${bar.note})` : ''}`)}</title>`);
    out.push(`<rect class="bar" x="${r(cx - slot * 0.32)}" y="${r(top + plotH - h)}" width="${r(slot * 0.64)}" height="${r(h)}" fill="${PALETTE[i % PALETTE.length]}"/>`);
    out.push(`<text x="${r(cx)}" y="${r(top + plotH - h - 6)}" text-anchor="middle" font-size="13">${escapeXml(formatNumber(bar.value))}</text>`);
    wrap(bar.label, 16).slice(0, 3).forEach((part, j) => {
      out.push(`<text x="${r(cx)}" y="${top + plotH + 20 + j * 15}" text-anchor="middle" font-size="12">${escapeXml(part)}</text>`);
    });
    if (bar.note) {
      out.push(`<text x="${r(cx)}" y="${top + plotH + 70}" text-anchor="middle" font-size="11" font-style="italic" fill="#666666">${escapeXml(bar.note)}</text>`);
    }
    out.push('</g>');
  });
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333333"/>`);
  out.push(`<line x1="${left}" y1="${top + plotH}" x2="${width - right}" y2="${top + plotH}" stroke="#333333"/>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Splits on spaces into lines of at most `width` characters (longer words stay whole). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const last = lines[lines.length - 1];
    if (last !== undefined && last.length + 1 + word.length <= width) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  return lines;
}

export interface Progress {
  /** Shows what the demo is doing now (replaces the previous step). */
  step(text: string): void;
  /** Clears the line; call before printing results. */
  done(): void;
}

const FRAMES = ['|', '/', '-', '\\'];

/** A spinner with the current step on `stream` when it is a TTY; a no-op otherwise,
 *  so pipes, logs and --json consumers never see control characters. */
export function createProgress(stream: { isTTY?: boolean; columns?: number; write(s: string): unknown } = process.stderr): Progress {
  if (!stream.isTTY) return { step() {}, done() {} };
  let text = '';
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = (): void => {
    // One terminal line at most: a wrapped line could not be cleared with \r.
    stream.write(`\r\x1b[K${FRAMES[frame++ % FRAMES.length]} ${text.slice(0, Math.max(10, (stream.columns ?? 80) - 3))}`);
  };
  return {
    step(next) {
      text = next;
      draw();
      timer ??= setInterval(draw, 120).unref();
    },
    done() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (text) stream.write('\r\x1b[K');
      text = '';
    },
  };
}

/** The text view of a report: title, tables, explanations. */
export function renderText(report: DemoReport): string {
  const parts = [report.title, ''];
  for (const t of report.tables) {
    if (t.title) parts.push(t.title);
    parts.push(formatTable(t.headers, t.rows), '');
  }
  for (const e of report.explanations) parts.push(`- ${e}`);
  return `${parts.join('\n').trimEnd()}\n`;
}

/** The --json view: demo name, quick flag, the demo's data, explanations. */
export function renderJson(report: DemoReport, quick: boolean): string {
  return `${JSON.stringify({ demo: report.demo, quick, ...report.data, explanations: report.explanations }, null, 2)}\n`;
}

/** Prints the report (text or JSON) and writes the SVG chart when asked. */
export function writeReport(report: DemoReport, opts: ReportOptions, out: { write(s: string): unknown } = process.stdout): void {
  if (opts.svg) {
    if (!report.chart) throw new RuntimeError('ERR_DEMO', `demo ${report.demo} has no chart to write`);
    writeFileSync(opts.svg, barChartSvg(report.chart));
  }
  if (opts.json) {
    out.write(renderJson(report, opts.quick));
    return;
  }
  out.write(renderText(report));
  if (opts.svg) out.write(`\nchart written to ${opts.svg}\n`);
}
