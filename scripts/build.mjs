// The one build step: precompile the config schema, bundle the TypeScript into
// build/tsrun.cjs and compile the C helpers. Runs on the pinned Node or any
// Node >= 18; needs gcc and musl-gcc (package musl-tools).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { build } from 'esbuild';
import protobuf from 'protobufjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build');
mkdirSync(out, { recursive: true });
for (const cache of ['.compile-cache', '.code-cache', '.seccomp-cache']) rmSync(join(out, cache), { recursive: true, force: true });

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
// tsrun-nsexec re-executes itself from a sealed memfd copy on every create,
// run and exec (CVE-2019-5736, see src/ns/nsexec.c), so its size is paid per
// call: a static musl binary like tsrun-init (~80 kB; glibc's static libc
// made it ~1 MB). libseccomp is the one thing it cannot link, Debian's
// libseccomp-dev being a static library built for glibc, so compiling
// linux.seccomp is a helper of its own, tsrun-seccomp (src/ns/seccomp-compile.c,
// static glibc), which tsrun runs on the host only when a profile is not in
// build/.seccomp-cache yet (src/runtime/seccomp.ts).
// musl-gcc searches musl's headers only; the kernel's (linux/, asm/), which
// Debian installs for glibc, are linked in on their own, and nothing else.
const kernelHeaders = join(out, '.kernel-headers');
rmSync(kernelHeaders, { recursive: true, force: true });
mkdirSync(kernelHeaders);
const multiarch = execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
for (const dir of ['/usr/include/linux', `/usr/include/${multiarch}/asm`, '/usr/include/asm-generic']) execFileSync('ln', ['-s', dir, kernelHeaders]);
const small = ['-Os', '-static', '-s', '-fno-asynchronous-unwind-tables', '-Wl,--gc-sections', '-ffunction-sections', '-fdata-sections'];
cc('musl-gcc', [...warn, ...small, '-isystem', kernelHeaders, '-o', join(out, 'tsrun-nsexec'),
  'src/ns/nsexec.c', 'src/ns/nsexec-mount.c', 'src/ns/nsexec-process.c', 'src/ns/nsexec-console.c', 'src/ns/nsexec-attr.c',
  'src/ns/nsexec-net.c', 'src/ns/nsexec-userns.c', 'src/ns/nsexec-seccomp.c']);
cc('gcc', [...warn, '-O2', '-static', '-s', '-o', join(out, 'tsrun-seccomp'), 'src/ns/seccomp-compile.c', 'src/ns/seccomp-enosys.c', '-lseccomp']);
cc('musl-gcc', [...warn, '-Os', '-static', '-s', '-fno-asynchronous-unwind-tables',
  '-Wl,--gc-sections', '-ffunction-sections', '-fdata-sections',
  '-o', join(out, 'tsrun-init'), 'src/init/tsrun-init.c']);

// 3. The CLI: build/tsrun.cjs with the verbs callers run constantly, and one
// bundle per cold part (create/run/exec, a demo, a hook, --help with yargs...).
// CommonJS, because then esbuild wraps every module that is reached through a
// dynamic import() in a lazy initialiser, including its require()s of Node
// built-ins (ESM output would hoist every built-in import to the top, ~6 ms on
// each call). The cold parts are separate files because even unused code costs
// every call: the bundle is read and its functions are declared, and cached,
// at its top level (`state` took 1.5 ms longer with them in; the create path
// in it, 196 of its 275 kB, cost every verb ~180 page faults and ~1.4 M
// instructions, ~3 ms here).
// import() becomes require(), which boot.cjs's vm.Script supports. ffi-rs
// stays external: a native addon.
const COLD_PARTS = {
  // create, run and exec: the config schema's generated validator (~120 kB),
  // seccomp, user namespaces, rootless, the create and exec plans.
  'verb-create': 'src/runtime/verbs/create-verbs.ts',
  'verb-demo': 'src/runtime/verbs/demo.ts',
  'verb-hook': 'src/runtime/verbs/hook.ts',
  'verb-network': 'src/runtime/verbs/network.ts',
  'verb-events': 'src/runtime/verbs/events.ts',
  'verb-update': 'src/runtime/verbs/update.ts',
  'verb-signals': 'src/runtime/verbs/signals.ts',
  'verb-features': 'src/runtime/verbs/features.ts',
  'verb-spec': 'src/runtime/verbs/spec.ts',
  'verb-ps': 'src/runtime/verbs/ps.ts',
  help: 'src/runtime/cli/help.ts',
};
for (const f of readdirSync(out)) if (/^(verb-[a-z]+|help)\.cjs$/.test(f)) rmSync(join(out, f));
const coldByPath = new Map(Object.entries(COLD_PARTS).map(([name, src]) => [join(root, src), name]));
const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  supported: { 'dynamic-import': false },
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
};
/** A bundle boot.cjs or cold-part.ts runs as a vm.Script: read as latin1, so ASCII only, and no import(). */
function checkScript(f) {
  const bytes = readFileSync(join(out, f));
  const nonAscii = bytes.findIndex((b) => b > 0x7f);
  // esbuild writes such characters as \u escapes (charset ascii), so this is a guard.
  if (nonAscii >= 0) throw new Error(`build/${f} has a non-ASCII byte at offset ${nonAscii}: ${bytes.subarray(Math.max(0, nonAscii - 40), nonAscii + 8)}`);
  if (/\bimport\(/.test(bytes.toString('latin1'))) throw new Error(`build/${f} still has an import(), which a vm.Script cannot run`);
  return bytes;
}
const contentHash = (bytes) => createHash('sha256').update(bytes).digest('hex').slice(0, 16);
// The cold parts first: build/tsrun.cjs names each one's code cache after its content.
await build({ ...common, entryPoints: Object.fromEntries(Object.entries(COLD_PARTS).map(([name, src]) => [name, join(root, src)])), outdir: out, outExtension: { '.js': '.cjs' } });
const coldHash = Object.fromEntries(Object.keys(COLD_PARTS).map((name) => [name, contentHash(checkScript(`${name}.cjs`))]));
// A cold part is reached through a stand-in module whose default export is
// the part's, loaded with a code cache of its own (src/runtime/cold-part.ts).
const splitColdParts = {
  name: 'split-cold-parts',
  setup(b) {
    b.onResolve({ filter: /\.ts$/ }, (args) => {
      const name = args.kind === 'dynamic-import' ? coldByPath.get(resolve(args.resolveDir, args.path)) : undefined;
      return name ? { path: name, namespace: 'cold-part' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'cold-part' }, (args) => ({
      contents: `import { loadColdPart } from ${JSON.stringify(join(root, 'src/runtime/cold-part.ts'))};\n` +
        `export default loadColdPart(${JSON.stringify(args.path)}, ${JSON.stringify(coldHash[args.path])}).default;`,
      resolveDir: out,
      loader: 'js',
    }));
  },
};
await build({ ...common, entryPoints: [join(root, 'src/runtime/main.ts')], outfile: join(out, 'tsrun.cjs'), plugins: [splitColdParts] });
checkScript('tsrun.cjs');

// 3b. The containerd shim (src/shim/): a bundle of its own, never loaded by
// the CLI. Its .proto files are parsed here into a JSON descriptor, so the
// shim needs only protobufjs/light (no .proto parser) at run time.
const protoRoot = new protobuf.Root();
protoRoot.resolvePath = (_origin, target) => join(root, 'src/shim/proto', target.replace(/^.*\//, ''));
protoRoot.loadSync(readdirSync(join(root, 'src/shim/proto')).filter((f) => f.endsWith('.proto')), { keepCase: true });
writeFileSync(join(out, 'shim-proto.mjs'), `export default ${JSON.stringify(protoRoot.toJSON())};\n`);
writeFileSync(join(out, 'shim-proto.d.mts'), 'declare const descriptor: object;\nexport default descriptor;\n');
await build({ ...common, entryPoints: [join(root, 'src/shim/main.ts')], outfile: join(out, 'containerd-shim-tsrun-v2.cjs') });
const shimBytes = readFileSync(join(out, 'containerd-shim-tsrun-v2.cjs'));
if (shimBytes.some((b) => b > 0x7f)) throw new Error('build/containerd-shim-tsrun-v2.cjs has a non-ASCII byte, which src/shim/boot.ts reads as latin1');
if (/\bimport\(/.test(shimBytes.toString('latin1'))) throw new Error('build/containerd-shim-tsrun-v2.cjs still has an import(), which a vm.Script cannot run');
await build({
  ...common, banner: undefined, external: [], entryPoints: [join(root, 'src/shim/boot.ts')], outfile: join(out, 'containerd-shim-tsrun-v2.boot.cjs'),
  define: { SHIM_BUNDLE_HASH: JSON.stringify(createHash('sha256').update(shimBytes).digest('hex').slice(0, 16)) },
});

// 4. The loader bin/tsrun runs: it compiles the bundle with a code cache per
// verb (src/runtime/boot.ts), named after the bundle's content.
const bundleHash = contentHash(readFileSync(join(out, 'tsrun.cjs')));
await build({
  entryPoints: [join(root, 'src/runtime/boot.ts')],
  outfile: join(out, 'boot.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  minifyWhitespace: true,
  minifySyntax: true,
  define: { BUNDLE_HASH: JSON.stringify(bundleHash) },
  logLevel: 'warning',
});
console.log(`built build/tsrun.cjs, ${Object.keys(COLD_PARTS).length} cold parts, build/boot.cjs, build/containerd-shim-tsrun-v2.cjs (+ its .boot.cjs), build/tsrun-nsexec, build/tsrun-init`);
