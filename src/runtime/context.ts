// What every verb receives: the state store under --root, the logger, and the
// parsed command line.
import type { Logger } from './cli/log.ts';
import { RuntimeError } from './errors.ts';
import type { StateStore } from './state-store.ts';

export interface Context {
  store: StateStore;
  log: Logger;
  options: Record<string, string | boolean | number | string[] | undefined>;
  positionals: string[];
  verb: string;
}

/** The positional at `index`, or a usage error naming it. */
export function positional(ctx: Context, index: number, name: string): string {
  const value = ctx.positionals[index];
  if (value === undefined) throw new RuntimeError('ERR_USAGE', `"tsrun ${ctx.verb}" needs ${name}`, { hint: `see tsrun ${ctx.verb} --help` });
  return value;
}

export function stringOption(ctx: Context, name: string): string | undefined {
  const v = ctx.options[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}
