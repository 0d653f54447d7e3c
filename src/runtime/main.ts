// tsrun's entry point: parse argv with the verb table, load only the verb's
// module, and turn every failure into one line on stderr (and in --log) plus
// a non-zero exit.
import { parseArgv } from './cli/parse.ts';
import { createLogger } from './cli/log.ts';
import type { Context } from './context.ts';
import { isRuntimeError, RuntimeError } from './errors.ts';
import { defaultStateRoot } from './paths.ts';
import { StateStore } from './state-store.ts';

type VerbModule = { default: (ctx: Context) => Promise<number> };

// create, run and exec (the verbs that start a process in a container) share
// one module and one cold part (build/verb-create.cjs, scripts/build.mjs): the
// config schema's validator, seccomp, user namespaces and the create plan are
// most of the code, and no other verb needs them.
const createVerb = (name: 'create' | 'run' | 'exec') => async (): Promise<VerbModule> => ({ default: (await import('./verbs/create-verbs.ts')).default[name] });

const VERB_MODULES: Record<string, () => Promise<VerbModule>> = {
  create: createVerb('create'),
  start: () => import('./verbs/start.ts'),
  state: () => import('./verbs/state.ts'),
  kill: () => import('./verbs/kill.ts'),
  delete: () => import('./verbs/delete.ts'),
  run: createVerb('run'),
  list: () => import('./verbs/list.ts'),
  spec: () => import('./verbs/spec.ts'),
  signals: () => import('./verbs/signals.ts'),
  exec: createVerb('exec'),
  ps: () => import('./verbs/ps.ts'),
  pause: () => import('./verbs/pause.ts'),
  resume: () => import('./verbs/resume.ts'),
  events: () => import('./verbs/events.ts'),
  update: () => import('./verbs/update.ts'),
  features: () => import('./verbs/features.ts'),
  hook: () => import('./verbs/hook.ts'),
  network: () => import('./verbs/network.ts'),
  demo: () => import('./verbs/demo.ts'),
};

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgv(argv);
  } catch (err) {
    process.stderr.write(`tsrun: ${isRuntimeError(err) ? err.line : String(err)}\n`);
    return 2;
  }
  const opts = parsed.options;
  const log = createLogger(opts.log as string | undefined, opts['log-format'] as string, opts.debug === true);
  // The demo verb lists its demos (what each shows, how long it takes) itself.
  if (parsed.help && parsed.verb === 'demo') {
    parsed.help = false;
    parsed.positionals.unshift('help');
  }
  if (parsed.help || parsed.version || !parsed.verb) {
    const { default: showHelp } = await import('./cli/help.ts');
    return showHelp(parsed);
  }
  const load = VERB_MODULES[parsed.verb];
  if (!load) {
    log.error(`unknown command ${JSON.stringify(parsed.verb)} (see tsrun --help)`);
    return 2;
  }
  try {
    if (opts['systemd-cgroup']) {
      throw new RuntimeError('ERR_UNSUPPORTED', 'the systemd cgroup driver is not supported', { hint: 'tsrun manages cgroupfs directly' });
    }
    const ctx: Context = { store: new StateStore((opts.root as string | undefined) ?? defaultStateRoot()), log, options: opts, positionals: parsed.positionals, verb: parsed.verb };
    return await (await load()).default(ctx);
  } catch (err) {
    if (isRuntimeError(err)) {
      log.error(err.line);
      if (opts.debug && err.stack) log.debug(err.stack);
      return err.code === 'ERR_USAGE' ? 2 : 1;
    }
    // Still one line: the stack trace only with --debug.
    const e = err as NodeJS.ErrnoException;
    log.error(e?.code && e.syscall ? `${e.syscall} ${e.path ? JSON.stringify(e.path) : ''}: ${e.message}`.replace('  ', ' ') : `internal error: ${e?.message ?? String(err)}`);
    if (opts.debug && e?.stack) log.debug(e.stack);
    return 1;
  }
}

// process.exit, not exitCode: a verb is done when main resolves (stdout and
// stderr are synchronous on Linux), and Node's natural exit would first free
// the whole environment and heap, ~1.3 ms of every call.
main(process.argv.slice(2)).then(
  (code) => {
    process.exit(code);
  },
  (err) => {
    process.stderr.write(`tsrun: internal error: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
