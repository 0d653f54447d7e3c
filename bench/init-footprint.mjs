// Memory and size of a container's PID 1: tsrun-init against tini, dumb-init
// and catatonit. Each runs as PID 1 of a fresh pid namespace (unshare -fp
// --mount-proc, plus -r when not root) with `/bin/busybox sleep 30` as its
// child; once the child is up, the init's VmRSS (/proc/PID/status) and Pss
// (/proc/PID/smaps_rollup) are read, then the init is SIGKILLed by pid, which
// takes its namespace down with it. Missing inits are skipped with a note.
//   bin/node-pinned bench/init-footprint.mjs [path/to/tsrun-init]
// Library use: import { measureInitFootprint } from './init-footprint.mjs'
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const BUSYBOX = '/bin/busybox';
const SAMPLES = 3;
const CC_ARGS = ['-Wall', '-Wextra', '-Werror', '-Wno-unused-parameter', '-Os', '-static', '-s',
  '-fno-asynchronous-unwind-tables', '-Wl,--gc-sections', '-ffunction-sections', '-fdata-sections'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const which = (cmd) => {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};

function childrenOf(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

async function waitFor(what, get, ms = 5000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(10)) {
    const v = get();
    if (v !== undefined) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

const kb = (text, field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);

/** One run: the init's VmRSS and Pss in kB while its child sleeps. */
async function sampleOnce(argv) {
  const unshare = ['-fp', '--mount-proc', ...(process.getuid() === 0 ? [] : ['-r'])];
  const proc = spawn('unshare', [...unshare, ...argv], { stdio: 'ignore' });
  const done = new Promise((r) => proc.on('close', r));
  let init;
  try {
    init = await waitFor('init under unshare', () => childrenOf(proc.pid)[0]);
    // steady state: the workload is running (exec'd into sleep) under the init
    await waitFor('workload', () => {
      const c = childrenOf(init)[0];
      try { return c && readFileSync(`/proc/${c}/cmdline`, 'utf8').split('\0')[1] === 'sleep' ? c : undefined; } catch { return undefined; }
    });
    await sleep(50);
    return {
      vmRssKb: kb(readFileSync(`/proc/${init}/status`, 'utf8'), 'VmRSS'),
      pssKb: kb(readFileSync(`/proc/${init}/smaps_rollup`, 'utf8'), 'Pss'),
    };
  } finally {
    for (const pid of [init, proc.pid]) if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    await done;
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** tsrun-init: the given path, else a current build/tsrun-init, else a temp build. */
function tsrunInit(initPath, cleanup) {
  if (initPath) return initPath;
  const src = join(root, 'src/init/tsrun-init.c');
  const built = join(root, 'build/tsrun-init');
  if (existsSync(built) && (!existsSync(src) || statSync(built).mtimeMs >= statSync(src).mtimeMs)) return built;
  if (!existsSync(src) || !which('musl-gcc')) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-init-bench-'));
  cleanup.push(dir);
  const out = join(dir, 'tsrun-init');
  const r = spawnSync('musl-gcc', [...CC_ARGS, '-o', out, src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`musl-gcc tsrun-init.c failed: ${r.stderr}`);
  return out;
}

function isStatic(path) {
  const head = readFileSync(path).subarray(0, 4096);
  return !head.includes(Buffer.from('/lib64/ld-linux')) && !head.includes(Buffer.from('ld-musl'));
}

/**
 * Measures tsrun-init (at initPath if given) and whichever of tini (static
 * preferred), dumb-init and catatonit are installed.
 * @param {string} [initPath]
 * A tsrun-init built here for the run is deleted afterwards: its `path` is
 * then only a label.
 * @returns {Promise<Array<{name: string, path: string, fileBytes: number, vmRssKb: number, pssKb: number, linking: 'static' | 'dynamic'}>>}
 */
export async function measureInitFootprint(initPath) {
  const cleanup = [];
  try {
    const workload = [BUSYBOX, 'sleep', '30'];
    const candidates = [
      { name: 'tsrun-init', path: tsrunInit(initPath, cleanup), argv: (p) => [p, '--', ...workload] },
      { name: 'tini', path: which('tini-static') ?? which('tini'), argv: (p) => [p, '--', ...workload] },
      { name: 'dumb-init', path: which('dumb-init'), argv: (p) => [p, ...workload] },
      { name: 'catatonit', path: which('catatonit'), argv: (p) => [p, '--', ...workload] },
    ];
    if (!existsSync(BUSYBOX)) throw new Error(`init footprint: ${BUSYBOX} not found (package busybox-static)`);
    const rows = [];
    for (const c of candidates) {
      if (!c.path || !existsSync(c.path)) {
        console.warn(`note: ${c.name} not installed, skipped`);
        continue;
      }
      const samples = [];
      for (let i = 0; i < SAMPLES; i++) samples.push(await sampleOnce(c.argv(c.path)));
      rows.push({
        name: c.name,
        path: realpathSync(c.path),
        fileBytes: statSync(c.path).size,
        linking: isStatic(c.path) ? 'static' : 'dynamic',
        vmRssKb: median(samples.map((s) => s.vmRssKb)),
        pssKb: median(samples.map((s) => s.pssKb)),
      });
    }
    return rows;
  } finally {
    for (const d of cleanup) rmSync(d, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await measureInitFootprint(process.argv[2]);
  const table = rows.map((r) => ({
    init: r.name,
    binary: r.path,
    linking: r.linking,
    'file bytes': r.fileBytes,
    'VmRSS kB': r.vmRssKb,
    'Pss kB': r.pssKb,
  }));
  console.table(table);
  console.log(`median of ${SAMPLES} runs each; dynamic binaries' RSS includes their share of libc and ld.so`);
}
