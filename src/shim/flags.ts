// The shim's command line: Go's flag syntax, as containerd passes it.

export interface ShimFlags {
  namespace: string;
  address: string;
  id: string;
  bundle: string;
  debug: boolean;
  action: string;
}

const BOOLEAN_FLAGS = new Set(['debug', 'v']);

/** Go's flag syntax, as containerd passes it: -name value, -name=value, --name value. */
export function parseFlags(argv: string[]): ShimFlags & { version: boolean } {
  const values: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    if (eq >= 0) values[body.slice(0, eq)] = body.slice(eq + 1);
    else if (BOOLEAN_FLAGS.has(body)) values[body] = true;
    else values[body] = argv[++i] ?? '';
  }
  const str = (k: string): string => (typeof values[k] === 'string' ? (values[k] as string) : '');
  return {
    namespace: str('namespace'), address: str('address'), id: str('id'), bundle: str('bundle'),
    debug: values.debug === true || values.debug === 'true', version: values.v === true, action: positionals[0] ?? '',
  };
}
