// A grouped bar chart as a standalone SVG string: categories along x, one bar
// per series in each group, a labelled linear y axis from 0 with "nice" ticks,
// optional dashed reference lines and a legend. No dependencies, so the chart
// opens in any browser straight from bench/results/.

const COLOURS = ['#d9480f', '#1864ab', '#2b8a3e', '#862e9c', '#5f3dc4', '#e67700'];

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function niceStep(max, ticks) {
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
}

const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

/**
 * @param {{title: string, xLabel: string, yLabel: string, categories: string[],
 *   series: Array<{name: string, values: Array<number|null|undefined>}>,
 *   refLines?: Array<{label: string, value: number}>, width?: number, height?: number}} chart
 * @returns {{body: string, width: number, height: number}} an SVG group (no <svg> wrapper)
 */
export function barChartGroup(chart) {
  const width = chart.width ?? 860;
  const height = chart.height ?? 380;
  const m = { top: 40, right: 150, bottom: 56, left: 70 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const values = chart.series.flatMap((s) => s.values).filter(Number.isFinite);
  const refs = chart.refLines ?? [];
  const max = Math.max(1e-9, ...values, ...refs.map((r) => r.value));
  const step = niceStep(max, 5);
  const top = Math.ceil(max / step) * step;
  const y = (v) => m.top + plotH - (v / top) * plotH;
  const out = [];
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${esc(chart.title)}</text>`);
  // as many decimals as the step needs, so ticks read 0, 25, 50 or 0, 2.5, 5.0
  const decimals = [0, 1, 2, 3, 4, 5].find((d) => Math.abs(step * 10 ** d - Math.round(step * 10 ** d)) < 1e-6) ?? 6;
  for (let i = 0; i * step <= top + step / 2; i++) {
    const v = i * step;
    out.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${v.toFixed(decimals)}</text>`);
  }
  const groupW = plotW / Math.max(1, chart.categories.length);
  const barW = (groupW * 0.8) / Math.max(1, chart.series.length);
  chart.categories.forEach((cat, ci) => {
    const gx = m.left + ci * groupW + groupW * 0.1;
    chart.series.forEach((s, si) => {
      const v = s.values[ci];
      if (!Number.isFinite(v)) return;
      const x = gx + si * barW;
      out.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(m.top + plotH - y(v)).toFixed(1)}" fill="${COLOURS[si % COLOURS.length]}"><title>${esc(`${s.name} ${cat}: ${fmt(v)}`)}</title></rect>`);
      out.push(`<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" font-size="9">${fmt(v)}</text>`);
    });
    out.push(`<text x="${(m.left + (ci + 0.5) * groupW).toFixed(1)}" y="${m.top + plotH + 16}" text-anchor="middle" font-size="12">${esc(cat)}</text>`);
  });
  for (const r of refs) {
    out.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${y(r.value)}" y2="${y(r.value)}" stroke="#444" stroke-dasharray="5,4"/>`);
    out.push(`<text x="${m.left + plotW + 4}" y="${y(r.value) + 4}" font-size="11">${esc(r.label)}</text>`);
  }
  out.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + plotH}" stroke="#000"/>`);
  out.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${m.top + plotH}" y2="${m.top + plotH}" stroke="#000"/>`);
  out.push(`<text x="${m.left + plotW / 2}" y="${height - 12}" text-anchor="middle" font-size="13">${esc(chart.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="13">${esc(chart.yLabel)}</text>`);
  chart.series.forEach((s, si) => {
    const ly = m.top + 10 + si * 20;
    out.push(`<rect x="${m.left + plotW + 14}" y="${ly - 9}" width="12" height="12" fill="${COLOURS[si % COLOURS.length]}"/>`);
    out.push(`<text x="${m.left + plotW + 32}" y="${ly + 1}" font-size="12">${esc(s.name)}</text>`);
  });
  return { body: out.join('\n'), width, height };
}

/** Stacks charts vertically into one SVG document. */
export function svgDocument(charts) {
  const groups = charts.map(barChartGroup);
  const width = Math.max(...groups.map((g) => g.width));
  let offset = 0;
  const parts = groups.map((g) => {
    const s = `<g transform="translate(0 ${offset})">\n${g.body}\n</g>`;
    offset += g.height;
    return s;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${offset}" viewBox="0 0 ${width} ${offset}" font-family="sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
${parts.join('\n')}
</svg>
`;
}
