// bin/containerd-shim-tsrun-v2 runs this, not the shim bundle: as
// src/runtime/boot.ts does for the CLI, it compiles the bundle with a V8 code
// cache that a daemon wrote when it went idle after serving containers, so
// the cache holds every function a container's lifecycle ran (Node's own
// compile cache holds only the top level). One cache per bundle content hash;
// a rejected cache (another Node, other flags) is written again. Any failure
// here only costs the cache.
import { runWithCodeCache } from '../runtime/code-cache.ts';

declare const SHIM_BUNDLE_HASH: string;

// daemon.ts sets tsrunShimServed when it exits after Shutdown with every container gone.
runWithCodeCache(`${__dirname}/containerd-shim-tsrun-v2.cjs`, `${__dirname}/.code-cache/shim-${SHIM_BUNDLE_HASH}`,
  (code) => code === 0 && (globalThis as { tsrunShimServed?: boolean }).tsrunShimServed === true);
