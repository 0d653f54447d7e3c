// demo zombies: orphans that exit become zombies until their new parent, the
// namespace's PID 1, waits for them. The workload forks N short-lived
// orphans (`sh -c "(...) &"`: the middle shell exits at once, so each
// subshell is re-parented to PID 1) and then execs `sleep`, which never calls
// wait(). With the opt-out, sleep is PID 1 and the zombies pile up; with
// tsrun-init as PID 1 they are reaped. The orphans all exit when the demo
// creates a trigger file, so the count does not depend on timing.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../runtime/errors.ts';
import { cmdline, namespaceProcesses, sleep, waitUntil, type Demo, type Lab } from './lab.ts';
import { formatNumber, type DemoReport } from './report.ts';

export interface ZombieResult {
  pid1: 'sleep' | 'tsrun-init';
  init: boolean;
  orphans: number;
  /** Z-state processes in the container's pid namespace at the end of the window. */
  zombies: number;
  /** Most zombies seen at once during the window. */
  peakZombies: number;
  /** All processes of the namespace at the end, zombies included. */
  processes: number;
}

const ORPHAN = '(while [ ! -e /tmp/go ]; do sleep 0.1; done; touch /tmp/done.$$) &';

async function runOne(lab: Lab, init: boolean, orphans: number, windowMs: number): Promise<ZombieResult> {
  const label = init ? 'tsrun-init as PID 1' : 'sleep as PID 1';
  lab.step(`${label}: forking ${orphans} orphans`);
  const bundle = lab.bundle(`zombies-${init ? 'init' : 'sleep'}`, (c) => {
    // `$$` of each orphan is the pid of the `sh -c` that forked it: unique per orphan.
    c.process!.args = ['sh', '-c', `i=0; while [ $i -lt ${orphans} ]; do sh -c '${ORPHAN}'; i=$((i+1)); done; exec sleep 1000`];
    if (!init) c.annotations = { 'run.tsrun.init': 'false' };
  });
  const run = lab.runForeground('zombies', bundle);
  const pid = await run.pid;
  const up = await waitUntil(() => {
    const procs = namespaceProcesses(pid);
    return procs.some((p) => p.cmdline.join(' ') === 'sleep 1000') && cmdline(pid)[0] === (init ? 'tsrun-init' : 'sleep');
  }, 10_000);
  if (!up) throw new RuntimeError('ERR_DEMO', `${label}: the workload did not start: ${run.output().trim()}`);
  lab.step(`${label}: letting the orphans exit`);
  writeFileSync(join(bundle.exchange, 'go'), '');
  const done = (): number => readdirSync(bundle.exchange).filter((f) => f.startsWith('done.')).length;
  if (!(await waitUntil(() => done() === orphans, 10_000, 20))) {
    throw new RuntimeError('ERR_DEMO', `${label}: only ${done()} of ${orphans} orphans finished`);
  }
  // Give PID 1 the same window in both cases to notice SIGCHLD and reap.
  let peak = 0;
  const end = Date.now() + windowMs;
  let procs = namespaceProcesses(pid);
  while (Date.now() < end) {
    procs = namespaceProcesses(pid);
    peak = Math.max(peak, procs.filter((p) => p.state === 'Z').length);
    await sleep(20);
  }
  procs = namespaceProcesses(pid);
  const zombies = procs.filter((p) => p.state === 'Z').length;
  lab.step(`${label}: stopping the container`);
  await lab.tsrun(['kill', run.id, 'KILL']);
  await run.status;
  return { pid1: init ? 'tsrun-init' : 'sleep', init, orphans, zombies, peakZombies: Math.max(peak, zombies), processes: procs.length };
}

async function run(lab: Lab): Promise<DemoReport> {
  const orphans = lab.quick ? 5 : 10;
  const windowMs = lab.ms(2000, 500);
  const results = await Promise.all([false, true].map((init) => runOne(lab, init, orphans, windowMs)));
  const windowSeconds = windowMs / 1000;
  return {
    demo: 'zombies',
    title: `Zombies: ${orphans} orphans exit in each container; Z-state processes counted ${formatNumber(windowSeconds)} s later`,
    tables: [{
      headers: ['PID 1', 'orphans', 'zombies left', 'reaped', 'processes in the namespace'],
      rows: results.map((r) => [r.init ? 'tsrun-init' : 'sleep (init=false)', r.orphans, r.zombies, r.orphans - r.zombies, r.processes]),
    }],
    explanations: [
      'A process whose parent exits is re-parented to PID 1 of its pid namespace; when it exits it stays a zombie until PID 1 calls wait() for it.',
      'sleep never calls wait(), so as PID 1 it keeps every orphan as a zombie; each zombie holds a pid (and counts against pids.max) until PID 1 exits.',
      'tsrun-init waits for every child on SIGCHLD, so the orphans disappear as soon as they exit.',
      'Counted from /proc/PID/ns/pid and /proc/PID/stat on the host: cgroup.procs does not list zombies.',
    ],
    chart: {
      title: `Zombies left after ${orphans} orphans exited`,
      yLabel: 'zombie processes',
      bars: results.map((r) => ({ label: r.init ? 'tsrun-init as PID 1' : 'sleep as PID 1', value: r.zombies, note: `${r.orphans} orphans` })),
    },
    data: { orphans, windowSeconds, results },
  };
}

const demo: Demo = {
  name: 'zombies',
  summary: 'orphans re-parented to PID 1: zombies pile up under a sleep, tsrun-init reaps them',
  takes: 'about 3 s (1 s with --quick)',
  run,
};
export default demo;
