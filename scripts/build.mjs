// The one build step: precompile the config schema, bundle the TypeScript into
// build/tsrun.cjs and compile the C helpers. Runs on the pinned Node or any
// Node >= 18; needs gcc and musl-gcc (package musl-tools).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build');
mkdirSync(out, { recursive: true });
rmSync(join(out, '.compile-cache'), { recursive: true, force: true });

// 1. The schema, compiled once here so no verb compiles it at run time.
const schema = JSON.parse(readFileSync(join(root, 'spec/config.schema.json'), 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: true, code: { source: true, esm: true } });
const validator = ajv.compile(schema);
writeFileSync(join(out, 'config-validator.mjs'), standaloneCode(ajv, validator));
writeFileSync(join(out, 'config-validator.d.mts'),
  "import type { ErrorObject } from 'ajv';\n" +
  'declare const validate: ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };\nexport default validate;\n');

// 2. The C helpers: small, static, single-purpose.
const cc = (compiler, args) => execFileSync(compiler, args, { cwd: root, stdio: 'inherit' });
const warn = ['-Wall', '-Wextra', '-Werror', '-Wno-unused-parameter'];
cc('gcc', [...warn, '-O2', '-static', '-o', join(out, 'tsrun-nsexec'),
  'src/ns/nsexec.c', 'src/ns/nsexec-mount.c', 'src/ns/nsexec-process.c', 'src/ns/nsexec-console.c']);
cc('musl-gcc', [...warn, '-Os', '-static', '-s', '-fno-asynchronous-unwind-tables',
  '-Wl,--gc-sections', '-ffunction-sections', '-fdata-sections',
  '-o', join(out, 'tsrun-init'), 'src/init/tsrun-init.c']);

// 3. One bundle for the CLI. CommonJS, because then esbuild wraps every module
// that is reached through a dynamic import() in a lazy initialiser, including
// its require()s of Node built-ins: a verb loads only what it uses (ESM output
// would hoist every built-in import to the top, ~6 ms on each call).
// ffi-rs stays external: it is a native addon.
await build({
  entryPoints: [join(root, 'src/runtime/main.ts')],
  outfile: join(out, 'tsrun.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  // Whitespace and syntax only: names stay readable in --debug stack traces,
  // and the smaller file is read and compiled faster on every call.
  minifyWhitespace: true,
  minifySyntax: true,
  external: ['ffi-rs'],
  define: {
    'import.meta.url': '__tsrunModuleUrl',
    TSRUN_VERSION: JSON.stringify(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version),
  },
  banner: { js: "'use strict'; const __tsrunModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});
console.log('built build/tsrun.cjs, build/tsrun-nsexec, build/tsrun-init');
