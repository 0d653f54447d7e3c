// tsrun spec [--bundle DIR] [--net MODE,...]: writes a default config.json,
// refusing to overwrite one (runc's behaviour; youki#3552 is the complaint).
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringOption, type Context } from '../context.ts';
import { defaultSpec } from '../default-spec.ts';
import { RuntimeError } from '../errors.ts';
import type { Config } from '../oci-types.ts';
import { tsrunCommand } from '../paths.ts';

export default async function spec(ctx: Context): Promise<number> {
  if (ctx.options.rootless) throw new RuntimeError('ERR_UNSUPPORTED', 'rootless containers are not supported yet');
  const dir = resolve(stringOption(ctx, 'bundle') ?? '.');
  if (!existsSync(dir)) throw new RuntimeError('ERR_USAGE', `bundle directory ${JSON.stringify(dir)} does not exist`);
  const file = join(dir, 'config.json');
  if (existsSync(file)) throw new RuntimeError('ERR_EXISTS', `${file} exists: remove it first`);
  let config: Config = defaultSpec();
  const net = stringOption(ctx, 'net');
  if (net) {
    const { addNetworkToConfig } = await import('../../hooks/network/config-edit.ts');
    config = addNetworkToConfig(config, net, [tsrunCommand(), 'hook', 'network']);
  }
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return 0;
}
