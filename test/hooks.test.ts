// OCI hooks through tsrun on the real kernel: all six kinds at their moment
// with the state on stdin, args, env and timeout; the namespaces each kind
// runs in; the order; the failure rules (fatal kinds fail create/start and
// tear the container down, poststart/poststop only warn); timeouts; hooks
// that never read stdin. Every hook is one shell script, run as
// `/bin/busybox sh SCRIPT DIR KIND INDEX MODE`: busybox picks the applet from
// argv[0], so a hook that runs at all got args[0] exactly. The script lives in
// a host directory that is also bind-mounted at /root in the container,
// where startContainer hooks (whose path resolves in the container) find it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config, Hook, HookKind } from '../src/runtime/oci-types.ts';
import { leftovers, runCommand, sandbox, statusOf, TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';

const sb = sandbox();
// The runtime's own environment: hooks with an `env` must not see it.
const LEAK = 'TSRUN_HOOKS_TEST_LEAK';
process.env[LEAK] = 'from-the-runtime';
const IN_CTR = '/root';
const KINDS: HookKind[] = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];
const NS = ['mnt', 'net', 'pid'];
const HOST_NS = NS.map((n) => readlinkSync(`/proc/self/ns/${n}`));
const made: string[] = [];
const HANG_BOUND_S = 30;

test.after(async () => {
  await sb.cleanup();
});

const SCRIPT = `#!/bin/sh
d=$1 kind=$2 i=$3 mode=$4
if [ "$mode" = noread ]; then sleep 0.2; echo "$kind#$i" >> "$d/order"; exit 0; fi
cat > "$d/$kind.$i.state"
echo "$kind#$i" >> "$d/order"
for n in mnt net pid; do readlink /proc/self/ns/$n; done > "$d/$kind.$i.ns"
env > "$d/$kind.$i.env"
echo "$0 $*" > "$d/$kind.$i.args"
echo "$PPID $(cat /proc/1/comm)" > "$d/$kind.$i.parent"
case "$mode" in
fail) echo "boom $kind#$i" >&2; echo "some stdout"; exit 3 ;;
sleep) (while :; do sleep 1; done) & wait ;;
quiet) exec >/dev/null 2>&1; (while :; do sleep 1; done) & wait ;;
esac
exit 0
`;

/** A directory for one container's hook output, with the script in it. */
function hookDir(): string {
  const dir = mkdtempSync(join(sb.dir, 'hooks-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'hook.sh'), SCRIPT, { mode: 0o755 });
  return dir;
}

type Mode = 'ok' | 'fail' | 'sleep' | 'quiet' | 'noread';

function hook(dir: string, kind: HookKind, index: number, mode: Mode = 'ok', extra: Partial<Hook> = {}): Hook {
  const where = kind === 'startContainer' ? IN_CTR : dir;
  return {
    path: '/bin/busybox',
    args: ['sh', `${where}/hook.sh`, where, kind, String(index), mode],
    env: [`HOOK_KIND=${kind}`, 'PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
    timeout: 20,
    ...extra,
  };
}

/** A bundle whose hooks are `hooks` (kind → modes of its hooks, in order). */
function hookBundle(dir: string, hooks: Partial<Record<HookKind, Mode[]>>, edit?: (c: Config) => void): string {
  return sb.bundle((c) => {
    c.mounts!.push({ destination: IN_CTR, type: 'bind', source: dir, options: ['rbind', 'rw'] });
    c.process!.args = ['sh', '-c', `echo program >> ${IN_CTR}/order; exec sleep 60`];
    c.annotations = { 'org.example.hooks': 'yes' };
    c.hooks = {};
    for (const [kind, modes] of Object.entries(hooks) as [HookKind, Mode[]][]) c.hooks[kind] = modes.map((m, i) => hook(dir, kind, i, m));
    edit?.(c);
  });
}

const order = (dir: string): string[] => (existsSync(join(dir, 'order')) ? readFileSync(join(dir, 'order'), 'utf8').trim().split('\n') : []);
const out = (dir: string, kind: HookKind, i: number, what: string): string => readFileSync(join(dir, `${kind}.${i}.${what}`), 'utf8');
const stateOf = (dir: string, kind: HookKind, i: number) => JSON.parse(out(dir, kind, i, 'state')) as Record<string, unknown>;

/** Processes still running the hook script of `dir` (host kinds only: their cmdline names it). */
function hookProcesses(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(dir)) found.push(`${pid}: ${cmd.replace(/\0/g, ' ')}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const gone = (pid: number) => waitFor(() => !existsSync(`/proc/${pid}/stat`) || /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')));

/** A test whose containers are deleted when it ends, passed or not. */
function t(name: string, fn: () => Promise<void>): void {
  test(name, async () => {
    try {
      await fn();
    } finally {
      for (const id of made.splice(0)) await sb.tsrun(['delete', '--force', id]);
    }
  });
}

async function create(bundle: string, id: string) {
  made.push(id);
  // A hook that is never timed out would hang the suite: past a generous
  // bound, create gets SIGTERM (it then tears the container down) and 124.
  return runCommand('timeout', [String(HANG_BOUND_S), TSRUN, '--root', sb.root, 'create', '--bundle', bundle, id]);
}

t('all six kinds run at their moment: state on stdin, args, env, namespaces, order', async () => {
  const dir = hookDir();
  const id = uniqueId('hk');
  const bundle = hookBundle(dir, Object.fromEntries(KINDS.map((k) => [k, ['ok', 'ok']])));
  const c = await create(bundle, id);
  assert.is(c.exitCode, 0, c.stderr);
  assert.equal(order(dir), ['prestart#0', 'prestart#1', 'createRuntime#0', 'createRuntime#1', 'createContainer#0', 'createContainer#1']);
  const pid = JSON.parse((await sb.tsrun(['state', id])).stdout).pid as number;
  const ctrNs = NS.map((n) => readlinkSync(`/proc/${pid}/ns/${n}`));
  NS.forEach((n, i) => assert.is.not(ctrNs[i], HOST_NS[i], `the container has its own ${n} namespace`));
  const comm1 = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

  const s = await sb.tsrun(['start', id]);
  assert.is(s.exitCode, 0, s.stderr);
  assert.is(s.stderr, '', 'no warnings');
  assert.ok(await waitFor(() => order(dir).includes('program')), 'the program ran');
  const started = order(dir);
  assert.equal(started.slice(6, 8), ['startContainer#0', 'startContainer#1'], 'startContainer right after create, in order');
  assert.ok(started.indexOf('program') > 7, 'the program runs after the startContainer hooks');
  assert.ok(started.indexOf('poststart#0') > 7 && started.indexOf('poststart#1') > started.indexOf('poststart#0'), `poststart in order: ${started}`);
  const parent = out(dir, 'startContainer', 1, 'parent').trim().split(' ');
  assert.is(parent[0], '1', 'startContainer is a child of the container PID 1');
  assert.is.not(parent[1], readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'PID 1 had not exec\'d its program yet');
  assert.is(parent[1], comm1, 'PID 1 was still what create left at the barrier');

  const d = await sb.tsrun(['delete', '--force', id]);
  assert.is(d.exitCode, 0, d.stderr);
  assert.equal(order(dir).slice(-2), ['poststop#0', 'poststop#1']);
  assert.is(order(dir).length, 13);

  const status: Record<HookKind, string> = {
    prestart: 'creating', createRuntime: 'creating', createContainer: 'creating',
    startContainer: 'created', poststart: 'running', poststop: 'stopped',
  };
  for (const kind of KINDS) {
    for (const i of [0, 1]) {
      const st = stateOf(dir, kind, i);
      const what = `${kind}#${i}`;
      assert.is(st.status, status[kind], `${what} status`);
      assert.is(st.id, id, `${what} id`);
      assert.is(st.bundle, bundle, `${what} bundle`);
      assert.equal(st.annotations, { 'org.example.hooks': 'yes' }, `${what} annotations`);
      assert.type(st.ociVersion, 'string');
      // The host pid (runtime.md: required while created or running; optional when stopped).
      if (kind === 'poststop') assert.ok(st.pid === undefined || st.pid === pid, `${what} pid ${st.pid}`);
      else assert.is(st.pid, pid, `${what} pid is the init's host pid`);
      const where = kind === 'startContainer' ? IN_CTR : dir;
      // args[0] ("sh") is what made busybox run its shell; the rest are the script's.
      assert.is(out(dir, kind, i, 'args').trim(), `${where}/hook.sh ${where} ${kind} ${i} ok`, `${what} args`);
      const env = out(dir, kind, i, 'env');
      assert.match(env, `HOOK_KIND=${kind}\n`, `${what} env`);
      assert.not.match(env, LEAK, `${what} sees only its own env`);
      const ns = out(dir, kind, i, 'ns').trim().split('\n');
      const expected = kind === 'createContainer' || kind === 'startContainer' ? ctrNs : HOST_NS;
      assert.equal(ns, expected, `${what} namespaces (${NS.join(', ')})`);
    }
  }
  assert.equal(leftovers(sb.root), []);
});

t('a hook without env inherits the runtime environment', async () => {
  const dir = hookDir();
  const id = uniqueId('hkenv');
  const bundle = hookBundle(dir, {}, (c) => {
    c.hooks = { createRuntime: [{ ...hook(dir, 'createRuntime', 0), env: undefined }], poststop: [{ ...hook(dir, 'poststop', 0), env: undefined }] };
  });
  assert.is((await create(bundle, id)).exitCode, 0);
  assert.match(out(dir, 'createRuntime', 0, 'env'), `${LEAK}=from-the-runtime`);
  assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
  assert.match(out(dir, 'poststop', 0, 'env'), `${LEAK}=from-the-runtime`);
});

for (const kind of ['prestart', 'createRuntime', 'createContainer'] as HookKind[]) {
  t(`a failing ${kind} hook fails create; the container is torn down; poststop still runs`, async () => {
    const dir = hookDir();
    const id = uniqueId('hkfail');
    const hooks: Partial<Record<HookKind, Mode[]>> = { prestart: ['ok'], createRuntime: ['ok'], createContainer: ['ok'], startContainer: ['ok'], poststart: ['ok'], poststop: ['ok'] };
    hooks[kind] = ['ok', 'fail', 'ok'];
    const c = await create(hookBundle(dir, hooks), id);
    assert.is.not(c.exitCode, 0);
    assert.match(c.stderr, `${kind} hook #1 (/bin/busybox) failed: exit status 3: boom ${kind}#1`);
    const upTo = KINDS.slice(0, KINDS.indexOf(kind)).flatMap((k) => (k === 'prestart' || k === 'createRuntime' ? [`${k}#0`] : []));
    assert.equal(order(dir), [...upTo, `${kind}#0`, `${kind}#1`, 'poststop#0'], 'later hooks of the kind and later kinds do not run');
    const pid = stateOf(dir, kind, 0).pid as number;
    assert.ok(await gone(pid), 'the container process is gone');
    assert.is(stateOf(dir, 'poststop', 0).status, 'stopped');
    assert.equal(leftovers(sb.root), [], 'no state dir, cgroup, mount or process');
  });
}

t('a failing startContainer hook fails start; the container is gone; poststop runs at delete', async () => {
  const dir = hookDir();
  const id = uniqueId('hkstart');
  const c = await create(hookBundle(dir, { startContainer: ['ok', 'fail', 'ok'], poststart: ['ok'], poststop: ['ok'] }), id);
  assert.is(c.exitCode, 0, c.stderr);
  const pid = JSON.parse((await sb.tsrun(['state', id])).stdout).pid as number;
  const s = await sb.tsrun(['start', id]);
  assert.is.not(s.exitCode, 0);
  assert.match(s.stderr, `startContainer hook #1 (/bin/busybox) failed: exit status 3: boom startContainer#1`);
  assert.ok(await gone(pid), 'the container process is gone');
  assert.is(await statusOf(sb, id), 'stopped');
  assert.equal(order(dir), ['startContainer#0', 'startContainer#1'], 'no later hook, no program, no poststart, no poststop yet');
  const d = await sb.tsrun(['delete', id]);
  assert.is(d.exitCode, 0, d.stderr);
  assert.equal(order(dir), ['startContainer#0', 'startContainer#1', 'poststop#0']);
  assert.equal(leftovers(sb.root), []);
});

t('a failing poststart hook is a warning: start succeeds, the container runs, later hooks run', async () => {
  const dir = hookDir();
  const id = uniqueId('hkpoststart');
  assert.is((await create(hookBundle(dir, { poststart: ['fail', 'ok'] }), id)).exitCode, 0);
  const s = await sb.tsrun(['start', id]);
  assert.is(s.exitCode, 0, s.stderr);
  assert.match(s.stderr, /warning: poststart hook #0 \(\/bin\/busybox\) failed: exit status 3: boom poststart#0$/m);
  assert.is(await statusOf(sb, id), 'running');
  assert.ok(order(dir).includes('poststart#1'), 'the next poststart hook ran');
  assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
  assert.equal(leftovers(sb.root), []);
});

t('a failing poststop hook is a warning: delete succeeds, later hooks run, state removed', async () => {
  const dir = hookDir();
  const id = uniqueId('hkpoststop');
  assert.is((await create(hookBundle(dir, { poststop: ['fail', 'ok'] }), id)).exitCode, 0);
  const d = await sb.tsrun(['delete', '--force', id]);
  assert.is(d.exitCode, 0, d.stderr);
  assert.match(d.stderr, /warning: poststop hook #0 \(\/bin\/busybox\) failed: exit status 3: boom poststop#0/);
  assert.equal(order(dir), ['poststop#0', 'poststop#1']);
  assert.not.ok(existsSync(join(sb.root, id)), 'state removed');
  assert.is((await sb.tsrun(['state', id])).exitCode, 1);
  assert.equal(leftovers(sb.root), []);
});

// 'quiet': the hook closes its stdout and stderr first, so only the clock can end it.
for (const [kind, mode] of [['createRuntime', 'sleep'], ['createContainer', 'sleep'], ['createRuntime', 'quiet'], ['createContainer', 'quiet']] as [HookKind, Mode][]) {
  t(`a ${kind} hook past its timeout is killed and fails create, leaving no process${mode === 'quiet' ? ' (its output closed)' : ''}`, async () => {
    const dir = hookDir();
    const id = uniqueId('hktime');
    const bundle = hookBundle(dir, { poststop: ['ok'] }, (c) => {
      c.hooks![kind] = [hook(dir, kind, 0, mode, { timeout: 1 }), hook(dir, kind, 1)];
    });
    const c = await create(bundle, id);
    assert.is.not(c.exitCode, 124, `create still waited for the hook after ${HANG_BOUND_S}s`);
    assert.is.not(c.exitCode, 0);
    assert.match(c.stderr, `${kind} hook #0 (/bin/busybox) failed: timed out after 1s`);
    assert.equal(order(dir), [`${kind}#0`, 'poststop#0']);
    assert.ok(await waitFor(() => hookProcesses(dir).length === 0), `hook processes left: ${hookProcesses(dir)}`);
    assert.equal(leftovers(sb.root), []);
  });
}

t('a startContainer hook past its timeout fails start, leaving no process', async () => {
  const dir = hookDir();
  const id = uniqueId('hkstime');
  const bundle = hookBundle(dir, { poststop: ['ok'] }, (c) => {
    c.hooks!.startContainer = [hook(dir, 'startContainer', 0, 'sleep', { timeout: 1 })];
  });
  assert.is((await create(bundle, id)).exitCode, 0);
  const pid = JSON.parse((await sb.tsrun(['state', id])).stdout).pid as number;
  const s = await sb.tsrun(['start', id]);
  assert.is.not(s.exitCode, 0);
  assert.match(s.stderr, 'startContainer hook #0 (/bin/busybox) failed: timed out after 1s');
  assert.ok(await gone(pid), 'the container process is gone');
  assert.not.ok(order(dir).includes('program'));
  assert.is((await sb.tsrun(['delete', id])).exitCode, 0);
  assert.equal(leftovers(sb.root), []);
});

t('a poststop hook past its timeout is killed, warned about, and the next one runs', async () => {
  const dir = hookDir();
  const id = uniqueId('hkptime');
  const bundle = hookBundle(dir, {}, (c) => {
    c.hooks!.poststop = [hook(dir, 'poststop', 0, 'sleep', { timeout: 1 }), hook(dir, 'poststop', 1)];
  });
  assert.is((await create(bundle, id)).exitCode, 0);
  const d = await sb.tsrun(['delete', '--force', id]);
  assert.is(d.exitCode, 0, d.stderr);
  assert.match(d.stderr, 'warning: poststop hook #0 (/bin/busybox) failed: timed out after 1s');
  assert.equal(order(dir), ['poststop#0', 'poststop#1']);
  assert.ok(await waitFor(() => hookProcesses(dir).length === 0), `hook processes left: ${hookProcesses(dir)}`);
  assert.not.ok(existsSync(join(sb.root, id)));
  assert.equal(leftovers(sb.root), []);
});

t('hooks that never read stdin break nothing, with a large annotations map', async () => {
  const dir = hookDir();
  const id = uniqueId('hknoread');
  const annotations: Record<string, string> = {};
  for (let i = 0; i < 3000; i++) annotations[`org.example.key${i}`] = `value-${i}-${'x'.repeat(80)}`;
  const bundle = hookBundle(dir, Object.fromEntries(KINDS.map((k) => [k, ['noread', 'ok']])), (c) => {
    c.annotations = annotations;
  });
  const c = await create(bundle, id);
  assert.is(c.exitCode, 0, c.stderr.slice(0, 2000));
  const s = await sb.tsrun(['start', id]);
  assert.is(s.exitCode, 0, s.stderr.slice(0, 2000));
  assert.is(s.stderr, '');
  const d = await sb.tsrun(['delete', '--force', id]);
  assert.is(d.exitCode, 0, d.stderr.slice(0, 2000));
  assert.is(d.stderr, '');
  for (const kind of KINDS) {
    const seen = order(dir);
    assert.ok(seen.includes(`${kind}#0`) && seen.includes(`${kind}#1`), `${kind} hooks ran: ${seen}`);
    assert.equal(stateOf(dir, kind, 1).annotations, annotations, `${kind}#1 got the whole state`);
  }
  assert.equal(leftovers(sb.root), []);
});

test('nothing is left behind', async () => {
  assert.equal(leftovers(sb.root), []);
  assert.equal(hookProcesses(sb.dir), []);
});

test.run();
