// `tsrun spec --net SPEC` / `tsrun network add SPEC`: puts the network hooks
// into a config. Pure: returns a new config, the input is left alone.
import type { Config, Hook } from '../../runtime/oci-types.ts';
import { RuntimeError } from '../../runtime/errors.ts';
import { parseNetworkSpec, specItems } from './options.ts';

/** Whether `hook` was made by addNetworkToConfig with this `hookCommand`. */
function isOurs(hook: Hook, hookCommand: string[], verb: 'up' | 'down'): boolean {
  const args = hook.args ?? [];
  return hook.path === hookCommand[0] && hookCommand.every((a, i) => args[i] === a) && args[hookCommand.length] === verb;
}

/**
 * Adds a new network namespace (once) and the hooks: `up` as createRuntime,
 * which runs in the runtime's namespaces once the container's exist, and
 * `down` as poststop. Hooks of other programs are kept; network hooks added
 * earlier with the same `hookCommand` are replaced, so that running this
 * twice does not give a container two eth0s.
 */
export function addNetworkToConfig(config: Config, spec: string, hookCommand: string[]): Config {
  if (hookCommand.length === 0 || !hookCommand[0]?.startsWith('/')) {
    throw new RuntimeError('ERR_NET_OPTION', `network hook command ${JSON.stringify(hookCommand)}: needs an absolute program path first`, {
      hint: 'runtimes run hook.path as is, without a PATH search',
    });
  }
  parseNetworkSpec(spec); // fail now, not when the container starts
  const options = specItems(spec);
  const out = structuredClone(config);
  const linux = (out.linux ??= {});
  const namespaces = (linux.namespaces ??= []);
  const netns = namespaces.filter((ns) => ns.type === 'network');
  const joined = netns.find((ns) => ns.path !== undefined && ns.path !== '');
  if (joined) {
    throw new RuntimeError('ERR_NET_OPTION', `config joins the network namespace ${joined.path}: a network hook needs a new one`, {
      hint: 'remove the path from the network namespace entry',
    });
  }
  if (netns.length === 0) namespaces.push({ type: 'network' });

  const hooks = (out.hooks ??= {});
  const up: Hook = { path: hookCommand[0], args: [...hookCommand, 'up', ...options] };
  const down: Hook = { path: hookCommand[0], args: [...hookCommand, 'down', ...options] };
  hooks.createRuntime = [...(hooks.createRuntime ?? []).filter((h) => !isOurs(h, hookCommand, 'up')), up];
  hooks.poststop = [...(hooks.poststop ?? []).filter((h) => !isOurs(h, hookCommand, 'down')), down];
  return out;
}
