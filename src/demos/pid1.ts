// demo pid1: what SIGTERM and SIGKILL do to a container's PID 1, sent from
// inside (`kill 1` by a process of the container) and from the host (`tsrun
// kill`), when PID 1 is a bare `sleep` (no handler: the runc opt-out) and
// when it is tsrun-init. Every case is a fresh container run with `tsrun run`;
// the demo watches the host pid of its PID 1 for a while after the signal.
//
// Inside, the workload is `(agent) & exec sleep 1000`: the agent, a child of
// PID 1 or 2, waits for a trigger file in the exchange dir (/tmp) naming the
// signal, then runs `kill -SIG 1` and writes kill's status back.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../runtime/errors.ts';
import { decodeStatusSignals } from '../runtime/signals.ts';
import { alive, cmdline, namespaceProcesses, sleep, waitUntil, type Demo, type Lab } from './lab.ts';
import { formatNumber, type DemoReport } from './report.ts';

type From = 'inside' | 'host';
type Sig = 'TERM' | 'KILL';

export interface Pid1Case {
  pid1: 'sleep' | 'tsrun-init';
  init: boolean;
  /** Whether PID 1 had a SIGTERM handler (SigCgt) when the signal was sent. */
  termHandler: boolean;
  signal: 'SIGTERM' | 'SIGKILL';
  from: From;
  command: string;
  /** Status of the `kill` command inside (0: the kernel took the signal, even if it then dropped it). */
  killStatus: number | null;
  stillRunning: boolean;
  exitStatus: number | null;
  secondsToStop: number | null;
  /** What the kernel rules predict: does this signal stop this PID 1? */
  expectedToStop: boolean;
}

const AGENT = 'while [ ! -e /tmp/go ]; do sleep 0.02; done; kill -$(cat /tmp/go) 1; echo $? > /tmp/sent';

async function runCase(lab: Lab, init: boolean, signal: Sig, from: From, watchMs: number): Promise<Pid1Case> {
  const label = `${init ? 'tsrun-init' : 'sleep'} as PID 1, ${signal} from ${from === 'inside' ? 'inside' : 'the host'}`;
  lab.step(`${label}: starting the container`);
  const bundle = lab.bundle(`pid1-${init ? 'init' : 'sleep'}-${signal}-${from}`, (c) => {
    c.process!.args = ['sh', '-c', `(${AGENT}) & exec sleep 1000`];
    if (!init) c.annotations = { 'run.tsrun.init': 'false' };
  });
  const run = lab.runForeground('pid1', bundle);
  const pid = await run.pid;
  // Ready when sleep runs (as PID 1 itself, or as the init's child) next to the agent.
  const ready = await waitUntil(() => {
    const procs = namespaceProcesses(pid);
    return cmdline(pid)[0] === (init ? 'tsrun-init' : 'sleep') && procs.some((p) => p.cmdline.join(' ') === 'sleep 1000') && procs.length >= (init ? 3 : 2);
  }, 10_000);
  if (!ready) throw new RuntimeError('ERR_DEMO', `${label}: the container did not come up: ${run.output().trim()}`);
  const termHandler = decodeStatusSignals(readFileSync(`/proc/${pid}/status`, 'utf8')).caught.includes('SIGTERM');
  lab.step(`${label}: sending it`);
  let t0: number;
  let command: string;
  if (from === 'inside') {
    command = signal === 'TERM' ? 'kill 1' : 'kill -9 1';
    t0 = Date.now();
    // Written aside and renamed: the agent must never see an empty trigger.
    writeFileSync(join(bundle.exchange, 'go.tmp'), signal);
    renameSync(join(bundle.exchange, 'go.tmp'), join(bundle.exchange, 'go'));
  } else {
    command = `tsrun kill ID ${signal}`;
    t0 = Date.now();
    const r = await lab.tsrun(['kill', run.id, signal]);
    if (r.exitCode !== 0) throw new RuntimeError('ERR_DEMO', `tsrun kill ${run.id} ${signal}: ${r.stderr}`);
  }
  // From the moment the command was issued (a host `tsrun kill` takes a few
  // tens of ms to start; the agent inside polls its trigger every 20 ms).
  let stoppedAt = 0;
  const stopped = await waitUntil(() => {
    if (alive(pid)) return false;
    stoppedAt ||= Date.now();
    return true;
  }, watchMs, 5);
  const secondsToStop = stopped ? (stoppedAt - t0) / 1000 : null;
  const sent = join(bundle.exchange, 'sent');
  if (from === 'inside' && !stopped) await waitUntil(() => existsSync(sent), 2000);
  const killStatus = existsSync(sent) ? Number(readFileSync(sent, 'utf8').trim()) : null;
  if (!stopped) {
    lab.step(`${label}: still running; stopping it with KILL`);
    await lab.tsrun(['kill', run.id, 'KILL']);
  }
  const status = await run.status;
  return {
    pid1: init ? 'tsrun-init' : 'sleep',
    init,
    termHandler,
    signal: `SIG${signal}`,
    from,
    command,
    killStatus: from === 'inside' ? killStatus : null,
    stillRunning: !stopped,
    exitStatus: stopped ? status : null,
    secondsToStop,
    expectedToStop: signal === 'KILL' ? from === 'host' : termHandler,
  };
}

function outcome(c: Pid1Case, watchSeconds: number): string {
  return c.stillRunning ? `still running after ${formatNumber(watchSeconds)} s` : `exited ${c.exitStatus} after ${formatNumber(c.secondsToStop ?? 0)} s`;
}

async function run(lab: Lab): Promise<DemoReport> {
  const watchMs = 1000;
  const plan: Array<[boolean, Sig, From]> = [];
  for (const init of [false, true]) for (const from of ['inside', 'host'] as From[]) for (const sig of ['TERM', 'KILL'] as Sig[]) plan.push([init, sig, from]);
  let cases: Pid1Case[];
  if (lab.quick) {
    cases = await Promise.all(plan.map(([init, sig, from]) => runCase(lab, init, sig, from, watchMs)));
  } else {
    cases = [];
    for (const [init, sig, from] of plan) {
      cases.push(await runCase(lab, init, sig, from, watchMs));
      await sleep(50);
    }
  }
  const watchSeconds = watchMs / 1000;
  const surprises = cases.filter((c) => c.stillRunning === c.expectedToStop);
  const explanations = [
    'A signal sent to the init of a pid namespace by a process of that namespace is dropped unless the init has a handler for it: `kill 1` does nothing to a sleep, which has none.',
    'SIGKILL and SIGSTOP cannot have a handler, so `kill -9 1` from inside is dropped whatever PID 1 is (kill itself still exits 0).',
    'From the parent namespace (tsrun kill on the host) the same rule applies, except that SIGKILL and SIGSTOP are always delivered: TERM leaves a handler-less PID 1 running, KILL always works.',
    'tsrun-init has a SIGTERM handler (see `tsrun signals ID`): it forwards TERM to its child, waits for it, and exits with its status, 128+15 = 143, from inside and outside alike.',
    'When PID 1 exits, the kernel SIGKILLs every other process of the namespace: the container is gone.',
    ...surprises.map((c) => `unexpected: ${c.pid1} as PID 1, ${c.signal} from ${c.from}: ${outcome(c, watchSeconds)}`),
  ];
  return {
    demo: 'pid1',
    title: `PID 1 and signals: ${cases.length} containers, each watched for ${formatNumber(watchSeconds)} s after the signal`,
    tables: [{
      headers: ['PID 1', 'TERM handler', 'signal', 'sent from', 'command', 'outcome'],
      rows: cases.map((c) => [
        c.init ? 'tsrun-init' : 'sleep (init=false)', c.termHandler ? 'yes' : 'no', c.signal,
        c.from === 'inside' ? 'inside (PID 2/3)' : 'host', c.killStatus === null ? c.command : `${c.command} (exit ${c.killStatus})`,
        outcome(c, watchSeconds),
      ]),
    }],
    explanations,
    chart: {
      title: 'Seconds until PID 1 was gone after the signal',
      yLabel: `seconds (${formatNumber(watchSeconds)} = still running)`,
      bars: cases.map((c) => ({
        label: `${c.pid1} ${c.signal.slice(3)} from ${c.from}`,
        value: c.stillRunning ? watchSeconds : (c.secondsToStop ?? 0),
        note: c.stillRunning ? 'still running' : `exited ${c.exitStatus}`,
      })),
    },
    data: { watchSeconds, cases },
  };
}

const demo: Demo = {
  name: 'pid1',
  summary: 'SIGTERM and SIGKILL from inside and from the host, to a bare sleep as PID 1 and to tsrun-init',
  takes: 'about 6 s (2 s with --quick)',
  run,
};
export default demo;
