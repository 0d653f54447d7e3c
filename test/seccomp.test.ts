// linux.seccomp against the real kernel: a profile's denials and errnos, an
// argument rule, SCMP_ACT_KILL_PROCESS, a notify agent that receives the fd
// and answers a syscall, exec confined by the container's profile, with and
// without noNewPrivileges (the filter is loaded at two different points), and
// clear refusals naming the JSON path. The engines' own default profiles are
// run in podman.test.ts and containerd.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leftovers, PROJECT, sandbox, uniqueId, waitFor } from './lib/tsrun.ts';
import type { Config, Seccomp } from '../src/runtime/oci-types.ts';

const sb = sandbox();
test.after(async () => {
  await sb.cleanup();
});

const denyMkdir = (extra: Partial<Seccomp> = {}, errnoRet?: number): Seccomp => ({
  defaultAction: 'SCMP_ACT_ALLOW',
  syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', ...(errnoRet === undefined ? {} : { errnoRet }) }],
  ...extra,
});

/** Runs `script` in the foreground in a container with `seccomp`; returns status and output. */
async function runWith(seccomp: Seccomp | undefined, script: string, edit?: (c: Config) => void, args: string[] = []) {
  const id = uniqueId('sc');
  const bundle = sb.bundle((c) => {
    c.process!.args = ['sh', '-c', script];
    c.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs' });
    if (seccomp) c.linux!.seccomp = seccomp;
    edit?.(c);
  });
  const r = await sb.tsrun([...args, 'run', '--bundle', bundle, id]);
  return { ...r, id };
}

for (const nnp of [true, false]) {
  test(`a profile denying mkdir: Seccomp 2, EPERM by default, errnoRet 38 is ENOSYS (noNewPrivileges ${nnp})`, async () => {
    const script = 'grep "^Seccomp:" /proc/self/status; mkdir /tmp/a || echo denied; touch /tmp/f && echo touched';
    const eperm = await runWith(denyMkdir(), script, (c) => { c.process!.noNewPrivileges = nnp; });
    assert.is(eperm.exitCode, 0, eperm.stderr);
    assert.match(eperm.stdout, /^Seccomp:\s+2$/m);
    assert.match(eperm.stderr, /mkdir: can't create directory '\/tmp\/a': Operation not permitted/);
    assert.match(eperm.stdout, /denied\ntouched/);
    const enosys = await runWith(denyMkdir({}, 38), 'mkdir /tmp/a', (c) => { c.process!.noNewPrivileges = nnp; });
    assert.is(enosys.exitCode, 1);
    assert.match(enosys.stderr, /Function not implemented/);
  });
}

test('without a profile the container is unconfined: Seccomp 0', async () => {
  const r = await runWith(undefined, 'grep "^Seccomp:" /proc/self/status');
  assert.match(r.stdout, /^Seccomp:\s+0$/m);
});

test('an argument rule: personality(PER_LINUX32) denied with SCMP_CMP_EQ, personality(PER_LINUX) allowed', async () => {
  const profile: Seccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] }],
  };
  const r = await runWith(profile, 'linux64 true && echo linux64 ok; linux32 true || echo linux32 denied');
  assert.match(r.stdout, /linux64 ok\nlinux32 denied/, r.stderr);
  assert.match(r.stderr, /Operation not permitted/);
});

test('a uint64 argument value above 2^53 is read exactly: SCMP_CMP_MASKED_EQ with an all-ones mask', async () => {
  const id = uniqueId('sc-u64');
  const bundle = sb.bundle((c) => { c.process!.args = ['sh', '-c', 'linux64 true && echo linux64 ok; linux32 true || echo linux32 denied']; });
  // JSON.stringify would round the mask: the rule is written as text.
  const file = join(bundle, 'config.json');
  const config = readFileSync(file, 'utf8').replace('"linux": {', '"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["personality"], '
    + '"action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 18446744073709551615, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]}]},');
  writeFileSync(file, config);
  const r = await sb.tsrun(['run', '--bundle', bundle, id]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.stdout, 'linux64 ok\nlinux32 denied');
});

test('the default action applies to what no rule names; SCMP_ACT_KILL_PROCESS ends the container with SIGSYS', async () => {
  const kill: Seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL_PROCESS' }] };
  // exec: the shell itself makes the call (busybox would fork for a plain mkdir)
  const withInit = await runWith(kill, 'echo before; exec mkdir /tmp/a');
  assert.is(withInit.exitCode, 128 + 31, 'tsrun-init reports the program killed by SIGSYS');
  assert.is(withInit.stdout, 'before');
  const noInit = await runWith(kill, 'echo before; exec mkdir /tmp/a', (c) => { c.annotations = { 'run.tsrun.init': 'false' }; });
  assert.is(noInit.exitCode, 128 + 31, 'the container\'s PID 1 itself killed by SIGSYS');
  // A deny-by-default profile: only what is listed gets through.
  const errnoDefault: Seccomp = { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 13, syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ALLOW' }] };
  const r = await runWith({ ...errnoDefault, syscalls: [] }, 'true', (c) => { c.annotations = { 'run.tsrun.init': 'false' }; });
  assert.is.not(r.exitCode, 0, 'with everything denied, exec itself fails');
});

test('every other action: TRAP and KILL (a thread) end the caller with SIGSYS, TRACE without a tracer is ENOSYS, LOG lets the call through', async () => {
  const deny = (action: string): Seccomp => ({ defaultAction: 'SCMP_ACT_LOG', flags: ['SECCOMP_FILTER_FLAG_LOG'], syscalls: [{ names: ['mkdir', 'mkdirat'], action }] });
  for (const action of ['SCMP_ACT_TRAP', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_THREAD']) {
    const r = await runWith(deny(action), 'echo up; exec mkdir /tmp/a');
    assert.is(r.stdout, 'up', action);
    assert.is(r.exitCode, 128 + 31, `${action}: SIGSYS`);
  }
  const trace = await runWith(deny('SCMP_ACT_TRACE'), 'mkdir /tmp/a');
  assert.is(trace.exitCode, 1);
  assert.match(trace.stderr, /Function not implemented/, 'no tracer attached: the kernel fails the call with ENOSYS');
  const logged = await runWith(deny('SCMP_ACT_LOG'), 'mkdir /tmp/a && echo made');
  assert.is(logged.stdout, 'made');
});

test('a syscall name libseccomp does not know is skipped, with a --debug line naming its JSON path', async () => {
  const profile = denyMkdir();
  profile.syscalls![0]!.names.push('no_such_syscall');
  const r = await runWith(profile, 'mkdir /tmp/a', undefined, ['--debug']);
  assert.is(r.exitCode, 1);
  assert.match(r.stderr, /seccomp: syscall no_such_syscall \(\/linux\/seccomp\/syscalls\/0\/names\/2\) is unknown to libseccomp/);
});

test('a compiled profile is cached by content: the second create reads it, a damaged cache file is compiled again', async () => {
  const errno = 100 + Math.floor(Math.random() * 3000); // a profile no other test has made
  const profile = denyMkdir({}, errno);
  const runs: string[] = [];
  for (let i = 0; i < 2; i++) {
    const r = await runWith(profile, 'mkdir /tmp/a', undefined, ['--debug']);
    assert.is(r.exitCode, 1);
    runs.push(r.stderr);
  }
  assert.match(runs[0]!, /seccomp: 1 rules, \d+ BPF instructions, compiled by libseccomp/);
  assert.match(runs[1]!, /seccomp: 1 rules, \d+ BPF instructions, from the cache/);
  const dir = join(PROJECT, 'build/.seccomp-cache');
  const mine = readdirSync(dir).map((f) => join(dir, f)).filter((f) => readFileSync(f, 'latin1').includes(`${0x50000 | errno} mkdir,mkdirat`));
  assert.is(mine.length, 1, 'one file for the profile');
  const bytes = readFileSync(mine[0]!);
  const keyStart = bytes.indexOf(10) + 1;
  bytes[keyStart] = bytes[keyStart] === 0x31 ? 0x32 : 0x31; // the default action's first digit: another profile's key
  writeFileSync(mine[0]!, bytes);
  const again = await runWith(profile, 'mkdir /tmp/a', undefined, ['--debug']);
  assert.is(again.exitCode, 1);
  assert.match(again.stderr, /compiled by libseccomp/, 'a file whose key is not the profile\'s is not used');
  const replaced = await runWith(profile, 'mkdir /tmp/a', undefined, ['--debug']);
  assert.match(replaced.stderr, /from the cache/, 'and it was replaced');
  rmSync(mine[0]!, { force: true });
});

test('tsrun exec is confined by the container\'s profile, with and without no_new_privs', async () => {
  const id = uniqueId('sc-exec');
  const bundle = sb.bundle((c) => {
    c.process!.args = ['sleep', '300'];
    c.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs' });
    c.linux!.seccomp = denyMkdir({}, 38);
  });
  assert.is((await sb.tsrun(['run', '--detach', '--bundle', bundle, id])).exitCode, 0);
  for (const nnp of [[], ['--no-new-privs']]) {
    const r = await sb.tsrun(['exec', ...nnp, id, 'sh', '-c', 'grep "^Seccomp:" /proc/self/status; mkdir /tmp/a']);
    assert.is(r.exitCode, 1, r.stderr);
    assert.match(r.stdout, /^Seccomp:\s+2$/m);
    assert.match(r.stderr, /Function not implemented/);
  }
  assert.is((await sb.tsrun(['delete', '--force', id])).exitCode, 0);
});

let agentBinary: string | undefined;
function agent(): string {
  if (agentBinary) return agentBinary;
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-agent-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  agentBinary = join(dir, 'seccomp-agent');
  execFileSync('gcc', ['-O2', '-Wall', '-o', agentBinary, join(PROJECT, 'test/fixtures/seccomp-agent.c')]);
  return agentBinary;
}

/** Starts the agent on a fresh socket; resolves once it listens. */
async function startAgent() {
  const socket = join(sb.dir, `agent-${Math.random().toString(36).slice(2, 7)}.sock`);
  const child = spawn(agent(), [socket], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  assert.ok(await waitFor(() => err.includes('listening')), 'the agent listens');
  const stop = () => { if (child.exitCode === null) child.kill('SIGKILL'); };
  return { socket, output: () => out, stop, pid: child.pid! };
}

for (const nnp of [true, false]) {
  test(`SCMP_ACT_NOTIFY: the listener receives the container process state and the fd, and answers mkdir (noNewPrivileges ${nnp})`, async () => {
    const a = await startAgent();
    try {
      const profile: Seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        listenerPath: a.socket,
        listenerMetadata: 'answer=mkdir',
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }],
        ...(nnp ? { flags: ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] } : {}),
      };
      const r = await runWith(profile, 'mkdir /tmp/a && echo mkdir said yes; test -d /tmp/a || echo but made nothing', (c) => { c.process!.noNewPrivileges = nnp; });
      assert.is(r.exitCode, 0, r.stderr);
      assert.is(r.stdout, 'mkdir said yes\nbut made nothing');
      assert.ok(await waitFor(() => /notified \d+ pid/.test(a.output())), a.output());
      const state = JSON.parse(a.output().split('\n')[0]!);
      assert.equal(state.fds, ['seccompFd']);
      assert.is(state.metadata, 'answer=mkdir');
      assert.is(state.state.id, r.id);
      assert.is(state.state.status, nnp ? 'created' : 'creating');
      assert.is(state.pid, state.state.pid);
      assert.ok(state.pid > 1);
      assert.type(state.ociVersion, 'string');
    } finally {
      a.stop();
    }
  });
}

test('SCMP_ACT_NOTIFY in exec: the listener gets the exec\'d process\'s pid and the running container\'s state', async () => {
  const a = await startAgent();
  const id = uniqueId('sc-nexec');
  try {
    const bundle = sb.bundle((c) => {
      c.process!.args = ['sleep', '300'];
      c.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs' });
      c.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: a.socket, syscalls: [{ names: ['mkdirat', 'mkdir'], action: 'SCMP_ACT_NOTIFY' }] };
    });
    const agentForCreate = a; // the container's own filter goes to this agent
    assert.is((await sb.tsrun(['run', '--detach', '--bundle', bundle, id])).exitCode, 0);
    assert.ok(await waitFor(() => agentForCreate.output().includes('"fds"')));
    agentForCreate.stop();
    const b = await startAgent();
    try {
      // exec reads the profile stored at create; point it at the second agent.
      const stored = join(sb.root, id, 'seccomp.json');
      assert.ok(existsSync(stored));
      const p = JSON.parse(readFileSync(stored, 'utf8'));
      p.listenerPath = b.socket;
      writeFileSync(stored, JSON.stringify(p));
      const pidFile = join(sb.dir, `${id}.pid`);
      const r = await sb.tsrun(['exec', '--pid-file', pidFile, id, 'sh', '-c', 'mkdir /tmp/b && test ! -d /tmp/b && echo answered']);
      assert.is(r.exitCode, 0, r.stderr);
      assert.is(r.stdout, 'answered');
      const state = JSON.parse(b.output().split('\n')[0]!);
      assert.is(state.state.status, 'running');
      assert.is(state.state.id, id);
      assert.is(state.pid, Number(readFileSync(pidFile, 'utf8')));
      assert.is.not(state.pid, state.state.pid, 'the exec\'d process, not the container\'s PID 1');
    } finally {
      b.stop();
    }
  } finally {
    a.stop();
    await sb.tsrun(['delete', '--force', id]);
  }
});

test('a listener that is not there fails create, naming it, and leaves nothing behind', async () => {
  const id = uniqueId('sc-nolistener');
  const bundle = sb.bundle((c) => {
    c.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: join(sb.dir, 'nobody-listens.sock'), syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] };
    c.process!.noNewPrivileges = false;
  });
  const r = await sb.tsrun(['create', '--bundle', bundle, id]);
  assert.is.not(r.exitCode, 0);
  assert.match(r.stderr, /connect to the seccomp listener .*nobody-listens.sock/);
  assert.not.ok(existsSync(join(sb.root, id)));
});

async function refused(seccomp: unknown, expected: string | RegExp): Promise<void> {
  const id = uniqueId('sc-bad');
  const bundle = sb.bundle((c) => { (c.linux as Record<string, unknown>).seccomp = seccomp; });
  const r = await sb.tsrun(['create', '--bundle', bundle, id]);
  assert.is.not(r.exitCode, 0, 'create must fail');
  assert.match(r.stderr, expected);
  assert.is(r.stderr.split('\n').length, 1, `one line: ${r.stderr}`);
  assert.not.ok(existsSync(join(sb.root, id)), 'no state dir');
}

test('an invalid action, operator, architecture, flag or errno is refused naming its JSON path', async () => {
  const rule = (r: object) => ({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', ...r }] });
  await refused({ defaultAction: 'SCMP_ACT_DENY' }, /\/linux\/seccomp\/defaultAction: must be one of/);
  await refused(rule({ action: 'SCMP_ACT_NOPE' }), /\/linux\/seccomp\/syscalls\/0\/action: must be one of/);
  await refused(rule({ args: [{ index: 0, value: 1, op: 'SCMP_CMP_LIKE' }] }), /\/linux\/seccomp\/syscalls\/0\/args\/0\/op: must be one of/);
  await refused(rule({ args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }), /\/linux\/seccomp\/syscalls\/0\/args\/0\/index: 6 is not a syscall argument/);
  await refused({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_Z80'] }, /\/linux\/seccomp\/architectures\/0: must be one of/);
  await refused({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_SH'] }, /\/linux\/seccomp\/architectures\/1: "SCMP_ARCH_SH" is not an architecture this tsrun's libseccomp/);
  await refused({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_S390X'] }, /compile the seccomp profile: \/linux\/seccomp\/architectures\/0: s390x has the other byte order/);
  await refused({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_FAST'] }, /\/linux\/seccomp\/flags\/0: must be one of/);
  await refused({ defaultAction: 'SCMP_ACT_ALLOW', defaultErrnoRet: 5 }, /\/linux\/seccomp\/defaultErrnoRet: SCMP_ACT_ALLOW returns no errno/);
  await refused(rule({ action: 'SCMP_ACT_KILL', errnoRet: 5 }), /\/linux\/seccomp\/syscalls\/0\/errnoRet: SCMP_ACT_KILL returns no errno/);
  await refused(rule({ names: [] }), /\/linux\/seccomp\/syscalls\/0\/names: must have at least 1 item/);
  await refused(rule({ names: ['mkdir', 'mk dir'] }), /\/linux\/seccomp\/syscalls\/0\/names\/1: "mk dir" is not a syscall name/);
  await refused({ defaultAction: 'SCMP_ACT_NOTIFY', listenerPath: '/x.sock' }, /\/linux\/seccomp\/defaultAction: SCMP_ACT_NOTIFY cannot be the default action/);
  await refused(rule({ action: 'SCMP_ACT_NOTIFY' }), /\/linux\/seccomp\/listenerPath: SCMP_ACT_NOTIFY needs a listener/);
  await refused({ defaultAction: 'SCMP_ACT_ALLOW', listenerMetadata: 'x' }, /\/linux\/seccomp\/listenerMetadata: is only sent to a listener/);
  await refused(rule({ args: [{ index: 0, value: 2 ** 65, op: 'SCMP_CMP_EQ' }] }), /\/linux\/seccomp\/syscalls\/0\/args\/0\/value: 36893488147419103000 is not a 64-bit unsigned integer/);
  assert.equal(leftovers(sb.root), []);
});

test('leftovers: nothing remains', () => {
  assert.equal(leftovers(sb.root), []);
});

test.run();
