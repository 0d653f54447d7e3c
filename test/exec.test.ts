// `tsrun exec` against the real kernel: output and exit status, the process is
// in every namespace and the cgroup of the container, --process FILE and the
// command-line overrides observed from inside, --detach --pid-file, clear
// errors, no fd leaks, and a foreground --tty relayed through tsrun's terminal.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { leftovers, runCommand, sandbox, statusOf, TSRUN, uniqueId, waitFor } from './lib/tsrun.ts';

const sb = sandbox();
test.after(async () => {
  await sb.cleanup();
});

/** A running container (sleep under tsrun-init) and its init's host pid. */
async function running(prefix: string): Promise<{ id: string; pid: number }> {
  const id = uniqueId(prefix);
  const r = await sb.tsrun(['run', '--detach', '--bundle', sb.bundle((c) => { c.process!.args = ['sleep', '300']; }), id]);
  assert.is(r.exitCode, 0, String(r.stderr));
  const pid = JSON.parse(String((await sb.tsrun(['state', id])).stdout)).pid as number;
  return { id, pid };
}

async function remove(id: string): Promise<void> {
  const r = await sb.tsrun(['delete', '--force', id]);
  assert.is(r.exitCode, 0, String(r.stderr));
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

test('exec prints the output and returns the exit status: 0, 42, 137 after kill -9 $$', async () => {
  const { id } = await running('exec-status');
  const ok = await sb.tsrun(['exec', id, 'sh', '-c', 'echo hello; echo oops >&2']);
  assert.is(ok.exitCode, 0, String(ok.stderr));
  assert.is(ok.stdout, 'hello');
  assert.is(ok.stderr, 'oops');
  assert.is((await sb.tsrun(['exec', id, 'sh', '-c', 'exit 42'])).exitCode, 42);
  assert.is((await sb.tsrun(['exec', id, 'sh', '-c', 'kill -9 $$'])).exitCode, 137);
  assert.is(await statusOf(sb, id), 'running', 'the container is untouched');
  await remove(id);
});

test('exec passes its stdin on: the process reads it to EOF', async () => {
  const { id } = await running('exec-stdin');
  const r = await runCommand('sh', ['-c', `printf 'line1\\nline2\\n' | ${TSRUN} --root ${sb.root} exec ${id} sh -c 'wc -l; echo done'`]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.equal(r.stdout.split('\n').map((l) => l.trim()), ['2', 'done']);
  await remove(id);
});

test('a detached exec returns at once, its pid file names the exec\'d process, in every namespace and the cgroup of the container', async () => {
  const { id, pid: init } = await running('exec-ns');
  const pidFile = join(sb.dir, `${id}.exec.pid`);
  const r = await sb.tsrun(['exec', '--detach', '--pid-file', pidFile, id, 'sleep', '300']);
  assert.is(r.exitCode, 0, String(r.stderr));
  const pid = Number(readFileSync(pidFile, 'utf8'));
  assert.ok(alive(pid), 'tsrun returned while the process still runs');
  assert.is(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), 'sleep\x00300\x00', 'the pid is the exec\'d process');
  const kinds = readdirSync(`/proc/${init}/ns`);
  assert.ok(kinds.includes('mnt') && kinds.includes('pid'));
  for (const ns of kinds) {
    assert.is(readlinkSync(`/proc/${pid}/ns/${ns}`), readlinkSync(`/proc/${init}/ns/${ns}`), `same ${ns} namespace as the init`);
  }
  for (const ns of ['mnt', 'pid', 'uts', 'ipc', 'net']) {
    assert.is.not(readlinkSync(`/proc/${pid}/ns/${ns}`), readlinkSync(`/proc/self/ns/${ns}`), `not the host's ${ns} namespace`);
  }
  // Every v1 hierarchy; on a hybrid host the cgroup2 mirror ("0::") enforces
  // nothing and is not joined (see src/runtime/create.ts selfJoinFiles).
  const hybrid = !existsSync('/sys/fs/cgroup/cgroup.controllers') && existsSync('/sys/fs/cgroup/unified/cgroup.controllers');
  const cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').filter((l) => !(hybrid && l.startsWith('0::')));
  assert.ok(cgroups.length > 0);
  for (const line of cgroups) assert.ok(line.endsWith(`:/tsrun/${id}`), `in the container's cgroup: ${line}`);
  const inside = await sb.tsrun(['exec', id, 'sh', '-c', 'ps -o pid,args']);
  assert.match(inside.stdout, /sleep 300\n.*sleep 300|sleep 300[\s\S]*sleep 300/, 'both sleeps are visible in the container\'s pid namespace');
  await remove(id);
  assert.ok(await waitFor(() => !alive(pid)), 'delete --force also ends exec\'d processes');
});

test('--process FILE: user, groups, env, cwd, capabilities, rlimits, noNewPrivileges', async () => {
  const { id } = await running('exec-proc');
  const file = join(sb.dir, `${id}.process.json`);
  writeFileSync(file, JSON.stringify({
    user: { uid: 1000, gid: 1000, additionalGids: [5] },
    args: ['sh', '-c', 'id; pwd; echo "FOO=$FOO"; grep -E "^(CapEff|CapBnd|NoNewPrivs):" /proc/self/status; ulimit -n; ulimit -Hn'],
    env: ['PATH=/bin', 'FOO=from-file'],
    cwd: '/tmp',
    capabilities: { bounding: ['CAP_KILL', 'CAP_NET_RAW'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: ['CAP_KILL'], ambient: ['CAP_KILL'] },
    rlimits: [{ type: 'RLIMIT_NOFILE', soft: 123, hard: 456 }],
    noNewPrivileges: true,
  }));
  const r = await sb.tsrun(['exec', '--process', file, id]);
  assert.is(r.exitCode, 0, String(r.stderr));
  assert.equal(r.stdout.split('\n'), [
    'uid=1000 gid=1000 groups=5(tty)',
    '/tmp',
    'FOO=from-file',
    'CapEff:\t0000000000000020', // CAP_KILL, kept across exec as an ambient capability
    'CapBnd:\t0000000000002020', // CAP_KILL | CAP_NET_RAW
    'NoNewPrivs:\t1',
    '123',
    '456',
  ]);
  writeFileSync(file, JSON.stringify({ user: { uid: 0, gid: 0 }, args: ['sh', '-c', 'grep -E "^(CapEff|NoNewPrivs):" /proc/self/status'], cwd: '/', noNewPrivileges: false, capabilities: { bounding: ['CAP_CHOWN'], effective: ['CAP_CHOWN'], permitted: ['CAP_CHOWN'] } }));
  const root = await sb.tsrun(['exec', '-p', file, id]);
  assert.is(root.exitCode, 0, String(root.stderr));
  assert.equal(root.stdout.split('\n'), ['CapEff:\t0000000000000001', 'NoNewPrivs:\t0']);
  await remove(id);
});

test('--process FILE errors: a missing file and an invalid process are clear errors', async () => {
  const { id } = await running('exec-procerr');
  const missing = await sb.tsrun(['exec', '--process', join(sb.dir, 'nope.json'), id]);
  assert.is(missing.exitCode, 1);
  assert.match(missing.stderr, /process file ".*nope\.json": ENOENT/);
  const file = join(sb.dir, `${id}.bad.json`);
  writeFileSync(file, JSON.stringify({ args: [] }));
  const bad = await sb.tsrun(['exec', '--process', file, id]);
  assert.is(bad.exitCode, 1);
  assert.match(bad.stderr, 'must have required property "cwd"');
  assert.match(bad.stderr, '/process/args: must have at least 1 item');
  const none = await sb.tsrun(['exec', id]);
  assert.is(none.exitCode, 2, 'a usage error');
  assert.match(none.stderr, 'needs a command or --process FILE');
  await remove(id);
});

test('--env, --cwd, --user, --cap, --no-new-privs override the container\'s process', async () => {
  const id = uniqueId('exec-flags');
  const bundle = sb.bundle((c) => {
    c.process!.args = ['sleep', '300'];
    c.process!.env = ['PATH=/bin', 'KEEP=kept', 'FOO=old'];
    c.process!.noNewPrivileges = false;
  });
  assert.is((await sb.tsrun(['run', '-d', '--bundle', bundle, id])).exitCode, 0);
  const plain = await sb.tsrun(['exec', id, 'sh', '-c', 'grep -E "^(CapEff|NoNewPrivs):" /proc/self/status']);
  const capEff = /CapEff:\s+([0-9a-f]+)/.exec(plain.stdout)?.[1];
  assert.ok(capEff, plain.stdout);
  assert.match(plain.stdout, 'NoNewPrivs:\t0');
  assert.is(BigInt(`0x${capEff}`) & (1n << 21n), 0n, 'no CAP_SYS_ADMIN by default');
  const r = await sb.tsrun(['exec', '--env', 'FOO=new', '-e', 'BAR=bar', '--cwd', '/tmp', '--cap', 'CAP_SYS_ADMIN', '--no-new-privs', id,
    'sh', '-c', 'echo "$KEEP $FOO $BAR"; pwd; grep -E "^(CapEff|NoNewPrivs):" /proc/self/status']);
  assert.is(r.exitCode, 0, String(r.stderr));
  const [envLine, cwd, effLine, nnp] = r.stdout.split('\n');
  assert.is(envLine, 'kept new bar');
  assert.is(cwd, '/tmp');
  const eff = BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(effLine ?? '')?.[1] ?? '0'}`);
  assert.is.not(eff & (1n << 21n), 0n, '--cap CAP_SYS_ADMIN is effective');
  assert.is(nnp, 'NoNewPrivs:\t1');
  const user = await sb.tsrun(['exec', '--user', '65534:65534', id, 'id']);
  assert.is(user.exitCode, 0, String(user.stderr));
  assert.is(user.stdout, 'uid=65534(nobody) gid=65534(nogroup)');
  const bad = await sb.tsrun(['exec', '--user', 'nobody', id, 'id']);
  assert.is(bad.exitCode, 2, 'a usage error');
  assert.match(bad.stderr, '--user "nobody": use uid[:gid]');
  await remove(id);
});

test('exec into a created or a stopped container is a clear error', async () => {
  const id = uniqueId('exec-state');
  assert.is((await sb.tsrun(['create', '--bundle', sb.bundle((c) => { c.process!.args = ['true']; }), id])).exitCode, 0);
  const created = await sb.tsrun(['exec', id, 'true']);
  assert.is(created.exitCode, 1);
  assert.match(created.stderr, `cannot exec in container "${id}": it is created`);
  assert.is((await sb.tsrun(['start', id])).exitCode, 0);
  assert.ok(await waitFor(async () => (await statusOf(sb, id)) === 'stopped'));
  const stopped = await sb.tsrun(['exec', id, 'true']);
  assert.is(stopped.exitCode, 1);
  assert.match(stopped.stderr, `cannot exec in container "${id}": it is stopped`);
  const missing = await sb.tsrun(['exec', `${id}-nope`, 'true']);
  assert.is(missing.exitCode, 1);
  assert.match(missing.stderr, `container "${id}-nope" does not exist`);
  assert.is((await sb.tsrun(['delete', id])).exitCode, 0);
});

test('a program that is missing or not executable is a clear error', async () => {
  const { id } = await running('exec-bad');
  const missing = await sb.tsrun(['exec', id, 'no-such-program']);
  assert.is(missing.exitCode, 1);
  assert.match(missing.stderr, 'exec: "no-such-program": executable file not found in $PATH');
  const notExec = await sb.tsrun(['exec', id, '/etc/passwd']);
  assert.is(notExec.exitCode, 1);
  assert.match(notExec.stderr, '"/etc/passwd"');
  assert.is(await statusOf(sb, id), 'running');
  await remove(id);
});

test('the caller\'s extra fds do not leak into the exec\'d process', async () => {
  const { id } = await running('exec-fds');
  const leak = join(sb.dir, 'leak.txt');
  writeFileSync(leak, 'secret');
  const fd = openSync(leak, 'r');
  try {
    // "; true" keeps sh from exec'ing ls in its place (ls's own dir fd would show).
    const r = await sb.tsrun(['exec', id, 'sh', '-c', 'ls /proc/$$/fd; true'], { extraFds: [fd, fd, fd] });
    assert.is(r.exitCode, 0, String(r.stderr));
    assert.equal(r.stdout.split('\n'), ['0', '1', '2'], 'only stdio: fds 3-5 of tsrun were not passed on');
  } finally {
    closeSync(fd);
  }
  await remove(id);
});

test('--tty in the foreground without a console socket: a tty inside, input and output relayed', async () => {
  const { id } = await running('exec-tty');
  const cmd = `${TSRUN} --root ${sb.root} exec --tty ${id} sh`;
  // The input is typed before the shell runs; $((6*7)) tells its echo from its output.
  const r = await runCommand('sh', ['-c', `printf 'tty; echo inside-$((6*7)); exit 5\\n' | script -qec '${cmd}' /dev/null`]);
  const out = r.stdout.replace(/\r/g, '');
  assert.match(out, /^\/dev\/pts\/\d+$/m, `a tty inside: ${out}`);
  assert.match(out, /^inside-42$/m, out);
  assert.is(r.exitCode, 5, 'script returns the exit status of tsrun exec, which is the shell\'s');
  const noTty = await sb.tsrun(['exec', id, 'sh', '-c', 'tty']);
  assert.is(noTty.stdout, 'not a tty', 'without --tty there is none');
  const detached = await sb.tsrun(['exec', '--tty', '--detach', id, 'true']);
  assert.is(detached.exitCode, 2);
  assert.match(detached.stderr, 'a detached exec with --tty needs --console-socket');
  await remove(id);
});

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
  assert.not.ok(existsSync(sb.dir));
});

test.run();
