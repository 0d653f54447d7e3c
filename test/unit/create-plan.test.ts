// The create checklist as data: which steps, in which order, with which arguments.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ambientWarnings, buildCreatePlan, identityStep, type PlanInput } from '../../src/runtime/create-plan.ts';
import { CLONE_FLAGS } from '../../src/ns/clone-flags.ts';
import { buildExecPlan } from '../../src/runtime/exec-plan.ts';
import { defaultSpec } from '../../src/runtime/default-spec.ts';
import { encodePlan } from '../../src/ns/plan.ts';

function input(edit?: (i: PlanInput) => void): PlanInput {
  const i: PlanInput = {
    config: defaultSpec(), bundle: '/b', rootfs: '/b/rootfs', stateDir: '/run/tsrun/x',
    init: { path: '/opt/tsrun-init', graceSeconds: 5, processGroup: false },
    cgroupDirs: { memory: '/sys/fs/cgroup/memory/tsrun/x', pids: '/sys/fs/cgroup/pids/tsrun/x' }, cgroupTasks: ['/sys/fs/cgroup/memory/tsrun/x/tasks'],
    noPivot: false, preserveFds: 0, monitor: false, runtimeEnv: ['PATH=/bin'],
  };
  edit?.(i);
  return i;
}
const ops = (i: PlanInput): string[] => buildCreatePlan(i).map((s) => s.op);

test('the order of the checklist', () => {
  const o = ops(input());
  const order = ['init-memfd', 'unshare', 'fork', 'wait-go', 'unshare', 'propagation', 'rootfs', 'mount', 'mknod', 'symlink', 'hostname', 'listen', 'pivot', 'mask', 'readonly', 'remount-root-ro', 'rlimit', 'umask', 'identity', 'no-new-privs', 'chdir', 'lookup', 'close-fds', 'barrier', 'exec'];
  let at = -1;
  for (const op of order) {
    const next = o.indexOf(op, at + 1);
    assert.ok(next > at, `${op} after position ${at} in ${o.join(' ')}`);
    at = next;
  }
});

test('new namespaces are unshared at once; a cgroup namespace only after the cgroup is joined', () => {
  const plan = buildCreatePlan(input());
  const first = plan.find((s) => s.op === 'unshare')!;
  const flags = Number(first.args[0]);
  for (const t of ['pid', 'network', 'ipc', 'uts', 'mount']) assert.ok(flags & CLONE_FLAGS[t]!, t);
  assert.not.ok(flags & CLONE_FLAGS.cgroup!);
  const waitGo = plan.findIndex((s) => s.op === 'wait-go');
  assert.is(plan[waitGo + 1]!.op, 'unshare');
  assert.is(Number(plan[waitGo + 1]!.args[0]), CLONE_FLAGS.cgroup);
});

test('a namespace with a path is joined', () => {
  const plan = buildCreatePlan(input((i) => {
    i.config.linux!.namespaces = [{ type: 'mount' }, { type: 'network', path: '/proc/42/ns/net' }];
  }));
  const join = plan.find((s) => s.op === 'setns')!;
  assert.equal(join.args, ['/proc/42/ns/net', String(CLONE_FLAGS.network)]);
  assert.match(join.what!, 'join network namespace');
});

test('tsrun-init wraps the args unless opted out; sysctls become writes named by key', () => {
  const withInit = buildCreatePlan(input((i) => { i.config.linux!.sysctl = { 'net/ipv4/tcp_keepalive_time': '600' }; }));
  const exec = withInit.at(-1)!;
  assert.equal(exec.args.slice(0, 1), ['@init']);
  assert.ok(exec.args.join(' ').endsWith('tsrun-init -t 5 -- sh'));
  const sysctl = withInit.find((s) => s.op === 'write')!;
  assert.equal(sysctl.args, ['/proc/sys/net/ipv4/tcp_keepalive_time', '600']);
  assert.is(sysctl.what, 'sysctl "net.ipv4.tcp_keepalive_time" = "600"');
  const bare = buildCreatePlan(input((i) => { i.init = null; }));
  assert.is(bare.at(-1)!.args[0], '@lookup');
  assert.not.ok(bare.some((s) => s.op === 'init-memfd'));
});

test('a cgroup mount on v1 is a tmpfs plus one read-only bind per controller', () => {
  const plan = buildCreatePlan(input());
  const cg = plan.filter((s) => s.op === 'mount' && s.args[1]!.startsWith('/sys/fs/cgroup'));
  assert.equal(cg.map((s) => s.args[1]), ['/sys/fs/cgroup', '/sys/fs/cgroup/memory', '/sys/fs/cgroup/pids']);
  assert.is(cg[1]!.args[0], '/sys/fs/cgroup/memory/tsrun/x');
});

test('terminals: a console socket is connected first; a foreground run gets a relay pair', () => {
  const withSocket = buildCreatePlan(input((i) => { i.config.process!.terminal = true; i.consoleSocket = '/tmp/c.sock'; }));
  assert.is(withSocket[0]!.op, 'console-socket');
  assert.ok(withSocket.some((s) => s.op === 'pty'));
  const fg = buildCreatePlan(input((i) => { i.config.process!.terminal = true; i.monitor = true; }));
  assert.is(fg[0]!.op, 'pty-pair');
});

test('exec joins the mount namespace last and has no barrier', () => {
  const plan = buildExecPlan({ process: defaultSpec().process!, namespaces: [['ipc', '/proc/9/ns/ipc'], ['pid', '/proc/9/ns/pid'], ['mnt', '/proc/9/ns/mnt']], monitor: true, preserveFds: 0 });
  const joins = plan.filter((s) => s.op === 'setns').map((s) => s.args[0]);
  assert.equal(joins, ['/proc/9/ns/ipc', '/proc/9/ns/pid', '/proc/9/ns/mnt']);
  assert.not.ok(plan.some((s) => s.op === 'barrier'));
  assert.is(plan.at(-1)!.args[0], '@lookup');
});

test('the encoding: a length header, then NUL-separated op, argc and args', () => {
  const buf = encodePlan([{ op: 'mkdir', args: ['/a b'] }, { op: 'barrier', args: [] }]);
  assert.is(buf.toString(), '23\nmkdir\x001\x00/a b\x00barrier\x000\x00');
  assert.throws(() => encodePlan([{ op: 'x', args: ['a\0b'] }]), /NUL/);
});

test('identityStep raises only ambient capabilities that are inheritable and permitted; ambientWarnings names the rest', () => {
  const proc = {
    user: { uid: 0, gid: 0 }, args: ['sh'], cwd: '/',
    capabilities: { bounding: ['CAP_KILL', 'CAP_CHOWN'], effective: ['CAP_KILL'], permitted: ['CAP_KILL', 'CAP_CHOWN'], inheritable: ['CAP_KILL'], ambient: ['CAP_CHOWN', 'CAP_KILL'] },
  };
  const s = identityStep(proc);
  assert.equal(s.args, ['0', '0', '-', '21', '20', '21', '20', '20']);
  assert.ok(s.detail);
  assert.equal(ambientWarnings(proc), [
    "/process/capabilities/ambient/0: can't raise ambient capability CAP_CHOWN: it is not in the inheritable set (the process runs without it, as under runc)",
  ]);
  assert.equal(ambientWarnings({ ...proc, capabilities: undefined }), []);
});

test.run();
