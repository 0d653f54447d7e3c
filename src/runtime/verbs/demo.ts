// tsrun demo NAME [--json] [--svg FILE] [--quick]: reproduce a container
// behaviour live, with real containers in a private --root, and explain what
// was observed. Each demo is a module of src/demos/ exporting a Demo
// (lab.ts); the results go through report.ts. Everything after NAME arrives
// verbatim (the verb table's passthroughAfter), so the options are read here
// as well as from the table (when given before NAME).
import type { Context } from '../context.ts';
import { RuntimeError } from '../errors.ts';
import { DEMOS } from '../../demos/index.ts';

export interface DemoArgs {
  json: boolean;
  svg: string | undefined;
  quick: boolean;
  help: boolean;
  /** demo swap only: make and enable a swap file for the run. */
  useSwapfile: boolean;
}

/** The options after NAME, on top of those the table parsed before it. */
export function parseDemoArgs(args: string[], options: Context['options']): DemoArgs {
  const out: DemoArgs = {
    json: options.json === true,
    svg: typeof options.svg === 'string' && options.svg !== '' ? options.svg : undefined,
    quick: options.quick === true,
    help: false,
    useSwapfile: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (name === '--json') out.json = inline === undefined || !['false', '0', 'no'].includes(inline);
    else if (name === '--quick') out.quick = inline === undefined || !['false', '0', 'no'].includes(inline);
    else if (name === '--help' || name === '-h') out.help = true;
    else if (name === '--use-swapfile' && inline === undefined) out.useSwapfile = true;
    else if (name === '--svg') {
      const file = inline ?? args[++i];
      if (file === undefined || file === '') throw new RuntimeError('ERR_USAGE', 'option --svg needs a file name');
      out.svg = file;
    } else {
      throw new RuntimeError('ERR_USAGE', `unknown argument ${JSON.stringify(arg)} for "tsrun demo"`, {
        hint: 'demo options are --json, --svg FILE and --quick; global options go before "demo"',
      });
    }
  }
  return out;
}

async function overview(): Promise<string> {
  const lines = ['usage: tsrun demo NAME [--json] [--svg FILE] [--quick]', '', 'Reproduces a container behaviour with real containers and explains it:', ''];
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
  return 0;
}
