// A cold part (build/verb-*.cjs, help.cjs: see scripts/build.mjs) loaded the
// way boot.ts loads build/tsrun.cjs, with a V8 code cache per verb. Loaded by
// a plain require() it was compiled again on every call; for create, run and
// exec (build/verb-create.cjs) that is the whole create path. The build
// passes the part's content hash, which names its cache files: V8 itself
// checks only the source's length. Runs inside build/tsrun.cjs, so __dirname
// is build/ and `require` is boot.cjs's (ffi-rs resolves from there).
import { cacheKey } from './cli/cache-key.ts';
import { runWithCodeCache } from './code-cache.ts';

export function loadColdPart(name: string, hash: string): { default: unknown } {
  const cacheFile = `${__dirname}/.code-cache/${hash}-${cacheKey(process.argv.slice(2))}`;
  // As for the bundle: only a successful run writes the cache.
  return runWithCodeCache(`${__dirname}/${name}.cjs`, cacheFile, (code) => code === 0) as { default: unknown };
}
