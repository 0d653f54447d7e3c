// The timed parts. Every loop is round-robin over the runtimes (tsrun, runc,
// crun, tsrun, runc, crun, ...) so that drift on this noisy machine hits all
// of them alike; each sample times one command with hrtime around spawnSync,
// and setup and teardown around it are untimed.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError, isStopped, leftovers, readPid, round, runAsync, summary, timed, waitStopped, waitStoppedSync } from './lib.mjs';
import { NODE } from './setup.mjs';

export class Bench {
  constructor(fx, idPrefix) {
    this.fx = fx;
    this.idPrefix = idPrefix;
    this.n = 0;
    /** every container init pid seen, to prove at the end that none is left running */
    this.pids = new Set();
    this.failures = [];
  }

  id(rt, part) {
    return `${this.idPrefix}-${rt.name}-${part}-${this.n++}`;
  }

  run(rt, ...args) {
    return timed(this.fx.errlog, rt.argv(...args)).ms;
  }

  /** create (pid file) and optionally start; returns the init's host pid. */
  up(rt, id, program, start) {
    const pidFile = join(this.fx.dir, `${id}.pid`);
    this.run(rt, 'create', '--bundle', rt.bundles[program], '--pid-file', pidFile, id);
    const pid = readPid(pidFile);
    rmSync(pidFile);
    this.pids.add(pid);
    if (start) this.run(rt, 'start', id);
    return pid;
  }

  /** Runs fn(id) with a fresh id; a failed command is recorded, its container
   *  force-deleted so that one failure does not cascade, and undefined returned. */
  sample(rt, part, fn) {
    const id = this.id(rt, part);
    try {
      return fn(id);
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
      this.scrap(rt, id, e);
      return undefined;
    }
  }

  scrap(rt, id, err) {
    this.failures.push({ runtime: rt.name, id, error: String(err.message ?? err).slice(0, 500) });
    try { this.run(rt, 'delete', '--force', id); } catch { /* reported above */ }
  }
}

/** One sample of each verb: untimed setup, the timed verb, untimed teardown. */
const VERB_SAMPLES = {
  create(b, rt, id) {
    const ms = b.run(rt, 'create', '--bundle', rt.bundles.true, id);
    b.run(rt, 'delete', '--force', id);
    return ms;
  },
  start(b, rt, id) {
    const pid = b.up(rt, id, 'true', false);
    const ms = b.run(rt, 'start', id);
    waitStoppedSync(pid);
    b.run(rt, 'delete', id);
    return ms;
  },
  kill(b, rt, id) {
    const pid = b.up(rt, id, 'sleep', true);
    const ms = b.run(rt, 'kill', id, 'KILL');
    waitStoppedSync(pid);
    b.run(rt, 'delete', id);
    return ms;
  },
  delete(b, rt, id) {
    waitStoppedSync(b.up(rt, id, 'true', true));
    return b.run(rt, 'delete', id);
  },
  // `state` of one long-running container per runtime, made in perVerb()
  state(b, rt, _id, running) {
    return b.run(rt, 'state', running.get(rt.name));
  },
};

/** Per verb: `samples` interleaved rounds of tsrun, runc, crun and the bare
 *  `node -e 0` floor, after one untimed warm-up round. */
export function perVerb(b, samples) {
  const { runtimes } = b.fx;
  const floor = [];
  const verbs = {};
  const running = new Map();
  for (const rt of runtimes) {
    const id = b.id(rt, 'state');
    b.up(rt, id, 'sleep', true);
    running.set(rt.name, id);
  }
  try {
    for (const verb of ['state', 'kill', 'start', 'delete', 'create']) {
      const times = Object.fromEntries(runtimes.map((rt) => [rt.name, []]));
      for (let round = -1; round < samples; round++) {
        for (const rt of runtimes) {
          const ms = b.sample(rt, verb, (id) => VERB_SAMPLES[verb](b, rt, id, running));
          if (round >= 0 && ms !== undefined) times[rt.name].push(ms);
        }
        const ms = timed(b.fx.errlog, [NODE, '-e', '0']).ms;
        if (round >= 0) floor.push(ms);
      }
      verbs[verb] = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, summary(v)]));
      process.stderr.write(`bench: ${verb}: ${runtimes.map((rt) => `${rt.name} ${round(verbs[verb][rt.name].median)} ms`).join(', ')}\n`);
    }
  } finally {
    for (const rt of runtimes) {
      try { b.run(rt, 'delete', '--force', running.get(rt.name)); } catch (e) { b.scrap(rt, running.get(rt.name), e); }
    }
  }
  return { samples, floor: summary(floor), verbs };
}

/** Lifecycle: create + start + wait for exit (the same /proc poll for every
 *  runtime) + delete of /bin/true, timed as a whole (and by phase, to show
 *  where the time goes); and foreground `run`. */
export function lifecycle(b, samples) {
  const { runtimes } = b.fx;
  const out = { samples, createStartWaitDelete: {}, phases: {}, run: {} };
  const phases = Object.fromEntries(runtimes.map((rt) => [rt.name, { create: [], start: [], wait: [], delete: [] }]));
  const now = () => process.hrtime.bigint();
  const ms = (a, z) => Number(z - a) / 1e6;
  for (const [part, once] of [
    ['createStartWaitDelete', (rt, id, keep) => {
      const t0 = now();
      const pid = b.up(rt, id, 'true', false);
      const t1 = now();
      b.run(rt, 'start', id);
      const t2 = now();
      waitStoppedSync(pid);
      const t3 = now();
      b.run(rt, 'delete', id);
      const t4 = now();
      if (keep) for (const [k, v] of Object.entries({ create: ms(t0, t1), start: ms(t1, t2), wait: ms(t2, t3), delete: ms(t3, t4) })) phases[rt.name][k].push(v);
      return ms(t0, t4);
    }],
    ['run', (rt, id) => b.run(rt, 'run', '--bundle', rt.bundles.true, id)],
  ]) {
    const times = Object.fromEntries(runtimes.map((rt) => [rt.name, []]));
    for (let i = -1; i < samples; i++) {
      for (const rt of runtimes) {
        const t = b.sample(rt, part, (id) => once(rt, id, i >= 0));
        if (i >= 0 && t !== undefined) times[rt.name].push(t);
      }
    }
    for (const [k, v] of Object.entries(times)) out[part][k] = summary(v);
  }
  for (const [k, v] of Object.entries(phases)) out.phases[k] = Object.fromEntries(Object.entries(v).map(([p, xs]) => [p, round(summary(xs).median)]));
  return out;
}

/** `count` containers (sleep 30) created and started at once, then killed
 *  and deleted, `rounds` times per runtime, interleaved. */
export async function throughput(b, count, rounds) {
  const { runtimes, errlog } = b.fx;
  const res = Object.fromEntries(runtimes.map((rt) => [rt.name, { rounds: [] }]));
  for (let r = 0; r < rounds; r++) {
    for (const rt of runtimes) {
      // ids per round, so that each round's leak check sees only its own containers
      const ids = Array.from({ length: count }, () => b.id(rt, `conc${r}`));
      const pidFile = (id) => join(b.fx.dir, `${id}.pid`);
      const t0 = process.hrtime.bigint();
      const upErrors = await Promise.all(ids.map(async (id) =>
        (await runAsync(errlog, rt.argv('create', '--bundle', rt.bundles.sleep, '--pid-file', pidFile(id), id)))
        ?? runAsync(errlog, rt.argv('start', id))));
      const upSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const pids = ids.map((id) => { try { return readPid(pidFile(id)); } catch { return undefined; } });
      for (const p of pids) if (p) b.pids.add(p);
      const t1 = process.hrtime.bigint();
      const downErrors = await Promise.all(ids.map(async (id, i) => {
        // one that never came up is only cleared away: its failure is already counted
        if (upErrors[i]) return void (await runAsync(errlog, rt.argv('delete', '--force', id)));
        const killed = await runAsync(errlog, rt.argv('kill', id, 'KILL'));
        if (pids[i]) await waitStopped(pids[i]).catch((e) => e.message);
        const deleted = await runAsync(errlog, rt.argv('delete', killed ? '--force' : null, id).filter(Boolean));
        return killed ?? deleted;
      }));
      const downSeconds = Number(process.hrtime.bigint() - t1) / 1e9;
      for (const id of ids) rmSync(pidFile(id), { force: true });
      const failed = upErrors.filter(Boolean);
      const leaks = leftovers({ roots: [rt.root], idPrefix: `${b.idPrefix}-${rt.name}-conc${r}-`, tmpDir: rt.root });
      res[rt.name].rounds.push({
        containers: count, seconds: round(upSeconds, 3), perSecond: round(count / upSeconds), failures: failed.length,
        teardownSeconds: round(downSeconds, 3), teardownFailures: downErrors.filter(Boolean).length,
        errors: [...failed, ...downErrors.filter(Boolean)].slice(0, 3), leaks,
      });
      process.stderr.write(`bench: ${count} concurrent, ${rt.name}: ${round(count / upSeconds)}/s, ${failed.length} failed, ${leaks.length ? 'LEAKS' : 'clean'}\n`);
    }
  }
  for (const v of Object.values(res)) {
    v.perSecond = summary(v.rounds.map((x) => x.perSecond));
    v.failures = v.rounds.reduce((s, x) => s + x.failures + x.teardownFailures, 0);
    v.leaks = v.rounds.flatMap((x) => x.leaks);
  }
  return { containers: count, rounds, runtimes: res };
}

/** `count` foreground runs of /bin/true per runtime, interleaved one by one. */
export function sequentialRuns(b, count) {
  const { runtimes } = b.fx;
  const times = Object.fromEntries(runtimes.map((rt) => [rt.name, []]));
  const failures = Object.fromEntries(runtimes.map((rt) => [rt.name, 0]));
  for (let i = 0; i < count; i++) {
    for (const rt of runtimes) {
      const ms = b.sample(rt, 'seq', (id) => b.run(rt, 'run', '--bundle', rt.bundles.true, id));
      if (ms === undefined) failures[rt.name]++;
      else times[rt.name].push(ms);
    }
  }
  return {
    runs: count,
    runtimes: Object.fromEntries(runtimes.map((rt) => [rt.name, {
      totalSeconds: round(times[rt.name].reduce((s, x) => s + x, 0) / 1000, 3),
      perRun: summary(times[rt.name]),
      failures: failures[rt.name],
    }])),
  };
}

/** Container inits seen during the run that are still alive (not even zombies). */
export function runningInits(b) {
  return [...b.pids].filter((p) => !isStopped(p));
}

/** `create` of /bin/true without and with podman's default seccomp profile
 *  (~400 syscall names), interleaved per runtime and round: what compiling and
 *  loading the profile adds to create. Skipped where the profile is missing. */
export function seccompCreate(b, samples) {
  const { runtimes, seccompSkipped } = b.fx;
  if (seccompSkipped) return { skipped: seccompSkipped };
  const times = Object.fromEntries(runtimes.map((rt) => [rt.name, { plain: [], profile: [] }]));
  for (let round = -1; round < samples; round++) {
    for (const rt of runtimes) {
      for (const kind of ['plain', 'profile']) {
        const ms = b.sample(rt, `sc${kind}`, (id) => {
          const t = b.run(rt, 'create', '--bundle', kind === 'plain' ? rt.bundles.true : rt.bundles.seccomp, id);
          b.run(rt, 'delete', '--force', id);
          return t;
        });
        if (round >= 0 && ms !== undefined) times[rt.name][kind].push(ms);
      }
    }
  }
  const res = Object.fromEntries(Object.entries(times).map(([name, t]) => {
    const plain = summary(t.plain);
    const profile = summary(t.profile);
    return [name, { plain, profile, extraMs: round(profile.median - plain.median, 2) }];
  }));
  process.stderr.write(`bench: create + podman's seccomp profile: ${runtimes.map((rt) => `${rt.name} +${res[rt.name].extraMs} ms`).join(', ')}\n`);
  return { samples, profile: 'podman default (/usr/share/containers/seccomp.json as podman converts it)', runtimes: res };
}
