// tsrun SIGKILLed in the middle of `create` leaves nothing that `delete
// --force` cannot remove: from the moment the id is claimed, `list` shows the
// container (status creating); tsrun-nsexec and the container's process exit
// by themselves once their tsrun is gone before the container was recorded;
// `delete --force` ends whatever is left and removes the cgroup and the state.
// Kills land while a hook runs (a moment that cannot be missed), right after
// each --debug step line of create, and at random moments across a create.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { leftovers, sandbox, TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';
import type { Config } from '../src/runtime/oci-types.ts';

const sb = sandbox();
test.after(async () => {
  await sb.cleanup();
});

/** Live (not zombie) processes whose environment carries the marker: tsrun, tsrun-nsexec, and the container's process before its exec. */
function marked(marker: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(marker)) found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function cgroupDirs(id: string): string[] {
  const out = spawnSync('find', ['/sys/fs/cgroup', '-maxdepth', '4', '-type', 'd', '-name', id], { encoding: 'utf8' }).stdout.trim();
  return out ? out.split('\n') : [];
}

type Outcome = 'before the claim' | 'creating' | 'created';

/** Starts `tsrun create`, SIGKILLs it when `when` says so, then checks and cleans up what it left. */
interface When {
  /** Kill once tsrun has printed this --debug line (and delayMs more), or ... */
  onLine?: RegExp;
  delayMs?: number;
  /** ... once a hook of `edit` has made this file: a moment that cannot be missed. */
  onFile?: string;
  verb?: 'create' | 'run';
  edit?: (c: Config) => void;
}

async function killCreate(when: When): Promise<Outcome> {
  const id = uniqueId('crash');
  const marker = `TSRUN_CRASH_TEST=${id}`;
  const bundle = sb.bundle(when.edit);
  const child = spawn(TSRUN, ['--root', sb.root, '--debug', when.verb ?? 'create', '--bundle', bundle, id], {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TSRUN_CRASH_TEST: id },
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const kill = (): void => {
    child.kill('SIGKILL');
  };
  let text = '';
  let armed = true;
  child.stderr!.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    if (!armed || !when.onLine?.test(text)) return;
    armed = false;
    if (when.delayMs === undefined) kill();
    else setTimeout(kill, when.delayMs);
  });
  if (when.onFile) {
    assert.ok(await waitFor(() => existsSync(when.onFile!), 30000, 10), `the hook ran: ${text}`);
    kill();
  }
  await exited;

  const dir = join(sb.root, id);
  const listed = JSON.parse((await sb.tsrun(['list', '--format', 'json'])).stdout) as Array<{ id: string; status: string }>;
  const row = listed.find((r) => r.id === id);
  if (existsSync(dir)) assert.ok(row, `the claimed id ${id} is listed (${text})`);
  const outcome: Outcome = row ? (row.status === 'creating' ? 'creating' : 'created') : 'before the claim';
  if (outcome !== 'created') {
    // Not recorded: nothing may wait for a start that can never come.
    assert.ok(await waitFor(() => marked(marker).length === 0, 10000, 50), `tsrun-nsexec exited by itself (${outcome}): ${marked(marker).join(' ')}`);
  } else {
    assert.ok(['created', 'running', 'stopped'].includes(row!.status), row!.status);
  }
  const del = await sb.tsrun(['delete', '--force', id]);
  assert.is(del.exitCode, 0, del.stderr);
  assert.not.ok(existsSync(dir), 'no state dir');
  assert.equal(cgroupDirs(id), [], 'no cgroup dir');
  assert.equal(marked(marker), [], 'no process');
  return outcome;
}

test('killed while a prestart or a createContainer hook runs (create and run): "creating", its processes exit by themselves, delete --force removes everything', async () => {
  for (const verb of ['create', 'run'] as const) {
    for (const kind of ['prestart', 'createContainer'] as const) {
      const flag = join(sb.dir, `${verb}-${kind}-ran`);
      // prestart runs as tsrun's child: it leaves once tsrun is gone. createContainer runs in the
      // container's namespaces, from its process: that process goes on afterwards and finds tsrun gone.
      const script = kind === 'prestart' ? `touch ${flag}; while kill -0 $PPID 2>/dev/null; do sleep 0.05; done` : `touch ${flag}; sleep 1`;
      const outcome = await killCreate({ onFile: flag, verb, edit: (c) => { c.hooks = { [kind]: [{ path: '/bin/sh', args: ['sh', '-c', script] }] }; } });
      assert.is(outcome, 'creating', `${verb}, killed in a ${kind} hook`);
    }
  }
});

test('killed right after each step of create and run: whatever the moment, nothing delete --force cannot remove', async () => {
  const steps = [/validated/, /: pid \d+ in cgroup/, /: go\n/, /ready at the barrier/];
  for (const verb of ['create', 'run'] as const) {
    for (const onLine of steps) await killCreate({ onLine, verb });
  }
});

test('killed at 30 random moments of create: never anything that delete --force cannot remove', async () => {
  // How long a create takes here and now from the claim (the first --debug
  // line) to its end, to spread the kills across that stretch.
  const probe = uniqueId('probe');
  const r = await sb.tsrun(['--debug', 'create', '--bundle', sb.bundle(), probe]);
  assert.is(r.exitCode, 0, r.stderr);
  const ms = [...r.stderr.matchAll(/debug: ([\d.]+) ms/g)].map((m) => Number(m[1]));
  const span = ms[ms.length - 1]! - ms[0]!;
  assert.is((await sb.tsrun(['delete', '--force', probe])).exitCode, 0);
  const seen = new Map<Outcome, number>();
  const n = 30;
  // Five creates at a time: the test stays short, and the kills land on a busy machine too.
  for (let batch = 0; batch < n; batch += 5) {
    const outcomes = await Promise.all([0, 1, 2, 3, 4].map((k) => {
      // Stratified: one kill in each 1/n of [0, 1.2 × span] after the claim, at a random point of it.
      const i = batch + k;
      return killCreate({ onLine: /validated/, delayMs: ((i + Math.random()) / n) * span * 1.2 });
    }));
    for (const o of outcomes) seen.set(o, (seen.get(o) ?? 0) + 1);
  }
  console.log(`  kills: ${[...seen].map(([k, v]) => `${v} ${k}`).join(', ')} (claim to ready: ${span.toFixed(1)} ms)`);
});

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
});

test.run();
