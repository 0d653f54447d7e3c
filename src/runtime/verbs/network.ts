// tsrun network add [--bundle DIR] MODE[,key=value...]: adds the network hooks
// and a network namespace to a bundle's config.json, so nobody writes hook
// JSON by hand.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { positional, stringOption, type Context } from '../context.ts';
import { RuntimeError, fromSystemError } from '../errors.ts';
import { tsrunCommand } from '../paths.ts';
import { addNetworkToConfig } from '../../hooks/network/config-edit.ts';

export default async function network(ctx: Context): Promise<number> {
  const action = positional(ctx, 0, 'an action (add)');
  if (action !== 'add') throw new RuntimeError('ERR_USAGE', `unknown network action ${JSON.stringify(action)}`, { hint: 'tsrun network add MODE[,key=value...]' });
  const spec = positional(ctx, 1, 'a network spec such as veth,nat');
  const file = join(resolve(stringOption(ctx, 'bundle') ?? '.'), 'config.json');
  let config;
  try {
    config = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw fromSystemError('ERR_CONFIG', 'read config', file, err);
  }
  const edited = addNetworkToConfig(config, spec, [tsrunCommand(), 'hook', 'network']);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(edited, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
  return 0;
}
