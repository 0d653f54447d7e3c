// Pure pieces of the errors engines parse and of config validation:
// the program lookup's words (podman: 127/126) and the NUL-byte finder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lookupText } from '../../src/ns/helper.ts';
import { nulPath } from '../../src/runtime/load-config.ts';

test('lookup failures keep tsrun\'s sentence and add runc\'s words', () => {
  assert.is(lookupText('exec: "/missing": not an executable file', 2), 'exec: "/missing": not an executable file: no such file or directory');
  assert.is(lookupText('exec: "/etc": not an executable file', 13), 'exec: "/etc": not an executable file: permission denied');
  assert.is(lookupText('exec: "x": executable file not found in $PATH', 2), 'exec: "x": executable file not found in $PATH');
  assert.match(lookupText('exec: "/x": not an executable file', 40), 'too many symbolic links encountered (ELOOP)');
});

test('nulPath names the JSON pointer of the first string or key with a NUL byte', () => {
  assert.is(nulPath({ process: { args: ['sh', 'a\0b'] } }, ''), '/process/args/1');
  assert.is(nulPath({ annotations: { 'a/b': 'x\0' } }, ''), '/annotations/a~1b');
  assert.is(nulPath({ annotations: { 'k\0': 'v' } }, ''), '/annotations/k\0');
  assert.is(nulPath({ process: { args: ['sh'] }, n: 1, b: true, z: null }, ''), null);
});

test.run();
