// bin/tsrun runs this, not the bundle: it compiles build/tsrun.cjs with a V8
// code cache of its own, one per verb.
//
// Why not only Node's NODE_COMPILE_CACHE: Node makes that cache right after
// compiling a file, before running it, so it holds the bundle's top level and
// none of the functions a verb then calls; those were compiled again on every
// call (~1 ms of `state`, ~4 ms of `create` here). A cache made when a verb has
// finished holds everything it ran. The first successful run of each verb
// writes its cache; later runs only read it.
//
// The cache files are named after the bundle's content hash (V8 itself checks
// only the source's length), so a rebuilt bundle never runs stale bytecode. V8
// rejects a cache made by another Node version or other flags; it is then
// written again. Any failure here only costs the cache, never the command.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Script } from 'node:vm';
import { cacheKey } from './cli/cache-key.ts';

declare const BUNDLE_HASH: string;

const bundle = `${__dirname}/tsrun.cjs`;
const cacheDir = `${__dirname}/.code-cache`;
const cacheFile = `${cacheDir}/${BUNDLE_HASH}-${cacheKey(process.argv.slice(2))}`;

let cachedData: Buffer | undefined;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  // first run of this verb
}
// latin1: the build checks that the bundle is ASCII, and a one-byte string is
// made and hashed faster than UTF-8 decoding would.
const wrapped = `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundle, 'latin1')}\n})`;
const script = new Script(wrapped, { filename: bundle, cachedData });

if (!cachedData || script.cachedDataRejected) {
  process.on('exit', (code) => {
    if (code !== 0) return; // an error path is not what the next call runs
    const tmp = `${cacheFile}.${process.pid}`;
    try {
      mkdirSync(cacheDir, { recursive: true });
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch {
      rmSync(tmp, { force: true }); // a read-only install runs without the cache
    }
  });
}

const module = { exports: {} };
(script.runInThisContext() as (...args: unknown[]) => void)(module.exports, require, module, bundle, __dirname);
