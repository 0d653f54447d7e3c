// parseMountOptions: every flag option, the clear/set order, propagation
// kept apart, data passed through; rootfsPropagationFlags and its default.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RuntimeError } from '../../src/runtime/errors.ts';
import * as m from '../../src/runtime/validate/mount-options.ts';
import { parseMountOptions, rootfsPropagationFlags } from '../../src/runtime/validate/mount-options.ts';

test('MS_* constants have the Linux values', () => {
  assert.equal(
    [m.MS_RDONLY, m.MS_NOSUID, m.MS_NODEV, m.MS_NOEXEC, m.MS_SYNCHRONOUS, m.MS_REMOUNT, m.MS_MANDLOCK, m.MS_DIRSYNC,
      m.MS_NOSYMFOLLOW, m.MS_NOATIME, m.MS_NODIRATIME, m.MS_BIND, m.MS_MOVE, m.MS_REC, m.MS_SILENT],
    [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 2048, 4096, 8192, 16384, 32768],
  );
  assert.equal(
    [m.MS_UNBINDABLE, m.MS_PRIVATE, m.MS_SLAVE, m.MS_SHARED, m.MS_RELATIME, m.MS_I_VERSION, m.MS_STRICTATIME, m.MS_LAZYTIME],
    [131072, 262144, 524288, 1048576, 2097152, 8388608, 16777216, 33554432],
  );
});

test('no options: nothing set', () => {
  const empty = { flags: 0, clearFlags: 0, propagation: 0, data: '', bind: false, recursive: false, readonly: false, idmap: '' };
  assert.equal(parseMountOptions(undefined), empty);
  assert.equal(parseMountOptions([]), empty);
  assert.equal(parseMountOptions(['defaults', '']), empty);
});

test('each setting option sets its flag', () => {
  const cases: [string, number][] = [
    ['ro', m.MS_RDONLY], ['nosuid', m.MS_NOSUID], ['nodev', m.MS_NODEV], ['noexec', m.MS_NOEXEC],
    ['sync', m.MS_SYNCHRONOUS], ['dirsync', m.MS_DIRSYNC], ['remount', m.MS_REMOUNT], ['mand', m.MS_MANDLOCK],
    ['noatime', m.MS_NOATIME], ['nodiratime', m.MS_NODIRATIME], ['relatime', m.MS_RELATIME],
    ['strictatime', m.MS_STRICTATIME], ['lazytime', m.MS_LAZYTIME], ['iversion', m.MS_I_VERSION],
    ['nosymfollow', m.MS_NOSYMFOLLOW], ['silent', m.MS_SILENT], ['bind', m.MS_BIND], ['rbind', m.MS_BIND | m.MS_REC],
  ];
  for (const [opt, flag] of cases) {
    const r = parseMountOptions([opt]);
    assert.is(r.flags, flag, opt);
    assert.is(r.clearFlags, 0, opt);
    assert.is(r.data, '', opt);
  }
});

test('each clearing option records the flag it clears', () => {
  const cases: [string, number][] = [
    ['rw', m.MS_RDONLY], ['suid', m.MS_NOSUID], ['dev', m.MS_NODEV], ['exec', m.MS_NOEXEC],
    ['async', m.MS_SYNCHRONOUS], ['nomand', m.MS_MANDLOCK], ['atime', m.MS_NOATIME], ['diratime', m.MS_NODIRATIME],
    ['norelatime', m.MS_RELATIME], ['nostrictatime', m.MS_STRICTATIME], ['nolazytime', m.MS_LAZYTIME],
    ['noiversion', m.MS_I_VERSION], ['symfollow', m.MS_NOSYMFOLLOW], ['loud', m.MS_SILENT],
  ];
  for (const [opt, flag] of cases) {
    const r = parseMountOptions([opt]);
    assert.is(r.flags, 0, opt);
    assert.is(r.clearFlags, flag, opt);
  }
});

test('later options win', () => {
  let r = parseMountOptions(['ro', 'rw']);
  assert.is(r.flags, 0);
  assert.is(r.clearFlags, m.MS_RDONLY);
  assert.is(r.readonly, false);
  r = parseMountOptions(['rw', 'ro']);
  assert.is(r.flags, m.MS_RDONLY);
  assert.is(r.clearFlags, 0);
  assert.is(r.readonly, true);
  r = parseMountOptions(['noexec', 'nosuid', 'exec']);
  assert.is(r.flags, m.MS_NOSUID);
  assert.is(r.clearFlags, m.MS_NOEXEC);
});

test('bind, rbind, ro: the summary booleans', () => {
  assert.equal(parseMountOptions(['rbind', 'ro', 'nosuid']), {
    flags: m.MS_BIND | m.MS_REC | m.MS_RDONLY | m.MS_NOSUID, clearFlags: 0, propagation: 0, data: '',
    bind: true, recursive: true, readonly: true, idmap: '',
  });
  const b = parseMountOptions(['bind']);
  assert.ok(b.bind);
  assert.not.ok(b.recursive);
  assert.not.ok(b.readonly);
});

test('propagation options are returned apart, not in flags', () => {
  const cases: [string, number][] = [
    ['private', m.MS_PRIVATE], ['rprivate', m.MS_PRIVATE | m.MS_REC], ['shared', m.MS_SHARED],
    ['rshared', m.MS_SHARED | m.MS_REC], ['slave', m.MS_SLAVE], ['rslave', m.MS_SLAVE | m.MS_REC],
    ['unbindable', m.MS_UNBINDABLE], ['runbindable', m.MS_UNBINDABLE | m.MS_REC],
  ];
  for (const [opt, flag] of cases) {
    const r = parseMountOptions(['bind', opt]);
    assert.is(r.propagation, flag, opt);
    assert.is(r.flags, m.MS_BIND, opt);
    assert.is(r.recursive, false, `${opt} does not make the bind recursive`);
  }
  assert.is(parseMountOptions(['rshared', 'rprivate']).propagation, m.MS_PRIVATE | m.MS_REC, 'the last one wins');
});

test('everything else is filesystem data, in order', () => {
  const r = parseMountOptions(['nosuid', 'mode=755', 'size=65536k', 'strictatime', 'uid=5', 'gid=5', 'newinstance', 'ptmxmode=0666']);
  assert.is(r.flags, m.MS_NOSUID | m.MS_STRICTATIME);
  assert.is(r.data, 'mode=755,size=65536k,uid=5,gid=5,newinstance,ptmxmode=0666');
  assert.is(parseMountOptions(['lowerdir=/a:/b', 'upperdir=/u', 'workdir=/w']).data, 'lowerdir=/a:/b,upperdir=/u,workdir=/w');
  assert.is(parseMountOptions(['constructor', 'toString']).data, 'constructor,toString', 'no prototype lookups');
});

test('recursive attributes and tmpcopyup are refused, not silently ignored; idmap and ridmap are read', () => {
  assert.is(parseMountOptions(['rbind', 'idmap']).idmap, 'idmap');
  assert.is(parseMountOptions(['ridmap']).idmap, 'ridmap');
  for (const opt of ['rro', 'rrw', 'rnosuid', 'rnodev', 'rnoexec', 'rnoatime', 'rrelatime', 'rnosymfollow', 'tmpcopyup']) {
    assert.throws(() => parseMountOptions(['rbind', opt]), (e: unknown) =>
      e instanceof RuntimeError && e.code === 'ERR_CONFIG' && e.message === `mount option ${JSON.stringify(opt)} is not supported`, opt);
  }
});

test('rootfsPropagationFlags: default rslave like runc, names, error', () => {
  assert.is(rootfsPropagationFlags(), m.MS_SLAVE | m.MS_REC);
  assert.is(rootfsPropagationFlags(''), m.MS_SLAVE | m.MS_REC);
  assert.is(rootfsPropagationFlags('private'), m.MS_PRIVATE);
  assert.is(rootfsPropagationFlags('rprivate'), m.MS_PRIVATE | m.MS_REC);
  assert.is(rootfsPropagationFlags('shared'), m.MS_SHARED);
  assert.is(rootfsPropagationFlags('rshared'), m.MS_SHARED | m.MS_REC);
  assert.is(rootfsPropagationFlags('slave'), m.MS_SLAVE);
  assert.is(rootfsPropagationFlags('rslave'), m.MS_SLAVE | m.MS_REC);
  assert.is(rootfsPropagationFlags('unbindable'), m.MS_UNBINDABLE);
  assert.is(rootfsPropagationFlags('runbindable'), m.MS_UNBINDABLE | m.MS_REC);
  assert.throws(() => rootfsPropagationFlags('everywhere'), (e: unknown) =>
    e instanceof RuntimeError && e.code === 'ERR_CONFIG' &&
    e.message === '/linux/rootfsPropagation: unknown propagation "everywhere"' &&
    e.hint === 'use one of private, rprivate, shared, rshared, slave, rslave, unbindable, runbindable');
  assert.throws(() => rootfsPropagationFlags('toString'), (e: unknown) => e instanceof RuntimeError, 'no prototype lookups');
});

test.run();
