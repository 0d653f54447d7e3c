// tsrun demo NAME [--json] [--svg FILE] [--quick] [--html DIR]: reproduce a
// container behaviour live, with real containers in a private --root, and
// explain what was observed. `tsrun demo all` runs every demo of the
// registry, each in a child `tsrun demo NAME --report FILE` (so a demo that
// enters a network sandbox or fails cannot affect the next), with a progress
// line per demo, and with --html writes one page of all of them. Each demo is a module of src/demos/ exporting a Demo
// (lab.ts); the results go through report.ts. Everything after NAME arrives
// verbatim (the verb table's passthroughAfter), so the options are read here
// as well as from the table (when given before NAME).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import type { PageEntry } from '../../demos/html-page.ts';
import type { DemoReport } from '../../demos/report.ts';
import { tsrunCommand } from '../paths.ts';
import { RuntimeError } from '../errors.ts';
import { DEMOS } from '../../demos/index.ts';

export interface DemoArgs {
  json: boolean;
  svg: string | undefined;
  quick: boolean;
  help: boolean;
  /** demo swap only: make and enable a swap file for the run. */
  useSwapfile: boolean;
  /** Write DIR/index.html (one demo, or every demo with `all`). */
  html: string | undefined;
  /** Write the whole report (tables, explanations, chart, data) as JSON to this file. */
  report: string | undefined;
}

/** The options after NAME, on top of those the table parsed before it. */
export function parseDemoArgs(args: string[], options: Context['options']): DemoArgs {
  const out: DemoArgs = {
    json: options.json === true,
    svg: typeof options.svg === 'string' && options.svg !== '' ? options.svg : undefined,
    quick: options.quick === true,
    help: false,
    useSwapfile: false,
    html: undefined,
    report: undefined,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (name === '--json') out.json = inline === undefined || !['false', '0', 'no'].includes(inline);
    else if (name === '--quick') out.quick = inline === undefined || !['false', '0', 'no'].includes(inline);
    else if (name === '--help' || name === '-h') out.help = true;
    else if (name === '--use-swapfile' && inline === undefined) out.useSwapfile = true;
    else if (name === '--svg' || name === '--html' || name === '--report') {
      const file = inline ?? args[++i];
      if (file === undefined || file === '') throw new RuntimeError('ERR_USAGE', `option ${name} needs a ${name === '--html' ? 'directory' : 'file'} name`);
      out[name.slice(2) as 'svg' | 'html' | 'report'] = file;
    } else {
      throw new RuntimeError('ERR_USAGE', `unknown argument ${JSON.stringify(arg)} for "tsrun demo"`, {
        hint: 'demo options are --json, --svg FILE, --html DIR, --report FILE and --quick; global options go before "demo"',
      });
    }
  }
  return out;
}

async function overview(): Promise<string> {
  const lines = ['usage: tsrun demo NAME|all [--json] [--svg FILE] [--html DIR] [--quick]', '', 'Reproduces a container behaviour with real containers and explains it:', ''];
  for (const [name, load] of Object.entries(DEMOS)) {
    const d = (await load()).default;
    lines.push(`  ${name.padEnd(9)} ${d.summary}`, `  ${''.padEnd(9)} takes ${d.takes}`);
  }
  lines.push(
    '',
    'options:',
    '  --json        print the results as JSON (stable field names)',
    '  --svg FILE    also write a bar chart of the results (SVG)',
    '  --quick       shorter waits, for tests',
    '  --use-swapfile  (swap) make and enable a small swap file for the run, removed after',
    '  --html DIR    also write DIR/index.html: tables, explanations and chart (inline SVG)',
    '  --report FILE also write the whole report (tables, explanations, chart, data) as JSON',
    '',
    '  tsrun demo all [--quick] [--html DIR] runs every demo, one progress line each,',
    '  and with --html writes them all on one page (for a class).',
    '',
    'Needs root. Each demo uses its own temp dir and --root and removes them, also on Ctrl-C.',
  );
  return `${lines.join('\n')}\n`;
}

export default async function demoVerb(ctx: Context): Promise<number> {
  const [name, ...rest] = ctx.positionals;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const text = await overview();
    if (name === undefined) {
      process.stderr.write(text);
      return 2;
    }
    process.stdout.write(text);
    return 0;
  }
  if (name === 'all') return runAll(parseDemoArgs(rest, ctx.options));
  const load = DEMOS[name];
  if (!load) {
    throw new RuntimeError('ERR_USAGE', `unknown demo ${JSON.stringify(name)}`, { hint: `one of ${Object.keys(DEMOS).join(', ')}` });
  }
  const args = parseDemoArgs(rest, ctx.options);
  if (args.useSwapfile && name !== 'swap') throw new RuntimeError('ERR_USAGE', `--use-swapfile is an option of "tsrun demo swap", not of ${JSON.stringify(name)}`);
  const demo = (await load()).default;
  if (args.help) {
    process.stdout.write(`tsrun demo ${demo.name} [--json] [--svg FILE] [--quick]\n\n${demo.summary}.\nTakes ${demo.takes}.\n`);
    return 0;
  }
  const started = Date.now();
  const [{ Lab }, report] = await Promise.all([import('../../demos/lab.ts'), import('../../demos/report.ts')]);
  const progress = report.createProgress(process.stderr);
  const lab = Lab.open({ quick: args.quick, progress, useSwapfile: args.useSwapfile });
  let result;
  try {
    result = await demo.run(lab);
  } finally {
    lab.step('removing the demo containers');
    lab.close();
  }
  report.writeReport(result, { json: args.json, svg: args.svg, quick: args.quick });
  if (args.report) writeFileSync(args.report, `${JSON.stringify({ ...result, quick: args.quick }, null, 2)}\n`);
  if (args.html) await writePage(args.html, [{ name, summary: demo.summary, seconds: (Date.now() - started) / 1000, report: result }], args.quick);
  return 0;
}

async function writePage(dir: string, entries: PageEntry[], quick: boolean): Promise<string> {
  const { renderPage } = await import('../../demos/html-page.ts');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'index.html');
  const cgroup = existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'cgroup v2' : existsSync('/sys/fs/cgroup/unified') ? 'cgroup v1, hybrid' : 'cgroup v1';
  writeFileSync(file, renderPage(entries, { generated: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), kernel: release(), cgroup, quick }));
  return file;
}

/** Every demo of the registry, each in its own `tsrun demo NAME --report FILE`
 *  child; a progress line per demo on stderr; a page with --html. Exit 1 when
 *  a demo failed (the page still shows the others and the failure). */
async function runAll(args: DemoArgs): Promise<number> {
  if (args.svg || args.report) throw new RuntimeError('ERR_USAGE', '"tsrun demo all" takes --html DIR, --json and --quick (each demo\'s chart is on the page)');
  const work = mkdtempSync(join(tmpdir(), 'tsrun-demoall-'));
  const entries: PageEntry[] = [];
  let current: ChildProcess | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    // The demo running now cleans up on its own signal handler; then we stop.
    if (current?.pid) process.kill(current.pid, signal);
    void new Promise((r) => current?.once('exit', r) ?? r(undefined)).then(() => {
      rmSync(work, { recursive: true, force: true });
      process.stderr.write(`tsrun demo all: ${signal}: stopped\n`);
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    });
  };
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, onSignal);
  try {
    const names = Object.keys(DEMOS);
    for (const [i, name] of names.entries()) {
      const demo = (await DEMOS[name]!()).default;
      const tag = `[${i + 1}/${names.length}] ${name}`;
      process.stderr.write(`${tag}: running, takes ${demo.takes}\n`);
      const file = join(work, `${name}.json`);
      const started = Date.now();
      const child = spawn(tsrunCommand(), ['demo', name, ...(args.quick ? ['--quick'] : []), '--report', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      current = child;
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => void (stderr += d));
      const code = await new Promise<number>((resolve) => {
        child.on('error', () => resolve(127));
        child.on('close', (c, sig) => resolve(c ?? 128 + (sig === 'SIGKILL' ? 9 : 15)));
      });
      current = undefined;
      const seconds = (Date.now() - started) / 1000;
      if (code === 0 && existsSync(file)) {
        entries.push({ name, summary: demo.summary, seconds, report: JSON.parse(readFileSync(file, 'utf8')) as DemoReport });
        process.stderr.write(`${tag}: ok in ${seconds.toFixed(1)} s\n`);
      } else {
        const error = stderr.trim() || `exit status ${code}`;
        entries.push({ name, summary: demo.summary, seconds, error });
        process.stderr.write(`${tag}: FAILED in ${seconds.toFixed(1)} s: ${error.split('\n').slice(-1)[0]}\n`);
      }
    }
  } finally {
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.off(s, onSignal);
    rmSync(work, { recursive: true, force: true });
  }
  const failed = entries.filter((e) => e.error);
  const page = args.html ? await writePage(args.html, entries, args.quick) : undefined;
  if (args.json) {
    process.stdout.write(`${JSON.stringify({
      quick: args.quick,
      ...(page ? { html: page } : {}),
      demos: entries.map((e) => ({ name: e.name, ok: !e.error, seconds: Number(e.seconds.toFixed(1)), ...(e.error ? { error: e.error } : {}) })),
    }, null, 2)}\n`);
  } else {
    process.stdout.write(`${entries.length - failed.length} of ${entries.length} demos ran to the end${failed.length ? `; failed: ${failed.map((e) => e.name).join(', ')}` : ''}\n`);
    if (page) process.stdout.write(`page written to ${page}\n`);
  }
  return failed.length ? 1 : 0;
}
