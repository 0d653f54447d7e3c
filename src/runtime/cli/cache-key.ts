// Which code cache a command line uses (see boot.ts): its verb, found without
// the verb table so that the loader stays tiny. A wrong guess only costs speed.

/** The global options that take a value (test/boot.test.ts checks them
 *  against the verb table): the verb is the first other word. */
export const VALUE_OPTIONS = new Set(['--root', '--log', '--log-format', '--rootless']);

export function cacheKey(argv: string[]): string {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (VALUE_OPTIONS.has(arg)) i++;
    else if (!arg.startsWith('-')) return /^[a-z]{1,16}$/.test(arg) ? arg : 'other';
  }
  return 'other';
}
