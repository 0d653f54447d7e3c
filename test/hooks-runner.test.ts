// The runtime-side OCI hooks runner against real /bin/sh hook scripts: stdin,
// argv, env, cwd, ordering, fatal and warn modes, timeouts that kill the whole
// process group, hooks that never read stdin, and spawn failures.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeHook, hookMode, runHooks } from '../src/hooks/run-hooks.ts';
import { RuntimeError } from '../src/runtime/errors.ts';
import type { Hook, State } from '../src/runtime/oci-types.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsrun-hooks-'));
const bundle = mkdtempSync(join(tmpdir(), 'tsrun-hooks-bundle-'));
const leftover: number[] = [];
let seq = 0;

/** Writes an executable #!/bin/sh script and returns its path. */
function script(body: string, mode = 0o755): string {
  const p = join(dir, `hook-${++seq}.sh`);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, mode);
  return p;
}

function file(name: string): string {
  return join(dir, `${name}-${++seq}`);
}

function state(over: Partial<State> = {}): State {
  return { ociVersion: '1.2.0', id: 'c1', status: 'creating', pid: 4242, bundle, annotations: { a: 'b' }, ...over };
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

async function gone(pid: number, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !alive(pid);
}

async function rejection(p: Promise<unknown>): Promise<RuntimeError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, RuntimeError);
    return err as RuntimeError;
  }
  throw new Error('expected a rejection');
}

test.after(() => {
  for (const pid of leftover) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
  rmSync(bundle, { recursive: true, force: true });
});

test('hookMode and describeHook', () => {
  assert.is(hookMode('prestart'), 'fatal');
  assert.is(hookMode('createRuntime'), 'fatal');
  assert.is(hookMode('createContainer'), 'fatal');
  assert.is(hookMode('startContainer'), 'fatal');
  assert.is(hookMode('poststart'), 'warn');
  assert.is(hookMode('poststop'), 'warn');
  assert.is(describeHook('createRuntime', 1, '/usr/bin/x'), 'createRuntime hook #1 (/usr/bin/x)');
});

test('no hooks: nothing runs, no failures', async () => {
  assert.equal(await runHooks('prestart', undefined, state()), []);
  assert.equal(await runHooks('poststop', [], state()), []);
});

test('stdin carries the exact state JSON for every status', async () => {
  const hook = script('cat > "$1"');
  const cases: State[] = [
    state({ status: 'creating' }),
    state({ status: 'created', annotations: { 'org.example/key': 'v "quoted"' } }),
    state({ status: 'running', pid: 1 }),
    state({ status: 'stopped', pid: undefined, annotations: undefined }),
  ];
  for (const s of cases) {
    const out = file('state');
    await runHooks('poststart', [{ path: hook, args: [hook, out] }], s, { mode: 'fatal' });
    const expected = JSON.stringify({ ociVersion: s.ociVersion, id: s.id, status: s.status, pid: s.pid, bundle: s.bundle, annotations: s.annotations });
    assert.is(readFileSync(out, 'utf8'), expected, s.status);
  }
  const stopped = JSON.parse(readFileSync(join(dir, `state-${seq}`), 'utf8'));
  assert.equal(Object.keys(stopped), ['ociVersion', 'id', 'status', 'bundle']);
});

test('args: argv[0] and the rest are passed exactly', async () => {
  const out = file('argv');
  await runHooks('createRuntime', [{ path: '/bin/sh', args: ['custom-zero', '-c', '/usr/bin/tr "\\0" "\\n" < /proc/$$/cmdline > "$0"', out] }], state());
  assert.is(readFileSync(out, 'utf8'), `custom-zero\n-c\n/usr/bin/tr "\\0" "\\n" < /proc/$$/cmdline > "$0"\n${out}\n`);

  const out2 = file('args');
  await runHooks('createRuntime', [{ path: '/bin/sh', args: ['sh', '-c', 'printf "%s|" "$@" > "$0"', out2, 'a', 'b c', ''] }], state());
  assert.is(readFileSync(out2, 'utf8'), 'a|b c||');
});

test('args absent: argv is [path]', async () => {
  const out = file('noargs');
  const hook = script(`printf '%s %s' "$0" "$#" > ${out}`);
  await runHooks('createRuntime', [{ path: hook }], state());
  assert.is(readFileSync(out, 'utf8'), `${hook} 0`);
});

test('env: given env is the whole environment, [] is empty, absent inherits', async () => {
  const dump = (out: string): Hook['args'] => ['sh', '-c', '/usr/bin/tr "\\0" "\\n" < /proc/$$/environ > "$0"', out];
  const out1 = file('env');
  await runHooks('prestart', [{ path: '/bin/sh', args: dump(out1), env: ['A=1', 'B=two words', 'C=x=y', 'A=3'] }], state());
  assert.is(readFileSync(out1, 'utf8'), 'A=3\nB=two words\nC=x=y\n');

  const out2 = file('env');
  await runHooks('prestart', [{ path: '/bin/sh', args: dump(out2), env: [] }], state());
  assert.is(readFileSync(out2, 'utf8'), '');

  const out3 = file('env');
  process.env.TSRUN_HOOK_TEST = 'inherited';
  try {
    await runHooks('prestart', [{ path: '/bin/sh', args: dump(out3) }], state());
  } finally {
    delete process.env.TSRUN_HOOK_TEST;
  }
  const lines = readFileSync(out3, 'utf8').split('\n');
  assert.ok(lines.includes('TSRUN_HOOK_TEST=inherited'));
});

test('cwd: the bundle by default, opts.cwd when given, a missing one is a clear error', async () => {
  const out = file('cwd');
  const hook = script(`pwd -P > ${out}`);
  await runHooks('createRuntime', [{ path: hook }], state());
  assert.is(readFileSync(out, 'utf8').trim(), bundle);
  await runHooks('createRuntime', [{ path: hook }], state(), { cwd: dir });
  assert.is(readFileSync(out, 'utf8').trim(), dir);
  const err = await rejection(runHooks('createRuntime', [{ path: hook }], state({ bundle: join(dir, 'missing') })));
  assert.is(err.message, `createRuntime hook #0 (${hook}) failed: cannot change to directory "${join(dir, 'missing')}": no such file or directory`);
});

test('hooks of one kind run in order', async () => {
  const out = file('order');
  const hooks = [1, 2, 3].map((n) => ({ path: script(`echo ${n} >> ${out}`) }));
  await runHooks('createRuntime', hooks, state());
  assert.is(readFileSync(out, 'utf8'), '1\n2\n3\n');
});

test('fatal mode: the first failure throws with kind, index, path and stderr; the rest do not run', async () => {
  const marker = file('marker');
  const bad = script('echo "some progress" >&2\necho "cannot create bridge" >&2\nexit 3');
  const hooks = [{ path: script('exit 0') }, { path: bad }, { path: script(`touch ${marker}`) }];
  const warned: string[] = [];
  const err = await rejection(runHooks('createRuntime', hooks, state(), { warn: (l) => warned.push(l) }));
  assert.is(err.code, 'ERR_HOOK');
  assert.is(err.message, `createRuntime hook #1 (${bad}) failed: exit status 3: some progress; cannot create bridge`);
  assert.is(err.path, bad);
  assert.not.ok(existsSync(marker), 'the hook after the failing one did not run');
  assert.equal(warned, []);
});

test('fatal mode: stdout is in the message when stderr is empty', async () => {
  const bad = script('echo "only on stdout"\nexit 1');
  const err = await rejection(runHooks('prestart', [{ path: bad }], state()));
  assert.is(err.message, `prestart hook #0 (${bad}) failed: exit status 1: stdout: only on stdout`);
  const quiet = script('exit 7');
  const err2 = await rejection(runHooks('prestart', [{ path: quiet }], state()));
  assert.is(err2.message, `prestart hook #0 (${quiet}) failed: exit status 7`);
});

test('warn mode: failures are warned, the remaining hooks run, all failures returned', async () => {
  const marker = file('marker');
  const first = script('echo "teardown failed" >&2\nexit 2');
  const killed = script('kill -SEGV $$');
  const hooks = [{ path: first }, { path: script(`touch ${marker}`) }, { path: killed }];
  const warned: string[] = [];
  const failures = await runHooks('poststop', hooks, state({ status: 'stopped' }), { warn: (l) => warned.push(l) });
  assert.ok(existsSync(marker));
  assert.equal(failures, [
    { kind: 'poststop', index: 0, path: first, reason: 'exit status 2', stderr: 'teardown failed' },
    { kind: 'poststop', index: 2, path: killed, reason: 'killed by signal SIGSEGV', stderr: '' },
  ]);
  assert.equal(warned, [
    `warning: poststop hook #0 (${first}) failed: exit status 2: teardown failed`,
    `warning: poststop hook #2 (${killed}) failed: killed by signal SIGSEGV`,
  ]);
});

test('mode can be overridden', async () => {
  const bad = script('exit 1');
  const warned: string[] = [];
  const failures = await runHooks('createRuntime', [{ path: bad }, { path: bad }], state(), { mode: 'warn', warn: (l) => warned.push(l) });
  assert.is(failures.length, 2);
  assert.is(warned.length, 2);
  await rejection(runHooks('poststop', [{ path: bad }], state(), { mode: 'fatal' }));
});

test('timeout: the hook and its children are killed after the timeout', async () => {
  const pidFile = file('pid');
  const hook = script(`sleep 30 &\necho $! > ${pidFile}\nwait`);
  const t0 = Date.now();
  const err = await rejection(runHooks('createRuntime', [{ path: hook, timeout: 1 }], state()));
  const elapsed = Date.now() - t0;
  const sleepPid = Number(readFileSync(pidFile, 'utf8'));
  leftover.push(sleepPid);
  assert.is(err.message, `createRuntime hook #0 (${hook}) failed: timed out after 1s`);
  assert.ok(elapsed >= 950 && elapsed < 3000, `took ${elapsed} ms`);
  assert.ok(sleepPid > 0);
  assert.ok(await gone(sleepPid), `sleep ${sleepPid} survived the timeout`);
});

test('timeout: a hook that finishes in time succeeds; a bad timeout is rejected', async () => {
  assert.equal(await runHooks('createRuntime', [{ path: script('exit 0'), timeout: 5 }], state()), []);
  const hook = script('exit 0');
  const err = await rejection(runHooks('createRuntime', [{ path: hook, timeout: 0 }], state()));
  assert.match(err.message, `createRuntime hook #0 (${hook}) failed: invalid timeout 0`);
});

test('a background child holding the output pipes does not block the runner', async () => {
  const pidFile = file('pid');
  const hook = script(`sleep 30 &\necho $! > ${pidFile}\nexit 0`);
  const t0 = Date.now();
  assert.equal(await runHooks('poststart', [{ path: hook }], state({ status: 'running' })), []);
  const sleepPid = Number(readFileSync(pidFile, 'utf8'));
  leftover.push(sleepPid);
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  process.kill(sleepPid, 'SIGKILL');
  assert.ok(await gone(sleepPid));
});

test('hooks that never read stdin succeed, also with a ~1 MB state', async () => {
  const big = state({ annotations: { blob: 'x'.repeat(1 << 20) } });
  const hooks = [
    { path: script('exit 0') },
    { path: script('exec 0<&-\nsleep 0.2\nexit 0') },
    { path: script('sleep 0.2\nexit 0') },
    { path: script('head -c 10 > /dev/null\nexit 0') },
  ];
  assert.equal(await runHooks('createRuntime', hooks, big), []);
  assert.equal(await runHooks('createRuntime', hooks, state()), []);
  // A reader gets all of it.
  const out = file('big');
  await runHooks('createRuntime', [{ path: script(`cat > ${out}`) }], big);
  assert.is(readFileSync(out, 'utf8').length, JSON.stringify(big).length);
});

test('a hook that never reads stdin and fails is still reported', async () => {
  const big = state({ annotations: { blob: 'x'.repeat(1 << 20) } });
  const hook = script('echo nope >&2\nexit 4');
  const err = await rejection(runHooks('createRuntime', [{ path: hook }], big));
  assert.is(err.message, `createRuntime hook #0 (${hook}) failed: exit status 4: nope`);
});

test('a missing path, a non-executable file and a relative path give clear errors', async () => {
  const missing = join(dir, 'does-not-exist');
  const e1 = await rejection(runHooks('prestart', [{ path: missing }], state()));
  assert.is(e1.message, `prestart hook #0 (${missing}) failed: cannot execute: no such file or directory`);
  assert.is(e1.code, 'ERR_HOOK');

  const plain = script('exit 0', 0o644);
  const e2 = await rejection(runHooks('createRuntime', [{ path: script('exit 0') }, { path: plain }], state()));
  assert.is(e2.message, `createRuntime hook #1 (${plain}) failed: cannot execute: permission denied`);

  const e3 = await rejection(runHooks('prestart', [{ path: 'bin/true' }], state()));
  assert.is(e3.message, 'prestart hook #0 (bin/true) failed: path is not absolute');

  const warned: string[] = [];
  const failures = await runHooks('poststop', [{ path: missing }, { path: plain }], state(), { warn: (l) => warned.push(l) });
  assert.equal(failures.map((f) => f.reason), ['cannot execute: no such file or directory', 'cannot execute: permission denied']);
  assert.is(warned.length, 2);
});

test('long stderr is cut to its last ~2 KB', async () => {
  const hook = script('i=0\nwhile [ $i -lt 400 ]; do echo "line $i of noise noise noise" >&2; i=$((i+1)); done\necho THE-END >&2\nexit 1');
  const err = await rejection(runHooks('createRuntime', [{ path: hook }], state()));
  assert.ok(err.message.endsWith('; THE-END'), err.message.slice(-80));
  assert.ok(err.message.length < 2300, `message is ${err.message.length} chars`);
  assert.not.ok(err.message.includes('line 0 of'));
});

test("hook output never reaches the runtime's stdout", () => {
  const loud = script('echo LEAK-STDOUT\necho LEAK-STDERR >&2\nexit 0');
  const failing = script('echo LEAK-FAIL\nexit 1');
  const runner = fileURLToPath(new URL('../src/hooks/run-hooks.ts', import.meta.url));
  const code = `
    const { runHooks } = await import(${JSON.stringify(runner)});
    const s = ${JSON.stringify(state({ status: 'running' }))};
    await runHooks('poststart', [{ path: ${JSON.stringify(loud)} }, { path: ${JSON.stringify(failing)} }], s);
    process.stdout.write('DONE');
  `;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', cwd: bundle });
  assert.is(res.status, 0, res.stderr);
  assert.is(res.stdout, 'DONE');
  assert.is(res.stderr, `warning: poststart hook #1 (${failing}) failed: exit status 1: stdout: LEAK-FAIL\n`);
});

test.run();
