// `tsrun hook network up|down [options]`: the OCI hook program. It reads the
// container state (runtime.md: ociVersion, id, status, pid, bundle...) on
// stdin and needs nothing else from the runtime, so it works under tsrun,
// runc and crun alike. Also runnable on its own:
//   bin/node-pinned src/hooks/network/cli.ts up veth,nat < state.json
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RuntimeError, isRuntimeError } from '../../runtime/errors.ts';
import { networkDown, networkUp } from './hook.ts';
import { parseNetworkArgs } from './options.ts';

export { addNetworkToConfig } from './config-edit.ts';
export { parseNetworkSpec } from './options.ts';
export type { NetworkOptions } from './options.ts';

const USAGE = `usage: tsrun hook network up|down [OPTION...] < state.json
  options (as separate arguments or one comma-separated list):
    veth | macvlan | ipvlan     mode (default veth)
    name=NETWORK subnet=CIDR ip=A.B.C.D[/len] gateway=A.B.C.D mtu=N
    bridge=NAME nat rps[=MASK]  (veth)
    parent=IFACE                (macvlan, ipvlan)  ipvlan-mode=l2|l3
    state-dir=DIR               (default /run/tsrun-net)
`;

interface HookState {
  id: string;
  pid: number | undefined;
}

async function readAll(stdin: NodeJS.ReadableStream): Promise<string> {
  if ((stdin as { isTTY?: boolean }).isTTY) {
    throw new RuntimeError('ERR_USAGE', 'container state: stdin is a terminal', { hint: 'an OCI hook gets the state json on stdin' });
  }
  let text = '';
  stdin.setEncoding('utf8');
  for await (const chunk of stdin) text += String(chunk);
  return text;
}

function parseState(text: string, verb: 'up' | 'down'): HookState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new RuntimeError('ERR_USAGE', `container state on stdin: not valid json (${JSON.stringify(text.slice(0, 40))})`);
  }
  const { id, pid } = (raw ?? {}) as { id?: unknown; pid?: unknown };
  if (typeof id !== 'string' || id === '') throw new RuntimeError('ERR_USAGE', 'container state on stdin: no id');
  const hasPid = typeof pid === 'number' && Number.isInteger(pid) && pid > 0;
  if (verb === 'up' && !hasPid) {
    throw new RuntimeError('ERR_USAGE', `container state of "${id}" on stdin: no pid, up needs the container's process`, {
      hint: 'run it as a createRuntime hook',
    });
  }
  return { id, pid: hasPid ? (pid as number) : undefined };
}

/** `args`: everything after "network". Returns the exit code; errors are printed as one line on stderr. */
export async function networkHookMain(args: string[], stdin: NodeJS.ReadableStream): Promise<number> {
  const verb = args[0];
  try {
    if (verb === 'help' || verb === '--help' || verb === '-h') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (verb !== 'up' && verb !== 'down') {
      throw new RuntimeError('ERR_USAGE', `unknown action ${JSON.stringify(verb ?? '')}, expected up or down`, {
        hint: 'tsrun hook network up|down [OPTION...] < state.json',
      });
    }
    const opts = parseNetworkArgs(args.slice(1));
    const state = parseState(await readAll(stdin), verb);
    if (verb === 'up') await networkUp(state.id, state.pid ?? 0, opts);
    else await networkDown(state.id, opts.stateDir);
    return 0;
  } catch (err) {
    const line = isRuntimeError(err) ? err.line : err instanceof Error ? err.message : String(err);
    process.stderr.write(`tsrun hook network${verb === 'up' || verb === 'down' ? ` ${verb}` : ''}: ${line}\n`);
    return 1;
  }
}

// Run as a program only when this very file is the entry point: once bundled
// into build/tsrun.cjs, import.meta.url is the bundle's and must not match.
function isEntryPoint(): boolean {
  const self = fileURLToPath(import.meta.url);
  if (!self.endsWith('/hooks/network/cli.ts') || process.argv[1] === undefined) return false;
  try {
    return realpathSync(process.argv[1]) === self;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  void networkHookMain(process.argv.slice(2), process.stdin).then((code) => {
    process.exitCode = code;
  });
}
