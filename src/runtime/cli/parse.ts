// A small argv parser driven by the verb table: global options anywhere,
// --name value, --name=value, -x value, boolean flags (--force, --force=false),
// "--" ends options. Pure, so it is unit-tested directly.
import { RuntimeError } from '../errors.ts';
import { GLOBAL_OPTIONS, VERBS, type OptionSpec } from './verbs.ts';

export interface ParsedArgs {
  verb: string | undefined;
  options: Record<string, string | boolean | number | string[] | undefined>;
  positionals: string[];
  help: boolean;
  version: boolean;
}

function lookup(name: string, table: Record<string, OptionSpec>): [string, OptionSpec] | undefined {
  if (table[name]) return [name, table[name]];
  for (const [long, spec] of Object.entries(table)) if (spec.alias === name) return [long, spec];
  return undefined;
}

export function parseArgv(argv: string[]): ParsedArgs {
  const out: ParsedArgs = { verb: undefined, options: {}, positionals: [], help: false, version: false };
  let table: Record<string, OptionSpec> = GLOBAL_OPTIONS;
  let passthrough = -1;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (passthrough >= 0 && out.positionals.length >= passthrough) {
      out.positionals.push(...argv.slice(arg === '--' ? i + 1 : i));
      break;
    }
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '--help' || arg === '-h') { out.help = true; continue; }
    if (arg === '--version' || arg === '-v') { out.version = true; continue; }
    if (arg.startsWith('-') && arg !== '-') {
      const body = arg.replace(/^--?/, '');
      const eq = body.indexOf('=');
      const name = eq >= 0 ? body.slice(0, eq) : body;
      const found = lookup(name, table) ?? lookup(name, GLOBAL_OPTIONS);
      if (!found) {
        throw new RuntimeError('ERR_USAGE', `unknown option ${JSON.stringify(arg)}${out.verb ? ` for "tsrun ${out.verb}"` : ''}`, {
          hint: `see tsrun ${out.verb ?? ''} --help`.replace('  ', ' '),
        });
      }
      const [long, spec] = found;
      let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
      if (spec.type === 'boolean') {
        out.options[long] = value === undefined ? true : !['false', '0', 'no'].includes(value);
        continue;
      }
      if (value === undefined) {
        value = argv[++i];
        if (value === undefined) throw new RuntimeError('ERR_USAGE', `option --${long} needs a value`);
      }
      if (spec.choices && !spec.choices.includes(value)) {
        throw new RuntimeError('ERR_USAGE', `option --${long}: ${JSON.stringify(value)} is not one of ${spec.choices.join(', ')}`);
      }
      if (spec.type === 'number') {
        if (!/^-?\d+(\.\d+)?$/.test(value)) throw new RuntimeError('ERR_USAGE', `option --${long}: ${JSON.stringify(value)} is not a number`);
        out.options[long] = Number(value);
      } else if (spec.type === 'array') {
        const prev = out.options[long];
        out.options[long] = [...(Array.isArray(prev) ? prev : []), value];
      } else {
        out.options[long] = value;
      }
      continue;
    }
    if (out.verb === undefined) {
      out.verb = arg;
      const verb = VERBS[arg];
      if (verb) {
        table = verb.options;
        passthrough = verb.passthroughAfter ?? -1;
      }
      continue;
    }
    out.positionals.push(arg);
  }
  const max = VERBS[out.verb ?? '']?.maxArgs;
  if (max !== undefined && out.positionals.length > max && !out.help) {
    // runc's words ("requires exactly 1 argument(s)"), and which arguments were too many.
    const extra = out.positionals.slice(max).map((a) => JSON.stringify(a)).join(' ');
    throw new RuntimeError('ERR_USAGE', `"tsrun ${out.verb}" requires ${max === 2 ? 'a maximum of 2 arguments' : `exactly ${max} argument${max === 1 ? '' : 's'}`}; unexpected ${extra}`, {
      hint: `see tsrun ${out.verb} --help`,
    });
  }
  for (const [long, spec] of Object.entries({ ...GLOBAL_OPTIONS, ...(VERBS[out.verb ?? '']?.options ?? {}) })) {
    if (out.options[long] === undefined && spec.default !== undefined) out.options[long] = spec.default;
  }
  return out;
}
