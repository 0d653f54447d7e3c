import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseArgv } from '../../src/runtime/cli/parse.ts';
import { defaultStateRoot, inUserNamespace } from '../../src/runtime/paths.ts';

test('globals before and after the verb, defaults filled in', () => {
  const p = parseArgv(['--root', '/r', 'kill', '--all', 'web', '9', '--log-format=json']);
  assert.is(p.verb, 'kill');
  assert.equal(p.positionals, ['web', '9']);
  assert.is(p.options.root, '/r');
  assert.is(p.options.all, true);
  assert.is(p.options['log-format'], 'json');
  assert.is(parseArgv(['state', 'x']).options['log-format'], 'text');
  // --root has no fixed default: it depends on who runs tsrun (defaultStateRoot).
  assert.is(parseArgv(['state', 'x']).options.root, undefined);
});

test('defaultStateRoot: /run/tsrun for root; $XDG_RUNTIME_DIR/tsrun for root in a user namespace only with $USER not root', () => {
  if (process.geteuid!() !== 0 || inUserNamespace()) return;
  assert.is(defaultStateRoot(), '/run/tsrun');
  const saved = process.env.XDG_RUNTIME_DIR;
  process.env.XDG_RUNTIME_DIR = '/tmp/x';
  assert.is(defaultStateRoot(), '/run/tsrun', 'the host\'s root ignores XDG_RUNTIME_DIR');
  if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
  else process.env.XDG_RUNTIME_DIR = saved;
});

test('aliases, numbers, booleans with values, arrays', () => {
  const p = parseArgv(['exec', '-t', '-e', 'A=1', '--env', 'B=2', '--preserve-fds', '2', 'id', 'sh', '-c', 'echo -e x']);
  assert.is(p.options.tty, true);
  assert.equal(p.options.env, ['A=1', 'B=2']);
  assert.is(p.options['preserve-fds'], 2);
  assert.equal(p.positionals, ['id', 'sh', '-c', 'echo -e x'], 'the command after the id is taken verbatim');
  assert.is(parseArgv(['delete', '--force=false', 'x']).options.force, false);
});

test('hook arguments pass through untouched', () => {
  const p = parseArgv(['hook', 'network', 'up', '--subnet=10.0.0.0/24', 'nat']);
  assert.equal(p.positionals, ['network', 'up', '--subnet=10.0.0.0/24', 'nat']);
});

test('"--" ends options; --help and --version are flags anywhere', () => {
  assert.equal(parseArgv(['kill', '--', 'x', '-9']).positionals, ['x', '-9']);
  assert.is(parseArgv(['kill', '--help']).help, true);
  assert.is(parseArgv(['--version']).version, true);
});

test('errors name the option and the verb', () => {
  assert.throws(() => parseArgv(['kill', '--bogus', 'x']), /unknown option "--bogus" for "tsrun kill"/);
  assert.throws(() => parseArgv(['create', '--bundle']), /option --bundle needs a value/);
  assert.throws(() => parseArgv(['list', '--format', 'yaml']), /option --format: "yaml" is not one of table, json/);
  assert.throws(() => parseArgv(['create', '--preserve-fds', 'two', 'x']), /option --preserve-fds: "two" is not a number/);
});

test('extra positionals are refused as runc does; runc\'s --cpu-share spelling is accepted', () => {
  assert.throws(() => parseArgv(['delete', '-f', 'a', 'b']), (e: Error) => e.message === '"tsrun delete" requires exactly 1 argument; unexpected "b"');
  assert.throws(() => parseArgv(['kill', 'a', '9', 'x']), /requires a maximum of 2 arguments; unexpected "x"/);
  assert.throws(() => parseArgv(['features', 'x']), /requires exactly 0 arguments/);
  assert.equal(parseArgv(['kill', 'a', '9']).positionals, ['a', '9']);
  assert.equal(parseArgv(['exec', 'a', 'sh', '-c', 'x']).positionals, ['a', 'sh', '-c', 'x'], 'exec takes a command');
  assert.ok(parseArgv(['delete', '--help', 'a', 'b']).help, '--help wins');
  assert.is(parseArgv(['update', '--cpu-share', '100', 'a']).options['cpu-shares'], '100');
});

test.run();
