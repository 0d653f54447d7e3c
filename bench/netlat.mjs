// Part 5: the ratios of `tsrun demo netlat --json`. The demo's JSON layout is
// its own; this looks for a ready-made macvlan/host ratio first, then for
// transactions-per-second figures labelled macvlan and host, and keeps the
// whole document either way.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT } from './setup.mjs';

function walk(v, path, visit) {
  visit(v, path);
  if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...path, k], visit);
}

const TPS = /trans|tps|per_?s(ec)?$|persec|rate/i;

/** macvlan / host transactions per second, and where in the document it came from. */
export function macvlanOverHost(doc) {
  let ratio;
  walk(doc, [], (v, path) => {
    const key = path.join('.');
    if (ratio === undefined && typeof v === 'number' && /macvlan/i.test(key) && /host/i.test(key) && /ratio|over|vs|\//i.test(key)) {
      ratio = { value: v, source: key };
    }
  });
  if (ratio) return ratio;
  const tps = { macvlan: [], host: [] };
  walk(doc, [], (v, path) => {
    if (typeof v !== 'number' || !TPS.test(String(path.at(-1)))) return;
    // a label is a key on the path or a name-like string beside the number
    const labels = path.join('.');
    const owner = path.slice(0, -1).reduce((o, k) => o?.[k], doc);
    const names = owner && typeof owner === 'object' ? Object.values(owner).filter((x) => typeof x === 'string').join(' ') : '';
    for (const which of ['macvlan', 'host']) {
      if (new RegExp(which, 'i').test(`${labels} ${names}`) && !new RegExp(which === 'host' ? 'macvlan|veth' : 'host', 'i').test(`${labels} ${names}`)) {
        tps[which].push({ value: v, source: path.join('.') });
      }
    }
  });
  if (tps.macvlan.length === 1 && tps.host.length === 1 && tps.host[0].value > 0) {
    return { value: tps.macvlan[0].value / tps.host[0].value, source: `${tps.macvlan[0].source} / ${tps.host[0].source}` };
  }
  return undefined;
}

export function runNetlat(quick) {
  const args = ['demo', 'netlat', '--json', ...(quick ? ['--quick'] : [])];
  const r = spawnSync(join(PROJECT, 'bin/tsrun'), args, { encoding: 'utf8', timeout: (quick ? 3 : 15) * 60_000, maxBuffer: 64 << 20 });
  const firstLine = (s) => (s ?? '').trim().split('\n').find(Boolean) ?? '';
  if (r.error) return { skipped: `demo netlat not available: ${r.error.message}` };
  if (r.status !== 0) return { skipped: `demo netlat not available: ${firstLine(r.stderr) || `exit ${r.status}`}` };
  let doc;
  try {
    doc = JSON.parse(r.stdout);
  } catch (e) {
    return { skipped: `demo netlat not available: output is not JSON (${e.message})` };
  }
  const found = macvlanOverHost(doc);
  return {
    command: `tsrun ${args.join(' ')}`,
    macvlanOverHost: found?.value ?? null,
    ratioSource: found?.source ?? 'no macvlan/host transactions-per-second figures found in the JSON',
    netlat: doc,
  };
}
