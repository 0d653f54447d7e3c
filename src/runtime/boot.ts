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
import { cacheKey } from './cli/cache-key.ts';
import { runWithCodeCache } from './code-cache.ts';

declare const BUNDLE_HASH: string;

// An error path is not what the next call runs: only a successful run writes the cache.
runWithCodeCache(`${__dirname}/tsrun.cjs`, `${__dirname}/.code-cache/${BUNDLE_HASH}-${cacheKey(process.argv.slice(2))}`, (code) => code === 0);
