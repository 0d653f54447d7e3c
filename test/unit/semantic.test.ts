// semanticProblems (pure) rule by rule, and validateSemantics against real
// bundle directories in a temporary folder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeError } from '../../src/runtime/errors.ts';
import type { Config } from '../../src/runtime/oci-types.ts';
import { rootfsFact, rootfsPath, semanticProblems, userProblems, validateSemantics } from '../../src/runtime/validate/semantic.ts';

const DIR = { rootfs: 'dir' } as const;

function base(): Config {
  return {
    ociVersion: '1.2.0',
    root: { path: 'rootfs' },
    process: { user: { uid: 0, gid: 0 }, args: ['sh'], cwd: '/' },
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }, { type: 'ipc' }, { type: 'network' }] },
  };
}

/** Problems of `base()` after `edit`. */
function problems(edit: (c: Config) => void, facts: Parameters<typeof semanticProblems>[1] = DIR): string[] {
  const c = base();
  edit(c);
  return semanticProblems(c, facts);
}

test('a sensible config has no problems', () => {
  assert.equal(semanticProblems(base(), DIR), []);
  assert.equal(semanticProblems({ ociVersion: '1.0.0', root: { path: '/r' } }, DIR), [], 'no process, no linux');
});

test('rootfs must exist and be a directory', () => {
  assert.equal(problems(() => {}, { rootfs: 'missing', rootfsPath: '/x/rootfs' }), ['/root/path: rootfs "/x/rootfs" does not exist']);
  assert.equal(problems(() => {}, { rootfs: 'not-dir', rootfsPath: '/x/rootfs' }), ['/root/path: rootfs "/x/rootfs" is not a directory']);
  assert.equal(problems(() => {}, { rootfs: 'missing' }), ['/root/path: rootfs "rootfs" does not exist'], 'falls back to root.path');
  assert.equal(problems((c) => (c.root.path = '')), ['/root/path: must not be empty']);
});

test('process.cwd must be absolute', () => {
  assert.equal(problems((c) => (c.process!.cwd = 'home')), ['/process/cwd: must be an absolute path, got "home"']);
  assert.equal(problems((c) => (c.process!.cwd = '')), ['/process/cwd: must be an absolute path, got ""']);
});

test('mount destinations must be absolute; bind mounts need a source', () => {
  const out = problems((c) => {
    c.mounts = [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs' },
      { destination: 'proc', type: 'proc', source: 'proc' },
      { destination: '/data', type: 'bind' },
      { destination: '/etc/hosts', options: ['rbind', 'ro'], source: '' },
      { destination: '/ok', type: 'none', source: '/srv', options: ['bind'] },
    ];
  });
  assert.equal(out, [
    '/mounts/2/destination: must be an absolute path, got "proc"',
    '/mounts/3/source: a bind mount needs a source',
    '/mounts/4/source: a bind mount needs a source',
  ]);
});

test('masked, read-only, device and hook paths must be absolute', () => {
  const out = problems((c) => {
    c.linux!.maskedPaths = ['/proc/kcore', 'proc/keys'];
    c.linux!.readonlyPaths = ['sys'];
    c.linux!.devices = [{ type: 'c', path: '/dev/fuse' }, { type: 'c', path: 'dev/null' }];
    c.hooks = { prestart: [{ path: '/bin/true' }, { path: 'true' }], poststop: [{ path: 'x/y' }] };
  });
  assert.equal(out, [
    '/linux/maskedPaths/1: must be an absolute path, got "proc/keys"',
    '/linux/readonlyPaths/0: must be an absolute path, got "sys"',
    '/linux/devices/1/path: must be an absolute path, got "dev/null"',
    '/hooks/prestart/1/path: must be an absolute path, got "true"',
    '/hooks/poststop/0/path: must be an absolute path, got "x/y"',
  ]);
});

test('namespaces: known types, no duplicates, absolute paths', () => {
  const out = problems((c) => {
    c.linux!.namespaces = [
      { type: 'pid' },
      { type: 'net' as never },
      { type: 'pid', path: '/proc/1/ns/pid' },
      { type: 'network', path: 'run/netns/x' },
      { type: 'mount', path: '' },
    ];
  });
  assert.equal(out, [
    '/linux/namespaces/1/type: unknown namespace type "net"',
    '/linux/namespaces/2/type: duplicate namespace type "pid" (also at /linux/namespaces/0)',
    '/linux/namespaces/3/path: must be an absolute path, got "run/netns/x"',
  ]);
});

test('hostname and domainname need a uts namespace; a joined one counts', () => {
  const noUts = (c: Config) => (c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== 'uts'));
  assert.equal(problems((c) => { noUts(c); c.hostname = 'box'; c.domainname = 'example.org'; }), [
    '/hostname: cannot set the hostname without a uts namespace (add {"type": "uts"} to linux.namespaces)',
    '/domainname: cannot set the domainname without a uts namespace (add {"type": "uts"} to linux.namespaces)',
  ]);
  assert.equal(problems((c) => { noUts(c); c.hostname = ''; }), [], 'an empty hostname sets nothing');
  assert.equal(problems((c) => { c.hostname = 'box'; c.domainname = 'd'; }), []);
  assert.equal(problems((c) => {
    noUts(c);
    c.linux!.namespaces!.push({ type: 'uts', path: '/proc/1/ns/uts' });
    c.hostname = 'box';
  }), []);
});

test('capability names must be known, in every set', () => {
  const out = problems((c) => {
    c.process!.capabilities = {
      bounding: ['CAP_KILL', 'CAP_CHOWN', 'CAP_NET_RAW', 'CAP_FOO'],
      effective: ['cap_kill'],
      permitted: ['CAP_CHECKPOINT_RESTORE'],
      inheritable: [],
      ambient: ['SYS_ADMIN'],
    };
  });
  assert.equal(out, [
    '/process/capabilities/bounding/3: unknown capability "CAP_FOO"',
    '/process/capabilities/effective/0: unknown capability "cap_kill"',
    '/process/capabilities/ambient/0: unknown capability "SYS_ADMIN"',
  ]);
});

test('rlimits: known, unique, soft <= hard (infinity-aware)', () => {
  const out = problems((c) => {
    c.process!.rlimits = [
      { type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 },
      { type: 'RLIMIT_FOO', soft: 1, hard: 1 },
      { type: 'RLIMIT_NOFILE', soft: 1, hard: 1 },
      { type: 'RLIMIT_CORE', soft: 2048, hard: 1024 },
      { type: 'RLIMIT_STACK', soft: 18446744073709551615, hard: 18446744073709551615 },
      { type: 'RLIMIT_MEMLOCK', soft: 65536, hard: 18446744073709551615 },
      { type: 'RLIMIT_AS', soft: 18446744073709551615, hard: 4096 },
      { type: 'RLIMIT_DATA', soft: 2 ** 63, hard: 18446744073709551615 },
    ];
  });
  assert.equal(out, [
    '/process/rlimits/1/type: unknown rlimit type "RLIMIT_FOO"',
    '/process/rlimits/2/type: duplicate rlimit type "RLIMIT_NOFILE" (also at /process/rlimits/0)',
    '/process/rlimits/3: soft limit 2048 is greater than hard limit 1024',
    '/process/rlimits/6: soft limit 18446744073709552000 is greater than hard limit 4096',
  ]);
});

test('id mappings need a user namespace; a new one needs mappings', () => {
  const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
  assert.equal(problems((c) => { c.linux!.uidMappings = map; c.linux!.gidMappings = map; }), [
    '/linux/uidMappings: id mappings need a user namespace (add {"type": "user"} to linux.namespaces)',
    '/linux/gidMappings: id mappings need a user namespace (add {"type": "user"} to linux.namespaces)',
  ]);
  assert.equal(problems((c) => { c.linux!.uidMappings = []; }), [], 'an empty list maps nothing');
  assert.equal(problems((c) => { c.linux!.namespaces!.push({ type: 'user' }); c.linux!.uidMappings = map; }), [
    '/linux/gidMappings: a new user namespace needs at least one mapping',
  ]);
  assert.equal(problems((c) => { c.linux!.namespaces!.push({ type: 'user' }); c.linux!.uidMappings = map; c.linux!.gidMappings = map; }), []);
  assert.equal(problems((c) => c.linux!.namespaces!.push({ type: 'user', path: '/proc/1/ns/user' })), [], 'joining needs no mappings');
});

test('masked and read-only paths need a mount namespace', () => {
  const out = problems((c) => {
    c.linux!.namespaces = [{ type: 'pid' }];
    c.mounts = [];
    c.root.readonly = false;
    c.linux!.maskedPaths = ['/proc/kcore'];
    c.linux!.readonlyPaths = ['/proc/sys'];
  });
  assert.equal(out, [
    '/linux/maskedPaths: needs a mount namespace (add {"type": "mount"} to linux.namespaces)',
    '/linux/readonlyPaths: needs a mount namespace (add {"type": "mount"} to linux.namespaces)',
  ]);
});

test('without a mount namespace: no mounts, devices, read-only root or rootfsPropagation (they would be the host\'s); nothing else is refused', () => {
  const none = (c: Config) => {
    c.linux!.namespaces = [];
    delete c.hostname;
    c.linux!.maskedPaths = [];
    c.linux!.readonlyPaths = [];
  };
  const out = problems((c) => {
    none(c);
    c.root.readonly = true;
    c.mounts = [{ destination: '/proc', type: 'proc', source: 'proc' }];
    c.linux!.devices = [{ type: 'c', path: '/dev/x', major: 1, minor: 3 }];
    c.linux!.rootfsPropagation = 'private';
  });
  assert.equal(out.map((p) => p.split(':')[0]), ['/mounts', '/linux/devices', '/root/readonly', '/linux/rootfsPropagation']);
  assert.match(out[0]!, 'needs a mount namespace (add {"type": "mount"} to linux.namespaces): without one they would be mounted in the host\'s mount namespace and outlive the container');
  assert.equal(problems((c) => { none(c); c.mounts = []; c.root.readonly = false; }), []);
});

test('memory.swap below memory.limit is refused; -1 and 0 are fine', () => {
  const mem = (limit: number | undefined, swap: number | undefined) =>
    problems((c) => (c.linux!.resources = { memory: { limit, swap } }));
  assert.equal(mem(1000, 500), [
    '/linux/resources/memory/swap: must be -1 or at least the memory limit 1000 (it limits memory plus swap), got 500',
  ]);
  assert.equal(mem(1000, 1000), []);
  assert.equal(mem(1000, 2000), []);
  assert.equal(mem(1000, -1), []);
  assert.equal(mem(1000, 0), []);
  assert.equal(mem(-1, 500), []);
  assert.equal(mem(undefined, 500), []);
});

test('tolerates malformed input without throwing', () => {
  const junk = { ociVersion: '1', root: { path: '/r' }, mounts: [null], process: { cwd: 5, capabilities: { bounding: [7] }, rlimits: [null] },
    linux: { namespaces: [null], maskedPaths: 'x' }, hooks: { prestart: 'x' } } as unknown as Config;
  const out = semanticProblems(junk, DIR);
  assert.ok(out.includes('/process/capabilities/bounding/0: unknown capability 7'));
  assert.ok(out.includes('/linux/namespaces/0/type: unknown namespace type undefined'));
  assert.ok(out.includes('/process/rlimits/0/type: unknown rlimit type undefined'));
});

test('validateSemantics stats the rootfs relative to the bundle and throws ERR_CONFIG', () => {
  const bundle = mkdtempSync(join(tmpdir(), 'tsrun-semantic-'));
  try {
    const c = base();
    assert.throws(() => validateSemantics(c, bundle), (e: unknown) =>
      e instanceof RuntimeError && e.code === 'ERR_CONFIG' && e.message === `/root/path: rootfs "${join(bundle, 'rootfs')}" does not exist`);
    writeFileSync(join(bundle, 'rootfs'), '');
    assert.throws(() => validateSemantics(c, bundle), /is not a directory/);
    rmSync(join(bundle, 'rootfs'));
    mkdirSync(join(bundle, 'rootfs'));
    validateSemantics(c, bundle);
    c.root.path = join(bundle, 'rootfs');
    validateSemantics(c, '/nonexistent');
    c.process!.cwd = 'x';
    c.mounts = [{ destination: 'proc' }];
    assert.throws(() => validateSemantics(c, bundle), (e: unknown) =>
      e instanceof RuntimeError &&
      e.message === '/process/cwd: must be an absolute path, got "x"; /mounts/0/destination: must be an absolute path, got "proc"' &&
      e.path === join(bundle, 'config.json'));
  } finally {
    rmSync(bundle, { recursive: true, force: true });
  }
});

test('rootfsPath and rootfsFact', () => {
  assert.is(rootfsPath({ ociVersion: '1', root: { path: 'rootfs' } }, '/b'), '/b/rootfs');
  assert.is(rootfsPath({ ociVersion: '1', root: { path: '/abs' } }, '/b'), '/abs');
  assert.is(rootfsFact('/'), 'dir');
  assert.is(rootfsFact('/proc/self/status'), 'not-dir');
  assert.is(rootfsFact('/proc/self/status/x'), 'not-dir');
  assert.is(rootfsFact('/nonexistent-tsrun-path'), 'missing');
});

test('ids outside 0..4294967294 are refused, naming the field', () => {
  assert.equal(userProblems({ uid: 4294967294, gid: 0, additionalGids: [0, 4294967294] }), []);
  const p = userProblems({ uid: 4294967295, gid: -1, additionalGids: [1, 4294967295] });
  assert.equal(p.map((l) => l.split(':')[0]), ['/process/user/uid', '/process/user/gid', '/process/user/additionalGids/1']);
});

test.run();
