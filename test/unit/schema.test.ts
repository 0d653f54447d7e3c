// spec/config.schema.json compiled the way scripts/build.mjs compiles it
// (Ajv strict mode, standalone ESM), and the readable lines
// formatSchemaErrors makes of its errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';
import { formatSchemaErrors } from '../../src/runtime/validate/schema-errors.ts';

// A CommonJS module: at run time the default import is the function itself,
// and for the type checker its `default` property is; both hold the function.
const standaloneCode = standalone.default;
const schemaPath = fileURLToPath(new URL('../../spec/config.schema.json', import.meta.url));
const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as object;
const ajv = new Ajv({ allErrors: true, strict: true, code: { source: true, esm: true } });
const validate: ValidateFunction = ajv.compile(schema);

function base(): Record<string, any> {
  return {
    ociVersion: '1.2.0',
    root: { path: 'rootfs', readonly: true },
    process: { user: { uid: 0, gid: 0 }, args: ['sh'], cwd: '/' },
  };
}

/** The formatted error lines for `config` ([] when valid). */
function lines(config: unknown): string[] {
  return validate(config) ? [] : formatSchemaErrors(validate.errors ?? []);
}

function full(): Record<string, any> {
  return {
    ociVersion: '1.2.0',
    root: { path: '/var/lib/c1/rootfs', readonly: false },
    hostname: 'c1',
    domainname: 'example.org',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro'] },
    ],
    process: {
      terminal: true,
      consoleSize: { height: 24, width: 80 },
      user: { uid: 1000, gid: 1000, umask: 18, additionalGids: [5, 10] },
      args: ['/bin/sh', '-c', 'true'],
      env: ['PATH=/usr/bin:/bin', 'TERM=xterm'],
      cwd: '/home/user',
      capabilities: {
        bounding: ['CAP_KILL', 'CAP_AUDIT_WRITE'],
        effective: ['CAP_KILL'],
        permitted: ['CAP_KILL'],
        inheritable: [],
        ambient: [],
      },
      rlimits: [
        { type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 },
        { type: 'RLIMIT_CORE', soft: 18446744073709551615, hard: 18446744073709551615 },
      ],
      noNewPrivileges: true,
      oomScoreAdj: -500,
    },
    hooks: {
      prestart: [{ path: '/usr/bin/net-setup', args: ['net-setup', 'up'], env: ['A=b'], timeout: 5 }],
      createRuntime: [{ path: '/bin/true' }],
      createContainer: [],
      startContainer: [{ path: '/bin/true' }],
      poststart: [{ path: '/bin/true' }],
      poststop: [{ path: '/bin/true', timeout: 1 }],
    },
    annotations: { 'org.example.key': 'value' },
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network', path: '/run/netns/x' }, { type: 'mount' }, { type: 'ipc' },
        { type: 'uts' }, { type: 'user' }, { type: 'cgroup' }, { type: 'time' }],
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      devices: [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 438, uid: 0, gid: 0 }],
      cgroupsPath: '/tsrun/c1',
      resources: {
        devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: null, access: 'rw' }],
        memory: { limit: 536870912, reservation: 0, swap: -1, kernel: -1, kernelTCP: -1, swappiness: 0,
          disableOOMKiller: false, useHierarchy: true },
        cpu: { shares: 1024, quota: 100000, burst: 0, period: 100000, realtimeRuntime: 0, realtimePeriod: 0,
          cpus: '0-1', mems: '0', idle: 0 },
        blockIO: {
          weight: 500,
          leafWeight: 300,
          weightDevice: [{ major: 8, minor: 0, weight: 500 }],
          throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
          throttleWriteBpsDevice: [],
          throttleReadIOPSDevice: [],
          throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
        },
        hugepageLimits: [{ pageSize: '2MB', limit: 0 }],
        pids: { limit: 100 },
        unified: { 'memory.high': '1G' },
      },
      sysctl: { 'net.ipv4.ip_forward': '1' },
      rootfsPropagation: 'rslave',
      maskedPaths: ['/proc/kcore'],
      readonlyPaths: ['/proc/sys'],
      mountLabel: '',
    },
  };
}

test('compiles in strict mode and as standalone ESM, as the build does', () => {
  const strict = new Ajv({ allErrors: true, strict: true, code: { source: true, esm: true } });
  const fn = strict.compile(schema);
  const code = standaloneCode(strict, fn);
  assert.ok(code.includes('export const validate'), 'standalone code exports a validator');
  // minLength and format would pull in require("ajv/dist/runtime/..."),
  // which an ESM file cannot call: the schema avoids them.
  assert.not.match(code, /require\(/, 'no runtime require in the ESM output');
});

test('the standalone module validates like the compiled function', async () => {
  const strict = new Ajv({ allErrors: true, strict: true, code: { source: true, esm: true } });
  const code = standaloneCode(strict, strict.compile(schema));
  const mod = (await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`)) as {
    default: ValidateFunction;
  };
  assert.ok(mod.default(base()));
  assert.not.ok(mod.default({ root: {} }));
  assert.ok((mod.default.errors ?? []).length >= 2);
});

test('a minimal config and a full config are valid', () => {
  assert.equal(lines(base()), []);
  assert.equal(lines(full()), []);
  assert.equal(lines({ ociVersion: '1.0.0', root: { path: '/r' } }), [], 'process is optional');
});

test('unknown properties are allowed at every level', () => {
  const c = full();
  c['vendorThing'] = { x: 1 };
  c['root']['extra'] = 1;
  c['process']['apparmorProfile'] = 'p';
  c['process']['user']['username'] = 'u';
  c['linux']['seccomp'] = { defaultAction: 'SCMP_ACT_ALLOW' };
  c['linux']['resources']['memory']['futureKnob'] = 3;
  c['hooks']['someFutureHook'] = [{ anything: true }];
  assert.equal(lines(c), []);
});

test('required fields', () => {
  assert.equal(lines({ ociVersion: '1.0.0' }), ['/: must have required property "root"']);
  assert.equal(lines({ root: { path: 'r' } }), ['/: must have required property "ociVersion"']);
  assert.equal(lines({ ociVersion: '1', root: {} }), ['/root: must have required property "path"']);
  const c = base();
  c['process'] = {};
  assert.equal(lines(c), [
    '/process: must have required property "args"',
    '/process: must have required property "cwd"',
    '/process: must have required property "user"',
  ]);
  c['process'] = { args: ['x'], cwd: '/', user: {} };
  assert.equal(lines(c), ['/process/user: must have required property "uid"', '/process/user: must have required property "gid"']);
});

test('process.args needs at least one item', () => {
  const c = base();
  c['process']['args'] = [];
  assert.equal(lines(c), ['/process/args: must have at least 1 item']);
  c['process']['args'] = ['sh', 3];
  assert.equal(lines(c), ['/process/args/1: must be a string']);
});

test('integers for ids, strings for strings, booleans for booleans', () => {
  const c = base();
  c['process']['user']['uid'] = '0';
  c['process']['user']['gid'] = 1.5;
  c['process']['terminal'] = 'yes';
  c['hostname'] = 7;
  c['root']['readonly'] = 1;
  assert.equal(lines(c).sort(), [
    '/hostname: must be a string',
    '/process/terminal: must be a boolean',
    '/process/user/gid: must be an integer',
    '/process/user/uid: must be an integer',
    '/root/readonly: must be a boolean',
  ]);
  c['process'] = { user: { uid: -1, gid: 4294967296 }, args: ['x'], cwd: '/' };
  c['hostname'] = 'h';
  c['root']['readonly'] = true;
  assert.equal(lines(c), ['/process/user/uid: must be at least 0', '/process/user/gid: must be at most 4294967295']);
});

test('rlimits: any non-negative integer, all three fields required', () => {
  const c = base();
  c['process']['rlimits'] = [{ type: 'RLIMIT_NOFILE', soft: 2 ** 70, hard: Number.MAX_VALUE }];
  assert.equal(lines(c), [], 'huge values stay valid');
  c['process']['rlimits'] = [{ type: 'RLIMIT_NOFILE', soft: -1, hard: 1.5 }, { soft: 1 }];
  assert.equal(lines(c), [
    '/process/rlimits/0/soft: must be at least 0',
    '/process/rlimits/0/hard: must be an integer',
    '/process/rlimits/1: must have required property "type"',
    '/process/rlimits/1: must have required property "hard"',
  ]);
});

test('capability sets are arrays of strings', () => {
  const c = base();
  c['process']['capabilities'] = { bounding: 'CAP_KILL', effective: [1] };
  assert.equal(lines(c), ['/process/capabilities/bounding: must be an array', '/process/capabilities/effective/0: must be a string']);
});

test('namespace type is an enum', () => {
  const c = base();
  c['linux'] = { namespaces: [{ type: 'net' }, { path: '/x' }, { type: 'pid', path: 3 }] };
  assert.equal(lines(c), [
    '/linux/namespaces/0/type: must be one of pid, network, mount, ipc, uts, user, cgroup, time',
    '/linux/namespaces/1: must have required property "type"',
    '/linux/namespaces/2/path: must be a string',
  ]);
});

test('hooks need a path and a timeout of at least 1', () => {
  const c = base();
  c['hooks'] = { prestart: [{ args: ['x'] }, { path: '/x', timeout: 0 }, { path: '/y', timeout: 2.5 }], poststop: {} };
  assert.equal(lines(c), [
    '/hooks/prestart/0: must have required property "path"',
    '/hooks/prestart/1/timeout: must be at least 1',
    '/hooks/prestart/2/timeout: must be an integer',
    '/hooks/poststop: must be an array',
  ]);
});

test('mounts need a destination; options are strings', () => {
  const c = base();
  c['mounts'] = [{ source: 'proc', type: 'proc' }, { destination: '/x', options: 'ro' }, { destination: 5 }];
  assert.equal(lines(c), [
    '/mounts/0: must have required property "destination"',
    '/mounts/1/options: must be an array',
    '/mounts/2/destination: must be a string',
  ]);
});

test('sysctl, annotations and unified are maps of strings', () => {
  const c = base();
  c['annotations'] = { a: 1, b: 'ok' };
  c['linux'] = { sysctl: { 'net.ipv4.ip_forward': 1 }, resources: { unified: { 'memory.max': ['1'] } } };
  assert.equal(lines(c).sort(), [
    '/annotations/a: must be a string',
    '/linux/resources/unified/memory.max: must be a string',
    '/linux/sysctl/net.ipv4.ip_forward: must be a string',
  ]);
  c['annotations'] = [];
  c['linux'] = { sysctl: 'x' };
  assert.equal(lines(c).sort(), ['/annotations: must be an object', '/linux/sysctl: must be an object']);
});

test('resources: types of memory, cpu, pids, blockIO, hugepages and device rules', () => {
  const c = base();
  c['linux'] = {
    resources: {
      memory: { limit: '1G', swap: -1, disableOOMKiller: 'no' },
      cpu: { shares: -2, quota: -1, cpus: 3 },
      pids: {},
      blockIO: { weight: 70000, throttleReadBpsDevice: [{ major: 8, minor: 0 }] },
      hugepageLimits: [{ pageSize: '2MB' }],
      devices: [{ access: 'rwm' }, { allow: true, major: 'x', access: 'rwz' }, { allow: true, type: 'x' }],
    },
  };
  assert.equal(lines(c).sort(), [
    '/linux/resources/blockIO/throttleReadBpsDevice/0: must have required property "rate"',
    '/linux/resources/blockIO/weight: must be at most 65535',
    '/linux/resources/cpu/cpus: must be a string',
    '/linux/resources/cpu/shares: must be at least 0',
    '/linux/resources/devices/0: must have required property "allow"',
    '/linux/resources/devices/1/access: must match the pattern ^[rwm]*$',
    '/linux/resources/devices/1/major: must be an integer or null',
    '/linux/resources/devices/2/type: must be one of a, c, b',
    '/linux/resources/hugepageLimits/0: must have required property "limit"',
    '/linux/resources/memory/disableOOMKiller: must be a boolean',
    '/linux/resources/memory/limit: must be an integer',
    '/linux/resources/pids: must have required property "limit"',
  ]);
});

test('linux devices, id mappings and rootfsPropagation', () => {
  const c = base();
  c['linux'] = {
    devices: [{ type: 'x', path: '/dev/x' }, { type: 'c' }],
    uidMappings: [{ containerID: 0, hostID: 1000 }],
    rootfsPropagation: 'everywhere',
    maskedPaths: [1],
  };
  assert.equal(lines(c).sort(), [
    '/linux/devices/0/type: must be one of c, b, u, p',
    '/linux/devices/1: must have required property "path"',
    '/linux/maskedPaths/0: must be a string',
    '/linux/rootfsPropagation: must be one of "", private, shared, slave, unbindable, rprivate, rshared, rslave, runbindable',
    '/linux/uidMappings/0: must have required property "size"',
  ]);
  c['linux'] = { rootfsPropagation: '' };
  assert.equal(lines(c), [], 'empty propagation means the default, as in runc');
});

test('the top level must be an object', () => {
  assert.equal(lines([]), ['/: must be an object']);
  assert.equal(lines(null), ['/: must be an object']);
});

test('formatSchemaErrors deduplicates and drops anyOf/oneOf branch noise', () => {
  const err = (e: Partial<ErrorObject>): ErrorObject =>
    ({ instancePath: '', schemaPath: '#', keyword: 'x', params: {}, ...e }) as ErrorObject;
  const errors = [
    err({ instancePath: '/a', schemaPath: '#/properties/a/anyOf/0/type', keyword: 'type', params: { type: 'string' } }),
    err({ instancePath: '/a', schemaPath: '#/properties/a/anyOf/1/type', keyword: 'type', params: { type: 'integer' } }),
    err({ instancePath: '/a', schemaPath: '#/properties/a/anyOf', keyword: 'anyOf' }),
    err({ instancePath: '/b/c', schemaPath: '#/properties/b/oneOf/0/required', keyword: 'required', params: { missingProperty: 'x' } }),
    err({ instancePath: '/b', schemaPath: '#/properties/b/oneOf', keyword: 'oneOf' }),
    err({ instancePath: '/d', schemaPath: '#/properties/d/if', keyword: 'if', params: { failingKeyword: 'then' } }),
    err({ instancePath: '/d', schemaPath: '#/properties/d/then/required', keyword: 'required', params: { missingProperty: 'e' } }),
    err({ instancePath: '/d', schemaPath: '#/properties/d/then/required', keyword: 'required', params: { missingProperty: 'e' } }),
  ];
  assert.equal(formatSchemaErrors(errors), [
    '/a: must match one of the allowed forms',
    '/b: must match exactly one of the allowed forms',
    '/d: must have required property "e"',
  ]);
});

test('formatSchemaErrors phrases the other keywords readably', () => {
  const one = (keyword: string, params: Record<string, unknown>, extra: Partial<ErrorObject> = {}) =>
    formatSchemaErrors([{ instancePath: '/x', schemaPath: '#', keyword, params, ...extra } as ErrorObject])[0];
  assert.is(one('maxItems', { limit: 2 }), '/x: must have at most 2 items');
  assert.is(one('minItems', { limit: 3 }), '/x: must have at least 3 items');
  assert.is(one('minLength', { limit: 4 }), '/x: must be at least 4 characters long');
  assert.is(one('maxLength', { limit: 1 }), '/x: must be at most 1 character long');
  assert.is(one('exclusiveMinimum', { limit: 0 }), '/x: must be greater than 0');
  assert.is(one('exclusiveMaximum', { limit: 9 }), '/x: must be less than 9');
  assert.is(one('const', { allowedValue: 'a b' }), '/x: must be "a b"');
  assert.is(one('additionalProperties', { additionalProperty: 'y' }), '/x: must not have property "y"');
  assert.is(one('uniqueItems', { i: 3, j: 1 }), '/x: must not have duplicate items (items 1 and 3 are identical)');
  assert.is(one('minProperties', { limit: 1 }), '/x: must have at least 1 property');
  assert.is(one('maxProperties', { limit: 2 }), '/x: must have at most 2 properties');
  assert.is(one('format', { format: 'uri' }), '/x: must be a valid uri');
  assert.is(one('type', { type: 'string' }, { data: 5 }), '/x: must be a string, got an integer');
  assert.is(one('weird', {}, { message: 'is odd' }), '/x: is odd');
  assert.is(one('weird', {}), '/x: is invalid (weird)');
  assert.equal(formatSchemaErrors([]), []);
  assert.equal(formatSchemaErrors(null), []);
});

test.run();
