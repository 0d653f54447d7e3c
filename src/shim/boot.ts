// bin/containerd-shim-tsrun-v2 runs this, not the shim bundle: as
// src/runtime/boot.ts does for the CLI, it compiles the bundle with a V8 code
// cache that a daemon wrote when it went idle after serving containers, so
// the cache holds every function a container's lifecycle ran (Node's own
// compile cache holds only the top level). One cache per bundle content hash;
// a rejected cache (another Node, other flags) is written again. Any failure
// here only costs the cache.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Script } from 'node:vm';

declare const SHIM_BUNDLE_HASH: string;

const bundle = `${__dirname}/containerd-shim-tsrun-v2.cjs`;
const cacheDir = `${__dirname}/.code-cache`;
const cacheFile = `${cacheDir}/shim-${SHIM_BUNDLE_HASH}`;

let cachedData: Buffer | undefined;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  // no daemon has gone idle yet
}
const wrapped = `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundle, 'latin1')}\n})`;
const script = new Script(wrapped, { filename: bundle, cachedData });

if (!cachedData || script.cachedDataRejected) {
  // daemon.ts sets this when it exits after Shutdown with every container gone.
  process.on('exit', (code) => {
    if (code !== 0 || !(globalThis as { tsrunShimServed?: boolean }).tsrunShimServed) return;
    const tmp = `${cacheFile}.${process.pid}`;
    try {
      mkdirSync(cacheDir, { recursive: true });
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch {
      rmSync(tmp, { force: true });
    }
  });
}

const module = { exports: {} };
(script.runInThisContext() as (...args: unknown[]) => void)(module.exports, require, module, bundle, __dirname);
