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
  const rootless = ctx.options.rootless === true;
  const dir = resolve(stringOption(ctx, 'bundle') ?? '.');
  if (!existsSync(dir)) throw new RuntimeError('ERR_USAGE', `bundle directory ${JSON.stringify(dir)} does not exist`);
  const file = join(dir, 'config.json');
  if (existsSync(file)) throw new RuntimeError('ERR_EXISTS', `${file} exists: remove it first`);
  let config: Config = defaultSpec();
  const net = stringOption(ctx, 'net');
  if (net && rootless) {
    throw new RuntimeError('ERR_USAGE', '--net with --rootless: the network hooks need root on the host (veth, bridge, NAT)', {
      hint: 'a rootless container has its own loopback only, or shares the host\'s network',
    });
  }
  if (rootless) config = rootlessSpec(config);
  if (net) {
    const { addNetworkToConfig } = await import('../../hooks/network/config-edit.ts');
    config = addNetworkToConfig(config, net, [tsrunCommand(), 'hook', 'network']);
  }
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return 0;
}

/** As `runc spec --rootless`: a user namespace mapping the caller alone, no
 *  network namespace, the host's /sys bound read-only, no resource limits. */
export function rootlessSpec(config: Config): Config {
  const c = structuredClone(config);
  const linux = (c.linux ??= {});
  linux.namespaces = (linux.namespaces ?? []).filter((n) => n.type !== 'network' && n.type !== 'cgroup' && n.type !== 'user');
  linux.namespaces.push({ type: 'user' });
  linux.uidMappings = [{ containerID: 0, hostID: process.geteuid!(), size: 1 }];
  linux.gidMappings = [{ containerID: 0, hostID: process.getegid!(), size: 1 }];
  delete linux.resources;
  c.mounts = (c.mounts ?? []).map((m) => {
    if (m.type === 'sysfs') return { destination: m.destination, type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] };
    if (m.type === 'devpts') return { ...m, options: (m.options ?? []).filter((o) => !o.startsWith('gid=')) };
    return m;
  });
  return c;
}
