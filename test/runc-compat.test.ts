// `tsrun run` of a busybox bundle prints the same output and exits with the
// same status as `runc run` of the same bundle (when runc is installed).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { leftovers, runCommand, sandbox, uniqueId, waitFor } from './lib/tsrun.ts';

const sb = sandbox();
const runc = spawnSync('runc', ['--version']).status === 0;
if (!runc) console.log('SKIP runc-compat: runc is not installed');
test.after(async () => {
  await sb.cleanup();
});

const scripts = [
  'echo hello; hostname; id; ls /; cat /etc/passwd | wc -l',
  'echo to-stderr >&2; exit 3',
  'cat /proc/self/status | grep -E "^(CapEff|CapBnd|NoNewPrivs)"; ulimit -n; ls /dev | sort | tr "\\n" " "',
  'grep -E " / | /proc | /sys " /proc/self/mountinfo | cut -d" " -f5,6 | sort',
];

for (const script of scripts) {
  (runc ? test : test.skip)(`same output and status as runc: ${script.slice(0, 40)}`, async () => {
    const bundle = sb.bundle((c) => {
      c.process!.args = ['sh', '-c', script];
    });
    const ours = await sb.tsrun(['run', '--bundle', bundle, uniqueId('cmp')]);
    const theirs = await runCommand('runc', ['--root', join(sb.dir, 'runc-root'), 'run', '--bundle', bundle, uniqueId('runc')]);
    assert.is(ours.exitCode, theirs.exitCode);
    assert.is(ours.stdout, theirs.stdout);
    assert.is(ours.stderr, theirs.stderr);
  });
}

// The words engines parse in a runtime's error (test/../shared facts §6):
// containerd's shim takes a kill/delete error as "already gone" only with the
// first four; podman maps an exec failure to 127 or 126 with the others.
const ENGINE_WORDS = ['container not running', 'does not exist', 'no such process', 'process already finished',
  'no such file or directory', 'executable file not found in $PATH', 'permission denied'];

interface Outcome { ok: boolean; words: string[]; stderr: string }
const outcome = (r: { exitCode: number; stderr: string }): Outcome => ({ ok: r.exitCode === 0, words: ENGINE_WORDS.filter((w) => r.stderr.includes(w)), stderr: r.stderr });

/** Runs the same verbs under runc and tsrun; every word runc's error carries, tsrun's carries too, and both succeed or both fail. */
async function compare(cases: string[][], runcRun: (args: string[]) => Promise<Outcome>, oursRun: (args: string[]) => Promise<Outcome>): Promise<void> {
  for (const args of cases) {
    const [r, t] = [await runcRun(args), await oursRun(args)];
    assert.is(t.ok, r.ok, `${args.join(' ')}: runc ${r.ok ? 'succeeds' : 'fails'}: ${r.stderr} / tsrun: ${t.stderr}`);
    for (const w of r.words) assert.ok(t.words.includes(w), `${args.join(' ')}: runc says "${w}" (${r.stderr}); tsrun: ${t.stderr}`);
    if (!t.ok) assert.is(t.stderr.split('\n').length, 1, `one line: ${t.stderr}`);
  }
}

const runcCommand = (args: string[]) => runCommand('runc', ['--root', join(sb.dir, 'runc-root'), ...args]);
const theirs = async (args: string[]) => outcome(await runcCommand(args));
const ours = async (args: string[]) => outcome(await sb.tsrun(args));

(runc ? test : test.skip)('errors on a missing and on a stopped container carry runc\'s words (kill, delete, start, state, exec, pause, ...)', async () => {
  const verbs = (id: string): string[][] => [['kill', id, '9'], ['kill', id, 'TERM'], ['kill', id, '0'], ['kill', '--all', id, '9'], ['kill', '--all', id, 'TERM'],
    ['start', id], ['pause', id], ['resume', id], ['exec', id, 'true'], ['update', '--memory', '64m', id], ['events', '--stats', id], ['ps', id]];
  const missing = uniqueId('missing');
  await compare([...verbs(missing), ['state', missing], ['delete', missing]], theirs, ours);
  // Stopped: PID 1 has exited (the same bundle and id under both runtimes).
  const bundle = sb.bundle((c) => { c.process!.args = ['true']; });
  const id = uniqueId('stopped');
  for (const run of [runcCommand, sb.tsrun]) {
    assert.is((await run(['run', '-d', '--bundle', bundle, id])).exitCode, 0);
    assert.ok(await waitFor(async () => JSON.parse((await run(['state', id])).stdout || '{}').status === 'stopped'));
  }
  await compare(verbs(id), theirs, ours);
  await compare([['delete', id]], theirs, ours);
});

(runc ? test : test.skip)('a program that cannot be run: create, run and exec carry runc\'s words (podman: 127 for not found, 126 for permission denied)', async () => {
  const programs = ['/missing', 'missing', '/etc/passwd', '/etc'];
  for (const program of programs) {
    const bundle = sb.bundle((c) => { c.process!.args = [program]; });
    for (const verb of ['create', 'run']) {
      const id = uniqueId(verb);
      await compare([[verb, '--bundle', bundle, id]], theirs, ours);
      await runcCommand(['delete', '--force', id]);
    }
  }
  const id = uniqueId('execerr');
  const bundle = sb.bundle();
  assert.is((await runcCommand(['run', '-d', '--bundle', bundle, id])).exitCode, 0);
  assert.is((await sb.tsrun(['run', '-d', '--bundle', bundle, id])).exitCode, 0);
  for (const program of programs) await compare([['exec', id, program]], theirs, ours);
  await runcCommand(['delete', '--force', id]);
  assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
});

(runc ? test : test.skip)('the command line as runc\'s: extra arguments refused, update --cpu-share and kill ID 0 accepted', async () => {
  const id = uniqueId('cli');
  const bundle = sb.bundle();
  for (const run of [runcCommand, sb.tsrun]) assert.is((await run(['run', '-d', '--bundle', bundle, id])).exitCode, 0);
  for (const args of [['delete', '-f', id, 'other'], ['kill', id, 'KILL', 'other'], ['state', id, 'other'], ['list', 'other']]) {
    const [r, t] = [await runcCommand(args), await sb.tsrun(args)];
    assert.is.not(r.exitCode, 0, `runc refuses ${args.join(' ')}`);
    assert.is.not(t.exitCode, 0, `tsrun refuses ${args.join(' ')}`);
    assert.match(t.stderr, /requires (exactly \d+ arguments?|a maximum of 2 arguments)/);
  }
  try {
    for (const run of [runcCommand, sb.tsrun]) {
      assert.is(JSON.parse((await run(['state', id])).stdout).status, 'running', 'the refused delete -f left it running');
      const u = await run(['update', '--cpu-share', '512', id]);
      assert.is(u.exitCode, 0, u.stderr);
      const probe = await run(['kill', id, '0']);
      assert.is(probe.exitCode, 0, `signal 0 tests that PID 1 is there: ${probe.stderr}`);
    }
    // v1 "N:cpu,cpuacct:/path" (or "N:cpu:/path"): the hierarchy is mounted under its controllers' name.
    const pid = JSON.parse((await sb.tsrun(['state', id])).stdout).pid;
    const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes('cpu'));
    if (line) {
      const [, controllers, path] = line.split(':');
      assert.is(readFileSync(join('/sys/fs/cgroup', controllers!, path!, 'cpu.shares'), 'utf8').trim(), '512');
    }
  } finally {
    for (const run of [runcCommand, sb.tsrun]) await run(['delete', '-f', id]);
  }
});

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
});

test.run();
