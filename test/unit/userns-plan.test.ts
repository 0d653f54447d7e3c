// The user-namespace parts of the plan and the id-map checks, as data.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildCreatePlan, type PlanInput } from '../../src/runtime/create-plan.ts';
import { CLONE_FLAGS } from '../../src/ns/clone-flags.ts';
import { defaultSpec } from '../../src/runtime/default-spec.ts';
import type { Config } from '../../src/runtime/oci-types.ts';
import { mappingProblems } from '../../src/runtime/validate/idmap.ts';
import { usernsMount } from '../../src/runtime/userns-plan.ts';

const MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];
function userConfig(edit?: (c: Config) => void): Config {
  const c = defaultSpec();
  c.linux!.namespaces!.push({ type: 'user' });
  c.linux!.uidMappings = MAP;
  c.linux!.gidMappings = MAP;
  edit?.(c);
  return c;
}
function plan(config: Config, monitor = false) {
  const input: PlanInput = {
    config, bundle: '/b', rootfs: '/b/rootfs', stateDir: '/run/tsrun/x', init: { path: '/opt/tsrun-init', graceSeconds: 5, processGroup: false, killAfterSeconds: null },
    cgroupDirs: {}, cgroupTasks: [], noPivot: false, preserveFds: 0, monitor, runtimeEnv: [],
  };
  return buildCreatePlan(input);
}

test('a new user namespace comes alone, first, with its maps; the rest after it; root before the mounts', () => {
  const p = plan(userConfig());
  const ops = p.map((s) => s.op);
  const userns = ops.indexOf('userns');
  assert.is(ops.indexOf('unshare'), userns + 1);
  assert.not.ok(Number(p[userns + 1]!.args[0]) & CLONE_FLAGS.user!);
  assert.equal(p[userns]!.args.slice(0, 3), ['0 100000 65536\n', '0 100000 65536\n', '-']);
  // The init is copied before any namespace step; the child binds the start
  // barrier in the state dir as the host's root, then becomes the container's.
  const order = ['init-memfd', 'fork', 'listen', 'userns-root', 'wait-go', 'rootfs', 'pivot'];
  assert.equal(ops.filter((o) => order.includes(o)), order);
});

test('a joined user namespace is joined after the other joins, then root; no maps are written', () => {
  const p = plan(userConfig((c) => {
    c.linux!.namespaces = c.linux!.namespaces!.map((n) => n.type === 'user' ? { type: 'user', path: '/proc/9/ns/user' } : n.type === 'network' ? { type: 'network', path: '/proc/9/ns/net' } : n);
  }));
  const joins = p.filter((s) => s.op === 'setns').map((s) => s.args[0]);
  assert.equal(joins, ['/proc/9/ns/net', '/proc/9/ns/user']);
  assert.not.ok(p.some((s) => s.op === 'userns'));
  assert.ok(p.some((s) => s.op === 'userns-root'));
});

test('without a user namespace the plan has no user steps', () => {
  const ops = plan(defaultSpec()).map((s) => s.op);
  assert.not.ok(ops.includes('userns') || ops.includes('userns-root'));
});

test('devpts loses gid=5 when 5 is not mapped; sysfs without a network namespace becomes a read-only bind of /sys', () => {
  const devpts = { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'gid=5', 'mode=620'] };
  assert.equal(usernsMount(devpts, userConfig()).options, ['nosuid', 'gid=5', 'mode=620']);
  assert.equal(usernsMount(devpts, userConfig((c) => { c.linux!.gidMappings = [{ containerID: 0, hostID: 1, size: 5 }]; })).options, ['nosuid', 'mode=620']);
  const sysfs = { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] };
  assert.equal(usernsMount(sysfs, userConfig()), sysfs);
  const noNet = userConfig((c) => { c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== 'network'); });
  assert.equal(usernsMount(sysfs, noNet), { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'ro', 'nosuid', 'noexec', 'nodev'] });
});

test('map checks: overlap on either side, empty, past the last id, too many ranges', () => {
  assert.equal(mappingProblems(MAP, '/m'), []);
  assert.equal(mappingProblems([{ containerID: 0, hostID: 0, size: 4294967295 }], '/m'), []);
  assert.match(mappingProblems([{ containerID: 0, hostID: 1, size: 4294967295 }], '/m').join(), /\/m\/0: hostID 1 \+ size 4294967295 goes past/);
  assert.match(mappingProblems([{ containerID: 0, hostID: 0, size: 0 }], '/m').join(), /\/m\/0\/size: an id range must not be empty/);
  assert.match(mappingProblems([...MAP, { containerID: 65535, hostID: 0, size: 1 }], '/m').join(), /\/m\/1: containerID range 65535-65535 overlaps \/m\/0/);
  assert.match(mappingProblems([...MAP, { containerID: 70000, hostID: 165535, size: 1 }], '/m').join(), /\/m\/1: hostID range/);
  assert.equal(mappingProblems([...MAP, { containerID: 65536, hostID: 165536, size: 1 }], '/m'), []);
  const many = Array.from({ length: 341 }, (_, i) => ({ containerID: i, hostID: i, size: 1 }));
  assert.match(mappingProblems(many, '/m').join(), /341 ranges, the kernel accepts at most 340/);
  assert.equal(mappingProblems(many.slice(0, 340), '/m'), []);
});

test.run();
