// Turns the results into target verdicts, a text table and the SVG charts.
import { containerdReport, containerdTargets } from './containerd.mjs';
import { round } from './lib.mjs';
import { svgDocument } from './svg.mjs';

const RT_ORDER = ['tsrun', 'runc', 'crun'];
const VERBS = ['state', 'kill', 'start', 'delete', 'create'];
const VERB_BUDGET_MS = { state: 8, kill: 8, start: 8, create: 25, delete: 15 };
export const INIT_LIMITS = { vmRssKb: 32, fileBytes: 20 * 1024 };

function target(name, measured, cmp, limit, unit, extra = {}) {
  const ok = Number.isFinite(measured) && Number.isFinite(limit);
  const pass = ok ? (cmp === '<=' ? measured <= limit : measured >= limit) : null;
  const missBy = ok && !pass ? Math.abs(measured - limit) : 0;
  return {
    name, measured: round(measured, 3), cmp, limit: round(limit, 3), unit, pass,
    missBy: round(missBy, 3), missByPercent: ok && !pass && limit !== 0 ? round((missBy / limit) * 100, 1) : null, ...extra,
  };
}

export function evaluateTargets(r) {
  const t = [];
  const floor = r.perVerb?.floor?.median;
  for (const verb of VERBS) {
    const v = r.perVerb?.verbs?.[verb]?.tsrun?.median;
    t.push(target(`${verb} (tsrun median)`, v, '<=', floor + VERB_BUDGET_MS[verb], 'ms', { rule: `node floor + ${VERB_BUDGET_MS[verb]} ms` }));
  }
  const sc = r.seccomp?.runtimes?.tsrun;
  t.push(target('create: podman\'s seccomp profile adds (tsrun median)', sc?.extraMs, '<=', 5, 'ms', r.seccomp?.skipped ? { note: r.seccomp.skipped } : {}));
  const life = r.lifecycle?.createStartWaitDelete;
  t.push(target('lifecycle tsrun / runc', life?.tsrun?.median / life?.runc?.median, '<=', 2.5, '×'));
  const conc = r.throughput?.concurrent?.runtimes;
  t.push(target(`${r.throughput?.concurrent?.containers} concurrent: tsrun rate / runc rate`,
    conc?.tsrun?.perSecond?.median / conc?.runc?.perSecond?.median, '>=', 0.5, '×'));
  t.push(target('concurrent: tsrun failures', conc?.tsrun?.failures, '<=', 0, 'failures'));
  const ours = `${r.meta.idPrefix}-tsrun-`;
  const leaks = [...(conc?.tsrun?.leaks ?? []), ...(r.leaks?.view?.tsrun ?? []), ...(r.leaks?.hostView ?? []).filter((x) => x.includes(ours)),
    ...(r.leaks?.runningInits ?? []).map((p) => `live container init pid ${p}`)];
  t.push(target('tsrun leaked nothing (state, cgroups, processes)', leaks.length, '<=', 0, 'leftovers', leaks.length ? { leaks } : {}));
  const init = Array.isArray(r.initFootprint) ? r.initFootprint.find((x) => x.name === 'tsrun-init') : undefined;
  t.push(target('tsrun-init VmRSS', init?.vmRssKb, '<=', INIT_LIMITS.vmRssKb, 'kB'));
  t.push(target('tsrun-init on disk', init?.fileBytes, '<=', INIT_LIMITS.fileBytes, 'bytes'));
  const net = r.network?.macvlanOverHost;
  t.push(target('netlat: macvlan / host transactions/s', net, '>=', 0.97, '×',
    r.network?.skipped ? { note: r.network.skipped } : {}));
  t.push(...containerdTargets(r.containerd, target));
  return t;
}

function table(headers, rows) {
  const cells = [headers, ...rows].map((row) => row.map((c) => (c === undefined || c === null ? '-' : String(c))));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

const digits = (t) => ({ '×': 3, ms: 1 })[t.unit] ?? 0;
const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

export function formatReport(r) {
  const rts = RT_ORDER.filter((n) => r.meta.runtimes.includes(n));
  const out = [];
  const floor = r.perVerb.floor.median;
  out.push(`tsrun bench${r.meta.quick ? ' (quick)' : ''}: ${r.meta.date}, ${r.meta.cgroupView}`);
  for (const [n, why] of Object.entries(r.meta.skipped)) out.push(`  ${n} skipped: ${why}`);
  out.push('', `Per verb: median ms of ${r.perVerb.samples} interleaved samples [p25-p75]; node floor (node -e 0) = ${f(floor)} ms`);
  out.push(table(['verb', ...rts, 'tsrun - floor', 'tsrun / runc'], VERBS.map((v) => {
    const row = r.perVerb.verbs[v];
    return [v, ...rts.map((n) => `${f(row[n]?.median)} [${f(row[n]?.p25)}-${f(row[n]?.p75)}]`),
      `+${f(row.tsrun?.median - floor)}`, `${f(row.tsrun?.median / row.runc?.median, 2)}×`];
  })));
  out.push('', `Lifecycle of /bin/true: median ms of ${r.lifecycle.samples} interleaved samples`);
  const ph = (n) => ['create', 'start', 'wait', 'delete'].map((p) => f(r.lifecycle.phases?.[n]?.[p])).join(' / ');
  out.push(table(['', ...rts, 'tsrun / runc'], [
    ...[['create+start+wait+delete', 'createStartWaitDelete'], ['run (foreground)', 'run']].map(([label, k]) =>
      [label, ...rts.map((n) => f(r.lifecycle[k][n]?.median)), `${f(r.lifecycle[k].tsrun?.median / r.lifecycle[k].runc?.median, 2)}×`]),
    ['  phases: create/start/wait/delete', ...rts.map(ph), ''],
  ]));
  if (r.seccomp?.skipped) out.push('', `create with podman's seccomp profile: skipped: ${r.seccomp.skipped}`);
  else if (r.seccomp) {
    out.push('', `create of /bin/true without and with podman's default seccomp profile: median ms of ${r.seccomp.samples} interleaved samples`);
    out.push(table(['', ...rts], [
      ['create', ...rts.map((n) => f(r.seccomp.runtimes[n]?.plain?.median))],
      ['create + profile', ...rts.map((n) => f(r.seccomp.runtimes[n]?.profile?.median))],
      ['the profile adds', ...rts.map((n) => `+${f(r.seccomp.runtimes[n]?.extraMs)}`)],
    ]));
  }
  const c = r.throughput.concurrent;
  out.push('', `Throughput: ${c.containers} containers created+started at once (median of ${c.rounds} rounds); ${r.throughput.sequential.runs} sequential runs`);
  out.push(table(['', ...rts], [
    ['concurrent containers/s', ...rts.map((n) => f(c.runtimes[n]?.perSecond?.median))],
    ['concurrent failures', ...rts.map((n) => c.runtimes[n]?.failures)],
    ['concurrent leftovers', ...rts.map((n) => c.runtimes[n]?.leaks?.length)],
    ['leftovers at the end', ...rts.map((n) => r.leaks.view?.[n]?.length)],
    ['sequential runs: total s', ...rts.map((n) => f(r.throughput.sequential.runtimes[n]?.totalSeconds, 2))],
    ['sequential runs: median ms', ...rts.map((n) => f(r.throughput.sequential.runtimes[n]?.perRun?.median))],
  ]));
  out.push('', 'Init footprint (PID 1 with `sleep 30` as its child; median of 3)');
  if (Array.isArray(r.initFootprint)) {
    out.push(table(['init', 'linking', 'file bytes', 'VmRSS kB', 'Pss kB'], r.initFootprint.map((x) => [x.name, x.linking, x.fileBytes, x.vmRssKb, x.pssKb])));
  } else out.push(`  skipped: ${r.initFootprint.skipped}`);
  out.push('', `Network (tsrun demo netlat): ${r.network.skipped ? `skipped: ${r.network.skipped}` : `macvlan / host = ${f(r.network.macvlanOverHost, 3)} (${r.network.ratioSource})`}`);
  out.push('', ...containerdReport(r.containerd, f));
  if (r.failures.length) {
    out.push('', `Failed commands (${r.failures.length}):`);
    for (const x of r.failures.slice(0, 10)) out.push(`  ${x.runtime} ${x.id}: ${x.error}`);
  }
  out.push('', 'Targets');
  out.push(table(['target', 'measured', 'limit', 'verdict'], r.targets.map((t) => [
    t.name, `${f(t.measured, digits(t))} ${t.unit}`, `${t.cmp} ${f(t.limit, digits(t))}${t.rule ? ` (${t.rule})` : ''}`,
    t.pass === null ? 'n/a' : t.pass ? 'pass' : `MISS by ${f(t.missBy, digits(t))} ${t.unit}${t.missByPercent === null ? '' : ` (${t.missByPercent}%)`}`,
  ])));
  return out.join('\n');
}

export function charts(r) {
  const rts = RT_ORDER.filter((n) => r.meta.runtimes.includes(n));
  const cats = [...VERBS, 'lifecycle', 'run'];
  const val = (n, cat) => (VERBS.includes(cat) ? r.perVerb.verbs[cat][n]?.median
    : r.lifecycle[cat === 'run' ? 'run' : 'createStartWaitDelete'][n]?.median);
  return svgDocument([
    {
      title: `Median time per operation (${r.perVerb.samples} interleaved samples each)`,
      xLabel: 'operation (lifecycle = create + start + wait + delete of /bin/true)',
      yLabel: 'median wall time (ms)',
      categories: cats,
      series: rts.map((n) => ({ name: n, values: cats.map((cat) => val(n, cat)) })),
      refLines: [{ label: `node -e 0: ${f(r.perVerb.floor.median)} ms`, value: r.perVerb.floor.median }],
    },
    {
      title: 'Throughput',
      xLabel: 'workload',
      yLabel: 'containers per second',
      height: 320,
      categories: [`${r.throughput.concurrent.containers} concurrent create+start`, `${r.throughput.sequential.runs} sequential runs`],
      series: rts.map((n) => ({
        name: n,
        values: [r.throughput.concurrent.runtimes[n]?.perSecond?.median,
          1000 / r.throughput.sequential.runtimes[n]?.perRun?.median],
      })),
    },
  ]);
}
