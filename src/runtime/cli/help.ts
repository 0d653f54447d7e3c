// --help and --version, rendered by yargs from the verb table. Loaded only
// when help is asked for: yargs costs ~32 ms to load.
import yargs from 'yargs';
import type { ParsedArgs } from './parse.ts';
import { GLOBAL_OPTIONS, VERBS, type OptionSpec } from './verbs.ts';

declare const TSRUN_VERSION: string | undefined;

function toYargs(spec: OptionSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { type: spec.type, describe: spec.describe };
  if (spec.alias) out.alias = spec.alias;
  if (spec.default !== undefined) out.default = spec.default;
  if (spec.choices) out.choices = spec.choices;
  return out;
}

export default async function showHelp(parsed: ParsedArgs): Promise<number> {
  const version = typeof TSRUN_VERSION === 'string' ? TSRUN_VERSION : 'dev';
  if (parsed.version && !parsed.help) {
    process.stdout.write(`tsrun version ${version}\nspec: 1.2.0\nnode: ${process.version}\n`);
    return 0;
  }
  let y = yargs([]).scriptName('tsrun').wrap(Math.min(110, process.stdout.columns || 100)).version(version).strict(false);
  for (const [name, spec] of Object.entries(GLOBAL_OPTIONS)) y = y.option(name, toYargs(spec) as never);
  for (const [verb, spec] of Object.entries(VERBS)) {
    y = y.command(spec.usage, spec.describe, (sub) => {
      for (const [name, o] of Object.entries(spec.options)) sub.option(name, toYargs(o) as never);
      return sub;
    });
    void verb;
  }
  y = y.usage('tsrun [global options] <command> [options]\n\nAn OCI container runtime, drop-in for runc.');
  if (parsed.verb && VERBS[parsed.verb]) {
    await y.parseAsync([parsed.verb, '--help']);
  } else {
    y.showHelp('log');
  }
  return parsed.help || parsed.version ? 0 : 2;
}
