// demo shutdown: `tsrun kill ID TERM` to a container whose main shell starts
// three workers. main and two workers trap TERM, log it and exit; the third
// ("stubborn") logs TERM and keeps running. Each process writes its pid and,
// on TERM, a log line to the exchange dir (/tmp); the demo maps those pids to
// host pids and watches each one disappear.
//
// Without an init, main is PID 1: it gets TERM and exits, and the kernel then
// SIGKILLs the workers, which never see a TERM. With tsrun-init, main is PID 2:
// the init forwards TERM to it, sends TERM to everything left once it exits,
// and SIGKILLs what is still there after the grace period.
//
// The third container shows the runtime-side stop path that engines use
// (containerd's CRI StopContainer, docker stop): TERM to PID 1 only, and once
// the stop timeout has passed, `tsrun kill --all ID KILL` to every process of
// the cgroup. There main ignores TERM (logs it, keeps running) and there is
// no init.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../runtime/errors.ts';
import { alive, namespaceProcesses, waitUntil, type Demo, type Lab } from './lab.ts';
import { formatNumber, type DemoReport, type Table } from './report.ts';

const WORKERS: Array<{ name: string; exits: boolean }> = [
  { name: 'worker-1', exits: true },
  { name: 'worker-2', exits: true },
  { name: 'stubborn', exits: false },
];

export interface ShutdownProcess {
  name: string;
  /** What its TERM trap does: exit, or log and keep running. */
  onTerm: 'exit' | 'keep running';
  gotTerm: boolean;
  fate: 'exited on TERM' | 'SIGKILL after TERM' | 'SIGKILL without TERM';
  /** Seconds from issuing `tsrun kill ID TERM` until the process was gone. */
  secondsAfterTerm: number;
}

export interface ShutdownResult {
  pid1: 'sh (main)' | 'tsrun-init';
  init: boolean;
  /** plain: TERM to PID 1; init: the same with tsrun-init; engine: TERM to PID 1, then kill --all KILL after the timeout. */
  mode: 'plain' | 'init' | 'engine';
  /** Whether `tsrun kill --all ID KILL` was needed. */
  killAll: boolean;
  graceSeconds: number | null;
  exitStatus: number;
  secondsToStop: number;
  processes: ShutdownProcess[];
}

/** A trap that logs TERM to /tmp/NAME.log, then exits or not; the pid goes to /tmp/NAME.pid. */
function trapping(name: string, exits: boolean): string {
  return `trap "echo TERM > /tmp/${name}.log${exits ? '; exit 0' : ''}" TERM; echo $$ > /tmp/${name}.pid; while :; do sleep 0.05; done`;
}

async function runOne(lab: Lab, mode: ShutdownResult['mode'], graceSeconds: number): Promise<ShutdownResult> {
  const init = mode === 'init';
  const label = mode === 'init' ? 'with tsrun-init' : mode === 'plain' ? 'without an init' : 'runtime stop path';
  const mainExits = mode !== 'engine';
  lab.step(`${label}: starting main and its workers`);
  const workers = WORKERS.map((w) => `sh -c '${trapping(w.name, w.exits)}' &`).join(' ');
  const bundle = lab.bundle(`shutdown-${mode}`, (c) => {
    c.process!.args = ['sh', '-c', `${workers} ${trapping('main', mainExits)}`];
    c.annotations = init ? { 'run.tsrun.init.grace-seconds': String(graceSeconds) } : { 'run.tsrun.init': 'false' };
  });
  const run = lab.runForeground('shutdown', bundle);
  const pid = await run.pid;
  const names = ['main', ...WORKERS.map((w) => w.name)];
  const pidFile = (n: string): string => join(bundle.exchange, `${n}.pid`);
  if (!(await waitUntil(() => names.every((n) => existsSync(pidFile(n)) && readFileSync(pidFile(n), 'utf8').endsWith('\n')), 10_000))) {
    throw new RuntimeError('ERR_DEMO', `${label}: the workload did not start: ${run.output().trim()}`);
  }
  const byInner = new Map(namespaceProcesses(pid).map((p) => [p.inner, p.pid]));
  const hostPids = new Map<string, number>();
  for (const n of names) {
    const host = byInner.get(Number(readFileSync(pidFile(n), 'utf8')));
    if (host === undefined) throw new RuntimeError('ERR_DEMO', `${label}: process ${n} is not in the container`);
    hostPids.set(n, host);
  }
  lab.step(`${label}: tsrun kill ${run.id} TERM`);
  // Times count from the moment the command was issued, as in demo pid1.
  const t0 = Date.now();
  const k = await lab.tsrun(['kill', run.id, 'TERM']);
  if (k.exitCode !== 0) throw new RuntimeError('ERR_DEMO', `tsrun kill ${run.id} TERM: ${k.stderr}`);
  const gone = new Map<string, number>();
  const watch = (): boolean => {
    for (const [n, host] of hostPids) if (!gone.has(n) && !alive(host)) gone.set(n, (Date.now() - t0) / 1000);
    if (!alive(pid) && !gone.has('PID 1')) gone.set('PID 1', (Date.now() - t0) / 1000);
    return gone.size === hostPids.size + 1;
  };
  let killAll = false;
  if (mode === 'engine') {
    // The engine's stop timeout, then SIGKILL to every process of the cgroup.
    lab.step(`${label}: waiting ${graceSeconds} s, then tsrun kill --all ${run.id} KILL`);
    if (!(await waitUntil(watch, graceSeconds * 1000, 5))) {
      killAll = true;
      const ka = await lab.tsrun(['kill', '--all', run.id, 'KILL']);
      if (ka.exitCode !== 0) throw new RuntimeError('ERR_DEMO', `tsrun kill --all ${run.id} KILL: ${ka.stderr}`);
    }
  }
  lab.step(`${label}: waiting for the container to stop`);
  if (!(await waitUntil(watch, 2 * graceSeconds * 1000 + 10_000, 5))) {
    throw new RuntimeError('ERR_DEMO', `${label}: the container did not stop after TERM`);
  }
  const exitStatus = await run.status;
  const processes = names.map((n): ShutdownProcess => {
    const exits = WORKERS.find((w) => w.name === n)?.exits ?? mainExits;
    const gotTerm = existsSync(join(bundle.exchange, `${n}.log`));
    return {
      name: n,
      onTerm: exits ? 'exit' : 'keep running',
      gotTerm,
      fate: gotTerm && exits ? 'exited on TERM' : gotTerm ? 'SIGKILL after TERM' : 'SIGKILL without TERM',
      secondsAfterTerm: round(gone.get(n) ?? 0),
    };
  });
  return {
    pid1: init ? 'tsrun-init' : 'sh (main)',
    init,
    mode,
    killAll,
    graceSeconds: init || mode === 'engine' ? graceSeconds : null,
    exitStatus,
    secondsToStop: round(gone.get('PID 1') ?? 0),
    processes,
  };
}

const round = (s: number): number => Math.round(s * 1000) / 1000;

async function run(lab: Lab): Promise<DemoReport> {
  const graceSeconds = lab.quick ? 1 : 3;
  const results = await Promise.all((['plain', 'init', 'engine'] as const).map((mode) => runOne(lab, mode, graceSeconds)));
  const [plain, withInit, engine] = results as [ShutdownResult, ShutdownResult, ShutdownResult];
  const cell = (p: ShutdownProcess): string => `${p.fate} (gone after ${formatNumber(p.secondsAfterTerm)} s)`;
  const trap = (p: ShutdownProcess): string => (p.onTerm === 'exit' ? 'log, exit' : 'log, keep running');
  const perProcess: Table = {
    title: 'Each process after `tsrun kill ID TERM`:',
    headers: ['process', 'its TERM trap', 'without an init (main is PID 1)', `with tsrun-init (grace ${graceSeconds} s)`, `runtime stop: main keeps running, kill --all KILL after ${graceSeconds} s`],
    rows: plain.processes.map((p, i) => {
      const e = engine.processes[i]!;
      return [p.name, trap(p), cell(p), cell(withInit.processes[i]!), `${cell(e)}${e.onTerm !== p.onTerm ? ` [trap: ${trap(e)}]` : ''}`];
    }),
  };
  const what = (r: ShutdownResult): string => (r.mode === 'init' ? 'tsrun-init' : r.mode === 'plain' ? 'sh (main)' : 'sh (main), runtime stop');
  const perContainer: Table = {
    title: 'The container:',
    headers: ['PID 1', 'exit status', 'stopped after (s)', 'processes that got TERM', 'kill --all KILL'],
    rows: results.map((r) => [what(r), r.exitStatus, Number(formatNumber(r.secondsToStop)), `${r.processes.filter((p) => p.gotTerm).length} of ${r.processes.length}`, r.killAll ? 'needed' : '-']),
  };
  return {
    demo: 'shutdown',
    title: 'Graceful shutdown: TERM to a container of 4 processes, without and with tsrun-init, and the runtime\'s stop path',
    tables: [perProcess, perContainer],
    explanations: [
      'tsrun kill signals PID 1 only. Without an init, PID 1 is main: it handles TERM and exits, and the kernel then SIGKILLs every other process of the namespace at once (zap_pid_ns_processes()): the workers never get a chance to clean up.',
      'tsrun-init forwards TERM to main, and once main has exited sends TERM (and CONT) to every process left, waits up to the grace period (run.tsrun.init.grace-seconds), then SIGKILLs the rest.',
      'A process that ignores TERM ("stubborn") is what the grace period is for: it holds the stop for that long, then it is killed.',
      `The runtime's own stop path, as engines drive it (containerd's CRI StopContainer, docker stop): TERM to PID 1 only, wait for the stop timeout, then \`tsrun kill --all ID KILL\`, which sends SIGKILL to every pid in the container's cgroup (cgroup.procs). When main ignores TERM, nothing happens for ${graceSeconds} s, then everything dies at once: the workers never see a TERM, and the exit status is 128+9 = ${engine.exitStatus}.`,
      'Whether a process got TERM is read from the log its trap wrote; "SIGKILL" means it was running until the end and left no exit of its own.',
    ],
    chart: {
      title: 'Seconds from TERM until each process was gone',
      yLabel: 'seconds after tsrun kill TERM',
      bars: results.flatMap((r) => r.processes.map((p) => ({
        label: `${p.name} ${r.mode === 'init' ? '(tsrun-init)' : r.mode === 'plain' ? '(no init)' : '(kill --all)'}`,
        value: p.secondsAfterTerm,
        note: p.fate === 'exited on TERM' ? 'exited' : p.gotTerm ? 'TERM, KILL' : 'KILL only',
      }))),
    },
    data: { graceSeconds, results },
  };
}

const demo: Demo = {
  name: 'shutdown',
  summary: 'TERM to a container with workers: without an init they are SIGKILLed, tsrun-init gives them TERM and a grace period; the runtime\'s TERM then kill --all KILL',
  takes: 'about 4 s (grace 3 s; 1.5 s with --quick, grace 1 s)',
  run,
};
export default demo;
