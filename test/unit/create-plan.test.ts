// The create checklist as data: which steps, in which order, with which arguments.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ambientWarnings, buildCreatePlan, identityStep, type PlanInput } from '../../src/runtime/create-plan.ts';
import { CLONE_FLAGS } from '../../src/ns/clone-flags.ts';
import { buildExecPlan } from '../../src/runtime/exec-plan.ts';
import { defaultSpec } from '../../src/runtime/default-spec.ts';
import { encodePlan } from '../../src/ns/plan.ts';
import type { Config } from '../../src/runtime/oci-types.ts';

type Propagation = NonNullable<NonNullable<Config['linux']>['rootfsPropagation']>;

function input(edit?: (i: PlanInput) => void): PlanInput {
  const i: PlanInput = {
    config: defaultSpec(), bundle: '/b', rootfs: '/b/rootfs', stateDir: '/run/tsrun/x',
    init: { path: '/opt/tsrun-init', graceSeconds: 5, killAfterSeconds: null, processGroup: false },
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

test('a new network namespace gets lo up right after it is made, before the fork and any hook; a joined one does not', () => {
  const o = ops(input());
  assert.is(o.indexOf('loopback-up'), o.indexOf('unshare') + 1);
  const joined = ops(input((i) => { i.config.linux!.namespaces = [{ type: 'mount' }, { type: 'network', path: '/proc/42/ns/net' }]; }));
  assert.not.ok(joined.includes('loopback-up'));
  const host = ops(input((i) => { i.config.linux!.namespaces = [{ type: 'mount' }]; }));
  assert.not.ok(host.includes('loopback-up'));
});

test('tsrun-init gets -k only when a kill deadline is asked for', () => {
  const exec = buildCreatePlan(input((i) => { i.init = { ...i.init!, graceSeconds: 1, killAfterSeconds: 20 }; })).at(-1)!;
  assert.ok(exec.args.join(' ').endsWith('tsrun-init -t 1 -k 20 -- sh'), exec.args.join(' '));
});

test('rootfsPropagation: / slave or private until pivot_root, the configured value after the masks and read-only binds', () => {
  const MS_REC = 16384, MS_UNBINDABLE = 1 << 17, MS_PRIVATE = 1 << 18, MS_SLAVE = 1 << 19, MS_SHARED = 1 << 20;
  const props = (name: Propagation | undefined) => {
    const plan = buildCreatePlan(input((i) => { i.config.linux!.rootfsPropagation = name; }));
    const at = (op: string) => plan.findIndex((s) => s.op === op);
    const root = plan.map((s, n) => [s, n] as const).filter(([s]) => s.op === 'propagation' && s.args[0] === '/');
    return { plan, at, before: Number(root[0]![0].args[1]), after: Number(root[1]![0].args[1]), afterAt: root[1]![1] };
  };
  const cases: Array<[Propagation | undefined, number, number]> = [
    [undefined, MS_SLAVE | MS_REC, MS_SLAVE | MS_REC], ['rslave', MS_SLAVE | MS_REC, MS_SLAVE | MS_REC], ['slave', MS_SLAVE | MS_REC, MS_SLAVE],
    ['private', MS_PRIVATE | MS_REC, MS_PRIVATE], ['runbindable', MS_PRIVATE | MS_REC, MS_UNBINDABLE | MS_REC],
    ['shared', MS_PRIVATE, MS_SHARED], ['rshared', MS_PRIVATE, MS_SHARED | MS_REC],
  ];
  for (const [name, before, after] of cases) {
    const p = props(name);
    assert.is(p.before, before, `${name} before`);
    assert.is(p.after, after, `${name} after`);
    assert.ok(p.afterAt > p.at('pivot') && p.afterAt > p.at('readonly') && p.afterAt > p.at('remount-root-ro'), `${name}: after pivot_root and the read-only binds`);
    assert.is(p.at('private-mount-of') >= 0, (after & MS_SHARED) !== 0, `${name}: the rootfs's own mount made private only for shared`);
  }
});

test('without a mount namespace: the rootfs is only opened and entered with chroot; nothing mounted, made or propagated', () => {
  const o = ops(input((i) => {
    i.config.linux!.namespaces = [{ type: 'pid' }];
    i.config.mounts = [];
    i.config.linux!.maskedPaths = [];
    i.config.linux!.readonlyPaths = [];
    i.config.root.readonly = false;
  }));
  for (const op of ['propagation', 'private-mount-of', 'rootfs', 'mount', 'mknod', 'symlink', 'pivot', 'chroot', 'mask', 'readonly', 'remount-root-ro']) assert.not.ok(o.includes(op), op);
  assert.ok(o.indexOf('rootfs-open') < o.indexOf('enter-root') && o.indexOf('enter-root') < o.indexOf('barrier'));
  const exec = buildExecPlan({ process: defaultSpec().process!, namespaces: [['pid', '/proc/9/ns/pid']], monitor: true, preserveFds: 0, root: '/proc/9/root' }).map((s) => s.op);
  assert.is(exec.indexOf('enter-root'), exec.indexOf('fork') - 1, 'exec chroots into the container\'s root before the fork');
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
