// demo zombies: orphans that exit become zombies until their new parent, the
// namespace's PID 1, waits for them. The workload forks N short-lived
// orphans (`sh -c "(...) &"`: the middle shell exits at once, so each
// subshell is re-parented to PID 1) and then execs `sleep`, which never calls
// wait(). With the opt-out, sleep is PID 1 and the zombies pile up; with
// tsrun-init as PID 1 they are reaped. The orphans all exit when the demo
// creates a trigger file, so the count does not depend on timing.
//
// Each container also has an agent: once the zombies are counted, the demo
// sets a pids limit (`tsrun update --pids-limit`, orphans + 4) and the agent
// tries to start 4 more processes. The
// zombies still hold their pids under a sleep: the kernel refuses the fork
// (EAGAIN from the pids controller) once pids.current reaches pids.max.
import { closeSync, constants, existsSync, openSync, readFileSync, readdirSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../runtime/errors.ts';
import { checkControllers, ContainerCgroup } from './cgroup-lab.ts';
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
  /** The pids limit, with what it counted and how the agent's forks went; null without a pids controller. */
  pids: {
    max: number;
    /** pids.current before the agent forked: zombies included. */
    current: number;
    forkAttempts: number;
    forksOk: number;
    /** What the shell said when a fork failed, e.g. "can't fork: Resource temporarily unavailable". */
    forkError: string | null;
    /** pids.events max: forks the pids controller refused. */
    refused: number;
  } | null;
}

const FORK_ATTEMPTS = 4;

/** Blocks reading /tmp/fork.fifo (no polling: a polling loop would fork, and leave zombies of its
 *  own), then starts FORK_ATTEMPTS sleeps in a subshell, which dies at the first fork that fails. */
const FORK_AGENT = `(read x < /tmp/fork.fifo; (i=0; while [ $i -lt ${FORK_ATTEMPTS} ]; do sleep 30 & echo $! >> /tmp/forked; i=$((i+1)); done) 2> /tmp/fork.err; echo $? > /tmp/fork.status) &`;

const ORPHAN = '(while [ ! -e /tmp/go ]; do sleep 0.1; done; touch /tmp/done.$$) &';

async function runOne(lab: Lab, init: boolean, orphans: number, windowMs: number, withPids: boolean): Promise<ZombieResult> {
  const label = init ? 'tsrun-init as PID 1' : 'sleep as PID 1';
  lab.step(`${label}: forking ${orphans} orphans`);
  const bundle = lab.bundle(`zombies-${init ? 'init' : 'sleep'}`, (c) => {
    // `$$` of each orphan is the pid of the `sh -c` that forked it: unique per orphan.
    c.process!.args = ['sh', '-c', `${withPids ? 'mkfifo /tmp/fork.fifo; ' : ''}i=0; while [ $i -lt ${orphans} ]; do sh -c '${ORPHAN}'; i=$((i+1)); done; ${withPids ? FORK_AGENT : ''} exec sleep 1000`];
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
  let pids: ZombieResult['pids'] = null;
  if (withPids) {
    lab.step(`${label}: forking ${FORK_ATTEMPTS} more processes under pids.max ${orphans + 4}`);
    const cg = ContainerCgroup.of(run.id);
    const pidsFile = (name: string): string => cg.file('pids', name);
    // Set now, not at create: the orphans' own polling needs pids while they wait.
    const upd = await lab.tsrun(['update', '--pids-limit', String(orphans + 4), run.id]);
    if (upd.exitCode !== 0) throw new RuntimeError('ERR_DEMO', `tsrun update --pids-limit: ${upd.stderr}`);
    const current = Number(readFileSync(pidsFile('pids.current'), 'utf8'));
    // O_NONBLOCK: fails (ENXIO) rather than hangs if the agent is not reading.
    const fd = openSync(join(bundle.exchange, 'fork.fifo'), constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(fd, 'go\n');
    closeSync(fd);
    const status = join(bundle.exchange, 'fork.status');
    if (!(await waitUntil(() => existsSync(status) && readFileSync(status, 'utf8').endsWith('\n'), 10_000, 20))) {
      throw new RuntimeError('ERR_DEMO', `${label}: the fork agent did not finish: ${run.output().trim()}`);
    }
    const read = (name: string): string => (existsSync(join(bundle.exchange, name)) ? readFileSync(join(bundle.exchange, name), 'utf8') : '');
    const error = read('fork.err').split('\n').find((l) => /fork/i.test(l));
    pids = {
      max: orphans + 4,
      current,
      forkAttempts: FORK_ATTEMPTS,
      forksOk: read('forked').split('\n').filter(Boolean).length,
      forkError: error ? error.replace(/^.*?(can't fork)/, '$1').trim() : null,
      refused: Number(/^max (\d+)/m.exec(readFileSync(pidsFile('pids.events'), 'utf8'))?.[1] ?? 0),
    };
  }
  lab.step(`${label}: stopping the container`);
  await lab.tsrun(['kill', run.id, 'KILL']);
  await run.status;
  return { pid1: init ? 'tsrun-init' : 'sleep', init, orphans, zombies, peakZombies: Math.max(peak, zombies), processes: procs.length, pids };
}

async function run(lab: Lab): Promise<DemoReport> {
  const orphans = lab.quick ? 5 : 10;
  const windowMs = lab.ms(2000, 500);
  // v2 here may lack the pids controller (bound to v1): then no pids limit, and the explanations say so.
  const pidsCheck = checkControllers(['pids']);
  const withPids = pidsCheck.missing.length === 0;
  const results = await Promise.all([false, true].map((init) => runOne(lab, init, orphans, windowMs, withPids)));
  const windowSeconds = windowMs / 1000;
  return {
    demo: 'zombies',
    title: `Zombies: ${orphans} orphans exit in each container; Z-state processes counted ${formatNumber(windowSeconds)} s later`,
    tables: [
      {
        headers: ['PID 1', 'orphans', 'zombies left', 'reaped', 'processes in the namespace'],
        rows: results.map((r) => [r.init ? 'tsrun-init' : 'sleep (init=false)', r.orphans, r.zombies, r.orphans - r.zombies, r.processes]),
      },
      ...(withPids ? [{
        title: `Then tsrun update --pids-limit ${orphans + 4} (orphans + 4) and ${FORK_ATTEMPTS} more processes:`,
        headers: ['PID 1', 'pids.max', 'pids.current before', 'forks that worked', 'refused (pids.events max)', 'the shell said'],
        rows: results.map((r) => [r.init ? 'tsrun-init' : 'sleep (init=false)', r.pids!.max, r.pids!.current, `${r.pids!.forksOk} of ${r.pids!.forkAttempts}`, r.pids!.refused, r.pids!.forkError ?? '-']),
      }] : []),
    ],
    explanations: [
      'A process whose parent exits is re-parented to PID 1 of its pid namespace; when it exits it stays a zombie until PID 1 calls wait() for it.',
      'sleep never calls wait(), so as PID 1 it keeps every orphan as a zombie; each zombie holds a pid (and counts against pids.max) until PID 1 exits.',
      'tsrun-init waits for every child on SIGCHLD, so the orphans disappear as soon as they exit.',
      'Counted from /proc/PID/ns/pid and /proc/PID/stat on the host: cgroup.procs does not list zombies.',
      ...(withPids
        ? [`A zombie keeps its pid charged to the pids cgroup until it is reaped (the charge is dropped in release_task()): under sleep, pids.current was ${results[0]!.pids!.current} of ${results[0]!.pids!.max} before the agent forked, so copy_process() failed with EAGAIN in pids_can_fork() after ${results[0]!.pids!.forksOk} fork${results[0]!.pids!.forksOk === 1 ? '' : 's'} (pids.events max ${results[0]!.pids!.refused}); under tsrun-init, ${results[1]!.pids!.current} were in use and all ${results[1]!.pids!.forksOk} forks worked.`]
        : [`No pids limit here: ${pidsCheck.missing.map((m) => m.reason).join('; ')}.`]),
    ],
    chart: {
      title: `Zombies left after ${orphans} orphans exited`,
      yLabel: 'zombie processes',
      bars: results.map((r) => ({ label: r.init ? 'tsrun-init as PID 1' : 'sleep as PID 1', value: r.zombies, note: `${r.orphans} orphans` })),
    },
    data: { orphans, windowSeconds, pidsLimit: withPids, results },
  };
}

const demo: Demo = {
  name: 'zombies',
  summary: 'orphans re-parented to PID 1: zombies pile up under a sleep, tsrun-init reaps them',
  takes: 'about 3 s (1 s with --quick)',
  run,
};
export default demo;
