// Runs a CommonJS bundle compiled with a V8 code cache of our own (see
// boot.ts for why Node's compile cache is not enough). The cache is read if
// there is one; if there is none, or V8 rejected it (another Node, other
// flags), it is written at exit when `keep(code)` says this run was worth
// caching. Any failure only costs the cache, never the command. Returns the
// bundle's module.exports (a cold part's default export, cold-part.ts).
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

export function runWithCodeCache(bundle: string, cacheFile: string, keep: (code: number) => boolean): unknown {
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // not written yet
  }
  // latin1: the build checks that the bundle is ASCII, and a one-byte string is
  // made and hashed faster than UTF-8 decoding would.
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundle, 'latin1')}\n})`;
  const script = new Script(wrapped, { filename: bundle, cachedData });
  if (!cachedData || script.cachedDataRejected) {
    process.on('exit', (code) => {
      if (!keep(code)) return;
      const tmp = `${cacheFile}.${process.pid}`;
      try {
        mkdirSync(dirname(cacheFile), { recursive: true });
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, cacheFile);
      } catch {
        rmSync(tmp, { force: true }); // a read-only install runs without the cache
      }
    });
  }
  const module = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, require, module, bundle, dirname(bundle));
  return module.exports;
}
