// demo oom: the memory limit and the OOM killer. Two containers with a 48 MiB
// limit (memory+swap the same: no swap) run two memory holders each: "big",
// the container's main process, reads 28 MiB from /dev/zero into one dd
// buffer and then blocks writing it to a FIFO nobody reads, so it holds the
// memory; once it is resident the demo lets "grow" read 24 MiB the same way.
// 28 + 24 MiB do not fit in 48: grow's page faults fail to charge the memory
// cgroup, and the kernel's memcg OOM killer (mem_cgroup_out_of_memory ->
// out_of_memory -> select_bad_process) kills the task with the highest
// oom_badness(). In the second container grow first raises its own
// oom_score_adj to 500.
//
// The demo samples each holder's /proc/PID/oom_score, oom_score_adj and
// VmRSS until one dies, reads the task table and the kill line the kernel
// logs (/dev/kmsg), the cgroup's OOM counter, the victim's exit status and
// the {"type":"oom"} line of `tsrun events`.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../runtime/errors.ts';
import { checkControllers, ContainerCgroup, MiB, mib, round, unavailableReport, type MemorySample } from './cgroup-lab.ts';
import { kernelLogCursor, kernelLogSince, watchEvents } from './host-lab.ts';
import { alive, namespaceProcesses, sleep, waitUntil, type Demo, type Lab } from './lab.ts';
import { formatNumber, type DemoReport } from './report.ts';

const LIMIT = 48 * MiB;
const BIG = 28 * MiB;
const GROW = 24 * MiB;
const PAGE = 4096;

export interface OomProcess {
  name: 'big' | 'grow';
  hostPid: number;
  /** What it asked for, bytes. */
  bytes: number;
  oomScoreAdj: number;
  /** /proc/PID/oom_score just before grow asked for memory (0..2000, scaled to the host's RAM and swap). */
  oomScore: number | null;
  /** Last VmRSS read before the kill, bytes. */
  rss: number;
  /** oom_badness() in pages as the kernel computes it for this cgroup: rss + swap + page tables + adj × floor(limit pages / 1000) (from the kernel's task table when it logged one). */
  badness: number;
  killed: boolean;
  /** 128+9 for the victim, as its parent saw it; null while it ran. */
  exitStatus: number | null;
}

export interface OomCase {
  case: 'default' | 'adjusted';
  limit: number;
  processes: OomProcess[];
  victim: 'big' | 'grow' | null;
  /** Whether the victim had the highest badness. */
  victimHadHighestBadness: boolean;
  /** memory.oom_control oom_kill (v1) / memory.events oom_kill (v2). */
  oomKills: number;
  /** Times usage hit the limit (memory.failcnt / memory.events max). */
  hitLimit: number;
  /** `tsrun run`'s status: the container's main process is big. null when the container kept running. */
  containerExitStatus: number | null;
  /** {"type":"oom"} lines `tsrun events` printed. */
  eventsOom: number;
  /** The kernel's lines about the kill. */
  kernelLog: string[];
  /** Every task the OOM killer killed in this cgroup, in order (host pid and name from its log). */
  kills: Array<{ pid: number; task: string }>;
}

/** A holder: writes its pid, sets its oom_score_adj, then becomes dd holding `bytes` (blocked on a FIFO). */
function holder(name: string, bytes: number, adj: number, waitForGo: boolean): string {
  const wait = waitForGo ? 'while [ ! -e /tmp/go ]; do sleep 0.02; done; ' : '';
  return `echo ${adj} > /proc/self/oom_score_adj; echo $$ > /tmp/${name}.pid; ${wait}exec dd if=/dev/zero of=/tmp/${name}.fifo bs=${bytes} count=1 2>/dev/null`;
}

function hostHasSwap(): boolean {
  return readFileSync('/proc/swaps', 'utf8').trim().split('\n').length > 1;
}

function procStatus(pid: number): { rss: number; pte: number; swap: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s*(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), pte: kb('VmPTE'), swap: kb('VmSwap') };
  } catch {
    return undefined;
  }
}

function readInt(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
}

async function runCase(lab: Lab, kind: OomCase['case'], growAdj: number): Promise<OomCase> {
  const label = kind === 'default' ? 'default oom_score_adj' : `grow with oom_score_adj ${growAdj}`;
  lab.step(`${label}: starting big (${mib(BIG)})`);
  const script = [
    'mkfifo /tmp/big.fifo /tmp/grow.fifo',
    // Readers that open the FIFOs and never read: each dd blocks in write() holding its buffer.
    'sleep 1000 < /tmp/big.fifo &',
    'sleep 1000 < /tmp/grow.fifo &',
    `(sh -c '${holder('grow', GROW, growAdj, true)}'; echo $? > /tmp/grow.status) &`,
    holder('big', BIG, 0, false),
  ].join('\n');
  const bundle = lab.bundle(`oom-${kind}`, (c) => {
    c.process!.args = ['sh', '-c', script];
    // Memory+swap capped too where the host has swap, so that big cannot be swapped out to make room.
    c.linux!.resources = { ...c.linux!.resources, memory: { limit: LIMIT, ...(hostHasSwap() ? { swap: LIMIT } : {}) } };
  });
  const cursor = kernelLogCursor();
  // --keep: the stopped container keeps its cgroup, so its counters can still be read once big is killed.
  const run = lab.runForeground(`oom-${kind}`, bundle, { keep: true });
  const pid = await run.pid;
  const cg = ContainerCgroup.of(run.id);
  const innerPid = (name: string): number | undefined => {
    const f = join(bundle.exchange, `${name}.pid`);
    return existsSync(f) && readFileSync(f, 'utf8').endsWith('\n') ? Number(readFileSync(f, 'utf8')) : undefined;
  };
  const hostPid = (name: string): number | undefined => {
    const inner = innerPid(name);
    return inner === undefined ? undefined : namespaceProcesses(pid).find((p) => p.inner === inner)?.pid;
  };
  let bigPid: number | undefined;
  if (!(await waitUntil(() => (bigPid ??= hostPid('big')) !== undefined && (procStatus(bigPid)?.rss ?? 0) >= BIG, 10_000, 20))) {
    throw new RuntimeError('ERR_DEMO', `${label}: big did not fill its ${mib(BIG)}: ${run.output().trim()}`);
  }
  let growPid: number | undefined;
  if (!(await waitUntil(() => (growPid ??= hostPid('grow')) !== undefined, 10_000, 20))) {
    throw new RuntimeError('ERR_DEMO', `${label}: grow did not start`);
  }
  const events = watchEvents(lab, run.id, 100);
  await events.ready;
  const pids = { big: bigPid!, grow: growPid! };
  const last: Record<string, { oomScore: number; adj: number; rss: number; pte: number; swap: number }> = {};
  let mem: MemorySample = cg.memory();
  let first: 'big' | 'grow' | undefined;
  const sample = (): void => {
    mem = cg.memory();
    if (!first && !alive(pids.big)) first = 'big';
    if (!first && !alive(pids.grow)) first = 'grow';
    for (const [name, p] of Object.entries(pids)) {
      const st = procStatus(p);
      const score = readInt(`/proc/${p}/oom_score`);
      const adj = readInt(`/proc/${p}/oom_score_adj`);
      if (st && score !== undefined && adj !== undefined && alive(p)) last[name] = { oomScore: score, adj, ...st };
    }
  };
  // Before grow asks for anything: each one's oom_score as /proc shows it.
  sample();
  const before = { ...last };
  lab.step(`${label}: letting grow ask for ${mib(GROW)}`);
  writeFileSync(join(bundle.exchange, 'go.tmp'), '');
  renameSync(join(bundle.exchange, 'go.tmp'), join(bundle.exchange, 'go'));
  // Until one is gone, or grow has all it asked for (then nobody is killed).
  const done = await waitUntil(() => {
    sample();
    return !alive(pids.big) || !alive(pids.grow) || (procStatus(pids.grow)?.rss ?? 0) >= GROW;
  }, 10_000, 2);
  if (!done) throw new RuntimeError('ERR_DEMO', `${label}: neither a kill nor a full allocation within 10 s`);
  sample();
  await sleep(300);
  if (existsSync(cg.file('memory', 'memory.stat'))) mem = cg.memory();
  // The kernel's own view, from its log: for each kill in this cgroup, the records from "... invoked
  // oom-killer" (with the task table, oom_dump_tasks) to "Killed process PID", around the "oom-kill:"
  // line that names this cgroup. Both containers run at once, so the records are picked by cgroup.
  const log = kernelLogSince(cursor);
  const kills: Array<{ pid: number; task: string; records: typeof log }> = [];
  log.forEach((r, at) => {
    if (!(r.text.startsWith('oom-kill:') && r.text.includes(`/${run.id},`))) return;
    let start = at;
    while (start > 0 && !log[start]!.text.includes('invoked oom-killer')) start--;
    let end = at;
    while (end < log.length - 1 && !log[end]!.text.includes('Killed process')) end++;
    kills.push({ pid: Number(/,pid=(\d+),/.exec(r.text)?.[1] ?? 0), task: /,task=([^,]*),/.exec(r.text)?.[1] ?? '', records: log.slice(start, end + 1) });
  });
  // The victim is the first task the kernel killed, else the first to die (when big, the main
  // process, dies, tsrun-init then stops grow too).
  const killedPid = kills[0]?.pid ?? 0;
  const killedBig = killedPid ? killedPid === pids.big : first === 'big';
  const killedGrow = killedPid ? killedPid === pids.grow : first === 'grow';
  const growStatusFile = join(bundle.exchange, 'grow.status');
  if (killedGrow) await waitUntil(() => existsSync(growStatusFile) && readFileSync(growStatusFile, 'utf8').endsWith('\n'), 3000);
  let containerExitStatus: number | null = null;
  if (killedBig) containerExitStatus = await run.status;
  else {
    await lab.tsrun(['kill', run.id, 'KILL']);
    await run.status;
  }
  await events.done;
  const eventsOom = events.lines().filter((l) => l.type === 'oom').length;

  const records = kills[0]?.records ?? [];
  const kernelLog = kills.flatMap((k) => k.records.map((r) => r.text).filter((t) => /invoked oom-killer|Killed process|oom-kill:/.test(t)));
  const table = new Map<number, { rss: number; pgtables: number; swap: number; adj: number }>();
  for (const r of records) {
    // "[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name"
    const m = /^\[\s*(\d+)\]\s+\d+\s+\d+\s+\d+\s+(\d+)\s+(?:\d+\s+\d+\s+\d+\s+)?(\d+)\s+(\d+)\s+(-?\d+)\s+\S+/.exec(r.text);
    if (m && Object.values(pids).includes(Number(m[1]))) {
      table.set(Number(m[1]), { rss: Number(m[2]), pgtables: Number(m[3]), swap: Number(m[4]), adj: Number(m[5]) });
    }
  }
  // oom_badness(): adj *= totalpages / 1000 (integer division), totalpages = the cgroup's limit in pages.
  const adjUnit = Math.floor(LIMIT / PAGE / 1000);
  const processes: OomProcess[] = (['big', 'grow'] as const).map((name) => {
    const p = pids[name];
    const s = last[name] ?? { oomScore: 0, adj: 0, rss: 0, pte: 0, swap: 0 };
    const oomScore = before[name]?.oomScore ?? null;
    const t = table.get(p);
    const badness = t
      ? t.rss + t.swap + Math.floor(t.pgtables / PAGE) + t.adj * adjUnit
      : Math.floor((s.rss + s.swap + s.pte) / PAGE) + s.adj * adjUnit;
    const killed = name === 'big' ? killedBig : killedGrow;
    const status = name === 'big' ? (killedBig ? containerExitStatus : null) : killedGrow ? readInt(growStatusFile) ?? null : null;
    return { name, hostPid: p, bytes: name === 'big' ? BIG : GROW, oomScoreAdj: t?.adj ?? s.adj, oomScore, rss: t ? t.rss * PAGE : s.rss, badness, killed, exitStatus: status };
  });
  const victims = processes.filter((p) => p.killed);
  const victim = victims.length === 1 ? victims[0]!.name : null;
  const top = Math.max(...processes.map((p) => p.badness));
  return {
    case: kind,
    limit: LIMIT,
    processes,
    victim,
    victimHadHighestBadness: victim !== null && processes.find((p) => p.name === victim)!.badness === top,
    oomKills: mem.oomKills,
    hitLimit: mem.hitLimit,
    containerExitStatus,
    eventsOom,
    kernelLog,
    kills: kills.map((k) => ({ pid: k.pid, task: k.task })),
  };
}

async function run(lab: Lab): Promise<DemoReport> {
  const check = checkControllers(['memory']);
  if (check.missing.length) return unavailableReport('oom', 'The OOM killer', check.version, check.missing);
  const growAdj = 500;
  const cases = await Promise.all([runCase(lab, 'default', 0), runCase(lab, 'adjusted', growAdj)]);
  const [plain, adjusted] = cases as [OomCase, OomCase];
  const files = ContainerCgroup.of('x').memoryFiles();
  const rel = (f: string): string => f.replace(/^.*\/x\//, '');
  const limitPages = LIMIT / PAGE;
  const rows = cases.flatMap((c) => c.processes.map((p) => [
    c.case === 'default' ? 'all adj 0' : `grow adj ${growAdj}`, p.name, mib(p.bytes), mib(p.rss), p.oomScoreAdj, p.oomScore ?? '?', p.badness,
    p.killed ? `killed, exit ${p.exitStatus ?? '?'}` : 'survived',
  ]));
  const describe = (c: OomCase): string => c.victim === null ? 'nobody was killed' : `${c.victim} was killed (badness ${c.processes.find((p) => p.name === c.victim)!.badness} pages vs ${c.processes.find((p) => p.name !== c.victim)!.badness})`;
  const killLine = cases.flatMap((c) => c.kernelLog).find((l) => l.includes('Killed process'));
  return {
    demo: 'oom',
    title: `The OOM killer: 2 containers with a ${mib(LIMIT)} limit, big holds ${mib(BIG)}, then grow asks for ${mib(GROW)} (cgroup v${check.version})`,
    tables: [
      {
        headers: ['container', 'process', 'asked for', 'RSS at the kill', 'oom_score_adj', 'oom_score before', 'badness (pages)', 'outcome'],
        rows,
      },
      {
        title: 'The containers:',
        headers: ['container', 'victim', 'oom_kill counter', 'limit hits', 'tsrun events', 'tsrun run exit'],
        rows: cases.map((c) => [c.case === 'default' ? 'all adj 0' : `grow adj ${growAdj}`, c.victim ?? 'none', c.oomKills, c.hitLimit, `${c.eventsOom} oom event${c.eventsOom === 1 ? '' : 's'}`, c.containerExitStatus ?? 'still running (stopped by the demo)']),
      },
    ],
    explanations: [
      `grow's page faults could not be charged to the memory cgroup (usage at ${files.limit.replace(/^.*\//, '')}); after reclaim found nothing to free (no page cache, no swap), try_charge_memcg() called mem_cgroup_out_of_memory(), and the kernel's out_of_memory() picked a victim in this cgroup only (constraint CONSTRAINT_MEMCG).`,
      `The victim is the task with the highest oom_badness(): resident pages + swap entries + page-table pages + oom_score_adj × (the limit in pages / 1000, rounded down: ${limitPages} / 1000 = ${Math.floor(limitPages / 1000)}). With adj 0 everywhere, ${describe(plain)}${plain.victim === 'big' ? ': the biggest process dies, not the one that asked for memory' : ''}.`,
      `In the second container grow wrote ${growAdj} to /proc/self/oom_score_adj (raising it needs no privilege; lowering needs CAP_SYS_RESOURCE, which this host's bounding set lacks), adding ${growAdj} × ${Math.floor(limitPages / 1000)} = ${growAdj * Math.floor(limitPages / 1000)} pages to its score: ${describe(adjusted)}.`,
      '/proc/PID/oom_score shows the same formula scaled to 0..2000 against the host\'s RAM, not the cgroup limit, so it ranks processes the same way only when their oom_score_adj are equal; the badness column uses the cgroup limit, as the kernel did, with the RSS from the task table it logged.',
      `A process killed by the OOM killer dies of SIGKILL: its parent sees 128+9 = 137. big is the container's main process: when it was killed, tsrun-init exited with its status and so did tsrun run (${cases.map((c) => `${c.case}: ${c.containerExitStatus ?? 'kept running'}`).join(', ')}), which is what Kubernetes reports as OOMKilled, exit code 137; when only grow died the container kept running.`,
      `The cgroup counts the kills in ${rel(files.oom)}, and the times usage hit the limit in ${rel(files.failcnt)}; tsrun events polls that counter and printed a {"type":"oom"} line per kill.`,
      ...(killLine ? [`The kernel logged: "${killLine}"`] : ['The kernel log (/dev/kmsg) was not readable, so the badness column comes from /proc/PID/status.']),
      ...cases.filter((c) => c.kills.length > 1).map((c) => `In the ${c.case} container the OOM killer ran ${c.kills.length} times: the victim had left the task list but its pages were not uncharged yet (its exit was still freeing them on this busy machine) when grow faulted again, so the next round saw the cgroup still full and killed again (pids ${c.kills.map((k) => k.pid).join(', ')}).`),
    ],
    chart: {
      title: 'oom_badness() at the kill (pages), per process',
      yLabel: 'badness (pages)',
      bars: cases.flatMap((c) => c.processes.map((p) => ({
        label: `${p.name} (${c.case === 'default' ? 'adj 0' : `grow adj ${growAdj}`})`,
        value: p.badness,
        note: p.killed ? 'killed' : 'survived',
      }))),
    },
    data: { cgroupVersion: check.version, limit: LIMIT, pageSize: PAGE, cases, files: { counter: rel(files.oom), limitHits: rel(files.failcnt) }, roundedLimitMiB: round(LIMIT / MiB, 1) },
  };
}

const demo: Demo = {
  name: 'oom',
  summary: 'a memory limit and two processes: the OOM killer picks the highest badness, not the one that asked',
  takes: 'about 3 s',
  run,
};
export default demo;
