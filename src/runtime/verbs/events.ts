// tsrun events [--stats] [--interval 5s] ID: with --stats, one stats line;
// otherwise a stats line every interval plus an {"type":"oom"} line for each
// OOM kill, until the container stops. Shapes: stats-json.ts.
//
// OOM kills are found by polling the cgroup's kill counter every 200 ms (v1
// memory.oom_control oom_kill, v2 memory.events oom_kill) rather than with
// runc's eventfd on cgroup.event_control: Node has no eventfd, and a counter
// cannot miss a kill between two reads the way a level could.
import { loadContainer, requireStatus } from '../container.ts';
import { positional, stringOption, type Context } from '../context.ts';
import { RuntimeError } from '../errors.ts';
import type { Cgroup } from '../cgroups/types.ts';
import { oomEvent, readRuncExtras, runcStats, statsEvent } from '../stats-json.ts';

const OOM_POLL_MS = 200;
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("5s", "500ms", "1m30s", "1.5h") in milliseconds; must be positive. */
export function parseDuration(text: string, what = '--interval'): number {
  const bad = () => new RuntimeError('ERR_USAGE', `${what}: ${JSON.stringify(text)} is not a duration such as 5s, 500ms or 1m`);
  const parts = /^(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|\u00b5s|ms|s|m|h)/;
  let rest = text.trim();
  let ms = 0;
  if (rest === '') throw bad();
  while (rest !== '') {
    const m = parts.exec(rest);
    if (!m) throw bad();
    const unit = /(ns|us|\u00b5s|ms|s|m|h)$/.exec(m[0])![1]!;
    ms += Number(m[0].slice(0, -unit.length)) * UNIT_MS[unit]!;
    rest = rest.slice(m[0].length);
  }
  if (!(ms > 0)) throw new RuntimeError('ERR_USAGE', `${what}: ${JSON.stringify(text)} must be greater than zero`);
  return ms;
}

function statsLine(id: string, cg: Cgroup): string {
  return statsEvent(id, runcStats(cg.stats(), cg.version, readRuncExtras(cg)));
}

export default async function events(ctx: Context): Promise<number> {
  const id = positional(ctx, 0, 'a container id');
  const interval = parseDuration(stringOption(ctx, 'interval') ?? '5s');
  const c = loadContainer(ctx, id);
  requireStatus(id, c.status, ['created', 'running', 'paused'], 'read events of');
  const cg = c.cgroup();
  if (ctx.options.stats) {
    process.stdout.write(statsLine(id, cg));
    return 0;
  }
  return stream(ctx, id, cg, interval);
}

async function stream(ctx: Context, id: string, cg: Cgroup, interval: number): Promise<number> {
  // A reader that goes away (containerd's shim stopping) ends the stream quietly.
  let closed = false;
  process.stdout.on('error', () => {
    closed = true;
  });
  const alive = (): boolean => {
    try {
      return loadContainer(ctx, id).status !== 'stopped';
    } catch {
      return false; // deleted meanwhile
    }
  };
  const oomKills = (): number => {
    try {
      return cg.oomKills();
    } catch {
      return 0;
    }
  };
  let kills = oomKills();
  let due = Date.now() + interval;
  while (!closed) {
    await new Promise((r) => setTimeout(r, Math.max(1, Math.min(OOM_POLL_MS, due - Date.now()))));
    // OOM first: the kill may be what stopped the container, and it must still be reported.
    const now = oomKills();
    for (let i = kills; i < now; i++) process.stdout.write(oomEvent(id));
    kills = Math.max(kills, now);
    if (!alive()) return 0;
    if (Date.now() >= due) {
      due += interval;
      // Behind schedule (a suspended machine, a very short interval): skip the missed ticks.
      if (due <= Date.now()) due = Date.now() + interval;
      try {
        process.stdout.write(statsLine(id, cg));
      } catch (err) {
        ctx.log.warn(`stats of container ${JSON.stringify(id)}: ${(err as Error).message}`);
      }
    }
  }
  return 0;
}
